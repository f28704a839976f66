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
	"github.com/tinypay/tinypay/rpc/apiutil"
)

func payCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "pay",
		Usage:     "pay a peer (or through a given channel), or pay an offer, and wait for its acknowledgement",
		ArgsUsage: "PEER|CHANNEL_ID AMOUNT [ASSET]   or   --offer OFFER [PEER|CHANNEL_ID]",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "key", Usage: "idempotency key: retrying with the same key never pays twice (default: random, printed)"},
			&ucli.StringFlag{Name: "item", Usage: "item id the payment is for (the payee signs a receipt)"},
			&ucli.StringFlag{Name: "memo", Usage: "a note for the payee"},
			&ucli.StringFlag{Name: "offer", Usage: "pay this offer: its string, @FILE (the string, the output of offer create, or its JSON), or - for stdin"},
			&ucli.BoolFlag{Name: "receipt", Usage: "ask the payee for a signed receipt (implied by --item and --offer)"},
			&ucli.IntFlag{Name: "count", Usage: "make this many payments (keys KEY-1..KEY-N), pipelined", Value: 1},
			&ucli.IntFlag{Name: "concurrency", Usage: "with --count: payments in flight at once", Value: 256},
			&ucli.BoolFlag{Name: "quiet", Usage: "with --count: no progress line"},
		},
		Description: `Payments go through an open channel with the peer (the one with the most
balance in that asset), or through the channel named. The command returns when the
peer has stored the payment durably and acknowledged it.

With --offer, the amount, item and payee come from the offer (made by the payee with
"tinypay offer create"). An offer payable once, or once per payer, is paid once by
this node (again: it shows the first payment). One payable up to N times or without
limit is bought again by every run: give --key to retry one purchase safely. The
payee's receipt, which names this node as the payer, is printed as a RECEIPT string
that anyone can check offline with "tinypay receipt verify".

Examples:
   tinypay pay 0xFcd1463D08CC5a0B5509C2ABa78373E5b5E3762E 0.0001 USD --item article-7
   tinypay pay CHANNEL 250 --key order-1842              # 250 base units through a channel
   tinypay pay 0xFcd1463D08CC5a0B5509C2ABa78373E5b5E3762E 0.001 USD --count 1000
   tinypay pay 0xFcd1463D08CC5a0B5509C2ABa78373E5b5E3762E 1 USD --receipt
   tinypay pay --offer OFFER                             # an offer string
   tinypay pay --offer @tickets.json --key ticket-2      # a second ticket of an offer of N
   tinypay pay --offer @offer.json --json > payment.json # then: tinypay receipt verify @payment.json`,
		Action: withClient(func(ctx context.Context, cmd *ucli.Command, c *client) error {
			if cmd.String("offer") != "" {
				return c.payOffer(ctx, cmd)
			}
			a, err := args(cmd, 2, 3)
			if err != nil {
				return err
			}
			req := &apiv1.PayRequest{ItemId: cmd.String("item"), Memo: cmd.String("memo"), Receipt: cmd.Bool("receipt")}
			if req.ChannelId, req.Peer, err = parseTarget(a[0]); err != nil {
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
				key = newKey()
			}
			if n := cmd.Int("count"); n > 1 {
				return c.payMany(ctx, req, key, int(n), int(cmd.Int("concurrency")), asset, cmd.Bool("quiet"), cmd.Root().ErrWriter)
			}
			req.IdempotencyKey = key
			p, err := c.Pay(ctx, req)
			if err != nil && outcomeUnknown(err) {
				return fmt.Errorf("%w (the payment may have gone through: retry with --key %s to learn its outcome without paying twice)", err, key)
			}
			if err != nil {
				return err
			}
			return c.printPaid(p, asset)
		}),
	}
}

// outcomeUnknown reports whether a payment that failed with err may still
// have been paid: the node could not be reached or did not answer in time.
// A refusal (a bad amount, too little balance, a limit) paid nothing, and
// retrying it would fail the same way.
func outcomeUnknown(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.Unknown, codes.Internal:
		return true
	}
	return false
}

// newKey returns a random idempotency key.
func newKey() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "cli-" + hex.EncodeToString(b[:])
}

// parseTarget tells a channel id from a peer address.
func parseTarget(target string) (channelID, peer string, err error) {
	switch len(strings.TrimPrefix(target, "0x")) {
	case 64:
		return target, "", nil
	case 40:
		return "", target, nil
	}
	return "", "", usagef("%q is neither a peer address (0x + 40 hex) nor a channel id (0x + 64 hex)", target)
}

// payOffer pays the offer named by --offer, through the channel or peer
// named, if one is.
func (c *client) payOffer(ctx context.Context, cmd *ucli.Command) error {
	a, err := args(cmd, 0, 1)
	if err != nil {
		return usagef("pay --offer takes no amount (the offer has the price); at most a PEER or CHANNEL_ID to pay through")
	}
	if cmd.Int("count") > 1 {
		return usagef("--offer pays an offer once per run: --offer and --count do not mix")
	}
	o, err := offerArg(cmd, cmd.String("offer"))
	if err != nil {
		return err
	}
	key := cmd.String("key")
	u := o.GetUses()
	reusable := u == apiv1.OfferUses_OFFER_USES_LIMITED || u == apiv1.OfferUses_OFFER_USES_UNLIMITED
	if reusable && key == "" {
		key = newKey() // a new purchase
	}
	req := &apiv1.PayRequest{Offer: o, ItemId: cmd.String("item"), Memo: cmd.String("memo"), Receipt: true, IdempotencyKey: key}
	if len(a) == 1 {
		if req.ChannelId, req.Peer, err = parseTarget(a[0]); err != nil {
			return err
		}
	}
	as, err := c.assets(ctx)
	if err != nil {
		return err
	}
	p, err := c.Pay(ctx, req)
	if err != nil {
		if status.Code(err) == codes.AlreadyExists {
			// The refusal carries the first payment: show its receipt, so a
			// buyer whose first answer was lost still has it.
			for _, d := range status.Convert(err).Details() {
				if first, ok := d.(*apiv1.Payment); ok {
					c.printf("this offer was paid before, by this payment:\n")
					if perr := c.printPaid(first, offerAsset(as, o)); perr != nil {
						return perr
					}
				}
			}
			return fmt.Errorf("offer %s was paid before by this node, and it is payable %s: %w", o.GetOfferId(), apiutil.OfferUsesText(o), err)
		}
		if reusable {
			return fmt.Errorf("pay offer %s: %w (idempotency key %s: retry with --key %s to never pay twice)", o.GetOfferId(), err, key, key)
		}
		return fmt.Errorf("pay offer %s: %w", o.GetOfferId(), err)
	}
	return c.printPaid(p, offerAsset(as, o))
}

// printPaid prints a payment just made, with its receipt if it has one.
func (c *client) printPaid(p *apiv1.Payment, asset *apiv1.Asset) error {
	if c.json {
		return c.printJSON(p)
	}
	c.printf("paid %s to %s\n  channel %s, proof %d, key %s, %s\n", show(p.GetAmount(), asset), p.GetPeer(), p.GetChannelId(), p.GetNonce(), p.GetIdempotencyKey(), p.GetStatus())
	if p.GetItemId() != "" {
		c.printf("  item %s\n", p.GetItemId())
	}
	if p.GetOfferId() != "" {
		c.printf("  offer %s\n", p.GetOfferId())
	}
	if r := p.GetReceipt(); r != nil {
		c.printf("receipt signed by %s at %s; check it with `tinypay receipt verify RECEIPT`; RECEIPT:\n%s\n",
			r.GetPayee(), time.Unix(int64(r.GetTime()), 0).Format(time.RFC3339), compact(r))
	} else if p.GetItemId() != "" || p.GetOfferId() != "" {
		c.printf("no receipt yet (the payee did not send one)\n")
	}
	return nil
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
