package channel

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/crypto"
)

// TestScripts runs the golden scripts under testdata/. Each script drives
// Alice (side a) and Bob (side b) of one channel with a FIFO link each way;
// rewrite the expected output with
//
//	go test ./channel -run TestScripts -rewrite
func TestScripts(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		var w *scriptWorld
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			if td.Cmd != "open" && w == nil {
				t.Fatalf("%s: script must start with open", td.Pos)
			}
			switch td.Cmd {
			case "open":
				var a, b uint64
				td.ScanArgs(t, "a", &a)
				td.ScanArgs(t, "b", &b)
				w = &scriptWorld{p: newPair(t, a, b)}
				return w.state()
			default:
				return w.run(t, td)
			}
		})
	})
}

type scriptWorld struct {
	p       *pair
	flight  [2][]Proof // proofs in flight from side X
	now     uint64
	pending *Withdrawal
	terms   *CloseTerms
}

func (w *scriptWorld) side(t *testing.T, td *datadriven.TestData, key string) Side {
	var s string
	td.ScanArgs(t, key, &s)
	switch s {
	case "a":
		return A
	case "b":
		return B
	}
	t.Fatalf("%s: side %q", td.Pos, s)
	return 0
}

func (w *scriptWorld) ch(x Side) *Channel { return [2]*Channel{w.p.alice, w.p.bob}[x] }
func (w *scriptWorld) key(x Side) *crypto.PrivateKey {
	return [2]*crypto.PrivateKey{aliceKey, bobKey}[x]
}

func amountArg(t *testing.T, td *datadriven.TestData, key string) *uint256.Int {
	var s string
	td.ScanArgs(t, key, &s)
	if s == "max" {
		return new(uint256.Int).SetAllOne()
	}
	v, err := uint256.FromDecimal(s)
	if err != nil {
		t.Fatalf("%s: %s=%q: %v", td.Pos, key, s, err)
	}
	return v
}

func result(err error, ok string) string {
	if err != nil {
		return "error: " + err.Error() + "\n"
	}
	return ok + "\n"
}

func (w *scriptWorld) run(t *testing.T, td *datadriven.TestData) string {
	switch td.Cmd {
	case "pay": // pay from=a amount=N
		x := w.side(t, td, "from")
		proof, err := w.ch(x).Pay(amountArg(t, td, "amount"), w.key(x))
		if err == nil {
			w.flight[x] = append(w.flight[x], proof)
		}
		return result(err, fmt.Sprintf("signed nonce=%d transferred=%s", proof.Nonce, proof.Transferred.Dec()))
	case "deliver": // deliver to=b: the oldest proof in flight to b, then its ack
		x := w.side(t, td, "to")
		from := x.Other()
		if len(w.flight[from]) == 0 {
			return "nothing in flight\n"
		}
		proof := w.flight[from][0]
		w.flight[from] = w.flight[from][1:]
		got, err := w.ch(x).Receive(proof)
		if err != nil {
			return result(err, "")
		}
		must(t, w.ch(from).Ack(proof.Nonce))
		return fmt.Sprintf("accepted nonce=%d amount=%s, acked\n", proof.Nonce, got.Dec())
	case "drop": // drop from=a: lose the oldest proof in flight from a
		x := w.side(t, td, "from")
		if len(w.flight[x]) > 0 {
			w.flight[x] = w.flight[x][1:]
		}
		return "dropped\n"
	case "forge": // forge to=b signer=alice|bob|mallory nonce=N transferred=N [chain=N]
		x := w.side(t, td, "to")
		var signer string
		var nonce uint64
		td.ScanArgs(t, "signer", &signer)
		td.ScanArgs(t, "nonce", &nonce)
		key := map[string]*crypto.PrivateKey{"alice": aliceKey, "bob": bobKey, "mallory": malloryKey}[signer]
		p := w.ch(x).Params()
		if td.HasArg("chain") {
			td.ScanArgs(t, "chain", &p.ChainID)
		}
		proof := signProof(t, key, p.Domain(), w.ch(x).ID(), nonce, amountArg(t, td, "transferred"))
		before := w.ch(x).State()
		got, err := w.ch(x).Receive(proof)
		if err != nil && fmt.Sprint(before) != fmt.Sprint(w.ch(x).State()) {
			t.Fatalf("%s: rejected proof changed the state", td.Pos)
		}
		return result(err, "accepted amount="+got.Dec())
	case "reconnect": // reconnect side=a: a reestablishes with what the peer holds
		x := w.side(t, td, "side")
		w.flight[x] = nil
		resend, err := w.ch(x).Reestablish(w.ch(x.Other()).Received())
		out := "nothing to resend"
		if resend != nil {
			w.flight[x] = append(w.flight[x], *resend)
			out = fmt.Sprintf("resend nonce=%d transferred=%s", resend.Nonce, resend.Transferred.Dec())
		}
		return result(err, out)
	case "withdraw": // withdraw side=a amount=N expiry=T: request and countersign
		x := w.side(t, td, "side")
		var expiry uint64
		td.ScanArgs(t, "expiry", &expiry)
		req, err := w.ch(x).RequestWithdraw(amountArg(t, td, "amount"), expiry, w.now, w.key(x))
		if err != nil {
			return result(err, "")
		}
		full, err := w.ch(x.Other()).CountersignWithdraw(req, w.now, w.key(x.Other()))
		if err != nil {
			must(t, w.ch(x).AbortWithdraw())
			return "peer refused: " + err.Error() + "\n"
		}
		_, err = w.ch(x).WithdrawCountersigned(full.Sigs[x.Other()])
		w.pending = &full
		return result(err, "countersigned total="+full.Total.Dec())
	case "chain-withdrawn": // the pending withdrawal lands on chain
		if w.pending == nil {
			t.Fatalf("%s: no pending withdrawal", td.Pos)
		}
		for _, c := range []*Channel{w.p.alice, w.p.bob} {
			must(t, c.ChainWithdrawn(w.pending.Participant, &w.pending.Total))
		}
		w.pending = nil
		return w.state()
	case "deposit": // deposit side=a total=N
		x := w.side(t, td, "side")
		total := amountArg(t, td, "total")
		for _, c := range []*Channel{w.p.alice, w.p.bob} {
			must(t, c.ChainDeposit(x, total))
		}
		return w.state()
	case "time": // time now=T
		td.ScanArgs(t, "now", &w.now)
		for _, c := range []*Channel{w.p.alice, w.p.bob} {
			c.ChainTime(w.now)
		}
		return w.state()
	case "propose-close": // propose-close side=a expiry=T
		x := w.side(t, td, "side")
		var expiry uint64
		td.ScanArgs(t, "expiry", &expiry)
		terms, err := w.ch(x).ProposeClose(expiry, w.now, w.key(x))
		if err == nil {
			w.terms = &terms
		}
		return result(err, fmt.Sprintf("signed a=%s b=%s", terms.Balance[A].Dec(), terms.Balance[B].Dec()))
	case "accept-close": // accept-close side=b
		x := w.side(t, td, "side")
		terms, err := w.ch(x).AcceptClose(*w.terms, w.now, w.key(x))
		if err == nil {
			_, err = w.ch(x.Other()).CloseCountersigned(terms.Sigs[x])
		}
		return result(err, fmt.Sprintf("countersigned a=%s b=%s", terms.Balance[A].Dec(), terms.Balance[B].Dec()))
	case "force-close": // force-close by=a stale: closer presents; other side answers
		x := w.side(t, td, "by")
		var tr [2]uint256.Int
		if !td.HasArg("stale") {
			peers, own, err := w.ch(x).ForceCloseProofs()
			must(t, err)
			tr[x.Other()], tr[x] = peers.Transferred, own.Transferred
		}
		var b strings.Builder
		other := w.ch(x.Other())
		for _, c := range []*Channel{w.p.alice, w.p.bob} {
			must(t, c.ChainClosed(x, tr, w.now+100))
		}
		for _, p := range other.ToPresent() {
			signer := x
			if p == other.Sent() {
				signer = x.Other()
			}
			fmt.Fprintf(&b, "%s presents %s's proof nonce=%d transferred=%s\n", x.Other(), signer, p.Nonce, p.Transferred.Dec())
			for _, c := range []*Channel{w.p.alice, w.p.bob} {
				must(t, c.ChainUpdated(signer, &p.Transferred))
			}
		}
		final, _ := other.ExpectedSettlement()
		fmt.Fprintf(&b, "settlement a=%s b=%s\n", final[A].Dec(), final[B].Dec())
		return b.String()
	case "state":
		return w.state()
	}
	t.Fatalf("%s: unknown command %q", td.Pos, td.Cmd)
	return ""
}

func (w *scriptWorld) state() string {
	var b strings.Builder
	for _, x := range []Side{A, B} {
		c := w.ch(x)
		ba, bb := c.Balance(A), c.Balance(B)
		sent, recv := c.Sent(), c.Received()
		fmt.Fprintf(&b, "%s: phase=%s balance a=%s b=%s sent=%d/%s acked=%d received=%d/%s\n",
			x, c.Phase(), ba.Dec(), bb.Dec(), sent.Nonce, sent.Transferred.Dec(), c.Acked(),
			recv.Nonce, recv.Transferred.Dec())
	}
	return b.String()
}
