package cli

import (
	"context"

	ucli "github.com/urfave/cli/v3"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/apiutil"
)

func (c *client) printChannel(ctx context.Context, ch *apiv1.Channel) error {
	if c.json {
		return c.printJSON(ch)
	}
	a := ch.GetAsset()
	c.printf("channel %s\n  peer        %s\n  phase       %s (side %s)\n", ch.GetId(), ch.GetPeer(), ch.GetPhase(), ch.GetSide())
	c.printf("  balance     mine %s, peer %s\n", show(ch.GetMyBalance(), a), show(ch.GetPeerBalance(), a))
	c.printf("  deposited   mine %s, peer %s\n", show(ch.GetMyDeposit(), a), show(ch.GetPeerDeposit(), a))
	if ch.GetMyWithdrawn() != "0" || ch.GetPeerWithdrawn() != "0" {
		c.printf("  withdrawn   mine %s, peer %s\n", show(ch.GetMyWithdrawn(), a), show(ch.GetPeerWithdrawn(), a))
	}
	c.printf("  sent        %s in %d proofs (%d acknowledged)\n  received    %s in %d proofs\n",
		show(ch.GetSent(), a), ch.GetSentNonce(), ch.GetAckedNonce(), show(ch.GetReceived(), a), ch.GetReceivedNonce())
	if ch.GetSettleAfter() != 0 {
		c.printf("  settle after chain time %d\n", ch.GetSettleAfter())
	}
	if b := ch.GetBehind(); b != "" {
		c.printf("  BEHIND      %s; no payments until it has caught up\n", b)
	}
	return nil
}

// channelAction is a command that takes a channel id and prints the channel.
func channelAction(name, usage, desc string, call func(ctx context.Context, c *client, id string) (*apiv1.Channel, error)) *ucli.Command {
	return &ucli.Command{
		Name: name, Usage: usage, ArgsUsage: "CHANNEL_ID", Description: desc,
		Action: withClient(func(ctx context.Context, cmd *ucli.Command, c *client) error {
			a, err := args(cmd, 1, 1)
			if err != nil {
				return err
			}
			ch, err := call(ctx, c, a[0])
			if err != nil {
				return err
			}
			return c.printChannel(ctx, ch)
		}),
	}
}

// channelAmountAction is a command that takes a channel id and an amount in
// the channel's asset, and prints the channel.
func channelAmountAction(name, usage, desc string, call func(ctx context.Context, c *client, id, amount string) (*apiv1.Channel, error)) *ucli.Command {
	return &ucli.Command{
		Name: name, Usage: usage, ArgsUsage: "CHANNEL_ID AMOUNT [ASSET]", Description: desc,
		Action: withClient(func(ctx context.Context, cmd *ucli.Command, c *client) error {
			a, err := args(cmd, 2, 3)
			if err != nil {
				return err
			}
			amt, err := c.channelAmount(ctx, a[0], a[1:])
			if err != nil {
				return err
			}
			ch, err := call(ctx, c, a[0], amt)
			if err != nil {
				return err
			}
			return c.printChannel(ctx, ch)
		}),
	}
}

func channelCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "channel",
		Usage: "open, fund, list, close and settle channels",
		Commands: []*ucli.Command{
			{
				Name:      "open",
				Usage:     "open a channel with a connected peer, with a first deposit from this node",
				ArgsUsage: "PEER AMOUNT [ASSET]",
				Flags:     []ucli.Flag{&ucli.Uint64Flag{Name: "challenge-period", Usage: "seconds the other side has to answer a force close (default: the node's)"}},
				Description: `The peer must accept; the node then opens the channel on chain and returns when
it is open. The deposit comes from the node's wallet (approve and deposit for tokens).

Examples:
   tinypay channel open 0xFcd1463D08CC5a0B5509C2ABa78373E5b5E3762E 10 USD
   tinypay channel open 0xFcd1463D08CC5a0B5509C2ABa78373E5b5E3762E 0.5 ETH --challenge-period 3600`,
				Action: withClient(func(ctx context.Context, cmd *ucli.Command, c *client) error {
					a, err := args(cmd, 2, 3)
					if err != nil {
						return err
					}
					as, err := c.assets(ctx)
					if err != nil {
						return err
					}
					amt, asset, err := amountArgs(as, a[1:])
					if err != nil {
						return err
					}
					if asset == nil {
						return usagef("name the asset of the channel: tinypay channel open PEER AMOUNT ASSET")
					}
					ch, err := c.OpenChannel(ctx, &apiv1.OpenChannelRequest{Peer: a[0], Asset: asset.GetSymbol(), Deposit: amt.Dec(), ChallengePeriod: cmd.Uint64("challenge-period")})
					if err != nil {
						return err
					}
					return c.printChannel(ctx, ch)
				}),
			},
			channelAmountAction("deposit", "top up this node's side of a channel", `An AMOUNT without its ASSET is a whole number of base units.

Example:
   tinypay channel deposit CHANNEL 5 USD`,
				func(ctx context.Context, c *client, id, amount string) (*apiv1.Channel, error) {
					return c.Deposit(ctx, &apiv1.DepositRequest{ChannelId: id, Amount: amount})
				}),
			channelAmountAction("withdraw", "take funds out of an open channel (the peer countersigns)", `An AMOUNT without its ASSET is a whole number of base units. The peer
countersigns; the funds reach this node's wallet once the transaction is
mined.

Example:
   tinypay channel withdraw CHANNEL 2 USD`,
				func(ctx context.Context, c *client, id, amount string) (*apiv1.Channel, error) {
					return c.Withdraw(ctx, &apiv1.WithdrawRequest{ChannelId: id, Amount: amount})
				}),
			{
				Name:  "list",
				Usage: "list channels, newest first",
				Flags: []ucli.Flag{
					&ucli.BoolFlag{Name: "all", Usage: "include settled and abandoned channels"},
					&ucli.StringFlag{Name: "peer", Usage: "only channels with this peer"},
					&ucli.Uint64Flag{Name: "limit", Usage: "at most this many, the newest (0: every one)"},
					pageSizeFlag(),
				},
				Description: `The node answers a page at a time; the command asks for every page (or
until --limit), so it lists any number of channels.

Examples:
   tinypay channel list
   tinypay channel list --all --json
   tinypay channel list --limit 20`,
				Action: withClient(func(ctx context.Context, cmd *ucli.Command, c *client) error {
					limit := cmd.Uint64("limit")
					size := pageSize(cmd, limit)
					req := &apiv1.ListChannelsRequest{All: cmd.Bool("all"), Peer: cmd.String("peer"), PageSize: size}
					all := &apiv1.ListChannelsResponse{}
					n := uint64(0)
					for ch, err := range apiutil.Channels(ctx, c.ListChannels, req) {
						if err != nil {
							return err
						}
						n++
						if c.json {
							all.Channels = append(all.Channels, ch)
						} else {
							a := ch.GetAsset()
							c.printf("%s  %-8s peer %s  mine %s  peer %s\n", ch.GetId(), ch.GetPhase(), ch.GetPeer(), show(ch.GetMyBalance(), a), show(ch.GetPeerBalance(), a))
							if b := ch.GetBehind(); b != "" {
								c.printf("  behind: %s\n", b)
							}
						}
						if n == limit {
							break
						}
					}
					if c.json {
						return c.printJSON(all)
					}
					if n == 0 {
						c.printf("no channels\n")
					}
					return nil
				}),
			},
			channelAction("get", "show one channel", "Example:\n   tinypay channel get CHANNEL",
				func(ctx context.Context, c *client, id string) (*apiv1.Channel, error) {
					return c.GetChannel(ctx, &apiv1.GetChannelRequest{ChannelId: id})
				}),
			channelAction("close", "close cooperatively: both sides sign the net balances and the contract pays out at once",
				`The node stops taking new payments on the channel, lets the ones in flight be
acknowledged (up to a few seconds), signs the net balances, has the peer
countersign and submits them; it returns once the contract paid out.

On a channel that is closing already (the node restarted, or the peer did not
answer in time) it resumes the close: the signed terms are sent again, or
submitted if both signatures are there. On a channel whose open never reached
the chain it abandons the channel, on both sides (nothing was locked in it).

Example:
   tinypay channel close CHANNEL`,
				func(ctx context.Context, c *client, id string) (*apiv1.Channel, error) {
					return c.CloseChannel(ctx, &apiv1.CloseChannelRequest{ChannelId: id})
				}),
			channelAction("force-close", "close without the peer; the challenge period starts and the node settles after it",
				"Use it when the peer is gone or refuses to close.\n\nExample:\n   tinypay channel force-close CHANNEL",
				func(ctx context.Context, c *client, id string) (*apiv1.Channel, error) {
					return c.ForceClose(ctx, &apiv1.ForceCloseRequest{ChannelId: id})
				}),
			channelAction("settle", "settle a force-closed channel after its challenge period (the node also does it by itself)",
				"Example:\n   tinypay channel settle CHANNEL",
				func(ctx context.Context, c *client, id string) (*apiv1.Channel, error) {
					return c.Settle(ctx, &apiv1.SettleRequest{ChannelId: id})
				}),
		},
	}
}

// channelAmount parses an amount for a channel, checking that a named asset
// is the channel's.
func (c *client) channelAmount(ctx context.Context, id string, parts []string) (string, error) {
	ch, err := c.GetChannel(ctx, &apiv1.GetChannelRequest{ChannelId: id})
	if err != nil {
		return "", err
	}
	as := assets{ch.GetAsset()}
	amt, _, err := amountArgs(as, parts)
	if err != nil {
		return "", err
	}
	return amt.Dec(), nil
}
