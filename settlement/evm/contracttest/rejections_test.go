package contracttest

import (
	"bytes"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/tinypay/tinypay/settlement/evm/bindings"
	"github.com/tinypay/tinypay/settlement/evm/bindings/testbindings"
)

// attempt is a transaction that must revert with want.
type attempt struct {
	from  account
	to    common.Address // zero means the adjudicator
	value *big.Int
	data  []byte
	want  revert
}

// --- fixtures -------------------------------------------------------------------

// openETH is an open ETH channel, 10 ETH deposited by each side.
func (e *env) openETH() bindings.AdjudicatorChannelParams {
	return e.fundedChannel(common.Address{}, eth)
}

// closedETH is a force-closed ETH channel: alice closed with bob's proof of
// 3 ETH (nonce 5).
func (e *env) closedETH() bindings.AdjudicatorChannelParams {
	p := e.openETH()
	e.mustTx(e.alice, e.adjAddr, nil, e.adj.PackClose(p, e.proof(e.bob, p, 5, eth(3)), noProof()))
	return p
}

// coopClosedETH is an ETH channel closed cooperatively.
func (e *env) coopClosedETH() bindings.AdjudicatorChannelParams {
	p := e.openETH()
	exp := e.now() + 100
	sa, sb := e.coopSigs(p, eth(10), eth(10), exp)
	e.mustTx(e.carol, e.adjAddr, nil, e.adj.PackCooperativeClose(p, eth(10), eth(10), exp, sa, sb))
	return p
}

// settledETH is an ETH channel force-closed and settled.
func (e *env) settledETH() bindings.AdjudicatorChannelParams {
	p := e.closedETH()
	e.advanceTo(e.state(p).SettleAfter + 1)
	e.mustTx(e.carol, e.adjAddr, nil, e.adj.PackSettle(p))
	return p
}

// --- signature mutations ----------------------------------------------------------

// highS turns a valid signature into its malleable twin (n - S, V flipped),
// which ecrecover would accept.
func highS(sig []byte) []byte {
	out := bytes.Clone(sig)
	s := new(big.Int).SetBytes(sig[32:64])
	copy(out[32:64], common.LeftPadBytes(new(big.Int).Sub(secp256k1N, s).Bytes(), 32))
	out[64] = 55 - sig[64] // 27 <-> 28
	return out
}

func withV(sig []byte, v byte) []byte {
	out := bytes.Clone(sig)
	out[64] = v
	return out
}

// recoverSigner is the address ecrecover yields for sig over digest.
func recoverSigner(digest, sig []byte) common.Address {
	s := bytes.Clone(sig)
	s[64] -= 27
	pub, err := crypto.SigToPub(digest, s)
	if err != nil {
		panic(err)
	}
	return crypto.PubkeyToAddress(*pub)
}

// otherChannel is a channel alice and bob never opened (different salt).
func otherChannel(p bindings.AdjudicatorChannelParams) bindings.AdjudicatorChannelParams {
	q := p
	q.Salt[0] ^= 0xff
	return q
}

func TestRejections(t *testing.T) {
	const yearPlusOne = 365*24*3600 + 1
	zero := new(big.Int)

	// coopWithSigA builds a cooperative close of an open ETH channel (10/10)
	// with alice's signature replaced by mutate's result; the expected
	// revert may depend on the mutated signature and the true digest.
	coopWithSigA := func(e *env, mutate func(sig []byte, p bindings.AdjudicatorChannelParams, exp uint64) []byte, w func(sig, digest []byte) revert) attempt {
		p := e.openETH()
		exp := e.now() + 100
		sa, sb := e.coopSigs(p, eth(10), eth(10), exp)
		sa = mutate(sa, p, exp)
		digest := e.domain().cooperativeCloseDigest(e.id(p), eth(10), eth(10), exp)
		return attempt{from: e.carol, data: e.adj.PackCooperativeClose(p, eth(10), eth(10), exp, sa, sb), want: w(sa, digest)}
	}
	// updateWith builds an update of a closed channel with one proof.
	updateWith := func(e *env, build func(p bindings.AdjudicatorChannelParams) bindings.AdjudicatorProof, w func(pr bindings.AdjudicatorProof, p bindings.AdjudicatorChannelParams) revert) attempt {
		p := e.closedETH()
		pr := build(p)
		return attempt{from: e.carol, data: e.adj.PackUpdate(p, []bindings.AdjudicatorProof{pr}), want: w(pr, p)}
	}
	// notParticipantSigner is the revert of an update whose proof recovers
	// to someone else than alice or bob.
	notParticipantSigner := func(e *env) func(pr bindings.AdjudicatorProof, p bindings.AdjudicatorChannelParams) revert {
		return func(pr bindings.AdjudicatorProof, p bindings.AdjudicatorChannelParams) revert {
			return want("SignerNotParticipant", recoverSigner(e.domain().balanceProofDigest(e.id(p), pr.Nonce, pr.Transferred), pr.Signature))
		}
	}

	tests := []struct {
		name string
		run  func(e *env) attempt
	}{
		// ---- open ----
		{"open/zero deposit", func(e *env) attempt {
			p := e.params(common.Address{}, 1)
			return attempt{from: e.alice, data: e.adj.PackOpen(p, zero), want: want("ZeroAmount")}
		}},
		{"open/a equals b", func(e *env) attempt {
			p := e.params(common.Address{}, 1)
			p.B = p.A
			return attempt{from: e.alice, value: eth(1), data: e.adj.PackOpen(p, eth(1)), want: want("InvalidParticipants", p.A, p.A)}
		}},
		{"open/zero participant", func(e *env) attempt {
			p := e.params(common.Address{}, 1)
			p.B = common.Address{}
			return attempt{from: e.alice, value: eth(1), data: e.adj.PackOpen(p, eth(1)), want: want("InvalidParticipants", p.A, p.B)}
		}},
		{"open/zero challenge period", func(e *env) attempt {
			p := e.params(common.Address{}, 1)
			p.ChallengePeriod = 0
			return attempt{from: e.alice, value: eth(1), data: e.adj.PackOpen(p, eth(1)), want: want("InvalidChallengePeriod", uint64(0))}
		}},
		{"open/challenge period above a year", func(e *env) attempt {
			p := e.params(common.Address{}, 1)
			p.ChallengePeriod = yearPlusOne
			return attempt{from: e.alice, value: eth(1), data: e.adj.PackOpen(p, eth(1)), want: want("InvalidChallengePeriod", uint64(yearPlusOne))}
		}},
		{"open/by non-participant", func(e *env) attempt {
			p := e.params(common.Address{}, 1)
			return attempt{from: e.carol, value: eth(1), data: e.adj.PackOpen(p, eth(1)), want: want("NotParticipant", e.carol.addr)}
		}},
		{"open/ETH msg.value too low", func(e *env) attempt {
			p := e.params(common.Address{}, 1)
			return attempt{from: e.alice, value: eth(9), data: e.adj.PackOpen(p, eth(10)), want: want("WrongMsgValue", eth(10), eth(9))}
		}},
		{"open/ETH msg.value too high", func(e *env) attempt {
			p := e.params(common.Address{}, 1)
			return attempt{from: e.alice, value: eth(11), data: e.adj.PackOpen(p, eth(10)), want: want("WrongMsgValue", eth(10), eth(11))}
		}},
		{"open/token with msg.value", func(e *env) attempt {
			p := e.params(e.tokAddr, 1)
			return attempt{from: e.alice, value: big.NewInt(1), data: e.adj.PackOpen(p, dollars(10)), want: want("WrongMsgValue", zero, big.NewInt(1))}
		}},
		{"open/token without allowance", func(e *env) attempt {
			e.mustTx(e.alice, e.tokAddr, nil, e.tok.PackApprove(e.adjAddr, zero))
			p := e.params(e.tokAddr, 1)
			return attempt{from: e.alice, data: e.adj.PackOpen(p, dollars(10)), want: want("TokenTransferFailed", e.tokAddr)}
		}},
		{"open/token above balance", func(e *env) attempt {
			p := e.params(e.tokAddr, 1)
			return attempt{from: e.alice, data: e.adj.PackOpen(p, dollars(2_000_000)), want: want("TokenTransferFailed", e.tokAddr)}
		}},
		{"open/fee-on-transfer token refused", func(e *env) attempt {
			fot := testbindings.NewFeeOnTransferToken()
			fotAddr := e.deploy(e.carol, testbindings.FeeOnTransferTokenMetaData.Bin)
			e.mustTx(e.alice, fotAddr, nil, fot.PackMint(e.alice.addr, dollars(100)))
			e.mustTx(e.alice, fotAddr, nil, fot.PackApprove(e.adjAddr, dollars(100)))
			p := e.params(fotAddr, 1)
			return attempt{from: e.alice, data: e.adj.PackOpen(p, dollars(100)),
				want: want("FeeOnTransferRefused", fotAddr, dollars(100), dollars(99))}
		}},
		{"open/token address without code", func(e *env) attempt {
			p := e.params(e.mallory.addr, 1)
			return attempt{from: e.alice, data: e.adj.PackOpen(p, dollars(10)), want: want("NotAToken", e.mallory.addr)}
		}},
		{"open/deposit above uint120", func(e *env) attempt {
			p := e.params(e.tokAddr, 1)
			big := add(maxU120, big.NewInt(1))
			return attempt{from: e.alice, data: e.adj.PackOpen(p, big), want: want("AmountTooLarge", big, maxU120)}
		}},
		{"open/already open", func(e *env) attempt {
			p := e.openETH()
			return attempt{from: e.bob, value: eth(1), data: e.adj.PackOpen(p, eth(1)), want: want("ChannelExists", e.id(p))}
		}},
		{"open/while closed", func(e *env) attempt {
			p := e.closedETH()
			return attempt{from: e.alice, value: eth(1), data: e.adj.PackOpen(p, eth(1)), want: want("ChannelExists", e.id(p))}
		}},
		{"open/reuse params after cooperative close", func(e *env) attempt {
			p := e.coopClosedETH()
			return attempt{from: e.alice, value: eth(1), data: e.adj.PackOpen(p, eth(1)), want: want("ChannelExists", e.id(p))}
		}},
		{"open/reuse params after settle", func(e *env) attempt {
			p := e.settledETH()
			return attempt{from: e.bob, value: eth(1), data: e.adj.PackOpen(p, eth(1)), want: want("ChannelExists", e.id(p))}
		}},

		// ---- deposit ----
		{"deposit/unknown channel", func(e *env) attempt {
			p := e.params(common.Address{}, 9)
			return attempt{from: e.alice, value: eth(1), data: e.adj.PackDeposit(p, e.alice.addr, eth(1)), want: want("WrongPhase", e.id(p), phaseNone)}
		}},
		{"deposit/closed", func(e *env) attempt {
			p := e.closedETH()
			return attempt{from: e.alice, value: eth(1), data: e.adj.PackDeposit(p, e.alice.addr, eth(11)), want: want("WrongPhase", e.id(p), phaseClosed)}
		}},
		{"deposit/settled", func(e *env) attempt {
			p := e.coopClosedETH()
			return attempt{from: e.alice, value: eth(1), data: e.adj.PackDeposit(p, e.alice.addr, eth(11)), want: want("WrongPhase", e.id(p), phaseSettled)}
		}},
		{"deposit/for non-participant", func(e *env) attempt {
			p := e.openETH()
			return attempt{from: e.carol, value: eth(1), data: e.adj.PackDeposit(p, e.carol.addr, eth(1)), want: want("NotParticipant", e.carol.addr)}
		}},
		{"deposit/equal total", func(e *env) attempt {
			p := e.openETH()
			return attempt{from: e.alice, data: e.adj.PackDeposit(p, e.alice.addr, eth(10)), want: want("NotIncreasing", eth(10), eth(10))}
		}},
		{"deposit/lower total", func(e *env) attempt {
			p := e.openETH()
			return attempt{from: e.alice, data: e.adj.PackDeposit(p, e.alice.addr, eth(9)), want: want("NotIncreasing", eth(10), eth(9))}
		}},
		{"deposit/ETH msg.value mismatch", func(e *env) attempt {
			p := e.openETH()
			return attempt{from: e.alice, value: eth(4), data: e.adj.PackDeposit(p, e.alice.addr, eth(15)), want: want("WrongMsgValue", eth(5), eth(4))}
		}},
		{"deposit/token with msg.value", func(e *env) attempt {
			p := e.fundedChannel(e.tokAddr, dollars)
			return attempt{from: e.alice, value: big.NewInt(1), data: e.adj.PackDeposit(p, e.alice.addr, dollars(15)), want: want("WrongMsgValue", zero, big.NewInt(1))}
		}},
		{"deposit/total above uint120", func(e *env) attempt {
			p := e.fundedChannel(e.tokAddr, dollars)
			big := add(maxU120, big.NewInt(1))
			return attempt{from: e.alice, data: e.adj.PackDeposit(p, e.alice.addr, big), want: want("AmountTooLarge", big, maxU120)}
		}},

		// ---- withdraw ----
		{"withdraw/unknown channel", func(e *env) attempt {
			p := e.params(common.Address{}, 9)
			sa, sb := e.withdrawSigs(p, e.alice.addr, eth(1), e.now()+100)
			return attempt{from: e.alice, data: e.adj.PackWithdraw(p, e.alice.addr, eth(1), e.now()+100, sa, sb), want: want("WrongPhase", e.id(p), phaseNone)}
		}},
		{"withdraw/closed", func(e *env) attempt {
			p := e.closedETH()
			sa, sb := e.withdrawSigs(p, e.alice.addr, eth(1), e.now()+100)
			return attempt{from: e.alice, data: e.adj.PackWithdraw(p, e.alice.addr, eth(1), e.now()+100, sa, sb), want: want("WrongPhase", e.id(p), phaseClosed)}
		}},
		{"withdraw/settled", func(e *env) attempt {
			p := e.coopClosedETH()
			sa, sb := e.withdrawSigs(p, e.alice.addr, eth(1), e.now()+100)
			return attempt{from: e.alice, data: e.adj.PackWithdraw(p, e.alice.addr, eth(1), e.now()+100, sa, sb), want: want("WrongPhase", e.id(p), phaseSettled)}
		}},
		{"withdraw/expired", func(e *env) attempt {
			p := e.openETH()
			exp := e.now() - 1
			sa, sb := e.withdrawSigs(p, e.alice.addr, eth(1), exp)
			return attempt{from: e.alice, data: e.adj.PackWithdraw(p, e.alice.addr, eth(1), exp, sa, sb),
				want: want("Expired", exp, new(big.Int).SetUint64(e.now()))}
		}},
		{"withdraw/zero", func(e *env) attempt {
			p := e.openETH()
			sa, sb := e.withdrawSigs(p, e.alice.addr, zero, e.now()+100)
			return attempt{from: e.alice, data: e.adj.PackWithdraw(p, e.alice.addr, zero, e.now()+100, sa, sb), want: want("NotIncreasing", zero, zero)}
		}},
		{"withdraw/non-increasing total", func(e *env) attempt {
			p := e.openETH()
			exp := e.now() + 100
			sa, sb := e.withdrawSigs(p, e.alice.addr, eth(3), exp)
			e.mustTx(e.alice, e.adjAddr, nil, e.adj.PackWithdraw(p, e.alice.addr, eth(3), exp, sa, sb))
			sa, sb = e.withdrawSigs(p, e.alice.addr, eth(2), exp)
			return attempt{from: e.alice, data: e.adj.PackWithdraw(p, e.alice.addr, eth(2), exp, sa, sb), want: want("NotIncreasing", eth(3), eth(2))}
		}},
		{"withdraw/above channel funds", func(e *env) attempt {
			p := e.openETH()
			sa, sb := e.withdrawSigs(p, e.alice.addr, eth(21), e.now()+100)
			return attempt{from: e.alice, data: e.adj.PackWithdraw(p, e.alice.addr, eth(21), e.now()+100, sa, sb), want: want("InsufficientFunds", eth(20), eth(21))}
		}},
		{"withdraw/without counterparty signature", func(e *env) attempt {
			p := e.openETH()
			sa, _ := e.withdrawSigs(p, e.alice.addr, eth(1), e.now()+100)
			return attempt{from: e.alice, data: e.adj.PackWithdraw(p, e.alice.addr, eth(1), e.now()+100, sa, sa), want: want("WrongSigner", e.bob.addr, e.alice.addr)}
		}},
		{"withdraw/signatures for the other participant", func(e *env) attempt {
			p := e.openETH()
			exp := e.now() + 100
			sa, sb := e.withdrawSigs(p, e.bob.addr, eth(1), exp)
			d := e.domain().withdrawDigest(e.id(p), e.alice.addr, eth(1), exp)
			return attempt{from: e.alice, data: e.adj.PackWithdraw(p, e.alice.addr, eth(1), exp, sa, sb), want: want("WrongSigner", e.alice.addr, recoverSigner(d, sa))}
		}},
		{"withdraw/for non-participant", func(e *env) attempt {
			p := e.openETH()
			sa, sb := e.withdrawSigs(p, e.carol.addr, eth(1), e.now()+100)
			return attempt{from: e.carol, data: e.adj.PackWithdraw(p, e.carol.addr, eth(1), e.now()+100, sa, sb), want: want("NotParticipant", e.carol.addr)}
		}},

		// ---- cooperativeClose ----
		{"cooperativeClose/unknown channel", func(e *env) attempt {
			p := e.params(common.Address{}, 9)
			sa, sb := e.coopSigs(p, zero, zero, e.now()+100)
			return attempt{from: e.carol, data: e.adj.PackCooperativeClose(p, zero, zero, e.now()+100, sa, sb), want: want("WrongPhase", e.id(p), phaseNone)}
		}},
		{"cooperativeClose/settled", func(e *env) attempt {
			p := e.settledETH()
			sa, sb := e.coopSigs(p, zero, zero, e.now()+100)
			return attempt{from: e.carol, data: e.adj.PackCooperativeClose(p, zero, zero, e.now()+100, sa, sb), want: want("WrongPhase", e.id(p), phaseSettled)}
		}},
		{"cooperativeClose/expired", func(e *env) attempt {
			p := e.openETH()
			exp := e.now() - 1
			sa, sb := e.coopSigs(p, eth(10), eth(10), exp)
			return attempt{from: e.carol, data: e.adj.PackCooperativeClose(p, eth(10), eth(10), exp, sa, sb),
				want: want("Expired", exp, new(big.Int).SetUint64(e.now()))}
		}},
		{"cooperativeClose/balances above total", func(e *env) attempt {
			p := e.openETH()
			sa, sb := e.coopSigs(p, eth(15), eth(6), e.now()+100)
			return attempt{from: e.carol, data: e.adj.PackCooperativeClose(p, eth(15), eth(6), e.now()+100, sa, sb), want: want("BalanceMismatch", eth(20), eth(15), eth(6))}
		}},
		{"cooperativeClose/balances below total", func(e *env) attempt {
			p := e.openETH()
			sa, sb := e.coopSigs(p, eth(5), eth(5), e.now()+100)
			return attempt{from: e.carol, data: e.adj.PackCooperativeClose(p, eth(5), eth(5), e.now()+100, sa, sb), want: want("BalanceMismatch", eth(20), eth(5), eth(5))}
		}},
		{"cooperativeClose/balances overflowing", func(e *env) attempt {
			p := e.openETH()
			// maxU256 + (20 ETH + 1) wraps around to 20 ETH in 256 bits.
			b := add(eth(20), big.NewInt(1))
			sa, sb := e.coopSigs(p, maxU256, b, e.now()+100)
			return attempt{from: e.carol, data: e.adj.PackCooperativeClose(p, maxU256, b, e.now()+100, sa, sb), want: want("BalanceMismatch", eth(20), maxU256, b)}
		}},
		{"cooperativeClose/signature with r = 0", func(e *env) attempt {
			return coopWithSigA(e, func(sig []byte, _ bindings.AdjudicatorChannelParams, _ uint64) []byte {
				out := bytes.Clone(sig)
				clear(out[:32])
				return out
			}, func(_, _ []byte) revert { return want("InvalidSignature") })
		}},
		{"cooperativeClose/corrupted signature", func(e *env) attempt {
			return coopWithSigA(e, func(sig []byte, _ bindings.AdjudicatorChannelParams, _ uint64) []byte {
				out := bytes.Clone(sig)
				out[63] ^= 0x01 // a different low S: recovers some other key
				return out
			}, func(sig, d []byte) revert { return want("WrongSigner", e.alice.addr, recoverSigner(d, sig)) })
		}},
		{"cooperativeClose/high S", func(e *env) attempt {
			return coopWithSigA(e, func(sig []byte, _ bindings.AdjudicatorChannelParams, _ uint64) []byte { return highS(sig) },
				func(sig, _ []byte) revert { return want("InvalidSignatureS", [32]byte(sig[32:64])) })
		}},
		{"cooperativeClose/high S, V not flipped", func(e *env) attempt {
			return coopWithSigA(e, func(sig []byte, _ bindings.AdjudicatorChannelParams, _ uint64) []byte {
				return withV(highS(sig), sig[64])
			},
				func(sig, _ []byte) revert { return want("InvalidSignatureS", [32]byte(sig[32:64])) })
		}},
		{"cooperativeClose/V = 0", func(e *env) attempt {
			return coopWithSigA(e, func(sig []byte, _ bindings.AdjudicatorChannelParams, _ uint64) []byte { return withV(sig, sig[64]-27) },
				func(sig, _ []byte) revert { return want("InvalidSignatureV", sig[64]) })
		}},
		{"cooperativeClose/V = 29", func(e *env) attempt {
			return coopWithSigA(e, func(sig []byte, _ bindings.AdjudicatorChannelParams, _ uint64) []byte { return withV(sig, 29) },
				func(_, _ []byte) revert { return want("InvalidSignatureV", uint8(29)) })
		}},
		{"cooperativeClose/64-byte signature", func(e *env) attempt {
			return coopWithSigA(e, func(sig []byte, _ bindings.AdjudicatorChannelParams, _ uint64) []byte { return sig[:64] },
				func(_, _ []byte) revert { return want("InvalidSignatureLength", big.NewInt(64)) })
		}},
		{"cooperativeClose/empty signature", func(e *env) attempt {
			return coopWithSigA(e, func([]byte, bindings.AdjudicatorChannelParams, uint64) []byte { return nil },
				func(_, _ []byte) revert { return want("InvalidSignatureLength", zero) })
		}},
		{"cooperativeClose/digest with wrong chain id", func(e *env) attempt {
			return coopWithSigA(e, func(_ []byte, p bindings.AdjudicatorChannelParams, exp uint64) []byte {
				d := domain{chainID: big.NewInt(1), contract: e.adjAddr}
				return sign(e.alice, d.cooperativeCloseDigest(e.id(p), eth(10), eth(10), exp))
			}, func(sig, d []byte) revert { return want("WrongSigner", e.alice.addr, recoverSigner(d, sig)) })
		}},
		{"cooperativeClose/digest with wrong contract", func(e *env) attempt {
			return coopWithSigA(e, func(_ []byte, p bindings.AdjudicatorChannelParams, exp uint64) []byte {
				d := domain{chainID: chainID, contract: e.tokAddr}
				return sign(e.alice, d.cooperativeCloseDigest(e.id(p), eth(10), eth(10), exp))
			}, func(sig, d []byte) revert { return want("WrongSigner", e.alice.addr, recoverSigner(d, sig)) })
		}},
		{"cooperativeClose/signature for another channel", func(e *env) attempt {
			return coopWithSigA(e, func(_ []byte, p bindings.AdjudicatorChannelParams, exp uint64) []byte {
				return sign(e.alice, e.domain().cooperativeCloseDigest(e.id(otherChannel(p)), eth(10), eth(10), exp))
			}, func(sig, d []byte) revert { return want("WrongSigner", e.alice.addr, recoverSigner(d, sig)) })
		}},
		{"cooperativeClose/withdraw signature replayed as close", func(e *env) attempt {
			return coopWithSigA(e, func(_ []byte, p bindings.AdjudicatorChannelParams, exp uint64) []byte {
				return sign(e.alice, e.domain().withdrawDigest(e.id(p), e.alice.addr, eth(10), exp))
			}, func(sig, d []byte) revert { return want("WrongSigner", e.alice.addr, recoverSigner(d, sig)) })
		}},
		{"cooperativeClose/signed by outsider", func(e *env) attempt {
			return coopWithSigA(e, func(_ []byte, p bindings.AdjudicatorChannelParams, exp uint64) []byte {
				return sign(e.mallory, e.domain().cooperativeCloseDigest(e.id(p), eth(10), eth(10), exp))
			}, func(_, _ []byte) revert { return want("WrongSigner", e.alice.addr, e.mallory.addr) })
		}},
		{"cooperativeClose/signatures swapped", func(e *env) attempt {
			p := e.openETH()
			sa, sb := e.coopSigs(p, eth(10), eth(10), e.now()+100)
			return attempt{from: e.carol, data: e.adj.PackCooperativeClose(p, eth(10), eth(10), e.now()+100, sb, sa), want: want("WrongSigner", e.alice.addr, e.bob.addr)}
		}},

		// ---- close ----
		{"close/by non-participant", func(e *env) attempt {
			p := e.openETH()
			return attempt{from: e.mallory, data: e.adj.PackClose(p, noProof(), noProof()), want: want("NotParticipant", e.mallory.addr)}
		}},
		{"close/unknown channel", func(e *env) attempt {
			p := e.params(common.Address{}, 9)
			return attempt{from: e.alice, data: e.adj.PackClose(p, noProof(), noProof()), want: want("WrongPhase", e.id(p), phaseNone)}
		}},
		{"close/already closed", func(e *env) attempt {
			p := e.closedETH()
			return attempt{from: e.bob, data: e.adj.PackClose(p, noProof(), noProof()), want: want("WrongPhase", e.id(p), phaseClosed)}
		}},
		{"close/settled", func(e *env) attempt {
			p := e.coopClosedETH()
			return attempt{from: e.bob, data: e.adj.PackClose(p, noProof(), noProof()), want: want("WrongPhase", e.id(p), phaseSettled)}
		}},
		{"close/counterparty proof signed by the caller", func(e *env) attempt {
			p := e.openETH()
			return attempt{from: e.alice, data: e.adj.PackClose(p, e.proof(e.alice, p, 1, eth(1)), noProof()), want: want("WrongSigner", e.bob.addr, e.alice.addr)}
		}},
		{"close/own proof signed by the counterparty", func(e *env) attempt {
			p := e.openETH()
			return attempt{from: e.alice, data: e.adj.PackClose(p, noProof(), e.proof(e.bob, p, 1, eth(1))), want: want("WrongSigner", e.alice.addr, e.bob.addr)}
		}},
		{"close/proof for another channel", func(e *env) attempt {
			p := e.openETH()
			pr := e.proof(e.bob, otherChannel(p), 1, eth(1))
			d := e.domain().balanceProofDigest(e.id(p), 1, eth(1))
			return attempt{from: e.alice, data: e.adj.PackClose(p, pr, noProof()), want: want("WrongSigner", e.bob.addr, recoverSigner(d, pr.Signature))}
		}},
		{"close/proof with wrong chain id", func(e *env) attempt {
			p := e.openETH()
			d := domain{chainID: big.NewInt(1), contract: e.adjAddr}
			pr := bindings.AdjudicatorProof{Nonce: 1, Transferred: eth(1), Signature: sign(e.bob, d.balanceProofDigest(e.id(p), 1, eth(1)))}
			return attempt{from: e.alice, data: e.adj.PackClose(p, pr, noProof()),
				want: want("WrongSigner", e.bob.addr, recoverSigner(e.domain().balanceProofDigest(e.id(p), 1, eth(1)), pr.Signature))}
		}},
		{"close/unsigned proof with an amount", func(e *env) attempt {
			p := e.openETH()
			pr := bindings.AdjudicatorProof{Nonce: 0, Transferred: eth(1)}
			return attempt{from: e.alice, data: e.adj.PackClose(p, pr, noProof()), want: want("UnsignedProofNotEmpty")}
		}},
		{"close/high-S proof", func(e *env) attempt {
			p := e.openETH()
			pr := e.proof(e.bob, p, 1, eth(1))
			pr.Signature = highS(pr.Signature)
			return attempt{from: e.alice, data: e.adj.PackClose(p, pr, noProof()), want: want("InvalidSignatureS", [32]byte(pr.Signature[32:64]))}
		}},

		// ---- update ----
		{"update/open channel", func(e *env) attempt {
			p := e.openETH()
			return attempt{from: e.carol, data: e.adj.PackUpdate(p, []bindings.AdjudicatorProof{e.proof(e.bob, p, 1, eth(1))}), want: want("WrongPhase", e.id(p), phaseOpen)}
		}},
		{"update/unknown channel", func(e *env) attempt {
			p := e.params(common.Address{}, 9)
			return attempt{from: e.carol, data: e.adj.PackUpdate(p, []bindings.AdjudicatorProof{e.proof(e.bob, p, 1, eth(1))}), want: want("WrongPhase", e.id(p), phaseNone)}
		}},
		{"update/settled", func(e *env) attempt {
			p := e.settledETH()
			return attempt{from: e.carol, data: e.adj.PackUpdate(p, []bindings.AdjudicatorProof{e.proof(e.bob, p, 9, eth(9))}), want: want("WrongPhase", e.id(p), phaseSettled)}
		}},
		{"update/after the challenge period", func(e *env) attempt {
			p := e.closedETH()
			sa := e.state(p).SettleAfter
			e.advanceTo(sa + 1)
			return attempt{from: e.carol, data: e.adj.PackUpdate(p, []bindings.AdjudicatorProof{e.proof(e.bob, p, 9, eth(9))}),
				want: want("ChallengePeriodOver", sa, new(big.Int).SetUint64(sa+1))}
		}},
		{"update/equal transferred", func(e *env) attempt {
			return updateWith(e, func(p bindings.AdjudicatorChannelParams) bindings.AdjudicatorProof {
				return e.proof(e.bob, p, 6, eth(3))
			},
				func(bindings.AdjudicatorProof, bindings.AdjudicatorChannelParams) revert {
					return want("NotIncreasing", eth(3), eth(3))
				})
		}},
		{"update/lower transferred", func(e *env) attempt {
			return updateWith(e, func(p bindings.AdjudicatorChannelParams) bindings.AdjudicatorProof {
				return e.proof(e.bob, p, 4, eth(2))
			},
				func(bindings.AdjudicatorProof, bindings.AdjudicatorChannelParams) revert {
					return want("NotIncreasing", eth(3), eth(2))
				})
		}},
		{"update/zero over an empty direction", func(e *env) attempt {
			return updateWith(e, func(p bindings.AdjudicatorChannelParams) bindings.AdjudicatorProof {
				return e.proof(e.alice, p, 1, zero)
			},
				func(bindings.AdjudicatorProof, bindings.AdjudicatorChannelParams) revert {
					return want("NotIncreasing", zero, zero)
				})
		}},
		{"update/lower proof later in the batch", func(e *env) attempt {
			p := e.closedETH()
			prs := []bindings.AdjudicatorProof{e.proof(e.bob, p, 7, eth(5)), e.proof(e.bob, p, 8, eth(4))}
			return attempt{from: e.carol, data: e.adj.PackUpdate(p, prs), want: want("NotIncreasing", eth(5), eth(4))}
		}},
		{"update/signer not a participant", func(e *env) attempt {
			return updateWith(e, func(p bindings.AdjudicatorChannelParams) bindings.AdjudicatorProof {
				return e.proof(e.mallory, p, 9, eth(9))
			},
				func(bindings.AdjudicatorProof, bindings.AdjudicatorChannelParams) revert {
					return want("SignerNotParticipant", e.mallory.addr)
				})
		}},
		{"update/no proofs", func(e *env) attempt {
			p := e.closedETH()
			return attempt{from: e.carol, data: e.adj.PackUpdate(p, nil), want: want("NoProofs")}
		}},
		{"update/empty signature", func(e *env) attempt {
			return updateWith(e, func(bindings.AdjudicatorChannelParams) bindings.AdjudicatorProof {
				return bindings.AdjudicatorProof{Nonce: 9, Transferred: eth(9)}
			}, func(bindings.AdjudicatorProof, bindings.AdjudicatorChannelParams) revert {
				return want("InvalidSignatureLength", zero)
			})
		}},
		{"update/proof with wrong chain id", func(e *env) attempt {
			return updateWith(e, func(p bindings.AdjudicatorChannelParams) bindings.AdjudicatorProof {
				d := domain{chainID: big.NewInt(1), contract: e.adjAddr}
				return bindings.AdjudicatorProof{Nonce: 9, Transferred: eth(9), Signature: sign(e.bob, d.balanceProofDigest(e.id(p), 9, eth(9)))}
			}, notParticipantSigner(e))
		}},
		{"update/proof with wrong contract", func(e *env) attempt {
			return updateWith(e, func(p bindings.AdjudicatorChannelParams) bindings.AdjudicatorProof {
				d := domain{chainID: chainID, contract: e.tokAddr}
				return bindings.AdjudicatorProof{Nonce: 9, Transferred: eth(9), Signature: sign(e.bob, d.balanceProofDigest(e.id(p), 9, eth(9)))}
			}, notParticipantSigner(e))
		}},
		{"update/proof for another channel", func(e *env) attempt {
			return updateWith(e, func(p bindings.AdjudicatorChannelParams) bindings.AdjudicatorProof {
				return e.proof(e.bob, otherChannel(p), 9, eth(9))
			}, notParticipantSigner(e))
		}},
		{"update/close signature replayed as proof", func(e *env) attempt {
			return updateWith(e, func(p bindings.AdjudicatorChannelParams) bindings.AdjudicatorProof {
				return bindings.AdjudicatorProof{Nonce: 9, Transferred: eth(9),
					Signature: sign(e.bob, e.domain().cooperativeCloseDigest(e.id(p), eth(9), eth(11), 9))}
			}, notParticipantSigner(e))
		}},
		{"update/high-S proof", func(e *env) attempt {
			return updateWith(e, func(p bindings.AdjudicatorChannelParams) bindings.AdjudicatorProof {
				pr := e.proof(e.bob, p, 9, eth(9))
				pr.Signature = highS(pr.Signature)
				return pr
			}, func(pr bindings.AdjudicatorProof, _ bindings.AdjudicatorChannelParams) revert {
				return want("InvalidSignatureS", [32]byte(pr.Signature[32:64]))
			})
		}},
		{"update/bad V", func(e *env) attempt {
			return updateWith(e, func(p bindings.AdjudicatorChannelParams) bindings.AdjudicatorProof {
				pr := e.proof(e.bob, p, 9, eth(9))
				pr.Signature = withV(pr.Signature, 1)
				return pr
			}, func(bindings.AdjudicatorProof, bindings.AdjudicatorChannelParams) revert {
				return want("InvalidSignatureV", uint8(1))
			})
		}},

		// ---- settle ----
		{"settle/before the challenge period ends", func(e *env) attempt {
			p := e.closedETH()
			return attempt{from: e.carol, data: e.adj.PackSettle(p),
				want: want("ChallengePeriodNotOver", e.state(p).SettleAfter, new(big.Int).SetUint64(e.now()))}
		}},
		{"settle/twice", func(e *env) attempt {
			p := e.settledETH()
			return attempt{from: e.carol, data: e.adj.PackSettle(p), want: want("WrongPhase", e.id(p), phaseSettled)}
		}},
		{"settle/open channel", func(e *env) attempt {
			p := e.openETH()
			return attempt{from: e.carol, data: e.adj.PackSettle(p), want: want("WrongPhase", e.id(p), phaseOpen)}
		}},
		{"settle/unknown channel", func(e *env) attempt {
			p := e.params(common.Address{}, 9)
			return attempt{from: e.carol, data: e.adj.PackSettle(p), want: want("WrongPhase", e.id(p), phaseNone)}
		}},
		{"settle/after cooperative close", func(e *env) attempt {
			p := e.coopClosedETH()
			return attempt{from: e.carol, data: e.adj.PackSettle(p), want: want("WrongPhase", e.id(p), phaseSettled)}
		}},

		// ---- withdrawPayout ----
		{"withdrawPayout/nothing owed in ETH", func(e *env) attempt {
			e.settledETH() // paid out by push: nothing left in the ledger
			return attempt{from: e.alice, data: e.adj.PackWithdrawPayout(common.Address{}), want: want("NoPayout", e.alice.addr, common.Address{})}
		}},
		{"withdrawPayout/nothing owed in token", func(e *env) attempt {
			return attempt{from: e.bob, data: e.adj.PackWithdrawPayout(e.tokAddr), want: want("NoPayout", e.bob.addr, e.tokAddr)}
		}},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			a := tc.run(e)
			to := a.to
			if to == (common.Address{}) {
				to = e.adjAddr
			}
			e.expectRevert(a.from, to, a.value, a.data, a.want)
		})
	}
}
