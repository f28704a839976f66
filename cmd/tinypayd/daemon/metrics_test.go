package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/urfave/cli/v3"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
)

// TestServeMetricsAddress: metrics are served where --metrics-listen
// says, with the address in DATADIR/metrics.addr; "off" serves nothing;
// a default address that is taken (a second node on the machine) is a
// warning and the node runs without metrics, while an address the
// operator gave (by flag, env var or config file) that is taken is an
// error.
func TestServeMetricsAddress(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	busy := taken.Addr().String()
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "tinypay_test_total", Help: "x"}))

	tests := []struct {
		name    string
		def     string // the flag's default
		env     string // TINYPAY_METRICS_LISTEN
		cf      configFile
		args    []string
		serves  bool   // metrics served, metrics.addr written
		wantErr string // in the error; "" for none
		wantLog string // in the log
	}{
		// The default, free: served.
		{name: "default free", def: "127.0.0.1:0", serves: true, wantLog: "metrics at /metrics"},
		// The default, taken by another node: a warning, no metrics.
		{name: "default taken", def: busy, wantLog: "default metrics address is taken"},
		// Given by flag and taken: an error that names it.
		{name: "flag taken", def: "127.0.0.1:0", args: []string{"--metrics-listen", busy}, wantErr: "--metrics-listen " + busy},
		// Given by env var and taken: an error too.
		{name: "env taken", def: "127.0.0.1:0", env: busy, wantErr: "--metrics-listen " + busy},
		// Given in the config file and taken: an error too.
		{name: "config taken", def: "127.0.0.1:0", cf: configFile{"metrics-listen": busy}, wantErr: "--metrics-listen " + busy},
		// Not an address: an error.
		{name: "flag garbage", def: "127.0.0.1:0", args: []string{"--metrics-listen", "nonsense"}, wantErr: "metrics listener"},
		// Off: nothing served.
		{name: "off", def: busy, args: []string{"--metrics-listen", "off"}, wantLog: "metrics off"},
		// Off, with --pprof, which needs the metrics server: a usage error.
		{name: "off with pprof", def: busy, args: []string{"--metrics-listen", "off", "--pprof"}, wantErr: "--pprof"},
		// Given by flag, port 0: served, with profiles.
		{name: "flag port 0 with pprof", def: busy, args: []string{"--metrics-listen", "127.0.0.1:0", "--pprof"}, serves: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv("TINYPAY_METRICS_LISTEN", tt.env)
			}
			dir := t.TempDir()
			addrPath := filepath.Join(dir, metricsAddrFile)
			if err := os.WriteFile(addrPath, []byte("127.0.0.1:1\n"), 0o600); err != nil { // stale, from a crash
				t.Fatal(err)
			}
			var logs bytes.Buffer
			var srv *http.Server
			cmd := &cli.Command{
				Name: "run", Flags: metricsFlags(tt.cf, tt.def), Writer: io.Discard, ErrWriter: io.Discard,
				Action: func(ctx context.Context, c *cli.Command) error {
					var err error
					srv, err = serveMetrics(c, reg, dir, slog.New(slog.NewTextHandler(&logs, nil)))
					return err
				},
			}
			err := cmd.Run(context.Background(), append([]string{"run"}, tt.args...))
			if srv != nil {
				defer srv.Close()
			}
			switch {
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one about %q", err, tt.wantErr)
			case tt.wantErr == "" && err != nil:
				t.Fatal(err)
			case !strings.Contains(logs.String(), tt.wantLog):
				t.Fatalf("log lacks %q:\n%s", tt.wantLog, logs.String())
			}
			raw, ferr := os.ReadFile(addrPath)
			if !tt.serves {
				if srv != nil || !errors.Is(ferr, os.ErrNotExist) {
					t.Fatalf("metrics served (%v) or %s left behind (%v)", srv != nil, metricsAddrFile, ferr)
				}
				return
			}
			if srv == nil || ferr != nil {
				t.Fatalf("metrics not served (%v) or no %s: %v", srv == nil, metricsAddrFile, ferr)
			}
			addr := strings.TrimSpace(string(raw))
			resp, err := http.Get("http://" + addr + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "tinypay_test_total 0") {
				t.Fatalf("GET /metrics at %s: %s\n%s", addr, resp.Status, body)
			}
			resp, err = http.Get("http://" + addr + "/debug/pprof/")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if wantPprof := strings.Contains(strings.Join(tt.args, " "), "--pprof"); (resp.StatusCode == http.StatusOK) != wantPprof {
				t.Fatalf("profiles: %s, want them served: %v", resp.Status, wantPprof)
			}
		})
	}
}

// family is one scraped metric family, with lookups by labels.
type family struct {
	t    *testing.T
	who  string
	name string
	mf   *dto.MetricFamily
}

func (f family) sample(labels ...string) *dto.Metric {
	f.t.Helper()
	if f.mf == nil {
		f.t.Fatalf("%s exports no %s", f.who, f.name)
	}
	for _, m := range f.mf.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		match := len(got) == len(labels)/2
		for i := 0; match && i+1 < len(labels); i += 2 {
			match = got[labels[i]] == labels[i+1]
		}
		if match {
			return m
		}
	}
	f.t.Fatalf("%s exports no %s%v", f.who, f.name, labels)
	return nil
}

// value returns a counter's, gauge's or untyped sample's value.
func (f family) value(labels ...string) float64 {
	f.t.Helper()
	m := f.sample(labels...)
	switch f.mf.GetType() {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	}
	f.t.Fatalf("%s: %s is a %s", f.who, f.name, f.mf.GetType())
	return 0
}

// count returns a histogram's sample count.
func (f family) count(labels ...string) uint64 {
	f.t.Helper()
	if f.mf.GetType() != dto.MetricType_HISTOGRAM {
		f.t.Fatalf("%s: %s is a %s, not a histogram", f.who, f.name, f.mf.GetType())
	}
	return f.sample(labels...).GetHistogram().GetSampleCount()
}

type scraped struct {
	t   *testing.T
	who string
	mfs map[string]*dto.MetricFamily
}

func (s scraped) get(name string) family { return family{s.t, s.who, name, s.mfs[name]} }

func mustScrape(t *testing.T, p *daemonProc) scraped {
	t.Helper()
	mfs, err := p.scrape()
	if err != nil {
		t.Fatalf("scrape %s: %v", p.name, err)
	}
	return scraped{t, p.name, mfs}
}

// usd converts base units of the dev chain's USD (6 decimals) to dollars,
// as the metrics give amounts.
func usd(t *testing.T, base string) float64 {
	t.Helper()
	v, err := strconv.ParseUint(base, 10, 64)
	if err != nil {
		t.Fatalf("amount %q: %v", base, err)
	}
	return float64(v) / 1e6
}

func closeTo(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b)) }

// TestMetricsAfterRealPayments runs two daemons, makes real payments both
// ways over a USD channel (many at once from Alice, a few back from Bob)
// and scrapes both metrics endpoints: payments counted on both sides,
// proofs no more than payments, amounts in dollars equal to what was paid,
// balance and deposit gauges equal to the channel as the API reports it,
// latency, store and chain histograms filled, the watcher's lag present,
// one peer, one open channel, and every metric the dashboard queries
// exported.
func TestMetricsAfterRealPayments(t *testing.T) {
	alice, bob := startDaemons(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	chID := openUSD(t, ctx, alice, bob, "10000000")

	// Alice pays 400 times 1234 base units, pipelined; Bob pays 3 back.
	const n, amount = 400, 1234
	stream, err := alice.api.PayStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := stream.Send(&apiv1.PayRequest{ChannelId: chID, Amount: fmt.Sprint(amount), IdempotencyKey: fmt.Sprint("m", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		r, err := stream.Recv()
		if err != nil {
			t.Fatalf("result %d: %v", i, err)
		}
		if r.GetError() != "" {
			t.Fatalf("payment %s failed: %s", r.GetIdempotencyKey(), r.GetError())
		}
	}
	for i := range 3 {
		if _, err := bob.api.Pay(ctx, &apiv1.PayRequest{ChannelId: chID, Amount: "1000", IdempotencyKey: fmt.Sprint("back", i)}); err != nil {
			t.Fatal(err)
		}
	}
	// And one payment Alice cannot afford.
	if _, err := alice.api.Pay(ctx, &apiv1.PayRequest{ChannelId: chID, Amount: "100000000", IdempotencyKey: "too much"}); err == nil {
		t.Fatal("a payment beyond the balance went through")
	}

	ac, err := alice.api.GetChannel(ctx, &apiv1.GetChannelRequest{ChannelId: chID})
	if err != nil {
		t.Fatal(err)
	}
	bc, err := bob.api.GetChannel(ctx, &apiv1.GetChannelRequest{ChannelId: chID})
	if err != nil {
		t.Fatal(err)
	}
	a, b := mustScrape(t, alice), mustScrape(t, bob)

	// Payments and proofs.
	for _, c := range []struct {
		what      string
		got, want float64
	}{
		{"alice's payments sent", a.get("tinypay_payments_sent_total").value("asset", "USD"), n},
		{"bob's payments received", b.get("tinypay_payments_received_total").value("asset", "USD"), n},
		{"bob's payments sent", b.get("tinypay_payments_sent_total").value("asset", "USD"), 3},
		{"alice's payments received", a.get("tinypay_payments_received_total").value("asset", "USD"), 3},
		{"alice's payments failed for the balance", a.get("tinypay_payments_failed_total").value("reason", "insufficient_balance"), 1},
		{"bob's proofs refused", b.get("tinypay_proofs_refused_total").value("reason", "stale_nonce"), 0},
		{"alice's peers", a.get("tinypay_peers_connected").value(), 1},
		{"bob's peers", b.get("tinypay_peers_connected").value(), 1},
		{"alice's open USD channels", a.get("tinypay_channels").value("asset", "USD", "phase", "open"), 1},
		{"bob's live incoming streams", b.get("tinypay_streams").value("direction", "incoming", "status", "live"), 0},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
	proofs := a.get("tinypay_proofs_signed_total").value("asset", "USD")
	if proofs < 1 || proofs > n {
		t.Errorf("alice signed %v proofs for %d payments", proofs, n)
	}
	if got := b.get("tinypay_proofs_accepted_total").value("asset", "USD"); got != proofs {
		t.Errorf("bob accepted %v proofs, alice signed %v", got, proofs)
	}
	t.Logf("%d payments in %v proofs: %.1f payments per proof", n, proofs, n/proofs)

	// Amounts in dollars, and the channel's balances as the API says.
	for _, c := range []struct {
		what      string
		got, want float64
	}{
		{"alice's amount sent", a.get("tinypay_amount_sent_total").value("asset", "USD"), usd(t, ac.GetSent())},
		{"alice's amount sent, as paid", a.get("tinypay_amount_sent_total").value("asset", "USD"), n * amount / 1e6},
		{"bob's amount received", b.get("tinypay_amount_received_total").value("asset", "USD"), n * amount / 1e6},
		{"bob's amount sent", b.get("tinypay_amount_sent_total").value("asset", "USD"), usd(t, bc.GetSent())},
		{"alice's amount received", a.get("tinypay_amount_received_total").value("asset", "USD"), 3 * 1000 / 1e6},
		{"alice's own balance", a.get("tinypay_channel_balance").value("asset", "USD", "side", "own"), usd(t, ac.GetMyBalance())},
		{"alice's peer balance", a.get("tinypay_channel_balance").value("asset", "USD", "side", "peer"), usd(t, ac.GetPeerBalance())},
		{"bob's own balance", b.get("tinypay_channel_balance").value("asset", "USD", "side", "own"), usd(t, bc.GetMyBalance())},
		{"bob's peer balance", b.get("tinypay_channel_balance").value("asset", "USD", "side", "peer"), usd(t, bc.GetPeerBalance())},
		{"alice's own deposit", a.get("tinypay_channel_deposit").value("asset", "USD", "side", "own"), usd(t, ac.GetMyDeposit())},
		{"bob's peer deposit", b.get("tinypay_channel_deposit").value("asset", "USD", "side", "peer"), usd(t, bc.GetPeerDeposit())},
	} {
		if c.want == 0 || !closeTo(c.got, c.want) {
			t.Errorf("%s: metric %v, want %v", c.what, c.got, c.want)
		}
	}
	bal, err := alice.api.GetBalances(ctx, &apiv1.GetBalancesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range bal.GetBalances() {
		if x.GetAsset().GetSymbol() == "USD" {
			if got, want := a.get("tinypay_channel_balance").value("asset", "USD", "side", "own"), usd(t, x.GetInChannels()); !closeTo(got, want) {
				t.Errorf("alice's own balance %v, the API says %v in channels", got, want)
			}
		}
	}

	// Histograms and the chain.
	for _, c := range []struct {
		what string
		got  uint64
		min  uint64
	}{
		{"alice's payment latencies", a.get("tinypay_payment_duration_seconds").count(), n},
		{"bob's proofs timed to durable", b.get("tinypay_proof_durable_seconds").count(), uint64(proofs)},
		{"alice's payments per proof", a.get("tinypay_payments_per_proof").count(), uint64(proofs)},
		{"bob's group commits", b.get("tinypay_store_commit_duration_seconds").count(), 1},
		{"bob's batch sizes", b.get("tinypay_store_commit_batches").count(), 1},
		{"alice's chain opens", a.get("tinypay_chain_call_duration_seconds").count("method", "open"), 1},
		{"bob's chain heads", b.get("tinypay_chain_call_duration_seconds").count("method", "head"), 1},
		{"bob's chain event reads", b.get("tinypay_chain_call_duration_seconds").count("method", "events"), 1},
	} {
		if c.got < c.min {
			t.Errorf("%s: %d observed, want at least %d", c.what, c.got, c.min)
		}
	}
	if got := b.get("tinypay_proof_durable_seconds").count(); got != uint64(proofs) {
		t.Errorf("bob timed %d proofs to durable, accepted %v", got, proofs)
	}
	for _, s := range []scraped{a, b} {
		head := s.get("tinypay_chain_head_block").value()
		lag := s.get("tinypay_watcher_lag_blocks").value()
		if head < 1 || lag < 0 || lag > head {
			t.Errorf("%s: head %v, watcher lag %v", s.who, head, lag)
		}
	}

	// Every metric the dashboard queries is in the scrape (histograms by
	// their series), but for one that has samples only once something
	// failed (TestDashboardQueriesExportedMetrics checks it is exported).
	lazy := map[string]bool{"tinypay_chain_call_errors_total": true}
	ident := regexp.MustCompile(`\b(?:tinypay|go|process)_[a-zA-Z0-9_]+`)
	for _, q := range dashboardQueries(t) {
		for _, m := range ident.FindAllString(q, -1) {
			name := m
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(m, suffix); ok && a.mfs[m] == nil && a.mfs[base].GetType() == dto.MetricType_HISTOGRAM {
					name = base
				}
			}
			if a.mfs[name] == nil && b.mfs[name] == nil && !lazy[name] {
				t.Errorf("the dashboard queries %s, which neither daemon's scrape holds", m)
			}
		}
	}
}
