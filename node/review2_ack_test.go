package node

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinypay/tinypay/channel"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
)

// Tests from a second hostile review of the lost-Ack change.

// TestReview2AckReadDiscardedOnNewSession: Bob restarts with Alice's proof
// 1 on disk and its Ack (with the receipt she asked for) lost, so the Ack
// he sends again comes from one read of his log. While that read runs the
// connection is replaced (any flap of the link). The read's Ack is dropped
// (c.sess != s in resendAcks' done), and the new session's Reestablish,
// which waited for the read, finds ackDiskRead set and gets nothing: the
// log is read once a run per channel and its result is not kept. Alice
// then completes ok-1 after RequestTimeout without the receipt Bob signed
// and holds on disk (a refusal would be lost the same way).
func TestReview2AckReadDiscardedOnNewSession(t *testing.T) {
	var all atomic.Bool
	alice, bob, _, id := reviewNodes(t, func(m *peerv1.Message) wireFate {
		if m.GetAck() != nil && all.Load() {
			return lost
		}
		return delivered
	}, withConfig(func(c *Config) { c.RequestTimeout = 2 * time.Second }))
	sc, first := lostAckSlowRead(t, alice, bob, id, &all)
	aliceAddr := alice.key.Address()
	old := bob.n.peers.session(aliceAddr)
	if old == nil {
		t.Fatal("bob has no session with alice while reading")
	}
	old.close(errors.New("the link flaps while bob reads"))
	waitFor(t, "a new session", func() bool {
		if s := alice.n.peers.session(bob.key.Address()); s == nil {
			alice.connect(bob)
		}
		s := bob.n.peers.session(aliceAddr)
		return s != nil && s != old
	})
	time.Sleep(200 * time.Millisecond) // alice's Reestablish on the new session waits for the read
	sc.release()
	r := <-first
	if r.err != nil || r.p.Receipt == nil {
		t.Fatalf("ok-1 after the link flapped during bob's read of his log: receipt %v, err %v; want paid with the receipt bob signed and holds", r.p.Receipt, r.err)
	}
}

// TestReview2AckRetryHangsOnClaimedSentNonce: Alice's payment k1 was paid
// and its Ack taken long ago. Bob (hostile, or a peer of another make)
// then says in a Reestablish that he signed proof 2^62 of his own. peerSent
// only grows and nothing bounds it by what Bob can send, so caughtUp stays
// false for the rest of the run, and every retry of every key on the
// channel, however old and settled its outcome, returns ErrPending at its
// deadline instead of the stored result (with no deadline it never
// returns). Before the change the retry returned paid at once.
func TestReview2AckRetryHangsOnClaimedSentNonce(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 1000)
	alice.pay(id, 10, "k1")
	bob.stop()
	c := alice.n.chans.get(id)
	var held channel.Proof
	if err := c.stepAndWait(context.Background(), func() { held = c.ch.Sent() }); err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, bob.key.Address(), alice)
	r.send(&peerv1.Message{Body: &peerv1.Message_Reestablish{Reestablish: &peerv1.Reestablish{ChannelId: id[:], Held: proofMessage(held, nil), SentNonce: 2, AckedNonce: 0}}})
	waitFor(t, "alice is ready on the raw session", func() bool { return alice.channel(id).Connected })
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	p, err := alice.n.Pay(ctx, PayRequest{Channel: id, Amount: *u256(10), Key: "k1"})
	if err != nil || !p.Complete {
		t.Fatalf("a retry of k1, paid and acknowledged before bob claimed sent nonce 2^62: %+v, %v; want the stored result (paid) at once", p.Complete, err)
	}
}

// TestReview2AckTimeoutBeforeSlowRefund: Bob refuses late-1 and refunds
// it; his Ack and his refund proof are lost. Bob restarts: Alice's
// Reestablish says she lacks his proof 1 (the refund), so he reads its
// parts from his log before sending it again, and that read is slow here
// (a busy log after a restart, every channel reconnecting at once). Alice
// holds Bob's Reestablish (he holds her proof) as an acknowledgement and
// arms awaitAcks: after RequestTimeout she completes late-1 as paid, as
// no refund has come. The refund then arrives: the payment reported paid
// had its money given back. The timer is not tied to the payee's resends
// (the "refund before the Ack" order does not hold against a timeout).
func TestReview2AckTimeoutBeforeSlowRefund(t *testing.T) {
	var blackout atomic.Bool
	alice, bob, _, id := reviewNodes(t, func(m *peerv1.Message) wireFate {
		if blackout.Load() && (m.GetAck() != nil || m.GetProof() != nil || m.GetProofParts() != nil) {
			return lost
		}
		return delivered
	}, withConfig(func(c *Config) { c.RequestTimeout = time.Second }))
	blackout.Store(true)
	pay := payAsync(t, alice, id, 7, "late-1", "late")
	waitFor(t, "bob refunded late-1", func() bool { return u64(bob.channel(id).Sent) == 7 })
	var sc *scanStore
	bob.wrap = func(s Store) Store { sc = newScanStore(s); sc.arm(); return sc }
	bob.restart()
	t.Cleanup(sc.release)
	blackout.Store(false)
	if alice.n.peers.session(bob.key.Address()) == nil {
		alice.connect(bob)
	}
	waitFor(t, "bob reads his log for the refund's parts", func() bool { now, _ := sc.waiting(); return now > 0 })
	time.Sleep(2 * time.Second) // past alice's RequestTimeout
	sc.release()
	r := <-pay
	waitFor(t, "alice holds bob's refund", func() bool { return u64(alice.channel(id).Received) == 7 })
	if !errors.Is(r.err, ErrRefunded) {
		t.Fatalf("late-1, refused and refunded by bob (the refund slow to come again): %+v, %v; want refused and refunded", r.p.Complete, r.err)
	}
}
