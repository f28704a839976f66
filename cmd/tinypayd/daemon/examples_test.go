package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/urfave/cli/v3"

	tpcli "github.com/tinypay/tinypay/cmd/tinypay/cli"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/store/pgtest"
)

// helpExamples returns every example command line in the --help texts of
// tinypay and tinypayd (lines that start with the program's name, with
// continuation lines joined), by command path.
func helpExamples() []string {
	var out []string
	var walk func(c *cli.Command)
	walk = func(c *cli.Command) {
		var cont string
		add := func(l string) {
			if i := strings.Index(l, " # "); i >= 0 { // a comment for the reader
				l = l[:i]
			}
			out = append(out, strings.Join(strings.Fields(l), " "))
		}
		for _, line := range strings.Split(c.Description, "\n") {
			l := strings.TrimSpace(line)
			if cont != "" {
				cont += " " + strings.TrimSuffix(l, `\`)
				if !strings.HasSuffix(l, `\`) {
					add(cont)
					cont = ""
				}
				continue
			}
			indented := strings.HasPrefix(line, " ")
			if !indented || !strings.HasPrefix(l, "tinypay ") && !strings.HasPrefix(l, "tinypayd ") && !strings.HasPrefix(l, "curl ") {
				continue
			}
			if strings.HasSuffix(l, `\`) {
				cont = strings.TrimSuffix(l, `\`)
				continue
			}
			add(l)
		}
		for _, sub := range c.Commands {
			walk(sub)
		}
	}
	walk(tpcli.Command(io.Discard, io.Discard))
	walk(command(configFile{}, nil, io.Discard, io.Discard, options{}))
	return out
}

// example says how to run one --help example against real daemons.
type example struct {
	text string // as in --help, whitespace collapsed
	// as is the data dir the command runs with (TINYPAY_DATADIR): "bob"
	// (the default), "alice", or "new" (a fresh, empty one).
	as string
	// background: the command runs until stopped (a server, a watch);
	// it passes if it is still running when stopped.
	background bool
	// before prepares what the example names: files, placeholders.
	before func(e *exampleEnv)
	// stop stops the background commands started so far first.
	stop bool
	// fails, if set, is part of the error the example must fail with:
	// for an example that needs what a test machine cannot have.
	fails string
}

// exampleEnv is what the examples run in: a working directory with alice/
// and bob/ (the daemons' data dirs), the dev chain file, and placeholders.
type exampleEnv struct {
	t            *testing.T
	dir, bin     string
	alice, bob   *daemonProc
	subst        map[string]string
	background   []bgCmd
	paywallAddr  string
	newDirs      int
	newDir       string
	aliceAddress string
}

// bgCmd is a background example and its Wait's result.
type bgCmd struct {
	c    *exec.Cmd
	done chan error
}

// The examples, in the order they run. Placeholders in capitals (CHANNEL,
// OFFER, RECEIPT, STREAM, TOKEN) stand for what the reader has at hand; the
// test fills them in. Host ports of the examples are mapped to the test's.
var examples = []example{
	{text: "tinypay info"},
	{text: "tinypay --datadir ./bob info --json"},
	{text: "tinypay balance"},
	{text: "tinypay peer connect 127.0.0.1:9735"},
	{text: "tinypay peer connect 127.0.0.1:9735 --address 0xFcd1463D08CC5a0B5509C2ABa78373E5b5E3762E"},
	{text: "tinypay peer connect 127.0.0.1:9745 127.0.0.1:9735 --address 0xFcd1463D08CC5a0B5509C2ABa78373E5b5E3762E"}, // the first does not answer
	{text: "tinypay peer list"},
	{text: "tinypay channel open 0xFcd1463D08CC5a0B5509C2ABa78373E5b5E3762E 10 USD"},
	{text: "tinypay channel open 0xFcd1463D08CC5a0B5509C2ABa78373E5b5E3762E 0.5 ETH --challenge-period 3600"},
	{text: "tinypay channel list"},
	{text: "tinypay channel list --all --json"},
	{text: "tinypay channel list --limit 20"},
	{text: "tinypay channel deposit CHANNEL 5 USD"},
	{text: "tinypay channel withdraw CHANNEL 2 USD"},
	{text: "tinypay pay 0xFcd1463D08CC5a0B5509C2ABa78373E5b5E3762E 0.0001 USD --item song-42"},
	{text: "tinypay pay 0xFcd1463D08CC5a0B5509C2ABa78373E5b5E3762E 0.0001 USD --item article-7"},
	{text: "tinypay pay CHANNEL 250 --key order-1842"},
	{text: "tinypay pay 0xFcd1463D08CC5a0B5509C2ABa78373E5b5E3762E 0.001 USD --count 1000"},
	{text: "tinypay pay 0xFcd1463D08CC5a0B5509C2ABa78373E5b5E3762E 1 USD --receipt"},
	{text: "tinypay offer create article-7 0.25 USD", as: "alice"},
	{text: "tinypay offer create song-42 0.001 USD --ttl 1h", as: "alice"},
	{text: "tinypay offer create ebook 0.01 ETH --json > offer.json", as: "alice"},
	{text: "tinypay offer create course-1 20 USD --uses per-payer", as: "alice"},
	{text: "tinypay offer create course-1 20 USD --uses per-payer --ttl 24h", as: "alice"},
	{text: "tinypay offer create concert 15 USD --uses 100", as: "alice"},
	{text: "tinypay offer create tip-jar 1 USD --uses unlimited", as: "alice"},
	{text: "tinypay offer show OFFER", before: freshOffer},
	{text: "tinypay offer show --sales OFFER", as: "alice"},
	{text: "tinypay --datadir alice offer show --sales @offer.json"},
	{text: "tinypay pay --offer @tickets.json --key ticket-2", before: ticketsFile},
	{text: "tinypay offer show @offer.json"},
	{text: "tinypay offer show @offer.json --decimals 6 --symbol USD"},
	{text: "tinypay pay --offer OFFER", before: freshOffer},
	{text: "tinypay pay --offer @offer.json --json > payment.json", before: freshOfferFile},
	{text: "tinypay pay --offer @offer.json --json | tinypay receipt verify -", before: freshOfferFile},
	{text: "tinypay receipt verify RECEIPT", before: freshReceipt},
	{text: "tinypay receipt verify @payment.json --payee 0xFcd1463D08CC5a0B5509C2ABa78373E5b5E3762E --min-amount \"0.25 USD\"", before: articlePayment},
	{text: "tinypay receipt verify @payment.json --payee 0xFcd1463D08CC5a0B5509C2ABa78373E5b5E3762E --item article-7", before: articlePayment},
	{text: "tinypay receipt verify @receipt.txt --min-amount \"0.25 USD\"", before: articleReceiptFile},
	{text: "tinypay receipt verify @receipt.txt --decimals 6 --symbol USD", before: articleReceiptFile},
	{text: "tinypay payments --limit 20"},
	{text: "tinypay payments --after 1200 --channel CHANNEL --json"},
	{text: "tinypay payments --limit 0 --channel CHANNEL"},
	{text: "tinypay payments --csv > payments.csv"},
	{text: "tinypay events --after 1000 --json"},
	{text: "tinypay events --only channels"},
	{text: "tinypay events --only transfers"},
	{text: "tinypay events --only channels --last 20"},
	{text: "tinypay events --follow", background: true},
	{text: "tinypay revenue --from 24h --by item", as: "alice"},
	{text: "tinypay revenue --from 2026-01-01 --to 2026-02-01 --by peer --csv > january.csv", as: "alice"},
	{text: "tinypay revenue --from 2026-03-01T09:00:00Z --by stream --json", as: "alice"},
	{text: "tinypay revenue --from 7d --by asset --per day --tz Europe/Paris", as: "alice"},
	{text: "tinypay revenue --from 24h --by item --per hour --csv > today.csv", as: "alice"},
	{text: "tinypay revenue --from 30d --by asset --all-identities", as: "alice"},
	{text: "tinypay revenue --from 30d --by identity --all-identities --csv", as: "alice"},
	{text: "tinypay stream start 0xFcd1463D08CC5a0B5509C2ABa78373E5b5E3762E \"0.001 USD/s\" --budget \"1 USD\""},
	{text: "tinypay stream start CHANNEL 1000/s --duration 10m --item radio-1"},
	{text: "tinypay stream start 0xFcd1463D08CC5a0B5509C2ABa78373E5b5E3762E \"0.06 USD/min\" --tick 250ms --auto-topup \"5 USD\""},
	{text: "tinypay stream list"},
	{text: "tinypay stream list --all"},
	{text: "tinypay stream list --all --json"},
	{text: "tinypay stream list --limit 20"},
	{text: "tinypay stream get STREAM", before: liveStream},
	{text: "tinypay stream get STREAM --json"},
	{text: "tinypay stream stop STREAM", before: liveStream},
	{text: "tinypay token create --name player --limit \"10 USD\" --period 24h --secret-file player.token"},
	{text: "tinypay token create --name player --limit \"10 USD\" --period 24h"},
	{text: "tinypay token list"},
	{text: "tinypay token revoke TOKEN", before: freshToken},
	{text: "tinypay token create --name shop --limit \"50 USD\" --payee 0xFcd1463D08CC5a0B5509C2ABa78373E5b5E3762E=\"20 USD\" --secret-file shop.token"},
	{text: "tinypay --token-file shop.token pay 0xFcd1463D08CC5a0B5509C2ABa78373E5b5E3762E 1 USD"},
	{text: "tinypay token create --view --name accountant --secret-file accountant.token"},
	{text: "tinypay --token-file accountant.token channel list"},
	// Earnings out. Without --yes, a send asks a person at a terminal.
	{text: "tinypay wallet send ADDRESS 25 USD", before: someAddress, fails: "--yes"},
	{text: "tinypay wallet send ADDRESS 0.5 ETH --yes --key rent-2026-12"},
	{text: "tinypay wallet send ADDRESS all USD", fails: "--yes"},
	{text: "tinypay watch", background: true},
	{text: "tinypay watch --outgoing", background: true},
	{text: "tinypay watch --plain --for 1h >> income.log", background: true},

	// The paywall, one at a time (they share a port); bob sells, alice buys.
	{text: "tinypay paywall --upstream http://127.0.0.1:8080 --price \"0.001 USD\"", background: true, stop: true},
	{text: "curl -i http://127.0.0.1:8402/article"},
	{text: "tinypay --datadir alice fetch http://127.0.0.1:8402/article --max-price \"0.01 USD\""},
	{text: "tinypay fetch http://127.0.0.1:8402/article --max-price \"0.01 USD\"", as: "alice"},
	{text: "tinypay --datadir alice fetch http://127.0.0.1:8402/api/quote --max-price 0.001USD"},
	{text: "tinypay paywall --upstream http://127.0.0.1:8080 --listen :8402 --price 0.01USD --path /api --path /files", background: true, stop: true},
	{text: "tinypay paywall --upstream http://127.0.0.1:8080 --price \"0.01 USD\" --route \"/premium=0.5 USD\" --route \"/songs=0.0005 USD/s\" --paid-for 24h", background: true, stop: true},
	{text: "tinypay --datadir bob paywall --upstream http://127.0.0.1:8081 --per-second \"0.0001 USD\" --tick 500ms", background: true, stop: true},
	{text: "tinypay fetch http://127.0.0.1:8402/video.mp4 --max-rate \"0.001 USD\" --max-stream \"1 USD\" -o video.mp4 --timeout 1h", as: "alice"},

	{text: "tinypay channel get CHANNEL"},
	{text: "tinypay channel close CHANNEL", stop: true, before: throwawayChannel},
	{text: "tinypay channel force-close CHANNEL", before: throwawayChannel},
	{text: "tinypay channel settle CHANNEL", before: settleable},

	// Backups of bob, and restores of them into new data dirs.
	{text: "tinypay backup node-$(date +%F).tpbak"},
	{text: "tinypay --datadir ./bob backup --without-key /mnt/backups/bob.tpbak", before: backupFiles},
	{text: "tinypayd --datadir ./bob-restored restore /mnt/backups/bob.tpbak --key-file bob-key.json"},
	{text: "tinypayd --datadir ./bob2 restore --key-file bob-key.json bob-without-key.tpbak", before: backupCopies},
	{text: "tinypayd --datadir ~/.tinypay --passphrase-file pass.txt restore node.tpbak"},

	// tinypayd, in fresh data dirs.
	{text: "tinypayd init --devchain devchain.json --dev-account 1 --passphrase-file pass.txt", as: "new"},
	{text: "tinypayd run --devchain devchain.json --passphrase-file pass.txt --peer-listen 127.0.0.1:9735 --api-listen 127.0.0.1:9736", background: true, before: freeDaemonPorts},
	{text: "tinypayd run --devchain devchain.json --passphrase-file pass.txt", background: true, stop: true, before: freeDaemonPorts},
	{text: "tinypayd run --devchain devchain.json --passphrase-file pass.txt --metrics-listen off", background: true, stop: true},
	{text: "tinypayd run --devchain devchain.json --passphrase-file pass.txt --http-listen 127.0.0.1:0", background: true, stop: true},
	{text: "tinypayd run --devchain devchain.json --passphrase-file pass.txt --http-listen 127.0.0.1:0 --dashboard", background: true, stop: true},
	{text: "tinypayd run --devchain devchain.json --passphrase-file pass.txt --browser-listen 127.0.0.1:9739 --dashboard", background: true, stop: true},
	{text: "tinypayd run --devchain devchain.json --passphrase-file pass.txt --sweep-to ADDRESS --sweep-above \"100 USD\" --sweep-above \"0.5 ETH\"", background: true, stop: true},
	{text: "tinypayd run --devchain devchain.json --passphrase-file pass.txt --store \"" + examplePostgres + "\"", background: true, stop: true},
	{text: "tinypayd run --devchain devchain.json --passphrase-file pass.txt --store \"" + examplePostgres + "\" --standby --lease-ttl 5s --peer-advertise node-a.example:9735,node-b.example:9735", background: true, stop: true},
	{text: "tinypayd init --devchain devchain.json --dev-account 1", as: "new"},
	{text: "tinypayd init", as: "new"},
	{text: "tinypayd init --import-key-file hexkey.txt", as: "new"},
	{text: "tinypayd address --datadir ~/.tinypay", before: homeNode},
	{text: "tinypayd --datadir tower init --devchain devchain.json --dev-account 3"},
	{text: "tinypayd --datadir tower tower --devchain devchain.json --listen 127.0.0.1:9740 --serve 0xFcd1463D08CC5a0B5509C2ABa78373E5b5E3762E",
		background: true, before: towerPort},
	{text: "tinypayd --datadir /var/lib/tower tower --chain-rpc https://rpc.example --chain-id 8453 --adjudicator ADJUDICATOR --confirmations 3 --listen :9740 --serve-file nodes.txt",
		stop: true, before: nodesFile, fails: "chain endpoint unavailable"}, // no endpoint on a test machine: it must fail at the chain, not at a flag

	// Last: bob stopped, and restored over (the old database is kept aside).
	{text: "tinypayd --datadir ./bob restore --force --devchain devchain.json bob.tpbak", before: stopBob},
	{text: "tinypayd run --chain-rpc https://rpc.example --chain-id 8453 --adjudicator ADJUDICATOR --asset USDC=0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913:6 --confirmations 3",
		fails: "chain endpoint unavailable"}, // no endpoint on a test machine: it must fail at the chain, not at a flag
}

// examplePostgres is the database of the --store example; the test runs
// it against a database of the test's PostgreSQL server.
const examplePostgres = "postgres://tinypay@db.internal:5432/tinypay?sslmode=verify-full"

// TestHelpExamplesRun runs every example of every --help text, as written
// (placeholders filled in), against two real daemons on the dev chain: an
// example that no longer works, or a new one the table does not know,
// fails the test.
func TestHelpExamplesRun(t *testing.T) {
	alice, bob := startDaemons(t)
	var listed []string
	for _, ex := range examples {
		listed = append(listed, ex.text)
	}
	help := helpExamples()
	for _, h := range help {
		if !slices.Contains(listed, h) {
			t.Errorf("--help example %q is not in the examples table: add it (and make it run)", h)
		}
	}
	for _, l := range listed {
		if !slices.Contains(help, l) {
			t.Errorf("examples table row %q is in no --help text", l)
		}
	}
	if t.Failed() {
		return
	}

	e := newExampleEnv(t, alice, bob)
	// What a reader of the examples has: channels both ways, so that bob
	// pays alice and alice buys from bob's paywall.
	bobToAlice := openChannel(t, bob, alice, "20", "USD")
	openChannel(t, alice, bob, "5", "USD")
	e.subst["CHANNEL"] = bobToAlice
	for _, ex := range examples {
		if strings.Contains(ex.text, examplePostgres) && !pgtest.Available() {
			t.Logf("skipped %q: %v", ex.text, pgtest.ErrNoServer)
			continue
		}
		if ex.stop {
			e.stopBackground()
		}
		if ex.before != nil {
			ex.before(e)
		}
		e.run(ex)
		if t.Failed() {
			return
		}
	}
	e.stopBackground()
}

func newExampleEnv(t *testing.T, alice, bob *daemonProc) *exampleEnv {
	dir := t.TempDir()
	e := &exampleEnv{t: t, dir: dir, alice: alice, bob: bob, bin: filepath.Join(dir, ".bin")}
	if err := os.Mkdir(e.bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, prog := range []string{"tinypay", "tinypayd"} {
		script := fmt.Sprintf("#!/bin/sh\nTINYPAY_EXAMPLE_BIN=%s exec %q \"$@\"\n", prog, os.Args[0])
		if err := os.WriteFile(filepath.Join(e.bin, prog), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, target := range map[string]string{"alice": alice.dir, "bob": bob.dir, "devchain.json": devchainFile(alice)} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "pass.txt"), []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hexkey.txt"), []byte(strings.Repeat("4b", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "the upstream's %s\n", r.URL.Path)
	}))
	t.Cleanup(upstream.Close)
	up := strings.TrimPrefix(upstream.URL, "http://")
	e.paywallAddr = freeAddr(t)
	_, pwPort, _ := net.SplitHostPort(e.paywallAddr)
	e.subst = map[string]string{
		"127.0.0.1:9735":             peerListen(alice),
		"127.0.0.1:9745":             freeAddr(t), // a standby's address: nothing answers there
		"127.0.0.1:8080":             up,
		"127.0.0.1:8081":             up,
		"127.0.0.1:8402":             e.paywallAddr,
		"127.0.0.1:9739":             freeAddr(t), // the browser endpoint
		"--listen :8402":             "--listen 127.0.0.1:" + pwPort,
		"env:TINYPAY_PAYWALL_LISTEN": e.paywallAddr,
		"ADJUDICATOR":                "0x5FbDB2315678afecb367f032d93F642f64180aa3",
		"--timeout 1h":               "--timeout 2m", // a test bounds its own runs
	}
	if pgtest.Available() {
		e.subst[examplePostgres] = pgtest.NewDatabase(t)
	}
	return e
}

// devchainFile is the dev chain file the daemons were started with.
func devchainFile(p *daemonProc) string {
	for i, a := range p.args {
		if a == "--devchain" {
			return p.args[i+1]
		}
	}
	return ""
}

// command is the example with its placeholders and ports filled in.
func (e *exampleEnv) command(text string) string {
	keys := make([]string, 0, len(e.subst))
	for k := range e.subst {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return len(b) - len(a) }) // longest first
	for _, k := range keys {
		text = strings.ReplaceAll(text, k, e.subst[k])
	}
	return text
}

func (e *exampleEnv) run(ex example) {
	t := e.t
	cmdline := e.command(ex.text)
	var dataDir string
	switch ex.as {
	case "", "bob":
		dataDir = e.bob.dir
	case "alice":
		dataDir = e.alice.dir
	case "new":
		e.newDirs++
		e.newDir = filepath.Join(e.dir, fmt.Sprintf("node%d", e.newDirs))
		dataDir = e.newDir
	}
	if strings.HasPrefix(ex.text, "tinypayd run") {
		dataDir = e.newDir // the node the last init made
	}
	c := exec.Command("sh", "-c", cmdline)
	c.Dir = e.dir
	c.Env = append(os.Environ(), "PATH="+e.bin+":"+os.Getenv("PATH"), "TINYPAY_DATADIR="+dataDir,
		"TINYPAY_PASSPHRASE=pw", "TINYPAY_LIGHT_KDF=true", "HOME="+e.dir,
		raceExitNow)
	for k, v := range e.subst {
		if strings.HasPrefix(k, "env:") {
			c.Env = append(c.Env, strings.TrimPrefix(k, "env:")+"="+v)
		}
	}
	out := &strings.Builder{}
	c.Stdout, c.Stderr = out, out
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if ex.background {
		if err := c.Start(); err != nil {
			t.Fatalf("%s: %v", cmdline, err)
		}
		done := make(chan error, 1)
		go func() { done <- c.Wait() }()
		e.background = append(e.background, bgCmd{c, done})
		ready := func() bool { return false }
		switch {
		case strings.Contains(ex.text, " paywall "):
			ready = func() bool {
				conn, err := net.Dial("tcp", e.paywallAddr)
				if err == nil {
					conn.Close()
				}
				return err == nil
			}
		case strings.HasPrefix(ex.text, "tinypayd run"):
			ready = func() bool { _, err := os.Stat(filepath.Join(dataDir, addrFile)); return err == nil }
		}
		deadline := time.Now().Add(30 * time.Second)
		settle := time.Now().Add(time.Second) // a watch: still running after a second
		for {
			select {
			case err := <-done:
				t.Fatalf("example %q (run as %q) exited while it should keep running: %v\n%s", ex.text, cmdline, err, out)
			case <-time.After(50 * time.Millisecond):
			}
			if ready() || (time.Now().After(settle) && !strings.Contains(ex.text, " paywall ") && !strings.HasPrefix(ex.text, "tinypayd run")) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("example %q (run as %q) did not get ready:\n%s", ex.text, cmdline, out)
			}
		}
		return
	}
	done := make(chan error, 1)
	began := time.Now()
	if err := c.Start(); err != nil {
		t.Fatalf("%s: %v", cmdline, err)
	}
	go func() { done <- c.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(3 * time.Minute):
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		t.Fatalf("example %q (run as %q) hangs:\n%s", ex.text, cmdline, out)
	}
	switch {
	case ex.fails == "" && err != nil:
		t.Fatalf("example %q (run as %q) fails: %v\n%s", ex.text, cmdline, err, out)
	case ex.fails != "" && (err == nil || !strings.Contains(out.String(), ex.fails)):
		t.Fatalf("example %q (run as %q): want a failure saying %q, got %v\n%s", ex.text, cmdline, ex.fails, err, out)
	}
	t.Logf("ran %q in %s", cmdline, time.Since(began).Round(10*time.Millisecond))
}

// stopBackground interrupts the background examples; each must still be
// running (it would have failed the test when it exited early).
func (e *exampleEnv) stopBackground() {
	for _, b := range e.background {
		_ = syscall.Kill(-b.c.Process.Pid, syscall.SIGINT)
	}
	for _, b := range e.background {
		select {
		case <-b.done:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-b.c.Process.Pid, syscall.SIGKILL)
			<-b.done
		}
	}
	e.background = nil
}

// openChannel opens a channel from a to b with the CLI and returns its id.
func openChannel(t *testing.T, a, b *daemonProc, amount, asset string, flags ...string) string {
	t.Helper()
	if code, out := tinypay(t, a.dir, "peer", "connect", peerListen(b)); code != 0 {
		t.Fatalf("connect: %s", out)
	}
	code, out := tinypay(t, a.dir, append([]string{"--json", "channel", "open", address(t, b), amount, asset}, flags...)...)
	if code != 0 {
		t.Fatalf("open: %s", out)
	}
	var ch struct{ ID string }
	if err := json.Unmarshal([]byte(out), &ch); err != nil || ch.ID == "" {
		t.Fatalf("open: %v: %s", err, out)
	}
	return ch.ID
}

func address(t *testing.T, p *daemonProc) string {
	info, err := p.api.GetInfo(context.Background(), &apiv1.GetInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return info.GetAddress()
}

// someAddress: an ADDRESS to send to, nobody's.
func someAddress(e *exampleEnv) { e.subst["ADDRESS"] = "0x000000000000000000000000000000000000dEaD" }

// freshOffer: an offer alice made, not yet paid.
func freshOffer(e *exampleEnv) { e.subst["OFFER"] = e.offer("0.001", "USD", "song-42") }

// freshOfferFile: offer.json, an offer alice made, not yet paid.
func freshOfferFile(e *exampleEnv) {
	code, out := tinypay(e.t, e.alice.dir, "--json", "offer", "create", "ebook", "0.01", "USD")
	if code != 0 {
		e.t.Fatalf("offer create: %s", out)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "offer.json"), []byte(out), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// ticketsFile: tickets.json, alice's offer of 100 tickets.
func ticketsFile(e *exampleEnv) {
	code, out := tinypay(e.t, e.alice.dir, "--json", "offer", "create", "concert", "0.015", "USD", "--uses", "100")
	if code != 0 {
		e.t.Fatalf("offer create: %s", out)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "tickets.json"), []byte(out), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func (e *exampleEnv) offer(price, asset, item string) string {
	code, out := tinypay(e.t, e.alice.dir, "offer", "create", item, price, asset)
	if code != 0 {
		e.t.Fatalf("offer create: %s", out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return lines[len(lines)-1]
}

// freshReceipt: the RECEIPT of a payment bob made.
func freshReceipt(e *exampleEnv) {
	code, out := tinypay(e.t, e.bob.dir, "pay", "--offer", e.offer("0.001", "USD", "song-7"))
	if code != 0 {
		e.t.Fatalf("pay: %s", out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	e.subst["RECEIPT"] = lines[len(lines)-1]
}

// articlePayment: payment.json, bob's payment of 0.25 USD to alice for article-7.
func articlePayment(e *exampleEnv) {
	code, out := tinypay(e.t, e.bob.dir, "--json", "pay", "--offer", e.offer("0.25", "USD", "article-7"))
	if code != 0 {
		e.t.Fatalf("pay: %s", out)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "payment.json"), []byte(out), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// articleReceiptFile: receipt.txt, the receipt of such a payment.
func articleReceiptFile(e *exampleEnv) {
	code, out := tinypay(e.t, e.bob.dir, "pay", "--offer", e.offer("0.25", "USD", "article-7"))
	if code != 0 {
		e.t.Fatalf("pay: %s", out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err := os.WriteFile(filepath.Join(e.dir, "receipt.txt"), []byte(lines[len(lines)-1]+"\n"), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

var streamID = regexp.MustCompile(`"id":\s*"([^"]+)"`)

// liveStream: a STREAM bob pays alice.
func liveStream(e *exampleEnv) {
	code, out := tinypay(e.t, e.bob.dir, "--json", "stream", "start", address(e.t, e.alice), "0.0001 USD/s")
	m := streamID.FindStringSubmatch(out)
	if code != 0 || m == nil {
		e.t.Fatalf("stream start: %s", out)
	}
	e.subst["STREAM"] = m[1]
}

var tokenID = regexp.MustCompile(`"id":\s*"([0-9a-f]+)"`)

// freshToken: a TOKEN to revoke.
func freshToken(e *exampleEnv) {
	code, out := tinypay(e.t, e.bob.dir, "--json", "token", "create", "--name", "old", "--limit", "1 USD", "--period", "1h")
	m := tokenID.FindStringSubmatch(out)
	if code != 0 || m == nil {
		e.t.Fatalf("token create: %s", out)
	}
	e.subst["TOKEN"] = m[1]
}

// throwawayChannel: the CHANNEL to close is one of its own, with the
// shortest challenge period.
func throwawayChannel(e *exampleEnv) {
	e.subst["CHANNEL"] = openChannel(e.t, e.bob, e.alice, "0.01", "ETH", "--challenge-period", "10")
}

// settleable waits until the force-closed CHANNEL's challenge period is over.
func settleable(e *exampleEnv) {
	id := e.subst["CHANNEL"]
	deadline := time.Now().Add(time.Minute)
	for {
		ch, err := e.bob.api.GetChannel(context.Background(), &apiv1.GetChannelRequest{ChannelId: id})
		if err != nil {
			e.t.Fatal(err)
		}
		info, err := e.bob.api.GetInfo(context.Background(), &apiv1.GetInfoRequest{})
		if err != nil {
			e.t.Fatal(err)
		}
		if ch.GetSettleAfter() > 0 && info.GetChainTime() > ch.GetSettleAfter() {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("channel %s not settleable after a minute: %v", id, ch)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// homeNode: ~/.tinypay is the last node made (HOME is the examples' dir),
// unless a restore made it.
func homeNode(e *exampleEnv) {
	if _, err := os.Stat(filepath.Join(e.dir, ".tinypay")); err == nil {
		return
	}
	if err := os.Symlink(e.newDir, filepath.Join(e.dir, ".tinypay")); err != nil {
		e.t.Fatal(err)
	}
}

// backupFiles: /mnt/backups is a directory of the examples', and
// bob-key.json bob's key file.
func backupFiles(e *exampleEnv) {
	if err := os.Mkdir(filepath.Join(e.dir, "backups"), 0o700); err != nil {
		e.t.Fatal(err)
	}
	e.subst["/mnt/backups"] = "backups"
	key, err := os.ReadFile(filepath.Join(e.bob.dir, "key.json"))
	if err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "bob-key.json"), key, 0o600); err != nil {
		e.t.Fatal(err)
	}
}

// backupCopies: bob-without-key.tpbak, node.tpbak and bob.tpbak are the
// backups of bob the examples above made.
func backupCopies(e *exampleEnv) {
	full, err := filepath.Glob(filepath.Join(e.dir, "node-*.tpbak"))
	if err != nil || len(full) != 1 {
		e.t.Fatalf("the backup example's file: %v %v", full, err)
	}
	for dst, src := range map[string]string{"bob-without-key.tpbak": filepath.Join(e.dir, "backups", "bob.tpbak"), "node.tpbak": full[0], "bob.tpbak": full[0]} {
		b, err := os.ReadFile(src)
		if err != nil {
			e.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(e.dir, dst), b, 0o600); err != nil {
			e.t.Fatal(err)
		}
	}
}

// stopBob: a node is restored only while it is stopped.
func stopBob(e *exampleEnv) { e.bob.stop() }

// towerPort: the tower listens where nothing else does.
func towerPort(e *exampleEnv) {
	addr := freeAddr(e.t)
	_, port, _ := net.SplitHostPort(addr)
	e.subst["127.0.0.1:9740"] = addr
	e.subst[":9740"] = ":" + port
}

// nodesFile: nodes.txt, the nodes a tower serves; /var/lib/tower is the
// tower's data dir made above.
func nodesFile(e *exampleEnv) {
	if err := os.WriteFile(filepath.Join(e.dir, "nodes.txt"), []byte("0xFcd1463D08CC5a0B5509C2ABa78373E5b5E3762E\n"), 0o644); err != nil {
		e.t.Fatal(err)
	}
	e.subst["/var/lib/tower"] = "tower"
}

// freeDaemonPorts: a new node listens where nothing else does.
func freeDaemonPorts(e *exampleEnv) {
	e.subst["127.0.0.1:9735"] = freeAddr(e.t)
	e.subst["127.0.0.1:9736"] = freeAddr(e.t)
	e.subst["env:TINYPAY_PEER_LISTEN"] = freeAddr(e.t)
	e.subst["env:TINYPAY_API_LISTEN"] = freeAddr(e.t)
}
