package cli

import (
	"context"
	"encoding/csv"
	"slices"
	"strconv"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v3"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
)

func revenueCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "revenue",
		Usage: "sum incoming payments over a time range, by channel, stream, item, peer, asset or identity, and per hour or day; with --all-identities, over all your node identities",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "from", Usage: "from this time: RFC 3339, a date (2006-01-02), or a duration meaning that long ago (24h, 7d)"},
			&ucli.StringFlag{Name: "to", Usage: "until this time (excluded), in the same forms (default: now)"},
			&ucli.StringFlag{Name: "by", Usage: "group by channel, stream, item, peer, asset or identity (the node that was paid)", Value: "channel"},
			&ucli.BoolFlag{Name: "all-identities", Usage: "total this node's revenue with that of your other node identities it was given (tinypayd run --operator-identity): the same payer, item or asset on several identities is one row; fails if one of them does not answer"},
			&ucli.StringFlag{Name: "per", Usage: "also split each group per hour or per day (needs --from; at most 10000 of them)"},
			&ucli.StringFlag{Name: "tz", Usage: "with --per: the IANA time zone whose hours and days these are (default UTC)"},
			&ucli.BoolFlag{Name: "csv", Usage: "print CSV: KEY,asset,payments,amount,base_units (by asset: asset,payments,...; with --per, the hour or day first)"},
		},
		Description: `Examples:
   tinypay revenue --from 24h --by item
   tinypay revenue --from 2026-01-01 --to 2026-02-01 --by peer --csv > january.csv
   tinypay revenue --from 2026-03-01T09:00:00Z --by stream --json
   tinypay revenue --from 7d --by asset --per day --tz Europe/Paris
   tinypay revenue --from 24h --by item --per hour --csv > today.csv
   tinypay revenue --from 30d --by asset --all-identities
   tinypay revenue --from 30d --by identity --all-identities --csv`,
		Action: withClient(func(ctx context.Context, cmd *ucli.Command, c *client) error {
			if _, err := args(cmd, 0, 0); err != nil {
				return err
			}
			now := time.Now()
			from, err := parseTime(cmd.String("from"), now)
			if err != nil {
				return usagef("--from: %v", err)
			}
			to, err := parseTime(cmd.String("to"), now)
			if err != nil {
				return usagef("--to: %v", err)
			}
			if !from.IsZero() && !to.IsZero() && !from.Before(to) {
				return usagef("--from %s is not before --to %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
			}
			by := cmd.String("by")
			switch by {
			case "channel", "stream", "item", "peer", "asset", "identity":
			default:
				return usagef("--by %q: want channel, stream, item, peer, asset or identity", by)
			}
			per, tz := cmd.String("per"), cmd.String("tz")
			switch per {
			case "", "hour", "day":
			default:
				return usagef("--per %q: want hour or day", per)
			}
			if per != "" && from.IsZero() {
				return usagef("--per %s needs --from (the range's start)", per)
			}
			if tz != "" && per == "" {
				return usagef("--tz only applies with --per hour or day")
			}
			req := &apiv1.RevenueRequest{GroupBy: by, Bucket: per, TimeZone: tz, AllIdentities: cmd.Bool("all-identities")}
			if !from.IsZero() {
				req.FromUnixNano = from.UnixNano()
			}
			if !to.IsZero() {
				req.ToUnixNano = to.UnixNano()
			}
			r, err := c.Revenue(ctx, req)
			if err != nil {
				return err
			}
			loc := time.UTC
			if tz != "" {
				if loc, err = time.LoadLocation(tz); err != nil {
					loc = time.UTC // the node knew it; this machine does not: show UTC
				}
			}
			switch {
			case c.json:
				return c.printJSON(r)
			case cmd.Bool("csv"):
				w := csv.NewWriter(c.out)
				// By asset, the key is the asset's symbol: one column.
				head := []string{by, "asset", "payments", "amount", "base_units"}
				if by == "asset" {
					head = slices.Delete(head, 1, 2)
				}
				if per != "" {
					head = append([]string{per}, head...)
				}
				_ = w.Write(head)
				for _, row := range r.GetRows() {
					a := row.GetAsset()
					rec := []string{row.GetKey(), a.GetSymbol(), strconv.FormatUint(row.GetPayments(), 10), formatUnits(row.GetAmount(), a.GetDecimals()), row.GetAmount()}
					if by == "asset" {
						rec = slices.Delete(rec, 1, 2)
					}
					if per != "" {
						rec = append([]string{bucketText(row, loc)}, rec...)
					}
					_ = w.Write(rec)
				}
				w.Flush()
				return w.Error()
			}
			if len(r.GetRows()) == 0 {
				c.printf("no incoming payments in that range\n")
				return nil
			}
			width := len(by)
			for _, row := range r.GetRows() {
				width = max(width, len(keyText(row.GetKey())))
			}
			if per != "" {
				c.printf("%-25s ", strings.ToUpper(per))
			}
			c.printf("%-*s %10s %24s\n", width, strings.ToUpper(by), "PAYMENTS", "AMOUNT")
			for _, row := range r.GetRows() {
				if per != "" {
					c.printf("%-25s ", bucketText(row, loc))
				}
				c.printf("%-*s %10d %24s\n", width, keyText(row.GetKey()), row.GetPayments(), show(row.GetAmount(), row.GetAsset()))
			}
			return nil
		}),
	}
}

// bucketText writes when a row's hour or day starts, in RFC 3339 in loc.
func bucketText(row *apiv1.RevenueRow, loc *time.Location) string {
	return time.Unix(0, row.GetBucketStartUnixNano()).In(loc).Format(time.RFC3339)
}

// keyText names an empty revenue key (no stream, no item).
func keyText(k string) string {
	if k == "" {
		return "(none)"
	}
	return k
}

// parseTime parses a time for a range: RFC 3339, a date (local midnight),
// "now", or a duration ("90m", "24h", "7d") meaning that long before now.
// The empty string is the zero time (an open end).
func parseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "":
		return time.Time{}, nil
	case "now":
		return now, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, now.Location()); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02T15:04", s, now.Location()); err == nil {
		return t, nil
	}
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseUint(n, 10, 16)
		if err != nil {
			return time.Time{}, usagef("time %q: want RFC 3339 (2026-01-02T15:04:05Z), a date (2026-01-02) or a duration ago (24h, 7d)", s)
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return time.Time{}, usagef("time %q: want RFC 3339 (2026-01-02T15:04:05Z), a date (2026-01-02) or a duration ago (24h, 7d)", s)
		}
	}
	if d < 0 {
		return time.Time{}, usagef("time %q: a duration means that long ago; give it without a sign", s)
	}
	return now.Add(-d), nil
}
