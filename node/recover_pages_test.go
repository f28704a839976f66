package node

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tinypay/tinypay/channel"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
	"github.com/tinypay/tinypay/store"
)

// TestRestoredRecoversEveryPage: Alice is restored from a backup taken
// before 400 payments with long memos, one proof each; their records are
// more than one Recovered carries. She used to restore the newest that fit
// and give up the rest with a warning: a retry of an older key paid again.
// Now she asks page by page, older proofs each time, until every record is
// back: a retry of the oldest returns it, and pays nothing.
func TestRestoredRecoversEveryPage(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 1_000_000)
	alice.pay(id, 5, "a0")
	snap := alice.snapshot()
	const n = 400
	memo, item := strings.Repeat("m", MaxMemoLen), strings.Repeat("i", MaxItemIDLen)
	key := func(i int) string { return fmt.Sprintf("p-%03d-", i) + strings.Repeat("k", 200) }
	for i := range n {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if _, err := alice.n.Pay(ctx, PayRequest{Channel: id, Amount: *u256(1), Key: key(i), ItemID: item, Memo: memo}); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
	// More than one answer holds, as onRecoverRequest builds it.
	size := 0
	for _, p := range bob.n.paymentsAfter(id, storev1.Direction_DIRECTION_INCOMING, 1, 1+n, 0) {
		size += proto.Size(&peerv1.RecoveredPayment{Nonce: p.GetNonce(), Cumulative: p.GetCumulative(), Part: &peerv1.PaymentPart{
			PaymentId: p.GetRemoteId(), Amount: p.GetAmount(), ItemId: p.GetItemId(), Memo: p.GetMemo(), IdempotencyKey: p.GetRemoteKey(),
		}}) + 8
	}
	if size <= bytesPerMessage {
		t.Fatalf("the records take %d bytes, one message %d: the test needs more", size, bytesPerMessage)
	}

	var caught atomic.Bool
	alice.restoreFrom(snap, &caught)
	alice.connect(bob)
	waitFor(t, "alice caught up", func() bool { return alice.channel(id).Behind == "" })
	for i := range n {
		e, err := alice.st.PaymentByIdempotencyKey(key(i))
		if err != nil || e.GetPayment().GetNonce() != uint64(i+2) {
			t.Fatalf("payment %d after the restore: %v, %v", i, e.GetPayment().GetNonce(), err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := alice.n.Pay(ctx, PayRequest{Channel: id, Amount: *u256(1), Key: key(0), ItemID: item, Memo: memo})
	if err != nil || p.Nonce != 2 || !p.Complete {
		t.Fatalf("retry of the oldest payment: %+v, %v", p, err)
	}
	if ci := alice.channel(id); ci.SentNonce != 1+n || u64(ci.Sent) != 5+n {
		t.Fatalf("alice sent %d@%d after the retry, want %d@%d", u64(ci.Sent), ci.SentNonce, 5+n, 1+n)
	}
	if err := alice.st.Verify(); err != nil {
		t.Fatal(err)
	}
}

// pagedLoss: Alice pays a0 (5, proof 1), is backed up, pays a1 (7, proof
// 2) and a2 (3, proof 3), and is restored; Bob's node stops. It returns
// Bob's copy of Alice's proof 3 and the Recovered messages Bob would send
// for proofs 3 alone and 2 alone.
func pagedLoss(t *testing.T) (alice *testNode, id channel.ID, held channel.Proof, page3, page2 *peerv1.Recovered) {
	t.Helper()
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id = alice.open(bob, 1000)
	alice.pay(id, 5, "a0")
	snap := alice.snapshot()
	alice.pay(id, 7, "a1")
	alice.pay(id, 3, "a2")
	waitFor(t, "bob holds proof 3", func() bool { return bob.channel(id).ReceivedNonce == 3 })
	held = mustChannelOf(t, bob, id).state().Received
	page3, page2 = recoveredPage(bob, id, 2, 3), recoveredPage(bob, id, 1, 2)
	bob.stop()
	var caught atomic.Bool
	alice.restoreFrom(snap, &caught)
	return alice, id, held, page3, page2
}

// recoveredPage is what bob answers a RecoverRequest for alice's proofs
// after nonce after up to upTo, as a node that pages does (without
// receipts, memos or items).
func recoveredPage(bob *testNode, id channel.ID, after, upTo uint64) *peerv1.Recovered {
	out := &peerv1.Recovered{ChannelId: id[:], UpToNonce: upTo}
	for _, p := range bob.n.paymentsAfter(id, storev1.Direction_DIRECTION_INCOMING, after, upTo, 0) {
		out.Payments = append(out.Payments, &peerv1.RecoveredPayment{Nonce: p.GetNonce(), Cumulative: p.GetCumulative(), Part: &peerv1.PaymentPart{
			PaymentId: p.GetRemoteId(), Amount: p.GetAmount(), IdempotencyKey: p.GetRemoteKey()}})
	}
	return out
}

// pageWriteHeld: as pagedLoss, and alice's disk then holds her writes:
// bob hands her proof 3 back, she asks for the records, and her write of
// proof 3's page (the answer) is held. The connection drops and bob
// reconnects; it returns the new connection and her request on it.
func pageWriteHeld(t *testing.T) (alice *testNode, id channel.ID, page3, page2 *peerv1.Recovered, gate *gateStore, r *rawPeer, req *peerv1.RecoverRequest) {
	t.Helper()
	alice, id, held, page3, page2 := pagedLoss(t)
	alice.wrap = func(s Store) Store { gate = &gateStore{Store: s}; return gate }
	alice.restart()
	r, _ = reestablishAsBob(t, alice, held, id)
	waitFor(t, "the adoption on disk", func() bool {
		ch, err := alice.st.Channel(id)
		return err == nil && ch.GetMissing().GetAfterNonce() == 1
	})
	gate.arm()
	r.send(&peerv1.Message{Body: &peerv1.Message_Recovered{Recovered: page3}})
	waitFor(t, "the page's write is held", func() bool { return gate.holding() > 0 })
	r.conn.Close(nil)
	time.Sleep(200 * time.Millisecond)
	r, req = reestablishAsBob(t, alice, held, id)
	return alice, id, page3, page2, gate, r, req
}

// reestablishAsBob dials alice as Bob and hands back her proof held; it
// returns the RecoverRequest she sends.
func reestablishAsBob(t *testing.T, alice *testNode, bob channel.Proof, id channel.ID) (*rawPeer, *peerv1.RecoverRequest) {
	t.Helper()
	alice.net.mu.Lock()
	bobKey := alice.net.nodes["bob"].key.Address()
	alice.net.mu.Unlock()
	r := dialRaw(t, bobKey, alice)
	r.send(&peerv1.Message{Body: &peerv1.Message_Reestablish{Reestablish: &peerv1.Reestablish{ChannelId: id[:], Held: proofMessage(bob, nil)}}})
	for {
		m := r.next()
		if req := m.GetRecoverRequest(); req != nil {
			return r, req
		}
	}
}

// answerNewestPage answers alice's first RecoverRequest on r with page3
// (proof 3's records), and waits for her request of the page up to 2 and
// its marker on disk.
func answerNewestPage(t *testing.T, alice *testNode, r *rawPeer, id channel.ID, page3 *peerv1.Recovered) {
	t.Helper()
	r.send(&peerv1.Message{Body: &peerv1.Message_Recovered{Recovered: page3}})
	if next := r.next().GetRecoverRequest(); next.GetAfterNonce() != 1 || next.GetUpToNonce() != 2 {
		t.Fatalf("the next page's request: %v", next)
	}
	waitFor(t, "the next page's marker on disk", func() bool {
		ch, err := alice.st.Channel(id)
		return err == nil && ch.GetMissing().GetAfterNonce() == 1 && ch.GetMissing().GetUpToNonce() == 2
	})
}

// TestRecoveryPagesSurviveARestart: the peer returns proof 3's records
// only; Alice restores them and asks for the proofs up to 2. She restarts
// before the answer: she asks again for those up to 2 (the page is on
// disk), not for all of them again, whose newest she holds now.
func TestRecoveryPagesSurviveARestart(t *testing.T) {
	alice, id, held, page3, page2 := pagedLoss(t)
	r, req := reestablishAsBob(t, alice, held, id)
	if req.GetAfterNonce() != 1 || req.GetUpToNonce() != 3 {
		t.Fatalf("first request: %v", req)
	}
	answerNewestPage(t, alice, r, id, page3)
	if _, err := alice.st.PaymentByIdempotencyKey("a2"); err != nil {
		t.Fatalf("proof 3's record: %v", err)
	}
	if b := alice.channel(id).Behind; !strings.Contains(b, "own proofs 2 to 2") {
		t.Fatalf("behind while the older page is asked for: %q", b)
	}
	r.conn.Close(nil)
	alice.restart()
	r, req = reestablishAsBob(t, alice, held, id)
	if req.GetAfterNonce() != 1 || req.GetUpToNonce() != 2 {
		t.Fatalf("request after the restart: %v", req)
	}
	r.send(&peerv1.Message{Body: &peerv1.Message_Recovered{Recovered: page2}})
	waitFor(t, "the recovery ends", func() bool { return !strings.Contains(alice.channel(id).Behind, "recover") })
	for key, nonce := range map[string]uint64{"a1": 2, "a2": 3} {
		e, err := alice.st.PaymentByIdempotencyKey(key)
		if err != nil || e.GetPayment().GetNonce() != nonce {
			t.Fatalf("payment %s: %v, %v", key, e, err)
		}
	}
	if ch, err := alice.st.Channel(id); err != nil || ch.GetMissing() != nil {
		t.Fatalf("the marker after the last page: %v, %v", ch.GetMissing(), err)
	}
	if err := alice.st.Verify(); err != nil {
		t.Fatal(err)
	}
}

// TestRecoveryPeerThatDoesNotPage: asked for an older page, the peer (an
// older node, which ignores up_to_nonce) answers with the newest proofs'
// records again. Alice takes that as "no more": she warns, keeps what she
// restored, and pays on, as before paging.
func TestRecoveryPeerThatDoesNotPage(t *testing.T) {
	alice, id, held, page3, _ := pagedLoss(t)
	r, _ := reestablishAsBob(t, alice, held, id)
	r.send(&peerv1.Message{Body: &peerv1.Message_Recovered{Recovered: page3}})
	if next := r.next().GetRecoverRequest(); next.GetUpToNonce() != 2 {
		t.Fatalf("the next page's request: %v", next)
	}
	old := proto.Clone(page3).(*peerv1.Recovered)
	old.UpToNonce = 0 // an older node says nothing of pages
	r.send(&peerv1.Message{Body: &peerv1.Message_Recovered{Recovered: old}})
	waitFor(t, "the recovery ends", func() bool { return !strings.Contains(alice.channel(id).Behind, "recover") })
	if _, err := alice.st.PaymentByIdempotencyKey("a1"); err == nil {
		t.Fatal("a1 restored from nothing")
	}
	if ch, err := alice.st.Channel(id); err != nil || ch.GetMissing() != nil {
		t.Fatalf("the marker: %v, %v", ch.GetMissing(), err)
	}
	if p := alice.n.failed.Load(); p != nil {
		t.Fatalf("alice's node failed: %v", *p)
	}
}

// TestRecoverRequestUpTo: the payee answers a page request with the
// payments of proofs up to up_to_nonce only.
func TestRecoverRequestUpTo(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 1000)
	for i := range 4 {
		alice.pay(id, uint64(i+1), fmt.Sprintf("k%d", i))
	}
	alice.stop()
	waitFor(t, "bob drops alice's session", func() bool { return bob.n.peers.session(alice.key.Address()) == nil })
	r := dialRaw(t, alice.key.Address(), bob)
	for _, tc := range []struct {
		after, upTo uint64
		want        string
	}{{0, 0, "[1 2 3 4]"}, {0, 2, "[1 2]"}, {1, 3, "[2 3]"}, {0, 9, "[1 2 3 4]"}, {2, 2, "[]"}} {
		for {
			r.send(&peerv1.Message{Body: &peerv1.Message_RecoverRequest{RecoverRequest: &peerv1.RecoverRequest{ChannelId: id[:], AfterNonce: tc.after, UpToNonce: tc.upTo}}})
			m := r.next()
			if m.GetError().GetCode() == codeResourceExhausted {
				time.Sleep(time.Millisecond)
				continue
			}
			var got []uint64
			for _, p := range m.GetRecovered().GetPayments() {
				got = append(got, p.GetNonce())
			}
			if fmt.Sprint(got) != tc.want {
				t.Fatalf("(%d, %d]: %v, want %s", tc.after, tc.upTo, got, tc.want)
			}
			break
		}
	}
}

// TestRecoveryPageOutOfRangeOnDisk: a marker whose page is out of range
// (a corrupt store) stopped the whole node from starting. Now that
// channel asks for every missing record again; those on disk already are
// kept as they are, and the rest are restored.
func TestRecoveryPageOutOfRangeOnDisk(t *testing.T) {
	alice, id, held, page3, page2 := pagedLoss(t)
	r, _ := reestablishAsBob(t, alice, held, id)
	answerNewestPage(t, alice, r, id, page3)
	r.conn.Close(nil)
	alice.stop()
	st, err := store.Open(store.DefaultConfig(alice.dir))
	if err != nil {
		t.Fatal(err)
	}
	ch, err := st.Channel(id)
	if err != nil {
		t.Fatal(err)
	}
	ch.Missing.UpToNonce = 9 // beyond the newest proof
	b := store.NewBatch()
	if err := b.PutChannel(ch); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Commit(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	alice.start()
	r, req := reestablishAsBob(t, alice, held, id)
	if req.GetAfterNonce() != 1 || req.GetUpToNonce() != 3 {
		t.Fatalf("request after the bad marker: %v", req)
	}
	both := &peerv1.Recovered{ChannelId: id[:], UpToNonce: 3, Payments: append(append([]*peerv1.RecoveredPayment{}, page2.GetPayments()...), page3.GetPayments()...)}
	r.send(&peerv1.Message{Body: &peerv1.Message_Recovered{Recovered: both}})
	waitFor(t, "the recovery ends", func() bool { return !strings.Contains(alice.channel(id).Behind, "recover") })
	if e, err := alice.st.PaymentByIdempotencyKey("a1"); err != nil || e.GetPayment().GetNonce() != 2 {
		t.Fatalf("a1: %v, %v", e, err)
	}
	if err := alice.st.Verify(); err != nil {
		t.Fatal(err)
	}
}
