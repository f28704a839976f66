package node

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
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

// BenchmarkPayManyChannels measures throughput with 64 channels between
// Alice and Bob, each with 4 concurrent payers: the per-channel costs
// (mailbox goroutines, batches, snapshots) that one busy channel hides.
func BenchmarkPayManyChannels(b *testing.B) {
	w := newNet(b)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	defer alice.stop()
	defer bob.stop()
	alice.connect(bob)
	const chans, payers = 64, 4
	ids := make([]channel.ID, chans)
	for i := range ids {
		ids[i] = alice.open(bob, 10_000)
	}
	ctx := context.Background()
	b.ResetTimer()
	var wg sync.WaitGroup
	per := b.N/(chans*payers) + 1
	for c := range chans {
		for g := range payers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range per {
					if _, err := alice.n.Pay(ctx, PayRequest{Channel: ids[c], Amount: *uint256.NewInt(1), Key: fmt.Sprint("m", c, "-", g, "-", i)}); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	b.ReportMetric(float64(per*chans*payers)/b.Elapsed().Seconds(), "payments/s")
}
