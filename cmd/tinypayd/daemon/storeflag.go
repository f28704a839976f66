package daemon

import (
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/store"
)

// storeFlag chooses the store's engine (run and restore).
func storeFlag(cf configFile) cli.Flag {
	return &cli.StringFlag{
		Name: "store",
		Usage: `where the node keeps its channels, proofs and payments: "badger" (DATADIR/db, the default) ` +
			`or a PostgreSQL database, postgres://USER@HOST:PORT/DB?sslmode=verify-full (tested on PostgreSQL 15; ` +
			`the password from PGPASSWORD or ~/.pgpass rather than the URL; tables are made at start; ` +
			`several nodes may share one database). The key, certificate and token stay in DATADIR`,
		Value:   "badger",
		Sources: cf.sources("store"),
	}
}

// storeConfig builds the store's configuration from --store for node
// (its records' owner in a shared database) with its data directory dir.
// postgres is whether it names PostgreSQL.
func storeConfig(c *cli.Command, dir string, node crypto.Address) (cfg store.Config, postgres bool, err error) {
	v := c.String("store")
	switch {
	case v == "" || v == "badger":
		return store.DefaultConfig(filepath.Join(dir, dbDir)), false, nil
	case strings.HasPrefix(v, "postgres://") || strings.HasPrefix(v, "postgresql://"):
		cfg = store.DefaultPostgresConfig(v, storeNode(node))
		if err := cfg.Validate(); err != nil {
			return cfg, true, usagef("--store: %v", err)
		}
		return cfg, true, nil
	}
	// The value is not echoed: it may hold a password.
	return cfg, false, usagef(`--store: want "badger" or a URL that starts with postgres:// or postgresql://`)
}

// storeNode is the name of node's records in a shared database: its
// address in lowercase hex.
func storeNode(a crypto.Address) string { return strings.ToLower(a.Hex()) }

// standbyFlags are run's flags of a hot standby pair on PostgreSQL.
func standbyFlags(cf configFile) []cli.Flag {
	const cat = "hot standby (PostgreSQL store only)"
	return []cli.Flag{
		&cli.BoolFlag{Name: "standby", Category: cat, Sources: cf.sources("standby"),
			Usage: "wait for the node's lease as long as another tinypayd holds it, then take the node over (a hot standby); until then no peer listener, no control API"},
		&cli.DurationFlag{Name: "lease-ttl", Category: cat, Value: store.DefaultPostgresOptions().LeaseTTL, Sources: cf.sources("lease-ttl"),
			Usage: "how long the node's lease lasts unless renewed (every third of it): a standby takes over about this long after the active process dies, and a process that cannot renew it stops a fifth of it earlier (1s to 10m)"},
	}
}

// Bounds of --lease-ttl.
const (
	minLeaseTTL = time.Second
	maxLeaseTTL = 10 * time.Minute
)

// applyStandbyFlags sets the lease of a PostgreSQL store's configuration
// from --standby and --lease-ttl, which make no sense with badger.
func applyStandbyFlags(c *cli.Command, cfg *store.Config, postgres bool) error {
	standby, ttl := c.Bool("standby"), c.Duration("lease-ttl")
	if !postgres {
		for _, f := range []string{"standby", "lease-ttl"} {
			if c.IsSet(f) {
				return usagef("--%s needs --store postgres://...: a badger store is one process's, there is no lease to share", f)
			}
		}
		return nil
	}
	if ttl < minLeaseTTL || ttl > maxLeaseTTL {
		return usagef("--lease-ttl is %s, want %s to %s", ttl, minLeaseTTL, maxLeaseTTL)
	}
	cfg.Postgres.LeaseTTL = ttl
	// A restart (not a standby) waits out the lease of a process that
	// just died, and a little more.
	cfg.Postgres.LeaseWait = ttl + ttl/5
	cfg.Postgres.Standby = standby
	return nil
}
