package daemon

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tinypay/tinypay/cmd/tinypay/cli"
	"github.com/tinypay/tinypay/node/nodetest"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/paywall"
)

// The publisher's small site: three articles, a premium one, and a song
// that plays live (a WAV file sent as it plays, until the listener goes).
func newsSite(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	page := func(title, body string) string {
		return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>` + title + `</title></head><body>` +
			`<article id="article"><h1>` + title + `</h1><p>` + body + `</p></article></body></html>`
	}
	mux.HandleFunc("/articles/{n}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page("Article "+r.PathValue("n"), "The news of the day, number "+r.PathValue("n")+"."))
	})
	mux.HandleFunc("/premium/{n}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page("Premium "+r.PathValue("n"), "The long read."))
	})
	mux.HandleFunc("/songs/{n}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		const rate = 44100
		w.Write(wavHeader(rate))
		chunk := make([]byte, rate/5) // 0.1 s of 16-bit mono
		for i := 0; ; i++ {
			for j := 0; j < len(chunk)/2; j++ { // a quiet 440 Hz tone
				v := int16(2000 * math.Sin(2*math.Pi*440*float64(i*len(chunk)/2+j)/rate))
				binary.LittleEndian.PutUint16(chunk[2*j:], uint16(v))
			}
			if _, err := w.Write(chunk); err != nil {
				return
			}
			http.NewResponseController(w).Flush()
			if i < 20 {
				continue // two seconds at once, so that playing starts soon
			}
			select {
			case <-r.Context().Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page("The News", `<a href="/articles/1">Article 1</a>`))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// wavHeader starts a 16-bit mono WAV of unknown length (a live stream).
func wavHeader(rate int) []byte {
	b := make([]byte, 44)
	copy(b[0:], "RIFF")
	binary.LittleEndian.PutUint32(b[4:], 0xFFFFFFFF-8)
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1) // PCM
	binary.LittleEndian.PutUint16(b[22:], 1) // mono
	binary.LittleEndian.PutUint32(b[24:], uint32(rate))
	binary.LittleEndian.PutUint32(b[28:], uint32(rate*2))
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], 0xFFFFFFFF-44)
	return b
}

// Prices of the site's paywall.
const (
	articlePrice = "10000"  // 0.01 USD per article
	premiumPrice = "500000" // 0.5 USD
	songRate     = "500"    // 0.0005 USD per second
)

// startPaywall runs `tinypay paywall` for the publisher in front of
// upstream, as a publisher would (articles at 0.01 USD, premium ones at
// 0.5 USD, songs at 0.0005 USD per second, paid pages readable for an
// hour), and returns its address.
func startPaywall(t *testing.T, publisher *daemonProc, upstream string) string {
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out nodetest.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, []string{"tinypay", "--datadir", publisher.dir, "paywall", "--upstream", upstream, "--listen", addr,
			"--price", "0.01 USD", "--path", "/articles", "--route", "/premium=0.5 USD", "--route", "/songs=0.0005 USD/s", "--paid-for", "1h"}, &out, &out)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		select {
		case code := <-done:
			t.Fatalf("tinypay paywall exited (%d):\n%s", code, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the paywall did not start:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// browserBase is the browser endpoint of a daemon run with
// --browser-listen.
func browserBase(t *testing.T, p *daemonProc) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.dir, browserAddrFile))
	if err != nil {
		t.Fatalf("no %s: %v", browserAddrFile, err)
	}
	return "http://" + strings.TrimSpace(string(b))
}

// reply is an answer of the browser endpoint.
type reply struct {
	code int
	hdr  http.Header
	body map[string]any
}

func (r reply) str(k string) string { s, _ := r.body[k].(string); return s }

// endpoint sends method path with body (JSON unless it is a string) and
// headers (name, value, ...) to the browser endpoint, with jar's cookies.
func endpoint(t *testing.T, client *http.Client, base, method, path string, body any, hdr ...string) reply {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := reply{code: resp.StatusCode, hdr: resp.Header, body: map[string]any{}}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

// required fetches a 402's terms from the paywall, as the page's script
// reads them.
func required(t *testing.T, pw, path string) *paywall.PaymentRequired {
	t.Helper()
	resp, err := http.Get("http://" + pw + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusPaymentRequired {
		t.Fatalf("GET %s: %d, want 402", path, resp.StatusCode)
	}
	raw, err := base64.StdEncoding.DecodeString(resp.Header.Get(paywall.HeaderPaymentRequired))
	if err != nil {
		t.Fatal(err)
	}
	var pr paywall.PaymentRequired
	if err := json.Unmarshal(raw, &pr); err != nil {
		t.Fatal(err)
	}
	return &pr
}

// sentTo is what a node has paid in its channels with peer, and how many
// streams to it are live, as its API says.
func sentTo(t *testing.T, p *daemonProc, peer string) string {
	t.Helper()
	r, err := p.api.ListChannels(context.Background(), &apiv1.ListChannelsRequest{Peer: peer, All: true})
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, c := range r.GetChannels() {
		parts = append(parts, c.GetId()+"="+c.GetSent())
	}
	return strings.Join(parts, ",")
}

// siteToken is the node's approval of origin (nil if none).
func siteToken(t *testing.T, p *daemonProc, origin string) *apiv1.AppToken {
	t.Helper()
	r, err := p.api.ListTokens(context.Background(), &apiv1.ListTokensRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var out *apiv1.AppToken
	for _, tok := range r.GetTokens() {
		if tok.GetPolicy().GetOrigin() == origin {
			out = tok
		}
	}
	return out
}

func newJarClient(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 60 * time.Second}
}
