package sdk

import (
	"errors"
	"fmt"
	"strings"

	"github.com/holiman/uint256"
)

// maxDecimals is the most decimals an asset can have for a uint256 base
// unit to be meaningful (2^256 has 78 digits).
const maxDecimals = 77

// maxAmountText bounds the length of an amount text.
const maxAmountText = 200

// Asset is an asset a node can pay in.
type Asset struct {
	// Symbol is what people call it: "ETH", "USD".
	Symbol string
	// Address is the token contract, or "" for ETH.
	Address string
	// Decimals is where the point goes: base units per unit = 10^Decimals.
	Decimals uint32
}

// Parse reads an amount in the asset's units ("0.0025") as base units.
func (a Asset) Parse(s string) (*uint256.Int, error) { return ParseUnits(s, a.Decimals) }

// Format writes base units in the asset's units with its symbol:
// "0.0025 USD".
func (a Asset) Format(v *uint256.Int) string { return FormatUnits(v, a.Decimals) + " " + a.Symbol }

// ref is how requests name the asset: its address, or its symbol for ETH.
func (a Asset) ref() string {
	if a.Address != "" {
		return a.Address
	}
	return a.Symbol
}

// Assets are the assets a node knows (Info.Assets).
type Assets []Asset

// Lookup finds an asset by its symbol or token address (case-insensitive).
func (as Assets) Lookup(symbolOrAddress string) (Asset, bool) {
	for _, a := range as {
		if strings.EqualFold(a.Symbol, symbolOrAddress) || (a.Address != "" && strings.EqualFold(a.Address, symbolOrAddress)) {
			return a, true
		}
	}
	return Asset{}, false
}

// errUnknownAsset marks a parse failure the Client may cure by asking the
// node for its assets again.
var errUnknownAsset = errors.New("unknown asset")

// Parse reads an amount with its asset: "0.0025 USD" or "0.0025USD".
// Errors match ErrInvalidArgument.
func (as Assets) Parse(s string) (Amount, error) {
	if len(s) > maxAmountText {
		return Amount{}, fmt.Errorf("%w: amount text longer than %d bytes", ErrInvalidArgument, maxAmountText)
	}
	num, sym, ok := strings.Cut(strings.TrimSpace(s), " ")
	if ok {
		sym = strings.TrimSpace(sym)
	} else if i := strings.IndexFunc(num, func(r rune) bool { return (r < '0' || r > '9') && r != '.' }); i > 0 {
		num, sym = num[:i], num[i:]
	}
	if sym == "" {
		return Amount{}, fmt.Errorf("%w: amount %q: name the asset, as in \"%s USD\"", ErrInvalidArgument, s, num)
	}
	a, found := as.Lookup(sym)
	if !found {
		names := make([]string, len(as))
		for i, a := range as {
			names[i] = a.Symbol
		}
		return Amount{}, fmt.Errorf("%w: %w %q (this node knows %s)", ErrInvalidArgument, errUnknownAsset, sym, strings.Join(names, ", "))
	}
	v, err := a.Parse(num)
	if err != nil {
		return Amount{}, err
	}
	return Amount{Value: v, Asset: a}, nil
}

// Amount is a quantity of one asset: Value base units of Asset.
type Amount struct {
	Value *uint256.Int
	Asset Asset
}

// String writes the amount as people read it: "0.0025 USD".
func (a Amount) String() string { return a.Asset.Format(a.Value) }

// ParseUnits reads a decimal number of units ("12", "0.0025") as base
// units of an asset with the given decimals, exactly: it refuses more
// fractional digits than the asset has, signs, exponents, spaces, and
// values of 2^256 or more. Errors match ErrInvalidArgument.
func ParseUnits(s string, decimals uint32) (*uint256.Int, error) {
	bad := func(why string) (*uint256.Int, error) {
		return nil, fmt.Errorf("%w: amount %q %s", ErrInvalidArgument, s, why)
	}
	if decimals > maxDecimals {
		return bad(fmt.Sprintf("in an asset with %d decimals (at most %d)", decimals, maxDecimals))
	}
	if len(s) > maxAmountText {
		return bad("is too long")
	}
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || (dot && frac == "") || !digits(whole) || !digits(frac) {
		return bad("is not a decimal number (like 12 or 0.0025)")
	}
	if uint32(len(frac)) > decimals {
		return bad(fmt.Sprintf("has more than the asset's %d decimals", decimals))
	}
	all := strings.TrimLeft(whole+frac+strings.Repeat("0", int(decimals)-len(frac)), "0")
	if all == "" {
		return new(uint256.Int), nil
	}
	v, err := uint256.FromDecimal(all)
	if err != nil {
		return bad("does not fit in 256 bits")
	}
	return v, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// FormatUnits writes base units as a decimal number of units of an asset
// with the given decimals, without trailing zeros: 2500 with 6 decimals is
// "0.0025". A nil v is zero. (Decimals above 77, which no uint256 asset
// can use, give scientific notation.)
func FormatUnits(v *uint256.Int, decimals uint32) string {
	if v == nil {
		v = new(uint256.Int)
	}
	s := v.Dec()
	switch {
	case decimals == 0:
		return s
	case decimals > maxDecimals: // no such asset; do not allocate gigabytes of zeros
		return fmt.Sprintf("%se-%d", s, decimals)
	}
	d := int(decimals)
	if len(s) <= d {
		s = strings.Repeat("0", d-len(s)+1) + s
	}
	whole, frac := s[:len(s)-d], strings.TrimRight(s[len(s)-d:], "0")
	if frac == "" {
		return whole
	}
	return whole + "." + frac
}
