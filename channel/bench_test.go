package channel

import (
	"testing"

	"github.com/holiman/uint256"
)

// BenchmarkPay measures signing one outgoing proof (one signature).
func BenchmarkPay(b *testing.B) {
	p := newPair(b, 0, 0)
	must(b, p.alice.ChainDeposit(A, new(uint256.Int).SetAllOne()))
	one := u(1)
	for b.Loop() {
		if _, err := p.alice.Pay(one, aliceKey); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReceive measures accepting one incoming proof: every check plus
// one signature recovery.
func BenchmarkReceive(b *testing.B) {
	p := newPair(b, 0, 0)
	must(b, p.alice.ChainDeposit(A, new(uint256.Int).SetAllOne()))
	must(b, p.bob.ChainDeposit(A, new(uint256.Int).SetAllOne()))
	proofs := make([]Proof, 0, b.N)
	for range b.N {
		pr, err := p.alice.Pay(u(1), aliceKey)
		if err != nil {
			b.Fatal(err)
		}
		proofs = append(proofs, pr)
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := p.bob.Receive(proofs[i]); err != nil {
			b.Fatal(err)
		}
	}
}
