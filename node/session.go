package node

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
	"github.com/tinypay/tinypay/store"
)

// session is the node's side of one live connection to a peer. Messages
// are queued without blocking (so that store callbacks never wait on the
// network) and written by one goroutine in queue order.
type session struct {
	n        *Node
	conn     PeerConn
	peer     crypto.Address
	outbound bool

	mu     sync.Mutex
	queue  []*peerv1.Message
	wake   chan struct{}
	done   chan struct{} // closed when the session ends
	ended  bool
	reason error
}

// maxQueued bounds a session's outgoing queue; a peer that reads slower
// than this is disconnected and resynchronised later.
const maxQueued = 1 << 16

func newSession(n *Node, conn PeerConn, outbound bool) *session {
	return &session{n: n, conn: conn, peer: conn.Peer(), outbound: outbound, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// send queues m. It never blocks.
func (s *session) send(m *peerv1.Message) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	if len(s.queue) >= maxQueued {
		s.mu.Unlock()
		s.close(errors.New("peer does not read its messages"))
		return
	}
	s.queue = append(s.queue, m)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *session) alive() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.ended
}

// writeLoop writes queued messages until the session ends.
func (s *session) writeLoop() {
	var batch []*peerv1.Message
	for {
		s.mu.Lock()
		batch, s.queue = s.queue, batch[:0]
		ended := s.ended
		s.mu.Unlock()
		for _, m := range batch {
			if err := s.conn.Send(m); err != nil {
				s.close(fmt.Errorf("send: %w", err))
				return
			}
		}
		clear(batch)
		if ended {
			return
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-s.wake:
		case <-s.done:
		}
	}
}

// close ends the session; the read loop then detaches it.
func (s *session) close(reason error) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended = true
	s.reason = reason
	s.mu.Unlock()
	close(s.done)
	s.conn.Close(reason)
}

// drainAndClose waits up to d for queued messages to be written, then
// closes.
func (s *session) drainAndClose(d time.Duration, reason error) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		empty := len(s.queue) == 0 || s.ended
		s.mu.Unlock()
		if empty {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.close(reason)
}

// sendError tells the peer about a refused message.
func (s *session) sendError(code codes.Code, channelID []byte, err error) {
	s.send(&peerv1.Message{Body: &peerv1.Message_Error{Error: &peerv1.Error{Code: uint32(code), Message: err.Error(), ChannelId: channelID}}})
}

// HandlePeer serves an accepted, authenticated peer connection until it
// ends. The peer transport calls it from the connection's goroutine.
func (n *Node) HandlePeer(conn PeerConn) {
	s := n.attach(conn, false)
	if s == nil {
		return
	}
	s.readLoop()
}

// ConnectPeer dials a peer at hostport (expecting the node address want,
// unless zero), keeps the connection, and remembers where the peer listens
// so that it can be redialled.
func (n *Node) ConnectPeer(ctx context.Context, hostport string, want crypto.Address) (PeerInfo, error) {
	if err := n.usable(); err != nil {
		return PeerInfo{}, err
	}
	if n.dialer == nil {
		return PeerInfo{}, errors.New("this node cannot dial peers")
	}
	conn, err := n.dialer.DialPeer(ctx, hostport, want)
	if err != nil {
		return PeerInfo{}, fmt.Errorf("connect %s: %w", hostport, err)
	}
	peer := conn.Peer()
	if err := n.rememberAddr(ctx, peer, hostport); err != nil {
		conn.Close(err)
		return PeerInfo{}, err
	}
	s := n.attach(conn, true)
	if s != nil {
		go s.readLoop()
	}
	return PeerInfo{Address: peer, RemoteAddr: conn.RemoteAddr(), Connected: true}, nil
}

const peerCursorPrefix = "peer/"

// rememberAddr persists where peer listens.
func (n *Node) rememberAddr(ctx context.Context, peer crypto.Address, hostport string) error {
	n.mu.Lock()
	same := n.addrs[peer] == hostport
	n.addrs[peer] = hostport
	n.mu.Unlock()
	if same {
		return nil
	}
	b := store.NewBatch()
	if err := b.PutCursor(peerCursorPrefix+hex.EncodeToString(peer[:]), []byte(hostport)); err != nil {
		return err
	}
	_, err := n.commit(ctx, b)
	return err
}

func (n *Node) loadPeerAddrs() error {
	for _, c := range n.channels {
		v, err := n.store.Cursor(peerCursorPrefix + hex.EncodeToString(c.peer[:]))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("load peer address: %w", err)
		}
		n.addrs[c.peer] = string(v)
	}
	return nil
}

// attach registers a new session, replacing or refusing a duplicate, and
// starts reestablishing every channel shared with the peer.
func (n *Node) attach(conn PeerConn, outbound bool) *session {
	s := newSession(n, conn, outbound)
	if err := n.usable(); err != nil {
		conn.Close(err)
		return nil
	}
	n.mu.Lock()
	if old := n.sessions[s.peer]; old != nil && old.alive() {
		// Both sides dialled: keep the connection dialled by the lower
		// address, on both ends alike.
		if !keepNewSession(n.self, s.peer, outbound) {
			n.mu.Unlock()
			conn.Close(errors.New("duplicate connection"))
			return nil
		}
		defer old.close(errors.New("replaced by a newer connection"))
	}
	n.sessions[s.peer] = s
	if la := conn.ListenAddr(); la != "" && n.addrs[s.peer] == "" {
		n.addrs[s.peer] = la
	}
	n.mu.Unlock()
	go s.writeLoop()
	n.met.peers(1)
	n.log.Info("peer connected", "peer", s.peer, "remote", conn.RemoteAddr(), "outbound", outbound)
	for _, c := range n.channelsWith(s.peer) {
		c.attach(s)
	}
	n.resendStreamStarts(s)
	return s
}

// keepNewSession decides between an existing live session and a new one:
// the session whose dialer has the lower address wins.
func keepNewSession(self, peer crypto.Address, newOutbound bool) bool {
	dialer := peer
	if newOutbound {
		dialer = self
	}
	lower := self
	if bytes.Compare(peer[:], self[:]) < 0 {
		lower = peer
	}
	return dialer == lower
}

// readLoop reads and dispatches messages until the connection ends, then
// detaches the session.
func (s *session) readLoop() {
	defer s.n.detach(s)
	for {
		m, err := s.conn.Recv()
		if err != nil {
			s.close(err)
			return
		}
		s.n.dispatch(s, m)
	}
}

func (n *Node) detach(s *session) {
	s.close(errors.New("connection ended"))
	n.mu.Lock()
	if n.sessions[s.peer] == s {
		delete(n.sessions, s.peer)
	}
	n.mu.Unlock()
	for _, c := range n.channelsWith(s.peer) {
		c.detach(s)
	}
	n.met.peers(-1)
	n.log.Info("peer disconnected", "peer", s.peer, "reason", s.reason)
}

// redialLoop reconnects to peers that share channels still in use.
func (n *Node) redialLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.Redial)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		if n.dialer == nil {
			continue
		}
		for peer, addr := range n.redialTargets() {
			n.wg.Add(1)
			go func() {
				defer n.wg.Done()
				defer func() {
					n.mu.Lock()
					delete(n.dialing, peer)
					n.mu.Unlock()
				}()
				ctx, cancel := context.WithTimeout(n.ctx, n.cfg.RequestTimeout)
				defer cancel()
				if _, err := n.ConnectPeer(ctx, addr, peer); err != nil {
					n.log.Debug("redial failed", "peer", peer, "addr", addr, "err", err)
				}
			}()
		}
	}
}

func (n *Node) redialTargets() map[crypto.Address]string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := map[crypto.Address]string{}
	for _, c := range n.channels {
		if !c.inUse() {
			continue
		}
		addr := n.addrs[c.peer]
		if s := n.sessions[c.peer]; addr == "" || n.dialing[c.peer] || (s != nil && s.alive()) {
			continue
		}
		n.dialing[c.peer] = true
		out[c.peer] = addr
	}
	return out
}

// session returns the live session with peer, if any.
func (n *Node) session(peer crypto.Address) *session {
	n.mu.Lock()
	defer n.mu.Unlock()
	if s := n.sessions[peer]; s != nil && s.alive() {
		return s
	}
	return nil
}
