package node

import (
	"context"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tinypay/tinypay/crypto"
)

// TestConnectPeerAddrsRefusals: addresses an operator (or a program with
// an admin token) gives that the node would not dial, or too many of
// them, are refused before anything is dialled or remembered.
func TestConnectPeerAddrsRefusals(t *testing.T) {
	w := newNet(t)
	dialer := &countingDialer{dials: map[string]int{}}
	alice := startCustom(t, w, "alice", 1, dialer)
	for _, tc := range []struct {
		name  string
		addrs []string
	}{
		// None at all.
		{"none", nil},
		// Five: more than a node keeps per peer.
		{"five", []string{"a:1", "b:2", "c:3", "d:4", "e:5"}},
		// No port.
		{"no port", []string{"bob.example"}},
		// No host.
		{"no host", []string{":9735"}},
		// Port 0.
		{"port 0", []string{"bob.example:0"}},
		// Beyond 65535.
		{"port too big", []string{"bob.example:70000"}},
		// A name of a port.
		{"port name", []string{"bob.example:https"}},
		// 300 bytes.
		{"too long", []string{strings.Repeat("a", 300) + ":1"}},
		// A newline, which would split the stored list.
		{"newline", []string{"a\nb:1"}},
		// A space.
		{"space", []string{"bob example:1"}},
		// A good one, then a bad one: nothing is dialled.
		{"second bad", []string{"bob.example:1", "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := alice.n.ConnectPeerAddrs(context.Background(), tc.addrs, crypto.Address{})
			if !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("ConnectPeerAddrs(%q): %v, want ErrInvalidArgument", tc.addrs, err)
			}
		})
	}
	dialer.mu.Lock()
	defer dialer.mu.Unlock()
	if len(dialer.dials) != 0 {
		t.Fatalf("refused addresses were dialled: %v", dialer.dials)
	}
	alice.n.peers.mu.Lock()
	defer alice.n.peers.mu.Unlock()
	if len(alice.n.peers.addrs) != 0 {
		t.Fatalf("refused addresses were remembered: %v", alice.n.peers.addrs)
	}
}

// TestMergePeerAddrs: the addresses kept of a peer are those the node
// dials, each once, at most MaxPeerAddrs, in order; the stored form reads
// back the same, and so does the single address an older node stored.
func TestMergePeerAddrs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lists [][]string
		want  []string
	}{
		// The one that answered, then the advertised ones, then the given.
		{"order", [][]string{{"b:2"}, {"a:1", "b:2"}, {"c:3"}}, []string{"b:2", "a:1", "c:3"}},
		// A peer advertising junk and too many: bounded, junk left out.
		{"junk and too many", [][]string{{"a:1"}, {"", "x", ":5", "b:2", "c:3", "d:4", "e:5", "f:6"}}, []string{"a:1", "b:2", "c:3", "d:4"}},
		// Nothing dialable.
		{"nothing", [][]string{{"x", strings.Repeat("h", 300) + ":1"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := mergePeerAddrs(tc.lists...)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("mergePeerAddrs = %q, want %q", got, tc.want)
			}
			if back := decodePeerAddrs(encodePeerAddrs(got)); !slices.Equal(back, got) {
				t.Fatalf("stored and read back: %q, want %q", back, got)
			}
		})
	}
	if got := decodePeerAddrs([]byte("bob.example:9735")); !slices.Equal(got, []string{"bob.example:9735"}) {
		t.Fatalf("an older node's stored address reads as %q", got)
	}
	if got := decodePeerAddrs([]byte("a:1\nb:2\nc:3\nd:4\ne:5\nf:6")); len(got) != MaxPeerAddrs {
		t.Fatalf("a stored list of 6 reads as %d addresses, want %d", len(got), MaxPeerAddrs)
	}
}

// advertDialer dials through inner and makes every connection advertise
// addrs in its Hello.
type advertDialer struct {
	inner Dialer
	addrs []string
}

type advertsConn struct {
	PeerConn
	addrs []string
}

func (c advertsConn) ListenAddrs() []string { return c.addrs }

func (d advertDialer) DialPeer(ctx context.Context, hostport string, want crypto.Address) (PeerConn, error) {
	c, err := d.inner.DialPeer(ctx, hostport, want)
	if err != nil {
		return nil, err
	}
	return advertsConn{c, d.addrs}, nil
}

// TestPeerAdvertisesTooMuch: a peer whose Hello advertises junk and more
// addresses than a node keeps makes the node remember at most
// MaxPeerAddrs dialable ones.
func TestPeerAdvertisesTooMuch(t *testing.T) {
	w := newNet(t)
	w.add("bob", 2)
	alice := startCustom(t, w, "alice", 1, advertDialer{
		inner: nodeDialer{w: w, self: seedKey(1).Address()},
		addrs: []string{"", "no-port", ":1", strings.Repeat("m", 300) + ":1", "m1:1", "m2:1", "m3:1", "m4:1", "m5:1"},
	})
	p, err := alice.n.ConnectPeer(context.Background(), "bob:1", seedKey(2).Address())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"bob:1", "m1:1", "m2:1", "m3:1"}; !slices.Equal(p.DialAddrs, want) {
		t.Fatalf("alice keeps %q of bob, want %q", p.DialAddrs, want)
	}
}

// TestRedialTriesEveryAddress: Alice knows Bob at two addresses (a hot
// standby pair's), of which the first does not answer: she connects at
// the second, remembers both (the one that answered first), keeps them
// across a restart, and when Bob's node comes back at the other address
// her redials find it there and payments go on.
func TestRedialTriesEveryAddress(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	p, err := alice.n.ConnectPeerAddrs(context.Background(), []string{"bob-standby:1", "bob:1"}, bob.key.Address())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"bob:1", "bob-standby:1"}; !slices.Equal(p.DialAddrs, want) {
		t.Fatalf("alice dials bob at %q, want %q", p.DialAddrs, want)
	}
	id := alice.open(bob, 1000)
	alice.pay(id, 10, "before")

	alice.restart()
	if got := alice.n.peerAddrs(bob.key.Address()); !slices.Equal(got, []string{"bob:1", "bob-standby:1"}) {
		t.Fatalf("after a restart alice dials bob at %q", got)
	}
	waitFor(t, "alice redials bob", func() bool { return alice.channel(id).Connected })

	// Bob's node moves to the standby's address (the active process died,
	// the standby took over).
	bob.stop()
	w.mu.Lock()
	delete(w.nodes, "bob")
	w.nodes["bob-standby"] = bob
	w.mu.Unlock()
	bob.start()
	waitFor(t, "alice finds bob at the standby's address", func() bool { return alice.channel(id).Connected })
	alice.pay(id, 20, "after")
	if ci := bob.channel(id); ci.Received.Uint64() != 30 {
		got := ci.Received.Uint64()
		t.Fatalf("bob received %d, want 30", got)
	}
	if got := alice.n.peerAddrs(bob.key.Address()); !slices.Equal(got, []string{"bob-standby:1", "bob:1"}) {
		t.Fatalf("after the move alice dials bob at %q, want the standby's first", got)
	}
	peers := alice.n.Peers()
	if len(peers) != 1 || !slices.Equal(peers[0].DialAddrs, []string{"bob-standby:1", "bob:1"}) {
		t.Fatalf("Peers() = %+v", peers)
	}
}

// TestRestartDialsInboundPeer: a peer that dialled this node, shares a
// channel with it and said where it listens is dialled back at once when
// this node restarts, instead of waiting for the peer's redial (whose
// doubling wait made a creator's restart with 100,000 channels take
// seconds more). Alice here redials only once an hour.
func TestRestartDialsInboundPeer(t *testing.T) {
	w := newNet(t)
	bob := w.add("bob", 2)
	alice := startCustom(t, w, "alice", 1, nodeDialer{w: w, self: seedKey(1).Address(), advertise: "alice:1"},
		func(c *Config) { c.Redial, c.RedialMax = time.Hour, time.Hour })
	alice.connect(bob)
	id := alice.open(bob, 1000)
	alice.pay(id, 10, "before")
	aliceAddr := alice.key.Address()
	waitFor(t, "bob stores where alice listens", func() bool {
		v, err := bob.st.Cursor(peerCursorPrefix + hex.EncodeToString(aliceAddr[:]))
		return err == nil && slices.Equal(decodePeerAddrs(v), []string{"alice:1"})
	})
	bob.stop()
	waitFor(t, "alice sees bob gone", func() bool { return !alice.channel(id).Connected })
	bob.start()
	waitFor(t, "bob dials alice back", func() bool { return alice.channel(id).Connected && bob.channel(id).Connected })
	alice.pay(id, 5, "after")
	if got := u64(bob.channel(id).Received); got != 15 {
		t.Fatalf("bob received %d, want 15", got)
	}
}
