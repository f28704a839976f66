package daemon

import (
	"context"
	"math/big"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/paywall"
	"github.com/tinypay/tinypay/web/browserpay"
)

// TestReaderPaysInBrowser: a reader pays a publisher's paywalled site from
// headless Chromium with their own node (alice, run with --browser-listen
// and --dashboard), two real daemons on the dev chain, the publisher (bob)
// behind `tinypay paywall` in front of a small site served at
// http://news.test (Chromium resolves it to loopback):
//
//  1. The reader opens an article: the 402 page asks to approve the site
//     on the reader's node; the node's page (a new window) signs in with
//     the admin token, approves a budget of 0.025 USD a day, a largest
//     price of 0.02 USD and up to 0.001 USD per second, opens a channel
//     with a deposit (its progress shown) and the article appears in
//     place, with a cookie for it.
//  2. A second article is paid without a prompt; the first, reloaded, is
//     served by its cookie without paying again.
//  3. A premium article (0.5 USD) is refused, the reason on the page.
//  4. A song pays per second while it plays; pause stops the stream
//     (bob's node sees it end).
//  5. After that the budget does not cover another article: the page
//     says so.
//  6. The dashboard lists the site, its budget and its spending; Revoke
//     there, and the site's page says it is revoked.
//  7. A page from an unapproved origin (evil.test) cannot make the node
//     pay, not even by calling the endpoint itself.
//
// Every step saves a screenshot in the folder the test prints; nothing
// but the expected refusals is logged to the console.
func TestReaderPaysInBrowser(t *testing.T) {
	if chromiumPath() == "" {
		t.Skip("no chromium binary on PATH (Debian: apt-get install chromium; .ci/run does)")
	}
	procs := startDaemonsFlags(t, []string{"alice", "bob"}, map[string][]string{"alice": {"--browser-listen", "127.0.0.1:0", "--dashboard"}})
	alice, bob := procs[0], procs[1]
	ctx := context.Background()
	binfo, err := bob.api.GetInfo(ctx, &apiv1.GetInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	pw := startPaywall(t, bob, newsSite(t).URL)
	_, pwPort, _ := net.SplitHostPort(pw)
	news, evil := "http://news.test:"+pwPort, "http://evil.test:"+pwPort
	node := browserBase(t, alice)
	sent := func() *big.Int {
		r, err := alice.api.ListChannels(ctx, &apiv1.ListChannelsRequest{Peer: binfo.GetAddress(), All: true})
		if err != nil {
			t.Fatal(err)
		}
		total := new(big.Int)
		for _, c := range r.GetChannels() {
			total.Add(total, mustBig(t, c.GetSent()))
		}
		return total
	}

	br := newBrowser(t, alice,
		chromedp.Flag("host-resolver-rules", "MAP news.test 127.0.0.1, MAP evil.test 127.0.0.1"),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"))
	// The pages of both sites call the reader's node where this test runs
	// it (a reader whose node is not at 127.0.0.1:9739 sets it once on the
	// page, under "Your tinypay node").
	for _, o := range []string{news, evil} {
		br.run("open "+o, chromedp.Navigate(o+"/"))
		br.run("set the node", chromedp.Evaluate[chromedp.Void](`localStorage.setItem("tinypay.node", `+strconv.Quote(node)+`)`))
	}

	// 1. The first article: approve the site on the node's page, with a
	// channel opened on chain, and the article shows.
	br.run("article 1", chromedp.Navigate(news+"/articles/1"))
	br.waitJS("the page asks for approval", `!document.querySelector("#tinypay-approve")?.hidden && document.querySelector("#tinypay-status").dataset.reason === "not_approved"`, 15*time.Second)
	if got := br.text("#tinypay-price"); got != "0.01 USD" {
		t.Fatalf("the 402 page shows the price %q", got)
	}
	br.screenshot("1-article-402")
	popups := chromedp.WaitNewTarget(br.ctx, func(i *target.Info) bool { return i.Type == "page" && strings.HasPrefix(i.URL, node+"/approve") })
	br.run("approve", chromedp.Click(chromedp.CSS("#tinypay-approve")))
	var popupID target.ID
	select {
	case popupID = <-popups:
	case <-time.After(15 * time.Second):
		t.Fatal("no approval window opened")
	}
	ap := br.tab(popupID)
	ap.waitJS("the node's sign-in", `!document.querySelector("#signin").hidden`, 15*time.Second)
	ap.screenshot("1-approve-signin")
	ap.run("sign in", chromedp.SendKeys(chromedp.CSS("#token"), alice.adminToken()), chromedp.Click(chromedp.CSS("#signin-button")))
	ap.waitJS("the request", `!document.querySelector("#request").hidden`, 15*time.Second)
	if got := ap.text("#origin"); got != news {
		t.Fatalf("the approval page names %q, want %s", got, news)
	}
	if got := ap.text("#payee"); !strings.EqualFold(got, binfo.GetAddress()) {
		t.Fatalf("the approval page pays %q, want bob", got)
	}
	if ap.text("#channel") != "none yet" || eval[bool](ap, `document.querySelector("#deposit-box").hidden`) {
		t.Fatalf("the approval page does not offer a channel: %q", ap.text("#channel"))
	}
	ap.run("limits",
		chromedp.SetValue(chromedp.CSS("#budget"), "0.025"), chromedp.SetValue(chromedp.CSS("#max-price"), "0.02"),
		chromedp.SetValue(chromedp.CSS("#max-rate"), "0.001"), chromedp.SetValue(chromedp.CSS("#deposit"), "5"))
	ap.screenshot("1-approve")
	ap.waitJS("Approve, armed a moment after it shows", `!document.querySelector("#approve-button").disabled`, 10*time.Second)
	ap.run("approve", chromedp.Click(chromedp.CSS("#approve-button")))
	ap.waitJS("the channel open on chain", `document.body.dataset.channel === "open"`, 60*time.Second)
	if got := ap.text("#done-text"); !strings.Contains(got, "0.025 USD a day") || !strings.Contains(got, "at most 0.02 USD") {
		t.Fatalf("the approval says %q", got)
	}
	ap.screenshot("1-approve-channel-open")
	br.waitJS("article 1 shown", `document.querySelector("#article h1")?.textContent === "Article 1"`, 30*time.Second)
	if eval[bool](br, `location.pathname !== "/articles/1" || !!document.querySelector("#tinypay-terms")`) {
		t.Fatal("the article is not shown in place of the 402 page")
	}
	br.screenshot("1-article-paid")
	if got := sent(); got.Cmp(big.NewInt(10000)) != 0 {
		t.Fatalf("alice paid %v, want 10000 (0.01 USD)", got)
	}
	// The paid page's cookie: HttpOnly, that path only; the page's
	// scripts see neither it nor anything of the node's.
	cookies, err := chromedp.Call(br.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{news + "/articles/1"}})
	if err != nil {
		t.Fatal(err)
	}
	var paidCookie *network.Cookie
	for _, c := range cookies.Cookies {
		if c.Name == paywall.PaidCookie {
			paidCookie = c
		}
		if c.Name == browserpay.SessionCookie {
			t.Fatalf("the node's session cookie is sent to the site: %+v", c)
		}
	}
	if paidCookie == nil || !paidCookie.HTTPOnly || paidCookie.Path != "/articles/1" {
		t.Fatalf("paid cookie %+v", paidCookie)
	}
	if js := eval[string](br, `document.cookie`); js != "" {
		t.Fatalf("the site's scripts see cookies %q", js)
	}

	// 2. A second article, without a prompt; the first, again, by cookie.
	targets := func() int {
		ts, err := chromedp.Targets(br.ctx)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, ti := range ts {
			if ti.Type == "page" {
				n++
			}
		}
		return n
	}
	pagesBefore := targets()
	br.run("article 2", chromedp.Navigate(news+"/articles/2"))
	br.waitJS("article 2 shown", `document.querySelector("#article h1")?.textContent === "Article 2"`, 30*time.Second)
	if targets() != pagesBefore {
		t.Fatal("the second article opened a window")
	}
	br.screenshot("2-second-article")
	paidTwo := sent()
	br.run("article 1 again", chromedp.Navigate(news+"/articles/1"))
	br.waitJS("article 1 from its cookie", `document.querySelector("#article h1")?.textContent === "Article 1" && !document.querySelector("#tinypay-terms")`, 15*time.Second)
	if got := sent(); got.Cmp(paidTwo) != 0 || got.Cmp(big.NewInt(20000)) != 0 {
		t.Fatalf("alice paid %v after two articles and a reload, want 20000", got)
	}

	// 3. Above the largest price.
	br.run("premium", chromedp.Navigate(news+"/premium/1"))
	br.waitJS("refused above the price", `document.querySelector("#tinypay-status")?.dataset.reason === "above_max_price"`, 15*time.Second)
	if got := br.text("#tinypay-status"); !strings.Contains(got, "0.5 USD") || !strings.Contains(got, "0.02 USD") {
		t.Fatalf("the refusal says %q", got)
	}
	br.screenshot("3-above-price")
	if got := sent(); got.Cmp(paidTwo) != 0 {
		t.Fatalf("a refused article paid: %v", got)
	}

	// 4. The song: it pays per second while it plays, and pause stops the
	// stream on bob's node.
	br.run("song", chromedp.Navigate(news+"/songs/1"))
	br.waitJS("the player ready", `document.querySelector("#tinypay-status")?.dataset.reason === "ready"`, 15*time.Second)
	br.run("play", chromedp.Click(chromedp.CSS("#tinypay-play")))
	br.waitJS("playing", `document.querySelector("#tinypay-play").dataset.state === "playing" && document.querySelector("#tinypay-media").currentTime > 1.5`, 30*time.Second)
	var song *apiv1.Stream
	waitFor(t, "bob sees the song's stream pay", 10*time.Second, func() bool {
		r, err := bob.api.ListStreams(ctx, &apiv1.ListStreamsRequest{All: true})
		if err != nil {
			return false
		}
		for _, s := range r.GetStreams() {
			if s.GetItemId() == "/songs/1" && s.GetStatus() == "live" && s.GetPaid() != "0" {
				song = s
				return true
			}
		}
		return false
	})
	if song.GetRate() != songRate || song.GetDirection() != "incoming" {
		t.Fatalf("bob's stream %v", song)
	}
	br.screenshot("4-song-playing")
	br.run("pause", chromedp.Click(chromedp.CSS("#tinypay-play")))
	waitFor(t, "bob sees the stream end", 10*time.Second, func() bool {
		s, err := bob.api.GetStream(ctx, &apiv1.GetStreamRequest{StreamId: song.GetId()})
		if err == nil && s.GetStatus() == "ended" {
			song = s
			return true
		}
		return false
	})
	br.waitJS("paused", `document.querySelector("#tinypay-status")?.dataset.reason === "paused"`, 10*time.Second)
	br.screenshot("4-song-paused")
	streamed := mustBig(t, song.GetPaid())
	if streamed.Sign() <= 0 || streamed.Cmp(big.NewInt(5000)) >= 0 {
		t.Fatalf("the song paid %v, want a few ticks of 500", streamed)
	}

	// 5. The budget: 0.02 paid for articles and some for the song; 0.01
	// more is over 0.025.
	br.run("article 3", chromedp.Navigate(news+"/articles/3"))
	br.waitJS("refused over the budget", `document.querySelector("#tinypay-status")?.dataset.reason === "budget_spent"`, 15*time.Second)
	if got := br.text("#tinypay-status"); !strings.Contains(got, "budget for today is spent") || !strings.Contains(got, "0.025 USD a day") {
		t.Fatalf("the refusal says %q", got)
	}
	br.screenshot("5-budget-spent")
	spent := sent()
	if want := new(big.Int).Add(big.NewInt(20000), streamed); spent.Cmp(want) != 0 {
		t.Fatalf("alice paid %v, want the two articles and the song, %v", spent, want)
	}

	// 6. The dashboard: the site, its budget and spending; revoke it.
	br.signIn(alice.adminToken())
	br.page("sites")
	row := `document.querySelector('#sites tr[data-origin="` + news + `"]')`
	if got := eval[string](br, row+`?.querySelector(".budget")?.textContent ?? ""`); got != "0.025 USD" {
		t.Fatalf("the site's budget on the dashboard: %q", got)
	}
	if got := eval[string](br, row+`?.querySelector(".spent")?.textContent ?? ""`); got != usdText(spent) {
		t.Fatalf("the site's spending on the dashboard: %q, want %s", got, usdText(spent))
	}
	br.screenshot("6-dashboard-sites")
	br.run("revoke", chromedp.Click(chromedp.CSS(`#sites tr[data-origin="`+news+`"] button[data-action="revoke"]`)),
		chromedp.WaitVisible(chromedp.CSS("#confirm-ok")), chromedp.Click(chromedp.CSS("#confirm-ok")))
	br.waitJS("revoked on the dashboard", row+`?.querySelector(".revoked") !== null`, 10*time.Second)
	br.run("article 4", chromedp.Navigate(news+"/articles/4"))
	br.waitJS("the page says revoked", `document.querySelector("#tinypay-status")?.dataset.reason === "revoked"`, 15*time.Second)
	br.screenshot("6-revoked")
	if got := sent(); got.Cmp(spent) != 0 {
		t.Fatalf("a revoked site paid: %v -> %v", spent, got)
	}
	if errs := br.consoleErrors(); len(errs) > 0 {
		t.Fatalf("console errors:\n%s", strings.Join(errs, "\n"))
	}
	if errs := ap.consoleErrors(); len(errs) > 0 {
		t.Fatalf("console errors on the node's page:\n%s", strings.Join(errs, "\n"))
	}

	// 7. A page of an unapproved origin cannot make the node pay: its
	// script cannot call the endpoint (no CORS answer), and a call it
	// sends without CORS (like a form) is refused.
	br.run("evil", chromedp.Navigate(evil+"/articles/1"))
	br.waitJS("the evil page is not approved", `document.querySelector("#tinypay-status")?.dataset.reason === "not_approved"`, 15*time.Second)
	terms := `JSON.parse(document.querySelector("#tinypay-terms").textContent)`
	got := eval[string](br, `fetch(`+strconv.Quote(node+"/site/pay")+`, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({terms: `+terms+`})}).then(r => "answered " + r.status, e => "blocked")`)
	if got != "blocked" {
		t.Fatalf("the evil page's call to pay: %s", got)
	}
	got = eval[string](br, `fetch(`+strconv.Quote(node+"/site/pay")+`, {method: "POST", mode: "no-cors", body: JSON.stringify({terms: `+terms+`})}).then(r => r.type, e => "blocked")`)
	if got != "opaque" && got != "blocked" {
		t.Fatalf("the evil page's no-cors call: %s", got)
	}
	br.screenshot("7-unapproved-origin")
	if got := sent(); got.Cmp(spent) != 0 {
		t.Fatalf("an unapproved origin made alice pay: %v -> %v", spent, got)
	}
}
