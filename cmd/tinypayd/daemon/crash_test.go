package daemon

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
	"testing"
	"time"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
)

// TestKillDuringCooperativeClose kills either daemon with SIGKILL at every
// step of a cooperative close, between each write and what depends on it,
// and restarts it. Within seconds of the two reconnecting, the close
// completes on chain (or, killed before anything was written, the channel
// is open again and a new close completes), and the chain pays out exactly
// the off-chain balances.
func TestKillDuringCooperativeClose(t *testing.T) {
	for _, tc := range []struct {
		victim string // alice proposes the close, bob countersigns
		at     string // the failpoint (see node.Config.Failpoint)
	}{
		// Alice signed the terms; they are not on her disk.
		{"alice", "before-write close-propose"},
		// Alice's terms are on her disk; she never sent them.
		{"alice", "after-write close-propose"},
		// Bob got the terms and countersigned; nothing on his disk.
		{"bob", "before-write close-accept"},
		// Bob's countersignature is on his disk; he never sent it.
		{"bob", "after-write close-accept"},
		// Alice got the countersignature; it is not on her disk.
		{"alice", "before-write close-countersigned"},
		// The complete terms are on Alice's disk; she never submitted them.
		{"alice", "after-write close-countersigned"},
		// Alice is about to submit the terms.
		{"alice", "action cooperative close"},
	} {
		t.Run(tc.victim+" "+tc.at, func(t *testing.T) {
			alice, bob := startDaemons(t)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			victim := map[string]*daemonProc{"alice": alice, "bob": bob}[tc.victim]
			victim.stop()
			victim.env = []string{"TINYPAYD_CRASH_AT=" + tc.at}
			victim.start()
			victim.env = nil

			aliceInfo, err := alice.api.GetInfo(ctx, &apiv1.GetInfoRequest{})
			if err != nil {
				t.Fatal(err)
			}
			id := openUSD(t, ctx, alice, bob, "10000000")
			if _, err := alice.api.Pay(ctx, &apiv1.PayRequest{ChannelId: id, Amount: "3000000", IdempotencyKey: "p"}); err != nil {
				t.Fatal(err)
			}
			walletA, walletB := usdWallet(t, ctx, alice), usdWallet(t, ctx, bob)

			// The close: the victim dies at the step.
			cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
			_, err = alice.api.CloseChannel(cctx, &apiv1.CloseChannelRequest{ChannelId: id})
			ccancel()
			if err == nil {
				t.Fatalf("the close completed although %s was to die at %q", tc.victim, tc.at)
			}
			if !killedBySIGKILL(victim, 20*time.Second) {
				t.Fatalf("%s did not die at %q:\n%s", tc.victim, tc.at, victim.log)
			}
			victim.conn.Close()
			restarted := time.Now()
			victim.start()

			// Within seconds of the restart the close completes; if nothing
			// was written before the kill, the channel is open again and a
			// new close completes.
			deadline := restarted.Add(20 * time.Second)
			for {
				a, errA := alice.api.GetChannel(ctx, &apiv1.GetChannelRequest{ChannelId: id})
				b, errB := bob.api.GetChannel(ctx, &apiv1.GetChannelRequest{ChannelId: id})
				if errA == nil && errB == nil && a.GetPhase() == "settled" && b.GetPhase() == "settled" {
					break
				}
				if errA == nil && errB == nil && a.GetPhase() == "open" && b.GetPhase() == "open" && tc.at == "before-write close-propose" {
					if _, err := alice.api.CloseChannel(ctx, &apiv1.CloseChannelRequest{ChannelId: id}); err != nil {
						time.Sleep(200 * time.Millisecond) // not reconnected yet
					}
					continue
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s after the restart: alice sees %s (%v), bob sees %s (%v)", time.Since(restarted).Round(time.Millisecond), a.GetPhase(), errA, b.GetPhase(), errB)
				}
				time.Sleep(100 * time.Millisecond)
			}
			t.Logf("closed %s after the restart", time.Since(restarted).Round(time.Millisecond))
			// The chain paid out exactly the off-chain balances.
			if got := usdWallet(t, ctx, alice) - walletA; got != 7_000_000 {
				t.Errorf("alice was paid out %d, want 7000000", got)
			}
			if got := usdWallet(t, ctx, bob) - walletB; got != 3_000_000 {
				t.Errorf("bob was paid out %d, want 3000000", got)
			}
			_ = aliceInfo
		})
	}
}

// killedBySIGKILL waits for p to end and reports whether SIGKILL ended it.
func killedBySIGKILL(p *daemonProc, d time.Duration) bool {
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return false
		}
		ws, ok := ee.Sys().(syscall.WaitStatus)
		return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
	case <-time.After(d):
		return false
	}
}

func waitPhase(t *testing.T, ctx context.Context, p *daemonProc, id, phase string) {
	t.Helper()
	for {
		c, err := p.api.GetChannel(ctx, &apiv1.GetChannelRequest{ChannelId: id})
		if err == nil && c.GetPhase() == phase {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("%s never saw channel %s %s", p.name, id, phase)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// usdWallet returns the node's test-dollar balance on chain, in base units.
func usdWallet(t *testing.T, ctx context.Context, p *daemonProc) int64 {
	t.Helper()
	bals, err := p.api.GetBalances(ctx, &apiv1.GetBalancesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bals.GetBalances() {
		if b.GetAsset().GetSymbol() == "USD" {
			var v int64
			for _, c := range b.GetWallet() {
				v = v*10 + int64(c-'0')
			}
			return v
		}
	}
	t.Fatal("no USD balance")
	return 0
}
