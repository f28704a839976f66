package rpc_test

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tinypay/tinypay/node/nodetest"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
)

// TestTokenPriceAndRateLimits: CreateToken takes a largest single price
// and a highest rate, which the token then keeps to (PERMISSION_DENIED
// above them, nothing paid) and ListTokens shows; an origin or an
// auto-pay threshold (a site's approval) is refused with the reason.
func TestTokenPriceAndRateLimits(t *testing.T) {
	chain := nodetest.NewChain(t)
	alice, bob := nodetest.Start(t, chain, "alice", chain.Alice), nodetest.Start(t, chain, "bob", chain.Bob)
	id := alice.OpenUSD(bob, 1_000_000)
	ctx := context.Background()
	for _, p := range []*apiv1.TokenPolicy{
		{Asset: "USD", Limit: "1000", PeriodSeconds: 60, Origin: "https://news.example"},
		{Asset: "USD", Limit: "1000", PeriodSeconds: 60, AutoPayBelow: "10"},
	} {
		_, err := alice.API().CreateToken(ctx, &apiv1.CreateTokenRequest{Name: "x", Policy: p})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "browser") {
			t.Fatalf("CreateToken %v: %v, want INVALID_ARGUMENT naming the browser page", p, err)
		}
	}
	tok, err := alice.API().CreateToken(ctx, &apiv1.CreateTokenRequest{Name: "app", Policy: &apiv1.TokenPolicy{Asset: "USD", Limit: "1000", PeriodSeconds: 60, MaxPrice: "100", MaxRate: "20"}})
	if err != nil {
		t.Fatal(err)
	}
	if p := tok.GetToken().GetPolicy(); p.GetMaxPrice() != "100" || p.GetMaxRate() != "20" || p.GetOrigin() != "" {
		t.Fatalf("policy %v", p)
	}
	app := alice.Dial(tok.GetSecret())
	if _, err := app.Pay(ctx, &apiv1.PayRequest{ChannelId: id.Hex(), Amount: "101", IdempotencyKey: "a"}); status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "largest single price") {
		t.Fatalf("above the price: %v", err)
	}
	if _, err := app.StartStream(ctx, &apiv1.StartStreamRequest{ChannelId: id.Hex(), Rate: "21", TickMs: 1000}); status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "highest rate") {
		t.Fatalf("above the rate: %v", err)
	}
	if _, err := app.Pay(ctx, &apiv1.PayRequest{ChannelId: id.Hex(), Amount: "100", IdempotencyKey: "b"}); err != nil {
		t.Fatalf("at the price: %v", err)
	}
	if c := alice.Channel(id); c.Sent.Uint64() != 100 {
		t.Fatalf("sent %s, want 100", c.Sent.Dec())
	}
	list, err := alice.API().ListTokens(ctx, &apiv1.ListTokensRequest{})
	if err != nil || len(list.GetTokens()) != 1 || list.GetTokens()[0].GetPolicy().GetMaxPrice() != "100" || list.GetTokens()[0].GetSpent() != "100" {
		t.Fatalf("ListTokens: %v %v", list, err)
	}
}
