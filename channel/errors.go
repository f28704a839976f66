package channel

import (
	"errors"
	"fmt"

	"github.com/holiman/uint256"
)

// Errors returned by the channel machine. Each rejection matches one of these
// with errors.Is; a rejected input never changes the channel.
var (
	ErrInvalidParams       = errors.New("invalid channel parameters")
	ErrWrongPhase          = errors.New("not allowed in this phase")
	ErrClosing             = errors.New("close terms signed: no payments until they are used or expire")
	ErrWrongChannel        = errors.New("message is for another channel")
	ErrStaleNonce          = errors.New("nonce not above the newest one held")
	ErrNotIncreasing       = errors.New("cumulative amount not above the newest one held")
	ErrZeroAmount          = errors.New("amount is zero")
	ErrOverflow            = errors.New("amount overflows 256 bits")
	ErrInsufficientBalance = errors.New("insufficient balance")
	ErrBadSignature        = errors.New("bad signature")
	ErrWrongKey            = errors.New("signing key is not this side's participant")
	ErrUnknownNonce        = errors.New("acknowledged nonce was never sent")
	ErrStaleAck            = errors.New("acknowledgement is not newer than the last one")
	ErrTermsMismatch       = errors.New("terms do not match this side's balances")
	ErrExpired             = errors.New("terms have expired")
	ErrWithdrawPending     = errors.New("a withdrawal is already pending")
	ErrNoWithdrawPending   = errors.New("no withdrawal is pending")
	ErrPeerLostData        = errors.New("peer lost a proof it acknowledged")
	ErrInvalidSide         = errors.New("side must be A or B")
	ErrDraining            = errors.New("a cooperative close is draining the channel: no new payments")
	ErrBusy                = errors.New("another operation on this channel is in progress")
)

// BusyError says which operation is in progress. It matches ErrBusy.
type BusyError struct{ Running Op }

func (e *BusyError) Error() string { return fmt.Sprintf("%s in progress on this channel", e.Running) }

// Is makes errors.Is(err, ErrBusy) true.
func (e *BusyError) Is(target error) bool { return target == ErrBusy }

// InsufficientBalanceError says how much was needed and how much the side
// had. It matches ErrInsufficientBalance.
type InsufficientBalanceError struct {
	Side      Side
	Need      uint256.Int
	Available uint256.Int
}

func (e *InsufficientBalanceError) Error() string {
	return fmt.Sprintf("insufficient balance: side %s needs %s, has %s", e.Side, e.Need.Dec(), e.Available.Dec())
}

// Is makes errors.Is(err, ErrInsufficientBalance) true.
func (e *InsufficientBalanceError) Is(target error) bool { return target == ErrInsufficientBalance }

// PhaseError says which operation was refused in which phase. It matches
// ErrWrongPhase.
type PhaseError struct {
	Op    string
	Phase Phase
}

func (e *PhaseError) Error() string { return fmt.Sprintf("%s: not allowed in phase %s", e.Op, e.Phase) }

// Is makes errors.Is(err, ErrWrongPhase) true.
func (e *PhaseError) Is(target error) bool { return target == ErrWrongPhase }
