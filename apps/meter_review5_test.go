package apps

import (
	"math"
	"testing"
	"time"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/node"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
)

// TestMeterHostileStartTimeReview5: a payer's StreamStart names the time
// its stream started (started_unix_nano, unchecked). One near the end of
// int64 nanoseconds (year 2262) puts the stream's meter time past what
// UnixNano can hold: meterAt wraps negative, so every pass of the meter
// pops it, finds it not due (time.Time compares right), pushes it back at
// the same wrapped meterAt and pops it again: overdue never returns, and
// meterLoop holds streams.mu for ever (every incoming tick, on every
// channel, then blocks on it). The walk before the queue compared
// durations (now.Sub saturates) and was not affected.
func TestMeterHostileStartTimeReview5(t *testing.T) {
	a := meterApps()
	a.cfg = DefaultConfig()
	a.clock = systemClock{}
	ch := node.ChannelInfo{ID: channel.ID{3}}
	id := [16]byte{4}
	if _, err := a.onStreamStart(ch.Peer, ch, &peerv1.StreamStart{StreamId: id[:], ChannelId: ch.ID[:], Rate: []byte{1},
		TickMs: 1000, StartedUnixNano: math.MaxInt64}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	a.streams.mu.Lock()
	st := a.streams.byID[id]
	at := st.meterAt
	a.streams.mu.Unlock()
	a.streams.mu.Lock()
	n := a.streams.meterTime(now)
	a.streams.mu.Unlock()
	if at < n {
		t.Errorf("a stream started (it says) in 2262 is queued for the meter at %d ns, before now (%d): its meter time wrapped", at, n)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.streams.mu.Lock()
		defer a.streams.mu.Unlock()
		a.streams.overdue(now, func(*stream, bool) {})
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		// The goroutine spins until the test binary exits.
		t.Fatal("a pass of the meter did not return in 3 s: it loops on the stream whose meter time wrapped (meterLoop would hold streams.mu for ever)")
	}
}
