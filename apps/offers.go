package apps

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node"
	"github.com/tinypay/tinypay/store"
)

// refusal is an application refusal: an error kind with the google.rpc.Code
// a peer is told (node.Hooks refusals) and the API maps.
type refusal struct {
	msg  string
	code uint32
}

func (r *refusal) Error() string    { return r.msg }
func (r *refusal) PeerCode() uint32 { return r.code }

// Errors about offers.
var (
	// ErrOfferPaid: a once-only offer paid before, or a per-payer offer
	// paid before by the same payer.
	ErrOfferPaid    error = &refusal{"offer already paid", 6} // ALREADY_EXISTS
	ErrOfferExpired error = &refusal{"offer expired", 9}      // FAILED_PRECONDITION
	ErrBadOffer     error = &refusal{"invalid offer", 3}      // INVALID_ARGUMENT
	ErrOfferAltered error = &refusal{"payment does not match the offer", 3}
	// ErrOfferSoldOut: every use of a limited offer is taken (paid, or
	// being paid).
	ErrOfferSoldOut error = &refusal{"offer sold out", 8} // RESOURCE_EXHAUSTED
)

// OfferPaidError refuses a second payment of a once-only or per-payer
// offer this node paid; it carries the first payment. It matches
// ErrOfferPaid.
type OfferPaidError struct {
	Offer   crypto.Hash
	Payment node.PaymentInfo
}

func (e *OfferPaidError) Error() string {
	return fmt.Sprintf("offer already paid: offer %s by payment %x", e.Offer, e.Payment.ID)
}

// Is makes errors.Is(err, ErrOfferPaid) true.
func (e *OfferPaidError) Is(target error) bool { return target == ErrOfferPaid }

// offerGrace is how long after its expiry a payee still accepts an offer
// that was paid in time (clocks differ, messages take time).
const offerGrace = 60 * time.Second

// Uses is an offer's use policy: how many payments its payee takes for it
// before it expires. The zero value is Once.
type Uses struct {
	Policy crypto.OfferUses
	// Max is the number of payments of a crypto.OfferLimited offer (2 to
	// crypto.MaxOfferUses); zero with the other policies.
	Max uint32
}

// The use policies.
var (
	// Once: one payment in all (the default).
	Once = Uses{Policy: crypto.OfferOnce}
	// OncePerPayer: one payment per payer (per node identity: the peer of
	// the channel it comes through), any number of payers.
	OncePerPayer = Uses{Policy: crypto.OfferPerPayer}
	// Unlimited: any number of payments, by anyone.
	Unlimited = Uses{Policy: crypto.OfferUnlimited}
)

// UpTo is the policy of n payments in all, by anyone; UpTo(1) is Once.
func UpTo(n uint32) Uses {
	if n == 1 {
		return Once
	}
	return Uses{Policy: crypto.OfferLimited, Max: n}
}

// String describes the policy: "once", "once per payer", "up to N",
// "unlimited".
func (u Uses) String() string {
	switch u.Policy {
	case crypto.OfferOnce:
		return "once"
	case crypto.OfferPerPayer:
		return "once per payer"
	case crypto.OfferLimited:
		return fmt.Sprintf("up to %d times", u.Max)
	case crypto.OfferUnlimited:
		return "unlimited"
	}
	return u.Policy.String()
}

// Check reports whether u is a policy an offer can have (crypto
// CheckUses); errors match ErrBadOffer.
func (u Uses) Check() error {
	f := crypto.OfferFields{Uses: u.Policy, MaxUses: u.Max}
	if err := f.CheckUses(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadOffer, err)
	}
	return nil
}

// Total is the most payments the offer takes in all: 1 for a once-only
// offer, Max for a limited one, and 0 (no bound) for the others.
func (u Uses) Total() uint64 {
	switch u.Policy {
	case crypto.OfferOnce:
		return 1
	case crypto.OfferLimited:
		return uint64(u.Max)
	}
	return 0
}

// paidOnce reports whether a payer pays the offer once (then its payment
// has the offer's key, OfferKey).
func (u Uses) paidOnce() bool {
	return u.Policy == crypto.OfferOnce || u.Policy == crypto.OfferPerPayer
}

// Offer is a payee's signed price for an item, payable before Expiry as
// its use policy (Uses) says.
type Offer struct {
	ChainID     uint64
	Adjudicator crypto.Address
	ID          crypto.Hash
	Payee       crypto.Address
	ItemID      string
	Asset       crypto.Address
	Price       uint256.Int
	Expiry      uint64 // unix seconds
	Uses        Uses
	Sig         crypto.Signature
}

func (o *Offer) fields() crypto.OfferFields {
	return crypto.OfferFields{Offer: o.ID, Payee: o.Payee, ItemID: o.ItemID, Asset: o.Asset, Price: o.Price, Expiry: o.Expiry,
		Uses: o.Uses.Policy, MaxUses: o.Uses.Max}
}

// payload is what a payment carries of the offer.
func (o *Offer) payload() *node.Offer {
	return &node.Offer{ID: o.ID, ItemID: o.ItemID, Asset: o.Asset, Price: o.Price, Expiry: o.Expiry, Sig: o.Sig,
		Uses: o.Uses.Policy, MaxUses: o.Uses.Max}
}

// Verify checks the offer's signature (over its use policy too) and that
// it is for this chain and contract. It does not check the expiry.
func (o *Offer) Verify(chainID uint64, adjudicator crypto.Address) error {
	if o.ChainID != chainID || o.Adjudicator != adjudicator {
		return fmt.Errorf("%w: for chain %d and adjudicator %s", ErrBadOffer, o.ChainID, o.Adjudicator)
	}
	if err := o.Uses.Check(); err != nil {
		return err
	}
	f := o.fields()
	if err := crypto.Verify(crypto.NewDomain(o.ChainID, o.Adjudicator).OfferDigest(&f), o.Sig, o.Payee); err != nil {
		return fmt.Errorf("%w: %w", ErrBadOffer, err)
	}
	return nil
}

// OfferKey is the idempotency key of a payment of a once-only or per-payer
// offer: this node pays such an offer once.
func OfferKey(id crypto.Hash) string { return "offer:" + id.Hex() }

// CreateOffer signs an offer for item at price in asset, payable until ttl
// from now as uses says.
func (a *Apps) CreateOffer(item string, asset crypto.Address, price uint256.Int, ttl time.Duration, uses Uses) (Offer, error) {
	if uses.Policy == crypto.OfferLimited && uses.Max == 1 {
		uses = Once // one use is a once-only offer, signed as one
	}
	if err := uses.Check(); err != nil {
		return Offer{}, fmt.Errorf("%w: %w", node.ErrInvalidArgument, err)
	}
	info := a.n.Info()
	known := false
	for _, as := range info.Assets {
		known = known || as.Address == asset
	}
	switch {
	case !known:
		return Offer{}, fmt.Errorf("%w: %s", node.ErrUnknownAsset, asset)
	case price.IsZero():
		return Offer{}, fmt.Errorf("%w: %w", node.ErrInvalidArgument, channel.ErrZeroAmount)
	case item == "" || len(item) > node.MaxItemIDLen || !utf8.ValidString(item):
		return Offer{}, invalid("an offer needs an item id of 1 to %d bytes", node.MaxItemIDLen)
	case ttl <= 0 || ttl > 366*24*time.Hour:
		return Offer{}, invalid("offer lifetime %s out of range", ttl)
	}
	o := Offer{
		ChainID: info.ChainID, Adjudicator: info.Adjudicator, ID: randomID(), Payee: info.Address,
		ItemID: item, Asset: asset, Price: price, Expiry: uint64(a.clock.Now().Add(ttl).Unix()), Uses: uses,
	}
	f := o.fields()
	sig, err := a.key.Sign(crypto.NewDomain(o.ChainID, o.Adjudicator).OfferDigest(&f))
	if err != nil {
		return Offer{}, err
	}
	o.Sig = sig
	return o, nil
}

// applyOffer fills a payment request from the offer it pays, after checking
// the offer: signed by its payee for this chain, not expired, and, if this
// node pays it once (once-only and per-payer offers), not paid by this node
// before (then it fails with an *OfferPaidError). A limited or unlimited
// offer may be bought again: each purchase needs its own key.
func (a *Apps) applyOffer(ctx context.Context, r *PayRequest) error {
	o := r.Offer
	info := a.n.Info()
	if err := o.Verify(info.ChainID, info.Adjudicator); err != nil {
		return fmt.Errorf("%w: %w", node.ErrInvalidArgument, err)
	}
	if now := uint64(a.clock.Now().Unix()); now > o.Expiry {
		return fmt.Errorf("%w: expired %ds ago", ErrOfferExpired, now-o.Expiry)
	}
	switch {
	case !r.Amount.IsZero() && !r.Amount.Eq(&o.Price):
		return invalid("the offer's price is %s, not %s", a.units(o.Asset, &o.Price), a.units(o.Asset, &r.Amount))
	case r.ItemID != "" && r.ItemID != o.ItemID:
		return invalid("the offer is for item %q, not %q", o.ItemID, r.ItemID)
	case !r.Peer.IsZero() && r.Peer != o.Payee:
		return invalid("the offer is from %s, not %s", o.Payee, r.Peer)
	case o.Uses.paidOnce() && r.Key != "" && r.Key != OfferKey(o.ID):
		return invalid("an offer paid %s has the key %s", o.Uses, OfferKey(o.ID))
	case !o.Uses.paidOnce() && r.Key == "":
		return invalid("an offer payable %s may be bought more than once: give each purchase its own idempotency key", o.Uses)
	}
	r.Amount, r.ItemID, r.Peer, r.Receipt = o.Price, o.ItemID, o.Payee, true
	if r.Channel == (channel.ID{}) {
		r.Asset, r.AnyAsset = o.Asset, false
	}
	if !o.Uses.paidOnce() {
		return nil // the key tells purchases apart; node.Pay makes retries safe
	}
	r.Key = OfferKey(o.ID)
	first, found, err := a.n.PaymentByKey(ctx, r.Key)
	if err != nil {
		return err
	}
	if found && first.Complete {
		return &OfferPaidError{Offer: o.ID, Payment: first}
	}
	return nil // not paid, or on its way: node.Pay waits for the first attempt
}

// offerBook is the owner of the counts of the incoming offers being paid:
// for each offer with payments accepted in proofs not yet durable (or being
// checked), its payments on disk and in flight, and the payers of a
// per-payer offer in flight. Its lock guards memory only: the store is read
// without it. An offer's entry goes when nothing of it is in flight, so
// the book holds at most one entry per offer payment in flight.
type offerBook struct {
	mu     sync.Mutex
	offers map[crypto.Hash]*offerCount
}

// offerCount is what the book knows of one offer.
type offerCount struct {
	loaded  chan struct{} // closed once paid is read from the store
	loadErr error
	// paid: the offer's payments on disk, read from the store when the
	// entry was made (nothing of the offer was in flight then, so the read
	// holds every payment), then counted as they become durable.
	paid     uint64
	reserved uint64                  // payments accepted, not yet durable
	payers   map[crypto.Address]bool // per-payer offers: payers in flight
	refs     int                     // reservations and checks holding the entry
}

// offerUse is one payment of an offer that the book counts until it is
// durable or refused.
type offerUse struct {
	id       crypto.Hash
	payer    crypto.Address
	perPayer bool
}

// checkOffers is the payee's check of the offers an incoming proof's parts
// pay: each must be this node's own, for this chain, unexpired, paid at its
// price for its item in the channel's asset, and within its use policy
// (once, once per payer, up to N, or unlimited), counting the payments
// being accepted. It runs on the peer's reader (it may read the store) and
// reserves the uses it accepts until release says whether the proof is
// durable (they count as paid) or refused (they never happened).
func (a *Apps) checkOffers(ch node.ChannelInfo, parts []node.Part) ([]error, func(bool)) {
	refuse := make([]error, len(parts))
	var reserved []offerUse
	info := a.n.Info()
	now := a.clock.Now()
	for i := range parts {
		p := &parts[i]
		if p.Offer == nil {
			continue
		}
		o := Offer{ChainID: info.ChainID, Adjudicator: info.Adjudicator, Payee: info.Address,
			ID: p.Offer.ID, ItemID: p.Offer.ItemID, Asset: p.Offer.Asset, Price: p.Offer.Price, Expiry: p.Offer.Expiry,
			Uses: Uses{Policy: p.Offer.Uses, Max: p.Offer.MaxUses}, Sig: p.Offer.Sig}
		var err error
		switch {
		case o.Verify(info.ChainID, info.Adjudicator) != nil:
			err = fmt.Errorf("%w: the offer is not this node's, or was altered", ErrBadOffer)
		case now.After(time.Unix(int64(min(o.Expiry, 1<<62)), 0).Add(offerGrace)):
			err = fmt.Errorf("%w: offer %s", ErrOfferExpired, o.ID)
		case !p.Amount.Eq(&o.Price):
			err = fmt.Errorf("%w: it pays %s, the offer's price is %s", ErrOfferAltered, a.units(o.Asset, &p.Amount), a.units(o.Asset, &o.Price))
		case p.ItemID != o.ItemID:
			err = fmt.Errorf("%w: it is for item %q, the offer for %q", ErrOfferAltered, p.ItemID, o.ItemID)
		case o.Asset != ch.Asset.Address:
			err = fmt.Errorf("%w: the offer is in %s, the channel in %s", ErrOfferAltered, o.Asset, ch.Asset.Address)
		}
		var use offerUse
		if err == nil {
			use, err = a.offers.reserve(o.ID, o.Uses, ch.Peer, a.store)
		}
		if err != nil {
			refuse[i] = err
			continue
		}
		reserved = append(reserved, use)
	}
	return refuse, func(stored bool) { a.offers.release(reserved, stored) }
}

// reserve counts a payment of offer id by payer as being accepted, unless
// the offer's policy refuses it, counting what is on disk and in flight:
// a once-only offer paid (ErrOfferPaid), a per-payer offer paid by payer
// (ErrOfferPaid), a limited offer whose uses are all taken
// (ErrOfferSoldOut).
func (b *offerBook) reserve(id crypto.Hash, uses Uses, payer crypto.Address, st Store) (offerUse, error) {
	b.mu.Lock()
	c := b.offers[id]
	load := c == nil
	if load {
		c = &offerCount{loaded: make(chan struct{}), payers: map[crypto.Address]bool{}}
		b.offers[id] = c
	}
	c.refs++
	b.mu.Unlock()
	if load {
		n, err := st.OfferUses(id)
		b.mu.Lock()
		c.paid, c.loadErr = n, err
		b.mu.Unlock()
		close(c.loaded)
	}
	<-c.loaded
	use := offerUse{id: id, payer: payer, perPayer: uses.Policy == crypto.OfferPerPayer}
	if use.perPayer {
		// The payer is marked before the store is read: a payment of
		// theirs that was in flight is either still marked (in memory) or,
		// once its release ran, on disk.
		b.mu.Lock()
		taken := c.payers[payer]
		if !taken {
			c.payers[payer] = true
		}
		b.mu.Unlock()
		if taken {
			b.drop(id, c, offerUse{})
			return offerUse{}, fmt.Errorf("%w by this payer: offer %s is being paid by %s", ErrOfferPaid, id, payer)
		}
		_, err := st.OfferPaidBy(id, payer)
		if err == nil {
			b.drop(id, c, use)
			return offerUse{}, fmt.Errorf("%w by this payer: offer %s, by %s", ErrOfferPaid, id, payer)
		}
		if !errors.Is(err, store.ErrNotFound) {
			b.drop(id, c, use)
			return offerUse{}, err
		}
	}
	b.mu.Lock()
	var err error
	switch total := uses.Total(); {
	case c.loadErr != nil:
		err = c.loadErr
	case total == 1 && c.paid+c.reserved >= 1:
		err = fmt.Errorf("%w: offer %s", ErrOfferPaid, id)
	case total > 0 && c.paid+c.reserved >= total:
		err = fmt.Errorf("%w: offer %s takes %d payments, %d are paid and %d being paid", ErrOfferSoldOut, id, total, c.paid, c.reserved)
	default:
		c.reserved++
	}
	b.mu.Unlock()
	if err != nil {
		b.drop(id, c, use)
		return offerUse{}, err
	}
	return use, nil
}

// drop lets go of a hold on c that reserved nothing (use, if per-payer,
// unmarks its payer).
func (b *offerBook) drop(id crypto.Hash, c *offerCount, use offerUse) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if use.perPayer {
		delete(c.payers, use.payer)
	}
	c.refs--
	if c.refs == 0 && b.offers[id] == c {
		delete(b.offers, id)
	}
}

// release ends the reservations of a proof: stored, they are paid (and on
// disk: release runs once the write is durable); otherwise they never were.
func (b *offerBook) release(uses []offerUse, stored bool) {
	if len(uses) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, u := range uses {
		c := b.offers[u.id]
		c.reserved--
		if stored {
			c.paid++
		}
		if u.perPayer {
			delete(c.payers, u.payer)
		}
		c.refs--
		if c.refs == 0 {
			delete(b.offers, u.id)
		}
	}
}

// OfferUsage is what the payee knows of one of its offers' payments.
type OfferUsage struct {
	Offer Offer
	// Paid is the number of payments of the offer this node accepted and
	// stored (refused and refunded ones do not count).
	Paid uint64
	// Remaining is what is left of the offer's uses, if it has a total
	// bound (once-only and limited offers): HasRemaining says so.
	Remaining    uint64
	HasRemaining bool
	Expired      bool
}

// OfferUses tells how often this node, the offer's payee, has been paid for
// o, and how many more payments o takes. o must be this node's own offer
// (ErrBadOffer otherwise).
func (a *Apps) OfferUses(o Offer) (OfferUsage, error) {
	info := a.n.Info()
	if o.Payee != info.Address {
		return OfferUsage{}, fmt.Errorf("%w: %w: the offer is %s's, not this node's", node.ErrInvalidArgument, ErrBadOffer, o.Payee)
	}
	if err := o.Verify(info.ChainID, info.Adjudicator); err != nil {
		return OfferUsage{}, fmt.Errorf("%w: %w", node.ErrInvalidArgument, err)
	}
	n, err := a.store.OfferUses(o.ID)
	if err != nil {
		return OfferUsage{}, err
	}
	u := OfferUsage{Offer: o, Paid: n, Expired: uint64(a.clock.Now().Unix()) > o.Expiry}
	if total := o.Uses.Total(); total > 0 {
		u.HasRemaining, u.Remaining = true, total-min(n, total)
	}
	return u, nil
}
