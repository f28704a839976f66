package daemon

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/store/pgtest"
)

// TestOperatorIdentities: two creator identities (bob and carol, shards of
// one platform) share one PostgreSQL database, each apart from the other,
// both running at once. Bob is given carol as another identity (a
// directory with a copy of her address and certificate and a view token
// of hers); his revenue with --all-identities totals both (the same item
// on both is one row), by identity one row each, in the CLI and on the
// dashboard. Without carol answering there is no total, only an error
// that names her; an identity given twice is refused rather than counted
// twice.
func TestOperatorIdentities(t *testing.T) {
	if !pgtest.Available() {
		t.Skip(pgtest.ErrNoServer)
	}
	url := pgtest.NewDatabase(t)
	procs := startDaemonsFlags(t, []string{"alice", "bob", "carol"}, map[string][]string{
		"bob": {"--store", url, "--dashboard"}, "carol": {"--store", url},
	})
	alice, bob, carol := procs[0], procs[1], procs[2]
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	toBob := openUSD(t, ctx, alice, bob, "10000000")
	toCarol := openUSD(t, ctx, alice, carol, "10000000")
	pay := func(ch, key, amount, item string) {
		t.Helper()
		if _, err := alice.api.Pay(ctx, &apiv1.PayRequest{ChannelId: ch, Amount: amount, IdempotencyKey: key, ItemId: item}); err != nil {
			t.Fatalf("alice pays %s: %v", key, err)
		}
	}
	pay(toBob, "b1", "1000", "song")
	pay(toBob, "b2", "2000", "song")
	pay(toBob, "b3", "500", "film")
	pay(toCarol, "c1", "4000", "song")
	pay(toCarol, "c2", "300", "book")
	bobAddr, carolAddr := address(t, bob), address(t, carol)

	// One database, each apart: each lists only its own channel, and each
	// has rows under its own address.
	for _, c := range []struct {
		p    *daemonProc
		mine string
	}{{bob, toBob}, {carol, toCarol}} {
		l, err := c.p.api.ListChannels(ctx, &apiv1.ListChannelsRequest{})
		if err != nil || len(l.GetChannels()) != 1 || l.GetChannels()[0].GetId() != c.mine {
			t.Fatalf("%s lists %v (%v), want only channel %s", c.p.name, l.GetChannels(), err, c.mine)
		}
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var nodes int
	if err := conn.QueryRow(ctx, "SELECT count(DISTINCT node) FROM tinypay_kv WHERE node IN ($1, $2)", strings.ToLower(bobAddr), strings.ToLower(carolAddr)).Scan(&nodes); err != nil || nodes != 2 {
		t.Fatalf("%d of the two nodes have rows in the shared database (%v)", nodes, err)
	}

	// Carol's files for bob: her address and certificate, a view token.
	ops := filepath.Join(t.TempDir(), "carol")
	if err := os.MkdirAll(ops, 0o700); err != nil {
		t.Fatal(err)
	}
	if code, out := tinypay(t, carol.dir, "token", "create", "--view", "--name", "platform", "--secret-file", filepath.Join(ops, tokenFile)); code != 0 {
		t.Fatalf("token create: exit %d\n%s", code, out)
	}
	for _, f := range []string{addrFile, certFile} {
		b, err := os.ReadFile(filepath.Join(carol.dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ops, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	bob.stop()
	bob.args = append(bob.args, "--operator-identity", "shard-c="+ops)
	bob.start()
	if info, err := bob.api.GetInfo(ctx, &apiv1.GetInfoRequest{}); err != nil || strings.Join(info.GetIdentities(), ",") != "shard-c" {
		t.Fatalf("bob's info names identities %q (%v), want shard-c", info.GetIdentities(), err)
	}

	revenue := func(args ...string) map[string][2]string { // key -> payments, base units
		t.Helper()
		code, out := tinypay(t, bob.dir, append([]string{"revenue", "--csv"}, args...)...)
		if code != 0 {
			t.Fatalf("tinypay revenue %v: exit %d\n%s", args, code, out)
		}
		recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil || len(recs) == 0 {
			t.Fatalf("revenue %v: %q: %v", args, out, err)
		}
		got := map[string][2]string{}
		for _, r := range recs[1:] {
			got[strings.ToLower(r[0])] = [2]string{r[len(r)-3], r[len(r)-1]}
		}
		return got
	}
	want := func(what string, got, want map[string][2]string) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %v, want %v", what, got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("%s: %v, want %v", what, got, want)
			}
		}
	}
	want("bob's own revenue by item", revenue("--by", "item"), map[string][2]string{"song": {"2", "3000"}, "film": {"1", "500"}})
	want("all identities by item", revenue("--by", "item", "--all-identities"), map[string][2]string{"song": {"3", "7000"}, "film": {"1", "500"}, "book": {"1", "300"}})
	want("all identities by identity", revenue("--by", "identity", "--all-identities"), map[string][2]string{
		strings.ToLower(bobAddr): {"3", "3500"}, strings.ToLower(carolAddr): {"2", "4300"}})
	want("all identities by asset", revenue("--by", "asset", "--all-identities"), map[string][2]string{"usd": {"5", "7800"}})
	if code, out := tinypay(t, bob.dir, "info"); code != 0 || !strings.Contains(out, "this node and shard-c") {
		t.Fatalf("tinypay info: exit %d\n%s", code, out)
	}

	// The dashboard totals both when asked.
	if chromiumPath() != "" {
		br := newBrowser(t, bob)
		br.signIn(bob.adminToken())
		br.page("revenue")
		if got := br.text("#rev-all-label"); !strings.Contains(got, "this node and shard-c") {
			t.Fatalf("the revenue page offers %q, want all identities", got)
		}
		total := func() string {
			return eval[string](br, `document.querySelector("#rev-chart svg")?.dataset.total ?? ""`)
		}
		if got := total(); got != "3500" {
			t.Fatalf("bob's chart total %s, want his 3500", got)
		}
		br.run("all identities", chromedp.Click(chromedp.CSS("#rev-all")))
		br.waitJS("the total of both", `document.querySelector("#rev-chart svg")?.dataset.total === "7800" && document.querySelectorAll("#rev-identity tbody tr").length === 2`, 15*time.Second)
		rows := eval[[]string](br, `[...document.querySelectorAll("#rev-identity tbody tr")].map(tr => tr.innerText)`)
		if !strings.Contains(strings.Join(rows, "\n"), "(this node)") || !strings.Contains(br.text("#rev-item"), "song") {
			t.Fatalf("by identity %q", rows)
		}
		if got := br.text("#rev-item"); !strings.Contains(got, "book") {
			t.Fatalf("by item with all identities: %q, want carol's book too", got)
		}
		br.screenshot("revenue-all-identities")
	}

	// Without carol there is no total, and the error names her; bob's own
	// revenue still works.
	carol.stop()
	code, out := tinypay(t, bob.dir, "revenue", "--all-identities", "--timeout", "60s")
	if code == 0 || !strings.Contains(out, `identity "shard-c" does not answer`) {
		t.Fatalf("revenue --all-identities with carol down: exit %d\n%s", code, out)
	}
	want("bob's own revenue with carol down", revenue("--by", "asset"), map[string][2]string{"usd": {"3", "3500"}})

	// Bob's own files as another identity: refused, not counted twice.
	self := filepath.Join(t.TempDir(), "bob-again")
	if err := os.MkdirAll(self, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{addrFile, certFile, tokenFile} { // links: his api.addr changes as he restarts
		if err := os.Symlink(filepath.Join(bob.dir, f), filepath.Join(self, f)); err != nil {
			t.Fatal(err)
		}
	}
	bob.stop()
	bob.args = append(bob.args[:len(bob.args)-2], "--operator-identity", "again="+self)
	bob.start()
	code, out = tinypay(t, bob.dir, "revenue", "--all-identities")
	if code == 0 || !strings.Contains(out, "counted twice") {
		t.Fatalf("revenue with bob as his own other identity: exit %d\n%s", code, out)
	}
}
