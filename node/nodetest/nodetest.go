// Package nodetest runs real tinypay nodes in tests: the EVM backend on
// go-ethereum's simulated chain (evmtest), the TLS peer transport on
// loopback, a badger store on disk, and the control API over TLS with a
// token, with the node's data directory laid out as tinypayd lays it out
// (api.addr, api.token, tls.crt), so clients find it as they would a real
// daemon. Nothing here is a fake.
package nodetest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holiman/uint256"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/reflection"

	"github.com/tinypay/tinypay/apps"
	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc"
	"github.com/tinypay/tinypay/rpc/apiutil"
	"github.com/tinypay/tinypay/settlement/evm/evmtest"
	"github.com/tinypay/tinypay/store"
)

// NewChain starts a simulated chain with the adjudicator and the test
// dollar; see evmtest.
func NewChain(t testing.TB) *evmtest.Chain { return evmtest.NewChain(t) }

// Node is a running node.
type Node struct {
	T     testing.TB
	Name  string
	Key   *crypto.PrivateKey
	Chain *evmtest.Chain
	Dir   string // data dir: api.addr, api.token, tls.crt, db/
	Addr  string // peer listen address
	USD   crypto.Address

	// Config adjusts the node's configuration before each start.
	Config func(*node.Config)
	// AppsConfig adjusts the application layer's configuration before
	// each start.
	AppsConfig func(*apps.Config)

	mu      sync.Mutex
	st      *store.Store
	n       *node.Node
	a       *apps.Apps
	srv     *rpc.PeerServer
	api     *grpc.Server
	conns   []*rpc.PeerConn
	stopped bool
	dog     func() // stops the watchdog
}

// Start starts a node for key on chain; it stops when the test ends.
func Start(t testing.TB, chain *evmtest.Chain, name string, key *crypto.PrivateKey, config ...func(*node.Config)) *Node {
	t.Helper()
	return StartWithApps(t, chain, name, key, nil, config...)
}

// StartWithApps is Start with appsConfig adjusting the application layer's
// configuration (nil: the defaults).
func StartWithApps(t testing.TB, chain *evmtest.Chain, name string, key *crypto.PrivateKey, appsConfig func(*apps.Config), config ...func(*node.Config)) *Node {
	t.Helper()
	e := &Node{T: t, Name: name, Key: key, Chain: chain, Dir: t.TempDir(), USD: crypto.Address(chain.Token), Addr: FreeAddr(t), AppsConfig: appsConfig}
	if len(config) > 0 {
		e.Config = config[0]
	}
	e.start()
	t.Cleanup(e.Stop)
	return e
}

// FreeAddr returns a loopback address with a port that is free now and
// that a test may give to a node it restarts: the port is drawn from below
// the kernel's ephemeral range, so no listener on ":0" and no outgoing
// connection (which take ephemeral ports) can take it while the node is
// down, and it is never handed out twice in this process.
func FreeAddr(t testing.TB) string {
	t.Helper()
	low := ephemeralLow()
	freeAddrs.Lock()
	defer freeAddrs.Unlock()
	if freeAddrs.given == nil {
		freeAddrs.given = map[int]bool{}
	}
	for range 1000 {
		port := freeAddrFloor + rand.IntN(low-freeAddrFloor)
		if freeAddrs.given[port] {
			continue
		}
		lis, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		lis.Close()
		freeAddrs.given[port] = true
		return lis.Addr().String()
	}
	t.Fatalf("no free port in [%d, %d)", freeAddrFloor, low)
	return ""
}

// freeAddrFloor is the lowest port FreeAddr hands out.
const freeAddrFloor = 20000

var freeAddrs struct {
	sync.Mutex
	given map[int]bool
}

// ephemeralLow is the first port of the kernel's ephemeral range (32768
// where it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > freeAddrFloor+1000 {
				return n
			}
		}
	}
	return 32768
}

// Apps returns the running node's application layer.
func (e *Node) Apps() *apps.Apps {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.a
}

// N returns the running node.
func (e *Node) N() *node.Node {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n
}

// Store returns the node's store.
func (e *Node) Store() *store.Store {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.st
}

// PeerConfig is the node's peer transport configuration.
func (e *Node) PeerConfig() rpc.PeerConfig {
	cert, err := rpc.LoadOrCreateCertificate(filepath.Join(e.Dir, "tls.crt"), filepath.Join(e.Dir, "tls.key"))
	if err != nil {
		e.T.Fatal(err)
	}
	cfg := rpc.DefaultPeerConfig()
	cfg.ChainID, cfg.Adjudicator, cfg.Key, cfg.Certificate, cfg.ListenAddr = evmtest.ChainID, crypto.Address(e.Chain.Adjudicator), e.Key, &cert, e.Addr
	return cfg
}

type dialer struct{ e *Node }

func (d dialer) DialPeer(ctx context.Context, hostport string, want crypto.Address) (node.PeerConn, error) {
	c, err := rpc.DialPeer(ctx, d.e.PeerConfig(), hostport, want)
	if err != nil {
		return nil, err
	}
	d.e.track(c)
	return c, nil
}

func (e *Node) track(c *rpc.PeerConn) {
	e.mu.Lock()
	e.conns = append(e.conns, c)
	e.mu.Unlock()
}

// DropConnections cuts every peer connection, as a network failure would.
func (e *Node) DropConnections() {
	e.mu.Lock()
	conns := e.conns
	e.conns = nil
	e.mu.Unlock()
	for _, c := range conns {
		c.Close(errors.New("test: connection dropped"))
	}
}

func (e *Node) start() {
	t := e.T
	st, err := store.Open(store.DefaultConfig(filepath.Join(e.Dir, "db")))
	if err != nil {
		t.Fatal(err)
	}
	cfg := node.DefaultConfig()
	cfg.Assets = []node.Asset{{Address: e.USD, Symbol: "USD", Decimals: 6}}
	cfg.ChainPoll = 20 * time.Millisecond
	cfg.Redial, cfg.RedialMax = 50*time.Millisecond, 500*time.Millisecond
	cfg.MinChallengePeriod, cfg.ChallengePeriod = 10, 100
	cfg.ListenAddr = e.Addr
	if os.Getenv("TINYPAY_TEST_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", e.Name)
	}
	if e.Config != nil {
		e.Config(&cfg)
	}
	acfg := apps.DefaultConfig()
	if cfg.Logger != nil {
		acfg.Logger = cfg.Logger.With("component", "apps")
	}
	if e.AppsConfig != nil {
		e.AppsConfig(&acfg)
	}
	a, err := apps.New(acfg, apps.Deps{Key: e.Key, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	n, err := node.New(cfg, node.Deps{Key: e.Key, Store: st, Chain: e.Chain.Backend(t, e.Key), Dialer: dialer{e}, Hooks: a})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := a.Start(n); err != nil {
		t.Fatal(err)
	}
	srv, err := rpc.NewPeerServer(e.PeerConfig(), func(c *rpc.PeerConn) {
		e.track(c)
		n.HandlePeer(c)
	})
	if err != nil {
		t.Fatal(err)
	}
	var lis net.Listener
	for range 50 { // the port may linger briefly after a restart
		if lis, err = net.Listen("tcp", e.Addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	api := e.serveAPI(n, a)
	e.mu.Lock()
	e.st, e.n, e.a, e.srv, e.api, e.stopped = st, n, a, srv, api, false
	e.dog = watchdog(t, e.Name, n)
	e.mu.Unlock()
}

// WatchdogLimit is how long a running node may take to show it makes
// progress (node.Health) before the test fails with a goroutine dump.
const WatchdogLimit = 5 * time.Second

// watchdog checks n's health until the returned function is called.
func watchdog(t testing.TB, name string, n *node.Node) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.Monitor(ctx, 100*time.Millisecond, WatchdogLimit, func(err error, dump string) {
			if !strings.Contains(err.Error(), "store failed") {
				t.Errorf("watchdog: node %s is stuck: %v\n%s", name, err, dump)
			}
		})
	}()
	return func() {
		cancel()
		<-done
	}
}

// serveAPI serves the control API as tinypayd does and writes api.addr.
func (e *Node) serveAPI(n *node.Node, a *apps.Apps) *grpc.Server {
	t := e.T
	token, err := rpc.LoadOrCreateToken(filepath.Join(e.Dir, "api.token"))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := rpc.LoadOrCreateCertificate(filepath.Join(e.Dir, "tls.crt"), filepath.Join(e.Dir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	unary, stream := rpc.TokenAuth(token, a.Authenticate)
	srv := grpc.NewServer(append(rpc.APIKeepalive(), grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})),
		grpc.ChainUnaryInterceptor(unary), grpc.ChainStreamInterceptor(stream))...)
	rpc.NewAPIServer(n, a).Register(srv)
	reflection.Register(srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.Dir, "api.addr"), []byte(lis.Addr().String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	return srv
}

// Stop stops the node (idempotent).
func (e *Node) Stop() {
	e.mu.Lock()
	if e.stopped {
		e.mu.Unlock()
		return
	}
	e.stopped = true
	n, a, st, srv, api, dog := e.n, e.a, e.st, e.srv, e.api, e.dog
	e.mu.Unlock()
	dog()
	api.Stop()
	srv.Stop()
	a.Stop()
	n.Stop()
	st.Close()
}

// Restart stops and starts the node on the same data dir.
func (e *Node) Restart() { e.Stop(); e.start() }

// Channel returns the node's view of a channel.
func (e *Node) Channel(id channel.ID) node.ChannelInfo {
	e.T.Helper()
	ci, err := e.N().Channel(id)
	if err != nil {
		e.T.Fatal(err)
	}
	return ci
}

// Pay pays through a channel or fails the test.
func (e *Node) Pay(id channel.ID, amount uint64, key string) node.PaymentInfo {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := e.N().Pay(ctx, node.PayRequest{Channel: id, Amount: *uint256.NewInt(amount), Key: key})
	if err != nil {
		e.T.Fatalf("%s pays %s: %v", e.Name, key, err)
	}
	return p
}

// Wallet returns the node account's test dollar balance on chain.
func (e *Node) Wallet() uint64 {
	e.T.Helper()
	b, err := e.Chain.Backend(e.T, e.Key).Balance(context.Background(), e.Key.Address(), e.USD)
	if err != nil {
		e.T.Fatal(err)
	}
	return b.Uint64()
}

// OpenUSD connects e to b and opens a USD channel with e's deposit, and
// waits until b sees it open.
func (e *Node) OpenUSD(b *Node, deposit uint64) channel.ID {
	t := e.T
	t.Helper()
	ctx := context.Background()
	if _, err := e.N().ConnectPeer(ctx, b.Addr, b.Key.Address()); err != nil {
		t.Fatal(err)
	}
	ci, err := e.N().OpenChannel(ctx, b.Key.Address(), e.USD, *uint256.NewInt(deposit), 0)
	if err != nil {
		t.Fatal(err)
	}
	Eventually(t, "the peer sees the channel open", func() bool {
		c, err := b.N().Channel(ci.ID)
		return err == nil && c.Phase == channel.Open && c.PeerDeposit.Uint64() == deposit
	})
	return ci.ID
}

// AdminToken returns the node's admin token.
func (e *Node) AdminToken() string {
	tok, err := apiutil.LoadToken(filepath.Join(e.Dir, "api.token"))
	if err != nil {
		e.T.Fatal(err)
	}
	return tok
}

// API returns a control-API client with the admin token.
func (e *Node) API() apiv1.NodeClient { return e.Dial(e.AdminToken()) }

// Dial returns a control-API client that authenticates with token.
func (e *Node) Dial(token string) apiv1.NodeClient {
	t := e.T
	addr, err := os.ReadFile(filepath.Join(e.Dir, "api.addr"))
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(filepath.Join(e.Dir, "tls.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "localhost"}))}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(apiutil.TokenCredentials(token)))
	}
	conn, err := grpc.NewClient(string(trim(addr)), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return apiv1.NewNodeClient(conn)
}

func trim(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// LeakOptions are for goleak.VerifyTestMain in packages whose tests run
// nodes: the simulated chain leaves two goroutines of its libraries behind
// (a process-wide cache of go-ethereum's and a pool drainer of leveldb's);
// anything else that outlives the tests is a leak.
func LeakOptions() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("github.com/ethereum/go-ethereum/core.(*txSenderCacher).cache"),
		goleak.IgnoreTopFunction("github.com/syndtr/goleveldb/leveldb.(*DB).mpoolDrain"),
	}
}

// Eventually waits up to 20 s for cond.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Start starts a stopped node again on the same data dir.
func (e *Node) Start() { e.start() }

// SyncBuffer is a bytes.Buffer that goroutines (a command, a logger) may
// write while the test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
