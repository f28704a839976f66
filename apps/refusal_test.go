package apps_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tinypay/tinypay/apps"
	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node"
	"github.com/tinypay/tinypay/node/nodetest"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
	"github.com/tinypay/tinypay/rpc"
	"github.com/tinypay/tinypay/settlement/evm/evmtest"
)

// TestSecondPayerOfOnceOnlyOffer: Bob sells an item once; Alice buys it,
// then Carol, whose node does not know Alice paid, pays it too. Bob refuses
// Carol's payment and gives the money back at once in the same channel:
// Carol is told "refused and refunded", no money stays with Bob, Carol's
// node goes on working, and nothing changes after both restart (the refused
// payment is not paid later, and a retry is refused again).
func TestSecondPayerOfOnceOnlyOffer(t *testing.T) {
	chain := evmtest.NewChain(t)
	alice, bob, carol := nodetest.Start(t, chain, "alice", chain.Alice), nodetest.Start(t, chain, "bob", chain.Bob), nodetest.Start(t, chain, "carol", chain.Carol)
	fromAlice := alice.OpenUSD(bob, 1000)
	fromCarol := carol.OpenUSD(bob, 1000)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	offer, err := bob.Apps().CreateOffer("song-42", bob.USD, *u256(250), time.Minute, apps.Once)
	if err != nil {
		t.Fatal(err)
	}
	first, err := alice.Apps().Pay(ctx, apps.PayRequest{Offer: &offer})
	if err != nil {
		t.Fatal(err)
	}
	checkReceipt(t, bob, first, alice.Key.Address())

	_, err = carol.Apps().Pay(ctx, apps.PayRequest{Offer: &offer})
	var refused *node.RefusedError
	if !errors.As(err, &refused) || !errors.Is(err, node.ErrRefunded) || !strings.Contains(refused.Reason, "offer already paid") {
		t.Fatalf("the second payment of a once-only offer: %v, want refused and refunded (offer already paid)", err)
	}
	// The money came back: Carol holds her whole deposit, on both sides.
	nodetest.Eventually(t, "carol's refund is acknowledged", func() bool {
		c, b := carol.Channel(fromCarol), bob.Channel(fromCarol)
		return c.MyBalance.Uint64() == 1000 && b.PeerBalance.Uint64() == 1000
	})
	// Both logs show the payment, the refusal and the refund.
	checkRefundLogs(t, carol, bob, fromCarol, refused.Payment)
	// Bob's revenue counts Alice's payment only.
	rows, err := bob.Apps().Revenue(time.Time{}, time.Time{}, "item")
	if err != nil || len(rows) != 1 || rows[0].Amount.Uint64() != 250 || rows[0].Payments != 1 {
		t.Fatalf("bob's revenue %+v %v: want only alice's 250", rows, err)
	}
	// Carol's node goes on: another payment to Bob completes.
	if p := carol.Pay(fromCarol, 7, "after"); !p.Complete {
		t.Fatalf("carol's next payment %+v", p)
	}
	// After both restart, nothing moves: the refused payment is not paid
	// later, and paying the offer again is refused again (from the records).
	carol.Restart()
	bob.Restart()
	nodetest.Eventually(t, "carol reconnects", func() bool { return carol.Channel(fromCarol).Connected })
	time.Sleep(300 * time.Millisecond) // let anything that would move, move
	if got := mine(carol, fromCarol); got != 993 {
		t.Fatalf("carol's balance %d after the restarts, want 993: the refused payment moved later", got)
	}
	if _, err := carol.Apps().Pay(ctx, apps.PayRequest{Offer: &offer}); !errors.Is(err, node.ErrRefunded) {
		t.Fatalf("paying the offer again after the restarts: %v, want refused and refunded", err)
	}
	if c := bob.Channel(fromCarol); c.PeerBalance.Uint64() != 993 {
		got := c.PeerBalance.Uint64()
		t.Fatalf("bob sees carol with %d, want 993", got)
	}
	if got := received(t, bob, fromAlice); got != 250 {
		t.Fatalf("bob received %d from alice, want 250", got)
	}
}

func mine(n *nodetest.Node, id channel.ID) uint64 {
	c := n.Channel(id)
	return c.MyBalance.Uint64()
}

// checkRefundLogs checks the records of a refused and refunded payment:
// the payer has its payment (not complete) and the refund coming back; the
// payee has the payment, marked refused, and the refund going out.
func checkRefundLogs(t *testing.T, payer, payee *nodetest.Node, id channel.ID, paymentID [32]byte) {
	t.Helper()
	pays, _, err := payer.N().Payments(0, 100, id)
	if err != nil {
		t.Fatal(err)
	}
	var out, back *node.PaymentInfo
	for i := range pays {
		p := &pays[i]
		switch {
		case p.Outgoing && p.ID == paymentID:
			out = p
		case !p.Outgoing && p.RefundOf == paymentID:
			back = p
		}
	}
	if out == nil || out.Complete || back == nil || !back.Amount.Eq(&out.Amount) {
		t.Fatalf("payer's log: payment %+v, refund %+v", out, back)
	}
	pays, _, err = payee.N().Payments(0, 100, id)
	if err != nil {
		t.Fatal(err)
	}
	var in, refund *node.PaymentInfo
	for i := range pays {
		p := &pays[i]
		switch {
		case !p.Outgoing && p.RemoteID == paymentID:
			in = p
		case p.Outgoing && p.RefundOf != ([32]byte{}):
			refund = p
		}
	}
	if in == nil || in.Refused == "" || refund == nil || refund.RefundOf != in.ID || !refund.Amount.Eq(&in.Amount) {
		t.Fatalf("payee's log: payment %+v, refund %+v", in, refund)
	}
}

// TestPayeeRefundsWhatItRefuses: a payer that skips its own checks (a
// client speaking the peer protocol over the real transport with its own
// key) pays offers twice, late, underpaid and for another item. The payee
// never refuses the proof for that: it acknowledges it, names each refused
// payment with its reason, and gives the amount back at once with a proof
// of its own whose part names the refused payment. Its revenue counts none
// of them.
func TestPayeeRefundsWhatItRefuses(t *testing.T) {
	alice, bob, id := pair(t, 1000)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	offer, err := bob.Apps().CreateOffer("film", bob.USD, *u256(10), time.Minute, apps.Once)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Apps().Pay(ctx, apps.PayRequest{Offer: &offer}); err != nil {
		t.Fatal(err)
	}
	ci := alice.Channel(id)
	sent := ci.Sent.Uint64() // 10
	conn, recv := speakAsPayer(t, alice, bob, id, 1)
	info := bob.N().Info()
	dom := crypto.NewDomain(info.ChainID, info.Adjudicator)
	fresh, _ := bob.Apps().CreateOffer("book", bob.USD, *u256(10), time.Minute, apps.Once)
	late, _ := bob.Apps().CreateOffer("late", bob.USD, *u256(10), time.Minute, apps.Once)
	late.Expiry = uint64(time.Now().Add(-time.Hour).Unix())
	f := crypto.OfferFields{Offer: late.ID, Payee: late.Payee, ItemID: late.ItemID, Asset: late.Asset, Price: late.Price, Expiry: late.Expiry}
	late.Sig, _ = bob.Key.Sign(dom.OfferDigest(&f))
	var bobSent uint64 // what bob has paid alice (refunds), cumulative
	nonce := uint64(1)
	for _, tc := range []struct {
		name   string
		offer  apps.Offer
		item   string
		price  uint64
		reason string
	}{
		{"paid twice", offer, "film", 10, "offer already paid"},
		{"expired", late, "late", 10, "offer expired"},
		{"underpaid", fresh, "book", 9, "does not match the offer"},
		{"another item", fresh, "film", 10, "does not match the offer"},
	} {
		nonce++
		sent += tc.price
		sig, _ := alice.Key.Sign(dom.BalanceProofDigest(id, nonce, u256(sent)))
		pid := crypto.Hash{byte(nonce), 7}
		o := tc.offer
		part := &peerv1.PaymentPart{PaymentId: pid[:], Amount: node.AmountBytes(u256(tc.price)), ItemId: tc.item,
			Offer: &peerv1.Offer{OfferId: o.ID[:], ItemId: o.ItemID, Asset: o.Asset[:], Price: node.AmountBytes(&o.Price), Expiry: o.Expiry, Signature: o.Sig[:]}}
		if err := conn.Send(&peerv1.Message{Body: &peerv1.Message_Proof{Proof: &peerv1.BalanceProof{ChannelId: id[:], Nonce: nonce,
			Transferred: node.AmountBytes(u256(sent)), Signature: sig[:], Parts: []*peerv1.PaymentPart{part}}}}); err != nil {
			t.Fatal(err)
		}
		// First the refund (a proof of bob's, sent with its write), then
		// the acknowledgement naming the refusal.
		m := recv()
		refund := m.GetProof()
		if refund == nil || len(refund.GetParts()) != 1 || crypto.Hash(refund.GetParts()[0].GetRefundOf()) != pid {
			t.Fatalf("%s: got %v, want bob's refund proof naming the payment", tc.name, m)
		}
		got, _ := node.ParseAmount("transferred", refund.GetTransferred())
		bobSent += tc.price
		if got.Uint64() != bobSent {
			t.Fatalf("%s: the refund proof pays %d in total, want %d", tc.name, got.Uint64(), bobSent)
		}
		m = recv()
		ack := m.GetAck()
		if ack == nil || ack.GetNonce() != nonce || len(ack.GetRefused()) != 1 || crypto.Hash(ack.GetRefused()[0].GetPaymentId()) != pid ||
			!strings.Contains(ack.GetRefused()[0].GetReason(), tc.reason) {
			t.Fatalf("%s: got %v, want an ack of %d refusing the payment (%s)", tc.name, m, nonce, tc.reason)
		}
		// Alice acknowledges the refund, as her node would.
		if err := conn.Send(&peerv1.Message{Body: &peerv1.Message_Ack{Ack: &peerv1.Ack{ChannelId: id[:], Nonce: refund.GetNonce()}}}); err != nil {
			t.Fatal(err)
		}
	}
	// Bob's balance in the channel is what Alice paid for the one item.
	nodetest.Eventually(t, "bob's refunds are acknowledged", func() bool {
		ci := bob.Channel(id)
		return ci.MyBalance.Uint64() == 10 && ci.AckedNonce == 4
	})
	rows, err := bob.Apps().Revenue(time.Time{}, time.Time{}, "item")
	if err != nil || len(rows) != 1 || rows[0].Key != "film" || rows[0].Amount.Uint64() != 10 {
		t.Fatalf("bob's revenue %+v %v: want the film's 10 only", rows, err)
	}
}

// speakAsPayer stops payer's node and speaks for it to payee, with its key
// and through the handshake: it reestablishes channel id saying it sent
// sentNonce, and returns the connection and recv, which returns the next
// message that is not a Reestablish.
func speakAsPayer(t *testing.T, payer, payee *nodetest.Node, id channel.ID, sentNonce uint64) (*rpc.PeerConn, func() *peerv1.Message) {
	t.Helper()
	payer.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := rpc.DialPeer(ctx, payer.PeerConfig(), payee.Addr, payee.Key.Address())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(nil) })
	if err := conn.Send(&peerv1.Message{Body: &peerv1.Message_Reestablish{Reestablish: &peerv1.Reestablish{ChannelId: id[:], SentNonce: sentNonce, AckedNonce: sentNonce}}}); err != nil {
		t.Fatal(err)
	}
	return conn, func() *peerv1.Message {
		t.Helper()
		for {
			m, err := conn.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if m.GetReestablish() == nil {
				return m
			}
		}
	}
}
