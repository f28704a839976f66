package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The node's lease in PostgreSQL, as this process sees it.
//
// The database says who holds the lease (tinypay_lease: holder, epoch,
// expires_at by the server's clock), and every write transaction checks
// the epoch there (fencing). That alone keeps a deposed process from
// committing; it does not keep a process that stopped hearing from the
// database (frozen by SIGSTOP or a long pause, or cut off by the network)
// from acting on what it believes after the standby took over. So the
// process keeps a lease clock of its own: the lease is valid until
// LeaseTTL minus a margin after the last renewal it sent that succeeded,
// on the local monotonic clock. Past that, without waiting for the
// database to say so, the store refuses every commit (ErrLeaseExpired) and
// tells its owner (Store.Failed). The database's expiry of the same
// renewal comes later (the server's now() is read after the renewal was
// sent), by the margin at least: the process stops before anyone can
// take over.

// leaseMarginDiv sets the margin: the local lease ends LeaseTTL/5 before
// the database's (1s of a 5s lease), room for the two clocks to run at
// rates that differ by up to a fifth.
const leaseMarginDiv = 5

// pgLease is the lease clock: when the lease ends locally, and whether it
// is lost. Safe for concurrent use.
type pgLease struct {
	ttl  time.Duration
	mu   sync.Mutex
	end  time.Time // monotonic: the local end of the lease
	err  error     // why the lease is lost; nil while held
	lost chan struct{}
}

func newPgLease(ttl time.Duration) *pgLease {
	return &pgLease{ttl: ttl, lost: make(chan struct{})}
}

// renewed notes a renewal (or the taking) of the lease that was sent at
// sent and succeeded.
func (l *pgLease) renewed(sent time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		l.end = sent.Add(l.ttl - l.ttl/leaseMarginDiv)
	}
}

// deadline returns the local end of the lease.
func (l *pgLease) deadline() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.end
}

// check returns nil while the lease is held and has not ended on the
// local clock, else why not (ErrLeaseExpired or ErrFenced), marking it
// lost.
func (l *pgLease) check() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil && !time.Now().Before(l.end) {
		l.loseLocked(fmt.Errorf("%w: no renewal succeeded for %s (the lease lasts %s, this process stops %s before the database lets another take over)",
			ErrLeaseExpired, l.ttl-l.ttl/leaseMarginDiv, l.ttl, l.ttl/leaseMarginDiv))
	}
	return l.err
}

// lose marks the lease lost for err (the first cause stays).
func (l *pgLease) lose(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.loseLocked(err)
}

func (l *pgLease) loseLocked(err error) {
	if l.err == nil {
		l.err = err
		close(l.lost)
	}
}

// failed is closed once the lease is lost; leaseErr then says why.
func (e *pgEngine) failed() <-chan struct{} { return e.lease.lost }

func (e *pgEngine) leaseErr() error {
	e.lease.mu.Lock()
	defer e.lease.mu.Unlock()
	return e.lease.err
}

// takeLease takes the node's lease if it is free or expired, raising its
// epoch. For one another process holds it waits up to LeaseWait, or with
// Standby until ctx ends (a standby also waits out errors of the
// database, which it logs).
func (e *pgEngine) takeLease(ctx context.Context) error {
	deadline := time.Now().Add(e.cfg.LeaseWait)
	poll := e.cfg.LeaseTTL / 5
	logged := ""
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("lease: gave up waiting: %w", err)
		}
		var heldBy string
		sent := time.Now()
		err := e.inTx(func(tctx context.Context, tx pgx.Tx) error {
			heldBy = ""
			var holder string
			var epoch int64
			var live bool
			err := tx.QueryRow(tctx, `SELECT holder, epoch, expires_at > now() FROM tinypay_lease WHERE node = $1`, e.cfg.Node).Scan(&holder, &epoch, &live)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				e.epoch = 1
				_, err = tx.Exec(tctx, `INSERT INTO tinypay_lease (node, holder, epoch, expires_at) VALUES ($1, $2, 1, now() + $3 * interval '1 microsecond')`,
					e.cfg.Node, e.holder, e.cfg.LeaseTTL.Microseconds())
				return err
			case err != nil:
				return err
			case live:
				heldBy = holder
				return nil
			}
			e.epoch = epoch + 1
			_, err = tx.Exec(tctx, `UPDATE tinypay_lease SET holder = $2, epoch = $3, expires_at = now() + $4 * interval '1 microsecond' WHERE node = $1`,
				e.cfg.Node, e.holder, e.epoch, e.cfg.LeaseTTL.Microseconds())
			return err
		})
		var pe *pgconn.PgError
		switch {
		case errors.As(err, &pe) && pe.Code == "23505": // two inserted the row at once
			continue
		case err != nil && e.cfg.Standby:
			e.log.Warn("standby: could not read the node's lease; trying again", "node", e.cfg.Node, "err", err)
		case err != nil:
			return fmt.Errorf("lease: %w", err)
		case heldBy == "":
			e.lease.renewed(sent)
			e.log.Info("took the node's lease", "node", e.cfg.Node, "epoch", e.epoch, "holder", e.holder)
			return nil
		case e.cfg.Standby:
			if heldBy != logged {
				e.log.Info("standby: another process holds the node's lease; waiting to take it over", "node", e.cfg.Node, "holder", heldBy, "lease", e.cfg.LeaseTTL)
				logged = heldBy
			}
		case time.Now().After(deadline):
			return fmt.Errorf("%w: %s holds node %s (tinypayd runs there, or died less than the lease's %s ago)", ErrLeaseHeld, heldBy, e.cfg.Node, e.cfg.LeaseTTL)
		}
		wait := poll
		if !e.cfg.Standby {
			wait = min(poll, time.Until(deadline)+time.Millisecond)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

// renew renews the lease every LeaseTTL/3 until close. The lease is lost
// (and renew stops) when the database says another process took it
// (ErrFenced), or when no renewal succeeded before the local end of the
// lease (ErrLeaseExpired: see pgLease); every commit fails from then on.
func (e *pgEngine) renew() {
	defer close(e.renewDone)
	t := time.NewTicker(e.cfg.LeaseTTL / 3)
	defer t.Stop()
	expiry := time.NewTimer(time.Until(e.lease.deadline()))
	defer expiry.Stop()
	for {
		select {
		case <-e.stopRenew:
			return
		case <-expiry.C:
			// The local end of the lease, unless a renewal moved it.
			if err := e.lease.check(); err != nil {
				e.log.Error("the node's lease expired: no renewal succeeded in time; this process can no longer write", "node", e.cfg.Node, "epoch", e.epoch, "err", err)
				return
			}
			expiry.Reset(time.Until(e.lease.deadline()))
			continue
		case <-t.C:
		}
		// A renewal sent after the local end could succeed (nobody took
		// the lease yet), but this process has already stopped trusting
		// it: check first.
		if err := e.lease.check(); err != nil {
			e.log.Error("the node's lease expired: no renewal succeeded in time; this process can no longer write", "node", e.cfg.Node, "epoch", e.epoch, "err", err)
			return
		}
		// A slow renewal still counts if it succeeds before the local end
		// of the lease; one that hangs is given up there, so that the end
		// is noticed on time.
		sent := time.Now()
		ctx, cancel := context.WithDeadline(context.Background(), e.lease.deadline())
		tag, err := e.pool.Exec(ctx, sqlRenew, e.cfg.Node, e.epoch, e.cfg.LeaseTTL.Microseconds())
		cancel()
		switch {
		case err != nil:
			e.log.Warn("could not renew the node's lease", "node", e.cfg.Node, "err", err, "lease ends in", time.Until(e.lease.deadline()).Round(time.Millisecond))
		case tag.RowsAffected() == 0:
			e.lease.lose(fmt.Errorf("%w: node %s has another epoch than this process's %d", ErrFenced, e.cfg.Node, e.epoch))
			e.log.Error("lost the node's lease: another process took it over; this one can no longer write", "node", e.cfg.Node, "epoch", e.epoch)
			return
		default:
			e.lease.renewed(sent)
			if !expiry.Stop() {
				select {
				case <-expiry.C:
				default:
				}
			}
			expiry.Reset(time.Until(e.lease.deadline()))
		}
	}
}
