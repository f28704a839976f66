// Package apiutil holds what clients of a node's control API need without
// the node itself: bearer-token credentials and token files, and offline
// checks of offers and receipts. It imports neither the node nor its store
// or chain code, so apps (rpc/sdk, rpc/paywall, the CLI) stay small.
//
// Everything here is safe for concurrent use.
package apiutil

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
)

// AppTokenPrefix starts the secret of every app token, ViewTokenPrefix
// that of every view token (read only).
const (
	AppTokenPrefix  = "tpapp_"
	ViewTokenPrefix = "tpview_"
)

// TokenCredentials attaches a bearer token to every call a gRPC client
// makes (a credentials.PerRPCCredentials).
type TokenCredentials string

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (t TokenCredentials) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(t)}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials.
func (TokenCredentials) RequireTransportSecurity() bool { return true }

// LoadToken reads a control-API token from a file only its owner can read:
// a node's admin token (64 hex digits, its api.token), an app token's
// secret ("tpapp_" and 48 hex digits) or a view token's ("tpview_" and 48
// hex digits).
func LoadToken(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("token: %s has mode %v; it must be readable by its owner only (chmod 600)", path, fi.Mode().Perm())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	tok := strings.TrimSpace(string(raw))
	if !ValidToken(tok) {
		return "", fmt.Errorf("token: %s holds neither an admin token (64 hex digits) nor an app or view token secret (%s... or %s...)", path, AppTokenPrefix, ViewTokenPrefix)
	}
	return tok, nil
}

// ValidToken reports whether tok has the shape of an admin token or an app
// or view token secret.
func ValidToken(tok string) bool {
	hexOf := func(s string, n int) bool {
		if len(s) != n {
			return false
		}
		_, err := hex.DecodeString(s)
		return err == nil
	}
	if rest, ok := strings.CutPrefix(tok, AppTokenPrefix); ok {
		return hexOf(rest, 48)
	}
	if rest, ok := strings.CutPrefix(tok, ViewTokenPrefix); ok {
		return hexOf(rest, 48)
	}
	return hexOf(tok, 64)
}

// ErrMalformed is matched by errors for fields that do not parse.
var ErrMalformed = errors.New("malformed")

func parseSig(field, s string) (crypto.Signature, error) {
	raw, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil {
		return crypto.Signature{}, fmt.Errorf("%w: %s: %v", ErrMalformed, field, err)
	}
	sig, err := crypto.SignatureFromBytes(raw)
	if err != nil {
		return sig, fmt.Errorf("%w: %s: %v", ErrMalformed, field, err)
	}
	return sig, nil
}

func parseAddr(field, s string) (crypto.Address, error) {
	a, err := crypto.ParseAddress(s)
	if err != nil {
		return a, fmt.Errorf("%w: %s: %v", ErrMalformed, field, err)
	}
	return a, nil
}

func parseHash(field, s string) (crypto.Hash, error) {
	h, err := crypto.ParseHash(s)
	if err != nil {
		return h, fmt.Errorf("%w: %s: %v", ErrMalformed, field, err)
	}
	return h, nil
}

func parseAmount(field, s string) (uint256.Int, error) {
	v, err := channel.ParseUnits(s, 0) // base units
	if err != nil {
		return uint256.Int{}, fmt.Errorf("%w: %s: %v", ErrMalformed, field, err)
	}
	return *v, nil
}

// Offer is an API offer parsed into what its payee signed.
type Offer struct {
	Domain crypto.Domain
	Fields crypto.OfferFields
	Sig    crypto.Signature
}

// ParseOffer parses every field of an offer (not its signature's meaning);
// a use policy that is not one a payee signs (crypto CheckUses) is
// malformed.
func ParseOffer(m *apiv1.Offer) (Offer, error) {
	var o Offer
	var err error
	adj, err := parseAddr("offer adjudicator", m.GetAdjudicator())
	if err != nil {
		return o, err
	}
	if m.GetChainId() == 0 {
		return o, fmt.Errorf("%w: offer has no chain id", ErrMalformed)
	}
	o.Domain = crypto.NewDomain(m.GetChainId(), adj)
	f := &o.Fields
	if f.Offer, err = parseHash("offer id", m.GetOfferId()); err != nil {
		return o, err
	}
	if f.Payee, err = parseAddr("offer payee", m.GetPayee()); err != nil {
		return o, err
	}
	if f.Asset, err = parseAddr("offer asset", m.GetAsset()); err != nil {
		return o, err
	}
	if f.Price, err = parseAmount("offer price", m.GetPrice()); err != nil {
		return o, err
	}
	f.ItemID, f.Expiry = m.GetItemId(), m.GetExpiry()
	if u := m.GetUses(); u < 0 || u > 255 {
		return o, fmt.Errorf("%w: offer use policy %d", ErrMalformed, u)
	}
	f.Uses, f.MaxUses = crypto.OfferUses(m.GetUses()), m.GetMaxUses()
	if err := f.CheckUses(); err != nil {
		return o, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if o.Sig, err = parseSig("offer signature", m.GetSignature()); err != nil {
		return o, err
	}
	return o, nil
}

// OfferUsesText describes an offer's use policy for people: "once", "once
// per payer", "up to N times" or "unlimited".
func OfferUsesText(m *apiv1.Offer) string {
	switch m.GetUses() {
	case apiv1.OfferUses_OFFER_USES_UNSPECIFIED:
		return "once"
	case apiv1.OfferUses_OFFER_USES_PER_PAYER:
		return "once per payer"
	case apiv1.OfferUses_OFFER_USES_LIMITED:
		return fmt.Sprintf("up to %d times", m.GetMaxUses())
	case apiv1.OfferUses_OFFER_USES_UNLIMITED:
		return "unlimited"
	}
	return fmt.Sprintf("unknown policy %d", m.GetUses())
}

// VerifyOffer checks offline that an offer is signed by its payee for its
// chain and adjudicator. It does not check the expiry.
func VerifyOffer(m *apiv1.Offer) error {
	o, err := ParseOffer(m)
	if err != nil {
		return err
	}
	return crypto.Verify(o.Domain.OfferDigest(&o.Fields), o.Sig, o.Fields.Payee)
}

// Receipt is an API receipt parsed into what its payee signed.
type Receipt struct {
	Domain crypto.Domain
	Fields crypto.ReceiptFields
	Sig    crypto.Signature
}

// ParseReceipt parses every field of a receipt (not its signature's
// meaning). An empty offer id means the payment paid no offer; an empty
// asset means ETH.
func ParseReceipt(r *apiv1.Receipt) (Receipt, error) {
	var out Receipt
	var err error
	adj, err := parseAddr("receipt adjudicator", r.GetAdjudicator())
	if err != nil {
		return out, err
	}
	if r.GetChainId() == 0 {
		return out, fmt.Errorf("%w: receipt has no chain id", ErrMalformed)
	}
	out.Domain = crypto.NewDomain(r.GetChainId(), adj)
	f := &out.Fields
	if f.Channel, err = parseHash("receipt channel id", r.GetChannelId()); err != nil {
		return out, err
	}
	if f.Payment, err = parseHash("receipt payment id", r.GetPaymentId()); err != nil {
		return out, err
	}
	if f.Payer, err = parseAddr("receipt payer", r.GetPayer()); err != nil {
		return out, err
	}
	if f.Payee, err = parseAddr("receipt payee", r.GetPayee()); err != nil {
		return out, err
	}
	if r.GetAsset() != "" {
		if f.Asset, err = parseAddr("receipt asset", r.GetAsset()); err != nil {
			return out, err
		}
	}
	if f.Amount, err = parseAmount("receipt amount", r.GetAmount()); err != nil {
		return out, err
	}
	if f.Cumulative, err = parseAmount("receipt cumulative", r.GetCumulative()); err != nil {
		return out, err
	}
	if r.GetOfferId() != "" {
		if f.Offer, err = parseHash("receipt offer id", r.GetOfferId()); err != nil {
			return out, err
		}
	}
	f.ItemID, f.Time = r.GetItemId(), r.GetTime()
	if out.Sig, err = parseSig("receipt signature", r.GetSignature()); err != nil {
		return out, err
	}
	return out, nil
}

// VerifyReceipt checks a receipt offline: nil if its payee's signature
// covers exactly these fields in the receipt's domain.
func VerifyReceipt(r *apiv1.Receipt) error {
	p, err := ParseReceipt(r)
	if err != nil {
		return err
	}
	return crypto.Verify(p.Domain.ReceiptDigest(&p.Fields), p.Sig, p.Fields.Payee)
}

// SameAddress compares two hex addresses as the API writes them, ignoring
// case and the 0x prefix; "" and the zero address are the same (ETH).
func SameAddress(a, b string) bool {
	norm := func(s string) string {
		s = strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X"))
		if strings.Trim(s, "0") == "" {
			return ""
		}
		return s
	}
	return norm(a) == norm(b)
}
