package rpc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/proto"

	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
)

// DialPeer connects to the node listening at hostport and runs the
// handshake as the dialer: it receives the listener's Hello, verifies it
// against this session's TLS exporter (and, if want is not zero, that the
// proven address is want, else ErrWrongPeer), and only then sends its own
// Hello, so a node that is not the one wanted never receives a signed
// Hello. Each failure is an error matching ErrHandshake and its kind; the
// listener is told the reason.
//
// DialPeer returns once its Hello is queued: if the listener still refuses
// it (a bad signature cannot happen between honest nodes, and chain,
// adjudicator and version were already checked on this side), the first
// Recv reports the refusal as a *RemoteError.
//
// ctx and HandshakeTimeout bound dialing and the handshake; the returned
// connection outlives ctx and lasts until Close or until the stream ends.
// Every call opens its own gRPC connection, closed with the PeerConn.
func DialPeer(ctx context.Context, cfg PeerConfig, hostport string, want crypto.Address) (*PeerConn, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if _, _, err := net.SplitHostPort(hostport); err != nil {
		return nil, fmt.Errorf("dial %q: %w", hostport, err)
	}
	if want == cfg.Key.Address() {
		return nil, fmt.Errorf("dial %s: %w", hostport, ErrSelfConnect)
	}
	cc, err := grpc.NewClient("passthrough:///"+hostport, dialOptions(&cfg)...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", hostport, err)
	}

	// The stream's context lives as long as the connection; ctx and the
	// handshake timer cancel it only until the handshake is done.
	sctx, cancel := context.WithCancel(context.Background())
	var timedOut atomic.Bool
	deadline := time.Now().Add(cfg.HandshakeTimeout)
	timer := time.AfterFunc(cfg.HandshakeTimeout, func() { timedOut.Store(true); cancel() })
	stopCtx := context.AfterFunc(ctx, cancel)
	// why explains an error that may stem from either cancellation.
	why := func(err error) error {
		switch {
		case timedOut.Load():
			return fmt.Errorf("dial %s: %w", hostport, ErrHandshakeTimeout)
		case ctx.Err() != nil:
			return fmt.Errorf("dial %s: %w", hostport, ctx.Err())
		}
		return fmt.Errorf("dial %s: %w", hostport, err)
	}
	abort := func(err error) (*PeerConn, error) {
		timer.Stop()
		stopCtx()
		cancel()
		_ = cc.Close()
		return nil, why(err)
	}

	stream, err := peerv1.NewPeerClient(cc).Connect(sctx)
	if err != nil {
		return abort(err)
	}
	// The exporter of the very transport this stream runs on.
	ekm, p, err := streamExporter(stream.Context())
	if err != nil {
		return abort(err)
	}
	c := newPeerConn(&cfg, roleDialer, remoteAddrString(p.Addr), stream, stream.CloseSend)
	go func() { // release the stream and the gRPC connection once the session ends
		<-c.closing
		linger := c.lim.closeLinger()
		waitFor(c.writerDone, linger)
		waitFor(c.readerDone, linger) // the listener ends the stream after our half-close
		cancel()
		_ = cc.Close()
	}()
	fail := func(err error, notify bool) (*PeerConn, error) {
		timer.Stop()
		stopCtx()
		c.end(err, notify, true)
		return nil, why(err)
	}

	first, err := c.handshakeRecv(deadline)
	if err != nil {
		return fail(err, errors.Is(err, ErrHandshakeTimeout))
	}
	if refusal := handshakeFailure(first); refusal != nil {
		return fail(refusal, false)
	}
	ph, err := checkHello(&cfg, roleListener, ekm, first)
	if err == nil && !want.IsZero() && ph.addr != want {
		err = fmt.Errorf("%w: proved %s, want %s", ErrWrongPeer, ph.addr, want)
	}
	if err != nil {
		c.log.Warn("peer handshake failed", "err", err)
		return fail(err, true)
	}
	hello, err := newHello(&cfg, roleDialer, ekm)
	if err != nil {
		return fail(err, true)
	}
	if err := c.enqueue(outMsg{hello, proto.Size(hello)}); err != nil {
		return fail(err, false)
	}
	if !timer.Stop() || !stopCtx() {
		return fail(errors.New("handshake interrupted"), false)
	}
	c.setIdentity(ph)
	c.log.Debug("peer connected", "peer", ph.addr, "listen", ph.listenAddrs)
	return c, nil
}

// dialOptions are the gRPC options of a dialer's connection.
func dialOptions(cfg *PeerConfig) []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithTransportCredentials(credentials.NewTLS(clientTLSConfig())),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(cfg.MaxMessageBytes),
			grpc.MaxCallSendMsgSize(cfg.MaxMessageBytes),
		),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:    cfg.KeepaliveInterval,
			Timeout: cfg.KeepaliveTimeout,
		}),
		grpc.WithDisableRetry(),         // a stream never moves to another transport
		grpc.WithDisableServiceConfig(), // nothing from DNS TXT records
	}
}
