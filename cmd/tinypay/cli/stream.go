package cli

import (
	"context"
	"strings"
	"time"

	"github.com/holiman/uint256"
	ucli "github.com/urfave/cli/v3"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/apiutil"
)

func streamCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "stream",
		Usage: "pay a peer per second: start, stop, list and inspect streams",
		Description: `Examples:
   tinypay stream start 0xFcd1463D08CC5a0B5509C2ABa78373E5b5E3762E "0.001 USD/s" --budget "1 USD"
   tinypay stream list --all
   tinypay stream get STREAM
   tinypay stream stop STREAM`,
		Commands: []*ucli.Command{
			{
				Name:      "start",
				Usage:     "start paying a peer (or through a channel) at a rate, until the budget, the duration or the balance runs out",
				ArgsUsage: "PEER|CHANNEL_ID RATE",
				Flags: []ucli.Flag{
					&ucli.StringFlag{Name: "budget", Usage: "stop after paying this much in all (\"1 USD\" or base units)"},
					&ucli.DurationFlag{Name: "duration", Usage: "stop after this long (whole seconds)"},
					&ucli.DurationFlag{Name: "tick", Usage: "pay this often (100ms to 1h)", Value: time.Second},
					&ucli.StringFlag{Name: "item", Usage: "what the stream pays for (shown to the payee)"},
					&ucli.StringFlag{Name: "auto-topup", Usage: "when the channel runs low, deposit this much more, once (\"5 USD\" or base units)"},
				},
				Description: `RATE is an amount per second, minute or hour in the asset's units ("0.001 USD/s",
"0.06 USD/min", "3.6USD/h") or whole base units per second ("1000/s", "1000"). The
node pays rate x tick every tick through the channel; the payee sees the stream in
its "tinypay stream list" and can stop it.

Examples:
   tinypay stream start 0xFcd1463D08CC5a0B5509C2ABa78373E5b5E3762E "0.001 USD/s" --budget "1 USD"
   tinypay stream start CHANNEL 1000/s --duration 10m --item radio-1
   tinypay stream start 0xFcd1463D08CC5a0B5509C2ABa78373E5b5E3762E "0.06 USD/min" --tick 250ms --auto-topup "5 USD"`,
				Action: withClient(func(ctx context.Context, cmd *ucli.Command, c *client) error {
					a, err := args(cmd, 2, 3)
					if err != nil {
						return err
					}
					req := &apiv1.StartStreamRequest{ItemId: cmd.String("item")}
					if req.ChannelId, req.Peer, err = parseTarget(a[0]); err != nil {
						return err
					}
					tick := cmd.Duration("tick")
					if tick < 100*time.Millisecond || tick > time.Hour || tick%time.Millisecond != 0 {
						return usagef("--tick %s: want whole milliseconds from 100ms to 1h", tick)
					}
					req.TickMs = uint64(tick / time.Millisecond)
					if d := cmd.Duration("duration"); d != 0 {
						if d < time.Second || d%time.Second != 0 {
							return usagef("--duration %s: want whole seconds, at least 1s", d)
						}
						req.DurationSeconds = uint64(d / time.Second)
					}
					as, err := c.assets(ctx)
					if err != nil {
						return err
					}
					rate, asset, err := parseRate(as, strings.Join(a[1:], " "))
					if err != nil {
						return err
					}
					req.Rate = rate.Dec()
					if asset != nil {
						req.Asset = asset.GetSymbol()
					} else if req.ChannelId != "" {
						if ch, err := c.GetChannel(ctx, &apiv1.GetChannelRequest{ChannelId: req.ChannelId}); err == nil {
							asset = ch.GetAsset()
						}
					}
					for _, f := range []struct {
						flag string
						dst  *string
					}{{"budget", &req.Budget}, {"auto-topup", &req.AutoTopup}} {
						if v := cmd.String(f.flag); v != "" {
							amt, err := amountIn(as, v, asset)
							if err != nil {
								return usagef("--%s: %v", f.flag, err)
							}
							*f.dst = amt.Dec()
						}
					}
					st, err := c.StartStream(ctx, req)
					if err != nil {
						return err
					}
					if c.json {
						return c.printJSON(st)
					}
					c.printStream(st)
					c.printf("stop it with: tinypay stream stop %s\n", st.GetId())
					return nil
				}),
			},
			streamAction("stop", "stop a stream (the payer's or the payee's side)", "Example:\n   tinypay stream stop STREAM",
				func(ctx context.Context, c *client, id string) (*apiv1.Stream, error) {
					return c.StopStream(ctx, &apiv1.StopStreamRequest{StreamId: id})
				}),
			streamAction("get", "show a stream: status (live, stalled, ended), paid, ticks, end reason", "Example:\n   tinypay stream get STREAM --json",
				func(ctx context.Context, c *client, id string) (*apiv1.Stream, error) {
					return c.GetStream(ctx, &apiv1.GetStreamRequest{StreamId: id})
				}),
			{
				Name:  "list",
				Usage: "list streams in and out that have not ended, newest first",
				Flags: []ucli.Flag{
					&ucli.BoolFlag{Name: "all", Usage: "include ended streams"},
					&ucli.Uint64Flag{Name: "limit", Usage: "at most this many, the newest (0: every one)"},
					pageSizeFlag(),
				},
				Description: `The node answers a page at a time; the command asks for every page (or
until --limit), so it lists any number of streams.

Examples:
   tinypay stream list
   tinypay stream list --all
   tinypay stream list --all --json
   tinypay stream list --limit 20`,
				Action: withClient(func(ctx context.Context, cmd *ucli.Command, c *client) error {
					limit := cmd.Uint64("limit")
					size := pageSize(cmd, limit)
					all := &apiv1.ListStreamsResponse{}
					n := uint64(0)
					for st, err := range apiutil.Streams(ctx, c.ListStreams, &apiv1.ListStreamsRequest{All: cmd.Bool("all"), PageSize: size}) {
						if err != nil {
							return err
						}
						n++
						if c.json {
							all.Streams = append(all.Streams, st)
						} else {
							c.printStreamLine(st)
						}
						if n == limit {
							break
						}
					}
					if c.json {
						return c.printJSON(all)
					}
					if n == 0 {
						c.printf("no streams\n")
					}
					return nil
				}),
			},
		},
	}
}

// printStreamLine prints a stream on one line, for stream list.
func (c *client) printStreamLine(st *apiv1.Stream) {
	arrow := "->"
	if st.GetDirection() == "incoming" {
		arrow = "<-"
	}
	c.printf("%s  %-7s %s %s  %s/s  paid %s", st.GetId(), st.GetStatus(), arrow, st.GetPeer(), show(st.GetRate(), st.GetAsset()), show(st.GetPaid(), st.GetAsset()))
	if st.GetItemId() != "" {
		c.printf("  item %s", st.GetItemId())
	}
	if st.GetEndReason() != "" {
		c.printf("  (%s)", st.GetEndReason())
	}
	c.printf("\n")
}

// streamAction is a command that takes a stream id and prints the stream.
func streamAction(name, usage, desc string, call func(ctx context.Context, c *client, id string) (*apiv1.Stream, error)) *ucli.Command {
	return &ucli.Command{
		Name: name, Usage: usage, ArgsUsage: "STREAM_ID", Description: desc,
		Action: withClient(func(ctx context.Context, cmd *ucli.Command, c *client) error {
			a, err := args(cmd, 1, 1)
			if err != nil {
				return err
			}
			st, err := call(ctx, c, a[0])
			if err != nil {
				return err
			}
			if c.json {
				return c.printJSON(st)
			}
			c.printStream(st)
			return nil
		}),
	}
}

func (c *client) printStream(st *apiv1.Stream) {
	a := st.GetAsset()
	c.printf("stream %s  %s, %s\n  peer        %s\n  channel     %s\n", st.GetId(), st.GetDirection(), st.GetStatus(), st.GetPeer(), st.GetChannelId())
	c.printf("  rate        %s/s, paid every %s\n", show(st.GetRate(), a), time.Duration(st.GetTickMs())*time.Millisecond)
	c.printf("  paid        %s in %d ticks\n", show(st.GetPaid(), a), st.GetTicks())
	if b := st.GetBudget(); b != "" && b != "0" {
		c.printf("  budget      %s\n", show(b, a))
	}
	if st.GetItemId() != "" {
		c.printf("  item        %s\n", st.GetItemId())
	}
	if st.GetStartedUnixNano() != 0 {
		c.printf("  started     %s\n", time.Unix(0, st.GetStartedUnixNano()).Format(time.RFC3339))
	}
	if st.GetLastPaymentUnixNano() != 0 {
		c.printf("  last paid   %s\n", time.Unix(0, st.GetLastPaymentUnixNano()).Format(time.RFC3339))
	}
	if st.GetEndUnix() != 0 {
		c.printf("  ends        %s\n", time.Unix(int64(st.GetEndUnix()), 0).Format(time.RFC3339))
	}
	if st.GetEndReason() != "" {
		c.printf("  ended       %s\n", st.GetEndReason())
	}
}

// ratePeriods are the units a rate may be given per.
var ratePeriods = map[string]uint64{"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hr": 3600, "hour": 3600}

// parseRate parses a rate into base units per second: "0.001 USD/s",
// "0.06USD/min", "3.6 USD/h", "1000/s" or "1000" (base units per second).
// The asset is nil for base units.
func parseRate(as assets, s string) (*uint256.Int, *apiv1.Asset, error) {
	amount, per := s, uint64(1)
	if i := strings.LastIndex(s, "/"); i >= 0 {
		unit := strings.ToLower(strings.TrimSpace(s[i+1:]))
		p, ok := ratePeriods[unit]
		if !ok {
			return nil, nil, usagef("rate %q: per %q? want /s, /min or /h", s, unit)
		}
		amount, per = s[:i], p
	}
	v, asset, err := amountArgs(as, strings.Fields(amount))
	if err != nil {
		return nil, nil, usagef("rate %q: %v", s, err)
	}
	if v.IsZero() {
		return nil, nil, usagef("rate %q: a stream pays more than zero", s)
	}
	if per > 1 {
		var q, r uint256.Int
		q.DivMod(v, uint256.NewInt(per), &r)
		if !r.IsZero() || q.IsZero() {
			return nil, nil, usagef("rate %q is not a whole number of base units per second (%s base units / %d s)", s, v.Dec(), per)
		}
		v = &q
	}
	return v, asset, nil
}

// amountIn parses "1 USD", "1USD" or base units; a named asset must be want
// (when want is known).
func amountIn(as assets, s string, want *apiv1.Asset) (*uint256.Int, error) {
	v, a, err := amountArgs(as, strings.Fields(s))
	if err != nil {
		return nil, err
	}
	if a != nil && want != nil && !strings.EqualFold(a.GetSymbol(), want.GetSymbol()) {
		return nil, usagef("%q is in %s, not %s", s, a.GetSymbol(), want.GetSymbol())
	}
	return v, nil
}
