package browserpay

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/apps"
	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/apiutil"
	"github.com/tinypay/tinypay/rpc/paywall"
)

// Why the endpoint did not pay, as the page's script sees it (the
// "reason" of a refusal; "message" has the words).
const (
	ReasonNotApproved   = "not_approved"    // the site was never approved
	ReasonRevoked       = "revoked"         // the reader revoked its approval
	ReasonDeclined      = "declined"        // the reader declined to approve it
	ReasonAboveMaxPrice = "above_max_price" // above the largest price allowed
	ReasonAboveMaxRate  = "above_max_rate"  // above the highest rate allowed (or no streams)
	ReasonBudgetSpent   = "budget_spent"    // the day's budget does not cover it
	ReasonNotConfirmed  = "not_confirmed"   // the reader refused to confirm it
	ReasonNoChannel     = "no_channel"      // no open channel with the publisher
	ReasonBalance       = "insufficient_balance"
	ReasonWrongPayee    = "wrong_payee" // the page pays another node than the one approved
	ReasonWrongAsset    = "wrong_asset" // in another asset than the approved one
	ReasonWrongChain    = "wrong_chain" // the publisher is on another chain or contract
	ReasonBadTerms      = "bad_terms"   // the terms do not parse or verify
	ReasonBadRequest    = "bad_request" // the request is malformed
	ReasonBusy          = "busy"        // a bound is reached: try later
	ReasonUnreachable   = "publisher_unreachable"
	ReasonFailed        = "failed" // anything else; the message says what
)

// siteBody is what a site's page sends (each call uses some fields).
type siteBody struct {
	Terms        *paywall.PaymentRequired `json:"terms"`
	Page         string                   `json:"page"`
	Request      string                   `json:"request"`
	Confirmation string                   `json:"confirmation"`
	Stream       string                   `json:"stream"`
}

// siteTerms is what a site's page asks the node to pay, checked.
type siteTerms struct {
	stream bool // per second (else an offer)
	item   string
	payee  crypto.Address
	peer   string // host:port of the publisher's node
	asset  *apiv1.Asset
	amount uint256.Int // the price, or the rate per second
	tick   time.Duration
	offer  *apiv1.Offer
	page   string // the page that asks (of the site's origin), or ""
}

func (t *siteTerms) amountText() string {
	if t.stream {
		return units(&t.amount, t.asset) + " per second"
	}
	return units(&t.amount, t.asset)
}

// refusal is a refusal the page's script shows.
type refusal struct {
	code   int
	reason string
	msg    string
}

func (e *refusal) Error() string { return e.msg }

func refuse(code int, reason, format string, args ...any) *refusal {
	return &refusal{code: code, reason: reason, msg: fmt.Sprintf(format, args...)}
}

func writeRefusal(w http.ResponseWriter, err error) {
	var rf *refusal
	if !errors.As(err, &rf) {
		rf = refuse(http.StatusBadGateway, ReasonFailed, "your node could not pay: %v", err)
	}
	status := "refused"
	if rf.reason == reasonOpening {
		status = reasonOpening // not a refusal: the page waits for the chain
	}
	writeJSON(w, rf.code, errorJSON{Status: status, Reason: rf.reason, Message: rf.msg})
}

// reasonOpening: the node opens a channel with the publisher; the page
// asks again in a moment.
const reasonOpening = "opening"

// siteOrigin returns the canonical origin of a site's request, or a
// refusal: the browser sets Origin on every cross-origin call and on
// every POST; a request without one (a link, a form from nowhere, a
// program) is not a site's page asking.
func siteOrigin(r *http.Request) (string, error) {
	o := r.Header.Get("Origin")
	if o == "" {
		return "", refuse(http.StatusForbidden, ReasonBadRequest, "no Origin header: only a site's page in a browser calls this endpoint")
	}
	c, err := apps.CanonicalOrigin(o)
	if err != nil || c != o {
		return "", refuse(http.StatusForbidden, ReasonBadRequest, "origin %.100q is not a web site's", o)
	}
	return c, nil
}

// approvedToken returns the standing approval of origin, or why there is
// none.
func (h *Handler) approvedToken(origin string) (apps.AppToken, error) {
	t, ok := h.wallet.Site(origin)
	switch {
	case !ok:
		return t, refuse(http.StatusForbidden, ReasonNotApproved, "your tinypay node has not approved %s", origin)
	case t.Revoked:
		return t, refuse(http.StatusForbidden, ReasonRevoked, "you revoked the approval of %s on your node", origin)
	}
	return t, nil
}

// allowCORS lets origin's page read the answer (no credentials: the
// site's calls carry none).
func allowCORS(w http.ResponseWriter, origin string) {
	w.Header().Set("Access-Control-Allow-Origin", origin)
}

// preflight answers a CORS preflight: for any site's origin on
// /site/hello (the call that asks for approval), and for an approved
// one on the other /site/ calls; POST with a JSON body only. It answers
// Private Network Access (the page is on a less private network than
// loopback) the same way. Anything else gets no CORS headers.
func (h *Handler) preflight(w http.ResponseWriter, r *http.Request) {
	origin, err := siteOrigin(r)
	if err != nil {
		writeRefusal(w, err)
		return
	}
	deny := func(reason, msg string) {
		writeJSON(w, http.StatusForbidden, errorJSON{Status: "refused", Reason: reason, Message: msg})
	}
	if r.Header.Get("Access-Control-Request-Method") != http.MethodPost {
		deny(ReasonBadRequest, "only POST is allowed across origins")
		return
	}
	for _, hd := range strings.Split(r.Header.Get("Access-Control-Request-Headers"), ",") {
		if hd = strings.ToLower(strings.TrimSpace(hd)); hd != "" && hd != "content-type" {
			deny(ReasonBadRequest, "no request header but Content-Type is allowed across origins")
			return
		}
	}
	p := r.URL.Path
	switch {
	case p == "/site/hello":
	case sitePaths[p]:
		if _, err := h.approvedToken(origin); err != nil {
			var rf *refusal
			errors.As(err, &rf)
			deny(rf.reason, rf.msg)
			return
		}
	default:
		deny(ReasonBadRequest, "no cross-origin call to "+p)
		return
	}
	hd := w.Header()
	allowCORS(w, origin)
	hd.Set("Access-Control-Allow-Methods", "POST")
	hd.Set("Access-Control-Allow-Headers", "Content-Type")
	hd.Set("Access-Control-Max-Age", "60") // a revocation holds at once anyway: every call is checked
	if strings.EqualFold(r.Header.Get("Access-Control-Request-Private-Network"), "true") {
		hd.Set("Access-Control-Allow-Private-Network", "true")
	}
	w.WriteHeader(http.StatusNoContent)
}

// sitePaths are the calls of an approved site's pages.
var sitePaths = map[string]bool{"/site/pay": true, "/site/stream": true, "/site/stream/keepalive": true, "/site/stream/stop": true}

// serveSite serves the calls of sites' pages (POST /site/...).
func (h *Handler) serveSite(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST, OPTIONS")
		writeJSON(w, http.StatusMethodNotAllowed, errorJSON{Status: "refused", Reason: ReasonBadRequest, Message: "POST a JSON body"})
		return
	}
	origin, err := siteOrigin(r)
	if err != nil {
		writeRefusal(w, err)
		return
	}
	p := r.URL.Path
	if p != "/site/hello" && !sitePaths[p] {
		writeJSON(w, http.StatusNotFound, errorJSON{Status: "refused", Reason: ReasonBadRequest, Message: "no call " + p})
		return
	}
	// JSON only, so that a form or a no-cors fetch of another page (which
	// cannot send it without a preflight) never reaches the node; only a
	// stop, which a closing page sends with sendBeacon as text, may be
	// text.
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/json" && !(p == "/site/stream/stop" && mt == "text/plain") {
		writeRefusal(w, refuse(http.StatusUnsupportedMediaType, ReasonBadRequest, "want a JSON body (Content-Type: application/json)"))
		return
	}
	if p == "/site/hello" {
		allowCORS(w, origin) // anyone may ask
		h.hello(w, r, origin)
		return
	}
	tok, err := h.approvedToken(origin)
	if err != nil {
		// No CORS headers: the page cannot read this, and the node did
		// nothing. (Its script asks /site/hello first, which tells.)
		writeRefusal(w, err)
		return
	}
	allowCORS(w, origin)
	var body siteBody
	if err := h.readJSON(w, r, &body); err != nil {
		writeRefusal(w, refuse(http.StatusBadRequest, ReasonBadRequest, "%v", err))
		return
	}
	switch p {
	case "/site/pay":
		h.pay(w, r, origin, tok, &body)
	case "/site/stream":
		h.startStream(w, r, origin, tok, &body)
	case "/site/stream/keepalive":
		h.keepalive(w, origin, &body)
	case "/site/stream/stop":
		h.stopStreamCall(w, origin, &body)
	}
}

// parseTerms checks the terms a site's page sends: tinypay's, of this
// node's chain and contract, in an asset the node knows, with a signed
// offer (per request) or a rate (per second).
func (h *Handler) parseTerms(ctx context.Context, origin string, body *siteBody) (*siteTerms, error) {
	if body.Terms == nil {
		return nil, refuse(http.StatusBadRequest, ReasonBadTerms, "no terms: send the 402's terms")
	}
	req, t, err := paywall.TermsOf(body.Terms)
	if err != nil {
		return nil, refuse(http.StatusBadRequest, ReasonBadTerms, "the terms: %v", err)
	}
	info, err := h.nodeInfo(ctx)
	if err != nil {
		return nil, refuse(http.StatusServiceUnavailable, ReasonFailed, "your node does not answer: %v", err)
	}
	if t.ChainID != info.GetChainId() || !apiutil.SameAddress(t.Adjudicator, info.GetAdjudicator()) {
		return nil, refuse(http.StatusBadRequest, ReasonWrongChain, "this site's publisher is on chain %d (contract %s), your node on chain %d (%s)",
			t.ChainID, t.Adjudicator, info.GetChainId(), info.GetAdjudicator())
	}
	st := &siteTerms{item: t.Item}
	for _, a := range info.GetAssets() {
		if apiutil.SameAddress(a.GetAddress(), t.Asset.Address) {
			st.asset = a
		}
	}
	if st.asset == nil {
		return nil, refuse(http.StatusBadRequest, ReasonWrongAsset, "your node does not know the asset this site is paid in (%.20s at %s)", t.Asset.Symbol, t.Asset.Address)
	}
	if st.payee, err = crypto.ParseAddress(t.Payee); err != nil {
		return nil, refuse(http.StatusBadRequest, ReasonBadTerms, "the terms' payee: %v", err)
	}
	st.page = samePage(body.Page, origin)
	st.peer = peerHostPort(t.PeerAddr, origin)
	switch req.Scheme {
	case paywall.SchemeOffer:
		o, err := paywall.DecodeOffer(t.Offer)
		if err == nil {
			err = apiutil.VerifyOffer(o)
		}
		if err != nil {
			return nil, refuse(http.StatusBadRequest, ReasonBadTerms, "the offer: %v", err)
		}
		price, err := uint256.FromDecimal(o.GetPrice())
		switch {
		case err != nil || price.IsZero():
			return nil, refuse(http.StatusBadRequest, ReasonBadTerms, "the offer's price %.40q", o.GetPrice())
		case !apiutil.SameAddress(o.GetPayee(), t.Payee) || !apiutil.SameAddress(o.GetAsset(), t.Asset.Address) || o.GetItemId() != t.Item:
			return nil, refuse(http.StatusBadRequest, ReasonBadTerms, "the offer's payee, asset or item is not the terms'")
		case o.GetChainId() != info.GetChainId() || !apiutil.SameAddress(o.GetAdjudicator(), info.GetAdjudicator()):
			return nil, refuse(http.StatusBadRequest, ReasonWrongChain, "the offer is for another chain or contract")
		}
		st.offer, st.amount = o, *price
	case paywall.SchemeStream:
		rate, err := uint256.FromDecimal(t.Rate)
		if err != nil || rate.IsZero() {
			return nil, refuse(http.StatusBadRequest, ReasonBadTerms, "the rate %.40q", t.Rate)
		}
		if t.TickMs < uint64(apps.MinTick/time.Millisecond) || t.TickMs > uint64(apps.MaxTick/time.Millisecond) || len(t.Item) > node.MaxItemIDLen {
			return nil, refuse(http.StatusBadRequest, ReasonBadTerms, "the tick or item is out of range")
		}
		st.stream, st.amount, st.tick = true, *rate, min(time.Duration(t.TickMs)*time.Millisecond, time.Second)
	}
	return st, nil
}

// samePage returns page if it is a URL of origin (what the reader is
// shown), else "".
func samePage(page, origin string) string {
	u, err := url.Parse(page)
	if err != nil || len(page) > 2048 {
		return ""
	}
	if o, err := apps.CanonicalOrigin(u.Scheme + "://" + u.Host); err != nil || o != origin {
		return ""
	}
	return page
}

// peerHostPort is where the publisher's node listens for peers: the
// terms' address, with the site's host when it names none.
func peerHostPort(addr, origin string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		u, err := url.Parse(origin)
		if err != nil {
			return ""
		}
		host = u.Hostname()
	}
	return net.JoinHostPort(host, port)
}

// helloJSON answers /site/hello.
type helloJSON struct {
	State      string `json:"state"` // approved, not_approved, revoked, declined
	Request    string `json:"request,omitempty"`
	ApproveURL string `json:"approve_url,omitempty"`
	Message    string `json:"message"`
}

// hello serves /site/hello, the one call any site may make: is this site
// approved? If not, it holds a request for approval (one per site, at
// most MaxPending in all, for PendingTTL) that the reader sees on the
// node's page (approve_url), and says whether the reader answered.
func (h *Handler) hello(w http.ResponseWriter, r *http.Request, origin string) {
	var body siteBody
	if err := h.readJSON(w, r, &body); err != nil {
		writeRefusal(w, refuse(http.StatusBadRequest, ReasonBadRequest, "%v", err))
		return
	}
	tok, ok := h.wallet.Site(origin)
	if ok && !tok.Revoked {
		writeJSON(w, http.StatusOK, helloJSON{State: "approved", Message: "your node pays this site's pages within the limits you set"})
		return
	}
	if body.Request != "" {
		if st := h.answered(body.Request, origin); st == "declined" {
			writeJSON(w, http.StatusOK, helloJSON{State: "declined", Message: "You declined to approve this site on your node: it pays nothing."})
			return
		}
	}
	terms, err := h.parseTerms(r.Context(), origin, &body)
	if err != nil {
		writeRefusal(w, err)
		return
	}
	id, err := h.askApproval(origin, terms)
	if err != nil {
		writeRefusal(w, err)
		return
	}
	out := helloJSON{State: ReasonNotApproved, Request: id, ApproveURL: base(r) + "/approve#" + id,
		Message: "Your tinypay node has not approved this site yet: approve it, with a budget, on your node's page."}
	if ok {
		out.State = ReasonRevoked
		out.Message = "You revoked this site's approval on your node: approve it again (on your node's page) to pay from this page."
	}
	writeJSON(w, http.StatusOK, out)
}

// payJSON answers /site/pay and the stream calls.
type payJSON struct {
	Status       string `json:"status"` // paid, confirm, opening, streaming, ended, stopped
	Receipt      string `json:"receipt,omitempty"`
	Amount       string `json:"amount,omitempty"`
	AmountText   string `json:"amount_text,omitempty"`
	Confirmation string `json:"confirmation,omitempty"`
	ConfirmURL   string `json:"confirm_url,omitempty"`
	Stream       string `json:"stream,omitempty"`
	Paid         string `json:"paid,omitempty"`
	PaidText     string `json:"paid_text,omitempty"`
	Reason       string `json:"reason,omitempty"`
	Message      string `json:"message"`
}

// pay serves /site/pay: it pays the page's offer with the site's
// approval, or says why not; a price from the approval's auto-pay
// threshold on waits for the reader's confirmation on the node's page.
func (h *Handler) pay(w http.ResponseWriter, r *http.Request, origin string, tok apps.AppToken, body *siteBody) {
	if body.Confirmation != "" {
		h.confirmationState(w, r, origin, body.Confirmation)
		return
	}
	ctx := r.Context()
	t, err := h.parseTerms(ctx, origin, body)
	if err == nil && t.stream {
		err = refuse(http.StatusBadRequest, ReasonBadTerms, "these terms are per second: start a stream (/site/stream)")
	}
	if err == nil {
		err = h.checkSite(ctx, tok, t)
	}
	if err != nil {
		writeRefusal(w, err)
		return
	}
	receipt, err := h.payOffer(ctx, origin, tok, t, false)
	switch {
	case errors.Is(err, apps.ErrNeedsConfirmation):
		id, cerr := h.askConfirmation(origin, t)
		if cerr != nil {
			writeRefusal(w, cerr)
			return
		}
		writeJSON(w, http.StatusOK, payJSON{Status: "confirm", Confirmation: id, ConfirmURL: base(r) + "/confirm#" + id,
			Message: fmt.Sprintf("This page costs %s: confirm it on your node's page (your node pays this site without asking below %s).", t.amountText(), units(&tok.Policy.AutoPayBelow, t.asset))})
	case err != nil:
		writeRefusal(w, h.explain(origin, t, err))
	default:
		writeJSON(w, http.StatusOK, paidJSON(receipt, t))
	}
}

func paidJSON(receipt *apiv1.Receipt, t *siteTerms) payJSON {
	return payJSON{Status: "paid", Receipt: apiutil.EncodeReceipt(receipt), Amount: t.amount.Dec(), AmountText: t.amountText(),
		Message: "Paid " + t.amountText() + " from your node."}
}

// payOffer pays t's offer with the site's token, reaching the publisher
// first if the node is not connected to it.
func (h *Handler) payOffer(ctx context.Context, origin string, tok apps.AppToken, t *siteTerms, confirmed bool) (*apiv1.Receipt, error) {
	o, err := offerOf(t.offer)
	if err != nil {
		return nil, err
	}
	h.connect(ctx, t)
	ctx, cancel := context.WithTimeout(ctx, h.cfg.NodeTimeout)
	defer cancel()
	receipt, err := h.wallet.PayOffer(ctx, apps.PayRequest{Offer: &o, Token: tok.ID, Origin: origin, Confirmed: confirmed})
	if err != nil {
		return nil, err
	}
	h.log.Info("paid for a site's page", "origin", origin, "item", t.item, "amount", t.amountText())
	return receipt, nil
}

// offerOf converts an API offer (its encoding checked, and its signature
// checked by parseTerms) for the application layer.
func offerOf(m *apiv1.Offer) (apps.Offer, error) {
	o, err := apiutil.ParseOffer(m)
	if err != nil {
		return apps.Offer{}, refuse(http.StatusBadRequest, ReasonBadTerms, "the offer: %v", err)
	}
	return apps.Offer{
		ChainID: o.Domain.ChainID(), Adjudicator: o.Domain.Contract(), ID: o.Fields.Offer, Payee: o.Fields.Payee,
		ItemID: o.Fields.ItemID, Asset: o.Fields.Asset, Price: o.Fields.Price, Expiry: o.Fields.Expiry, Sig: o.Sig,
		Uses: apps.Uses{Policy: o.Fields.Uses, Max: o.Fields.MaxUses},
	}, nil
}

// checkSite checks what the approval says before anything is paid: the
// publisher and asset approved, and a channel to pay through.
func (h *Handler) checkSite(ctx context.Context, tok apps.AppToken, t *siteTerms) error {
	if _, ok := tok.Policy.Payees[t.payee]; !ok {
		var approved []string
		for p := range tok.Policy.Payees {
			approved = append(approved, p.Hex())
		}
		return refuse(http.StatusForbidden, ReasonWrongPayee, "this site was approved to pay %s; this page asks to pay %s", strings.Join(approved, ", "), t.payee.Hex())
	}
	if !apiutil.SameAddress(tok.Policy.Asset.Hex(), t.asset.GetAddress()) {
		return refuse(http.StatusForbidden, ReasonWrongAsset, "this site was approved to pay in another asset than %s", t.asset.GetSymbol())
	}
	return h.channelReady(ctx, t)
}

// channelReady says whether the node has an open channel with t's payee
// in its asset, one on its way (ReasonOpening: the page waits), or none.
func (h *Handler) channelReady(ctx context.Context, t *siteTerms) error {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.NodeTimeout)
	defer cancel()
	for c, err := range apiutil.Channels(ctx, h.api.ListChannels, &apiv1.ListChannelsRequest{Peer: t.payee.Hex()}) {
		if err != nil {
			return refuse(http.StatusServiceUnavailable, ReasonFailed, "your node does not answer: %v", err)
		}
		if c.GetPhase() == "open" && apiutil.SameAddress(c.GetAsset().GetAddress(), t.asset.GetAddress()) {
			return nil
		}
	}
	if op := h.openingOf(t); op != nil {
		switch op.state {
		case "failed":
			return refuse(http.StatusConflict, ReasonNoChannel, "your node could not open a channel with this site's publisher: %s", op.err)
		case "open":
			return nil // listed as open a moment from now
		}
		return &refusal{code: http.StatusAccepted, reason: reasonOpening, msg: "Your node is opening a channel with this site's publisher: waiting for the chain…"}
	}
	return refuse(http.StatusConflict, ReasonNoChannel, "your node has no open %s channel with this site's publisher (%s, at %s): open one on your node (tinypay channel open %s AMOUNT %s), then reload",
		t.asset.GetSymbol(), t.payee.Hex(), t.peer, t.payee.Hex(), t.asset.GetSymbol())
}

// connect connects the node to the publisher's node if it is not
// connected (best effort: the node redials peers it shares a channel with
// anyway): where the node knows it listens, or else at the terms'
// address. The terms' address is the site's word, signed by nobody: once
// the node knows the publisher, a page naming another address does not
// make it dial there (a page could probe the reader's network through
// the node, timing its calls).
func (h *Handler) connect(ctx context.Context, t *siteTerms) {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.NodeTimeout)
	defer cancel()
	peers, err := h.api.ListPeers(ctx, &apiv1.ListPeersRequest{})
	if err != nil {
		return
	}
	addr := t.peer
	for _, p := range peers.GetPeers() {
		if !apiutil.SameAddress(p.GetAddress(), t.payee.Hex()) {
			continue
		}
		if p.GetConnected() {
			return
		}
		if p.GetRemoteAddr() != "" {
			addr = p.GetRemoteAddr() // where it listened when the node last reached it
		}
	}
	if addr == "" {
		return
	}
	if _, err := h.api.ConnectPeer(ctx, &apiv1.ConnectPeerRequest{HostPort: addr, Address: t.payee.Hex()}); err != nil {
		h.log.Info("cannot reach a site's publisher", "payee", t.payee, "addr", addr, "err", err)
	}
}

// explain turns a failed payment or stream into a refusal in the
// reader's words.
func (h *Handler) explain(origin string, t *siteTerms, err error) error {
	var rf *refusal
	if errors.As(err, &rf) {
		return rf
	}
	tok, _ := h.wallet.Site(origin)
	switch {
	case errors.Is(err, apps.ErrAboveMaxPrice) && t.stream && tok.Policy.MaxRate.IsZero():
		return refuse(http.StatusForbidden, ReasonAboveMaxRate, "you approved %s without payments per second: this page asks %s", origin, t.amountText())
	case errors.Is(err, apps.ErrAboveMaxPrice) && t.stream:
		return refuse(http.StatusForbidden, ReasonAboveMaxRate, "this page asks %s, above the highest rate you allow this site (%s per second)", t.amountText(), units(&tok.Policy.MaxRate, t.asset))
	case errors.Is(err, apps.ErrAboveMaxPrice):
		return refuse(http.StatusForbidden, ReasonAboveMaxPrice, "this page costs %s, above the largest price you allow this site (%s)", t.amountText(), units(&tok.Policy.MaxPrice, t.asset))
	case errors.Is(err, apps.ErrSpendLimit):
		return budgetSpent(tok, t)
	case errors.Is(err, apps.ErrForbidden) && tok.Revoked:
		return refuse(http.StatusForbidden, ReasonRevoked, "you revoked the approval of %s on your node", origin)
	case errors.Is(err, apps.ErrForbidden):
		return refuse(http.StatusForbidden, ReasonFailed, "%v", err)
	case errors.Is(err, channel.ErrInsufficientBalance):
		return refuse(http.StatusConflict, ReasonBalance, "your channel with this site's publisher holds too little for %s: deposit more on your node", t.amountText())
	case errors.Is(err, node.ErrNotFound):
		return refuse(http.StatusConflict, ReasonNoChannel, "your node has no open %s channel with this site's publisher (%s)", t.asset.GetSymbol(), t.payee.Hex())
	case errors.Is(err, node.ErrNotConnected), errors.Is(err, node.ErrPending), errors.Is(err, context.DeadlineExceeded):
		return refuse(http.StatusServiceUnavailable, ReasonUnreachable, "your node cannot reach this site's publisher (%s at %s) now: try again", t.payee.Hex(), t.peer)
	}
	return refuse(http.StatusBadGateway, ReasonFailed, "your node did not pay: %v", err)
}

// budgetSpent says how much of the day's budget is left.
func budgetSpent(tok apps.AppToken, t *siteTerms) error {
	var left uint256.Int
	if tok.Spent.Lt(&tok.Policy.Limit) {
		left.Sub(&tok.Policy.Limit, &tok.Spent)
	}
	return refuse(http.StatusForbidden, ReasonBudgetSpent, "this site's budget for today is spent: you allow it %s a day, %s is left, and this page asks %s",
		units(&tok.Policy.Limit, t.asset), units(&left, t.asset), t.amountText())
}

// startStream serves /site/stream: a stream to the publisher at the
// terms' rate, with the site's approval, that the page keeps alive while
// it plays (keepalive) and stops when it pauses or goes (stop); a stream
// whose page goes quiet is stopped after StreamLease.
func (h *Handler) startStream(w http.ResponseWriter, r *http.Request, origin string, tok apps.AppToken, body *siteBody) {
	ctx := r.Context()
	t, err := h.parseTerms(ctx, origin, body)
	if err == nil && !t.stream {
		err = refuse(http.StatusBadRequest, ReasonBadTerms, "these terms are per request: pay them (/site/pay)")
	}
	if err == nil {
		err = h.checkSite(ctx, tok, t)
	}
	if err == nil {
		// The first tick is paid at once: refuse now what the budget
		// cannot pay, rather than start a stream that ends at once.
		first := new(uint256.Int).Mul(&t.amount, uint256.NewInt(uint64(t.tick/time.Millisecond)))
		first.Div(first, uint256.NewInt(1000))
		if total := new(uint256.Int).Add(&tok.Spent, first); total.Gt(&tok.Policy.Limit) {
			err = budgetSpent(tok, t)
		}
	}
	var place *reservation
	if err == nil {
		place, err = h.reserveStream(origin, &t.amount, &tok.Policy.MaxRate, t.asset)
	}
	if err != nil {
		writeRefusal(w, err)
		return
	}
	h.connect(ctx, t)
	sctx, cancel := context.WithTimeout(ctx, h.cfg.NodeTimeout)
	st, err := h.wallet.StartStream(sctx, apps.StreamRequest{Peer: t.payee, Asset: tokAsset(tok), Rate: t.amount, Tick: t.tick, ItemID: t.item, Token: tok.ID, Origin: origin})
	cancel()
	if err != nil {
		h.unreserveStream(place)
		writeRefusal(w, h.explain(origin, t, err))
		return
	}
	h.addStream(place, &lease{id: st.ID, origin: origin, token: tok.ID, asset: t.asset, rate: t.amount, deadline: h.now().Add(h.cfg.StreamLease)})
	h.log.Info("streaming for a site's page", "origin", origin, "item", t.item, "rate", t.amountText(), "stream", hex.EncodeToString(st.ID[:]))
	writeJSON(w, http.StatusOK, payJSON{Status: "streaming", Stream: "0x" + hex.EncodeToString(st.ID[:]), Amount: t.amount.Dec(), AmountText: t.amountText(),
		Message: "Paying " + t.amountText() + " from your node while it plays."})
}

func tokAsset(tok apps.AppToken) crypto.Address { return tok.Policy.Asset }

// keepalive serves /site/stream/keepalive: the page still plays. It says
// whether the stream still pays, and why not.
func (h *Handler) keepalive(w http.ResponseWriter, origin string, body *siteBody) {
	l, err := h.leaseOf(origin, body.Stream, true)
	if err != nil {
		writeRefusal(w, err)
		return
	}
	st, err := h.wallet.Stream(l.id)
	if err != nil || st.EndReason != "" {
		h.dropStream(l.id)
		reason, msg := streamEnd(st.EndReason)
		writeJSON(w, http.StatusOK, payJSON{Status: "ended", Reason: reason, Message: msg, Paid: st.Paid.Dec(), PaidText: units(&st.Paid, l.asset)})
		return
	}
	writeJSON(w, http.StatusOK, payJSON{Status: "streaming", Paid: st.Paid.Dec(), PaidText: units(&st.Paid, l.asset), Message: "paying"})
}

// streamEnd says why a site's stream ended.
func streamEnd(why string) (string, string) {
	switch why {
	case apps.EndSpendLimit:
		return ReasonBudgetSpent, "Your node stopped paying: this site's budget for today is spent."
	case apps.EndRevoked:
		return ReasonRevoked, "Your node stopped paying: you revoked this site's approval."
	case apps.EndBalance:
		return ReasonBalance, "Your node stopped paying: your channel with this site's publisher is empty."
	case apps.EndChannelClosed:
		return ReasonNoChannel, "Your node stopped paying: the channel with this site's publisher closed."
	case apps.EndByPayee:
		return "stopped", "The publisher stopped the stream."
	}
	return "stopped", "Your node stopped paying (" + why + ")."
}

// stopStreamCall serves /site/stream/stop: the page paused or goes away.
func (h *Handler) stopStreamCall(w http.ResponseWriter, origin string, body *siteBody) {
	l, err := h.leaseOf(origin, body.Stream, false)
	if err != nil {
		writeRefusal(w, err)
		return
	}
	h.dropStream(l.id)
	st, err := h.wallet.StopStream(l.id, l.token)
	if err != nil {
		writeRefusal(w, refuse(http.StatusBadGateway, ReasonFailed, "your node could not stop the stream: %v", err))
		return
	}
	h.log.Info("stopped a site's stream", "origin", origin, "stream", hex.EncodeToString(l.id[:]), "paid", units(&st.Paid, l.asset))
	writeJSON(w, http.StatusOK, payJSON{Status: "stopped", Paid: st.Paid.Dec(), PaidText: units(&st.Paid, l.asset), Message: "Your node stopped paying."})
}
