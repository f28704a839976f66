package store

import "errors"

// The store keeps its rules (batches, admission, group commit, the log,
// the indexes, snapshots, Verify) once, above a small ordered key-value
// engine: badger (engine_badger.go, the default) or PostgreSQL
// (engine_postgres.go). An engine knows nothing of records; it stores
// bytes under byte keys, ordered bytewise, and commits one write
// transaction at a time, all or nothing.
//
// Who calls what: view from any goroutine (reads); begin, and everything on
// the transaction it returns, only from the committer goroutine (and from
// Open and Restore before it starts), one transaction at a time. close is
// called once, after the committer stopped and no view runs.
type engine interface {
	// view runs fn against one consistent snapshot of committed data.
	view(fn func(r reader) error) error
	// getOne reads one key, as view with one get does, but in one
	// statement where the engine can (PostgreSQL: no transaction around
	// it, one round trip instead of two); ErrNotFound if absent.
	getOne(k []byte) ([]byte, error)
	// begin starts a write transaction.
	begin() (writeTxn, error)
	// close releases the engine (for PostgreSQL: gives up the lease).
	close() error
	// destroy removes everything the engine holds and closes it: a failed
	// Restore leaves nothing behind.
	destroy() error
	// retries counts the transactions the engine retried, for Stats.
	retries() uint64
}

// reader reads one snapshot. Keys and values passed to a scan's fn are
// valid only during the call; get returns a copy.
type reader interface {
	// get returns the value under k, or ErrNotFound.
	get(k []byte) ([]byte, error)
	// scan calls fn for every key k with lo <= k < hi (hi nil: no upper
	// bound), ascending, or descending with reverse, until fn returns
	// errStopScan (scan then returns nil) or another error (returned).
	// fn may call get. limitHint, if positive, is how many keys the
	// caller expects to take, so that an engine that pages fetches no
	// more.
	scan(lo, hi []byte, reverse bool, limitHint int, fn func(k, v []byte) error) error
}

// writeTxn is one write transaction. Its reads see its own writes. It
// buffers nothing on the engine side until commit for PostgreSQL; badger
// holds it in memory too.
type writeTxn interface {
	reader
	// set writes v under k; delete removes k. Either fails with
	// errTxnTooBig when the transaction cannot take this write; the
	// transaction then holds what it held before and may be committed.
	// The transaction keeps k and v until it ends: the caller must not
	// change them.
	set(k, v []byte) error
	delete(k []byte) error
	// commit makes every write durable at once (for badger with
	// SyncWrites, fsynced; for PostgreSQL, COMMIT returned). If it fails,
	// whether the writes are durable is unknown, unless the error is
	// ErrFenced: then nothing was written.
	commit() error
	// discard ends the transaction without writing; it may follow commit.
	discard()
}

// prefetcher is a writeTxn with a round trip per read: told which keys
// the caller is about to get, it fetches them at once.
type prefetcher interface {
	prefetch(keys [][]byte) error
}

// multiGetter is a reader that reads many keys in one round trip
// (PostgreSQL); getAll uses it where the reader has it.
type multiGetter interface {
	// getMany reads keys (no two alike): key -> value for those present.
	getMany(keys [][]byte) (map[string][]byte, error)
}

// getAll reads keys (no two alike) in as few round trips as r allows: key
// -> value for those present.
func getAll(r reader, keys [][]byte) (map[string][]byte, error) {
	if m, ok := r.(multiGetter); ok {
		return m.getMany(keys)
	}
	out := make(map[string][]byte, len(keys))
	for _, k := range keys {
		v, err := r.get(k)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[string(k)] = v
	}
	return out, nil
}

// bulkWriter writes many records through engine transactions, committing
// one whenever it is full and going on in a new one (Restore, the
// upgrade): what it wrote is durable a transaction at a time.
type bulkWriter struct {
	eng engine
	txn writeTxn
}

func newBulkWriter(eng engine) (*bulkWriter, error) {
	txn, err := eng.begin()
	if err != nil {
		return nil, err
	}
	return &bulkWriter{eng: eng, txn: txn}, nil
}

// set writes v under k, in a new transaction if the one open is full.
func (w *bulkWriter) set(k, v []byte) error {
	err := w.txn.set(k, v)
	if errors.Is(err, errTxnTooBig) {
		// The full transaction holds what it held: commit it and go on
		// in a new one.
		if err = w.flush(); err == nil {
			err = w.txn.set(k, v)
		}
	}
	return err
}

// flush commits what is written and opens a new transaction.
func (w *bulkWriter) flush() error {
	if err := w.txn.commit(); err != nil {
		return err
	}
	w.txn.discard()
	txn, err := w.eng.begin()
	if err != nil {
		return err
	}
	w.txn = txn
	return nil
}

// commit commits what is written; discard ends the open transaction (it
// may follow commit).
func (w *bulkWriter) commit() error { return w.txn.commit() }
func (w *bulkWriter) discard()      { w.txn.discard() }

// errTxnTooBig: the write transaction cannot take more writes. The
// committer commits what it holds and goes on in a new one.
var errTxnTooBig = errors.New("store: transaction too big")

// errStopScan ends a scan early without an error.
var errStopScan = errors.New("store: stop scan")

// prefixEnd returns the smallest key after every key that starts with p
// (nil if there is none: p is all 0xff).
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// keyAfter returns the smallest key after k.
func keyAfter(k []byte) []byte { return append(append(make([]byte, 0, len(k)+1), k...), 0) }

// first returns the first key (and a copy of its value) in [lo, hi), the
// last one with reverse, or nil if there is none.
func first(r reader, lo, hi []byte, reverse bool) (k, v []byte, err error) {
	err = r.scan(lo, hi, reverse, 1, func(kk, vv []byte) error {
		k, v = append([]byte(nil), kk...), append([]byte(nil), vv...)
		return errStopScan
	})
	return k, v, err
}
