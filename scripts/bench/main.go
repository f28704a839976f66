// Command bench measures tinypay with real processes: a dev chain and two
// nodes on loopback, driven over the control API. It reports payments per
// second and latency percentiles for sequential payments, many concurrent
// payments on one channel, and 100 channels at once, with each node's CPU
// and memory.
//
//	go run ./scripts/bench            # full run (a minute or two)
//	go run ./scripts/bench --quick    # smaller counts
//
// The scale scenarios run instead when asked for:
//
//	go run ./scripts/bench --channels 10000   # open N channels, pay across all, restart the receiver
//	go run ./scripts/bench --streams 1000     # S streams of a tick a second, each on its own channel
//	go run ./scripts/bench --soak 10m         # 1,000 channels with streams and payments; memory over time
//
// --store postgres runs both nodes on a PostgreSQL server the bench starts
// (Debian's postgresql package; fsync on), instead of badger.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/apiutil"
	"github.com/tinypay/tinypay/store/pgtest"
)

type result struct {
	Scenario  string     `json:"scenario"`
	Payments  int        `json:"payments"`
	Seconds   float64    `json:"seconds"`
	PerSecond float64    `json:"payments_per_second"`
	P50us     float64    `json:"latency_p50_us"`
	P99us     float64    `json:"latency_p99_us"`
	Proofs    uint64     `json:"proofs"`
	CPU       [2]float64 `json:"cpu_cores"` // alice, bob: CPU seconds per wall second
	// DBCPU: with --store postgres, the PostgreSQL server's CPU seconds
	// per wall second (every process of it: both nodes' databases).
	DBCPU float64    `json:"db_cpu_cores,omitempty"`
	RSSMB [2]float64 `json:"rss_mb"` // alice, bob: peak resident memory
	// --channels: from bob's start to every channel ready to pay again.
	RestartSeconds float64 `json:"restart_seconds,omitempty"`
	// --channels: from the SIGTERM to bob's exit, before that restart.
	StopSeconds float64 `json:"stop_seconds,omitempty"`
	// --channels: how long both nodes took, after the channels opened,
	// to go idle (badger compacting what the opening wrote) before the
	// payments were measured.
	SettleSeconds float64 `json:"settle_seconds,omitempty"`
	// --streams: ticks received in the window as a share of those due,
	// streams stalled at its end, and each node's CPU per tick.
	OnTimePercent float64    `json:"on_time_percent,omitempty"`
	Stalled       int        `json:"stalled,omitempty"`
	CPUPerTickUs  [2]float64 `json:"cpu_per_tick_us,omitempty"`
	// The dev chain's and the bench's own CPU (it drives the payments and
	// shares the machine), like CPU.
	OtherCPU [2]float64 `json:"cpu_cores_chain_bench"`
	// The whole machine's busy cores (every process and the kernel's own
	// work, such as writing files back), from /proc/stat.
	MachineCPU float64 `json:"cpu_cores_machine"`
	// Each node's group commits while it ran: how many, their mean time
	// (write and fsync) and the batches each made durable on average.
	Commits [2]commits `json:"commits"`
}

type commits struct {
	Count   float64 `json:"count"`
	MeanMs  float64 `json:"mean_ms"`
	Batches float64 `json:"batches_per_commit"`
}

var traceFlag = flag.Bool("trace", false, "with --pprof and --channels: also save execution traces of both nodes for the restart's first 8 s (go tool trace)")

var pprofFlag = flag.Bool("pprof", false, "serve the nodes' and the dev chain's Go profiles (addresses printed); with --channels, save CPU profiles of the payments, of bob's start and of the restart in the work directory (see --keep)")

func main() {
	quick := flag.Bool("quick", false, "smaller counts")
	asJSON := flag.Bool("json", false, "print results as JSON")
	flag.String("only", "", "run one scenario: sequential, concurrent or channels")
	keep := flag.Bool("keep", false, "keep the work directory")
	scaleChannels := flag.Int("channels", 0, "scale scenario: open N channels between the nodes, pay across all of them, then restart the receiver and time it until every channel is ready to pay again")
	scalePayments := flag.Int("payments", 50_000, "with --channels: how many payments to spread over the channels")
	scaleStreams := flag.Int("streams", 0, "scale scenario: S concurrent streams of one tick a second, each on its own channel; reports the ticks received on time in the window")
	warm := flag.Duration("warm", 15*time.Second, "with --streams: warm-up before the window")
	window := flag.Duration("window", time.Minute, "with --streams: the measured window")
	storeKind := flag.String("store", "badger", "the nodes' store: badger, or postgres (a temporary PostgreSQL server the bench starts, fsync on; needs Debian's postgresql package)")
	soak := flag.Duration("soak", 0, "soak: 1,000 channels (or --channels) with a stream on each and payments across all for this long; samples memory, counts errors")
	flag.Parse()
	scale := *scaleChannels > 0 || *scaleStreams > 0 || *soak > 0
	if *storeKind != "badger" && *storeKind != "postgres" {
		fmt.Fprintf(os.Stderr, "bench: --store %q: want badger or postgres\n", *storeKind)
		os.Exit(2)
	}
	b, err := setup(*keep, scale, *storeKind)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		if b != nil {
			b.close()
		}
		os.Exit(1)
	}
	defer b.close()
	only := flag.Lookup("only").Value.String()
	seq, conc, many, total := 2000, 200_000, 100, 100_000
	if *quick {
		seq, conc, total = 500, 40_000, 20_000
	}
	var results []result
	if scale {
		fail := func(err error) {
			fmt.Fprintln(os.Stderr, "bench:", err)
			b.close()
			os.Exit(1)
		}
		if *soak > 0 {
			n := *scaleChannels
			if n == 0 {
				n = 1000
			}
			r, err := b.soak(n, *soak, min(2*time.Minute, *soak/5), max(10*time.Second, *soak/40))
			if err != nil {
				fail(err)
			}
			if *asJSON {
				json.NewEncoder(os.Stdout).Encode(r)
				return
			}
			fmt.Printf("soak: %d channels with a stream each, payments across all, %s: %d payments, %d ticks received\n", r.Channels, *soak, r.Payments, r.Ticks)
			fmt.Printf("resident memory growth after warm-up: alice %+.1f%%, bob %+.1f%%; anonymous memory (heap and stacks): alice %+.1f%%, bob %+.1f%%\n",
				r.GrowthPercent[0], r.GrowthPercent[1], r.AnonGrowthPercent[0], r.AnonGrowthPercent[1])
			fmt.Printf("errors: %d\n", len(r.Errors))
			for _, e := range r.Errors[:min(len(r.Errors), 10)] {
				fmt.Println("  ", e)
			}
			if len(r.Errors) > 0 {
				os.Exit(1)
			}
			return
		}
		if *scaleChannels > 0 {
			rs, err := b.scaleChannels(*scaleChannels, *scalePayments)
			if err != nil {
				fail(err)
			}
			results = append(results, rs...)
		}
		if *scaleStreams > 0 {
			r, err := b.scaleStreams(*scaleStreams, *warm, *window)
			if err != nil {
				fail(err)
			}
			results = append(results, r)
		}
		if *asJSON {
			json.NewEncoder(os.Stdout).Encode(results)
			return
		}
		fmt.Printf("machine: %d CPUs, %s/%s; alice pays, bob receives; separate tinypayd processes and a dev chain on loopback (fsync on)\n\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
		for _, r := range results {
			fmt.Printf("%-40s %9.0f payments/s  p50 %7.0fµs  p99 %8.0fµs  proofs %7d  cpu %.2f/%.2f cores  rss %.0f/%.0f MB\n",
				r.Scenario, r.PerSecond, r.P50us, r.P99us, r.Proofs, r.CPU[0], r.CPU[1], r.RSSMB[0], r.RSSMB[1])
			fmt.Printf("%-40s %.2f/%.2f cores; the machine was busy %.2f of %d cores\n", "  cpu of the dev chain/the bench", r.OtherCPU[0], r.OtherCPU[1], r.MachineCPU, runtime.NumCPU())
			if c := r.Commits; c[0].Count > 0 {
				fmt.Printf("%-40s %.0f/%.0f, mean %.2f/%.2f ms, %.1f/%.1f batches each\n", "  group commits alice/bob",
					c[0].Count, c[1].Count, c[0].MeanMs, c[1].MeanMs, c[0].Batches, c[1].Batches)
			}
			if r.SettleSeconds > 0 {
				fmt.Printf("%-40s %9.1f s after the channels opened, before the payments\n", "  both nodes idle", r.SettleSeconds)
			}
			if r.RestartSeconds > 0 {
				fmt.Printf("%-40s %9.1f s from bob's start to every channel ready to pay (its stop before: %.1f s)\n", "  restart of the receiver", r.RestartSeconds, r.StopSeconds)
			}
			if r.OnTimePercent > 0 || strings.Contains(r.Scenario, "streams") {
				fmt.Printf("%-40s %8.1f%% of the ticks due received, %d streams stalled at the end, cpu per tick %.0f/%.0f µs\n", "  on time", r.OnTimePercent, r.Stalled, r.CPUPerTickUs[0], r.CPUPerTickUs[1])
			}
		}
		return
	}
	run := func(r result, err error) {
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			b.close()
			os.Exit(1)
		}
		results = append(results, r)
		if !*asJSON {
			db := ""
			if b.pg != nil {
				db = fmt.Sprintf("  db cpu %.2f cores", r.DBCPU)
			}
			fmt.Printf("%-34s %8d payments %7.2fs %9.0f/s  p50 %7.0fµs  p99 %8.0fµs  proofs %7d  cpu %.2f/%.2f cores  rss %.0f/%.0f MB%s\n",
				r.Scenario, r.Payments, r.Seconds, r.PerSecond, r.P50us, r.P99us, r.Proofs, r.CPU[0], r.CPU[1], r.RSSMB[0], r.RSSMB[1], db)
		}
	}
	if !*asJSON {
		fmt.Printf("\nmachine: %d CPUs, %s/%s; alice and bob are separate tinypayd processes on loopback, store %s (fsync on)\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, *storeKind)
	}
	if only == "" || only == "sequential" {
		run(b.sequential(seq))
	}
	if only == "" || only == "concurrent" {
		run(b.concurrent(conc, 4096))
	}
	if only == "" || only == "channels" {
		run(b.manyChannels(many, total))
	}
	if *asJSON {
		json.NewEncoder(os.Stdout).Encode(results)
	}
}

type bench struct {
	paid     atomic.Int64 // payments answered by payList, for progress lines
	dir, bin string
	keep     bool
	procs    []*exec.Cmd
	pids     [2]int
	chainPid int
	// With --pprof, where the dev chain serves its Go profiles.
	chainProfiles string
	alice, bob    apiv1.NodeClient
	bobAddr       string
	bobArgs       []string // to restart it
	bobProc       int      // its index in procs
	bobAPIAddr    string   // the file it writes its API address to
	channel       string
	channels      []string
	metrics       [2]string      // each node's metrics (and with --pprof, profiles) address
	pg            *pgtest.Server // with --store postgres
}

func (b *bench) close() {
	for _, p := range b.procs {
		p.Process.Signal(os.Interrupt)
	}
	for _, p := range b.procs {
		done := make(chan struct{})
		go func() { p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			p.Process.Kill()
		}
	}
	b.procs = nil
	if b.pg != nil {
		if err := b.pg.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "bench: stop PostgreSQL:", err)
		}
		b.pg = nil
	}
	if !b.keep {
		os.RemoveAll(b.dir)
	}
}

func free() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (b *bench) start(name string, args ...string) (*exec.Cmd, error) {
	log, err := os.Create(filepath.Join(b.dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(b.bin, args[0]), args[1:]...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = b.dir, log, log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	b.procs = append(b.procs, cmd)
	return cmd, nil
}

func wait(path string) error {
	for range 600 {
		if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("timed out waiting for %s", path)
}

func client(dir string) (apiv1.NodeClient, error) {
	addr, err := os.ReadFile(filepath.Join(dir, "api.addr"))
	if err != nil {
		return nil, err
	}
	tok, err := apiutil.LoadToken(filepath.Join(dir, "api.token"))
	if err != nil {
		return nil, err
	}
	pem, err := os.ReadFile(filepath.Join(dir, "tls.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	conn, err := grpc.NewClient(strings.TrimSpace(string(addr)),
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "localhost"})),
		grpc.WithPerRPCCredentials(apiutil.TokenCredentials(tok)))
	if err != nil {
		return nil, err
	}
	return apiv1.NewNodeClient(conn), nil
}

func setup(keep, scale bool, storeKind string) (*bench, error) {
	dir, err := os.MkdirTemp("", "tinypay-bench-")
	if err != nil {
		return nil, err
	}
	b := &bench{dir: dir, bin: filepath.Join(dir, "bin"), keep: keep}
	fmt.Fprintln(os.Stderr, "building binaries, starting a dev chain and two nodes ...")
	build := exec.Command("go", "build", "-o", b.bin+string(filepath.Separator), "./cmd/tinypayd", "./cmd/tinypay-devchain")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return b, fmt.Errorf("go build (run from the repository root): %w", err)
	}
	// The chain on disk, as a real chain node keeps it: in memory, its
	// database (a map) is scanned whole for every block it freezes, which
	// after 100,000 channel opens took half a core from the nodes.
	chainArgs := []string{"tinypay-devchain", "--http-port", "0", "--out", "devchain.json", "--block-period", "1s", "--datadir", "chain"}
	if *pprofFlag {
		b.chainProfiles = free()
		chainArgs = append(chainArgs, "--pprof", b.chainProfiles)
		fmt.Fprintf(os.Stderr, "dev chain: profiles at http://%s/debug/pprof/\n", b.chainProfiles)
	}
	chain, err := b.start("devchain", chainArgs...)
	if err != nil {
		return b, err
	}
	b.chainPid = chain.Process.Pid
	if err := wait(filepath.Join(dir, "devchain.json")); err != nil {
		return b, err
	}
	if err := os.WriteFile(filepath.Join(dir, "pass"), []byte("pw\n"), 0o600); err != nil {
		return b, err
	}
	var stores [2]string // --store of each node ("" for badger)
	if storeKind == "postgres" {
		if b.pg, err = pgtest.StartServer(); err != nil {
			return b, fmt.Errorf("start PostgreSQL: %w", err)
		}
		for i, who := range []string{"alice", "bob"} {
			if stores[i], err = b.pg.Database(who); err != nil {
				return b, err
			}
		}
	}
	peers := map[string]string{}
	for i, who := range []string{"alice", "bob"} {
		init := exec.Command(filepath.Join(b.bin, "tinypayd"), "--datadir", who, "--passphrase-file", "pass", "init", "--devchain", "devchain.json", "--dev-account", fmt.Sprint(i+1), "--light-kdf")
		init.Dir = dir
		if out, err := init.CombinedOutput(); err != nil {
			return b, fmt.Errorf("init %s: %v: %s", who, err, out)
		}
		peers[who] = free()
		args := []string{"--datadir", who, "--passphrase-file", "pass", "--log-level", "warn", "run",
			"--devchain", "devchain.json", "--confirmations", "0", "--peer-listen", peers[who], "--api-listen", free(), "--chain-poll", "500ms"}
		// Metrics on, as tinypayd runs by default, each node on a port of
		// its own.
		addr := free()
		b.metrics[i] = addr
		args = append(args, "--metrics-listen", addr, "--http-listen", "off")
		if stores[i] != "" {
			args = append(args, "--store", stores[i])
		}
		if *pprofFlag {
			args = append(args, "--pprof")
			fmt.Fprintf(os.Stderr, "%s: profiles at http://%s/debug/pprof/\n", who, addr)
		}
		if scale && who == "bob" {
			// Many opens in flight from alice (see openInFlight), which bob
			// sees open only once its watcher reads them from the chain.
			args = append(args, "--max-proposals-per-peer", "1000000", "--max-proposals", "1000000")
		}
		cmd, err := b.start(who, append([]string{"tinypayd"}, args...)...)
		if err != nil {
			return b, err
		}
		b.pids[i] = cmd.Process.Pid
		if who == "bob" {
			b.bobArgs, b.bobProc = append([]string{"tinypayd"}, args...), len(b.procs)-1
			b.bobAPIAddr = filepath.Join(dir, who, "api.addr")
		}
	}
	for _, who := range []string{"alice", "bob"} {
		if err := wait(filepath.Join(dir, who, "api.addr")); err != nil {
			return b, err
		}
	}
	if b.alice, err = client(filepath.Join(dir, "alice")); err != nil {
		return b, err
	}
	if b.bob, err = client(filepath.Join(dir, "bob")); err != nil {
		return b, err
	}
	ctx := context.Background()
	info, err := b.bob.GetInfo(ctx, &apiv1.GetInfoRequest{})
	if err != nil {
		return b, err
	}
	b.bobAddr = info.GetAddress()
	if _, err := b.alice.ConnectPeer(ctx, &apiv1.ConnectPeerRequest{HostPort: peers["bob"], Address: b.bobAddr}); err != nil {
		return b, err
	}
	ch, err := b.open(ctx, "100000000000")
	if err != nil {
		return b, err
	}
	b.channel = ch
	return b, nil
}

func (b *bench) open(ctx context.Context, deposit string) (string, error) {
	ch, err := b.alice.OpenChannel(ctx, &apiv1.OpenChannelRequest{Peer: b.bobAddr, Asset: "USD", Deposit: deposit})
	if err != nil {
		return "", err
	}
	for range 400 {
		c, err := b.bob.GetChannel(ctx, &apiv1.GetChannelRequest{ChannelId: ch.GetId()})
		if err == nil && c.GetPhase() == "open" {
			return ch.GetId(), nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	return "", errors.New("bob never saw the channel open")
}

// usage is a process's CPU time (seconds) and peak RSS (MB) from /proc.
func usage(pid int) (cpu, rssMB float64) {
	if raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		cpu = (ut + st) / 100 // USER_HZ
	}
	if raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if strings.HasPrefix(line, "VmHWM:") {
				kb, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
				rssMB = kb / 1024
			}
		}
	}
	return cpu, rssMB
}

// settle waits until alice and bob are both idle (under a tenth of a core
// over a second), at most max, and returns how long that took: what a
// scenario wrote before (opening many channels) leaves the store
// compacting for seconds, which is not the cost of what is measured next.
func (b *bench) settle(max time.Duration) time.Duration {
	began := time.Now()
	var last [2]float64
	for i, pid := range b.pids {
		last[i], _ = usage(pid)
	}
	for time.Since(began) < max {
		time.Sleep(time.Second)
		idle := true
		for i, pid := range b.pids {
			c, _ := usage(pid)
			idle = idle && c-last[i] < 0.1
			last[i] = c
		}
		if idle {
			break
		}
	}
	return time.Since(began)
}

// machineCPU returns the seconds the machine's CPUs have been busy
// (neither idle, waiting for I/O nor taken by the hypervisor) since boot.
func machineCPU() (float64, bool) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, false
	}
	var busy float64
	for _, i := range []int{1, 2, 3, 6, 7} { // user nice system (idle iowait) irq softirq; not steal or guest
		x, _ := strconv.ParseFloat(f[i], 64)
		busy += x
	}
	return busy / 100, true // USER_HZ
}

// measure runs f and fills in time, rate, latency, CPU and memory.
func (b *bench) measure(name string, n int, f func() ([]time.Duration, error)) (result, error) {
	proofs0 := b.proofs()
	var hist0 [2]map[string]float64
	for i, addr := range b.metrics {
		hist0[i] = scrape(addr)
	}
	var cpu0 [2]float64
	for i, pid := range b.pids {
		cpu0[i], _ = usage(pid)
	}
	db0 := b.dbCPU()
	others := [2]int{b.chainPid, os.Getpid()}
	var other0 [2]float64
	for i, pid := range others {
		other0[i], _ = usage(pid)
	}
	busy0, _ := machineCPU()
	start := time.Now()
	lat, err := f()
	elapsed := time.Since(start)
	if err != nil {
		return result{}, fmt.Errorf("%s: %w", name, err)
	}
	r := result{Scenario: name, Payments: n, Seconds: elapsed.Seconds(), PerSecond: float64(n) / elapsed.Seconds(), Proofs: b.proofs() - proofs0}
	for i, pid := range b.pids {
		c, rss := usage(pid)
		r.CPU[i], r.RSSMB[i] = (c-cpu0[i])/elapsed.Seconds(), rss
	}
	for i, pid := range others {
		c, _ := usage(pid)
		r.OtherCPU[i] = (c - other0[i]) / elapsed.Seconds()
	}
	if busy, ok := machineCPU(); ok {
		r.MachineCPU = (busy - busy0) / elapsed.Seconds()
	}
	if b.pg != nil {
		r.DBCPU = (b.dbCPU() - db0) / elapsed.Seconds()
	}
	for i, addr := range b.metrics {
		h := scrape(addr)
		d := func(k string) float64 { return h[k] - hist0[i][k] }
		if c := d("tinypay_store_commit_duration_seconds_count"); c > 0 {
			r.Commits[i] = commits{Count: c, MeanMs: 1000 * d("tinypay_store_commit_duration_seconds_sum") / c,
				Batches: d("tinypay_store_commit_batches_sum") / max(1, d("tinypay_store_commit_batches_count"))}
		}
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		r.P50us = float64(lat[len(lat)/2].Microseconds())
		r.P99us = float64(lat[len(lat)*99/100].Microseconds())
	}
	return r, nil
}

// dbCPU is the CPU time (seconds) of the PostgreSQL server so far, 0
// without one.
func (b *bench) dbCPU() float64 {
	if b.pg == nil {
		return 0
	}
	return b.pg.CPU().Seconds()
}

// proofs is how many balance proofs alice has signed so far, from her
// metrics (one read whatever the number of channels).
func (b *bench) proofs() uint64 {
	return uint64(scrape(b.metrics[0])["tinypay_proofs_signed_total"])
}

// scrape reads the metrics served at addr, each series summed over its
// labels (nil if the node does not answer).
func scrape(addr string) map[string]float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		sp := strings.LastIndexByte(line, ' ')
		if line == "" || line[0] == '#' || sp < 0 {
			continue
		}
		name := line[:sp]
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = name[:i]
		}
		var f float64
		if _, err := fmt.Sscan(line[sp+1:], &f); err == nil {
			out[name] += f
		}
	}
	return out
}

var keySeq atomic.Int64

func nextKey() string {
	return fmt.Sprintf("bench-%d-%d", os.Getpid(), keySeq.Add(1))
}

// sequential: one payment at a time, each waiting for its acknowledgement.
func (b *bench) sequential(n int) (result, error) {
	return b.measure("sequential, one channel", n, func() ([]time.Duration, error) {
		lat := make([]time.Duration, 0, n)
		for range n {
			t := time.Now()
			if _, err := b.alice.Pay(context.Background(), &apiv1.PayRequest{ChannelId: b.channel, Amount: "1", IdempotencyKey: nextKey()}); err != nil {
				return nil, err
			}
			lat = append(lat, time.Since(t))
		}
		return lat, nil
	})
}

// stream pays n payments on channel over one PayStream with window in
// flight, under keys, and returns each payment's latency.
func (b *bench) stream(channel string, n, window int, keys []string) ([]time.Duration, error) {
	return b.payList(slices.Repeat([]string{channel}, n), window, keys)
}

func keys(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = nextKey()
	}
	return out
}

// concurrent: many payments in flight at once on one channel.
func (b *bench) concurrent(n, window int) (result, error) {
	ks := keys(n)
	return b.measure(fmt.Sprintf("concurrent (%d in flight), one channel", window), n, func() ([]time.Duration, error) {
		return b.stream(b.channel, n, window, ks)
	})
}

// manyChannels: payments spread over many channels at once.
func (b *bench) manyChannels(channels, n int) (result, error) {
	for len(b.channels) < channels {
		id, err := b.open(context.Background(), "1000000000")
		if err != nil {
			return result{}, err
		}
		b.channels = append(b.channels, id)
	}
	per := n / channels
	ks := make([][]string, channels)
	for i := range ks {
		ks[i] = keys(per)
	}
	lists := make([][]string, len(b.channels))
	for i, id := range b.channels {
		lists[i] = slices.Repeat([]string{id}, per)
	}
	return b.measure(fmt.Sprintf("%d channels at once", channels), per*channels, func() ([]time.Duration, error) {
		return b.payLists(lists, ks, 64)
	})
}
