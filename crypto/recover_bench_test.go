//go:build cgo && !gofuzz

package crypto

import "testing"

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

// BenchmarkRecover measures one signature recovery (to an address):
// through Recover, and with each back end alone: decred's pure Go (the
// build without cgo) and libsecp256k1 through go-ethereum's cgo binding.
func BenchmarkRecover(b *testing.B) {
	digest, sig := benchSig(b)
	for _, bc := range []struct {
		name string
		f    func(Hash, Signature) (Address, error)
	}{
		{"Recover", Recover},
		{"decred", recoverPureGo},
		{"libsecp256k1", recoverLibsecp256k1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := bc.f(digest, sig); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
