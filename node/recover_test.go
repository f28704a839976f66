package node

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinypay/tinypay/store"
)

// lossyStore fails every write once armed, as a disk that died would: the
// node has sent a proof (together with its write) that never lands here.
type lossyStore struct {
	Store
	armed atomic.Bool
}

func (l *lossyStore) CommitAsync(b *store.Batch, done func(store.Result, error)) error {
	if l.armed.Load() {
		go done(store.Result{}, errors.New("test: the disk is gone"))
		return nil
	}
	return l.Store.CommitAsync(b, done)
}

// TestCrashAfterSendRetryPaysOnce: Alice's proof reaches Bob but her own
// write of it fails; she restarts without it. On reconnect she adopts her
// proof from Bob and gets back the payment records it covers, idempotency
// keys included, before anything else flows: the client's retry with the
// same key returns the payment instead of paying again.
func TestCrashAfterSendRetryPaysOnce(t *testing.T) {
	w := newNet(t)
	var lossy *lossyStore
	alice := w.add("alice", 1, withStore(func(s Store) Store {
		lossy = &lossyStore{Store: s}
		return lossy
	}))
	bob := w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 1000)
	alice.pay(id, 5, "before")

	lossy.armed.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 5e9)
	defer cancel()
	_, err := alice.n.Pay(ctx, PayRequest{Channel: id, Amount: *u256(7), Key: "lost", ItemID: "song"})
	if err == nil {
		t.Fatal("payment succeeded on a failed disk")
	}
	waitFor(t, "bob holds the lost payment", func() bool { return u64(bob.channel(id).Received) == 12 })
	// Checked on disk before the restart: after it, alice may recover the
	// 7 from bob before the test looks (she redials at once).
	rec, err := alice.st.Proof(id, uint32(mustChannelOf(t, alice, id).self))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := parseAmount("transferred", rec.GetTransferred()); got.Uint64() != 5 {
		t.Fatalf("alice's disk holds %d sent, want 5 (the 7 was lost)", got.Uint64())
	}

	alice.wrap = nil
	alice.restart()
	// The retry waits for reestablish and recovery, then answers; one that
	// comes while the recovery is under way (alice redials at once when she
	// starts) is told she is behind, to retry with the same key.
	var again PaymentInfo
	for {
		again, err = alice.n.Pay(ctx, PayRequest{Channel: id, Amount: *u256(7), Key: "lost", ItemID: "song"})
		if !errors.Is(err, ErrBehind) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	if !again.Complete || again.Nonce != 2 {
		t.Fatalf("retry: %+v", again)
	}
	if got := u64(bob.channel(id).Received); got != 12 {
		t.Fatalf("bob received %d after the retry, want 12: the retry paid again", got)
	}
	if got := u64(alice.channel(id).Sent); got != 12 {
		t.Fatalf("alice's sent is %d after recovery, want 12", got)
	}
	// The restored record is in alice's log, with its key and item.
	e, err := alice.st.PaymentByIdempotencyKey("lost")
	if err != nil {
		t.Fatal(err)
	}
	if p := e.GetPayment(); p.GetItemId() != "song" || p.GetNonce() != 2 {
		t.Fatalf("restored record %v", p)
	}
	// A mismatched retry of that key is refused; a new payment flows.
	if _, err := alice.n.Pay(context.Background(), PayRequest{Channel: id, Amount: *u256(8), Key: "lost"}); !errors.Is(err, ErrIdempotency) {
		t.Fatalf("reused key with another amount: %v", err)
	}
	alice.pay(id, 1, "after")
	waitFor(t, "bob holds 13", func() bool { return u64(bob.channel(id).Received) == 13 })
}
