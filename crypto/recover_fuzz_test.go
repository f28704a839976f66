//go:build cgo && !gofuzz

package crypto

import (
	"bytes"
	"errors"
	"testing"
)

// recoverWith runs Recover's checks and then the given back end.
func recoverWith(backend func(Hash, Signature) (Address, error), digest Hash, sig Signature) (Address, error) {
	if err := checkSignature(sig); err != nil {
		return Address{}, err
	}
	return backend(digest, sig)
}

// agree fails unless the two back ends' outcomes are the same: the same
// address, or the same error.
func agree(t *testing.T, what string, digest Hash, sig Signature, pure Address, errPure error, fast Address, errFast error) {
	t.Helper()
	if pure != fast || (errPure == nil) != (errFast == nil) || errPure != nil && errPure.Error() != errFast.Error() {
		t.Fatalf("%s: back ends disagree on digest %x signature %x:\n decred:       %s, %v\n libsecp256k1: %s, %v",
			what, digest[:], sig[:], pure, errPure, fast, errFast)
	}
}

// FuzzRecoverAgrees holds libsecp256k1 (the back end with cgo) against
// decred's pure Go (the back end without cgo): for any digest and any
// 65-byte signature, or a signature made by a real key with bytes flipped,
// both must recover the same address or reject with the same error.
//
// Inputs: digest (zero-padded or cut to 32 bytes); sig (likewise to 65
// bytes), used when key is not a valid private key; key, a 32-byte private
// key that signs the digest; flips, pairs of (position mod 65, xor mask)
// applied to the signature.
func FuzzRecoverAgrees(f *testing.F) {
	for _, c := range recoverEdgeCases(f) {
		f.Add(c.digest[:], c.sig[:], []byte(nil), []byte(nil))
	}
	key := bytes.Repeat([]byte{0x42}, 32)
	digest := Keccak256([]byte("tinypay"))
	for _, flips := range [][]byte{
		nil,
		{64, 1 ^ 2},         // V 27 <-> 28 (the other parity: another key)
		{64, 27 ^ 1},        // V 27 -> 1
		{0, 0x80},           // top bit of R
		{31, 0x01},          // bottom bit of R
		{32, 0x80},          // top bit of S: high S
		{63, 0x01},          // bottom bit of S
		{0, 0xff, 32, 0xff}, // R and S near the top
	} {
		f.Add(digest[:], []byte(nil), key, flips)
	}
	f.Add(make([]byte, 32), []byte(nil), bytes.Repeat([]byte{0xff}, 32), []byte(nil))            // key >= N: not a key
	f.Add(bytes.Repeat([]byte{0xff}, 32), []byte(nil), append(make([]byte, 31), 1), []byte(nil)) // key 1

	f.Fuzz(func(t *testing.T, digestIn, sigIn, keyIn, flips []byte) {
		var digest Hash
		copy(digest[:], digestIn)
		var sig Signature
		var signer Address // the key that made sig, if one did and no flip changed it
		if k, err := PrivateKeyFromBytes(keyIn); err == nil {
			if sig, err = k.Sign(digest); err != nil {
				t.Skip("unrepresentable recovery id")
			}
			signer = k.Address()
		} else {
			copy(sig[:], sigIn)
		}
		orig := sig
		for i := 0; i+1 < len(flips); i += 2 {
			sig[int(flips[i])%SignatureLength] ^= flips[i+1]
		}
		if sig != orig {
			signer = Address{}
		}

		pure, errPure := recoverWith(recoverPureGo, digest, sig)
		fast, errFast := recoverWith(recoverLibsecp256k1, digest, sig)
		agree(t, "Recover's checks and back end", digest, sig, pure, errPure, fast, errFast)
		if errPure != nil && !errors.Is(errPure, ErrInvalidSignature) {
			t.Fatalf("error %v does not match ErrInvalidSignature", errPure)
		}
		if signer != (Address{}) && (errPure != nil || pure != signer) {
			t.Fatalf("signature by %s recovers %s, %v", signer, pure, errPure)
		}
		if got, err := Recover(digest, sig); got != fast || (err == nil) != (errFast == nil) {
			t.Fatalf("Recover = %s, %v; the %s back end gave %s, %v", got, err, recoveryBackend, fast, errFast)
		}
		if errors.Is(errPure, ErrSignatureHighS) {
			// Mathematically valid still: the back ends alone must agree.
			pure, errPure := recoverPureGo(digest, sig)
			fast, errFast := recoverLibsecp256k1(digest, sig)
			agree(t, "high S, back ends alone", digest, sig, pure, errPure, fast, errFast)
		}
	})
}
