package node

import (
	"context"
	"strings"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
)

// Event is one entry of the node's ordered event log: a payment in or out,
// or something that happened to a channel.
type Event struct {
	Seq     uint64
	Time    time.Time
	Payment *PaymentInfo
	Channel *ChannelEvent
	Stream  *StreamEvent
	// Transfer is a step of a transfer of the node's own funds on chain.
	Transfer *TransferEvent
}

// StreamEvent is a change in a stream's life.
type StreamEvent struct {
	Stream [16]byte
	Kind   string // started, stalled, resumed, ended
	Detail string
}

// Event kinds for Subscribe filters.
const (
	KindPaymentIn  = "payment_in"
	KindPaymentOut = "payment_out"
	KindChannel    = "channel"
	KindStream     = "stream"
	KindTransfer   = "transfer"
)

// Kind returns the event's kind.
func (e *Event) Kind() string {
	switch {
	case e.Payment != nil && e.Payment.Outgoing:
		return KindPaymentOut
	case e.Payment != nil:
		return KindPaymentIn
	case e.Channel != nil:
		return KindChannel
	case e.Transfer != nil:
		return KindTransfer
	}
	return KindStream
}

// ChannelEvent is a change in a channel's life.
type ChannelEvent struct {
	Channel channel.ID
	Kind    string // proposed, opened, deposited, withdrawn, close_signed, cooperatively_closed, force_closed, disputed, settled, paid_out, warning
	Detail  string
	Peer    crypto.Address
	Amount  uint256.Int
}

func (n *Node) eventOf(e *storev1.LogEntry) (Event, error) {
	ev := Event{Seq: e.GetSeq(), Time: time.Unix(0, e.GetTimeUnixNano())}
	switch x := e.GetEntry().(type) {
	case *storev1.LogEntry_Payment:
		p, err := paymentInfo(e)
		if err != nil {
			return ev, err
		}
		ev.Payment = &p
	case *storev1.LogEntry_ChannelEvent:
		ce := x.ChannelEvent
		amt, err := parseAmount("amount", ce.GetAmount())
		if err != nil {
			return ev, err
		}
		ev.Channel = &ChannelEvent{
			Channel: channel.ID(ce.GetChannelId()),
			Kind:    strings.ToLower(strings.TrimPrefix(ce.GetKind().String(), "CHANNEL_EVENT_KIND_")),
			Detail:  ce.GetDetail(), Amount: amt,
		}
		if len(ce.GetPeer()) == 20 {
			ev.Channel.Peer = crypto.Address(ce.GetPeer())
		}
	case *storev1.LogEntry_StreamEvent:
		se := x.StreamEvent
		ev.Stream = &StreamEvent{
			Stream: [16]byte(se.GetStreamId()),
			Kind:   strings.ToLower(strings.TrimPrefix(se.GetKind().String(), "STREAM_EVENT_KIND_")),
			Detail: se.GetDetail(),
		}
	case *storev1.LogEntry_TransferEvent:
		te, err := n.transferEvent(x.TransferEvent)
		if err != nil {
			return ev, err
		}
		ev.Transfer = te
	}
	return ev, nil
}

// CheckEventKinds returns the error Subscribe returns for kinds, if any.
func CheckEventKinds(kinds []string) error {
	_, err := eventKinds(kinds)
	return err
}

func eventKinds(kinds []string) (map[string]bool, error) {
	want := map[string]bool{}
	for _, k := range kinds {
		switch k {
		case KindPaymentIn, KindPaymentOut, KindChannel, KindStream, KindTransfer:
			want[k] = true
		default:
			return nil, invalid("event kind %q: want payment_in, payment_out, channel, stream or transfer", k)
		}
	}
	return want, nil
}

// Subscribe calls fn for every log entry after seq after, in order: first
// those stored, then new ones as they become durable, until ctx ends or fn
// returns an error. A subscriber that resumes with the last seq it saw
// misses nothing and sees nothing twice.
func (n *Node) Subscribe(ctx context.Context, after uint64, kinds []string, fn func(Event) error) error {
	want, err := eventKinds(kinds)
	if err != nil {
		return err
	}
	for {
		wake := *n.logNotify.Load() // before reading, so no entry slips by
		page, err := n.store.Log(after, 256)
		if err != nil {
			return err
		}
		for _, e := range page {
			ev, err := n.eventOf(e)
			if err != nil {
				return err
			}
			after = e.GetSeq()
			if len(want) > 0 && !want[ev.Kind()] {
				continue
			}
			if ev.Payment != nil {
				n.completeFlag(ev.Payment)
				n.attachReceipt(ev.Payment, e)
			}
			if err := fn(ev); err != nil {
				return err
			}
		}
		if len(page) > 0 {
			continue
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		case <-n.ctx.Done():
			return ErrStopped
		}
	}
}

// Events returns the newest log entries of the given kinds (all if none)
// before seq before (0: from the newest), newest first, at most limit of
// them (0: 100; at most MaxPageSize), and the before of the next page, 0
// when there is no more. One call reads a bounded stretch of the log
// (maxPaymentScan entries), so a page may hold fewer than limit, even
// none, while the next is not 0: a history of rare kinds (channel events
// among millions of payments) costs each call a bounded amount, never a
// read of the whole log.
func (n *Node) Events(before uint64, kinds []string, limit int) ([]Event, uint64, error) {
	want, err := eventKinds(kinds)
	if err != nil {
		return nil, 0, err
	}
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, MaxPageSize)
	var out []Event
	next, err := n.scanLog(before, true, func(e *storev1.LogEntry) (bool, error) {
		ev, err := n.eventOf(e)
		if err != nil {
			return false, err
		}
		if len(want) > 0 && !want[ev.Kind()] {
			return false, nil
		}
		if ev.Payment != nil {
			n.completeFlag(ev.Payment)
			n.attachReceipt(ev.Payment, e)
		}
		out = append(out, ev)
		return len(out) == limit, nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, next, nil
}
