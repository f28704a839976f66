package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
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
	// Channel to pay through; if zero, the open channel with Peer (in Asset,
	// if set) with the most balance is used.
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
	// Receipt asks the payee for a signed receipt (implied by ItemID and
	// Offer).
	Receipt bool
	// Offer, if set, is the payee's offer this payment pays: amount, item,
	// payee and key follow from it, and it is paid at most once.
	Offer *Offer
	// Token is the app token paying, if any: its policy limits the payment.
	Token TokenID
	// stream is the stream this payment is a tick of (set by the node).
	stream [16]byte
}

// payment is one outgoing payment on its way.
type payment struct {
	n      *Node
	id     [32]byte
	key    string
	chanID channel.ID
	peer   crypto.Address
	amount uint256.Int
	itemID string
	memo   string

	wantReceipt bool
	offer       crypto.Hash // the offer paid, if any
	offerMsg    *Offer
	stream      [16]byte // the stream it is a tick of, if any
	receipt     *ReceiptInfo
	token       TokenID // the app token that pays, if any
	window      int64   // the token period it was counted in

	// Set under the channel's lock when a proof covers the payment.
	nonce      uint64
	cumulative uint256.Int
	time       time.Time
	seq        uint64

	once   sync.Once
	done   chan struct{}
	err    error
	stored bool // the payment is durable: its key is in the store
}

func (p *payment) logEntry(c *chanState) *storev1.LogEntry {
	return &storev1.LogEntry{TimeUnixNano: p.time.UnixNano(), Entry: &storev1.LogEntry_Payment{Payment: &storev1.Payment{
		Id: p.id[:], IdempotencyKey: p.key, ChannelId: c.id[:], Direction: storev1.Direction_DIRECTION_OUTGOING,
		Amount: amountBytes(&p.amount), Cumulative: amountBytes(&p.cumulative), Nonce: p.nonce,
		TimeUnixNano: p.time.UnixNano(), ItemId: p.itemID, Memo: p.memo, Peer: c.peer[:],
		OfferId: optionalID(p.offer[:]), StreamId: optionalID(p.stream[:]), WantReceipt: p.wantReceipt,
		TokenId: optionalID(p.token[:]),
	}}}
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

// durable: the signed proof and the payment are on disk.
func (p *payment) durable() {
	p.n.payMu.Lock()
	p.stored = true
	p.n.payMu.Unlock()
}

// complete: a proof covering the payment was acknowledged.
func (p *payment) complete() { p.finish(nil) }

// fail: the payment was never signed (or its write failed); the key is free
// for a retry, and an app token's reservation is given back.
func (p *payment) fail(err error) {
	p.once.Do(func() {
		if !p.token.IsZero() {
			p.n.release(p.token, p.window, p.peer, &p.amount)
		}
		p.finishLocked(err)
	})
}

// refused: the peer refused the proof. The payment is signed and stored, so
// it stays pending: a later acknowledged proof or the close terms settle it.
func (p *payment) refused(err error) { p.finish(err) }

func (p *payment) finish(err error) { p.once.Do(func() { p.finishLocked(err) }) }

// finishLocked runs once, inside p.once.
func (p *payment) finishLocked(err error) {
	p.err = err
	close(p.done)
	p.n.payMu.Lock()
	if p.n.pending[p.key] == p {
		delete(p.n.pending, p.key)
	}
	p.n.payMu.Unlock()
}

func (p *payment) info(complete bool) PaymentInfo {
	return PaymentInfo{
		Seq: p.seq, ID: p.id, Key: p.key, Channel: p.chanID, Outgoing: true, Amount: p.amount,
		Cumulative: p.cumulative, Nonce: p.nonce, Time: p.time, ItemID: p.itemID, Memo: p.memo,
		Peer: p.peer, Complete: complete, OfferID: p.offer, StreamID: p.stream, Receipt: p.receipt,
	}
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
	}
	return nil
}

// Pay pays through a channel and returns once the peer has durably
// acknowledged a proof covering the payment. If ctx ends first: a payment
// not yet signed is cancelled; a signed one stays pending, and a retry with
// the same key reports its outcome.
func (n *Node) Pay(ctx context.Context, r PayRequest) (PaymentInfo, error) {
	if r.Offer != nil {
		if err := n.applyOffer(&r); err != nil {
			return PaymentInfo{}, err
		}
	}
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
	n.payMu.Lock()
	if prev := n.pending[r.Key]; prev != nil {
		n.payMu.Unlock()
		if !prev.same(&r, c.id) {
			return PaymentInfo{}, wrapf(ErrIdempotency, "key %q", r.Key)
		}
		return n.wait(ctx, c, prev)
	}
	if e, err := n.store.PaymentByIdempotencyKey(r.Key); err == nil {
		n.payMu.Unlock()
		return n.waitStored(ctx, e, &r, c.id)
	} else if !errors.Is(err, store.ErrNotFound) {
		n.payMu.Unlock()
		return PaymentInfo{}, err
	}
	p := &payment{
		n: n, id: randomID(), key: r.Key, chanID: c.id, peer: c.peer, amount: r.Amount,
		itemID: r.ItemID, memo: r.Memo, done: make(chan struct{}),
		wantReceipt: r.Receipt || r.ItemID != "" || r.Offer != nil, offerMsg: r.Offer, stream: r.stream,
	}
	if r.Offer != nil {
		if c.ch.Params().Asset != r.Offer.Asset {
			n.payMu.Unlock()
			return PaymentInfo{}, invalid("the offer is in %s, channel %s in %s", r.Offer.Asset, c.id, c.ch.Params().Asset)
		}
		p.offer = r.Offer.ID
	}
	if !r.Token.IsZero() {
		w, err := n.reserve(r.Token, c.peer, c.ch.Params().Asset, &r.Amount)
		if err != nil {
			n.payMu.Unlock()
			return PaymentInfo{}, err
		}
		p.token, p.window = r.Token, w
	}
	n.pending[r.Key] = p
	n.payMu.Unlock()

	c.mu.Lock()
	if c.answerRecovered(p) {
		c.mu.Unlock()
		return n.wait(ctx, c, p)
	}
	if err := c.canQueue(); err != nil {
		c.mu.Unlock()
		p.fail(err)
		return PaymentInfo{}, err
	}
	c.queue = append(c.queue, p)
	c.pump()
	c.mu.Unlock()
	return n.wait(ctx, c, p)
}

// canQueue refuses payments a channel can never carry; a disconnected
// peer is not a reason (payments wait for the reconnect).
func (c *chanState) canQueue() error {
	if err := c.canPay(); err != nil && !errors.Is(err, ErrNotConnected) {
		return err
	}
	return nil
}

func (n *Node) wait(ctx context.Context, c *chanState, p *payment) (PaymentInfo, error) {
	select {
	case <-p.done:
	case <-ctx.Done():
		c.mu.Lock()
		if i := slices.Index(c.queue, p); i >= 0 {
			c.queue = slices.Delete(c.queue, i, i+1)
			c.mu.Unlock()
			p.fail(fmt.Errorf("payment not sent: %w", ctx.Err()))
			return PaymentInfo{}, p.err
		}
		info := p.info(false)
		c.mu.Unlock()
		return info, fmt.Errorf("payment signed, not acknowledged yet (retry with the same key to learn the outcome): %w", ctx.Err())
	}
	c.mu.Lock()
	info := p.info(p.err == nil)
	c.mu.Unlock()
	if p.err != nil {
		return info, p.err
	}
	return info, nil
}

// waitStored answers a retry of a payment already on disk: it returns once a
// proof covering it is acknowledged.
func (n *Node) waitStored(ctx context.Context, e *storev1.LogEntry, r *PayRequest, chanID channel.ID) (PaymentInfo, error) {
	info, err := paymentInfo(e)
	if err != nil {
		return PaymentInfo{}, err
	}
	if !info.Outgoing || info.Channel != chanID || !info.Amount.Eq(&r.Amount) || info.ItemID != r.ItemID || info.Memo != r.Memo {
		return PaymentInfo{}, wrapf(ErrIdempotency, "key %q", r.Key)
	}
	c, err := n.channelByID(info.Channel)
	if err != nil {
		return PaymentInfo{}, err
	}
	for {
		c.mu.Lock()
		acked, wake := c.ch.Acked(), c.acked
		phase := c.ch.Phase()
		c.mu.Unlock()
		if acked >= info.Nonce {
			info.Complete = true
			return info, nil
		}
		if phase == channel.Settled || phase == channel.Closed {
			return info, fmt.Errorf("%w: payment %x was signed but the channel closed before the peer acknowledged it", ErrPeerRefused, info.ID[:4])
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return info, fmt.Errorf("payment signed, not acknowledged yet: %w", ctx.Err())
		}
	}
}

// payChannel picks the channel for a payment.
func (n *Node) payChannel(r *PayRequest) (*chanState, error) {
	if r.Channel != (channel.ID{}) {
		c, err := n.channelByID(r.Channel)
		if err != nil {
			return nil, err
		}
		if !r.Peer.IsZero() && r.Peer != c.peer {
			return nil, invalid("channel %s is not with peer %s", r.Channel, r.Peer)
		}
		return c, nil
	}
	var best *chanState
	var bestBal uint256.Int
	for _, c := range n.channelsWith(r.Peer) {
		c.mu.Lock()
		ok := c.ch.Phase() == channel.Open && (r.AnyAsset || c.ch.Params().Asset == r.Asset)
		bal := c.ch.Balance(c.self)
		c.mu.Unlock()
		if ok && (best == nil || bal.Gt(&bestBal)) {
			best, bestBal = c, bal
		}
	}
	if best == nil {
		return nil, wrapf(ErrNotFound, "no open channel with %s in that asset", r.Peer)
	}
	return best, nil
}

// outgoingParts reads back from the log the payments this node covered with
// proofs after nonce `after` up to `upTo` on channel id, oldest first.
func (n *Node) outgoingParts(id channel.ID, after, upTo uint64) []*peerv1.PaymentPart {
	recs := n.paymentsAfter(id, storev1.Direction_DIRECTION_OUTGOING, after, upTo)
	out := make([]*peerv1.PaymentPart, len(recs))
	for i, p := range recs {
		out[i] = &peerv1.PaymentPart{PaymentId: p.GetId(), Amount: p.GetAmount(), ItemId: p.GetItemId(), Memo: p.GetMemo(), IdempotencyKey: p.GetIdempotencyKey()}
	}
	return out
}

// paymentsAfter reads the log backwards for the payments in one direction
// of channel id with a nonce in (after, upTo], and returns them oldest
// first. Recent payments are at the end of the log, so this stops early.
func (n *Node) paymentsAfter(id channel.ID, dir storev1.Direction, after, upTo uint64) []*storev1.Payment {
	var out []*storev1.Payment
	before := n.store.LastSeq() + 1
	for {
		page, err := n.store.LogBefore(before, 256)
		if err != nil {
			n.log.Error("read log", "channel", id, "err", err)
			break
		}
		if len(page) == 0 {
			break
		}
		done := false
		for _, e := range page {
			p := e.GetPayment()
			if p == nil || p.GetDirection() != dir || [32]byte(p.GetChannelId()) != id {
				continue
			}
			if p.GetNonce() <= after {
				done = true
				break
			}
			if p.GetNonce() <= upTo {
				out = append(out, p)
			}
		}
		if done {
			break
		}
		before = page[len(page)-1].GetSeq()
	}
	slices.Reverse(out)
	return out
}
