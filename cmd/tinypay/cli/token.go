package cli

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v3"

	"github.com/tinypay/tinypay/crypto"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
)

func tokenCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "token",
		Usage: "app tokens: API secrets that may only pay, within spend limits; view tokens: read only",
		Description: `Examples:
   tinypay token create --name player --limit "10 USD" --period 24h --secret-file player.token
   tinypay token create --view --name accountant --secret-file accountant.token
   tinypay token list
   tinypay token revoke TOKEN`,
		Commands: []*ucli.Command{
			{
				Name:  "create",
				Usage: "create an app token (or, with --view, a view token) and print its secret (once)",
				Flags: []ucli.Flag{
					&ucli.StringFlag{Name: "name", Usage: "what the token is for (required)"},
					&ucli.BoolFlag{Name: "view", Usage: "a view token: it may only read (balances, channels, payments, events, streams, revenue, tokens), never pay or act; takes no --limit, --period or --payee"},
					&ucli.StringFlag{Name: "limit", Usage: "at most this much per period, over all payees (\"10 USD\"; required)"},
					&ucli.StringFlag{Name: "period", Usage: "length of a period: 24h, 30m, 7d (whole seconds, up to a year)", Value: "24h"},
					&ucli.StringSliceFlag{Name: "payee", Usage: "only pay this address, optionally with its own limit per period: ADDR or ADDR=\"2 USD\" (repeatable)"},
					&ucli.StringFlag{Name: "secret-file", Usage: "write the secret to this new file (mode 600) instead of printing it"},
				},
				Description: `An app holding the secret can use the control API to pay (Pay, PayStream, and
its own streams) and to read the node's info; nothing else. What it pays in each
period counts against the limit. The node keeps only a hash of the secret, so it
is printed once: store it where the app reads it. The CLI uses it with
"--token-file FILE" (a file with mode 600 holding the secret).

With --view the token may only read: give it to whoever should see the node's
balances, channels, payments, events, streams and revenue (an accountant, a
dashboard) without any right to pay, open, close, send or change tokens.

Examples:
   tinypay token create --name player --limit "10 USD" --period 24h
   tinypay token create --name shop --limit "50 USD" --payee 0xFcd1463D08CC5a0B5509C2ABa78373E5b5E3762E="20 USD" --secret-file shop.token
   tinypay --token-file shop.token pay 0xFcd1463D08CC5a0B5509C2ABa78373E5b5E3762E 1 USD
   tinypay token create --view --name accountant --secret-file accountant.token
   tinypay --token-file accountant.token channel list`,
				Action: withClient(func(ctx context.Context, cmd *ucli.Command, c *client) error {
					if _, err := args(cmd, 0, 0); err != nil {
						return err
					}
					if cmd.Bool("view") {
						if cmd.String("name") == "" {
							return usagef("token create --view needs --name; see `tinypay token create --help`")
						}
						if cmd.IsSet("limit") || cmd.IsSet("period") || cmd.IsSet("payee") {
							return usagef("a view token spends nothing: --limit, --period and --payee are for app tokens")
						}
						return c.createToken(ctx, cmd, &apiv1.CreateTokenRequest{Name: cmd.String("name"), Kind: apiv1.TokenKind_TOKEN_KIND_VIEW})
					}
					if cmd.String("name") == "" || cmd.String("limit") == "" {
						return usagef("token create needs --name and --limit; see `tinypay token create --help`")
					}
					period, err := parsePeriod(cmd.String("period"))
					if err != nil {
						return err
					}
					as, err := c.assets(ctx)
					if err != nil {
						return err
					}
					limit, asset, err := amountArgs(as, strings.Fields(cmd.String("limit")))
					if err != nil {
						return usagef("--limit: %v", err)
					}
					if asset == nil {
						return usagef("--limit %q: name the asset the token pays in (\"10 USD\")", cmd.String("limit"))
					}
					policy := &apiv1.TokenPolicy{Asset: asset.GetSymbol(), Limit: limit.Dec(), PeriodSeconds: uint64(period / time.Second)}
					for _, p := range cmd.StringSlice("payee") {
						pl, err := parsePayeeLimit(as, asset, p)
						if err != nil {
							return err
						}
						policy.Payees = append(policy.Payees, pl)
					}
					return c.createToken(ctx, cmd, &apiv1.CreateTokenRequest{Name: cmd.String("name"), Policy: policy})
				}),
			},
			{
				Name:        "list",
				Usage:       "list app tokens with what they spent this period, and view tokens",
				Description: "Example:\n   tinypay token list",
				Action: withClient(func(ctx context.Context, cmd *ucli.Command, c *client) error {
					r, err := c.ListTokens(ctx, &apiv1.ListTokensRequest{})
					if err != nil {
						return err
					}
					if c.json {
						return c.printJSON(r)
					}
					as, err := c.assets(ctx)
					if err != nil {
						return err
					}
					if len(r.GetTokens()) == 0 {
						c.printf("no app or view tokens\n")
					}
					for _, t := range r.GetTokens() {
						c.printToken(t, as)
					}
					return nil
				}),
			},
			{
				Name:        "revoke",
				Usage:       "revoke an app or view token at once",
				ArgsUsage:   "TOKEN_ID",
				Description: "Example:\n   tinypay token revoke TOKEN",
				Action: withClient(func(ctx context.Context, cmd *ucli.Command, c *client) error {
					a, err := args(cmd, 1, 1)
					if err != nil {
						return err
					}
					t, err := c.RevokeToken(ctx, &apiv1.RevokeTokenRequest{Id: a[0]})
					if err != nil {
						return err
					}
					if c.json {
						return c.printJSON(t)
					}
					as, err := c.assets(ctx)
					if err != nil {
						return err
					}
					c.printToken(t, as)
					return nil
				}),
			},
		},
	}
}

// createToken creates the token req asks for and prints it, and its secret
// or where the secret went (--secret-file).
func (c *client) createToken(ctx context.Context, cmd *ucli.Command, req *apiv1.CreateTokenRequest) error {
	secretFile := cmd.String("secret-file")
	if secretFile != "" {
		if _, err := os.Stat(secretFile); !errors.Is(err, fs.ErrNotExist) {
			return usagef("--secret-file %s: the file exists (or cannot be checked); name a new file", secretFile)
		}
	}
	r, err := c.CreateToken(ctx, req)
	if err != nil {
		return err
	}
	if secretFile != "" {
		if err := writeSecret(secretFile, r.GetSecret()); err != nil {
			c.printf("the token was created but its secret could not be saved (%v); revoke it: tinypay token revoke %s\n", err, r.GetToken().GetId())
			return err
		}
		r.Secret = "" // written, not printed
	}
	if c.json {
		return c.printJSON(r)
	}
	as, err := c.assets(ctx)
	if err != nil {
		return err
	}
	c.printToken(r.GetToken(), as)
	if secretFile != "" {
		c.printf("secret written to %s (mode 600); use it with --token-file %s\n", secretFile, secretFile)
		return nil
	}
	c.printf("\nsecret (shown only this once: store it now, e.g. in a file only the app can read):\n%s\n", r.GetSecret())
	return nil
}

func writeSecret(path, secret string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(secret + "\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (c *client) printToken(t *apiv1.AppToken, as assets) {
	if t.GetKind() == apiv1.TokenKind_TOKEN_KIND_VIEW {
		state := ""
		if t.GetRevoked() {
			state = "  REVOKED"
		}
		c.printf("token %s  %q%s\n  view      read only\n", t.GetId(), t.GetName(), state)
		if t.GetCreatedUnixNano() != 0 {
			c.printf("  created   %s\n", time.Unix(0, t.GetCreatedUnixNano()).Format(time.RFC3339))
		}
		return
	}
	p := t.GetPolicy()
	var a *apiv1.Asset
	if isZeroAddress(p.GetAsset()) {
		a = as.byAddress("")
	} else {
		a = as.byAddress(p.GetAsset())
	}
	state := ""
	if t.GetRevoked() {
		state = "  REVOKED"
	}
	c.printf("token %s  %q%s\n  limit     %s per %s, spent %s this period\n", t.GetId(), t.GetName(), state,
		show(p.GetLimit(), a), periodText(time.Duration(p.GetPeriodSeconds())*time.Second), show(t.GetSpent(), a))
	for _, pl := range p.GetPayees() {
		if pl.GetLimit() != "" {
			c.printf("  payee     %s (at most %s per period)\n", pl.GetPayee(), show(pl.GetLimit(), a))
		} else {
			c.printf("  payee     %s\n", pl.GetPayee())
		}
	}
	if o := p.GetOrigin(); o != "" {
		c.printf("  site      %s (approved in a browser; it pays from its pages only)\n", o)
	}
	if v := p.GetMaxPrice(); v != "" {
		c.printf("  price     at most %s a payment\n", show(v, a))
	}
	if v := p.GetAutoPayBelow(); v != "" {
		c.printf("  confirm   payments of %s or more, each time\n", show(v, a))
	}
	if v := p.GetMaxRate(); v != "" {
		c.printf("  rate      at most %s per second\n", show(v, a))
	} else if p.GetOrigin() != "" {
		c.printf("  rate      no payments per second\n")
	}
	if t.GetCreatedUnixNano() != 0 {
		c.printf("  created   %s\n", time.Unix(0, t.GetCreatedUnixNano()).Format(time.RFC3339))
	}
}

// periodText writes a period as parsePeriod reads it: 7d, 24h, 90m, 45s.
func periodText(d time.Duration) string {
	switch {
	case d >= 48*time.Hour && d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d >= time.Hour && d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d >= time.Minute && d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return d.String()
}

// parsePeriod parses a token period: a Go duration ("24h", "90m") or days
// ("7d"), in whole seconds from 1s to a year.
func parsePeriod(s string) (time.Duration, error) {
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseUint(n, 10, 16)
		if err != nil {
			return 0, usagef("--period %q: want a duration like 24h or 7d", s)
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, usagef("--period %q: want a duration like 24h or 7d", s)
		}
	}
	if d < time.Second || d%time.Second != 0 || d > 366*24*time.Hour {
		return 0, usagef("--period %q: want whole seconds from 1s to a year", s)
	}
	return d, nil
}

// parsePayeeLimit parses ADDR or ADDR=LIMIT, LIMIT in the token's asset.
func parsePayeeLimit(as assets, asset *apiv1.Asset, s string) (*apiv1.PayeeLimit, error) {
	addr, limit, hasLimit := strings.Cut(s, "=")
	a, err := crypto.ParseAddress(strings.TrimSpace(addr))
	if err != nil {
		return nil, usagef("--payee %q: %v", s, err)
	}
	pl := &apiv1.PayeeLimit{Payee: a.Hex()}
	if hasLimit {
		v, err := amountIn(as, limit, asset)
		if err != nil {
			return nil, usagef("--payee %q: %v", s, err)
		}
		if v.IsZero() {
			return nil, usagef("--payee %q: a payee limit above zero (or none: ADDR alone)", s)
		}
		pl.Limit = v.Dec()
	}
	return pl, nil
}
