package apps

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/node"
	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
	"github.com/tinypay/tinypay/store"
)

// logStore is the payments of one channel, for catchUpStream: it answers
// ChannelPayments as the store does (newest first by nonce, then seq).
type logStore struct {
	Store
	pays  []*storev1.Payment // by nonce, then seq
	calls int
}

func (l *logStore) ChannelPayments(ch [32]byte, dir storev1.Direction, after, upTo uint64, limit int) ([]*storev1.Payment, error) {
	l.calls++
	var out []*storev1.Payment
	for _, p := range slices.Backward(l.pays) {
		if p.GetNonce() > after && p.GetNonce() <= upTo && len(out) < limit {
			out = append(out, p)
		}
	}
	return out, nil
}

// TestCatchUpStreamPages: the ticks after a record are counted across
// pages that split a proof's payments, skipping other streams' payments,
// refused ones and refunds; a proof larger than a page is an error, not
// a loop.
func TestCatchUpStreamPages(t *testing.T) {
	was := catchUpPage
	t.Cleanup(func() { catchUpPage = was })
	catchUpPage = 7
	st := &stream{StreamInfo: StreamInfo{ID: [16]byte{1}, Ticks: 50, Paid: *uint256.NewInt(500)}}
	other := [16]byte{2}
	rng := rand.New(rand.NewPCG(1, 2))
	l := &logStore{}
	wantTicks, wantPaid, wantNonce := st.Ticks, st.Paid, uint64(0)
	const after = 40
	for nonce := uint64(1); nonce <= 300; nonce++ {
		for range 1 + rng.IntN(5) {
			p := &storev1.Payment{Nonce: nonce, Amount: uint256.NewInt(uint64(1 + rng.IntN(9))).Bytes(), StreamId: st.ID[:], TimeUnixNano: int64(nonce)}
			switch rng.IntN(6) {
			case 0:
				p.StreamId = other[:]
			case 1:
				p.StreamId = nil
			case 2:
				p.Refused = "no"
			case 3:
				p.RefundOf = make([]byte, 32)
			default:
				if nonce > after {
					wantTicks++
					wantPaid.Add(&wantPaid, uint256.NewInt(0).SetBytes(p.GetAmount()))
					wantNonce = nonce
				}
			}
			l.pays = append(l.pays, p)
		}
	}
	a := &Apps{store: l}
	if err := a.catchUpStream(st, after); err != nil {
		t.Fatal(err)
	}
	if st.Ticks != wantTicks || !st.Paid.Eq(&wantPaid) || st.nonce != wantNonce || st.Last.UnixNano() != int64(wantNonce) {
		t.Fatalf("caught up to %d ticks, %s paid, nonce %d; want %d, %s, %d", st.Ticks, st.Paid.Dec(), st.nonce, wantTicks, wantPaid.Dec(), wantNonce)
	}
	if l.calls < 260/catchUpPage {
		t.Fatalf("%d reads for about 780 payments in pages of %d", l.calls, catchUpPage)
	}

	// A proof of more payments than a page.
	l = &logStore{}
	for range catchUpPage + 1 {
		l.pays = append(l.pays, &storev1.Payment{Nonce: 5, Amount: []byte{1}, StreamId: st.ID[:]})
	}
	a = &Apps{store: l}
	if err := a.catchUpStream(st, 4); err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("a proof larger than a page: %v", err)
	}
	// A record that counts everything reads nothing.
	l = &logStore{}
	a = &Apps{store: l}
	if err := a.catchUpStream(st, 0); err != nil || l.calls != 0 {
		t.Fatalf("a whole record: %v, %d reads", err, l.calls)
	}
}

// TestIncomingRecordWrittenEveryTenTicksOrTenSeconds: a live stream's
// record goes into a tick's batch on its first tick, then on every tenth,
// or once the last write is streamPersistAfter old whatever the tick (a
// slow stream's catch-up stays short); every tick of an ended stream
// writes.
func TestIncomingRecordWrittenEveryTenTicksOrTenSeconds(t *testing.T) {
	a := meterApps()
	a.n = nil
	base := time.Unix(1_800_000_000, 0)
	ch := node.ChannelInfo{ID: channel.ID{9}}
	part := &node.Part{Amount: *uint256.NewInt(1), Stream: [16]byte{7}}
	st := &stream{StreamInfo: StreamInfo{ID: part.Stream, Channel: ch.ID, Started: base, Tick: time.Second}, recorded: true, writtenAt: base}
	a.streams.add(st)
	tick := func(at time.Time) bool {
		ch.ReceivedNonce++
		b := store.NewBatch()
		if err := a.meterIncoming(b, ch, part, at); err != nil {
			t.Fatal(err)
		}
		return b.Len() > 0
	}
	var wrote []int
	for i := 1; i <= 25; i++ {
		if tick(base.Add(time.Duration(i) * 100 * time.Millisecond)) {
			wrote = append(wrote, i)
		}
	}
	if !slices.Equal(wrote, []int{10, 20}) {
		t.Fatalf("fast ticks wrote the record at ticks %v, want 10 and 20", wrote)
	}
	// Slow ticks: at most streamPersistAfter apart.
	at := base.Add(2500 * time.Millisecond)
	wrote = nil
	for i := 1; i <= 6; i++ {
		at = at.Add(4 * time.Second)
		if tick(at) {
			wrote = append(wrote, i)
		}
	}
	if !slices.Equal(wrote, []int{3, 6}) { // 12.5 s, then 12 s after the last write
		t.Fatalf("ticks 4 s apart wrote the record at ticks %v, want the 3rd and 6th (the first at least 10 s after the last write)", wrote)
	}
	st.EndReason = EndByPayer
	if !tick(at.Add(time.Second)) {
		t.Fatal("a tick of an ended stream did not write its record")
	}
}
