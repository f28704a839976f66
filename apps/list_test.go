package apps

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"
)

func listStreamID(i int) [16]byte {
	var id [16]byte
	id[0], id[1], id[2], id[15] = byte(i>>16), byte(i>>8), byte(i), 0xa5
	return id
}

// pageStreams pages through q's streams in pages of size, calling between
// pages, and returns them and the number of pages.
func pageStreams(t *testing.T, a *Apps, q StreamQuery, size int, between func()) ([]StreamInfo, int) {
	t.Helper()
	q.Limit = size
	var out []StreamInfo
	for pages := 1; ; pages++ {
		page, next := a.StreamPage(q)
		if len(page) > size {
			t.Fatalf("page %d holds %d streams, more than %d", pages, len(page), size)
		}
		out = append(out, page...)
		if next == nil {
			return out, pages
		}
		q.After = next
		between()
	}
}

// TestStreamPages pages through 2,000 streams (started in any order, as
// peers say when their streams started; pairs in the same nanosecond; a
// quarter ended) while streams keep arriving and one is forgotten: each
// stream there when paging began is listed once, in list order (newest
// first, then by id), none that arrived meanwhile with a newer start, and
// not the forgotten one after it went. Without all, ended streams are
// passed over, a bounded number a page.
func TestStreamPages(t *testing.T) {
	was := maxStreamScan
	t.Cleanup(func() { maxStreamScan = was })
	maxStreamScan = 100
	base := time.Unix(1_800_000_000, 0)
	for _, all := range []bool{false, true} {
		a := &Apps{}
		a.streams.byID = map[[16]byte]*stream{}
		want := map[[16]byte]bool{}
		a.streams.mu.Lock()
		for _, i := range rand.Perm(2000) {
			st := &stream{StreamInfo: StreamInfo{ID: listStreamID(i), Started: base.Add(time.Duration(i/2) * time.Millisecond)}}
			if i%4 == 1 {
				st.EndReason = EndByPayer
			}
			a.streams.add(st)
			if all || st.EndReason == "" {
				want[st.ID] = true
			}
		}
		a.streams.mu.Unlock()
		arrived, forgot := 0, false
		got, pages := pageStreams(t, a, StreamQuery{All: all}, 37, func() {
			a.streams.mu.Lock()
			defer a.streams.mu.Unlock()
			for range 5 {
				a.streams.add(&stream{StreamInfo: StreamInfo{ID: listStreamID(1_000_000 + arrived), Started: base.Add(time.Hour + time.Duration(arrived))}})
				arrived++
			}
			if !forgot {
				// The oldest stream, not listed yet: it must not be.
				st := a.streams.byID[listStreamID(1)]
				a.streams.forget(st)
				delete(want, st.ID)
				forgot = true
			}
		})
		seen := map[[16]byte]bool{}
		for i, st := range got {
			if seen[st.ID] || !want[st.ID] {
				t.Fatalf("all %v: stream %x listed twice or unexpected", all, st.ID)
			}
			seen[st.ID] = true
			if i > 0 {
				p := got[i-1]
				if !(p.Started.After(st.Started) || p.Started.Equal(st.Started) && bytes.Compare(p.ID[:], st.ID[:]) < 0) {
					t.Fatalf("all %v: %x listed before %x: not newest first, then by id", all, p.ID, st.ID)
				}
			}
		}
		if len(seen) != len(want) {
			t.Fatalf("all %v: %d streams listed, want %d", all, len(seen), len(want))
		}
		if !all && pages < 2000/100 {
			t.Fatalf("%d pages: the scan past ended streams is not bounded", pages)
		}
		if first, _ := a.StreamPage(StreamQuery{All: all, Limit: 1}); first[0].ID != listStreamID(1_000_000+arrived-1) {
			t.Fatalf("all %v: the first page starts with %x, not the newest stream", all, first[0].ID)
		}
		if n := len(a.Streams(all)); n != len(want)+arrived {
			t.Fatalf("Streams(%v) lists %d, want %d", all, n, len(want)+arrived)
		}
	}
}
