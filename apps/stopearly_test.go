package apps_test

import (
	"context"
	"testing"
	"time"

	"github.com/tinypay/tinypay/apps"
	"github.com/tinypay/tinypay/node/nodetest"
)

// TestStopBeforeFirstTickPaysNothing: a StopStream that reaches the node
// after StartStream sent the terms but before the paying goroutine ran
// waits in the stream's stop channel, next to a first tick due at once.
// The stop must win every time: nothing is paid on a stream its payer
// stopped before its first tick. (The goroutine's select picked either at
// random, so about one stream in two paid a tick after its stop.)
func TestStopBeforeFirstTickPaysNothing(t *testing.T) {
	alice, bob, id := pair(t, 100_000)
	restore := apps.SetBeforeRunStream(func(sid [16]byte) {
		if _, err := alice.Apps().StopStream(sid, apps.TokenID{}); err != nil {
			t.Errorf("StopStream: %v", err)
		}
	})
	defer restore()
	const streams = 8 // each paid a tick with a chance of one in two before the fix
	for range streams {
		st, err := alice.Apps().StartStream(context.Background(), apps.StreamRequest{Channel: id, Rate: *u256(10), Tick: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		nodetest.Eventually(t, "the stream ends", func() bool { s, _ := alice.Apps().Stream(st.ID); return s.EndReason != "" })
		s, _ := alice.Apps().Stream(st.ID)
		if s.EndReason != apps.EndByPayer || s.Ticks != 0 || !s.Paid.IsZero() {
			t.Fatalf("a stream stopped before its first tick ended %q after %d ticks, paid %s", s.EndReason, s.Ticks, s.Paid.Dec())
		}
	}
	time.Sleep(200 * time.Millisecond) // a tick in flight would land by now
	if got := received(t, bob, id); got != 0 {
		t.Fatalf("bob received %d on streams stopped before their first tick", got)
	}
	if ci, _ := alice.N().Channel(id); ci.SentNonce != 0 {
		t.Fatalf("alice signed %d proofs on streams stopped before their first tick", ci.SentNonce)
	}
}
