package node

import (
	"errors"
)

// Errors the node returns; the control API maps each kind to a status code
// in one place (rpc). Channel rule violations come through as the channel
// package's errors, settlement failures as the settlement package's.
var (
	ErrNotFound        = errors.New("not found")
	ErrInvalidArgument = errors.New("invalid argument")
	ErrNotConnected    = errors.New("peer not connected")
	ErrIdempotency     = errors.New("idempotency key already used for another payment")
	ErrPeerRefused     = errors.New("peer refused")
	ErrBusy            = errors.New("another operation on this channel is in progress")
	ErrStopped         = errors.New("node is stopping")
	ErrNotReady        = errors.New("channel not ready")
	ErrUnknownAsset    = errors.New("unknown asset")
)

func invalid(format string, args ...any) error {
	return wrapf(ErrInvalidArgument, format, args...)
}
