package node

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tinypay/tinypay/channel"
	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
)

// --- behind: a channel whose state may be older than the peer's and the
// chain's ---
//
// A node is behind on a channel when its store may hold less than the peer
// and the chain know: it was restored from a backup (Config.Restored), or
// the peer held a newer proof of this node's than its store (a crash lost
// it). Paying then could sign a second proof at a nonce already used, or
// spend a balance already spent, so the channel refuses new payments
// (ErrBehind) until it has caught up:
//
//   - with the peer: the peer's Reestablish was taken on this run; the
//     newest proof of this node's the peer holds (its signature checked)
//     is adopted as this node's own, and the payments it covers are
//     recovered from the peer (RecoverRequest); and every proof the peer
//     says it signed has arrived;
//   - with the chain (after a restore): the watcher has read the chain once
//     on this run: the channel's record, and every event since the cursor
//     in the backup (deposits, withdrawals, closes, channels opened since,
//     which are taken up).
//
// A peer that cannot be reached, or whose claim does not verify, leaves the
// channel behind: it can still be force-closed. Payments queued before the
// channel was found behind stay queued and are signed after it caught up
// (or answered from the recovered records).

// behind is why a channel may not pay yet; owned by the channel's actor.
type behind struct {
	restored bool      // restored from a backup: wait for the peer and the chain
	peer     bool      // the peer's Reestablish was taken on this run
	peerSent uint64    // the newest nonce the peer says it signed: receive up to it first
	chain    bool      // the chain was read on this run
	since    time.Time // when the channel was found behind
}

// behindState is the node's view of its channels that are behind.
type behindState struct {
	restored  atomic.Bool  // restored from a backup, and not caught up on everything yet
	chainRead atomic.Bool  // the watcher has read the chain once on this run
	channels  atomic.Int64 // channels behind
	once      sync.Once    // Config.CaughtUp runs once
}

// reason says why the channel may not pay, for people ("" if it may).
func (b *behind) reason(c *chanActor) string {
	if b == nil {
		return ""
	}
	why := "the peer held a newer proof of this node's"
	if b.restored {
		why = "restored from a backup"
	}
	switch {
	case !b.peer && c.sess == nil:
		return why + ": waiting for the peer to connect"
	case !b.peer:
		return why + ": waiting for the peer's reestablish"
	case c.recovering != nil && c.recovering.failed != "":
		return fmt.Sprintf("%s: the peer has not returned the payments of own proofs %d to %d (%s); asking again (a force close gets the funds out)",
			why, c.recovering.after+1, c.recoveryEnd(c.recovering).Nonce, c.recovering.failed)
	case c.recovering != nil && c.recovering.upTo != 0:
		return fmt.Sprintf("%s: recovering the payments of own proofs %d to %d from the peer (the newer ones are restored)", why, c.recovering.after+1, c.recovering.upTo)
	case c.recovering != nil:
		return fmt.Sprintf("%s: recovering the payments of own proof %d from the peer", why, c.ch.Sent().Nonce)
	case c.ch.Received().Nonce < b.peerSent:
		return fmt.Sprintf("%s: waiting for the peer's proofs up to nonce %d (this node holds %d)", why, b.peerSent, c.ch.Received().Nonce)
	case !b.chain:
		return why + ": waiting to read the chain"
	}
	return why
}

// markBehind makes the channel refuse new payments until it has caught up
// (restored: with the peer and the chain; otherwise with the peer), and
// says so. It runs on the actor, or before the actor takes any step.
func (c *chanActor) markBehind(restored bool, why string) {
	if b := c.behind; b != nil {
		if restored && !b.restored {
			// Found behind at load (the records of own proofs missing),
			// and restored from a backup too: it waits for the chain as
			// well, and for the peer on this run.
			b.restored, b.peer = true, false
			b.chain = c.n.behind.chainRead.Load()
		}
		return
	}
	// Counted before chainRead is read: chainWasRead, which skips its
	// round of the channels while none is behind, then sees this one.
	c.n.behind.channels.Add(1)
	c.behind = &behind{restored: restored, chain: !restored || c.n.behind.chainRead.Load(), peer: !restored, since: c.n.clock.Now(),
		peerSent: c.claimedSent(c.peerSent)} // found behind on a Reestablish: what it said the peer signed (refunds among it)
	c.n.met.behind(1)
	c.n.log.Warn("channel may be behind; it pays again once caught up", "channel", c.id, "peer", c.peer, "why", why)
	c.event(storev1.ChannelEventKind_CHANNEL_EVENT_KIND_WARNING, why+"; this node pays on the channel again once it has caught up", nil)
	c.publish()
}

// checkCaughtUp clears the channel's behind state once nothing is missing,
// and reports whether it did; flush calls it after every step, and tells
// the node (maybeCaughtUp) once the step's state is visible.
func (c *chanActor) checkCaughtUp() bool {
	b := c.behind
	if b == nil {
		return false
	}
	switch ph := c.ch.Phase(); {
	case ph == channel.Closed || ph.Terminal():
		// Nothing is paid on it any more; the watcher carries on with the
		// proofs this node holds.
	case !b.peer || c.recovering != nil || c.ch.Received().Nonce < b.peerSent || !b.chain:
		return false
	}
	c.behind = nil
	c.n.log.Info("channel caught up with the peer and the chain; it pays again", "channel", c.id, "peer", c.peer,
		"sent_nonce", c.ch.Sent().Nonce, "received_nonce", c.ch.Received().Nonce, "behind_for", c.n.clock.Now().Sub(b.since).Round(time.Millisecond))
	c.event(storev1.ChannelEventKind_CHANNEL_EVENT_KIND_WARNING, fmt.Sprintf("caught up: own newest proof %d, the peer's %d; payments flow again", c.ch.Sent().Nonce, c.ch.Received().Nonce), nil)
	c.n.behind.channels.Add(-1)
	c.n.met.behind(-1)
	return true
}

// peerReestablished records what the peer's Reestablish said: the newest
// nonce it signed, and (once it was taken without error) that the peer was
// heard.
func (c *chanActor) peerReestablished(sentNonce uint64, ok bool) {
	if b := c.behind; b != nil {
		b.peerSent = max(b.peerSent, c.claimedSent(sentNonce))
		b.peer = b.peer || ok
	}
}

// claimedSent is the peer's claim of the newest nonce it signed, as far
// as this node waits for it: a claim more than maxClaimedAhead beyond what
// it holds (as caughtUp ignores) holds nothing up.
func (c *chanActor) claimedSent(sentNonce uint64) uint64 {
	if recv := c.ch.Received().Nonce; sentNonce > recv && sentNonce-recv > maxClaimedAhead {
		return 0
	}
	return sentNonce
}

// catchingUp reports whether an incoming proof is one the peer resends
// after this node was restored: this node's former self may have
// acknowledged it, so nothing in it is refunded again (a refund now would
// pay back what was already delivered; see onProof).
func (c *chanActor) catchingUp(nonce uint64) bool {
	return c.behind != nil && c.behind.restored && nonce <= c.behind.peerSent
}

// chainWasRead: the watcher has read the chain once on this run.
func (n *Node) chainWasRead() {
	if n.behind.chainRead.Swap(true) {
		return
	}
	if n.behind.channels.Load() == 0 {
		// No channel is behind (the usual start): a channel marked from
		// now on reads chainRead as true. A step on each of 100,000
		// channels cost most of a second.
		n.maybeCaughtUp()
		return
	}
	for _, c := range n.chans.all() {
		c.do(func() {
			if c.behind != nil {
				c.behind.chain = true
			}
		})
	}
	n.maybeCaughtUp()
}

// maybeCaughtUp tells Config.CaughtUp, once, that a restored node has
// caught up on every channel.
func (n *Node) maybeCaughtUp() {
	b := &n.behind
	if !b.restored.Load() || !b.chainRead.Load() || b.channels.Load() > 0 {
		return
	}
	b.once.Do(func() {
		b.restored.Store(false)
		n.log.Info("caught up after the restore: every channel has heard its peer and the chain")
		if f := n.cfg.CaughtUp; f != nil {
			n.background(f)
		}
	})
}

// restoredStart marks every channel that could still pay behind: the node
// starts from a backup. Start calls it before any actor takes a step.
func (n *Node) restoredStart() {
	n.behind.restored.Store(true)
	k := 0
	for _, c := range n.chans.all() {
		switch c.ch.Phase() {
		case channel.Opening, channel.Open, channel.Closing:
		default:
			continue
		}
		k++
		c.markBehind(true, "restored from a backup")
		c.do(func() {}) // writes its event, publishes
	}
	n.log.Warn("restored from a backup: this node may be behind its peers and the chain; it pays on no channel until that channel has caught up", "channels", k)
}
