package node

import (
	"fmt"
	"sync"
	"testing"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
)

// proofRecorder is a ProofObserver that checks, as it hears of each proof,
// that the proof is already on the node's disk.
type proofRecorder struct {
	tn   *testNode
	mu   sync.Mutex
	got  []IncomingProof
	errs []string
}

func (r *proofRecorder) ProofDurable(p IncomingProof) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, p)
	side, _ := p.Params.SideOf(r.tn.key.Address())
	rec, err := r.tn.st.Proof(p.Proof.Channel, uint32(side.Other()))
	switch {
	case err != nil:
		r.errs = append(r.errs, fmt.Sprintf("nonce %d: reading it back: %v", p.Proof.Nonce, err))
	case rec.GetNonce() < p.Proof.Nonce:
		r.errs = append(r.errs, fmt.Sprintf("nonce %d reported while the disk holds nonce %d", p.Proof.Nonce, rec.GetNonce()))
	}
}

func (r *proofRecorder) snapshot() ([]IncomingProof, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]IncomingProof(nil), r.got...), append([]string(nil), r.errs...)
}

// TestProofObserver: the node tells its ProofObserver of every incoming
// proof once it is on disk, oldest first, with the channel's parameters
// and the payer's signature; IncomingProofs returns the newest of each
// channel, also after a restart; its own payments are not reported.
func TestProofObserver(t *testing.T) {
	w := newNet(t)
	rec := &proofRecorder{}
	alice := w.add("alice", 1)
	bob := w.add("bob", 2, func(tn *testNode) { rec.tn, tn.proofs = tn, rec })
	alice.connect(bob)
	id := alice.open(bob, 1000)
	for i := range 5 {
		alice.pay(id, 10, fmt.Sprintf("k%d", i))
	}
	bob.open(alice, 1000) // a channel in which bob pays
	waitFor(t, "bob to report the fifth proof", func() bool {
		got, _ := rec.snapshot()
		return len(got) > 0 && got[len(got)-1].Proof.Transferred.Uint64() == 50
	})
	got, errs := rec.snapshot()
	if len(errs) > 0 {
		t.Fatalf("proofs reported before they were durable: %v", errs)
	}
	params := bob.n.chans.get(id).params
	for i, p := range got {
		if p.Params != params || p.Proof.Channel != id {
			t.Fatalf("report %d is of channel %s with params %+v, want %s", i, p.Proof.Channel, p.Params, id)
		}
		if i > 0 && p.Proof.Nonce <= got[i-1].Proof.Nonce {
			t.Fatalf("report %d has nonce %d after %d", i, p.Proof.Nonce, got[i-1].Proof.Nonce)
		}
		if err := channelVerify(p); err != nil {
			t.Fatalf("report %d: %v", i, err)
		}
	}
	check := func(when string) {
		t.Helper()
		in := bob.n.IncomingProofs()
		if len(in) != 1 || in[0].Proof.Channel != id || in[0].Proof.Transferred.Uint64() != 50 || in[0].Proof != got[len(got)-1].Proof {
			t.Fatalf("%s: IncomingProofs = %+v, want the newest proof of %s (50 wei) only", when, in, id)
		}
	}
	check("running")
	bob.restart()
	check("after a restart")
}

// channelVerify checks that p is signed by the payer (side A here).
func channelVerify(p IncomingProof) error {
	return crypto.Verify(p.Params.Domain().BalanceProofDigest(p.Proof.Channel, p.Proof.Nonce, &p.Proof.Transferred), p.Proof.Sig, p.Params.Participants[channel.A])
}
