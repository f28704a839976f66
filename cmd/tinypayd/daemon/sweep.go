package daemon

import (
	"strings"

	"github.com/holiman/uint256"
	"github.com/urfave/cli/v3"

	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node"
	"github.com/tinypay/tinypay/rpc/sdk"
)

// sweepFlags are the sweep policy: where the node's earnings go once they
// land in its wallet.
func sweepFlags(cf configFile) []cli.Flag {
	const cat = "earnings out: the sweep policy"
	return []cli.Flag{
		&cli.StringFlag{Name: "sweep-to", Category: cat, Sources: cf.sources("sweep-to"),
			Usage: "after every payout (a channel close or settle) or withdrawal that lands in the wallet, and at start, send what the wallet holds above --sweep-above to this address"},
		&cli.StringSliceFlag{Name: "sweep-above", Category: cat, Sources: cf.sources("sweep-above"),
			Usage: `what the wallet keeps of an asset, as "AMOUNT SYMBOL" ("100 USD", "0.5 ETH"); repeat it per asset; only the assets named are swept`},
		&cli.StringFlag{Name: "sweep-gas-reserve", Category: cat, Value: "0.01 ETH", Sources: cf.sources("sweep-gas-reserve"),
			Usage: "ETH an ETH sweep always leaves in the wallet, for the gas of closes and sweeps"},
	}
}

// sweepFromFlags builds the sweep policy; assets are the node's.
func sweepFromFlags(c *cli.Command, assets []node.Asset) (node.SweepConfig, error) {
	s := node.DefaultConfig().Sweep
	all := append([]node.Asset{node.ETH}, assets...)
	to, above := c.String("sweep-to"), c.StringSlice("sweep-above")
	if to == "" {
		if len(above) > 0 {
			return s, usagef("--sweep-above needs --sweep-to: where should the earnings go?")
		}
		return s, nil
	}
	a, err := crypto.ParseAddress(to)
	if err != nil {
		return s, usagef("--sweep-to %q: %v", to, err)
	}
	if a.IsZero() {
		return s, usagef("--sweep-to is the zero address: funds sent there are lost")
	}
	if len(above) == 0 {
		return s, usagef(`--sweep-to needs --sweep-above for each asset to sweep, e.g. --sweep-above "100 USD"`)
	}
	s.To = a
	for _, spec := range above {
		v, asset, err := parseAssetAmount(spec, all)
		if err != nil {
			return s, usagef("--sweep-above %q: %v", spec, err)
		}
		s.Above = append(s.Above, node.SweepThreshold{Asset: asset.Address, Above: *v})
	}
	reserve, asset, err := parseAssetAmount(c.String("sweep-gas-reserve"), all)
	if err != nil {
		return s, usagef("--sweep-gas-reserve %q: %v", c.String("sweep-gas-reserve"), err)
	}
	if !asset.Address.IsZero() {
		return s, usagef("--sweep-gas-reserve %q: the gas reserve is in ETH", c.String("sweep-gas-reserve"))
	}
	s.GasReserve = *reserve
	return s, nil
}

// parseAssetAmount parses "AMOUNT SYMBOL" (or "AMOUNTSYMBOL") in one of
// assets.
func parseAssetAmount(spec string, assets []node.Asset) (*uint256.Int, node.Asset, error) {
	s := strings.TrimSpace(spec)
	num, sym, ok := strings.Cut(s, " ")
	if !ok {
		i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
		if i <= 0 {
			return nil, node.Asset{}, usagef(`want "AMOUNT SYMBOL", e.g. "100 USD"`)
		}
		num, sym = s[:i], s[i:]
	}
	sym = strings.TrimSpace(sym)
	var names []string
	for _, a := range assets {
		if strings.EqualFold(a.Symbol, sym) {
			v, err := sdk.ParseUnits(num, uint32(a.Decimals))
			if err != nil {
				return nil, a, err
			}
			return v, a, nil
		}
		names = append(names, a.Symbol)
	}
	return nil, node.Asset{}, usagef("unknown asset %q (this node knows %s)", sym, strings.Join(names, ", "))
}
