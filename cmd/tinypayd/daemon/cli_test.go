package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tinypay/tinypay/cmd/tinypay/cli"
	"github.com/tinypay/tinypay/node/nodetest"
)

// tinypay runs the CLI against a daemon's data dir.
func tinypay(t *testing.T, dir string, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code := cli.Main(context.Background(), append([]string{"tinypay", "--datadir", dir}, args...), &out, &out)
	return code, out.String()
}

// TestCLIAgainstDaemons drives two daemons with the CLI as an operator
// would, and checks its error exits.
func TestCLIAgainstDaemons(t *testing.T) {
	alice, bob := startDaemons(t)
	code, out := tinypay(t, bob.dir, "--json", "info")
	if code != 0 {
		t.Fatal(out)
	}
	var info struct{ Address string }
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatal(err)
	}
	steps := [][]string{
		{"peer", "connect", peerListen(bob), "--address", info.Address},
		{"channel", "open", info.Address, "5", "USD"},
		{"pay", info.Address, "0.25", "USD", "--item", "book-1", "--key", "order-1"},
		{"pay", info.Address, "0.25", "USD", "--item", "book-1", "--key", "order-1"}, // a retry: pays once
		{"pay", info.Address, "0.001", "USD", "--count", "50", "--quiet"},
	}
	for _, s := range steps {
		if code, out := tinypay(t, alice.dir, s...); code != 0 {
			t.Fatalf("tinypay %v: exit %d\n%s", s, code, out)
		}
	}
	code, out = tinypay(t, alice.dir, "--json", "channel", "list")
	if code != 0 {
		t.Fatal(out)
	}
	var list struct {
		Channels []struct {
			ID        string `json:"id"`
			MyBalance string `json:"myBalance"`
		} `json:"channels"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Channels) != 1 {
		t.Fatalf("channel list: %v %s", err, out)
	}
	// 5 USD - 0.25 - 50 * 0.001 = 4.70 USD.
	if got := list.Channels[0].MyBalance; got != "4700000" {
		t.Fatalf("alice's balance %s, want 4700000 (the retried payment must not pay twice)", got)
	}
	id := list.Channels[0].ID
	code, out = tinypay(t, bob.dir, "payments", "--limit", "2")
	if code != 0 || !strings.Contains(out, "0.25 USD") || !strings.Contains(out, "item book-1") {
		t.Fatalf("bob's payments: %d\n%s", code, out)
	}
	code, out = tinypay(t, bob.dir, "events", "--only", "channels")
	if code != 0 || !strings.Contains(out, "opened") {
		t.Fatalf("bob's events: %d\n%s", code, out)
	}
	for _, tc := range []struct {
		name string
		dir  string
		args []string
		want int
	}{
		{"unknown command", alice.dir, []string{"frobnicate"}, cli.ExitUsage},
		{"missing argument", alice.dir, []string{"pay", info.Address}, cli.ExitUsage},
		{"too many decimals", alice.dir, []string{"pay", info.Address, "0.0000001", "USD"}, cli.ExitUsage},
		{"bad target", alice.dir, []string{"pay", "0x1234", "1", "USD"}, cli.ExitUsage},
		{"over the balance", alice.dir, []string{"pay", id, "6", "USD"}, cli.ExitFailed},
		{"unknown channel", alice.dir, []string{"channel", "get", "0x" + strings.Repeat("ab", 32)}, cli.ExitFailed},
		{"no node there", t.TempDir(), []string{"info"}, cli.ExitUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, out := tinypay(t, tc.dir, tc.args...); code != tc.want {
				t.Fatalf("exit %d, want %d\n%s", code, tc.want, out)
			}
		})
	}
	// Deposit and withdraw move alice's side on chain: 4.70 + 1 - 0.5.
	for _, s := range [][]string{{"channel", "deposit", id, "1", "USD"}, {"channel", "withdraw", id, "0.5", "USD"}} {
		if code, out := tinypay(t, alice.dir, s...); code != 0 {
			t.Fatalf("tinypay %v: exit %d\n%s", s, code, out)
		}
	}
	code, out = tinypay(t, alice.dir, "--json", "channel", "get", id)
	var ch struct {
		MyBalance, MyDeposit, MyWithdrawn string
	}
	if err := json.Unmarshal([]byte(out), &ch); err != nil || code != 0 {
		t.Fatalf("channel get: %v %s", err, out)
	}
	if ch.MyBalance != "5200000" || ch.MyDeposit != "6000000" || ch.MyWithdrawn != "500000" {
		t.Fatalf("after deposit and withdraw: balance %s deposit %s withdrawn %s, want 5200000 6000000 500000", ch.MyBalance, ch.MyDeposit, ch.MyWithdrawn)
	}
	// The newest two channel events, read backwards past the payments:
	// the deposit, then the withdrawal (each once).
	code, out = tinypay(t, alice.dir, "events", "--only", "channels", "--last", "2")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); code != 0 || len(lines) != 2 || !strings.Contains(lines[0], "deposit") || !strings.Contains(lines[1], "withdr") {
		t.Fatalf("events --only channels --last 2: exit %d\n%s", code, out)
	}
	if code, out := tinypay(t, alice.dir, "events", "--last", "2", "--after", "3"); code != cli.ExitUsage {
		t.Fatalf("events --last with --after: exit %d\n%s", code, out)
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"deposit in another asset", []string{"channel", "deposit", id, "1", "ETH"}},
		{"withdraw without an amount", []string{"channel", "withdraw", id}},
		{"a decimal without its asset", []string{"channel", "withdraw", id, "0.5"}},
		{"withdraw a zero amount", []string{"channel", "withdraw", id, "0", "USD"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, out := tinypay(t, alice.dir, tc.args...); code != cli.ExitUsage {
				t.Fatalf("exit %d, want %d\n%s", code, cli.ExitUsage, out)
			}
		})
	}
	if code, out := tinypay(t, alice.dir, "channel", "withdraw", id, "100", "USD"); code != cli.ExitFailed {
		t.Fatalf("withdraw over the balance: exit %d, want %d\n%s", code, cli.ExitFailed, out)
	}
	// A wrong token is refused (exit 4).
	wrong := filepath.Join(t.TempDir(), "token")
	os.WriteFile(wrong, []byte(strings.Repeat("0", 64)+"\n"), 0o600)
	if code, out := tinypay(t, alice.dir, "--token-file", wrong, "info"); code != cli.ExitAuth {
		t.Fatalf("wrong token: exit %d\n%s", code, out)
	}
	// The cooperative close pays out on chain.
	if code, out := tinypay(t, alice.dir, "channel", "close", id); code != 0 || !strings.Contains(out, "settled") {
		t.Fatalf("close: %d\n%s", code, out)
	}
}

// TestEventsFollowAcrossRestart: `tinypay events --follow` keeps following
// when the node restarts: it reconnects with backoff and resumes after the
// last event it printed, so nothing is missed or printed twice (before, it
// ended with an error).
func TestEventsFollowAcrossRestart(t *testing.T) {
	alice, bob := startDaemons(t)
	code, out := tinypay(t, bob.dir, "--json", "info")
	var info struct{ Address string }
	if err := json.Unmarshal([]byte(out), &info); code != 0 || err != nil {
		t.Fatal(out)
	}
	for _, step := range [][]string{
		{"peer", "connect", peerListen(bob), "--address", info.Address},
		{"channel", "open", info.Address, "5", "USD"},
		{"pay", info.Address, "0.25", "USD", "--item", "before-restart"},
	} {
		if code, out := tinypay(t, alice.dir, step...); code != 0 {
			t.Fatalf("%v: %s", step, out)
		}
	}
	var stdout, stderr nodetest.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		done <- cli.Main(ctx, []string{"tinypay", "--datadir", bob.dir, "events", "--follow"}, &stdout, &stderr)
	}()
	defer func() { cancel(); <-done }()
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting until %s; stdout:\n%s\nstderr:\n%s", what, stdout.String(), stderr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitUntil("the payment before the restart is printed", func() bool { return strings.Contains(stdout.String(), "before-restart") })
	bob.stop()
	bob.start()
	if code, out := tinypay(t, alice.dir, "pay", info.Address, "0.25", "USD", "--item", "after-restart"); code != 0 {
		t.Fatalf("pay after the restart: %s", out)
	}
	waitUntil("the payment after the restart is printed", func() bool { return strings.Contains(stdout.String(), "after-restart") })
	if n := strings.Count(stdout.String(), "before-restart"); n != 1 {
		t.Fatalf("the payment before the restart was printed %d times:\n%s", n, stdout.String())
	}
	if !strings.Contains(stderr.String(), "reconnected") {
		t.Fatalf("no reconnection reported on stderr:\n%s", stderr.String())
	}
}

// TestEventsFollowStopsWhenRefused: `tinypay events --follow` and `tinypay
// watch` keep retrying a dropped stream, but not one the node refuses for
// good: a revoked token ends them with the auth exit code and the node's
// reason, and a cursor past the node's log ends them at once.
func TestEventsFollowStopsWhenRefused(t *testing.T) {
	_, bob := startDaemons(t)
	secret := filepath.Join(t.TempDir(), "viewer.token")
	code, out := tinypay(t, bob.dir, "--json", "token", "create", "--view", "--name", "viewer", "--secret-file", secret)
	var tok struct{ Token struct{ ID string } }
	if err := json.Unmarshal([]byte(out), &tok); code != 0 || err != nil || tok.Token.ID == "" {
		t.Fatalf("token create --view: exit %d, %v\n%s", code, err, out)
	}
	type run struct {
		code           int
		stdout, stderr *nodetest.SyncBuffer
	}
	start := func(args ...string) (<-chan run, func()) {
		var stdout, stderr nodetest.SyncBuffer
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		done := make(chan run, 1)
		go func() {
			code := cli.Main(ctx, append([]string{"tinypay", "--datadir", bob.dir, "--token-file", secret}, args...), &stdout, &stderr)
			done <- run{code, &stdout, &stderr}
		}()
		return done, cancel
	}
	follow, stopFollow := start("events", "--follow")
	defer stopFollow()
	watch, stopWatch := start("watch")
	defer stopWatch()
	time.Sleep(time.Second) // both subscribed (if not, the revoked token refuses them all the same)
	if code, out := tinypay(t, bob.dir, "token", "revoke", tok.Token.ID); code != 0 {
		t.Fatalf("token revoke: exit %d\n%s", code, out)
	}
	for name, done := range map[string]<-chan run{"events --follow": follow, "watch": watch} {
		select {
		case r := <-done:
			if r.code != cli.ExitAuth || !strings.Contains(r.stderr.String(), "revoked") {
				t.Fatalf("%s after the token was revoked: exit %d, want %d; stderr:\n%s", name, r.code, cli.ExitAuth, r.stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%s still runs 30 s after its token was revoked", name)
		}
	}

	// A cursor the log has not reached: the node says so, and following
	// stops.
	code, out = tinypay(t, bob.dir, "events", "--follow", "--after", "1000000")
	if code != cli.ExitFailed || !strings.Contains(out, "1000000") {
		t.Fatalf("events --follow --after past the log: exit %d, want %d\n%s", code, cli.ExitFailed, out)
	}
}
