package sdk

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Error kinds. Match them with errors.Is; every error the package returns
// matches at most one kind (context.Canceled and context.DeadlineExceeded
// are kinds too).
var (
	// ErrConfig: the Config is invalid, or a file it names cannot be used
	// (a missing token or certificate, a token file others can read).
	ErrConfig = errors.New("invalid client configuration")
	// ErrUnavailable: the node cannot be reached or is not running (or is
	// stopping). Retrying later may succeed; for a payment, retry with the
	// same idempotency key.
	ErrUnavailable = errors.New("node unavailable")
	// ErrUnauthenticated: the node refused the token.
	ErrUnauthenticated = errors.New("token refused")
	// ErrPermissionDenied: the token may not make this call (app tokens may
	// only pay), or the channel is not this node's.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrInvalidArgument: the request is malformed (a bad amount, address,
	// asset, key, or an offer that does not verify).
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrNotFound: no such channel, stream, or no open channel to pay through.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: the idempotency key was used for another payment, or
	// the offer is paid already.
	ErrAlreadyExists = errors.New("already exists")
	// ErrLimit: an app token's spend limit is reached (or a message was too
	// large).
	ErrLimit = errors.New("limit reached")
	// ErrRefused: the node cannot do it in the current state: not enough
	// balance in the channel, the channel is not open, the offer expired,
	// the peer refused.
	ErrRefused = errors.New("refused")
	// ErrMalformed: a text given to DecodeOffer or DecodeReceipt is not an
	// encoded offer or receipt, or the node sent something that does not
	// parse.
	ErrMalformed = errors.New("malformed")
	// ErrInvalidOffer: an offer's signature does not verify.
	ErrInvalidOffer = errors.New("invalid offer")
	// ErrInvalidReceipt: a receipt is missing or its signature does not
	// cover its fields.
	ErrInvalidReceipt = errors.New("invalid receipt")
	// ErrReceiptMismatch: a receipt is validly signed but not what was
	// expected (another payee, amount, item, offer, chain).
	ErrReceiptMismatch = errors.New("receipt does not match")
	// ErrClosed: the Client was closed.
	ErrClosed = errors.New("client closed")
	// ErrStop may be returned by a Subscribe or WatchStream handler to end
	// the call cleanly: the call then returns nil.
	ErrStop = errors.New("stop")
)

// Error is an error the node returned for a call.
type Error struct {
	// Op is the call: "pay", "get info", ...
	Op string
	// Code is the gRPC status code.
	Code codes.Code
	// Message is the node's explanation.
	Message string
}

// Error implements error.
func (e *Error) Error() string {
	return fmt.Sprintf("tinypay %s: %s (%s)", e.Op, e.Message, e.Code)
}

// Is matches the error's kind (see kindOf).
func (e *Error) Is(target error) bool {
	k := kindOf(e.Code)
	return k != nil && k == target
}

// GRPCStatus lets status.Code and status.FromError see the node's status.
func (e *Error) GRPCStatus() *status.Status { return status.New(e.Code, e.Message) }

// kindOf maps a gRPC code to an error kind; it is the one place that does.
func kindOf(c codes.Code) error {
	switch c {
	case codes.Unavailable:
		return ErrUnavailable
	case codes.Unauthenticated:
		return ErrUnauthenticated
	case codes.PermissionDenied:
		return ErrPermissionDenied
	case codes.InvalidArgument, codes.OutOfRange:
		return ErrInvalidArgument
	case codes.NotFound:
		return ErrNotFound
	case codes.AlreadyExists:
		return ErrAlreadyExists
	case codes.ResourceExhausted:
		return ErrLimit
	case codes.FailedPrecondition:
		return ErrRefused
	case codes.DeadlineExceeded:
		return context.DeadlineExceeded
	case codes.Canceled:
		return context.Canceled
	}
	return nil
}

// PayError is the error of a payment that failed or whose outcome is not
// known. Retrying with Key never pays twice: it pays if the first attempt
// did not, and otherwise reports the first attempt's payment.
type PayError struct {
	// Key is the idempotency key the payment used.
	Key string
	// Err is what went wrong; errors.Is and errors.As see through to it.
	Err error
	// First is set when an offer was paid before (Err matches
	// ErrAlreadyExists): the first payment, with its receipt.
	First *Payment
}

// Error implements error.
func (e *PayError) Error() string { return fmt.Sprintf("payment %q: %v", e.Key, e.Err) }

// Unwrap returns Err.
func (e *PayError) Unwrap() error { return e.Err }

// permanent reports whether retrying a call that failed with err cannot
// help: the request or the credentials are wrong.
func permanent(err error) bool {
	for _, k := range []error{ErrUnauthenticated, ErrPermissionDenied, ErrInvalidArgument, ErrNotFound, ErrMalformed, ErrClosed} {
		if errors.Is(err, k) {
			return true
		}
	}
	return status.Code(err) == codes.Unimplemented
}
