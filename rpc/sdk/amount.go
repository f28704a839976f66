package sdk

import (
	"errors"
	"fmt"
	"strings"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
)

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
// fractional digits than the asset has, commas, signs, exponents, spaces,
// and values of 2^256 or more, saying why in words. Errors match
// ErrInvalidArgument.
func ParseUnits(s string, decimals uint32) (*uint256.Int, error) {
	v, err := channel.ParseUnits(s, decimals)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	return v, nil
}

// FormatUnits writes base units as a decimal number of units of an asset
// with the given decimals, without trailing zeros: 2500 with 6 decimals is
// "0.0025". A nil v is zero.
func FormatUnits(v *uint256.Int, decimals uint32) string { return channel.FormatUnits(v, decimals) }
