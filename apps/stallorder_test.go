package apps_test

import (
	"fmt"
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
	"github.com/tinypay/tinypay/settlement/evm/evmtest"
)

// TestStalledEventBeforeResumed: the meter marks a stream stalled and
// queues the record with its "stalled" event; a tick arrives and resumes
// the stream before that write reaches the channel's owner. Bob's log must
// still read started, stalled, resumed (the tick's batch writes the
// stalled event first, and the queued write leaves it out), and then,
// after a second stall whose write goes ahead normally, stalled once more:
// each event once, in the order it happened.
func TestStalledEventBeforeResumed(t *testing.T) {
	chain := evmtest.NewChain(t)
	alice := nodetest.Start(t, chain, "alice", chain.Alice)
	bob := nodetest.StartWithApps(t, chain, "bob", chain.Bob, func(c *apps.Config) { c.StallAfter = 50 * time.Millisecond })
	id := alice.OpenUSD(bob, 1000)
	conn, _ := speakAsPayer(t, alice, bob, id, 0)
	info := bob.N().Info()
	dom := crypto.NewDomain(info.ChainID, info.Adjudicator)
	sid := [16]byte{7, 7}
	var nonce uint64
	send := func() {
		t.Helper()
		nonce++
		sig, _ := alice.Key.Sign(dom.BalanceProofDigest(id, nonce, u256(nonce)))
		if err := conn.Send(&peerv1.Message{Body: &peerv1.Message_Proof{Proof: &peerv1.BalanceProof{ChannelId: id[:], Nonce: nonce,
			Transferred: node.AmountBytes(u256(nonce)), Signature: sig[:],
			Parts: []*peerv1.PaymentPart{{PaymentId: []byte(fmt.Sprintf("%032d", nonce)), Amount: node.AmountBytes(u256(1)), StreamId: sid[:]}}}}}); err != nil {
			t.Fatal(err)
		}
		n := nonce
		nodetest.Eventually(t, "bob takes the proof", func() bool { return bob.Channel(id).ReceivedNonce == n })
	}
	status := func() string { s, _ := bob.Apps().Stream(sid); return s.Status }
	if err := conn.Send(streamStart(sid, id, 1, 1000, 1000, time.Now().Add(time.Hour), "")); err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, "bob hears of the stream", func() bool { _, err := bob.Apps().Stream(sid); return err == nil })
	send()

	// Hold the stream writes back until the tick has resumed the stream.
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	t.Cleanup(apps.SetBeforeStreamWrite(func() { <-release }))
	nodetest.Eventually(t, "the stream stalls", func() bool { return status() == "stalled" })
	send()
	if s := status(); s != "live" {
		t.Fatalf("after a tick the stream is %s, want live", s)
	}
	once.Do(func() { close(release) })
	want := []storev1.StreamEventKind{storev1.StreamEventKind_STREAM_EVENT_KIND_STARTED,
		storev1.StreamEventKind_STREAM_EVENT_KIND_STALLED, storev1.StreamEventKind_STREAM_EVENT_KIND_RESUMED}
	time.Sleep(200 * time.Millisecond) // the held write lands (it must add no event)
	checkEvents(t, bob, id, want)

	// A second stall, its write not held: one more event.
	nodetest.Eventually(t, "the stream stalls again", func() bool { return status() == "stalled" })
	want = append(want, storev1.StreamEventKind_STREAM_EVENT_KIND_STALLED)
	nodetest.Eventually(t, "the second stalled event is written", func() bool { return len(streamEvents(t, bob, id)) == len(want) })
	checkEvents(t, bob, id, want)
}

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
