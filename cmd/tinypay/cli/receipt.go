package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/holiman/uint256"
	ucli "github.com/urfave/cli/v3"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/tinypay/tinypay/crypto"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/apiutil"
)

func receiptCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "receipt",
		Usage: "check payment receipts offline",
		Description: `Examples:
   tinypay receipt verify RECEIPT
   tinypay receipt verify @payment.json --payee 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 --min-amount 250000`,
		Commands: []*ucli.Command{
			{
				Name:      "verify",
				Usage:     "check a receipt's signature and print who paid whom how much, for what and when (offline)",
				ArgsUsage: "RECEIPT",
				Flags: []ucli.Flag{
					&ucli.StringFlag{Name: "payee", Usage: "fail unless this address signed the receipt (was paid)"},
					&ucli.StringFlag{Name: "payer", Usage: "fail unless this address paid"},
					&ucli.StringFlag{Name: "item", Usage: "fail unless the payment was for this item"},
					&ucli.StringFlag{Name: "min-amount", Usage: "fail unless at least this much was paid: base units, \"0.5 ETH\", or \"0.25 USD\" with --decimals"},
					&ucli.IntFlag{Name: "decimals", Usage: "decimals of the asset named in --min-amount (receipts name no asset; ETH has 18)"},
				},
				Description: `RECEIPT is the string "tinypay pay" printed, @FILE holding it, the receipt's JSON,
or the JSON of a payment (tinypay pay --json), or - to read it from stdin.

Needs no node and no data directory: the receipt is the payee's EIP-712 signature
over the payment, on its chain and adjudicator contract. Exit status 0 if it is
valid (and meets the --payee, --payer, --item and --min-amount expectations),
1 with the reason if not.

Receipts carry no asset: amounts are the channel asset's base units.

Examples:
   tinypay receipt verify CAEQ...
   tinypay pay --offer @offer.json --json | tinypay receipt verify -
   tinypay receipt verify @payment.json --payee 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 --item article-7
   tinypay receipt verify @receipt.txt --min-amount "0.25 USD" --decimals 6`,
				Action: verifyReceipt,
			},
		},
	}
}

// receiptExpect is what `receipt verify` checks beyond the signature.
type receiptExpect struct {
	payee, payer *crypto.Address
	item         *string
	minAmount    *uint256.Int
}

func verifyReceipt(ctx context.Context, cmd *ucli.Command) error {
	a, err := args(cmd, 1, 1)
	if err != nil {
		return err
	}
	var want receiptExpect
	for _, f := range []struct {
		flag string
		dst  **crypto.Address
	}{{"payee", &want.payee}, {"payer", &want.payer}} {
		if v := cmd.String(f.flag); v != "" {
			addr, err := crypto.ParseAddress(v)
			if err != nil {
				return usagef("--%s %q: %v", f.flag, v, err)
			}
			*f.dst = &addr
		}
	}
	if cmd.IsSet("item") {
		item := cmd.String("item")
		want.item = &item
	}
	if v := cmd.String("min-amount"); v != "" {
		decimals := -1
		if cmd.IsSet("decimals") {
			decimals = int(cmd.Int("decimals"))
		}
		if want.minAmount, err = offlineAmount(v, decimals); err != nil {
			return err
		}
	}
	raw, err := readShared(a[0], cmd.Root().Reader)
	if err != nil {
		return usagef("receipt %s: %v", a[0], err)
	}
	out := &client{out: cmd.Root().Writer, json: cmd.Bool("json")}
	r, err := decodeReceipt(raw)
	if err == nil {
		err = apiutil.VerifyReceipt(r)
		if err == nil {
			err = want.check(r)
		}
	}
	if out.json {
		type result struct {
			Valid   bool            `json:"valid"`
			Error   string          `json:"error,omitempty"`
			Receipt json.RawMessage `json:"receipt,omitempty"`
		}
		res := result{Valid: err == nil}
		if err != nil {
			res.Error = err.Error()
		}
		if r != nil {
			res.Receipt, _ = protojson.Marshal(r)
		}
		b, _ := json.MarshalIndent(res, "", "  ")
		out.printf("%s\n", b)
	}
	if err != nil {
		return fmt.Errorf("invalid receipt: %w", err)
	}
	if !out.json {
		printReceipt(out, r)
	}
	return nil
}

func (w receiptExpect) check(r *apiv1.Receipt) error {
	if w.payee != nil {
		if got, _ := crypto.ParseAddress(r.GetPayee()); got != *w.payee {
			return fmt.Errorf("signed by payee %s, not %s", r.GetPayee(), w.payee.Hex())
		}
	}
	if w.payer != nil {
		if got, _ := crypto.ParseAddress(r.GetPayer()); got != *w.payer {
			return fmt.Errorf("paid by %s, not %s", r.GetPayer(), w.payer.Hex())
		}
	}
	if w.item != nil && r.GetItemId() != *w.item {
		return fmt.Errorf("for item %q, not %q", r.GetItemId(), *w.item)
	}
	if w.minAmount != nil {
		if got, _ := uint256.FromDecimal(r.GetAmount()); got == nil || got.Lt(w.minAmount) {
			return fmt.Errorf("pays %s base units, less than %s", r.GetAmount(), w.minAmount.Dec())
		}
	}
	return nil
}

// offlineAmount parses an amount without a node: base units, or AMOUNT
// SYMBOL with the asset's decimals given (ETH: 18).
func offlineAmount(s string, decimals int) (*uint256.Int, error) {
	parts := strings.Fields(s)
	if len(parts) == 1 {
		if i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' }); i > 0 {
			parts = []string{s[:i], s[i:]}
		}
	}
	if len(parts) == 0 || len(parts) > 2 {
		return nil, usagef("amount %q: want base units or AMOUNT SYMBOL", s)
	}
	if len(parts) == 1 {
		v, _, err := amountArgs(nil, parts)
		return v, err
	}
	if decimals < 0 {
		if !strings.EqualFold(parts[1], "ETH") {
			return nil, usagef("amount %q: offline, the decimals of %s are unknown: add --decimals N, or give base units", s, parts[1])
		}
		decimals = 18
	}
	if decimals > 77 {
		return nil, usagef("--decimals %d: at most 77", decimals)
	}
	return parseUnits(parts[0], uint32(decimals))
}

func printReceipt(c *client, r *apiv1.Receipt) {
	item := "no item"
	if r.GetItemId() != "" {
		item = fmt.Sprintf("item %q", r.GetItemId())
	}
	asset := "ETH (wei)"
	if a := r.GetAsset(); a != "" && strings.Trim(strings.TrimPrefix(a, "0x"), "0") != "" {
		asset = "of token " + a
	}
	c.printf("valid receipt: %s paid %s %s base units %s for %s\n", r.GetPayer(), r.GetPayee(), r.GetAmount(), asset, item)
	c.printf("  at          %s\n", time.Unix(int64(r.GetTime()), 0).UTC().Format(time.RFC3339))
	if o := r.GetOfferId(); o != "" && strings.Trim(strings.TrimPrefix(o, "0x"), "0") != "" {
		c.printf("  offer       %s\n", o)
	}
	c.printf("  payment     %s\n  channel     %s (%s base units paid through it in all)\n  chain       %d, adjudicator %s\n",
		r.GetPaymentId(), r.GetChannelId(), r.GetCumulative(), r.GetChainId(), r.GetAdjudicator())
}
