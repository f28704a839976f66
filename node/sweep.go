package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/settlement"
)

// SweepConfig is the sweep policy: the node moves what its wallet holds
// above a threshold, per asset, to another address, at start and after
// every payout or withdrawal of its own that lands on chain. The zero
// value (no To) sweeps nothing.
type SweepConfig struct {
	// To receives the sweeps.
	To crypto.Address
	// Above lists the assets to sweep, each with the balance the wallet
	// keeps; assets not listed are never swept.
	Above []SweepThreshold
	// GasReserve is the ETH the wallet always keeps for gas: an ETH sweep
	// never takes the balance below it (nor below ETH's own threshold).
	GasReserve uint256.Int
	// Attempts bounds the tries of one sweep; the first retry waits
	// RetryDelay, each later one twice as long. After the last, the sweep
	// waits for the next payout, withdrawal or start.
	Attempts   int
	RetryDelay time.Duration
}

// SweepThreshold is one asset of the sweep policy and what the wallet
// keeps of it.
type SweepThreshold struct {
	Asset crypto.Address
	Above uint256.Int
}

// DefaultGasReserve is the ETH (in wei) an ETH sweep leaves for gas by
// default: 0.01 ETH.
var DefaultGasReserve = *uint256.NewInt(10_000_000_000_000_000)

func (s SweepConfig) validate(assets []Asset) error {
	if s.To.IsZero() {
		if len(s.Above) > 0 {
			return errors.New("sweep thresholds are set but no sweep destination")
		}
		return nil
	}
	if len(s.Above) == 0 {
		return fmt.Errorf("a sweep destination (%s) needs at least one threshold: which assets to sweep, above what", s.To)
	}
	known := map[crypto.Address]bool{{}: true}
	for _, a := range assets {
		known[a.Address] = true
	}
	seen := map[crypto.Address]bool{}
	for _, th := range s.Above {
		switch {
		case !known[th.Asset]:
			return fmt.Errorf("sweep threshold for asset %s, which the node does not know", th.Asset)
		case seen[th.Asset]:
			return fmt.Errorf("two sweep thresholds for asset %s", th.Asset)
		}
		seen[th.Asset] = true
	}
	if s.Attempts < 1 || s.RetryDelay <= 0 {
		return errors.New("sweep attempts must be at least 1 and the retry delay positive")
	}
	return nil
}

// SweepPolicy returns the node's sweep policy (Config.Sweep; no To: none).
func (n *Node) SweepPolicy() SweepConfig {
	p := n.cfg.Sweep
	p.Above = slices.Clone(p.Above)
	return p
}

// sweeper is the owner of the sweep policy's work: one goroutine
// (sweepLoop) sweeps the assets that are due, one at a time; the chain
// watcher marks them due without waiting (kick).
type sweeper struct {
	mu   sync.Mutex
	due  map[crypto.Address]bool
	wake chan struct{} // capacity 1
}

// startSweeper starts the sweep loop if a policy is set; every asset of
// the policy is due at once (a payout may have landed while the node was
// down, or before a crash let it sweep).
func (n *Node) startSweeper() {
	if n.cfg.Sweep.To.IsZero() {
		return
	}
	n.sweep.wake = make(chan struct{}, 1)
	n.sweep.due = map[crypto.Address]bool{}
	for _, th := range n.cfg.Sweep.Above {
		n.sweep.due[th.Asset] = true
	}
	n.wg.Add(1)
	go n.sweepLoop()
}

// kickSweep marks asset due for a sweep, if the policy sweeps it. It never
// blocks (the watcher calls it).
func (n *Node) kickSweep(asset crypto.Address) {
	if n.cfg.Sweep.To.IsZero() {
		return
	}
	for _, th := range n.cfg.Sweep.Above {
		if th.Asset == asset {
			n.sweep.mu.Lock()
			n.sweep.due[asset] = true
			n.sweep.mu.Unlock()
			select {
			case n.sweep.wake <- struct{}{}:
			default:
			}
			return
		}
	}
}

// takeDue returns the thresholds of the assets due, in the policy's
// order, and clears them.
func (s *sweeper) takeDue(all []SweepThreshold) []SweepThreshold {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []SweepThreshold
	for _, th := range all {
		if s.due[th.Asset] {
			out = append(out, th)
			delete(s.due, th.Asset)
		}
	}
	return out
}

func (n *Node) sweepLoop() {
	defer n.wg.Done()
	for {
		for _, th := range n.sweep.takeDue(n.cfg.Sweep.Above) {
			n.sweepAsset(th)
			if n.ctx.Err() != nil {
				return
			}
		}
		select {
		case <-n.ctx.Done():
			return
		case <-n.sweep.wake:
		}
	}
}

// sweepAsset sweeps one asset, with bounded retries.
func (n *Node) sweepAsset(th SweepThreshold) {
	cfg := n.cfg.Sweep
	a := n.assetAt(th.Asset)
	delay := cfg.RetryDelay
	for attempt := 1; ; attempt++ {
		err := n.sweepOnce(th, a)
		if err == nil || n.ctx.Err() != nil {
			return
		}
		if attempt >= cfg.Attempts {
			n.log.Warn("sweep given up; the next payout, withdrawal or start tries again", "asset", a.Symbol, "attempts", attempt, "err", err)
			return
		}
		n.log.Warn("sweep failed, trying again", "asset", a.Symbol, "attempt", attempt, "in", delay, "err", err)
		select {
		case <-time.After(delay):
		case <-n.ctx.Done():
			return
		}
		delay *= 2
	}
}

// errTransferInFlight: a transfer of the node's funds is in progress; its
// outcome changes the balance a sweep would start from.
var errTransferInFlight = errors.New("a transfer of this node's funds is in flight")

// sweepOnce sends what the wallet holds of a above its threshold. It
// starts from the chain's balance, after every transfer in progress has
// ended (one recorded before a restart is resolved first), so a sweep that
// was sent before a crash lowered the balance and is never sent twice.
func (n *Node) sweepOnce(th SweepThreshold, a Asset) error {
	if n.wallet.busy() {
		return errTransferInFlight
	}
	keep := th.Above
	if a.Address.IsZero() && n.cfg.Sweep.GasReserve.Gt(&keep) {
		keep = n.cfg.Sweep.GasReserve
	}
	ctx, cancel := n.chainRead()
	bal, err := n.chain.Balance(ctx, n.self, a.Address)
	cancel()
	if err != nil {
		return fmt.Errorf("wallet balance: %w", err)
	}
	if !bal.Gt(&keep) {
		n.log.Debug("nothing to sweep", "asset", a.Symbol, "balance", bal.Dec(), "keep", keep.Dec())
		return nil
	}
	req := SendRequest{
		Key: fmt.Sprintf("%s%s:%d", sweepKeyPrefix, a.Address.Hex(), n.clock.Now().UnixNano()),
		To:  n.cfg.Sweep.To, Asset: a.Address, All: true, keep: keep,
	}
	ctx, cancel = context.WithTimeout(n.ctx, n.cfg.ChainTxTimeout)
	defer cancel()
	info, err := n.send(ctx, req, a, OriginSweep)
	if err != nil && a.Address.IsZero() && errors.Is(err, settlement.ErrInsufficientFunds) && !errors.Is(err, ErrTransferPending) {
		n.log.Debug("nothing to sweep above the gas", "asset", a.Symbol, "balance", bal.Dec(), "keep", keep.Dec(), "err", err)
		return nil
	}
	if err != nil {
		return err
	}
	n.log.Info("swept", "asset", a.Symbol, "amount", info.Amount.Dec(), "to", info.To, "tx", info.TxHash, "kept", keep.Dec())
	return nil
}
