package node

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/store"
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

// BenchmarkRestartManyChannels restarts the receiver of N channels (env
// TINYPAY_BENCH_CHANNELS, default 2000), each paid once, and reports how
// long its Start took (loading the channels) and how long from the
// restart until the payer counts every channel ready to pay again.
func BenchmarkRestartManyChannels(b *testing.B) {
	n := 2000
	if v := os.Getenv("TINYPAY_BENCH_CHANNELS"); v != "" {
		fmt.Sscan(v, &n)
	}
	w := newNet(b)
	many := withConfig(func(c *Config) { c.MaxProposalsPerPeer, c.MaxProposals = n+10, n+10 })
	alice, bob := w.add("alice", 1, many), w.add("bob", 2, many)
	defer alice.stop()
	defer bob.stop()
	alice.connect(bob)
	ids := make([]channel.ID, n)
	var wg sync.WaitGroup
	next := make(chan int)
	var failed sync.Once
	for range 64 {
		wg.Go(func() {
			for i := range next {
				ci, err := alice.n.OpenChannel(context.Background(), bob.key.Address(), crypto.Address{}, *uint256.NewInt(uint64(max(2, 500_000/n))), 0) // within the wallet's 1,000,000
				if err == nil {
					ids[i] = ci.ID
					_, err = alice.n.Pay(context.Background(), PayRequest{Channel: ci.ID, Amount: *uint256.NewInt(1), Key: fmt.Sprint("r", i)})
				}
				if err != nil {
					failed.Do(func() { b.Errorf("channel %d: %v", i, err) })
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if b.Failed() {
		return
	}
	b.ResetTimer()
	var startSum, readySum time.Duration
	for range b.N {
		bob.stop()
		if path := os.Getenv("TINYPAY_BENCH_PROFILE"); path != "" { // the restart's CPU profile
			f, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				b.Fatal(err)
			}
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
		if path := os.Getenv("TINYPAY_BENCH_TRACE"); path != "" { // the restart's execution trace
			f, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			if err := trace.Start(f); err != nil {
				b.Fatal(err)
			}
			defer func() { trace.Stop(); f.Close() }()
		}
		began := time.Now()
		bob.start()
		started := time.Since(began)
		for {
			if info := alice.n.Info(); info.ChannelsReady >= n {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		ready := time.Since(began)
		b.Logf("start %s, ready %s", started.Round(time.Millisecond), ready.Round(time.Millisecond))
		startSum += started
		readySum += ready
	}
	b.ReportMetric(float64(startSum.Milliseconds())/float64(b.N), "start-ms")
	b.ReportMetric(float64(readySum.Milliseconds())/float64(b.N), "ready-ms")
}

// BenchmarkLoadChannels rebuilds the owners of N stored open channels
// (env TINYPAY_BENCH_CHANNELS, default 10000), each with a proof either
// way: the "rebuilding" part of a start, without the store.
func BenchmarkLoadChannels(b *testing.B) {
	n := 10000
	if v := os.Getenv("TINYPAY_BENCH_CHANNELS"); v != "" {
		fmt.Sscan(v, &n)
	}
	w := newNet(b)
	bob := w.add("bob", 2)
	defer bob.stop()
	recs := openRecords(n, bob.key.Address(), true)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		in := slices.Clone(recs)
		if _, err := bob.n.loadChannels(in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/channel")
}

// openRecords returns the records of n open channels from seedKey(1) to
// bob, each with a proof sent by bob and, with received, one received
// from the peer.
func openRecords(n int, bob crypto.Address, received bool) []store.ChannelRecord {
	alice := seedKey(1).Address()
	recs := make([]store.ChannelRecord, n)
	now := time.Now()
	for i := range recs {
		st := channel.State{Self: channel.B, Phase: channel.Open}
		st.Params = channel.Params{ChainID: 1337, Adjudicator: crypto.Address{1}, Participants: [2]crypto.Address{alice, bob}, ChallengePeriod: 100}
		binary.BigEndian.PutUint64(st.Params.Salt[:], uint64(i))
		st.Deposit[channel.A].SetUint64(1000)
		id := st.Params.ID()
		st.Sent = channel.Proof{Channel: id, Nonce: 1, Transferred: *uint256.NewInt(1), Sig: crypto.Signature{4, 5, 6}}
		st.Acked = 1
		recs[i].Proofs[channel.B] = proofRecord(st.Sent)
		if received {
			st.Received = channel.Proof{Channel: id, Nonce: 3, Transferred: *uint256.NewInt(30), Sig: crypto.Signature{1, 2, 3}}
			recs[i].Proofs[channel.A] = proofRecord(st.Received)
		}
		recs[i].Channel = channelRecord(&st, now, now)
	}
	return recs
}

// TestIdleChannelObjects: an idle channel's owner is a few objects on the
// heap, since the collector marks every one of them in every cycle: at
// 100,000 channels, each object more per channel made a payment cost
// microseconds more (a cycle comes every few tens of thousands of
// payments and marks them all). Three for a payer's channel (the owner,
// the channel, its snapshot), one more with a proof received.
func TestIdleChannelObjects(t *testing.T) {
	w := newNet(t)
	bob := w.add("bob", 2)
	defer bob.stop()
	const n = 500
	for _, tc := range []struct {
		received bool
		max      float64
	}{{false, 3}, {true, 4}} {
		recs := openRecords(n, bob.key.Address(), tc.received)
		for _, r := range recs {
			if _, err := bob.n.loadChannel(&r); err != nil {
				t.Fatal(err)
			}
		}
		i := 0
		per := testing.AllocsPerRun(n-1, func() {
			if _, err := bob.n.loadChannel(&recs[i]); err != nil {
				t.Fatal(err)
			}
			i++
		})
		if per > tc.max {
			t.Errorf("with a proof received %v: loading an idle channel makes %.1f objects, want at most %.0f (what is new: go test -run XXX -bench BenchmarkLoadChannels -memprofile)", tc.received, per, tc.max)
		}
	}
}
