package rpc

import (
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinypay/tinypay/crypto"
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
		// Too small for a Hello.
		{"tiny messages", func(c *PeerConfig) { c.MaxMessageBytes = 100 }, false},
		// Beyond what gRPC should buffer.
		{"huge messages", func(c *PeerConfig) { c.MaxMessageBytes = 1 << 30 }, false},
		// No handshake deadline.
		{"no handshake timeout", func(c *PeerConfig) { c.HandshakeTimeout = 0 }, false},
		// Nobody could connect.
		{"no unauthenticated", func(c *PeerConfig) { c.MaxUnauthenticated = 0 }, false},
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

func TestConnLimiter(t *testing.T) {
	l := DefaultLimits()
	l.MaxUnauthenticated = 2
	l.HandshakeTimeout = 100 * time.Millisecond
	lim := newConnLimiter(l)
	pipe := func() net.Conn { return &fakeConn{} }

	g1, ok1 := lim.admit(pipe())
	g2, ok2 := lim.admit(pipe())
	if _, ok := lim.admit(pipe()); !ok1 || !ok2 || ok {
		t.Fatalf("admitted %v %v %v, want the first two", ok1, ok2, ok)
	}
	g1.authenticated() // frees a slot; the connection stays
	g1.closed()        // and closing it later frees nothing twice
	if lim.unauthenticated() != 1 {
		t.Fatalf("unauthenticated = %d, want 1", lim.unauthenticated())
	}
	if d := g2.streamDeadline(time.Now().Add(time.Hour)); !d.Equal(g2.deadline) {
		t.Errorf("an unauthenticated connection's stream deadline %v is past the connection's %v", d, g2.deadline)
	}
	waitUntil(t, func() bool { return lim.unauthenticated() == 0 }) // g2 expires
	if !g2.raw.(*fakeConn).closed.Load() {
		t.Error("expired connection still open")
	}
	if _, ok := lim.admit(pipe()); !ok {
		t.Fatal("no slot after expiry")
	}
}

type fakeConn struct {
	net.Conn
	closed atomic.Bool
}

func (c *fakeConn) Close() error { c.closed.Store(true); return nil }
