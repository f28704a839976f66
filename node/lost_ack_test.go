package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
	"github.com/tinypay/tinypay/store"
)

// ackFate says what becomes of the Acks Bob sends (see loseAcks).
type ackFate struct {
	cutNext atomic.Bool // the next one is lost with its connection (Alice redials)
	never   atomic.Bool // every later one is lost (on a connection that stays), as from a payee that never sends an Ack again
	all     atomic.Bool // every one is lost while set
	// edit, if set, changes each Ack delivered (a peer that lies in it).
	edit atomic.Pointer[func(*peerv1.Ack)]
}

// arm: the next Ack is cut; with forever, every later one is lost too.
func (f *ackFate) arm(forever bool) { f.never.Store(forever); f.cutNext.Store(true) }

// loseAcks starts Alice and Bob (whose application refuses the item
// "late", and refunds it) with a channel from Alice; what becomes of
// Bob's Acks is set on the returned ackFate.
func loseAcks(t *testing.T, opts ...func(*testNode)) (alice, bob *testNode, id [32]byte, fate *ackFate) {
	t.Helper()
	w := newNet(t)
	fate = &ackFate{}
	var bobAddr atomic.Pointer[crypto.Address]
	w.fate = func(from crypto.Address, m *peerv1.Message) wireFate {
		if a := bobAddr.Load(); a == nil || from != *a || m.GetAck() == nil {
			return delivered
		}
		switch {
		case fate.cutNext.CompareAndSwap(true, false):
			return cut
		case fate.never.Load(), fate.all.Load():
			return lost
		}
		if edit := fate.edit.Load(); edit != nil {
			(*edit)(m.GetAck())
		}
		return delivered
	}
	alice, bob = w.add("alice", 1, opts...), w.add("bob", 2, opts...)
	bob.n.hooks = refuseItems{} // before any session reads it
	addr := bob.key.Address()
	bobAddr.Store(&addr)
	alice.connect(bob)
	id = alice.open(bob, 1000)
	return alice, bob, id, fate
}

func payItem(t *testing.T, n *testNode, id [32]byte, amount uint64, key, item string) (PaymentInfo, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return n.n.Pay(ctx, PayRequest{Channel: id, Amount: *u256(amount), Key: key, ItemID: item, Receipt: true})
}

// payResult is what a Pay made in the background returned.
type payResult struct {
	p   PaymentInfo
	err error
}

// payAsync pays as payItem does, in the background.
func payAsync(t *testing.T, n *testNode, id [32]byte, amount uint64, key, item string) <-chan payResult {
	done := make(chan payResult, 1)
	go func() {
		p, err := payItem(t, n, id, amount, key, item)
		done <- payResult{p, err}
	}()
	return done
}

// TestLostAckOutcomesComeAgain: Bob's Ack of Alice's proof, which carries
// his refusal of a payment (refunded) or his receipt for it, is lost with
// the connection. Alice reconnects and Bob's Reestablish says he holds the
// proof, which alone would report the payment paid: Bob sends the Ack
// again, from his disk, and Alice reports what happened: the refused
// payment refused (its money back), the paid one paid with its receipt.
func TestLostAckOutcomesComeAgain(t *testing.T) {
	alice, _, id, fate := loseAcks(t)

	fate.arm(false)
	_, err := payItem(t, alice, id, 7, "late-1", "late")
	var r *RefusedError
	if !errors.As(err, &r) || !errors.Is(err, ErrRefunded) || !strings.Contains(r.Reason, "offer expired") || r.Code != codeInvalidArgument {
		t.Fatalf("a refused payment whose Ack was lost: %v, want refused (offer expired, code %d) and refunded", err, codeInvalidArgument)
	}
	waitFor(t, "alice holds bob's refund", func() bool { return u64(alice.channel(id).Received) == 7 })

	fate.arm(false)
	p, err := payItem(t, alice, id, 5, "ok-1", "ok")
	if err != nil {
		t.Fatalf("a paid payment whose Ack was lost: %v", err)
	}
	if p.Receipt == nil {
		t.Fatal("a paid payment whose Ack was lost: no receipt, one was asked for")
	}
	got, _, err := alice.n.PaymentByKey(context.Background(), "ok-1")
	if err != nil || got.Receipt == nil || got.Receipt.Sig != p.Receipt.Sig {
		t.Fatalf("the stored payment %+v (%v): want it with its receipt", got, err)
	}

	// And the channel goes on: a payment whose Ack comes.
	if _, err := payItem(t, alice, id, 1, "ok-2", "ok"); err != nil {
		t.Fatal(err)
	}
	if a := alice.channel(id); u64(a.Sent) != 13 || u64(a.Received) != 7 {
		t.Fatalf("alice sent %d and received %d: want 13 (7 refused) and 7 (its refund)", u64(a.Sent), u64(a.Received))
	}
}

// TestLostAckComesAgainAfterPayeeRestart: Bob writes Alice's proof and
// restarts before his Ack reaches her (every Ack of his is lost until
// then), so nothing of it is in his memory: the Ack he sends again, with
// the receipt, comes from his disk.
func TestLostAckComesAgainAfterPayeeRestart(t *testing.T) {
	alice, bob, id, fate := loseAcks(t)
	fate.all.Store(true)
	done := payAsync(t, alice, id, 5, "ok-1", "ok")
	waitFor(t, "bob holds alice's proof", func() bool { return bob.channel(id).ReceivedNonce == 1 })
	bob.restart()
	fate.all.Store(false)
	r := <-done
	if r.err != nil || r.p.Receipt == nil {
		t.Fatalf("a payment whose Ack was lost in bob's restart: %+v, %v; want paid, with its receipt", r.p, r.err)
	}
}

// TestPayeeNeverSendsLostAck: after the lost Ack, Bob never sends an Ack
// again (a peer of another make). Alice gives him RequestTimeout after the
// reconnect, then completes the payments his Reestablish acknowledged: the
// refunded one refused (with the refund's reason), the other paid (without
// its receipt).
func TestPayeeNeverSendsLostAck(t *testing.T) {
	alice, _, id, fate := loseAcks(t, withConfig(func(c *Config) { c.RequestTimeout = 300 * time.Millisecond }))

	fate.arm(true)
	_, err := payItem(t, alice, id, 7, "late-1", "late")
	var r *RefusedError
	if !errors.As(err, &r) || !errors.Is(err, ErrRefunded) || !strings.Contains(r.Reason, "offer expired") {
		t.Fatalf("a refunded payment whose Ack never came: %v, want refused (offer expired) and refunded", err)
	}
	fate.arm(true)
	p, err := payItem(t, alice, id, 5, "ok-1", "ok")
	if err != nil {
		t.Fatalf("a payment whose Ack never came: %v, want paid (bob holds the proof)", err)
	}
	if p.Receipt != nil {
		t.Fatalf("a payment whose Ack never came has a receipt: %+v", p.Receipt)
	}
}

// TestResentAckOncePerSession: a payer's Reestablish that says it lacks
// the outcomes of its newest proofs (acked_nonce behind what Bob holds)
// gets Bob's Ack of the newest again, with the refusal and the receipt his
// first Acks carried (from his memory; from his log after a restart, see
// TestLostAckComesAgainAfterPayeeRestart); said again on the same session,
// it gets nothing more.
func TestResentAckOncePerSession(t *testing.T) {
	w := newNet(t)
	bob := w.add("bob", 2)
	bob.n.hooks = refuseItems{} // before any session reads it
	alice, id, dom, r := rawPayer(t, w, bob)
	r.send(&peerv1.Message{Body: &peerv1.Message_Proof{Proof: signedProof(t, alice.key, dom, id, 2, 17,
		&peerv1.PaymentPart{PaymentId: rid(0x22), Amount: amountBytes(u256(7)), ItemId: "late"})}})
	r.send(&peerv1.Message{Body: &peerv1.Message_Proof{Proof: signedProof(t, alice.key, dom, id, 3, 22,
		&peerv1.PaymentPart{PaymentId: rid(0x33), Amount: amountBytes(u256(5)), ItemId: "ok", WantReceipt: true})}})
	var first *peerv1.Ack
	for first == nil || first.GetNonce() < 3 {
		if a := r.next().GetAck(); a != nil && a.GetNonce() == 3 {
			first = a
		}
	}
	if len(first.GetReceipts()) != 1 {
		t.Fatalf("bob's ack of proof 3: %v, want its receipt", first)
	}

	reest := &peerv1.Message{Body: &peerv1.Message_Reestablish{Reestablish: &peerv1.Reestablish{ChannelId: id[:], SentNonce: 3, AckedNonce: 1}}}
	r.send(reest)
	var again *peerv1.Ack
	for again == nil {
		again = r.next().GetAck()
	}
	if again.GetNonce() != 3 || len(again.GetRefused()) != 1 || len(again.GetReceipts()) != 1 {
		t.Fatalf("the Ack sent again: %v, want proof 3's with one refusal and one receipt", again)
	}
	ref, rc := again.GetRefused()[0], again.GetReceipts()[0]
	if string(ref.GetPaymentId()) != string(rid(0x22)) || ref.GetCode() != codeInvalidArgument || !strings.Contains(ref.GetReason(), "offer expired") {
		t.Fatalf("the refusal sent again: %v, want payment 22…'s, code %d, offer expired", ref, codeInvalidArgument)
	}
	if want := first.GetReceipts()[0]; string(rc.GetPaymentId()) != string(rid(0x33)) || rc.GetTime() != want.GetTime() || string(rc.GetSignature()) != string(want.GetSignature()) {
		t.Fatalf("the receipt sent again: %v, want the first one, %v", rc, want)
	}

	// The same again on this session: nothing more within a second.
	r.send(reest)
	msgs := make(chan *peerv1.Message, 16)
	go func() {
		for {
			m, err := r.conn.Recv()
			if err != nil {
				return
			}
			msgs <- m
		}
	}()
	for deadline := time.After(time.Second); ; {
		select {
		case m := <-msgs:
			if m.GetAck() != nil {
				t.Fatalf("a second Ack sent again on one session: %v", m)
			}
		case <-deadline:
			return
		}
	}
}

// TestRetryAfterLostAck: Alice's call gives up waiting (its Ack is lost);
// Bob refused and refunded the payment. After a reconnect, her retry of the
// key reports it refused, not paid.
func TestRetryAfterLostAck(t *testing.T) {
	alice, bob, id, fate := loseAcks(t)
	fate.all.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err := alice.n.Pay(ctx, PayRequest{Channel: id, Amount: *u256(7), Key: "late-1", ItemID: "late"})
	cancel()
	if !errors.Is(err, ErrPending) {
		t.Fatalf("a payment whose Ack is lost: %v, want ErrPending", err)
	}
	waitFor(t, "alice holds bob's refund", func() bool { return u64(alice.channel(id).Received) == 7 })
	fate.all.Store(false)
	s := alice.n.peers.session(bob.key.Address())
	if s == nil {
		t.Fatal("alice has no session with bob")
	}
	s.close(errors.New("test: connection cut"))
	_, err = payItem(t, alice, id, 7, "late-1", "late")
	if !errors.Is(err, ErrRefunded) {
		t.Fatalf("the retry after the reconnect: %v, want refused and refunded", err)
	}
}

// TestKeptAcksAreBounded: a channel keeps the receipts and refusals of its
// newest proofs for Acks sent again, keepAckItems of them at most; what
// it lets go moves recentFrom past it (an Ack of those is read from the
// log instead), and a proof with more than that is not kept at all.
func TestKeptAcksAreBounded(t *testing.T) {
	c := &chanActor{recentFrom: 1}
	items := func(n int) ackExtra {
		var ex ackExtra
		for range n {
			ex.receipts = append(ex.receipts, &peerv1.Receipt{})
		}
		return ex
	}
	for nonce := uint64(1); nonce <= 5; nonce++ {
		c.keepAck(nonce, items(3))
	}
	if len(c.recentAcks) != 2 || c.recentAcks[0].nonce != 4 || c.recentFrom != 4 {
		t.Fatalf("after 5 proofs of 3 receipts: kept %d proofs from %d, complete from %d; want proofs 4 and 5, from 4", len(c.recentAcks), c.recentAcks[0].nonce, c.recentFrom)
	}
	c.keepAck(6, items(keepAckItems+1))
	if len(c.recentAcks) != 0 || c.recentFrom != 7 {
		t.Fatalf("after a proof of %d receipts: kept %d proofs, complete from %d; want none, from 7", keepAckItems+1, len(c.recentAcks), c.recentFrom)
	}
}

// TestLostAcksOfManyChannelsAfterPayeeRestart: Acks lost on two channels
// in Bob's restart come again from his log (one pass for the channels
// asking at once), each with its receipt.
func TestLostAcksOfManyChannelsAfterPayeeRestart(t *testing.T) {
	alice, bob, id1, fate := loseAcks(t)
	id2 := alice.open(bob, 1000)
	fate.all.Store(true)
	var done []<-chan payResult
	for i, id := range [][32]byte{id1, id2} {
		done = append(done, payAsync(t, alice, id, uint64(5+i), fmt.Sprint("ok-", i), "ok"))
	}
	waitFor(t, "bob holds both proofs", func() bool {
		return bob.channel(id1).ReceivedNonce == 1 && bob.channel(id2).ReceivedNonce == 1
	})
	bob.restart()
	fate.all.Store(false)
	for _, d := range done {
		if r := <-d; r.err != nil || r.p.Receipt == nil {
			t.Fatalf("a payment whose Ack was lost in bob's restart: %+v, %v; want paid, with its receipt", r.p, r.err)
		}
	}
}

// TestReceiptComesAgainAfterPayerRestart: Bob holds Alice's proof, whose
// payment asked for a receipt, and his Ack with it is lost; Alice restarts
// before it comes. Her store still awaits the receipt, so her Reestablish
// asks Bob for that Ack again: her retry of the key reports the payment
// paid with its receipt (written to disk), and after the next restart
// nothing is awaited any more.
func TestReceiptComesAgainAfterPayerRestart(t *testing.T) {
	alice, bob, id, fate := loseAcks(t)
	fate.all.Store(true)
	done := payAsync(t, alice, id, 5, "ok-1", "ok")
	waitFor(t, "bob holds alice's proof", func() bool { return bob.channel(id).ReceivedNonce == 1 })
	alice.restart()
	if r := <-done; r.err == nil {
		t.Fatalf("the payment returned %+v while its Ack was lost, want an error (alice stopped)", r.p)
	}
	if n, taken := awaitedOf(t, alice, id); n != 1 || taken != 0 {
		t.Fatalf("after the restart alice awaits %d receipts and took the Acks up to %d; want 1, 0 (she asks for Ack 1 again)", n, taken)
	}
	fate.all.Store(false)
	alice.connect(bob)
	p, err := payItem(t, alice, id, 5, "ok-1", "ok")
	if err != nil || !p.Earlier || p.Receipt == nil {
		t.Fatalf("the retry after the restart: %+v, %v; want the earlier payment, paid, with its receipt", p, err)
	}
	got, _, err := alice.n.PaymentByKey(context.Background(), "ok-1")
	if err != nil || got.Receipt == nil || got.Receipt.Sig != p.Receipt.Sig {
		t.Fatalf("the stored payment %+v (%v): want it with its receipt", got, err)
	}
	if n, taken := awaitedOf(t, alice, id); n != 0 || taken != 1 {
		t.Fatalf("alice awaits %d receipts and took the Acks up to %d; want 0, 1", n, taken)
	}
	alice.restart()
	if n, taken := awaitedOf(t, alice, id); n != 0 || taken != 1 {
		t.Fatalf("after a second restart alice awaits %d receipts and took the Acks up to %d; want 0, 1 (the receipt is on disk)", n, taken)
	}
}

// awaitedOf returns how many receipts from before its start channel id of
// tn awaits, and the newest own proof whose Ack it took, once the
// channel's writes are durable.
func awaitedOf(t *testing.T, tn *testNode, id [32]byte) (n int, ackTaken uint64) {
	t.Helper()
	c := tn.n.chans.get(id)
	if c == nil {
		t.Fatalf("%s has no channel %x", tn.name, id[:4])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.stepAndWait(ctx, func() { n, ackTaken = len(c.awaited), c.ackTaken }); err != nil {
		t.Fatal(err)
	}
	return n, ackTaken
}

// TestResentReceiptsAreChecked: the Ack Bob sends again after Alice's
// restart carries, before the right receipt, one with a forged signature
// and one for a payment that is not Alice's: she keeps only the right
// one. Then a payee that never sends the Ack again: after RequestTimeout
// the payment is reported paid without its receipt, and not awaited any
// more.
func TestResentReceiptsAreChecked(t *testing.T) {
	alice, bob, id, fate := loseAcks(t, withConfig(func(c *Config) { c.RequestTimeout = 300 * time.Millisecond }))
	fate.all.Store(true)
	done := payAsync(t, alice, id, 5, "ok-1", "ok")
	waitFor(t, "bob holds alice's proof", func() bool { return bob.channel(id).ReceivedNonce == 1 })
	alice.restart()
	<-done
	foreign := crypto.Keccak256([]byte("not alice's payment"))
	var right atomic.Pointer[peerv1.Receipt]
	edit := func(a *peerv1.Ack) {
		if len(a.GetReceipts()) == 0 {
			return
		}
		r := a.GetReceipts()[0]
		right.Store(r)
		forged := &peerv1.Receipt{PaymentId: r.GetPaymentId(), Time: r.GetTime(), Signature: append([]byte(nil), r.GetSignature()...)}
		forged.Signature[5] ^= 1
		other := &peerv1.Receipt{PaymentId: foreign[:], Time: r.GetTime(), Signature: r.GetSignature()}
		a.Receipts = []*peerv1.Receipt{forged, other, r}
	}
	fate.edit.Store(&edit)
	fate.all.Store(false)
	alice.connect(bob)
	p, err := payItem(t, alice, id, 5, "ok-1", "ok")
	if err != nil || p.Receipt == nil || right.Load() == nil || !bytes.Equal(p.Receipt.Sig[:], right.Load().GetSignature()) {
		t.Fatalf("the retry: %+v, %v; want paid with bob's receipt %x", p, err, right.Load().GetSignature())
	}
	if _, err := alice.n.store.Receipt(foreign); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a receipt for a payment that is not alice's: %v, want not stored", err)
	}

	// A payee that never sends the Ack again.
	fate.edit.Store(nil)
	fate.all.Store(true)
	done = payAsync(t, alice, id, 5, "ok-2", "ok")
	waitFor(t, "bob holds alice's proof", func() bool { return bob.channel(id).ReceivedNonce == 2 })
	alice.restart()
	<-done
	if n, taken := awaitedOf(t, alice, id); n != 1 || taken != 1 {
		t.Fatalf("after the restart alice awaits %d receipts and took the Acks up to %d; want 1, 1", n, taken)
	}
	alice.connect(bob)
	p, err = payItem(t, alice, id, 5, "ok-2", "ok")
	if err != nil || !p.Complete || p.Receipt != nil {
		t.Fatalf("the retry when bob never sends the Ack again: %+v, %v; want paid, without a receipt", p, err)
	}
	if n, taken := awaitedOf(t, alice, id); n != 0 || taken != 2 {
		t.Fatalf("alice awaits %d receipts and took the Acks up to %d; want 0, 2 (she gave up after RequestTimeout)", n, taken)
	}
	alice.restart()
	if n, taken := awaitedOf(t, alice, id); n != 0 || taken != 2 {
		t.Fatalf("after another restart alice awaits %d receipts, took the Acks up to %d; want 0, 2", n, taken)
	}
}

// TestSettledChannelAwaitsNoReceipt: Alice restarts awaiting a receipt,
// and the channel is closed out on chain before Bob sends it again: from
// then on nothing is awaited, on disk either.
func TestSettledChannelAwaitsNoReceipt(t *testing.T) {
	alice, bob, id, fate := loseAcks(t)
	fate.all.Store(true)
	done := payAsync(t, alice, id, 5, "ok-1", "ok")
	waitFor(t, "bob holds alice's proof", func() bool { return bob.channel(id).ReceivedNonce == 1 })
	bob.stop()
	alice.restart()
	<-done
	if n, _ := awaitedOf(t, alice, id); n != 1 {
		t.Fatalf("after the restart alice awaits %d receipts, want 1", n)
	}
	forceCloseAndSettle(t, alice, id)
	if n, _ := awaitedOf(t, alice, id); n != 0 {
		t.Fatalf("after the close alice awaits %d receipts, want none", n)
	}
	alice.restart()
	// Settled when it loads, or once the watcher sees it settled again.
	waitFor(t, "alice awaits no receipt", func() bool { n, _ := awaitedOf(t, alice, id); return n == 0 })
	recs, err := alice.n.store.LoadChannels()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if len(r.Awaited) != 0 {
			t.Fatalf("alice's store still awaits %d receipts of channel %x", len(r.Awaited), r.Channel.GetId()[:4])
		}
	}
}

// proofLossStore fails, once armed, the writes of new proofs (a batch of
// three records or more: the payment, its awaited entry, the proof), as a
// disk that died under them would; the chain watcher's cursor writes, of
// one record, still land (failing them would stop the node before it
// signs).
type proofLossStore struct {
	Store
	armed atomic.Bool
}

func (l *proofLossStore) CommitAsync(b *store.Batch, done func(store.Result, error)) error {
	if l.armed.Load() && b.Len() >= 3 {
		go done(store.Result{}, errors.New("test: the disk is gone"))
		return nil
	}
	return l.Store.CommitAsync(b, done)
}

// TestAwaitedReceiptAfterOwnProofRecovered: Alice pays "ok-1" (a receipt
// asked for) and Bob's Ack of proof 1 is lost; then her disk dies while
// proof 2 ("ok-2") reaches Bob. She restarts awaiting ok-1's receipt
// (ackTaken 0), and adopts proof 2 from Bob (recovery). Bob, asked for
// the Acks from 0 on, sends Ack 2 again with ok-1's receipt: Alice must
// keep it. At f776ce2 the recovery branch of reestablish raises ackTaken
// to 2 first, so Ack 2 is dropped as stale; the receipt is lost, and the
// next fresh Ack settles the awaited entry without it.
func TestAwaitedReceiptAfterOwnProofRecovered(t *testing.T) {
	var lossy *proofLossStore
	aliceOnly := func(tn *testNode) {
		if tn.name == "alice" {
			tn.wrap = func(s Store) Store {
				lossy = &proofLossStore{Store: s}
				return lossy
			}
		}
	}
	alice, bob, id, fate := loseAcks(t, aliceOnly)
	fate.all.Store(true)
	done1 := payAsync(t, alice, id, 5, "ok-1", "ok")
	waitFor(t, "bob holds proof 1", func() bool { return bob.channel(id).ReceivedNonce == 1 })
	var payID [32]byte
	waitFor(t, "alice's disk holds ok-1", func() bool {
		e, err := alice.st.PaymentByIdempotencyKey("ok-1")
		if err == nil {
			payID = [32]byte(e.GetPayment().GetId())
		}
		return err == nil
	})
	lossy.armed.Store(true)
	done2 := payAsync(t, alice, id, 7, "ok-2", "ok")
	waitFor(t, "bob holds proof 2", func() bool { return bob.channel(id).ReceivedNonce == 2 })
	alice.stop()
	<-done1
	<-done2
	alice.wrap = nil
	fate.all.Store(false)
	alice.start()
	waitFor(t, "alice recovers proof 2", func() bool {
		ci := alice.channel(id)
		return ci.SentNonce == 2 && ci.Behind == ""
	})
	waitFor(t, "alice keeps bob's receipt for ok-1, sent again with Ack 2", func() bool {
		_, err := alice.st.Receipt(payID)
		return err == nil
	})
	p, err := payItem(t, alice, id, 5, "ok-1", "ok")
	if err != nil || !p.Complete || p.Receipt == nil {
		t.Fatalf("the retry of ok-1: %+v, %v; want paid with its receipt", p, err)
	}
	if n, _ := awaitedOf(t, alice, id); n != 0 {
		t.Fatalf("alice still awaits %d receipts", n)
	}
}
