package sdk_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/node/nodetest"
	"github.com/tinypay/tinypay/rpc/sdk"
)

// Alice streams to bob; bob watches his meter go live, alice stops it, and
// bob's watch ends with the reason.
func TestStreamStartWatchStop(t *testing.T) {
	ctx := testCtx(t)
	a, b := dial(t, sdk.Config{DataDir: aliceDir}), dial(t, sdk.Config{DataDir: bobDir, PollInterval: 50 * time.Millisecond})
	st, err := a.StartStream(ctx, sdk.StreamRequest{Channel: aliceBob, Rate: uint256.NewInt(1000), Tick: 100 * time.Millisecond, ItemID: "radio"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.StopStream(context.Background(), st.ID) }) // if the test fails half-way
	// Bob learns of the stream with its first payment.
	nodetest.Eventually(t, "bob knows the stream", func() bool {
		_, err := b.Stream(ctx, st.ID)
		return err == nil
	})
	if !st.Outgoing || st.Status != sdk.StreamLive || st.Rate.Uint64() != 1000 || st.Tick != 100*time.Millisecond || st.Channel != aliceBob ||
		st.ItemID != "radio" || st.Asset.Symbol != "USD" || st.Peer != bobAddr {
		t.Fatalf("started %+v", st)
	}
	var seen []sdk.StreamStatus
	var last *sdk.Stream
	stopped := false
	err = b.WatchStream(ctx, st.ID, func(s *sdk.Stream) error {
		if len(seen) == 0 || seen[len(seen)-1] != s.Status {
			seen = append(seen, s.Status)
		}
		last = s
		if s.Status == sdk.StreamLive && s.Ticks >= 3 && !stopped {
			stopped = true
			if _, err := a.StopStream(ctx, st.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) < 2 || seen[0] != sdk.StreamLive || seen[len(seen)-1] != sdk.StreamEnded {
		t.Fatalf("bob saw %v", seen)
	}
	if last.Outgoing || last.EndReason != "stopped by payer" || last.Ticks < 3 || last.Paid.Uint64() < 300 || last.ItemID != "radio" {
		t.Fatalf("bob's stream at the end %+v", last)
	}
	// The payer's view agrees on what was paid.
	mine, err := a.Stream(ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	if mine.Status != sdk.StreamEnded || !mine.Paid.Eq(last.Paid) {
		t.Fatalf("alice's stream %+v, bob's paid %v", mine, last.Paid)
	}
	// Revenue per item counts the stream.
	rows, err := b.Revenue(ctx, sdk.RevenueQuery{GroupBy: sdk.GroupByItem})
	if err != nil {
		t.Fatal(err)
	}
	var radio *sdk.RevenueRow
	for i := range rows {
		if rows[i].Key == "radio" {
			radio = &rows[i]
		}
	}
	if radio == nil || radio.Amount.Lt(last.Paid) || radio.Asset.Symbol != "USD" || radio.Payments < last.Ticks {
		t.Fatalf("revenue by item %+v", rows)
	}
}

// A stream with a budget ends by itself; WatchStream on the payer's side
// returns when it has.
func TestStreamBudget(t *testing.T) {
	ctx := testCtx(t)
	a := dial(t, sdk.Config{DataDir: aliceDir, PollInterval: 50 * time.Millisecond})
	st, err := a.StartStream(ctx, sdk.StreamRequest{Peer: bobAddr, Asset: "USD", Rate: uint256.NewInt(1000), Tick: 100 * time.Millisecond, Budget: uint256.NewInt(300)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.StopStream(context.Background(), st.ID) })
	var end *sdk.Stream
	if err := a.WatchStream(ctx, st.ID, func(s *sdk.Stream) error { end = s; return nil }); err != nil {
		t.Fatal(err)
	}
	if end.Status != sdk.StreamEnded || end.EndReason != "budget" || end.Paid.Uint64() != 300 {
		t.Fatalf("stream at the end %+v", end)
	}
}

func TestStreamErrors(t *testing.T) {
	a := dial(t, sdk.Config{DataDir: aliceDir})
	for _, tc := range []struct {
		name string
		req  sdk.StreamRequest
		want error
	}{
		// No rate.
		{"no rate", sdk.StreamRequest{Channel: aliceBob}, sdk.ErrInvalidArgument},
		// Ticks are whole milliseconds.
		{"fractional tick", sdk.StreamRequest{Channel: aliceBob, Rate: uint256.NewInt(1), Tick: 1500 * time.Microsecond}, sdk.ErrInvalidArgument},
		// Durations are whole seconds.
		{"fractional duration", sdk.StreamRequest{Channel: aliceBob, Rate: uint256.NewInt(1), Duration: 1500 * time.Millisecond}, sdk.ErrInvalidArgument},
		// Nowhere to pay.
		{"no target", sdk.StreamRequest{Rate: uint256.NewInt(1)}, sdk.ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := a.StartStream(testCtx(t), tc.req); !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := a.Stream(testCtx(t), "0x"+"00112233445566778899aabbccddeeff"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("unknown stream: %v", err)
	}
	if err := a.WatchStream(testCtx(t), "0x"+"00112233445566778899aabbccddeeff", func(*sdk.Stream) error { return nil }); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("watching an unknown stream: %v", err)
	}
}
