package node

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
	"github.com/tinypay/tinypay/store"
	"google.golang.org/protobuf/proto"
)

// lossyStore fails every write once armed, as a disk that died would: the
// node has sent a proof (together with its write) that never lands here.
type lossyStore struct {
	Store
	armed atomic.Bool
}

func (l *lossyStore) CommitAsync(b *store.Batch, done func(store.Result, error)) error {
	if l.armed.Load() {
		// The failure comes after the proof went out with the write (the
		// tests need the peer to hold it): failing at once, the node could
		// stop before its session sent the proof (flaky under load).
		time.AfterFunc(100*time.Millisecond, func() { done(store.Result{}, errors.New("test: the disk is gone")) })
		return nil
	}
	return l.Store.CommitAsync(b, done)
}

// TestCrashAfterSendRetryPaysOnce: Alice's proof reaches Bob but her own
// write of it fails; she restarts without it. On reconnect she adopts her
// proof from Bob and gets back the payment records it covers, idempotency
// keys included, before anything else flows: the client's retry with the
// same key returns the payment instead of paying again.
func TestCrashAfterSendRetryPaysOnce(t *testing.T) {
	w := newNet(t)
	var lossy *lossyStore
	alice := w.add("alice", 1, withStore(func(s Store) Store {
		lossy = &lossyStore{Store: s}
		return lossy
	}))
	bob := w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 1000)
	alice.pay(id, 5, "before")

	lossy.armed.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 5e9)
	defer cancel()
	_, err := alice.n.Pay(ctx, PayRequest{Channel: id, Amount: *u256(7), Key: "lost", ItemID: "song"})
	if err == nil {
		t.Fatal("payment succeeded on a failed disk")
	}
	waitFor(t, "bob holds the lost payment", func() bool { return u64(bob.channel(id).Received) == 12 })
	// Checked on disk before the restart: after it, alice may recover the
	// 7 from bob before the test looks (she redials at once).
	rec, err := alice.st.Proof(id, uint32(mustChannelOf(t, alice, id).self))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := parseAmount("transferred", rec.GetTransferred()); got.Uint64() != 5 {
		t.Fatalf("alice's disk holds %d sent, want 5 (the 7 was lost)", got.Uint64())
	}

	alice.wrap = nil
	alice.restart()
	// The retry waits for reestablish and recovery, then answers; one that
	// comes while the recovery is under way (alice redials at once when she
	// starts) is told she is behind, to retry with the same key.
	var again PaymentInfo
	for {
		again, err = alice.n.Pay(ctx, PayRequest{Channel: id, Amount: *u256(7), Key: "lost", ItemID: "song"})
		if !errors.Is(err, ErrBehind) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	if !again.Complete || again.Nonce != 2 {
		t.Fatalf("retry: %+v", again)
	}
	if got := u64(bob.channel(id).Received); got != 12 {
		t.Fatalf("bob received %d after the retry, want 12: the retry paid again", got)
	}
	if got := u64(alice.channel(id).Sent); got != 12 {
		t.Fatalf("alice's sent is %d after recovery, want 12", got)
	}
	// The restored record is in alice's log, with its key and item.
	e, err := alice.st.PaymentByIdempotencyKey("lost")
	if err != nil {
		t.Fatal(err)
	}
	if p := e.GetPayment(); p.GetItemId() != "song" || p.GetNonce() != 2 {
		t.Fatalf("restored record %v", p)
	}
	// A mismatched retry of that key is refused; a new payment flows.
	if _, err := alice.n.Pay(context.Background(), PayRequest{Channel: id, Amount: *u256(8), Key: "lost"}); !errors.Is(err, ErrIdempotency) {
		t.Fatalf("reused key with another amount: %v", err)
	}
	alice.pay(id, 1, "after")
	waitFor(t, "bob holds 13", func() bool { return u64(bob.channel(id).Received) == 13 })
}

// TestRecoveredPaymentKeepsItsReceipt: the payment Alice lost in a crash
// asked for a receipt, and Bob gave it with the Ack she never read. The
// records she recovers from Bob carried no receipt, so hers was lost for
// good. Now Bob sends it with the record: the retry of the key answers
// with it, it is on Alice's disk, and nothing stays awaited there.
func TestRecoveredPaymentKeepsItsReceipt(t *testing.T) {
	w := newNet(t)
	var lossy *lossyStore
	alice := w.add("alice", 1, withStore(func(s Store) Store {
		lossy = &lossyStore{Store: s}
		return lossy
	}))
	bob := w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 1000)
	alice.pay(id, 5, "before")

	lossy.armed.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 5e9)
	defer cancel()
	req := PayRequest{Channel: id, Amount: *u256(7), Key: "lost", ItemID: "song", Receipt: true}
	if _, err := alice.n.Pay(ctx, req); err == nil {
		t.Fatal("payment succeeded on a failed disk")
	}
	waitFor(t, "bob holds the lost payment", func() bool { return u64(bob.channel(id).Received) == 12 })
	alice.wrap = nil
	alice.restart()

	var again PaymentInfo
	var err error
	for {
		again, err = alice.n.Pay(ctx, req)
		if !errors.Is(err, ErrBehind) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil || !again.Complete || again.Nonce != 2 {
		t.Fatalf("retry: %+v, %v", again, err)
	}
	// Bob's receipt, as he keeps it for the payment.
	in, err := bob.st.LogBefore(bob.st.LastSeq()+1, 100)
	if err != nil {
		t.Fatal(err)
	}
	var bobs *storev1.Receipt
	for _, e := range in {
		if p := e.GetPayment(); p.GetRemoteKey() == "lost" {
			if bobs, err = bob.n.incomingReceipt(p); err != nil {
				t.Fatalf("bob's receipt of the lost payment: %v", err)
			}
		}
	}
	if bobs == nil {
		t.Fatal("bob has no record of the lost payment")
	}
	if again.Receipt == nil || again.Receipt.Sig != crypto.Signature(bobs.GetSignature()) || again.Receipt.Time != bobs.GetTime() {
		t.Fatalf("the retry's receipt is %+v, want bob's (time %d)", again.Receipt, bobs.GetTime())
	}
	alice.restart()
	if got, _, err := alice.n.PaymentByKey(context.Background(), "lost"); err != nil || got.Receipt == nil || got.Receipt.Sig != again.Receipt.Sig {
		t.Fatalf("after a restart the payment shows receipt %+v, %v", got.Receipt, err)
	}
	if n, _ := awaitedOf(t, alice, id); n != 0 {
		t.Fatalf("%d payments still await a receipt", n)
	}
	if err := alice.st.Verify(); err != nil {
		t.Fatalf("store: %v", err)
	}
}

// TestRecoveredReceiptsAreChecked: the receipts a peer returns with
// recovered payments are checked as those that come with an Ack. A valid
// one (here over an offer) is kept; one with a wrong signature is dropped
// and the payment restored without it; a receipt for a payment that did
// not ask for one, or for another payment, and an offer id that is not
// one, make the whole recovery data bad: nothing is restored.
func TestRecoveredReceiptsAreChecked(t *testing.T) {
	offer := crypto.Hash{0x0f, 0xfe}
	cases := []struct {
		name    string
		want    bool // part.want_receipt
		offerID []byte
		forge   bool   // sign with alice's key instead of bob's
		other   []byte // the receipt names this payment id instead
		kept    bool   // the receipt is on alice's disk after
		bad     bool   // the recovery data is refused
	}{
		{name: "valid", want: true, offerID: offer[:], kept: true},
		{name: "forged", want: true, offerID: offer[:], forge: true},
		{name: "not asked for", want: false, bad: true},
		{name: "another payment's", want: true, other: rid(0x78), bad: true},
		{name: "short offer id", want: true, offerID: offer[:5], bad: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			alice, bob, id, dom, r := lostPayment(t)
			payID := [32]byte(rid(0x77))
			var o crypto.Hash
			copy(o[:], tc.offerID)
			f := crypto.ReceiptFields{Channel: id, Payment: payID, Payer: alice.key.Address(), Payee: bob.key.Address(),
				Asset: alice.channel(id).Asset.Address, Amount: *u256(7), Cumulative: *u256(12), Offer: o, Time: 99}
			signer := bob.key
			if tc.forge {
				signer = alice.key
			}
			sig, err := signer.Sign(dom.ReceiptDigest(&f))
			if err != nil {
				t.Fatal(err)
			}
			named := payID[:]
			if tc.other != nil {
				named = tc.other
			}
			r.send(&peerv1.Message{Body: &peerv1.Message_Recovered{Recovered: &peerv1.Recovered{ChannelId: id[:], Payments: []*peerv1.RecoveredPayment{{
				Nonce: 2, Cumulative: amountBytes(u256(12)), OfferId: tc.offerID,
				Part:    &peerv1.PaymentPart{PaymentId: payID[:], Amount: amountBytes(u256(7)), IdempotencyKey: "lost", WantReceipt: tc.want},
				Receipt: &peerv1.Receipt{PaymentId: named, Time: 99, Signature: sig[:]},
			}}}}})
			if tc.bad {
				refusedRecovery(t, alice, id, r)
				return
			}
			waitFor(t, "alice caught up", func() bool { return alice.channel(id).Behind == "" })
			if p := alice.n.failed.Load(); p != nil {
				t.Fatalf("alice's node failed: %v", *p)
			}
			e, err := alice.st.PaymentByIdempotencyKey("lost")
			if tc.bad {
			}
			if err != nil || !e.GetPayment().GetWantReceipt() || !bytes.Equal(e.GetPayment().GetOfferId(), tc.offerID) {
				t.Fatalf("the restored record: %v, %v", e, err)
			}
			rc, err := alice.st.Receipt(payID)
			switch {
			case tc.kept && (err != nil || !bytes.Equal(rc.GetSignature(), sig[:]) || rc.GetTime() != 99):
				t.Fatalf("the valid receipt: %v, %v", rc, err)
			case !tc.kept && !errors.Is(err, store.ErrNotFound):
				t.Fatalf("the forged receipt was kept: %v, %v", rc, err)
			}
			if err := alice.st.Verify(); err != nil {
				t.Fatalf("store: %v", err)
			}
			alice.restart()
			if n, _ := awaitedOf(t, alice, id); n != 0 {
				t.Fatalf("%d payments still await a receipt", n)
			}
		})
	}
}

// TestRecoveryAskedAgainAfterRestart: Alice took her lost proof back from
// Bob and asked for its payments, then restarted before he answered. That
// the records are missing was only in memory: after the restart her sent
// proof was no newer than Bob's copy, she never asked again, the channel
// paid, and a retry of the lost key would sign a second payment (found by
// a hostile review). Now it is on disk with the proof: she asks on every
// reconnect until the records are restored, and then no more.
func TestRecoveryAskedAgainAfterRestart(t *testing.T) {
	alice, bob, id, _, _ := lostPayment(t)
	held := mustChannelOf(t, alice, id).state().Sent
	if held.Nonce != 2 {
		t.Fatalf("alice holds own proof %d, want the adopted 2", held.Nonce)
	}
	reestablish := func() *rawPeer {
		r := dialRaw(t, bob.key.Address(), alice)
		r.send(&peerv1.Message{Body: &peerv1.Message_Reestablish{Reestablish: &peerv1.Reestablish{ChannelId: id[:], Held: proofMessage(held, nil)}}})
		return r
	}
	alice.restart()
	if got := alice.channel(id).Behind; got == "" {
		t.Fatal("alice's channel pays after the restart, its records still missing")
	}
	r := reestablish()
	req := r.next().GetRecoverRequest()
	if req == nil || req.GetAfterNonce() != 1 {
		t.Fatalf("after the restart alice asked %v, want the payments after proof 1", req)
	}
	if _, err := alice.n.Pay(context.Background(), PayRequest{Channel: id, Amount: *u256(7), Key: "lost"}); !errors.Is(err, ErrBehind) {
		t.Fatalf("a retry of the lost key before the records are back: %v, want ErrBehind", err)
	}
	r.send(&peerv1.Message{Body: &peerv1.Message_Recovered{Recovered: &peerv1.Recovered{ChannelId: id[:], Payments: []*peerv1.RecoveredPayment{{
		Nonce: 2, Cumulative: amountBytes(u256(12)),
		Part: &peerv1.PaymentPart{PaymentId: rid(0x77), Amount: amountBytes(u256(7)), IdempotencyKey: "lost"},
	}}}}})
	waitFor(t, "alice caught up", func() bool { return alice.channel(id).Behind == "" })
	if e, err := alice.st.PaymentByIdempotencyKey("lost"); err != nil || e.GetPayment().GetNonce() != 2 {
		t.Fatalf("the restored record: %v, %v", e, err)
	}
	// Restored: the next start asks for nothing, and the channel pays.
	alice.restart()
	if got := alice.channel(id).Behind; got != "" {
		t.Fatalf("after the records were restored a restart leaves the channel behind: %s", got)
	}
	r = reestablish()
	if m := r.nextAny(time.Second); m.GetRecoverRequest() != nil {
		t.Fatalf("alice asked again for records she holds: %v", m)
	}
	if again, _, err := alice.n.PaymentByKey(context.Background(), "lost"); err != nil || again.Nonce != 2 {
		t.Fatalf("the lost key after the restart: %+v, %v", again, err)
	}
}

// TestRecoveredProofWithReceiptsFits: a proof of maxParts payments that
// all asked for receipts must still be returned whole: the receipts (about
// 140 bytes each) made its Recovered too big, and a proof that does not
// fit is not sent at all, so nothing was restored (found by a hostile
// review). The receipts go; the records fit.
func TestRecoveredProofWithReceiptsFits(t *testing.T) {
	var rps []*peerv1.RecoveredPayment
	for i := range maxParts {
		rps = append(rps, &peerv1.RecoveredPayment{Nonce: 9, Cumulative: amountBytes(u256(uint64(1_000_000 + i))),
			Part:    &peerv1.PaymentPart{PaymentId: ridN(i), Amount: amountBytes(u256(1)), IdempotencyKey: "order-" + strings.Repeat("x", 20), WantReceipt: true},
			Receipt: &peerv1.Receipt{PaymentId: ridN(i), Time: 1_700_000_000, Signature: bytes.Repeat([]byte{7}, 65)}})
	}
	got := newestWithin(rps, bytesPerMessage)
	if len(got) != maxParts {
		t.Fatalf("%d of the proof's %d payments fit", len(got), maxParts)
	}
	if n := proto.Size(&peerv1.Recovered{ChannelId: rid(1), Payments: got}); n > bytesPerMessage {
		t.Fatalf("the answer is %d bytes, more than a message's %d", n, bytesPerMessage)
	}
	// A proof that fits with its receipts keeps them.
	small := []*peerv1.RecoveredPayment{{Nonce: 3, Part: &peerv1.PaymentPart{PaymentId: rid(1), WantReceipt: true},
		Receipt: &peerv1.Receipt{PaymentId: rid(1), Signature: bytes.Repeat([]byte{7}, 65)}}}
	if got := newestWithin(small, bytesPerMessage); len(got) != 1 || got[0].GetReceipt() == nil {
		t.Fatalf("a small proof lost its receipt: %v", got)
	}
}

// TestRecoveredCumulativesMustChain: recovered payments that add up to
// what the lost proof covers, but whose cumulatives do not follow from
// each other (two at 8), were restored as they came, and a receipt signed
// over the wrong cumulative would be kept with them (found by a hostile
// review). The data is refused: nothing is restored.
func TestRecoveredCumulativesMustChain(t *testing.T) {
	for _, tc := range []struct {
		name string
		pays []*peerv1.RecoveredPayment
	}{
		{"repeated cumulative", []*peerv1.RecoveredPayment{
			{Nonce: 2, Cumulative: amountBytes(u256(8)), Part: &peerv1.PaymentPart{PaymentId: rid(0x71), Amount: amountBytes(u256(3)), IdempotencyKey: "lost"}},
			{Nonce: 2, Cumulative: amountBytes(u256(8)), Part: &peerv1.PaymentPart{PaymentId: rid(0x72), Amount: amountBytes(u256(4)), IdempotencyKey: "lost2"}},
		}},
		{"starts below proof 1", []*peerv1.RecoveredPayment{
			{Nonce: 2, Cumulative: amountBytes(u256(11)), Part: &peerv1.PaymentPart{PaymentId: rid(0x71), Amount: amountBytes(u256(7)), IdempotencyKey: "lost"}},
			{Nonce: 2, Cumulative: amountBytes(u256(12)), Part: &peerv1.PaymentPart{PaymentId: rid(0x72), Amount: amountBytes(u256(1)), IdempotencyKey: "lost2"}},
		}},
		{"empty (the peer's read of its log failed)", nil},
		{"cumulative below amount", []*peerv1.RecoveredPayment{
			{Nonce: 2, Cumulative: amountBytes(u256(3)), Part: &peerv1.PaymentPart{PaymentId: rid(0x71), Amount: amountBytes(u256(4)), IdempotencyKey: "lost"}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alice, _, id, _, r := lostPayment(t)
			r.send(&peerv1.Message{Body: &peerv1.Message_Recovered{Recovered: &peerv1.Recovered{ChannelId: id[:], Payments: tc.pays}}})
			refusedRecovery(t, alice, id, r)
		})
	}
}

// refusedRecovery: Alice refused the recovery data r's peer sent. Nothing
// is restored, and the records are still missing: the channel stays
// behind (a retry of a lost key would pay twice), the marker stays on
// disk, and she asks again. She gave up before, and paid on.
func refusedRecovery(t *testing.T, alice *testNode, id channel.ID, r *rawPeer) {
	t.Helper()
	waitFor(t, "alice refuses the data", func() bool { return strings.Contains(alice.channel(id).Behind, "bad data") })
	if p := alice.n.failed.Load(); p != nil {
		t.Fatalf("alice's node failed: %v", *p)
	}
	if e, err := alice.st.PaymentByIdempotencyKey("lost"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("bad recovery data restored: %v, %v", e, err)
	}
	// The marker went to disk with the adopted proof; the request went out
	// with that write, so the data may have come before it was durable.
	waitFor(t, "the marker of the missing records is on disk", func() bool {
		rec, err := alice.st.Channel(id)
		return err == nil && rec.GetMissing() != nil
	})
	if _, err := alice.tryPay(id, 7, "lost"); !errors.Is(err, ErrBehind) {
		t.Fatalf("a retry of the lost key after bad data: %v, want ErrBehind", err)
	}
	if req := r.next().GetRecoverRequest(); req == nil || req.GetAfterNonce() != 1 {
		t.Fatalf("after bad data alice sent %v, want the request again", req)
	}
}

// TestRecoveredIsBoundedLikeItsAnswer: a peer's answer holds at most
// maxRecovered payments; the payer took up to 4096 times MaxInFlight
// (found by a hostile review), each checked, held and written.
func TestRecoveredIsBoundedLikeItsAnswer(t *testing.T) {
	alice, _, id, _, _ := lostPayment(t)
	c := mustChannelOf(t, alice, id)
	const n = 6000
	var pays []*peerv1.RecoveredPayment
	for i := range n {
		pays = append(pays, &peerv1.RecoveredPayment{Nonce: 2, Cumulative: amountBytes(u256(uint64(5 + i + 1))),
			Part: &peerv1.PaymentPart{PaymentId: ridN(i), Amount: amountBytes(u256(1))}})
	}
	_, err := c.checkRecovered(&peerv1.Recovered{ChannelId: id[:], Payments: pays}, channel.Proof{Nonce: 2, Transferred: *u256(5 + n)}, 1, u256(5))
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("%d recovered payments: %v, want ErrMalformed", n, err)
	}
	// As many as an answer holds are taken.
	_, err = c.checkRecovered(&peerv1.Recovered{ChannelId: id[:], Payments: pays[:maxRecovered]}, channel.Proof{Nonce: 2, Transferred: *u256(5 + maxRecovered)}, 1, u256(5))
	if err != nil {
		t.Fatalf("%d recovered payments: %v", maxRecovered, err)
	}
}

// ridN is a payment id made of n.
func ridN(n int) []byte {
	x := make([]byte, 32)
	binary.BigEndian.PutUint64(x[24:], uint64(n)+1)
	return x
}

// TestRecoveryUnansweredKeepsTheRecordsMissing: Bob does not answer
// Alice's request for the records of her lost proof (slow, or hostile).
// She gave up after RequestTimeout, cleared the marker and paid on, so a
// retry of the lost key paid twice (found by a hostile review). Now the
// channel stays behind, the marker stays, and she asks again.
func TestRecoveryUnansweredKeepsTheRecordsMissing(t *testing.T) {
	alice, _, id, _, r := lostPayment(t)
	waitFor(t, "alice's request times out", func() bool { return strings.Contains(alice.channel(id).Behind, "did not answer") })
	if rec, err := alice.st.Channel(id); err != nil || rec.GetMissing() == nil {
		t.Fatalf("the marker of the missing records after the timeout: %v, %v; want it kept", rec.GetMissing(), err)
	}
	if _, err := alice.tryPay(id, 7, "lost"); !errors.Is(err, ErrBehind) {
		t.Fatalf("a retry of the lost key after the timeout: %v, want ErrBehind", err)
	}
	if req := r.next().GetRecoverRequest(); req == nil || req.GetAfterNonce() != 1 {
		t.Fatalf("after the timeout alice sent %v, want the request again", req)
	}
	r.send(&peerv1.Message{Body: &peerv1.Message_Recovered{Recovered: &peerv1.Recovered{ChannelId: id[:], Payments: []*peerv1.RecoveredPayment{{
		Nonce: 2, Cumulative: amountBytes(u256(12)),
		Part: &peerv1.PaymentPart{PaymentId: rid(0x77), Amount: amountBytes(u256(7)), IdempotencyKey: "lost"},
	}}}}})
	waitFor(t, "alice caught up", func() bool { return alice.channel(id).Behind == "" })
	if p, err := alice.tryPay(id, 7, "lost"); err != nil || p.Nonce != 2 {
		t.Fatalf("the lost key once restored: %+v, %v; want the payment of proof 2", p, err)
	}
}
