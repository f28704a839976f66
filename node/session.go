package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
)

// session is the node's side of one live connection to a peer. Messages
// are queued without blocking (so that store callbacks and channel owners
// never wait on the network) and written by one goroutine in queue order;
// another goroutine reads and routes what the peer sends.
type session struct {
	n        *Node
	conn     PeerConn
	peer     crypto.Address
	outbound bool
	stranger bool         // the peer shared no channel when the session started
	counted  bool         // it holds a place among MaxStrangerSessions; peerSet.mu
	src      netip.Prefix // its source, if hasSrc, for the bound per source
	hasSrc   bool
	ctx      context.Context // ends with the session
	cancel   context.CancelFunc

	mu    sync.Mutex
	queue []*peerv1.Message
	wake  chan struct{}
	// progress is signalled (without blocking) each time the writer has
	// written what was queued.
	progress chan struct{}
	ended    bool
	why      error
	closed   chan struct{}
}

// maxQueued bounds a session's outgoing queue; a peer that reads slower
// than this is disconnected and resynchronised later. A variable for
// tests.
var maxQueued = 1 << 16

func newSession(n *Node, conn PeerConn, outbound bool) *session {
	ctx, cancel := context.WithCancel(n.ctx)
	return &session{n: n, conn: conn, peer: conn.Peer(), outbound: outbound, ctx: ctx, cancel: cancel,
		wake: make(chan struct{}, 1), progress: make(chan struct{}, 1), closed: make(chan struct{})}
}

// send queues m. It never blocks.
func (s *session) send(m *peerv1.Message) {
	s.queueOnly(m)
	s.kick()
}

// queueOnly queues m without waking the writer (kick does): a step that
// sends a message ahead of its write wakes the writer only once the write
// is submitted, so that the writer, woken last, runs first, and the
// message does not wait for the committer's turn on the CPU.
func (s *session) queueOnly(m *peerv1.Message) {
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
}

// kick wakes the writer.
func (s *session) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// sendError tells the peer about a refused message.
func (s *session) sendError(code uint32, channelID []byte, err error) {
	s.send(&peerv1.Message{Body: &peerv1.Message_Error{Error: &peerv1.Error{Code: code, Message: truncate(err.Error(), 1024), ChannelId: channelID}}})
}

// backlog is how many messages wait to be written.
func (s *session) backlog() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

func (s *session) alive() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.ended
}

func (s *session) reason() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.why
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
			select {
			case s.progress <- struct{}{}:
			default:
			}
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-s.wake:
		case <-s.closed:
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
	s.why = reason
	s.mu.Unlock()
	s.cancel()
	close(s.closed)
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

// readLoop reads and routes messages until the connection ends, then
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

// logLevel is the level of the session's comings and goings: debug for a
// stranger's, which anyone can cause at will.
func (s *session) logLevel() slog.Level {
	if s.stranger {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}
