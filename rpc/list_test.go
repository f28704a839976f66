package rpc_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tinypay/tinypay/node/nodetest"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/apiutil"
)

// TestListPagesAPI drives ListChannels and ListStreams of a real node
// over its control API: pages of one go through every channel and stream
// in list order, the next token is empty on the last page, an oversized
// page size is taken as the maximum, and a negative size, a token that is
// not the node's, another list's, or one given for other filters are
// refused with InvalidArgument and words that say which.
func TestListPagesAPI(t *testing.T) {
	chain := nodetest.NewChain(t)
	alice, bob := nodetest.Start(t, chain, "alice", chain.Alice), nodetest.Start(t, chain, "bob", chain.Bob)
	for range 3 {
		alice.OpenUSD(bob, 1_000_000)
	}
	api := alice.API()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bobAddr := bob.Key.Address().Hex()

	whole, err := api.ListChannels(ctx, &apiv1.ListChannelsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(whole.GetChannels()) != 3 || whole.GetNextPageToken() != "" {
		t.Fatalf("one default page: %d channels, next %q", len(whole.GetChannels()), whole.GetNextPageToken())
	}
	var ids []string
	tokens := map[string]bool{}
	req := &apiv1.ListChannelsRequest{Peer: bobAddr, PageSize: 1}
	for page := 1; ; page++ {
		r, err := api.ListChannels(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.GetChannels()) != 1 {
			t.Fatalf("page %d of size 1 holds %d channels", page, len(r.GetChannels()))
		}
		ids = append(ids, r.GetChannels()[0].GetId())
		if r.GetNextPageToken() == "" {
			break
		}
		if tokens[r.GetNextPageToken()] {
			t.Fatalf("page %d: a token given before", page)
		}
		tokens[r.GetNextPageToken()] = true
		req.PageToken = r.GetNextPageToken()
	}
	for i, ch := range whole.GetChannels() {
		if i >= len(ids) || ids[i] != ch.GetId() {
			t.Fatalf("pages of one list %v; one page lists them in another order", ids)
		}
	}
	if r, err := api.ListChannels(ctx, &apiv1.ListChannelsRequest{PageSize: 1_000_000}); err != nil || len(r.GetChannels()) != 3 {
		t.Fatalf("an oversized page: %v, %d channels", err, len(r.GetChannels()))
	}

	// Two streams, listed a page at a time too.
	for range 2 {
		if _, err := api.StartStream(ctx, &apiv1.StartStreamRequest{Peer: bobAddr, Asset: "USD", Rate: "1000", TickMs: 1000}); err != nil {
			t.Fatal(err)
		}
	}
	var streams []string
	for st, err := range apiutil.Streams(ctx, api.ListStreams, &apiv1.ListStreamsRequest{PageSize: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams, st.GetId())
	}
	ws, err := api.ListStreams(ctx, &apiv1.ListStreamsRequest{})
	if err != nil || len(streams) != 2 || len(ws.GetStreams()) != 2 || ws.GetStreams()[0].GetId() != streams[0] || ws.GetStreams()[1].GetId() != streams[1] {
		t.Fatalf("streams in pages of one %v; in one page %v (%v)", streams, ws.GetStreams(), err)
	}
	first, err := api.ListStreams(ctx, &apiv1.ListStreamsRequest{PageSize: 1})
	if err != nil || first.GetNextPageToken() == "" {
		t.Fatalf("a first page of streams: %v, next %q", err, first.GetNextPageToken())
	}
	streamToken := first.GetNextPageToken()
	chanToken := func() string {
		r, err := api.ListChannels(ctx, &apiv1.ListChannelsRequest{Peer: bobAddr, PageSize: 1})
		if err != nil || r.GetNextPageToken() == "" {
			t.Fatalf("a first page of channels: %v", err)
		}
		return r.GetNextPageToken()
	}()
	flipped := []byte(chanToken)
	flipped[30] ^= 'A' ^ 'B'
	if flipped[30] == chanToken[30] {
		flipped[30] = 'A'
	}

	for _, tc := range []struct {
		name string
		call func() error
		want string
	}{
		{"negative channel page size", func() error {
			_, err := api.ListChannels(ctx, &apiv1.ListChannelsRequest{PageSize: -1})
			return err
		}, "page_size -1: must not be negative"},
		{"negative stream page size", func() error {
			_, err := api.ListStreams(ctx, &apiv1.ListStreamsRequest{PageSize: -5})
			return err
		}, "page_size -5: must not be negative"},
		{"not a token", func() error {
			_, err := api.ListChannels(ctx, &apiv1.ListChannelsRequest{PageToken: "next-please"})
			return err
		}, "page_token is not one this node gave out"},
		{"a changed character", func() error {
			_, err := api.ListChannels(ctx, &apiv1.ListChannelsRequest{Peer: bobAddr, PageToken: string(flipped)})
			return err
		}, "page_token is not one this node gave out"},
		{"a long token", func() error {
			_, err := api.ListChannels(ctx, &apiv1.ListChannelsRequest{PageToken: strings.Repeat("A", 10_000)})
			return err
		}, "page_token is not one this node gave out"},
		{"a stream token for channels", func() error {
			_, err := api.ListChannels(ctx, &apiv1.ListChannelsRequest{PageToken: streamToken})
			return err
		}, "page_token is a ListStreams token, not a ListChannels one"},
		{"a channel token for streams", func() error {
			_, err := api.ListStreams(ctx, &apiv1.ListStreamsRequest{PageToken: chanToken})
			return err
		}, "page_token is a ListChannels token, not a ListStreams one"},
		{"another peer's filter", func() error {
			_, err := api.ListChannels(ctx, &apiv1.ListChannelsRequest{PageToken: chanToken})
			return err
		}, "page_token was given for other filters"},
		{"all added", func() error {
			_, err := api.ListChannels(ctx, &apiv1.ListChannelsRequest{Peer: bobAddr, All: true, PageToken: chanToken})
			return err
		}, "page_token was given for other filters"},
		{"ended streams added", func() error {
			_, err := api.ListStreams(ctx, &apiv1.ListStreamsRequest{All: true, PageToken: streamToken})
			return err
		}, "page_token was given for other filters"},
	} {
		err := tc.call()
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), tc.want) {
			t.Errorf("%s: %v, want InvalidArgument with %q", tc.name, err, tc.want)
		}
	}
	// The token itself still works with its own filters.
	if r, err := api.ListChannels(ctx, &apiv1.ListChannelsRequest{Peer: bobAddr, PageSize: 1, PageToken: chanToken}); err != nil || len(r.GetChannels()) != 1 {
		t.Fatalf("the token with its filters: %v", err)
	}
}
