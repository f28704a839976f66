package daemon

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// shownArmed is run in each page before its own scripts: it records
// whether the page's main button (#approve-button, #pay-button) was
// disabled at the moment the request it acts on was shown (a
// MutationObserver's callback runs before any timer of the page's).
const shownArmed = `(() => {
  window.__shownDisabled = null;
  new MutationObserver(() => {
    const req = document.getElementById('request');
    const btn = document.getElementById('approve-button') || document.getElementById('pay-button');
    if (window.__shownDisabled === null && req && btn && !req.hidden) window.__shownDisabled = btn.disabled;
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ['hidden'] });
})();`

// TestReaderPagesResistDoubleClicks: a site may open the node's approval
// or confirmation page in a popup under the reader's pointer between the
// two clicks of a double click it asked for, so that the second click
// lands on Approve (with the limits the page suggests from the site's
// own price, and a deposit) or on Pay. The pages' buttons stay disabled
// until the page has been shown for a moment; then they work.
func TestReaderPagesResistDoubleClicks(t *testing.T) {
	if chromiumPath() == "" {
		t.Skip("no chromium binary on PATH (Debian: apt-get install chromium; .ci/run does)")
	}
	procs := startDaemonsFlags(t, []string{"alice", "bob"}, map[string][]string{"alice": {"--browser-listen", "127.0.0.1:0"}})
	alice, bob := procs[0], procs[1]
	pw := startPaywall(t, bob, newsSite(t).URL)
	_, pwPort, _ := net.SplitHostPort(pw)
	node := browserBase(t, alice)
	shop := approveSite(t, alice, bob, pw, "http://shop.test:"+pwPort,
		map[string]any{"budget": "1", "max_price": "0.1", "auto_pay_below": "0.005", "deposit": "5"})
	confirm := shop.site("/site/pay", map[string]any{"terms": required(t, pw, "/articles/1")})
	if confirm.str("status") != "confirm" {
		t.Fatalf("a price from the threshold on: %v", confirm.body)
	}
	blog := &readerSite{t: t, alice: alice, origin: "http://blog.test:" + pwPort, client: shop.client}
	hello := blog.site("/site/hello", map[string]any{"terms": required(t, pw, "/articles/2")})
	if hello.str("state") != "not_approved" {
		t.Fatalf("hello: %v", hello.body)
	}

	br := newBrowser(t, alice)
	if _, err := chromedp.Call(br.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: shownArmed}); err != nil {
		t.Fatal(err)
	}
	// The page has the focus, as the reader's tab does: a click into a
	// window without it gives the focus first, which disarms the buttons
	// (the first click after a focus change pays nothing, by design), and
	// a headless browser's page may not have it after a navigation.
	if _, err := chromedp.Call(br.ctx, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	br.run("the approval page", chromedp.Navigate(node+"/approve#"+hello.str("request")))
	br.waitJS("the sign-in", `!document.querySelector("#signin").hidden`, 15*time.Second)
	br.run("sign in", chromedp.SendKeys(chromedp.CSS("#token"), alice.adminToken()), chromedp.Click(chromedp.CSS("#signin-button")))
	br.waitJS("the request", `!document.querySelector("#request").hidden`, 15*time.Second)
	if got := eval[string](br, `String(window.__shownDisabled)`); got != "true" {
		t.Fatalf("Approve was disabled %s the moment the approval was shown, want true", got)
	}
	br.waitJS("Approve, armed", `!document.querySelector("#approve-button").disabled`, 10*time.Second)
	br.run("approve", chromedp.Click(chromedp.CSS("#approve-button")))
	br.waitJS("approved", `document.body.dataset.state === "approved"`, 15*time.Second)
	if tok := siteToken(t, alice, blog.origin); tok == nil {
		t.Fatal("the armed Approve approved nothing")
	}

	br.run("the confirmation page", chromedp.Navigate(node+"/confirm#"+confirm.str("confirmation")))
	br.waitJS("the payment to confirm", `!document.querySelector("#request").hidden`, 15*time.Second)
	if got := eval[string](br, `String(window.__shownDisabled)`); got != "true" {
		t.Fatalf("Pay was disabled %s the moment the payment was shown, want true", got)
	}
	br.waitJS("Pay, armed", `!document.querySelector("#pay-button").disabled`, 10*time.Second)
	br.run("pay", chromedp.Click(chromedp.CSS("#pay-button")))
	br.waitJS("paid", `document.body.dataset.state === "paid"`, 15*time.Second)
	if r := shop.site("/site/pay", map[string]any{"confirmation": confirm.str("confirmation")}); r.str("status") != "paid" {
		t.Fatalf("after the reader confirmed: %v", r.body)
	}
	if errs := br.consoleErrors(); len(errs) > 0 {
		t.Fatalf("console errors: %s", strings.Join(errs, "\n"))
	}
}
