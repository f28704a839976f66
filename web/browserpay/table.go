package browserpay

import (
	"encoding/hex"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/holiman/uint256"
	"golang.org/x/net/publicsuffix"

	"github.com/tinypay/tinypay/apps"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
)

// What the endpoint holds in memory (h.mu guards it, and is held for
// memory only, never while calling the node): requests waiting for the
// reader, channels being opened, and the streams pages keep alive. Every
// table is bounded; sites fill the first and the last, so each site has
// at most one approval and one confirmation waiting.

type pendingKind uint8

const (
	kindApproval pendingKind = iota + 1
	kindConfirmation
)

// States of a pending request.
const (
	statePending   = "pending"
	stateApproving = "approving" // an approval being stored
	stateApproved  = "approved"  // an approval the reader gave
	stateDeclined  = "declined"  // an approval the reader refused
	statePaying    = "paying"    // a confirmation being paid
	statePaid      = "paid"
	stateRefused   = "refused" // a confirmation refused (by the reader or the node)
)

// pending is a site's request that waits for the reader: an approval, or
// a confirmation of one payment.
type pending struct {
	id      string
	kind    pendingKind
	origin  string
	terms   *siteTerms
	created time.Time
	state   string
	// A confirmation's outcome.
	receipt *apiv1.Receipt
	refusal error
}

// sweepLocked forgets requests past PendingTTL; h.mu held.
func (h *Handler) sweepLocked(now time.Time) {
	for id, p := range h.pending {
		if now.Sub(p.created) > h.cfg.PendingTTL {
			delete(h.pending, id)
		}
	}
}

// maxPendingPerSite bounds the requests for approval held for the
// origins of one site (siteGroup): a page can ask for its domain's
// countless subdomains at once, from frames.
const maxPendingPerSite = 4

// siteGroup is who holds origin, for maxPendingPerSite: its registrable
// domain (eTLD+1), or, for an IP address or a name without one, "ip" or
// the name.
func siteGroup(origin string) string {
	u, err := url.Parse(origin)
	if err != nil {
		return origin
	}
	host := u.Hostname()
	if net.ParseIP(host) != nil {
		return "ip"
	}
	if d, err := publicsuffix.EffectiveTLDPlusOne(host); err == nil {
		return d
	}
	return host
}

// countLocked counts the pending requests of kind, and those of them
// for site's origins; h.mu held.
func (h *Handler) countLocked(kind pendingKind, site string) (all, ofSite int) {
	for _, p := range h.pending {
		if p.kind == kind {
			all++
			if siteGroup(p.origin) == site {
				ofSite++
			}
		}
	}
	return all, ofSite
}

// askApproval holds a request for the approval of origin (the one it has,
// or a new one) and returns its id.
func (h *Handler) askApproval(origin string, t *siteTerms) (string, error) {
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sweepLocked(now)
	for _, p := range h.pending {
		if p.kind == kindApproval && p.origin == origin && (p.state == statePending || p.state == stateApproving) {
			// Its terms stay the first ones: what the reader may be
			// reading now (a site cannot swap the publisher under them).
			return p.id, nil
		}
	}
	site := siteGroup(origin)
	all, ofSite := h.countLocked(kindApproval, site)
	switch {
	case ofSite >= maxPendingPerSite:
		return "", refuse(http.StatusTooManyRequests, ReasonBusy, "your node holds %d requests for approval of %s's sites already: answer them, or try again in a few minutes", ofSite, site)
	case all >= h.cfg.MaxPending:
		return "", refuse(http.StatusTooManyRequests, ReasonBusy, "your node holds %d requests for approval already: try again in a few minutes", all)
	}
	p := &pending{id: randomID(), kind: kindApproval, origin: origin, terms: t, created: now, state: statePending}
	h.pending[p.id] = p
	return p.id, nil
}

// answered returns the state of origin's approval request id ("" if there
// is none); a declined one is forgotten once told.
func (h *Handler) answered(id, origin string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.pending[id]
	if p == nil || p.kind != kindApproval || p.origin != origin {
		return ""
	}
	if p.state == stateDeclined {
		delete(h.pending, id)
	}
	return p.state
}

// askConfirmation holds a request for the reader's confirmation of a
// payment (it replaces origin's earlier one, if any) and returns its id.
func (h *Handler) askConfirmation(origin string, t *siteTerms) (string, error) {
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sweepLocked(now)
	for id, p := range h.pending {
		if p.kind == kindConfirmation && p.origin == origin && p.state == statePending {
			delete(h.pending, id)
		}
	}
	// Confirmations have places of their own: sites that are not approved
	// cannot take them with requests for approval.
	if all, _ := h.countLocked(kindConfirmation, ""); all >= h.cfg.MaxPending {
		return "", refuse(http.StatusTooManyRequests, ReasonBusy, "your node holds %d payments for your confirmation already: try again in a few minutes", all)
	}
	p := &pending{id: randomID(), kind: kindConfirmation, origin: origin, terms: t, created: now, state: statePending}
	h.pending[p.id] = p
	return p.id, nil
}

// pendingOf returns a copy of request id of kind, or nil.
func (h *Handler) pendingOf(id string, kind pendingKind) *pending {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sweepLocked(h.now())
	p := h.pending[id]
	if p == nil || p.kind != kind {
		return nil
	}
	cp := *p
	return &cp
}

// setPending moves request id from one of the states in from to state
// (with a confirmation's outcome); false if it was not in one of them.
func (h *Handler) setPending(id string, from []string, state string, receipt *apiv1.Receipt, refusal error) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.pending[id]
	if p == nil {
		return false
	}
	for _, f := range from {
		if p.state == f {
			p.state, p.receipt, p.refusal = state, receipt, refusal
			return true
		}
	}
	return false
}

// confirmationState answers a page that waits for the reader's
// confirmation of a payment: still waiting, paid (with the receipt) or
// refused; the outcome is told once.
func (h *Handler) confirmationState(w http.ResponseWriter, r *http.Request, origin, id string) {
	h.mu.Lock()
	p := h.pending[id]
	if p == nil || p.kind != kindConfirmation || p.origin != origin {
		h.mu.Unlock()
		writeRefusal(w, refuse(http.StatusNotFound, ReasonNotConfirmed, "the confirmation asked of you ran out (or is not this site's): load the page again"))
		return
	}
	cp := *p
	if p.state == statePaid || p.state == stateRefused {
		delete(h.pending, id)
	}
	h.mu.Unlock()
	switch cp.state {
	case statePaid:
		writeJSON(w, http.StatusOK, paidJSON(cp.receipt, cp.terms))
	case stateRefused:
		writeRefusal(w, cp.refusal)
	default:
		writeJSON(w, http.StatusOK, payJSON{Status: "confirm", Confirmation: id, ConfirmURL: base(r) + "/confirm#" + id,
			Message: "This page costs " + cp.terms.amountText() + ": confirm it on your node's page."})
	}
}

// opening is a channel the node opens with a site's publisher, at the
// reader's word on the approval page.
type opening struct {
	state   string // connecting, opening, open, failed
	err     string
	channel string
}

func openingKey(payee, asset string) string {
	return strings.ToLower(payee) + "/" + strings.ToLower(asset)
}

// openingOf returns a copy of the open of a channel to t's publisher in
// its asset, or nil.
func (h *Handler) openingOf(t *siteTerms) *opening {
	h.mu.Lock()
	defer h.mu.Unlock()
	op := h.opening[openingKey(t.payee.Hex(), t.asset.GetAddress())]
	if op == nil {
		return nil
	}
	cp := *op
	return &cp
}

// startOpening records an open starting; false if one is under way.
func (h *Handler) startOpening(key string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if op := h.opening[key]; op != nil && op.state != "failed" && op.state != "open" {
		return false
	}
	h.opening[key] = &opening{state: "connecting"}
	return true
}

func (h *Handler) setOpening(key, state, channel, err string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.opening[key] = &opening{state: state, channel: channel, err: err}
}

// lease is a stream the endpoint pays for a page, which the page keeps
// alive.
type lease struct {
	id       [16]byte
	origin   string
	token    apps.TokenID
	asset    *apiv1.Asset
	rate     uint256.Int
	deadline time.Time
}

// reservation is a place taken for a stream being started.
type reservation struct {
	origin string
	rate   uint256.Int
}

// reserveStream takes a place for a stream of origin at rate to start,
// or refuses it: at the bound on streams, or, if maxRate is set, when
// origin's streams (started, and being started) and this one would pay
// more than maxRate per second together: the highest rate the reader
// allows a site is for all its pages at once.
func (h *Handler) reserveStream(origin string, rate, maxRate *uint256.Int, asset *apiv1.Asset) (*reservation, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.streams)+len(h.reserved) >= h.cfg.MaxStreams {
		return nil, refuse(http.StatusTooManyRequests, ReasonBusy, "your node pays %d streams for pages already: stop one first", h.cfg.MaxStreams)
	}
	if !maxRate.IsZero() {
		var total uint256.Int
		for _, l := range h.streams {
			if l.origin == origin {
				total.Add(&total, &l.rate)
			}
		}
		for r := range h.reserved {
			if r.origin == origin {
				total.Add(&total, &r.rate)
			}
		}
		if sum, over := new(uint256.Int).AddOverflow(&total, rate); over || sum.Gt(maxRate) {
			if total.IsZero() {
				return nil, refuse(http.StatusForbidden, ReasonAboveMaxRate, "this page asks %s per second, above the highest rate you allow this site (%s per second)",
					units(rate, asset), units(maxRate, asset))
			}
			return nil, refuse(http.StatusForbidden, ReasonAboveMaxRate, "this site's pages stream %s per second already: another %s per second is above the highest rate you allow it (%s per second, all its pages together)",
				units(&total, asset), units(rate, asset), units(maxRate, asset))
		}
	}
	r := &reservation{origin: origin, rate: *rate}
	h.reserved[r] = struct{}{}
	return r, nil
}

func (h *Handler) unreserveStream(r *reservation) {
	h.mu.Lock()
	delete(h.reserved, r)
	h.mu.Unlock()
}

// addStream turns a reserved place into a started stream's lease.
func (h *Handler) addStream(r *reservation, l *lease) {
	h.mu.Lock()
	delete(h.reserved, r)
	h.streams[l.id] = l
	h.mu.Unlock()
}

func (h *Handler) dropStream(id [16]byte) {
	h.mu.Lock()
	delete(h.streams, id)
	h.mu.Unlock()
}

// leaseOf returns a copy of origin's stream named by text (extending its
// lease if extend), or a refusal.
func (h *Handler) leaseOf(origin, text string, extend bool) (*lease, error) {
	raw, err := hex.DecodeString(strings.TrimPrefix(strings.ToLower(text), "0x"))
	if err != nil || len(raw) != 16 {
		return nil, refuse(http.StatusBadRequest, ReasonBadRequest, "stream %.40q: want 0x and 32 hex digits", text)
	}
	id := [16]byte(raw)
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.streams[id]
	if l == nil || l.origin != origin {
		return nil, refuse(http.StatusNotFound, ReasonBadRequest, "no stream %s of this site is paying (it ended)", text)
	}
	if extend {
		l.deadline = h.now().Add(h.cfg.StreamLease)
	}
	cp := *l
	return &cp, nil
}

// Streams returns how many streams the endpoint pays for pages.
func (h *Handler) Streams() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.streams)
}

// Pending returns how many requests wait for the reader.
func (h *Handler) Pending() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.pending)
}
