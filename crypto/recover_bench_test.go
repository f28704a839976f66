//go:build cgo && !gofuzz

package crypto

import (
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	gethsecp "github.com/ethereum/go-ethereum/crypto/secp256k1"
)

// benchSig returns a digest and a signature over it by a fresh key.
func benchSig(b *testing.B) (Hash, Signature) {
	b.Helper()
	k, err := GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	digest := Keccak256([]byte("tinypay benchmark"))
	sig, err := k.Sign(digest)
	if err != nil {
		b.Fatal(err)
	}
	return digest, sig
}

// BenchmarkRecover measures one signature recovery: through Recover, and
// with each back end alone (decred's pure Go and libsecp256k1 through
// go-ethereum's cgo binding).
func BenchmarkRecover(b *testing.B) {
	digest, sig := benchSig(b)
	b.Run("Recover", func(b *testing.B) {
		for b.Loop() {
			if _, err := Recover(digest, sig); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decred", func(b *testing.B) {
		var compact [SignatureLength]byte
		compact[0] = sig[64]
		copy(compact[1:], sig[:64])
		for b.Loop() {
			if _, _, err := ecdsa.RecoverCompact(compact[:], digest[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("libsecp256k1", func(b *testing.B) {
		raw := append([]byte(nil), sig[:]...)
		raw[64] -= 27
		for b.Loop() {
			if _, err := gethsecp.RecoverPubkey(digest[:], raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}
