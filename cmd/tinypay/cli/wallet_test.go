package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node/nodetest"
	"github.com/tinypay/tinypay/settlement/evm/evmtest"
)

// terminal is stdin that says it is a terminal, with what the person types.
type terminal struct{ *strings.Reader }

func (terminal) IsTerminal() bool { return true }

// TestWalletSendConfirmation: without --yes, `wallet send` shows the
// amount in the asset's units with its symbol, the destination and the fee
// estimate, and sends only on "y"; any other answer sends nothing.
func TestWalletSendConfirmation(t *testing.T) {
	chain := nodetest.NewChain(t)
	alice := nodetest.Start(t, chain, "alice", chain.Alice)
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	to := k.Address()
	usd := crypto.Address(chain.Token)
	held := func() uint64 {
		v, err := chain.Backend(t, evmtest.Key("reader")).Balance(context.Background(), to, usd)
		if err != nil {
			t.Fatal(err)
		}
		return v.Uint64()
	}
	nonce := func() uint64 {
		n, err := chain.Client().NonceAt(context.Background(), common.Address(alice.Key.Address()), nil)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	send := func(answer string) result {
		return runIO(terminal{strings.NewReader(answer)}, &nodetest.SyncBuffer{}, "--datadir", alice.Dir, "wallet", "send", to.Hex(), "2.5", "USD")
	}
	before := nonce()
	for _, answer := range []string{"n\n", "\n", "", "yes please\n"} {
		r := send(answer)
		want(t, r, ExitFailed, "Send 2.5 USD", "to   "+to.Hex(), "fee  about", "ETH", "Send it? [y/N]", "not sent")
		if got := held(); got != 0 {
			t.Fatalf("answer %q: the recipient holds %d", answer, got)
		}
	}
	if n := nonce(); n != before {
		t.Fatalf("unconfirmed sends made %d transactions", n-before)
	}
	r := send("y\n")
	want(t, r, ExitOK, "Send 2.5 USD", "sent 2.5 USD to "+to.Hex())
	if got := held(); got != 2_500_000 {
		t.Fatalf("the recipient holds %d, want 2500000", got)
	}
}
