package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holiman/uint256"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
	"github.com/tinypay/tinypay/store"
)

// net is a set of nodes that can dial each other by name.
type net struct {
	t     testing.TB
	cfg   func(*Config) // adjusts every node's config, if set
	chain *fakeChain
	mu    sync.Mutex
	nodes map[string]*testNode
	gate  chan struct{} // if set, the dialler's end of new connections sends once it is closed
	// fate, if set, decides what becomes of each message a node sends on
	// a connection made after it was set (see wireFate).
	fate func(from crypto.Address, m *peerv1.Message) wireFate
}

// wireFate is what becomes of a message sent on a test connection.
type wireFate int

const (
	delivered wireFate = iota
	lost               // dropped silently: the connection stays
	cut                // lost with the connection, which closes
)

type testNode struct {
	wrap func(Store) Store // wraps the store, if set
	// onChain, if set, sees the node's chain backend before the node
	// starts (to hang its reads, say).
	onChain func(*fakeBackend)
	cfg     func(*Config) // adjusts this node's config after the net's, if set
	proofs  ProofObserver // the node's observer of incoming proofs, if set
	dog     func()        // stops the node's watchdog
	t       testing.TB
	name    string
	net     *net
	key     *crypto.PrivateKey
	dir     string
	st      *store.Store
	n       *Node
	chain   *fakeBackend
	reg     *prometheus.Registry // the metrics of the current start
}

func newNet(t testing.TB) *net {
	return &net{t: t, chain: newFakeChain(), nodes: map[string]*testNode{}}
}

func seedKey(seed byte) *crypto.PrivateKey {
	b := make([]byte, 32)
	for i := range b {
		b[i] = seed
	}
	k, err := crypto.PrivateKeyFromBytes(b)
	if err != nil {
		panic(err)
	}
	return k
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.ChainPoll = 10 * time.Millisecond
	cfg.Redial = 20 * time.Millisecond
	cfg.RedialMax = 200 * time.Millisecond
	cfg.RequestTimeout = 5 * time.Second
	cfg.MinChallengePeriod = 1
	cfg.ChallengePeriod = 100
	if os.Getenv("TINYPAY_TEST_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return cfg
}

// withConfig adjusts a test node's config at every start.
func withConfig(f func(*Config)) func(*testNode) { return func(tn *testNode) { tn.cfg = f } }

// withStore wraps the node's store (a fault or a delay to inject) at
// every start.
func withStore(wrap func(Store) Store) func(*testNode) { return func(tn *testNode) { tn.wrap = wrap } }

// add starts a node named name with a funded wallet; opts adjust it
// before it starts (withConfig: its config at every start).
func (w *net) add(name string, seed byte, opts ...func(*testNode)) *testNode {
	tn := &testNode{t: w.t, name: name, net: w, key: seedKey(seed), dir: w.t.TempDir()}
	for _, o := range opts {
		o(tn)
	}
	w.chain.fund(tn.key.Address(), 1_000_000)
	tn.start()
	w.mu.Lock()
	w.nodes[name] = tn
	w.mu.Unlock()
	w.t.Cleanup(tn.stop)
	return tn
}

func (tn *testNode) start() {
	t := tn.t
	// Every test node has metrics (as tinypayd has by default), on a
	// registry of its own per start.
	tn.reg = prometheus.NewRegistry()
	met, err := NewMetrics(tn.reg)
	if err != nil {
		t.Fatal(err)
	}
	scfg := store.DefaultConfig(tn.dir)
	scfg.Observer = met
	st, err := store.Open(scfg)
	if err != nil {
		t.Fatal(err)
	}
	tn.st = st
	tn.chain = &fakeBackend{f: tn.net.chain, key: tn.key}
	if tn.onChain != nil {
		tn.onChain(tn.chain)
	}
	cfg := testConfig()
	if tn.net.cfg != nil {
		tn.net.cfg(&cfg)
	}
	if tn.cfg != nil {
		tn.cfg(&cfg)
	}
	var ns Store = st
	if tn.wrap != nil {
		ns = tn.wrap(st)
	}
	n, err := New(cfg, Deps{Key: tn.key, Store: ns, Chain: tn.chain, Dialer: nodeDialer{w: tn.net, self: tn.key.Address()}, Metrics: met, Proofs: tn.proofs})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	tn.net.mu.Lock()
	tn.n = n
	tn.net.mu.Unlock()
	tn.dog = watchdog(t, tn.name, n)
}

func (tn *testNode) stop() {
	tn.net.mu.Lock()
	n := tn.n
	tn.n = nil
	tn.net.mu.Unlock()
	if tn.dog != nil {
		tn.dog()
		tn.dog = nil
	}
	if n != nil {
		guard(tn.t, tn.name+" Stop", n.Stop)
	}
	if tn.st != nil {
		tn.st.Close()
		tn.st = nil
	}
}

func (tn *testNode) restart() {
	tn.stop()
	tn.start()
}

// nodeDialer dials other nodes of the net by name, as node self.
type nodeDialer struct {
	w    *net
	self crypto.Address
	// advertise, if set, is where the dialing node says it listens (its
	// Hello's listen addresses, as the dialed node sees them).
	advertise string
}

// DialPeer implements Dialer: hostport is a node's name, and a port
// (the node dials host:port only), which is ignored.
func (d nodeDialer) DialPeer(ctx context.Context, hostport string, want crypto.Address) (PeerConn, error) {
	w := d.w
	name, _, _ := strings.Cut(hostport, ":")
	w.mu.Lock()
	var tn *Node
	if target := w.nodes[name]; target != nil {
		tn = target.n
	}
	w.mu.Unlock()
	if tn == nil {
		return nil, fmt.Errorf("no node at %s", hostport)
	}
	if !want.IsZero() && tn.Address() != want {
		return nil, errors.New("wrong peer")
	}
	a, b := pipe(d.self, tn.Address())
	w.mu.Lock()
	a.gate = w.gate
	a.fate, b.fate = w.fate, w.fate
	w.mu.Unlock()
	if d.advertise != "" {
		go tn.HandlePeer(advertConn{b, d.advertise})
	} else {
		go tn.HandlePeer(b)
	}
	return a, nil
}

// connect connects a to b.
func (tn *testNode) connect(other *testNode) {
	tn.t.Helper()
	var err error
	guard(tn.t, tn.name+" ConnectPeer", func() { _, err = tn.n.ConnectPeer(context.Background(), other.name+":1", other.key.Address()) })
	if err != nil {
		tn.t.Fatal(err)
	}
}

func (tn *testNode) open(peer *testNode, deposit uint64) channel.ID {
	tn.t.Helper()
	var ci ChannelInfo
	var err error
	guard(tn.t, tn.name+" OpenChannel", func() {
		ci, err = tn.n.OpenChannel(context.Background(), peer.key.Address(), crypto.Address{}, *uint256.NewInt(deposit), 0)
	})
	if err != nil {
		tn.t.Fatal(err)
	}
	// The peer learns of the open from the chain.
	waitFor(tn.t, "peer sees the channel open", func() bool {
		ci, err := peer.n.Channel(ci.ID)
		return err == nil && ci.Phase == channel.Open && ci.PeerDeposit.Uint64() == deposit
	})
	return ci.ID
}

func (tn *testNode) pay(id channel.ID, amount uint64, key string) PaymentInfo {
	tn.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var p PaymentInfo
	var err error
	guard(tn.t, tn.name+" Pay "+key, func() { p, err = tn.n.Pay(ctx, PayRequest{Channel: id, Amount: *uint256.NewInt(amount), Key: key}) })
	if err != nil {
		tn.t.Fatalf("pay %s: %v", key, err)
	}
	return p
}

func (tn *testNode) channel(id channel.ID) ChannelInfo {
	tn.t.Helper()
	var ci ChannelInfo
	var err error
	guard(tn.t, tn.name+" Channel", func() { ci, err = tn.n.Channel(id) })
	if err != nil {
		tn.t.Fatal(err)
	}
	return ci
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// reconcile makes tn read channel id from the chain now, as its watcher
// does at start.
func (tn *testNode) reconcile(id channel.ID) {
	tn.t.Helper()
	c := tn.n.chans.get(id)
	if c == nil {
		tn.t.Fatalf("%s has no channel %s", tn.name, id)
	}
	oc, err := tn.chain.Channel(context.Background(), id)
	if err != nil {
		tn.t.Fatal(err)
	}
	if err := c.stepAndWait(context.Background(), func() { c.applyChain(oc) }); err != nil {
		tn.t.Fatal(err)
	}
}

// count returns the payments in the book.
func (b *payBook) count() int {
	n := 0
	for i := range b.shards {
		b.shards[i].mu.Lock()
		n += len(b.shards[i].pending)
		b.shards[i].mu.Unlock()
	}
	return n
}

// watchdogLimit is how long a call into a node may take in tests before
// the watchdog fails the test with a goroutine dump.
const watchdogLimit = 5 * time.Second
