package node

import (
	"bytes"
	"math"

	"github.com/google/btree"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
)

// Paged lists. The registry keeps every channel in list order, newest
// first by (creation time, id), in two B-trees (all channels, and all
// channels grouped by peer), so that a page costs O(log n + what it
// examines) and never a sort. A page ends at a ChannelCursor, the place of
// the channel examined last: the next page starts right after it, so
// channels created while a caller pages (they sort before the cursor) never
// shift later pages, and no channel is listed twice.

// Page sizes of the paged lists (ChannelPage, and the API's lists).
const (
	// DefaultPageSize is the page size of a query that names none.
	DefaultPageSize = 500
	// MaxPageSize is the largest page; a larger page size is taken as it.
	MaxPageSize = 1000
)

// Bounds on the work of one page; variables for tests.
var (
	// maxPageScan bounds the entries one page examines when a filter
	// passes some over (settled channels without All): a page may then
	// hold fewer than its size, even none, with a cursor to go on from.
	maxPageScan = 20 * MaxPageSize
	// maxPaymentScan bounds the log entries one page of Payments reads
	// (other events, and other channels' payments, are passed over).
	maxPaymentScan = 16_384
)

// ChannelCursor is a place in the channel list: the creation time (Unix
// nanoseconds) and id of the channel examined last.
type ChannelCursor struct {
	Created int64
	ID      channel.ID
}

// ChannelQuery selects a page of channels.
type ChannelQuery struct {
	// Peer: only channels with this peer, if set.
	Peer crypto.Address
	// All: settled and abandoned channels too.
	All bool
	// After: start after this place (the previous page's cursor); nil:
	// from the newest channel.
	After *ChannelCursor
	// Limit: at most this many channels; 0 is DefaultPageSize, and more
	// than MaxPageSize is MaxPageSize.
	Limit int
}

// PageLimit is limit as a page size: DefaultPageSize for 0 (or less),
// MaxPageSize at most.
func PageLimit(limit int) int {
	if limit <= 0 {
		return DefaultPageSize
	}
	return min(limit, MaxPageSize)
}

// ChannelPage returns a page of channels in list order (newest first by
// creation time, then by id), and the cursor to pass as After for the next
// page, nil when there is no more. It examines at most q.Limit channels
// that pass the filter and a bounded number in all, so its cost does not grow
// with the number of channels.
func (n *Node) ChannelPage(q ChannelQuery) ([]ChannelInfo, *ChannelCursor) {
	limit := PageLimit(q.Limit)
	out := make([]ChannelInfo, 0, min(limit, 64))
	var last ageKey
	scanned, more := 0, false
	visit := func(k ageKey) bool {
		if !q.Peer.IsZero() && k.peer != q.Peer {
			return false // past this peer's channels
		}
		if q.After != nil && k.created == q.After.Created && k.id == q.After.ID {
			return true // the cursor's own channel, listed before
		}
		if len(out) == limit || scanned == maxPageScan {
			more = true
			return false
		}
		scanned++
		last = k
		if ci := k.c.snap.Load(); q.All || !ci.Phase.Terminal() {
			out = append(out, *ci)
		}
		return true
	}
	s := &n.chans
	s.mu.RLock()
	switch {
	case !q.Peer.IsZero():
		pivot := ageKey{peer: q.Peer, created: math.MaxInt64}
		if q.After != nil {
			pivot.created, pivot.id = q.After.Created, q.After.ID
		}
		s.byPeerAge.AscendGreaterOrEqual(pivot, visit)
	case q.After != nil:
		s.byAge.AscendGreaterOrEqual(ageKey{created: q.After.Created, id: q.After.ID}, visit)
	default:
		s.byAge.Ascend(visit)
	}
	s.mu.RUnlock()
	if !more {
		return out, nil
	}
	return out, &ChannelCursor{Created: last.created, ID: last.id}
}

// Channels lists channels, newest first; settled and abandoned ones only
// with all. It holds every channel in memory: the API pages (ChannelPage).
func (n *Node) Channels(peer crypto.Address, all bool) []ChannelInfo {
	return EveryPage(func(after *ChannelCursor) ([]ChannelInfo, *ChannelCursor) {
		return n.ChannelPage(ChannelQuery{Peer: peer, All: all, After: after, Limit: MaxPageSize})
	})
}

// EveryPage gathers every page of a list: page returns the page after a
// cursor (nil: the first) and the cursor of the next one (nil: none).
func EveryPage[T, C any](page func(after *C) ([]T, *C)) []T {
	var out []T
	var after *C
	for {
		items, next := page(after)
		out = append(out, items...)
		if next == nil {
			return out
		}
		after = next
	}
}

// ageKey is a channel's place in the list order.
type ageKey struct {
	created int64 // Unix nanoseconds
	id      channel.ID
	peer    crypto.Address
	c       *chanActor
}

// newestFirst is the list order: newest first, then by id.
func newestFirst(a, b ageKey) bool {
	if a.created != b.created {
		return a.created > b.created
	}
	return bytes.Compare(a.id[:], b.id[:]) < 0
}

// byPeerNewestFirst groups by peer, each peer's channels in list order.
func byPeerNewestFirst(a, b ageKey) bool {
	if c := bytes.Compare(a.peer[:], b.peer[:]); c != 0 {
		return c < 0
	}
	return newestFirst(a, b)
}

func newAgeIndexes() (all, byPeer *btree.BTreeG[ageKey]) {
	return btree.NewG(32, newestFirst), btree.NewG(32, byPeerNewestFirst)
}

func ageKeyOf(c *chanActor) ageKey {
	return ageKey{created: c.created.UnixNano(), id: c.id, peer: c.peer, c: c}
}

// indexAge adds c to the list order, or removes it; s.mu held for
// writing.
func (s *chanSet) indexAgeLocked(c *chanActor, in bool) {
	k := ageKeyOf(c)
	if in {
		s.byAge.ReplaceOrInsert(k)
		s.byPeerAge.ReplaceOrInsert(k)
		return
	}
	s.byAge.Delete(k)
	s.byPeerAge.Delete(k)
}
