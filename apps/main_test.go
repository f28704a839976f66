package apps_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/tinypay/tinypay/node/nodetest"
)

// TestMain fails the package's tests if any goroutine outlives them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m, nodetest.LeakOptions()...) }
