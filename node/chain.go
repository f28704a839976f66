package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
	"github.com/tinypay/tinypay/settlement"
	"github.com/tinypay/tinypay/store"
)

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

// chainLoop is the watcher: it applies the adjudicator's events to the
// channels from a persisted cursor, and does the node's duties on chain
// without operator action: present newer proofs when the peer force-closed
// with stale ones, settle after the challenge period, pull payouts. Every
// step is derived from the current state, so it is idempotent and a restart
// at any point resumes it.
func (n *Node) chainLoop() {
	defer n.wg.Done()
	first := true
	t := time.NewTicker(n.cfg.ChainPoll)
	defer t.Stop()
	for {
		if err := n.watchOnce(n.ctx, first); err != nil && n.ctx.Err() == nil {
			n.log.Warn("chain watcher", "err", err)
		} else if err == nil {
			first = false
		}
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// watchOnce runs one round of the watcher. On the first round it also
// reconciles every channel with the chain's record, which covers anything
// that happened while the node was down.
func (n *Node) watchOnce(ctx context.Context, reconcileAll bool) error {
	head, err := n.chain.Head(ctx)
	if err != nil {
		return err
	}
	if reconcileAll {
		for _, c := range n.allChannels() {
			if c.phase() == channel.Settled {
				continue
			}
			if err := n.reconcile(ctx, c); err != nil {
				return err
			}
		}
	}
	if err := n.followEvents(ctx, head); err != nil {
		return err
	}
	if head.Time > n.chainTime.Load() {
		n.chainTime.Store(head.Time)
	}
	for _, c := range n.allChannels() {
		c.tick(head.Time)
	}
	return nil
}

// followEvents applies new events and moves the cursor past them, in one
// durable write per page.
func (n *Node) followEvents(ctx context.Context, head settlement.Head) error {
	cur, err := n.cursor(head)
	if err != nil {
		return err
	}
	for {
		events, next, err := n.chain.Events(ctx, cur, 256)
		if err != nil {
			return err
		}
		b := store.NewBatch()
		for _, ev := range events {
			n.applyEvent(ctx, b, ev)
		}
		if err := b.PutCursor(chainCursor, encodeCursor(next)); err != nil {
			return err
		}
		if _, err := n.commit(ctx, b); err != nil {
			return err
		}
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

// applyEvent applies one chain event to its channel (if this node has it)
// and adds the channel's new record and a log entry to b.
func (n *Node) applyEvent(ctx context.Context, b *store.Batch, ev settlement.Event) {
	if ev.Kind == settlement.EventPayoutCredited || ev.Kind == settlement.EventPayoutWithdrawn {
		if ev.Account == n.self && ev.Kind == settlement.EventPayoutCredited {
			n.wg.Add(1)
			go func() {
				defer n.wg.Done()
				cctx, cancel := n.chainCtx()
				defer cancel()
				n.withdrawPayout(cctx, ev.Asset)
			}()
		}
		return
	}
	n.mu.Lock()
	c := n.channels[ev.Channel]
	n.mu.Unlock()
	if c == nil {
		if ev.Kind == settlement.EventOpened && (ev.Params.Participants[0] == n.self || ev.Params.Participants[1] == n.self) {
			n.log.Warn("a channel with this node was opened on chain without a proposal it knows", "channel", ev.Channel)
		}
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	kind, detail, amount, err := c.applyEventLocked(ev)
	if err != nil {
		n.log.Warn("chain event not applicable", "channel", c.id, "event", ev.Kind, "err", err)
		return
	}
	st := c.ch.State()
	if err := b.PutChannel(channelRecord(&st, c.created, n.clock.Now())); err != nil {
		n.fail(err)
		return
	}
	if kind != storev1.ChannelEventKind_CHANNEL_EVENT_KIND_UNSPECIFIED {
		c.logEventTo(b, kind, detail+" (tx "+ev.TxHash.Hex()+")", amount)
	}
}

func (c *chanState) side(addr crypto.Address) (channel.Side, bool) {
	return c.ch.Params().SideOf(addr)
}

// applyEventLocked moves the machine; c.mu held.
func (c *chanState) applyEventLocked(ev settlement.Event) (storev1.ChannelEventKind, string, *uint256.Int, error) {
	switch ev.Kind {
	case settlement.EventOpened:
		return storev1.ChannelEventKind_CHANNEL_EVENT_KIND_OPENED, "opened on chain", nil, c.ch.ChainOpened()
	case settlement.EventDeposited:
		x, ok := c.side(ev.Account)
		if !ok {
			return 0, "", nil, fmt.Errorf("deposit for non-participant %s", ev.Account)
		}
		if c.ch.Phase() == channel.Opening {
			_ = c.ch.ChainOpened()
		}
		return storev1.ChannelEventKind_CHANNEL_EVENT_KIND_DEPOSITED, fmt.Sprintf("side %s deposited, total %s", x, ev.Amount.Dec()), &ev.Amount, c.ch.ChainDeposit(x, &ev.Amount)
	case settlement.EventWithdrawn:
		x, ok := c.side(ev.Account)
		if !ok {
			return 0, "", nil, fmt.Errorf("withdrawal for non-participant %s", ev.Account)
		}
		return storev1.ChannelEventKind_CHANNEL_EVENT_KIND_WITHDRAWN, fmt.Sprintf("side %s withdrew, total %s", x, ev.Amount.Dec()), &ev.Amount, c.ch.ChainWithdrawn(x, &ev.Amount)
	case settlement.EventCooperativelyClosed:
		err := c.ch.ChainCooperativelyClosed()
		if err == nil {
			c.resolveClosed(nil)
		}
		go c.n.endChannelStreams(c.id)
		mine := ev.Balances[c.self]
		return storev1.ChannelEventKind_CHANNEL_EVENT_KIND_COOPERATIVELY_CLOSED, "closed cooperatively, paid out " + mine.Dec() + " to this node", &mine, err
	case settlement.EventClosed:
		x, ok := c.side(ev.Account)
		if !ok {
			return 0, "", nil, fmt.Errorf("close by non-participant %s", ev.Account)
		}
		err := c.ch.ChainClosed(x, ev.Transferred, ev.SettleAfter)
		if err == nil {
			c.failQueued(errors.New("channel force-closed"))
		}
		go c.n.endChannelStreams(c.id)
		who := "the peer"
		if x == c.self {
			who = "this node"
		}
		return storev1.ChannelEventKind_CHANNEL_EVENT_KIND_FORCE_CLOSED, "force-closed by " + who, nil, err
	case settlement.EventUpdated:
		x, ok := c.side(ev.Account)
		if !ok {
			return 0, "", nil, fmt.Errorf("update signed by non-participant %s", ev.Account)
		}
		return storev1.ChannelEventKind_CHANNEL_EVENT_KIND_DISPUTED, fmt.Sprintf("newer proof of side %s presented: %s", x, ev.Amount.Dec()), &ev.Amount, c.ch.ChainUpdated(x, &ev.Amount)
	case settlement.EventSettled:
		err := c.ch.ChainSettled()
		if err == nil {
			c.resolveClosed(nil)
		}
		mine := ev.Balances[c.self]
		return storev1.ChannelEventKind_CHANNEL_EVENT_KIND_SETTLED, "settled, paid out " + mine.Dec() + " to this node", &mine, err
	}
	return 0, "", nil, nil
}

// reconcile reads the channel's on-chain record and applies what this node
// has not seen.
func (n *Node) reconcile(ctx context.Context, c *chanState) error {
	onchain, err := n.chain.Channel(ctx, c.id)
	if err != nil {
		return fmt.Errorf("read channel %s: %w", c.id, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	before := c.ch.State()
	c.applyChain(onchain)
	after := c.ch.State()
	if before.Phase != after.Phase || before.Deposit != after.Deposit || before.ChainWithdrawn != after.ChainWithdrawn || !sameDispute(before.Dispute, after.Dispute) {
		c.persistLocked(nil, nil)
	}
	return nil
}

func sameDispute(a, b *channel.Dispute) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// applyChain brings the machine up to the chain's record; c.mu held.
func (c *chanState) applyChain(oc settlement.Channel) {
	ch := c.ch
	if oc.Phase == settlement.PhaseNone {
		return
	}
	if ch.Phase() == channel.Opening {
		_ = ch.ChainOpened()
	}
	switch oc.Phase {
	case settlement.PhaseOpen:
		for _, x := range []channel.Side{channel.A, channel.B} {
			_ = ch.ChainDeposit(x, &oc.Deposit[x])
			_ = ch.ChainWithdrawn(x, &oc.Withdrawn[x])
		}
	case settlement.PhaseClosed:
		for _, x := range []channel.Side{channel.A, channel.B} {
			_ = ch.ChainDeposit(x, &oc.Deposit[x])
			_ = ch.ChainWithdrawn(x, &oc.Withdrawn[x])
		}
		if ch.Phase() != channel.Closed {
			// The record does not say who closed; if it was this node, the
			// event will say so.
			_ = ch.ChainClosed(c.self.Other(), oc.Transferred, oc.SettleAfter)
			c.failQueued(errors.New("channel force-closed"))
		} else {
			for _, x := range []channel.Side{channel.A, channel.B} {
				_ = ch.ChainUpdated(x, &oc.Transferred[x])
			}
		}
	case settlement.PhaseSettled:
		if ch.Phase() == channel.Closed {
			_ = ch.ChainSettled()
		} else {
			_ = ch.ChainCooperativelyClosed()
		}
		c.resolveClosed(nil)
	}
}

func (c *chanState) phase() channel.Phase {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ch.Phase()
}

// tick applies the chain's time (expiring unused terms) and starts the
// dispute duties that are due.
func (c *chanState) tick(now uint64) {
	c.mu.Lock()
	before := c.ch.Phase()
	_, hadW := c.ch.Withdrawal()
	c.ch.ChainTime(now)
	_, hasW := c.ch.Withdrawal()
	if c.ch.Phase() != before || hadW != hasW {
		c.persistLocked(nil, nil)
		c.pump()
	}
	phase := c.ch.Phase()
	present := c.ch.ToPresent()
	d, _ := c.ch.Dispute()
	busy := c.busy
	c.mu.Unlock()
	if phase != channel.Closed || busy != "" {
		return
	}
	n := c.n
	switch {
	case len(present) > 0 && now <= d.SettleAfter:
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.present(c, present)
		}()
	case now > d.SettleAfter:
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			if err := n.settle(c); err != nil && !errors.Is(err, ErrBusy) {
				n.log.Warn("automatic settle failed", "channel", c.id, "err", err)
			}
		}()
	}
}

// present submits newer proofs during the challenge period.
func (n *Node) present(c *chanState, proofs []channel.Proof) {
	if err := c.begin(busyUpdate); err != nil {
		return
	}
	defer c.end(busyUpdate)
	c.mu.Lock()
	params := c.ch.Params()
	c.mu.Unlock()
	sp := make([]settlement.Proof, len(proofs))
	for i, p := range proofs {
		sp[i] = settlementProof(p)
	}
	ctx, cancel := n.chainCtx()
	defer cancel()
	rcpt, err := n.chain.Update(ctx, settlementParams(params), sp)
	if err != nil {
		n.log.Warn("presenting newer proofs failed", "channel", c.id, "err", err)
		return
	}
	n.log.Info("presented newer proofs in a dispute", "channel", c.id, "proofs", len(proofs), "tx", rcpt.TxHash)
	if err := n.reconcile(ctx, c); err != nil {
		n.log.Warn("reading the channel after update", "channel", c.id, "err", err)
	}
}
