package rpc

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
)

func TestHappyPath(t *testing.T) {
	ts := startServer(t, testConfig(t, aliceKey), nil)
	bobCfg := testConfig(t, bobKey)
	bobCfg.ListenAddr = "bob.example:7421"
	bobCfg.MoreListenAddrs = []string{"bob-standby.example:7421"}
	bob := mustDial(t, bobCfg, ts.addr, aliceKey.Address())
	alice := ts.accepted(t)

	// Identity on both ends.
	if got := bob.Peer(); got != aliceKey.Address() {
		t.Errorf("dialer: Peer() = %s, want alice %s", got, aliceKey.Address())
	}
	if got := alice.Peer(); got != bobKey.Address() {
		t.Errorf("listener: Peer() = %s, want bob %s", got, bobKey.Address())
	}
	if got := bob.ListenAddr(); got != "127.0.0.1:7420" {
		t.Errorf("dialer: ListenAddr() = %q", got)
	}
	if got := alice.ListenAddr(); got != "bob.example:7421" {
		t.Errorf("listener: ListenAddr() = %q", got)
	}
	if got := alice.ListenAddrs(); !slices.Equal(got, []string{"bob.example:7421", "bob-standby.example:7421"}) {
		t.Errorf("listener: ListenAddrs() = %q, want both of bob's", got)
	}
	if got := bob.ListenAddrs(); !slices.Equal(got, []string{"127.0.0.1:7420"}) {
		t.Errorf("dialer: ListenAddrs() = %q", got)
	}
	if bob.RemoteAddr() != ts.addr {
		t.Errorf("dialer: RemoteAddr() = %q, want %q", bob.RemoteAddr(), ts.addr)
	}
	if h, _, err := net.SplitHostPort(alice.RemoteAddr()); err != nil || h != "127.0.0.1" {
		t.Errorf("listener: RemoteAddr() = %q", alice.RemoteAddr())
	}

	// Both directions, in order, with several concurrent senders each way;
	// each sender's messages must arrive in its own order.
	const senders, perSender = 4, 200
	big := &peerv1.Message{Body: &peerv1.Message_Propose{Propose: &peerv1.Propose{Salt: bytes.Repeat([]byte{7}, 900<<10)}}}
	for _, dir := range []struct {
		name     string
		from, to *PeerConn
	}{
		{"dialer to listener", bob, alice},
		{"listener to dialer", alice, bob},
	} {
		t.Run(dir.name, func(t *testing.T) {
			var wg sync.WaitGroup
			for s := range senders {
				wg.Go(func() {
					for i := range perSender {
						if err := dir.from.Send(proof(uint64(s)<<32 | uint64(i))); err != nil {
							t.Errorf("Send: %v", err)
							return
						}
					}
				})
			}
			next := make([]uint64, senders)
			for range senders * perSender {
				m, err := dir.to.Recv()
				if err != nil {
					t.Fatalf("Recv: %v", err)
				}
				n := m.GetProof().GetNonce()
				s, i := n>>32, n&0xffffffff
				if i != next[s] {
					t.Fatalf("sender %d: got message %d, want %d", s, i, next[s])
				}
				next[s]++
			}
			wg.Wait()
			// A large message below the limit.
			if err := dir.from.Send(big); err != nil {
				t.Fatalf("Send large: %v", err)
			}
			m, err := dir.to.Recv()
			if err != nil {
				t.Fatalf("Recv large: %v", err)
			}
			if !proto.Equal(m, big) {
				t.Fatal("large message changed in transit")
			}
		})
	}
	if n := ts.calls.Load(); n != 1 {
		t.Errorf("handler called %d times", n)
	}
	if leaked := ts.log.text(); strings.Contains(leaked, fmt.Sprintf("%x", aliceKey.Bytes())) {
		t.Error("a private key appeared in the log")
	}
}

// The dialer refuses the listener: each check the dialer makes. The
// listener's handler must never run, and the listener is told why.
func TestDialerRefusesListener(t *testing.T) {
	tests := []struct {
		name   string
		dialer func(*PeerConfig)
		want   crypto.Address
		kind   error
	}{
		// The dialer is on another chain.
		{"wrong chain", func(c *PeerConfig) { c.ChainID = testChain + 1 }, crypto.Address{}, ErrWrongChain},
		// The dialer uses another adjudicator contract.
		{"wrong adjudicator", func(c *PeerConfig) { c.Adjudicator = crypto.Address{0xee} }, crypto.Address{}, ErrWrongAdjudicator},
		// The dialer wanted mallory at that address, alice answered.
		{"wrong peer", nil, malloryKey.Address(), ErrWrongPeer},
		// The dialer dialled its own node.
		{"self", func(c *PeerConfig) { c.Key = aliceKey }, crypto.Address{}, ErrSelfConnect},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, testConfig(t, aliceKey), nil)
			cfg := testConfig(t, bobKey)
			if tt.dialer != nil {
				tt.dialer(&cfg)
			}
			c, err := dial(t, cfg, ts.addr, tt.want)
			if !errors.Is(err, tt.kind) || !errors.Is(err, ErrHandshake) {
				t.Fatalf("DialPeer: %v, want %v", err, tt.kind)
			}
			if c != nil {
				t.Fatal("DialPeer returned a conn with its error")
			}
			// The listener learns the reason as the dialer's first message.
			lerr := ts.waitFailure(t)
			var re *RemoteError
			if !errors.As(lerr, &re) || re.Code != errorCode(tt.kind) || !strings.Contains(re.Message, tt.kind.Error()) {
				t.Errorf("listener saw %v, want the dialer's refusal %q", lerr, tt.kind)
			}
			if n := ts.calls.Load(); n != 0 {
				t.Errorf("handler called %d times", n)
			}
		})
	}
}

// A dialer that wants its own address fails before dialing.
func TestDialSelfWanted(t *testing.T) {
	_, err := DialPeer(context.Background(), testConfig(t, bobKey), "127.0.0.1:1", bobKey.Address())
	if !errors.Is(err, ErrSelfConnect) {
		t.Fatalf("got %v, want ErrSelfConnect", err)
	}
}

// The listener refuses a (raw, misbehaving) dialer: each check the
// listener makes. The handler never runs, the dialer gets an Error with the
// reason and code, then the stream ends.
func TestListenerRefusesDialer(t *testing.T) {
	type scenario struct {
		r  *rawClient
		lh *peerv1.Hello // the listener's Hello on r's session
	}
	tests := []struct {
		name string
		send func(t *testing.T, ts *testServer, s scenario) *peerv1.Message // nil: send nothing
		kind error
	}{
		{
			// A dialer from the future.
			"protocol version",
			func(t *testing.T, _ *testServer, s scenario) *peerv1.Message {
				m := dialerHello(t, malloryKey, s.r.ekm)
				m.GetHello().ProtocolVersion = ProtocolVersion + 1
				return m
			},
			ErrProtocolVersion,
		},
		{
			// Wrong chain, honestly signed.
			"wrong chain",
			func(t *testing.T, _ *testServer, s scenario) *peerv1.Message {
				cfg := testConfig(t, malloryKey)
				cfg.ChainID = 1
				m, _ := newHello(&cfg, roleDialer, s.r.ekm)
				return m
			},
			ErrWrongChain,
		},
		{
			// Wrong adjudicator, honestly signed.
			"wrong adjudicator",
			func(t *testing.T, _ *testServer, s scenario) *peerv1.Message {
				cfg := testConfig(t, malloryKey)
				cfg.Adjudicator = crypto.Address{0xbb}
				m, _ := newHello(&cfg, roleDialer, s.r.ekm)
				return m
			},
			ErrWrongAdjudicator,
		},
		{
			// A 19-byte address.
			"malformed address",
			func(t *testing.T, _ *testServer, s scenario) *peerv1.Message {
				m := dialerHello(t, malloryKey, s.r.ekm)
				m.GetHello().Address = m.GetHello().Address[:19]
				return m
			},
			ErrMalformedHello,
		},
		{
			// Signature bytes that are no signature (V = 0).
			"bad signature bytes",
			func(t *testing.T, _ *testServer, s scenario) *peerv1.Message {
				m := dialerHello(t, malloryKey, s.r.ekm)
				m.GetHello().Signature[64] = 0
				return m
			},
			ErrBadSignature,
		},
		{
			// Mallory signs a Hello that claims to be bob.
			"signed by X claiming Y",
			func(t *testing.T, _ *testServer, s scenario) *peerv1.Message {
				m := dialerHello(t, malloryKey, s.r.ekm)
				bob := bobKey.Address()
				m.GetHello().Address = bob[:]
				return m
			},
			ErrWrongSigner,
		},
		{
			// Mallory records bob's Hello on bob's session and replays it
			// on her own.
			"replayed hello",
			func(t *testing.T, ts *testServer, _ scenario) *peerv1.Message {
				bobs := dialRaw(t, ts.addr)
				bobs.recvHello(t)
				recorded := dialerHello(t, bobKey, bobs.ekm)
				if err := bobs.stream.Send(recorded); err != nil {
					t.Fatal(err)
				}
				ts.accepted(t) // bob's own session is fine
				ts.calls.Store(0)
				return recorded
			},
			ErrWrongSigner,
		},
		{
			// Mallory reflects alice's own Hello back at her: the role in
			// the digest differs.
			"reflected listener hello",
			func(t *testing.T, _ *testServer, s scenario) *peerv1.Message {
				return &peerv1.Message{Body: &peerv1.Message_Hello{Hello: s.lh}}
			},
			ErrWrongSigner,
		},
		{
			// Payments before proving anything.
			"first message not hello",
			func(t *testing.T, _ *testServer, _ scenario) *peerv1.Message { return proof(1) },
			ErrNotHello,
		},
		{
			// Nothing at all.
			"handshake timeout",
			nil,
			ErrHandshakeTimeout,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t, aliceKey)
			cfg.HandshakeTimeout = 300 * time.Millisecond
			ts := startServer(t, cfg, nil)
			r := dialRaw(t, ts.addr)
			s := scenario{r: r, lh: r.recvHello(t)}
			if tt.send != nil {
				if err := r.stream.Send(tt.send(t, ts, s)); err != nil {
					t.Fatal(err)
				}
			}
			errs, end := r.recvUntilEnd(t)
			if len(errs) != 1 {
				t.Fatalf("dialer got %d Error messages (stream end: %v), want 1", len(errs), end)
			}
			if got := codes.Code(errs[0].GetCode()); got != errorCode(tt.kind) {
				t.Errorf("code %s, want %s", got, errorCode(tt.kind))
			}
			if !strings.Contains(errs[0].GetMessage(), tt.kind.Error()) {
				t.Errorf("message %q does not say %q", errs[0].GetMessage(), tt.kind)
			}
			if st, _ := status.FromError(end); st.Code() != errorCode(tt.kind) {
				t.Errorf("stream ended with %v", end)
			}
			if err := ts.waitFailure(t); !errors.Is(err, tt.kind) || !errors.Is(err, ErrHandshake) {
				t.Errorf("listener logged %v, want %v", err, tt.kind)
			}
			if n := ts.calls.Load(); n != 0 {
				t.Errorf("handler called %d times", n)
			}
		})
	}
}

// DialPeer refuses a misbehaving listener.
func TestDialerRefusesScriptedListener(t *testing.T) {
	tests := []struct {
		name   string
		script func(peerv1.Peer_ConnectServer, []byte) error
		kind   error
	}{
		{
			// The listener never says hello.
			"handshake timeout",
			func(s peerv1.Peer_ConnectServer, _ []byte) error { <-s.Context().Done(); return nil },
			ErrHandshakeTimeout,
		},
		{
			// The listener speaks another version.
			"protocol version",
			func(s peerv1.Peer_ConnectServer, ekm []byte) error {
				m := listenerHello(t, testConfig(t, aliceKey), ekm)
				m.GetHello().ProtocolVersion = 7
				return sendAndWait(s, m)
			},
			ErrProtocolVersion,
		},
		{
			// The listener signs as a dialer (wrong role).
			"wrong role",
			func(s peerv1.Peer_ConnectServer, ekm []byte) error {
				cfg := testConfig(t, aliceKey)
				m, _ := newHello(&cfg, roleDialer, ekm)
				return sendAndWait(s, m)
			},
			ErrWrongSigner,
		},
		{
			// The listener opens with something else.
			"first message not hello",
			func(s peerv1.Peer_ConnectServer, _ []byte) error { return sendAndWait(s, proof(1)) },
			ErrNotHello,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := startScripted(t, tt.script)
			cfg := testConfig(t, bobKey)
			cfg.HandshakeTimeout = 300 * time.Millisecond
			start := time.Now()
			_, err := dial(t, cfg, addr, crypto.Address{})
			if !errors.Is(err, tt.kind) || !errors.Is(err, ErrHandshake) {
				t.Fatalf("DialPeer: %v, want %v", err, tt.kind)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("DialPeer took %v", d)
			}
		})
	}
}

func sendAndWait(s peerv1.Peer_ConnectServer, m *peerv1.Message) error {
	if err := s.Send(m); err != nil {
		return err
	}
	for {
		if _, err := s.Recv(); err != nil {
			return nil
		}
	}
}

// A man in the middle that terminates TLS on both sides and relays the
// plaintext cannot pass alice's Hello on to bob: its two TLS sessions have
// different exporters.
func TestManInTheMiddle(t *testing.T) {
	ts := startServer(t, testConfig(t, aliceKey), nil)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	go func() {
		for {
			down, err := lis.Accept()
			if err != nil {
				return
			}
			go func() {
				cfg := serverTLSConfig(sharedCert(t))
				cfg.NextProtos = []string{"h2"}
				d := tls.Server(down, cfg)
				ccfg := clientTLSConfig()
				ccfg.NextProtos = []string{"h2"}
				u, err := tls.Dial("tcp", ts.addr, ccfg)
				if err != nil {
					d.Close()
					return
				}
				go func() { _, _ = io.Copy(u, d); u.Close() }()
				_, _ = io.Copy(d, u)
				d.Close()
			}()
		}
	}()
	_, err = dial(t, testConfig(t, bobKey), lis.Addr().String(), aliceKey.Address())
	if !errors.Is(err, ErrWrongSigner) {
		t.Fatalf("DialPeer through a TLS-terminating relay: %v, want ErrWrongSigner", err)
	}
	if n := ts.calls.Load(); n != 0 {
		t.Errorf("handler called %d times", n)
	}
}

// After the handshake, a second Hello ends the session with ErrProtocol,
// whichever side sends it.
func TestSecondHello(t *testing.T) {
	t.Run("from dialer", func(t *testing.T) {
		ts := startServer(t, testConfig(t, aliceKey), nil)
		r := dialRaw(t, ts.addr)
		r.recvHello(t)
		hello := dialerHello(t, bobKey, r.ekm)
		for _, m := range []*peerv1.Message{hello, proof(1), hello} {
			if err := r.stream.Send(m); err != nil {
				t.Fatal(err)
			}
		}
		alice := ts.accepted(t)
		m, err := alice.Recv()
		if err != nil || m.GetProof().GetNonce() != 1 {
			t.Fatalf("Recv = %v, %v; want the proof", m, err)
		}
		if err := recvErr(t, alice); !errors.Is(err, ErrProtocol) || !errors.Is(err, ErrClosed) {
			t.Fatalf("Recv after second hello: %v", err)
		}
		errs, _ := r.recvUntilEnd(t)
		if len(errs) != 1 || codes.Code(errs[0].GetCode()) != codes.InvalidArgument {
			t.Fatalf("dialer got %v", errs)
		}
	})
	t.Run("from listener", func(t *testing.T) {
		addr := startScripted(t, func(s peerv1.Peer_ConnectServer, ekm []byte) error {
			h := listenerHello(t, testConfig(t, aliceKey), ekm)
			if err := s.Send(h); err != nil {
				return err
			}
			if _, err := s.Recv(); err != nil { // bob's hello
				return err
			}
			return sendAndWait(s, h)
		})
		bob := mustDial(t, testConfig(t, bobKey), addr, aliceKey.Address())
		if err := recvErr(t, bob); !errors.Is(err, ErrProtocol) {
			t.Fatalf("Recv: %v, want ErrProtocol", err)
		}
	})
	t.Run("Send refuses a hello", func(t *testing.T) {
		ts := startServer(t, testConfig(t, aliceKey), nil)
		bob := mustDial(t, testConfig(t, bobKey), ts.addr, crypto.Address{})
		h := &peerv1.Message{Body: &peerv1.Message_Hello{Hello: &peerv1.Hello{}}}
		if err := bob.Send(h); !errors.Is(err, ErrProtocol) {
			t.Fatalf("Send(hello) = %v", err)
		}
		if err := bob.Send(&peerv1.Message{}); !errors.Is(err, ErrProtocol) {
			t.Fatalf("Send(empty) = %v", err)
		}
		if err := bob.Send(proof(1)); err != nil {
			t.Fatalf("conn unusable after a refused Send: %v", err)
		}
		if m, err := ts.accepted(t).Recv(); err != nil || m.GetProof() == nil {
			t.Fatalf("Recv = %v, %v", m, err)
		}
	})
}

func TestOversizedMessage(t *testing.T) {
	ts := startServer(t, testConfig(t, aliceKey), nil) // 1 MiB
	cfg := testConfig(t, bobKey)
	cfg.MaxMessageBytes = 4 << 20
	bob := mustDial(t, cfg, ts.addr, aliceKey.Address())
	alice := ts.accepted(t)

	// Alice refuses to send above her own limit, and stays connected.
	big := &peerv1.Message{Body: &peerv1.Message_Propose{Propose: &peerv1.Propose{Salt: make([]byte, 2<<20)}}}
	if err := alice.Send(big); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("Send above the limit: %v", err)
	}
	if err := alice.Send(proof(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Recv(); err != nil {
		t.Fatal(err)
	}

	// Bob, with a larger limit, sends it anyway: alice drops him.
	if err := bob.Send(big); err != nil {
		t.Fatal(err)
	}
	if err := recvErr(t, alice); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("listener Recv: %v, want ErrMessageTooLarge", err)
	}
	// gRPC on alice's side ends the stream with its own status at once.
	if err := recvErr(t, bob); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("dialer Recv: %v, want ErrMessageTooLarge", err)
	}
}

// The dialer drops a listener that sends above the dialer's limit.
func TestOversizedMessageToDialer(t *testing.T) {
	addr := startScripted(t, func(s peerv1.Peer_ConnectServer, ekm []byte) error {
		if err := s.Send(listenerHello(t, testConfig(t, aliceKey), ekm)); err != nil {
			return err
		}
		if _, err := s.Recv(); err != nil {
			return err
		}
		big := &peerv1.Message{Body: &peerv1.Message_Propose{Propose: &peerv1.Propose{Salt: make([]byte, 2<<20)}}}
		return sendAndWait(s, big)
	})
	bob := mustDial(t, testConfig(t, bobKey), addr, aliceKey.Address())
	if err := recvErr(t, bob); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("Recv: %v, want ErrMessageTooLarge", err)
	}
}

func TestCloseReason(t *testing.T) {
	t.Run("dialer closes", func(t *testing.T) {
		ts := startServer(t, testConfig(t, aliceKey), nil)
		bob := mustDial(t, testConfig(t, bobKey), ts.addr, crypto.Address{})
		alice := ts.accepted(t)
		for i := range 3 {
			if err := bob.Send(proof(uint64(i))); err != nil {
				t.Fatal(err)
			}
		}
		bob.Close(errors.New("channel dispute"))
		if _, err := bob.Recv(); !errors.Is(err, ErrClosed) {
			t.Fatalf("Recv after Close: %v", err)
		}
		if err := bob.Send(proof(9)); !errors.Is(err, ErrClosed) {
			t.Fatalf("Send after Close: %v", err)
		}
		// Alice gets what was queued, the Error, and then the reason.
		for i := range 3 {
			m, err := alice.Recv()
			if err != nil || m.GetProof().GetNonce() != uint64(i) {
				t.Fatalf("Recv %d = %v, %v", i, m, err)
			}
		}
		m, err := alice.Recv()
		if err != nil || m.GetError().GetMessage() != "channel dispute" {
			t.Fatalf("Recv = %v, %v; want the Error", m, err)
		}
		err = recvErr(t, alice)
		var re *RemoteError
		if !errors.As(err, &re) || re.Message != "channel dispute" || re.Code != codes.Aborted || !errors.Is(err, ErrClosed) {
			t.Fatalf("listener Recv: %v", err)
		}
	})
	t.Run("listener closes with a status", func(t *testing.T) {
		ts := startServer(t, testConfig(t, aliceKey), nil)
		bob := mustDial(t, testConfig(t, bobKey), ts.addr, crypto.Address{})
		ts.accepted(t).Close(status.Error(codes.PermissionDenied, "go away"))
		err := recvErr(t, bob)
		var re *RemoteError
		if !errors.As(err, &re) || re.Code != codes.PermissionDenied || re.Message != "go away" {
			t.Fatalf("dialer Recv: %v", err)
		}
	})
	t.Run("handler returns", func(t *testing.T) {
		ts := startServer(t, testConfig(t, aliceKey), func(*PeerConn) {})
		bob := mustDial(t, testConfig(t, bobKey), ts.addr, crypto.Address{})
		if err := recvErr(t, bob); !errors.Is(err, ErrClosed) {
			t.Fatalf("dialer Recv: %v", err)
		}
	})
	t.Run("graceful stop", func(t *testing.T) {
		ts := startServer(t, testConfig(t, aliceKey), nil)
		bob := mustDial(t, testConfig(t, bobKey), ts.addr, crypto.Address{})
		ts.accepted(t)
		ts.srv.GracefulStop()
		err := recvErr(t, bob)
		var re *RemoteError
		if !errors.As(err, &re) || re.Code != codes.Unavailable {
			t.Fatalf("dialer Recv: %v", err)
		}
	})
}

// A peer that stops reading cannot block Send forever.
func TestPeerStopsReading(t *testing.T) {
	cfg := testConfig(t, aliceKey)
	cfg.SendTimeout = 300 * time.Millisecond
	cfg.SendQueue = 4
	sendErr := make(chan error, 1)
	ts := startServer(t, cfg, func(c *PeerConn) {
		m := &peerv1.Message{Body: &peerv1.Message_Propose{Propose: &peerv1.Propose{Salt: make([]byte, 256<<10)}}}
		for {
			if err := c.Send(m); err != nil {
				sendErr <- err
				return
			}
		}
	})
	r := dialRaw(t, ts.addr)
	r.recvHello(t)
	if err := r.stream.Send(dialerHello(t, bobKey, r.ekm)); err != nil {
		t.Fatal(err)
	}
	// r never reads again.
	select {
	case err := <-sendErr:
		if !errors.Is(err, ErrSendTimeout) || !errors.Is(err, ErrClosed) {
			t.Fatalf("Send: %v, want ErrSendTimeout", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Send blocked on a peer that does not read")
	}
}

// MaxUnauthenticated connections that never finish their handshake: one
// more is refused at once; once they time out, a real peer gets in.
func TestMaxUnauthenticated(t *testing.T) {
	for _, tt := range []struct {
		name  string
		stall func(t *testing.T, addr string) (ended func() bool)
	}{
		{
			// Streams that receive the listener's Hello and never answer.
			"silent streams",
			func(t *testing.T, addr string) func() bool {
				r := dialRaw(t, addr)
				r.recvHello(t)
				ended := make(chan struct{})
				go func() { _, _ = r.recvUntilEnd(t); close(ended) }()
				return func() bool { return isClosed(ended) }
			},
		},
		{
			// TLS connections that never speak HTTP/2.
			"silent TLS",
			func(t *testing.T, addr string) func() bool {
				cfg := clientTLSConfig()
				cfg.NextProtos = []string{"h2"}
				c, err := tls.Dial("tcp", addr, cfg)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				ended := make(chan struct{})
				go func() { _, _ = io.Copy(io.Discard, c); close(ended) }()
				return func() bool { return isClosed(ended) }
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			const limit = 3
			cfg := testConfig(t, aliceKey)
			cfg.MaxUnauthenticated = limit
			cfg.MaxUnauthenticatedPerSource = limit // all of them dial from 127.0.0.1
			cfg.HandshakeTimeout = time.Second
			ts := startServer(t, cfg, nil)
			var stalled []func() bool
			for range limit {
				stalled = append(stalled, tt.stall(t, ts.addr))
			}
			waitUntil(t, func() bool { return ts.srv.lim.unauthenticated() == limit })

			start := time.Now()
			if _, err := dial(t, testConfig(t, bobKey), ts.addr, crypto.Address{}); err == nil {
				t.Fatal("a connection beyond MaxUnauthenticated got through")
			}
			if d := time.Since(start); d > cfg.HandshakeTimeout/2 {
				t.Errorf("refusal took %v: not refused at once", d)
			}

			waitUntil(t, func() bool {
				for _, ended := range stalled {
					if !ended() {
						return false
					}
				}
				return true
			})
			// Their sockets are cut a little after their streams ended.
			waitUntil(t, func() bool { return ts.srv.lim.unauthenticated() == 0 })
			if d := time.Since(start); d > 3*cfg.HandshakeTimeout {
				t.Errorf("stalled connections lasted %v", d)
			}
			mustDial(t, testConfig(t, bobKey), ts.addr, aliceKey.Address())
			ts.accepted(t)
			waitUntil(t, func() bool { return ts.srv.lim.unauthenticated() == 0 })
		})
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func waitUntil(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
