package apps

import (
	"testing"
	"time"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/node"
	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
	"github.com/tinypay/tinypay/store"
)

// TestReview8StallBetweenLogPendingAndMeter replays, step by step, the
// interleaving Incoming allows: it takes streams.mu for logPending, lets it
// go, and takes it again in meterIncoming. A stall the meter marks in that
// gap is queued (pending) while the tick logs "resumed" in the proof's
// batch: the queued "stalled" reaches the log after the "resumed" of the
// tick that ended it, and the stream, live, reads stalled in the log.
func TestReview8StallBetweenLogPendingAndMeter(t *testing.T) {
	a := meterApps()
	a.clock = systemClock{}
	a.streams.writing = true // no writer goroutine: the test looks at what is queued
	ch := channel.ID{1}
	st := &stream{StreamInfo: StreamInfo{ID: [16]byte{7}, Channel: ch, Tick: time.Second, Started: time.Now()}, recorded: true, seen: time.Now()}
	a.streams.add(st)
	a.streams.count(st)
	b := store.NewBatch()

	// Incoming, first half: the channel's pending events (none yet).
	a.streams.mu.Lock()
	if err := a.logPending(b, ch); err != nil {
		t.Fatal(err)
	}
	a.streams.mu.Unlock()
	// The meter's pass, in the gap (as meterLoop does).
	a.streams.mu.Lock()
	st.stalled = true
	a.streams.count(st)
	a.persistStream(st, storev1.StreamEventKind_STREAM_EVENT_KIND_STALLED, "no payment")
	a.streams.mu.Unlock()
	// Incoming, second half: the tick.
	if _, err := a.meterIncoming(b, node.ChannelInfo{ID: ch}, &node.Part{Stream: st.ID}, time.Now()); err != nil {
		t.Fatal(err)
	}
	a.streams.mu.Lock()
	defer a.streams.mu.Unlock()
	if n := len(a.streams.pending[ch]); n != 0 {
		t.Fatalf("the tick's batch logs \"resumed\" while the \"stalled\" it ended is still queued (%d pending): it will be logged after it", n)
	}
}

// TestLogPendingWritesTheRecordWithTheEvent: the events a payment writes
// ahead of their queued writes go to disk with their streams' records (a
// crash before the queued write lands must not leave a "stalled" in the
// log and a record that says live: a restart would log the stall again).
func TestLogPendingWritesTheRecordWithTheEvent(t *testing.T) {
	s, err := store.Open(store.DefaultConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	a := meterApps()
	a.clock = systemClock{}
	a.store = s
	a.streams.writing = true // no writer goroutine: the queued write never lands (the crash)
	ch := channel.ID{2}
	st := &stream{StreamInfo: StreamInfo{ID: [16]byte{8}, Channel: ch, Tick: time.Second, Started: time.Now(), Ticks: 3}, recorded: true, seen: time.Now()}
	a.streams.mu.Lock()
	a.streams.add(st)
	st.stalled = true
	a.streams.count(st)
	a.persistStream(st, storev1.StreamEventKind_STREAM_EVENT_KIND_STALLED, "no payment")
	b := store.NewBatch()
	err = a.logPending(b, ch)
	a.streams.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	recs, err := s.Streams()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || !recs[0].GetStalled() || recs[0].GetTicks() != 3 {
		t.Fatalf("records on disk %v: want the stream's, stalled, with its 3 ticks", recs)
	}
	es, err := s.Log(0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].GetStreamEvent().GetKind() != storev1.StreamEventKind_STREAM_EVENT_KIND_STALLED {
		t.Fatalf("log %v: want the one stalled event", es)
	}
}
