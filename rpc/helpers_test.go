package rpc

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
)

// Named roles: alice listens, bob dials, mallory misbehaves.
var (
	aliceKey   = keyFromSeed(0x11)
	bobKey     = keyFromSeed(0x22)
	malloryKey = keyFromSeed(0x33)
)

const testChain uint64 = 1337

var testAdjudicator = crypto.Address{0xad, 0x1d}

func keyFromSeed(seed byte) *crypto.PrivateKey {
	k, err := crypto.PrivateKeyFromBytes(bytes.Repeat([]byte{seed}, 32))
	if err != nil {
		panic(err)
	}
	return k
}

var (
	certOnce sync.Once
	testCert tls.Certificate
)

// sharedCert is one certificate for all test servers (the certificate is
// not an identity, so sharing it changes nothing).
func sharedCert(t testing.TB) *tls.Certificate {
	certOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rpc-test-cert")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		testCert, err = LoadOrCreateCertificate(filepath.Join(dir, "peer.crt"), filepath.Join(dir, "peer.key"))
		if err != nil {
			t.Fatal(err)
		}
	})
	return &testCert
}

// testConfig is a config for key with short timeouts.
func testConfig(t testing.TB, key *crypto.PrivateKey) PeerConfig {
	cfg := DefaultPeerConfig()
	cfg.ChainID = testChain
	cfg.Adjudicator = testAdjudicator
	cfg.Key = key
	cfg.Certificate = sharedCert(t)
	cfg.ListenAddr = "127.0.0.1:7420"
	cfg.HandshakeTimeout = 2 * time.Second
	cfg.SendTimeout = 2 * time.Second
	return cfg
}

// testServer runs a PeerServer on loopback and records handler calls.
type testServer struct {
	srv   *PeerServer
	addr  string
	log   *recorder
	calls atomic.Int32
	conns chan *PeerConn
}

// startServer serves cfg. Its handler publishes each conn on conns and,
// unless handler is set, blocks until the session ends.
func startServer(t testing.TB, cfg PeerConfig, handler func(*PeerConn)) *testServer {
	t.Helper()
	ts := &testServer{log: &recorder{}, conns: make(chan *PeerConn, 16)}
	cfg.Logger = slog.New(ts.log)
	srv, err := NewPeerServer(cfg, func(c *PeerConn) {
		ts.calls.Add(1)
		ts.conns <- c
		if handler != nil {
			handler(c)
			return
		}
		<-c.Done()
	})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.srv, ts.addr = srv, lis.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return ts
}

// accepted returns the next conn the handler got.
func (ts *testServer) accepted(t testing.TB) *PeerConn {
	t.Helper()
	select {
	case c := <-ts.conns:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("handler not called")
		return nil
	}
}

// handshakeFailures returns the errors the server logged for failed
// handshakes.
func (ts *testServer) handshakeFailures() []error { return ts.log.errs("peer handshake failed") }

// waitFailure waits until the server logged a failed handshake.
func (ts *testServer) waitFailure(t testing.TB) error {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if errs := ts.handshakeFailures(); len(errs) > 0 {
			return errs[0]
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("server logged no handshake failure")
	return nil
}

// recorder is a slog.Handler that keeps records.
type recorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *recorder) WithGroup(string) slog.Handler            { return r }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Clone())
	return nil
}

// errs returns the "err" attributes of records with message msg.
func (r *recorder) errs(msg string) []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []error
	for _, rec := range r.recs {
		if rec.Message != msg {
			continue
		}
		rec.Attrs(func(a slog.Attr) bool {
			if a.Key == "err" {
				if err, ok := a.Value.Any().(error); ok {
					out = append(out, err)
				}
			}
			return true
		})
	}
	return out
}

// text returns every record's message and attributes, for leak checks.
func (r *recorder) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b bytes.Buffer
	h := slog.NewTextHandler(&b, nil)
	for _, rec := range r.recs {
		_ = h.Handle(context.Background(), rec)
	}
	return b.String()
}

// rawClient speaks the Peer service directly, without DialPeer, to send
// whatever a test wants.
type rawClient struct {
	cc     *grpc.ClientConn
	stream grpc.BidiStreamingClient[peerv1.Message, peerv1.Message]
	ekm    []byte
	cancel context.CancelFunc
}

func dialRaw(t testing.TB, addr string) *rawClient {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(credentials.NewTLS(clientTLSConfig())))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := peerv1.NewPeerClient(cc).Connect(ctx)
	if err != nil {
		cancel()
		_ = cc.Close()
		t.Fatal(err)
	}
	ekm, _, err := streamExporter(stream.Context())
	if err != nil {
		t.Fatal(err)
	}
	r := &rawClient{cc: cc, stream: stream, ekm: ekm, cancel: cancel}
	t.Cleanup(r.close)
	return r
}

func (r *rawClient) close() {
	r.cancel()
	_ = r.cc.Close()
}

// recvHello receives and checks the listener's Hello.
func (r *rawClient) recvHello(t testing.TB) *peerv1.Hello {
	t.Helper()
	m, err := r.stream.Recv()
	if err != nil {
		t.Fatalf("raw client: recv listener hello: %v", err)
	}
	if m.GetHello() == nil {
		t.Fatalf("raw client: first message is %s", bodyName(m))
	}
	return m.GetHello()
}

// recvError receives until the stream ends and returns the Error messages
// received and the stream's final error.
func (r *rawClient) recvUntilEnd(t testing.TB) ([]*peerv1.Error, error) {
	t.Helper()
	var errs []*peerv1.Error
	for {
		m, err := r.stream.Recv()
		if err != nil {
			return errs, err
		}
		if e := m.GetError(); e != nil {
			errs = append(errs, e)
		}
	}
}

// dialerHello is a Hello as an honest dialer with key would send on a
// session with keying material ekm.
func dialerHello(t testing.TB, key *crypto.PrivateKey, ekm []byte) *peerv1.Message {
	t.Helper()
	cfg := testConfig(t, key)
	m, err := newHello(&cfg, roleDialer, ekm)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// scriptedListener serves the Peer service with a script instead of a
// PeerServer, to test what DialPeer does with a misbehaving listener.
type scriptedListener struct {
	peerv1.UnimplementedPeerServer
	script func(stream peerv1.Peer_ConnectServer, ekm []byte) error
}

func (s *scriptedListener) Connect(stream peerv1.Peer_ConnectServer) error {
	ekm, _, err := streamExporter(stream.Context())
	if err != nil {
		return err
	}
	return s.script(stream, ekm)
}

func startScripted(t testing.TB, script func(stream peerv1.Peer_ConnectServer, ekm []byte) error) string {
	t.Helper()
	gs := grpc.NewServer(grpc.Creds(credentials.NewTLS(serverTLSConfig(sharedCert(t)))))
	peerv1.RegisterPeerServer(gs, &scriptedListener{script: script})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	return lis.Addr().String()
}

// listenerHello is the Hello an honest listener with cfg sends.
func listenerHello(t testing.TB, cfg PeerConfig, ekm []byte) *peerv1.Message {
	t.Helper()
	m, err := newHello(&cfg, roleListener, ekm)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// proof is a BalanceProof-sized message.
func proof(nonce uint64) *peerv1.Message {
	return &peerv1.Message{Body: &peerv1.Message_Proof{Proof: &peerv1.BalanceProof{
		ChannelId:   bytes.Repeat([]byte{0xc1}, 32),
		Nonce:       nonce,
		Transferred: []byte{0x01, 0x00, 0x00},
		Signature:   bytes.Repeat([]byte{0x5e}, 65),
		Parts: []*peerv1.PaymentPart{{
			PaymentId: bytes.Repeat([]byte{0x9a}, 16),
			Amount:    []byte{0x10},
			ItemId:    "item-42",
		}},
	}}}
}

func dial(t testing.TB, cfg PeerConfig, addr string, want crypto.Address) (*PeerConn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := DialPeer(ctx, cfg, addr, want)
	if c != nil {
		t.Cleanup(func() { c.Close(nil) })
	}
	return c, err
}

func mustDial(t testing.TB, cfg PeerConfig, addr string, want crypto.Address) *PeerConn {
	t.Helper()
	c, err := dial(t, cfg, addr, want)
	if err != nil {
		t.Fatalf("DialPeer: %v", err)
	}
	return c
}

// recvErr reads from c until Recv fails and returns that error.
func recvErr(t testing.TB, c *PeerConn) error {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		for {
			if _, err := c.Recv(); err != nil {
				errc <- err
				return
			}
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Recv did not fail")
		return nil
	}
}

// refusals records the calls of a PeerConfig.Refused hook.
type refusals struct {
	mu    sync.Mutex
	calls []refusal
}

// refusal is one call: the bound and its "source" and "limit" args.
type refusal struct {
	bound, source string
	limit         int
}

// hook is the PeerConfig.Refused to install.
func (r *refusals) hook(bound string, args ...any) {
	c := refusal{bound: bound}
	for i := 0; i+1 < len(args); i += 2 {
		switch args[i] {
		case "source":
			c.source, _ = args[i+1].(string)
		case "limit":
			c.limit, _ = args[i+1].(int)
		}
	}
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
}

// all returns the calls so far.
func (r *refusals) all() []refusal {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]refusal(nil), r.calls...)
}
