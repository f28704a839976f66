package channel

import (
	"errors"
	"fmt"
	"strings"

	"github.com/holiman/uint256"
)

// MaxDecimals is the most decimals an asset can have for its base unit to
// be meaningful in 256 bits (2^256 has 78 digits).
const MaxDecimals = 77

// maxAmountText bounds the length of an amount text.
const maxAmountText = 200

// ErrInvalidAmount: an amount text is not an amount of the asset.
var ErrInvalidAmount = errors.New("invalid amount")

// AmountError says, in words, why an amount text was refused. It matches
// ErrInvalidAmount.
type AmountError struct {
	Text string // what was given (cut to a readable length)
	Why  string // "has more than 6 decimals", "is too large", ...
}

func (e *AmountError) Error() string { return fmt.Sprintf("amount %q %s", e.Text, e.Why) }

// Is makes errors.Is(err, ErrInvalidAmount) true.
func (e *AmountError) Is(target error) bool { return target == ErrInvalidAmount }

// ParseUnits reads a decimal number of units ("12", "0.0025") as base
// units of an asset with the given decimals, exactly. It is the one parser
// of amounts people write: it refuses, with an *AmountError that says why,
// more fractional digits than the asset has, a comma for the point or
// thousands, signs, exponents, spaces, and values of 2^256 base units or
// more. Zero parses; whether zero is allowed is the caller's rule.
func ParseUnits(s string, decimals uint32) (*uint256.Int, error) {
	bad := func(format string, args ...any) (*uint256.Int, error) {
		text := s
		if len(text) > 40 {
			text = text[:37] + "..."
		}
		return nil, &AmountError{Text: text, Why: fmt.Sprintf(format, args...)}
	}
	switch {
	case decimals > MaxDecimals:
		return bad("is in an asset with %d decimals (at most %d)", decimals, MaxDecimals)
	case len(s) > maxAmountText:
		return bad("is too long")
	case s == "":
		return bad("is empty")
	case strings.HasPrefix(s, "-"):
		return bad("is negative")
	case strings.Contains(s, ","):
		return bad("has a comma: use a dot for decimals (1.5) and no thousands separators")
	case strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X"):
		return bad("is hexadecimal: write a decimal number")
	case isExponent(s):
		return bad("has an exponent: write the number out (0.001, not 1e-3)")
	}
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" && frac != "" {
		whole = "0" // ".5" is 0.5
	}
	if whole == "" || (dot && frac == "") || !isDigits(whole) || !isDigits(frac) {
		return bad("is not a number (write it like 12 or 0.0025)")
	}
	if uint32(len(frac)) > decimals {
		if decimals == 0 {
			return bad("has decimals, but the asset has none")
		}
		return bad("has more than %d decimals", decimals)
	}
	all := strings.TrimLeft(whole+frac+strings.Repeat("0", int(decimals)-len(frac)), "0")
	if all == "" {
		return new(uint256.Int), nil
	}
	v, err := uint256.FromDecimal(all)
	if err != nil {
		return bad("is too large (more than 2^256 - 1 base units)")
	}
	return v, nil
}

// isExponent reports whether s looks like 1e-3 or 2.5E6.
func isExponent(s string) bool {
	m, e, ok := strings.Cut(strings.ToLower(s), "e")
	e = strings.TrimLeft(e, "+-")
	return ok && m != "" && e != "" && isDigits(strings.Replace(m, ".", "", 1)) && isDigits(e)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// FormatUnits writes base units as a decimal number of units of an asset
// with the given decimals, without trailing zeros: 2500 with 6 decimals is
// "0.0025". A nil v is zero. (Decimals above MaxDecimals, which no asset
// can use, give scientific notation.)
func FormatUnits(v *uint256.Int, decimals uint32) string {
	if v == nil {
		v = new(uint256.Int)
	}
	s := v.Dec()
	switch {
	case decimals == 0:
		return s
	case decimals > MaxDecimals: // no such asset; do not allocate gigabytes of zeros
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
