package paywall

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/holiman/uint256"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/apiutil"
)

// TransportConfig configures a Transport. Build it with
// DefaultTransportConfig and set Asset and the limits.
type TransportConfig struct {
	// Base sends the requests; nil means http.DefaultTransport.
	Base http.RoundTripper
	// Asset is the currency of the limits, as the payer's node knows it: a
	// symbol or a token address. Terms in another asset are refused.
	Asset string
	// MaxPrice is the most one request may cost (base units); zero refuses
	// every per-request price.
	MaxPrice uint256.Int
	// MaxRate is the highest rate per second a response may cost (base
	// units); zero refuses every per-second price.
	MaxRate uint256.Int
	// StreamBudget, if set, is the most one stream may pay in all.
	StreamBudget uint256.Int
	// StreamTick is how often a stream pays (the terms may ask for less).
	StreamTick time.Duration
	// NodeTimeout bounds each call to the payer's node, including a
	// payment's wait for the payee's acknowledgement.
	NodeTimeout time.Duration
	// OnPaid, if set, is called after each payment: once an offer is paid,
	// and once a stream is stopped (with what it paid in all). It runs on
	// the goroutine of the RoundTrip or of the body's Read or Close.
	OnPaid func(Paid)
	// Logger receives the transport's logs; nil discards them.
	Logger *slog.Logger
}

// DefaultTransportConfig returns a configuration with every default; the
// asset and the limits are the caller's.
func DefaultTransportConfig() TransportConfig {
	return TransportConfig{StreamTick: time.Second, NodeTimeout: 30 * time.Second}
}

// Validate reports the first problem with c.
func (c TransportConfig) Validate() error {
	switch {
	case c.Asset == "":
		return errors.New("paywall transport: an asset is required")
	case c.StreamTick < 100*time.Millisecond || c.StreamTick > time.Hour:
		return fmt.Errorf("paywall transport: stream tick %s outside [100ms, 1h]", c.StreamTick)
	case c.NodeTimeout <= 0:
		return errors.New("paywall transport: NodeTimeout must be positive")
	}
	return nil
}

// Paid reports a payment a Transport made.
type Paid struct {
	// URL is the request's; Scheme is SchemeOffer or SchemeStream.
	URL    string
	Scheme string
	Payee  string
	Item   string
	// Asset is the payer's node's description of the asset.
	Asset *apiv1.Asset
	// Amount is what was paid in base units: the offer's price, or what
	// the stream paid in all.
	Amount string
	// Payment is the offer's payment with its receipt (SchemeOffer).
	Payment *apiv1.Payment
	// Stream is the stream as it ended (SchemeStream).
	Stream *apiv1.Stream
}

// Transport is an http.RoundTripper that pays tinypay paywalls with the
// payer's node, within limits; see the package documentation. It is safe
// for concurrent use.
type Transport struct {
	cfg  TransportConfig
	node apiv1.NodeClient
	base http.RoundTripper
	log  *slog.Logger

	mu    sync.Mutex
	info  *apiv1.NodeInfo
	asset *apiv1.Asset
}

var _ http.RoundTripper = (*Transport)(nil)

// NewTransport returns a Transport that pays with the node behind client
// (the admin token, or an app token: it then pays within the token's
// policy, and skips the channel and peer checks it may not make).
func NewTransport(cfg TransportConfig, client apiv1.NodeClient) (*Transport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if client == nil {
		return nil, errors.New("paywall transport: a node client is required")
	}
	t := &Transport{cfg: cfg, node: client, base: cfg.Base, log: cfg.Logger}
	if t.base == nil {
		t.base = http.DefaultTransport
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	return t, nil
}

// RoundTrip implements http.RoundTripper. A response other than a 402
// with tinypay terms is returned as it is. For tinypay terms within the
// limits it pays once and sends the request once more with the payment;
// the response to that is returned whatever it is (a second 402 is not
// paid again). It refuses to pay, with an error, when the terms exceed
// the limits or the request's body cannot be sent again.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusPaymentRequired {
		return resp, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		resp.Body.Close()
		return nil, fmt.Errorf("read the 402: %w", err)
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
	pr, err := readPaymentRequired(resp.Header, body)
	if err != nil {
		return resp, nil // not ours to understand
	}
	reqs, terms, err := tinypayTerms(pr)
	if errors.Is(err, errNoTerms) {
		return resp, nil
	}
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return nil, fmt.Errorf("%w: pay %s: set GetBody (http.NewRequest does for in-memory bodies)", ErrNotReplayable, req.URL.Redacted())
	}
	if reqs.Scheme == SchemeOffer {
		return t.payOffer(req, terms)
	}
	return t.payStream(req, terms)
}

// payerInfo returns the payer node's info and its description of the
// asset of the limits.
func (t *Transport) payerInfo(ctx context.Context) (*apiv1.NodeInfo, *apiv1.Asset, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.info != nil {
		return t.info, t.asset, nil
	}
	ctx, cancel := context.WithTimeout(ctx, t.cfg.NodeTimeout)
	defer cancel()
	info, err := t.node.GetInfo(ctx, &apiv1.GetInfoRequest{})
	if err != nil {
		return nil, nil, fmt.Errorf("ask the paying node: %w", err)
	}
	for _, a := range info.GetAssets() {
		if strings.EqualFold(a.GetSymbol(), t.cfg.Asset) || (a.GetAddress() != "" && apiutil.SameAddress(a.GetAddress(), t.cfg.Asset)) {
			t.info, t.asset = info, a
			return info, a, nil
		}
	}
	return nil, nil, fmt.Errorf("paywall transport: the paying node does not know asset %q", t.cfg.Asset)
}

// checkTerms checks what every payment needs: the payer's chain and the
// asset of the limits.
func (t *Transport) checkTerms(ctx context.Context, terms *Terms) (*apiv1.Asset, error) {
	info, asset, err := t.payerInfo(ctx)
	if err != nil {
		return nil, err
	}
	if terms.ChainID != info.GetChainId() || !apiutil.SameAddress(terms.Adjudicator, info.GetAdjudicator()) {
		return nil, fmt.Errorf("%w: the payee is on chain %d (adjudicator %s), this node on %d (%s)",
			ErrBadTerms, terms.ChainID, terms.Adjudicator, info.GetChainId(), info.GetAdjudicator())
	}
	if !apiutil.SameAddress(terms.Asset.Address, asset.GetAddress()) {
		return nil, fmt.Errorf("%w: the payee wants %s (%s), the limits are in %s", ErrWrongAsset, terms.Asset.Symbol, terms.Asset.Address, asset.GetSymbol())
	}
	return asset, nil
}

func (t *Transport) payOffer(req *http.Request, terms *Terms) (*http.Response, error) {
	ctx := req.Context()
	asset, err := t.checkTerms(ctx, terms)
	if err != nil {
		return nil, err
	}
	offer, err := DecodeOffer(terms.Offer)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadTerms, err)
	}
	price, err := uint256.FromDecimal(offer.GetPrice())
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: offer price %q", ErrBadTerms, offer.GetPrice())
	case !apiutil.SameAddress(offer.GetPayee(), terms.Payee) || !apiutil.SameAddress(offer.GetAsset(), terms.Asset.Address):
		return nil, fmt.Errorf("%w: the offer's payee or asset is not the terms'", ErrBadTerms)
	case price.Gt(&t.cfg.MaxPrice):
		return nil, fmt.Errorf("%w: %s costs %s base units of %s, the limit is %s", ErrOverLimit, req.URL.Redacted(), price.Dec(), asset.GetSymbol(), t.cfg.MaxPrice.Dec())
	}
	if err := t.ensurePeer(ctx, terms, req.URL, asset); err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, t.cfg.NodeTimeout)
	p, err := t.node.Pay(pctx, &apiv1.PayRequest{Offer: offer})
	cancel()
	if err != nil {
		return nil, payError(err, terms, asset)
	}
	if p.GetReceipt() == nil {
		return nil, fmt.Errorf("paid offer %s (payment %s) but the payee sent no receipt", offer.GetOfferId(), p.GetId())
	}
	receipt, err := EncodeReceipt(p.GetReceipt())
	if err != nil {
		return nil, err
	}
	t.log.Info("paid", "url", req.URL.Redacted(), "amount", p.GetAmount(), "payee", terms.Payee, "payment", p.GetId())
	if t.cfg.OnPaid != nil {
		t.cfg.OnPaid(Paid{URL: req.URL.String(), Scheme: SchemeOffer, Payee: terms.Payee, Item: terms.Item, Asset: asset, Amount: p.GetAmount(), Payment: p})
	}
	retry, err := again(req)
	if err != nil {
		return nil, fmt.Errorf("paid %s, but cannot send the request again: %w", offer.GetOfferId(), err)
	}
	if _, ok, _ := ParseAuth(req.Header.Get("Authorization")); req.Header.Get("Authorization") == "" || ok {
		retry.Header.Set("Authorization", FormatAuth("receipt", receipt))
	} else {
		retry.Header.Set(HeaderReceipt, receipt) // Authorization is the upstream's
	}
	return t.base.RoundTrip(retry)
}

func (t *Transport) payStream(req *http.Request, terms *Terms) (*http.Response, error) {
	ctx := req.Context()
	asset, err := t.checkTerms(ctx, terms)
	if err != nil {
		return nil, err
	}
	rate, err := uint256.FromDecimal(terms.Rate)
	switch {
	case err != nil || rate.IsZero():
		return nil, fmt.Errorf("%w: rate %q", ErrBadTerms, terms.Rate)
	case rate.Gt(&t.cfg.MaxRate):
		return nil, fmt.Errorf("%w: %s costs %s base units of %s per second, the limit is %s", ErrOverLimit, req.URL.Redacted(), rate.Dec(), asset.GetSymbol(), t.cfg.MaxRate.Dec())
	}
	tick := t.cfg.StreamTick
	if terms.TickMs > 0 {
		tick = min(tick, time.Duration(terms.TickMs)*time.Millisecond)
	}
	if err := t.ensurePeer(ctx, terms, req.URL, asset); err != nil {
		return nil, err
	}
	sr := &apiv1.StartStreamRequest{
		Peer: terms.Payee, Asset: assetArg(asset), Rate: rate.Dec(), TickMs: uint64(tick / time.Millisecond), ItemId: terms.Item,
	}
	if !t.cfg.StreamBudget.IsZero() {
		sr.Budget = t.cfg.StreamBudget.Dec()
	}
	sctx, cancel := context.WithTimeout(ctx, t.cfg.NodeTimeout)
	st, err := t.node.StartStream(sctx, sr)
	cancel()
	if err != nil {
		return nil, payError(err, terms, asset)
	}
	t.log.Info("stream started", "url", req.URL.Redacted(), "stream", st.GetId(), "rate", st.GetRate(), "payee", terms.Payee)
	sb := &streamBody{t: t, id: st.GetId(), paid: Paid{URL: req.URL.String(), Scheme: SchemeStream, Payee: terms.Payee, Item: terms.Item, Asset: asset}}
	retry, err := again(req)
	if err != nil {
		sb.stop()
		return nil, err
	}
	retry.Header.Set(HeaderStream, st.GetId())
	resp, err := t.base.RoundTrip(retry)
	if err != nil {
		sb.stop()
		return nil, err
	}
	if resp.StatusCode >= 400 {
		sb.stop()
		return resp, nil
	}
	sb.rc = resp.Body
	resp.Body = sb
	return resp, nil
}

// ensurePeer checks, where the token allows, that the payer has an open
// channel with the payee in the asset and is connected to it, and
// connects if it is not.
func (t *Transport) ensurePeer(ctx context.Context, terms *Terms, u *url.URL, asset *apiv1.Asset) error {
	ctx, cancel := context.WithTimeout(ctx, t.cfg.NodeTimeout)
	defer cancel()
	open := false
	for c, err := range apiutil.Channels(ctx, t.node.ListChannels, &apiv1.ListChannelsRequest{Peer: terms.Payee}) {
		if status.Code(err) == codes.PermissionDenied {
			return nil // an app token: just pay
		}
		if err != nil {
			return fmt.Errorf("list channels with %s: %w", terms.Payee, err)
		}
		if c.GetPhase() == "open" && apiutil.SameAddress(c.GetAsset().GetAddress(), asset.GetAddress()) {
			open = true
			break
		}
	}
	if !open {
		return noChannel(terms, asset)
	}
	peers, err := t.node.ListPeers(ctx, &apiv1.ListPeersRequest{})
	if err != nil {
		return nil // let the node redial
	}
	for _, p := range peers.GetPeers() {
		if apiutil.SameAddress(p.GetAddress(), terms.Payee) && p.GetConnected() {
			return nil
		}
	}
	hostport := peerHostPort(terms.PeerAddr, u)
	if hostport == "" {
		return nil
	}
	if _, err := t.node.ConnectPeer(ctx, &apiv1.ConnectPeerRequest{HostPort: hostport, Address: terms.Payee}); err != nil {
		return fmt.Errorf("connect to the payee %s at %s: %w", terms.Payee, hostport, err)
	}
	t.log.Info("connected to the payee", "payee", terms.Payee, "addr", hostport)
	return nil
}

func noChannel(terms *Terms, asset *apiv1.Asset) error {
	return fmt.Errorf("%w %s in %s: connect and open one first (tinypay peer connect %s; tinypay channel open %s AMOUNT %s)",
		ErrNoChannel, terms.Payee, asset.GetSymbol(), terms.PeerAddr, terms.Payee, asset.GetSymbol())
}

// payError explains a failed Pay or StartStream.
func payError(err error, terms *Terms, asset *apiv1.Asset) error {
	switch status.Code(err) {
	case codes.NotFound:
		return fmt.Errorf("%w (%v)", noChannel(terms, asset), err)
	case codes.AlreadyExists:
		return fmt.Errorf("%w: %v", ErrAlreadyPaid, err)
	}
	return fmt.Errorf("pay %s: %w", terms.Payee, err)
}

// peerHostPort is where to reach the payee's node: its advertised address,
// with the URL's host when it names none (":9735", "0.0.0.0:9735").
func peerHostPort(addr string, u *url.URL) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = u.Hostname()
	}
	return net.JoinHostPort(host, port)
}

func assetArg(a *apiv1.Asset) string {
	if a.GetAddress() != "" {
		return a.GetAddress()
	}
	return a.GetSymbol()
}

// again returns a copy of req to send once more, with a fresh body.
func again(req *http.Request) (*http.Request, error) {
	out := req.Clone(req.Context())
	if req.Body != nil && req.Body != http.NoBody {
		b, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		out.Body = b
	}
	return out, nil
}

// streamBody is the body of a per-second response: it stops the stream
// when it is read to the end, fails, or is closed.
type streamBody struct {
	t    *Transport
	id   string
	rc   io.ReadCloser
	paid Paid
	once sync.Once
}

func (b *streamBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil {
		b.stop()
	}
	return n, err
}

func (b *streamBody) Close() error {
	err := b.rc.Close()
	b.stop()
	return err
}

// stop stops the stream once and reports what it paid.
func (b *streamBody) stop() {
	b.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), b.t.cfg.NodeTimeout)
		defer cancel()
		st, err := b.t.node.StopStream(ctx, &apiv1.StopStreamRequest{StreamId: b.id})
		if err != nil {
			b.t.log.Warn("cannot stop a stream: stop it with tinypay", "stream", b.id, "err", err)
			return
		}
		b.t.log.Info("stream stopped", "stream", b.id, "paid", st.GetPaid())
		if b.t.cfg.OnPaid != nil {
			p := b.paid
			p.Amount, p.Stream = st.GetPaid(), st
			b.t.cfg.OnPaid(p)
		}
	})
}
