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

// RevenueRow is incoming money grouped by one key.
type RevenueRow struct {
	Key      string // a channel id, stream id, item id or peer address
	Asset    node.Asset
	Payments uint64
	Amount   uint256.Int
}

// Revenue sums the incoming payments with a time in [from, to) grouped by
// "channel", "stream", "item" or "peer". A zero from or to is open.
func (a *Apps) Revenue(from, to time.Time, groupBy string) ([]RevenueRow, error) {
	switch groupBy {
	case "":
		groupBy = "channel"
	case "channel", "stream", "item", "peer":
	default:
		return nil, invalid("group by %q: want channel, stream, item or peer", groupBy)
	}
	if !to.IsZero() && !from.IsZero() && !from.Before(to) {
		return nil, invalid("the range is empty: from %s is not before to %s", from, to)
	}
	after, err := a.seqBefore(from)
	if err != nil {
		return nil, err
	}
	type key struct {
		k     string
		asset crypto.Address
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
			}
			amt, err := parseAmount("amount", p.GetAmount())
			if err != nil {
				return nil, err
			}
			r := rows[key{k, asset}]
			if r == nil {
				r = &RevenueRow{Key: k, Asset: a.assetOf(asset)}
				rows[key{k, asset}] = r
			}
			r.Payments++
			r.Amount.Add(&r.Amount, &amt)
		}
	}
	out := make([]RevenueRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b RevenueRow) int {
		if c := b.Amount.Cmp(&a.Amount); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out, nil
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
