package daemon

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/paywall"
	"github.com/tinypay/tinypay/web/browserpay"
)

// TestBrowserListenLoopbackOnly: tinypayd refuses to serve the browser
// endpoint (plain HTTP that pays) anywhere but on loopback.
func TestBrowserListenLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:9739", "192.0.2.1:9739", "example.com:9739", ":9739", "9739"} {
		if err := loopbackAddr(addr); err == nil {
			t.Errorf("--browser-listen %s accepted", addr)
		}
	}
	for _, addr := range []string{"127.0.0.1:9739", "localhost:0", "[::1]:9739", "127.0.0.2:1"} {
		if err := loopbackAddr(addr); err != nil {
			t.Errorf("--browser-listen %s: %v", addr, err)
		}
	}
}

// TestBrowserEndpoint drives the reader's browser endpoint (alice, run
// with --browser-listen) over HTTP as a browser and a hostile page would,
// against a real publisher (bob) behind `tinypay paywall`, on the dev
// chain: every refusal (wrong Host, no Origin, an origin not approved, its
// preflight, a form, a missing or forged CSRF token, a cross-site call, a
// view token's sign-in, above the largest price, over the budget, a
// payment the reader did not confirm, a rate not approved, a revoked
// site) pays nothing and changes nothing; an approval with a deposit
// opens the channel; the receipt it pays with opens the paywall and sets
// its cookie; a confirmed payment pays; a stream stops when its page
// stops it and when its page goes quiet.
func TestBrowserEndpoint(t *testing.T) {
	procs := startDaemonsFlags(t, []string{"alice", "bob"}, map[string][]string{"alice": {"--browser-listen", "127.0.0.1:0"}})
	alice, bob := procs[0], procs[1]
	ctx := context.Background()
	binfo, err := bob.api.GetInfo(ctx, &apiv1.GetInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	pw := startPaywall(t, bob, newsSite(t).URL)
	_, pwPort, _ := net.SplitHostPort(pw)
	news, shop, evil := "http://news.test:"+pwPort, "http://shop.test:"+pwPort, "http://evil.test:"+pwPort
	base := browserBase(t, alice)
	client := newJarClient(t)
	article := required(t, pw, "/articles/1")
	nothingMoved := func(what, before string) {
		t.Helper()
		if after := sentTo(t, alice, binfo.GetAddress()); after != before {
			t.Fatalf("%s moved money: alice's channels with bob %q -> %q", what, before, after)
		}
	}
	call := func(path string, body any, hdr ...string) reply {
		t.Helper()
		return endpoint(t, client, base, http.MethodPost, path, body, hdr...)
	}
	site := func(origin, path string, body any) reply {
		t.Helper()
		return call(path, body, "Origin", origin)
	}

	// Refused before anything: another Host (a rebound DNS name), no
	// Origin, a form, an origin that is no site's.
	before := sentTo(t, alice, binfo.GetAddress())
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(base, "http://"))
	if r := call("/site/hello", map[string]any{"terms": article}, "Origin", news, "Host", "evil.test:"+port); r.code != http.StatusMisdirectedRequest || r.str("reason") != "wrong_host" {
		t.Fatalf("another Host: %d %v", r.code, r.body)
	}
	if r := call("/site/pay", map[string]any{"terms": article}); r.code != http.StatusForbidden || r.hdr.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("no Origin: %d %v", r.code, r.body)
	}
	if r := call("/site/hello", "terms=x", "Origin", news, "Content-Type", "application/x-www-form-urlencoded"); r.code != http.StatusUnsupportedMediaType {
		t.Fatalf("a form: %d %v", r.code, r.body)
	}
	for _, o := range []string{"null", "file://", "http://News.test:" + pwPort, "chrome-extension://abc"} {
		if r := site(o, "/site/hello", map[string]any{"terms": article}); r.code != http.StatusForbidden || r.hdr.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("origin %q: %d %v", o, r.code, r.body)
		}
	}
	// An origin not approved: its calls to pay are refused with no CORS
	// header (its page cannot even read why), and so is their preflight,
	// Private Network Access included; only the call that asks for
	// approval is allowed across origins.
	if r := site(news, "/site/pay", map[string]any{"terms": article}); r.code != http.StatusForbidden || r.str("reason") != browserpay.ReasonNotApproved || r.hdr.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("an unapproved origin pays: %d %v %v", r.code, r.body, r.hdr)
	}
	preflight := func(origin, path string) reply {
		return endpoint(t, client, base, http.MethodOptions, path, nil, "Origin", origin, "Access-Control-Request-Method", "POST",
			"Access-Control-Request-Headers", "content-type", "Access-Control-Request-Private-Network", "true")
	}
	if r := preflight(news, "/site/pay"); r.code != http.StatusForbidden || r.hdr.Get("Access-Control-Allow-Origin") != "" || r.hdr.Get("Access-Control-Allow-Private-Network") != "" {
		t.Fatalf("preflight of /site/pay from an unapproved origin: %d %v", r.code, r.hdr)
	}
	r := preflight(news, "/site/hello")
	if r.code != http.StatusNoContent || r.hdr.Get("Access-Control-Allow-Origin") != news || r.hdr.Get("Access-Control-Allow-Private-Network") != "true" ||
		r.hdr.Get("Access-Control-Allow-Credentials") != "" || !strings.Contains(r.hdr.Get("Vary"), "Origin") {
		t.Fatalf("preflight of /site/hello: %d %v", r.code, r.hdr)
	}
	if r := endpoint(t, client, base, http.MethodOptions, "/site/hello", nil, "Origin", news, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization"); r.code != http.StatusForbidden {
		t.Fatalf("preflight with an Authorization header: %d", r.code)
	}
	if r := preflight(news, "/reader/approve"); r.code != http.StatusForbidden || r.hdr.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight of the reader's approval: %d %v", r.code, r.hdr)
	}
	hello := site(news, "/site/hello", map[string]any{"terms": article, "page": news + "/articles/1"})
	if hello.code != 200 || hello.str("state") != "not_approved" || hello.hdr.Get("Access-Control-Allow-Origin") != news ||
		!strings.HasPrefix(hello.str("approve_url"), base+"/approve#") || hello.str("request") == "" {
		t.Fatalf("hello: %d %v %v", hello.code, hello.body, hello.hdr)
	}
	reqID := hello.str("request")
	nothingMoved("asking", before)

	// The reader's pages cannot be framed, and their calls need a
	// session of the admin token and its CSRF token, from their own origin.
	pageResp, err := client.Get(base + "/approve")
	if err != nil {
		t.Fatal(err)
	}
	pageResp.Body.Close()
	if pageResp.StatusCode != 200 || pageResp.Header.Get("X-Frame-Options") != "DENY" || !strings.Contains(pageResp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") ||
		pageResp.Header.Get("Cross-Origin-Opener-Policy") != "same-origin" {
		t.Fatalf("approval page headers: %d %v", pageResp.StatusCode, pageResp.Header)
	}
	approval := map[string]any{"id": reqID, "budget": "0.025", "max_price": "0.02", "deposit": "5"}
	if r := call("/reader/approve", approval); r.code != http.StatusUnauthorized {
		t.Fatalf("approve without a session: %d %v", r.code, r.body)
	}
	if r := call("/auth/signin", map[string]any{"token": "nope"}); r.code != http.StatusUnauthorized {
		t.Fatalf("sign-in with a wrong token: %d", r.code)
	}
	viewFile := filepath.Join(t.TempDir(), "view.token")
	if code, out := tinypay(t, alice.dir, "token", "create", "--view", "--name", "viewer", "--secret-file", viewFile); code != 0 {
		t.Fatalf("token create --view: %s", out)
	}
	view, _ := os.ReadFile(viewFile)
	if r := call("/auth/signin", map[string]any{"token": strings.TrimSpace(string(view))}); r.code != http.StatusUnauthorized {
		t.Fatalf("sign-in with a view token: %d", r.code)
	}
	signin := call("/auth/signin", map[string]any{"token": alice.adminToken()})
	if signin.code != 200 || signin.str("csrf_token") == "" {
		t.Fatalf("sign-in: %d %v", signin.code, signin.body)
	}
	var cookie *http.Cookie
	for _, c := range (&http.Response{Header: signin.hdr}).Cookies() {
		if c.Name == browserpay.SessionCookie {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Value == alice.adminToken() {
		t.Fatalf("session cookie %+v", cookie)
	}
	csrf := signin.str("csrf_token")
	for name, hdr := range map[string][]string{
		"no CSRF token":     nil,
		"a forged one":      {"X-CSRF-Token", strings.Repeat("0", len(csrf))},
		"from another site": {"X-CSRF-Token", csrf, "Origin", news},
		"cross-site fetch":  {"X-CSRF-Token", csrf, "Sec-Fetch-Site", "cross-site"},
	} {
		if r := call("/reader/approve", approval, hdr...); r.code != http.StatusForbidden {
			t.Fatalf("approve with %s: %d %v", name, r.code, r.body)
		}
	}
	if tok := siteToken(t, alice, news); tok != nil {
		t.Fatalf("a refused approval approved: %v", tok)
	}
	if r := site(news, "/site/hello", map[string]any{"terms": article, "request": reqID}); r.str("state") != "not_approved" {
		t.Fatalf("after refused approvals the site is %v", r.body)
	}
	nothingMoved("refused approvals", before)

	// Approved, with a deposit: the node opens a channel with bob (the
	// page shows its progress) and the site pays as soon as it is open.
	r = call("/reader/approve", approval, "X-CSRF-Token", csrf)
	if r.code != 200 || r.str("state") != "approved" {
		t.Fatalf("approve: %d %v", r.code, r.body)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		r = endpoint(t, client, base, http.MethodGet, "/reader/request?id="+reqID, nil, "X-CSRF-Token", csrf)
		ch, _ := r.body["channel"].(map[string]any)
		if ch["state"] == "open" {
			break
		}
		if ch["state"] == "failed" || time.Now().After(deadline) {
			t.Fatalf("the channel did not open: %v", r.body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	tok := siteToken(t, alice, news)
	if tok == nil || tok.GetPolicy().GetLimit() != "25000" || tok.GetPolicy().GetPeriodSeconds() != 86400 || tok.GetPolicy().GetMaxPrice() != "20000" ||
		len(tok.GetPolicy().GetPayees()) != 1 || !strings.EqualFold(tok.GetPolicy().GetPayees()[0].GetPayee(), binfo.GetAddress()) {
		t.Fatalf("the approval: %v", tok)
	}
	if r := preflight(news, "/site/pay"); r.code != http.StatusNoContent || r.hdr.Get("Access-Control-Allow-Origin") != news || r.hdr.Get("Access-Control-Allow-Private-Network") != "true" {
		t.Fatalf("preflight of an approved origin: %d %v", r.code, r.hdr)
	}
	if r := preflight(evil, "/site/pay"); r.code != http.StatusForbidden || r.hdr.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight of another origin: %d %v", r.code, r.hdr)
	}
	paid := site(news, "/site/pay", map[string]any{"terms": article, "page": news + "/articles/1"})
	if paid.code != 200 || paid.str("status") != "paid" || paid.str("receipt") == "" || paid.hdr.Get("Access-Control-Allow-Origin") != news {
		t.Fatalf("pay: %d %v", paid.code, paid.body)
	}
	// The receipt opens the paywall and sets its cookie.
	req, _ := http.NewRequest(http.MethodGet, "http://"+pw+"/articles/1", nil)
	req.Header.Set("Authorization", paywall.FormatAuth("receipt", paid.str("receipt")))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || len(resp.Cookies()) != 1 || resp.Cookies()[0].Name != paywall.PaidCookie {
		t.Fatalf("the paywall with the receipt: %d %v", resp.StatusCode, resp.Cookies())
	}

	// Above the largest price, over the budget, from another origin, or as
	// a form: refused, nothing paid, nothing counted.
	before = sentTo(t, alice, binfo.GetAddress())
	spent := siteToken(t, alice, news).GetSpent()
	if r := site(news, "/site/pay", map[string]any{"terms": required(t, pw, "/premium/1")}); r.code != http.StatusForbidden || r.str("reason") != browserpay.ReasonAboveMaxPrice ||
		!strings.Contains(r.str("message"), "0.5 USD") || !strings.Contains(r.str("message"), "0.02 USD") {
		t.Fatalf("above the largest price: %d %v", r.code, r.body)
	}
	if r := site(evil, "/site/pay", map[string]any{"terms": required(t, pw, "/articles/2")}); r.code != http.StatusForbidden || r.str("reason") != browserpay.ReasonNotApproved {
		t.Fatalf("another origin: %d %v", r.code, r.body)
	}
	if r := call("/site/pay", "terms=x", "Origin", news, "Content-Type", "text/plain"); r.code != http.StatusUnsupportedMediaType {
		t.Fatalf("a text body: %d %v", r.code, r.body)
	}
	nothingMoved("refused payments", before)
	if got := siteToken(t, alice, news).GetSpent(); got != spent {
		t.Fatalf("refused payments counted: %s -> %s", spent, got)
	}
	if r := site(news, "/site/pay", map[string]any{"terms": required(t, pw, "/articles/2")}); r.str("status") != "paid" {
		t.Fatalf("a second article: %v", r.body)
	}
	before = sentTo(t, alice, binfo.GetAddress())
	r = site(news, "/site/pay", map[string]any{"terms": required(t, pw, "/articles/3")})
	if r.code != http.StatusForbidden || r.str("reason") != browserpay.ReasonBudgetSpent || !strings.Contains(r.str("message"), "0.025 USD a day, 0.005 USD is left") {
		t.Fatalf("over the budget: %d %v", r.code, r.body)
	}
	nothingMoved("a payment over the budget", before)
	// No payments per second were approved for news.
	if r := site(news, "/site/stream", map[string]any{"terms": required(t, pw, "/songs/1")}); r.str("reason") != browserpay.ReasonAboveMaxRate {
		t.Fatalf("a stream not approved: %v", r.body)
	}
	nothingMoved("a stream not approved", before)

	// Another site, with an auto-pay threshold and a rate: a price from
	// the threshold on waits for the reader, who refuses (nothing paid),
	// then confirms (paid).
	h2 := site(shop, "/site/hello", map[string]any{"terms": article})
	r = call("/reader/approve", map[string]any{"id": h2.str("request"), "budget": "1", "max_price": "0.1", "auto_pay_below": "0.005", "max_rate": "0.001"}, "X-CSRF-Token", csrf)
	if r.code != 200 || r.str("state") != "approved" {
		t.Fatalf("approve shop: %d %v", r.code, r.body)
	}
	confirm := site(shop, "/site/pay", map[string]any{"terms": required(t, pw, "/articles/4")})
	if confirm.str("status") != "confirm" || !strings.HasPrefix(confirm.str("confirm_url"), base+"/confirm#") {
		t.Fatalf("a price from the threshold on: %v", confirm.body)
	}
	cid := confirm.str("confirmation")
	if r := site(shop, "/site/pay", map[string]any{"confirmation": cid}); r.str("status") != "confirm" {
		t.Fatalf("waiting for the reader: %v", r.body)
	}
	if r := site(news, "/site/pay", map[string]any{"confirmation": cid}); r.code != http.StatusNotFound {
		t.Fatalf("another site reads shop's confirmation: %d %v", r.code, r.body)
	}
	if r := call("/reader/refuse", map[string]any{"id": cid}); r.code != http.StatusForbidden {
		t.Fatalf("refuse without CSRF: %d", r.code)
	}
	if r := call("/reader/refuse", map[string]any{"id": cid}, "X-CSRF-Token", csrf); r.str("state") != "refused" {
		t.Fatalf("refuse: %v", r.body)
	}
	if r := site(shop, "/site/pay", map[string]any{"confirmation": cid}); r.str("reason") != browserpay.ReasonNotConfirmed {
		t.Fatalf("after the reader refused: %v", r.body)
	}
	nothingMoved("a payment the reader refused", before)
	confirm = site(shop, "/site/pay", map[string]any{"terms": required(t, pw, "/articles/4")})
	cid = confirm.str("confirmation")
	if r := call("/reader/confirm", map[string]any{"id": cid}, "X-CSRF-Token", csrf); r.str("state") != "paid" {
		t.Fatalf("confirm: %v", r.body)
	}
	if r := site(shop, "/site/pay", map[string]any{"confirmation": cid}); r.str("status") != "paid" || r.str("receipt") == "" {
		t.Fatalf("after the reader confirmed: %v", r.body)
	}

	// Streams: one the page stops, and one whose page goes quiet.
	song := required(t, pw, "/songs/1")
	s1 := site(shop, "/site/stream", map[string]any{"terms": song})
	s2 := site(shop, "/site/stream", map[string]any{"terms": song})
	if s1.str("status") != "streaming" || s2.str("status") != "streaming" {
		t.Fatalf("streams: %v %v", s1.body, s2.body)
	}
	if r := site(news, "/site/stream/stop", map[string]any{"stream": s1.str("stream")}); r.code != http.StatusNotFound {
		t.Fatalf("another site stops shop's stream: %d %v", r.code, r.body)
	}
	if r := site(shop, "/site/stream/keepalive", map[string]any{"stream": s1.str("stream")}); r.str("status") != "streaming" {
		t.Fatalf("keepalive: %v", r.body)
	}
	// As navigator.sendBeacon sends it when the page closes.
	if r := call("/site/stream/stop", `{"stream": "`+s1.str("stream")+`"}`, "Origin", shop, "Content-Type", "text/plain;charset=UTF-8"); r.str("status") != "stopped" {
		t.Fatalf("stop: %v", r.body)
	}
	ended := func(id string) bool {
		st, err := bob.api.GetStream(ctx, &apiv1.GetStreamRequest{StreamId: id})
		return err == nil && st.GetStatus() == "ended"
	}
	waitFor(t, "bob sees the stopped stream end", 10*time.Second, func() bool { return ended(s1.str("stream")) })
	waitFor(t, "the quiet page's stream stopped by the endpoint", 30*time.Second, func() bool { return ended(s2.str("stream")) })

	// Revoked: the site's calls are refused and its page told so.
	if code, out := tinypay(t, alice.dir, "token", "revoke", siteToken(t, alice, news).GetId()); code != 0 {
		t.Fatalf("revoke: %s", out)
	}
	before = sentTo(t, alice, binfo.GetAddress())
	if r := site(news, "/site/pay", map[string]any{"terms": required(t, pw, "/articles/5")}); r.code != http.StatusForbidden || r.str("reason") != browserpay.ReasonRevoked || r.hdr.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("revoked: %d %v", r.code, r.body)
	}
	if r := site(news, "/site/hello", map[string]any{"terms": article}); r.str("state") != "revoked" {
		t.Fatalf("hello after revocation: %v", r.body)
	}
	nothingMoved("a revoked site", before)
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
