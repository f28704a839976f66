package crypto

import (
	"bytes"
	"errors"
	"math/big"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// recoverCase is a digest and a signature with the outcome Recover must give:
// the signer, or an error matching want.
type recoverCase struct {
	name   string
	digest Hash
	sig    Signature
	signer Address // when want is nil
	want   error
}

func word(x *big.Int) (w [32]byte) {
	x.FillBytes(w[:])
	return w
}

func sigOf(r, s [32]byte, v byte) (sig Signature) {
	copy(sig[:32], r[:])
	copy(sig[32:64], s[:])
	sig[64] = v
	return sig
}

// recoverEdgeCases are signatures at the edges of what Recover accepts,
// each with its outcome. They seed FuzzRecoverAgrees too.
func recoverEdgeCases(t testing.TB) []recoverCase {
	t.Helper()
	key, err := PrivateKeyFromBytes(bytes.Repeat([]byte{0x42}, 32))
	if err != nil {
		t.Fatal(err)
	}
	signed := func(name string, digest Hash) recoverCase {
		sig, err := key.Sign(digest)
		if err != nil {
			t.Fatal(err)
		}
		return recoverCase{name: name, digest: digest, sig: sig, signer: key.Address()}
	}
	n := secp256k1.Params().N
	one := word(big.NewInt(1))
	gx := word(secp256k1.Params().Gx)
	if secp256k1.Params().Gy.Bit(0) != 0 {
		t.Fatal("G has an odd y: the cases below assume an even one")
	}
	var allOnes Hash
	for i := range allOnes {
		allOnes[i] = 0xff
	}
	good := signed("signed", Keccak256([]byte("tinypay")))
	withV := func(name string, c recoverCase, v byte, want error) recoverCase {
		c.name, c.sig[64], c.want, c.signer = name, v, want, Address{}
		return c
	}
	offCurve := notOnCurveR(t)
	halfN := word(new(big.Int).Rsh(n, 1))
	return []recoverCase{
		good,
		signed("digest zero", Hash{}),
		signed("digest above N", allOnes), // reduced mod N by both
		signed("digest N", Hash(word(n))),
		withV("V 27 and 28 swapped", good, 27+28-good.sig[64], nil), // recovers another key
		withV("V 0", good, 0, ErrSignatureV),
		withV("V 1", good, 1, ErrSignatureV),
		withV("V 29", good, 29, ErrSignatureV),
		withV("V 31", good, 31, ErrSignatureV),
		withV("V 255", good, 255, ErrSignatureV),
		{name: "R zero", digest: good.digest, sig: sigOf([32]byte{}, one, 27), want: ErrSignatureRange},
		{name: "S zero", digest: good.digest, sig: sigOf(gx, [32]byte{}, 27), want: ErrSignatureRange},
		{name: "R = N", digest: good.digest, sig: sigOf(word(n), one, 27), want: ErrSignatureRange},
		{name: "S = N", digest: good.digest, sig: sigOf(gx, word(n), 27), want: ErrSignatureRange},
		{name: "R all ones", digest: good.digest, sig: sigOf(allOnes, one, 27), want: ErrSignatureRange},
		{name: "S = N/2 + 1", digest: good.digest, sig: sigOf(gx, word(new(big.Int).Add(new(big.Int).Rsh(n, 1), big.NewInt(1))), 27), want: ErrSignatureHighS},
		{name: "S = N - 1", digest: good.digest, sig: sigOf(gx, word(new(big.Int).Sub(n, big.NewInt(1))), 28), want: ErrSignatureHighS},
		{name: "R off the curve", digest: good.digest, sig: sigOf(offCurve, one, 27), want: ErrSignatureCurve},
		{name: "R off the curve, V 28", digest: good.digest, sig: sigOf(offCurve, halfN, 28), want: ErrSignatureCurve},
		// Q = R^-1 (S*R - e*G): with R = G (even y), S = 1 and e = 1 it is
		// the point at infinity; with R = -G (V 28), S = 1 and e = -1 too.
		{name: "point at infinity, R = G", digest: Hash(one), sig: sigOf(gx, one, 27), want: ErrSignatureInfinity},
		{name: "point at infinity, R = -G", digest: Hash(word(new(big.Int).Sub(n, big.NewInt(1)))), sig: sigOf(gx, one, 28), want: ErrSignatureInfinity},
		{name: "point at infinity, S = N/2", digest: Hash(halfN), sig: sigOf(gx, halfN, 27), want: ErrSignatureInfinity},
	}
}

// TestRecoverEdgeCases checks the outcome of every edge case with this
// build's back end (libsecp256k1 with cgo, decred without).
func TestRecoverEdgeCases(t *testing.T) {
	t.Logf("recovery back end: %s", recoveryBackend)
	for _, c := range recoverEdgeCases(t) {
		t.Run(c.name, func(t *testing.T) {
			got, err := Recover(c.digest, c.sig)
			if c.want != nil {
				if !errors.Is(err, c.want) || !errors.Is(err, ErrInvalidSignature) {
					t.Fatalf("Recover = %s, %v; want %v", got, err, c.want)
				}
				if got != (Address{}) {
					t.Fatalf("Recover returned address %s with error %v", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Recover: %v", err)
			}
			if c.signer != (Address{}) && got != c.signer {
				t.Fatalf("Recover = %s, want %s", got, c.signer)
			}
			if c.signer == (Address{}) && got == (Address{}) {
				t.Fatal("Recover returned the zero address")
			}
		})
	}
}
