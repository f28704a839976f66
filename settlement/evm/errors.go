package evm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/url"
	"strings"
	"syscall"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/tinypay/tinypay/settlement"
	"github.com/tinypay/tinypay/settlement/evm/bindings"
)

// Errors of this backend beyond the settlement kinds.
var (
	// ErrReceiptTimeout: a sent transaction was not mined (or did not reach
	// the configured confirmations) within Config.ReceiptTimeout. It may
	// still be mined later.
	ErrReceiptTimeout = errors.New("transaction not mined in time")
	// ErrForeignParams: channel parameters that name another chain or
	// another adjudicator than the backend's.
	ErrForeignParams = errors.New("channel params are for another chain or adjudicator")
)

// Standard Solidity revert encodings.
var (
	errorStringSelector = [4]byte{0x08, 0xc3, 0x79, 0xa0} // Error(string)
	panicSelector       = [4]byte{0x4e, 0x48, 0x7b, 0x71} // Panic(uint256)
)

// panicReasons are the compiler's Panic(uint256) codes.
var panicReasons = map[uint64]string{
	0x00: "generic compiler panic",
	0x01: "assert failed",
	0x11: "arithmetic overflow or underflow",
	0x12: "division or modulo by zero",
	0x21: "invalid enum value",
	0x22: "invalid storage byte array",
	0x31: "pop on empty array",
	0x32: "array index out of bounds",
	0x41: "out of memory",
	0x51: "call to a zero-initialized function",
}

// revertDecoder turns revert data into readable reasons, knowing the custom
// errors of the adjudicator and of the test token.
type revertDecoder struct {
	errs map[[4]byte]abi.Error
}

func newRevertDecoder() *revertDecoder {
	d := &revertDecoder{errs: make(map[[4]byte]abi.Error)}
	for _, meta := range []*bind.MetaData{&bindings.AdjudicatorMetaData, &bindings.TestTokenMetaData} {
		parsed, err := meta.ParseABI()
		if err != nil {
			panic(fmt.Sprintf("evm: generated ABI does not parse: %v", err)) // programmer error
		}
		for _, e := range parsed.Errors {
			d.errs[[4]byte(e.ID[:4])] = e
		}
	}
	return d
}

// reason decodes revert data: a known custom error as
// "Name(arg=value, ...)", Error(string) as its message, Panic(uint256) with
// its meaning. It never fails; undecodable data is described instead.
func (d *revertDecoder) reason(data []byte) string {
	if len(data) == 0 {
		return "reverted without a reason"
	}
	if len(data) < 4 {
		return fmt.Sprintf("malformed revert data 0x%x", data)
	}
	sel := [4]byte(data[:4])
	switch sel {
	case errorStringSelector:
		vals, err := abi.Arguments{{Type: mustType("string")}}.Unpack(data[4:])
		if err != nil || len(vals) != 1 {
			return fmt.Sprintf("malformed Error(string) 0x%x", data)
		}
		return fmt.Sprintf("Error(%q)", vals[0])
	case panicSelector:
		vals, err := abi.Arguments{{Type: mustType("uint256")}}.Unpack(data[4:])
		if err != nil || len(vals) != 1 {
			return fmt.Sprintf("malformed Panic(uint256) 0x%x", data)
		}
		code := vals[0].(*big.Int)
		if code.IsUint64() {
			if what, ok := panicReasons[code.Uint64()]; ok {
				return fmt.Sprintf("Panic(0x%02x: %s)", code.Uint64(), what)
			}
		}
		return fmt.Sprintf("Panic(0x%x)", code)
	}
	e, ok := d.errs[sel]
	if !ok {
		return fmt.Sprintf("unknown error 0x%x (%d bytes of data)", data[:4], len(data))
	}
	vals, err := e.Inputs.Unpack(data[4:])
	if err != nil {
		return fmt.Sprintf("%s with malformed arguments 0x%x", e.Name, data[4:])
	}
	parts := make([]string, len(vals))
	for i, v := range vals {
		name := e.Inputs[i].Name
		if name == "" {
			name = fmt.Sprintf("arg%d", i)
		}
		parts[i] = name + "=" + formatArg(e.Name, name, v)
	}
	return e.Name + "(" + strings.Join(parts, ", ") + ")"
}

// encode packs a custom error, for reverts the backend predicts without
// asking the chain (a deadline the next block will have passed).
func (d *revertDecoder) encode(name string, args ...any) []byte {
	for sel, e := range d.errs {
		if e.Name != name {
			continue
		}
		packed, err := e.Inputs.Pack(args...)
		if err != nil {
			panic(fmt.Sprintf("evm: pack %s: %v", name, err)) // programmer error
		}
		return append(sel[:], packed...)
	}
	panic("evm: unknown custom error " + name) // programmer error
}

// revert returns a *settlement.RevertError for revert data.
func (d *revertDecoder) revert(data []byte) *settlement.RevertError {
	return &settlement.RevertError{Reason: d.reason(data), Data: data}
}

func formatArg(errName, argName string, v any) string {
	switch x := v.(type) {
	case common.Address:
		return x.Hex()
	case [32]byte:
		return common.Hash(x).Hex()
	case []byte:
		return fmt.Sprintf("0x%x", x)
	case *big.Int:
		return x.String()
	case string:
		return fmt.Sprintf("%q", x)
	case uint8:
		if errName == "WrongPhase" && argName == "phase" {
			return settlement.Phase(x).String()
		}
	}
	return fmt.Sprint(v)
}

func mustType(s string) abi.Type {
	t, err := abi.NewType(s, "", nil)
	if err != nil {
		panic(err)
	}
	return t
}

// classify maps an error from the client to the settlement error kinds:
// revert data becomes a *settlement.RevertError, go-ethereum's "insufficient
// funds" messages ErrInsufficientFunds, transport failures ErrUnavailable.
// Context errors and anything else are wrapped unchanged.
func (b *Backend) classify(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", op, err)
	}
	if data, ok := ethclient.RevertErrorData(err); ok {
		return fmt.Errorf("%s: %w", op, b.dec.revert(data))
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "execution reverted"):
		return fmt.Errorf("%s: %w", op, &settlement.RevertError{Reason: msg})
	case strings.Contains(msg, "insufficient funds"):
		return fmt.Errorf("%s: %w (%v)", op, settlement.ErrInsufficientFunds, err)
	case isUnavailable(err):
		return fmt.Errorf("%s: %w: %v", op, settlement.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// isUnavailable reports whether err is a transport failure rather than an
// answer from the endpoint.
func isUnavailable(err error) bool {
	var httpErr rpc.HTTPError
	if errors.As(err, &httpErr) {
		return httpErr.StatusCode >= 500 || httpErr.StatusCode == 429 || httpErr.StatusCode == 404
	}
	var rpcErr rpc.Error
	if errors.As(err, &rpcErr) {
		return false // the endpoint answered
	}
	var netErr net.Error
	var urlErr *url.Error
	var opErr *net.OpError
	return errors.As(err, &netErr) || errors.As(err, &urlErr) || errors.As(err, &opErr) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, rpc.ErrClientQuit)
}

// nonceError reports whether a send failed because the nonce was stale.
func nonceError(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "nonce too low") || strings.Contains(msg, "nonce too high") ||
		strings.Contains(msg, "replacement transaction underpriced")
}

// alreadyKnown reports whether a send failed because the node already has
// the very same transaction (a retried send).
func alreadyKnown(err error) bool {
	return strings.Contains(err.Error(), "already known")
}
