// go-ethereum's binding is built with cgo and without the gofuzz tag; this
// file follows its constraint so that the package builds wherever it does.

//go:build cgo && !gofuzz

package crypto

import (
	"errors"

	gethsecp "github.com/ethereum/go-ethereum/crypto/secp256k1"
)

// recoveryBackend names the library that recovers signers in this build.
const recoveryBackend = "libsecp256k1"

// recoverChecked recovers the signer of a signature that passed
// checkSignature.
func recoverChecked(digest Hash, sig Signature) (Address, error) {
	return recoverLibsecp256k1(digest, sig)
}

// recoverLibsecp256k1 recovers the signer of a signature that passed
// checkSignature with libsecp256k1, through go-ethereum's cgo binding.
func recoverLibsecp256k1(digest Hash, sig Signature) (Address, error) {
	raw := sig
	raw[64] -= 27 // the binding takes the recovery id, 0 or 1
	pub, err := gethsecp.RecoverPubkey(digest[:], raw[:])
	if err != nil {
		return Address{}, recoveryFailed(sig)
	}
	if len(pub) != 65 || pub[0] != 4 {
		// libsecp256k1 always serialises uncompressed; never seen.
		return Address{}, errors.New("libsecp256k1: recovered key is not a 65-byte uncompressed point")
	}
	return uncompressedAddress(pub), nil
}
