package apps_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tinypay/tinypay/apps"
	"github.com/tinypay/tinypay/node/nodetest"
	"github.com/tinypay/tinypay/settlement/evm/evmtest"
)

// TestIncomingStreamRecordCatchesUp: the payee writes a live stream's
// record every few ticks, not each one; a restart counts the ticks after
// the record back in from the log, exactly (none missed, none twice, the
// channel's other payments not taken for ticks), and the stream goes on
// from there: at its end both sides agree on every tick.
func TestIncomingStreamRecordCatchesUp(t *testing.T) {
	chain := evmtest.NewChain(t)
	alice := nodetest.Start(t, chain, "alice", chain.Alice)
	// No stall while alice is down: a stall writes the record whole.
	bob := nodetest.StartWithApps(t, chain, "bob", chain.Bob, func(c *apps.Config) { c.StallAfter = time.Hour })
	id := alice.OpenUSD(bob, 1_000_000)
	ctx := context.Background()
	s, err := alice.Apps().StartStream(ctx, apps.StreamRequest{Channel: id, Rate: *u256(10), Tick: apps.MinTick})
	if err != nil {
		t.Fatal(err)
	}
	record := func() (ticks uint64, found bool) {
		recs, err := bob.Store().Streams()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if [16]byte(r.GetId()) == s.ID {
				return r.GetTicks(), true
			}
		}
		return 0, false
	}
	var before apps.StreamInfo
	for try := 0; ; try++ {
		// Other payments on the channel between the ticks.
		for i := range 3 {
			alice.Pay(id, 7, fmt.Sprintf("other-%d-%d", try, i))
		}
		want := uint64(12 * (try + 1))
		nodetest.Eventually(t, "bob meters ticks", func() bool { b, _ := bob.Apps().Stream(s.ID); return b.Ticks >= want })
		alice.Stop() // no tick after this
		before, err = bob.Apps().Stream(s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if onDisk, ok := record(); ok && onDisk < before.Ticks {
			break // the record lags: what this test is about
		} else if try == 5 {
			t.Fatalf("bob's record of the stream counts %d ticks of %d (found %v) in every try: it is written each tick", onDisk, before.Ticks, ok)
		}
		alice.Restart()
	}
	bob.Restart()
	after, err := bob.Apps().Stream(s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.Ticks != before.Ticks || !after.Paid.Eq(&before.Paid) || !after.Last.Equal(before.Last) || after.Status != before.Status {
		t.Fatalf("after bob's restart the stream holds %d ticks, %s paid, last %s, %s; before it %d, %s, %s, %s",
			after.Ticks, after.Paid.Dec(), after.Last, after.Status, before.Ticks, before.Paid.Dec(), before.Last, before.Status)
	}
	// It goes on, and ends with both sides agreeing on every tick.
	alice.Restart()
	nodetest.Eventually(t, "the stream goes on", func() bool { b, _ := bob.Apps().Stream(s.ID); return b.Ticks >= before.Ticks+5 })
	bob.Restart() // once more, with ticks both in a record and after it
	nodetest.Eventually(t, "the stream goes on after bob's second restart", func() bool { b, _ := bob.Apps().Stream(s.ID); return b.Ticks >= before.Ticks+10 })
	if _, err := alice.Apps().StopStream(s.ID, apps.TokenID{}); err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, "both sides agree", func() bool {
		a, _ := alice.Apps().Stream(s.ID)
		b, _ := bob.Apps().Stream(s.ID)
		return b.EndReason == apps.EndByPayer && a.Paid.Eq(&b.Paid) && a.Ticks == b.Ticks
	})
	// The record of its end is written after the event (writeStreams).
	final, _ := bob.Apps().Stream(s.ID)
	nodetest.Eventually(t, "the ended stream's record is whole", func() bool { onDisk, _ := record(); return onDisk == final.Ticks })
}
