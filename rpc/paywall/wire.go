package paywall

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/apiutil"
)

// Names on the wire.
const (
	// AuthScheme is the HTTP authentication scheme of WWW-Authenticate
	// challenges and Authorization credentials (RFC 9110 section 11).
	AuthScheme = "TinyPay"
	// HeaderReceipt carries a receipt (base64url protobuf) as an
	// alternative to Authorization, for requests that need Authorization
	// for the upstream.
	HeaderReceipt = "X-TinyPay-Receipt"
	// HeaderStream names the stream that pays for a per-second response.
	HeaderStream = "X-TinyPay-Stream"

	// HeaderPaymentRequired, HeaderPaymentSignature and
	// HeaderPaymentResponse are x402 v2's headers (base64 JSON): the
	// PaymentRequired object of a 402, a PaymentPayload from the client,
	// and the SettlementResponse of a paid response.
	HeaderPaymentRequired  = "Payment-Required"
	HeaderPaymentSignature = "Payment-Signature"
	HeaderPaymentResponse  = "Payment-Response"

	// SchemeOffer is the x402 scheme name of pay-per-request terms: pay the
	// signed offer through a tinypay channel, present the receipt.
	SchemeOffer = "tinypay-offer"
	// SchemeStream is the x402 scheme name of pay-per-second terms: keep a
	// tinypay stream paying while the response flows.
	SchemeStream = "tinypay-stream"

	// X402Version is the x402 protocol version of the envelope.
	X402Version = 2
	// TermsVersion is the version of Terms.
	TermsVersion = 1

	// maxItemLen is the node's limit on item ids (node.MaxItemIDLen).
	maxItemLen = 256
	// maxCredentialLen bounds a receipt or payload header before decoding.
	maxCredentialLen = 8 << 10
)

// PaymentRequired is the body of a 402 response, and (base64 JSON) its
// Payment-Required header: x402 v2's PaymentRequired envelope.
type PaymentRequired struct {
	X402Version int            `json:"x402Version"`
	Error       string         `json:"error,omitempty"`
	Resource    Resource       `json:"resource"`
	Accepts     []Requirements `json:"accepts"`
}

// Resource describes what the request asked for (x402 ResourceInfo).
type Resource struct {
	URL         string `json:"url"`
	Description string `json:"description,omitempty"`
	MimeType    string `json:"mimeType,omitempty"`
}

// Requirements is one way to pay (x402 PaymentRequirements). For our
// schemes Amount is the price of the request (SchemeOffer) or the rate per
// second (SchemeStream), in the asset's base units, and Extra holds Terms.
type Requirements struct {
	Scheme            string          `json:"scheme"`
	Network           string          `json:"network"`
	Amount            string          `json:"amount"`
	Asset             string          `json:"asset"`
	PayTo             string          `json:"payTo"`
	MaxTimeoutSeconds int64           `json:"maxTimeoutSeconds"`
	Extra             json.RawMessage `json:"extra,omitempty"`
}

// Terms are tinypay's terms for one request, in Requirements.Extra.
type Terms struct {
	Version int `json:"version"`
	// Payee is the node address to pay; PeerAddr is where its node
	// accepts peer connections (host:port; an empty host means the host of
	// the URL). ChainID and Adjudicator name the channel contract.
	Payee       string `json:"payee"`
	PeerAddr    string `json:"peerAddr"`
	ChainID     uint64 `json:"chainId"`
	Adjudicator string `json:"adjudicator"`
	Asset       Asset  `json:"asset"`
	// Item is the item id the payment or stream must carry.
	Item string `json:"item"`

	// Per request (SchemeOffer): the price in base units and the offer the
	// payee signed for this request (base64url of the protobuf
	// tinypay.api.v1.Offer), payable once until Expiry (unix seconds).
	Price   string `json:"price,omitempty"`
	Offer   string `json:"offer,omitempty"`
	OfferID string `json:"offerId,omitempty"`
	Expiry  uint64 `json:"expiry,omitempty"`

	// Per second (SchemeStream): the least rate in base units per second,
	// and the longest tick the stream may use (the paywall checks the
	// stream this often).
	Rate   string `json:"rate,omitempty"`
	TickMs uint64 `json:"tickMs,omitempty"`

	// Header is the request header that carries the payment, and Pay says
	// in words how to pay.
	Header string `json:"header"`
	Pay    string `json:"pay"`
	// Refused is set when the request carried a payment that was refused:
	// a short code (see Reason) for machines; PaymentRequired.Error has the
	// words.
	Refused string `json:"refused,omitempty"`
}

// Asset is the currency of the terms. Address is the token contract, or
// the zero address for ETH.
type Asset struct {
	Address  string `json:"address"`
	Symbol   string `json:"symbol"`
	Decimals uint32 `json:"decimals"`
}

// SettlementResponse is the Payment-Response header (base64 JSON) of a
// paid response, shaped as x402's: Transaction is empty because nothing
// moved on chain; Extra names the payment (paymentId, channelId, offerId)
// or the stream.
type SettlementResponse struct {
	Success     bool              `json:"success"`
	ErrorReason string            `json:"errorReason,omitempty"`
	Payer       string            `json:"payer,omitempty"`
	Transaction string            `json:"transaction"`
	Network     string            `json:"network"`
	Amount      string            `json:"amount,omitempty"`
	Extra       map[string]string `json:"extra,omitempty"`
}

// PaymentPayload is what an x402 v2 client sends in Payment-Signature
// (base64 JSON). For our schemes Payload is {"receipt": "<base64url>"} or
// {"stream": "0x..."}.
type PaymentPayload struct {
	X402Version int             `json:"x402Version"`
	Resource    *Resource       `json:"resource,omitempty"`
	Accepted    Requirements    `json:"accepted"`
	Payload     json.RawMessage `json:"payload"`
}

// payloadBody is the Payload of a PaymentPayload for our schemes.
type payloadBody struct {
	Receipt string `json:"receipt,omitempty"`
	Stream  string `json:"stream,omitempty"`
}

// Network returns the CAIP-2 name of an EVM chain, as x402 v2 writes it.
func Network(chainID uint64) string { return fmt.Sprintf("eip155:%d", chainID) }

// EncodeOffer encodes an offer for a header (apiutil.EncodeOffer).
func EncodeOffer(o *apiv1.Offer) (string, error) { return apiutil.EncodeOffer(o), nil }

// DecodeOffer decodes an encoded offer, prefixed or bare. It checks the
// encoding only, not the signature.
func DecodeOffer(s string) (*apiv1.Offer, error) {
	if len(s) > maxCredentialLen {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrMalformed, len(s), maxCredentialLen)
	}
	o, err := apiutil.DecodeOffer(s)
	if err != nil {
		return nil, fmt.Errorf("offer: %w: %v", ErrMalformed, err)
	}
	return o, nil
}

// EncodeReceipt encodes a receipt for a header (apiutil.EncodeReceipt).
func EncodeReceipt(r *apiv1.Receipt) (string, error) { return apiutil.EncodeReceipt(r), nil }

// DecodeReceipt decodes an encoded receipt, prefixed or bare. It checks
// the encoding only; apiutil.VerifyReceipt checks the signature.
func DecodeReceipt(s string) (*apiv1.Receipt, error) {
	if len(s) > maxCredentialLen {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrMalformed, len(s), maxCredentialLen)
	}
	r, err := apiutil.DecodeReceipt(s)
	if err != nil {
		return nil, fmt.Errorf("receipt: %w: %v", ErrMalformed, err)
	}
	return r, nil
}

// ParseAuth parses an Authorization or WWW-Authenticate value of the
// TinyPay scheme into its parameters (names lower-cased). ok is false when
// the value is of another scheme; err is set when it is ours but malformed.
func ParseAuth(v string) (params map[string]string, ok bool, err error) {
	v = strings.TrimSpace(v)
	scheme, rest, _ := strings.Cut(v, " ")
	if !strings.EqualFold(scheme, AuthScheme) {
		return nil, false, nil
	}
	if len(v) > maxCredentialLen {
		return nil, true, fmt.Errorf("%w: %s credentials of %d bytes", ErrMalformed, AuthScheme, len(v))
	}
	params = map[string]string{}
	rest = strings.TrimSpace(rest)
	for rest != "" {
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			return nil, true, fmt.Errorf("%w: %s parameter without a value", ErrMalformed, AuthScheme)
		}
		name := strings.ToLower(strings.TrimSpace(rest[:eq]))
		rest = strings.TrimLeft(rest[eq+1:], " \t")
		var val string
		if strings.HasPrefix(rest, `"`) {
			var b strings.Builder
			closed, i := false, 1
			for ; i < len(rest); i++ {
				c := rest[i]
				if c == '\\' && i+1 < len(rest) {
					i++
					b.WriteByte(rest[i])
					continue
				}
				if c == '"' {
					closed = true
					i++
					break
				}
				b.WriteByte(c)
			}
			if !closed {
				return nil, true, fmt.Errorf("%w: unterminated quoted %s parameter", ErrMalformed, AuthScheme)
			}
			val, rest = b.String(), rest[i:]
		} else {
			end := strings.IndexByte(rest, ',')
			if end < 0 {
				end = len(rest)
			}
			val, rest = strings.TrimSpace(rest[:end]), rest[end:]
		}
		if name == "" || strings.ContainsAny(name, " \t\",") {
			return nil, true, fmt.Errorf("%w: bad %s parameter name %q", ErrMalformed, AuthScheme, name)
		}
		params[name] = val
		rest = strings.TrimSpace(rest)
		if rest != "" {
			if rest[0] != ',' {
				return nil, true, fmt.Errorf("%w: %s parameters must be separated by commas", ErrMalformed, AuthScheme)
			}
			rest = strings.TrimSpace(rest[1:])
		}
	}
	return params, true, nil
}

// FormatAuth writes a TinyPay challenge or credential with the parameters
// in the order given (name, value, name, value, ...), values quoted.
func FormatAuth(kv ...string) string {
	var b strings.Builder
	b.WriteString(AuthScheme)
	for i := 0; i+1 < len(kv); i += 2 {
		if i == 0 {
			b.WriteByte(' ')
		} else {
			b.WriteString(", ")
		}
		b.WriteString(kv[i])
		b.WriteString(`="`)
		b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(kv[i+1]))
		b.WriteByte('"')
	}
	return b.String()
}

// RequestItem is the item id of a paid request: method, a space and the
// escaped path ("GET /articles/7"), shortened with a hash of the whole when
// longer than a node accepts.
func RequestItem(method, escapedPath string) string {
	return capItem(method + " " + escapedPath)
}

// StreamItem is the item id a stream must carry to pay for a response:
// the escaped path, shortened like RequestItem's.
func StreamItem(escapedPath string) string { return capItem(escapedPath) }

func capItem(s string) string {
	if len(s) <= maxItemLen {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	head := s[:200]
	for !utf8.ValidString(head) {
		head = head[:len(head)-1]
	}
	return head + " sha256:" + hex.EncodeToString(sum[:16])
}

// readPaymentRequired decodes the terms of a 402: the Payment-Required
// header if present, else the body.
func readPaymentRequired(h http.Header, body []byte) (*PaymentRequired, error) {
	var raw []byte
	if v := h.Get(HeaderPaymentRequired); v != "" {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
		if err != nil {
			if b, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(strings.TrimSpace(v), "=")); err != nil {
				return nil, fmt.Errorf("%w: %s header is not base64", ErrBadTerms, HeaderPaymentRequired)
			}
		}
		raw = b
	} else {
		raw = body
	}
	var pr PaymentRequired
	if err := json.Unmarshal(raw, &pr); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadTerms, err)
	}
	return &pr, nil
}

// TermsOf finds the first requirement of tinypay's schemes in a 402's
// terms, and its Terms; an error if there is none or they are malformed.
func TermsOf(pr *PaymentRequired) (*Requirements, *Terms, error) { return tinypayTerms(pr) }

// tinypayTerms finds the first requirement of our schemes and its terms.
func tinypayTerms(pr *PaymentRequired) (*Requirements, *Terms, error) {
	for i := range pr.Accepts {
		req := &pr.Accepts[i]
		if req.Scheme != SchemeOffer && req.Scheme != SchemeStream {
			continue
		}
		var t Terms
		if err := json.Unmarshal(req.Extra, &t); err != nil {
			return nil, nil, fmt.Errorf("%w: %s extra: %v", ErrBadTerms, req.Scheme, err)
		}
		if t.Version != TermsVersion {
			return nil, nil, fmt.Errorf("%w: terms version %d, want %d", ErrBadTerms, t.Version, TermsVersion)
		}
		if req.Network != Network(t.ChainID) || !strings.EqualFold(req.PayTo, t.Payee) {
			return nil, nil, fmt.Errorf("%w: network %s and payTo %s disagree with the terms", ErrBadTerms, req.Network, req.PayTo)
		}
		return req, &t, nil
	}
	return nil, nil, errNoTerms
}

var errNoTerms = errors.New("no tinypay terms in the 402")

// isStreamID reports whether s looks like a stream id: 0x and 32 hex digits.
func isStreamID(s string) bool {
	if len(s) != 34 || !strings.HasPrefix(s, "0x") {
		return false
	}
	_, err := hex.DecodeString(s[2:])
	return err == nil
}
