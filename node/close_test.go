package node

import (
	"context"
	"sync"
	"testing"
	"time"

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

// TestOperatorAnswerWaitsForDisk: an operation was answered once the step
// that ended it was published, not once it was durable. Settle said
// "settled" while the channel's record was still on its way to the disk,
// and a restart right after loaded the channel closed. Alice's writes are
// held from the settle on: Settle answers only once they are released, and
// the channel she loads after a restart is settled.
func TestOperatorAnswerWaitsForDisk(t *testing.T) {
	w := newNet(t)
	gate := &gateStore{}
	alice := addWrapped(t, w, "alice", 1, func(s Store) Store { gate.Store = s; return gate })
	bob := w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 1000)
	alice.pay(id, 5, "k")
	ctx, cancel := context.WithTimeout(context.Background(), watchdogLimit)
	defer cancel()
	if _, err := alice.n.ForceClose(ctx, id); err != nil {
		t.Fatal(err)
	}
	w.chain.mu.Lock()
	w.chain.time = w.chain.channels[id].oc.SettleAfter
	w.chain.mu.Unlock()
	// The close's event is applied and on disk before the disk stalls
	// (under CI load it could still be on its way, then held too).
	waitFor(t, "alice applied the force close", func() bool { return alice.channel(id).Phase == channel.Closed })
	if err := mustChannelOf(t, alice, id).stepAndWait(ctx, func() {}); err != nil {
		t.Fatal(err)
	}

	gate.arm()
	defer gate.release()
	type answer struct {
		ci  ChannelInfo
		err error
	}
	// The challenge period ends before Settle is asked: Settle's chain
	// call could otherwise run first and be refused as too early (it did
	// once under CI load). The node may then settle by itself; Settle
	// still answers only once the settled record is durable.
	w.chain.advance(1)
	done := make(chan answer, 1)
	go func() {
		ci, err := alice.n.Settle(ctx, id)
		done <- answer{ci, err}
	}()
	waitFor(t, "alice holds the settled channel in memory, its write held", func() bool {
		return alice.channel(id).Phase == channel.Settled && gate.holding() > 0
	})
	select {
	case a := <-done:
		t.Fatalf("Settle answered (%s, %v) while the record was not on disk (%d writes held)", a.ci.Phase, a.err, gate.holding())
	case <-time.After(200 * time.Millisecond):
	}
	gate.release()
	select {
	case a := <-done:
		if a.err != nil || a.ci.Phase != channel.Settled {
			t.Fatalf("Settle after the write: %s, %v", a.ci.Phase, a.err)
		}
	case <-time.After(watchdogLimit):
		t.Fatal("Settle did not answer once the write was durable")
	}
	alice.restart()
	if ph := alice.channel(id).Phase; ph != channel.Settled {
		t.Fatalf("after a restart the channel loads %s, want settled", ph)
	}
}
