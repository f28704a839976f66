package browserpay

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tinypay/tinypay/apps"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
)

// noWallet approves nothing; the tests here never get as far as paying
// (cmd/tinypayd/daemon's TestBrowserEndpoint pays with a real node).
type noWallet struct{}

func (noWallet) Site(string) (apps.AppToken, bool) { return apps.AppToken{}, false }
func (noWallet) ApproveSite(context.Context, apps.SiteApproval) (apps.AppToken, error) {
	panic("not reached")
}
func (noWallet) PayOffer(context.Context, apps.PayRequest) (*apiv1.Receipt, error) {
	panic("not reached")
}
func (noWallet) StartStream(context.Context, apps.StreamRequest) (apps.StreamInfo, error) {
	panic("not reached")
}
func (noWallet) StopStream([16]byte, apps.TokenID) (apps.StreamInfo, error) { panic("not reached") }
func (noWallet) Stream([16]byte) (apps.StreamInfo, error)                   { panic("not reached") }

// noAPI is a control API client no test here calls.
type noAPI struct{ apiv1.NodeClient }

func newTestHandler(t *testing.T) *Handler {
	t.Helper()
	h, err := New("127.0.0.1:9739", DefaultConfig(), noWallet{}, noAPI{}, func(s string) bool { return s == "admin" })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

func TestNewRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		addr string
		cfg  func(*Config)
	}{
		"no port":             {"127.0.0.1", func(*Config) {}},
		"port zero":           {"127.0.0.1:0", func(*Config) {}},
		"no pending":          {"127.0.0.1:1", func(c *Config) { c.MaxPending = 0 }},
		"a lease too short":   {"127.0.0.1:1", func(c *Config) { c.StreamLease = time.Millisecond }},
		"no sessions":         {"127.0.0.1:1", func(c *Config) { c.MaxSessions = 0 }},
		"no node timeout":     {"127.0.0.1:1", func(c *Config) { c.NodeTimeout = 0 }},
		"a session too short": {"127.0.0.1:1", func(c *Config) { c.SessionTTL = time.Second }},
	} {
		cfg := DefaultConfig()
		tc.cfg(&cfg)
		if h, err := New(tc.addr, cfg, noWallet{}, noAPI{}, func(string) bool { return false }); err == nil {
			h.Close()
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := New("127.0.0.1:1", DefaultConfig(), nil, noAPI{}, func(string) bool { return false }); err == nil {
		t.Error("no wallet: accepted")
	}
}

// TestRequests sends requests that must be refused before the node is
// asked anything, and checks the answer's status and CORS headers.
func TestRequests(t *testing.T) {
	h := newTestHandler(t)
	const news = "https://news.example"
	for _, tc := range []struct {
		name         string
		method, path string
		hdr          []string // name, value, ...
		body         string
		want         int
		cors         string // Access-Control-Allow-Origin wanted ("" none)
	}{
		// A name that is not the listener's loopback address: DNS rebinding.
		{"rebound host", "POST", "/site/hello", []string{"Host", "news.example:9739", "Origin", news}, `{}`, http.StatusMisdirectedRequest, ""},
		{"another port", "POST", "/site/hello", []string{"Host", "127.0.0.1:9740", "Origin", news}, `{}`, http.StatusMisdirectedRequest, ""},
		// Sites' calls.
		{"no origin", "POST", "/site/hello", nil, `{}`, http.StatusForbidden, ""},
		{"origin null", "POST", "/site/hello", []string{"Origin", "null"}, `{}`, http.StatusForbidden, ""},
		{"an origin not as browsers write it", "POST", "/site/hello", []string{"Origin", "https://News.example:443"}, `{}`, http.StatusForbidden, ""},
		{"a form", "POST", "/site/hello", []string{"Origin", news, "Content-Type", "application/x-www-form-urlencoded"}, `a=b`, http.StatusUnsupportedMediaType, ""},
		{"a GET", "GET", "/site/hello", []string{"Origin", news}, ``, http.StatusMethodNotAllowed, ""},
		{"an unknown call", "POST", "/site/other", []string{"Origin", news}, `{}`, http.StatusNotFound, ""},
		{"hello without terms", "POST", "/site/hello", []string{"Origin", news}, `{}`, http.StatusBadRequest, news},
		{"hello with an unknown field", "POST", "/site/hello", []string{"Origin", news}, `{"token": "x"}`, http.StatusBadRequest, news},
		{"pay, not approved", "POST", "/site/pay", []string{"Origin", news}, `{}`, http.StatusForbidden, ""},
		{"stop as text, not approved", "POST", "/site/stream/stop", []string{"Origin", news, "Content-Type", "text/plain"}, `{}`, http.StatusForbidden, ""},
		// Preflights.
		{"preflight of hello", "OPTIONS", "/site/hello", []string{"Origin", news, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type"}, ``, http.StatusNoContent, news},
		{"preflight of a PUT", "OPTIONS", "/site/hello", []string{"Origin", news, "Access-Control-Request-Method", "PUT"}, ``, http.StatusForbidden, ""},
		{"preflight with a credential header", "OPTIONS", "/site/hello", []string{"Origin", news, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type, x-csrf-token"}, ``, http.StatusForbidden, ""},
		{"preflight of pay, not approved", "OPTIONS", "/site/pay", []string{"Origin", news, "Access-Control-Request-Method", "POST"}, ``, http.StatusForbidden, ""},
		{"preflight of the reader's approval", "OPTIONS", "/reader/approve", []string{"Origin", news, "Access-Control-Request-Method", "POST"}, ``, http.StatusForbidden, ""},
		{"preflight of sign-in", "OPTIONS", "/auth/signin", []string{"Origin", news, "Access-Control-Request-Method", "POST"}, ``, http.StatusForbidden, ""},
		// The reader's calls.
		{"sign-in from a site", "POST", "/auth/signin", []string{"Origin", news, "Content-Type", "application/json"}, `{"token": "admin"}`, http.StatusForbidden, ""},
		{"sign-in, cross-site", "POST", "/auth/signin", []string{"Sec-Fetch-Site", "cross-site", "Content-Type", "application/json"}, `{"token": "admin"}`, http.StatusForbidden, ""},
		{"sign-in with a GET", "GET", "/auth/signin", nil, ``, http.StatusMethodNotAllowed, ""},
		{"a wrong token", "POST", "/auth/signin", []string{"Content-Type", "application/json"}, `{"token": "nope"}`, http.StatusUnauthorized, ""},
		{"approve signed out", "POST", "/reader/approve", []string{"Content-Type", "application/json"}, `{}`, http.StatusUnauthorized, ""},
		{"a request signed out", "GET", "/reader/request?id=x", nil, ``, http.StatusUnauthorized, ""},
		{"a page's POST", "POST", "/approve", nil, ``, http.StatusMethodNotAllowed, ""},
		{"no page", "GET", "/nothing", nil, ``, http.StatusNotFound, ""},
	} {
		req := httptest.NewRequest(tc.method, "http://127.0.0.1:9739"+tc.path, strings.NewReader(tc.body))
		if tc.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		for i := 0; i+1 < len(tc.hdr); i += 2 {
			if tc.hdr[i] == "Host" {
				req.Host = tc.hdr[i+1]
			} else {
				req.Header.Set(tc.hdr[i], tc.hdr[i+1])
			}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want || rec.Header().Get("Access-Control-Allow-Origin") != tc.cors {
			t.Errorf("%s: %d (CORS %q) %s, want %d (CORS %q)", tc.name, rec.Code, rec.Header().Get("Access-Control-Allow-Origin"), rec.Body, tc.want, tc.cors)
		}
		if !strings.Contains(rec.Header().Get("Vary"), "Origin") {
			t.Errorf("%s: no Vary: Origin", tc.name)
		}
		if rec.Header().Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("%s: credentials allowed", tc.name)
		}
	}
	if h.Pending() != 0 {
		t.Fatalf("refused requests left %d pending", h.Pending())
	}
}

// TestSessions: the admin token signs in (a cookie the page's scripts
// cannot read, a CSRF token), the CSRF token is needed for actions, and
// sign-ins are limited.
func TestSessions(t *testing.T) {
	h := newTestHandler(t)
	do := func(method, path, body string, hdr ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "http://127.0.0.1:9739"+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	rec := do("POST", "/auth/signin", `{"token": "admin"}`, "Origin", "http://127.0.0.1:9739", "Sec-Fetch-Site", "same-origin")
	cs := rec.Result().Cookies()
	if rec.Code != 200 || len(cs) != 1 || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteStrictMode || cs[0].Name != SessionCookie {
		t.Fatalf("sign-in: %d %v", rec.Code, cs)
	}
	cookie := SessionCookie + "=" + cs[0].Value
	if rec := do("GET", "/auth/session", "", "Cookie", cookie); rec.Code != http.StatusForbidden {
		t.Fatalf("session without the CSRF token: %d %s", rec.Code, rec.Body)
	}
	if rec := do("POST", "/reader/decline", `{"id": "x"}`, "Cookie", cookie); rec.Code != http.StatusForbidden {
		t.Fatalf("an action without the CSRF token: %d", rec.Code)
	}
	if rec := do("POST", "/reader/decline", `{"id": "x"}`, "Cookie", cookie, CSRFHeader, "forged"); rec.Code != http.StatusForbidden {
		t.Fatalf("an action with a forged CSRF token: %d", rec.Code)
	}
	if rec := do("POST", "/auth/signout", `{}`, "Cookie", cookie); rec.Code != http.StatusForbidden {
		t.Fatalf("sign-out without the CSRF token: %d", rec.Code)
	}
	// Ten attempts a minute, for everyone together (all come from
	// loopback): the eleventh, right or wrong, is refused.
	for i := 1; i < 10; i++ {
		do("POST", "/auth/signin", `{"token": "wrong"}`)
	}
	if rec := do("POST", "/auth/signin", `{"token": "admin"}`); rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("the eleventh sign-in: %d", rec.Code)
	}
}

func TestHelpers(t *testing.T) {
	const news = "https://news.example"
	for in, want := range map[string]string{
		"https://news.example/a/b?c": "https://news.example/a/b?c",
		"https://other.example/a":    "",
		"http://news.example/a":      "",
		"javascript:alert(1)":        "",
		"":                           "",
	} {
		if got := samePage(in, news); got != want {
			t.Errorf("samePage(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"127.0.0.1:9745": "127.0.0.1:9745",
		":9745":          "news.example:9745",
		"0.0.0.0:9745":   "news.example:9745",
		"[::]:9745":      "news.example:9745",
		"nonsense":       "",
	} {
		if got := peerHostPort(in, news); got != want {
			t.Errorf("peerHostPort(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSessionCookieIsNotEnough: cookies of 127.0.0.1 are shared by all
// its ports, so any web server on this machine that the reader's browser
// visits receives the session cookie. The cookie alone must not be
// enough to learn the CSRF token, to read the reader's requests (the
// node's wallet balance), or to act: only the sign-in's answer, which the
// node's own pages keep, carries the CSRF token.
func TestSessionCookieIsNotEnough(t *testing.T) {
	h := newTestHandler(t)
	do := func(method, path, body string, hdr ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "http://127.0.0.1:9739"+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	rec := do("POST", "/auth/signin", `{"token": "admin"}`)
	cs := rec.Result().Cookies()
	if rec.Code != 200 || len(cs) != 1 {
		t.Fatalf("sign-in: %d %v", rec.Code, cs)
	}
	var signin struct {
		CSRF string `json:"csrf_token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &signin); err != nil || signin.CSRF == "" {
		t.Fatalf("sign-in answer %s: %v", rec.Body, err)
	}
	// As a program that got the cookie (no Origin, no Sec-Fetch-Site).
	cookie := SessionCookie + "=" + cs[0].Value
	for _, path := range []string{"/auth/session", "/reader/request?id=x", "/reader/confirmation?id=x"} {
		rec := do("GET", path, "", "Cookie", cookie)
		if rec.Code != http.StatusForbidden || strings.Contains(rec.Body.String(), signin.CSRF) {
			t.Errorf("GET %s with the cookie alone: %d %s", path, rec.Code, rec.Body)
		}
	}
	// The node's pages, with the token the sign-in gave them.
	if rec := do("GET", "/auth/session", "", "Cookie", cookie, CSRFHeader, signin.CSRF); rec.Code != 200 || strings.Contains(rec.Body.String(), signin.CSRF) {
		t.Fatalf("session with the CSRF token: %d %s", rec.Code, rec.Body)
	}
	if rec := do("GET", "/reader/request?id=x", "", "Cookie", cookie, CSRFHeader, signin.CSRF); rec.Code != http.StatusNotFound {
		t.Fatalf("a request with the CSRF token: %d %s", rec.Code, rec.Body)
	}
}

// TestPendingBounds: a hostile page asks for the approval of many origins
// at once (its countless subdomains, from frames), to fill the requests
// that wait for the reader. It gets a few places only, and never takes
// the place of an approved site's confirmation or of another site's
// request for approval.
func TestPendingBounds(t *testing.T) {
	h := newTestHandler(t)
	terms := &siteTerms{}
	refused := 0
	for i := range 200 {
		if _, err := h.askApproval(fmt.Sprintf("https://s%d.evil.example", i), terms); err != nil {
			refused++
		}
	}
	if refused == 0 || h.Pending() > 8 {
		t.Fatalf("one domain's subdomains hold %d requests (%d refused)", h.Pending(), refused)
	}
	if _, err := h.askApproval("https://news.example", terms); err != nil {
		t.Fatalf("a site's request for approval after a hostile page's: %v", err)
	}
	// Requests of many domains fill the table for approvals; an approved
	// site's confirmation still has its place.
	for i := range h.cfg.MaxPending {
		h.askApproval(fmt.Sprintf("https://d%d.example", i), terms)
	}
	if _, err := h.askApproval("https://late.example", terms); err == nil {
		t.Fatal("no bound on requests for approval")
	}
	if _, err := h.askConfirmation("https://news.example", terms); err != nil {
		t.Fatalf("a confirmation when requests for approval fill their table: %v", err)
	}
}
