package apps_test

import (
	"context"
	"testing"
	"time"

	"github.com/holiman/uint256"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node"
	"github.com/tinypay/tinypay/node/nodetest"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/settlement/evm/evmtest"
)

// TestRevenueBucketsAPI: Revenue per day in a named time zone over the
// control API, its refusals, and GetInfo's sweep policy (shown to the
// admin and view tokens, not to app tokens).
func TestRevenueBucketsAPI(t *testing.T) {
	chain := evmtest.NewChain(t)
	to := crypto.Address{0x5e}
	alice := nodetest.Start(t, chain, "alice", chain.Alice)
	bob := nodetest.Start(t, chain, "bob", chain.Bob, func(c *node.Config) {
		c.Sweep.To = to
		c.Sweep.Above = []node.SweepThreshold{{Asset: crypto.Address(chain.Token), Above: *uint256.NewInt(7_000_000)}}
		c.Sweep.RetryDelay = time.Second
	})
	id := alice.OpenUSD(bob, 1_000_000)
	a, b := alice.API(), bob.API()
	ctx := context.Background()
	from := time.Now().Add(-time.Hour)
	for i, amt := range []string{"100", "250"} {
		if _, err := a.Pay(ctx, &apiv1.PayRequest{ChannelId: id.Hex(), Amount: amt, IdempotencyKey: string(rune('a' + i))}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := b.Revenue(ctx, &apiv1.RevenueRequest{FromUnixNano: from.UnixNano(), GroupBy: "asset", Bucket: "day", TimeZone: "Asia/Kolkata"})
	if err != nil {
		t.Fatal(err)
	}
	kolkata, _ := time.LoadLocation("Asia/Kolkata")
	var sum uint64
	for _, row := range r.GetRows() {
		start := time.Unix(0, row.GetBucketStartUnixNano()).In(kolkata)
		if start.Hour() != 0 || start.Minute() != 0 || row.GetKey() != "USD" {
			t.Errorf("row %v: its day starts at %s, not at midnight in Kolkata", row, start)
		}
		var v uint256.Int
		if err := v.SetFromDecimal(row.GetAmount()); err != nil {
			t.Fatal(err)
		}
		sum += v.Uint64()
	}
	if sum != 350 {
		t.Fatalf("per day: %v, want 350 in all", r.GetRows())
	}
	// Without a bucket, rows carry no bucket start.
	r, err = b.Revenue(ctx, &apiv1.RevenueRequest{GroupBy: "asset"})
	if err != nil || len(r.GetRows()) != 1 || r.GetRows()[0].GetBucketStartUnixNano() != 0 || r.GetRows()[0].GetAmount() != "350" {
		t.Fatalf("by asset: %v %v", r, err)
	}
	for _, req := range []*apiv1.RevenueRequest{
		{FromUnixNano: from.UnixNano(), Bucket: "day", TimeZone: "Mars/Olympus"},     // no such zone
		{FromUnixNano: from.UnixNano(), Bucket: "day", TimeZone: "Local"},            // the node's zone is no client's
		{FromUnixNano: from.UnixNano(), Bucket: "day", TimeZone: "../../etc/passwd"}, // not a name
		{FromUnixNano: from.UnixNano(), TimeZone: "UTC"},                             // a zone without a bucket
		{Bucket: "hour"}, // no start
		{FromUnixNano: from.UnixNano(), Bucket: "minute"}, // no such bucket
	} {
		if _, err := b.Revenue(ctx, req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%v: %v, want InvalidArgument", req, err)
		}
	}

	// The sweep policy: the admin sees it, a view token too, an app token not.
	info, err := b.GetInfo(ctx, &apiv1.GetInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	sw := info.GetSweep()
	if sw.GetTo() != to.Hex() || len(sw.GetThresholds()) != 1 || sw.GetThresholds()[0].GetAsset().GetSymbol() != "USD" ||
		sw.GetThresholds()[0].GetAbove() != "7000000" || sw.GetGasReserve() != node.DefaultGasReserve.Dec() {
		t.Fatalf("sweep policy %v", sw)
	}
	view, err := b.CreateToken(ctx, &apiv1.CreateTokenRequest{Name: "viewer", Kind: apiv1.TokenKind_TOKEN_KIND_VIEW})
	if err != nil {
		t.Fatal(err)
	}
	if vi, err := bob.Dial(view.GetSecret()).GetInfo(ctx, &apiv1.GetInfoRequest{}); err != nil || vi.GetSweep().GetTo() != to.Hex() {
		t.Fatalf("view token's info: %v %v", vi.GetSweep(), err)
	}
	app, err := b.CreateToken(ctx, &apiv1.CreateTokenRequest{Name: "app", Policy: &apiv1.TokenPolicy{Asset: "USD", Limit: "1", PeriodSeconds: 60}})
	if err != nil {
		t.Fatal(err)
	}
	if ai, err := bob.Dial(app.GetSecret()).GetInfo(ctx, &apiv1.GetInfoRequest{}); err != nil || ai.GetSweep() != nil {
		t.Fatalf("app token's info: sweep %v %v, want none", ai.GetSweep(), err)
	}
	// A node without a policy has none to show.
	if ai, err := a.GetInfo(ctx, &apiv1.GetInfoRequest{}); err != nil || ai.GetSweep() != nil {
		t.Fatalf("alice's sweep %v %v, want none", ai.GetSweep(), err)
	}
}
