package node

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
)

// TestLogResendCarriesOffer: Alice pays an offer; Bob receives the proof
// and crashes before storing it, and Alice restarts too, so that when they
// reconnect she resends the proof with its payments read back from her
// log. The resent payment carries the whole offer, as the first send did:
// Bob checks and counts it again (before, it came without the offer, and
// Bob took it as a plain payment, so a once-only offer could be sold
// again and the receipt named no offer).
func TestLogResendCarriesOffer(t *testing.T) {
	w := newNet(t)
	alice, _, id, _, r := rawPayee(t, w)
	offer, done := payOfferAsync(t, alice, id, 1, "song-42")
	check := func(when string, p *peerv1.BalanceProof) {
		t.Helper()
		if p == nil || p.GetNonce() != 1 || len(p.GetParts()) != 1 {
			t.Fatalf("%s: got %v, want proof 1 with one payment", when, p)
		}
		got, err := decodeOffer(p.GetParts()[0].GetOffer())
		if err != nil || got.ID != offer.ID || got.ItemID != offer.ItemID || got.Asset != offer.Asset || !got.Price.Eq(&offer.Price) ||
			got.Expiry != offer.Expiry || got.Sig != offer.Sig || got.Uses != offer.Uses || got.MaxUses != offer.MaxUses {
			t.Fatalf("%s: the payment carries offer %+v (%v), want %+v", when, got, err, offer)
		}
	}
	check("first send", r.next().GetProof())
	<-done // not acknowledged: pending
	// Bob never stored it; Alice restarts, so nothing of it is in memory.
	r.conn.Close(nil)
	alice.restart()
	r = dialRaw(t, w.nodes["bob"].key.Address(), alice)
	r.send(&peerv1.Message{Body: &peerv1.Message_Reestablish{Reestablish: &peerv1.Reestablish{ChannelId: id[:]}}})
	for {
		if p := r.next().GetProof(); p != nil {
			check("resent from the log", p)
			return
		}
	}
}

// TestPayOfferMustMatch: a payment of an offer pays the offer's price for
// its item in its asset (the record keeps them once, and a resend rebuilds
// the offer from them); anything else is refused before it is signed.
func TestPayOfferMustMatch(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 1000)
	asset := alice.channel(id).Asset.Address
	good := Offer{ID: crypto.Hash{1}, ItemID: "song", Asset: asset, Price: *uint256.NewInt(7), Expiry: 1 << 40}
	for _, tc := range []struct {
		name   string
		item   string
		amount uint64
		asset  crypto.Address
	}{
		{"another item", "film", 7, asset},
		{"no item", "", 7, asset},
		{"another price", "song", 8, asset},
		{"another asset", "song", 7, crypto.Address{9}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := good
			o.Asset = tc.asset
			_, err := alice.n.Pay(context.Background(), PayRequest{Channel: id, Amount: *uint256.NewInt(tc.amount), Key: "k-" + tc.name, ItemID: tc.item, Offer: &o})
			if !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("Pay = %v, want ErrInvalidArgument", err)
			}
			if n := alice.channel(id).SentNonce; n != 0 {
				t.Fatalf("a proof was signed (nonce %d)", n)
			}
		})
	}
}

// TestDecodeOfferPolicy: an offer whose use policy is not one a payee
// signs is a malformed message (the proof is refused, nothing is stored:
// the store would refuse the record).
func TestDecodeOfferPolicy(t *testing.T) {
	base := func() *peerv1.Offer {
		return &peerv1.Offer{OfferId: make([]byte, 32), ItemId: "x", Asset: make([]byte, 20), Price: []byte{1}, Expiry: 1, Signature: make([]byte, 65)}
	}
	for _, tc := range []struct {
		name      string
		uses, max uint32
		ok        bool
	}{
		{"once", 0, 0, true},
		{"per payer", 1, 0, true},
		{"limited", 2, 9, true},
		{"unlimited", 3, 0, true},
		{"once with a count", 0, 3, false},
		{"limited without a count", 2, 0, false},
		{"limited over the bound", 2, crypto.MaxOfferUses + 1, false},
		{"unknown policy", 4, 0, false},
		{"beyond a byte", 257, 0, false}, // would read as 1 if cut to a uint8
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := base()
			m.Uses, m.MaxUses = tc.uses, tc.max
			o, err := decodeOffer(m)
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrMalformed)) {
				t.Fatalf("decodeOffer = %+v, %v; want ok=%v", o, err, tc.ok)
			}
			if err == nil && (uint32(o.Uses) != tc.uses || o.MaxUses != tc.max) {
				t.Fatalf("decoded uses %d max %d", o.Uses, o.MaxUses)
			}
		})
	}
}

// TestOfferReceiptComesAgainAfterPayerRestart: Alice pays an offer, and
// restarts before Bob's Ack with the receipt comes. Her Reestablish asks
// for that Ack again (acked nonce 0 though Bob holds proof 1), and the
// receipt Bob then sends, signed over the offer, is checked against her
// record of the payment and kept.
func TestOfferReceiptComesAgainAfterPayerRestart(t *testing.T) {
	w := newNet(t)
	alice, bob, id, dom, r := rawPayee(t, w)
	offer, done := payOfferAsync(t, alice, id, 2, "song-43")
	proof := r.next().GetProof()
	if proof.GetNonce() != 1 || len(proof.GetParts()) != 1 {
		t.Fatalf("got %v, want proof 1 with one payment", proof)
	}
	payID := [32]byte(proof.GetParts()[0].GetPaymentId())
	<-done // not acknowledged: pending
	r.conn.Close(nil)
	alice.restart()
	r = dialRaw(t, bob.key.Address(), alice)
	r.send(&peerv1.Message{Body: &peerv1.Message_Reestablish{Reestablish: &peerv1.Reestablish{ChannelId: id[:], Held: proof, SentNonce: 0}}})
	for {
		m := r.nextAny(5 * time.Second)
		if m == nil {
			t.Fatal("alice sent no Reestablish")
		}
		if re := m.GetReestablish(); re != nil {
			if re.GetAckedNonce() != 0 {
				t.Fatalf("alice's Reestablish says she took the Acks up to %d, want 0 (the receipt of proof 1 is awaited)", re.GetAckedNonce())
			}
			break
		}
	}
	f := crypto.ReceiptFields{Channel: id, Payment: payID, Payer: alice.key.Address(), Payee: bob.key.Address(), Asset: offer.Asset,
		Amount: offer.Price, Cumulative: offer.Price, ItemID: offer.ItemID, Offer: offer.ID, Time: 1234}
	sig, err := bob.key.Sign(dom.ReceiptDigest(&f))
	if err != nil {
		t.Fatal(err)
	}
	r.send(&peerv1.Message{Body: &peerv1.Message_Ack{Ack: &peerv1.Ack{ChannelId: id[:], Nonce: 1,
		Receipts: []*peerv1.Receipt{{PaymentId: payID[:], Time: 1234, Signature: sig[:]}}}}})
	waitFor(t, "alice keeps the receipt", func() bool {
		rc, err := alice.n.store.Receipt(payID)
		return err == nil && bytes.Equal(rc.GetSignature(), sig[:])
	})
	if n, taken := awaitedOf(t, alice, id); n != 0 || taken != 1 {
		t.Fatalf("alice awaits %d receipts and took the Acks up to %d; want 0, 1", n, taken)
	}
}

// payOfferAsync has tn pay, in the background under key buy-1, a
// limited offer of 7 (id 0x0f n) for item in channel id's asset, and
// gives up after a second; done reports what Pay returned.
func payOfferAsync(t *testing.T, tn *testNode, id channel.ID, n byte, item string) (*Offer, <-chan error) {
	offer := &Offer{ID: crypto.Hash{0x0f, n}, ItemID: item, Asset: tn.channel(id).Asset.Address, Price: *uint256.NewInt(7),
		Expiry: uint64(time.Now().Add(time.Hour).Unix()), Sig: crypto.Signature{1, 2, 3}, Uses: crypto.OfferLimited, MaxUses: 5}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := tn.n.Pay(ctx, PayRequest{Channel: id, Amount: offer.Price, Key: "buy-1", ItemID: offer.ItemID, Offer: offer})
		done <- err
	}()
	return offer, done
}
