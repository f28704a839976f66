package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/store/pgtest"
)

// allPayments pages through a node's payments.
func allPayments(t *testing.T, ctx context.Context, p *daemonProc) []*apiv1.Payment {
	t.Helper()
	var out []*apiv1.Payment
	var after uint64
	for {
		r, err := p.api.ListPayments(ctx, &apiv1.ListPaymentsRequest{AfterSeq: after, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r.GetPayments()...)
		if r.GetNextAfterSeq() == 0 {
			return out
		}
		after = r.GetNextAfterSeq()
	}
}

// nodeState is what a restart must keep of a node: its channel as it
// reports it and every payment (with receipts).
type nodeState struct {
	channel  *apiv1.Channel
	payments []*apiv1.Payment
}

func stateOf(t *testing.T, ctx context.Context, p *daemonProc, id string) nodeState {
	t.Helper()
	return nodeState{getChannel(t, ctx, p, id), allPayments(t, ctx, p)}
}

func (s nodeState) equal(o nodeState) error {
	if !proto.Equal(s.channel, o.channel) {
		return fmt.Errorf("channel %v, was %v", o.channel, s.channel)
	}
	if len(s.payments) != len(o.payments) {
		return fmt.Errorf("%d payments, was %d", len(o.payments), len(s.payments))
	}
	for i := range s.payments {
		if !proto.Equal(s.payments[i], o.payments[i]) {
			return fmt.Errorf("payment %d is %v, was %v", i, o.payments[i], s.payments[i])
		}
	}
	return nil
}

// TestPostgresStoreNode runs bob with --store postgres://... (a database
// of the test's own PostgreSQL server) beside alice on badger: bob is
// paid, pays with receipts, and keeps everything (channel balances and
// nonces, every payment with its receipt) across a graceful restart and
// across a SIGKILL, after which he waits out his own lease and pays on. His
// state is in the database, not in his data directory, and a second
// tinypayd for his node is refused while he runs.
func TestPostgresStoreNode(t *testing.T) {
	if !pgtest.Available() {
		t.Skip(pgtest.ErrNoServer)
	}
	url := pgtest.NewDatabase(t)
	alice, bob := startDaemons(t, "--store", url)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	id := openUSD(t, ctx, alice, bob, "10000000")

	pay := func(from *daemonProc, key, amount string, receipt bool) *apiv1.Payment {
		t.Helper()
		r, err := from.api.Pay(ctx, &apiv1.PayRequest{ChannelId: id, Amount: amount, IdempotencyKey: key, Receipt: receipt, ItemId: "item-" + key})
		if err != nil {
			t.Fatalf("%s pays %s: %v", from.name, key, err)
		}
		return r
	}
	for i := range 30 {
		pay(alice, fmt.Sprintf("a%d", i), "1000", false)
	}
	for i := range 5 {
		if p := pay(bob, fmt.Sprintf("b%d", i), "700", true); p.GetReceipt().GetSignature() == "" {
			t.Fatalf("bob's payment %d has no receipt: %v", i, p)
		}
	}
	before := stateOf(t, ctx, bob, id)
	if c := before.channel; c.GetReceived() != "30000" || c.GetSent() != "3500" {
		t.Fatalf("bob received %s and sent %s, want 30000 and 3500", c.GetReceived(), c.GetSent())
	}
	if len(before.payments) != 35 {
		t.Fatalf("bob lists %d payments, want 35", len(before.payments))
	}

	// Bob's records are in the database under his address, none on disk.
	if _, err := os.Stat(filepath.Join(bob.dir, dbDir)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("bob on PostgreSQL has a badger database in his data directory: %v", err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var rows int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM tinypay_kv WHERE node = $1", strings.ToLower(address(t, bob))).Scan(&rows); err != nil || rows < 35 {
		t.Fatalf("bob's node has %d rows in the database (%v), want at least his 35 payments", rows, err)
	}

	// A second tinypayd for bob's node, while he runs: refused at his lease.
	var out bytes.Buffer
	second := startChild(t, bob.args, nil, &out)
	err = second.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitError || !strings.Contains(out.String(), "another process holds the node's lease") {
		t.Fatalf("a second tinypayd on bob's node: %v\n%s", err, out.String())
	}

	// A graceful restart keeps everything.
	bob.stop()
	bob.start()
	waitUntil(t, "bob reconnected", time.Minute, func() bool {
		c, err := bob.api.GetChannel(ctx, &apiv1.GetChannelRequest{ChannelId: id})
		return err == nil && c.GetConnected()
	})
	if err := before.equal(stateOf(t, ctx, bob, id)); err != nil {
		t.Fatalf("after a restart: %v", err)
	}

	// Paid and paying on, then killed: the restart waits for the lease
	// of the process that died, and has everything it acknowledged.
	for i := range 10 {
		pay(alice, fmt.Sprintf("c%d", i), "10", false)
	}
	pay(bob, "d0", "5", true)
	before = stateOf(t, ctx, bob, id)
	bob.kill()
	bob.start()
	waitUntil(t, "bob reconnected", time.Minute, func() bool {
		c, err := bob.api.GetChannel(ctx, &apiv1.GetChannelRequest{ChannelId: id})
		return err == nil && c.GetConnected()
	})
	if err := before.equal(stateOf(t, ctx, bob, id)); err != nil {
		t.Fatalf("after SIGKILL and a restart: %v", err)
	}
	p := pay(bob, "d1", "5", true)
	if p.GetNonce() != before.channel.GetSentNonce()+1 {
		t.Fatalf("bob's next payment has nonce %d, want %d", p.GetNonce(), before.channel.GetSentNonce()+1)
	}
	if c := getChannel(t, ctx, alice, id); c.GetReceived() != "3510" || c.GetSent() != "30100" {
		t.Fatalf("alice received %s and sent %s, want 3510 and 30100", c.GetReceived(), c.GetSent())
	}

	// A backup of bob restores into another database (a node there with
	// no records), once: not over records, and not with --force.
	file := filepath.Join(t.TempDir(), "bob.tpbak")
	if code, out := tinypay(t, bob.dir, "backup", file); code != 0 {
		t.Fatalf("tinypay backup: exit %d\n%s", code, out)
	}
	url2 := pgtest.NewDatabase(t)
	dir2 := filepath.Join(t.TempDir(), "bob2")
	pass := flagValue(bob, "--passphrase-file")
	restore := func(extra ...string) (int, string) {
		return tinypayd(t, append([]string{"--datadir", dir2, "--passphrase-file", pass, "restore", "--store", url2}, append(extra, file)...)...)
	}
	if code, out := restore(); code != 0 || !strings.Contains(out, "into its PostgreSQL store") {
		t.Fatalf("restore into PostgreSQL: exit %d\n%s", code, out)
	}
	conn2, err := pgx.Connect(ctx, url2)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close(context.Background())
	var restored int
	if err := conn2.QueryRow(ctx, "SELECT count(*) FROM tinypay_kv WHERE node = $1", strings.ToLower(address(t, bob))).Scan(&restored); err != nil || restored < 37 {
		t.Fatalf("the restored node has %d rows (%v), want at least its 37 payments", restored, err)
	}
	if _, err := os.Stat(filepath.Join(dir2, restoredFile)); err != nil {
		t.Fatalf("no restore mark in %s: %v", dir2, err)
	}
	if code, out := restore(); code != exitError || !strings.Contains(out, "has records already") {
		t.Fatalf("a second restore over the restored records: exit %d\n%s", code, out)
	}
	if code, out := restore("--force"); code != exitUsage || !strings.Contains(out, "--force") {
		t.Fatalf("restore --force into PostgreSQL: exit %d\n%s", code, out)
	}
}

// TestStoreFlagRefusals: a --store that names no engine, or a PostgreSQL
// URL that does not parse, is a usage error that says what is wrong,
// before anything starts, and never shows the password.
func TestStoreFlagRefusals(t *testing.T) {
	dir := t.TempDir()
	chain := []string{"--chain-rpc", "http://127.0.0.1:1", "--chain-id", "5", "--adjudicator", "0x5FbDB2315678afecb367f032d93F642f64180aa3"}
	for _, tc := range []struct {
		name, store, want string
	}{
		// Another database's URL.
		{"other scheme", "mysql://u:secret@h/db", `want "badger" or a URL that starts with postgres://`},
		// A path is no engine either.
		{"a path", "/var/lib/tinypay", `want "badger" or a URL`},
		// A port that is no number.
		{"bad port", "postgres://u:secret@h:port/db", "cannot parse the URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := tinypayd(t, append([]string{"--datadir", dir, "run", "--store", tc.store}, chain...)...)
			if code != exitUsage || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, want %d saying %q:\n%s", code, exitUsage, tc.want, out)
			}
			if strings.Contains(out, "secret") {
				t.Fatalf("the error shows the password:\n%s", out)
			}
		})
	}
}

// TestStandbyFlagRefusals: --standby and --lease-ttl without PostgreSQL,
// a lease out of bounds, and --peer-advertise lists a node would not dial
// or too long are usage errors that say what is wrong, before anything
// starts.
func TestStandbyFlagRefusals(t *testing.T) {
	dir := t.TempDir()
	chain := []string{"--chain-rpc", "http://127.0.0.1:1", "--chain-id", "5", "--adjudicator", "0x5FbDB2315678afecb367f032d93F642f64180aa3"}
	pg := []string{"--store", "postgres://u@h/db"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		// A badger store has no lease to share.
		{"standby on badger", []string{"--standby"}, "--standby needs --store postgres://"},
		// Nor a lease to time.
		{"lease on badger", []string{"--lease-ttl", "5s"}, "--lease-ttl needs --store postgres://"},
		// Below a second.
		{"lease too short", append([]string{"--lease-ttl", "500ms"}, pg...), "--lease-ttl is 500ms, want 1s to 10m0s"},
		// Above ten minutes.
		{"lease too long", append([]string{"--lease-ttl", "1h"}, pg...), "--lease-ttl is 1h0m0s"},
		// Five addresses.
		{"five addresses", []string{"--peer-advertise", "a:1,b:2,c:3,d:4,e:5"}, "at most 4"},
		// One without a port.
		{"no port", []string{"--peer-advertise", "a:1,b"}, "want HOST:PORT"},
		// An empty one.
		{"empty", []string{"--peer-advertise", "a:1,,b:2"}, "want HOST:PORT"},
		// Port 0.
		{"port 0", []string{"--peer-advertise", "a:0"}, "port is not 1 to 65535"},
		// The same one twice.
		{"twice", []string{"--peer-advertise", "a:1,a:1"}, "names a:1 twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := tinypayd(t, append(append([]string{"--datadir", dir, "run"}, tc.args...), chain...)...)
			if code != exitUsage || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, want %d saying %q:\n%s", code, exitUsage, tc.want, out)
			}
		})
	}
}
