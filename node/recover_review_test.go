package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
	"google.golang.org/protobuf/proto"
)

// Found by a hostile review of 9f66ba8: the chain of cumulatives wrapped
// at 2^256 after the first payment, and a Recovered the node did not ask
// for on this session (after a restart with records missing, before the
// peer's Reestablish) was taken.
func TestReviewRecoveredChainDoesNotWrap(t *testing.T) {
	alice, _, id, _, _ := lostPayment(t)
	c := mustChannelOf(t, alice, id)
	var maxAmt uint256.Int
	maxAmt.SetAllOne()
	pays := []*peerv1.RecoveredPayment{
		{Nonce: 2, Cumulative: amountBytes(u256(12)), Part: &peerv1.PaymentPart{PaymentId: rid(0x71), Amount: amountBytes(u256(7)), IdempotencyKey: "lost"}},
		{Nonce: 2, Cumulative: amountBytes(u256(11)), Part: &peerv1.PaymentPart{PaymentId: rid(0x72), Amount: amountBytes(&maxAmt), IdempotencyKey: "huge"}},
		{Nonce: 2, Cumulative: amountBytes(u256(12)), Part: &peerv1.PaymentPart{PaymentId: rid(0x73), Amount: amountBytes(u256(1)), IdempotencyKey: "one"}},
	}
	var got []recoveredPay
	var err error
	done := make(chan struct{})
	c.do(func() {
		defer close(done)
		got, err = c.checkRecovered(&peerv1.Recovered{ChannelId: id[:], Payments: pays}, channel.Proof{Nonce: 2, Transferred: *u256(12)}, 1, u256(5))
	})
	<-done
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("cumulatives 12, 11, 12 (an amount of 2^256-1): %d records taken, err %v; want ErrMalformed", len(got), err)
	}
}

// Finding 4 (P3). After a restart with the marker set, c.recovering exists
// before the peer's Reestablish; onRecovered does not check it was asked on
// this session (r.sess), so a Recovered sent before Reestablish is taken,
// and badRecovery (or restoreRecovered) sets ready: the peer's proofs are
// then accepted without any reestablish (before the change, a proof before
// Reestablish was refused, and so is it on a channel without the marker).
func TestReviewRecoveredBeforeReestablish(t *testing.T) {
	alice, bob, id, dom, r := lostPayment(t)
	waitFor(t, "the marker is on alice's disk", func() bool {
		c, err := alice.st.Channel(id)
		return err == nil && c.GetMissing() != nil
	})
	r.conn.Close(nil)
	alice.restart()
	r = dialRaw(t, bob.key.Address(), alice)
	waitFor(t, "alice attached the channel", func() bool {
		return strings.Contains(alice.channel(id).Behind, "waiting for the peer's reestablish")
	})
	// No Reestablish: an empty Recovered, then a proof of Bob's.
	r.send(&peerv1.Message{Body: &peerv1.Message_Recovered{Recovered: &peerv1.Recovered{ChannelId: id[:]}}})
	r.send(&peerv1.Message{Body: &peerv1.Message_Proof{Proof: signedProof(t, bob.key, dom, id, 1, 3,
		&peerv1.PaymentPart{PaymentId: rid(0x55), Amount: amountBytes(u256(3))})}})
	m := r.next()
	if m.GetAck() != nil {
		t.Fatalf("alice acknowledged a proof sent before any Reestablish (she took an unasked Recovered first): %v", m)
	}
	if c, err := alice.st.Channel(id); err != nil || c.GetMissing() == nil {
		t.Fatalf("an unasked Recovered cleared the marker: %v, %v", c.GetMissing(), err)
	}
}

// TestRestoredWithRecordsMissingReadsTheChain: Alice's backup was taken
// while the records of her own proof 2 were missing (she had adopted it
// from Bob and asked him for them). Restored from it, she must read the
// chain before she pays: the chain may have moved since the backup. The
// marker made the channel behind at load, waiting for the peer only, and
// the restore found it behind already: once Bob returned the records,
// it paid with the chain never read (found by a hostile review).
func TestRestoredWithRecordsMissingReadsTheChain(t *testing.T) {
	alice, bob, id, _, _ := lostPayment(t)
	held := mustChannelOf(t, alice, id).state().Sent
	snap := alice.snapshot() // the marker is in it
	var release func()
	alice.onChain = func(b *fakeBackend) { release = b.hangReads() }
	var caught atomic.Bool
	alice.restoreFrom(snap, &caught)
	alice.onChain = nil
	t.Cleanup(release)

	r := dialRaw(t, bob.key.Address(), alice)
	r.send(&peerv1.Message{Body: &peerv1.Message_Reestablish{Reestablish: &peerv1.Reestablish{ChannelId: id[:], Held: proofMessage(held, nil)}}})
	if req := r.next().GetRecoverRequest(); req == nil || req.GetAfterNonce() != 1 {
		t.Fatalf("the restored alice asked %v, want the payments after proof 1", req)
	}
	r.send(&peerv1.Message{Body: &peerv1.Message_Recovered{Recovered: &peerv1.Recovered{ChannelId: id[:], Payments: []*peerv1.RecoveredPayment{{
		Nonce: 2, Cumulative: amountBytes(u256(12)),
		Part: &peerv1.PaymentPart{PaymentId: rid(0x77), Amount: amountBytes(u256(7)), IdempotencyKey: "lost"},
	}}}}})
	waitFor(t, "the records are restored", func() bool {
		e, err := alice.st.PaymentByIdempotencyKey("lost")
		return err == nil && e.GetPayment().GetNonce() == 2
	})
	if err := mustChannelOf(t, alice, id).stepAndWait(t.Context(), func() {}); err != nil { // the restore's step is taken
		t.Fatal(err)
	}
	if got := alice.channel(id).Behind; !strings.Contains(got, "waiting to read the chain") {
		t.Fatalf("restored, the records back, the chain not read: behind %q, want waiting to read the chain", got)
	}
	if _, err := alice.tryPay(id, 1, "before-the-chain"); !errors.Is(err, ErrBehind) {
		t.Fatalf("a payment before the chain was read: %v, want ErrBehind", err)
	}
	release()
	waitFor(t, "alice caught up once the chain is read", func() bool { return alice.channel(id).Behind == "" && caught.Load() })
	go func() { _, _ = alice.tryPay(id, 1, "after") }()
	if p := r.next().GetProof(); p.GetNonce() != 3 {
		t.Fatalf("the first proof after catching up: %v; want nonce 3", p)
	}
}

// TestRecoveredKeepsOlderRecordsOverNewerReceipts: the newest proof's
// payments fit the answer with their receipts, and the proof before it
// fits too only if those receipts go. The records come first (they keep a
// retried key from paying twice); newestWithin, greedy from the newest
// proof, kept the receipts and dropped the older proof's records (found by
// a hostile review).
func TestRecoveredKeepsOlderRecordsOverNewerReceipts(t *testing.T) {
	pay := func(nonce uint64, i int, receipt bool) *peerv1.RecoveredPayment {
		rp := &peerv1.RecoveredPayment{Nonce: nonce, Cumulative: amountBytes(u256(uint64(1_000_000 + i))),
			Part: &peerv1.PaymentPart{PaymentId: ridN(i), Amount: amountBytes(u256(1)), IdempotencyKey: "order-" + strings.Repeat("x", 20), WantReceipt: receipt}}
		if receipt {
			rp.Receipt = &peerv1.Receipt{PaymentId: ridN(i), Time: 1_700_000_000, Signature: bytes.Repeat([]byte{7}, 65)}
		}
		return rp
	}
	stripped := pay(3, 0, true)
	stripped.Receipt = nil
	with, without, plain := proto.Size(pay(3, 0, true))+8, proto.Size(stripped)+8, proto.Size(pay(2, 0, false))+8
	newest := bytesPerMessage / with                     // proof 3: as many as fit with their receipts
	older := (bytesPerMessage-newest*without)/plain - 10 // proof 2: the rest of what fits without them
	if newest > maxParts || older <= 0 || newest*with+older*plain <= bytesPerMessage {
		t.Fatalf("the test's sizes do not make the case: %d and %d payments of %d/%d/%d bytes", newest, older, with, without, plain)
	}
	var rps []*peerv1.RecoveredPayment
	for i := range older {
		rps = append(rps, pay(2, i, false))
	}
	for i := range newest {
		rps = append(rps, pay(3, older+i, true))
	}
	got := newestWithin(rps, bytesPerMessage)
	if len(got) != older+newest {
		t.Fatalf("%d of %d records kept (proof 2 has %d, proof 3 %d)", len(got), older+newest, older, newest)
	}
	if n := proto.Size(&peerv1.Recovered{ChannelId: rid(1), Payments: got}); n > bytesPerMessage {
		t.Fatalf("the answer is %d bytes, more than a message's %d", n, bytesPerMessage)
	}
	// What room is left goes to receipts, the newest first.
	kept := 0
	for _, rp := range got {
		if rp.GetReceipt() != nil {
			kept++
		}
	}
	if kept == 0 || got[len(got)-1].GetReceipt() == nil || got[older].GetReceipt() != nil {
		t.Fatalf("%d receipts kept, the newest's %v, the oldest of proof 3's %v: want the newest receipts kept as room allows",
			kept, got[len(got)-1].GetReceipt() != nil, got[older].GetReceipt() != nil)
	}
}

// failIDReads fails every read of a payment by id while armed, as a disk
// with a bad moment does.
type failIDReads struct {
	Store
	armed atomic.Bool
}

func (s *failIDReads) PaymentByID(id [32]byte) (*storev1.LogEntry, error) {
	if s.armed.Load() {
		return nil, errors.New("test: read failed")
	}
	return s.Store.PaymentByID(id)
}

// TestRecoveryReadErrorKeepsTheRecordsMissing: Alice's check of the
// payments Bob returned cannot read her store for a moment. That is no
// bad data of Bob's: the records are still missing, so the channel stays
// behind (a retried key would pay twice), the marker stays on disk, and
// she asks again. It counted as bad data: the marker was cleared for good
// and the channel paid on.
func TestRecoveryReadErrorKeepsTheRecordsMissing(t *testing.T) {
	alice, bob, id, _, _ := lostPayment(t)
	held := mustChannelOf(t, alice, id).state().Sent
	reads := &failIDReads{}
	alice.wrap = func(s Store) Store { reads.Store = s; return reads }
	alice.restart()
	r := dialRaw(t, bob.key.Address(), alice)
	r.send(&peerv1.Message{Body: &peerv1.Message_Reestablish{Reestablish: &peerv1.Reestablish{ChannelId: id[:], Held: proofMessage(held, nil)}}})
	if req := r.next().GetRecoverRequest(); req == nil || req.GetAfterNonce() != 1 {
		t.Fatalf("alice asked %v, want the payments after proof 1", req)
	}
	recovered := &peerv1.Message{Body: &peerv1.Message_Recovered{Recovered: &peerv1.Recovered{ChannelId: id[:], Payments: []*peerv1.RecoveredPayment{{
		Nonce: 2, Cumulative: amountBytes(u256(12)),
		Part: &peerv1.PaymentPart{PaymentId: rid(0x77), Amount: amountBytes(u256(7)), IdempotencyKey: "lost"},
	}}}}}
	reads.armed.Store(true)
	r.send(recovered)
	// She asks again once the read failed.
	if req := r.next().GetRecoverRequest(); req == nil || req.GetAfterNonce() != 1 {
		t.Fatalf("after the failed read alice sent %v, want the request again", req)
	}
	if got := alice.channel(id).Behind; got == "" {
		t.Fatal("the channel pays with the records still missing")
	}
	if _, err := alice.tryPay(id, 7, "lost"); !errors.Is(err, ErrBehind) {
		t.Fatalf("a retry of the lost key: %v, want ErrBehind", err)
	}
	if rec, err := alice.st.Channel(id); err != nil || rec.GetMissing() == nil {
		t.Fatalf("the marker of the missing records on disk: %v, %v; want it kept", rec.GetMissing(), err)
	}
	reads.armed.Store(false)
	r.send(recovered)
	waitFor(t, "alice caught up", func() bool { return alice.channel(id).Behind == "" })
	if p, err := alice.tryPay(id, 7, "lost"); err != nil || p.Nonce != 2 {
		t.Fatalf("the lost key once restored: %+v, %v; want the payment of proof 2", p, err)
	}
}

// TestRecoveredRefundedIsNotPaid: Bob refused Alice's lost payment and
// refunded it with his proof 1; Alice crashed before she had either. On
// reconnect Bob holds her proof 2 and says he signed his proof 1. Alice
// restores the record of the lost payment; until Bob's proof 1 (the
// refund) is here, the payment is not known paid: a read by its key does
// not say complete, a retry waits, the channel pays nothing. Once the
// refund is here, the retry is told the payee refused it. It read as paid
// as soon as the record was restored (found by a hostile review).
func TestRecoveredRefundedIsNotPaid(t *testing.T) {
	alice, bob, id, dom, held := loseProof(t)
	lost := held.Nonce
	// A retry made before Bob is back waits in the channel's queue; the
	// restored record answered it "paid".
	queued := make(chan error, 1)
	go func() { _, err := alice.tryPay(id, 7, "lost"); queued <- err }()
	waitFor(t, "the retry is queued", func() bool {
		n := 0
		if err := mustChannelOf(t, alice, id).stepAndWait(t.Context(), func() { n = len(mustChannelOf(t, alice, id).queue) }); err != nil {
			t.Fatal(err)
		}
		return n == 1
	})

	r := dialRaw(t, bob.key.Address(), alice)
	r.send(&peerv1.Message{Body: &peerv1.Message_Reestablish{Reestablish: &peerv1.Reestablish{ChannelId: id[:], Held: proofMessage(held, nil), SentNonce: 1}}})
	if req := r.next().GetRecoverRequest(); req == nil || req.GetAfterNonce() != lost-1 {
		t.Fatalf("no recover request: %v", req)
	}
	payID := rid(0x77)
	r.send(&peerv1.Message{Body: &peerv1.Message_Recovered{Recovered: &peerv1.Recovered{ChannelId: id[:], Payments: []*peerv1.RecoveredPayment{{
		Nonce: lost, Cumulative: amountBytes(u256(12)),
		Part: &peerv1.PaymentPart{PaymentId: payID, Amount: amountBytes(u256(7)), IdempotencyKey: "lost"},
	}}}}})
	waitFor(t, "the record is restored", func() bool {
		e, err := alice.st.PaymentByIdempotencyKey("lost")
		return err == nil && e.GetPayment().GetNonce() == lost
	})
	if err := mustChannelOf(t, alice, id).stepAndWait(t.Context(), func() {}); err != nil {
		t.Fatal(err)
	}
	if info, _, err := alice.n.PaymentByKey(context.Background(), "lost"); err != nil || info.Complete {
		t.Fatalf("before bob's proof 1 (his refund) is here the payment reads %+v, %v; want not complete", info, err)
	}
	if got := alice.channel(id).Behind; got == "" {
		t.Fatal("the channel pays before the proofs bob said he signed are here")
	}
	retry := make(chan error, 1)
	go func() { _, err := alice.tryPay(id, 7, "lost"); retry <- err }()
	select {
	case err := <-retry:
		if !errors.Is(err, ErrBehind) {
			t.Fatalf("a retry of the key before the refund is here: %v, want it to wait or ErrBehind", err)
		}
	case <-time.After(300 * time.Millisecond):
	}
	r.send(&peerv1.Message{Body: &peerv1.Message_Proof{Proof: signedProof(t, bob.key, dom, id, 1, 7,
		&peerv1.PaymentPart{PaymentId: rid(0x66), Amount: amountBytes(u256(7)), Memo: "sold out", RefundOf: payID})}})
	waitFor(t, "alice caught up", func() bool { return alice.channel(id).Behind == "" })
	var refused *RefusedError
	if err := <-queued; !errors.As(err, &refused) {
		t.Fatalf("the retry queued before the recovery: %v, want the payee's refusal", err)
	}
	if _, err := alice.tryPay(id, 7, "lost"); !errors.As(err, &refused) {
		t.Fatalf("a retry of the refunded key: %v, want the payee's refusal", err)
	}
	if info, _, err := alice.n.PaymentByKey(context.Background(), "lost"); err != nil || info.Complete {
		t.Fatalf("the refunded payment reads %+v, %v; want not complete", info, err)
	}
}

// TestProofRecordsFitOneRecovered: 400 payments with the longest memo and
// item id were covered by one proof (MaxParts is 512), whose records are
// more than one message holds; had that proof been lost in a crash, the
// peer's answer could never carry them, and the channel would wait for
// them for good (found by a hostile review). A proof now covers payments
// whose records fit one Recovered, the next ones go in the next proof.
func TestProofRecordsFitOneRecovered(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 100_000)
	bob.stop() // the payments wait for him in the channel's queue, then go out together
	const n = 400
	memo, item := strings.Repeat("m", MaxMemoLen), strings.Repeat("i", MaxItemIDLen)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			key := fmt.Sprintf("k-%03d-", i) + strings.Repeat("x", 200)
			if _, err := alice.n.Pay(ctx, PayRequest{Channel: id, Amount: *u256(1), Key: key, ItemID: item, Memo: memo}); err != nil {
				t.Error(err)
			}
		})
	}
	c := mustChannelOf(t, alice, id)
	waitFor(t, "every payment is queued", func() bool {
		queued := 0
		if err := c.stepAndWait(t.Context(), func() { queued = len(c.queue) }); err != nil {
			t.Fatal(err)
		}
		return queued == n
	})
	bob.start()
	alice.connect(bob)
	wg.Wait()
	// Bob's view of the channel may lag the Acks alice took (failed once
	// under load: one proof's records only).
	waitFor(t, "bob holds alice's newest proof", func() bool { return bob.channel(id).ReceivedNonce == alice.channel(id).SentNonce })
	// What bob would return for each proof, as onRecoverRequest builds it.
	size := map[uint64]int{}
	for _, p := range bob.n.paymentsAfter(id, storev1.Direction_DIRECTION_INCOMING, 0, bob.channel(id).ReceivedNonce, 0) {
		size[p.GetNonce()] += proto.Size(&peerv1.RecoveredPayment{Nonce: p.GetNonce(), Cumulative: p.GetCumulative(), Part: &peerv1.PaymentPart{
			PaymentId: p.GetRemoteId(), Amount: p.GetAmount(), ItemId: p.GetItemId(), Memo: p.GetMemo(), IdempotencyKey: p.GetRemoteKey(),
		}}) + 8
	}
	if len(size) < 2 {
		t.Fatalf("%d payments with %d-byte memos went out in %d proof: more records than one message holds", n, MaxMemoLen, len(size))
	}
	for nonce, b := range size {
		if b > bytesPerMessage {
			t.Fatalf("proof %d's records take %d bytes, more than a message's %d", nonce, b, bytesPerMessage)
		}
	}
}
