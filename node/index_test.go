package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
)

// TestPayByPeerPicksAChannelAndKeepsToIt checks how paying by peer picks
// among several open channels: the one with the most balance first, then
// the same one while it holds the amount, then again the one with the
// most; and that the registry's sets follow a channel's phase (open, in
// use, due for the watcher) as it closes.
func TestPayByPeerPicksAChannelAndKeepsToIt(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	ids := []channel.ID{alice.open(bob, 100), alice.open(bob, 300), alice.open(bob, 200)}
	sent := func() []uint64 {
		var out []uint64
		for _, id := range ids {
			s := alice.channel(id).Sent
			out = append(out, s.Uint64())
		}
		return out
	}
	byPeer := func(amount uint64, key string) {
		t.Helper()
		if _, err := alice.n.Pay(context.Background(), PayRequest{Peer: bob.key.Address(), Amount: *uint256.NewInt(amount), Key: key}); err != nil {
			t.Fatalf("pay %d by peer: %v", amount, err)
		}
	}
	byPeer(50, "a") // the most balance: the second channel
	if got := sent(); !slices.Equal(got, []uint64{0, 50, 0}) {
		t.Fatalf("sent %v after the first payment, want it on the channel with the most", got)
	}
	byPeer(200, "b") // it still holds 250: it stays there
	if got := sent(); !slices.Equal(got, []uint64{0, 250, 0}) {
		t.Fatalf("sent %v after the second payment, want it on the same channel", got)
	}
	byPeer(60, "c") // 50 left there: the third channel has the most now
	if got := sent(); !slices.Equal(got, []uint64{0, 250, 60}) {
		t.Fatalf("sent %v after the third payment, want it on the channel with the most", got)
	}
	// More than any channel holds: refused for the balance, nothing moves.
	if _, err := alice.n.Pay(context.Background(), PayRequest{Peer: bob.key.Address(), Amount: *uint256.NewInt(1000), Key: "d"}); err == nil {
		t.Fatal("a payment larger than every channel's balance was accepted")
	}
	if got := sent(); !slices.Equal(got, []uint64{0, 250, 60}) {
		t.Fatalf("sent %v after a refused payment", got)
	}

	sets := func(n *Node) (inUse, open, due int) {
		n.chans.mu.RLock()
		defer n.chans.mu.RUnlock()
		for _, peer := range []crypto.Address{bob.key.Address(), alice.key.Address()} {
			for _, set := range n.chans.open[peer] {
				open += len(set.chans)
			}
		}
		return n.chans.inUse[bob.key.Address()] + n.chans.inUse[alice.key.Address()], open, len(n.chans.due)
	}
	for _, tn := range []*testNode{alice, bob} {
		if inUse, open, due := sets(tn.n); inUse != 3 || open != 3 || due != 0 {
			t.Fatalf("%s: %d in use, %d open, %d due; want 3, 3, 0", tn.name, inUse, open, due)
		}
		if i := tn.n.Info(); i.ChannelsOpen != 3 || i.ChannelsReady != 3 {
			t.Fatalf("%s: info counts %d open, %d ready; want 3, 3", tn.name, i.ChannelsOpen, i.ChannelsReady)
		}
	}
	// Close the channel in use: it leaves the sets on both sides, and
	// paying by peer moves to the one left with the most.
	guard(t, "close", func() {
		if _, err := alice.n.CloseChannel(context.Background(), ids[2]); err != nil {
			t.Fatal(err)
		}
	})
	for _, tn := range []*testNode{alice, bob} {
		waitFor(t, tn.name+" indexes the closed channel out", func() bool {
			inUse, open, due := sets(tn.n)
			i := tn.n.Info()
			return inUse == 2 && open == 2 && due == 0 && i.ChannelsOpen == 2 && i.ChannelsReady == 2
		})
	}
	// The peer goes away: the channels stay open but cannot pay.
	bob.stop()
	waitFor(t, "alice counts no channel ready", func() bool {
		i := alice.n.Info()
		return i.ChannelsOpen == 2 && i.ChannelsReady == 0
	})
	bob.start()
	waitFor(t, "alice counts both channels ready again", func() bool { return alice.n.Info().ChannelsReady == 2 })
	byPeer(10, "e")
	if got := sent(); !slices.Equal(got, []uint64{10, 250, 60}) {
		t.Fatalf("sent %v after closing the channel in use", got)
	}
}

// TestPayByPeerWhenEveryChannelIsShort: once every channel with the peer
// is short of an amount, a payment of it (or more) is refused without
// walking the channels again, until one of them holds more: a balance
// that grows (here a payment from bob) or a channel that opens.
func TestPayByPeerWhenEveryChannelIsShort(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	ids := []channel.ID{alice.open(bob, 100), alice.open(bob, 200)}
	payBy := func(amount uint64, key string) error {
		_, err := alice.n.Pay(context.Background(), PayRequest{Peer: bob.key.Address(), Amount: *uint256.NewInt(amount), Key: key})
		return err
	}
	scans := func() int {
		alice.n.chans.mu.RLock()
		defer alice.n.chans.mu.RUnlock()
		return alice.n.chans.open[bob.key.Address()][crypto.Address{}].scans
	}
	if err := payBy(150, "drain"); err != nil { // the second channel: 50 left there, 100 on the first
		t.Fatal(err)
	}
	for i := range 3 {
		if err := payBy(120, fmt.Sprint("short", i)); !errors.Is(err, channel.ErrInsufficientBalance) {
			t.Fatalf("120 with at most 100 in a channel: %v", err)
		}
	}
	before := scans()
	for i := range 5 {
		if err := payBy(110+uint64(i), fmt.Sprint("short again", i)); !errors.Is(err, channel.ErrInsufficientBalance) {
			t.Fatalf("%d with at most 100 in a channel: %v", 110+i, err)
		}
	}
	if got := scans() - before; got != 0 {
		t.Fatalf("%d rescans for payments every channel is short of", got)
	}
	// Bob pays alice 30 on the second channel (50 + 30 = 80: still short),
	// then 60 (140): the next payment looks again and finds it.
	if _, err := bob.n.Pay(context.Background(), PayRequest{Channel: ids[1], Amount: *uint256.NewInt(30), Key: "back1"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice holds 80 on the second channel", func() bool { return u64(alice.channel(ids[1]).MyBalance) == 80 })
	if err := payBy(120, "still short"); !errors.Is(err, channel.ErrInsufficientBalance) {
		t.Fatalf("120 with at most 100 in a channel: %v", err)
	}
	if _, err := bob.n.Pay(context.Background(), PayRequest{Channel: ids[1], Amount: *uint256.NewInt(60), Key: "back2"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice holds 140 on the second channel", func() bool { return u64(alice.channel(ids[1]).MyBalance) == 140 })
	if err := payBy(120, "enough"); err != nil {
		t.Fatalf("120 with 140 in the second channel: %v", err)
	}
	// Every channel short again; a new channel opens with enough.
	if err := payBy(500, "short once more"); !errors.Is(err, channel.ErrInsufficientBalance) {
		t.Fatalf("500: %v", err)
	}
	alice.open(bob, 600)
	if err := payBy(500, "new channel"); err != nil {
		t.Fatalf("500 with a new channel of 600: %v", err)
	}
}

// TestPickOpenTieAtShort: two channels held the most (100) when every
// one was short of 120; the one picked then pays 30 out (no balance
// grew). A payment of exactly 100 must still find the other (a review
// found the shortcut refusing it).
func TestPickOpenTieAtShort(t *testing.T) {
	var s chanSet
	s.init()
	peer := crypto.Address{9}
	bal := func(c *chanActor, v uint64) {
		c.snap.Store(&ChannelInfo{Phase: channel.Open, Side: channel.A, MyBalance: *uint256.NewInt(v)})
	}
	a, b := &chanActor{id: channel.ID{1}, peer: peer}, &chanActor{id: channel.ID{2}, peer: peer}
	bal(a, 100)
	bal(b, 100)
	s.add(a)
	s.add(b)
	first := s.pickOpen(peer, crypto.Address{}, uint256.NewInt(120))
	if first == nil {
		t.Fatal("nothing picked")
	}
	other := a
	if first == a {
		other = b
	}
	bal(first, 70)
	if got := s.pickOpen(peer, crypto.Address{}, uint256.NewInt(100)); got != other {
		t.Fatalf("100: picked %v, want the channel that holds 100", got.id)
	}
}

// TestIndexFollowsFlags checks the registry's sets against a channel's
// flags directly, including a channel that publishes before it is
// registered and one removed while indexed.
func TestIndexFollowsFlags(t *testing.T) {
	var s chanSet
	s.init()
	peer := crypto.Address{9}
	mk := func(i byte, phase channel.Phase, timed bool) *chanActor {
		c := &chanActor{id: channel.ID{i}, peer: peer}
		c.snap.Store(&ChannelInfo{Phase: phase, Side: channel.A, timed: timed})
		return c
	}
	a, b := mk(1, channel.Opening, false), mk(2, channel.Open, false)
	s.add(a)
	s.add(b)
	if s.inUse[peer] != 2 || len(s.due) != 1 || len(s.open[peer][crypto.Address{}].chans) != 1 {
		t.Fatalf("after add: inUse %d, due %d, open %v", s.inUse[peer], len(s.due), s.open)
	}
	// a opens; b starts closing (timed).
	a.snap.Store(&ChannelInfo{Phase: channel.Open, Side: channel.A})
	s.reindex(a, a.snap.Load())
	b.snap.Store(&ChannelInfo{Phase: channel.Closing, Side: channel.A, timed: true})
	s.reindex(b, b.snap.Load())
	if s.inUse[peer] != 2 || len(s.due) != 1 || len(s.open[peer][crypto.Address{}].chans) != 1 {
		t.Fatalf("after moves: inUse %d, due %d, open %v", s.inUse[peer], len(s.due), s.open)
	}
	if _, ok := s.due[b]; !ok {
		t.Fatal("the closing channel is not due")
	}
	// a's peer session comes up, goes, comes back: counted ready once.
	for _, up := range []bool{true, false, true, true} {
		a.snap.Store(&ChannelInfo{Phase: channel.Open, Side: channel.A, Connected: up})
		s.reindex(a, a.snap.Load())
		want := 0
		if up {
			want = 1
		}
		if open, ready := s.counts(); open != 1 || ready != want {
			t.Fatalf("connected %v: counts %d open, %d ready", up, open, ready)
		}
	}
	s.remove(b)
	s.remove(a)
	if len(s.inUse) != 0 || len(s.due) != 0 || len(s.open) != 0 || s.nOpen != 0 || s.nReady.Load() != 0 {
		t.Fatalf("after remove: inUse %v, due %d, open %v, counts %d, %d", s.inUse, len(s.due), s.open, s.nOpen, s.nReady.Load())
	}
	// A channel unknown to the registry is never indexed.
	c := mk(3, channel.Open, true)
	c.snap.Store(&ChannelInfo{Phase: channel.Open, Side: channel.A, timed: true, Connected: true})
	s.reindex(c, c.snap.Load())
	if len(s.inUse) != 0 || len(s.due) != 0 || len(s.open) != 0 || s.nReady.Load() != 0 {
		t.Fatal("an unregistered channel was indexed")
	}
}

// TestOpenAssetsByPeer: the assets in which a peer has open channels come
// from that peer's own sets (paying a peer without naming an asset looks
// them up on every payment), and a set leaves with its last channel.
func TestOpenAssetsByPeer(t *testing.T) {
	var s chanSet
	s.init()
	p1, p2, usd := crypto.Address{1}, crypto.Address{2}, crypto.Address{0x05}
	mk := func(i byte, peer, asset crypto.Address) *chanActor {
		c := &chanActor{id: channel.ID{i}, peer: peer}
		c.params.Asset = asset
		c.snap.Store(&ChannelInfo{Phase: channel.Open, Side: channel.A})
		s.add(c)
		return c
	}
	mk(1, p1, crypto.Address{})
	dollars := mk(2, p1, usd)
	mk(3, p1, usd)
	mk(4, p2, crypto.Address{})
	sorted := func(peer crypto.Address) []crypto.Address {
		out := s.openAssets(peer)
		slices.SortFunc(out, func(a, b crypto.Address) int { return bytes.Compare(a[:], b[:]) })
		return out
	}
	if got := sorted(p1); !slices.Equal(got, []crypto.Address{{}, usd}) {
		t.Fatalf("p1's assets %v", got)
	}
	if got := sorted(p2); !slices.Equal(got, []crypto.Address{{}}) {
		t.Fatalf("p2's assets %v", got)
	}
	if got := sorted(crypto.Address{3}); len(got) != 0 {
		t.Fatalf("a stranger's assets %v", got)
	}
	dollars.snap.Store(&ChannelInfo{Phase: channel.Closing, Side: channel.A})
	s.reindex(dollars, dollars.snap.Load())
	if got := sorted(p1); !slices.Equal(got, []crypto.Address{{}, usd}) {
		t.Fatalf("p1's assets with one of two dollar channels closing: %v", got)
	}
	s.remove(s.byID[channel.ID{3}])
	if got := sorted(p1); !slices.Equal(got, []crypto.Address{{}}) {
		t.Fatalf("p1's assets with no dollar channel open: %v", got)
	}
	s.remove(s.byID[channel.ID{1}])
	if _, ok := s.open[p1]; ok || len(s.open) != 1 {
		t.Fatalf("p1 has no open channel left, its sets stay: %v", s.open)
	}
}

// TestReadyCountConcurrent: every channel of a peer changes its ready flag
// at once when the session comes or goes (each owner on its goroutine),
// while channels are added and removed: the count stays exact.
func TestReadyCountConcurrent(t *testing.T) {
	var s chanSet
	s.init()
	const n = 2000
	chans := make([]*chanActor, n)
	for i := range chans {
		c := &chanActor{id: channel.ID{byte(i), byte(i >> 8)}, peer: crypto.Address{9}}
		c.snap.Store(&ChannelInfo{Phase: channel.Open, Side: channel.A})
		chans[i] = c
		if i%2 == 0 {
			s.add(c)
		}
	}
	var wg sync.WaitGroup
	for i, c := range chans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 1 {
				s.add(c) // registered while the others flip
			}
			for k := range 7 { // ends connected
				c.snap.Store(&ChannelInfo{Phase: channel.Open, Side: channel.A, Connected: k%2 == 0})
				s.reindex(c, c.snap.Load())
			}
			if i%10 == 0 {
				s.remove(c)
			}
		}()
	}
	wg.Wait()
	if open, ready := s.counts(); open != n-n/10 || ready != n-n/10 {
		t.Fatalf("counts %d open, %d ready; want %d of each", open, ready, n-n/10)
	}
}

// BenchmarkPickOpen measures picking a channel to pay a peer on, with 10
// and 100,000 open channels to that peer: the cost must not grow with
// them.
func BenchmarkPickOpen(b *testing.B) {
	for _, n := range []int{10, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var s chanSet
			s.init()
			peer := crypto.Address{9}
			for i := range n {
				c := &chanActor{peer: peer}
				c.id[0], c.id[1], c.id[2] = byte(i), byte(i>>8), byte(i>>16)
				c.snap.Store(&ChannelInfo{Phase: channel.Open, MyBalance: *uint256.NewInt(uint64(1000 + i))})
				s.add(c)
			}
			amount := uint256.NewInt(1)
			b.ResetTimer()
			for range b.N {
				if s.pickOpen(peer, crypto.Address{}, amount) == nil {
					b.Fatal("none picked")
				}
			}
		})
	}
}

// TestReestablishIsPaced reconnects two nodes that share more channels
// than a session may queue messages, over a connection that does not
// write until released: the channels' Reestablish messages go out a page
// at a time as the connection drains, so the session is not dropped as
// "peer does not read its messages", and every channel pays again on the
// same session. (All at once, they overflowed the queue: a peer with more
// than 65,536 channels could never reconnect.)
func TestReestablishIsPaced(t *testing.T) {
	q, p, b := maxQueued, reestablishPage, reestablishBacklog
	t.Cleanup(func() { maxQueued, reestablishPage, reestablishBacklog = q, p, b }) // after the nodes stop
	maxQueued, reestablishPage, reestablishBacklog = 16, 4, 2
	const channels = 40
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	var ids []channel.ID
	for range channels {
		ids = append(ids, alice.open(bob, 1000))
	}
	bob.stop()
	gate := make(chan struct{})
	w.mu.Lock()
	w.gate = gate
	w.mu.Unlock()
	bob.start() // alice redials it, over a connection that does not write yet
	var s *session
	waitFor(t, "alice redials bob", func() bool {
		s = alice.n.peers.session(bob.key.Address())
		return s != nil
	})
	// Give an unpaced attach the time to overflow the queue (it did within
	// microseconds); a paced one waits for the connection.
	time.Sleep(300 * time.Millisecond)
	if !s.alive() {
		t.Fatalf("the session was dropped while the connection did not write: %v", s.reason())
	}
	close(gate)
	for _, id := range ids {
		waitFor(t, "the channel is ready again", func() bool { return alice.channel(id).Connected })
	}
	for i, id := range ids {
		alice.pay(id, 1, fmt.Sprint("after-", i))
	}
	if got := alice.n.peers.session(bob.key.Address()); got != s || !s.alive() {
		t.Fatalf("the session was replaced or dropped (%v)", s.reason())
	}
}

// TestRestartReadsNoChannelAtRest restarts a node with open channels at
// rest: its watcher's first round reads none of them from the chain (the
// event log covers them; a read per channel made a restart cost minutes at
// a hundred thousand channels), yet what happened to one of them while the
// node was down (the peer force-closed it) is seen, from the events.
func TestRestartReadsNoChannelAtRest(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	var ids []channel.ID
	for range 5 {
		ids = append(ids, alice.open(bob, 1000))
	}
	alice.pay(ids[0], 10, "k")
	alice.stop()
	guard(t, "bob force-closes", func() {
		if _, err := bob.n.ForceClose(context.Background(), ids[1]); err != nil {
			t.Fatal(err)
		}
	})
	alice.start()
	waitFor(t, "alice's watcher reads the chain once", func() bool { return alice.n.behind.chainRead.Load() })
	if got := alice.chain.channelReads.Load(); got != 0 {
		t.Fatalf("the restart read %d channels from the chain, want none", got)
	}
	waitFor(t, "alice sees the force close from the events", func() bool { return alice.channel(ids[1]).Phase == channel.Closed })
	for _, id := range []channel.ID{ids[0], ids[2], ids[3], ids[4]} {
		if ph := alice.channel(id).Phase; ph != channel.Open {
			t.Fatalf("channel %s is %s after the restart", id, ph)
		}
	}
}

// TestHealthFindsAStuckOwner blocks one channel's owner inside a step:
// Health reports that channel once ctx ends, and is healthy again once the
// step returns; an idle node with many channels is healthy at once.
func TestHealthFindsAStuckOwner(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	ids := []channel.ID{alice.open(bob, 100), alice.open(bob, 100)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	if err := alice.n.Health(ctx); err != nil {
		t.Fatalf("an idle node: %v", err)
	}
	cancel()
	release, entered := make(chan struct{}), make(chan struct{})
	c := alice.n.chans.get(ids[1])
	c.post(func() {
		close(entered)
		<-release
	})
	<-entered
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	err := alice.n.Health(ctx)
	cancel()
	if err == nil || !strings.Contains(err.Error(), ids[1].String()) {
		t.Fatalf("a stuck owner: Health says %v, want it to name channel %s", err, ids[1])
	}
	// Unhealthy (what GetInfo reports) costs nothing: it says what Monitor
	// found, and stays said.
	if err := alice.n.Unhealthy(); err != nil {
		t.Fatalf("Unhealthy before Monitor looked: %v", err)
	}
	mctx, mcancel := context.WithCancel(context.Background())
	found := make(chan struct{})
	go alice.n.Monitor(mctx, 10*time.Millisecond, 100*time.Millisecond, func(error, string) { close(found) })
	<-found
	mcancel()
	if err := alice.n.Unhealthy(); err == nil || !strings.Contains(err.Error(), ids[1].String()) {
		t.Fatalf("a stuck owner: Unhealthy says %v, want it to name channel %s", err, ids[1])
	}
	close(release)
	ctx, cancel = context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := alice.n.Health(ctx); err != nil {
		t.Fatalf("after the step returned: %v", err)
	}
	alice.pay(ids[1], 1, "after")
}

// TestPaidWithItsReceiptOnDisk: a payment that asked for a receipt is
// reported paid once the receipt is on disk too, so that looking the
// payment up right after (a retry, a second purchase of a once-only
// offer) finds it with its receipt. (It used to be reported as soon as the
// acknowledgement came, the receipt's write still on its way.)
func TestPaidWithItsReceiptOnDisk(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 1_000_000)
	for i := range 200 {
		key := fmt.Sprint("r", i)
		p, err := alice.n.Pay(context.Background(), PayRequest{Channel: id, Amount: *uint256.NewInt(1), Key: key, ItemID: "item", Receipt: true})
		if err != nil || p.Receipt == nil {
			t.Fatalf("payment %d: %+v, %v", i, p, err)
		}
		got, found, err := alice.n.PaymentByKey(context.Background(), key)
		if err != nil || !found || got.Receipt == nil {
			t.Fatalf("payment %d looked up right after it was paid: found %v, receipt %v, %v", i, found, got.Receipt, err)
		}
	}
}
