package apps_test

import (
	"context"
	"fmt"
	"strings"
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
	if records != 1 || len(details) != 1 || !strings.Contains(details[0], "receiving 0.0001 USD per second") {
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

// untilBarrier sends a StreamEnd of an unknown stream, which Bob answers
// after everything sent before it, and returns the Errors that came before
// its answer.
func (h *hostile) untilBarrier(ch channel.ID) []*peerv1.Error {
	h.t.Helper()
	h.send(streamEnd([16]byte{0xba, 0x77}, ch, "barrier"))
	var got []*peerv1.Error
	deadline := time.After(20 * time.Second)
	for {
		select {
		case e := <-h.errors:
			if strings.Contains(e.GetMessage(), "ba77") {
				return got
			}
			got = append(got, e)
		case <-deadline:
			h.t.Fatal("bob never answered the barrier")
			return nil
		}
	}
}

// tooMany counts the Errors that refuse a stream at a bound, and checks
// each says so with RESOURCE_EXHAUSTED.
func tooMany(t *testing.T, errs []*peerv1.Error, want string) int {
	t.Helper()
	n := 0
	for _, e := range errs {
		if !strings.Contains(e.GetMessage(), apps.ErrTooManyStreams.Error()) {
			continue
		}
		if e.GetCode() != 8 || !strings.Contains(e.GetMessage(), want) {
			t.Fatalf("refusal at a bound: code %d %q, want RESOURCE_EXHAUSTED (8) saying %q", e.GetCode(), e.GetMessage(), want)
		}
		n++
	}
	return n
}

// streamsOf returns node n's streams (ended ones too) on channel id.
func streamsOf(n *nodetest.Node, id channel.ID) []apps.StreamInfo {
	var out []apps.StreamInfo
	for _, s := range n.Apps().Streams(true) {
		if s.Channel == id {
			out = append(out, s)
		}
	}
	return out
}

// TestStreamFlood: Mallory sends 2,000 StreamStarts of new streams on her
// channel and pays none. Bob holds at most MaxStreamsPerChannel of them,
// in memory only (his store has no record or event of any), refuses the
// rest with an Error each (RESOURCE_EXHAUSTED), and meanwhile Carol, an
// honest payer, pays and streams to Bob as if nothing happened: every
// payment succeeds, her stream keeps its terms and goes on, and Bob's view
// of her channel moves by her payments only. Before the bounds Bob held
// all 2,000 streams and wrote a record and an event for each.
func TestStreamFlood(t *testing.T) {
	chain := evmtest.NewChain(t)
	bob := nodetest.Start(t, chain, "bob", chain.Bob)
	carol := nodetest.Start(t, chain, "carol", chain.Carol)
	mallory := nodetest.Start(t, chain, "mallory", chain.Mallory)
	fromCarol := carol.OpenUSD(bob, 1_000_000)
	fromMallory := mallory.OpenUSD(bob, 1_000_000)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	limit := apps.DefaultConfig().MaxStreamsPerChannel

	s, err := carol.Apps().StartStream(ctx, apps.StreamRequest{Channel: fromCarol, Rate: *u256(100), Tick: 100 * time.Millisecond, ItemID: "radio"})
	if err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, "bob meters carol's stream", func() bool {
		got, err := bob.Apps().Stream(s.ID)
		return err == nil && got.Ticks >= 2 && got.Rate.Uint64() == 100
	})
	before, _ := bob.Apps().Stream(s.ID)
	h := speakFor(t, mallory, bob)

	// Carol pays while Mallory floods.
	const payments = 20
	paid := make(chan error, payments)
	go func() {
		for i := range payments {
			_, err := carol.N().Pay(ctx, node.PayRequest{Channel: fromCarol, Amount: *u256(7), Key: fmt.Sprintf("during-%d", i)})
			paid <- err
		}
	}()
	const flood = 2000
	for i := range flood {
		id := [16]byte{0xf1, byte(i >> 8), byte(i)}
		h.send(streamStart(id, fromMallory, 1_000_000, 100, 0, time.Now().Add(time.Hour), "free"))
	}
	refusals := tooMany(t, h.untilBarrier(fromMallory), "the most one channel may")
	for range payments {
		if err := <-paid; err != nil {
			t.Fatalf("carol's payment during the flood: %v", err)
		}
	}

	if held := len(streamsOf(bob, fromMallory)); held > limit || refusals != flood-held {
		t.Fatalf("bob holds %d of mallory's streams and refused %d of %d: want at most %d held and the rest refused", held, refusals, flood, limit)
	}
	if r, e, _ := stored(t, bob, fromMallory); r != 0 || e != 0 {
		t.Fatalf("bob stores %d stream records and %d stream events of mallory's unpaid streams, want none", r, e)
	}
	after, err := bob.Apps().Stream(s.ID)
	if err != nil || !sameTerms(before, after) || after.Status == "ended" {
		t.Fatalf("carol's stream at bob after the flood:\n%+v\nbefore:\n%+v", after, before)
	}
	nodetest.Eventually(t, "carol's stream goes on", func() bool {
		got, _ := bob.Apps().Stream(s.ID)
		return got.Ticks >= after.Ticks+3 && got.Status == "live"
	})
	if _, err := carol.Apps().StopStream(s.ID, apps.TokenID{}); err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, "bob and carol agree on carol's channel", func() bool {
		c, b := carol.Channel(fromCarol), bob.Channel(fromCarol)
		cs, _ := carol.Apps().Stream(s.ID)
		bs, _ := bob.Apps().Stream(s.ID)
		return bs.EndReason == apps.EndByPayer && cs.Paid.Eq(&bs.Paid) && c.Sent.Eq(&b.Received) && c.AckedNonce == c.SentNonce && b.ReceivedNonce == c.SentNonce
	})
	c, b := carol.Channel(fromCarol), bob.Channel(fromCarol)
	final, _ := bob.Apps().Stream(s.ID)
	if want := final.Paid.Uint64() + payments*7; b.Received.Uint64() != want || b.PeerBalance.Uint64() != 1_000_000-want ||
		b.MyBalance.Uint64() != want || b.Phase != channel.Open || !b.Connected {
		t.Fatalf("bob's view of carol's channel: received %d, balances %d/%d, %s, connected %v; want %d received (her stream and her payments) and open",
			b.Received.Uint64(), b.MyBalance.Uint64(), b.PeerBalance.Uint64(), b.Phase, b.Connected, want)
	}
	if c.MyBalance.Uint64() != 1_000_000-b.Received.Uint64() {
		t.Fatalf("carol's balance %d, bob received %d of her 1000000", c.MyBalance.Uint64(), b.Received.Uint64())
	}
}

// TestStreamsPerNodeBound: Bob takes at most MaxStreams incoming streams
// (3 here, 2 per channel). Carol streams twice; Mallory starts one stream
// she never pays, and her second is refused at the bound per node (an
// Error, RESOURCE_EXHAUSTED) and changes nothing. Room is made by
// forgetting an unpaid stream that ended, or that waited longer than
// UnpaidGrace for its first payment; never a stream that is paid, so
// Carol's streams go on. When they stall (her node went away) they hold no
// place. Before the bounds Bob took every stream.
func TestStreamsPerNodeBound(t *testing.T) {
	chain := evmtest.NewChain(t)
	const grace = 1500 * time.Millisecond
	bob := nodetest.StartWithApps(t, chain, "bob", chain.Bob, func(c *apps.Config) {
		c.MaxStreams, c.MaxStreamsPerChannel, c.UnpaidGrace = 3, 2, grace
	})
	carol := nodetest.Start(t, chain, "carol", chain.Carol)
	mallory := nodetest.Start(t, chain, "mallory", chain.Mallory)
	fromCarol := carol.OpenUSD(bob, 1_000_000)
	fromMallory := mallory.OpenUSD(bob, 1_000_000)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var carols [][16]byte
	for range 2 {
		s, err := carol.Apps().StartStream(ctx, apps.StreamRequest{Channel: fromCarol, Rate: *u256(100), Tick: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		carols = append(carols, s.ID)
	}
	nodetest.Eventually(t, "bob meters carol's streams", func() bool {
		for _, id := range carols {
			if s, err := bob.Apps().Stream(id); err != nil || s.Ticks < 2 || s.Rate.Uint64() != 100 {
				return false
			}
		}
		return true
	})
	h := speakFor(t, mallory, bob)
	known := func(id [16]byte) bool { _, err := bob.Apps().Stream(id); return err == nil }

	m1, m2, m3, m4 := [16]byte{0x31}, [16]byte{0x32}, [16]byte{0x33}, [16]byte{0x34}
	h.send(streamStart(m1, fromMallory, 100, 100, 0, time.Now().Add(time.Hour), "free"))
	h.send(streamStart(m2, fromMallory, 100, 100, 0, time.Now().Add(time.Hour), "free"))
	if n := tooMany(t, h.untilBarrier(fromMallory), "this node holds 3"); n != 1 || !known(m1) || known(m2) {
		t.Fatalf("%d refusals; bob knows m1 %v, m2 %v: want m1 taken and m2 refused at the bound per node", n, known(m1), known(m2))
	}
	// An unpaid stream that ended makes room at once.
	h.send(streamEnd(m1, fromMallory, "done"))
	h.send(streamStart(m3, fromMallory, 100, 100, 0, time.Now().Add(time.Hour), "free"))
	if n := tooMany(t, h.untilBarrier(fromMallory), ""); n != 0 || known(m1) || !known(m3) {
		t.Fatalf("%d refusals; bob knows m1 %v, m3 %v: want m1 (ended, unpaid) forgotten for m3", n, known(m1), known(m3))
	}
	// A live one that waited longer than the grace for a payment too.
	time.Sleep(grace + 100*time.Millisecond)
	h.send(streamStart(m4, fromMallory, 100, 100, 0, time.Now().Add(time.Hour), "free"))
	if n := tooMany(t, h.untilBarrier(fromMallory), ""); n != 0 || known(m3) || !known(m4) {
		t.Fatalf("%d refusals; bob knows m3 %v, m4 %v: want m3 (unpaid past the grace) forgotten for m4", n, known(m3), known(m4))
	}
	// Carol's paid streams were never candidates, and go on.
	for _, id := range carols {
		s, _ := bob.Apps().Stream(id)
		ticks := s.Ticks
		nodetest.Eventually(t, "carol's stream goes on", func() bool {
			s, _ := bob.Apps().Stream(id)
			return s.Status == "live" && s.Ticks >= ticks+2
		})
	}
	if got := len(bob.Apps().Streams(true)); got != 3 {
		t.Fatalf("bob holds %d streams, want 3 (carol's two and m4)", got)
	}
	// Carol's node goes away mid-stream: her streams stall at Bob and hold
	// no place; the next stream is taken with nothing forgotten.
	carol.Stop()
	nodetest.Eventually(t, "carol's streams stall", func() bool {
		for _, id := range carols {
			if s, _ := bob.Apps().Stream(id); s.Status != "stalled" {
				return false
			}
		}
		return true
	})
	m5 := [16]byte{0x35}
	h.send(streamStart(m5, fromMallory, 100, 100, 0, time.Now().Add(time.Hour), "free"))
	if n := tooMany(t, h.untilBarrier(fromMallory), ""); n != 0 || !known(m4) || !known(m5) {
		t.Fatalf("%d refusals; bob knows m4 %v, m5 %v: want m5 taken in the room carol's stalled streams left, m4 kept", n, known(m4), known(m5))
	}
}

// TestConfigValidate: the bounds on streams must let a stream in, and a
// channel may not have more than the node.
func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*apps.Config)
		ok   bool
	}{
		{"the defaults", func(*apps.Config) {}, true},
		// The smallest bounds that let a stream in.
		{"one stream", func(c *apps.Config) { c.MaxStreams, c.MaxStreamsPerChannel = 1, 1 }, true},
		{"no stream per channel", func(c *apps.Config) { c.MaxStreamsPerChannel = 0 }, false},
		{"no stream per node", func(c *apps.Config) { c.MaxStreams = 0 }, false},
		// A channel could never reach its bound.
		{"more per channel than per node", func(c *apps.Config) { c.MaxStreams, c.MaxStreamsPerChannel = 4, 5 }, false},
		{"negative grace", func(c *apps.Config) { c.UnpaidGrace = -time.Second }, false},
		// Zero: an unpaid stream may be forgotten as soon as room is needed.
		{"zero grace", func(c *apps.Config) { c.UnpaidGrace = 0 }, true},
	} {
		c := apps.DefaultConfig()
		tc.edit(&c)
		if err := c.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v, want ok %v", tc.name, err, tc.ok)
		}
		if !tc.ok {
			if _, err := apps.New(c, apps.Deps{Key: evmtest.Key("x"), Store: nil}); err == nil || !strings.Contains(err.Error(), "apps config") {
				t.Errorf("%s: New accepts the configuration: %v", tc.name, err)
			}
		}
	}
}

// TestPaidPartsStayWithinStreamBounds: ticks of one unit naming streams
// never announced start streams only within the bounds (before, ten such
// payments made Bob hold ten streams on a channel bound to two); the
// payments themselves are taken.
func TestPaidPartsStayWithinStreamBounds(t *testing.T) {
	chain := evmtest.NewChain(t)
	alice := nodetest.Start(t, chain, "alice", chain.Alice)
	bob := nodetest.StartWithApps(t, chain, "bob", chain.Bob, func(c *apps.Config) { c.MaxStreamsPerChannel, c.MaxStreams = 2, 4 })
	id := alice.OpenUSD(bob, 1000)
	conn, _ := speakAsPayer(t, alice, bob, id, 0) // from here on the test speaks for Alice
	info := bob.N().Info()
	dom := crypto.NewDomain(info.ChainID, info.Adjudicator)
	var parts []*peerv1.PaymentPart
	for i := range 10 {
		pid, sid := crypto.Hash{byte(i + 1), 7}, [16]byte{byte(i + 1), 5}
		parts = append(parts, &peerv1.PaymentPart{PaymentId: pid[:], Amount: node.AmountBytes(u256(1)), StreamId: sid[:]})
	}
	sig, _ := alice.Key.Sign(dom.BalanceProofDigest(id, 1, u256(10)))
	if err := conn.Send(&peerv1.Message{Body: &peerv1.Message_Proof{Proof: &peerv1.BalanceProof{ChannelId: id[:], Nonce: 1,
		Transferred: node.AmountBytes(u256(10)), Signature: sig[:], Parts: parts}}}); err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, "bob takes the payments", func() bool { ci := bob.Channel(id); return ci.MyBalance.Uint64() == 10 })
	held := 0
	for _, s := range bob.Apps().Streams(true) {
		if !s.Outgoing && s.Channel == id {
			held++
		}
	}
	if held != 2 {
		t.Fatalf("ten one-unit ticks of unannounced streams made bob hold %d streams on the channel, want the bound of 2", held)
	}
}
