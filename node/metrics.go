package node

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
	"time"

	"github.com/holiman/uint256"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/settlement"
	"github.com/tinypay/tinypay/store"
)

// Metrics are the node's Prometheus metrics (the names are listed in
// NewMetrics). A nil *Metrics records nothing.
//
// What the hot path records costs a few atomic adds and no allocation: the
// counters of a channel's asset are resolved once, when its owner is built.
// Amounts and balances are not counted as payments go: they are read from
// the channels' published state when the metrics are scraped, exactly (in
// 256-bit integers) and converted to float64 only then.
//
// Metrics implement store.CommitObserver: give them to the store's Config
// (Observer) for the store's commit metrics. A Metrics describes one node:
// the last one built with it (node.New).
type Metrics struct {
	// ChannelsBehind counts the channels the node refuses to pay on
	// because it may be behind on them (see behind.go).
	ChannelsBehind prometheus.Gauge
	// BoundRefusals counts newcomers refused at a bound, by bound (see
	// Bounds).
	BoundRefusals *prometheus.CounterVec
	// Transfers counts transfers of the node's own funds that ended, by
	// origin (operator, sweep) and status (sent, failed).
	Transfers *prometheus.CounterVec

	paymentsSent     *prometheus.CounterVec // by asset
	paymentsReceived *prometheus.CounterVec
	proofsSigned     *prometheus.CounterVec
	proofsAccepted   *prometheus.CounterVec
	paymentsPerProof prometheus.Histogram
	payDuration      prometheus.Histogram
	proofDurable     prometheus.Histogram

	proofsRefused   map[string]prometheus.Counter // by refusalReason
	paymentsRefused map[string]prometheus.Counter // incoming, by codeName
	paymentsFailed  map[string]prometheus.Counter // outgoing, by failReason

	commitDuration prometheus.Histogram
	commitBatches  prometheus.Histogram

	chainDuration *prometheus.HistogramVec
	chainErrors   *prometheus.CounterVec
	chainCalls    [numChainMethods]prometheus.Observer

	headBlock atomic.Uint64 // newest head the watcher read
	doneBlock atomic.Uint64 // +1: the block the watcher processed events up to (0: not yet known)

	node atomic.Pointer[Node] // the node whose state is read at scrape time
}

// Label values of tinypay_proofs_refused_total (refusalReason).
var refusalReasons = []string{"malformed", "bad_signature", "stale_nonce", "not_increasing", "insufficient_balance",
	"phase", "not_reestablished", "refund_bound", "unavailable", "other"}

// Label values of tinypay_payments_failed_total (failReason).
var failReasons = []string{"invalid", "insufficient_balance", "refunded", "peer_refused", "pending", "canceled",
	"phase", "unavailable", "other"}

// Label values of tinypay_payments_refused_total (codeName of peerCode).
var codeNames = map[uint32]string{
	codeInvalidArgument: "invalid_argument", codeNotFound: "not_found", codeAlreadyExists: "already_exists",
	codePermissionDenied: "permission_denied", codeResourceExhausted: "resource_exhausted",
	codeFailedPrecondition: "failed_precondition", codeAborted: "aborted", codeUnavailable: "unavailable",
	codeInternal: "internal",
}

// The settlement calls metered by tinypay_chain_call_duration_seconds.
type chainMethod int

const (
	chainOpen chainMethod = iota
	chainDeposit
	chainWithdraw
	chainCooperativeClose
	chainForceClose
	chainUpdate
	chainSettle
	chainWithdrawPayout
	chainChannel
	chainPayout
	chainBalance
	chainHead
	chainEvents
	numChainMethods
)

var chainMethodNames = [numChainMethods]string{
	chainOpen: "open", chainDeposit: "deposit", chainWithdraw: "withdraw", chainCooperativeClose: "cooperative_close",
	chainForceClose: "force_close", chainUpdate: "update", chainSettle: "settle", chainWithdrawPayout: "withdraw_payout",
	chainChannel: "channel", chainPayout: "payout", chainBalance: "balance", chainHead: "head", chainEvents: "events",
}

// Descriptions of the metrics read from the node's state at scrape time.
var (
	descAmountSent = prometheus.NewDesc("tinypay_amount_sent_total",
		"Amount this node has paid, per asset, in units of the asset (ETH, not wei): the sum of its newest balance proofs over all its channels, refunds included. Summed exactly, then converted to a float64, which keeps about 15 significant digits: a total above 2^53 base units is rounded.",
		[]string{"asset"}, nil)
	descAmountReceived = prometheus.NewDesc("tinypay_amount_received_total",
		"Amount this node has been paid, per asset, in units of the asset: the sum of the peers' newest balance proofs it accepted over all its channels, refunds included. Summed exactly, then converted to a float64 (about 15 significant digits).",
		[]string{"asset"}, nil)
	descBalance = prometheus.NewDesc("tinypay_channel_balance",
		"Balances of the channels not settled or abandoned, per asset and side (own: this node's, peer: the peers'), in units of the asset; own is what the API reports as in channels. Converted to float64 (about 15 significant digits).",
		[]string{"asset", "side"}, nil)
	descDeposit = prometheus.NewDesc("tinypay_channel_deposit",
		"Total deposits confirmed on chain (withdrawals not subtracted) of the channels not settled or abandoned, per asset and side (own, peer), in units of the asset. Converted to float64 (about 15 significant digits).",
		[]string{"asset", "side"}, nil)
	descChannels = prometheus.NewDesc("tinypay_channels",
		"Channels per asset and phase (opening, open, closing, closed, settled, abandoned).",
		[]string{"asset", "phase"}, nil)
	descPeers = prometheus.NewDesc("tinypay_peers_connected", "Peers with a live session.", nil, nil)
	descHead  = prometheus.NewDesc("tinypay_chain_head_block",
		"Newest block (with the configured confirmations) the chain watcher has read.", nil, nil)
	descWatched = prometheus.NewDesc("tinypay_watcher_block",
		"Block up to which the chain watcher has applied the adjudicator's events.", nil, nil)
	descLag = prometheus.NewDesc("tinypay_watcher_lag_blocks",
		"Blocks the chain watcher is behind the head it read last: head minus the block it applied events up to. It grows while the endpoint fails to return events.", nil, nil)
)

// NewMetrics creates the metrics and registers them with reg:
//
//	tinypay_payments_sent_total{asset}       outgoing payments acknowledged
//	tinypay_payments_received_total{asset}   incoming payments stored durably
//	tinypay_proofs_signed_total{asset}       balance proofs signed (payments per proof: the coalescing ratio)
//	tinypay_proofs_accepted_total{asset}     incoming balance proofs accepted
//	tinypay_payments_per_proof               histogram of the payments each signed proof covers
//	tinypay_payment_duration_seconds         histogram: Pay request to acknowledgement (payer)
//	tinypay_proof_durable_seconds            histogram: proof arrival to durable, when it is acknowledged (payee)
//	tinypay_proofs_refused_total{reason}     incoming proofs refused
//	tinypay_payments_refused_total{reason}   incoming payments refused by the application and refunded
//	tinypay_payments_failed_total{reason}    Pay calls that failed
//	tinypay_bound_refusals_total{bound}      newcomers refused at a bound
//	tinypay_store_commit_duration_seconds    histogram: one group commit (write and fsync)
//	tinypay_store_commit_batches             histogram: batches made durable per group commit
//	tinypay_chain_call_duration_seconds{method}  histogram of settlement calls
//	tinypay_chain_call_errors_total{method,kind} settlement calls that failed
//	tinypay_chain_head_block, tinypay_watcher_block, tinypay_watcher_lag_blocks
//	tinypay_amount_sent_total{asset}, tinypay_amount_received_total{asset}
//	tinypay_channel_balance{asset,side}, tinypay_channel_deposit{asset,side}
//	tinypay_channels{asset,phase}, tinypay_peers_connected
//	tinypay_transfers_total{origin,status}     wallet sends and sweeps that ended
//	tinypay_channels_behind                    channels refusing to pay until caught up
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	counterVec := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	m := &Metrics{
		BoundRefusals: counterVec("tinypay_bound_refusals_total",
			"Proposals, streams and connections refused because a bound on what peers and strangers may make the node hold was reached.", "bound"),
		paymentsSent:     counterVec("tinypay_payments_sent_total", "Outgoing payments acknowledged by the peer, per asset (refunds of refused incoming payments included).", "asset"),
		paymentsReceived: counterVec("tinypay_payments_received_total", "Incoming payments stored durably, per asset (refused and refunded ones included).", "asset"),
		proofsSigned: counterVec("tinypay_proofs_signed_total",
			"Balance proofs signed, per asset. One proof may cover many payments: payments sent per proof signed is the coalescing ratio.", "asset"),
		proofsAccepted: counterVec("tinypay_proofs_accepted_total", "Incoming balance proofs accepted, per asset.", "asset"),
		paymentsPerProof: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tinypay_payments_per_proof",
			Help: "Payments each signed balance proof covers (coalescing).", Buckets: prometheus.ExponentialBuckets(1, 2, 13)}),
		payDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tinypay_payment_duration_seconds",
			Help:    "Successful outgoing payments: from the Pay request to the peer's acknowledgement of a proof covering it.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 14)}),
		proofDurable: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tinypay_proof_durable_seconds",
			Help:    "Accepted incoming balance proofs: from their arrival to durable on disk, when the acknowledgement goes out.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 14)}),
		commitDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tinypay_store_commit_duration_seconds",
			Help:    "Group commits of the store: writing the group's batches, committing and fsyncing.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 14)}),
		commitBatches: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tinypay_store_commit_batches",
			Help: "Batches made durable per group commit of the store (0: the write failed, or every batch was refused).", Buckets: []float64{0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}}),
		chainDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tinypay_chain_call_duration_seconds",
			Help:    "Calls to the settlement layer by method, failed ones included; a transaction counts until it is confirmed.",
			Buckets: prometheus.ExponentialBuckets(0.001, 3, 12)}, []string{"method"}),
		ChannelsBehind: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tinypay_channels_behind",
			Help: "Channels the node refuses to pay on until it has caught up with the peer and the chain (after a restore, or a proof the peer held and this node had lost)."}),
		Transfers: counterVec("tinypay_transfers_total",
			"Transfers of the node's own funds on chain that ended, by origin (operator, sweep) and status (sent, failed).", "origin", "status"),
		chainErrors: counterVec("tinypay_chain_call_errors_total",
			"Calls to the settlement layer that failed, by method and kind (reverted, insufficient_funds, unavailable, wrong_chain, no_contract, timeout, canceled, other).", "method", "kind"),
	}
	proofsRefused := counterVec("tinypay_proofs_refused_total",
		"Incoming balance proofs refused (nacked), by reason: malformed, bad_signature, stale_nonce, not_increasing, insufficient_balance, phase (the channel is not open, or closing), not_reestablished, refund_bound (too many refunds this minute), unavailable (the node stops or failed), other.", "reason")
	paymentsRefused := counterVec("tinypay_payments_refused_total",
		"Incoming payments the application refused (an offer already paid or expired, say) and refunded at once, by reason (a gRPC code name).", "reason")
	paymentsFailed := counterVec("tinypay_payments_failed_total",
		"Pay calls that failed, by reason: invalid (the request), insufficient_balance, refunded (the payee refused and refunded it), peer_refused, pending (under way, its outcome not known when the caller stopped waiting), canceled, phase (the channel is not open), unavailable (the node stops or failed), other.", "reason")
	m.proofsRefused = resolve(proofsRefused, refusalReasons)
	m.paymentsFailed = resolve(paymentsFailed, failReasons)
	names := make([]string, 0, len(codeNames))
	for _, s := range codeNames {
		names = append(names, s)
	}
	m.paymentsRefused = resolve(paymentsRefused, names)
	for _, b := range []string{BoundProposalsPerPeer, BoundProposals, BoundRefunds, BoundStrangerSessions, BoundStrangerSessionsHost,
		BoundStreamsPerChannel, BoundStreams, BoundUnauthenticated, BoundUnauthenticatedHost} {
		m.BoundRefusals.WithLabelValues(b)
	}
	for _, origin := range []string{OriginOperator, OriginSweep} {
		for _, status := range []string{TransferSent, TransferFailed} {
			m.Transfers.WithLabelValues(origin, status)
		}
	}
	for i, name := range chainMethodNames {
		m.chainCalls[i] = m.chainDuration.WithLabelValues(name)
	}
	for _, c := range []prometheus.Collector{m.BoundRefusals, m.Transfers, m.ChannelsBehind, m.paymentsSent, m.paymentsReceived, m.proofsSigned, m.proofsAccepted,
		m.paymentsPerProof, m.payDuration, m.proofDurable, proofsRefused, paymentsRefused, paymentsFailed,
		m.commitDuration, m.commitBatches, m.chainDuration, m.chainErrors, stateCollector{m}} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// resolve creates the children of v for values, so that they are exported
// (at zero) before anything happens, and looked up without a hash.
func resolve(v *prometheus.CounterVec, values []string) map[string]prometheus.Counter {
	out := make(map[string]prometheus.Counter, len(values))
	for _, s := range values {
		out[s] = v.WithLabelValues(s)
	}
	return out
}

// GroupCommitted implements store.CommitObserver.
func (m *Metrics) GroupCommitted(d time.Duration, batches int) {
	m.commitDuration.Observe(d.Seconds())
	m.commitBatches.Observe(float64(batches))
}

var _ store.CommitObserver = (*Metrics)(nil)

// assetMetrics are the counters of one asset, resolved once per channel
// owner. A nil *assetMetrics records nothing.
type assetMetrics struct {
	paymentsSent, paymentsReceived, proofsSigned, proofsAccepted prometheus.Counter
	perProof                                                     prometheus.Histogram
	proofDurable                                                 prometheus.Histogram
}

func (m *Metrics) forAsset(symbol string) *assetMetrics {
	if m == nil {
		return nil
	}
	return &assetMetrics{
		paymentsSent: m.paymentsSent.WithLabelValues(symbol), paymentsReceived: m.paymentsReceived.WithLabelValues(symbol),
		proofsSigned: m.proofsSigned.WithLabelValues(symbol), proofsAccepted: m.proofsAccepted.WithLabelValues(symbol),
		perProof: m.paymentsPerProof, proofDurable: m.proofDurable,
	}
}

// signed records a proof signed for payments payments.
func (a *assetMetrics) signed(payments int) {
	if a != nil {
		a.proofsSigned.Inc()
		a.perProof.Observe(float64(payments))
	}
}

func (m *Metrics) transfer(origin, status string) {
	if m != nil {
		m.Transfers.WithLabelValues(origin, status).Inc()
	}
}

// sent records payments acknowledged.
func (a *assetMetrics) sent(payments int) {
	if a != nil {
		a.paymentsSent.Add(float64(payments))
	}
}

// accepted records an incoming proof accepted with its payments.
func (a *assetMetrics) accepted(payments int) {
	if a != nil {
		a.proofsAccepted.Inc()
		a.paymentsReceived.Add(float64(payments))
	}
}

// durable records an incoming proof, arrived at at, durable now.
func (a *assetMetrics) durable(at time.Time) {
	if a != nil && !at.IsZero() {
		a.proofDurable.Observe(time.Since(at).Seconds())
	}
}

// proofRefused counts an incoming proof refused with err.
func (m *Metrics) proofRefused(err error) {
	if m != nil {
		m.proofsRefused[refusalReason(err)].Inc()
	}
}

// paymentRefused counts an incoming payment the application refused
// with err (it is refunded).
func (m *Metrics) paymentRefused(err error) {
	if m == nil {
		return
	}
	name, ok := codeNames[peerCode(err)]
	if !ok {
		name = codeNames[codeInternal]
	}
	m.paymentsRefused[name].Inc()
}

// paid records the outcome of a Pay call that started at start.
func (m *Metrics) paid(start time.Time, err error) {
	switch {
	case m == nil:
	case err == nil:
		m.payDuration.Observe(time.Since(start).Seconds())
	default:
		m.paymentsFailed[failReason(err)].Inc()
	}
}

// watched records the watcher's view: the head it read, and the block it
// has applied events up to (ok false: unchanged).
func (m *Metrics) watched(head uint64, done uint64, ok bool) {
	if m == nil {
		return
	}
	if head > 0 {
		m.headBlock.Store(head)
	}
	if ok {
		m.doneBlock.Store(done + 1)
	}
}

// refusalReason classifies why an incoming proof was refused.
func refusalReason(err error) string {
	switch {
	case errors.Is(err, channel.ErrBadSignature), errors.Is(err, crypto.ErrInvalidSignature):
		return "bad_signature"
	case errors.Is(err, channel.ErrStaleNonce):
		return "stale_nonce"
	case errors.Is(err, channel.ErrNotIncreasing):
		return "not_increasing"
	case errors.Is(err, channel.ErrInsufficientBalance), errors.Is(err, channel.ErrOverflow):
		return "insufficient_balance"
	case errors.Is(err, channel.ErrWrongPhase), errors.Is(err, channel.ErrClosing), errors.Is(err, channel.ErrDraining):
		return "phase"
	case errors.Is(err, errNotReestablished):
		return "not_reestablished"
	case errors.Is(err, ErrResourceExhausted):
		return "refund_bound"
	case errors.Is(err, ErrStopped), errors.Is(err, store.ErrFailed):
		return "unavailable"
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrInvalidArgument), errors.Is(err, channel.ErrZeroAmount),
		errors.Is(err, channel.ErrWrongChannel), errors.Is(err, channel.ErrInvalidParams):
		return "malformed"
	}
	return "other"
}

// failReason classifies why a Pay call failed.
func failReason(err error) string {
	switch {
	case errors.Is(err, ErrPending):
		return "pending"
	case errors.Is(err, ErrRefunded):
		return "refunded"
	case errors.Is(err, ErrPeerRefused):
		return "peer_refused"
	case errors.Is(err, channel.ErrInsufficientBalance), errors.Is(err, channel.ErrOverflow):
		return "insufficient_balance"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	case errors.Is(err, ErrInvalidArgument), errors.Is(err, ErrIdempotency), errors.Is(err, ErrNotFound),
		errors.Is(err, ErrUnknownAsset), errors.Is(err, channel.ErrZeroAmount):
		return "invalid"
	case errors.Is(err, channel.ErrWrongPhase), errors.Is(err, channel.ErrClosing), errors.Is(err, channel.ErrDraining):
		return "phase"
	case errors.Is(err, ErrStopped), errors.Is(err, store.ErrFailed):
		return "unavailable"
	}
	return "other"
}

// chainErrorKind classifies a failed settlement call.
func chainErrorKind(err error) string {
	switch {
	case errors.Is(err, settlement.ErrReverted):
		return "reverted"
	case errors.Is(err, settlement.ErrInsufficientFunds):
		return "insufficient_funds"
	case errors.Is(err, settlement.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, settlement.ErrWrongChain):
		return "wrong_chain"
	case errors.Is(err, settlement.ErrNoContract):
		return "no_contract"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "other"
}

// stateCollector exports what is read from the node's state at scrape
// time: amounts, balances, channels, peers, the watcher's position.
type stateCollector struct{ m *Metrics }

func (s stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAmountSent, descAmountReceived, descBalance, descDeposit, descChannels, descPeers, descHead, descWatched, descLag} {
		ch <- d
	}
}

// assetTotals are one asset's sums over the node's channels.
type assetTotals struct {
	asset            Asset
	sent, received   uint256.Int
	balance, deposit [2]uint256.Int // own, peer
	phases           [channel.Abandoned + 1]int
}

func (s stateCollector) Collect(ch chan<- prometheus.Metric) {
	m := s.m
	if head := m.headBlock.Load(); head > 0 {
		ch <- prometheus.MustNewConstMetric(descHead, prometheus.GaugeValue, float64(head))
		if done := m.doneBlock.Load(); done > 0 {
			ch <- prometheus.MustNewConstMetric(descWatched, prometheus.GaugeValue, float64(done-1))
			lag := uint64(0)
			if head > done-1 {
				lag = head - (done - 1)
			}
			ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(lag))
		}
	}
	n := m.node.Load()
	if n == nil {
		return
	}
	peers := 0
	for _, ss := range n.peers.all() {
		if ss.alive() {
			peers++
		}
	}
	ch <- prometheus.MustNewConstMetric(descPeers, prometheus.GaugeValue, float64(peers))
	totals := map[crypto.Address]*assetTotals{}
	for addr, a := range n.assets {
		totals[addr] = &assetTotals{asset: a}
	}
	for _, c := range n.chans.all() {
		ci := c.info()
		t := totals[ci.Asset.Address]
		if t == nil {
			t = &assetTotals{asset: ci.Asset}
			totals[ci.Asset.Address] = t
		}
		t.sent.Add(&t.sent, &ci.Sent)
		recv := c.durableRecv.Load().Transferred
		t.received.Add(&t.received, &recv)
		if ci.Phase.Valid() {
			t.phases[ci.Phase]++
		}
		if ci.Phase.Terminal() {
			continue
		}
		t.balance[0].Add(&t.balance[0], &ci.MyBalance)
		t.balance[1].Add(&t.balance[1], &ci.PeerBalance)
		t.deposit[0].Add(&t.deposit[0], &ci.MyDeposit)
		t.deposit[1].Add(&t.deposit[1], &ci.PeerDeposit)
	}
	sides := [2]string{"own", "peer"}
	for _, t := range totals {
		sym, dec := t.asset.Symbol, t.asset.Decimals
		ch <- prometheus.MustNewConstMetric(descAmountSent, prometheus.CounterValue, units(&t.sent, dec), sym)
		ch <- prometheus.MustNewConstMetric(descAmountReceived, prometheus.CounterValue, units(&t.received, dec), sym)
		for i, side := range sides {
			ch <- prometheus.MustNewConstMetric(descBalance, prometheus.GaugeValue, units(&t.balance[i], dec), sym, side)
			ch <- prometheus.MustNewConstMetric(descDeposit, prometheus.GaugeValue, units(&t.deposit[i], dec), sym, side)
		}
		for p := channel.Opening; p <= channel.Abandoned; p++ {
			ch <- prometheus.MustNewConstMetric(descChannels, prometheus.GaugeValue, float64(t.phases[p]), sym, p.String())
		}
	}
}

// units converts an amount in base units to units of an asset with
// decimals decimals: the nearest float64 to the amount, divided by
// 10^decimals.
func units(v *uint256.Int, decimals uint8) float64 {
	return v.Float64() / math.Pow10(int(decimals))
}

// meteredChain is a settlement.Backend that times every call and counts
// the failed ones (tinypay_chain_call_*); node.New wraps the chain in it
// when the node has metrics, so that backends stay free of them.
type meteredChain struct {
	settlement.Backend
	m *Metrics
}

func (c meteredChain) done(method chainMethod, start time.Time, err error) {
	c.m.chainCalls[method].Observe(time.Since(start).Seconds())
	if err != nil {
		c.m.chainErrors.WithLabelValues(chainMethodNames[method], chainErrorKind(err)).Inc()
	}
}

func (c meteredChain) Open(ctx context.Context, p settlement.Params, deposit *uint256.Int) (settlement.Receipt, error) {
	start := time.Now()
	r, err := c.Backend.Open(ctx, p, deposit)
	c.done(chainOpen, start, err)
	return r, err
}

func (c meteredChain) Deposit(ctx context.Context, p settlement.Params, participant crypto.Address, newTotal *uint256.Int) (settlement.Receipt, error) {
	start := time.Now()
	r, err := c.Backend.Deposit(ctx, p, participant, newTotal)
	c.done(chainDeposit, start, err)
	return r, err
}

func (c meteredChain) Withdraw(ctx context.Context, p settlement.Params, participant crypto.Address, total *uint256.Int, expiry uint64, sigs [2]crypto.Signature) (settlement.Receipt, error) {
	start := time.Now()
	r, err := c.Backend.Withdraw(ctx, p, participant, total, expiry, sigs)
	c.done(chainWithdraw, start, err)
	return r, err
}

func (c meteredChain) CooperativeClose(ctx context.Context, p settlement.Params, balances [2]uint256.Int, expiry uint64, sigs [2]crypto.Signature) (settlement.Receipt, error) {
	start := time.Now()
	r, err := c.Backend.CooperativeClose(ctx, p, balances, expiry, sigs)
	c.done(chainCooperativeClose, start, err)
	return r, err
}

func (c meteredChain) ForceClose(ctx context.Context, p settlement.Params, peers, own settlement.Proof) (settlement.Receipt, error) {
	start := time.Now()
	r, err := c.Backend.ForceClose(ctx, p, peers, own)
	c.done(chainForceClose, start, err)
	return r, err
}

func (c meteredChain) Update(ctx context.Context, p settlement.Params, proofs []settlement.Proof) (settlement.Receipt, error) {
	start := time.Now()
	r, err := c.Backend.Update(ctx, p, proofs)
	c.done(chainUpdate, start, err)
	return r, err
}

func (c meteredChain) Settle(ctx context.Context, p settlement.Params) (settlement.Receipt, error) {
	start := time.Now()
	r, err := c.Backend.Settle(ctx, p)
	c.done(chainSettle, start, err)
	return r, err
}

func (c meteredChain) WithdrawPayout(ctx context.Context, asset crypto.Address) (uint256.Int, settlement.Receipt, error) {
	start := time.Now()
	v, r, err := c.Backend.WithdrawPayout(ctx, asset)
	c.done(chainWithdrawPayout, start, err)
	return v, r, err
}

func (c meteredChain) Channel(ctx context.Context, id crypto.Hash) (settlement.Channel, error) {
	start := time.Now()
	ch, err := c.Backend.Channel(ctx, id)
	c.done(chainChannel, start, err)
	return ch, err
}

func (c meteredChain) Payout(ctx context.Context, account, asset crypto.Address) (uint256.Int, error) {
	start := time.Now()
	v, err := c.Backend.Payout(ctx, account, asset)
	c.done(chainPayout, start, err)
	return v, err
}

func (c meteredChain) Balance(ctx context.Context, account, asset crypto.Address) (uint256.Int, error) {
	start := time.Now()
	v, err := c.Backend.Balance(ctx, account, asset)
	c.done(chainBalance, start, err)
	return v, err
}

func (c meteredChain) Head(ctx context.Context) (settlement.Head, error) {
	start := time.Now()
	h, err := c.Backend.Head(ctx)
	c.done(chainHead, start, err)
	return h, err
}

func (c meteredChain) Events(ctx context.Context, after settlement.Cursor, limit int) ([]settlement.Event, settlement.Cursor, error) {
	start := time.Now()
	evs, next, err := c.Backend.Events(ctx, after, limit)
	c.done(chainEvents, start, err)
	return evs, next, err
}

var _ settlement.Backend = meteredChain{}

func (m *Metrics) behind(delta float64) {
	if m != nil {
		m.ChannelsBehind.Add(delta)
	}
}
