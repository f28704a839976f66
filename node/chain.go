package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
	"github.com/tinypay/tinypay/settlement"
	"github.com/tinypay/tinypay/store"
)

type settlementChannel = settlement.Channel

// The watcher's resume point in the chain's event history.
const chainCursor = "chain"

func encodeCursor(c settlement.Cursor) []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint64(b, c.Block)
	binary.BigEndian.PutUint32(b[8:], c.Index)
	return b
}

func decodeCursor(b []byte) (settlement.Cursor, error) {
	if len(b) != 12 {
		return settlement.Cursor{}, fmt.Errorf("chain cursor is %d bytes, want 12", len(b))
	}
	return settlement.Cursor{Block: binary.BigEndian.Uint64(b), Index: binary.BigEndian.Uint32(b[8:])}, nil
}

// watch is the chain watcher, the owner of the chain cursor and of the
// node's view of the chain's time. It reads the chain (each read bounded by
// ChainReadTimeout) and hands what it finds to the channels' owners as
// steps; it moves its cursor past events only once their owners wrote
// them. The duties that follow (present newer proofs when the peer
// force-closed with stale ones, settle after the challenge period, submit
// countersigned terms) are started by the owners when the time reaches
// them. A slow or hung endpoint delays only the watcher.
func (n *Node) watch() {
	defer n.wg.Done()
	first := true
	t := time.NewTicker(n.cfg.ChainPoll)
	defer t.Stop()
	for {
		if err := n.watchOnce(first); err != nil && n.ctx.Err() == nil {
			n.log.Warn("chain watcher", "err", err)
			r := watchRound{Err: err.Error()}
			if last := n.watched.Load(); last != nil {
				r.LastOK = last.LastOK
			}
			n.watched.Store(&r)
		} else if err == nil {
			n.watched.Store(&watchRound{LastOK: n.clock.Now()})
			if first {
				n.chainWasRead()
			}
			first = false
		}
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// watchRound is the outcome of the watcher's last round.
type watchRound struct {
	LastOK time.Time // when a round last succeeded (zero: never)
	Err    string    // why the last round failed; "" if it succeeded
}

// chainRead bounds one read of the chain.
func (n *Node) chainRead() (context.Context, context.CancelFunc) {
	return context.WithTimeout(n.ctx, n.cfg.ChainReadTimeout)
}

// watchOnce runs one round of the watcher. On the first round it also
// reconciles with the chain's record every channel whose state the event
// log alone may not settle: one in an operation (opening, closing, a
// withdrawal), abandoned (its open may have landed after all), or behind.
// An open channel at rest needs no read: whatever happened to it while the
// node was down is in the events after the stored cursor, which the round
// then applies. (Reading every channel made a restart cost one chain call
// per channel: minutes at a hundred thousand.)
func (n *Node) watchOnce(reconcileAll bool) error {
	ctx, cancel := n.chainRead()
	head, err := n.chain.Head(ctx)
	cancel()
	if err != nil {
		return err
	}
	n.met.watched(head.Number, 0, false)
	if reconcileAll {
		for _, c := range n.chans.all() {
			ci := c.info()
			if ci.Phase.Terminal() && ci.Phase != channel.Abandoned {
				continue
			}
			if ci.Phase == channel.Open && !ci.timed && ci.Behind == "" {
				continue
			}
			ctx, cancel := n.chainRead()
			oc, err := n.chain.Channel(ctx, c.id)
			cancel()
			if err != nil {
				return fmt.Errorf("read channel %s: %w", c.id, err)
			}
			if err := c.stepAndWait(n.ctx, func() { c.applyChain(oc) }); err != nil {
				return err
			}
		}
	}
	if err := n.followEvents(head); err != nil {
		return err
	}
	if head.Time > n.chainTime.Load() {
		n.chainTime.Store(head.Time)
	}
	if head.Number > n.chainHead.Load() {
		n.chainHead.Store(head.Number)
	}
	now := n.clock.Now()
	for _, c := range n.chans.dueNow() {
		ci := c.info()
		if ci.timed {
			c.do(func() { c.onTick(head.Time) })
		}
		if ci.Phase == channel.Opening && now.Sub(ci.Created) > n.cfg.ProposalExpiry {
			c.do(c.expireOpening)
		}
	}
	return nil
}

// stepAndWait runs f as a step of c and waits until what it wrote is
// durable.
func (c *chanActor) stepAndWait(ctx context.Context, f func()) error {
	done := make(chan error, 1)
	c.do(func() {
		f()
		c.step.durable = append(c.step.durable, func(err error) { done <- err })
	})
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// followEvents applies new events and moves the cursor past them, a page at
// a time, once every event of the page is durable with its channel.
func (n *Node) followEvents(head settlement.Head) error {
	cur, err := n.cursor(head)
	if err != nil {
		return err
	}
	n.met.watched(0, cur.Block, true)
	for {
		ctx, cancel := n.chainRead()
		events, next, err := n.chain.Events(ctx, cur, 256)
		cancel()
		if err != nil {
			return err
		}
		var waits []chan error
		for _, ev := range events {
			if w := n.applyEvent(ev); w != nil {
				waits = append(waits, w)
			}
		}
		for _, w := range waits {
			select {
			case err := <-w:
				if err != nil {
					return err
				}
			case <-n.ctx.Done():
				return n.ctx.Err()
			}
		}
		b := store.NewBatch()
		if err := b.PutCursor(chainCursor, encodeCursor(next)); err != nil {
			return err
		}
		if _, err := n.commit(n.ctx, b); err != nil {
			return err
		}
		n.met.watched(0, next.Block, true)
		if len(events) == 0 || next == cur {
			return nil
		}
		cur = next
	}
}

// cursor loads the watcher's cursor; a new node starts at the current head
// (no channel of its can be older).
func (n *Node) cursor(head settlement.Head) (settlement.Cursor, error) {
	raw, err := n.store.Cursor(chainCursor)
	if errors.Is(err, store.ErrNotFound) {
		if head.Number == 0 {
			return settlement.Cursor{}, nil
		}
		return settlement.Cursor{Block: head.Number - 1, Index: ^uint32(0)}, nil
	}
	if err != nil {
		return settlement.Cursor{}, err
	}
	return decodeCursor(raw)
}

// applyEvent hands one chain event to its channel's owner; the returned
// channel receives the outcome once it is durable (nil: nothing to wait
// for).
func (n *Node) applyEvent(ev settlement.Event) chan error {
	n.sweepAfter(ev)
	if ev.Kind == settlement.EventPayoutCredited || ev.Kind == settlement.EventPayoutWithdrawn {
		if ev.Account == n.self && ev.Kind == settlement.EventPayoutCredited {
			n.background(func() {
				ctx, cancel := context.WithTimeout(n.ctx, n.cfg.ChainTxTimeout)
				defer cancel()
				n.withdrawPayout(ctx, ev.Asset)
			})
		}
		return nil
	}
	c := n.chans.get(ev.Channel)
	if c == nil && ev.Kind == settlement.EventOpened {
		c = n.adoptOpened(ev)
	}
	if c == nil {
		return nil
	}
	done := make(chan error, 1)
	c.do(func() {
		c.onChainEvent(ev)
		c.step.durable = append(c.step.durable, func(err error) { done <- err })
	})
	return done
}

// sweepAfter marks for the sweep policy the asset of a payout or a
// withdrawal of this node's that the event records. It never blocks.
func (n *Node) sweepAfter(ev settlement.Event) {
	switch ev.Kind {
	case settlement.EventPayoutWithdrawn:
		if ev.Account == n.self {
			n.kickSweep(ev.Asset)
		}
	case settlement.EventCooperativelyClosed, settlement.EventSettled, settlement.EventWithdrawn:
		c := n.chans.get(ev.Channel)
		if c == nil {
			return
		}
		if ev.Kind == settlement.EventWithdrawn && ev.Account != n.self {
			return
		}
		if ev.Kind != settlement.EventWithdrawn && ev.Balances[c.self].IsZero() {
			return
		}
		n.kickSweep(c.params.Asset)
	}
}

// adoptOpened takes up a channel opened on chain with this node that it
// does not know. With this node as side B: a proposal it forgot (it
// expired, or the peer abandoned it) whose open landed after all; the
// chain vouches for the opener's deposit and this node holds nothing in
// it, so it takes it up if it would have accepted the proposal (otherwise
// the opener's deposit waits for the opener to close alone). With this
// node as side A, or after a restore: a channel opened after the backup
// this node was restored from; it is taken up behind (see behind.go), and
// the peer gives back what it holds of it.
func (n *Node) adoptOpened(ev settlement.Event) *chanActor {
	ep := ev.Params
	var self channel.Side
	switch {
	case ep.Participants[0] == ep.Participants[1]:
		return nil
	case ep.Participants[1] == n.self:
		self = channel.B
	case ep.Participants[0] == n.self:
		self = channel.A
	default:
		return nil
	}
	p := channel.Params{ChainID: ep.ChainID, Adjudicator: ep.Adjudicator, Participants: ep.Participants, Asset: ep.Asset,
		ChallengePeriod: ep.ChallengePeriod, Salt: ep.Salt}
	var err error
	if self == channel.B {
		err = n.acceptable(p.Asset, p.ChallengePeriod)
	}
	var ch *channel.Channel
	if err == nil && (p.ChainID != n.chain.ChainID() || p.Adjudicator != n.chain.Adjudicator() || p.ID() != ev.Channel) {
		err = invalid("the event's parameters are not this chain's channel %s", ev.Channel)
	}
	if err == nil {
		ch, err = channel.New(p, self)
	}
	if err != nil {
		if self == channel.A {
			n.log.Error("a channel this node opened is on chain but not in its store, and cannot be taken up", "channel", ev.Channel, "err", err)
		} else {
			n.log.Warn("a channel with this node was opened on chain that it would not have accepted; the opener can close it alone", "channel", ev.Channel, "peer", ep.Participants[0], "err", err)
		}
		return nil
	}
	c := n.newActor(ch, n.clock.Now())
	behind := self == channel.A || n.behind.restored.Load()
	if behind {
		// Before the actor is known to anyone, so before any step of its.
		c.markBehind(true, "opened on chain after the state this node holds (restored from an older backup?)")
	}
	if !n.chans.add(c) {
		if behind {
			n.behind.channels.Add(-1)
			n.met.behind(-1)
		}
		return n.chans.get(c.id)
	}
	if behind {
		n.log.Warn("took up a channel opened on chain that the store does not know", "channel", c.id, "peer", c.peer, "side", self)
	} else {
		n.log.Info("took up a channel opened on chain after its proposal was given up", "channel", c.id, "peer", c.peer)
	}
	s := n.peers.session(c.peer)
	c.do(func() {
		c.step.record = true
		if s != nil && c.sess == nil {
			// The peer is connected, and named this channel before this
			// node knew it: reestablish, asking for its side again.
			c.attach(s, true)
		}
	})
	return c
}

// readChannel reads the channel's on-chain record off the owner and hands
// the result to then, as a step of c.
func (n *Node) readChannel(c *chanActor, then func(settlement.Channel, error)) {
	ok := n.background(func() {
		ctx, cancel := n.chainRead()
		oc, err := n.chain.Channel(ctx, c.id)
		cancel()
		c.do(func() { then(oc, err) })
	})
	if !ok {
		c.do(func() { then(settlement.Channel{}, ErrStopped) })
	}
}

// onChainEvent moves the machine by one chain event and logs it.
func (c *chanActor) onChainEvent(ev settlement.Event) {
	side := func() (channel.Side, bool) {
		x, ok := c.params.SideOf(ev.Account)
		if !ok {
			c.n.log.Warn("chain event names a non-participant", "channel", c.id, "event", ev.Kind, "account", ev.Account)
		}
		return x, ok
	}
	tx := " (tx " + ev.TxHash.Hex() + ")"
	var err error
	switch ev.Kind {
	case settlement.EventOpened:
		c.opened("opened on chain" + tx)
	case settlement.EventDeposited:
		x, ok := side()
		if !ok {
			return
		}
		c.opened("opened on chain" + tx) // a deposit opens it too, if it comes first
		// Logged once: this node's own deposit may be logged already,
		// when its transaction returned.
		known := c.ch.State().Deposit[x]
		if err = c.ch.ChainDeposit(x, &ev.Amount); err == nil && ev.Amount.Gt(&known) {
			c.event(storev1.ChannelEventKind_CHANNEL_EVENT_KIND_DEPOSITED, fmt.Sprintf("side %s deposited, total %s%s", x, c.units(&ev.Amount), tx), &ev.Amount)
		}
		c.pump()
	case settlement.EventWithdrawn:
		x, ok := side()
		if !ok {
			return
		}
		known := c.ch.State().ChainWithdrawn[x] // logged once, as deposits
		if err = c.ch.ChainWithdrawn(x, &ev.Amount); err == nil && ev.Amount.Gt(&known) {
			c.event(storev1.ChannelEventKind_CHANNEL_EVENT_KIND_WITHDRAWN, fmt.Sprintf("side %s withdrew, total %s%s", x, c.units(&ev.Amount), tx), &ev.Amount)
		}
	case settlement.EventCooperativelyClosed:
		if c.ch.Phase() == channel.Settled {
			return
		}
		mine := ev.Balances[c.self]
		c.closedCooperatively(ev.Balances, "closed cooperatively, paid out "+c.units(&mine)+" to this node"+tx)
		c.finishOp(channel.OpClose, nil)
	case settlement.EventClosed:
		x, ok := side()
		if !ok {
			return
		}
		if c.ch.Phase() == channel.Closed {
			err = c.ch.ChainClosed(x, ev.Transferred, ev.SettleAfter) // replayed: keeps the higher amounts
			break
		}
		if err = c.ch.ChainClosed(x, ev.Transferred, ev.SettleAfter); err == nil {
			who := "the peer"
			if x == c.self {
				who = "this node"
			}
			c.closedByForce("force-closed by " + who + tx)
		}
	case settlement.EventUpdated:
		x, ok := side()
		if !ok {
			return
		}
		if err = c.ch.ChainUpdated(x, &ev.Amount); err == nil {
			c.event(storev1.ChannelEventKind_CHANNEL_EVENT_KIND_DISPUTED, fmt.Sprintf("newer proof of side %s presented: %s%s", x, c.units(&ev.Amount), tx), &ev.Amount)
		}
	case settlement.EventSettled:
		if c.ch.Phase() == channel.Settled {
			return
		}
		if err = c.ch.ChainSettled(); err == nil {
			mine := ev.Balances[c.self]
			c.settledAfterDispute("settled, paid out " + c.units(&mine) + " to this node" + tx)
			c.finishOp(channel.OpSettle, nil)
		}
	}
	if err != nil {
		c.n.log.Warn("chain event not applicable", "channel", c.id, "event", ev.Kind, "err", err)
	}
}

// applyChain brings the machine up to the chain's record (read at start,
// after a transaction, or when a peer's request suggests the chain is
// ahead of this node).
func (c *chanActor) applyChain(oc settlement.Channel) {
	ch := c.ch
	if oc.Phase == settlement.PhaseNone {
		return
	}
	c.opened("opened on chain (seen on chain)")
	switch oc.Phase {
	case settlement.PhaseOpen, settlement.PhaseClosed:
		for _, x := range []channel.Side{channel.A, channel.B} {
			_ = ch.ChainDeposit(x, &oc.Deposit[x])
			_ = ch.ChainWithdrawn(x, &oc.Withdrawn[x])
		}
		if oc.Phase == settlement.PhaseClosed {
			if ch.Phase() != channel.Closed {
				// The record does not say who closed; the event will.
				if err := ch.ChainClosed(c.self.Other(), oc.Transferred, oc.SettleAfter); err == nil {
					c.closedByForce("force-closed (seen on chain)")
				}
			} else {
				for _, x := range []channel.Side{channel.A, channel.B} {
					_ = ch.ChainUpdated(x, &oc.Transferred[x])
				}
			}
		}
		c.pump()
	case settlement.PhaseSettled:
		switch ch.Phase() {
		case channel.Settled:
		case channel.Closed:
			if err := ch.ChainSettled(); err == nil {
				c.settledAfterDispute("settled (seen on chain)")
			}
		default:
			var bal *[2]uint256.Int
			if t, ok := ch.CloseTerms(); ok && t.Complete() {
				bal = &t.Balance
			}
			c.closedCooperativelyMaybe(bal, "closed cooperatively (seen on chain)")
		}
	}
}

// opened moves an opening (or abandoned) channel to open, once, with its
// event, whichever way the node learned it: its own open transaction, the
// open or a deposit event, or the channel's record.
func (c *chanActor) opened(detail string) {
	if was := c.ch.Phase(); was != channel.Opening && was != channel.Abandoned {
		return
	}
	if c.forgotten {
		// An open that was on its way when the proposal was forgotten: the
		// channel is known again, unless another owner took it up from the
		// chain meanwhile (adoptOpened); then this one stays silent.
		if !c.n.chans.add(c) {
			return
		}
		c.forgotten, c.step.record = false, true
	}
	if err := c.ch.ChainOpened(); err != nil {
		return
	}
	c.n.proposals.opened(c.id)
	c.event(storev1.ChannelEventKind_CHANNEL_EVENT_KIND_OPENED, detail, nil)
	c.pump()
}

// onTick applies the chain's time: unused terms and withdrawals expire, and
// the duties that are due start.
func (c *chanActor) onTick(now uint64) {
	was := c.ch.Phase()
	c.ch.ChainTime(now)
	if was == channel.Closing && c.ch.Phase() == channel.Open {
		c.warn("the close terms expired unused; payments resume")
		c.finishOp(channel.OpClose, fmt.Errorf("%w: the close terms expired before they reached the chain", channel.ErrExpired))
		c.pump()
	}
}

// closedCooperatively records a cooperative close on chain with the
// balances it paid out.
func (c *chanActor) closedCooperatively(bal [2]uint256.Int, detail string) {
	c.closedCooperativelyMaybe(&bal, detail)
}

func (c *chanActor) closedCooperativelyMaybe(bal *[2]uint256.Int, detail string) {
	// What this node's payments in flight became follows from the balance
	// the close paid it: the proofs its balance counts moved.
	view := c.ch.Balance(c.self)
	sent := c.ch.Sent().Transferred
	if err := c.ch.ChainCooperativelyClosed(); err != nil {
		c.n.log.Warn("cooperative close not applicable", "channel", c.id, "err", err)
		return
	}
	var mine *uint256.Int
	if bal != nil {
		mine = &bal[c.self]
		moved := movedBy(&view, &sent, mine)
		c.resolveFlight(&moved)
	} else {
		c.resolveFlight(nil)
	}
	c.event(storev1.ChannelEventKind_CHANNEL_EVENT_KIND_COOPERATIVELY_CLOSED, detail, mine)
	c.ended()
}

// movedBy returns how much of what this node paid (sent, its newest proof's
// amount) a cooperative close counted, from the balance it paid this node
// (mine) and this node's own view of its balance counting every proof it
// signed (view): terms that pay more than the view left out that much of
// its newest payments.
func movedBy(view, sent, mine *uint256.Int) uint256.Int {
	moved := *sent
	if mine.Gt(view) {
		var extra uint256.Int
		extra.Sub(mine, view)
		if extra.Gt(sent) {
			moved.Clear()
		} else {
			moved.Sub(sent, &extra)
		}
	}
	return moved
}

// moved returns how much of what this node paid a settled channel's close
// counted, if that is known: the amount the chain settled on after a
// force close, or what the cooperative close terms this node signed
// count.
func (c *chanActor) moved() *uint256.Int {
	if c.ch.Phase() != channel.Settled {
		return nil
	}
	if d, ok := c.ch.Dispute(); ok {
		return &d.Transferred[c.self]
	}
	if t, ok := c.ch.CloseTerms(); ok && t.Complete() {
		view, sent := c.ch.Balance(c.self), c.ch.Sent().Transferred
		m := movedBy(&view, &sent, &t.Balance[c.self])
		return &m
	}
	return nil
}

// closedByForce records a force close seen on chain.
func (c *chanActor) closedByForce(detail string) {
	c.event(storev1.ChannelEventKind_CHANNEL_EVENT_KIND_FORCE_CLOSED, detail, nil)
	c.failQueued(fmt.Errorf("%w: the channel was force-closed", channel.ErrWrongPhase))
	c.n.hooks.ChannelEnded(c.id)
}

// settledAfterDispute records the settle of a force-closed channel: the
// chain paid by the amounts presented, which decide this node's payments in
// flight.
func (c *chanActor) settledAfterDispute(detail string) {
	var moved *uint256.Int
	if d, ok := c.ch.Dispute(); ok {
		moved = &d.Transferred[c.self]
	}
	c.resolveFlight(moved)
	c.event(storev1.ChannelEventKind_CHANNEL_EVENT_KIND_SETTLED, detail, nil)
	c.ended()
}

// resolveFlight finishes the payments still in flight when the channel
// closed: those the final amount this node paid covers moved (paid), the
// others did not (failed). With moved nil the outcome is unknown: they stay
// pending for whoever waits, and a retry of their keys looks on disk.
func (c *chanActor) resolveFlight(moved *uint256.Int) {
	for _, f := range c.flight {
		for _, p := range f.payments {
			switch {
			case moved == nil:
				p.finish(fmt.Errorf("%w: the channel closed before the peer acknowledged it", ErrPending))
			case !p.cumulative.Gt(moved) && p.refunded:
				c.complete(p) // counted, and given back: refused
			case !p.cumulative.Gt(moved):
				p.finish(nil)
			default:
				p.finish(fmt.Errorf("%w: the channel closed before the peer acknowledged the payment; it did not move", ErrPeerRefused))
			}
		}
	}
	clear(c.flight)
	c.flight = c.flight[:0]
}

// ended: the channel carries no more payments.
func (c *chanActor) ended() {
	c.failQueued(fmt.Errorf("%w: the channel is %s", channel.ErrWrongPhase, c.ch.Phase()))
	// No Ack comes any more: no receipt is awaited.
	c.settleAwaited(math.MaxUint64)
	for _, f := range c.flight {
		for _, p := range f.payments {
			if p.receiptAwaited() {
				c.receiptSettled(p)
			}
		}
	}
	c.n.hooks.ChannelEnded(c.id)
}
