package apiutil

import (
	"context"
	"errors"
	"fmt"
	"iter"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
)

// ListFunc is a list call of the control API, such as
// apiv1.NodeClient.ListChannels.
type ListFunc[Req, Resp any] func(context.Context, Req, ...grpc.CallOption) (Resp, error)

// errNoProgress stops paging through a node that hands back the place it
// was given: it would never end.
var errNoProgress = errors.New("the node returned the same page token twice: paging stopped")

// Channels yields every channel that r selects, asking list for one page
// after another (r.PageSize each; r.PageToken, if set, is where to start).
// It stops at the first error, which it yields, or when the caller stops.
// r is not changed.
func Channels(ctx context.Context, list ListFunc[*apiv1.ListChannelsRequest, *apiv1.ListChannelsResponse], r *apiv1.ListChannelsRequest) iter.Seq2[*apiv1.Channel, error] {
	return tokenPages(ctx, list, r, func(req *apiv1.ListChannelsRequest, token string) { req.PageToken = token },
		(*apiv1.ListChannelsResponse).GetChannels)
}

// Streams yields every stream that r selects, a page at a time, like
// Channels.
func Streams(ctx context.Context, list ListFunc[*apiv1.ListStreamsRequest, *apiv1.ListStreamsResponse], r *apiv1.ListStreamsRequest) iter.Seq2[*apiv1.Stream, error] {
	return tokenPages(ctx, list, r, func(req *apiv1.ListStreamsRequest, token string) { req.PageToken = token },
		(*apiv1.ListStreamsResponse).GetStreams)
}

// tokenPages pages through a list whose replies carry a next_page_token:
// setToken puts the token into a request, items takes a reply's entries.
func tokenPages[Req interface {
	proto.Message
	GetPageToken() string
}, Resp interface{ GetNextPageToken() string }, Item any](ctx context.Context, list ListFunc[Req, Resp], r Req, setToken func(Req, string), items func(Resp) []Item) iter.Seq2[Item, error] {
	return func(yield func(Item, error) bool) {
		var zero Item
		req := proto.CloneOf(r)
		for {
			resp, err := list(ctx, req)
			if err != nil {
				yield(zero, err)
				return
			}
			for _, it := range items(resp) {
				if !yield(it, nil) {
					return
				}
			}
			next := resp.GetNextPageToken()
			if next == "" {
				return
			}
			if next == req.GetPageToken() {
				yield(zero, errNoProgress)
				return
			}
			setToken(req, next)
		}
	}
}

// Payments yields every payment that r selects, in log order from after
// r.AfterSeq, asking list for one page after another (r.Limit each: 0 is
// the node's default). It stops at the first error, which it yields, or
// when the caller stops. r is not changed.
func Payments(ctx context.Context, list ListFunc[*apiv1.ListPaymentsRequest, *apiv1.ListPaymentsResponse], r *apiv1.ListPaymentsRequest) iter.Seq2[*apiv1.Payment, error] {
	return func(yield func(*apiv1.Payment, error) bool) {
		req := proto.CloneOf(r)
		for {
			resp, err := list(ctx, req)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, p := range resp.GetPayments() {
				if !yield(p, nil) {
					return
				}
			}
			next := resp.GetNextAfterSeq()
			if next == 0 {
				return
			}
			if next <= req.GetAfterSeq() {
				yield(nil, fmt.Errorf("the node returned next_after_seq %d after %d: paging stopped", next, req.GetAfterSeq()))
				return
			}
			req.AfterSeq = next
		}
	}
}
