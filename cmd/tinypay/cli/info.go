package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

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
			now := time.Now()
			c.printf("chain head   block %d\n", info.GetChainHead())
			switch last := info.GetWatcherLastPollUnixNano(); {
			case info.GetWatcherError() != "":
				c.printf("WATCHER      failing: %s (last good read %s)\n", info.GetWatcherError(), ago(now, last))
			default:
				c.printf("watcher      last read the chain %s\n", ago(now, last))
			}
			for _, t := range info.GetTowers() {
				state := "connected"
				if !t.GetConnected() {
					state = "NOT connected"
					if e := t.GetLastError(); e != "" {
						state += ": " + e
					}
				}
				c.printf("tower        %s@%s %s, %d waiting, last acknowledgement %s\n",
					t.GetEndpoint(), t.GetAddress(), state, t.GetPending(), ago(now, t.GetLastAckUnixNano()))
			}
			if b := info.GetBackup(); b != nil {
				c.printf("last backup  %s\n", ago(now, b.GetLastUnixNano()))
			}
			if ids := info.GetIdentities(); len(ids) > 0 {
				c.printf("identities   this node and %s (tinypay revenue --all-identities)\n", strings.Join(ids, ", "))
			}
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

// ago says how long before now the time t (unix nanoseconds) was, or
// "never" for 0.
func ago(now time.Time, t int64) string {
	if t == 0 {
		return "never"
	}
	return fmt.Sprintf("%s ago (%s)", now.Sub(time.Unix(0, t)).Round(time.Second), time.Unix(0, t).Format(time.RFC3339))
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
