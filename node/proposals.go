package node

import (
	"slices"
	"sync"
	"time"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
)

// proposalBook remembers the channels peers proposed to this node within
// the last ProposalExpiry that have not opened on chain: the ones still
// opening, and the ones given up since. Counting both is what bounds a
// stranger who proposes and abandons in a loop: each proposal costs the
// node a write, and without the given-up ones it would cost nothing to
// repeat. It is memory only; its lock is never held across I/O.
type proposalBook struct {
	mu     sync.Mutex
	recent []proposed // oldest first
}

type proposed struct {
	id   channel.ID
	peer crypto.Address
	at   time.Time
}

// admitProposal counts c's proposal against the bounds and, if it fits, registers
// c with the node's channels.
func (n *Node) admitProposal(c *chanActor) error {
	bound, limit, held, err := n.proposals.admit(n, c)
	if bound != "" {
		// Reported outside the book's lock: it logs.
		n.bounds.Refused(bound, "peer", c.peer, "limit", limit)
		if bound == BoundProposalsPerPeer {
			return wrapf(ErrResourceExhausted, "you proposed %d channels in the last %s that are not open on chain, the most this node takes from one peer; open one first", held, n.cfg.ProposalExpiry)
		}
		return wrapf(ErrResourceExhausted, "peers proposed %d channels in the last %s that are not open on chain, the most this node takes; try later", held, n.cfg.ProposalExpiry)
	}
	return err
}

// admit counts c's proposal and registers c (the channel set's lock is a
// leaf: nothing is called under it), or names the bound that refuses it,
// its limit and how many the bound holds.
func (b *proposalBook) admit(n *Node, c *chanActor) (bound string, limit, held int, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expire(n.clock.Now().Add(-n.cfg.ProposalExpiry))
	mine := 0
	for _, p := range b.recent {
		if p.peer == c.peer {
			mine++
		}
	}
	switch {
	case mine >= n.cfg.MaxProposalsPerPeer:
		return BoundProposalsPerPeer, n.cfg.MaxProposalsPerPeer, mine, nil
	case len(b.recent) >= n.cfg.MaxProposals:
		return BoundProposals, n.cfg.MaxProposals, len(b.recent), nil
	case !n.chans.add(c):
		return "", 0, 0, wrapf(ErrAlreadyExists, "channel %s exists", c.id)
	}
	b.recent = append(b.recent, proposed{id: c.id, peer: c.peer, at: c.created})
	return "", 0, 0, nil
}

// loaded counts a channel still opening at start.
func (b *proposalBook) loaded(c *chanActor) {
	b.mu.Lock()
	defer b.mu.Unlock()
	i, _ := slices.BinarySearchFunc(b.recent, c.created, func(p proposed, t time.Time) int { return p.at.Compare(t) })
	b.recent = slices.Insert(b.recent, i, proposed{id: c.id, peer: c.peer, at: c.created})
}

// opened stops counting a proposal that reached the chain.
func (b *proposalBook) opened(id channel.ID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.recent = slices.DeleteFunc(b.recent, func(p proposed) bool { return p.id == id })
}

// expire forgets the proposals made before cutoff.
func (b *proposalBook) expire(cutoff time.Time) {
	i := 0
	for i < len(b.recent) && b.recent[i].at.Before(cutoff) {
		i++
	}
	b.recent = slices.Delete(b.recent, 0, i)
}
