package channel

import (
	"errors"
	"strings"
	"testing"

	"github.com/holiman/uint256"
)

// TestParseUnits checks every kind of amount text a person might write:
// what parses to what, and that each refusal says what is wrong in words.
func TestParseUnits(t *testing.T) {
	max := new(uint256.Int).SetAllOne()
	for _, tc := range []struct {
		in       string
		decimals uint32
		want     string // base units, or "" for an error
		why      string // part of the error
	}{
		{"12", 6, "12000000", ""},
		{"0.0025", 6, "2500", ""},
		{"0.000001", 6, "1", ""},      // the smallest unit
		{".5", 6, "500000", ""},       // as people write it
		{"007", 0, "7", ""},           // leading zeros
		{"0", 18, "0", ""},            // zero parses; callers refuse it where it matters
		{max.Dec(), 0, max.Dec(), ""}, // the largest amount
		{"0.0000001", 6, "", "more than 6 decimals"},
		{"1.5", 0, "", "has decimals, but the asset has none"},
		{"1,5", 6, "", "use a dot for decimals"},
		{"1,000", 6, "", "no thousands separators"},
		{"-1", 6, "", "negative"},
		{"+1", 6, "", "not a number"},
		{"1e-3", 6, "", "exponent"},
		{"2.5E6", 6, "", "exponent"},
		{"0x10", 6, "", "hexadecimal"},
		{"", 6, "", "empty"},
		{"1.", 6, "", "not a number"},
		{"1.2.3", 6, "", "not a number"},
		{"1 000", 6, "", "not a number"},
		{"abc", 6, "", "not a number"},
		{"115792089237316195423570985008687907853269984665640564039457584007913129639936", 0, "", "too large"}, // 2^256
		{strings.Repeat("9", 201), 0, "", "too long"},
		{"1", 78, "", "at most 77"},
	} {
		got, err := ParseUnits(tc.in, tc.decimals)
		if tc.why == "" {
			if err != nil || got.Dec() != tc.want {
				t.Errorf("ParseUnits(%q, %d) = %v, %v; want %s", tc.in, tc.decimals, got, err, tc.want)
			}
			continue
		}
		if err == nil || !errors.Is(err, ErrInvalidAmount) || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("ParseUnits(%q, %d) error %v; want one that says %q", tc.in, tc.decimals, err, tc.why)
		}
		if err != nil && (strings.Contains(err.Error(), "strconv") || strings.Contains(err.Error(), "hex number")) {
			t.Errorf("ParseUnits(%q): library jargon in %q", tc.in, err)
		}
	}
}

// TestFormatUnits checks the inverse, and that formatting then parsing
// gives the value back.
func TestFormatUnits(t *testing.T) {
	for _, tc := range []struct {
		v        uint64
		decimals uint32
		want     string
	}{
		{2500, 6, "0.0025"},
		{12000000, 6, "12"},
		{1, 18, "0.000000000000000001"},
		{0, 6, "0"},
		{7, 0, "7"},
	} {
		v := uint256.NewInt(tc.v)
		if got := FormatUnits(v, tc.decimals); got != tc.want {
			t.Errorf("FormatUnits(%d, %d) = %q, want %q", tc.v, tc.decimals, got, tc.want)
		}
		back, err := ParseUnits(FormatUnits(v, tc.decimals), tc.decimals)
		if err != nil || !back.Eq(v) {
			t.Errorf("round trip of %d with %d decimals: %v, %v", tc.v, tc.decimals, back, err)
		}
	}
	if got := FormatUnits(nil, 6); got != "0" {
		t.Errorf("FormatUnits(nil) = %q", got)
	}
}
