package rpc

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tinypay/tinypay/apps"
	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node"
	"github.com/tinypay/tinypay/settlement"
)

// statusError is the one place where errors of the node, the channel
// machine, the settlement layer and the application layer become gRPC
// statuses for API callers.
func statusError(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(code(err), err.Error())
}

// code maps an error to the status code an API caller gets.
func code(err error) codes.Code {
	switch {
	case err == nil:
		return codes.OK
	case errors.Is(err, node.ErrStopped), errors.Is(err, node.ErrNotConnected), errors.Is(err, settlement.ErrUnavailable),
		errors.Is(err, node.ErrBehind): // it catches up by itself: retry later, with the same key
		return codes.Unavailable
	case errors.Is(err, node.ErrPending), errors.Is(err, node.ErrTransferPending):
		// Signed and on its way: the caller's deadline came first.
		return codes.DeadlineExceeded
	case errors.Is(err, node.ErrRefunded):
		return codes.FailedPrecondition
	case errors.Is(err, node.ErrMalformed), errors.Is(err, node.ErrInvalidArgument), errors.Is(err, channel.ErrZeroAmount),
		errors.Is(err, channel.ErrBadSignature), errors.Is(err, crypto.ErrInvalidSignature), errors.Is(err, channel.ErrInvalidParams),
		errors.Is(err, node.ErrUnknownAsset), errors.Is(err, apps.ErrBadOffer), errors.Is(err, apps.ErrOfferAltered),
		errors.Is(err, settlement.ErrInvalidTransfer):
		return codes.InvalidArgument
	case errors.Is(err, node.ErrNotFound):
		return codes.NotFound
	case errors.Is(err, apps.ErrForbidden), errors.Is(err, channel.ErrWrongChannel), errors.Is(err, apps.ErrAboveMaxPrice),
		errors.Is(err, apps.ErrNeedsConfirmation):
		return codes.PermissionDenied
	case errors.Is(err, apps.ErrSpendLimit), errors.Is(err, node.ErrResourceExhausted), errors.Is(err, apps.ErrTooManyStreams),
		errors.Is(err, apps.ErrOfferSoldOut):
		return codes.ResourceExhausted
	case errors.Is(err, node.ErrIdempotency), errors.Is(err, apps.ErrOfferPaid), errors.Is(err, node.ErrAlreadyExists):
		return codes.AlreadyExists
	case errors.Is(err, channel.ErrOverflow):
		return codes.OutOfRange
	case errors.Is(err, channel.ErrBusy):
		return codes.Aborted
	case errors.Is(err, channel.ErrInsufficientBalance), errors.Is(err, settlement.ErrInsufficientFunds),
		errors.Is(err, channel.ErrStaleNonce), errors.Is(err, channel.ErrNotIncreasing), errors.Is(err, channel.ErrWrongPhase),
		errors.Is(err, channel.ErrClosing), errors.Is(err, channel.ErrDraining), errors.Is(err, channel.ErrExpired),
		errors.Is(err, channel.ErrTermsMismatch), errors.Is(err, channel.ErrWithdrawPending), errors.Is(err, channel.ErrNoWithdrawPending),
		errors.Is(err, settlement.ErrReverted), errors.Is(err, node.ErrPeerRefused), errors.Is(err, settlement.ErrWrongChain),
		errors.Is(err, settlement.ErrNoContract), errors.Is(err, apps.ErrOfferExpired), errors.Is(err, node.ErrTransferFailed),
		errors.Is(err, settlement.ErrDropped):
		return codes.FailedPrecondition
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	}
	return codes.Internal
}
