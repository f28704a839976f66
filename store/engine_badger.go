package store

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// badgerEngine keeps the store in a badger database in Config.Dir: one
// badger transaction per write transaction, fsynced with SyncWrites. A
// transaction holds at most 15% of Config.MemTableSize (badger's
// ErrTxnTooBig, errTxnTooBig here). badger locks the directory: a second
// process cannot open it.
type badgerEngine struct {
	db  *badger.DB
	dir string
}

var _ engine = (*badgerEngine)(nil)

// openBadger opens or creates the badger database in cfg.Dir.
func openBadger(cfg Config, l *slog.Logger) (*badgerEngine, error) {
	db, err := badger.Open(cfg.badgerOptions(l))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", cfg.Dir, err)
	}
	return &badgerEngine{db: db, dir: cfg.Dir}, nil
}

// badgerRestoreTarget checks that dir is missing or empty, as Restore
// wants it.
func badgerRestoreTarget(dir string) error {
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return fmt.Errorf("store: restore into %s: the directory is not empty", dir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("store: restore: %w", err)
	}
	return nil
}

func (e *badgerEngine) view(fn func(r reader) error) error {
	return e.db.View(func(txn *badger.Txn) error { return fn(badgerReader{txn}) })
}

func (e *badgerEngine) getOne(k []byte) (v []byte, err error) {
	err = e.view(func(r reader) error {
		v, err = r.get(k)
		return err
	})
	return v, err
}

func (e *badgerEngine) begin() (writeTxn, error) {
	return &badgerTxn{badgerReader{e.db.NewTransaction(true)}}, nil
}

func (e *badgerEngine) close() error { return e.db.Close() }

func (e *badgerEngine) destroy() error {
	err := e.db.Close()
	return errors.Join(err, os.RemoveAll(e.dir))
}

func (e *badgerEngine) retries() uint64 { return 0 }

type badgerReader struct{ txn *badger.Txn }

func (r badgerReader) get(k []byte) ([]byte, error) {
	item, err := r.txn.Get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: get %s: %w", keyString(k), err)
	}
	v, err := item.ValueCopy(nil)
	if err != nil {
		return nil, fmt.Errorf("store: get %s: %w", keyString(k), err)
	}
	return v, nil
}

func (r badgerReader) scan(lo, hi []byte, reverse bool, limitHint int, fn func(k, v []byte) error) error {
	opts := badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 100, Reverse: reverse, Prefix: scanPrefix(lo, hi)}
	if limitHint > 0 {
		opts.PrefetchSize = min(limitHint, 100)
	}
	it := r.txn.NewIterator(opts)
	defer it.Close()
	switch {
	case !reverse:
		it.Seek(lo)
	case hi == nil:
		it.Rewind()
	default:
		it.Seek(hi) // the largest key <= hi
	}
	for ; it.Valid(); it.Next() {
		item := it.Item()
		k := item.Key()
		if reverse && hi != nil && bytes.Equal(k, hi) {
			continue
		}
		if (!reverse && hi != nil && bytes.Compare(k, hi) >= 0) || (reverse && bytes.Compare(k, lo) < 0) {
			return nil
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return fmt.Errorf("store: read %s: %w", keyString(k), err)
		}
		if err := fn(k, v); err != nil {
			if errors.Is(err, errStopScan) {
				return nil
			}
			return err
		}
	}
	return nil
}

// scanPrefix is a prefix every key in [lo, hi) has, for badger's
// iterator to skip tables by.
func scanPrefix(lo, hi []byte) []byte {
	if hi == nil {
		return nil
	}
	n := 0
	for n < len(lo) && n < len(hi) && lo[n] == hi[n] {
		n++
	}
	if n == 0 && len(lo) > 0 && bytes.Equal(hi, prefixEnd(lo[:1])) {
		n = 1
	}
	return lo[:n]
}

type badgerTxn struct{ badgerReader }

func (t *badgerTxn) set(k, v []byte) error { return badgerErr(t.txn.Set(k, v)) }

func (t *badgerTxn) delete(k []byte) error { return badgerErr(t.txn.Delete(k)) }

func (t *badgerTxn) commit() error { return t.txn.Commit() }

func (t *badgerTxn) discard() { t.txn.Discard() }

func badgerErr(err error) error {
	if errors.Is(err, badger.ErrTxnTooBig) {
		return errTxnTooBig
	}
	return err
}

// badgerOptions returns badger's options for c: a small footprint for a
// small machine (few memtables, two compactors, no block cache since
// records are not compressed), no conflict detection (one writer) and
// badger's log routed to l at warn level.
func (c Config) badgerOptions(l *slog.Logger) badger.Options {
	return badger.DefaultOptions(c.Dir).
		WithSyncWrites(c.SyncWrites).
		WithLogger(badgerLogger{l}).
		WithMemTableSize(c.MemTableSize).
		WithNumMemtables(3).
		WithNumLevelZeroTables(4).
		WithNumLevelZeroTablesStall(12).
		WithNumCompactors(2).
		WithNumGoroutines(2).
		WithCompression(options.None).
		WithBlockCacheSize(0).
		WithIndexCacheSize(0).
		WithValueThreshold(valueThreshold).
		WithValueLogFileSize(64 << 20).
		WithDetectConflicts(false).
		WithMetricsEnabled(false).
		WithNumVersionsToKeep(1)
}

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
