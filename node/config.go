package node

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
)

// Asset describes a currency channels can hold: ETH (the zero address) or
// an ERC-20 token.
type Asset struct {
	Address  crypto.Address
	Symbol   string
	Decimals uint8
}

// Format writes base units in the asset's units with its symbol:
// "0.0025 USD".
func (a Asset) Format(v *uint256.Int) string {
	return channel.FormatUnits(v, uint32(a.Decimals)) + " " + a.Symbol
}

// ETH is the chain's native currency.
var ETH = Asset{Symbol: "ETH", Decimals: 18}

// Config configures a Node. Build it with DefaultConfig and adjust.
type Config struct {
	// Assets the node knows by symbol, besides ETH. Channels in other
	// tokens are refused.
	Assets []Asset
	// ChallengePeriod is used for channels this node opens when the caller
	// names none; MinChallengePeriod and MaxChallengePeriod bound what it
	// accepts from peers (seconds).
	ChallengePeriod    uint64
	MinChallengePeriod uint64
	MaxChallengePeriod uint64
	// TermsLifetime is how long cooperative-close and withdraw signatures
	// stay valid on chain (seconds past the chain's current time).
	TermsLifetime uint64
	// MaxInFlight bounds the proofs per channel sent and not yet
	// acknowledged (the pipeline depth).
	MaxInFlight int
	// MaxParts bounds the payments one proof may cover (coalescing).
	MaxParts int
	// ChainPoll is how often the chain is polled for events and the
	// dispute duties are checked.
	ChainPoll time.Duration
	// RequestTimeout bounds waiting for a peer's reply (proposals,
	// countersignatures).
	RequestTimeout time.Duration
	// Redial is the delay between attempts to reach a disconnected peer
	// that shares open channels; after each failed attempt the next waits
	// twice as long, up to RedialMax.
	Redial    time.Duration
	RedialMax time.Duration
	// MaxProposalsPerPeer and MaxProposals bound the channels peers
	// proposed to this node within the last ProposalExpiry that have not
	// opened on chain (still opening, or given up: proposing and
	// abandoning in a loop counts), from one peer and in total; a proposal
	// beyond them is refused.
	MaxProposalsPerPeer int
	MaxProposals        int
	// ProposalExpiry is how long a channel may stay opening: one that is
	// not open on chain by then is abandoned on both sides (the chain is
	// checked first), and one a peer proposed is forgotten.
	ProposalExpiry time.Duration
	// MaxStrangerSessions bounds the inbound sessions of peers that share
	// no channel with this node (any key can make one); a newcomer beyond
	// it is disconnected at once.
	MaxStrangerSessions int
	// MaxStrangerSessionsPerSource bounds those from one source (an IPv4
	// address, an IPv6 /64: see SourceOf), so that one host cannot take
	// every place.
	MaxStrangerSessionsPerSource int
	// MaxRefundsPerMinute bounds the payments per channel and minute that
	// the application refuses and the node refunds (each costs a record
	// and a signature); a proof beyond it is refused whole.
	MaxRefundsPerMinute int
	// ChainReadTimeout bounds one read of the chain (a head, a page of
	// events, a channel's record); a hung endpoint delays only what needs
	// that read.
	ChainReadTimeout time.Duration
	// ChainTxTimeout bounds one chain transaction, from sending to its
	// confirmation.
	ChainTxTimeout time.Duration
	// DrainTimeout bounds how long a cooperative close waits for this
	// node's proofs in flight to be acknowledged before it signs the terms.
	DrainTimeout time.Duration
	// ListenAddr is the peer address this node advertises (host:port), if
	// it accepts peer connections.
	ListenAddr string
	// MoreListenAddrs are the node's further peer addresses (a hot
	// standby pair's other processes), advertised after ListenAddr.
	MoreListenAddrs []string
	// Sweep is the sweep policy: what the wallet keeps, and where the rest
	// goes after payouts and withdrawals. The zero To sweeps nothing.
	Sweep  SweepConfig
	Logger *slog.Logger
	// Restored says the store was restored from a backup: every channel
	// that can still pay starts behind, and pays only once it has caught
	// up with its peer (the peer's newest proof of this node's adopted,
	// the payments it covers recovered, the peer's proofs received) and
	// with the chain (read once since the start). See behind.go.
	Restored bool
	// CaughtUp, if set, is called once (on a goroutine of its own) when a
	// restored node has caught up on every channel; tinypayd then forgets
	// that the data directory was restored.
	CaughtUp func()
	// Failpoint, if set, is called with the name of each step between a
	// write and what depends on it (see failpoints.go); tests use it to
	// kill the process at that step. Leave it nil.
	Failpoint func(name string)
}

// Limits on what peers may send.
const (
	MaxItemIDLen = 256
	MaxMemoLen   = 1024
)

// DefaultConfig returns a configuration with sensible defaults.
func DefaultConfig() Config {
	return Config{
		ChallengePeriod:              24 * 60 * 60,
		MinChallengePeriod:           60,
		MaxChallengePeriod:           30 * 24 * 60 * 60,
		TermsLifetime:                600,
		MaxInFlight:                  8,
		MaxParts:                     512,
		ChainPoll:                    time.Second,
		RequestTimeout:               30 * time.Second,
		Redial:                       2 * time.Second,
		RedialMax:                    5 * time.Minute,
		MaxProposalsPerPeer:          4,
		MaxProposals:                 256,
		ProposalExpiry:               time.Hour,
		MaxRefundsPerMinute:          60,
		MaxStrangerSessions:          256,
		MaxStrangerSessionsPerSource: 16,
		ChainReadTimeout:             30 * time.Second,
		ChainTxTimeout:               5 * time.Minute,
		DrainTimeout:                 5 * time.Second,
		Sweep:                        SweepConfig{GasReserve: DefaultGasReserve, Attempts: 5, RetryDelay: 5 * time.Second},
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.ChallengePeriod < c.MinChallengePeriod || c.ChallengePeriod > c.MaxChallengePeriod {
		errs = append(errs, fmt.Errorf("challenge period %ds outside [%d, %d]", c.ChallengePeriod, c.MinChallengePeriod, c.MaxChallengePeriod))
	}
	if c.MinChallengePeriod == 0 {
		errs = append(errs, errors.New("min challenge period must be at least 1s"))
	}
	if c.TermsLifetime == 0 {
		errs = append(errs, errors.New("terms lifetime must be positive"))
	}
	if c.MaxInFlight < 1 {
		errs = append(errs, errors.New("max in flight must be at least 1"))
	}
	if c.MaxParts < 1 || c.MaxParts > 4096 {
		errs = append(errs, errors.New("max parts must be in [1, 4096]"))
	}
	if c.ChainPoll <= 0 || c.RequestTimeout <= 0 || c.Redial <= 0 || c.ChainReadTimeout <= 0 || c.ChainTxTimeout <= 0 || c.DrainTimeout <= 0 {
		errs = append(errs, errors.New("chain poll, timeouts and redial must be positive"))
	}
	if c.RedialMax < c.Redial {
		errs = append(errs, fmt.Errorf("the longest redial wait (%s) is shorter than the first (%s)", c.RedialMax, c.Redial))
	}
	if c.MaxProposalsPerPeer < 1 || c.MaxProposals < c.MaxProposalsPerPeer {
		errs = append(errs, fmt.Errorf("proposals per peer (%d) must be at least 1 and at most the total (%d)", c.MaxProposalsPerPeer, c.MaxProposals))
	}
	if c.MaxStrangerSessions < 1 || c.MaxStrangerSessionsPerSource < 1 || c.MaxStrangerSessionsPerSource > c.MaxStrangerSessions {
		errs = append(errs, fmt.Errorf("sessions of peers without a channel, per source (%d) and in total (%d), must be at least 1, per source at most the total", c.MaxStrangerSessionsPerSource, c.MaxStrangerSessions))
	}
	if c.MaxRefundsPerMinute < 1 {
		errs = append(errs, errors.New("refunds per minute must be at least 1"))
	}
	if c.ProposalExpiry <= c.RequestTimeout {
		errs = append(errs, fmt.Errorf("proposal expiry (%s) must be longer than the request timeout (%s)", c.ProposalExpiry, c.RequestTimeout))
	}
	if err := c.Sweep.validate(c.Assets); err != nil {
		errs = append(errs, err)
	}
	seen := map[string]bool{"ETH": true}
	for _, a := range c.Assets {
		switch {
		case a.Address.IsZero():
			errs = append(errs, fmt.Errorf("asset %s: zero address is ETH", a.Symbol))
		case a.Symbol == "" || seen[a.Symbol]:
			errs = append(errs, fmt.Errorf("asset %s: empty or duplicate symbol %q", a.Address, a.Symbol))
		case a.Decimals > 36:
			errs = append(errs, fmt.Errorf("asset %s: %d decimals", a.Symbol, a.Decimals))
		}
		seen[a.Symbol] = true
	}
	return errors.Join(errs...)
}
