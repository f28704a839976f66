package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tinypay/tinypay/cmd/tinypay/cli"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
)

// tinypayd runs the daemon's command line in this process (restore).
func tinypayd(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code := Main(context.Background(), append([]string{"tinypayd"}, args...), strings.NewReader(""), &out, &out)
	return code, out.String()
}

// flagValue returns the value of flag in p's arguments.
func flagValue(p *daemonProc, flag string) string {
	for i, a := range p.args {
		if a == flag {
			return p.args[i+1]
		}
	}
	return ""
}

// openUSD connects alice to bob and opens a USD channel with deposit
// (base units); it returns the channel id once both see it open.
func openUSD(t *testing.T, ctx context.Context, alice, bob *daemonProc, deposit string) string {
	t.Helper()
	bobInfo, err := bob.api.GetInfo(ctx, &apiv1.GetInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.api.ConnectPeer(ctx, &apiv1.ConnectPeerRequest{HostPort: peerListen(bob), Address: bobInfo.GetAddress()}); err != nil {
		t.Fatal(err)
	}
	ch, err := alice.api.OpenChannel(ctx, &apiv1.OpenChannelRequest{Peer: bobInfo.GetAddress(), Asset: "USD", Deposit: deposit})
	if err != nil {
		t.Fatal(err)
	}
	waitPhase(t, ctx, bob, ch.GetId(), "open")
	return ch.GetId()
}

func getChannel(t *testing.T, ctx context.Context, p *daemonProc, id string) *apiv1.Channel {
	t.Helper()
	c, err := p.api.GetChannel(ctx, &apiv1.GetChannelRequest{ChannelId: id})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBackupRestoreAfterPaymentsMovedOn: a backup of Alice taken with the
// CLI while she pays Bob is restored into her data directory after both
// paid each other more. Started while Bob is away, she says she is behind
// (info, channel, log) and refuses to pay; once Bob is back she recovers
// her newest proof and his, pays on with the next nonce, and the close
// pays both sides exactly the newest amounts on chain. A backup altered by
// one byte, one of another node, and a restore into a running node's
// directory are refused and change nothing.
func TestBackupRestoreAfterPaymentsMovedOn(t *testing.T) {
	alice, bob := startDaemons(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	id := openUSD(t, ctx, alice, bob, "10000000")
	pass := flagValue(alice, "--passphrase-file")
	walletA, walletB := usdWallet(t, ctx, alice), usdWallet(t, ctx, bob)

	// Payments flow while the backup is taken.
	const first = 400
	var paid atomic.Int64
	payErr := make(chan error, 1)
	go func() {
		for i := range first {
			if _, err := alice.api.Pay(ctx, &apiv1.PayRequest{ChannelId: id, Amount: "100", IdempotencyKey: fmt.Sprintf("a%d", i)}); err != nil {
				payErr <- err
				return
			}
			paid.Add(1)
		}
		payErr <- nil
	}()
	waitUntil(t, "payments flow", time.Minute, func() bool { return paid.Load() >= 50 })
	file := filepath.Join(t.TempDir(), "alice.tpbak")
	lastBackup := func() time.Time {
		info, err := alice.api.GetInfo(ctx, &apiv1.GetInfoRequest{})
		if err != nil || info.GetBackup() == nil {
			t.Fatalf("alice's info: %v, %v; want a backup state", info, err)
		}
		if ns := info.GetBackup().GetLastUnixNano(); ns != 0 {
			return time.Unix(0, ns)
		}
		return time.Time{}
	}
	if last := lastBackup(); !last.IsZero() {
		t.Fatalf("last backup %v before the first", last)
	}
	t0 := time.Now().Truncate(time.Second)
	if code, out := tinypay(t, alice.dir, "backup", file); code != 0 || !strings.Contains(out, "written to "+file) {
		t.Fatalf("tinypay backup: exit %d\n%s", code, out)
	}
	t1 := time.Now()
	made := lastBackup()
	if made.Before(t0) || made.After(t1) {
		t.Fatalf("last backup %v, want between %v and %v", made, t0, t1)
	}
	if err := <-payErr; err != nil {
		t.Fatal(err)
	}
	bobFile := filepath.Join(t.TempDir(), "bob.tpbak")
	if code, out := tinypay(t, bob.dir, "backup", bobFile); code != 0 {
		t.Fatalf("tinypay backup of bob: exit %d\n%s", code, out)
	}
	if code, out := tinypay(t, alice.dir, "backup", file); code != 2 || !strings.Contains(out, "exists") {
		t.Fatalf("a second backup onto the same file: exit %d, want 2\n%s", code, out)
	}

	// More payments both ways after the backup.
	for i := range 20 {
		if _, err := alice.api.Pay(ctx, &apiv1.PayRequest{ChannelId: id, Amount: "1000", IdempotencyKey: fmt.Sprintf("b%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		if _, err := bob.api.Pay(ctx, &apiv1.PayRequest{ChannelId: id, Amount: "700", IdempotencyKey: fmt.Sprintf("c%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	before := getChannel(t, ctx, alice, id)
	wantSent, wantRecv := fmt.Sprint(first*100+20*1000), fmt.Sprint(5*700)
	if before.GetSent() != wantSent || before.GetReceived() != wantRecv {
		t.Fatalf("before the restore alice sent %s, received %s; want %s, %s", before.GetSent(), before.GetReceived(), wantSent, wantRecv)
	}

	// A restore into the directory of a running node is refused.
	if code, out := tinypayd(t, "--datadir", alice.dir, "--passphrase-file", pass, "restore", "--force", file); code == 0 || !strings.Contains(out, "running") {
		t.Fatalf("restore into a running node's directory: exit %d\n%s", code, out)
	}
	alice.stop()
	bob.stop()
	dbEntries := func() []string {
		ents, _ := os.ReadDir(alice.dir)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return names
	}
	untouched := dbEntries()

	// Refusals that change nothing.
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	tampered := filepath.Join(t.TempDir(), "tampered.tpbak")
	bad := bytes.Clone(raw)
	bad[len(bad)*2/3] ^= 0x10
	if err := os.WriteFile(tampered, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
		code int
	}{
		{"without --force into a used directory", []string{"restore", file}, "not empty", exitUsage},
		{"one byte altered", []string{"restore", "--force", tampered}, "damaged or was altered", exitError},
		{"another node's backup", []string{"restore", "--force", bobFile}, "another node", exitError},
		{"another chain", []string{"restore", "--force", "--chain-id", "5", file}, "chain", exitError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := tinypayd(t, append([]string{"--datadir", alice.dir, "--passphrase-file", pass}, tc.args...)...)
			if code != tc.code || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, want %d with %q\n%s", code, tc.code, tc.want, out)
			}
			if got := dbEntries(); strings.Join(got, ",") != strings.Join(untouched, ",") {
				t.Fatalf("the data directory changed: %v, was %v", got, untouched)
			}
		})
	}

	code, out := tinypayd(t, "--datadir", alice.dir, "--passphrase-file", pass, "restore", "--force", file)
	if code != 0 || !strings.Contains(out, "kept in") {
		t.Fatalf("restore: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(alice.dir, restoredFile)); err != nil {
		t.Fatalf("no restore mark: %v", err)
	}

	// Alice comes back alone: behind, and she says so.
	alice.start()
	info, err := alice.api.GetInfo(ctx, &apiv1.GetInfoRequest{})
	if err != nil || !info.GetRestored() || info.GetChannelsBehind() != 1 {
		t.Fatalf("info of the restored node: %v, %v", info, err)
	}
	// Its last backup is the one it was restored from.
	if last := lastBackup(); last.Before(t0) || last.After(t1) {
		t.Fatalf("last backup of the restored node %v, want the restored backup's, between %v and %v", last, t0, t1)
	}
	c := getChannel(t, ctx, alice, id)
	if c.GetBehind() == "" {
		t.Fatal("the restored channel is not reported behind")
	}
	old := c.GetSentNonce()
	if old >= before.GetSentNonce() {
		t.Fatalf("the backup holds sent nonce %d, not older than the %d alice had signed since", old, before.GetSentNonce())
	}
	_, err = alice.api.Pay(ctx, &apiv1.PayRequest{ChannelId: id, Amount: "1", IdempotencyKey: "during"})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "behind") {
		t.Fatalf("pay while behind: %v, want UNAVAILABLE, behind", err)
	}
	if code, out := tinypay(t, alice.dir, "info"); code != 0 || !strings.Contains(out, "RESTORED") || !strings.Contains(out, "BEHIND") {
		t.Fatalf("tinypay info while behind: exit %d\n%s", code, out)
	}
	if got := getChannel(t, ctx, alice, id).GetSentNonce(); got != old {
		t.Fatalf("alice signed while behind: sent nonce %d, was %d", got, old)
	}

	// Bob is back: Alice catches up.
	bob.start()
	waitUntil(t, "alice caught up", time.Minute, func() bool {
		info, err := alice.api.GetInfo(ctx, &apiv1.GetInfoRequest{})
		return err == nil && !info.GetRestored() && getChannel(t, ctx, alice, id).GetBehind() == ""
	})
	c = getChannel(t, ctx, alice, id)
	if c.GetSentNonce() != before.GetSentNonce() || c.GetSent() != wantSent || c.GetReceived() != wantRecv {
		t.Fatalf("after catching up alice sent %s@%d, received %s; want %s@%d, %s", c.GetSent(), c.GetSentNonce(), c.GetReceived(), wantSent, before.GetSentNonce(), wantRecv)
	}
	if _, err := os.Stat(filepath.Join(alice.dir, restoredFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the restore mark is still there once caught up: %v", err)
	}
	// The payments since the backup are in her history again.
	if p, err := alice.api.Pay(ctx, &apiv1.PayRequest{ChannelId: id, Amount: "1000", IdempotencyKey: "b19"}); err != nil || p.GetStatus() != "complete" {
		t.Fatalf("retry of a payment made after the backup: %v, %v", p, err)
	}
	p, err := alice.api.Pay(ctx, &apiv1.PayRequest{ChannelId: id, Amount: "1", IdempotencyKey: "during"})
	if err != nil || p.GetNonce() != before.GetSentNonce()+1 {
		t.Fatalf("first payment after catching up: %v, %v; want nonce %d", p, err, before.GetSentNonce()+1)
	}
	if _, err := bob.api.Pay(ctx, &apiv1.PayRequest{ChannelId: id, Amount: "2", IdempotencyKey: "c-after"}); err != nil {
		t.Fatal(err)
	}

	// The close pays the newest amounts on chain.
	if _, err := alice.api.CloseChannel(ctx, &apiv1.CloseChannelRequest{ChannelId: id}); err != nil {
		t.Fatal(err)
	}
	sentTotal, recvTotal := int64(first*100+20*1000+1), int64(5*700+2)
	wantA := walletA + 10000000 - sentTotal + recvTotal
	wantB := walletB + sentTotal - recvTotal
	waitUntil(t, "the close pays out", time.Minute, func() bool {
		return usdWallet(t, ctx, alice) == wantA && usdWallet(t, ctx, bob) == wantB
	})
	alice.stop() // her log is complete
	for _, line := range []string{"channel may be behind", "channel caught up"} {
		if !strings.Contains(alice.log.String(), line) {
			t.Fatalf("alice's log does not say %q", line)
		}
	}
}

// TestBackupStreamEndsCleanly: a client that reads a backup to the end
// gets a file tinypayd restore takes, and one that goes away mid-stream
// leaves the node serving (the snapshot is let go).
func TestBackupStreamEndsCleanly(t *testing.T) {
	alice, _ := startDaemons(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sctx, scancel := context.WithCancel(ctx)
	stream, err := alice.api.Backup(sctx, &apiv1.BackupRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	scancel()
	for {
		if _, err := stream.Recv(); err != nil {
			if errors.Is(err, io.EOF) {
				break // it was all in the first message: fine too
			}
			if status.Code(err) != codes.Canceled {
				t.Fatalf("abandoned backup: %v", err)
			}
			break
		}
	}
	// The node still answers, and makes a whole backup; for its admin
	// only: an app token may not take one.
	file := filepath.Join(t.TempDir(), "a.tpbak")
	secret := filepath.Join(t.TempDir(), "app.token")
	if code, out := tinypay(t, alice.dir, "token", "create", "--name", "app", "--limit", "1 USD", "--period", "1h", "--secret-file", secret); code != 0 {
		t.Fatalf("token create: %d\n%s", code, out)
	}
	if code, out := tinypay(t, alice.dir, "--token-file", secret, "backup", file); code != cli.ExitAuth {
		t.Fatalf("backup with an app token: exit %d, want %d\n%s", code, cli.ExitAuth, out)
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused backup left a file: %v", err)
	}
	if code, out := tinypay(t, alice.dir, "--json", "backup", "--without-key", file); code != 0 || !strings.Contains(out, `"withKey":false`) {
		t.Fatalf("backup after an abandoned one: exit %d\n%s", code, out)
	}
	// Its time is on the health page (GetInfo) for the admin, not for
	// an app.
	if code, out := tinypay(t, alice.dir, "info"); code != 0 || !strings.Contains(out, "last backup  0s ago") {
		t.Fatalf("tinypay info after a backup: exit %d\n%s", code, out)
	}
	if code, out := tinypay(t, alice.dir, "--token-file", secret, "info"); code != 0 || strings.Contains(out, "last backup") || !strings.Contains(out, "watcher") {
		t.Fatalf("tinypay info with an app token: exit %d\n%s", code, out)
	}
	dir := filepath.Join(t.TempDir(), "restored")
	pass := flagValue(alice, "--passphrase-file")
	if code, out := tinypayd(t, "--datadir", dir, "--passphrase-file", pass, "restore", file); code != 2 || !strings.Contains(out, "--key-file") {
		t.Fatalf("restore of a backup without its key, no --key-file: exit %d\n%s", code, out)
	}
	if code, out := tinypayd(t, "--datadir", dir, "--passphrase-file", pass, "restore", "--key-file", filepath.Join(alice.dir, keyFile), file); code != 0 {
		t.Fatalf("restore with --key-file: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, keyFile)); err != nil {
		t.Fatalf("the restored directory has no key file: %v", err)
	}
	// A database broken beyond opening is what a restore is for: --force
	// replaces it (kept aside, as it was).
	if err := os.WriteFile(filepath.Join(dir, dbDir, "MANIFEST"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := tinypayd(t, "--datadir", dir, "--passphrase-file", pass, "restore", "--force", file)
	if code != 0 || !strings.Contains(out, "kept in") {
		t.Fatalf("restore over a broken database: exit %d\n%s", code, out)
	}
	aside, _ := filepath.Glob(filepath.Join(dir, "db.replaced-*", "MANIFEST"))
	if len(aside) != 1 {
		t.Fatalf("the broken database was not kept aside: %v", aside)
	}
	if b, _ := os.ReadFile(aside[0]); string(b) != "garbage" {
		t.Fatalf("the database kept aside was changed: %q", b)
	}
}

// TestRestoredDirRunsOnlyOnItsChain: a data directory restored from a
// backup of one chain and contract refuses to run against others, before
// it touches the chain.
func TestRestoredDirRunsOnlyOnItsChain(t *testing.T) {
	dir := t.TempDir()
	pass := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(pass, []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := tinypayd(t, "--datadir", dir, "--passphrase-file", pass, "init", "--light-kdf"); code != 0 {
		t.Fatalf("init: %d\n%s", code, out)
	}
	code, out := tinypayd(t, "--datadir", dir, "--passphrase-file", pass, "address")
	if code != 0 {
		t.Fatalf("address: %d\n%s", code, out)
	}
	node := strings.TrimSpace(out)
	const adj = "0x00000000000000000000000000000000000000Ad"
	for _, tc := range []struct {
		name string
		mark restoredMark
		want string
	}{
		{"another chain", restoredMark{Node: node, ChainID: 1337, Adjudicator: adj}, "backup of chain 1337"},
		{"another contract", restoredMark{Node: node, ChainID: 5, Adjudicator: "0x00000000000000000000000000000000000000Bd"}, "backup of adjudicator"},
		{"another node", restoredMark{Node: "0x00000000000000000000000000000000000000Cd", ChainID: 5, Adjudicator: adj}, "backup of node"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, _ := json.Marshal(tc.mark)
			if err := os.WriteFile(filepath.Join(dir, restoredFile), raw, 0o600); err != nil {
				t.Fatal(err)
			}
			code, out := tinypayd(t, "--datadir", dir, "--passphrase-file", pass, "run", "--chain-rpc", "http://127.0.0.1:1",
				"--chain-id", "5", "--adjudicator", adj, "--peer-listen", "", "--api-listen", "127.0.0.1:0")
			if code == 0 || !strings.Contains(out, tc.want) {
				t.Fatalf("run: exit %d, want a refusal with %q\n%s", code, tc.want, out)
			}
			if _, err := os.Stat(filepath.Join(dir, dbDir)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the refused run opened a database: %v", err)
			}
		})
	}
}
