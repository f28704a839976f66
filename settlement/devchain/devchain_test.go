package devchain_test

import (
	"bytes"
	"context"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	gethcrypto "github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/settlement"
	"github.com/tinypay/tinypay/settlement/devchain"
	"github.com/tinypay/tinypay/settlement/devchain/devinfo"
	"github.com/tinypay/tinypay/settlement/evm"
	"github.com/tinypay/tinypay/settlement/settlementtest"
)

// childEnv names the info file for the child process of
// TestSeparateProcess. It is read by the test only.
const childEnv = "TINYPAY_DEVCHAIN_TEST_INFO"

// start starts a dev chain that writes its info file into a temporary
// directory, and returns it with the file's path.
func start(t *testing.T, mutate func(*devchain.Config)) (*devchain.Chain, string) {
	t.Helper()
	cfg := devchain.DefaultConfig()
	cfg.InfoFile = filepath.Join(t.TempDir(), "devchain.json")
	if mutate != nil {
		mutate(&cfg)
	}
	began := time.Now()
	c, err := devchain.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("dev chain ready in %s at %s", time.Since(began).Round(time.Millisecond), c.URL())
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return c, cfg.InfoFile
}

func backend(t testing.TB, info devinfo.Info, account int) *evm.Backend {
	t.Helper()
	key, err := info.Key(account)
	if err != nil {
		t.Fatal(err)
	}
	adj, err := info.AdjudicatorAddress()
	if err != nil {
		t.Fatal(err)
	}
	cfg := evm.DefaultConfig()
	cfg.ChainID, cfg.Adjudicator, cfg.DeployBlock, cfg.Confirmations = info.ChainID, adj, info.DeployBlock, 0
	b, err := evm.Dial(context.Background(), info.RPCURL, key, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// TestSeparateProcess starts the dev chain here and runs the core of the
// settlement conformance suite against it from a separate process (this
// test binary again), over JSON-RPC, passing challenge periods with
// tinypay_advanceTime. Then it checks the child's work from this side.
func TestSeparateProcess(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("in the child process")
	}
	c, path := start(t, nil)
	info := c.Info()
	file, err := devinfo.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if file.RPCURL != info.RPCURL || file.Adjudicator != info.Adjudicator || len(file.Accounts) != 4 || file.Warning == "" {
		t.Fatalf("info file %+v differs from the chain's %+v", file, info)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestChildProcess$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	began := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("child process: %v\n%s", err, out.String())
	}
	if !bytes.Contains(out.Bytes(), []byte("--- PASS: TestChildProcess")) {
		t.Fatalf("the child did not run the suite:\n%s", out.String())
	}
	t.Logf("child process passed in %s:\n%s", time.Since(began).Round(time.Millisecond), out.String())

	// From this side: the child's channels are on the chain.
	b := backend(t, info, 2)
	kinds := map[settlement.EventKind]int{}
	var cur settlement.Cursor
	head, err := b.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for {
		evs, next, err := b.Events(ctx, cur, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			kinds[e.Kind]++
		}
		cur = next
		if len(evs) == 0 && cur.Block >= head.Number {
			break
		}
	}
	for _, k := range []settlement.EventKind{settlement.EventOpened, settlement.EventDeposited, settlement.EventWithdrawn,
		settlement.EventCooperativelyClosed, settlement.EventClosed, settlement.EventUpdated, settlement.EventSettled} {
		if kinds[k] == 0 {
			t.Errorf("no %s event on the chain after the child's run", k)
		}
	}
}

// TestChildProcess is the child of TestSeparateProcess: it runs only when
// the parent sets childEnv.
func TestChildProcess(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" {
		t.Skip("run by TestSeparateProcess in a child process")
	}
	info, err := devinfo.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	alice, bob := backend(t, info, 0), backend(t, info, 1)
	aliceKey, _ := info.Key(0)
	bobKey, _ := info.Key(1)
	token, err := info.TokenAddress()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rpc.DialContext(context.Background(), info.RPCURL)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h := &settlementtest.Harness{
		Alice: alice, Bob: bob, AliceKey: aliceKey, BobKey: bobKey, Token: token,
		Advance: func(t testing.TB, seconds uint64) {
			var now uint64
			if err := rc.CallContext(context.Background(), &now, "tinypay_advanceTime", seconds); err != nil {
				t.Fatalf("tinypay_advanceTime: %v", err)
			}
		},
	}
	settlementtest.RunCore(t, func(*testing.T) *settlementtest.Harness { return h })
}

// TestChain checks the chain itself: funded accounts, deterministic
// addresses, time that advances on its own and on demand, and restarts on
// a data directory.
func TestChain(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("in the child process")
	}
	ctx := context.Background()
	dir := t.TempDir()
	c, _ := start(t, func(cfg *devchain.Config) {
		cfg.Accounts = 2
		cfg.BlockPeriod = 100 * time.Millisecond
		cfg.DataDir = dir
	})
	info := c.Info()
	if info.ChainID != 1337 || info.Token.Symbol != "USD" || info.Token.Decimals != 6 || len(info.Accounts) != 2 || info.DeployBlock == 0 {
		t.Fatalf("info %+v", info)
	}
	b := backend(t, info, 1)
	token, _ := info.TokenAddress()
	for _, asset := range []struct {
		addr crypto.Address
		want *uint256.Int
	}{{crypto.Address{}, uint256.MustFromBig(devchain.DefaultConfig().FundETH)}, {token, uint256.MustFromBig(devchain.DefaultConfig().FundUSD)}} {
		got, err := b.Balance(ctx, b.Account(), asset.addr)
		if err != nil || !got.Eq(asset.want) {
			t.Fatalf("balance of %s in %s: %s, %v; want %s", b.Account(), asset.addr, got.Dec(), err, asset.want.Dec())
		}
	}

	// Blocks come on their own.
	h1, _ := b.Head(ctx)
	time.Sleep(500 * time.Millisecond)
	h2, _ := b.Head(ctx)
	if h2.Number < h1.Number+1 || h2.Time <= h1.Time {
		t.Fatalf("head %+v then %+v: blocks do not come every 100ms", h1, h2)
	}
	// Time advances on demand, through Go and JSON-RPC.
	now, err := c.AdvanceTime(ctx, 1000)
	if err != nil || now < h2.Time+1000 {
		t.Fatalf("advance 1000 s from %d: %d, %v", h2.Time, now, err)
	}
	rc, err := rpc.DialContext(ctx, c.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var later uint64
	if err := rc.CallContext(ctx, &later, "tinypay_advanceTime", 500); err != nil || later < now+500 {
		t.Fatalf("tinypay_advanceTime(500) after %d: %d, %v", now, later, err)
	}
	var remote devinfo.Info
	if err := rc.CallContext(ctx, &remote, "tinypay_info"); err != nil || remote.Adjudicator != info.Adjudicator {
		t.Fatalf("tinypay_info: %+v, %v", remote, err)
	}
	if _, err := c.AdvanceTime(ctx, 1<<40); err == nil {
		t.Fatal("advancing by 2^40 s was accepted")
	}

	// The same seed gives the same keys and addresses on a fresh chain.
	fresh, _ := start(t, func(cfg *devchain.Config) { cfg.Accounts = 2 })
	if fi := fresh.Info(); fi.Adjudicator != info.Adjudicator || fi.Token.Address != info.Token.Address || fi.Accounts[1] != info.Accounts[1] {
		t.Fatalf("a fresh chain with the same seed differs: %+v vs %+v", fi, info)
	}
	if devchain.AccountKey("tinypay devchain", 0).Address().Hex() != info.Accounts[0].Address {
		t.Fatal("AccountKey differs from the chain's account 0")
	}

	// A restart on the data directory keeps the chain and its time.
	rc.Close()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	again, _ := start(t, func(cfg *devchain.Config) { cfg.Accounts = 2; cfg.DataDir = dir })
	ai := again.Info()
	if ai.Adjudicator != info.Adjudicator || ai.DeployBlock != info.DeployBlock {
		t.Fatalf("restart: %+v, before %+v", ai, info)
	}
	b2 := backend(t, ai, 1)
	if h, err := b2.Head(ctx); err != nil || h.Time < later {
		t.Fatalf("restart: head %+v, %v; time was %d before", h, err, later)
	}
	// Other settings on the same directory are refused with advice.
	cfg := devchain.DefaultConfig()
	cfg.DataDir, cfg.Accounts = dir, 3
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
	if c, err := devchain.Start(ctx, cfg); err == nil {
		c.Close()
		t.Fatal("a data directory made with 2 accounts was reused with 3")
	} else if !strings.Contains(err.Error(), "remove it or start with the same settings") {
		t.Fatalf("reuse with other settings: %v, want advice", err)
	}
}

// TestManyConcurrentTransactions sends tens of thousands of transfers from
// many accounts at once, over JSON-RPC as nodes do, and checks every one is
// mined. The chain used to stop mining after a few thousand: its loop waited
// on the pool while the pool waited to hand the loop a new-transactions
// event.
func TestManyConcurrentTransactions(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("in the child process")
	}
	const senders, perSender, window = 16, 1250, 200 // 20,000 transactions
	c, _ := start(t, func(cfg *devchain.Config) {
		cfg.Accounts = senders
		cfg.BlockPeriod = 0 // blocks only for transactions
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	chainID := new(big.Int).SetUint64(c.Info().ChainID)
	signer := types.LatestSignerForChainID(chainID)
	sink := common.HexToAddress("0x000000000000000000000000000000000000dEaD")
	var mined atomic.Int64
	errs := make(chan error, senders)
	for _, k := range c.Keys() {
		go func() {
			errs <- func() error {
				cl, err := ethclient.DialContext(ctx, c.URL())
				if err != nil {
					return err
				}
				defer cl.Close()
				key, err := gethcrypto.ToECDSA(k.Bytes())
				if err != nil {
					return err
				}
				from := common.Address(k.Address())
				var done uint64 // transactions of this account known mined
				for nonce := uint64(0); nonce < perSender; nonce++ {
					for nonce >= done+window { // keep the pool within its limits
						n, err := cl.NonceAt(ctx, from, nil)
						if err != nil {
							return fmt.Errorf("nonce of %s: %w", from, err)
						}
						mined.Add(int64(n - done))
						if done = n; nonce >= done+window {
							time.Sleep(5 * time.Millisecond)
						}
					}
					tx, err := types.SignNewTx(key, signer, &types.DynamicFeeTx{
						ChainID: chainID, Nonce: nonce, GasTipCap: big.NewInt(1), GasFeeCap: big.NewInt(100 * params.GWei),
						Gas: params.TxGas, To: &sink, Value: big.NewInt(1),
					})
					if err != nil {
						return err
					}
					if err := cl.SendTransaction(ctx, tx); err != nil {
						return fmt.Errorf("send %d from %s: %w", nonce, from, err)
					}
				}
				for done < perSender {
					n, err := cl.NonceAt(ctx, from, nil)
					if err != nil {
						return fmt.Errorf("nonce of %s: %w", from, err)
					}
					mined.Add(int64(n - done))
					if done = n; done < perSender {
						time.Sleep(10 * time.Millisecond)
					}
				}
				return nil
			}()
		}()
	}
	// Fail, rather than hang, when mining stops: no new block for a minute
	// while transactions wait (blocks come only for transactions here, and
	// the senders keep some waiting until they are done).
	last, lastMoved := uint64(0), time.Now()
	for finished := 0; finished < senders; {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatalf("%v (%d of %d transactions seen mined)", err, mined.Load(), senders*perSender)
			}
			finished++
		case <-time.After(time.Second):
			if head, _ := c.Client().BlockNumber(context.Background()); head != last {
				last, lastMoved = head, time.Now()
			} else if time.Since(lastMoved) > time.Minute {
				cancel()
				t.Fatalf("the chain stopped mining: no block for a minute at block %d, %d of %d transactions seen mined", head, mined.Load(), senders*perSender)
			}
		}
	}
	if got := mined.Load(); got != senders*perSender {
		t.Fatalf("%d transactions mined, want %d", got, senders*perSender)
	}
	bal, err := c.Client().BalanceAt(context.Background(), sink, nil)
	if err != nil || bal.Int64() != senders*perSender {
		t.Fatalf("the sink holds %v wei (%v), want %d", bal, err, senders*perSender)
	}
}
