package rpc

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Errors of the peer transport. Match them with errors.Is; the handshake
// kinds below also match ErrHandshake.
var (
	// ErrConfig is returned for an invalid PeerConfig.
	ErrConfig = errors.New("invalid peer transport config")
	// ErrHandshake is matched by every handshake failure, including a
	// refusal reported by the other side (then wrapping a *RemoteError).
	ErrHandshake = errors.New("peer handshake failed")
	// ErrClosed is matched by every error Send and Recv return once the
	// connection has ended; the error also wraps the reason (errors.Is and
	// errors.As see through it), e.g. a *RemoteError, ErrProtocol,
	// ErrMessageTooLarge, ErrSendTimeout.
	ErrClosed = errors.New("peer connection closed")
	// ErrProtocol says the other side broke the session protocol after the
	// handshake (a second Hello, a message without a body), or a caller
	// tried to Send something the transport owns (a Hello).
	ErrProtocol = errors.New("peer protocol violation")
	// ErrMessageTooLarge is returned by Send for a message above
	// MaxMessageBytes (the connection stays open), and ends a connection
	// when the peer sends one.
	ErrMessageTooLarge = errors.New("message too large")
	// ErrSendTimeout ends a connection whose peer stopped reading: the send
	// queue stayed full, or one write stalled, for SendTimeout.
	ErrSendTimeout = errors.New("peer stopped reading: send timed out")
	// ErrShuttingDown is the reason given to peers when a PeerServer stops.
	ErrShuttingDown = errors.New("node is shutting down")
	// ErrTooManyUnauthenticated is why a PeerServer refuses a connection
	// while MaxUnauthenticated others, or MaxUnauthenticatedPerSource
	// others from its source, are still in their handshake.
	ErrTooManyUnauthenticated = errors.New("too many unauthenticated peer connections")
	// ErrInsecureKeyFile is returned for a TLS key file that users other
	// than the owner can read or write.
	ErrInsecureKeyFile = errors.New("TLS key file is accessible by other users")
)

// Handshake failures. Each matches itself and ErrHandshake.
var (
	// ErrProtocolVersion: the peer speaks another protocol version.
	ErrProtocolVersion = handshakeError("unsupported protocol version")
	// ErrWrongChain: the peer is on another chain.
	ErrWrongChain = handshakeError("wrong chain id")
	// ErrWrongAdjudicator: the peer uses another adjudicator contract.
	ErrWrongAdjudicator = handshakeError("wrong adjudicator")
	// ErrMalformedHello: a Hello field has the wrong length or form.
	ErrMalformedHello = handshakeError("malformed hello")
	// ErrBadSignature: the Hello signature is not a valid signature.
	ErrBadSignature = handshakeError("bad hello signature")
	// ErrWrongSigner: the Hello signature is valid but not by the claimed
	// address over this session's digest: a forged claim, or a Hello
	// replayed from another TLS session or relayed by a man in the middle.
	ErrWrongSigner = handshakeError("hello not signed by the claimed address for this session")
	// ErrSelfConnect: the other side has this node's own address.
	ErrSelfConnect = handshakeError("connected to itself")
	// ErrNotHello: the first message of the session is not a Hello.
	ErrNotHello = handshakeError("first message is not a hello")
	// ErrHandshakeTimeout: the handshake did not finish in HandshakeTimeout.
	ErrHandshakeTimeout = handshakeError("handshake timed out")
	// ErrWrongPeer: DialPeer proved an address other than the one wanted.
	ErrWrongPeer = handshakeError("peer has another address than wanted")
)

type hsError struct{ msg string }

func handshakeError(msg string) error { return &hsError{msg} }

func (e *hsError) Error() string { return "peer handshake: " + e.msg }

// Is makes every handshake kind match ErrHandshake.
func (e *hsError) Is(target error) bool { return target == ErrHandshake }

// RemoteError is the reason the other side gave for ending the session: the
// code and message of its last session-level Error message (one without a
// channel id) or of the gRPC status the stream ended with.
type RemoteError struct {
	Code    codes.Code
	Message string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("peer closed the connection: %s: %s", e.Code, e.Message)
}

// closedError is what Send and Recv return after the connection ended.
type closedError struct{ reason error }

func (e *closedError) Error() string {
	if e.reason == nil {
		return ErrClosed.Error()
	}
	return ErrClosed.Error() + ": " + e.reason.Error()
}

func (e *closedError) Is(target error) bool { return target == ErrClosed }
func (e *closedError) Unwrap() error        { return e.reason }

// maxReasonBytes bounds the text of an Error message the transport sends.
const maxReasonBytes = 1024

// errorCode maps a transport error (or the reason passed to Close) to the
// code sent to the peer. It is the one place that does so.
func errorCode(err error) codes.Code {
	var re *RemoteError
	switch {
	case err == nil:
		return codes.OK
	case errors.Is(err, ErrMessageTooLarge):
		return codes.ResourceExhausted
	case errors.Is(err, ErrHandshakeTimeout), errors.Is(err, ErrSendTimeout):
		return codes.DeadlineExceeded
	case errors.Is(err, ErrBadSignature), errors.Is(err, ErrWrongSigner), errors.Is(err, ErrWrongPeer):
		return codes.Unauthenticated
	case errors.Is(err, ErrProtocolVersion), errors.Is(err, ErrWrongChain),
		errors.Is(err, ErrWrongAdjudicator), errors.Is(err, ErrSelfConnect):
		return codes.FailedPrecondition
	case errors.Is(err, ErrMalformedHello), errors.Is(err, ErrNotHello), errors.Is(err, ErrProtocol):
		return codes.InvalidArgument
	case errors.Is(err, ErrShuttingDown), errors.Is(err, ErrTooManyUnauthenticated):
		return codes.Unavailable
	case errors.As(err, &re):
		return re.Code
	}
	if s, ok := status.FromError(err); ok {
		return s.Code()
	}
	return codes.Aborted
}

// reasonText is the message sent to the peer for err, bounded in length: a
// gRPC status error's own message, or the error's text.
func reasonText(err error) string {
	s := err.Error()
	if se, ok := err.(interface{ GRPCStatus() *status.Status }); ok {
		s = se.GRPCStatus().Message()
	}
	if len(s) > maxReasonBytes {
		s = s[:maxReasonBytes]
	}
	return strings.ToValidUTF8(s, "\uFFFD") // proto strings must be UTF-8
}
