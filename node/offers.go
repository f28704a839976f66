package node

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
	"github.com/tinypay/tinypay/store"
)

// OfferPaidError refuses a second payment of an offer this node paid; it
// carries the first payment. It matches ErrOfferPaid.
type OfferPaidError struct {
	Offer   crypto.Hash
	Payment PaymentInfo
}

func (e *OfferPaidError) Error() string {
	return fmt.Sprintf("offer already paid: offer %s by payment %x", e.Offer, e.Payment.ID)
}

// Is makes errors.Is(err, ErrOfferPaid) true.
func (e *OfferPaidError) Is(target error) bool { return target == ErrOfferPaid }

// Errors about offers.
var (
	ErrOfferPaid    = errors.New("offer already paid")
	ErrOfferExpired = errors.New("offer expired")
	ErrBadOffer     = errors.New("invalid offer")
)

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

// offerKey is the idempotency key of an offer's payment: an offer is paid
// once.
func offerKey(id crypto.Hash) string { return "offer:" + id.Hex() }

// CreateOffer signs an offer for item at price in asset, payable until ttl
// from now.
func (n *Node) CreateOffer(item string, asset crypto.Address, price uint256.Int, ttl time.Duration) (Offer, error) {
	if _, ok := n.asset(asset); !ok {
		return Offer{}, wrapf(ErrUnknownAsset, "%s", asset)
	}
	switch {
	case price.IsZero():
		return Offer{}, fmt.Errorf("%w: %w", ErrInvalidArgument, channel.ErrZeroAmount)
	case item == "" || len(item) > MaxItemIDLen || !utf8.ValidString(item):
		return Offer{}, invalid("an offer needs an item id of 1 to %d bytes", MaxItemIDLen)
	case ttl <= 0 || ttl > 366*24*time.Hour:
		return Offer{}, invalid("offer lifetime %s out of range", ttl)
	}
	o := Offer{
		ChainID: n.chain.ChainID(), Adjudicator: n.chain.Adjudicator(), ID: randomID(), Payee: n.self,
		ItemID: item, Asset: asset, Price: price, Expiry: uint64(n.clock.Now().Add(ttl).Unix()),
	}
	f := o.fields()
	sig, err := n.key.Sign(crypto.NewDomain(o.ChainID, o.Adjudicator).OfferDigest(&f))
	if err != nil {
		return Offer{}, err
	}
	o.Sig = sig
	return o, nil
}

// applyOffer fills a payment request from the offer it pays, after checking
// the offer: signed by its payee for this chain, not expired, and not paid
// by this node before.
func (n *Node) applyOffer(r *PayRequest) error {
	o := r.Offer
	if err := o.Verify(n.chain.ChainID(), n.chain.Adjudicator()); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	if now := uint64(n.clock.Now().Unix()); now > o.Expiry {
		return fmt.Errorf("%w: expired %ds ago", ErrOfferExpired, now-o.Expiry)
	}
	switch {
	case !r.Amount.IsZero() && !r.Amount.Eq(&o.Price):
		return invalid("the offer's price is %s, not %s", o.Price.Dec(), r.Amount.Dec())
	case r.ItemID != "" && r.ItemID != o.ItemID:
		return invalid("the offer is for item %q, not %q", o.ItemID, r.ItemID)
	case !r.Peer.IsZero() && r.Peer != o.Payee:
		return invalid("the offer is from %s, not %s", o.Payee, r.Peer)
	case r.Key != "" && r.Key != offerKey(o.ID):
		return invalid("an offer's payment has the key %s", offerKey(o.ID))
	}
	r.Amount, r.ItemID, r.Peer, r.Key, r.Receipt = o.Price, o.ItemID, o.Payee, offerKey(o.ID), true
	if r.Channel == (channel.ID{}) {
		r.Asset, r.AnyAsset = o.Asset, false
	}
	if e, err := n.store.PaymentByIdempotencyKey(r.Key); err == nil {
		first, err := paymentInfo(e)
		if err != nil {
			return err
		}
		n.completeFlag(&first)
		n.attachReceipt(&first, e)
		return &OfferPaidError{Offer: o.ID, Payment: first}
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

func offerMessage(o *Offer) *peerv1.Offer {
	return &peerv1.Offer{OfferId: o.ID[:], ItemId: o.ItemID, Asset: o.Asset[:], Price: amountBytes(&o.Price), Expiry: o.Expiry, Signature: o.Sig[:]}
}

// checkIncomingOffers checks the offers an incoming proof's parts pay: each
// is this node's own, unexpired, paid at its price for its item in the
// channel's asset, and paid once. It returns the offers to reserve.
func (c *chanState) checkIncomingOffers(parts []part) ([]crypto.Hash, error) {
	var ids []crypto.Hash
	seen := map[crypto.Hash]bool{}
	asset := c.ch.Params().Asset
	for i := range parts {
		p := &parts[i]
		if p.offer == nil {
			continue
		}
		o := p.offer
		o.ChainID, o.Adjudicator, o.Payee = c.n.chain.ChainID(), c.n.chain.Adjudicator(), c.n.self
		if err := o.Verify(o.ChainID, o.Adjudicator); err != nil {
			return nil, fmt.Errorf("%w: part %d: %w", errMalformed, i, err)
		}
		now := c.n.clock.Now()
		switch {
		case now.After(time.Unix(int64(o.Expiry), 0).Add(offerGrace)):
			return nil, fmt.Errorf("%w: part %d: offer %s", ErrOfferExpired, i, o.ID)
		case !p.amount.Eq(&o.Price):
			return nil, fmt.Errorf("%w: part %d pays %s, the offer's price is %s", errMalformed, i, p.amount.Dec(), o.Price.Dec())
		case p.itemID != o.ItemID:
			return nil, fmt.Errorf("%w: part %d is for item %q, the offer for %q", errMalformed, i, p.itemID, o.ItemID)
		case o.Asset != asset:
			return nil, fmt.Errorf("%w: part %d: the offer is in %s, the channel in %s", errMalformed, i, o.Asset, asset)
		case seen[o.ID]:
			return nil, wrapf(ErrOfferPaid, "offer %s twice in one proof", o.ID)
		}
		seen[o.ID] = true
		ids = append(ids, o.ID)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	n := c.n
	n.offerMu.Lock()
	defer n.offerMu.Unlock()
	for _, id := range ids {
		if n.offersInFlight[id] {
			return nil, wrapf(ErrOfferPaid, "offer %s", id)
		}
		if _, err := n.store.PaymentByOffer(id); err == nil {
			return nil, wrapf(ErrOfferPaid, "offer %s", id)
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	for _, id := range ids {
		n.offersInFlight[id] = true
	}
	return ids, nil
}

func (n *Node) releaseOffers(ids []crypto.Hash) {
	if len(ids) == 0 {
		return
	}
	n.offerMu.Lock()
	for _, id := range ids {
		delete(n.offersInFlight, id)
	}
	n.offerMu.Unlock()
}

// receiptFields are what this node signs (as payee) or checks (as payer)
// for a payment.
func receiptFields(c *chanState, paymentID [32]byte, payer, payee crypto.Address, amount, cum *uint256.Int, item string, offer crypto.Hash, t uint64) crypto.ReceiptFields {
	return crypto.ReceiptFields{Channel: c.id, Payment: paymentID, Payer: payer, Payee: payee, Asset: c.ch.Params().Asset,
		Amount: *amount, Cumulative: *cum, ItemID: item, Offer: offer, Time: t}
}

// ReceiptInfo is a payee's signature over a payment.
type ReceiptInfo struct {
	Time uint64 // unix seconds
	Sig  crypto.Signature
}

// onReceipts checks and keeps the receipts an Ack carries (c.mu held): each
// must be the peer's signature over one of this node's payments.
func (c *chanState) onReceipts(rs []*peerv1.Receipt) {
	if len(rs) == 0 {
		return
	}
	byID := map[[32]byte]*payment{}
	for _, f := range c.flight {
		for _, p := range f.payments {
			if p.wantReceipt {
				byID[p.id] = p
			}
		}
	}
	b := store.NewBatch()
	for _, r := range rs {
		id, err := parseHash("payment id", r.GetPaymentId())
		if err != nil {
			continue
		}
		sig, err := parseSig("signature", r.GetSignature())
		if err != nil {
			continue
		}
		p := byID[id]
		if p == nil {
			continue // a payment from before a restart: its receipt can be asked for again
		}
		f := receiptFields(c, p.id, c.n.self, c.peer, &p.amount, &p.cumulative, p.itemID, p.offer, r.GetTime())
		if err := crypto.Verify(c.dom().ReceiptDigest(&f), sig, c.peer); err != nil {
			c.n.log.Warn("peer sent a bad receipt", "channel", c.id, "payment", id, "err", err)
			continue
		}
		p.receipt = &ReceiptInfo{Time: r.GetTime(), Sig: sig}
		if err := b.PutReceipt(&storev1.Receipt{PaymentId: id[:], Time: r.GetTime(), Signature: sig[:]}); err != nil {
			c.n.log.Error("store receipt", "err", err)
		}
	}
	if b.Len() > 0 {
		c.n.commitAsync(b, func(store.Result, error) {})
	}
}

func (c *chanState) dom() crypto.Domain { return c.ch.Domain() }
