package apps_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/tinypay/tinypay/apps"
	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node"
	"github.com/tinypay/tinypay/node/nodetest"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
)

// FuzzAppsStream delivers StreamStart and StreamEnd messages from Alice to
// a live Bob whose application layer handles them (node's own fuzz targets
// run without one): real nodes on the simulated chain, built once per fuzz
// process, Alice spoken for over an in-process connection once her channel
// with Bob is open. The first byte picks the message and its shape:
//
//	bit 0     StreamEnd (else StreamStart)
//	bit 1     on Alice's channel with Bob (else the id as fuzzed)
//	bit 2     a well-formed stream start: a 16-byte id, a tick in range
//	bit 3     the id of one of Bob's streams (the next byte picks which)
//
// After each message the test checks that Bob answers on the connection,
// is healthy, that the channel is unchanged (stream messages move no
// money), and that Bob holds no more of Alice's streams than his bound per
// channel and writes nothing for them, as she pays for none (an unpaid
// stream lives in memory only).
func FuzzAppsStream(f *testing.F) {
	start := &peerv1.StreamStart{StreamId: make([]byte, 16), Rate: []byte{1}, TickMs: 1000, Budget: []byte{100}, ItemId: "fuzz"}
	end := &peerv1.StreamEnd{StreamId: make([]byte, 16), Reason: "fuzz"}
	for _, s := range []struct {
		flags byte
		m     proto.Message
	}{
		{2 | 4, start},     // a new stream
		{2 | 4 | 8, start}, // again for one Bob has
		{1 | 2 | 8, end},   // the end of one Bob has
		{1 | 2, end},       // of one he does not
		{0, start},
	} {
		raw, err := proto.Marshal(s.m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(s.flags, raw)
	}
	tb := &appsFuzzTB{TB: f}
	fx := appsFuzzSetup(f, tb)
	tb.fuzzing.Store(true)
	f.Cleanup(func() {
		tb.fuzzing.Store(false)
		if tb.delivered == 0 {
			return
		}
		line := fmt.Sprintf("%s: %d inputs delivered, %d undecodable; bob keeps %d streams", f.Name(), tb.delivered, tb.undecodable.Load(), len(fx.bob.Apps().Streams(true)))
		f.Log(line)
		if path := os.Getenv("TINYPAY_FUZZ_STATS"); path != "" {
			if out, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
				fmt.Fprintln(out, line)
				out.Close()
			}
		}
	})
	f.Fuzz(func(t *testing.T, flags byte, raw []byte) {
		defer tb.report(t)
		var m *peerv1.Message
		if flags&1 == 0 {
			s := new(peerv1.StreamStart)
			if !appsDecode(raw, s) {
				tb.undecodable.Add(1)
				return
			}
			if flags&4 != 0 {
				if len(s.StreamId) != 16 {
					h := crypto.Keccak256(s.StreamId)
					s.StreamId = h[:16]
				}
				s.TickMs = 100 + s.TickMs%5000
			}
			fx.shape(flags, &s.ChannelId, &s.StreamId, raw)
			m = &peerv1.Message{Body: &peerv1.Message_StreamStart{StreamStart: s}}
		} else {
			e := new(peerv1.StreamEnd)
			if !appsDecode(raw, e) {
				tb.undecodable.Add(1)
				return
			}
			fx.shape(flags, &e.ChannelId, &e.StreamId, raw)
			m = &peerv1.Message{Body: &peerv1.Message_StreamEnd{StreamEnd: e}}
		}
		fx.deliver(t, m)
		tb.delivered++
	})
}

// appsDecode decodes raw into m, or the longest run of whole fields at its
// start that decodes (see node's fuzzDecode).
func appsDecode(raw []byte, m proto.Message) bool {
	if proto.Unmarshal(raw, m) == nil {
		return true
	}
	var ends []int
	for off := 0; off < len(raw); {
		_, _, n := protowire.ConsumeField(raw[off:])
		if n < 0 {
			break
		}
		off += n
		ends = append(ends, off)
	}
	for i := len(ends) - 1; i >= 0; i-- {
		proto.Reset(m)
		if proto.Unmarshal(raw[:ends[i]], m) == nil {
			return true
		}
	}
	return false
}

type appsFuzz struct {
	bob   *nodetest.Node
	alice crypto.Address
	id    channel.ID
	ch    node.ChannelInfo // the channel after the set-up
	seq   uint64           // the end of Bob's log after the set-up
	conn  *appsPipe
	pings int
	base  int // goroutines after the set-up
}

func appsFuzzSetup(f testing.TB, tb testing.TB) *appsFuzz {
	chain := nodetest.NewChain(tb)
	alice, bob := nodetest.Start(tb, chain, "alice", chain.Alice), nodetest.Start(tb, chain, "bob", chain.Bob)
	id := alice.OpenUSD(bob, 1000)
	alice.Pay(id, 10, "fuzz-1")
	alice.Stop()
	fx := &appsFuzz{bob: bob, alice: chain.Alice.Address(), id: id}
	nodetest.Eventually(tb, "bob lets go of alice's connection", func() bool { return !bob.Channel(id).Connected })
	fx.dial(f)
	fx.ch = fx.info(f)
	fx.seq = bob.Store().LastSeq()
	fx.base = runtime.NumGoroutine()
	return fx
}

// dial connects to Bob as Alice.
func (fx *appsFuzz) dial(t testing.TB) {
	a, b := newAppsPipe(fx.alice, fx.bob.Key.Address())
	go fx.bob.N().HandlePeer(b)
	fx.conn = a
	t.Cleanup(func() { a.Close(nil) })
	fx.probe(t)
}

func (fx *appsFuzz) info(t testing.TB) node.ChannelInfo {
	ci, err := fx.bob.N().Channel(fx.id)
	if err != nil {
		t.Fatal(err)
	}
	ci.Connected = false
	return ci
}

// shape sets a channel and stream id as flags ask.
func (fx *appsFuzz) shape(flags byte, channelID, streamID *[]byte, raw []byte) {
	if flags&2 != 0 {
		*channelID = fx.id[:]
	}
	if flags&8 != 0 {
		if sts := fx.bob.Apps().Streams(true); len(sts) > 0 {
			pick := 0
			if len(raw) > 0 {
				pick = int(raw[0]) % len(sts)
			}
			*streamID = sts[pick].ID[:]
		}
	}
}

// deliver sends m, waits for Bob to have handled it, and checks him.
func (fx *appsFuzz) deliver(t *testing.T, m *peerv1.Message) {
	if fx.conn.Send(m) != nil {
		t.Fatal("bob closed alice's connection")
	}
	got := fx.probe(t)
	t.Logf("sent %v; bob answered %v", m, got)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := fx.bob.N().Health(ctx); err != nil {
		t.Fatalf("bob after %v: %v", m, err)
	}
	if ci := fx.info(t); ci != fx.ch {
		t.Fatalf("%v changed the channel: %+v, was %+v", m, ci, fx.ch)
	}
	if n, limit := len(fx.bob.Apps().Streams(true)), apps.DefaultConfig().MaxStreamsPerChannel; n > limit {
		t.Fatalf("bob keeps %d streams of alice's, who paid for none of them (the bound is %d)", n, limit)
	}
	if n := fx.bob.Store().LastSeq(); n != fx.seq {
		t.Fatalf("%v: bob wrote %d log entries for streams alice paid nothing for", m, n-fx.seq)
	}
	if n := runtime.NumGoroutine(); n > fx.base+400 {
		t.Fatalf("%d goroutines, %d after the set-up", n, fx.base)
	}
}

// probe sends an Ack on an unknown channel, which Bob's session answers at
// once, and returns what Bob sent before that answer.
func (fx *appsFuzz) probe(t testing.TB) []*peerv1.Message {
	fx.pings++
	id := crypto.Keccak256([]byte("apps-fuzz-probe"), []byte(fmt.Sprint(fx.pings)))
	if fx.conn.Send(&peerv1.Message{Body: &peerv1.Message_Ack{Ack: &peerv1.Ack{ChannelId: id[:]}}}) != nil {
		t.Fatal("bob closed alice's connection")
	}
	var out []*peerv1.Message
	timer := time.NewTimer(nodetest.WatchdogLimit)
	defer timer.Stop()
	for {
		select {
		case m := <-fx.conn.in:
			if e := m.GetError(); e != nil && string(e.GetChannelId()) == string(id[:]) {
				return out
			}
			out = append(out, m)
		case <-fx.conn.done:
			t.Fatalf("bob closed alice's connection; got %v", out)
		case <-timer.C:
			t.Fatalf("bob does not answer; got %v", out)
		}
	}
}

// appsPipe is one end of an in-process connection between two nodes.
type appsPipe struct {
	self, peer crypto.Address
	in, out    chan *peerv1.Message
	done       chan struct{}
	once       *sync.Once
}

func newAppsPipe(a, b crypto.Address) (*appsPipe, *appsPipe) {
	ab, ba := make(chan *peerv1.Message, 1<<12), make(chan *peerv1.Message, 1<<12)
	done, once := make(chan struct{}), new(sync.Once)
	return &appsPipe{a, b, ba, ab, done, once}, &appsPipe{b, a, ab, ba, done, once}
}

func (p *appsPipe) Peer() crypto.Address  { return p.peer }
func (p *appsPipe) ListenAddrs() []string { return nil }
func (p *appsPipe) RemoteAddr() string    { return "pipe" }
func (p *appsPipe) Close(error)           { p.once.Do(func() { close(p.done) }) }

// Send copies m through the wire format, as a transport does.
func (p *appsPipe) Send(m *peerv1.Message) error {
	raw, err := proto.Marshal(m)
	if err != nil {
		return err
	}
	c := new(peerv1.Message)
	if err := proto.Unmarshal(raw, c); err != nil {
		return err
	}
	select {
	case <-p.done:
		return errors.New("closed")
	default:
	}
	select {
	case p.out <- c:
		return nil
	case <-p.done:
		return errors.New("closed")
	}
}

func (p *appsPipe) Recv() (*peerv1.Message, error) {
	select {
	case m := <-p.in:
		return m, nil
	case <-p.done:
		return nil, errors.New("closed")
	}
}

// appsFuzzTB is the testing.TB of the target's nodes: they outlive the
// inputs, and *testing.F may not be called while the fuzz function runs,
// so failures reported meanwhile (the nodes' watchdogs') are kept for the
// input that runs, or the next one.
type appsFuzzTB struct {
	testing.TB
	fuzzing     atomic.Bool
	delivered   int
	undecodable atomic.Int64
	mu          sync.Mutex
	problems    []string
}

func (tb *appsFuzzTB) Helper() {}

func (tb *appsFuzzTB) Errorf(format string, args ...any) {
	if !tb.fuzzing.Load() {
		tb.TB.Errorf(format, args...)
		return
	}
	tb.mu.Lock()
	tb.problems = append(tb.problems, fmt.Sprintf(format, args...))
	tb.mu.Unlock()
}

func (tb *appsFuzzTB) Logf(format string, args ...any) {
	if !tb.fuzzing.Load() {
		tb.TB.Logf(format, args...)
	}
}

func (tb *appsFuzzTB) report(t *testing.T) {
	tb.mu.Lock()
	ps := tb.problems
	tb.problems = nil
	tb.mu.Unlock()
	for _, p := range ps {
		t.Error(p)
	}
}
