package store

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
)

// A snapshot stream, as Snapshot writes it and Restore reads it:
//
//	magic "tinypay-store-snapshot\x00", uvarint FormatVersion
//	per record, in key order: uvarint len(key), key, uvarint len(value), value
//	uvarint 0 (the end), uvarint the number of records
//
// It carries no integrity check of its own: the caller wraps it (package
// store/backup encrypts and authenticates it).
var snapshotMagic = []byte("tinypay-store-snapshot\x00")

// maxSnapshotKey bounds a key in a snapshot stream; every key the store
// writes is far shorter.
const maxSnapshotKey = 1024

// ErrBadSnapshot means that a snapshot stream is not one Snapshot wrote:
// bad framing, keys out of order, a record that does not check, a missing
// end. Restore writes nothing final then.
var ErrBadSnapshot = errors.New("store: bad snapshot")

// SnapshotStats describe a snapshot.
type SnapshotStats struct {
	Records uint64 // records (keys) in it
	LastSeq uint64 // the newest log entry in it, 0 if the log is empty
}

// Snapshot writes every record of one consistent snapshot of the store to
// w, in key order (see the stream format above). It reads one engine
// snapshot (a badger read transaction, a PostgreSQL REPEATABLE READ one):
// commits go on meanwhile and are not in it, and it holds the records of
// one group commit entirely or not at all. Memory is bounded: records are
// copied to w a page at a time (w should buffer). Close waits for a
// snapshot in progress, so the caller should bound how long w may block.
// A snapshot of one engine restores into the other.
func (s *Store) Snapshot(w io.Writer) (SnapshotStats, error) {
	var st SnapshotStats
	err := s.view(func(r reader) error {
		last, err := lastLogSeq(r)
		if err != nil {
			return err
		}
		st.LastSeq = last
		var buf []byte
		buf = append(buf, snapshotMagic...)
		buf = binary.AppendUvarint(buf, FormatVersion)
		if _, err := w.Write(buf); err != nil {
			return err
		}
		err = r.scan(nil, nil, false, 0, func(k, v []byte) error {
			buf = binary.AppendUvarint(buf[:0], uint64(len(k)))
			buf = append(buf, k...)
			buf = binary.AppendUvarint(buf, uint64(len(v)))
			buf = append(buf, v...)
			if _, err := w.Write(buf); err != nil {
				return err
			}
			st.Records++
			return nil
		})
		if err != nil {
			return err
		}
		buf = binary.AppendUvarint(buf[:0], 0)
		buf = binary.AppendUvarint(buf, st.Records)
		_, err = w.Write(buf)
		return err
	})
	return st, err
}

// lastLogSeq returns the seq of the newest log entry in r's snapshot.
func lastLogSeq(r reader) (uint64, error) {
	k, _, err := first(r, []byte{prefixLog}, prefixEnd([]byte{prefixLog}), true)
	if err != nil || k == nil {
		return 0, err
	}
	return parseLogKey(k)
}

// Restore creates a store from a snapshot stream and checks it as Verify
// does: in cfg.Dir, which must not exist or be empty, or in the
// PostgreSQL database of cfg.Postgres, where the node must have no record
// yet. Every record is checked as it is read (its framing, key order and
// contents); on any error Restore removes what it wrote (the directory,
// or the node's rows) and returns an error matching ErrBadSnapshot, or
// wrapping the error r returned. Memory is bounded: records are written in
// transactions as they arrive.
func Restore(cfg Config, r io.Reader) (SnapshotStats, error) {
	if err := cfg.Validate(); err != nil {
		return SnapshotStats{}, err
	}
	l := cfg.Logger
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	eng, err := openEngine(context.Background(), cfg, l, true)
	if err != nil {
		return SnapshotStats{}, err
	}
	er := &errReader{r: r}
	st, err := restore(eng, er)
	if er.err != nil {
		err = fmt.Errorf("store: restore: read: %w", er.err) // the reader's own failure, not the stream's
	}
	if err == nil {
		err = verifyRestored(cfg, l, eng, st)
	}
	if err != nil {
		if derr := eng.destroy(); derr != nil {
			l.Warn("could not remove a failed restore", "err", derr)
		}
		return SnapshotStats{}, err
	}
	if err := eng.close(); err != nil {
		return SnapshotStats{}, fmt.Errorf("store: restore: close: %w", err)
	}
	return st, nil
}

// verifyRestored checks the restored store whole, on the engine that
// wrote it (which, for PostgreSQL, still holds the node's lease).
func verifyRestored(cfg Config, l *slog.Logger, eng engine, st SnapshotStats) error {
	s := &Store{eng: eng, cfg: cfg, log: l}
	last, err := s.init()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadSnapshot, err)
	}
	s.lastSeq.Store(last)
	if err := s.Verify(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSnapshot, err)
	}
	if last != st.LastSeq {
		return fmt.Errorf("%w: the log ends at %d, restored %d", ErrBadSnapshot, last, st.LastSeq)
	}
	return nil
}

// errReader keeps the first error of r other than io.EOF.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// restore reads the stream into eng, committing a transaction whenever
// one is full.
func restore(eng engine, r io.Reader) (SnapshotStats, error) {
	var st SnapshotStats
	br := bufio.NewReaderSize(r, 64<<10)
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadSnapshot, fmt.Sprintf(format, args...))
	}
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(br, magic); err != nil || !bytes.Equal(magic, snapshotMagic) {
		return st, bad("it does not start with the snapshot magic")
	}
	ver, err := binary.ReadUvarint(br)
	if err != nil {
		return st, bad("no format version: %v", err)
	}
	if ver < minFormatVersion || ver > FormatVersion {
		return st, bad("format version %d, this build reads versions %d to %d", ver, minFormatVersion, FormatVersion)
	}
	w, err := newBulkWriter(eng)
	if err != nil {
		return st, fmt.Errorf("store: restore: %w", err)
	}
	defer w.discard()
	var prev []byte
	for {
		kl, err := binary.ReadUvarint(br)
		if err != nil {
			return st, bad("record %d: %v (the stream ends early)", st.Records, err)
		}
		if kl == 0 {
			break
		}
		if kl > maxSnapshotKey {
			return st, bad("record %d: key of %d bytes", st.Records, kl)
		}
		k := make([]byte, kl)
		if _, err := io.ReadFull(br, k); err != nil {
			return st, bad("record %d: %v (the stream ends early)", st.Records, err)
		}
		vl, err := binary.ReadUvarint(br)
		if err != nil {
			return st, bad("record %d: %v (the stream ends early)", st.Records, err)
		}
		if vl > MaxRecordSize {
			return st, bad("record %d (key %s): value of %d bytes", st.Records, keyString(k), vl)
		}
		v := make([]byte, vl)
		if _, err := io.ReadFull(br, v); err != nil {
			return st, bad("record %d: %v (the stream ends early)", st.Records, err)
		}
		if prev != nil && bytes.Compare(prev, k) >= 0 {
			return st, bad("record %d: key %s is not after %s", st.Records, keyString(k), keyString(prev))
		}
		if _, err := decodeRecord(k, v); err != nil {
			return st, fmt.Errorf("%w: %w", ErrBadSnapshot, err)
		}
		if k[0] == prefixLog {
			st.LastSeq, _ = parseLogKey(k)
		}
		if err := w.set(k, v); err != nil {
			return st, fmt.Errorf("store: restore: %w", err)
		}
		prev = k
		st.Records++
	}
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return st, bad("no record count at the end: %v", err)
	}
	if n != st.Records {
		return st, bad("the stream holds %d records, its end says %d", st.Records, n)
	}
	if _, err := br.ReadByte(); err == nil {
		return st, bad("bytes after the end")
	}
	if err := w.commit(); err != nil {
		return st, fmt.Errorf("store: restore: %w", err)
	}
	return st, nil
}
