package sdk_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/holiman/uint256"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/sdk"
)

// Well-formed messages (the signatures are well formed, not valid).
func fixtureOffer() *apiv1.Offer {
	return &apiv1.Offer{
		ChainId: 1337, Adjudicator: "0x5fbdb2315678afecb367f032d93f642f64180aa3",
		OfferId: "0x" + strings.Repeat("11", 32), Payee: "0x70997970c51812dc3a010c7d01b50e0d17dc79c8",
		ItemId: "article-1", Asset: "0xe7f1725e7734ce288f8367e1bb143e90bb3f0512", Price: "2500", Expiry: 4_000_000_600,
		Signature: "0x" + strings.Repeat("22", 64) + "1b",
	}
}

func fixtureReceipt() *apiv1.Receipt {
	return &apiv1.Receipt{
		ChainId: 1337, Adjudicator: "0x5fbdb2315678afecb367f032d93f642f64180aa3", ChannelId: "0x" + strings.Repeat("33", 32),
		PaymentId: "0x" + strings.Repeat("44", 32), Payer: "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
		Payee: "0x70997970c51812dc3a010c7d01b50e0d17dc79c8", Amount: "2500", Cumulative: "7500", ItemId: "article-1",
		OfferId: "0x" + strings.Repeat("00", 32), Time: 1_700_000_000, Signature: "0x" + strings.Repeat("22", 64) + "1b",
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	o := fixtureOffer()
	s := sdk.EncodeOffer(o)
	if !strings.HasPrefix(s, sdk.OfferPrefix) || strings.ContainsAny(s, "+/= \n") {
		t.Fatalf("encoded offer %q is not URL- and header-safe", s)
	}
	got, err := sdk.DecodeOffer(s)
	if err != nil || !proto.Equal(got, o) {
		t.Fatalf("offer round trip: %v, %v", got, err)
	}
	r := fixtureReceipt()
	rs := sdk.EncodeReceipt(r)
	gotR, err := sdk.DecodeReceipt(rs)
	if err != nil || !proto.Equal(gotR, r) {
		t.Fatalf("receipt round trip: %v, %v", gotR, err)
	}
	// The bare base64url (rpc/paywall's header form) is read too.
	if bare, err := sdk.DecodeOffer(strings.TrimPrefix(s, sdk.OfferPrefix)); err != nil || !proto.Equal(bare, o) {
		t.Fatalf("bare offer: %v, %v", bare, err)
	}
	if bare, err := sdk.DecodeReceipt(strings.TrimPrefix(rs, sdk.ReceiptPrefix)); err != nil || !proto.Equal(bare, r) {
		t.Fatalf("bare receipt: %v, %v", bare, err)
	}
	if len(s) > 600 || len(rs) > 800 { // about 490 and 680: hex strings in the protobuf
		t.Fatalf("encodings are not compact: %d and %d bytes", len(s), len(rs))
	}
}

// body returns the base64url of a message, without a prefix.
func body(m proto.Message) string {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestDecodeOfferRejects(t *testing.T) {
	good := sdk.EncodeOffer(fixtureOffer())
	unknown, _ := proto.Marshal(fixtureOffer())
	unknown = protowire.AppendVarint(protowire.AppendTag(unknown, 99, protowire.VarintType), 1)
	rows := []struct {
		name string
		in   string
	}{
		{"empty", ""},                    // nothing
		{"prefix only", sdk.OfferPrefix}, // an empty message: no fields
		{"another version", "tpo2." + strings.TrimPrefix(good, sdk.OfferPrefix)},                                  // a future form
		{"bare receipt", body(fixtureReceipt())},                                                                  // the wrong kind, unlabelled
		{"a receipt", sdk.EncodeReceipt(fixtureReceipt())},                                                        // the wrong kind
		{"a receipt body", sdk.OfferPrefix + body(fixtureReceipt())},                                              // the wrong kind, relabelled
		{"padded", good + "=="},                                                                                   // padding is not ours
		{"standard alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(good) + "+/"},                       // not URL-safe
		{"trailing space", good + " "},                                                                            // header folding
		{"truncated", good[:len(good)-7]},                                                                         // cut in transit
		{"garbage", sdk.OfferPrefix + base64.RawURLEncoding.EncodeToString([]byte{0xff, 0xff, 0xff, 0x0f, 0x01})}, // not protobuf
		{"unknown field", sdk.OfferPrefix + base64.RawURLEncoding.EncodeToString(unknown)},                        // not this version
		{"too long", sdk.OfferPrefix + strings.Repeat("A", 5000)},                                                 // bounded
	}
	// Every field is required, and each must be well formed.
	for _, f := range []struct {
		name string
		mut  func(*apiv1.Offer)
	}{
		{"no chain id", func(o *apiv1.Offer) { o.ChainId = 0 }},
		{"no adjudicator", func(o *apiv1.Offer) { o.Adjudicator = "" }},
		{"bad adjudicator", func(o *apiv1.Offer) { o.Adjudicator = "0x1234" }},
		{"bad offer id", func(o *apiv1.Offer) { o.OfferId = "0x12" }},
		{"no payee", func(o *apiv1.Offer) { o.Payee = "" }},
		{"bad checksum", func(o *apiv1.Offer) { o.Payee = "0x70997970C51812dc3a010c7d01b50e0d17dc79c8" }},
		{"no item", func(o *apiv1.Offer) { o.ItemId = "" }},
		{"no asset", func(o *apiv1.Offer) { o.Asset = "" }},
		{"no price", func(o *apiv1.Offer) { o.Price = "" }},
		{"negative price", func(o *apiv1.Offer) { o.Price = "-1" }},
		{"no expiry", func(o *apiv1.Offer) { o.Expiry = 0 }},
		{"no signature", func(o *apiv1.Offer) { o.Signature = "" }},
		{"short signature", func(o *apiv1.Offer) { o.Signature = "0x1234" }},
	} {
		o := fixtureOffer()
		f.mut(o)
		rows = append(rows, struct{ name, in string }{f.name, sdk.OfferPrefix + body(o)})
	}
	for _, tc := range rows {
		t.Run(tc.name, func(t *testing.T) {
			if o, err := sdk.DecodeOffer(tc.in); !errors.Is(err, sdk.ErrMalformed) {
				t.Fatalf("DecodeOffer = %v, %v; want ErrMalformed", o, err)
			}
		})
	}
}

func TestDecodeReceiptRejects(t *testing.T) {
	good := sdk.EncodeReceipt(fixtureReceipt())
	rows := []struct{ name, in string }{
		{"empty", ""},                                               // nothing
		{"prefix only", sdk.ReceiptPrefix},                          // no fields
		{"an offer", sdk.EncodeOffer(fixtureOffer())},               // the wrong kind
		{"bare offer", body(fixtureOffer())},                        // the wrong kind, unlabelled
		{"an offer body", sdk.ReceiptPrefix + body(fixtureOffer())}, // the wrong kind, relabelled
		{"truncated", good[:len(good)-9]},                           // cut in transit
		{"bad base64", sdk.ReceiptPrefix + "!!!!"},                  // not base64url
	}
	for _, f := range []struct {
		name string
		mut  func(*apiv1.Receipt)
	}{
		{"no chain id", func(r *apiv1.Receipt) { r.ChainId = 0 }},
		{"bad adjudicator", func(r *apiv1.Receipt) { r.Adjudicator = "x" }},
		{"bad channel id", func(r *apiv1.Receipt) { r.ChannelId = "0x33" }},
		{"no payment id", func(r *apiv1.Receipt) { r.PaymentId = "" }},
		{"no payer", func(r *apiv1.Receipt) { r.Payer = "" }},
		{"bad payee", func(r *apiv1.Receipt) { r.Payee = "0xzz997970c51812dc3a010c7d01b50e0d17dc79c8" }},
		{"no amount", func(r *apiv1.Receipt) { r.Amount = "" }},
		{"signed amount", func(r *apiv1.Receipt) { r.Amount = "+5" }},
		{"huge cumulative", func(r *apiv1.Receipt) { r.Cumulative = strings.Repeat("9", 80) }},
		{"bad offer id", func(r *apiv1.Receipt) { r.OfferId = "0x00" }},
		{"no signature", func(r *apiv1.Receipt) { r.Signature = "" }},
		{"bad signature hex", func(r *apiv1.Receipt) { r.Signature = "0x" + strings.Repeat("zz", 65) }},
	} {
		r := fixtureReceipt()
		f.mut(r)
		rows = append(rows, struct{ name, in string }{f.name, sdk.ReceiptPrefix + body(r)})
	}
	for _, tc := range rows {
		t.Run(tc.name, func(t *testing.T) {
			if r, err := sdk.DecodeReceipt(tc.in); !errors.Is(err, sdk.ErrMalformed) {
				t.Fatalf("DecodeReceipt = %v, %v; want ErrMalformed", r, err)
			}
		})
	}
}

// The decoders never panic, and what they accept encodes back to itself.
func FuzzDecodeOffer(f *testing.F) {
	f.Add(sdk.EncodeOffer(fixtureOffer()))
	f.Add(sdk.EncodeReceipt(fixtureReceipt()))
	f.Add(sdk.OfferPrefix)
	f.Fuzz(func(t *testing.T, s string) {
		o, err := sdk.DecodeOffer(s)
		if err != nil {
			if !errors.Is(err, sdk.ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		back, err := sdk.DecodeOffer(sdk.EncodeOffer(o))
		if err != nil || !proto.Equal(back, o) {
			t.Fatalf("re-encoding %v: %v, %v", o, back, err)
		}
	})
}

func FuzzDecodeReceipt(f *testing.F) {
	f.Add(sdk.EncodeReceipt(fixtureReceipt()))
	f.Add(sdk.EncodeOffer(fixtureOffer()))
	f.Add(sdk.ReceiptPrefix)
	f.Fuzz(func(t *testing.T, s string) {
		r, err := sdk.DecodeReceipt(s)
		if err != nil {
			if !errors.Is(err, sdk.ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		back, err := sdk.DecodeReceipt(sdk.EncodeReceipt(r))
		if err != nil || !proto.Equal(back, r) {
			t.Fatalf("re-encoding %v: %v, %v", r, back, err)
		}
		_ = sdk.VerifyReceipt(r, sdk.Expect{}) // must not panic
	})
}

// A real receipt verifies; changing any signed field, or the signature,
// breaks it; and a valid receipt is checked against what was expected.
func TestVerifyReceiptRejects(t *testing.T) {
	a := dial(t, sdk.Config{DataDir: aliceDir})
	p, err := a.Pay(testCtx(t), sdk.PayRequest{Channel: aliceBob, Amount: uint256.NewInt(1234), ItemID: "song-9"})
	if err != nil {
		t.Fatal(err)
	}
	r := p.Receipt
	if err := sdk.VerifyReceipt(r, sdk.Expect{}); err != nil {
		t.Fatal(err)
	}
	other := "0x" + strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name string
		mut  func(*apiv1.Receipt)
	}{
		{"amount", func(r *apiv1.Receipt) { r.Amount = "1235" }},
		{"cumulative", func(r *apiv1.Receipt) { r.Cumulative = "1" }},
		{"item", func(r *apiv1.Receipt) { r.ItemId = "song-10" }},
		{"payee", func(r *apiv1.Receipt) { r.Payee = carolAddr }},
		{"payer", func(r *apiv1.Receipt) { r.Payer = carolAddr }},
		{"channel", func(r *apiv1.Receipt) { r.ChannelId = other }},
		{"payment id", func(r *apiv1.Receipt) { r.PaymentId = other }},
		{"offer id", func(r *apiv1.Receipt) { r.OfferId = other }},
		{"time", func(r *apiv1.Receipt) { r.Time++ }},
		{"chain id", func(r *apiv1.Receipt) { r.ChainId++ }},
		{"adjudicator", func(r *apiv1.Receipt) { r.Adjudicator = carolAddr }},
		{"signature", func(r *apiv1.Receipt) { r.Signature = r.Signature[:10] + flip(r.Signature[10]) + r.Signature[11:] }},
		{"no signature", func(r *apiv1.Receipt) { r.Signature = "" }},
	} {
		t.Run("altered "+tc.name, func(t *testing.T) {
			x := proto.Clone(r).(*apiv1.Receipt)
			tc.mut(x)
			if err := sdk.VerifyReceipt(x, sdk.Expect{}); !errors.Is(err, sdk.ErrInvalidReceipt) {
				t.Fatalf("altered receipt: %v", err)
			}
		})
	}
	for _, tc := range []struct {
		name string
		want sdk.Expect
	}{
		{"payee", sdk.Expect{Payee: carolAddr}},
		{"payer", sdk.Expect{Payer: bobAddr}},
		{"amount", sdk.Expect{Amount: uint256.NewInt(1233)}},
		{"item", sdk.Expect{ItemID: "song-1"}},
		{"channel", sdk.Expect{Channel: other}},
		{"chain", sdk.Expect{ChainID: r.GetChainId() + 1}},
		{"adjudicator", sdk.Expect{Adjudicator: carolAddr}},
		{"offer", sdk.Expect{Offer: fixtureOffer()}},
	} {
		t.Run("expected "+tc.name, func(t *testing.T) {
			if err := sdk.VerifyReceipt(r, tc.want); !errors.Is(err, sdk.ErrReceiptMismatch) {
				t.Fatalf("unexpected %s: %v", tc.name, err)
			}
		})
	}
	// Expectations that match pass, in any letter case.
	if err := sdk.VerifyReceipt(r, sdk.Expect{Payee: strings.ToLower(bobAddr), Channel: strings.ToUpper(aliceBob[2:]), ItemID: "song-9", Amount: uint256.NewInt(1234)}); err != nil {
		t.Fatal(err)
	}
	// An expectation that is itself malformed is the caller's error.
	if err := sdk.VerifyReceipt(r, sdk.Expect{Payee: "bob"}); !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Fatalf("malformed expectation: %v", err)
	}
}

func flip(c byte) string {
	if c == '0' {
		return "1"
	}
	return "0"
}
