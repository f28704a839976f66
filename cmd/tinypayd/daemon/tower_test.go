package daemon

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node/nodetest"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/settlement"
	"github.com/tinypay/tinypay/settlement/devchain"
	"github.com/tinypay/tinypay/settlement/devchain/devinfo"
	"github.com/tinypay/tinypay/settlement/evm"
)

// towerProc is a "tinypayd tower" child process.
type towerProc struct {
	t    *testing.T
	dir  string
	args []string
	cmd  *exec.Cmd
	log  *nodetest.SyncBuffer
}

func (p *towerProc) start() {
	t := p.t
	os.Remove(filepath.Join(p.dir, towerAddrFile))
	p.log = new(nodetest.SyncBuffer)
	p.cmd = startChild(t, p.args, nil, p.log)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, err := os.ReadFile(filepath.Join(p.dir, towerAddrFile)); err == nil && len(b) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tower did not start:\n%s", p.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *towerProc) stop() {
	if p.cmd == nil || p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

// metric returns the Prometheus text at http://addr/metrics ("" if it
// cannot be read).
func metric(addr string) string {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestTowerWinsWhileCreatorIsDown is the watchtower story with real
// processes on the dev chain: Alice pays Bob several times, and Bob's node
// hands each newest proof to a tower; Bob is killed; Alice force-closes
// with a stale proof of her payments; the tower (its own key, paying its
// own gas) presents the newest; the challenge period passes; Bob,
// restarted, settles and is paid the newest amount on chain.
func TestTowerWinsWhileCreatorIsDown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	infoFile := filepath.Join(dir, "devchain.json")
	dcfg := devchain.DefaultConfig()
	dcfg.HTTPPort, dcfg.InfoFile, dcfg.BlockPeriod = 0, infoFile, 200*time.Millisecond
	chain, err := devchain.Start(ctx, dcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { chain.Close() })
	info, err := devinfo.Read(infoFile)
	if err != nil {
		t.Fatal(err)
	}
	pass := filepath.Join(dir, "pass")
	if err := os.WriteFile(pass, []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys := map[string]*crypto.PrivateKey{}
	for i, name := range []string{"alice", "bob", "tower"} {
		var out strings.Builder
		if code := Main(ctx, []string{"tinypayd", "--datadir", filepath.Join(dir, name), "--passphrase-file", pass, "init",
			"--devchain", infoFile, "--dev-account", fmt.Sprint(i + 1), "--light-kdf"}, nil, &out, &out); code != 0 {
			t.Fatalf("init %s: %s", name, out.String())
		}
		if keys[name], err = info.Key(i + 1); err != nil {
			t.Fatal(err)
		}
	}
	aliceAddr, bobAddr, towerAddr := keys["alice"].Address(), keys["bob"].Address(), keys["tower"].Address()

	towerListen := freeAddr(t)
	tw := &towerProc{t: t, dir: filepath.Join(dir, "tower"), args: []string{"--datadir", filepath.Join(dir, "tower"),
		"--passphrase-file", pass, "--log-level", "debug", "tower", "--devchain", infoFile, "--confirmations", "0",
		"--chain-poll", "100ms", "--listen", towerListen, "--serve", bobAddr.Hex()}}
	tw.start()
	t.Cleanup(tw.stop)

	bobMetrics := freeAddr(t)
	procs := map[string]*daemonProc{}
	for _, name := range []string{"alice", "bob"} {
		d := filepath.Join(dir, name)
		p := &daemonProc{t: t, name: name, dir: d}
		listen := freeAddr(t)
		p.args = []string{"--datadir", d, "--passphrase-file", pass, "--log-level", "debug", "run", "--devchain", infoFile,
			"--confirmations", "0", "--chain-poll", "100ms", "--peer-listen", listen, "--api-listen", freeAddr(t),
			"--challenge-period", "60", "--min-challenge-period", "10"}
		if name == "bob" {
			// Bob advertises a standby's address too; his tower client
			// advertises none.
			p.args = append(p.args, "--tower", towerListen+"@"+towerAddr.Hex(), "--metrics-listen", bobMetrics,
				"--peer-advertise", listen+","+freeAddr(t))
		}
		p.start()
		t.Cleanup(p.stop)
		procs[name] = p
	}
	alice, bob := procs["alice"], procs["bob"]

	// Alice opens a channel to Bob and pays him five times.
	if _, err := alice.api.ConnectPeer(ctx, &apiv1.ConnectPeerRequest{HostPort: peerListen(bob), Address: bobAddr.Hex()}); err != nil {
		t.Fatal(err)
	}
	const deposit, period = 10_000_000, 30
	ch, err := alice.api.OpenChannel(ctx, &apiv1.OpenChannelRequest{Peer: bobAddr.Hex(), Asset: "USD", Deposit: fmt.Sprint(deposit), ChallengePeriod: period})
	if err != nil {
		t.Fatal(err)
	}
	for {
		c, err := bob.api.GetChannel(ctx, &apiv1.GetChannelRequest{ChannelId: ch.GetId()})
		if err == nil && c.GetPhase() == "open" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var total uint64
	for i := uint64(1); i <= 5; i++ {
		if _, err := alice.api.Pay(ctx, &apiv1.PayRequest{ChannelId: ch.GetId(), Amount: fmt.Sprint(100 * i), IdempotencyKey: fmt.Sprintf("k%d", i)}); err != nil {
			t.Fatal(err)
		}
		total += 100 * i
	}
	// Each payment was acknowledged once on Bob's disk, after his node
	// queued its proof for the tower: nothing pending means the tower
	// acknowledged the newest.
	pending := regexp.MustCompile(`(?m)^tinypay_tower_pending\{tower="` + towerAddr.Hex() + `"\} 0$`)
	acked := regexp.MustCompile(`(?m)^tinypay_tower_acknowledged_total\{tower="` + towerAddr.Hex() + `"\} [1-9]`)
	deadline := time.Now().Add(30 * time.Second)
	for m := metric(bobMetrics); !pending.MatchString(m) || !acked.MatchString(m); m = metric(bobMetrics) {
		if time.Now().After(deadline) {
			t.Fatalf("bob's tower metrics never showed the newest proof acknowledged:\n%s\nbob's log:\n%s", grepLines(m, "tinypay_tower"), grepLines(bob.log.String(), "tower"))
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Bob's GetInfo (the dashboard's health page, tinypay info) says the
	// same: connected, nothing waiting, the newest proof acknowledged.
	binfo, err := bob.api.GetInfo(ctx, &apiv1.GetInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if tws := binfo.GetTowers(); len(tws) != 1 || tws[0].GetEndpoint() != towerListen || !strings.EqualFold(tws[0].GetAddress(), towerAddr.Hex()) ||
		!tws[0].GetConnected() || tws[0].GetPending() != 0 || tws[0].GetLastAckChannel() != ch.GetId() || tws[0].GetLastAckNonce() == 0 ||
		tws[0].GetLastAckUnixNano() == 0 || tws[0].GetLastError() != "" {
		t.Fatalf("bob's towers in GetInfo: %v", tws)
	}
	if code, out := tinypay(t, bob.dir, "info"); code != 0 || !strings.Contains(out, "tower        "+towerListen+"@") || !strings.Contains(out, "connected, 0 waiting, last acknowledgement ") {
		t.Fatalf("tinypay info:\n%s", out)
	}

	// Bob goes down hard; Alice's node stops (she cheats by hand).
	bob.kill()
	alice.stop()

	adj, _ := info.AdjudicatorAddress()
	usd, _ := info.TokenAddress()
	ecfg := evm.DefaultConfig()
	ecfg.ChainID, ecfg.Adjudicator, ecfg.Confirmations, ecfg.PollInterval = info.ChainID, adj, 0, 100*time.Millisecond
	cheat, err := evm.Dial(ctx, info.RPCURL, keys["alice"], ecfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cheat.Close()
	id, err := crypto.ParseHash(ch.GetId())
	if err != nil {
		t.Fatal(err)
	}
	params := openedParams(t, ctx, cheat, id)
	balance := func(who crypto.Address, asset crypto.Address) uint256.Int {
		t.Helper()
		b, err := cheat.Balance(ctx, who, asset)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	aliceUSD, bobUSD, towerETH := balance(aliceAddr, usd), balance(bobAddr, usd), balance(towerAddr, crypto.Address{})

	// The stale proof: Alice's first payment (nonce 1, 100).
	stale := settlement.Proof{Nonce: 1, Transferred: *uint256.NewInt(100)}
	if stale.Sig, err = keys["alice"].Sign(crypto.NewDomain(info.ChainID, adj).BalanceProofDigest(id, 1, &stale.Transferred)); err != nil {
		t.Fatal(err)
	}
	if _, err := cheat.ForceClose(ctx, params, settlement.Proof{}, stale); err != nil {
		t.Fatal(err)
	}
	var oc settlement.Channel
	deadline = time.Now().Add(30 * time.Second)
	for {
		if oc, err = cheat.Channel(ctx, id); err == nil && oc.Transferred[0].Uint64() == total {
			break
		}
		if time.Now().After(deadline) {
			tw.stop()
			t.Fatalf("the tower did not present the newest proof (%d): chain holds %s\ntower's log:\n%s", total, oc.Transferred[0].Dec(), tw.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if after := balance(towerAddr, crypto.Address{}); !after.Lt(&towerETH) {
		t.Fatalf("the tower's account paid no gas: %s wei before, %s after", towerETH.Dec(), after.Dec())
	}

	// After the challenge period, Bob comes back and settles.
	if _, err := chain.AdvanceTime(ctx, period+1); err != nil {
		t.Fatal(err)
	}
	bob.start()
	deadline = time.Now().Add(60 * time.Second)
	for {
		if oc, err = cheat.Channel(ctx, id); err == nil && oc.Phase == settlement.PhaseSettled {
			break
		}
		if time.Now().After(deadline) {
			bob.stop()
			t.Fatalf("bob did not settle (phase %s):\n%s", oc.Phase, grepLines(bob.log.String(), "channel"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	var wantBob, wantAlice, gotBob, gotAlice uint256.Int
	wantBob.AddUint64(&bobUSD, total)
	wantAlice.AddUint64(&aliceUSD, deposit-total)
	gotBob, gotAlice = balance(bobAddr, usd), balance(aliceAddr, usd)
	if !gotBob.Eq(&wantBob) || !gotAlice.Eq(&wantAlice) {
		t.Fatalf("after the settlement bob holds %s USD units (want %s: +%d) and alice %s (want %s: +%d)",
			gotBob.Dec(), wantBob.Dec(), total, gotAlice.Dec(), wantAlice.Dec(), deposit-total)
	}
}

// openedParams finds the parameters of channel id in its Opened event.
func openedParams(t *testing.T, ctx context.Context, chain *evm.Backend, id crypto.Hash) settlement.Params {
	t.Helper()
	var cur settlement.Cursor
	for {
		evs, next, err := chain.Events(ctx, cur, 256)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if ev.Kind == settlement.EventOpened && ev.Channel == id {
				return ev.Params
			}
		}
		if len(evs) == 0 || next == cur {
			t.Fatalf("no Opened event for %s", id)
		}
		cur = next
	}
}

// TestTowerFlags: bad --serve, --serve-file, --max-channels-per-node and
// --tower values are usage errors that say what is wrong, before any key is
// unlocked or anything starts.
func TestTowerFlags(t *testing.T) {
	dir := t.TempDir()
	serveFile := filepath.Join(dir, "nodes.txt")
	if err := os.WriteFile(serveFile, []byte("# served nodes\n0x00000000000000000000000000000000000000aa\n\n0xnope # bad\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	chain := []string{"--chain-rpc", "http://127.0.0.1:1", "--chain-id", "1", "--adjudicator", "0x00000000000000000000000000000000000000ad"}
	node := "0x00000000000000000000000000000000000000aa"
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no node to serve", append([]string{"tower"}, chain...), "no node to serve"},
		{"a bad --serve", append(append([]string{"tower"}, chain...), "--serve", "0x12"), `--serve: "0x12" is not a node address`},
		{"the zero address", append(append([]string{"tower"}, chain...), "--serve", "0x0000000000000000000000000000000000000000"), "zero address"},
		{"a bad line in --serve-file", append(append([]string{"tower"}, chain...), "--serve-file", serveFile), serveFile + " line 4"},
		{"a missing --serve-file", append(append([]string{"tower"}, chain...), "--serve-file", filepath.Join(dir, "none")), "--serve-file"},
		{"no channel per node", append(append([]string{"tower"}, chain...), "--serve", node, "--max-channels-per-node", "0"), "max channels per node is 0"},
		{"a bad --listen", append(append([]string{"tower"}, chain...), "--serve", node, "--listen", "nowhere"), `--listen "nowhere"`},
		{"a --tower without address", append(append([]string{"run"}, chain...), "--tower", "127.0.0.1:9740"), "want host:port@0xAddress"},
		{"a --tower listed twice", append(append([]string{"run"}, chain...), "--tower", "127.0.0.1:9740@"+node, "--tower", "127.0.0.2:9740@"+node), "listed twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			code := Main(context.Background(), append([]string{"tinypayd", "--datadir", dir}, tc.args...), strings.NewReader(""), &out, &out)
			if code != exitUsage && !strings.Contains(tc.name, "missing") || !strings.Contains(out.String(), tc.want) {
				t.Fatalf("exit %d, output:\n%s\nwant exit %d and %q", code, out.String(), exitUsage, tc.want)
			}
		})
	}
}
