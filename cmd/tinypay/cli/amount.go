package cli

import (
	"context"
	"strings"
	"time"

	"github.com/holiman/uint256"
	ucli "github.com/urfave/cli/v3"

	"github.com/tinypay/tinypay/channel"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
)

// assets is what the node knows, by symbol.
type assets []*apiv1.Asset

func (as assets) bySymbol(sym string) (*apiv1.Asset, error) {
	var names []string
	for _, a := range as {
		if strings.EqualFold(a.GetSymbol(), sym) || (a.GetAddress() != "" && strings.EqualFold(a.GetAddress(), sym)) {
			return a, nil
		}
		names = append(names, a.GetSymbol())
	}
	return nil, usagef("unknown asset %q (this node knows %s)", sym, strings.Join(names, ", "))
}

// byAddress finds an asset by its token address ("" for ETH).
func (as assets) byAddress(addr string) *apiv1.Asset {
	for _, a := range as {
		if strings.EqualFold(a.GetAddress(), addr) {
			return a
		}
	}
	return nil
}

// parseUnits turns "0.0001" in an asset with decimals into base units.
func parseUnits(s string, decimals uint32) (*uint256.Int, error) {
	v, err := channel.ParseUnits(s, decimals)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return v, nil
}

// formatUnits writes base units (a decimal string from the API) in the
// asset's units, trimming zeros.
func formatUnits(base string, decimals uint32) string {
	v, err := uint256.FromDecimal(base)
	if err != nil {
		return base
	}
	return channel.FormatUnits(v, decimals)
}

// show formats an amount as "1.5 USD".
func show(base string, a *apiv1.Asset) string {
	if a == nil {
		return base + " base units"
	}
	return formatUnits(base, a.GetDecimals()) + " " + a.GetSymbol()
}

// amountArgs parses "AMOUNT SYMBOL", "AMOUNTSYMBOL" or a bare integer of
// base units (then the asset is unknown: nil).
func amountArgs(as assets, parts []string) (*uint256.Int, *apiv1.Asset, error) {
	parts = strings.Fields(strings.Join(parts, " ")) // "10 USD" as one argument too
	if len(parts) == 0 {
		return nil, nil, usagef("missing amount")
	}
	if len(parts) > 2 {
		return nil, nil, usagef("amount %q: want AMOUNT ASSET, like \"0.25 USD\"", strings.Join(parts, " "))
	}
	num, sym := parts[0], ""
	if len(parts) > 1 {
		sym = parts[1]
	} else if i := strings.IndexFunc(num, func(r rune) bool { return (r < '0' || r > '9') && r != '.' }); i > 0 {
		num, sym = num[:i], num[i:]
	}
	if sym == "" {
		if strings.Contains(num, ".") {
			return nil, nil, usagef("amount %q: name the asset (\"%s USD\") or give whole base units", num, num)
		}
		v, err := parseUnits(num, 0)
		return v, nil, err
	}
	a, err := as.bySymbol(sym)
	if err != nil {
		return nil, nil, err
	}
	v, err := parseUnits(num, a.GetDecimals())
	if err != nil {
		return nil, nil, err
	}
	return v, a, nil
}

func (c *client) assets(ctx context.Context) (assets, error) {
	info, err := c.GetInfo(ctx, &apiv1.GetInfoRequest{})
	if err != nil {
		return nil, err
	}
	return assets(info.GetAssets()), nil
}

// assetFlags name a token's units for commands that work without a node
// (offer show, receipt verify).
func assetFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.IntFlag{Name: "decimals", Usage: "the token's decimals, if no local node knows it (ETH needs none)"},
		&ucli.StringFlag{Name: "symbol", Usage: "with --decimals: the token's symbol"},
	}
}

func checkAssetFlags(cmd *ucli.Command) error {
	if cmd.IsSet("decimals") && (cmd.Int("decimals") < 0 || cmd.Int("decimals") > channel.MaxDecimals) {
		return usagef("--decimals %d: between 0 and %d", cmd.Int("decimals"), channel.MaxDecimals)
	}
	if cmd.IsSet("symbol") && !cmd.IsSet("decimals") {
		return usagef("--symbol needs --decimals")
	}
	return nil
}

// offlineAsset says what the asset at addr is, for a command that needs no
// node: ETH; a token as --decimals and --symbol (or the symbol in
// amountText, "0.25 USD") give it; or as a local node knows it. Nil if
// nothing says.
func offlineAsset(ctx context.Context, cmd *ucli.Command, addr, amountText string) *apiv1.Asset {
	if isZeroAddress(addr) {
		return &apiv1.Asset{Symbol: "ETH", Decimals: 18}
	}
	if cmd.IsSet("decimals") {
		sym := cmd.String("symbol")
		if _, named, ok := strings.Cut(strings.TrimSpace(amountText), " "); sym == "" && ok {
			sym = strings.TrimSpace(named)
		}
		if sym == "" {
			sym = "units of " + addr
		}
		return &apiv1.Asset{Symbol: sym, Address: addr, Decimals: uint32(cmd.Int("decimals"))}
	}
	c, err := dial(cmd)
	if err != nil {
		return nil
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	as, err := c.assets(ctx)
	if err != nil {
		return nil
	}
	return as.byAddress(addr)
}
