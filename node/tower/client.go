package tower

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
)

// Endpoint is a tower a node hands its proofs to: where it listens, and
// its address (the key its handshake must prove).
type Endpoint struct {
	HostPort string
	Address  crypto.Address
}

func (e Endpoint) String() string { return e.HostPort + "@" + e.Address.Hex() }

// ParseEndpoint parses "host:port@0xAddress".
func ParseEndpoint(s string) (Endpoint, error) {
	i := strings.LastIndex(s, "@")
	if i < 0 {
		return Endpoint{}, fmt.Errorf("tower %q: want host:port@0xAddress", s)
	}
	hp, addr := s[:i], s[i+1:]
	if _, _, err := net.SplitHostPort(hp); err != nil {
		return Endpoint{}, fmt.Errorf("tower %q: %q is not host:port", s, hp)
	}
	a, err := crypto.ParseAddress(addr)
	if err != nil {
		return Endpoint{}, fmt.Errorf("tower %q: address: %v", s, err)
	}
	if a.IsZero() {
		return Endpoint{}, fmt.Errorf("tower %q: the zero address", s)
	}
	return Endpoint{HostPort: hp, Address: a}, nil
}

// ClientConfig configures a node's watchtower client.
type ClientConfig struct {
	// Towers are the towers to hand every newest incoming proof to.
	Towers []Endpoint
	// DialTimeout bounds one connection attempt with its handshake.
	DialTimeout time.Duration
	// RetryMin and RetryMax bound the wait between connection attempts
	// (it doubles from RetryMin after each failure) and before a proof the
	// tower could not take yet (it could not read the chain) is sent again.
	RetryMin, RetryMax time.Duration
	// MaxPending bounds the channels whose newest proof waits for a
	// tower's acknowledgement, per tower; a proof of one more channel is
	// dropped (logged) until room frees up, and its channel's next proof
	// tries again.
	MaxPending int
	// Window bounds the proofs sent to a tower and not yet answered.
	Window int
	// Logger receives the client's logs; nil discards them.
	Logger *slog.Logger
}

// DefaultClientConfig returns the defaults; Towers must still be set.
func DefaultClientConfig() ClientConfig {
	return ClientConfig{
		DialTimeout: 10 * time.Second,
		RetryMin:    time.Second,
		RetryMax:    5 * time.Minute,
		MaxPending:  1 << 16,
		Window:      64,
	}
}

// Validate reports the first invalid field.
func (c ClientConfig) Validate() error {
	switch {
	case len(c.Towers) == 0:
		return errors.New("tower client: no tower")
	case c.DialTimeout <= 0 || c.RetryMin <= 0 || c.RetryMax < c.RetryMin:
		return errors.New("tower client: timeouts must be positive and RetryMax at least RetryMin")
	case c.MaxPending < 1 || c.Window < 1:
		return errors.New("tower client: MaxPending and Window must be at least 1")
	}
	seen := map[crypto.Address]bool{}
	for _, t := range c.Towers {
		if seen[t.Address] {
			return fmt.Errorf("tower client: tower %s is listed twice", t.Address)
		}
		seen[t.Address] = true
	}
	return nil
}

// ClientMetrics are the watchtower client's Prometheus metrics, labelled
// by tower address.
type ClientMetrics struct {
	Connected    *prometheus.GaugeVec
	Pending      *prometheus.GaugeVec
	Acknowledged *prometheus.CounterVec
	Refused      *prometheus.CounterVec
}

// NewClientMetrics registers the client's metrics with reg.
func NewClientMetrics(reg prometheus.Registerer) (*ClientMetrics, error) {
	m := &ClientMetrics{
		Connected: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tinypay_tower_connected", Help: "1 while a session with the tower is up."}, []string{"tower"}),
		Pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tinypay_tower_pending",
			Help: "Channels whose newest incoming proof the tower has not acknowledged yet."}, []string{"tower"}),
		Acknowledged: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tinypay_tower_acknowledged_total", Help: "Proofs the tower acknowledged."}, []string{"tower"}),
		Refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tinypay_tower_refused_total",
			Help: "Proofs the tower refused for good (it does not serve this node, or finds them invalid), or that were dropped at MaxPending."}, []string{"tower"}),
	}
	for _, c := range []prometheus.Collector{m.Connected, m.Pending, m.Acknowledged, m.Refused} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Client hands a node's newest incoming proofs to watchtowers. It is the
// node's ProofObserver: ProofDurable only records the proof as the newest
// of its channel and wakes the tower links, so nothing waits for a tower on
// the payment path. Each tower has a link goroutine that keeps a session
// (redialling with backoff), sends the newest proof of each channel not
// yet acknowledged (a newer proof replaces an older one that was not sent
// yet: only the newest is sent), at most Window at a time, and on every
// new session sends again every proof not acknowledged.
type Client struct {
	cfg    ClientConfig
	log    *slog.Logger
	dialer node.Dialer
	links  []*link

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	start  sync.Once
}

var _ node.ProofObserver = (*Client)(nil)

// NewClient returns a client that reaches the towers through dialer. met
// may be nil. Proofs it hears of before Start wait for it.
func NewClient(cfg ClientConfig, dialer node.Dialer, met *ClientMetrics) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if dialer == nil {
		return nil, errors.New("tower client: a dialer is required")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{cfg: cfg, log: log, dialer: dialer}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	for _, ep := range cfg.Towers {
		l := &link{c: c, ep: ep, log: log.With("tower", ep.String()), wake: make(chan struct{}, 1), pending: map[channel.ID]*entry{}}
		if met != nil {
			label := ep.Address.Hex()
			l.m = &linkMetrics{connected: met.Connected.WithLabelValues(label), pending: met.Pending.WithLabelValues(label),
				acked: met.Acknowledged.WithLabelValues(label), refused: met.Refused.WithLabelValues(label)}
			l.m.connected.Set(0)
			l.m.pending.Set(0)
		}
		c.links = append(c.links, l)
	}
	return c, nil
}

// ProofDurable records p as the newest proof of its channel for every
// tower. It never blocks (see node.ProofObserver).
func (c *Client) ProofDurable(p node.IncomingProof) {
	for _, l := range c.links {
		l.add(p)
	}
}

// Start adds catchUp (the node's newest incoming proofs, from
// node.Node.IncomingProofs) and starts the links. Later calls do nothing.
func (c *Client) Start(catchUp []node.IncomingProof) {
	c.start.Do(func() {
		for _, p := range catchUp {
			c.ProofDurable(p)
		}
		for _, l := range c.links {
			c.wg.Add(1)
			go l.run()
		}
	})
}

// Stop ends the sessions and waits for the links.
func (c *Client) Stop() {
	c.cancel()
	c.wg.Wait()
}

// Status is what the client knows of one tower.
type Status struct {
	Tower     Endpoint
	Connected bool
	// Pending is how many channels' newest proofs wait for the tower.
	Pending int
	// LastError is why the last attempt or session failed ("" after a
	// successful connection).
	LastError string
	// LastAck is the newest acknowledgement: the channel, the nonce the
	// tower holds, and when (zero before the first).
	LastAck struct {
		Channel channel.ID
		Nonce   uint64
		Time    time.Time
	}
}

// Status returns the state of every tower, in configuration order.
func (c *Client) Status() []Status {
	out := make([]Status, len(c.links))
	for i, l := range c.links {
		l.mu.Lock()
		out[i] = l.st
		out[i].Pending = len(l.pending)
		l.mu.Unlock()
		out[i].Tower = l.ep
	}
	return out
}

// link is the client's side of one tower.
type link struct {
	c    *Client
	ep   Endpoint
	m    *linkMetrics // nil: none
	log  *slog.Logger
	wake chan struct{} // capacity 1: work may be waiting

	mu       sync.Mutex // guards the fields below, and nothing else
	pending  map[channel.ID]*entry
	queue    []channel.ID // to send now (each pending id at most once)
	delayed  []channel.ID // to send at their retryAt (each at most once)
	gen      uint64       // the current session's number (0: none)
	inflight int          // proofs sent on gen and not answered
	st       Status
	overSaid time.Time // when MaxPending was last logged
}

// linkMetrics are a link's series of the ClientMetrics.
type linkMetrics struct {
	connected, pending prometheus.Gauge
	acked, refused     prometheus.Counter
}

// entry is the newest proof of one channel not acknowledged by the tower.
type entry struct {
	p         node.IncomingProof
	queued    bool
	delayed   bool
	sentGen   uint64 // the session it was last sent on
	failures  int    // answers "try later" in a row
	retryAt   time.Time
	sentNonce uint64
}

func (l *link) kick() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// add makes p the newest proof of its channel to send, unless a newer one
// is pending already.
func (l *link) add(p node.IncomingProof) {
	id := p.Proof.Channel
	l.mu.Lock()
	e := l.pending[id]
	switch {
	case e != nil && e.p.Proof.Nonce >= p.Proof.Nonce:
		l.mu.Unlock()
		return
	case e != nil:
		e.p, e.failures, e.retryAt = p, 0, time.Time{}
	case len(l.pending) >= l.c.cfg.MaxPending:
		say := time.Since(l.overSaid) > 10*time.Minute
		if say {
			l.overSaid = time.Now()
		}
		l.mu.Unlock()
		if l.m != nil {
			l.m.refused.Inc()
		}
		if say {
			l.log.Warn("too many proofs wait for the tower; dropped one (its channel's next proof tries again)", "channel", id, "max", l.c.cfg.MaxPending)
		}
		return
	default:
		e = &entry{p: p}
		l.pending[id] = e
	}
	if !e.queued {
		e.queued = true
		l.queue = append(l.queue, id)
	}
	n := len(l.pending)
	l.mu.Unlock()
	if l.m != nil {
		l.m.pending.Set(float64(n))
	}
	l.kick()
}

// run keeps a session with the tower until the client stops.
func (l *link) run() {
	defer l.c.wg.Done()
	ctx := l.c.ctx
	wait := l.c.cfg.RetryMin
	failing := false
	for ctx.Err() == nil {
		dctx, cancel := context.WithTimeout(ctx, l.c.cfg.DialTimeout)
		conn, err := l.c.dialer.DialPeer(dctx, l.ep.HostPort, l.ep.Address)
		cancel()
		if err == nil {
			failing = false
			began := time.Now()
			l.log.Info("tower connected")
			err = l.session(ctx, conn)
			if ctx.Err() != nil {
				return
			}
			l.log.Warn("tower session ended; reconnecting", "err", err)
			if time.Since(began) > time.Minute {
				wait = l.c.cfg.RetryMin
			}
		} else if ctx.Err() == nil {
			if !failing {
				l.log.Warn("tower unreachable; retrying with backoff", "err", err, "retry_in", wait)
			} else {
				l.log.Debug("tower still unreachable", "err", err, "retry_in", wait)
			}
			failing = true
		}
		if err != nil {
			l.mu.Lock()
			l.st.LastError = truncate(err.Error(), 512)
			l.mu.Unlock()
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, l.c.cfg.RetryMax)
	}
}

// session sends proofs on conn and takes the tower's answers until the
// session ends; it returns why.
func (l *link) session(ctx context.Context, conn node.PeerConn) error {
	l.mu.Lock()
	l.gen++
	gen := l.gen
	l.inflight = 0
	l.st.Connected, l.st.LastError = true, ""
	// Everything not acknowledged goes again on the new session.
	l.queue = l.queue[:0]
	for id, e := range l.pending {
		e.queued = !e.delayed
		if e.queued {
			l.queue = append(l.queue, id)
		}
	}
	l.mu.Unlock()
	if l.m != nil {
		l.m.connected.Set(1)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close(nil) })
	done := make(chan error, 1)
	go func() {
		for {
			m, err := conn.Recv()
			if err != nil {
				done <- err
				return
			}
			switch b := m.GetBody().(type) {
			case *peerv1.Message_TowerAck:
				l.onAck(gen, b.TowerAck)
				l.kick()
			case *peerv1.Message_Error:
				l.log.Debug("tower reported an error", "code", b.Error.GetCode(), "message", truncate(b.Error.GetMessage(), 200))
			default:
				err := fmt.Errorf("protocol error: a tower sent %T", m.GetBody())
				conn.Close(err)
				done <- err
				return
			}
		}
	}()
	defer func() {
		stop()
		conn.Close(nil)
		l.mu.Lock()
		l.gen++ // answers of this session no longer count
		l.st.Connected = false
		l.mu.Unlock()
		if l.m != nil {
			l.m.connected.Set(0)
		}
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		msgs, next := l.due(gen)
		for _, m := range msgs {
			if err := conn.Send(m); err != nil {
				conn.Close(nil)
				return fmt.Errorf("send: %w", err)
			}
		}
		timer.Reset(time.Hour)
		if !next.IsZero() {
			timer.Reset(max(time.Until(next), time.Millisecond))
		}
		select {
		case err := <-done:
			return err
		case <-l.wake:
		case <-timer.C:
		}
	}
}

// due returns the proofs to send now on session gen (within the window),
// and when the next delayed one is due (zero: none).
func (l *link) due(gen uint64) ([]*peerv1.Message, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	var next time.Time
	if len(l.delayed) > 0 {
		keep := l.delayed[:0]
		for _, id := range l.delayed {
			e := l.pending[id]
			switch {
			case e == nil || !e.delayed:
			case now.Before(e.retryAt):
				keep = append(keep, id)
				if next.IsZero() || e.retryAt.Before(next) {
					next = e.retryAt
				}
			default:
				e.delayed = false
				if !e.queued {
					e.queued = true
					l.queue = append(l.queue, id)
				}
			}
		}
		l.delayed = keep
	}
	var out []*peerv1.Message
	for len(l.queue) > 0 && l.inflight < l.c.cfg.Window {
		id := l.queue[0]
		l.queue = l.queue[1:]
		e := l.pending[id]
		if e == nil || !e.queued {
			continue
		}
		e.queued = false
		if e.sentGen == gen && e.sentNonce == e.p.Proof.Nonce {
			continue // sent on this session already, its answer is coming
		}
		e.sentGen, e.sentNonce = gen, e.p.Proof.Nonce
		l.inflight++
		out = append(out, proofMessage(e.p))
	}
	if len(l.queue) == 0 {
		l.queue = nil // let the array go
	}
	return out, next
}

// onAck takes the tower's answer to a proof sent on session gen.
func (l *link) onAck(gen uint64, a *peerv1.TowerAck) {
	id, err := crypto.HashFromBytes(a.GetChannelId())
	held, herr := parseAmount(a.GetHeldTransferred())
	l.mu.Lock()
	if gen != l.gen {
		l.mu.Unlock()
		return
	}
	l.inflight--
	e := l.pending[id]
	if err != nil || e == nil {
		l.mu.Unlock()
		return
	}
	var done, refused bool
	switch c := a.GetCode(); {
	case herr == nil && !held.IsZero() && !held.Lt(&e.p.Proof.Transferred):
		done = true // the tower holds the newest proof, or one as high
	case a.GetNonce() != e.p.Proof.Nonce:
		// About an older proof of the channel: the newest is queued or
		// on its way.
		l.mu.Unlock()
		return
	case c == codeUnavailable || c == codeNotFound:
		// The tower could not read the chain, or does not see the channel
		// open yet: try again later.
		e.failures++
		e.sentGen = 0
		e.retryAt = time.Now().Add(min(l.c.cfg.RetryMin<<min(e.failures, 16), l.c.cfg.RetryMax))
		if !e.delayed {
			e.delayed = true
			l.delayed = append(l.delayed, id)
		}
	default:
		done, refused = true, true
	}
	if done {
		delete(l.pending, id)
		if !refused {
			l.st.LastAck.Channel, l.st.LastAck.Nonce, l.st.LastAck.Time = id, max(a.GetHeldNonce(), a.GetNonce()), time.Now()
		}
	}
	n := len(l.pending)
	l.mu.Unlock()
	if l.m != nil {
		l.m.pending.Set(float64(n))
		if done && !refused {
			l.m.acked.Inc()
		}
		if refused {
			l.m.refused.Inc()
		}
	}
	switch {
	case refused:
		l.log.Warn("tower refused a proof", "channel", id, "nonce", a.GetNonce(), "code", a.GetCode(), "reason", truncate(a.GetReason(), 300))
	case done:
		l.log.Debug("tower holds proof", "channel", id, "nonce", a.GetNonce(), "held_nonce", a.GetHeldNonce())
	default:
		l.log.Info("tower cannot take a proof yet; will retry", "channel", id, "nonce", a.GetNonce(), "reason", truncate(a.GetReason(), 300))
	}
}
