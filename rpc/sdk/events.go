package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
)

// Event kinds, for SubscribeOptions.Kinds and Event.Kind.
const (
	KindPaymentIn  = "payment_in"
	KindPaymentOut = "payment_out"
	KindChannel    = "channel"
	KindStream     = "stream"
	KindTransfer   = "transfer"
)

// Event is one entry of the node's ordered event log. Exactly one of
// Payment, Channel, Stream and Transfer is set, as Kind says (a kind this
// version does not know has Kind "" and none set).
type Event struct {
	// Seq is the event's place in the log: it increases by at least one
	// from event to event (filtered kinds leave gaps).
	Seq     uint64
	Time    time.Time
	Kind    string
	Payment *Payment
	Channel *ChannelEvent
	Stream  *StreamEvent
	// Transfer is a step of a transfer of the node's own funds on chain.
	Transfer *TransferEvent
}

// TransferEvent is a step of a transfer of the node's own funds (a wallet
// send or a sweep).
type TransferEvent struct {
	// Kind: sending (signed and sent), sent (mined), failed.
	Kind   string
	Detail string
	// Transfer is the transfer as the step left it.
	Transfer *Transfer
}

// ChannelEvent is a change in a channel's life.
type ChannelEvent struct {
	ChannelID string
	// Kind: opened, deposited, withdrawn, close_signed,
	// cooperatively_closed, force_closed, disputed, settled, paid_out, ...
	Kind   string
	Detail string
	// Channel is the channel's state when the event was sent, if the node
	// still knows it.
	Channel *Channel
}

// StreamEvent is a change in a stream's life.
type StreamEvent struct {
	// Kind: started, stalled, resumed, ended.
	Kind   string
	Detail string
	// Stream is the stream's state when the event was sent, if known.
	Stream *Stream
}

func eventFrom(m *apiv1.Event) (Event, error) {
	ev := Event{Seq: m.GetSeq(), Time: unixNano(m.GetTimeUnixNano())}
	var err error
	switch x := m.GetEvent().(type) {
	case *apiv1.Event_Payment:
		if ev.Payment, err = paymentFrom(x.Payment); err == nil {
			ev.Kind = KindPaymentIn
			if ev.Payment.Outgoing {
				ev.Kind = KindPaymentOut
			}
		}
	case *apiv1.Event_Channel:
		ev.Kind = KindChannel
		ev.Channel = &ChannelEvent{ChannelID: x.Channel.GetChannelId(), Kind: x.Channel.GetKind(), Detail: x.Channel.GetDetail()}
		if x.Channel.GetChannel() != nil {
			ev.Channel.Channel, err = channelFrom(x.Channel.GetChannel())
		}
	case *apiv1.Event_Transfer:
		ev.Kind = KindTransfer
		ev.Transfer = &TransferEvent{Kind: x.Transfer.GetKind(), Detail: x.Transfer.GetDetail()}
		if x.Transfer.GetTransfer() != nil {
			ev.Transfer.Transfer, err = transferFrom(x.Transfer.GetTransfer())
		}
	case *apiv1.Event_Stream:
		ev.Kind = KindStream
		ev.Stream = &StreamEvent{Kind: x.Stream.GetKind(), Detail: x.Stream.GetDetail()}
		if x.Stream.GetStream() != nil {
			ev.Stream.Stream, err = streamFrom(x.Stream.GetStream())
		}
	}
	return ev, err
}

// SubscribeOptions say where a subscription starts and what it carries.
type SubscribeOptions struct {
	// After: deliver the events after this sequence number (0: from the
	// first). To resume across restarts of the app, store the Seq of the
	// last event handled and pass it here.
	After uint64
	// Kinds: only events of these kinds (KindPaymentIn, KindPaymentOut,
	// KindChannel, KindStream, KindTransfer); empty means all.
	Kinds []string
}

// Delays between reconnection attempts of Subscribe.
const (
	minResubscribeDelay = 50 * time.Millisecond
	maxResubscribeDelay = 5 * time.Second
)

// Subscribe calls fn for every event of the node's log after opts.After,
// in sequence order and each exactly once: first those stored, then new
// ones as they happen, until ctx ends (it returns ctx's error) or fn
// returns an error (ErrStop: it returns nil; others are returned as they
// are). The event fn fails on counts as not delivered.
//
// When the event stream breaks — the node restarts, the connection drops —
// Subscribe reconnects with growing delays (up to 5 s) and resumes after
// the last event fn accepted, for as long as ctx lives; it gives up only on
// errors retrying cannot cure (a refused token, an app token, an unknown
// kind), returning them. fn runs on the calling goroutine. It needs the
// admin token.
func (c *Client) Subscribe(ctx context.Context, opts SubscribeOptions, fn func(Event) error) error {
	last, delay := opts.After, minResubscribeDelay
	for {
		n, err := c.subscribeOnce(ctx, opts.Kinds, &last, fn)
		var he handlerError
		switch {
		case errors.As(err, &he):
			if errors.Is(he.err, ErrStop) {
				return nil
			}
			return he.err
		case ctx.Err() != nil:
			return ctx.Err()
		case c.closed.Load():
			return fmt.Errorf("tinypay subscribe: %w", ErrClosed)
		case err != nil && permanent(err):
			return err
		}
		if n > 0 {
			delay = minResubscribeDelay
		}
		c.log.Info("subscription interrupted; resuming", "after", last, "in", delay, "err", err)
		if err := sleep(ctx, delay); err != nil {
			return err
		}
		delay = min(2*delay, maxResubscribeDelay)
	}
}

// handlerError carries the error of Subscribe's handler.
type handlerError struct{ err error }

func (e handlerError) Error() string { return e.err.Error() }

// subscribeOnce runs one SubscribeEvents call, delivering the events after
// *last and advancing *last past each one fn accepts. It returns how many
// it delivered and why it stopped (nil if the node ended the stream).
func (c *Client) subscribeOnce(ctx context.Context, kinds []string, last *uint64, fn func(Event) error) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.api.SubscribeEvents(ctx, &apiv1.SubscribeEventsRequest{AfterSeq: *last, Kinds: kinds})
	if err != nil {
		return 0, c.apiError("subscribe", err)
	}
	n := 0
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, c.apiError("subscribe", err)
		}
		if m.GetSeq() <= *last {
			continue // delivered already; the log never repeats, but be sure
		}
		ev, err := eventFrom(m)
		if err != nil {
			return n, err
		}
		if err := fn(ev); err != nil {
			return n, handlerError{err}
		}
		*last, n = m.GetSeq(), n+1
	}
}

// History returns a page of the node's event log going back in time:
// the events before seq before (0: from the newest), newest first, of the
// given kinds (empty: all), at most limit (0: 100; at most 1000); and the
// before of the next, older page, 0 when there is no more. Each call reads
// a bounded stretch of the log, so a page may hold fewer than limit, even
// none, while there is more. It needs the admin token or a view token.
func (c *Client) History(ctx context.Context, before uint64, kinds []string, limit int) ([]Event, uint64, error) {
	if limit < 0 || limit > 1000 {
		return nil, 0, fmt.Errorf("tinypay: %w: limit %d: want 0 to 1000", ErrInvalidArgument, limit)
	}
	m, err := call(ctx, c, "event history", c.api.ListEvents, &apiv1.ListEventsRequest{BeforeSeq: before, Kinds: kinds, Limit: uint32(limit)})
	if err != nil {
		return nil, 0, err
	}
	out := make([]Event, 0, len(m.GetEvents()))
	for _, em := range m.GetEvents() {
		ev, err := eventFrom(em)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, ev)
	}
	return out, m.GetNextBeforeSeq(), nil
}
