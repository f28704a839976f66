package rpc

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
)

// PeerConfig configures both sides of the peer transport.
type PeerConfig struct {
	// ChainID and Adjudicator must match the other side's; they are in
	// every Hello.
	ChainID     uint64
	Adjudicator crypto.Address
	// Key is the node key whose address the handshake proves. It is used
	// to sign one Hello per connection and never leaves the process.
	Key *crypto.PrivateKey
	// Certificate is the listener's TLS certificate (see
	// LoadOrCreateCertificate). NewPeerServer needs it; DialPeer does not
	// present one.
	Certificate *tls.Certificate
	// ListenAddr is the host:port this node advertises in its Hello as
	// where it accepts peers; empty if it does not.
	ListenAddr string
	// MoreListenAddrs are further host:ports of this node that it
	// advertises after ListenAddr (a hot standby pair's other
	// processes), for peers to try in turn: at most MaxListenAddrs-1,
	// and only with ListenAddr.
	MoreListenAddrs []string
	// Limits bound messages, queues, handshakes and keepalives.
	Limits
	// Logger receives connection events; nil discards them. Keys and TLS
	// secrets are never logged.
	Logger *slog.Logger
	// Refused, if not nil, is called each time a PeerServer refuses a
	// connection at a bound, so that the node can count and log it
	// (node.Bounds.Refused fits). bound is node.BoundUnauthenticated
	// (MaxUnauthenticated was reached) or node.BoundUnauthenticatedHost
	// (MaxUnauthenticatedPerSource was reached by the connection's source);
	// args are slog pairs: "source" (the IPv4 address or the IPv6 /64
	// prefix) and "limit" (the bound's value). It is called from the
	// goroutine that accepted the connection, concurrently with other
	// calls, and must not block. DialPeer does not use it.
	Refused func(bound string, args ...any)
}

// DefaultPeerConfig returns a config with DefaultLimits; ChainID,
// Adjudicator and Key (and Certificate for a server) must still be set.
func DefaultPeerConfig() PeerConfig {
	return PeerConfig{Limits: DefaultLimits()}
}

// Validate reports the first invalid field, as an error matching ErrConfig.
// It does not require Certificate, which only NewPeerServer needs.
func (c PeerConfig) Validate() error {
	switch {
	case c.Key == nil:
		return fmt.Errorf("%w: Key is required", ErrConfig)
	case c.ChainID == 0:
		return fmt.Errorf("%w: ChainID is required", ErrConfig)
	case c.Adjudicator.IsZero():
		return fmt.Errorf("%w: Adjudicator is required", ErrConfig)
	}
	if c.ListenAddr != "" {
		if err := checkListenAddr(c.ListenAddr); err != nil {
			return fmt.Errorf("%w: ListenAddr %q: %v", ErrConfig, c.ListenAddr, err)
		}
	}
	switch {
	case len(c.MoreListenAddrs) > 0 && c.ListenAddr == "":
		return fmt.Errorf("%w: MoreListenAddrs without ListenAddr", ErrConfig)
	case len(c.MoreListenAddrs) > MaxListenAddrs-1:
		return fmt.Errorf("%w: %d addresses to advertise, at most %d", ErrConfig, 1+len(c.MoreListenAddrs), MaxListenAddrs)
	}
	for _, a := range c.MoreListenAddrs {
		if err := checkListenAddr(a); err != nil || a == "" {
			return fmt.Errorf("%w: MoreListenAddrs %q: %v", ErrConfig, a, err)
		}
	}
	return c.Limits.Validate()
}

func (c *PeerConfig) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

// msgStream is what PeerConn needs of a gRPC Connect stream, client or
// server side.
type msgStream interface {
	Send(*peerv1.Message) error
	Recv() (*peerv1.Message, error)
}

// PeerConn is one authenticated session with another node over one
// long-lived Connect stream. DialPeer and PeerServer produce it, alike on
// both sides.
//
// Send may be called from any number of goroutines; Recv from one reader
// goroutine at a time. Close may be called from anywhere, any number of
// times. After the connection ends, Send and Recv return an error matching
// ErrClosed that also wraps the reason.
type PeerConn struct {
	idMu        sync.Mutex // guards peer and listenAddrs while the handshake sets them
	peer        crypto.Address
	listenAddrs []string
	remoteAddr  string
	lim         Limits
	log         *slog.Logger

	pipe
}

// pipe moves messages between the caller and the stream: one writer
// goroutine drains sendq into the stream, one reader goroutine fills recvq.
type pipe struct {
	stream    msgStream
	closeSend func() error // client side: half-close after the last message

	sendq chan outMsg
	recvq chan *peerv1.Message
	// batchBytes is the largest Batch to send the peer (the smaller of
	// what its Hello accepts, MaxMessageBytes and maxBatchBytes), or 0 to
	// send every message alone; set once the handshake is done.
	batchBytes atomic.Int64

	closeOnce sync.Once
	closing   chan struct{} // closed when the session ends, for any reason
	reason    error         // *closedError; set before closing is closed
	notify    bool          // send the reason to the peer in an Error
	local     bool          // ended by Close: drop what is buffered

	writerDone chan struct{}
	readerDone chan struct{}
	sendStart  atomic.Int64 // when the current stream.Send began, 0 if idle
	stall      *time.Timer  // fires SendTimeout after the current Send began
}

// Compile-time check that *PeerConn has the methods node's PeerConn
// interface lists.
var _ interface {
	Peer() crypto.Address
	ListenAddr() string
	RemoteAddr() string
	Send(*peerv1.Message) error
	Recv() (*peerv1.Message, error)
	Close(reason error)
} = (*PeerConn)(nil)

func newPeerConn(cfg *PeerConfig, role, remoteAddr string, s msgStream, closeSend func() error) *PeerConn {
	c := &PeerConn{
		remoteAddr: remoteAddr,
		lim:        cfg.Limits,
		log:        cfg.logger().With("remote", remoteAddr, "role", role),
		pipe: pipe{
			stream:     s,
			closeSend:  closeSend,
			sendq:      make(chan outMsg, cfg.SendQueue),
			recvq:      make(chan *peerv1.Message, recvBuffer),
			closing:    make(chan struct{}),
			writerDone: make(chan struct{}),
			readerDone: make(chan struct{}),
		},
	}
	c.stall = time.AfterFunc(time.Hour, c.checkStall)
	c.stall.Stop()
	go c.readLoop()
	go c.writeLoop()
	return c
}

// setIdentity records what the handshake proved, before the conn is handed
// out (so Peer and ListenAddr need no lock afterwards).
func (c *PeerConn) setIdentity(h peerHello) {
	c.idMu.Lock()
	c.peer, c.listenAddrs = h.addr, h.listenAddrs
	c.idMu.Unlock()
	if h.batchBytes > 0 {
		c.batchBytes.Store(int64(min(h.batchBytes, c.lim.MaxMessageBytes, maxBatchBytes)))
	}
}

func (c *PeerConn) peerForLog() crypto.Address {
	c.idMu.Lock()
	defer c.idMu.Unlock()
	return c.peer
}

// Peer returns the node address the other side proved in the handshake.
func (c *PeerConn) Peer() crypto.Address { return c.peer }

// ListenAddr returns where the other side says it accepts peers (from its
// Hello, unverified); empty if it does not say.
func (c *PeerConn) ListenAddr() string {
	if len(c.listenAddrs) == 0 {
		return ""
	}
	return c.listenAddrs[0]
}

// ListenAddrs returns every address where the other side says its node
// accepts peers (from its Hello), in the order to try them: at most
// MaxListenAddrs, ListenAddr first; none if it said none.
func (c *PeerConn) ListenAddrs() []string { return append([]string(nil), c.listenAddrs...) }

// RemoteAddr returns the socket address of the other side.
func (c *PeerConn) RemoteAddr() string { return c.remoteAddr }

// Done is closed when the session has ended (Send and Recv then fail).
func (c *PeerConn) Done() <-chan struct{} { return c.closing }

// Send queues m for the peer and returns; messages from one goroutine go
// out in the order sent. It blocks only while SendQueue messages are
// already queued, and at most SendTimeout: then the peer is taken to have
// stopped reading and the connection ends with ErrSendTimeout. A message
// above MaxMessageBytes is refused with ErrMessageTooLarge and a Hello with
// ErrProtocol; the connection stays open. The caller must not modify m
// after Send. A nil error means queued, not delivered: what is queued
// when the session ends is still written, before the reason, but
// a Send racing with the end may queue a message after the last write.
func (c *PeerConn) Send(m *peerv1.Message) error {
	switch m.GetBody().(type) {
	case nil:
		return fmt.Errorf("%w: send: message without a body", ErrProtocol)
	case *peerv1.Message_Hello:
		return fmt.Errorf("%w: send: the transport sends the only Hello", ErrProtocol)
	}
	n := proto.Size(m)
	if n > c.lim.MaxMessageBytes {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrMessageTooLarge, n, c.lim.MaxMessageBytes)
	}
	return c.enqueue(outMsg{m, n})
}

// outMsg is a message Send queued, with its encoded size.
type outMsg struct {
	m    *peerv1.Message
	size int
}

func (c *PeerConn) enqueue(m outMsg) error {
	select {
	case <-c.closing:
		return c.reason
	default:
	}
	select {
	case c.sendq <- m:
		return nil
	case <-c.closing:
		return c.reason
	default:
	}
	t := time.NewTimer(c.lim.SendTimeout)
	defer t.Stop()
	select {
	case c.sendq <- m:
		return nil
	case <-c.closing:
		return c.reason
	case <-t.C:
		c.end(fmt.Errorf("%w: send queue full for %v", ErrSendTimeout, c.lim.SendTimeout), true, false)
		return c.reason
	}
}

// Recv returns the next message from the peer, in order. It never returns
// a Hello: a second Hello ends the connection with ErrProtocol. Error
// messages are returned like any other message (the node decides what a
// per-channel or informational Error means); when the peer ends the session
// after an Error without a channel id, or with a gRPC status, the error
// Recv then returns wraps a *RemoteError with that code and message. Only
// one goroutine may call Recv at a time.
func (c *PeerConn) Recv() (*peerv1.Message, error) {
	select {
	case <-c.closing:
		if c.local {
			return nil, c.reason
		}
	default:
	}
	select {
	case m := <-c.recvq:
		return m, nil
	case <-c.closing:
	}
	if !c.local { // the peer or the stream ended it: deliver what arrived first
		select {
		case m := <-c.recvq:
			return m, nil
		default:
		}
	}
	return nil, c.reason
}

// Close ends the session. A non-nil reason is sent to the peer as an Error
// message (its text goes over the wire: no secrets), after what Send had
// already queued, and its code follows errorCode (a gRPC status error keeps
// its code). Recv and Send fail from now on. Close does not wait for the
// network; Done is already closed when it returns.
func (c *PeerConn) Close(reason error) {
	c.end(reason, reason != nil, true)
}

// end records why the session ended, once.
func (c *PeerConn) end(reason error, notify, local bool) {
	c.closeOnce.Do(func() {
		c.reason = &closedError{reason: reason}
		c.notify = notify
		c.local = local
		close(c.closing)
		peer := c.peerForLog()
		if peer.IsZero() {
			return // a failed handshake: its caller logs it
		}
		if errors.Is(reason, ErrProtocol) || errors.Is(reason, ErrMessageTooLarge) || errors.Is(reason, ErrSendTimeout) {
			c.log.Warn("peer connection ended", "peer", peer, "reason", reason)
			return
		}
		// Ordinary ends: the node logs sessions itself.
		c.log.Debug("peer connection ended", "peer", peer, "reason", reason, "local", local)
	})
}

// readLoop is the only caller of stream.Recv. The first message goes to
// the handshake as it is; after it, a Hello or an empty message ends the
// session.
func (c *PeerConn) readLoop() {
	defer close(c.readerDone)
	var lastError *peerv1.Error // the last session-level Error received
	deliver := func(m *peerv1.Message, handshake bool) bool {
		lastError = nil
		if e := m.GetError(); e != nil && len(e.GetChannelId()) == 0 && !handshake {
			lastError = e
		}
		select {
		case c.recvq <- m:
			return true
		case <-c.closing:
			return false
		}
	}
	for first := true; ; first = false {
		m, err := c.stream.Recv()
		if err != nil {
			reason := c.recvError(err, lastError)
			c.end(reason, errors.Is(reason, ErrMessageTooLarge), false)
			return
		}
		if first {
			if !deliver(m, true) { // the handshake's
				return
			}
			continue
		}
		if b, ok := m.GetBody().(*peerv1.Message_Batch); ok {
			items := b.Batch.GetMessages()
			if err := checkBatch(items); err != nil {
				c.end(err, true, false)
				return
			}
			for _, m := range items {
				if !deliver(m, false) {
					return
				}
			}
			continue
		}
		if err := checkBody(m); err != nil {
			c.end(err, true, false)
			return
		}
		if !deliver(m, false) {
			return
		}
	}
}

// checkBody refuses a message after the handshake that has no body or is
// a second Hello.
func checkBody(m *peerv1.Message) error {
	switch m.GetBody().(type) {
	case nil:
		return fmt.Errorf("%w: message without a body", ErrProtocol)
	case *peerv1.Message_Hello:
		return fmt.Errorf("%w: second hello", ErrProtocol)
	}
	return nil
}

// checkBatch refuses a Batch that breaks the protocol's bounds: empty,
// more than maxBatchItems messages, or one of them a Batch itself or
// refused by checkBody.
func checkBatch(items []*peerv1.Message) error {
	if len(items) == 0 || len(items) > maxBatchItems {
		return fmt.Errorf("%w: a batch of %d messages (1 to %d)", ErrProtocol, len(items), maxBatchItems)
	}
	for i, m := range items {
		if _, ok := m.GetBody().(*peerv1.Message_Batch); ok {
			return fmt.Errorf("%w: a batch in a batch", ErrProtocol)
		}
		if err := checkBody(m); err != nil {
			return fmt.Errorf("message %d of a batch: %w", i, err)
		}
	}
	return nil
}

// recvError turns the error that ended the stream into the session's end
// reason.
func (c *PeerConn) recvError(err error, last *peerv1.Error) error {
	if last != nil {
		return remoteError(last)
	}
	if err == io.EOF {
		return fmt.Errorf("peer ended the stream: %w", io.EOF)
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("stream: %w", err)
	}
	switch {
	case st.Code() == codes.ResourceExhausted && isTooLarge(st.Message()):
		// Either side's gRPC refused a message: this one on receipt, or
		// the peer's (which then ends the stream with this status before
		// any Error message can be sent). Both read the same.
		return fmt.Errorf("%w: %s", ErrMessageTooLarge, st.Message())
	case st.Code() == codes.Canceled || st.Code() == codes.Unavailable || st.Code() == codes.Internal:
		return fmt.Errorf("stream: %w", err)
	}
	return &RemoteError{Code: st.Code(), Message: st.Message()}
}

// writeLoop is the only caller of stream.Send (and CloseSend). When the
// session ends it flushes what is queued, sends the reason if asked to, and
// half-closes the client side.
func (c *PeerConn) writeLoop() {
	defer close(c.writerDone)
	defer c.stall.Stop()
	var held *outMsg // taken from sendq, not yet written: it did not fit in the last batch
	take := func(wait bool) (outMsg, bool) {
		if q := held; q != nil {
			held = nil
			return *q, true
		}
		if wait {
			select {
			case q := <-c.sendq:
				return q, true
			case <-c.closing:
				return outMsg{}, false
			}
		}
		select {
		case q := <-c.sendq:
			return q, true
		default:
			return outMsg{}, false
		}
	}
	for {
		q, ok := take(true)
		if !ok {
			break
		}
		if err := c.write(c.pack(q, &held)); err != nil {
			c.end(fmt.Errorf("send: %w", err), false, false)
			return
		}
	}
	for { // the session ended: flush what is queued
		q, ok := take(false)
		if !ok {
			break
		}
		if c.write(c.pack(q, &held)) != nil {
			return
		}
	}
	if c.notify {
		if err := c.write(errorMessage(c.reason.(*closedError).reason)); err != nil {
			return
		}
	}
	if c.closeSend != nil {
		_ = c.closeSend()
	}
}

// Batches (peerv1.Batch).
const (
	maxBatchItems = 1024      // the protocol's bound on messages in a Batch
	maxBatchBytes = 256 << 10 // the largest Batch this side packs
	// Encoding overheads, rounded up: a Batch's field tag and length in
	// its Message, and each item's tag and length.
	batchOverhead = 8
	itemOverhead  = 6
)

// pack returns q's message alone, or, if the peer accepts batches and more
// messages are queued behind it, a Batch of q's and as many of those as fit;
// a queued message that does not fit is left in *held for the next write.
// It never waits: a message that is alone in the queue goes at once.
func (c *PeerConn) pack(q outMsg, held **outMsg) *peerv1.Message {
	limit := int(c.batchBytes.Load())
	total := batchOverhead + q.size + itemOverhead
	if _, hello := q.m.GetBody().(*peerv1.Message_Hello); hello || total > limit {
		return q.m // the handshake's goes alone, whatever follows it
	}
	var items []*peerv1.Message
fill:
	for n := 1; n < maxBatchItems; n++ {
		var r outMsg
		select {
		case r = <-c.sendq:
		default:
			break fill // nothing more queued
		}
		if total+r.size+itemOverhead > limit {
			*held = &r
			break
		}
		if items == nil {
			items = append(make([]*peerv1.Message, 0, 16), q.m)
		}
		items = append(items, r.m)
		total += r.size + itemOverhead
	}
	if items == nil {
		return q.m
	}
	return &peerv1.Message{Body: &peerv1.Message_Batch{Batch: &peerv1.Batch{Messages: items}}}
}

// write sends one message under the stall watchdog.
func (c *PeerConn) write(m *peerv1.Message) error {
	c.sendStart.Store(time.Now().UnixNano())
	c.stall.Reset(c.lim.SendTimeout)
	err := c.stream.Send(m)
	c.sendStart.Store(0)
	return err
}

// checkStall ends the session if a stream.Send has been blocked for
// SendTimeout: the peer stopped reading and flow control holds the writer.
func (c *PeerConn) checkStall() {
	start := c.sendStart.Load()
	if start == 0 || time.Since(time.Unix(0, start)) < c.lim.SendTimeout {
		return
	}
	c.end(fmt.Errorf("%w: a write blocked for %v", ErrSendTimeout, c.lim.SendTimeout), false, false)
}

// handshakeRecv waits for the first message until deadline or the end of
// the session.
func (c *PeerConn) handshakeRecv(deadline time.Time) (*peerv1.Message, error) {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case m := <-c.recvq:
		return m, nil
	case <-c.closing:
		select { // it may have arrived just before the end, e.g. a refusal
		case m := <-c.recvq:
			return m, nil
		default:
			return nil, c.reason
		}
	case <-t.C:
		return nil, ErrHandshakeTimeout
	}
}

// statusErr is what a server stream handler returns once the session has
// ended: the reason as a gRPC status if it was to be sent to the peer.
func (c *PeerConn) statusErr() error {
	if !c.notify {
		return nil
	}
	reason := c.reason.(*closedError).reason
	return status.Error(errorCode(reason), reasonText(reason))
}

// waitFor waits for ch to close, at most d; it reports whether it did.
func waitFor(ch <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}

func remoteError(e *peerv1.Error) *RemoteError {
	code := codes.Code(e.GetCode())
	if code > codes.Unauthenticated {
		code = codes.Unknown
	}
	return &RemoteError{Code: code, Message: e.GetMessage()}
}

// isTooLarge recognises gRPC's "received message larger than max" status.
func isTooLarge(msg string) bool {
	return strings.Contains(msg, "larger than max")
}

// remoteAddrString formats a peer's socket address.
func remoteAddrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
