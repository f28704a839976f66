package store

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Config configures a Store.
type Config struct {
	// Dir is the directory of the database; it is created if missing.
	Dir string
	// SyncWrites makes every commit fsync before it is reported. Turn it
	// off only for tests and benchmarks: without it a commit survives a
	// process crash but not a power failure or kernel crash.
	SyncWrites bool
	// MaxBatch bounds how many batches one group commit takes from the
	// queue; a group is written in one badger transaction (split only if
	// badger finds it too big) with one fsync.
	MaxBatch int
	// MemTableSize is badger's memtable size in bytes. It bounds memory
	// (badger keeps a few memtables) and the largest transaction, which is
	// 15% of it; one Batch must fit in one transaction.
	MemTableSize int64
	// Logger receives the store's and badger's warnings; nil discards them.
	Logger *slog.Logger
	// Observer, if set, is told about every group commit (for metrics).
	Observer CommitObserver

	// testHookCommit, if set, runs on the committer goroutine before each
	// badger commit; an error it returns stands for a failed commit.
	testHookCommit func() error
}

// CommitObserver is told about the store's group commits, for metrics;
// package node's Metrics implements it. The store calls it on its committer
// goroutine, between a group's write and the callbacks of its batches: it
// must return quickly and must not call the store.
type CommitObserver interface {
	// GroupCommitted reports one group commit: it took d (writing the
	// group's batches, committing and, with SyncWrites, fsyncing) and made
	// batches of them durable; batches is 0 when the write failed or every
	// batch of the group was refused.
	GroupCommitted(d time.Duration, batches int)
}

// DefaultConfig returns the configuration for a store in dir: fsync on,
// groups of up to 1024 batches, 16 MiB memtables.
func DefaultConfig(dir string) Config {
	return Config{
		Dir:          dir,
		SyncWrites:   true,
		MaxBatch:     1024,
		MemTableSize: 16 << 20,
	}
}

// Min and max memtable sizes accepted by Validate.
const (
	minMemTableSize = 1 << 20
	maxMemTableSize = 1 << 30
)

// valueThreshold keeps every record (at most MaxRecordSize bytes) in the
// LSM tree rather than in badger's value log.
const valueThreshold = 2 * MaxRecordSize

// Validate reports whether the configuration is usable.
func (c Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("store config: Dir is empty"))
	}
	if c.MaxBatch < 1 {
		errs = append(errs, fmt.Errorf("store config: MaxBatch is %d, want at least 1", c.MaxBatch))
	}
	if c.MemTableSize < minMemTableSize || c.MemTableSize > maxMemTableSize {
		errs = append(errs, fmt.Errorf("store config: MemTableSize is %d, want %d to %d",
			c.MemTableSize, minMemTableSize, maxMemTableSize))
	}
	return errors.Join(errs...)
}
