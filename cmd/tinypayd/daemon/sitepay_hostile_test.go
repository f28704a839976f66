package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/web/browserpay"
)

// readerSite is a site approved on a reader's node (alice, run with
// --browser-listen) that pays a publisher (bob) behind `tinypay paywall`.
type readerSite struct {
	t            *testing.T
	alice, bob   *daemonProc
	pw, origin   string
	client       *http.Client
	csrf, payee  string
	approvalBody map[string]any
}

// approveSite asks alice's endpoint to approve origin (as its page would),
// signs in as the reader and approves it with limits (amounts in USD;
// "deposit" opens a channel with bob and waits for it).
func approveSite(t *testing.T, alice, bob *daemonProc, pw, origin string, limits map[string]any) *readerSite {
	t.Helper()
	binfo, err := bob.api.GetInfo(context.Background(), &apiv1.GetInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	s := &readerSite{t: t, alice: alice, bob: bob, pw: pw, origin: origin, client: newJarClient(t), payee: binfo.GetAddress()}
	hello := s.site("/site/hello", map[string]any{"terms": required(t, pw, "/articles/1")})
	if hello.str("state") != "not_approved" {
		t.Fatalf("hello: %d %v", hello.code, hello.body)
	}
	signin := s.reader(http.MethodPost, "/auth/signin", map[string]any{"token": alice.adminToken()})
	if s.csrf = signin.str("csrf_token"); signin.code != 200 || s.csrf == "" {
		t.Fatalf("sign-in: %d %v", signin.code, signin.body)
	}
	body := map[string]any{"id": hello.str("request")}
	for k, v := range limits {
		body[k] = v
	}
	if r := s.reader(http.MethodPost, "/reader/approve", body); r.code != 200 || r.str("state") != "approved" {
		t.Fatalf("approve %s: %d %v", origin, r.code, r.body)
	}
	if limits["deposit"] != nil {
		waitFor(t, "the channel opened for "+origin, 60*time.Second, func() bool {
			r := s.reader(http.MethodGet, "/reader/request?id="+hello.str("request"), nil)
			ch, _ := r.body["channel"].(map[string]any)
			if ch["state"] == "failed" {
				t.Fatalf("the channel did not open: %v", r.body)
			}
			return ch["state"] == "open"
		})
	}
	return s
}

// site calls alice's endpoint as the site's page does.
func (s *readerSite) site(path string, body any) reply {
	s.t.Helper()
	return endpoint(s.t, s.client, browserBase(s.t, s.alice), http.MethodPost, path, body, "Origin", s.origin)
}

// reader calls alice's endpoint as the node's own pages do.
func (s *readerSite) reader(method, path string, body any) reply {
	s.t.Helper()
	hdr := []string{}
	if s.csrf != "" {
		hdr = append(hdr, "X-CSRF-Token", s.csrf)
	}
	return endpoint(s.t, s.client, browserBase(s.t, s.alice), method, path, body, hdr...)
}

func streamStatus(t *testing.T, p *daemonProc, id string) string {
	t.Helper()
	st, err := p.api.GetStream(context.Background(), &apiv1.GetStreamRequest{StreamId: id})
	if err != nil {
		return "error: " + err.Error()
	}
	return st.GetStatus()
}

// TestSiteStreamEndsWhenTheNodeDies: a site's stream pays only while its
// page keeps it alive, through the endpoint. When the reader's node dies
// mid-song (SIGKILL: nothing stops the stream), the endpoint that held
// the page's lease is gone with it; the restarted node must not resume
// paying the stream with no page to stop it (it would pay until the
// day's budget is spent).
func TestSiteStreamEndsWhenTheNodeDies(t *testing.T) {
	procs := startDaemonsFlags(t, []string{"alice", "bob"}, map[string][]string{"alice": {"--browser-listen", "127.0.0.1:0"}})
	alice, bob := procs[0], procs[1]
	pw := startPaywall(t, bob, newsSite(t).URL)
	_, pwPort, _ := net.SplitHostPort(pw)
	shop := approveSite(t, alice, bob, pw, "http://shop.test:"+pwPort,
		map[string]any{"budget": "1", "max_price": "0.1", "max_rate": "0.001", "deposit": "5"})

	s := shop.site("/site/stream", map[string]any{"terms": required(t, pw, "/songs/1")})
	id := s.str("stream")
	if s.str("status") != "streaming" {
		t.Fatalf("stream: %d %v", s.code, s.body)
	}
	waitFor(t, "bob sees the stream paying", 15*time.Second, func() bool { return streamStatus(t, bob, id) == "live" })

	alice.kill()
	alice.start()
	waitFor(t, "alice's restarted node ends the site's stream", 20*time.Second, func() bool { return streamStatus(t, alice, id) == "ended" })
	waitFor(t, "bob sees the stream end", 30*time.Second, func() bool { return streamStatus(t, bob, id) == "ended" })
}

// sentTotal is what alice has paid bob in all her channels with him.
func sentTotal(t *testing.T, alice *daemonProc, bob string) *big.Int {
	t.Helper()
	r, err := alice.api.ListChannels(context.Background(), &apiv1.ListChannelsRequest{Peer: bob, All: true})
	if err != nil {
		t.Fatal(err)
	}
	total := new(big.Int)
	for _, c := range r.GetChannels() {
		total.Add(total, mustBig(t, c.GetSent()))
	}
	return total
}

// TestSiteRaces races a site's calls: many payments against one day's
// budget, one offer paid many times at once, and the reader's approval
// sent many times at once, and many streams of one site. The budget
// holds, an offer is paid and counted once, a site is approved once, and
// its streams together keep to its highest rate.
func TestSiteRaces(t *testing.T) {
	procs := startDaemonsFlags(t, []string{"alice", "bob"}, map[string][]string{"alice": {"--browser-listen", "127.0.0.1:0"}})
	alice, bob := procs[0], procs[1]
	pw := startPaywall(t, bob, newsSite(t).URL)
	_, pwPort, _ := net.SplitHostPort(pw)
	news := approveSite(t, alice, bob, pw, "http://news.test:"+pwPort,
		map[string]any{"budget": "0.05", "max_price": "0.02", "deposit": "5"})

	// Twenty articles at 0.01 USD at once, against 0.05 USD a day.
	const n = 20
	terms := make([]any, n)
	for i := range terms {
		terms[i] = required(t, pw, fmt.Sprintf("/articles/%d", i+1))
	}
	before := sentTotal(t, alice, news.payee)
	var wg sync.WaitGroup
	replies := make([]reply, n+1)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i] = news.site("/site/pay", map[string]any{"terms": terms[i]})
		}()
	}
	wg.Wait()
	paid := 0
	for _, r := range replies[:n] {
		switch {
		case r.str("status") == "paid":
			paid++
		case r.str("reason") != browserpay.ReasonBudgetSpent:
			t.Errorf("a payment refused for another reason than the budget: %d %v", r.code, r.body)
		}
	}
	moved := new(big.Int).Sub(sentTotal(t, alice, news.payee), before)
	if paid != 5 || moved.Cmp(big.NewInt(5*10000)) != 0 {
		t.Fatalf("%d of %d payments paid, %s moved; want 5 and 50000 (the day's budget)", paid, n, moved)
	}
	if spent := siteToken(t, alice, news.origin).GetSpent(); spent != "50000" {
		t.Fatalf("the approval counts %s spent, want 50000", spent)
	}

	// One offer, paid ten times at once by a site with budget to spare.
	shop := approveSite(t, alice, bob, pw, "http://shop.test:"+pwPort, map[string]any{"budget": "1", "max_price": "0.02"})
	one := required(t, pw, "/articles/99")
	before = sentTotal(t, alice, shop.payee)
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i] = shop.site("/site/pay", map[string]any{"terms": one})
		}()
	}
	wg.Wait()
	if moved := new(big.Int).Sub(sentTotal(t, alice, shop.payee), before); moved.Cmp(big.NewInt(10000)) != 0 {
		t.Fatalf("one offer paid ten times at once moved %s, want 10000", moved)
	}
	if spent := siteToken(t, alice, shop.origin).GetSpent(); spent != "10000" {
		t.Fatalf("one offer paid ten times at once counts %s spent, want 10000", spent)
	}
	// Each of them, and a retry after (its page lost the first answer, or
	// the site failed to serve the page), is told the offer is paid, with
	// the payment's receipt: not "your node did not pay".
	replies[10] = shop.site("/site/pay", map[string]any{"terms": one})
	for i, r := range replies[:11] {
		if r.str("status") != "paid" || r.str("receipt") != replies[0].str("receipt") {
			t.Errorf("call %d of one offer: %d %v", i, r.code, r.body)
		}
	}
	if moved := new(big.Int).Sub(sentTotal(t, alice, shop.payee), before); moved.Cmp(big.NewInt(10000)) != 0 || t.Failed() {
		t.Fatalf("one offer paid eleven times moved %s, want 10000", moved)
	}
	// Another site approved to pay the same publisher does not get the
	// receipt of shop's payment.
	kiosk := approveSite(t, alice, bob, pw, "http://kiosk.test:"+pwPort, map[string]any{"budget": "1", "max_price": "0.02"})
	if r := kiosk.site("/site/pay", map[string]any{"terms": one}); r.str("status") == "paid" || r.str("receipt") != "" {
		t.Fatalf("another site paying shop's offer: %d %v", r.code, r.body)
	}

	// The reader's approval, sent five times at once (a double click, or
	// a page that replays it): one approval.
	blog := "http://blog.test:" + pwPort
	hello := endpoint(t, news.client, browserBase(t, alice), http.MethodPost, "/site/hello",
		map[string]any{"terms": required(t, pw, "/articles/1")}, "Origin", blog)
	approval := map[string]any{"id": hello.str("request"), "budget": "1", "max_price": "0.02"}
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i] = news.reader(http.MethodPost, "/reader/approve", approval)
		}()
	}
	wg.Wait()
	r, err := alice.api.ListTokens(context.Background(), &apiv1.ListTokensRequest{})
	if err != nil {
		t.Fatal(err)
	}
	approvals := 0
	for _, tok := range r.GetTokens() {
		if tok.GetPolicy().GetOrigin() == blog {
			approvals++
		}
	}
	if approvals != 1 {
		t.Fatalf("five approvals at once made %d approvals of %s", approvals, blog)
	}

	// Six streams of a song at 0.0005 USD a second started at once by a
	// site allowed 0.001 USD a second: the highest rate is the site's, for
	// all its pages together, so two stream and four are refused.
	radio := approveSite(t, alice, bob, pw, "http://radio.test:"+pwPort, map[string]any{"budget": "1", "max_price": "0.02", "max_rate": "0.001"})
	song := required(t, pw, "/songs/1")
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i] = radio.site("/site/stream", map[string]any{"terms": song})
		}()
	}
	wg.Wait()
	streaming := 0
	for _, r := range replies[:6] {
		switch {
		case r.str("status") == "streaming":
			streaming++
		case r.str("reason") != browserpay.ReasonAboveMaxRate:
			t.Errorf("a stream refused for another reason than the rate: %d %v", r.code, r.body)
		}
	}
	if streaming != 2 {
		t.Fatalf("%d of 6 streams at 0.0005 USD a second stream for a site allowed 0.001 USD a second, want 2", streaming)
	}
}

// TestSitePeerAddrNotDialled: the peer address in a site's terms is the
// site's word, not signed by anyone. Once the node shares a channel with
// the publisher, it knows where the publisher listens (it redials it);
// an approved site's page that names another address must not make the
// node dial it (a page could time its calls to probe the reader's
// network, which the browser keeps it from, through the node).
func TestSitePeerAddrNotDialled(t *testing.T) {
	procs := startDaemonsFlags(t, []string{"alice", "bob"}, map[string][]string{"alice": {"--browser-listen", "127.0.0.1:0"}})
	alice, bob := procs[0], procs[1]
	pw := startPaywall(t, bob, newsSite(t).URL)
	_, pwPort, _ := net.SplitHostPort(pw)
	news := approveSite(t, alice, bob, pw, "http://news.test:"+pwPort, map[string]any{"budget": "1", "max_price": "0.02", "deposit": "5"})

	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	var dialled atomic.Int32
	go func() {
		for {
			c, err := probe.Accept()
			if err != nil {
				return
			}
			dialled.Add(1)
			c.Close()
		}
	}()
	terms := required(t, pw, "/articles/2")
	var extra map[string]any
	if err := json.Unmarshal(terms.Accepts[0].Extra, &extra); err != nil {
		t.Fatal(err)
	}
	extra["peerAddr"] = probe.Addr().String()
	if terms.Accepts[0].Extra, err = json.Marshal(extra); err != nil {
		t.Fatal(err)
	}

	// The publisher's node goes away: alice is no longer connected to it.
	bob.stop()
	waitFor(t, "alice sees bob gone", 20*time.Second, func() bool {
		r, err := alice.api.ListPeers(context.Background(), &apiv1.ListPeersRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range r.GetPeers() {
			if strings.EqualFold(p.GetAddress(), news.payee) && p.GetConnected() {
				return false
			}
		}
		return true
	})
	r := news.site("/site/pay", map[string]any{"terms": terms})
	if r.str("status") == "paid" {
		t.Fatalf("paid with the publisher away: %v", r.body)
	}
	if n := dialled.Load(); n != 0 {
		t.Fatalf("a site's page made the node dial the address it named %d times (%v)", n, r.body)
	}
}
