package paywall_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holiman/uint256"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/paywall"
)

const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

// TestBrowserPage: a request that accepts HTML gets the 402 as a page —
// the price in the asset's units, the script of the paywall's own origin,
// a policy that runs no other script, the same terms as the JSON 402 in
// its headers and in a JSON block that cannot end its element — and a
// refused receipt says why on the page; an API client still gets JSON.
func TestBrowserPage(t *testing.T) {
	w := newWorld(t)
	srv := w.paywall(func(c *paywall.Config) {})
	code, h, body := get(t, srv.URL+"/article", "Accept", browserAccept)
	if code != http.StatusPaymentRequired || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /article as a browser: %d %s", code, h.Get("Content-Type"))
	}
	csp := h.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-eval") || !strings.Contains(csp, "connect-src 'self' http://127.0.0.1:*") {
		t.Fatalf("CSP %q", csp)
	}
	// Its script pays as soon as it loads, within the reader's approval of
	// the site: another site must not load it in a hidden frame (a page of
	// evil.example framing an approved site's articles spends the reader's
	// budget there, on articles nobody sees).
	if !strings.Contains(csp, "frame-ancestors 'self'") || h.Get("X-Frame-Options") != "SAMEORIGIN" {
		t.Fatalf("the 402 page may be framed by other sites: CSP %q, X-Frame-Options %q", csp, h.Get("X-Frame-Options"))
	}
	for _, want := range []string{`<script src="/.tinypay/pay.js" defer></script>`, `0.001 USD</span> to read it`, "GET /article", w.creator.Key.Address().Hex()} {
		if !strings.Contains(body, want) {
			t.Fatalf("the page lacks %q:\n%s", want, body)
		}
	}
	if n := strings.Count(body, "<script"); n != 2 {
		t.Fatalf("%d script elements, want the terms and pay.js", n)
	}
	// The terms: the header's, also in the page.
	raw, err := base64.StdEncoding.DecodeString(h.Get(paywall.HeaderPaymentRequired))
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile(`(?s)<script type="application/json" id="tinypay-terms">(.*?)</script>`).FindStringSubmatch(body)
	if block == nil {
		t.Fatalf("no terms block:\n%s", body)
	}
	var inPage, inHeader paywall.PaymentRequired
	if err := json.Unmarshal([]byte(block[1]), &inPage); err != nil {
		t.Fatalf("terms block: %v", err)
	}
	if err := json.Unmarshal(raw, &inHeader); err != nil {
		t.Fatal(err)
	}
	if a, b := mustJSON(t, inPage), mustJSON(t, inHeader); a != b {
		t.Fatalf("the page's terms\n%s\ndiffer from the header's\n%s", a, b)
	}
	if !strings.HasPrefix(h.Get("WWW-Authenticate"), "TinyPay offer=") {
		t.Fatalf("WWW-Authenticate %q", h.Get("WWW-Authenticate"))
	}
	// A path that tries to end the script element or add markup stays text.
	code, _, body = get(t, srv.URL+"/x%3C/script%3E%3Cscript%3Ealert(1)%3C/script%3E%22%3E", "Accept", browserAccept)
	if code != http.StatusPaymentRequired || strings.Contains(body, "<script>alert") || strings.Contains(body, "</script><script>") {
		t.Fatalf("a hostile path is markup in the page (%d):\n%s", code, body)
	}
	// A refused receipt: the page says why.
	_, _, body = get(t, srv.URL+"/article", "Accept", browserAccept, "Authorization", `TinyPay receipt="nope"`)
	if !strings.Contains(html.UnescapeString(body), "Not paid: ") || !strings.Contains(body, `data-state="loading"`) {
		t.Fatalf("the page of a refused receipt does not say why:\n%s", body)
	}
	// An API client (and the page's own script, which accepts */*) gets JSON.
	code, h, body = get(t, srv.URL+"/article", "Accept", "*/*")
	if code != http.StatusPaymentRequired || h.Get("Content-Type") != "application/json" {
		t.Fatalf("GET with Accept */*: %d %s", code, h.Get("Content-Type"))
	}
	terms(t, h, body)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestBrowserAssets: the paywall serves its script and style sheet itself
// (never the upstream's), and nothing else under its path.
func TestBrowserAssets(t *testing.T) {
	w := newWorld(t)
	srv := w.paywall(func(c *paywall.Config) {})
	before := w.hits.Load()
	code, h, body := get(t, srv.URL+paywall.AssetsPath+"pay.js")
	if code != 200 || !strings.Contains(h.Get("Content-Type"), "javascript") || !strings.Contains(body, "/site/pay") || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("pay.js: %d %s", code, h.Get("Content-Type"))
	}
	if code, h, _ := get(t, srv.URL+paywall.AssetsPath+"pay.css"); code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/css") {
		t.Fatalf("pay.css: %d %s", code, h.Get("Content-Type"))
	}
	for _, p := range []string{"nothing.js", "", "static/pay.js", "..%2Fbrowser.go", ".hidden"} {
		if code, _, _ := get(t, srv.URL+paywall.AssetsPath+p); code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, code)
		}
	}
	resp, err := http.Post(srv.URL+paywall.AssetsPath+"pay.js", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST pay.js: %d", resp.StatusCode)
	}
	if w.hits.Load() != before {
		t.Fatal("a request for the paywall's assets reached the upstream")
	}
}

// TestPaidCookie: with PaidFor set, a paid response sets a cookie,
// HttpOnly and for that page's path only, with which the page is served
// again without paying until it expires; a cookie altered, for another
// page, from another paywall's key or past its time pays for nothing, and
// a response the upstream failed sets none. Without PaidFor, none is set.
func TestPaidCookie(t *testing.T) {
	w := newWorld(t)
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	srv := w.paywall(func(c *paywall.Config) { c.PaidFor, c.Now = 10*time.Minute, clock })
	rc := w.payOffer(srv, "/article")
	code, h, body := get(t, srv.URL+"/article", "Authorization", credential(t, rc), "Accept", browserAccept)
	if code != 200 || body != "the paid article\n" {
		t.Fatalf("paid GET: %d %q", code, body)
	}
	cookies := (&http.Response{Header: h}).Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies %v", cookies)
	}
	c := cookies[0]
	if c.Name != paywall.PaidCookie || !c.HttpOnly || c.Path != "/article" || c.MaxAge != 600 || c.SameSite != http.SameSiteLaxMode || strings.Contains(c.Value, rc.GetSignature()) {
		t.Fatalf("cookie %+v", c)
	}
	cookie := func(v string) string { return paywall.PaidCookie + "=" + v }
	hits := w.hits.Load()
	if code, _, body := get(t, srv.URL+"/article", "Cookie", cookie(c.Value), "Accept", browserAccept); code != 200 || body != "the paid article\n" {
		t.Fatalf("GET with the cookie: %d %q", code, body)
	}
	if w.hits.Load() != hits+1 {
		t.Fatal("the cookie's request did not reach the upstream")
	}
	altered := []byte(c.Value)
	altered[10] ^= 1
	if altered[10] == c.Value[10] { // base64: keep it valid
		altered[10] = 'A'
	}
	for name, v := range map[string]string{"altered": string(altered), "garbage": "x", "empty": ""} {
		w.refused(srv, "/article", "", "Cookie", cookie(v))
		_ = name
	}
	// Another page's request (the browser would not send it; a client can).
	w.refused(srv, "/other", "", "Cookie", cookie(c.Value))
	// Another paywall (another key) does not take it.
	other := w.paywall(func(cfg *paywall.Config) { cfg.PaidFor = 10 * time.Minute })
	w.refused(other, "/article", "", "Cookie", cookie(c.Value))
	// Past its time.
	now.Add(int64(10*time.Minute + time.Second))
	w.refused(srv, "/article", "", "Cookie", cookie(c.Value))

	// Without PaidFor: no cookie.
	plain := w.paywall(func(c *paywall.Config) {})
	rc = w.payOffer(plain, "/article")
	if _, h, _ := get(t, plain.URL+"/article", "Authorization", credential(t, rc)); h.Get("Set-Cookie") != "" {
		t.Fatalf("a cookie without PaidFor: %q", h.Get("Set-Cookie"))
	}
}

// TestPaidCookieNotOnFailure: a paid request the upstream failed (502)
// sets no cookie (its receipt stays usable instead).
func TestPaidCookieNotOnFailure(t *testing.T) {
	w := newWorld(t)
	cfg := paywall.DefaultConfig()
	cfg.Asset, cfg.Price, cfg.PaidFor = "USD", *uint256.NewInt(price), time.Minute
	dead, _ := url.Parse("http://127.0.0.1:1")
	pw, err := paywall.NewProxy(context.Background(), cfg, w.creator.API(), dead)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(pw)
	t.Cleanup(srv.Close)
	rc := w.payOffer(srv, "/article")
	code, h, _ := get(t, srv.URL+"/article", "Authorization", credential(t, rc))
	if code != http.StatusBadGateway || h.Get("Set-Cookie") != "" {
		t.Fatalf("upstream down: %d, Set-Cookie %q", code, h.Get("Set-Cookie"))
	}
}

// TestStreamCookie: the page's script names its stream for a media
// element with POST /.tinypay/stream: only from the site's own pages, as
// JSON, with a stream id and a path; the cookie (HttpOnly, that path only)
// then pays for the media's requests while the stream pays.
func TestStreamCookie(t *testing.T) {
	w := newWorld(t)
	srv := w.paywall(func(c *paywall.Config) {
		c.Price, c.Rate, c.Tick = uint256.Int{}, *uint256.NewInt(100), 200*time.Millisecond
	})
	st, err := w.client.API().StartStream(context.Background(), &apiv1.StartStreamRequest{
		Peer: w.creator.Key.Address().Hex(), Asset: "USD", Rate: "100", TickMs: 200, ItemId: "/live",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.client.API().StopStream(context.Background(), &apiv1.StopStreamRequest{StreamId: st.GetId()})
	post := func(origin, ctype, body string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+paywall.AssetsPath+"stream", strings.NewReader(body))
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		req.Header.Set("Content-Type", ctype)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	good := `{"stream": "` + st.GetId() + `", "path": "/live"}`
	for _, tc := range []struct {
		name, origin, ctype, body string
		want                      int
	}{
		{"another site", "http://evil.example", "application/json", good, http.StatusForbidden},
		{"no origin and no fetch metadata", "", "application/json", good, http.StatusForbidden},
		{"a form", srv.URL, "application/x-www-form-urlencoded", "stream=" + st.GetId(), http.StatusUnsupportedMediaType},
		{"not a stream id", srv.URL, "application/json", `{"stream": "0x12", "path": "/live"}`, http.StatusBadRequest},
		{"a path that splits the cookie", srv.URL, "application/json", `{"stream": "` + st.GetId() + `", "path": "/live; Domain=evil"}`, http.StatusBadRequest},
		{"an unknown field", srv.URL, "application/json", `{"stream": "` + st.GetId() + `", "path": "/live", "x": 1}`, http.StatusBadRequest},
	} {
		if resp := post(tc.origin, tc.ctype, tc.body); resp.StatusCode != tc.want || resp.Header.Get("Set-Cookie") != "" {
			t.Errorf("%s: %d (Set-Cookie %q), want %d and no cookie", tc.name, resp.StatusCode, resp.Header.Get("Set-Cookie"), tc.want)
		}
	}
	resp := post(srv.URL, "application/json", good)
	cs := resp.Cookies()
	if resp.StatusCode != http.StatusNoContent || len(cs) != 1 || cs[0].Name != paywall.StreamCookie || cs[0].Path != "/live" || !cs[0].HttpOnly || cs[0].Value != st.GetId() {
		t.Fatalf("naming the stream: %d %v", resp.StatusCode, cs)
	}
	// The media request, with the cookie only, is served while the
	// stream pays.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/live", nil)
	req.AddCookie(cs[0])
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Body.Close()
	buf := make([]byte, 32)
	if n, err := r2.Body.Read(buf); r2.StatusCode != 200 || n == 0 || !strings.HasPrefix(string(buf[:n]), "line") {
		t.Fatalf("GET /live with the stream cookie: %d %q %v", r2.StatusCode, buf[:n], err)
	}
}

// TestProxyChain: one paywall sells paths at different prices, per
// request and per second; what no prefix names is free; a chain that
// would sell every path before others is refused.
func TestProxyChain(t *testing.T) {
	w := newWorld(t)
	u, _ := url.Parse(w.upstream.URL)
	cfg := func(paths []string, price, rate uint64) paywall.Config {
		c := paywall.DefaultConfig()
		c.Asset, c.Paths, c.Price, c.Rate = "USD", paths, *uint256.NewInt(price), *uint256.NewInt(rate)
		return c
	}
	if _, err := paywall.NewProxyChain(context.Background(), []paywall.Config{cfg(nil, 5, 0), cfg([]string{"/other"}, 7, 0)}, w.creator.API(), u); err == nil {
		t.Fatal("a chain whose first paywall sells every path")
	}
	h, err := paywall.NewProxyChain(context.Background(), []paywall.Config{cfg([]string{"/other"}, 7000, 0), cfg([]string{"/live"}, 0, 100), cfg([]string{"/article"}, 1000, 0)}, w.creator.API(), u)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	for path, want := range map[string][2]string{"/other": {paywall.SchemeOffer, "7000"}, "/article": {paywall.SchemeOffer, "1000"}, "/live": {paywall.SchemeStream, "100"}} {
		code, hd, body := get(t, srv.URL+path)
		if code != http.StatusPaymentRequired {
			t.Fatalf("%s: %d", path, code)
		}
		_, req, _ := terms(t, hd, body)
		if req.Scheme != want[0] || req.Amount != want[1] {
			t.Fatalf("%s: %s %s, want %v", path, req.Scheme, req.Amount, want)
		}
	}
	if code, _, body := get(t, srv.URL+"/free"); code != 200 || body != "free\n" {
		t.Fatalf("/free: %d %q", code, body)
	}
}
