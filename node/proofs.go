package node

import "github.com/tinypay/tinypay/channel"

// IncomingProof is the newest proof of a channel's other participant (the
// payer of this node's incoming payments) that the node holds on disk:
// what a watchtower needs to present it on chain for this node.
type IncomingProof struct {
	Params channel.Params
	Proof  channel.Proof
}

// ProofObserver hears of every incoming proof once it is durable; the
// watchtower client (package node/tower) implements it. ProofDurable runs
// on the store's committer goroutine, in commit order (a channel's proofs
// come oldest first), and must return at once: it must not block, do I/O or
// call the Node.
type ProofObserver interface {
	ProofDurable(p IncomingProof)
}

// IncomingProofs returns the newest durable incoming proof of every channel
// that has one and is not settled or abandoned: what an observer that
// starts after the node has to catch up with. It is safe to call at any
// time; a proof that becomes durable meanwhile also reaches the observer.
func (n *Node) IncomingProofs() []IncomingProof {
	var out []IncomingProof
	for _, c := range n.chans.all() {
		if c.info().Phase.Terminal() {
			continue
		}
		if p := *c.durableRecv.Load(); !p.IsZero() {
			out = append(out, IncomingProof{Params: c.params, Proof: p})
		}
	}
	return out
}

// proofDurable tells the observer, if any, of an incoming proof on disk.
func (n *Node) proofDurable(c *chanActor, p channel.Proof) {
	if n.proofs != nil {
		n.proofs.ProofDurable(IncomingProof{Params: c.params, Proof: p})
	}
}
