package contracttest

import (
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	gethcrypto "github.com/ethereum/go-ethereum/crypto"
	"github.com/holiman/uint256"

	tpcrypto "github.com/tinypay/tinypay/crypto"
)

// TestNodeCryptoAgreesWithContract checks that tinypay's own crypto package
// (what the node signs with) computes the same channel id, domain separator
// and digests as the contract, and that signatures it makes are accepted on
// chain.
func TestNodeCryptoAgreesWithContract(t *testing.T) {
	e := newEnv(t)
	addr := func(a common.Address) tpcrypto.Address { return tpcrypto.Address(a) }
	dom := tpcrypto.NewDomain(chainID.Uint64(), addr(e.adjAddr))

	ds, err := e.adj.UnpackDomainSeparator(e.call(e.adjAddr, e.adj.PackDomainSeparator()))
	if err != nil {
		t.Fatal(err)
	}
	if tpcrypto.Hash(ds) != dom.Separator() {
		t.Fatalf("domain separator: contract %x, crypto %x", ds, dom.Separator())
	}

	p := e.params(e.tokAddr, 42)
	id := tpcrypto.ChannelID(chainID.Uint64(), addr(e.adjAddr), addr(p.A), addr(p.B), addr(p.Token), p.ChallengePeriod, tpcrypto.Hash(p.Salt))
	gotID, err := e.adj.UnpackChannelId(e.call(e.adjAddr, e.adj.PackChannelId(p)))
	if err != nil {
		t.Fatal(err)
	}
	if tpcrypto.Hash(gotID) != id {
		t.Fatalf("channel id: contract %x, crypto %x", gotID, id)
	}

	for _, amt := range []*big.Int{new(big.Int), big.NewInt(1), dollars(5), maxU256} {
		u, _ := uint256.FromBig(amt)
		got, err := e.adj.UnpackBalanceProofDigest(e.call(e.adjAddr, e.adj.PackBalanceProofDigest(id, 7, amt)))
		if err != nil {
			t.Fatal(err)
		}
		if tpcrypto.Hash(got) != dom.BalanceProofDigest(id, 7, u) {
			t.Fatalf("BalanceProof digest for %v differs", amt)
		}
		got, err = e.adj.UnpackCooperativeCloseDigest(e.call(e.adjAddr, e.adj.PackCooperativeCloseDigest(id, amt, big.NewInt(9), 123)))
		if err != nil {
			t.Fatal(err)
		}
		if tpcrypto.Hash(got) != dom.CooperativeCloseDigest(id, u, uint256.NewInt(9), 123) {
			t.Fatalf("CooperativeClose digest for %v differs", amt)
		}
		got, err = e.adj.UnpackWithdrawDigest(e.call(e.adjAddr, e.adj.PackWithdrawDigest(id, e.alice.addr, amt, 456)))
		if err != nil {
			t.Fatal(err)
		}
		if tpcrypto.Hash(got) != dom.WithdrawDigest(id, addr(e.alice.addr), u, 456) {
			t.Fatalf("Withdraw digest for %v differs", amt)
		}
	}

	// End to end: a cooperative close signed with tinypay's crypto settles.
	keyOf := func(a account) *tpcrypto.PrivateKey {
		k, err := tpcrypto.PrivateKeyFromBytes(gethcrypto.FromECDSA(a.key))
		if err != nil {
			t.Fatal(err)
		}
		if k.Address() != addr(a.addr) {
			t.Fatalf("address of %s differs between go-ethereum and tinypay crypto", a.name)
		}
		return k
	}
	e.open(p, e.alice, dollars(10))
	exp := e.now() + 100
	digest := dom.CooperativeCloseDigest(id, uint256.MustFromBig(dollars(3)), uint256.MustFromBig(dollars(7)), exp)
	sa, err := keyOf(e.alice).Sign(digest)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := keyOf(e.bob).Sign(digest)
	if err != nil {
		t.Fatal(err)
	}
	before := e.balances(e.tokAddr)
	e.mustTx(e.carol, e.adjAddr, nil, e.adj.PackCooperativeClose(p, dollars(3), dollars(7), exp, sa[:], sb[:]))
	after := e.balances(e.tokAddr)
	eqInt(t, "alice received", sub(after.alice, before.alice), dollars(3))
	eqInt(t, "bob received", sub(after.bob, before.bob), dollars(7))
}
