package rpc

import (
	"context"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinypay/tinypay/node"
)

// The hosts of issue 9's attack on loopback: Linux routes all of 127/8 to
// lo, so a dialer can bind any of them.
var (
	malloryHost = netip.MustParseAddr("127.0.0.2")
	bobHost     = netip.MustParseAddr("127.0.0.1") // the source of a dial to 127.0.0.1
)

// TestOneHostCannotCrowdOutPeers replays issue 9: Mallory's host opens 80
// idle TCP connections to Alice and reopens each one as soon as Alice
// closes it, while Bob, from another address, dials with his node key.
// With the per-source bound Mallory holds at most
// MaxUnauthenticatedPerSource slots, every refusal reaches the Refused
// hook, and Bob completes the handshake and exchanges messages. With the
// per-source bound as high as the total (the transport before the bound)
// Mallory holds every slot and Bob is refused: the attack is real.
func TestOneHostCannotCrowdOutPeers(t *testing.T) {
	requireLoopbackHost(t, malloryHost)
	const total = 64
	for _, tt := range []struct {
		name      string
		perSource int
		bobGetsIn bool
	}{
		// The default: Mallory is one source among many.
		{"per-source bound", DefaultLimits().MaxUnauthenticatedPerSource, true},
		// No bound of its own: Mallory's connections take every slot.
		{"total bound only", total, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, aliceKey)
			cfg.MaxUnauthenticated = total
			cfg.MaxUnauthenticatedPerSource = tt.perSource
			// Mallory's slots must not expire while Bob dials, or he could
			// slip in without the bound.
			cfg.HandshakeTimeout = 5 * time.Second
			var refused refusals
			cfg.Refused = refused.hook
			ts := startServer(t, cfg, nil)

			opened := floodFrom(t, malloryHost, ts.addr, 80, 100*time.Millisecond)
			mallory := netip.PrefixFrom(malloryHost, 32)
			// Mallory has taken what she can: she holds her share and the
			// rest of her connections are being refused, at whichever bound.
			waitUntil(t, func() bool {
				return ts.srv.lim.unauthenticatedFrom(mallory) >= tt.perSource && refusedSource(refused.all(), malloryHost.String())
			})
			// Refused connections come back: Mallory keeps at it.
			waitUntil(t, func() bool { return opened.Load() > 100 })

			bob, err := dial(t, testConfig(t, bobKey), ts.addr, aliceKey.Address())
			calls := refused.all()
			if tt.bobGetsIn && err != nil {
				t.Fatalf("Bob could not connect while Mallory floods: %v (Mallory holds %d slots)", err, ts.srv.lim.unauthenticatedFrom(mallory))
			}
			if n := ts.srv.lim.unauthenticatedFrom(mallory); n > tt.perSource {
				t.Fatalf("Mallory holds %d slots, more than %d", n, tt.perSource)
			}
			if !tt.bobGetsIn {
				if err == nil {
					t.Fatal("Bob got in although Mallory held every slot: the attack no longer works, so this row proves nothing")
				}
				if !hasRefusal(calls, refusal{bound: node.BoundUnauthenticated, source: bobHost.String(), limit: total}) {
					t.Errorf("Bob's refusal at the total bound did not reach the hook; got %v", summarize(calls))
				}
				return
			}

			alice := ts.accepted(t)
			if alice.Peer() != bobKey.Address() {
				t.Fatalf("Alice sees %s, want Bob", alice.Peer())
			}
			for i, dir := range []struct{ from, to *PeerConn }{{bob, alice}, {alice, bob}} {
				if err := dir.from.Send(proof(uint64(i))); err != nil {
					t.Fatalf("Send %d: %v", i, err)
				}
				m, err := dir.to.Recv()
				if err != nil {
					t.Fatalf("Recv %d: %v", i, err)
				}
				if m.GetProof().GetNonce() != uint64(i) {
					t.Fatalf("Recv %d: got %v", i, m)
				}
			}

			if !hasRefusal(calls, refusal{bound: node.BoundUnauthenticatedHost, source: malloryHost.String(), limit: tt.perSource}) {
				t.Errorf("Mallory's refusals did not reach the hook as %s; got %v", node.BoundUnauthenticatedHost, summarize(calls))
			}
			for _, c := range refused.all() {
				if c.source != malloryHost.String() || c.bound != node.BoundUnauthenticatedHost {
					t.Errorf("unexpected refusal %+v: only Mallory, at her own bound, should be refused", c)
				}
			}
		})
	}
}

// floodFrom opens n TCP connections from host to addr that never send a
// byte, and reopens each one every pause after the server closes it, until
// the test ends. It returns the count of connections opened so far.
func floodFrom(t *testing.T, host netip.Addr, addr string, n int, pause time.Duration) *atomic.Int64 {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var opened atomic.Int64
	var wg sync.WaitGroup
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(host, 0)), Timeout: time.Second}
	for range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				c, err := d.DialContext(ctx, "tcp", addr)
				if err == nil {
					opened.Add(1)
					stop := context.AfterFunc(ctx, func() { _ = c.Close() })
					_, _ = io.Copy(io.Discard, c) // until the server closes it
					stop()
					_ = c.Close()
				}
				select {
				case <-ctx.Done():
				case <-time.After(pause):
				}
			}
		})
	}
	t.Cleanup(func() { // before the server stops: cleanups run last first
		cancel()
		wg.Wait()
	})
	return &opened
}

// requireLoopbackHost skips the test where host cannot be bound (loopback
// beyond 127.0.0.1 is Linux's).
func requireLoopbackHost(t *testing.T, host netip.Addr) {
	t.Helper()
	lis, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(host, 0)))
	if err != nil {
		t.Skipf("cannot use %s as a second loopback host: %v", host, err)
	}
	_ = lis.Close()
}

// refusedSource reports whether a call refused source.
func refusedSource(calls []refusal, source string) bool {
	for _, c := range calls {
		if c.source == source {
			return true
		}
	}
	return false
}

func hasRefusal(calls []refusal, want refusal) bool {
	for _, c := range calls {
		if c == want {
			return true
		}
	}
	return false
}

// summarize counts refusals by bound and source, for failure messages.
func summarize(calls []refusal) map[refusal]int {
	m := make(map[refusal]int)
	for _, c := range calls {
		m[c]++
	}
	return m
}
