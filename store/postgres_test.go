package store

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
	"github.com/tinypay/tinypay/store/pgtest"
)

// The PostgreSQL engine's own tests: what the conformance suite (every
// test run with forEachEngine) cannot see from the store's API.

// sqlConn connects to the database at url as the tests' superuser.
func sqlConn(t testing.TB, url string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	return conn
}

func sqlExec(t testing.TB, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// rowCount returns how many records the node has in the table.
func rowCount(t testing.TB, conn *pgx.Conn, node string) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM tinypay_kv WHERE node = $1", node).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPostgresBadRows puts rows into the table with SQL, as a broken or
// hostile writer could: every read of them is ErrCorrupt naming the key,
// never a panic, and Verify finds each.
func TestPostgresBadRows(t *testing.T) {
	id := chanID(1)
	tests := []struct {
		name  string
		key   []byte
		value []byte
		read  func(*Store) error // nil: Verify only
		want  string
	}{
		// An empty key (the column allows it; the store never writes one).
		{"empty key", []byte{}, []byte("x"), nil, "empty key"},
		// A key of a prefix no binary wrote.
		{"unknown prefix", []byte{0xee, 1}, []byte("x"), nil, "unknown key prefix 0xee"},
		// A channel that does not decode.
		{"channel garbage", channelKey(id), garbage, func(s *Store) error { _, err := s.Channel(id); return err }, "does not decode"},
		// An empty value where a channel belongs.
		{"channel empty", channelKey(id), []byte{}, func(s *Store) error { _, err := s.Channels(); return err }, "channel record version 0"},
		// A log entry that does not decode, read by paging.
		{"log garbage", logKey(1), garbage, func(s *Store) error { _, err := s.Log(0, 10); return err }, "does not decode"},
		// A log entry found by a reverse page.
		{"log garbage reverse", logKey(1), garbage, func(s *Store) error { _, err := s.LogBefore(5, 10); return err }, "does not decode"},
		// An index value that is not a seq.
		{"index garbage", idemKey("k"), []byte{1}, func(s *Store) error { _, err := s.PaymentByIdempotencyKey("k"); return err }, "index value is 1 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := postgresEngineT.config(t)
			s := openTest(t, cfg)
			sqlExec(t, sqlConn(t, cfg.Postgres.URL), "INSERT INTO tinypay_kv (node, key, value) VALUES ($1, $2, $3)", cfg.Postgres.Node, tc.key, tc.value)
			reads := []func(*Store) error{(*Store).Verify}
			if tc.read != nil {
				reads = append(reads, tc.read)
			}
			for i, read := range reads {
				err := read(s)
				var ce *CorruptError
				if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
					t.Fatalf("read %d: %v, want ErrCorrupt", i, err)
				}
				if !strings.Contains(err.Error(), tc.want) || !bytes.Equal(ce.Key, tc.key) {
					t.Fatalf("read %d: %v names key %x, want %q at key %x", i, err, ce.Key, tc.want, tc.key)
				}
			}
		})
	}
}

// TestPostgresFencing: once another process raised the lease's epoch (it
// took the node over), this one's next commit is refused by the database:
// nothing of it is written, it fails with ErrFenced, and so does every
// later commit. A second process cannot open the node while the lease is
// held, and takes it once it is given up.
func TestPostgresFencing(t *testing.T) {
	cfg := postgresEngineT.config(t)
	s := openTest(t, cfg)
	mustCommit(t, s, paymentBatch(t, "before"))
	conn := sqlConn(t, cfg.Postgres.URL)

	// Held: another process waits LeaseWait and gives up.
	other := cfg
	other.Postgres.LeaseWait = 0
	if _, err := Open(other); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("second Open while the lease is held: %v, want ErrLeaseHeld", err)
	}

	// Taken over, as a process would after the lease expired.
	sqlExec(t, conn, "UPDATE tinypay_lease SET epoch = epoch + 1, holder = 'usurper' WHERE node = $1", cfg.Postgres.Node)
	rows := rowCount(t, conn, cfg.Postgres.Node)
	_, err := s.Commit(context.Background(), paymentBatch(t, "after"))
	if !errors.Is(err, ErrFenced) || !errors.Is(err, ErrFailed) {
		t.Fatalf("commit with a stale epoch: %v, want ErrFenced", err)
	}
	if got := rowCount(t, conn, cfg.Postgres.Node); got != rows {
		t.Fatalf("a fenced commit wrote: %d rows, had %d", got, rows)
	}
	if _, err := s.Commit(context.Background(), paymentBatch(t, "later")); !errors.Is(err, ErrFenced) {
		t.Fatalf("later commit: %v, want ErrFenced", err)
	}
	if _, err := s.PaymentByIdempotencyKey("after"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the fenced payment: %v, want ErrNotFound", err)
	}
	// The usurper gives the lease up (expires it); a new process takes it
	// with a higher epoch and finds what the first one committed.
	sqlExec(t, conn, "UPDATE tinypay_lease SET expires_at = now() WHERE node = $1", cfg.Postgres.Node)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openTest(t, cfg)
	var epoch int64
	if err := conn.QueryRow(context.Background(), "SELECT epoch FROM tinypay_lease WHERE node = $1", cfg.Postgres.Node).Scan(&epoch); err != nil || epoch != 3 {
		t.Fatalf("epoch after the second takeover: %d, %v; want 3", epoch, err)
	}
	if res := mustCommit(t, s2, paymentBatch(t, "after")); res.Seqs[0] != 2 {
		t.Fatalf("first commit of the new holder got seq %v, want 2", res.Seqs)
	}
}

// TestPostgresNodesApart: two nodes in one database see only their own
// records, each with its own log from seq 1, and each holds its own lease.
func TestPostgresNodesApart(t *testing.T) {
	url := pgtest.NewDatabase(t)
	a, b := pgTestConfig(url), pgTestConfig(url)
	a.Postgres.Node, b.Postgres.Node = "node-a", "node-b"
	sa, sb := openTest(t, a), openTest(t, b)
	ba := paymentBatch(t, "a1", "a2")
	if err := ba.PutChannel(testChannel(1)); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, sa, ba)
	if res := mustCommit(t, sb, paymentBatch(t, "a1")); res.Seqs[0] != 1 {
		t.Fatalf("node b's first seq %v, want 1 (the idempotency key is node a's only)", res.Seqs)
	}
	if chans, err := sb.Channels(); err != nil || len(chans) != 0 {
		t.Fatalf("node b sees channels %v, %v", chans, err)
	}
	if sa.LastSeq() != 2 || sb.LastSeq() != 1 {
		t.Fatalf("last seqs %d and %d, want 2 and 1", sa.LastSeq(), sb.LastSeq())
	}
	for _, s := range []*Store{sa, sb} {
		if err := s.Verify(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPostgresSchemaVersion: Open records the schema version it migrated
// to, two processes migrating a new database at once both succeed, and a
// database of a newer schema is refused with what to do.
func TestPostgresSchemaVersion(t *testing.T) {
	url := pgtest.NewDatabase(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := pgTestConfig(url)
			cfg.Postgres.Node = "n" + string(rune('0'+i))
			s, err := Open(cfg)
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent first opens: %v", err)
	}
	conn := sqlConn(t, url)
	var versions []int
	rows, err := conn.Query(context.Background(), "SELECT version FROM tinypay_schema_version ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	if rows.Err() != nil || len(versions) != SchemaVersion() || versions[len(versions)-1] != SchemaVersion() {
		t.Fatalf("schema versions %v, %v; want 1..%d once each", versions, rows.Err(), SchemaVersion())
	}
	sqlExec(t, conn, "INSERT INTO tinypay_schema_version (version) VALUES ($1)", SchemaVersion()+1)
	_, err = Open(pgTestConfig(url))
	if err == nil || !strings.Contains(err.Error(), "run a newer tinypayd") {
		t.Fatalf("Open of a newer schema: %v", err)
	}
}

// TestPostgresSerializationRetry makes a commit fail serialization: a
// concurrent transaction holds the lease row while the commit waits for it
// and then changes it. The engine rolls back and runs the transaction
// again; the caller sees a success, and the retry is counted.
func TestPostgresSerializationRetry(t *testing.T) {
	cfg := postgresEngineT.config(t)
	s := openTest(t, cfg)
	ctx := context.Background()
	conn := sqlConn(t, cfg.Postgres.URL)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "UPDATE tinypay_lease SET holder = holder WHERE node = $1", cfg.Postgres.Node); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Commit(ctx, paymentBatch(t, "retried"))
		done <- err
	}()
	// Wait until the commit's first statement (the lease check; not the
	// lease's renewal) waits for the row, then let it go.
	poll := sqlConn(t, cfg.Postgres.URL)
	waitFor(t, func() bool {
		var n int
		err := poll.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1", sqlFence+"%").Scan(&n)
		return err == nil && n > 0
	})
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("commit that lost a serialization race: %v", err)
	}
	if st := s.Stats(); st.Retries == 0 {
		t.Fatalf("stats %+v: no retry counted", st)
	}
	if e, err := s.PaymentByIdempotencyKey("retried"); err != nil || e.GetSeq() != 1 {
		t.Fatalf("the retried payment: %v, %v", e, err)
	}
}

// TestRestoreRefusesANodeWithRecords: Restore never writes over a node's
// records (the PostgreSQL side of TestRestoreRefusesANonEmptyDir).
func TestRestoreRefusesANodeWithRecords(t *testing.T) {
	cfg := postgresEngineT.config(t)
	s := openTest(t, cfg)
	b := paymentBatch(t, "keep")
	if err := b.PutChannel(testChannel(1)); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, s, b)
	var snap bytes.Buffer
	if _, err := openTest(t, postgresEngineT.config(t)).Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := Restore(cfg, &snap)
	if err == nil || !strings.Contains(err.Error(), "has records already") {
		t.Fatalf("restore over a node's records: %v", err)
	}
	s = openTest(t, cfg)
	if e, err := s.PaymentByIdempotencyKey("keep"); err != nil || e.GetSeq() != 1 {
		t.Fatalf("the node's payment after the refused restore: %v, %v", e, err)
	}
	if _, err := s.Channel(chanID(1)); err != nil {
		t.Fatal(err)
	}
}

// TestRestoreAcrossEngines: a badger store's snapshot restores into
// PostgreSQL, record for record (the way from one engine to the other).
func TestRestoreAcrossEngines(t *testing.T) {
	src := openTest(t, testConfig(t))
	b := paymentBatch(t, "a", "b")
	if err := errors.Join(b.PutChannel(testChannel(1)), b.PutProof(0, testProof(1, 4)), b.PutCursor("c", []byte("v"))); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, src, b)
	var snap bytes.Buffer
	st, err := src.Snapshot(&snap)
	if err != nil {
		t.Fatal(err)
	}
	cfg := postgresEngineT.config(t)
	if got, err := Restore(cfg, &snap); err != nil || got != st {
		t.Fatalf("restore: %+v, %v; snapshot %+v", got, err, st)
	}
	dst := openTest(t, cfg)
	want, have := rawKeys(t, src), rawKeys(t, dst)
	if len(want) != len(have) {
		t.Fatalf("%d keys restored, %d in the source", len(have), len(want))
	}
	for i, k := range want {
		if !bytes.Equal(k, have[i]) || !bytes.Equal(rawGet(t, src, k), rawGet(t, dst, k)) {
			t.Fatalf("record %s differs after the restore", keyString(k))
		}
	}
	if p, err := dst.Proof(chanID(1), 0); err != nil || p.GetNonce() != 4 {
		t.Fatalf("restored proof %v, %v", p, err)
	}
	e := testPayment("c")
	e.GetPayment().Direction = storev1.Direction_DIRECTION_INCOMING
	if res := mustCommit(t, dst, batchOf(t, e)); res.Seqs[0] != 3 {
		t.Fatalf("first commit after the restore got %v, want seq 3", res.Seqs)
	}
}
