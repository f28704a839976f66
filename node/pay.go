package node

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
	"github.com/tinypay/tinypay/store"
)

// PayRequest asks the node to pay a peer.
type PayRequest struct {
	// Channel to pay through; if zero, an open channel with Peer (in Asset,
	// if set): the one paid on last while it holds the amount, else the one
	// with the most balance.
	Channel  channel.ID
	Peer     crypto.Address
	Asset    crypto.Address
	AnyAsset bool // with a zero Channel: any asset will do
	Amount   uint256.Int
	// Key is the caller's idempotency key: a retry with the same key never
	// pays twice, and returns the first attempt's payment.
	Key    string
	ItemID string
	Memo   string
	// Receipt asks the payee for a signed receipt (implied by Offer).
	Receipt bool
	// Offer, if set, is the payee's offer this payment pays; the caller
	// (package apps) has checked it. The payee checks it again and refunds
	// the payment if it refuses it.
	Offer *Offer
	// Stream and Token tag the payment in the records (the stream it is a
	// tick of, the app token that made it); the node only keeps them.
	Stream [16]byte
	Token  [16]byte
	// New: the caller vouches that no payment with Key was ever made (it
	// never used the key before, in this run or an earlier one), so the
	// node does not look the key up on disk. A wrong New is a duplicate
	// the store refuses, which stops the node: only a caller that owns its
	// keys' namespace may set it (package apps, for its streams' ticks).
	New bool
}

// payment is one outgoing payment on its way. The fields below "set by the
// owner" are written by the channel's owner only, and read by others only
// after done is closed.
type payment struct {
	id     [32]byte
	key    string
	chanID channel.ID
	peer   crypto.Address
	amount uint256.Int
	itemID string
	memo   string

	wantReceipt bool
	offer       *Offer
	stream      [16]byte
	token       [16]byte
	refundOf    [32]byte // a refund: the incoming payment (local id) it gives back
	refundOfPay [32]byte // a refund: the payer's id of that payment

	// Set by the owner.
	nonce      uint64
	cumulative uint256.Int
	time       time.Time
	seq        uint64
	receipt    *ReceiptInfo
	// receiptSaving: its receipt is in a batch not known durable yet; owner.
	receiptSaving bool
	refusal       *RefusedError // the payee refused it (see onAck)
	refunded      bool          // and gave the amount back
	refundMemo    string        // the refund's memo: the payee's reason

	book *payBook // nil for refunds, which nobody waits for
	once sync.Once
	done chan struct{}
	err  error
}

// finish ends the payment: err nil means paid.
func (p *payment) finish(err error) {
	p.once.Do(func() {
		p.err = err
		if p.book != nil { // first: whoever it wakes may claim the key again
			p.book.remove(p)
		}
		close(p.done)
	})
}

// finished reports whether p has its outcome (the fields its caller reads
// are no longer the owner's to change).
func (p *payment) finished() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// record is the payment's log record. It keeps the whole offer paid (its
// item, price and asset are the payment's): a proof resent from the log
// after a restart carries the offer again, so that the payee checks and
// counts it as it would have the first time (see offerOfRecord).
func (p *payment) record(peer crypto.Address) *storev1.LogEntry {
	rec := &storev1.Payment{
		Id: p.id[:], IdempotencyKey: p.key, ChannelId: p.chanID[:], Direction: storev1.Direction_DIRECTION_OUTGOING,
		Amount: amountBytes(&p.amount), Cumulative: amountBytes(&p.cumulative), Nonce: p.nonce,
		TimeUnixNano: p.time.UnixNano(), ItemId: p.itemID, Memo: p.memo, Peer: peer[:],
		OfferId: optionalID(p.offerID()), StreamId: optionalID(p.stream[:]), WantReceipt: p.wantReceipt,
		TokenId: optionalID(p.token[:]), RefundOf: optionalID(p.refundOf[:]),
	}
	if o := p.offer; o != nil {
		rec.OfferUses, rec.OfferMaxUses, rec.OfferExpiry, rec.OfferSignature = uint32(o.Uses), o.MaxUses, o.Expiry, o.Sig[:]
	}
	return &storev1.LogEntry{TimeUnixNano: p.time.UnixNano(), Entry: &storev1.LogEntry_Payment{Payment: rec}}
}

// offerOfRecord rebuilds the offer an outgoing payment record paid, in a
// channel of asset; nil if it paid none, or if it was written before
// records kept the whole offer.
func offerOfRecord(rec *storev1.Payment, asset crypto.Address) *Offer {
	if len(rec.GetOfferId()) != 32 || len(rec.GetOfferSignature()) != 65 {
		return nil
	}
	price, err := parseAmount("amount", rec.GetAmount())
	if err != nil {
		return nil
	}
	return &Offer{ID: crypto.Hash(rec.GetOfferId()), ItemID: rec.GetItemId(), Asset: asset, Price: price, Expiry: rec.GetOfferExpiry(),
		Sig: crypto.Signature(rec.GetOfferSignature()), Uses: crypto.OfferUses(rec.GetOfferUses()), MaxUses: rec.GetOfferMaxUses()}
}

func (p *payment) offerID() []byte {
	if p.offer == nil {
		return nil
	}
	return p.offer.ID[:]
}

// optionalID returns nil for an all-zero id.
func optionalID(b []byte) []byte {
	for _, x := range b {
		if x != 0 {
			return b
		}
	}
	return nil
}

func (p *payment) info(complete bool) PaymentInfo {
	i := PaymentInfo{
		Seq: p.seq, ID: p.id, Key: p.key, Channel: p.chanID, Outgoing: true, Amount: p.amount,
		Cumulative: p.cumulative, Nonce: p.nonce, Time: p.time, ItemID: p.itemID, Memo: p.memo,
		Peer: p.peer, Complete: complete, StreamID: p.stream, Token: p.token, Receipt: p.receipt,
	}
	if p.offer != nil {
		i.OfferID = p.offer.ID
	}
	return i
}

func (p *payment) same(r *PayRequest, chanID channel.ID) bool {
	return p.amount.Eq(&r.Amount) && p.chanID == chanID && p.itemID == r.ItemID && p.memo == r.Memo
}

func checkPayRequest(r *PayRequest) error {
	switch {
	case r.Key == "":
		return invalid("an idempotency key is required")
	case len(r.Key) > store.MaxIdempotencyKeyLen || !utf8.ValidString(r.Key):
		return invalid("idempotency key longer than %d bytes or not UTF-8", store.MaxIdempotencyKeyLen)
	case r.Amount.IsZero():
		return fmt.Errorf("%w: %w", ErrInvalidArgument, channel.ErrZeroAmount)
	case len(r.ItemID) > MaxItemIDLen || !utf8.ValidString(r.ItemID):
		return invalid("item id longer than %d bytes or not UTF-8", MaxItemIDLen)
	case len(r.Memo) > MaxMemoLen || !utf8.ValidString(r.Memo):
		return invalid("memo longer than %d bytes or not UTF-8", MaxMemoLen)
	case r.Channel == (channel.ID{}) && r.Peer.IsZero():
		return invalid("name a channel or a peer")
	case r.Offer != nil && !r.Amount.Eq(&r.Offer.Price):
		return invalid("the offer's price is %s, not %s", r.Offer.Price.Dec(), r.Amount.Dec())
	case r.Offer != nil && r.ItemID != r.Offer.ItemID:
		// The record keeps the item once: a resend rebuilds the offer from it.
		return invalid("the offer is for item %q, not %q", r.Offer.ItemID, r.ItemID)
	}
	return nil
}

// payBook is the owner of outgoing payments in progress, by idempotency
// key. Its locks (one per shard) guard the maps only: no store read and
// no other owner's work happens under them, so payers of different keys
// never wait for each other.
type payBook struct {
	shards [64]struct {
		mu      sync.Mutex
		pending map[string]*payment
	}
}

func (b *payBook) init() {
	for i := range b.shards {
		b.shards[i].pending = make(map[string]*payment)
	}
}

func (b *payBook) shard(key string) int {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * 16777619
	}
	return int(h % uint32(len(b.shards)))
}

// claim makes p the payment for its key, or returns the one that is.
func (b *payBook) claim(p *payment) *payment {
	s := &b.shards[b.shard(p.key)]
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev := s.pending[p.key]; prev != nil {
		return prev
	}
	s.pending[p.key] = p
	p.book = b
	return nil
}

func (b *payBook) remove(p *payment) {
	s := &b.shards[b.shard(p.key)]
	s.mu.Lock()
	if s.pending[p.key] == p {
		delete(s.pending, p.key)
	}
	s.mu.Unlock()
}

func (b *payBook) failAll(err error) {
	var all []*payment
	for i := range b.shards {
		s := &b.shards[i]
		s.mu.Lock()
		for _, p := range s.pending {
			all = append(all, p)
		}
		s.mu.Unlock()
	}
	for _, p := range all {
		p.finish(err)
	}
}

// errFromStore finishes a claimed payment whose key turned out to be on
// disk: whoever waits on it looks again.
var errFromStore = errors.New("payment is on disk")

// errNotSent ends a payment dropped from its channel's queue before it was
// signed (its caller gave up): nothing moved, so another caller of the same
// key that waited for it starts the payment again.
var errNotSent = errors.New("payment not sent")

// Pay pays through a channel and returns once the peer has durably
// acknowledged a proof covering the payment. If ctx ends first: a payment
// not yet signed is cancelled (an error, nothing moved); a signed one stays
// pending (ErrPending), and a retry with the same key reports its outcome.
// A retry whose ctx ends while another call's payment of its key is under
// way gets ErrPending too: that payment is not cancelled.
// A payment the payee refused and refunded fails with a *RefusedError.
func (n *Node) Pay(ctx context.Context, r PayRequest) (PaymentInfo, error) {
	if n.met == nil {
		return n.pay(ctx, r)
	}
	start := time.Now()
	info, err := n.pay(ctx, r)
	n.met.paid(start, err)
	return info, err
}

func (n *Node) pay(ctx context.Context, r PayRequest) (PaymentInfo, error) {
	if err := checkPayRequest(&r); err != nil {
		return PaymentInfo{}, err
	}
	if err := n.usable(); err != nil {
		return PaymentInfo{}, err
	}
	c, err := n.payChannel(&r)
	if err != nil {
		return PaymentInfo{}, err
	}
	if r.Offer != nil && c.params.Asset != r.Offer.Asset {
		return PaymentInfo{}, invalid("the offer is in %s, channel %s in %s", r.Offer.Asset, c.id, c.params.Asset)
	}
	onDisk := false // its key was found restored from the peer: look on disk
	for {
		p := &payment{
			id: randomID(), key: r.Key, chanID: c.id, peer: c.peer, amount: r.Amount, itemID: r.ItemID, memo: r.Memo,
			wantReceipt: r.Receipt || r.Offer != nil, offer: r.Offer, stream: r.Stream, token: r.Token, done: make(chan struct{}),
		}
		if prev := n.pays.claim(p); prev != nil {
			if !prev.same(&r, c.id) {
				return PaymentInfo{}, wrapf(ErrIdempotency, "key %q", r.Key)
			}
			info, err := n.waitFor(ctx, prev, false) // a call that gives up drops only its own payment
			if errors.Is(err, errFromStore) || errors.Is(err, errNotSent) && ctx.Err() == nil {
				continue // it is on disk; or it was dropped unsigned: pay it here
			}
			info.Earlier = true // another call's payment: this one paid nothing
			return info, err
		}
		if r.New && !onDisk {
			c.postHere(func() { c.enqueue(p) })
			info, err := n.wait(ctx, p)
			if errors.Is(err, errFromStore) {
				onDisk = true
				continue
			}
			return info, err
		}
		// The key is ours in memory; it may be on disk from before.
		e, err := n.store.PaymentByIdempotencyKey(r.Key)
		if err == nil {
			p.finish(errFromStore)
			return n.waitStored(ctx, e, &r, c.id)
		}
		if !errors.Is(err, store.ErrNotFound) {
			p.finish(err)
			return PaymentInfo{}, err
		}
		c.postHere(func() { c.enqueue(p) }) // signed at the batch's end (pumpQueued)
		info, err := n.wait(ctx, p)
		if errors.Is(err, errFromStore) {
			onDisk = true
			continue // restored from the peer meanwhile (answerRecovered): answered from disk
		}
		return info, err
	}
}

// wait waits for p, this call's payment, to finish, or for ctx. A payment
// still queued when ctx ends is dropped (nothing moved); a signed one stays
// pending in the channel and in the book, so that a retry of its key waits
// for it.
func (n *Node) wait(ctx context.Context, p *payment) (PaymentInfo, error) {
	return n.waitFor(ctx, p, true)
}

// waitFor is wait; a payment another call made (a retry of its key waits
// for it: !mine) is never dropped when this call's ctx ends, since that
// call still waits for it: unless it has finished, this call then fails
// with ErrPending and ctx's error, signed or not (it may still pay).
func (n *Node) waitFor(ctx context.Context, p *payment, mine bool) (PaymentInfo, error) {
	select {
	case <-p.done:
		return p.result()
	case <-ctx.Done():
	}
	c := n.chans.get(p.chanID)
	type answer struct {
		info   PaymentInfo
		signed bool
	}
	reply := make(chan answer, 1)
	c.do(func() {
		info, signed := c.cancel(p, ctx.Err(), mine)
		reply <- answer{info, signed}
	})
	a := <-reply // the owner never blocks: this is quick
	if a.signed {
		return a.info, fmt.Errorf("%w: %w", ErrPending, ctx.Err())
	}
	if !mine {
		select {
		case <-p.done:
			return p.result()
		default:
			// Not cancelled: the other call still makes it, and it may
			// pay. Only a retry of the key can tell (ErrPending), as when
			// it waits for the other call's admission or is signed.
			return a.info, fmt.Errorf("%w: another call is making the payment of key %q: %w", ErrPending, p.key, ctx.Err())
		}
	}
	<-p.done
	return p.result()
}

func (p *payment) result() (PaymentInfo, error) {
	if p.err != nil && p.nonce == 0 {
		return PaymentInfo{}, p.err
	}
	return p.info(p.err == nil), p.err
}

// cancel gives up waiting for p. A payment still queued is dropped if
// drop (it fails, nothing moved), or else left queued. For one that is
// signed and not finished it returns its info so far and signed=true.
func (c *chanActor) cancel(p *payment, cause error, drop bool) (PaymentInfo, bool) {
	if i := slices.Index(c.queue, p); i >= 0 {
		if drop {
			c.queue = slices.Delete(c.queue, i, i+1)
			p.finish(fmt.Errorf("%w: %w", errNotSent, cause))
		}
		return PaymentInfo{}, false
	}
	select {
	case <-p.done:
		return PaymentInfo{}, false
	default:
	}
	return p.info(false), true
}

// waitStored answers a retry of a payment already on disk: it returns once
// a proof covering it is acknowledged, or the payee refunded it.
func (n *Node) waitStored(ctx context.Context, e *storev1.LogEntry, r *PayRequest, chanID channel.ID) (PaymentInfo, error) {
	info, err := paymentInfo(e)
	if err != nil {
		return PaymentInfo{}, err
	}
	if !info.Outgoing || info.Channel != chanID || !info.Amount.Eq(&r.Amount) || info.ItemID != r.ItemID || info.Memo != r.Memo {
		return PaymentInfo{}, wrapf(ErrIdempotency, "key %q", r.Key)
	}
	n.attachReceipt(&info, e)
	info.Earlier = true
	c := n.chans.get(info.Channel)
	if c == nil {
		return info, wrapf(ErrNotFound, "channel %s", info.Channel)
	}
	paid := func() (PaymentInfo, error) { // unless the payee gave it back
		if err := n.refundOf(info.ID); err != nil {
			return info, err
		}
		if info.Receipt == nil { // it may have come since (sent again after a restart)
			n.attachReceipt(&info, e)
		}
		info.Complete = true
		return info, nil
	}
	for {
		wake := c.ackWaiter()
		ci := c.info()
		if ci.outcomeKnown(info.Nonce) {
			// A refund comes before the Ack, or, after a restart, with
			// the proofs the peer sends again after its Reestablish: once
			// those are here and the channel's writes in flight durable,
			// it is on disk.
			if err := c.stepAndWait(ctx, func() {}); err != nil {
				return info, fmt.Errorf("%w: %w", ErrPending, err)
			}
			return paid()
		}
		if ci.Phase == channel.Settled {
			// The close decided it: paid if what it counted covers it,
			// unless the payee gave it back (the refund is on disk: it
			// came before its Ack).
			switch {
			case ci.moved == nil:
				return info, fmt.Errorf("%w: the channel closed before the peer acknowledged it", ErrPending)
			case !info.Cumulative.Gt(ci.moved):
				return paid()
			}
			return info, fmt.Errorf("%w: payment %x was signed but the channel closed before the peer acknowledged it; the close did not count it", ErrPeerRefused, info.ID[:4])
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return info, fmt.Errorf("%w: %w", ErrPending, ctx.Err())
		}
	}
}

// refundOf returns the refusal of payment id if the payee refunded it,
// and ErrPending if that cannot be read.
func (n *Node) refundOf(id [32]byte) error {
	rec, err := n.refundRecord(id)
	switch {
	case err != nil:
		return fmt.Errorf("%w: cannot read whether the payee refunded payment %x: %w", ErrPending, id[:4], err)
	case rec == nil:
		return nil
	}
	return &RefusedError{Payment: id, Reason: rec.GetMemo()}
}

// refundID is the local id of the refund of this node's payment id: one
// refund per payment. It hashes in the node's secret (idSalt) as
// incoming ids do: the peer knows the payment id and names the ids of
// the payments it returns in a recovery, and must not be able to take
// the id of a refund to come (the store would refuse the refund's
// record, and the node stop).
func (n *Node) refundID(paymentID [32]byte) [32]byte {
	return crypto.Keccak256([]byte("tinypay/refund"), n.idSalt[:], paymentID[:])
}

// unsaltedRefundID is the id of a refund recorded before refund ids were
// salted (2026-12-02); such records are still looked up under it.
func unsaltedRefundID(paymentID [32]byte) [32]byte {
	return crypto.Keccak256([]byte("tinypay/refund"), paymentID[:])
}

// refundRecord returns the record of the refund of payment id, under
// either form of its id, or nil. Only an incoming record that names id
// as the payment it refunds counts: what else sits under those ids (a
// recovered record under an unsalted id the peer chose) is not a refund.
// The error is a failed read, not a missing record.
func (n *Node) refundRecord(id [32]byte) (*storev1.Payment, error) {
	for _, rid := range [...][32]byte{n.refundID(id), unsaltedRefundID(id)} {
		e, err := n.store.PaymentByID(rid)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if rec := e.GetPayment(); rec.GetDirection() == storev1.Direction_DIRECTION_INCOMING && bytes.Equal(rec.GetRefundOf(), id[:]) {
			return rec, nil
		}
	}
	return nil, nil
}

// WriteAlong adds records to channel id's next write: add runs on the
// channel's owner (it must not block, and may take its caller's own lock)
// and what it adds goes to disk in order with the channel's own records.
// The application layer keeps records that belong to a channel (a
// stream's) in step with it this way.
func (n *Node) WriteAlong(id channel.ID, add func(b *store.Batch) error) error {
	c := n.chans.get(id)
	if c == nil {
		return wrapf(ErrNotFound, "channel %s", id)
	}
	c.do(func() {
		if err := add(c.batch()); err != nil {
			c.n.log.Error("records written along the channel refused", "channel", c.id, "err", err)
		}
	})
	return nil
}

// PayTarget returns the channel Pay would pay r through: the one it names,
// or an open channel with its peer (in its asset): the one paid on last
// while it holds the amount, else the one with the most balance.
func (n *Node) PayTarget(r PayRequest) (ChannelInfo, error) {
	c, err := n.payChannel(&r)
	if err != nil {
		return ChannelInfo{}, err
	}
	return c.info(), nil
}

// payChannel picks the channel for a payment.
func (n *Node) payChannel(r *PayRequest) (*chanActor, error) {
	if r.Channel != (channel.ID{}) {
		c := n.chans.get(r.Channel)
		if c == nil {
			return nil, wrapf(ErrNotFound, "channel %s", r.Channel)
		}
		if !r.Peer.IsZero() && r.Peer != c.peer {
			return nil, invalid("channel %s is not with peer %s", r.Channel, r.Peer)
		}
		return c, nil
	}
	asset := r.Asset
	if r.AnyAsset {
		assets := n.chans.openAssets(r.Peer)
		switch len(assets) {
		case 0:
			return nil, wrapf(ErrNotFound, "no open channel with %s", r.Peer)
		case 1:
			asset = assets[0]
		default:
			// A bare amount would be read in whichever asset has the most
			// balance: 1 could mean 1 wei or a millionth of a dollar.
			names := make([]string, len(assets))
			for i, a := range assets {
				names[i] = a.Hex()
				if known, ok := n.asset(a); ok {
					names[i] = known.Symbol
				}
			}
			slices.Sort(names)
			return nil, invalid("the channels with %s hold %s: name the asset of the amount", r.Peer, strings.Join(names, " and "))
		}
	}
	best := n.chans.pickOpen(r.Peer, asset, &r.Amount)
	if best == nil {
		what := asset.Hex()
		if a, ok := n.asset(asset); ok {
			what = a.Symbol
		}
		return nil, wrapf(ErrNotFound, "no open channel with %s in %s", r.Peer, what)
	}
	return best, nil
}

// --- on the channel's owner ---

// enqueue queues an outgoing payment and signs what the pipeline allows.
func (c *chanActor) enqueue(p *payment) {
	if c.answerRecovered(p) {
		return
	}
	if c.behind != nil {
		p.finish(wrapf(ErrBehind, "channel %s: %s", c.id, c.behind.reason(c)))
		return
	}
	if err := c.ch.CanPay(); err != nil {
		p.finish(err)
		return
	}
	if err := c.n.usable(); err != nil {
		p.finish(err)
		return
	}
	c.queue = append(c.queue, p)
	c.pumpDue = true
}

func (c *chanActor) endBatch() { c.pumpQueued() }

// pumpQueued runs at the end of each batch of the mailbox: the payments
// the batch queued go out together, in as few proofs as the pipeline
// allows, instead of one proof per Pay call that found room.
func (c *chanActor) pumpQueued() {
	if !c.pumpDue {
		return
	}
	c.pumpDue = false
	if len(c.queue) == 0 {
		return
	}
	c.pump()
	c.flush()
}

// canSign says whether proofs may be signed now. A disconnected peer is not
// a reason to fail a payment: it waits for the reconnect.
func (c *chanActor) canSign() bool {
	return c.ready && c.recovering == nil && c.ch.CanPay() == nil
}

// pump signs proofs for queued payments while the pipeline has room,
// covering as many queued payments with one proof as the balance and
// MaxParts allow (coalescing). Each proof goes to the peer with its write.
func (c *chanActor) pump() {
	if err := c.ch.CanPay(); err != nil {
		c.failQueued(err)
		return
	}
	for c.canSign() && len(c.queue) > 0 && len(c.flight) < c.n.cfg.MaxInFlight {
		avail := c.ch.Balance(c.self)
		var sum uint256.Int
		k, size := 0, 0
		for k < len(c.queue) && k < c.n.cfg.MaxParts {
			var next uint256.Int
			if _, over := next.AddOverflow(&sum, &c.queue[k].amount); over || next.Gt(&avail) {
				break
			}
			if size += recordSize(c.queue[k]); k > 0 && size > maxProofRecords {
				break // the rest in the next proof
			}
			sum, k = next, k+1
		}
		if k == 0 {
			p := c.queue[0]
			c.queue = c.queue[1:]
			p.finish(c.inAsset(&channel.InsufficientBalanceError{Side: c.self, Need: p.amount, Available: avail}))
			continue
		}
		pays := slices.Clone(c.queue[:k])
		clear(c.queue[:k])
		c.queue = c.queue[k:]
		proof, err := c.ch.Pay(&sum, c.n.key)
		if err != nil {
			for _, p := range pays {
				p.finish(err)
			}
			continue
		}
		c.signed(proof, pays)
	}
}

// maxProofRecords bounds the encoded size of the payments one own proof
// covers, as the peer returns them in a recovery (Recovered): a proof
// whose records do not fit one message could never be recovered after a
// crash that lost it, and its channel would wait for them for good.
const maxProofRecords = bytesPerMessage / 2

// recordSize is about what p takes in a Recovered, without its receipt
// (newestWithin drops receipts before records): its strings, ids and
// amounts, and the fields' tags and lengths.
func recordSize(p *payment) int {
	return len(p.key) + len(p.itemID) + len(p.memo) + 3*32 + 2*32 + 64
}

// signed records a new own proof and the payments it covers in the step:
// their records go into its batch, the proof leaves with the write, and the
// payments complete once both the write and the peer's ack are in.
func (c *chanActor) signed(proof channel.Proof, pays []*payment) {
	var cum uint256.Int
	for _, p := range pays {
		cum.Add(&cum, &p.amount)
	}
	cum.Sub(&proof.Transferred, &cum)
	now := c.n.clock.Now()
	b := c.batch()
	first := b.Logs() // the step may have written others before: an incoming proof, an earlier proof's payments
	for _, p := range pays {
		cum.Add(&cum, &p.amount)
		p.cumulative, p.nonce, p.time = cum, proof.Nonce, now
		// Every payment signed here has an id drawn at random here (pay,
		// the refunds of onProof), which no peer can know in advance: new,
		// so the store need not look it up.
		if err := b.AppendNewPayment(p.record(c.peer)); err != nil {
			c.n.fail(fmt.Errorf("build payment batch: %w", err)) // the request was validated: a bug
			for _, q := range pays {
				q.finish(err)
			}
			return
		}
	}
	c.am.signed(len(pays))
	f := &inflight{proof: proof, payments: pays}
	c.flight = append(c.flight, f)
	if c.step.parts == nil {
		c.step.parts = map[uint64][]*peerv1.PaymentPart{}
	}
	c.step.parts[proof.Nonce] = partsOf(pays)
	c.step.after = append(c.step.after, func(r store.Result, err error) { c.outgoingDurable(f, first, r, err) })
	c.step.durable = append(c.step.durable, func(err error) {
		if err == nil { // on the committer, before a proof received in this step is set durable (see durableSent)
			raise(&c.durableSent, proof.Nonce)
		}
	})
}

// raise sets a to v unless it holds more already.
func raise(a *atomic.Uint64, v uint64) {
	for old := a.Load(); old < v && !a.CompareAndSwap(old, v); old = a.Load() {
	}
}

func (c *chanActor) failQueued(err error) {
	for _, p := range c.queue {
		p.finish(err)
	}
	clear(c.queue)
	c.queue = c.queue[:0]
}

// outgoingDurable: a signed proof and its payments are on disk, the
// payments the log entries from the first-th of its batch on. If the
// write failed, the node has failed; the proof may have reached the peer
// (it leaves with its write), so its payments are pending, not failed:
// after a restart the peer's copy brings them back.
func (c *chanActor) outgoingDurable(f *inflight, first int, r store.Result, err error) {
	if err != nil {
		for _, p := range f.payments {
			p.finish(fmt.Errorf("%w: the node could not write it: %w", ErrPending, err))
		}
		return
	}
	for i, p := range f.payments {
		if first+i < len(r.Seqs) {
			p.seq = r.Seqs[first+i]
		}
	}
	f.durable = true
	c.durableNonce = max(c.durableNonce, f.proof.Nonce)
	c.completeAcked()
	c.pumpDue = true // room in the pipeline: sign once the batch is taken
	c.maybePropose()
}

// onAck completes every payment covered by an acknowledged proof.
func (c *chanActor) onAck(s *session, m *peerv1.Ack) {
	if c.sess != s {
		return
	}
	nonce := m.GetNonce()
	if err := c.ch.Ack(nonce); err != nil && (!errors.Is(err, channel.ErrStaleAck) || nonce <= c.ackTaken) {
		c.n.log.Debug("ignored ack", "channel", c.id, "nonce", nonce, "err", err)
		return
	}
	// Fresh, or sent again with the outcomes of a proof the peer's
	// Reestablish acknowledged (the first Ack was lost): see resendAcks.
	c.ackTaken, c.acksHere = max(c.ackTaken, nonce), max(c.acksHere, nonce)
	c.resync = 0
	c.onReceipts(m.GetReceipts(), nonce)
	c.onRefusals(m.GetRefused(), nonce)
	c.settleAwaited(nonce)
	c.completeAcked()
	c.pumpDue = true // room in the pipeline: sign once the batch is taken
	c.maybePropose()
}

// completeAcked finishes the payments of every proof that is durable here
// and whose Ack, with the payments' receipts and refusals, came: a proof
// the peer acknowledged by holding it (Reestablish) waits for its Ack to
// come again (awaitAcks).
func (c *chanActor) completeAcked() {
	acked := min(c.ch.Acked(), c.ackTaken)
	i, done := 0, 0
	for i < len(c.flight) && c.flight[i].proof.Nonce <= acked && c.flight[i].durable {
		for _, p := range c.flight[i].payments {
			if p.receiptAwaited() {
				c.receiptSettled(p) // none came with the Ack: none is awaited
			}
			c.complete(p)
		}
		done += len(c.flight[i].payments)
		i++
	}
	if i > 0 {
		c.am.sent(done)
		clear(c.flight[:i])
		c.flight = c.flight[i:]
	}
}

// complete finishes an acknowledged payment: paid, unless the payee refused
// it and gave the amount back.
func (c *chanActor) complete(p *payment) {
	if p.refusal == nil && p.refunded {
		// The refund came, the refusal did not (its Ack was lost, and not
		// sent again): the money came back, so the payment is refused.
		p.refusal = &RefusedError{Payment: p.id, Reason: p.refundMemo}
	}
	if p.refusal != nil {
		if p.refunded {
			p.finish(p.refusal)
			return
		}
		// The payee says it refused the payment but kept the money: the
		// money moved, so the payment is paid.
		c.warn(fmt.Sprintf("the peer refused payment %x (%s) but did not refund it", p.id[:4], p.refusal.Reason))
	}
	if p.receiptSaving {
		// Reported paid once its receipt is on disk too, so that whoever
		// asks for the payment next (a retry, a second purchase of a
		// once-only offer) finds the receipt with it. Writes are durable in
		// order: this step's notice comes after the receipt's.
		c.step.durable = append(c.step.durable, func(error) { p.finish(nil) })
		return
	}
	p.finish(nil)
}

// awaitAcks gives the peer RequestTimeout, after a reestablish on s, to
// send again the Acks of the proofs it acknowledged by holding them; then
// their payments complete without: paid (the peer holds the proof), or
// refused if the refund came. Not before this node holds the proofs the
// peer said it had (its refunds come with them; they may be read from its
// log first): until then the timer starts again.
func (c *chanActor) awaitAcks(s *session) {
	acked := c.ch.Acked()
	if acked <= c.ackTaken || c.acksAwaited == s {
		return
	}
	c.acksAwaited = s
	c.after(c.n.cfg.RequestTimeout, func() {
		if c.acksAwaited == s {
			c.acksAwaited = nil
		}
		if c.sess != s || c.ackTaken >= acked {
			return
		}
		if !c.caughtUp() {
			c.awaitAcks(s)
			return
		}
		c.n.log.Warn("peer did not send again the acknowledgement of proofs it holds; their payments complete without their receipts and refusals",
			"channel", c.id, "peer", c.peer, "from", c.ackTaken+1, "to", acked)
		c.ackTaken = acked
		c.settleAwaited(acked)
		c.completeAcked()
	})
}

// onReceipts checks and keeps the receipts an Ack carries: each must be the
// peer's signature over one of this node's payments up to nonce.
func (c *chanActor) onReceipts(rs []*peerv1.Receipt, nonce uint64) {
	if len(rs) == 0 {
		return
	}
	byID := map[[32]byte]*payment{}
	for _, p := range c.awaited { // from before a start (see settleAwaited)
		if p.nonce > nonce {
			break
		}
		byID[p.id] = p
	}
	for _, f := range c.flight {
		if f.proof.Nonce > nonce {
			break
		}
		for _, p := range f.payments {
			if p.wantReceipt {
				byID[p.id] = p
			}
		}
	}
	for _, r := range rs {
		id, err := parseHash("payment id", r.GetPaymentId())
		if err != nil {
			continue
		}
		sig, err := parseSig("signature", r.GetSignature())
		if err != nil {
			continue
		}
		p := byID[id]
		if p == nil || p.receipt != nil || p.receiptSaving {
			continue // a payment from before a restart, or a duplicate
		}
		var offer crypto.Hash
		if p.offer != nil {
			offer = p.offer.ID
		}
		f := c.receiptFields(p.id, c.n.self, c.peer, &p.amount, &p.cumulative, p.itemID, offer, r.GetTime())
		if err := crypto.Verify(c.ch.Domain().ReceiptDigest(&f), sig, c.peer); err != nil {
			c.n.log.Warn("peer sent a bad receipt", "channel", c.id, "payment", id, "err", err)
			continue
		}
		if !p.finished() {
			// A finished payment (its write failed: the node stops) is
			// its caller's to read; its receipt still goes to disk, where
			// a read by its key finds it (PaymentByKey).
			p.receipt = &ReceiptInfo{Time: r.GetTime(), Sig: sig}
		}
		if err := c.batch().PutReceipt(&storev1.Receipt{PaymentId: id[:], Time: r.GetTime(), Signature: sig[:]}); err != nil {
			c.n.log.Error("store receipt", "err", err)
		} else {
			p.receiptSaving = true
			c.receiptSettled(p)
		}
	}
}

// receiptAwaited: p asked for a receipt, has none yet and is not a
// refund (the store's awaited index holds it; see store.ReceiptSettled).
func (p *payment) receiptAwaited() bool {
	return p.wantReceipt && p.receipt == nil && p.refundOf == ([32]byte{})
}

// receiptSettled removes p from the store's awaited receipts, in the
// channel's next write: its receipt is in that write, or will not come.
func (c *chanActor) receiptSettled(p *payment) {
	if err := c.batch().ReceiptSettled(c.id, p.nonce, p.id); err != nil {
		c.n.log.Error("store receipt awaited", "channel", c.id, "payment", p.id, "err", err)
	}
}

// settleAwaited stops awaiting the receipts of payments from before the
// start of proofs up to nonce: the peer acknowledged them again, with the
// receipts it had (onReceipts wrote those), or is taken to have none.
func (c *chanActor) settleAwaited(nonce uint64) {
	i := 0
	for ; i < len(c.awaited) && c.awaited[i].nonce <= nonce; i++ {
		if p := c.awaited[i]; p.receiptAwaited() {
			c.receiptSettled(p)
		}
	}
	if i > 0 {
		clear(c.awaited[:i])
		c.awaited = c.awaited[i:]
		if len(c.awaited) == 0 {
			c.awaited = nil
		}
	}
}

// onRefusals marks the payments the peer refused (and refunded).
func (c *chanActor) onRefusals(rs []*peerv1.Refusal, nonce uint64) {
	for _, r := range rs {
		id, err := parseHash("payment id", r.GetPaymentId())
		if err != nil {
			continue
		}
		for _, f := range c.flight {
			if f.proof.Nonce > nonce {
				break
			}
			for _, p := range f.payments {
				if p.id == id && p.refusal == nil {
					p.refusal = &RefusedError{Payment: id, Code: r.GetCode(), Reason: truncate(r.GetReason(), store.MaxReasonLen)}
				}
			}
		}
	}
}

// receiptFields are what a payee signs (or a payer checks) for a payment.
func (c *chanActor) receiptFields(paymentID [32]byte, payer, payee crypto.Address, amount, cum *uint256.Int, item string, offer crypto.Hash, t uint64) crypto.ReceiptFields {
	return crypto.ReceiptFields{Channel: c.id, Payment: paymentID, Payer: payer, Payee: payee, Asset: c.params.Asset,
		Amount: *amount, Cumulative: *cum, ItemID: item, Offer: offer, Time: t}
}

// ReceiptInfo is a payee's signature over a payment.
type ReceiptInfo struct {
	Time uint64 // unix seconds
	Sig  crypto.Signature
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// maxResendParts bounds the payments read back from the log to resend
// with a proof: a peer restored from an old backup may lack many more.
const maxResendParts = 16 << 10

// outgoingParts reads back from the log the payments this node covered with
// its proofs after held (the newest the peer holds) up to sent (its
// newest), oldest first, to resend with sent: at most limit of them, the
// newest. What they do not cover of the amount sent adds to held (older
// payments beyond the limit, or records this node lacks: a restore) goes
// as one summary part first, so that the parts always add up to the proof.
func (n *Node) outgoingParts(id channel.ID, asset crypto.Address, held, sent channel.Proof, limit int) []*peerv1.PaymentPart {
	recs := n.paymentsAfter(id, storev1.Direction_DIRECTION_OUTGOING, held.Nonce, sent.Nonce, limit)
	var from uint256.Int // the cumulative amount before the first record kept
	if len(recs) > 0 {
		first, err1 := parseAmount("cumulative", recs[0].GetCumulative())
		amt, err2 := parseAmount("amount", recs[0].GetAmount())
		last, err3 := parseAmount("cumulative", recs[len(recs)-1].GetCumulative())
		if err := errors.Join(err1, err2, err3); err != nil || first.Lt(&amt) || !last.Eq(&sent.Transferred) {
			recs = nil // the records do not end at the proof: one summary covers it all
		} else {
			from.Sub(&first, &amt)
		}
	}
	if len(recs) == 0 {
		from = sent.Transferred
	}
	var out []*peerv1.PaymentPart
	if from.Gt(&held.Transferred) {
		var gap uint256.Int
		gap.Sub(&from, &held.Transferred)
		upTo := sent.Nonce
		if len(recs) > 0 {
			upTo = recs[0].GetNonce() - 1
		}
		sid := crypto.Keccak256([]byte("tinypay/resend-summary"), id[:], binary.BigEndian.AppendUint64(nil, held.Nonce), binary.BigEndian.AppendUint64(nil, upTo))
		out = append(out, &peerv1.PaymentPart{PaymentId: sid[:], Amount: amountBytes(&gap),
			Memo: fmt.Sprintf("payments of proofs %d to %d, resent as one sum", held.Nonce+1, upTo)})
		n.log.Info("resending older payments as one sum", "channel", id, "from_nonce", held.Nonce+1, "to_nonce", upTo, "amount", gap.Dec())
	}
	for _, p := range recs {
		part := &peerv1.PaymentPart{PaymentId: p.GetId(), Amount: p.GetAmount(), ItemId: p.GetItemId(), Memo: p.GetMemo(),
			IdempotencyKey: p.GetIdempotencyKey(), WantReceipt: p.GetWantReceipt(), StreamId: p.GetStreamId()}
		if o := offerOfRecord(p, asset); o != nil {
			part.Offer = offerMessage(o)
		}
		if len(p.GetRefundOf()) == 32 {
			// A refund names the payer's id of what it gives back; the
			// record keeps our own id of it, so look the payer's up.
			if e, err := n.store.PaymentByID([32]byte(p.GetRefundOf())); err == nil {
				part.RefundOf = e.GetPayment().GetRemoteId()
			}
		}
		out = append(out, part)
	}
	return out
}

// paymentsAfter reads the payments in one direction of channel id with a
// nonce in (after, upTo] from the store's index of payments by channel,
// and returns them oldest first: what it reads is what it returns, however
// long the log. With limit > 0 it returns only the newest proofs'
// payments, at most limit of them, whole proofs only; without, at most
// store.MaxChannelPayments-1, whole proofs too. A read error is logged and
// returns nothing.
func (n *Node) paymentsAfter(id channel.ID, dir storev1.Direction, after, upTo uint64, limit int) []*storev1.Payment {
	if limit <= 0 || limit >= store.MaxChannelPayments {
		limit = store.MaxChannelPayments - 1
	}
	out, err := n.store.ChannelPayments(id, dir, after, upTo, limit+1)
	if err != nil {
		n.log.Error("read the payments of a channel", "channel", id, "err", err)
		return nil
	}
	if len(out) > limit {
		oldest := out[len(out)-1].GetNonce() // maybe not whole: drop it
		for len(out) > 0 && out[len(out)-1].GetNonce() == oldest {
			out = out[:len(out)-1]
		}
	}
	slices.Reverse(out)
	return out
}
