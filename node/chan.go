package node

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
	"github.com/tinypay/tinypay/store"
)

// chanActor owns one channel. Everything it does runs on its mailbox, one
// step at a time: a step is one input (a peer message, an API request, a
// durable notice, a chain event or the result of a chain read or
// transaction, a timer) followed by flush, which carries out what the step
// produced. No lock guards its state, and no step waits for disk, network
// or chain: it starts the work and gets the result as another step.
//
// Other goroutines read the channel only through snap, the ChannelInfo
// published at the end of every step.
type chanActor struct {
	mailbox
	n       *Node
	am      *assetMetrics // the counters of the channel's asset; nil without metrics
	id      channel.ID
	peer    crypto.Address
	self    channel.Side
	params  channel.Params
	created time.Time

	snap    atomic.Pointer[ChannelInfo]
	indexed chanFlags // its place in the registry's sets but ready; chanSet.mu
	// inOpen: the open set c is in (nil: none), for publish to tell it
	// when c's balance grows; set under chanSet.mu.
	inOpen  atomic.Pointer[openSet]
	readyIn atomic.Bool // counted in chanSet.nReady (see chanSet.reindex)
	early   *earlyReestablish
	// durableRecv is the newest proof of the peer's known durable: what
	// Reestablish says this node holds. The store's committer sets it.
	durableRecv atomic.Pointer[channel.Proof]
	// ackWake is closed when the acknowledged nonce grows or the channel
	// ends; nil while nobody waits (see ackWaiter).
	ackWake atomic.Pointer[chan struct{}]
	writes  atomic.Int32 // this channel's writes in flight
	// durableSent is the newest own proof known durable, set by the
	// store's committer before durableRecv is for the same write: a
	// Reestablish that says it holds a proof also says it sent what it
	// signed with it (a refund).
	durableSent atomic.Uint64

	// Owned by the mailbox goroutine.
	ch             *channel.Channel
	sess           *session // live session with the peer, if any
	ready          bool     // reestablished on sess: proofs may flow
	queue          []*payment
	pumpDue        bool           // payments were queued this batch: sign at its end (pumpQueued)
	flight         []*inflight    // signed, not yet acknowledged, in nonce order
	durableNonce   uint64         // newest own proof known durable
	lostDataSaid   bool           // the peer's lost proof was logged (once while the node runs: a peer can reconnect at will)
	recoverReading bool           // a RecoverRequest of the peer's is being answered
	partsAhead     *incomingProof // payments sent ahead of their proof (ProofParts)
	resentFor      uint64         // the peer's held nonce the newest proof was resent for on this session (+1; 0: none)
	// ackTaken: the newest own proof whose Ack, with its receipts and
	// refusals, this node took; a proof the peer acknowledged by holding
	// it (Reestablish) completes its payments only once the Ack comes
	// again (see resendAcks), or after RequestTimeout (awaitAcks).
	ackTaken uint64
	// peerAckTaken: the peer's ackTaken, from its last Reestablish;
	// acksResentFor: the newest proof of the peer's whose Ack was sent
	// again on this session (+1; 0: none).
	peerAckTaken, acksResentFor uint64
	peerSent                    uint64 // the newest own proof the peer said it had on this session (Reestablish)
	// acksHere: the newest own proof whose Ack this node took while it
	// runs (a refund of its payments came before it, so is known).
	acksHere uint64
	// recentAcks: the receipts and refusals of the newest of the peer's
	// proofs that had any (keepAckItems at most), complete from nonce
	// recentFrom on: what an Ack sent again carries, without a read.
	recentAcks []recentAck
	recentFrom uint64
	// ackDiskRead: the log was read once for an Ack to send again (it is
	// not again while the node runs); ackReading: that read is running,
	// and the peer's messages wait for it.
	ackDiskRead, ackReading bool
	acksAwaited             *session // awaitAcks' timer is set for this session
	recovering              *recovery
	missing                 *storev1.MissingRecords // on disk with the channel record: see recovery
	behind                  *behind                 // why the channel may not pay yet (see behind.go); nil: it may
	recovered               map[string]recoveredPay // payment records restored from the peer, by key
	refunds                 map[[32]byte]bool       // refunds of our payments being written
	// awaited: this node's payments from before its start whose receipts
	// are awaited (the store's awaited index), oldest proof first. The
	// peer is asked to send their Acks again (ackTaken starts below the
	// first), which brings the receipts a restart lost.
	awaited []*payment

	paused    string   // why peer messages wait, "" when they don't
	deferred  []func() // peer messages that arrived while paused
	lastRead  time.Time
	retrying  bool // a request runs again after a chain read: it is not read for again
	expiring  bool // an expired opening channel is being abandoned
	forgotten bool // a proposal given up and forgotten (forgetProposal)
	refusals  struct {
		since time.Time // the start of the minute counted
		n     int       // payments refused and refunded since
	}

	resync   time.Duration // backoff after the peer refused a proof
	waiters  []opWaiter
	draining *time.Timer // the drain deadline of a cooperative close
	replyDue *time.Timer // the countersignature deadline

	step stepOut // what the current step adds to the channel's Ready
}

// inflight is one signed proof and the payments it adds.
type inflight struct {
	proof    channel.Proof
	payments []*payment
	durable  bool
}

// stepOut is what a step adds to what the channel machine asks for.
type stepOut struct {
	b       *store.Batch                     // records beyond the channel's own
	record  bool                             // write the channel record even if the machine did not ask
	label   string                           // names the step for failpoints
	parts   map[uint64][]*peerv1.PaymentPart // parts of the proofs sent in this step, by nonce
	acks    map[uint64]ackExtra              // receipts and refusals of this step's acks
	msgs    []*peerv1.Message                // node messages to send once durable
	after   []func(store.Result, error)      // steps to run once durable (or the write failed)
	durable []func(error)                    // notices, on the committer goroutine, once durable or failed
	notify  []func(error)                    // answers to waiting API calls, once the step is durable (or the write failed)
}

type ackExtra struct {
	receipts []*peerv1.Receipt
	refused  []*peerv1.Refusal
}

// opWaiter is an API call waiting for an operation to end.
type opWaiter struct {
	op   channel.Op
	done chan error // buffered
}

func (n *Node) newActor(ch *channel.Channel, created time.Time) *chanActor {
	p := ch.Params()
	c := &chanActor{
		n: n, id: ch.ID(), self: ch.Self(), peer: p.Participants[ch.Self().Other()], params: p, created: created, ch: ch,
		// Nobody waits for the payments of a proof signed before a start,
		// so no Ack is asked for again (the record's acked nonce is not
		// written with every Ack: a restarted payer would have its peer
		// read its log for every channel).
		durableNonce: ch.Sent().Nonce, ackTaken: ch.Sent().Nonce, recentFrom: ch.Received().Nonce + 1,
	}
	c.ender = c
	if n.met != nil {
		if c.am = n.ametr[p.Asset]; c.am == nil {
			c.am = n.met.forAsset(p.Asset.Hex()[:10]) // an asset no longer configured: named as in ChannelInfo
		}
	}
	if recv := ch.Received(); recv == noProof {
		c.durableRecv.Store(&noProof) // shared: a payer's channels hold none
	} else {
		c.durableRecv.Store(new(recv))
	}
	c.publish()
	return c
}

// noProof is the durableRecv of every channel that received no proof yet:
// one value for all of them, never written.
var noProof channel.Proof

// loadChannel rebuilds a channel's owner from the store. The entries of
// awaited receipts it cannot use (of a proof this node does not hold) it
// adds to rec.Settled, for Start to remove.
func (n *Node) loadChannel(rec *store.ChannelRecord) (*chanActor, error) {
	r := rec.Channel
	id := [32]byte(r.GetId())
	st, err := stateFromRecord(r, rec.Proofs)
	if err != nil {
		return nil, fmt.Errorf("load channel %x: %w", id, err)
	}
	ch, err := channel.Restore(st)
	if err != nil {
		return nil, fmt.Errorf("load channel %x: %w", id, err)
	}
	c := n.newActor(ch, time.Unix(0, r.GetCreatedUnixNano()))
	for _, pr := range rec.Awaited {
		p, err := awaitedPayment(id, pr)
		if err != nil {
			return nil, fmt.Errorf("load channel %x: a payment whose receipt is awaited: %w", id, err)
		}
		if p.nonce > c.ackTaken || p.nonce == 0 {
			// Not of a proof this node holds (it would be corrupt):
			// nothing can settle it.
			rec.Settled = append(rec.Settled, store.AwaitedRef{Nonce: p.nonce, Payment: p.id})
			continue
		}
		c.awaited = append(c.awaited, p)
	}
	if len(c.awaited) > 0 {
		c.ackTaken = c.awaited[0].nonce - 1
		c.publish()
	}
	if m := r.GetMissing(); m != nil && m.GetAfterNonce() < st.Sent.Nonce && !st.Phase.Terminal() {
		// It crashed before the peer returned the records of the proofs it
		// took back: ask again, and pay nothing until they are restored.
		afterSent, err := parseAmount("missing records' transferred", m.GetAfterTransferred())
		if err != nil {
			return nil, fmt.Errorf("load channel %x: %w", id, err)
		}
		r := &recovery{after: m.GetAfterNonce(), afterSent: afterSent}
		upTo := st.Sent.Nonce
		if u := m.GetUpToNonce(); u != 0 {
			// The newer proofs' records are restored: the older ones are
			// the next page. A page out of range is not trusted: every
			// record is asked for again (those on disk are kept as they
			// are: recoveredFree).
			end, err := parseAmount("missing records' end", m.GetUpToTransferred())
			if err == nil && u > r.after && u < st.Sent.Nonce && !end.Lt(&afterSent) && !end.Gt(&st.Sent.Transferred) {
				r.upTo, r.upToSent, upTo = u, end, u
			} else {
				c.n.log.Warn("the page of missing records on disk is out of range; asking for them all", "channel", id,
					"after_nonce", r.after, "up_to_nonce", u, "sent_nonce", st.Sent.Nonce, "err", err)
			}
		}
		c.missing = m
		c.recovering = r
		c.markBehind(false, fmt.Sprintf("the records of own proofs %d to %d are missing; asking the peer for them", m.GetAfterNonce()+1, upTo))
		c.behind.peer = false // until the peer reestablishes
	}
	return c, nil
}

// setMissing sets which own proofs' payment records are missing (nil:
// none), and writes it with the channel record in this step.
func (c *chanActor) setMissing(m *storev1.MissingRecords) {
	if c.missing == nil && m == nil {
		return
	}
	c.missing = m
	c.step.record = true
}

// awaitedPayment is the part of an outgoing payment record that its
// receipt is checked against.
func awaitedPayment(id channel.ID, rec *storev1.Payment) (*payment, error) {
	amount, err1 := parseAmount("amount", rec.GetAmount())
	cum, err2 := parseAmount("cumulative", rec.GetCumulative())
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	p := &payment{id: [32]byte(rec.GetId()), chanID: id, amount: amount, cumulative: cum, itemID: rec.GetItemId(),
		wantReceipt: true, nonce: rec.GetNonce(), key: rec.GetIdempotencyKey()}
	if len(rec.GetOfferId()) == 32 {
		p.offer = &Offer{ID: crypto.Hash(rec.GetOfferId())}
	}
	return p, nil
}

// do posts a step: f, then flush.
func (c *chanActor) do(f func()) {
	c.post(func() {
		f()
		c.flush()
	})
}

// doHere is do, run on the calling goroutine when the channel is idle
// (mailbox.postHere): for a caller that starts steps on many channels at
// once (attachPage), which would otherwise start a goroutine for each.
func (c *chanActor) doHere(f func()) {
	c.postHere(func() {
		f()
		c.flush()
	})
}

// fromPeer posts a step for a message from the peer; while the channel is
// paused (it waits for a chain read, or for the records of a resend), the
// message waits too, so that the peer's messages are handled in order.
func (c *chanActor) fromPeer(s *session, f func()) { c.fromPeerOr(s, f, nil) }

// fromPeerOr is fromPeer for a message that holds something (a proof's
// reservations): drop runs if the message is dropped unhandled (the
// session ends, or floods a paused channel).
func (c *chanActor) fromPeerOr(s *session, f, drop func()) {
	queued := c.postPeer(s.ctx, func() {
		if c.paused != "" {
			if len(c.deferred) >= maxPeerQueued {
				c.n.log.Warn("peer floods a paused channel; ending the session", "channel", c.id, "peer", c.peer)
				s.close(errors.New("too many messages while the channel waits for the chain"))
				if drop != nil {
					drop()
				}
				return
			}
			c.deferred = append(c.deferred, f)
			return
		}
		f()
		c.flush()
	})
	if !queued && drop != nil {
		drop()
	}
}

// pause holds the peer's messages until resume.
func (c *chanActor) pause(why string) { c.paused = why }

// resume runs the messages that waited, in order, until one pauses again.
func (c *chanActor) resume() {
	if c.ackReading { // resendAcks resumes once its read is done
		c.paused = ackReadingWhy
		return
	}
	c.paused = ""
	for len(c.deferred) > 0 && c.paused == "" {
		f := c.deferred[0]
		c.deferred[0] = nil
		c.deferred = c.deferred[1:]
		f()
		c.flush()
	}
}

// batch returns the step's batch of extra records.
func (c *chanActor) batch() *store.Batch {
	if c.step.b == nil {
		c.step.b = store.NewBatch()
	}
	return c.step.b
}

// flush carries out what the step produced, in the ordering contract of
// package channel, in this one place:
//
//  1. the channel's record and newest proofs and the records the step
//     added go to the store as one batch;
//  2. the early messages (new own proofs, with their payments) go to the
//     peer at once, together with the write;
//  3. once the batch is durable: the messages (acknowledgements with their
//     receipts, close terms, countersignatures, resends), then the chain
//     actions, then the steps that wait for it.
//
// A step that writes nothing still waits for this channel's writes in
// flight, so that its messages never overtake theirs.
func (c *chanActor) flush() {
	caught := c.checkCaughtUp()
	rd := c.ch.Ready()
	st := c.step
	c.step = stepOut{}
	sess := c.sess
	var early, msgs []*peerv1.Message
	for _, m := range rd.Early {
		early = append(early, c.wire(m, &st)...)
	}
	for _, m := range rd.Messages {
		msgs = append(msgs, c.wire(m, &st)...)
	}
	msgs = append(msgs, st.msgs...)
	b := st.b
	if st.record {
		rd.State = true
	}
	if rd.Persist() {
		if b == nil {
			b = store.NewBatch()
		}
		if err := c.persistTo(b, rd); err != nil {
			err = fmt.Errorf("build channel batch: %w", err)
			c.n.fail(err)
			c.publish()
			for _, f := range st.notify {
				f(err)
			}
			return
		}
	}
	if sess != nil && len(early) > 0 {
		for _, m := range early {
			sess.queueOnly(m)
		}
		defer sess.kick() // once the write is submitted (see queueOnly)
	}
	actions := rd.Actions
	direct := b == nil && len(st.after) == 0 && len(st.durable) == 0 && c.writes.Load() == 0
	idle := len(msgs) == 0 && len(actions) == 0 && len(st.after) == 0 && len(st.durable) == 0 && len(st.notify) == 0 && b == nil
	if !direct && !idle {
		// Counted before the snapshot: whoever sees this step's state
		// sees its write in flight (PaymentByKey waits for it).
		c.writes.Add(1)
	}
	c.publish()
	if caught {
		c.n.maybeCaughtUp() // once what it caught up to is visible
	}
	if direct {
		c.deliver(sess, msgs, actions)
		for _, f := range st.notify {
			f(nil)
		}
		return
	}
	if idle {
		return
	}
	if b == nil {
		b = store.NewBatch() // empty: it keeps this step behind the writes in flight
	}
	label := st.label
	if label != "" {
		c.n.failpoint("before-write " + label)
	}
	c.n.commitAsync(b, func(r store.Result, err error) {
		for _, d := range st.durable {
			d(err)
		}
		// An answer to the API never runs ahead of the disk: a caller told
		// "settled" finds the channel settled after a restart too.
		for _, f := range st.notify {
			f(err)
		}
		if err == nil {
			if label != "" {
				c.n.failpoint("after-write " + label)
			}
			c.deliver(sess, msgs, actions) // never act on what is not on disk
		}
		c.writes.Add(-1) // only now may a step that writes nothing send at once
		if len(st.after) > 0 {
			c.do(func() {
				for _, f := range st.after {
					f(r, err)
				}
			})
		}
	})
}

// deliver sends msgs on sess and starts actions. It runs on the actor or on
// the store's committer goroutine, and never blocks.
func (c *chanActor) deliver(sess *session, msgs []*peerv1.Message, actions []channel.Action) {
	if sess != nil {
		for _, m := range msgs {
			sess.send(m)
		}
	}
	for _, a := range actions {
		c.n.startAction(c, a)
	}
}

// persistTo adds what rd asks to persist to b.
func (c *chanActor) persistTo(b *store.Batch, rd channel.Ready) error {
	st := c.ch.State()
	if rd.State {
		r := channelRecord(&st, c.created, c.n.clock.Now())
		r.Missing = c.missing
		if err := b.PutChannel(r); err != nil {
			return err
		}
	}
	if rd.Sent {
		if err := b.PutProof(uint32(c.self), proofRecord(st.Sent)); err != nil {
			return err
		}
	}
	if rd.Received {
		if err := b.PutProof(uint32(c.self.Other()), proofRecord(st.Received)); err != nil {
			return err
		}
	}
	return nil
}

// wire converts a message of the channel machine to the peer protocol,
// with what the node adds to it.
func (c *chanActor) wire(m channel.Message, st *stepOut) []*peerv1.Message {
	if p, ok := m.(channel.ProofMsg); ok {
		return proofMessages(p.Proof, st.parts[p.Proof.Nonce])
	}
	return []*peerv1.Message{c.wireOne(m, st)}
}

func (c *chanActor) wireOne(m channel.Message, st *stepOut) *peerv1.Message {
	id := c.id[:]
	switch m := m.(type) {
	case channel.AckMsg:
		ex := st.acks[m.Nonce]
		return &peerv1.Message{Body: &peerv1.Message_Ack{Ack: &peerv1.Ack{ChannelId: id, Nonce: m.Nonce, Receipts: ex.receipts, Refused: ex.refused}}}
	case channel.CloseRequestMsg:
		t := m.Terms
		return &peerv1.Message{Body: &peerv1.Message_CloseRequest{CloseRequest: &peerv1.CloseRequest{
			ChannelId: id, BalanceA: amountBytes(&t.Balance[channel.A]), BalanceB: amountBytes(&t.Balance[channel.B]),
			Expiry: t.Expiry, Signature: sigBytes(t.Sigs[c.self]),
		}}}
	case channel.CloseReplyMsg:
		return &peerv1.Message{Body: &peerv1.Message_CloseReply{CloseReply: &peerv1.CloseReply{ChannelId: id, Signature: sigBytes(m.Sig)}}}
	case channel.WithdrawRequestMsg:
		w := m.Withdrawal
		return &peerv1.Message{Body: &peerv1.Message_WithdrawRequest{WithdrawRequest: &peerv1.WithdrawRequest{
			ChannelId: id, Total: amountBytes(&w.Total), Expiry: w.Expiry, Signature: sigBytes(w.Sigs[c.self]),
		}}}
	case channel.WithdrawReplyMsg:
		return &peerv1.Message{Body: &peerv1.Message_WithdrawReply{WithdrawReply: &peerv1.WithdrawReply{ChannelId: id, Signature: sigBytes(m.Sig)}}}
	}
	panic(fmt.Sprintf("node: unknown channel message %T", m))
}

// sendNow sends m on the current session at once: for refusals, which
// depend on no write.
func (c *chanActor) sendNow(m *peerv1.Message) {
	if c.sess != nil {
		c.sess.send(m)
	}
}

// event adds a channel event to the step's records.
func (c *chanActor) event(kind storev1.ChannelEventKind, detail string, amount *uint256.Int) {
	// Details may quote the peer: bound them, so that nothing a peer says
	// can make a record the store refuses.
	ev := &storev1.ChannelEvent{ChannelId: c.id[:], Kind: kind, Detail: truncate(detail, maxEventDetail), Peer: c.peer[:]}
	if amount != nil {
		ev.Amount = amountBytes(amount)
	}
	if err := c.batch().AppendLog(&storev1.LogEntry{TimeUnixNano: c.n.clock.Now().UnixNano(), Entry: &storev1.LogEntry_ChannelEvent{ChannelEvent: ev}}); err != nil {
		c.n.log.Error("bad channel event", "err", err)
	}
}

// maxEventDetail bounds the text of a channel event.
const maxEventDetail = 512

func (c *chanActor) warn(detail string) {
	c.n.log.Warn(detail, "channel", c.id, "peer", c.peer)
	c.event(storev1.ChannelEventKind_CHANNEL_EVENT_KIND_WARNING, detail, nil)
}

// publish makes the channel's current state visible to other goroutines,
// and wakes whoever waits for the acknowledged nonce, the outcomes of the
// payments (waitStored) or the phase to move.
func (c *chanActor) publish() {
	v := c.buildInfo()
	old := c.snap.Load()
	if old != nil && *old == v {
		return // nothing changed that a reader sees (most steps of a reconnect)
	}
	ci := new(ChannelInfo)
	*ci = v
	c.snap.Store(ci)
	if old != nil && ci.MyBalance.Gt(&old.MyBalance) {
		if set := c.inOpen.Load(); set != nil {
			set.grew.Add(1) // paying by peer may find it holds enough now
		}
	}
	if old != nil && (old.AckedNonce != ci.AckedNonce || old.outcomes != ci.outcomes || old.caughtUp != ci.caughtUp || old.acksHere != ci.acksHere || old.Phase != ci.Phase) {
		c.wakeAckWaiters()
	}
	if flagsOf(old) != flagsOf(ci) {
		c.n.chans.reindex(c, ci)
	}
}

func (c *chanActor) info() ChannelInfo { return *c.snap.Load() }

// wakeAckWaiters wakes whoever waits for the acknowledged nonce to grow.
func (c *chanActor) wakeAckWaiters() {
	if w := c.ackWake.Swap(nil); w != nil {
		close(*w)
	}
}

// ackWaiter returns a channel that is closed at the next wakeAckWaiters.
// A waiter takes it before it reads the snapshot it checks, so that a
// change published after that read closes it. It is made when the first
// waiter asks, not for every channel and every step: an idle channel
// holds none.
func (c *chanActor) ackWaiter() <-chan struct{} {
	for {
		if w := c.ackWake.Load(); w != nil {
			return *w
		}
		w := make(chan struct{})
		if c.ackWake.CompareAndSwap(nil, &w) {
			return w
		}
	}
}

// --- sessions and reestablish ---

// onAttach starts reestablishing the channel on a new session: it tells
// the peer the newest proof of theirs held here and the newest nonce signed
// here.
func (c *chanActor) onAttach(s *session) { c.attach(s, false) }

// attach is onAttach; ask asks the peer for its Reestablish back, for a
// channel the peer named before this node knew it (see adoptOpened).
func (c *chanActor) attach(s *session, ask bool) {
	c.dropPartsAhead()
	// A recovery in progress is kept: its records are asked for again on
	// this session (reestablish), or a retried key could pay twice.
	c.sess, c.ready = s, false
	c.resync, c.resentFor, c.acksResentFor = 0, 0, 0
	if c.ch.Phase().Terminal() {
		return
	}
	s.send(c.reestablishMessage(ask))
	if e := c.early; e != nil {
		c.early = nil
		if e.s == s {
			c.onReestablish(s, e.m)
		}
	}
}

// earlyReestablish is a peer's Reestablish that came on a session before
// this node attached the channel to it.
type earlyReestablish struct {
	s *session
	m *peerv1.Reestablish
}

// setDurableRecv records p as durable unless a newer proof already is.
func (c *chanActor) setDurableRecv(p *channel.Proof) {
	for {
		old := c.durableRecv.Load()
		if old.Nonce >= p.Nonce || c.durableRecv.CompareAndSwap(old, p) {
			return
		}
	}
}

// reestablishMessage tells the peer what this node holds of its proofs:
// only what is on disk, since the peer takes it as an acknowledgement.
func (c *chanActor) reestablishMessage(reply bool) *peerv1.Message {
	recv := *c.durableRecv.Load() // before durableSent: see there
	m := &peerv1.Reestablish{ChannelId: c.id[:], SentNonce: max(c.durableNonce, c.durableSent.Load()), Reply: reply, AckedNonce: c.ackTaken}
	if !recv.IsZero() {
		m.Held = proofMessage(recv, nil)
	}
	return &peerv1.Message{Body: &peerv1.Message_Reestablish{Reestablish: m}}
}

func (c *chanActor) onDetach(s *session) {
	if c.sess == s {
		c.sess, c.ready = nil, false
	}
}

// caughtUp reports whether this node holds the proofs the peer said it
// had on this session (Reestablish.sent_nonce), its refunds among them. A
// claim of more than maxClaimedAhead proofs this node never got is not
// waited for: an honest peer has at most its pipeline in flight (a node
// restored from a backup is behind, and does not pay until it caught up).
func (c *chanActor) caughtUp() bool {
	recv := c.ch.Received().Nonce
	return recv >= c.peerSent || c.peerSent-recv > maxClaimedAhead
}

const maxClaimedAhead = 1024

// onReestablish handles the peer's Reestablish: resend what the peer lacks
// (with the records of the payments it covers, read from the log when they
// are no longer in memory), adopt a newer proof of ours the peer holds
// (this node lost it), then let payments flow.
func (c *chanActor) onReestablish(s *session, m *peerv1.Reestablish) {
	if c.sess != s {
		// The peer's Reestablish can come before this node has attached the
		// channel to the session (the channels are attached a page at a
		// time: attachPaced): it waits for the attach, the newest one only.
		if s.alive() && c.n.peers.session(c.peer) == s && !c.ch.Phase().Terminal() {
			c.early = &earlyReestablish{s, m}
		}
		return
	}
	if m.GetReply() {
		s.send(c.reestablishMessage(false))
	}
	var held channel.Proof
	if h := m.GetHeld(); h != nil {
		p, _, err := decodeProof(h)
		if err != nil {
			s.sendError(peerCode(err), c.id[:], err)
			return
		}
		held = p
	}
	c.peerReestablished(m.GetSentNonce(), false)
	c.peerAckTaken = m.GetAckedNonce()
	c.peerSent = m.GetSentNonce() // what it says on this session only: a claim it does not keep holds nothing up for long
	sent := c.ch.Sent()
	if held.Nonce >= sent.Nonce || (held.Nonce > 0 && held.Channel != c.id) {
		c.reestablish(s, held, nil)
		return
	}
	// The peer lacks our newest proof: it gets it again with the parts of
	// every payment after the one it holds (read from the log once per
	// session for a given held nonce: a peer repeating itself gets nothing
	// more).
	parts, ok := c.partsInMemory(held.Nonce)
	if ok {
		c.reestablish(s, held, parts)
		return
	}
	if c.resentFor == held.Nonce+1 {
		return
	}
	c.resentFor = held.Nonce + 1
	c.pause("reading the payments to resend")
	c.ready = false // nothing is signed until the resend is out
	asset := c.params.Asset
	c.n.background(func() {
		parts := c.n.outgoingParts(c.id, asset, held, sent, maxResendParts)
		c.do(func() {
			if c.sess == s {
				c.reestablish(s, held, parts)
			}
			c.resume()
		})
	})
}

// partsInMemory returns the parts of the proofs in flight after nonce
// after, if memory holds all of them.
func (c *chanActor) partsInMemory(after uint64) ([]*peerv1.PaymentPart, bool) {
	sent := c.ch.Sent()
	var parts []*peerv1.PaymentPart
	want := sent.Nonce
	for i := len(c.flight) - 1; i >= 0 && want > after; i-- {
		f := c.flight[i]
		if f.proof.Nonce != want {
			return nil, false
		}
		parts = append(partsOf(f.payments), parts...)
		want--
	}
	return parts, want == after
}

// askRecovery asks the peer on s for the payments of this node's proofs
// after nonce prev.after (which transferred prev.afterSent), which this
// node lost and adopted from the peer.
func (c *chanActor) askRecovery(s *session, prev *recovery) {
	r := new(recovery)
	*r = *prev // a new one each time: the timers of the one before see it is not theirs
	r.sess, r.recovered = s, nil
	c.recovering = r
	after := r.after
	// Up to the end always (not 0 for "all" on the first request): a
	// peer whose newest proof of ours became durable after its
	// Reestablish would answer for more than this node can check.
	end := c.recoveryEnd(r).Nonce
	s.send(&peerv1.Message{Body: &peerv1.Message_RecoverRequest{RecoverRequest: &peerv1.RecoverRequest{ChannelId: c.id[:], AfterNonce: after, UpToNonce: end}}})
	c.after(c.n.cfg.RequestTimeout, func() { c.recoveryTimeout(s, r) })
}

func (c *chanActor) reestablish(s *session, held channel.Proof, parts []*peerv1.PaymentPart) {
	prev := c.ch.Sent()
	if parts != nil {
		c.step.parts = map[uint64][]*peerv1.PaymentPart{prev.Nonce: parts}
	}
	_, err := c.ch.Reestablish(held)
	switch {
	case errors.Is(err, channel.ErrPeerLostData):
		if !c.lostDataSaid { // once, however often the peer says so
			c.lostDataSaid = true
			c.n.log.Warn("peer lost a proof it acknowledged", "channel", c.id, "peer", c.peer, "err", err)
			c.event(storev1.ChannelEventKind_CHANNEL_EVENT_KIND_WARNING, "the peer lost an acknowledged proof; resending it", nil)
		}
	case err != nil:
		if errors.Is(err, channel.ErrBadSignature) {
			// A claim of a newer proof of ours that we did not sign: the
			// channel stays as it is (and behind, if it was).
			c.n.log.Warn("peer claims a proof of this node's that does not verify", "channel", c.id, "peer", c.peer, "nonce", held.Nonce, "err", err)
		}
		s.sendError(peerCode(err), c.id[:], err)
		return
	}
	c.peerReestablished(0, true)
	c.resendAcks(s)
	defer c.awaitAcks(s) // also while a recovery runs: receipts awaited from before the start
	if sent := c.ch.Sent(); sent.Nonce > prev.Nonce {
		// This node lost its newest proofs (a crash after sending them,
		// before its own write was durable); the peer's copy is authentic
		// and now ours. Before any payment flows, get back the payments it
		// covers, with their idempotency keys, so a retry cannot pay twice.
		c.n.log.Warn("recovered own proof from peer", "channel", c.id, "nonce", sent.Nonce)
		c.durableNonce = max(c.durableNonce, sent.Nonce)
		if len(c.awaited) == 0 {
			c.ackTaken = max(c.ackTaken, sent.Nonce) // nobody waits for the payments it covers
		} // else it stays below the receipts awaited: the peer's Ack of sent comes again with them (or awaitAcks gives up)
		c.event(storev1.ChannelEventKind_CHANNEL_EVENT_KIND_WARNING, fmt.Sprintf("recovered own proof %d from the peer after a restart", sent.Nonce), nil)
		c.markBehind(false, fmt.Sprintf("the peer holds own proof %d, newer than this node's %d", sent.Nonce, prev.Nonce))
		after, afterSent := prev.Nonce, prev.Transferred
		if r := c.recovering; r != nil { // the records of an older recovery are missing too
			after, afterSent = r.after, r.afterSent
		}
		c.setMissing(&storev1.MissingRecords{AfterNonce: after, AfterTransferred: amountBytes(&afterSent)}) // with the adopted proof
		c.askRecovery(s, &recovery{after: after, afterSent: afterSent})
		return
	}
	if r := c.recovering; r != nil {
		if r.sess != s && r.failedOn != s { // asked on a session that is gone, or before a restart: ask again on this one
			c.askRecovery(s, r)
		} // (after a failure on this session, the pause ends first: retryRecovery)
		return // payments wait for the recovery still
	}
	c.ready = true
	c.completeAcked()
	c.pump()
	c.maybePropose()
}

// after runs f as a step of its own after d, unless the node stops.
func (c *chanActor) after(d time.Duration, f func()) *time.Timer {
	return time.AfterFunc(d, func() {
		if c.n.ctx.Err() == nil {
			c.do(f)
		}
	})
}

// --- errors the peer reports ---

// onNack: the peer refused a proof, for a protocol reason (the application
// never refuses a proof: see the package doc). A signed proof cannot be
// taken back, so its payments stay pending: a later acknowledged proof
// covers them, or the close decides. The two sides resynchronise, with a
// growing delay if the peer keeps refusing. A Nack for a proof that is not
// in flight is refused and changes nothing.
func (c *chanActor) onNack(s *session, m *peerv1.Nack) {
	if c.sess != s {
		return
	}
	if n := m.GetNonce(); n == 0 || n > c.ch.Sent().Nonce || n <= c.ch.Acked() {
		s.sendError(codeFailedPrecondition, c.id[:], fmt.Errorf("nack of proof %d, which is not in flight (sent %d, acknowledged %d)", n, c.ch.Sent().Nonce, c.ch.Acked()))
		return
	}
	if !c.ready {
		return // resynchronising already
	}
	c.warn(fmt.Sprintf("peer refused proof %d: %s", m.GetNonce(), truncate(m.GetReason(), 200)))
	c.ready = false
	c.resync = min(max(2*c.resync, 250*time.Millisecond), 30*time.Second)
	c.after(c.resync, func() {
		if c.sess == s && !c.ready {
			// This side asks for the exchange again: the resend it answers
			// with is read again (the peer may have refused the last one
			// for a state it has since left, such as a recovery).
			c.resentFor = 0
			s.send(c.reestablishMessage(true))
		}
	})
}
