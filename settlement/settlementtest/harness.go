// Package settlementtest is a conformance suite for settlement.Backend
// implementations: Run drives a pair of backends (Alice and Bob, each with
// its own key) through every operation and checks real outcomes on the
// chain: wallet balances to the last unit (gas included, from
// Receipt.Fee), channel records, events in order with their fields and an
// exactly resuming cursor, and the error kinds.
//
//	func TestConformance(t *testing.T) {
//		settlementtest.Run(t, func(t *testing.T) *settlementtest.Harness { ... })
//	}
//
// It is used by package evm on go-ethereum's simulated chain, and over
// HTTP against the dev chain. The suite uses fresh random channel salts and
// checks balance differences only, so a harness may share one chain
// between cases, as long as the cases run one at a time (they do).
package settlementtest

import (
	"context"
	"crypto/rand"
	"math/big"
	"testing"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/settlement"
)

// Harness is one chain and two participants.
type Harness struct {
	// Alice and Bob are backends bound to AliceKey's and BobKey's accounts,
	// on the same chain and adjudicator, with Confirmations such that a
	// returned transaction is visible to Head and Events at once (0).
	Alice, Bob       settlement.Backend
	AliceKey, BobKey *crypto.PrivateKey
	// Token is an ERC-20 both hold at least 1,000,000,000 base units of;
	// both hold at least 10 ETH.
	Token crypto.Address
	// ChallengePeriod of the suite's channels, in seconds (default 3600).
	ChallengePeriod uint64
	// Advance makes the chain's latest block time advance by at least
	// seconds and returns once such a block is the latest.
	Advance func(t testing.TB, seconds uint64)
	// SetRejectPayments, if set, makes account refuse (or accept again)
	// ETH pushed to it, so that the suite can exercise the pull ledger
	// (PayoutCredited, WithdrawPayout, PayoutWithdrawn). nil skips that.
	SetRejectPayments func(t testing.TB, account crypto.Address, reject bool)
	// Timeout bounds each case (default one minute).
	Timeout time.Duration
}

func (h *Harness) period() uint64 {
	if h.ChallengePeriod == 0 {
		return 3600
	}
	return h.ChallengePeriod
}

func (h *Harness) ctx(t testing.TB) context.Context {
	d := h.Timeout
	if d == 0 {
		d = time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// asset is a channel asset with the unit amounts are counted in.
type asset struct {
	name string
	addr crypto.Address
	unit *uint256.Int
}

func (h *Harness) assets() []asset {
	return []asset{
		{name: "ETH", unit: uint256.NewInt(1e15)},                 // 0.001 ETH
		{name: "Token", addr: h.Token, unit: uint256.NewInt(1e6)}, // one dollar of a 6-decimal token
	}
}

func (a asset) n(units uint64) *uint256.Int {
	return new(uint256.Int).Mul(uint256.NewInt(units), a.unit)
}

// params returns fresh channel parameters (a random salt) for Alice and Bob.
func (h *Harness) params(t testing.TB, a crypto.Address) settlement.Params {
	var salt crypto.Hash
	if _, err := rand.Read(salt[:]); err != nil {
		t.Fatal(err)
	}
	return settlement.Params{
		ChainID:         h.Alice.ChainID(),
		Adjudicator:     h.Alice.Adjudicator(),
		Participants:    [2]crypto.Address{h.AliceKey.Address(), h.BobKey.Address()},
		Asset:           a,
		ChallengePeriod: h.period(),
		Salt:            salt,
	}
}

func sign(t testing.TB, k *crypto.PrivateKey, digest crypto.Hash) crypto.Signature {
	t.Helper()
	sig, err := k.Sign(digest)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func domain(p settlement.Params) crypto.Domain { return crypto.NewDomain(p.ChainID, p.Adjudicator) }

// proof is a balance proof signed by k.
func proof(t testing.TB, k *crypto.PrivateKey, p settlement.Params, nonce uint64, transferred *uint256.Int) settlement.Proof {
	return settlement.Proof{Nonce: nonce, Transferred: *transferred, Sig: sign(t, k, domain(p).BalanceProofDigest(p.ID(), nonce, transferred))}
}

// coopSigs are both signatures over close terms.
func (h *Harness) coopSigs(t testing.TB, p settlement.Params, bal [2]uint256.Int, expiry uint64) [2]crypto.Signature {
	d := domain(p).CooperativeCloseDigest(p.ID(), &bal[0], &bal[1], expiry)
	return [2]crypto.Signature{sign(t, h.AliceKey, d), sign(t, h.BobKey, d)}
}

// withdrawSigs are both signatures over a withdrawal.
func (h *Harness) withdrawSigs(t testing.TB, p settlement.Params, who crypto.Address, total *uint256.Int, expiry uint64) [2]crypto.Signature {
	d := domain(p).WithdrawDigest(p.ID(), who, total, expiry)
	return [2]crypto.Signature{sign(t, h.AliceKey, d), sign(t, h.BobKey, d)}
}

// now is the latest confirmed block time.
func (h *Harness) now(t testing.TB, ctx context.Context) uint64 {
	t.Helper()
	head, err := h.Alice.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return head.Time
}

// ledger tracks Alice's and Bob's wallets in one asset (and in ETH, for
// gas) from a starting point, with the fees their transactions paid.
type ledger struct {
	t        testing.TB
	ctx      context.Context
	h        *Harness
	asset    crypto.Address
	startEth map[crypto.Address]*big.Int
	startAst map[crypto.Address]*big.Int
	fees     map[crypto.Address]*big.Int
}

func (h *Harness) ledger(t testing.TB, ctx context.Context, a crypto.Address) *ledger {
	l := &ledger{t: t, ctx: ctx, h: h, asset: a,
		startEth: map[crypto.Address]*big.Int{}, startAst: map[crypto.Address]*big.Int{}, fees: map[crypto.Address]*big.Int{}}
	for _, who := range []crypto.Address{h.AliceKey.Address(), h.BobKey.Address()} {
		l.startEth[who] = l.balance(who, crypto.Address{})
		l.startAst[who] = l.balance(who, a)
		l.fees[who] = new(big.Int)
	}
	return l
}

func (l *ledger) balance(who, a crypto.Address) *big.Int {
	l.t.Helper()
	v, err := l.h.Alice.Balance(l.ctx, who, a)
	if err != nil {
		l.t.Fatalf("balance of %s: %v", who, err)
	}
	return v.ToBig()
}

// paid records the gas a transaction sent by who cost.
func (l *ledger) paid(who crypto.Address, r settlement.Receipt) {
	l.fees[who].Add(l.fees[who], r.Fee.ToBig())
}

// check asserts that who's wallet changed by delta units of the asset
// since the start, besides the fees it paid, to the last unit (and, for a
// token, that its ETH changed by exactly the fees).
func (l *ledger) check(name string, who crypto.Address, delta *big.Int) {
	l.t.Helper()
	gotAst := new(big.Int).Sub(l.balance(who, l.asset), l.startAst[who])
	gotEth := new(big.Int).Sub(l.balance(who, crypto.Address{}), l.startEth[who])
	want := new(big.Int).Set(delta)
	if l.asset.IsZero() {
		want.Sub(want, l.fees[who])
		if gotEth.Cmp(want) != 0 {
			l.t.Fatalf("%s's ETH changed by %s wei, want %s (%s minus fees %s)", name, gotEth, want, delta, l.fees[who])
		}
		return
	}
	if gotAst.Cmp(want) != 0 {
		l.t.Fatalf("%s's token balance changed by %s, want %s", name, gotAst, want)
	}
	if wantEth := new(big.Int).Neg(l.fees[who]); gotEth.Cmp(wantEth) != 0 {
		l.t.Fatalf("%s's ETH changed by %s wei, want %s (the fees of its transactions)", name, gotEth, wantEth)
	}
}

func neg(x *uint256.Int) *big.Int { return new(big.Int).Neg(x.ToBig()) }

func sum(xs ...*uint256.Int) *big.Int {
	s := new(big.Int)
	for _, x := range xs {
		s.Add(s, x.ToBig())
	}
	return s
}

func u(x uint64) *uint256.Int { return uint256.NewInt(x) }
