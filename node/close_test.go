package node

import (
	"context"
	"sync"
	"testing"

	"github.com/tinypay/tinypay/channel"
)

// TestBothSidesClose: both nodes ask to close the same channel at the same
// moment. Both calls succeed once the chain paid out: the side with the
// higher address yields to the other's terms instead of both waiting for
// their terms to expire.
func TestBothSidesClose(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 1000)
	alice.pay(id, 300, "p")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, tn := range []*testNode{alice, bob} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), watchdogLimit)
			defer cancel()
			_, errs[i] = tn.n.CloseChannel(ctx, id)
		}()
	}
	guard(t, "two closes at once", wg.Wait)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("close %d: %v", i, err)
		}
	}
	for _, tn := range []*testNode{alice, bob} {
		waitFor(t, tn.name+" sees the channel settled", func() bool { return tn.channel(id).Phase == channel.Settled })
	}
	if got := w.chain.wallet(bob.key.Address()); got.Uint64() != 1_000_300 {
		t.Fatalf("bob's wallet %d, want 1000300", got.Uint64())
	}
}
