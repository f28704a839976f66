package node

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/btree"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
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
	Metrics *Metrics // nil: no metrics; they describe this node from New on
	Hooks   Hooks    // nil: no application layer
	// Proofs hears of each incoming proof once it is on disk (the
	// watchtower client); nil: nobody.
	Proofs ProofObserver
}

// Node coordinates channels, peers, the store and the chain. Its exported
// methods are safe for concurrent use; see the package doc for who owns
// what.
type Node struct {
	cfg    Config
	log    *slog.Logger
	key    *crypto.PrivateKey
	self   crypto.Address
	idSalt crypto.Hash // a secret of the key's, in the local ids of incoming payments (incomingID)
	store  Store
	chain  settlement.Backend
	dialer Dialer
	clock  Clock
	met    *Metrics
	ametr  map[crypto.Address]*assetMetrics // by asset, fixed after New; nil without metrics
	bounds *Bounds
	hooks  Hooks
	proofs ProofObserver            // nil: none
	assets map[crypto.Address]Asset // fixed after New

	chans     chanSet      // the channels' owners
	proposals proposalBook // recent proposals from peers, for their bounds
	peers     peerSet      // sessions, peer addresses, dials, proposals
	pays      payBook      // outgoing payments not finished, by idempotency key
	wallet    walletBook   // transfers of the node's own funds in progress, by key
	sweep     sweeper      // the sweep policy's owner

	behind    behindState   // channels that may be behind (behind.go)
	chainTime atomic.Uint64 // newest chain timestamp the watcher saw
	chainHead atomic.Uint64 // newest block number the watcher read
	// watched is the watcher's last round: when it last succeeded and the
	// error of the last round ("" when it succeeded).
	watched   atomic.Pointer[watchRound]
	logNotify atomic.Pointer[chan struct{}] // closed when the log grows
	failed    atomic.Pointer[error]         // set when the store failed: nothing more is accepted
	stuck     atomic.Pointer[error]         // Monitor's finding that an owner is stuck (see Unhealthy)
	commits   tracker                       // writes whose callbacks are outstanding
	ackReads  ackReads                      // reads of the log for Acks to send again (resendAcks)

	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup // the watcher and the redial loop
	tasks   tracker        // every other goroutine the node starts
	stopped atomic.Bool
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
	if cfg.Sweep.To == d.Key.Address() {
		return nil, fmt.Errorf("node config: the sweep destination %s is this node's own account", cfg.Sweep.To)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	clock := d.Clock
	if clock == nil {
		clock = systemClock{}
	}
	hooks := d.Hooks
	if hooks == nil {
		hooks = noHooks{}
	}
	chain := d.Chain
	if d.Metrics != nil {
		chain = meteredChain{Backend: d.Chain, m: d.Metrics}
	}
	n := &Node{
		cfg: cfg, log: log, key: d.Key, self: d.Key.Address(), store: d.Store, chain: chain,
		dialer: d.Dialer, clock: clock, met: d.Metrics, hooks: hooks, proofs: d.Proofs,
		assets: map[crypto.Address]Asset{{}: ETH},
	}
	salt, err := incomingIDSalt(d.Key)
	if err != nil {
		return nil, err
	}
	n.idSalt = salt
	n.bounds = newBounds(log, d.Metrics, clock.Now)
	n.chans.init()
	n.peers.init()
	n.pays.init()
	for _, a := range cfg.Assets {
		n.assets[a.Address] = a
	}
	if d.Metrics != nil {
		n.ametr = make(map[crypto.Address]*assetMetrics, len(n.assets))
		for addr, a := range n.assets {
			n.ametr[addr] = d.Metrics.forAsset(a.Symbol)
		}
		d.Metrics.node.Store(n)
	}
	ch := make(chan struct{})
	n.logNotify.Store(&ch)
	n.ctx, n.cancel = context.WithCancel(context.Background())
	return n, nil
}

// Address returns the node's address (its key's, and its chain account).
func (n *Node) Address() crypto.Address { return n.self }

// Start loads the channels from the store and starts the chain watcher and
// the redial loop. It reads the chain only in the watcher: a chain endpoint
// that is down or slow does not keep the node from starting.
func (n *Node) Start(ctx context.Context) error {
	began := time.Now()
	recs, err := n.store.LoadChannels()
	if err != nil {
		return err
	}
	read := time.Since(began)
	all, err := n.loadChannels(recs)
	if err != nil {
		return err
	}
	built := time.Since(began) - read
	forget := store.NewBatch()
	loaded := make([]*chanActor, 0, len(all))
	for i, c := range all {
		// Entries of awaited receipts that nothing awaits (the receipt is
		// on disk, or the proof is not one this node holds): removed, so
		// that no start reads them again.
		for _, a := range recs[i].Settled {
			if err := forget.ReceiptSettled(c.id, a.Nonce, a.Payment); err != nil {
				return err
			}
		}
		if c.self == channel.B && c.ch.Phase() == channel.Abandoned {
			// A proposal abandoned before it opened, not yet forgotten
			// (see forgetProposal).
			if err := forget.DeleteChannel(c.id); err != nil {
				return err
			}
			continue
		}
		if c.ch.Phase().Terminal() && len(c.awaited) > 0 {
			// Closed out: no Ack will come again.
			for _, p := range c.awaited {
				if err := forget.ReceiptSettled(c.id, p.nonce, p.id); err != nil {
					return err
				}
			}
			c.awaited, c.ackTaken = nil, c.ch.Sent().Nonce
			c.publish()
		}
		loaded = append(loaded, c)
	}
	// In creation order: the registry's lists by peer are in that order,
	// and its age indexes take them at one edge (at 100,000 channels,
	// inserting in id order cost a third of a second).
	slices.SortFunc(loaded, func(a, b *chanActor) int {
		return cmp.Or(a.created.Compare(b.created), bytes.Compare(a.id[:], b.id[:]))
	})
	for _, c := range loaded {
		n.chans.add(c)
		if c.self == channel.B && c.ch.Phase() == channel.Opening {
			n.proposals.loaded(c)
		}
	}
	if forget.Len() > 0 {
		if _, err := n.store.Commit(ctx, forget); err != nil {
			return fmt.Errorf("forget abandoned proposals and the receipts nothing awaits: %w", err)
		}
	}
	if err := n.peers.load(n); err != nil {
		return err
	}
	if err := n.resumeTransfers(); err != nil {
		return err
	}
	n.startSweeper() // before the watcher, which marks sweeps due
	if n.cfg.Restored {
		n.restoredStart()
	}
	n.wg.Add(2)
	go n.watch()
	go n.redialLoop()
	n.log.Info("node started", "address", n.self, "channels", n.chans.count(), "chain", n.chain.ChainID(),
		"took", time.Since(began).Round(time.Millisecond), "reading_channels", read.Round(time.Millisecond), "rebuilding_them", built.Round(time.Millisecond))
	return nil
}

// loadChannels rebuilds the owners of recs, on every core: a node with
// 100,000 channels spends a second of CPU on it as it starts.
func (n *Node) loadChannels(recs []store.ChannelRecord) ([]*chanActor, error) {
	out := make([]*chanActor, len(recs))
	workers := max(1, min(runtime.GOMAXPROCS(0), len(recs)/1024))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(recs); i += workers {
				c, err := n.loadChannel(&recs[i])
				if err != nil {
					errs[w] = err
					return
				}
				// The record is garbage once loaded, but for the entries
				// of receipts nothing awaits (see Start).
				out[i], recs[i] = c, store.ChannelRecord{Settled: recs[i].Settled}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// Stop stops the node gracefully: no new payments or proofs are accepted,
// writes already queued finish and the acknowledgements they owe are sent,
// then the peer connections close. Payments still waiting fail with
// ErrStopped (a signed one stays pending: a retry after the restart with the
// same key reports its outcome).
func (n *Node) Stop() {
	if n.stopped.Swap(true) {
		return
	}
	n.cancel()
	n.wg.Wait()
	n.commits.stop() // every queued write reported durable, acks queued
	for _, s := range n.peers.all() {
		s.drainAndClose(2*time.Second, ErrStopped)
	}
	// Payments still waiting are told, by their channels' owners.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// All at once: one by one, a node of 100,000 channels took seconds.
	all := n.chans.all()
	stopped := make([]chan struct{}, len(all))
	for i, c := range all {
		done := make(chan struct{})
		stopped[i] = done
		c.post(func() {
			c.onStop()
			close(done)
		})
	}
	late := 0
	for i, done := range stopped {
		select {
		case <-done:
		case <-ctx.Done():
			if late++; late <= 10 {
				n.log.Error("channel did not stop", "channel", all[i].id, "err", ctx.Err())
			}
		}
	}
	if late > 10 {
		n.log.Error("channels did not stop", "count", late, "err", ctx.Err())
	}
	n.tasks.stop()
	n.log.Info("node stopped")
}

// Health checks that the node makes progress: its store has not failed,
// and every channel's owner that is in a batch of steps finishes it before
// ctx ends (the owners never wait for I/O, so one that does not is stuck).
// It returns nil or what is wrong. It reads one word per channel and waits
// only for the owners busy when it is called (a handful), posting nothing,
// so it can be called often with a hundred thousand channels.
func (n *Node) Health(ctx context.Context) error {
	if err := n.storeFailed(); err != nil {
		return err
	}
	type busy struct {
		c     *chanActor
		since int64
	}
	var busyNow []busy
	n.chans.each(func(c *chanActor) bool {
		if t := c.busySince.Load(); t != 0 {
			busyNow = append(busyNow, busy{c, t})
		}
		return true
	})
	for _, b := range busyNow {
		for b.c.busySince.Load() == b.since {
			select {
			case <-ctx.Done():
				return fmt.Errorf("channel %s does not answer: its owner has been busy for %s: %w", b.c.id, time.Since(time.Unix(0, b.since)).Round(time.Millisecond), ctx.Err())
			case <-time.After(time.Millisecond):
			}
		}
	}
	return nil
}

// Unhealthy returns why the node is unwell, at no cost: the store failed,
// or Monitor found a channel's owner stuck (nil if it is not running).
// Health walks every channel and may wait for a busy one; this is for
// callers that ask often, such as GetInfo.
func (n *Node) Unhealthy() error {
	if err := n.storeFailed(); err != nil {
		return err
	}
	if p := n.stuck.Load(); p != nil {
		return *p
	}
	return nil
}

// storeFailed returns why the store failed, if it did.
func (n *Node) storeFailed() error {
	if p := n.failed.Load(); p != nil {
		return fmt.Errorf("store failed: %w", *p)
	}
	return nil
}

// Monitor checks Health every interval until ctx ends; when it fails (a
// channel's owner did not take a step within limit, or the store failed)
// it calls stuck once, with the error and a dump of every goroutine, and
// returns. tinypayd logs it; tests fail with it.
func (n *Node) Monitor(ctx context.Context, interval, limit time.Duration, stuck func(err error, goroutines string)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		hctx, cancel := context.WithTimeout(ctx, limit)
		err := n.Health(hctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			n.stuck.Store(&err)
			buf := make([]byte, 1<<20)
			stuck(err, string(buf[:runtime.Stack(buf, true)]))
			return
		}
	}
}

// background runs f on a goroutine the node tracks, unless the node is
// stopping (then it reports false and f does not run).
func (n *Node) background(f func()) bool {
	if !n.tasks.begin() {
		return false
	}
	go func() {
		defer n.tasks.end()
		f()
	}()
	return true
}

// fail records a store failure: the node refuses everything from now on,
// since it can no longer persist before acknowledging.
func (n *Node) fail(err error) {
	if n.failed.CompareAndSwap(nil, &err) {
		n.log.Error("store failed; refusing all further payments and proofs", "err", err)
	}
}

// usable says why the node takes no new work, or nil.
func (n *Node) usable() error {
	if p := n.failed.Load(); p != nil {
		return fmt.Errorf("node failed: %w", *p)
	}
	if n.stopped.Load() {
		return ErrStopped
	}
	return nil
}

// tracker lets Stop wait for work it did not refuse: writes, goroutines.
type tracker struct {
	mu      sync.RWMutex
	stopped bool
	wg      sync.WaitGroup
}

// begin reports whether work may start; end must follow.
func (t *tracker) begin() bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.stopped {
		return false
	}
	t.wg.Add(1)
	return true
}

func (t *tracker) end() { t.wg.Done() }

// stop refuses new work and waits for what runs.
func (t *tracker) stop() {
	t.mu.Lock()
	t.stopped = true
	t.mu.Unlock()
	t.wg.Wait()
}

// commitAsync queues b; done runs once it is durable or refused: on the
// store's committer goroutine (so it must not block), or, when the write is
// refused at once (the node stops, the store failed), on the caller's. Any
// failure to write fails the node: it can no longer keep its promises.
func (n *Node) commitAsync(b *store.Batch, done func(store.Result, error)) {
	if !n.commits.begin() {
		done(store.Result{}, ErrStopped)
		return
	}
	err := n.store.CommitAsync(b, func(r store.Result, err error) {
		defer n.commits.end()
		if err != nil {
			n.fail(err)
		}
		done(r, err)
		if err == nil && len(r.Seqs) > 0 {
			n.notifyLog()
		}
	})
	if err != nil {
		n.commits.end()
		n.fail(err)
		done(store.Result{}, err)
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

// now is the chain's time as the watcher last saw it (seconds); expiries of
// signed terms are counted from it.
func (n *Node) now() uint64 { return n.chainTime.Load() }

// Asset returns the known asset at addr (the zero address is ETH).
func (n *Node) Asset(addr crypto.Address) (Asset, bool) { return n.asset(addr) }

// asset returns the asset at addr.
func (n *Node) asset(addr crypto.Address) (Asset, bool) {
	a, ok := n.assets[addr]
	return a, ok
}

func (n *Node) failpoint(name string) {
	if n.cfg.Failpoint != nil {
		n.cfg.Failpoint(name)
	}
}

// chanSet is the registry of channel owners. Its lock guards the maps only
// and is never held while anything else is called.
type chanSet struct {
	mu     sync.RWMutex
	byID   map[channel.ID]*chanActor
	byPeer map[crypto.Address][]*chanActor // in creation order
	// The sets of index.go, which chanActor.indexed records c's place in.
	inUse  map[crypto.Address]int
	due    map[*chanActor]struct{}
	open   map[crypto.Address]map[crypto.Address]*openSet // by peer, then asset
	nOpen  int
	nReady atomic.Int64 // see reindex: kept without the write lock
	// Every channel in list order, and by peer in list order (list.go).
	byAge, byPeerAge *btree.BTreeG[ageKey]
}

func (s *chanSet) init() {
	s.byID = make(map[channel.ID]*chanActor)
	s.byPeer = make(map[crypto.Address][]*chanActor)
	s.inUse = make(map[crypto.Address]int)
	s.due = make(map[*chanActor]struct{})
	s.open = make(map[crypto.Address]map[crypto.Address]*openSet)
	s.byAge, s.byPeerAge = newAgeIndexes()
}

func (s *chanSet) get(id channel.ID) *chanActor {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.byID[id]
}

// add registers c; it reports false if a channel with its id exists.
func (s *chanSet) add(c *chanActor) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.byID[c.id]; dup {
		return false
	}
	s.byID[c.id] = c
	s.byPeer[c.peer] = append(s.byPeer[c.peer], c)
	s.reindexLocked(c, flagsOf(c.snap.Load()))
	s.indexAgeLocked(c, true)
	return true
}

// remove unregisters c.
func (s *chanSet) remove(c *chanActor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byID[c.id] != c {
		return
	}
	delete(s.byID, c.id)
	s.reindexLocked(c, chanFlags{})
	s.indexAgeLocked(c, false)
	s.byPeer[c.peer] = slices.DeleteFunc(s.byPeer[c.peer], func(x *chanActor) bool { return x == c })
	if len(s.byPeer[c.peer]) == 0 {
		delete(s.byPeer, c.peer)
	}
}

func (s *chanSet) withPeer(p crypto.Address) []*chanActor {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.byPeer[p])
}

func (s *chanSet) all() []*chanActor {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*chanActor, 0, len(s.byID))
	for _, c := range s.byID {
		out = append(out, c)
	}
	return out
}

// each calls f on every channel until f returns false, holding the
// registry's read lock: f must not call the registry.
func (s *chanSet) each(f func(*chanActor) bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, c := range s.byID {
		if !f(c) {
			return
		}
	}
}

func (s *chanSet) count() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.byID)
}

func randomID() [32]byte {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return b
}
