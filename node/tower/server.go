package tower

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
	"github.com/tinypay/tinypay/settlement"
)

// Chain is what a tower needs of the settlement layer. A
// settlement.Backend bound to the tower's own key implements it; that
// key's account pays the gas of the proofs the tower presents.
type Chain interface {
	settlement.Reader
	settlement.EventSource
	settlement.Disputer
	ChainID() uint64
	Adjudicator() crypto.Address
	Account() crypto.Address
}

// Config configures a tower (Server).
type Config struct {
	// Serve lists the nodes whose proofs the tower takes; a session of any
	// other node is refused after its handshake.
	Serve []crypto.Address
	// MaxChannelsPerNode bounds the channels the tower holds proofs of for
	// one served node; a proof for one more is refused
	// (ErrTooManyChannels) until one of them settles.
	MaxChannelsPerNode int
	// ChainPoll is how often the tower reads new chain events.
	ChainPoll time.Duration
	// ChainReadTimeout bounds each chain read; ChainTxTimeout each
	// transaction (presenting proofs).
	ChainReadTimeout time.Duration
	ChainTxTimeout   time.Duration
	// MaxConcurrentUpdates bounds the transactions presenting proofs that
	// run at once.
	MaxConcurrentUpdates int
	// Logger receives the tower's logs; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults; Serve must still be set.
func DefaultConfig() Config {
	return Config{
		MaxChannelsPerNode:   10_000,
		ChainPoll:            time.Second,
		ChainReadTimeout:     10 * time.Second,
		ChainTxTimeout:       5 * time.Minute,
		MaxConcurrentUpdates: 4,
	}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case len(c.Serve) == 0:
		return errors.New("tower: no node to serve")
	case c.MaxChannelsPerNode < 1:
		return fmt.Errorf("tower: max channels per node is %d, want at least 1", c.MaxChannelsPerNode)
	case c.ChainPoll <= 0 || c.ChainReadTimeout <= 0 || c.ChainTxTimeout <= 0:
		return errors.New("tower: chain poll and timeouts must be positive")
	case c.MaxConcurrentUpdates < 1:
		return fmt.Errorf("tower: max concurrent updates is %d, want at least 1", c.MaxConcurrentUpdates)
	}
	for _, a := range c.Serve {
		if a.IsZero() {
			return errors.New("tower: the zero address cannot be served")
		}
	}
	return nil
}

// ServerMetrics are a tower's Prometheus metrics.
type ServerMetrics struct {
	ProofsStored    prometheus.Counter
	ProofsRefused   *prometheus.CounterVec
	Presented       prometheus.Counter
	PresentFailures prometheus.Counter
	Channels        prometheus.Gauge
	Sessions        prometheus.Gauge
}

// NewServerMetrics registers a tower's metrics with reg.
func NewServerMetrics(reg prometheus.Registerer) (*ServerMetrics, error) {
	m := &ServerMetrics{
		ProofsStored: prometheus.NewCounter(prometheus.CounterOpts{Name: "tinypay_tower_proofs_stored_total", Help: "Proofs the tower stored (each newer than what it held)."}),
		ProofsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tinypay_tower_proofs_refused_total",
			Help: "Proofs and sessions the tower refused, by reason."}, []string{"reason"}),
		Presented:       prometheus.NewCounter(prometheus.CounterOpts{Name: "tinypay_tower_proofs_presented_total", Help: "Proofs the tower presented on chain after a force close."}),
		PresentFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "tinypay_tower_present_failures_total", Help: "Transactions presenting proofs that failed (they are retried)."}),
		Channels:        prometheus.NewGauge(prometheus.GaugeOpts{Name: "tinypay_tower_channels", Help: "Channel directions the tower holds a proof of."}),
		Sessions:        prometheus.NewGauge(prometheus.GaugeOpts{Name: "tinypay_tower_sessions", Help: "Served nodes connected."}),
	}
	for _, c := range []prometheus.Collector{m.ProofsStored, m.ProofsRefused, m.Presented, m.PresentFailures, m.Channels, m.Sessions} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Server is a watchtower: it takes the newest incoming proofs of the nodes
// it serves, keeps one per channel and direction, follows the chain, and
// presents a proof when its channel is force-closed with an older one.
//
// Sessions (Handle) each run on their own goroutine and submit one proof
// at a time; the watcher and the transactions presenting proofs run on
// goroutines of their own (Start). The mutex guards the in-memory maps
// only: no chain or store call happens under it.
type Server struct {
	cfg   Config
	log   *slog.Logger
	chain Chain
	st    *Store
	met   *ServerMetrics
	serve map[crypto.Address]bool

	mu       sync.Mutex
	counts   map[crypto.Address]int // records (and reservations) per served node
	sessions map[crypto.Address]node.PeerConn
	disputes map[channel.ID]*dispute // channels force-closed on chain that the tower holds proofs of
	settled  map[channel.ID]struct{} // channels known settled (bounded)
	running  int                     // presenting transactions in flight
	stopped  bool

	wake   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// dispute is a channel force-closed on chain during its challenge period.
type dispute struct {
	until    uint64 // settleAfter: the last second proofs count
	due      bool   // check the chain and present what is higher
	running  bool
	failures int
	retryAt  time.Time
}

// maxSettledCache bounds the ids of settled channels remembered to refuse
// their proofs without a chain read.
const maxSettledCache = 4096

// ErrStopping is why sessions end when the tower stops.
var ErrStopping = errors.New("the tower is shutting down")

// NewServer returns a tower on chain and st (opened for the same chain and
// adjudicator). met may be nil. It loads what st holds; Start starts
// following the chain.
func NewServer(cfg Config, chain Chain, st *Store, met *ServerMetrics) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if chain == nil || st == nil {
		return nil, errors.New("tower: chain and store are required")
	}
	if chain.ChainID() != st.chainID || chain.Adjudicator() != st.adjudicator {
		return nil, errors.New("tower: the store belongs to another chain or adjudicator")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg: cfg, log: log, chain: chain, st: st, met: met,
		serve: map[crypto.Address]bool{}, counts: map[crypto.Address]int{}, sessions: map[crypto.Address]node.PeerConn{},
		disputes: map[channel.ID]*dispute{}, settled: map[channel.ID]struct{}{},
		wake: make(chan struct{}, 1),
	}
	for _, a := range cfg.Serve {
		s.serve[a] = true
	}
	total := 0
	if err := st.Records(func(r *Record) error {
		s.counts[r.Node()]++
		total++
		return nil
	}); err != nil {
		return nil, fmt.Errorf("tower: load records: %w", err)
	}
	ds, err := st.Disputes()
	if err != nil {
		return nil, fmt.Errorf("tower: load disputes: %w", err)
	}
	for id, until := range ds {
		s.disputes[id] = &dispute{until: until, due: true}
	}
	if met != nil {
		met.Channels.Set(float64(total))
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Start starts the chain watcher, which also presents proofs.
func (s *Server) Start() {
	s.wg.Add(1)
	go s.watch()
	s.log.Info("tower started", "account", s.chain.Account(), "serves", len(s.serve), "disputes", len(s.disputes))
}

// Stop ends every session and waits for the watcher and the transactions
// in flight (their contexts are cancelled).
func (s *Server) Stop() {
	s.mu.Lock()
	s.stopped = true
	conns := make([]node.PeerConn, 0, len(s.sessions))
	for _, c := range s.sessions {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	s.cancel()
	for _, c := range conns {
		c.Close(ErrStopping)
	}
	s.wg.Wait()
}

// Handle runs one session with a node that passed the handshake, until it
// ends: a node the tower does not serve is refused at once; a served node
// sends TowerProof messages and gets a TowerAck for each, in order. A newer
// session of the same node replaces an older one. Anything else ends the
// session.
func (s *Server) Handle(conn node.PeerConn) {
	from := conn.Peer()
	if !s.serve[from] {
		s.refused(ErrNotServed)
		s.log.Debug("refused a node the tower does not serve", "node", from, "remote", conn.RemoteAddr())
		conn.Close(fmt.Errorf("%w %s", ErrNotServed, from))
		return
	}
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		conn.Close(ErrStopping)
		return
	}
	old := s.sessions[from]
	s.sessions[from] = conn
	s.mu.Unlock()
	if old != nil {
		old.Close(errors.New("replaced by a newer session of the same node"))
	} else if s.met != nil {
		s.met.Sessions.Inc()
	}
	s.log.Info("node connected", "node", from, "remote", conn.RemoteAddr())
	defer func() {
		s.mu.Lock()
		if s.sessions[from] == conn {
			delete(s.sessions, from)
			if s.met != nil {
				s.met.Sessions.Dec()
			}
		}
		s.mu.Unlock()
	}()
	for {
		m, err := conn.Recv()
		if err != nil {
			s.log.Info("node disconnected", "node", from, "reason", err)
			return
		}
		switch b := m.GetBody().(type) {
		case *peerv1.Message_TowerProof:
			ack := s.Submit(s.ctx, from, b.TowerProof)
			if err := conn.Send(&peerv1.Message{Body: &peerv1.Message_TowerAck{TowerAck: ack}}); err != nil {
				return
			}
		case *peerv1.Message_Error:
			s.log.Debug("node reported an error", "node", from, "code", b.Error.GetCode(), "message", truncate(b.Error.GetMessage(), 200))
		default:
			conn.Close(fmt.Errorf("protocol error: a tower takes only TowerProof messages, not %T", m.GetBody()))
			return
		}
	}
}

// Submit checks a proof that node from hands the tower and stores it if it
// is newer than what the tower holds, and answers with the TowerAck. It
// checks, in order: that from is served, the form of every field, that the
// channel parameters hash to the channel id, that from is a participant,
// that the proof is signed by the other participant (the payer), that it
// is higher than the proof held, and, for a channel the tower holds nothing
// of yet, the bound of channels per node and that the channel is open (or
// force-closed) on chain. A refusal changes nothing. Submit is safe for
// concurrent use.
func (s *Server) Submit(ctx context.Context, from crypto.Address, m *peerv1.TowerProof) *peerv1.TowerAck {
	held, err := s.submit(ctx, from, m)
	ack := &peerv1.TowerAck{Nonce: m.GetNonce(), Code: code(err)}
	if len(m.GetChannelId()) == crypto.HashLength {
		ack.ChannelId = m.GetChannelId()
	}
	if err != nil {
		ack.Reason = truncate(err.Error(), 512)
		s.refused(err)
		lvl := slog.LevelWarn
		if errors.Is(err, ErrNotHigher) || errors.Is(err, ErrSettled) {
			lvl = slog.LevelDebug
		}
		s.log.Log(ctx, lvl, "refused a proof", "node", from, "channel", fmt.Sprintf("%x", ack.ChannelId), "nonce", m.GetNonce(), "err", err)
	}
	if held != nil {
		ack.HeldNonce, ack.HeldTransferred = held.Proof.Nonce, amountBytes(&held.Proof.Transferred)
	}
	return ack
}

func (s *Server) submit(ctx context.Context, from crypto.Address, m *peerv1.TowerProof) (*Record, error) {
	if !s.serve[from] {
		return nil, fmt.Errorf("%w %s", ErrNotServed, from)
	}
	params, proof, err := decodeProof(s.chain.ChainID(), s.chain.Adjudicator(), m)
	if err != nil {
		return nil, err
	}
	self, ok := params.SideOf(from)
	if !ok {
		return nil, fmt.Errorf("%w: %s is not in channel %s", ErrNotParticipant, from, proof.Channel)
	}
	payer := self.Other()
	signer, err := crypto.Recover(params.Domain().BalanceProofDigest(proof.Channel, proof.Nonce, &proof.Transferred), proof.Sig)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if signer != params.Participants[payer] {
		return nil, fmt.Errorf("%w: signed by %s, not by the payer %s", ErrBadSignature, signer, params.Participants[payer])
	}
	rec := &Record{Params: params, Payer: payer, Proof: proof}
	held, err := s.st.Get(proof.Channel, payer)
	if err != nil {
		return nil, fmt.Errorf("tower store: %w", err)
	}
	if held != nil {
		if !proof.Transferred.Gt(&held.Proof.Transferred) {
			return notHigher(held, rec)
		}
		h, stored, err := s.st.PutHigher(rec, true, 0)
		switch {
		case errors.Is(err, errGone):
			// The channel ended meanwhile: check it again as a new one.
		case err != nil:
			return nil, fmt.Errorf("tower store: %w", err)
		case !stored:
			return notHigher(h, rec)
		default:
			s.stored(rec)
			return h, nil
		}
	}
	return s.submitNew(ctx, rec)
}

// submitNew stores the first proof of a channel for its node, once the
// bound allows and the chain shows the channel open or force-closed.
func (s *Server) submitNew(ctx context.Context, rec *Record) (*Record, error) {
	id, nd := rec.Proof.Channel, rec.Node()
	s.mu.Lock()
	_, settled := s.settled[id]
	full := s.counts[nd] >= s.cfg.MaxChannelsPerNode
	if !settled && !full {
		s.counts[nd]++ // reserved; released below unless the record stays
	}
	s.mu.Unlock()
	switch {
	case settled:
		return nil, fmt.Errorf("%w: %s", ErrSettled, id)
	case full:
		return nil, fmt.Errorf("%w: the tower holds proofs of %d channels of %s", ErrTooManyChannels, s.cfg.MaxChannelsPerNode, nd)
	}
	keep := false
	defer func() {
		if !keep {
			s.mu.Lock()
			s.counts[nd]--
			s.mu.Unlock()
		}
	}()
	oc, err := s.readChannel(ctx, id)
	if err != nil {
		return nil, err
	}
	var until uint64
	if oc.Phase == settlement.PhaseClosed {
		until = oc.SettleAfter
	}
	held, stored, err := s.st.PutHigher(rec, false, until)
	if err != nil {
		return nil, fmt.Errorf("tower store: %w", err)
	}
	if !stored {
		return notHigher(held, rec) // another session stored it first
	}
	// The reservation is the record's now: whoever removes the record
	// releases it.
	keep = true
	if s.met != nil {
		s.met.Channels.Inc()
	}
	// The watcher may have passed the channel's close or settlement while
	// the record was not there yet: now that it is, read the chain again.
	if oc, err = s.readChannel(ctx, id); err != nil {
		removed, rmErr := s.st.RemoveIf(rec)
		if rmErr != nil {
			s.log.Warn("could not remove a proof whose channel could not be read again", "channel", id, "err", rmErr)
		}
		if removed {
			s.forget([]*Record{rec})
		}
		return nil, err
	}
	if oc.Phase == settlement.PhaseClosed && until == 0 {
		if err := s.st.MarkClosed(id, oc.SettleAfter); err != nil {
			return nil, fmt.Errorf("tower store: %w", err)
		}
	}
	if oc.Phase == settlement.PhaseClosed {
		s.mu.Lock()
		if s.disputes[id] == nil {
			s.disputes[id] = &dispute{until: oc.SettleAfter}
		}
		s.mu.Unlock()
		s.log.Info("took a proof of a channel force-closed on chain", "channel", id, "node", nd, "settle_after", oc.SettleAfter)
	}
	s.stored(rec)
	return rec, nil
}

// readChannel reads a channel that the tower is to hold a proof of: it
// must exist on chain and not be settled.
func (s *Server) readChannel(ctx context.Context, id channel.ID) (settlement.Channel, error) {
	rctx, cancel := context.WithTimeout(ctx, s.cfg.ChainReadTimeout)
	oc, err := s.chain.Channel(rctx, id)
	cancel()
	if err != nil {
		return oc, fmt.Errorf("%w: %v", ErrChainUnavailable, err)
	}
	switch oc.Phase {
	case settlement.PhaseNone:
		return oc, fmt.Errorf("%w: %s", ErrNotOpen, id)
	case settlement.PhaseSettled:
		s.rememberSettled(id)
		return oc, fmt.Errorf("%w: %s", ErrSettled, id)
	}
	return oc, nil
}

func (s *Server) rememberSettled(id channel.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.settled) >= maxSettledCache {
		clear(s.settled)
	}
	s.settled[id] = struct{}{}
}

// notHigher answers a proof no higher than held: the same amount is held
// (a resend), a lower one is refused.
func notHigher(held, rec *Record) (*Record, error) {
	if held.Proof.Transferred.Eq(&rec.Proof.Transferred) {
		return held, nil
	}
	return held, fmt.Errorf("%w (nonce %d, amount %s)", ErrNotHigher, held.Proof.Nonce, held.Proof.Transferred.Dec())
}

// stored notes a stored proof; if its channel is in its challenge period
// the watcher presents it.
func (s *Server) stored(rec *Record) {
	if s.met != nil {
		s.met.ProofsStored.Inc()
	}
	s.log.Debug("stored a proof", "channel", rec.Proof.Channel, "node", rec.Node(), "nonce", rec.Proof.Nonce)
	id := rec.Proof.Channel
	s.mu.Lock()
	d := s.disputes[id]
	if d != nil {
		d.due, d.retryAt = true, time.Time{}
	}
	s.mu.Unlock()
	if d != nil {
		s.kick()
	}
}

func (s *Server) refused(err error) {
	if s.met != nil {
		s.met.ProofsRefused.WithLabelValues(reasonLabel(err)).Inc()
	}
}

// kick makes the watcher run a round now.
func (s *Server) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
