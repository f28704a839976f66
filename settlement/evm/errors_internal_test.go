package evm

import (
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	gethcrypto "github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/tinypay/tinypay/settlement"
)

func pack(t testing.TB, sig string, types []string, args ...any) []byte {
	t.Helper()
	var argsDef abi.Arguments
	for _, ty := range types {
		argsDef = append(argsDef, abi.Argument{Type: mustType(ty)})
	}
	out, err := argsDef.Pack(args...)
	if err != nil {
		t.Fatal(err)
	}
	sel := gethcrypto.Keccak256([]byte(sig))[:4]
	return append(sel, out...)
}

func TestRevertReason(t *testing.T) {
	d := newRevertDecoder()
	id := common.HexToHash("0x0102")
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		// A custom error with uint256 arguments, by name.
		{"custom error", pack(t, "NotIncreasing(uint256,uint256)", []string{"uint256", "uint256"}, big.NewInt(5), big.NewInt(5)), "NotIncreasing(current=5, proposed=5)"},
		// Addresses in checksummed hex.
		{"address", pack(t, "NotParticipant(address)", []string{"address"}, common.HexToAddress("0x00000000000000000000000000000000000000aa")), "NotParticipant(account=0x00000000000000000000000000000000000000AA)"},
		// The phase enum by its name, bytes32 in hex.
		{"phase", pack(t, "WrongPhase(bytes32,uint8)", []string{"bytes32", "uint8"}, [32]byte(id), uint8(2)), "WrongPhase(channelId=" + id.Hex() + ", phase=closed)"},
		// No arguments.
		{"no arguments", pack(t, "ZeroAmount()", nil), "ZeroAmount()"},
		// A test token error.
		{"token error", pack(t, "InsufficientBalance(address,uint256,uint256)", []string{"address", "uint256", "uint256"}, common.Address{}, big.NewInt(1), big.NewInt(2)),
			"InsufficientBalance(account=0x0000000000000000000000000000000000000000, balance=1, needed=2)"},
		// require(..., "message").
		{"Error(string)", pack(t, "Error(string)", []string{"string"}, "no way"), `Error("no way")`},
		// A known panic code.
		{"Panic overflow", pack(t, "Panic(uint256)", []string{"uint256"}, big.NewInt(0x11)), "Panic(0x11: arithmetic overflow or underflow)"},
		// An unknown panic code.
		{"Panic unknown", pack(t, "Panic(uint256)", []string{"uint256"}, big.NewInt(0x99)), "Panic(0x99)"},
		// Empty data: revert() or a failed require without message.
		{"empty", nil, "reverted without a reason"},
		// Shorter than a selector (abigen's UnpackError would panic).
		{"short", []byte{1, 2, 3}, "malformed revert data 0x010203"},
		// A selector nobody knows.
		{"unknown", []byte{0xde, 0xad, 0xbe, 0xef, 0}, "unknown error 0xdeadbeef (5 bytes of data)"},
		// A known selector with truncated arguments.
		{"truncated", pack(t, "NotIncreasing(uint256,uint256)", []string{"uint256", "uint256"}, big.NewInt(5), big.NewInt(5))[:20], "NotIncreasing with malformed arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := d.reason(tc.data)
			if !strings.HasPrefix(got, tc.want) {
				t.Fatalf("reason = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	d := newRevertDecoder()
	data := d.encode("ChallengePeriodOver", uint64(100), big.NewInt(101))
	if got := d.reason(data); got != "ChallengePeriodOver(settleAfter=100, timestamp=101)" {
		t.Fatalf("reason = %q", got)
	}
}

func FuzzRevertReason(f *testing.F) {
	d := newRevertDecoder()
	f.Add([]byte{})
	f.Add([]byte{0x08, 0xc3, 0x79, 0xa0})
	f.Add(d.encode("NotIncreasing", big.NewInt(1), big.NewInt(2)))
	f.Add(d.encode("WrongPhase", [32]byte{}, uint8(9)))
	f.Fuzz(func(t *testing.T, data []byte) {
		if d.reason(data) == "" {
			t.Fatal("empty reason")
		}
	})
}

func TestClassify(t *testing.T) {
	b := &Backend{dec: newRevertDecoder()}
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		// Connection refused, as net/http reports it.
		{"refused", &url.Error{Op: "Post", URL: "http://127.0.0.1:1", Err: syscall.ECONNREFUSED}, settlement.ErrUnavailable},
		// A closed client.
		{"client quit", rpc.ErrClientQuit, settlement.ErrUnavailable},
		// A gateway error.
		{"http 502", rpc.HTTPError{StatusCode: 502, Status: "502 Bad Gateway"}, settlement.ErrUnavailable},
		// go-ethereum's pool and estimator messages.
		{"funds for gas", errors.New("insufficient funds for gas * price + value: address 0x1 have 1 want 2"), settlement.ErrInsufficientFunds},
		{"funds for transfer", errors.New("insufficient funds for transfer"), settlement.ErrInsufficientFunds},
		// A revert without data.
		{"bare revert", errors.New("execution reverted"), settlement.ErrReverted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := b.classify("op", tc.err); !errors.Is(got, tc.want) {
				t.Fatalf("classify(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
	// An answer from the endpoint is not unavailability.
	if got := b.classify("op", fmt.Errorf("wrapped: %w", rpcError{})); errors.Is(got, settlement.ErrUnavailable) {
		t.Fatalf("a JSON-RPC error was taken for an unavailable endpoint: %v", got)
	}
}

type rpcError struct{}

func (rpcError) Error() string  { return "method not found" }
func (rpcError) ErrorCode() int { return -32601 }
