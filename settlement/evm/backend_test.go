package evm_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/settlement"
	"github.com/tinypay/tinypay/settlement/evm"
	"github.com/tinypay/tinypay/settlement/evm/bindings"
	"github.com/tinypay/tinypay/settlement/evm/evmtest"
)

var ctx = context.Background()

func params(c *evmtest.Chain, asset common.Address, period uint64) settlement.Params {
	var salt crypto.Hash
	_, _ = rand.Read(salt[:])
	return settlement.Params{
		ChainID: evmtest.ChainID, Adjudicator: crypto.Address(c.Adjudicator),
		Participants: [2]crypto.Address{c.Alice.Address(), c.Bob.Address()},
		Asset:        crypto.Address(asset), ChallengePeriod: period, Salt: salt,
	}
}

func sign(t testing.TB, k *crypto.PrivateKey, d crypto.Hash) crypto.Signature {
	s, err := k.Sign(d)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func proof(t testing.TB, k *crypto.PrivateKey, p settlement.Params, nonce, amount uint64) settlement.Proof {
	a := uint256.NewInt(amount)
	return settlement.Proof{Nonce: nonce, Transferred: *a, Sig: sign(t, k, crypto.NewDomain(p.ChainID, p.Adjudicator).BalanceProofDigest(p.ID(), nonce, a))}
}

func ok(t testing.TB, what string) func(settlement.Receipt, error) settlement.Receipt {
	return func(r settlement.Receipt, err error) settlement.Receipt {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return r
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func TestConstructionErrors(t *testing.T) {
	c := evmtest.NewChain(t)
	t.Run("EndpointDown", func(t *testing.T) {
		url := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
		_, err := evm.Dial(ctx, url, c.Alice, c.Config())
		if !errors.Is(err, settlement.ErrUnavailable) || !strings.Contains(err.Error(), url) {
			t.Fatalf("dial a closed port: %v, want ErrUnavailable naming %s", err, url)
		}
	})
	t.Run("WrongChain", func(t *testing.T) {
		cfg := c.Config()
		cfg.ChainID = 999
		_, err := evm.New(ctx, c.Client(), c.Alice, cfg)
		if !errors.Is(err, settlement.ErrWrongChain) || !strings.Contains(err.Error(), "1337") || !strings.Contains(err.Error(), "999") {
			t.Fatalf("wrong chain id: %v, want ErrWrongChain naming 1337 and 999", err)
		}
	})
	t.Run("NoCode", func(t *testing.T) {
		cfg := c.Config()
		cfg.Adjudicator = crypto.Address{0xde, 0xad}
		_, err := evm.New(ctx, c.Client(), c.Alice, cfg)
		if !errors.Is(err, settlement.ErrNoContract) {
			t.Fatalf("adjudicator without code: %v, want ErrNoContract", err)
		}
	})
	t.Run("NotAnAdjudicator", func(t *testing.T) {
		cfg := c.Config()
		cfg.Adjudicator = crypto.Address(c.Token)
		_, err := evm.New(ctx, c.Client(), c.Alice, cfg)
		if !errors.Is(err, settlement.ErrNoContract) {
			t.Fatalf("adjudicator address holding the token: %v, want ErrNoContract", err)
		}
	})
	t.Run("TokenWithoutCode", func(t *testing.T) {
		b := c.Backend(t, c.Alice)
		if _, err := b.Balance(ctx, c.Alice.Address(), crypto.Address{0xbe, 0xef}); !errors.Is(err, settlement.ErrNoContract) {
			t.Fatalf("balance of a token without code: %v, want ErrNoContract", err)
		}
		if _, err := b.Open(ctx, params(c, common.Address{0xbe, 0xef}, 60), uint256.NewInt(1)); !errors.Is(err, settlement.ErrNoContract) {
			t.Fatalf("open in a token without code: %v, want ErrNoContract", err)
		}
	})
	t.Run("ForeignParams", func(t *testing.T) {
		b := c.Backend(t, c.Alice)
		p := params(c, common.Address{}, 60)
		p.ChainID = 1
		if _, err := b.Open(ctx, p, uint256.NewInt(1)); !errors.Is(err, evm.ErrForeignParams) {
			t.Fatalf("open with another chain's params: %v, want ErrForeignParams", err)
		}
	})
	t.Run("EndpointGoesDown", func(t *testing.T) {
		c := evmtest.NewChain(t)
		b := c.Backend(t, c.Alice)
		_ = c.Sim.Close()
		if _, err := b.Head(ctx); !errors.Is(err, settlement.ErrUnavailable) {
			t.Fatalf("head after the endpoint closed: %v, want ErrUnavailable", err)
		}
	})
	t.Run("InvalidConfig", func(t *testing.T) {
		if _, err := evm.New(ctx, c.Client(), c.Alice, evm.DefaultConfig()); err == nil {
			t.Fatal("a config without chain id and adjudicator was accepted")
		}
	})
}

// TestRevertReasonExact checks the decoded reason of a stale update, to the
// character, and that it was refused before sending.
func TestRevertReasonExact(t *testing.T) {
	c := evmtest.NewChain(t)
	alice, bob := c.Backend(t, c.Alice), c.Backend(t, c.Bob)
	p := params(c, common.Address{}, 600)
	ok(t, "open")(alice.Open(ctx, p, uint256.NewInt(100)))
	ok(t, "close")(alice.ForceClose(ctx, p, settlement.Proof{}, proof(t, c.Alice, p, 3, 7)))
	_, err := bob.Update(ctx, p, []settlement.Proof{proof(t, c.Alice, p, 2, 5)})
	var re *settlement.RevertError
	if !errors.As(err, &re) || re.Reason != "NotIncreasing(current=7, proposed=5)" {
		t.Fatalf("stale update: %v, want reason NotIncreasing(current=7, proposed=5)", err)
	}
	if bal, _ := bob.Balance(ctx, c.Bob.Address(), crypto.Address{}); bal.ToBig().Cmp(evmtest.FundETH) != 0 {
		t.Fatalf("Bob paid %s wei for a refused update", new(big.Int).Sub(evmtest.FundETH, bal.ToBig()))
	}
}

// lyingClient skips the simulation: it claims a fixed gas need, so that
// transactions that revert are sent and mined.
type lyingClient struct {
	*evmtest.Client
	gas uint64
}

func (c lyingClient) EstimateGas(context.Context, ethereum.CallMsg) (uint64, error) {
	return c.gas, nil
}

func TestMinedRevert(t *testing.T) {
	c := evmtest.NewChain(t)
	alice := c.Backend(t, c.Alice)
	p := params(c, common.Address{}, 600)
	ok(t, "open")(alice.Open(ctx, p, uint256.NewInt(100)))
	ok(t, "close")(alice.ForceClose(ctx, p, settlement.Proof{}, proof(t, c.Alice, p, 3, 7)))

	bob, err := evm.New(ctx, lyingClient{c.Client(), 200_000}, c.Bob, c.Config())
	if err != nil {
		t.Fatal(err)
	}
	before, _ := bob.Balance(ctx, c.Bob.Address(), crypto.Address{})
	r, err := bob.Update(ctx, p, []settlement.Proof{proof(t, c.Alice, p, 2, 5)})
	var re *settlement.RevertError
	if !errors.As(err, &re) || re.Reason != "NotIncreasing(current=7, proposed=5)" {
		t.Fatalf("update mined and reverted: %v, want the replayed reason", err)
	}
	after, _ := bob.Balance(ctx, c.Bob.Address(), crypto.Address{})
	if r.TxHash.IsZero() || r.GasUsed == 0 || r.Fee.IsZero() || !new(uint256.Int).Sub(&before, &after).Eq(&r.Fee) {
		t.Fatalf("receipt of the reverted transaction %+v: the fee must be what the balance lost (%s)", r, new(uint256.Int).Sub(&before, &after).Dec())
	}

	starved, err := evm.New(ctx, lyingClient{c.Client(), 24_000}, c.Bob, c.Config())
	if err != nil {
		t.Fatal(err)
	}
	_, err = starved.Open(ctx, params(c, common.Address{}, 600), uint256.NewInt(1))
	if !errors.As(err, &re) || !strings.HasPrefix(re.Reason, "out of gas") {
		t.Fatalf("open with too little gas: %v, want out of gas", err)
	}
}

// TestConcurrentSends opens channels from one backend concurrently, in ETH
// and in the token (whose approvals must not overwrite each other).
func TestConcurrentSends(t *testing.T) {
	c := evmtest.NewChain(t)
	alice := c.Backend(t, c.Alice)
	var wg sync.WaitGroup
	errs := make(chan error, 12)
	var ps []settlement.Params
	for i := range 12 {
		asset := common.Address{}
		if i%2 == 1 {
			asset = c.Token
		}
		p := params(c, asset, 600)
		ps = append(ps, p)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := alice.Open(ctx, p, uint256.NewInt(uint64(1000+i)))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i, p := range ps {
		ch, err := alice.Channel(ctx, p.ID())
		if err != nil || ch.Phase != settlement.PhaseOpen || ch.Deposit[0].Uint64() != uint64(1000+i) {
			t.Fatalf("channel %d: %+v, %v", i, ch, err)
		}
	}
}

// TestNonceResync: another sender uses the account's nonce behind the
// backend's back; the backend reads the nonce again and succeeds.
func TestNonceResync(t *testing.T) {
	c := evmtest.NewChain(t)
	alice := c.Backend(t, c.Alice)
	ok(t, "first open")(alice.Open(ctx, params(c, common.Address{}, 600), uint256.NewInt(1)))
	c.Send(t, c.Alice, common.Address(c.Bob.Address()), big.NewInt(1), nil) // uses the nonce the backend expects next
	ok(t, "open after an outside transaction")(alice.Open(ctx, params(c, common.Address{}, 600), uint256.NewInt(1)))
}

// TestConfirmations: with Confirmations 3 a transaction method returns only
// once three blocks are on top of the transaction, Head lags the latest
// block by three, and without new blocks the wait times out.
func TestConfirmations(t *testing.T) {
	c := evmtest.NewChain(t)
	b := c.Backend(t, c.Alice, func(cfg *evm.Config) { cfg.Confirmations = 3 })

	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				c.Commit()
			}
		}
	}()
	r := ok(t, "open")(b.Open(ctx, params(c, common.Address{}, 600), uint256.NewInt(1)))
	latest, err := c.Client().BlockNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if latest < r.Block+3 {
		t.Fatalf("returned with the transaction in block %d and the latest block %d: fewer than 3 confirmations", r.Block, latest)
	}
	close(stop)
	<-done

	head, err := b.Head(ctx)
	latest, _ = c.Client().BlockNumber(ctx)
	if err != nil || head.Number != latest-3 {
		t.Fatalf("head %d (%v), latest %d: want latest-3", head.Number, err, latest)
	}

	impatient := c.Backend(t, c.Alice, func(cfg *evm.Config) { cfg.Confirmations = 3; cfg.ReceiptTimeout = 200 * time.Millisecond })
	if _, err := impatient.Open(ctx, params(c, common.Address{}, 600), uint256.NewInt(1)); !errors.Is(err, evm.ErrReceiptTimeout) {
		t.Fatalf("no blocks after the transaction: %v, want ErrReceiptTimeout", err)
	}
}

// TestSettleWaits: Settle waits for a block past settleAfter when that is
// due within SettleWait, and says how long to wait otherwise.
func TestSettleWaits(t *testing.T) {
	c := evmtest.NewChain(t)
	// Simulated blocks come every 50ms here but are a second apart.
	alice := c.Backend(t, c.Alice, func(cfg *evm.Config) { cfg.SettleWait = 10 * time.Second })
	p := params(c, common.Address{}, 3) // a three-second challenge period
	ok(t, "open")(alice.Open(ctx, p, uint256.NewInt(10)))
	ok(t, "close")(alice.ForceClose(ctx, p, settlement.Proof{}, settlement.Proof{}))

	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				c.Commit()
			}
		}
	}()
	r := ok(t, "settle")(alice.Settle(ctx, p))
	close(stop)
	<-done
	ch, _ := alice.Channel(ctx, p.ID())
	if ch.Phase != settlement.PhaseSettled || r.Block == 0 {
		t.Fatalf("phase %s after settle", ch.Phase)
	}

	p2 := params(c, common.Address{}, 3600)
	ok(t, "open")(alice.Open(ctx, p2, uint256.NewInt(10)))
	ok(t, "close")(alice.ForceClose(ctx, p2, settlement.Proof{}, settlement.Proof{}))
	start := time.Now()
	_, err := alice.Settle(ctx, p2)
	var re *settlement.RevertError
	if !errors.As(err, &re) || !strings.HasPrefix(re.Reason, "ChallengePeriodNotOver") || !strings.Contains(err.Error(), "3601 s remain") {
		t.Fatalf("settle an hour early: %v, want ChallengePeriodNotOver and the seconds remaining", err)
	}
	if time.Since(start) > time.Second {
		t.Fatalf("settle an hour early took %s; it should not wait", time.Since(start))
	}
}

// TestEventsLimits walks a long event history with several limits and
// narrow log ranges, and checks every walk returns the same events.
func TestEventsLimits(t *testing.T) {
	c := evmtest.NewChain(t)
	alice, bob := c.Backend(t, c.Alice), c.Backend(t, c.Bob)
	for range 4 {
		p := params(c, common.Address{}, 600)
		ok(t, "open")(alice.Open(ctx, p, uint256.NewInt(10)))
		ok(t, "deposit")(bob.Deposit(ctx, p, c.Bob.Address(), uint256.NewInt(3)))
		ok(t, "close")(bob.ForceClose(ctx, p, proof(t, c.Alice, p, 1, 2), settlement.Proof{}))
	}
	c.Commit()
	var ref []settlement.Event
	for _, lr := range []uint64{1, 2, 7, 1000} {
		for _, limit := range []int{1, 2, 3, 5, 0} {
			b := c.Backend(t, c.Carol, func(cfg *evm.Config) { cfg.LogRange = lr })
			var got []settlement.Event
			var cur settlement.Cursor
			head, _ := b.Head(ctx)
			for range 1000 {
				evs, next, err := b.Events(ctx, cur, limit)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, evs...)
				cur = next
				if len(evs) == 0 && cur.Block >= head.Number {
					break
				}
			}
			if len(got) != 16 {
				t.Fatalf("range %d limit %d: %d events, want 16", lr, limit, len(got))
			}
			if ref == nil {
				ref = got
			}
			for i := range got {
				if got[i] != ref[i] {
					t.Fatalf("range %d limit %d: event %d differs", lr, limit, i)
				}
			}
		}
	}
	// DeployBlock skips what lies before it.
	late := c.Backend(t, c.Carol, func(cfg *evm.Config) { cfg.DeployBlock = ref[8].Cursor.Block })
	evs, _, err := late.Events(ctx, settlement.Cursor{}, 100)
	if err != nil || len(evs) != 8 {
		t.Fatalf("events from the deploy block: %d, %v; want 8", len(evs), err)
	}
}

// TestGasTable measures the gas of every operation through the backend on
// the mainnet (Osaka) schedule; run with -v to print the table.
func TestGasTable(t *testing.T) {
	c := evmtest.NewChain(t)
	alice, bob, carol := c.Backend(t, c.Alice), c.Backend(t, c.Bob), c.Backend(t, c.Carol)
	var b strings.Builder
	row := func(op string, r settlement.Receipt, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		fmt.Fprintf(&b, "| %-38s | %7d |\n", op, r.GasUsed)
	}
	// The token's very first deposit also creates the adjudicator's balance
	// slot in the token; measure the steady state after it.
	warm := settlement.Params{ChainID: evmtest.ChainID, Adjudicator: crypto.Address(c.Adjudicator),
		Participants: [2]crypto.Address{c.Carol.Address(), c.Mallory.Address()}, Asset: crypto.Address(c.Token), ChallengePeriod: 60}
	ok(t, "warm-up")(carol.Open(ctx, warm, uint256.NewInt(1)))
	tok := bindings.NewTestToken()
	approve := c.Send(t, c.Alice, c.Token, nil, tok.PackApprove(c.Adjudicator, big.NewInt(1e12)))
	fmt.Fprintf(&b, "| %-38s | %7d |\n", "approve (token, before a deposit)", approve.GasUsed)

	eth, usd := common.Address{}, c.Token
	pe, pt := params(c, eth, 3600), params(c, usd, 3600)
	r, err := alice.Open(ctx, pe, uint256.NewInt(1e18))
	row("open ETH", r, err)
	r, err = alice.Open(ctx, pt, uint256.NewInt(100e6))
	row("open token (allowance in place)", r, err)
	r, err = bob.Deposit(ctx, pe, c.Bob.Address(), uint256.NewInt(1e18))
	row("deposit ETH (B's first)", r, err)
	r, err = alice.Deposit(ctx, pe, c.Alice.Address(), uint256.NewInt(2e18))
	row("deposit ETH (top-up)", r, err)
	c.Send(t, c.Bob, c.Token, nil, tok.PackApprove(c.Adjudicator, big.NewInt(1e12)))
	r, err = bob.Deposit(ctx, pt, c.Bob.Address(), uint256.NewInt(50e6))
	row("deposit token (B's first)", r, err)

	dom := crypto.NewDomain(evmtest.ChainID, crypto.Address(c.Adjudicator))
	exp := c.Now(t) + 3600
	w := uint256.NewInt(1e17)
	d := dom.WithdrawDigest(pe.ID(), c.Alice.Address(), w, exp)
	r, err = bob.Withdraw(ctx, pe, c.Alice.Address(), w, exp, [2]crypto.Signature{sign(t, c.Alice, d), sign(t, c.Bob, d)})
	row("withdraw ETH", r, err)
	wt := uint256.NewInt(10e6)
	d = dom.WithdrawDigest(pt.ID(), c.Bob.Address(), wt, exp)
	r, err = alice.Withdraw(ctx, pt, c.Bob.Address(), wt, exp, [2]crypto.Signature{sign(t, c.Alice, d), sign(t, c.Bob, d)})
	row("withdraw token", r, err)

	pe2 := params(c, eth, 3600)
	ok(t, "open")(alice.Open(ctx, pe2, uint256.NewInt(10)))
	bal := [2]uint256.Int{*uint256.NewInt(4), *uint256.NewInt(6)}
	d = dom.CooperativeCloseDigest(pe2.ID(), &bal[0], &bal[1], exp)
	r, err = bob.CooperativeClose(ctx, pe2, bal, exp, [2]crypto.Signature{sign(t, c.Alice, d), sign(t, c.Bob, d)})
	row("cooperative close ETH", r, err)
	pt2 := params(c, usd, 3600)
	ok(t, "open")(alice.Open(ctx, pt2, uint256.NewInt(10)))
	d = dom.CooperativeCloseDigest(pt2.ID(), &bal[0], &bal[1], exp)
	r, err = bob.CooperativeClose(ctx, pt2, bal, exp, [2]crypto.Signature{sign(t, c.Alice, d), sign(t, c.Bob, d)})
	row("cooperative close token", r, err)

	r, err = alice.ForceClose(ctx, pe, settlement.Proof{}, settlement.Proof{})
	row("force close ETH (no proofs)", r, err)
	r, err = bob.Update(ctx, pe, []settlement.Proof{proof(t, c.Alice, pe, 3, 1e17)})
	row("update (1 proof)", r, err)
	r, err = bob.Update(ctx, pe, []settlement.Proof{proof(t, c.Alice, pe, 4, 2e17)})
	row("update (1 proof, replaces one)", r, err)
	r, err = bob.ForceClose(ctx, pt, proof(t, c.Alice, pt, 5, 3e6), proof(t, c.Bob, pt, 2, 1e6))
	row("force close token (both proofs)", r, err)
	c.Advance(t, 3601)
	r, err = carol.Settle(ctx, pe)
	row("settle ETH", r, err)
	r, err = carol.Settle(ctx, pt)
	row("settle token", r, err)
	t.Logf("gas on the mainnet schedule (Osaka), receipt gasUsed:\n| %-38s | %7s |\n|%s|%s|\n%s", "operation", "gas", strings.Repeat("-", 40), strings.Repeat("-", 9), b.String())
}
