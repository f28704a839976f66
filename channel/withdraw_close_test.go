package channel

import (
	"errors"
	"testing"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/crypto"
)

func TestWithdrawFlow(t *testing.T) {
	p := newPair(t, 100, 50)
	p.pay(A, 30) // alice 70, bob 80
	w, err := p.alice.RequestWithdraw(u(60), 1000, 10, aliceKey)
	must(t, err)
	if w.Total.Uint64() != 60 || w.Complete() {
		t.Fatalf("request %+v", w)
	}
	if b := p.alice.Balance(A); b.Uint64() != 10 {
		t.Fatalf("alice balance after request %d", b.Uint64())
	}
	w, err = p.bob.CountersignWithdraw(w, 10, bobKey)
	must(t, err)
	if !w.Complete() {
		t.Fatal("not complete after countersign")
	}
	// Both signatures are over the same Withdraw digest.
	d := p.bob.Domain().WithdrawDigest(p.bob.ID(), aliceKey.Address(), u(60), 1000)
	must(t, crypto.Verify(d, w.Sigs[A], aliceKey.Address()))
	must(t, crypto.Verify(d, w.Sigs[B], bobKey.Address()))
	got, err := p.alice.WithdrawCountersigned(w.Sigs[B])
	must(t, err)
	if !got.Complete() {
		t.Fatal("alice's copy not complete")
	}
	// Until the chain shows it, Bob holds Alice to the reduced balance.
	if _, err := p.bob.Receive(signProof(t, aliceKey, p.bob.Domain(), p.bob.ID(), 2, u(41))); !errors.Is(err, ErrInsufficientBalance) {
		t.Fatalf("pay beyond withdrawn balance: %v", err)
	}
	for _, c := range []*Channel{p.alice, p.bob} {
		must(t, c.ChainWithdrawn(A, u(60)))
		if _, pending := c.Withdrawal(); pending {
			t.Fatal("withdrawal still pending after the chain executed it")
		}
		if b := c.Balance(A); b.Uint64() != 10 {
			t.Fatalf("balance after chain withdrawal %d", b.Uint64())
		}
	}
	// A second withdrawal builds on the on-chain total.
	w2, err := p.alice.RequestWithdraw(u(10), 1000, 10, aliceKey)
	must(t, err)
	if w2.Total.Uint64() != 70 {
		t.Fatalf("second total %d", w2.Total.Uint64())
	}
}

func TestWithdrawExpiry(t *testing.T) {
	p := newPair(t, 100, 50)
	w, err := p.alice.RequestWithdraw(u(60), 1000, 10, aliceKey)
	must(t, err)
	_, err = p.bob.CountersignWithdraw(w, 10, bobKey)
	must(t, err)
	for _, c := range []*Channel{p.alice, p.bob} {
		c.ChainTime(1000) // not yet expired: expiry is inclusive
		if _, pending := c.Withdrawal(); !pending {
			t.Fatal("dropped before expiry")
		}
		c.ChainTime(1001)
		if _, pending := c.Withdrawal(); pending {
			t.Fatal("still pending after expiry")
		}
		if b := c.Balance(A); b.Uint64() != 100 {
			t.Fatalf("balance after expiry %d", b.Uint64())
		}
	}
}

func TestAbortWithdraw(t *testing.T) {
	p := newPair(t, 100, 50)
	if err := p.alice.AbortWithdraw(); !errors.Is(err, ErrNoWithdrawPending) {
		t.Fatal(err)
	}
	w, err := p.alice.RequestWithdraw(u(60), 1000, 10, aliceKey)
	must(t, err)
	must(t, p.alice.AbortWithdraw())
	if b := p.alice.Balance(A); b.Uint64() != 100 {
		t.Fatalf("balance after abort %d", b.Uint64())
	}
	// A countersigned withdrawal cannot be aborted: it may reach the chain.
	w, err = p.alice.RequestWithdraw(u(60), 1000, 10, aliceKey)
	must(t, err)
	w, err = p.bob.CountersignWithdraw(w, 10, bobKey)
	must(t, err)
	_, err = p.alice.WithdrawCountersigned(w.Sigs[B])
	must(t, err)
	if err := unchanged(t, p.alice, p.alice.AbortWithdraw); !errors.Is(err, ErrNoWithdrawPending) {
		t.Fatal(err)
	}
}

func TestWithdrawRejects(t *testing.T) {
	req := func(t *testing.T, p *pair, amount uint64) Withdrawal {
		w, err := p.alice.RequestWithdraw(u(amount), 1000, 10, aliceKey)
		must(t, err)
		return w
	}
	t.Run("request", func(t *testing.T) {
		for _, tc := range []struct {
			name        string
			setup       func(p *pair)
			amount      *uint256.Int
			expiry, now uint64
			key         *crypto.PrivateKey
			want        error
		}{
			{"zero", nil, u(0), 1000, 10, aliceKey, ErrZeroAmount},
			{"above balance", nil, u(101), 1000, 10, aliceKey, ErrInsufficientBalance},
			{"above balance after paying", func(p *pair) { p.pay(A, 50) }, u(51), 1000, 10, aliceKey, ErrInsufficientBalance},
			{"expired", nil, u(1), 10, 10, aliceKey, ErrExpired},
			{"pending", func(p *pair) { req(t, p, 1) }, u(1), 1000, 10, aliceKey, ErrWithdrawPending},
			{"wrong key", nil, u(1), 1000, 10, bobKey, ErrWrongKey},
			{"overflow", func(p *pair) {
				p.alice.st.Withdrawn[A].SetAllOne()
				p.alice.st.ChainWithdrawn[A].SetAllOne()
			}, u(1), 1000, 10, aliceKey, ErrOverflow},
			{"closing", func(p *pair) {
				_, err := p.alice.ProposeClose(1000, 10, aliceKey)
				must(t, err)
			}, u(1), 1000, 10, aliceKey, ErrClosing},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p := newPair(t, 100, 50)
				if tc.setup != nil {
					tc.setup(p)
				}
				err := unchanged(t, p.alice, func() error {
					_, err := p.alice.RequestWithdraw(tc.amount, tc.expiry, tc.now, tc.key)
					return err
				})
				if !errors.Is(err, tc.want) {
					t.Fatalf("RequestWithdraw = %v, want %v", err, tc.want)
				}
			})
		}
	})
	t.Run("countersign", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			setup func(p *pair)
			w     func(t *testing.T, p *pair) Withdrawal
			now   uint64
			want  error
		}{
			{"bob's own side", nil, func(t *testing.T, p *pair) Withdrawal {
				w := req(t, p, 10)
				w.Participant = B
				return w
			}, 10, ErrInvalidSide},
			{"expired", nil, func(t *testing.T, p *pair) Withdrawal { return req(t, p, 10) }, 1000, ErrExpired},
			{"not increasing", nil, func(t *testing.T, p *pair) Withdrawal {
				w := req(t, p, 10)
				w.Total = uint256.Int{}
				return w
			}, 10, ErrNotIncreasing},
			{"above alice's balance as bob sees it", func(p *pair) {
				// Alice paid 60 but Bob has not acknowledged yet: Alice
				// thinks she has 40, Bob counts the 60 as paid too.
				proof, err := p.alice.Pay(u(60), aliceKey)
				must(t, err)
				_, err = p.bob.Receive(proof)
				must(t, err)
			}, func(t *testing.T, p *pair) Withdrawal {
				w := req(t, p, 40)
				w.Total = *u(41)
				sig, _ := aliceKey.Sign(p.bob.Domain().WithdrawDigest(p.bob.ID(), aliceKey.Address(), u(41), w.Expiry))
				w.Sigs[A] = sig
				return w
			}, 10, ErrInsufficientBalance},
			{"tampered total", nil, func(t *testing.T, p *pair) Withdrawal {
				w := req(t, p, 10)
				w.Total = *u(11)
				return w
			}, 10, ErrBadSignature},
			{"tampered expiry", nil, func(t *testing.T, p *pair) Withdrawal {
				w := req(t, p, 10)
				w.Expiry++
				return w
			}, 10, ErrBadSignature},
			{"unsigned", nil, func(t *testing.T, p *pair) Withdrawal {
				w := req(t, p, 10)
				w.Sigs[A] = crypto.Signature{}
				return w
			}, 10, ErrBadSignature},
			{"pending", func(p *pair) {
				w, err := p.bob.RequestWithdraw(u(1), 1000, 10, bobKey)
				must(t, err)
				_ = w
			}, func(t *testing.T, p *pair) Withdrawal { return req(t, p, 10) }, 10, ErrWithdrawPending},
		} {
			t.Run(tc.name, func(t *testing.T) {
				p := newPair(t, 100, 50)
				if tc.setup != nil {
					tc.setup(p)
				}
				w := tc.w(t, p)
				err := unchanged(t, p.bob, func() error { _, err := p.bob.CountersignWithdraw(w, tc.now, bobKey); return err })
				if !errors.Is(err, tc.want) {
					t.Fatalf("CountersignWithdraw = %v, want %v", err, tc.want)
				}
			})
		}
	})
	t.Run("countersigned with a bad signature", func(t *testing.T) {
		p := newPair(t, 100, 50)
		req(t, p, 10)
		sig, _ := malloryKey.Sign(crypto.Hash{1})
		err := unchanged(t, p.alice, func() error { _, err := p.alice.WithdrawCountersigned(sig); return err })
		if !errors.Is(err, ErrBadSignature) {
			t.Fatal(err)
		}
		if _, err := p.bob.WithdrawCountersigned(sig); !errors.Is(err, ErrNoWithdrawPending) {
			t.Fatal(err)
		}
	})
}

func TestCooperativeClose(t *testing.T) {
	p := newPair(t, 100, 50)
	p.pay(A, 30)
	p.pay(B, 5)
	terms, err := p.alice.ProposeClose(1000, 10, aliceKey)
	must(t, err)
	if terms.Balance[A].Uint64() != 75 || terms.Balance[B].Uint64() != 75 {
		t.Fatalf("terms %v %v", terms.Balance[A].Uint64(), terms.Balance[B].Uint64())
	}
	if p.alice.Phase() != Closing {
		t.Fatalf("phase %s", p.alice.Phase())
	}
	terms, err = p.bob.AcceptClose(terms, 10, bobKey)
	must(t, err)
	if !terms.Complete() || p.bob.Phase() != Closing {
		t.Fatal("bob did not sign")
	}
	d := p.alice.Domain().CooperativeCloseDigest(p.alice.ID(), u(75), u(75), 1000)
	must(t, crypto.Verify(d, terms.Sigs[A], aliceKey.Address()))
	must(t, crypto.Verify(d, terms.Sigs[B], bobKey.Address()))
	done, err := p.alice.CloseCountersigned(terms.Sigs[B])
	must(t, err)
	if !done.Complete() {
		t.Fatal("alice's terms incomplete")
	}
	// Nothing more is paid or accepted while the terms can be used.
	if _, err := p.bob.Pay(u(1), bobKey); !errors.Is(err, ErrClosing) {
		t.Fatal(err)
	}
	for _, c := range []*Channel{p.alice, p.bob} {
		must(t, c.ChainCooperativelyClosed())
		if c.Phase() != Settled {
			t.Fatalf("phase %s", c.Phase())
		}
		must(t, c.ChainCooperativelyClosed()) // replay
	}
}

func TestCloseUnacknowledgedPayment(t *testing.T) {
	// Bob's in-flight payment has not reached Alice when she proposes: the
	// terms favour Bob, he accepts, and the payment fails at Alice.
	p := newPair(t, 100, 50)
	inflight, err := p.bob.Pay(u(20), bobKey)
	must(t, err)
	terms, err := p.alice.ProposeClose(1000, 10, aliceKey)
	must(t, err)
	if terms.Balance[B].Uint64() != 50 {
		t.Fatalf("terms give bob %d", terms.Balance[B].Uint64())
	}
	_, err = p.bob.AcceptClose(terms, 10, bobKey)
	must(t, err)
	if _, err := p.alice.Receive(inflight); !errors.Is(err, ErrClosing) {
		t.Fatalf("in-flight proof accepted while closing: %v", err)
	}
	// The other way round: terms that leave out a payment Alice made to Bob
	// would cost Bob; he refuses them.
	q := newPair(t, 100, 50)
	proof, err := q.alice.Pay(u(20), aliceKey)
	must(t, err)
	_, err = q.bob.Receive(proof)
	must(t, err)
	stale := CloseTerms{Balance: [2]uint256.Int{*u(100), *u(50)}, Expiry: 1000}
	stale.Sigs[A], _ = aliceKey.Sign(q.alice.Domain().CooperativeCloseDigest(q.alice.ID(), u(100), u(50), 1000))
	err = unchanged(t, q.bob, func() error { _, err := q.bob.AcceptClose(stale, 10, bobKey); return err })
	if !errors.Is(err, ErrTermsMismatch) {
		t.Fatal(err)
	}
}

func TestCloseExpiry(t *testing.T) {
	p := newPair(t, 100, 50)
	_, err := p.alice.ProposeClose(1000, 10, aliceKey)
	must(t, err)
	p.alice.ChainTime(1000)
	if p.alice.Phase() != Closing {
		t.Fatal("reopened at expiry")
	}
	p.alice.ChainTime(1001)
	if p.alice.Phase() != Open {
		t.Fatal("still closing after expiry")
	}
	if _, ok := p.alice.CloseTerms(); ok {
		t.Fatal("terms kept after expiry")
	}
	p.pay(A, 1)
}

func TestCloseRejects(t *testing.T) {
	sign := func(p *pair, a, b uint64, exp uint64) CloseTerms {
		t := CloseTerms{Balance: [2]uint256.Int{*u(a), *u(b)}, Expiry: exp}
		t.Sigs[A], _ = aliceKey.Sign(p.alice.Domain().CooperativeCloseDigest(p.alice.ID(), u(a), u(b), exp))
		return t
	}
	for _, tc := range []struct {
		name  string
		setup func(p *pair)
		terms func(p *pair) CloseTerms
		want  error
	}{
		{"sum too high", nil, func(p *pair) CloseTerms { return sign(p, 100, 51, 1000) }, ErrTermsMismatch},
		{"sum too low", nil, func(p *pair) CloseTerms { return sign(p, 99, 50, 1000) }, ErrTermsMismatch},
		{"sum overflows", nil, func(p *pair) CloseTerms {
			t := sign(p, 0, 50, 1000)
			t.Balance[A].SetAllOne()
			return t
		}, ErrTermsMismatch},
		{"less for bob", nil, func(p *pair) CloseTerms { return sign(p, 101, 49, 1000) }, ErrTermsMismatch},
		{"expired", nil, func(p *pair) CloseTerms { return sign(p, 100, 50, 10) }, ErrExpired},
		{"bad signature", nil, func(p *pair) CloseTerms {
			t := sign(p, 100, 50, 1000)
			t.Expiry++
			return t
		}, ErrBadSignature},
		{"signed by mallory", nil, func(p *pair) CloseTerms {
			t := sign(p, 100, 50, 1000)
			t.Sigs[A], _ = malloryKey.Sign(p.alice.Domain().CooperativeCloseDigest(p.alice.ID(), u(100), u(50), 1000))
			return t
		}, ErrBadSignature},
		{"withdrawal pending", func(p *pair) {
			_, err := p.bob.RequestWithdraw(u(1), 1000, 10, bobKey)
			must(t, err)
		}, func(p *pair) CloseTerms { return sign(p, 100, 50, 1000) }, ErrWithdrawPending},
		{"already closing", func(p *pair) {
			_, err := p.bob.ProposeClose(999, 10, bobKey)
			must(t, err)
		}, func(p *pair) CloseTerms { return sign(p, 100, 50, 1000) }, ErrClosing},
		{"closed on chain", func(p *pair) { must(t, p.bob.ChainClosed(A, [2]uint256.Int{}, 5000)) },
			func(p *pair) CloseTerms { return sign(p, 100, 50, 1000) }, ErrWrongPhase},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, 100, 50)
			if tc.setup != nil {
				tc.setup(p)
			}
			terms := tc.terms(p)
			err := unchanged(t, p.bob, func() error { _, err := p.bob.AcceptClose(terms, 10, bobKey); return err })
			if !errors.Is(err, tc.want) {
				t.Fatalf("AcceptClose = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("propose while withdrawal pending", func(t *testing.T) {
		p := newPair(t, 100, 50)
		_, err := p.alice.RequestWithdraw(u(1), 1000, 10, aliceKey)
		must(t, err)
		err = unchanged(t, p.alice, func() error { _, err := p.alice.ProposeClose(1000, 10, aliceKey); return err })
		if !errors.Is(err, ErrWithdrawPending) {
			t.Fatal(err)
		}
	})
	t.Run("countersigned by mallory", func(t *testing.T) {
		p := newPair(t, 100, 50)
		terms, err := p.alice.ProposeClose(1000, 10, aliceKey)
		must(t, err)
		sig, _ := malloryKey.Sign(p.alice.Domain().CooperativeCloseDigest(p.alice.ID(), &terms.Balance[A], &terms.Balance[B], 1000))
		err = unchanged(t, p.alice, func() error { _, err := p.alice.CloseCountersigned(sig); return err })
		if !errors.Is(err, ErrBadSignature) {
			t.Fatal(err)
		}
	})
}

// TestMalloryStaleClose is the dispute scenario: Mallory (Alice's role)
// force-closes presenting an old proof of Bob's and her own oldest proof;
// Bob presents his newest holdings and the settlement pays him in full.
func TestMalloryStaleClose(t *testing.T) {
	p := newPair(t, 100, 50)
	p.pay(A, 10)
	stale := p.bob.Received() // Mallory's 10
	p.pay(B, 5)
	oldBob := p.alice.Received() // Bob's 5
	p.pay(A, 30)                 // Mallory now owes 40 in all
	p.pay(B, 1)                  // Bob paid 6 in all

	// Mallory presents Bob's old proof of 5 and her stale own proof of 10.
	onChain := [2]uint256.Int{stale.Transferred, oldBob.Transferred}
	must(t, p.bob.ChainClosed(A, onChain, 5000))
	present := p.bob.ToPresent()
	if len(present) != 2 {
		t.Fatalf("present %d proofs, want 2", len(present))
	}
	for _, proof := range present {
		signer := A
		if proof == p.bob.Sent() {
			signer = B
		}
		must(t, p.bob.ChainUpdated(signer, &proof.Transferred))
	}
	if len(p.bob.ToPresent()) != 0 {
		t.Fatal("still proofs to present after updating")
	}
	got, ok := p.bob.ExpectedSettlement()
	if !ok {
		t.Fatal("no dispute")
	}
	// Alice: 100 - 40 + 6 = 66; Bob: 50 - 6 + 40 = 84.
	if got[A].Uint64() != 66 || got[B].Uint64() != 84 {
		t.Fatalf("settlement %d/%d", got[A].Uint64(), got[B].Uint64())
	}
	if b := p.bob.Balance(B); !b.Eq(&got[B]) {
		t.Fatalf("bob's balance %d, settlement %d", b.Uint64(), got[B].Uint64())
	}
	must(t, p.bob.ChainSettled())
	if p.bob.Phase() != Settled {
		t.Fatal("not settled")
	}
	if err := p.bob.ChainUpdated(A, u(1)); !errors.Is(err, ErrWrongPhase) {
		t.Fatalf("update after settle: %v", err)
	}
}

func TestSettlement(t *testing.T) {
	max := new(uint256.Int).SetAllOne()
	w := func(a, b *uint256.Int) [2]uint256.Int { return [2]uint256.Int{*a, *b} }
	for _, tc := range []struct {
		name         string
		dep, wd, tr  [2]uint256.Int
		wantA, wantB uint64
	}{
		// Nothing moved: everyone gets their deposit back.
		{"no payments", w(u(100), u(50)), w(u(0), u(0)), w(u(0), u(0)), 100, 50},
		// Plain netting of both directions.
		{"both directions", w(u(100), u(50)), w(u(0), u(0)), w(u(40), u(6)), 66, 84},
		// Withdrawals leave the channel before settlement.
		{"with withdrawals", w(u(100), u(50)), w(u(20), u(10)), w(u(30), u(0)), 50, 70},
		// A payer presenting more than it has cannot push the total over.
		{"overdrawn A clamps to zero", w(u(100), u(50)), w(u(0), u(0)), w(u(500), u(0)), 0, 150},
		{"overdrawn B clamps to zero", w(u(100), u(50)), w(u(0), u(0)), w(u(0), u(500)), 150, 0},
		// Amounts at 2^256-1 never overflow: the chain must not revert.
		{"max both ways", w(u(100), u(50)), w(u(0), u(0)), w(max, max), 100, 50},
		{"max from A", w(u(100), u(50)), w(u(0), u(0)), w(max, u(0)), 0, 150},
		{"max to A", w(u(100), u(50)), w(u(0), u(0)), w(u(0), max), 150, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Settlement(tc.dep, tc.wd, tc.tr)
			if got[A].Uint64() != tc.wantA || got[B].Uint64() != tc.wantB || !got[A].IsUint64() || !got[B].IsUint64() {
				t.Fatalf("settlement %s/%s, want %d/%d", got[A].Dec(), got[B].Dec(), tc.wantA, tc.wantB)
			}
		})
	}
}

func TestPhaseTable(t *testing.T) {
	// Every listed transition is reachable through the API and nothing
	// leaves Settled.
	if len(transitions[Settled]) != 0 {
		t.Fatal("Settled must be terminal")
	}
	for from, evs := range transitions {
		for ev, to := range evs {
			if !from.Valid() || !to.Valid() {
				t.Fatalf("bad entry %v -%d-> %v", from, ev, to)
			}
		}
	}
	c, err := New(testParams(), A)
	must(t, err)
	if err := c.ChainSettled(); !errors.Is(err, ErrWrongPhase) {
		t.Fatalf("settle while opening: %v", err)
	}
	if err := c.ChainClosed(B, [2]uint256.Int{}, 1); !errors.Is(err, ErrWrongPhase) {
		t.Fatalf("closed while opening: %v", err)
	}
	if _, _, err := c.ForceCloseProofs(); !errors.Is(err, ErrWrongPhase) {
		t.Fatalf("force close while opening: %v", err)
	}
	if Phase(9).String() != "Phase(9)" || Open.String() != "open" {
		t.Fatal("phase names")
	}
}
