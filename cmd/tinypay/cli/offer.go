package cli

import (
	"context"
	"fmt"
	"time"

	ucli "github.com/urfave/cli/v3"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/apiutil"
)

func offerCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "offer",
		Usage: "sell an item: sign an offer anyone can pay once",
		Description: `Examples:
   tinypay offer create article-7 0.25 USD        # prints the OFFER string to share
   tinypay offer show OFFER                        # what it is, offline
   tinypay pay --offer OFFER                       # the buyer, on their node`,
		Commands: []*ucli.Command{
			{
				Name:      "create",
				Usage:     "sign a price for an item, payable once until it expires",
				ArgsUsage: "ITEM PRICE ASSET",
				Flags: []ucli.Flag{
					&ucli.DurationFlag{Name: "ttl", Usage: "how long the offer stays payable (whole seconds, up to a year)", Value: 10 * time.Minute},
				},
				Description: `The node signs the offer with its key. Give the printed OFFER string (or the
--json output) to the buyer, who pays it with "tinypay pay --offer OFFER" and gets
a receipt signed by this node. An offer can be paid once.

Examples:
   tinypay offer create article-7 0.25 USD
   tinypay offer create song-42 0.001 USD --ttl 1h       # payable for an hour
   tinypay offer create ebook 0.01 ETH --json > offer.json`,
				Action: withClient(func(ctx context.Context, cmd *ucli.Command, c *client) error {
					a, err := args(cmd, 2, 3)
					if err != nil {
						return err
					}
					ttl := cmd.Duration("ttl")
					if ttl < time.Second || ttl%time.Second != 0 {
						return usagef("--ttl %s: want whole seconds, at least 1s", ttl)
					}
					as, err := c.assets(ctx)
					if err != nil {
						return err
					}
					price, asset, err := amountArgs(as, a[1:])
					if err != nil {
						return err
					}
					if asset == nil {
						return usagef("name the asset of the price: tinypay offer create %s %s USD", a[0], a[1])
					}
					o, err := c.CreateOffer(ctx, &apiv1.CreateOfferRequest{ItemId: a[0], Asset: asset.GetSymbol(), Price: price.Dec(), TtlSeconds: uint64(ttl / time.Second)})
					if err != nil {
						return err
					}
					if c.json {
						return c.printJSON(o)
					}
					c.printOffer(o, asset)
					c.printf("the buyer pays it with `tinypay pay --offer OFFER`; OFFER:\n%s\n", compact(o))
					return nil
				}),
			},
			{
				Name:      "show",
				Usage:     "decode an offer and check its signature, offline",
				ArgsUsage: "OFFER",
				Description: `OFFER is the string "tinypay offer create" printed, @FILE holding it or its
JSON, or - to read it from stdin. Checking the signature needs no node. The price is
shown in the asset's units: ETH is known; a token's symbol and decimals come from the
local node if one runs (--datadir), or from --decimals and --symbol.

Examples:
   tinypay offer show OFFER
   tinypay offer show @offer.json
   tinypay offer show @offer.json --decimals 6 --symbol USD   # no node at hand`,
				Flags: assetFlags(),
				Action: func(ctx context.Context, cmd *ucli.Command) error {
					a, err := args(cmd, 1, 1)
					if err != nil {
						return err
					}
					o, err := offerArg(cmd, a[0])
					if err != nil {
						return err
					}
					c := &client{out: cmd.Root().Writer, json: cmd.Bool("json")}
					if c.json {
						return c.printJSON(o)
					}
					if err := checkAssetFlags(cmd); err != nil {
						return err
					}
					c.printOffer(o, offlineAsset(ctx, cmd, o.GetAsset(), ""))
					if err := apiutil.VerifyOffer(o); err != nil {
						return fmt.Errorf("invalid offer: %w", err)
					}
					c.printf("  signature valid (by the payee)\n")
					return nil
				},
			},
		},
	}
}

// offerArg reads and decodes an OFFER argument; a malformed offer is a
// usage error.
func offerArg(cmd *ucli.Command, arg string) (*apiv1.Offer, error) {
	b, err := readShared(arg, cmd.Root().Reader)
	if err != nil {
		return nil, usagef("offer %s: %v", arg, err)
	}
	o, err := decodeOffer(b)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return o, nil
}

func isZeroAddress(addr string) bool {
	return addr == "" || addr == "0x0000000000000000000000000000000000000000"
}

// offerAsset finds the asset an offer is in among the node's.
func offerAsset(as assets, o *apiv1.Offer) *apiv1.Asset {
	if isZeroAddress(o.GetAsset()) {
		return as.byAddress("")
	}
	return as.byAddress(o.GetAsset())
}

func (c *client) printOffer(o *apiv1.Offer, asset *apiv1.Asset) {
	exp := time.Unix(int64(o.GetExpiry()), 0)
	price := show(o.GetPrice(), asset)
	if asset == nil {
		price += " of token " + o.GetAsset()
	}
	c.printf("offer %s\n  item     %s\n  price    %s\n  payee    %s\n  expires  %s (%s)\n",
		o.GetOfferId(), o.GetItemId(), price, o.GetPayee(), exp.Format(time.RFC3339), untilText(exp))
}

func untilText(t time.Time) string {
	d := time.Until(t).Round(time.Second)
	if d < 0 {
		return "expired " + (-d).String() + " ago"
	}
	return "in " + d.String()
}
