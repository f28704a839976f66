package rpc

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/tinypay/tinypay/node"
)

// Limits bounds what one peer, or a crowd of unauthenticated strangers, can
// make the transport hold. PeerConfig embeds it.
type Limits struct {
	// MaxMessageBytes is the largest encoded Message accepted or sent. A
	// peer that sends a larger one is disconnected.
	MaxMessageBytes int
	// HandshakeTimeout bounds the TLS handshake plus the Hello exchange,
	// on both sides.
	HandshakeTimeout time.Duration
	// MaxUnauthenticated is how many accepted connections may be in their
	// handshake at once (from TCP accept until a stream on them proved a
	// node key). Further connections are closed at once, before TLS.
	MaxUnauthenticated int
	// MaxUnauthenticatedPerSource is how many of those may come from one
	// source at once, so that one host cannot take every slot and lock
	// honest peers out. The source of a connection is its remote IP
	// address, without the port; IPv6 addresses are grouped by their /64
	// prefix (what one host or one site usually gets), and IPv4-mapped
	// IPv6 addresses count as the IPv4 address. A connection whose remote
	// address is not an IP address (a Unix socket) counts only toward
	// MaxUnauthenticated. Further connections from a source at the limit
	// are closed at once, before TLS. A node behind a proxy that connects
	// from one address for everybody should set it to MaxUnauthenticated.
	MaxUnauthenticatedPerSource int
	// SendQueue is how many messages Send queues ahead of the network.
	// Send blocks while the queue is full, at most SendTimeout.
	SendQueue int
	// SendTimeout ends a connection whose peer stops reading: when the
	// send queue stays full, or one write stalls, for this long.
	SendTimeout time.Duration
	// KeepaliveInterval is how long a connection may be silent before a
	// keepalive ping (gRPC raises anything below 10 s to 10 s on the
	// dialing side).
	KeepaliveInterval time.Duration
	// KeepaliveTimeout is how long a ping may go unanswered before the
	// connection is considered dead.
	KeepaliveTimeout time.Duration
}

// DefaultLimits returns the limits DefaultPeerConfig uses.
func DefaultLimits() Limits {
	return Limits{
		MaxMessageBytes:             1 << 20,
		HandshakeTimeout:            5 * time.Second,
		MaxUnauthenticated:          64,
		MaxUnauthenticatedPerSource: 8,
		SendQueue:                   256,
		SendTimeout:                 30 * time.Second,
		KeepaliveInterval:           30 * time.Second,
		KeepaliveTimeout:            10 * time.Second,
	}
}

// Bounds checked by Validate.
const (
	minMessageBytes = 4 << 10  // a Hello and any protocol message fit
	maxMessageBytes = 64 << 20 // gRPC buffers whole messages
)

// Validate reports the first limit out of range, as an error matching
// ErrConfig.
func (l Limits) Validate() error {
	switch {
	case l.MaxMessageBytes < minMessageBytes || l.MaxMessageBytes > maxMessageBytes:
		return fmt.Errorf("%w: MaxMessageBytes %d not in [%d, %d]", ErrConfig, l.MaxMessageBytes, minMessageBytes, maxMessageBytes)
	case l.HandshakeTimeout <= 0:
		return fmt.Errorf("%w: HandshakeTimeout must be positive", ErrConfig)
	case l.MaxUnauthenticated < 1:
		return fmt.Errorf("%w: MaxUnauthenticated must be at least 1", ErrConfig)
	case l.MaxUnauthenticatedPerSource < 1 || l.MaxUnauthenticatedPerSource > l.MaxUnauthenticated:
		return fmt.Errorf("%w: MaxUnauthenticatedPerSource %d not in [1, MaxUnauthenticated %d]", ErrConfig, l.MaxUnauthenticatedPerSource, l.MaxUnauthenticated)
	case l.SendQueue < 1:
		return fmt.Errorf("%w: SendQueue must be at least 1", ErrConfig)
	case l.SendTimeout <= 0:
		return fmt.Errorf("%w: SendTimeout must be positive", ErrConfig)
	case l.KeepaliveInterval <= 0 || l.KeepaliveTimeout <= 0:
		return fmt.Errorf("%w: keepalive interval and timeout must be positive", ErrConfig)
	}
	return nil
}

// Fixed limits, not worth a knob.
const (
	// recvBuffer is how many decoded messages wait for Recv; beyond it the
	// reader stops and gRPC flow control holds the peer back.
	recvBuffer = 8
	// maxStreamsPerConn bounds concurrent streams on one connection; a
	// dialer uses one.
	maxStreamsPerConn = 4
	// maxHeaderBytes bounds the gRPC header list a peer may send.
	maxHeaderBytes = 8 << 10
	// idleConnTimeout closes connections that carry no stream.
	idleConnTimeout = time.Minute
	// keepaliveMinTime is the most frequent ping the server tolerates
	// (gRPC clients never ping more often than every 10 s).
	keepaliveMinTime = 5 * time.Second
	// maxCloseLinger bounds how long a closing connection waits to flush
	// its queue and its Error message.
	maxCloseLinger = time.Second
)

// closeLinger is how long a closing connection waits for its writer and for
// the peer to end the stream before it cuts the stream.
func (l Limits) closeLinger() time.Duration { return min(l.SendTimeout, maxCloseLinger) }

// connLimiter counts accepted connections that have not yet authenticated
// a stream, in total and per source (see sourceOf), refuses new ones beyond
// either limit, and closes each one that does not authenticate in time.
type connLimiter struct {
	max          int           // in total
	maxPerSource int           // from one source
	timeout      time.Duration // until the handshake must be done
	grace        time.Duration // after that, until the socket is cut
	refused      func(bound string, args ...any)

	mu       sync.Mutex
	total    int
	bySource map[netip.Prefix]int // only sources holding a slot
}

// newConnLimiter applies l; refused (nil: nothing) hears of each refusal,
// as PeerConfig.Refused.
func newConnLimiter(l Limits, refused func(bound string, args ...any)) *connLimiter {
	return &connLimiter{
		max:          l.MaxUnauthenticated,
		maxPerSource: l.MaxUnauthenticatedPerSource,
		timeout:      l.HandshakeTimeout,
		refused:      refused,
		// Streams time out at the deadline and send their reason; the
		// socket is cut a little later, for a stalled TLS handshake or a
		// connection that never opened a stream.
		grace:    l.HandshakeTimeout/4 + 10*time.Millisecond,
		bySource: make(map[netip.Prefix]int),
	}
}

// admit takes a slot for raw, or reports false if its source or the whole
// limiter is at its limit, after telling l.refused which (the source's
// limit when both are reached: it is the source that is crowding).
func (l *connLimiter) admit(raw net.Conn) (*connGuard, bool) {
	src, hasSrc := sourceOf(raw.RemoteAddr())
	l.mu.Lock()
	bound, limit := "", 0
	switch {
	case hasSrc && l.bySource[src] >= l.maxPerSource:
		bound, limit = node.BoundUnauthenticatedHost, l.maxPerSource
	case l.total >= l.max:
		bound, limit = node.BoundUnauthenticated, l.max
	}
	if bound != "" {
		l.mu.Unlock()
		if l.refused != nil {
			l.refused(bound, "source", sourceName(raw.RemoteAddr(), src, hasSrc), "limit", limit)
		}
		return nil, false
	}
	l.total++
	if hasSrc {
		l.bySource[src]++
	}
	l.mu.Unlock()
	g := &connGuard{l: l, raw: raw, src: src, hasSrc: hasSrc, deadline: time.Now().Add(l.timeout)}
	// Under g.mu, where expire, closed and authenticated read it.
	g.mu.Lock()
	g.timer = time.AfterFunc(l.timeout+l.grace, g.expire)
	g.mu.Unlock()
	return g, true
}

// release gives back a slot that admit took.
func (l *connLimiter) release(src netip.Prefix, hasSrc bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if hasSrc {
		if n := l.bySource[src] - 1; n > 0 {
			l.bySource[src] = n
		} else {
			delete(l.bySource, src)
		}
	}
}

// unauthenticated is the number of connections holding a slot.
func (l *connLimiter) unauthenticated() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// unauthenticatedFrom is the number of connections from src holding a slot.
func (l *connLimiter) unauthenticatedFrom(src netip.Prefix) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bySource[src]
}

// sourceName is how a refusal names the source: the IPv4 address, the
// IPv6 /64 prefix, or the address as it prints when it is not an IP address.
func sourceName(addr net.Addr, src netip.Prefix, hasSrc bool) string {
	switch {
	case hasSrc && src.Addr().Is4():
		return src.Addr().String()
	case hasSrc:
		return src.String()
	case addr == nil:
		return ""
	}
	return addr.String()
}

// sourceOf returns the source a connection from addr counts against (see
// node.SourceOf).
func sourceOf(addr net.Addr) (netip.Prefix, bool) {
	if addr == nil {
		return netip.Prefix{}, false
	}
	return node.SourceOf(addr.String())
}

// connGuard is one admitted connection's slot.
type connGuard struct {
	l        *connLimiter
	raw      net.Conn
	src      netip.Prefix // the source it counts against, if hasSrc
	hasSrc   bool
	deadline time.Time // the handshake deadline of unauthenticated streams

	mu     sync.Mutex
	timer  *time.Timer
	authed bool
	freed  bool
}

// authenticated records that a stream on the connection proved a node key:
// the slot is freed and the connection may stay.
func (g *connGuard) authenticated() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.authed = true
	g.timer.Stop()
	g.freeLocked()
}

// streamDeadline is when a new stream on the connection must have finished
// its handshake, given that it started at now.
func (g *connGuard) streamDeadline(now time.Time) time.Time {
	d := now.Add(g.l.timeout)
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.authed && g.deadline.Before(d) {
		return g.deadline
	}
	return d
}

// closed frees the slot of a connection that went away.
func (g *connGuard) closed() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.timer.Stop()
	g.freeLocked()
}

func (g *connGuard) expire() {
	g.mu.Lock()
	authed := g.authed
	g.mu.Unlock()
	if authed {
		return
	}
	_ = g.raw.Close() // gRPC sees the error and tears the transport down
	g.closed()
}

func (g *connGuard) freeLocked() {
	if !g.freed {
		g.freed = true
		g.l.release(g.src, g.hasSrc)
	}
}

// guardedConn frees its guard's slot when the transport closes it.
type guardedConn struct {
	net.Conn
	g    *connGuard
	once sync.Once
}

func (c *guardedConn) Close() error {
	c.once.Do(c.g.closed)
	return c.Conn.Close()
}
