package node

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
	"github.com/tinypay/tinypay/store"
)

// peerSet owns the sessions, where peers listen, the dials in progress and
// the proposals waiting for an answer. Its lock guards these maps only; it
// is never held while anything else is called.
type peerSet struct {
	mu        sync.Mutex
	sessions  map[crypto.Address]*session
	addrs     map[crypto.Address][]string // where peers listen, in the order to dial (see peeraddrs.go)
	dialing   map[crypto.Address]bool
	backoff   map[crypto.Address]redialState // failed redials, until a session attaches
	proposals map[[32]byte]proposal          // awaiting the peer's Accept
	strangers int                            // inbound sessions counted against MaxStrangerSessions
	bySource  map[netip.Prefix]int           // those of them by source (SourceOf), only sources holding one
}

// befriend gives back the place of the peer's session once it shares a
// channel (it proposed one, or accepted this node's).
func (p *peerSet) befriend(peer crypto.Address) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.sessions[peer]; s != nil {
		p.uncount(s)
	}
}

// uncount gives back the place of a stranger's session, once; p.mu held.
func (p *peerSet) uncount(s *session) {
	if !s.counted {
		return
	}
	s.counted = false
	p.strangers--
	if s.hasSrc {
		if p.bySource[s.src]--; p.bySource[s.src] == 0 {
			delete(p.bySource, s.src)
		}
	}
}

// redialState spaces the redials of a peer that does not answer: the wait
// doubles after each failure, up to Config.RedialMax.
type redialState struct {
	wait time.Duration
	next time.Time
}

type proposal struct {
	peer   crypto.Address
	answer chan error // buffered
}

func (p *peerSet) init() {
	p.sessions = make(map[crypto.Address]*session)
	p.addrs = make(map[crypto.Address][]string)
	p.dialing = make(map[crypto.Address]bool)
	p.backoff = make(map[crypto.Address]redialState)
	p.proposals = make(map[[32]byte]proposal)
	p.bySource = make(map[netip.Prefix]int)
}

const peerCursorPrefix = "peer/"

// load reads where the peers of this node's channels listen.
func (p *peerSet) load(n *Node) error {
	seen := make(map[crypto.Address]bool)
	for _, c := range n.chans.all() {
		if seen[c.peer] {
			continue // once a peer, not once a channel
		}
		seen[c.peer] = true
		v, err := n.store.Cursor(peerCursorPrefix + hex.EncodeToString(c.peer[:]))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("load peer address: %w", err)
		}
		if addrs := decodePeerAddrs(v); len(addrs) > 0 {
			p.mu.Lock()
			p.addrs[c.peer] = addrs
			p.mu.Unlock()
		}
	}
	return nil
}

// session returns the live session with peer, if any.
func (p *peerSet) session(peer crypto.Address) *session {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.sessions[peer]; s != nil && s.alive() {
		return s
	}
	return nil
}

func (p *peerSet) all() []*session {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*session, 0, len(p.sessions))
	for _, s := range p.sessions {
		out = append(out, s)
	}
	return out
}

// HandlePeer serves an accepted, authenticated peer connection until it
// ends. The peer transport calls it from the connection's goroutine.
func (n *Node) HandlePeer(conn PeerConn) {
	s := n.attach(conn, false)
	if s == nil {
		return
	}
	s.readLoop()
}

// ConnectPeer dials a peer at hostport (expecting the node address want,
// unless zero), keeps the connection, and remembers where the peer listens
// so that it can be redialled (see ConnectPeerAddrs).
func (n *Node) ConnectPeer(ctx context.Context, hostport string, want crypto.Address) (PeerInfo, error) {
	return n.ConnectPeerAddrs(ctx, []string{hostport}, want)
}

// persistAddrs stores where peer listens.
func (n *Node) persistAddrs(ctx context.Context, peer crypto.Address, addrs []string) error {
	b := store.NewBatch()
	if err := b.PutCursor(peerCursorPrefix+hex.EncodeToString(peer[:]), encodePeerAddrs(addrs)); err != nil {
		return err
	}
	_, err := n.commit(ctx, b)
	return err
}

// attach registers a new session, replacing or refusing a duplicate, and
// starts reestablishing every channel shared with the peer.
func (n *Node) attach(conn PeerConn, outbound bool) *session {
	if err := n.usable(); err != nil {
		conn.Close(err)
		return nil
	}
	s := newSession(n, conn, outbound)
	// A peer that shares no channel is a stranger until it proposes one:
	// its inbound sessions are bounded, it leaves no address behind, and
	// its comings and goings are logged at debug level only.
	s.stranger = len(n.chans.withPeer(s.peer)) == 0
	inUse := n.chans.inUseWith(s.peer) // before p.mu: no lock of the registry under it
	var old *session
	n.peers.mu.Lock()
	if s.stranger && !outbound {
		src, hasSrc := SourceOf(conn.RemoteAddr())
		bound, limit := "", 0
		switch {
		case hasSrc && n.peers.bySource[src] >= n.cfg.MaxStrangerSessionsPerSource:
			bound, limit = BoundStrangerSessionsHost, n.cfg.MaxStrangerSessionsPerSource
		case n.peers.strangers >= n.cfg.MaxStrangerSessions:
			bound, limit = BoundStrangerSessions, n.cfg.MaxStrangerSessions
		}
		if bound != "" {
			n.peers.mu.Unlock()
			n.bounds.Refused(bound, "peer", s.peer, "remote", conn.RemoteAddr(), "limit", limit)
			conn.Close(wrapf(ErrResourceExhausted, "this node serves %d peers that share no channel with it from there, the most it takes; try later", limit))
			return nil
		}
		n.peers.strangers++
		if hasSrc {
			n.peers.bySource[src]++
		}
		s.counted, s.src, s.hasSrc = true, src, hasSrc
	}
	if prev := n.peers.sessions[s.peer]; prev != nil && prev.alive() {
		// Both sides dialled: keep the connection dialled by the lower
		// address, on both ends alike.
		if !keepNewSession(n.self, s.peer, outbound) {
			n.peers.uncount(s)
			n.peers.mu.Unlock()
			conn.Close(errors.New("duplicate connection"))
			return nil
		}
		old = prev
	}
	n.peers.sessions[s.peer] = s
	delete(n.peers.backoff, s.peer) // reachable again: redial promptly next time
	var learned []string
	if inUse {
		// Not for a peer with only a proposal: a stranger could otherwise
		// leave a stored address behind per key it proposes from.
		learned = n.learnAddrsLocked(s)
	}
	n.peers.mu.Unlock()
	n.keepAddrs(s.peer, learned)
	if old != nil {
		old.close(errors.New("replaced by a newer connection"))
	}
	if !n.background(s.writeLoop) {
		s.close(ErrStopped)
		return nil
	}
	n.log.Log(n.ctx, s.logLevel(), "peer connected", "peer", s.peer, "remote", conn.RemoteAddr(), "outbound", outbound)
	if chans := n.chans.withPeer(s.peer); len(chans) <= reestablishPage {
		attachPage(s, chans, nil)
	} else if !n.background(func() { n.attachPaced(s, chans) }) {
		s.close(ErrStopped)
		return nil
	}
	n.hooks.PeerConnected(s.peer, s.send)
	return s
}

// learnAddrsLocked takes the addresses s's peer says it listens at as
// where to dial it, unless the node knows some already (an operator's, or
// learned before); it returns them if so. p.mu must be held. The callers
// make sure the peer shares a channel in use: a stranger, or a peer with
// only a proposal, leaves no address behind.
func (n *Node) learnAddrsLocked(s *session) []string {
	la := mergePeerAddrs(s.conn.ListenAddrs())
	if len(la) == 0 || len(n.peers.addrs[s.peer]) > 0 {
		return nil
	}
	n.peers.addrs[s.peer] = la
	return la
}

// keepAddrs stores learned addresses of peer (if any), in the background:
// a restarted node then dials the peers of its channels at once (see
// redialLoop) instead of waiting for each to redial it, which a peer's
// doubling wait can make seconds.
func (n *Node) keepAddrs(peer crypto.Address, learned []string) {
	if len(learned) == 0 {
		return
	}
	n.background(func() {
		ctx, cancel := context.WithTimeout(n.ctx, n.cfg.RequestTimeout)
		defer cancel()
		if err := n.persistAddrs(ctx, peer, learned); err != nil && n.ctx.Err() == nil {
			n.log.Warn("could not store where a peer listens; after a restart the node waits for it to dial", "peer", peer, "err", err)
		}
	})
}

// reestablishPage and reestablishBacklog pace a new session's Reestablish
// messages, one per channel: the channels are attached a page at a time,
// and the next page waits until fewer than reestablishBacklog messages wait
// to be written, so that a peer with a hundred thousand channels neither
// overflows the session's queue (maxQueued) nor holds them all in memory
// at once. Variables for tests.
var (
	reestablishPage    = 512
	reestablishBacklog = 4096
)

// attachPage attaches s to chans; done, if set, is called once every one
// has taken the step.
func attachPage(s *session, chans []*chanActor, done func()) {
	var left atomic.Int64
	left.Store(int64(len(chans)))
	for _, c := range chans {
		c.doHere(func() {
			// A session replaced meanwhile is not attached: its successor's
			// step may already have run. Nor is a channel the peer's
			// Reestablish attached already (onReestablish).
			if s.alive() && c.sess != s {
				c.onAttach(s)
			}
			if left.Add(-1) == 0 && done != nil {
				done()
			}
		})
	}
}

// attachPaced attaches s to chans a page at a time (see reestablishPage).
func (n *Node) attachPaced(s *session, chans []*chanActor) {
	for len(chans) > 0 {
		page := chans[:min(len(chans), reestablishPage)]
		chans = chans[len(page):]
		stepped := make(chan struct{})
		attachPage(s, page, func() { close(stepped) })
		select {
		case <-stepped:
		case <-s.closed:
			return
		}
		for s.backlog() > reestablishBacklog {
			select {
			case <-s.progress:
			case <-s.closed:
				return
			}
		}
	}
}

// keepNewSession decides between an existing live session and a new one:
// the session whose dialer has the lower address wins.
func keepNewSession(self, peer crypto.Address, newOutbound bool) bool {
	dialer := peer
	if newOutbound {
		dialer = self
	}
	lower := self
	if bytes.Compare(peer[:], self[:]) < 0 {
		lower = peer
	}
	return dialer == lower
}

func (n *Node) detach(s *session) {
	s.close(errors.New("connection ended"))
	n.peers.mu.Lock()
	if n.peers.sessions[s.peer] == s {
		delete(n.peers.sessions, s.peer)
	}
	n.peers.uncount(s)
	n.peers.mu.Unlock()
	for _, c := range n.chans.withPeer(s.peer) {
		c.do(func() { c.onDetach(s) })
	}
	n.log.Log(n.ctx, s.logLevel(), "peer disconnected", "peer", s.peer, "reason", s.reason())
}

// redialLoop reconnects to peers that share channels still in use: at
// once when the node starts (a restart should not wait a Redial period
// for its peers), then every Redial.
func (n *Node) redialLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.Redial)
	defer t.Stop()
	for first := true; ; first = false {
		if !first {
			select {
			case <-n.ctx.Done():
				return
			case <-t.C:
			}
		}
		if n.dialer == nil {
			continue
		}
		for peer, addrs := range n.redialTargets() {
			ok := n.background(func() {
				defer func() {
					n.peers.mu.Lock()
					delete(n.peers.dialing, peer)
					n.peers.mu.Unlock()
				}()
				ctx, cancel := context.WithTimeout(n.ctx, n.cfg.RequestTimeout)
				defer cancel()
				if _, err := n.ConnectPeerAddrs(ctx, addrs, peer); err != nil {
					wait := n.redialFailed(peer)
					n.log.Debug("redial failed", "peer", peer, "addrs", addrs, "err", err, "next in", wait)
				}
			})
			if !ok {
				return
			}
		}
	}
}

// redialTargets returns the peers to dial now, with their addresses:
// those with a channel still in use, a known address and no session or
// dial, marking them dialling.
func (n *Node) redialTargets() map[crypto.Address][]string {
	inUse := n.chans.peersInUse() // see flagsOf
	now := n.clock.Now()
	n.peers.mu.Lock()
	out := map[crypto.Address][]string{}
	var learned map[crypto.Address][]string
	for _, peer := range inUse {
		addr := n.peers.addrs[peer]
		s := n.peers.sessions[peer]
		if len(addr) == 0 && s != nil && s.alive() {
			// A peer that was a stranger when it connected and has a
			// channel in use now: where it said it listens is worth
			// keeping.
			if la := n.learnAddrsLocked(s); la != nil {
				if learned == nil {
					learned = make(map[crypto.Address][]string)
				}
				learned[peer] = la
			}
		}
		if len(addr) == 0 || n.peers.dialing[peer] || (s != nil && s.alive()) || now.Before(n.peers.backoff[peer].next) {
			continue
		}
		n.peers.dialing[peer] = true
		out[peer] = append([]string(nil), addr...)
	}
	n.peers.mu.Unlock()
	for peer, la := range learned {
		n.keepAddrs(peer, la)
	}
	return out
}

// redialFailed spaces the next redial of peer: Redial after the first
// failure, doubling after each one up to RedialMax. It returns the wait.
func (n *Node) redialFailed(peer crypto.Address) time.Duration {
	n.peers.mu.Lock()
	defer n.peers.mu.Unlock()
	b := n.peers.backoff[peer]
	b.wait = min(max(2*b.wait, n.cfg.Redial), n.cfg.RedialMax)
	b.next = n.clock.Now().Add(b.wait)
	n.peers.backoff[peer] = b
	return b.wait
}

// SendPeer queues m to the live session with peer, for the application
// layer; it reports false if there is none. It never blocks.
func (n *Node) SendPeer(peer crypto.Address, m *peerv1.Message) bool {
	s := n.peers.session(peer)
	if s == nil {
		return false
	}
	s.send(m)
	return true
}

// Peers lists the peers the node knows: connected ones and those it shares
// channels with.
func (n *Node) Peers() []PeerInfo {
	chans := n.chans.all()
	seen := map[crypto.Address]*PeerInfo{}
	n.peers.mu.Lock()
	for addr, s := range n.peers.sessions {
		if s.alive() {
			seen[addr] = &PeerInfo{Address: addr, RemoteAddr: s.conn.RemoteAddr(), Connected: true, DialAddrs: append([]string(nil), n.peers.addrs[addr]...)}
		}
	}
	for _, c := range chans {
		if _, ok := seen[c.peer]; !ok {
			p := &PeerInfo{Address: c.peer, DialAddrs: append([]string(nil), n.peers.addrs[c.peer]...)}
			if len(p.DialAddrs) > 0 {
				p.RemoteAddr = p.DialAddrs[0]
			}
			seen[c.peer] = p
		}
	}
	n.peers.mu.Unlock()
	out := make([]PeerInfo, 0, len(seen))
	for _, p := range seen {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b PeerInfo) int { return bytes.Compare(a.Address[:], b.Address[:]) })
	return out
}

// expect registers a proposal waiting for the peer's answer.
func (p *peerSet) expect(id [32]byte, peer crypto.Address) chan error {
	ch := make(chan error, 1)
	p.mu.Lock()
	p.proposals[id] = proposal{peer: peer, answer: ch}
	p.mu.Unlock()
	return ch
}

func (p *peerSet) forget(id [32]byte) {
	p.mu.Lock()
	delete(p.proposals, id)
	p.mu.Unlock()
}

// answer delivers the peer's answer to a proposal of this node to it, if
// it is that peer's to answer; it reports whether there was one.
func (p *peerSet) answer(id [32]byte, peer crypto.Address, err error) bool {
	p.mu.Lock()
	pr, ok := p.proposals[id]
	p.mu.Unlock()
	if !ok || pr.peer != peer {
		return false
	}
	select {
	case pr.answer <- err:
	default:
	}
	return true
}
