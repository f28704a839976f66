package node

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
)

// listNode is a node with only its registry, for paging through many
// channels without opening them.
func listNode() *Node {
	n := &Node{}
	n.chans.init()
	return n
}

// addListed registers a channel with peer, created at created, in phase.
func addListed(t testing.TB, n *Node, id channel.ID, peer crypto.Address, created time.Time, phase channel.Phase) {
	c := &chanActor{id: id, peer: peer, created: created}
	c.snap.Store(&ChannelInfo{ID: id, Peer: peer, Created: created, Phase: phase})
	if !n.chans.add(c) {
		t.Errorf("channel %s added twice", id) // Errorf: called from other goroutines too
	}
}

func listID(i int) channel.ID {
	var id channel.ID
	id[0], id[1], id[2], id[31] = byte(i>>16), byte(i>>8), byte(i), 0x5a
	return id
}

// pageAll pages through q's channels with pages of size, calling between
// pages if set, and returns the channels and the number of pages.
func pageAll(t *testing.T, n *Node, q ChannelQuery, size int, between func()) ([]ChannelInfo, int) {
	t.Helper()
	q.Limit = size
	var out []ChannelInfo
	for pages := 1; ; pages++ {
		page, next := n.ChannelPage(q)
		if len(page) > PageLimit(size) {
			t.Fatalf("page %d holds %d channels, more than its size %d", pages, len(page), size)
		}
		out = append(out, page...)
		if next == nil {
			return out, pages
		}
		if q.After != nil && *next == *q.After {
			t.Fatalf("page %d did not move on from %+v", pages, *next)
		}
		q.After = next
		if between != nil {
			between()
		}
	}
}

// checkListed fails unless got holds exactly the channels of want, each
// once, in list order (newest first, then by id).
func checkListed(t *testing.T, what string, got []ChannelInfo, want map[channel.ID]bool) {
	t.Helper()
	seen := map[channel.ID]bool{}
	for i, ci := range got {
		if seen[ci.ID] {
			t.Fatalf("%s: channel %s listed twice", what, ci.ID)
		}
		seen[ci.ID] = true
		if !want[ci.ID] {
			t.Fatalf("%s: channel %s listed, but it is not one of the %d expected", what, ci.ID, len(want))
		}
		if i > 0 {
			a, b := got[i-1], ci
			if !(a.Created.After(b.Created) || a.Created.Equal(b.Created) && bytes.Compare(a.ID[:], b.ID[:]) < 0) {
				t.Fatalf("%s: %s (%s) listed before %s (%s): not newest first, then by id", what, a.ID, a.Created, b.ID, b.Created)
			}
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("%s: %d channels listed, want %d (gaps)", what, len(seen), len(want))
	}
}

// TestChannelPagesWithConcurrentInserts pages through 3,000 channels of
// three peers (loaded in random order, as at a start; pairs created in the
// same nanosecond; a tenth settled) while another goroutine keeps creating
// channels: every page lists each channel that was there when paging began
// exactly once, in list order, and none created meanwhile (they are newer
// than the place reached, so they never shift later pages), whatever the
// page size and filter. (The channels start being created once the first
// page is read: those created before it are listed, as they should be.)
func TestChannelPagesWithConcurrentInserts(t *testing.T) {
	const initial = 3000
	base := time.Unix(1_800_000_000, 0)
	peers := []crypto.Address{{1}, {2}, {3}}
	type spec struct {
		i     int
		peer  crypto.Address
		phase channel.Phase
	}
	var specs []spec
	for i := range initial {
		phase := channel.Open
		if i%10 == 3 {
			phase = channel.Settled
		}
		specs = append(specs, spec{i, peers[i%3], phase})
	}
	open, all := map[channel.ID]bool{}, map[channel.ID]bool{}
	byPeer := map[crypto.Address]map[channel.ID]bool{}
	for _, s := range specs {
		id := listID(s.i)
		all[id] = true
		if s.phase != channel.Settled {
			open[id] = true
			if byPeer[s.peer] == nil {
				byPeer[s.peer] = map[channel.ID]bool{}
			}
			byPeer[s.peer][id] = true
		}
	}
	// build registers the channels in a random order.
	build := func() *Node {
		n := listNode()
		for _, k := range rand.Perm(len(specs)) {
			s := specs[k]
			addListed(t, n, listID(s.i), s.peer, base.Add(time.Duration(s.i/2)*time.Millisecond), s.phase)
		}
		return n
	}

	for _, tc := range []struct {
		name string
		q    ChannelQuery
		size int
		want map[channel.ID]bool
	}{
		// Open channels, in pages of a prime size.
		{"open", ChannelQuery{}, 97, open},
		// Settled too, in the default page size.
		{"all", ChannelQuery{All: true}, 0, all},
		// One peer's, in pages of one.
		{"one peer", ChannelQuery{Peer: peers[1]}, 1, byPeer[peers[1]]},
		// A page size over the maximum is the maximum.
		{"oversized pages", ChannelQuery{All: true}, 5000, all},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := build()
			var mu sync.Mutex
			created := 0
			insert := func(k int) {
				mu.Lock()
				defer mu.Unlock()
				for range k {
					i := 1_000_000 + created
					// Newer than every channel listed so far.
					addListed(t, n, listID(i), peers[i%3], base.Add(time.Hour+time.Duration(created)), channel.Open)
					created++
				}
			}
			stop := make(chan struct{})
			done := make(chan struct{})
			var once sync.Once
			between := func() {
				once.Do(func() {
					go func() { // creates channels while the next pages are read
						defer close(done)
						for {
							select {
							case <-stop:
								return
							default:
								insert(1)
							}
						}
					}()
				})
				insert(3)
			}
			got, pages := pageAll(t, n, tc.q, tc.size, between)
			close(stop)
			once.Do(func() { close(done) }) // a single page: never started
			<-done
			checkListed(t, tc.name, got, tc.want)
			if want := (len(tc.want) + PageLimit(tc.size) - 1) / PageLimit(tc.size); pages < want {
				t.Fatalf("%d pages, want at least %d", pages, want)
			}
			mu.Lock()
			defer mu.Unlock()
			if pages > 1 && created < 3 {
				t.Fatalf("only %d channels created while paging", created)
			}
			// A new first page starts with the newest of them.
			if first, _ := n.ChannelPage(tc.q); first[0].ID != listID(1_000_000+created-1) && tc.q.Peer.IsZero() {
				t.Fatalf("the first page starts with %s, not the newest channel", first[0].ID)
			}
		})
	}
}

// TestChannelPageScanIsBounded: without All, a page passes over settled
// channels, but examines a bounded number of them: a node with many
// settled channels answers in short pages (even empty ones) that go on to
// the end, and lists every open channel once.
func TestChannelPageScanIsBounded(t *testing.T) {
	was := maxPageScan
	t.Cleanup(func() { maxPageScan = was })
	maxPageScan = 50
	n := listNode()
	base := time.Unix(1_800_000_000, 0)
	want := map[channel.ID]bool{}
	for i := range 1000 {
		phase := channel.Settled
		if i%400 == 7 {
			phase = channel.Open
			want[listID(i)] = true
		}
		addListed(t, n, listID(i), crypto.Address{1}, base.Add(time.Duration(i)*time.Second), phase)
	}
	got, pages := pageAll(t, n, ChannelQuery{}, 10, nil)
	checkListed(t, "open among settled", got, want)
	if pages < 1000/50 {
		t.Fatalf("%d pages for 1,000 channels at 50 examined a page, want at least %d", pages, 1000/50)
	}
	// Channels lists the same, going through the pages itself.
	checkListed(t, "Channels", n.Channels(crypto.Address{}, false), want)
}

// TestChannelPageRemoved: a channel forgotten while a caller pages (a
// proposal abandoned) is not listed after it went, and the paging goes on
// from its place even when the cursor names it.
func TestChannelPageRemoved(t *testing.T) {
	n := listNode()
	base := time.Unix(1_800_000_000, 0)
	for i := range 10 {
		addListed(t, n, listID(i), crypto.Address{1}, base.Add(time.Duration(i)*time.Second), channel.Open)
	}
	page, next := n.ChannelPage(ChannelQuery{Limit: 4})
	if len(page) != 4 || next == nil || page[0].ID != listID(9) || next.ID != listID(6) {
		t.Fatalf("first page %d channels, next %+v", len(page), next)
	}
	n.chans.remove(n.chans.get(listID(6))) // the cursor's own channel
	n.chans.remove(n.chans.get(listID(5)))
	rest, _ := pageAll(t, n, ChannelQuery{After: next}, 4, nil)
	var ids []channel.ID
	for _, ci := range rest {
		ids = append(ids, ci.ID)
	}
	if want := []channel.ID{listID(4), listID(3), listID(2), listID(1), listID(0)}; !slices.Equal(ids, want) {
		t.Fatalf("after the cursor: %v, want %v", ids, want)
	}
}

// TestChannelPagesAfterRestart opens channels between real nodes and pages
// through them before and after alice restarts (the registry is rebuilt
// from the store, in the store's order): the same channels, in the same
// order, newest first; with a peer's filter too.
func TestChannelPagesAfterRestart(t *testing.T) {
	w := newNet(t)
	alice, bob, carol := w.add("alice", 1), w.add("bob", 2), w.add("carol", 3)
	alice.connect(bob)
	alice.connect(carol)
	var opened []channel.ID
	for i := range 5 {
		peer := bob
		if i%2 == 1 {
			peer = carol
		}
		opened = append(opened, alice.open(peer, 1000))
	}
	slices.Reverse(opened) // newest first
	ids := func(q ChannelQuery) []channel.ID {
		got, _ := pageAll(t, alice.n, q, 2, nil)
		var out []channel.ID
		for _, ci := range got {
			out = append(out, ci.ID)
		}
		return out
	}
	toBob := []channel.ID{opened[0], opened[2], opened[4]}
	check := func(when string) {
		t.Helper()
		if got := ids(ChannelQuery{}); !slices.Equal(got, opened) {
			t.Fatalf("%s: pages list %v, want %v", when, got, opened)
		}
		if got := ids(ChannelQuery{Peer: bob.key.Address()}); !slices.Equal(got, toBob) {
			t.Fatalf("%s: bob's pages list %v, want %v", when, got, toBob)
		}
	}
	check("before the restart")
	alice.restart()
	check("after the restart")
}

// TestPaymentPagesAreBounded: a page of payments reads a bounded stretch
// of the log, so asking for one channel's payments in a log full of
// another's answers in short pages (empty ones too) with a place to go on
// from; paging on finds each payment once, in log order.
func TestPaymentPagesAreBounded(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	busy := alice.open(bob, 1000)
	for i := range 20 {
		alice.pay(busy, 1, fmt.Sprint("busy-", i))
	}
	quiet := alice.open(bob, 1000)
	alice.pay(quiet, 2, "quiet-0")

	was := maxPaymentScan
	t.Cleanup(func() { maxPaymentScan = was })
	maxPaymentScan = 5
	page := func(after uint64, limit int, only channel.ID) ([]PaymentInfo, uint64) {
		var out []PaymentInfo
		var next uint64
		var err error
		guard(t, "Payments", func() { out, next, err = alice.n.Payments(after, limit, only) })
		if err != nil {
			t.Fatal(err)
		}
		return out, next
	}
	first, next := page(0, 100, quiet)
	if len(first) != 0 || next == 0 {
		t.Fatalf("the first page of the quiet channel: %d payments, next %d; want none and a place to go on from", len(first), next)
	}
	for _, tc := range []struct {
		only  channel.ID
		want  int
		limit int
	}{
		{quiet, 1, 100},          // one payment far into the log
		{busy, 20, 3},            // pages of 3
		{channel.ID{}, 21, 1000}, // every payment
	} {
		var got []PaymentInfo
		var after uint64
		calls := 0
		for {
			p, next := page(after, tc.limit, tc.only)
			calls++
			if len(p) > tc.limit {
				t.Fatalf("a page of %d payments, limit %d", len(p), tc.limit)
			}
			got = append(got, p...)
			if next == 0 {
				break
			}
			if next <= after {
				t.Fatalf("next %d after %d", next, after)
			}
			after = next
		}
		if len(got) != tc.want {
			t.Fatalf("channel %s: %d payments, want %d", tc.only, len(got), tc.want)
		}
		for i := 1; i < len(got); i++ {
			if got[i].Seq <= got[i-1].Seq {
				t.Fatalf("payment seq %d after %d", got[i].Seq, got[i-1].Seq)
			}
		}
		if calls < 2 {
			t.Fatalf("channel %s: %d calls: the scan was not bounded", tc.only, calls)
		}
		if tc.only == quiet && !got[0].Amount.Eq(uint256.NewInt(2)) {
			t.Fatalf("the quiet channel's payment: %s", got[0].Amount.Dec())
		}
	}
}

// TestEventHistoryPagesBack: Events pages back through the log, newest
// first, with a kind filter; each page reads a bounded stretch of the log,
// so the rare channel events among many payments come in short (even
// empty) pages with a place to go on from, each once, and the whole log
// once with no filter. A bad kind is refused.
func TestEventHistoryPagesBack(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	first := alice.open(bob, 1000)
	for i := range 20 {
		alice.pay(first, 1, fmt.Sprint("p-", i))
	}
	alice.open(bob, 1000)

	was := maxPaymentScan
	t.Cleanup(func() { maxPaymentScan = was })
	maxPaymentScan = 5
	// The log may still grow (a channel event the watcher logs late): page
	// back from what it holds now.
	last := alice.st.LastSeq()
	all := func(kinds []string, limit int) (got []Event, calls int) {
		before := last + 1
		for {
			var page []Event
			var next uint64
			var err error
			guard(t, "Events", func() { page, next, err = alice.n.Events(before, kinds, limit) })
			if err != nil {
				t.Fatal(err)
			}
			calls++
			if len(page) > limit {
				t.Fatalf("a page of %d, limit %d", len(page), limit)
			}
			got = append(got, page...)
			if next == 0 {
				return got, calls
			}
			if next >= before {
				t.Fatalf("next %d after %d: not going back", next, before)
			}
			before = next
		}
	}
	everything, _ := all(nil, 1000)
	if uint64(len(everything)) != last {
		t.Fatalf("%d events with no filter, want the whole log of %d", len(everything), last)
	}
	for i, ev := range everything {
		if ev.Seq != last-uint64(i) {
			t.Fatalf("event %d has seq %d: not newest first", i, ev.Seq)
		}
	}
	var wantChannel []uint64
	for _, ev := range everything {
		if ev.Kind() == KindChannel {
			wantChannel = append(wantChannel, ev.Seq)
		}
	}
	got, calls := all([]string{KindChannel}, 2)
	var seqs []uint64
	for _, ev := range got {
		if ev.Channel == nil {
			t.Fatalf("a %s event among the channel events", ev.Kind())
		}
		seqs = append(seqs, ev.Seq)
	}
	if !slices.Equal(seqs, wantChannel) || calls < len(everything)/5 {
		t.Fatalf("channel events %v in %d calls, want %v in at least %d bounded calls", seqs, calls, wantChannel, len(everything)/5)
	}
	if _, _, err := alice.n.Events(0, []string{"payments"}, 10); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("a bad kind: %v", err)
	}
}
