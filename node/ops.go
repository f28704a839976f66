package node

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
	"github.com/tinypay/tinypay/settlement"
	"github.com/tinypay/tinypay/store"
)

// retryAfter is how long a failed chain action keeps its operation before
// the duty that needs it may start it again.
const retryAfter = 5 * time.Second

func settlementParams(p channel.Params) settlement.Params { return settlement.Params(p) }

func settlementProof(p channel.Proof) settlement.Proof {
	if p.IsZero() {
		return settlement.Proof{}
	}
	return settlement.Proof{Nonce: p.Nonce, Transferred: p.Transferred, Sig: p.Sig}
}

// operate posts start to a channel's owner and waits until the operation it
// begins ends, or ctx does (the operation then goes on).
func (n *Node) operate(ctx context.Context, id channel.ID, start func(c *chanActor, done chan error)) (ChannelInfo, error) {
	if err := n.usable(); err != nil {
		return ChannelInfo{}, err
	}
	c := n.chans.get(id)
	if c == nil {
		return ChannelInfo{}, wrapf(ErrNotFound, "channel %s", id)
	}
	done := make(chan error, 1)
	c.do(func() { start(c, done) })
	select {
	case err := <-done:
		return c.info(), err
	case <-ctx.Done():
		return c.info(), fmt.Errorf("%w (the operation goes on)", ctx.Err())
	}
}

// addWaiter makes done receive the outcome of op.
func (c *chanActor) addWaiter(op channel.Op, done chan error) {
	c.waiters = append(c.waiters, opWaiter{op: op, done: done})
}

// finishOp tells every waiter of op its outcome once the step is durable
// (so that what they read of the channel includes the step, and a restart
// does not take it back); a failed write is the outcome then.
func (c *chanActor) finishOp(op channel.Op, err error) {
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.op == op {
			done := w.done
			c.step.notify = append(c.step.notify, func(werr error) { done <- cmp.Or(werr, err) })
			continue
		}
		kept = append(kept, w)
	}
	clear(c.waiters[len(kept):])
	c.waiters = kept
}

// OpenChannel proposes a channel to a connected peer, opens it on chain with
// this node's first deposit, and returns once it is open. If the open fails
// on chain, the channel is abandoned on both sides; if its outcome is
// unknown (the endpoint went away), it stays opening until the watcher sees
// it, and CloseChannel abandons it if it never lands.
func (n *Node) OpenChannel(ctx context.Context, peer, asset crypto.Address, deposit uint256.Int, challengePeriod uint64) (ChannelInfo, error) {
	if err := n.usable(); err != nil {
		return ChannelInfo{}, err
	}
	if _, ok := n.asset(asset); !ok {
		return ChannelInfo{}, wrapf(ErrUnknownAsset, "%s", asset)
	}
	if deposit.IsZero() {
		return ChannelInfo{}, invalid("the first deposit must be above zero")
	}
	if challengePeriod == 0 {
		challengePeriod = n.cfg.ChallengePeriod
	}
	s := n.peers.session(peer)
	if s == nil {
		return ChannelInfo{}, wrapf(ErrNotConnected, "%s (connect first)", peer)
	}
	salt := randomID()
	p := channel.Params{
		ChainID: n.chain.ChainID(), Adjudicator: n.chain.Adjudicator(), Participants: [2]crypto.Address{n.self, peer},
		Asset: asset, ChallengePeriod: challengePeriod, Salt: salt,
	}
	ch, err := channel.New(p, channel.A)
	if err != nil {
		return ChannelInfo{}, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	id := ch.ID()
	answer := n.peers.expect(id, peer)
	defer n.peers.forget(id)
	s.send(&peerv1.Message{Body: &peerv1.Message_Propose{Propose: &peerv1.Propose{
		Asset: asset[:], ChallengePeriod: challengePeriod, Salt: salt[:], Deposit: amountBytes(&deposit),
	}}})
	t := time.NewTimer(n.cfg.RequestTimeout)
	defer t.Stop()
	select {
	case err := <-answer:
		if err != nil {
			return ChannelInfo{}, err
		}
	case <-t.C:
		return ChannelInfo{}, wrapf(ErrPeerRefused, "no answer to the proposal within %s", n.cfg.RequestTimeout)
	case <-ctx.Done():
		return ChannelInfo{}, ctx.Err()
	}
	c := n.newActor(ch, n.clock.Now())
	if !n.chans.add(c) {
		return ChannelInfo{}, fmt.Errorf("channel %s exists", id)
	}
	n.peers.befriend(peer)
	done := make(chan error, 1)
	c.do(func() {
		c.sess, c.ready = n.peers.session(peer), true
		c.step.record = true
		c.step.label = "open"
		c.event(storev1.ChannelEventKind_CHANNEL_EVENT_KIND_PROPOSED, "accepted by the peer; opening on chain", nil)
		if err := c.ch.StartOpen(&deposit); err != nil {
			done <- err
			return
		}
		c.addWaiter(channel.OpOpen, done)
	})
	select {
	case err := <-done:
		return c.info(), err
	case <-ctx.Done():
		return c.info(), fmt.Errorf("%w (the open goes on)", ctx.Err())
	}
}

// Deposit tops up this node's side of an open channel by amount.
func (n *Node) Deposit(ctx context.Context, id channel.ID, amount uint256.Int) (ChannelInfo, error) {
	if amount.IsZero() {
		return ChannelInfo{}, fmt.Errorf("%w: %w", ErrInvalidArgument, channel.ErrZeroAmount)
	}
	return n.operate(ctx, id, func(c *chanActor, done chan error) {
		if _, err := c.ch.Deposit(&amount); err != nil {
			done <- err
			return
		}
		c.addWaiter(channel.OpDeposit, done)
	})
}

// Withdraw takes amount out of an open channel: this node signs, the peer
// countersigns, and the node submits both signatures.
func (n *Node) Withdraw(ctx context.Context, id channel.ID, amount uint256.Int) (ChannelInfo, error) {
	return n.operate(ctx, id, func(c *chanActor, done chan error) {
		if c.behind != nil {
			done <- wrapf(ErrBehind, "channel %s: %s", c.id, c.behind.reason(c))
			return
		}
		if !c.ready {
			done <- wrapf(ErrNotConnected, "%s", c.peer)
			return
		}
		now := c.n.now()
		w, err := c.ch.RequestWithdraw(&amount, now+c.n.cfg.TermsLifetime, now, c.n.key)
		if err != nil {
			done <- c.inAsset(err)
			return
		}
		c.step.label = "withdraw-request"
		c.addWaiter(channel.OpWithdraw, done)
		c.after(c.n.cfg.RequestTimeout, func() { c.withdrawReplyTimeout(w) })
	})
}

func (c *chanActor) withdrawReplyTimeout(w channel.Withdrawal) {
	cur, ok := c.ch.Withdrawal()
	if !ok || cur.Complete() || cur.Participant != c.self || !cur.Total.Eq(&w.Total) || cur.Expiry != w.Expiry {
		return
	}
	_ = c.ch.AbortWithdraw()
	c.finishOp(channel.OpWithdraw, wrapf(ErrPeerRefused, "no countersignature within %s", c.n.cfg.RequestTimeout))
}

// CloseChannel closes cooperatively: it stops new payments, lets the ones
// in flight finish (up to DrainTimeout), signs the net balances, has the
// peer countersign, and submits the close; the adjudicator pays out at
// once. On a channel that is closing already (after a restart, say) it
// resumes the close. On a channel whose open never reached the chain it
// abandons the channel, on both sides.
func (n *Node) CloseChannel(ctx context.Context, id channel.ID) (ChannelInfo, error) {
	return n.operate(ctx, id, func(c *chanActor, done chan error) { c.startClose(done) })
}

func (c *chanActor) startClose(done chan error) {
	switch c.ch.Phase() {
	case channel.Opening:
		c.startAbandon(done)
	case channel.Closing:
		c.addWaiter(channel.OpClose, done)
		t, _ := c.ch.CloseTerms()
		switch {
		case t.Complete():
			if err := c.ch.SubmitClose(); err != nil {
				c.finishOp(channel.OpClose, err)
			}
		case !c.ready:
			c.finishOp(channel.OpClose, wrapf(ErrNotConnected, "%s: the close terms are sent again when the peer reconnects (valid until chain time %d; force close instead?)", c.peer, t.Expiry))
		default:
			c.ch.Resend()
			c.awaitCountersignature(t)
		}
	case channel.Open:
		if c.behind != nil {
			// Terms from an old view of the balances: the peer would
			// refuse them, or this node sign away what it was paid.
			done <- wrapf(ErrBehind, "channel %s: %s (a force close presents only the proofs this node holds)", c.id, c.behind.reason(c))
			return
		}
		if err := c.ch.BeginClose(); err != nil {
			done <- err
			return
		}
		c.addWaiter(channel.OpClose, done)
		c.failQueued(fmt.Errorf("pay: %w", channel.ErrDraining))
		c.draining = c.after(c.n.cfg.DrainTimeout, c.proposeClose)
		c.maybePropose()
	default:
		done <- &channel.PhaseError{Op: "close", Phase: c.ch.Phase()}
	}
}

// maybePropose signs the close terms once a draining channel has no proof
// of this node's in flight.
func (c *chanActor) maybePropose() {
	if c.ch.Op() == channel.OpClose && c.ch.Phase() == channel.Open && len(c.flight) == 0 {
		c.proposeClose()
	}
}

// proposeClose signs the close terms (at the end of draining, or when it
// times out) and sends them once they are durable.
func (c *chanActor) proposeClose() {
	if c.ch.Op() != channel.OpClose || c.ch.Phase() != channel.Open {
		return
	}
	if c.draining != nil {
		c.draining.Stop()
		c.draining = nil
	}
	if !c.ready {
		c.ch.Done(channel.OpClose)
		c.finishOp(channel.OpClose, wrapf(ErrNotConnected, "%s (force close instead?)", c.peer))
		return
	}
	now := c.n.now()
	t, err := c.ch.ProposeClose(now+c.n.cfg.TermsLifetime, now, c.n.key)
	if err != nil {
		c.ch.Done(channel.OpClose)
		c.finishOp(channel.OpClose, err)
		return
	}
	c.step.label = "close-propose"
	c.event(storev1.ChannelEventKind_CHANNEL_EVENT_KIND_CLOSE_SIGNED, "signed close terms", nil)
	c.awaitCountersignature(t)
}

func (c *chanActor) awaitCountersignature(t channel.CloseTerms) {
	if c.replyDue != nil {
		c.replyDue.Stop()
	}
	c.replyDue = c.after(c.n.cfg.RequestTimeout, func() {
		cur, ok := c.ch.CloseTerms()
		if !ok || cur.Complete() || cur.Expiry != t.Expiry || c.ch.Phase() != channel.Closing {
			return
		}
		c.ch.Done(channel.OpClose)
		c.finishOp(channel.OpClose, wrapf(ErrPeerRefused, "no countersignature within %s; this node's close terms stay valid until chain time %d and are sent again when the peer reconnects; payments resume after they expire",
			c.n.cfg.RequestTimeout, t.Expiry))
	})
}

// onCloseRequest countersigns the peer's close terms if they give this node
// at least its balance, and replies once durable.
func (c *chanActor) onCloseRequest(s *session, m *peerv1.CloseRequest) {
	refuse := func(err error) {
		// In order with what this node sent before (its own close terms,
		// when both proposed at once: the peer yields when they arrive).
		c.step.msgs = append(c.step.msgs, &peerv1.Message{Body: &peerv1.Message_CloseReply{CloseReply: &peerv1.CloseReply{ChannelId: c.id[:], Error: truncate(err.Error(), 1024)}}})
	}
	if c.sess != s {
		return
	}
	if err := c.n.usable(); err != nil {
		refuse(err) // a node that cannot write signs nothing
		return
	}
	var t channel.CloseTerms
	var err error
	if t.Balance[channel.A], err = parseAmount("balance a", m.GetBalanceA()); err != nil {
		refuse(err)
		return
	}
	if t.Balance[channel.B], err = parseAmount("balance b", m.GetBalanceB()); err != nil {
		refuse(err)
		return
	}
	sig, err := parseSig("signature", m.GetSignature())
	if err != nil {
		refuse(err)
		return
	}
	t.Expiry = m.GetExpiry()
	t.Sigs[c.self.Other()] = sig
	before, _ := c.ch.CloseTerms()
	if _, err := c.ch.AcceptClose(t, c.n.now(), c.n.key); err != nil {
		if c.readChainFirst(err, true, func() { c.onCloseRequest(s, m) }) {
			return
		}
		refuse(err)
		return
	}
	c.failQueued(fmt.Errorf("pay: %w", channel.ErrClosing))
	c.step.label = "close-accept"
	if after, _ := c.ch.CloseTerms(); after.Proposer != before.Proposer || after.Expiry != before.Expiry || after.Sigs != before.Sigs {
		c.event(storev1.ChannelEventKind_CHANNEL_EVENT_KIND_CLOSE_SIGNED, "countersigned the peer's close terms", nil)
	}
}

// onCloseReply takes the peer's countersignature of this node's terms (or
// its refusal); with it, the close goes to the chain.
func (c *chanActor) onCloseReply(s *session, m *peerv1.CloseReply) {
	if c.sess != s {
		return
	}
	t, ok := c.ch.CloseTerms()
	switch {
	case ok && t.Proposer != c.self && m.GetError() != "":
		// Both proposed at once and this side yielded to the peer's terms:
		// the peer's refusal of its own is moot.
		return
	case !ok || c.ch.Phase() != channel.Closing || t.Proposer != c.self:
		s.sendError(codeFailedPrecondition, c.id[:], errors.New("close reply: this node proposed no close terms waiting for a countersignature"))
		return
	case t.Complete():
		return // a countersignature received again
	}
	if msg := m.GetError(); msg != "" {
		c.warn("the peer refused the close terms: " + truncate(msg, 200))
		if c.ch.Op() == channel.OpClose {
			c.ch.Done(channel.OpClose)
		}
		c.finishOp(channel.OpClose, fmt.Errorf("%w: %s", ErrPeerRefused, truncate(msg, 1024)))
		return
	}
	sig, err := countersignature(m.GetSignature())
	if err == nil {
		_, err = c.ch.CloseCountersigned(sig)
	}
	if err != nil {
		s.sendError(peerCode(err), c.id[:], fmt.Errorf("close reply: %w", err))
		return
	}
	if c.replyDue != nil {
		c.replyDue.Stop()
		c.replyDue = nil
	}
	c.step.label = "close-countersigned"
}

// onWithdrawRequest countersigns the peer's withdrawal if it can afford it,
// and replies once the countersigned withdrawal is durable here.
func (c *chanActor) onWithdrawRequest(s *session, m *peerv1.WithdrawRequest) {
	refuse := func(err error) {
		c.step.msgs = append(c.step.msgs, &peerv1.Message{Body: &peerv1.Message_WithdrawReply{WithdrawReply: &peerv1.WithdrawReply{ChannelId: c.id[:], Error: truncate(err.Error(), 1024)}}})
	}
	if c.sess != s {
		return
	}
	if err := c.n.usable(); err != nil {
		refuse(err) // a node that cannot write signs nothing
		return
	}
	total, err := parseAmount("total", m.GetTotal())
	if err != nil {
		refuse(err)
		return
	}
	sig, err := parseSig("signature", m.GetSignature())
	if err != nil {
		refuse(err)
		return
	}
	w := channel.Withdrawal{Participant: c.self.Other(), Total: total, Expiry: m.GetExpiry()}
	w.Sigs[c.self.Other()] = sig
	own, pending := c.ch.Withdrawal()
	ownWaiting := pending && own.Participant == c.self && !own.Complete()
	if _, err := c.ch.CountersignWithdraw(w, c.n.now(), c.n.key); err != nil {
		// This node's own withdrawal waiting for the peer is not a view of
		// the chain that a read could bring up to date.
		if !ownWaiting && c.readChainFirst(err, true, func() { c.onWithdrawRequest(s, m) }) {
			return
		}
		refuse(err)
		return
	}
	if ownWaiting {
		// Both asked at once and this side yielded (channel.CountersignWithdraw).
		c.finishOp(channel.OpWithdraw, fmt.Errorf("%w: the peer asked to withdraw at the same time, and goes first; withdraw again", ErrPeerRefused))
	}
	c.step.label = "withdraw-countersign"
}

// onWithdrawReply takes the peer's countersignature of this node's
// withdrawal (or its refusal); with it, the withdrawal goes to the chain.
func (c *chanActor) onWithdrawReply(s *session, m *peerv1.WithdrawReply) {
	if c.sess != s {
		return
	}
	w, pending := c.ch.Withdrawal()
	if !pending || w.Participant != c.self {
		s.sendError(codeFailedPrecondition, c.id[:], channel.ErrNoWithdrawPending)
		return
	}
	if msg := m.GetError(); msg != "" {
		if w.Complete() {
			return // countersigned already: the withdrawal is on its way whatever the peer says now
		}
		_ = c.ch.AbortWithdraw()
		c.finishOp(channel.OpWithdraw, fmt.Errorf("%w: %s", ErrPeerRefused, truncate(msg, 1024)))
		return
	}
	sig, err := countersignature(m.GetSignature())
	if err == nil {
		_, err = c.ch.WithdrawCountersigned(sig)
	}
	if err != nil {
		s.sendError(peerCode(err), c.id[:], fmt.Errorf("withdraw reply: %w", err))
		return
	}
	c.step.label = "withdraw-countersigned"
}

// startAbandon gives up a channel whose open is not on chain, for the
// operator.
func (c *chanActor) startAbandon(done chan error) {
	c.abandonUnopened("abandoned by the operator: the open never reached the chain", func(err error) {
		// Told once the step is durable, so that the caller reads the
		// channel abandoned, now and after a restart.
		c.step.notify = append(c.step.notify, func(werr error) { done <- cmp.Or(werr, err) })
	})
}

// expireOpening abandons a channel that is still opening ProposalExpiry
// after it was proposed, unless its open transaction is in flight.
func (c *chanActor) expireOpening() {
	if c.ch.Phase() != channel.Opening || c.ch.Op() == channel.OpOpen || c.expiring {
		return
	}
	c.expiring = true
	c.abandonUnopened(fmt.Sprintf("not open on chain %s after the proposal", c.n.cfg.ProposalExpiry), func(err error) {
		c.expiring = false
		if err != nil {
			c.n.log.Warn("an expired proposal stays opening", "channel", c.id, "err", err)
		}
	})
}

// abandonUnopened gives up a channel whose open is not on chain: the chain
// is read first (off the owner), and the peer is told. A channel the peer
// proposed is then forgotten.
func (c *chanActor) abandonUnopened(why string, finish func(error)) {
	if c.ch.Op() == channel.OpOpen {
		finish(&channel.BusyError{Running: channel.OpOpen})
		return
	}
	c.n.readChannel(c, func(oc settlement.Channel, err error) {
		if err != nil {
			finish(fmt.Errorf("abandon: cannot check the chain for the open: %w", err))
			return
		}
		if oc.Phase != settlement.PhaseNone {
			c.applyChain(oc)
			finish(fmt.Errorf("abandon: the channel is %s on chain after all: %w", oc.Phase, channel.ErrWrongPhase))
			return
		}
		if err := c.ch.Abandon(); err != nil {
			finish(err)
			return
		}
		c.abandoned(why)
		c.forgetProposal()
		finish(nil)
	})
}

// abandoned records that the channel was given up and tells the peer.
func (c *chanActor) abandoned(why string) {
	c.n.log.Info("channel abandoned", "channel", c.id, "why", why)
	if c.self == channel.A { // a proposal of the peer's leaves no event (see onPropose)
		c.event(storev1.ChannelEventKind_CHANNEL_EVENT_KIND_WARNING, why, nil)
	}
	c.step.msgs = append(c.step.msgs, &peerv1.Message{Body: &peerv1.Message_Abandon{Abandon: &peerv1.Abandon{ChannelId: c.id[:], Reason: why}}})
	c.ended()
}

// onAbandon: the peer gave up the channel's open. Nothing of this node's is
// locked in it, so it is given up here too (and revived if the open reaches
// the chain after all).
func (c *chanActor) onAbandon(s *session, m *peerv1.Abandon) {
	if c.ch.Phase() == channel.Abandoned {
		return
	}
	if err := c.ch.Abandon(); err != nil {
		s.sendError(peerCode(err), c.id[:], err)
		return
	}
	c.n.log.Info("channel abandoned by the peer", "channel", c.id, "reason", truncate(m.GetReason(), 200))
	if c.self == channel.A { // a proposal of the peer's leaves no event (see onPropose)
		c.event(storev1.ChannelEventKind_CHANNEL_EVENT_KIND_WARNING, "the peer abandoned the open: "+truncate(m.GetReason(), 200), nil)
	}
	c.ended()
	c.forgetProposal()
}

// forgetProposal drops a channel the peer proposed that was abandoned
// before it opened, once the abandon is durable: nothing of this node's was
// ever in it, and a stranger must not be able to make the node keep a
// record per proposal. Its events stay in the log. Should the open reach
// the chain after all, this node holds nothing in the channel and the
// proposer can close it alone.
func (c *chanActor) forgetProposal() {
	if c.self != channel.B {
		return
	}
	c.step.after = append(c.step.after, func(_ store.Result, err error) {
		if err != nil || c.ch.Phase() != channel.Abandoned {
			return
		}
		c.n.chans.remove(c)
		c.forgotten = true
		c.step.label = "forget-proposal"
		if err := c.batch().DeleteChannel(c.id); err != nil {
			c.n.log.Error("forget proposal", "channel", c.id, "err", err)
		}
	})
}

// ForceClose closes the channel without the peer, presenting the newest
// proofs this node holds; the challenge period starts, and the node's
// watcher settles after it.
func (n *Node) ForceClose(ctx context.Context, id channel.ID) (ChannelInfo, error) {
	return n.operate(ctx, id, func(c *chanActor, done chan error) {
		if err := c.ch.ForceClose(); err != nil {
			done <- err
			return
		}
		c.addWaiter(channel.OpForceClose, done)
	})
}

// Settle settles a force-closed channel once its challenge period is over.
// Whether it is over is the chain's to say (this node's view of the chain's
// time may lag behind): the backend asks it, and waits a little for a block
// past the period if one is due.
func (n *Node) Settle(ctx context.Context, id channel.ID) (ChannelInfo, error) {
	return n.operate(ctx, id, func(c *chanActor, done chan error) {
		switch {
		case c.ch.Phase() == channel.Settled:
			// The node settles by itself when the challenge period ends:
			// asking again is answered, not refused, once that is on disk.
			c.step.notify = append(c.step.notify, func(werr error) { done <- werr })
			return
		case c.ch.Op() == channel.OpSettle: // the node's own settle is under way
			c.addWaiter(channel.OpSettle, done)
			return
		}
		if err := c.ch.Settle(); err != nil {
			done <- err
			return
		}
		c.addWaiter(channel.OpSettle, done)
	})
}

// onStop tells whoever waits on this channel that the node stops.
func (c *chanActor) onStop() {
	c.failQueued(ErrStopped)
	for _, f := range c.flight {
		for _, p := range f.payments {
			if p.book != nil {
				p.finish(fmt.Errorf("%w: %w", ErrPending, ErrStopped))
			}
		}
	}
	for _, w := range c.waiters {
		w.done <- ErrStopped
	}
	c.waiters = nil
}

// --- chain actions ---

// actionResult is what a chain action returned, with the channel's record
// read after it where the outcome needs it.
type actionResult struct {
	rcpt   settlement.Receipt
	err    error
	record *settlement.Channel
}

// startAction runs a on its own goroutine; the result comes back to the
// channel's owner as a step.
func (n *Node) startAction(c *chanActor, a channel.Action) {
	n.failpoint("action " + a.Op().String())
	ok := n.background(func() {
		ctx, cancel := context.WithTimeout(n.ctx, n.cfg.ChainTxTimeout)
		defer cancel()
		res := n.runAction(ctx, c, a)
		c.do(func() { c.onActionDone(a, res) })
	})
	if !ok {
		c.do(func() {
			c.ch.Done(a.Op())
			c.finishOp(a.Op(), ErrStopped)
		})
	}
}

func (n *Node) runAction(ctx context.Context, c *chanActor, a channel.Action) actionResult {
	sp := settlementParams(c.params)
	var r actionResult
	switch a := a.(type) {
	case channel.OpenAction:
		r.rcpt, r.err = n.chain.Open(ctx, sp, &a.Deposit)
	case channel.DepositAction:
		r.rcpt, r.err = n.chain.Deposit(ctx, sp, n.self, &a.Total)
	case channel.SubmitWithdrawAction:
		w := a.Withdrawal
		r.rcpt, r.err = n.chain.Withdraw(ctx, sp, n.self, &w.Total, w.Expiry, w.Sigs)
	case channel.SubmitCloseAction:
		t := a.Terms
		r.rcpt, r.err = n.chain.CooperativeClose(ctx, sp, t.Balance, t.Expiry, t.Sigs)
	case channel.ForceCloseAction:
		r.rcpt, r.err = n.chain.ForceClose(ctx, sp, settlementProof(a.Peers), settlementProof(a.Own))
	case channel.PresentAction:
		proofs := make([]settlement.Proof, len(a.Proofs))
		for i, p := range a.Proofs {
			proofs[i] = settlementProof(p)
		}
		r.rcpt, r.err = n.chain.Update(ctx, sp, proofs)
	case channel.SettleAction:
		r.rcpt, r.err = n.chain.Settle(ctx, sp)
	}
	switch a.(type) {
	case channel.ForceCloseAction, channel.PresentAction, channel.SettleAction:
		// A settle refused by the contract is read for too: another
		// transaction (the peer's) may have settled the channel first.
		if r.err == nil || errors.Is(r.err, settlement.ErrReverted) {
			rctx, cancel := context.WithTimeout(n.ctx, n.cfg.ChainReadTimeout)
			if oc, err := n.chain.Channel(rctx, c.id); err == nil {
				r.record = &oc
			}
			cancel()
		}
	}
	if _, ok := a.(channel.SettleAction); ok && (r.err == nil || r.settledByOther()) {
		n.withdrawPayout(ctx, c.params.Asset)
	}
	return r
}

// settledByOther reports whether a settle failed because the channel was
// already settled on chain: what the operator asked for has happened.
func (r actionResult) settledByOther() bool {
	return r.err != nil && r.record != nil && r.record.Phase == settlement.PhaseSettled
}

// definiteFailure reports whether a chain error means the transaction did
// not and will not happen (as opposed to an outcome nobody knows yet).
func definiteFailure(err error) bool {
	return errors.Is(err, settlement.ErrReverted) || errors.Is(err, settlement.ErrInsufficientFunds) ||
		errors.Is(err, settlement.ErrWrongChain) || errors.Is(err, settlement.ErrNoContract)
}

// onActionDone applies what a chain action achieved and ends its operation.
func (c *chanActor) onActionDone(a channel.Action, r actionResult) {
	op := a.Op()
	tx := func() string { return " in " + r.rcpt.TxHash.Hex() }
	if r.err != nil && !r.settledByOther() {
		c.n.log.Warn("chain action failed", "channel", c.id, "op", op, "err", r.err)
	}
	switch a := a.(type) {
	case channel.OpenAction:
		switch {
		case r.err == nil:
			c.opened("opened on chain" + tx())
			c.ch.Done(op)
			_ = c.ch.ChainDeposit(c.self, &a.Deposit)
			c.n.log.Info("channel opened", "channel", c.id, "peer", c.peer, "tx", r.rcpt.TxHash, "gas", r.rcpt.GasUsed)
			c.finishOp(op, nil)
		case definiteFailure(r.err):
			c.ch.Done(op)
			_ = c.ch.Abandon()
			c.abandoned("the open failed on chain: " + truncate(r.err.Error(), 300))
			c.finishOp(op, fmt.Errorf("open channel %s on chain: %w (the channel is abandoned on both sides)", c.id, r.err))
		default:
			c.ch.Done(op)
			c.warn("the open transaction's outcome is unknown: " + truncate(r.err.Error(), 300))
			c.finishOp(op, fmt.Errorf("open channel %s on chain: %w (the channel stays opening until the open is seen on chain; close it to abandon it if it never lands)", c.id, r.err))
		}
	case channel.DepositAction:
		c.ch.Done(op)
		if r.err == nil {
			// Logged once: the watcher may have seen it on chain first.
			known := c.ch.State().Deposit[c.self]
			_ = c.ch.ChainDeposit(c.self, &a.Total)
			if a.Total.Gt(&known) {
				c.event(storev1.ChannelEventKind_CHANNEL_EVENT_KIND_DEPOSITED, "deposit"+tx(), &a.Total)
			}
			c.finishOp(op, nil)
			c.pump()
		} else {
			c.finishOp(op, fmt.Errorf("deposit: %w", r.err))
		}
	case channel.SubmitWithdrawAction:
		if r.err == nil {
			known := c.ch.State().ChainWithdrawn[c.self] // logged once, as deposits
			_ = c.ch.ChainWithdrawn(c.self, &a.Withdrawal.Total)
			c.ch.Done(op)
			if a.Withdrawal.Total.Gt(&known) {
				c.event(storev1.ChannelEventKind_CHANNEL_EVENT_KIND_WITHDRAWN, "withdrawal"+tx(), &a.Withdrawal.Total)
			}
			c.finishOp(op, nil)
		} else {
			c.retryLater(op)
			c.finishOp(op, fmt.Errorf("withdraw on chain (the countersigned withdrawal stays valid until chain time %d and is submitted again): %w", a.Withdrawal.Expiry, r.err))
		}
	case channel.SubmitCloseAction:
		if r.err == nil {
			mine := a.Terms.Balance[c.self]
			c.closedCooperatively(a.Terms.Balance, "closed"+tx()+", paid out "+c.units(&mine)+" to this node")
			c.finishOp(op, nil)
		} else {
			c.retryLater(op)
			c.finishOp(op, fmt.Errorf("cooperative close on chain (the terms stay valid until chain time %d and are submitted again): %w", a.Terms.Expiry, r.err))
		}
	case channel.ForceCloseAction:
		c.ch.Done(op)
		if r.err == nil {
			c.n.log.Info("force closed", "channel", c.id, "tx", r.rcpt.TxHash)
			if r.record != nil && r.record.Phase == settlement.PhaseClosed && c.ch.Phase() != channel.Closed {
				if err := c.ch.ChainClosed(c.self, r.record.Transferred, r.record.SettleAfter); err == nil {
					c.closedByForce("force-closed by this node" + tx())
				}
			}
			c.finishOp(op, nil)
		} else {
			c.finishOp(op, fmt.Errorf("force close: %w", r.err))
		}
	case channel.PresentAction:
		if r.err == nil {
			c.ch.Done(op)
			c.n.log.Info("presented newer proofs in a dispute", "channel", c.id, "proofs", len(a.Proofs), "tx", r.rcpt.TxHash)
		} else {
			c.retryLater(op)
		}
	case channel.SettleAction:
		switch {
		case r.err == nil:
			c.ch.Done(op)
			c.n.log.Info("settled", "channel", c.id, "tx", r.rcpt.TxHash)
			c.finishOp(op, nil)
		case r.settledByOther():
			c.ch.Done(op)
			c.n.log.Info("settled by another transaction first", "channel", c.id)
			c.finishOp(op, nil)
		default:
			c.retryLater(op)
			c.finishOp(op, fmt.Errorf("settle: %w", r.err))
		}
	}
	if r.record != nil {
		c.applyChain(*r.record)
	}
}

// retryLater ends op after a failed action. An operation an operator
// waits for ends at once (they may try again); a duty keeps it for
// retryAfter, so that it does not start again at once.
func (c *chanActor) retryLater(op channel.Op) {
	for _, w := range c.waiters {
		if w.op == op {
			c.ch.Done(op)
			return
		}
	}
	c.after(retryAfter, func() { c.ch.Done(op) })
}

// withdrawPayout pulls anything the adjudicator credited to this node.
func (n *Node) withdrawPayout(ctx context.Context, asset crypto.Address) {
	owed, err := n.chain.Payout(ctx, n.self, asset)
	if err != nil || owed.IsZero() {
		return
	}
	amount, rcpt, err := n.chain.WithdrawPayout(ctx, asset)
	if err != nil {
		n.log.Warn("payout withdrawal failed", "asset", asset, "err", err)
		return
	}
	n.log.Info("payout withdrawn", "asset", asset, "amount", amount.Dec(), "tx", rcpt.TxHash)
}

// countersignature parses a reply's countersignature; a zero one is
// malformed.
func countersignature(s []byte) (crypto.Signature, error) {
	sig, err := parseSig("signature", s)
	if err == nil && sig == (crypto.Signature{}) {
		err = fmt.Errorf("%w: empty countersignature", ErrMalformed)
	}
	return sig, err
}
