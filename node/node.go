package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
	"github.com/tinypay/tinypay/settlement"
	"github.com/tinypay/tinypay/store"
)

// Deps are the node's boundaries; cmd/tinypayd builds the real ones.
type Deps struct {
	Key     *crypto.PrivateKey
	Store   Store
	Chain   settlement.Backend
	Dialer  Dialer   // nil: the node only accepts connections
	Clock   Clock    // nil: the system clock
	Metrics *Metrics // nil: no metrics
}

// Node coordinates channels, peers, the store and the chain. Its exported
// methods are safe for concurrent use.
type Node struct {
	cfg    Config
	log    *slog.Logger
	key    *crypto.PrivateKey
	self   crypto.Address
	store  Store
	chain  settlement.Backend
	dialer Dialer
	clock  Clock
	met    *Metrics
	assets map[crypto.Address]Asset

	mu        sync.Mutex
	channels  map[channel.ID]*chanState
	sessions  map[crypto.Address]*session
	addrs     map[crypto.Address]string // where peers listen
	dialing   map[crypto.Address]bool
	proposals map[channel.ID]chan error // awaiting the peer's Accept

	payMu   sync.Mutex
	pending map[string]*payment // idempotency key -> payment not yet finished

	offerMu        sync.Mutex
	offersInFlight map[crypto.Hash]bool // incoming offers accepted, not yet durable

	streamMu sync.Mutex
	streams  map[[16]byte]*stream

	tok tokens

	logNotify atomic.Pointer[chan struct{}] // closed when the log grows
	chainTime atomic.Uint64                 // newest confirmed chain timestamp seen
	failed    atomic.Pointer[error]         // set when the store failed: nothing more is accepted

	commits sync.WaitGroup // CommitAsync callbacks outstanding
	// commitMu orders commitAsync's commits.Add against Stop's
	// commits.Wait; noCommits (set by Stop) refuses new async writes.
	commitMu  sync.RWMutex
	noCommits bool
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	stopped   atomic.Bool
}

// New builds a node. Start loads its channels and starts its loops.
func New(cfg Config, d Deps) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("node config: %w", err)
	}
	if d.Key == nil || d.Store == nil || d.Chain == nil {
		return nil, errors.New("node: key, store and chain are required")
	}
	if d.Chain.Account() != d.Key.Address() {
		return nil, fmt.Errorf("node: chain account %s is not the node key %s", d.Chain.Account(), d.Key.Address())
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	clock := d.Clock
	if clock == nil {
		clock = systemClock{}
	}
	n := &Node{
		cfg: cfg, log: log, key: d.Key, self: d.Key.Address(), store: d.Store, chain: d.Chain,
		dialer: d.Dialer, clock: clock, met: d.Metrics,
		assets:    map[crypto.Address]Asset{{}: ETH},
		channels:  make(map[channel.ID]*chanState),
		sessions:  make(map[crypto.Address]*session),
		addrs:     make(map[crypto.Address]string),
		dialing:   make(map[crypto.Address]bool),
		proposals: make(map[channel.ID]chan error),
		pending:   make(map[string]*payment),

		offersInFlight: make(map[crypto.Hash]bool),
		streams:        make(map[[16]byte]*stream),
		tok:            tokens{byID: map[TokenID]*appToken{}, byHash: map[crypto.Hash]TokenID{}},
	}
	for _, a := range cfg.Assets {
		n.assets[a.Address] = a
	}
	ch := make(chan struct{})
	n.logNotify.Store(&ch)
	n.ctx, n.cancel = context.WithCancel(context.Background())
	return n, nil
}

// Address returns the node's address (its key's, and its chain account).
func (n *Node) Address() crypto.Address { return n.self }

// Start loads the channels from the store, reconciles them with the chain,
// and starts the chain watcher and the redial loop.
func (n *Node) Start(ctx context.Context) error {
	recs, err := n.store.Channels()
	if err != nil {
		return fmt.Errorf("load channels: %w", err)
	}
	for _, r := range recs {
		c, err := n.loadChannel(r)
		if err != nil {
			return err
		}
		n.channels[c.id] = c
	}
	if err := n.loadPeerAddrs(); err != nil {
		return err
	}
	if err := n.loadTokens(); err != nil {
		return fmt.Errorf("load tokens: %w", err)
	}
	if h, err := n.chain.Head(ctx); err == nil {
		n.chainTime.Store(h.Time)
	} else {
		n.log.Warn("chain head unavailable at start", "err", err)
	}
	n.wg.Add(3)
	go n.chainLoop()
	go n.redialLoop()
	go n.meterLoop()
	n.streamMu.Lock()
	err = n.loadStreams()
	n.streamMu.Unlock()
	if err != nil {
		n.cancel()
		n.wg.Wait()
		return fmt.Errorf("load streams: %w", err)
	}
	n.log.Info("node started", "address", n.self, "channels", len(n.channels), "chain", n.chain.ChainID())
	return nil
}

func (n *Node) loadChannel(r *storev1.Channel) (*chanState, error) {
	id := [32]byte(r.GetId())
	var proofs [2]*storev1.Proof
	for side := range uint32(2) {
		p, err := n.store.Proof(id, side)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("load channel %x: %w", id, err)
		}
		proofs[side] = p
	}
	st, err := stateFromRecord(r, proofs)
	if err != nil {
		return nil, fmt.Errorf("load channel %x: %w", id, err)
	}
	ch, err := channel.Restore(st)
	if err != nil {
		return nil, fmt.Errorf("load channel %x: %w", id, err)
	}
	c := n.newChanState(ch, time.Unix(0, r.GetCreatedUnixNano()))
	c.durableNonce = ch.Sent().Nonce
	return c, nil
}

// Stop stops the node gracefully: no new payments or proofs are accepted,
// writes already queued finish and their acknowledgements are sent, then
// the peer connections close.
func (n *Node) Stop() {
	if n.stopped.Swap(true) {
		return
	}
	n.cancel()
	n.wg.Wait()
	n.commitMu.Lock()
	n.noCommits = true // a peer's proof arriving now is not acknowledged
	n.commitMu.Unlock()
	n.commits.Wait() // every queued write reported durable (acks queued)
	n.mu.Lock()
	sessions := make([]*session, 0, len(n.sessions))
	for _, s := range n.sessions {
		sessions = append(sessions, s)
	}
	n.mu.Unlock()
	for _, s := range sessions {
		s.drainAndClose(2*time.Second, ErrStopped)
	}
	n.payMu.Lock()
	pending := make([]*payment, 0, len(n.pending))
	for _, p := range n.pending {
		pending = append(pending, p)
	}
	n.payMu.Unlock()
	for _, p := range pending { // fail takes payMu itself
		p.fail(ErrStopped)
	}
	n.log.Info("node stopped")
}

// fail records a store failure: the node refuses everything from now on,
// since it can no longer persist before acknowledging.
func (n *Node) fail(err error) {
	if n.failed.CompareAndSwap(nil, &err) {
		n.log.Error("store failed; refusing all further payments and proofs", "err", err)
	}
}

func (n *Node) usable() error {
	if p := n.failed.Load(); p != nil {
		return fmt.Errorf("node failed: %w", *p)
	}
	if n.stopped.Load() {
		return ErrStopped
	}
	return nil
}

// commitAsync queues b and tracks the callback for a graceful stop. done
// runs on the store's committer, or on a goroutine of its own when the
// write is refused (the node is stopping or the store failed), never on the
// caller's: callers hold locks that done takes.
func (n *Node) commitAsync(b *store.Batch, done func(store.Result, error)) {
	n.commitMu.RLock()
	if n.noCommits {
		n.commitMu.RUnlock()
		go done(store.Result{}, ErrStopped) // callers may hold locks done takes
		return
	}
	n.commits.Add(1)
	n.commitMu.RUnlock()
	err := n.store.CommitAsync(b, func(r store.Result, err error) {
		defer n.commits.Done()
		if err != nil {
			n.fail(err)
		}
		done(r, err)
		if err == nil && len(r.Seqs) > 0 {
			n.notifyLog()
		}
	})
	if err != nil {
		n.commits.Done()
		n.fail(err)
		go done(store.Result{}, err)
	}
}

// commit writes b and waits until it is durable.
func (n *Node) commit(ctx context.Context, b *store.Batch) (store.Result, error) {
	r, err := n.store.Commit(ctx, b)
	if err != nil {
		if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			n.fail(err)
		}
		return r, err
	}
	if len(r.Seqs) > 0 {
		n.notifyLog()
	}
	return r, nil
}

// notifyLog wakes every subscriber waiting for new log entries.
func (n *Node) notifyLog() {
	ch := make(chan struct{})
	old := n.logNotify.Swap(&ch)
	close(*old)
}

// channelByID returns the channel with id.
func (n *Node) channelByID(id channel.ID) (*chanState, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	c, ok := n.channels[id]
	if !ok {
		return nil, wrapf(ErrNotFound, "channel %s", id)
	}
	return c, nil
}

// channelsWith returns the channels shared with peer, in creation order.
func (n *Node) channelsWith(peer crypto.Address) []*chanState {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []*chanState
	for _, c := range n.channels {
		if c.peer == peer {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b *chanState) int { return a.created.Compare(b.created) })
	return out
}

func (n *Node) allChannels() []*chanState {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]*chanState, 0, len(n.channels))
	for _, c := range n.channels {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *chanState) int { return b.created.Compare(a.created) })
	return out
}

// now is the chain's time as last seen (seconds); expiries of signed terms
// are counted from it.
func (n *Node) now() uint64 { return n.chainTime.Load() }

func randomID() [32]byte {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return b
}

func wrapf(kind error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", kind, fmt.Sprintf(format, args...))
}

// asset returns the asset at addr.
func (n *Node) asset(addr crypto.Address) (Asset, bool) {
	a, ok := n.assets[addr]
	return a, ok
}

// randomShortID returns 16 random bytes, for stream and token ids.
func randomShortID() [16]byte {
	id := randomID()
	return [16]byte(id[:16])
}
