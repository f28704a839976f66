package node

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
)

// TestReview3LateAnswerEndsPaging: an honest, paging peer is slow: Alice's
// first RecoverRequest times out, she asks again after the pause, and the
// peer answers both requests (the same newest page: proof 3's records,
// all one message carries). Alice takes the first answer, restores proof
// 3 and asks for the page up to 2; then the second answer arrives, the
// peer's honest reply to her repeated first request. She takes it as "the
// peer does not page", clears the marker and pays on without proof 2's
// record: a retry of a1 (paid in proof 2) pays 7 again.
func TestReview3LateAnswerEndsPaging(t *testing.T) {
	alice, id, held, page3, page2 := pagedLoss(t)
	r, req := reestablishAsBob(t, alice, held, id)
	if req.GetAfterNonce() != 1 || req.GetUpToNonce() != 3 {
		t.Fatalf("first request: %v", req)
	}
	// No answer within RequestTimeout: she asks again after the pause.
	again := r.nextAny(15 * time.Second).GetRecoverRequest()
	if again.GetAfterNonce() != 1 || again.GetUpToNonce() != 3 {
		t.Fatalf("second request: %v", again)
	}
	// The answers to both requests, one after the other.
	r.send(&peerv1.Message{Body: &peerv1.Message_Recovered{Recovered: page3}})
	if next := r.next().GetRecoverRequest(); next.GetUpToNonce() != 2 {
		t.Fatalf("the next page's request: %v", next)
	}
	r.send(&peerv1.Message{Body: &peerv1.Message_Recovered{Recovered: page3}})
	// The late answer (for proofs up to 3) is not the page asked for (up
	// to 2): it changes nothing, and the page is still awaited.
	time.Sleep(300 * time.Millisecond)
	if ch, err := alice.st.Channel(id); err != nil || ch.GetMissing().GetUpToNonce() != 2 || !strings.Contains(alice.channel(id).Behind, "recover") {
		t.Fatalf("after the late answer: marker %v (%v), behind %q", ch.GetMissing(), err, alice.channel(id).Behind)
	}
	r.send(&peerv1.Message{Body: &peerv1.Message_Recovered{Recovered: page2}})
	waitFor(t, "the recovery ends", func() bool { return !strings.Contains(alice.channel(id).Behind, "recover") })
	if e, err := alice.st.PaymentByIdempotencyKey("a1"); err != nil || e.GetPayment().GetNonce() != 2 {
		t.Fatalf("a1 after the last page: %v, %v", e, err)
	}
}

// TestReview3BackupDuringPagingThenNewerProof: Alice is backed up while
// she pages (proof 3's record restored, the page up to 2 asked for: the
// marker says after 1, up to 2). She finishes the recovery and pays a3
// in proof 4, then is restored from that backup. Bob holds proof 4: she
// adopts it, and reestablish keeps the marker's after (1) but drops its
// up_to, so she asks for every record after proof 1, proof 3's included,
// which her store holds. Bob's honest answer (the records of proofs 2, 3
// and 4, all of which fit) is refused as "known here already", again on
// every retry: the channel is stuck until it is force-closed.
func TestReview3BackupDuringPagingThenNewerProof(t *testing.T) {
	alice, id, held, page3, page2 := pagedLoss(t)
	r, _ := reestablishAsBob(t, alice, held, id)
	answerNewestPage(t, alice, r, id, page3)
	snap := alice.snapshot() // a backup while paging
	r.send(&peerv1.Message{Body: &peerv1.Message_Recovered{Recovered: page2}})
	waitFor(t, "alice pays again", func() bool { return alice.channel(id).Behind == "" })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	go alice.n.Pay(ctx, PayRequest{Channel: id, Amount: *u256(4), Key: "a3"})
	var proof4 *peerv1.BalanceProof
	for proof4 == nil {
		if p := r.nextAny(5 * time.Second).GetProof(); p != nil && p.GetNonce() == 4 {
			proof4 = p
		}
	}
	a3 := proof4.GetParts()[0]
	heldBack := &peerv1.BalanceProof{ChannelId: proof4.GetChannelId(), Nonce: 4, Transferred: proof4.GetTransferred(), Signature: proof4.GetSignature()}
	r.conn.Close(nil)

	var caught atomic.Bool
	alice.restoreFrom(snap, &caught)
	alice.net.mu.Lock()
	bobKey := alice.net.nodes["bob"].key.Address()
	alice.net.mu.Unlock()
	r = dialRaw(t, bobKey, alice)
	r.send(&peerv1.Message{Body: &peerv1.Message_Reestablish{Reestablish: &peerv1.Reestablish{ChannelId: id[:], Held: heldBack}}})
	// Bob's honest answer to every request: all of proofs 2 to 4 fit.
	honest := &peerv1.Recovered{ChannelId: id[:]}
	honest.Payments = append(honest.Payments, page2.GetPayments()...)
	honest.Payments = append(honest.Payments, page3.GetPayments()...)
	honest.Payments = append(honest.Payments, &peerv1.RecoveredPayment{Nonce: 4, Cumulative: amountBytes(u256(19)), Part: &peerv1.PaymentPart{
		PaymentId: a3.GetPaymentId(), Amount: a3.GetAmount(), IdempotencyKey: a3.GetIdempotencyKey()}})
	for round := 0; round < 3; round++ {
		var req *peerv1.RecoverRequest
		for req == nil {
			req = r.nextAny(10 * time.Second).GetRecoverRequest()
		}
		t.Logf("request %d: after %d, up to %d", round, req.GetAfterNonce(), req.GetUpToNonce())
		ans := &peerv1.Recovered{ChannelId: id[:]}
		for _, p := range honest.Payments {
			if p.GetNonce() > req.GetAfterNonce() && (req.GetUpToNonce() == 0 || p.GetNonce() <= req.GetUpToNonce()) {
				ans.Payments = append(ans.Payments, p)
			}
		}
		r.send(&peerv1.Message{Body: &peerv1.Message_Recovered{Recovered: ans}})
		time.Sleep(300 * time.Millisecond)
		if _, err := alice.st.PaymentByIdempotencyKey("a3"); err == nil && !strings.Contains(alice.channel(id).Behind, "recover") {
			return // recovered
		}
		t.Logf("behind: %q", alice.channel(id).Behind)
	}
	t.Fatalf("stuck: three honest answers refused; behind: %q", alice.channel(id).Behind)
}

// TestReview3ReconnectWhilePageWrites: Alice restores proof 3's page; her
// disk is slow. The connection drops and Bob reconnects before the write
// is done: reestablish asks again with the recovery in memory (after 1, up
// to everything). The write then lands (marker: up to 2), but its
// callback sees another recovery and leaves it be: she now asks for
// records she holds, and Bob's honest answers are refused as known.
func TestReview3ReconnectWhilePageWrites(t *testing.T) {
	alice, id, page3, page2, gate, r, req := pageWriteHeld(t)
	t.Logf("request on the new session: after %d, up to %d", req.GetAfterNonce(), req.GetUpToNonce())
	gate.release()
	time.Sleep(300 * time.Millisecond)
	both := &peerv1.Recovered{ChannelId: id[:], Payments: append(append([]*peerv1.RecoveredPayment{}, page2.GetPayments()...), page3.GetPayments()...)}
	for round := 0; round < 3; round++ {
		ans := both
		if req.GetUpToNonce() == 2 {
			ans = page2
		}
		r.send(&peerv1.Message{Body: &peerv1.Message_Recovered{Recovered: ans}})
		time.Sleep(300 * time.Millisecond)
		if _, err := alice.st.PaymentByIdempotencyKey("a1"); err == nil && !strings.Contains(alice.channel(id).Behind, "recover") {
			return
		}
		t.Logf("behind: %q", alice.channel(id).Behind)
		req = nil
		for req == nil {
			req = r.nextAny(10 * time.Second).GetRecoverRequest()
		}
		t.Logf("request %d: after %d, up to %d", round, req.GetAfterNonce(), req.GetUpToNonce())
	}
	t.Fatalf("stuck: honest answers refused; behind: %q", alice.channel(id).Behind)
}
