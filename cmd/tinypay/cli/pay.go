package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	ucli "github.com/urfave/cli/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
)

func payCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "pay",
		Usage:     "pay a peer (or through a given channel) and wait for its acknowledgement",
		ArgsUsage: "PEER|CHANNEL_ID AMOUNT [ASSET]",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "key", Usage: "idempotency key: retrying with the same key never pays twice (default: random, printed)"},
			&ucli.StringFlag{Name: "item", Usage: "item id the payment is for"},
			&ucli.StringFlag{Name: "memo", Usage: "a note for the payee"},
			&ucli.IntFlag{Name: "count", Usage: "make this many payments (keys KEY-1..KEY-N), pipelined", Value: 1},
			&ucli.IntFlag{Name: "concurrency", Usage: "with --count: payments in flight at once", Value: 256},
			&ucli.BoolFlag{Name: "quiet", Usage: "with --count: no progress line"},
		},
		Description: `Payments go through an open channel with the peer (the one with the most
balance in that asset), or through the channel named. The command returns when the
peer has stored the payment durably and acknowledged it.

Examples:
   tinypay pay 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 0.0001 USD --item article-7
   tinypay pay 0x3f9c...e1 250 --key order-1842          # 250 base units through a channel
   tinypay pay 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 0.001 USD --count 1000`,
		Action: withClient(func(ctx context.Context, cmd *ucli.Command, c *client) error {
			a, err := args(cmd, 2, 3)
			if err != nil {
				return err
			}
			target := a[0]
			req := &apiv1.PayRequest{ItemId: cmd.String("item"), Memo: cmd.String("memo")}
			switch len(strings.TrimPrefix(target, "0x")) {
			case 64:
				req.ChannelId = target
			case 40:
				req.Peer = target
			default:
				return usagef("%q is neither a peer address (0x + 40 hex) nor a channel id (0x + 64 hex)", target)
			}
			as, err := c.assets(ctx)
			if err != nil {
				return err
			}
			amt, asset, err := amountArgs(as, a[1:])
			if err != nil {
				return err
			}
			if asset != nil {
				req.Asset = asset.GetSymbol()
			} else if req.ChannelId != "" {
				if ch, err := c.GetChannel(ctx, &apiv1.GetChannelRequest{ChannelId: req.ChannelId}); err == nil {
					asset = ch.GetAsset()
				}
			}
			req.Amount = amt.Dec()
			key := cmd.String("key")
			if key == "" {
				var b [12]byte
				_, _ = rand.Read(b[:])
				key = "cli-" + hex.EncodeToString(b[:])
			}
			if n := cmd.Int("count"); n > 1 {
				return c.payMany(ctx, req, key, int(n), int(cmd.Int("concurrency")), asset, cmd.Bool("quiet"), cmd.Root().ErrWriter)
			}
			req.IdempotencyKey = key
			p, err := c.Pay(ctx, req)
			if err != nil {
				return fmt.Errorf("%w (idempotency key %s: retry with --key %s to never pay twice)", err, key, key)
			}
			if c.json {
				return c.printJSON(p)
			}
			c.printf("paid %s to %s\n  channel %s, proof %d, key %s, %s\n", show(p.GetAmount(), asset), p.GetPeer(), p.GetChannelId(), p.GetNonce(), p.GetIdempotencyKey(), p.GetStatus())
			return nil
		}),
	}
}

// payMany pipelines n payments over one PayStream.
func (c *client) payMany(ctx context.Context, tmpl *apiv1.PayRequest, key string, n, conc int, asset *apiv1.Asset, quiet bool, progress io.Writer) error {
	stream, err := c.PayStream(ctx)
	if err != nil {
		return err
	}
	start := time.Now()
	var (
		mu       sync.Mutex
		ok, fail int
		firstErr error
		slots    = make(chan struct{}, max(1, conc))
	)
	recvDone := make(chan error, 1)
	go func() {
		for {
			res, err := stream.Recv()
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				recvDone <- err
				return
			}
			mu.Lock()
			if res.GetError() != "" {
				fail++
				if firstErr == nil {
					firstErr = status.Error(codes.Code(res.GetCode()), res.GetIdempotencyKey()+": "+res.GetError())
				}
			} else {
				ok++
			}
			mu.Unlock()
			<-slots
		}
	}()
	stop := make(chan struct{})
	if !quiet && !c.json {
		go func() {
			t := time.NewTicker(250 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					mu.Lock()
					done := ok + fail
					mu.Unlock()
					fmt.Fprintf(progress, "\r  %d/%d payments acknowledged  %.0f/s   ", done, n, float64(done)/time.Since(start).Seconds())
				}
			}
		}()
	}
	var sendErr error
	for i := 1; i <= n && sendErr == nil; i++ {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			sendErr = ctx.Err()
			continue
		}
		r := proto.Clone(tmpl).(*apiv1.PayRequest)
		r.IdempotencyKey = fmt.Sprintf("%s-%d", key, i)
		sendErr = stream.Send(r)
	}
	if err := stream.CloseSend(); err != nil && sendErr == nil {
		sendErr = err
	}
	rerr := <-recvDone
	close(stop)
	elapsed := time.Since(start)
	if !quiet && !c.json {
		fmt.Fprintln(progress)
	}
	if sendErr != nil {
		return sendErr
	}
	if rerr != nil {
		return rerr
	}
	if c.json {
		c.printf("{\"payments\": %d, \"failed\": %d, \"seconds\": %.3f}\n", ok, fail, elapsed.Seconds())
	} else {
		c.printf("%d payments of %s acknowledged in %s (%.0f/s); %d failed; keys %s-1..%s-%d\n",
			ok, show(tmpl.GetAmount(), asset), elapsed.Round(time.Millisecond), float64(ok)/elapsed.Seconds(), fail, key, key, n)
	}
	return firstErr
}
