package node

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/holiman/uint256"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
	"github.com/tinypay/tinypay/store"
)

// chanState is one channel: its state machine and the node's bookkeeping
// around it. Everything is guarded by mu, which is held only for short,
// non-blocking work (a signature or a verification at most); lock order is
// Node.mu before chanState.mu, never the other way.
type chanState struct {
	n       *Node
	id      channel.ID
	peer    crypto.Address
	self    channel.Side
	created time.Time

	mu sync.Mutex
	ch *channel.Channel

	sess  *session // live session with the peer, if any
	ready bool     // reestablished on sess: proofs may flow

	queue  []*payment  // waiting for a proof
	flight []*inflight // signed, not yet acknowledged, in nonce order

	durableNonce uint64 // newest own proof known durable
	sentNonce    uint64 // newest own proof sent to the peer on this session

	// recovering: this node adopted its own newest proof from the peer
	// (it crashed after sending it, before its write was durable) and waits
	// for the payments that proof covers; no payment flows meanwhile.
	recovering   bool
	recoverAfter uint64
	recovered    map[string]*storev1.Payment // idempotency keys restored that way

	acked   chan struct{} // closed and replaced whenever an ack arrives
	busy    string        // the chain or signing operation in progress, if any
	replies map[replyKind]chan reply
	refresh time.Time // last time the chain was read on the peer's behalf
}

// inflight is one signed proof and the payments it adds.
type inflight struct {
	proof    channel.Proof
	payments []*payment
	durable  bool
}

type replyKind uint8

const (
	replyWithdraw replyKind = iota + 1
	replyClose
)

type reply struct {
	sig crypto.Signature
	err error
}

func (n *Node) newChanState(ch *channel.Channel, created time.Time) *chanState {
	p := ch.Params()
	return &chanState{
		n: n, id: ch.ID(), self: ch.Self(), peer: p.Participants[ch.Self().Other()], created: created,
		ch: ch, acked: make(chan struct{}), replies: make(map[replyKind]chan reply),
	}
}

// inUse reports whether the channel still needs its peer.
func (c *chanState) inUse() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ph := c.ch.Phase()
	return ph == channel.Open || ph == channel.Closing || ph == channel.Opening
}

// attach starts reestablishing the channel on a new session: tell the peer
// the newest proof of theirs held here and the newest nonce signed here.
func (c *chanState) attach(s *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sess, c.ready, c.sentNonce = s, false, 0
	if c.ch.Phase() == channel.Settled {
		return
	}
	recv := c.ch.Received()
	msg := &peerv1.Reestablish{ChannelId: c.id[:], SentNonce: c.durableNonce}
	if !recv.IsZero() {
		msg.Held = proofMessage(recv, nil)
	}
	s.send(&peerv1.Message{Body: &peerv1.Message_Reestablish{Reestablish: msg}})
}

func (c *chanState) detach(s *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess == s {
		c.sess, c.ready = nil, false
	}
}

// onReestablish handles the peer's Reestablish: adopt a newer proof of ours
// the peer holds (this node lost it), or resend what the peer lacks, then
// let payments flow.
func (c *chanState) onReestablish(s *session, m *peerv1.Reestablish) error {
	var held channel.Proof
	if h := m.GetHeld(); h != nil {
		p, _, err := decodeProof(h)
		if err != nil {
			return err
		}
		held = p
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess != s {
		return nil // a stale session
	}
	prevSent := c.ch.Sent()
	resend, err := c.ch.Reestablish(held)
	switch {
	case errors.Is(err, channel.ErrPeerLostData):
		c.n.log.Error("peer lost a proof it acknowledged", "channel", c.id, "peer", c.peer, "err", err)
		c.logEvent(storev1.ChannelEventKind_CHANNEL_EVENT_KIND_WARNING, "peer lost an acknowledged proof; resending", nil)
	case err != nil:
		return err
	}
	if sent := c.ch.Sent(); sent.Nonce > prevSent.Nonce {
		// This node lost its newest proofs (a crash after sending them,
		// before its own write was durable); the peer's copy is authentic
		// and now ours. Before any payment flows, get back the payments it
		// covers, with their idempotency keys, so a retry cannot pay twice.
		c.n.log.Warn("recovered own proof from peer", "channel", c.id, "nonce", sent.Nonce)
		c.durableNonce = max(c.durableNonce, sent.Nonce)
		b := store.NewBatch()
		if err := b.PutProof(uint32(c.self), proofRecord(sent)); err != nil {
			return err
		}
		c.logEventTo(b, storev1.ChannelEventKind_CHANNEL_EVENT_KIND_WARNING, fmt.Sprintf("recovered own proof %d from the peer after a restart", sent.Nonce), nil)
		c.n.commitAsync(b, func(store.Result, error) {})
		c.recovering, c.recoverAfter = true, prevSent.Nonce
		c.sentNonce = sent.Nonce
		s.send(&peerv1.Message{Body: &peerv1.Message_RecoverRequest{RecoverRequest: &peerv1.RecoverRequest{ChannelId: c.id[:], AfterNonce: prevSent.Nonce}}})
		time.AfterFunc(c.n.cfg.RequestTimeout, func() { c.recoveryTimeout(s) })
		return nil
	}
	c.sentNonce = held.Nonce
	c.ready = true
	if resend != nil && c.ch.Sent().Nonce > held.Nonce {
		c.resendFrom(held.Nonce)
	}
	c.completeAcked(c.ch.Acked())
	c.pump()
	return nil
}

// recoveryTimeout gives up waiting for Recovered: payments flow again, and
// a retried key of a lost payment could pay twice; say so loudly.
func (c *chanState) recoveryTimeout(s *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.recovering || c.sess != s {
		return
	}
	c.n.log.Error("peer did not return the payments of a recovered proof", "channel", c.id, "peer", c.peer)
	c.logEvent(storev1.ChannelEventKind_CHANNEL_EVENT_KIND_WARNING, "the peer did not return the payments of a recovered proof; their records are missing", nil)
	c.recovering, c.ready = false, true
	c.pump()
}

// onRecoverRequest: the peer lost payments it sent us; send back what our
// log holds of them.
func (c *chanState) onRecoverRequest(s *session, m *peerv1.RecoverRequest) {
	c.mu.Lock()
	upTo := c.ch.Received().Nonce
	c.mu.Unlock()
	recs := c.n.paymentsAfter(c.id, storev1.Direction_DIRECTION_INCOMING, m.GetAfterNonce(), upTo)
	out := &peerv1.Recovered{ChannelId: c.id[:]}
	for _, p := range recs {
		out.Payments = append(out.Payments, &peerv1.RecoveredPayment{Nonce: p.GetNonce(), Cumulative: p.GetCumulative(), Part: &peerv1.PaymentPart{
			PaymentId: p.GetRemoteId(), Amount: p.GetAmount(), ItemId: p.GetItemId(), Memo: p.GetMemo(), IdempotencyKey: p.GetRemoteKey(),
		}})
	}
	s.send(&peerv1.Message{Body: &peerv1.Message_Recovered{Recovered: out}})
}

// onRecovered restores the records of this node's payments that a recovered
// proof covers, then lets payments flow; queued retries of those payments
// are answered from the restored records instead of paying again.
func (c *chanState) onRecovered(s *session, m *peerv1.Recovered) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.recovering || c.sess != s {
		return
	}
	sent := c.ch.Sent()
	recs, err := c.checkRecovered(m, sent)
	if err != nil {
		c.n.log.Warn("peer returned bad recovery data", "channel", c.id, "err", err)
		c.logEvent(storev1.ChannelEventKind_CHANNEL_EVENT_KIND_WARNING, "the peer returned bad recovery data: "+err.Error(), nil)
		c.recovering, c.ready = false, true
		c.pump()
		return
	}
	b := store.NewBatch()
	now := c.n.clock.Now()
	for _, r := range recs {
		if err := b.AppendLog(&storev1.LogEntry{TimeUnixNano: now.UnixNano(), Entry: &storev1.LogEntry_Payment{Payment: r}}); err != nil {
			c.n.fail(err)
			return
		}
	}
	c.n.commitAsync(b, func(res store.Result, err error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if err != nil {
			return
		}
		if c.recovered == nil {
			c.recovered = map[string]*storev1.Payment{}
		}
		for _, r := range recs {
			if r.GetIdempotencyKey() != "" {
				c.recovered[r.GetIdempotencyKey()] = r
			}
		}
		c.n.log.Info("restored payment records from the peer", "channel", c.id, "payments", len(recs))
		kept := c.queue[:0]
		for _, p := range c.queue {
			if !c.answerRecovered(p) {
				kept = append(kept, p)
			}
		}
		clear(c.queue[len(kept):])
		c.queue = kept
		c.recovering, c.ready = false, true
		c.completeAcked(c.ch.Acked())
		c.pump()
	})
}

// answerRecovered finishes a queued payment whose key a recovered record
// holds: it was paid before the crash. c.mu held.
func (c *chanState) answerRecovered(p *payment) bool {
	r := c.recovered[p.key]
	if r == nil {
		return false
	}
	amt, _ := parseAmount("amount", r.GetAmount())
	if !amt.Eq(&p.amount) || r.GetItemId() != p.itemID || r.GetMemo() != p.memo {
		p.fail(wrapf(ErrIdempotency, "key %q", p.key))
		return true
	}
	p.id = [32]byte(r.GetId())
	p.nonce = r.GetNonce()
	p.cumulative, _ = parseAmount("cumulative", r.GetCumulative())
	p.time = time.Unix(0, r.GetTimeUnixNano())
	p.durable()
	p.complete()
	return true
}

// checkRecovered validates the peer's recovery data against the recovered
// proof: the payments must add up to exactly what it covers.
func (c *chanState) checkRecovered(m *peerv1.Recovered, sent channel.Proof) ([]*storev1.Payment, error) {
	var before uint256.Int
	var sum uint256.Int
	var out []*storev1.Payment
	for i, rp := range m.GetPayments() {
		pp := rp.GetPart()
		if pp == nil {
			return nil, fmt.Errorf("%w: payment %d has no part", errMalformed, i)
		}
		id, err := parseHash("payment id", pp.GetPaymentId())
		if err != nil {
			return nil, err
		}
		amt, err := parseAmount("amount", pp.GetAmount())
		if err != nil {
			return nil, err
		}
		cum, err := parseAmount("cumulative", rp.GetCumulative())
		if err != nil {
			return nil, err
		}
		if rp.GetNonce() <= c.recoverAfter || rp.GetNonce() > sent.Nonce || amt.IsZero() || cum.Gt(&sent.Transferred) {
			return nil, fmt.Errorf("%w: payment %d is outside the recovered proofs", errMalformed, i)
		}
		if err := checkParts([]part{{id: id, amount: amt, itemID: pp.GetItemId(), memo: pp.GetMemo(), key: pp.GetIdempotencyKey()}}); err != nil {
			return nil, err
		}
		if i == 0 {
			before.Sub(&cum, &amt)
		}
		sum.Add(&sum, &amt)
		out = append(out, &storev1.Payment{
			Id: id[:], IdempotencyKey: pp.GetIdempotencyKey(), ChannelId: c.id[:], Direction: storev1.Direction_DIRECTION_OUTGOING,
			Amount: amountBytes(&amt), Cumulative: amountBytes(&cum), Nonce: rp.GetNonce(), TimeUnixNano: c.n.clock.Now().UnixNano(),
			ItemId: pp.GetItemId(), Memo: pp.GetMemo(), Peer: c.peer[:],
		})
	}
	var want uint256.Int
	want.Sub(&sent.Transferred, &before)
	if len(out) == 0 || !sum.Eq(&want) {
		return nil, fmt.Errorf("%w: recovered payments add up to %s, the proofs cover %s", errMalformed, sum.Dec(), want.Dec())
	}
	return out, nil
}

// resendFrom sends the newest proof with the parts of every payment above
// nonce after, so the peer learns what each covered payment was: the parts
// of proofs still in flight come from memory, older ones (acknowledged, so
// durable) from the log.
func (c *chanState) resendFrom(after uint64) {
	sent := c.ch.Sent()
	var mem []*peerv1.PaymentPart
	first := sent.Nonce + 1 // the oldest nonce whose parts are in memory
	for i := len(c.flight) - 1; i >= 0; i-- {
		f := c.flight[i]
		if f.proof.Nonce <= after || f.proof.Nonce != first-1 {
			break
		}
		mem = append(partsOf(f.payments), mem...)
		first = f.proof.Nonce
	}
	var parts []*peerv1.PaymentPart
	if first > after+1 {
		parts = c.n.outgoingParts(c.id, after, first-1)
	}
	parts = append(parts, mem...)
	c.sess.send(&peerv1.Message{Body: &peerv1.Message_Proof{Proof: proofMessage(sent, parts)}})
	c.sentNonce = sent.Nonce
}

// pump signs proofs for queued payments while the pipeline has room,
// covering as many queued payments with one proof as the balance and
// MaxParts allow (coalescing), and queues each proof's write.
func (c *chanState) pump() {
	for c.canPay() == nil && len(c.queue) > 0 && len(c.flight) < c.n.cfg.MaxInFlight {
		avail := c.ch.Balance(c.self)
		var sum uint256.Int
		k := 0
		for k < len(c.queue) && k < c.n.cfg.MaxParts {
			var next uint256.Int
			if _, over := next.AddOverflow(&sum, &c.queue[k].amount); over || next.Gt(&avail) {
				break
			}
			sum, k = next, k+1
		}
		if k == 0 {
			p := c.queue[0]
			c.queue = c.queue[1:]
			p.fail(&channel.InsufficientBalanceError{Side: c.self, Need: p.amount, Available: avail})
			continue
		}
		pays := make([]*payment, k)
		copy(pays, c.queue)
		c.queue = c.queue[k:]
		proof, err := c.ch.Pay(&sum, c.n.key)
		if err != nil {
			for _, p := range pays {
				p.fail(err)
			}
			continue
		}
		var cum uint256.Int
		cum.Sub(&proof.Transferred, &sum)
		now := c.n.clock.Now()
		b := store.NewBatch()
		err = b.PutProof(uint32(c.self), proofRecord(proof))
		for _, p := range pays {
			cum.Add(&cum, &p.amount)
			p.cumulative, p.nonce, p.time = cum, proof.Nonce, now
			if err == nil {
				err = b.AppendLog(p.logEntry(c))
			}
		}
		if err != nil {
			// Only a bug can get here: the records were validated.
			c.n.fail(fmt.Errorf("build payment batch: %w", err))
			for _, p := range pays {
				p.fail(err)
			}
			return
		}
		c.n.met.add(func(m *Metrics) prometheus.Counter { return m.ProofsSigned }, 1)
		f := &inflight{proof: proof, payments: pays}
		c.flight = append(c.flight, f)
		c.n.commitAsync(b, func(r store.Result, err error) { c.outgoingDurable(f, r, err) })
		// The proof leaves together with its write (ARCHITECTURE: "before
		// or together with"): a crash before the write lands is repaired
		// by adopting the peer's copy on reconnect, and the payments it
		// covers complete only once both the write and the ack are in.
		if c.sess != nil && proof.Nonce > c.sentNonce {
			c.sess.send(&peerv1.Message{Body: &peerv1.Message_Proof{Proof: proofMessage(proof, partsOf(pays))}})
			c.sentNonce = proof.Nonce
		}
	}
}

// canPay says why proofs cannot be signed now, or nil.
func (c *chanState) canPay() error {
	if c.ch.Phase() != channel.Open {
		return &channel.PhaseError{Op: "pay", Phase: c.ch.Phase()}
	}
	if c.busy == busyClosing {
		return channel.ErrClosing
	}
	if !c.ready {
		return ErrNotConnected
	}
	return nil
}

// outgoingDurable runs on the store's committer goroutine once a signed
// proof and its payments are on disk; if the peer has acknowledged it
// already, its payments are complete.
func (c *chanState) outgoingDurable(f *inflight, r store.Result, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		for _, p := range f.payments {
			p.fail(err)
		}
		return
	}
	for i, p := range f.payments {
		p.seq = r.Seqs[i]
		p.durable()
	}
	f.durable = true
	c.durableNonce = max(c.durableNonce, f.proof.Nonce)
	c.completeAcked(c.ch.Acked())
	c.pump()
}

// onAck completes every payment covered by an acknowledged proof.
func (c *chanState) onAck(nonce uint64, receipts []*peerv1.Receipt) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onReceipts(receipts)
	if err := c.ch.Ack(nonce); err != nil {
		c.n.log.Debug("ignored ack", "channel", c.id, "nonce", nonce, "err", err)
		return
	}
	c.completeAcked(nonce)
	c.pump()
}

func (c *chanState) completeAcked(nonce uint64) {
	i, done := 0, 0
	for i < len(c.flight) && c.flight[i].proof.Nonce <= nonce && c.flight[i].durable {
		for _, p := range c.flight[i].payments {
			p.complete()
		}
		done += len(c.flight[i].payments)
		i++
	}
	c.n.met.add(func(m *Metrics) prometheus.Counter { return m.PaymentsSent }, done)
	if i > 0 {
		clear(c.flight[:i])
		c.flight = c.flight[i:]
	}
	close(c.acked)
	c.acked = make(chan struct{})
}

// onNack: the peer refused a proof. A signed proof cannot be taken back, so
// its payments stay pending (a later acknowledged proof, or the close
// terms, will cover them); payments stop until the two sides resynchronise.
func (c *chanState) onNack(m *peerv1.Nack) {
	c.mu.Lock()
	defer c.mu.Unlock()
	reason := fmt.Sprintf("peer refused proof %d: %s", m.GetNonce(), m.GetReason())
	c.n.log.Warn("proof refused by peer", "channel", c.id, "nonce", m.GetNonce(), "reason", m.GetReason())
	c.logEvent(storev1.ChannelEventKind_CHANNEL_EVENT_KIND_WARNING, reason, nil)
	for _, f := range c.flight {
		if f.proof.Nonce >= m.GetNonce() {
			for _, p := range f.payments {
				p.refused(fmt.Errorf("%w: %s", ErrPeerRefused, reason))
			}
		}
	}
	for _, p := range c.queue {
		p.fail(fmt.Errorf("%w: %s", ErrPeerRefused, reason))
	}
	c.queue = nil
	if c.sess != nil && c.ready {
		c.ready = false
		c.attach(c.sess) // resynchronise
	}
}

// onProof accepts an incoming proof: check it, apply it, queue its write,
// and acknowledge once durable.
func (c *chanState) onProof(s *session, m *peerv1.BalanceProof) {
	proof, parts, err := decodeProof(m)
	if err == nil {
		err = checkParts(parts)
	}
	if err != nil {
		c.nack(s, m.GetNonce(), codes.InvalidArgument, err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess != s || !c.ready {
		c.nack(s, proof.Nonce, codes.FailedPrecondition, errors.New("not reestablished yet"))
		return
	}
	if err := c.n.usable(); err != nil {
		c.nack(s, proof.Nonce, codes.Unavailable, err)
		return
	}
	offers, err := c.checkIncomingOffers(parts)
	if err != nil {
		c.n.met.add(func(m *Metrics) prometheus.Counter { return m.ProofsRefused }, 1)
		c.nack(s, proof.Nonce, codeOf(err), err)
		return
	}
	amount, err := c.receive(proof, parts)
	if err != nil {
		c.n.releaseOffers(offers)
		c.n.met.add(func(m *Metrics) prometheus.Counter { return m.ProofsRefused }, 1)
		c.nack(s, proof.Nonce, codeOf(err), err)
		return
	}
	c.n.met.add(func(m *Metrics) prometheus.Counter { return m.ProofsAccepted }, 1)
	b := store.NewBatch()
	err = b.PutProof(uint32(c.self.Other()), proofRecord(proof))
	now := c.n.clock.Now()
	var cum uint256.Int
	cum.Sub(&proof.Transferred, &amount)
	var receipts []*peerv1.Receipt
	for i := range parts {
		part := &parts[i]
		cum.Add(&cum, &part.amount)
		if err == nil {
			err = b.AppendLog(incomingEntry(c, proof, i, part, cum, now))
		}
		if err == nil && part.wantReceipt {
			var r *peerv1.Receipt
			if r, err = c.signReceipt(part, cum, now); err == nil {
				receipts = append(receipts, r)
				err = b.PutReceipt(&storev1.Receipt{PaymentId: part.id[:], Time: r.GetTime(), Signature: r.GetSignature()})
			}
		}
		if err == nil && part.stream != ([16]byte{}) {
			err = c.n.meterIncoming(b, c, part, now)
		}
	}
	if err != nil {
		c.n.fail(fmt.Errorf("build incoming batch: %w", err))
		return
	}
	nonce := proof.Nonce
	c.n.commitAsync(b, func(r store.Result, err error) {
		if err != nil {
			return // the node has failed: never acknowledge what is not on disk
		}
		c.n.releaseOffers(offers)
		s.send(&peerv1.Message{Body: &peerv1.Message_Ack{Ack: &peerv1.Ack{ChannelId: c.id[:], Nonce: nonce, Receipts: receipts}}})
		c.n.met.add(func(m *Metrics) prometheus.Counter { return m.PaymentsReceived }, len(parts))
	})
}

// signReceipt signs this node's receipt for an incoming payment.
func (c *chanState) signReceipt(p *part, cum uint256.Int, now time.Time) (*peerv1.Receipt, error) {
	var offer crypto.Hash
	if p.offer != nil {
		offer = p.offer.ID
	}
	t := uint64(now.Unix())
	f := receiptFields(c, p.id, c.peer, c.n.self, &p.amount, &cum, p.itemID, offer, t)
	sig, err := c.n.key.Sign(c.dom().ReceiptDigest(&f))
	if err != nil {
		return nil, err
	}
	return &peerv1.Receipt{PaymentId: p.id[:], Time: t, Signature: sig[:]}, nil
}

// receive applies a proof whose parts must add up to what it adds. If the
// peer's balance looks too low, or the channel is not open yet here, the
// chain may simply be ahead of this node: catch up once and retry.
func (c *chanState) receive(proof channel.Proof, parts []part) (uint256.Int, error) {
	var sum uint256.Int
	for _, p := range parts {
		if _, over := sum.AddOverflow(&sum, &p.amount); over {
			return uint256.Int{}, fmt.Errorf("%w: parts overflow", errMalformed)
		}
	}
	recv := c.ch.Received()
	if proof.Transferred.Gt(&recv.Transferred) {
		var want uint256.Int
		want.Sub(&proof.Transferred, &recv.Transferred)
		if !want.Eq(&sum) {
			return uint256.Int{}, fmt.Errorf("%w: parts add up to %s, the proof adds %s", errMalformed, sum.Dec(), want.Dec())
		}
	}
	amount, err := c.ch.Receive(proof)
	if staleChainView(err) && c.catchUp() {
		amount, err = c.ch.Receive(proof)
	}
	return amount, err
}

// staleChainView reports whether a peer's request may have been refused
// only because this node has not yet seen the chain the peer has: a top-up
// (balance), an open (phase) or a withdrawal the chain has already paid
// (pending). catchUp then reads the chain and the request is tried again.
func staleChainView(err error) bool {
	return errors.Is(err, channel.ErrInsufficientBalance) || errors.Is(err, channel.ErrWrongPhase) || errors.Is(err, channel.ErrWithdrawPending)
}

// catchUpEvery bounds how often a peer's proofs can make this node read
// the chain (a proof beyond the balance known here, e.g. right after the
// peer's top-up, before the watcher saw it).
const catchUpEvery = 250 * time.Millisecond

// catchUp reads the channel from the chain (at most every catchUpEvery) and
// applies what this node has not seen yet. It reports whether anything
// changed.
func (c *chanState) catchUp() bool {
	if time.Since(c.refresh) < catchUpEvery {
		return false
	}
	return c.catchUpNow()
}

// catchUpWait is catchUp for the peer's withdraw and close requests, which
// must not be refused just because a proof made this node read the chain a
// moment ago: it waits out the rest of catchUpEvery (c.mu held, so the
// channel pauses for at most that long) instead of skipping the read.
func (c *chanState) catchUpWait() bool {
	if d := catchUpEvery - time.Since(c.refresh); d > 0 {
		time.Sleep(d)
	}
	return c.catchUpNow()
}

func (c *chanState) catchUpNow() bool {
	c.refresh = time.Now()
	ctx, cancel := c.n.chainCtx()
	defer cancel()
	onchain, err := c.n.chain.Channel(ctx, c.id)
	if err != nil {
		c.n.log.Warn("chain read failed", "channel", c.id, "err", err)
		return false
	}
	before := c.ch.State()
	c.applyChain(onchain)
	after := c.ch.State()
	if before.Phase == after.Phase && before.Deposit == after.Deposit && before.ChainWithdrawn == after.ChainWithdrawn {
		return false
	}
	c.persistLocked(nil, nil)
	return true
}

func (c *chanState) nack(s *session, nonce uint64, code codes.Code, err error) {
	c.n.log.Info("refused proof", "channel", c.id, "peer", c.peer, "nonce", nonce, "err", err)
	s.send(&peerv1.Message{Body: &peerv1.Message_Nack{Nack: &peerv1.Nack{ChannelId: c.id[:], Nonce: nonce, Code: uint32(code), Reason: err.Error()}}})
}

// persistLocked queues a write of the channel record (and whatever extra
// adds) and calls durable, on the committer goroutine, once it is on disk;
// c.mu is held.
func (c *chanState) persistLocked(extra func(b *store.Batch) error, durable func()) {
	st := c.ch.State()
	b := store.NewBatch()
	err := b.PutChannel(channelRecord(&st, c.created, c.n.clock.Now()))
	if err == nil && extra != nil {
		err = extra(b)
	}
	if err != nil {
		c.n.fail(fmt.Errorf("build channel batch: %w", err))
		return
	}
	c.n.commitAsync(b, func(_ store.Result, err error) {
		if err == nil && durable != nil {
			durable()
		}
	})
}

// event returns an extra for persistLocked that logs a channel event.
func (c *chanState) event(kind storev1.ChannelEventKind, detail string, amount *uint256.Int) func(*store.Batch) error {
	return func(b *store.Batch) error {
		c.logEventTo(b, kind, detail, amount)
		return nil
	}
}

// logEvent queues a channel event on its own.
func (c *chanState) logEvent(kind storev1.ChannelEventKind, detail string, amount *uint256.Int) {
	b := store.NewBatch()
	c.logEventTo(b, kind, detail, amount)
	c.n.commitAsync(b, func(store.Result, error) {})
}

func (c *chanState) logEventTo(b *store.Batch, kind storev1.ChannelEventKind, detail string, amount *uint256.Int) {
	ev := &storev1.ChannelEvent{ChannelId: c.id[:], Kind: kind, Detail: detail, Peer: c.peer[:]}
	if amount != nil {
		ev.Amount = amountBytes(amount)
	}
	if err := b.AppendLog(&storev1.LogEntry{TimeUnixNano: c.n.clock.Now().UnixNano(), Entry: &storev1.LogEntry_ChannelEvent{ChannelEvent: ev}}); err != nil {
		c.n.log.Error("bad channel event", "err", err)
	}
}
