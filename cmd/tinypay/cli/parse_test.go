package cli

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/holiman/uint256"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/tinypay/tinypay/apps"
	"github.com/tinypay/tinypay/crypto"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc"
	"github.com/tinypay/tinypay/rpc/apiutil"
)

func isUsage(err error) bool {
	var ue usageError
	return errors.As(err, &ue)
}

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in    string
		want  string // base units per second; "" for a usage error
		asset string
	}{
		{"0.001 USD/s", "1000", "USD"},     // the documented form
		{"0.001USD/s", "1000", "USD"},      // no space
		{"0.001 usd / sec", "1000", "USD"}, // case and spaces
		{"0.06 USD/min", "1000", "USD"},    // per minute, divides exactly
		{"3.6 USD/h", "1000", "USD"},       // per hour
		{"1000/s", "1000", ""},             // base units per second
		{"1000", "1000", ""},               // no unit: per second
		{"1 ETH/s", "1000000000000000000", "ETH"},
		{"0 USD/s", "", ""},          // a stream pays something
		{"0.000001 USD/min", "", ""}, // 1 base unit a minute is not whole per second
		{"1 USD/day", "", ""},        // unknown period
		{"1 DOGE/s", "", ""},         // unknown asset
		{"1.5/s", "", ""},            // a fraction needs an asset
		{"/s", "", ""},               // no amount
		{"-1 USD/s", "", ""},         // negative
		{"0.0000001 USD/s", "", ""},  // more decimals than USD has
		{"1 USD/s/s", "", ""},        // two periods
	} {
		v, a, err := parseRate(testAssets, tc.in)
		if tc.want == "" {
			if !isUsage(err) {
				t.Errorf("parseRate(%q) = %v, %v; want a usage error", tc.in, v, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseRate(%q): %v", tc.in, err)
			continue
		}
		if v.Dec() != tc.want || a.GetSymbol() != tc.asset {
			t.Errorf("parseRate(%q) = %s %s, want %s %s", tc.in, v.Dec(), a.GetSymbol(), tc.want, tc.asset)
		}
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time // zero with ok: open end
		ok   bool
	}{
		{"", time.Time{}, true}, // open end
		{"now", now, true},      // now
		{"2026-03-01T09:00:00Z", time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), true},          // RFC 3339
		{"2026-03-01T09:00:00.5+01:00", time.Date(2026, 3, 1, 8, 0, 0, 5e8, time.UTC), true}, // with fraction and zone
		{"2026-03-01", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), true},                    // a date, in now's zone
		{"2026-03-01T09:30", time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC), true},
		{"24h", now.Add(-24 * time.Hour), true},    // a duration: that long ago
		{"90m", now.Add(-90 * time.Minute), true},  // minutes
		{"7d", now.Add(-7 * 24 * time.Hour), true}, // days
		{"-1h", time.Time{}, false},                // no negative durations
		{"yesterday", time.Time{}, false},          // not a form we know
		{"2026-13-01", time.Time{}, false},         // no 13th month
		{"1.5d", time.Time{}, false},               // whole days only
		{"1700000000", time.Time{}, false},         // unix seconds are ambiguous: refused
	} {
		got, err := parseTime(tc.in, now)
		if !tc.ok {
			if !isUsage(err) {
				t.Errorf("parseTime(%q) = %v, %v; want a usage error", tc.in, got, err)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("parseTime(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParsePeriod(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration // 0: a usage error
	}{
		{"24h", 24 * time.Hour},
		{"30m", 30 * time.Minute},
		{"7d", 7 * 24 * time.Hour},
		{"1s", time.Second},
		{"90s", 90 * time.Second},
		{"48h", 2 * 24 * time.Hour},
		{"500ms", 0},  // not whole seconds
		{"1.5s", 0},   // not whole seconds
		{"400d", 0},   // over a year
		{"0s", 0},     // empty period
		{"weekly", 0}, // not a duration
	} {
		got, err := parsePeriod(tc.in)
		if tc.want == 0 {
			if !isUsage(err) {
				t.Errorf("parsePeriod(%q) = %v, %v; want a usage error", tc.in, got, err)
			}
		} else if err != nil || got != tc.want {
			t.Errorf("parsePeriod(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		} else if again, err := parsePeriod(periodText(got)); err != nil || again != got {
			t.Errorf("periodText(%v) = %q does not parse back: %v, %v", got, periodText(got), again, err)
		}
	}
}

func TestParsePayeeLimit(t *testing.T) {
	usd := testAssets[1]
	const addr = "0xFcd1463D08CC5a0B5509C2ABa78373E5b5E3762E"
	for _, tc := range []struct {
		in        string
		payee     string
		limit     string
		wantUsage bool
	}{
		{addr, addr, "", false},                                      // no limit of its own
		{addr + "=2 USD", addr, "2000000", false},                    // with a limit in units
		{addr + "=2USD", addr, "2000000", false},                     // no space
		{addr + "=1500", addr, "1500", false},                        // base units
		{strings.ToLower(addr) + "=0.5 USD", addr, "500000", false},  // lower case address
		{addr + "=1 ETH", "", "", true},                              // another asset than the token's
		{addr + "=0", "", "", true},                                  // a zero limit
		{addr + "=", "", "", true},                                   // an empty limit
		{"0x1234=1 USD", "", "", true},                               // short address
		{"0x70997970c51812dc3A010C7d01b50e0d17dc79C8", "", "", true}, // bad checksum
		{"=1 USD", "", "", true},                                     // no address
	} {
		pl, err := parsePayeeLimit(testAssets, usd, tc.in)
		if tc.wantUsage {
			if !isUsage(err) {
				t.Errorf("parsePayeeLimit(%q) = %v, %v; want a usage error", tc.in, pl, err)
			}
			continue
		}
		if err != nil || pl.GetPayee() != tc.payee || pl.GetLimit() != tc.limit {
			t.Errorf("parsePayeeLimit(%q) = %v, %v; want %s %q", tc.in, pl, err, tc.payee, tc.limit)
		}
	}
}

// TestReceiptMinAmount checks --min-amount against a receipt, read in the
// receipt's asset, and that a shortfall is said in units.
func TestReceiptMinAmount(t *testing.T) {
	usd := &apiv1.Asset{Symbol: "USD", Address: "0x5FbDB2315678afecb367f032d93F642f64180aa3", Decimals: 6}
	eth := &apiv1.Asset{Symbol: "ETH", Decimals: 18}
	r := &apiv1.Receipt{Amount: "250000", Asset: usd.Address}
	for _, tc := range []struct {
		min   string
		asset *apiv1.Asset // what is known of the receipt's asset
		why   string       // "" if the receipt meets it
	}{
		{"0.25 USD", usd, ""},
		{"0.25USD", usd, ""},
		{"250000", usd, ""}, // base units
		{"250000", nil, ""}, // base units need no asset
		{"0.26 USD", usd, "pays 0.25 USD, less than 0.26 USD"}, // said in units
		{"250001", nil, "pays 250000 base units, less than 250001 base units"},
		{"0.25 USD", nil, "add --decimals"},        // the token is unknown here
		{"0.25 USD", eth, "the receipt is in ETH"}, // another asset
		{"0.5", usd, "name the asset"},             // a fraction needs its asset
		{"1,5 USD", usd, "use a dot"},
	} {
		w := receiptExpect{minText: tc.min}
		err := w.resolve(r, tc.asset)
		if err == nil {
			err = w.check(r)
		} else if !isUsage(err) {
			t.Errorf("--min-amount %q: %v is not a usage error", tc.min, err)
		}
		if tc.why == "" && err != nil || tc.why != "" && (err == nil || !strings.Contains(err.Error(), tc.why)) {
			t.Errorf("--min-amount %q with asset %v: %v; want %q", tc.min, tc.asset, err, tc.why)
		}
	}
}

// testOffer is an offer signed by key.
func testOffer(t testing.TB, key *crypto.PrivateKey) *apiv1.Offer {
	t.Helper()
	o := apps.Offer{
		ChainID: 1337, Adjudicator: crypto.Address{0xad}, ID: crypto.Hash{1, 2, 3}, Payee: key.Address(),
		ItemID: "article-7", Asset: crypto.Address{0xc8}, Price: *uint256.NewInt(250000), Expiry: 1_900_000_000,
	}
	f := crypto.OfferFields{Offer: o.ID, Payee: o.Payee, ItemID: o.ItemID, Asset: o.Asset, Price: o.Price, Expiry: o.Expiry}
	sig, err := key.Sign(crypto.NewDomain(o.ChainID, o.Adjudicator).OfferDigest(&f))
	if err != nil {
		t.Fatal(err)
	}
	o.Sig = sig
	return rpc.OfferMsg(o)
}

// testReceipt is a receipt signed by key as the payee.
func testReceipt(t testing.TB, key *crypto.PrivateKey) *apiv1.Receipt {
	t.Helper()
	f := crypto.ReceiptFields{
		Channel: crypto.Hash{9}, Payment: crypto.Hash{8}, Payer: crypto.Address{0xa1}, Payee: key.Address(),
		Amount: *uint256.NewInt(250000), Cumulative: *uint256.NewInt(260000), ItemID: "article-7", Offer: crypto.Hash{1, 2, 3}, Time: 1_800_000_000,
	}
	adj := crypto.Address{0xad}
	sig, err := key.Sign(crypto.NewDomain(1337, adj).ReceiptDigest(&f))
	if err != nil {
		t.Fatal(err)
	}
	return &apiv1.Receipt{
		ChainId: 1337, Adjudicator: adj.Hex(), ChannelId: f.Channel.Hex(), PaymentId: f.Payment.Hex(), Payer: f.Payer.Hex(),
		Payee: f.Payee.Hex(), Amount: "250000", Cumulative: "260000", ItemId: f.ItemID, OfferId: f.Offer.Hex(), Time: f.Time,
		Signature: "0x" + hex.EncodeToString(sig[:]),
	}
}

func TestDecodeOffer(t *testing.T) {
	key, _ := crypto.GenerateKey()
	o := testOffer(t, key)
	js, _ := protojson.Marshal(o)
	receiptCompact := compact(testReceipt(t, key))
	noSig := proto.Clone(o).(*apiv1.Offer)
	noSig.Signature = ""
	badPrice := proto.Clone(o).(*apiv1.Offer)
	badPrice.Price = "a lot"
	for _, tc := range []struct {
		name string
		in   string
		ok   bool
	}{
		{"compact", compact(o), true},
		{"compact with a newline", compact(o) + "\n", true},
		{"padded base64url", base64.URLEncoding.EncodeToString(mustMarshal(o)), true},
		{"standard base64", base64.StdEncoding.EncodeToString(mustMarshal(o)), true},
		{"protojson", string(js), true},
		{"the output of offer create", "offer 0x01\n  item article-7\nthe buyer pays it with: OFFER:\n" + compact(o) + "\n", true},
		{"empty", "", false},
		{"garbage", "hello, world", false},
		{"base64 of garbage", base64.RawURLEncoding.EncodeToString([]byte("\xff\xff\xff")), false},
		{"a receipt is not an offer", receiptCompact, false},
		{"truncated", compact(o)[:40], false},
		{"JSON of something else", `{"seq": 1}`, false},
		{"broken JSON", `{"offerId": `, false},
		{"no signature", compact(noSig), false},
		{"bad price", compact(badPrice), false},
	} {
		got, err := decodeOffer([]byte(tc.in))
		if tc.ok {
			if err != nil || !proto.Equal(got, o) {
				t.Errorf("%s: %v, %v", tc.name, got, err)
			}
		} else if !errors.Is(err, errMalformed) {
			t.Errorf("%s: %v, %v; want a malformed offer", tc.name, got, err)
		}
	}
}

func mustMarshal(m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

func TestDecodeAndVerifyReceipt(t *testing.T) {
	key, _ := crypto.GenerateKey()
	r := testReceipt(t, key)
	if err := apiutil.VerifyReceipt(r); err != nil {
		t.Fatalf("the test receipt does not verify: %v", err)
	}
	js, _ := protojson.Marshal(r)
	payment, _ := protojson.MarshalOptions{Multiline: true, EmitUnpopulated: true}.Marshal(&apiv1.Payment{Seq: 7, Amount: "250000", Receipt: r})
	paymentNoReceipt, _ := protojson.Marshal(&apiv1.Payment{Seq: 7, Amount: "250000"})
	altered := func(f func(*apiv1.Receipt)) string {
		x := proto.Clone(r).(*apiv1.Receipt)
		f(x)
		return compact(x)
	}
	for _, tc := range []struct {
		name   string
		in     string
		decode bool // decodes
		valid  bool // and verifies
	}{
		{"compact", compact(r), true, true},
		{"the output of pay", "paid 0.25 USD to 0x..\nreceipt signed by 0x..; RECEIPT:\n" + compact(r) + "\n", true, true},
		{"receipt JSON", string(js), true, true},
		{"payment JSON with a receipt", string(payment), true, true},
		{"payment JSON without a receipt", string(paymentNoReceipt), false, false},
		{"offer is not a receipt", compact(testOffer(t, key)), false, false},
		{"garbage", "not a receipt", false, false},
		{"empty", "  \n", false, false},
		{"more amount", altered(func(x *apiv1.Receipt) { x.Amount = "260000" }), true, false},
		{"another payee", altered(func(x *apiv1.Receipt) { x.Payee = crypto.Address{0xbb}.Hex() }), true, false},
		{"another item", altered(func(x *apiv1.Receipt) { x.ItemId = "article-8" }), true, false},
		{"another time", altered(func(x *apiv1.Receipt) { x.Time++ }), true, false},
		{"another chain", altered(func(x *apiv1.Receipt) { x.ChainId = 1 }), true, false},
		{"no offer", altered(func(x *apiv1.Receipt) { x.OfferId = "" }), true, false},
		{"bad amount", altered(func(x *apiv1.Receipt) { x.Amount = "-1" }), true, false},
		{"short signature", altered(func(x *apiv1.Receipt) { x.Signature = x.Signature[:20] }), true, false},
	} {
		got, err := decodeReceipt([]byte(tc.in))
		if !tc.decode {
			if !errors.Is(err, errMalformed) {
				t.Errorf("%s: %v, %v; want a malformed receipt", tc.name, got, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if verr := apiutil.VerifyReceipt(got); (verr == nil) != tc.valid {
			t.Errorf("%s: verify = %v, want valid %v", tc.name, verr, tc.valid)
		}
	}
}

// FuzzDecodeShared feeds arbitrary input to the offer and receipt decoders:
// they must never panic, and what they accept must re-encode and decode to
// the same message.
func FuzzDecodeShared(f *testing.F) {
	key, _ := crypto.GenerateKey()
	f.Add(compact(testOffer(f, key)))
	f.Add(compact(testReceipt(f, key)))
	f.Add(`{"payee": "0x00"}`)
	f.Add("@")
	f.Fuzz(func(t *testing.T, s string) {
		if o, err := decodeOffer([]byte(s)); err == nil {
			again, err := decodeOffer([]byte(compact(o)))
			if err != nil || !proto.Equal(o, again) {
				t.Fatalf("offer %v does not round-trip: %v", o, err)
			}
		}
		if r, err := decodeReceipt([]byte(s)); err == nil {
			again, err := decodeReceipt([]byte(compact(r)))
			if err != nil || !proto.Equal(r, again) {
				t.Fatalf("receipt %v does not round-trip: %v", r, err)
			}
		}
	})
}

func TestPaywallRoutes(t *testing.T) {
	got, err := paywallRoutes(testAssets, []string{"/a=0.5 USD", "/songs/live=0.0001 USD/s", " /b = 1USD "})
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, r := range got {
		s = append(s, r.prefix+" "+r.amount.Dec()+" "+r.asset.GetSymbol()+" "+map[bool]string{true: "/s", false: "once"}[r.perSecond])
	}
	// The longest prefix first; the others in the order given.
	if want := "/songs/live 100 USD /s|/a 500000 USD once|/b 1000000 USD once"; strings.Join(s, "|") != want {
		t.Fatalf("routes %q, want %q", strings.Join(s, "|"), want)
	}
	for _, bad := range []string{
		"/a",               // no price
		"a=1 USD",          // not a path
		"/a=1",             // no asset
		"/a=0 USD",         // free is no route
		"/a=1 USD/min",     // per second only
		"/a=1,5 USD",       // a comma
		"=1 USD",           // no prefix
		"/a=0.0000001 USD", // more decimals than the asset
	} {
		if _, err := paywallRoutes(testAssets, []string{bad}); !isUsage(err) {
			t.Errorf("--route %q: %v, want a usage error", bad, err)
		}
	}
	if _, err := paywallRoutes(testAssets, []string{"/a=1 USD", "/a=2 USD"}); !isUsage(err) {
		t.Errorf("a prefix twice: %v", err)
	}
}
