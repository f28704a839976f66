package sdk

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"time"

	"github.com/holiman/uint256"
	"google.golang.org/grpc"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/apiutil"
)

// StreamRequest starts paying a peer per second.
type StreamRequest struct {
	// Channel to pay through, or a Peer (and optionally an Asset) to pick
	// an open channel with it (as PayRequest does).
	Channel string
	Peer    string
	Asset   string
	// Rate is in base units per second.
	Rate *uint256.Int
	// Tick is how often to pay: whole milliseconds, at least 100 ms
	// (0: one second).
	Tick time.Duration
	// Budget stops the stream once it has paid this much (nil: no budget).
	Budget *uint256.Int
	// Duration stops the stream after this long, in whole seconds (0: no
	// end time).
	Duration time.Duration
	// ItemID says what the stream pays for; the payee sees it.
	ItemID string
	// AutoTopup, when the channel's balance falls below ten ticks' worth,
	// deposits this much more, once (nil: never). App tokens may not.
	AutoTopup *uint256.Int
}

// StreamStatus is where a stream is.
type StreamStatus string

// Stream statuses.
const (
	// StreamLive: paying on time.
	StreamLive StreamStatus = "live"
	// StreamStalled: a payment is overdue (the peer is away, or the
	// channel is busy); it may resume.
	StreamStalled StreamStatus = "stalled"
	// StreamEnded: it will not pay again; EndReason says why.
	StreamEnded StreamStatus = "ended"
)

// Stream describes a stream, from the payer's side (outgoing) or the
// payee's (incoming). Both sides know it by the same ID.
type Stream struct {
	ID       string
	Channel  string
	Peer     string
	Outgoing bool
	Asset    Asset
	// Rate is in base units per second; Tick how often it pays.
	Rate *uint256.Int
	Tick time.Duration
	// Budget is zero when there is none; End is zero when there is no end
	// time.
	Budget *uint256.Int
	End    time.Time
	// Paid is what it paid (or received) so far, in Ticks payments.
	Paid   *uint256.Int
	Ticks  uint64
	Status StreamStatus
	// EndReason says why an ended stream ended: budget, end time, balance,
	// stopped by payer, stopped by payee, channel closed, spend limit, ...
	EndReason   string
	Started     time.Time
	LastPayment time.Time
	ItemID      string
}

func streamFrom(m *apiv1.Stream) (*Stream, error) {
	if m == nil {
		return nil, fmt.Errorf("tinypay: %w: the node sent no stream", ErrMalformed)
	}
	var d decoder
	s := &Stream{
		ID: m.GetId(), Channel: m.GetChannelId(), Peer: m.GetPeer(), Outgoing: m.GetDirection() == "outgoing",
		Asset: assetFrom(m.GetAsset()), Rate: d.amount("rate", m.GetRate()), Tick: time.Duration(m.GetTickMs()) * time.Millisecond,
		Budget: d.amount("budget", m.GetBudget()), End: unixSec(m.GetEndUnix()), Paid: d.amount("paid", m.GetPaid()),
		Ticks: m.GetTicks(), Status: StreamStatus(m.GetStatus()), EndReason: m.GetEndReason(),
		Started: unixNano(m.GetStartedUnixNano()), LastPayment: unixNano(m.GetLastPaymentUnixNano()), ItemID: m.GetItemId(),
	}
	return s, d.err
}

// StartStream starts paying a peer per second, until the budget, the end
// time or the channel's balance runs out, or either side stops it. App
// tokens may start streams.
func (c *Client) StartStream(ctx context.Context, r StreamRequest) (*Stream, error) {
	if r.Rate == nil {
		return nil, fmt.Errorf("tinypay: %w: a stream needs a Rate", ErrInvalidArgument)
	}
	if r.Tick < 0 || r.Tick%time.Millisecond != 0 || r.Duration < 0 || r.Duration%time.Second != 0 {
		return nil, fmt.Errorf("tinypay: %w: Tick must be whole milliseconds and Duration whole seconds, not negative", ErrInvalidArgument)
	}
	m := &apiv1.StartStreamRequest{
		ChannelId: r.Channel, Peer: r.Peer, Asset: r.Asset, Rate: r.Rate.Dec(), TickMs: uint64(r.Tick / time.Millisecond),
		DurationSeconds: uint64(r.Duration / time.Second), ItemId: r.ItemID,
	}
	if r.Budget != nil {
		m.Budget = r.Budget.Dec()
	}
	if r.AutoTopup != nil {
		m.AutoTopup = r.AutoTopup.Dec()
	}
	sm, err := call(ctx, c, "start stream", c.api.StartStream, m)
	if err != nil {
		return nil, err
	}
	return streamFrom(sm)
}

// StopStream stops a stream; the payer or the payee may stop it. App
// tokens may stop the streams they started.
func (c *Client) StopStream(ctx context.Context, id string) (*Stream, error) {
	sm, err := call(ctx, c, "stop stream", c.api.StopStream, &apiv1.StopStreamRequest{StreamId: id})
	if err != nil {
		return nil, err
	}
	return streamFrom(sm)
}

// Stream describes one stream with its meter. The payee knows a stream
// from its first payment on (ErrNotFound before). App tokens see the
// streams they started.
func (c *Client) Stream(ctx context.Context, id string) (*Stream, error) {
	sm, err := call(ctx, c, "get stream", c.api.GetStream, &apiv1.GetStreamRequest{StreamId: id})
	if err != nil {
		return nil, err
	}
	return streamFrom(sm)
}

// Streams lists the streams in and out, newest first, and ended ones too
// if all. It asks for them a page at a time (EachStream) and returns them
// all. It needs the admin token.
func (c *Client) Streams(ctx context.Context, all bool) ([]Stream, error) {
	var out []Stream
	for s, err := range c.EachStream(ctx, StreamFilter{All: all}) {
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// EachStream yields the streams in and out, newest first, and ended ones
// too if f.All, asking for one page after another as the loop goes on;
// breaking out of the loop asks for no more. On an error it yields it and
// stops. It needs the admin token.
func (c *Client) EachStream(ctx context.Context, f StreamFilter) iter.Seq2[Stream, error] {
	return func(yield func(Stream, error) bool) {
		if f.PageSize < 0 {
			yield(Stream{}, fmt.Errorf("tinypay: %w: page size %d: want 0 (the node's default) or more", ErrInvalidArgument, f.PageSize))
			return
		}
		list := func(ctx context.Context, r *apiv1.ListStreamsRequest, _ ...grpc.CallOption) (*apiv1.ListStreamsResponse, error) {
			return call(ctx, c, "list streams", c.api.ListStreams, r)
		}
		req := &apiv1.ListStreamsRequest{All: f.All, PageSize: int32(min(f.PageSize, math.MaxInt32))}
		for m, err := range apiutil.Streams(ctx, list, req) {
			if err != nil {
				yield(Stream{}, c.apiError("list streams", err))
				return
			}
			s, err := streamFrom(m)
			if err != nil {
				yield(Stream{}, err)
				return
			}
			if !yield(*s, nil) {
				return
			}
		}
	}
}

// StreamFilter selects streams for EachStream.
type StreamFilter struct {
	// All: include ended streams.
	All bool
	// PageSize: how many streams to ask for at a time (0: the node's
	// default, 500; the node takes at most 1000).
	PageSize int
}

// WatchStream follows one stream: it calls fn with its state at once and
// then whenever its status, ticks or end reason change, polling every
// Config.PollInterval, until the stream has ended (after fn saw it ended:
// WatchStream returns nil), fn returns an error (ErrStop: nil; others are
// returned), or ctx ends. While the node is unavailable it keeps trying.
// It works from either side (the payee's from the stream's first payment
// on: an unknown stream is ErrNotFound), and with an app token for its own
// streams.
func (c *Client) WatchStream(ctx context.Context, id string, fn func(*Stream) error) error {
	var last *Stream
	for {
		s, err := c.Stream(ctx, id)
		switch {
		case err == nil:
			if last == nil || s.Status != last.Status || s.Ticks != last.Ticks || s.EndReason != last.EndReason {
				if err := fn(s); err != nil {
					if errors.Is(err, ErrStop) {
						return nil
					}
					return err
				}
				if s.Status == StreamEnded {
					return nil
				}
			}
			last = s
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
			c.log.Info("watch stream: node unavailable, trying again", "stream", id, "err", err)
		default:
			return err
		}
		if err := sleep(ctx, c.cfg.PollInterval); err != nil {
			return err
		}
	}
}
