package daemon

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/tinypay/tinypay/node/nodetest"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/apiutil"
)

// httpAPI is a net/http client of a daemon's HTTP/JSON API.
type httpAPI struct {
	t      *testing.T
	base   string // https://127.0.0.1:PORT
	token  string // sent as "Authorization: Bearer <token>" unless empty
	client *http.Client
	// curl, if set, is the CA file: requests are made by running curl
	// (as the README's examples do) instead of with net/http.
	curl string
}

// withCurl returns a copy of h whose requests are made by curl.
func (h *httpAPI) withCurl(p *daemonProc) *httpAPI {
	if _, err := exec.LookPath("curl"); err != nil {
		h.t.Skip("curl is not installed (.ci/run installs it)")
	}
	c := *h
	c.curl, c.client = filepath.Join(p.dir, certFile), nil // nothing goes through net/http
	return &c
}

// httpAPI returns a client of p's HTTP/JSON API with token ("" for none).
func (p *daemonProc) httpAPI(token string) *httpAPI {
	t := p.t
	addr, err := os.ReadFile(filepath.Join(p.dir, httpAddrFile))
	if err != nil {
		t.Fatalf("%s serves no HTTP/JSON API: %v", p.name, err)
	}
	pem, _ := os.ReadFile(filepath.Join(p.dir, certFile))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &httpAPI{t: t, base: "https://" + strings.TrimSpace(string(addr)), token: token, client: &http.Client{Transport: tr}}
}

func (p *daemonProc) adminToken() string {
	b, err := os.ReadFile(filepath.Join(p.dir, tokenFile))
	if err != nil {
		p.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// apiError is an error answer of the HTTP/JSON API.
type apiError struct {
	HTTP    int    `json:"-"`
	Code    int32  `json:"code"`
	Status  string `json:"status"`
	Message string `json:"message"`
	Details []json.RawMessage
}

func (e *apiError) Error() string {
	return fmt.Sprintf("HTTP %d %s (%d): %s", e.HTTP, e.Status, e.Code, e.Message)
}

// request sends method path with body (nil: none) and returns the answer.
func (h *httpAPI) request(ctx context.Context, method, path string, body io.Reader, header ...string) *http.Response {
	h.t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, h.base+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	if h.token != "" {
		req.Header.Set("Authorization", "Bearer "+h.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	if h.curl != "" {
		return h.curlDo(req, body)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

// curlDo makes req with curl: the answer is read, as it arrives, from
// curl's output of the raw HTTP/1.1 response (headers and chunked body as
// the server sent them), and closing its body stops curl.
func (h *httpAPI) curlDo(req *http.Request, body io.Reader) *http.Response {
	h.t.Helper()
	// The host name the certificate is for, at the listener's address.
	args := []string{"-sS", "-N", "-i", "--raw", "--http1.1", "--cacert", h.curl,
		"--connect-to", "localhost:" + req.URL.Port() + ":" + req.URL.Host, "-X", req.Method}
	for k, vs := range req.Header {
		for _, v := range vs {
			args = append(args, "-H", k+": "+v)
		}
	}
	if body != nil {
		args = append(args, "--data-binary", "@-")
	}
	u := *req.URL
	u.Host = "localhost:" + req.URL.Port()
	ctx, cancel := context.WithCancel(req.Context())
	cmd := exec.CommandContext(ctx, "curl", append(args, u.String())...)
	if body != nil {
		cmd.Stdin = body
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		h.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(out), req)
	if err != nil {
		cancel()
		cmd.Wait()
		h.t.Fatalf("curl %s %s: %v\n%s", req.Method, req.URL, err, stderr.String())
	}
	resp.Body = &curlBody{ReadCloser: resp.Body, stop: func() { cancel(); cmd.Wait() }}
	return resp
}

// curlBody is the body of an answer curl reads; Close stops curl.
type curlBody struct {
	io.ReadCloser
	stop func()
}

func (b *curlBody) Close() error {
	b.stop()
	return nil
}

// raw sends a request and returns the status and the whole body.
func (h *httpAPI) raw(method, path, body string, header ...string) (int, []byte) {
	h.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	resp := h.request(context.Background(), method, path, r, header...)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// call sends in (a message as JSON, or nil) and reads the answer into out,
// or returns the API's error.
func (h *httpAPI) call(method, path string, in, out proto.Message) *apiError {
	h.t.Helper()
	body := ""
	if in != nil {
		b, err := protojson.Marshal(in)
		if err != nil {
			h.t.Fatal(err)
		}
		body = string(b)
	}
	code, b := h.raw(method, path, body)
	if code != http.StatusOK {
		return parseAPIError(h.t, code, b)
	}
	if err := protojson.Unmarshal(b, out); err != nil {
		h.t.Fatalf("%s %s: %v in %s", method, path, err, b)
	}
	return nil
}

// must is call that fails the test on an error.
func (h *httpAPI) must(method, path string, in, out proto.Message) {
	h.t.Helper()
	if err := h.call(method, path, in, out); err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
}

func parseAPIError(t *testing.T, code int, b []byte) *apiError {
	t.Helper()
	e := &apiError{HTTP: code}
	if err := json.Unmarshal(b, e); err != nil || e.Status == "" || e.Code == 0 {
		t.Fatalf("HTTP %d: not a JSON error (%v): %s", code, err, b)
	}
	return e
}

// lines reads newline-delimited JSON results ({"result": ...}) of a
// streamed call, each into a new message of newMsg.
func ndjson[M proto.Message](t *testing.T, r io.Reader, newMsg func() M, max int) []M {
	t.Helper()
	var out []M
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 4<<20)
	for len(out) < max && sc.Scan() {
		var line struct {
			Result json.RawMessage `json:"result"`
			Error  json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil || line.Error != nil {
			t.Fatalf("stream line %s: %v", sc.Bytes(), err)
		}
		m := newMsg()
		if err := protojson.Unmarshal(line.Result, m); err != nil {
			t.Fatalf("stream result %s: %v", line.Result, err)
		}
		out = append(out, m)
	}
	return out
}

// sameAsGRPC checks that an HTTP error carries the code and message the
// gRPC call gave.
func sameAsGRPC(t *testing.T, what string, he *apiError, gerr error) {
	t.Helper()
	st := status.Convert(gerr)
	if he == nil || gerr == nil || he.Code != int32(st.Code()) || he.Message != st.Message() {
		t.Fatalf("%s: HTTP said %v, gRPC said %v", what, he, gerr)
	}
}

// TestHTTPEveryMethod drives every method of the control API once over
// HTTP/JSON against two real daemons, with net/http and then with curl
// (as the README's examples do), and checks what each did: a payment
// moves the balance and is listed, an offer is paid once, a stream pays, a
// token is listed and revoked, a wallet send leaves the wallet, a backup
// streams a complete file. Errors carry the gRPC code and message.
func TestHTTPEveryMethod(t *testing.T) {
	t.Run("net/http", func(t *testing.T) { testEveryMethod(t, false) })
	t.Run("curl", func(t *testing.T) { testEveryMethod(t, true) })
}

func testEveryMethod(t *testing.T, viaCurl bool) {
	alice, bob := startDaemons(t)
	a, b := alice.httpAPI(alice.adminToken()), bob.httpAPI(bob.adminToken())
	if viaCurl {
		a, b = a.withCurl(alice), b.withCurl(bob)
	}
	called := map[string]bool{}
	ctx := context.Background()

	var ainfo, binfo apiv1.NodeInfo
	a.must("GET", "/v1/info", nil, &ainfo)
	b.must("GET", "/v1/info", nil, &binfo)
	called["GetInfo"] = true
	if ainfo.GetAddress() == "" || ainfo.GetAddress() == binfo.GetAddress() || ainfo.GetChainId() == 0 {
		t.Fatalf("info: %v / %v", &ainfo, &binfo)
	}

	var peer apiv1.Peer
	a.must("POST", "/v1/peers", &apiv1.ConnectPeerRequest{HostPort: peerListen(bob), Address: binfo.GetAddress()}, &peer)
	called["ConnectPeer"] = true
	if !peer.GetConnected() || !strings.EqualFold(peer.GetAddress(), binfo.GetAddress()) {
		t.Fatalf("connect: %v", &peer)
	}
	var peers apiv1.ListPeersResponse
	a.must("GET", "/v1/peers", nil, &peers)
	called["ListPeers"] = true
	if len(peers.GetPeers()) != 1 {
		t.Fatalf("peers: %v", &peers)
	}

	var bals apiv1.Balances
	a.must("GET", "/v1/balances", nil, &bals)
	called["GetBalances"] = true
	if len(bals.GetBalances()) == 0 || bals.GetBalances()[0].GetWallet() == "0" {
		t.Fatalf("balances: %v", &bals)
	}

	var ch apiv1.Channel
	a.must("POST", "/v1/channels", &apiv1.OpenChannelRequest{Peer: binfo.GetAddress(), Asset: "USD", Deposit: "5000000"}, &ch)
	called["OpenChannel"] = true
	if ch.GetMyDeposit() != "5000000" || ch.GetPhase() == "" {
		t.Fatalf("open: %v", &ch)
	}
	id := ch.GetId()
	a.must("POST", "/v1/channels/"+id+"/deposit", &apiv1.DepositRequest{Amount: "1000000"}, &ch)
	called["Deposit"] = true
	if ch.GetMyDeposit() != "6000000" {
		t.Fatalf("deposit: %v", &ch)
	}

	var pay apiv1.Payment
	a.must("POST", "/v1/payments", &apiv1.PayRequest{ChannelId: id, Amount: "250000", IdempotencyKey: "http-1", ItemId: "book-1"}, &pay)
	called["Pay"] = true
	if pay.GetStatus() != "complete" || pay.GetAmount() != "250000" {
		t.Fatalf("pay: %v", &pay)
	}
	// The same key again pays nothing more.
	a.must("POST", "/v1/payments", &apiv1.PayRequest{ChannelId: id, Amount: "250000", IdempotencyKey: "http-1", ItemId: "book-1"}, &pay)

	// PayStream: newline-delimited requests in, a result per payment out.
	var body bytes.Buffer
	for i := range 3 {
		b, _ := protojson.Marshal(&apiv1.PayRequest{ChannelId: id, Amount: "1000", IdempotencyKey: fmt.Sprint("http-stream-", i)})
		body.Write(append(b, '\n'))
	}
	resp := a.request(ctx, "POST", "/v1/payments/stream", &body)
	results := ndjson(t, resp.Body, func() *apiv1.PayResult { return new(apiv1.PayResult) }, 10)
	resp.Body.Close()
	called["PayStream"] = true
	if len(results) != 3 {
		t.Fatalf("pay stream: %d results, want 3", len(results))
	}
	for _, r := range results {
		if r.GetCode() != 0 || r.GetPayment().GetStatus() != "complete" {
			t.Fatalf("pay stream result: %v", r)
		}
	}

	var list apiv1.ListChannelsResponse
	a.must("GET", "/v1/channels?all=true&page_size=10", nil, &list)
	called["ListChannels"] = true
	if len(list.GetChannels()) != 1 || list.GetChannels()[0].GetId() != id {
		t.Fatalf("list channels: %v", &list)
	}
	a.must("GET", "/v1/channels/"+id, nil, &ch)
	called["GetChannel"] = true
	// 6 USD - 0.25 (paid once, though asked twice) - 3 * 0.001.
	if ch.GetMyBalance() != "5747000" || ch.GetPeerBalance() != "253000" {
		t.Fatalf("after paying: %v", &ch)
	}

	var pays apiv1.ListPaymentsResponse
	b.must("GET", "/v1/payments?channel_id="+id, nil, &pays)
	called["ListPayments"] = true
	if len(pays.GetPayments()) != 4 || pays.GetPayments()[0].GetItemId() != "book-1" || pays.GetPayments()[0].GetDirection() != "incoming" {
		t.Fatalf("bob's payments: %v", &pays)
	}

	// SubscribeEvents as newline-delimited JSON: what is stored first.
	sctx, cancel := context.WithCancel(ctx)
	resp = b.request(sctx, "GET", "/v1/events?kinds=payment_in", nil)
	evs := ndjson(t, resp.Body, func() *apiv1.Event { return new(apiv1.Event) }, 4)
	cancel()
	resp.Body.Close()
	called["SubscribeEvents"] = true
	if len(evs) != 4 || evs[0].GetPayment().GetAmount() != "250000" || evs[0].GetSeq() == 0 {
		t.Fatalf("events: %v", evs)
	}
	// ListEvents: the same, newest first, a page of 3 and then the rest.
	var hist, older apiv1.ListEventsResponse
	b.must("GET", "/v1/events/history?kinds=payment_in&limit=3", nil, &hist)
	called["ListEvents"] = true
	if len(hist.GetEvents()) != 3 || hist.GetEvents()[0].GetSeq() != evs[3].GetSeq() || hist.GetEvents()[2].GetSeq() != evs[1].GetSeq() || hist.GetNextBeforeSeq() == 0 {
		t.Fatalf("event history: %v, want the newest three of %v", &hist, evs)
	}
	b.must("GET", fmt.Sprintf("/v1/events/history?kinds=payment_in&before_seq=%d", hist.GetNextBeforeSeq()), nil, &older)
	if len(older.GetEvents()) != 1 || older.GetEvents()[0].GetSeq() != evs[0].GetSeq() || older.GetNextBeforeSeq() != 0 {
		t.Fatalf("older event history: %v, want %v alone", &older, evs[0])
	}
	if e := b.call("GET", "/v1/events/history?kinds=payments", nil, &hist); e == nil || e.Status != "INVALID_ARGUMENT" {
		t.Fatalf("a bad kind: %v", e)
	}

	var offer apiv1.Offer
	b.must("POST", "/v1/offers", &apiv1.CreateOfferRequest{ItemId: "song-7", Asset: "USD", Price: "5000"}, &offer)
	called["CreateOffer"] = true
	a.must("POST", "/v1/payments", &apiv1.PayRequest{Offer: &offer}, &pay)
	if pay.GetOfferId() != offer.GetOfferId() || pay.GetReceipt().GetSignature() == "" {
		t.Fatalf("offer payment: %v", &pay)
	}
	// A second purchase of a once-only offer: ALREADY_EXISTS, the first
	// payment in the details, as over gRPC.
	he := a.call("POST", "/v1/payments", &apiv1.PayRequest{Offer: &offer}, &pay)
	_, gerr := alice.api.Pay(ctx, &apiv1.PayRequest{Offer: &offer})
	sameAsGRPC(t, "offer paid twice", he, gerr)
	if he.HTTP != http.StatusConflict || he.Status != "ALREADY_EXISTS" || len(he.Details) != 1 || !strings.Contains(string(he.Details[0]), offer.GetOfferId()) {
		t.Fatalf("offer paid twice: %v %s", he, he.Details)
	}
	var uses apiv1.OfferUsage
	b.must("POST", "/v1/offers/uses", &apiv1.GetOfferUsesRequest{Offer: &offer}, &uses)
	called["GetOfferUses"] = true
	if uses.GetPaid() != 1 || uses.Remaining == nil || uses.GetRemaining() != 0 {
		t.Fatalf("offer uses: %v", &uses)
	}

	var st apiv1.Stream
	a.must("POST", "/v1/streams", &apiv1.StartStreamRequest{ChannelId: id, Rate: "1000", TickMs: 100, Budget: "300", ItemId: "radio"}, &st)
	called["StartStream"] = true
	nodetest.Eventually(t, "the stream pays its budget", func() bool {
		a.must("GET", "/v1/streams/"+st.GetId(), nil, &st)
		return st.GetPaid() == "300"
	})
	called["GetStream"] = true
	a.must("POST", "/v1/streams/"+st.GetId()+"/stop", &apiv1.StopStreamRequest{}, &st)
	called["StopStream"] = true
	if st.GetStatus() != "ended" {
		t.Fatalf("stopped stream: %v", &st)
	}
	var streams apiv1.ListStreamsResponse
	a.must("GET", "/v1/streams?all=true", nil, &streams)
	called["ListStreams"] = true
	if len(streams.GetStreams()) != 1 || streams.GetStreams()[0].GetId() != st.GetId() {
		t.Fatalf("streams: %v", &streams)
	}

	var rev apiv1.RevenueResponse
	b.must("GET", "/v1/revenue?group_by=item", nil, &rev)
	called["Revenue"] = true
	byItem := map[string]string{}
	for _, r := range rev.GetRows() {
		byItem[r.GetKey()] = r.GetAmount()
	}
	if byItem["book-1"] != "250000" || byItem["song-7"] != "5000" || byItem["radio"] != "300" {
		t.Fatalf("revenue: %v", &rev)
	}

	var tok apiv1.CreateTokenResponse
	a.must("POST", "/v1/tokens", &apiv1.CreateTokenRequest{Name: "player", Policy: &apiv1.TokenPolicy{Asset: "USD", Limit: "1000", PeriodSeconds: 3600}}, &tok)
	called["CreateToken"] = true
	if tok.GetSecret() == "" || tok.GetToken().GetId() == "" {
		t.Fatalf("token: %v", &tok)
	}
	var toks apiv1.ListTokensResponse
	a.must("GET", "/v1/tokens", nil, &toks)
	called["ListTokens"] = true
	if len(toks.GetTokens()) != 1 || toks.GetTokens()[0].GetName() != "player" {
		t.Fatalf("tokens: %v", &toks)
	}
	var revoked apiv1.AppToken
	a.must("POST", "/v1/tokens/"+tok.GetToken().GetId()+"/revoke", &apiv1.RevokeTokenRequest{}, &revoked)
	called["RevokeToken"] = true
	if !revoked.GetRevoked() {
		t.Fatalf("revoke: %v", &revoked)
	}

	const sink = "0x000000000000000000000000000000000000dEaD"
	var est apiv1.WalletSendEstimate
	a.must("POST", "/v1/wallet/estimate", &apiv1.WalletSendRequest{To: sink, Asset: "ETH", Amount: "1000"}, &est)
	called["EstimateWalletSend"] = true
	if est.GetAmount() != "1000" || est.GetGas() == 0 {
		t.Fatalf("estimate: %v", &est)
	}
	var tr apiv1.Transfer
	a.must("POST", "/v1/wallet/send", &apiv1.WalletSendRequest{To: sink, Asset: "ETH", Amount: "1000", IdempotencyKey: "http-send-1"}, &tr)
	called["WalletSend"] = true
	if tr.GetStatus() != "sent" || tr.GetTxHash() == "" {
		t.Fatalf("wallet send: %v", &tr)
	}

	resp = a.request(ctx, "GET", "/v1/backup?without_key=true", nil)
	chunks := ndjson(t, resp.Body, func() *apiv1.BackupChunk { return new(apiv1.BackupChunk) }, 1<<20)
	resp.Body.Close()
	called["Backup"] = true
	var size int
	for _, c := range chunks {
		size += len(c.GetData())
	}
	if last := chunks[len(chunks)-1].GetDone(); last == nil || last.GetWithKey() || !strings.EqualFold(last.GetNode(), ainfo.GetAddress()) || size == 0 {
		t.Fatalf("backup: %d chunks, %d bytes, last %v", len(chunks), size, chunks[len(chunks)-1])
	}

	a.must("POST", "/v1/channels/"+id+"/withdraw", &apiv1.WithdrawRequest{Amount: "1000000"}, &ch)
	called["Withdraw"] = true
	if ch.GetMyWithdrawn() != "1000000" {
		t.Fatalf("withdraw: %v", &ch)
	}
	a.must("POST", "/v1/channels/"+id+"/close", &apiv1.CloseChannelRequest{}, &ch)
	called["CloseChannel"] = true
	if ch.GetPhase() != "closed" && ch.GetPhase() != "settled" {
		t.Fatalf("close: %v", &ch)
	}

	// A second channel, closed alone: settling before the challenge period
	// ends is refused over HTTP as over gRPC. (An hour: the dev chain's
	// blocks, every 200 ms, may each move its clock a second, so a short
	// period could pass while a loaded machine runs the calls.)
	a.must("POST", "/v1/channels", &apiv1.OpenChannelRequest{Peer: binfo.GetAddress(), Asset: "USD", Deposit: "1000000", ChallengePeriod: 3600}, &ch)
	a.must("POST", "/v1/channels/"+ch.GetId()+"/force-close", &apiv1.ForceCloseRequest{}, &ch)
	called["ForceClose"] = true
	if ch.GetSettleAfter() == 0 {
		t.Fatalf("force close: %v", &ch)
	}
	he = a.call("POST", "/v1/channels/"+ch.GetId()+"/settle", &apiv1.SettleRequest{}, &ch)
	called["Settle"] = true
	_, gerr = alice.api.Settle(ctx, &apiv1.SettleRequest{ChannelId: ch.GetId()})
	// The two calls are moments apart: the seconds left and the block
	// times in their messages may differ, the rest may not.
	digits := regexp.MustCompile(`[0-9]+`)
	if st := status.Convert(gerr); he == nil || gerr == nil || he.Code != int32(st.Code()) ||
		digits.ReplaceAllString(he.Message, "N") != digits.ReplaceAllString(st.Message(), "N") {
		t.Fatalf("early settle: HTTP said %v, gRPC said %v", he, gerr)
	}
	if he.HTTP != http.StatusBadRequest || he.Status != "FAILED_PRECONDITION" {
		t.Fatalf("early settle: %v", he)
	}

	for _, m := range apiv1.Node_ServiceDesc.Methods {
		if !called[m.MethodName] {
			t.Errorf("%s was not called over HTTP", m.MethodName)
		}
	}
	for _, s := range apiv1.Node_ServiceDesc.Streams {
		if !called[s.StreamName] {
			t.Errorf("%s was not called over HTTP", s.StreamName)
		}
	}
	if _, err := alice.api.GetInfo(ctx, &apiv1.GetInfoRequest{}); status.Code(err) != codes.OK {
		t.Fatal(err)
	}
}

// grpcAPI is a gRPC client of p's control API with token.
func (p *daemonProc) grpcAPI(token string) apiv1.NodeClient {
	return apiv1.NewNodeClient(p.grpcConn(token))
}

// grpcConn is a connection to p's control API that sends token.
func (p *daemonProc) grpcConn(token string) *grpc.ClientConn {
	t := p.t
	addr, _ := os.ReadFile(filepath.Join(p.dir, addrFile))
	pem, _ := os.ReadFile(filepath.Join(p.dir, certFile))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "localhost"}))}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(apiutil.TokenCredentials(token)))
	}
	conn, err := grpc.NewClient(strings.TrimSpace(string(addr)), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestHTTPRefusals checks the unhappy paths of the HTTP/JSON API against a
// real daemon: each is refused with a JSON error whose code and message
// are what gRPC says for the same call, and changes nothing.
func TestHTTPRefusals(t *testing.T) {
	alice, bob := startDaemons(t)
	ctx := context.Background()
	admin, _, ch := openOverHTTP(alice, bob)

	t.Run("no token", func(t *testing.T) {
		none := alice.httpAPI("")
		code, b := none.raw("GET", "/v1/channels", "")
		he := parseAPIError(t, code, b)
		_, gerr := alice.grpcAPI("").ListChannels(ctx, &apiv1.ListChannelsRequest{})
		sameAsGRPC(t, "no token", he, gerr)
		if he.HTTP != http.StatusUnauthorized || he.Status != "UNAUTHENTICATED" {
			t.Fatal(he)
		}
		resp := none.request(ctx, "GET", "/v1/info", nil)
		resp.Body.Close()
		if resp.Header.Get("WWW-Authenticate") == "" || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("HTTP %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	})
	t.Run("wrong token", func(t *testing.T) {
		he := alice.httpAPI("not-the-token").call("POST", "/v1/payments", &apiv1.PayRequest{ChannelId: ch.GetId(), Amount: "1", IdempotencyKey: "wrong-token"}, &apiv1.Payment{})
		_, gerr := alice.grpcAPI("not-the-token").Pay(ctx, &apiv1.PayRequest{ChannelId: ch.GetId(), Amount: "1", IdempotencyKey: "wrong-token"})
		sameAsGRPC(t, "wrong token", he, gerr)
		if he.HTTP != http.StatusUnauthorized {
			t.Fatal(he)
		}
		// Two Authorization headers are refused too (the admin's and another).
		code, b := admin.raw("GET", "/v1/info", "", "Authorization", "Bearer x")
		if he := parseAPIError(t, code, b); he.HTTP != http.StatusUnauthorized {
			t.Fatal(he)
		}
	})
	t.Run("app token", func(t *testing.T) {
		var tok apiv1.CreateTokenResponse
		admin.must("POST", "/v1/tokens", &apiv1.CreateTokenRequest{Name: "app", Policy: &apiv1.TokenPolicy{Asset: "USD", Limit: "1000", PeriodSeconds: 86400}}, &tok)
		app, appG := alice.httpAPI(tok.GetSecret()), alice.grpcAPI(tok.GetSecret())
		pay := func(amount, key string) *apiv1.PayRequest {
			return &apiv1.PayRequest{ChannelId: ch.GetId(), Amount: amount, IdempotencyKey: key}
		}
		var p apiv1.Payment
		app.must("POST", "/v1/payments", pay("600", "app-1"), &p)
		// The limit is one over both: gRPC sees what HTTP spent.
		_, gerr := appG.Pay(ctx, pay("600", "app-2"))
		he := app.call("POST", "/v1/payments", pay("600", "app-3"), &p)
		sameAsGRPC(t, "over the limit", he, gerr)
		if he.HTTP != http.StatusTooManyRequests || he.Status != "RESOURCE_EXHAUSTED" {
			t.Fatal(he)
		}
		if _, err := appG.Pay(ctx, pay("300", "app-4")); err != nil {
			t.Fatal(err)
		}
		he = app.call("POST", "/v1/payments", pay("101", "app-5"), &p)
		_, gerr = appG.Pay(ctx, pay("101", "app-6"))
		sameAsGRPC(t, "over the limit after gRPC spent", he, gerr)
		app.must("POST", "/v1/payments", pay("100", "app-7"), &p)
		// Only paying: anything else is refused as over gRPC.
		he = app.call("GET", "/v1/channels", nil, &apiv1.ListChannelsResponse{})
		_, gerr = appG.ListChannels(ctx, &apiv1.ListChannelsRequest{})
		sameAsGRPC(t, "app token lists channels", he, gerr)
		if he.HTTP != http.StatusForbidden || he.Status != "PERMISSION_DENIED" {
			t.Fatal(he)
		}
		admin.must("GET", "/v1/channels/"+ch.GetId(), nil, ch)
		if ch.GetSent() != "1000" {
			t.Fatalf("the app token paid %s, want its limit 1000", ch.GetSent())
		}
	})
	t.Run("bad requests", func(t *testing.T) {
		big := `{"name": "` + strings.Repeat("x", 2<<20) + `"}`
		for _, tc := range []struct {
			name, method, path, body string
			http                     int
			status                   string
		}{
			// Not JSON at all.
			{"malformed", "POST", "/v1/payments", `{"amount": `, 400, "INVALID_ARGUMENT"},
			// A field the request does not have.
			{"unknown field", "POST", "/v1/payments", `{"amount": "1", "amonut": "2"}`, 400, "INVALID_ARGUMENT"},
			// A number where a string belongs.
			{"wrong type", "POST", "/v1/channels", `{"deposit": 5}`, 400, "INVALID_ARGUMENT"},
			// No such call.
			{"unknown path", "GET", "/v1/nothing", "", 404, "NOT_FOUND"},
			// A call with another method.
			{"wrong method", "DELETE", "/v1/info", "", 405, "UNIMPLEMENTED"},
			// A body beyond the bound.
			{"too large", "POST", "/v1/tokens", big, 413, "RESOURCE_EXHAUSTED"},
			// A query parameter the request does not have.
			{"unknown parameter", "GET", "/v1/channels?colour=red", "", 400, "INVALID_ARGUMENT"},
			// A validation error of the API itself: as over gRPC.
			{"bad amount", "POST", "/v1/payments", `{"channel_id": "` + ch.GetId() + `", "amount": "-1", "idempotency_key": "k"}`, 400, "INVALID_ARGUMENT"},
		} {
			code, b := admin.raw(tc.method, tc.path, tc.body)
			he := parseAPIError(t, code, b)
			if he.HTTP != tc.http || he.Status != tc.status || he.Message == "" {
				t.Errorf("%s: %v, want HTTP %d %s", tc.name, he, tc.http, tc.status)
			}
		}
		var toks apiv1.ListTokensResponse
		admin.must("GET", "/v1/tokens", nil, &toks)
		if len(toks.GetTokens()) != 1 {
			t.Fatalf("a refused request made a token: %v", &toks)
		}
		var pays apiv1.ListPaymentsResponse
		admin.must("GET", "/v1/payments", nil, &pays)
		for _, p := range pays.GetPayments() {
			if p.GetIdempotencyKey() == "k" {
				t.Fatalf("a refused request paid: %v", p)
			}
		}
	})
	t.Run("openapi", func(t *testing.T) {
		code, b := alice.httpAPI("").raw("GET", "/v1/openapi.json", "")
		var doc struct {
			Swagger string                    `json:"swagger"`
			Paths   map[string]map[string]any `json:"paths"`
		}
		if code != 200 || json.Unmarshal(b, &doc) != nil || doc.Swagger != "2.0" {
			t.Fatalf("HTTP %d: %.200s", code, b)
		}
		ops := 0
		for _, p := range doc.Paths {
			ops += len(p)
		}
		if want := len(apiv1.Node_ServiceDesc.Methods) + len(apiv1.Node_ServiceDesc.Streams); ops != want {
			t.Fatalf("the OpenAPI description has %d operations, the service %d methods", ops, want)
		}
	})
}

// sseEvent is one event of a Server-Sent Events stream.
type sseEvent struct {
	id, event, data string
}

// readSSE reads n events (comments skipped) from r.
func readSSE(t *testing.T, r *bufio.Reader, n int) []sseEvent {
	t.Helper()
	var out []sseEvent
	var cur sseEvent
	for len(out) < n {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("after %d events: %v", len(out), err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if cur != (sseEvent{}) {
				out = append(out, cur)
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "id: "):
			cur.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			cur.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			cur.data = line[6:]
		}
	}
	return out
}

// TestHTTPEventStream follows the event log as Server-Sent Events: each
// event's id is its seq, a stream resumed with Last-Event-ID delivers
// exactly the events after it (the header wins over after_seq, as it does
// when EventSource reconnects), live events follow, and a bad request or a
// token that may not read is refused before the stream starts.
func TestHTTPEventStream(t *testing.T) {
	alice, bob := startDaemons(t)
	ctx := context.Background()
	a, b := alice.httpAPI(alice.adminToken()), bob.httpAPI(bob.adminToken())
	var binfo apiv1.NodeInfo
	b.must("GET", "/v1/info", nil, &binfo)
	var peer apiv1.Peer
	a.must("POST", "/v1/peers", &apiv1.ConnectPeerRequest{HostPort: peerListen(bob), Address: binfo.GetAddress()}, &peer)
	var ch apiv1.Channel
	a.must("POST", "/v1/channels", &apiv1.OpenChannelRequest{Peer: binfo.GetAddress(), Asset: "USD", Deposit: "1000000"}, &ch)
	var p apiv1.Payment
	for i := range 5 {
		a.must("POST", "/v1/payments", &apiv1.PayRequest{ChannelId: ch.GetId(), Amount: fmt.Sprint(100 + i), IdempotencyKey: fmt.Sprint("sse-", i)}, &p)
	}
	follow := func(ctx context.Context, query string, header ...string) (*bufio.Reader, func()) {
		ctx, cancel := context.WithCancel(ctx)
		resp := b.request(ctx, "GET", "/v1/events"+query, nil, append([]string{"Accept", "text/event-stream"}, header...)...)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			body, _ := io.ReadAll(resp.Body)
			t.Fatalf("HTTP %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		return bufio.NewReader(resp.Body), func() { cancel(); resp.Body.Close() }
	}
	r, stop := follow(ctx, "?kinds=payment_in")
	all := readSSE(t, r, 5)
	stop()
	for i, e := range all {
		var ev apiv1.Event
		if err := protojson.Unmarshal([]byte(e.data), &ev); err != nil {
			t.Fatal(err)
		}
		if e.id != fmt.Sprint(ev.GetSeq()) || ev.GetPayment().GetAmount() != fmt.Sprint(100+i) {
			t.Fatalf("event %d: id %s, %v", i, e.id, &ev)
		}
	}
	// Resume after the second: exactly the last three, then what is new.
	r, stop = follow(ctx, "?kinds=payment_in&after_seq=0", "Last-Event-ID", all[1].id)
	defer stop()
	again := readSSE(t, r, 3)
	for i, e := range again {
		if e != all[i+2] {
			t.Fatalf("resumed event %d: %v, want %v", i, e, all[i+2])
		}
	}
	a.must("POST", "/v1/payments", &apiv1.PayRequest{ChannelId: ch.GetId(), Amount: "777", IdempotencyKey: "sse-live"}, &p)
	live := readSSE(t, r, 1)
	if !strings.Contains(live[0].data, `"777"`) {
		t.Fatalf("live event: %v", live[0])
	}

	for _, tc := range []struct {
		name, query, token, header string
		http                       int
	}{
		// An event kind that does not exist.
		{"bad kind", "?kinds=gossip", bob.adminToken(), "", 400},
		// A cursor that is not a number.
		{"bad cursor", "?after_seq=x", bob.adminToken(), "", 400},
		// A Last-Event-ID that is not one.
		{"bad Last-Event-ID", "", bob.adminToken(), "soon", 400},
		// No token.
		{"no token", "", "", "", 401},
	} {
		h := bob.httpAPI(tc.token)
		hdr := []string{"Accept", "text/event-stream"}
		if tc.header != "" {
			hdr = append(hdr, "Last-Event-ID", tc.header)
		}
		code, body := h.raw("GET", "/v1/events"+tc.query, "", hdr...)
		if he := parseAPIError(t, code, body); he.HTTP != tc.http {
			t.Errorf("%s: %v, want HTTP %d", tc.name, he, tc.http)
		}
	}
}

// viewMethods are the methods a view token may call (rpc/auth.go's
// methodScopes, as this test expects them).
var viewMethods = map[string]bool{
	"GetInfo": true, "GetBalances": true, "ListPeers": true, "ListChannels": true, "GetChannel": true,
	"ListPayments": true, "SubscribeEvents": true, "GetOfferUses": true, "ListStreams": true, "GetStream": true,
	"Revenue": true, "ListTokens": true, "ListEvents": true,
}

// openAPIOperations maps each method to its HTTP method and path, from
// the OpenAPI description the daemon serves.
func openAPIOperations(t *testing.T, h *httpAPI) map[string][2]string {
	code, b := h.raw("GET", "/v1/openapi.json", "")
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
		} `json:"paths"`
	}
	if code != 200 || json.Unmarshal(b, &doc) != nil {
		t.Fatalf("openapi: HTTP %d %.200s", code, b)
	}
	ops := map[string][2]string{}
	for path, byMethod := range doc.Paths {
		for method, op := range byMethod {
			ops[strings.TrimPrefix(op.OperationID, "Node_")] = [2]string{strings.ToUpper(method), path}
		}
	}
	return ops
}

// TestViewToken: a view token (made with the CLI, as the README shows)
// may call the read methods and nothing else, over gRPC (PERMISSION_DENIED)
// and over HTTP (403, the same message); it stays a view token across a
// restart; revoked, it is refused (401).
func TestViewToken(t *testing.T) {
	alice, bob := startDaemons(t)
	ctx := context.Background()
	admin, binfo, ch := openOverHTTP(alice, bob)

	secretFile := filepath.Join(t.TempDir(), "accountant.token")
	if code, out := tinypay(t, alice.dir, "token", "create", "--view", "--name", "accountant", "--secret-file", secretFile); code != 0 || !strings.Contains(out, "read only") {
		t.Fatalf("token create --view: exit %d\n%s", code, out)
	}
	if code, out := tinypay(t, alice.dir, "token", "create", "--view", "--name", "x", "--limit", "1 USD"); code == 0 || !strings.Contains(out, "spends nothing") {
		t.Fatalf("token create --view --limit: exit %d\n%s", code, out)
	}
	raw, err := os.ReadFile(secretFile)
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(string(raw))
	if code, out := tinypay(t, alice.dir, "--token-file", secretFile, "channel", "list"); code != 0 || !strings.Contains(out, ch.GetId()) {
		t.Fatalf("channel list with the view token: exit %d\n%s", code, out)
	}
	if code, out := tinypay(t, alice.dir, "--token-file", secretFile, "pay", binfo.GetAddress(), "1", "USD"); code == 0 || !strings.Contains(out, "view tokens may only read") {
		t.Fatalf("pay with the view token: exit %d\n%s", code, out)
	}

	ops := openAPIOperations(t, admin)
	check := func(when string) {
		view := alice.httpAPI(secret)
		for name, op := range ops {
			path := strings.NewReplacer("{channel_id}", ch.GetId(), "{stream_id}", "0x"+strings.Repeat("00", 16), "{id}", strings.Repeat("00", 16)).Replace(op[1])
			body := ""
			if op[0] == "POST" {
				body = "{}"
			}
			rctx, cancel := context.WithCancel(ctx)
			var r io.Reader
			if body != "" {
				r = strings.NewReader(body)
			}
			resp := view.request(rctx, op[0], path, r)
			code := resp.StatusCode
			var b []byte
			if code != http.StatusOK {
				b, _ = io.ReadAll(resp.Body)
			}
			cancel()
			resp.Body.Close()
			if viewMethods[name] {
				if code == http.StatusForbidden || code == http.StatusUnauthorized {
					t.Errorf("%s: a view token may call %s: HTTP %d %s", when, name, code, b)
				}
				continue
			}
			he := parseAPIError(t, code, b)
			if he.HTTP != http.StatusForbidden || he.Status != "PERMISSION_DENIED" || !strings.Contains(he.Message, "view tokens may only read") {
				t.Errorf("%s: %s by a view token over HTTP: %v", when, name, he)
			}
		}
	}
	check("before restart")
	// Over gRPC: every method but the read ones is refused.
	viewConn := alice.grpcConn(secret)
	for _, m := range apiv1.Node_ServiceDesc.Methods {
		err := viewConn.Invoke(ctx, "/tinypay.api.v1.Node/"+m.MethodName, &apiv1.GetInfoRequest{}, &apiv1.NodeInfo{})
		if viewMethods[m.MethodName] != (status.Code(err) != codes.PermissionDenied) {
			t.Errorf("%s by a view token over gRPC: %v", m.MethodName, err)
		}
	}
	for _, s := range apiv1.Node_ServiceDesc.Streams {
		sctx, cancel := context.WithCancel(ctx)
		st, err := viewConn.NewStream(sctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, "/tinypay.api.v1.Node/"+s.StreamName)
		if err == nil {
			err = st.SendMsg(&apiv1.GetInfoRequest{})
			if err == io.EOF {
				// The server ended the stream before the message went
				// out (a refusal is quick): its status comes with the
				// next receive, as grpc's SendMsg documents.
				err = st.RecvMsg(&apiv1.NodeInfo{})
			} else if err == nil {
				st.CloseSend()
				_, err = st.Header()
				if err == nil && !viewMethods[s.StreamName] {
					err = st.RecvMsg(&apiv1.NodeInfo{})
				}
			}
		}
		cancel()
		if viewMethods[s.StreamName] != (status.Code(err) != codes.PermissionDenied) {
			t.Errorf("%s by a view token over gRPC: %v", s.StreamName, err)
		}
	}

	alice.stop()
	alice.start()
	check("after restart")
	var toks apiv1.ListTokensResponse
	alice.httpAPI(secret).must("GET", "/v1/tokens", nil, &toks)
	if len(toks.GetTokens()) != 1 || toks.GetTokens()[0].GetKind() != apiv1.TokenKind_TOKEN_KIND_VIEW || toks.GetTokens()[0].GetPolicy() != nil {
		t.Fatalf("tokens after restart: %v", &toks)
	}
	var revoked apiv1.AppToken
	admin = alice.httpAPI(alice.adminToken())
	admin.must("POST", "/v1/tokens/"+toks.GetTokens()[0].GetId()+"/revoke", &apiv1.RevokeTokenRequest{}, &revoked)
	code, b := alice.httpAPI(secret).raw("GET", "/v1/channels", "")
	if he := parseAPIError(t, code, b); he.HTTP != http.StatusUnauthorized {
		t.Fatalf("a revoked view token: %v", he)
	}
}

// readmeCurl returns the lines of the README's HTTP/JSON example block.
func readmeCurl(t *testing.T) []string {
	raw, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(raw), "<!-- http-api-example")
	block, _, ok2 := strings.Cut(rest, "<!-- /http-api-example -->")
	_, block, ok3 := strings.Cut(block, "```sh\n")
	block, _, ok4 := strings.Cut(block, "```")
	if !ok || !ok2 || !ok3 || !ok4 {
		t.Fatal("the README has no http-api-example block")
	}
	return strings.Split(strings.TrimSpace(block), "\n")
}

// TestHTTPReadmeCurl runs the README's curl examples as written (with the
// payee's address filled in) against a real daemon: each succeeds, says
// what it should, and the payment it makes moves the balance.
func TestHTTPReadmeCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed (.ci/run installs it)")
	}
	lines := readmeCurl(t)
	alice, bob := startDaemons(t)
	admin, binfo, ch := openOverHTTP(alice, bob)

	// The commands run in a directory where "alice" is alice's data dir.
	cwd := t.TempDir()
	if err := os.Symlink(alice.dir, filepath.Join(cwd, "alice")); err != nil {
		t.Fatal(err)
	}
	var setup []string
	ran := 0
	for _, line := range lines {
		if !strings.HasPrefix(line, "api ") && !strings.HasPrefix(line, "curl ") {
			setup = append(setup, line)
			continue
		}
		line = strings.ReplaceAll(line, "0xBobAddress", binfo.GetAddress())
		script := strings.Join(append(setup, line), "\n")
		cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
		cmd.Dir = cwd
		if strings.Contains(line, "text/event-stream") {
			// It follows the log: read until the first event, then stop it.
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			// curl runs under bash: stop both (curl's complaint goes to
			// /dev/null).
			ownGroup(cmd)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			evs := readSSE(t, bufio.NewReader(out), 1)
			killGroup(cmd)
			cmd.Wait()
			var ev apiv1.Event
			if err := protojson.Unmarshal([]byte(evs[0].data), &ev); err != nil || evs[0].id != fmt.Sprint(ev.GetSeq()) {
				t.Fatalf("%s: first event %v: %v", line, evs[0], err)
			}
			ran++
			continue
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", line, err, out)
		}
		want := map[string]string{
			"/v1/info":      `"chain_id"`,
			"/v1/balances":  `"wallet"`,
			"/v1/channels?": ch.GetId(),
			"/v1/payments ": `"order-17"`,
			"/v1/payments?": `"order-17"`,
		}
		for k, v := range want {
			if strings.Contains(line+" ", k) && !strings.Contains(string(out), v) {
				t.Fatalf("%s: no %s in\n%s", line, v, out)
			}
		}
		ran++
	}
	if ran < 6 {
		t.Fatalf("ran %d example lines", ran)
	}
	doc, err := os.ReadFile(filepath.Join(cwd, "tinypay-openapi.json"))
	if err != nil || !bytes.Contains(doc, []byte(`"/v1/payments"`)) {
		t.Fatalf("the OpenAPI example saved %.100s (%v)", doc, err)
	}
	admin.must("GET", "/v1/channels/"+ch.GetId(), nil, ch)
	if ch.GetSent() != "100" {
		t.Fatalf("after the README's payment alice sent %s, want 100", ch.GetSent())
	}
}

// openOverHTTP connects alice to bob and opens a channel of 1 USD from
// alice, over the HTTP API; it returns alice's admin client, bob's info
// and the channel.
func openOverHTTP(alice, bob *daemonProc) (admin *httpAPI, bobInfo *apiv1.NodeInfo, ch *apiv1.Channel) {
	admin, bobInfo, ch = alice.httpAPI(alice.adminToken()), new(apiv1.NodeInfo), new(apiv1.Channel)
	bob.httpAPI(bob.adminToken()).must("GET", "/v1/info", nil, bobInfo)
	admin.must("POST", "/v1/peers", &apiv1.ConnectPeerRequest{HostPort: peerListen(bob), Address: bobInfo.GetAddress()}, &apiv1.Peer{})
	admin.must("POST", "/v1/channels", &apiv1.OpenChannelRequest{Peer: bobInfo.GetAddress(), Asset: "USD", Deposit: "1000000"}, ch)
	return admin, bobInfo, ch
}

// TestAPIConnectionsBounded: a stranger who opens many connections to the
// control API's ports (gRPC and HTTP/JSON) holds at most maxAPIConnections
// of them open in the node; a further call waits (here, past its deadline)
// until they close, and is then served.
func TestAPIConnectionsBounded(t *testing.T) {
	alice, _ := startDaemons(t)
	httpAddr, err := os.ReadFile(filepath.Join(alice.dir, httpAddrFile))
	if err != nil {
		t.Fatal(err)
	}
	grpcAddr, _ := os.ReadFile(filepath.Join(alice.dir, addrFile))
	for _, port := range []struct {
		name, addr string
		call       func(ctx context.Context) error
	}{
		{"HTTP/JSON", strings.TrimSpace(string(httpAddr)), func(ctx context.Context) error {
			h := alice.httpAPI(alice.adminToken())
			req, _ := http.NewRequestWithContext(ctx, "GET", h.base+"/v1/info", nil)
			req.Header.Set("Authorization", "Bearer "+h.token)
			resp, err := h.client.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			return err
		}},
		{"gRPC", strings.TrimSpace(string(grpcAddr)), func(ctx context.Context) error {
			_, err := alice.grpcAPI(alice.adminToken()).GetInfo(ctx, &apiv1.GetInfoRequest{})
			return err
		}},
	} {
		t.Run(port.name, func(t *testing.T) {
			// The node closes a connection that sends nothing after its
			// handshake timeout (10 s): all this happens well within it.
			var held []net.Conn
			defer func() {
				for _, c := range held {
					c.Close()
				}
			}()
			for range maxAPIConnections {
				c, err := net.Dial("tcp", port.addr)
				if err != nil {
					t.Fatal(err)
				}
				held = append(held, c)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			err := port.call(ctx)
			cancel()
			if err == nil {
				t.Fatalf("a call was served with %d connections already held open", maxAPIConnections)
			}
			// (Some of them wait in the kernel's backlog, behind the call:
			// the test's own connections hold slots too.)
			for _, c := range held {
				c.Close()
			}
			held = nil
			ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := port.call(ctx); err != nil {
				t.Fatalf("once a held connection closed: %v", err)
			}
		})
	}
}
