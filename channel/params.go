package channel

import (
	"fmt"

	"github.com/tinypay/tinypay/crypto"
)

// ID identifies a channel. It is derived from the channel's parameters (see
// Params.ID), so it is unique per chain, adjudicator, pair of participants,
// asset, challenge period and salt, and is never reused.
type ID = crypto.Hash

// Side names a participant of a channel: A is listed first in the
// adjudicator's parameters, B second.
type Side uint8

// The two sides of a channel.
const (
	A Side = 0
	B Side = 1
)

// Other returns the other side.
func (s Side) Other() Side { return 1 - s }

// String implements fmt.Stringer.
func (s Side) String() string {
	switch s {
	case A:
		return "A"
	case B:
		return "B"
	}
	return fmt.Sprintf("Side(%d)", uint8(s))
}

// Valid reports whether s is A or B.
func (s Side) Valid() bool { return s == A || s == B }

// MaxChallengePeriod bounds the challenge period (one year, in seconds), as
// the adjudicator does.
const MaxChallengePeriod = 365 * 24 * 60 * 60

// Params are the fixed parameters of a channel: everything the adjudicator
// hashes into the channel id.
type Params struct {
	ChainID         uint64            // EIP-155 chain id of the settlement chain
	Adjudicator     crypto.Address    // the adjudicator contract
	Participants    [2]crypto.Address // [A, B]
	Asset           crypto.Address    // ERC-20 token, or the zero address for ETH
	ChallengePeriod uint64            // seconds the other side has to answer a force close
	Salt            crypto.Hash       // chosen by the opener so that ids are never reused
}

// Validate checks that the parameters describe a channel the adjudicator
// would accept.
func (p Params) Validate() error {
	switch {
	case p.ChainID == 0:
		return fmt.Errorf("%w: chain id is zero", ErrInvalidParams)
	case p.Adjudicator.IsZero():
		return fmt.Errorf("%w: adjudicator address is zero", ErrInvalidParams)
	case p.Participants[A].IsZero() || p.Participants[B].IsZero():
		return fmt.Errorf("%w: participant address is zero", ErrInvalidParams)
	case p.Participants[A] == p.Participants[B]:
		return fmt.Errorf("%w: both participants are %s", ErrInvalidParams, p.Participants[A])
	case p.ChallengePeriod == 0 || p.ChallengePeriod > MaxChallengePeriod:
		return fmt.Errorf("%w: challenge period %ds not in [1, %d]", ErrInvalidParams, p.ChallengePeriod, MaxChallengePeriod)
	}
	return nil
}

// ID returns the channel id, computed exactly as the adjudicator does (see
// crypto.ChannelID).
func (p Params) ID() ID {
	return crypto.ChannelID(p.ChainID, p.Adjudicator, p.Participants[A], p.Participants[B], p.Asset, p.ChallengePeriod, p.Salt)
}

// Domain returns the EIP-712 domain the channel's messages are signed in.
func (p Params) Domain() crypto.Domain { return crypto.NewDomain(p.ChainID, p.Adjudicator) }

// SideOf returns the side of addr in the channel.
func (p Params) SideOf(addr crypto.Address) (Side, bool) {
	switch addr {
	case p.Participants[A]:
		return A, true
	case p.Participants[B]:
		return B, true
	}
	return 0, false
}
