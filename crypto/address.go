package crypto

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// AddressLength is the length of an Ethereum address in bytes.
const AddressLength = 20

// Address is an Ethereum-style account address: the last 20 bytes of the
// Keccak-256 hash of the uncompressed public key.
type Address [AddressLength]byte

// Hex returns the address in EIP-55 mixed-case checksum encoding.
func (a Address) Hex() string {
	var lower [2 * AddressLength]byte
	hex.Encode(lower[:], a[:])
	sum := Keccak256(lower[:])
	out := make([]byte, 2, 2+len(lower))
	out[0], out[1] = '0', 'x'
	for i, c := range lower {
		nibble := sum[i/2]
		if i%2 == 0 {
			nibble >>= 4
		}
		if c >= 'a' && nibble&0xf >= 8 {
			c -= 'a' - 'A'
		}
		out = append(out, c)
	}
	return string(out)
}

// String implements fmt.Stringer with the EIP-55 form.
func (a Address) String() string { return a.Hex() }

// IsZero reports whether a is the zero address.
func (a Address) IsZero() bool { return a == Address{} }

// ParseAddress parses a 0x-prefixed (or bare) hex address. An all-lowercase or
// all-uppercase address is accepted as is; a mixed-case address must carry a
// valid EIP-55 checksum, so that a mistyped address is caught.
func ParseAddress(s string) (Address, error) {
	var a Address
	raw := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if len(raw) != 2*AddressLength {
		return a, fmt.Errorf("parse address %q: want %d hex digits, got %d", s, 2*AddressLength, len(raw))
	}
	if _, err := hex.Decode(a[:], []byte(raw)); err != nil {
		return a, fmt.Errorf("parse address %q: %w", s, err)
	}
	if raw != strings.ToLower(raw) && raw != strings.ToUpper(raw) {
		if a.Hex()[2:] != raw {
			return Address{}, fmt.Errorf("parse address %q: bad EIP-55 checksum (want %s)", s, a.Hex())
		}
	}
	return a, nil
}

// AddressFromBytes converts b to an Address; b must be exactly 20 bytes.
func AddressFromBytes(b []byte) (Address, error) {
	var a Address
	if len(b) != AddressLength {
		return a, fmt.Errorf("address: want %d bytes, got %d", AddressLength, len(b))
	}
	copy(a[:], b)
	return a, nil
}
