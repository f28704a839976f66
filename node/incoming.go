package node

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/holiman/uint256"
	"google.golang.org/protobuf/proto"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
	"github.com/tinypay/tinypay/store"
)

// incomingProof is a proof from the peer with what the reader found out
// before the channel's owner sees it.
type incomingProof struct {
	proof   channel.Proof
	parts   []Part
	at      time.Time         // when it arrived, for tinypay_proof_durable_seconds (zero without metrics)
	refuse  []error           // per part: the application refuses it (it is refunded)
	refund  []refundCheck     // per part: whether it refunds one of this node's payments
	release func(stored bool) // once the proof is durable (true) or refused (false)
	// unchecked: the channel was not open when the proof arrived, so the
	// checks that read the store were not made (see checkThen).
	unchecked bool
}

// refundCheck is what the reader found of a part that claims to refund one
// of this node's payments.
type refundCheck uint8

const (
	refundNo    refundCheck = iota // not a refund, or not a valid one
	refundDisk                     // the payment is on disk, of that amount, not refunded before
	refundMaybe                    // not on disk: the owner looks in its payments in flight
)

// incoming decodes and pre-checks a proof on the session's reader: the
// encoding, the parts, the application's checks (which may read the store)
// and the refunds it claims to make (which are looked up on disk).
func (n *Node) incoming(c *chanActor, m *peerv1.BalanceProof) (*incomingProof, error) {
	proof, parts, err := decodeProof(m)
	if err == nil && len(parts) > 0 {
		err = checkParts(parts)
	}
	if err != nil {
		return nil, err
	}
	return n.admit(c, proof, parts, false)
}

// incomingParts decodes and pre-checks payments sent ahead of their proof
// (ProofParts), as incoming does those in the proof.
func (n *Node) incomingParts(c *chanActor, m *peerv1.ProofParts) (*incomingProof, error) {
	parts, err := decodeParts(m.GetParts())
	if err == nil {
		err = checkParts(parts)
	}
	if err == nil && m.GetNonce() == 0 {
		err = fmt.Errorf("%w: nonce 0", ErrMalformed)
	}
	if err != nil {
		return nil, err
	}
	return n.admit(c, channel.Proof{Channel: c.id, Nonce: m.GetNonce()}, parts, true)
}

// admit runs the reader's checks of a proof's payments (ahead: sent
// ahead of the proof, which carries no amount yet).
func (n *Node) admit(c *chanActor, proof channel.Proof, parts []Part, ahead bool) (*incomingProof, error) {
	var err error
	for i := range parts {
		if p := &parts[i]; err == nil && p.RefundOf != ([32]byte{}) && (p.Offer != nil || p.Stream != ([16]byte{}) || p.WantReceipt || p.Key != "") {
			err = fmt.Errorf("%w: part %d is a refund and something else too", ErrMalformed, i)
		}
	}
	if err != nil {
		return nil, err
	}
	// The cheap checks first, against what the channel's owner published:
	// a proof that cannot be accepted costs no store read.
	// (The snapshot may lag the owner by a step: what it refuses, the owner
	// would refuse too, but for a phase change being made just now.)
	in := &incomingProof{proof: proof, parts: parts, release: func(bool) {}}
	if n.met != nil {
		in.at = time.Now()
	}
	switch ci := c.info(); {
	case ci.Phase == channel.Opening || ci.Phase == channel.Abandoned:
		// The chain may be ahead of this node: the owner reads it, and only
		// if the channel is open there are the costly checks made.
		in.unchecked = true
		return in, nil
	case ci.Phase == channel.Closing:
		return nil, fmt.Errorf("receive: %w", channel.ErrClosing)
	case ci.Phase != channel.Open:
		return nil, &channel.PhaseError{Op: "receive", Phase: ci.Phase}
	case proof.Nonce <= ci.ReceivedNonce:
		return nil, fmt.Errorf("%w: got %d, have %d", channel.ErrStaleNonce, proof.Nonce, ci.ReceivedNonce)
	case !ahead && !proof.Transferred.Gt(&ci.Received):
		return nil, fmt.Errorf("%w: got %s, have %s", channel.ErrNotIncreasing, proof.Transferred.Dec(), ci.Received.Dec())
	}
	n.check(c, in)
	return in, nil
}

// check makes the checks of an incoming proof that read the store: the
// refunds it claims to make, and the application's. It runs off the
// channel's owner.
func (n *Node) check(c *chanActor, in *incomingProof) {
	parts := in.parts
	in.refund = make([]refundCheck, len(parts))
	if c.info().SentNonce > 0 { // nothing to refund on a channel this node never paid on
		for i := range parts {
			if parts[i].RefundOf != ([32]byte{}) {
				in.refund[i] = n.refundable(c, &parts[i])
			}
		}
	}
	refuse, release := n.hooks.CheckIncoming(c.info(), parts)
	if release == nil {
		release = func(bool) {}
	}
	if len(refuse) != len(parts) {
		refuse = make([]error, len(parts))
	}
	var once sync.Once
	in.refuse, in.release, in.unchecked = refuse, func(stored bool) { once.Do(func() { release(stored) }) }, false
}

// maxPartsAhead bounds the payments kept for a proof that has not come
// yet (ProofParts): a resend covers at most what a node keeps in flight,
// with room for a resend read back from the log.
const maxPartsAhead = 64 << 10

// onProofParts keeps payments sent ahead of their proof.
func (c *chanActor) onProofParts(s *session, in *incomingProof) {
	if c.sess != s || !c.ready {
		c.refuseProof(s, in, errNotReestablished)
		return
	}
	if ahead := c.partsAhead; ahead != nil && ahead.proof.Nonce != in.proof.Nonce {
		c.dropPartsAhead()
	}
	if ahead := c.partsAhead; ahead != nil {
		if len(ahead.parts)+len(in.parts) > maxPartsAhead {
			c.dropPartsAhead()
			c.refuseProof(s, in, fmt.Errorf("%w: more than %d payments for one proof", ErrMalformed, maxPartsAhead))
			return
		}
		c.partsAhead = ahead.join(in)
		return
	}
	c.partsAhead = in
}

func (c *chanActor) dropPartsAhead() {
	if c.partsAhead != nil {
		c.partsAhead.release(false)
		c.partsAhead = nil
	}
}

// join returns the payments of in after those of a, one proof's.
func (a *incomingProof) join(in *incomingProof) *incomingProof {
	out := &incomingProof{proof: in.proof, parts: append(a.parts, in.parts...), at: a.at}
	ra, rb := a.release, in.release
	out.release = func(stored bool) { ra(stored); rb(stored) }
	if a.unchecked || in.unchecked {
		// The checks run again over all of them (checkThen); what the
		// checked ones reserved is given back first.
		ra(false)
		rb(false)
		out.release, out.unchecked = func(bool) {}, true
		return out
	}
	out.refuse = append(a.refuse, in.refuse...)
	out.refund = append(a.refund, in.refund...)
	return out
}

// checkThen makes the store-reading checks of a proof that arrived while
// the channel was not open here, off the owner, then handles it; the
// peer's later messages wait meanwhile.
func (c *chanActor) checkThen(s *session, in *incomingProof) {
	c.pause("checking a proof")
	ok := c.n.background(func() {
		c.n.check(c, in)
		c.do(func() {
			c.onProof(s, in)
			c.resume()
		})
	})
	if !ok {
		c.resume()
	}
}

// refundable looks up, on disk, the payment of this node's on channel c
// that a part claims to give back.
func (n *Node) refundable(c *chanActor, p *Part) refundCheck {
	e, err := n.store.PaymentByID(p.RefundOf)
	if errors.Is(err, store.ErrNotFound) {
		return refundMaybe
	}
	if err != nil {
		return refundNo
	}
	rec := e.GetPayment()
	amt, err := parseAmount("amount", rec.GetAmount())
	if err != nil || rec.GetDirection() != storev1.Direction_DIRECTION_OUTGOING || [32]byte(rec.GetChannelId()) != c.id || !amt.Eq(&p.Amount) {
		return refundNo
	}
	if done, err := n.refundRecord(p.RefundOf); done != nil || err != nil {
		return refundNo // refunded before, or not known
	}
	return refundDisk
}

// checkRefunds counts the payments of in that the application refuses,
// against MaxRefundsPerMinute: each is recorded and refunded with a proof
// of this node's, which a peer could otherwise make the node sign and store
// without end at no cost of its own. Over the bound the whole proof is
// refused instead, which stores nothing; the payer resends it later. A
// proof is always taken in a minute with no refunds yet, however many it
// refuses, so that no proof is refused for ever. The caller adds the count
// once the proof is accepted.
func (c *chanActor) checkRefunds(in *incomingProof) (int, error) {
	k := 0
	for i := range in.refuse {
		if in.refuse[i] != nil && in.refund[i] == refundNo {
			k++
		}
	}
	if k == 0 {
		return 0, nil
	}
	now := c.n.clock.Now()
	if now.Sub(c.refusals.since) >= time.Minute {
		c.refusals.since, c.refusals.n = now, 0
	}
	if limit := c.n.cfg.MaxRefundsPerMinute; c.refusals.n > 0 && c.refusals.n+k > limit {
		c.n.bounds.Refused(BoundRefunds, "channel", c.id, "peer", c.peer, "limit", limit)
		return 0, wrapf(ErrResourceExhausted, "this proof pays for %d items this node refuses, and the channel had %d such refunds in the last minute, the most it makes; the proof is refused whole, send it again later", k, c.refusals.n)
	}
	return k, nil
}

// nack refuses a proof: it changes nothing here. It is logged at debug
// level only: a peer can send refused proofs as fast as it likes, and
// tinypay_proofs_refused_total counts them.
func (c *chanActor) nack(s *session, nonce uint64, err error) {
	c.n.log.Debug("refused proof", "channel", c.id, "peer", c.peer, "nonce", nonce, "err", err)
	s.send(&peerv1.Message{Body: &peerv1.Message_Nack{Nack: &peerv1.Nack{ChannelId: c.id[:], Nonce: nonce, Code: peerCode(err), Reason: truncate(err.Error(), 1024)}}})
}

// staleChainView reports whether a peer's request may have been refused
// only because this node has not yet seen the chain the peer has: a top-up
// (balance), an open (phase) or a withdrawal the chain has already paid
// (pending). The owner then reads the chain and tries again.
func staleChainView(err error) bool {
	return errors.Is(err, channel.ErrInsufficientBalance) || errors.Is(err, channel.ErrWrongPhase) || errors.Is(err, channel.ErrWithdrawPending)
}

// catchUpEvery bounds how often a peer's messages can make this node read
// the chain.
const catchUpEvery = 250 * time.Millisecond

// readChainFirst decides, for a request refused with err, whether to read
// the chain and try again: if so it pauses the peer's messages, re-queues
// retry to run first once the chain's record is applied, and reports true.
// wait says whether the request may wait out catchUpEvery (withdraw and
// close requests) rather than be refused at once (proofs).
//
// A request is retried once: if the chain's record does not change the
// answer, the retry refuses it. Channels the chain can no longer change
// (closed, settled) are not read for it.
func (c *chanActor) readChainFirst(err error, wait bool, retry func()) bool {
	if c.retrying || !staleChainView(err) {
		return false
	}
	switch c.ch.Phase() {
	case channel.Closed, channel.Settled:
		return false
	}
	d := catchUpEvery - time.Since(c.lastRead)
	if d > 0 && !wait {
		return false
	}
	c.pause("reading the chain")
	c.deferred = append([]func(){func() {
		c.retrying = true
		defer func() { c.retrying = false }()
		retry()
	}}, c.deferred...)
	read := func() {
		c.lastRead = time.Now()
		c.n.readChannel(c, func(oc settlementChannel, err error) {
			if err == nil {
				c.applyChain(oc)
			} else {
				c.n.log.Warn("chain read failed", "channel", c.id, "err", err)
			}
			c.resume()
		})
	}
	if d > 0 {
		c.after(d, read)
	} else {
		read()
	}
	return true
}

// onProof accepts an incoming proof: check it, apply it, write it with its
// payments, and acknowledge it once durable. Parts the application refused
// are recorded as refused and refunded at once with a proof of this node's.
func (c *chanActor) onProof(s *session, in *incomingProof) {
	if c.sess != s || !c.ready {
		c.refuseProof(s, in, errNotReestablished)
		return
	}
	if err := c.n.usable(); err != nil {
		c.refuseProof(s, in, err)
		return
	}
	if c.partsAhead != nil {
		if ahead := c.partsAhead; ahead.proof.Nonce == in.proof.Nonce {
			c.partsAhead = nil
			in = ahead.join(in)
		} else {
			c.dropPartsAhead()
		}
	}
	if len(in.parts) == 0 {
		c.refuseProof(s, in, fmt.Errorf("%w: a proof must cover at least one payment", ErrMalformed))
		return
	}
	if in.unchecked {
		if c.ch.Phase() == channel.Open {
			c.checkThen(s, in)
			return
		}
		err := &channel.PhaseError{Op: "receive", Phase: c.ch.Phase()}
		if !c.readChainFirst(err, false, func() { c.onProof(s, in) }) {
			c.refuseProof(s, in, err)
		}
		return
	}
	catchingUp := c.catchingUp(in.proof.Nonce)
	if catchingUp {
		// Resent after a restore: this node may have acknowledged it
		// before, and refunded what it refused then (its own proofs,
		// adopted from the peer, hold the refunds). So nothing is refunded
		// again, and its payments are taken as they were, but for a second
		// payment of an offer paid already: the store keeps one payment
		// per offer, so it is recorded as refused (see behind.go).
		for i, err := range in.refuse {
			if err != nil && peerCode(err) != codeAlreadyExists {
				in.refuse[i] = nil
			}
		}
	}
	proof, parts := in.proof, in.parts
	var sum uint256.Int
	for i := range parts {
		if _, over := sum.AddOverflow(&sum, &parts[i].Amount); over {
			c.refuseProof(s, in, fmt.Errorf("%w: parts overflow", ErrMalformed))
			return
		}
	}
	recv := c.ch.Received()
	if proof.Transferred.Gt(&recv.Transferred) {
		var want uint256.Int
		want.Sub(&proof.Transferred, &recv.Transferred)
		if !want.Eq(&sum) {
			c.refuseProof(s, in, fmt.Errorf("%w: parts add up to %s, the proof adds %s", ErrMalformed, sum.Dec(), want.Dec()))
			return
		}
	}
	var refusals int
	if !catchingUp {
		var err error
		if refusals, err = c.checkRefunds(in); err != nil {
			c.refuseProof(s, in, err)
			return
		}
	}
	amount, err := c.ch.Receive(proof)
	if err != nil {
		if c.readChainFirst(err, false, func() { c.onProof(s, in) }) {
			return
		}
		c.refuseProof(s, in, err)
		return
	}
	c.refusals.n += refusals
	c.am.accepted(len(parts))
	now := c.n.clock.Now()
	b := c.batch()
	var cum uint256.Int
	cum.Sub(&proof.Transferred, &amount)
	var ex ackExtra
	var accepted []Part
	var refunds []*payment
	var refundSum uint256.Int
	type entry struct {
		e   *storev1.LogEntry
		new bool // its id is new: AppendNewPayment
	}
	entries := make([]entry, 0, len(parts))
	for i := range parts {
		p := &parts[i]
		cum.Add(&cum, &p.Amount)
		rec := c.incomingRecord(proof.Nonce, i, p, cum, now)
		switch {
		case in.refund[i] != refundNo && c.claimRefund(p, in.refund[i] == refundDisk):
			id := c.n.refundID(p.RefundOf)
			rec.Id, rec.RefundOf = id[:], p.RefundOf[:]
		case in.refuse[i] != nil && catchingUp:
			rec.Refused = truncate("resent after a restore, not refunded again: "+in.refuse[i].Error(), store.MaxReasonLen)
		case in.refuse[i] != nil:
			c.n.met.paymentRefused(in.refuse[i])
			reason := truncate(in.refuse[i].Error(), store.MaxReasonLen)
			rec.Refused, rec.RefusedCode = reason, peerCode(in.refuse[i])
			ex.refused = append(ex.refused, &peerv1.Refusal{PaymentId: p.ID[:], Code: peerCode(in.refuse[i]), Reason: reason})
			refunds = append(refunds, &payment{id: randomID(), chanID: c.id, peer: c.peer, amount: p.Amount,
				memo: reason, refundOf: [32]byte(rec.Id), refundOfPay: p.ID, done: make(chan struct{})})
			refundSum.Add(&refundSum, &p.Amount)
		default:
			accepted = append(accepted, *p)
			if p.WantReceipt {
				r, err := c.signReceipt(p, cum, now)
				if err != nil {
					c.n.fail(fmt.Errorf("sign receipt: %w", err))
					return
				}
				ex.receipts = append(ex.receipts, r)
				// Kept under the local id, which the peer cannot choose:
				// under its own id, a part naming one of this node's
				// payments would replace that payment's receipt.
				if err := b.PutReceipt(&storev1.Receipt{PaymentId: rec.Id, Time: r.GetTime(), Signature: r.GetSignature()}); err != nil {
					c.n.fail(fmt.Errorf("build incoming batch: %w", err))
					return
				}
			}
		}
		// An incoming id derives from a secret and a nonce above every
		// stored one (incomingID): new, and out of the peer's reach, so
		// the store need not look it up. A refund's (refundID) is one per
		// payment refunded: the store's look-up is the last guard against
		// a second refund of it.
		entries = append(entries, entry{&storev1.LogEntry{TimeUnixNano: now.UnixNano(), Entry: &storev1.LogEntry_Payment{Payment: rec}}, len(rec.GetRefundOf()) == 0})
	}
	if len(accepted) > 0 {
		// Before the payments' entries: what the application logs of this
		// proof (a stream started or resumed by it, and the events of the
		// channel's streams that happened before it) precedes them.
		if err := c.n.hooks.Incoming(b, c.buildInfo(), accepted, now); err != nil {
			c.n.fail(fmt.Errorf("build incoming batch: %w", err))
			return
		}
	}
	for _, e := range entries {
		appendLog := b.AppendNewPayment
		if !e.new {
			appendLog = b.AppendLog
		}
		if err := appendLog(e.e); err != nil {
			c.n.fail(fmt.Errorf("build incoming batch: %w", err))
			return
		}
	}
	if len(refunds) > 0 {
		// Give the refused payments back at once: the amount just arrived,
		// so the balance always allows it.
		refund, err := c.ch.Refund(&refundSum, c.n.key)
		if err != nil {
			c.n.fail(fmt.Errorf("refund: %w", err))
			return
		}
		c.signed(refund, refunds)
		c.n.log.Info("refused and refunded payments", "channel", c.id, "payments", len(refunds), "amount", refundSum.Dec())
	}
	if c.step.acks == nil {
		c.step.acks = map[uint64]ackExtra{}
	}
	c.step.acks[proof.Nonce] = ex
	if len(ex.receipts) > 0 || len(ex.refused) > 0 {
		c.keepAck(proof.Nonce, ex)
	}
	release, at := in.release, in.at
	c.step.durable = append(c.step.durable, func(err error) { release(err == nil) })
	c.step.durable = append(c.step.durable, func(err error) {
		if err == nil { // on the committer goroutine
			c.setDurableRecv(&proof)
			c.am.durable(at)
			c.n.proofDurable(c, proof)
		}
	})
}

// claimRefund checks, on the owner, that a part refunds a payment of ours
// (on disk, or in flight here) not refunded in a write still in flight,
// and claims it.
func (c *chanActor) claimRefund(p *Part, onDisk bool) bool {
	if c.refunds[p.RefundOf] {
		return false
	}
	var found *payment
	for _, f := range c.flight {
		for _, q := range f.payments {
			if q.id == p.RefundOf && q.book != nil {
				found = q
			}
		}
	}
	switch {
	case found != nil && !found.amount.Eq(&p.Amount):
		return false
	case found != nil:
		found.refunded, found.refundMemo = true, p.Memo
	case !onDisk:
		return false
	}
	if c.refunds == nil {
		c.refunds = map[[32]byte]bool{}
	}
	// Kept for the process's life (one entry per refunded payment of this
	// node's): a claim whose disk check ran before this refund was written
	// must still be refused.
	c.refunds[p.RefundOf] = true
	return true
}

func (c *chanActor) refuseProof(s *session, in *incomingProof, err error) {
	in.release(false)
	c.n.met.proofRefused(err)
	c.nack(s, in.proof.Nonce, err)
}

// incomingRecord is the log record of part i of an incoming proof.
func (c *chanActor) incomingRecord(nonce uint64, i int, p *Part, cum uint256.Int, now time.Time) *storev1.Payment {
	id := incomingID(c.n.idSalt, c.id, nonce, i)
	rec := &storev1.Payment{
		Id: id[:], ChannelId: c.id[:], Direction: storev1.Direction_DIRECTION_INCOMING,
		Amount: amountBytes(&p.Amount), Cumulative: amountBytes(&cum), Nonce: nonce,
		TimeUnixNano: now.UnixNano(), ItemId: p.ItemID, Memo: p.Memo, Peer: c.peer[:], RemoteId: p.ID[:], RemoteKey: p.Key,
		StreamId: optionalID(p.Stream[:]), WantReceipt: p.WantReceipt,
	}
	if p.Offer != nil {
		rec.OfferId, rec.OfferUses, rec.OfferMaxUses = p.Offer.ID[:], uint32(p.Offer.Uses), p.Offer.MaxUses
	}
	return rec
}

// signReceipt signs this node's receipt for an incoming payment.
func (c *chanActor) signReceipt(p *Part, cum uint256.Int, now time.Time) (*peerv1.Receipt, error) {
	var offer crypto.Hash
	if p.Offer != nil {
		offer = p.Offer.ID
	}
	t := uint64(now.Unix())
	f := c.receiptFields(p.ID, c.peer, c.n.self, &p.Amount, &cum, p.ItemID, offer, t)
	sig, err := c.n.key.Sign(c.ch.Domain().ReceiptDigest(&f))
	if err != nil {
		return nil, err
	}
	return &peerv1.Receipt{PaymentId: p.ID[:], Time: t, Signature: sig[:]}, nil
}

// resendAcks sends the peer, on s, the Ack of the newest proof of its this
// node holds on disk again, with the receipts and refusals of the payments
// after the peer's last Ack (peerAckTaken), when the peer says it lacks
// them: the Ack went out on a connection that was lost, or this node
// crashed between writing the proof and sending it. The payer reports none
// of those payments paid or refused until it has them.
//
// They come from memory (recentAcks) when it holds them, in this step, so
// after the proofs this node sends again (their refunds first). Otherwise
// (the node restarted since) from the log, once while the node runs: the
// peer's messages wait meanwhile, so that no fresh Ack overtakes it, and
// the node reads the log once for every channel that asks at once
// (readAcks). A payer that gets nothing completes its payments after
// RequestTimeout.
func (c *chanActor) resendAcks(s *session) {
	held := c.durableRecv.Load().Nonce
	if c.peerAckTaken >= held || c.acksResentFor == held+1 {
		return
	}
	c.acksResentFor = held + 1
	after := c.peerAckTaken
	if held > maxAckResendProofs {
		after = max(after, held-maxAckResendProofs)
	}
	if after+1 >= c.recentFrom {
		c.step.msgs = append(c.step.msgs, c.ackFromMemory(after, held))
		return
	}
	if c.ackDiskRead {
		return
	}
	c.ackDiskRead, c.ackReading = true, true
	c.pause(ackReadingWhy)
	c.n.wantAcks(&ackRead{id: c.id, after: after, upTo: held, done: func(kept []recentAck) {
		c.do(func() {
			c.ackReading = false
			if kept != nil {
				// Kept, for this session or the next (the link may have
				// gone meanwhile: the new one's Reestablish waited).
				older := slices.DeleteFunc(kept, func(r recentAck) bool { return r.nonce >= c.recentFrom }) // memory has those
				c.recentAcks = append(older[:len(older):len(older)], c.recentAcks...)
				c.recentFrom = min(c.recentFrom, after+1)
				if c.sess == s {
					c.step.msgs = append(c.step.msgs, c.ackFromMemory(after, held))
					c.flush() // out before the Acks of the proofs that waited
				}
			}
			c.resume()
		})
	}})
}

// ackFromMemory is the Ack of the peer's proof upTo, with the receipts and
// refusals recentAcks holds of its proofs after after: the newest, within
// half a message.
func (c *chanActor) ackFromMemory(after, upTo uint64) *peerv1.Message {
	ack := &peerv1.Ack{ChannelId: c.id[:], Nonce: upTo}
	size := 0
	for i := len(c.recentAcks) - 1; i >= 0 && size < bytesPerMessage/2; i-- {
		r := c.recentAcks[i]
		if r.nonce <= after || r.nonce > upTo {
			continue
		}
		for _, x := range r.ex.receipts {
			ack.Receipts, size = append(ack.Receipts, x), size+proto.Size(x)
		}
		for _, x := range r.ex.refused {
			ack.Refused, size = append(ack.Refused, x), size+proto.Size(x)
		}
	}
	return &peerv1.Message{Body: &peerv1.Message_Ack{Ack: ack}}
}

const ackReadingWhy = "reading acknowledgements to send again"

// recentAck is the receipts and refusals of one of the peer's proofs.
type recentAck struct {
	nonce uint64
	ex    ackExtra
}

func (r recentAck) count() int { return len(r.ex.receipts) + len(r.ex.refused) }

// keepAck keeps the receipts and refusals of the peer's proof nonce, for
// an Ack sent again (resendAcks): those of the newest proofs, keepAckItems
// of them at most (a proof with more is not kept).
func (c *chanActor) keepAck(nonce uint64, ex ackExtra) {
	c.recentAcks = append(c.recentAcks, recentAck{nonce, ex})
	n := 0
	for _, r := range c.recentAcks {
		n += r.count()
	}
	drop := 0
	for n > keepAckItems && drop < len(c.recentAcks) {
		n -= c.recentAcks[drop].count()
		c.recentFrom = max(c.recentFrom, c.recentAcks[drop].nonce+1)
		drop++
	}
	if drop > 0 {
		c.recentAcks = slices.Delete(c.recentAcks, 0, drop)
	}
}

// keepAckItems bounds the receipts and refusals a channel keeps for Acks
// sent again (a payer has MaxInFlight proofs in flight; most payments ask
// for no receipt): at 100,000 channels a few hundred bytes each.
const keepAckItems = 8

// maxAckResendProofs bounds the proofs whose receipts and refusals an Ack
// sent again carries, maxAckReadItems those one read of the log keeps,
// and maxAckResendScan the log entries one pass reads (for every channel
// waiting): the Acks were lost moments ago, so their payments are near the
// end of the log.
const (
	maxAckResendProofs = 64
	maxAckReadItems    = 256
	maxAckResendScan   = 256 << 10
)

// ackRead asks the log for the receipts and refusals of the payments of
// channel id's proofs after after, up to upTo; done gets them, oldest
// proof first (those found in the entries read, if the pass ended first),
// or nil if the node stops.
type ackRead struct {
	id          channel.ID
	after, upTo uint64
	done        func([]recentAck)
	recs        []*storev1.Payment // newest first
	found       bool               // a payment at or below after: nothing older is wanted
}

// ackReads holds the reads of the log for Acks to send again, which one
// goroutine makes together (readAcks).
type ackReads struct {
	mu      sync.Mutex
	pending []*ackRead
	running bool
}

func (n *Node) wantAcks(r *ackRead) {
	q := &n.ackReads
	q.mu.Lock()
	q.pending = append(q.pending, r)
	start := !q.running
	q.running = true
	q.mu.Unlock()
	if start && !n.background(n.readAcks) {
		q.mu.Lock()
		q.running = false
		q.mu.Unlock()
	}
}

// readAcks answers the pending reads, all those waiting at once with one
// pass backwards over the end of the log, until none is left.
func (n *Node) readAcks() {
	q := &n.ackReads
	for {
		q.mu.Lock()
		reads := q.pending
		q.pending = nil
		if len(reads) == 0 {
			q.running = false
		}
		q.mu.Unlock()
		if len(reads) == 0 {
			return
		}
		n.readAcksOnce(reads)
	}
}

func (n *Node) readAcksOnce(reads []*ackRead) {
	byID := make(map[channel.ID]*ackRead, len(reads))
	for _, r := range reads {
		byID[r.id] = r // one at a time per channel (ackReading)
	}
	left, read := len(reads), 0
	before := n.store.LastSeq() + 1
	for left > 0 && read < maxAckResendScan && n.ctx.Err() == nil {
		page, err := n.store.LogBefore(before, 256)
		if err != nil {
			n.log.Error("read log for acknowledgements to send again", "err", err)
			break
		}
		if len(page) == 0 {
			break
		}
		read += len(page)
		before = page[len(page)-1].GetSeq()
		for _, e := range page {
			p := e.GetPayment()
			if p == nil || p.GetDirection() != storev1.Direction_DIRECTION_INCOMING || len(p.GetChannelId()) != 32 {
				continue
			}
			r := byID[channel.ID(p.GetChannelId())]
			switch {
			case r == nil || r.found:
			case p.GetNonce() <= r.after:
				r.found = true
				left--
			case p.GetNonce() <= r.upTo && len(r.recs) < maxAckReadItems && (p.GetRefusedCode() != 0 || p.GetWantReceipt() && p.GetRefused() == "" && len(p.GetRefundOf()) == 0):
				r.recs = append(r.recs, p)
			}
		}
	}
	for _, r := range reads {
		if n.ctx.Err() != nil {
			r.done(nil)
			continue
		}
		r.done(n.keptOfRecords(r.id, r.recs))
	}
}

// incomingReceipt reads the receipt this node signed for incoming payment
// p: under its local id, or, for a receipt written before 2026-12-02
// (when receipts of incoming payments were keyed by the payer's id),
// under the payer's id.
func (n *Node) incomingReceipt(p *storev1.Payment) (*storev1.Receipt, error) {
	if p.GetRefused() != "" || p.GetRefusedCode() != 0 || len(p.GetRefundOf()) != 0 {
		// Never given one: under the payer's id the look-up would find
		// whatever receipt the peer's id names (one of this node's own).
		return nil, store.ErrNotFound
	}
	rc, err := n.store.Receipt([32]byte(p.GetId()))
	if errors.Is(err, store.ErrNotFound) && len(p.GetRemoteId()) == 32 {
		rc, err = n.store.Receipt([32]byte(p.GetRemoteId()))
	}
	return rc, err
}

// keptOfRecords groups the receipts and refusals of recs (newest first)
// by proof, oldest first.
func (n *Node) keptOfRecords(id channel.ID, recs []*storev1.Payment) []recentAck {
	out := []recentAck{}
	for i := len(recs) - 1; i >= 0; i-- {
		p := recs[i]
		if len(out) == 0 || out[len(out)-1].nonce != p.GetNonce() {
			out = append(out, recentAck{nonce: p.GetNonce()})
		}
		k := &out[len(out)-1]
		if p.GetRefusedCode() != 0 { // refused, and refunded when refused
			k.ex.refused = append(k.ex.refused, &peerv1.Refusal{PaymentId: p.GetRemoteId(), Code: p.GetRefusedCode(), Reason: p.GetRefused()})
			continue
		}
		rc, err := n.incomingReceipt(p)
		if err != nil {
			n.log.Warn("read a receipt to send again", "channel", id, "payment", p.GetRemoteId(), "err", err)
			continue
		}
		k.ex.receipts = append(k.ex.receipts, &peerv1.Receipt{PaymentId: p.GetRemoteId(), Time: rc.GetTime(), Signature: rc.GetSignature()})
	}
	return out
}

// --- recovery of own proofs lost in a crash ---

// recovery: this node adopted its own newest proof from the peer (it
// crashed after sending it, before its own write was durable) and waits for
// the payments that proof covers; no payment flows meanwhile.
//
// Which proofs' records are missing is on disk too (c.missing, written with
// the adopted proof), so that a restart before the peer answers asks again
// instead of letting a retry of a lost key pay twice.
type recovery struct {
	after     uint64                  // the newest own proof whose records this node holds
	afterSent uint256.Int             // what that proof transferred
	upTo      uint64                  // the newest own proof whose records are missing (0: the newest sent): the page asked for
	upToSent  uint256.Int             // what that proof transferred (with upTo)
	sess      *session                // the session it was asked on (nil: to be asked again)
	recovered map[string]recoveredPay // by idempotency key, once restored
	tries     int                     // requests before this one that failed
	failed    string                  // why the last one failed, for people
	failedOn  *session                // the session of the last failure: it asks again there after a pause only
}

// recoveredPay is the record of a payment restored from the peer, and the
// peer's receipt of it if it came and was valid.
type recoveredPay struct {
	rec     *storev1.Payment
	sent    *peerv1.Receipt // as the peer sent it, not yet checked
	receipt *ReceiptInfo
	onDisk  bool // the same record is on disk already (an earlier page, or a backup that had it): not written again
}

// recoveryTimeout: the peer did not answer r in time.
func (c *chanActor) recoveryTimeout(s *session, r *recovery) {
	if c.recovering != r || c.sess != s || r.recovered != nil {
		return
	}
	c.retryRecovery(s, r, fmt.Sprintf("the peer did not answer in %s", c.n.cfg.RequestTimeout))
}

// maxRecoveryPause bounds the pause between two requests for the same
// missing records.
const maxRecoveryPause = 5 * time.Minute

// retryRecovery: the peer's answer to r was bad, or none came. The records
// are still missing, so the channel stays behind (a retried key of a lost
// payment would pay twice), the marker stays on disk, and the peer is
// asked again on s after a pause that doubles up to maxRecoveryPause, or
// on its next session. The channel can still be force-closed.
func (c *chanActor) retryRecovery(s *session, r *recovery, why string) {
	if c.ch.Phase().Terminal() {
		c.recovering = nil // closed out: nothing is paid on it any more
		return
	}
	pause := min(recoveryRetry<<min(r.tries, 16), maxRecoveryPause)
	end := c.recoveryEnd(r)
	c.n.log.Error("the peer did not return the payments of own recovered proofs; the channel pays nothing until it does",
		"channel", c.id, "peer", c.peer, "why", why, "after_nonce", r.after, "up_to_nonce", end.Nonce, "asks_again_in", pause)
	c.event(storev1.ChannelEventKind_CHANNEL_EVENT_KIND_WARNING, fmt.Sprintf(
		"the peer did not return the payments of own proofs %d to %d (%s); the channel pays nothing until it does, or a retried payment could pay twice; asking again in %s (a force close gets the funds out)",
		r.after+1, end.Nonce, why, pause), nil)
	next := &recovery{after: r.after, afterSent: r.afterSent, upTo: r.upTo, upToSent: r.upToSent, tries: r.tries + 1, failed: why, failedOn: s}
	c.recovering = next
	c.after(pause, func() {
		switch {
		case c.recovering != next || next.sess != nil || c.sess != s || s == nil:
		case c.ch.Phase().Terminal():
			c.recovering = nil
		default:
			c.askRecovery(s, next)
		}
	})
}

// onRecoverRequest: the peer lost payments it sent us; send back what our
// log holds of them (read off the owner).
//
// Only what this node holds is looked for (nothing after its newest proof
// of the peer's), one request at a time per channel: each reads at most
// maxRecovered of the channel's own payment records (the store's index by
// channel), never the log of other channels.
func (c *chanActor) onRecoverRequest(s *session, m *peerv1.RecoverRequest) {
	upTo := c.durableRecv.Load().Nonce
	if u := m.GetUpToNonce(); u != 0 && u < upTo {
		upTo = u // a page of older proofs
	}
	after, id := m.GetAfterNonce(), c.id
	if after >= upTo {
		s.send(&peerv1.Message{Body: &peerv1.Message_Recovered{Recovered: &peerv1.Recovered{ChannelId: id[:], UpToNonce: upTo}}})
		return
	}
	if c.recoverReading {
		s.sendError(codeResourceExhausted, id[:], errors.New("a recovery request on this channel is being answered"))
		return
	}
	c.recoverReading = true
	c.n.background(func() {
		defer c.do(func() { c.recoverReading = false })
		recs := c.n.paymentsAfter(id, storev1.Direction_DIRECTION_INCOMING, after, upTo, maxRecovered)
		var rps []*peerv1.RecoveredPayment
		for _, p := range recs {
			rp := &peerv1.RecoveredPayment{Nonce: p.GetNonce(), Cumulative: p.GetCumulative(), Part: &peerv1.PaymentPart{
				PaymentId: p.GetRemoteId(), Amount: p.GetAmount(), ItemId: p.GetItemId(), Memo: p.GetMemo(), IdempotencyKey: p.GetRemoteKey(),
				WantReceipt: p.GetWantReceipt(),
			}, OfferId: p.GetOfferId()}
			if p.GetWantReceipt() {
				// The receipt given with the Ack the payer lost.
				if rc, err := c.n.incomingReceipt(p); err == nil {
					rp.Receipt = &peerv1.Receipt{PaymentId: p.GetRemoteId(), Time: rc.GetTime(), Signature: rc.GetSignature()}
				} else if !errors.Is(err, store.ErrNotFound) {
					c.n.log.Warn("read a receipt to recover", "channel", id, "payment", p.GetRemoteId(), "err", err)
				}
			}
			rps = append(rps, rp)
		}
		out := &peerv1.Recovered{ChannelId: id[:], Payments: newestWithin(rps, bytesPerMessage), UpToNonce: upTo}
		s.send(&peerv1.Message{Body: &peerv1.Message_Recovered{Recovered: out}})
	})
}

// maxRecovered bounds the payments one Recovered carries: the newest
// proofs' (a peer restored from an old backup may ask for many more; it
// gets the records of its latest payments, whose retries matter most).
const maxRecovered = 4096

// newestWithin returns the payments of the newest proofs in rps (oldest
// first) whose encoding fits in budget bytes, whole proofs only, and keeps
// their receipts, newest first, as far as the budget allows (the others
// are taken off rps's messages). The records come first: they are what
// keeps a retried key from paying twice; a receipt adds about half a
// record's size, so an older proof's records are never traded for a newer
// proof's receipts.
func newestWithin(rps []*peerv1.RecoveredPayment, budget int) []*peerv1.RecoveredPayment {
	// The receipts' share of each payment's encoding.
	extra := make([]int, len(rps))
	size, from := 0, len(rps)
	for from > 0 {
		start := from - 1
		for start > 0 && rps[start-1].GetNonce() == rps[start].GetNonce() {
			start--
		}
		without := 0
		for i, rp := range rps[start:from] {
			with := proto.Size(rp) + 8
			if r := rp.GetReceipt(); r != nil {
				rp.Receipt = nil
				extra[start+i] = with - (proto.Size(rp) + 8)
				rp.Receipt = r
			}
			without += with - extra[start+i]
		}
		if size+without > budget {
			break
		}
		size += without
		from = start
	}
	for i := len(rps) - 1; i >= from; i-- {
		if size+extra[i] <= budget {
			size += extra[i]
		} else {
			rps[i].Receipt = nil
		}
	}
	return rps[from:]
}

// onRecovered restores the records of this node's payments that a
// recovered proof covers, then lets payments flow; queued retries of those
// payments are answered from the restored records instead of paying again.
func (c *chanActor) onRecovered(s *session, m *peerv1.Recovered) {
	r := c.recovering
	if r == nil || c.sess != s || r.sess != s || r.recovered != nil {
		return // asked on another session, or not yet on this one
	}
	end := c.recoveryEnd(r)
	switch got, ps := m.GetUpToNonce(), m.GetPayments(); {
	case got > end.Nonce:
		// The answer to an earlier request, for newer proofs (a late one,
		// to a request asked again before the page before this one was
		// answered): the one asked now is still awaited.
		return
	case got == 0 && r.upTo != 0 && len(ps) > 0 && ps[len(ps)-1].GetNonce() > r.upTo:
		// Asked for an older page, the peer answered with newer proofs'
		// payments without saying which it looked up to: it does not page
		// (an older node). What it returned before is all it will return.
		c.warn(fmt.Sprintf("the peer returns no older pages of the payments of own proofs: the records of proofs %d to %d are not restored", r.after+1, r.upTo))
		c.recoveryDone(s, r)
		return
	}
	pays, err := c.checkRecovered(m, end, r.after, &r.afterSent)
	if err != nil {
		c.badRecovery(s, r, err)
		return
	}
	// The records take ids and keys from the peer: none may be on disk
	// already as another payment (the store would refuse the write, and
	// the node fail). That is looked up off the owner, and the receipts
	// are checked there; once this channel's writes in flight are on disk
	// (an earlier page's may be: this step's empty write comes after it),
	// or a record of it would not be found and be written twice.
	r.recovered = map[string]recoveredPay{} // answered: a second Recovered is ignored
	dom := c.ch.Domain()
	c.step.after = append(c.step.after, func(store.Result, error) {
		c.n.background(func() {
			err := c.n.recoveredFree(c.id, pays)
			if err == nil {
				c.checkRecoveredReceipts(dom, pays)
			}
			c.do(func() {
				if c.recovering != r || c.sess != s {
					return
				}
				if errors.Is(err, errRecoveryRead) {
					c.retryRecovery(s, r, "could not check them here: "+err.Error())
					return
				}
				if err != nil {
					c.badRecovery(s, r, err)
					return
				}
				c.restoreRecovered(s, r, pays)
			})
		})
	})
}

// checkRecoveredReceipts checks the receipts that came with recovered
// payments, off the owner: a valid one is kept (pays[i].receipt), a bad one
// dropped, and its payment restored without it. It reads only what does
// not change (the channel's id and parameters).
func (c *chanActor) checkRecoveredReceipts(dom crypto.Domain, pays []recoveredPay) {
	for i := range pays {
		p := &pays[i]
		if p.sent == nil {
			continue
		}
		rec := p.rec
		sig, err := parseSig("signature", p.sent.GetSignature())
		if err == nil {
			amt, _ := parseAmount("amount", rec.GetAmount())
			cum, _ := parseAmount("cumulative", rec.GetCumulative())
			var offer crypto.Hash
			copy(offer[:], rec.GetOfferId())
			f := c.receiptFields([32]byte(rec.GetId()), c.n.self, c.peer, &amt, &cum, rec.GetItemId(), offer, p.sent.GetTime())
			err = crypto.Verify(dom.ReceiptDigest(&f), sig, c.peer)
		}
		if err != nil {
			c.n.log.Warn("peer sent a bad receipt with a recovered payment", "channel", c.id, "payment", crypto.Hash(rec.GetId()), "err", err)
			continue
		}
		p.receipt = &ReceiptInfo{Time: p.sent.GetTime(), Sig: sig}
	}
}

// badRecovery: the peer answered r with data that does not check. The
// records are still missing: ask again (retryRecovery).
func (c *chanActor) badRecovery(s *session, r *recovery, err error) {
	c.retryRecovery(s, r, "bad data: "+err.Error())
}

// errRecoveryRead: recovered payments could not be checked against the
// store (a read failed); they are asked for again.
var errRecoveryRead = errors.New("read the store")

// recoveryRetry is how long a recovery whose check could not read the
// store waits before it asks the peer again.
const recoveryRetry = time.Second

// recoveredFree checks that no recovered payment's id or key is on disk as
// another payment: ErrMalformed if one is, errRecoveryRead if that cannot
// be read. A record that is on disk as it came (an earlier page's, asked
// for again after a reconnect, or one a backup held) is marked onDisk and
// not written again.
func (n *Node) recoveredFree(id channel.ID, pays []recoveredPay) error {
	for i := range pays {
		rec := pays[i].rec
		switch e, err := n.store.PaymentByID([32]byte(rec.GetId())); {
		case err == nil && sameRecovered(id, e.GetPayment(), rec):
			pays[i].onDisk = true
			continue
		case err == nil:
			return fmt.Errorf("%w: payment %x is known here already", ErrMalformed, rec.GetId()[:4])
		case !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("%w: payment %x: %w", errRecoveryRead, rec.GetId()[:4], err)
		}
		if k := rec.GetIdempotencyKey(); k != "" {
			switch _, err := n.store.PaymentByIdempotencyKey(k); {
			case err == nil:
				return fmt.Errorf("%w: key %q is known here already", ErrMalformed, k)
			case !errors.Is(err, store.ErrNotFound):
				return fmt.Errorf("%w: key %q: %w", errRecoveryRead, k, err)
			}
		}
	}
	return nil
}

// sameRecovered: the payment on disk is the recovered one: an outgoing
// payment of the same proof of channel id, with the same amount,
// cumulative and key.
func sameRecovered(id channel.ID, disk, rec *storev1.Payment) bool {
	return disk != nil && bytes.Equal(disk.GetChannelId(), id[:]) && disk.GetDirection() == storev1.Direction_DIRECTION_OUTGOING &&
		disk.GetNonce() == rec.GetNonce() && bytes.Equal(disk.GetAmount(), rec.GetAmount()) &&
		bytes.Equal(disk.GetCumulative(), rec.GetCumulative()) && disk.GetIdempotencyKey() == rec.GetIdempotencyKey()
}

// restoreRecovered writes the recovered records, with the receipts that
// came with them, then lets payments flow.
func (c *chanActor) restoreRecovered(s *session, r *recovery, pays []recoveredPay) {
	b := c.batch()
	now := c.n.clock.Now()
	for _, p := range pays {
		if p.onDisk {
			continue
		}
		rec := p.rec
		err := b.AppendLog(&storev1.LogEntry{TimeUnixNano: now.UnixNano(), Entry: &storev1.LogEntry_Payment{Payment: rec}})
		if err == nil && p.receipt != nil {
			err = b.PutReceipt(&storev1.Receipt{PaymentId: rec.GetId(), Time: p.receipt.Time, Signature: p.receipt.Sig[:]})
		}
		if err == nil && rec.GetWantReceipt() {
			// Its receipt is in this write, or will not come: the peer
			// acknowledged the proof long ago.
			err = b.ReceiptSettled(c.id, rec.GetNonce(), [32]byte(rec.GetId()))
		}
		if err != nil {
			c.n.fail(err)
			return
		}
	}
	var next *recovery
	if first := pays[0].rec; first.GetNonce() > r.after+1 {
		// The answer held the newest proofs' records only (as many as one
		// message carries): the older ones are the next page, up to the
		// proof before the first returned, which transferred what the
		// first payment's cumulative was before it.
		cum, _ := parseAmount("cumulative", first.GetCumulative())
		amt, _ := parseAmount("amount", first.GetAmount())
		next = &recovery{after: r.after, afterSent: r.afterSent, upTo: first.GetNonce() - 1}
		next.upToSent.Sub(&cum, &amt) // checkRecovered: at or above afterSent
		c.setMissing(&storev1.MissingRecords{AfterNonce: r.after, AfterTransferred: amountBytes(&r.afterSent),
			UpToNonce: next.upTo, UpToTransferred: amountBytes(&next.upToSent)})
	} else {
		c.setMissing(nil) // in the write of the records
	}
	c.step.after = append(c.step.after, func(_ store.Result, err error) {
		if c.recovering != r || err != nil {
			return
		}
		for _, p := range pays {
			if k := p.rec.GetIdempotencyKey(); k != "" {
				r.recovered[k] = p
			}
		}
		c.n.log.Info("restored payment records from the peer", "channel", c.id, "payments", len(pays),
			"from_nonce", pays[0].rec.GetNonce(), "to_nonce", pays[len(pays)-1].rec.GetNonce())
		c.recovered = r.recovered
		kept := c.queue[:0]
		for _, p := range c.queue {
			if !c.answerRecovered(p) {
				kept = append(kept, p)
			}
		}
		clear(c.queue[len(kept):])
		c.queue = kept
		if next != nil {
			// Older proofs' records did not fit the answer: ask for them,
			// page by page, newest first. Payments wait meanwhile.
			c.recovering = next
			if c.sess == s && s != nil {
				c.askRecovery(s, next)
			}
			return
		}
		c.recoveryDone(s, r)
	})
}

// recoveryDone: the records of the recovery r are restored (or the peer
// returns no more of them): payments flow again.
func (c *chanActor) recoveryDone(s *session, r *recovery) {
	if c.recovering != r {
		return
	}
	c.setMissing(nil) // if not cleared with the records already
	c.recovering, c.ready = nil, c.sess == s
	c.completeAcked()
	c.pump()
}

// recoveryEnd is the newest own proof whose records r asks for: the page's
// end, or the newest proof sent.
func (c *chanActor) recoveryEnd(r *recovery) channel.Proof {
	if r.upTo != 0 {
		return channel.Proof{Channel: c.id, Nonce: r.upTo, Transferred: r.upToSent}
	}
	return c.ch.Sent()
}

// answerRecovered finishes a payment whose key a recovered record holds:
// it was paid before the crash.
func (c *chanActor) answerRecovered(p *payment) bool {
	rp, ok := c.recovered[p.key]
	if !ok {
		return false
	}
	rec := rp.rec
	amt, _ := parseAmount("amount", rec.GetAmount())
	if !amt.Eq(&p.amount) || rec.GetItemId() != p.itemID || rec.GetMemo() != p.memo {
		p.finish(wrapf(ErrIdempotency, "key %q", p.key))
		return true
	}
	// Its record is on disk: the caller answers from it as from any
	// record of a key paid before (waitStored), which waits for a refund
	// of it that the peer's proofs may still bring.
	p.finish(errFromStore)
	return true
}

// checkRecovered validates the peer's recovery data against the recovered
// proofs (after nonce after, which transferred afterSent, up to sent): the
// payments come in proof order, each one's cumulative is the one before it
// plus its amount, the first starts at or above afterSent (at it, if it
// is of the first missing proof), and the last ends at exactly what sent
// transferred. At most maxRecovered, as many as a peer's answer holds.
func (c *chanActor) checkRecovered(m *peerv1.Recovered, sent channel.Proof, after uint64, afterSent *uint256.Int) ([]recoveredPay, error) {
	var last uint256.Int // the cumulative of the payment before
	var lastNonce uint64
	var out []recoveredPay
	seenID, seenKey := map[[32]byte]bool{}, map[string]bool{}
	if n := len(m.GetPayments()); n == 0 || n > maxRecovered {
		return nil, fmt.Errorf("%w: %d recovered payments, want 1 to %d", ErrMalformed, n, maxRecovered)
	}
	for i, rp := range m.GetPayments() {
		pp := rp.GetPart()
		if pp == nil {
			return nil, fmt.Errorf("%w: payment %d has no part", ErrMalformed, i)
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
		if rp.GetNonce() <= after || rp.GetNonce() > sent.Nonce || amt.IsZero() || cum.Gt(&sent.Transferred) {
			return nil, fmt.Errorf("%w: payment %d is outside the recovered proofs", ErrMalformed, i)
		}
		if err := checkParts([]Part{{ID: id, Amount: amt, ItemID: pp.GetItemId(), Memo: pp.GetMemo(), Key: pp.GetIdempotencyKey()}}); err != nil {
			return nil, err
		}
		if seenID[id] || (pp.GetIdempotencyKey() != "" && seenKey[pp.GetIdempotencyKey()]) {
			return nil, fmt.Errorf("%w: payment %d repeats an id or key", ErrMalformed, i)
		}
		seenID[id], seenKey[pp.GetIdempotencyKey()] = true, true
		if i == 0 {
			// Where the running total starts: what the newest proof whose
			// records this node holds transferred, or more if the peer
			// returns the newest proofs' payments only.
			if cum.Lt(&amt) {
				return nil, fmt.Errorf("%w: payment %d's cumulative %s is below its amount %s", ErrMalformed, i, cum.Dec(), amt.Dec())
			}
			last.Sub(&cum, &amt)
			if last.Lt(afterSent) || (rp.GetNonce() == after+1 && !last.Eq(afterSent)) {
				return nil, fmt.Errorf("%w: the recovered payments start at %s, own proof %d transferred %s", ErrMalformed, last.Dec(), after, afterSent.Dec())
			}
		}
		if rp.GetNonce() < lastNonce {
			return nil, fmt.Errorf("%w: payment %d's proof %d comes after proof %d", ErrMalformed, i, rp.GetNonce(), lastNonce)
		}
		if _, over := last.AddOverflow(&last, &amt); over || !last.Eq(&cum) {
			return nil, fmt.Errorf("%w: payment %d's cumulative is %s, the payments before it and its amount make %s", ErrMalformed, i, cum.Dec(), last.Dec())
		}
		lastNonce = rp.GetNonce()
		if o := rp.GetOfferId(); len(o) != 0 && len(o) != 32 {
			return nil, fmt.Errorf("%w: payment %d names an offer id of %d bytes", ErrMalformed, i, len(o))
		}
		if r := rp.GetReceipt(); r != nil && (!pp.GetWantReceipt() || !bytes.Equal(r.GetPaymentId(), id[:])) {
			return nil, fmt.Errorf("%w: payment %d has a receipt it did not ask for, or of another payment", ErrMalformed, i)
		}
		out = append(out, recoveredPay{rec: &storev1.Payment{
			Id: id[:], IdempotencyKey: pp.GetIdempotencyKey(), ChannelId: c.id[:], Direction: storev1.Direction_DIRECTION_OUTGOING,
			Amount: amountBytes(&amt), Cumulative: amountBytes(&cum), Nonce: rp.GetNonce(), TimeUnixNano: c.n.clock.Now().UnixNano(),
			ItemId: pp.GetItemId(), Memo: pp.GetMemo(), Peer: c.peer[:], WantReceipt: pp.GetWantReceipt(), OfferId: optionalID(rp.GetOfferId()),
		}, sent: rp.GetReceipt()})
	}
	if lastNonce != sent.Nonce || !last.Eq(&sent.Transferred) {
		return nil, fmt.Errorf("%w: the recovered payments end at %s in proof %d, own proof %d transferred %s", ErrMalformed, last.Dec(), lastNonce, sent.Nonce, sent.Transferred.Dec())
	}
	return out, nil
}
