package sdk_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/node/nodetest"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/sdk"
)

// payN pays bob n times from alice, each payment tagged with memo.
func payN(t *testing.T, a *sdk.Client, n int, memo string) {
	t.Helper()
	reqs := make([]sdk.PayRequest, n)
	for i := range reqs {
		reqs[i] = sdk.PayRequest{Channel: aliceBob, Amount: uint256.NewInt(1), Memo: memo}
	}
	if err := a.PayMany(testCtx(t), reqs, sdk.PayManyOptions{MaxInFlight: 8}, func(r sdk.PayResult) error { return r.Err }); err != nil {
		t.Fatal(err)
	}
}

// incoming returns every incoming payment bob's log holds, in log order.
func incoming(t *testing.T, b *sdk.Client) []sdk.Payment {
	t.Helper()
	var out []sdk.Payment
	for after := uint64(0); ; {
		page, next, err := b.Payments(testCtx(t), sdk.PaymentFilter{After: after, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page {
			if !p.Outgoing {
				out = append(out, p)
			}
		}
		if next == 0 {
			return out
		}
		after = next
	}
}

// The payee's subscriber sees every incoming payment exactly once, in log
// order, though the payee restarts (on another API port) while payments
// flow and while the subscriber is still catching up.
func TestSubscribeAcrossRestart(t *testing.T) {
	var logs nodetest.SyncBuffer
	b := dial(t, sdk.Config{DataDir: bobDir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	a := dial(t, sdk.Config{DataDir: aliceDir})
	payN(t, a, 30, "before") // so that the history is not empty

	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	var (
		mu  sync.Mutex
		got []sdk.Event
	)
	done := make(chan error, 1)
	go func() {
		done <- b.Subscribe(ctx, sdk.SubscribeOptions{Kinds: []string{sdk.KindPaymentIn}}, func(e sdk.Event) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, e)
			return nil
		})
	}()
	payN(t, a, 30, "during")
	bob.Restart()
	payN(t, a, 30, "after")

	// The client follows bob to his new port, but a call made before it
	// has redialled fails fast (Unavailable): wait until it has.
	nodetest.Eventually(t, "the client reaches the restarted node", func() bool {
		_, err := b.Info(testCtx(t))
		return err == nil
	})
	want := incoming(t, b)
	last := want[len(want)-1].Seq
	nodetest.Eventually(t, "the subscriber has every payment", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) > 0 && got[len(got)-1].Seq >= last
	})
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe returned %v, want context.Canceled", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for len(got) > 0 && got[len(got)-1].Seq > last {
		got = got[:len(got)-1] // arrived after the log was read
	}
	if len(got) != len(want) {
		t.Fatalf("the subscriber saw %d payments, the log holds %d", len(got), len(want))
	}
	memos := map[string]int{}
	for i, e := range got {
		if e.Kind != sdk.KindPaymentIn || e.Payment == nil || e.Payment.Outgoing {
			t.Fatalf("event %d: %+v", i, e)
		}
		if e.Seq != want[i].Seq || e.Payment.ID != want[i].ID || e.Payment.Seq != e.Seq {
			t.Fatalf("event %d is seq %d (payment %s); the log has seq %d (payment %s) there", i, e.Seq, e.Payment.ID, want[i].Seq, want[i].ID)
		}
		if i > 0 && e.Seq <= got[i-1].Seq {
			t.Fatalf("event %d: seq %d after %d", i, e.Seq, got[i-1].Seq)
		}
		memos[e.Payment.Memo]++
	}
	for _, m := range []string{"before", "during", "after"} {
		if memos[m] < 30 {
			t.Fatalf("saw %d payments %q, want at least 30 (%v)", memos[m], m, memos)
		}
	}
	if !strings.Contains(logs.String(), "subscription interrupted; resuming") {
		t.Fatalf("the subscription never had to resume; logs:\n%s", logs.String())
	}
}

func TestSubscribeResumeAndStop(t *testing.T) {
	ctx := testCtx(t)
	b := dial(t, sdk.Config{DataDir: bobDir})
	payN(t, dial(t, sdk.Config{DataDir: aliceDir}), 5, "resume")
	// Read the first 3 events, then resume after the second: the third
	// comes again, and only it.
	var first []uint64
	err := b.Subscribe(ctx, sdk.SubscribeOptions{}, func(e sdk.Event) error {
		first = append(first, e.Seq)
		if len(first) == 3 {
			return sdk.ErrStop
		}
		return nil
	})
	if err != nil || len(first) != 3 {
		t.Fatalf("Subscribe: %v, %v", first, err)
	}
	var next uint64
	err = b.Subscribe(ctx, sdk.SubscribeOptions{After: first[1]}, func(e sdk.Event) error {
		next = e.Seq
		return sdk.ErrStop
	})
	if err != nil || next != first[2] {
		t.Fatalf("resumed after %d at %d (%v), want %d", first[1], next, err, first[2])
	}
	// A channel event is typed too: the log starts with bob's channel
	// opening.
	var ch *sdk.ChannelEvent
	err = b.Subscribe(ctx, sdk.SubscribeOptions{Kinds: []string{sdk.KindChannel}}, func(e sdk.Event) error {
		ch = e.Channel
		return sdk.ErrStop
	})
	if err != nil || ch == nil || ch.ChannelID == "" || ch.Kind == "" {
		t.Fatalf("channel event %+v, %v", ch, err)
	}

	// The handler's own error comes back as it is.
	mine := errors.New("disk full")
	if err := b.Subscribe(ctx, sdk.SubscribeOptions{}, func(sdk.Event) error { return mine }); err != mine {
		t.Fatalf("handler error: %v", err)
	}
	// Errors that retrying cannot cure end it at once.
	if err := b.Subscribe(ctx, sdk.SubscribeOptions{Kinds: []string{"payments"}}, func(sdk.Event) error { return nil }); !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Fatalf("unknown kind: %v", err)
	}
	admin := dial(t, sdk.Config{DataDir: bobDir})
	created, err := admin.API().CreateToken(ctx, &apiv1.CreateTokenRequest{Name: "reader", Policy: &apiv1.TokenPolicy{Asset: "USD", Limit: "1", PeriodSeconds: 60}})
	if err != nil {
		t.Fatal(err)
	}
	app := dial(t, sdk.Config{Addr: readFile(t, bobDir+"/"+sdk.AddrFile), Token: created.GetSecret(), CertFile: bobDir + "/" + sdk.CertFile})
	if err := app.Subscribe(ctx, sdk.SubscribeOptions{}, func(sdk.Event) error { return nil }); !errors.Is(err, sdk.ErrPermissionDenied) {
		t.Fatalf("app token subscribes: %v", err)
	}
	// Close ends a subscription in progress.
	c := dial(t, sdk.Config{DataDir: bobDir})
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		var once sync.Once
		done <- c.Subscribe(ctx, sdk.SubscribeOptions{}, func(sdk.Event) error { once.Do(func() { close(started) }); return nil })
	}()
	<-started
	c.Close()
	if err := <-done; !errors.Is(err, sdk.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// TestHistory: History pages back through the log, newest first, the same
// events Subscribe delivers; bad limits and kinds, and app tokens, are
// refused.
func TestHistory(t *testing.T) {
	ctx := testCtx(t)
	b := dial(t, sdk.Config{DataDir: bobDir})
	payN(t, dial(t, sdk.Config{DataDir: aliceDir}), 3, "history")
	// What History must give back, in log order: bob's incoming payments.
	var forward []uint64
	for p, err := range b.EachPayment(ctx, sdk.PaymentFilter{}) {
		if err != nil {
			t.Fatal(err)
		}
		if !p.Outgoing {
			forward = append(forward, p.Seq)
		}
	}
	var back []uint64
	var before uint64
	for {
		page, next, err := b.History(ctx, before, []string{sdk.KindPaymentIn}, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			if e.Payment == nil || e.Kind != sdk.KindPaymentIn {
				t.Fatalf("history event %+v", e)
			}
			back = append(back, e.Seq)
		}
		if next == 0 {
			break
		}
		before = next
	}
	slices.Reverse(back)
	if len(back) < 3 || !slices.Equal(back, forward) {
		t.Fatalf("history (oldest first) %v, want the incoming payments %v", back, forward)
	}
	if _, _, err := b.History(ctx, 0, nil, 1001); !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Fatalf("limit 1001: %v", err)
	}
	if _, _, err := b.History(ctx, 0, []string{"payments"}, 1); !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Fatalf("unknown kind: %v", err)
	}
}
