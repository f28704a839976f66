package node

import (
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

// Operations that keep a channel busy; one at a time per channel.
const (
	busyDeposit  = "deposit"
	busyWithdraw = "withdraw"
	busyClosing  = "cooperative close"
	busyForce    = "force close"
	busySettle   = "settle"
	busyUpdate   = "dispute update"
	busyPayout   = "payout"
)

// chainCtx bounds one chain operation.
func (n *Node) chainCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(n.ctx, 5*time.Minute)
}

func settlementParams(p channel.Params) settlement.Params { return settlement.Params(p) }

func settlementProof(p channel.Proof) settlement.Proof {
	if p.IsZero() {
		return settlement.Proof{}
	}
	return settlement.Proof{Nonce: p.Nonce, Transferred: p.Transferred, Sig: p.Sig}
}

// begin marks the channel busy with op, or fails if another op runs.
func (c *chanState) begin(op string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.busy != "" {
		return wrapf(ErrBusy, "%s in progress", c.busy)
	}
	c.busy = op
	return nil
}

func (c *chanState) end(op string) {
	c.mu.Lock()
	if c.busy == op {
		c.busy = ""
	}
	c.pump()
	c.mu.Unlock()
}

// OpenChannel proposes a channel to a connected peer, opens it on chain with
// this node's first deposit, and returns once it is open.
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
	s := n.session(peer)
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
	accepted := make(chan error, 1)
	n.mu.Lock()
	n.proposals[id] = accepted
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.proposals, id)
		n.mu.Unlock()
	}()
	s.send(&peerv1.Message{Body: &peerv1.Message_Propose{Propose: &peerv1.Propose{
		Asset: asset[:], ChallengePeriod: challengePeriod, Salt: salt[:], Deposit: amountBytes(&deposit),
	}}})
	t := time.NewTimer(n.cfg.RequestTimeout)
	defer t.Stop()
	select {
	case err := <-accepted:
		if err != nil {
			return ChannelInfo{}, err
		}
	case <-t.C:
		return ChannelInfo{}, wrapf(ErrPeerRefused, "no answer to the proposal within %s", n.cfg.RequestTimeout)
	case <-ctx.Done():
		return ChannelInfo{}, ctx.Err()
	}
	c := n.newChanState(ch, n.clock.Now())
	c.sess, c.ready = s, true
	c.busy = busyDeposit
	c.mu.Lock()
	st := ch.State()
	b := store.NewBatch()
	err = b.PutChannel(channelRecord(&st, c.created, c.created))
	if err == nil {
		c.logEventTo(b, storev1.ChannelEventKind_CHANNEL_EVENT_KIND_PROPOSED, "accepted by the peer; opening on chain", nil)
	}
	c.mu.Unlock()
	if err != nil {
		return ChannelInfo{}, err
	}
	if _, err := n.commit(ctx, b); err != nil {
		return ChannelInfo{}, err
	}
	n.mu.Lock()
	n.channels[id] = c
	n.mu.Unlock()
	defer c.end(busyDeposit)

	cctx, cancel := n.chainCtx()
	defer cancel()
	rcpt, err := n.chain.Open(cctx, settlementParams(p), &deposit)
	if err != nil {
		return c.info(), fmt.Errorf("open channel %s on chain: %w", id, err)
	}
	n.log.Info("channel opened", "channel", id, "peer", peer, "tx", rcpt.TxHash, "gas", rcpt.GasUsed)
	c.mu.Lock()
	_ = c.ch.ChainOpened()
	_ = c.ch.ChainDeposit(channel.A, &deposit)
	c.persistLocked(c.event(storev1.ChannelEventKind_CHANNEL_EVENT_KIND_OPENED, "opened on chain in "+rcpt.TxHash.Hex(), &deposit), nil)
	c.mu.Unlock()
	return c.info(), nil
}

// Deposit tops up this node's side of an open channel by amount.
func (n *Node) Deposit(ctx context.Context, id channel.ID, amount uint256.Int) (ChannelInfo, error) {
	c, err := n.channelByID(id)
	if err != nil {
		return ChannelInfo{}, err
	}
	if amount.IsZero() {
		return ChannelInfo{}, fmt.Errorf("%w: %w", ErrInvalidArgument, channel.ErrZeroAmount)
	}
	if err := c.begin(busyDeposit); err != nil {
		return ChannelInfo{}, err
	}
	defer c.end(busyDeposit)
	c.mu.Lock()
	st := c.ch.State()
	c.mu.Unlock()
	if st.Phase != channel.Open {
		return ChannelInfo{}, &channel.PhaseError{Op: "deposit", Phase: st.Phase}
	}
	var total uint256.Int
	if _, over := total.AddOverflow(&st.Deposit[c.self], &amount); over {
		return ChannelInfo{}, channel.ErrOverflow
	}
	cctx, cancel := n.chainCtx()
	defer cancel()
	rcpt, err := n.chain.Deposit(cctx, settlementParams(st.Params), n.self, &total)
	if err != nil {
		return c.info(), fmt.Errorf("deposit: %w", err)
	}
	c.mu.Lock()
	_ = c.ch.ChainDeposit(c.self, &total)
	c.persistLocked(c.event(storev1.ChannelEventKind_CHANNEL_EVENT_KIND_DEPOSITED, "deposit in "+rcpt.TxHash.Hex(), &total), nil)
	c.mu.Unlock()
	return c.info(), nil
}

// Withdraw takes amount out of an open channel: this node signs, the peer
// countersigns, and the node submits both signatures.
func (n *Node) Withdraw(ctx context.Context, id channel.ID, amount uint256.Int) (ChannelInfo, error) {
	c, err := n.channelByID(id)
	if err != nil {
		return ChannelInfo{}, err
	}
	if err := c.begin(busyWithdraw); err != nil {
		return ChannelInfo{}, err
	}
	defer c.end(busyWithdraw)
	c.mu.Lock()
	if c.sess == nil || !c.ready {
		c.mu.Unlock()
		return ChannelInfo{}, wrapf(ErrNotConnected, "%s", c.peer)
	}
	w, err := c.ch.RequestWithdraw(&amount, n.now()+n.cfg.TermsLifetime, n.now(), n.key)
	if err != nil {
		c.mu.Unlock()
		return ChannelInfo{}, err
	}
	wait := c.awaitReply(replyWithdraw)
	sess := c.sess
	c.persistLocked(nil, func() {
		sess.send(&peerv1.Message{Body: &peerv1.Message_WithdrawRequest{WithdrawRequest: &peerv1.WithdrawRequest{
			ChannelId: c.id[:], Total: amountBytes(&w.Total), Expiry: w.Expiry, Signature: sigBytes(w.Sigs[c.self]),
		}}})
	})
	c.mu.Unlock()

	r := n.waitReply(wait)
	c.mu.Lock()
	if r.err == nil {
		w, r.err = c.ch.WithdrawCountersigned(r.sig)
	}
	if r.err != nil {
		delete(c.replies, replyWithdraw)
		if err := c.ch.AbortWithdraw(); err == nil {
			c.persistLocked(nil, nil)
		}
		c.mu.Unlock()
		return ChannelInfo{}, fmt.Errorf("withdraw: %w", r.err)
	}
	c.persistLocked(nil, nil)
	params := c.ch.Params()
	c.mu.Unlock()

	cctx, cancel := n.chainCtx()
	defer cancel()
	rcpt, err := n.chain.Withdraw(cctx, settlementParams(params), n.self, &w.Total, w.Expiry, w.Sigs)
	if err != nil {
		return c.info(), fmt.Errorf("withdraw on chain (the countersigned withdrawal stays valid until %d): %w", w.Expiry, err)
	}
	c.mu.Lock()
	_ = c.ch.ChainWithdrawn(c.self, &w.Total)
	c.persistLocked(c.event(storev1.ChannelEventKind_CHANNEL_EVENT_KIND_WITHDRAWN, "withdrawal in "+rcpt.TxHash.Hex(), &w.Total), nil)
	c.mu.Unlock()
	return c.info(), nil
}

// CloseChannel closes cooperatively: it stops new payments, lets the ones
// in flight finish, signs the net balances, has the peer countersign, and
// submits the close; the adjudicator pays out at once.
func (n *Node) CloseChannel(ctx context.Context, id channel.ID) (ChannelInfo, error) {
	c, err := n.channelByID(id)
	if err != nil {
		return ChannelInfo{}, err
	}
	if err := c.begin(busyClosing); err != nil {
		return ChannelInfo{}, err
	}
	defer c.end(busyClosing)
	c.drain(ctx, 5*time.Second)

	c.mu.Lock()
	if c.sess == nil || !c.ready {
		c.mu.Unlock()
		return ChannelInfo{}, wrapf(ErrNotConnected, "%s (force close instead?)", c.peer)
	}
	c.failQueued(channel.ErrClosing)
	terms, err := c.ch.ProposeClose(n.now()+n.cfg.TermsLifetime, n.now(), n.key)
	if err != nil {
		c.mu.Unlock()
		return ChannelInfo{}, err
	}
	wait := c.awaitReply(replyClose)
	sess := c.sess
	c.persistLocked(c.event(storev1.ChannelEventKind_CHANNEL_EVENT_KIND_CLOSE_SIGNED, "signed close terms", nil), func() {
		sess.send(&peerv1.Message{Body: &peerv1.Message_CloseRequest{CloseRequest: &peerv1.CloseRequest{
			ChannelId: c.id[:], BalanceA: amountBytes(&terms.Balance[channel.A]), BalanceB: amountBytes(&terms.Balance[channel.B]),
			Expiry: terms.Expiry, Signature: sigBytes(terms.Sigs[c.self]),
		}}})
	})
	c.mu.Unlock()

	r := n.waitReply(wait)
	c.mu.Lock()
	if r.err == nil {
		terms, r.err = c.ch.CloseCountersigned(r.sig)
	}
	if r.err != nil {
		delete(c.replies, replyClose)
		c.mu.Unlock()
		return c.info(), fmt.Errorf("close: %w (this node's signature stays valid until chain time %d; payments resume after)", r.err, terms.Expiry)
	}
	c.persistLocked(nil, nil)
	params := c.ch.Params()
	c.mu.Unlock()
	return n.submitClose(c, params, terms)
}

func (n *Node) submitClose(c *chanState, params channel.Params, terms channel.CloseTerms) (ChannelInfo, error) {
	cctx, cancel := n.chainCtx()
	defer cancel()
	rcpt, err := n.chain.CooperativeClose(cctx, settlementParams(params), terms.Balance, terms.Expiry, terms.Sigs)
	if err != nil {
		return c.info(), fmt.Errorf("cooperative close on chain: %w", err)
	}
	c.mu.Lock()
	_ = c.ch.ChainCooperativelyClosed()
	mine := terms.Balance[c.self]
	c.persistLocked(c.event(storev1.ChannelEventKind_CHANNEL_EVENT_KIND_COOPERATIVELY_CLOSED, "closed in "+rcpt.TxHash.Hex(), &mine), nil)
	c.resolveClosed(&terms)
	c.mu.Unlock()
	return c.info(), nil
}

// drain waits until no proof of this node's is in flight, up to d.
func (c *chanState) drain(ctx context.Context, d time.Duration) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		empty := len(c.flight) == 0 && len(c.queue) == 0
		wake := c.acked
		c.mu.Unlock()
		if empty {
			return
		}
		select {
		case <-wake:
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// resolveClosed finishes payments still waiting when a channel closed: the
// ones the final terms cover are complete, the rest failed. c.mu held.
func (c *chanState) resolveClosed(terms *channel.CloseTerms) {
	for _, f := range c.flight {
		for _, p := range f.payments {
			p.refused(fmt.Errorf("%w: channel closed before the peer acknowledged the payment", ErrPeerRefused))
		}
	}
	c.flight = nil
	c.failQueued(errors.New("channel closed"))
	close(c.acked)
	c.acked = make(chan struct{})
	_ = terms
}

// ForceClose closes the channel without the peer, presenting the newest
// proofs this node holds; the challenge period starts, and the node's
// watcher settles after it.
func (n *Node) ForceClose(ctx context.Context, id channel.ID) (ChannelInfo, error) {
	c, err := n.channelByID(id)
	if err != nil {
		return ChannelInfo{}, err
	}
	if err := c.begin(busyForce); err != nil {
		return ChannelInfo{}, err
	}
	defer c.end(busyForce)
	c.mu.Lock()
	peers, own, err := c.ch.ForceCloseProofs()
	params := c.ch.Params()
	c.mu.Unlock()
	if err != nil {
		return ChannelInfo{}, err
	}
	cctx, cancel := n.chainCtx()
	defer cancel()
	rcpt, err := n.chain.ForceClose(cctx, settlementParams(params), settlementProof(peers), settlementProof(own))
	if err != nil {
		return c.info(), fmt.Errorf("force close: %w", err)
	}
	n.log.Info("force closed", "channel", id, "tx", rcpt.TxHash)
	if err := n.reconcile(cctx, c); err != nil {
		n.log.Warn("reading the channel after force close", "channel", id, "err", err)
	}
	return c.info(), nil
}

// Settle settles a force-closed channel once its challenge period is over.
// The adjudicator pays out; anything it could not push is withdrawn from
// its ledger.
func (n *Node) Settle(ctx context.Context, id channel.ID) (ChannelInfo, error) {
	c, err := n.channelByID(id)
	if err != nil {
		return ChannelInfo{}, err
	}
	if err := n.settle(c); err != nil {
		return c.info(), err
	}
	return c.info(), nil
}

func (n *Node) settle(c *chanState) error {
	if err := c.begin(busySettle); err != nil {
		return err
	}
	defer c.end(busySettle)
	c.mu.Lock()
	params, phase := c.ch.Params(), c.ch.Phase()
	d, _ := c.ch.Dispute()
	c.mu.Unlock()
	if phase != channel.Closed {
		return &channel.PhaseError{Op: "settle", Phase: phase}
	}
	if now := n.now(); now <= d.SettleAfter {
		return fmt.Errorf("%w: challenge period runs until chain time %d (%ds from now)", channel.ErrWrongPhase, d.SettleAfter, d.SettleAfter-now)
	}
	cctx, cancel := n.chainCtx()
	defer cancel()
	rcpt, err := n.chain.Settle(cctx, settlementParams(params))
	if err != nil {
		return fmt.Errorf("settle: %w", err)
	}
	n.log.Info("settled", "channel", c.id, "tx", rcpt.TxHash)
	if err := n.reconcile(cctx, c); err != nil {
		n.log.Warn("reading the channel after settle", "channel", c.id, "err", err)
	}
	n.withdrawPayout(cctx, params.Asset)
	return nil
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
