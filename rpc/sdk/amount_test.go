package sdk_test

import (
	"errors"
	"testing"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/rpc/sdk"
)

func TestParseUnits(t *testing.T) {
	max := "115792089237316195423570985008687907853269984665640564039457584007913129639935" // 2^256-1
	for _, tc := range []struct {
		name     string
		in       string
		decimals uint32
		want     string // base units; "" means an error
	}{
		{"whole", "12", 6, "12000000"},              // units to base units
		{"fraction", "0.0025", 6, "2500"},           // a quarter cent
		{"smallest unit", "0.000001", 6, "1"},       // one base unit
		{"all decimals", "1.123456", 6, "1123456"},  // exactly the asset's decimals
		{"zero", "0", 6, "0"},                       // zero is a number
		{"leading zeros", "007.5", 1, "75"},         // harmless
		{"no decimals", "42", 0, "42"},              // an asset without decimals
		{"wei", "1.5", 18, "1500000000000000000"},   // ETH
		{"largest", max, 0, max},                    // 2^256-1 fits
		{"too many decimals", "0.0000001", 6, ""},   // below one base unit: refused, not rounded
		{"overflow", max[:len(max)-1] + "6", 0, ""}, // 2^256
		{"overflow by decimals", max, 1, ""},        // fits only before scaling
		{"empty", "", 6, ""},                        // nothing
		{"dot only", ".", 6, ""},                    // no digits
		{"leading dot", ".5", 6, "500000"},          // 0.5, as people write it
		{"trailing dot", "5.", 6, ""},               // write 5
		{"sign", "+1", 6, ""},                       // uint256 would take it; we do not
		{"negative", "-1", 6, ""},                   // no negative amounts
		{"exponent", "1e3", 6, ""},                  // not a float
		{"two dots", "1.2.3", 6, ""},                // not a number
		{"space", " 1", 6, ""},                      // trimmed by callers, not here
		{"underscore", "1_000", 6, ""},              // Go literal syntax is not money syntax
		{"comma", "1,5", 6, ""},                     // locale decimal comma
		{"huge decimals", "1", 4_000_000_000, ""},   // must not allocate gigabytes
		{"unicode digits", "\u0661", 0, ""},         // Arabic-Indic one
		{"hex", "0x10", 0, ""},                      // not decimal
		{"long fraction of zeros", "1.000000000000000000", 18, "1000000000000000000"}, // 18 zeros fit 18 decimals
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sdk.ParseUnits(tc.in, tc.decimals)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("ParseUnits(%q, %d) = %v, want an error", tc.in, tc.decimals, got)
				}
				if !errors.Is(err, sdk.ErrInvalidArgument) {
					t.Fatalf("error %v does not match ErrInvalidArgument", err)
				}
				return
			}
			if err != nil || got.Dec() != tc.want {
				t.Fatalf("ParseUnits(%q, %d) = %v, %v; want %s", tc.in, tc.decimals, got, err, tc.want)
			}
		})
	}
}

func TestFormatUnits(t *testing.T) {
	for _, tc := range []struct {
		name     string
		v        *uint256.Int
		decimals uint32
		want     string
	}{
		{"quarter cent", uint256.NewInt(2500), 6, "0.0025"},             // leading zeros after the point
		{"whole", uint256.NewInt(12_000_000), 6, "12"},                  // no trailing point
		{"mixed", uint256.NewInt(1_500_001), 6, "1.500001"},             // every digit
		{"one unit", uint256.NewInt(1), 6, "0.000001"},                  // the smallest
		{"zero", uint256.NewInt(0), 6, "0"},                             // zero
		{"nil", nil, 6, "0"},                                            // nil is zero
		{"no decimals", uint256.NewInt(42), 0, "42"},                    // as is
		{"ether", uint256.NewInt(1_500_000_000_000_000_000), 18, "1.5"}, // wei
		{"silly decimals", uint256.NewInt(5), 1000, "5e-1000"},          // no such asset; no huge string
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sdk.FormatUnits(tc.v, tc.decimals); got != tc.want {
				t.Fatalf("FormatUnits(%v, %d) = %q, want %q", tc.v, tc.decimals, got, tc.want)
			}
		})
	}
}

// Formatting and parsing are exact inverses.
func FuzzUnitsRoundTrip(f *testing.F) {
	f.Add(uint64(2500), uint64(0), uint8(6))
	f.Add(uint64(1), uint64(1<<63), uint8(18))
	f.Fuzz(func(t *testing.T, lo, hi uint64, decimals uint8) {
		d := uint32(decimals % 78)
		v := new(uint256.Int).Lsh(uint256.NewInt(hi), 64)
		v.Or(v, uint256.NewInt(lo))
		s := sdk.FormatUnits(v, d)
		back, err := sdk.ParseUnits(s, d)
		if err != nil || !back.Eq(v) {
			t.Fatalf("FormatUnits(%v, %d) = %q parses as %v, %v", v, d, s, back, err)
		}
	})
}

func TestAssetsParse(t *testing.T) {
	usd := sdk.Asset{Symbol: "USD", Address: "0x5FbDB2315678afecb367f032d93F642f64180aa3", Decimals: 6}
	eth := sdk.Asset{Symbol: "ETH", Decimals: 18}
	as := sdk.Assets{eth, usd}
	for _, tc := range []struct {
		name  string
		in    string
		value string // "" means an error
		asset sdk.Asset
	}{
		{"with a space", "0.0025 USD", "2500", usd},                       // the usual form
		{"glued", "0.0025USD", "2500", usd},                               // as people type it
		{"lower case", "1 usd", "1000000", usd},                           // symbols are case-insensitive
		{"by address", "1 " + usd.Address, "1000000", usd},                // a token address names it too
		{"ether", "0.5 ETH", "500000000000000000", eth},                   // 18 decimals
		{"padded", "  2 USD  ", "2000000", usd},                           // surrounding spaces
		{"unknown asset", "1 XYZ", "", sdk.Asset{}},                       // the node does not know it
		{"no asset", "1.5", "", sdk.Asset{}},                              // which asset?
		{"too many decimals", "0.0000001 USD", "", sdk.Asset{}},           // below a base unit
		{"not a number", "lots USD", "", sdk.Asset{}},                     // words
		{"symbol first", "USD 1", "", sdk.Asset{}},                        // not our form
		{"too long", string(make([]byte, 300)) + " USD", "", sdk.Asset{}}, // bounded
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := as.Parse(tc.in)
			if tc.value == "" {
				if !errors.Is(err, sdk.ErrInvalidArgument) {
					t.Fatalf("Parse(%q) = %v, %v; want ErrInvalidArgument", tc.in, a, err)
				}
				return
			}
			if err != nil || a.Value.Dec() != tc.value || a.Asset != tc.asset {
				t.Fatalf("Parse(%q) = %v (%v), %v; want %s %s", tc.in, a.Value, a.Asset, err, tc.value, tc.asset.Symbol)
			}
		})
	}
	if got := (sdk.Amount{Value: uint256.NewInt(2500), Asset: usd}).String(); got != "0.0025 USD" {
		t.Fatalf("Amount.String = %q", got)
	}
}
