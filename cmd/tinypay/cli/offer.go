package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v3"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/apiutil"
)

func offerCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "offer",
		Usage: "sell an item: sign an offer anyone can pay (once, once per payer, up to N times, or without limit)",
		Description: `Examples:
   tinypay offer create article-7 0.25 USD             # payable once; prints the OFFER string to share
   tinypay offer create course-1 20 USD --uses per-payer
   tinypay offer show OFFER                             # what it is, offline
   tinypay offer show --sales OFFER                     # on the seller's node: also how often it sold
   tinypay pay --offer OFFER                            # the buyer, on their node`,
		Commands: []*ucli.Command{
			{
				Name:      "create",
				Usage:     "sign a price for an item, payable as --uses says until it expires",
				ArgsUsage: "ITEM PRICE ASSET",
				Flags: []ucli.Flag{
					&ucli.DurationFlag{Name: "ttl", Usage: "how long the offer stays payable (whole seconds, up to a year)", Value: 10 * time.Minute},
					&ucli.StringFlag{Name: "uses", Usage: "how many payments it takes: once (one in all), per-payer (one per paying node), N (up to N in all, 1 to 1000000), or unlimited", Value: "once"},
				},
				Description: `The node signs the offer, with its use policy, with its key. Give the printed
OFFER string (or the --json output) to the buyers, who pay it with
"tinypay pay --offer OFFER" and get a receipt signed by this node that names them.

--uses says how many payments this node takes for the offer before it expires:
  once        one payment in all (the default); a second buyer is refused and refunded
  per-payer   one payment per paying node, by any number of them
  N           up to N payments in all, by anyone (a buyer may buy several)
  unlimited   any number of payments, by anyone
A payment beyond that is refused and refunded at once; "tinypay offer show --sales"
tells how often the offer sold.

Examples:
   tinypay offer create article-7 0.25 USD
   tinypay offer create song-42 0.001 USD --ttl 1h            # payable for an hour
   tinypay offer create course-1 20 USD --uses per-payer --ttl 24h
   tinypay offer create concert 15 USD --uses 100             # 100 tickets
   tinypay offer create tip-jar 1 USD --uses unlimited
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
					uses, max, err := parseUses(cmd.String("uses"))
					if err != nil {
						return err
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
					o, err := c.CreateOffer(ctx, &apiv1.CreateOfferRequest{ItemId: a[0], Asset: asset.GetSymbol(), Price: price.Dec(),
						TtlSeconds: uint64(ttl / time.Second), Uses: uses, MaxUses: max})
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
				Usage:     "decode an offer and check its signature, offline; with --sales, ask this node how often it sold",
				ArgsUsage: "OFFER",
				Flags: append(assetFlags(),
					&ucli.BoolFlag{Name: "sales", Usage: "also ask this node, the offer's seller, how many payments of it it took and how many it still takes"},
				),
				Description: `OFFER is the string "tinypay offer create" printed, @FILE holding it or its
JSON, or - to read it from stdin. It prints the item, price, seller, expiry and use
policy, and checks the seller's signature over them; this needs no node. The price is
shown in the asset's units: ETH is known; a token's symbol and decimals come from the
local node if one runs (--datadir), or from --decimals and --symbol.

With --sales it also asks the node (of --datadir, or --api), which must be the
offer's seller, for its uses so far: the payments it took (refused and refunded
ones do not count) and, for an offer payable once or up to N times, how many are
left. With --json it prints the offer's JSON, or with --sales the sales' JSON.

Examples:
   tinypay offer show OFFER
   tinypay offer show @offer.json
   tinypay offer show @offer.json --decimals 6 --symbol USD   # no node at hand
   tinypay --datadir alice offer show --sales @offer.json`,
				Action: func(ctx context.Context, cmd *ucli.Command) error {
					a, err := args(cmd, 1, 1)
					if err != nil {
						return err
					}
					o, err := offerArg(cmd, a[0])
					if err != nil {
						return err
					}
					if err := checkAssetFlags(cmd); err != nil {
						return err
					}
					if !cmd.Bool("sales") {
						c := &client{out: cmd.Root().Writer, json: cmd.Bool("json")}
						return c.showOffer(o, offlineAsset(ctx, cmd, o.GetAsset(), ""), nil)
					}
					return withClient(func(ctx context.Context, cmd *ucli.Command, c *client) error {
						if err := apiutil.VerifyOffer(o); err != nil {
							return fmt.Errorf("invalid offer: %w", err)
						}
						u, err := c.GetOfferUses(ctx, &apiv1.GetOfferUsesRequest{Offer: o})
						if err != nil {
							return err
						}
						as, err := c.assets(ctx)
						if err != nil {
							return err
						}
						return c.showOffer(o, offerAsset(as, o), u)
					})(ctx, cmd)
				},
			},
		},
	}
}

// showOffer prints an offer (its JSON with --json), checks its signature,
// and prints its uses so far if u is set (with --json: u's JSON instead).
func (c *client) showOffer(o *apiv1.Offer, asset *apiv1.Asset, u *apiv1.OfferUsage) error {
	verr := apiutil.VerifyOffer(o)
	switch {
	case c.json && u != nil:
		if err := c.printJSON(u); err != nil {
			return err
		}
	case c.json:
		if err := c.printJSON(o); err != nil {
			return err
		}
	default:
		c.printOffer(o, asset)
	}
	if verr != nil {
		return fmt.Errorf("invalid offer: %w", verr)
	}
	if c.json {
		return nil
	}
	c.printf("  signature valid (by the payee)\n")
	if u != nil {
		left := "no limit"
		if u.Remaining != nil {
			left = fmt.Sprintf("%d left", u.GetRemaining())
		}
		if u.GetExpired() {
			left += ", expired"
		}
		c.printf("  sold     %d times so far (%s)\n", u.GetPaid(), left)
	}
	return nil
}

// parseUses reads --uses: once, per-payer, unlimited, or a number of
// payments.
func parseUses(v string) (apiv1.OfferUses, uint32, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "once", "":
		return apiv1.OfferUses_OFFER_USES_UNSPECIFIED, 0, nil
	case "per-payer":
		return apiv1.OfferUses_OFFER_USES_PER_PAYER, 0, nil
	case "unlimited":
		return apiv1.OfferUses_OFFER_USES_UNLIMITED, 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n < 1 || n > 1_000_000 {
		return 0, 0, usagef("--uses %q: want once, per-payer, unlimited, or a number of payments from 1 to 1000000", v)
	}
	if n == 1 {
		return apiv1.OfferUses_OFFER_USES_UNSPECIFIED, 0, nil
	}
	return apiv1.OfferUses_OFFER_USES_LIMITED, uint32(n), nil
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
	c.printf("offer %s\n  item     %s\n  price    %s\n  payee    %s\n  expires  %s (%s)\n  payable  %s\n",
		o.GetOfferId(), o.GetItemId(), price, o.GetPayee(), exp.Format(time.RFC3339), untilText(exp), apiutil.OfferUsesText(o))
}

func untilText(t time.Time) string {
	d := time.Until(t).Round(time.Second)
	if d < 0 {
		return "expired " + (-d).String() + " ago"
	}
	return "in " + d.String()
}
