package contracttest

import (
	"math/big"
	"math/rand"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/tinypay/tinypay/settlement/evm/bindings"
	"github.com/tinypay/tinypay/settlement/evm/bindings/testbindings"
)

// asset is a channel asset under test: ETH or a token deployed in env.
type asset struct {
	name  string
	token func(e *env) common.Address
	unit  func(n int64) *big.Int
}

var assets = []asset{
	{name: "ETH", token: func(*env) common.Address { return common.Address{} }, unit: eth},
	{name: "token", token: func(e *env) common.Address { return e.tokAddr }, unit: dollars},
}

// balances snapshots the channel asset balances of the participants and the
// adjudicator.
type balances struct{ alice, bob, carol, adj *big.Int }

func (e *env) balances(token common.Address) balances {
	return balances{
		alice: e.balanceOf(token, e.alice.addr),
		bob:   e.balanceOf(token, e.bob.addr),
		carol: e.balanceOf(token, e.carol.addr),
		adj:   e.balanceOf(token, e.adjAddr),
	}
}

// gasOf is what each sender paid in ETH for the receipts (zero for token
// channels, whose balances do not move with gas).
func gasOf(token common.Address, rs ...*types.Receipt) *big.Int {
	total := new(big.Int)
	if token != (common.Address{}) {
		return total
	}
	for _, r := range rs {
		total.Add(total, fee(r))
	}
	return total
}

func TestOpen(t *testing.T) {
	for _, as := range assets {
		for _, opener := range []string{"A", "B"} {
			t.Run(as.name+"/by "+opener, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t)
				token := as.token(e)
				p := e.params(token, 1)
				who := e.alice
				if opener == "B" {
					who = e.bob
				}
				before := e.balances(token)
				r := e.open(p, who, as.unit(25))
				after := e.balances(token)

				eqInt(t, "adjudicator balance", sub(after.adj, before.adj), as.unit(25))
				var spent *big.Int
				if opener == "A" {
					spent = sub(before.alice, after.alice)
				} else {
					spent = sub(before.bob, after.bob)
				}
				eqInt(t, "opener spent", spent, add(as.unit(25), gasOf(token, r)))

				s := e.state(p)
				if s.Phase != phaseOpen {
					t.Fatalf("phase %d, want Open", s.Phase)
				}
				wantA, wantB := as.unit(25), new(big.Int)
				if opener == "B" {
					wantA, wantB = wantB, wantA
				}
				eqInt(t, "depositA", s.DepositA, wantA)
				eqInt(t, "depositB", s.DepositB, wantB)

				op := oneEvent(t, r, e.adj.UnpackChannelOpenedEvent)
				if op.ChannelId != e.id(p) || op.A != p.A || op.B != p.B || op.Token != token ||
					op.ChallengePeriod != period || op.Salt != p.Salt {
					t.Fatalf("ChannelOpened = %+v", op)
				}
				dep := oneEvent(t, r, e.adj.UnpackDepositedEvent)
				if dep.ChannelId != e.id(p) || dep.Participant != who.addr {
					t.Fatalf("Deposited = %+v", dep)
				}
				eqInt(t, "Deposited.totalDeposit", dep.TotalDeposit, as.unit(25))

				// The view by params returns the same id and state.
				out, err := e.adj.UnpackChannelByParams(e.call(e.adjAddr, e.adj.PackChannelByParams(p)))
				if err != nil {
					t.Fatal(err)
				}
				if out.Id != e.id(p) || out.S.Phase != phaseOpen || out.S.DepositA.Cmp(wantA) != 0 {
					t.Fatalf("channelByParams = %+v", out)
				}
			})
		}
	}
}

func TestDeposit(t *testing.T) {
	for _, as := range assets {
		t.Run(as.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			token := as.token(e)
			p := e.params(token, 1)
			e.open(p, e.alice, as.unit(10))

			// Top-up by the participant itself: the argument is the new total.
			before := e.balances(token)
			r := e.deposit(p, e.alice, e.alice.addr, as.unit(15), as.unit(5))
			after := e.balances(token)
			eqInt(t, "alice spent", sub(before.alice, after.alice), add(as.unit(5), gasOf(token, r)))
			eqInt(t, "adjudicator received", sub(after.adj, before.adj), as.unit(5))
			dep := oneEvent(t, r, e.adj.UnpackDepositedEvent)
			if dep.Participant != e.alice.addr || dep.ChannelId != e.id(p) {
				t.Fatalf("Deposited = %+v", dep)
			}
			eqInt(t, "Deposited.totalDeposit", dep.TotalDeposit, as.unit(15))

			// Anyone may fund a participant: carol funds bob.
			before = e.balances(token)
			r = e.deposit(p, e.carol, e.bob.addr, as.unit(7), as.unit(7))
			after = e.balances(token)
			eqInt(t, "carol spent", sub(before.carol, after.carol), add(as.unit(7), gasOf(token, r)))
			eqInt(t, "bob unchanged", after.bob, before.bob)
			eqInt(t, "adjudicator received", sub(after.adj, before.adj), as.unit(7))

			s := e.state(p)
			eqInt(t, "depositA", s.DepositA, as.unit(15))
			eqInt(t, "depositB", s.DepositB, as.unit(7))

			// Replaying the same total is harmless: it reverts.
			e.expectRevert(e.carol, e.adjAddr, valueFor(p, as.unit(7)), e.adj.PackDeposit(p, e.bob.addr, as.unit(7)),
				want("NotIncreasing", as.unit(7), as.unit(7)))
		})
	}
}

func TestWithdrawWhileOpen(t *testing.T) {
	for _, as := range assets {
		t.Run(as.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			token := as.token(e)
			p := e.params(token, 1)
			e.open(p, e.alice, as.unit(10))
			e.deposit(p, e.bob, e.bob.addr, as.unit(10), as.unit(10))
			exp := e.now() + 100

			// carol submits, so alice's balance moves only by the payout.
			sa, sb := e.withdrawSigs(p, e.alice.addr, as.unit(3), exp)
			before := e.balances(token)
			r := e.mustTx(e.carol, e.adjAddr, nil, e.adj.PackWithdraw(p, e.alice.addr, as.unit(3), exp, sa, sb))
			after := e.balances(token)
			eqInt(t, "alice received", sub(after.alice, before.alice), as.unit(3))
			eqInt(t, "adjudicator paid", sub(before.adj, after.adj), as.unit(3))
			w := oneEvent(t, r, e.adj.UnpackWithdrawnEvent)
			if w.ChannelId != e.id(p) || w.Participant != e.alice.addr {
				t.Fatalf("Withdrawn = %+v", w)
			}
			eqInt(t, "Withdrawn.totalWithdrawn", w.TotalWithdrawn, as.unit(3))
			eqInt(t, "Withdrawn.amount", w.Amount, as.unit(3))
			if n := len(events(t, r, e.adj.UnpackPayoutCreditedEvent)); n != 0 {
				t.Fatalf("%d PayoutCredited events for a push to an EOA", n)
			}

			// The total is cumulative: 3 -> 12 pays 9, more than alice's own
			// deposit (she was paid off chain), within the channel's total.
			sa, sb = e.withdrawSigs(p, e.alice.addr, as.unit(12), exp)
			before = e.balances(token)
			e.mustTx(e.carol, e.adjAddr, nil, e.adj.PackWithdraw(p, e.alice.addr, as.unit(12), exp, sa, sb))
			after = e.balances(token)
			eqInt(t, "alice received", sub(after.alice, before.alice), as.unit(9))

			// Replaying the first withdrawal is harmless.
			sa, sb = e.withdrawSigs(p, e.alice.addr, as.unit(3), exp)
			e.expectRevert(e.carol, e.adjAddr, nil, e.adj.PackWithdraw(p, e.alice.addr, as.unit(3), exp, sa, sb),
				want("NotIncreasing", as.unit(12), as.unit(3)))

			s := e.state(p)
			eqInt(t, "withdrawnA", s.WithdrawnA, as.unit(12))
			eqInt(t, "withdrawnB", s.WithdrawnB, new(big.Int))
			if s.Phase != phaseOpen {
				t.Fatalf("phase %d, want Open", s.Phase)
			}

			// Bob may withdraw the remaining 8 but not 9.
			sa, sb = e.withdrawSigs(p, e.bob.addr, as.unit(9), exp)
			e.expectRevert(e.carol, e.adjAddr, nil, e.adj.PackWithdraw(p, e.bob.addr, as.unit(9), exp, sa, sb),
				want("InsufficientFunds", as.unit(8), as.unit(9)))
			sa, sb = e.withdrawSigs(p, e.bob.addr, as.unit(8), exp)
			e.mustTx(e.carol, e.adjAddr, nil, e.adj.PackWithdraw(p, e.bob.addr, as.unit(8), exp, sa, sb))
			eqInt(t, "adjudicator holds", e.balanceOf(token, e.adjAddr), new(big.Int))
		})
	}
}

func TestCooperativeClose(t *testing.T) {
	for _, as := range assets {
		t.Run(as.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			token := as.token(e)
			p := e.params(token, 1)
			e.open(p, e.alice, as.unit(10))
			e.deposit(p, e.bob, e.bob.addr, as.unit(5), as.unit(5))
			exp := e.now() + 100
			sa, sb := e.withdrawSigs(p, e.bob.addr, as.unit(2), exp)
			e.mustTx(e.carol, e.adjAddr, nil, e.adj.PackWithdraw(p, e.bob.addr, as.unit(2), exp, sa, sb))

			// 15 deposited, 2 withdrawn: the terms must split 13.
			sa, sb = e.coopSigs(p, as.unit(4), as.unit(9), exp)
			before := e.balances(token)
			r := e.mustTx(e.carol, e.adjAddr, nil, e.adj.PackCooperativeClose(p, as.unit(4), as.unit(9), exp, sa, sb))
			after := e.balances(token)
			eqInt(t, "alice received", sub(after.alice, before.alice), as.unit(4))
			eqInt(t, "bob received", sub(after.bob, before.bob), as.unit(9))
			eqInt(t, "adjudicator holds", after.adj, new(big.Int))

			ev := oneEvent(t, r, e.adj.UnpackCooperativelyClosedEvent)
			if ev.ChannelId != e.id(p) {
				t.Fatalf("CooperativelyClosed = %+v", ev)
			}
			eqInt(t, "balanceA", ev.BalanceA, as.unit(4))
			eqInt(t, "balanceB", ev.BalanceB, as.unit(9))

			// Only the Settled marker remains.
			s := e.state(p)
			if s.Phase != phaseSettled || s.DepositA.Sign() != 0 || s.DepositB.Sign() != 0 ||
				s.WithdrawnA.Sign() != 0 || s.WithdrawnB.Sign() != 0 {
				t.Fatalf("state after close = %+v", s)
			}
			// Replaying the close is rejected.
			e.expectRevert(e.carol, e.adjAddr, nil, e.adj.PackCooperativeClose(p, as.unit(4), as.unit(9), exp, sa, sb),
				want("WrongPhase", e.id(p), phaseSettled))
		})
	}

	t.Run("supersedes a force close", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		p := e.params(common.Address{}, 1)
		e.open(p, e.alice, eth(10))
		e.mustTx(e.bob, e.adjAddr, nil, e.adj.PackClose(p, e.proof(e.alice, p, 1, eth(1)), noProof()))
		exp := e.now() + 100
		sa, sb := e.coopSigs(p, eth(6), eth(4), exp)
		before := e.balances(common.Address{})
		e.mustTx(e.carol, e.adjAddr, nil, e.adj.PackCooperativeClose(p, eth(6), eth(4), exp, sa, sb))
		after := e.balances(common.Address{})
		eqInt(t, "alice received", sub(after.alice, before.alice), eth(6))
		eqInt(t, "bob received", sub(after.bob, before.bob), eth(4))
		s := e.state(p)
		if s.Phase != phaseSettled || s.SettleAfter != 0 || s.TransferredAtoB.Sign() != 0 {
			t.Fatalf("state = %+v", s)
		}
	})

	t.Run("expiry boundary", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		p := e.params(common.Address{}, 1)
		e.open(p, e.alice, eth(10))
		exp := e.now() + 10
		sa, sb := e.coopSigs(p, eth(10), new(big.Int), exp)
		e.advanceTo(exp - 1) // the transaction is mined at exactly expiry
		r := e.mustTx(e.carol, e.adjAddr, nil, e.adj.PackCooperativeClose(p, eth(10), new(big.Int), exp, sa, sb))
		if blk, _ := e.client.HeaderByNumber(e.ctx(), r.BlockNumber); blk.Time != exp {
			t.Fatalf("mined at %d, want %d", blk.Time, exp)
		}
	})
}

// fundedChannel opens an alice-bob channel in token with 10 units
// deposited by each side.
func (e *env) fundedChannel(token common.Address, unit func(int64) *big.Int) bindings.AdjudicatorChannelParams {
	p := e.params(token, 1)
	e.open(p, e.alice, unit(10))
	e.deposit(p, e.bob, e.bob.addr, unit(10), unit(10))
	return p
}

func TestForceClose(t *testing.T) {
	t.Run("newest proofs settle", func(t *testing.T) {
		t.Parallel()
		for _, as := range assets {
			e := newEnv(t)
			token := as.token(e)
			p := e.fundedChannel(token, as.unit)
			// alice paid bob 7 in total, bob paid alice 3; alice closes with
			// bob's newest proof and her own.
			r := e.mustTx(e.alice, e.adjAddr, nil,
				e.adj.PackClose(p, e.proof(e.bob, p, 4, as.unit(3)), e.proof(e.alice, p, 9, as.unit(7))))
			c := oneEvent(t, r, e.adj.UnpackClosedEvent)
			blk, _ := e.client.HeaderByNumber(e.ctx(), r.BlockNumber)
			if c.ChannelId != e.id(p) || c.Closer != e.alice.addr || c.SettleAfter != blk.Time+period {
				t.Fatalf("Closed = %+v", c)
			}
			eqInt(t, "Closed.transferredAtoB", c.TransferredAtoB, as.unit(7))
			eqInt(t, "Closed.transferredBtoA", c.TransferredBtoA, as.unit(3))
			s := e.state(p)
			if s.Phase != phaseClosed || s.SettleAfter != c.SettleAfter {
				t.Fatalf("state = %+v", s)
			}

			e.advanceTo(s.SettleAfter + 1)
			before := e.balances(token)
			r = e.mustTx(e.carol, e.adjAddr, nil, e.adj.PackSettle(p))
			after := e.balances(token)
			// final(A) = 10 - 7 + 3 = 6, final(B) = 10 - 3 + 7 = 14.
			eqInt(t, as.name+" alice received", sub(after.alice, before.alice), as.unit(6))
			eqInt(t, as.name+" bob received", sub(after.bob, before.bob), as.unit(14))
			eqInt(t, "adjudicator holds", after.adj, new(big.Int))
			st := oneEvent(t, r, e.adj.UnpackSettledEvent)
			eqInt(t, "Settled.payoutA", st.PayoutA, as.unit(6))
			eqInt(t, "Settled.payoutB", st.PayoutB, as.unit(14))
			s = e.state(p)
			if s.Phase != phaseSettled || s.SettleAfter != 0 || s.TransferredAtoB.Sign() != 0 || s.TransferredBtoA.Sign() != 0 {
				t.Fatalf("state after settle = %+v", s)
			}
		}
	})

	t.Run("stale proof loses to a newer update", func(t *testing.T) {
		t.Parallel()
		// Mallory plays bob: she closes presenting only an old proof of what
		// she paid alice (1 instead of 5). Alice presents bob's newest proof
		// during the challenge period and wins.
		e := newEnv(t)
		p := e.fundedChannel(common.Address{}, eth)
		e.mustTx(e.bob, e.adjAddr, nil,
			e.adj.PackClose(p, e.proof(e.alice, p, 2, eth(2)), e.proof(e.bob, p, 1, eth(1))))
		r := e.mustTx(e.alice, e.adjAddr, nil, e.adj.PackUpdate(p, []bindings.AdjudicatorProof{e.proof(e.bob, p, 5, eth(5))}))
		u := oneEvent(t, r, e.adj.UnpackUpdatedEvent)
		if u.ChannelId != e.id(p) || u.From != e.bob.addr || u.Nonce != 5 {
			t.Fatalf("Updated = %+v", u)
		}
		eqInt(t, "Updated.transferred", u.Transferred, eth(5))
		e.advanceTo(e.state(p).SettleAfter + 1)
		before := e.balances(common.Address{})
		e.mustTx(e.carol, e.adjAddr, nil, e.adj.PackSettle(p))
		after := e.balances(common.Address{})
		eqInt(t, "alice received", sub(after.alice, before.alice), eth(13)) // 10 - 2 + 5
		eqInt(t, "bob received", sub(after.bob, before.bob), eth(7))        // 10 - 5 + 2
	})

	t.Run("update from a third party, both directions", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		p := e.fundedChannel(common.Address{}, eth)
		e.mustTx(e.alice, e.adjAddr, nil, e.adj.PackClose(p, noProof(), noProof()))
		// carol (a watchtower) holds both newest proofs.
		r := e.mustTx(e.carol, e.adjAddr, nil, e.adj.PackUpdate(p, []bindings.AdjudicatorProof{
			e.proof(e.alice, p, 3, eth(4)), e.proof(e.bob, p, 8, eth(1)),
		}))
		if n := len(events(t, r, e.adj.UnpackUpdatedEvent)); n != 2 {
			t.Fatalf("%d Updated events, want 2", n)
		}
		s := e.state(p)
		eqInt(t, "transferredAtoB", s.TransferredAtoB, eth(4))
		eqInt(t, "transferredBtoA", s.TransferredBtoA, eth(1))
	})

	t.Run("highest transferred wins, not highest nonce", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		p := e.fundedChannel(common.Address{}, eth)
		e.mustTx(e.alice, e.adjAddr, nil, e.adj.PackClose(p, e.proof(e.bob, p, 10, eth(3)), noProof()))
		// A higher nonce with a lower amount is rejected...
		e.expectRevert(e.carol, e.adjAddr, nil, e.adj.PackUpdate(p, []bindings.AdjudicatorProof{e.proof(e.bob, p, 11, eth(2))}),
			want("NotIncreasing", eth(3), eth(2)))
		// ...a lower nonce with a higher amount is accepted.
		e.mustTx(e.carol, e.adjAddr, nil, e.adj.PackUpdate(p, []bindings.AdjudicatorProof{e.proof(e.bob, p, 1, eth(4))}))
		eqInt(t, "transferredBtoA", e.state(p).TransferredBtoA, eth(4))
	})

	t.Run("challenge period boundary", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		p := e.fundedChannel(common.Address{}, eth)
		e.mustTx(e.alice, e.adjAddr, nil, e.adj.PackClose(p, noProof(), noProof()))
		settleAfter := e.state(p).SettleAfter

		// update is allowed at exactly settleAfter...
		e.advanceTo(settleAfter - 1)
		e.expectRevertCall(e.carol, e.adjAddr, nil, e.adj.PackSettle(p),
			want("ChallengePeriodNotOver", settleAfter, new(big.Int).SetUint64(settleAfter-1)))
		r := e.mustTx(e.carol, e.adjAddr, nil, e.adj.PackUpdate(p, []bindings.AdjudicatorProof{e.proof(e.bob, p, 1, eth(1))}))
		if blk, _ := e.client.HeaderByNumber(e.ctx(), r.BlockNumber); blk.Time != settleAfter {
			t.Fatalf("update mined at %d, want %d", blk.Time, settleAfter)
		}
		// ...and settle is not.
		e.expectRevertCall(e.carol, e.adjAddr, nil, e.adj.PackSettle(p),
			want("ChallengePeriodNotOver", settleAfter, new(big.Int).SetUint64(settleAfter)))

		// One second later update is over and settle is allowed.
		e.advanceTo(settleAfter + 1)
		e.expectRevert(e.carol, e.adjAddr, nil, e.adj.PackUpdate(p, []bindings.AdjudicatorProof{e.proof(e.bob, p, 2, eth(2))}),
			want("ChallengePeriodOver", settleAfter, new(big.Int).SetUint64(settleAfter+1)))
		e.mustTx(e.carol, e.adjAddr, nil, e.adj.PackSettle(p))
	})
}

// settleModel is the settlement rule in Go: final(X) = deposit(X) -
// withdrawn(X) - transferred(X->Y) + transferred(Y->X), clamped to
// [0, deposits - withdrawals], and Y gets the rest.
func settleModel(dA, dB, wA, wB, aToB, bToA *big.Int) (*big.Int, *big.Int) {
	total := sub(add(dA, dB), add(wA, wB))
	finalA := sub(add(sub(dA, wA), bToA), aToB)
	if finalA.Sign() < 0 {
		finalA = new(big.Int)
	}
	if finalA.Cmp(total) > 0 {
		finalA = new(big.Int).Set(total)
	}
	return finalA, sub(total, finalA)
}

func TestSettleClamps(t *testing.T) {
	tests := []struct {
		name       string
		dA, dB     int64 // deposits in ETH
		wA, wB     int64 // withdrawn in ETH
		aToB, bToA *big.Int
		wantA      *big.Int
		wantB      *big.Int
	}{
		// Both directions at 2^256-1: they cancel, nothing reverts.
		{"max both ways", 10, 10, 0, 0, maxU256, maxU256, eth(10), eth(10)},
		// A "paid" 2^256-1: A is clamped to zero, B gets everything.
		{"max A to B", 10, 10, 0, 0, maxU256, new(big.Int), new(big.Int), eth(20)},
		{"max B to A", 10, 10, 0, 0, new(big.Int), maxU256, eth(20), new(big.Int)},
		{"max A to B, B to A max-1", 10, 10, 0, 0, maxU256, sub(maxU256, big.NewInt(1)), sub(eth(10), big.NewInt(1)), add(eth(10), big.NewInt(1))},
		// B withdrew more than its deposit (A paid it off chain), then A's
		// proof shows less: B's final is negative and clamped, A gets the
		// total.
		{"withdrawn above deposit", 10, 0, 0, 8, eth(2), new(big.Int), eth(2), new(big.Int)},
		{"overpaying payer", 5, 5, 0, 0, eth(6), new(big.Int), new(big.Int), eth(10)},
		{"exact", 5, 5, 1, 1, eth(2), eth(1), eth(3), eth(5)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			p := e.params(common.Address{}, 1)
			e.open(p, e.alice, eth(tc.dA+1)) // +1 so A's deposit is never zero...
			exp := e.now() + 100
			// ...and withdraw it right away (1 ETH), keeping the accounting simple.
			sa, sb := e.withdrawSigs(p, e.alice.addr, eth(tc.wA+1), exp)
			e.mustTx(e.carol, e.adjAddr, nil, e.adj.PackWithdraw(p, e.alice.addr, eth(tc.wA+1), exp, sa, sb))
			if tc.dB > 0 {
				e.deposit(p, e.bob, e.bob.addr, eth(tc.dB), eth(tc.dB))
			}
			if tc.wB > 0 {
				sa, sb = e.withdrawSigs(p, e.bob.addr, eth(tc.wB), exp)
				e.mustTx(e.carol, e.adjAddr, nil, e.adj.PackWithdraw(p, e.bob.addr, eth(tc.wB), exp, sa, sb))
			}
			e.mustTx(e.alice, e.adjAddr, nil, e.adj.PackClose(p, e.proof(e.bob, p, 1, tc.bToA), e.proof(e.alice, p, 1, tc.aToB)))
			e.advanceTo(e.state(p).SettleAfter + 1)
			before := e.balances(common.Address{})
			r := e.mustTx(e.carol, e.adjAddr, nil, e.adj.PackSettle(p))
			after := e.balances(common.Address{})
			eqInt(t, "alice received", sub(after.alice, before.alice), tc.wantA)
			eqInt(t, "bob received", sub(after.bob, before.bob), tc.wantB)
			eqInt(t, "adjudicator holds", after.adj, new(big.Int))
			st := oneEvent(t, r, e.adj.UnpackSettledEvent)
			eqInt(t, "payoutA", st.PayoutA, tc.wantA)
			eqInt(t, "payoutB", st.PayoutB, tc.wantB)
			mA, mB := settleModel(eth(tc.dA+1), eth(tc.dB), eth(tc.wA+1), eth(tc.wB), tc.aToB, tc.bToA)
			eqInt(t, "model A", mA, tc.wantA)
			eqInt(t, "model B", mB, tc.wantB)
		})
	}
}

// TestPayoutsConserveDeposits is a property test: for random deposits,
// withdrawals and proofs, settlement pays exactly deposits minus
// withdrawals, matches the Go model, and the adjudicator ends empty.
func TestPayoutsConserveDeposits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rng := rand.New(rand.NewSource(1))
	randAmount := func(maxWei int64) *big.Int {
		switch rng.Intn(6) {
		case 0:
			return new(big.Int)
		case 1:
			return new(big.Int).Set(maxU256)
		default:
			return big.NewInt(rng.Int63n(maxWei) + 1)
		}
	}
	for i := range 12 {
		p := e.params(common.Address{}, byte(i+1))
		dA := big.NewInt(rng.Int63n(1e18) + 1)
		dB := big.NewInt(rng.Int63n(1e18))
		e.open(p, e.alice, dA)
		if dB.Sign() > 0 {
			e.deposit(p, e.carol, e.bob.addr, dB, dB)
		}
		total := add(dA, dB)
		wA, wB := new(big.Int), new(big.Int)
		if rng.Intn(2) == 0 {
			wA = new(big.Int).Rand(rng, total)
		}
		if rest := sub(total, wA); rest.Sign() > 0 && rng.Intn(2) == 0 {
			wB = new(big.Int).Rand(rng, rest)
		}
		exp := e.now() + 1000
		for _, w := range []struct {
			who common.Address
			amt *big.Int
		}{{e.alice.addr, wA}, {e.bob.addr, wB}} {
			if w.amt.Sign() > 0 {
				sa, sb := e.withdrawSigs(p, w.who, w.amt, exp)
				e.mustTx(e.carol, e.adjAddr, nil, e.adj.PackWithdraw(p, w.who, w.amt, exp, sa, sb))
			}
		}
		aToB, bToA := randAmount(2e18), randAmount(2e18)
		closeWith := func(signer account, amt *big.Int) bindings.AdjudicatorProof {
			if amt.Sign() == 0 {
				return noProof()
			}
			return e.proof(signer, p, 1, amt)
		}
		e.mustTx(e.bob, e.adjAddr, nil, e.adj.PackClose(p, closeWith(e.alice, aToB), closeWith(e.bob, bToA)))
		e.advanceTo(e.state(p).SettleAfter + 1)
		before := e.balances(common.Address{})
		r := e.mustTx(e.carol, e.adjAddr, nil, e.adj.PackSettle(p))
		after := e.balances(common.Address{})
		st := oneEvent(t, r, e.adj.UnpackSettledEvent)
		wantA, wantB := settleModel(dA, dB, wA, wB, aToB, bToA)
		eqInt(t, "payoutA", st.PayoutA, wantA)
		eqInt(t, "payoutB", st.PayoutB, wantB)
		eqInt(t, "payoutA + payoutB", add(st.PayoutA, st.PayoutB), sub(total, add(wA, wB)))
		eqInt(t, "alice received", sub(after.alice, before.alice), wantA)
		eqInt(t, "bob received", sub(after.bob, before.bob), wantB)
		eqInt(t, "adjudicator holds", after.adj, new(big.Int))
	}
}

func TestNoReturnToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	nr := testbindings.NewNoReturnToken()
	nrAddr := e.deploy(e.carol, testbindings.NoReturnTokenMetaData.Bin)
	for _, a := range []account{e.alice, e.bob} {
		e.mustTx(a, nrAddr, nil, nr.PackMint(a.addr, dollars(100)))
		e.mustTx(a, nrAddr, nil, nr.PackApprove(e.adjAddr, dollars(100)))
	}
	p := e.params(nrAddr, 1)
	e.open(p, e.alice, dollars(30))
	e.deposit(p, e.bob, e.bob.addr, dollars(20), dollars(20))
	eqInt(t, "adjudicator holds", e.balanceOf(nrAddr, e.adjAddr), dollars(50))
	exp := e.now() + 100
	sa, sb := e.coopSigs(p, dollars(10), dollars(40), exp)
	e.mustTx(e.carol, e.adjAddr, nil, e.adj.PackCooperativeClose(p, dollars(10), dollars(40), exp, sa, sb))
	eqInt(t, "alice", e.balanceOf(nrAddr, e.alice.addr), dollars(80))
	eqInt(t, "bob", e.balanceOf(nrAddr, e.bob.addr), dollars(120))
	eqInt(t, "adjudicator holds", e.balanceOf(nrAddr, e.adjAddr), new(big.Int))
}

func TestPayoutLedger(t *testing.T) {
	// setup: a ReentrantReceiver contract is participant A of an ETH
	// channel with bob and refuses payments, so its settlement payout is
	// credited to the pull ledger.
	setup := func(t *testing.T) (*env, *testbindings.ReentrantReceiver, common.Address) {
		e := newEnv(t)
		rc, rcAddr := e.receiver()
		e.mustTx(e.carol, rcAddr, nil, rc.PackSetRejectPayments(true))
		p := bindings.AdjudicatorChannelParams{A: rcAddr, B: e.bob.addr, ChallengePeriod: period}
		e.mustTx(e.carol, rcAddr, eth(3), rc.PackExecute(e.adjAddr, e.adj.PackOpen(p, eth(3))))
		e.mustTx(e.carol, rcAddr, nil, rc.PackExecute(e.adjAddr, e.adj.PackClose(p, noProof(), noProof())))
		e.advanceTo(e.state(p).SettleAfter + 1)
		r := e.mustTx(e.carol, e.adjAddr, nil, e.adj.PackSettle(p))
		cr := oneEvent(t, r, e.adj.UnpackPayoutCreditedEvent)
		if cr.ChannelId != e.id(p) || cr.Account != rcAddr || cr.Token != (common.Address{}) {
			t.Fatalf("PayoutCredited = %+v", cr)
		}
		eqInt(t, "credited", cr.Amount, eth(3))
		eqInt(t, "ledger", e.payout(rcAddr, common.Address{}), eth(3))
		eqInt(t, "adjudicator holds", e.ethBalance(e.adjAddr), eth(3))
		e.mustTx(e.carol, rcAddr, nil, rc.PackSetRejectPayments(false))
		return e, rc, rcAddr
	}

	t.Run("withdraw credited payout", func(t *testing.T) {
		t.Parallel()
		e, rc, rcAddr := setup(t)
		before := e.ethBalance(rcAddr)
		r := e.mustTx(e.carol, rcAddr, nil, rc.PackExecute(e.adjAddr, e.adj.PackWithdrawPayout(common.Address{})))
		eqInt(t, "receiver got", sub(e.ethBalance(rcAddr), before), eth(3))
		eqInt(t, "ledger", e.payout(rcAddr, common.Address{}), new(big.Int))
		eqInt(t, "adjudicator holds", e.ethBalance(e.adjAddr), new(big.Int))
		pw := oneEvent(t, r, e.adj.UnpackPayoutWithdrawnEvent)
		if pw.Account != rcAddr || pw.Token != (common.Address{}) {
			t.Fatalf("PayoutWithdrawn = %+v", pw)
		}
		eqInt(t, "PayoutWithdrawn.amount", pw.Amount, eth(3))
		// Nothing more to withdraw.
		e.expectRevert(e.carol, rcAddr, nil, rc.PackExecute(e.adjAddr, e.adj.PackWithdrawPayout(common.Address{})),
			want("NoPayout", rcAddr, common.Address{}))
	})

	t.Run("refused withdrawal reverts and keeps the credit", func(t *testing.T) {
		t.Parallel()
		e, rc, rcAddr := setup(t)
		e.mustTx(e.carol, rcAddr, nil, rc.PackSetRejectPayments(true))
		e.expectRevert(e.carol, rcAddr, nil, rc.PackExecute(e.adjAddr, e.adj.PackWithdrawPayout(common.Address{})),
			want("EthTransferFailed", rcAddr, eth(3)))
		eqInt(t, "ledger", e.payout(rcAddr, common.Address{}), eth(3))
	})

	t.Run("reentrancy on payout withdrawal fails", func(t *testing.T) {
		t.Parallel()
		e, rc, rcAddr := setup(t)
		// On receiving ETH the receiver calls withdrawPayout again.
		e.mustTx(e.carol, rcAddr, nil, rc.PackSetReentry(e.adjAddr, e.adj.PackWithdrawPayout(common.Address{})))
		before := e.ethBalance(rcAddr)
		e.mustTx(e.carol, rcAddr, nil, rc.PackExecute(e.adjAddr, e.adj.PackWithdrawPayout(common.Address{})))
		eqInt(t, "receiver got exactly once", sub(e.ethBalance(rcAddr), before), eth(3))
		eqInt(t, "adjudicator holds", e.ethBalance(e.adjAddr), new(big.Int))

		attempted, _ := rc.UnpackReentryAttempted(e.call(rcAddr, rc.PackReentryAttempted()))
		succeeded, _ := rc.UnpackReentrySucceeded(e.call(rcAddr, rc.PackReentrySucceeded()))
		ret, _ := rc.UnpackReentryReturn(e.call(rcAddr, rc.PackReentryReturn()))
		if !attempted || succeeded {
			t.Fatalf("re-entry attempted=%v succeeded=%v, want attempted and failed", attempted, succeeded)
		}
		got, err := decodeRevert(ret)
		if err != nil || got.String() != want("Reentrancy").String() {
			t.Fatalf("re-entry reverted with %v (%v), want Reentrancy()", got, err)
		}
	})

	t.Run("reentrancy during a push fails", func(t *testing.T) {
		t.Parallel()
		// The receiver re-enters settle of another channel while being paid
		// by a cooperative close: the guard stops it, the push still lands.
		e := newEnv(t)
		rc, rcAddr := e.receiver()
		p := bindings.AdjudicatorChannelParams{A: rcAddr, B: e.bob.addr, ChallengePeriod: period}
		e.mustTx(e.carol, rcAddr, eth(2), rc.PackExecute(e.adjAddr, e.adj.PackOpen(p, eth(2))))
		e.mustTx(e.carol, rcAddr, nil, rc.PackSetReentry(e.adjAddr, e.adj.PackWithdrawPayout(common.Address{})))
		// The receiver cannot sign, so it leaves through force close.
		e.mustTx(e.carol, rcAddr, nil, rc.PackExecute(e.adjAddr, e.adj.PackClose(p, noProof(), noProof())))
		e.advanceTo(e.state(p).SettleAfter + 1)
		before := e.ethBalance(rcAddr)
		r := e.mustTx(e.carol, e.adjAddr, nil, e.adj.PackSettle(p))
		// Either the push landed (re-entry failed inside, within the push
		// gas) or it was credited; in both cases exactly 2 ETH is owed or paid.
		paid := sub(e.ethBalance(rcAddr), before)
		credited := e.payout(rcAddr, common.Address{})
		eqInt(t, "paid + credited", add(paid, credited), eth(2))
		if len(events(t, r, e.adj.UnpackPayoutCreditedEvent)) == 0 {
			succeeded, _ := rc.UnpackReentrySucceeded(e.call(rcAddr, rc.PackReentrySucceeded()))
			if succeeded {
				t.Fatal("re-entry during push succeeded")
			}
		}
	})
}
