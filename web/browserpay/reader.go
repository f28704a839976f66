package browserpay

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/apps"
	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/apiutil"
)

// The reader's side: the node's own pages (approve, confirm) and their
// calls, same origin only, with a session the reader signs in to with
// the node's admin token, and a CSRF token on every call.

// Names on the wire.
const (
	// SessionCookie holds a reader's session: HttpOnly, SameSite=Strict,
	// for this endpoint's paths (it is plain HTTP on loopback, so it
	// cannot be Secure).
	SessionCookie = "tinypay_reader"
	// CSRFHeader carries the session's CSRF token on every call but the
	// sign-in (whose answer is the only one that carries the token).
	CSRFHeader = "X-CSRF-Token"
)

type session struct {
	csrf    string
	created time.Time
	expires time.Time
}

// attempts counts sign-ins in the minute that started at since.
type attempts struct {
	since time.Time
	n     int
}

// serveReader serves /auth/... and /reader/....
func (h *Handler) serveReader(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Content-Security-Policy", "frame-ancestors 'none'")
	if msg := crossSite(r); msg != "" {
		writeJSON(w, http.StatusForbidden, errorJSON{Reason: "cross_site", Message: msg})
		return
	}
	type route struct {
		method string
		serve  func(http.ResponseWriter, *http.Request)
	}
	// Every call but the sign-in needs the session's CSRF token, reads
	// included: cookies of 127.0.0.1 go to every port of it, so a web
	// server of someone else's on this machine that the browser visits
	// gets the session cookie, and must learn nothing with it alone. Only
	// the sign-in's answer carries the token; the node's pages keep it
	// in their origin's storage.
	routes := map[string]route{
		"/auth/signin":         {http.MethodPost, h.signIn},
		"/auth/signout":        {http.MethodPost, h.signOut},
		"/auth/session":        {http.MethodGet, h.sessionInfo},
		"/reader/request":      {http.MethodGet, h.requestInfo},
		"/reader/approve":      {http.MethodPost, h.approve},
		"/reader/decline":      {http.MethodPost, h.decline},
		"/reader/confirmation": {http.MethodGet, h.confirmationInfo},
		"/reader/confirm":      {http.MethodPost, h.confirm},
		"/reader/refuse":       {http.MethodPost, h.refuseConfirmation},
	}
	rt, ok := routes[r.URL.Path]
	if !ok {
		writeJSON(w, http.StatusNotFound, errorJSON{Reason: "not_found", Message: "no call " + r.URL.Path})
		return
	}
	if r.Method != rt.method {
		hd.Set("Allow", rt.method)
		writeJSON(w, http.StatusMethodNotAllowed, errorJSON{Reason: "method", Message: r.URL.Path + " takes " + rt.method})
		return
	}
	if r.URL.Path != "/auth/signin" {
		s := h.lookup(r)
		if s == nil {
			writeJSON(w, http.StatusUnauthorized, errorJSON{Reason: "signed_out", Message: "sign in with your node's admin token (DATADIR/api.token) first"})
			return
		}
		got := r.Header.Get(CSRFHeader)
		if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) != 1 {
			writeJSON(w, http.StatusForbidden, errorJSON{Reason: "csrf", Message: "missing or wrong " + CSRFHeader + " header (this node's pages send the one their sign-in gave them with every call): sign in again"})
			return
		}
	}
	rt.serve(w, r)
}

// crossSite says why r comes from another origin, or "": the reader's
// calls come from the node's own pages only.
func crossSite(r *http.Request) string {
	if o := r.Header.Get("Origin"); o != "" && o != base(r) {
		return "a call from " + o + " refused: only this node's own pages may make it"
	}
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		return "a " + s + " call refused: only this node's own pages may make it"
	}
	return ""
}

// lookup returns a copy of r's live session, or nil.
func (h *Handler) lookup(r *http.Request) *session {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sessions[c.Value]
	if s == nil {
		return nil
	}
	if !h.now().Before(s.expires) {
		delete(h.sessions, c.Value)
		return nil
	}
	cp := *s
	return &cp
}

type sessionJSON struct {
	CSRFToken   string `json:"csrf_token,omitempty"`
	ExpiresUnix int64  `json:"expires_unix"`
}

// signIn serves POST /auth/signin {"token": "..."}: the node's admin
// token only (view and app tokens may not approve payments).
func (h *Handler) signIn(w http.ResponseWriter, r *http.Request) {
	now := h.now()
	h.mu.Lock()
	if now.Sub(h.signIns.since) >= time.Minute {
		h.signIns = attempts{since: now}
	}
	h.signIns.n++
	over := h.signIns.n > h.cfg.SignInsPerMinute
	wait := h.signIns.since.Add(time.Minute).Sub(now)
	h.mu.Unlock()
	if over {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)+1))
		writeJSON(w, http.StatusTooManyRequests, errorJSON{Reason: "busy", Message: "too many sign-in attempts: wait a minute"})
		return
	}
	var body struct {
		Token string `json:"token"`
	}
	if err := h.readJSON(w, r, &body); err != nil {
		writeJSON(w, http.StatusBadRequest, errorJSON{Reason: ReasonBadRequest, Message: "sign-in: want {\"token\": \"...\"}"})
		return
	}
	if tok := strings.TrimSpace(body.Token); tok == "" || !h.admin(tok) {
		writeJSON(w, http.StatusUnauthorized, errorJSON{Reason: "wrong_token", Message: "wrong token: paste your node's admin token (DATADIR/api.token); view and app tokens cannot approve payments"})
		return
	}
	s := &session{csrf: randomID() + randomID(), created: now, expires: now.Add(h.cfg.SessionTTL)}
	id := randomID() + randomID()
	h.mu.Lock()
	for sid, old := range h.sessions {
		if !now.Before(old.expires) {
			delete(h.sessions, sid)
		}
	}
	for len(h.sessions) >= h.cfg.MaxSessions {
		var oldest string
		for sid, old := range h.sessions {
			if oldest == "" || old.created.Before(h.sessions[oldest].created) {
				oldest = sid
			}
		}
		delete(h.sessions, oldest)
	}
	h.sessions[id] = s
	h.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: id, Path: "/", MaxAge: int(h.cfg.SessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode})
	writeJSON(w, http.StatusOK, sessionJSON{CSRFToken: s.csrf, ExpiresUnix: s.expires.Unix()})
}

func (h *Handler) signOut(w http.ResponseWriter, r *http.Request) {
	c, _ := r.Cookie(SessionCookie)
	h.mu.Lock()
	delete(h.sessions, c.Value)
	h.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	writeJSON(w, http.StatusOK, struct{}{})
}

// sessionInfo serves GET /auth/session: whether the page's session and
// CSRF token still hold, and until when. It never gives the token out
// (only the sign-in does).
func (h *Handler) sessionInfo(w http.ResponseWriter, r *http.Request) {
	s := h.lookup(r)
	writeJSON(w, http.StatusOK, sessionJSON{ExpiresUnix: s.expires.Unix()})
}

// termsJSON is what a site asks, for the reader to see.
type termsJSON struct {
	Kind       string `json:"kind"` // offer or stream
	Item       string `json:"item"`
	Page       string `json:"page,omitempty"`
	Payee      string `json:"payee"`
	Peer       string `json:"peer"`
	Asset      string `json:"asset"`
	Decimals   uint32 `json:"decimals"`
	Amount     string `json:"amount"`
	AmountText string `json:"amount_text"`
}

func termsOf(t *siteTerms) termsJSON {
	kind := "offer"
	if t.stream {
		kind = "stream"
	}
	return termsJSON{Kind: kind, Item: t.item, Page: t.page, Payee: t.payee.Hex(), Peer: t.peer, Asset: t.asset.GetSymbol(),
		Decimals: t.asset.GetDecimals(), Amount: t.amount.Dec(), AmountText: t.amountText()}
}

// requestJSON is an approval request as the approval page shows it.
type requestJSON struct {
	ID      string    `json:"id"`
	Origin  string    `json:"origin"`
	State   string    `json:"state"`
	Terms   termsJSON `json:"terms"`
	Channel struct {
		State       string `json:"state"` // open, none, connecting, opening, failed
		ID          string `json:"id,omitempty"`
		BalanceText string `json:"balance_text,omitempty"`
		Error       string `json:"error,omitempty"`
	} `json:"channel"`
	WalletText string `json:"wallet_text"` // the node's on-chain balance of the asset
	// Suggested limits, in the asset's units: a day of ten such pages.
	SuggestBudget, SuggestMaxPrice, SuggestDeposit, SuggestMaxRate string        `json:",omitempty"`
	Approval                                                       *approvalJSON `json:"approval,omitempty"`
}

type approvalJSON struct {
	Budget       string `json:"budget_text"`
	MaxPrice     string `json:"max_price_text"`
	AutoPayBelow string `json:"auto_pay_below_text,omitempty"`
	MaxRate      string `json:"max_rate_text,omitempty"`
}

// requestInfo serves GET /reader/request?id=: an approval request, the
// node's channel with the publisher (and the progress of its open) and
// its balance on chain.
func (h *Handler) requestInfo(w http.ResponseWriter, r *http.Request) {
	p := h.pendingOf(r.URL.Query().Get("id"), kindApproval)
	if p == nil {
		writeJSON(w, http.StatusNotFound, errorJSON{Reason: "not_found", Message: "no such request: it ran out (after " + h.cfg.PendingTTL.String() + "); ask again from the site's page"})
		return
	}
	out := requestJSON{ID: p.id, Origin: p.origin, State: p.state, Terms: termsOf(p.terms)}
	t := p.terms
	ctx := r.Context()
	out.Channel.State = "none"
	if c := h.openChannel(ctx, t); c != nil {
		out.Channel.State, out.Channel.ID = "open", c.GetId()
		if b, err := uint256.FromDecimal(c.GetMyBalance()); err == nil {
			out.Channel.BalanceText = units(b, t.asset)
		}
	} else if op := h.openingOf(t); op != nil {
		out.Channel.State, out.Channel.ID, out.Channel.Error = op.state, op.channel, op.err
	}
	if bals, err := h.api.GetBalances(ctx, &apiv1.GetBalancesRequest{}); err == nil {
		for _, b := range bals.GetBalances() {
			if apiutil.SameAddress(b.GetAsset().GetAddress(), t.asset.GetAddress()) {
				if v, err := uint256.FromDecimal(b.GetWallet()); err == nil {
					out.WalletText = units(v, t.asset)
				}
			}
		}
	}
	// Suggestions: a budget of twenty such pages a day (or an hour of a
	// stream), a largest price of twice this one, a deposit of five days.
	d := t.asset.GetDecimals()
	per := new(uint256.Int).Set(&t.amount)
	if t.stream {
		out.SuggestMaxRate = channel.FormatUnits(new(uint256.Int).Mul(per, uint256.NewInt(2)), d)
		per.Mul(per, uint256.NewInt(60)) // a minute of it
		out.SuggestMaxPrice = channel.FormatUnits(per, d)
	} else {
		out.SuggestMaxPrice = channel.FormatUnits(new(uint256.Int).Mul(per, uint256.NewInt(2)), d)
	}
	budget := new(uint256.Int).Mul(per, uint256.NewInt(20))
	out.SuggestBudget = channel.FormatUnits(budget, d)
	out.SuggestDeposit = channel.FormatUnits(new(uint256.Int).Mul(budget, uint256.NewInt(5)), d)
	if tok, ok := h.wallet.Site(p.origin); ok && !tok.Revoked && p.state == stateApproved {
		a := &approvalJSON{Budget: units(&tok.Policy.Limit, t.asset), MaxPrice: units(&tok.Policy.MaxPrice, t.asset)}
		if !tok.Policy.AutoPayBelow.IsZero() {
			a.AutoPayBelow = units(&tok.Policy.AutoPayBelow, t.asset)
		}
		if !tok.Policy.MaxRate.IsZero() {
			a.MaxRate = units(&tok.Policy.MaxRate, t.asset) + " per second"
		}
		out.Approval = a
	}
	writeJSON(w, http.StatusOK, out)
}

// openChannel returns the node's open channel with t's publisher in its
// asset, or nil.
func (h *Handler) openChannel(ctx context.Context, t *siteTerms) *apiv1.Channel {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.NodeTimeout)
	defer cancel()
	resp, err := h.api.ListChannels(ctx, &apiv1.ListChannelsRequest{Peer: t.payee.Hex()})
	if err != nil {
		return nil
	}
	for _, c := range resp.GetChannels() {
		if c.GetPhase() == "open" && apiutil.SameAddress(c.GetAsset().GetAddress(), t.asset.GetAddress()) {
			return c
		}
	}
	return nil
}

// approveBody is the approval page's form: amounts in the asset's units
// ("0.5"); empty ones are not set.
type approveBody struct {
	ID           string `json:"id"`
	Budget       string `json:"budget"`
	MaxPrice     string `json:"max_price"`
	AutoPayBelow string `json:"auto_pay_below"`
	MaxRate      string `json:"max_rate"`
	// Deposit, if set, opens a channel with the publisher holding it
	// when there is none.
	Deposit string `json:"deposit"`
}

// approve serves POST /reader/approve: the reader approves the site with
// a budget per day and a largest price (and optionally an auto-pay
// threshold, a highest rate, and a deposit for a new channel).
func (h *Handler) approve(w http.ResponseWriter, r *http.Request) {
	var body approveBody
	if err := h.readJSON(w, r, &body); err != nil {
		writeJSON(w, http.StatusBadRequest, errorJSON{Reason: ReasonBadRequest, Message: err.Error()})
		return
	}
	p := h.pendingOf(body.ID, kindApproval)
	if p == nil || p.state != statePending {
		writeJSON(w, http.StatusNotFound, errorJSON{Reason: "not_found", Message: "no such request waits for you (it ran out, or you answered it)"})
		return
	}
	t := p.terms
	a := apps.SiteApproval{Origin: p.origin, Payee: t.payee, Asset: assetAddress(t.asset)}
	var deposit uint256.Int
	for _, f := range []struct {
		name, text string
		dst        *uint256.Int
		required   bool
	}{
		{"budget per day", body.Budget, &a.Budget, true},
		{"largest price", body.MaxPrice, &a.MaxPrice, true},
		{"auto-pay threshold", body.AutoPayBelow, &a.AutoPayBelow, false},
		{"highest rate per second", body.MaxRate, &a.MaxRate, false},
		{"deposit", body.Deposit, &deposit, false},
	} {
		text := strings.TrimSpace(f.text)
		if text == "" {
			if f.required {
				writeJSON(w, http.StatusBadRequest, errorJSON{Reason: ReasonBadRequest, Message: "the " + f.name + " is required"})
				return
			}
			continue
		}
		v, err := channel.ParseUnits(text, t.asset.GetDecimals())
		if err != nil {
			writeJSON(w, http.StatusBadRequest, errorJSON{Reason: ReasonBadRequest, Message: "the " + f.name + ": " + err.Error()})
			return
		}
		*f.dst = *v
	}
	// One answer per request: a second approval sent meanwhile (a double
	// click, a replay) finds it taken and approves nothing.
	if !h.setPending(p.id, []string{statePending}, stateApproving, nil, nil) {
		writeJSON(w, http.StatusNotFound, errorJSON{Reason: "not_found", Message: "no such request waits for you (it ran out, or you answered it)"})
		return
	}
	ctx := r.Context()
	needChannel := h.openChannel(ctx, t) == nil
	if !deposit.IsZero() && !needChannel {
		deposit.Clear() // the channel is there
	}
	tok, err := h.wallet.ApproveSite(ctx, a)
	if err != nil {
		h.setPending(p.id, []string{stateApproving}, statePending, nil, nil)
		writeJSON(w, http.StatusBadRequest, errorJSON{Reason: ReasonBadRequest, Message: "not approved: " + err.Error()})
		return
	}
	h.setPending(p.id, []string{stateApproving}, stateApproved, nil, nil)
	h.log.Info("the reader approved a site", "origin", p.origin, "token", tok.ID, "budget", units(&a.Budget, t.asset), "max_price", units(&a.MaxPrice, t.asset))
	if !deposit.IsZero() {
		key := openingKey(t.payee.Hex(), t.asset.GetAddress())
		if h.startOpening(key) {
			go h.open(key, t, deposit)
		}
	}
	h.requestInfo(w, withID(r, p.id))
}

// open connects to t's publisher and opens a channel holding deposit,
// recording its progress for the approval page and the site's page.
func (h *Handler) open(key string, t *siteTerms, deposit uint256.Int) {
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.OpenTimeout)
	defer cancel()
	h.connect(ctx, t)
	h.setOpening(key, "opening", "", "")
	c, err := h.api.OpenChannel(ctx, &apiv1.OpenChannelRequest{Peer: t.payee.Hex(), Asset: assetArg(t.asset), Deposit: deposit.Dec()})
	if err != nil {
		h.log.Warn("opening a channel for a site failed", "payee", t.payee, "err", err)
		h.setOpening(key, "failed", "", errText(err))
		return
	}
	h.log.Info("opened a channel for a site", "payee", t.payee, "channel", c.GetId(), "deposit", units(&deposit, t.asset))
	h.setOpening(key, "open", c.GetId(), "")
}

// errText is a gRPC error's message without its code.
func errText(err error) string {
	s := err.Error()
	if _, msg, ok := strings.Cut(s, " desc = "); ok {
		return msg
	}
	return s
}

func assetArg(a *apiv1.Asset) string {
	if a.GetAddress() != "" && strings.Trim(strings.TrimPrefix(a.GetAddress(), "0x"), "0") != "" {
		return a.GetAddress()
	}
	return a.GetSymbol()
}

// assetAddress is the asset's address (the zero address for ETH).
func assetAddress(a *apiv1.Asset) crypto.Address {
	addr, _ := crypto.ParseAddress(a.GetAddress())
	return addr
}

// withID returns r with its query set to id=ID (to answer an action with
// the request as GET /reader/request shows it).
func withID(r *http.Request, id string) *http.Request {
	r2 := r.Clone(r.Context())
	r2.URL.RawQuery = "id=" + id
	return r2
}

// decline serves POST /reader/decline {"id"}: the site is not approved;
// its page is told so.
func (h *Handler) decline(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ID string `json:"id"`
	}
	if err := h.readJSON(w, r, &body); err != nil {
		writeJSON(w, http.StatusBadRequest, errorJSON{Reason: ReasonBadRequest, Message: err.Error()})
		return
	}
	if !h.setPending(body.ID, []string{statePending}, stateDeclined, nil, nil) {
		writeJSON(w, http.StatusNotFound, errorJSON{Reason: "not_found", Message: "no such request waits for you"})
		return
	}
	writeJSON(w, http.StatusOK, struct {
		State string `json:"state"`
	}{stateDeclined})
}

// confirmationJSON is a payment waiting for the reader's confirmation.
type confirmationJSON struct {
	ID         string    `json:"id"`
	Origin     string    `json:"origin"`
	State      string    `json:"state"`
	Terms      termsJSON `json:"terms"`
	BudgetText string    `json:"budget_text"`
	LeftText   string    `json:"left_text"`
	Message    string    `json:"message,omitempty"`
}

func (h *Handler) confirmationInfo(w http.ResponseWriter, r *http.Request) {
	h.writeConfirmation(w, r.URL.Query().Get("id"))
}

func (h *Handler) writeConfirmation(w http.ResponseWriter, id string) {
	p := h.pendingOf(id, kindConfirmation)
	if p == nil {
		writeJSON(w, http.StatusNotFound, errorJSON{Reason: "not_found", Message: "no such payment waits for you (it ran out, or its page took the answer)"})
		return
	}
	out := confirmationJSON{ID: p.id, Origin: p.origin, State: p.state, Terms: termsOf(p.terms)}
	if tok, ok := h.wallet.Site(p.origin); ok {
		var left uint256.Int
		if tok.Spent.Lt(&tok.Policy.Limit) {
			left.Sub(&tok.Policy.Limit, &tok.Spent)
		}
		out.BudgetText, out.LeftText = units(&tok.Policy.Limit, p.terms.asset), units(&left, p.terms.asset)
	}
	if p.refusal != nil {
		out.Message = p.refusal.Error()
	}
	writeJSON(w, http.StatusOK, out)
}

// confirm serves POST /reader/confirm {"id"}: the reader confirms a
// payment; the node pays it now (within the site's other limits) and the
// site's page gets the receipt.
func (h *Handler) confirm(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ID string `json:"id"`
	}
	if err := h.readJSON(w, r, &body); err != nil {
		writeJSON(w, http.StatusBadRequest, errorJSON{Reason: ReasonBadRequest, Message: err.Error()})
		return
	}
	p := h.pendingOf(body.ID, kindConfirmation)
	if p == nil || !h.setPending(p.id, []string{statePending}, statePaying, nil, nil) {
		writeJSON(w, http.StatusNotFound, errorJSON{Reason: "not_found", Message: "no such payment waits for you"})
		return
	}
	tok, err := h.approvedToken(p.origin)
	var receipt *apiv1.Receipt
	if err == nil {
		// The site's page waits for the outcome, not this one: the
		// payment goes on if the reader closes this page meanwhile.
		receipt, err = h.payOffer(context.WithoutCancel(r.Context()), p.origin, tok, p.terms, true)
	}
	if err != nil {
		h.setPending(p.id, []string{statePaying}, stateRefused, nil, h.explain(p.origin, p.terms, err))
	} else {
		h.setPending(p.id, []string{statePaying}, statePaid, receipt, nil)
	}
	h.writeConfirmation(w, p.id)
}

// refuseConfirmation serves POST /reader/refuse {"id"}: the reader does
// not pay; the site's page is told so.
func (h *Handler) refuseConfirmation(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ID string `json:"id"`
	}
	if err := h.readJSON(w, r, &body); err != nil {
		writeJSON(w, http.StatusBadRequest, errorJSON{Reason: ReasonBadRequest, Message: err.Error()})
		return
	}
	rf := refuse(http.StatusForbidden, ReasonNotConfirmed, "you did not confirm this payment on your node: nothing was paid")
	if !h.setPending(body.ID, []string{statePending}, stateRefused, nil, rf) {
		writeJSON(w, http.StatusNotFound, errorJSON{Reason: "not_found", Message: "no such payment waits for you"})
		return
	}
	h.writeConfirmation(w, body.ID)
}
