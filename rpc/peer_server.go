package rpc

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
)

// PeerServer accepts peer connections: it serves the Peer service on its
// own gRPC server (TLS 1.3, message size limit, keepalive enforcement, the
// MaxUnauthenticated and MaxUnauthenticatedPerSource admission limits) and
// hands every session that passed the handshake to the handler.
//
// The handler is called once per authenticated session, in a goroutine of
// its own, and owns the *PeerConn: it should run the session's read loop
// (or otherwise block) until the session is over, because the session ends
// when the handler returns (the conn is then closed with a nil reason).
// Closing the conn, or the peer ending the stream, ends the stream at once,
// even while the handler still runs; its Recv then fails. Nothing that
// failed the handshake ever reaches the handler.
type PeerServer struct {
	cfg     PeerConfig
	handler func(*PeerConn)
	gs      *grpc.Server
	lim     *connLimiter
	log     *slog.Logger

	mu       sync.Mutex
	conns    map[*PeerConn]struct{} // every stream's conn, in or after its handshake
	stopping bool
	handlers sync.WaitGroup
}

// NewPeerServer validates cfg (which needs a Certificate here) and returns
// a server that calls handler for every authenticated session.
func NewPeerServer(cfg PeerConfig, handler func(*PeerConn)) (*PeerServer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Certificate == nil {
		return nil, fmt.Errorf("%w: Certificate is required to accept peers", ErrConfig)
	}
	if handler == nil {
		return nil, fmt.Errorf("%w: a handler is required", ErrConfig)
	}
	s := &PeerServer{
		cfg:     cfg,
		handler: handler,
		lim:     newConnLimiter(cfg.Limits, cfg.Refused),
		log:     cfg.logger(),
		conns:   make(map[*PeerConn]struct{}),
	}
	s.gs = grpc.NewServer(
		grpc.Creds(newServerCreds(cfg.Certificate, s.lim)),
		grpc.MaxRecvMsgSize(cfg.MaxMessageBytes),
		grpc.MaxSendMsgSize(cfg.MaxMessageBytes),
		grpc.ConnectionTimeout(cfg.HandshakeTimeout),
		grpc.MaxConcurrentStreams(maxStreamsPerConn),
		grpc.MaxHeaderListSize(maxHeaderBytes),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:              cfg.KeepaliveInterval,
			Timeout:           cfg.KeepaliveTimeout,
			MaxConnectionIdle: idleConnTimeout,
		}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: keepaliveMinTime}),
	)
	peerv1.RegisterPeerServer(s.gs, peerService{s: s})
	return s, nil
}

// Serve accepts connections on lis until Stop or GracefulStop; it returns
// nil after those and the listener's error otherwise.
func (s *PeerServer) Serve(lis net.Listener) error { return s.gs.Serve(lis) }

// GracefulStop tells every connected peer that the node is shutting down
// (ErrShuttingDown), waits for the streams to end and for every handler to
// return (handlers must return once their conn is closed).
func (s *PeerServer) GracefulStop() {
	s.closeAll()
	s.gs.GracefulStop()
	s.handlers.Wait()
}

// Stop closes every connection at once and waits for every handler to
// return (handlers must return once their conn is closed).
func (s *PeerServer) Stop() {
	s.closeAll()
	s.gs.Stop()
	s.handlers.Wait()
}

func (s *PeerServer) closeAll() {
	s.mu.Lock()
	s.stopping = true
	conns := make([]*PeerConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close(ErrShuttingDown)
	}
}

func (s *PeerServer) track(c *PeerConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *PeerServer) untrack(c *PeerConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// peerService adapts PeerServer to the generated service interface without
// exporting Connect.
type peerService struct {
	peerv1.UnimplementedPeerServer
	s *PeerServer
}

func (ps peerService) Connect(stream peerv1.Peer_ConnectServer) error { return ps.s.connect(stream) }

// connect runs one stream: the handshake as the listener (send Hello,
// receive and verify the dialer's), then the handler, until the session
// ends. The stream ends when connect returns.
func (s *PeerServer) connect(stream peerv1.Peer_ConnectServer) error {
	start := time.Now()
	ctx := stream.Context()
	p, _ := peer.FromContext(ctx)
	var ai *serverAuthInfo
	if p != nil {
		ai, _ = p.AuthInfo.(*serverAuthInfo)
	}
	if ai == nil {
		return status.Error(codes.Unauthenticated, "peer stream without TLS")
	}
	ekm, _, err := streamExporter(ctx)
	if err != nil {
		return status.Error(codes.Unauthenticated, err.Error())
	}
	remote := remoteAddrString(p.Addr)
	c := newPeerConn(&s.cfg, roleListener, remote, stream, nil)
	defer s.untrack(c)
	if !s.track(c) {
		c.end(ErrShuttingDown, true, true)
		return s.finish(c)
	}

	ph, err := s.handshake(c, ekm, ai.guard.streamDeadline(start))
	if err != nil {
		s.log.Log(ctx, handshakeLogLevel(err), "peer handshake failed", "remote", remote, "err", err)
		// Tell the dialer why, unless it refused us or the stream is gone.
		c.end(err, !errors.Is(err, ErrClosed) && !isRemote(err), true)
		return s.finish(c)
	}
	ai.guard.authenticated()
	c.setIdentity(ph)
	s.log.Debug("peer connected", "peer", ph.addr, "remote", remote, "listen", ph.listenAddrs)

	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		c.end(ErrShuttingDown, true, true)
		return s.finish(c)
	}
	s.handlers.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.handlers.Done()
		s.handler(c)
		c.Close(nil)
	}()
	return s.finish(c)
}

// handshake sends the listener's Hello and verifies the dialer's.
func (s *PeerServer) handshake(c *PeerConn, ekm []byte, deadline time.Time) (peerHello, error) {
	hello, err := newHello(&s.cfg, roleListener, ekm)
	if err != nil {
		return peerHello{}, err
	}
	if err := c.enqueue(outMsg{hello, proto.Size(hello)}); err != nil {
		return peerHello{}, err
	}
	first, err := c.handshakeRecv(deadline)
	if err != nil {
		return peerHello{}, err
	}
	if refusal := handshakeFailure(first); refusal != nil {
		return peerHello{}, refusal
	}
	return checkHello(&s.cfg, roleDialer, ekm, first)
}

// finish waits for the session to end and for its last messages to be
// written (bounded), and returns what the stream handler returns.
func (s *PeerServer) finish(c *PeerConn) error {
	<-c.closing
	waitFor(c.writerDone, c.lim.closeLinger())
	return c.statusErr()
}

// handshakeLogLevel: misbehaviour is a warning, a refusal by the dialer is
// news, a dialer that went away is noise.
func handshakeLogLevel(err error) slog.Level {
	switch {
	case isRemote(err):
		return slog.LevelInfo
	case errors.Is(err, ErrClosed):
		return slog.LevelDebug
	}
	return slog.LevelWarn
}

func isRemote(err error) bool {
	var re *RemoteError
	return errors.As(err, &re)
}
