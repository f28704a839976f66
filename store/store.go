package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
)

// Store is the node's persistent store. It is safe for concurrent use: any
// number of goroutines may read and commit at once. Writes go through one
// committer goroutine (see Commit); reads see only what is durable.
type Store struct {
	eng engine
	cfg Config
	log *slog.Logger

	// Queue of submitted batches, guarded by mu.
	mu      sync.Mutex
	queue   []*request
	spare   []*request
	closing bool
	failed  error         // set once a write failed; every later commit gets it
	failCh  chan struct{} // closed when failed is set
	wake    chan struct{}
	stopped chan struct{} // closed when the committer exits

	// Owned by the committer goroutine.
	nextSeq uint64
	// proofNonces holds the nonce of every proof this store committed
	// since Open, and of every proof on disk once LoadChannels ran (see
	// proofsComplete), by proof key, so that admitting a newer proof
	// needs no read (a key it does not hold is read until then). Only the
	// committer writes proofs while the store is open, so it is never
	// stale; it holds two entries per channel paid through (about 100
	// bytes each), no pointers for the collector to scan.
	proofNonces map[proofKeyArr]uint64
	// proofsComplete: proofNonces holds every proof on disk, so a proof
	// whose key it lacks is the first of its channel and side, admitted
	// without a read. Set once a seed from LoadChannels is merged (see
	// proofSeed); it stays true, as every commit keeps proofNonces.
	proofsComplete bool

	// proofSeed is the nonce of every proof on disk as of one snapshot
	// (LoadChannels), for the committer to merge into proofNonces before
	// its next group.
	proofSeed atomic.Pointer[proofSeed]

	lastSeq atomic.Uint64 // last durable seq
	stats   struct {
		batches, rejected, groups, txns atomic.Uint64
	}

	// closeMu keeps reads from racing with closing the database.
	closeMu   sync.RWMutex
	closed    bool
	closeOnce sync.Once
	closeErr  error
}

// Stats are counters since Open.
type Stats struct {
	Batches  uint64 // batches committed durably
	Rejected uint64 // batches refused (invalid, duplicate, stale, too large, canceled, failed)
	Groups   uint64 // group commits: queue drains handled together
	Txns     uint64 // engine transactions committed: one fsync each for badger with SyncWrites, one COMMIT each for PostgreSQL
	Retries  uint64 // PostgreSQL transactions retried after a serialization failure (SQLSTATE 40001)
	LastSeq  uint64 // seq of the newest durable log entry, 0 if none
}

// Open opens or creates the store: in badger in cfg.Dir, or in the
// PostgreSQL database of cfg.Postgres (migrating its schema, and taking
// the node's lease). It fails with ErrCorrupt if the store is of an
// unknown format, and with ErrLeaseHeld if another process holds the
// node's PostgreSQL lease for longer than Postgres.LeaseWait.
func Open(cfg Config) (*Store, error) { return OpenContext(context.Background(), cfg) }

// OpenContext is Open that gives up when ctx ends. With Postgres.Standby
// it waits for the node's lease until then, however long another process
// holds it (a hot standby): it returns once this process took the lease
// over, with the store as that process left it.
func OpenContext(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	l := cfg.Logger
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	eng, err := openEngine(ctx, cfg, l, false)
	if err != nil {
		return nil, err
	}
	s := &Store{
		eng:     eng,
		cfg:     cfg,
		log:     l,
		wake:    make(chan struct{}, 1),
		failCh:  make(chan struct{}),
		stopped: make(chan struct{}),
	}
	last, err := s.init()
	if err != nil {
		_ = eng.close()
		return nil, fmt.Errorf("store: open %s: %w", cfg.where(), err)
	}
	s.nextSeq = last + 1
	s.lastSeq.Store(last)
	go s.run()
	if le, ok := eng.(leaser); ok {
		go s.watchLease(le)
	}
	return s, nil
}

// openEngine opens the engine cfg names. For a restore, the target must
// be empty.
func openEngine(ctx context.Context, cfg Config, l *slog.Logger, restoring bool) (engine, error) {
	if cfg.Postgres.URL != "" {
		return openPostgres(ctx, cfg, l, restoring)
	}
	if restoring {
		if err := badgerRestoreTarget(cfg.Dir); err != nil {
			return nil, err
		}
	}
	return openBadger(cfg, l)
}

// init checks or writes the meta record and returns the last log seq.
func (s *Store) init() (uint64, error) {
	var last uint64
	var fresh bool
	var version uint32
	var upgrading bool
	err := s.eng.view(func(r reader) error {
		v, err := r.get(metaKey)
		switch {
		case errors.Is(err, ErrNotFound):
			k, _, err := first(r, nil, nil, false)
			if err != nil {
				return err
			}
			if k != nil {
				return corrupt(metaKey, "store meta record is missing but the store holds key %s", keyString(k))
			}
			fresh = true
			return nil
		case err != nil:
			return err
		}
		m, err := decodeMeta(metaKey, v)
		if err != nil {
			return err
		}
		version, upgrading = m.GetFormatVersion(), m.GetUpgrading()
		last, err = lastLogSeq(r)
		return err
	})
	if err == nil && !fresh && (version < FormatVersion || upgrading) {
		err = s.upgrade(version, upgrading, last)
	}
	if err != nil || !fresh {
		return last, err
	}
	v, err := encode(&storev1.StoreMeta{FormatVersion: FormatVersion}, "store meta")
	if err != nil {
		return 0, err
	}
	txn, err := s.eng.begin()
	if err != nil {
		return 0, err
	}
	defer txn.discard()
	if err := txn.set(metaKey, v); err != nil {
		return 0, err
	}
	return 0, txn.commit()
}

// upgrade brings a store of format version (1, or FormatVersion with the
// upgrading mark: an upgrade cut short) to FormatVersion: it marks the
// meta record upgrading (an older binary refuses the store from then on),
// writes the index of payments by channel (0x0f) for every payment in the
// log up to last, a page at a time, committing whenever a transaction is
// full, and clears the mark last. A crash part way leaves the mark, and
// the next Open upgrades again (the entries written before are written
// again, the same or, for the last run, longer under the same key). It
// runs before the committer starts.
func (s *Store) upgrade(version uint32, upgrading bool, last uint64) error {
	if version != 1 && !(version == FormatVersion && upgrading) {
		return corrupt(metaKey, "no upgrade from store format version %d", version)
	}
	s.log.Info("upgrading the store: indexing payments by channel (format 2)", "log_entries", last)
	start := time.Now()
	mark, err := encode(&storev1.StoreMeta{FormatVersion: FormatVersion, Upgrading: true}, "store meta")
	if err != nil {
		return err
	}
	w, err := newBulkWriter(s.eng)
	if err != nil {
		return err
	}
	defer w.discard()
	if err := w.set(metaKey, mark); err != nil {
		return fmt.Errorf("upgrade: mark the store: %w", err)
	}
	if err := w.flush(); err != nil { // the mark is durable before any entry
		return fmt.Errorf("upgrade: mark the store: %w", err)
	}
	const page = 1024
	var from uint64 = 1
	indexed := 0
	runs := chanRuns{set: w.set}
	type pay struct {
		c   chanPay
		seq uint64
	}
	for from <= last {
		var pays []pay
		read := 0
		err := s.eng.view(func(r reader) error {
			return r.scan(logKey(from), keyAfter(logKey(last)), false, page, func(k, v []byte) error {
				e, err := decodeLogEntry(k, v)
				if err != nil {
					return err
				}
				read++
				from = e.GetSeq() + 1
				if p := e.GetPayment(); p != nil && indexedByChannel(p) {
					pays = append(pays, pay{chanPayOf(p), e.GetSeq()})
				}
				if read == page {
					return errStopScan
				}
				return nil
			})
		})
		if err != nil {
			return fmt.Errorf("upgrade: read the log: %w", err)
		}
		for _, p := range pays {
			if err := runs.add(p.c, p.seq); err != nil {
				return fmt.Errorf("upgrade: %w", err)
			}
		}
		indexed += len(pays)
		if read < page {
			break
		}
	}
	if err := runs.flush(); err != nil {
		return fmt.Errorf("upgrade: %w", err)
	}
	v, err := encode(&storev1.StoreMeta{FormatVersion: FormatVersion}, "store meta")
	if err != nil {
		return err
	}
	if err := w.set(metaKey, v); err != nil {
		return fmt.Errorf("upgrade: %w", err)
	}
	if err := w.commit(); err != nil {
		return fmt.Errorf("upgrade: %w", err)
	}
	s.log.Info("upgraded the store", "format_version", FormatVersion, "payments_indexed", indexed, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// Close stops the committer and closes the database. Batches already
// queued are committed first (their callers learn the outcome as usual);
// later commits fail with ErrClosed. Close does not wait for callbacks
// other than the committer's own; it returns after the database is closed
// and may be called more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closing = true
		s.mu.Unlock()
		s.signal()
		<-s.stopped
		s.closeMu.Lock()
		s.closed = true
		s.closeMu.Unlock()
		if err := s.eng.close(); err != nil {
			s.closeErr = fmt.Errorf("store: close: %w", err)
		}
	})
	return s.closeErr
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	return Stats{
		Batches:  s.stats.batches.Load(),
		Rejected: s.stats.rejected.Load(),
		Groups:   s.stats.groups.Load(),
		Txns:     s.stats.txns.Load(),
		Retries:  s.eng.retries(),
		LastSeq:  s.lastSeq.Load(),
	}
}

// LastSeq returns the seq of the newest durable log entry, 0 if the log is
// empty.
func (s *Store) LastSeq() uint64 { return s.lastSeq.Load() }

// view runs fn in a read transaction unless the store is closed.
func (s *Store) view(fn func(r reader) error) error {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return s.eng.view(fn)
}

// getOne reads the value under one key (see engine.getOne).
func (s *Store) getOne(k []byte) ([]byte, error) {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	return s.eng.getOne(k)
}

// Channel returns the channel with the given id.
func (s *Store) Channel(id [32]byte) (*storev1.Channel, error) {
	k := channelKey(id)
	v, err := s.getOne(k)
	var c *storev1.Channel
	if err == nil {
		c, err = decodeChannel(k, v)
	}
	if err != nil {
		return nil, fmt.Errorf("channel %x: %w", id, err)
	}
	return c, nil
}

// Channels returns every channel, ordered by id.
func (s *Store) Channels() ([]*storev1.Channel, error) {
	return listRecords(s, prefixChannel, "channels", decodeChannel)
}

// ChannelRecord is a channel's record with its newest proofs, by signer
// side (nil where there is none), and its outgoing payments whose receipts
// are awaited (see Batch.ReceiptSettled), oldest proof first.
type ChannelRecord struct {
	Channel *storev1.Channel
	Proofs  [2]*storev1.Proof
	Awaited []*storev1.Payment
	// Settled are the channel's entries of the awaited receipts whose
	// receipt is on disk: nothing awaits them, and the caller may remove
	// them (Batch.ReceiptSettled) so that no later start reads them again.
	Settled []AwaitedRef
}

// AwaitedRef names an entry of the awaited receipts of a channel: the
// payment, and the nonce of the own proof that carried it.
type AwaitedRef struct {
	Nonce   uint64
	Payment [idLen]byte
}

type proofSeed struct{ nonces map[proofKeyArr]uint64 }

// mergeProofSeed merges a seed LoadChannels left into proofNonces, on the
// committer goroutine, before a group; proofNonces then holds every proof
// on disk. What the committer recorded wins over the seed: every proof
// committed since the snapshot is in proofNonces, and newer. A proof
// deleted since (DeleteChannel) comes back from the seed, but an entry of
// a proof that is not on disk only costs a read: admission reads the one
// on disk unless the new nonce is above the entry's.
func (s *Store) mergeProofSeed() {
	seed := s.proofSeed.Swap(nil)
	if seed == nil {
		return
	}
	for k, n := range s.proofNonces {
		seed.nonces[k] = n
	}
	s.proofNonces, s.proofsComplete = seed.nonces, true
}

// LoadChannels returns every channel with its proofs, as of one moment:
// two ordered scans (channels, proofs) joined by id, instead of two point
// reads per channel (a restart with a hundred thousand channels would
// otherwise make two hundred thousand reads, each a round trip on a
// database server). A proof without its channel is corrupt.
func (s *Store) LoadChannels() ([]ChannelRecord, error) {
	var out []ChannelRecord
	// Every proof's nonce, for the committer: admitting a channel's first
	// proof then needs no read (see proofsComplete).
	seed := &proofSeed{nonces: make(map[proofKeyArr]uint64)}
	err := s.view(func(r reader) error {
		out = out[:0]
		clear(seed.nonces)
		err := r.scan([]byte{prefixChannel}, prefixEnd([]byte{prefixChannel}), false, 0, func(k, v []byte) error {
			c, err := decodeChannel(k, v)
			if err != nil {
				return err
			}
			out = append(out, ChannelRecord{Channel: c})
			return nil
		})
		if err != nil {
			return err
		}
		i := 0 // out is in id order, as the proofs are
		err = r.scan([]byte{prefixProof}, prefixEnd([]byte{prefixProof}), false, 0, func(k, v []byte) error {
			p, err := decodeProof(k, v)
			if err != nil {
				return err
			}
			id := k[1 : 1+idLen]
			for i < len(out) && bytes.Compare(out[i].Channel.GetId(), id) < 0 {
				i++
			}
			if i == len(out) || !bytes.Equal(out[i].Channel.GetId(), id) {
				return corrupt(k, "a proof of channel %x, which has no record", id)
			}
			out[i].Proofs[k[1+idLen]] = p
			seed.nonces[proofKeyArr(k)] = p.GetNonce()
			return nil
		})
		if err != nil {
			return err
		}
		if h := s.cfg.testHookLoaded; h != nil {
			h()
		}
		// The receipts awaited: few (the payments in flight when the node
		// stopped), each read with its payment record.
		i = 0
		return r.scan([]byte{prefixAwaited}, prefixEnd([]byte{prefixAwaited}), false, 0, func(k, _ []byte) error {
			if err := checkKey(k); err != nil {
				return err
			}
			ch, nonce, id := k[1:1+idLen], binary.BigEndian.Uint64(k[1+idLen:]), [idLen]byte(k[1+idLen+seqLen:])
			for i < len(out) && bytes.Compare(out[i].Channel.GetId(), ch) < 0 {
				i++
			}
			if i == len(out) || !bytes.Equal(out[i].Channel.GetId(), ch) {
				return nil // an index entry of a channel forgotten: nothing awaits it (Verify agrees)
			}
			p, err := awaitedPayment(r, k, id)
			switch {
			case err != nil:
				return err
			case p == nil: // its receipt is on disk
				out[i].Settled = append(out[i].Settled, AwaitedRef{Nonce: nonce, Payment: id})
				return nil
			case !awaitsReceipt(p) || !bytes.Equal(p.GetChannelId(), ch) || p.GetNonce() != nonce:
				return corrupt(k, "a receipt awaited for payment %x, which is not an outgoing payment of proof %d of that channel that asked for one", id, nonce)
			}
			out[i].Awaited = append(out[i].Awaited, p)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("load channels: %w", err)
	}
	s.proofSeed.Store(seed)
	return out, nil
}

// awaitedPayment reads the payment of an entry k of the awaited receipts,
// or nil if its receipt is on disk already.
func awaitedPayment(r reader, k []byte, id [idLen]byte) (*storev1.Payment, error) {
	if _, err := r.get(receiptKey(id)); err == nil {
		return nil, nil
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	e, err := indexedPayment(r, paymentIDKey(id), func(p *storev1.Payment) bool { return bytes.Equal(p.GetId(), id[:]) })
	if errors.Is(err, ErrNotFound) {
		return nil, corrupt(k, "a receipt awaited for payment %x, which is not in the log", id)
	}
	if err != nil {
		return nil, err
	}
	return e.GetPayment(), nil
}

// Proof returns the newest proof signed by side signerSide (0 for A, 1 for
// B) of channel id.
func (s *Store) Proof(id [32]byte, signerSide uint32) (*storev1.Proof, error) {
	if signerSide > 1 {
		return nil, fmt.Errorf("proof %x side %d: %w: side is not 0 or 1", id, signerSide, ErrInvalid)
	}
	k := proofKey(id, signerSide)
	v, err := s.getOne(k)
	var p *storev1.Proof
	if err == nil {
		p, err = decodeProof(k, v)
	}
	if err != nil {
		return nil, fmt.Errorf("proof %x side %d: %w", id, signerSide, err)
	}
	return p, nil
}

// LogEntry returns the log entry with the given seq.
func (s *Store) LogEntry(seq uint64) (*storev1.LogEntry, error) {
	var e *storev1.LogEntry
	err := s.view(func(r reader) error {
		var err error
		e, err = logEntry(r, seq)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("log entry %d: %w", seq, err)
	}
	return e, nil
}

func logEntry(r reader, seq uint64) (*storev1.LogEntry, error) {
	k := logKey(seq)
	v, err := r.get(k)
	if err != nil {
		return nil, err
	}
	return decodeLogEntry(k, v)
}

// Log returns up to limit log entries with seq > afterSeq, in ascending
// order. Page through the log by passing the seq of the last entry
// returned; Log(0, n) starts at the beginning. An empty result means that
// there is nothing after afterSeq yet.
func (s *Store) Log(afterSeq uint64, limit int) ([]*storev1.LogEntry, error) {
	if limit < 1 {
		return nil, fmt.Errorf("log after %d: %w: limit %d, want at least 1", afterSeq, ErrInvalid, limit)
	}
	if afterSeq == ^uint64(0) {
		return nil, nil
	}
	out, err := s.scanLog(afterSeq+1, false, limit)
	if err != nil {
		return nil, fmt.Errorf("log after %d: %w", afterSeq, err)
	}
	return out, nil
}

// LogBefore returns up to limit log entries with seq below beforeSeq, newest
// first: a reverse page through the log (pass the last seq returned to get
// the next page). Use it to find recent entries without reading the whole
// log.
func (s *Store) LogBefore(beforeSeq uint64, limit int) ([]*storev1.LogEntry, error) {
	if limit < 1 {
		return nil, fmt.Errorf("log before %d: %w: limit %d, want at least 1", beforeSeq, ErrInvalid, limit)
	}
	if beforeSeq <= 1 {
		return nil, nil
	}
	out, err := s.scanLog(beforeSeq-1, true, limit)
	if err != nil {
		return nil, fmt.Errorf("log before %d: %w", beforeSeq, err)
	}
	return out, nil
}

// MaxChannelPayments bounds the limit of one ChannelPayments call.
const MaxChannelPayments = 64 << 10

// ChannelPayments returns the payments of channel ch's proofs in direction
// dir with a nonce in (after, upTo], newest first (by nonce, then by seq),
// at most limit of them (1 to MaxChannelPayments). It reads the index of
// payments by channel and one log entry per payment: the cost is what it
// returns, however long the log and however many other channels it holds.
func (s *Store) ChannelPayments(ch [idLen]byte, dir storev1.Direction, after, upTo uint64, limit int) ([]*storev1.Payment, error) {
	if limit < 1 || limit > MaxChannelPayments {
		return nil, fmt.Errorf("channel payments: %w: limit %d, want 1 to %d", ErrInvalid, limit, MaxChannelPayments)
	}
	if dir != storev1.Direction_DIRECTION_INCOMING && dir != storev1.Direction_DIRECTION_OUTGOING {
		return nil, fmt.Errorf("channel payments: %w: direction %v", ErrInvalid, dir)
	}
	if upTo <= after {
		return nil, nil
	}
	lo := chanPayKey(ch, dir, after+1, 0)
	var hi []byte
	if upTo == ^uint64(0) {
		hi = prefixEnd(lo[:1+idLen+1])
	} else {
		hi = chanPayKey(ch, dir, upTo+1, 0)
	}
	var out []*storev1.Payment
	err := s.view(func(r reader) error {
		type run struct {
			c     chanPay
			first uint64
			n     uint32
		}
		var runs []run
		total := 0
		err := r.scan(lo, hi, true, limit, func(k, v []byte) error {
			if err := checkKey(k); err != nil {
				return err
			}
			c, first, n, err := parseChanPay(k, v)
			if err != nil {
				return err
			}
			// Newest first: a run of the same proof before this one
			// starts after this one ends, or the index counts a payment
			// twice.
			if m := len(runs); m > 0 && runs[m-1].c == c && first+uint64(n) > runs[m-1].first {
				return corrupt(k, "index entry overlaps the one after it (from log entry %d)", runs[m-1].first)
			}
			runs = append(runs, run{c, first, n})
			if total += int(n); total >= limit {
				return errStopScan
			}
			return nil
		})
		if err != nil {
			return err
		}
		// Every log entry wanted, newest first, read at once (one round
		// trip on PostgreSQL, not one a proof).
		keys := make([][]byte, 0, min(total, limit))
		for _, rn := range runs {
			for seq := rn.first + uint64(rn.n) - 1; seq >= rn.first && len(keys) < limit; seq-- {
				keys = append(keys, logKey(seq))
			}
		}
		vals, err := getAll(r, keys)
		if err != nil {
			return err
		}
		out = make([]*storev1.Payment, 0, len(keys))
		i := 0
		for _, rn := range runs {
			for seq := rn.first + uint64(rn.n) - 1; seq >= rn.first && i < len(keys); seq-- {
				k := keys[i]
				i++
				v, ok := vals[string(k)]
				if !ok {
					return corrupt(chanPayKey(rn.c.ch, rn.c.dir, rn.c.nonce, rn.first), "index counts %d payments from log entry %d, the log has no entry %d", rn.n, rn.first, seq)
				}
				e, err := decodeLogEntry(k, v)
				if err != nil {
					return err
				}
				p := e.GetPayment()
				if p == nil || !indexedByChannel(p) || chanPayOf(p) != rn.c {
					return corrupt(chanPayKey(rn.c.ch, rn.c.dir, rn.c.nonce, rn.first), "index points to log entry %d, which is not a payment of that proof", seq)
				}
				out = append(out, p)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("channel payments: %w", err)
	}
	return out, nil
}

// checkRun reads the newest max (at most n) log entries of the run of
// payments of proof c that starts at seq first, newest first, checks that
// each is a payment of that proof, and passes it to take.
func checkRun(r reader, c chanPay, first uint64, n uint32, max int, take func(*storev1.Payment)) error {
	want := min(int(n), max)
	got := 0
	key := chanPayKey(c.ch, c.dir, c.nonce, first)
	err := r.scan(logKey(first), logKey(first+uint64(n)), true, want, func(k, v []byte) error {
		e, err := decodeLogEntry(k, v)
		if err != nil {
			return err
		}
		p := e.GetPayment()
		if p == nil || !indexedByChannel(p) || chanPayOf(p) != c {
			return corrupt(key, "index points to log entry %d, which is not a payment of that proof", e.GetSeq())
		}
		take(p)
		if got++; got >= want {
			return errStopScan
		}
		return nil
	})
	if err == nil && got < want {
		err = corrupt(key, "index counts %d payments from log entry %d, the log holds %d of them", n, first, got)
	}
	return err
}

// scanLog reads up to limit log entries starting at seq from, ascending or
// (reverse) descending.
func (s *Store) scanLog(from uint64, reverse bool, limit int) ([]*storev1.LogEntry, error) {
	lo, hi := logKey(from), prefixEnd([]byte{prefixLog})
	if reverse {
		lo, hi = []byte{prefixLog}, keyAfter(logKey(from))
	}
	var out []*storev1.LogEntry
	err := s.view(func(r reader) error {
		return r.scan(lo, hi, reverse, limit, func(k, v []byte) error {
			e, err := decodeLogEntry(k, v)
			if err != nil {
				return err
			}
			out = append(out, e)
			if len(out) >= limit {
				return errStopScan
			}
			return nil
		})
	})
	return out, err
}

// paymentBy resolves an index key to its log entry and checks that the
// entry is a payment whose field matches.
func (s *Store) paymentBy(k []byte, match func(*storev1.Payment) bool) (*storev1.LogEntry, error) {
	// Most look-ups are of keys not used yet (a new payment's): one read
	// says so. A key that is there is read again with its entry, from one
	// snapshot.
	if _, err := s.getOne(k); err != nil {
		return nil, err
	}
	var e *storev1.LogEntry
	err := s.view(func(r reader) error {
		var err error
		e, err = indexedPayment(r, k, match)
		return err
	})
	return e, err
}

// indexedPayment reads the payment log entry that index entry k points
// to, which must match: ErrNotFound if k is not there, corrupt if the
// entry is missing or is not the payment indexed.
func indexedPayment(r reader, k []byte, match func(*storev1.Payment) bool) (*storev1.LogEntry, error) {
	v, err := r.get(k)
	if err != nil {
		return nil, err
	}
	seq, err := decodeSeqValue(k, v)
	if err != nil {
		return nil, err
	}
	e, err := logEntry(r, seq)
	if errors.Is(err, ErrNotFound) {
		return nil, corrupt(k, "index points to missing log entry %d", seq)
	}
	if err != nil {
		return nil, err
	}
	if p := e.GetPayment(); p == nil || !match(p) {
		return nil, corrupt(k, "index points to log entry %d, which is not the payment indexed", seq)
	}
	return e, nil
}

// PaymentByIdempotencyKey returns the log entry of the payment with the
// given idempotency key.
func (s *Store) PaymentByIdempotencyKey(key string) (*storev1.LogEntry, error) {
	if key == "" || len(key) > MaxIdempotencyKeyLen {
		return nil, fmt.Errorf("payment by idempotency key %q: %w", key, ErrNotFound)
	}
	e, err := s.paymentBy(idemKey(key), func(p *storev1.Payment) bool { return p.GetIdempotencyKey() == key })
	if err != nil {
		return nil, fmt.Errorf("payment by idempotency key %q: %w", key, err)
	}
	return e, nil
}

// PaymentByID returns the log entry of the payment with the given id.
func (s *Store) PaymentByID(id [32]byte) (*storev1.LogEntry, error) {
	e, err := s.paymentBy(paymentIDKey(id), func(p *storev1.Payment) bool { return string(p.GetId()) == string(id[:]) })
	if err != nil {
		return nil, fmt.Errorf("payment %x: %w", id, err)
	}
	return e, nil
}

// PaymentByOffer returns the incoming payment that paid a once-only offer
// (see OfferUses and OfferPaidBy for the others).
func (s *Store) PaymentByOffer(offerID [32]byte) (*storev1.LogEntry, error) {
	e, err := s.paymentBy(offerKey(offerID), func(p *storev1.Payment) bool { return string(p.GetOfferId()) == string(offerID[:]) })
	if err != nil {
		return nil, fmt.Errorf("offer %x: %w", offerID, err)
	}
	return e, nil
}

// OfferPaidBy returns payer's accepted payment of a per-payer offer.
func (s *Store) OfferPaidBy(offerID [32]byte, payer [20]byte) (*storev1.LogEntry, error) {
	e, err := s.paymentBy(offerPaidKey(offerID, payer), func(p *storev1.Payment) bool {
		return string(p.GetOfferId()) == string(offerID[:]) && string(p.GetPeer()) == string(payer[:])
	})
	if err != nil {
		return nil, fmt.Errorf("offer %x paid by %x: %w", offerID, payer, err)
	}
	return e, nil
}

// OfferUses returns the number of accepted incoming payments of an offer:
// 0 or 1 for a once-only offer, the count kept for any other. It is 0 for
// an offer never paid (or not this node's).
func (s *Store) OfferUses(offerID [32]byte) (uint64, error) {
	var n uint64
	err := s.view(func(r reader) error {
		seq, err := indexed(r, offerKey(offerID))
		if err != nil || seq != 0 {
			n = min(seq, 1)
			return err
		}
		n, err = offerCount(r, offerID)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("offer %x uses: %w", offerID, err)
	}
	return n, nil
}

// Receipt returns the receipt stored for a payment.
func (s *Store) Receipt(paymentID [32]byte) (*storev1.Receipt, error) {
	return getRecord(s, receiptKey(paymentID), "receipt", func(k, v []byte) (*storev1.Receipt, error) {
		return decodeChecked(k, v, new(storev1.Receipt), "receipt", checkReceipt, func(r *storev1.Receipt) []byte { return r.GetPaymentId() })
	})
}

// Stream returns the stream with id.
func (s *Store) Stream(id [16]byte) (*storev1.Stream, error) {
	return getRecord(s, streamKey(id), "stream", decodeStream)
}

// Streams returns every stream.
func (s *Store) Streams() ([]*storev1.Stream, error) {
	return listRecords(s, prefixStream, "streams", decodeStream)
}

// Token returns the app token with id.
func (s *Store) Token(id [16]byte) (*storev1.AppToken, error) {
	return getRecord(s, tokenKey(id), "token", decodeToken)
}

// Tokens returns every app token.
func (s *Store) Tokens() ([]*storev1.AppToken, error) {
	return listRecords(s, prefixToken, "tokens", decodeToken)
}

// Transfer returns the transfer stored under the idempotency key.
func (s *Store) Transfer(key string) (*storev1.Transfer, error) {
	if err := checkTransferKey(key); err != nil {
		return nil, invalid("transfer: %v", err)
	}
	return getRecord(s, transferKey(key), "transfer", decodeTransfer)
}

// Transfers returns every transfer, in key order.
func (s *Store) Transfers() ([]*storev1.Transfer, error) {
	return listRecords(s, prefixTransfer, "transfers", decodeTransfer)
}

func decodeTransfer(k, v []byte) (*storev1.Transfer, error) {
	return decodeChecked(k, v, new(storev1.Transfer), "transfer", checkTransfer, func(r *storev1.Transfer) []byte { return []byte(r.GetKey()) })
}

func decodeStream(k, v []byte) (*storev1.Stream, error) {
	return decodeChecked(k, v, new(storev1.Stream), "stream", checkStream, func(r *storev1.Stream) []byte { return r.GetId() })
}

func decodeToken(k, v []byte) (*storev1.AppToken, error) {
	return decodeChecked(k, v, new(storev1.AppToken), "token", checkToken, func(r *storev1.AppToken) []byte { return r.GetId() })
}

// getRecord reads and decodes the record under k; ErrNotFound if absent.
func getRecord[T any](s *Store, k []byte, what string, decode func(k, v []byte) (T, error)) (T, error) {
	v, err := s.getOne(k)
	var out T
	if err == nil {
		out, err = decode(k, v)
	}
	if err != nil {
		var zero T
		return zero, fmt.Errorf("%s %s: %w", what, keyString(k), err)
	}
	return out, nil
}

// listRecords decodes every record under a prefix, in key order.
func listRecords[T any](s *Store, prefix byte, what string, decode func(k, v []byte) (T, error)) ([]T, error) {
	var out []T
	err := s.view(func(r reader) error {
		return r.scan([]byte{prefix}, prefixEnd([]byte{prefix}), false, 0, func(k, v []byte) error {
			rec, err := decode(k, v)
			if err != nil {
				return err
			}
			out = append(out, rec)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// Cursor returns the value stored under the cursor name.
func (s *Store) Cursor(name string) ([]byte, error) {
	if err := checkCursorName(name); err != nil {
		return nil, fmt.Errorf("cursor %q: %w: %v", name, ErrInvalid, err)
	}
	k := cursorKey(name)
	v, err := s.getOne(k)
	var c *storev1.Cursor
	if err == nil {
		c, err = decodeCursor(k, v)
	}
	if err != nil {
		return nil, fmt.Errorf("cursor %q: %w", name, err)
	}
	return c.GetValue(), nil
}
