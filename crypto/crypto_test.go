package crypto

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"strings"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/ethereum/go-ethereum/accounts/abi"
	gethcommon "github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/math"
	gethcrypto "github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"
	"github.com/holiman/uint256"
)

// secp256k1 group order and half order.
var (
	curveN, _ = new(big.Int).SetString("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", 16)
)

func mustKey(t testing.TB) *PrivateKey {
	t.Helper()
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestAddressEIP55(t *testing.T) {
	// Vectors from EIP-55.
	for _, want := range []string{
		"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
		"0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
		"0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
		"0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
		"0x52908400098527886E0F7030069857D2E4169EE7",
		"0x8617E340B3D01FA5F11F306F4090FD50E238070D",
		"0xde709f2102306220921060314715629080e2fb77",
		"0x27b1fdb04752bbc536007a920d24acb045561c26",
	} {
		a, err := ParseAddress(strings.ToLower(want))
		if err != nil {
			t.Fatalf("parse %s: %v", want, err)
		}
		if got := a.Hex(); got != want {
			t.Errorf("Hex() = %s, want %s", got, want)
		}
		if got := gethcommon.Address(a).Hex(); got != want {
			t.Errorf("geth Hex() = %s, want %s", got, want)
		}
		if _, err := ParseAddress(want); err != nil {
			t.Errorf("checksummed %s rejected: %v", want, err)
		}
	}
}

func TestParseAddressRejects(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"empty", ""},
		{"short", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeA"},
		{"long", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed00"},
		{"not hex", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeZ"},
		{"bad checksum", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseAddress(tc.in); err == nil {
				t.Fatalf("ParseAddress(%q) succeeded", tc.in)
			}
		})
	}
}

func TestSignMatchesGeth(t *testing.T) {
	for range 50 {
		k := mustKey(t)
		var digest Hash
		for i := range digest {
			digest[i] = byte(mrand.IntN(256))
		}
		sig, err := k.Sign(digest)
		if err != nil {
			t.Fatal(err)
		}
		if v := sig[64]; v != 27 && v != 28 {
			t.Fatalf("V = %d", v)
		}
		if new(big.Int).SetBytes(sig[32:64]).Cmp(new(big.Int).Rsh(curveN, 1)) > 0 {
			t.Fatal("high S produced")
		}
		// geth agrees on the address and the signer.
		gk, err := gethcrypto.ToECDSA(k.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if gethcrypto.PubkeyToAddress(gk.PublicKey) != gethcommon.Address(k.Address()) {
			t.Fatal("address differs from geth")
		}
		gsig := append([]byte(nil), sig[:]...)
		gsig[64] -= 27
		pub, err := gethcrypto.Ecrecover(digest[:], gsig)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := PubKeyToAddress(pub); got != k.Address() {
			t.Fatal("geth recovered another signer")
		}
		// Both are RFC 6979 deterministic with low S: identical bytes.
		want, err := gethcrypto.Sign(digest[:], gk)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(want[:64], sig[:64]) || want[64]+27 != sig[64] {
			t.Fatalf("signature differs from geth:\n got %x\nwant %x", sig, want)
		}
		if err := Verify(digest, sig, k.Address()); err != nil {
			t.Fatal(err)
		}
	}
}

// notOnCurveR returns an R below N that is not the x coordinate of any point.
func notOnCurveR(t testing.TB) [32]byte {
	for i := uint64(1); ; i++ {
		var x secp256k1.FieldVal
		var b [32]byte
		b[31] = byte(i)
		b[30] = byte(i >> 8)
		x.SetBytes(&b)
		var y secp256k1.FieldVal
		if !secp256k1.DecompressY(&x, false, &y) {
			return b
		}
	}
}

func TestRecoverRejects(t *testing.T) {
	k := mustKey(t)
	digest := Keccak256([]byte("tinypay"))
	good, err := k.Sign(digest)
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(s *Signature)) Signature {
		s := good
		f(&s)
		return s
	}
	highS := mutate(func(s *Signature) {
		v := new(big.Int).Sub(curveN, new(big.Int).SetBytes(s[32:64]))
		v.FillBytes(s[32:64])
		s[64] = 27 + 28 - s[64] // the flipped-S signature is valid for the other parity
	})
	// Sanity: geth's (permissive) recovery accepts the malleated signature.
	gs := append([]byte(nil), highS[:]...)
	gs[64] -= 27
	if _, err := gethcrypto.Ecrecover(digest[:], gs); err != nil {
		t.Fatalf("malleated signature should be mathematically valid: %v", err)
	}
	offCurve := notOnCurveR(t)
	nBytes := curveN.Bytes()
	for _, tc := range []struct {
		name string
		sig  Signature
		want error
	}{
		{"high S", highS, ErrSignatureHighS},
		{"V 0", mutate(func(s *Signature) { s[64] = 0 }), ErrSignatureV},
		{"V 1", mutate(func(s *Signature) { s[64] = 1 }), ErrSignatureV},
		{"V 29", mutate(func(s *Signature) { s[64] = 29 }), ErrSignatureV},
		{"V 31 (compressed flag)", mutate(func(s *Signature) { s[64] = 31 }), ErrSignatureV},
		{"R zero", mutate(func(s *Signature) { clear(s[:32]) }), ErrSignatureRange},
		{"S zero", mutate(func(s *Signature) { clear(s[32:64]) }), ErrSignatureRange},
		{"R = N", mutate(func(s *Signature) { copy(s[:32], nBytes) }), ErrSignatureRange},
		{"S = N", mutate(func(s *Signature) { copy(s[32:64], nBytes) }), ErrSignatureRange},
		{"R not on curve", mutate(func(s *Signature) { copy(s[:32], offCurve[:]) }), ErrSignatureCurve},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Recover(digest, tc.sig)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Recover error = %v, want %v", err, tc.want)
			}
			if !errors.Is(err, ErrInvalidSignature) {
				t.Fatalf("error %v does not match ErrInvalidSignature", err)
			}
			if err := Verify(digest, tc.sig, k.Address()); !errors.Is(err, ErrInvalidSignature) {
				t.Fatalf("Verify error = %v", err)
			}
		})
	}
	t.Run("wrong length", func(t *testing.T) {
		for _, n := range []int{0, 64, 66} {
			if _, err := SignatureFromBytes(make([]byte, n)); !errors.Is(err, ErrSignatureLength) {
				t.Fatalf("len %d: %v", n, err)
			}
		}
	})
	t.Run("other digest", func(t *testing.T) {
		err := Verify(Keccak256([]byte("other")), good, k.Address())
		if !errors.Is(err, ErrWrongSigner) {
			t.Fatalf("Verify = %v, want ErrWrongSigner", err)
		}
	})
	t.Run("other signer", func(t *testing.T) {
		err := Verify(digest, good, mustKey(t).Address())
		if !errors.Is(err, ErrWrongSigner) {
			t.Fatalf("Verify = %v, want ErrWrongSigner", err)
		}
	})
}

func TestPrivateKeyFromBytes(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"short", make([]byte, 31)},
		{"zero", make([]byte, 32)},
		{"order", curveN.Bytes()},
		{"all ones", bytes.Repeat([]byte{0xff}, 32)},
	} {
		if _, err := PrivateKeyFromBytes(tc.b); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	k := mustKey(t)
	k2, err := PrivateKeyFromBytes(k.Bytes())
	if err != nil || k2.Address() != k.Address() {
		t.Fatalf("round trip: %v", err)
	}
	if a, err := PubKeyToAddress(k.PublicKey()); err != nil || a != k.Address() {
		t.Fatalf("PubKeyToAddress: %v", err)
	}
	if _, err := PubKeyToAddress(append([]byte{4}, make([]byte, 64)...)); err == nil {
		t.Fatal("PubKeyToAddress accepted a point off the curve")
	}
}

func randWord(r *mrand.Rand) *uint256.Int {
	switch r.IntN(4) {
	case 0:
		return uint256.NewInt(0)
	case 1:
		return new(uint256.Int).SetAllOne()
	default:
		return &uint256.Int{r.Uint64(), r.Uint64(), r.Uint64(), r.Uint64() >> r.IntN(64)}
	}
}

func randBytes32(r *mrand.Rand) Hash {
	var h Hash
	for i := range h {
		h[i] = byte(r.IntN(256))
	}
	return h
}

func gethDomain(chainID uint64, contract Address) apitypes.TypedDataDomain {
	return apitypes.TypedDataDomain{
		Name:              DomainName,
		Version:           DomainVersion,
		ChainId:           math.NewHexOrDecimal256(int64(chainID)),
		VerifyingContract: gethcommon.Address(contract).Hex(),
	}
}

var gethTypes = apitypes.Types{
	"EIP712Domain": {
		{Name: "name", Type: "string"},
		{Name: "version", Type: "string"},
		{Name: "chainId", Type: "uint256"},
		{Name: "verifyingContract", Type: "address"},
	},
	"BalanceProof": {
		{Name: "channelId", Type: "bytes32"},
		{Name: "nonce", Type: "uint64"},
		{Name: "transferred", Type: "uint256"},
	},
	"CooperativeClose": {
		{Name: "channelId", Type: "bytes32"},
		{Name: "balanceA", Type: "uint256"},
		{Name: "balanceB", Type: "uint256"},
		{Name: "expiry", Type: "uint64"},
	},
	"Withdraw": {
		{Name: "channelId", Type: "bytes32"},
		{Name: "participant", Type: "address"},
		{Name: "totalWithdrawn", Type: "uint256"},
		{Name: "expiry", Type: "uint64"},
	},
	"Receipt": {
		{Name: "channelId", Type: "bytes32"},
		{Name: "paymentId", Type: "bytes32"},
		{Name: "payer", Type: "address"},
		{Name: "payee", Type: "address"},
		{Name: "asset", Type: "address"},
		{Name: "amount", Type: "uint256"},
		{Name: "cumulative", Type: "uint256"},
		{Name: "itemId", Type: "string"},
		{Name: "offerId", Type: "bytes32"},
		{Name: "time", Type: "uint64"},
	},
	"Offer": {
		{Name: "offerId", Type: "bytes32"},
		{Name: "payee", Type: "address"},
		{Name: "itemId", Type: "string"},
		{Name: "asset", Type: "address"},
		{Name: "price", Type: "uint256"},
		{Name: "expiry", Type: "uint64"},
	},
	"ReusableOffer": {
		{Name: "offerId", Type: "bytes32"},
		{Name: "payee", Type: "address"},
		{Name: "itemId", Type: "string"},
		{Name: "asset", Type: "address"},
		{Name: "price", Type: "uint256"},
		{Name: "expiry", Type: "uint64"},
		{Name: "uses", Type: "uint8"},
		{Name: "maxUses", Type: "uint32"},
	},
}

func gethDigest(t *testing.T, dom apitypes.TypedDataDomain, primary string, msg apitypes.TypedDataMessage) Hash {
	t.Helper()
	h, _, err := apitypes.TypedDataAndHash(apitypes.TypedData{
		Types: gethTypes, PrimaryType: primary, Domain: dom, Message: msg,
	})
	if err != nil {
		t.Fatal(err)
	}
	var out Hash
	copy(out[:], h)
	return out
}

// TestDigestsMatchGeth checks every typed digest against go-ethereum's
// EIP-712 implementation, which the contract's encoding also follows.
func TestDigestsMatchGeth(t *testing.T) {
	r := mrand.New(mrand.NewPCG(1, 2))
	for i := range 200 {
		chainID := r.Uint64() >> 1 // apitypes takes an int64 here
		if i == 0 {
			chainID = 1337
		}
		rc := randBytes32(r)
		contract := Address(rc[:20])
		dom := NewDomain(chainID, contract)
		gdom := gethDomain(chainID, contract)
		if sep, err := (&apitypes.TypedData{Types: gethTypes, Domain: gdom}).HashStruct("EIP712Domain", gdom.Map()); err != nil || !bytes.Equal(sep, sepBytes(dom)) {
			t.Fatalf("domain separator differs: %x vs %x (%v)", sep, dom.Separator(), err)
		}
		id := randBytes32(r)
		nonce := r.Uint64()
		a, b := randWord(r), randWord(r)
		expiry := r.Uint64()
		rw := randBytes32(r)
		who := Address(rw[:20])

		got := dom.BalanceProofDigest(id, nonce, a)
		want := gethDigest(t, gdom, "BalanceProof", apitypes.TypedDataMessage{
			"channelId": id[:], "nonce": new(big.Int).SetUint64(nonce), "transferred": a.ToBig(),
		})
		if got != want {
			t.Fatalf("BalanceProof digest %s, geth %s", got, want)
		}
		got = dom.CooperativeCloseDigest(id, a, b, expiry)
		want = gethDigest(t, gdom, "CooperativeClose", apitypes.TypedDataMessage{
			"channelId": id[:], "balanceA": a.ToBig(), "balanceB": b.ToBig(), "expiry": new(big.Int).SetUint64(expiry),
		})
		if got != want {
			t.Fatalf("CooperativeClose digest %s, geth %s", got, want)
		}
		got = dom.WithdrawDigest(id, who, b, expiry)
		want = gethDigest(t, gdom, "Withdraw", apitypes.TypedDataMessage{
			"channelId": id[:], "participant": gethcommon.Address(who).Hex(), "totalWithdrawn": b.ToBig(), "expiry": new(big.Int).SetUint64(expiry),
		})
		if got != want {
			t.Fatalf("Withdraw digest %s, geth %s", got, want)
		}
		pid, oid := randBytes32(r), randBytes32(r)
		rp, rq := randBytes32(r), randBytes32(r)
		item := fmt.Sprintf("item-%d-ü", r.Uint64())
		rf := ReceiptFields{Channel: id, Payment: pid, Payer: Address(rp[:20]), Payee: Address(rq[:20]), Asset: who, Amount: *a, Cumulative: *b, ItemID: item, Offer: oid, Time: expiry}
		got = dom.ReceiptDigest(&rf)
		want = gethDigest(t, gdom, "Receipt", apitypes.TypedDataMessage{
			"channelId": id[:], "paymentId": pid[:], "payer": gethcommon.Address(rf.Payer).Hex(), "payee": gethcommon.Address(rf.Payee).Hex(), "asset": gethcommon.Address(rf.Asset).Hex(),
			"amount": a.ToBig(), "cumulative": b.ToBig(), "itemId": item, "offerId": oid[:], "time": new(big.Int).SetUint64(expiry),
		})
		if got != want {
			t.Fatalf("Receipt digest %s, geth %s", got, want)
		}
		of := OfferFields{Offer: oid, Payee: who, ItemID: item, Asset: Address(rp[:20]), Price: *a, Expiry: expiry}
		got = dom.OfferDigest(&of)
		want = gethDigest(t, gdom, "Offer", apitypes.TypedDataMessage{
			"offerId": oid[:], "payee": gethcommon.Address(who).Hex(), "itemId": item, "asset": gethcommon.Address(of.Asset).Hex(),
			"price": a.ToBig(), "expiry": new(big.Int).SetUint64(expiry),
		})
		if got != want {
			t.Fatalf("Offer digest %s, geth %s", got, want)
		}
		// A reusable offer: every policy but once, with random uses.
		of.Uses, of.MaxUses = OfferUses(1+r.IntN(3)), r.Uint32()
		got = dom.OfferDigest(&of)
		want = gethDigest(t, gdom, "ReusableOffer", apitypes.TypedDataMessage{
			"offerId": oid[:], "payee": gethcommon.Address(who).Hex(), "itemId": item, "asset": gethcommon.Address(of.Asset).Hex(),
			"price": a.ToBig(), "expiry": new(big.Int).SetUint64(expiry),
			"uses": new(big.Int).SetUint64(uint64(of.Uses)), "maxUses": new(big.Int).SetUint64(uint64(of.MaxUses)),
		})
		if got != want {
			t.Fatalf("ReusableOffer digest %s, geth %s (uses %d, max %d)", got, want, of.Uses, of.MaxUses)
		}
	}
}

// TestCheckUses: the use policies a payee signs, and what is refused.
func TestCheckUses(t *testing.T) {
	for _, tc := range []struct {
		uses OfferUses
		max  uint32
		ok   bool
	}{
		{OfferOnce, 0, true},                    // the default
		{OfferOnce, 1, false},                   // max uses is not signed for once
		{OfferPerPayer, 0, true},                // once per payer
		{OfferPerPayer, 2, false},               // no count with per-payer
		{OfferLimited, 2, true},                 // the fewest a limited offer takes
		{OfferLimited, MaxOfferUses, true},      // the most
		{OfferLimited, 1, false},                // one use is a once-only offer
		{OfferLimited, 0, false},                // no count
		{OfferLimited, MaxOfferUses + 1, false}, // over the bound
		{OfferUnlimited, 0, true},               // anyone, any number of times
		{OfferUnlimited, 5, false},              // no count with unlimited
		{OfferUnlimited + 1, 0, false},          // an unknown policy
	} {
		f := OfferFields{Uses: tc.uses, MaxUses: tc.max}
		if err := f.CheckUses(); (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrBadOfferUses)) {
			t.Errorf("uses %d max %d: %v, want ok=%v", tc.uses, tc.max, err, tc.ok)
		}
	}
}

// TestOnceOfferDigestStable pins the digest of a once-only offer to the
// value it had before offers had a use policy: offers signed then stay
// valid, and a once-only offer's MaxUses is not signed. Reusable offers
// sign their policy, so no two policies share a digest.
func TestOnceOfferDigestStable(t *testing.T) {
	var c, payee, asset Address
	var id Hash
	for i := range c {
		c[i], payee[i], asset[i] = byte(0xa0+i), byte(0x10+i), byte(0x30+i)
	}
	for i := range id {
		id[i] = byte(i + 1)
	}
	dom := NewDomain(1337, c)
	f := OfferFields{Offer: id, Payee: payee, ItemID: "song-42", Asset: asset, Price: *uint256.NewInt(250000), Expiry: 1700000000}
	// Computed with the code before use policies (commit 016ed8a).
	const want = "0x4a8d1488093d98555281940b29e60952cb1d42a78f742b602d4362efe89145c6"
	if got := dom.OfferDigest(&f).Hex(); got != want {
		t.Fatalf("once-only offer digest %s, want %s as before", got, want)
	}
	f.MaxUses = 7 // not signed for a once-only offer
	if got := dom.OfferDigest(&f).Hex(); got != want {
		t.Fatalf("once-only offer digest with MaxUses set: %s, want %s", got, want)
	}
	if err := f.CheckUses(); !errors.Is(err, ErrBadOfferUses) {
		t.Fatalf("a once-only offer with max uses 7: %v, want ErrBadOfferUses (verifiers must refuse it)", err)
	}
	seen := map[Hash]string{}
	for _, p := range []struct {
		uses OfferUses
		max  uint32
	}{{OfferOnce, 0}, {OfferPerPayer, 0}, {OfferLimited, 2}, {OfferLimited, 3}, {OfferUnlimited, 0}} {
		f.Uses, f.MaxUses = p.uses, p.max
		if err := f.CheckUses(); err != nil {
			t.Fatalf("uses %d max %d: %v", p.uses, p.max, err)
		}
		h := dom.OfferDigest(&f)
		name := fmt.Sprintf("uses %d max %d", p.uses, p.max)
		if prev, ok := seen[h]; ok {
			t.Fatalf("%s and %s share a digest", name, prev)
		}
		seen[h] = name
	}
}

// TestDigestsSeparate checks that changing any one input changes the digest,
// so no signature can be replayed across chains, contracts, channels or kinds.
func TestDigestsSeparate(t *testing.T) {
	var c1, c2 Address
	c1[0], c2[0] = 1, 2
	id1, id2 := Hash{1}, Hash{2}
	one := uint256.NewInt(1)
	seen := map[Hash]string{}
	add := func(name string, h Hash) {
		if prev, ok := seen[h]; ok {
			t.Fatalf("%s and %s share a digest", name, prev)
		}
		seen[h] = name
	}
	for _, d := range []struct {
		name string
		dom  Domain
	}{{"chain1/c1", NewDomain(1, c1)}, {"chain2/c1", NewDomain(2, c1)}, {"chain1/c2", NewDomain(1, c2)}} {
		for _, id := range []Hash{id1, id2} {
			n := d.name + "/" + id.Hex()[:4]
			add(n+"/proof", d.dom.BalanceProofDigest(id, 1, one))
			add(n+"/close", d.dom.CooperativeCloseDigest(id, one, one, 1))
			add(n+"/withdraw", d.dom.WithdrawDigest(id, c1, one, 1))
		}
	}
}

func TestHexHelpers(t *testing.T) {
	h := Keccak256([]byte("abc"))
	// Known Keccak-256("abc").
	if h.Hex() != "0x4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45" {
		t.Fatalf("keccak(abc) = %s", h)
	}
	p, err := ParseHash(h.Hex())
	if err != nil || p != h {
		t.Fatalf("ParseHash: %v", err)
	}
	if _, err := ParseHash("0x1234"); err == nil {
		t.Fatal("short hash accepted")
	}
	if _, err := HashFromBytes(make([]byte, 31)); err == nil {
		t.Fatal("31-byte hash accepted")
	}
	if _, err := AddressFromBytes(make([]byte, 21)); err == nil {
		t.Fatal("21-byte address accepted")
	}
	if hex.EncodeToString(h[:]) != h.Hex()[2:] {
		t.Fatal("Hex mismatch")
	}
}

// FuzzRecover checks that Recover never panics and agrees with go-ethereum
// on every signature it accepts.
func FuzzRecover(f *testing.F) {
	k, _ := GenerateKey()
	d := Keccak256([]byte("seed"))
	s, _ := k.Sign(d)
	f.Add(d[:], s[:])
	f.Add(make([]byte, 32), make([]byte, 65))
	f.Fuzz(func(t *testing.T, digest, sigb []byte) {
		if len(digest) != 32 {
			return
		}
		sig, err := SignatureFromBytes(sigb)
		if err != nil {
			return
		}
		addr, err := Recover(Hash(digest), sig)
		if err != nil {
			if !errors.Is(err, ErrInvalidSignature) {
				t.Fatalf("error %v does not match ErrInvalidSignature", err)
			}
			return
		}
		g := append([]byte(nil), sig[:]...)
		g[64] -= 27
		pub, err := gethcrypto.Ecrecover(digest, g)
		if err != nil {
			t.Fatalf("we accepted, geth rejected: %v", err)
		}
		if a, _ := PubKeyToAddress(pub); a != addr {
			t.Fatalf("recovered %s, geth %s", addr, a)
		}
	})
}

func BenchmarkSign(b *testing.B) {
	k := mustKey(b)
	d := Keccak256([]byte("bench"))
	for b.Loop() {
		if _, err := k.Sign(d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	k := mustKey(b)
	d := Keccak256([]byte("bench"))
	s, _ := k.Sign(d)
	addr := k.Address()
	for b.Loop() {
		if err := Verify(d, s, addr); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBalanceProofDigest(b *testing.B) {
	dom := NewDomain(1, Address{1})
	amt := uint256.NewInt(12345)
	for b.Loop() {
		dom.BalanceProofDigest(Hash{1}, 7, amt)
	}
}

func sepBytes(d Domain) []byte { s := d.Separator(); return s[:] }

// TestChannelIDMatchesABI checks ChannelID against go-ethereum's ABI encoder
// (abi.encode of the same seven values), which is what the contract hashes.
func TestChannelIDMatchesABI(t *testing.T) {
	ty := func(s string) abi.Type {
		v, err := abi.NewType(s, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	args := abi.Arguments{
		{Type: ty("uint256")}, {Type: ty("address")}, {Type: ty("address")}, {Type: ty("address")},
		{Type: ty("address")}, {Type: ty("uint64")}, {Type: ty("bytes32")},
	}
	r := mrand.New(mrand.NewPCG(3, 4))
	for range 50 {
		chainID, period := r.Uint64(), r.Uint64()
		var adj, a, b, tok Address
		for _, x := range []*Address{&adj, &a, &b, &tok} {
			h := randBytes32(r)
			copy(x[:], h[:20])
		}
		salt := randBytes32(r)
		enc, err := args.Pack(new(big.Int).SetUint64(chainID), gethcommon.Address(adj), gethcommon.Address(a),
			gethcommon.Address(b), gethcommon.Address(tok), period, [32]byte(salt))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := ChannelID(chainID, adj, a, b, tok, period, salt), Keccak256(enc); got != want {
			t.Fatalf("ChannelID %s, abi %s", got, want)
		}
	}
}
