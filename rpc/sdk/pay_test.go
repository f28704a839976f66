package sdk_test

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holiman/uint256"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tinypay/tinypay/node/nodetest"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/sdk"
)

// received returns what the payee has received on a channel so far.
func received(t *testing.T, payee *sdk.Client, channel string) uint64 {
	t.Helper()
	ch, err := payee.Channel(testCtx(t), channel)
	if err != nil {
		t.Fatal(err)
	}
	return ch.Received.Uint64()
}

func TestPayReceipt(t *testing.T) {
	ctx := testCtx(t)
	a := dial(t, sdk.Config{DataDir: aliceDir})
	p, err := a.Pay(ctx, sdk.PayRequest{Peer: bobAddr, AmountText: "0.0025 USD", ItemID: "article-1", Memo: "thanks"})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Complete || !p.Outgoing || p.Amount.Uint64() != 2500 || p.Channel != aliceBob || p.ItemID != "article-1" ||
		p.Memo != "thanks" || p.Key == "" || p.Seq == 0 || p.Time.IsZero() || p.Receipt == nil {
		t.Fatalf("payment %+v", p)
	}
	want := sdk.Expect{
		Payee: bobAddr, Payer: alice.Key.Address().Hex(), Amount: uint256.NewInt(2500), ItemID: "article-1",
		Channel: aliceBob, ChainID: p.Receipt.GetChainId(), Adjudicator: p.Receipt.GetAdjudicator(),
	}
	if err := sdk.VerifyReceipt(p.Receipt, want); err != nil {
		t.Fatal(err)
	}
	// A receipt travels as text and comes back the same.
	back, err := sdk.DecodeReceipt(sdk.EncodeReceipt(p.Receipt))
	if err != nil {
		t.Fatal(err)
	}
	if err := sdk.VerifyReceipt(back, want); err != nil {
		t.Fatal(err)
	}
	// Without an item or Receipt, no receipt is asked for.
	q, err := a.Pay(ctx, sdk.PayRequest{Channel: aliceBob, Amount: uint256.NewInt(1)})
	if err != nil || q.Receipt != nil {
		t.Fatalf("plain payment %+v, %v", q, err)
	}
	if err := sdk.VerifyReceipt(q.Receipt, sdk.Expect{}); !errors.Is(err, sdk.ErrInvalidReceipt) {
		t.Fatalf("no receipt verifies: %v", err)
	}
}

// A retried payment pays once, whether the retries are sequential or
// concurrent; the payee's channel total is the proof.
func TestPayIdempotent(t *testing.T) {
	ctx := testCtx(t)
	a, b := dial(t, sdk.Config{DataDir: aliceDir}), dial(t, sdk.Config{DataDir: bobDir})
	before := received(t, b, aliceBob)

	req := sdk.PayRequest{Channel: aliceBob, Amount: uint256.NewInt(7), Key: "order-" + t.Name() + time.Now().String(), Memo: "once"}
	first, err := a.Pay(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	ids := make([]string, 8)
	errs := make([]error, 8)
	for i := range ids {
		wg.Go(func() {
			p, err := a.Pay(ctx, req)
			errs[i] = err
			if err == nil {
				ids[i] = p.ID
			}
		})
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil || ids[i] != first.ID {
			t.Fatalf("retry %d: %s, %v; want payment %s", i, ids[i], errs[i], first.ID)
		}
	}
	if got := received(t, b, aliceBob) - before; got != 7 {
		t.Fatalf("bob received %d, want 7 once", got)
	}

	// The same key for another payment is refused, and the error says
	// which key.
	other := req
	other.Amount = uint256.NewInt(8)
	_, err = a.Pay(ctx, other)
	var pe *sdk.PayError
	if !errors.Is(err, sdk.ErrAlreadyExists) || !errors.As(err, &pe) || pe.Key != req.Key || status.Code(err) != codes.AlreadyExists {
		t.Fatalf("key reused for another amount: %v", err)
	}

	// A key Pay made up works for a retry too.
	gen, err := a.Pay(ctx, sdk.PayRequest{Channel: aliceBob, Amount: uint256.NewInt(5)})
	if err != nil {
		t.Fatal(err)
	}
	again, err := a.Pay(ctx, sdk.PayRequest{Channel: aliceBob, Amount: uint256.NewInt(5), Key: gen.Key})
	if err != nil || again.ID != gen.ID {
		t.Fatalf("retry with the made-up key: %+v, %v", again, err)
	}
	if got := received(t, b, aliceBob) - before; got != 12 {
		t.Fatalf("bob received %d, want 12", got)
	}
}

func TestPayErrors(t *testing.T) {
	a := dial(t, sdk.Config{DataDir: aliceDir})
	for _, tc := range []struct {
		name string
		req  sdk.PayRequest
		want error
	}{
		// Two amounts: which one?
		{"amount and text", sdk.PayRequest{Channel: aliceBob, Amount: uint256.NewInt(1), AmountText: "1 USD"}, sdk.ErrInvalidArgument},
		// No amount at all.
		{"no amount", sdk.PayRequest{Channel: aliceBob}, sdk.ErrInvalidArgument},
		// An asset the node does not know.
		{"unknown asset", sdk.PayRequest{Peer: bobAddr, AmountText: "1 XYZ"}, sdk.ErrInvalidArgument},
		// Below the asset's smallest unit.
		{"too precise", sdk.PayRequest{Peer: bobAddr, AmountText: "0.0000001 USD"}, sdk.ErrInvalidArgument},
		// AmountText and Asset disagree.
		{"asset mismatch", sdk.PayRequest{Peer: bobAddr, Asset: "ETH", AmountText: "1 USD"}, sdk.ErrInvalidArgument},
		// Nothing to pay.
		{"zero", sdk.PayRequest{Channel: aliceBob, Amount: uint256.NewInt(0)}, sdk.ErrInvalidArgument},
		// More than the channel holds.
		{"insufficient balance", sdk.PayRequest{Channel: aliceBob, Amount: uint256.NewInt(1_000_000_000)}, sdk.ErrRefused},
		// No channel with that peer.
		{"no channel", sdk.PayRequest{Peer: chain.Mallory.Address().Hex(), Amount: uint256.NewInt(1)}, sdk.ErrNotFound},
		// Not a channel id.
		{"bad channel id", sdk.PayRequest{Channel: "0x12", Amount: uint256.NewInt(1)}, sdk.ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := a.Pay(testCtx(t), tc.req)
			t.Log(err)
			var pe *sdk.PayError
			if !errors.Is(err, tc.want) || !errors.As(err, &pe) || pe.Key == "" {
				t.Fatalf("error %v: want %v in a PayError with a key", err, tc.want)
			}
		})
	}
}

func TestPayMany(t *testing.T) {
	ctx := testCtx(t)
	a, b := dial(t, sdk.Config{DataDir: aliceDir}), dial(t, sdk.Config{DataDir: bobDir})
	before := received(t, b, aliceBob)
	const n = 300
	reqs := make([]sdk.PayRequest, n)
	var sum uint64
	for i := range reqs {
		reqs[i] = sdk.PayRequest{Channel: aliceBob, Amount: uint256.NewInt(uint64(1 + i%5)), Memo: fmt.Sprint("tick ", i)}
		sum += uint64(1 + i%5)
	}
	seen := make([]int, n)
	keys := map[string]bool{}
	err := a.PayMany(ctx, reqs, sdk.PayManyOptions{MaxInFlight: 32}, func(r sdk.PayResult) error {
		seen[r.Index]++
		if r.Err != nil {
			return fmt.Errorf("request %d: %w", r.Index, r.Err)
		}
		if !r.Payment.Complete || r.Payment.Key != r.Key || r.Payment.Amount.Uint64() != uint64(1+r.Index%5) || r.Payment.Memo != fmt.Sprint("tick ", r.Index) {
			return fmt.Errorf("request %d: payment %+v", r.Index, r.Payment)
		}
		keys[r.Key] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range seen {
		if s != 1 {
			t.Fatalf("request %d answered %d times", i, s)
		}
	}
	if len(keys) != n {
		t.Fatalf("%d distinct keys for %d payments", len(keys), n)
	}
	if got := received(t, b, aliceBob) - before; got != sum {
		t.Fatalf("bob received %d, want %d", got, sum)
	}

	// Results that fail come back as results; the others still pay.
	mixed := []sdk.PayRequest{
		{Channel: aliceBob, Amount: uint256.NewInt(1)},
		{Channel: aliceBob, Amount: uint256.NewInt(1_000_000_000)}, // more than the channel holds
		{Channel: aliceBob, Amount: uint256.NewInt(2)},
	}
	var failed []int
	if err := a.PayMany(ctx, mixed, sdk.PayManyOptions{}, func(r sdk.PayResult) error {
		if r.Err != nil {
			if !errors.Is(r.Err, sdk.ErrRefused) {
				t.Errorf("request %d: %v", r.Index, r.Err)
			}
			failed = append(failed, r.Index)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(failed) != 1 || failed[0] != 1 {
		t.Fatalf("failed requests %v, want [1]", failed)
	}

	// A handler's error ends PayMany with that error. The keys PayMany
	// wrote into the requests let the caller finish the job: each payment
	// is made exactly once.
	batch := make([]sdk.PayRequest, 50)
	for i := range batch {
		batch[i] = sdk.PayRequest{Channel: aliceBob, Amount: uint256.NewInt(10)}
	}
	before = received(t, b, aliceBob)
	stop := errors.New("enough")
	if err := a.PayMany(ctx, batch, sdk.PayManyOptions{MaxInFlight: 4}, func(sdk.PayResult) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("handler error: %v", err)
	}
	for i, r := range batch {
		if r.Key == "" {
			t.Fatalf("request %d has no key after PayMany", i)
		}
	}
	if err := a.PayMany(ctx, batch, sdk.PayManyOptions{}, func(r sdk.PayResult) error { return r.Err }); err != nil {
		t.Fatal(err)
	}
	if got := received(t, b, aliceBob) - before; got != 500 {
		t.Fatalf("bob received %d for the batch, want 500", got)
	}
	// Keys are unique within a call.
	dup := []sdk.PayRequest{{Channel: aliceBob, Amount: uint256.NewInt(1), Key: "k"}, {Channel: aliceBob, Amount: uint256.NewInt(1), Key: "k"}}
	if err := a.PayMany(ctx, dup, sdk.PayManyOptions{}, func(sdk.PayResult) error { return nil }); !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Fatalf("duplicate keys: %v", err)
	}
}

func TestPayOffer(t *testing.T) {
	ctx := testCtx(t)
	a, b := dial(t, sdk.Config{DataDir: aliceDir}), dial(t, sdk.Config{DataDir: bobDir})
	price, err := b.ParseAmount(ctx, "0.01 USD")
	if err != nil {
		t.Fatal(err)
	}
	offer, err := b.CreateOffer(ctx, "article-42", price, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := sdk.VerifyOffer(offer); err != nil {
		t.Fatal(err)
	}
	header := sdk.EncodeOffer(offer)
	got, err := sdk.DecodeOffer(header)
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.PayOffer(ctx, got)
	if err != nil {
		t.Fatal(err)
	}
	if p.Amount.Uint64() != 10_000 || p.ItemID != "article-42" || p.OfferID != offer.GetOfferId() {
		t.Fatalf("payment %+v", p)
	}
	if err := sdk.VerifyReceipt(p.Receipt, sdk.Expect{Offer: offer}); err != nil {
		t.Fatal(err)
	}
	_, err = a.PayOffer(ctx, offer)
	var again *sdk.PayError
	if !errors.Is(err, sdk.ErrAlreadyExists) || !errors.As(err, &again) || again.First == nil || again.First.Receipt == nil {
		t.Fatalf("an offer paid twice: %v (want ErrAlreadyExists with the first payment and its receipt)", err)
	}
	if err := sdk.VerifyReceipt(again.First.Receipt, sdk.Expect{}); err != nil {
		t.Fatalf("the first payment's receipt, returned again: %v", err)
	}
	// The receipt of one offer is not the receipt of another.
	other, err := b.CreateOffer(ctx, "article-43", price, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := sdk.VerifyReceipt(p.Receipt, sdk.Expect{Offer: other}); !errors.Is(err, sdk.ErrReceiptMismatch) {
		t.Fatalf("receipt for another offer: %v", err)
	}
	// Offers go through PayMany too.
	third, err := b.CreateOffer(ctx, "article-44", price, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = a.PayMany(ctx, []sdk.PayRequest{{Offer: other}, {Offer: third}}, sdk.PayManyOptions{}, func(r sdk.PayResult) error {
		if r.Err != nil {
			return r.Err
		}
		n++
		return sdk.VerifyReceipt(r.Payment.Receipt, sdk.Expect{Payee: bobAddr, ItemID: []string{"article-43", "article-44"}[r.Index]})
	})
	if err != nil || n != 2 {
		t.Fatalf("offers in PayMany: %d paid, %v", n, err)
	}
	// A tampered offer is refused before anything is paid.
	tampered, _ := sdk.DecodeOffer(sdk.EncodeOffer(offer))
	tampered.Price = "1"
	if err := sdk.VerifyOffer(tampered); !errors.Is(err, sdk.ErrInvalidOffer) {
		t.Fatalf("tampered offer verifies: %v", err)
	}
	if _, err := a.PayOffer(ctx, tampered); !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Fatalf("tampered offer: %v", err)
	}
}

// TestPayReusableOffer: offers under each use policy through the SDK: a
// per-payer offer is paid once by this node (again: ErrAlreadyExists with
// the first payment); a limited one is bought once per PayOffer; the
// payee's OfferUses counts what it kept and what is left, and the policy
// survives the compact encoding and is signed. (A purchase beyond the
// uses is refused and refunded: apps and the CLI test that; here it would
// leave a refund in the channel the other tests share.)
func TestPayReusableOffer(t *testing.T) {
	ctx := testCtx(t)
	a, b := dial(t, sdk.Config{DataDir: aliceDir}), dial(t, sdk.Config{DataDir: bobDir})
	price, err := b.ParseAmount(ctx, "0.001 USD")
	if err != nil {
		t.Fatal(err)
	}
	pass, err := b.CreateOffer(ctx, "pass", price, time.Minute, sdk.OncePerPayer)
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := sdk.DecodeOffer(sdk.EncodeOffer(pass))
	if err != nil || decoded.GetUses() != apiv1.OfferUses_OFFER_USES_PER_PAYER {
		t.Fatalf("decoded per-payer offer %v %v", decoded, err)
	}
	first, err := a.PayOffer(ctx, decoded)
	if err != nil {
		t.Fatal(err)
	}
	if err := sdk.VerifyReceipt(first.Receipt, sdk.Expect{Offer: pass, Payer: alice.Key.Address().Hex()}); err != nil {
		t.Fatal(err)
	}
	var again *sdk.PayError
	if _, err := a.PayOffer(ctx, pass); !errors.As(err, &again) || !errors.Is(err, sdk.ErrAlreadyExists) || again.First == nil || again.First.ID != first.ID {
		t.Fatalf("a per-payer offer paid twice by one node: %v, want ErrAlreadyExists with the first payment", err)
	}

	seats, err := b.CreateOffer(ctx, "seat", price, time.Minute, sdk.UpTo(2))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := a.PayOffer(ctx, seats); err != nil {
			t.Fatalf("seat %d: %v", i, err)
		}
	}
	for _, tc := range []struct {
		offer *apiv1.Offer
		want  sdk.OfferUsage
	}{
		{pass, sdk.OfferUsage{Paid: 1}},
		{seats, sdk.OfferUsage{Paid: 2, Remaining: 0, Bounded: true}},
	} {
		if got, err := b.OfferUses(ctx, tc.offer); err != nil || got != tc.want {
			t.Fatalf("uses of %s: %+v %v, want %+v", tc.offer.GetItemId(), got, err, tc.want)
		}
	}
	if _, err := a.OfferUses(ctx, seats); !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Fatalf("alice asks about bob's offer: %v, want ErrInvalidArgument", err)
	}
	// The policy is signed: changed, the offer does not verify.
	tampered, _ := sdk.DecodeOffer(sdk.EncodeOffer(seats))
	tampered.Uses = apiv1.OfferUses_OFFER_USES_UNLIMITED
	tampered.MaxUses = 0
	if err := sdk.VerifyOffer(tampered); !errors.Is(err, sdk.ErrInvalidOffer) {
		t.Fatalf("an offer with its policy changed verifies: %v", err)
	}
	for _, u := range []sdk.Uses{
		sdk.UpTo(0),         // no count
		sdk.UpTo(1_000_001), // over the bound
		{Policy: apiv1.OfferUses_OFFER_USES_UNLIMITED, Max: 2}, // a count without limited
		{Policy: apiv1.OfferUses_OFFER_USES_PER_PAYER, Max: 1}, // the same
		{Policy: 7}, // unknown
	} {
		if _, err := b.CreateOffer(ctx, "x", price, time.Minute, u); !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Fatalf("CreateOffer with %+v: %v, want ErrInvalidArgument", u, err)
		}
	}
}

// Pay rides out a restart of the node it talks to: it tries again with
// the same key until the node is back, and pays once.
func TestPayWhileTheNodeRestarts(t *testing.T) {
	var logs nodetest.SyncBuffer
	a := dial(t, sdk.Config{DataDir: aliceDir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	b := dial(t, sdk.Config{DataDir: bobDir})
	before := received(t, b, aliceBob)
	alice.Stop()
	started := make(chan struct{})
	go func() {
		defer close(started)
		time.Sleep(300 * time.Millisecond)
		alice.Start()
	}()
	p, err := a.Pay(testCtx(t), sdk.PayRequest{Channel: aliceBob, Amount: uint256.NewInt(11)})
	<-started
	if err != nil {
		t.Fatalf("pay across the restart: %v\n%s", err, logs.String())
	}
	if !p.Complete || !strings.Contains(logs.String(), "trying again with the same key") {
		t.Fatalf("payment %+v; logs:\n%s", p, logs.String())
	}
	if got := received(t, b, aliceBob) - before; got != 11 {
		t.Fatalf("bob received %d, want 11", got)
	}
}

// A creator's views: channels, balances and revenue.
func TestCreatorViews(t *testing.T) {
	ctx := testCtx(t)
	a, b := dial(t, sdk.Config{DataDir: aliceDir}), dial(t, sdk.Config{DataDir: bobDir})
	item := "views-" + sdk.NewKey() // unique to this run
	if _, err := a.Pay(ctx, sdk.PayRequest{Channel: aliceBob, AmountText: "0.000321 USD", ItemID: item}); err != nil {
		t.Fatal(err)
	}
	chans, err := b.Channels(ctx, sdk.ChannelFilter{Peer: alice.Key.Address().Hex()})
	if err != nil {
		t.Fatal(err)
	}
	if len(chans) != 1 || chans[0].ID != aliceBob || chans[0].Phase != "open" || chans[0].Asset.Symbol != "USD" ||
		chans[0].Received.IsZero() || chans[0].PeerDeposit.Uint64() != 5_000_000 {
		t.Fatalf("bob's channels with alice %+v", chans)
	}
	bals, err := b.Balances(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var usd *sdk.Balance
	for i := range bals {
		if bals[i].Asset.Symbol == "USD" {
			usd = &bals[i]
		}
	}
	if usd == nil || !usd.InChannels.Eq(chans[0].MyBalance) || usd.Wallet.IsZero() {
		t.Fatalf("bob's balances %+v", bals)
	}
	rows, err := b.Revenue(ctx, sdk.RevenueQuery{From: time.Now().Add(-time.Hour), GroupBy: sdk.GroupByChannel})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 || rows[0].Key != aliceBob || !rows[0].Amount.Eq(chans[0].Received) {
		t.Fatalf("revenue by channel %+v, received %v", rows, chans[0].Received)
	}
	items, err := b.Revenue(ctx, sdk.RevenueQuery{GroupBy: sdk.GroupByItem})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range items {
		if r.Key == item {
			found = true
			if r.Amount.Uint64() != 321 || r.Payments != 1 {
				t.Fatalf("revenue of the item %+v", r)
			}
		}
	}
	if !found {
		t.Fatalf("no revenue for the item in %+v", items)
	}
	// Per asset and day, in a time zone: each day starts at that zone's
	// midnight (the payments may straddle one), and the days hold
	// everything received.
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Skipf("no time zone database: %v", err)
	}
	y, mo, d := time.Now().In(kolkata).Date()
	midnight := time.Date(y, mo, d, 0, 0, 0, 0, kolkata)
	days, err := b.Revenue(ctx, sdk.RevenueQuery{From: midnight.AddDate(0, 0, -2), GroupBy: sdk.GroupByAsset, Bucket: sdk.BucketDay, Location: kolkata})
	if err != nil {
		t.Fatal(err)
	}
	sum := new(uint256.Int)
	for _, r := range days {
		if r.Key != "USD" || r.BucketStart.Location() != kolkata || r.BucketStart.Hour() != 0 || r.BucketStart.Minute() != 0 || r.BucketStart.Before(midnight.AddDate(0, 0, -2)) {
			t.Fatalf("revenue per asset and day in Kolkata: row %+v, want USD from a Kolkata midnight", r)
		}
		sum.Add(sum, r.Amount)
	}
	if len(days) == 0 || len(days) > 2 || !sum.Eq(chans[0].Received) {
		t.Fatalf("revenue per asset and day in Kolkata %+v, want one or two days adding up to %v", days, chans[0].Received)
	}
	// Bad queries are refused before they reach the node, or by it.
	for _, q := range []sdk.RevenueQuery{
		{GroupBy: sdk.GroupByAsset, Bucket: sdk.BucketDay, From: midnight, Location: time.Local},
		{GroupBy: sdk.GroupByAsset, Bucket: sdk.BucketDay},          // no From
		{GroupBy: sdk.GroupByAsset, Bucket: "week", From: midnight}, // no such bucket
	} {
		if rows, err := b.Revenue(ctx, q); !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Fatalf("revenue %+v: %v, %v; want ErrInvalidArgument", q, rows, err)
		}
	}
}
