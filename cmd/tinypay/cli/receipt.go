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
   tinypay receipt verify @payment.json --payee 0xFcd1463D08CC5a0B5509C2ABa78373E5b5E3762E --min-amount "0.25 USD"`,
		Commands: []*ucli.Command{
			{
				Name:      "verify",
				Usage:     "check a receipt's signature and print who paid whom how much, for what and when (offline)",
				ArgsUsage: "RECEIPT",
				Flags: append(assetFlags(),
					&ucli.StringFlag{Name: "payee", Usage: "fail unless this address signed the receipt (was paid)"},
					&ucli.StringFlag{Name: "payer", Usage: "fail unless this address paid"},
					&ucli.StringFlag{Name: "item", Usage: "fail unless the payment was for this item"},
					&ucli.StringFlag{Name: "min-amount", Usage: "fail unless at least this much was paid: \"0.5 ETH\", \"0.25 USD\", or base units"},
				),
				Description: `RECEIPT is the string "tinypay pay" printed, @FILE holding it, the receipt's JSON,
or the JSON of a payment (tinypay pay --json), or - to read it from stdin.

Needs no node and no data directory: the receipt is the payee's EIP-712 signature
over the payment, on its chain and adjudicator contract. Exit status 0 if it is
valid (and meets the --payee, --payer, --item and --min-amount expectations),
1 with the reason if not.

A receipt names its asset by address (ETH, or a token contract). Amounts are shown
in the asset's units: ETH is known; a token's symbol and decimals come from the
local node if one runs (--datadir), or from --decimals and --symbol; failing both,
they are shown in base units.

Examples:
   tinypay receipt verify RECEIPT
   tinypay pay --offer @offer.json --json | tinypay receipt verify -
   tinypay receipt verify @payment.json --payee 0xFcd1463D08CC5a0B5509C2ABa78373E5b5E3762E --item article-7
   tinypay receipt verify @receipt.txt --min-amount "0.25 USD"
   tinypay receipt verify @receipt.txt --decimals 6 --symbol USD  # no node at hand`,
				Action: verifyReceipt,
			},
		},
	}
}

// receiptExpect is what `receipt verify` checks beyond the signature.
type receiptExpect struct {
	payee, payer *crypto.Address
	item         *string
	minText      string       // --min-amount as given
	min          *uint256.Int // parsed in the receipt's asset (resolve)
	asset        *apiv1.Asset // the receipt's asset, nil if unknown
}

// resolve parses --min-amount in the receipt's asset (nil: unknown).
func (w *receiptExpect) resolve(r *apiv1.Receipt, asset *apiv1.Asset) error {
	w.asset = asset
	if w.minText == "" {
		return nil
	}
	var as assets
	if asset != nil {
		as = assets{asset}
	}
	min, named, err := amountArgs(as, strings.Fields(w.minText))
	switch {
	case err != nil && asset == nil:
		return usagef("--min-amount: %v (the receipt's token %s is unknown here: add --decimals N, or give base units)", err, r.GetAsset())
	case err != nil:
		return usagef("--min-amount: %v (the receipt is in %s)", err, asset.GetSymbol())
	}
	if named != nil {
		w.asset = named
	}
	w.min = min
	return nil
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
	want.minText = cmd.String("min-amount")
	if err := checkAssetFlags(cmd); err != nil {
		return err
	}
	raw, err := readShared(a[0], cmd.Root().Reader)
	if err != nil {
		return usagef("receipt %s: %v", a[0], err)
	}
	out := &client{out: cmd.Root().Writer, json: cmd.Bool("json")}
	r, err := decodeReceipt(raw)
	var asset *apiv1.Asset
	if err == nil {
		err = apiutil.VerifyReceipt(r)
		if err == nil {
			asset = offlineAsset(ctx, cmd, r.GetAsset(), want.minText)
			if rerr := want.resolve(r, asset); rerr != nil {
				return rerr
			}
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
		printReceipt(out, r, asset)
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
	if w.min != nil {
		if got, _ := uint256.FromDecimal(r.GetAmount()); got == nil || got.Lt(w.min) {
			return fmt.Errorf("pays %s, less than %s", show(r.GetAmount(), w.asset), show(w.min.Dec(), w.asset))
		}
	}
	return nil
}

func printReceipt(c *client, r *apiv1.Receipt, asset *apiv1.Asset) {
	item := "no item"
	if r.GetItemId() != "" {
		item = fmt.Sprintf("item %q", r.GetItemId())
	}
	amount, cumulative := show(r.GetAmount(), asset), show(r.GetCumulative(), asset)
	if asset == nil { // a token nobody here knows
		amount += " of token " + r.GetAsset()
	}
	c.printf("valid receipt: %s paid %s %s for %s\n", r.GetPayer(), r.GetPayee(), amount, item)
	c.printf("  at          %s\n", time.Unix(int64(r.GetTime()), 0).UTC().Format(time.RFC3339))
	if o := r.GetOfferId(); o != "" && strings.Trim(strings.TrimPrefix(o, "0x"), "0") != "" {
		c.printf("  offer       %s\n", o)
	}
	c.printf("  payment     %s\n  channel     %s (%s paid through it in all)\n  chain       %d, adjudicator %s\n",
		r.GetPaymentId(), r.GetChannelId(), cumulative, r.GetChainId(), r.GetAdjudicator())
}
