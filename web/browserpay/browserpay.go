package browserpay

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/apps"
	"github.com/tinypay/tinypay/channel"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/apiutil"
)

//go:embed static
var static embed.FS

// Wallet is what the endpoint needs of the reader's node to pay as a
// site: its approvals (app tokens with an origin) and the application
// layer's payments and streams, made with a site's token and origin so
// that the token's policy applies (apps.Apps does all of it but
// PayOffer's receipt; tinypayd adapts it).
type Wallet interface {
	// Site returns the newest approval of origin, revoked or not.
	Site(origin string) (apps.AppToken, bool)
	// ApproveSite stores a site's approval.
	ApproveSite(ctx context.Context, s apps.SiteApproval) (apps.AppToken, error)
	// PayOffer pays r (r.Offer, r.Token and r.Origin set) and returns the
	// payee's receipt.
	PayOffer(ctx context.Context, r apps.PayRequest) (*apiv1.Receipt, error)
	// StartStream, StopStream and Stream: a site's streams (r.Token and
	// r.Origin set).
	StartStream(ctx context.Context, r apps.StreamRequest) (apps.StreamInfo, error)
	StopStream(id [16]byte, token apps.TokenID) (apps.StreamInfo, error)
	Stream(id [16]byte) (apps.StreamInfo, error)
}

// Config configures the endpoint. Build it with DefaultConfig.
type Config struct {
	// MaxPending bounds the approval requests held at once (sites make
	// them without asking anyone; at most 4 for the origins of one
	// registrable domain), and apart from them the confirmation requests
	// (only approved sites make them); each origin has at most one of
	// each. Beyond it a site is told to try again later.
	MaxPending int
	// PendingTTL is how long a request waits for the reader.
	PendingTTL time.Duration
	// MaxStreams bounds the streams the endpoint pays for pages at once.
	MaxStreams int
	// StreamLease: a stream whose page has not called keepalive (or
	// started it) for this long is stopped (the page was closed without
	// saying so, or the browser died).
	StreamLease time.Duration
	// SessionTTL is how long a reader's sign-in lasts; MaxSessions bounds
	// the sessions kept (the oldest goes first).
	SessionTTL  time.Duration
	MaxSessions int
	// SignInsPerMinute bounds sign-in attempts (all come from loopback,
	// so the bound is for everyone together).
	SignInsPerMinute int
	// BodyTimeout bounds how long a client may take to send a body.
	BodyTimeout time.Duration
	// NodeTimeout bounds a payment and every call to the node but an
	// open of a channel.
	NodeTimeout time.Duration
	// OpenTimeout bounds an open of a channel (the chain included).
	OpenTimeout time.Duration
	// Logger receives the endpoint's logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultConfig returns what tinypayd uses.
func DefaultConfig() Config {
	return Config{
		MaxPending: 64, PendingTTL: 10 * time.Minute, MaxStreams: 32, StreamLease: 10 * time.Second,
		SessionTTL: 12 * time.Hour, MaxSessions: 100, SignInsPerMinute: 10, BodyTimeout: 10 * time.Second,
		NodeTimeout: 30 * time.Second, OpenTimeout: 10 * time.Minute,
	}
}

// Validate reports the first setting out of range.
func (c Config) Validate() error {
	switch {
	case c.MaxPending < 1 || c.MaxStreams < 1 || c.MaxSessions < 1 || c.SignInsPerMinute < 1:
		return errors.New("browserpay: MaxPending, MaxStreams, MaxSessions and SignInsPerMinute must be at least 1")
	case c.PendingTTL < time.Second || c.StreamLease < time.Second || c.SessionTTL < time.Minute:
		return errors.New("browserpay: PendingTTL and StreamLease must be at least a second, SessionTTL a minute")
	case c.BodyTimeout <= 0 || c.NodeTimeout <= 0 || c.OpenTimeout <= 0:
		return errors.New("browserpay: BodyTimeout, NodeTimeout and OpenTimeout must be positive")
	}
	return nil
}

// maxBodyBytes bounds every body the endpoint reads (terms with an offer
// are a few KiB).
const maxBodyBytes = 64 << 10

// Handler is the browser endpoint; see the package documentation.
type Handler struct {
	cfg    Config
	wallet Wallet
	api    apiv1.NodeClient
	admin  func(secret string) bool
	log    *slog.Logger
	now    func() time.Time
	port   string // the listener's port: requests must name it in Host

	infoMu sync.Mutex
	info   *apiv1.NodeInfo // the node's chain and assets, asked once

	mu       sync.Mutex // guards what follows; held for memory only
	sessions map[string]*session
	signIns  attempts
	pending  map[string]*pending // approval and confirmation requests by id
	opening  map[string]*opening // channels being opened, by payee and asset
	streams  map[[16]byte]*lease
	reserved map[*reservation]struct{} // places taken by streams being started

	stop chan struct{}
	done chan struct{}
}

// New returns the endpoint for a listener at addr (host:port: a request
// must name that port, with 127.0.0.1, localhost or [::1], as its Host).
// api is the node's control API as its admin; admin says whether a
// secret is the node's admin token (the sign-in of the reader's pages).
// Close it when done.
func New(addr string, cfg Config, wallet Wallet, api apiv1.NodeClient, admin func(secret string) bool) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if wallet == nil || api == nil || admin == nil {
		return nil, errors.New("browserpay: a wallet, an API client and an admin check are required")
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" || port == "0" {
		return nil, fmt.Errorf("browserpay: listener address %q: want host:port with the port in use", addr)
	}
	h := &Handler{
		cfg: cfg, wallet: wallet, api: api, admin: admin, log: cfg.Logger, now: cfg.Now, port: port,
		sessions: map[string]*session{}, pending: map[string]*pending{}, opening: map[string]*opening{},
		streams: map[[16]byte]*lease{}, reserved: map[*reservation]struct{}{}, stop: make(chan struct{}), done: make(chan struct{}),
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	go h.janitor()
	return h, nil
}

// Close stops the streams the endpoint pays for pages (their pages can
// no longer keep them) and its background work.
func (h *Handler) Close() {
	select {
	case <-h.stop:
		return
	default:
	}
	close(h.stop)
	<-h.done
	h.mu.Lock()
	var ls []*lease
	for _, l := range h.streams {
		ls = append(ls, l)
	}
	h.streams = map[[16]byte]*lease{}
	h.mu.Unlock()
	for _, l := range ls {
		h.stopStream(l)
	}
}

// janitor stops streams whose page went quiet, once a second.
func (h *Handler) janitor() {
	defer close(h.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		now := h.now()
		var expired []*lease
		h.mu.Lock()
		for id, l := range h.streams {
			if now.After(l.deadline) {
				expired = append(expired, l)
				delete(h.streams, id)
			}
		}
		h.mu.Unlock()
		for _, l := range expired {
			h.log.Info("stopping a stream whose page went quiet", "stream", hex.EncodeToString(l.id[:]), "origin", l.origin)
			h.stopStream(l)
		}
	}
}

func (h *Handler) stopStream(l *lease) {
	if _, err := h.wallet.StopStream(l.id, l.token); err != nil {
		h.log.Warn("cannot stop a site's stream", "stream", hex.EncodeToString(l.id[:]), "err", err)
	}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Add("Vary", "Origin")
	if !h.hostOK(r.Host) {
		// Another name for this address: a page whose own name now points
		// to loopback (DNS rebinding) would be same-origin with us.
		writeJSON(w, http.StatusMisdirectedRequest, errorJSON{Reason: "wrong_host",
			Message: fmt.Sprintf("this endpoint answers at 127.0.0.1:%s (or localhost:%s) only, not %q", h.port, h.port, r.Host)})
		return
	}
	p := r.URL.Path
	if r.Method == http.MethodOptions {
		h.preflight(w, r)
		return
	}
	switch {
	case strings.HasPrefix(p, "/site/"):
		h.serveSite(w, r)
	case strings.HasPrefix(p, "/auth/"), strings.HasPrefix(p, "/reader/"):
		h.serveReader(w, r)
	default:
		h.serveStatic(w, r)
	}
}

// hostOK reports whether host names this listener: a loopback address or
// localhost, with its port.
func (h *Handler) hostOK(host string) bool {
	name, port, err := net.SplitHostPort(host)
	if err != nil || port != h.port {
		return false
	}
	switch strings.ToLower(name) {
	case "127.0.0.1", "localhost", "::1":
		return true
	}
	return false
}

// base is the endpoint's own origin, as the request named it.
func base(r *http.Request) string { return "http://" + r.Host }

// pages maps paths to the embedded pages they serve.
var pages = map[string]string{
	"/approve": "approve.html", // #REQUEST
	"/confirm": "confirm.html", // #CONFIRMATION
	"/":        "index.html",
}

// pageCSP: the reader's pages run only their own script, load nothing
// from elsewhere, and cannot be framed.
const pageCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// setPageHeaders sets what every reader's page and asset carries: no
// framing, no sniffing, no referrer, and its own browsing context group
// (a site that opened it gets no handle on it).
func setPageHeaders(hd http.Header) {
	hd.Set("Content-Security-Policy", pageCSP)
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	hd.Set("Cache-Control", "no-cache")
}

// serveStatic serves the reader's pages and their assets.
func (h *Handler) serveStatic(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	setPageHeaders(hd)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, errorJSON{Reason: "method", Message: "method " + r.Method + " is not allowed on " + r.URL.Path})
		return
	}
	name, ok := pages[r.URL.Path]
	if !ok {
		name = strings.TrimPrefix(path.Clean(r.URL.Path), "/")
	}
	b, err := fs.ReadFile(static, "static/"+name)
	if err != nil || name == "" || strings.HasPrefix(name, ".") {
		writeJSON(w, http.StatusNotFound, errorJSON{Reason: "not_found", Message: "no page at " + r.URL.Path})
		return
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	hd.Set("Content-Type", ct)
	hd.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(b)
	}
}

// readJSON reads a JSON body of at most maxBodyBytes into v, under the
// body deadline; unknown fields are refused.
func (h *Handler) readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	apiutil.BodyDeadline(w, r, h.cfg.BodyTimeout)
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("the body is empty: want a JSON object")
		}
		return fmt.Errorf("the body is not the JSON expected (at most %d KiB): %v", maxBodyBytes>>10, err)
	}
	return nil
}

// errorJSON is a refusal: a short code for the page's script and the
// words to show.
type errorJSON struct {
	Status  string `json:"status,omitempty"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, _ := json.Marshal(v)
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

func randomID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail
	}
	return hex.EncodeToString(b[:])
}

// units writes an amount of an asset as people read it ("0.25 USD").
func units(v *uint256.Int, a *apiv1.Asset) string {
	return channel.FormatUnits(v, a.GetDecimals()) + " " + a.GetSymbol()
}

// nodeInfo returns the node's info (its chain and assets), asked once
// (the lock is not held while asking).
func (h *Handler) nodeInfo(ctx context.Context) (*apiv1.NodeInfo, error) {
	h.infoMu.Lock()
	info := h.info
	h.infoMu.Unlock()
	if info != nil {
		return info, nil
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.NodeTimeout)
	defer cancel()
	info, err := h.api.GetInfo(ctx, &apiv1.GetInfoRequest{})
	if err != nil {
		return nil, err
	}
	h.infoMu.Lock()
	h.info = info
	h.infoMu.Unlock()
	return info, nil
}
