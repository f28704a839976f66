package node

import (
	"log/slog"
	"net/netip"
	"sync"
	"time"
)

// Names of the bounds on what peers and strangers can make a node hold;
// they label tinypay_bound_refusals_total and the warnings.
const (
	BoundProposalsPerPeer     = "proposals_per_peer"
	BoundProposals            = "proposals"
	BoundRefunds              = "refunds_per_channel_minute"
	BoundStrangerSessions     = "sessions_without_channel"
	BoundStrangerSessionsHost = "sessions_without_channel_per_source"
	BoundStreamsPerChannel    = "streams_per_channel"
	BoundStreams              = "streams"
	BoundUnauthenticated      = "unauthenticated_connections"
	BoundUnauthenticatedHost  = "unauthenticated_connections_per_source"
)

// boundWarnEvery is how often a bound that keeps being hit is logged: the
// first refusal is a warning, the next ones within this time are only
// counted (an attacker must not be able to flood the log).
const boundWarnEvery = time.Hour

// Bounds reports refusals at a bound: it counts each in the metric and
// logs the first one at warn level, then at most one per bound per hour,
// with how many were refused since. Safe for concurrent use; it never
// blocks on I/O beyond the logger.
type Bounds struct {
	log *slog.Logger
	met *Metrics
	now func() time.Time

	mu    sync.Mutex
	state map[string]*boundState
}

type boundState struct {
	warned  time.Time
	refused uint64 // since the last warning
}

func newBounds(log *slog.Logger, met *Metrics, now func() time.Time) *Bounds {
	return &Bounds{log: log, met: met, now: now, state: map[string]*boundState{}}
}

// Refused records that a newcomer was refused at bound; args (slog pairs)
// say who and what the limit is.
func (b *Bounds) Refused(bound string, args ...any) {
	if b.met != nil {
		b.met.BoundRefusals.WithLabelValues(bound).Inc()
	}
	now := b.now()
	b.mu.Lock()
	st := b.state[bound]
	if st == nil {
		st = &boundState{}
		b.state[bound] = st
	}
	st.refused++
	if !st.warned.IsZero() && now.Sub(st.warned) < boundWarnEvery {
		b.mu.Unlock()
		return
	}
	refused := st.refused
	st.warned, st.refused = now, 0
	b.mu.Unlock()
	b.log.Warn("refused a newcomer at a bound; further refusals in the next hour are only counted in tinypay_bound_refusals_total",
		append([]any{"bound", bound, "refused", refused}, args...)...)
}

// Bounds returns the node's reporter of refusals at bounds, for the
// layers around it (the peer transport, the application layer).
func (n *Node) Bounds() *Bounds { return n.bounds }

// SourceOf returns the source that a connection from hostport counts
// against in the bounds per source: the IPv4 address as a /32, or the /64
// prefix of an IPv6 address (a host or site commonly holds a whole /64, so
// counting single IPv6 addresses would bound nothing); IPv4-mapped IPv6
// addresses count as IPv4. It reports false for an address that is not an
// IP address and port.
func SourceOf(hostport string) (netip.Prefix, bool) {
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		return netip.Prefix{}, false
	}
	ip := ap.Addr().Unmap().WithZone("")
	if !ip.IsValid() {
		return netip.Prefix{}, false
	}
	bits := 64
	if ip.Is4() {
		bits = 32
	}
	p, _ := ip.Prefix(bits) // cannot fail: bits fits every valid address
	return p, true
}
