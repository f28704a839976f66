package store

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinypay/tinypay/store/pgtest"
)

// The crash test re-executes the test binary as a child that commits in a
// loop; see TestMain and crashChild.
const (
	crashEnvDir  = "TINYPAY_STORE_CRASH_DIR" // a directory (badger) or a postgres:// URL
	crashEnvIter = "TINYPAY_STORE_CRASH_ITER"

	crashWorkers        = 4 // goroutines with Commit
	crashAsyncWorkers   = 2 // goroutines with CommitAsync, several in flight
	crashChansPerWorker = 4
	crashChildTimeout   = 60 * time.Second // the child stops by itself
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashEnvDir); dir != "" {
		os.Exit(crashChild(dir, os.Getenv(crashEnvIter)))
	}
	os.Exit(pgtest.Main(m))
}

// crashLine is what the child prints once a commit is reported durable:
// "<seq> <idempotency key> <channel byte> <proof nonce>".
type crashLine struct {
	seq   uint64
	key   string
	ch    byte
	nonce uint64
}

func parseCrashLine(s string) (crashLine, error) {
	f := strings.Fields(s)
	if len(f) != 4 {
		return crashLine{}, fmt.Errorf("bad line %q", s)
	}
	seq, err1 := strconv.ParseUint(f[0], 10, 64)
	ch, err2 := strconv.ParseUint(f[2], 10, 8)
	nonce, err3 := strconv.ParseUint(f[3], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return crashLine{}, fmt.Errorf("bad line %q: %v", s, err)
	}
	return crashLine{seq, f[1], byte(ch), nonce}, nil
}

// crashChild opens the store and commits until killed: each worker owns a
// few channels and commits batches of a channel, a newer proof and a
// payment, printing a line after each one is reported durable.
func crashChild(dir, iter string) int {
	s, err := Open(crashConfig(dir))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		return 2
	}
	var out sync.Mutex
	report := func(seq uint64, key string, ch byte, nonce uint64) {
		line := fmt.Sprintf("%d %s %d %d\n", seq, key, ch, nonce)
		out.Lock()
		defer out.Unlock()
		if _, err := os.Stdout.WriteString(line); err != nil {
			os.Exit(3)
		}
	}
	// batch builds worker w's i-th batch on its channel ch at nonce.
	batch := func(w, i int, ch byte, nonce uint64) (*Batch, string, error) {
		key := fmt.Sprintf("it%s-w%d-%d", iter, w, i)
		b := NewBatch()
		c := testChannel(ch)
		c.Acked = nonce
		err := errors.Join(b.PutChannel(c), b.PutProof(0, testProof(ch, nonce)), b.AppendLog(testPayment(key)))
		return b, key, err
	}
	// Each worker resumes its channels' nonces from the store.
	nonces := func(w int) map[byte]uint64 {
		m := make(map[byte]uint64)
		for j := range crashChansPerWorker {
			ch := byte(1 + w*crashChansPerWorker + j)
			p, err := s.Proof(chanID(ch), 0)
			switch {
			case err == nil:
				m[ch] = p.GetNonce()
			case !errors.Is(err, ErrNotFound):
				fmt.Fprintln(os.Stderr, "child read proof:", err)
				os.Exit(2)
			}
		}
		return m
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "child commit:", err)
		os.Exit(2)
	}
	for w := range crashWorkers {
		go func() {
			n := nonces(w)
			for i := 0; ; i++ {
				ch := byte(1 + w*crashChansPerWorker + i%crashChansPerWorker)
				n[ch]++
				b, key, err := batch(w, i, ch, n[ch])
				if err != nil {
					fail(err)
				}
				res, err := s.Commit(context.Background(), b)
				if err != nil {
					fail(err)
				}
				report(res.Seqs[0], key, ch, n[ch])
			}
		}()
	}
	for a := range crashAsyncWorkers {
		w := crashWorkers + a
		go func() {
			n := nonces(w)
			inflight := make(chan struct{}, 8)
			for i := 0; ; i++ {
				// One channel per async worker keeps its proofs in order:
				// batches commit in submission order.
				ch := byte(1 + w*crashChansPerWorker)
				n[ch]++
				b, key, err := batch(w, i, ch, n[ch])
				if err != nil {
					fail(err)
				}
				inflight <- struct{}{}
				nonce := n[ch]
				err = s.CommitAsync(b, func(res Result, err error) {
					if err != nil {
						fail(err)
					}
					report(res.Seqs[0], key, ch, nonce)
					<-inflight
				})
				if err != nil {
					fail(err)
				}
			}
		}()
	}
	time.Sleep(crashChildTimeout)
	fmt.Fprintln(os.Stderr, "child: not killed in time")
	return 4
}

// TestCrash kills a committing child process with SIGKILL at a random
// moment, reopens the store and checks that everything the child was told
// is durable is there and intact, that the log has no gap, and that the
// store goes on working. It repeats on the same store.
func TestCrash(t *testing.T) { forEachEngine(t, testCrash) }

// crashConfig is the config of the crash test's store at target: a
// directory, or a PostgreSQL URL. Commits are durable.
func crashConfig(target string) Config {
	if strings.HasPrefix(target, "postgres://") {
		cfg := pgTestConfig(target)
		cfg.SyncWrites = true
		return cfg
	}
	return DefaultConfig(target)
}

func testCrash(t *testing.T, e testEngine) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	dir := t.TempDir()
	if e.postgres() {
		dir = e.config(t).Postgres.URL
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	var all []crashLine
	for iter := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashEnvDir+"="+dir, crashEnvIter+"="+strconv.Itoa(iter))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAfter := 50 + rng.IntN(400)
		sc := bufio.NewScanner(stdout)
		var lines []crashLine
		killed := false
		for sc.Scan() {
			l, err := parseCrashLine(sc.Text())
			if err != nil {
				_ = cmd.Process.Kill()
				t.Fatal(err)
			}
			lines = append(lines, l)
			if !killed && len(lines) >= killAfter {
				time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
				if err := cmd.Process.Kill(); err != nil { // SIGKILL
					t.Fatal(err)
				}
				killed = true
			}
		}
		// The lines read after the kill were printed before it: they count.
		err = cmd.Wait()
		if !killed {
			t.Fatalf("child exited by itself (%v) after %d lines: %s", err, len(lines), stderr.String())
		}
		t.Logf("iteration %d: killed after %d durable commits (read %d before the kill)", iter, len(lines), killAfter)
		all = append(all, lines...)
		checkAfterCrash(t, dir, all)
	}
}

// checkAfterCrash reopens the store in dir and checks it against every
// commit reported durable so far.
func checkAfterCrash(t *testing.T, dir string, reported []crashLine) {
	t.Helper()
	s, err := Open(crashConfig(dir))
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}()
	if err := s.Verify(); err != nil {
		t.Fatalf("after crash: %v", err)
	}
	maxNonce := make(map[byte]uint64)
	seen := make(map[uint64]bool)
	for _, l := range reported {
		if seen[l.seq] {
			t.Fatalf("seq %d was reported twice", l.seq)
		}
		seen[l.seq] = true
		e, err := s.LogEntry(l.seq)
		if err != nil {
			t.Fatalf("reported seq %d (%s): %v", l.seq, l.key, err)
		}
		if got := e.GetPayment().GetIdempotencyKey(); got != l.key {
			t.Fatalf("seq %d holds %q, want %q", l.seq, got, l.key)
		}
		if e2, err := s.PaymentByIdempotencyKey(l.key); err != nil || e2.GetSeq() != l.seq {
			t.Fatalf("payment %q: seq %d, %v; want %d", l.key, e2.GetSeq(), err, l.seq)
		}
		maxNonce[l.ch] = max(maxNonce[l.ch], l.nonce)
		if l.seq > s.LastSeq() {
			t.Fatalf("reported seq %d is past LastSeq %d", l.seq, s.LastSeq())
		}
	}
	for ch, nonce := range maxNonce {
		p, err := s.Proof(chanID(ch), 0)
		if err != nil || p.GetNonce() < nonce {
			t.Fatalf("channel %d: proof %v, %v; want nonce >= %d", ch, p, err, nonce)
		}
		c, err := s.Channel(chanID(ch))
		if err != nil || c.GetAcked() < nonce {
			t.Fatalf("channel %d: %v, %v; want acked >= %d", ch, c, err, nonce)
		}
	}
	// Seqs are gapless: paging through the whole log finds 1..LastSeq.
	var next uint64 = 1
	for {
		page, err := s.Log(next-1, 500)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			if e.GetSeq() != next {
				t.Fatalf("log has seq %d where %d belongs", e.GetSeq(), next)
			}
			next++
		}
	}
	if next-1 != s.LastSeq() {
		t.Fatalf("log ends at %d, LastSeq is %d", next-1, s.LastSeq())
	}
	// The store goes on working.
	key := fmt.Sprintf("after-crash-%d", s.LastSeq())
	res, err := s.Commit(context.Background(), paymentBatch(t, key))
	if err != nil || res.Seqs[0] != next {
		t.Fatalf("commit after crash: %v, %v; want seq %d", res.Seqs, err, next)
	}
}
