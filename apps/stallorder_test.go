package apps_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/node/nodetest"
	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
)

// TestStalledEventBeforeResumed: the meter marks a stream stalled and
// queues the record with its "stalled" event; a tick arrives and resumes
// the stream before that write reaches the channel's owner. Bob's log must
// still read started, stalled, resumed (the tick's batch writes the
// stalled event first, and the queued write leaves it out), and then,
// after a second stall whose write goes ahead normally, stalled once more:
// each event once, in the order it happened.
func TestStalledEventBeforeResumed(t *testing.T) {
	r := newReview7(t)
	sid := [16]byte{7, 7}
	r.start(sid)
	r.send(sid)

	// Hold the stream writes back until the tick has resumed the stream.
	release := r.hold()
	nodetest.Eventually(t, "the stream stalls", func() bool { return r.status(sid) == "stalled" })
	r.send(sid)
	if s := r.status(sid); s != "live" {
		t.Fatalf("after a tick the stream is %s, want live", s)
	}
	release()
	want := []storev1.StreamEventKind{storev1.StreamEventKind_STREAM_EVENT_KIND_STARTED,
		storev1.StreamEventKind_STREAM_EVENT_KIND_STALLED, storev1.StreamEventKind_STREAM_EVENT_KIND_RESUMED}
	time.Sleep(200 * time.Millisecond) // the held write lands (it must add no event)
	checkEvents(t, r.bob, r.id, want)

	// A second stall, its write not held: one more event.
	nodetest.Eventually(t, "the stream stalls again", func() bool { return r.status(sid) == "stalled" })
	want = append(want, storev1.StreamEventKind_STREAM_EVENT_KIND_STALLED)
	nodetest.Eventually(t, "the second stalled event is written", func() bool { return len(streamEvents(t, r.bob, r.id)) == len(want) })
	checkEvents(t, r.bob, r.id, want)
}

// streamEvents is n's log of the stream events of channel id, in order.
func streamEvents(t *testing.T, n *nodetest.Node, id channel.ID) []storev1.StreamEventKind {
	t.Helper()
	var out []storev1.StreamEventKind
	for after := uint64(0); ; {
		es, err := n.Store().Log(after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 0 {
			return out
		}
		for _, e := range es {
			if se := e.GetStreamEvent(); se != nil && channel.ID(se.GetChannelId()) == id {
				out = append(out, se.GetKind())
			}
			after = e.GetSeq()
		}
	}
}

func checkEvents(t *testing.T, n *nodetest.Node, id channel.ID, want []storev1.StreamEventKind) {
	t.Helper()
	got := streamEvents(t, n, id)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("stream events %v, want %v", got, want)
	}
}
