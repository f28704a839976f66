package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The lease of the PostgreSQL engine as a hot standby pair sees it: a
// process that cannot renew stops on its own clock, one that was deposed
// learns it without committing, and a standby waits for the lease as long
// as it is told to and takes the node over.

// leaseRow reads the node's lease row.
func leaseRow(t testing.TB, conn *pgx.Conn, node string) (holder string, epoch int64, live bool) {
	t.Helper()
	err := conn.QueryRow(context.Background(), "SELECT holder, epoch, expires_at > now() FROM tinypay_lease WHERE node = $1", node).Scan(&holder, &epoch, &live)
	if err != nil {
		t.Fatal(err)
	}
	return holder, epoch, live
}

// waitFailed waits up to d for s to fail and returns its error.
func waitFailed(t testing.TB, s *Store, d time.Duration) error {
	t.Helper()
	select {
	case <-s.Failed():
		return s.Err()
	case <-time.After(d):
		t.Fatalf("the store did not fail within %s", d)
		return nil
	}
}

// TestPostgresLeaseExpiresLocally: while the database does not answer the
// renewals (another session holds the lease row locked, as a stalled
// server or a cut network would), the process's own clock ends the lease
// before the database's does: the store fails with ErrLeaseExpired with
// no commit in flight, and a commit is then refused at once, without a
// round trip (one would wait for the lock), writing nothing.
func TestPostgresLeaseExpiresLocally(t *testing.T) {
	cfg := postgresEngineT.config(t)
	s := openTest(t, cfg)
	mustCommit(t, s, paymentBatch(t, "before"))
	select {
	case <-s.Failed():
		t.Fatalf("a store with its lease failed: %v", s.Err())
	default:
	}
	if err := s.Err(); err != nil {
		t.Fatalf("Err of a working store: %v", err)
	}

	ctx := context.Background()
	blocker := sqlConn(t, cfg.Postgres.URL)
	tx, err := blocker.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT 1 FROM tinypay_lease WHERE node = $1 FOR UPDATE", cfg.Postgres.Node); err != nil {
		t.Fatal(err)
	}
	err = waitFailed(t, s, 5*time.Second)
	if !errors.Is(err, ErrLeaseExpired) || !errors.Is(err, ErrFailed) {
		t.Fatalf("store error once renewals stall: %v, want ErrLeaseExpired", err)
	}
	// The database still has the lease as this process's: it stopped
	// first.
	observer := sqlConn(t, cfg.Postgres.URL)
	if _, _, live := leaseRow(t, observer, cfg.Postgres.Node); !live {
		t.Fatal("the database's lease had expired when the process noticed; the local clock must end it first")
	}
	rows := rowCount(t, observer, cfg.Postgres.Node)
	start := time.Now()
	_, err = s.Commit(ctx, paymentBatch(t, "after"))
	if !errors.Is(err, ErrLeaseExpired) {
		t.Fatalf("commit after the local end of the lease: %v, want ErrLeaseExpired", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("the refused commit took %s: it waited for the database", d)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if got := rowCount(t, observer, cfg.Postgres.Node); got != rows {
		t.Fatalf("a commit after the lease expired wrote: %d rows, had %d", got, rows)
	}
	// Not even once the database answers again: the process is done.
	if _, err := s.Commit(ctx, paymentBatch(t, "later")); !errors.Is(err, ErrLeaseExpired) {
		t.Fatalf("commit after the database answers again: %v, want ErrLeaseExpired", err)
	}
}

// TestPostgresDeposedLearnsIt: a process whose lease another took over
// learns it from its next renewal, with no commit: the store fails with
// ErrFenced, and its commits are refused.
func TestPostgresDeposedLearnsIt(t *testing.T) {
	cfg := postgresEngineT.config(t)
	s := openTest(t, cfg)
	conn := sqlConn(t, cfg.Postgres.URL)
	sqlExec(t, conn, "UPDATE tinypay_lease SET epoch = epoch + 1, holder = 'usurper' WHERE node = $1", cfg.Postgres.Node)
	err := waitFailed(t, s, 5*cfg.Postgres.LeaseTTL)
	if !errors.Is(err, ErrFenced) || !errors.Is(err, ErrFailed) {
		t.Fatalf("store error after a takeover: %v, want ErrFenced", err)
	}
	if _, err := s.Commit(context.Background(), paymentBatch(t, "after")); !errors.Is(err, ErrFenced) {
		t.Fatalf("commit of the deposed process: %v, want ErrFenced", err)
	}
	if holder, _, _ := leaseRow(t, conn, cfg.Postgres.Node); holder != "usurper" {
		t.Fatalf("the deposed process changed the lease: holder %q", holder)
	}
}

// TestPostgresStandbyOpen: a standby's OpenContext waits for the lease
// far beyond LeaseWait while the holder renews it, and takes the node
// over (a higher epoch, with what the holder committed) once the holder
// gives the lease up, or once the lease of a holder that died expires.
func TestPostgresStandbyOpen(t *testing.T) {
	cfg := postgresEngineT.config(t)
	conn := sqlConn(t, cfg.Postgres.URL)
	active := openTest(t, cfg)
	mustCommit(t, active, paymentBatch(t, "by-active"))
	_, epoch, _ := leaseRow(t, conn, cfg.Postgres.Node)

	standby := cfg
	standby.Postgres.Standby = true
	standby.Postgres.LeaseWait = 0
	type opened struct {
		s   *Store
		err error
	}
	open := func() chan opened {
		ch := make(chan opened, 1)
		go func() {
			s, err := OpenContext(context.Background(), standby)
			ch <- opened{s, err}
		}()
		return ch
	}
	got := open()
	select {
	case o := <-got:
		t.Fatalf("the standby opened while the lease is held and renewed: %v", o.err)
	case <-time.After(2 * cfg.Postgres.LeaseTTL):
	}
	mustCommit(t, active, paymentBatch(t, "by-active-later"))
	if err := active.Close(); err != nil {
		t.Fatal(err)
	}
	var s *Store
	select {
	case o := <-got:
		if o.err != nil {
			t.Fatalf("standby open after the holder gave up: %v", o.err)
		}
		s = o.s
	case <-time.After(10 * time.Second):
		t.Fatal("the standby did not take the lease the holder gave up")
	}
	if _, e, _ := leaseRow(t, conn, cfg.Postgres.Node); e != epoch+1 {
		t.Fatalf("the standby's epoch is %d, want %d", e, epoch+1)
	}
	if _, err := s.PaymentByIdempotencyKey("by-active-later"); err != nil {
		t.Fatalf("the standby does not see the holder's last commit: %v", err)
	}
	if res := mustCommit(t, s, paymentBatch(t, "by-standby")); res.Seqs[0] != 3 {
		t.Fatalf("the standby's first seq %v, want 3", res.Seqs)
	}

	// The new holder dies (its row stays, live for 2s more): the next
	// standby takes over once that lease expired, not before.
	s.Close()
	sqlExec(t, conn, "UPDATE tinypay_lease SET holder = 'dead', epoch = epoch + 1, expires_at = now() + interval '2 seconds' WHERE node = $1", cfg.Postgres.Node)
	start := time.Now()
	got = open()
	select {
	case o := <-got:
		if o.err != nil {
			t.Fatalf("standby open after the holder died: %v", o.err)
		}
		t.Cleanup(func() { o.s.Close() })
	case <-time.After(15 * time.Second):
		t.Fatal("the standby did not take the dead holder's lease")
	}
	if d := time.Since(start); d < 1500*time.Millisecond {
		t.Fatalf("the standby took a live lease after %s", d)
	}
	if holder, e, _ := leaseRow(t, conn, cfg.Postgres.Node); holder == "dead" || e != epoch+3 {
		t.Fatalf("lease after the takeover: holder %q epoch %d, want epoch %d", holder, e, epoch+3)
	}
}

// TestPostgresStandbyCanceled: a standby told to stop waiting returns
// promptly with the context's error and leaves the holder's lease alone.
func TestPostgresStandbyCanceled(t *testing.T) {
	cfg := postgresEngineT.config(t)
	conn := sqlConn(t, cfg.Postgres.URL)
	active := openTest(t, cfg)
	holder, epoch, _ := leaseRow(t, conn, cfg.Postgres.Node)
	standby := cfg
	standby.Postgres.Standby = true
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		s, err := OpenContext(ctx, standby)
		if s != nil {
			s.Close()
		}
		done <- err
	}()
	time.Sleep(cfg.Postgres.LeaseTTL)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("canceled standby open: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the canceled standby did not return")
	}
	if h, e, live := leaseRow(t, conn, cfg.Postgres.Node); h != holder || e != epoch || !live {
		t.Fatalf("lease after a canceled standby: %q %d live=%v, want %q %d live", h, e, live, holder, epoch)
	}
	mustCommit(t, active, paymentBatch(t, "still-active"))
}
