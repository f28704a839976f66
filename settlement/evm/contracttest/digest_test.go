package contracttest

import (
	"bytes"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
)

// TestDigestsMatchEIP712 checks the contract's EIP-712 views against
// go-ethereum's reference encoder (signer/core/apitypes), which is what the
// Go side and wallets compute, and the channel id against the Go formula.
func TestDigestsMatchEIP712(t *testing.T) {
	e := newEnv(t)
	d := e.domain()

	ds, err := e.adj.UnpackDomainSeparator(e.call(e.adjAddr, e.adj.PackDomainSeparator()))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ds[:], d.separator()) {
		t.Fatalf("domainSeparator = %x, want %x", ds, d.separator())
	}

	p := e.params(e.tokAddr, 7)
	gotID, err := e.adj.UnpackChannelId(e.call(e.adjAddr, e.adj.PackChannelId(p)))
	if err != nil {
		t.Fatal(err)
	}
	if gotID != e.id(p) {
		t.Fatalf("channelId = %x, want %x", gotID, e.id(p))
	}

	id := e.id(p)
	amounts := []*big.Int{new(big.Int), big.NewInt(1), dollars(12345), maxU120, maxU256}
	for _, amt := range amounts {
		for _, nonce := range []uint64{0, 1, 1 << 63, ^uint64(0)} {
			got, err := e.adj.UnpackBalanceProofDigest(e.call(e.adjAddr, e.adj.PackBalanceProofDigest(id, nonce, amt)))
			if err != nil {
				t.Fatal(err)
			}
			if want := d.balanceProofDigest(id, nonce, amt); !bytes.Equal(got[:], want) {
				t.Fatalf("BalanceProof(%d, %v): contract %x, apitypes %x", nonce, amt, got, want)
			}
		}
		got, err := e.adj.UnpackCooperativeCloseDigest(e.call(e.adjAddr, e.adj.PackCooperativeCloseDigest(id, amt, big.NewInt(3), 99)))
		if err != nil {
			t.Fatal(err)
		}
		if want := d.cooperativeCloseDigest(id, amt, big.NewInt(3), 99); !bytes.Equal(got[:], want) {
			t.Fatalf("CooperativeClose(%v): contract %x, apitypes %x", amt, got, want)
		}
		got, err = e.adj.UnpackWithdrawDigest(e.call(e.adjAddr, e.adj.PackWithdrawDigest(id, e.bob.addr, amt, ^uint64(0))))
		if err != nil {
			t.Fatal(err)
		}
		if want := d.withdrawDigest(id, e.bob.addr, amt, ^uint64(0)); !bytes.Equal(got[:], want) {
			t.Fatalf("Withdraw(%v): contract %x, apitypes %x", amt, got, want)
		}
	}

	// The digests depend on the chain and the contract: a signature for
	// another domain never verifies here.
	other := domain{chainID: big.NewInt(1), contract: e.adjAddr}
	if bytes.Equal(other.balanceProofDigest(id, 1, big.NewInt(1)), d.balanceProofDigest(id, 1, big.NewInt(1))) {
		t.Fatal("digest does not depend on the chain id")
	}
	other = domain{chainID: chainID, contract: common.HexToAddress("0x1234")}
	if bytes.Equal(other.balanceProofDigest(id, 1, big.NewInt(1)), d.balanceProofDigest(id, 1, big.NewInt(1))) {
		t.Fatal("digest does not depend on the contract address")
	}
}
