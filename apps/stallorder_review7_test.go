package apps_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinypay/tinypay/apps"
	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node"
	"github.com/tinypay/tinypay/node/nodetest"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
	"github.com/tinypay/tinypay/rpc"
	"github.com/tinypay/tinypay/settlement/evm/evmtest"
)

// review7 drives bob as alice over a raw peer connection; send pays one
// proof with one part of 1 for each stream named.
type review7 struct {
	t     *testing.T
	bob   *nodetest.Node
	id    channel.ID
	conn  *rpc.PeerConn
	dom   crypto.Domain
	alice *nodetest.Node
	nonce uint64
	total uint64
}

func newReview7(t *testing.T) *review7 {
	chain := evmtest.NewChain(t)
	alice := nodetest.Start(t, chain, "alice", chain.Alice)
	bob := nodetest.StartWithApps(t, chain, "bob", chain.Bob, func(c *apps.Config) { c.StallAfter = 50 * time.Millisecond })
	id := alice.OpenUSD(bob, 1000)
	conn, _ := speakAsPayer(t, alice, bob, id, 0)
	info := bob.N().Info()
	return &review7{t: t, bob: bob, id: id, conn: conn, dom: crypto.NewDomain(info.ChainID, info.Adjudicator), alice: alice}
}

func (r *review7) start(sid [16]byte) {
	r.t.Helper()
	if err := r.conn.Send(streamStart(sid, r.id, 1, 1000, 1000, time.Now().Add(time.Hour), "")); err != nil {
		r.t.Fatal(err)
	}
	nodetest.Eventually(r.t, "bob hears of the stream", func() bool { _, err := r.bob.Apps().Stream(sid); return err == nil })
}

func (r *review7) send(sids ...[16]byte) {
	r.t.Helper()
	r.nonce++
	var parts []*peerv1.PaymentPart
	for i, sid := range sids {
		r.total++
		parts = append(parts, &peerv1.PaymentPart{PaymentId: []byte(fmt.Sprintf("%030d%02d", r.nonce, i)), Amount: node.AmountBytes(u256(1)), StreamId: sid[:]})
	}
	sig, _ := r.alice.Key.Sign(r.dom.BalanceProofDigest(r.id, r.nonce, u256(r.total)))
	if err := r.conn.Send(&peerv1.Message{Body: &peerv1.Message_Proof{Proof: &peerv1.BalanceProof{ChannelId: r.id[:], Nonce: r.nonce,
		Transferred: node.AmountBytes(u256(r.total)), Signature: sig[:], Parts: parts}}}); err != nil {
		r.t.Fatal(err)
	}
	n := r.nonce
	nodetest.Eventually(r.t, "bob takes the proof", func() bool { return r.bob.Channel(r.id).ReceivedNonce == n })
}

func (r *review7) status(sid [16]byte) string { s, _ := r.bob.Apps().Stream(sid); return s.Status }

// hold holds the queued stream writes back until the returned func runs.
func (r *review7) hold() (release func()) {
	ch := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(ch) }) }
	r.t.Cleanup(release)
	r.t.Cleanup(apps.SetBeforeStreamWrite(func() { <-ch }))
	return release
}

type review7Entry struct {
	what string // "pay <nonce> <stream>" or "<KIND> <stream>"
	time int64
}

// entries is bob's log for the channel: its stream ticks and stream events.
func (r *review7) entries() []review7Entry {
	r.t.Helper()
	var out []review7Entry
	for after := uint64(0); ; {
		es, err := r.bob.Store().Log(after, 1000)
		if err != nil {
			r.t.Fatal(err)
		}
		if len(es) == 0 {
			return out
		}
		for _, e := range es {
			after = e.GetSeq()
			if se := e.GetStreamEvent(); se != nil && channel.ID(se.GetChannelId()) == r.id {
				k := strings.TrimPrefix(se.GetKind().String(), "STREAM_EVENT_KIND_")
				out = append(out, review7Entry{fmt.Sprintf("%s %x", k, se.GetStreamId()[:1]), e.GetTimeUnixNano()})
			}
			if p := e.GetPayment(); p != nil && channel.ID(p.GetChannelId()) == r.id && len(p.GetStreamId()) == 16 &&
				p.GetDirection() == storev1.Direction_DIRECTION_INCOMING {
				out = append(out, review7Entry{fmt.Sprintf("pay%d %x", p.GetNonce(), p.GetStreamId()[:1]), e.GetTimeUnixNano()})
			}
		}
	}
}

func review7Index(es []review7Entry, what string) int {
	for i, e := range es {
		if e.what == what {
			return i
		}
	}
	return -1
}

func review7Whats(es []review7Entry) []string {
	var s []string
	for _, e := range es {
		s = append(s, e.what)
	}
	return s
}

// TestStalledEventAfterResumingTickReview7: when the "stalled" write is
// still queued as the resuming tick arrives, the tick's batch writes the
// event, but after the tick's own payment entries (onProof appends them
// before calling Incoming) and stamped with the tick's time. Bob's log then
// reads: tick 1, started, tick 2, stalled, resumed, i.e. the stream
// stalled after the payment that in fact ended the stall. Without the hold
// (the write lands at once) the log reads tick 1, started, stalled, tick 2,
// resumed.
func TestStalledEventAfterResumingTickReview7(t *testing.T) {
	r := newReview7(t)
	sid := [16]byte{0xa1}
	r.start(sid)
	r.send(sid)
	release := r.hold()
	nodetest.Eventually(t, "the stream stalls", func() bool { return r.status(sid) == "stalled" })
	time.Sleep(300 * time.Millisecond) // the stall is well before the tick
	r.send(sid)
	release()
	time.Sleep(300 * time.Millisecond)
	es := r.entries()
	st, pay := review7Index(es, "STALLED a1"), review7Index(es, "pay2 a1")
	if st < 0 || pay < 0 {
		t.Fatalf("log %v: no stalled event or no second tick", review7Whats(es))
	}
	if st > pay {
		t.Errorf("log %v: the stalled event comes after the tick that resumed the stream", review7Whats(es))
	}
	if es[st].time >= es[pay].time {
		t.Errorf("the stalled event is stamped %v, not before the resuming tick (%v)", time.Unix(0, es[st].time), time.Unix(0, es[pay].time))
	}
}

// TestEndedWhileStalledThenTickReview7: a stream stalls (its write queued),
// then bob stops it (the "ended" write queued behind), then the payer's
// in-flight tick arrives. The tick's batch pulls only the "stalled" event
// ahead and writes "resumed" after it; the "ended" event comes later from
// the queue. Log: started, stalled, resumed, ended, though the stream had
// ended before that tick arrived (unheld the log says stalled, ended,
// resumed).
func TestEndedWhileStalledThenTickReview7(t *testing.T) {
	r := newReview7(t)
	sid := [16]byte{0xb2}
	r.start(sid)
	r.send(sid)
	release := r.hold()
	nodetest.Eventually(t, "the stream stalls", func() bool { return r.status(sid) == "stalled" })
	if _, err := r.bob.Apps().StopStream(sid, apps.TokenID{}); err != nil {
		t.Fatal(err)
	}
	if s := r.status(sid); s != "ended" {
		t.Fatalf("after StopStream the stream is %s", s)
	}
	r.send(sid) // the payer's tick in flight
	release()
	time.Sleep(300 * time.Millisecond)
	es := r.entries()
	ended, resumed := review7Index(es, "ENDED b2"), review7Index(es, "RESUMED b2")
	if ended < 0 {
		t.Fatalf("log %v: no ended event", review7Whats(es))
	}
	if resumed >= 0 && resumed < ended {
		t.Errorf("log %v: the stream resumed before it ended, but it ended first", review7Whats(es))
	}
}

// TestStallsOfTwoStreamsOrderReview7: streams A and B of one channel
// stall, A first (both writes queued, A's ahead). A tick of B resumes B:
// its batch writes B's "stalled" and "resumed" at once, and A's "stalled"
// lands after them. Log: B stalled, B resumed, A stalled, though A stalled
// first and before B resumed.
func TestStallsOfTwoStreamsOrderReview7(t *testing.T) {
	r := newReview7(t)
	a, b := [16]byte{0xaa}, [16]byte{0xbb}
	r.start(a)
	r.start(b)
	r.send(a, b)
	release := r.hold()
	time.Sleep(600 * time.Millisecond)
	r.send(b) // B's last tick is later: it stalls later
	nodetest.Eventually(t, "A stalls", func() bool { return r.status(a) == "stalled" })
	if r.status(b) == "stalled" {
		t.Fatal("B stalled with A")
	}
	nodetest.Eventually(t, "B stalls", func() bool { return r.status(b) == "stalled" })
	r.send(b)
	release()
	time.Sleep(300 * time.Millisecond)
	es := r.entries()
	sa, rb := review7Index(es, "STALLED aa"), review7Index(es, "RESUMED bb")
	if sa < 0 || rb < 0 {
		t.Fatalf("log %v: an event is missing", review7Whats(es))
	}
	if sa > rb {
		t.Errorf("log %v: A's stalled event comes after B resumed, though A stalled first", review7Whats(es))
	}
}

// TestStallLoggedOnceAcrossRestartReview7: a stream stalls and its
// "stalled" event is written. The record does not say it is stalled
// (storev1.Stream has no such field; streamFromRecord loads it live), so
// after bob restarts the meter finds it overdue at once and logs
// "stalled" a second time for the same stall, with no "resumed" between.
// (Not introduced by 4172b33, but against its "each once".)
func TestStallLoggedOnceAcrossRestartReview7(t *testing.T) {
	r := newReview7(t)
	sid := [16]byte{0xc3}
	r.start(sid)
	r.send(sid)
	nodetest.Eventually(t, "the stream stalls", func() bool { return r.status(sid) == "stalled" })
	nodetest.Eventually(t, "the stalled event is written", func() bool { return review7Index(r.entries(), "STALLED c3") >= 0 })
	r.conn.Close(nil)
	r.bob.Restart()
	time.Sleep(time.Second) // the meter runs after the load
	var n int
	es := r.entries()
	for _, e := range es {
		if e.what == "STALLED c3" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("log %v: %d stalled events for one stall", review7Whats(es), n)
	}
}

// TestStalledStreamPastEndTimeEndsReview7: a stream whose payer went away
// stalls; its end time then passes. The meter never looks at a stalled
// stream again (meterDue: "stalled already"), so it stays "stalled" for
// good instead of ending ("end time"), and no "ended" event is written.
// (Not introduced by 4172b33.)
func TestStalledStreamPastEndTimeEndsReview7(t *testing.T) {
	r := newReview7(t)
	sid := [16]byte{0xd4}
	end := time.Now().Add(4 * time.Second).Truncate(time.Second)
	if err := r.conn.Send(streamStart(sid, r.id, 1, 1000, 1000, end, "")); err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, "bob hears of the stream", func() bool { _, err := r.bob.Apps().Stream(sid); return err == nil })
	r.send(sid)
	nodetest.Eventually(t, "the stream stalls", func() bool { return r.status(sid) == "stalled" })
	time.Sleep(time.Until(end) + 2*time.Second)
	s, _ := r.bob.Apps().Stream(sid)
	if s.Status != "ended" {
		t.Errorf("%s after its end time (%s ago): status %s, end reason %q; want ended (%s)", "stream", time.Since(end).Round(time.Second), s.Status, s.EndReason, apps.EndTime)
	}
}
