package node

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
	"github.com/tinypay/tinypay/store"
)

// TestAmountsInUnits checks the two rules about amounts a person reads and
// writes: an amount without an asset to a peer with channels in two assets
// is refused (1 could be 1 wei or a millionth of a dollar) and pays
// nothing; and a payment beyond the balance is refused in the channel's
// units with its symbol, not in base units.
func TestAmountsInUnits(t *testing.T) {
	usd := Asset{Address: crypto.Address{0x05, 0xd}, Symbol: "USD", Decimals: 6}
	w := newNet(t)
	w.cfg = func(c *Config) { c.Assets = []Asset{usd} }
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	ethID := alice.open(bob, 500_000)
	var usdCh ChannelInfo
	var err error
	guard(t, "open USD", func() {
		usdCh, err = alice.n.OpenChannel(context.Background(), bob.key.Address(), usd.Address, *uint256.NewInt(250_000), 0)
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bob sees the USD channel", func() bool {
		ci, err := bob.n.Channel(usdCh.ID)
		return err == nil && ci.Phase == channel.Open
	})

	// A bare amount: refused, as an invalid argument, naming both assets.
	_, err = alice.n.Pay(context.Background(), PayRequest{Peer: bob.key.Address(), AnyAsset: true, Amount: *uint256.NewInt(1), Key: "bare"})
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "ETH and USD") || !strings.Contains(err.Error(), "name the asset") {
		t.Fatalf("bare amount to a peer with two assets: %v", err)
	}
	if got := alice.channel(ethID).Sent; !got.IsZero() {
		t.Fatalf("the refused bare amount moved %s", got.Dec())
	}
	// Naming the asset pays.
	if _, err := alice.n.Pay(context.Background(), PayRequest{Peer: bob.key.Address(), Asset: usd.Address, Amount: *uint256.NewInt(50_000), Key: "named"}); err != nil {
		t.Fatal(err)
	}

	// Too much: the error is in USD.
	_, err = alice.n.Pay(context.Background(), PayRequest{Channel: usdCh.ID, Amount: *uint256.NewInt(300_000), Key: "too-much"})
	var be *BalanceError
	if !errors.As(err, &be) || !errors.Is(err, channel.ErrInsufficientBalance) {
		t.Fatalf("paying more than the balance: %v", err)
	}
	if want := "needs 0.3 USD, this node has 0.2 USD in the channel"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
	// A withdrawal beyond the balance too.
	_, err = alice.n.Withdraw(context.Background(), usdCh.ID, *uint256.NewInt(200_001))
	if !errors.Is(err, channel.ErrInsufficientBalance) || !strings.Contains(err.Error(), "0.200001 USD") {
		t.Fatalf("withdrawing more than the balance: %v", err)
	}
}

// TestRefundRecord: a refund is found under its salted id, and under the
// unsalted one that refunds recorded before the salt have; a record under
// those ids that is no incoming refund of the payment is not taken for
// one.
func TestRefundRecord(t *testing.T) {
	w := newNet(t)
	a := w.add("alice", 1)
	salted, unsalted, outgoing, other := randomID(), randomID(), randomID(), randomID()
	b := store.NewBatch()
	for _, r := range []struct {
		id, of [32]byte
		dir    storev1.Direction
	}{
		{a.n.refundID(salted), salted, storev1.Direction_DIRECTION_INCOMING},
		{unsaltedRefundID(unsalted), unsalted, storev1.Direction_DIRECTION_INCOMING},
		{unsaltedRefundID(outgoing), [32]byte{}, storev1.Direction_DIRECTION_OUTGOING},
		{a.n.refundID(other), randomID(), storev1.Direction_DIRECTION_INCOMING},
	} {
		p := &storev1.Payment{Id: r.id[:], ChannelId: make([]byte, 32), Direction: r.dir, Amount: amountBytes(u256(1)),
			Cumulative: amountBytes(u256(1)), Nonce: 1, TimeUnixNano: 1, Memo: "refunded"}
		if r.of != ([32]byte{}) {
			p.RefundOf = r.of[:]
		}
		if err := b.AppendLog(&storev1.LogEntry{TimeUnixNano: 1, Entry: &storev1.LogEntry_Payment{Payment: p}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.st.Commit(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		id       [32]byte
		refunded bool
	}{{"salted", salted, true}, {"unsalted", unsalted, true}, {"outgoing record under the id", outgoing, false}, {"refund of another payment under the id", other, false}, {"none", randomID(), false}} {
		rec, err := a.n.refundRecord(c.id)
		if err != nil || (rec != nil) != c.refunded {
			t.Errorf("%s: refund record %v, %v; want found %v", c.name, rec, err, c.refunded)
		}
		var refused *RefusedError
		if err := a.n.refundOf(c.id); errors.As(err, &refused) != c.refunded {
			t.Errorf("%s: refundOf %v; want refused %v", c.name, err, c.refunded)
		}
	}
}

// incomingID's salt is the key's own: the same on every start (a proof
// received again after a restore gets the same ids), another key's
// differs, and the ids change with it.
func TestIncomingIDSalt(t *testing.T) {
	k1, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	k2, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	a, errA := incomingIDSalt(k1)
	again, errAgain := incomingIDSalt(k1)
	b, errB := incomingIDSalt(k2)
	if err := errors.Join(errA, errAgain, errB); err != nil {
		t.Fatal(err)
	}
	if a != again || a == b || a == (crypto.Hash{}) {
		t.Fatalf("salts %x, %x (same key), %x (another key)", a, again, b)
	}
	var id channel.ID
	if incomingID(a, id, 1, 0) == incomingID(b, id, 1, 0) || incomingID(a, id, 1, 0) == incomingID(a, id, 2, 0) || incomingID(a, id, 1, 0) == incomingID(a, id, 1, 1) {
		t.Fatal("incomingID does not depend on its salt, nonce and index")
	}
}

// TestIncomingReceipt: the receipt this node signed for an incoming
// payment is read under the payment's local id; one written before those
// were keyed so (under the payer's id) is still found, but only when the
// local id has none.
func TestIncomingReceipt(t *testing.T) {
	w := newNet(t)
	a := w.add("alice", 1)
	local, legacy, remote, none := randomID(), randomID(), randomID(), randomID()
	b := store.NewBatch()
	for i, id := range [][32]byte{local, remote} {
		if err := b.PutReceipt(&storev1.Receipt{PaymentId: id[:], Time: uint64(i + 1), Signature: make([]byte, 65)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.st.Commit(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		id, payer [32]byte
		want      uint64 // the receipt's time; 0: none
	}{
		{"under the local id", local, remote, 1},
		{"written before, under the payer's id", legacy, remote, 2},
		{"none", none, randomID(), 0},
	} {
		rc, err := a.n.incomingReceipt(&storev1.Payment{Id: c.id[:], RemoteId: c.payer[:]})
		switch {
		case c.want == 0 && !errors.Is(err, store.ErrNotFound):
			t.Errorf("%s: %v, %v; want not found", c.name, rc, err)
		case c.want != 0 && (err != nil || rc.GetTime() != c.want):
			t.Errorf("%s: %v, %v; want the receipt of time %d", c.name, rc, err, c.want)
		}
	}
}
