package devchain

import (
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"time"
)

// Config configures a dev chain.
type Config struct {
	// HTTPPort is the JSON-RPC port on 127.0.0.1; 0 picks a free one.
	HTTPPort int
	// ChainID is the chain id (default 1337, go-ethereum's dev chain id).
	ChainID uint64
	// Accounts is how many dev accounts are funded (default 4).
	Accounts int
	// Seed derives the dev account keys: the same seed gives the same
	// accounts on every start. Changing it changes every address.
	Seed string
	// BlockPeriod is the interval of the blocks produced while idle, so
	// that chain time advances (default 1s). Transactions are also mined as
	// soon as they arrive. Every block is at least one second after its
	// parent, so a period under a second, or a burst of transactions, makes
	// chain time run ahead of the wall clock. 0 mines only on demand.
	BlockPeriod time.Duration
	// DataDir keeps the chain on disk; "" keeps it in memory, fresh on every
	// start. A chain on disk is reused as long as ChainID, Accounts, Seed
	// and the funding amounts stay the same.
	DataDir string
	// InfoFile, if set, is where the JSON description of the chain (URL,
	// chain id, contract addresses, dev accounts with their keys) is
	// written once the chain is ready; see package devinfo.
	InfoFile string
	// FundETH is each dev account's ETH balance at genesis, in wei
	// (default 1,000,000 ETH).
	FundETH *big.Int
	// FundUSD is how many test dollar base units (6 decimals) are minted to
	// each dev account (default 1,000,000 USD).
	FundUSD *big.Int
	// Logger receives the dev chain's logs, and go-ethereum's node logs;
	// nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults: a free port, chain id 1337, four
// accounts, one block a second, in memory.
func DefaultConfig() Config {
	return Config{
		ChainID:     1337,
		Accounts:    4,
		Seed:        "tinypay devchain",
		BlockPeriod: time.Second,
		FundETH:     new(big.Int).Mul(big.NewInt(1_000_000), big.NewInt(1e18)),
		FundUSD:     new(big.Int).Mul(big.NewInt(1_000_000), big.NewInt(1e6)),
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.HTTPPort < 0 || c.HTTPPort > 65535 {
		errs = append(errs, fmt.Errorf("http port %d out of range", c.HTTPPort))
	}
	if c.ChainID == 0 {
		errs = append(errs, errors.New("chain id is zero"))
	}
	if c.Accounts < 1 || c.Accounts > 1000 {
		errs = append(errs, fmt.Errorf("accounts %d not in [1, 1000]", c.Accounts))
	}
	if c.Seed == "" {
		errs = append(errs, errors.New("seed is empty"))
	}
	if c.BlockPeriod < 0 {
		errs = append(errs, fmt.Errorf("block period %s is negative", c.BlockPeriod))
	}
	if c.FundETH == nil || c.FundETH.Sign() <= 0 {
		errs = append(errs, errors.New("FundETH must be positive"))
	}
	if c.FundUSD == nil || c.FundUSD.Sign() < 0 {
		errs = append(errs, errors.New("FundUSD must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("devchain config: %w", err)
	}
	return nil
}
