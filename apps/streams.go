package apps

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/btree"
	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node"
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
	EndRevoked       = "token revoked"
	// EndRestarted: a site's stream (paid with a site's approval) that
	// was live when the node stopped; it pays only while its page keeps
	// it alive through the browser endpoint, which a restart forgets, so
	// it is not resumed.
	EndRestarted = "node restarted"
)

// Limits on streams.
const (
	MinTick = 100 * time.Millisecond
	MaxTick = time.Hour
)

// ErrTooManyStreams refuses a new incoming stream at a bound on streams
// (Config.MaxStreamsPerChannel, Config.MaxStreams). The peer is told so
// with RESOURCE_EXHAUSTED.
var ErrTooManyStreams error = &refusal{"too many streams", 8}

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
	Origin    string      // a site's stream: its origin (see PayRequest.Origin)
}

// StreamInfo describes a stream in either direction.
type StreamInfo struct {
	ID        [16]byte
	Channel   channel.ID
	Peer      crypto.Address
	Outgoing  bool
	Asset     node.Asset
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

// streamSet is the owner of the streams, in both directions. Its lock
// guards the streams' state only: it is never held across I/O or while the
// node is called.
type streamSet struct {
	mu   sync.Mutex
	byID map[[16]byte]*stream
	// counted holds, by channel, the incoming streams that count against
	// the bounds (stream.counts); nCounted is how many there are.
	counted  map[channel.ID]map[[16]byte]*stream
	nCounted int
	writes   []*streamWrite // stream records to write, in order
	writing  bool           // a goroutine writes them
	// pending holds, by channel, the writes of writes that carry an event
	// not yet in a batch, in order: a payment of the channel writes them
	// first (logPending).
	pending map[channel.ID][]*streamWrite

	// byAge holds the streams of byID in list order (list.go).
	byAge *btree.BTreeG[streamKey]
	// meter holds the live incoming streams by the time the meter looks
	// at them next (meter.go), in nanoseconds since meterBase;
	// stallAfter is Config.StallAfter.
	meter      meterQueue
	meterBase  time.Time
	stallAfter time.Duration
}

// send queues m to peer's live session, if there is one.
func (a *Apps) send(peer crypto.Address, m *peerv1.Message) { a.n.SendPeer(peer, m) }

// stream is the state of one stream; guarded by streamSet.mu.
type stream struct {
	StreamInfo
	// recorded: the store has this stream's record, or will have it with
	// the write under way. Outgoing streams and the streams loaded at start
	// are recorded; an incoming stream is from its first payment on, and
	// until then lives in memory only (see onStreamStart).
	recorded  bool
	seen      time.Time // when this node first heard of the stream
	autoTopup uint256.Int
	toppedUp  bool
	topping   bool // the top-up is on its way
	stalled   bool
	stop      chan string // outgoing: the reason to stop
	// newKey (outgoing): the next tick's key was never used, so the node
	// need not look it up on disk (node.PayRequest.New). A stream started
	// in this run has it from the start; one resumed after a restart gets
	// it once a tick is paid anew rather than answered from an earlier
	// run: ticks go in order, one at a time, so no later key was used
	// either. Any failed attempt clears it (its retry must look).
	newKey bool
	// meterAt and meterPos place the stream in streamSet.meter.
	meterAt  int64
	meterPos int
	// Incoming: nonce is the channel's incoming nonce when the stream's
	// last tick was metered (0: none since a whole record); unwritten
	// counts the ticks metered since its record last went into a batch, at
	// writtenAt, and diskNonce is the received_nonce of that record (see
	// meterIncoming).
	nonce     uint64
	unwritten int
	writtenAt time.Time
	diskNonce uint64
}

func (st *stream) perTick() uint256.Int {
	var v uint256.Int
	v.MulDivOverflow(&st.Rate, uint256.NewInt(uint64(st.Tick/time.Millisecond)), uint256.NewInt(1000))
	return v
}

// counts reports whether st counts against the bounds on incoming
// streams: it is incoming, and live (neither ended nor stalled) or never
// paid. A paid stream that stalled does not count until payments arrive
// again: a payer that vanished mid-stream does not hold a place for ever.
func (st *stream) counts() bool {
	return !st.Outgoing && (st.Ticks == 0 || (st.EndReason == "" && !st.stalled))
}

// forgettable reports whether st may be forgotten to make room at a bound:
// an incoming stream never paid that ended, or that has waited longer than
// grace for its first payment.
func (st *stream) forgettable(now time.Time, grace time.Duration) bool {
	return !st.Outgoing && st.Ticks == 0 && (st.EndReason != "" || now.Sub(st.seen) >= grace)
}

// count brings st's place among the counted streams up to date; call it
// with streams.mu held after a stream is added, is paid, stalls or ends.
// A stream forgotten meanwhile stays out.
func (s *streamSet) count(st *stream) {
	if s.byID[st.ID] != st {
		return
	}
	s.watch(st)
	m := s.counted[st.Channel]
	_, in := m[st.ID]
	switch counts := st.counts(); {
	case counts && !in:
		if m == nil {
			m = map[[16]byte]*stream{}
			s.counted[st.Channel] = m
		}
		m[st.ID] = st
		s.nCounted++
	case !counts && in:
		s.uncount(st)
	}
}

func (s *streamSet) uncount(st *stream) {
	m := s.counted[st.Channel]
	if _, in := m[st.ID]; !in {
		return
	}
	delete(m, st.ID)
	if len(m) == 0 {
		delete(s.counted, st.Channel)
	}
	s.nCounted--
}

// forget drops st from memory; streams.mu held. A record of it stays in
// the store if there is one (the store deletes nothing; unpaid streams
// have none unless an older version wrote it).
func (s *streamSet) forget(st *stream) {
	s.uncount(st)
	s.unwatch(st)
	delete(s.byID, st.ID)
	if s.byAge != nil {
		s.byAge.Delete(streamKeyOf(st))
	}
}

// admit makes room for a new incoming stream on ch, or names the bound
// that refuses it and its limit; streams.mu held. Room is made by
// forgetting forgettable streams, those that waited longest first: on ch
// for the bound per channel, anywhere for the bound per node. A refused
// stream changes nothing.
func (a *Apps) admit(ch channel.ID, now time.Time) (bound string, limit int) {
	var drop []*stream
	if over := len(a.streams.counted[ch]) - a.cfg.MaxStreamsPerChannel + 1; over > 0 {
		drop = oldestForgettable([]map[[16]byte]*stream{a.streams.counted[ch]}, over, nil, now, a.cfg.UnpaidGrace)
		if drop == nil {
			return node.BoundStreamsPerChannel, a.cfg.MaxStreamsPerChannel
		}
	}
	if over := a.streams.nCounted - len(drop) - a.cfg.MaxStreams + 1; over > 0 {
		more := oldestForgettable(slices.Collect(maps.Values(a.streams.counted)), over, drop, now, a.cfg.UnpaidGrace)
		if more == nil {
			return node.BoundStreams, a.cfg.MaxStreams
		}
		drop = append(drop, more...)
	}
	for _, st := range drop {
		a.streams.forget(st)
	}
	return "", 0
}

// oldestForgettable returns the n forgettable streams in sets, leaving out
// skip, that this node heard of first; nil if there are fewer.
func oldestForgettable(sets []map[[16]byte]*stream, n int, skip []*stream, now time.Time, grace time.Duration) []*stream {
	var c []*stream
	for _, m := range sets {
		for _, st := range m {
			if st.forgettable(now, grace) && !slices.Contains(skip, st) {
				c = append(c, st)
			}
		}
	}
	if len(c) < n {
		return nil
	}
	slices.SortFunc(c, func(x, y *stream) int { return x.seen.Compare(y.seen) })
	return c[:n]
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
		ToppedUp: st.toppedUp, TokenId: tokenIDBytes(st.Token), Peer: st.Peer[:],
	}
	if st.Outgoing {
		r.Direction = storev1.Direction_DIRECTION_OUTGOING
	}
	r.Stalled = st.stalled && !st.Outgoing && st.EndReason == ""
	if !st.End.IsZero() {
		r.EndUnix = uint64(st.End.Unix())
	}
	if !st.Last.IsZero() {
		r.LastPaymentUnixNano = st.Last.UnixNano()
	}
	if st.lagging() {
		// Its next ticks may reach the log only (meterIncoming).
		r.ReceivedNonce = st.nonce
	}
	return r
}

// laggingTick is the longest tick of a stream whose record the payee
// writes every few ticks rather than each one.
const laggingTick = time.Second

// lagging reports whether st's record may lag behind its ticks: an
// incoming stream, live, of a tick of at most laggingTick. A record is
// written whole when its stream stalls or ends, so a lagging record is
// behind by at most streamPersistEvery ticks (or streamPersistAfter) and
// then two ticks and the stall time: the log's payments of that time are
// what loading it reads (catchUp).
func (st *stream) lagging() bool {
	return !st.Outgoing && st.EndReason == "" && !st.stalled && st.Tick <= laggingTick
}

func streamFromRecord(r *storev1.Stream) (*stream, error) {
	st := &stream{StreamInfo: StreamInfo{
		ID: [16]byte(r.GetId()), Channel: channel.ID(r.GetChannelId()), Peer: crypto.Address(r.GetPeer()),
		Outgoing: r.GetDirection() == storev1.Direction_DIRECTION_OUTGOING, Tick: time.Duration(r.GetTickMs()) * time.Millisecond,
		Ticks: r.GetTicks(), EndReason: r.GetEndReason(), Started: time.Unix(0, r.GetStartedUnixNano()), ItemID: r.GetItemId(),
	}, toppedUp: r.GetToppedUp(), nonce: r.GetReceivedNonce(), diskNonce: r.GetReceivedNonce()}
	if r.GetEnded() && st.EndReason == "" {
		st.EndReason = "ended"
	}
	// Its "stalled" event is written: the next tick resumes it.
	st.stalled = r.GetStalled() && !st.Outgoing && st.EndReason == ""
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
func (a *Apps) streamEvent(b *store.Batch, st *stream, kind storev1.StreamEventKind, detail string) error {
	if err := a.putStream(b, st); err != nil {
		return err
	}
	return a.streamLog(b, st, kind, detail)
}

// putStream adds a stream's record to b: the stream as it is now, every
// tick metered so far; streams.mu held.
func (a *Apps) putStream(b *store.Batch, st *stream) error {
	r := st.record()
	st.unwritten, st.writtenAt, st.diskNonce = 0, a.clock.Now(), r.GetReceivedNonce()
	return b.PutStream(r)
}

// streamLog adds an event of a stream to b, if kind is one, as of now.
func (a *Apps) streamLog(b *store.Batch, st *stream, kind storev1.StreamEventKind, detail string) error {
	return a.streamLogAt(b, st, kind, detail, a.clock.Now())
}

// streamLogAt adds an event of a stream that happened at t to b, if kind
// is one.
func (a *Apps) streamLogAt(b *store.Batch, st *stream, kind storev1.StreamEventKind, detail string, t time.Time) error {
	if kind == storev1.StreamEventKind_STREAM_EVENT_KIND_UNSPECIFIED {
		return nil
	}
	return b.AppendLog(&storev1.LogEntry{TimeUnixNano: t.UnixNano(), Entry: &storev1.LogEntry_StreamEvent{StreamEvent: &storev1.StreamEvent{
		StreamId: st.ID[:], Kind: kind, Detail: detail, ChannelId: st.Channel[:],
	}}})
}

// persistStream queues a write of the stream's record (and an event);
// streams.mu held. An incoming stream that is not recorded yet (no payment
// has arrived) is left in memory: nothing is written. The record goes to disk with its channel's records, in
// order with them (node.WriteAlong): the payments of a stream and its
// record can never be written out of order, so a newer record is never
// overwritten by an older one. The record written is the stream's state
// when the channel's owner writes it.
func (a *Apps) persistStream(st *stream, kind storev1.StreamEventKind, detail string) {
	if !st.recorded {
		return
	}
	w := &streamWrite{st: st, kind: kind, detail: detail, at: a.clock.Now()}
	if kind != storev1.StreamEventKind_STREAM_EVENT_KIND_UNSPECIFIED {
		if a.streams.pending == nil {
			a.streams.pending = map[channel.ID][]*streamWrite{}
		}
		a.streams.pending[st.Channel] = append(a.streams.pending[st.Channel], w)
	}
	a.streams.writes = append(a.streams.writes, w)
	if !a.streams.writing {
		a.streams.writing = true
		go a.writeStreams()
	}
}

type streamWrite struct {
	st     *stream
	kind   storev1.StreamEventKind
	detail string
	at     time.Time // when the event happened
	logged bool      // the event is in a batch (logPending): the write puts the record only
}

// logPending adds to b, in order, the events queued for channel ch that
// are in no batch yet, each with the time it happened, and the records of
// their streams as they are now (an event is never on disk without the
// record that says it: a restart would log it again); their queued writes
// then put the records only. streams.mu held. A payment of the channel
// calls it before its own events and entries (Incoming, and meterIncoming
// under the same hold of the lock as a "resumed"), so that the log tells
// what happened in the order it happened (a stall before the tick that
// ended it, an end before a late tick), whichever goroutine writes first.
func (a *Apps) logPending(b *store.Batch, ch channel.ID) error {
	ws := a.streams.pending[ch]
	if len(ws) == 0 {
		return nil
	}
	delete(a.streams.pending, ch)
	for i, w := range ws {
		w.logged = true
		if !slices.ContainsFunc(ws[i+1:], func(x *streamWrite) bool { return x.st == w.st }) {
			if err := a.putStream(b, w.st); err != nil { // once a stream: its state now
				return err
			}
		}
		if err := a.streamLogAt(b, w.st, w.kind, w.detail, w.at); err != nil {
			return err
		}
	}
	return nil
}

// unpend takes w out of the events pending on its channel; streams.mu
// held.
func (a *Apps) unpend(w *streamWrite) {
	ch := w.st.Channel
	ws := slices.DeleteFunc(a.streams.pending[ch], func(x *streamWrite) bool { return x == w })
	if len(ws) == 0 {
		delete(a.streams.pending, ch)
	} else {
		a.streams.pending[ch] = ws
	}
}

// beforeRunStream, if set (by tests), runs in StartStream after the
// StreamStart is sent and before the goroutine paying the stream starts.
var beforeRunStream atomic.Pointer[func(id [16]byte)]

// beforeStreamWrite, if set (by tests), runs before writeStreams hands
// each write to its channel's owner, with no lock held.
var beforeStreamWrite atomic.Pointer[func()]

// writeStreams hands the queued writes to the channels' owners, in order,
// holding no lock while it does.
func (a *Apps) writeStreams() {
	for {
		a.streams.mu.Lock()
		ws := a.streams.writes
		a.streams.writes = nil
		if len(ws) == 0 {
			a.streams.writing = false
			a.streams.mu.Unlock()
			return
		}
		a.streams.mu.Unlock()
		for _, w := range ws {
			if f := beforeStreamWrite.Load(); f != nil {
				(*f)()
			}
			err := a.n.WriteAlong(w.st.Channel, func(b *store.Batch) error {
				a.streams.mu.Lock()
				defer a.streams.mu.Unlock()
				if err := a.putStream(b, w.st); err != nil {
					return err
				}
				if w.logged || w.kind == storev1.StreamEventKind_STREAM_EVENT_KIND_UNSPECIFIED {
					return nil // no event, or a payment of the channel wrote it
				}
				// Those before it on the channel first (a write that failed).
				return a.logPending(b, w.st.Channel)
			})
			if err != nil {
				a.streams.mu.Lock()
				if !w.logged {
					a.unpend(w) // not written: its channel is gone
				}
				a.streams.mu.Unlock()
				a.log.Error("stream record", "stream", fmt.Sprintf("%x", w.st.ID), "err", err)
			}
		}
	}
}

// loadStreams restores streams at start and resumes the outgoing ones that
// were running: their ticks are paid with idempotency keys, so a tick paid
// before the restart is never paid again. A site's stream is not resumed
// but ended (EndRestarted): no page keeps it alive any more. A stream's
// asset is its channel's. Call it after loadTokens.
func (a *Apps) loadStreams() error {
	recs, err := a.store.Streams()
	if err != nil {
		return err
	}
	sites := map[TokenID]bool{}
	a.tokens.mu.Lock()
	for id, t := range a.tokens.byID {
		if t.Policy.Origin != "" {
			sites[id] = true
		}
	}
	a.tokens.mu.Unlock()
	sts := make([]*stream, len(recs))
	lagging := map[channel.ID]map[[16]byte]*stream{}
	for i, r := range recs {
		st, err := streamFromRecord(r)
		if err != nil {
			return fmt.Errorf("stream %x: %w", r.GetId(), err)
		}
		sts[i] = st
		if st.diskNonce > 0 && !st.Outgoing {
			if lagging[st.Channel] == nil {
				lagging[st.Channel] = map[[16]byte]*stream{}
			}
			lagging[st.Channel][st.ID] = st
		}
	}
	a.catchUpAll(lagging)
	var orphans []*stream
	defer func() {
		for _, st := range orphans {
			a.endStream(st, EndRestarted, true) // the payee hears it now or when it reconnects
		}
	}()
	a.streams.mu.Lock()
	defer a.streams.mu.Unlock()
	now := a.clock.Now()
	for _, st := range sts {
		st.recorded, st.seen = true, now
		if ci, err := a.n.Channel(st.Channel); err == nil {
			st.Asset = ci.Asset
		}
		a.streams.add(st)
		a.streams.count(st)
		switch {
		case st.Outgoing && st.EndReason == "" && sites[st.Token]:
			orphans = append(orphans, st)
		case st.Outgoing && st.EndReason == "":
			a.runStream(st)
		}
	}
	return nil
}

// catchUpPage is how many payments catchUp reads at a time.
var catchUpPage = 2 * node.MaxProofParts

// catchUpReaders is how many channels catchUpAll reads at once: on a store
// that is a database server, ten thousand lagging channels read one at a
// time are ten thousand round trips in a row.
const catchUpReaders = 8

// catchUpAll runs catchUp for each channel of lagging, catchUpReaders at
// a time. The channels' streams are apart (catchUp touches only its own),
// and no lock is held: the node does not serve them yet.
func (a *Apps) catchUpAll(lagging map[channel.ID]map[[16]byte]*stream) {
	todo := make(chan channel.ID, len(lagging))
	for ch := range lagging {
		todo <- ch
	}
	close(todo)
	var wg sync.WaitGroup
	for range min(catchUpReaders, len(lagging)) {
		wg.Go(func() {
			for ch := range todo {
				a.catchUp(ch, lagging[ch])
			}
		})
	}
	wg.Wait()
}

// catchUp counts into the lagging streams of channel ch (loaded from
// records written while they were live: each names the channel's incoming
// nonce it counts up to, stream.diskNonce) the ticks that reached the log
// after their records: the payments of the channel's later incoming proofs
// that name one of them and were accepted. It reads the channel's payments
// after the oldest of those nonces once, through the store's index by
// channel: the ticks between two writes of a record and the channel's
// other payments of that time (ten ticks of at most a second, two more and
// Config.StallAfter: about 12 s by default; see meterIncoming), however
// many streams the channel has. A read that fails is logged and leaves
// those streams as their records say: their totals show less than was
// paid, the payments themselves are in the log.
func (a *Apps) catchUp(ch channel.ID, streams map[[16]byte]*stream) {
	warn := func(err error) {
		a.log.Warn("streams: the ticks after their records could not all be counted; their totals show less than was paid (the payments are in the log)",
			"channel", ch, "streams", len(streams), "err", err)
	}
	var ticks []*storev1.Payment
	if err := a.readTicks(ch, streams, warn, func(p *storev1.Payment) { ticks = append(ticks, p) }); err != nil {
		warn(err) // none counted: the next record names the nonce this one did
		return
	}
	for _, p := range ticks {
		st := streams[[16]byte(p.GetStreamId())]
		amount, _ := parseAmount("amount", p.GetAmount()) // checked by readTicks
		st.Paid.Add(&st.Paid, &amount)
		st.Ticks++
		if t := time.Unix(0, p.GetTimeUnixNano()); t.After(st.Last) {
			st.Last = t
		}
		st.nonce = max(st.nonce, p.GetNonce())
	}
}

// readTicks reads the channel's incoming payments after the oldest record
// nonce of streams and passes to tick those that are ticks of one of them
// after its record: accepted, not a refund, of a valid amount. A proof of
// more payments than one read is passed in part, with a warning.
func (a *Apps) readTicks(ch channel.ID, streams map[[16]byte]*stream, warn func(error), tick func(*storev1.Payment)) error {
	from := uint64(math.MaxUint64)
	for _, st := range streams {
		from = min(from, st.diskNonce)
	}
	for upTo := uint64(math.MaxUint64); upTo > from; {
		page, err := a.store.ChannelPayments(ch, storev1.Direction_DIRECTION_INCOMING, from, upTo, catchUpPage)
		if err != nil {
			return err
		}
		if len(page) < catchUpPage {
			upTo = from // the last page
		} else if oldest := page[len(page)-1].GetNonce(); page[0].GetNonce() == oldest {
			// One proof fills the page: read that proof whole.
			if page, err = a.store.ChannelPayments(ch, storev1.Direction_DIRECTION_INCOMING, oldest-1, oldest, store.MaxChannelPayments); err != nil {
				return err
			}
			if len(page) == store.MaxChannelPayments {
				warn(fmt.Errorf("proof %d holds more payments than one read (%d)", oldest, store.MaxChannelPayments))
			}
			upTo = oldest - 1
		} else {
			// The oldest proof's payments may go on in the next page: leave
			// them all to it.
			for page[len(page)-1].GetNonce() == oldest {
				page = page[:len(page)-1]
			}
			upTo = oldest
		}
		for _, p := range page {
			if len(p.GetStreamId()) != 16 || p.GetRefused() != "" || len(p.GetRefundOf()) > 0 {
				continue
			}
			st, ok := streams[[16]byte(p.GetStreamId())]
			if !ok || p.GetNonce() <= st.diskNonce {
				continue
			}
			if _, err := parseAmount("amount", p.GetAmount()); err != nil {
				return fmt.Errorf("payment %x: %w", p.GetId(), err)
			}
			tick(p)
		}
	}
	return nil
}

// StartStream starts paying a peer per second. The first tick is paid at
// once (streams are prepaid), then one every Tick.
func (a *Apps) StartStream(ctx context.Context, r StreamRequest) (StreamInfo, error) {
	if r.Tick == 0 {
		r.Tick = time.Second
	}
	switch {
	case r.Rate.IsZero():
		return StreamInfo{}, invalid("the rate must be above zero")
	case r.Tick < MinTick || r.Tick > MaxTick:
		return StreamInfo{}, invalid("tick %s outside [%s, %s]", r.Tick, MinTick, MaxTick)
	case len(r.ItemID) > node.MaxItemIDLen:
		return StreamInfo{}, invalid("item id longer than %d bytes", node.MaxItemIDLen)
	case r.Duration < 0:
		return StreamInfo{}, invalid("negative duration")
	}
	ci, err := a.n.PayTarget(node.PayRequest{Channel: r.Channel, Peer: r.Peer, Asset: r.Asset, AnyAsset: r.AnyAsset})
	if err != nil {
		return StreamInfo{}, err
	}
	if ci.Phase != channel.Open {
		return StreamInfo{}, &channel.PhaseError{Op: "stream", Phase: ci.Phase}
	}
	if !r.Token.IsZero() {
		if err := a.checkTokenStream(r.Token, ci.Asset.Address, ci.Peer, &r.Rate, r.Origin); err != nil {
			return StreamInfo{}, err
		}
	}
	now := a.clock.Now()
	st := &stream{StreamInfo: StreamInfo{
		ID: randomShortID(), Channel: ci.ID, Peer: ci.Peer, Outgoing: true, Asset: ci.Asset, Rate: r.Rate, Tick: r.Tick,
		Budget: r.Budget, Started: now, ItemID: r.ItemID, Token: r.Token,
	}, autoTopup: r.AutoTopup, recorded: true, seen: now, newKey: true}
	if per := st.perTick(); per.IsZero() {
		return StreamInfo{}, invalid("rate %s per second pays nothing per %s tick", ci.Asset.Format(&r.Rate), r.Tick)
	}
	if r.Duration > 0 {
		st.End = now.Add(r.Duration)
	}
	b := store.NewBatch()
	if err := a.streamEvent(b, st, storev1.StreamEventKind_STREAM_EVENT_KIND_STARTED, fmt.Sprintf("paying %s per second to %s", ci.Asset.Format(&r.Rate), ci.Peer)); err != nil {
		return StreamInfo{}, err
	}
	if _, err := a.store.Commit(ctx, b); err != nil {
		return StreamInfo{}, err
	}
	st.stop = make(chan string, 1) // a StopStream before runStream waits in it
	a.streams.mu.Lock()
	a.streams.add(st)
	info := st.info()
	start := streamStartMessage(st)
	a.streams.mu.Unlock()
	// The terms before the first tick: the payee meters the ticks by
	// them, and logs them as the stream starts (its first payment).
	a.send(ci.Peer, start)
	if f := beforeRunStream.Load(); f != nil {
		(*f)(st.ID)
	}
	a.streams.mu.Lock()
	a.runStream(st)
	a.streams.mu.Unlock()
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

// runStream starts the goroutine paying an outgoing stream; streams.mu held.
func (a *Apps) runStream(st *stream) {
	if st.stop == nil {
		st.stop = make(chan string, 1)
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.payStream(st)
	}()
}

// streamReceiptEvery: a stream's first tick, and every streamReceiptEvery-th
// after it, asks the payee for a signed receipt; the others do not, since
// signing and checking a receipt per tick doubles the cost of a tick for
// both nodes, and a receipt's cumulative amount covers the ticks before it.
// The acknowledgement of each tick's proof is what moves the money.
const streamReceiptEvery = 60

// streamPersistEvery: the payer writes a running stream's record every
// streamPersistEvery-th tick (and when it ends), not each tick. A record
// that lags is safe: after a restart the stream pays the ticks after the
// record again with the same idempotency keys, and the node answers those
// it paid with their first outcome, so the record catches up and nothing
// is paid twice. The payee does the same (meterIncoming): its ticks are in
// the log, and loading a live stream's record counts in the ticks after
// it (catchUpStream).
const streamPersistEvery = 10

// streamPersistAfter: the payee also writes a live stream's record when
// the last one is this old, whatever the tick, so that loading it reads at
// most the channel's payments of about that long (catchUpStream).
const streamPersistAfter = 10 * time.Second

// payStream pays one tick every st.Tick until the stream ends.
func (a *Apps) payStream(st *stream) {
	a.streams.mu.Lock()
	tick, stop := st.Tick, st.stop
	a.streams.mu.Unlock()
	next := a.clock.Now()
	for {
		wait := time.Until(next)
		t := time.NewTimer(max(wait, 0))
		select {
		case <-a.ctx.Done():
			t.Stop()
			return // a restart resumes it
		case reason := <-stop:
			t.Stop()
			a.endStream(st, reason, true)
			return
		case <-t.C:
		}
		// A stop that came before this tick was due wins over it: with
		// both ready, the select above picks either (a StopStream right
		// after StartStream meets a timer of zero).
		select {
		case reason := <-stop:
			a.endStream(st, reason, true)
			return
		default:
		}
		reason := a.payTick(st)
		if reason != "" {
			a.endStream(st, reason, true)
			return
		}
		next = next.Add(tick)
		if now := a.clock.Now(); next.Before(now.Add(-tick)) {
			next = now // fell behind (a disconnect): do not pay for the gap
		}
	}
}

// payTick pays one tick of st, and returns why the stream must end, if it
// must.
func (a *Apps) payTick(st *stream) string {
	a.streams.mu.Lock()
	now := a.clock.Now()
	if !st.End.IsZero() && !now.Before(st.End) {
		a.streams.mu.Unlock()
		return EndTime
	}
	amount := st.perTick()
	if !st.Budget.IsZero() {
		if !st.Paid.Lt(&st.Budget) {
			a.streams.mu.Unlock()
			return EndBudget
		}
		var left uint256.Int
		left.Sub(&st.Budget, &st.Paid)
		if left.Lt(&amount) {
			amount = left
		}
	}
	key := fmt.Sprintf("%s%x:%d", streamKeyPrefix, st.ID, st.Ticks+1)
	req := PayRequest{Channel: st.Channel, Amount: amount, Key: key, ItemID: st.ItemID, stream: st.ID, Token: st.Token,
		Receipt: st.Ticks%streamReceiptEvery == 0, newKey: st.newKey}
	st.newKey = false // until this attempt is known to have paid anew
	a.streams.mu.Unlock()

	a.maybeTopUp(st, amount)
	ctx, cancel := context.WithTimeout(a.ctx, max(2*st.Tick, 5*time.Second))
	info, err := a.Pay(ctx, req)
	cancel()
	a.streams.mu.Lock()
	defer a.streams.mu.Unlock()
	st.newKey = err == nil && !info.Earlier
	// A tick counts once the payee acknowledged it. One that is signed but
	// not acknowledged (the payee is away, or the node stopped) is paid
	// again with the same key next time: the node answers that with the
	// first attempt's outcome, so it is never paid twice.
	if err == nil {
		st.Paid.Add(&st.Paid, &amount)
		st.Ticks++
		st.Last = a.clock.Now()
		if st.Ticks%streamPersistEvery == 0 {
			a.persistStream(st, 0, "")
		}
		if !st.Budget.IsZero() && !st.Paid.Lt(&st.Budget) {
			return EndBudget // endStream writes the record
		}
		return ""
	}
	switch {
	case errors.Is(err, channel.ErrInsufficientBalance):
		if !st.autoTopup.IsZero() && (!st.toppedUp || st.topping) {
			return "" // a top-up is due or on its way; try again next tick
		}
		return EndBalance
	case errors.Is(err, ErrSpendLimit):
		return EndSpendLimit
	case errors.Is(err, ErrForbidden):
		return EndRevoked // the only way a started stream's token stops allowing it
	case errors.Is(err, channel.ErrClosing), errors.Is(err, channel.ErrDraining), errors.Is(err, channel.ErrWrongPhase):
		return EndChannelClosed
	case errors.Is(err, node.ErrRefunded):
		return "refused by the payee: " + err.Error()
	case errors.Is(err, node.ErrStopped), errors.Is(err, context.Canceled):
		return ""
	case errors.Is(err, node.ErrNotConnected), errors.Is(err, node.ErrPending), errors.Is(err, context.DeadlineExceeded), errors.Is(err, node.ErrPeerRefused),
		errors.Is(err, node.ErrBehind): // the channel catches up by itself
		a.log.Debug("stream tick not paid", "stream", fmt.Sprintf("%x", st.ID), "err", err)
		return "" // the peer is away: the payee sees the stream stall
	}
	a.log.Warn("stream tick failed", "stream", fmt.Sprintf("%x", st.ID), "err", err)
	return "error: " + err.Error()
}

// maybeTopUp deposits once more into the stream's channel when its balance
// runs below ten ticks' worth, if the stream asked for it.
func (a *Apps) maybeTopUp(st *stream, perTick uint256.Int) {
	a.streams.mu.Lock()
	if st.autoTopup.IsZero() || st.toppedUp {
		a.streams.mu.Unlock()
		return
	}
	a.streams.mu.Unlock()
	ci, err := a.n.Channel(st.Channel)
	if err != nil {
		return
	}
	var low uint256.Int
	low.Mul(&perTick, uint256.NewInt(10))
	if !ci.MyBalance.Lt(&low) {
		return
	}
	a.streams.mu.Lock()
	st.toppedUp, st.topping = true, true
	amount := st.autoTopup
	a.persistStream(st, 0, "")
	a.streams.mu.Unlock()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		_, err := a.n.Deposit(a.ctx, st.Channel, amount)
		a.streams.mu.Lock()
		st.topping = false
		a.streams.mu.Unlock()
		if err != nil {
			a.log.Warn("stream auto top-up failed", "stream", fmt.Sprintf("%x", st.ID), "err", err)
		} else {
			a.log.Info("stream auto top-up", "stream", fmt.Sprintf("%x", st.ID), "amount", st.Asset.Format(&amount))
		}
	}()
}

// endStream marks a stream ended and tells the peer if asked to.
func (a *Apps) endStream(st *stream, reason string, tell bool) {
	a.streams.mu.Lock()
	if st.EndReason != "" {
		a.streams.mu.Unlock()
		return
	}
	st.EndReason = reason
	a.streams.count(st)
	a.persistStream(st, storev1.StreamEventKind_STREAM_EVENT_KIND_ENDED, reason)
	peer, id, end, recorded := st.Peer, st.ID, streamEndMessage(st), st.recorded
	a.streams.mu.Unlock()
	level := slog.LevelInfo
	if !recorded {
		level = slog.LevelDebug // never paid: a peer can start and end these as fast as it likes
	}
	a.log.Log(context.Background(), level, "stream ended", "stream", fmt.Sprintf("%x", id), "reason", reason)
	if tell {
		a.send(peer, end)
	}
}

// resendEndsFor is how long after its last payment a payer tells a peer
// that reconnects again that a stream ended (it may have ended while they
// were apart); a payee that knows already ignores it.
const resendEndsFor = 24 * time.Hour

func streamEndMessage(st *stream) *peerv1.Message {
	return &peerv1.Message{Body: &peerv1.Message_StreamEnd{StreamEnd: &peerv1.StreamEnd{StreamId: st.ID[:], ChannelId: st.Channel[:], Reason: st.EndReason}}}
}

// StopStream stops a stream. The payer's stream stops paying; a payee's
// stream asks the payer to stop, and is ended here at once. An app token
// may stop its own streams only.
func (a *Apps) StopStream(id [16]byte, token TokenID) (StreamInfo, error) {
	a.streams.mu.Lock()
	st := a.streams.byID[id]
	if st == nil || (!token.IsZero() && st.Token != token) {
		a.streams.mu.Unlock()
		return StreamInfo{}, notFound("stream %x", id)
	}
	if st.EndReason != "" {
		info := st.info()
		a.streams.mu.Unlock()
		return info, nil
	}
	outgoing, stop := st.Outgoing, st.stop
	a.streams.mu.Unlock()
	if outgoing {
		select {
		case stop <- EndByPayer:
		default:
		}
		// Wait briefly for the goroutine to record the end.
		for range 100 {
			a.streams.mu.Lock()
			done := st.EndReason != ""
			a.streams.mu.Unlock()
			if done {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	} else {
		a.endStream(st, EndByPayee, true)
	}
	a.streams.mu.Lock()
	defer a.streams.mu.Unlock()
	return st.info(), nil
}

// Stream describes one stream.
func (a *Apps) Stream(id [16]byte) (StreamInfo, error) {
	a.streams.mu.Lock()
	defer a.streams.mu.Unlock()
	st := a.streams.byID[id]
	if st == nil {
		return StreamInfo{}, notFound("stream %x", id)
	}
	return st.info(), nil
}

// onStreamStart: the peer says it pays a stream to this node on ch. A
// stream id that is this node's own, or another channel's, is refused and
// changes nothing. A stream this node stopped (while the payer could not
// hear it) is answered with its end.
//
// Saying costs nothing, so a new stream is kept in memory only: its record
// and its "started" event are written with its first payment (meterIncoming),
// in the same write. A payer pays the first tick at once, so a stream that
// is paid at all is stored about as soon as before; one that never is
// leaves nothing on disk, and is forgotten at a restart (its payer tells a
// reconnected payee about its live streams again).
//
// A new stream is admitted within the bounds on incoming streams (see
// admit); one refused at a bound is reported to the node's Bounds, and
// changes nothing. A StreamStart of a stream already known (its payer
// telling it again, or changing its terms) is not new.
func (a *Apps) onStreamStart(peer crypto.Address, ch node.ChannelInfo, m *peerv1.StreamStart) (*peerv1.Message, error) {
	id := m.GetStreamId()
	rate, err1 := parseAmount("rate", m.GetRate())
	budget, err2 := parseAmount("budget", m.GetBudget())
	if err := errors.Join(err1, err2); err != nil || len(id) != 16 || m.GetTickMs() < uint32(MinTick/time.Millisecond) ||
		m.GetTickMs() > uint32(MaxTick/time.Millisecond) || len(m.GetItemId()) > node.MaxItemIDLen {
		return nil, fmt.Errorf("%w: bad stream start", node.ErrMalformed)
	}
	a.streams.mu.Lock()
	st := a.streams.byID[[16]byte(id)]
	if st != nil && (st.Outgoing || st.Channel != ch.ID) {
		a.streams.mu.Unlock()
		return nil, fmt.Errorf("%w: stream %x is not this channel's", node.ErrInvalidArgument, id)
	}
	if st != nil && st.EndReason == EndByPayee {
		defer a.streams.mu.Unlock()
		return streamEndMessage(st), nil
	}
	if st == nil {
		now := a.clock.Now()
		if bound, limit := a.admit(ch.ID, now); bound != "" {
			held, total := len(a.streams.counted[ch.ID]), a.streams.nCounted
			a.streams.mu.Unlock()
			a.n.Bounds().Refused(bound, "channel", ch.ID, "peer", peer, "limit", limit)
			if bound == node.BoundStreamsPerChannel {
				return nil, fmt.Errorf("%w: channel %s holds %d incoming streams that are live or unpaid, the most one channel may (%d)",
					ErrTooManyStreams, ch.ID, held, limit)
			}
			return nil, fmt.Errorf("%w: this node holds %d incoming streams that are live or unpaid, the most it takes (%d)", ErrTooManyStreams, total, limit)
		}
		started := time.Unix(0, m.GetStartedUnixNano())
		if started.After(now) {
			started = now // the peer's word, but not a start to come
		}
		st = &stream{StreamInfo: StreamInfo{ID: [16]byte(id), Channel: ch.ID, Peer: ch.Peer, Asset: ch.Asset, Started: started},
			seen: now}
		a.streams.add(st)
		a.streams.count(st)
	}
	defer a.streams.mu.Unlock()
	was := st.StreamInfo
	st.Rate, st.Tick, st.Budget, st.ItemID = rate, time.Duration(m.GetTickMs())*time.Millisecond, budget, m.GetItemId()
	if m.GetEndUnix() != 0 {
		st.End = time.Unix(int64(min(m.GetEndUnix(), 1<<40)), 0)
	}
	if st.Rate != was.Rate || st.Tick != was.Tick || st.Budget != was.Budget || st.ItemID != was.ItemID || !st.End.Equal(was.End) {
		a.streams.watch(st)        // a new end or tick may be due sooner
		a.persistStream(st, 0, "") // the same terms again (a reconnect) write nothing
	}
	return nil, nil
}

// onStreamEnd: the payer says a stream ended, or the payee asks to stop.
func (a *Apps) onStreamEnd(ch node.ChannelInfo, m *peerv1.StreamEnd) error {
	if len(m.GetStreamId()) != 16 {
		return fmt.Errorf("%w: stream id is %d bytes", node.ErrMalformed, len(m.GetStreamId()))
	}
	a.streams.mu.Lock()
	st := a.streams.byID[[16]byte(m.GetStreamId())]
	if st == nil || st.Channel != ch.ID {
		a.streams.mu.Unlock()
		return fmt.Errorf("%w: stream %x on this channel", node.ErrNotFound, m.GetStreamId())
	}
	outgoing, stop := st.Outgoing, st.stop
	a.streams.mu.Unlock()
	if outgoing {
		select {
		case stop <- EndByPayee:
		default:
		}
		return nil
	}
	a.endStream(st, truncate(m.GetReason(), 200), false)
	return nil
}

// meterIncoming records a stream tick received, into the batch of the
// payment, and returns the stream if its record is due in that batch
// (Incoming writes it once, after every part of the proof). A stream's
// first payment writes its record and its "started" event (and its
// "ended" one, if it ended before it was paid).
func (a *Apps) meterIncoming(b *store.Batch, ch node.ChannelInfo, p *node.Part, now time.Time) (write *stream, err error) {
	var bound string
	var limit int
	defer func() { // after the unlock: it logs
		if bound != "" {
			a.n.Bounds().Refused(bound, "channel", ch.ID, "peer", ch.Peer, "limit", limit)
		}
	}()
	a.streams.mu.Lock()
	defer a.streams.mu.Unlock()
	// Events queued since Incoming wrote the channel's (the meter may have
	// marked a stall meanwhile): before this tick's, under this lock.
	if err := a.logPending(b, ch.ID); err != nil {
		return nil, err
	}
	st := a.streams.byID[p.Stream]
	if st != nil && (st.Outgoing || st.Channel != ch.ID) {
		return nil, nil // not the peer's stream to us
	}
	if st == nil {
		// A payment naming a stream never announced starts it, within the
		// bounds like a StreamStart: a payer must not get around them with
		// ticks of one unit. Over a bound the payment is still taken, but
		// not metered as a stream.
		if bound, limit = a.admit(ch.ID, now); bound != "" {
			return nil, nil
		}
		st = &stream{StreamInfo: StreamInfo{ID: p.Stream, Channel: ch.ID, Peer: ch.Peer, Asset: ch.Asset, Started: now, ItemID: p.ItemID, Tick: time.Second},
			seen: now}
		a.streams.add(st)
	}
	kind := storev1.StreamEventKind_STREAM_EVENT_KIND_UNSPECIFIED
	detail := ""
	switch {
	case !st.recorded:
		st.recorded = true
		kind, detail = storev1.StreamEventKind_STREAM_EVENT_KIND_STARTED, "receiving from "+ch.Peer.Hex()
		if !st.Rate.IsZero() {
			detail = fmt.Sprintf("receiving %s per second from %s", ch.Asset.Format(&st.Rate), ch.Peer)
		}
	case st.stalled && st.EndReason == "":
		kind, detail = storev1.StreamEventKind_STREAM_EVENT_KIND_RESUMED, "payments arrive again"
	}
	st.stalled = false
	st.Paid.Add(&st.Paid, &p.Amount)
	st.Ticks++
	st.Last = now
	st.nonce = ch.ReceivedNonce
	st.unwritten++
	a.streams.count(st)
	if kind != storev1.StreamEventKind_STREAM_EVENT_KIND_UNSPECIFIED {
		if err := a.streamLog(b, st, kind, detail); err != nil {
			return nil, err
		}
		if kind == storev1.StreamEventKind_STREAM_EVENT_KIND_STARTED && st.EndReason != "" {
			if err := a.streamLog(b, st, storev1.StreamEventKind_STREAM_EVENT_KIND_ENDED, st.EndReason); err != nil {
				return nil, err
			}
		}
		return st, nil
	}
	if st.lagging() && st.diskNonce != 0 && st.unwritten < streamPersistEvery && now.Sub(st.writtenAt) < streamPersistAfter {
		// The tick is in the log with the stream's id: the record takes it
		// in every streamPersistEvery-th tick (or streamPersistAfter), at
		// the stream's next event, or when the node loads the record
		// (catchUp), which counts the ticks after the nonce the record on
		// disk names. A record that names none (written whole: before a
		// restart, or when the stream did not lag) is not left behind: this
		// tick writes one that does. Only a live stream of a short tick
		// lags: a record is behind by at most ten ticks of a second and
		// the stall time.
		return nil, nil
	}
	return st, nil
}

// meterLoop marks incoming streams stalled when a tick is overdue.
func (a *Apps) meterLoop() {
	defer a.wg.Done()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-t.C:
		}
		now := a.clock.Now()
		a.streams.mu.Lock()
		a.streams.overdue(now, func(st *stream, ended bool) {
			if ended {
				st.EndReason = EndTime
				a.streams.count(st)
				a.persistStream(st, storev1.StreamEventKind_STREAM_EVENT_KIND_ENDED, EndTime)
				return
			}
			last := st.Last
			if last.IsZero() {
				last = st.Started
			}
			st.stalled = true
			a.streams.count(st)
			a.persistStream(st, storev1.StreamEventKind_STREAM_EVENT_KIND_STALLED, fmt.Sprintf("no payment for %s", now.Sub(last).Round(time.Millisecond)))
		})
		a.streams.mu.Unlock()
	}
}

// endChannelStreams ends the streams of a channel that closed.
func (a *Apps) endChannelStreams(id channel.ID) {
	a.streams.mu.Lock()
	var ss []*stream
	for _, st := range a.streams.byID {
		if st.Channel == id && st.EndReason == "" {
			ss = append(ss, st)
		}
	}
	a.streams.mu.Unlock()
	for _, st := range ss {
		if st.Outgoing {
			select {
			case st.stop <- EndChannelClosed:
			default:
			}
		} else {
			a.endStream(st, EndChannelClosed, false)
		}
	}
}

// peerConnected tells the peer's new session about the streams this node
// pays it. Nothing keeps the session: later messages go through the node.
func (a *Apps) peerConnected(peer crypto.Address, send func(*peerv1.Message)) {
	a.streams.mu.Lock()
	var starts []*peerv1.Message
	recent := a.clock.Now().Add(-resendEndsFor)
	for _, st := range a.streams.byID {
		switch {
		case !st.Outgoing || st.Peer != peer:
		case st.EndReason == "":
			starts = append(starts, streamStartMessage(st))
		case st.Last.After(recent) || st.Started.After(recent):
			// It may have ended while no session could tell the payee.
			starts = append(starts, streamEndMessage(st))
		}
	}
	a.streams.mu.Unlock()
	for _, m := range starts {
		send(m)
	}
}

// randomShortID returns 16 random bytes, for stream and token ids.
func randomShortID() [16]byte {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return b
}

// tokenIDBytes is the record form of an optional token id.
func tokenIDBytes(t TokenID) []byte {
	if t.IsZero() {
		return nil
	}
	return t[:]
}
