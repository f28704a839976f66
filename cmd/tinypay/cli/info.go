package cli

import (
	"context"

	ucli "github.com/urfave/cli/v3"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
)

func infoCommand() *ucli.Command {
	return &ucli.Command{
		Name:        "info",
		Usage:       "show the node's address, chain and contract",
		Description: "Example:\n   tinypay info\n   tinypay --datadir ./bob info --json",
		Action: withClient(func(ctx context.Context, cmd *ucli.Command, c *client) error {
			info, err := c.GetInfo(ctx, &apiv1.GetInfoRequest{})
			if err != nil {
				return err
			}
			if c.json {
				return c.printJSON(info)
			}
			c.printf("address      %s\nchain id     %d\nadjudicator  %s\npeer listen  %s\nchain time   %d\nversion      %s\nassets      ",
				info.GetAddress(), info.GetChainId(), info.GetAdjudicator(), info.GetPeerListenAddr(), info.GetChainTime(), info.GetVersion())
			for _, a := range info.GetAssets() {
				addr := a.GetAddress()
				if addr == "" {
					addr = "native"
				}
				c.printf(" %s (%s, %d decimals)", a.GetSymbol(), addr, a.GetDecimals())
			}
			c.printf("\nchannels     %d open, %d of them ready to pay\n", info.GetChannelsOpen(), info.GetChannelsReady())
			if u := info.GetUnhealthy(); u != "" {
				c.printf("UNHEALTHY    %s\n", u)
			}
			if info.GetRestored() {
				c.printf("RESTORED     from a backup; catching up with the peers and the chain\n")
			}
			if n := info.GetChannelsBehind(); n > 0 {
				c.printf("BEHIND       on %d channel(s): no payments on them until they have caught up (tinypay channel list)\n", n)
			}
			return nil
		}),
	}
}

func balanceCommand() *ucli.Command {
	return &ucli.Command{
		Name:        "balance",
		Usage:       "show on-chain wallet balances, the node's share of open channels, and payouts not yet withdrawn",
		Description: "Example:\n   tinypay balance",
		Action: withClient(func(ctx context.Context, cmd *ucli.Command, c *client) error {
			b, err := c.GetBalances(ctx, &apiv1.GetBalancesRequest{})
			if err != nil {
				return err
			}
			if c.json {
				return c.printJSON(b)
			}
			c.printf("%-6s %24s %24s %24s\n", "ASSET", "WALLET", "IN CHANNELS", "PAYOUT")
			for _, x := range b.GetBalances() {
				a := x.GetAsset()
				c.printf("%-6s %24s %24s %24s\n", a.GetSymbol(), formatUnits(x.GetWallet(), a.GetDecimals()),
					formatUnits(x.GetInChannels(), a.GetDecimals()), formatUnits(x.GetPayout(), a.GetDecimals()))
			}
			return nil
		}),
	}
}
