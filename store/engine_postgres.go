package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgresConfig configures the PostgreSQL engine. Its SQL stays within
// what CockroachDB and YugabyteDB accept too (no advisory locks, no
// extensions, no LISTEN/NOTIFY, INSERT ... ON CONFLICT (key) DO UPDATE as
// the only upsert).
//
// The tables, made by versioned migrations at Open (tinypay_schema_version
// says which ran):
//
//	tinypay_kv    (node, key, value)  the store's records, key-ordered per node
//	tinypay_lease (node, holder, epoch, expires_at)
//
// One process at a time writes a node's records: it holds the node's
// lease row, renewed every LeaseTTL/3, and every write transaction checks
// (by updating the row) that the epoch is still the one it took. A process
// that takes over an expired lease raises the epoch, so the one it deposed
// can never commit again (fencing: ErrFenced).
type PostgresConfig struct {
	// URL is the database, as postgres://USER@HOST:PORT/DB?sslmode=...
	// or libpq's key=value form; the password may come from PGPASSWORD or
	// ~/.pgpass instead of the URL.
	URL string
	// Node names the node whose records this store holds (its address):
	// several nodes may share one database, each apart from the others.
	// 1 to 64 letters, digits, '.', '_' or '-'.
	Node string
	// Holder names this process in the lease row, for operators; empty
	// means host/pid/random.
	Holder string
	// MaxConns bounds the connections the store opens (reads, the
	// committer and the lease share them).
	MaxConns int32
	// MaxTxnBytes bounds the keys and values of one write transaction; a
	// group commit larger than that is split in several, and a single
	// batch larger fails with ErrBatchTooLarge.
	MaxTxnBytes int
	// LeaseTTL is how long the lease lasts unless renewed: how long after
	// this process dies another may take the node over.
	LeaseTTL time.Duration
	// LeaseWait is how long Open waits for a lease another process holds
	// (one that died less than LeaseTTL ago) before ErrLeaseHeld.
	LeaseWait time.Duration
	// Standby makes Open wait for the lease as long as its context lasts
	// (OpenContext), instead of LeaseWait: a hot standby, which takes the
	// node over once the process holding it dies or gives it up.
	Standby bool
	// Timeout bounds each round trip to the database; a commit that takes
	// longer fails the store (whether it is durable is unknown).
	Timeout time.Duration
}

// DefaultPostgresOptions returns the PostgreSQL engine's defaults (URL
// and Node empty): 8 connections, transactions of up to 16 MiB, a lease of
// 5s that Open waits for up to 6s (the rest of a dead process's lease),
// 30s per round trip.
func DefaultPostgresOptions() PostgresConfig {
	return PostgresConfig{
		MaxConns:    8,
		MaxTxnBytes: 16 << 20,
		LeaseTTL:    5 * time.Second,
		LeaseWait:   6 * time.Second,
		Timeout:     30 * time.Second,
	}
}

var nodeName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func (p PostgresConfig) validate() error {
	var errs []error
	if !nodeName.MatchString(p.Node) {
		errs = append(errs, fmt.Errorf("store config: Postgres.Node %q is not 1 to 64 letters, digits, '.', '_' or '-'", p.Node))
	}
	if _, err := pgxpool.ParseConfig(p.URL); err != nil {
		errs = append(errs, fmt.Errorf("store config: Postgres.URL: %v", redactErr(err)))
	}
	if p.MaxConns < 2 || p.MaxConns > 100 {
		errs = append(errs, fmt.Errorf("store config: Postgres.MaxConns is %d, want 2 to 100", p.MaxConns))
	}
	if p.MaxTxnBytes < 2*MaxRecordSize || p.MaxTxnBytes > 1<<30 {
		errs = append(errs, fmt.Errorf("store config: Postgres.MaxTxnBytes is %d, want %d to %d", p.MaxTxnBytes, 2*MaxRecordSize, 1<<30))
	}
	if p.LeaseTTL < 100*time.Millisecond || p.LeaseTTL > time.Hour {
		errs = append(errs, fmt.Errorf("store config: Postgres.LeaseTTL is %s, want 100ms to 1h", p.LeaseTTL))
	}
	if p.LeaseWait < 0 || p.LeaseWait > time.Hour {
		errs = append(errs, fmt.Errorf("store config: Postgres.LeaseWait is %s, want 0 to 1h", p.LeaseWait))
	}
	if p.Timeout < 100*time.Millisecond || p.Timeout > time.Hour {
		errs = append(errs, fmt.Errorf("store config: Postgres.Timeout is %s, want 100ms to 1h", p.Timeout))
	}
	return errors.Join(errs...)
}

// redactErr is a URL parse error without the URL it quotes (which may
// hold a password pgx's own redaction misses).
func redactErr(err error) error {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		msg := err.Error()
		if i := strings.Index(msg, "`: "); i >= 0 {
			msg = msg[i+3:]
		}
		return fmt.Errorf("cannot parse the URL: %s", msg)
	}
	return err
}

// where names the database and node for messages, without a password or
// the query.
func (p PostgresConfig) where() string {
	u, err := url.Parse(p.URL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return fmt.Sprintf("PostgreSQL database (node %s)", p.Node)
	}
	user := ""
	if u.User != nil {
		user = u.User.Username() + "@"
	}
	return fmt.Sprintf("%s://%s%s%s (node %s)", u.Scheme, user, u.Host, u.Path, p.Node)
}

// migrations are the schema's versions, in order: migration i+1 brings
// the schema from version i to i+1. Never change one that shipped; add
// another.
var migrations = [][]string{
	// 1: the records and the lease.
	{
		`CREATE TABLE tinypay_kv (
			node  TEXT  NOT NULL,
			key   BYTEA NOT NULL,
			value BYTEA NOT NULL,
			PRIMARY KEY (node, key)
		)`,
		`CREATE TABLE tinypay_lease (
			node       TEXT        NOT NULL PRIMARY KEY,
			holder     TEXT        NOT NULL,
			epoch      BIGINT      NOT NULL,
			expires_at TIMESTAMPTZ NOT NULL
		)`,
	},
}

// SchemaVersion returns the version of the PostgreSQL schema this package
// migrates to and reads.
func SchemaVersion() int { return len(migrations) }

// The statements of the engine.
const (
	sqlGet = `SELECT value FROM tinypay_kv WHERE node = $1 AND key = $2`
	// sqlGetMany looks each key up in the primary key's index, one
	// lookup per key (the LIMIT keeps the planner from making it a join).
	// Neither "key = ANY($2)" nor a plain join with unnest: before the
	// table's first ANALYZE the planner takes node = $1 for selective
	// and reads every row of the node (tens of milliseconds per 100,000
	// records, growing), filtering or hashing them.
	sqlGetMany = `SELECT k.key, v.value FROM unnest($2::bytea[]) AS k (key)
		CROSS JOIN LATERAL (SELECT value FROM tinypay_kv WHERE node = $1 AND key = k.key LIMIT 1) AS v`
	sqlScanAsc    = `SELECT key, value FROM tinypay_kv WHERE node = $1 AND key >= $2 ORDER BY key LIMIT $3`
	sqlScanAscTo  = `SELECT key, value FROM tinypay_kv WHERE node = $1 AND key >= $2 AND key < $4 ORDER BY key LIMIT $3`
	sqlScanDesc   = `SELECT key, value FROM tinypay_kv WHERE node = $1 AND key >= $2 ORDER BY key DESC LIMIT $3`
	sqlScanDescTo = `SELECT key, value FROM tinypay_kv WHERE node = $1 AND key >= $2 AND key < $4 ORDER BY key DESC LIMIT $3`
	// The writes happen only while the lease has this process's epoch ($4
	// or $3); see sqlFence.
	sqlUpsert = `INSERT INTO tinypay_kv (node, key, value)
		SELECT $1, k, v FROM unnest($2::bytea[], $3::bytea[]) AS t (k, v)
		WHERE EXISTS (` + sqlLeased + `$4)
		ON CONFLICT (node, key) DO UPDATE SET value = excluded.value`
	sqlDelete    = `DELETE FROM tinypay_kv WHERE node = $1 AND key = ANY($2::bytea[]) AND EXISTS (` + sqlLeased + `$3)`
	sqlDeleteAll = `DELETE FROM tinypay_kv WHERE node = $1 AND EXISTS (` + sqlLeased + `$2)`
	sqlLeased    = `SELECT 1 FROM tinypay_lease WHERE node = $1 AND epoch = `
	// sqlFence is every write transaction's first statement: it updates
	// (so that a concurrent takeover conflicts with it) the lease row only
	// if it still has this process's epoch.
	sqlFence   = `UPDATE tinypay_lease SET epoch = epoch WHERE node = $1 AND epoch = $2`
	sqlRenew   = `UPDATE tinypay_lease SET expires_at = now() + $3 * interval '1 microsecond' WHERE node = $1 AND epoch = $2`
	sqlRelease = `UPDATE tinypay_lease SET expires_at = now() WHERE node = $1 AND epoch = $2`
)

// Bounds of the engine's own.
const (
	pgPage       = 256   // rows per page of a scan
	pgMaxRetries = 30    // attempts of a transaction that keeps failing serialization
	pgKeysPerGet = 10000 // keys per prefetch query
)

// pgEngine keeps the store in PostgreSQL (see PostgresConfig).
type pgEngine struct {
	pool   *pgxpool.Pool
	cfg    PostgresConfig
	holder string
	epoch  int64 // the lease's epoch this process took
	lease  *pgLease
	log    *slog.Logger

	nRetries  atomic.Uint64
	gets      pgGets   // getOne's queue
	ahead     *pgAhead // the committer's read-ahead, if one is outstanding
	stopRenew chan struct{}
	renewDone chan struct{}
	closeOnce sync.Once
}

var _ engine = (*pgEngine)(nil)

// openPostgres connects, migrates the schema, and takes the node's lease.
// For a restore, the node must have no record.
func openPostgres(ctx context.Context, cfg Config, l *slog.Logger, restoring bool) (*pgEngine, error) {
	p := cfg.Postgres
	where := cfg.where()
	pcfg, err := pgxpool.ParseConfig(p.URL)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %v", where, redactErr(err))
	}
	pcfg.MaxConns = p.MaxConns
	pcfg.MinConns = 0
	if !cfg.SyncWrites {
		pcfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	}
	pcfg.ConnConfig.RuntimeParams["application_name"] = "tinypayd"
	// Unnamed statements, planned with their parameters every time: a
	// cached generic plan of a range or ANY query over one node's keys
	// does not know how few rows it reads, and scans the table.
	pcfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
	holder := p.Holder
	if holder == "" {
		host, _ := os.Hostname()
		var r [4]byte
		_, _ = rand.Read(r[:])
		holder = fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(r[:]))
	}
	cctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(cctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", where, err)
	}
	e := &pgEngine{pool: pool, cfg: p, holder: holder, lease: newPgLease(p.LeaseTTL), log: l}
	if err := e.migrate(); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: %s: schema: %w", where, err)
	}
	if err := e.takeLease(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: %s: %w", where, err)
	}
	e.stopRenew, e.renewDone = make(chan struct{}), make(chan struct{})
	go e.renew()
	if restoring {
		var k []byte
		err := e.view(func(r reader) error {
			var err error
			k, _, err = first(r, nil, nil, false)
			return err
		})
		if err == nil && k != nil {
			err = fmt.Errorf("node %s has records already; restore into a node with none", p.Node)
		}
		if err != nil {
			_ = e.close()
			return nil, fmt.Errorf("store: restore into %s: %w", where, err)
		}
	}
	return e, nil
}

// ctx bounds one round trip.
func (e *pgEngine) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), e.cfg.Timeout)
}

// retryable reports whether err is a serialization failure or deadlock:
// the transaction was rolled back and may be run again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// backoff sleeps before attempt n (from 1) of a retried transaction.
func backoff(n int) {
	d := time.Millisecond << min(n, 7) // up to 128ms
	var r [1]byte
	_, _ = rand.Read(r[:])
	time.Sleep(d/2 + d*time.Duration(r[0])/512)
}

// inTx runs fn in a SERIALIZABLE transaction on one connection, again
// while it fails on serialization; fn may run several times.
func (e *pgEngine) inTx(fn func(ctx context.Context, tx pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := func() error {
			ctx, cancel := e.ctx()
			defer cancel()
			return pgx.BeginTxFunc(ctx, e.pool, pgx.TxOptions{IsoLevel: pgx.Serializable}, func(tx pgx.Tx) error { return fn(ctx, tx) })
		}()
		if !retryable(err) || attempt >= pgMaxRetries {
			return err
		}
		e.nRetries.Add(1)
		backoff(attempt)
	}
}

// migrate brings the schema to SchemaVersion, in one transaction; two
// processes that start at once both wait for it.
func (e *pgEngine) migrate() error {
	for attempt := 1; ; attempt++ {
		err := e.inTx(func(ctx context.Context, tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS tinypay_schema_version (
				version    INT         NOT NULL PRIMARY KEY,
				applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
			)`); err != nil {
				return err
			}
			var cur int
			if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM tinypay_schema_version`).Scan(&cur); err != nil {
				return err
			}
			if cur > len(migrations) {
				return fmt.Errorf("the database has schema version %d, this binary knows %d: run a newer tinypayd", cur, len(migrations))
			}
			for v := cur + 1; v <= len(migrations); v++ {
				for _, stmt := range migrations[v-1] {
					if _, err := tx.Exec(ctx, stmt); err != nil {
						return fmt.Errorf("migration %d: %w", v, err)
					}
				}
				if _, err := tx.Exec(ctx, `INSERT INTO tinypay_schema_version (version) VALUES ($1)`, v); err != nil {
					return err
				}
				e.log.Info("migrated the PostgreSQL schema", "version", v)
			}
			return nil
		})
		// Two processes creating the version table at once: the loser sees
		// a unique violation in PostgreSQL's catalog, or that the table or
		// its row type exists (42710: seen in CI), and tries again.
		var pe *pgconn.PgError
		if errors.As(err, &pe) && (pe.Code == "23505" || pe.Code == "42P07" || pe.Code == "42710") && attempt < 5 {
			backoff(attempt)
			continue
		}
		return err
	}
}

func (e *pgEngine) retries() uint64 { return e.nRetries.Load() }

// close stops renewing the lease, gives it up (another process may take
// the node at once) and closes the connections.
func (e *pgEngine) close() error {
	var err error
	e.closeOnce.Do(func() {
		close(e.stopRenew)
		<-e.renewDone
		ctx, cancel := e.ctx()
		defer cancel()
		if _, rerr := e.pool.Exec(ctx, sqlRelease, e.cfg.Node, e.epoch); rerr != nil {
			err = fmt.Errorf("release the lease: %w", rerr)
		}
		e.pool.Close()
	})
	return err
}

// destroy deletes the node's records (under the lease) and closes.
func (e *pgEngine) destroy() error {
	err := e.write(func(b *pgx.Batch) { b.Queue(sqlDeleteAll, e.cfg.Node, e.epoch) })
	return errors.Join(err, e.close())
}

// write runs the statements fn queues in one SERIALIZABLE transaction
// that first checks the lease (ErrFenced if this process lost it), in one
// round trip, again while it fails on serialization. The statements must
// write only while the lease holds (sqlLeased).
func (e *pgEngine) write(fn func(b *pgx.Batch)) error {
	for attempt := 1; ; attempt++ {
		err := e.writeOnce(fn)
		if !retryable(err) || attempt >= pgMaxRetries {
			return err
		}
		e.nRetries.Add(1)
		backoff(attempt)
	}
}

func (e *pgEngine) writeOnce(fn func(b *pgx.Batch)) (err error) {
	if err := e.lease.check(); err != nil {
		return err
	}
	ctx, cancel := e.ctx()
	defer cancel()
	conn, err := e.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// A connection left in a transaction (a failure below) is closed by
	// the pool on release.
	defer conn.Release()
	// One round trip: BEGIN, the fence, the writes, COMMIT. The writes
	// are conditional on the lease (sqlLeased), so that a fenced
	// transaction commits nothing.
	b := &pgx.Batch{}
	b.Queue("BEGIN ISOLATION LEVEL SERIALIZABLE")
	b.Queue(sqlFence, e.cfg.Node, e.epoch)
	fn(b)
	b.Queue("COMMIT")
	br := conn.SendBatch(ctx, b)
	var fenced bool
	var tag pgconn.CommandTag
	for i := 0; i < b.Len() && err == nil; i++ {
		tag, err = br.Exec()
		if i == 1 && err == nil {
			fenced = tag.RowsAffected() != 1
		}
	}
	if err = errors.Join(err, br.Close()); err != nil {
		// The transaction did not commit: a statement failed, and those
		// after it (COMMIT too) were skipped.
		rctx, rcancel := e.ctx()
		_, _ = conn.Exec(rctx, "ROLLBACK")
		rcancel()
		return err
	}
	if tag.String() != "COMMIT" {
		return fmt.Errorf("COMMIT answered %q", tag.String())
	}
	if fenced {
		return fmt.Errorf("%w: node %s has another epoch than this process's %d", ErrFenced, e.cfg.Node, e.epoch)
	}
	return nil
}

// getOne reads k with the reads other callers ask for meanwhile (see
// pgGets).
func (e *pgEngine) getOne(k []byte) ([]byte, error) { return e.gets.get(e, k) }

// getOneNow reads k in a statement of its own.
func (e *pgEngine) getOneNow(k []byte) ([]byte, error) {
	ctx, cancel := e.ctx()
	defer cancel()
	var v []byte
	err := e.pool.QueryRow(ctx, sqlGet, e.cfg.Node, k).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: get %s: %w", keyString(k), err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

func (e *pgEngine) view(fn func(r reader) error) error {
	r := e.reader()
	err := fn(r)
	if eerr := r.end(err); err == nil {
		err = eerr
	}
	return err
}

// reader returns a reader whose first query begins a REPEATABLE READ,
// READ ONLY transaction on a connection of its own; end ends it.
func (e *pgEngine) reader() *pgReader { return &pgReader{e: e} }

type pgReader struct {
	e    *pgEngine
	conn *pgxpool.Conn
}

// end commits the reader's transaction, if it began one, and gives the
// connection back.
func (r *pgReader) end(err error) error {
	if r.conn == nil {
		return nil
	}
	defer r.conn.Release()
	ctx, cancel := r.e.ctx()
	defer cancel()
	stmt := "COMMIT"
	if err != nil {
		stmt = "ROLLBACK"
	}
	_, cerr := r.conn.Exec(ctx, stmt)
	return cerr
}

// query runs sql and calls each for every row, on the reader's
// transaction (begun with the first query, in the same round trip). each
// must not query.
func (r *pgReader) query(each func(rows pgx.Rows) error, sql string, args ...any) error {
	ctx, cancel := r.e.ctx()
	defer cancel()
	var rows pgx.Rows
	var br pgx.BatchResults
	if r.conn == nil {
		conn, err := r.e.pool.Acquire(ctx)
		if err != nil {
			return err
		}
		r.conn = conn
		b := &pgx.Batch{}
		b.Queue("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
		b.Queue(sql, args...)
		br = conn.SendBatch(ctx, b)
		if _, err := br.Exec(); err != nil {
			return errors.Join(err, br.Close())
		}
		rows, err = br.Query()
		if err != nil {
			return errors.Join(err, br.Close())
		}
	} else {
		var err error
		if rows, err = r.conn.Query(ctx, sql, args...); err != nil {
			return err
		}
	}
	var err error
	for rows.Next() {
		if err = each(rows); err != nil {
			break
		}
	}
	rows.Close()
	err = errors.Join(err, rows.Err())
	if br != nil {
		err = errors.Join(err, br.Close())
	}
	return err
}

// getMany reads keys in the reader's transaction, pgKeysPerGet a
// statement (multiGetter).
func (r *pgReader) getMany(keys [][]byte) (map[string][]byte, error) {
	found := make(map[string][]byte, len(keys))
	for len(keys) > 0 {
		chunk := keys[:min(len(keys), pgKeysPerGet)]
		keys = keys[len(chunk):]
		err := r.query(func(rows pgx.Rows) error {
			var k, v []byte
			if err := rows.Scan(&k, &v); err != nil {
				return err
			}
			if v == nil {
				v = []byte{}
			}
			found[string(k)] = v
			return nil
		}, sqlGetMany, r.e.cfg.Node, chunk)
		if err != nil {
			return nil, err
		}
	}
	return found, nil
}

func (r *pgReader) get(k []byte) ([]byte, error) {
	var v []byte
	found := false
	err := r.query(func(rows pgx.Rows) error { found = true; return rows.Scan(&v) }, sqlGet, r.e.cfg.Node, k)
	if err != nil {
		return nil, fmt.Errorf("store: get %s: %w", keyString(k), err)
	}
	if !found {
		return nil, ErrNotFound
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

func (r *pgReader) scan(lo, hi []byte, reverse bool, limitHint int, fn func(k, v []byte) error) error {
	page := pgPage
	if limitHint > 0 {
		page = min(limitHint, pgPage)
	}
	if lo == nil {
		lo = []byte{}
	}
	for {
		sql, args := sqlScanAsc, []any{r.e.cfg.Node, lo, page}
		switch {
		case reverse && hi != nil:
			sql, args = sqlScanDescTo, append(args, hi)
		case reverse:
			sql = sqlScanDesc
		case hi != nil:
			sql, args = sqlScanAscTo, append(args, hi)
		}
		var got []kv
		err := r.query(func(rows pgx.Rows) error {
			var e kv
			if err := rows.Scan(&e.k, &e.v); err != nil {
				return err
			}
			got = append(got, e)
			return nil
		}, sql, args...)
		if err != nil {
			return fmt.Errorf("store: scan from %s: %w", keyString(lo), err)
		}
		for _, e := range got {
			if err := fn(e.k, e.v); err != nil {
				if errors.Is(err, errStopScan) {
					return nil
				}
				return err
			}
		}
		if len(got) < page {
			return nil
		}
		last := got[len(got)-1].k
		if reverse {
			hi = last
		} else {
			lo = keyAfter(last)
		}
	}
}

// pgTxn buffers a write transaction in memory and writes it at commit in
// one round trip (see pgEngine.write). Its reads, before commit, are of
// committed data outside any transaction: only the lease holder writes the
// node's records, so they are what its transaction would read, and if
// another process took the lease meanwhile the commit fails (ErrFenced).
type pgTxn struct {
	e      *pgEngine
	writes map[string]pgWrite // the overlay: key -> value or delete
	bytes  int
	cache  map[string][]byte // prefetched: key -> value, nil if absent
}

type pgWrite struct {
	v   []byte
	del bool
}

// pgWriteOverhead is what a write counts against MaxTxnBytes beyond its
// key and value.
const pgWriteOverhead = 16

func (e *pgEngine) begin() (writeTxn, error) {
	return &pgTxn{e: e, writes: make(map[string]pgWrite)}, nil
}

func (t *pgTxn) get(k []byte) ([]byte, error) {
	if w, ok := t.writes[string(k)]; ok {
		if w.del {
			return nil, ErrNotFound
		}
		return append([]byte(nil), w.v...), nil
	}
	if v, ok := t.cache[string(k)]; ok {
		if v == nil {
			return nil, ErrNotFound
		}
		return append([]byte(nil), v...), nil
	}
	var v []byte
	err := t.e.view(func(r reader) error {
		var err error
		v, err = r.get(k)
		return err
	})
	return v, err
}

func (t *pgTxn) scan(lo, hi []byte, reverse bool, limitHint int, fn func(k, v []byte) error) error {
	if len(t.writes) > 0 {
		// Nothing scans a transaction with writes of its own.
		return errors.New("store: scan of a PostgreSQL write transaction with writes")
	}
	return t.e.view(func(r reader) error { return r.scan(lo, hi, reverse, limitHint, fn) })
}

func (t *pgTxn) prefetch(keys [][]byte) error {
	if a := t.e.ahead; a != nil {
		// Read already, while the transaction before this one committed
		// (see readAhead); any key it did not read is read below.
		t.e.ahead = nil
		cache, err := a.take()
		if err != nil {
			return err
		}
		t.cache = cache
	}
	if t.cache == nil {
		t.cache = make(map[string][]byte, len(keys))
	}
	var want [][]byte
	for _, k := range keys {
		if _, ok := t.cache[string(k)]; !ok {
			t.cache[string(k)] = nil
			want = append(want, k)
		}
	}
	for len(want) > 0 {
		n := min(len(want), pgKeysPerGet)
		// One statement, its own snapshot: no transaction around it.
		found, err := t.e.getMany(want[:n])
		for k, v := range found {
			t.cache[k] = v
		}
		if err != nil {
			t.cache = nil
			return err
		}
		want = want[n:]
	}
	return nil
}

func (t *pgTxn) put(k []byte, w pgWrite) error {
	n := t.bytes + len(k) + len(w.v) + pgWriteOverhead
	if old, ok := t.writes[string(k)]; ok {
		n -= len(k) + len(old.v) + pgWriteOverhead
	}
	if n > t.e.cfg.MaxTxnBytes {
		return errTxnTooBig
	}
	t.writes[string(k)], t.bytes = w, n
	return nil
}

func (t *pgTxn) set(k, v []byte) error { return t.put(k, pgWrite{v: v}) }

func (t *pgTxn) delete(k []byte) error { return t.put(k, pgWrite{del: true}) }

func (t *pgTxn) commit() error {
	var keys, vals, dels [][]byte
	for k, w := range t.writes {
		switch {
		case w.del:
			dels = append(dels, []byte(k))
		case w.v == nil: // an empty value, not NULL
			keys, vals = append(keys, []byte(k)), append(vals, []byte{})
		default:
			keys, vals = append(keys, []byte(k)), append(vals, w.v)
		}
	}
	if len(keys)+len(dels) == 0 {
		return nil
	}
	err := t.e.write(func(b *pgx.Batch) {
		if len(keys) > 0 {
			b.Queue(sqlUpsert, t.e.cfg.Node, keys, vals, t.e.epoch)
		}
		if len(dels) > 0 {
			b.Queue(sqlDelete, t.e.cfg.Node, dels, t.e.epoch)
		}
	})
	if a := t.e.ahead; err == nil && a != nil {
		a.committed(t.writes)
	}
	return err
}

func (t *pgTxn) discard() {}
