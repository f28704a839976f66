package tower

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/settlement"
)

// Record is the proof a tower holds for one channel and direction: the
// newest that the served node handed it, signed by Payer, the other
// participant, for the payments Payer made the node.
type Record struct {
	Params channel.Params
	Payer  channel.Side
	Proof  channel.Proof
}

// Node returns the served node the record is kept for (the payee).
func (r *Record) Node() crypto.Address { return r.Params.Participants[r.Payer.Other()] }

// Store is a tower's own badger database: one record per channel and
// direction, the channels force-closed on chain that it holds records of
// (with the end of their challenge period), and its chain cursor. Every
// write is fsynced before it returns. Methods are safe for concurrent use:
// each runs in one badger transaction, retried when another changed what
// it read.
type Store struct {
	db          *badger.DB
	chainID     uint64
	adjudicator crypto.Address
}

// Keys: "m" meta (chain id, adjudicator); "p" + channel id + payer side:
// a record; "d" + channel id: end of the challenge period of a channel
// force-closed on chain; "c": the chain cursor.
var (
	keyMeta   = []byte("m")
	keyCursor = []byte("c")
)

func recordKey(id channel.ID, payer channel.Side) []byte {
	return append(append([]byte("p"), id[:]...), byte(payer))
}

func disputeKey(id channel.ID) []byte { return append([]byte("d"), id[:]...) }

// errGone: PutHigher with mustExist found no record (the channel settled
// meanwhile).
var errGone = errors.New("record gone")

// OpenStore opens (or creates) the tower database in dir for one chain and
// adjudicator; a database of another chain or adjudicator is refused.
func OpenStore(dir string, chainID uint64, adjudicator crypto.Address, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := badger.DefaultOptions(dir).
		WithSyncWrites(true).
		WithLogger(badgerLogger{log}).
		WithMemTableSize(4 << 20).
		WithNumMemtables(2).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8).
		WithNumCompactors(2).
		WithNumGoroutines(1).
		WithCompression(options.None).
		WithBlockCacheSize(0).
		WithIndexCacheSize(0).
		WithValueThreshold(1024).
		WithValueLogFileSize(16 << 20).
		WithMetricsEnabled(false).
		WithNumVersionsToKeep(1)
	db, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("open tower store %s: %w", dir, err)
	}
	s := &Store{db: db, chainID: chainID, adjudicator: adjudicator}
	meta := make([]byte, 28)
	binary.BigEndian.PutUint64(meta, chainID)
	copy(meta[8:], adjudicator[:])
	err = s.update(func(txn *badger.Txn) error {
		it, err := txn.Get(keyMeta)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return txn.Set(keyMeta, meta)
		}
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) error {
			if string(v) != string(meta) || len(v) != 28 {
				if len(v) != 28 {
					return fmt.Errorf("tower store %s: malformed meta record", dir)
				}
				return fmt.Errorf("tower store %s belongs to chain %d and adjudicator %s, not chain %d and %s",
					dir, binary.BigEndian.Uint64(v), crypto.Address(v[8:]), chainID, adjudicator)
			}
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// update runs f in a read-write transaction, again while another
// transaction's commit conflicts with what f read.
func (s *Store) update(f func(txn *badger.Txn) error) error {
	for {
		err := s.db.Update(f)
		if !errors.Is(err, badger.ErrConflict) {
			return err
		}
	}
}

// Get returns the record of channel id paid by payer, nil if none.
func (s *Store) Get(id channel.ID, payer channel.Side) (*Record, error) {
	var r *Record
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		r, err = s.get(txn, id, payer)
		return err
	})
	return r, err
}

func (s *Store) get(txn *badger.Txn, id channel.ID, payer channel.Side) (*Record, error) {
	it, err := txn.Get(recordKey(id, payer))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r *Record
	err = it.Value(func(v []byte) error {
		r, err = s.decodeRecord(v)
		return err
	})
	return r, err
}

// PutHigher stores r unless a record with at least its amount is held, and
// returns the record held afterwards (r, or the higher one) and whether r
// was written. With mustExist it writes only over an existing record (else
// errGone). A non-zero settleAfter also marks the channel force-closed on
// chain until then, in the same transaction.
func (s *Store) PutHigher(r *Record, mustExist bool, settleAfter uint64) (*Record, bool, error) {
	var held *Record
	var stored bool
	err := s.update(func(txn *badger.Txn) error {
		held, stored = nil, false
		cur, err := s.get(txn, r.Proof.Channel, r.Payer)
		if err != nil {
			return err
		}
		if cur == nil && mustExist {
			return errGone
		}
		if cur != nil && !r.Proof.Transferred.Gt(&cur.Proof.Transferred) {
			held = cur
			return nil
		}
		if err := txn.Set(recordKey(r.Proof.Channel, r.Payer), encodeRecord(r)); err != nil {
			return err
		}
		if settleAfter != 0 {
			if err := txn.Set(disputeKey(r.Proof.Channel), u64(settleAfter)); err != nil {
				return err
			}
		}
		held, stored = r, true
		return nil
	})
	return held, stored, err
}

// RemoveIf deletes the record of r's channel and direction if it is still
// r (same nonce and amount), and the channel's close mark once it has no
// record left. It reports whether it deleted the record.
func (s *Store) RemoveIf(r *Record) (bool, error) {
	var removed bool
	err := s.update(func(txn *badger.Txn) error {
		removed = false
		id := r.Proof.Channel
		cur, err := s.get(txn, id, r.Payer)
		if err != nil || cur == nil || cur.Proof.Nonce != r.Proof.Nonce || !cur.Proof.Transferred.Eq(&r.Proof.Transferred) {
			return err
		}
		if err := txn.Delete(recordKey(id, r.Payer)); err != nil {
			return err
		}
		removed = true
		other, err := s.get(txn, id, r.Payer.Other())
		if err != nil || other != nil {
			return err
		}
		return txn.Delete(disputeKey(id))
	})
	return removed, err
}

// MarkClosed marks channel id force-closed on chain until settleAfter, if
// the tower holds a record of it.
func (s *Store) MarkClosed(id channel.ID, settleAfter uint64) error {
	return s.update(func(txn *badger.Txn) error {
		for _, side := range []channel.Side{channel.A, channel.B} {
			r, err := s.get(txn, id, side)
			if err != nil {
				return err
			}
			if r != nil {
				return txn.Set(disputeKey(id), u64(settleAfter))
			}
		}
		return nil
	})
}

// Records calls f with every record, in key order.
func (s *Store) Records(f func(*Record) error) error {
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("p")})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var r *Record
			err := it.Item().Value(func(v []byte) error {
				var err error
				r, err = s.decodeRecord(v)
				return err
			})
			if err != nil {
				return fmt.Errorf("record %x: %w", it.Item().Key(), err)
			}
			if err := f(r); err != nil {
				return err
			}
		}
		return nil
	})
}

// Disputes returns the channels marked force-closed, with the end of their
// challenge periods.
func (s *Store) Disputes() (map[channel.ID]uint64, error) {
	out := map[channel.ID]uint64{}
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("d")})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			if len(k) != 33 {
				return fmt.Errorf("malformed dispute key %x", k)
			}
			err := it.Item().Value(func(v []byte) error {
				if len(v) != 8 {
					return fmt.Errorf("malformed dispute record %x", k)
				}
				out[channel.ID(k[1:])] = binary.BigEndian.Uint64(v)
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// Cursor returns the chain cursor; ok is false before the first SetPage.
func (s *Store) Cursor() (cur settlement.Cursor, ok bool, err error) {
	err = s.db.View(func(txn *badger.Txn) error {
		it, err := txn.Get(keyCursor)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return it.Value(func(v []byte) error {
			if len(v) != 12 {
				return fmt.Errorf("chain cursor is %d bytes, want 12", len(v))
			}
			cur, ok = settlement.Cursor{Block: binary.BigEndian.Uint64(v), Index: binary.BigEndian.Uint32(v[8:])}, true
			return nil
		})
	})
	return cur, ok, err
}

// Page is what one page of chain events changes.
type Page struct {
	Closed map[channel.ID]uint64 // force-closed: the end of the challenge period
	Ended  []channel.ID          // settled or closed cooperatively
	Cursor settlement.Cursor     // after the page
}

// ApplyPage marks the closed channels that have records, removes the
// records of the ended ones and moves the cursor, in one transaction. It
// returns the channels marked and the records removed.
func (s *Store) ApplyPage(p Page) (marked map[channel.ID]uint64, removed []*Record, err error) {
	err = s.update(func(txn *badger.Txn) error {
		marked, removed = map[channel.ID]uint64{}, nil
		for id, until := range p.Closed {
			for _, side := range []channel.Side{channel.A, channel.B} {
				r, err := s.get(txn, id, side)
				if err != nil {
					return err
				}
				if r != nil {
					if err := txn.Set(disputeKey(id), u64(until)); err != nil {
						return err
					}
					marked[id] = until
					break
				}
			}
		}
		for _, id := range p.Ended {
			for _, side := range []channel.Side{channel.A, channel.B} {
				r, err := s.get(txn, id, side)
				if err != nil {
					return err
				}
				if r != nil {
					removed = append(removed, r)
					if err := txn.Delete(recordKey(id, side)); err != nil {
						return err
					}
				}
			}
			if err := txn.Delete(disputeKey(id)); err != nil {
				return err
			}
			delete(marked, id)
		}
		cur := make([]byte, 12)
		binary.BigEndian.PutUint64(cur, p.Cursor.Block)
		binary.BigEndian.PutUint32(cur[8:], p.Cursor.Index)
		return txn.Set(keyCursor, cur)
	})
	return marked, removed, err
}

// The record encoding: version 1, then A, B, asset, challenge period,
// salt, payer side, nonce, transferred (32 bytes) and signature.
const (
	recordVersion = 1
	recordLen     = 1 + 20 + 20 + 20 + 8 + 32 + 1 + 8 + 32 + 65
)

func encodeRecord(r *Record) []byte {
	b := make([]byte, 0, recordLen)
	b = append(b, recordVersion)
	b = append(b, r.Params.Participants[channel.A][:]...)
	b = append(b, r.Params.Participants[channel.B][:]...)
	b = append(b, r.Params.Asset[:]...)
	b = binary.BigEndian.AppendUint64(b, r.Params.ChallengePeriod)
	b = append(b, r.Params.Salt[:]...)
	b = append(b, byte(r.Payer))
	b = binary.BigEndian.AppendUint64(b, r.Proof.Nonce)
	t := r.Proof.Transferred.Bytes32()
	b = append(b, t[:]...)
	return append(b, r.Proof.Sig[:]...)
}

func (s *Store) decodeRecord(v []byte) (*Record, error) {
	if len(v) != recordLen || v[0] != recordVersion {
		return nil, fmt.Errorf("malformed tower record (%d bytes)", len(v))
	}
	r := &Record{}
	p := &r.Params
	p.ChainID, p.Adjudicator = s.chainID, s.adjudicator
	rest := v[1:]
	take := func(n int) []byte { b := rest[:n]; rest = rest[n:]; return b }
	p.Participants[channel.A] = crypto.Address(take(20))
	p.Participants[channel.B] = crypto.Address(take(20))
	p.Asset = crypto.Address(take(20))
	p.ChallengePeriod = binary.BigEndian.Uint64(take(8))
	p.Salt = crypto.Hash(take(32))
	r.Payer = channel.Side(take(1)[0])
	r.Proof.Nonce = binary.BigEndian.Uint64(take(8))
	r.Proof.Transferred.SetBytes32(take(32))
	r.Proof.Sig = crypto.Signature(take(65))
	r.Proof.Channel = p.ID()
	if !r.Payer.Valid() || p.Validate() != nil {
		return nil, errors.New("malformed tower record")
	}
	return r, nil
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// badgerLogger routes badger's errors and warnings to slog at warn level
// and drops its info and debug messages.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(format string, args ...any) {
	b.l.Warn("badger error", "detail", strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func (b badgerLogger) Warningf(format string, args ...any) {
	b.l.Warn("badger warning", "detail", strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func (badgerLogger) Infof(string, ...any)  {}
func (badgerLogger) Debugf(string, ...any) {}
