package store

import "fmt"

// leaser is an engine with a lease that it can lose (PostgreSQL): failed
// is closed once it is lost, and leaseErr then says why.
type leaser interface {
	failed() <-chan struct{}
	leaseErr() error
}

// watchLease fails the store once the engine lost its lease, so that the
// owner learns it (Failed) even when nothing commits, and every commit
// from then on is refused.
func (s *Store) watchLease(le leaser) {
	select {
	case <-le.failed():
	case <-s.stopped:
		return
	}
	cause := le.leaseErr()
	s.log.Error("the store lost the node's lease; refusing further commits", "err", cause)
	s.setFailed(fmt.Errorf("%w: %w", ErrFailed, cause))
}

// Failed returns a channel that is closed once the store has failed: a
// write failed (whether it is durable is unknown), or, with PostgreSQL,
// this process lost the node's lease (ErrFenced: another process took it
// over; ErrLeaseExpired: it could not renew it in time). Every commit
// fails from then on; Err says why. The owner should stop: a process that
// lost the lease must not acknowledge anything more.
func (s *Store) Failed() <-chan struct{} { return s.failCh }

// Err returns nil until the store has failed (see Failed), then the error
// every commit gets, which wraps ErrFailed and the cause.
func (s *Store) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}
