package node

import (
	"errors"
	"fmt"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
)

// Errors the node returns. The control API maps each kind to a status code
// in one place (package rpc). Channel rule violations come through as the
// channel package's errors, settlement failures as the settlement package's.
var (
	ErrNotFound        = errors.New("not found")
	ErrInvalidArgument = errors.New("invalid argument")
	ErrNotConnected    = errors.New("peer not connected")
	ErrIdempotency     = errors.New("idempotency key already used for another payment")
	ErrPeerRefused     = errors.New("peer refused")
	ErrStopped         = errors.New("node is stopping")
	ErrUnknownAsset    = errors.New("unknown asset")
	// ErrPending: the payment is under way (signed and not acknowledged
	// yet, or still being made by another call with the same key) and may
	// still pay; a retry with the same key reports its outcome.
	ErrPending = errors.New("payment under way, outcome not known yet (retry with the same key to learn it)")
	// ErrRefunded: the payee refused the payment for a reason of its own
	// and gave the amount back at once (see RefusedError).
	ErrRefunded = errors.New("refused by the payee and refunded")
	// ErrMalformed: a peer's message does not decode.
	ErrMalformed = errors.New("malformed")
	// ErrResourceExhausted: a bound on what peers may make the node hold
	// was reached (see Bounds); the newcomer is refused.
	ErrResourceExhausted = errors.New("resource exhausted")
	// ErrAlreadyExists: what a peer asked to create exists.
	ErrAlreadyExists = errors.New("already exists")
	// ErrBehind: the node may be behind on the channel (it was restored
	// from a backup, or the peer held a newer proof of this node's than
	// its store) and pays on it only once it has caught up with the peer
	// and the chain; nothing was signed. Retry later with the same key
	// (ChannelInfo.Behind says what the channel waits for).
	ErrBehind = errors.New("behind: the node may hold older state than its peer and the chain")
)

// RefusedError is a payment the payee refused for an application reason
// (an offer already paid, say) and refunded in the same channel. It matches
// ErrRefunded.
type RefusedError struct {
	Payment [32]byte
	Code    uint32 // google.rpc.Code of the reason, as the payee gave it
	Reason  string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("payment %x refused by the payee (%s) and refunded", e.Payment[:4], e.Reason)
}

// Is makes errors.Is(err, ErrRefunded) true.
func (e *RefusedError) Is(target error) bool { return target == ErrRefunded }

func wrapf(kind error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", kind, fmt.Sprintf(format, args...))
}

func invalid(format string, args ...any) error {
	return wrapf(ErrInvalidArgument, format, args...)
}

// Codes the node puts into peer messages (Nack, Error, Refusal), which
// follow google.rpc.Code. The control API maps errors itself (package rpc).
const (
	codeInvalidArgument    uint32 = 3
	codeNotFound           uint32 = 5
	codeAlreadyExists      uint32 = 6
	codePermissionDenied   uint32 = 7
	codeResourceExhausted  uint32 = 8
	codeFailedPrecondition uint32 = 9
	codeAborted            uint32 = 10
	codeUnavailable        uint32 = 14
	codeInternal           uint32 = 13
)

// peerCode classifies an error for a peer: malformed input, a channel that
// is not the peer's, a protocol rule, or a node that cannot take it now.
func peerCode(err error) uint32 {
	switch {
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrInvalidArgument), errors.Is(err, channel.ErrBadSignature),
		errors.Is(err, crypto.ErrInvalidSignature), errors.Is(err, channel.ErrInvalidParams),
		errors.Is(err, channel.ErrZeroAmount), errors.Is(err, ErrUnknownAsset):
		return codeInvalidArgument
	case errors.Is(err, ErrNotFound):
		return codeNotFound
	case errors.Is(err, ErrAlreadyExists):
		return codeAlreadyExists
	case errors.Is(err, ErrResourceExhausted):
		return codeResourceExhausted
	case errors.Is(err, channel.ErrWrongChannel):
		return codePermissionDenied
	case errors.Is(err, ErrStopped), errors.Is(err, ErrNotConnected):
		return codeUnavailable
	case errors.Is(err, channel.ErrBusy):
		return codeAborted
	case errors.Is(err, channel.ErrOverflow), errors.Is(err, channel.ErrInsufficientBalance), errors.Is(err, channel.ErrStaleNonce),
		errors.Is(err, channel.ErrNotIncreasing), errors.Is(err, channel.ErrWrongPhase), errors.Is(err, channel.ErrClosing),
		errors.Is(err, channel.ErrDraining), errors.Is(err, channel.ErrExpired), errors.Is(err, channel.ErrTermsMismatch),
		errors.Is(err, channel.ErrWithdrawPending), errors.Is(err, channel.ErrNoWithdrawPending), errors.Is(err, errNotReestablished):
		return codeFailedPrecondition
	}
	var c interface{ PeerCode() uint32 }
	if errors.As(err, &c) {
		return c.PeerCode()
	}
	return codeInternal
}

var errNotReestablished = errors.New("channel not reestablished on this session yet")

// BalanceError is a channel's insufficient balance said in the channel's
// asset ("needs 1.5 USD, has 0.2 USD"). It matches
// channel.ErrInsufficientBalance.
type BalanceError struct {
	Asset Asset
	Self  channel.Side // this node's side, to tell "this node" from "the peer"
	channel.InsufficientBalanceError
}

func (e *BalanceError) Error() string {
	who := "this node"
	if e.Self != e.Side {
		who = "the peer"
	}
	return fmt.Sprintf("insufficient balance: needs %s, %s has %s in the channel", e.Asset.Format(&e.Need), who, e.Asset.Format(&e.Available))
}

// Unwrap gives the channel's error.
func (e *BalanceError) Unwrap() error { return &e.InsufficientBalanceError }

// units writes an amount of the channel's asset as people read it
// ("0.25 USD"), for event details; base units if the asset is unknown.
func (c *chanActor) units(v *uint256.Int) string {
	if a, ok := c.n.asset(c.params.Asset); ok {
		return a.Format(v)
	}
	return v.Dec() + " base units"
}

// inAsset says an insufficient balance in the channel's asset; other
// errors pass unchanged.
func (c *chanActor) inAsset(err error) error {
	var ib *channel.InsufficientBalanceError
	if !errors.As(err, &ib) {
		return err
	}
	a, ok := c.n.asset(c.params.Asset)
	if !ok {
		return err
	}
	return &BalanceError{Asset: a, Self: c.self, InsufficientBalanceError: *ib}
}
