package dashboard

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	adminTok = "admin-secret"
	viewTok  = "view-secret"
	appTok   = "app-secret"
)

func classify(s string) Kind {
	switch s {
	case adminTok:
		return KindAdmin
	case viewTok:
		return KindView
	case appTok:
		return KindApp
	}
	return KindNone
}

// apiRecorder stands in for the gateway: it records the Authorization
// of every call that reaches it and answers 200.
type apiRecorder struct {
	mu    sync.Mutex
	calls []string // "METHOD path auth"
}

func (a *apiRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.calls = append(a.calls, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization")+" cookie="+r.Header.Get("Cookie"))
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, "{}\n")
}

func (a *apiRecorder) got() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.calls...)
}

type fixture struct {
	t   *testing.T
	h   *Handler
	api *apiRecorder
	now time.Time
}

func newFixture(t *testing.T, cfg Config) *fixture {
	f := &fixture{t: t, api: &apiRecorder{}, now: time.Unix(1_700_000_000, 0)}
	cfg.Now = func() time.Time { return f.now }
	if cfg.BodyTimeout == 0 {
		cfg.BodyTimeout = time.Minute
	}
	h, err := New(f.api, classify, cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	return f
}

// remoteAddr, as a key of do's headers, sets the request's remote
// address instead (httptest's default is 192.0.2.1:1234).
const remoteAddr = "remote-addr"

type reply struct {
	status int
	body   map[string]any
	header http.Header
}

func (f *fixture) do(method, path, body string, hdr map[string]string) reply {
	f.t.Helper()
	req := httptest.NewRequest(method, "https://127.0.0.1:9738"+path, strings.NewReader(body))
	for k, v := range hdr {
		if k == remoteAddr {
			req.RemoteAddr = v
			continue
		}
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, req)
	r := reply{status: w.Code, header: w.Header()}
	if strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(w.Body.Bytes(), &r.body); err != nil {
			f.t.Fatalf("%s %s: body %q: %v", method, path, w.Body, err)
		}
	}
	return r
}

// signIn signs in with tok and returns the session cookie and CSRF token.
func (f *fixture) signIn(tok string) (cookie, csrf string) {
	f.t.Helper()
	r := f.do("POST", "/auth/signin", `{"token": "`+tok+`"}`, map[string]string{"Origin": "https://127.0.0.1:9738"})
	if r.status != 200 {
		f.t.Fatalf("sign in: %d %v", r.status, r.body)
	}
	c := r.header.Get("Set-Cookie")
	for _, want := range []string{SessionCookie + "=", "HttpOnly", "Secure", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(c, want) {
			f.t.Fatalf("session cookie %q lacks %s", c, want)
		}
	}
	cookie, _, _ = strings.Cut(c, ";")
	return cookie, r.body["csrf_token"].(string)
}

func TestSignInAndAPIWithSession(t *testing.T) {
	f := newFixture(t, DefaultConfig())
	cookie, csrf := f.signIn(adminTok)
	if r := f.do("GET", "/auth/session", "", map[string]string{"Cookie": cookie}); r.status != 200 || r.body["kind"] != "admin" || r.body["csrf_token"] != csrf {
		t.Fatalf("session: %d %v", r.status, r.body)
	}
	if r := f.do("GET", "/v1/info", "", map[string]string{"Cookie": cookie}); r.status != 200 {
		t.Fatalf("GET with session: %d %v", r.status, r.body)
	}
	if r := f.do("POST", "/v1/channels/x/withdraw", `{}`, map[string]string{"Cookie": cookie, CSRFHeader: csrf, "Origin": "https://127.0.0.1:9738"}); r.status != 200 {
		t.Fatalf("POST with session and CSRF: %d %v", r.status, r.body)
	}
	// The API sees the token as a Bearer header, and neither the cookie
	// nor the CSRF token.
	want := []string{"GET /v1/info Bearer admin-secret cookie=", "POST /v1/channels/x/withdraw Bearer admin-secret cookie="}
	if got := f.api.got(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("API calls %q, want %q", got, want)
	}
	// A client with its own Authorization passes through untouched.
	if r := f.do("POST", "/v1/payments", `{}`, map[string]string{"Authorization": "Bearer other"}); r.status != 200 {
		t.Fatalf("bearer client: %d", r.status)
	}
	if got := f.api.got(); got[len(got)-1] != "POST /v1/payments Bearer other cookie=" {
		t.Fatalf("bearer call reached the API as %q", got[len(got)-1])
	}
}

// TestRefusals: every refusal is a JSON error with the right status, sets
// no cookie, and reaches nothing behind the dashboard.
func TestRefusals(t *testing.T) {
	f := newFixture(t, DefaultConfig())
	cookie, csrf := f.signIn(adminTok)
	calls := len(f.api.got())
	origin := "https://127.0.0.1:9738"
	for _, tc := range []struct {
		name, method, path, body string
		hdr                      map[string]string
		status                   int
		msg                      string
	}{
		// No cookie at all.
		{"no cookie", "GET", "/v1/info", "", nil, 401, "not signed in"},
		{"no cookie, session", "GET", "/auth/session", "", nil, 401, "not signed in"},
		// A cookie the server never issued.
		{"unknown session", "GET", "/v1/info", "", map[string]string{"Cookie": SessionCookie + "=feedbeef"}, 401, "session expired or signed out"},
		// A wrong token at sign-in.
		{"wrong token", "POST", "/auth/signin", `{"token": "nope"}`, nil, 401, "wrong token"},
		// An empty token.
		{"empty token", "POST", "/auth/signin", `{"token": " "}`, nil, 400, "no token"},
		// Not JSON, or with unknown fields.
		{"bad body", "POST", "/auth/signin", `token=admin-secret`, nil, 400, "want JSON"},
		{"unknown field", "POST", "/auth/signin", `{"token": "admin-secret", "x": 1}`, nil, 400, "want JSON"},
		// A body over 4 KiB.
		{"huge body", "POST", "/auth/signin", `{"token": "` + strings.Repeat("a", 5000) + `"}`, nil, 400, "at most 4 KiB"},
		// An app token may only pay.
		{"app token", "POST", "/auth/signin", `{"token": "app-secret"}`, nil, 403, "app tokens"},
		// Sign-in from another site (login CSRF).
		{"cross-origin sign-in", "POST", "/auth/signin", `{"token": "admin-secret"}`, map[string]string{"Origin": "https://evil.example"}, 403, "cross-origin"},
		// The token in the URL is not a thing: sign-in is POST only.
		{"sign-in by GET", "GET", "/auth/signin?token=admin-secret", "", nil, 405, "POST"},
		// An action without the CSRF header.
		{"no CSRF", "POST", "/v1/channels/x/withdraw", `{}`, map[string]string{"Cookie": cookie}, 403, "missing X-CSRF-Token"},
		// An action with a wrong CSRF header.
		{"wrong CSRF", "POST", "/v1/channels/x/withdraw", `{}`, map[string]string{"Cookie": cookie, CSRFHeader: "guess"}, 403, "wrong X-CSRF-Token"},
		// A cross-origin action, even with the right CSRF token.
		{"cross-origin action", "POST", "/v1/channels/x/withdraw", `{}`, map[string]string{"Cookie": cookie, CSRFHeader: csrf, "Origin": "https://evil.example"}, 403, "cross-origin"},
		{"cross-site action", "POST", "/v1/channels/x/withdraw", `{}`, map[string]string{"Cookie": cookie, CSRFHeader: csrf, "Sec-Fetch-Site": "cross-site"}, 403, "cross-site"},
		// Sign-out needs the CSRF token too.
		{"sign-out without CSRF", "POST", "/auth/signout", `{}`, map[string]string{"Cookie": cookie, "Origin": origin}, 403, "missing X-CSRF-Token"},
		// Pages only answer GET.
		{"POST a page", "POST", "/", "", nil, 405, "not allowed"},
		{"no such page", "GET", "/nope.js", "", nil, 404, "no page"},
		{"dot file", "GET", "/../dashboard.go", "", nil, 404, "no page"},
	} {
		r := f.do(tc.method, tc.path, tc.body, tc.hdr)
		msg, _ := r.body["message"].(string)
		if r.status != tc.status || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s: %d %q, want %d %q", tc.name, r.status, msg, tc.status, tc.msg)
		}
		if c := r.header.Get("Set-Cookie"); c != "" {
			t.Errorf("%s: set a cookie %q", tc.name, c)
		}
	}
	if got := f.api.got(); len(got) != calls {
		t.Fatalf("refused requests reached the API: %q", got[calls:])
	}
	if n := f.h.Sessions(); n != 1 {
		t.Fatalf("%d sessions after refusals, want the one", n)
	}
}

func TestSessionExpires(t *testing.T) {
	f := newFixture(t, Config{MaxSessions: 10, SessionTTL: time.Hour, SignInsPerMinute: 10, MaxSignInAddrs: 10})
	cookie, _ := f.signIn(viewTok)
	f.now = f.now.Add(59 * time.Minute)
	if r := f.do("GET", "/v1/info", "", map[string]string{"Cookie": cookie}); r.status != 200 {
		t.Fatalf("before expiry: %d", r.status)
	}
	f.now = f.now.Add(time.Minute)
	if r := f.do("GET", "/v1/info", "", map[string]string{"Cookie": cookie}); r.status != 401 {
		t.Fatalf("after expiry: %d, want 401", r.status)
	}
	if n := f.h.Sessions(); n != 0 {
		t.Fatalf("expired session still in the table (%d)", n)
	}
}

func TestSessionTableBounded(t *testing.T) {
	f := newFixture(t, Config{MaxSessions: 3, SessionTTL: time.Hour, SignInsPerMinute: 10, MaxSignInAddrs: 10})
	var cookies []string
	for range 5 {
		c, _ := f.signIn(viewTok)
		cookies = append(cookies, c)
		f.now = f.now.Add(time.Second)
	}
	if n := f.h.Sessions(); n != 3 {
		t.Fatalf("%d sessions, want the bound 3", n)
	}
	for i, c := range cookies {
		want := 200
		if i < 2 { // the oldest two were evicted
			want = 401
		}
		if r := f.do("GET", "/v1/info", "", map[string]string{"Cookie": c}); r.status != want {
			t.Errorf("session %d: %d, want %d", i, r.status, want)
		}
	}
}

func TestSignOutEndsSessionOnServer(t *testing.T) {
	f := newFixture(t, DefaultConfig())
	cookie, csrf := f.signIn(adminTok)
	r := f.do("POST", "/auth/signout", `{}`, map[string]string{"Cookie": cookie, CSRFHeader: csrf, "Origin": "https://127.0.0.1:9738"})
	if r.status != 200 || !strings.Contains(r.header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("sign out: %d, cookie %q", r.status, r.header.Get("Set-Cookie"))
	}
	// The old cookie, replayed, is refused: the session is gone.
	if r := f.do("GET", "/v1/info", "", map[string]string{"Cookie": cookie}); r.status != 401 {
		t.Fatalf("after sign-out: %d, want 401", r.status)
	}
	if n := f.h.Sessions(); n != 0 {
		t.Fatalf("%d sessions after sign-out", n)
	}
}

func TestPagesHeaders(t *testing.T) {
	f := newFixture(t, DefaultConfig())
	for path, ct := range map[string]string{"/": "text/html", "/signin": "text/html", "/offer": "text/html", "/app.js": "javascript", "/signin.js": "javascript", "/offer.js": "javascript", "/style.css": "text/css"} {
		r := f.do("GET", path, "", nil)
		if r.status != 200 || !strings.Contains(r.header.Get("Content-Type"), ct) {
			t.Errorf("%s: %d %s", path, r.status, r.header.Get("Content-Type"))
		}
		if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", path, csp)
		}
	}
	// No inline script or style anywhere (the CSP would block it).
	for _, name := range []string{"index.html", "signin.html", "offer.html"} {
		b, _ := static.ReadFile("static/" + name)
		s := string(b)
		if strings.Contains(s, "<script>") || strings.Contains(s, "style=") || strings.Contains(s, "<style") || strings.Contains(s, "onclick") {
			t.Errorf("%s has inline script or style", name)
		}
		if strings.Contains(s, "http://") || strings.Contains(s, "https://") {
			t.Errorf("%s loads something from another origin", name)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig()
	for _, c := range []Config{
		{MaxSessions: 0, SessionTTL: time.Hour, SignInsPerMinute: 1, MaxSignInAddrs: 1},
		{MaxSessions: 1, SessionTTL: time.Second, SignInsPerMinute: 1, MaxSignInAddrs: 1},
		{MaxSessions: 1, SessionTTL: time.Hour, SignInsPerMinute: 0, MaxSignInAddrs: 1},
		{MaxSessions: 1, SessionTTL: time.Hour, SignInsPerMinute: 1, MaxSignInAddrs: 0},
	} {
		if _, err := New(&apiRecorder{}, classify, c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if _, err := New(&apiRecorder{}, classify, ok); err != nil {
		t.Errorf("the default config: %v", err)
	}
	if _, err := New(nil, classify, DefaultConfig()); err == nil {
		t.Error("nil API accepted")
	}
}
