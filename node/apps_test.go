package node

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
)

func checkReceipt(t *testing.T, payee *testNode, p PaymentInfo, payer crypto.Address) {
	t.Helper()
	if p.Receipt == nil {
		t.Fatalf("payment %x has no receipt", p.ID[:4])
	}
	dom := crypto.NewDomain(payee.chain.ChainID(), payee.chain.Adjudicator())
	f := crypto.ReceiptFields{Channel: p.Channel, Payment: p.ID, Payer: payer, Payee: payee.key.Address(), Amount: p.Amount, Asset: mustChannel(t, payee).state().Params.Asset,
		Cumulative: p.Cumulative, ItemID: p.ItemID, Offer: p.OfferID, Time: p.Receipt.Time}
	if err := crypto.Verify(dom.ReceiptDigest(&f), p.Receipt.Sig, payee.key.Address()); err != nil {
		t.Fatalf("receipt does not verify: %v", err)
	}
}

func TestOffersAndReceipts(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 1000)
	ctx := context.Background()

	// A payment for an item comes back with the payee's receipt.
	p, err := alice.n.Pay(ctx, PayRequest{Channel: id, Amount: *u256(3), Key: "k1", ItemID: "song-1", Memo: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	checkReceipt(t, bob, p, alice.key.Address())
	// It is kept: listing the payment later shows it too.
	pays, _, err := alice.n.Payments(0, 10, id)
	if err != nil || len(pays) != 1 {
		t.Fatalf("payments: %v %v", pays, err)
	}
	checkReceipt(t, bob, pays[0], alice.key.Address())
	// A plain payment asks for none.
	if p := alice.pay(id, 1, "plain"); p.Receipt != nil {
		t.Fatal("receipt without asking")
	}

	offer, err := bob.n.CreateOffer("article-9", crypto.Address{}, *u256(25), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	p, err = alice.n.Pay(ctx, PayRequest{Offer: &offer})
	if err != nil {
		t.Fatal(err)
	}
	if p.Amount.Uint64() != 25 || p.ItemID != "article-9" || p.OfferID != offer.ID {
		t.Fatalf("offer payment %+v", p)
	}
	checkReceipt(t, bob, p, alice.key.Address())
	before := u64(bob.channel(id).Received)

	expired, _ := bob.n.CreateOffer("article-10", crypto.Address{}, *u256(5), time.Second)
	expired.Expiry -= 10
	f := expired.fields()
	expired.Sig, _ = bob.key.Sign(crypto.NewDomain(expired.ChainID, expired.Adjudicator).OfferDigest(&f))
	altered := offer
	altered.ID = randomID()
	altered.Price = *u256(1)
	foreign, _ := alice.n.CreateOffer("x", crypto.Address{}, *u256(5), time.Minute) // alice's own
	for _, tc := range []struct {
		name string
		req  PayRequest
		want error
	}{
		{"paid twice", PayRequest{Offer: &offer}, ErrOfferPaid},
		{"paid twice with the key", PayRequest{Offer: &offer, Key: offerKey(offer.ID)}, ErrOfferPaid},
		{"expired", PayRequest{Offer: &expired}, ErrOfferExpired},
		{"altered", PayRequest{Offer: &altered}, ErrBadOffer},
		{"other amount", PayRequest{Offer: &offer, Amount: *u256(24)}, ErrInvalidArgument},
		{"other item", PayRequest{Offer: &offer, ItemID: "article-8"}, ErrInvalidArgument},
		{"an offer nobody can be paid for here", PayRequest{Offer: &foreign}, ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := alice.n.Pay(ctx, tc.req); !errors.Is(err, tc.want) {
				t.Fatalf("Pay = %v, want %v", err, tc.want)
			}
		})
	}
	if got := u64(bob.channel(id).Received); got != before {
		t.Fatalf("refused offers moved money: %d -> %d", before, got)
	}
}

// TestOfferRefusedByPayee: a payer that skips its own checks still cannot
// pay an offer twice, late, at another price or for another item: the
// payee refuses the proof and nothing changes.
func TestOfferRefusedByPayee(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 1000)
	offer, _ := bob.n.CreateOffer("film", crypto.Address{}, *u256(10), time.Minute)
	if _, err := alice.n.Pay(context.Background(), PayRequest{Offer: &offer}); err != nil {
		t.Fatal(err)
	}
	cs := mustChannel(t, bob)
	params := cs.state().Params
	dom := params.Domain()
	alice.stop()
	late := offer
	late.ID, late.Expiry = randomID(), uint64(time.Now().Add(-time.Hour).Unix())
	f := late.fields()
	late.Sig, _ = bob.key.Sign(crypto.NewDomain(late.ChainID, late.Adjudicator).OfferDigest(&f))
	fresh, _ := bob.n.CreateOffer("book", crypto.Address{}, *u256(10), time.Minute)
	for _, tc := range []struct {
		name  string
		offer Offer
		item  string
		price uint64
	}{
		{"paid twice", offer, "film", 10},
		{"expired", late, "film", 10},
		{"underpaid", fresh, "book", 9},
		{"other item", fresh, "film", 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := cs.state()
			r := dialRaw(t, alice.key.Address(), bob)
			r.send(&peerv1.Message{Body: &peerv1.Message_Reestablish{Reestablish: &peerv1.Reestablish{ChannelId: id[:], SentNonce: 1}}})
			total := 10 + tc.price
			sig, _ := alice.key.Sign(dom.BalanceProofDigest(id, 2, uint256.NewInt(total)))
			pid := randomID()
			r.send(&peerv1.Message{Body: &peerv1.Message_Proof{Proof: &peerv1.BalanceProof{ChannelId: id[:], Nonce: 2,
				Transferred: amountBytes(uint256.NewInt(total)), Signature: sig[:], Parts: []*peerv1.PaymentPart{{
					PaymentId: pid[:], Amount: amountBytes(uint256.NewInt(tc.price)), ItemId: tc.item, Offer: offerMessage(&tc.offer),
				}}}}})
			if m := r.next(); m.GetNack() == nil {
				t.Fatalf("got %v, want a nack", m)
			}
			if after := cs.state(); after.Received != before.Received {
				t.Fatal("refused offer changed the channel")
			}
		})
	}
}

func TestStreamBudgetAndMeter(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 1000)
	st, err := alice.n.StartStream(context.Background(), StreamRequest{Channel: id, Rate: *u256(100), Tick: 100 * time.Millisecond, Budget: *u256(50), ItemID: "radio"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stream spends its budget", func() bool {
		s, _ := alice.n.Stream(st.ID)
		return s.Status == "ended"
	})
	s, _ := alice.n.Stream(st.ID)
	if s.EndReason != EndBudget || s.Paid.Uint64() != 50 || s.Ticks != 5 {
		t.Fatalf("payer's stream %+v", s)
	}
	waitFor(t, "bob's meter ends it", func() bool {
		s, err := bob.n.Stream(st.ID)
		return err == nil && s.Status == "ended" && s.Paid.Uint64() == 50
	})
	got, _ := bob.n.Stream(st.ID)
	if got.EndReason != EndBudget || got.ItemID != "radio" || got.Rate.Uint64() != 100 || got.Outgoing {
		t.Fatalf("payee's stream %+v", got)
	}
	if r := u64(bob.channel(id).Received); r != 50 {
		t.Fatalf("bob received %d", r)
	}
	rows, err := bob.n.Revenue(time.Time{}, time.Time{}, "stream")
	if err != nil || len(rows) != 1 || rows[0].Amount.Uint64() != 50 || rows[0].Payments != 5 {
		t.Fatalf("revenue by stream %+v %v", rows, err)
	}
}

func TestStreamStopStallRestart(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 100_000)
	ctx := context.Background()

	// Stopped by the payee.
	s1, err := alice.n.StartStream(ctx, StreamRequest{Channel: id, Rate: *u256(10), Tick: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bob meters s1", func() bool { s, err := bob.n.Stream(s1.ID); return err == nil && s.Ticks >= 2 })
	if _, err := bob.n.StopStream(s1.ID, TokenID{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice stops s1", func() bool { s, _ := alice.n.Stream(s1.ID); return s.EndReason == EndByPayee })

	// Stopped by the payer.
	s2, err := alice.n.StartStream(ctx, StreamRequest{Channel: id, Rate: *u256(10), Tick: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bob meters s2", func() bool { s, err := bob.n.Stream(s2.ID); return err == nil && s.Status == "live" && s.Ticks >= 2 })
	// The payer restarts: the stream stalls at bob, then resumes, and no
	// tick is paid twice.
	alice.stop()
	waitFor(t, "bob sees s2 stall", func() bool { s, _ := bob.n.Stream(s2.ID); return s.Status == "stalled" })
	alice.start() // it redials bob by itself
	waitFor(t, "s2 resumes", func() bool { s, _ := bob.n.Stream(s2.ID); return s.Status == "live" })
	if _, err := alice.n.StopStream(s2.ID, TokenID{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bob sees s2 end", func() bool { s, _ := bob.n.Stream(s2.ID); return s.EndReason == EndByPayer })
	time.Sleep(150 * time.Millisecond)
	a, _ := alice.n.Stream(s2.ID)
	b, _ := bob.n.Stream(s2.ID)
	if !a.Paid.Eq(&b.Paid) || a.Ticks != b.Ticks {
		t.Fatalf("payer paid %s in %d ticks, payee got %s in %d", a.Paid.Dec(), a.Ticks, b.Paid.Dec(), b.Ticks)
	}
	// Every tick was paid once: its key is unique, and the total matches.
	pays, _, err := bob.n.Payments(0, 1000, id)
	if err != nil {
		t.Fatal(err)
	}
	var sum uint64
	for _, p := range pays {
		if p.StreamID == s2.ID {
			sum += p.Amount.Uint64()
		}
	}
	if sum != b.Paid.Uint64() {
		t.Fatalf("payments of s2 add up to %d, the meter says %d", sum, b.Paid.Uint64())
	}
}

func TestStreamEndsWhenBalanceRunsOut(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 35)
	st, err := alice.n.StartStream(context.Background(), StreamRequest{Channel: id, Rate: *u256(100), Tick: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stream ends", func() bool { s, _ := alice.n.Stream(st.ID); return s.Status == "ended" })
	s, _ := alice.n.Stream(st.ID)
	if s.EndReason != EndBalance || s.Paid.Uint64() != 30 {
		t.Fatalf("stream %+v", s)
	}
	waitFor(t, "bob hears why", func() bool { s, _ := bob.n.Stream(st.ID); return s.EndReason == EndBalance })
}

func TestStreamRejects(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 1000)
	for _, tc := range []struct {
		name string
		req  StreamRequest
	}{
		{"zero rate", StreamRequest{Channel: id, Tick: time.Second}},
		{"tick too short", StreamRequest{Channel: id, Rate: *u256(10), Tick: time.Millisecond}},
		{"pays nothing per tick", StreamRequest{Channel: id, Rate: *u256(1), Tick: 100 * time.Millisecond}},
	} {
		if _, err := alice.n.StartStream(context.Background(), tc.req); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if _, err := alice.n.StopStream([16]byte{1}, TokenID{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("stop unknown: %v", err)
	}
}

func TestAppTokenLimits(t *testing.T) {
	w := newNet(t)
	alice, bob, carol := w.add("alice", 1), w.add("bob", 2), w.add("carol", 3)
	alice.connect(bob)
	alice.connect(carol)
	toBob := alice.open(bob, 1000)
	toCarol := alice.open(carol, 1000)
	ctx := context.Background()
	tok, secret, err := alice.n.CreateToken(ctx, "shop", TokenPolicy{Limit: *u256(100), Period: time.Hour,
		Payees: map[crypto.Address]uint256.Int{bob.key.Address(): *u256(80)}})
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := alice.n.Authenticate(secret); !ok || id != tok.ID {
		t.Fatal("secret does not authenticate")
	}
	if _, ok := alice.n.Authenticate(secret + "x"); ok {
		t.Fatal("a wrong secret authenticates")
	}
	pay := func(ch [32]byte, amount uint64, key string) error {
		_, err := alice.n.Pay(ctx, PayRequest{Channel: ch, Amount: *u256(amount), Key: key, Token: tok.ID})
		return err
	}
	if err := pay(toBob, 60, "a"); err != nil {
		t.Fatal(err)
	}
	if err := pay(toBob, 21, "b"); !errors.Is(err, ErrSpendLimit) {
		t.Fatalf("over the payee limit: %v", err)
	}
	if err := pay(toCarol, 1, "c"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("a payee not allowed: %v", err)
	}
	// A failed payment gives its reservation back.
	if err := pay(toBob, 2000, "d"); err == nil {
		t.Fatal("paid over the channel balance")
	}
	if err := pay(toBob, 20, "e"); err != nil {
		t.Fatalf("within the limit after a failure: %v", err)
	}
	// After a restart the spending is still counted.
	alice.restart()
	alice.connect(bob)
	if toks := alice.n.Tokens(); len(toks) != 1 || toks[0].Spent.Uint64() != 80 {
		t.Fatalf("tokens after restart: %+v", toks)
	}
	if err := pay(toBob, 1, "f"); !errors.Is(err, ErrSpendLimit) {
		t.Fatalf("after restart, over the limit: %v", err)
	}
	// Revoked: nothing more, and the secret no longer authenticates.
	if _, err := alice.n.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := alice.n.Authenticate(secret); ok {
		t.Fatal("revoked secret authenticates")
	}
	if err := pay(toBob, 1, "g"); !errors.Is(err, ErrForbidden) {
		t.Fatalf("revoked: %v", err)
	}
	// Limits apply to streams too.
	tok2, _, err := alice.n.CreateToken(ctx, "radio", TokenPolicy{Limit: *u256(30), Period: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	st, err := alice.n.StartStream(ctx, StreamRequest{Channel: toBob, Rate: *u256(100), Tick: 100 * time.Millisecond, Token: tok2.ID})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the limit ends the stream", func() bool { s, _ := alice.n.Stream(st.ID); return s.EndReason == EndSpendLimit })
	if s, _ := alice.n.Stream(st.ID); s.Paid.Uint64() != 30 {
		t.Fatalf("stream paid %s under a limit of 30", s.Paid.Dec())
	}
}

func TestRevenue(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 1000)
	start := time.Now()
	for i := range 6 {
		if _, err := alice.n.Pay(context.Background(), PayRequest{Channel: id, Amount: *u256(uint64(i + 1)), Key: fmt.Sprint(i), ItemID: fmt.Sprint("item-", i%2)}); err != nil {
			t.Fatal(err)
		}
	}
	mid := time.Now()
	alice.pay(id, 100, "late")
	rows, err := bob.n.Revenue(time.Time{}, time.Time{}, "item")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, r := range rows {
		got[r.Key] = r.Amount.Uint64()
	}
	// item-0: 1+3+5, item-1: 2+4+6, "": 100.
	if got["item-0"] != 9 || got["item-1"] != 12 || got[""] != 100 {
		t.Fatalf("by item %v", got)
	}
	rows, err = bob.n.Revenue(start, mid, "channel")
	if err != nil || len(rows) != 1 || rows[0].Amount.Uint64() != 21 || rows[0].Payments != 6 {
		t.Fatalf("by channel in range %+v %v", rows, err)
	}
	if _, err := bob.n.Revenue(mid, start, "channel"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("empty range: %v", err)
	}
	if _, err := bob.n.Revenue(time.Time{}, time.Time{}, "color"); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("bad group: %v", err)
	}
	// Nothing for the payer: revenue is what came in.
	if rows, _ := alice.n.Revenue(time.Time{}, time.Time{}, "channel"); len(rows) != 0 {
		t.Fatalf("alice's revenue %+v", rows)
	}
}

// TestStreamPayeeRestart: the payee restarts mid-stream; the stream goes on,
// and its meter ends up with exactly what the payer paid.
func TestStreamPayeeRestart(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 100_000)
	st, err := alice.n.StartStream(context.Background(), StreamRequest{Channel: id, Rate: *u256(10), Tick: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bob meters it", func() bool { s, err := bob.n.Stream(st.ID); return err == nil && s.Ticks >= 2 })
	bob.restart()
	waitFor(t, "the stream goes on after bob's restart", func() bool {
		s, err := bob.n.Stream(st.ID)
		return err == nil && s.Status == "live" && s.Ticks >= 6
	})
	if _, err := alice.n.StopStream(st.ID, TokenID{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both sides agree", func() bool {
		a, _ := alice.n.Stream(st.ID)
		b, _ := bob.n.Stream(st.ID)
		return b.EndReason == EndByPayer && a.Paid.Eq(&b.Paid) && a.Ticks == b.Ticks
	})
}

// TestStreamAutoTopUp: a stream that asked for a top-up deposits once when
// the channel runs low, and keeps paying past the first deposit.
func TestStreamAutoTopUp(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 200)
	// 100 per tick: the first deposit covers two ticks, the budget four.
	st, err := alice.n.StartStream(context.Background(), StreamRequest{Channel: id, Rate: *u256(1000), Tick: 100 * time.Millisecond,
		Budget: *u256(400), AutoTopup: *u256(500)})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stream spends its budget", func() bool { s, _ := alice.n.Stream(st.ID); return s.Status == "ended" })
	s, _ := alice.n.Stream(st.ID)
	if s.EndReason != EndBudget || s.Paid.Uint64() != 400 {
		t.Fatalf("stream %+v: want the budget of 400 paid, past the first deposit of 200", s)
	}
	if dep := u64(alice.channel(id).MyDeposit); dep != 700 {
		t.Fatalf("deposit %d after the top-up, want 700", dep)
	}
}
