package cli

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"time"

	ucli "github.com/urfave/cli/v3"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/apiutil"
)

func paymentsCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "payments",
		Usage: "list payments in and out, oldest first",
		Flags: []ucli.Flag{
			&ucli.Uint64Flag{Name: "after", Usage: "start after this log sequence number"},
			&ucli.Uint64Flag{Name: "limit", Usage: "at most this many (0: every one)", Value: 50},
			&ucli.StringFlag{Name: "channel", Usage: "only this channel"},
			&ucli.BoolFlag{Name: "csv", Usage: "export every payment (all pages, ignoring --limit) as CSV with a header row"},
			pageSizeFlag(),
		},
		Description: `The node answers up to 1000 payments at a time; the command asks for as many
pages as --limit takes, and says how to go on if there are more.

With --csv the columns are seq, time (RFC 3339, UTC), direction, peer, channel,
amount (in the asset's units), asset, item, memo, status, offer, stream and
receipt_signature.

Examples:
   tinypay payments --limit 20
   tinypay payments --after 1200 --channel CHANNEL --json
   tinypay payments --limit 0 --channel CHANNEL
   tinypay payments --csv > payments.csv`,
		Action: withClient(func(ctx context.Context, cmd *ucli.Command, c *client) error {
			if cmd.Bool("csv") {
				return c.paymentsCSV(ctx, cmd.Uint64("after"), cmd.String("channel"), pageSize(cmd, 0))
			}
			limit := cmd.Uint64("limit")
			var pays []*apiv1.Payment
			more := false
			// One more than the limit, to tell whether there are more.
			size := pageSize(cmd, 0)
			if limit > 0 {
				size = pageSize(cmd, limit+1)
			}
			req := &apiv1.ListPaymentsRequest{AfterSeq: cmd.Uint64("after"), Limit: uint32(size), ChannelId: cmd.String("channel")}
			if req.Limit == 0 {
				req.Limit = 1000
			}
			for p, err := range apiutil.Payments(ctx, c.ListPayments, req) {
				if err != nil {
					return err
				}
				if limit > 0 && uint64(len(pays)) == limit {
					more = true
					break
				}
				pays = append(pays, p)
			}
			var next uint64
			if more {
				next = pays[len(pays)-1].GetSeq()
			}
			if c.json {
				return c.printJSON(&apiv1.ListPaymentsResponse{Payments: pays, NextAfterSeq: next})
			}
			as, err := c.assets(ctx)
			if err != nil {
				return err
			}
			chAsset := map[string]*apiv1.Asset{}
			for _, p := range pays {
				a, ok := chAsset[p.GetChannelId()]
				if !ok {
					if ch, err := c.GetChannel(ctx, &apiv1.GetChannelRequest{ChannelId: p.GetChannelId()}); err == nil {
						a = as.byAddress(ch.GetAsset().GetAddress())
					}
					chAsset[p.GetChannelId()] = a
				}
				c.printPayment(p, a)
			}
			if next != 0 {
				c.printf("more: tinypay payments --after %d\n", next)
			}
			return nil
		}),
	}
}

// paymentsCSV writes every payment after seq (in one channel, if set) as
// CSV, asking for size payments at a time (0: 1000).
func (c *client) paymentsCSV(ctx context.Context, after uint64, channelID string, size int32) error {
	w := csv.NewWriter(c.out)
	if err := w.Write([]string{"seq", "time", "direction", "peer", "channel", "amount", "asset", "item", "memo", "status", "offer", "stream", "receipt_signature"}); err != nil {
		return err
	}
	if size == 0 {
		size = 1000
	}
	chAsset := map[string]*apiv1.Asset{}
	for p, err := range apiutil.Payments(ctx, c.ListPayments, &apiv1.ListPaymentsRequest{AfterSeq: after, Limit: uint32(size), ChannelId: channelID}) {
		if err != nil {
			w.Flush()
			return err
		}
		a, ok := chAsset[p.GetChannelId()]
		if !ok {
			if ch, err := c.GetChannel(ctx, &apiv1.GetChannelRequest{ChannelId: p.GetChannelId()}); err == nil {
				a = ch.GetAsset()
			}
			chAsset[p.GetChannelId()] = a
		}
		amount := p.GetAmount()
		if a != nil {
			amount = formatUnits(amount, a.GetDecimals())
		}
		if err := w.Write([]string{
			strconv.FormatUint(p.GetSeq(), 10), time.Unix(0, p.GetTimeUnixNano()).UTC().Format(time.RFC3339Nano), p.GetDirection(),
			p.GetPeer(), p.GetChannelId(), amount, a.GetSymbol(), p.GetItemId(), p.GetMemo(), p.GetStatus(),
			p.GetOfferId(), p.GetStreamId(), p.GetReceipt().GetSignature(),
		}); err != nil {
			return err
		}
	}
	w.Flush()
	return w.Error()
}

func (c *client) printPayment(p *apiv1.Payment, a *apiv1.Asset) {
	arrow, who := "->", p.GetPeer()
	if p.GetDirection() == "incoming" {
		arrow = "<-"
	}
	c.printf("%6d  %s  %s %s %s  %s", p.GetSeq(), time.Unix(0, p.GetTimeUnixNano()).Format("15:04:05.000"), arrow, who, show(p.GetAmount(), a), p.GetStatus())
	if p.GetItemId() != "" {
		c.printf("  item %s", p.GetItemId())
	}
	if p.GetMemo() != "" {
		c.printf("  \"%s\"", p.GetMemo())
	}
	c.printf("\n")
}

func eventsCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "events",
		Usage: "print the node's event log (payments, channel events, streams, transfers of the wallet's funds); --follow to keep watching",
		Flags: []ucli.Flag{
			&ucli.Uint64Flag{Name: "after", Usage: "start after this sequence number (resume where you left off)"},
			&ucli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing new events; across dropped connections and restarts of the node, until the node refuses the token or the --after cursor"},
			&ucli.StringFlag{Name: "only", Usage: "only \"payments\", only \"channels\" (channel events: opened, closed, disputed, ...) or only \"transfers\" (wallet sends and sweeps)"},
			&ucli.IntFlag{Name: "last", Usage: "print only the newest N events (of --only's kind), oldest first, reading the log backwards (with --follow: then go on)"},
		},
		Description: "Examples:\n   tinypay events --follow\n   tinypay events --after 1000 --json\n   tinypay events --only channels\n   tinypay events --only transfers\n   tinypay events --only channels --last 20",
		Action: withLiveClient(func(ctx context.Context, cmd *ucli.Command, c *client) error {
			as, err := c.assets(ctx)
			if err != nil {
				return err
			}
			w := &watcher{cmd: cmd, cl: c} // with --follow, it reconnects and replaces c
			byChannel := map[string]*apiv1.Asset{}
			assetOf := func(id string) *apiv1.Asset {
				a, ok := byChannel[id]
				if !ok {
					if ch, err := w.client().GetChannel(ctx, &apiv1.GetChannelRequest{ChannelId: id}); err == nil {
						a = as.byAddress(ch.GetAsset().GetAddress())
					}
					byChannel[id] = a
				}
				return a
			}
			only := cmd.String("only")
			if only != "" && only != "payments" && only != "channels" && only != "transfers" {
				return usagef("--only %q: want payments, channels or transfers", only)
			}
			last := cmd.Int("last")
			if last < 0 || (last > 0 && cmd.IsSet("after")) {
				return usagef("--last %d: want a positive count, and not with --after", last)
			}
			sctx, cancel := context.WithCancel(ctx)
			defer cancel()
			show := func(ev *apiv1.Event) error {
				if (only == "payments" && ev.GetPayment() == nil) || (only == "channels" && ev.GetChannel() == nil) ||
					(only == "transfers" && ev.GetTransfer() == nil) {
					return nil
				}
				if c.json {
					return c.printJSON(ev)
				}
				c.printEvent(ev, assetOf)
				return nil
			}
			after := cmd.Uint64("after")
			if last > 0 {
				evs, newest, err := c.newestEvents(ctx, last, only)
				if err != nil {
					return err
				}
				for _, ev := range evs {
					if err := show(ev); err != nil {
						return err
					}
				}
				if !cmd.Bool("follow") {
					return nil
				}
				after = newest
			}
			if cmd.Bool("follow") {
				// Follow for as long as it takes: when the connection
				// drops or the node restarts, reconnect with backoff and
				// resume after the last event printed.
				errw := cmd.Root().ErrWriter
				if errw == nil {
					errw = os.Stderr
				}
				subs := make(chan subEvent)
				go w.subscribe(sctx, after, nil, subs)
				for {
					select {
					case e := <-subs:
						if e.err != nil {
							return e.err
						}
						if e.ev == nil {
							fmt.Fprintln(errw, safe(e.state))
							continue
						}
						if err := show(e.ev); err != nil {
							return err
						}
					case <-ctx.Done():
						return nil
					}
				}
			}
			stream, err := c.SubscribeEvents(sctx, &apiv1.SubscribeEventsRequest{AfterSeq: after})
			if err != nil {
				return err
			}
			idle := time.NewTimer(500 * time.Millisecond)
			events := make(chan *apiv1.Event)
			errs := make(chan error, 1)
			go func() {
				for {
					ev, err := stream.Recv()
					if err != nil {
						errs <- err
						return
					}
					events <- ev
				}
			}()
			for {
				select {
				case ev := <-events:
					if err := show(ev); err != nil {
						return err
					}
					idle.Reset(500 * time.Millisecond)
				case err := <-errs:
					if errors.Is(err, io.EOF) {
						return nil
					}
					return err
				case <-idle.C:
					return nil // caught up
				}
			}
		}),
	}
}

func (c *client) printEvent(ev *apiv1.Event, assetOf func(channelID string) *apiv1.Asset) {
	switch x := ev.GetEvent().(type) {
	case *apiv1.Event_Payment:
		c.printPayment(x.Payment, assetOf(x.Payment.GetChannelId()))
	case *apiv1.Event_Channel:
		ce := x.Channel
		c.printf("%6d  %s  channel %s %s: %s\n", ev.GetSeq(), time.Unix(0, ev.GetTimeUnixNano()).Format("15:04:05.000"), short(ce.GetChannelId()), ce.GetKind(), ce.GetDetail())
	case *apiv1.Event_Stream:
		se := x.Stream
		c.printf("%6d  %s  stream %s %s: %s\n", ev.GetSeq(), time.Unix(0, ev.GetTimeUnixNano()).Format("15:04:05.000"), short(se.GetStream().GetId()), se.GetKind(), se.GetDetail())
	case *apiv1.Event_Transfer:
		tr := x.Transfer.GetTransfer()
		what := "wallet send"
		if tr.GetOrigin() == "sweep" {
			what = "sweep"
		}
		c.printf("%6d  %s  %s %s %s to %s: %s (key %s)\n", ev.GetSeq(), time.Unix(0, ev.GetTimeUnixNano()).Format("15:04:05.000"), what,
			x.Transfer.GetKind(), show(tr.GetAmount(), tr.GetAsset()), tr.GetTo(), x.Transfer.GetDetail(), tr.GetIdempotencyKey())
	default:
		c.printf("%6d  %s  %T\n", ev.GetSeq(), time.Unix(0, ev.GetTimeUnixNano()).Format("15:04:05.000"), ev.GetEvent())
	}
}

func short(id string) string {
	if len(id) > 12 {
		return id[:10] + "…"
	}
	return id
}

// newestEvents reads the log backwards for the newest n events of only's
// kind ("" for all), and returns them oldest first with the log's newest
// seq when it began (to follow on from).
func (c *client) newestEvents(ctx context.Context, n int, only string) ([]*apiv1.Event, uint64, error) {
	info, err := c.GetInfo(ctx, &apiv1.GetInfoRequest{})
	if err != nil {
		return nil, 0, err
	}
	kinds := map[string][]string{"payments": {"payment_in", "payment_out"}, "channels": {"channel"}, "transfers": {"transfer"}}[only]
	var out []*apiv1.Event
	for before := info.GetLastSeq() + 1; len(out) < n && before != 0; {
		r, err := c.ListEvents(ctx, &apiv1.ListEventsRequest{BeforeSeq: before, Kinds: kinds, Limit: uint32(min(n-len(out), 1000))})
		if err != nil {
			return nil, 0, err
		}
		out = append(out, r.GetEvents()...)
		before = r.GetNextBeforeSeq()
	}
	slices.Reverse(out)
	return out, info.GetLastSeq(), nil
}
