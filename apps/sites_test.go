package apps_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tinypay/tinypay/apps"
	"github.com/tinypay/tinypay/node"
	"github.com/tinypay/tinypay/node/nodetest"
)

func TestCanonicalOrigin(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want "" means refused
	}{
		{"http://news.example", "http://news.example"},
		{"HTTPS://News.Example:443", "https://news.example"},  // default port and case dropped
		{"http://news.example:80/", "http://news.example"},    // a bare slash is no path
		{"http://127.0.0.1:8402", "http://127.0.0.1:8402"},    // a port kept
		{"http://[::1]:9000", "http://[::1]:9000"},            // IPv6 in brackets
		{"https://news.example:0443", "https://news.example"}, // leading zeros
		{"null", ""},                                             // sandboxed frames and files
		{"file:///etc/passwd", ""},                               // not http(s)
		{"ftp://news.example", ""},                               // not http(s)
		{"http://news.example/article", ""},                      // a path
		{"http://news.example?x=1", ""},                          // a query
		{"http://news.example#x", ""},                            // a fragment
		{"http://user@news.example", ""},                         // user information
		{"http://news.example:99999", ""},                        // port out of range
		{"http://news.example:0", ""},                            // port zero
		{"http://", ""},                                          // no host
		{"news.example", ""},                                     // no scheme
		{"http://" + strings.Repeat("a", apps.MaxOriginLen), ""}, // too long
	} {
		got, err := apps.CanonicalOrigin(tc.in)
		if tc.want == "" {
			if err == nil || !errors.Is(err, node.ErrInvalidArgument) {
				t.Errorf("%q: %q, %v; want refused as invalid", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// TestSiteApproval: a site's approval is an app token that pays only for
// its origin and publisher, below its largest price, asks for the
// reader's confirmation from its auto-pay threshold on, streams only up
// to its highest rate, survives a restart, and ends its streams when it is
// revoked. Every refusal pays nothing.
func TestSiteApproval(t *testing.T) {
	alice, bob, toBob := pair(t, 1_000_000)
	ctx := context.Background()
	a := alice.Apps()
	const news = "http://news.example"
	ap := apps.SiteApproval{Origin: news, Payee: bob.Key.Address(), Asset: alice.USD, Budget: *u256(1000), MaxPrice: *u256(100), AutoPayBelow: *u256(50), MaxRate: *u256(40)}

	// Refused approvals store nothing.
	for _, tc := range []struct {
		name string
		edit func(*apps.SiteApproval)
		want string
	}{
		{"an origin not written as browsers do", func(s *apps.SiteApproval) { s.Origin = "HTTP://News.example" }, `write it as "http://news.example"`},
		{"no publisher", func(s *apps.SiteApproval) { s.Payee = [20]byte{} }, "publisher"},
		{"no budget", func(s *apps.SiteApproval) { s.Budget.Clear() }, "budget"},
		{"no largest price", func(s *apps.SiteApproval) { s.MaxPrice.Clear() }, "largest single price"},
		{"a price above the budget", func(s *apps.SiteApproval) { s.MaxPrice = *u256(1001) }, "above the budget"},
		{"auto-pay above the price", func(s *apps.SiteApproval) { s.AutoPayBelow = *u256(101) }, "auto-pay"},
	} {
		bad := ap
		tc.edit(&bad)
		if _, err := a.ApproveSite(ctx, bad); !errors.Is(err, node.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want invalid (%q)", tc.name, err, tc.want)
		}
	}
	if toks := a.Tokens(); len(toks) != 0 {
		t.Fatalf("refused approvals stored tokens: %+v", toks)
	}
	if _, ok := a.Site(news); ok {
		t.Fatal("a site nobody approved is found")
	}
	tok, err := a.ApproveSite(ctx, ap)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.ApproveSite(ctx, ap); !errors.Is(err, node.ErrAlreadyExists) {
		t.Fatalf("approved twice: %v", err)
	}
	if got, ok := a.Site(news); !ok || got.ID != tok.ID || got.Policy.Period != apps.SitePeriod {
		t.Fatalf("site: %+v %v", got, ok)
	}
	// A site's token cannot be made through CreateToken.
	if _, _, err := a.CreateToken(ctx, "x", apps.TokenPolicy{Asset: alice.USD, Limit: *u256(1), Period: time.Hour, Origin: news}); !errors.Is(err, node.ErrInvalidArgument) {
		t.Fatalf("CreateToken with an origin: %v", err)
	}

	sent := func() uint64 { c := alice.Channel(toBob); return c.Sent.Uint64() }
	pay := func(amount uint64, origin string, confirmed bool) error {
		o, err := bob.Apps().CreateOffer("GET /a", bob.USD, *u256(amount), time.Minute, apps.Once)
		if err != nil {
			t.Fatal(err)
		}
		_, err = a.Pay(ctx, apps.PayRequest{Offer: &o, Token: tok.ID, Origin: origin, Confirmed: confirmed})
		return err
	}
	before := sent()
	for _, tc := range []struct {
		name      string
		amount    uint64
		origin    string
		confirmed bool
		want      error
	}{
		{"another origin", 10, "http://evil.example", false, apps.ErrForbidden},
		{"no origin (not through the browser endpoint)", 10, "", false, apps.ErrForbidden},
		{"above the largest price, even confirmed", 101, news, true, apps.ErrAboveMaxPrice},
		{"at the auto-pay threshold, not confirmed", 50, news, false, apps.ErrNeedsConfirmation},
	} {
		if err := pay(tc.amount, tc.origin, tc.confirmed); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if got := sent(); got != before {
		t.Fatalf("refused payments moved %d", got-before)
	}
	if toks := a.Tokens(); !toks[0].Spent.IsZero() {
		t.Fatalf("refused payments counted: %s", toks[0].Spent.Dec())
	}
	if err := pay(49, news, false); err != nil {
		t.Fatalf("below the threshold: %v", err)
	}
	if err := pay(100, news, true); err != nil {
		t.Fatalf("confirmed at the largest price: %v", err)
	}
	if got := sent() - before; got != 149 {
		t.Fatalf("sent %d, want 149", got)
	}
	// A retry of a payment (its key again) pays and counts once.
	for range 2 {
		if _, err := a.Pay(ctx, apps.PayRequest{Channel: toBob, Amount: *u256(10), Key: "retried", Token: tok.ID, Origin: news}); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := a.Site(news); got.Spent.Uint64() != 159 || sent()-before != 159 {
		t.Fatalf("after a retried payment: spent %s, sent %d; want 159 and 159", got.Spent.Dec(), sent()-before)
	}

	// Streams: up to the highest rate, for the site's origin only.
	if _, err := a.StartStream(ctx, apps.StreamRequest{Channel: toBob, Rate: *u256(41), Tick: 100 * time.Millisecond, Token: tok.ID, Origin: news}); !errors.Is(err, apps.ErrAboveMaxPrice) {
		t.Fatalf("a stream above the rate: %v", err)
	}
	if _, err := a.StartStream(ctx, apps.StreamRequest{Channel: toBob, Rate: *u256(40), Tick: 100 * time.Millisecond, Token: tok.ID, Origin: "http://evil.example"}); !errors.Is(err, apps.ErrForbidden) {
		t.Fatalf("a stream for another origin: %v", err)
	}

	// The policy survives a restart.
	alice.Restart()
	a = alice.Apps()
	got, ok := a.Site(news)
	if !ok || got.ID != tok.ID || got.Policy.Origin != news || got.Policy.MaxPrice.Uint64() != 100 || got.Policy.AutoPayBelow.Uint64() != 50 ||
		got.Policy.MaxRate.Uint64() != 40 || got.Spent.Uint64() != 159 || len(got.Policy.Payees) != 1 {
		t.Fatalf("after a restart: %+v", got)
	}
	nodetest.Eventually(t, "alice reconnects", func() bool { return alice.Channel(toBob).Connected })
	st, err := a.StartStream(ctx, apps.StreamRequest{Channel: toBob, Rate: *u256(40), Tick: 100 * time.Millisecond, Token: tok.ID, Origin: news})
	if err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, "the stream pays", func() bool { s, _ := a.Stream(st.ID); return s.Ticks >= 2 })
	// Revoking the approval ends its stream, and it pays nothing more.
	if _, err := a.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, "the revocation ends the stream", func() bool { s, _ := a.Stream(st.ID); return s.EndReason == apps.EndRevoked })
	if err := pay(10, news, false); !errors.Is(err, apps.ErrForbidden) || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("after revocation: %v", err)
	}
	if got, _ := a.Site(news); !got.Revoked {
		t.Fatalf("the site is not revoked: %+v", got)
	}
	// Approved anew, with fresh limits.
	if _, err := a.ApproveSite(ctx, ap); err != nil {
		t.Fatalf("approve again after revoking: %v", err)
	}
}
