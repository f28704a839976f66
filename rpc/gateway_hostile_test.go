package rpc_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/tinypay/tinypay/node/nodetest"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc"
)

// gw is a real node's control API served as tinypayd serves it: the
// gRPC server with the daemon's options, the gateway in front of it
// through the in-process connection, on an HTTPS test server.
type gw struct {
	t     *testing.T
	node  *nodetest.Node
	admin string
	url   string
	cert  tls.Certificate
	pool  *x509.CertPool
}

// startGateway serves node's API over HTTP/JSON with cfg (nil: the
// defaults).
func startGateway(t *testing.T, node *nodetest.Node, cfg func(*rpc.GatewayConfig)) *gw {
	t.Helper()
	admin := node.AdminToken()
	cert, err := rpc.LoadOrCreateCertificate(filepath.Join(node.Dir, "tls.crt"), filepath.Join(node.Dir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	unary, stream := rpc.TokenAuth(admin, node.Apps().Authenticate)
	srv := grpc.NewServer(append(rpc.APIKeepalive(),
		grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})),
		grpc.ChainUnaryInterceptor(unary), grpc.ChainStreamInterceptor(stream),
		grpc.MaxRecvMsgSize(1<<20), grpc.MaxConcurrentStreams(1024))...)
	rpc.NewAPIServer(node.N(), node.Apps()).Register(srv)
	conn, closeConn, err := rpc.InProcess(srv, cert)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := rpc.DefaultGatewayConfig()
	if cfg != nil {
		cfg(&c)
	}
	g, err := rpc.NewGateway(ctx, conn, c)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(g)
	hs.EnableHTTP2 = true
	hs.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}
	hs.StartTLS()
	t.Cleanup(func() {
		cancel()
		hs.Close()
		closeConn()
		srv.Stop()
	})
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &gw{t: t, node: node, admin: admin, url: hs.URL, cert: cert, pool: pool}
}

// client is an HTTP client that trusts the gateway (HTTP/2 if h2).
func (g *gw) client(h2 bool) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: g.pool, ServerName: "localhost"}, ForceAttemptHTTP2: h2}
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	g.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// do sends a request with token ("" for none) and extra header pairs.
func (g *gw) do(ctx context.Context, method, path, token, body string, header ...string) *http.Response {
	g.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, g.url+path, r)
	if err != nil {
		g.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := g.client(true).Do(req)
	if err != nil {
		g.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

// raw is do that reads the whole answer.
func (g *gw) raw(method, path, token, body string, header ...string) (int, string) {
	g.t.Helper()
	resp := g.do(context.Background(), method, path, token, body, header...)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// gwError is the gateway's JSON error.
type gwError struct {
	Code    int32  `json:"code"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

func parseGWError(t *testing.T, code int, body string) gwError {
	t.Helper()
	var e gwError
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Status == "" {
		t.Fatalf("HTTP %d: not a JSON error: %.300s", code, body)
	}
	return e
}

// viewToken makes a view token on g's node.
func (g *gw) viewToken() string {
	g.t.Helper()
	r, err := g.node.API().CreateToken(context.Background(), &apiv1.CreateTokenRequest{Name: "viewer", Kind: apiv1.TokenKind_TOKEN_KIND_VIEW})
	if err != nil {
		g.t.Fatal(err)
	}
	return r.GetSecret()
}

// follow opens an SSE stream of the event log; the caller closes it.
func (g *gw) follow(ctx context.Context, token, query string, header ...string) (*http.Response, *bufio.Reader) {
	g.t.Helper()
	resp := g.do(ctx, "GET", "/v1/events"+query, token, "", append([]string{"Accept", "text/event-stream"}, header...)...)
	return resp, bufio.NewReader(resp.Body)
}

// TestGatewayBoundsStreams: every HTTP call shares the gateway's one
// in-process connection, so the calls that stay open (event streams, SSE
// or not, PayStream, Backup) are bounded per token and in total: beyond
// either bound a new one is refused at once with 429 RESOURCE_EXHAUSTED,
// while ordinary calls still go through; a stream that ends frees its
// place.
func TestGatewayBoundsStreams(t *testing.T) {
	chain := nodetest.NewChain(t)
	alice := nodetest.Start(t, chain, "alice", chain.Alice)
	g := startGateway(t, alice, func(c *rpc.GatewayConfig) { c.MaxStreamsPerToken, c.MaxStreams = 2, 3 })
	view := g.viewToken()
	ctx := context.Background()
	open := func(token string, sse bool) *http.Response {
		t.Helper()
		var resp *http.Response
		if sse {
			resp, _ = g.follow(ctx, token, "")
		} else {
			resp = g.do(ctx, "GET", "/v1/events", token, "")
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	refused := func(what string, resp *http.Response) {
		t.Helper()
		b, _ := io.ReadAll(resp.Body)
		e := parseGWError(t, resp.StatusCode, string(b))
		if resp.StatusCode != http.StatusTooManyRequests || e.Status != "RESOURCE_EXHAUSTED" || !strings.Contains(e.Message, "streams") {
			t.Fatalf("%s: HTTP %d %+v, want 429 RESOURCE_EXHAUSTED", what, resp.StatusCode, e)
		}
	}
	first := open(view, true)
	if second := open(view, true); first.StatusCode != 200 || second.StatusCode != 200 {
		t.Fatalf("two streams of a view token: HTTP %d, %d", first.StatusCode, second.StatusCode)
	}
	// The token's third, whichever kind of stream, is refused.
	refused("a third SSE stream of one token", open(view, true))
	refused("a third stream of one token", open(view, false))
	refused("a third stream of one token, with the scheme in lower case", g.do(ctx, "GET", "/v1/events", "", "", "Authorization", "bearer "+view, "Accept", "text/event-stream"))
	refused("a backup beyond the token's bound", g.do(ctx, "GET", "/v1/backup", view, ""))
	// Another token has its own bound, within the total.
	if r := open(g.admin, true); r.StatusCode != 200 {
		t.Fatalf("the admin's stream: HTTP %d", r.StatusCode)
	}
	refused("a stream beyond the total", open(g.admin, true))
	refused("PayStream beyond the total", g.do(ctx, "POST", "/v1/payments/stream", g.admin, "{}\n"))
	// Ordinary calls are not streams: they go through.
	for _, tok := range []string{view, g.admin} {
		if code, body := g.raw("GET", "/v1/info", tok, ""); code != 200 {
			t.Fatalf("GET /v1/info while streams are held: HTTP %d %s", code, body)
		}
	}
	// A stream that ends frees its place.
	first.Body.Close()
	nodetest.Eventually(t, "a place freed", func() bool {
		r := open(view, true)
		defer r.Body.Close()
		return r.StatusCode == 200
	})
}

// TestRevokedTokenEndsItsStreams: a token is checked when a call starts,
// and an event stream may stay open for days: revoking the token ends its
// open streams, over HTTP (an "error" event, UNAUTHENTICATED) and over
// gRPC alike.
func TestRevokedTokenEndsItsStreams(t *testing.T) {
	chain := nodetest.NewChain(t)
	alice := nodetest.Start(t, chain, "alice", chain.Alice)
	g := startGateway(t, alice, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	created, err := alice.API().CreateToken(ctx, &apiv1.CreateTokenRequest{Name: "viewer", Kind: apiv1.TokenKind_TOKEN_KIND_VIEW})
	if err != nil {
		t.Fatal(err)
	}
	view := created.GetSecret()
	resp, r := g.follow(ctx, view, "")
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("HTTP %d", resp.StatusCode)
	}
	sub, err := alice.Dial(view).SubscribeEvents(ctx, &apiv1.SubscribeEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Header(); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.API().RevokeToken(ctx, &apiv1.RevokeTokenRequest{Id: created.GetToken().GetId()}); err != nil {
		t.Fatal(err)
	}
	// Over HTTP: the stream ends with an error event.
	var last string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			break
		}
		if strings.HasPrefix(line, "data: ") {
			last = line[6:]
		}
	}
	if e := parseGWError(t, 200, last); e.Status != "UNAUTHENTICATED" || !strings.Contains(e.Message, "revoked") {
		t.Fatalf("the revoked token's stream ended with %s", last)
	}
	// Over gRPC: Recv fails.
	if _, err := sub.Recv(); status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("the revoked token's gRPC stream: %v", err)
	}
}

// TestSubscribeBeyondTheLog: a cursor past the newest event (one from
// another node, or from before a restore) is refused with OUT_OF_RANGE,
// over gRPC and HTTP (after_seq or Last-Event-ID), rather than waiting in
// silence for events that may never come; the newest seq itself is a good
// cursor (only what happens from now on).
func TestSubscribeBeyondTheLog(t *testing.T) {
	chain := nodetest.NewChain(t)
	alice := nodetest.Start(t, chain, "alice", chain.Alice)
	g := startGateway(t, alice, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	info, err := alice.API().GetInfo(ctx, &apiv1.GetInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	beyond := fmt.Sprint(info.GetLastSeq() + 1)
	sub, err := alice.API().SubscribeEvents(ctx, &apiv1.SubscribeEventsRequest{AfterSeq: info.GetLastSeq() + 1})
	if err == nil {
		_, err = sub.Recv()
	}
	if status.Code(err) != codes.OutOfRange {
		t.Fatalf("gRPC: %v", err)
	}
	for _, tc := range []struct {
		name, query string
		header      []string
	}{
		{"SSE, Last-Event-ID", "", []string{"Accept", "text/event-stream", "Last-Event-ID", beyond}},
		{"SSE, after_seq", "?after_seq=" + beyond, []string{"Accept", "text/event-stream"}},
		{"JSON lines", "?after_seq=" + beyond, nil},
	} {
		code, body := g.raw("GET", "/v1/events"+tc.query, g.admin, "", tc.header...)
		if e := parseGWError(t, code, body); code != http.StatusBadRequest || e.Status != "OUT_OF_RANGE" || !strings.Contains(e.Message, beyond) {
			t.Errorf("%s: HTTP %d %+v", tc.name, code, e)
		}
	}
	resp, r := g.follow(ctx, g.admin, "", "Last-Event-ID", fmt.Sprint(info.GetLastSeq()))
	defer resp.Body.Close()
	if line, err := r.ReadString('\n'); resp.StatusCode != 200 || line != ": subscribed\n" {
		t.Fatalf("subscribing at the newest seq: HTTP %d %q %v", resp.StatusCode, line, err)
	}
}

// TestGatewayNoMethodOverride: grpc-gateway's path-length fallback would
// serve a form POST carrying X-HTTP-Method-Override as another method's
// call; the API serves each call on its one method and path only.
func TestGatewayNoMethodOverride(t *testing.T) {
	chain := nodetest.NewChain(t)
	alice := nodetest.Start(t, chain, "alice", chain.Alice)
	g := startGateway(t, alice, nil)
	form := []string{"Content-Type", "application/x-www-form-urlencoded", "X-HTTP-Method-Override", "GET"}
	for _, tc := range []struct {
		path   string
		status int
	}{
		// GET-only path: the POST is not allowed.
		{"/v1/info", http.StatusMethodNotAllowed},
		// A POST path: the POST is CreateToken's, with a body that is no JSON.
		{"/v1/tokens", http.StatusBadRequest},
	} {
		code, body := g.raw("POST", tc.path, g.admin, "name=x", form...)
		if e := parseGWError(t, code, body); code != tc.status {
			t.Errorf("POST %s as a form with X-HTTP-Method-Override: HTTP %d %+v, want %d", tc.path, code, e, tc.status)
		}
	}
}

// TestGatewaySlowBody: a client (no token needed) that sends a body
// slower than BodyTimeout allows is cut off, so that slow bodies cannot
// hold connections and goroutines for ever.
func TestGatewaySlowBody(t *testing.T) {
	chain := nodetest.NewChain(t)
	alice := nodetest.Start(t, chain, "alice", chain.Alice)
	g := startGateway(t, alice, func(c *rpc.GatewayConfig) { c.BodyTimeout = 200 * time.Millisecond })
	conn, err := tls.Dial("tcp", strings.TrimPrefix(g.url, "https://"), &tls.Config{RootCAs: g.pool, ServerName: "localhost", NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /v1/payments HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"amount\": "); err != nil {
		t.Fatal(err)
	}
	// The test's own bound, far beyond BodyTimeout: without the server's,
	// the read below would wait for ever.
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	answer, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("the server kept a slow body's connection: %v (read %q)", err, answer)
	}
	if !strings.Contains(string(answer), " 400 ") || !strings.Contains(string(answer), "did not arrive within 200ms") {
		t.Fatalf("answer to a slow body: %q", answer)
	}
}

// TestPayStreamLines: POST /v1/payments/stream reads one PayRequest per
// line. A line that is not one (malformed, an unknown field, several
// lines of pretty-printed JSON) or is over MaxBodyBytes (padding that
// would make the gateway buffer up to MaxStreamBodyBytes) ends the input
// with an error the client sees, after the results of the lines before
// it, instead of ending it in silence.
func TestPayStreamLines(t *testing.T) {
	chain := nodetest.NewChain(t)
	alice := nodetest.Start(t, chain, "alice", chain.Alice)
	g := startGateway(t, alice, nil)
	good := `{"channel_id": "0x` + strings.Repeat("ab", 32) + `", "amount": "1", "idempotency_key": "k1"}` + "\n"
	for _, tc := range []struct {
		name, body, status string
	}{
		// Not JSON.
		{"malformed", good + `{"amount": ` + "\n" + good, "INVALID_ARGUMENT"},
		// A field PayRequest does not have.
		{"unknown field", good + `{"amonut": "1"}` + "\n", "INVALID_ARGUMENT"},
		// One request over several lines.
		{"pretty-printed", good + "{\n  \"amount\": \"1\"\n}\n", "INVALID_ARGUMENT"},
		// A line of 2 MiB, mostly spaces.
		{"too long", good + `{"amount": "1"` + strings.Repeat(" ", 2<<20) + "}\n", "RESOURCE_EXHAUSTED"},
	} {
		code, body := g.raw("POST", "/v1/payments/stream", g.admin, tc.body)
		lines := strings.Split(strings.TrimSpace(body), "\n")
		last := lines[len(lines)-1]
		var line struct {
			Result json.RawMessage `json:"result"`
			Error  *gwError        `json:"error"`
		}
		if err := json.Unmarshal([]byte(last), &line); err != nil || code != 200 || len(lines) != 2 || line.Error == nil || line.Error.Status != tc.status || !strings.Contains(line.Error.Message, "line 2") {
			t.Errorf("%s: HTTP %d, %d lines, last %s", tc.name, code, len(lines), last)
		}
	}
}

// TestPayStreamKeepsTheAppTokenLimit: an app token that sends more than
// its limit through POST /v1/payments/stream at once (the payments run
// concurrently) pays at most its limit; the rest are refused one by one
// with RESOURCE_EXHAUSTED, and the channel shows exactly what was paid.
func TestPayStreamKeepsTheAppTokenLimit(t *testing.T) {
	chain := nodetest.NewChain(t)
	alice, bob := nodetest.Start(t, chain, "alice", chain.Alice), nodetest.Start(t, chain, "bob", chain.Bob)
	id := alice.OpenUSD(bob, 1_000_000)
	g := startGateway(t, alice, nil)
	ctx := context.Background()
	tok, err := alice.API().CreateToken(ctx, &apiv1.CreateTokenRequest{Name: "app", Policy: &apiv1.TokenPolicy{Asset: "USD", Limit: "1000", PeriodSeconds: 86400}})
	if err != nil {
		t.Fatal(err)
	}
	var body strings.Builder
	for i := range 10 {
		fmt.Fprintf(&body, `{"channel_id": "%s", "amount": "300", "idempotency_key": "ps-%d"}`+"\n", id.Hex(), i)
	}
	code, out := g.raw("POST", "/v1/payments/stream", tok.GetSecret(), body.String())
	if code != 200 {
		t.Fatalf("HTTP %d %s", code, out)
	}
	paid, refused := 0, 0
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var line struct {
			Result struct {
				Code  int    `json:"code"`
				Error string `json:"error"`
			} `json:"result"`
		}
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		switch codes.Code(line.Result.Code) {
		case codes.OK:
			paid++
		case codes.ResourceExhausted:
			refused++
		default:
			t.Fatalf("result %s", l)
		}
	}
	if paid != 3 || refused != 7 {
		t.Fatalf("%d paid, %d refused; want 3 and 7", paid, refused)
	}
	if sent := alice.Channel(id).Sent; sent.Uint64() != 900 {
		t.Fatalf("the channel sent %s, want 900", sent.Dec())
	}
}

// TestGatewayAuthorization: no path, method or header form reaches a call
// without a token, and a token is read from the Authorization header only
// (its scheme in any case, as HTTP has it), once.
func TestGatewayAuthorization(t *testing.T) {
	chain := nodetest.NewChain(t)
	alice := nodetest.Start(t, chain, "alice", chain.Alice)
	g := startGateway(t, alice, nil)
	view := g.viewToken()
	for _, tc := range []struct {
		name, method, path string
		header             []string
		status             int
	}{
		// The path as another spelling: not a call (404) or refused (401).
		{"double slash", "GET", "//v1/info", nil, 404},
		{"trailing slash", "GET", "/v1/info/", nil, 404},
		{"inner double slash", "GET", "/v1//info", nil, 404},
		{"dot segment", "GET", "/v1/./info", nil, 404},
		{"upper case", "GET", "/V1/info", nil, 404},
		{"escaped letter", "GET", "/v1/%69nfo", nil, 401},
		{"escaped slash", "GET", "/v1/channels/..%2f..%2finfo", nil, 404},
		// Other methods.
		{"HEAD", "HEAD", "/v1/info", nil, 405},
		{"OPTIONS", "OPTIONS", "/v1/info", nil, 405},
		{"override", "GET", "/v1/tokens", []string{"X-HTTP-Method-Override", "POST"}, 401},
		// The token anywhere but in Authorization.
		{"token in the query", "GET", "/v1/info?access_token=" + g.admin, nil, 401},
		{"token in the query of a call with fields", "GET", "/v1/channels?access_token=" + g.admin, nil, 400},
		{"token in a cookie", "GET", "/v1/info", []string{"Cookie", "token=" + g.admin}, 401},
		{"token as Basic", "GET", "/v1/info", []string{"Authorization", "Basic " + g.admin}, 401},
		{"token without scheme", "GET", "/v1/info", []string{"Authorization", g.admin}, 401},
		{"two spaces", "GET", "/v1/info", []string{"Authorization", "Bearer  " + g.admin}, 401},
		{"two headers", "GET", "/v1/info", []string{"Authorization", "Bearer " + g.admin, "Authorization", "Bearer " + g.admin}, 401},
		// The scheme is case-insensitive (RFC 9110).
		{"lower-case scheme", "GET", "/v1/info", []string{"Authorization", "bearer " + g.admin}, 200},
		{"upper-case scheme, view token", "GET", "/v1/channels", []string{"Authorization", "BEARER " + view}, 200},
		{"lower-case scheme, view token writes", "POST", "/v1/tokens", []string{"Authorization", "bearer " + view}, 403},
	} {
		code, body := g.raw(tc.method, tc.path, "", "{}", tc.header...)
		if code != tc.status {
			t.Errorf("%s: %s %s: HTTP %d %.200s, want %d", tc.name, tc.method, tc.path, code, body, tc.status)
		}
	}
}

// TestPayStreamBodyBound: a payment stream whose body (of no declared
// length: a declared one is refused at once with 413) goes on past
// MaxStreamBodyBytes ends with RESOURCE_EXHAUSTED, after a result for
// each whole line before the bound.
func TestPayStreamBodyBound(t *testing.T) {
	chain := nodetest.NewChain(t)
	alice := nodetest.Start(t, chain, "alice", chain.Alice)
	g := startGateway(t, alice, func(c *rpc.GatewayConfig) { c.MaxBodyBytes, c.MaxStreamBodyBytes = 1<<10, 1<<10 })
	line := `{"channel_id": "0x` + strings.Repeat("ab", 32) + `", "amount": "1", "idempotency_key": "k"}` + "\n"
	n := 1<<10/len(line) + 1 // the last one crosses the bound
	// A body of unknown length, as a client that streams sends it.
	req, err := http.NewRequest("POST", g.url+"/v1/payments/stream", io.MultiReader(strings.NewReader(strings.Repeat(line, n+10))))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+g.admin)
	resp, err := g.client(true).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var last struct {
		Error *gwError `json:"error"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || resp.StatusCode != 200 || len(lines) != n || last.Error == nil || last.Error.Status != "RESOURCE_EXHAUSTED" {
		t.Fatalf("HTTP %d, %d lines (want %d), last %s", resp.StatusCode, len(lines), n, lines[len(lines)-1])
	}
}
