package apps

import (
	"bytes"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
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
	pays        []*storev1.Payment // by nonce, then seq
	calls, read int
	afters      map[uint64]bool // the after of each read
}

func (l *logStore) ChannelPayments(ch [32]byte, dir storev1.Direction, after, upTo uint64, limit int) ([]*storev1.Payment, error) {
	l.calls++
	if l.afters == nil {
		l.afters = map[uint64]bool{}
	}
	l.afters[after] = true
	var out []*storev1.Payment
	for _, p := range slices.Backward(l.pays) {
		if p.GetNonce() > after && p.GetNonce() <= upTo && len(out) < limit {
			out = append(out, p)
		}
	}
	l.read += len(out)
	return out, nil
}

// TestCatchUpPages: the ticks after two streams' records (of different
// nonces, on one channel) are counted from one read of the channel's
// payments, across pages that split a proof's payments, skipping other
// streams' payments, refused ones and refunds; a proof larger than a page
// is read whole, and one larger than a read is counted in part, logged,
// and never fails the start.
func TestCatchUpPages(t *testing.T) {
	was := catchUpPage
	t.Cleanup(func() { catchUpPage = was })
	catchUpPage = 7
	quiet := slog.New(slog.DiscardHandler)
	ch := channel.ID{5}
	st1 := &stream{StreamInfo: StreamInfo{ID: [16]byte{1}, Channel: ch, Ticks: 50, Paid: *uint256.NewInt(500)}}
	st2 := &stream{StreamInfo: StreamInfo{ID: [16]byte{2}, Channel: ch, Ticks: 9, Paid: *uint256.NewInt(90)}}
	afters := map[*stream]uint64{st1: 40, st2: 120}
	other := [16]byte{3}
	rng := rand.New(rand.NewPCG(1, 2))
	l := &logStore{}
	type want struct {
		ticks       uint64
		paid        uint256.Int
		nonce, last uint64
	}
	wants := map[*stream]*want{st1: {ticks: st1.Ticks, paid: st1.Paid}, st2: {ticks: st2.Ticks, paid: st2.Paid}}
	for nonce := uint64(1); nonce <= 300; nonce++ {
		n := 1 + rng.IntN(5)
		if nonce == 200 {
			n = 3 * catchUpPage // a proof of more payments than a page
		}
		for range n {
			st := st1
			if rng.IntN(2) == 0 {
				st = st2
			}
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
				if w := wants[st]; nonce > afters[st] {
					w.ticks++
					w.paid.Add(&w.paid, uint256.NewInt(0).SetBytes(p.GetAmount()))
					w.nonce, w.last = nonce, nonce
				}
			}
			l.pays = append(l.pays, p)
		}
	}
	a := &Apps{store: l, log: quiet}
	st1.diskNonce, st2.diskNonce = afters[st1], afters[st2]
	a.catchUp(ch, map[[16]byte]*stream{st1.ID: st1, st2.ID: st2})
	for st, w := range wants {
		if st.Ticks != w.ticks || !st.Paid.Eq(&w.paid) || st.nonce != w.nonce || st.Last.UnixNano() != int64(w.last) {
			t.Fatalf("stream %d caught up to %d ticks, %s paid, nonce %d; want %d, %s, %d", st.ID[0], st.Ticks, st.Paid.Dec(), st.nonce, w.ticks, w.paid.Dec(), w.nonce)
		}
	}
	if len(l.afters) != 2 || !l.afters[40] || !l.afters[199] {
		t.Fatalf("reads after nonces %v: want the channel read once from the oldest record's (40) for both streams, and proof 200 whole", l.afters)
	}

	// A proof of more payments than one read: counted in part, logged.
	l = &logStore{}
	for range store.MaxChannelPayments + 1 {
		l.pays = append(l.pays, &storev1.Payment{Nonce: 5, Amount: []byte{1}, StreamId: st1.ID[:]})
	}
	var logged bytes.Buffer
	a = &Apps{store: l, log: slog.New(slog.NewTextHandler(&logged, nil))}
	before := st1.Ticks
	st1.diskNonce = 4
	a.catchUp(ch, map[[16]byte]*stream{st1.ID: st1})
	if st1.Ticks != before+store.MaxChannelPayments || !strings.Contains(logged.String(), "could not all be counted") {
		t.Fatalf("a proof larger than a read: %d ticks counted, logged %q", st1.Ticks-before, logged.String())
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
		st, err := a.meterIncoming(store.NewBatch(), ch, part, at)
		if err != nil {
			t.Fatal(err)
		}
		if st != nil { // as Incoming's putStream does
			st.unwritten, st.writtenAt, st.diskNonce = 0, at, st.record().GetReceivedNonce()
		}
		return st != nil
	}
	var wrote []int
	for i := 1; i <= 25; i++ {
		if tick(base.Add(time.Duration(i) * 100 * time.Millisecond)) {
			wrote = append(wrote, i)
		}
	}
	// The first writes (the record on disk names no nonce to count on
	// from), then every tenth.
	if !slices.Equal(wrote, []int{1, 11, 21}) {
		t.Fatalf("fast ticks wrote the record at ticks %v, want 1, 11 and 21", wrote)
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
	// A stream of a longer tick than laggingTick writes each tick, whole.
	st.Tick = 2 * time.Second
	for i := range 3 {
		if at = at.Add(2 * time.Second); !tick(at) {
			t.Fatalf("tick %d of a stream of a 2 s tick did not write its record", i)
		}
	}
	if r := st.record(); r.GetReceivedNonce() != 0 {
		t.Fatalf("the record of a stream of a 2 s tick names nonce %d: loading it would read the channel's payments since", r.GetReceivedNonce())
	}
	st.Tick = time.Second
	if r := st.record(); r.GetReceivedNonce() != ch.ReceivedNonce {
		t.Fatalf("a live record names nonce %d, want %d", r.GetReceivedNonce(), ch.ReceivedNonce)
	}
	st.EndReason = EndByPayer
	if !tick(at.Add(time.Second)) {
		t.Fatal("a tick of an ended stream did not write its record")
	}
	if r := st.record(); r.GetReceivedNonce() != 0 {
		t.Fatalf("the record of an ended stream names nonce %d", r.GetReceivedNonce())
	}
}

// slowLogStore answers ChannelPayments for many channels, each read taking
// a few milliseconds (a database server's round trip), and records how
// many reads were under way at once.
type slowLogStore struct {
	Store
	pays map[channel.ID][]*storev1.Payment // by nonce

	mu         sync.Mutex
	now, peak  int
	reads      int
	readsByCh  map[channel.ID]int
	firstError channel.ID
}

func (l *slowLogStore) ChannelPayments(ch [32]byte, dir storev1.Direction, after, upTo uint64, limit int) ([]*storev1.Payment, error) {
	l.mu.Lock()
	l.now++
	l.peak = max(l.peak, l.now)
	l.reads++
	l.readsByCh[ch]++
	l.mu.Unlock()
	defer func() { l.mu.Lock(); l.now--; l.mu.Unlock() }()
	time.Sleep(3 * time.Millisecond)
	if ch == l.firstError {
		return nil, errors.New("connection reset")
	}
	var out []*storev1.Payment
	for _, p := range slices.Backward(l.pays[ch]) {
		if p.GetNonce() > after && p.GetNonce() <= upTo && len(out) < limit {
			out = append(out, p)
		}
	}
	return out, nil
}

// TestCatchUpAllReadsChannelsAtOnce: at start the lagging streams of 200
// channels are caught up with catchUpReaders reads under way at once (not
// one channel after another, nor one goroutine a channel), each channel
// read once, every stream counting its own channel's ticks only; a channel
// whose read fails keeps its records' counts and does not stop the others.
func TestCatchUpAllReadsChannelsAtOnce(t *testing.T) {
	l := &slowLogStore{pays: map[channel.ID][]*storev1.Payment{}, readsByCh: map[channel.ID]int{}}
	lagging := map[channel.ID]map[[16]byte]*stream{}
	want := map[*stream]uint64{}
	for i := range 200 {
		ch := channel.ID{byte(i), byte(i >> 8), 1}
		st := &stream{StreamInfo: StreamInfo{ID: [16]byte{byte(i), byte(i >> 8)}, Channel: ch, Ticks: 10}, diskNonce: 10}
		lagging[ch] = map[[16]byte]*stream{st.ID: st}
		for nonce := uint64(1); nonce <= 10+uint64(i%7); nonce++ {
			l.pays[ch] = append(l.pays[ch], &storev1.Payment{Nonce: nonce, Amount: []byte{1}, StreamId: st.ID[:]})
		}
		want[st] = 10 + uint64(i%7)
		if i == 3 {
			l.firstError = ch
			want[st] = 10
		}
	}
	a := &Apps{store: l, log: slog.New(slog.DiscardHandler)}
	a.catchUpAll(lagging)
	for st, w := range want {
		if st.Ticks != w {
			t.Fatalf("stream of channel %x: %d ticks after the catch-up, want %d", st.Channel[:2], st.Ticks, w)
		}
	}
	if l.peak < 2 || l.peak > catchUpReaders {
		t.Fatalf("%d reads under way at once, want 2 to %d", l.peak, catchUpReaders)
	}
	for ch, n := range l.readsByCh {
		if n != 1 {
			t.Fatalf("channel %x read %d times, want once", ch[:2], n)
		}
	}
	if len(l.readsByCh) != 200 {
		t.Fatalf("%d channels read, want 200", len(l.readsByCh))
	}
	a.catchUpAll(nil) // nothing lagging: no read, no goroutine left waiting
}
