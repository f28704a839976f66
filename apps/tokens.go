package apps

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node"
	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
	"github.com/tinypay/tinypay/store"
)

// Errors about app tokens.
var (
	ErrSpendLimit = errors.New("spend limit reached")
	ErrForbidden  = errors.New("not allowed for this token")
	// ErrAboveMaxPrice refuses a payment above the token's largest single
	// price (TokenPolicy.MaxPrice), or a stream above its highest rate
	// (TokenPolicy.MaxRate).
	ErrAboveMaxPrice = errors.New("above the largest price allowed")
	// ErrNeedsConfirmation refuses a payment of at least the token's
	// TokenPolicy.AutoPayBelow that the reader did not confirm
	// (PayRequest.Confirmed).
	ErrNeedsConfirmation = errors.New("the reader must confirm this payment")
)

// TokenID identifies an app token.
type TokenID [16]byte

// IsZero reports whether t is the zero id (the node's admin).
func (t TokenID) IsZero() bool { return t == TokenID{} }

// String implements fmt.Stringer.
func (t TokenID) String() string { return hex.EncodeToString(t[:]) }

// TokenKind is what a token other than the node's admin token may do.
type TokenKind uint8

// Token kinds.
const (
	// KindApp tokens may pay, within their policy.
	KindApp TokenKind = iota
	// KindView tokens may only read; they have no policy and pay nothing.
	KindView
)

// String implements fmt.Stringer.
func (k TokenKind) String() string {
	if k == KindView {
		return "view"
	}
	return "app"
}

// TokenPolicy limits what an app token may pay.
type TokenPolicy struct {
	Asset  crypto.Address
	Limit  uint256.Int   // per period, over all payees
	Period time.Duration // whole seconds; periods start at multiples of it
	// Payees, if any, are the only payees allowed, each with its own limit
	// per period (zero: only Limit applies).
	Payees map[crypto.Address]uint256.Int
	// MaxPrice, if not zero, is the largest single payment; a stream's
	// ticks are bounded by MaxRate instead.
	MaxPrice uint256.Int
	// MaxRate, if not zero, is the highest rate per second a stream may
	// pay. A site's token (Origin set) without it may not stream.
	MaxRate uint256.Int
	// Origin makes the token a site's approval: the web origin
	// (scheme://host[:port], see CanonicalOrigin) whose pages pay with it
	// through the node's browser endpoint, which names the origin in
	// every PayRequest and StreamRequest. A site's token has no secret
	// anyone holds, and pays for no other origin.
	Origin string
	// AutoPayBelow, if not zero, is the amount from which a payment needs
	// the reader's confirmation (PayRequest.Confirmed) each time.
	AutoPayBelow uint256.Int
}

// AppToken describes an app token.
type AppToken struct {
	ID      TokenID
	Name    string
	Kind    TokenKind
	Policy  TokenPolicy // of an app token
	Created time.Time
	Revoked bool
	Spent   uint256.Int // in the current period
}

// appToken is a token with its spending in the current period; guarded by
// tokenSet.mu.
type appToken struct {
	AppToken
	hash       crypto.Hash
	window     int64 // the period the counters are for
	payeeSpent map[crypto.Address]*uint256.Int
}

// tokenSet is the owner of the app tokens and what they spent. Its lock
// guards memory only.
type tokenSet struct {
	mu     sync.Mutex
	byID   map[TokenID]*appToken
	byHash map[crypto.Hash]TokenID
}

func secretHash(secret string) crypto.Hash {
	return crypto.Keccak256([]byte("tinypay/app-token"), []byte(secret))
}

func (t *appToken) record() *storev1.AppToken {
	r := &storev1.AppToken{
		Version: store.TokenVersion, Id: t.ID[:], Name: t.Name, SecretHash: t.hash[:], Asset: t.Policy.Asset[:],
		Limit: amountBytes(&t.Policy.Limit), PeriodSeconds: uint64(t.Policy.Period / time.Second),
		CreatedUnixNano: t.Created.UnixNano(), Revoked: t.Revoked,
	}
	if t.Kind == KindView {
		r.Kind = storev1.TokenKind_TOKEN_KIND_VIEW
	}
	for p, l := range t.Policy.Payees {
		r.Payees = append(r.Payees, &storev1.PayeeLimit{Payee: p[:], Limit: amountBytes(&l)})
	}
	r.Origin = t.Policy.Origin
	if !t.Policy.MaxPrice.IsZero() {
		r.MaxPrice = amountBytes(&t.Policy.MaxPrice)
	}
	if !t.Policy.MaxRate.IsZero() {
		r.MaxRate = amountBytes(&t.Policy.MaxRate)
	}
	if !t.Policy.AutoPayBelow.IsZero() {
		r.AutoPayBelow = amountBytes(&t.Policy.AutoPayBelow)
	}
	slices.SortFunc(r.Payees, func(a, b *storev1.PayeeLimit) int { return bytes.Compare(a.Payee, b.Payee) })
	return r
}

func tokenFromRecord(r *storev1.AppToken) (*appToken, error) {
	t := &appToken{AppToken: AppToken{
		ID: TokenID(r.GetId()), Name: r.GetName(), Created: time.Unix(0, r.GetCreatedUnixNano()), Revoked: r.GetRevoked(),
		Policy: TokenPolicy{Asset: crypto.Address(r.GetAsset()), Period: time.Duration(r.GetPeriodSeconds()) * time.Second},
	}, hash: crypto.Hash(r.GetSecretHash()), window: -1}
	switch r.GetKind() {
	case storev1.TokenKind_TOKEN_KIND_UNSPECIFIED:
	case storev1.TokenKind_TOKEN_KIND_VIEW:
		t.Kind = KindView
		return t, nil
	default:
		return nil, fmt.Errorf("token kind %d: this binary knows app and view tokens", r.GetKind())
	}
	var err error
	if t.Policy.Limit, err = parseAmount("limit", r.GetLimit()); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		raw  []byte
		dst  *uint256.Int
	}{{"max price", r.GetMaxPrice(), &t.Policy.MaxPrice}, {"max rate", r.GetMaxRate(), &t.Policy.MaxRate}, {"auto-pay threshold", r.GetAutoPayBelow(), &t.Policy.AutoPayBelow}} {
		if len(f.raw) == 0 {
			continue
		}
		if *f.dst, err = parseAmount(f.name, f.raw); err != nil {
			return nil, err
		}
	}
	if r.GetOrigin() != "" {
		if t.Policy.Origin, err = CanonicalOrigin(r.GetOrigin()); err != nil {
			return nil, err
		}
	}
	for _, p := range r.GetPayees() {
		l, err := parseAmount("payee limit", p.GetLimit())
		if err != nil {
			return nil, err
		}
		if t.Policy.Payees == nil {
			t.Policy.Payees = map[crypto.Address]uint256.Int{}
		}
		t.Policy.Payees[crypto.Address(p.GetPayee())] = l
	}
	return t, nil
}

// loadTokens restores the app tokens and what each spent in its current
// period, from the payments in the log.
func (a *Apps) loadTokens() error {
	recs, err := a.store.Tokens()
	if err != nil {
		return err
	}
	oldest := a.clock.Now()
	for _, r := range recs {
		t, err := tokenFromRecord(r)
		if err != nil {
			return fmt.Errorf("token %x: %w", r.GetId(), err)
		}
		a.tokens.byID[t.ID] = t
		a.tokens.byHash[t.hash] = t.ID
		if t.Kind != KindApp {
			continue // spends nothing
		}
		t.roll(a.clock.Now())
		if start := t.windowStart(); start.Before(oldest) {
			oldest = start
		}
	}
	if len(recs) == 0 {
		return nil
	}
	before := a.store.LastSeq() + 1
	for {
		page, err := a.store.LogBefore(before, 256)
		if err != nil || len(page) == 0 {
			return err
		}
		for _, e := range page {
			if time.Unix(0, e.GetTimeUnixNano()).Before(oldest) {
				return nil
			}
			p := e.GetPayment()
			if p == nil || p.GetDirection() != storev1.Direction_DIRECTION_OUTGOING || len(p.GetTokenId()) != 16 {
				continue
			}
			t := a.tokens.byID[TokenID(p.GetTokenId())]
			if t == nil || time.Unix(0, p.GetTimeUnixNano()).Before(t.windowStart()) {
				continue
			}
			amt, err := parseAmount("amount", p.GetAmount())
			if err != nil {
				return err
			}
			t.add(crypto.Address(p.GetPeer()), &amt)
		}
		before = page[len(page)-1].GetSeq()
	}
}

func (t *appToken) windowOf(now time.Time) int64 {
	if t.Policy.Period < time.Second { // a view token: no periods
		return 0
	}
	return now.Unix() / int64(t.Policy.Period/time.Second)
}

func (t *appToken) windowStart() time.Time {
	return time.Unix(t.window*int64(t.Policy.Period/time.Second), 0)
}

// roll resets the counters when a new period began.
func (t *appToken) roll(now time.Time) {
	if w := t.windowOf(now); w != t.window {
		t.window, t.Spent, t.payeeSpent = w, uint256.Int{}, map[crypto.Address]*uint256.Int{}
	}
}

func (t *appToken) add(payee crypto.Address, amount *uint256.Int) {
	t.Spent.Add(&t.Spent, amount)
	ps := t.payeeSpent[payee]
	if ps == nil {
		ps = new(uint256.Int)
		t.payeeSpent[payee] = ps
	}
	ps.Add(ps, amount)
}

// allowed checks that the token may pay payee in asset at all, for
// origin (a site's requests; "" for any other).
func (a *Apps) allowed(t *appToken, payee, asset crypto.Address, origin string) error {
	switch {
	case t.Revoked:
		if t.Policy.Origin != "" {
			return fmt.Errorf("%w: the approval of %s (token %s) is revoked", ErrForbidden, t.Policy.Origin, t.ID)
		}
		return fmt.Errorf("%w: token %s is revoked", ErrForbidden, t.ID)
	case t.Kind != KindApp:
		return fmt.Errorf("%w: token %s is a %s token: it may not pay", ErrForbidden, t.ID, t.Kind)
	case origin != t.Policy.Origin:
		if t.Policy.Origin == "" {
			return fmt.Errorf("%w: token %s is not a site's approval (asked for %s)", ErrForbidden, t.ID, origin)
		}
		return fmt.Errorf("%w: token %s pays for %s only", ErrForbidden, t.ID, t.Policy.Origin)
	case asset != t.Policy.Asset:
		return fmt.Errorf("%w: token %s may pay in %s only", ErrForbidden, t.ID, a.assetName(t.Policy.Asset))
	}
	if len(t.Policy.Payees) > 0 {
		if _, ok := t.Policy.Payees[payee]; !ok {
			return fmt.Errorf("%w: token %s may not pay %s", ErrForbidden, t.ID, payee)
		}
	}
	return nil
}

// charge is a payment counted against a token.
type charge struct {
	payee, asset crypto.Address
	amount       *uint256.Int
	// tick: a stream's tick, checked against the token's policy when the
	// stream started (origin, rate); every other payment is checked
	// against the largest price and the auto-pay threshold.
	tick      bool
	origin    string // a site's request: its origin
	confirmed bool   // the reader confirmed it (PayRequest.Confirmed)
}

// reserve counts a payment against the token's limits, or refuses it. It
// returns the period it was counted in, for release.
func (a *Apps) reserve(id TokenID, c charge) (int64, error) {
	a.tokens.mu.Lock()
	defer a.tokens.mu.Unlock()
	t := a.tokens.byID[id]
	if t == nil {
		return 0, fmt.Errorf("%w: unknown token", ErrForbidden)
	}
	payee, asset, amount := c.payee, c.asset, c.amount
	origin := c.origin
	if c.tick {
		origin = t.Policy.Origin // checked when the stream started
	}
	if err := a.allowed(t, payee, asset, origin); err != nil {
		return 0, err
	}
	if !c.tick {
		if p := &t.Policy.MaxPrice; !p.IsZero() && amount.Gt(p) {
			return 0, fmt.Errorf("%w: %s is above the largest single price allowed, %s", ErrAboveMaxPrice, a.units(asset, amount), a.units(asset, p))
		}
		if b := &t.Policy.AutoPayBelow; !b.IsZero() && !amount.Lt(b) && !c.confirmed {
			return 0, fmt.Errorf("%w: %s is not below %s, the most paid without asking", ErrNeedsConfirmation, a.units(asset, amount), a.units(asset, b))
		}
	}
	t.roll(a.clock.Now())
	var total uint256.Int
	if _, over := total.AddOverflow(&t.Spent, amount); over || total.Gt(&t.Policy.Limit) {
		return 0, fmt.Errorf("%w: token %s may pay %s per %s, has paid %s", ErrSpendLimit, t.ID, a.units(asset, &t.Policy.Limit), t.Policy.Period, a.units(asset, &t.Spent))
	}
	if l, ok := t.Policy.Payees[payee]; ok && !l.IsZero() {
		var ps uint256.Int
		if s := t.payeeSpent[payee]; s != nil {
			ps = *s
		}
		if _, over := ps.AddOverflow(&ps, amount); over || ps.Gt(&l) {
			return 0, fmt.Errorf("%w: token %s may pay %s %s per %s", ErrSpendLimit, t.ID, payee, a.units(asset, &l), t.Policy.Period)
		}
	}
	t.add(payee, amount)
	return t.window, nil
}

// release gives back a reservation of a payment that was never made.
func (a *Apps) release(id TokenID, window int64, payee crypto.Address, amount *uint256.Int) {
	a.tokens.mu.Lock()
	defer a.tokens.mu.Unlock()
	t := a.tokens.byID[id]
	if t == nil || t.window != window {
		return
	}
	t.Spent.Sub(&t.Spent, amount)
	if ps := t.payeeSpent[payee]; ps != nil {
		ps.Sub(ps, amount)
	}
}

// checkTokenStream checks that a token may start a stream to payee at
// rate, for origin.
func (a *Apps) checkTokenStream(id TokenID, asset, payee crypto.Address, rate *uint256.Int, origin string) error {
	a.tokens.mu.Lock()
	defer a.tokens.mu.Unlock()
	t := a.tokens.byID[id]
	if t == nil {
		return fmt.Errorf("%w: unknown token", ErrForbidden)
	}
	if err := a.allowed(t, payee, asset, origin); err != nil {
		return err
	}
	m := &t.Policy.MaxRate
	switch {
	case m.IsZero() && t.Policy.Origin != "":
		return fmt.Errorf("%w: %s was approved without payments per second", ErrAboveMaxPrice, t.Policy.Origin)
	case !m.IsZero() && rate.Gt(m):
		return fmt.Errorf("%w: %s per second is above the highest rate allowed, %s per second", ErrAboveMaxPrice, a.units(asset, rate), a.units(asset, m))
	}
	return nil
}

// CreateToken creates an app token that may only pay, within the policy.
// The secret is returned once; only its hash is kept.
func (a *Apps) CreateToken(ctx context.Context, name string, p TokenPolicy) (AppToken, string, error) {
	switch {
	case len(name) > 100:
		return AppToken{}, "", invalid("token name longer than 100 bytes")
	case p.Limit.IsZero():
		return AppToken{}, "", invalid("a token needs a limit above zero")
	case p.Period < time.Second || p.Period%time.Second != 0 || p.Period > 366*24*time.Hour:
		return AppToken{}, "", invalid("the period must be whole seconds between 1s and a year")
	case p.Origin != "" || !p.AutoPayBelow.IsZero():
		return AppToken{}, "", invalid("an origin and an auto-pay threshold belong to a site's approval (ApproveSite)")
	}
	if !a.knownAsset(p.Asset) {
		return AppToken{}, "", fmt.Errorf("%w: %s", node.ErrUnknownAsset, p.Asset)
	}
	return a.createToken(ctx, &appToken{AppToken: AppToken{Name: name, Kind: KindApp, Policy: p}}, "tpapp_")
}

// createToken gives t an id, a secret (with prefix) and its creation time,
// stores it and returns it with the secret.
func (a *Apps) createToken(ctx context.Context, t *appToken, prefix string) (AppToken, string, error) {
	var raw [24]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return AppToken{}, "", err
	}
	secret := prefix + hex.EncodeToString(raw[:])
	t.ID, t.Created, t.hash, t.window = TokenID(randomShortID()), a.clock.Now(), secretHash(secret), -1
	t.roll(a.clock.Now())
	b := store.NewBatch()
	if err := b.PutToken(t.record()); err != nil {
		return AppToken{}, "", err
	}
	if _, err := a.store.Commit(ctx, b); err != nil {
		return AppToken{}, "", err
	}
	a.tokens.mu.Lock()
	a.tokens.byID[t.ID] = t
	a.tokens.byHash[t.hash] = t.ID
	a.tokens.mu.Unlock()
	return t.AppToken, secret, nil
}

// CreateViewToken creates a view token: it may only read (which calls, the
// API decides). The secret is returned once; only its hash is kept.
func (a *Apps) CreateViewToken(ctx context.Context, name string) (AppToken, string, error) {
	if len(name) > 100 {
		return AppToken{}, "", invalid("token name longer than 100 bytes")
	}
	return a.createToken(ctx, &appToken{AppToken: AppToken{Name: name, Kind: KindView}}, "tpview_")
}

// Authenticate returns the token a secret belongs to, and its kind.
func (a *Apps) Authenticate(secret string) (TokenID, TokenKind, bool) {
	a.tokens.mu.Lock()
	defer a.tokens.mu.Unlock()
	id, ok := a.tokens.byHash[secretHash(secret)]
	if !ok || a.tokens.byID[id].Revoked {
		return TokenID{}, 0, false
	}
	return id, a.tokens.byID[id].Kind, true
}

// Tokens lists the app tokens with what each spent this period.
func (a *Apps) Tokens() []AppToken {
	a.tokens.mu.Lock()
	defer a.tokens.mu.Unlock()
	out := make([]AppToken, 0, len(a.tokens.byID))
	for _, t := range a.tokens.byID {
		t.roll(a.clock.Now())
		out = append(out, t.AppToken)
	}
	slices.SortFunc(out, func(a, b AppToken) int { return a.Created.Compare(b.Created) })
	return out
}

// RevokeToken revokes an app token at once.
func (a *Apps) RevokeToken(ctx context.Context, id TokenID) (AppToken, error) {
	a.tokens.mu.Lock()
	t := a.tokens.byID[id]
	if t == nil {
		a.tokens.mu.Unlock()
		return AppToken{}, notFound("token %s", id)
	}
	t.Revoked = true
	rec := t.record()
	info := t.AppToken
	a.tokens.mu.Unlock()
	b := store.NewBatch()
	if err := b.PutToken(rec); err != nil {
		return AppToken{}, err
	}
	_, err := a.store.Commit(ctx, b)
	return info, err
}
