package daemon

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/rpc"
	"github.com/tinypay/tinypay/settlement/devchain/devinfo"
	"github.com/tinypay/tinypay/store"
	"github.com/tinypay/tinypay/store/backup"
)

// errDBInUse: a tinypayd holds the database.
var errDBInUse = errors.New("the database is in use")

// restoredFile marks a data directory restored from a backup until the
// node has caught up with its peers and the chain (see node.Config.Restored).
const restoredFile = "restored.json"

// restoredMark is the content of restoredFile.
type restoredMark struct {
	Node          string    `json:"node"`
	ChainID       uint64    `json:"chain_id"`
	Adjudicator   string    `json:"adjudicator"`
	BackupCreated time.Time `json:"backup_created"`
	Restored      time.Time `json:"restored"`
}

func restoreCommand(cf configFile, devFile cli.Flag, stdin io.Reader, stdout io.Writer) *cli.Command {
	return &cli.Command{
		Name:      "restore",
		Usage:     "bring a node back from a backup file (tinypay backup) into a data directory",
		ArgsUsage: "FILE",
		Description: `Checks the backup (its node, chain, and every byte: it is authenticated),
rebuilds the database from it in a new directory beside the data directory,
and only then moves it into place. The data directory must be empty or
missing, unless --force: then the database there is kept as db.replaced-TIME
(never deleted), and its key.json must be the backup's node's. tinypayd must
not be running on it.

The key comes from --key-file, else the data directory's key.json, else the
backup (which holds the key file unless it was made with --without-key); its
passphrase unlocks the backup (--passphrase-file, TINYPAY_PASSPHRASE, or the
terminal).

A restored node is behind: its peers and the chain know newer state. On its
next start it pays on no channel until that channel has caught up: the peer
hands back this node's newest proof (its signature checked) and the payments
since, the chain its deposits, withdrawals, closes and channels opened since.
tinypay info and tinypay channel list show what it waits for.

With --store postgres://..., the records go into the node's store in that
database, where the node must have none yet (--force does not apply); the
data directory keeps the key and the restore mark.

Examples:
   tinypayd --datadir ~/.tinypay --passphrase-file pass.txt restore node.tpbak
   tinypayd --datadir ./bob restore --force --devchain devchain.json bob.tpbak
   tinypayd --datadir ./bob2 restore --key-file bob-key.json bob-without-key.tpbak`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "force", Usage: "restore into a data directory that is not empty (its database is kept aside, not deleted)"},
			&cli.StringFlag{Name: "key-file", Usage: "the node's key file (keystore), if the backup holds none or another one is wanted"},
			&cli.Uint64Flag{Name: "chain-id", Usage: "refuse a backup of another chain", Sources: cf.sources("chain-id")},
			&cli.StringFlag{Name: "adjudicator", Usage: "refuse a backup of another adjudicator contract", Sources: cf.sources("adjudicator")},
			devFile,
			storeFlag(cf),
		},
		Action: func(ctx context.Context, c *cli.Command) error { return runRestore(c, stdin, stdout) },
	}
}

func runRestore(c *cli.Command, stdin io.Reader, stdout io.Writer) error {
	if c.Args().Len() != 1 {
		return usagef("restore: want the backup FILE; see `tinypayd restore --help`")
	}
	file := c.Args().First()
	dir := c.String("datadir")
	f, err := os.Open(file)
	if err != nil {
		return usagef("backup file: %v", err)
	}
	defer f.Close()
	h, err := backup.ReadHeader(f)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if err := checkChain(c, h); err != nil {
		return err
	}
	node, err := crypto.ParseAddress(h.Node)
	if err != nil {
		return fmt.Errorf("%s: the backup names node %q: %w", file, h.Node, err)
	}
	scfg, postgres, err := storeConfig(c, dir, node)
	if err != nil {
		return err
	}
	// The data directory: empty or missing, or --force. With PostgreSQL,
	// the data directory keeps only the key (the node, in the database,
	// must have no records: the store checks).
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	switch {
	case postgres && c.Bool("force"):
		return usagef("--force keeps a badger database aside; with --store postgres://... restore into a node that has no records in the database")
	case len(ents) > 0 && !c.Bool("force") && !postgres:
		return usagef("%s is not empty; restore into an empty directory, or pass --force (its database is then kept aside as db.replaced-TIME)", dir)
	}
	// The key: unlocks the backup, and must be the backup's node's.
	keyJSON, keySrc, err := restoreKeyFile(c, dir, h)
	if err != nil {
		return err
	}
	if a, err := keystoreAddress(keyJSON); err == nil && a.Hex() != h.Node {
		return fmt.Errorf("%w: it is of node %s, and %s is the key of %s; restore it into an empty data directory", backup.ErrWrongNode, h.Node, keySrc, a)
	}
	pass, err := passphrase(c, stdin, false)
	if err != nil {
		return err
	}
	key, err := crypto.DecryptKey(keyJSON, pass)
	if err != nil {
		return fmt.Errorf("%s: %w", keySrc, err)
	}
	plain, err := backup.NewReader(f, h, key)
	if err != nil {
		return err
	}
	if postgres {
		return restorePostgres(dir, file, h, keyJSON, scfg, plain, stdout)
	}
	// A daemon on the data directory holds its database locked. The lock
	// is taken here until the new database is in place, so none starts
	// meanwhile; the old database is not opened (it may be what is
	// broken).
	oldDB := filepath.Join(dir, dbDir)
	var hadDB bool
	if _, err := os.Stat(oldDB); err == nil {
		release, err := lockDB(oldDB)
		if errors.Is(err, errDBInUse) {
			return fmt.Errorf("tinypayd is running on %s (its database is locked); stop it first", dir)
		}
		if err != nil {
			return err
		}
		defer release()
		hadDB = true
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(dir, ".restore-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	st, err := store.Restore(store.DefaultConfig(filepath.Join(tmp, dbDir)), plain)
	if err != nil {
		return fmt.Errorf("%s: nothing was restored: %w", file, err)
	}
	// Everything is checked; now into place. The mark goes first: a crash
	// after it and before the database is in place only makes the next
	// start wait for the peers and the chain.
	if err := markRestored(dir, h, keyJSON); err != nil {
		return err
	}
	var aside string
	if hadDB {
		aside = filepath.Join(dir, "db.replaced-"+time.Now().UTC().Format("20060102T150405Z"))
		if err := os.Rename(oldDB, aside); err != nil {
			return err
		}
	}
	if err := os.Rename(filepath.Join(tmp, dbDir), oldDB); err != nil {
		return err
	}
	os.Remove(filepath.Join(dir, addrFile)) // a stale one, from a daemon killed there
	if err := syncDir(dir); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored the backup of node %s (chain %d, made %s; %d records, log seq %d) into %s\n",
		h.Node, h.ChainID, h.Created.Format(time.RFC3339), st.Records, st.LastSeq, dir)
	if aside != "" {
		fmt.Fprintf(stdout, "the database that was there is kept in %s\n", aside)
	}
	fmt.Fprintln(stdout, "on its next start the node catches up with its peers and the chain before it pays on any channel (tinypay info shows it)")
	return nil
}

// markRestored writes the data directory's restore mark, and the key file
// if it has none.
func markRestored(dir string, h backup.Header, keyJSON []byte) error {
	mark := restoredMark{Node: h.Node, ChainID: h.ChainID, Adjudicator: h.Adjudicator, BackupCreated: h.Created, Restored: time.Now().UTC()}
	raw, _ := json.MarshalIndent(mark, "", "  ")
	if err := writeFileSync(filepath.Join(dir, restoredFile), append(raw, '\n')); err != nil {
		return err
	}
	kp := filepath.Join(dir, keyFile)
	if _, err := os.Stat(kp); errors.Is(err, os.ErrNotExist) {
		return writeFileSync(kp, keyJSON)
	}
	return nil
}

// restorePostgres restores a checked backup into the node's records in
// PostgreSQL, which must have none; the node's lease keeps a tinypayd
// from running on it meanwhile. The data directory gets the restore mark
// (and the key file if it has none) once the records are in.
func restorePostgres(dir, file string, h backup.Header, keyJSON []byte, scfg store.Config, plain io.Reader, stdout io.Writer) error {
	st, err := store.Restore(scfg, plain)
	if errors.Is(err, store.ErrLeaseHeld) {
		return fmt.Errorf("tinypayd is running on node %s (it holds the node's lease in the database); stop it first: %w", h.Node, err)
	}
	if err != nil {
		return fmt.Errorf("%s: nothing was restored: %w", file, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := markRestored(dir, h, keyJSON); err != nil {
		return err
	}
	os.Remove(filepath.Join(dir, addrFile)) // a stale one, from a daemon killed there
	if err := syncDir(dir); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored the backup of node %s (chain %d, made %s; %d records, log seq %d) into its PostgreSQL store; the key is in %s\n",
		h.Node, h.ChainID, h.Created.Format(time.RFC3339), st.Records, st.LastSeq, dir)
	fmt.Fprintln(stdout, "on its next start (tinypayd run with the same --store) the node catches up with its peers and the chain before it pays on any channel (tinypay info shows it)")
	return nil
}

// checkChain refuses a backup of a chain or contract other than the one
// given (--chain-id, --adjudicator or --devchain), if any is.
func checkChain(c *cli.Command, h backup.Header) error {
	chainID, adj := c.Uint64("chain-id"), c.String("adjudicator")
	if f := c.String("devchain"); f != "" {
		info, err := devinfo.Read(f)
		if err != nil {
			return err
		}
		a, _ := info.AdjudicatorAddress()
		chainID, adj = info.ChainID, a.Hex()
	}
	if chainID != 0 && chainID != h.ChainID {
		return fmt.Errorf("the backup is of chain %d, not %d; nothing was restored", h.ChainID, chainID)
	}
	if adj != "" && !strings.EqualFold(adj, h.Adjudicator) {
		return fmt.Errorf("the backup is of adjudicator %s, not %s; nothing was restored", h.Adjudicator, adj)
	}
	return nil
}

// restoreKeyFile returns the key file that unlocks backup h, and where it
// came from.
func restoreKeyFile(c *cli.Command, dir string, h backup.Header) ([]byte, string, error) {
	if p := c.String("key-file"); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, "", usagef("--key-file: %v", err)
		}
		return b, p, nil
	}
	p := filepath.Join(dir, keyFile)
	if b, err := os.ReadFile(p); err == nil {
		return b, p, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, "", err
	}
	if len(h.Keystore) == 0 {
		return nil, "", usagef("the backup holds no key file (it was made with --without-key): give the node's key file with --key-file")
	}
	return h.Keystore, "the backup's key file", nil
}

// keystoreAddress reads the address a keystore file names (without
// decrypting it).
func keystoreAddress(b []byte) (crypto.Address, error) {
	var ks struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal(b, &ks); err != nil {
		return crypto.Address{}, err
	}
	return crypto.ParseAddress("0x" + strings.TrimPrefix(ks.Address, "0x"))
}

// readRestoredMark reads the data directory's restore mark; ok is false if
// there is none.
func readRestoredMark(dir string) (restoredMark, bool, error) {
	var m restoredMark
	raw, err := os.ReadFile(filepath.Join(dir, restoredFile))
	if errors.Is(err, os.ErrNotExist) {
		return m, false, nil
	}
	if err != nil {
		return m, false, err
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return m, false, fmt.Errorf("%s: %w", filepath.Join(dir, restoredFile), err)
	}
	return m, true, nil
}

// checkRestoredMark refuses to run a restored data directory against
// another chain or contract than the backup's.
func checkRestoredMark(m restoredMark, key crypto.Address, cs chainSettings) error {
	switch {
	case m.ChainID != cs.chainID:
		return fmt.Errorf("this data directory was restored from a backup of chain %d; run it against that chain, not %d", m.ChainID, cs.chainID)
	case !strings.EqualFold(m.Adjudicator, cs.adjudicator.Hex()):
		return fmt.Errorf("this data directory was restored from a backup of adjudicator %s; run it against that contract, not %s", m.Adjudicator, cs.adjudicator)
	case !strings.EqualFold(m.Node, key.Hex()):
		return fmt.Errorf("this data directory was restored from a backup of node %s, and its key is %s's", m.Node, key)
	}
	return nil
}

// backups makes the node's backup files for the control API's Backup call:
// a snapshot of st sealed with key, with the key file at keyPath.
func backups(st *store.Store, key *crypto.PrivateKey, keyPath string, cs chainSettings, log *slog.Logger) rpc.BackupFunc {
	return func(ctx context.Context, withoutKey bool, w io.Writer) (rpc.BackupResult, error) {
		res := rpc.BackupResult{Node: key.Address(), ChainID: cs.chainID, Adjudicator: cs.adjudicator, Created: time.Now().UTC(), WithKey: !withoutKey}
		h := backup.Header{ChainID: cs.chainID, Adjudicator: cs.adjudicator.Hex(), Created: res.Created, StoreFormat: store.FormatVersion}
		if !withoutKey {
			ks, err := os.ReadFile(keyPath)
			if err != nil {
				return res, fmt.Errorf("the node's key file: %w", err)
			}
			if a, err := keystoreAddress(ks); err != nil || a != key.Address() {
				return res, fmt.Errorf("the key file %s is not this node's key (%v); back up --without-key", keyPath, err)
			}
			h.Keystore = ks
		}
		bw, err := backup.NewWriter(w, key, h)
		if err != nil {
			return res, err
		}
		stats, err := st.Snapshot(bw)
		if err == nil {
			err = bw.Close()
		}
		if err != nil {
			log.Warn("backup failed", "err", err)
			return res, err
		}
		res.Records, res.LastSeq = stats.Records, stats.LastSeq
		log.Info("backup made", "records", stats.Records, "last_seq", stats.LastSeq, "with_key", !withoutKey)
		if err := noteBackup(ctx, st, res.Created); err != nil {
			// The backup is good; only the health page will not know it.
			log.Warn("could not note when the backup was made", "err", err)
		}
		return res, nil
	}
}

// backupCursor is the store cursor that holds when the node last made a
// backup (or, after a restore, when the restored backup was made): unix
// nanoseconds, 8 bytes big-endian. The health page shows its age.
const backupCursor = "backup:last"

// noteBackup records in st that a backup was made at t, unless a later
// one is recorded.
func noteBackup(ctx context.Context, st *store.Store, t time.Time) error {
	last, err := lastBackup(st)
	if err != nil || !t.After(last) {
		return err
	}
	b := store.NewBatch()
	if err := b.PutCursor(backupCursor, binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano()))); err != nil {
		return err
	}
	_, err = st.Commit(ctx, b)
	return err
}

// lastBackup reads when the node last made a backup (zero: never).
func lastBackup(st *store.Store) (time.Time, error) {
	v, err := st.Cursor(backupCursor)
	if errors.Is(err, store.ErrNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	if len(v) != 8 {
		return time.Time{}, fmt.Errorf("%w: cursor %s holds %d bytes, want 8", store.ErrCorrupt, backupCursor, len(v))
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC(), nil
}

// writeFileSync writes a file (mode 0600) through a temporary one, durably.
func writeFileSync(path string, data []byte) error {
	var r [6]byte
	_, _ = rand.Read(r[:])
	tmp := path + ".tmp-" + hex.EncodeToString(r[:])
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
