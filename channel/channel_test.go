package channel

import (
	"errors"
	"testing"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/crypto"
)

func TestParamsValidate(t *testing.T) {
	ok := testParams()
	for _, tc := range []struct {
		name string
		edit func(p *Params)
	}{
		{"zero chain id", func(p *Params) { p.ChainID = 0 }},
		{"zero adjudicator", func(p *Params) { p.Adjudicator = crypto.Address{} }},
		{"zero participant A", func(p *Params) { p.Participants[A] = crypto.Address{} }},
		{"zero participant B", func(p *Params) { p.Participants[B] = crypto.Address{} }},
		{"same participants", func(p *Params) { p.Participants[B] = p.Participants[A] }},
		{"zero challenge period", func(p *Params) { p.ChallengePeriod = 0 }},
		{"huge challenge period", func(p *Params) { p.ChallengePeriod = MaxChallengePeriod + 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := ok
			tc.edit(&p)
			if err := p.Validate(); !errors.Is(err, ErrInvalidParams) {
				t.Fatalf("Validate = %v, want ErrInvalidParams", err)
			}
			if _, err := New(p, A); !errors.Is(err, ErrInvalidParams) {
				t.Fatalf("New = %v", err)
			}
		})
	}
	if _, err := New(ok, Side(2)); !errors.Is(err, ErrInvalidSide) {
		t.Fatalf("New with side 2: %v", err)
	}
}

func TestIDDependsOnEveryParam(t *testing.T) {
	base := testParams()
	seen := map[ID]string{base.ID(): "base"}
	for _, tc := range []struct {
		name string
		edit func(p *Params)
	}{
		{"chain", func(p *Params) { p.ChainID++ }},
		{"adjudicator", func(p *Params) { p.Adjudicator[0]++ }},
		{"A", func(p *Params) { p.Participants[A][0]++ }},
		{"B", func(p *Params) { p.Participants[B][0]++ }},
		{"swapped", func(p *Params) { p.Participants[A], p.Participants[B] = p.Participants[B], p.Participants[A] }},
		{"asset", func(p *Params) { p.Asset[0]++ }},
		{"period", func(p *Params) { p.ChallengePeriod++ }},
		{"salt", func(p *Params) { p.Salt[0]++ }},
	} {
		p := base
		tc.edit(&p)
		id := p.ID()
		if prev, dup := seen[id]; dup {
			t.Fatalf("%s gives the same id as %s", tc.name, prev)
		}
		seen[id] = tc.name
	}
}

func TestPay(t *testing.T) {
	p := newPair(t, 100, 50)
	proof, err := p.alice.Pay(u(30), aliceKey)
	must(t, err)
	if proof.Nonce != 1 || proof.Transferred.Uint64() != 30 || proof.Channel != p.alice.ID() {
		t.Fatalf("proof %+v", proof)
	}
	digest := p.alice.Domain().BalanceProofDigest(p.alice.ID(), 1, u(30))
	must(t, crypto.Verify(digest, proof.Sig, aliceKey.Address()))
	if s := p.alice.Sent(); s != proof {
		t.Fatal("Sent is not the returned proof")
	}
	if b := p.alice.Balance(A); b.Uint64() != 70 {
		t.Fatalf("alice balance %d", b.Uint64())
	}
	// Bob can spend what he received on top of his deposit.
	_, err = p.bob.Receive(proof)
	must(t, err)
	proof, err = p.bob.Pay(u(80), bobKey)
	must(t, err)
	if proof.Nonce != 1 || proof.Transferred.Uint64() != 80 {
		t.Fatalf("bob proof %+v", proof)
	}
}

func TestPayRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		setup  func(p *pair)
		amount *uint256.Int
		key    *crypto.PrivateKey
		want   error
	}{
		{"zero amount", nil, u(0), aliceKey, ErrZeroAmount},
		{"above deposit", nil, u(101), aliceKey, ErrInsufficientBalance},
		{"above balance after payments", func(p *pair) { p.pay(A, 60) }, u(41), aliceKey, ErrInsufficientBalance},
		{"above balance after withdrawal", func(p *pair) {
			_, err := p.alice.RequestWithdraw(u(90), 100, 10, aliceKey)
			must(t, err)
		}, u(11), aliceKey, ErrInsufficientBalance},
		{"overflow", func(p *pair) {
			must(t, p.alice.ChainDeposit(A, new(uint256.Int).SetAllOne()))
			p.alice.st.Sent.Transferred.SetAllOne()
			p.alice.st.Sent.Transferred.SubUint64(&p.alice.st.Sent.Transferred, 5)
			p.alice.st.Sent.Nonce = 7
		}, u(6), aliceKey, ErrOverflow},
		{"nonce overflow", func(p *pair) { p.alice.st.Sent.Nonce = ^uint64(0) }, u(1), aliceKey, ErrOverflow},
		{"wrong key", nil, u(1), bobKey, ErrWrongKey},
		{"closing", func(p *pair) {
			_, err := p.alice.ProposeClose(100, 10, aliceKey)
			must(t, err)
		}, u(1), aliceKey, ErrClosing},
		{"closed", func(p *pair) { must(t, p.alice.ChainClosed(B, [2]uint256.Int{}, 99)) }, u(1), aliceKey, ErrWrongPhase},
		{"settled", func(p *pair) { must(t, p.alice.ChainCooperativelyClosed()) }, u(1), aliceKey, ErrWrongPhase},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, 100, 50)
			if tc.setup != nil {
				tc.setup(p)
			}
			err := unchanged(t, p.alice, func() error { _, err := p.alice.Pay(tc.amount, tc.key); return err })
			if !errors.Is(err, tc.want) {
				t.Fatalf("Pay = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("opening", func(t *testing.T) {
		c, err := New(testParams(), A)
		must(t, err)
		if _, err := c.Pay(u(1), aliceKey); !errors.Is(err, ErrWrongPhase) {
			t.Fatalf("Pay while opening = %v", err)
		}
	})
	t.Run("insufficient error fields", func(t *testing.T) {
		p := newPair(t, 100, 50)
		_, err := p.alice.Pay(u(150), aliceKey)
		var ib *InsufficientBalanceError
		if !errors.As(err, &ib) || ib.Need.Uint64() != 150 || ib.Available.Uint64() != 100 || ib.Side != A {
			t.Fatalf("error %#v", err)
		}
	})
}

func TestReceive(t *testing.T) {
	p := newPair(t, 100, 50)
	dom, id := p.bob.Domain(), p.bob.ID()
	for i, step := range []struct {
		nonce, total, want uint64
	}{
		{1, 10, 10},
		{2, 25, 15},
		{5, 26, 1}, // nonces may jump after a reconnect
	} {
		got, err := p.bob.Receive(signProof(t, aliceKey, dom, id, step.nonce, u(step.total)))
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got.Uint64() != step.want {
			t.Fatalf("step %d: amount %d, want %d", i, got.Uint64(), step.want)
		}
	}
	if r := p.bob.Received(); r.Nonce != 5 || r.Transferred.Uint64() != 26 {
		t.Fatalf("received %+v", r)
	}
	// The whole deposit can be spent, and what Bob paid Alice on top.
	_, err := p.bob.Pay(u(50), bobKey)
	must(t, err)
	_, err = p.bob.Receive(signProof(t, aliceKey, dom, id, 6, u(150)))
	must(t, err)
}

func TestReceiveRejects(t *testing.T) {
	base := testParams()
	otherChain := base
	otherChain.ChainID++
	otherContract := base
	otherContract.Adjudicator[0]++
	otherSalt := base
	otherSalt.Salt[0]++
	goodDom := base.Domain()
	id := base.ID()

	for _, tc := range []struct {
		name  string
		setup func(p *pair) // Bob's side, before the proof arrives
		proof func(t *testing.T) Proof
		want  error
	}{
		{"wrong channel", nil, func(t *testing.T) Proof {
			return signProof(t, aliceKey, goodDom, otherSalt.ID(), 1, u(1))
		}, ErrWrongChannel},
		{"stale nonce (equal)", func(p *pair) { p.pay(A, 5) }, func(t *testing.T) Proof {
			return signProof(t, aliceKey, goodDom, id, 1, u(9))
		}, ErrStaleNonce},
		{"stale nonce (lower)", func(p *pair) { p.pay(A, 5); p.pay(A, 5) }, func(t *testing.T) Proof {
			return signProof(t, aliceKey, goodDom, id, 1, u(20))
		}, ErrStaleNonce},
		{"replayed proof", func(p *pair) { p.pay(A, 5) }, func(t *testing.T) Proof {
			return signProof(t, aliceKey, goodDom, id, 1, u(5))
		}, ErrStaleNonce},
		{"zero amount (same total)", func(p *pair) { p.pay(A, 5) }, func(t *testing.T) Proof {
			return signProof(t, aliceKey, goodDom, id, 2, u(5))
		}, ErrNotIncreasing},
		{"zero first proof", nil, func(t *testing.T) Proof {
			return signProof(t, aliceKey, goodDom, id, 1, u(0))
		}, ErrNotIncreasing},
		{"lower total", func(p *pair) { p.pay(A, 5) }, func(t *testing.T) Proof {
			return signProof(t, aliceKey, goodDom, id, 2, u(4))
		}, ErrNotIncreasing},
		{"above deposit", nil, func(t *testing.T) Proof {
			return signProof(t, aliceKey, goodDom, id, 1, u(101))
		}, ErrInsufficientBalance},
		{"above deposit plus received", func(p *pair) { p.pay(B, 20) }, func(t *testing.T) Proof {
			return signProof(t, aliceKey, goodDom, id, 1, u(121))
		}, ErrInsufficientBalance},
		{"above balance after co-signed withdrawal", func(p *pair) {
			w, err := p.alice.RequestWithdraw(u(50), 100, 10, aliceKey)
			must(t, err)
			_, err = p.bob.CountersignWithdraw(w, 10, bobKey)
			must(t, err)
		}, func(t *testing.T) Proof {
			return signProof(t, aliceKey, goodDom, id, 1, u(51))
		}, ErrInsufficientBalance},
		{"overflowing total", nil, func(t *testing.T) Proof {
			return signProof(t, aliceKey, goodDom, id, 1, new(uint256.Int).SetAllOne())
		}, ErrInsufficientBalance},
		{"signed by mallory", nil, func(t *testing.T) Proof {
			return signProof(t, malloryKey, goodDom, id, 1, u(1))
		}, ErrBadSignature},
		{"signed by bob himself", nil, func(t *testing.T) Proof {
			return signProof(t, bobKey, goodDom, id, 1, u(1))
		}, ErrBadSignature},
		{"wrong chain", nil, func(t *testing.T) Proof {
			return signProof(t, aliceKey, otherChain.Domain(), id, 1, u(1))
		}, ErrBadSignature},
		{"wrong contract", nil, func(t *testing.T) Proof {
			return signProof(t, aliceKey, otherContract.Domain(), id, 1, u(1))
		}, ErrBadSignature},
		{"signature over another channel id", nil, func(t *testing.T) Proof {
			p := signProof(t, aliceKey, goodDom, otherSalt.ID(), 1, u(1))
			p.Channel = id
			return p
		}, ErrBadSignature},
		{"tampered amount", nil, func(t *testing.T) Proof {
			p := signProof(t, aliceKey, goodDom, id, 1, u(1))
			p.Transferred = *u(2)
			return p
		}, ErrBadSignature},
		{"tampered nonce", nil, func(t *testing.T) Proof {
			p := signProof(t, aliceKey, goodDom, id, 1, u(1))
			p.Nonce = 2
			return p
		}, ErrBadSignature},
		{"high S", nil, func(t *testing.T) Proof {
			p := signProof(t, aliceKey, goodDom, id, 1, u(1))
			n, _ := uint256.FromHex("0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
			s := new(uint256.Int).SetBytes(p.Sig[32:64])
			s.Sub(n, s)
			s.PutUint256(p.Sig[32:64])
			p.Sig[64] = 55 - p.Sig[64]
			return p
		}, crypto.ErrSignatureHighS},
		{"bad V", nil, func(t *testing.T) Proof {
			p := signProof(t, aliceKey, goodDom, id, 1, u(1))
			p.Sig[64] = 1
			return p
		}, crypto.ErrSignatureV},
		{"empty signature", nil, func(t *testing.T) Proof {
			return Proof{Channel: id, Nonce: 1, Transferred: *u(1)}
		}, ErrBadSignature},
		{"closing", func(p *pair) {
			_, err := p.bob.ProposeClose(100, 10, bobKey)
			must(t, err)
		}, func(t *testing.T) Proof {
			return signProof(t, aliceKey, goodDom, id, 1, u(1))
		}, ErrClosing},
		{"closed", func(p *pair) { must(t, p.bob.ChainClosed(A, [2]uint256.Int{}, 99)) }, func(t *testing.T) Proof {
			return signProof(t, aliceKey, goodDom, id, 1, u(1))
		}, ErrWrongPhase},
		{"settled", func(p *pair) { must(t, p.bob.ChainCooperativelyClosed()) }, func(t *testing.T) Proof {
			return signProof(t, aliceKey, goodDom, id, 1, u(1))
		}, ErrWrongPhase},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, 100, 50)
			if tc.setup != nil {
				tc.setup(p)
			}
			proof := tc.proof(t)
			err := unchanged(t, p.bob, func() error { _, err := p.bob.Receive(proof); return err })
			if !errors.Is(err, tc.want) {
				t.Fatalf("Receive = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestAck(t *testing.T) {
	p := newPair(t, 100, 50)
	p1, err := p.alice.Pay(u(1), aliceKey)
	must(t, err)
	p2, err := p.alice.Pay(u(1), aliceKey)
	must(t, err)
	if err := unchanged(t, p.alice, func() error { return p.alice.Ack(3) }); !errors.Is(err, ErrUnknownNonce) {
		t.Fatalf("Ack(3) = %v", err)
	}
	must(t, p.alice.Ack(p2.Nonce)) // cumulative: covers p1
	if p.alice.Acked() != 2 {
		t.Fatalf("acked %d", p.alice.Acked())
	}
	if err := unchanged(t, p.alice, func() error { return p.alice.Ack(p1.Nonce) }); !errors.Is(err, ErrStaleAck) {
		t.Fatalf("stale Ack = %v", err)
	}
	if err := unchanged(t, p.alice, func() error { return p.alice.Ack(2) }); !errors.Is(err, ErrStaleAck) {
		t.Fatalf("repeated Ack = %v", err)
	}
}

func TestReestablish(t *testing.T) {
	t.Run("nothing sent", func(t *testing.T) {
		p := newPair(t, 100, 50)
		resend, err := p.alice.Reestablish(Proof{})
		if err != nil || resend != nil {
			t.Fatalf("%v %v", resend, err)
		}
	})
	t.Run("peer has newest", func(t *testing.T) {
		p := newPair(t, 100, 50)
		proof, err := p.alice.Pay(u(7), aliceKey)
		must(t, err)
		resend, err := p.alice.Reestablish(proof)
		if err != nil || resend != nil || p.alice.Acked() != 1 {
			t.Fatalf("%v %v acked %d", resend, err, p.alice.Acked())
		}
	})
	t.Run("peer lacks newest", func(t *testing.T) {
		p := newPair(t, 100, 50)
		p.pay(A, 5)
		held := p.bob.Received()
		p2, err := p.alice.Pay(u(1), aliceKey)
		must(t, err)
		p3, err := p.alice.Pay(u(1), aliceKey)
		must(t, err)
		resend, err := p.alice.Reestablish(held)
		must(t, err)
		if resend == nil || *resend != p3 {
			t.Fatalf("resend %+v, want %+v", resend, p3)
		}
		// One resend covers both missing payments.
		got, err := p.bob.Receive(*resend)
		must(t, err)
		if got.Uint64() != 2 || p2.Nonce != 2 {
			t.Fatalf("got %d", got.Uint64())
		}
	})
	t.Run("we lost a proof the peer holds", func(t *testing.T) {
		p := newPair(t, 100, 50)
		saved := p.alice.State() // what was on disk before the crash
		proof, err := p.alice.Pay(u(9), aliceKey)
		must(t, err)
		_, err = p.bob.Receive(proof)
		must(t, err)
		restarted, err := Restore(saved)
		must(t, err)
		resend, err := restarted.Reestablish(p.bob.Received())
		if err != nil || resend != nil {
			t.Fatalf("%v %v", resend, err)
		}
		if s := restarted.Sent(); s != proof || restarted.Acked() != 1 {
			t.Fatalf("did not adopt: %+v", s)
		}
		// The next proof continues from it: nonce 2, total 10.
		next, err := restarted.Pay(u(1), aliceKey)
		must(t, err)
		if next.Nonce != 2 || next.Transferred.Uint64() != 10 {
			t.Fatalf("next %+v", next)
		}
	})
	t.Run("peer lost an acknowledged proof", func(t *testing.T) {
		p := newPair(t, 100, 50)
		p.pay(A, 5)
		resend, err := p.alice.Reestablish(Proof{})
		if !errors.Is(err, ErrPeerLostData) || resend == nil || resend.Nonce != 1 {
			t.Fatalf("%v %v", resend, err)
		}
	})
	t.Run("forged newer proof", func(t *testing.T) {
		p := newPair(t, 100, 50)
		forged := signProof(t, malloryKey, p.alice.Domain(), p.alice.ID(), 3, u(1))
		err := unchanged(t, p.alice, func() error { _, err := p.alice.Reestablish(forged); return err })
		if !errors.Is(err, ErrBadSignature) {
			t.Fatalf("%v", err)
		}
	})
	t.Run("newer proof for another channel", func(t *testing.T) {
		p := newPair(t, 100, 50)
		other := testParams()
		other.Salt[0]++
		forged := signProof(t, aliceKey, other.Domain(), other.ID(), 3, u(1))
		err := unchanged(t, p.alice, func() error { _, err := p.alice.Reestablish(forged); return err })
		if !errors.Is(err, ErrWrongChannel) {
			t.Fatalf("%v", err)
		}
	})
}

func TestRestoreRejects(t *testing.T) {
	good := newPair(t, 100, 50)
	good.pay(A, 5)
	for _, tc := range []struct {
		name string
		edit func(s *State)
	}{
		{"bad params", func(s *State) { s.Params.ChainID = 0 }},
		{"bad side", func(s *State) { s.Self = 7 }},
		{"bad phase", func(s *State) { s.Phase = 0 }},
		{"proof of another channel", func(s *State) { s.Sent.Channel[0]++ }},
		{"acked above sent", func(s *State) { s.Acked = 9 }},
		{"withdrawn below chain", func(s *State) { s.ChainWithdrawn[A] = *u(1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := good.alice.State()
			tc.edit(&st)
			if _, err := Restore(st); err == nil {
				t.Fatal("Restore accepted a broken state")
			}
		})
	}
	c, err := Restore(good.alice.State())
	must(t, err)
	if c.ID() != good.alice.ID() || c.Sent() != good.alice.Sent() {
		t.Fatal("restored channel differs")
	}
}

func TestChainEventsIdempotent(t *testing.T) {
	p := newPair(t, 100, 50)
	before := p.alice.State()
	must(t, p.alice.ChainOpened())
	must(t, p.alice.ChainDeposit(A, u(100)))
	must(t, p.alice.ChainDeposit(A, u(60))) // reordered, lower: ignored
	must(t, p.alice.ChainWithdrawn(B, u(0)))
	if after := p.alice.State(); before.Phase != after.Phase || !before.Deposit[A].Eq(&after.Deposit[A]) {
		t.Fatal("replayed events changed the state")
	}
	must(t, p.alice.ChainDeposit(A, u(150)))
	if b := p.alice.Balance(A); b.Uint64() != 150 {
		t.Fatalf("balance after top-up %d", b.Uint64())
	}
	if err := p.alice.ChainDeposit(Side(3), u(1)); !errors.Is(err, ErrInvalidSide) {
		t.Fatal(err)
	}
}
