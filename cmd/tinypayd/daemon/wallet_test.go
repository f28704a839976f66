package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/tinypay/tinypay/cmd/tinypay/cli"
	"github.com/tinypay/tinypay/crypto"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/settlement/devchain/devinfo"
	"github.com/tinypay/tinypay/settlement/evm/bindings"
)

// chainView reads the dev chain the daemons use directly, over JSON-RPC:
// balances and nonces as the chain has them, not as a node reports them.
type chainView struct {
	t   *testing.T
	c   *ethclient.Client
	usd common.Address
}

func viewChain(t *testing.T, p *daemonProc) *chainView {
	t.Helper()
	var path string
	for i, a := range p.args {
		if a == "--devchain" {
			path = p.args[i+1]
		}
	}
	info, err := devinfo.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ethclient.Dial(info.RPCURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	usd, err := info.TokenAddress()
	if err != nil {
		t.Fatal(err)
	}
	return &chainView{t: t, c: c, usd: common.Address(usd)}
}

func (v *chainView) eth(a crypto.Address) *big.Int {
	v.t.Helper()
	b, err := v.c.BalanceAt(context.Background(), common.Address(a), nil)
	if err != nil {
		v.t.Fatal(err)
	}
	return b
}

func (v *chainView) usdOf(a crypto.Address) *big.Int {
	v.t.Helper()
	out, err := v.c.CallContract(context.Background(), ethereum.CallMsg{To: &v.usd, Data: bindings.NewTestToken().PackBalanceOf(common.Address(a))}, nil)
	if err != nil || len(out) != 32 {
		v.t.Fatalf("balanceOf: %v (%d bytes)", err, len(out))
	}
	return new(big.Int).SetBytes(out)
}

func (v *chainView) nonce(a crypto.Address) uint64 {
	v.t.Helper()
	n, err := v.c.NonceAt(context.Background(), common.Address(a), nil)
	if err != nil {
		v.t.Fatal(err)
	}
	return n
}

func newAddr(t *testing.T) crypto.Address {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k.Address()
}

func nodeAddress(t *testing.T, p *daemonProc) crypto.Address {
	t.Helper()
	info, err := p.api.GetInfo(context.Background(), &apiv1.GetInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := crypto.ParseAddress(info.GetAddress())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestWalletSendCLI: `tinypay wallet send` moves ETH and USD from the
// node's wallet to an address, as the chain shows; a run again with the
// same key sends nothing more; "all" sends the whole token balance; the
// event log shows the sends. Every bad input is refused with a clear
// message and the node's account sends no transaction.
func TestWalletSendCLI(t *testing.T) {
	alice, _ := startDaemons(t)
	chain := viewChain(t, alice)
	me := nodeAddress(t, alice)
	to := newAddr(t)

	nonce := chain.nonce(me)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"malformed address", []string{"0x1234", "1", "USD"}, cli.ExitUsage, "ADDRESS"},
		{"zero address", []string{"0x0000000000000000000000000000000000000000", "1", "USD"}, cli.ExitUsage, "zero address"},
		{"own account", []string{me.Hex(), "1", "USD"}, cli.ExitUsage, "own account"},
		{"unknown asset", []string{to.Hex(), "1", "EUR"}, cli.ExitUsage, "unknown asset"},
		{"too many decimals", []string{to.Hex(), "0.0000001", "USD"}, cli.ExitUsage, "more than 6 decimals"},
		{"zero amount", []string{to.Hex(), "0", "USD"}, cli.ExitUsage, "zero"},
		{"no asset", []string{to.Hex(), "5"}, cli.ExitUsage, "name the asset"},
		{"all without asset", []string{to.Hex(), "all"}, cli.ExitUsage, "name the asset"},
		{"above the balance", []string{to.Hex(), "100000000000", "USD"}, cli.ExitFailed, "the wallet holds"},
		{"ETH without gas", []string{to.Hex(), "100000000000", "ETH"}, cli.ExitFailed, "the wallet holds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := tinypay(t, alice.dir, append([]string{"wallet", "send"}, append(tc.args, "--yes")...)...)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, want %d with %q:\n%s", code, tc.code, tc.want, out)
			}
			if strings.Contains(out, "--key") {
				t.Fatalf("a refusal suggests a retry:\n%s", out)
			}
		})
	}
	// Without a terminal to ask on, and without --yes, nothing is sent.
	code, out := tinypay(t, alice.dir, "wallet", "send", to.Hex(), "1", "USD")
	if code != cli.ExitUsage || !strings.Contains(out, "--yes") || !strings.Contains(out, "1 USD") {
		t.Fatalf("without --yes: exit %d\n%s", code, out)
	}
	if n := chain.nonce(me); n != nonce {
		t.Fatalf("refused sends made %d transactions", n-nonce)
	}

	code, out = tinypay(t, alice.dir, "wallet", "send", to.Hex(), "1.5", "USD", "--yes", "--key", "cli-k1")
	if code != 0 || !strings.Contains(out, "sent 1.5 USD to "+to.Hex()) {
		t.Fatalf("send: exit %d\n%s", code, out)
	}
	if got := chain.usdOf(to); got.Int64() != 1_500_000 {
		t.Fatalf("the recipient holds %s USD base units on chain, want 1500000", got)
	}
	code, again := tinypay(t, alice.dir, "wallet", "send", to.Hex(), "1.5", "USD", "--yes", "--key", "cli-k1")
	if code != 0 || again != out {
		t.Fatalf("the same command again: exit %d\n%s\nwant the first transfer:\n%s", code, again, out)
	}
	if got := chain.usdOf(to); got.Int64() != 1_500_000 {
		t.Fatalf("after the retry the recipient holds %s, want 1500000", got)
	}

	ethBefore := chain.eth(me)
	code, out = tinypay(t, alice.dir, "--json", "wallet", "send", to.Hex(), "0.25", "ETH", "--yes")
	var tr struct{ Fee, Amount, Status string }
	if err := json.Unmarshal([]byte(out), &tr); code != 0 || err != nil || tr.Status != "sent" {
		t.Fatalf("ETH send: exit %d %v\n%s", code, err, out)
	}
	quarter := big.NewInt(250_000_000_000_000_000)
	if got := chain.eth(to); got.Cmp(quarter) != 0 {
		t.Fatalf("the recipient holds %s wei, want %s", got, quarter)
	}
	fee, _ := new(big.Int).SetString(tr.Fee, 10)
	spent := new(big.Int).Sub(ethBefore, chain.eth(me))
	if want := new(big.Int).Add(quarter, fee); spent.Cmp(want) != 0 || fee.Sign() <= 0 {
		t.Fatalf("the wallet spent %s wei, want the amount and the reported fee %s", spent, want)
	}

	all := newAddr(t)
	usdBefore := chain.usdOf(me)
	if code, out := tinypay(t, alice.dir, "wallet", "send", all.Hex(), "all", "USD", "--yes"); code != 0 {
		t.Fatalf("send all: exit %d\n%s", code, out)
	}
	if got, left := chain.usdOf(all), chain.usdOf(me); got.Cmp(usdBefore) != 0 || left.Sign() != 0 {
		t.Fatalf("send all: the recipient holds %s of %s, the wallet keeps %s", got, usdBefore, left)
	}

	code, out = tinypay(t, alice.dir, "events", "--only", "transfers")
	if code != 0 || !strings.Contains(out, "wallet send sent 1.5 USD to "+to.Hex()) || !strings.Contains(out, "key cli-k1") {
		t.Fatalf("events: exit %d\n%s", code, out)
	}
}

// TestSweepDaemon: bob runs with a sweep policy that keeps his wallet's
// USD at its balance plus 1 USD. Alice pays him 3 USD; his withdrawal of 2
// USD and then the close's payout of the rest each land in his wallet, and
// each time his node sends what is above the threshold to the sweep
// address, as the chain shows. At start nothing is above it.
func TestSweepDaemon(t *testing.T) {
	alice, bob := startDaemons(t)
	chain := viewChain(t, bob)
	bobAddr := nodeAddress(t, bob)
	vault := newAddr(t)
	base := chain.usdOf(bobAddr)
	threshold := new(big.Int).Add(base, big.NewInt(1_000_000))
	bob.stop()
	bob.args = append(bob.args, "--sweep-to", vault.Hex(), "--sweep-above", fmt.Sprintf("%s.%06d USD", new(big.Int).Div(threshold, big.NewInt(1e6)), new(big.Int).Mod(threshold, big.NewInt(1e6)).Int64()))
	bob.start()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	chID := openUSD(t, ctx, alice, bob, "10000000")
	if _, err := alice.api.Pay(ctx, &apiv1.PayRequest{ChannelId: chID, Amount: "3000000", IdempotencyKey: "p"}); err != nil {
		t.Fatal(err)
	}
	if got := chain.usdOf(vault); got.Sign() != 0 {
		t.Fatalf("swept %s before any payout", got)
	}
	waitVault := func(what string, want int64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for chain.usdOf(vault).Int64() != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the vault holds %s, want %d\nbob's log:\n%s", what, chain.usdOf(vault), want, grepLines(bob.log.String(), "sweep"))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// Bob withdraws 2 USD: his wallet is base + 2, 1 above the threshold.
	if _, err := bob.api.Withdraw(ctx, &apiv1.WithdrawRequest{ChannelId: chID, Amount: "2000000"}); err != nil {
		t.Fatal(err)
	}
	waitVault("after the withdrawal", 1_000_000)
	// The close pays out his last 1 USD: 1 above the threshold again.
	if _, err := alice.api.CloseChannel(ctx, &apiv1.CloseChannelRequest{ChannelId: chID}); err != nil {
		t.Fatal(err)
	}
	waitVault("after the close", 2_000_000)
	if got := chain.usdOf(bobAddr); got.Cmp(threshold) != 0 {
		t.Fatalf("bob's wallet keeps %s, want the threshold %s", got, threshold)
	}
	code, out := tinypay(t, bob.dir, "events", "--only", "transfers")
	if code != 0 || strings.Count(out, "sweep sent 1 USD to "+vault.Hex()) != 2 {
		t.Fatalf("bob's events: exit %d\n%s", code, out)
	}
}

// TestKillDuringWalletSend kills the daemon with SIGKILL after a transfer
// is recorded (before it is sent, and after the chain carried it out but
// before the node recorded that) and restarts it: the transfer completes,
// the recipient holds the amount once, and the key reports it sent.
func TestKillDuringWalletSend(t *testing.T) {
	for _, at := range []string{"transfer signed", "transfer sent"} {
		t.Run(at, func(t *testing.T) {
			alice, _ := startDaemons(t)
			chain := viewChain(t, alice)
			alice.stop()
			alice.env = []string{"TINYPAYD_CRASH_AT=" + at}
			alice.start()
			alice.env = nil
			to := newAddr(t)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			req := &apiv1.WalletSendRequest{To: to.Hex(), Asset: "USD", Amount: "700000", IdempotencyKey: "crash-1"}
			if _, err := alice.api.WalletSend(ctx, req); err == nil {
				t.Fatalf("the send completed although the daemon was to die at %q", at)
			}
			if !killedBySIGKILL(alice, 20*time.Second) {
				t.Fatalf("alice did not die at %q:\n%s", at, alice.log)
			}
			alice.conn.Close()
			alice.start()
			tr, err := alice.api.WalletSend(ctx, req)
			if err != nil || tr.GetStatus() != "sent" {
				t.Fatalf("the key after the restart: %v %v\n%s", tr, err, alice.log)
			}
			if got := chain.usdOf(to); got.Int64() != 700_000 {
				t.Fatalf("the recipient holds %s, want 700000 (once)", got)
			}
		})
	}
}
