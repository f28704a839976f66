package sdk

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"time"

	"google.golang.org/grpc"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/apiutil"
)

// Info describes the node: its address, chain and assets. App tokens may
// call it.
func (c *Client) Info(ctx context.Context) (*Info, error) {
	m, err := call(ctx, c, "get info", c.api.GetInfo, &apiv1.GetInfoRequest{})
	if err != nil {
		return nil, err
	}
	in := infoFrom(m)
	c.mu.Lock()
	c.assets = in.Assets
	c.mu.Unlock()
	return in, nil
}

// Assets returns the assets the node can pay in, as of the last time the
// Client asked (Dial asks); ctx is used only if it has to ask again.
func (c *Client) Assets(ctx context.Context) (Assets, error) {
	c.mu.Lock()
	as := c.assets
	c.mu.Unlock()
	if as != nil {
		return as, nil
	}
	in, err := c.Info(ctx)
	if err != nil {
		return nil, err
	}
	return in.Assets, nil
}

// ParseAmount reads an amount with its asset, "0.0025 USD", as base units
// of one of the node's assets, exactly. An unknown symbol makes it ask the
// node for its assets again before giving up. Errors match
// ErrInvalidArgument (or the error of asking).
func (c *Client) ParseAmount(ctx context.Context, s string) (Amount, error) {
	as, err := c.Assets(ctx)
	if err != nil {
		return Amount{}, err
	}
	a, err := as.Parse(s)
	if errors.Is(err, errUnknownAsset) {
		in, ierr := c.Info(ctx)
		if ierr != nil {
			return Amount{}, ierr
		}
		a, err = in.Assets.Parse(s)
	}
	return a, err
}

// Channels lists the node's channels, newest first: those with Peer only,
// if set, and settled ones too if All. It asks for them a page at a time
// (EachChannel) and returns them all. It needs the admin token.
func (c *Client) Channels(ctx context.Context, f ChannelFilter) ([]Channel, error) {
	var out []Channel
	for ch, err := range c.EachChannel(ctx, f) {
		if err != nil {
			return nil, err
		}
		out = append(out, ch)
	}
	return out, nil
}

// EachChannel yields the node's channels that f selects, newest first,
// asking for one page after another as the loop goes on; breaking out of
// the loop asks for no more. Channels opened meanwhile do not shift the
// pages: none is yielded twice. On an error it yields it and stops. It
// needs the admin token.
//
//	for ch, err := range client.EachChannel(ctx, sdk.ChannelFilter{}) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(ch.ID, ch.Phase)
//	}
func (c *Client) EachChannel(ctx context.Context, f ChannelFilter) iter.Seq2[Channel, error] {
	return func(yield func(Channel, error) bool) {
		if f.PageSize < 0 {
			yield(Channel{}, fmt.Errorf("tinypay: %w: page size %d: want 0 (the node's default) or more", ErrInvalidArgument, f.PageSize))
			return
		}
		list := func(ctx context.Context, r *apiv1.ListChannelsRequest, _ ...grpc.CallOption) (*apiv1.ListChannelsResponse, error) {
			return call(ctx, c, "list channels", c.api.ListChannels, r)
		}
		req := &apiv1.ListChannelsRequest{Peer: f.Peer, All: f.All, PageSize: int32(min(f.PageSize, math.MaxInt32))}
		for m, err := range apiutil.Channels(ctx, list, req) {
			if err != nil {
				yield(Channel{}, c.apiError("list channels", err))
				return
			}
			x, err := channelFrom(m)
			if err != nil {
				yield(Channel{}, err)
				return
			}
			if !yield(*x, nil) {
				return
			}
		}
	}
}

// ChannelFilter selects channels for Channels and EachChannel.
type ChannelFilter struct {
	// Peer: only channels with this peer (0x address), if set.
	Peer string
	// All: include settled channels.
	All bool
	// PageSize: how many channels to ask for at a time (0: the node's
	// default, 500; the node takes at most 1000).
	PageSize int
}

// Channel describes one channel. It needs the admin token.
func (c *Client) Channel(ctx context.Context, id string) (*Channel, error) {
	m, err := call(ctx, c, "get channel", c.api.GetChannel, &apiv1.GetChannelRequest{ChannelId: id})
	if err != nil {
		return nil, err
	}
	return channelFrom(m)
}

// Balances reports, per asset, the node's wallet on chain, its share of
// open channels and payouts not yet withdrawn. It needs the admin token.
func (c *Client) Balances(ctx context.Context) ([]Balance, error) {
	m, err := call(ctx, c, "get balances", c.api.GetBalances, &apiv1.GetBalancesRequest{})
	if err != nil {
		return nil, err
	}
	var d decoder
	out := make([]Balance, 0, len(m.GetBalances()))
	for _, b := range m.GetBalances() {
		out = append(out, Balance{
			Asset: assetFrom(b.GetAsset()), Wallet: d.amount("wallet", b.GetWallet()),
			InChannels: d.amount("in_channels", b.GetInChannels()), Payout: d.amount("payout", b.GetPayout()),
		})
	}
	return out, d.err
}

// Revenue groupings.
const (
	GroupByChannel = "channel"
	GroupByStream  = "stream"
	GroupByItem    = "item"
	GroupByPeer    = "peer"
	GroupByAsset   = "asset" // the key is the asset's symbol
	// GroupByIdentity: the key is the address of the node that was paid
	// (one per identity with AllIdentities).
	GroupByIdentity = "identity"
)

// Revenue buckets: a row per group and hour, or per group and day.
const (
	BucketHour = "hour"
	BucketDay  = "day"
)

// RevenueQuery selects what Revenue sums.
type RevenueQuery struct {
	// From and To bound the time the payments were received (zero: from
	// the beginning, until now). From is required with a Bucket.
	From, To time.Time
	// GroupBy is GroupByChannel (the default), GroupByStream, GroupByItem,
	// GroupByPeer, GroupByAsset or GroupByIdentity.
	GroupBy string
	// Bucket, if set (BucketHour or BucketDay), splits each group into the
	// hours or days of Location that hold payments, in time order; the
	// range may span at most 10,000 of them.
	Bucket string
	// Location is the time zone whose hours and days the buckets are (nil:
	// UTC). It must have an IANA name (time.LoadLocation's), as
	// time.Local has only where TZ names one.
	Location *time.Location
	// AllIdentities totals the revenue of the operator's other node
	// identities the node was given (Info.Identities) with its own: rows
	// of the same key, asset and bucket are added up. The call fails if
	// one of them does not answer.
	AllIdentities bool
}

// Revenue sums the node's incoming payments that q selects, a row per
// group (and bucket) and asset. It needs the admin token or a view token.
func (c *Client) Revenue(ctx context.Context, q RevenueQuery) ([]RevenueRow, error) {
	req := &apiv1.RevenueRequest{GroupBy: q.GroupBy, Bucket: q.Bucket, AllIdentities: q.AllIdentities}
	if !q.From.IsZero() {
		req.FromUnixNano = q.From.UnixNano()
	}
	if !q.To.IsZero() {
		req.ToUnixNano = q.To.UnixNano()
	}
	if q.Location != nil && q.Location != time.UTC {
		name := q.Location.String()
		if _, err := time.LoadLocation(name); err != nil || name == "Local" {
			return nil, fmt.Errorf("tinypay: %w: time zone %q has no IANA name the node could load", ErrInvalidArgument, name)
		}
		req.TimeZone = name
	}
	m, err := call(ctx, c, "revenue", c.api.Revenue, req)
	if err != nil {
		return nil, err
	}
	var d decoder
	out := make([]RevenueRow, 0, len(m.GetRows()))
	for _, r := range m.GetRows() {
		row := RevenueRow{Key: r.GetKey(), Asset: assetFrom(r.GetAsset()), Payments: r.GetPayments(), Amount: d.amount("amount", r.GetAmount())}
		if ns := r.GetBucketStartUnixNano(); ns != 0 {
			row.BucketStart = time.Unix(0, ns).In(q.location())
		}
		out = append(out, row)
	}
	return out, d.err
}

func (q RevenueQuery) location() *time.Location {
	if q.Location == nil {
		return time.UTC
	}
	return q.Location
}

// PaymentFilter selects a page of payments for Payments.
type PaymentFilter struct {
	// After: only payments after this log sequence number.
	After uint64
	// Limit: at most this many (0: the node's default; at most 1000).
	Limit int
	// Channel: only this channel's, if set.
	Channel string
}

// Payments pages through the payment history, in and out, in log order.
// It returns the page and the After of the next one (0 when there is no
// more; a page may hold fewer than Limit, even none, while there is). It
// needs the admin token. EachPayment goes through every page.
func (c *Client) Payments(ctx context.Context, f PaymentFilter) ([]Payment, uint64, error) {
	if f.Limit < 0 || f.Limit > 1000 {
		return nil, 0, fmt.Errorf("tinypay: %w: limit %d: want 0 to 1000", ErrInvalidArgument, f.Limit)
	}
	m, err := call(ctx, c, "list payments", c.api.ListPayments, &apiv1.ListPaymentsRequest{AfterSeq: f.After, Limit: uint32(f.Limit), ChannelId: f.Channel})
	if err != nil {
		return nil, 0, err
	}
	out := make([]Payment, 0, len(m.GetPayments()))
	for _, pm := range m.GetPayments() {
		p, err := paymentFrom(pm)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, *p)
	}
	return out, m.GetNextAfterSeq(), nil
}

// EachPayment yields the payments that f selects, in log order after
// f.After, asking for one page after another (f.Limit a page) as the loop
// goes on; breaking out of the loop asks for no more. On an error it
// yields it and stops. It needs the admin token.
func (c *Client) EachPayment(ctx context.Context, f PaymentFilter) iter.Seq2[Payment, error] {
	return func(yield func(Payment, error) bool) {
		if f.Limit < 0 || f.Limit > 1000 {
			yield(Payment{}, fmt.Errorf("tinypay: %w: limit %d: want 0 to 1000", ErrInvalidArgument, f.Limit))
			return
		}
		list := func(ctx context.Context, r *apiv1.ListPaymentsRequest, _ ...grpc.CallOption) (*apiv1.ListPaymentsResponse, error) {
			return call(ctx, c, "list payments", c.api.ListPayments, r)
		}
		req := &apiv1.ListPaymentsRequest{AfterSeq: f.After, Limit: uint32(f.Limit), ChannelId: f.Channel}
		for m, err := range apiutil.Payments(ctx, list, req) {
			if err != nil {
				yield(Payment{}, c.apiError("list payments", err))
				return
			}
			p, err := paymentFrom(m)
			if err != nil {
				yield(Payment{}, err)
				return
			}
			if !yield(*p, nil) {
				return
			}
		}
	}
}
