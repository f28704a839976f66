package daemon

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/tinypay/tinypay/node/nodetest"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/store/pgtest"
)

// bobProc is one process of bob's hot standby pair: its own data
// directory (a copy of bob's key), its own peer address, the shared
// database.
type bobProc struct {
	t    *testing.T
	name string
	dir  string
	args []string
	cmd  *exec.Cmd
	log  *nodetest.SyncBuffer
	done chan struct{} // closed once the process exited; then exit is its Wait
	exit error
	conn *grpc.ClientConn
	api  apiv1.NodeClient
}

// start starts the process (as a standby: it may wait for the lease).
func (p *bobProc) start() {
	os.Remove(filepath.Join(p.dir, addrFile))
	p.log = &nodetest.SyncBuffer{}
	p.cmd = startChild(p.t, p.args, nil, p.log)
	p.done = make(chan struct{})
	p.conn, p.api = nil, nil
	cmd, done := p.cmd, p.done
	go func() {
		err := cmd.Wait()
		p.exit = err
		close(done)
	}()
}

func (p *bobProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitFor waits up to d for the process's log to say s.
func (p *bobProc) waitLog(s string, d time.Duration) {
	p.t.Helper()
	waitUntil(p.t, p.name+" logs "+s, d, func() bool {
		if p.exited() {
			p.t.Fatalf("%s exited (%v) before it logged %q:\n%s", p.name, p.exit, s, p.log)
		}
		return strings.Contains(p.log.String(), s)
	})
}

// active reports whether the process serves its control API (it took
// the node over and started), dialling it if so.
func (p *bobProc) active() bool {
	if p.api != nil {
		return true
	}
	if b, err := os.ReadFile(filepath.Join(p.dir, addrFile)); err != nil || len(b) == 0 {
		return false
	}
	d := &daemonProc{t: p.t, dir: p.dir}
	d.dial()
	p.conn, p.api = d.conn, d.api
	return true
}

// signal sends sig and, for SIGKILL, waits for the process to end.
func (p *bobProc) signal(sig syscall.Signal) {
	_ = p.cmd.Process.Signal(sig)
	if sig == syscall.SIGKILL {
		<-p.done
	}
	if p.conn != nil && sig != syscall.SIGSTOP && sig != syscall.SIGCONT {
		p.conn.Close()
	}
}

// stop ends the process, if it runs: SIGINT, then SIGKILL.
func (p *bobProc) stop() {
	if p.cmd == nil || p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	if p.conn != nil {
		p.conn.Close()
	}
}

// ack is one payment the payer saw acknowledged.
type ack struct {
	id     string // the payer's payment id
	key    string
	amount int64
	at     time.Time
}

// payer pays through the API of a node (or of whichever of bob's
// processes is active) with workers, each paying one key after another
// and retrying a key that failed with the same key until it is paid.
type payer struct {
	t      *testing.T
	ctx    context.Context
	chID   string
	prefix string
	amount int64
	api    func() apiv1.NodeClient // nil while there is none
	pause  time.Duration           // between payments of a worker

	stopping atomic.Bool
	wg       sync.WaitGroup
	mu       sync.Mutex
	acks     []ack
	retries  int
	lastErr  string
}

func (p *payer) run(workers int) {
	for w := range workers {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for i := 0; !p.stopping.Load(); i++ {
				key := fmt.Sprintf("%s-w%d-%d", p.prefix, w, i)
				for {
					if p.ctx.Err() != nil {
						return
					}
					api := p.api()
					if api != nil {
						cctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
						r, err := api.Pay(cctx, &apiv1.PayRequest{ChannelId: p.chID, Amount: fmt.Sprint(p.amount), IdempotencyKey: key})
						cancel()
						if err == nil {
							p.mu.Lock()
							p.acks = append(p.acks, ack{id: r.GetId(), key: key, amount: p.amount, at: time.Now()})
							p.mu.Unlock()
							break
						}
						p.mu.Lock()
						p.retries++
						p.lastErr = err.Error()
						p.mu.Unlock()
					}
					time.Sleep(50 * time.Millisecond) // and the same key again
				}
				time.Sleep(p.pause)
			}
		}()
	}
}

// stop lets every worker finish the key it pays and waits.
func (p *payer) stop() {
	p.stopping.Store(true)
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		p.mu.Lock()
		defer p.mu.Unlock()
		p.t.Fatalf("%s payments did not finish; last error %s", p.prefix, p.lastErr)
	}
}

func (p *payer) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acks)
}

// firstAfter returns when the first payment acknowledged after t was.
func (p *payer) firstAfter(t time.Time) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range p.acks {
		if a.at.After(t) {
			return a.at, true
		}
	}
	return time.Time{}, false
}

func (p *payer) total() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var s int64
	for _, a := range p.acks {
		s += a.amount
	}
	return s
}

// outgoing lists a node's payments in one direction and channel, in log
// order.
func payments(t *testing.T, ctx context.Context, api apiv1.NodeClient, chID, direction string) []*apiv1.Payment {
	t.Helper()
	var out []*apiv1.Payment
	var after uint64
	for {
		r, err := api.ListPayments(ctx, &apiv1.ListPaymentsRequest{AfterSeq: after, Limit: 1000, ChannelId: chID})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range r.GetPayments() {
			if p.GetDirection() == direction {
				out = append(out, p)
			}
		}
		if r.GetNextAfterSeq() == 0 {
			return out
		}
		after = r.GetNextAfterSeq()
	}
}

// checkProofs checks a payer's outgoing payments: in log order, each one's
// cumulative amount is the one before plus its amount (nothing paid twice
// or skipped), and the proof nonces that cover them never go down: no
// nonce was used for two different proofs.
func checkProofs(t *testing.T, who string, ps []*apiv1.Payment) {
	t.Helper()
	cum, last := new(big.Int), uint64(0)
	byNonce := map[uint64]*big.Int{}
	for _, p := range ps {
		a, _ := new(big.Int).SetString(p.GetAmount(), 10)
		c, _ := new(big.Int).SetString(p.GetCumulative(), 10)
		if a == nil || c == nil || new(big.Int).Add(cum, a).Cmp(c) != 0 {
			t.Fatalf("%s's payment %s (%s) has cumulative %s after %s", who, p.GetIdempotencyKey(), p.GetAmount(), p.GetCumulative(), cum)
		}
		if p.GetNonce() < last {
			t.Fatalf("%s's payment %s has nonce %d after nonce %d", who, p.GetIdempotencyKey(), p.GetNonce(), last)
		}
		if prev, ok := byNonce[p.GetNonce()]; ok && prev.Cmp(c) > 0 {
			t.Fatalf("%s's nonce %d covers cumulative %s and %s", who, p.GetNonce(), prev, c)
		}
		cum, last, byNonce[p.GetNonce()] = c, p.GetNonce(), c
	}
}

// TestHotStandbyFailover runs bob as a hot standby pair (two tinypayd
// processes, one node identity, one PostgreSQL database, --standby) while
// alice pays him and he pays her. The active process is killed with
// SIGKILL during the load, three times (each time the other one takes
// over and the killed one comes back as the standby, refused the lease),
// and once frozen with SIGSTOP past its lease and let go again (it must
// exit with status 1). Afterwards every payment either side saw
// acknowledged is in the other's balance exactly once (nothing
// acknowledged was lost, nothing retried was paid twice), both sides
// agree on the amounts and nonces, and the nonces of each payer's proofs
// never went back. The time from each kill to the first payment
// acknowledged after it is logged.
func TestHotStandbyFailover(t *testing.T) {
	if !pgtest.Available() {
		t.Skip(pgtest.ErrNoServer)
	}
	if testing.Short() {
		t.Skip("starts processes")
	}
	const ttl = 3 * time.Second
	url := pgtest.NewDatabase(t)
	alice := startDaemonsFlags(t, []string{"alice"}, map[string][]string{"alice": {"--redial-max", "2s"}})[0]
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()

	// Bob's node (dev account 2) and a copy of its key for the second
	// process.
	root := t.TempDir()
	info, pass := devchainFile(alice), flagValue(alice, "--passphrase-file")
	dirA, dirB := filepath.Join(root, "bob-a"), filepath.Join(root, "bob-b")
	var out strings.Builder
	if code := Main(context.Background(), []string{"tinypayd", "--datadir", dirA, "--passphrase-file", pass, "init",
		"--devchain", info, "--dev-account", "2", "--light-kdf"}, nil, &out, &out); code != 0 {
		t.Fatalf("init bob: %s", out.String())
	}
	key, err := os.ReadFile(filepath.Join(dirA, keyFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dirB, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dirB, keyFile), key, 0o600); err != nil {
		t.Fatal(err)
	}
	addrA, addrB := freeAddr(t), freeAddr(t)
	bobArgs := func(dir, listen string) []string {
		return []string{"--datadir", dir, "--passphrase-file", pass, "--log-level", "debug", "run", "--devchain", info,
			"--confirmations", "0", "--chain-poll", "100ms", "--peer-listen", listen, "--api-listen", "127.0.0.1:0",
			"--challenge-period", "60", "--min-challenge-period", "10", "--metrics-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
			"--store", url, "--standby", "--lease-ttl", ttl.String(), "--peer-advertise", addrA + "," + addrB}
	}
	procs := []*bobProc{
		{t: t, name: "bob-a", dir: dirA, args: bobArgs(dirA, addrA)},
		{t: t, name: "bob-b", dir: dirB, args: bobArgs(dirB, addrB)},
	}
	t.Cleanup(func() {
		for _, p := range procs {
			p.stop()
		}
	})
	active, standby := procs[0], procs[1]
	active.start()
	waitUntil(t, "bob-a takes the node", time.Minute, active.active)
	standby.start()
	standby.waitLog("another process holds the node's lease; waiting to take it over", time.Minute)
	if standby.active() {
		t.Fatal("the standby serves its API while the other holds the lease")
	}

	// Bob advertises both addresses; alice is given both, and remembers
	// them.
	bi, err := active.api.GetInfo(ctx, &apiv1.GetInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(bi.GetPeerListenAddrs(), []string{addrA, addrB}) {
		t.Fatalf("bob advertises %q, want %q", bi.GetPeerListenAddrs(), []string{addrA, addrB})
	}
	if _, err := alice.api.ConnectPeer(ctx, &apiv1.ConnectPeerRequest{HostPort: addrB, MoreHostPorts: []string{addrA}, Address: bi.GetAddress()}); err != nil {
		t.Fatal(err)
	}
	ch, err := alice.api.OpenChannel(ctx, &apiv1.OpenChannelRequest{Peer: bi.GetAddress(), Asset: "USD", Deposit: "100000000"})
	if err != nil {
		t.Fatal(err)
	}
	chID := ch.GetId()
	waitUntil(t, "bob sees the channel open", time.Minute, func() bool {
		c, err := active.api.GetChannel(ctx, &apiv1.GetChannelRequest{ChannelId: chID})
		return err == nil && c.GetPhase() == "open"
	})
	peers, err := alice.api.ListPeers(ctx, &apiv1.ListPeersRequest{})
	if err != nil || len(peers.GetPeers()) != 1 || !slices.Equal(peers.GetPeers()[0].GetDialAddrs(), []string{addrA, addrB}) {
		t.Fatalf("alice's peers: %v, %v; want bob dialled at %s then %s", peers, err, addrA, addrB)
	}

	var mu sync.Mutex
	current := active // the process that serves bob's API
	bobAPI := func() apiv1.NodeClient {
		mu.Lock()
		defer mu.Unlock()
		if current == nil {
			return nil
		}
		return current.api
	}
	toBob := &payer{t: t, ctx: ctx, chID: chID, prefix: "a2b", amount: 1000, api: func() apiv1.NodeClient { return alice.api }, pause: 5 * time.Millisecond}
	toAlice := &payer{t: t, ctx: ctx, chID: chID, prefix: "b2a", amount: 7, api: bobAPI, pause: 10 * time.Millisecond}
	toBob.run(4)
	waitUntil(t, "bob has funds to pay alice with", time.Minute, func() bool { return toBob.count() >= 20 })
	toAlice.run(2) // often one in flight at a kill: retried with its key on the new process

	// failover takes the node from the active process (killed with
	// SIGKILL, or frozen with SIGSTOP and let go once the standby took
	// over) and returns how long payments to bob stopped.
	var resumes []time.Duration
	failover := func(round int, freeze bool) {
		t.Helper()
		n0, m0 := toBob.count(), toAlice.count()
		waitUntil(t, "payments flow both ways", time.Minute, func() bool { return toBob.count() >= n0+50 && toAlice.count() >= m0+2 })
		mu.Lock()
		current = nil
		mu.Unlock()
		at := time.Now()
		if freeze {
			active.signal(syscall.SIGSTOP)
		} else {
			active.signal(syscall.SIGKILL)
		}
		waitUntil(t, standby.name+" takes the node over", time.Minute, func() bool {
			if standby.exited() {
				t.Fatalf("%s exited: %v\n%s", standby.name, standby.exit, standby.log)
			}
			return standby.active()
		})
		tookOver := time.Since(at)
		if freeze {
			// Let the frozen process go: its lease ended on its own clock
			// while it was stopped, so it acknowledges nothing more and
			// exits with status 1.
			cont := time.Now()
			active.signal(syscall.SIGCONT)
			select {
			case <-active.done:
				t.Logf("%s, let go, exited %s later", active.name, time.Since(cont).Round(10*time.Millisecond))
			case <-time.After(30 * time.Second):
				t.Fatalf("%s, frozen past its lease and let go, still runs:\n%s", active.name, active.log)
			}
			var exit *exec.ExitError
			if !errors.As(active.exit, &exit) || exit.ExitCode() != exitError || !strings.Contains(active.log.String(), "this process's lease on the node expired") {
				t.Fatalf("%s after SIGCONT: %v, want exit status %d about its lease:\n%s", active.name, active.exit, exitError, active.log)
			}
			if active.conn != nil {
				active.conn.Close()
			}
		}
		mu.Lock()
		current = standby
		mu.Unlock()
		// A threshold past any acknowledgement already in flight at the
		// kill: nothing but the new process can acknowledge after it.
		var resumed time.Time
		waitUntil(t, "payments to bob resume", time.Minute, func() bool {
			var ok bool
			resumed, ok = toBob.firstAfter(at.Add(time.Second))
			return ok
		})
		how := "SIGKILL"
		if freeze {
			how = "SIGSTOP"
		}
		t.Logf("round %d (%s of %s): %s took over after %s, payments to bob resumed after %s",
			round, how, active.name, standby.name, tookOver.Round(10*time.Millisecond), resumed.Sub(at).Round(10*time.Millisecond))
		if !freeze {
			resumes = append(resumes, resumed.Sub(at))
		}
		// The old process comes back, as the standby: the lease is not
		// its, it waits.
		active.start()
		active.waitLog("another process holds the node's lease; waiting to take it over", time.Minute)
		active, standby = standby, active
	}
	for round := 1; round <= 3; round++ {
		failover(round, false)
	}
	failover(4, true)

	// The load ends; every key either side started is paid.
	toBob.stop()
	toAlice.stop()
	bob := active.api
	if standby.active() {
		t.Fatalf("%s, the standby, serves its API", standby.name)
	}
	var sent, recv *apiv1.Channel
	waitUntil(t, "both sides agree", time.Minute, func() bool {
		var err1, err2 error
		sent, err1 = alice.api.GetChannel(ctx, &apiv1.GetChannelRequest{ChannelId: chID})
		recv, err2 = bob.GetChannel(ctx, &apiv1.GetChannelRequest{ChannelId: chID})
		return err1 == nil && err2 == nil && sent.GetSent() == recv.GetReceived() && sent.GetReceived() == recv.GetSent() &&
			sent.GetSentNonce() == recv.GetReceivedNonce() && sent.GetReceivedNonce() == recv.GetSentNonce()
	})
	if got, want := recv.GetReceived(), fmt.Sprint(toBob.total()); got != want {
		t.Fatalf("bob received %s, alice saw %s acknowledged", got, want)
	}
	if got, want := sent.GetReceived(), fmt.Sprint(toAlice.total()); got != want {
		t.Fatalf("alice received %s, bob saw %s acknowledged", got, want)
	}
	// Every payment alice saw acknowledged is in bob's log, once.
	inBob := map[string]int{}
	for _, p := range payments(t, ctx, bob, chID, "incoming") {
		inBob[p.GetRemoteId()]++
	}
	for _, a := range toBob.acks {
		if inBob[a.id] != 1 {
			t.Fatalf("payment %s (%s), acknowledged to alice, is in bob's log %d times", a.id, a.key, inBob[a.id])
		}
	}
	checkProofs(t, "alice", payments(t, ctx, alice.api, chID, "outgoing"))
	bobOut := payments(t, ctx, bob, chID, "outgoing")
	checkProofs(t, "bob", bobOut)
	if len(bobOut) != len(toAlice.acks) {
		t.Fatalf("bob's log has %d payments to alice, %d were acknowledged (a retried key paid twice?)", len(bobOut), len(toAlice.acks))
	}

	sort.Slice(resumes, func(i, j int) bool { return resumes[i] < resumes[j] })
	t.Logf("%d payments to bob and %d to alice acknowledged (%d and %d retries); lease %s; from SIGKILL to the first payment acknowledged after it: min %s, median %s, max %s",
		len(toBob.acks), len(toAlice.acks), toBob.retries, toAlice.retries, ttl,
		resumes[0].Round(10*time.Millisecond), resumes[len(resumes)/2].Round(10*time.Millisecond), resumes[len(resumes)-1].Round(10*time.Millisecond))
}
