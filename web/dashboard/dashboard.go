package dashboard

import (
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tinypay/tinypay/rpc/apiutil"
)

//go:embed static
var static embed.FS

// Kind is what a token may do in the dashboard.
type Kind int

const (
	// KindNone is no token the node knows.
	KindNone Kind = iota
	// KindAdmin is the node's admin token: it may read and act.
	KindAdmin
	// KindView is a view token: it may only read.
	KindView
	// KindApp is an app token: it may only pay, and cannot sign in.
	KindApp
)

func (k Kind) String() string {
	switch k {
	case KindAdmin:
		return "admin"
	case KindView:
		return "view"
	case KindApp:
		return "app"
	}
	return "none"
}

// Classifier says which kind of token secret is (KindNone: unknown or
// revoked). It is called once per sign-in; afterwards the API checks the
// token on every call, so a token revoked later stops working at once.
type Classifier func(secret string) Kind

// Cookie names.
const (
	SessionCookie = "tinypay_session"
	// CSRFHeader carries the session's CSRF token on every request other
	// than GET and HEAD.
	CSRFHeader = "X-CSRF-Token"
)

// Config configures the dashboard.
type Config struct {
	// MaxSessions bounds the sessions of each kind (admin, view): signing
	// in when that kind's are at the bound evicts the oldest of the same
	// kind, so that view sessions never push out an admin's.
	MaxSessions int
	// SessionTTL is how long a session lasts after sign-in.
	SessionTTL time.Duration
	// SignInsPerMinute bounds the sign-in attempts from one remote
	// address (an IPv4 address, or an IPv6 /64) per minute; more are
	// refused with 429 until the minute is over.
	SignInsPerMinute int
	// MaxSignInAddrs bounds the addresses whose attempts are counted; when
	// that many have tried within the minute, every further address shares
	// one count.
	MaxSignInAddrs int
	// BodyTimeout bounds how long a client may take to send the body of a
	// sign-in or an offer to encode (a few KiB), so that a slow sender
	// holds no connection for long.
	BodyTimeout time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// DefaultConfig returns the settings tinypayd uses: 1000 sessions of
// each kind, of 12 hours; 10 sign-in attempts a minute per address, with
// 10,000 addresses counted; 10 s to send a body.
func DefaultConfig() Config {
	return Config{MaxSessions: 1000, SessionTTL: 12 * time.Hour, SignInsPerMinute: 10, MaxSignInAddrs: 10_000, BodyTimeout: 10 * time.Second}
}

// Validate reports the first setting out of range.
func (c Config) Validate() error {
	switch {
	case c.MaxSessions < 1:
		return errors.New("dashboard: MaxSessions must be at least 1")
	case c.SessionTTL < time.Minute:
		return errors.New("dashboard: SessionTTL must be at least a minute")
	case c.SignInsPerMinute < 1:
		return errors.New("dashboard: SignInsPerMinute must be at least 1")
	case c.MaxSignInAddrs < 1:
		return errors.New("dashboard: MaxSignInAddrs must be at least 1")
	case c.BodyTimeout <= 0:
		return errors.New("dashboard: BodyTimeout must be positive")
	}
	return nil
}

// maxSignInBytes bounds the body of a sign-in.
const maxSignInBytes = 4 << 10

type session struct {
	token   string
	kind    Kind
	csrf    string
	created time.Time
	expires time.Time
}

// Handler serves the dashboard's pages, its sign-in and sign-out, and
// the HTTP/JSON API behind it (see the package doc).
type Handler struct {
	cfg      Config
	api      http.Handler
	classify Classifier

	mu       sync.Mutex
	sessions map[string]*session  // by cookie value
	attempts map[string]*attempts // sign-ins by remote address (see allowSignIn)
	// attemptsSwept is when stale counts were last dropped.
	attemptsSwept time.Time
}

// attempts counts one address's sign-ins in the minute that started at
// since.
type attempts struct {
	since time.Time
	n     int
}

// overflowAddr is the one count shared by every address beyond
// Config.MaxSignInAddrs.
const overflowAddr = "overflow"

// New returns the dashboard in front of api (the HTTP/JSON API handler);
// classify recognises tokens at sign-in.
func New(api http.Handler, classify Classifier, cfg Config) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if api == nil || classify == nil {
		return nil, errors.New("dashboard: an API handler and a classifier are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handler{cfg: cfg, api: api, classify: classify, sessions: map[string]*session{}, attempts: map[string]*attempts{}}, nil
}

// Sessions returns how many sessions the table holds (expired ones
// included until they are swept).
func (h *Handler) Sessions() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sessions)
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.Path; {
	case strings.HasPrefix(p, "/v1/"):
		h.serveAPI(w, r)
	case p == "/auth/signin":
		h.signIn(w, r)
	case p == "/auth/signout":
		h.signOut(w, r)
	case p == "/auth/session":
		h.sessionInfo(w, r)
	case p == "/offer/encode":
		h.encodeOffer(w, r)
	default:
		h.serveStatic(w, r)
	}
}

// serveAPI passes a call on to the API: as it is when it carries its own
// Authorization, else with the session's token.
func (h *Handler) serveAPI(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "" {
		h.api.ServeHTTP(w, r)
		return
	}
	if bearerOnly(r.URL.Path) {
		// A GET a link or an image could start: the backup (which may hold
		// the node's key) is never fetched on the strength of a cookie.
		writeError(w, http.StatusForbidden, "the backup is not served to a dashboard session: run tinypay backup, or send Authorization: Bearer <admin token>")
		return
	}
	s, status, msg := h.check(r)
	if s == nil {
		writeError(w, status, msg)
		return
	}
	r2 := r.Clone(r.Context())
	r2.Header.Del("Cookie")
	r2.Header.Del(CSRFHeader)
	r2.Header.Set("Authorization", "Bearer "+s.token)
	h.api.ServeHTTP(w, r2)
}

// bearerOnly says whether path is an API call the dashboard never makes
// with a session: /v1/backup (any method), however the path is spelled.
func bearerOnly(p string) bool {
	c := strings.ToLower(path.Clean("/" + p))
	return c == "/v1/backup" || strings.HasPrefix(c, "/v1/backup/")
}

// check finds the request's session and, for anything but GET and HEAD,
// checks its origin and CSRF token. It returns the session (a copy), or
// the HTTP status and message of the refusal.
func (h *Handler) check(r *http.Request) (*session, int, string) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return nil, http.StatusUnauthorized, "not signed in (sign in at /signin, or send Authorization: Bearer <token>)"
	}
	s := h.lookup(c.Value)
	if s == nil {
		return nil, http.StatusUnauthorized, "session expired or signed out: sign in again at /signin"
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return s, 0, ""
	}
	if msg := crossSite(r); msg != "" {
		return nil, http.StatusForbidden, msg
	}
	got := r.Header.Get(CSRFHeader)
	if got == "" {
		return nil, http.StatusForbidden, "missing " + CSRFHeader + " header (the dashboard's pages send it with every action)"
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) != 1 {
		return nil, http.StatusForbidden, "wrong " + CSRFHeader + " header for this session"
	}
	return s, 0, ""
}

// crossSite says why r comes from another site, or "".
func crossSite(r *http.Request) string {
	if o := r.Header.Get("Origin"); o != "" && o != "https://"+r.Host && o != "http://"+r.Host {
		return "cross-origin request from " + o + " refused"
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return "cross-site request refused"
	}
	return ""
}

// lookup returns a copy of the live session id names, deleting it if it
// has expired.
func (h *Handler) lookup(id string) *session {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.sessions[id]
	if !ok {
		return nil
	}
	if !h.cfg.Now().Before(s.expires) {
		delete(h.sessions, id)
		return nil
	}
	cp := *s
	return &cp
}

type signInRequest struct {
	Token string `json:"token"`
}

type sessionJSON struct {
	Kind        string `json:"kind"`
	CSRFToken   string `json:"csrf_token"`
	ExpiresUnix int64  `json:"expires_unix"`
}

// signIn serves POST /auth/signin: {"token": "..."} in, a session cookie
// and {"kind", "csrf_token", "expires_unix"} out.
func (h *Handler) signIn(w http.ResponseWriter, r *http.Request) {
	if !onlyMethod(w, r, http.MethodPost, "sign in with POST and a JSON body {\"token\": \"...\"}") {
		return
	}
	if msg := crossSite(r); msg != "" {
		writeError(w, http.StatusForbidden, msg)
		return
	}
	if wait := h.allowSignIn(remoteKey(r.RemoteAddr)); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
		writeError(w, http.StatusTooManyRequests, "too many sign-in attempts from this address: wait a minute")
		return
	}
	var req signInRequest
	apiutil.BodyDeadline(w, r, h.cfg.BodyTimeout)
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxSignInBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "sign-in body: want JSON {\"token\": \"...\"} of at most 4 KiB")
		return
	}
	tok := strings.TrimSpace(req.Token)
	if tok == "" {
		writeError(w, http.StatusBadRequest, "no token: paste the node's admin token (DATADIR/api.token) or a view token")
		return
	}
	kind := h.classify(tok)
	switch kind {
	case KindAdmin, KindView:
	case KindApp:
		writeError(w, http.StatusForbidden, "app tokens may only pay and cannot sign in: use the node's admin token or a view token")
		return
	default:
		writeError(w, http.StatusUnauthorized, "wrong token: the node knows no such token (or it was revoked)")
		return
	}
	now := h.cfg.Now()
	s := &session{token: tok, kind: kind, csrf: randomID(), created: now, expires: now.Add(h.cfg.SessionTTL)}
	id := randomID()
	h.mu.Lock()
	h.sweepLocked(now)
	for h.countLocked(kind) >= h.cfg.MaxSessions {
		h.evictOldestLocked(kind)
	}
	h.sessions[id] = s
	h.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: id, Path: "/", MaxAge: int(h.cfg.SessionTTL / time.Second),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	writeJSON(w, http.StatusOK, sessionJSON{Kind: kind.String(), CSRFToken: s.csrf, ExpiresUnix: s.expires.Unix()})
}

// sweepLocked deletes expired sessions.
func (h *Handler) sweepLocked(now time.Time) {
	for id, s := range h.sessions {
		if !now.Before(s.expires) {
			delete(h.sessions, id)
		}
	}
}

// countLocked counts the sessions of kind.
func (h *Handler) countLocked(kind Kind) int {
	n := 0
	for _, s := range h.sessions {
		if s.kind == kind {
			n++
		}
	}
	return n
}

// evictOldestLocked deletes the oldest session of kind.
func (h *Handler) evictOldestLocked(kind Kind) {
	var oldest string
	var at time.Time
	for id, s := range h.sessions {
		if s.kind == kind && (oldest == "" || s.created.Before(at)) {
			oldest, at = id, s.created
		}
	}
	delete(h.sessions, oldest)
}

// remoteKey is whom sign-in attempts are counted against: the remote IPv4
// address, or the /64 of an IPv6 one (what one host usually holds).
func remoteKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// allowSignIn counts a sign-in attempt from addr and returns 0, or how
// long addr must wait when it has had its attempts this minute. The table
// of addresses is bounded: past MaxSignInAddrs live ones, the newcomers
// share one count.
func (h *Handler) allowSignIn(addr string) time.Duration {
	now := h.cfg.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	a := h.attempts[addr]
	if a == nil {
		// Full: drop the stale counts, at most once a second (a flood of
		// new addresses does not make every attempt scan the table).
		if len(h.attempts) >= h.cfg.MaxSignInAddrs && now.Sub(h.attemptsSwept) >= time.Second {
			h.attemptsSwept = now
			for k, x := range h.attempts {
				if now.Sub(x.since) >= time.Minute {
					delete(h.attempts, k)
				}
			}
		}
		if len(h.attempts) >= h.cfg.MaxSignInAddrs {
			addr = overflowAddr
			a = h.attempts[addr]
		}
		if a == nil {
			a = &attempts{since: now}
			h.attempts[addr] = a
		}
	}
	if now.Sub(a.since) >= time.Minute {
		a.since, a.n = now, 0
	}
	if a.n >= h.cfg.SignInsPerMinute {
		return a.since.Add(time.Minute).Sub(now)
	}
	a.n++
	return 0
}

// SignInAddrs returns how many addresses the sign-in counts hold.
func (h *Handler) SignInAddrs() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.attempts)
}

// signOut serves POST /auth/signout: it deletes the session (CSRF-checked)
// and clears the cookie.
func (h *Handler) signOut(w http.ResponseWriter, r *http.Request) {
	if !onlyMethod(w, r, http.MethodPost, "sign out with POST") {
		return
	}
	if _, status, msg := h.check(r); status != 0 {
		writeError(w, status, msg)
		return
	}
	c, _ := r.Cookie(SessionCookie)
	h.mu.Lock()
	delete(h.sessions, c.Value)
	h.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	writeJSON(w, http.StatusOK, struct{}{})
}

// sessionInfo serves GET /auth/session: the session's kind and CSRF token.
func (h *Handler) sessionInfo(w http.ResponseWriter, r *http.Request) {
	if !onlyMethod(w, r, http.MethodGet, "GET only") {
		return
	}
	s, status, msg := h.check(r)
	if s == nil {
		writeError(w, status, msg)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, sessionJSON{Kind: s.kind.String(), CSRFToken: s.csrf, ExpiresUnix: s.expires.Unix()})
}

// pages maps paths to the embedded files they serve.
var pages = map[string]string{
	"/":           "index.html",
	"/index.html": "index.html",
	"/signin":     "signin.html",
	"/offer":      "offer.html", // a shared offer (#tpo1...), public
}

// serveStatic serves the embedded pages and assets.
func (h *Handler) serveStatic(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed on "+r.URL.Path)
		return
	}
	name, ok := pages[r.URL.Path]
	if !ok {
		name = strings.TrimPrefix(path.Clean(r.URL.Path), "/")
	}
	b, err := fs.ReadFile(static, "static/"+name)
	if err != nil || name == "" || strings.HasPrefix(name, ".") {
		writeError(w, http.StatusNotFound, "no page at "+r.URL.Path)
		return
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	hd.Set("Content-Type", ct)
	hd.Set("Cache-Control", "no-cache")
	hd.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(b)
	}
}

// onlyMethod answers 405, with msg and the Allow header, unless r uses
// method, and reports whether it does.
func onlyMethod(w http.ResponseWriter, r *http.Request, method, msg string) bool {
	if r.Method == method {
		return true
	}
	w.Header().Set("Allow", method)
	writeError(w, http.StatusMethodNotAllowed, msg)
	return false
}

func randomID() string {
	var b [32]byte
	if _, err := io.ReadFull(rand.Reader, b[:]); err != nil {
		panic("dashboard: no randomness: " + err.Error()) // crypto/rand does not fail
	}
	return hex.EncodeToString(b[:])
}

// errorJSON is an error in the API's format (rpc.Gateway): the gRPC
// code as a number and a name, and a message.
type errorJSON struct {
	Code    int    `json:"code"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, httpStatus int, msg string) {
	e := errorJSON{Message: msg}
	switch httpStatus {
	case http.StatusUnauthorized:
		e.Code, e.Status = 16, "UNAUTHENTICATED"
		w.Header().Set("WWW-Authenticate", `Bearer realm="tinypay"`)
	case http.StatusForbidden:
		e.Code, e.Status = 7, "PERMISSION_DENIED"
	case http.StatusNotFound:
		e.Code, e.Status = 5, "NOT_FOUND"
	case http.StatusMethodNotAllowed:
		e.Code, e.Status = 12, "UNIMPLEMENTED"
	case http.StatusTooManyRequests:
		e.Code, e.Status = 8, "RESOURCE_EXHAUSTED"
	default:
		e.Code, e.Status = 3, "INVALID_ARGUMENT"
	}
	writeJSON(w, httpStatus, e)
}

func writeJSON(w http.ResponseWriter, httpStatus int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(httpStatus)
	w.Write(append(b, '\n'))
}
