package rpc

import (
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node"
)

func TestPeerConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*PeerConfig)
		ok     bool
	}{
		// A complete config.
		{"ok", func(*PeerConfig) {}, true},
		// Not listening is fine.
		{"no listen address", func(c *PeerConfig) { c.ListenAddr = "" }, true},
		// The certificate is only needed by NewPeerServer.
		{"no certificate", func(c *PeerConfig) { c.Certificate = nil }, true},
		// The node key is the identity.
		{"no key", func(c *PeerConfig) { c.Key = nil }, false},
		// Chain id 0 is no chain.
		{"no chain", func(c *PeerConfig) { c.ChainID = 0 }, false},
		// The adjudicator is in every Hello.
		{"no adjudicator", func(c *PeerConfig) { c.Adjudicator = crypto.Address{} }, false},
		// host:port or nothing.
		{"bad listen address", func(c *PeerConfig) { c.ListenAddr = "localhost" }, false},
		// Four addresses to advertise in all.
		{"four listen addresses", func(c *PeerConfig) { c.MoreListenAddrs = []string{"b:1", "c:2", "d:3"} }, true},
		// Five.
		{"five listen addresses", func(c *PeerConfig) { c.MoreListenAddrs = []string{"b:1", "c:2", "d:3", "e:4"} }, false},
		// More without the first.
		{"more listen addresses alone", func(c *PeerConfig) { c.ListenAddr, c.MoreListenAddrs = "", []string{"b:1"} }, false},
		// An empty one.
		{"empty further listen address", func(c *PeerConfig) { c.MoreListenAddrs = []string{""} }, false},
		// One that is no host:port.
		{"bad further listen address", func(c *PeerConfig) { c.MoreListenAddrs = []string{"localhost"} }, false},
		// Too small for a Hello.
		{"tiny messages", func(c *PeerConfig) { c.MaxMessageBytes = 100 }, false},
		// Beyond what gRPC should buffer.
		{"huge messages", func(c *PeerConfig) { c.MaxMessageBytes = 1 << 30 }, false},
		// No handshake deadline.
		{"no handshake timeout", func(c *PeerConfig) { c.HandshakeTimeout = 0 }, false},
		// Nobody could connect.
		{"no unauthenticated", func(c *PeerConfig) { c.MaxUnauthenticated = 0 }, false},
		// Nobody could connect either.
		{"no unauthenticated per source", func(c *PeerConfig) { c.MaxUnauthenticatedPerSource = 0 }, false},
		// One source may take every slot (a node behind a proxy).
		{"per source equals total", func(c *PeerConfig) { c.MaxUnauthenticatedPerSource = c.MaxUnauthenticated }, true},
		// A per-source limit above the total is a mistake.
		{"per source above total", func(c *PeerConfig) { c.MaxUnauthenticatedPerSource = c.MaxUnauthenticated + 1 }, false},
		// Send needs a queue.
		{"no send queue", func(c *PeerConfig) { c.SendQueue = 0 }, false},
		// Send needs a deadline.
		{"no send timeout", func(c *PeerConfig) { c.SendTimeout = -time.Second }, false},
		// Keepalive needs both.
		{"no keepalive timeout", func(c *PeerConfig) { c.KeepaliveTimeout = 0 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, aliceKey)
			tt.mutate(&cfg)
			err := cfg.Validate()
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrConfig)) {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	if err := DefaultPeerConfig().Limits.Validate(); err != nil {
		t.Fatalf("default limits: %v", err)
	}
	if _, err := NewPeerServer(func() PeerConfig { c := testConfig(t, aliceKey); c.Certificate = nil; return c }(), func(*PeerConn) {}); !errors.Is(err, ErrConfig) {
		t.Fatalf("NewPeerServer without certificate: %v", err)
	}
	if _, err := NewPeerServer(testConfig(t, aliceKey), nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("NewPeerServer without handler: %v", err)
	}
}

// TestConnLimiter: connections are refused beyond the per-source and the
// total limit, and a slot is freed once, by authentication, close or
// expiry.
func TestConnLimiter(t *testing.T) {
	l := DefaultLimits()
	l.MaxUnauthenticated = 5
	l.MaxUnauthenticatedPerSource = 2
	l.HandshakeTimeout = 100 * time.Millisecond
	var refused refusals
	lim := newConnLimiter(l, refused.hook)
	from := func(hostport string) net.Conn {
		return &fakeConn{remote: net.TCPAddrFromAddrPort(netip.MustParseAddrPort(hostport))}
	}
	admit := func(hostport string) *connGuard {
		t.Helper()
		g, ok := lim.admit(from(hostport))
		if !ok {
			t.Fatalf("%s refused with %d unauthenticated", hostport, lim.unauthenticated())
		}
		return g
	}
	// refuse checks that hostport is refused and that the hook heard
	// of it with want.
	refuse := func(hostport string, want refusal) {
		t.Helper()
		before := len(refused.all())
		if _, ok := lim.admit(from(hostport)); ok {
			t.Fatalf("%s admitted with %d unauthenticated", hostport, lim.unauthenticated())
		}
		if got := refused.all()[before:]; len(got) != 1 || got[0] != want {
			t.Fatalf("%s refused: hook called with %+v, want %+v", hostport, got, want)
		}
	}
	perSource := func(source string) refusal {
		return refusal{bound: node.BoundUnauthenticatedHost, source: source, limit: 2}
	}
	total := func(source string) refusal {
		return refusal{bound: node.BoundUnauthenticated, source: source, limit: 5}
	}

	a1 := admit("10.0.0.1:1000")
	a2 := admit("10.0.0.1:1001")
	refuse("10.0.0.1:1002", perSource("10.0.0.1")) // at 2; other ports are the same host
	b1 := admit("10.0.0.2:1000")
	admit("[2001:db8::1]:1000")
	admit("[2001:db8::2]:1000")
	refuse("[2001:db8::3]:1000", perSource("2001:db8::/64"))     // the same /64 is at 2
	refuse("[2001:db8:0:1::1]:1000", total("2001:db8:0:1::/64")) // another /64, but 5 in total
	refuse("[::ffff:10.0.0.3]:1000", total("10.0.0.3"))          // a new IPv4 source (mapped), but 5 in total
	refuse("10.0.0.1:1002", perSource("10.0.0.1"))               // both: the source is named
	if n := lim.unauthenticatedFrom(netip.MustParsePrefix("10.0.0.1/32")); n != 2 {
		t.Fatalf("10.0.0.1 holds %d slots, want 2", n)
	}

	// Authentication frees a slot of 10.0.0.1 (the connection stays), and
	// closing the connection later frees nothing twice.
	a1.authenticated()
	a1.closed()
	a3 := admit("[::ffff:10.0.0.1]:1002") // the same source, mapped
	refuse("10.0.0.1:1003", perSource("10.0.0.1"))
	// Closing frees one.
	a2.closed()
	admit("10.0.0.1:1003")
	if lim.unauthenticated() != 5 {
		t.Fatalf("unauthenticated = %d, want 5", lim.unauthenticated())
	}

	if d := b1.streamDeadline(time.Now().Add(time.Hour)); !d.Equal(b1.deadline) {
		t.Errorf("an unauthenticated connection's stream deadline %v is past the connection's %v", d, b1.deadline)
	}
	waitUntil(t, func() bool { return lim.unauthenticated() == 0 }) // the rest expire
	if !a3.raw.(*fakeConn).closed.Load() || !b1.raw.(*fakeConn).closed.Load() {
		t.Error("expired connection still open")
	}
	if a1.raw.(*fakeConn).closed.Load() {
		t.Error("authenticated connection closed at expiry")
	}
	lim.mu.Lock()
	sources := len(lim.bySource)
	lim.mu.Unlock()
	if sources != 0 {
		t.Errorf("%d sources still counted after every slot was freed", sources)
	}
	admit("10.0.0.1:1004")
	admit("10.0.0.1:1005")
}

// TestConnLimiterWithoutSource: a connection whose address is not an IP
// address counts only toward the total.
func TestConnLimiterWithoutSource(t *testing.T) {
	l := DefaultLimits()
	l.MaxUnauthenticated = 3
	l.MaxUnauthenticatedPerSource = 1
	var refused refusals
	lim := newConnLimiter(l, refused.hook)
	for i := range 3 {
		if _, ok := lim.admit(&fakeConn{remote: &net.UnixAddr{Name: "/run/tinypay.sock", Net: "unix"}}); !ok {
			t.Fatalf("unix connection %d refused", i)
		}
	}
	if _, ok := lim.admit(&fakeConn{remote: &net.UnixAddr{Name: "/run/tinypay.sock", Net: "unix"}}); ok {
		t.Fatal("a connection beyond the total admitted")
	}
	want := refusal{bound: node.BoundUnauthenticated, source: "/run/tinypay.sock", limit: 3}
	if got := refused.all(); len(got) != 1 || got[0] != want {
		t.Fatalf("hook called with %+v, want %+v", got, want)
	}
	// Without a hook, a refusal is only a refusal.
	nohook := newConnLimiter(l, nil)
	for range 3 {
		nohook.admit(&fakeConn{remote: &net.UnixAddr{Name: "/run/tinypay.sock", Net: "unix"}})
	}
	if _, ok := nohook.admit(&fakeConn{remote: &net.UnixAddr{Name: "/run/tinypay.sock", Net: "unix"}}); ok {
		t.Fatal("a connection beyond the total admitted without a hook")
	}
}

func TestSourceOf(t *testing.T) {
	tcp := func(hostport string) net.Addr {
		return net.TCPAddrFromAddrPort(netip.MustParseAddrPort(hostport))
	}
	tests := []struct {
		name string
		addr net.Addr
		want string // "" for no source
	}{
		// An IPv4 host, without its port.
		{"ipv4", tcp("192.0.2.7:40000"), "192.0.2.7/32"},
		// On a dual-stack listener IPv4 arrives mapped: the same source.
		{"ipv4 mapped", tcp("[::ffff:192.0.2.7]:40000"), "192.0.2.7/32"},
		// IPv6 by /64.
		{"ipv6", tcp("[2001:db8:1:2:3:4:5:6]:40000"), "2001:db8:1:2::/64"},
		// A zone does not make another source.
		{"ipv6 zone", &net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 1, Zone: "eth0"}, "fe80::/64"},
		// Another net.Addr that prints host:port.
		{"other ip addr", &net.UDPAddr{IP: net.IPv4(198, 51, 100, 1), Port: 9}, "198.51.100.1/32"},
		// No IP address: no source.
		{"unix", &net.UnixAddr{Name: "/tmp/s", Net: "unix"}, ""},
		{"tcp without ip", &net.TCPAddr{Port: 1}, ""},
		{"nil", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ok := sourceOf(tt.addr)
			got := ""
			if ok {
				got = p.String()
			}
			if got != tt.want {
				t.Fatalf("sourceOf(%v) = %q, want %q", tt.addr, got, tt.want)
			}
		})
	}
}

type fakeConn struct {
	net.Conn
	remote net.Addr
	closed atomic.Bool
}

func (c *fakeConn) RemoteAddr() net.Addr { return c.remote }
func (c *fakeConn) Close() error         { c.closed.Store(true); return nil }
