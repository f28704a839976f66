package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/rpc/sdk"
)

// TestEachPages: EachChannel and EachPayment page through the node's
// lists (in pages of one here) and yield what one big page holds, in the
// same order; breaking out of the loop stops them; a bad page size is
// refused before anything is asked.
func TestEachPages(t *testing.T) {
	ctx := testCtx(t)
	a := dial(t, sdk.Config{DataDir: aliceDir})
	whole, err := a.Channels(ctx, sdk.ChannelFilter{})
	if err != nil || len(whole) < 2 {
		t.Fatalf("alice's channels: %d, %v", len(whole), err)
	}
	var ids []string
	for ch, err := range a.EachChannel(ctx, sdk.ChannelFilter{PageSize: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ch.ID)
	}
	if len(ids) != len(whole) {
		t.Fatalf("in pages of one: %v; in one page %d channels", ids, len(whole))
	}
	for i := range whole {
		if ids[i] != whole[i].ID {
			t.Fatalf("in pages of one: %v; in one page %+v", ids, whole)
		}
	}
	n := 0
	for _, err := range a.EachChannel(ctx, sdk.ChannelFilter{PageSize: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		break
	}
	if n != 1 {
		t.Fatalf("%d channels after a break", n)
	}
	for _, err := range a.EachChannel(ctx, sdk.ChannelFilter{PageSize: -1}) {
		if !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Fatalf("a negative page size: %v", err)
		}
	}

	for i := range 3 {
		if _, err := a.Pay(ctx, sdk.PayRequest{Channel: aliceBob, AmountText: "0.000001 USD", Key: fmt.Sprint("each-", sdk.NewKey(), i)}); err != nil {
			t.Fatal(err)
		}
	}
	var seqs []uint64
	for p, err := range a.EachPayment(ctx, sdk.PaymentFilter{Limit: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		if len(seqs) > 0 && p.Seq <= seqs[len(seqs)-1] {
			t.Fatalf("payment seq %d after %d", p.Seq, seqs[len(seqs)-1])
		}
		seqs = append(seqs, p.Seq)
	}
	var big []uint64
	for p, err := range a.EachPayment(ctx, sdk.PaymentFilter{Limit: 1000}) {
		if err != nil {
			t.Fatal(err)
		}
		big = append(big, p.Seq)
	}
	if !slices.Equal(big, seqs) || len(seqs) < 3 {
		t.Fatalf("%d payments in pages of one, %d in pages of 1000", len(seqs), len(big))
	}
	for _, err := range a.EachPayment(ctx, sdk.PaymentFilter{Limit: 1001}) {
		if !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Fatalf("a limit over 1000: %v", err)
		}
	}
	if _, err := a.Streams(ctx, true); err != nil {
		t.Fatal(err)
	}
}

// TestEachStreamPages: EachStream pages through the node's streams (in
// pages of one here) and yields what one big page holds, in the same
// order; breaking out of the loop stops it; a bad page size is refused
// before anything is asked.
func TestEachStreamPages(t *testing.T) {
	ctx := testCtx(t)
	a := dial(t, sdk.Config{DataDir: aliceDir})
	for range 2 { // one tick each
		st, err := a.StartStream(ctx, sdk.StreamRequest{Channel: aliceBob, Rate: uint256.NewInt(1000), Tick: 100 * time.Millisecond, Budget: uint256.NewInt(100)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.StopStream(context.Background(), st.ID) })
	}
	whole, err := a.Streams(ctx, true)
	if err != nil || len(whole) < 2 {
		t.Fatalf("alice's streams: %d, %v", len(whole), err)
	}
	var ids []string
	for s, err := range a.EachStream(ctx, sdk.StreamFilter{All: true, PageSize: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	want := make([]string, len(whole))
	for i, s := range whole {
		want[i] = s.ID
	}
	if !slices.Equal(ids, want) {
		t.Fatalf("in pages of one: %v; in one page %v", ids, want)
	}
	n := 0
	for _, err := range a.EachStream(ctx, sdk.StreamFilter{All: true, PageSize: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		break
	}
	if n != 1 {
		t.Fatalf("%d streams after a break", n)
	}
	for _, err := range a.EachStream(ctx, sdk.StreamFilter{PageSize: -1}) {
		if !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Fatalf("a negative page size: %v", err)
		}
	}
}
