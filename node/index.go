package node

import (
	"sync/atomic"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
)

// The registry keeps, besides channels by id and by peer, the few sets that
// paths running per payment or per poll need, so that none of them walks
// every channel: the channels the watcher must look at on each poll, the
// number of channels in use per peer (for the redialler), and the open
// channels per peer and asset (for paying by peer). A channel's owner
// updates them when it publishes a state whose flags differ from the last
// one's (which is rare: a phase change, a withdrawal, a close), so their
// upkeep costs nothing per payment.

// chanFlags is what the registry's sets know of a channel.
type chanFlags struct {
	inUse bool // it is a reason to keep a session with its peer
	due   bool // the watcher looks at it on each poll
	open  bool // it may pay: paying by peer picks among these
	ready bool // open, and its peer's session is up and reestablished
}

func flagsOf(ci *ChannelInfo) chanFlags {
	if ci == nil {
		return chanFlags{}
	}
	return chanFlags{
		// A channel the peer proposed and never opened is no reason to
		// dial wherever that peer said it listens.
		inUse: !ci.Phase.Terminal() && !(ci.Phase == channel.Opening && ci.Side == channel.B),
		due:   ci.timed || ci.Phase == channel.Opening,
		open:  ci.Phase == channel.Open,
		ready: ci.Phase == channel.Open && ci.Connected,
	}
}

// openSet is the open channels with one peer in one asset, and the one
// paying by peer uses while it can.
type openSet struct {
	chans     map[*chanActor]struct{}
	preferred *chanActor
	// grew counts the times a channel joined the set or a member's balance
	// grew (publish). A rescan that found every channel short of an
	// amount records it in shortAt with the most any held, in short: until
	// grew moves, a payment of more than that is short everywhere
	// without a rescan.
	grew    atomic.Uint64
	shortAt uint64
	short   *uint256.Int
	scans   int // rescans, for tests
}

// reindex moves c to the sets that f says it belongs to. It must be called
// with s.mu held for writing; a channel no longer registered leaves every
// set.
func (s *chanSet) reindexLocked(c *chanActor, f chanFlags) {
	if s.byID[c.id] != c {
		f = chanFlags{}
	}
	s.countReady(c, f.ready)
	f.ready = false // counted apart: see reindex
	old := c.indexed
	if old == f {
		return
	}
	c.indexed = f
	if old.inUse != f.inUse {
		if f.inUse {
			s.inUse[c.peer]++
		} else if s.inUse[c.peer]--; s.inUse[c.peer] <= 0 {
			delete(s.inUse, c.peer)
		}
	}
	if old.open != f.open {
		s.nOpen += count(f.open)
	}
	if old.due != f.due {
		if f.due {
			s.due[c] = struct{}{}
		} else {
			delete(s.due, c)
		}
	}
	if old.open != f.open {
		asset := c.params.Asset
		byAsset := s.open[c.peer]
		set := byAsset[asset]
		if f.open {
			if byAsset == nil {
				byAsset = make(map[crypto.Address]*openSet)
				s.open[c.peer] = byAsset
			}
			if set == nil {
				set = &openSet{chans: make(map[*chanActor]struct{})}
				byAsset[asset] = set
			}
			set.chans[c] = struct{}{}
			c.inOpen.Store(set)
			set.grew.Add(1)
		} else if set != nil {
			c.inOpen.Store(nil)
			delete(set.chans, c)
			if set.preferred == c {
				set.preferred = nil
			}
			if len(set.chans) == 0 {
				delete(byAsset, asset)
				if len(byAsset) == 0 {
					delete(s.open, c.peer)
				}
			}
		}
	}
}

// count is +1 for a channel that joins a count, -1 for one that leaves.
func count(joins bool) int {
	if joins {
		return 1
	}
	return -1
}

// counts returns how many channels are open, and how many of them can pay
// now.
func (s *chanSet) counts() (open, ready int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.nOpen, int(s.nReady.Load())
}

// countReady counts c in nReady or not. It is called with s.mu held, for
// reading by c's owner (the only one that publishes c's states), or for
// writing: so calls for one channel never overlap.
func (s *chanSet) countReady(c *chanActor, ready bool) {
	if c.readyIn.Load() != ready {
		c.readyIn.Store(ready)
		s.nReady.Add(int64(count(ready)))
	}
}

// reindex updates c's place in the sets after its owner published ci.
//
// The ready flag, which every channel of a peer changes at once when the
// peer's session comes or goes, is counted under the read lock: a
// reconnect of 100,000 channels does not queue 100,000 owners on the
// write lock. The other flags change rarely (a phase change, a close).
func (s *chanSet) reindex(c *chanActor, ci *ChannelInfo) {
	f := flagsOf(ci)
	s.mu.RLock()
	registered := s.byID[c.id] == c
	if registered {
		s.countReady(c, flagsOf(c.snap.Load()).ready)
	}
	f.ready = false
	same := c.indexed == f || !registered
	s.mu.RUnlock()
	if same {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Only the owner publishes, so c.snap holds ci or a newer state the
	// owner is about to index: index what is current.
	s.reindexLocked(c, flagsOf(c.snap.Load()))
}

// inUseWith reports whether the node shares a channel in use with peer.
func (s *chanSet) inUseWith(peer crypto.Address) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.inUse[peer] > 0
}

// due returns the channels the watcher looks at on each poll.
func (s *chanSet) dueNow() []*chanActor {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*chanActor, 0, len(s.due))
	for c := range s.due {
		out = append(out, c)
	}
	return out
}

// peersInUse returns the peers that share a channel still in use.
func (s *chanSet) peersInUse() []crypto.Address {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]crypto.Address, 0, len(s.inUse))
	for p := range s.inUse {
		out = append(out, p)
	}
	return out
}

// openAssets returns the assets in which the node has an open channel with
// peer.
func (s *chanSet) openAssets(peer crypto.Address) []crypto.Address {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []crypto.Address
	for asset := range s.open[peer] {
		out = append(out, asset)
	}
	return out
}

// pickOpen picks the open channel with peer in asset to pay amount on: the
// one picked last time while it is open and holds amount, or else the one
// that holds the most (which the caller's payment may still find short).
// It costs nothing per payment but while it rescans, which happens only
// when the channel in use runs short: paying by peer stays on one channel,
// which also lets concurrent payments share its proofs. Once a rescan
// found every channel short, payments of more than any held are refused
// without another until a balance grows or a channel joins (grew).
func (s *chanSet) pickOpen(peer, asset crypto.Address, amount *uint256.Int) *chanActor {
	s.mu.RLock()
	set := s.open[peer][asset]
	var p *chanActor
	if set != nil {
		p = set.preferred
	}
	s.mu.RUnlock()
	if p != nil {
		if ci := p.info(); ci.Phase == channel.Open && !ci.MyBalance.Lt(amount) {
			return p
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	set = s.open[peer][asset]
	if set == nil {
		return nil
	}
	grew := set.grew.Load() // before reading any balance
	if set.short != nil && set.shortAt == grew && set.short.Lt(amount) && set.preferred != nil {
		return set.preferred // short, as every channel was at the last rescan
	}
	set.scans++
	var best *chanActor
	var bestBal uint256.Int
	for c := range set.chans {
		ci := c.info()
		if ci.Phase != channel.Open {
			continue
		}
		if best == nil || ci.MyBalance.Gt(&bestBal) || ci.MyBalance.Eq(&bestBal) && ci.Created.Before(best.created) {
			best, bestBal = c, ci.MyBalance
		}
	}
	set.preferred = best
	set.short = nil
	if best != nil && bestBal.Lt(amount) {
		set.short, set.shortAt = new(uint256.Int).Set(&bestBal), grew
	}
	return best
}
