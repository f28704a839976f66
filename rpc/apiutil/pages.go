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
	return func(yield func(*apiv1.Channel, error) bool) {
		req := proto.CloneOf(r)
		for {
			resp, err := list(ctx, req)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, c := range resp.GetChannels() {
				if !yield(c, nil) {
					return
				}
			}
			next := resp.GetNextPageToken()
			if next == "" {
				return
			}
			if next == req.GetPageToken() {
				yield(nil, errNoProgress)
				return
			}
			req.PageToken = next
		}
	}
}

// Streams yields every stream that r selects, a page at a time, like
// Channels.
func Streams(ctx context.Context, list ListFunc[*apiv1.ListStreamsRequest, *apiv1.ListStreamsResponse], r *apiv1.ListStreamsRequest) iter.Seq2[*apiv1.Stream, error] {
	return func(yield func(*apiv1.Stream, error) bool) {
		req := proto.CloneOf(r)
		for {
			resp, err := list(ctx, req)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, s := range resp.GetStreams() {
				if !yield(s, nil) {
					return
				}
			}
			next := resp.GetNextPageToken()
			if next == "" {
				return
			}
			if next == req.GetPageToken() {
				yield(nil, errNoProgress)
				return
			}
			req.PageToken = next
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
