package channel

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/crypto"
)

// world is two honest sides connected by FIFO links, plus the chain's view
// of deposits and withdrawals.
type world struct {
	t      *testing.T
	r      *rand.Rand
	ch     [2]*Channel
	keys   [2]*crypto.PrivateKey
	proofs [2][]Proof  // in flight from side X to the other side
	acks   [2][]uint64 // in flight to side X
	dep    [2]uint256.Int
	wd     [2]uint256.Int // on chain
	now    uint64
	// lastNonce[X] is the last nonce X signed; they must strictly increase.
	lastNonce [2]uint64
}

func newWorld(t *testing.T, seed uint64) *world {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	p := newPair(t, 0, 0)
	w := &world{t: t, r: r, ch: [2]*Channel{p.alice, p.bob}, keys: [2]*crypto.PrivateKey{aliceKey, bobKey}, now: 100}
	for _, x := range []Side{A, B} {
		w.deposit(x, 1+r.Uint64N(1000))
	}
	return w
}

func (w *world) deposit(x Side, amount uint64) {
	w.dep[x].AddUint64(&w.dep[x], amount)
	for _, c := range w.ch {
		must(w.t, c.ChainDeposit(x, &w.dep[x]))
	}
}

func (w *world) step() {
	x := Side(w.r.IntN(2))
	c := w.ch[x]
	switch op := w.r.IntN(10); {
	case op < 4: // pay, sometimes more than the balance
		bal := c.Balance(x)
		limit := bal.Uint64() + 5
		amount := u(1 + w.r.Uint64N(limit))
		proof, err := c.Pay(amount, w.keys[x])
		if amount.Gt(&bal) {
			if !errors.Is(err, ErrInsufficientBalance) {
				w.t.Fatalf("overpay of %d with balance %d: %v", amount.Uint64(), bal.Uint64(), err)
			}
			return
		}
		must(w.t, err)
		if proof.Nonce != w.lastNonce[x]+1 {
			w.t.Fatalf("nonce %d after %d", proof.Nonce, w.lastNonce[x])
		}
		w.lastNonce[x] = proof.Nonce
		w.proofs[x] = append(w.proofs[x], proof)
	case op < 7: // deliver the oldest proof in flight to x
		from := x.Other()
		if len(w.proofs[from]) == 0 {
			return
		}
		proof := w.proofs[from][0]
		w.proofs[from] = w.proofs[from][1:]
		if _, err := c.Receive(proof); err != nil {
			w.t.Fatalf("honest proof rejected: %v", err)
		}
		w.acks[from] = append(w.acks[from], proof.Nonce)
	case op < 8: // deliver an ack to x
		if len(w.acks[x]) == 0 {
			return
		}
		must(w.t, c.Ack(w.acks[x][0]))
		w.acks[x] = w.acks[x][1:]
	case op < 9: // top up
		w.deposit(x, w.r.Uint64N(100))
	default: // withdraw: request, countersign, then on chain or expired
		bal := c.Balance(x)
		if bal.IsZero() {
			return
		}
		amount := u(1 + w.r.Uint64N(bal.Uint64()))
		req, err := c.RequestWithdraw(amount, w.now+10, w.now, w.keys[x])
		must(w.t, err)
		full, err := w.ch[x.Other()].CountersignWithdraw(req, w.now, w.keys[x.Other()])
		if err != nil {
			// The peer sees x's balance lower (x's payments in flight are
			// counted by x already, so this must not happen).
			w.t.Fatalf("countersign: %v", err)
		}
		_, err = c.WithdrawCountersigned(full.Sigs[x.Other()])
		must(w.t, err)
		if w.r.IntN(3) == 0 {
			w.now += 11 // never submitted: expires
		} else {
			w.wd[x] = full.Total
			for _, ch := range w.ch {
				must(w.t, ch.ChainWithdrawn(x, &w.wd[x]))
			}
		}
		for _, ch := range w.ch {
			ch.ChainTime(w.now)
		}
	}
}

// check asserts the invariants that must hold after every step.
func (w *world) check() {
	w.t.Helper()
	funds := new(uint256.Int).Add(&w.dep[A], &w.dep[B])
	funds.Sub(funds, &w.wd[A])
	funds.Sub(funds, &w.wd[B])
	for _, c := range w.ch {
		st := c.State()
		// Each view: balances add up to deposits minus withdrawals.
		ba, bb := c.Balance(A), c.Balance(B)
		sum := new(uint256.Int).Add(&ba, &bb)
		want := new(uint256.Int).Add(&st.Deposit[A], &st.Deposit[B])
		want.Sub(want, &st.Withdrawn[A])
		want.Sub(want, &st.Withdrawn[B])
		if !sum.Eq(want) {
			w.t.Fatalf("side %s: balances %s+%s != %s", c.Self(), ba.Dec(), bb.Dec(), want.Dec())
		}
	}
	// What the chain pays if both present their newest holdings: each
	// direction's newest proof is its signer's Sent.
	tr := [2]uint256.Int{w.ch[A].Sent().Transferred, w.ch[B].Sent().Transferred}
	final := Settlement(w.dep, w.wd, tr)
	total := new(uint256.Int).Add(&final[A], &final[B])
	if !total.Eq(funds) {
		w.t.Fatalf("settlement pays %s, channel holds %s", total.Dec(), funds.Dec())
	}
	for _, x := range []Side{A, B} {
		// Solvency: nobody is ever overdrawn, so no clamping happens...
		if _, ok := Balance(&w.dep[x], &w.wd[x], &tr[x], &tr[x.Other()]); !ok {
			w.t.Fatalf("side %s overdrawn on chain", x)
		}
		// ...and each side gets at least what it believes it owns.
		mine := w.ch[x].Balance(x)
		if final[x].Lt(&mine) {
			w.t.Fatalf("side %s: chain pays %s, it believes %s", x, final[x].Dec(), mine.Dec())
		}
		// If only x presents its holdings, x still gets at least that.
		solo := [2]uint256.Int{}
		solo[x] = w.ch[x].Sent().Transferred
		solo[x.Other()] = w.ch[x].Received().Transferred
		if f := Settlement(w.dep, w.wd, solo); f[x].Lt(&mine) {
			w.t.Fatalf("side %s presenting alone gets %s, believes %s", x, f[x].Dec(), mine.Dec())
		}
	}
}

// drain delivers everything in flight.
func (w *world) drain() {
	for _, x := range []Side{A, B} {
		for _, p := range w.proofs[x] {
			_, err := w.ch[x.Other()].Receive(p)
			must(w.t, err)
			w.acks[x] = append(w.acks[x], p.Nonce)
		}
		w.proofs[x] = nil
	}
	for _, x := range []Side{A, B} {
		for _, n := range w.acks[x] {
			must(w.t, w.ch[x].Ack(n))
		}
		w.acks[x] = nil
	}
}

func TestPropertyRandomInterleavings(t *testing.T) {
	seeds := 60
	if testing.Short() {
		seeds = 20
	}
	for seed := range uint64(seeds) {
		w := newWorld(t, seed)
		for range 300 {
			w.step()
			w.check()
		}
		w.drain()
		w.check()
		// At rest both sides agree on both balances, which are exactly what
		// the chain would pay.
		tr := [2]uint256.Int{w.ch[A].Sent().Transferred, w.ch[B].Sent().Transferred}
		final := Settlement(w.dep, w.wd, tr)
		for _, x := range []Side{A, B} {
			for _, c := range w.ch {
				if b := c.Balance(x); !b.Eq(&final[x]) {
					t.Fatalf("seed %d: side %s's view of %s is %s, chain pays %s", seed, c.Self(), x, b.Dec(), final[x].Dec())
				}
			}
		}
		// And cooperative close terms from either side are accepted by the
		// other and pay the same.
		terms, err := w.ch[A].ProposeClose(w.now+100, w.now, aliceKey)
		must(t, err)
		terms, err = w.ch[B].AcceptClose(terms, w.now, bobKey)
		must(t, err)
		if !terms.Balance[A].Eq(&final[A]) || !terms.Balance[B].Eq(&final[B]) {
			t.Fatalf("seed %d: close terms differ from settlement", seed)
		}
	}
}
