package settlementtest

import (
	"errors"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/settlement"
)

// testCase is one conformance case.
type testCase struct {
	name string
	core bool // part of RunCore
	run  func(t *testing.T, h *Harness)
}

func cases() []testCase {
	var cs []testCase
	for _, a := range []int{0, 1} {
		a := a
		name := []string{"ETH", "Token"}[a]
		cs = append(cs,
			testCase{"CooperativeClose/" + name, a == 1, func(t *testing.T, h *Harness) { cooperativeClose(t, h, h.assets()[a]) }},
			testCase{"ForceCloseNewestProof/" + name, a == 0, func(t *testing.T, h *Harness) { forceClose(t, h, h.assets()[a]) }},
			testCase{"WithdrawWhileOpen/" + name, false, func(t *testing.T, h *Harness) { withdrawWhileOpen(t, h, h.assets()[a]) }},
		)
	}
	cs = append(cs,
		testCase{"StaleCloseThenNewerUpdateWins", true, staleCloseThenUpdate},
		testCase{"SettlementMatchesChannelModel", false, settlementModel},
		testCase{"EventsInOrderAndResumable", true, events},
		testCase{"Errors", true, errorKinds},
	)
	return cs
}

// Run runs every conformance case, each on the harness newHarness returns
// for it (which may be shared).
func Run(t *testing.T, newHarness func(t *testing.T) *Harness) {
	for _, c := range cases() {
		t.Run(c.name, func(t *testing.T) { c.run(t, newHarness(t)) })
	}
}

// RunCore runs the core cases only (one per operation, events, errors):
// for slow chains.
func RunCore(t *testing.T, newHarness func(t *testing.T) *Harness) {
	for _, c := range cases() {
		if c.core {
			t.Run(c.name, func(t *testing.T) { c.run(t, newHarness(t)) })
		}
	}
}

// must returns a function that fails the test unless a transaction method
// succeeded with a complete receipt: must(t, "open")(b.Open(...)).
func must(t testing.TB, what string) func(settlement.Receipt, error) settlement.Receipt {
	return func(r settlement.Receipt, err error) settlement.Receipt {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if r.TxHash.IsZero() || r.Block == 0 || r.GasUsed == 0 || r.Fee.IsZero() {
			t.Fatalf("%s: incomplete receipt %+v", what, r)
		}
		return r
	}
}

func channelOf(t testing.TB, h *Harness, p settlement.Params) settlement.Channel {
	t.Helper()
	ch, err := h.Alice.Channel(h.ctx(t), p.ID())
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func eqU(t testing.TB, what string, got, want *uint256.Int) {
	t.Helper()
	if !got.Eq(want) {
		t.Fatalf("%s = %s, want %s", what, got.Dec(), want.Dec())
	}
}

// wantRevert asserts err is a revert whose reason starts with name.
func wantRevert(t testing.TB, err error, name string) *settlement.RevertError {
	t.Helper()
	if !errors.Is(err, settlement.ErrReverted) {
		t.Fatalf("err = %v, want a revert %s", err, name)
	}
	var re *settlement.RevertError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v: not a *settlement.RevertError", err)
	}
	if !strings.HasPrefix(re.Reason, name) {
		t.Fatalf("revert reason %q, want %s", re.Reason, name)
	}
	return re
}

// open opens p with Alice's deposit and, if depB > 0, Bob's.
func open(t testing.TB, h *Harness, l *ledger, p settlement.Params, depA, depB *uint256.Int) {
	t.Helper()
	ctx := h.ctx(t)
	a, b := h.AliceKey.Address(), h.BobKey.Address()
	l.paid(a, must(t, "open")(h.Alice.Open(ctx, p, depA)))
	if !depB.IsZero() {
		l.paid(b, must(t, "deposit B")(h.Bob.Deposit(ctx, p, b, depB)))
	}
}

// cooperativeClose: open, deposit, top-up, cooperative close; every wallet
// to the last unit.
func cooperativeClose(t *testing.T, h *Harness, as asset) {
	ctx := h.ctx(t)
	a, b := h.AliceKey.Address(), h.BobKey.Address()
	l := h.ledger(t, ctx, as.addr)
	p := h.params(t, as.addr)

	open(t, h, l, p, as.n(10), as.n(5))
	l.paid(a, must(t, "top-up")(h.Alice.Deposit(ctx, p, a, as.n(12))))
	ch := channelOf(t, h, p)
	if ch.Phase != settlement.PhaseOpen {
		t.Fatalf("phase %s, want open", ch.Phase)
	}
	eqU(t, "deposit A", &ch.Deposit[0], as.n(12))
	eqU(t, "deposit B", &ch.Deposit[1], as.n(5))

	bal := [2]uint256.Int{*as.n(8), *as.n(9)}
	exp := h.now(t, ctx) + 600
	l.paid(b, must(t, "cooperative close")(h.Bob.CooperativeClose(ctx, p, bal, exp, h.coopSigs(t, p, bal, exp))))

	if ch := channelOf(t, h, p); ch.Phase != settlement.PhaseSettled {
		t.Fatalf("phase %s after cooperative close, want settled", ch.Phase)
	}
	l.check("Alice", a, new(big.Int).Sub(as.n(8).ToBig(), as.n(12).ToBig()))
	l.check("Bob", b, new(big.Int).Sub(as.n(9).ToBig(), as.n(5).ToBig()))
}

// forceClose: Bob closes with Alice's newest proof and his own; settle
// fails before the period is over and pays out after it.
func forceClose(t *testing.T, h *Harness, as asset) {
	ctx := h.ctx(t)
	a, b := h.AliceKey.Address(), h.BobKey.Address()
	l := h.ledger(t, ctx, as.addr)
	p := h.params(t, as.addr)
	open(t, h, l, p, as.n(10), as.n(10))

	aliceNewest := proof(t, h.AliceKey, p, 2, as.n(3))
	bobOwn := proof(t, h.BobKey, p, 1, as.n(1))
	l.paid(b, must(t, "force close")(h.Bob.ForceClose(ctx, p, aliceNewest, bobOwn)))

	ch := channelOf(t, h, p)
	if ch.Phase != settlement.PhaseClosed {
		t.Fatalf("phase %s, want closed", ch.Phase)
	}
	eqU(t, "transferred A->B", &ch.Transferred[0], as.n(3))
	eqU(t, "transferred B->A", &ch.Transferred[1], as.n(1))
	if now := h.now(t, ctx); ch.SettleAfter < now || ch.SettleAfter > now+h.period() {
		t.Fatalf("settleAfter %d, latest block time %d, period %d", ch.SettleAfter, now, h.period())
	}

	ethBefore := l.balance(a, crypto.Address{})
	_, err := h.Alice.Settle(ctx, p)
	wantRevert(t, err, "ChallengePeriodNotOver")
	if got := l.balance(a, crypto.Address{}); got.Cmp(ethBefore) != 0 {
		t.Fatalf("a settle refused before sending cost %s wei", new(big.Int).Sub(ethBefore, got))
	}

	h.Advance(t, h.period()+1)
	l.paid(a, must(t, "settle")(h.Alice.Settle(ctx, p)))
	if ch := channelOf(t, h, p); ch.Phase != settlement.PhaseSettled {
		t.Fatalf("phase %s after settle, want settled", ch.Phase)
	}
	// A: 10 - 3 + 1 = 8, B: 10 + 3 - 1 = 12; 20 in, 20 out.
	l.check("Alice", a, new(big.Int).Sub(as.n(8).ToBig(), as.n(10).ToBig()))
	l.check("Bob", b, new(big.Int).Sub(as.n(12).ToBig(), as.n(10).ToBig()))
}

// staleCloseThenUpdate: Alice (playing Mallory) force-closes with her own
// stale proof; Bob presents her newest one and wins; a stale update is
// refused with the decoded reason and costs nothing; an update after the
// period is refused.
func staleCloseThenUpdate(t *testing.T, h *Harness) {
	as := h.assets()[0]
	ctx := h.ctx(t)
	a, b := h.AliceKey.Address(), h.BobKey.Address()
	l := h.ledger(t, ctx, as.addr)
	p := h.params(t, as.addr)
	open(t, h, l, p, as.n(10), as.n(10))

	stale := proof(t, h.AliceKey, p, 1, as.n(2))
	middle := proof(t, h.AliceKey, p, 2, as.n(5))
	newest := proof(t, h.AliceKey, p, 3, as.n(7))
	l.paid(a, must(t, "stale force close")(h.Alice.ForceClose(ctx, p, settlement.Proof{}, stale)))
	ch := channelOf(t, h, p)
	eqU(t, "transferred A->B after the stale close", &ch.Transferred[0], as.n(2))

	l.paid(b, must(t, "update")(h.Bob.Update(ctx, p, []settlement.Proof{newest})))
	ch = channelOf(t, h, p)
	eqU(t, "transferred A->B after the update", &ch.Transferred[0], as.n(7))

	ethBefore := l.balance(b, crypto.Address{})
	_, err := h.Bob.Update(ctx, p, []settlement.Proof{middle})
	re := wantRevert(t, err, "NotIncreasing")
	if !strings.Contains(re.Reason, as.n(7).Dec()) || !strings.Contains(re.Reason, as.n(5).Dec()) {
		t.Fatalf("revert reason %q does not name the recorded (%s) and the proposed (%s) amount", re.Reason, as.n(7).Dec(), as.n(5).Dec())
	}
	if got := l.balance(b, crypto.Address{}); got.Cmp(ethBefore) != 0 {
		t.Fatalf("a stale update cost %s wei; it should be refused before sending", new(big.Int).Sub(ethBefore, got))
	}

	h.Advance(t, h.period()+1)
	late := proof(t, h.AliceKey, p, 4, as.n(8))
	_, err = h.Bob.Update(ctx, p, []settlement.Proof{late})
	wantRevert(t, err, "ChallengePeriodOver")

	l.paid(b, must(t, "settle")(h.Bob.Settle(ctx, p)))
	l.check("Alice", a, new(big.Int).Sub(as.n(3).ToBig(), as.n(10).ToBig()))
	l.check("Bob", b, new(big.Int).Sub(as.n(17).ToBig(), as.n(10).ToBig()))
}

// withdrawWhileOpen: a co-signed withdrawal pays out while the channel
// stays open; a repeated or expired one is refused; a top-up and a
// cooperative close follow, and payouts plus withdrawals equal deposits.
func withdrawWhileOpen(t *testing.T, h *Harness, as asset) {
	ctx := h.ctx(t)
	a, b := h.AliceKey.Address(), h.BobKey.Address()
	l := h.ledger(t, ctx, as.addr)
	p := h.params(t, as.addr)
	open(t, h, l, p, as.n(10), as.n(10))

	exp := h.now(t, ctx) + 600
	l.paid(b, must(t, "withdraw")(h.Bob.Withdraw(ctx, p, a, as.n(4), exp, h.withdrawSigs(t, p, a, as.n(4), exp))))
	ch := channelOf(t, h, p)
	if ch.Phase != settlement.PhaseOpen {
		t.Fatalf("phase %s after withdraw, want open", ch.Phase)
	}
	eqU(t, "withdrawn A", &ch.Withdrawn[0], as.n(4))
	l.check("Alice", a, new(big.Int).Sub(as.n(4).ToBig(), as.n(10).ToBig())) // Bob paid the gas

	_, err := h.Bob.Withdraw(ctx, p, a, as.n(4), exp, h.withdrawSigs(t, p, a, as.n(4), exp))
	wantRevert(t, err, "NotIncreasing")
	now := h.now(t, ctx)
	_, err = h.Alice.Withdraw(ctx, p, a, as.n(5), now, h.withdrawSigs(t, p, a, as.n(5), now))
	wantRevert(t, err, "Expired")

	l.paid(b, must(t, "top-up")(h.Bob.Deposit(ctx, p, b, as.n(15))))
	// Available: 10 + 15 - 4 = 21.
	bal := [2]uint256.Int{*as.n(5), *as.n(16)}
	exp = h.now(t, ctx) + 600
	l.paid(a, must(t, "cooperative close")(h.Alice.CooperativeClose(ctx, p, bal, exp, h.coopSigs(t, p, bal, exp))))
	l.check("Alice", a, new(big.Int).Sub(sum(as.n(4), as.n(5)), as.n(10).ToBig()))
	l.check("Bob", b, new(big.Int).Sub(as.n(16).ToBig(), as.n(15).ToBig()))
}

// settlementModel: for a table of deposits, withdrawals and proofs, the
// adjudicator's settle pays exactly channel.Settlement, and payouts sum to
// deposits minus withdrawals.
func settlementModel(t *testing.T, h *Harness) {
	as := h.assets()[1]
	ctx := h.ctx(t)
	a, b := h.AliceKey.Address(), h.BobKey.Address()
	max := new(uint256.Int).SetAllOne()
	maxLess1 := new(uint256.Int).Sub(max, u(1))
	type row struct {
		name        string
		dep, wd, tr [2]*uint256.Int
	}
	z := u(0)
	rows := []row{
		{"no payments", [2]*uint256.Int{as.n(10), as.n(5)}, [2]*uint256.Int{z, z}, [2]*uint256.Int{z, z}},
		{"both directions, A net payer", [2]*uint256.Int{as.n(10), as.n(5)}, [2]*uint256.Int{z, z}, [2]*uint256.Int{as.n(3), as.n(1)}},
		{"both directions, B net payer", [2]*uint256.Int{as.n(10), as.n(5)}, [2]*uint256.Int{z, z}, [2]*uint256.Int{as.n(1), as.n(4)}},
		{"A overpaid: clamped to zero", [2]*uint256.Int{as.n(10), as.n(5)}, [2]*uint256.Int{z, z}, [2]*uint256.Int{as.n(100), z}},
		{"B overpaid: clamped to zero", [2]*uint256.Int{as.n(10), as.n(5)}, [2]*uint256.Int{z, z}, [2]*uint256.Int{z, as.n(100)}},
		{"both 2^256-1: nets out", [2]*uint256.Int{as.n(10), as.n(5)}, [2]*uint256.Int{z, z}, [2]*uint256.Int{max, max}},
		{"A 2^256-1", [2]*uint256.Int{as.n(10), as.n(5)}, [2]*uint256.Int{z, z}, [2]*uint256.Int{max, z}},
		{"2^256-1 vs 2^256-2: one unit net", [2]*uint256.Int{as.n(10), as.n(5)}, [2]*uint256.Int{z, z}, [2]*uint256.Int{max, maxLess1}},
		{"withdrawal then overpay", [2]*uint256.Int{as.n(10), as.n(10)}, [2]*uint256.Int{as.n(4), z}, [2]*uint256.Int{as.n(8), z}},
		{"withdrawals on both sides", [2]*uint256.Int{as.n(10), as.n(10)}, [2]*uint256.Int{as.n(2), as.n(3)}, [2]*uint256.Int{as.n(1), as.n(6)}},
		{"B deposited nothing, receives", [2]*uint256.Int{as.n(7), z}, [2]*uint256.Int{z, z}, [2]*uint256.Int{as.n(2), z}},
	}
	type pending struct {
		r row
		p settlement.Params
	}
	var opened []pending
	for _, r := range rows {
		l := h.ledger(t, ctx, as.addr)
		p := h.params(t, as.addr)
		open(t, h, l, p, r.dep[0], r.dep[1])
		exp := h.now(t, ctx) + 600
		for side, who := range []crypto.Address{a, b} {
			if !r.wd[side].IsZero() {
				must(t, r.name+": withdraw")(h.Alice.Withdraw(ctx, p, who, r.wd[side], exp, h.withdrawSigs(t, p, who, r.wd[side], exp)))
			}
		}
		var peers, own settlement.Proof
		if !r.tr[1].IsZero() {
			peers = proof(t, h.BobKey, p, 1, r.tr[1])
		}
		if !r.tr[0].IsZero() {
			own = proof(t, h.AliceKey, p, 1, r.tr[0])
		}
		must(t, r.name+": force close")(h.Alice.ForceClose(ctx, p, peers, own))
		opened = append(opened, pending{r, p})
	}
	h.Advance(t, h.period()+1)
	for _, o := range opened {
		r := o.r
		l := h.ledger(t, ctx, as.addr)
		l.paid(b, must(t, r.name+": settle")(h.Bob.Settle(ctx, o.p)))
		want := channel.Settlement([2]uint256.Int{*r.dep[0], *r.dep[1]}, [2]uint256.Int{*r.wd[0], *r.wd[1]}, [2]uint256.Int{*r.tr[0], *r.tr[1]})
		l.check(r.name+": Alice", a, want[0].ToBig())
		l.check(r.name+": Bob", b, want[1].ToBig())
		total := new(big.Int).Sub(sum(r.dep[0], r.dep[1]), sum(r.wd[0], r.wd[1]))
		if got := sum(&want[0], &want[1]); got.Cmp(total) != 0 {
			t.Fatalf("%s: payouts sum to %s, deposits minus withdrawals are %s", r.name, got, total)
		}
	}
}

// errorKinds: not enough ETH, not enough tokens, decoded reverts; none of
// them costs gas.
func errorKinds(t *testing.T, h *Harness) {
	ctx := h.ctx(t)
	a := h.AliceKey.Address()
	ethBal := func() *uint256.Int {
		v, err := h.Alice.Balance(ctx, a, crypto.Address{})
		if err != nil {
			t.Fatal(err)
		}
		return &v
	}
	start := ethBal()

	p := h.params(t, crypto.Address{})
	_, err := h.Alice.Open(ctx, p, new(uint256.Int).AddUint64(start, 1))
	if !errors.Is(err, settlement.ErrInsufficientFunds) {
		t.Fatalf("open with more ETH than the account holds: %v, want ErrInsufficientFunds", err)
	}
	_, err = h.Alice.Open(ctx, p, start)
	if !errors.Is(err, settlement.ErrInsufficientFunds) {
		t.Fatalf("open with the whole balance, nothing left for gas: %v, want ErrInsufficientFunds", err)
	}

	tokBal, err := h.Alice.Balance(ctx, a, h.Token)
	if err != nil {
		t.Fatal(err)
	}
	pt := h.params(t, h.Token)
	_, err = h.Alice.Open(ctx, pt, new(uint256.Int).AddUint64(&tokBal, 1))
	if !errors.Is(err, settlement.ErrInsufficientFunds) {
		t.Fatalf("open with more tokens than the account holds: %v, want ErrInsufficientFunds", err)
	}
	if got := ethBal(); !got.Eq(start) {
		t.Fatalf("refused calls cost %s wei", new(uint256.Int).Sub(start, got).Dec())
	}

	// Reverts, decoded, before anything is sent.
	l := h.ledger(t, ctx, crypto.Address{})
	as := h.assets()[0]
	open(t, h, l, p, as.n(1), u(0))
	before := ethBal()
	_, err = h.Alice.Deposit(ctx, p, a, as.n(1))
	wantRevert(t, err, "NotIncreasing")
	_, err = h.Alice.Open(ctx, p, as.n(1))
	wantRevert(t, err, "ChannelExists")
	_, err = h.Alice.Settle(ctx, p)
	wantRevert(t, err, "WrongPhase")
	_, err = h.Alice.Update(ctx, p, []settlement.Proof{proof(t, h.BobKey, p, 1, as.n(1))})
	wantRevert(t, err, "WrongPhase")
	if got := ethBal(); !got.Eq(before) {
		t.Fatalf("refused calls cost %s wei", new(uint256.Int).Sub(before, got).Dec())
	}
	if _, _, err := h.Alice.WithdrawPayout(ctx, crypto.Address{}); err == nil {
		t.Fatal("withdraw payout with nothing credited succeeded")
	} else {
		wantRevert(t, err, "NoPayout")
	}
}

// events: two channels through every operation (and the pull ledger when
// the harness can refuse payments); Events returns each event in order
// with its fields, a walk with limit 1 equals one full read, and both
// participants' backends agree.
func events(t *testing.T, h *Harness) {
	ctx := h.ctx(t)
	a, b := h.AliceKey.Address(), h.BobKey.Address()
	head, err := h.Alice.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	start := settlement.Cursor{Block: head.Number, Index: math.MaxUint32}
	eth, tok := h.assets()[0], h.assets()[1]
	l := h.ledger(t, ctx, crypto.Address{})

	// Channel 1 (ETH): open, deposit, withdraw, cooperative close.
	p1 := h.params(t, crypto.Address{})
	rOpen := must(t, "open")(h.Alice.Open(ctx, p1, eth.n(10)))
	must(t, "deposit")(h.Bob.Deposit(ctx, p1, b, eth.n(5)))
	exp := h.now(t, ctx) + 600
	must(t, "withdraw")(h.Alice.Withdraw(ctx, p1, a, eth.n(2), exp, h.withdrawSigs(t, p1, a, eth.n(2), exp)))
	bal1 := [2]uint256.Int{*eth.n(6), *eth.n(7)}
	must(t, "cooperative close")(h.Bob.CooperativeClose(ctx, p1, bal1, exp, h.coopSigs(t, p1, bal1, exp)))

	// Channel 2 (token): open, deposit, close, update, settle.
	p2 := h.params(t, h.Token)
	must(t, "open")(h.Alice.Open(ctx, p2, tok.n(10)))
	must(t, "deposit")(h.Bob.Deposit(ctx, p2, b, tok.n(10)))
	must(t, "force close")(h.Alice.ForceClose(ctx, p2, proof(t, h.BobKey, p2, 1, tok.n(1)), settlement.Proof{}))
	must(t, "update")(h.Bob.Update(ctx, p2, []settlement.Proof{proof(t, h.AliceKey, p2, 3, tok.n(4))}))
	h.Advance(t, h.period()+1)
	must(t, "settle")(h.Bob.Settle(ctx, p2))

	// Channel 3 (ETH), if the harness can make Alice refuse payments: her
	// payout is credited to the pull ledger, and she collects it.
	var p3 settlement.Params
	if h.SetRejectPayments != nil {
		p3 = h.params(t, crypto.Address{})
		l = h.ledger(t, ctx, crypto.Address{})
		open(t, h, l, p3, eth.n(10), eth.n(5))
		h.SetRejectPayments(t, a, true)
		bal3 := [2]uint256.Int{*eth.n(6), *eth.n(9)}
		exp := h.now(t, ctx) + 600
		l.paid(b, must(t, "cooperative close")(h.Bob.CooperativeClose(ctx, p3, bal3, exp, h.coopSigs(t, p3, bal3, exp))))
		credited, err := h.Alice.Payout(ctx, a, crypto.Address{})
		if err != nil {
			t.Fatal(err)
		}
		eqU(t, "Alice's credited payout", &credited, eth.n(6))
		h.SetRejectPayments(t, a, false)
		l.startEth[a] = l.balance(a, crypto.Address{}) // the harness's own transactions cost gas too
		l.fees[a].SetInt64(0)
		amount, r, err := h.Alice.WithdrawPayout(ctx, crypto.Address{})
		l.paid(a, must(t, "withdraw payout")(r, err))
		eqU(t, "withdrawn payout", &amount, eth.n(6))
		l.check("Alice", a, eth.n(6).ToBig())
		if left, err := h.Alice.Payout(ctx, a, crypto.Address{}); err != nil || !left.IsZero() {
			t.Fatalf("payout after withdrawal: %s, %v", left.Dec(), err)
		}
	}

	target, err := h.Alice.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	full := readAll(t, h.Alice, start, target.Number, 10_000)
	walk := readAll(t, h.Alice, start, target.Number, 1)
	if !reflect.DeepEqual(full, walk) {
		t.Fatalf("a walk with limit 1 (%d events) differs from one read (%d events)", len(walk), len(full))
	}
	if fromBob := readAll(t, h.Bob, start, target.Number, 3); !reflect.DeepEqual(full, fromBob) {
		t.Fatalf("Bob's backend reads other events (%d) than Alice's (%d)", len(fromBob), len(full))
	}
	for i := 1; i < len(full); i++ {
		if !full[i-1].Cursor.Less(full[i].Cursor) || full[i].Time < full[i-1].Time {
			t.Fatalf("events %d and %d out of order: %+v, %+v", i-1, i, full[i-1].Cursor, full[i].Cursor)
		}
	}

	byChannel := func(p settlement.Params) []settlement.Event {
		var out []settlement.Event
		for _, e := range full {
			if e.Channel == p.ID() {
				out = append(out, e)
			}
		}
		return out
	}
	ev1 := byChannel(p1)
	checkKinds(t, "channel 1", ev1, settlement.EventOpened, settlement.EventDeposited, settlement.EventDeposited, settlement.EventWithdrawn, settlement.EventCooperativelyClosed)
	if !reflect.DeepEqual(ev1[0].Params, p1) {
		t.Fatalf("opened params %+v, want %+v", ev1[0].Params, p1)
	}
	if ev1[0].TxHash != rOpen.TxHash || ev1[0].Cursor.Block != rOpen.Block || ev1[0].Time == 0 {
		t.Fatalf("opened event tx %s block %d time %d, open receipt tx %s block %d", ev1[0].TxHash, ev1[0].Cursor.Block, ev1[0].Time, rOpen.TxHash, rOpen.Block)
	}
	checkAmount(t, "deposited A", ev1[1], a, eth.n(10))
	checkAmount(t, "deposited B", ev1[2], b, eth.n(5))
	checkAmount(t, "withdrawn A", ev1[3], a, eth.n(2))
	eqU(t, "cooperative close balance A", &ev1[4].Balances[0], eth.n(6))
	eqU(t, "cooperative close balance B", &ev1[4].Balances[1], eth.n(7))

	ev2 := byChannel(p2)
	checkKinds(t, "channel 2", ev2, settlement.EventOpened, settlement.EventDeposited, settlement.EventDeposited, settlement.EventClosed, settlement.EventUpdated, settlement.EventSettled)
	if !reflect.DeepEqual(ev2[0].Params, p2) {
		t.Fatalf("opened params %+v, want %+v", ev2[0].Params, p2)
	}
	closed := ev2[3]
	if closed.Account != a || !closed.Transferred[0].IsZero() || !closed.Transferred[1].Eq(tok.n(1)) || closed.SettleAfter != closed.Time+h.period() {
		t.Fatalf("closed event %+v: want closer Alice, transferred [0, %s], settleAfter = time + %d", closed, tok.n(1).Dec(), h.period())
	}
	if up := ev2[4]; up.Account != a || up.Nonce != 3 || !up.Amount.Eq(tok.n(4)) {
		t.Fatalf("updated event %+v: want from Alice, nonce 3, amount %s", up, tok.n(4).Dec())
	}
	eqU(t, "settled payout A", &ev2[5].Balances[0], tok.n(7))
	eqU(t, "settled payout B", &ev2[5].Balances[1], tok.n(13))

	if h.SetRejectPayments != nil {
		ev3 := byChannel(p3)
		checkKinds(t, "channel 3", ev3, settlement.EventOpened, settlement.EventDeposited, settlement.EventDeposited, settlement.EventCooperativelyClosed, settlement.EventPayoutCredited)
		if c := ev3[4]; c.Account != a || !c.Asset.IsZero() || !c.Amount.Eq(eth.n(6)) {
			t.Fatalf("payout credited %+v: want Alice, ETH, %s", c, eth.n(6).Dec())
		}
		var pw []settlement.Event
		for _, e := range full {
			if e.Kind == settlement.EventPayoutWithdrawn && e.Account == a {
				pw = append(pw, e)
			}
		}
		if len(pw) != 1 || !pw[0].Amount.Eq(eth.n(6)) || !pw[0].Asset.IsZero() || !ev3[4].Cursor.Less(pw[0].Cursor) {
			t.Fatalf("payout withdrawn events %+v: want one, Alice, ETH, %s, after the credit", pw, eth.n(6).Dec())
		}
	}

	// Nothing more after the end; resuming from the end repeats nothing.
	last := full[len(full)-1].Cursor
	if more, _, err := h.Alice.Events(ctx, last, 100); err != nil || len(more) != 0 {
		t.Fatalf("events after the last one: %d, %v", len(more), err)
	}
}

// readAll reads events from start until the scan reaches block target.
func readAll(t testing.TB, b settlement.Backend, start settlement.Cursor, target uint64, limit int) []settlement.Event {
	t.Helper()
	ctx := (&Harness{}).ctx(t)
	var out []settlement.Event
	cur := start
	for calls := 0; ; calls++ {
		if calls > 100_000 {
			t.Fatal("events: no progress")
		}
		evs, next, err := b.Events(ctx, cur, limit)
		if err != nil {
			t.Fatalf("events after %+v: %v", cur, err)
		}
		if len(evs) > limit {
			t.Fatalf("events returned %d, limit %d", len(evs), limit)
		}
		if len(evs) > 0 && next != evs[len(evs)-1].Cursor && next.Block < evs[len(evs)-1].Cursor.Block {
			t.Fatalf("resume cursor %+v before the last event %+v", next, evs[len(evs)-1].Cursor)
		}
		if next.Less(cur) {
			t.Fatalf("resume cursor went back from %+v to %+v", cur, next)
		}
		out = append(out, evs...)
		if len(evs) == 0 && next.Block >= target {
			return out
		}
		cur = next
	}
}

func checkKinds(t testing.TB, what string, evs []settlement.Event, kinds ...settlement.EventKind) {
	t.Helper()
	got := make([]settlement.EventKind, len(evs))
	for i, e := range evs {
		got[i] = e.Kind
	}
	if !reflect.DeepEqual(got, kinds) {
		t.Fatalf("%s: events %v, want %v", what, got, kinds)
	}
}

func checkAmount(t testing.TB, what string, e settlement.Event, who crypto.Address, amount *uint256.Int) {
	t.Helper()
	if e.Account != who || !e.Amount.Eq(amount) {
		t.Fatalf("%s: account %s amount %s, want %s %s", what, e.Account, e.Amount.Dec(), who, amount.Dec())
	}
}
