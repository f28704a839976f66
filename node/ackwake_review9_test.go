package node

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
)

// TestReview9ConcurrentDuplicatesNeverMissTheAck: many rounds of
// concurrent retries of one key (waitStored, through ackWaiter) on two
// channels at once: every call returns soon after the first paid.
func TestReview9ConcurrentDuplicatesNeverMissTheAck(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	ids := []channel.ID{alice.open(bob, 100000), alice.open(bob, 100000)}
	var wg sync.WaitGroup
	for round := range 60 {
		for c, id := range ids {
			for range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
					defer cancel()
					if _, err := alice.n.Pay(ctx, PayRequest{Channel: id, Amount: *uint256.NewInt(1), Key: fmt.Sprintf("k%d-%d", c, round)}); err != nil {
						t.Errorf("round %d channel %d: %v", round, c, err)
					}
				}()
			}
		}
		wg.Wait()
		if t.Failed() {
			return
		}
	}
	for _, id := range ids {
		if got := u64(alice.channel(id).Sent); got != 60 {
			t.Fatalf("sent %d, want 60", got)
		}
	}
}
