package evm

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tinypay/tinypay/crypto"
)

// Config configures a Backend.
type Config struct {
	// Adjudicator is the address of the deployed adjudicator contract.
	Adjudicator crypto.Address
	// ChainID is the chain the adjudicator lives on; New refuses an
	// endpoint that serves another chain (ErrWrongChain).
	ChainID uint64
	// Confirmations is how many blocks must be built on top of the block
	// that includes a transaction before a transaction method returns, and
	// how far Head and Events stay behind the latest block. 0 trusts the
	// latest block (dev chains, tests); the default 1 rides out a one-block
	// reorg.
	Confirmations uint64
	// DeployBlock is the block the adjudicator was deployed in: Events never
	// scans below it. 0 scans from genesis.
	DeployBlock uint64
	// PollInterval is the longest pause between two polls for a receipt or a
	// new block. Polling starts at 20ms and doubles up to PollInterval, so
	// fast chains answer fast and slow ones are not hammered.
	PollInterval time.Duration
	// ReceiptTimeout bounds how long a transaction method waits for its
	// transaction to be mined and confirmed (ErrReceiptTimeout).
	ReceiptTimeout time.Duration
	// GasHeadroom is the percentage added to the gas estimate to form the
	// transaction's gas limit.
	GasHeadroom uint64
	// SettleWait is how long Settle waits for a block past the end of the
	// challenge period. If the period ends later than that (in chain time)
	// Settle returns at once with a *settlement.RevertError
	// (ChallengePeriodNotOver) that says how many seconds remain. 0 never
	// waits.
	SettleWait time.Duration
	// LogRange is the largest block range one eth_getLogs request covers;
	// Events halves it on demand for endpoints that refuse large ranges.
	LogRange uint64
	// Logger receives debug and info logs; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults; Adjudicator and ChainID must still be
// set.
func DefaultConfig() Config {
	return Config{
		Confirmations:  1,
		PollInterval:   time.Second,
		ReceiptTimeout: 5 * time.Minute,
		GasHeadroom:    25,
		SettleWait:     30 * time.Second,
		LogRange:       2000,
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.Adjudicator.IsZero() {
		errs = append(errs, errors.New("adjudicator address is not set"))
	}
	if c.ChainID == 0 {
		errs = append(errs, errors.New("chain id is not set"))
	}
	if c.Confirmations > 1000 {
		errs = append(errs, fmt.Errorf("confirmations %d is over 1000", c.Confirmations))
	}
	if c.PollInterval <= 0 {
		errs = append(errs, fmt.Errorf("poll interval %s is not positive", c.PollInterval))
	}
	if c.ReceiptTimeout <= 0 {
		errs = append(errs, fmt.Errorf("receipt timeout %s is not positive", c.ReceiptTimeout))
	}
	if c.GasHeadroom > 400 {
		errs = append(errs, fmt.Errorf("gas headroom %d%% is over 400%%", c.GasHeadroom))
	}
	if c.SettleWait < 0 {
		errs = append(errs, fmt.Errorf("settle wait %s is negative", c.SettleWait))
	}
	if c.LogRange == 0 {
		errs = append(errs, errors.New("log range is zero"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("evm config: %w", err)
	}
	return nil
}
