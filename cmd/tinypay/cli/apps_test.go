package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tinypay/tinypay/node/nodetest"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
)

// result is one run of the CLI.
type result struct {
	code        int
	out, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.out, r.stderr)
}

// lastLine is the last line of the output: the compact offer or receipt.
func (r result) lastLine() string {
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	return lines[len(lines)-1]
}

// runIO runs the CLI as Main does, with stdin, writing to out.
func runIO(stdin io.Reader, out io.Writer, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return runCtx(ctx, stdin, out, args...)
}

// runCtx is runIO until ctx ends (an interrupt, for watch).
func runCtx(ctx context.Context, stdin io.Reader, out io.Writer, args ...string) result {
	var errOut bytes.Buffer
	cmd := Command(out, &errOut)
	cmd.Reader = stdin
	code := ExitOK
	if err := cmd.Run(ctx, append([]string{"tinypay"}, args...)); err != nil {
		printError(&errOut, err)
		code = exitCode(err)
	}
	r := result{code: code, stderr: errOut.String()}
	if b, ok := out.(fmt.Stringer); ok {
		r.out = b.String()
	}
	return r
}

// tp runs the CLI against a node's data dir.
func tp(n *nodetest.Node, args ...string) result {
	return runIO(strings.NewReader(""), &nodetest.SyncBuffer{}, append([]string{"--datadir", n.Dir}, args...)...)
}

// offline runs the CLI with a data dir that does not exist.
func offline(t *testing.T, stdin string, args ...string) result {
	return runIO(strings.NewReader(stdin), &nodetest.SyncBuffer{}, append([]string{"--datadir", filepath.Join(t.TempDir(), "none")}, args...)...)
}

func want(t *testing.T, r result, code int, contains ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("want exit %d, got %s", code, r)
	}
	for _, s := range contains {
		if !strings.Contains(r.out+r.stderr, s) {
			t.Fatalf("want %q in the output, got %s", s, r)
		}
	}
}

func pair(t *testing.T) (alice, bob *nodetest.Node) {
	chain := nodetest.NewChain(t)
	alice, bob = nodetest.Start(t, chain, "alice", chain.Alice), nodetest.Start(t, chain, "bob", chain.Bob)
	alice.OpenUSD(bob, 5_000_000)
	return alice, bob
}

// TestOfferPayReceipt: Bob sells an article with an offer, Alice pays it
// once, and anyone can check the receipt offline.
func TestOfferPayReceipt(t *testing.T) {
	alice, bob := pair(t)
	aliceAddr, bobAddr := alice.Key.Address().Hex(), bob.Key.Address().Hex()

	r := tp(bob, "offer", "create", "article-7", "0.25", "USD", "--ttl", "1m")
	want(t, r, ExitOK, "article-7", "0.25 USD", bobAddr)
	offer := r.lastLine()

	want(t, offline(t, "", "offer", "show", offer), ExitOK, "signature valid", "article-7", "250000 base units of token")
	want(t, tp(alice, "offer", "show", offer), ExitOK, "signature valid", "price    0.25 USD") // the local node names the token
	want(t, offline(t, "", "offer", "show", offer, "--decimals", "6", "--symbol", "USD"), ExitOK, "price    0.25 USD")
	want(t, offline(t, "", "offer", "show", offer, "--symbol", "USD"), ExitUsage, "--symbol needs --decimals")

	r = tp(alice, "pay", "--offer", offer)
	want(t, r, ExitOK, "paid 0.25 USD to "+bobAddr, "item article-7", "receipt signed by "+bobAddr)
	receipt := r.lastLine()

	// Verify offline: no node, no data dir.
	want(t, offline(t, "", "receipt", "verify", receipt), ExitOK, "valid receipt", aliceAddr+" paid "+bobAddr+" 250000 base units of token", `item "article-7"`)
	want(t, offline(t, "", "receipt", "verify", receipt, "--decimals", "6", "--symbol", "USD"), ExitOK, aliceAddr+" paid "+bobAddr+" 0.25 USD", "0.25 USD paid through it in all")
	want(t, tp(alice, "receipt", "verify", receipt), ExitOK, aliceAddr+" paid "+bobAddr+" 0.25 USD") // the local node names the token
	want(t, offline(t, "", "receipt", "verify", receipt, "--payee", bobAddr, "--payer", aliceAddr, "--item", "article-7", "--min-amount", "0.25 USD", "--decimals", "6"), ExitOK)
	want(t, offline(t, "", "receipt", "verify", receipt, "--payee", aliceAddr), ExitFailed, "signed by payee")
	want(t, offline(t, "", "receipt", "verify", receipt, "--min-amount", "250001"), ExitFailed, "pays 250000 base units, less than 250001 base units")
	want(t, tp(alice, "receipt", "verify", receipt, "--min-amount", "0.3 USD"), ExitFailed, "pays 0.25 USD, less than 0.3 USD")
	want(t, offline(t, "", "receipt", "verify", receipt, "--item", "article-8"), ExitFailed, "not \"article-8\"")
	want(t, offline(t, "", "receipt", "verify", receipt, "--min-amount", "0.25 USD"), ExitUsage, "--decimals")
	want(t, offline(t, "", "receipt", "verify"), ExitUsage)
	want(t, offline(t, "", "receipt", "verify", "@"+filepath.Join(t.TempDir(), "missing")), ExitUsage)

	// An altered receipt is refused with the reason.
	dec, err := decodeReceipt([]byte(receipt))
	if err != nil {
		t.Fatal(err)
	}
	forged := proto.Clone(dec).(*apiv1.Receipt)
	forged.Amount = "2500000"
	want(t, offline(t, "", "receipt", "verify", compact(forged)), ExitFailed, "invalid receipt")
	want(t, offline(t, "", "receipt", "verify", "garbage"), ExitFailed, "invalid receipt")
	r = offline(t, "", "--json", "receipt", "verify", compact(forged))
	want(t, r, ExitFailed, `"valid": false`)

	// The same offer again is refused: an offer is paid once.
	want(t, tp(alice, "pay", "--offer", offer), ExitFailed, "paid before")

	// An offer as JSON on stdin; the payment JSON feeds receipt verify.
	r = tp(bob, "--json", "offer", "create", "song-1", "0.001", "USD")
	want(t, r, ExitOK)
	var o struct{ ItemID, Price string }
	if err := json.Unmarshal([]byte(r.out), &o); err != nil || o.ItemID != "song-1" || o.Price != "1000" {
		t.Fatalf("offer JSON %+v %v: %s", o, err, r)
	}
	r = runIO(strings.NewReader(r.out), &nodetest.SyncBuffer{}, "--datadir", alice.Dir, "--json", "pay", "--offer", "-")
	want(t, r, ExitOK, `"receipt"`, `"offerId"`)
	want(t, offline(t, r.out, "receipt", "verify", "-", "--item", "song-1"), ExitOK, "valid receipt")
	path := filepath.Join(t.TempDir(), "payment.json")
	if err := os.WriteFile(path, []byte(r.out), 0o600); err != nil {
		t.Fatal(err)
	}
	want(t, offline(t, "", "receipt", "verify", "@"+path), ExitOK, "valid receipt")

	// The whole text output of offer create, piped.
	r = tp(bob, "offer", "create", "song-2", "0.002", "USD")
	want(t, r, ExitOK)
	r = runIO(strings.NewReader(r.out), &nodetest.SyncBuffer{}, "--datadir", alice.Dir, "pay", "--offer", "-")
	want(t, r, ExitOK, "paid 0.002 USD")
	want(t, offline(t, r.out, "receipt", "verify", "-", "--item", "song-2"), ExitOK, "valid receipt")

	// A plain payment with a receipt asked for.
	r = tp(alice, "pay", bobAddr, "0.01", "USD", "--receipt")
	want(t, r, ExitOK, "receipt signed by")
	want(t, offline(t, "", "receipt", "verify", r.lastLine(), "--min-amount", "10000"), ExitOK)

	// Usage errors.
	want(t, tp(alice, "pay", "--offer", "garbage"), ExitUsage, "offer")
	want(t, tp(alice, "pay", "--offer", offer, "1", "USD"), ExitUsage, "no amount")
	want(t, tp(alice, "pay", "--offer", offer, "--count", "2"), ExitUsage, "once")
	want(t, tp(bob, "offer", "create", "x", "1"), ExitUsage, "asset")
	want(t, tp(bob, "offer", "create", "x", "1", "USD", "--ttl", "1500ms"), ExitUsage, "--ttl")
	for _, help := range [][]string{{"offer", "create"}, {"pay"}, {"receipt", "verify"}} {
		want(t, offline(t, "", append(help, "--help")...), ExitOK, "Examples:")
	}
}

type streamJSON struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	Paid      string `json:"paid"`
	Ticks     string `json:"ticks"`
	Direction string `json:"direction"`
	EndReason string `json:"endReason"`
}

func getStream(t *testing.T, n *nodetest.Node, id string) streamJSON {
	t.Helper()
	r := tp(n, "--json", "stream", "get", id)
	want(t, r, ExitOK)
	var st streamJSON
	if err := json.Unmarshal([]byte(r.out), &st); err != nil {
		t.Fatalf("%v: %s", err, r)
	}
	return st
}

// TestStreamCLI: Alice streams to Bob, who sees it; Alice stops it.
func TestStreamCLI(t *testing.T) {
	alice, bob := pair(t)
	bobAddr := bob.Key.Address().Hex()
	r := tp(alice, "--json", "stream", "start", bobAddr, "0.1 USD/s", "--tick", "100ms", "--duration", "1m", "--item", "radio-1")
	want(t, r, ExitOK)
	var st streamJSON
	if err := json.Unmarshal([]byte(r.out), &st); err != nil || st.ID == "" {
		t.Fatalf("%v: %s", err, r)
	}
	nodetest.Eventually(t, "bob sees the stream pay", func() bool {
		s := getStream(t, bob, st.ID)
		return s.Direction == "incoming" && s.Status == "live" && s.Paid != "0" && s.Paid != ""
	})
	want(t, tp(bob, "stream", "list"), ExitOK, st.ID, "<- "+alice.Key.Address().Hex(), "0.1 USD/s", "item radio-1")
	want(t, tp(alice, "stream", "get", st.ID), ExitOK, "outgoing, live", "0.1 USD/s, paid every 100ms", "radio-1")

	want(t, tp(alice, "stream", "stop", st.ID), ExitOK, "ended", "stopped by payer")
	nodetest.Eventually(t, "bob sees the stream end", func() bool {
		s := getStream(t, bob, st.ID)
		return s.Status == "ended"
	})
	want(t, tp(bob, "stream", "list"), ExitOK, "no streams")
	want(t, tp(bob, "stream", "list", "--all"), ExitOK, st.ID)

	// A budget ends a stream by itself.
	r = tp(alice, "--json", "stream", "start", bobAddr, "1000000/s", "--tick", "100ms", "--budget", "0.3 USD")
	want(t, r, ExitOK)
	if err := json.Unmarshal([]byte(r.out), &st); err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, "the budget ends the stream", func() bool {
		s := getStream(t, alice, st.ID)
		return s.Status == "ended" && s.EndReason == "budget" && s.Paid == "300000"
	})

	for _, bad := range [][]string{
		{"stream", "start", bobAddr},                                   // no rate
		{"stream", "start", bobAddr, "0.1 USD/day"},                    // unknown period
		{"stream", "start", bobAddr, "0.1 USD/s", "--tick", "10ms"},    // tick too short
		{"stream", "start", bobAddr, "0.1 USD/s", "--budget", "1 ETH"}, // budget in another asset
		{"stream", "start", "bob", "0.1 USD/s"},                        // not an address
		{"stream", "get"},                                              // no id
	} {
		want(t, tp(alice, bad...), ExitUsage)
	}
	want(t, tp(alice, "stream", "get", "0x"+strings.Repeat("ab", 16)), ExitFailed, "NotFound")
	want(t, offline(t, "", "stream", "start", "--help"), ExitOK, "Examples:", "USD/s")
}

// TestTokenCLI: an app token pays within its limits, and nothing else.
func TestTokenCLI(t *testing.T) {
	alice, bob := pair(t)
	bobAddr := bob.Key.Address().Hex()
	secret := filepath.Join(t.TempDir(), "app.token")

	r := tp(alice, "token", "create", "--name", "player", "--limit", "0.01 USD", "--period", "1h", "--payee", bobAddr+"=0.008 USD", "--secret-file", secret)
	want(t, r, ExitOK, `"player"`, "0.01 USD per 1h", bobAddr+" (at most 0.008 USD per period)", "secret written to")
	id := strings.Fields(r.out)[1]

	app := func(args ...string) result { return tp(alice, append([]string{"--token-file", secret}, args...)...) }
	want(t, app("pay", bobAddr, "0.005", "USD"), ExitOK, "paid 0.005 USD")
	want(t, app("channel", "list"), ExitAuth, "PermissionDenied")
	want(t, app("token", "create", "--name", "x", "--limit", "1 USD"), ExitAuth)
	want(t, app("pay", bobAddr, "0.005", "USD"), ExitFailed, "ResourceExhausted") // 0.010 > 0.008 for bob
	want(t, tp(alice, "token", "list"), ExitOK, id, "spent 0.005 USD")

	want(t, tp(alice, "token", "revoke", id), ExitOK, "REVOKED")
	want(t, app("pay", bobAddr, "0.001", "USD"), ExitAuth, "Unauthenticated")

	// Printed once, without --secret-file.
	r = tp(alice, "token", "create", "--name", "shop", "--limit", "1 USD")
	want(t, r, ExitOK, "shown only this once")
	if !strings.HasPrefix(r.lastLine(), "tpapp_") {
		t.Fatalf("the secret is not the last line: %s", r)
	}

	for _, bad := range [][]string{
		{"token", "create", "--limit", "1 USD"},                                         // no name
		{"token", "create", "--name", "x"},                                              // no limit
		{"token", "create", "--name", "x", "--limit", "100"},                            // no asset
		{"token", "create", "--name", "x", "--limit", "1 USD", "--period", "forever"},   // bad period
		{"token", "create", "--name", "x", "--limit", "1 USD", "--payee", "0x12=1 USD"}, // bad payee
		{"token", "create", "--name", "x", "--limit", "1 USD", "--secret-file", secret}, // the file exists
		{"token", "revoke", "nope"},                                                     // the node says: bad id
	} {
		want(t, tp(alice, bad...), ExitUsage)
	}
	if err := os.WriteFile(secret+".open", []byte("tpapp_0123\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	want(t, tp(alice, "--token-file", secret+".open", "info"), ExitUsage, "chmod 600")
}

// TestRevenueAndPaymentsCSV: Bob's income by item, and the payment history
// as CSV on both sides.
func TestRevenueAndPaymentsCSV(t *testing.T) {
	alice, bob := pair(t)
	bobAddr := bob.Key.Address().Hex()
	for _, p := range [][]string{
		{"0.001", "USD", "--item", "song-1"},
		{"0.001", "USD", "--item", "song-1"},
		{"0.002", "USD", "--item", "song-2", "--memo", `a "quoted", memo`},
		{"0.001", "USD", "--item", "song-1"},
		{"500"}, // base units, no item
	} {
		want(t, tp(alice, append([]string{"pay", bobAddr}, p...)...), ExitOK)
	}
	want(t, tp(alice, "pay", bobAddr, "0.001", "USD", "--count", "1100", "--quiet"), ExitOK) // more than a page

	r := tp(bob, "revenue", "--by", "item", "--from", "1h")
	want(t, r, ExitOK, "ITEM", "song-1", "0.003 USD", "song-2", "0.002 USD", "(none)")
	r = tp(bob, "revenue", "--by", "item", "--csv")
	want(t, r, ExitOK)
	rows, err := csv.NewReader(strings.NewReader(r.out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	byItem := map[string][]string{}
	for _, row := range rows[1:] {
		byItem[row[0]] = row
	}
	if h := strings.Join(rows[0], ","); h != "item,asset,payments,amount,base_units" {
		t.Fatalf("header %s", h)
	}
	if got := strings.Join(byItem["song-1"], ","); got != "song-1,USD,3,0.003,3000" {
		t.Fatalf("song-1: %s", got)
	}
	if got := strings.Join(byItem[""], ","); got != ",USD,1101,1.1005,1100500" {
		t.Fatalf("no item: %s\n%s", got, r.out)
	}
	want(t, tp(bob, "revenue", "--to", "1h"), ExitOK, "no incoming payments")
	want(t, tp(bob, "revenue", "--by", "peer"), ExitOK, alice.Key.Address().Hex(), "1105")
	want(t, tp(bob, "revenue", "--from", "yesterday"), ExitUsage)
	want(t, tp(bob, "revenue", "--by", "song"), ExitUsage)
	want(t, tp(bob, "revenue", "--from", "1h", "--to", "2h"), ExitUsage)
	// Per hour or day: the rows carry when their bucket starts, and add
	// up to the total.
	r = tp(bob, "revenue", "--by", "asset", "--from", "2h", "--per", "hour", "--tz", "Asia/Kolkata", "--csv")
	want(t, r, ExitOK)
	rows, err = csv.NewReader(strings.NewReader(r.out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if h := strings.Join(rows[0], ","); h != "hour,asset,payments,amount,base_units" {
		t.Fatalf("header per hour %s", h)
	}
	var sum uint64
	for _, row := range rows[1:] {
		start, err := time.Parse(time.RFC3339, row[0])
		if err != nil || row[1] != "USD" || !strings.HasSuffix(row[0], "+05:30") || start.Minute() != 0 {
			t.Fatalf("row %q: want the start of a Kolkata hour (%v)", row, err)
		}
		n, _ := strconv.ParseUint(row[4], 10, 64)
		sum += n
	}
	if sum != 1_105_500 { // 0.005 USD, 500 base units and 1100 of 0.001 USD
		t.Fatalf("per hour the rows add up to %d, want 1105500:\n%q", sum, rows)
	}
	want(t, tp(bob, "revenue", "--by", "asset", "--per", "hour"), ExitUsage, "needs --from")
	want(t, tp(bob, "revenue", "--from", "1h", "--per", "week"), ExitUsage, "hour or day")
	want(t, tp(bob, "revenue", "--from", "1h", "--tz", "UTC"), ExitUsage, "only applies with --per")
	want(t, tp(bob, "revenue", "--from", "1h", "--per", "day", "--tz", "Nowhere/Else"), ExitUsage, "time zone")

	for _, side := range []struct {
		n   *nodetest.Node
		dir string
	}{{bob, "incoming"}, {alice, "outgoing"}} {
		r := tp(side.n, "payments", "--csv")
		want(t, r, ExitOK)
		rows, err := csv.NewReader(strings.NewReader(r.out)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if h := strings.Join(rows[0], ","); h != "seq,time,direction,peer,channel,amount,asset,item,memo,status,offer,stream,receipt_signature" {
			t.Fatalf("header %s", h)
		}
		if len(rows) != 1+1105 {
			t.Fatalf("%s: %d rows, want 1105 payments", side.dir, len(rows)-1)
		}
		third := rows[3]
		if third[2] != side.dir || third[5] != "0.002" || third[6] != "USD" || third[7] != "song-2" || third[8] != `a "quoted", memo` || third[9] != "complete" {
			t.Fatalf("%s: third payment %q", side.dir, third)
		}
		if _, err := time.Parse(time.RFC3339Nano, third[1]); err != nil {
			t.Fatalf("time %q: %v", third[1], err)
		}
		if side.dir == "outgoing" && !strings.HasPrefix(third[12], "0x") {
			t.Fatalf("an item payment has a receipt: %q", third)
		}
		if rows[5][5] != "0.0005" || rows[5][7] != "" {
			t.Fatalf("%s: fifth payment %q", side.dir, rows[5])
		}
	}
}

// TestWatchPlain: watch counts what comes in from when it starts.
func TestWatchPlain(t *testing.T) {
	alice, bob := pair(t)
	bobAddr := bob.Key.Address().Hex()
	want(t, tp(alice, "pay", bobAddr, "0.5", "USD"), ExitOK) // before the watch: not counted

	out := &nodetest.SyncBuffer{}
	ctx, interrupt := context.WithCancel(context.Background())
	defer interrupt()
	done := make(chan result, 1)
	go func() { done <- runCtx(ctx, strings.NewReader(""), out, "--datadir", bob.Dir, "watch", "--plain") }()
	nodetest.Eventually(t, "watch runs", func() bool { return strings.Contains(out.String(), "total 0 payments") })
	for range 10 {
		want(t, tp(alice, "pay", bobAddr, "0.001", "USD", "--item", "song-1"), ExitOK)
	}
	nodetest.Eventually(t, "watch counts the 10 payments made while watching", func() bool {
		return strings.Contains(out.String(), "total 10 payments 0.01 USD")
	})
	interrupt()
	want(t, <-done, ExitOK)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "total 10 payments 0.01 USD") || !strings.Contains(last, "payments/s") {
		t.Fatalf("last line %q, want the 10 payments made while watching and a rate\n%s", last, out)
	}
}

// TestWatchReconnects: the node restarts (on another API port) and watch
// resumes where it left off.
func TestWatchReconnects(t *testing.T) {
	alice, bob := pair(t)
	bobAddr := bob.Key.Address().Hex()
	out := &nodetest.SyncBuffer{}
	ctx, interrupt := context.WithCancel(context.Background())
	defer interrupt()
	done := make(chan result, 1)
	go func() { done <- runCtx(ctx, strings.NewReader(""), out, "--datadir", bob.Dir, "watch", "--plain") }()
	nodetest.Eventually(t, "watch runs", func() bool { return strings.Contains(out.String(), "total 0 payments") })
	want(t, tp(alice, "pay", bobAddr, "0.001", "USD"), ExitOK)
	nodetest.Eventually(t, "watch counts a payment", func() bool { return strings.Contains(out.String(), "total 1 payments") })
	bob.Restart()
	nodetest.Eventually(t, "alice reconnects", func() bool {
		return tp(alice, "pay", bobAddr, "0.001", "USD", "--key", "after-restart").code == ExitOK
	})
	want(t, tp(alice, "pay", bobAddr, "0.001", "USD"), ExitOK)
	nodetest.Eventually(t, "watch counts all 3 payments and the reconnection", func() bool {
		return strings.Contains(out.String(), "total 3 payments 0.003 USD") && strings.Contains(out.String(), "reconnected 1 times")
	})
	interrupt()
	want(t, <-done, ExitOK)
}

// TestPayErrorsInUnits checks what a person reads when a payment is
// refused: amounts in the asset's units, a clear word for a malformed
// amount, and no advice to retry a refusal (retrying cannot help it, and
// nothing was paid). Only an unknown outcome suggests retrying with the key.
func TestPayErrorsInUnits(t *testing.T) {
	alice, bob := pair(t) // alice has 5 USD in a channel with bob
	to := bob.Key.Address().Hex()
	for _, tc := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"10 USD"}, ExitFailed, "needs 10 USD, this node has 5 USD in the channel"},
		{[]string{"1,5", "USD"}, ExitUsage, "use a dot for decimals"},
		{[]string{"0.0000001", "USD"}, ExitUsage, "more than 6 decimals"},
		{[]string{"115792089237316195423570985008687907853269984665640564039457584007913129639936"}, ExitUsage, "too large"},
		{[]string{"1e3", "USD"}, ExitUsage, "exponent"},
		{[]string{"0", "USD"}, ExitUsage, "zero"},
		{[]string{"1", "EUR"}, ExitUsage, `unknown asset "EUR"`},
	} {
		r := tp(alice, append([]string{"pay", to}, tc.args...)...)
		want(t, r, tc.code, tc.says)
		if strings.Contains(r.stderr, "retry") {
			t.Errorf("pay %v: a refusal suggests retrying: %s", tc.args, r.stderr)
		}
	}
	if got := alice.N().Channels(bob.Key.Address(), false)[0].Sent; !got.IsZero() {
		t.Fatalf("refused payments moved %s", got.Dec())
	}
	// The peer gone: the node cannot tell whether the payment will be
	// acknowledged, and the key is the way to learn it later.
	bob.Stop()
	r := tp(alice, "pay", to, "1", "USD", "--key", "k-1", "--timeout", "2s")
	if r.code == ExitOK || !strings.Contains(r.stderr, "retry with --key k-1") {
		t.Fatalf("pay with the peer down: %s", r)
	}
}

// TestReusableOfferCLI: offers under each use policy from the command
// line: a per-payer offer sells once to Alice, a limited one sells its
// uses and is then sold out (refused and refunded), `offer show` prints
// the policy offline and, with --sales on the seller's node, the uses so
// far; bad --uses values are usage errors; and every `offer create`
// example of the help runs.
func TestReusableOfferCLI(t *testing.T) {
	alice, bob := pair(t)
	aliceAddr := alice.Key.Address().Hex()

	r := tp(bob, "offer", "create", "course-1", "0.02", "USD", "--uses", "per-payer")
	want(t, r, ExitOK, "payable  once per payer")
	course := r.lastLine()
	want(t, offline(t, "", "offer", "show", course), ExitOK, "signature valid", "payable  once per payer")
	r = tp(alice, "pay", "--offer", course)
	want(t, r, ExitOK, "paid 0.02 USD")
	want(t, offline(t, "", "receipt", "verify", r.lastLine(), "--payer", aliceAddr), ExitOK, aliceAddr+" paid")
	want(t, tp(alice, "pay", "--offer", course), ExitFailed, "paid before by this node", "once per payer")

	r = tp(bob, "offer", "create", "seat", "0.01", "USD", "--uses", "2")
	want(t, r, ExitOK, "payable  up to 2 times")
	seat := r.lastLine()
	for range 2 { // each run is a purchase of its own, under a new key
		r = tp(alice, "pay", "--offer", seat)
		want(t, r, ExitOK, "paid 0.01 USD", "key cli-")
		want(t, offline(t, "", "receipt", "verify", r.lastLine(), "--payer", aliceAddr, "--item", "seat"), ExitOK)
	}
	// A third is refused (and refunded); the error names the key.
	want(t, tp(alice, "pay", "--offer", seat, "--key", "seat-x"), ExitFailed, "sold out", "--key seat-x")
	want(t, tp(bob, "offer", "show", "--sales", seat), ExitOK, "sold     2 times so far (0 left)")
	r = tp(bob, "--json", "offer", "show", "--sales", seat)
	want(t, r, ExitOK)
	var sales struct{ Paid, Remaining, Uses string }
	if err := json.Unmarshal([]byte(r.out), &sales); err != nil || sales.Paid != "2" || sales.Remaining != "0" || sales.Uses != "OFFER_USES_LIMITED" {
		t.Fatalf("offer show --sales --json: %+v %v\n%s", sales, err, r)
	}
	want(t, tp(bob, "offer", "show", "--sales", course), ExitOK, "sold     1 times so far (no limit)")
	want(t, tp(alice, "offer", "show", "--sales", seat), ExitUsage, "not this node's")

	for _, bad := range []string{"0", "twice", "1000001", "-3"} {
		want(t, tp(bob, "offer", "create", "x", "1", "USD", "--uses", bad), ExitUsage, "--uses")
	}
	if r := tp(bob, "offer", "create", "x", "1", "USD", "--uses", "1"); r.code != ExitOK || !strings.Contains(r.out, "payable  once") {
		t.Fatalf("--uses 1 makes a once-only offer: %s", r)
	}

	// The help's examples run.
	help := offline(t, "", "offer", "create", "--help")
	want(t, help, ExitOK, "Examples:")
	n := 0
	_, examples, _ := strings.Cut(help.out, "Examples:")
	examples, _, _ = strings.Cut(examples, "OPTIONS:")
	for _, line := range strings.Split(examples, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "tinypay offer create ") {
			continue
		}
		line, _, _ = strings.Cut(line, "#")
		line, _, _ = strings.Cut(line, ">")
		f := strings.Fields(line)
		want(t, tp(bob, f[1:]...), ExitOK, f[3]) // the item
		n++
	}
	if n < 5 {
		t.Fatalf("ran %d examples of offer create --help", n)
	}
}
