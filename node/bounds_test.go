package node

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestBoundsWarnOncePerHourAndCountEach(t *testing.T) {
	var logs bytes.Buffer
	met, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	b := newBounds(slog.New(slog.NewTextHandler(&logs, nil)), met, func() time.Time { return now })
	for range 1000 {
		b.Refused(BoundProposals, "limit", 64)
	}
	b.Refused(BoundStreams, "limit", 1024)
	if got := strings.Count(logs.String(), "level=WARN"); got != 2 {
		t.Fatalf("%d warnings after 1000 refusals at one bound and 1 at another, want 2 (one per bound):\n%s", got, logs.String())
	}
	now = now.Add(boundWarnEvery)
	b.Refused(BoundProposals, "limit", 64)
	if got := strings.Count(logs.String(), "level=WARN"); got != 3 || !strings.Contains(logs.String(), "refused=1000") {
		t.Fatalf("an hour later: %d warnings, want 3, the last counting the 1000 refused since the first:\n%s", got, logs.String())
	}
	if got := testutil.ToFloat64(met.BoundRefusals.WithLabelValues(BoundProposals)); got != 1001 {
		t.Fatalf("metric counts %v proposal refusals, want 1001", got)
	}
	newBounds(slog.New(slog.DiscardHandler), nil, time.Now).Refused(BoundStreams) // no metrics: no panic
}
