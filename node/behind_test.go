package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holiman/uint256"
	"google.golang.org/protobuf/proto"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
	"github.com/tinypay/tinypay/store"
)

// snapshot takes a consistent snapshot of a running node's store, as a
// backup does.
func (tn *testNode) snapshot() []byte {
	tn.t.Helper()
	var b bytes.Buffer
	if _, err := tn.st.Snapshot(&b); err != nil {
		tn.t.Fatal(err)
	}
	return b.Bytes()
}

// restoreFrom stops tn and starts it on a new store restored from snap,
// as restored (Config.Restored); caught is set once it has caught up.
func (tn *testNode) restoreFrom(snap []byte, caught *atomic.Bool) {
	tn.t.Helper()
	tn.stop()
	dir := tn.t.TempDir()
	if _, err := store.Restore(store.DefaultConfig(dir), bytes.NewReader(snap)); err != nil {
		tn.t.Fatal(err)
	}
	tn.dir = dir
	tn.cfg = func(c *Config) {
		c.Restored = true
		c.CaughtUp = func() { caught.Store(true) }
	}
	tn.start()
	tn.cfg = nil
}

// tryPay pays without failing the test.
func (tn *testNode) tryPay(id channel.ID, amount uint64, key string) (PaymentInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return tn.n.Pay(ctx, PayRequest{Channel: id, Amount: *uint256.NewInt(amount), Key: key})
}

// TestRestoredNodeCatchesUpWithThePeer: Alice is restored from a backup
// taken after her first payment; since then she paid twice more and Bob
// paid her once. While Bob is away she is behind: she says so (channel,
// node info) and refuses to pay, signing nothing. Once Bob reconnects she
// adopts her newest proof from him, recovers the payments it covers, gets
// Bob's proof again, and pays on with the next nonce: no nonce is used
// twice and Bob holds every amount.
func TestRestoredNodeCatchesUpWithThePeer(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 1000)
	alice.pay(id, 5, "a1")
	snap := alice.snapshot()
	alice.pay(id, 7, "a2")
	alice.pay(id, 3, "a3")
	bob.pay(id, 4, "b1")
	waitFor(t, "alice holds bob's proof", func() bool { return alice.channel(id).ReceivedNonce == 1 })
	bob.stop()

	var caught atomic.Bool
	alice.restoreFrom(snap, &caught)
	ci := alice.channel(id)
	if ci.Behind == "" || ci.SentNonce != 1 || u64(ci.Sent) != 5 || ci.ReceivedNonce != 0 {
		t.Fatalf("restored alice: behind %q, sent %d@%d, received nonce %d; want behind, 5@1, 0", ci.Behind, u64(ci.Sent), ci.SentNonce, ci.ReceivedNonce)
	}
	if info := alice.n.Info(); !info.Restored || info.ChannelsBehind != 1 {
		t.Fatalf("node info while behind: restored %v, %d channels behind", info.Restored, info.ChannelsBehind)
	}
	waitFor(t, "alice read the chain", func() bool { return strings.Contains(alice.channel(id).Behind, "waiting for the peer") })
	if _, err := alice.tryPay(id, 2, "during"); !errors.Is(err, ErrBehind) {
		t.Fatalf("pay while behind: %v, want ErrBehind", err)
	}
	if _, err := alice.n.Withdraw(context.Background(), id, *u256(1)); !errors.Is(err, ErrBehind) {
		t.Fatalf("withdraw while behind: %v, want ErrBehind", err)
	}
	if _, err := alice.n.CloseChannel(context.Background(), id); !errors.Is(err, ErrBehind) {
		t.Fatalf("cooperative close while behind: %v, want ErrBehind", err)
	}
	if ci := alice.channel(id); ci.SentNonce != 1 || ci.Phase != channel.Open {
		t.Fatalf("alice signed or closed while behind: sent nonce %d, phase %s", ci.SentNonce, ci.Phase)
	}

	bob.start()
	alice.connect(bob)
	waitFor(t, "alice caught up", func() bool { return alice.channel(id).Behind == "" })
	ci = alice.channel(id)
	if ci.SentNonce != 3 || u64(ci.Sent) != 15 || ci.ReceivedNonce != 1 || u64(ci.Received) != 4 {
		t.Fatalf("alice after catching up: sent %d@%d received %d@%d; want 15@3, 4@1", u64(ci.Sent), ci.SentNonce, u64(ci.Received), ci.ReceivedNonce)
	}
	waitFor(t, "the node reports it caught up", func() bool { return caught.Load() && !alice.n.Info().Restored })
	// The payments since the backup are back in her log, with their keys:
	// a retry of one returns it and pays nothing.
	for key, nonce := range map[string]uint64{"a2": 2, "a3": 3} {
		e, err := alice.st.PaymentByIdempotencyKey(key)
		if err != nil || e.GetPayment().GetNonce() != nonce {
			t.Fatalf("payment %s after the restore: %v %v", key, e, err)
		}
	}
	if p, err := alice.tryPay(id, 7, "a2"); err != nil || p.Nonce != 2 || !p.Complete {
		t.Fatalf("retry of a2: %+v, %v", p, err)
	}
	// She pays on with the next nonce; the payment refused while she was
	// behind moved nothing, and pays now.
	if p := alice.pay(id, 1, "a4"); p.Nonce != 4 {
		t.Fatalf("first payment after catching up has nonce %d, want 4", p.Nonce)
	}
	if p, err := alice.tryPay(id, 2, "during"); err != nil || p.Nonce != 5 {
		t.Fatalf("the payment refused while behind, again: %+v, %v", p, err)
	}
	waitFor(t, "bob holds every payment", func() bool {
		ci := bob.channel(id)
		return ci.ReceivedNonce == 5 && u64(ci.Received) == 18
	})
}

// TestRestoredNodeRefusesAForgedProof: a peer that claims a newer proof
// of the restored node's with a signature that is not the node's gets an
// error; the node stays behind and signs nothing. The same claim signed by
// the node is adopted, the payments it covers recovered, and the next
// payment goes out with the nonce after it.
func TestRestoredNodeRefusesAForgedProof(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 1000)
	alice.pay(id, 5, "a1")
	dom := mustChannelOf(t, alice, id).state().Params.Domain()
	snap := alice.snapshot()
	bob.stop()
	var caught atomic.Bool
	alice.restoreFrom(snap, &caught)
	waitFor(t, "alice read the chain", func() bool { return strings.Contains(alice.channel(id).Behind, "waiting for the peer") })

	r := dialRaw(t, bob.key.Address(), alice) // speaks as Bob
	mallory := seedKey(9)
	r.send(&peerv1.Message{Body: &peerv1.Message_Reestablish{Reestablish: &peerv1.Reestablish{
		ChannelId: id[:], Held: signedProof(t, mallory, dom, id, 2, 12)}}})
	if m := r.next(); m.GetError() == nil || m.GetError().GetCode() != codeInvalidArgument {
		t.Fatalf("alice answered a forged proof with %v, want an invalid-argument error", m)
	}
	ci := alice.channel(id)
	if ci.Behind == "" || ci.SentNonce != 1 || u64(ci.Sent) != 5 {
		t.Fatalf("after the forged proof: behind %q, sent %d@%d; want still behind, 5@1", ci.Behind, u64(ci.Sent), ci.SentNonce)
	}
	if _, err := alice.tryPay(id, 1, "x"); !errors.Is(err, ErrBehind) {
		t.Fatalf("pay after the forged proof: %v, want ErrBehind", err)
	}

	// Alice's own signature: adopted, and she asks for its payments.
	r.send(&peerv1.Message{Body: &peerv1.Message_Reestablish{Reestablish: &peerv1.Reestablish{
		ChannelId: id[:], Held: signedProof(t, alice.key, dom, id, 2, 12)}}})
	m := r.next()
	if rr := m.GetRecoverRequest(); rr == nil || rr.GetAfterNonce() != 1 {
		t.Fatalf("alice answered her own newer proof with %v, want RecoverRequest after 1", m)
	}
	waitFor(t, "alice says she recovers", func() bool { return strings.Contains(alice.channel(id).Behind, "recovering") })
	r.send(&peerv1.Message{Body: &peerv1.Message_Recovered{Recovered: &peerv1.Recovered{ChannelId: id[:], Payments: []*peerv1.RecoveredPayment{{
		Nonce: 2, Cumulative: amountBytes(u256(12)), Part: &peerv1.PaymentPart{PaymentId: rid(7), Amount: amountBytes(u256(7)), IdempotencyKey: "a2"},
	}}}}})
	waitFor(t, "alice caught up", func() bool { return alice.channel(id).Behind == "" })
	done := make(chan error, 1)
	go func() { _, err := alice.tryPay(id, 1, "next"); done <- err }()
	for {
		m := r.next()
		if p := m.GetProof(); p != nil {
			if amt := mustAmount(t, p.GetTransferred()); p.GetNonce() != 3 || amt.Uint64() != 13 {
				t.Fatalf("alice's next proof: nonce %d, %s; want nonce 3, 13", p.GetNonce(), amt.Dec())
			}
			break
		}
	}
	r.send(&peerv1.Message{Body: &peerv1.Message_Ack{Ack: &peerv1.Ack{ChannelId: id[:], Nonce: 3}}})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if e, err := alice.st.PaymentByIdempotencyKey("a2"); err != nil || e.GetPayment().GetNonce() != 2 {
		t.Fatalf("recovered record of a2: %v %v", e, err)
	}
}

// TestRestoredNodeAppliesTheChain: after the backup Alice restores from,
// Bob deposited and Alice withdrew on one channel, Alice closed another
// cooperatively and opened a third. Restored, she learns all of it from
// the chain: the totals, the close, and the new channel (taken up, as
// side A), which stays behind until Bob gives back her proofs in it.
func TestRestoredNodeAppliesTheChain(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	ctx := context.Background()
	id1 := alice.open(bob, 1000)
	id2 := alice.open(bob, 500)
	alice.pay(id1, 5, "a1")
	snap := alice.snapshot()

	if _, err := bob.n.Deposit(ctx, id1, *u256(300)); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.n.Withdraw(ctx, id1, *u256(100)); err != nil {
		t.Fatal(err)
	}
	alice.pay(id2, 20, "c0")
	if _, err := alice.n.CloseChannel(ctx, id2); err != nil {
		t.Fatal(err)
	}
	id3 := alice.open(bob, 200)
	alice.pay(id3, 9, "n1")
	bob.stop()

	var caught atomic.Bool
	alice.restoreFrom(snap, &caught)
	waitFor(t, "alice learned the chain", func() bool {
		c1, err1 := alice.n.Channel(id1)
		c2, err2 := alice.n.Channel(id2)
		c3, err3 := alice.n.Channel(id3)
		return err1 == nil && err2 == nil && err3 == nil && u64(c1.PeerDeposit) == 300 && u64(c1.MyWithdrawn) == 100 &&
			c2.Phase == channel.Settled && u64(c3.MyDeposit) == 200 && strings.Contains(c3.Behind, "waiting for the peer")
	})
	if c3 := alice.channel(id3); c3.Side != channel.A || c3.SentNonce != 0 {
		t.Fatalf("the channel opened after the backup: side %s, sent nonce %d", c3.Side, c3.SentNonce)
	}
	if _, err := alice.tryPay(id3, 1, "early"); !errors.Is(err, ErrBehind) {
		t.Fatalf("pay on the channel taken up from the chain: %v, want ErrBehind", err)
	}
	if info := alice.n.Info(); !info.Restored || info.ChannelsBehind != 2 {
		t.Fatalf("node info: restored %v, %d channels behind; want true, 2 (the settled one is not)", info.Restored, info.ChannelsBehind)
	}

	bob.start()
	alice.connect(bob)
	waitFor(t, "alice caught up on every channel", func() bool { return caught.Load() })
	c1, c3 := alice.channel(id1), alice.channel(id3)
	if c1.Behind != "" || c3.Behind != "" || c3.SentNonce != 1 || u64(c3.Sent) != 9 {
		t.Fatalf("after catching up: %q %q, third channel sent %d@%d", c1.Behind, c3.Behind, u64(c3.Sent), c3.SentNonce)
	}
	if u64(c1.MyBalance) != 1000-100-5 {
		t.Fatalf("alice's balance in the first channel %d, want %d", u64(c1.MyBalance), 1000-100-5)
	}
	if p := alice.pay(id3, 1, "n2"); p.Nonce != 2 {
		t.Fatalf("next payment in the new channel has nonce %d, want 2", p.Nonce)
	}
	waitFor(t, "bob holds it", func() bool { return u64(bob.channel(id3).Received) == 10 })
}

// TestRecoveryIsBounded: what a peer restored from an old backup can ask
// back is bounded: the log is read for the newest proofs' payments only
// (whole proofs, at most the limit), and the answer keeps the newest
// proofs that fit in a message.
func TestRecoveryIsBounded(t *testing.T) {
	n, id := nodeWithPayments(t, storev1.Direction_DIRECTION_INCOMING)
	nonces := func(recs []*storev1.Payment) []uint64 {
		var out []uint64
		for _, r := range recs {
			out = append(out, r.GetNonce())
		}
		return out
	}
	for _, tc := range []struct {
		after, upTo uint64
		limit       int
		want        []uint64
	}{
		// No limit: everything after nonce 4.
		{4, 6, 0, []uint64{5, 5, 5, 6, 6, 6}},
		// A limit within proof 5: proof 5 is left out whole.
		{0, 6, 5, []uint64{6, 6, 6}},
		// A limit at a proof's end.
		{0, 6, 6, []uint64{5, 5, 5, 6, 6, 6}},
		// A limit below one proof: nothing.
		{0, 6, 2, nil},
		// Up to a nonce below the newest.
		{0, 4, 3, []uint64{4, 4, 4}},
	} {
		got := nonces(n.paymentsAfter(id, storev1.Direction_DIRECTION_INCOMING, tc.after, tc.upTo, tc.limit))
		if !slices.Equal(got, tc.want) {
			t.Fatalf("paymentsAfter(%d, %d, limit %d) = %v, want %v", tc.after, tc.upTo, tc.limit, got, tc.want)
		}
	}
	rps := func(ns ...uint64) []*peerv1.RecoveredPayment {
		var out []*peerv1.RecoveredPayment
		for _, x := range ns {
			out = append(out, &peerv1.RecoveredPayment{Nonce: x, Part: &peerv1.PaymentPart{PaymentId: rid(1), Memo: strings.Repeat("m", 100)}})
		}
		return out
	}
	one := proto.Size(rps(1)[0]) + 8 // every payment here has this size
	for _, tc := range []struct {
		budget int
		want   int
	}{
		{10 * one, 5},  // everything fits
		{4 * one, 4},   // proofs 2 and 3, not proof 1
		{3 * one, 2},   // proof 3; proof 2 would not fit whole
		{2*one - 1, 0}, // not even the newest proof
	} {
		// Proof 1 has one payment, proofs 2 and 3 two each.
		if got := newestWithin(rps(1, 2, 2, 3, 3), tc.budget); len(got) != tc.want {
			t.Fatalf("newestWithin(budget %d payments' worth) kept %d payments, want %d", tc.budget/one, len(got), tc.want)
		}
	}
}

// nodeWithPayments returns a node (not started) whose log holds proofs 1
// to 6 of channel id in direction dir, of 3 payments of 2 each.
func nodeWithPayments(t *testing.T, dir storev1.Direction) (*Node, channel.ID) {
	t.Helper()
	st, err := store.Open(store.DefaultConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w := newNet(t)
	key := seedKey(1)
	n, err := New(testConfig(), Deps{Key: key, Store: st, Chain: &fakeBackend{f: w.chain, key: key}})
	if err != nil {
		t.Fatal(err)
	}
	id := channel.ID{7}
	b := store.NewBatch()
	var cum uint64
	for nonce := uint64(1); nonce <= 6; nonce++ {
		for i := range 3 {
			cum += 2
			pid := randomID()
			if err := b.AppendLog(&storev1.LogEntry{TimeUnixNano: 1, Entry: &storev1.LogEntry_Payment{Payment: &storev1.Payment{
				Id: pid[:], ChannelId: id[:], Direction: dir, Amount: amountBytes(u256(2)),
				Cumulative: amountBytes(u256(cum)), Nonce: nonce, TimeUnixNano: 1, RemoteId: rid(byte(3*nonce) + byte(i)), Peer: make([]byte, 20),
			}}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := st.Commit(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	return n, id
}

// TestResendIsBounded: the payments resent with a proof to a peer that
// lacks many (restored from an old backup) are the newest ones, at most
// the limit, whole proofs only, after one part that sums up the older
// ones; whatever the log holds, the parts add up to what the proof adds.
func TestResendIsBounded(t *testing.T) {
	n, id := nodeWithPayments(t, storev1.Direction_DIRECTION_OUTGOING)
	proof := func(nonce, total uint64) channel.Proof {
		return channel.Proof{Channel: id, Nonce: nonce, Transferred: *u256(total)}
	}
	for _, tc := range []struct {
		name        string
		held, sent  channel.Proof
		limit       int
		parts       int
		summaryUpTo uint64 // 0: no summary part
	}{
		{"all of them", proof(2, 12), proof(6, 36), 0, 12, 0},
		{"the newest two proofs and a summary", proof(2, 12), proof(6, 36), 7, 7, 4},
		{"a peer that holds nothing", proof(0, 0), proof(6, 36), 3, 4, 5},
		{"a log that does not reach the proof", proof(2, 12), proof(7, 40), 0, 1, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parts := n.outgoingParts(id, crypto.Address{}, tc.held, tc.sent, tc.limit)
			var sum uint256.Int
			for _, p := range parts {
				a := mustAmount(t, p.GetAmount())
				sum.Add(&sum, &a)
			}
			var want uint256.Int
			want.Sub(&tc.sent.Transferred, &tc.held.Transferred)
			if len(parts) != tc.parts || !sum.Eq(&want) {
				t.Fatalf("%d parts adding up to %s, want %d adding up to %s", len(parts), sum.Dec(), tc.parts, want.Dec())
			}
			summary := strings.Contains(parts[0].GetMemo(), "resent as one sum")
			if summary != (tc.summaryUpTo != 0) || (summary && !strings.Contains(parts[0].GetMemo(), fmt.Sprintf("to %d,", tc.summaryUpTo))) {
				t.Fatalf("first part %q, want a summary up to %d", parts[0].GetMemo(), tc.summaryUpTo)
			}
		})
	}
}

// refuseItems is an application layer that refuses parts by item: "late"
// as an expired offer would be, "twice" as an offer paid already.
type refuseItems struct{ noHooks }

func (refuseItems) CheckIncoming(_ ChannelInfo, parts []Part) ([]error, func(bool)) {
	refuse := make([]error, len(parts))
	for i := range parts {
		switch parts[i].ItemID {
		case "late":
			refuse[i] = invalid("offer expired")
		case "twice":
			refuse[i] = wrapf(ErrAlreadyExists, "offer paid already")
		}
	}
	return refuse, func(bool) {}
}

// TestRestoredPayeeRefundsNothingAgain: Bob, the payee, is restored from a
// backup; the payments Alice made since come again with her proofs. His
// application would now refuse two of them, but he acknowledged them
// before: nothing is refunded (a refund now would pay back what was
// delivered), the one whose offer is paid already is recorded as refused
// (the store keeps one payment per offer), the other as it was. Once
// caught up, a refusal is refunded again as usual.
func TestRestoredPayeeRefundsNothingAgain(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 1000)
	alice.pay(id, 5, "p1")
	snap := bob.snapshot()
	for _, p := range []struct {
		item   string
		amount uint64
	}{{"late", 7}, {"twice", 3}, {"ok", 2}} {
		if _, err := alice.n.Pay(context.Background(), PayRequest{Channel: id, Amount: *u256(p.amount), Key: p.item, ItemID: p.item}); err != nil {
			t.Fatal(err)
		}
	}
	alice.stop()
	var caught atomic.Bool
	bob.restoreFrom(snap, &caught)
	bob.n.hooks = refuseItems{} // before any session reads it
	alice.start()
	alice.connect(bob)
	waitFor(t, "bob caught up", func() bool { return caught.Load() })
	if p := bob.n.failed.Load(); p != nil {
		t.Fatalf("bob's node failed: %v", *p)
	}
	b, a := bob.channel(id), alice.channel(id)
	if b.ReceivedNonce != 4 || u64(b.Received) != 17 || b.SentNonce != 0 || a.ReceivedNonce != 0 {
		t.Fatalf("bob received %d@%d and signed %d proofs, alice received %d; want 17@4, no refund", u64(b.Received), b.ReceivedNonce, b.SentNonce, a.ReceivedNonce)
	}
	pays, _, err := bob.n.Payments(0, 100, id)
	if err != nil {
		t.Fatal(err)
	}
	refused := map[string]string{}
	for _, p := range pays {
		refused[p.ItemID] = p.Refused
	}
	if refused["late"] != "" || refused["ok"] != "" || !strings.Contains(refused["twice"], "not refunded again") {
		t.Fatalf("bob's records after the restore: %q", refused)
	}
	// Caught up: a refused payment is refunded at once.
	_, err = alice.n.Pay(context.Background(), PayRequest{Channel: id, Amount: *u256(1), Key: "twice-2", ItemID: "twice"})
	if !errors.Is(err, ErrRefunded) {
		t.Fatalf("a refused payment after catching up: %v, want refunded", err)
	}
	waitFor(t, "alice holds bob's refund", func() bool { return u64(alice.channel(id).Received) == 1 })
}
