package contracttest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/params/forks"

	"github.com/tinypay/tinypay/settlement/evm/bindings"
)

// Gas targets, measured on the Osaka fork schedule (the chain mainnet runs).
const (
	maxOpenGas      = 100_000
	maxCoopCloseGas = 80_000
)

// TestGas measures the gas (receipt gasUsed, after refunds) of every
// operation and fails if opening with a first deposit or a cooperative close
// exceeds its target. Run with -v to print the table.
//
// The setting is a realistic steady state: accounts already hold the token,
// the adjudicator already holds some of it (so neither side's token balance
// slot is fresh), allowances are finite and larger than the amount, and
// payouts go to externally owned accounts.
func TestGas(t *testing.T) {
	if f := osakaConfig().LatestFork(genesisTime); f != forks.Osaka {
		t.Fatalf("gas is measured at fork %v, want Osaka", f)
	}
	e := newEnv(t)
	type row struct {
		op     string
		gas    uint64
		target uint64
	}
	var rows []row
	measure := func(op string, target uint64, r *types.Receipt) {
		rows = append(rows, row{op, r.GasUsed, target})
	}

	// Finite allowances (TestToken skips the allowance write for an
	// unlimited one, which would flatter the numbers).
	for _, a := range e.accounts() {
		e.mustTx(a, e.tokAddr, nil, e.tok.PackApprove(e.adjAddr, dollars(500_000)))
	}
	// The very first deposit of a token into the adjudicator also pays for
	// the adjudicator's fresh balance slot in the token contract; from then
	// on that slot is nonzero, as on any deployment that has been used.
	first := bindings.AdjudicatorChannelParams{A: e.carol.addr, B: e.mallory.addr, Token: e.tokAddr, ChallengePeriod: period}
	measure("open token (token's first ever deposit)", maxOpenGas, e.open(first, e.carol, dollars(1)))

	ethP := e.params(common.Address{}, 1)
	measure("open ETH (by A)", maxOpenGas, e.open(ethP, e.alice, eth(10)))
	ethP2 := e.params(common.Address{}, 2)
	measure("open ETH (by B)", maxOpenGas, e.open(ethP2, e.bob, eth(10)))
	tokP := e.params(e.tokAddr, 3)
	measure("open token (by A)", maxOpenGas, e.open(tokP, e.alice, dollars(100)))
	tokP2 := e.params(e.tokAddr, 4)
	measure("open token (by B)", maxOpenGas, e.open(tokP2, e.bob, dollars(100)))

	measure("deposit ETH (B's first)", 0, e.deposit(ethP, e.bob, e.bob.addr, eth(5), eth(5)))
	measure("deposit ETH (top-up)", 0, e.deposit(ethP, e.alice, e.alice.addr, eth(12), eth(2)))
	measure("deposit token (B's first)", 0, e.deposit(tokP, e.bob, e.bob.addr, dollars(50), dollars(50)))

	exp := e.now() + 3600
	sa, sb := e.withdrawSigs(ethP, e.alice.addr, eth(1), exp)
	measure("withdraw ETH (first)", 0, e.mustTx(e.alice, e.adjAddr, nil, e.adj.PackWithdraw(ethP, e.alice.addr, eth(1), exp, sa, sb)))
	sa, sb = e.withdrawSigs(ethP, e.alice.addr, eth(2), exp)
	measure("withdraw ETH (again)", 0, e.mustTx(e.alice, e.adjAddr, nil, e.adj.PackWithdraw(ethP, e.alice.addr, eth(2), exp, sa, sb)))
	sa, sb = e.withdrawSigs(tokP, e.bob.addr, dollars(10), exp)
	measure("withdraw token (first)", 0, e.mustTx(e.bob, e.adjAddr, nil, e.adj.PackWithdraw(tokP, e.bob.addr, dollars(10), exp, sa, sb)))

	// Cooperative close of ETH channels: one never withdrawn (ethP2), one
	// with withdrawals (ethP, which also has slot 1 to clear).
	sa, sb = e.coopSigs(ethP2, eth(4), eth(6), exp)
	measure("cooperativeClose ETH", maxCoopCloseGas, e.mustTx(e.alice, e.adjAddr, nil, e.adj.PackCooperativeClose(ethP2, eth(4), eth(6), exp, sa, sb)))
	sa, sb = e.coopSigs(ethP, eth(7), eth(8), exp)
	measure("cooperativeClose ETH (after withdraw)", maxCoopCloseGas, e.mustTx(e.alice, e.adjAddr, nil, e.adj.PackCooperativeClose(ethP, eth(7), eth(8), exp, sa, sb)))
	sa, sb = e.coopSigs(tokP2, dollars(40), dollars(60), exp)
	measure("cooperativeClose token", maxCoopCloseGas, e.mustTx(e.bob, e.adjAddr, nil, e.adj.PackCooperativeClose(tokP2, dollars(40), dollars(60), exp, sa, sb)))

	// Force close, update, settle.
	fc := e.params(common.Address{}, 5)
	e.open(fc, e.alice, eth(10))
	e.deposit(fc, e.bob, e.bob.addr, eth(10), eth(10))
	measure("close (no proofs)", 0, e.mustTx(e.alice, e.adjAddr, nil, e.adj.PackClose(fc, noProof(), noProof())))
	measure("update (1 proof)", 0, e.mustTx(e.carol, e.adjAddr, nil, e.adj.PackUpdate(fc, []bindings.AdjudicatorProof{e.proof(e.bob, fc, 3, eth(2))})))
	measure("update (1 proof, replaces)", 0, e.mustTx(e.carol, e.adjAddr, nil, e.adj.PackUpdate(fc, []bindings.AdjudicatorProof{e.proof(e.bob, fc, 4, eth(3))})))
	e.advanceTo(e.state(fc).SettleAfter + 1)
	measure("settle ETH", 0, e.mustTx(e.carol, e.adjAddr, nil, e.adj.PackSettle(fc)))

	fc2 := e.params(common.Address{}, 6)
	e.open(fc2, e.alice, eth(10))
	e.deposit(fc2, e.bob, e.bob.addr, eth(10), eth(10))
	measure("close (both proofs)", 0, e.mustTx(e.alice, e.adjAddr, nil,
		e.adj.PackClose(fc2, e.proof(e.bob, fc2, 9, eth(3)), e.proof(e.alice, fc2, 7, eth(1)))))
	e.advanceTo(e.state(fc2).SettleAfter + 1)
	measure("settle ETH (both directions)", 0, e.mustTx(e.carol, e.adjAddr, nil, e.adj.PackSettle(fc2)))

	fct := e.params(e.tokAddr, 7)
	e.open(fct, e.alice, dollars(10))
	e.mustTx(e.bob, e.adjAddr, nil, e.adj.PackClose(fct, e.proof(e.alice, fct, 1, dollars(2)), noProof()))
	e.advanceTo(e.state(fct).SettleAfter + 1)
	measure("settle token", 0, e.mustTx(e.carol, e.adjAddr, nil, e.adj.PackSettle(fct)))

	// withdrawPayout: a contract participant refuses the push, so its payout
	// is credited, then it pulls it (the measurement includes the receiver
	// contract's own call overhead).
	rc, rcAddr := e.receiver()
	e.mustTx(e.carol, rcAddr, nil, rc.PackSetRejectPayments(true))
	rp := bindings.AdjudicatorChannelParams{A: rcAddr, B: e.bob.addr, ChallengePeriod: period}
	e.mustTx(e.carol, rcAddr, eth(1), rc.PackExecute(e.adjAddr, e.adj.PackOpen(rp, eth(1))))
	e.mustTx(e.carol, rcAddr, nil, rc.PackExecute(e.adjAddr, e.adj.PackClose(rp, noProof(), noProof())))
	e.advanceTo(e.state(rp).SettleAfter + 1)
	measure("settle ETH (push refused, credited)", 0, e.mustTx(e.carol, e.adjAddr, nil, e.adj.PackSettle(rp)))
	e.mustTx(e.carol, rcAddr, nil, rc.PackSetRejectPayments(false))
	measure("withdrawPayout ETH (via contract)", 0, e.mustTx(e.carol, rcAddr, nil, rc.PackExecute(e.adjAddr, e.adj.PackWithdrawPayout(common.Address{}))))

	var b strings.Builder
	fmt.Fprintf(&b, "\n%-40s %10s %10s\n", "operation (Osaka)", "gas", "target")
	failed := false
	for _, r := range rows {
		target := ""
		if r.target != 0 {
			target = fmt.Sprint(r.target)
			if r.gas > r.target {
				target += "  EXCEEDED"
				failed = true
			}
		}
		fmt.Fprintf(&b, "%-40s %10d %10s\n", r.op, r.gas, target)
	}
	t.Log(b.String())
	if failed {
		t.Fatal("gas target exceeded")
	}
}
