package sdk_test

import (
	"errors"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"
	"google.golang.org/grpc/status"

	"github.com/tinypay/tinypay/crypto"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/sdk"
	"github.com/tinypay/tinypay/settlement/evm/evmtest"
)

// onChain reads account's balance of asset (zero: ETH) from the chain
// itself, not from any node's report.
func onChain(t *testing.T, account, asset crypto.Address) *uint256.Int {
	t.Helper()
	if asset.IsZero() {
		v, err := chain.Client().BalanceAt(testCtx(t), common.Address(account), nil)
		if err != nil {
			t.Fatal(err)
		}
		return uint256.MustFromBig(v)
	}
	v, err := chain.Backend(t, evmtest.Key("reader")).Balance(testCtx(t), account, asset)
	if err != nil {
		t.Fatal(err)
	}
	return &v
}

func freshAddress(t *testing.T) crypto.Address {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k.Address()
}

// TestWalletSend: carol's node sends USD and ETH from its wallet; the
// recipient holds them on chain; a retry with the same key sends nothing
// more and returns the first transfer; the key of one transfer is refused
// for another; the event log shows the transfer.
func TestWalletSend(t *testing.T) {
	ctx := testCtx(t)
	c := dial(t, sdk.Config{DataDir: carolDir})
	usd := crypto.Address(chain.Token)
	to := freshAddress(t)
	est, err := c.EstimateWalletSend(ctx, sdk.SendRequest{To: to.Hex(), AmountText: "1.5 USD"})
	if err != nil || est.Amount.Uint64() != 1_500_000 || est.Asset.Symbol != "USD" || est.MaxFee.IsZero() || est.Gas == 0 {
		t.Fatalf("estimate %+v %v", est, err)
	}
	tr, err := c.WalletSend(ctx, sdk.SendRequest{To: to.Hex(), AmountText: "1.5 USD", Key: "sdk-send-1"})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Status != "sent" || tr.Amount.Uint64() != 1_500_000 || tr.TxHash == "" || tr.Fee.IsZero() || tr.Origin != "operator" || tr.Key != "sdk-send-1" {
		t.Fatalf("transfer %+v", tr)
	}
	if got := onChain(t, to, usd); got.Uint64() != 1_500_000 {
		t.Fatalf("the recipient holds %s on chain, want 1500000", got.Dec())
	}
	again, err := c.WalletSend(ctx, sdk.SendRequest{To: to.Hex(), AmountText: "1.5 USD", Key: "sdk-send-1"})
	if err != nil || again.TxHash != tr.TxHash {
		t.Fatalf("retry with the key: %+v %v, want transfer %s", again, err, tr.TxHash)
	}
	if _, err := c.WalletSend(ctx, sdk.SendRequest{To: to.Hex(), AmountText: "2 USD", Key: "sdk-send-1"}); !errors.Is(err, sdk.ErrAlreadyExists) {
		t.Fatalf("the key for another amount: %v, want ErrAlreadyExists", err)
	}
	if got := onChain(t, to, usd); got.Uint64() != 1_500_000 {
		t.Fatalf("after the retries the recipient holds %s, want 1500000", got.Dec())
	}
	eth, err := c.WalletSend(ctx, sdk.SendRequest{To: to.Hex(), AmountText: "0.25 ETH"})
	if err != nil || eth.Key == "" || eth.Status != "sent" {
		t.Fatalf("ETH send %+v %v", eth, err)
	}
	if got := onChain(t, to, crypto.Address{}); got.Cmp(uint256.NewInt(250_000_000_000_000_000)) != 0 {
		t.Fatalf("the recipient holds %s wei, want 0.25 ETH", got.Dec())
	}
	var seen []*sdk.TransferEvent
	err = c.Subscribe(ctx, sdk.SubscribeOptions{Kinds: []string{sdk.KindTransfer}}, func(ev sdk.Event) error {
		if ev.Transfer.Transfer.Key == "sdk-send-1" {
			seen = append(seen, ev.Transfer)
		}
		if len(seen) == 2 {
			return sdk.ErrStop
		}
		return nil
	})
	if err != nil || seen[0].Kind != "sending" || seen[1].Kind != "sent" || seen[1].Transfer.TxHash != tr.TxHash || seen[1].Transfer.To != to.Hex() {
		t.Fatalf("transfer events %+v %v", seen, err)
	}
}

// TestWalletSendRefusals: bad requests are refused with a clear kind of
// error, and nothing is sent: carol's account signs no transaction.
func TestWalletSendRefusals(t *testing.T) {
	ctx := testCtx(t)
	c := dial(t, sdk.Config{DataDir: carolDir})
	to := freshAddress(t).Hex()
	nonce := func() uint64 {
		n, err := chain.Client().NonceAt(ctx, common.Address(carol.Key.Address()), nil)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := nonce()
	for _, tc := range []struct {
		name string
		req  *apiv1.WalletSendRequest
		want error
	}{
		// Not an address.
		{"malformed address", &apiv1.WalletSendRequest{To: "0x1234", Asset: "USD", Amount: "1", IdempotencyKey: "r"}, sdk.ErrInvalidArgument},
		// Funds sent there are lost.
		{"zero address", &apiv1.WalletSendRequest{To: "0x0000000000000000000000000000000000000000", Asset: "USD", Amount: "1", IdempotencyKey: "r"}, sdk.ErrInvalidArgument},
		// The node's own account.
		{"own account", &apiv1.WalletSendRequest{To: carol.Key.Address().Hex(), Asset: "USD", Amount: "1", IdempotencyKey: "r"}, sdk.ErrInvalidArgument},
		// Not an asset the node knows.
		{"unknown asset", &apiv1.WalletSendRequest{To: to, Asset: "EUR", Amount: "1", IdempotencyKey: "r"}, sdk.ErrInvalidArgument},
		// The asset must be named: a bare number could be wei or dollars.
		{"no asset", &apiv1.WalletSendRequest{To: to, Amount: "1", IdempotencyKey: "r"}, sdk.ErrInvalidArgument},
		// Nothing to send.
		{"zero amount", &apiv1.WalletSendRequest{To: to, Asset: "USD", Amount: "0", IdempotencyKey: "r"}, sdk.ErrInvalidArgument},
		// Amounts are whole base units on the API.
		{"fraction of a base unit", &apiv1.WalletSendRequest{To: to, Asset: "USD", Amount: "1.5", IdempotencyKey: "r"}, sdk.ErrInvalidArgument},
		// More than the wallet holds.
		{"above the balance", &apiv1.WalletSendRequest{To: to, Asset: "USD", Amount: "1000000000000000", IdempotencyKey: "r"}, sdk.ErrRefused},
		// A retry could not be told from a new send.
		{"no key", &apiv1.WalletSendRequest{To: to, Asset: "USD", Amount: "1"}, sdk.ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.API().WalletSend(ctx, tc.req)
			if err == nil {
				t.Fatal("accepted")
			}
			if err = (&sdk.Error{Op: "wallet send", Code: status.Code(err), Message: status.Convert(err).Message()}); !errors.Is(err, tc.want) {
				t.Fatalf("%v, want %v", err, tc.want)
			}
		})
	}
	// Through the SDK's own parsing: more decimals than the asset has.
	if _, err := c.WalletSend(ctx, sdk.SendRequest{To: to, AmountText: "0.0000001 USD"}); !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Fatalf("too many decimals: %v", err)
	}
	if after := nonce(); after != before {
		t.Fatalf("carol's account sent %d transactions for refused requests", after-before)
	}
	if got := onChain(t, crypto.Address(common.HexToAddress(to)), crypto.Address(chain.Token)); !got.IsZero() {
		t.Fatalf("the recipient holds %s", got.Dec())
	}
}
