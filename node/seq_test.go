package node

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/holiman/uint256"
)

// TestPaymentSeqNamesItsOwnEntry: a payment's Seq is the log entry of that
// payment, also when one step signs several proofs (MaxParts 2 with many
// payments queued: each proof's payments follow the one before in the
// same batch) and when a step holds other entries before them.
func TestPaymentSeqNamesItsOwnEntry(t *testing.T) {
	w := newNet(t)
	small := withConfig(func(c *Config) { c.MaxParts = 2 })
	alice, bob := w.add("alice", 1, small), w.add("bob", 2)
	defer alice.stop()
	defer bob.stop()
	alice.connect(bob)
	id := alice.open(bob, 1_000_000)
	var wg sync.WaitGroup
	infos := make([]PaymentInfo, 64)
	for i := range infos {
		wg.Go(func() {
			info, err := alice.n.Pay(context.Background(), PayRequest{Channel: id, Amount: *uint256.NewInt(1), Key: fmt.Sprint("seq", i)})
			if err != nil {
				t.Error(err)
			}
			infos[i] = info
		})
	}
	wg.Wait()
	nonces := map[uint64]bool{}
	for _, info := range infos {
		e, err := alice.st.LogEntry(info.Seq)
		if err != nil {
			t.Fatalf("payment %x: seq %d: %v", info.ID[:4], info.Seq, err)
		}
		if got := e.GetPayment().GetId(); !bytes.Equal(got, info.ID[:]) {
			t.Fatalf("payment %x (key %s, nonce %d) says seq %d, which is payment %x", info.ID[:4], info.Key, info.Nonce, info.Seq, got)
		}
		nonces[info.Nonce] = true
	}
	if len(nonces) < 2 {
		t.Fatalf("64 payments rode on %d proofs: the test wants several", len(nonces))
	}
}
