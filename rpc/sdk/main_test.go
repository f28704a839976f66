package sdk_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/tinypay/tinypay/node/nodetest"
	"github.com/tinypay/tinypay/settlement/evm/evmtest"
)

// Real nodes shared by the tests and the examples, started in TestMain:
// alice pays, bob and carol receive. The examples read the data dirs and
// addresses as an app would read its configuration.
var (
	chain              *evmtest.Chain
	alice, bob, carol  *nodetest.Node
	aliceDir, bobDir   string // data dirs
	carolDir           string
	bobAddr, carolAddr string // node addresses
	aliceBob           string // the USD channel alice -> bob
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) (code int) {
	flag.Parse()
	if f := flag.Lookup("test.fuzzworker"); f != nil && f.Value.String() == "true" {
		return m.Run() // a fuzzing worker runs only the decoders: no nodes needed
	}
	tb := &mainTB{name: "TestMain"}
	defer func() {
		if r := recover(); r != nil { // a Fatal during the set-up
			fmt.Fprintln(os.Stderr, "set-up failed:", r)
			code = 1
		}
		tb.cleanup()
		if tb.failed() && code == 0 {
			code = 1
		}
	}()
	chain = nodetest.NewChain(tb)
	alice = nodetest.Start(tb, chain, "alice", chain.Alice)
	bob = nodetest.Start(tb, chain, "bob", chain.Bob)
	carol = nodetest.Start(tb, chain, "carol", chain.Carol)
	aliceBob = alice.OpenUSD(bob, 5_000_000).Hex()
	alice.OpenUSD(carol, 1_000_000)
	aliceDir, bobDir, carolDir = alice.Dir, bob.Dir, carol.Dir
	bobAddr, carolAddr = bob.Key.Address().Hex(), carol.Key.Address().Hex()
	return m.Run()
}

// mainTB is the testing.TB that TestMain hands to nodetest and evmtest,
// which want one to fail and clean up with: it implements what they call.
// Its Fatal panics, which TestMain recovers during the set-up; a Fatal
// later (a shared node failing to restart) fails the test binary.
type mainTB struct {
	testing.TB // not set: calling anything else panics
	name       string

	mu       sync.Mutex
	cleanups []func()
	dirs     []string
	fail     bool
}

func (t *mainTB) Helper()      {}
func (t *mainTB) Name() string { return t.name }

func (t *mainTB) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

// cleanup runs the cleanups, the last registered first, as testing does.
func (t *mainTB) cleanup() {
	t.mu.Lock()
	fs := t.cleanups
	t.cleanups = nil
	t.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
	for _, d := range t.dirs {
		os.RemoveAll(d)
	}
}

func (t *mainTB) TempDir() string {
	d, err := os.MkdirTemp("", "sdk-test-*")
	if err != nil {
		t.Fatal(err)
	}
	t.mu.Lock()
	t.dirs = append(t.dirs, d)
	t.mu.Unlock()
	return d
}

func (t *mainTB) Logf(format string, args ...any) {
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "%s: %s\n", t.name, fmt.Sprintf(format, args...))
	}
}
func (t *mainTB) Log(args ...any) { t.Logf("%s", fmt.Sprint(args...)) }

func (t *mainTB) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s: %s\n", t.name, fmt.Sprintf(format, args...))
	t.mu.Lock()
	t.fail = true
	t.mu.Unlock()
}
func (t *mainTB) Error(args ...any) { t.Errorf("%s", fmt.Sprint(args...)) }

func (t *mainTB) Fatalf(format string, args ...any) {
	t.Errorf(format, args...)
	panic(fmt.Sprintf(format, args...))
}
func (t *mainTB) Fatal(args ...any) { t.Fatalf("%s", fmt.Sprint(args...)) }
func (t *mainTB) FailNow()          { t.Fatal("FailNow") }
func (t *mainTB) Fail()             { t.Errorf("Fail") }

func (t *mainTB) Failed() bool { return t.failed() }

func (t *mainTB) failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.fail
}

func (t *mainTB) Context() context.Context { return context.Background() }

// testCtx is a context for one test's calls.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
