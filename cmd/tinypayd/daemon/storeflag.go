package daemon

import (
	"path/filepath"
	"strings"

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
