package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
	"github.com/tinypay/tinypay/store"
)

// PeerInfo describes a peer.
type PeerInfo struct {
	Address    crypto.Address
	RemoteAddr string
	Connected  bool
	// DialAddrs are the addresses the node dials the peer at, in the
	// order it tries them (at most MaxPeerAddrs).
	DialAddrs []string
}

// PaymentInfo describes a payment in or out.
type PaymentInfo struct {
	Seq        uint64
	ID         [32]byte
	Key        string // idempotency key (outgoing only)
	Channel    channel.ID
	Outgoing   bool
	Amount     uint256.Int
	Cumulative uint256.Int
	Nonce      uint64
	Time       time.Time
	ItemID     string
	Memo       string
	Peer       crypto.Address
	RemoteID   [32]byte // incoming: the payer's id
	// Complete: acknowledged by the peer (outgoing) or durably received
	// (incoming).
	Complete bool
	OfferID  crypto.Hash  // the offer it paid, if any
	StreamID [16]byte     // the stream it is a tick of, if any
	Token    [16]byte     // the app token that paid it (outgoing), if any
	Receipt  *ReceiptInfo // the payee's receipt, if one was asked for
	// RefundOf is set on a refund: the payment it gives back (outgoing:
	// this node's id of the incoming payment it refused; incoming: this
	// node's payment the peer refused).
	RefundOf [32]byte
	// Refused (incoming only): this node refused the payment for this
	// reason and refunded it.
	Refused string
	// Earlier (outgoing, from Pay): the payment was made by another call
	// with the same key, one that finished before this one began (perhaps
	// in an earlier run) or that was under way meanwhile; Pay answered
	// with it, or with its error, and paid nothing.
	Earlier bool
}

// ChannelInfo describes a channel from this node's side.
type ChannelInfo struct {
	ID              channel.ID
	Peer            crypto.Address
	Asset           Asset
	Phase           channel.Phase
	Side            channel.Side
	MyDeposit       uint256.Int
	PeerDeposit     uint256.Int
	MyWithdrawn     uint256.Int
	PeerWithdrawn   uint256.Int
	MyBalance       uint256.Int
	PeerBalance     uint256.Int
	Sent            uint256.Int
	SentNonce       uint64
	AckedNonce      uint64
	Received        uint256.Int
	ReceivedNonce   uint64
	ChallengePeriod uint64
	SettleAfter     uint64
	CloseExpiry     uint64     // while closing: when the signed terms expire (chain time)
	Op              channel.Op // the operation in progress, if any
	Connected       bool
	Created         time.Time
	// Behind is empty, or why this node may be behind on the channel and
	// refuses to pay on it (ErrBehind) until it has caught up with the
	// peer and the chain.
	Behind string

	timed bool         // the chain's time may start a duty
	moved *uint256.Int // settled: how much of what this node paid the close counted, if known
	// outcomes: the newest own proof whose payments' outcomes (refused
	// and refunded, or paid) this node knows: acknowledged, and its Ack
	// taken (see chanActor.ackTaken). Below AckedNonce while an Ack lost
	// with a connection is to come again.
	outcomes uint64
	// caughtUp: this node has every proof of the peer's the peer said it
	// had at the last reestablish (a refund among them).
	caughtUp bool
	acksHere uint64 // chanActor.acksHere
}

// NodeInfo describes the node.
type NodeInfo struct {
	Address     crypto.Address
	ChainID     uint64
	Adjudicator crypto.Address
	ListenAddr  string
	// ListenAddrs are every peer address the node advertises, ListenAddr
	// first (none if it accepts no peers).
	ListenAddrs []string
	Assets      []Asset
	ChainTime   uint64
	LastSeq     uint64 // the newest event in the log
	// Restored: the node started from a backup (Config.Restored) and has
	// not caught up on every channel yet.
	Restored bool
	// ChannelsBehind counts the channels it refuses to pay on because it
	// may be behind on them (ChannelInfo.Behind).
	ChannelsBehind int
	// ChannelsOpen counts the open channels; ChannelsReady those of them
	// that can pay now (ChannelInfo.Connected).
	ChannelsOpen, ChannelsReady int
	// ChainHead is the newest block the watcher read (ChainTime is its
	// time); WatcherLastPoll when a round of the watcher last succeeded
	// (zero before the first) and WatcherError why the last one failed
	// ("" if it succeeded).
	ChainHead       uint64
	WatcherLastPoll time.Time
	WatcherError    string
}

// AssetBalance is what the node holds of one asset.
type AssetBalance struct {
	Asset      Asset
	Wallet     uint256.Int // the node account's balance on chain
	InChannels uint256.Int // this node's side of its open channels
	Payout     uint256.Int // credited by the adjudicator, not yet withdrawn
}

// buildInfo describes the channel as its owner sees it now.
func (c *chanActor) buildInfo() ChannelInfo {
	self, peer := c.self, c.self.Other()
	a, ok := c.n.asset(c.params.Asset)
	if !ok {
		a = Asset{Address: c.params.Asset, Symbol: c.params.Asset.Hex()[:10]}
	}
	dep, wd := c.ch.Funds()
	phase := c.ch.Phase()
	sent, recv := c.ch.Sent(), c.ch.Received()
	_, withdrawing := c.ch.Withdrawal()
	ci := ChannelInfo{
		ID: c.id, Peer: c.peer, Asset: a, Phase: phase, Side: self, Op: c.ch.Op(),
		MyDeposit: dep[self], PeerDeposit: dep[peer],
		MyWithdrawn: wd[self], PeerWithdrawn: wd[peer],
		MyBalance: c.ch.Balance(self), PeerBalance: c.ch.Balance(peer),
		Sent: sent.Transferred, SentNonce: sent.Nonce, AckedNonce: c.ch.Acked(),
		Received: recv.Transferred, ReceivedNonce: recv.Nonce,
		ChallengePeriod: c.params.ChallengePeriod, Connected: c.ready, Created: c.created,
		timed:  phase == channel.Closing || phase == channel.Closed || withdrawing,
		Behind: c.behind.reason(c),
	}
	if d, ok := c.ch.Dispute(); ok {
		ci.SettleAfter = d.SettleAfter
	}
	if t, ok := c.ch.CloseTerms(); ok {
		ci.CloseExpiry = t.Expiry
	}
	ci.moved = c.moved()
	ci.outcomes = min(c.ch.Acked(), c.ackTaken)
	ci.caughtUp, ci.acksHere = c.caughtUp(), c.acksHere
	return ci
}

// Info describes the node.
func (n *Node) Info() NodeInfo {
	assets := make([]Asset, 0, len(n.assets))
	for _, a := range n.assets {
		assets = append(assets, a)
	}
	slices.SortFunc(assets, func(a, b Asset) int {
		if a.Address.IsZero() != b.Address.IsZero() {
			if a.Address.IsZero() {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Symbol, b.Symbol)
	})
	open, ready := n.chans.counts()
	var w watchRound
	if r := n.watched.Load(); r != nil {
		w = *r
	}
	return NodeInfo{
		ChannelsOpen: open, ChannelsReady: ready,
		Address: n.self, ChainID: n.chain.ChainID(), Adjudicator: n.chain.Adjudicator(),
		ListenAddr: n.cfg.ListenAddr, ListenAddrs: n.listenAddrs(), Assets: assets, ChainTime: n.now(), LastSeq: n.store.LastSeq(),
		Restored: n.behind.restored.Load(), ChannelsBehind: int(n.behind.channels.Load()),
		ChainHead: n.chainHead.Load(), WatcherLastPoll: w.LastOK, WatcherError: w.Err,
	}
}

// Balances reports, per known asset, the wallet balance, the share of open
// channels, and payouts waiting in the adjudicator.
func (n *Node) Balances(ctx context.Context) ([]AssetBalance, error) {
	info := n.Info()
	out := make([]AssetBalance, 0, len(info.Assets))
	for _, a := range info.Assets {
		wallet, err := n.chain.Balance(ctx, n.self, a.Address)
		if err != nil {
			return nil, fmt.Errorf("balance of %s: %w", a.Symbol, err)
		}
		payout, err := n.chain.Payout(ctx, n.self, a.Address)
		if err != nil {
			return nil, fmt.Errorf("payout of %s: %w", a.Symbol, err)
		}
		out = append(out, AssetBalance{Asset: a, Wallet: wallet, Payout: payout})
	}
	for _, c := range n.chans.all() {
		ci := c.info()
		if ci.Phase.Terminal() {
			continue
		}
		for i := range out {
			if out[i].Asset.Address == ci.Asset.Address {
				out[i].InChannels.Add(&out[i].InChannels, &ci.MyBalance)
			}
		}
	}
	return out, nil
}

// Channel describes one channel.
func (n *Node) Channel(id channel.ID) (ChannelInfo, error) {
	c := n.chans.get(id)
	if c == nil {
		return ChannelInfo{}, wrapf(ErrNotFound, "channel %s", id)
	}
	return c.info(), nil
}

// paymentInfo converts a payment log entry.
func paymentInfo(e *storev1.LogEntry) (PaymentInfo, error) {
	p := e.GetPayment()
	if p == nil {
		return PaymentInfo{}, fmt.Errorf("log entry %d is not a payment", e.GetSeq())
	}
	var err error
	info := PaymentInfo{
		Seq: e.GetSeq(), Key: p.GetIdempotencyKey(), Outgoing: p.GetDirection() == storev1.Direction_DIRECTION_OUTGOING,
		Nonce: p.GetNonce(), Time: time.Unix(0, p.GetTimeUnixNano()), ItemID: p.GetItemId(), Memo: p.GetMemo(),
		Complete: p.GetDirection() == storev1.Direction_DIRECTION_INCOMING,
	}
	info.ID = [32]byte(p.GetId())
	info.Channel = channel.ID(p.GetChannelId())
	if len(p.GetRemoteId()) == 32 {
		info.RemoteID = [32]byte(p.GetRemoteId())
	}
	if len(p.GetPeer()) == 20 {
		info.Peer = crypto.Address(p.GetPeer())
	}
	if info.Amount, err = parseAmount("amount", p.GetAmount()); err != nil {
		return info, err
	}
	if info.Cumulative, err = parseAmount("cumulative", p.GetCumulative()); err != nil {
		return info, err
	}
	if len(p.GetOfferId()) == 32 {
		info.OfferID = crypto.Hash(p.GetOfferId())
	}
	if len(p.GetStreamId()) == 16 {
		info.StreamID = [16]byte(p.GetStreamId())
	}
	if len(p.GetTokenId()) == 16 {
		info.Token = [16]byte(p.GetTokenId())
	}
	if len(p.GetRefundOf()) == 32 {
		info.RefundOf = [32]byte(p.GetRefundOf())
	}
	info.Refused = p.GetRefused()
	return info, nil
}

// attachReceipt reads the stored receipt of a payment that asked for one.
func (n *Node) attachReceipt(info *PaymentInfo, e *storev1.LogEntry) {
	if !e.GetPayment().GetWantReceipt() {
		return
	}
	var r *storev1.Receipt
	var err error
	if info.Outgoing {
		r, err = n.store.Receipt(info.ID)
	} else {
		r, err = n.incomingReceipt(e.GetPayment())
	}
	if err != nil {
		return
	}
	sig, err := crypto.SignatureFromBytes(r.GetSignature())
	if err != nil {
		return
	}
	info.Receipt = &ReceiptInfo{Time: r.GetTime(), Sig: sig}
}

// PaymentByKey returns this node's payment with an idempotency key, as it
// stands (complete, and with its receipt, if it is), and whether there is
// one.
func (n *Node) PaymentByKey(ctx context.Context, key string) (PaymentInfo, bool, error) {
	e, err := n.store.PaymentByIdempotencyKey(key)
	if errors.Is(err, store.ErrNotFound) {
		return PaymentInfo{}, false, nil
	}
	if err != nil {
		return PaymentInfo{}, false, err
	}
	info, err := paymentInfo(e)
	if err != nil {
		return PaymentInfo{}, false, err
	}
	n.completeFlag(&info)
	n.attachReceipt(&info, e)
	if info.Complete && info.Receipt == nil && e.GetPayment().GetWantReceipt() {
		// The Ack that completed it is taken in memory first; its receipt
		// may still be on its way to disk. Complete means with it, or
		// without one for good.
		n.awaitWrites(ctx, &info)
		n.attachReceipt(&info, e)
	}
	return info, true, nil
}

// awaitWrites waits, up to RequestTimeout or ctx, for the writes in flight
// of info's channel to be durable, if it has any (a step counts its write
// before it shows its state: see flush); if they are not durable by then,
// info is not complete yet.
func (n *Node) awaitWrites(ctx context.Context, info *PaymentInfo) {
	c := n.chans.get(info.Channel)
	if c == nil || c.writes.Load() == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
	defer cancel()
	if err := c.stepAndWait(ctx, func() {}); err != nil {
		info.Complete = false
	}
}

// completeFlag sets Complete on outgoing payments whose proof the peer has
// acknowledged (and that the peer did not refund).
func (n *Node) completeFlag(info *PaymentInfo) {
	if !info.Outgoing {
		return
	}
	if c := n.chans.get(info.Channel); c != nil {
		ci := c.info()
		moved := ci.moved != nil && !info.Cumulative.Gt(ci.moved) // a close counted it
		info.Complete = (ci.outcomeKnown(info.Nonce) || moved) && n.refundOf(info.ID) == nil
	}
}

// outcomeKnown: the outcome of the payments of own proof nonce is here
// (waitStored, completeFlag): their Ack came, or was given up on, and a
// refund, which comes before the Ack or, after a restart, with the proofs
// the peer sends again after its Reestablish, would be here too.
func (ci *ChannelInfo) outcomeKnown(nonce uint64) bool {
	return ci.outcomes >= nonce && (ci.caughtUp || ci.acksHere >= nonce)
}

// Payments pages through the payment history in log order, after seq
// after, optionally for one channel: at most limit payments (100 if limit
// is not in 1 to 1000). It returns the seq to continue after (0 when the
// log is exhausted). One call reads a bounded number of log entries, so
// a page may hold fewer than limit, even none, with a seq to go on from.
func (n *Node) Payments(after uint64, limit int, only channel.ID) ([]PaymentInfo, uint64, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	var out []PaymentInfo
	next, err := n.scanLog(after, false, func(e *storev1.LogEntry) (bool, error) {
		if e.GetPayment() == nil {
			return false, nil
		}
		info, err := paymentInfo(e)
		if err != nil {
			return false, err
		}
		if only != (channel.ID{}) && info.Channel != only {
			return false, nil
		}
		n.completeFlag(&info)
		n.attachReceipt(&info, e)
		out = append(out, info)
		return len(out) == limit, nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, next, nil
}

// scanLog reads the log for a page: the entries after seq from going
// forward, or before it going back (from 0: from the newest), calling take
// with each until it says the page is full, and at most maxPaymentScan of
// them. It returns the seq to go on from: the last entry read, or 0 when
// the log has no more that way. Bounding the read keeps each page's cost
// bounded whatever the log holds, so a page may come back short, even
// empty, with a place to go on from.
func (n *Node) scanLog(from uint64, back bool, take func(*storev1.LogEntry) (full bool, err error)) (uint64, error) {
	if back && from == 0 {
		from = n.store.LastSeq() + 1
	}
	for scanned := 0; scanned < maxPaymentScan; {
		read := n.store.Log
		if back {
			read = n.store.LogBefore
		}
		page, err := read(from, min(256, maxPaymentScan-scanned))
		if err != nil {
			return 0, err
		}
		if len(page) == 0 {
			return 0, nil
		}
		scanned += len(page)
		for _, e := range page {
			from = e.GetSeq()
			full, err := take(e)
			if err != nil {
				return 0, err
			}
			if full {
				if back && from <= 1 {
					return 0, nil
				}
				return from, nil
			}
		}
	}
	return from, nil
}
