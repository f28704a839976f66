package apiutil

import (
	"encoding/base64"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
)

// Prefixes of the compact text forms of offers and receipts: what follows
// is the base64url (no padding) of the protobuf message. The version lets
// the form change; the kind tells people and logs what the text is.
const (
	OfferPrefix   = "tpo1."
	ReceiptPrefix = "tpr1."
)

// MaxEncoded bounds a compact offer or receipt (a real one is about 500
// bytes), so decoding hostile input never allocates much.
const MaxEncoded = 4096

// EncodeOffer writes an offer as compact text, safe in URLs, HTTP headers
// and QR codes: OfferPrefix and the base64url of the protobuf.
func EncodeOffer(o *apiv1.Offer) string { return encode(OfferPrefix, o) }

// EncodeReceipt writes a receipt as compact text (ReceiptPrefix), so a
// payer can present it in a header.
func EncodeReceipt(r *apiv1.Receipt) string { return encode(ReceiptPrefix, r) }

func encode(prefix string, m proto.Message) string {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("apiutil: encode %T: %v", m, err)) // generated messages with UTF-8 strings always marshal
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// DecodeOffer reads EncodeOffer's text, or the bare base64url without the
// prefix, strictly (unpadded, URL-safe, nothing around it). It checks the
// encoding (not the fields or the signature: see ParseOffer and
// VerifyOffer). Errors match ErrMalformed.
func DecodeOffer(s string) (*apiv1.Offer, error) {
	o := &apiv1.Offer{}
	if err := decode(s, OfferPrefix, ReceiptPrefix, "offer", o); err != nil {
		return nil, err
	}
	return o, nil
}

// DecodeReceipt reads EncodeReceipt's text, or the bare base64url without
// the prefix; see DecodeOffer.
func DecodeReceipt(s string) (*apiv1.Receipt, error) {
	r := &apiv1.Receipt{}
	if err := decode(s, ReceiptPrefix, OfferPrefix, "receipt", r); err != nil {
		return nil, err
	}
	return r, nil
}

func decode(s, prefix, otherPrefix, what string, m proto.Message) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: not an encoded %s: %s", ErrMalformed, what, fmt.Sprintf(format, args...))
	}
	if len(s) > MaxEncoded {
		return bad("longer than %d bytes", MaxEncoded)
	}
	if strings.HasPrefix(s, otherPrefix) {
		return bad("it is marked as another kind (%s)", otherPrefix)
	}
	body, _ := strings.CutPrefix(s, prefix)
	if body == "" {
		return bad("empty")
	}
	// Strict: one canonical text per message (unpadded, URL-safe alphabet,
	// no stray bytes), as befits a credential.
	raw, err := base64.RawURLEncoding.Strict().DecodeString(body)
	if err != nil {
		return bad("base64url: %v", err)
	}
	if err := proto.Unmarshal(raw, m); err != nil {
		return bad("protobuf: %v", err)
	}
	if len(m.ProtoReflect().GetUnknown()) > 0 {
		return bad("fields that do not belong there")
	}
	return nil
}
