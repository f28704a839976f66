package apps

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/tinypay/tinypay/channel"
)

func meterApps() *Apps {
	a := &Apps{}
	a.streams.byID = map[[16]byte]*stream{}
	a.streams.counted = map[channel.ID]map[[16]byte]*stream{}
	a.streams.stallAfter = 500 * time.Millisecond
	return a
}

// meterPass runs the meter's pass as meterLoop does (without writing) and
// returns what it marked, sorted: "stalled 12", "ended 7".
func meterPass(a *Apps, now time.Time) []string {
	var out []string
	a.streams.overdue(now, func(st *stream, ended bool) {
		i := int(st.ID[0])<<16 | int(st.ID[1])<<8 | int(st.ID[2])
		if ended {
			st.EndReason = EndTime
			out = append(out, fmt.Sprintf("ended %d", i))
		} else {
			st.stalled = true
			out = append(out, fmt.Sprintf("stalled %d", i))
		}
		a.streams.count(st)
	})
	slices.Sort(out)
	return out
}

// meterWalk is the rule the meter keeps, by walking every stream (what
// meterLoop did before the queue): what a pass at now must mark.
func meterWalk(a *Apps, now time.Time) []string {
	var out []string
	for _, st := range a.streams.byID {
		if st.Outgoing || st.EndReason != "" {
			continue
		}
		i := int(st.ID[0])<<16 | int(st.ID[1])<<8 | int(st.ID[2])
		last := st.Last
		if last.IsZero() {
			last = st.Started
		}
		switch {
		case !st.End.IsZero() && now.After(st.End.Add(st.Tick)): // stalled or not
			out = append(out, fmt.Sprintf("ended %d", i))
		case !st.stalled && now.Sub(last) > 2*st.Tick+a.streams.stallAfter:
			out = append(out, fmt.Sprintf("stalled %d", i))
		}
	}
	slices.Sort(out)
	return out
}

// TestMeterMatchesWalk drives streams at random (ticks, new ends and
// ticks earlier and later, resumes, ends, forgets, replacements, outgoing
// streams) and checks that every pass of the meter marks exactly what a
// walk over every stream would: none missed, none early, none twice.
func TestMeterMatchesWalk(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		a := meterApps()
		base := time.Unix(1_800_000_000, 0)
		now := base
		var all []*stream
		next := 0
		newStream := func() *stream {
			st := &stream{StreamInfo: StreamInfo{ID: listStreamID(next), Started: now, Tick: time.Duration(1+rng.IntN(3)) * 100 * time.Millisecond, Outgoing: rng.IntN(8) == 0}}
			next++
			if rng.IntN(3) == 0 {
				st.End = now.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
			}
			return st
		}
		a.streams.mu.Lock()
		for range 2000 {
			now = now.Add(time.Duration(rng.IntN(150)) * time.Millisecond)
			for range rng.IntN(6) {
				switch op := rng.IntN(20); {
				case op < 3 || len(all) == 0: // a new stream
					st := newStream()
					a.streams.add(st)
					a.streams.count(st)
					all = append(all, st)
				case op < 13: // a tick (it resumes a stalled stream)
					st := all[rng.IntN(len(all))]
					if a.streams.byID[st.ID] == st && st.EndReason == "" {
						st.stalled, st.Last, st.Ticks = false, now, st.Ticks+1
						a.streams.count(st)
					}
				case op < 16: // new terms: an end or a tick, earlier or later
					st := all[rng.IntN(len(all))]
					if rng.IntN(2) == 0 {
						st.End = now.Add(time.Duration(rng.IntN(2000)-500) * time.Millisecond)
					} else {
						st.Tick = time.Duration(1+rng.IntN(3)) * 100 * time.Millisecond
					}
					a.streams.watch(st)
				case op < 17: // ended by a peer
					st := all[rng.IntN(len(all))]
					if st.EndReason == "" {
						st.EndReason = EndByPayer
						a.streams.count(st)
					}
				case op < 18: // forgotten
					st := all[rng.IntN(len(all))]
					if a.streams.byID[st.ID] == st {
						a.streams.forget(st)
					}
				default: // replaced by a stream of the same id (a restore)
					old := all[rng.IntN(len(all))]
					st := newStream()
					next--
					st.ID = old.ID
					a.streams.add(st)
					a.streams.count(st)
					all = append(all, st)
				}
			}
			want := meterWalk(a, now)
			if got := meterPass(a, now); !slices.Equal(got, want) {
				t.Fatalf("seed %d at %s: the meter marked %v, the walk %v", seed, now.Sub(base), got, want)
			}
			for i, st := range a.streams.meter {
				if st.meterPos != i+1 || a.streams.byID[st.ID] != st {
					t.Fatalf("seed %d: queue position %d holds a stream at %d, known %v", seed, i, st.meterPos, a.streams.byID[st.ID] == st)
				}
			}
		}
		a.streams.mu.Unlock()
	}
}

// TestMeterPassLooksAtDueStreamsOnly: 10,000 streams paying on time are
// not looked at by the meter's passes between their due times (the queue's
// head is later than now), and one that stops paying is marked in the pass
// after its time, alone.
func TestMeterPassLooksAtDueStreamsOnly(t *testing.T) {
	a := meterApps()
	base := time.Unix(1_800_000_000, 0)
	a.streams.mu.Lock()
	defer a.streams.mu.Unlock()
	var sts []*stream
	for i := range 10_000 {
		st := &stream{StreamInfo: StreamInfo{ID: listStreamID(i), Started: base, Tick: time.Second}}
		a.streams.add(st)
		a.streams.count(st)
		sts = append(sts, st)
	}
	for sec := 1; sec <= 10; sec++ {
		now := base.Add(time.Duration(sec) * time.Second)
		for _, st := range sts[1:] {
			st.Last = now
			a.streams.count(st)
		}
		for ms := 0; ms < 1000; ms += 100 {
			at := now.Add(time.Duration(ms) * time.Millisecond)
			head := a.streams.meterBase.Add(time.Duration(a.streams.meter[0].meterAt))
			got := meterPass(a, at)
			switch {
			case sec == 2 && ms == 600:
				if !slices.Equal(got, []string{"stalled 0"}) {
					t.Fatalf("at %s: marked %v, want stream 0 stalled", at.Sub(base), got)
				}
			case len(got) > 0:
				t.Fatalf("at %s: marked %v, want none", at.Sub(base), got)
			case sec > 3 && !head.After(at.Add(-time.Second)):
				// The streams were queued again at their next time, at
				// least a tick ahead: a pass looks at none of them.
				t.Fatalf("at %s the queue's head is %s: streams paying on time are looked at every pass", at.Sub(base), head.Sub(base))
			}
		}
	}
	if len(a.streams.meter) != 9_999 {
		t.Fatalf("%d streams queued, want the 9,999 live ones", len(a.streams.meter))
	}
}

// BenchmarkMeterPass is one pass of the meter (every 100 ms) over n
// streams paying a tick a second: it looks at the streams whose time came
// only (each about once every 2.5 s, queued again: amortized O(log n) a
// tick, not O(n) a pass). The walk is what a pass cost before the queue:
// every stream, every pass.
func BenchmarkMeterPass(b *testing.B) {
	for _, walk := range []bool{false, true} {
		for _, n := range []int{1_000, 10_000, 100_000} {
			b.Run(fmt.Sprintf("walk=%v/%d", walk, n), func(b *testing.B) {
				a := meterApps()
				base := time.Unix(1_800_000_000, 0)
				a.streams.mu.Lock()
				defer a.streams.mu.Unlock()
				var sts []*stream
				for i := range n {
					st := &stream{StreamInfo: StreamInfo{ID: listStreamID(i), Started: base, Tick: time.Second}}
					a.streams.add(st)
					sts = append(sts, st)
				}
				now := base
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					now = now.Add(100 * time.Millisecond)
					for _, st := range sts[i%10*n/10 : (i%10+1)*n/10] { // a tenth tick each 100 ms
						st.Last = now
					}
					if walk {
						meterWalk(a, now)
					} else {
						meterPass(a, now)
					}
				}
			})
		}
	}
}

// TestMeterTimesPastInt64: meter times saturate rather than wrap, so a
// stream whose start or end lies centuries ahead (a peer's word) is queued
// last, and a pass returns.
func TestMeterTimesPastInt64(t *testing.T) {
	a := meterApps()
	now := time.Unix(1_800_000_000, 0)
	a.streams.mu.Lock()
	defer a.streams.mu.Unlock()
	far := &stream{StreamInfo: StreamInfo{ID: listStreamID(1), Started: time.Unix(1<<40, 0), Tick: time.Second}}
	y2262 := &stream{StreamInfo: StreamInfo{ID: listStreamID(4), Started: time.Unix(0, math.MaxInt64), Tick: time.Second}}
	ending := &stream{StreamInfo: StreamInfo{ID: listStreamID(2), Started: now, Last: now, Tick: time.Second, End: time.Unix(1<<40, 0)}}
	past := &stream{StreamInfo: StreamInfo{ID: listStreamID(3), Started: time.Unix(-1<<40, 0), Tick: time.Second}}
	for _, st := range []*stream{far, ending, past, y2262} {
		a.streams.add(st)
	}
	if far.meterAt != math.MaxInt64 || past.meterAt > math.MinInt64+int64(3*time.Second) {
		t.Fatalf("meter times %d and %d, want saturated", far.meterAt, past.meterAt)
	}
	if y2262.meterAt <= a.streams.meterTime(now) {
		t.Fatalf("a stream started in 2262 is queued at %d, before now (%d)", y2262.meterAt, a.streams.meterTime(now))
	}
	if got := meterPass(a, now); !slices.Equal(got, []string{"stalled 3"}) {
		t.Fatalf("marked %v, want the stream of long ago stalled", got)
	}
	if got := meterPass(a, now.Add(2600*time.Millisecond)); !slices.Equal(got, []string{"stalled 2"}) {
		t.Fatalf("marked %v, want the stream ending in the year 36,812 stalled once its ticks stop", got)
	}
}
