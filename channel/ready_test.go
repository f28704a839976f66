package channel

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/holiman/uint256"
)

// kinds names the messages and actions of a Ready, in order, for
// comparisons.
func kinds(r Ready) string {
	s := ""
	if r.State {
		s += "state "
	}
	if r.Sent {
		s += "sent "
	}
	if r.Received {
		s += "received "
	}
	for _, m := range r.Early {
		s += "early:" + msgName(m) + " "
	}
	for _, m := range r.Messages {
		s += "msg:" + msgName(m) + " "
	}
	for _, a := range r.Actions {
		s += "act:" + a.Op().String() + " "
	}
	return s
}

func msgName(m Message) string {
	switch m.(type) {
	case ProofMsg:
		return "proof"
	case AckMsg:
		return "ack"
	case CloseRequestMsg:
		return "close-request"
	case CloseReplyMsg:
		return "close-reply"
	case WithdrawRequestMsg:
		return "withdraw-request"
	case WithdrawReplyMsg:
		return "withdraw-reply"
	}
	return fmt.Sprintf("%T", m)
}

// TestReady checks what each call asks the caller to persist, send and do,
// in which order.
func TestReady(t *testing.T) {
	p := newPair(t, 100, 50)
	p.alice.Ready()
	p.bob.Ready()
	step := func(c *Channel, want string) {
		t.Helper()
		if got := kinds(c.Ready()); got != want {
			t.Fatalf("ready %q, want %q", got, want)
		}
		if c.HasReady() {
			t.Fatal("Ready did not forget what it returned")
		}
	}
	proof, err := p.alice.Pay(u(10), aliceKey)
	must(t, err)
	step(p.alice, "sent early:proof ") // the proof may leave with its write
	_, err = p.bob.Receive(proof)
	must(t, err)
	step(p.bob, "received msg:ack ") // the ack only once durable
	must(t, p.alice.Ack(1))
	step(p.alice, "") // acks are re-derived on reconnect; nothing to write

	// A rejected call asks for nothing.
	if _, err := p.bob.Receive(proof); err == nil {
		t.Fatal("replay accepted")
	}
	step(p.bob, "")

	w, err := p.alice.RequestWithdraw(u(5), 1000, 10, aliceKey)
	must(t, err)
	step(p.alice, "state msg:withdraw-request ")
	full, err := p.bob.CountersignWithdraw(w, 10, bobKey)
	must(t, err)
	step(p.bob, "state msg:withdraw-reply ")
	_, err = p.bob.CountersignWithdraw(w, 10, bobKey) // the request again
	must(t, err)
	step(p.bob, "msg:withdraw-reply ") // answered again, nothing changes
	_, err = p.alice.WithdrawCountersigned(full.Sigs[B])
	must(t, err)
	step(p.alice, "state act:withdraw ")
	_, err = p.alice.WithdrawCountersigned(full.Sigs[B])
	must(t, err)
	step(p.alice, "")
	for _, c := range []*Channel{p.alice, p.bob} {
		must(t, c.ChainWithdrawn(A, u(5)))
		step(c, "state ")
	}
	if p.alice.Op() != OpNone {
		t.Fatalf("op %s after the withdrawal landed", p.alice.Op())
	}

	must(t, p.alice.BeginClose())
	step(p.alice, "")
	if _, err := p.alice.Pay(u(1), aliceKey); !errors.Is(err, ErrDraining) {
		t.Fatalf("pay while draining: %v", err)
	}
	if _, err := p.alice.Refund(u(1), aliceKey); err != nil {
		t.Fatalf("refund while draining: %v", err)
	}
	step(p.alice, "sent early:proof ")
	terms, err := p.alice.ProposeClose(1000, 10, aliceKey)
	must(t, err)
	step(p.alice, "state msg:close-request ")
	_, err = p.bob.Receive(p.alice.Sent())
	must(t, err)
	step(p.bob, "received msg:ack ")
	both, err := p.bob.AcceptClose(terms, 10, bobKey)
	must(t, err)
	step(p.bob, "state msg:close-reply ")
	_, err = p.bob.AcceptClose(terms, 10, bobKey) // the request again
	must(t, err)
	step(p.bob, "msg:close-reply ")
	_, err = p.alice.CloseCountersigned(both.Sigs[B])
	must(t, err)
	step(p.alice, "state act:cooperative close ")
	_, err = p.alice.CloseCountersigned(both.Sigs[B]) // the reply again
	must(t, err)
	step(p.alice, "")
	must(t, p.alice.ChainCooperativelyClosed())
	step(p.alice, "state ")
	if p.alice.Op() != OpNone {
		t.Fatalf("op %s after the close landed", p.alice.Op())
	}
}

// TestReestablishResendsSigned: after a reconnect, each side sends again
// whatever it signed for the peer and may not have delivered.
func TestReestablishResendsSigned(t *testing.T) {
	cases := []struct {
		name       string
		setup      func(p *pair)
		alice, bob string // Ready of Reestablish with the other's newest proof
	}{
		{"nothing pending", func(p *pair) { p.pay(A, 5) }, "", ""},
		{"own proof not delivered", func(p *pair) {
			p.pay(A, 5)
			_, err := p.alice.Pay(u(3), aliceKey)
			must(t, err)
		}, "msg:proof ", ""},
		{"close proposed, not countersigned", func(p *pair) {
			_, err := p.alice.ProposeClose(1000, 10, aliceKey)
			must(t, err)
		}, "msg:close-request ", ""},
		{"close countersigned by bob", func(p *pair) {
			terms, err := p.alice.ProposeClose(1000, 10, aliceKey)
			must(t, err)
			_, err = p.bob.AcceptClose(terms, 10, bobKey)
			must(t, err)
		}, "msg:close-request ", "msg:close-reply "},
		{"close complete on both sides", func(p *pair) {
			terms, err := p.alice.ProposeClose(1000, 10, aliceKey)
			must(t, err)
			both, err := p.bob.AcceptClose(terms, 10, bobKey)
			must(t, err)
			_, err = p.alice.CloseCountersigned(both.Sigs[B])
			must(t, err)
		}, "", "msg:close-reply "},
		{"withdrawal requested", func(p *pair) {
			_, err := p.alice.RequestWithdraw(u(5), 1000, 10, aliceKey)
			must(t, err)
		}, "msg:withdraw-request ", ""},
		{"withdrawal countersigned by bob", func(p *pair) {
			w, err := p.alice.RequestWithdraw(u(5), 1000, 10, aliceKey)
			must(t, err)
			_, err = p.bob.CountersignWithdraw(w, 10, bobKey)
			must(t, err)
		}, "msg:withdraw-request ", "msg:withdraw-reply "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t, 100, 50)
			tc.setup(p)
			p.alice.Ready()
			p.bob.Ready()
			// Each side reestablishes with what the other holds of its proofs.
			_, err := p.alice.Reestablish(p.bob.Received())
			must(t, err)
			_, err = p.bob.Reestablish(p.alice.Received())
			must(t, err)
			if got := kinds(p.alice.Ready()); got != tc.alice {
				t.Fatalf("alice resends %q, want %q", got, tc.alice)
			}
			if got := kinds(p.bob.Ready()); got != tc.bob {
				t.Fatalf("bob resends %q, want %q", got, tc.bob)
			}
		})
	}
}

// TestOps checks the table of operations: one at a time, only in the
// phases that allow it, and each ends when what it waits for happens.
func TestOps(t *testing.T) {
	for _, phase := range []Phase{Opening, Open, Closing, Closed, Settled, Abandoned} {
		for op := OpOpen; op <= OpSettle; op++ {
			c := inPhase(t, phase)
			c.Ready()
			before := c.State()
			err := c.Begin(op)
			if allowed := ops[phase][op]; allowed != (err == nil) {
				t.Fatalf("%s in %s: %v, allowed %v", op, phase, err, allowed)
			}
			if err != nil {
				if c.Op() != OpNone || !reflect.DeepEqual(before, c.State()) {
					t.Fatalf("refused %s in %s changed the channel", op, phase)
				}
				continue
			}
			for other := OpOpen; other <= OpSettle; other++ {
				if err := c.Begin(other); !errors.Is(err, ErrBusy) {
					t.Fatalf("%s while %s runs: %v", other, op, err)
				}
			}
			c.Done(OpNone) // ending another op changes nothing
			if c.Op() != op {
				t.Fatal("Done of another op ended this one")
			}
			c.Done(op)
			if c.Op() != OpNone {
				t.Fatal("Done did not end the op")
			}
		}
	}
}

// inPhase returns Alice's side of a channel in phase ph.
func inPhase(t *testing.T, ph Phase) *Channel {
	t.Helper()
	p := newPair(t, 100, 50)
	c := p.alice
	switch ph {
	case Opening:
		c2, err := New(testParams(), A)
		must(t, err)
		return c2
	case Abandoned:
		c2, err := New(testParams(), A)
		must(t, err)
		must(t, c2.Abandon())
		return c2
	case Closing:
		_, err := c.ProposeClose(1000, 10, aliceKey)
		must(t, err)
		c.Done(OpClose)
	case Closed:
		must(t, c.ChainClosed(B, [2]uint256.Int{}, 100))
	case Settled:
		must(t, c.ChainCooperativelyClosed())
	}
	if c.Phase() != ph {
		t.Fatalf("set up %s, got %s", ph, c.Phase())
	}
	return c
}

func TestAbandon(t *testing.T) {
	c, err := New(testParams(), A)
	must(t, err)
	must(t, c.StartOpen(u(10)))
	if err := c.Abandon(); !errors.Is(err, ErrBusy) {
		t.Fatalf("abandon while the open is on its way: %v", err)
	}
	c.Done(OpOpen)
	must(t, c.Abandon())
	if c.Phase() != Abandoned || !c.Phase().Terminal() {
		t.Fatalf("phase %s", c.Phase())
	}
	if err := c.Abandon(); !errors.Is(err, ErrWrongPhase) {
		t.Fatalf("abandon twice: %v", err)
	}
	if _, err := c.Pay(u(1), aliceKey); !errors.Is(err, ErrWrongPhase) {
		t.Fatalf("pay on an abandoned channel: %v", err)
	}
	// The open reached the chain after all: the channel is open.
	must(t, c.ChainOpened())
	if c.Phase() != Open {
		t.Fatalf("phase %s after a late open", c.Phase())
	}
	o := inPhase(t, Open)
	if err := o.Abandon(); !errors.Is(err, ErrWrongPhase) {
		t.Fatalf("abandon an open channel: %v", err)
	}
}

// TestDuties: ChainTime starts what is due, once, when no operation runs.
func TestDuties(t *testing.T) {
	p := newPair(t, 100, 50)
	p.pay(A, 30)
	terms, err := p.alice.ProposeClose(1000, 10, aliceKey)
	must(t, err)
	both, err := p.bob.AcceptClose(terms, 10, bobKey)
	must(t, err)
	_, err = p.alice.CloseCountersigned(both.Sigs[B])
	must(t, err)
	p.alice.Ready()
	p.bob.Ready()
	// Alice (the proposer) lost the op in a restart: ChainTime submits.
	st := p.alice.State()
	a, err := Restore(st)
	must(t, err)
	a.ChainTime(20)
	if got := kinds(a.Ready()); got != "act:cooperative close " {
		t.Fatalf("proposer after restart: %q", got)
	}
	a.ChainTime(21)
	if got := kinds(a.Ready()); got != "" {
		t.Fatalf("submitted twice: %q", got)
	}
	// Bob (who accepted) waits until shortly before the terms expire.
	p.bob.ChainTime(20)
	if got := kinds(p.bob.Ready()); got != "" {
		t.Fatalf("acceptor early: %q", got)
	}
	p.bob.ChainTime(1000 - acceptorGrace)
	if got := kinds(p.bob.Ready()); got != "act:cooperative close " {
		t.Fatalf("acceptor near expiry: %q", got)
	}

	// A force close: present while the period runs, settle after.
	q := newPair(t, 100, 50)
	q.pay(A, 30)
	must(t, q.bob.ChainClosed(A, [2]uint256.Int{}, 500)) // closed with no proof
	q.bob.Ready()
	q.bob.ChainTime(100)
	if got := kinds(q.bob.Ready()); got != "act:dispute " {
		t.Fatalf("during the period: %q", got)
	}
	q.bob.Done(OpDispute)
	must(t, q.bob.ChainUpdated(A, u(30)))
	q.bob.Ready()
	q.bob.ChainTime(200)
	if got := kinds(q.bob.Ready()); got != "" {
		t.Fatalf("nothing newer to present: %q", got)
	}
	q.bob.ChainTime(501)
	if got := kinds(q.bob.Ready()); got != "act:settle " {
		t.Fatalf("after the period: %q", got)
	}
}

// TestSimultaneousProposals: both sides propose close terms at once. The
// side with the higher address yields and countersigns the other's; the
// other refuses the yielding side's terms; one set completes.
func TestSimultaneousProposals(t *testing.T) {
	p := newPair(t, 100, 50)
	p.pay(A, 30)
	ta, err := p.alice.ProposeClose(1000, 10, aliceKey)
	must(t, err)
	tb, err := p.bob.ProposeClose(1000, 10, bobKey)
	must(t, err)
	hi, lo, hiKey, loKey, loTerms, hiTerms := p.alice, p.bob, aliceKey, bobKey, tb, ta
	if higher(bobKey.Address(), aliceKey.Address()) {
		hi, lo, hiKey, loKey, loTerms, hiTerms = p.bob, p.alice, bobKey, aliceKey, ta, tb
	}
	if _, err := lo.AcceptClose(hiTerms, 10, loKey); !errors.Is(err, ErrClosing) {
		t.Fatalf("the lower side accepted the higher side's terms: %v", err)
	}
	both, err := hi.AcceptClose(loTerms, 10, hiKey)
	must(t, err)
	if !both.Complete() || both.Proposer != lo.Self() || hi.Op() != OpNone {
		t.Fatalf("the higher side's yield: %+v, op %s", both, hi.Op())
	}
	lo.Ready()
	if _, err := lo.CloseCountersigned(both.Sigs[hi.Self()]); err != nil {
		t.Fatalf("the lower side takes the countersignature: %v", err)
	}
	if got := kinds(lo.Ready()); got != "state act:cooperative close " {
		t.Fatalf("the lower side's ready: %q", got)
	}
}

// TestSimultaneousWithdrawals: both sides ask to withdraw at once. The side
// with the higher address yields: it drops its own request and countersigns
// the other's; the other refuses the yielding side's request.
func TestSimultaneousWithdrawals(t *testing.T) {
	p := newPair(t, 100, 100)
	wa, err := p.alice.RequestWithdraw(u(10), 1000, 10, aliceKey)
	must(t, err)
	wb, err := p.bob.RequestWithdraw(u(20), 1000, 10, bobKey)
	must(t, err)
	hi, lo, hiKey, loKey, loReq, hiReq := p.alice, p.bob, aliceKey, bobKey, wb, wa
	if higher(bobKey.Address(), aliceKey.Address()) {
		hi, lo, hiKey, loKey, loReq, hiReq = p.bob, p.alice, bobKey, aliceKey, wa, wb
	}
	before := lo.State()
	if _, err := lo.CountersignWithdraw(hiReq, 10, loKey); !errors.Is(err, ErrWithdrawPending) {
		t.Fatalf("the lower side countersigned the higher side's request: %v", err)
	}
	if !reflect.DeepEqual(before, lo.State()) {
		t.Fatal("the refusal changed the lower side")
	}
	// A bad signature on the lower side's request changes nothing on the
	// higher side either, although it would have yielded.
	bad := loReq
	bad.Sigs[lo.Self()] = bad.Sigs[hi.Self()]
	hiBefore, hiOp := hi.State(), hi.Op()
	if _, err := hi.CountersignWithdraw(bad, 10, hiKey); err == nil {
		t.Fatal("countersigned a forged request")
	}
	if !reflect.DeepEqual(hiBefore, hi.State()) || hi.Op() != hiOp {
		t.Fatal("a refused request changed the higher side")
	}
	full, err := hi.CountersignWithdraw(loReq, 10, hiKey)
	must(t, err)
	if !full.Complete() || full.Participant != lo.Self() || hi.Op() != OpNone {
		t.Fatalf("the higher side's yield: %+v, op %s", full, hi.Op())
	}
	if _, err := lo.WithdrawCountersigned(full.Sigs[hi.Self()]); err != nil {
		t.Fatal(err)
	}
}
