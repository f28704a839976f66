package devchain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/big"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/txpool"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/eth"
	"github.com/ethereum/go-ethereum/eth/catalyst"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/eth/filters"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/node"
	"github.com/ethereum/go-ethereum/p2p"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/settlement/devchain/devinfo"
)

// Token facts of the test dollar (settlement/evm/contracts/TestToken.sol).
const (
	TokenSymbol   = "USD"
	TokenDecimals = 6
)

// maxAdvance bounds one AdvanceTime step (about 136 years).
const maxAdvance = 1 << 32

// ChainConfig returns the fork schedule of the dev chain: every fork up to
// and including Osaka, and the BPO1 and BPO2 blob parameter forks, active
// from genesis, as on Ethereum mainnet today. go-ethereum's own dev chain
// defaults also enable forks mainnet has not activated, whose gas schedule
// differs (Amsterdam, Bogota); this one does not.
func ChainConfig(chainID uint64) *params.ChainConfig {
	cfg := *params.AllDevChainProtocolChanges
	zero := uint64(0)
	cfg.ChainID = new(big.Int).SetUint64(chainID)
	cfg.AmsterdamTime = nil
	cfg.BogotaTime = nil
	cfg.UBTTime = nil
	cfg.BPO1Time = &zero
	cfg.BPO2Time = &zero
	cfg.BlobScheduleConfig = &params.BlobScheduleConfig{
		Cancun: params.DefaultCancunBlobConfig,
		Prague: params.DefaultPragueBlobConfig,
		BPO1:   params.DefaultBPO1BlobConfig,
		BPO2:   params.DefaultBPO2BlobConfig,
	}
	return &cfg
}

// Chain is a running dev chain: a go-ethereum node in dev mode, in this
// process, serving JSON-RPC on 127.0.0.1, with the adjudicator and the
// test dollar deployed and the dev accounts funded. Its methods are safe
// for concurrent use.
type Chain struct {
	cfg    Config
	log    *slog.Logger
	stack  *node.Node
	eth    *eth.Ethereum
	beacon *catalyst.SimulatedBeacon
	client *ethclient.Client // in-process
	keys   []*crypto.PrivateKey
	info   devinfo.Info

	mu     sync.Mutex // serializes block production (the beacon is not safe for concurrent use)
	closed bool       // guarded by mu
	ready  atomic.Bool
	quit   chan struct{}
	done   chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// Start starts a dev chain and returns once it is ready: contracts
// deployed, accounts funded, the info file written. Close stops it.
func Start(ctx context.Context, cfg Config) (*Chain, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c := &Chain{cfg: cfg, log: logger.With("component", "devchain"), quit: make(chan struct{}), done: make(chan struct{})}
	for i := range cfg.Accounts {
		c.keys = append(c.keys, AccountKey(cfg.Seed, i))
	}
	deployer := deployerKey(cfg.Seed)

	alloc := core.SystemContractAllocs()
	maps.Copy(alloc, precompileAllocs())
	for _, k := range c.keys {
		alloc[common.Address(k.Address())] = types.Account{Balance: new(big.Int).Set(cfg.FundETH)}
	}
	alloc[common.Address(deployer.Address())] = types.Account{Balance: new(big.Int).Set(cfg.FundETH)}

	ethConf := ethconfig.Defaults
	ethConf.Genesis = &core.Genesis{
		Config:     ChainConfig(cfg.ChainID),
		GasLimit:   ethconfig.Defaults.Miner.GasCeil,
		BaseFee:    big.NewInt(params.InitialBaseFee),
		Difficulty: big.NewInt(0),
		Alloc:      alloc,
	}
	ethConf.NetworkId = cfg.ChainID
	ethConf.SyncMode = ethconfig.FullSync
	ethConf.TxPool.NoLocals = true
	// No log index: eth_getLogs scans block blooms instead, which is quick
	// on a dev chain, while loading the index on a restart is slow.
	ethConf.LogNoHistory = true
	ethConf.Miner.GasPrice = big.NewInt(1) // accept any tip, as geth --dev does
	// Small caches: a dev chain holds little state.
	ethConf.DatabaseCache, ethConf.TrieCleanCache, ethConf.TrieDirtyCache, ethConf.SnapshotCache = 64, 32, 32, 16

	nodeConf := node.Config{
		Name:                 "tinypay-devchain",
		DataDir:              cfg.DataDir,
		HTTPHost:             "127.0.0.1",
		HTTPPort:             cfg.HTTPPort,
		HTTPModules:          []string{"eth", "net", "web3", "tinypay"},
		HTTPVirtualHosts:     []string{"localhost"},
		HTTPTimeouts:         rpc.DefaultHTTPTimeouts,
		BatchRequestLimit:    node.DefaultConfig.BatchRequestLimit,
		BatchResponseMaxSize: node.DefaultConfig.BatchResponseMaxSize,
		HTTPBodyLimit:        node.DefaultConfig.HTTPBodyLimit,
		P2P:                  p2p.Config{NoDiscovery: true, NoDial: true, MaxPeers: 0, ListenAddr: ""},
		Logger:               log.NewLogger(c.log.Handler()),
	}
	stack, err := node.New(&nodeConf)
	if err != nil {
		return nil, fmt.Errorf("devchain: node: %w", err)
	}
	c.stack = stack
	fail := func(err error) (*Chain, error) {
		_ = stack.Close()
		return nil, err
	}
	c.eth, err = eth.New(stack, &ethConf)
	if err != nil {
		if cfg.DataDir != "" {
			err = fmt.Errorf("%w (the data directory %s may hold a chain made with another chain id, seed, account count or funding; remove it or start with the same settings)", err, cfg.DataDir)
		}
		return fail(fmt.Errorf("devchain: ethereum service: %w", err))
	}
	filterSystem := filters.NewFilterSystem(c.eth.APIBackend, filters.Config{})
	stack.RegisterAPIs([]rpc.API{
		{Namespace: "eth", Service: filters.NewFilterAPI(filterSystem)},
		{Namespace: "tinypay", Service: &api{c: c}},
	})
	if err := stack.Start(); err != nil {
		return fail(fmt.Errorf("devchain: start node: %w", err))
	}
	c.beacon, err = catalyst.NewSimulatedBeacon(0, common.Address{}, c.eth)
	if err != nil {
		return fail(fmt.Errorf("devchain: beacon: %w", err))
	}
	c.client = ethclient.NewClient(stack.Attach())

	adj, token, deployBlock, err := c.deploy(ctx, deployer)
	if err != nil {
		c.client.Close()
		return fail(fmt.Errorf("devchain: deploy: %w", err))
	}
	c.info = devinfo.Info{
		Warning:     devinfo.Warning,
		RPCURL:      stack.HTTPEndpoint(),
		ChainID:     cfg.ChainID,
		Adjudicator: adj.Hex(),
		DeployBlock: deployBlock,
		BlockPeriod: cfg.BlockPeriod.Seconds(),
		Token:       devinfo.Token{Address: token.Hex(), Symbol: TokenSymbol, Decimals: TokenDecimals},
	}
	for _, k := range c.keys {
		c.info.Accounts = append(c.info.Accounts, devinfo.Account{
			Address:    k.Address().Hex(),
			PrivateKey: "0x" + common.Bytes2Hex(k.Bytes()),
		})
	}
	if cfg.InfoFile != "" {
		if err := devinfo.Write(cfg.InfoFile, c.info); err != nil {
			c.client.Close()
			return fail(fmt.Errorf("devchain: write %s: %w", cfg.InfoFile, err))
		}
	}
	c.ready.Store(true)
	go c.loop()
	c.log.Info("dev chain ready", "url", c.info.RPCURL, "chainId", cfg.ChainID, "adjudicator", adj, "token", token, "accounts", len(c.keys))
	return c, nil
}

// Close stops block production and the node. It is safe to call more than
// once.
func (c *Chain) Close() error {
	c.closeOnce.Do(func() {
		close(c.quit)
		<-c.done
		c.mu.Lock()
		defer c.mu.Unlock()
		c.closed = true
		c.client.Close()
		errs := []error{c.beacon.Stop(), c.stack.Close()}
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}

// Info returns the description of the chain (what the info file holds).
func (c *Chain) Info() devinfo.Info {
	i := c.info
	i.Accounts = append([]devinfo.Account(nil), i.Accounts...)
	return i
}

// URL returns the JSON-RPC endpoint.
func (c *Chain) URL() string { return c.info.RPCURL }

// Keys returns the dev accounts' keys.
func (c *Chain) Keys() []*crypto.PrivateKey { return append([]*crypto.PrivateKey(nil), c.keys...) }

// Client returns an in-process client of the chain (no HTTP). The chain
// owns it.
func (c *Chain) Client() *ethclient.Client { return c.client }

// AdvanceTime mines a block whose timestamp is seconds after the latest
// block's (pending transactions are mined first, in their own block) and
// returns the new latest block's timestamp. Use it to pass challenge
// periods. Chain time never goes back: later blocks follow the new time,
// one second or more apart, even if that is ahead of the wall clock.
func (c *Chain) AdvanceTime(ctx context.Context, seconds uint64) (uint64, error) {
	if seconds > maxAdvance {
		return 0, fmt.Errorf("devchain: advance by %d s: at most %d", seconds, uint64(maxAdvance))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, errors.New("devchain: closed")
	}
	var err error
	for range 50 {
		if err = ctx.Err(); err != nil {
			return 0, err
		}
		c.mineLocked()
		if err = c.beacon.AdjustTime(time.Duration(seconds) * time.Second); err == nil {
			break
		}
		// A transaction slipped in between: mine it and try again.
		time.Sleep(2 * time.Millisecond)
	}
	if err != nil {
		return 0, fmt.Errorf("devchain: advance time: %w", err)
	}
	head := c.eth.BlockChain().CurrentBlock()
	c.log.Info("chain time advanced", "seconds", seconds, "block", head.Number, "time", head.Time)
	return head.Time, nil
}

// loop produces a block every BlockPeriod and mines transactions as soon
// as they reach the pool.
//
// The pool announces new transactions on an event feed whose Send blocks
// until every subscriber has taken the event, and the pool's Sync waits
// for the pool's own loop. So the subscription is drained by its own
// goroutine, which only ever sets a one-slot flag: were the mining loop to
// read the subscription itself, a burst of announcements could fill its
// buffer while the loop sits in Sync, the pool would block sending the
// next one, and Sync would never return (the chain stopped mining after a
// few thousand concurrent transactions).
func (c *Chain) loop() {
	defer close(c.done)
	txs := make(chan core.NewTxsEvent, 64)
	sub := c.eth.TxPool().SubscribeTransactions(txs, true)
	defer sub.Unsubscribe()
	pending := make(chan struct{}, 1)
	drained := make(chan struct{})
	defer func() { <-drained }()
	go func() {
		defer close(drained)
		for {
			select {
			case <-c.quit:
				return
			case <-sub.Err():
				return
			case <-txs:
				select {
				case pending <- struct{}{}:
				default: // a pass is already due; it mines this one too
				}
			}
		}
	}()
	var tick <-chan time.Time
	if c.cfg.BlockPeriod > 0 {
		t := time.NewTicker(c.cfg.BlockPeriod)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-c.quit:
			return
		case <-drained:
			return // the subscription ended
		case <-tick:
			c.mu.Lock()
			c.beacon.Commit()
			c.mu.Unlock()
		case <-pending:
			c.mu.Lock()
			more := c.mineLocked()
			c.mu.Unlock()
			if more { // the pass was bounded: come back after other work
				select {
				case pending <- struct{}{}:
				default:
				}
			}
		}
	}
}

// mineLocked mines blocks until the pool has no executable transaction
// left, at most 16 at a time, and reports whether some are left. c.mu must
// be held.
func (c *Chain) mineLocked() (more bool) {
	pool := c.eth.TxPool()
	for range 16 {
		_ = pool.Sync()
		if pending, _ := pool.Pending(txpool.PendingFilter{}); len(pending) == 0 {
			return false
		}
		c.beacon.Commit()
	}
	return true
}

// api is the "tinypay" JSON-RPC namespace of the dev chain.
type api struct{ c *Chain }

// AdvanceTime is tinypay_advanceTime(seconds): see Chain.AdvanceTime. It
// returns the new latest block's timestamp.
func (a *api) AdvanceTime(ctx context.Context, seconds uint64) (uint64, error) {
	if !a.c.ready.Load() {
		return 0, errNotReady
	}
	return a.c.AdvanceTime(ctx, seconds)
}

// Info is tinypay_info(): the dev chain description (see package devinfo).
func (a *api) Info() (devinfo.Info, error) {
	if !a.c.ready.Load() {
		return devinfo.Info{}, errNotReady
	}
	return a.c.Info(), nil
}

var errNotReady = errors.New("dev chain is starting")

// AccountKey returns dev account i's key for seed: keccak256 of
// "<seed>/account/<i>" (hashed again in the negligible case it is not a
// valid key).
func AccountKey(seed string, i int) *crypto.PrivateKey {
	return keyFrom(seed + "/account/" + strconv.Itoa(i))
}

func deployerKey(seed string) *crypto.PrivateKey { return keyFrom(seed + "/deployer") }

func keyFrom(s string) *crypto.PrivateKey {
	h := crypto.Keccak256([]byte(s))
	for {
		if k, err := crypto.PrivateKeyFromBytes(h[:]); err == nil {
			return k
		}
		h = crypto.Keccak256(h[:])
	}
}

// precompileAllocs gives the precompiles one wei, as go-ethereum's dev
// genesis does, so they are never empty accounts.
func precompileAllocs() types.GenesisAlloc {
	alloc := types.GenesisAlloc{}
	for _, a := range []common.Address{
		common.BytesToAddress([]byte{0x01}), common.BytesToAddress([]byte{0x02}), common.BytesToAddress([]byte{0x03}),
		common.BytesToAddress([]byte{0x04}), common.BytesToAddress([]byte{0x05}), common.BytesToAddress([]byte{0x06}),
		common.BytesToAddress([]byte{0x07}), common.BytesToAddress([]byte{0x08}), common.BytesToAddress([]byte{0x09}),
		common.BytesToAddress([]byte{0x0a}), common.BytesToAddress([]byte{0x0b}), common.BytesToAddress([]byte{0x0c}),
		common.BytesToAddress([]byte{0x0d}), common.BytesToAddress([]byte{0x0e}), common.BytesToAddress([]byte{0x0f}),
		common.BytesToAddress([]byte{0x10}), common.BytesToAddress([]byte{0x11}), common.BytesToAddress([]byte{0x01, 0x00}),
	} {
		alloc[a] = types.Account{Balance: big.NewInt(1)}
	}
	return alloc
}
