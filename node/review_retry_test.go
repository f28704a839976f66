package node

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A retry of a key whose caller gives up while another call's payment of
// the key is under way and not yet signed must not report an outcome that
// Pay's contract reads as "cancelled, nothing moved" (an error that is not
// ErrPending after ctx ended): that payment is not cancelled, and pays
// later. Whether the other call's payment is still being admitted (its key
// looked up on disk) or already queued in the channel, the retry gets the
// same answer: pending, a retry of the key reports the outcome.
func TestRetryGivingUpReportsPendingWhileTheKeysPaymentIsUnderWay(t *testing.T) {
	retry := func(tn *testNode, id [32]byte, key string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := tn.n.Pay(ctx, PayRequest{Channel: id, Amount: *u256(7), Key: key})
		return err
	}
	check := func(t *testing.T, err error, first <-chan error, tn *testNode, id [32]byte) {
		t.Helper()
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrPending) {
			t.Errorf("the retry that gave up: %v; want ErrPending (the key's payment is under way and pays later)", err)
		}
		select {
		case err := <-first:
			if err != nil {
				t.Fatalf("the first call: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the first call did not pay")
		}
		if got := u64(tn.channel(id).Sent); got != 7 {
			t.Fatalf("sent %d, want 7: the key's payment moved money", got)
		}
	}

	t.Run("queued in the channel", func(t *testing.T) {
		w := newNet(t)
		alice, bob := w.add("alice", 1), w.add("bob", 2)
		alice.connect(bob)
		id := alice.open(bob, 1000)
		bob.stop()
		waitFor(t, "alice sees bob gone", func() bool { return !alice.channel(id).Connected })
		first := make(chan error, 1)
		go func() {
			_, err := alice.n.Pay(context.Background(), PayRequest{Channel: id, Amount: *u256(7), Key: "k"})
			first <- err
		}()
		c := alice.n.chans.get(id)
		waitFor(t, "the first call's payment is queued", func() bool {
			var n int
			if err := c.call(context.Background(), func() { n = len(c.queue) }); err != nil {
				t.Fatal(err)
			}
			return n == 1
		})
		err := retry(alice, id, "k")
		bob.start()
		alice.connect(bob)
		check(t, err, first, alice, id)
	})

	t.Run("still being admitted", func(t *testing.T) {
		w := newNet(t)
		slow := &slowKeyStore{key: "slow", entered: make(chan struct{}), release: make(chan struct{})}
		alice := &testNode{t: t, name: "alice", net: w, key: seedKey(1), dir: t.TempDir(), wrap: func(s Store) Store {
			slow.Store = s
			return slow
		}}
		w.chain.fund(alice.key.Address(), 1_000_000)
		alice.start()
		w.mu.Lock()
		w.nodes["alice"] = alice
		w.mu.Unlock()
		t.Cleanup(alice.stop)
		bob := w.add("bob", 2)
		alice.connect(bob)
		id := alice.open(bob, 1000)
		first := make(chan error, 1)
		go func() {
			_, err := alice.n.Pay(context.Background(), PayRequest{Channel: id, Amount: *u256(7), Key: "slow"})
			first <- err
		}()
		<-slow.entered
		err := retry(alice, id, "slow")
		close(slow.release)
		check(t, err, first, alice, id)
	})
}
