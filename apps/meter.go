package apps

import (
	"container/heap"
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

// meterDue is the earliest time st may be overdue or past its end, and
// false if the meter has nothing to watch on it (outgoing, ended or
// stalled already).
func (s *streamSet) meterDue(st *stream) (time.Time, bool) {
	if st.Outgoing || st.EndReason != "" || st.stalled {
		return time.Time{}, false
	}
	last := st.Last
	if last.IsZero() {
		last = st.Started
	}
	due := last.Add(2*st.Tick + s.stallAfter)
	if !st.End.IsZero() {
		if end := st.End.Add(st.Tick); end.Before(due) {
			due = end
		}
	}
	return due, true
}

// watch queues st for the meter by the time it may be due; streams.mu
// held. It is called whenever a stream's state or terms change (add,
// count, new terms). A later time than the one queued is left for the
// meter to find; an earlier one moves the stream up. Each stream is in
// the queue at most once.
func (s *streamSet) watch(st *stream) {
	due, ok := s.meterDue(st)
	if !ok || s.byID[st.ID] != st {
		s.unwatch(st)
		return
	}
	at := due.UnixNano()
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
	n := now.UnixNano()
	for len(s.meter) > 0 && s.meter[0].meterAt < n {
		st := heap.Pop(&s.meter).(*stream)
		due, ok := s.meterDue(st)
		if !ok {
			continue
		}
		if !now.After(due) {
			st.meterAt = due.UnixNano()
			heap.Push(&s.meter, st)
			continue
		}
		fn(st, !st.End.IsZero() && now.After(st.End.Add(st.Tick)))
	}
}
