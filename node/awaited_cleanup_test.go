package node

import (
	"context"
	"testing"

	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
	"github.com/tinypay/tinypay/store"
)

// TestStartRemovesReceiptsNothingAwaits: the index of awaited receipts can
// hold entries that nothing settles, one whose receipt is on disk and one
// of a proof the node never signed; a start reads them and used to leave
// them, to be read again at every start. Start removes both, and keeps
// the channel's real state.
func TestStartRemovesReceiptsNothingAwaits(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 1000)
	alice.pay(id, 5, "k1")
	sent := alice.channel(id).SentNonce

	peer := bob.key.Address()
	pay := func(key string, nonce uint64) (*storev1.LogEntry, [32]byte) {
		pid := randomID()
		return &storev1.LogEntry{TimeUnixNano: 1, Entry: &storev1.LogEntry_Payment{Payment: &storev1.Payment{
			Id: pid[:], IdempotencyKey: key, ChannelId: id[:], Direction: storev1.Direction_DIRECTION_OUTGOING,
			Amount: []byte{1}, Cumulative: []byte{6}, Nonce: nonce, TimeUnixNano: 1, Peer: peer[:], WantReceipt: true,
		}}}, pid
	}
	withReceipt, gotID := pay("stale-got", sent)
	ahead, _ := pay("stale-ahead", sent+10)
	b := store.NewBatch()
	for _, e := range []*storev1.LogEntry{withReceipt, ahead} {
		if err := b.AppendLog(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.PutReceipt(&storev1.Receipt{PaymentId: gotID[:], Time: 1, Signature: make([]byte, 65)}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.st.Commit(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	stale := func() (settled, awaited int) {
		t.Helper()
		recs, err := alice.st.LoadChannels()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			settled += len(r.Settled)
			awaited += len(r.Awaited)
		}
		return settled, awaited
	}
	if s, a := stale(); s != 1 || a != 1 {
		t.Fatalf("before the restart: %d entries with their receipt on disk and %d awaited, want 1 and 1", s, a)
	}
	alice.restart()
	if s, a := stale(); s != 0 || a != 0 {
		t.Fatalf("after the restart: %d entries with their receipt on disk and %d awaited, want none", s, a)
	}
	if n, _ := awaitedOf(t, alice, id); n != 0 {
		t.Fatalf("alice awaits %d receipts, want none", n)
	}
	if err := alice.st.Verify(); err != nil {
		t.Fatal(err)
	}
	alice.pay(id, 5, "k2") // and the channel goes on
}
