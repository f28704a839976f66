package apps_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tinypay/tinypay/apps"
	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node"
	"github.com/tinypay/tinypay/node/nodetest"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
	"github.com/tinypay/tinypay/settlement/evm/evmtest"
)

// TestRefundsPerMinuteAreBounded: a payer that keeps paying an offer that
// is already paid makes the payee record and refund each payment, a
// signature and records at no cost to the payer. Beyond
// MaxRefundsPerMinute the payee refuses the proof whole (a Nack, which
// stores nothing), and payments it accepts still go through.
func TestRefundsPerMinuteAreBounded(t *testing.T) {
	chain := evmtest.NewChain(t)
	const limit = 3
	alice := nodetest.Start(t, chain, "alice", chain.Alice)
	bob := nodetest.Start(t, chain, "bob", chain.Bob, func(c *node.Config) { c.MaxRefundsPerMinute = limit })
	id := alice.OpenUSD(bob, 1000)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	offer, err := bob.Apps().CreateOffer("film", bob.USD, *u256(10), time.Minute, apps.Once)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Apps().Pay(ctx, apps.PayRequest{Offer: &offer}); err != nil {
		t.Fatal(err)
	}
	ci := alice.Channel(id)
	sent := ci.Sent.Uint64()
	conn, recv := speakAsPayer(t, alice, bob, id, 1) // from here on the test speaks for Alice
	info := bob.N().Info()
	dom := crypto.NewDomain(info.ChainID, info.Adjudicator)
	nonce := uint64(1)
	pay := func(o *apps.Offer, item string, price uint64) {
		t.Helper()
		nonce++
		sent += price
		sig, _ := alice.Key.Sign(dom.BalanceProofDigest(id, nonce, u256(sent)))
		pid := crypto.Hash{byte(nonce), 9}
		part := &peerv1.PaymentPart{PaymentId: pid[:], Amount: node.AmountBytes(u256(price)), ItemId: item}
		if o != nil {
			part.Offer = &peerv1.Offer{OfferId: o.ID[:], ItemId: o.ItemID, Asset: o.Asset[:], Price: node.AmountBytes(&o.Price), Expiry: o.Expiry, Signature: o.Sig[:]}
		}
		if err := conn.Send(&peerv1.Message{Body: &peerv1.Message_Proof{Proof: &peerv1.BalanceProof{ChannelId: id[:], Nonce: nonce,
			Transferred: node.AmountBytes(u256(sent)), Signature: sig[:], Parts: []*peerv1.PaymentPart{part}}}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range limit {
		pay(&offer, "film", 10)
		refund := recv().GetProof()
		if refund == nil {
			t.Fatalf("payment %d of a paid offer: no refund", i)
		}
		if ack := recv().GetAck(); ack == nil || len(ack.GetRefused()) != 1 {
			t.Fatalf("payment %d of a paid offer: got %v, want an ack refusing it", i, ack)
		}
		if err := conn.Send(&peerv1.Message{Body: &peerv1.Message_Ack{Ack: &peerv1.Ack{ChannelId: id[:], Nonce: refund.GetNonce()}}}); err != nil {
			t.Fatal(err)
		}
	}
	nodetest.Eventually(t, "bob has alice's acks of the refunds", func() bool { return bob.Channel(id).AckedNonce == limit })
	before := bob.Channel(id)
	logBefore := bob.Store().LastSeq()
	pay(&offer, "film", 10)
	nack := recv().GetNack()
	if nack == nil || nack.GetNonce() != nonce || nack.GetCode() != 8 || !strings.Contains(nack.GetReason(), "refunds in the last minute") {
		t.Fatalf("payment %d of a paid offer in one minute: got %v, want the proof refused as resource exhausted", limit+1, nack)
	}
	if after := bob.Channel(id); !after.MyBalance.Eq(&before.MyBalance) || after.AckedNonce != before.AckedNonce || bob.Store().LastSeq() != logBefore {
		t.Fatalf("the refused proof changed bob's channel (%+v → %+v) or log (%d → %d entries)", before, after, logBefore, bob.Store().LastSeq())
	}
	// The refused proof moved nothing: Alice pays the same amount again,
	// for something Bob accepts.
	nonce--
	sent -= 10
	pay(nil, "tip", 10)
	if ack := recv().GetAck(); ack == nil || ack.GetNonce() != nonce || len(ack.GetRefused()) != 0 {
		t.Fatalf("a payment bob accepts, after the bound: got %v, want its ack", ack)
	}
}
