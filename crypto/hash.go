package crypto

import (
	"encoding/hex"
	"fmt"
	"strings"

	"golang.org/x/crypto/sha3"
)

// HashLength is the length of a Keccak-256 hash in bytes.
const HashLength = 32

// Hash is a Keccak-256 hash, also used for 32-byte identifiers such as
// channel ids.
type Hash [HashLength]byte

// Keccak256 returns the legacy Keccak-256 hash (as used by Ethereum, not
// SHA3-256) of the concatenation of data.
func Keccak256(data ...[]byte) Hash {
	var h Hash
	d := sha3.NewLegacyKeccak256()
	for _, b := range data {
		d.Write(b)
	}
	d.Sum(h[:0])
	return h
}

// Hex returns the hash as 0x-prefixed lowercase hex.
func (h Hash) Hex() string { return "0x" + hex.EncodeToString(h[:]) }

// String implements fmt.Stringer.
func (h Hash) String() string { return h.Hex() }

// IsZero reports whether h is all zeros.
func (h Hash) IsZero() bool { return h == Hash{} }

// ParseHash parses a 32-byte hash written as hex, with or without 0x.
func ParseHash(s string) (Hash, error) {
	var h Hash
	raw := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if len(raw) != 2*HashLength {
		return h, fmt.Errorf("parse hash %q: want %d hex digits, got %d", s, 2*HashLength, len(raw))
	}
	if _, err := hex.Decode(h[:], []byte(raw)); err != nil {
		return h, fmt.Errorf("parse hash %q: %w", s, err)
	}
	return h, nil
}

// HashFromBytes converts b to a Hash; b must be exactly 32 bytes long.
func HashFromBytes(b []byte) (Hash, error) {
	var h Hash
	if len(b) != HashLength {
		return h, fmt.Errorf("hash: want %d bytes, got %d", HashLength, len(b))
	}
	copy(h[:], b)
	return h, nil
}
