package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ucli "github.com/urfave/cli/v3"

	"github.com/tinypay/tinypay/node/nodetest"
)

// runPaywallCLI runs the CLI, with the paywall commands registered, as Main
// does, against the node in dir.
func runPaywallCLI(ctx context.Context, dir string, stdout, stderr *nodetest.SyncBuffer, args ...string) int {
	root := Command(stdout, stderr)
	for _, c := range []*ucli.Command{paywallCommand(), fetchCommand()} {
		if root.Command(c.Name) == nil {
			root.Commands = append(root.Commands, c)
		}
	}
	err := root.Run(ctx, append([]string{"tinypay", "--datadir", dir}, args...))
	if err == nil {
		return ExitOK
	}
	fmt.Fprintln(stderr, "tinypay:", errorText(err))
	return exitCode(err)
}

func paywallFreePort(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	return lis.Addr().String()
}

// startPaywall runs `tinypay paywall` in the background until the test
// ends and returns its URL.
func startPaywall(t *testing.T, dir string, args ...string) string {
	t.Helper()
	addr := paywallFreePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errs nodetest.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runPaywallCLI(ctx, dir, &out, &errs, append([]string{"paywall", "--listen", addr}, args...)...)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != ExitOK {
			t.Errorf("paywall exited %d\n%s", code, errs.String())
		}
	})
	nodetest.Eventually(t, "the paywall listens", func() bool {
		select {
		case code := <-done:
			done <- code
			t.Fatalf("paywall exited %d\n%s%s", code, out.String(), errs.String())
		default:
		}
		return strings.Contains(out.String(), "paywall on http://"+addr)
	})
	return "http://" + addr
}

func TestPaywallAndFetch(t *testing.T) {
	chain := nodetest.NewChain(t)
	creator := nodetest.Start(t, chain, "creator", chain.Bob)
	client := nodetest.Start(t, chain, "client", chain.Alice)
	client.OpenUSD(creator, 5_000_000)
	mux := http.NewServeMux()
	mux.HandleFunc("/article", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "the paid article\n") })
	mux.HandleFunc("/short", func(w http.ResponseWriter, r *http.Request) {
		for i := range 5 {
			fmt.Fprintf(w, "part %d\n", i)
			http.NewResponseController(w).Flush()
			time.Sleep(100 * time.Millisecond)
		}
	})
	up := httptest.NewServer(mux)
	t.Cleanup(up.Close)
	ctx := context.Background()
	fetch := func(args ...string) (int, string, string) {
		var out, errs nodetest.SyncBuffer
		code := runPaywallCLI(ctx, client.Dir, &out, &errs, append([]string{"fetch"}, args...)...)
		return code, out.String(), errs.String()
	}
	creatorAddr := creator.Key.Address().Hex()

	perRequest := startPaywall(t, creator.Dir, "--upstream", up.URL, "--price", "0.001 USD", "--path", "/article")
	t.Run("fetch pays per request", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "article.txt")
		code, out, errs := fetch(perRequest+"/article", "--max-price", "0.01 USD", "-o", file)
		if code != ExitOK || out != "" {
			t.Fatalf("exit %d\n%s%s", code, out, errs)
		}
		if b, err := os.ReadFile(file); err != nil || string(b) != "the paid article\n" {
			t.Fatalf("%q %v", b, err)
		}
		if want := "paid 0.001 USD to " + creatorAddr + " for GET /article"; !strings.Contains(errs, want) {
			t.Fatalf("stderr %q, want %q", errs, want)
		}
		code, out, _ = fetch(perRequest+"/article", "--max-price", "0.001USD")
		if code != ExitOK || out != "the paid article\n" {
			t.Fatalf("exit %d %q", code, out)
		}
	})
	t.Run("fetch refuses what it may not pay", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			code int
			want string
		}{
			// Above the limit.
			{[]string{"--max-price", "0.0009 USD"}, ExitFailed, "above the spending limit"},
			// No limit at all.
			{nil, ExitFailed, "pass --max-price or --max-rate"},
			// A limit without an asset.
			{[]string{"--max-price", "0.01"}, ExitUsage, "name the asset"},
			// An asset the node does not know.
			{[]string{"--max-price", "1 DOGE"}, ExitUsage, "unknown asset"},
		} {
			code, out, errs := fetch(append([]string{perRequest + "/article"}, tc.args...)...)
			if code != tc.code || out != "" || !strings.Contains(errs, tc.want) {
				t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d and %q", tc.args, code, out, errs, tc.code, tc.want)
			}
		}
		if code, _, _ := fetch("not-a-url"); code != ExitUsage {
			t.Errorf("a bad URL: exit %d", code)
		}
	})
	t.Run("a free path needs no payment", func(t *testing.T) {
		code, out, errs := fetch(perRequest + "/short")
		if code != ExitOK || !strings.HasPrefix(out, "part 0\n") || strings.Contains(errs, "paid") {
			t.Fatalf("exit %d %q %q", code, out, errs)
		}
	})

	perSecond := startPaywall(t, creator.Dir, "--upstream", up.URL, "--per-second", "0.001 USD", "--tick", "200ms")
	t.Run("fetch streams per second", func(t *testing.T) {
		code, out, errs := fetch(perSecond+"/short", "--max-rate", "0.002 USD", "--stream-tick", "100ms")
		if code != ExitOK || out != "part 0\npart 1\npart 2\npart 3\npart 4\n" {
			t.Fatalf("exit %d %q\n%s", code, out, errs)
		}
		if !strings.Contains(errs, "streamed /short from "+creatorAddr+" at 0.001 USD per second: paid ") {
			t.Fatalf("stderr %q", errs)
		}
		if code, _, errs := fetch(perSecond+"/short", "--max-rate", "0.0005 USD"); code != ExitFailed || !strings.Contains(errs, "above the spending limit") {
			t.Fatalf("over the rate: exit %d %q", code, errs)
		}
	})

	t.Run("paywall usage errors", func(t *testing.T) {
		for _, args := range [][]string{
			{"paywall", "--price", "0.001 USD"},                                            // no upstream
			{"paywall", "--upstream", "ftp://x", "--price", "0.001 USD"},                   // not http
			{"paywall", "--upstream", up.URL},                                              // no price
			{"paywall", "--upstream", up.URL, "--price", "1 USD", "--per-second", "1 USD"}, // both
			{"paywall", "--upstream", up.URL, "--price", "1"},                              // no asset
		} {
			var out, errs nodetest.SyncBuffer
			if code := runPaywallCLI(ctx, creator.Dir, &out, &errs, args...); code != ExitUsage {
				t.Errorf("%v: exit %d, want %d\n%s", args, code, ExitUsage, errs.String())
			}
		}
	})

	t.Run("help has examples", func(t *testing.T) {
		for _, c := range []string{"paywall", "fetch"} {
			var out, errs nodetest.SyncBuffer
			if code := runPaywallCLI(ctx, creator.Dir, &out, &errs, c, "--help"); code != ExitOK ||
				!strings.Contains(out.String(), "Examples:") || !strings.Contains(out.String(), "tinypay "+c) {
				t.Errorf("%s --help: exit %d\n%s", c, code, out.String())
			}
		}
	})
}
