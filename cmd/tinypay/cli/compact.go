package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/apiutil"
)

// Offers and receipts travel between people as compact strings: the
// base64url encoding (no padding) of their protobuf. They are accepted as
// that string (or text ending with it, as the CLI prints it), as protojson,
// or as a payment's JSON holding a receipt.

// maxShared bounds what is read for an offer or a receipt (@file, stdin).
const maxShared = 1 << 20

// errMalformed is matched by every decoding failure of a shared offer or
// receipt, to tell it from failing to read it.
var errMalformed = errors.New("malformed")

// compact encodes an offer or a receipt as a shareable string (see
// apiutil: "tpo1."/"tpr1." and base64url).
func compact(m proto.Message) string {
	switch x := m.(type) {
	case *apiv1.Offer:
		return apiutil.EncodeOffer(x)
	case *apiv1.Receipt:
		return apiutil.EncodeReceipt(x)
	}
	panic(fmt.Sprintf("compact: %T is neither an offer nor a receipt", m))
}

// readShared returns what an OFFER or RECEIPT argument names: "-" reads
// stdin, "@path" a file, anything else is the value itself.
func readShared(arg string, stdin io.Reader) ([]byte, error) {
	var r io.Reader
	switch {
	case arg == "-":
		if stdin == nil {
			stdin = os.Stdin
		}
		r = stdin
	case strings.HasPrefix(arg, "@"):
		f, err := os.Open(arg[1:])
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	default:
		return []byte(arg), nil
	}
	b, err := io.ReadAll(io.LimitReader(r, maxShared+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxShared {
		return nil, fmt.Errorf("more than %d bytes", maxShared)
	}
	return b, nil
}

// unmarshalCompact decodes a compact string into m (an offer or a
// receipt), refusing fields m does not have (another kind of message, or
// garbage that happens to decode).
func unmarshalCompact(s string, m proto.Message) error {
	// People paste what tools re-encoded: accept the standard alphabet and
	// padding here, and hand the canonical form to the strict decoder.
	s = strings.NewReplacer("+", "-", "/", "_").Replace(strings.TrimRight(strings.TrimSpace(s), "="))
	var got proto.Message
	var err error
	switch m.(type) {
	case *apiv1.Offer:
		got, err = apiutil.DecodeOffer(s)
	case *apiv1.Receipt:
		got, err = apiutil.DecodeReceipt(s)
	default:
		return fmt.Errorf("%w: %T is neither an offer nor a receipt", errMalformed, m)
	}
	if err != nil {
		return fmt.Errorf("%w: %v", errMalformed, err)
	}
	proto.Merge(m, got)
	return nil
}

func isJSON(b []byte) bool { return len(b) > 0 && b[0] == '{' }

// lastWord takes the compact string out of a command's saved text output
// (`tinypay offer create > offer.txt`): its last word.
func lastWord(b []byte) []byte {
	if f := bytes.Fields(b); len(f) > 1 && !isJSON(b) {
		return f[len(f)-1]
	}
	return b
}

// decodeOffer parses an offer: a compact string or protojson. It checks the
// encoding of every field, not the signature (the payer's node does).
func decodeOffer(b []byte) (*apiv1.Offer, error) {
	b = lastWord(bytes.TrimSpace(b))
	o := &apiv1.Offer{}
	if isJSON(b) {
		if err := protojson.Unmarshal(b, o); err != nil {
			return nil, fmt.Errorf("%w: offer JSON: %v", errMalformed, err)
		}
	} else if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty offer", errMalformed)
	} else if err := unmarshalCompact(string(b), o); err != nil {
		return nil, fmt.Errorf("offer: %w", err)
	}
	if _, err := apiutil.ParseOffer(o); err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformed, err)
	}
	return o, nil
}

// decodeReceipt parses a receipt: a compact string, its protojson, or the
// JSON of a payment holding one (as `tinypay pay --json` prints it). It
// does not verify the signature.
func decodeReceipt(b []byte) (*apiv1.Receipt, error) {
	b = lastWord(bytes.TrimSpace(b))
	r := &apiv1.Receipt{}
	switch {
	case len(b) == 0:
		return nil, fmt.Errorf("%w: empty receipt", errMalformed)
	case isJSON(b):
		if err := protojson.Unmarshal(b, r); err != nil {
			p := &apiv1.Payment{}
			if perr := protojson.Unmarshal(b, p); perr != nil {
				return nil, fmt.Errorf("%w: neither a receipt's nor a payment's JSON: %v", errMalformed, err)
			}
			if p.GetReceipt() == nil {
				return nil, fmt.Errorf("%w: the payment has no receipt (pay with --receipt or --item to get one)", errMalformed)
			}
			r = p.GetReceipt()
		}
	default:
		if err := unmarshalCompact(string(b), r); err != nil {
			return nil, fmt.Errorf("receipt: %w", err)
		}
	}
	if r.GetSignature() == "" || r.GetPayee() == "" {
		return nil, fmt.Errorf("%w: not a receipt (no payee or signature)", errMalformed)
	}
	return r, nil
}
