package daemon

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/tinypay/tinypay/cmd/tinypay/cli"
	"github.com/tinypay/tinypay/node/nodetest"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/apiutil"
	"github.com/tinypay/tinypay/settlement/devchain"
	"github.com/tinypay/tinypay/store"
	"github.com/tinypay/tinypay/store/pgtest"
)

// The test binary doubles as tinypayd: with TINYPAYD_CHILD set it runs the
// daemon with the arguments in TINYPAYD_ARGS (a JSON list).
func TestMain(m *testing.M) {
	// As tinypay or tinypayd for the --help examples (examples_test.go).
	switch os.Getenv("TINYPAY_EXAMPLE_BIN") {
	case "tinypay":
		os.Exit(cli.Main(context.Background(), append([]string{"tinypay"}, os.Args[1:]...), os.Stdout, os.Stderr))
	case "tinypayd":
		os.Exit(Main(context.Background(), append([]string{"tinypayd"}, os.Args[1:]...), os.Stdin, os.Stdout, os.Stderr))
	}
	if os.Getenv("TINYPAYD_CHILD") == "1" {
		var args []string
		if err := json.Unmarshal([]byte(os.Getenv("TINYPAYD_ARGS")), &args); err != nil {
			fmt.Fprintln(os.Stderr, "bad TINYPAYD_ARGS:", err)
			os.Exit(2)
		}
		var opts options
		if at := os.Getenv("TINYPAYD_CRASH_AT"); at != "" {
			// kill -9 of this very process at the named step (see
			// node.Config.Failpoint): nothing after it runs.
			opts.failpoint = func(name string) {
				if name == at {
					fmt.Fprintf(os.Stderr, "test: SIGKILL at %q\n", name)
					_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
					select {}
				}
			}
		}
		os.Exit(main(context.Background(), append([]string{"tinypayd"}, args...), os.Stdin, os.Stdout, os.Stderr, opts))
	}
	os.Exit(pgtest.Main(m))
}

// raceExitNow spares a child built with -race the race runtime's second of
// sleep at exit (a test starts and stops many).
const raceExitNow = "GORACE=atexit_sleep_ms=0"

// daemonProc is a tinypayd child process.
type daemonProc struct {
	t    *testing.T
	name string
	dir  string
	args []string
	env  []string // extra environment for the next start
	cmd  *exec.Cmd
	log  *bytes.Buffer
	api  apiv1.NodeClient
	conn *grpc.ClientConn
}

// startChild starts this test binary as tinypayd with args (see TestMain),
// extra environment env, and its output to out.
func startChild(t *testing.T, args, env []string, out io.Writer) *exec.Cmd {
	raw, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), "TINYPAYD_CHILD=1", "TINYPAYD_ARGS="+string(raw), raceExitNow), env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// freeAddr is a free loopback address that stays free while the daemon
// given it is down (see nodetest.FreeAddr).
func freeAddr(t *testing.T) string { return nodetest.FreeAddr(t) }

func (p *daemonProc) start() {
	t := p.t
	os.Remove(filepath.Join(p.dir, addrFile))
	p.log = new(bytes.Buffer)
	p.cmd = startChild(t, p.args, p.env, p.log)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, err := os.ReadFile(filepath.Join(p.dir, addrFile)); err == nil && len(b) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start:\n%s", p.name, p.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.dial()
}

func (p *daemonProc) dial() {
	t := p.t
	addr, _ := os.ReadFile(filepath.Join(p.dir, addrFile))
	tok, err := apiutil.LoadToken(filepath.Join(p.dir, tokenFile))
	if err != nil {
		t.Fatal(err)
	}
	pem, _ := os.ReadFile(filepath.Join(p.dir, certFile))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	conn, err := grpc.NewClient(strings.TrimSpace(string(addr)),
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "localhost"})),
		grpc.WithPerRPCCredentials(apiutil.TokenCredentials(tok)))
	if err != nil {
		t.Fatal(err)
	}
	p.conn, p.api = conn, apiv1.NewNodeClient(conn)
}

// kill sends SIGKILL: no shutdown code runs.
func (p *daemonProc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
	p.conn.Close()
}

func (p *daemonProc) stop() {
	if p.cmd == nil || p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
	p.conn.Close()
}

// startDaemons starts a dev chain in this process and two daemons (alice,
// bob) as child processes that reach it over JSON-RPC, each serving
// metrics at a port of its own (see scrape); extra flags of "run" go to
// bob.
func startDaemons(t *testing.T, extra ...string) (alice, bob *daemonProc) {
	procs := startNamedDaemons(t, []string{"alice", "bob"}, extra...)
	return procs[0], procs[1]
}

// startNamedDaemons starts a dev chain in this process and a daemon per
// name (dev accounts 1, 2, ... in order; the dev chain funds 4) as child
// processes that reach it over JSON-RPC; extra flags of "run" go to the
// one named bob.
func startNamedDaemons(t *testing.T, names []string, extra ...string) []*daemonProc {
	return startDaemonsFlags(t, names, map[string][]string{"bob": extra})
}

// startDaemonsFlags is startNamedDaemons with extra flags of "run" for
// each daemon by name.
func startDaemonsFlags(t *testing.T, names []string, flags map[string][]string) []*daemonProc {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	info := filepath.Join(dir, "devchain.json")
	dcfg := devchain.DefaultConfig()
	dcfg.HTTPPort, dcfg.InfoFile, dcfg.BlockPeriod = 0, info, 200*time.Millisecond
	chain, err := devchain.Start(context.Background(), dcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { chain.Close() })
	pass := filepath.Join(dir, "pass")
	if err := os.WriteFile(pass, []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	procs := make([]*daemonProc, len(names))
	for i, name := range names {
		d := filepath.Join(dir, name)
		var out bytes.Buffer
		if code := Main(context.Background(), []string{"tinypayd", "--datadir", d, "--passphrase-file", pass, "init",
			"--devchain", info, "--dev-account", fmt.Sprint(i + 1), "--light-kdf"}, nil, &out, &out); code != 0 {
			t.Fatalf("init %s: %s", name, out.String())
		}
		p := &daemonProc{t: t, name: name, dir: d}
		p.args = []string{"--datadir", d, "--passphrase-file", pass, "--log-level", "debug", "run", "--devchain", info,
			"--confirmations", "0", "--chain-poll", "100ms", "--peer-listen", freeAddr(t), "--api-listen", "127.0.0.1:0", // api.addr says which
			"--challenge-period", "60", "--min-challenge-period", "10", "--metrics-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"}
		p.args = append(p.args, flags[name]...)
		p.start()
		t.Cleanup(p.stop)
		procs[i] = p
	}
	return procs
}

// storedRemoteIDs opens a (stopped) node's store and returns the payer ids
// of the incoming payments in its log.
func storedRemoteIDs(t *testing.T, dir string) map[string]bool {
	t.Helper()
	st, err := store.Open(store.DefaultConfig(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Verify(); err != nil {
		t.Fatalf("store after SIGKILL: %v", err)
	}
	out := map[string]bool{}
	var after uint64
	for {
		page, err := st.Log(after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			return out
		}
		for _, e := range page {
			if p := e.GetPayment(); p != nil && len(p.GetRemoteId()) > 0 {
				out["0x"+hex.EncodeToString(p.GetRemoteId())] = true
			}
			after = e.GetSeq()
		}
	}
}

func peerListen(p *daemonProc) string {
	for i, a := range p.args {
		if a == "--peer-listen" {
			return p.args[i+1]
		}
	}
	return ""
}

// TestKillReceiverMidStream kills the receiving daemon with SIGKILL in the
// middle of a stream of payments, restarts it, and checks that every
// payment the payer saw acknowledged is on the receiver's disk, that the
// stream resumes by itself, and that no payment arrives twice.
func TestKillReceiverMidStream(t *testing.T) {
	alice, bob := startDaemons(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	chID := openUSD(t, ctx, alice, bob, "10000000")

	const total = 3000
	stream, err := alice.api.PayStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		acked  = map[string]bool{} // alice's payment ids reported complete
		failed []string
	)
	recvDone := make(chan error, 1)
	go func() {
		for {
			r, err := stream.Recv()
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				recvDone <- err
				return
			}
			mu.Lock()
			if r.GetError() != "" {
				failed = append(failed, r.GetIdempotencyKey()+": "+r.GetError())
			} else {
				acked[r.GetPayment().GetId()] = true
			}
			mu.Unlock()
		}
	}()
	killed := make(chan struct{})
	go func() {
		for {
			mu.Lock()
			n := len(acked)
			mu.Unlock()
			if n >= total/4 {
				bob.kill()
				close(killed)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	for i := range total {
		if err := stream.Send(&apiv1.PayRequest{ChannelId: chID, Amount: "3", IdempotencyKey: fmt.Sprintf("k%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	<-killed
	mu.Lock()
	ackedAtKill := make(map[string]bool, len(acked))
	for id := range acked {
		ackedAtKill[id] = true
	}
	mu.Unlock()
	t.Logf("killed bob with %d of %d payments acknowledged", len(ackedAtKill), total)
	// Before bob restarts (and before alice can resend anything), his disk
	// already holds every payment alice saw acknowledged.
	onDisk := storedRemoteIDs(t, filepath.Join(bob.dir, dbDir))
	for id := range ackedAtKill {
		if !onDisk[id] {
			t.Fatalf("payment %s was acknowledged but is not on bob's disk after SIGKILL", id)
		}
	}
	bob.start()
	if err := <-recvDone; err != nil {
		t.Fatal(err)
	}
	if len(failed) > 0 {
		t.Fatalf("%d payments failed, e.g. %s", len(failed), failed[0])
	}
	if len(acked) != total {
		t.Fatalf("%d payments acknowledged, want %d", len(acked), total)
	}
	// Every acknowledged payment is in bob's log, exactly once.
	got := map[string]int{}
	var after uint64
	for {
		r, err := bob.api.ListPayments(ctx, &apiv1.ListPaymentsRequest{AfterSeq: after, Limit: 1000, ChannelId: chID})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range r.GetPayments() {
			got[p.GetRemoteId()]++
		}
		if r.GetNextAfterSeq() == 0 {
			break
		}
		after = r.GetNextAfterSeq()
	}
	for id := range acked {
		if got[id] != 1 {
			t.Fatalf("payment %s acknowledged to alice is in bob's log %d times", id, got[id])
		}
	}
	if len(got) != total {
		t.Fatalf("bob holds %d payments, want %d", len(got), total)
	}
	c, err := bob.api.GetChannel(ctx, &apiv1.GetChannelRequest{ChannelId: chID})
	if err != nil {
		t.Fatal(err)
	}
	if c.GetReceived() != fmt.Sprint(3*total) {
		t.Fatalf("bob's channel received %s, want %d", c.GetReceived(), 3*total)
	}
}

// scrape fetches the daemon's metrics (at the address in metrics.addr) and
// parses them with Prometheus' own text parser.
func (p *daemonProc) scrape() (map[string]*dto.MetricFamily, error) {
	addr, err := os.ReadFile(filepath.Join(p.dir, metricsAddrFile))
	if err != nil {
		return nil, err
	}
	resp, err := http.Get("http://" + strings.TrimSpace(string(addr)) + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(resp.Body)
}

// TestBoundRefusalsAreCountedAndLogged: idle connections from one address
// beyond --peer-max-unauthenticated-per-source are closed at once; the
// daemon counts each in tinypay_bound_refusals_total and logs one warning,
// however many there are.
func TestBoundRefusalsAreCountedAndLogged(t *testing.T) {
	_, bob := startDaemons(t, "--peer-max-unauthenticated-per-source", "2")
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 12 {
		c, err := net.Dial("tcp", peerListen(bob))
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	refused := func() float64 {
		mfs, err := bob.scrape()
		if err != nil {
			t.Logf("scrape: %v", err)
			return -1
		}
		for _, m := range mfs["tinypay_bound_refusals_total"].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "bound" && l.GetValue() == "unauthenticated_connections_per_source" {
					return m.GetCounter().GetValue()
				}
			}
		}
		return -1
	}
	deadline := time.Now().Add(10 * time.Second)
	for refused() != 10 {
		if time.Now().After(deadline) {
			bob.stop()
			t.Fatalf("metrics count %v refusals at the bound, want 10\nbob's log:\n%s", refused(), grepLines(bob.log.String(), "bound"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	bob.stop() // its log is complete, and no longer written
	if n := strings.Count(bob.log.String(), "refused a newcomer at a bound"); n != 1 {
		t.Fatalf("bob logged %d warnings for 10 refusals, want 1:\n%s", n, grepLines(bob.log.String(), "bound"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
