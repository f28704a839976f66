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
	b := &n.proposals
	now := n.clock.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expire(now.Add(-n.cfg.ProposalExpiry))
	mine := 0
	for _, p := range b.recent {
		if p.peer == c.peer {
			mine++
		}
	}
	if mine >= n.cfg.MaxProposalsPerPeer {
		n.bounds.Refused(BoundProposalsPerPeer, "peer", c.peer, "limit", n.cfg.MaxProposalsPerPeer)
		return wrapf(ErrResourceExhausted, "you proposed %d channels in the last %s that are not open on chain, the most this node takes from one peer; open one first", mine, n.cfg.ProposalExpiry)
	}
	if len(b.recent) >= n.cfg.MaxProposals {
		n.bounds.Refused(BoundProposals, "peer", c.peer, "limit", n.cfg.MaxProposals)
		return wrapf(ErrResourceExhausted, "peers proposed %d channels in the last %s that are not open on chain, the most this node takes; try later", len(b.recent), n.cfg.ProposalExpiry)
	}
	if !n.chans.add(c) {
		return wrapf(ErrAlreadyExists, "channel %s exists", c.id)
	}
	b.recent = append(b.recent, proposed{id: c.id, peer: c.peer, at: c.created})
	return nil
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
