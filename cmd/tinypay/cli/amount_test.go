package cli

import (
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
)

var testAssets = assets{
	{Symbol: "ETH", Decimals: 18},
	{Symbol: "USD", Address: "0xC8fD27e3b88f910501A40bF194E745E5D6d08E73", Decimals: 6},
}

func TestAmountArgs(t *testing.T) {
	for _, tc := range []struct {
		in    []string
		want  string
		asset string
	}{
		{[]string{"0.0001", "USD"}, "100", "USD"},
		{[]string{"0.0001USD"}, "100", "USD"},
		{[]string{"1", "usd"}, "1000000", "USD"},
		{[]string{"0.5", "ETH"}, "500000000000000000", "ETH"},
		{[]string{".5", "ETH"}, "500000000000000000", "ETH"},
		{[]string{"12"}, "12", ""}, // base units
		{[]string{"10", "0xC8fD27e3b88f910501A40bF194E745E5D6d08E73"}, "10000000", "USD"},
		{[]string{"0.000001", "USD"}, "1", "USD"},
	} {
		v, a, err := amountArgs(testAssets, tc.in)
		if err != nil {
			t.Fatalf("%v: %v", tc.in, err)
		}
		if v.Dec() != tc.want || (a == nil) != (tc.asset == "") || (a != nil && a.GetSymbol() != tc.asset) {
			t.Fatalf("%v = %s %v, want %s %s", tc.in, v.Dec(), a, tc.want, tc.asset)
		}
	}
}

func TestAmountArgsRejects(t *testing.T) {
	for _, in := range [][]string{
		{},
		{"0.0000001", "USD"}, // more decimals than the asset has
		{"1.5"},              // a fraction needs an asset
		{"-1", "USD"},
		{"1e6", "USD"},
		{"1,000", "USD"},
		{"abc", "USD"},
		{"1", "DOGE"},
		{"1.2.3", "USD"},
		{"1" + "000000000000000000000000000000000000000000000000000000000000000000000000000000"}, // > 2^256
	} {
		_, _, err := amountArgs(testAssets, in)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("%q: %v, want a usage error", in, err)
		}
	}
}

func TestFormatUnits(t *testing.T) {
	for _, tc := range []struct {
		base string
		dec  uint32
		want string
	}{
		{"100", 6, "0.0001"},
		{"1000000", 6, "1"},
		{"1234567", 6, "1.234567"},
		{"0", 6, "0"},
		{"5", 0, "5"},
		{"500000000000000000", 18, "0.5"},
		{"not a number", 6, "not a number"},
	} {
		if got := formatUnits(tc.base, tc.dec); got != tc.want {
			t.Errorf("formatUnits(%s, %d) = %s, want %s", tc.base, tc.dec, got, tc.want)
		}
	}
	if got := show("2500", &apiv1.Asset{Symbol: "USD", Decimals: 6}); got != "0.0025 USD" {
		t.Errorf("show = %q", got)
	}
}

func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{usagef("bad"), ExitUsage},
		{status.Error(codes.InvalidArgument, "x"), ExitUsage},
		{status.Error(codes.Unavailable, "x"), ExitUnavailable},
		{status.Error(codes.Unauthenticated, "x"), ExitAuth},
		{status.Error(codes.FailedPrecondition, "x"), ExitFailed},
		{errors.New("other"), ExitFailed},
	} {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}
