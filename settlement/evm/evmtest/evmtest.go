// Package evmtest runs the adjudicator on go-ethereum's simulated chain
// (ethclient/simulated) for tests: the contracts deployed, four funded
// accounts (alice, bob, carol, mallory), a client that mines a block as soon
// as a transaction is sent, chain time under the test's control, and
// constructors for evm.Backends and conformance-suite harnesses.
//
// The chain uses the dev chain's fork schedule (mainnet's, through Osaka;
// devchain.ChainConfig) and starts at a fixed timestamp far ahead of the
// wall clock, so every block is exactly one second after its parent unless
// the test advances time.
package evmtest

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	gethcrypto "github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/node"
	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/settlement/devchain"
	"github.com/tinypay/tinypay/settlement/evm"
	"github.com/tinypay/tinypay/settlement/evm/bindings"
	"github.com/tinypay/tinypay/settlement/evm/bindings/testbindings"
	"github.com/tinypay/tinypay/settlement/settlementtest"
)

// Simulated chain facts.
const (
	ChainID     = 1337          // the simulated backend's chain id
	GenesisTime = 4_000_000_000 // far ahead of the wall clock: deterministic block times
)

// Amounts every account holds at the start.
var (
	FundETH = new(big.Int).Mul(big.NewInt(1_000_000), big.NewInt(1e18))
	FundUSD = new(big.Int).Mul(big.NewInt(1_000_000), big.NewInt(1e6))
)

// Chain is a simulated chain with the adjudicator and the test dollar.
type Chain struct {
	Sim         *simulated.Backend
	Adjudicator common.Address
	Token       common.Address
	// Alice, Bob, Carol and Mallory are funded with FundETH and FundUSD.
	Alice, Bob, Carol, Mallory *crypto.PrivateKey

	client *Client
}

// Key returns the deterministic test key called name.
func Key(name string) *crypto.PrivateKey {
	h := crypto.Keccak256([]byte("tinypay evm test " + name))
	k, err := crypto.PrivateKeyFromBytes(h[:])
	if err != nil {
		panic(err)
	}
	return k
}

// NewChain starts a simulated chain; it is closed when the test ends.
func NewChain(t testing.TB) *Chain {
	t.Helper()
	c := &Chain{Alice: Key("alice"), Bob: Key("bob"), Carol: Key("carol"), Mallory: Key("mallory")}
	alloc := types.GenesisAlloc{}
	for _, k := range c.Keys() {
		alloc[common.Address(k.Address())] = types.Account{Balance: new(big.Int).Set(FundETH)}
	}
	c.Sim = simulated.NewBackend(alloc, func(_ *node.Config, ec *ethconfig.Config) {
		ec.Genesis.Config = devchain.ChainConfig(ChainID)
		ec.Genesis.Timestamp = GenesisTime
	})
	t.Cleanup(func() { _ = c.Sim.Close() })
	c.client = &Client{Client: c.Sim.Client(), sim: c.Sim}

	c.Adjudicator = c.Deploy(t, c.Carol, bindings.AdjudicatorMetaData.Bin)
	c.Token = c.Deploy(t, c.Carol, bindings.TestTokenMetaData.Bin)
	tok := bindings.NewTestToken()
	for _, k := range c.Keys() {
		c.Send(t, c.Carol, c.Token, nil, tok.PackMint(common.Address(k.Address()), FundUSD))
	}
	return c
}

// Keys returns alice, bob, carol and mallory.
func (c *Chain) Keys() []*crypto.PrivateKey {
	return []*crypto.PrivateKey{c.Alice, c.Bob, c.Carol, c.Mallory}
}

// Client returns the chain's client, which mines every transaction sent
// through it at once.
func (c *Chain) Client() *Client { return c.client }

// Config returns a backend configuration for the chain: no confirmations,
// fast polling, and a short settle wait.
func (c *Chain) Config() evm.Config {
	cfg := evm.DefaultConfig()
	cfg.ChainID = ChainID
	cfg.Adjudicator = crypto.Address(c.Adjudicator)
	cfg.Confirmations = 0
	cfg.PollInterval = 10 * time.Millisecond
	cfg.ReceiptTimeout = 30 * time.Second
	cfg.SettleWait = 2 * time.Second
	return cfg
}

// Backend returns a backend for key on the chain; mutate adjusts the
// configuration.
func (c *Chain) Backend(t testing.TB, key *crypto.PrivateKey, mutate ...func(*evm.Config)) *evm.Backend {
	t.Helper()
	cfg := c.Config()
	for _, m := range mutate {
		m(&cfg)
	}
	b, err := evm.New(context.Background(), c.client, key, cfg)
	if err != nil {
		t.Fatalf("evm backend: %v", err)
	}
	return b
}

// Harness returns a conformance-suite harness: Alice and Bob on this chain.
func (c *Chain) Harness(t testing.TB) *settlementtest.Harness {
	return &settlementtest.Harness{
		Alice: c.Backend(t, c.Alice), Bob: c.Backend(t, c.Bob),
		AliceKey: c.Alice, BobKey: c.Bob,
		Token:             crypto.Address(c.Token),
		Advance:           c.Advance,
		SetRejectPayments: c.SetRejectPayments,
	}
}

// Now returns the latest block's timestamp.
func (c *Chain) Now(t testing.TB) uint64 {
	t.Helper()
	h, err := c.client.HeaderByNumber(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return h.Time
}

// Advance mines an empty block seconds after the latest one.
func (c *Chain) Advance(t testing.TB, seconds uint64) {
	t.Helper()
	c.client.mu.Lock()
	defer c.client.mu.Unlock()
	// The pool drops mined transactions asynchronously, and AdjustTime
	// refuses to run while it lists any: retry briefly.
	var err error
	for range 400 {
		if err = c.Sim.AdjustTime(time.Duration(seconds) * time.Second); err == nil {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("advance time: %v", err)
}

// Commit mines an empty block (one second later).
func (c *Chain) Commit() {
	c.client.mu.Lock()
	defer c.client.mu.Unlock()
	c.Sim.Commit()
}

// Deploy deploys creation code from key and returns the address.
func (c *Chain) Deploy(t testing.TB, key *crypto.PrivateKey, bin string) common.Address {
	t.Helper()
	r := c.send(t, key, nil, nil, common.FromHex(bin), nil)
	return r.ContractAddress
}

// Send sends a transaction from key that must succeed, and returns its
// receipt.
func (c *Chain) Send(t testing.TB, key *crypto.PrivateKey, to common.Address, value *big.Int, data []byte) *types.Receipt {
	t.Helper()
	return c.send(t, key, &to, value, data, nil)
}

func (c *Chain) send(t testing.TB, key *crypto.PrivateKey, to *common.Address, value *big.Int, data []byte, auths []types.SetCodeAuthorization) *types.Receipt {
	t.Helper()
	ctx := context.Background()
	from := common.Address(key.Address())
	ek, err := gethcrypto.ToECDSA(key.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	nonce, err := c.client.PendingNonceAt(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	head, err := c.client.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	tip := big.NewInt(1e9)
	feeCap := new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(2)), tip)
	msg := ethereum.CallMsg{From: from, To: to, Value: value, Data: data, AuthorizationList: auths}
	gas, err := c.client.EstimateGas(ctx, msg)
	if err != nil {
		t.Fatalf("estimate gas: %v", err)
	}
	gas = gas * 3 / 2
	var txdata types.TxData
	if auths != nil {
		v := new(uint256.Int)
		if value != nil {
			v = uint256.MustFromBig(value)
		}
		txdata = &types.SetCodeTx{ChainID: uint256.NewInt(ChainID), Nonce: nonce, GasTipCap: uint256.MustFromBig(tip),
			GasFeeCap: uint256.MustFromBig(feeCap), Gas: gas, To: *to, Value: v, Data: data, AuthList: auths}
	} else {
		txdata = &types.DynamicFeeTx{ChainID: big.NewInt(ChainID), Nonce: nonce, GasTipCap: tip, GasFeeCap: feeCap, Gas: gas, To: to, Value: value, Data: data}
	}
	tx, err := types.SignNewTx(ek, types.LatestSignerForChainID(big.NewInt(ChainID)), txdata)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.client.SendTransaction(ctx, tx); err != nil {
		t.Fatalf("send: %v", err)
	}
	r, err := c.client.TransactionReceipt(ctx, tx.Hash())
	if err != nil {
		t.Fatalf("receipt: %v", err)
	}
	if r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("transaction %s failed", tx.Hash())
	}
	return r
}

// SetRejectPayments makes account (an externally owned account) refuse ETH
// sent to it, or accept it again: it delegates the account's code to a
// ReentrantReceiver with EIP-7702 (once) and sets its reject flag, in
// transactions the account itself sends and pays for.
func (c *Chain) SetRejectPayments(t testing.TB, account crypto.Address, reject bool) {
	t.Helper()
	var key *crypto.PrivateKey
	for _, k := range c.Keys() {
		if k.Address() == account {
			key = k
		}
	}
	if key == nil {
		t.Fatalf("no key for %s", account)
	}
	addr := common.Address(account)
	rr := testbindings.NewReentrantReceiver()
	code, err := c.client.CodeAt(context.Background(), addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(code) == 0 {
		impl := c.Deploy(t, c.Carol, testbindings.ReentrantReceiverMetaData.Bin)
		ek, err := gethcrypto.ToECDSA(key.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		nonce, err := c.client.PendingNonceAt(context.Background(), addr)
		if err != nil {
			t.Fatal(err)
		}
		// The account sends the set-code transaction itself, so the
		// authorization carries the nonce after the transaction's.
		auth, err := types.SignSetCode(ek, types.SetCodeAuthorization{ChainID: *uint256.NewInt(ChainID), Address: impl, Nonce: nonce + 1})
		if err != nil {
			t.Fatal(err)
		}
		c.send(t, key, &addr, nil, rr.PackSetRejectPayments(reject), []types.SetCodeAuthorization{auth})
		return
	}
	c.Send(t, key, addr, nil, rr.PackSetRejectPayments(reject))
}

// Client is the simulated chain's client, which mines a block as soon as a
// transaction is sent and returns once the transaction is in it.
type Client struct {
	simulated.Client
	sim *simulated.Backend
	mu  sync.Mutex // block production
}

var _ evm.Client = (*Client)(nil)

// SendTransaction sends tx and mines it.
func (c *Client) SendTransaction(ctx context.Context, tx *types.Transaction) error {
	if err := c.Client.SendTransaction(ctx, tx); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for range 100 {
		c.sim.Commit()
		if _, err := c.Client.TransactionReceipt(ctx, tx.Hash()); err == nil {
			return nil
		} else if !errors.Is(err, ethereum.NotFound) {
			return err
		}
		// The pool had not offered the transaction to that block yet.
		time.Sleep(2 * time.Millisecond)
	}
	return fmt.Errorf("evmtest: transaction %s not mined", tx.Hash())
}
