package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tinypay/tinypay/store/pgtest"
)

// BenchmarkChannelPayments is the payer's side of many concurrent
// payments on one channel, as a node writes them: callers look up each
// payment's idempotency key (new: not found), a channel owner covers up
// to 512 queued payments with one proof and commits them as one batch
// (the payments' log entries and indexes, the proof), with up to 8 such
// batches in flight; durable, fsync on. It reports payments per second
// and, on PostgreSQL, the server's CPU per payment.
//
// Run with: go test -run '^$' -bench BenchmarkChannelPayments -benchtime 40000x ./store/
func BenchmarkChannelPayments(b *testing.B) {
	for _, e := range testEngines {
		b.Run(e.name, func(b *testing.B) { benchChannelPayments(b, e) })
	}
}

func benchChannelPayments(b *testing.B, e testEngine) {
	const (
		callers  = 256
		maxParts = 512
		inFlight = 8
	)
	cfg := e.config(b)
	cfg.SyncWrites = true
	if e.postgres() {
		pgtest.SetFsync(b, true)
		b.Cleanup(func() { pgtest.SetFsync(b, false) })
	}
	s := openTest(b, cfg)
	queue := make(chan string, callers)
	var next sync.Mutex
	issued := 0
	take := func() (int, bool) {
		next.Lock()
		defer next.Unlock()
		if issued >= b.N {
			return 0, false
		}
		issued++
		return issued, true
	}
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), pgtest.CPU()
	var wg sync.WaitGroup
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i, ok := take()
				if !ok {
					return
				}
				key := fmt.Sprintf("bench-%d-%d", c, i)
				if _, err := s.PaymentByIdempotencyKey(key); !errors.Is(err, ErrNotFound) {
					b.Errorf("PaymentByIdempotencyKey(%q): %v, want ErrNotFound", key, err)
				}
				queue <- key
			}
		}()
	}
	go func() { wg.Wait(); close(queue) }()
	slots := make(chan struct{}, inFlight)
	var done sync.WaitGroup
	var nonce uint64
	for key := range queue {
		keys := []string{key}
	more:
		for len(keys) < maxParts {
			select {
			case k, ok := <-queue:
				if !ok {
					break more
				}
				keys = append(keys, k)
			default:
				break more
			}
		}
		slots <- struct{}{}
		batch := paymentBatch(b, keys...)
		nonce++
		if err := batch.PutProof(0, testProof(1, nonce)); err != nil {
			b.Fatal(err)
		}
		done.Add(1)
		if err := s.CommitAsync(batch, func(_ Result, err error) {
			if err != nil {
				b.Error(err)
			}
			<-slots
			done.Done()
		}); err != nil {
			b.Fatal(err)
		}
	}
	done.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "payments/s")
	b.ReportMetric(float64(nonce), "proofs")
	if e.postgres() {
		b.ReportMetric(float64((pgtest.CPU()-cpu0).Microseconds())/float64(b.N), "db-µs/payment")
	}
}
