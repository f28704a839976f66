package apps

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/tinypay/tinypay/channel"
	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
)

type failSecondRead struct{ logStore }

func (f *failSecondRead) ChannelPayments(ch [32]byte, dir storev1.Direction, after, upTo uint64, limit int) ([]*storev1.Payment, error) {
	if f.calls == 1 {
		return nil, errors.New("disk error")
	}
	return f.logStore.ChannelPayments(ch, dir, after, upTo, limit)
}

// TestCatchUpReadErrorLeavesRecordReview6: catchUp's doc says a read that
// fails "leaves those streams as their records say". It does not: the
// newest page is counted already and st.nonce moved to the newest nonce,
// so the stream holds a partial count whose next record names the newest
// nonce; the older ticks are then out of reach of any later catch-up.
func TestCatchUpReadErrorLeavesRecordReview6(t *testing.T) {
	was := catchUpPage
	t.Cleanup(func() { catchUpPage = was })
	catchUpPage = 2
	ch := channel.ID{5}
	st := &stream{StreamInfo: StreamInfo{ID: [16]byte{1}, Channel: ch, Ticks: 10}}
	f := &failSecondRead{}
	for n := uint64(11); n <= 16; n++ {
		f.pays = append(f.pays, &storev1.Payment{Nonce: n, Amount: []byte{1}, StreamId: st.ID[:], TimeUnixNano: int64(n)})
	}
	a := &Apps{store: f, log: slog.New(slog.DiscardHandler)}
	st.diskNonce = 10
	a.catchUp(ch, map[[16]byte]*stream{st.ID: st})
	if st.Ticks != 10 && st.Ticks != 16 {
		t.Fatalf("a failed read left the stream at %d ticks, nonce %d: neither as its record says (10) nor caught up (16)", st.Ticks, st.nonce)
	}
}
