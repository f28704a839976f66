package apps_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/tinypay/tinypay/node/nodetest"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/apiutil"
	"github.com/tinypay/tinypay/settlement/evm/evmtest"
)

func TestE2EOffersStreamsTokensAPI(t *testing.T) {
	chain := evmtest.NewChain(t)
	alice, bob := nodetest.Start(t, chain, "alice", chain.Alice), nodetest.Start(t, chain, "bob", chain.Bob)
	id := alice.OpenUSD(bob, 5_000_000)
	a, b := alice.API(), bob.API()
	ctx := context.Background()

	// Bob offers an article; Alice pays the offer and gets a receipt that
	// verifies offline.
	offer, err := b.CreateOffer(ctx, &apiv1.CreateOfferRequest{ItemId: "article-1", Asset: "USD", Price: "2500", TtlSeconds: 60})
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.Pay(ctx, &apiv1.PayRequest{Offer: offer})
	if err != nil {
		t.Fatal(err)
	}
	if p.GetReceipt() == nil || p.GetAmount() != "2500" || p.GetItemId() != "article-1" {
		t.Fatalf("offer payment %v", p)
	}
	if err := apiutil.VerifyReceipt(p.GetReceipt()); err != nil {
		t.Fatalf("receipt: %v", err)
	}
	forged := proto.Clone(p.GetReceipt()).(*apiv1.Receipt)
	forged.Amount = "9999"
	if err := apiutil.VerifyReceipt(forged); err == nil {
		t.Fatal("an altered receipt verifies")
	}
	_, err = a.Pay(ctx, &apiv1.PayRequest{Offer: offer})
	if status.Code(err) != codes.AlreadyExists {
		t.Fatalf("second payment of the offer: %v", err)
	}
	// The refusal carries the first payment and its receipt.
	var first *apiv1.Payment
	for _, d := range status.Convert(err).Details() {
		if pm, ok := d.(*apiv1.Payment); ok {
			first = pm
		}
	}
	if first.GetId() != p.GetId() || apiutil.VerifyReceipt(first.GetReceipt()) != nil {
		t.Fatalf("second payment's refusal carries %v, want the first payment %s with its receipt", first, p.GetId())
	}
	if p.GetReceipt().GetAsset() != alice.USD.Hex() {
		t.Fatalf("receipt asset %q, want %s", p.GetReceipt().GetAsset(), alice.USD.Hex())
	}
	// A channel holds one asset: naming another is refused.
	if _, err := a.Pay(ctx, &apiv1.PayRequest{ChannelId: id.Hex(), Asset: "ETH", Amount: "1", IdempotencyKey: "eth"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("USD channel paid in ETH: %v", err)
	}
	info, err := b.GetInfo(ctx, &apiv1.GetInfoRequest{})
	if err != nil || info.GetLastSeq() == 0 || info.GetLastSeq() != bob.Store().LastSeq() {
		t.Fatalf("last_seq %d, store %d (%v)", info.GetLastSeq(), bob.Store().LastSeq(), err)
	}
	altered := proto.Clone(offer).(*apiv1.Offer)
	altered.Price = "1"
	if _, err := a.Pay(ctx, &apiv1.PayRequest{Offer: altered}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("altered offer: %v", err)
	}

	// An app token may only pay, within its limit.
	created, err := a.CreateToken(ctx, &apiv1.CreateTokenRequest{Name: "player", Policy: &apiv1.TokenPolicy{
		Asset: "USD", Limit: "1000", PeriodSeconds: 3600, Payees: []*apiv1.PayeeLimit{{Payee: bob.Key.Address().Hex()}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	app := alice.Dial(created.GetSecret())
	if _, err := app.Pay(ctx, &apiv1.PayRequest{ChannelId: id.Hex(), Amount: "600", IdempotencyKey: "app-1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := app.Pay(ctx, &apiv1.PayRequest{ChannelId: id.Hex(), Amount: "401", IdempotencyKey: "app-2"}); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("over the limit: %v", err)
	}
	for name, call := range map[string]func() error{
		"ListChannels": func() error { _, err := app.ListChannels(ctx, &apiv1.ListChannelsRequest{}); return err },
		"CreateToken":  func() error { _, err := app.CreateToken(ctx, &apiv1.CreateTokenRequest{}); return err },
		"CloseChannel": func() error {
			_, err := app.CloseChannel(ctx, &apiv1.CloseChannelRequest{ChannelId: id.Hex()})
			return err
		},
		"Withdraw": func() error {
			_, err := app.Withdraw(ctx, &apiv1.WithdrawRequest{ChannelId: id.Hex(), Amount: "1"})
			return err
		},
	} {
		if status.Code(call()) != codes.PermissionDenied {
			t.Errorf("app token may call %s", name)
		}
	}
	toks, err := a.ListTokens(ctx, &apiv1.ListTokensRequest{})
	if err != nil || len(toks.GetTokens()) != 1 || toks.GetTokens()[0].GetSpent() != "600" {
		t.Fatalf("tokens %v %v", toks, err)
	}
	if _, err := a.RevokeToken(ctx, &apiv1.RevokeTokenRequest{Id: created.GetToken().GetId()}); err != nil {
		t.Fatal(err)
	}
	if _, err := app.Pay(ctx, &apiv1.PayRequest{ChannelId: id.Hex(), Amount: "1", IdempotencyKey: "app-3"}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("revoked token: %v", err)
	}

	// A stream: Bob watches it live, then stops it.
	st, err := a.StartStream(ctx, &apiv1.StartStreamRequest{ChannelId: id.Hex(), Rate: "1000", TickMs: 100, ItemId: "radio"})
	if err != nil {
		t.Fatal(err)
	}
	var got *apiv1.Stream
	nodetest.Eventually(t, "bob's meter is live", func() bool {
		got, err = b.GetStream(ctx, &apiv1.GetStreamRequest{StreamId: st.GetId()})
		return err == nil && got.GetStatus() == "live" && got.GetTicks() >= 3
	})
	if got.GetDirection() != "incoming" || got.GetItemId() != "radio" || got.GetRate() != "1000" {
		t.Fatalf("bob's stream %v", got)
	}
	if _, err := b.StopStream(ctx, &apiv1.StopStreamRequest{StreamId: st.GetId()}); err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, "alice stops paying", func() bool {
		s, err := a.GetStream(ctx, &apiv1.GetStreamRequest{StreamId: st.GetId()})
		return err == nil && s.GetStatus() == "ended" && s.GetEndReason() == "stopped by payee"
	})
	rev, err := b.Revenue(ctx, &apiv1.RevenueRequest{GroupBy: "item"})
	if err != nil {
		t.Fatal(err)
	}
	byItem := map[string]string{}
	for _, r := range rev.GetRows() {
		byItem[r.GetKey()] = r.GetAmount()
	}
	if byItem["article-1"] != "2500" || byItem["radio"] == "" {
		t.Fatalf("revenue by item %v", byItem)
	}
	// The event stream carries stream events, filtered by kind.
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	es, err := b.SubscribeEvents(sctx, &apiv1.SubscribeEventsRequest{Kinds: []string{"stream"}})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for len(kinds) < 2 {
		ev, err := es.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if ev.GetStream() == nil {
			t.Fatalf("filtered subscription sent %v", ev)
		}
		kinds = append(kinds, ev.GetStream().GetKind())
	}
	if kinds[0] != "started" {
		t.Fatalf("stream events %v", kinds)
	}
}
