package apps_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/holiman/uint256"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tinypay/tinypay/apps"
	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node"
	"github.com/tinypay/tinypay/node/nodetest"
	"github.com/tinypay/tinypay/settlement/evm/evmtest"
)

func u256(v uint64) *uint256.Int { return uint256.NewInt(v) }

// pair starts alice and bob on one simulated chain with a USD channel from
// alice holding deposit.
func pair(t *testing.T, deposit uint64) (alice, bob *nodetest.Node, id channel.ID) {
	chain := evmtest.NewChain(t)
	alice, bob = nodetest.Start(t, chain, "alice", chain.Alice), nodetest.Start(t, chain, "bob", chain.Bob)
	return alice, bob, alice.OpenUSD(bob, deposit)
}

func checkReceipt(t *testing.T, payee *nodetest.Node, p node.PaymentInfo, payer crypto.Address) {
	t.Helper()
	if p.Receipt == nil {
		t.Fatalf("payment %x has no receipt", p.ID[:4])
	}
	info := payee.N().Info()
	dom := crypto.NewDomain(info.ChainID, info.Adjudicator)
	f := crypto.ReceiptFields{Channel: p.Channel, Payment: p.ID, Payer: payer, Payee: payee.Key.Address(), Amount: p.Amount, Asset: payee.USD,
		Cumulative: p.Cumulative, ItemID: p.ItemID, Offer: p.OfferID, Time: p.Receipt.Time}
	if err := crypto.Verify(dom.ReceiptDigest(&f), p.Receipt.Sig, payee.Key.Address()); err != nil {
		t.Fatalf("receipt does not verify: %v", err)
	}
}

func received(t *testing.T, n *nodetest.Node, id channel.ID) uint64 {
	r := n.Channel(id).Received
	return r.Uint64()
}

func TestOffersAndReceipts(t *testing.T) {
	alice, bob, id := pair(t, 1000)
	ctx := context.Background()
	a, b := alice.Apps(), bob.Apps()

	// A payment for an item comes back with the payee's receipt.
	p, err := a.Pay(ctx, apps.PayRequest{Channel: id, Amount: *u256(3), Key: "k1", ItemID: "song-1", Memo: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	checkReceipt(t, bob, p, alice.Key.Address())
	// It is kept: listing the payment later shows it too.
	pays, _, err := alice.N().Payments(0, 10, id)
	if err != nil || len(pays) != 1 {
		t.Fatalf("payments: %v %v", pays, err)
	}
	checkReceipt(t, bob, pays[0], alice.Key.Address())
	// A plain payment asks for none.
	if p := alice.Pay(id, 1, "plain"); p.Receipt != nil {
		t.Fatal("receipt without asking")
	}

	offer, err := b.CreateOffer("article-9", bob.USD, *u256(25), time.Minute, apps.Once)
	if err != nil {
		t.Fatal(err)
	}
	p, err = a.Pay(ctx, apps.PayRequest{Offer: &offer})
	if err != nil {
		t.Fatal(err)
	}
	if p.Amount.Uint64() != 25 || p.ItemID != "article-9" || p.OfferID != offer.ID {
		t.Fatalf("offer payment %+v", p)
	}
	checkReceipt(t, bob, p, alice.Key.Address())
	before := received(t, bob, id)

	expired, _ := b.CreateOffer("article-10", bob.USD, *u256(5), time.Second, apps.Once)
	expired.Expiry -= 10
	f := crypto.OfferFields{Offer: expired.ID, Payee: expired.Payee, ItemID: expired.ItemID, Asset: expired.Asset, Price: expired.Price, Expiry: expired.Expiry}
	expired.Sig, _ = bob.Key.Sign(crypto.NewDomain(expired.ChainID, expired.Adjudicator).OfferDigest(&f))
	altered := offer
	altered.ID = crypto.Hash{9}
	altered.Price = *u256(1)
	foreign, _ := a.CreateOffer("x", alice.USD, *u256(5), time.Minute, apps.Once) // alice's own
	for _, tc := range []struct {
		name string
		req  apps.PayRequest
		want error
	}{
		{"paid twice", apps.PayRequest{Offer: &offer}, apps.ErrOfferPaid},
		{"paid twice with the key", apps.PayRequest{Offer: &offer, Key: apps.OfferKey(offer.ID)}, apps.ErrOfferPaid},
		{"expired", apps.PayRequest{Offer: &expired}, apps.ErrOfferExpired},
		{"altered", apps.PayRequest{Offer: &altered}, apps.ErrBadOffer},
		{"other amount", apps.PayRequest{Offer: &offer, Amount: *u256(24)}, node.ErrInvalidArgument},
		{"other item", apps.PayRequest{Offer: &offer, ItemID: "article-8"}, node.ErrInvalidArgument},
		{"an offer nobody can be paid for here", apps.PayRequest{Offer: &foreign}, node.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := a.Pay(ctx, tc.req); !errors.Is(err, tc.want) {
				t.Fatalf("Pay = %v, want %v", err, tc.want)
			}
		})
	}
	var paid *apps.OfferPaidError
	if _, err := a.Pay(ctx, apps.PayRequest{Offer: &offer}); !errors.As(err, &paid) || paid.Payment.ID != p.ID || paid.Payment.Receipt == nil {
		t.Fatalf("a repeated offer payment: %v, want the first payment with its receipt", err)
	}
	if got := received(t, bob, id); got != before {
		t.Fatalf("refused offers moved money: %d -> %d", before, got)
	}
}

func TestStreamBudgetAndMeter(t *testing.T) {
	alice, bob, id := pair(t, 1000)
	a, b := alice.Apps(), bob.Apps()
	st, err := a.StartStream(context.Background(), apps.StreamRequest{Channel: id, Rate: *u256(100), Tick: 100 * time.Millisecond, Budget: *u256(50), ItemID: "radio"})
	if err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, "the stream spends its budget", func() bool {
		s, _ := a.Stream(st.ID)
		return s.Status == "ended"
	})
	s, _ := a.Stream(st.ID)
	if s.EndReason != apps.EndBudget || s.Paid.Uint64() != 50 || s.Ticks != 5 {
		t.Fatalf("payer's stream %+v", s)
	}
	nodetest.Eventually(t, "bob's meter ends it", func() bool {
		s, err := b.Stream(st.ID)
		return err == nil && s.Status == "ended" && s.Paid.Uint64() == 50
	})
	got, _ := b.Stream(st.ID)
	if got.EndReason != apps.EndBudget || got.ItemID != "radio" || got.Rate.Uint64() != 100 || got.Outgoing || got.Asset.Symbol != "USD" {
		t.Fatalf("payee's stream %+v", got)
	}
	if r := received(t, bob, id); r != 50 {
		t.Fatalf("bob received %d", r)
	}
	rows, err := b.Revenue(time.Time{}, time.Time{}, "stream")
	if err != nil || len(rows) != 1 || rows[0].Amount.Uint64() != 50 || rows[0].Payments != 5 {
		t.Fatalf("revenue by stream %+v %v", rows, err)
	}
}

// TestStreamReceiptsEverySixtyTicks: a stream's first tick and every
// 60th after it ask the payee for a signed receipt, and no other does
// (signing and checking one per tick would double a tick's cost); each
// receipt it gets is the payee's.
func TestStreamReceiptsEverySixtyTicks(t *testing.T) {
	alice, bob, id := pair(t, 1000)
	a := alice.Apps()
	st, err := a.StartStream(context.Background(), apps.StreamRequest{Channel: id, Rate: *u256(10), Tick: apps.MinTick, Budget: *u256(62)})
	if err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, "the stream spends its budget", func() bool {
		s, _ := a.Stream(st.ID)
		return s.Status == "ended"
	})
	pays, _, err := alice.N().Payments(0, 100, id)
	if err != nil || len(pays) != 62 {
		t.Fatalf("%d payments (%v), want 62 ticks", len(pays), err)
	}
	var with []int
	for i, p := range pays {
		if p.Receipt != nil {
			with = append(with, i+1)
			checkReceipt(t, bob, p, alice.Key.Address())
		}
	}
	if !slices.Equal(with, []int{1, 61}) {
		t.Fatalf("ticks with a receipt %v, want [1 61]", with)
	}
}

// TestStreamStopStallRestart: a stream stopped by either side; the payer
// restarts mid-stream, the payee sees it stall and resume, no tick is paid
// twice, and the stream keeps its asset across restarts on both sides.
func TestStreamStopStallRestart(t *testing.T) {
	alice, bob, id := pair(t, 100_000)
	ctx := context.Background()

	// Stopped by the payee.
	s1, err := alice.Apps().StartStream(ctx, apps.StreamRequest{Channel: id, Rate: *u256(10), Tick: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, "bob meters s1", func() bool { s, err := bob.Apps().Stream(s1.ID); return err == nil && s.Ticks >= 2 })
	if _, err := bob.Apps().StopStream(s1.ID, apps.TokenID{}); err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, "alice stops s1", func() bool { s, _ := alice.Apps().Stream(s1.ID); return s.EndReason == apps.EndByPayee })

	s2, err := alice.Apps().StartStream(ctx, apps.StreamRequest{Channel: id, Rate: *u256(10), Tick: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, "bob meters s2", func() bool {
		s, err := bob.Apps().Stream(s2.ID)
		return err == nil && s.Status == "live" && s.Ticks >= 2
	})
	// The metrics count s2 live on both sides (s1 ended).
	wantStreams(t, "bob", bob.Apps(), 1, 0, 0)
	wantStreams(t, "alice", alice.Apps(), 0, 0, 1)
	// The payer restarts: the stream stalls at bob, then resumes.
	alice.Stop()
	nodetest.Eventually(t, "bob sees s2 stall", func() bool { s, _ := bob.Apps().Stream(s2.ID); return s.Status == "stalled" })
	wantStreams(t, "bob", bob.Apps(), 0, 1, 0)
	alice.Restart() // it redials bob by itself
	nodetest.Eventually(t, "s2 resumes", func() bool { s, _ := bob.Apps().Stream(s2.ID); return s.Status == "live" })
	if s, _ := alice.Apps().Stream(s2.ID); s.Asset.Symbol != "USD" || s.Asset.Address != alice.USD || s.Asset.Decimals != 6 {
		t.Fatalf("the payer's stream lost its asset in the restart: %+v", s.Asset)
	}
	bob.Restart()
	if s, _ := bob.Apps().Stream(s2.ID); s.Asset.Symbol != "USD" || s.Asset.Address != bob.USD || s.Asset.Decimals != 6 {
		t.Fatalf("the payee's stream lost its asset in the restart: %+v", s.Asset)
	}
	nodetest.Eventually(t, "s2 goes on after bob's restart", func() bool { s, _ := bob.Apps().Stream(s2.ID); return s.Status == "live" })
	if _, err := alice.Apps().StopStream(s2.ID, apps.TokenID{}); err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, "both sides agree", func() bool {
		a, _ := alice.Apps().Stream(s2.ID)
		b, _ := bob.Apps().Stream(s2.ID)
		return b.EndReason == apps.EndByPayer && a.Paid.Eq(&b.Paid) && a.Ticks == b.Ticks
	})
	wantStreams(t, "bob", bob.Apps(), 0, 0, 0)
	wantStreams(t, "alice", alice.Apps(), 0, 0, 0)
	// Every tick was paid once: its key is unique, and the total matches.
	b, _ := bob.Apps().Stream(s2.ID)
	pays, _, err := bob.N().Payments(0, 1000, id)
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
	alice, bob, id := pair(t, 35)
	st, err := alice.Apps().StartStream(context.Background(), apps.StreamRequest{Channel: id, Rate: *u256(100), Tick: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, "the stream ends", func() bool { s, _ := alice.Apps().Stream(st.ID); return s.Status == "ended" })
	s, _ := alice.Apps().Stream(st.ID)
	if s.EndReason != apps.EndBalance || s.Paid.Uint64() != 30 {
		t.Fatalf("stream %+v", s)
	}
	nodetest.Eventually(t, "bob hears why", func() bool { s, _ := bob.Apps().Stream(st.ID); return s.EndReason == apps.EndBalance })
}

func TestStreamRejects(t *testing.T) {
	alice, _, id := pair(t, 1000)
	for _, tc := range []struct {
		name string
		req  apps.StreamRequest
	}{
		{"zero rate", apps.StreamRequest{Channel: id, Tick: time.Second}},
		{"tick too short", apps.StreamRequest{Channel: id, Rate: *u256(10), Tick: time.Millisecond}},
		{"pays nothing per tick", apps.StreamRequest{Channel: id, Rate: *u256(1), Tick: 100 * time.Millisecond}},
	} {
		if _, err := alice.Apps().StartStream(context.Background(), tc.req); !errors.Is(err, node.ErrInvalidArgument) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if _, err := alice.Apps().StopStream([16]byte{1}, apps.TokenID{}); !errors.Is(err, node.ErrNotFound) {
		t.Errorf("stop unknown: %v", err)
	}
	// A stream's tick keys are the node's: a payment that takes one first
	// (so that the tick would be a duplicate) is refused, and pays nothing.
	s, err := alice.Apps().StartStream(context.Background(), apps.StreamRequest{Channel: id, Rate: *u256(10), Tick: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	// Its first tick is paid at once, off this goroutine: wait for it, or
	// it could move the nonce between the two reads below.
	nodetest.Eventually(t, "the first tick is paid", func() bool { c, _ := alice.N().Channel(id); return c.SentNonce == 1 })
	before, _ := alice.N().Channel(id)
	_, err = alice.Apps().Pay(context.Background(), apps.PayRequest{Channel: id, Amount: *u256(1), Key: fmt.Sprintf("stream:%x:2", s.ID)})
	if !errors.Is(err, node.ErrInvalidArgument) || !strings.Contains(err.Error(), "kept for the node's streams") {
		t.Errorf("a payment with a stream's key: %v, want ErrInvalidArgument", err)
	}
	if after, _ := alice.N().Channel(id); after.SentNonce != before.SentNonce {
		t.Errorf("the refused payment moved the channel from nonce %d to %d", before.SentNonce, after.SentNonce)
	}
}

func TestAppTokenLimits(t *testing.T) {
	chain := evmtest.NewChain(t)
	alice, bob, carol := nodetest.Start(t, chain, "alice", chain.Alice), nodetest.Start(t, chain, "bob", chain.Bob), nodetest.Start(t, chain, "carol", chain.Carol)
	toBob := alice.OpenUSD(bob, 1000)
	toCarol := alice.OpenUSD(carol, 1000)
	ctx := context.Background()
	a := alice.Apps()
	tok, secret, err := a.CreateToken(ctx, "shop", apps.TokenPolicy{Asset: alice.USD, Limit: *u256(100), Period: time.Hour,
		Payees: map[crypto.Address]uint256.Int{bob.Key.Address(): *u256(80)}})
	if err != nil {
		t.Fatal(err)
	}
	if id, kind, ok := a.Authenticate(secret); !ok || id != tok.ID || kind != apps.KindApp {
		t.Fatal("secret does not authenticate")
	}
	if _, _, ok := a.Authenticate(secret + "x"); ok {
		t.Fatal("a wrong secret authenticates")
	}
	pay := func(ch [32]byte, amount uint64, key string) error {
		_, err := alice.Apps().Pay(ctx, apps.PayRequest{Channel: ch, Amount: *u256(amount), Key: key, Token: tok.ID})
		return err
	}
	if err := pay(toBob, 60, "a"); err != nil {
		t.Fatal(err)
	}
	if err := pay(toBob, 21, "b"); !errors.Is(err, apps.ErrSpendLimit) || !strings.Contains(err.Error(), "0.00008 USD per 1h0m0s") {
		t.Fatalf("over the payee limit: %v (want the limit in USD)", err)
	}
	if err := pay(toCarol, 1, "c"); !errors.Is(err, apps.ErrForbidden) {
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
	alice.Restart()
	if toks := alice.Apps().Tokens(); len(toks) != 1 || toks[0].Spent.Uint64() != 80 {
		t.Fatalf("tokens after restart: %+v", toks)
	}
	nodetest.Eventually(t, "alice reconnects", func() bool { return alice.Channel(toBob).Connected })
	if err := pay(toBob, 1, "f"); !errors.Is(err, apps.ErrSpendLimit) || !strings.Contains(err.Error(), "0.00008 USD per 1h0m0s") {
		t.Fatalf("after restart, over the limit: %v (want amounts in USD)", err)
	}
	// Revoked: nothing more, and the secret no longer authenticates.
	if _, err := alice.Apps().RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := alice.Apps().Authenticate(secret); ok {
		t.Fatal("revoked secret authenticates")
	}
	if err := pay(toBob, 1, "g"); !errors.Is(err, apps.ErrForbidden) {
		t.Fatalf("revoked: %v", err)
	}
	// Limits apply to streams too.
	tok2, _, err := alice.Apps().CreateToken(ctx, "radio", apps.TokenPolicy{Asset: alice.USD, Limit: *u256(30), Period: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	st, err := alice.Apps().StartStream(ctx, apps.StreamRequest{Channel: toBob, Rate: *u256(100), Tick: 100 * time.Millisecond, Token: tok2.ID})
	if err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, "the limit ends the stream", func() bool { s, _ := alice.Apps().Stream(st.ID); return s.EndReason == apps.EndSpendLimit })
	if s, _ := alice.Apps().Stream(st.ID); s.Paid.Uint64() != 30 {
		t.Fatalf("stream paid %s under a limit of 30", s.Paid.Dec())
	}
}

func TestRevenue(t *testing.T) {
	alice, bob, id := pair(t, 1000)
	start := time.Now()
	for i := range 6 {
		if _, err := alice.Apps().Pay(context.Background(), apps.PayRequest{Channel: id, Amount: *u256(uint64(i + 1)), Key: fmt.Sprint(i), ItemID: fmt.Sprint("item-", i%2)}); err != nil {
			t.Fatal(err)
		}
	}
	mid := time.Now()
	alice.Pay(id, 100, "late")
	rows, err := bob.Apps().Revenue(time.Time{}, time.Time{}, "item")
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
	rows, err = bob.Apps().Revenue(start, mid, "channel")
	if err != nil || len(rows) != 1 || rows[0].Amount.Uint64() != 21 || rows[0].Payments != 6 {
		t.Fatalf("by channel in range %+v %v", rows, err)
	}
	if _, err := bob.Apps().Revenue(mid, start, "channel"); !errors.Is(err, node.ErrInvalidArgument) {
		t.Fatalf("empty range: %v", err)
	}
	if _, err := bob.Apps().Revenue(time.Time{}, time.Time{}, "color"); !errors.Is(err, node.ErrInvalidArgument) {
		t.Fatalf("bad group: %v", err)
	}
	// Nothing for the payer: revenue is what came in.
	if rows, _ := alice.Apps().Revenue(time.Time{}, time.Time{}, "channel"); len(rows) != 0 {
		t.Fatalf("alice's revenue %+v", rows)
	}
}

// TestRevenueBuckets: by asset and per hour or day, the rows add up, per
// bucket, the payments whose times fall in it (as the payee's log has
// them), in time order; bad buckets, zones and ranges are refused.
func TestRevenueBuckets(t *testing.T) {
	alice, bob, id := pair(t, 1000)
	start := time.Now().Add(-time.Minute)
	for i := range 5 {
		if _, err := alice.Apps().Pay(context.Background(), apps.PayRequest{Channel: id, Amount: *u256(uint64(10 * (i + 1))), Key: fmt.Sprint(i), ItemID: fmt.Sprint("item-", i%2)}); err != nil {
			t.Fatal(err)
		}
	}
	pays, _, err := bob.N().Payments(0, 100, id)
	if err != nil {
		t.Fatal(err)
	}
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Skipf("no time zone data: %v", err)
	}
	for _, tc := range []struct {
		bucket string
		loc    *time.Location
		start  func(time.Time) time.Time
	}{
		{"hour", nil, func(v time.Time) time.Time { return v.UTC().Truncate(time.Hour) }},
		{"day", nil, func(v time.Time) time.Time {
			y, m, d := v.UTC().Date()
			return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		}},
		{"day", kolkata, func(v time.Time) time.Time {
			y, m, d := v.In(kolkata).Date()
			return time.Date(y, m, d, 0, 0, 0, 0, kolkata)
		}},
	} {
		want := map[int64]uint64{}
		for _, p := range pays {
			if !p.Outgoing {
				want[tc.start(p.Time).UnixNano()] += p.Amount.Uint64()
			}
		}
		rows, err := bob.Apps().RevenueBy(apps.RevenueQuery{From: start, GroupBy: "asset", Bucket: tc.bucket, Location: tc.loc})
		if err != nil {
			t.Fatal(err)
		}
		got := map[int64]uint64{}
		var total uint64
		for i, r := range rows {
			if r.Key != "USD" || r.Asset.Symbol != "USD" {
				t.Errorf("%s: row key %q asset %q, want USD", tc.bucket, r.Key, r.Asset.Symbol)
			}
			if i > 0 && !rows[i-1].Bucket.Before(r.Bucket) {
				t.Errorf("%s: rows out of time order: %v then %v", tc.bucket, rows[i-1].Bucket, r.Bucket)
			}
			got[r.Bucket.UnixNano()] = r.Amount.Uint64()
			total += r.Amount.Uint64()
		}
		if !maps.Equal(got, want) || total != 150 {
			t.Errorf("per %s in %v: %v (total %d), want %v (total 150)", tc.bucket, tc.loc, got, total, want)
		}
	}
	// By item and per hour: a row per item and hour.
	rows, err := bob.Apps().RevenueBy(apps.RevenueQuery{From: start, GroupBy: "item", Bucket: "hour"})
	if err != nil {
		t.Fatal(err)
	}
	items := map[string]uint64{}
	for _, r := range rows {
		items[r.Key] += r.Amount.Uint64()
	}
	if items["item-0"] != 10+30+50 || items["item-1"] != 20+40 {
		t.Fatalf("by item per hour: %v", items)
	}
	// Refusals: each is an invalid argument.
	for _, q := range []apps.RevenueQuery{
		{GroupBy: "asset", Bucket: "hour"},                              // no start
		{From: start, Bucket: "week"},                                   // not a bucket
		{From: start, Location: kolkata},                                // a zone without a bucket
		{From: time.Now().Add(-10_001 * time.Hour), Bucket: "hour"},     // more than 10,000 hours
		{From: time.Now().Add(-10_001 * 24 * time.Hour), Bucket: "day"}, // more than 10,000 days
		{From: start, To: start.Add(-time.Second), Bucket: "day"},       // an empty range
		{From: start, GroupBy: "colour", Bucket: "day"},                 // not a group
	} {
		if _, err := bob.Apps().RevenueBy(q); !errors.Is(err, node.ErrInvalidArgument) {
			t.Errorf("%+v: %v, want an invalid argument", q, err)
		}
	}
	// Exactly 10,000 hours is allowed.
	if _, err := bob.Apps().RevenueBy(apps.RevenueQuery{From: time.Now().Add(-9_999 * time.Hour), Bucket: "hour"}); err != nil {
		t.Fatalf("a range of under 10,000 hours: %v", err)
	}
}

// TestStreamAutoTopUp: a stream that asked for a top-up deposits once when
// the channel runs low, and keeps paying past the first deposit.
func TestStreamAutoTopUp(t *testing.T) {
	alice, _, id := pair(t, 200)
	// 100 per tick: the first deposit covers two ticks, the budget four.
	st, err := alice.Apps().StartStream(context.Background(), apps.StreamRequest{Channel: id, Rate: *u256(1000), Tick: 100 * time.Millisecond,
		Budget: *u256(400), AutoTopup: *u256(500)})
	if err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, "the stream spends its budget", func() bool { s, _ := alice.Apps().Stream(st.ID); return s.Status == "ended" })
	s, _ := alice.Apps().Stream(st.ID)
	if s.EndReason != apps.EndBudget || s.Paid.Uint64() != 400 {
		t.Fatalf("stream %+v: want the budget of 400 paid, past the first deposit of 200", s)
	}
	if dep := alice.Channel(id).MyDeposit; dep.Uint64() != 700 {
		t.Fatalf("deposit %s after the top-up, want 700", dep.Dec())
	}
}

// wantStreams checks tinypay_streams as a's collector exports them: live
// and stalled incoming streams, live outgoing ones (none is ever stalled).
func wantStreams(t *testing.T, who string, a *apps.Apps, inLive, inStalled, outLive float64) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(a.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var k []string
			for _, l := range m.GetLabel() {
				k = append(k, l.GetValue())
			}
			got[mf.GetName()+"/"+strings.Join(k, "/")] = m.GetGauge().GetValue()
		}
	}
	want := map[string]float64{
		"tinypay_streams/incoming/live": inLive, "tinypay_streams/incoming/stalled": inStalled,
		"tinypay_streams/outgoing/live": outLive, "tinypay_streams/outgoing/stalled": 0,
	}
	if !maps.Equal(got, want) {
		t.Fatalf("%s's stream metrics %v, want %v", who, got, want)
	}
}

// TestViewToken: a view token authenticates as a view token, pays nothing
// (the app layer refuses it even if a caller let it try), has no policy,
// and stays a view token after a restart.
func TestViewToken(t *testing.T) {
	chain := evmtest.NewChain(t)
	alice, bob := nodetest.Start(t, chain, "alice", chain.Alice), nodetest.Start(t, chain, "bob", chain.Bob)
	toBob := alice.OpenUSD(bob, 1000)
	ctx := context.Background()
	if _, _, err := alice.Apps().CreateViewToken(ctx, strings.Repeat("x", 101)); err == nil {
		t.Fatal("a 101-byte name was taken")
	}
	tok, secret, err := alice.Apps().CreateViewToken(ctx, "accountant")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "tpview_") || tok.Kind != apps.KindView {
		t.Fatalf("view token %+v, secret %.7s", tok, secret)
	}
	for _, restart := range []bool{false, true} {
		if restart {
			alice.Restart()
			nodetest.Eventually(t, "alice reconnects", func() bool { return alice.Channel(toBob).Connected })
		}
		id, kind, ok := alice.Apps().Authenticate(secret)
		if !ok || id != tok.ID || kind != apps.KindView {
			t.Fatalf("restart %v: authenticate: %v %v %v", restart, id, kind, ok)
		}
		_, err := alice.Apps().Pay(ctx, apps.PayRequest{Channel: toBob, Amount: *u256(1), Key: fmt.Sprint("view-", restart), Token: tok.ID})
		if !errors.Is(err, apps.ErrForbidden) {
			t.Fatalf("restart %v: a view token paid: %v", restart, err)
		}
		if toks := alice.Apps().Tokens(); len(toks) != 1 || toks[0].Kind != apps.KindView || toks[0].Name != "accountant" {
			t.Fatalf("restart %v: tokens %+v", restart, toks)
		}
		if c := alice.Channel(toBob); !c.Sent.IsZero() {
			t.Fatalf("restart %v: the channel sent %s", restart, c.Sent.Dec())
		}
	}
}

// TestRevenueMerge: by identity, a node's rows carry its address; merging
// several identities' rows sums the same key, asset and bucket (the same
// payer or item across identities), keeps the others apart, orders them
// as RevenueBy does, and refuses a sum that overflows.
func TestRevenueMerge(t *testing.T) {
	alice, bob, id := pair(t, 1000)
	for i := range 3 {
		if _, err := alice.Apps().Pay(context.Background(), apps.PayRequest{Channel: id, Amount: *u256(uint64(i + 1)), Key: fmt.Sprint(i), ItemID: "song"}); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := bob.Apps().Revenue(time.Time{}, time.Time{}, "identity")
	if err != nil || len(rows) != 1 || rows[0].Key != bob.N().Address().Hex() || rows[0].Amount.Uint64() != 6 || rows[0].Payments != 3 {
		t.Fatalf("by identity: %+v %v", rows, err)
	}
	usd := rows[0].Asset
	eth := node.ETH
	day := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	row := func(k string, a node.Asset, n, amt uint64, b time.Time) apps.RevenueRow {
		return apps.RevenueRow{Key: k, Asset: a, Payments: n, Amount: *u256(amt), Bucket: b}
	}
	got, err := apps.MergeRevenue(
		[]apps.RevenueRow{row("song", usd, 3, 6, time.Time{}), row("film", usd, 1, 50, time.Time{}), row("song", eth, 1, 7, time.Time{})},
		[]apps.RevenueRow{row("song", usd, 2, 40, time.Time{}), row("song", usd, 1, 1, day)},
		nil,
	)
	if err != nil {
		t.Fatal(err)
	}
	// Unbucketed first, then by amount, largest first.
	want := []string{"film USD 1 50", "song USD 5 46", "song ETH 1 7", "song USD 1 1"}
	if len(got) != len(want) {
		t.Fatalf("merged %+v", got)
	}
	for i, r := range got {
		if s := fmt.Sprintf("%s %s %d %d", r.Key, r.Asset.Symbol, r.Payments, r.Amount.Uint64()); s != want[i] {
			t.Fatalf("row %d is %q, want %q (all: %+v)", i, s, want[i], got)
		}
	}
	var most uint256.Int
	most.SetAllOne()
	big := apps.RevenueRow{Key: "song", Asset: usd, Payments: 1, Amount: most}
	if _, err := apps.MergeRevenue([]apps.RevenueRow{big}, []apps.RevenueRow{row("song", usd, 1, 1, time.Time{})}); !errors.Is(err, node.ErrInvalidArgument) {
		t.Fatalf("an overflowing total: %v", err)
	}
}
