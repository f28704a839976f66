package store

import (
	"context"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
)

func testChannelEvent(n byte) *storev1.LogEntry {
	id := chanID(n)
	return &storev1.LogEntry{TimeUnixNano: 42, Entry: &storev1.LogEntry_ChannelEvent{ChannelEvent: &storev1.ChannelEvent{
		ChannelId: id[:],
		Kind:      storev1.ChannelEventKind_CHANNEL_EVENT_KIND_DEPOSITED,
		Detail:    "top-up",
		Peer:      fill(7, 20),
		Amount:    []byte{1, 0},
		TxHash:    fill(9, 32),
		Side:      1,
	}}}
}

func TestChannelEventRoundTrip(t *testing.T) { forEachEngine(t, testChannelEventRoundTrip) }

func testChannelEventRoundTrip(t *testing.T, e testEngine) {
	s := openTest(t, e.config(t))
	b := NewBatch()
	if err := b.AppendLog(testChannelEvent(1)); err != nil {
		t.Fatal(err)
	}
	res := mustCommit(t, s, b)
	got, err := s.LogEntry(res.Seqs[0])
	if err != nil {
		t.Fatal(err)
	}
	want := withSeqField(testChannelEvent(1), res.Seqs[0])
	if !proto.Equal(got, want) {
		t.Fatalf("read back %v, want %v", got, want)
	}
}

func TestChannelEventRejects(t *testing.T) { forEachEngine(t, testChannelEventRejects) }

func testChannelEventRejects(t *testing.T, eng testEngine) {
	for _, tc := range []struct {
		name string
		edit func(e *storev1.ChannelEvent)
	}{
		{"short channel id", func(e *storev1.ChannelEvent) { e.ChannelId = e.ChannelId[:31] }},
		{"unspecified kind", func(e *storev1.ChannelEvent) { e.Kind = 0 }},
		{"unknown kind", func(e *storev1.ChannelEvent) { e.Kind = 99 }},
		{"short peer", func(e *storev1.ChannelEvent) { e.Peer = e.Peer[:19] }},
		{"short tx hash", func(e *storev1.ChannelEvent) { e.TxHash = e.TxHash[:31] }},
		{"amount with leading zero", func(e *storev1.ChannelEvent) { e.Amount = []byte{0, 1} }},
		{"amount over 32 bytes", func(e *storev1.ChannelEvent) { e.Amount = fill(1, 33) }},
		{"side 2", func(e *storev1.ChannelEvent) { e.Side = 2 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, eng.config(t))
			e := testChannelEvent(1)
			tc.edit(e.GetChannelEvent())
			b := NewBatch()
			err := b.AppendLog(e)
			if err == nil {
				_, err = s.Commit(context.Background(), b)
			}
			wantErr(t, err, ErrInvalid)
			if s.LastSeq() != 0 {
				t.Fatal("a rejected event was written")
			}
		})
	}
}

func TestLogBefore(t *testing.T) { forEachEngine(t, testLogBefore) }

func testLogBefore(t *testing.T, eng testEngine) {
	s := openTest(t, eng.config(t))
	for i := range 5 {
		b := NewBatch()
		if err := b.AppendLog(testChannelEvent(byte(i + 1))); err != nil {
			t.Fatal(err)
		}
		mustCommit(t, s, b)
	}
	var got []uint64
	for before := s.LastSeq() + 1; ; {
		page, err := s.LogBefore(before, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			got = append(got, e.GetSeq())
		}
		before = page[len(page)-1].GetSeq()
	}
	if want := []uint64{5, 4, 3, 2, 1}; !slices.Equal(got, want) {
		t.Fatalf("reverse walk %v, want %v", got, want)
	}
	if _, err := s.LogBefore(3, 0); err == nil {
		t.Fatal("limit 0 accepted")
	}
}
