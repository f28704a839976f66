package crypto

import (
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// SignatureLength is the length of a signature: R (32) || S (32) || V (1).
const SignatureLength = 65

// Signature is a recoverable secp256k1 ECDSA signature laid out as
// [R||S||V] with V in {27, 28} and S in the lower half of the curve order.
type Signature [SignatureLength]byte

// ErrInvalidSignature is matched (with errors.Is) by every error that
// Recover and Verify return for a malformed or non-matching signature.
var ErrInvalidSignature = errors.New("invalid signature")

// Reasons a signature is rejected; each also matches ErrInvalidSignature.
var (
	ErrSignatureLength = sigError("wrong length")
	ErrSignatureV      = sigError("V must be 27 or 28")
	ErrSignatureHighS  = sigError("S is in the upper half of the curve order")
	ErrSignatureRange  = sigError("R or S out of range")
	ErrSignatureCurve  = sigError("R is not the x coordinate of a curve point")
	// ErrSignatureInfinity: R, S and V are well formed but the key they
	// recover for the digest is the point at infinity, which is no key.
	ErrSignatureInfinity = sigError("the recovered key is the point at infinity")
	ErrWrongSigner       = sigError("signed by another key")
)

type sigErr struct{ reason string }

func sigError(reason string) error { return &sigErr{reason} }

func (e *sigErr) Error() string        { return "invalid signature: " + e.reason }
func (e *sigErr) Is(target error) bool { return target == ErrInvalidSignature }

// PrivateKey is a secp256k1 private key. Its zero value is not usable; use
// GenerateKey, PrivateKeyFromBytes or a keystore file.
type PrivateKey struct {
	k    *secp256k1.PrivateKey
	addr Address
}

// GenerateKey returns a new random private key.
func GenerateKey() (*PrivateKey, error) {
	k, err := secp256k1.GeneratePrivateKeyFromRand(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return newPrivateKey(k), nil
}

// PrivateKeyFromBytes parses a 32-byte big-endian private scalar. It rejects
// zero and values not below the curve order.
func PrivateKeyFromBytes(b []byte) (*PrivateKey, error) {
	if len(b) != 32 {
		return nil, fmt.Errorf("private key: want 32 bytes, got %d", len(b))
	}
	var s secp256k1.ModNScalar
	if overflow := s.SetByteSlice(b); overflow || s.IsZero() {
		return nil, errors.New("private key: not in [1, N-1]")
	}
	return newPrivateKey(secp256k1.NewPrivateKey(&s)), nil
}

func newPrivateKey(k *secp256k1.PrivateKey) *PrivateKey {
	return &PrivateKey{k: k, addr: pubKeyAddress(k.PubKey())}
}

// Bytes returns the 32-byte big-endian private scalar. Handle with care.
func (k *PrivateKey) Bytes() []byte { return k.k.Serialize() }

// Address returns the Ethereum address of the key.
func (k *PrivateKey) Address() Address { return k.addr }

// PublicKey returns the 65-byte uncompressed public key (0x04 || X || Y).
func (k *PrivateKey) PublicKey() []byte { return k.k.PubKey().SerializeUncompressed() }

// Sign signs a 32-byte digest deterministically (RFC 6979) and returns a
// low-S signature with V in {27, 28}.
func (k *PrivateKey) Sign(digest Hash) (Signature, error) {
	var sig Signature
	compact := ecdsa.SignCompact(k.k, digest[:], false) // [27+recid][R][S], low S
	recid := compact[0] - 27
	if recid > 1 {
		// R overflowed the group order: probability about 2^-128, and
		// ecrecover cannot express it.
		return sig, errors.New("sign: unrepresentable recovery id")
	}
	copy(sig[:64], compact[1:])
	sig[64] = 27 + recid
	return sig, nil
}

// SignatureFromBytes checks the length of b and converts it.
func SignatureFromBytes(b []byte) (Signature, error) {
	var sig Signature
	if len(b) != SignatureLength {
		return sig, fmt.Errorf("%w (%d bytes, want %d)", ErrSignatureLength, len(b), SignatureLength)
	}
	copy(sig[:], b)
	return sig, nil
}

// Recover returns the address that produced sig over digest. It rejects a V
// other than 27 or 28, R or S outside [1, N-1], a high S, an R that is not
// the x coordinate of a point on the curve, and a signature from which the
// point at infinity recovers.
//
// With cgo the recovery itself runs in libsecp256k1 (go-ethereum's binding,
// about four times faster than pure Go); without cgo it runs in decred's
// pure-Go secp256k1. The checks above run in front of either, and both give
// the same address for every signature and the same error for every
// rejected one (FuzzRecoverAgrees).
func Recover(digest Hash, sig Signature) (Address, error) {
	if err := checkSignature(sig); err != nil {
		return Address{}, err
	}
	return recoverChecked(digest, sig)
}

// checkSignature applies the checks that come before recovery, whatever the
// back end: V in {27, 28}, R and S in [1, N-1], S in the lower half.
func checkSignature(sig Signature) error {
	if v := sig[64]; v != 27 && v != 28 {
		return ErrSignatureV
	}
	var r, s secp256k1.ModNScalar
	if overflow := r.SetByteSlice(sig[:32]); overflow || r.IsZero() {
		return ErrSignatureRange
	}
	if overflow := s.SetByteSlice(sig[32:64]); overflow || s.IsZero() {
		return ErrSignatureRange
	}
	if s.IsOverHalfOrder() {
		return ErrSignatureHighS
	}
	return nil
}

// recoverPureGo recovers the signer of a signature that passed
// checkSignature with decred's pure-Go secp256k1. It is the back end
// without cgo and is always compiled, so that the fuzz target can hold the
// fast back end against it.
func recoverPureGo(digest Hash, sig Signature) (Address, error) {
	var compact [SignatureLength]byte
	compact[0] = sig[64] // 27 + recid, uncompressed
	copy(compact[1:], sig[:64])
	pub, _, err := ecdsa.RecoverCompact(compact[:], digest[:])
	if err != nil {
		if errors.Is(err, ecdsa.ErrPointNotOnCurve) {
			return Address{}, recoveryFailed(sig)
		}
		// Unreachable after checkSignature.
		return Address{}, fmt.Errorf("%w: %v", ErrInvalidSignature, err)
	}
	return pubKeyAddress(pub), nil
}

// recoveryFailed says why no key recovers from a signature that passed
// checkSignature: either R is not the x coordinate of a curve point, or the
// recovered point is the point at infinity. Back ends call it on their
// failure path only, so that both report the same reason.
func recoveryFailed(sig Signature) error {
	var x, y secp256k1.FieldVal
	x.SetByteSlice(sig[:32]) // R < N < P: no reduction
	if !secp256k1.DecompressY(&x, false, &y) {
		return ErrSignatureCurve
	}
	return ErrSignatureInfinity
}

// Verify checks that sig is a valid signature over digest by addr.
func Verify(digest Hash, sig Signature, addr Address) error {
	got, err := Recover(digest, sig)
	if err != nil {
		return err
	}
	if got != addr {
		return fmt.Errorf("%w: recovered %s, want %s", ErrWrongSigner, got, addr)
	}
	return nil
}

// PubKeyToAddress returns the address of a 33- or 65-byte serialized public
// key; it fails if the bytes do not encode a point on the curve.
func PubKeyToAddress(pub []byte) (Address, error) {
	p, err := secp256k1.ParsePubKey(pub)
	if err != nil {
		return Address{}, fmt.Errorf("public key: %w", err)
	}
	return pubKeyAddress(p), nil
}

func pubKeyAddress(p *secp256k1.PublicKey) Address {
	return uncompressedAddress(p.SerializeUncompressed())
}

// uncompressedAddress returns the address of a 65-byte uncompressed public
// key (0x04 || X || Y): the last 20 bytes of keccak256(X || Y).
func uncompressedAddress(pub []byte) Address {
	var a Address
	h := Keccak256(pub[1:])
	copy(a[:], h[12:])
	return a
}
