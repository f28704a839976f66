package rpc

import (
	"fmt"
	"net"
	"sync"
	"time"
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
		MaxMessageBytes:    1 << 20,
		HandshakeTimeout:   5 * time.Second,
		MaxUnauthenticated: 64,
		SendQueue:          256,
		SendTimeout:        30 * time.Second,
		KeepaliveInterval:  30 * time.Second,
		KeepaliveTimeout:   10 * time.Second,
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
// a stream, refuses new ones beyond the limit, and closes each one that
// does not authenticate in time.
type connLimiter struct {
	slots   chan struct{}
	timeout time.Duration // until the handshake must be done
	grace   time.Duration // after that, until the socket is cut
}

func newConnLimiter(l Limits) *connLimiter {
	return &connLimiter{
		slots:   make(chan struct{}, l.MaxUnauthenticated),
		timeout: l.HandshakeTimeout,
		// Streams time out at the deadline and send their reason; the
		// socket is cut a little later, for a stalled TLS handshake or a
		// connection that never opened a stream.
		grace: l.HandshakeTimeout/4 + 10*time.Millisecond,
	}
}

// admit takes a slot for raw, or reports false if none is free.
func (l *connLimiter) admit(raw net.Conn) (*connGuard, bool) {
	select {
	case l.slots <- struct{}{}:
	default:
		return nil, false
	}
	g := &connGuard{l: l, raw: raw, deadline: time.Now().Add(l.timeout)}
	// Under g.mu, where expire, closed and authenticated read it.
	g.mu.Lock()
	g.timer = time.AfterFunc(l.timeout+l.grace, g.expire)
	g.mu.Unlock()
	return g, true
}

// unauthenticated is the number of connections holding a slot.
func (l *connLimiter) unauthenticated() int { return len(l.slots) }

// connGuard is one admitted connection's slot.
type connGuard struct {
	l        *connLimiter
	raw      net.Conn
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
		<-g.l.slots
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
