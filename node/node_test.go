package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/store"
)

func TestPayAndCooperativeClose(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 1000)
	for i := range 100 {
		p := alice.pay(id, 3, fmt.Sprintf("k%d", i))
		if !p.Complete || p.Nonce == 0 {
			t.Fatalf("payment %d: %+v", i, p)
		}
	}
	a, b := alice.channel(id), bob.channel(id)
	if a.MyBalance.Uint64() != 700 || a.PeerBalance.Uint64() != 300 {
		t.Fatalf("alice sees %d/%d", a.MyBalance.Uint64(), a.PeerBalance.Uint64())
	}
	if b.MyBalance.Uint64() != 300 || b.PeerBalance.Uint64() != 700 || b.ReceivedNonce != a.SentNonce {
		t.Fatalf("bob sees %d/%d nonce %d", b.MyBalance.Uint64(), b.PeerBalance.Uint64(), b.ReceivedNonce)
	}
	// Both logs hold all 100 payments.
	for _, tn := range []*testNode{alice, bob} {
		pays, _, err := tn.n.Payments(0, 1000, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(pays) != 100 {
			t.Fatalf("%s has %d payments", tn.name, len(pays))
		}
		var sum uint64
		for _, p := range pays {
			sum += p.Amount.Uint64()
			if !p.Complete {
				t.Fatalf("%s: incomplete payment %+v", tn.name, p)
			}
		}
		if sum != 300 {
			t.Fatalf("%s: payments add up to %d", tn.name, sum)
		}
	}
	// Bob pays some back, then Bob closes.
	bob.pay(id, 50, "back")
	aliceBefore, bobBefore := w.chain.wallet(alice.key.Address()), w.chain.wallet(bob.key.Address())
	ci, err := bob.n.CloseChannel(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if ci.Phase != channel.Settled {
		t.Fatalf("phase after close: %s", ci.Phase)
	}
	aliceAfter, bobAfter := w.chain.wallet(alice.key.Address()), w.chain.wallet(bob.key.Address())
	if got := u64(aliceAfter) - u64(aliceBefore); got != 750 {
		t.Fatalf("alice paid out %d, want 750", got)
	}
	if got := u64(bobAfter) - u64(bobBefore); got != 250 {
		t.Fatalf("bob paid out %d, want 250", got)
	}
	waitFor(t, "alice sees the close", func() bool { return alice.channel(id).Phase == channel.Settled })
}

func TestIdempotency(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 1000)
	first := alice.pay(id, 10, "same")
	again := alice.pay(id, 10, "same")
	if first.ID != again.ID || first.Nonce != again.Nonce {
		t.Fatalf("retry paid again: %+v vs %+v", first, again)
	}
	if first.Earlier || !again.Earlier {
		t.Fatalf("Earlier: first %v, retry %v; want false, true", first.Earlier, again.Earlier)
	}
	if got := u64(alice.channel(id).Sent); got != 10 {
		t.Fatalf("sent %d after a retried payment", got)
	}
	_, err := alice.n.Pay(context.Background(), PayRequest{Channel: id, Amount: *uint256.NewInt(11), Key: "same"})
	if !errors.Is(err, ErrIdempotency) {
		t.Fatalf("reused key with another amount: %v", err)
	}
	// Concurrent duplicates pay once, and only the call that paid says
	// so: the others answer with its payment as Earlier (the application
	// layer gives their reservations of a spend limit back on it).
	var wg sync.WaitGroup
	dups := make([]PaymentInfo, 8)
	for i := range dups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dups[i] = alice.pay(id, 5, "dup")
		}()
	}
	wg.Wait()
	if got := u64(alice.channel(id).Sent); got != 15 {
		t.Fatalf("sent %d after concurrent duplicates, want 15", got)
	}
	paidHere := 0
	for _, d := range dups {
		if !d.Earlier {
			paidHere++
		}
	}
	if paidHere != 1 {
		t.Fatalf("%d of 8 concurrent duplicates say they paid, want 1", paidHere)
	}
	// After a restart the key is still known.
	alice.restart()
	alice.connect(bob)
	again = alice.pay(id, 5, "dup")
	if got := u64(alice.channel(id).Sent); got != 15 || !again.Complete || !again.Earlier {
		t.Fatalf("sent %d after retry across restart (earlier %v)", got, again.Earlier)
	}
	// A key its caller vouches is new is paid without a look on disk.
	info, err := alice.n.Pay(context.Background(), PayRequest{Channel: id, Amount: *uint256.NewInt(3), Key: "new", New: true})
	if err != nil || info.Earlier || u64(alice.channel(id).Sent) != 18 {
		t.Fatalf("a new key: %+v, %v; sent %d, want 18", info, err, u64(alice.channel(id).Sent))
	}
}

func TestPayRejects(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 100)
	for _, tc := range []struct {
		name string
		req  PayRequest
		want error
	}{
		{"no key", PayRequest{Channel: id, Amount: *uint256.NewInt(1)}, ErrInvalidArgument},
		{"zero amount", PayRequest{Channel: id, Key: "z"}, channel.ErrZeroAmount},
		{"over balance", PayRequest{Channel: id, Amount: *uint256.NewInt(101), Key: "o"}, channel.ErrInsufficientBalance},
		{"unknown channel", PayRequest{Channel: channel.ID{1}, Amount: *uint256.NewInt(1), Key: "u"}, ErrNotFound},
		{"long item id", PayRequest{Channel: id, Amount: *uint256.NewInt(1), Key: "i", ItemID: string(make([]byte, MaxItemIDLen+1))}, ErrInvalidArgument},
		{"no channel with peer", PayRequest{Peer: crypto.Address{9}, Amount: *uint256.NewInt(1), Key: "p"}, ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := alice.n.Pay(context.Background(), tc.req)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Pay = %v, want %v", err, tc.want)
			}
		})
	}
	if ci := alice.channel(id); ci.SentNonce != 0 || ci.MyBalance.Uint64() != 100 {
		t.Fatalf("rejected payments changed the channel: %+v", ci)
	}
	// A failed key is free again.
	if _, err := alice.n.Pay(context.Background(), PayRequest{Channel: id, Amount: *uint256.NewInt(1), Key: "o"}); err != nil {
		t.Fatalf("retry of a failed key: %v", err)
	}
}

func TestConcurrentPaymentsCoalesce(t *testing.T) {
	w := newNet(t)
	// A shallow pipeline fills up under 32 payers, so queued payments share
	// proofs.
	w.cfg = func(c *Config) { c.MaxInFlight = 2 }
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 1_000_000)
	const workers, each = 32, 40
	var wg sync.WaitGroup
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				alice.pay(id, 1, fmt.Sprintf("w%d-%d", g, i))
			}
		}()
	}
	wg.Wait()
	a := alice.channel(id)
	if a.Sent.Uint64() != workers*each {
		t.Fatalf("sent %d", a.Sent.Uint64())
	}
	if a.SentNonce >= workers*each {
		t.Errorf("no coalescing: %d proofs for %d payments", a.SentNonce, workers*each)
	}
	t.Logf("%d payments in %d proofs", workers*each, a.SentNonce)
	waitFor(t, "bob holds every payment", func() bool { return u64(bob.channel(id).Received) == workers*each })
}

func TestReconnectAndRestart(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 10_000)
	for i := range 10 {
		alice.pay(id, 1, fmt.Sprintf("a%d", i))
	}
	// Bob restarts; Alice redials on her own, reestablishes, pays on.
	bob.restart()
	waitFor(t, "alice reconnects", func() bool { return alice.channel(id).Connected })
	if got := u64(bob.channel(id).Received); got != 10 {
		t.Fatalf("bob holds %d after restart", got)
	}
	for i := range 10 {
		alice.pay(id, 1, fmt.Sprintf("b%d", i))
	}
	waitFor(t, "bob holds 20", func() bool { return u64(bob.channel(id).Received) == 20 })
	waitFor(t, "bob logs 20 payments", func() bool { // durable a moment after the total
		pays, _, err := bob.n.Payments(0, 100, id)
		return err == nil && len(pays) == 20
	})
}

func TestSubscribeResumes(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan Event, 100)
	go bob.n.Subscribe(ctx, 0, nil, func(ev Event) error { got <- ev; return nil })
	for i := range 5 {
		alice.pay(id, 1, fmt.Sprintf("k%d", i))
	}
	var seen []uint64
	var payments int
	for payments < 5 {
		select {
		case ev := <-got:
			seen = append(seen, ev.Seq)
			if ev.Payment != nil {
				payments++
			}
		case <-time.After(5 * time.Second):
			t.Fatal("subscription stalled")
		}
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] != seen[i-1]+1 {
			t.Fatalf("gap or repeat in %v", seen)
		}
	}
	// Resume from the middle: exactly the rest.
	mid := seen[len(seen)/2]
	var rest []uint64
	ctx2, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	_ = bob.n.Subscribe(ctx2, mid, nil, func(ev Event) error { rest = append(rest, ev.Seq); return nil })
	if len(rest) == 0 || rest[0] != mid+1 {
		t.Fatalf("resume after %d gave %v", mid, rest)
	}
}

func u64(v uint256.Int) uint64 { return v.Uint64() }

func u256(v uint64) *uint256.Int { return uint256.NewInt(v) }

// TestPeerLostAcknowledgedProofs: Bob's disk goes back in time (a restored
// backup, a disk that lied about fsync). Alice notices on reconnect that Bob
// lacks proofs he acknowledged, and resends the newest with the details of
// every payment it covers, read from her log.
func TestPeerLostAcknowledgedProofs(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 1000)
	for i := range 5 {
		alice.pay(id, 1, fmt.Sprintf("a%d", i))
	}
	bob.stop()
	backup := t.TempDir()
	if err := os.CopyFS(backup, os.DirFS(bob.dir)); err != nil {
		t.Fatal(err)
	}
	bob.start()
	waitFor(t, "alice reconnects", func() bool { return alice.channel(id).Connected })
	for i := range 5 {
		alice.pay(id, 2, fmt.Sprintf("b%d", i))
	}
	bob.stop()
	if err := os.RemoveAll(bob.dir); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(bob.dir, os.DirFS(backup)); err != nil {
		t.Fatal(err)
	}
	bob.start()
	if got := u64(bob.channel(id).Received); got != 5 {
		t.Fatalf("restored bob holds %d", got)
	}
	waitFor(t, "bob gets the lost proofs back", func() bool { return u64(bob.channel(id).Received) == 15 })
	// The payments they cover reach bob's log once his write is durable.
	var pays []PaymentInfo
	waitFor(t, "bob logs the recovered payments", func() bool {
		var err error
		pays, _, err = bob.n.Payments(0, 100, id)
		return err == nil && len(pays) >= 10
	})
	var sum uint64
	for _, p := range pays {
		sum += p.Amount.Uint64()
	}
	if len(pays) != 10 || sum != 15 {
		t.Fatalf("bob's log has %d payments adding up to %d, want 10 and 15", len(pays), sum)
	}
}

// TestStopWithPendingPayments: stopping a node whose payments wait for a
// peer that is gone fails them and returns.
func TestStopWithPendingPayments(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 1000)
	bob.stop()
	errs := make(chan error, 3)
	for i := range 3 {
		go func() {
			_, err := alice.n.Pay(context.Background(), PayRequest{Channel: id, Amount: *u256(1), Key: fmt.Sprint("p", i)})
			errs <- err
		}()
	}
	waitFor(t, "the payments are pending", func() bool { return alice.n.pays.count() == 3 })
	done := make(chan struct{})
	go func() { alice.stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Stop hangs with payments pending")
	}
	for range 3 {
		if err := <-errs; !errors.Is(err, ErrStopped) {
			t.Fatalf("pending payment ended with %v, want ErrStopped", err)
		}
	}
}

// TestNoWritesAfterStop checks that once Stop has waited for the queued
// writes, a late one (a peer's proof read just then) is refused with
// ErrStopped and its callback still runs (whoever waits on it learns), and
// the node is not marked failed: nothing was lost.
func TestNoWritesAfterStop(t *testing.T) {
	w := newNet(t)
	a := w.add("alice", 1)
	n := a.n
	n.Stop()
	got := make(chan error, 1)
	n.commitAsync(store.NewBatch(), func(_ store.Result, err error) { got <- err })
	select {
	case err := <-got:
		if !errors.Is(err, ErrStopped) {
			t.Fatalf("late write: %v, want ErrStopped", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("late write's callback never ran")
	}
	if p := n.failed.Load(); p != nil {
		t.Fatalf("a refused late write failed the node: %v", *p)
	}
}

func TestConfigRefusesARedialMaxBelowRedial(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Redial, cfg.RedialMax = time.Minute, time.Second
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "longest redial wait") {
		t.Fatalf("validate: %v", err)
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("the default config: %v", err)
	}
}

// A retry whose caller gives up while the first call's payment of its key
// still waits in the channel's queue leaves that payment alone: the first
// call pays it. (A retry dropped it, and the first call failed with "not
// sent" and the retry's cancellation.)
func TestRetryGivingUpLeavesTheFirstCallsPayment(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 1000)
	bob.stop()
	waitFor(t, "alice sees bob gone", func() bool { return !alice.channel(id).Connected })
	first := make(chan error, 1)
	go func() {
		_, err := alice.n.Pay(context.Background(), PayRequest{Channel: id, Amount: *uint256.NewInt(7), Key: "k"})
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
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := alice.n.Pay(ctx, PayRequest{Channel: id, Amount: *uint256.NewInt(7), Key: "k"}); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrPending) {
		t.Fatalf("the retry that gave up: %v; want its deadline, pending (the first call's payment still pays)", err)
	}
	select {
	case err := <-first:
		t.Fatalf("the first call ended before bob came back: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	bob.start()
	alice.connect(bob)
	select {
	case err := <-first:
		if err != nil {
			t.Fatalf("the first call: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the first call did not pay after bob came back")
	}
	if got := u64(alice.channel(id).Sent); got != 7 {
		t.Fatalf("sent %d, want 7", got)
	}
}

// The same while the first call's payment is still being admitted (its
// key looked up on disk): the retry that gives up gets ErrPending, and the
// first call pays.
func TestRetryGivingUpWhileTheKeyIsAdmitted(t *testing.T) {
	alice, id, slow, first := slowAdmission(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := alice.n.Pay(ctx, PayRequest{Channel: id, Amount: *u256(7), Key: "slow"})
	close(slow.release)
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
	if got := u64(alice.channel(id).Sent); got != 7 {
		t.Fatalf("sent %d, want 7: the key's payment moved money", got)
	}
}
