// Command demo runs the whole tinypay story on a local dev chain, with real
// processes: a dev chain, two nodes (Alice and Bob), a channel in the test
// dollar token, payments, and a cooperative close whose on-chain payouts are
// checked against the off-chain balances.
//
//	go run ./scripts/demo            # the cooperative story
//	go run ./scripts/demo --dispute  # Mallory force-closes with a stale proof
//
// It builds the binaries into a temporary directory, shows every command it
// runs, and exits non-zero if anything does not add up.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/settlement"
	"github.com/tinypay/tinypay/settlement/devchain/devinfo"
	"github.com/tinypay/tinypay/settlement/evm"
)

func main() {
	dispute := flag.Bool("dispute", false, "instead of a cooperative close, Alice (as Mallory) force-closes with a stale proof and Bob's watcher wins the dispute")
	payments := flag.Int("payments", 20000, "how many payments Alice makes")
	keep := flag.Bool("keep", false, "keep the work directory (logs, data dirs) after the run")
	flag.Parse()
	d, err := newDemo(*keep)
	if err != nil {
		fail(err)
	}
	defer d.cleanup()
	if err := d.run(*dispute, *payments); err != nil {
		d.showLogs()
		d.cleanup()
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "\ndemo FAILED:", err)
	os.Exit(1)
}

type demo struct {
	dir, bin string
	keep     bool
	procs    []*exec.Cmd
	chain    devinfo.Info
}

func newDemo(keep bool) (*demo, error) {
	dir, err := os.MkdirTemp("", "tinypay-demo-")
	if err != nil {
		return nil, err
	}
	return &demo{dir: dir, bin: filepath.Join(dir, "bin"), keep: keep}, nil
}

func (d *demo) cleanup() {
	for _, p := range d.procs {
		if p.Process != nil {
			p.Process.Signal(os.Interrupt)
		}
	}
	for _, p := range d.procs {
		done := make(chan struct{})
		go func() { p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			p.Process.Kill()
		}
	}
	d.procs = nil
	if d.keep {
		fmt.Println("work directory kept:", d.dir)
	} else {
		os.RemoveAll(d.dir)
	}
}

func (d *demo) showLogs() {
	logs, _ := filepath.Glob(filepath.Join(d.dir, "*.log"))
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		fmt.Fprintf(os.Stderr, "\n--- last lines of %s\n%s\n", filepath.Base(l), strings.Join(lines[max(0, len(lines)-15):], "\n"))
	}
}

func step(format string, args ...any) { fmt.Printf("\n== "+format+"\n", args...) }

// start runs a long-lived process with its output in name.log.
func (d *demo) start(name string, args ...string) (*exec.Cmd, error) {
	log, err := os.Create(filepath.Join(d.dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(d.bin, args[0]), args[1:]...)
	cmd.Stdout, cmd.Stderr, cmd.Dir = log, log, d.dir
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d.procs = append(d.procs, cmd)
	return cmd, nil
}

// tp runs the tinypay CLI as a user would, showing the command and output.
func (d *demo) tp(who string, args ...string) (string, error) {
	full := append([]string{"--datadir", who}, args...)
	fmt.Printf("$ tinypay %s\n", strings.Join(full, " "))
	cmd := exec.Command(filepath.Join(d.bin, "tinypay"), full...)
	cmd.Dir = d.dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stdout
	err := cmd.Run()
	fmt.Print(indent(out.String()))
	if err != nil {
		return out.String(), fmt.Errorf("tinypay %s: %w", strings.Join(args, " "), err)
	}
	return out.String(), nil
}

// tpJSON runs the CLI with --json, quietly, and decodes the result.
func (d *demo) tpJSON(who string, v any, args ...string) error {
	cmd := exec.Command(filepath.Join(d.bin, "tinypay"), append([]string{"--datadir", who, "--json"}, args...)...)
	cmd.Dir = d.dir
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("tinypay %s: %w", strings.Join(args, " "), err)
	}
	return json.Unmarshal(out, v)
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ") + "\n"
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitFile(path string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("timed out waiting for %s", path)
}

type balances struct {
	Balances []struct {
		Asset struct {
			Symbol string `json:"symbol"`
		} `json:"asset"`
		Wallet string `json:"wallet"`
	} `json:"balances"`
}

func (d *demo) usd(who string) (*big.Int, error) {
	var b balances
	if err := d.tpJSON(who, &b, "balance"); err != nil {
		return nil, err
	}
	for _, x := range b.Balances {
		if x.Asset.Symbol == "USD" {
			v, ok := new(big.Int).SetString(x.Wallet, 10)
			if !ok {
				return nil, fmt.Errorf("bad balance %q", x.Wallet)
			}
			return v, nil
		}
	}
	return nil, errors.New("no USD balance")
}

type channelJSON struct {
	ID          string `json:"id"`
	Phase       string `json:"phase"`
	MyBalance   string `json:"myBalance"`
	PeerBalance string `json:"peerBalance"`
	Sent        string `json:"sent"`
	SentNonce   string `json:"sentNonce"`
	SettleAfter string `json:"settleAfter"`
}

func (d *demo) channel(who, id string) (channelJSON, error) {
	var c channelJSON
	err := d.tpJSON(who, &c, "channel", "get", id)
	return c, err
}

func (d *demo) waitPhase(who, id, phase string, timeout time.Duration) (channelJSON, error) {
	deadline := time.Now().Add(timeout)
	for {
		c, err := d.channel(who, id)
		if err == nil && c.Phase == phase {
			return c, nil
		}
		if time.Now().After(deadline) {
			return c, fmt.Errorf("%s's channel is %q, not %q, after %s", who, c.Phase, phase, timeout)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (d *demo) run(dispute bool, payments int) error {
	step("building tinypayd, tinypay and tinypay-devchain")
	build := exec.Command("go", "build", "-o", d.bin+string(filepath.Separator), "./cmd/tinypayd", "./cmd/tinypay", "./cmd/tinypay-devchain")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build (run the demo from the repository root): %w", err)
	}

	step("starting the dev chain (go-ethereum in dev mode, adjudicator and USD token deployed)")
	if _, err := d.start("devchain", "tinypay-devchain", "--http-port", "0", "--out", "devchain.json"); err != nil {
		return err
	}
	if err := waitFile(filepath.Join(d.dir, "devchain.json"), 30*time.Second); err != nil {
		return err
	}
	info, err := devinfo.Read(filepath.Join(d.dir, "devchain.json"))
	if err != nil {
		return err
	}
	d.chain = info
	fmt.Printf("  rpc %s, chain %d, adjudicator %s, USD token %s\n", info.RPCURL, info.ChainID, info.Adjudicator, info.Token.Address)

	step("creating two nodes: alice (dev account 1) and bob (dev account 2)")
	if err := os.WriteFile(filepath.Join(d.dir, "pass.txt"), []byte("demo passphrase\n"), 0o600); err != nil {
		return err
	}
	ports := map[string][2]string{}
	for i, who := range []string{"alice", "bob"} {
		init := exec.Command(filepath.Join(d.bin, "tinypayd"), "--datadir", who, "--passphrase-file", "pass.txt",
			"init", "--devchain", "devchain.json", "--dev-account", fmt.Sprint(i+1), "--light-kdf")
		init.Dir, init.Stdout, init.Stderr = d.dir, os.Stdout, os.Stderr
		if err := init.Run(); err != nil {
			return err
		}
		peer, err := freePort()
		if err != nil {
			return err
		}
		api, err := freePort()
		if err != nil {
			return err
		}
		ports[who] = [2]string{peer, api}
		if _, err := d.start(who, "tinypayd", "--datadir", who, "--passphrase-file", "pass.txt", "run",
			"--devchain", "devchain.json", "--confirmations", "0", "--chain-poll", "250ms",
			"--peer-listen", peer, "--api-listen", api, "--challenge-period", "30", "--min-challenge-period", "10",
			"--metrics-listen", "127.0.0.1:0"); err != nil { // each its own port: see metrics.addr
			return err
		}
	}
	for _, who := range []string{"alice", "bob"} {
		if err := waitFile(filepath.Join(d.dir, who, "api.addr"), 30*time.Second); err != nil {
			return fmt.Errorf("%s did not start: %w", who, err)
		}
		if addr, err := os.ReadFile(filepath.Join(d.dir, who, "metrics.addr")); err == nil {
			fmt.Printf("%s's metrics: http://%s/metrics\n", who, strings.TrimSpace(string(addr)))
		}
	}
	var bobInfo struct {
		Address string `json:"address"`
	}
	if err := d.tpJSON("bob", &bobInfo, "info"); err != nil {
		return err
	}
	bob := bobInfo.Address
	if _, err := d.tp("alice", "info"); err != nil {
		return err
	}

	step("alice connects to bob and opens a channel with 10 USD")
	if _, err := d.tp("alice", "peer", "connect", ports["bob"][0], "--address", bob); err != nil {
		return err
	}
	if _, err := d.tp("alice", "channel", "open", bob, "10", "USD"); err != nil {
		return err
	}
	var list struct {
		Channels []channelJSON `json:"channels"`
	}
	if err := d.tpJSON("alice", &list, "channel", "list"); err != nil || len(list.Channels) != 1 {
		return fmt.Errorf("alice's channel list: %v (%d channels)", err, len(list.Channels))
	}
	id := list.Channels[0].ID
	if _, err := d.waitPhase("bob", id, "open", 30*time.Second); err != nil {
		return err
	}

	step("alice pays bob: one payment for an item, then %d pipelined payments of 0.0001 USD", payments)
	if _, err := d.tp("alice", "pay", bob, "0.0025", "USD", "--item", "article-7", "--memo", "thanks for the article"); err != nil {
		return err
	}
	if _, err := d.tp("alice", "pay", bob, "0.0001", "USD", "--count", fmt.Sprint(payments)); err != nil {
		return err
	}
	if _, err := d.tp("bob", "pay", id, "0.05", "USD", "--item", "refund-1"); err != nil {
		return err
	}
	if _, err := d.tp("bob", "payments", "--limit", "3"); err != nil {
		return err
	}
	aliceView, err := d.channel("alice", id)
	if err != nil {
		return err
	}
	bobView, err := d.channel("bob", id)
	if err != nil {
		return err
	}
	if aliceView.MyBalance != bobView.PeerBalance || aliceView.PeerBalance != bobView.MyBalance {
		return fmt.Errorf("the two sides disagree: alice %s/%s, bob %s/%s", aliceView.MyBalance, aliceView.PeerBalance, bobView.PeerBalance, bobView.MyBalance)
	}
	fmt.Printf("  both sides agree: alice %s, bob %s after %s proofs from alice\n", usdText(aliceView.MyBalance), usdText(aliceView.PeerBalance), aliceView.SentNonce)

	aliceBefore, err := d.usd("alice")
	if err != nil {
		return err
	}
	bobBefore, err := d.usd("bob")
	if err != nil {
		return err
	}
	wantAlice, _ := new(big.Int).SetString(aliceView.MyBalance, 10)
	wantBob, _ := new(big.Int).SetString(aliceView.PeerBalance, 10)

	if dispute {
		return d.dispute(id, bob, bobBefore, wantBob)
	}

	step("alice closes the channel cooperatively; the contract pays out at once")
	if _, err := d.tp("alice", "channel", "close", id); err != nil {
		return err
	}
	if _, err := d.waitPhase("bob", id, "settled", 30*time.Second); err != nil {
		return err
	}
	aliceAfter, err := d.usd("alice")
	if err != nil {
		return err
	}
	bobAfter, err := d.usd("bob")
	if err != nil {
		return err
	}
	gotAlice, gotBob := new(big.Int).Sub(aliceAfter, aliceBefore), new(big.Int).Sub(bobAfter, bobBefore)
	step("on-chain payouts")
	fmt.Printf("  alice: paid out %s, off-chain balance %s\n", usdText(gotAlice.String()), usdText(wantAlice.String()))
	fmt.Printf("  bob:   paid out %s, off-chain balance %s\n", usdText(gotBob.String()), usdText(wantBob.String()))
	if gotAlice.Cmp(wantAlice) != 0 || gotBob.Cmp(wantBob) != 0 {
		return errors.New("on-chain payouts differ from the off-chain balances")
	}
	if _, err := d.tp("bob", "balance"); err != nil {
		return err
	}
	fmt.Println("\nOK: every payment was acknowledged, and the chain paid out exactly the off-chain balances.")
	return nil
}

// dispute: alice turns into Mallory. Her node is stopped, and she force-
// closes with a stale state (claiming she paid nothing). Bob's watcher
// presents her newest proof in the challenge period and settles after it.
func (d *demo) dispute(id, bob string, bobBefore, wantBob *big.Int) error {
	step("alice becomes Mallory: her node stops, and she force-closes claiming she paid nothing")
	alice := d.procs[1]
	alice.Process.Signal(os.Interrupt)
	alice.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	key, err := d.chain.Key(1)
	if err != nil {
		return err
	}
	adj, _ := d.chain.AdjudicatorAddress()
	cfg := evm.DefaultConfig()
	cfg.Adjudicator, cfg.ChainID, cfg.Confirmations, cfg.DeployBlock = adj, d.chain.ChainID, 0, d.chain.DeployBlock
	mallory, err := evm.Dial(ctx, d.chain.RPCURL, key, cfg)
	if err != nil {
		return err
	}
	defer mallory.Close()
	params, err := findParams(ctx, mallory, id)
	if err != nil {
		return err
	}
	rcpt, err := mallory.ForceClose(ctx, params, settlement.Proof{}, settlement.Proof{})
	if err != nil {
		return err
	}
	fmt.Printf("  mallory's close is in block %d (tx %s): it says alice paid bob 0\n", rcpt.Block, rcpt.TxHash)

	step("bob's watcher sees the stale close and presents alice's newest proof")
	if err := d.waitDisputed(ctx, mallory, params); err != nil {
		return err
	}
	if _, err := d.tp("bob", "channel", "get", id); err != nil {
		return err
	}

	step("the challenge period (30 s) passes: the dev chain advances its clock")
	if err := advanceTime(ctx, d.chain.RPCURL, 60); err != nil {
		return err
	}
	if _, err := d.waitPhase("bob", id, "settled", time.Minute); err != nil {
		return err
	}
	bobAfter, err := d.usd("bob")
	if err != nil {
		return err
	}
	got := new(big.Int).Sub(bobAfter, bobBefore)
	step("on-chain payout")
	fmt.Printf("  bob: paid out %s, off-chain balance %s\n", usdText(got.String()), usdText(wantBob.String()))
	if got.Cmp(wantBob) != 0 {
		return errors.New("bob did not get what he was paid")
	}
	if _, err := d.tp("bob", "events", "--only", "channels"); err != nil {
		return err
	}
	fmt.Println("\nOK: Mallory's stale close lost; bob's watcher presented the newest proof and was paid in full.")
	return nil
}

func findParams(ctx context.Context, b *evm.Backend, id string) (settlement.Params, error) {
	want, err := crypto.ParseHash(id)
	if err != nil {
		return settlement.Params{}, err
	}
	var cur settlement.Cursor
	for {
		evs, next, err := b.Events(ctx, cur, 500)
		if err != nil {
			return settlement.Params{}, err
		}
		for _, ev := range evs {
			if ev.Kind == settlement.EventOpened && ev.Channel == want {
				return ev.Params, nil
			}
		}
		if len(evs) == 0 {
			return settlement.Params{}, fmt.Errorf("channel %s not found on chain", id)
		}
		cur = next
	}
}

func (d *demo) waitDisputed(ctx context.Context, b *evm.Backend, p settlement.Params) error {
	for {
		c, err := b.Channel(ctx, p.ID())
		if err != nil {
			return err
		}
		if !c.Transferred[0].IsZero() {
			fmt.Printf("  on chain now: alice paid bob %s\n", usdText(c.Transferred[0].Dec()))
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("bob's watcher did not present a proof")
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func advanceTime(ctx context.Context, url string, seconds uint64) error {
	body := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"tinypay_advanceTime","params":[%d]}`, seconds)
	fmt.Printf("$ curl -d '%s' %s\n", body, url)
	cmd := exec.CommandContext(ctx, "curl", "-s", "-H", "content-type: application/json", "-d", body, url)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("advance time: %v: %s", err, out)
	}
	fmt.Print(indent(string(out)))
	return nil
}

// usdText writes base units of the dev chain's USD token (6 decimals) as
// people read them: "8.0475 USD".
func usdText(base string) string {
	v, err := uint256.FromDecimal(base)
	if err != nil {
		return base + " USD base units"
	}
	return channel.FormatUnits(v, 6) + " USD"
}
