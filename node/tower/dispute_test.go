package tower

import (
	"testing"
	"time"

	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/settlement"
)

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTowerWinsDispute: Alice, the payer, force-closes
// with a stale proof of her payments to Bob while Bob is away; the tower
// presents the newest one it holds, paying the gas itself, and the
// settlement pays Bob the newest amount.
func TestTowerWinsDispute(t *testing.T) {
	w := newWorld(t)
	c := w.chain
	bob := c.Bob.Address()
	p := w.openChannel()
	stale := proof(t, c.Alice, p, 1, 100)
	for n := uint64(1); n <= 4; n++ {
		if ack := w.srv.Submit(w.ctx(), bob, msg(p, proof(t, c.Alice, p, n, 100*n))); ack.GetCode() != codeOK {
			t.Fatalf("proof %d refused: %s", n, ack.GetReason())
		}
	}
	w.srv.Start()
	towerBefore, err := w.tower.Balance(w.ctx(), c.Carol.Address(), crypto.Address{})
	if err != nil {
		t.Fatal(err)
	}
	bobBefore, err := w.tower.Balance(w.ctx(), bob, crypto.Address{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.alice.ForceClose(w.ctx(), settlement.Params(p), settlement.Proof{},
		settlement.Proof{Nonce: stale.Nonce, Transferred: stale.Transferred, Sig: stale.Sig}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the tower to present the newest proof", func() bool {
		ch, err := w.alice.Channel(w.ctx(), p.ID())
		return err == nil && ch.Transferred[0].Uint64() == 400
	})
	towerAfter, err := w.tower.Balance(w.ctx(), c.Carol.Address(), crypto.Address{})
	if err != nil {
		t.Fatal(err)
	}
	if !towerAfter.Lt(&towerBefore) {
		t.Fatalf("the tower's account paid no gas (%s before, %s after)", towerBefore.Dec(), towerAfter.Dec())
	}
	c.Advance(t, p.ChallengePeriod+1)
	if _, err := w.alice.Settle(w.ctx(), settlement.Params(p)); err != nil {
		t.Fatal(err)
	}
	bobAfter, err := w.tower.Balance(w.ctx(), bob, crypto.Address{})
	if err != nil {
		t.Fatal(err)
	}
	var got = bobAfter
	got.Sub(&got, &bobBefore)
	if got.Uint64() != 400 {
		t.Fatalf("Bob was paid %s wei, want 400", got.Dec())
	}
}

// TestTowerPresentsAfterRestart: a tower that stops during a challenge
// period presents the newest proof once it runs again, and one that is
// handed a proof of a channel already force-closed presents it at once.
func TestTowerPresentsAfterRestart(t *testing.T) {
	w := newWorld(t)
	c := w.chain
	bob := c.Bob.Address()
	p := w.openChannel()
	if ack := w.srv.Submit(w.ctx(), bob, msg(p, proof(t, c.Alice, p, 1, 100))); ack.GetCode() != codeOK {
		t.Fatalf("refused: %s", ack.GetReason())
	}
	w.srv.Start()
	if _, err := w.alice.ForceClose(w.ctx(), settlement.Params(p), settlement.Proof{}, settlement.Proof{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the tower to present its proof", func() bool {
		ch, err := w.alice.Channel(w.ctx(), p.ID())
		return err == nil && ch.Transferred[0].Uint64() == 100
	})
	w.close()
	w.open()
	// A newer proof reaches the tower after the close (and its restart).
	if ack := w.srv.Submit(w.ctx(), bob, msg(p, proof(t, c.Alice, p, 2, 200))); ack.GetCode() != codeOK {
		t.Fatalf("refused: %s", ack.GetReason())
	}
	w.srv.Start()
	waitFor(t, "the tower to present the newer proof", func() bool {
		ch, err := w.alice.Channel(w.ctx(), p.ID())
		return err == nil && ch.Transferred[0].Uint64() == 200
	})

	// A channel force-closed before the tower held anything of it.
	q := w.openChannel()
	rc, err := w.alice.ForceClose(w.ctx(), settlement.Params(q), settlement.Proof{}, settlement.Proof{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the tower's watcher to pass the close", func() bool {
		cur, ok, err := w.st.Cursor()
		return err == nil && ok && cur.Block >= rc.Block
	})
	if ack := w.srv.Submit(w.ctx(), bob, msg(q, proof(t, c.Alice, q, 3, 300))); ack.GetCode() != codeOK {
		t.Fatalf("refused: %s", ack.GetReason())
	}
	waitFor(t, "the tower to present a proof of a channel closed before it held it", func() bool {
		ch, err := w.alice.Channel(w.ctx(), q.ID())
		return err == nil && ch.Transferred[0].Uint64() == 300
	})
}
