package apps

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node"
	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
	"github.com/tinypay/tinypay/store"
)

// RevenueRow is incoming money grouped by one key (and, with a bucket,
// one hour or day).
type RevenueRow struct {
	Key      string // a channel id, stream id, item id, peer address, asset symbol or node address
	Asset    node.Asset
	Payments uint64
	Amount   uint256.Int
	// Bucket is when the row's hour or day starts (zero without a bucket).
	Bucket time.Time
}

// RevenueQuery selects and groups incoming payments for RevenueBy.
type RevenueQuery struct {
	// From and To bound the payments' times, [From, To); zero is open
	// (To: until now).
	From, To time.Time
	// GroupBy is "channel" (the default, for ""), "stream", "item", "peer",
	// "asset" or "identity" (the key is the address of the node that was
	// paid: one row per asset here, one per identity in a total of several
	// identities' revenue, see MergeRevenue).
	GroupBy string
	// Bucket is "", "hour" or "day": split each group by the hours or days
	// of Location. It needs From, and at most MaxRevenueBuckets buckets
	// between From and To (or now).
	Bucket string
	// Location's hours and days are the buckets (nil: UTC).
	Location *time.Location
}

// MaxRevenueBuckets bounds the hours or days a bucketed revenue range may
// span (10,000 hours is over a year; 10,000 days over 27 years).
const MaxRevenueBuckets = 10_000

// Revenue sums the incoming payments with a time in [from, to) grouped by
// "channel", "stream", "item", "peer", "asset" or "identity". A zero from
// or to is open.
func (a *Apps) Revenue(from, to time.Time, groupBy string) ([]RevenueRow, error) {
	return a.RevenueBy(RevenueQuery{From: from, To: to, GroupBy: groupBy})
}

// RevenueBy sums the incoming payments q selects, grouped as it says.
// Rows are sorted by bucket, then by amount (largest first), then by key.
// Refused payments and refunds are not revenue.
func (a *Apps) RevenueBy(q RevenueQuery) ([]RevenueRow, error) {
	from, to, groupBy := q.From, q.To, q.GroupBy
	switch groupBy {
	case "":
		groupBy = "channel"
	case "channel", "stream", "item", "peer", "asset", "identity":
	default:
		return nil, invalid("group by %q: want channel, stream, item, peer, asset or identity", groupBy)
	}
	if !to.IsZero() && !from.IsZero() && !from.Before(to) {
		return nil, invalid("the range is empty: from %s is not before to %s", from, to)
	}
	loc := q.Location
	if loc == nil {
		loc = time.UTC
	}
	var bucket func(time.Time) time.Time
	switch q.Bucket {
	case "":
		if q.Location != nil {
			return nil, invalid("a time zone only applies to buckets: set the bucket (hour or day) too")
		}
	case "hour", "day":
		if from.IsZero() {
			return nil, invalid("a revenue by %s needs the start of the range", q.Bucket)
		}
		end := to
		if end.IsZero() {
			end = time.Now()
		}
		size := time.Hour
		if q.Bucket == "day" {
			size = 24 * time.Hour
		}
		if end.Sub(from) > MaxRevenueBuckets*size {
			return nil, invalid("the range %s to %s spans more than %d %ss: narrow it, or use a larger bucket", from.Format(time.RFC3339), end.Format(time.RFC3339), MaxRevenueBuckets, q.Bucket)
		}
		if q.Bucket == "hour" {
			bucket = func(t time.Time) time.Time { return hourStart(t, loc) }
		} else {
			bucket = func(t time.Time) time.Time { return dayStart(t, loc) }
		}
	default:
		return nil, invalid("bucket %q: want hour, day or none", q.Bucket)
	}
	after, err := a.seqBefore(from)
	if err != nil {
		return nil, err
	}
	type key struct {
		k      string
		asset  crypto.Address
		bucket int64
	}
	rows := map[key]*RevenueRow{}
	assets := map[[32]byte]crypto.Address{}
	for {
		page, err := a.store.Log(after, 512)
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			after = e.GetSeq()
			p := e.GetPayment()
			if p == nil || p.GetDirection() != storev1.Direction_DIRECTION_INCOMING {
				continue
			}
			t := time.Unix(0, p.GetTimeUnixNano())
			if !from.IsZero() && t.Before(from) {
				continue
			}
			if !to.IsZero() && !t.Before(to) {
				continue
			}
			if p.GetRefused() != "" || len(p.GetRefundOf()) != 0 {
				continue // refused and refunded, or a refund coming back: not revenue
			}
			ch := [32]byte(p.GetChannelId())
			asset, ok := assets[ch]
			if !ok {
				if c, err := a.n.Channel(ch); err == nil {
					asset = c.Asset.Address // fixed for the channel's life
				}
				assets[ch] = asset
			}
			var k string
			switch groupBy {
			case "channel":
				k = crypto.Hash(ch).Hex()
			case "stream":
				if len(p.GetStreamId()) == 0 {
					continue
				}
				k = fmt.Sprintf("%x", p.GetStreamId())
			case "item":
				k = p.GetItemId()
			case "peer":
				k = crypto.Address(p.GetPeer()).Hex()
			case "asset":
				k = a.assetOf(asset).Symbol
			case "identity":
				k = a.n.Address().Hex()
			}
			var b time.Time
			if bucket != nil {
				b = bucket(t)
			}
			amt, err := parseAmount("amount", p.GetAmount())
			if err != nil {
				return nil, err
			}
			kk := key{k, asset, b.UnixNano()}
			r := rows[kk]
			if r == nil {
				r = &RevenueRow{Key: k, Asset: a.assetOf(asset), Bucket: b}
				rows[kk] = r
			}
			r.Payments++
			r.Amount.Add(&r.Amount, &amt)
		}
	}
	out := make([]RevenueRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, *r)
	}
	sortRevenue(out)
	return out, nil
}

// MergeRevenue totals the revenue of several node identities, each
// grouped and bucketed alike: rows of the same key, asset (by address) and
// bucket are summed (the same payer, item or asset across identities),
// the others kept, in RevenueBy's order. It fails where a sum would
// overflow 256 bits.
func MergeRevenue(lists ...[]RevenueRow) ([]RevenueRow, error) {
	type key struct {
		k      string
		asset  crypto.Address
		bucket int64
	}
	at := map[key]int{}
	var out []RevenueRow
	for _, list := range lists {
		for _, r := range list {
			var b int64
			if !r.Bucket.IsZero() {
				b = r.Bucket.UnixNano()
			}
			kk := key{r.Key, r.Asset.Address, b}
			i, ok := at[kk]
			if !ok {
				at[kk] = len(out)
				out = append(out, r)
				continue
			}
			m := &out[i]
			var sum uint256.Int
			if _, over := sum.AddOverflow(&m.Amount, &r.Amount); over || m.Payments+r.Payments < m.Payments {
				return nil, invalid("the revenue of %q in %s does not fit: %s + %s", r.Key, r.Asset.Symbol, m.Amount.Dec(), r.Amount.Dec())
			}
			m.Amount = sum
			m.Payments += r.Payments
		}
	}
	sortRevenue(out)
	return out, nil
}

// sortRevenue orders rows by bucket, then by amount (largest first), then
// by key, then by asset.
func sortRevenue(rows []RevenueRow) {
	slices.SortFunc(rows, func(a, b RevenueRow) int {
		if c := a.Bucket.Compare(b.Bucket); c != 0 {
			return c
		}
		if c := b.Amount.Cmp(&a.Amount); c != 0 {
			return c
		}
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return strings.Compare(a.Asset.Address.Hex(), b.Asset.Address.Hex())
	})
}

// hourStart is the start of the hour of loc that holds t. With the zone's
// offset at t, it also cuts half- and quarter-hour zones at their own
// hours, and the two 1 a.m. hours of a day when clocks go back apart.
func hourStart(t time.Time, loc *time.Location) time.Time {
	_, off := t.In(loc).Zone()
	d := time.Duration(off) * time.Second
	return t.Add(d).Truncate(time.Hour).Add(-d).In(loc)
}

// dayStart is the midnight of loc that starts t's day there (a day of 23
// or 25 hours when clocks change).
func dayStart(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

// seqBefore finds, by binary search over the log (whose times grow with
// seq), a seq after which every entry is at or after t; 0 for a zero t.
func (a *Apps) seqBefore(t time.Time) (uint64, error) {
	if t.IsZero() {
		return 0, nil
	}
	lo, hi := uint64(0), a.store.LastSeq() // entries <= lo are before t
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		e, err := a.store.LogEntry(mid)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				hi = mid - 1
				continue
			}
			return 0, err
		}
		if time.Unix(0, e.GetTimeUnixNano()).Before(t) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	// Times are only nearly monotone (set before commit): step back a
	// little so that nothing at the edge is missed; the filter in the scan
	// drops what is out of range.
	if lo > 1024 {
		return lo - 1024, nil
	}
	return 0, nil
}
