package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/holiman/uint256"
	ucli "github.com/urfave/cli/v3"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/paywall"
)

func paywallCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "paywall",
		Usage: "sell HTTP: a reverse proxy that answers 402 Payment Required until a request is paid to this node",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "upstream", Usage: "the URL to proxy paid requests to (required)"},
			&ucli.StringFlag{Name: "listen", Usage: "address to serve HTTP on", Value: "127.0.0.1:8402", Sources: ucli.EnvVars("TINYPAY_PAYWALL_LISTEN")},
			&ucli.StringFlag{Name: "price", Usage: `price per request, e.g. "0.001 USD"`},
			&ucli.StringFlag{Name: "per-second", Usage: `price per second of a streamed response, e.g. "0.0001 USD"`},
			&ucli.DurationFlag{Name: "tick", Usage: "with --per-second: how often the stream is checked (and the longest tick it may use)", Value: time.Second},
			&ucli.DurationFlag{Name: "offer-ttl", Usage: "how long the offer in a 402 stays payable", Value: 5 * time.Minute},
			&ucli.StringSliceFlag{Name: "path", Usage: "paid path prefix of --price or --per-second (repeat for more); default: every path"},
			&ucli.StringSliceFlag{Name: "route", Usage: `another price for a path prefix: "PREFIX=PRICE" per request or "PREFIX=PRICE/s" per second, e.g. "/premium=0.5 USD" or "/songs=0.0001 USD/s" (repeatable; the longest matching prefix wins, then --price or --per-second)`},
			&ucli.DurationFlag{Name: "paid-for", Usage: "how long a reader's browser may read a page it paid for again without paying (an HttpOnly cookie for that page only; 0: none)", Value: time.Hour},
			&ucli.StringFlag{Name: "peer-addr", Usage: "host:port payers connect their node to (default: the node's peer listen address)"},
		},
		Description: `Every request to a paid path gets 402 Payment Required with the terms: a JSON
body (x402 v2's envelope, scheme "tinypay-offer" or "tinypay-stream"), the same
base64-encoded in Payment-Required, and a WWW-Authenticate: TinyPay challenge.

With --price, the 402 carries an offer this node signed for that request; the
client pays it through a channel and sends the request again with the
receipt (Authorization: TinyPay receipt="..."). The receipt is checked offline
and used once. With --per-second, the client starts a stream to this node and
sends X-TinyPay-Stream: <id>; the response flows while the stream pays and is
cut when it stops.

A browser that opens a paid page gets the 402 as a page, with a script that
asks the reader's own node to pay (tinypayd run --browser-listen, within the
limits the reader approved for this site) and then shows the page; a paid page
stays readable for --paid-for (a cookie for that page only). A page sold per
second plays while the reader's node streams payments, and stops paying when
paused or closed. See the README's "Paying from a browser".

The paywall runs until interrupted. Payers need an open channel with this node
(a reader's node offers to open one when the reader approves the site).

Examples:
   tinypay paywall --upstream http://127.0.0.1:8080 --price "0.001 USD"
   tinypay paywall --upstream http://127.0.0.1:8080 --listen :8402 --price 0.01USD --path /api --path /files
   tinypay --datadir bob paywall --upstream http://127.0.0.1:8081 --per-second "0.0001 USD" --tick 500ms
   tinypay paywall --upstream http://127.0.0.1:8080 --price "0.01 USD" --route "/premium=0.5 USD" --route "/songs=0.0005 USD/s" --paid-for 24h
   curl -i http://127.0.0.1:8402/article      # 402 and the terms
   tinypay --datadir alice fetch http://127.0.0.1:8402/article --max-price "0.01 USD"`,
		Action: func(ctx context.Context, cmd *ucli.Command) error {
			if len(cmd.Args().Slice()) > 0 {
				return usagef("paywall takes no arguments; see `tinypay paywall --help`")
			}
			raw := cmd.String("upstream")
			up, err := url.Parse(raw)
			if raw == "" || err != nil || (up.Scheme != "http" && up.Scheme != "https") || up.Host == "" {
				return usagef("--upstream: want an http(s) URL, got %q", raw)
			}
			if cmd.IsSet("price") && cmd.IsSet("per-second") {
				return usagef("give either --price or --per-second (and --route for other prices)")
			}
			if !cmd.IsSet("price") && !cmd.IsSet("per-second") && len(cmd.StringSlice("route")) == 0 {
				return usagef("give --price or --per-second, or --route")
			}
			if len(cmd.StringSlice("path")) > 0 && !cmd.IsSet("price") && !cmd.IsSet("per-second") {
				return usagef("--path names the paths of --price or --per-second; give one of them (or put the prefix in a --route)")
			}
			c, err := dial(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			actx, cancel := context.WithTimeout(ctx, cmd.Duration("timeout"))
			as, err := c.assets(actx)
			cancel()
			if err != nil {
				return err
			}
			base := paywall.DefaultConfig()
			base.Tick, base.OfferTTL, base.PeerAddr, base.PaidFor = cmd.Duration("tick"), cmd.Duration("offer-ttl"), cmd.String("peer-addr"), cmd.Duration("paid-for")
			base.Logger = slog.New(slog.NewTextHandler(cmd.Root().ErrWriter, nil))
			type sale struct {
				cfg  paywall.Config
				text string // "0.01 USD per request on /premium"
			}
			var sales []sale
			routes, err := paywallRoutes(as, cmd.StringSlice("route"))
			if err != nil {
				return err
			}
			for _, rt := range routes {
				cfg := base
				cfg.Paths, cfg.Asset = []string{rt.prefix}, rt.asset.GetSymbol()
				unit := "per request"
				if rt.perSecond {
					cfg.Rate, unit = *rt.amount, "per second"
				} else {
					cfg.Price = *rt.amount
				}
				sales = append(sales, sale{cfg, fmt.Sprintf("%s %s on %s", show(rt.amount.Dec(), rt.asset), unit, rt.prefix)})
			}
			if cmd.IsSet("price") || cmd.IsSet("per-second") {
				flag, unit := "price", "per request"
				if cmd.IsSet("per-second") {
					flag, unit = "per-second", "per second"
				}
				amount, asset, err := paywallAmountFlag(as, cmd, flag)
				if err != nil {
					return err
				}
				if asset == nil {
					return usagef("--%s: name the asset (\"%s USD\")", flag, cmd.String(flag))
				}
				cfg := base
				cfg.Asset, cfg.Paths = asset.GetSymbol(), cmd.StringSlice("path")
				if flag == "price" {
					cfg.Price = *amount
				} else {
					cfg.Rate = *amount
				}
				where := "every other path"
				if len(cfg.Paths) > 0 {
					where = strings.Join(cfg.Paths, ", ")
				}
				sales = append(sales, sale{cfg, fmt.Sprintf("%s %s on %s", show(amount.Dec(), asset), unit, where)})
			}
			cfgs := make([]paywall.Config, len(sales))
			for i, sl := range sales {
				if err := sl.cfg.Validate(); err != nil {
					return usagef("%v", err)
				}
				cfgs[i] = sl.cfg
			}
			pctx, cancel := context.WithTimeout(ctx, cmd.Duration("timeout"))
			pw, err := paywall.NewProxyChain(pctx, cfgs, c.NodeClient, up)
			cancel()
			if err != nil {
				return err
			}
			lis, err := net.Listen("tcp", cmd.String("listen"))
			if err != nil {
				return usagef("--listen: %v", err)
			}
			srv := &http.Server{Handler: pw, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(base.Logger.Handler(), slog.LevelWarn)}
			var texts []string
			for _, sl := range sales {
				texts = append(texts, sl.text)
			}
			c.printf("paywall on http://%s -> %s: %s; paid to this node\n", lis.Addr(), up.Redacted(), strings.Join(texts, "; "))
			ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
			defer stop()
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(lis) }()
			select {
			case err := <-errc:
				return err
			case <-ctx.Done():
			}
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				srv.Close()
			}
			return nil
		},
	}
}

// route is a --route: a path prefix sold at its own price.
type route struct {
	prefix    string
	amount    *uint256.Int
	asset     *apiv1.Asset
	perSecond bool
}

// paywallRoutes parses --route values ("PREFIX=PRICE", "PREFIX=PRICE/s"),
// longest prefix first.
func paywallRoutes(as assets, vals []string) ([]route, error) {
	var out []route
	seen := map[string]bool{}
	for _, v := range vals {
		prefix, price, ok := strings.Cut(v, "=")
		prefix = strings.TrimSpace(prefix)
		if !ok || !strings.HasPrefix(prefix, "/") {
			return nil, usagef("--route %q: want PREFIX=PRICE, e.g. \"/premium=0.5 USD\" or \"/songs=0.0001 USD/s\"", v)
		}
		if seen[prefix] {
			return nil, usagef("--route %q: the prefix %s is given twice", v, prefix)
		}
		seen[prefix] = true
		price = strings.TrimSpace(price)
		rt := route{prefix: prefix}
		if p, ok := strings.CutSuffix(price, "/s"); ok {
			price, rt.perSecond = strings.TrimSpace(p), true
		}
		amount, asset, err := amountArgs(as, strings.Fields(price))
		if err != nil {
			return nil, usagef("--route %q: %v", v, err)
		}
		if asset == nil {
			return nil, usagef("--route %q: name the asset (\"%s=%s USD\")", v, prefix, price)
		}
		if amount.IsZero() {
			return nil, usagef("--route %q: the price must be above zero", v)
		}
		rt.amount, rt.asset = amount, asset
		out = append(out, rt)
	}
	slices.SortStableFunc(out, func(a, b route) int { return len(b.prefix) - len(a.prefix) })
	return out, nil
}

func fetchCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "fetch",
		Usage:     "GET a URL, paying a tinypay paywall with this node within limits",
		ArgsUsage: "URL",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "max-price", Usage: `pay at most this per request, e.g. "0.01 USD" (default: pay nothing)`},
			&ucli.StringFlag{Name: "max-rate", Usage: `pay at most this per second for a streamed response, e.g. "0.001 USD"`},
			&ucli.StringFlag{Name: "max-stream", Usage: `stop a streamed response after paying this much in all, e.g. "0.1 USD"`},
			&ucli.DurationFlag{Name: "stream-tick", Usage: "how often a stream pays (the paywall may ask for less)", Value: time.Second},
			&ucli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the body to this file instead of stdout"},
		},
		Description: `The body goes to stdout (or --output), what was paid to stderr. A 402 with
tinypay terms within the limits is paid once with this node — an offer through
an open channel with the payee (the command connects to the payee's node if
needed), or a stream while the body flows, stopped when it ends — and the
request is sent again. Terms above the limits, or in another asset, are
refused. The global --timeout bounds the whole fetch, streamed bodies included.

Examples:
   tinypay fetch http://127.0.0.1:8402/article --max-price "0.01 USD"
   tinypay fetch http://127.0.0.1:8402/video.mp4 --max-rate "0.001 USD" --max-stream "1 USD" -o video.mp4 --timeout 1h
   tinypay --datadir alice fetch http://127.0.0.1:8402/api/quote --max-price 0.001USD`,
		Action: withClient(func(ctx context.Context, cmd *ucli.Command, c *client) error {
			a, err := args(cmd, 1, 1)
			if err != nil {
				return err
			}
			u, err := url.Parse(a[0])
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return usagef("%q is not an http(s) URL", a[0])
			}
			as, err := c.assets(ctx)
			if err != nil {
				return err
			}
			cfg := paywall.DefaultTransportConfig()
			cfg.StreamTick = cmd.Duration("stream-tick")
			var asset *apiv1.Asset
			limits := []struct {
				flag string
				dst  *uint256.Int
			}{{"max-price", &cfg.MaxPrice}, {"max-rate", &cfg.MaxRate}, {"max-stream", &cfg.StreamBudget}}
			for _, l := range limits {
				if !cmd.IsSet(l.flag) {
					continue
				}
				v, a, err := paywallAmountFlag(as, cmd, l.flag)
				if err != nil {
					return err
				}
				if a == nil {
					return usagef("--%s: name the asset (\"%s USD\")", l.flag, cmd.String(l.flag))
				}
				if asset != nil && a != asset {
					return usagef("the limits must all be in one asset (%s and %s)", asset.GetSymbol(), a.GetSymbol())
				}
				*l.dst, asset = *v, a
			}
			limited := asset != nil
			if !limited && len(as) > 0 {
				asset = as[0] // no limits: every price is refused
			}
			cfg.Asset = fetchAssetArg(asset)
			stderr := cmd.Root().ErrWriter
			cfg.OnPaid = func(p paywall.Paid) { printFetchPaid(stderr, p) }
			if err := cfg.Validate(); err != nil {
				return usagef("%v", err)
			}
			tr, err := paywall.NewTransport(cfg, c.NodeClient)
			if err != nil {
				return err
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
			if err != nil {
				return usagef("%v", err)
			}
			resp, err := (&http.Client{Transport: tr}).Do(req)
			if err != nil {
				if !limited && (errors.Is(err, paywall.ErrOverLimit) || errors.Is(err, paywall.ErrWrongAsset)) {
					return fmt.Errorf("%s asks for payment; pass --max-price or --max-rate to pay: %w", u.Redacted(), err)
				}
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode < 200 || resp.StatusCode > 299 {
				return fetchHTTPError(u, resp)
			}
			out := c.out
			if path := cmd.String("output"); path != "" {
				f, err := os.Create(path)
				if err != nil {
					return usagef("--output: %v", err)
				}
				defer f.Close()
				out = f
			}
			n, err := io.Copy(out, resp.Body)
			if err != nil {
				return fmt.Errorf("%s: the response was cut after %d bytes: %w", u.Redacted(), n, err)
			}
			return resp.Body.Close()
		}),
	}
}

// amountFlag parses a flag holding "AMOUNT SYMBOL".
func paywallAmountFlag(as assets, cmd *ucli.Command, flag string) (*uint256.Int, *apiv1.Asset, error) {
	v, a, err := amountArgs(as, strings.Fields(cmd.String(flag)))
	if err != nil {
		return nil, nil, usagef("--%s: %v", flag, err)
	}
	return v, a, nil
}

func fetchAssetArg(a *apiv1.Asset) string {
	if a == nil {
		return "ETH"
	}
	if a.GetAddress() != "" {
		return a.GetAddress()
	}
	return a.GetSymbol()
}

// printPaid tells the user what a fetch paid.
func printFetchPaid(w io.Writer, p paywall.Paid) {
	asset := p.Asset
	switch p.Scheme {
	case paywall.SchemeOffer:
		fprintf(w, "paid %s to %s for %s (payment %s, receipt signed by the payee)\n",
			show(p.Amount, asset), p.Payee, p.Item, p.Payment.GetId())
	case paywall.SchemeStream:
		fprintf(w, "streamed %s from %s at %s per second: paid %s in all (stream %s, %s)\n",
			p.Item, p.Payee, show(p.Stream.GetRate(), asset), show(p.Amount, asset), p.Stream.GetId(), fetchStreamState(p.Stream))
	}
}

func fetchStreamState(s *apiv1.Stream) string {
	if s.GetEndReason() != "" {
		return "ended: " + s.GetEndReason()
	}
	return s.GetStatus()
}

// httpError describes a response that is not a success, with the
// paywall's reason for a 402.
func fetchHTTPError(u *url.URL, resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	msg := strings.TrimSpace(string(b))
	if resp.StatusCode == http.StatusPaymentRequired {
		var pr paywall.PaymentRequired
		if json.Unmarshal(b, &pr) == nil && pr.Error != "" {
			msg = pr.Error
		}
	}
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	return fmt.Errorf("%s: HTTP %s: %s", u.Redacted(), resp.Status, msg)
}
