package node

import (
	"context"
	"fmt"
	"testing"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/settlement"
)

// TestMalloryClosesWithStaleProof: Mallory pays Alice, then force-closes
// claiming she paid nothing, while Alice is down. Alice restarts inside the
// challenge period; her watcher presents Mallory's newest proof, settles
// after the period, and the chain pays Alice everything she was paid.
func TestMalloryClosesWithStaleProof(t *testing.T) {
	w := newNet(t)
	alice, mallory := w.add("alice", 1), w.add("mallory", 3)
	mallory.connect(alice)
	id := mallory.open(alice, 1000)
	for i := range 20 {
		mallory.pay(id, 10, fmt.Sprintf("m%d", i))
	}
	alice.pay(id, 15, "a0")
	waitFor(t, "mallory holds alice's proof", func() bool { return u64(mallory.channel(id).Received) == 15 })

	alice.stop()
	ms := mustChannel(t, mallory).state()
	params := settlement.Params(ms.Params)
	// Mallory presents Alice's proof (it favours her) but none of her own.
	rcv := ms.Received
	if _, err := mallory.chain.ForceClose(context.Background(), params, settlementProof(rcv), settlement.Proof{}); err != nil {
		t.Fatal(err)
	}
	w.chain.advance(30) // Alice is down for a while, inside the period (100 s)
	aliceWallet := u64(w.chain.wallet(alice.key.Address()))
	alice.start()
	waitFor(t, "alice presents mallory's newest proof", func() bool {
		st := mustChannel(t, alice).state()
		return st.Phase == channel.Closed && st.Dispute != nil && st.Dispute.Transferred[channel.A].Uint64() == 200
	})
	w.chain.advance(100)
	waitFor(t, "alice's watcher settles", func() bool { return alice.channel(id).Phase == channel.Settled })
	// Alice deposited nothing, received 200 and paid 15.
	if got := u64(w.chain.wallet(alice.key.Address())) - aliceWallet; got != 185 {
		t.Fatalf("alice was paid %d, want 185", got)
	}
	waitFor(t, "mallory sees the settlement", func() bool { return mallory.channel(id).Phase == channel.Settled })
}

// TestForceCloseAndSettleByOperator covers the operator path: force close,
// then settle once the period is over (refused before).
func TestForceCloseAndSettleByOperator(t *testing.T) {
	w := newNet(t)
	w.cfg = func(c *Config) { c.ChainPoll = 1 << 40 } // no watcher: the operator does it
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	ctx := context.Background()
	ci, err := alice.n.OpenChannel(ctx, bob.key.Address(), [20]byte{}, *u256(500), 0)
	if err != nil {
		t.Fatal(err)
	}
	id := ci.ID
	bob.reconcile(id)
	alice.pay(id, 120, "x")
	ci, err = alice.n.ForceClose(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if ci.Phase != channel.Closed || ci.SettleAfter == 0 {
		t.Fatalf("after force close: %s settle after %d", ci.Phase, ci.SettleAfter)
	}
	if _, err := alice.n.Settle(ctx, id); err == nil {
		t.Fatal("settled inside the challenge period")
	}
	// Right after the period the chain allows it, whatever the node's own
	// (here: never updated) view of the chain's time says.
	w.chain.mu.Lock()
	w.chain.time = w.chain.channels[id].oc.SettleAfter
	w.chain.mu.Unlock()
	w.chain.advance(1)
	before := u64(w.chain.wallet(bob.key.Address()))
	if ci, err = alice.n.Settle(ctx, id); err != nil {
		t.Fatal(err)
	}
	if ci.Phase != channel.Settled {
		t.Fatalf("phase %s", ci.Phase)
	}
	if got := u64(w.chain.wallet(bob.key.Address())) - before; got != 120 {
		t.Fatalf("bob got %d, want 120", got)
	}
	// Asked again (an operator's retry, or after the node's own duty
	// settled it): answered with the settled channel, nothing paid twice.
	if ci, err = alice.n.Settle(ctx, id); err != nil || ci.Phase != channel.Settled {
		t.Fatalf("settle of a settled channel: %s, %v", ci.Phase, err)
	}
	if got := u64(w.chain.wallet(bob.key.Address())) - before; got != 120 {
		t.Fatalf("bob got %d after a second settle, want 120", got)
	}
}

func TestWithdrawWhileOpen(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 1000)
	alice.pay(id, 100, "p")
	before := u64(w.chain.wallet(alice.key.Address()))
	ci, err := alice.n.Withdraw(context.Background(), id, *u256(300))
	if err != nil {
		t.Fatal(err)
	}
	if u64(ci.MyBalance) != 600 || u64(ci.MyWithdrawn) != 300 {
		t.Fatalf("after withdraw: balance %d withdrawn %d", u64(ci.MyBalance), u64(ci.MyWithdrawn))
	}
	if got := u64(w.chain.wallet(alice.key.Address())) - before; got != 300 {
		t.Fatalf("wallet grew by %d", got)
	}
	waitFor(t, "bob sees the withdrawal", func() bool { return u64(bob.channel(id).PeerWithdrawn) == 300 })
	// More than what is left is refused before anything is signed.
	if _, err := alice.n.Withdraw(context.Background(), id, *u256(601)); err == nil {
		t.Fatal("withdrew more than the balance")
	}
	alice.pay(id, 600, "rest")
	if _, err := alice.n.Pay(context.Background(), PayRequest{Channel: id, Amount: *u256(1), Key: "over"}); err == nil {
		t.Fatal("paid beyond the balance after a withdrawal")
	}
}

// TestDepositAndWithdrawalLoggedOnce: this node's own deposit and
// withdrawal are each one event in its log, though it learns of each
// twice (its transaction returns, and its watcher sees it on chain), in
// either order; the peer logs each once too.
func TestDepositAndWithdrawalLoggedOnce(t *testing.T) {
	for _, watcherFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("watcher first %v", watcherFirst), func(t *testing.T) {
			w := newNet(t)
			alice, bob := w.add("alice", 1), w.add("bob", 2)
			alice.connect(bob)
			id := alice.open(bob, 1000)
			if !watcherFirst {
				alice.chain.deaf.Store(true) // the transactions return first
			}
			if _, err := alice.n.Deposit(context.Background(), id, *u256(500)); err != nil {
				t.Fatal(err)
			}
			if _, err := alice.n.Withdraw(context.Background(), id, *u256(300)); err != nil {
				t.Fatal(err)
			}
			alice.chain.deaf.Store(false)
			w.chain.mu.Lock()
			head := w.chain.block
			w.chain.mu.Unlock()
			for _, tn := range []*testNode{alice, bob} {
				waitFor(t, tn.name+"'s watcher passes the withdrawal", func() bool { return tn.n.Info().ChainHead >= head })
				log, err := tn.st.Log(0, 1000)
				if err != nil {
					t.Fatal(err)
				}
				// By total: the deposit made the total 1500 (the
				// open's 1000 may be an event of its own).
				count := map[string]int{}
				for _, e := range log {
					if ce := e.GetChannelEvent(); ce != nil {
						count[fmt.Sprintf("%s %d", ce.GetKind(), new(uint256.Int).SetBytes(ce.GetAmount()).Uint64())]++
					}
				}
				if count["CHANNEL_EVENT_KIND_DEPOSITED 1500"] != 1 || count["CHANNEL_EVENT_KIND_WITHDRAWN 300"] != 1 {
					t.Fatalf("%s logged %v, want one deposit to 1500 and one withdrawal of 300", tn.name, count)
				}
			}
		})
	}
}

// TestPeerRequestsAfterUnseenWithdrawal checks that a peer's close or
// withdrawal right after its withdrawal went through on chain is accepted
// even though this node's watcher has not seen that withdrawal yet: the
// node reads the chain instead of refusing with "a withdrawal is already
// pending".
func TestPeerRequestsAfterUnseenWithdrawal(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 1000)
	alice.pay(id, 100, "p")
	bob.chain.deaf.Store(true)
	for _, amount := range []uint64{300, 200} { // the second needs the first on chain
		if _, err := alice.n.Withdraw(context.Background(), id, *u256(amount)); err != nil {
			t.Fatalf("withdraw %d: %v", amount, err)
		}
	}
	before := u64(w.chain.wallet(bob.key.Address()))
	if _, err := alice.n.CloseChannel(context.Background(), id); err != nil {
		t.Fatalf("close right after the withdrawals: %v", err)
	}
	if got := u64(w.chain.wallet(bob.key.Address())) - before; got != 100 {
		t.Fatalf("bob was paid out %d on close, want 100", got)
	}
}

// state returns a snapshot of the channel's state, from its owner.
func (c *chanActor) state() channel.State {
	var st channel.State
	ctx, cancel := context.WithTimeout(context.Background(), watchdogLimit)
	defer cancel()
	if err := c.call(ctx, func() { st = c.ch.State() }); err != nil {
		panic("channel owner does not answer: " + err.Error())
	}
	return st
}

func mustChannel(t *testing.T, tn *testNode) *chanActor {
	t.Helper()
	cs := tn.n.chans.all()
	if len(cs) != 1 {
		t.Fatalf("%s has %d channels", tn.name, len(cs))
	}
	return cs[0]
}
