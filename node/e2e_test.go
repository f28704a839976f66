package node_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/holiman/uint256"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc"
	"github.com/tinypay/tinypay/settlement"
	"github.com/tinypay/tinypay/settlement/evm/evmtest"
	"github.com/tinypay/tinypay/store"
)

// e2eNode is a node on the real stack: the EVM backend on the simulated
// chain, the TLS peer transport on loopback, a badger store on disk.
type e2eNode struct {
	t       *testing.T
	name    string
	key     *crypto.PrivateKey
	chain   *evmtest.Chain
	dir     string
	addr    string // peer listen address
	usd     crypto.Address
	st      *store.Store
	n       *node.Node
	srv     *rpc.PeerServer
	mu      sync.Mutex
	conns   []*rpc.PeerConn
	stopped bool
}

func newE2E(t *testing.T, chain *evmtest.Chain, name string, key *crypto.PrivateKey) *e2eNode {
	e := &e2eNode{t: t, name: name, key: key, chain: chain, dir: t.TempDir(), usd: crypto.Address(chain.Token)}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = lis.Addr().String()
	lis.Close()
	e.start()
	t.Cleanup(e.stop)
	return e
}

func (e *e2eNode) peerConfig() rpc.PeerConfig {
	cert, err := rpc.LoadOrCreateCertificate(filepath.Join(e.dir, "tls.crt"), filepath.Join(e.dir, "tls.key"))
	if err != nil {
		e.t.Fatal(err)
	}
	cfg := rpc.DefaultPeerConfig()
	cfg.ChainID, cfg.Adjudicator, cfg.Key, cfg.Certificate, cfg.ListenAddr = evmtest.ChainID, crypto.Address(e.chain.Adjudicator), e.key, &cert, e.addr
	return cfg
}

type e2eDialer struct{ e *e2eNode }

func (d e2eDialer) DialPeer(ctx context.Context, hostport string, want crypto.Address) (node.PeerConn, error) {
	c, err := rpc.DialPeer(ctx, d.e.peerConfig(), hostport, want)
	if err != nil {
		return nil, err
	}
	d.e.track(c)
	return c, nil
}

func (e *e2eNode) track(c *rpc.PeerConn) {
	e.mu.Lock()
	e.conns = append(e.conns, c)
	e.mu.Unlock()
}

// dropConnections cuts every peer connection of the node, as a network
// failure would.
func (e *e2eNode) dropConnections() {
	e.mu.Lock()
	conns := e.conns
	e.conns = nil
	e.mu.Unlock()
	for _, c := range conns {
		c.Close(errors.New("test: connection dropped"))
	}
}

func (e *e2eNode) start() {
	t := e.t
	st, err := store.Open(store.DefaultConfig(filepath.Join(e.dir, "db")))
	if err != nil {
		t.Fatal(err)
	}
	cfg := node.DefaultConfig()
	cfg.Assets = []node.Asset{{Address: e.usd, Symbol: "USD", Decimals: 6}}
	cfg.ChainPoll = 20 * time.Millisecond
	cfg.Redial = 50 * time.Millisecond
	cfg.MinChallengePeriod, cfg.ChallengePeriod = 10, 100
	cfg.ListenAddr = e.addr
	n, err := node.New(cfg, node.Deps{Key: e.key, Store: st, Chain: e.chain.Backend(t, e.key), Dialer: e2eDialer{e}})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv, err := rpc.NewPeerServer(e.peerConfig(), func(c *rpc.PeerConn) {
		e.track(c)
		n.HandlePeer(c)
	})
	if err != nil {
		t.Fatal(err)
	}
	var lis net.Listener
	for range 50 { // the port may linger briefly after a restart
		if lis, err = net.Listen("tcp", e.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	e.mu.Lock()
	e.st, e.n, e.srv, e.stopped = st, n, srv, false
	e.mu.Unlock()
}

func (e *e2eNode) stop() {
	e.mu.Lock()
	if e.stopped {
		e.mu.Unlock()
		return
	}
	e.stopped = true
	e.mu.Unlock()
	e.srv.Stop()
	e.n.Stop()
	e.st.Close()
}

func (e *e2eNode) restart() { e.stop(); e.start() }

func (e *e2eNode) ch(id channel.ID) node.ChannelInfo {
	e.t.Helper()
	ci, err := e.n.Channel(id)
	if err != nil {
		e.t.Fatal(err)
	}
	return ci
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func pay(t *testing.T, e *e2eNode, id channel.ID, amount uint64, key string) node.PaymentInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := e.n.Pay(ctx, node.PayRequest{Channel: id, Amount: *uint256.NewInt(amount), Key: key})
	if err != nil {
		t.Fatalf("%s pays %s: %v", e.name, key, err)
	}
	return p
}

func wallet(t *testing.T, e *e2eNode) uint64 {
	t.Helper()
	b, err := e.chain.Backend(t, e.key).Balance(context.Background(), e.key.Address(), e.usd)
	if err != nil {
		t.Fatal(err)
	}
	return b.Uint64()
}

func openUSD(t *testing.T, a, b *e2eNode, deposit uint64) channel.ID {
	t.Helper()
	ctx := context.Background()
	if _, err := a.n.ConnectPeer(ctx, b.addr, b.key.Address()); err != nil {
		t.Fatal(err)
	}
	ci, err := a.n.OpenChannel(ctx, b.key.Address(), a.usd, *uint256.NewInt(deposit), 0)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the peer sees the channel open", func() bool {
		c, err := b.n.Channel(ci.ID)
		return err == nil && c.Phase == channel.Open && c.PeerDeposit.Uint64() == deposit
	})
	return ci.ID
}

// TestE2ECooperativeCloseOnChain: a USD channel between two nodes over TLS,
// payments both ways, cooperative close; the token balances on chain move
// by exactly the off-chain balances.
func TestE2ECooperativeCloseOnChain(t *testing.T) {
	chain := evmtest.NewChain(t)
	alice, bob := newE2E(t, chain, "alice", chain.Alice), newE2E(t, chain, "bob", chain.Bob)
	aliceStart, bobStart := wallet(t, alice), wallet(t, bob)
	id := openUSD(t, alice, bob, 5_000_000)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				pay(t, alice, id, 100, fmt.Sprintf("a%d-%d", g, i))
			}
		}()
	}
	wg.Wait()
	pay(t, bob, id, 7_000, "back")
	if _, err := bob.n.CloseChannel(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	eventually(t, "alice sees the close", func() bool { return alice.ch(id).Phase == channel.Settled })
	// Alice paid 40,000 and got 7,000 back.
	if got := int64(wallet(t, alice)) - int64(aliceStart); got != -33_000 {
		t.Fatalf("alice's wallet moved by %d, want -33000", got)
	}
	if got := wallet(t, bob) - bobStart; got != 33_000 {
		t.Fatalf("bob's wallet moved by %d, want 33000", got)
	}
}

// TestE2EMalloryStaleCloseRestart is the named-role scenario on the real
// chain: Mallory pays Bob, then force-closes presenting a stale proof of her
// own; Bob is down, comes back inside the challenge period, presents
// Mallory's newest proof, and his watcher settles after the period.
func TestE2EMalloryStaleCloseRestart(t *testing.T) {
	chain := evmtest.NewChain(t)
	mallory, bob := newE2E(t, chain, "mallory", chain.Mallory), newE2E(t, chain, "bob", chain.Bob)
	bobStart := wallet(t, bob)
	id := openUSD(t, mallory, bob, 1_000_000)
	stale := pay(t, mallory, id, 10, "m0")
	for i := range 30 {
		pay(t, mallory, id, 1000, fmt.Sprintf("m%d", i+1))
	}
	if stale.Cumulative.Uint64() != 10 {
		t.Fatalf("first payment's cumulative %d", stale.Cumulative.Uint64())
	}
	bob.stop()
	mallory.stop()
	// Mallory signs nothing new: she presents her own first proof (10),
	// which she can rebuild, as her stale claim.
	dom := crypto.NewDomain(evmtest.ChainID, crypto.Address(chain.Adjudicator))
	sig, err := chain.Mallory.Sign(dom.BalanceProofDigest(id, 1, uint256.NewInt(10)))
	if err != nil {
		t.Fatal(err)
	}
	mb := chain.Backend(t, chain.Mallory)
	params := findParams(t, mb, id)
	if _, err := mb.ForceClose(context.Background(), params, settlement.Proof{}, settlement.Proof{Nonce: 1, Transferred: *uint256.NewInt(10), Sig: sig}); err != nil {
		t.Fatal(err)
	}
	chain.Advance(t, 40) // Bob is down for 40 of the 100 seconds
	bob.start()
	eventually(t, "bob presents mallory's newest proof", func() bool {
		oc, err := mb.Channel(context.Background(), id)
		return err == nil && oc.Transferred[channel.A].Uint64() == 30_010
	})
	chain.Advance(t, 120)
	eventually(t, "bob's watcher settles", func() bool { return bob.ch(id).Phase == channel.Settled })
	if got := wallet(t, bob) - bobStart; got != 30_010 {
		t.Fatalf("bob was paid %d, want 30010", got)
	}
}

func findParams(t *testing.T, b settlement.EventSource, id channel.ID) settlement.Params {
	t.Helper()
	evs, _, err := b.Events(context.Background(), settlement.Cursor{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Kind == settlement.EventOpened && ev.Channel == id {
			return ev.Params
		}
	}
	t.Fatal("channel not found on chain")
	return settlement.Params{}
}

// TestE2EDroppedConnection: the connection drops in the middle of a stream
// of payments; the nodes reconnect, reestablish, and every payment arrives
// exactly once.
func TestE2EDroppedConnection(t *testing.T) {
	chain := evmtest.NewChain(t)
	alice, bob := newE2E(t, chain, "alice", chain.Alice), newE2E(t, chain, "bob", chain.Bob)
	id := openUSD(t, alice, bob, 10_000_000)
	const payers, each = 4, 100
	var wg sync.WaitGroup
	for g := range payers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				pay(t, alice, id, 1, fmt.Sprintf("d%d-%d", g, i))
				if g == 0 && i == each/2 {
					alice.dropConnections()
				}
			}
		}()
	}
	wg.Wait()
	eventually(t, "bob holds every payment", func() bool { r := bob.ch(id).Received; return r.Uint64() == payers*each })
	pays, _, err := bob.n.Payments(0, 1000, id)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[[32]byte]bool{}
	for _, p := range pays {
		if seen[p.RemoteID] {
			t.Fatalf("payment %x logged twice", p.RemoteID[:4])
		}
		seen[p.RemoteID] = true
	}
	if len(pays) != payers*each {
		t.Fatalf("bob logged %d payments, want %d", len(pays), payers*each)
	}
}

// TestE2EControlAPIAuth: the control API refuses calls without the token or
// with a wrong one, serves reflection without it, and validates arguments
// without changing anything.
func TestE2EControlAPIAuth(t *testing.T) {
	chain := evmtest.NewChain(t)
	alice, bob := newE2E(t, chain, "alice", chain.Alice), newE2E(t, chain, "bob", chain.Bob)
	id := openUSD(t, alice, bob, 1_000_000)
	tokenPath := filepath.Join(alice.dir, "api.token")
	token, err := rpc.LoadOrCreateToken(tokenPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(tokenPath); fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v", fi.Mode().Perm())
	}
	cert, err := rpc.LoadOrCreateCertificate(filepath.Join(alice.dir, "tls.crt"), filepath.Join(alice.dir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	unary, stream := rpc.TokenAuth(token, alice.n.Authenticate)
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})),
		grpc.ChainUnaryInterceptor(unary), grpc.ChainStreamInterceptor(stream))
	rpc.NewAPIServer(alice.n).Register(srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	pem, _ := os.ReadFile(filepath.Join(alice.dir, "tls.crt"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	dial := func(tok string) apiv1.NodeClient {
		opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "localhost"}))}
		if tok != "" {
			opts = append(opts, grpc.WithPerRPCCredentials(rpc.TokenCredentials(tok)))
		}
		conn, err := grpc.NewClient(lis.Addr().String(), opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return apiv1.NewNodeClient(conn)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		tok  string
	}{{"no token", ""}, {"wrong token", "00" + token[2:]}, {"short token", token[:10]}} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dial(tc.tok).Pay(ctx, &apiv1.PayRequest{ChannelId: id.Hex(), Amount: "1", IdempotencyKey: "x"})
			if status.Code(err) != codes.Unauthenticated {
				t.Fatalf("Pay = %v, want Unauthenticated", err)
			}
			stream, err := dial(tc.tok).SubscribeEvents(ctx, &apiv1.SubscribeEventsRequest{})
			if err == nil {
				_, err = stream.Recv()
			}
			if status.Code(err) != codes.Unauthenticated {
				t.Fatalf("SubscribeEvents = %v, want Unauthenticated", err)
			}
		})
	}
	good := dial(token)
	for _, tc := range []struct {
		name string
		req  *apiv1.PayRequest
		want codes.Code
	}{
		{"no key", &apiv1.PayRequest{ChannelId: id.Hex(), Amount: "1"}, codes.InvalidArgument},
		{"zero", &apiv1.PayRequest{ChannelId: id.Hex(), Amount: "0", IdempotencyKey: "k"}, codes.InvalidArgument},
		{"negative", &apiv1.PayRequest{ChannelId: id.Hex(), Amount: "-5", IdempotencyKey: "k"}, codes.InvalidArgument},
		{"fraction", &apiv1.PayRequest{ChannelId: id.Hex(), Amount: "1.5", IdempotencyKey: "k"}, codes.InvalidArgument},
		{"overflow", &apiv1.PayRequest{ChannelId: id.Hex(), Amount: "1" + fmt.Sprint(new(uint256.Int).SetAllOne().Dec()), IdempotencyKey: "k"}, codes.InvalidArgument},
		{"over balance", &apiv1.PayRequest{ChannelId: id.Hex(), Amount: "1000001", IdempotencyKey: "k"}, codes.FailedPrecondition},
		{"bad channel id", &apiv1.PayRequest{ChannelId: "0x12", Amount: "1", IdempotencyKey: "k"}, codes.InvalidArgument},
		{"unknown channel", &apiv1.PayRequest{ChannelId: crypto.Hash{1}.Hex(), Amount: "1", IdempotencyKey: "k"}, codes.NotFound},
		{"bad peer", &apiv1.PayRequest{Peer: "0xabc", Amount: "1", IdempotencyKey: "k"}, codes.InvalidArgument},
		{"unknown asset", &apiv1.PayRequest{Peer: bob.key.Address().Hex(), Asset: "DOGE", Amount: "1", IdempotencyKey: "k"}, codes.InvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := good.Pay(ctx, tc.req)
			if status.Code(err) != tc.want {
				t.Fatalf("Pay = %v, want %s", err, tc.want)
			}
		})
	}
	if ci := alice.ch(id); ci.SentNonce != 0 {
		t.Fatalf("refused calls changed the channel: sent nonce %d", ci.SentNonce)
	}
	p, err := good.Pay(ctx, &apiv1.PayRequest{Peer: bob.key.Address().Hex(), Asset: "USD", Amount: "25", IdempotencyKey: "ok", ItemId: "song"})
	if err != nil || p.GetStatus() != "complete" || p.GetAmount() != "25" {
		t.Fatalf("good Pay = %v, %v", p, err)
	}
}
