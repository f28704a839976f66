package tower

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
	"github.com/tinypay/tinypay/settlement"
)

// memPipe is an in-memory session between a node and a tower.
type memPipe struct {
	once   sync.Once
	done   chan struct{}
	reason error
}

func (p *memPipe) close(reason error) {
	p.once.Do(func() {
		if reason == nil {
			reason = errors.New("closed")
		}
		p.reason = reason
		close(p.done)
	})
}

// memConn is one end of a memPipe; onRecv, if set, sees each message
// received and may end the session instead of delivering it.
type memConn struct {
	p      *memPipe
	peer   crypto.Address
	recv   <-chan *peerv1.Message
	send   chan<- *peerv1.Message
	onRecv func(c *memConn, m *peerv1.Message) bool
}

func (c *memConn) Peer() crypto.Address  { return c.peer }
func (c *memConn) ListenAddrs() []string { return nil }
func (c *memConn) RemoteAddr() string    { return "mem" }
func (c *memConn) Close(reason error)    { c.p.close(reason) }

func (c *memConn) Send(m *peerv1.Message) error {
	select {
	case c.send <- m:
		return nil
	case <-c.p.done:
		return fmt.Errorf("session closed: %w", c.p.reason)
	}
}

func (c *memConn) Recv() (*peerv1.Message, error) {
	for {
		select {
		case m := <-c.recv:
			if c.onRecv != nil && !c.onRecv(c, m) {
				continue
			}
			return m, nil
		case <-c.p.done:
			return nil, fmt.Errorf("session closed: %w", c.p.reason)
		}
	}
}

// memDialer connects a node (from) to a tower server in memory, and counts
// the proofs the tower receives per channel.
type memDialer struct {
	srv  *Server
	from crypto.Address

	mu       sync.Mutex
	down     bool
	dropNext int // sessions to end on their next proof, before the tower sees it
	seen     map[channel.ID]int
}

func (d *memDialer) DialPeer(ctx context.Context, hostport string, want crypto.Address) (node.PeerConn, error) {
	d.mu.Lock()
	down := d.down
	d.mu.Unlock()
	if down {
		return nil, errors.New("connection refused")
	}
	a, b := make(chan *peerv1.Message, 1024), make(chan *peerv1.Message, 1024)
	p := &memPipe{done: make(chan struct{})}
	towerEnd := &memConn{p: p, peer: d.from, recv: a, send: b, onRecv: d.saw}
	go d.srv.Handle(towerEnd)
	return &memConn{p: p, peer: want, recv: b, send: a}, nil
}

func (d *memDialer) saw(c *memConn, m *peerv1.Message) bool {
	tp := m.GetTowerProof()
	if tp == nil {
		return true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.seen == nil {
		d.seen = map[channel.ID]int{}
	}
	d.seen[channel.ID(tp.GetChannelId())]++
	if d.dropNext > 0 {
		d.dropNext--
		c.Close(errors.New("connection reset"))
		return false
	}
	return true
}

func (d *memDialer) set(f func(d *memDialer)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f(d)
}

func (d *memDialer) count(id channel.ID) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.seen[id]
}

// newClient returns a client of Bob's (started) that reaches w's tower
// through d.
func newClient(t *testing.T, w *world, d *memDialer, mutate ...func(*ClientConfig)) *Client {
	t.Helper()
	cfg := DefaultClientConfig()
	cfg.Towers = []Endpoint{{HostPort: "tower:1", Address: w.chain.Carol.Address()}}
	cfg.RetryMin, cfg.RetryMax = 5*time.Millisecond, 50*time.Millisecond
	for _, m := range mutate {
		m(&cfg)
	}
	c, err := NewClient(cfg, d, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}

func incoming(t *testing.T, w *world, p channel.Params, nonce, amount uint64) node.IncomingProof {
	return node.IncomingProof{Params: p, Proof: proof(t, w.chain.Alice, p, nonce, amount)}
}

// heldNonce is the nonce of the proof the tower holds of p (0: none).
func (w *world) heldNonce(p channel.Params) uint64 {
	r, err := w.st.Get(p.ID(), channel.A)
	if err != nil {
		w.t.Fatal(err)
	}
	if r == nil {
		return 0
	}
	return r.Proof.Nonce
}

// TestClientCoalesces: proofs that arrive while the tower is unreachable
// are coalesced to the newest of each channel: once it can be reached, the
// tower receives exactly one proof per channel, the newest.
func TestClientCoalesces(t *testing.T) {
	w := newWorld(t)
	d := &memDialer{srv: w.srv, from: w.chain.Bob.Address(), down: true}
	c := newClient(t, w, d)
	p, q := w.openChannel(), w.openChannel()
	for n := uint64(1); n <= 50; n++ {
		c.ProofDurable(incoming(t, w, p, n, 10*n))
	}
	c.Start([]node.IncomingProof{incoming(t, w, q, 3, 30), incoming(t, w, p, 7, 70)}) // an older catch-up is ignored
	for n := uint64(4); n <= 6; n++ {
		c.ProofDurable(incoming(t, w, q, n, 10*n))
	}
	d.set(func(d *memDialer) { d.down = false })
	waitFor(t, "the tower to hold the newest proofs", func() bool { return w.heldNonce(p) == 50 && w.heldNonce(q) == 6 })
	waitFor(t, "the client to see them acknowledged", func() bool { return c.Status()[0].Pending == 0 })
	if n, m := d.count(p.ID()), d.count(q.ID()); n != 1 || m != 1 {
		t.Fatalf("the tower received %d and %d proofs of the two channels, want 1 each (the newest)", n, m)
	}
	st := c.Status()[0]
	if !st.Connected || st.LastAck.Nonce == 0 || st.LastAck.Time.IsZero() {
		t.Fatalf("status %+v, want connected with a last acknowledgement", st)
	}
	// Once connected, each newer proof goes on its own.
	c.ProofDurable(incoming(t, w, p, 51, 510))
	waitFor(t, "the next proof", func() bool { return w.heldNonce(p) == 51 })
}

// TestClientResendsAfterReconnect: a proof whose session ended before the
// tower answered is sent again on the next session.
func TestClientResendsAfterReconnect(t *testing.T) {
	w := newWorld(t)
	d := &memDialer{srv: w.srv, from: w.chain.Bob.Address(), dropNext: 2}
	c := newClient(t, w, d)
	c.Start(nil)
	p := w.openChannel()
	c.ProofDurable(incoming(t, w, p, 1, 10))
	waitFor(t, "the tower to hold the proof", func() bool { return w.heldNonce(p) == 1 })
	if n := d.count(p.ID()); n != 3 {
		t.Fatalf("the proof was sent %d times, want 3 (two sessions ended before the tower saw it)", n)
	}
	waitFor(t, "the acknowledgement", func() bool { return c.Status()[0].Pending == 0 })
}

// TestClientRetriesLater: a proof the tower cannot take yet (the channel
// is not open on chain when it arrives) is sent again after a pause, and
// taken once the channel is open; a proof the tower refuses for good (a
// forged one) is dropped.
func TestClientRetriesLater(t *testing.T) {
	w := newWorld(t)
	d := &memDialer{srv: w.srv, from: w.chain.Bob.Address()}
	c := newClient(t, w, d)
	c.Start(nil)
	p := w.params(w.chain.Alice.Address(), w.chain.Bob.Address())
	c.ProofDurable(incoming(t, w, p, 1, 10))
	waitFor(t, "the tower to refuse it twice", func() bool { return d.count(p.ID()) >= 2 })
	if n := w.heldNonce(p); n != 0 {
		t.Fatalf("the tower holds nonce %d of a channel not on chain", n)
	}
	if _, err := w.alice.Open(w.ctx(), settlement.Params(p), uint256.NewInt(1000)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the tower to take it once open", func() bool { return w.heldNonce(p) == 1 })

	q := w.openChannel()
	c.ProofDurable(node.IncomingProof{Params: q, Proof: proof(t, w.chain.Mallory, q, 1, 10)})
	waitFor(t, "the forged proof to be refused and dropped", func() bool { return d.count(q.ID()) == 1 && c.Status()[0].Pending == 0 })
	if n := w.heldNonce(q); n != 0 {
		t.Fatalf("the tower holds a forged proof (nonce %d)", n)
	}
}

// TestClientNotServed: a tower that does not serve the node ends each
// session; the client says why and keeps its proofs, bounded by
// MaxPending.
func TestClientNotServed(t *testing.T) {
	w := newWorld(t)
	d := &memDialer{srv: w.srv, from: w.chain.Mallory.Address()}
	c := newClient(t, w, d, func(c *ClientConfig) { c.MaxPending = 2 })
	c.Start(nil)
	var ps []channel.Params
	for i := range 3 {
		ps = append(ps, w.params(w.chain.Alice.Address(), w.chain.Mallory.Address()))
		c.ProofDurable(incoming(t, w, ps[i], 1, 10))
	}
	waitFor(t, "the refusal", func() bool { return strings.Contains(c.Status()[0].LastError, "does not serve") })
	if st := c.Status()[0]; st.Pending != 2 {
		t.Fatalf("%d proofs pending, want 2 (MaxPending)", st.Pending)
	}
	if n := len(w.dump()); n != 0 {
		t.Fatalf("the tower stored %d entries for a node it does not serve", n)
	}
}

func TestParseEndpoint(t *testing.T) {
	for _, tc := range []struct {
		in, err string
	}{
		{"127.0.0.1:9740@0x00000000000000000000000000000000000000aa", ""},
		{"[::1]:9740@0x00000000000000000000000000000000000000aa", ""},
		{"127.0.0.1:9740", "want host:port@0xAddress"},
		{"127.0.0.1@0x00000000000000000000000000000000000000aa", "is not host:port"},
		{"127.0.0.1:9740@0x1234", "address"},
		{"127.0.0.1:9740@0x0000000000000000000000000000000000000000", "zero address"},
	} {
		_, err := ParseEndpoint(tc.in)
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("ParseEndpoint(%q) = %v, want an error with %q", tc.in, err, tc.err)
		}
	}
}
