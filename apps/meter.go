package apps

import (
	"container/heap"
	"math"
	"time"
)

// The meter marks an incoming stream stalled when a tick is overdue, and
// ended when its end time passed. It does not walk the streams: each live
// incoming stream waits in a queue ordered by the earliest time it may
// need either (meterDue), and a pass of the meter looks only at the
// streams whose time came. A tick moves that time later without touching
// the queue: the stream is looked at once at its old time and queued again
// at its new one, so a stream paying on time is looked at about once every
// two ticks plus the stall time, whatever the number of streams.

// meterQueue is a binary heap of streams by meterAt; stream.meterPos is
// a stream's position in it plus one (0: not queued). streams.mu held.
type meterQueue []*stream

func (q meterQueue) Len() int           { return len(q) }
func (q meterQueue) Less(i, j int) bool { return q[i].meterAt < q[j].meterAt }
func (q meterQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].meterPos, q[j].meterPos = i+1, j+1
}
func (q *meterQueue) Push(x any) {
	st := x.(*stream)
	*q = append(*q, st)
	st.meterPos = len(*q)
}
func (q *meterQueue) Pop() any {
	old := *q
	st := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	st.meterPos = 0
	return st
}

// meterDue is the earliest time st may be overdue or past its end, as an
// offset from the meter's base (meterTime), and false if the meter has
// nothing to watch on it (outgoing, ended, or stalled already with no end
// time: a stalled stream still ends at its end time). The meter
// keeps to this one scale: a queue ordered on one clock but popped by
// comparisons on another (time.Time uses the monotonic clock when both
// times carry it) looped for good once the wall clock ran ahead.
func (s *streamSet) meterDue(st *stream) (int64, bool) {
	if st.Outgoing || st.EndReason != "" {
		return 0, false
	}
	if st.stalled {
		if st.End.IsZero() {
			return 0, false
		}
		return addNano(s.meterTime(st.End), st.Tick), true
	}
	last := st.Last
	if last.IsZero() {
		last = st.Started
	}
	due := addNano(s.meterTime(last), 2*st.Tick+s.stallAfter)
	if !st.End.IsZero() {
		due = min(due, addNano(s.meterTime(st.End), st.Tick))
	}
	return due, true
}

// watch queues st for the meter by the time it may be due; streams.mu
// held. It is called whenever a stream's state or terms change (add,
// count, new terms). A later time than the one queued is left for the
// meter to find; an earlier one moves the stream up. Each stream is in
// the queue at most once.
func (s *streamSet) watch(st *stream) {
	at, ok := s.meterDue(st)
	if !ok || s.byID[st.ID] != st {
		s.unwatch(st)
		return
	}
	switch {
	case st.meterPos == 0:
		st.meterAt = at
		heap.Push(&s.meter, st)
	case at < st.meterAt:
		st.meterAt = at
		heap.Fix(&s.meter, st.meterPos-1)
	}
}

// unwatch takes st out of the meter's queue; streams.mu held.
func (s *streamSet) unwatch(st *stream) {
	if st.meterPos > 0 {
		heap.Remove(&s.meter, st.meterPos-1)
	}
}

// overdue takes out of the queue and returns the streams whose time came
// by now, each with what is due: ended (its end time passed) or else
// stalled; a stream whose time moved later is queued again at it.
// streams.mu held.
func (s *streamSet) overdue(now time.Time, fn func(st *stream, ended bool)) {
	n := s.meterTime(now)
	for len(s.meter) > 0 && s.meter[0].meterAt < n {
		st := heap.Pop(&s.meter).(*stream)
		due, ok := s.meterDue(st)
		if !ok {
			continue
		}
		if due >= n { // queued again at a time the loop does not take
			st.meterAt = due
			heap.Push(&s.meter, st)
			continue
		}
		fn(st, !st.End.IsZero() && addNano(s.meterTime(st.End), st.Tick) < n)
	}
}

// meterTime is t as nanoseconds since the meter's base, a time taken when
// the first stream was queued: t.Sub, which saturates (a peer says when its
// stream started and ends, and a time past the year 2262 must queue last,
// not wrap to first) and which measures on the monotonic clock when t
// carries it (the node's times do: a step of the wall clock neither stalls
// a stream early nor late), on the wall clock when not (a peer's times,
// times read from the store). streams.mu held.
func (s *streamSet) meterTime(t time.Time) int64 {
	if s.meterBase.IsZero() {
		s.meterBase = time.Now()
	}
	return int64(t.Sub(s.meterBase))
}

// addNano is a+d, saturated.
func addNano(a int64, d time.Duration) int64 {
	if d > 0 && a > math.MaxInt64-int64(d) {
		return math.MaxInt64
	}
	if d < 0 && a < math.MinInt64-int64(d) {
		return math.MinInt64
	}
	return a + int64(d)
}
