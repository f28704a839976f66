package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tinypay/tinypay/store/pgtest"
)

// BenchmarkCommit measures commits per second of small batches (a payment
// and a proof, the shape of one payment), each reported durable:
//
//   - sequential: one caller, so every commit is its own transaction and,
//     with sync, its own fsync;
//   - concurrent64: 64 callers at once, sharing group commits;
//
// on each engine: badger, and PostgreSQL on the test binary's server
// (over its unix socket, with the server's fsync on for sync=true, as
// SyncWrites=false turns synchronous_commit off).
//
// Run with: go test -run '^$' -bench BenchmarkCommit ./store/
func BenchmarkCommit(b *testing.B) {
	for _, e := range testEngines {
		for _, sync := range []bool{true, false} {
			for _, callers := range []int{1, 64} {
				name := fmt.Sprintf("%s/sync=%v/callers=%d", e.name, sync, callers)
				b.Run(name, func(b *testing.B) { benchCommit(b, e, sync, callers) })
			}
		}
	}
}

func benchCommit(b *testing.B, e testEngine, sync bool, callers int) {
	cfg := e.config(b)
	cfg.SyncWrites = sync
	if e.postgres() && sync {
		pgtest.SetFsync(b, true)
		b.Cleanup(func() { pgtest.SetFsync(b, false) })
	}
	s := openTest(b, cfg)
	var worker atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	commitLoop := func(w int64, next func() bool) {
		ch := byte(w % 250)
		side := uint32(w / 250)
		var nonce uint64
		for i := 0; next(); i++ {
			nonce++
			batch := NewBatch()
			if err := batch.AppendLog(testPayment(fmt.Sprintf("w%d-%d", w, i))); err != nil {
				b.Fatal(err)
			}
			if err := batch.PutProof(side, testProof(ch, nonce)); err != nil {
				b.Fatal(err)
			}
			if _, err := s.Commit(context.Background(), batch); err != nil {
				b.Fatal(err)
			}
		}
	}
	if callers == 1 {
		n := 0
		commitLoop(0, func() bool { n++; return n <= b.N })
	} else {
		b.SetParallelism((callers + 1) / max(1, runtimeProcs()))
		b.RunParallel(func(pb *testing.PB) { commitLoop(worker.Add(1)-1, pb.Next) })
	}
	elapsed := time.Since(start)
	b.StopTimer()
	st := s.Stats()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "commits/s")
	if st.Txns > 0 {
		b.ReportMetric(float64(st.Batches)/float64(st.Txns), "batches/txn")
	}
}
