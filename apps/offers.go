package apps

import (
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
	ErrOfferPaid    error = &refusal{"offer already paid", 6} // ALREADY_EXISTS
	ErrOfferExpired error = &refusal{"offer expired", 9}      // FAILED_PRECONDITION
	ErrBadOffer     error = &refusal{"invalid offer", 3}      // INVALID_ARGUMENT
	ErrOfferAltered error = &refusal{"payment does not match the offer", 3}
)

// OfferPaidError refuses a second payment of an offer this node paid; it
// carries the first payment. It matches ErrOfferPaid.
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

// Offer is a payee's signed price for an item, payable once before Expiry.
type Offer struct {
	ChainID     uint64
	Adjudicator crypto.Address
	ID          crypto.Hash
	Payee       crypto.Address
	ItemID      string
	Asset       crypto.Address
	Price       uint256.Int
	Expiry      uint64 // unix seconds
	Sig         crypto.Signature
}

func (o *Offer) fields() crypto.OfferFields {
	return crypto.OfferFields{Offer: o.ID, Payee: o.Payee, ItemID: o.ItemID, Asset: o.Asset, Price: o.Price, Expiry: o.Expiry}
}

// payload is what a payment carries of the offer.
func (o *Offer) payload() *node.Offer {
	return &node.Offer{ID: o.ID, ItemID: o.ItemID, Asset: o.Asset, Price: o.Price, Expiry: o.Expiry, Sig: o.Sig}
}

// Verify checks the offer's signature and that it is for this chain and
// contract. It does not check the expiry.
func (o *Offer) Verify(chainID uint64, adjudicator crypto.Address) error {
	if o.ChainID != chainID || o.Adjudicator != adjudicator {
		return fmt.Errorf("%w: for chain %d and adjudicator %s", ErrBadOffer, o.ChainID, o.Adjudicator)
	}
	f := o.fields()
	if err := crypto.Verify(crypto.NewDomain(o.ChainID, o.Adjudicator).OfferDigest(&f), o.Sig, o.Payee); err != nil {
		return fmt.Errorf("%w: %w", ErrBadOffer, err)
	}
	return nil
}

// OfferKey is the idempotency key of an offer's payment: an offer is paid
// once.
func OfferKey(id crypto.Hash) string { return "offer:" + id.Hex() }

// CreateOffer signs an offer for item at price in asset, payable until ttl
// from now.
func (a *Apps) CreateOffer(item string, asset crypto.Address, price uint256.Int, ttl time.Duration) (Offer, error) {
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
		ItemID: item, Asset: asset, Price: price, Expiry: uint64(a.clock.Now().Add(ttl).Unix()),
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
// the offer: signed by its payee for this chain, not expired, and not paid
// by this node before (then it fails with an *OfferPaidError).
func (a *Apps) applyOffer(r *PayRequest) error {
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
	case r.Key != "" && r.Key != OfferKey(o.ID):
		return invalid("an offer's payment has the key %s", OfferKey(o.ID))
	}
	r.Amount, r.ItemID, r.Peer, r.Key, r.Receipt = o.Price, o.ItemID, o.Payee, OfferKey(o.ID), true
	if r.Channel == (channel.ID{}) {
		r.Asset, r.AnyAsset = o.Asset, false
	}
	first, found, err := a.n.PaymentByKey(r.Key)
	if err != nil {
		return err
	}
	if found && first.Complete {
		return &OfferPaidError{Offer: o.ID, Payment: first}
	}
	return nil // not paid, or on its way: node.Pay waits for the first attempt
}

// offerBook is the owner of the incoming offers being paid: accepted in a
// proof, not yet durable. Its lock guards the set only.
type offerBook struct {
	mu       sync.Mutex
	inFlight map[crypto.Hash]bool
}

// checkOffers is the payee's check of the offers an incoming proof's parts
// pay: each must be this node's own, for this chain, unexpired, paid at its
// price for its item in the channel's asset, and paid once. It runs on the
// peer's reader (it may read the store) and reserves the offers it accepts
// until the proof is durable or refused.
func (a *Apps) checkOffers(ch node.ChannelInfo, parts []node.Part) ([]error, func()) {
	refuse := make([]error, len(parts))
	var reserved []crypto.Hash
	info := a.n.Info()
	now := a.clock.Now()
	seen := map[crypto.Hash]bool{}
	for i := range parts {
		p := &parts[i]
		if p.Offer == nil {
			continue
		}
		o := Offer{ChainID: info.ChainID, Adjudicator: info.Adjudicator, Payee: info.Address,
			ID: p.Offer.ID, ItemID: p.Offer.ItemID, Asset: p.Offer.Asset, Price: p.Offer.Price, Expiry: p.Offer.Expiry, Sig: p.Offer.Sig}
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
		case seen[o.ID]:
			err = fmt.Errorf("%w: offer %s twice in one proof", ErrOfferPaid, o.ID)
		}
		if err == nil {
			err = a.offers.reserve(o.ID, a.store)
		}
		if err != nil {
			refuse[i] = err
			continue
		}
		seen[o.ID] = true
		reserved = append(reserved, o.ID)
	}
	return refuse, func() { a.offers.release(reserved) }
}

// reserve claims an offer for a payment being accepted, unless another is
// (in memory) or was (on disk).
func (b *offerBook) reserve(id crypto.Hash, st Store) error {
	b.mu.Lock()
	if b.inFlight[id] {
		b.mu.Unlock()
		return fmt.Errorf("%w: offer %s", ErrOfferPaid, id)
	}
	b.inFlight[id] = true
	b.mu.Unlock()
	_, err := st.PaymentByOffer(id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	b.release([]crypto.Hash{id})
	if err == nil {
		return fmt.Errorf("%w: offer %s", ErrOfferPaid, id)
	}
	return err
}

func (b *offerBook) release(ids []crypto.Hash) {
	if len(ids) == 0 {
		return
	}
	b.mu.Lock()
	for _, id := range ids {
		delete(b.inFlight, id)
	}
	b.mu.Unlock()
}
