package node

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/holiman/uint256"
)

// BenchmarkPaySequential measures one payment at a time through two nodes
// with real stores (fsync on) over an in-memory pipe: the node's own share
// of a payment's latency, without the network and the control API.
func BenchmarkPaySequential(b *testing.B) {
	w := newNet(b)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	defer alice.stop()
	defer bob.stop()
	alice.connect(bob)
	id := alice.open(bob, 1_000_000)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		if _, err := alice.n.Pay(ctx, PayRequest{Channel: id, Amount: *uint256.NewInt(1), Key: fmt.Sprint("s", i)}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPayConcurrent measures throughput with 256 concurrent payers on
// one channel (coalescing).
func BenchmarkPayConcurrent(b *testing.B) {
	w := newNet(b)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	defer alice.stop()
	defer bob.stop()
	alice.connect(bob)
	id := alice.open(bob, 1_000_000)
	ctx := context.Background()
	b.ResetTimer()
	var wg sync.WaitGroup
	per := b.N/256 + 1
	for g := range 256 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				if _, err := alice.n.Pay(ctx, PayRequest{Channel: id, Amount: *uint256.NewInt(1), Key: fmt.Sprint("c", g, "-", i)}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(per*256)/b.Elapsed().Seconds(), "payments/s")
}
