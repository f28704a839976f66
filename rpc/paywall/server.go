package paywall

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	pathpkg "path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/holiman/uint256"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tinypay/tinypay/crypto"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/apiutil"
)

// Config configures a Paywall. Build it with DefaultConfig and set Asset
// and either Price or Rate.
type Config struct {
	// Asset is the currency, as the node knows it: a symbol ("USD",
	// "ETH") or a token address.
	Asset string
	// Price is what one request costs, in base units (pay per request).
	Price uint256.Int
	// Rate is what a response costs per second while it streams, in base
	// units (pay per second). Exactly one of Price and Rate is set.
	Rate uint256.Int
	// Tick is, per second, how often the paywall checks that the stream
	// still pays, and the longest tick a stream may use.
	Tick time.Duration
	// OfferTTL is how long an offer in a 402 stays payable.
	OfferTTL time.Duration
	// ReceiptGrace is how long after an offer's expiry its receipt is still
	// accepted (a payment made just before the expiry takes a moment).
	ReceiptGrace time.Duration
	// Paths are the path prefixes that are paid ("/api" covers /api and
	// /api/...); empty means every path.
	Paths []string
	// PeerAddr is the host:port clients connect their node to; empty means
	// the node's peer listen address.
	PeerAddr string
	// MaxOffers bounds the offers remembered at once (issued and not past
	// expiry plus grace); beyond it a request gets a 503 instead of an
	// offer. Memory is about 200 bytes per offer.
	MaxOffers int
	// StreamWait is how long a request naming a new stream waits for the
	// node to see the stream's first payment.
	StreamWait time.Duration
	// NodeTimeout bounds each call to the node.
	NodeTimeout time.Duration
	// PaidFor is how long a reader's browser may read a page it paid for
	// again without paying: the paid response sets a cookie (PaidCookie)
	// that lasts this long, HttpOnly, for that page's path only, bound to
	// the payment. Zero sets none.
	PaidFor time.Duration
	// CookieKey authenticates the paid cookies (at least 32 bytes); nil
	// means a random key, so that a restarted paywall no longer knows the
	// cookies it set (their readers pay again).
	CookieKey []byte
	// Logger receives the paywall's logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultConfig returns a configuration with every default; Asset and
// Price or Rate are the caller's.
func DefaultConfig() Config {
	return Config{
		Tick:         time.Second,
		OfferTTL:     5 * time.Minute,
		ReceiptGrace: 2 * time.Minute,
		MaxOffers:    100_000,
		StreamWait:   5 * time.Second,
		NodeTimeout:  10 * time.Second,
	}
}

// Validate reports the first problem with c.
func (c Config) Validate() error {
	switch {
	case c.Asset == "":
		return errors.New("paywall: an asset is required")
	case c.Price.IsZero() == c.Rate.IsZero():
		return errors.New("paywall: set either a price per request or a rate per second")
	case c.Tick < 100*time.Millisecond || c.Tick > time.Hour:
		return fmt.Errorf("paywall: tick %s outside [100ms, 1h]", c.Tick)
	case c.OfferTTL < time.Second || c.OfferTTL > 366*24*time.Hour:
		return fmt.Errorf("paywall: offer TTL %s outside [1s, 366d]", c.OfferTTL)
	case c.ReceiptGrace < 0:
		return errors.New("paywall: negative receipt grace")
	case c.MaxOffers <= 0:
		return errors.New("paywall: MaxOffers must be positive")
	case c.StreamWait <= 0 || c.NodeTimeout <= 0:
		return errors.New("paywall: StreamWait and NodeTimeout must be positive")
	case c.PaidFor < 0 || c.PaidFor > 366*24*time.Hour || c.PaidFor%time.Second != 0:
		return fmt.Errorf("paywall: paid-for time %s: want whole seconds up to a year, or 0 for no cookie", c.PaidFor)
	case c.CookieKey != nil && len(c.CookieKey) < 32:
		return errors.New("paywall: a cookie key has at least 32 bytes")
	}
	for _, p := range c.Paths {
		if !strings.HasPrefix(p, "/") {
			return fmt.Errorf("paywall: path %q must start with /", p)
		}
	}
	return nil
}

// Paywall is an http.Handler that serves next only to paid requests; see
// the package documentation.
type Paywall struct {
	cfg   Config
	node  apiv1.NodeClient
	next  http.Handler
	log   *slog.Logger
	now   func() time.Time
	payee payee
	book  *offerBook
	// cookieKey authenticates paid cookies (Config.CookieKey).
	cookieKey []byte

	mu      sync.Mutex
	streams map[string]bool // streams paying for a response now
}

var _ http.Handler = (*Paywall)(nil)

// New returns a paywall in front of next that collects for the node
// behind client (the creator's node; it needs the admin token, or any
// token allowed CreateOffer, GetInfo and GetStream). It asks the node
// who it is, so the node must be up.
func New(ctx context.Context, cfg Config, client apiv1.NodeClient, next http.Handler) (*Paywall, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if client == nil || next == nil {
		return nil, errors.New("paywall: a node client and a handler are required")
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.NodeTimeout)
	defer cancel()
	info, err := client.GetInfo(ctx, &apiv1.GetInfoRequest{})
	if err != nil {
		return nil, fmt.Errorf("paywall: ask the node who it is: %w", err)
	}
	p := &Paywall{cfg: cfg, node: client, next: next, log: cfg.Logger, now: cfg.Now, streams: map[string]bool{}, cookieKey: cfg.CookieKey}
	if p.cookieKey == nil {
		p.cookieKey = newCookieKey()
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.payee.addr, err = crypto.ParseAddress(info.GetAddress()); err != nil {
		return nil, fmt.Errorf("paywall: node address: %w", err)
	}
	if p.payee.adjudicator, err = crypto.ParseAddress(info.GetAdjudicator()); err != nil {
		return nil, fmt.Errorf("paywall: node adjudicator: %w", err)
	}
	p.payee.chainID, p.payee.peerAddr = info.GetChainId(), cfg.PeerAddr
	if p.payee.peerAddr == "" {
		p.payee.peerAddr = info.GetPeerListenAddr()
	}
	var names []string
	for _, a := range info.GetAssets() {
		names = append(names, a.GetSymbol())
		if strings.EqualFold(a.GetSymbol(), cfg.Asset) || (a.GetAddress() != "" && apiutil.SameAddress(a.GetAddress(), cfg.Asset)) {
			addr := a.GetAddress()
			if addr == "" {
				addr = (crypto.Address{}).Hex()
			}
			p.payee.asset = Asset{Address: addr, Symbol: a.GetSymbol(), Decimals: a.GetDecimals()}
			p.payee.assetArg = a.GetSymbol()
		}
	}
	if p.payee.assetArg == "" {
		return nil, fmt.Errorf("paywall: the node does not know asset %q (it knows %s)", cfg.Asset, strings.Join(names, ", "))
	}
	p.book = newOfferBook(cfg.MaxOffers, cfg.ReceiptGrace)
	return p, nil
}

// NewProxy returns a paywall in front of a reverse proxy to upstream.
// Paid responses stream through as they arrive (per-second responses are
// flushed at once); an unreachable upstream is a 502, and its receipt
// stays usable for a retry.
func NewProxy(ctx context.Context, cfg Config, client apiv1.NodeClient, upstream *url.URL) (*Paywall, error) {
	proxy, err := reverseProxy(upstream, cfg.Logger, !cfg.Rate.IsZero())
	if err != nil {
		return nil, err
	}
	return New(ctx, cfg, client, proxy)
}

// reverseProxy proxies to upstream; flush: write responses through as
// they arrive (per-second responses).
func reverseProxy(upstream *url.URL, log *slog.Logger, flush bool) (*httputil.ReverseProxy, error) {
	if upstream == nil || upstream.Scheme == "" || upstream.Host == "" {
		return nil, fmt.Errorf("paywall: upstream %v is not an absolute URL", upstream)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	proxy := &httputil.ReverseProxy{
		// A response cut because its stream stopped paying is a copy
		// error too: not worth more than debug.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			pr.SetXForwarded()
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(context.Cause(r.Context()), ErrPaymentStopped) {
				return // the paywall answers
			}
			log.Warn("upstream failed", "path", r.URL.Path, "err", err)
			http.Error(w, "upstream unavailable", http.StatusBadGateway)
		},
	}
	if flush {
		proxy.FlushInterval = -1
	}
	return proxy, nil
}

// NewProxyChain returns paywalls in front of one reverse proxy to
// upstream (see NewProxy), one per configuration, to sell paths at
// different prices: a request goes to the first whose Paths match, and
// one that none matches goes to the upstream free. Only the last
// configuration may have no Paths (it then takes every other path). The
// returned handler is the first paywall.
func NewProxyChain(ctx context.Context, cfgs []Config, client apiv1.NodeClient, upstream *url.URL) (http.Handler, error) {
	if len(cfgs) == 0 {
		return nil, errors.New("paywall: no configuration")
	}
	perSecond := false
	for i, c := range cfgs {
		if len(c.Paths) == 0 && i < len(cfgs)-1 {
			return nil, fmt.Errorf("paywall: configuration %d of %d sells every path, so the ones after it would sell none", i+1, len(cfgs))
		}
		perSecond = perSecond || !c.Rate.IsZero()
	}
	proxy, err := reverseProxy(upstream, cfgs[0].Logger, perSecond)
	if err != nil {
		return nil, err
	}
	var h http.Handler = proxy
	for i := len(cfgs) - 1; i >= 0; i-- {
		if h, err = New(ctx, cfgs[i], client, h); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// Payee returns the node address the paywall collects for.
func (p *Paywall) Payee() string { return p.payee.addr.Hex() }

// OpenOffers returns how many offers the paywall remembers.
func (p *Paywall) OpenOffers() int { return p.book.len() }

// ServeHTTP implements http.Handler.
func (p *Paywall) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, AssetsPath) {
		p.serveAssets(w, r)
		return
	}
	if !p.isPaid(r.URL.Path) {
		p.next.ServeHTTP(w, r)
		return
	}
	if p.cfg.Rate.IsZero() {
		p.serveOffer(w, r)
	} else {
		p.serveStream(w, r)
	}
}

// isPaid reports whether a request path is paid. It matches the cleaned
// path, so that "/free/../api" or "//api" is not free when /api is paid.
func (p *Paywall) isPaid(raw string) bool {
	if len(p.cfg.Paths) == 0 {
		return true
	}
	path := pathpkg.Clean("/" + raw)
	for _, pre := range p.cfg.Paths {
		if path == pre || strings.HasPrefix(path, strings.TrimSuffix(pre, "/")+"/") {
			return true
		}
	}
	return false
}

// serveOffer serves a request paid per request.
func (p *Paywall) serveOffer(w http.ResponseWriter, r *http.Request) {
	item := RequestItem(r.Method, r.URL.EscapedPath())
	rc, err := receiptFrom(r)
	if rc == nil && err == nil {
		if payment, ok := p.paidCookie(r, item); ok {
			p.log.Debug("paid before (cookie)", "item", item, "payment", payment)
			p.next.ServeHTTP(w, stripPayment(r, r.Context()))
			return
		}
		p.log.Debug("payment required", "item", item)
		p.challenge(w, r, item, ErrPaymentRequired)
		return
	}
	var offer crypto.Hash
	if err == nil {
		offer, err = p.redeem(rc, item)
	}
	if err != nil {
		p.log.Info("payment refused", "item", item, "reason", Reason(err), "err", err)
		p.challenge(w, r, item, err)
		return
	}
	p.log.Debug("paid", "item", item, "offer", offer, "payer", rc.GetPayer(), "amount", rc.GetAmount())
	settle := SettlementResponse{
		Success: true, Payer: rc.GetPayer(), Network: p.payee.network(), Amount: rc.GetAmount(),
		Extra: map[string]string{"paymentId": rc.GetPaymentId(), "channelId": rc.GetChannelId(), "offerId": rc.GetOfferId()},
	}
	setSettlement(w.Header(), &settle)
	rw := &offerWriter{ResponseWriter: w, release: func() {
		p.log.Info("upstream did not serve a paid request; its receipt stays usable", "item", item, "offer", offer)
		p.book.release(offer)
	}}
	if pid, err := crypto.ParseHash(rc.GetPaymentId()); err == nil {
		rw.cookie = p.paidCookieFor(r, item, pid)
	}
	p.next.ServeHTTP(rw, stripPayment(r, r.Context()))
}

// redeem checks a receipt for a request for item and uses its offer.
func (p *Paywall) redeem(rc *apiv1.Receipt, item string) (crypto.Hash, error) {
	id, err := p.payee.checkReceipt(rc)
	if err != nil {
		return id, err
	}
	amount, err := uint256.FromDecimal(rc.GetAmount())
	if err != nil {
		return id, fmt.Errorf("%w: amount %q", ErrMalformed, rc.GetAmount())
	}
	return id, p.book.redeem(id, item, rc.GetItemId(), *amount, p.now())
}

// receiptFrom finds a receipt in Authorization, X-TinyPay-Receipt or an
// x402 Payment-Signature; nil, nil when there is none.
func receiptFrom(r *http.Request) (*apiv1.Receipt, error) {
	if v := r.Header.Get("Authorization"); v != "" {
		params, ok, err := ParseAuth(v)
		if err != nil {
			return nil, err
		}
		if ok && params["receipt"] != "" {
			return DecodeReceipt(params["receipt"])
		}
	}
	if v := r.Header.Get(HeaderReceipt); v != "" {
		return DecodeReceipt(strings.TrimSpace(v))
	}
	pl, err := x402Payload(r, SchemeOffer)
	if err != nil || pl == nil {
		return nil, err
	}
	if pl.Receipt == "" {
		return nil, fmt.Errorf("%w: %s payload without a receipt", ErrMalformed, SchemeOffer)
	}
	return DecodeReceipt(pl.Receipt)
}

// streamFrom finds a stream id in X-TinyPay-Stream, Authorization, an
// x402 Payment-Signature or, for a media element, the StreamCookie; "",
// nil when there is none.
func streamFrom(r *http.Request) (string, error) {
	id := strings.TrimSpace(r.Header.Get(HeaderStream))
	if id == "" {
		if v := r.Header.Get("Authorization"); v != "" {
			params, ok, err := ParseAuth(v)
			if err != nil {
				return "", err
			}
			if ok {
				id = params["stream"]
			}
		}
	}
	if id == "" {
		pl, err := x402Payload(r, SchemeStream)
		if err != nil {
			return "", err
		}
		if pl != nil {
			id = pl.Stream
		}
	}
	if id == "" {
		id = streamCookie(r)
	}
	if id == "" {
		return "", nil
	}
	if !isStreamID(id) {
		return "", fmt.Errorf("%w: stream id %q: want 0x and 32 hex digits", ErrMalformed, id)
	}
	return strings.ToLower(id), nil
}

// x402Payload decodes a Payment-Signature header for scheme; nil, nil when
// there is none.
func x402Payload(r *http.Request, scheme string) (*payloadBody, error) {
	v := strings.TrimSpace(r.Header.Get(HeaderPaymentSignature))
	if v == "" {
		return nil, nil
	}
	if len(v) > maxCredentialLen {
		return nil, fmt.Errorf("%w: %s of %d bytes", ErrMalformed, HeaderPaymentSignature, len(v))
	}
	raw, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not base64", ErrMalformed, HeaderPaymentSignature)
	}
	var pp PaymentPayload
	if err := json.Unmarshal(raw, &pp); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, HeaderPaymentSignature, err)
	}
	if pp.Accepted.Scheme != scheme {
		return nil, fmt.Errorf("%w: %s pays with scheme %q; this resource takes %q", ErrMalformed, HeaderPaymentSignature, pp.Accepted.Scheme, scheme)
	}
	var body payloadBody
	if err := json.Unmarshal(pp.Payload, &body); err != nil {
		return nil, fmt.Errorf("%w: %s payload: %v", ErrMalformed, HeaderPaymentSignature, err)
	}
	return &body, nil
}

// stripPayment returns a copy of r for next, with ctx and without the
// payment headers.
func stripPayment(r *http.Request, ctx context.Context) *http.Request {
	out := r.Clone(ctx)
	out.Header.Del(HeaderReceipt)
	out.Header.Del(HeaderStream)
	out.Header.Del(HeaderPaymentSignature)
	if _, ok, _ := ParseAuth(out.Header.Get("Authorization")); ok {
		out.Header.Del("Authorization")
	}
	return out
}

func setSettlement(h http.Header, s *SettlementResponse) {
	h.Set(HeaderPaymentResponse, base64.StdEncoding.EncodeToString(bytes.TrimSpace(marshal(s))))
}

// challenge answers 402 with fresh terms and why (reason).
func (p *Paywall) challenge(w http.ResponseWriter, r *http.Request, item string, reason error) {
	h := w.Header()
	h.Del(HeaderPaymentResponse)
	terms := Terms{
		Version: TermsVersion, Payee: p.payee.addr.Hex(), PeerAddr: p.payee.peerAddr, ChainID: p.payee.chainID,
		Adjudicator: p.payee.adjudicator.Hex(), Asset: p.payee.asset, Item: item, Refused: Reason(reason),
	}
	req := Requirements{
		Network: p.payee.network(), Asset: p.payee.asset.Address, PayTo: p.payee.addr.Hex(),
	}
	var challenge string
	if p.cfg.Rate.IsZero() {
		ctx, cancel := context.WithTimeout(r.Context(), p.cfg.NodeTimeout)
		o, err := p.node.CreateOffer(ctx, &apiv1.CreateOfferRequest{
			ItemId: item, Asset: p.payee.assetArg, Price: p.cfg.Price.Dec(), TtlSeconds: uint64((p.cfg.OfferTTL + time.Second - 1) / time.Second),
		})
		cancel()
		if err != nil {
			p.log.Warn("the node signs no offer", "item", item, "err", err)
			unavailable(w, "the payee's node is unavailable")
			return
		}
		id, err := crypto.ParseHash(o.GetOfferId())
		if err == nil {
			err = p.book.issue(id, item, p.cfg.Price, o.GetExpiry(), p.now())
		}
		if err != nil {
			p.log.Warn("offer not issued", "item", item, "err", err)
			unavailable(w, "too many open offers; try again")
			return
		}
		enc, err := EncodeOffer(o)
		if err != nil {
			unavailable(w, "offer encoding failed")
			return
		}
		terms.Price, terms.Offer, terms.OfferID, terms.Expiry = p.cfg.Price.Dec(), enc, o.GetOfferId(), o.GetExpiry()
		terms.Header = "Authorization"
		terms.Pay = fmt.Sprintf(`pay the offer with your tinypay node (Pay with offer set; you need an open %s channel with %s, whose node listens at %s), then send the request again with "Authorization: %s receipt=\"<base64url protobuf Receipt>\"" (or %s: <base64url>)`,
			p.payee.asset.Symbol, terms.Payee, terms.PeerAddr, AuthScheme, HeaderReceipt)
		req.Scheme, req.Amount = SchemeOffer, terms.Price
		req.MaxTimeoutSeconds = max(int64(o.GetExpiry())-p.now().Unix(), 1)
		challenge = FormatAuth("offer", enc, "peer", terms.PeerAddr)
	} else {
		tick := uint64(p.cfg.Tick / time.Millisecond)
		terms.Rate, terms.TickMs, terms.Header = p.cfg.Rate.Dec(), tick, HeaderStream
		terms.Pay = fmt.Sprintf(`start a stream from your tinypay node to %s (node at %s) paying at least %s base units of %s per second, with a tick of at most %d ms and item %q, then send the request again with "%s: <stream id>"; stop the stream when the response ends`,
			terms.Payee, terms.PeerAddr, terms.Rate, p.payee.asset.Symbol, tick, item, HeaderStream)
		req.Scheme, req.Amount = SchemeStream, terms.Rate
		req.MaxTimeoutSeconds = int64(max(p.cfg.StreamWait/time.Second, 1))
		challenge = FormatAuth("rate", terms.Rate, "asset", terms.Asset.Address, "payee", terms.Payee,
			"peer", terms.PeerAddr, "item", item, "tick_ms", strconv.FormatUint(tick, 10))
	}
	req.Extra = marshal(terms)
	pr := PaymentRequired{
		X402Version: X402Version, Error: reason.Error(),
		Resource: Resource{URL: requestURL(r), Description: item + " (tinypay paywall)"},
		Accepts:  []Requirements{req},
	}
	body := marshal(pr)
	h.Set("Cache-Control", "no-store")
	h.Set("WWW-Authenticate", challenge)
	h.Set(HeaderPaymentRequired, base64.StdEncoding.EncodeToString(bytes.TrimSpace(body)))
	h.Del("Content-Length")
	if wantsHTML(r) {
		p.writePage(w, r, &pr, &terms, reason)
		return
	}
	h.Set("Content-Type", "application/json")
	h.Set("Vary", "Accept")
	w.WriteHeader(http.StatusPaymentRequired)
	_, _ = w.Write(body)
}

// marshal writes JSON without HTML escapes, ending in a newline.
func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // strings, numbers and raw JSON we made: cannot fail
	}
	return b.Bytes()
}

func unavailable(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", "1")
	http.Error(w, msg, http.StatusServiceUnavailable)
}

func requestURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.RequestURI()
}

// offerWriter releases a redeemed offer when the upstream did not serve
// the request (502, 503, 504), before the status leaves.
type offerWriter struct {
	http.ResponseWriter
	release func()
	// cookie, if set, lets the reader's browser read the page again
	// (Config.PaidFor); only a success sets it.
	cookie *http.Cookie
	wrote  bool
}

func (w *offerWriter) WriteHeader(code int) {
	if !w.wrote && code >= 200 {
		w.wrote = true
		if code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout {
			w.release()
		}
		if w.cookie != nil && code < 300 {
			http.SetCookie(w.ResponseWriter, w.cookie)
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *offerWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *offerWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

// Unwrap lets http.ResponseController reach the connection.
func (w *offerWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ReadFrom keeps io.Copy's fast path.
func (w *offerWriter) ReadFrom(r io.Reader) (int64, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return io.Copy(w.ResponseWriter, r)
}

// isNotFound reports a gRPC NotFound.
func isNotFound(err error) bool { return status.Code(err) == codes.NotFound }
