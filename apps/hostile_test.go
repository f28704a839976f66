package apps_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tinypay/tinypay/apps"
	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/node"
	"github.com/tinypay/tinypay/node/nodetest"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
	"github.com/tinypay/tinypay/rpc"
	"github.com/tinypay/tinypay/settlement/evm/evmtest"
)

// Hostile peers against the application layer: a client that holds a
// funded channel with Bob and speaks the peer protocol over the real
// transport with its own key, without the checks its node would make.

// hostile is Mallory's node stopped and replaced by a client that speaks
// for her: it sends what it likes and collects the Error messages Bob
// answers with (everything else Bob sends is dropped).
type hostile struct {
	t      *testing.T
	conn   *rpc.PeerConn
	errors chan *peerv1.Error
}

// speakFor stops n and dials bob with n's key through the handshake.
func speakFor(t *testing.T, n, bob *nodetest.Node) *hostile {
	t.Helper()
	n.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := rpc.DialPeer(ctx, n.PeerConfig(), bob.Addr, bob.Key.Address())
	if err != nil {
		t.Fatal(err)
	}
	h := &hostile{t: t, conn: conn, errors: make(chan *peerv1.Error, 1<<14)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := conn.Recv()
			if err != nil {
				return
			}
			if e := m.GetError(); e != nil {
				select {
				case h.errors <- e:
				default: // the test reads what it needs
				}
			}
		}
	}()
	t.Cleanup(func() {
		conn.Close(nil)
		<-done
	})
	return h
}

func (h *hostile) send(m *peerv1.Message) {
	h.t.Helper()
	if err := h.conn.Send(m); err != nil {
		h.t.Fatal(err)
	}
}

// refused waits for an Error from Bob whose text contains want.
func (h *hostile) refused(what, want string) *peerv1.Error {
	h.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e := <-h.errors:
			if strings.Contains(e.GetMessage(), want) {
				return e
			}
		case <-deadline:
			h.t.Fatalf("%s: no Error from bob saying %q", what, want)
			return nil
		}
	}
}

func streamStart(id [16]byte, ch channel.ID, rate uint64, tickMs uint32, budget uint64, end time.Time, item string) *peerv1.Message {
	return &peerv1.Message{Body: &peerv1.Message_StreamStart{StreamStart: &peerv1.StreamStart{
		StreamId: id[:], ChannelId: ch[:], Rate: node.AmountBytes(u256(rate)), TickMs: tickMs, Budget: node.AmountBytes(u256(budget)),
		EndUnix: uint64(end.Unix()), ItemId: item, StartedUnixNano: time.Now().UnixNano(),
	}}}
}

func streamEnd(id [16]byte, ch channel.ID, reason string) *peerv1.Message {
	return &peerv1.Message{Body: &peerv1.Message_StreamEnd{StreamEnd: &peerv1.StreamEnd{StreamId: id[:], ChannelId: ch[:], Reason: reason}}}
}

// sameTerms reports whether two views of a stream agree on everything a
// StreamStart or StreamEnd could change.
func sameTerms(a, b apps.StreamInfo) bool {
	return a.ID == b.ID && a.Channel == b.Channel && a.Peer == b.Peer && a.Rate.Eq(&b.Rate) && a.Tick == b.Tick &&
		a.Budget.Eq(&b.Budget) && a.End.Equal(b.End) && a.ItemID == b.ItemID && a.EndReason == b.EndReason && a.Started.Equal(b.Started)
}

// TestStreamHijack: Carol streams to Bob; Mallory, who has a funded
// channel with Bob too, tries to take Carol's stream over: she pays a tick
// naming it, restarts it on her own channel with other terms (and on
// Carol's channel, which is not hers), and ends it. Bob refuses each
// message with an Error, Carol's stream at Bob keeps its terms and goes on
// receiving, and Bob's meter counts only what Carol paid.
//
// The ownership checks this exercises predate this test (onStreamStart,
// onStreamEnd and meterIncoming compare the stream's channel with the
// sender's): with them removed, it fails on the terms Mallory sent.
func TestStreamHijack(t *testing.T) {
	chain := evmtest.NewChain(t)
	bob := nodetest.Start(t, chain, "bob", chain.Bob)
	carol := nodetest.Start(t, chain, "carol", chain.Carol)
	mallory := nodetest.Start(t, chain, "mallory", chain.Mallory)
	fromCarol := carol.OpenUSD(bob, 100_000)
	fromMallory := mallory.OpenUSD(bob, 100_000)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	s, err := carol.Apps().StartStream(ctx, apps.StreamRequest{Channel: fromCarol, Rate: *u256(100), Tick: 100 * time.Millisecond, ItemID: "radio"})
	if err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, "bob meters carol's stream", func() bool {
		got, err := bob.Apps().Stream(s.ID)
		return err == nil && got.Ticks >= 2 && got.Rate.Uint64() == 100
	})
	before, _ := bob.Apps().Stream(s.ID)

	// Mallory pays a tick that names Carol's stream, from her node: the
	// payment is hers, the meter is not.
	if _, err := mallory.N().Pay(ctx, node.PayRequest{Channel: fromMallory, Amount: *u256(5000), Key: "hijack", Stream: s.ID}); err != nil {
		t.Fatal(err)
	}

	h := speakFor(t, mallory, bob)
	h.send(streamStart(s.ID, fromMallory, 1, 3_600_000, 1, time.Now().Add(time.Second), "hijacked"))
	h.refused("a StreamStart of carol's stream on mallory's channel", "not this channel's")
	h.send(streamStart(s.ID, fromCarol, 1, 3_600_000, 1, time.Now().Add(time.Second), "hijacked"))
	h.refused("a StreamStart on carol's channel", "is not yours")
	h.send(streamEnd(s.ID, fromMallory, "hijacked"))
	h.refused("a StreamEnd of carol's stream on mallory's channel", "on this channel")
	h.send(streamEnd(s.ID, fromCarol, "hijacked"))
	h.refused("a StreamEnd on carol's channel", "is not yours")

	after, err := bob.Apps().Stream(s.ID)
	if err != nil || !sameTerms(before, after) || after.Status == "ended" {
		t.Fatalf("carol's stream at bob after mallory's messages:\n%+v\nbefore:\n%+v", after, before)
	}
	nodetest.Eventually(t, "carol's stream goes on", func() bool {
		got, _ := bob.Apps().Stream(s.ID)
		return got.Ticks >= after.Ticks+3 && got.Status == "live"
	})
	if _, err := carol.Apps().StopStream(s.ID, apps.TokenID{}); err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, "both sides agree on what carol paid", func() bool {
		c, _ := carol.Apps().Stream(s.ID)
		b, _ := bob.Apps().Stream(s.ID)
		return b.EndReason == apps.EndByPayer && c.Paid.Eq(&b.Paid) && c.Ticks == b.Ticks
	})
	final, _ := bob.Apps().Stream(s.ID)
	sent := carol.Channel(fromCarol).Sent
	if got := final.Paid.Uint64(); got != sent.Uint64() {
		t.Fatalf("bob's meter of carol's stream says %d, carol sent %d in her channel", got, sent.Uint64())
	}
}

// stored counts what Bob's store holds about channel id's streams: stream
// records, and stream events in the log; details are the texts of the
// "started" events.
func stored(t *testing.T, bob *nodetest.Node, id channel.ID) (records, events int, details []string) {
	t.Helper()
	recs, err := bob.Store().Streams()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if channel.ID(r.GetChannelId()) == id {
			records++
		}
	}
	for after := uint64(0); ; {
		es, err := bob.Store().Log(after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 0 {
			return records, events, details
		}
		for _, e := range es {
			if se := e.GetStreamEvent(); se != nil && channel.ID(se.GetChannelId()) == id {
				events++
				if se.GetKind() == storev1.StreamEventKind_STREAM_EVENT_KIND_STARTED {
					details = append(details, se.GetDetail())
				}
			}
			after = e.GetSeq()
		}
	}
}

// TestUnpaidStreamsStoreNothing: a StreamStart costs its sender nothing,
// so Bob keeps a stream he has not been paid for in memory only. Mallory
// starts and ends streams she never pays: Bob shows them (as ended) and
// writes neither a record nor an event for any. A stream Mallory pays is
// stored from its first tick with its terms and its "started" event, as
// before. Before this, each unpaid StreamStart wrote a record and an
// event, and each StreamEnd another event.
func TestUnpaidStreamsStoreNothing(t *testing.T) {
	chain := evmtest.NewChain(t)
	bob := nodetest.Start(t, chain, "bob", chain.Bob)
	mallory := nodetest.Start(t, chain, "mallory", chain.Mallory)
	fromMallory := mallory.OpenUSD(bob, 100_000)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	paid, err := mallory.Apps().StartStream(ctx, apps.StreamRequest{Channel: fromMallory, Rate: *u256(100), Tick: 100 * time.Millisecond, Budget: *u256(30)})
	if err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, "bob meters the paid stream to its end", func() bool {
		s, err := bob.Apps().Stream(paid.ID)
		return err == nil && s.Paid.Uint64() == 30 && s.EndReason == apps.EndBudget && s.Rate.Uint64() == 100
	})
	nodetest.Eventually(t, "bob stores the paid stream", func() bool {
		r, err := bob.Store().Stream(paid.ID)
		return err == nil && r.GetEnded() && string(r.GetRate()) == string(node.AmountBytes(u256(100)))
	})
	records, events, details := stored(t, bob, fromMallory)
	if records != 1 || len(details) != 1 || !strings.Contains(details[0], "receiving 100 per second") {
		t.Fatalf("bob stores %d stream records, started events %q: want the paid stream's record and its start at 100 per second", records, details)
	}

	h := speakFor(t, mallory, bob)
	const unpaid = 8 // below the bounds on streams: this is about what is stored
	var ids [][16]byte
	for i := range unpaid {
		id := [16]byte{0xee, byte(i)}
		ids = append(ids, id)
		h.send(streamStart(id, fromMallory, 100, 100, 0, time.Now().Add(time.Hour), "free"))
		h.send(streamEnd(id, fromMallory, "changed my mind"))
	}
	h.send(streamEnd([16]byte{0xff}, fromMallory, "barrier")) // answered after the others are handled
	h.refused("the barrier", "on this channel")
	for _, id := range ids {
		if s, err := bob.Apps().Stream(id); err != nil || s.EndReason != "changed my mind" {
			t.Fatalf("bob's view of unpaid stream %x: %+v %v, want it ended by its payer", id[:2], s, err)
		}
	}
	time.Sleep(500 * time.Millisecond) // writes of the stream records, if any, land
	if r, e, _ := stored(t, bob, fromMallory); r != records || e != events {
		t.Fatalf("after %d unpaid streams bob stores %d stream records and %d stream events for the channel, want %d and %d as before them",
			unpaid, r, e, records, events)
	}
}
