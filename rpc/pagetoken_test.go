package rpc

import (
	"encoding/base64"
	"math"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tinypay/tinypay/apps"
	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node"
)

// TestPageSize: 0 is the default, above the maximum is the maximum, and a
// negative size is refused.
func TestPageSize(t *testing.T) {
	for _, tc := range []struct {
		in   int32
		want int
		code codes.Code
	}{
		{0, node.DefaultPageSize, codes.OK},            // the default
		{1, 1, codes.OK},                               // the smallest
		{node.MaxPageSize, node.MaxPageSize, codes.OK}, // the largest
		{node.MaxPageSize + 1, node.MaxPageSize, codes.OK},
		{math.MaxInt32, node.MaxPageSize, codes.OK},
		{-1, 0, codes.InvalidArgument},
		{math.MinInt32, 0, codes.InvalidArgument},
	} {
		got, err := pageSize(tc.in)
		if status.Code(err) != tc.code || got != tc.want {
			t.Errorf("page_size %d: %d, %v; want %d, %v", tc.in, got, err, tc.want, tc.code)
		}
	}
}

// TestPageTokens: a token gives back its place exactly, for either list
// and any time; anything else is refused with InvalidArgument.
func TestPageTokens(t *testing.T) {
	peer := crypto.Address{7}
	for _, c := range []node.ChannelCursor{{}, {Created: math.MinInt64, ID: [32]byte{1}}, {Created: math.MaxInt64, ID: [32]byte{31: 0xff}}, {Created: 1_800_000_000_123_456_789}} {
		tok := channelPageToken(peer, true, &c)
		got, err := channelCursor(tok, peer, true)
		if err != nil || *got != c {
			t.Fatalf("channel cursor %+v came back as %+v, %v", c, got, err)
		}
		if len(tok) > maxPageToken {
			t.Fatalf("a token of %d characters", len(tok))
		}
	}
	sc := apps.StreamCursor{Started: -5, ID: [16]byte{3}}
	if got, err := streamCursor(streamPageToken(false, &sc), false); err != nil || *got != sc {
		t.Fatalf("stream cursor %+v came back as %+v, %v", sc, got, err)
	}
	if channelPageToken(peer, false, nil) != "" || streamPageToken(false, nil) != "" {
		t.Fatal("no more pages must give an empty token")
	}
	if c, err := channelCursor("", peer, false); c != nil || err != nil {
		t.Fatal("an empty token is the first page")
	}

	good := channelPageToken(peer, false, &node.ChannelCursor{Created: 42, ID: [32]byte{9}})
	raw, _ := base64.RawURLEncoding.DecodeString(good)
	mutate := func(f func(b []byte) []byte) string {
		b := f(append([]byte(nil), raw...))
		return base64.RawURLEncoding.EncodeToString(b)
	}
	forged := func(list byte, filters []byte, idLen int) string {
		return encodePageToken(list, filters, 42, make([]byte, idLen))
	}
	for _, tc := range []struct {
		name, tok string
	}{
		{"padding", good + "=="},
		{"not base64", "%%%"},
		{"too short", base64.RawURLEncoding.EncodeToString(raw[:10])},
		{"a byte changed", mutate(func(b []byte) []byte { b[20] ^= 1; return b })},
		{"a byte more", mutate(func(b []byte) []byte { return append(b, 0) })},
		{"another version", mutate(func(b []byte) []byte { b[0] = 2; return b })},
		{"a stream token", streamPageToken(false, &sc)},
		{"an unknown list", forged('x', channelFilters(peer, false), 32)},
		{"a short id", forged(pageListChannels, channelFilters(peer, false), 16)},
		{"other filters", channelPageToken(crypto.Address{8}, false, &node.ChannelCursor{})},
		{"too long", string(make([]byte, maxPageToken+1))},
	} {
		if _, err := channelCursor(tc.tok, peer, false); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", tc.name, err)
		}
	}
}
