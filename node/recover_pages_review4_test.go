package node

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
)

// TestReview4AnswerWhilePageWrites: as TestReview3ReconnectWhilePageWrites,
// but Bob's honest answer on the new session comes before Alice's slow write
// of proof 3's page lands. recoveredFree does not see proof 3's record on
// disk (it is in flight), so the answer writes it a second time: the store
// refuses the batch (duplicate id) and the node fails.
func TestReview4AnswerWhilePageWrites(t *testing.T) {
	alice, id, page3, page2, gate, r, req := pageWriteHeld(t)
	t.Logf("request on the new session: after %d, up to %d", req.GetAfterNonce(), req.GetUpToNonce())
	// Bob answers at once, all of proofs 2 and 3 (they fit), while the
	// page's write is still in flight.
	both := &peerv1.Recovered{ChannelId: id[:], UpToNonce: 3, Payments: append(append([]*peerv1.RecoveredPayment{}, page2.GetPayments()...), page3.GetPayments()...)}
	r.send(&peerv1.Message{Body: &peerv1.Message_Recovered{Recovered: both}})
	time.Sleep(300 * time.Millisecond) // recoveredFree ran; the answer's write queued behind the held one
	gate.release()
	time.Sleep(300 * time.Millisecond)
	if p := alice.n.failed.Load(); p != nil {
		t.Fatalf("the node failed: %v", *p)
	}
	waitFor(t, "the recovery ends", func() bool { return !strings.Contains(alice.channel(id).Behind, "recover") })
}

// TestReview4DurableRecvAheadOfHeld: Bob's Reestablish names Alice's proof
// 2 (his durableRecv when he attached: the write of proof 3 was in flight).
// Alice adopts 2 and asks for everything after 1 (up_to 0). By the time
// Bob reads, proof 3 is durable: his honest answer looked up to 3 and
// holds proofs 2 and 3. Alice ignores it as "late" (3 > 2), and every
// retry asks up_to 0 again and gets the same answer: the channel pays
// nothing until a reconnect. Now she asks up_to 2 (her end), and Bob's
// min(durableRecv, up_to) answers exactly proof 2's page.
func TestReview4DurableRecvAheadOfHeld(t *testing.T) {
	w := newNet(t)
	w.cfg = func(c *Config) { c.RequestTimeout = time.Second }
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 1000)
	alice.pay(id, 5, "a0")
	snap := alice.snapshot()
	alice.pay(id, 7, "a1")
	waitFor(t, "bob holds proof 2", func() bool { return bob.channel(id).ReceivedNonce == 2 })
	held2 := mustChannelOf(t, bob, id).state().Received
	alice.pay(id, 3, "a2")
	waitFor(t, "bob holds proof 3", func() bool { return bob.channel(id).ReceivedNonce == 3 })
	page2 := recoveredPage(bob, id, 1, 2)
	bob.stop()
	var caught atomic.Bool
	alice.restoreFrom(snap, &caught)
	r, req := reestablishAsBob(t, alice, held2, id)
	// She asks up to her end (2), not for "all": Bob answers exactly
	// what she can check.
	if req.GetAfterNonce() != 1 || req.GetUpToNonce() != 2 {
		t.Fatalf("request: after %d, up to %d; want 1, 2", req.GetAfterNonce(), req.GetUpToNonce())
	}
	r.send(&peerv1.Message{Body: &peerv1.Message_Recovered{Recovered: page2}})
	// Not "until Behind stops saying recover": the RecoverRequest can
	// reach this test before Alice's snapshot says she recovers.
	waitFor(t, "a1 is restored, in proof 2", func() bool {
		e, err := alice.st.PaymentByIdempotencyKey("a1")
		return err == nil && e.GetPayment().GetNonce() == 2
	})
	waitFor(t, "the recovery ends", func() bool { return !strings.Contains(alice.channel(id).Behind, "recover") })
}
