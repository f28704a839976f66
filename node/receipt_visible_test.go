package node

import (
	"context"
	"testing"
	"time"

	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
)

// TestPaymentByKeyWaitsForItsReceipt: Alice's disk is slow when Bob's Ack
// of her payment comes with his receipt. The Ack moves the channel's
// outcomes at once, the receipt is still on its way to disk. A look-up of
// the payment's key then (a second purchase of a once-only offer, a retry
// of one whose answer was lost) must not say "paid" without the receipt:
// the site that asked gets "paid but the payee sent no receipt" (daemon
// TestSiteRaces, flaky before).
func TestPaymentByKeyWaitsForItsReceipt(t *testing.T) {
	gate := &gateStore{}
	w := newNet(t)
	alice, bob, id, dom, r := rawPayee(t, w, withStore(func(s Store) Store { gate.Store = s; return gate }))
	t.Cleanup(gate.release) // before the nodes stop (cleanups run last first)
	done := make(chan error, 1)
	go func() { _, err := payItem(t, alice, id, 5, "ok-1", "ok"); done <- err }()
	proof := r.next().GetProof()
	if proof.GetNonce() != 1 || len(proof.GetParts()) != 1 {
		t.Fatalf("got %v, want proof 1 with one payment", proof)
	}
	payID := [32]byte(proof.GetParts()[0].GetPaymentId())
	// Alice's proof is durable (it went out with its write; wait for it),
	// then her disk stalls.
	if err := mustChannelOf(t, alice, id).stepAndWait(t.Context(), func() {}); err != nil {
		t.Fatal(err)
	}
	gate.arm()
	f := crypto.ReceiptFields{Channel: id, Payment: payID, Payer: alice.key.Address(), Payee: bob.key.Address(),
		Asset: alice.channel(id).Asset.Address, Amount: *u256(5), Cumulative: *u256(5), ItemID: "ok", Time: 1234}
	sig, err := bob.key.Sign(dom.ReceiptDigest(&f))
	if err != nil {
		t.Fatal(err)
	}
	r.send(&peerv1.Message{Body: &peerv1.Message_Ack{Ack: &peerv1.Ack{ChannelId: id[:], Nonce: 1,
		Receipts: []*peerv1.Receipt{{PaymentId: payID[:], Time: 1234, Signature: sig[:]}}}}})
	waitFor(t, "alice takes the Ack", func() bool { return alice.channel(id).outcomes >= 1 })
	if gate.holding() == 0 {
		t.Fatal("alice's write of the receipt is not held")
	}

	type byKey struct {
		p     PaymentInfo
		found bool
		err   error
	}
	got := make(chan byKey, 1)
	go func() {
		p, found, err := alice.n.PaymentByKey(context.Background(), "ok-1")
		got <- byKey{p, found, err}
	}()
	select {
	case g := <-got:
		if g.p.Complete && g.p.Receipt == nil {
			t.Fatalf("the payment reads complete without its receipt while the receipt is on its way to disk: %+v, %v", g.p, g.err)
		}
		gate.release()
	case <-time.After(300 * time.Millisecond):
		gate.release() // it waits for the disk: let it go
		g := <-got
		if g.err != nil || !g.found || !g.p.Complete || g.p.Receipt == nil || g.p.Receipt.Sig != sig {
			t.Fatalf("after the write: %+v, found %v, %v; want it complete with bob's receipt", g.p, g.found, g.err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestPaymentByKeyOfAnOldPaymentWithoutReceipt: a payment completed long
// ago without a receipt (the payee sent none) is read at once, complete,
// on a disk that is slow now: only a write in flight is waited for (found
// by a hostile review: every such read took a step and an empty write,
// and waited up to RequestTimeout on a slow disk, then read incomplete).
func TestPaymentByKeyOfAnOldPaymentWithoutReceipt(t *testing.T) {
	gate := &gateStore{}
	alice, _, id, _, r := rawPayee(t, newNet(t), withStore(func(s Store) Store { gate.Store = s; return gate }))
	t.Cleanup(gate.release)
	done := make(chan error, 1)
	go func() { _, err := payItem(t, alice, id, 5, "k", "song"); done <- err }()
	p := r.next().GetProof()
	if p == nil {
		t.Fatal("no proof")
	}
	r.send(&peerv1.Message{Body: &peerv1.Message_Ack{Ack: &peerv1.Ack{ChannelId: id[:], Nonce: p.GetNonce()}}}) // no receipt
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Complete and on disk before the disk is slowed (under load the
	// writes that complete it could still be on their way: failed once).
	waitFor(t, "the payment reads complete", func() bool {
		info, found, err := alice.n.PaymentByKey(t.Context(), "k")
		return err == nil && found && info.Complete
	})
	if err := mustChannelOf(t, alice, id).stepAndWait(t.Context(), func() {}); err != nil {
		t.Fatal(err)
	}
	gate.arm() // the disk is slow from now on
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	info, found, err := alice.n.PaymentByKey(ctx, "k")
	if err != nil || !found || !info.Complete || info.Receipt != nil {
		t.Fatalf("a payment completed without a receipt, read on a slow disk: %+v, found %v, %v; want it complete at once", info, found, err)
	}
}
