package node

import (
	"context"
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: every
// node started by a test must stop completely. (The simulated chain of the
// end-to-end tests leaves two goroutines of its own libraries behind: a
// process-wide cache of go-ethereum's and a pool drainer of leveldb's.)
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/ethereum/go-ethereum/core.(*txSenderCacher).cache"),
		goleak.IgnoreTopFunction("github.com/syndtr/goleveldb/leveldb.(*DB).mpoolDrain"))
}

// watchdog fails t, with a dump of every goroutine, when n stops making
// progress (Node.Monitor). It runs until the returned function is called.
func watchdog(t testing.TB, name string, n *Node) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.Monitor(ctx, 500*time.Millisecond, watchdogLimit, func(err error, dump string) {
			if n.failed.Load() == nil {
				t.Errorf("watchdog: node %s is stuck: %v\n%s", name, err, dump)
			}
		})
	}()
	return func() {
		cancel()
		<-done
	}
}

// guard fails t, with a goroutine dump, if f (a call into a node) takes
// longer than watchdogLimit.
func guard(t testing.TB, what string, f func()) {
	t.Helper()
	timer := time.AfterFunc(watchdogLimit, func() {
		t.Errorf("watchdog: %s blocks for more than %s\n%s", what, watchdogLimit, goroutines())
	})
	defer timer.Stop()
	f()
}

func goroutines() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}
