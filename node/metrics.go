package node

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the node's Prometheus metrics. A nil *Metrics records
// nothing.
type Metrics struct {
	PaymentsSent     prometheus.Counter
	PaymentsReceived prometheus.Counter
	ProofsSigned     prometheus.Counter
	ProofsAccepted   prometheus.Counter
	ProofsRefused    prometheus.Counter
	PeersConnected   prometheus.Gauge
	// ChannelsBehind counts the channels the node refuses to pay on
	// because it may be behind on them (see behind.go).
	ChannelsBehind prometheus.Gauge
	// BoundRefusals counts newcomers refused at a bound, by bound (see
	// Bounds).
	BoundRefusals *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		PaymentsSent:     prometheus.NewCounter(prometheus.CounterOpts{Name: "tinypay_payments_sent_total", Help: "Outgoing payments acknowledged by the peer."}),
		PaymentsReceived: prometheus.NewCounter(prometheus.CounterOpts{Name: "tinypay_payments_received_total", Help: "Incoming payments stored durably."}),
		ProofsSigned:     prometheus.NewCounter(prometheus.CounterOpts{Name: "tinypay_proofs_signed_total", Help: "Balance proofs signed (one may cover many payments)."}),
		ProofsAccepted:   prometheus.NewCounter(prometheus.CounterOpts{Name: "tinypay_proofs_accepted_total", Help: "Incoming balance proofs accepted."}),
		ProofsRefused:    prometheus.NewCounter(prometheus.CounterOpts{Name: "tinypay_proofs_refused_total", Help: "Incoming balance proofs refused."}),
		PeersConnected:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "tinypay_peers_connected", Help: "Peers with a live session."}),
		ChannelsBehind: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tinypay_channels_behind",
			Help: "Channels the node refuses to pay on until it has caught up with the peer and the chain (after a restore, or a proof the peer held and this node had lost)."}),
		BoundRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tinypay_bound_refusals_total",
			Help: "Proposals, streams and connections refused because a bound on what peers and strangers may make the node hold was reached."}, []string{"bound"}),
	}
	for _, c := range []prometheus.Collector{m.PaymentsSent, m.PaymentsReceived, m.ProofsSigned, m.ProofsAccepted, m.ProofsRefused, m.PeersConnected, m.ChannelsBehind, m.BoundRefusals} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) add(c func(*Metrics) prometheus.Counter, n int) {
	if m != nil {
		c(m).Add(float64(n))
	}
}

func (m *Metrics) peers(delta float64) {
	if m != nil {
		m.PeersConnected.Add(delta)
	}
}

func (m *Metrics) behind(delta float64) {
	if m != nil {
		m.ChannelsBehind.Add(delta)
	}
}
