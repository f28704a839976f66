package store

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Config configures a Store. It names one engine: badger in Dir (the
// default), or PostgreSQL when Postgres.URL is set (then Dir is empty).
type Config struct {
	// Dir is the directory of the badger database; it is created if
	// missing.
	Dir string
	// Postgres, if its URL is set, keeps the store in a PostgreSQL
	// database instead (see PostgresConfig and DefaultPostgresConfig).
	Postgres PostgresConfig
	// SyncWrites makes every commit fsync before it is reported. Turn it
	// off only for tests and benchmarks: without it a commit survives a
	// process crash but not a power failure or kernel crash. With
	// PostgreSQL, off sets the session's synchronous_commit to off (a
	// commit is then reported before the server flushed it).
	SyncWrites bool
	// MaxBatch bounds how many batches one group commit takes from the
	// queue; a group is written in one engine transaction (split only if
	// it is too big) with one fsync or COMMIT.
	MaxBatch int
	// MemTableSize is badger's memtable size in bytes. It bounds memory
	// (badger keeps a few memtables) and the largest transaction, which is
	// 15% of it; one Batch must fit in one transaction. Badger only.
	MemTableSize int64
	// Logger receives the store's and badger's warnings; nil discards them.
	Logger *slog.Logger
	// Observer, if set, is told about every group commit (for metrics).
	Observer CommitObserver

	// testHookCommit, if set, runs on the committer goroutine before each
	// badger commit; an error it returns stands for a failed commit.
	testHookCommit func() error
	// testHookLoaded, if set, runs in LoadChannels after it read the
	// proofs, within its snapshot.
	testHookLoaded func()
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

// DefaultConfig returns the configuration for a badger store in dir:
// fsync on, groups of up to 1024 batches, 16 MiB memtables.
func DefaultConfig(dir string) Config {
	return Config{
		Dir:          dir,
		SyncWrites:   true,
		MaxBatch:     1024,
		MemTableSize: 16 << 20,
	}
}

// DefaultPostgresConfig returns the configuration for the store of node
// (its identity: the records of several nodes share a database apart) in
// the PostgreSQL database at url (postgres://USER@HOST/DB?sslmode=...):
// durable commits, groups of up to 1024 batches, and
// DefaultPostgresOptions.
func DefaultPostgresConfig(url, node string) Config {
	p := DefaultPostgresOptions()
	p.URL, p.Node = url, node
	return Config{SyncWrites: true, MaxBatch: 1024, Postgres: p}
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
	if c.MaxBatch < 1 {
		errs = append(errs, fmt.Errorf("store config: MaxBatch is %d, want at least 1", c.MaxBatch))
	}
	switch {
	case c.Postgres.URL != "" && c.Dir != "":
		errs = append(errs, errors.New("store config: both Dir and Postgres.URL are set; a store is in one of them"))
	case c.Postgres.URL != "":
		errs = append(errs, c.Postgres.validate())
	case c.Dir == "":
		errs = append(errs, errors.New("store config: Dir is empty"))
	case c.MemTableSize < minMemTableSize || c.MemTableSize > maxMemTableSize:
		errs = append(errs, fmt.Errorf("store config: MemTableSize is %d, want %d to %d",
			c.MemTableSize, minMemTableSize, maxMemTableSize))
	}
	return errors.Join(errs...)
}

// where names the store for messages: its directory, or its database
// and node without a password.
func (c Config) where() string {
	if c.Postgres.URL == "" {
		return c.Dir
	}
	return c.Postgres.where()
}
