package paywall_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holiman/uint256"
	"google.golang.org/protobuf/proto"

	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node/nodetest"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc"
	"github.com/tinypay/tinypay/rpc/apiutil"
	"github.com/tinypay/tinypay/rpc/paywall"
	"github.com/tinypay/tinypay/settlement/evm/evmtest"
)

const price = 1000 // 0.001 USD

// world is a creator's node behind a paywall in front of a real upstream,
// and a client's node with a USD channel to the creator.
type world struct {
	t               *testing.T
	chain           *evmtest.Chain
	creator, client *nodetest.Node
	upstream        *httptest.Server
	hits            atomic.Int64 // requests the upstream served
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, chain: nodetest.NewChain(t)}
	w.creator = nodetest.Start(t, w.chain, "creator", w.chain.Bob)
	w.client = nodetest.Start(t, w.chain, "client", w.chain.Alice)
	w.client.OpenUSD(w.creator, 5_000_000)
	mux := http.NewServeMux()
	mux.HandleFunc("/article", func(rw http.ResponseWriter, r *http.Request) {
		w.hits.Add(1)
		if r.Header.Get("Authorization") != "" || r.Header.Get(paywall.HeaderReceipt) != "" {
			http.Error(rw, "payment headers leaked upstream", http.StatusTeapot)
			return
		}
		fmt.Fprint(rw, "the paid article\n")
	})
	mux.HandleFunc("/other", func(rw http.ResponseWriter, r *http.Request) { w.hits.Add(1); fmt.Fprint(rw, "other\n") })
	mux.HandleFunc("/free", func(rw http.ResponseWriter, r *http.Request) { fmt.Fprint(rw, "free\n") })
	// /live writes a line every 20 ms until the client goes away.
	mux.HandleFunc("/live", func(rw http.ResponseWriter, r *http.Request) {
		w.hits.Add(1)
		if r.Header.Get(paywall.HeaderStream) != "" {
			http.Error(rw, "payment headers leaked upstream", http.StatusTeapot)
			return
		}
		for i := 0; ; i++ {
			if _, err := fmt.Fprintf(rw, "line %d\n", i); err != nil {
				return
			}
			http.NewResponseController(rw).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	w.upstream = httptest.NewServer(mux)
	t.Cleanup(w.upstream.Close)
	return w
}

// paywall starts a paywall for the creator in front of the upstream.
func (w *world) paywall(adjust func(*paywall.Config)) *httptest.Server {
	w.t.Helper()
	cfg := paywall.DefaultConfig()
	cfg.Asset = "USD"
	cfg.Price = *uint256.NewInt(price)
	adjust(&cfg)
	u, _ := url.Parse(w.upstream.URL)
	pw, err := paywall.NewProxy(context.Background(), cfg, w.creator.API(), u)
	if err != nil {
		w.t.Fatal(err)
	}
	srv := httptest.NewServer(pw)
	w.t.Cleanup(srv.Close)
	return srv
}

// transport returns an HTTP client paying with the client's node, and the
// payments it reports.
func (w *world) transport(adjust func(*paywall.TransportConfig)) (*http.Client, *paidLog) {
	w.t.Helper()
	log := &paidLog{}
	cfg := paywall.DefaultTransportConfig()
	cfg.Asset = "USD"
	cfg.OnPaid = log.add
	adjust(&cfg)
	tr, err := paywall.NewTransport(cfg, w.client.API())
	if err != nil {
		w.t.Fatal(err)
	}
	return &http.Client{Transport: tr}, log
}

type paidLog struct {
	mu   sync.Mutex
	paid []paywall.Paid
}

func (l *paidLog) add(p paywall.Paid) { l.mu.Lock(); l.paid = append(l.paid, p); l.mu.Unlock() }

func (l *paidLog) all() []paywall.Paid {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]paywall.Paid(nil), l.paid...)
}

// get sends a GET with extra headers and returns the status, headers and
// body.
func get(t *testing.T, u string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// terms decodes a 402 and checks that the header and the body agree.
func terms(t *testing.T, h http.Header, body string) (*paywall.PaymentRequired, *paywall.Requirements, *paywall.Terms) {
	t.Helper()
	var pr paywall.PaymentRequired
	if err := json.Unmarshal([]byte(body), &pr); err != nil {
		t.Fatalf("402 body: %v\n%s", err, body)
	}
	raw, err := base64.StdEncoding.DecodeString(h.Get(paywall.HeaderPaymentRequired))
	if err != nil || strings.TrimSpace(string(raw)) != strings.TrimSpace(body) {
		t.Fatalf("Payment-Required header %q disagrees with the body (%v)", raw, err)
	}
	if pr.X402Version != 2 || len(pr.Accepts) != 1 {
		t.Fatalf("402 envelope %+v", pr)
	}
	var tm paywall.Terms
	if err := json.Unmarshal(pr.Accepts[0].Extra, &tm); err != nil {
		t.Fatal(err)
	}
	return &pr, &pr.Accepts[0], &tm
}

// payOffer pays the offer of a fresh 402 for path with the client's node
// (not through the Transport) and returns the receipt.
func (w *world) payOffer(srv *httptest.Server, path string) *apiv1.Receipt {
	t := w.t
	t.Helper()
	code, h, body := get(t, srv.URL+path)
	if code != http.StatusPaymentRequired {
		t.Fatalf("GET %s: %d", path, code)
	}
	_, _, tm := terms(t, h, body)
	offer, err := paywall.DecodeOffer(tm.Offer)
	if err != nil {
		t.Fatal(err)
	}
	p, err := w.client.API().Pay(context.Background(), &apiv1.PayRequest{Offer: offer})
	if err != nil {
		t.Fatal(err)
	}
	return p.GetReceipt()
}

func credential(t *testing.T, r *apiv1.Receipt) string {
	t.Helper()
	enc, err := paywall.EncodeReceipt(r)
	if err != nil {
		t.Fatal(err)
	}
	return paywall.FormatAuth("receipt", enc)
}

// refused checks that a request with hdr is refused with reason, never
// reaching the upstream.
func (w *world) refused(srv *httptest.Server, path, reason string, hdr ...string) {
	t := w.t
	t.Helper()
	before := w.hits.Load()
	code, h, body := get(t, srv.URL+path, hdr...)
	if code != http.StatusPaymentRequired {
		t.Fatalf("GET %s: %d %s, want 402 %s", path, code, body, reason)
	}
	pr, _, tm := terms(t, h, body)
	if tm.Refused != reason {
		t.Fatalf("refused %q (%s), want %q", tm.Refused, pr.Error, reason)
	}
	if w.hits.Load() != before {
		t.Fatal("a refused request reached the upstream")
	}
}

func TestPerRequest(t *testing.T) {
	w := newWorld(t)
	srv := w.paywall(func(c *paywall.Config) { c.Paths = []string{"/article", "/other"} })
	creatorAddr := w.creator.Key.Address().Hex()
	ctx := context.Background()

	t.Run("unpaid requests get a 402 with a verifiable offer", func(t *testing.T) {
		code, h, body := get(t, srv.URL+"/article")
		if code != http.StatusPaymentRequired {
			t.Fatalf("status %d", code)
		}
		pr, req, tm := terms(t, h, body)
		if req.Scheme != paywall.SchemeOffer || req.Network != "eip155:1337" || req.Amount != "1000" ||
			req.PayTo != creatorAddr || !strings.EqualFold(req.Asset, w.creator.USD.Hex()) || req.MaxTimeoutSeconds <= 0 {
			t.Fatalf("requirements %+v", req)
		}
		if tm.Payee != creatorAddr || tm.ChainID != evmtest.ChainID || !strings.EqualFold(tm.Adjudicator, crypto.Address(w.chain.Adjudicator).Hex()) ||
			tm.Asset.Symbol != "USD" || tm.Asset.Decimals != 6 || tm.PeerAddr != w.creator.Addr || tm.Item != "GET /article" ||
			tm.Price != "1000" || tm.Header != "Authorization" || tm.Pay == "" || tm.Refused != "" {
			t.Fatalf("terms %+v", tm)
		}
		if pr.Error != paywall.ErrPaymentRequired.Error() || pr.Resource.URL != srv.URL+"/article" {
			t.Fatalf("envelope %+v", pr)
		}
		// The offer in the body and in WWW-Authenticate is the same and
		// verifies offline as the creator's.
		params, ok, err := paywall.ParseAuth(h.Get("WWW-Authenticate"))
		if !ok || err != nil || params["offer"] != tm.Offer || params["peer"] != w.creator.Addr {
			t.Fatalf("WWW-Authenticate %q: %v %v", h.Get("WWW-Authenticate"), params, err)
		}
		m, err := paywall.DecodeOffer(tm.Offer)
		if err != nil {
			t.Fatal(err)
		}
		o, err := rpc.ParseOffer(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := o.Verify(evmtest.ChainID, crypto.Address(w.chain.Adjudicator)); err != nil {
			t.Fatalf("offer does not verify: %v", err)
		}
		if o.Payee != w.creator.Key.Address() || o.ItemID != "GET /article" || o.Price.Uint64() != price || m.GetOfferId() != tm.OfferID ||
			time.Until(time.Unix(int64(o.Expiry), 0)) < 4*time.Minute {
			t.Fatalf("offer %+v", o)
		}
		if w.hits.Load() != 0 {
			t.Fatal("an unpaid request reached the upstream")
		}
	})

	t.Run("free paths pass", func(t *testing.T) {
		if code, _, body := get(t, srv.URL+"/free"); code != http.StatusOK || body != "free\n" {
			t.Fatalf("/free: %d %q", code, body)
		}
		// A path that an upstream would clean into a paid one is paid.
		for _, p := range []string{"/free/../article", "//article", "/free/%2e%2e/article"} {
			if code, _, _ := get(t, srv.URL+p); code != http.StatusPaymentRequired {
				t.Errorf("%s: %d, want 402", p, code)
			}
		}
	})

	hc, log := w.transport(func(c *paywall.TransportConfig) { c.MaxPrice = *uint256.NewInt(10_000) })
	var receipt *apiv1.Receipt
	t.Run("the transport pays and gets the upstream's response", func(t *testing.T) {
		resp, err := hc.Get(srv.URL + "/article")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(b) != "the paid article\n" {
			t.Fatalf("%d %q", resp.StatusCode, b)
		}
		paid := log.all()
		if len(paid) != 1 || paid[0].Scheme != paywall.SchemeOffer || paid[0].Amount != "1000" || paid[0].Payment.GetReceipt() == nil ||
			paid[0].Asset.GetSymbol() != "USD" || paid[0].Item != "GET /article" {
			t.Fatalf("paid %+v", paid)
		}
		receipt = paid[0].Payment.GetReceipt()
		if err := apiutil.VerifyReceipt(receipt); err != nil {
			t.Fatal(err)
		}
		var settle paywall.SettlementResponse
		raw, _ := base64.StdEncoding.DecodeString(resp.Header.Get(paywall.HeaderPaymentResponse))
		if err := json.Unmarshal(raw, &settle); err != nil || !settle.Success || settle.Extra["paymentId"] != receipt.GetPaymentId() ||
			settle.Payer != w.client.Key.Address().Hex() || settle.Network != "eip155:1337" {
			t.Fatalf("Payment-Response %s: %v", raw, err)
		}
		// The creator's node has the payment, for the offer and the item.
		ps, err := w.creator.API().ListPayments(ctx, &apiv1.ListPaymentsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var found bool
		for _, p := range ps.GetPayments() {
			found = found || (p.GetDirection() == "incoming" && p.GetOfferId() == receipt.GetOfferId() && p.GetAmount() == "1000" &&
				p.GetItemId() == "GET /article" && p.GetStatus() == "complete")
		}
		if !found {
			t.Fatalf("the creator's node does not show the payment: %v", ps.GetPayments())
		}
	})

	t.Run("a replayed receipt is refused", func(t *testing.T) {
		w.refused(srv, "/article", "offer_used", "Authorization", credential(t, receipt))
		w.refused(srv, "/article", "offer_used", paywall.HeaderReceipt, strings.TrimPrefix(strings.TrimSuffix(credential(t, receipt), `"`), `TinyPay receipt="`))
	})

	t.Run("a receipt for another item is refused", func(t *testing.T) {
		other := w.payOffer(srv, "/other")
		w.refused(srv, "/article", "wrong_item", "Authorization", credential(t, other))
	})

	t.Run("a receipt for a cheaper offer the paywall did not issue is refused", func(t *testing.T) {
		offer, err := w.creator.API().CreateOffer(ctx, &apiv1.CreateOfferRequest{ItemId: "GET /article", Asset: "USD", Price: "1", TtlSeconds: 60})
		if err != nil {
			t.Fatal(err)
		}
		p, err := w.client.API().Pay(ctx, &apiv1.PayRequest{Offer: offer})
		if err != nil {
			t.Fatal(err)
		}
		w.refused(srv, "/article", "unknown_offer", "Authorization", credential(t, p.GetReceipt()))
	})

	t.Run("an altered receipt is refused, the original then accepted", func(t *testing.T) {
		fresh := w.payOffer(srv, "/article")
		for name, alter := range map[string]func(r *apiv1.Receipt){
			"amount":  func(r *apiv1.Receipt) { r.Amount = "1000000" },
			"item":    func(r *apiv1.Receipt) { r.ItemId = "GET /other" },
			"payer":   func(r *apiv1.Receipt) { r.Payer = w.creator.Key.Address().Hex() },
			"offer":   func(r *apiv1.Receipt) { r.OfferId = receipt.GetOfferId() },
			"garbled": func(r *apiv1.Receipt) { r.Signature = "0x1234" },
		} {
			forged := proto.Clone(fresh).(*apiv1.Receipt)
			alter(forged)
			t.Run(name, func(t *testing.T) {
				w.refused(srv, "/article", "bad_signature", "Authorization", credential(t, forged))
			})
		}
		if code, _, body := get(t, srv.URL+"/article", "Authorization", credential(t, fresh)); code != http.StatusOK || body != "the paid article\n" {
			t.Fatalf("the unaltered receipt: %d %q", code, body)
		}
	})

	t.Run("a receipt from another payee is refused", func(t *testing.T) {
		mallory := nodetest.Start(t, w.chain, "mallory", w.chain.Mallory)
		w.client.OpenUSD(mallory, 1_000_000)
		offer, err := mallory.API().CreateOffer(ctx, &apiv1.CreateOfferRequest{ItemId: "GET /article", Asset: "USD", Price: "1000", TtlSeconds: 60})
		if err != nil {
			t.Fatal(err)
		}
		p, err := w.client.API().Pay(ctx, &apiv1.PayRequest{Offer: offer})
		if err != nil {
			t.Fatal(err)
		}
		w.refused(srv, "/article", "wrong_payee", "Authorization", credential(t, p.GetReceipt()))
	})

	t.Run("malformed credentials are refused", func(t *testing.T) {
		w.refused(srv, "/article", "malformed", "Authorization", `TinyPay receipt="!!!"`)
		w.refused(srv, "/article", "malformed", "Authorization", `TinyPay receipt="abc`)
		w.refused(srv, "/article", "malformed", paywall.HeaderPaymentSignature, "not base64 at all")
		w.refused(srv, "/article", "", "Authorization", "Bearer something-for-the-upstream")
	})

	t.Run("an x402 Payment-Signature carrying a receipt is accepted", func(t *testing.T) {
		fresh := w.payOffer(srv, "/article")
		enc, _ := paywall.EncodeReceipt(fresh)
		payload, _ := json.Marshal(map[string]string{"receipt": enc})
		pp, _ := json.Marshal(paywall.PaymentPayload{X402Version: 2, Accepted: paywall.Requirements{Scheme: paywall.SchemeOffer}, Payload: payload})
		code, _, body := get(t, srv.URL+"/article", paywall.HeaderPaymentSignature, base64.StdEncoding.EncodeToString(pp))
		if code != http.StatusOK || body != "the paid article\n" {
			t.Fatalf("%d %q", code, body)
		}
	})

	t.Run("the transport refuses a price above its limit", func(t *testing.T) {
		before := len(w.payments(w.creator))
		cheap, log := w.transport(func(c *paywall.TransportConfig) { c.MaxPrice = *uint256.NewInt(price - 1) })
		_, err := cheap.Get(srv.URL + "/article")
		if !errors.Is(err, paywall.ErrOverLimit) {
			t.Fatalf("err %v, want ErrOverLimit", err)
		}
		if len(log.all()) != 0 || len(w.payments(w.creator)) != before {
			t.Fatal("the transport paid above its limit")
		}
		other, _ := w.transport(func(c *paywall.TransportConfig) { c.Asset = "ETH"; c.MaxPrice = *uint256.NewInt(1 << 60) })
		if _, err := other.Get(srv.URL + "/article"); !errors.Is(err, paywall.ErrWrongAsset) {
			t.Fatalf("limits in ETH: %v, want ErrWrongAsset", err)
		}
	})

	t.Run("the transport does not pay for a body it cannot send again", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/article", io.NopCloser(strings.NewReader("x")))
		if _, err := hc.Do(req); !errors.Is(err, paywall.ErrNotReplayable) {
			t.Fatalf("err %v, want ErrNotReplayable", err)
		}
		// An in-memory body can be sent again: the POST is its own item.
		req, _ = http.NewRequest(http.MethodPost, srv.URL+"/other", strings.NewReader("x"))
		resp, err := hc.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("POST: %v %v", resp, err)
		}
		resp.Body.Close()
	})
}

// payments lists a node's payments.
func (w *world) payments(n *nodetest.Node) []*apiv1.Payment {
	ps, err := n.API().ListPayments(context.Background(), &apiv1.ListPaymentsRequest{})
	if err != nil {
		w.t.Fatal(err)
	}
	return ps.GetPayments()
}

// lines reads a body line by line in the background.
type lines struct {
	n    atomic.Int64
	done chan error
}

func readLines(body io.Reader) *lines {
	l := &lines{done: make(chan error, 1)}
	go func() {
		r := bufio.NewReader(body)
		for {
			if _, err := r.ReadString('\n'); err != nil {
				l.done <- err
				return
			}
			l.n.Add(1)
		}
	}()
	return l
}

// flows checks that the body keeps coming while paid: as many more lines
// as d would hold at one per 40 ms, without the response ending. It does
// not time them (a loaded machine is slower): only a body that ends, or
// stops for a long while, fails.
func (l *lines) flows(t *testing.T, d time.Duration) {
	t.Helper()
	want := l.n.Load() + int64(d/(40*time.Millisecond))
	deadline := time.After(d + 30*time.Second)
	for l.n.Load() < want {
		select {
		case err := <-l.done:
			t.Fatalf("the response ended while paid, after %d lines: %v", l.n.Load(), err)
		case <-deadline:
			t.Fatalf("the body stopped coming while paid: %d lines, want %d", l.n.Load(), want)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// cut checks that the body is cut, not completed, within d.
func (l *lines) cut(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case err := <-l.done:
		if err == nil || errors.Is(err, io.EOF) {
			t.Fatalf("the response ended cleanly (%v); it should be cut", err)
		}
	case <-time.After(d):
		t.Fatalf("the response still flows %s after the payments stopped", d)
	}
}

func (w *world) outgoingStream() *apiv1.Stream {
	w.t.Helper()
	ss, err := w.client.API().ListStreams(context.Background(), &apiv1.ListStreamsRequest{})
	if err != nil {
		w.t.Fatal(err)
	}
	for _, s := range ss.GetStreams() {
		if s.GetDirection() == "outgoing" && s.GetStatus() != "ended" {
			return s
		}
	}
	w.t.Fatal("no outgoing stream")
	return nil
}

func TestPerSecond(t *testing.T) {
	w := newWorld(t)
	srv := w.paywall(func(c *paywall.Config) {
		c.Price, c.Rate = uint256.Int{}, *uint256.NewInt(1000) // 0.001 USD per second
		c.Tick, c.StreamWait = 500*time.Millisecond, time.Second
	})
	ctx := context.Background()
	creator := w.creator.Key.Address().Hex()

	t.Run("unpaid requests get a 402 asking for a stream", func(t *testing.T) {
		code, h, body := get(t, srv.URL+"/live")
		if code != http.StatusPaymentRequired {
			t.Fatalf("status %d", code)
		}
		_, req, tm := terms(t, h, body)
		if req.Scheme != paywall.SchemeStream || req.Amount != "1000" || tm.Rate != "1000" || tm.TickMs != 500 ||
			tm.Item != "/live" || tm.Header != paywall.HeaderStream || tm.Offer != "" {
			t.Fatalf("%+v %+v", req, tm)
		}
		params, ok, err := paywall.ParseAuth(h.Get("WWW-Authenticate"))
		if !ok || err != nil || params["rate"] != "1000" || params["item"] != "/live" || params["payee"] != creator {
			t.Fatalf("WWW-Authenticate %v %v", params, err)
		}
	})

	t.Run("streams that do not pay for this response are refused", func(t *testing.T) {
		start := func(rate, item string) string {
			st, err := w.client.API().StartStream(ctx, &apiv1.StartStreamRequest{Peer: creator, Asset: "USD", Rate: rate, TickMs: 100, ItemId: item})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { w.client.API().StopStream(ctx, &apiv1.StopStreamRequest{StreamId: st.GetId()}) })
			return st.GetId()
		}
		w.refused(srv, "/live", "unknown_stream", paywall.HeaderStream, "0x"+strings.Repeat("ab", 16))
		w.refused(srv, "/live", "malformed", paywall.HeaderStream, "stream-1")
		w.refused(srv, "/live", "underpaid", paywall.HeaderStream, start("999", "/live"))
		w.refused(srv, "/live", "wrong_item", paywall.HeaderStream, start("1000", "/other"))
		ended := start("1000", "/live")
		if _, err := w.client.API().StopStream(ctx, &apiv1.StopStreamRequest{StreamId: ended}); err != nil {
			t.Fatal(err)
		}
		nodetest.Eventually(t, "the creator sees the stream end", func() bool {
			s, err := w.creator.API().GetStream(ctx, &apiv1.GetStreamRequest{StreamId: ended})
			return err == nil && s.GetStatus() == "ended"
		})
		w.refused(srv, "/live", "stream_ended", paywall.HeaderStream, ended)
	})

	t.Run("the transport refuses a rate above its limit", func(t *testing.T) {
		hc, _ := w.transport(func(c *paywall.TransportConfig) { c.MaxRate = *uint256.NewInt(999) })
		if _, err := hc.Get(srv.URL + "/live"); !errors.Is(err, paywall.ErrOverLimit) {
			t.Fatalf("err %v, want ErrOverLimit", err)
		}
	})

	hc, log := w.transport(func(c *paywall.TransportConfig) {
		c.MaxRate, c.StreamTick = *uint256.NewInt(2000), 200*time.Millisecond
	})
	t.Run("the response flows while paid and is cut when the payer stops", func(t *testing.T) {
		resp, err := hc.Get(srv.URL + "/live")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		l := readLines(resp.Body)
		l.flows(t, 1200*time.Millisecond)
		st := w.outgoingStream()
		// The stream pays for this response only.
		w.refused(srv, "/live", "stream_in_use", paywall.HeaderStream, st.GetId())
		l.flows(t, 300*time.Millisecond)
		if _, err := w.client.API().StopStream(ctx, &apiv1.StopStreamRequest{StreamId: st.GetId()}); err != nil {
			t.Fatal(err)
		}
		l.cut(t, 3*time.Second)
		nodetest.Eventually(t, "the transport reports the stream", func() bool { return len(log.all()) == 1 })
		p := log.all()[0]
		// It paid whole ticks (200 at 1000 a second every 200 ms), at least
		// the prepaid first one; how many depends on the machine's speed.
		if paid, _ := uint256.FromDecimal(p.Amount); p.Scheme != paywall.SchemeStream || p.Stream.GetId() != st.GetId() || paid == nil || paid.Uint64() < 200 || paid.Uint64()%200 != 0 {
			t.Fatalf("paid %+v", p)
		}
		// The creator counts exactly what the transport reports paid.
		nodetest.Eventually(t, "the creator counts what was paid", func() bool {
			in, err := w.creator.API().GetStream(ctx, &apiv1.GetStreamRequest{StreamId: st.GetId()})
			return err == nil && in.GetPaid() == p.Amount && in.GetItemId() == "/live"
		})
	})

	t.Run("the transport stops its stream when the body is closed", func(t *testing.T) {
		resp, err := hc.Get(srv.URL + "/live")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%v %v", resp, err)
		}
		l := readLines(resp.Body)
		l.flows(t, 300*time.Millisecond)
		id := w.outgoingStream().GetId()
		resp.Body.Close()
		nodetest.Eventually(t, "the stream ends", func() bool {
			s, err := w.client.API().GetStream(ctx, &apiv1.GetStreamRequest{StreamId: id})
			return err == nil && s.GetStatus() == "ended"
		})
	})

	t.Run("the response is cut when the payer's node stops", func(t *testing.T) {
		resp, err := hc.Get(srv.URL + "/live")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%v %v", resp, err)
		}
		defer resp.Body.Close()
		l := readLines(resp.Body)
		l.flows(t, 500*time.Millisecond)
		w.client.Stop()
		l.cut(t, 5*time.Second)
	})
}
