package cli

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	ucli "github.com/urfave/cli/v3"
	"golang.org/x/term"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tinypay/tinypay/crypto"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
)

// ethAsset describes wei amounts (fees) for printing.
var ethAsset = &apiv1.Asset{Symbol: "ETH", Decimals: 18}

func walletCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "wallet",
		Usage: "move funds out of the node's own account on chain (its wallet: `tinypay balance` shows it)",
		Commands: []*ucli.Command{{
			Name:      "send",
			Usage:     "send ETH or a token from the node's wallet to another address, on chain",
			ArgsUsage: "ADDRESS AMOUNT ASSET   or   ADDRESS all ASSET",
			Flags: []ucli.Flag{
				&ucli.BoolFlag{Name: "yes", Aliases: []string{"y"}, Usage: "send without asking for confirmation (needed when stdin is not a terminal)"},
				&ucli.StringFlag{Name: "key", Usage: "idempotency key: running the command again with the same key never sends twice (default: random, printed)"},
			},
			Description: `Sends from the node's own account (where channel closes and withdrawals pay out)
to ADDRESS, in one chain transaction paid by the node, and returns once it is mined.
Before sending it shows the amount, the destination and the fee estimate, and asks
for confirmation; --yes skips the question (scripts must pass it: without a terminal
the command refuses to send).

"all" sends the whole balance of the asset; for ETH, less the most the transaction's
gas can cost (what the fee does not use stays in the wallet). Sending all ETH leaves
the node nothing to pay gas for closing its channels.

If the command stops before the transfer is confirmed (a timeout, a lost connection),
run it again with the key it printed: the node never sends twice for one key, and
reports the first transfer.

Examples:
   tinypay wallet send ADDRESS 25 USD
   tinypay wallet send ADDRESS 0.5 ETH --yes --key rent-2026-12
   tinypay wallet send ADDRESS all USD`,
			Action: withClient(func(ctx context.Context, cmd *ucli.Command, c *client) error {
				return c.walletSend(ctx, cmd)
			}),
		}},
	}
}

func (c *client) walletSend(ctx context.Context, cmd *ucli.Command) error {
	a, err := args(cmd, 2, 3)
	if err != nil {
		return err
	}
	to, err := crypto.ParseAddress(a[0])
	if err != nil {
		return usagef("ADDRESS %q: %v", a[0], err)
	}
	if to.IsZero() {
		return usagef("ADDRESS is the zero address: funds sent there are lost")
	}
	as, err := c.assets(ctx)
	if err != nil {
		return err
	}
	req := &apiv1.WalletSendRequest{To: to.Hex()}
	var asset *apiv1.Asset
	if strings.EqualFold(a[1], "all") {
		if len(a) != 3 {
			return usagef("name the asset to send all of: `tinypay wallet send %s all USD`", a[0])
		}
		if asset, err = as.bySymbol(a[2]); err != nil {
			return err
		}
		req.All = true
	} else {
		amt, at, err := amountArgs(as, a[1:])
		if err != nil {
			return err
		}
		if at == nil {
			return usagef("name the asset of the amount: `tinypay wallet send %s %s ETH` (or USD, ...)", a[0], a[1])
		}
		if amt.IsZero() {
			return usagef("the amount is zero: nothing to send")
		}
		asset, req.Amount = at, amt.Dec()
	}
	req.Asset = asset.GetSymbol()

	est, err := c.EstimateWalletSend(ctx, req)
	if err != nil {
		return err
	}
	errw := cmd.Root().ErrWriter
	if errw == nil {
		errw = os.Stderr
	}
	if !cmd.Bool("yes") {
		in := cmd.Root().Reader
		if in == nil {
			in = os.Stdin
		}
		if !isTerminal(in) {
			return usagef("not sending %s to %s without confirmation: stdin is not a terminal to ask on; pass --yes to send without asking",
				show(est.GetAmount(), asset), to.Hex())
		}
		what := show(est.GetAmount(), asset)
		if req.All {
			what = "all " + asset.GetSymbol() + " in the wallet (now " + what + ")"
			if asset.GetAddress() == "" {
				what = "all ETH in the wallet less the most the gas can cost (now " + show(est.GetAmount(), asset) + ")"
			}
		}
		fprintf(errw, "Send %s\n  to   %s\n  from this node's wallet, which holds %s\n  fee  about %s (at most %s), paid in ETH by the node\n",
			what, to.Hex(), show(est.GetBalance(), asset), show(est.GetFee(), ethAsset), show(est.GetMaxFee(), ethAsset))
		if !confirm(in, errw, "Send it? [y/N] ") {
			return errors.New("not sent: not confirmed")
		}
	}
	key := cmd.String("key")
	if key == "" {
		var b [12]byte
		_, _ = rand.Read(b[:])
		key = "cli-" + hex.EncodeToString(b[:])
	}
	req.IdempotencyKey = key
	t, err := c.WalletSend(ctx, req)
	if err != nil {
		switch status.Code(err) {
		case codes.DeadlineExceeded, codes.Unavailable, codes.Canceled:
			return fmt.Errorf("%w (key %s: run the command again with --key %s to learn the outcome; it never sends twice)", err, key, key)
		}
		return err
	}
	if c.json {
		return c.printJSON(t)
	}
	c.printf("sent %s to %s\n  transaction %s, block %d, fee %s\n  key %s\n",
		show(t.GetAmount(), asset), t.GetTo(), t.GetTxHash(), t.GetBlock(), show(t.GetFee(), ethAsset), t.GetIdempotencyKey())
	return nil
}

// isTerminal reports whether r is a terminal a person can answer on. A
// reader may say so itself (IsTerminal), as tests' do.
func isTerminal(r io.Reader) bool {
	if t, ok := r.(interface{ IsTerminal() bool }); ok {
		return t.IsTerminal()
	}
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// confirm asks a yes/no question on w and reads the answer from r: only
// "y" or "yes" is yes.
func confirm(r io.Reader, w io.Writer, question string) bool {
	fmt.Fprint(w, question)
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(w)
		return false
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}
