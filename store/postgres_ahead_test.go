package store

import (
	"errors"
	"sync"
	"testing"
)

// TestPostgresReadAheadSeesThePreviousGroup: the committer reads the next
// group's keys while the current group commits, so the read may come
// before the commit; the next group's checks must still see the current
// group's writes. Here the read is made to finish before the commit
// starts, and the next group's batch repeats what the current one wrote:
// it is refused, and writes nothing.
func TestPostgresReadAheadSeesThePreviousGroup(t *testing.T) {
	tests := []struct {
		name  string
		next  func(t *testing.T) *Batch
		check func(err error) bool
	}{
		// The same payment (idempotency key and id) once more.
		{"duplicate payment", func(t *testing.T) *Batch { return paymentBatch(t, "paid") }, func(err error) bool {
			var dup *DuplicateError
			return errors.As(err, &dup) && dup.Seq == 2
		}},
		// A proof older than the one just committed (nonce 5).
		{"stale proof", func(t *testing.T) *Batch {
			b := NewBatch()
			if err := b.PutProof(0, testProof(1, 4)); err != nil {
				t.Fatal(err)
			}
			return b
		}, func(err error) bool { return errors.Is(err, ErrStaleProof) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := postgresEngineT.config(t)
			cfg.MaxBatch = 1 // one batch a group
			release := make(chan struct{})
			var s *Store
			commits, readAheads := 0, 0
			cfg.testHookCommit = func() error {
				commits++
				if commits == 1 { // "first": hold it while the others queue
					<-release
				}
				if a := s.eng.(*pgEngine).ahead; a != nil {
					readAheads++
					<-a.done // the next group's read comes before this commit
				}
				return nil
			}
			s = openTest(t, cfg)
			var once sync.Once
			unhold := func() { once.Do(func() { close(release) }) }
			t.Cleanup(unhold) // before the store's Close: a failed test does not hang it
			commit := func(b *Batch) chan error {
				done := make(chan error, 1)
				if err := s.CommitAsync(b, func(_ Result, err error) { done <- err }); err != nil {
					t.Fatal(err)
				}
				return done
			}
			first := commit(paymentBatch(t, "first"))
			waitFor(t, func() bool { s.mu.Lock(); defer s.mu.Unlock(); return len(s.queue) == 0 })
			paid := paymentBatch(t, "paid")
			if err := paid.PutProof(0, testProof(1, 5)); err != nil {
				t.Fatal(err)
			}
			paidDone := commit(paid)
			nextDone := commit(tt.next(t))
			unhold()

			if err := <-first; err != nil {
				t.Fatalf("first: %v", err)
			}
			if err := <-paidDone; err != nil {
				t.Fatalf("paid: %v", err)
			}
			if err := <-nextDone; !tt.check(err) {
				t.Fatalf("the next group's batch: %v", err)
			}
			if commits != 2 || readAheads == 0 {
				t.Fatalf("%d commits (want 2: the refused batch writes nothing), %d read ahead (want some)", commits, readAheads)
			}
			if e, err := s.PaymentByIdempotencyKey("paid"); err != nil || e.GetSeq() != 2 {
				t.Fatalf("the payment: %v, %v; want seq 2", e, err)
			}
			if p, err := s.Proof([32]byte(fill(1, 32)), 0); err != nil || p.GetNonce() != 5 {
				t.Fatalf("the proof: %v, %v; want nonce 5", p, err)
			}
			if last := s.LastSeq(); last != 2 {
				t.Fatalf("last seq %d, want 2", last)
			}
		})
	}
}
