package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
)

// TestNackOnReadyChannel: the peer refuses a proof on a channel that is
// reestablished and ready. The node must go on serving: list channels, pay
// on its other channels, answer its health check, stop. The refused payment
// is pending, not failed (its proof is signed), and the payer asks to
// resynchronise. A Nack of a proof that is not in flight is refused.
func TestNackOnReadyChannel(t *testing.T) {
	w := newNet(t)
	alice, bob, carol := w.add("alice", 1), w.add("bob", 2), w.add("carol", 3)
	alice.connect(bob)
	alice.connect(carol)
	toBob := alice.open(bob, 1000)
	toCarol := alice.open(carol, 1000)
	alice.pay(toBob, 10, "first")
	held := mustChannelOf(t, bob, toBob).state().Received
	bob.stop() // from here on the test speaks for Bob
	r := dialRaw(t, bob.key.Address(), alice)
	r.send(&peerv1.Message{Body: &peerv1.Message_Reestablish{Reestablish: &peerv1.Reestablish{ChannelId: toBob[:], Held: proofMessage(held, nil), SentNonce: 0}}})
	waitFor(t, "alice is ready on the raw session", func() bool { return alice.channel(toBob).Connected })

	// A Nack of a proof that is not in flight changes nothing.
	r.send(&peerv1.Message{Body: &peerv1.Message_Nack{Nack: &peerv1.Nack{ChannelId: toBob[:], Nonce: 7, Code: codeFailedPrecondition, Reason: "test"}}})
	if e := r.next().GetError(); e.GetCode() != codeFailedPrecondition || !strings.Contains(e.GetMessage(), "not in flight") {
		t.Fatalf("nack of a proof never sent: %v", e)
	}

	paid := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := alice.n.Pay(ctx, PayRequest{Channel: toBob, Amount: *u256(1), Key: "refused"})
		paid <- err
	}()
	proof := r.next().GetProof()
	if proof.GetNonce() != 2 {
		t.Fatalf("want alice's proof 2, got %v", proof)
	}
	r.send(&peerv1.Message{Body: &peerv1.Message_Nack{Nack: &peerv1.Nack{ChannelId: toBob[:], Nonce: 2, Code: codeFailedPrecondition, Reason: "test: refused"}}})

	guard(t, "Channels after a Nack", func() {
		if got := len(alice.n.Channels(crypto.Address{}, false)); got != 2 {
			t.Errorf("alice lists %d channels", got)
		}
	})
	alice.pay(toCarol, 5, "other channel")
	guard(t, "Health after a Nack", func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := alice.n.Health(ctx); err != nil {
			t.Errorf("health: %v", err)
		}
	})
	// The refused payment is signed: pending, not failed.
	guard(t, "Pay on the refusing channel", func() {
		if err := <-paid; !errors.Is(err, ErrPending) {
			t.Errorf("the refused payment ended with %v, want ErrPending", err)
		}
	})
	// The payer asks to resynchronise (Reestablish with reply set).
	for {
		m := r.nextAny(5 * time.Second)
		if re := m.GetReestablish(); re != nil && re.GetReply() {
			break
		}
	}
	if got := alice.channel(toBob); got.SentNonce != 2 || got.AckedNonce != 1 {
		t.Fatalf("after the nack: sent %d, acked %d", got.SentNonce, got.AckedNonce)
	}
	guard(t, "Stop after a Nack", alice.stop)
}

// mustChannelOf returns tn's owner of channel id.
func mustChannelOf(t *testing.T, tn *testNode, id [32]byte) *chanActor {
	t.Helper()
	c := tn.n.chans.get(id)
	if c == nil {
		t.Fatalf("%s has no channel %x", tn.name, id[:4])
	}
	return c
}

// nextAny returns the next message, whatever it is.
func (r *rawPeer) nextAny(timeout time.Duration) *peerv1.Message {
	r.t.Helper()
	ch := make(chan *peerv1.Message, 1)
	go func() {
		m, err := r.conn.Recv()
		if err == nil {
			ch <- m
		}
	}()
	select {
	case m := <-ch:
		return m
	case <-time.After(timeout):
		r.t.Fatal("no message")
		return nil
	}
}

// TestHungChainEndpoint: Bob's chain endpoint hangs while a proof on one of
// his channels makes him read the chain (Alice topped that channel up and
// pays beyond what Bob has seen). Everything else goes on at full speed:
// Alice's payments on her other channel with Bob (the same session) and
// Carol's payments to Bob all complete while the read hangs; the proof
// that needs the chain is accepted once the endpoint answers.
func TestHungChainEndpoint(t *testing.T) {
	w := newNet(t)
	alice, bob, carol := w.add("alice", 1), w.add("bob", 2), w.add("carol", 3)
	alice.connect(bob)
	carol.connect(bob)
	slow := alice.open(bob, 100)
	fast := alice.open(bob, 1000)
	other := carol.open(bob, 1000)
	release := bob.chain.hangReads()
	defer release()
	if _, err := alice.n.Deposit(context.Background(), slow, *u256(900)); err != nil {
		t.Fatal(err)
	}
	beyond := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err := alice.n.Pay(ctx, PayRequest{Channel: slow, Amount: *u256(500), Key: "beyond"})
		beyond <- err
	}()
	waitFor(t, "bob reads the chain for the proof", func() bool { return bob.chain.reads.Load() > 0 })
	var wg sync.WaitGroup
	for _, p := range []struct {
		tn *testNode
		id [32]byte
	}{{alice, fast}, {carol, other}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				p.tn.pay(p.id, 1, fmt.Sprintf("%s-%d", p.tn.name, i))
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-beyond:
		t.Fatalf("the payment beyond bob's view finished while his chain hangs: %v", err)
	default:
	}
	if got := bob.channel(fast).Received; got.Uint64() != 50 {
		t.Fatalf("bob received %d on the fast channel", got.Uint64())
	}
	release()
	if err := <-beyond; err != nil {
		t.Fatalf("the payment beyond bob's earlier view: %v", err)
	}
	if got := bob.channel(slow); got.Received.Uint64() != 500 || got.PeerDeposit.Uint64() != 1000 {
		t.Fatalf("bob's slow channel: received %d, alice's deposit %d", got.Received.Uint64(), got.PeerDeposit.Uint64())
	}
}

// slowKeyStore makes the lookup of one idempotency key block, as a slow
// disk would.
type slowKeyStore struct {
	Store
	key     string
	entered chan struct{}
	release chan struct{}
}

func (s *slowKeyStore) PaymentByIdempotencyKey(key string) (*storev1.LogEntry, error) {
	if key == s.key {
		close(s.entered)
		<-s.release
	}
	return s.Store.PaymentByIdempotencyKey(key)
}

// slowAdmission starts alice (whose disk look-up of key "slow" waits
// for slow.release) with a channel id to bob, and a payment of 7 under
// that key, which it returns once the payment is in that look-up; done
// receives the payment's outcome.
func slowAdmission(t *testing.T) (alice *testNode, id [32]byte, slow *slowKeyStore, done chan error) {
	w := newNet(t)
	slow = &slowKeyStore{key: "slow", entered: make(chan struct{}), release: make(chan struct{})}
	alice = w.add("alice", 1, withStore(func(s Store) Store {
		slow.Store = s
		return slow
	}))
	bob := w.add("bob", 2)
	alice.connect(bob)
	id = alice.open(bob, 1000)
	done = make(chan error, 1)
	go func() {
		_, err := alice.n.Pay(context.Background(), PayRequest{Channel: id, Amount: *u256(7), Key: "slow"})
		done <- err
	}()
	<-slow.entered
	return alice, id, slow, done
}

// TestPaymentAdmissionDoesNotSerialise: while one payment's admission waits
// on a slow store read, other payers are admitted and paid.
func TestPaymentAdmissionDoesNotSerialise(t *testing.T) {
	alice, id, slow, done := slowAdmission(t)
	for i := range 20 {
		alice.pay(id, 1, fmt.Sprint("fast-", i)) // guarded: each must not wait for "slow"
	}
	close(slow.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := alice.channel(id).Sent; got.Uint64() != 27 {
		t.Fatalf("sent %d, want 27", got.Uint64())
	}
}

// TestPaymentsOfOneBatchShareAProof: payments that arrive while the
// channel's owner is busy are taken in one batch and leave in one proof,
// however much room the pipeline has (a proof costs a signature here, a
// verification and a write there).
func TestPaymentsOfOneBatchShareAProof(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 1000)
	alice.pay(id, 1, "first")
	c := mustChannelOf(t, alice, id)
	before := alice.channel(id).SentNonce

	queued := func() int {
		c.mailbox.mu.Lock()
		defer c.mailbox.mu.Unlock()
		return len(c.mailbox.queue)
	}
	// Nothing else queues meanwhile (but the watchdog's rare probe): the
	// channel's writes are done and its owner is idle.
	waitFor(t, "the owner is idle", func() bool {
		c.mailbox.mu.Lock()
		defer c.mailbox.mu.Unlock()
		return !c.mailbox.running && c.writes.Load() == 0
	})
	release, blocked := make(chan struct{}), make(chan struct{})
	c.post(func() { close(blocked); <-release }) // the owner is busy (a test may block it)
	<-blocked
	const n = 20
	errs := make(chan error, n)
	for i := range n {
		had := queued()
		go func() {
			_, err := alice.n.Pay(context.Background(), PayRequest{Channel: id, Amount: *u256(1), Key: fmt.Sprint("batched-", i)})
			errs <- err
		}()
		waitFor(t, "the payment queues behind the busy owner", func() bool { return queued() > had })
	}
	close(release)
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	ci := alice.channel(id)
	if got := ci.SentNonce - before; got != 1 {
		t.Errorf("%d payments of one batch took %d proofs, want 1", n, got)
	}
	if ci.Sent.Uint64() != 1+n {
		t.Errorf("sent %d, want %d", ci.Sent.Uint64(), 1+n)
	}
}

// TestInfoTellsTheWatcher: Info says which block the watcher read and when
// its last round succeeded; while the endpoint hangs it says why the
// rounds fail and keeps the time of the last good one; once the endpoint
// answers again the error is gone.
func TestInfoTellsTheWatcher(t *testing.T) {
	w := newNet(t)
	alice := w.add("alice", 1, withConfig(func(c *Config) { c.ChainReadTimeout = 50 * time.Millisecond }))
	w.chain.advance(10)
	waitFor(t, "the watcher reads the new block", func() bool {
		i := alice.n.Info()
		return i.ChainHead == 2 && !i.WatcherLastPoll.IsZero() && i.WatcherError == ""
	})
	release := alice.chain.hangReads()
	defer release()
	var stuck NodeInfo
	waitFor(t, "a round fails", func() bool { stuck = alice.n.Info(); return stuck.WatcherError != "" })
	if !strings.Contains(stuck.WatcherError, "deadline exceeded") || stuck.WatcherLastPoll.IsZero() || stuck.ChainHead != 2 {
		t.Fatalf("info while the endpoint hangs: error %q, last poll %v, head %d", stuck.WatcherError, stuck.WatcherLastPoll, stuck.ChainHead)
	}
	time.Sleep(100 * time.Millisecond) // more rounds fail
	if got := alice.n.Info(); !got.WatcherLastPoll.Equal(stuck.WatcherLastPoll) {
		t.Fatalf("the last good round moved from %v to %v while every round failed", stuck.WatcherLastPoll, got.WatcherLastPoll)
	}
	release()
	w.chain.advance(10)
	waitFor(t, "the watcher recovers", func() bool {
		i := alice.n.Info()
		return i.WatcherError == "" && i.ChainHead == 3 && i.WatcherLastPoll.After(stuck.WatcherLastPoll)
	})
}
