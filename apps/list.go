package apps

import (
	"bytes"

	"github.com/google/btree"

	"github.com/tinypay/tinypay/node"
)

// Streams are listed a page at a time, newest first by (start time, id),
// from a B-tree kept in that order, so that a page never sorts every
// stream; a StreamCursor is the place of the stream examined last, as for
// channels (node.ChannelCursor).

// maxStreamScan bounds the streams one page examines when ended ones are
// passed over; a variable for tests.
var maxStreamScan = 20 * node.MaxPageSize

// StreamCursor is a place in the stream list: the start time (Unix
// nanoseconds) and id of the stream examined last.
type StreamCursor struct {
	Started int64
	ID      [16]byte
}

// StreamQuery selects a page of streams.
type StreamQuery struct {
	// All: ended streams too.
	All bool
	// After: start after this place (the previous page's cursor); nil:
	// from the newest stream.
	After *StreamCursor
	// Limit: at most this many streams (see node.PageLimit).
	Limit int
}

// StreamPage returns a page of streams in list order (newest first by
// start time, then by id), and the cursor to pass as After for the next
// page, nil when there is no more. A page may hold fewer than q.Limit,
// even none, with a cursor: it examines a bounded number of streams.
func (a *Apps) StreamPage(q StreamQuery) ([]StreamInfo, *StreamCursor) {
	limit := node.PageLimit(q.Limit)
	out := make([]StreamInfo, 0, min(limit, 64))
	var last streamKey
	scanned, more := 0, false
	a.streams.mu.Lock()
	defer a.streams.mu.Unlock()
	if a.streams.byAge == nil {
		return out, nil
	}
	visit := func(k streamKey) bool {
		if q.After != nil && k.started == q.After.Started && k.id == q.After.ID {
			return true // the cursor's own stream, listed before
		}
		if len(out) == limit || scanned == maxStreamScan {
			more = true
			return false
		}
		scanned++
		last = k
		if q.All || k.st.EndReason == "" {
			out = append(out, k.st.info())
		}
		return true
	}
	if q.After != nil {
		a.streams.byAge.AscendGreaterOrEqual(streamKey{started: q.After.Started, id: q.After.ID}, visit)
	} else {
		a.streams.byAge.Ascend(visit)
	}
	if !more {
		return out, nil
	}
	return out, &StreamCursor{Started: last.started, ID: last.id}
}

// Streams lists streams, newest first; ended ones only with all. It holds
// every stream in memory: the API pages (StreamPage).
func (a *Apps) Streams(all bool) []StreamInfo {
	return node.EveryPage(func(after *StreamCursor) ([]StreamInfo, *StreamCursor) {
		return a.StreamPage(StreamQuery{All: all, After: after, Limit: node.MaxPageSize})
	})
}

// streamKey is a stream's place in the list order.
type streamKey struct {
	started int64 // Unix nanoseconds
	id      [16]byte
	st      *stream
}

func streamNewestFirst(a, b streamKey) bool {
	if a.started != b.started {
		return a.started > b.started
	}
	return bytes.Compare(a.id[:], b.id[:]) < 0
}

func streamKeyOf(st *stream) streamKey {
	return streamKey{started: st.Started.UnixNano(), id: st.ID, st: st}
}

// add registers st (its id and start time never change); streams.mu
// held.
func (s *streamSet) add(st *stream) {
	if s.byAge == nil {
		s.byAge = btree.NewG(32, streamNewestFirst)
	}
	if old := s.byID[st.ID]; old != nil {
		s.byAge.Delete(streamKeyOf(old))
		s.unwatch(old)
	}
	s.byID[st.ID] = st
	s.byAge.ReplaceOrInsert(streamKeyOf(st))
	s.watch(st)
}
