package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
)

// TestGroupCommit runs many concurrent committers with fsync on and checks
// that they share transactions and that every caller gets the seqs of its
// own entries.
func TestGroupCommit(t *testing.T) { forEachEngine(t, testGroupCommit) }

func testGroupCommit(t *testing.T, eng testEngine) {
	const (
		callers   = 64
		perCaller = 20
	)
	tests := []struct {
		name  string
		async bool
	}{
		// Commit: blocking callers.
		{"commit", false},
		// CommitAsync: callers that wait on their callback.
		{"commit async", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := eng.config(t)
			cfg.SyncWrites = true
			s := openTest(t, cfg)
			var (
				wg      sync.WaitGroup
				mu      sync.Mutex
				seqOf   = make(map[string]uint64)
				errs    = make(chan error, callers)
				barrier = make(chan struct{})
			)
			for c := range callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-barrier
					for i := range perCaller {
						keys := []string{fmt.Sprintf("c%d-%d-a", c, i), fmt.Sprintf("c%d-%d-b", c, i)}
						b := paymentBatch(t, keys...)
						if err := b.PutProof(uint32(c%2), testProof(byte(c/2), uint64(i+1))); err != nil {
							errs <- err
							return
						}
						var res Result
						var err error
						if tt.async {
							var cbErr error
							done := make(chan struct{})
							err = s.CommitAsync(b, func(r Result, e error) { res, cbErr = r, e; close(done) })
							if err == nil {
								<-done
								err = cbErr
							}
						} else {
							res, err = s.Commit(context.Background(), b)
						}
						if err != nil {
							errs <- err
							return
						}
						if len(res.Seqs) != 2 || res.Seqs[1] != res.Seqs[0]+1 {
							errs <- fmt.Errorf("caller %d got seqs %v, want two consecutive", c, res.Seqs)
							return
						}
						mu.Lock()
						seqOf[keys[0]], seqOf[keys[1]] = res.Seqs[0], res.Seqs[1]
						mu.Unlock()
					}
				}()
			}
			close(barrier)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			const total = callers * perCaller
			st := s.Stats()
			t.Logf("%d batches in %d groups, %d engine transactions", st.Batches, st.Groups, st.Txns)
			if st.Batches != total || st.Rejected != 0 {
				t.Fatalf("stats %+v, want %d batches, none rejected", st, total)
			}
			if st.Txns > total/4 {
				t.Errorf("%d transactions for %d batches: commits are not grouped", st.Txns, total)
			}
			if st.LastSeq != 2*total {
				t.Errorf("LastSeq %d, want %d", st.LastSeq, 2*total)
			}
			// Each caller's seqs hold that caller's entries, and together they
			// are exactly 1..2*total.
			seen := make(map[uint64]bool)
			for key, seq := range seqOf {
				e, err := s.LogEntry(seq)
				if err != nil {
					t.Fatal(err)
				}
				if got := e.GetPayment().GetIdempotencyKey(); got != key {
					t.Fatalf("seq %d holds %q, but the caller of %q was told it", seq, got, key)
				}
				seen[seq] = true
			}
			for seq := uint64(1); seq <= 2*total; seq++ {
				if !seen[seq] {
					t.Fatalf("seq %d was given to no caller", seq)
				}
			}
			if err := s.Verify(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCallbackOrder checks that callbacks run in commit order with
// ascending seqs, on one goroutine.
func TestCallbackOrder(t *testing.T) { forEachEngine(t, testCallbackOrder) }

func testCallbackOrder(t *testing.T, e testEngine) {
	s := openTest(t, e.config(t))
	const n = 500
	var got []uint64 // appended only by the committer goroutine
	done := make(chan struct{})
	for i := range n {
		err := s.CommitAsync(paymentBatch(t, fmt.Sprint(i)), func(r Result, err error) {
			if err != nil {
				t.Errorf("batch %d: %v", i, err)
			}
			got = append(got, r.Seqs...)
			if i == n-1 {
				close(done)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	<-done
	for i, seq := range got {
		if seq != uint64(i+1) {
			t.Fatalf("callback %d got seq %d: callbacks are out of order", i, seq)
		}
	}
}

// TestSplitTooBig makes a group larger than one engine transaction allows:
// it is split, every batch commits, and a batch too big on its own fails
// alone.
func TestSplitTooBig(t *testing.T) { forEachEngine(t, testSplitTooBig) }

func testSplitTooBig(t *testing.T, eng testEngine) {
	cfg := eng.config(t)
	eng.smallTxns(&cfg) // transactions of at most ~157 KB
	hold, held, release := holdCommits(t, &cfg)
	s := openTest(t, cfg)
	bigPayment := func(key string) *storev1.LogEntry {
		e := testPayment(key)
		e.GetPayment().Memo = strings.Repeat("m", 30<<10)
		return e
	}
	hold()
	if err := s.CommitAsync(paymentBatch(t, "blocker"), nil); err != nil {
		t.Fatal(err)
	}
	held()
	type outcome struct {
		res Result
		err error
	}
	const n = 20
	results := make([]chan outcome, n)
	for i := range n {
		b := NewBatch()
		count := 1
		if i == 7 {
			count = 8 // 240 KB: more than a transaction holds
		}
		for j := range count {
			if err := b.AppendLog(bigPayment(fmt.Sprintf("b%d-%d", i, j))); err != nil {
				t.Fatal(err)
			}
		}
		results[i] = make(chan outcome, 1)
		if err := s.CommitAsync(b, func(r Result, err error) { results[i] <- outcome{r, err} }); err != nil {
			t.Fatal(err)
		}
	}
	before := s.Stats()
	release()
	next := uint64(2)
	for i := range n {
		o := <-results[i]
		if i == 7 {
			wantErr(t, o.err, ErrBatchTooLarge)
			continue
		}
		if o.err != nil {
			t.Fatalf("batch %d: %v", i, o.err)
		}
		if o.res.Seqs[0] != next {
			t.Fatalf("batch %d got seq %d, want %d", i, o.res.Seqs[0], next)
		}
		next++
	}
	st := s.Stats()
	if st.Groups-before.Groups != 1 || st.Txns-before.Txns < 4 {
		t.Errorf("the group took %d groups and %d transactions, want 1 group split in at least 4",
			st.Groups-before.Groups, st.Txns-before.Txns)
	}
	if err := s.Verify(); err != nil {
		t.Fatal(err)
	}
}

// TestWriteFailure injects a failed commit: the batches of that commit fail
// with ErrFailed, so does every later commit, reads still work, and a
// reopened store holds exactly what was committed before.
func TestWriteFailure(t *testing.T) { forEachEngine(t, testWriteFailure) }

func testWriteFailure(t *testing.T, e testEngine) {
	cfg := e.config(t)
	var fail bool
	var mu sync.Mutex
	cfg.testHookCommit = func() error {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return errors.New("injected: no space left on device")
		}
		return nil
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mustCommit(t, s, paymentBatch(t, "ok"))
	mu.Lock()
	fail = true
	mu.Unlock()
	_, err = s.Commit(context.Background(), paymentBatch(t, "lost"))
	wantErr(t, err, ErrFailed)
	if !strings.Contains(err.Error(), "no space left") {
		t.Errorf("error %q does not name the cause", err)
	}
	_, err = s.Commit(context.Background(), paymentBatch(t, "later"))
	wantErr(t, err, ErrFailed)
	if err := s.CommitAsync(paymentBatch(t, "later2"), nil); !errors.Is(err, ErrFailed) {
		t.Fatalf("CommitAsync after failure: %v, want ErrFailed", err)
	}
	if _, err := s.PaymentByIdempotencyKey("ok"); err != nil {
		t.Fatalf("read after failure: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	cfg.testHookCommit = nil
	s = openTest(t, cfg)
	if s.LastSeq() != 1 {
		t.Fatalf("LastSeq after reopen = %d, want 1", s.LastSeq())
	}
	if res := mustCommit(t, s, paymentBatch(t, "again")); res.Seqs[0] != 2 {
		t.Fatalf("seq after reopen %v, want [2]", res.Seqs)
	}
}

// TestClose checks that Close commits what is queued, never hangs, and
// that the store refuses use afterwards.
func TestClose(t *testing.T) { forEachEngine(t, testClose) }

func testClose(t *testing.T, e testEngine) {
	cfg := e.config(t)
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	var wg sync.WaitGroup
	var okCount, closedCount int
	var mu sync.Mutex
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Commit(context.Background(), paymentBatch(t, fmt.Sprint(i)))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				okCount++
			case errors.Is(err, ErrClosed):
				closedCount++
			default:
				t.Errorf("commit %d: %v", i, err)
			}
		}()
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if okCount+closedCount != n {
		t.Fatalf("%d ok + %d closed != %d", okCount, closedCount, n)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.Commit(context.Background(), NewBatch()); !errors.Is(err, ErrClosed) {
		t.Errorf("Commit after Close: %v, want ErrClosed", err)
	}
	if _, err := s.LogEntry(1); !errors.Is(err, ErrClosed) {
		t.Errorf("read after Close: %v, want ErrClosed", err)
	}
	// Everything reported committed is there, without gaps.
	s = openTest(t, cfg)
	if s.LastSeq() != uint64(okCount) {
		t.Fatalf("reopened LastSeq %d, want %d", s.LastSeq(), okCount)
	}
	if err := s.Verify(); err != nil {
		t.Fatal(err)
	}
}

// groupLog records what a CommitObserver is told.
type groupLog struct {
	mu      sync.Mutex
	batches []int
	total   time.Duration
}

func (g *groupLog) GroupCommitted(d time.Duration, batches int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.batches = append(g.batches, batches)
	g.total += d
}

func (g *groupLog) get() ([]int, time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.batches), g.total
}

// TestCommitObserver: the observer hears of every group commit with the
// number of batches it made durable: one per durable batch in all, none
// for a refused batch or a failed write.
func TestCommitObserver(t *testing.T) { forEachEngine(t, testCommitObserver) }

func testCommitObserver(t *testing.T, e testEngine) {
	var obs groupLog
	cfg := e.config(t)
	cfg.Observer = &obs
	var fail atomic.Bool
	cfg.testHookCommit = func() error {
		if fail.Load() {
			return errors.New("injected: disk gone")
		}
		return nil
	}
	s := openTest(t, cfg)
	mustCommit(t, s, paymentBatch(t, "a"))
	if _, err := s.Commit(context.Background(), paymentBatch(t, "a")); !errors.Is(err, ErrDuplicateKey) {
		t.Fatalf("duplicate key: %v", err)
	}
	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Commit(context.Background(), paymentBatch(t, fmt.Sprint("c", i))); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	fail.Store(true)
	if _, err := s.Commit(context.Background(), paymentBatch(t, "lost")); !errors.Is(err, ErrFailed) {
		t.Fatalf("failed write: %v", err)
	}
	got, d := obs.get()
	if uint64(len(got)) != s.Stats().Groups {
		t.Fatalf("observer heard of %d groups, the store made %d", len(got), s.Stats().Groups)
	}
	if got[0] != 1 || got[1] != 0 || got[len(got)-1] != 0 {
		t.Fatalf("groups reported %v: want 1 first (a durable batch), then 0 (a refused one), and 0 last (a failed write)", got)
	}
	sum := 0
	for _, b := range got {
		sum += b
	}
	if sum != n+1 {
		t.Fatalf("observer counted %d durable batches, want %d", sum, n+1)
	}
	if d <= 0 {
		t.Fatalf("commits took %s in all", d)
	}
}
