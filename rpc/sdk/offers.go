package sdk

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/apiutil"
)

// Uses is an offer's use policy: how many payments its payee takes for it
// before it expires. The zero value is Once.
type Uses struct {
	Policy apiv1.OfferUses
	// Max is the number of payments with OFFER_USES_LIMITED (see UpTo).
	Max uint32
}

// The use policies of offers.
var (
	// Once: one payment in all (the default).
	Once = Uses{}
	// OncePerPayer: one payment per payer (per paying node), by any number
	// of payers.
	OncePerPayer = Uses{Policy: apiv1.OfferUses_OFFER_USES_PER_PAYER}
	// Unlimited: any number of payments, by anyone.
	Unlimited = Uses{Policy: apiv1.OfferUses_OFFER_USES_UNLIMITED}
)

// UpTo is the policy of n payments in all, by anyone (1 to 1,000,000; 1 is
// Once).
func UpTo(n uint32) Uses { return Uses{Policy: apiv1.OfferUses_OFFER_USES_LIMITED, Max: n} }

// CreateOffer signs an offer: price for item, payable by anyone who holds
// it until ttl from now (0: the node's default, ten minutes; it is rounded
// up to whole seconds), once in all, or as the use policy given says
// (OncePerPayer, UpTo(n), Unlimited; at most one). Hand it out with
// EncodeOffer. It needs the admin token.
func (c *Client) CreateOffer(ctx context.Context, item string, price Amount, ttl time.Duration, uses ...Uses) (*apiv1.Offer, error) {
	if price.Value == nil {
		return nil, fmt.Errorf("tinypay: %w: the offer has no price", ErrInvalidArgument)
	}
	if ttl < 0 {
		return nil, fmt.Errorf("tinypay: %w: negative offer lifetime %s", ErrInvalidArgument, ttl)
	}
	if len(uses) > 1 {
		return nil, fmt.Errorf("tinypay: %w: %d use policies, an offer has one", ErrInvalidArgument, len(uses))
	}
	var u Uses
	if len(uses) == 1 {
		u = uses[0]
	}
	secs := uint64((ttl + time.Second - 1) / time.Second)
	return call(ctx, c, "create offer", c.api.CreateOffer, &apiv1.CreateOfferRequest{
		ItemId: item, Asset: price.Asset.ref(), Price: price.Value.Dec(), TtlSeconds: secs, Uses: u.Policy, MaxUses: u.Max,
	})
}

// OfferUsage is what a payee knows of one of its offers' payments.
type OfferUsage struct {
	// Paid is the number of payments of the offer the payee accepted and
	// stored (refused and refunded ones do not count).
	Paid uint64
	// Remaining is what is left of the uses of a once-only or limited
	// offer; Bounded is false for per-payer and unlimited offers, which
	// have no total bound (Remaining is then 0).
	Remaining uint64
	Bounded   bool
	// Expired: the offer takes no payment any more.
	Expired bool
}

// OfferUses asks the node, the offer's payee, how often it has been paid
// for o and how many payments it still takes. It needs the admin token;
// an offer of another node's is ErrInvalidArgument.
func (c *Client) OfferUses(ctx context.Context, o *apiv1.Offer) (OfferUsage, error) {
	if o == nil {
		return OfferUsage{}, fmt.Errorf("tinypay: %w: no offer", ErrInvalidArgument)
	}
	m, err := call(ctx, c, "offer uses", c.api.GetOfferUses, &apiv1.GetOfferUsesRequest{Offer: o})
	if err != nil {
		return OfferUsage{}, err
	}
	return OfferUsage{Paid: m.GetPaid(), Remaining: m.GetRemaining(), Bounded: m.Remaining != nil, Expired: m.GetExpired()}, nil
}

// Prefixes of the encoded forms (see apiutil): what follows is the
// base64url (no padding) of the protobuf message.
const (
	OfferPrefix   = apiutil.OfferPrefix
	ReceiptPrefix = apiutil.ReceiptPrefix
)

// EncodeOffer writes an offer as compact text that is safe in URLs, HTTP
// headers and QR codes: OfferPrefix and the base64url of the protobuf.
func EncodeOffer(o *apiv1.Offer) string { return apiutil.EncodeOffer(o) }

// EncodeReceipt writes a receipt as compact text, as EncodeOffer does
// (with ReceiptPrefix), so a payer can present it in a header.
func EncodeReceipt(r *apiv1.Receipt) string { return apiutil.EncodeReceipt(r) }

// DecodeOffer reads an offer written by EncodeOffer, or the bare base64url
// without the prefix, and checks that every field is well formed (not the
// signature: see VerifyOffer; the node checks it too when paying). Errors
// match ErrMalformed.
func DecodeOffer(s string) (*apiv1.Offer, error) {
	o, err := apiutil.DecodeOffer(s)
	if err != nil {
		return nil, fmt.Errorf("tinypay: %w: %v", ErrMalformed, err)
	}
	if err := checkOffer(o); err != nil {
		return nil, fmt.Errorf("tinypay: %w: offer: %v", ErrMalformed, err)
	}
	return o, nil
}

// DecodeReceipt reads a receipt written by EncodeReceipt, or the bare
// base64url without the prefix, and checks that every field is well formed
// (not the signature: see VerifyReceipt). Errors match ErrMalformed.
func DecodeReceipt(s string) (*apiv1.Receipt, error) {
	r, err := apiutil.DecodeReceipt(s)
	if err != nil {
		return nil, fmt.Errorf("tinypay: %w: %v", ErrMalformed, err)
	}
	if err := checkReceipt(r); err != nil {
		return nil, fmt.Errorf("tinypay: %w: receipt: %v", ErrMalformed, err)
	}
	return r, nil
}

// checkOffer checks an offer's fields are well formed.
func checkOffer(o *apiv1.Offer) error {
	if _, err := apiutil.ParseOffer(o); err != nil {
		return err
	}
	switch {
	case o.GetChainId() == 0:
		return fmt.Errorf("no chain id")
	case o.GetItemId() == "":
		return fmt.Errorf("no item id")
	case o.GetExpiry() == 0:
		return fmt.Errorf("no expiry")
	}
	return nil
}

// checkReceipt checks a receipt's fields are well formed.
func checkReceipt(r *apiv1.Receipt) error {
	if r.GetChainId() == 0 {
		return fmt.Errorf("no chain id")
	}
	for _, f := range []struct{ name, v string }{{"adjudicator", r.GetAdjudicator()}, {"payer", r.GetPayer()}, {"payee", r.GetPayee()}} {
		if _, err := crypto.ParseAddress(f.v); err != nil {
			return fmt.Errorf("%s: %v", f.name, err)
		}
	}
	for _, f := range []struct{ name, v string }{{"channel id", r.GetChannelId()}, {"payment id", r.GetPaymentId()}, {"offer id", r.GetOfferId()}} {
		if _, err := crypto.ParseHash(f.v); err != nil && (f.v != "" || f.name != "offer id") {
			return fmt.Errorf("%s: %v", f.name, err)
		}
	}
	for _, f := range []struct{ name, v string }{{"amount", r.GetAmount()}, {"cumulative", r.GetCumulative()}} {
		if _, err := channel.ParseUnits(f.v, 0); err != nil { // base units
			return fmt.Errorf("%s: %v", f.name, err)
		}
	}
	sig, err := hex.DecodeString(strings.TrimPrefix(r.GetSignature(), "0x"))
	if err != nil {
		return fmt.Errorf("signature: %v", err)
	}
	if _, err := crypto.SignatureFromBytes(sig); err != nil {
		return fmt.Errorf("signature: %v", err)
	}
	return nil
}

// VerifyOffer checks offline that an offer is signed by its payee for its
// chain and adjudicator (not that it is unexpired: compare Expiry with the
// time yourself). Errors match ErrMalformed or ErrInvalidOffer.
func VerifyOffer(o *apiv1.Offer) error {
	if err := checkOffer(o); err != nil {
		return fmt.Errorf("tinypay: %w: offer: %v", ErrMalformed, err)
	}
	if err := apiutil.VerifyOffer(o); err != nil {
		return fmt.Errorf("tinypay: %w: %w", ErrInvalidOffer, err)
	}
	return nil
}

// Expect is what a receipt must say for VerifyReceipt, beyond a valid
// signature. Zero fields are not checked.
type Expect struct {
	// Payee and Payer are 0x addresses.
	Payee string
	Payer string
	// Amount is the exact amount paid, in base units.
	Amount *uint256.Int
	// ItemID is the item paid for.
	ItemID string
	// Channel is the channel id.
	Channel string
	// ChainID and Adjudicator are the chain and contract of the payment.
	ChainID     uint64
	Adjudicator string
	// Offer: the receipt is for a payment of this offer: its id, payee,
	// item, price, chain and adjudicator.
	Offer *apiv1.Offer
}

// VerifyReceipt checks a receipt offline: the payee's signature covers
// exactly its fields in its chain's domain (errors match
// ErrInvalidReceipt), and the fields are those expected (errors match
// ErrReceiptMismatch). A receipt proves a payment; a seller that grants
// access on one should also remember its PaymentId, so that one receipt
// buys once.
func VerifyReceipt(r *apiv1.Receipt, want Expect) error {
	if r == nil {
		return fmt.Errorf("tinypay: %w: no receipt", ErrInvalidReceipt)
	}
	if err := apiutil.VerifyReceipt(r); err != nil {
		return fmt.Errorf("tinypay: %w: %w", ErrInvalidReceipt, err)
	}
	if o := want.Offer; o != nil {
		price, err := uint256.FromDecimal(o.GetPrice())
		if err != nil {
			return fmt.Errorf("tinypay: %w: the expected offer's price %q: %v", ErrInvalidArgument, o.GetPrice(), err)
		}
		checks := []check{
			hashes("offer id", r.GetOfferId(), o.GetOfferId()), addresses("payee", r.GetPayee(), o.GetPayee()),
			equal("item", r.GetItemId(), o.GetItemId()), amounts("amount", r.GetAmount(), price),
			equal("chain id", r.GetChainId(), o.GetChainId()), addresses("adjudicator", r.GetAdjudicator(), o.GetAdjudicator()),
		}
		if err := firstMismatch(checks); err != nil {
			return err
		}
	}
	var checks []check
	if want.Payee != "" {
		checks = append(checks, addresses("payee", r.GetPayee(), want.Payee))
	}
	if want.Payer != "" {
		checks = append(checks, addresses("payer", r.GetPayer(), want.Payer))
	}
	if want.Amount != nil {
		checks = append(checks, amounts("amount", r.GetAmount(), want.Amount))
	}
	if want.ItemID != "" {
		checks = append(checks, equal("item", r.GetItemId(), want.ItemID))
	}
	if want.Channel != "" {
		checks = append(checks, hashes("channel id", r.GetChannelId(), want.Channel))
	}
	if want.ChainID != 0 {
		checks = append(checks, equal("chain id", r.GetChainId(), want.ChainID))
	}
	if want.Adjudicator != "" {
		checks = append(checks, addresses("adjudicator", r.GetAdjudicator(), want.Adjudicator))
	}
	return firstMismatch(checks)
}

// check compares one field of a receipt: it returns nil when the field is
// as expected.
type check func() error

func firstMismatch(cs []check) error {
	for _, c := range cs {
		if err := c(); err != nil {
			return err
		}
	}
	return nil
}

func mismatch(field string, got, want any) error {
	return fmt.Errorf("tinypay: %w: %s is %v, want %v", ErrReceiptMismatch, field, got, want)
}

func equal[T comparable](field string, got, want T) check {
	return func() error {
		if got != want {
			return mismatch(field, got, want)
		}
		return nil
	}
}

func addresses(field, got, want string) check {
	return func() error {
		w, err := crypto.ParseAddress(want)
		if err != nil {
			return fmt.Errorf("tinypay: %w: expected %s: %v", ErrInvalidArgument, field, err)
		}
		if g, err := crypto.ParseAddress(got); err != nil || g != w {
			return mismatch(field, got, w.Hex())
		}
		return nil
	}
}

func hashes(field, got, want string) check {
	return func() error {
		w, err := crypto.ParseHash(want)
		if err != nil {
			return fmt.Errorf("tinypay: %w: expected %s: %v", ErrInvalidArgument, field, err)
		}
		if g, err := crypto.ParseHash(got); err != nil || g != w {
			return mismatch(field, got, w.Hex())
		}
		return nil
	}
}

func amounts(field, got string, want *uint256.Int) check {
	return func() error {
		if g, err := uint256.FromDecimal(got); err != nil || !g.Eq(want) {
			return mismatch(field, got, want.Dec())
		}
		return nil
	}
}
