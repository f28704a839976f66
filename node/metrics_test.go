package node

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holiman/uint256"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
	"github.com/tinypay/tinypay/settlement"
)

// gathered is one scrape of a registry.
type gathered map[string]*dto.MetricFamily

func gather(t *testing.T, reg prometheus.Gatherer) gathered {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := gathered{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// find returns the sample of family name with exactly labels (pairs), or
// nil.
func (g gathered) find(name string, labels ...string) *dto.Metric {
	mf := g[name]
	if mf == nil {
		return nil
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, m := range mf.GetMetric() {
		if len(m.GetLabel()) != len(want) {
			continue
		}
		ok := true
		for _, l := range m.GetLabel() {
			if v, has := want[l.GetName()]; !has || v != l.GetValue() {
				ok = false
			}
		}
		if ok {
			return m
		}
	}
	return nil
}

// value returns a counter's or gauge's value; the test fails if there is
// no such sample.
func (g gathered) value(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	m := g.find(name, labels...)
	if m == nil {
		t.Fatalf("no sample %s%v; families: %s", name, labels, g.names())
	}
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	}
	t.Fatalf("%s%v is neither a counter nor a gauge", name, labels)
	return 0
}

// histogram returns a histogram's count and sum.
func (g gathered) histogram(t *testing.T, name string, labels ...string) (uint64, float64) {
	t.Helper()
	m := g.find(name, labels...)
	if m == nil || m.Histogram == nil {
		t.Fatalf("no histogram %s%v; families: %s", name, labels, g.names())
	}
	return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
}

func (g gathered) names() string {
	var out []string
	for n := range g {
		out = append(out, n)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// wei converts base units of ETH to the unit the metrics use.
func wei(v *uint256.Int) float64 { return v.Float64() / 1e18 }

func closeTo(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b)) }

// TestMetricsAfterPayments makes concurrent payments between two nodes and
// checks what each node's metrics say against what happened: payments and
// proofs counted on both sides (payments per proof adding up), amounts and
// balances equal to the channels', latencies observed once per payment and
// per proof, store and chain activity, the watcher's position, and failed
// payments by reason.
func TestMetricsAfterPayments(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 1_000_000)

	const payers, each, amount = 8, 25, 7
	var wg sync.WaitGroup
	for g := range payers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := alice.n.Pay(context.Background(), PayRequest{Channel: id, Amount: *uint256.NewInt(amount), Key: fmt.Sprint("m", g, "-", i)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	const total = payers * each
	// Two payments that fail, for two reasons.
	if _, err := alice.n.Pay(context.Background(), PayRequest{Channel: id, Amount: *uint256.NewInt(2_000_000), Key: "too much"}); !errors.Is(err, channel.ErrInsufficientBalance) {
		t.Fatalf("pay beyond the balance: %v", err)
	}
	if _, err := alice.n.Pay(context.Background(), PayRequest{Channel: id, Amount: *uint256.NewInt(1)}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("pay without a key: %v", err)
	}

	a, b := gather(t, alice.reg), gather(t, bob.reg)
	if got := a.value(t, "tinypay_payments_sent_total", "asset", "ETH"); got != total {
		t.Errorf("alice sent %v payments, want %d", got, total)
	}
	if got := b.value(t, "tinypay_payments_received_total", "asset", "ETH"); got != total {
		t.Errorf("bob received %v payments, want %d", got, total)
	}
	proofs := a.value(t, "tinypay_proofs_signed_total", "asset", "ETH")
	if proofs < 1 || proofs > total {
		t.Errorf("alice signed %v proofs for %d payments", proofs, total)
	}
	if got := b.value(t, "tinypay_proofs_accepted_total", "asset", "ETH"); got != proofs {
		t.Errorf("bob accepted %v proofs, alice signed %v", got, proofs)
	}
	if n, sum := a.histogram(t, "tinypay_payments_per_proof"); float64(n) != proofs || sum != total {
		t.Errorf("payments per proof: %d proofs covering %v payments, want %v covering %d", n, sum, proofs, total)
	}
	if n, sum := a.histogram(t, "tinypay_payment_duration_seconds"); n != total || sum <= 0 {
		t.Errorf("payment durations: %d observed (sum %v), want %d", n, sum, total)
	}
	if n, _ := b.histogram(t, "tinypay_proof_durable_seconds"); float64(n) != proofs {
		t.Errorf("bob timed %d proofs to durable, want %v", n, proofs)
	}
	if got := a.value(t, "tinypay_payments_failed_total", "reason", "insufficient_balance"); got != 1 {
		t.Errorf("failed for insufficient balance: %v, want 1", got)
	}
	if got := a.value(t, "tinypay_payments_failed_total", "reason", "invalid"); got != 1 {
		t.Errorf("failed as invalid: %v, want 1", got)
	}

	// Amounts and balances, exactly the channel's (in ETH).
	ac, bc := alice.channel(id), bob.channel(id)
	sent := uint256.NewInt(total * amount)
	for _, c := range []struct {
		what string
		got  float64
		want float64
	}{
		{"alice's amount sent", a.value(t, "tinypay_amount_sent_total", "asset", "ETH"), wei(sent)},
		{"bob's amount received", b.value(t, "tinypay_amount_received_total", "asset", "ETH"), wei(sent)},
		{"alice's own balance", a.value(t, "tinypay_channel_balance", "asset", "ETH", "side", "own"), wei(&ac.MyBalance)},
		{"alice's peer balance", a.value(t, "tinypay_channel_balance", "asset", "ETH", "side", "peer"), wei(&ac.PeerBalance)},
		{"bob's own balance", b.value(t, "tinypay_channel_balance", "asset", "ETH", "side", "own"), wei(&bc.MyBalance)},
		{"alice's own deposit", a.value(t, "tinypay_channel_deposit", "asset", "ETH", "side", "own"), wei(&ac.MyDeposit)},
	} {
		if c.want == 0 || !closeTo(c.got, c.want) {
			t.Errorf("%s: metric %v, channel %v", c.what, c.got, c.want)
		}
	}
	if got := b.value(t, "tinypay_amount_sent_total", "asset", "ETH"); got != 0 {
		t.Errorf("bob paid nothing, metric says %v", got)
	}
	if got := a.value(t, "tinypay_channels", "asset", "ETH", "phase", "open"); got != 1 {
		t.Errorf("alice has %v open channels, want 1", got)
	}
	if got := a.value(t, "tinypay_peers_connected"); got != 1 {
		t.Errorf("alice has %v peers, want 1", got)
	}

	// The store committed groups; the chain was read and written; the
	// watcher is where the chain is.
	if n, _ := b.histogram(t, "tinypay_store_commit_duration_seconds"); n == 0 {
		t.Error("bob's store committed no group")
	}
	if n, sum := b.histogram(t, "tinypay_store_commit_batches"); n == 0 || sum < proofs { // a batch per proof at least
		t.Errorf("bob's store made %v batches durable in %d groups, for %v proofs", sum, n, proofs)
	}
	if n, _ := a.histogram(t, "tinypay_chain_call_duration_seconds", "method", "open"); n != 1 {
		t.Errorf("alice's chain opens: %d, want 1", n)
	}
	if n, _ := b.histogram(t, "tinypay_chain_call_duration_seconds", "method", "head"); n == 0 {
		t.Error("bob's watcher read no head")
	}
	if got := b.value(t, "tinypay_watcher_lag_blocks"); got < 0 {
		t.Errorf("watcher lag %v", got)
	}
}

// TestMetricsWatcherLagAndChainErrors: a watcher that gets no events
// (as from an endpoint that lags) shows a lag in blocks that grows with
// the chain and goes back to 0 once events come; a chain call that fails
// is counted by method and kind.
func TestMetricsWatcherLagAndChainErrors(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	alice.open(bob, 1000)
	lag := func() float64 {
		m := gather(t, bob.reg).find("tinypay_watcher_lag_blocks")
		if m == nil {
			return -1
		}
		return m.GetGauge().GetValue()
	}
	waitFor(t, "bob's watcher catches up", func() bool { return lag() == 0 })

	bob.chain.deaf.Store(true)
	carol := w.add("carol", 3)
	alice.connect(carol)
	alice.open(carol, 1000) // two blocks (open, deposit) bob's watcher does not see
	waitFor(t, "bob's watcher lags 2 blocks", func() bool { return lag() == 2 })
	bob.chain.deaf.Store(false)
	waitFor(t, "bob's watcher catches up again", func() bool { return lag() == 0 })

	w.chain.mu.Lock()
	w.chain.failNext = &settlement.RevertError{Reason: "Nope"}
	w.chain.mu.Unlock()
	if _, err := alice.n.OpenChannel(context.Background(), bob.key.Address(), crypto.Address{}, *uint256.NewInt(10), 0); !errors.Is(err, settlement.ErrReverted) {
		t.Fatalf("open with a failing chain: %v", err)
	}
	if got := gather(t, alice.reg).value(t, "tinypay_chain_call_errors_total", "method", "open", "kind", "reverted"); got != 1 {
		t.Fatalf("reverted opens counted: %v, want 1", got)
	}
}

// TestMetricsProofRefusals: proofs a peer sends that are refused are
// counted by reason, and so are payments the application refuses (and
// the node refunds).
func TestMetricsProofRefusals(t *testing.T) {
	w := newNet(t)
	bob := w.add("bob", 2)
	bob.n.hooks = refuseOffers{} // before any session reads it
	alice, id, dom, r := rawPayer(t, w, bob)
	// A payment for an offer that is not Bob's: accepted, refused and
	// refunded.
	osig, _ := alice.key.Sign(crypto.Keccak256([]byte("an offer")))
	offer := &peerv1.Offer{OfferId: rid(0x0f), ItemId: "x", Asset: make([]byte, 20), Price: amountBytes(uint256.NewInt(1)), Expiry: 1 << 40, Signature: osig[:]}
	r.send(&peerv1.Message{Body: &peerv1.Message_Proof{Proof: signedProof(t, alice.key, dom, id, 2, 11,
		&peerv1.PaymentPart{PaymentId: rid(6), Amount: amountBytes(uint256.NewInt(1)), Offer: offer})}})
	for i := 0; ; i++ {
		m := r.next()
		if a := m.GetAck(); a != nil {
			if len(a.GetRefused()) != 1 {
				t.Fatalf("ack %v refuses %d payments, want 1", a, len(a.GetRefused()))
			}
			break
		}
		if i == 3 {
			t.Fatalf("no ack for the offer's payment; got %v", m)
		}
	}
	part := &peerv1.PaymentPart{PaymentId: rid(7), Amount: amountBytes(uint256.NewInt(5))}
	// Nonce 1 is held already.
	r.send(&peerv1.Message{Body: &peerv1.Message_Proof{Proof: signedProof(t, alice.key, dom, id, 1, 15, part)}})
	if m := r.next(); m.GetNack() == nil {
		t.Fatalf("stale proof answered with %v", m)
	}
	// Signed by a stranger.
	r.send(&peerv1.Message{Body: &peerv1.Message_Proof{Proof: signedProof(t, seedKey(9), dom, id, 3, 16, part)}})
	if m := r.next(); m.GetNack() == nil {
		t.Fatalf("proof of a stranger's answered with %v", m)
	}
	g := gather(t, bob.reg)
	if got := g.value(t, "tinypay_proofs_refused_total", "reason", "stale_nonce"); got != 1 {
		t.Errorf("stale proofs counted: %v, want 1", got)
	}
	if got := g.value(t, "tinypay_proofs_refused_total", "reason", "bad_signature"); got != 1 {
		t.Errorf("badly signed proofs counted: %v, want 1", got)
	}
	if got := g.value(t, "tinypay_proofs_accepted_total", "asset", "ETH"); got != 2 {
		t.Errorf("accepted proofs: %v, want 2 (the real payment, the offer's)", got)
	}
	if got := g.value(t, "tinypay_payments_refused_total", "reason", "invalid_argument"); got != 1 {
		t.Errorf("refused payments counted: %v, want 1", got)
	}
}

// TestMetricsReasonsClassified: every reason a classifier returns is one
// the metric was created with (an unknown one would panic on a nil
// counter).
func TestMetricsReasonsClassified(t *testing.T) {
	errs := []error{nil, ErrMalformed, channel.ErrBadSignature, channel.ErrStaleNonce, channel.ErrNotIncreasing,
		channel.ErrInsufficientBalance, channel.ErrClosing, errNotReestablished, ErrResourceExhausted, ErrStopped,
		ErrPending, ErrRefunded, ErrPeerRefused, context.Canceled, ErrIdempotency, channel.ErrWrongPhase, errors.New("x")}
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		if m.proofsRefused[refusalReason(e)] == nil {
			t.Errorf("refusalReason(%v) = %q, not a label value", e, refusalReason(e))
		}
		if m.paymentsFailed[failReason(e)] == nil {
			t.Errorf("failReason(%v) = %q, not a label value", e, failReason(e))
		}
		m.paymentRefused(e) // panics on an unknown code
	}
}

// TestMetricsHotPathAllocs: what a payment records (on both sides, and the
// store per group commit) allocates nothing.
func TestMetricsHotPathAllocs(t *testing.T) {
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	am := m.forAsset("ETH")
	start := time.Now()
	if n := testing.AllocsPerRun(1000, func() {
		am.signed(3)
		am.sent(3)
		am.accepted(3)
		am.durable(start)
		m.paid(start, nil)
		m.GroupCommitted(time.Millisecond, 4)
		m.watched(10, 9, true)
	}); n != 0 {
		t.Fatalf("recording a payment allocates %v times", n)
	}
	var none *assetMetrics
	none.sent(1) // no metrics: nothing, no panic
	(*Metrics)(nil).paid(start, nil)
}
