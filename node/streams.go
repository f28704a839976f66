package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
	"github.com/tinypay/tinypay/store"
)

// Stream end reasons.
const (
	EndBudget        = "budget"
	EndTime          = "end time"
	EndBalance       = "balance"
	EndByPayer       = "stopped by payer"
	EndByPayee       = "stopped by payee"
	EndChannelClosed = "channel closed"
	EndSpendLimit    = "spend limit"
)

// Limits on streams.
const (
	MinTick = 100 * time.Millisecond
	MaxTick = time.Hour
)

// StreamRequest starts a pay-per-second stream.
type StreamRequest struct {
	Channel   channel.ID // or Peer (and Asset) to pick one
	Peer      crypto.Address
	Asset     crypto.Address
	AnyAsset  bool
	Rate      uint256.Int   // base units per second
	Tick      time.Duration // how often to pay (default 1s)
	Budget    uint256.Int   // zero: no budget
	Duration  time.Duration // zero: no end time
	ItemID    string
	AutoTopup uint256.Int // zero: never
	Token     TokenID     // the app token starting it, if any
}

// StreamInfo describes a stream in either direction.
type StreamInfo struct {
	ID        [16]byte
	Channel   channel.ID
	Peer      crypto.Address
	Outgoing  bool
	Asset     Asset
	Rate      uint256.Int
	Tick      time.Duration
	Budget    uint256.Int
	End       time.Time
	Paid      uint256.Int
	Ticks     uint64
	Status    string // live, stalled, ended
	EndReason string
	Started   time.Time
	Last      time.Time
	ItemID    string
	Token     TokenID
}

// stream is the node's state of one stream; guarded by Node.streamMu.
type stream struct {
	StreamInfo
	autoTopup uint256.Int
	toppedUp  bool
	stalled   bool
	stop      chan string // outgoing: the reason to stop
}

func (st *stream) perTick() uint256.Int {
	var v uint256.Int
	v.MulDivOverflow(&st.Rate, uint256.NewInt(uint64(st.Tick/time.Millisecond)), uint256.NewInt(1000))
	return v
}

func (st *stream) status() string {
	switch {
	case st.EndReason != "":
		return "ended"
	case st.stalled:
		return "stalled"
	}
	return "live"
}

func (st *stream) info() StreamInfo {
	i := st.StreamInfo
	i.Status = st.status()
	return i
}

func (st *stream) record() *storev1.Stream {
	r := &storev1.Stream{
		Version: store.StreamVersion, Id: st.ID[:], ChannelId: st.Channel[:], Direction: storev1.Direction_DIRECTION_INCOMING,
		Rate: amountBytes(&st.Rate), TickMs: uint32(st.Tick / time.Millisecond), Budget: amountBytes(&st.Budget),
		Paid: amountBytes(&st.Paid), Ticks: st.Ticks, Ended: st.EndReason != "", EndReason: st.EndReason,
		StartedUnixNano: st.Started.UnixNano(), ItemId: st.ItemID, AutoTopup: amountBytes(&st.autoTopup),
		ToppedUp: st.toppedUp, TokenId: optionalID(st.Token[:]), Peer: st.Peer[:],
	}
	if st.Outgoing {
		r.Direction = storev1.Direction_DIRECTION_OUTGOING
	}
	if !st.End.IsZero() {
		r.EndUnix = uint64(st.End.Unix())
	}
	if !st.Last.IsZero() {
		r.LastPaymentUnixNano = st.Last.UnixNano()
	}
	return r
}

func streamFromRecord(r *storev1.Stream) (*stream, error) {
	st := &stream{StreamInfo: StreamInfo{
		ID: [16]byte(r.GetId()), Channel: channel.ID(r.GetChannelId()), Peer: crypto.Address(r.GetPeer()),
		Outgoing: r.GetDirection() == storev1.Direction_DIRECTION_OUTGOING, Tick: time.Duration(r.GetTickMs()) * time.Millisecond,
		Ticks: r.GetTicks(), EndReason: r.GetEndReason(), Started: time.Unix(0, r.GetStartedUnixNano()), ItemID: r.GetItemId(),
	}, toppedUp: r.GetToppedUp()}
	if r.GetEnded() && st.EndReason == "" {
		st.EndReason = "ended"
	}
	var err1, err2, err3, err4 error
	st.Rate, err1 = parseAmount("rate", r.GetRate())
	st.Budget, err2 = parseAmount("budget", r.GetBudget())
	st.Paid, err3 = parseAmount("paid", r.GetPaid())
	st.autoTopup, err4 = parseAmount("auto topup", r.GetAutoTopup())
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return nil, err
	}
	if r.GetEndUnix() != 0 {
		st.End = time.Unix(int64(r.GetEndUnix()), 0)
	}
	if r.GetLastPaymentUnixNano() != 0 {
		st.Last = time.Unix(0, r.GetLastPaymentUnixNano())
	}
	if len(r.GetTokenId()) == 16 {
		st.Token = TokenID(r.GetTokenId())
	}
	return st, nil
}

// streamEvent adds a stream's record and an event to b.
func (n *Node) streamEvent(b *store.Batch, st *stream, kind storev1.StreamEventKind, detail string) error {
	if err := b.PutStream(st.record()); err != nil {
		return err
	}
	if kind == storev1.StreamEventKind_STREAM_EVENT_KIND_UNSPECIFIED {
		return nil
	}
	return b.AppendLog(&storev1.LogEntry{TimeUnixNano: n.clock.Now().UnixNano(), Entry: &storev1.LogEntry_StreamEvent{StreamEvent: &storev1.StreamEvent{
		StreamId: st.ID[:], Kind: kind, Detail: detail, ChannelId: st.Channel[:],
	}}})
}

// persistStream queues a write of the stream (and an event); streamMu held.
func (n *Node) persistStream(st *stream, kind storev1.StreamEventKind, detail string) {
	b := store.NewBatch()
	if err := n.streamEvent(b, st, kind, detail); err != nil {
		n.log.Error("stream record", "stream", fmt.Sprintf("%x", st.ID), "err", err)
		return
	}
	n.commitAsync(b, func(store.Result, error) {})
}

// loadStreams restores streams at start and resumes the outgoing ones that
// were running: their ticks are paid with idempotency keys, so a tick paid
// before the restart is never paid again.
func (n *Node) loadStreams() error {
	recs, err := n.store.Streams()
	if err != nil {
		return err
	}
	for _, r := range recs {
		st, err := streamFromRecord(r)
		if err != nil {
			return fmt.Errorf("stream %x: %w", r.GetId(), err)
		}
		n.streams[st.ID] = st
		if st.Outgoing && st.EndReason == "" {
			n.runStream(st)
		}
	}
	return nil
}

// StartStream starts paying a peer per second. The first tick is paid at
// once (streams are prepaid), then one every Tick.
func (n *Node) StartStream(ctx context.Context, r StreamRequest) (StreamInfo, error) {
	if r.Tick == 0 {
		r.Tick = time.Second
	}
	switch {
	case r.Rate.IsZero():
		return StreamInfo{}, invalid("the rate must be above zero")
	case r.Tick < MinTick || r.Tick > MaxTick:
		return StreamInfo{}, invalid("tick %s outside [%s, %s]", r.Tick, MinTick, MaxTick)
	case len(r.ItemID) > MaxItemIDLen:
		return StreamInfo{}, invalid("item id longer than %d bytes", MaxItemIDLen)
	case r.Duration < 0:
		return StreamInfo{}, invalid("negative duration")
	}
	if err := n.usable(); err != nil {
		return StreamInfo{}, err
	}
	c, err := n.payChannel(&PayRequest{Channel: r.Channel, Peer: r.Peer, Asset: r.Asset, AnyAsset: r.AnyAsset})
	if err != nil {
		return StreamInfo{}, err
	}
	c.mu.Lock()
	err = c.canQueue()
	asset := c.ch.Params().Asset
	c.mu.Unlock()
	if err != nil {
		return StreamInfo{}, err
	}
	if !r.Token.IsZero() {
		if err := n.checkTokenStream(r.Token, asset, c.peer); err != nil {
			return StreamInfo{}, err
		}
	}
	a, _ := n.asset(asset)
	now := n.clock.Now()
	st := &stream{StreamInfo: StreamInfo{
		ID: randomShortID(), Channel: c.id, Peer: c.peer, Outgoing: true, Asset: a, Rate: r.Rate, Tick: r.Tick,
		Budget: r.Budget, Started: now, ItemID: r.ItemID, Token: r.Token,
	}, autoTopup: r.AutoTopup}
	if per := st.perTick(); per.IsZero() {
		return StreamInfo{}, invalid("rate %s per second pays nothing per %s tick", r.Rate.Dec(), r.Tick)
	}
	if r.Duration > 0 {
		st.End = now.Add(r.Duration)
	}
	b := store.NewBatch()
	if err := n.streamEvent(b, st, storev1.StreamEventKind_STREAM_EVENT_KIND_STARTED, fmt.Sprintf("paying %s per second to %s", r.Rate.Dec(), c.peer)); err != nil {
		return StreamInfo{}, err
	}
	if _, err := n.commit(ctx, b); err != nil {
		return StreamInfo{}, err
	}
	n.streamMu.Lock()
	n.streams[st.ID] = st
	info := st.info()
	n.runStream(st)
	n.streamMu.Unlock()
	if s := n.session(c.peer); s != nil {
		s.send(streamStartMessage(st))
	}
	return info, nil
}

func streamStartMessage(st *stream) *peerv1.Message {
	m := &peerv1.StreamStart{
		StreamId: st.ID[:], ChannelId: st.Channel[:], Rate: amountBytes(&st.Rate), TickMs: uint32(st.Tick / time.Millisecond),
		Budget: amountBytes(&st.Budget), ItemId: st.ItemID, StartedUnixNano: st.Started.UnixNano(),
	}
	if !st.End.IsZero() {
		m.EndUnix = uint64(st.End.Unix())
	}
	return &peerv1.Message{Body: &peerv1.Message_StreamStart{StreamStart: m}}
}

// runStream starts the goroutine paying an outgoing stream; streamMu held.
func (n *Node) runStream(st *stream) {
	st.stop = make(chan string, 1)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.payStream(st)
	}()
}

// payStream pays one tick every st.Tick until the stream ends.
func (n *Node) payStream(st *stream) {
	n.streamMu.Lock()
	tick, stop := st.Tick, st.stop
	n.streamMu.Unlock()
	next := n.clock.Now()
	for {
		wait := time.Until(next)
		t := time.NewTimer(max(wait, 0))
		select {
		case <-n.ctx.Done():
			t.Stop()
			return // a restart resumes it
		case reason := <-stop:
			t.Stop()
			n.endStream(st, reason, true)
			return
		case <-t.C:
		}
		reason := n.payTick(st)
		if reason != "" {
			n.endStream(st, reason, true)
			return
		}
		next = next.Add(tick)
		if now := n.clock.Now(); next.Before(now.Add(-tick)) {
			next = now // fell behind (a disconnect): do not pay for the gap
		}
	}
}

// payTick pays one tick of st, and returns why the stream must end, if it
// must.
func (n *Node) payTick(st *stream) string {
	n.streamMu.Lock()
	now := n.clock.Now()
	if !st.End.IsZero() && !now.Before(st.End) {
		n.streamMu.Unlock()
		return EndTime
	}
	amount := st.perTick()
	if !st.Budget.IsZero() {
		if !st.Paid.Lt(&st.Budget) {
			n.streamMu.Unlock()
			return EndBudget
		}
		var left uint256.Int
		left.Sub(&st.Budget, &st.Paid)
		if left.Lt(&amount) {
			amount = left
		}
	}
	key := fmt.Sprintf("stream:%x:%d", st.ID, st.Ticks+1)
	req := PayRequest{Channel: st.Channel, Amount: amount, Key: key, ItemID: st.ItemID, stream: st.ID, Token: st.Token}
	n.streamMu.Unlock()

	n.maybeTopUp(st, amount)
	ctx, cancel := context.WithTimeout(n.ctx, max(2*st.Tick, 5*time.Second))
	info, err := n.Pay(ctx, req)
	cancel()
	signed := err == nil || info.Nonce != 0 // a signed payment is paid, acknowledged or not
	n.streamMu.Lock()
	defer n.streamMu.Unlock()
	if signed {
		st.Paid.Add(&st.Paid, &amount)
		st.Ticks++
		st.Last = n.clock.Now()
		n.persistStream(st, 0, "")
		if !st.Budget.IsZero() && !st.Paid.Lt(&st.Budget) {
			return EndBudget
		}
		return ""
	}
	switch {
	case errors.Is(err, channel.ErrInsufficientBalance):
		if !st.autoTopup.IsZero() && !st.toppedUp {
			return "" // a top-up is on its way; try again next tick
		}
		return EndBalance
	case errors.Is(err, ErrSpendLimit):
		return EndSpendLimit
	case errors.Is(err, channel.ErrClosing), errors.Is(err, channel.ErrWrongPhase):
		return EndChannelClosed
	case errors.Is(err, ErrNotConnected), errors.Is(err, context.DeadlineExceeded), errors.Is(err, ErrPeerRefused):
		n.log.Debug("stream tick not paid", "stream", fmt.Sprintf("%x", st.ID), "err", err)
		return "" // the peer is away: the payee sees the stream stall
	case errors.Is(err, ErrStopped), errors.Is(err, context.Canceled):
		return ""
	}
	n.log.Warn("stream tick failed", "stream", fmt.Sprintf("%x", st.ID), "err", err)
	return "error: " + err.Error()
}

// maybeTopUp deposits once more into the stream's channel when its balance
// runs below ten ticks' worth, if the stream asked for it.
func (n *Node) maybeTopUp(st *stream, perTick uint256.Int) {
	n.streamMu.Lock()
	if st.autoTopup.IsZero() || st.toppedUp {
		n.streamMu.Unlock()
		return
	}
	n.streamMu.Unlock()
	c, err := n.channelByID(st.Channel)
	if err != nil {
		return
	}
	c.mu.Lock()
	bal := c.ch.Balance(c.self)
	c.mu.Unlock()
	var low uint256.Int
	low.Mul(&perTick, uint256.NewInt(10))
	if !bal.Lt(&low) {
		return
	}
	n.streamMu.Lock()
	st.toppedUp = true
	amount := st.autoTopup
	n.persistStream(st, 0, "")
	n.streamMu.Unlock()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		ctx, cancel := n.chainCtx()
		defer cancel()
		if _, err := n.Deposit(ctx, st.Channel, amount); err != nil {
			n.log.Warn("stream auto top-up failed", "stream", fmt.Sprintf("%x", st.ID), "err", err)
		} else {
			n.log.Info("stream auto top-up", "stream", fmt.Sprintf("%x", st.ID), "amount", amount.Dec())
		}
	}()
}

// endStream marks a stream ended and tells the peer if asked to.
func (n *Node) endStream(st *stream, reason string, tell bool) {
	n.streamMu.Lock()
	if st.EndReason != "" {
		n.streamMu.Unlock()
		return
	}
	st.EndReason = reason
	n.persistStream(st, storev1.StreamEventKind_STREAM_EVENT_KIND_ENDED, reason)
	peer, id, ch := st.Peer, st.ID, st.Channel
	n.streamMu.Unlock()
	n.log.Info("stream ended", "stream", fmt.Sprintf("%x", id), "reason", reason)
	if s := n.session(peer); s != nil && tell {
		s.send(&peerv1.Message{Body: &peerv1.Message_StreamEnd{StreamEnd: &peerv1.StreamEnd{StreamId: id[:], ChannelId: ch[:], Reason: reason}}})
	}
}

// StopStream stops a stream. The payer's stream stops paying; a payee's
// stream asks the payer to stop, and is ended here at once.
func (n *Node) StopStream(id [16]byte, token TokenID) (StreamInfo, error) {
	n.streamMu.Lock()
	st := n.streams[id]
	if st == nil || (!token.IsZero() && st.Token != token) {
		n.streamMu.Unlock()
		return StreamInfo{}, wrapf(ErrNotFound, "stream %x", id)
	}
	if st.EndReason != "" {
		info := st.info()
		n.streamMu.Unlock()
		return info, nil
	}
	outgoing, stop := st.Outgoing, st.stop
	n.streamMu.Unlock()
	if outgoing {
		select {
		case stop <- EndByPayer:
		default:
		}
		// Wait briefly for the goroutine to record the end.
		for range 100 {
			n.streamMu.Lock()
			done := st.EndReason != ""
			n.streamMu.Unlock()
			if done {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	} else {
		n.endStream(st, EndByPayee, true)
	}
	n.streamMu.Lock()
	defer n.streamMu.Unlock()
	return st.info(), nil
}

// Streams lists streams, newest first; ended ones only with all.
func (n *Node) Streams(all bool) []StreamInfo {
	n.streamMu.Lock()
	defer n.streamMu.Unlock()
	var out []StreamInfo
	for _, st := range n.streams {
		if st.EndReason != "" && !all {
			continue
		}
		out = append(out, st.info())
	}
	slices.SortFunc(out, func(a, b StreamInfo) int { return b.Started.Compare(a.Started) })
	return out
}

// Stream describes one stream.
func (n *Node) Stream(id [16]byte) (StreamInfo, error) {
	n.streamMu.Lock()
	defer n.streamMu.Unlock()
	st := n.streams[id]
	if st == nil {
		return StreamInfo{}, wrapf(ErrNotFound, "stream %x", id)
	}
	return st.info(), nil
}

// onStreamStart: the peer pays a stream to this node.
func (n *Node) onStreamStart(s *session, c *chanState, m *peerv1.StreamStart) {
	id := m.GetStreamId()
	rate, err1 := parseAmount("rate", m.GetRate())
	budget, err2 := parseAmount("budget", m.GetBudget())
	if err := errors.Join(err1, err2); err != nil || len(id) != 16 || m.GetTickMs() < uint32(MinTick/time.Millisecond) || len(m.GetItemId()) > MaxItemIDLen {
		s.sendError(codeOf(errMalformed), c.id[:], fmt.Errorf("%w: bad stream start", errMalformed))
		return
	}
	n.streamMu.Lock()
	defer n.streamMu.Unlock()
	st := n.streams[[16]byte(id)]
	if st != nil && st.Outgoing {
		return // our own stream id: ignore
	}
	fresh := st == nil
	if fresh {
		a, _ := n.asset(c.ch.Params().Asset)
		st = &stream{StreamInfo: StreamInfo{ID: [16]byte(id), Channel: c.id, Peer: c.peer, Asset: a, Started: time.Unix(0, m.GetStartedUnixNano())}}
		n.streams[st.ID] = st
	}
	st.Rate, st.Tick, st.Budget, st.ItemID = rate, time.Duration(m.GetTickMs())*time.Millisecond, budget, m.GetItemId()
	if m.GetEndUnix() != 0 {
		st.End = time.Unix(int64(m.GetEndUnix()), 0)
	}
	if fresh {
		n.persistStream(st, storev1.StreamEventKind_STREAM_EVENT_KIND_STARTED, fmt.Sprintf("receiving %s per second from %s", rate.Dec(), c.peer))
	} else {
		n.persistStream(st, 0, "")
	}
}

// onStreamEnd: the payer says a stream ended, or the payee asks to stop.
func (n *Node) onStreamEnd(c *chanState, m *peerv1.StreamEnd) {
	if len(m.GetStreamId()) != 16 {
		return
	}
	n.streamMu.Lock()
	st := n.streams[[16]byte(m.GetStreamId())]
	if st == nil || st.Channel != c.id {
		n.streamMu.Unlock()
		return
	}
	outgoing, stop := st.Outgoing, st.stop
	n.streamMu.Unlock()
	if outgoing {
		select {
		case stop <- EndByPayee:
		default:
		}
		return
	}
	reason := m.GetReason()
	if len(reason) > 200 {
		reason = reason[:200]
	}
	n.endStream(st, reason, false)
}

// meterIncoming records a stream tick received (into the batch of the
// payment). c.mu held; takes streamMu.
func (n *Node) meterIncoming(b *store.Batch, c *chanState, p *part, now time.Time) error {
	n.streamMu.Lock()
	defer n.streamMu.Unlock()
	st := n.streams[p.stream]
	if st != nil && (st.Outgoing || st.Channel != c.id) {
		return nil // not the peer's stream to us
	}
	kind := storev1.StreamEventKind_STREAM_EVENT_KIND_UNSPECIFIED
	detail := ""
	if st == nil {
		a, _ := n.asset(c.ch.Params().Asset)
		st = &stream{StreamInfo: StreamInfo{ID: p.stream, Channel: c.id, Peer: c.peer, Asset: a, Started: now, ItemID: p.itemID, Tick: time.Second}}
		n.streams[st.ID] = st
		kind, detail = storev1.StreamEventKind_STREAM_EVENT_KIND_STARTED, "receiving from "+c.peer.Hex()
	}
	if st.stalled {
		st.stalled = false
		kind, detail = storev1.StreamEventKind_STREAM_EVENT_KIND_RESUMED, "payments arrive again"
	}
	st.Paid.Add(&st.Paid, &p.amount)
	st.Ticks++
	st.Last = now
	return n.streamEvent(b, st, kind, detail)
}

// meterLoop marks incoming streams stalled when a tick is overdue.
func (n *Node) meterLoop() {
	defer n.wg.Done()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		now := n.clock.Now()
		n.streamMu.Lock()
		for _, st := range n.streams {
			if st.Outgoing || st.EndReason != "" || st.stalled {
				continue
			}
			if !st.End.IsZero() && now.After(st.End.Add(st.Tick)) {
				st.EndReason = EndTime
				n.persistStream(st, storev1.StreamEventKind_STREAM_EVENT_KIND_ENDED, EndTime)
				continue
			}
			last := st.Last
			if last.IsZero() {
				last = st.Started
			}
			if now.Sub(last) > 2*st.Tick+500*time.Millisecond {
				st.stalled = true
				n.persistStream(st, storev1.StreamEventKind_STREAM_EVENT_KIND_STALLED, fmt.Sprintf("no payment for %s", now.Sub(last).Round(time.Millisecond)))
			}
		}
		n.streamMu.Unlock()
	}
}

// endChannelStreams ends the streams of a channel that closed.
func (n *Node) endChannelStreams(id channel.ID) {
	n.streamMu.Lock()
	var ss []*stream
	for _, st := range n.streams {
		if st.Channel == id && st.EndReason == "" {
			ss = append(ss, st)
		}
	}
	n.streamMu.Unlock()
	for _, st := range ss {
		if st.Outgoing {
			select {
			case st.stop <- EndChannelClosed:
			default:
			}
		} else {
			n.endStream(st, EndChannelClosed, false)
		}
	}
}

// resendStreamStarts tells a reconnected peer about the streams this node
// pays it.
func (n *Node) resendStreamStarts(s *session) {
	n.streamMu.Lock()
	defer n.streamMu.Unlock()
	for _, st := range n.streams {
		if st.Outgoing && st.EndReason == "" && st.Peer == s.peer {
			s.send(streamStartMessage(st))
		}
	}
}
