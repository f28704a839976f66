package paywall

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
)

func TestParseAuth(t *testing.T) {
	for _, tc := range []struct {
		in     string
		ours   bool
		params map[string]string
		bad    bool
	}{
		// A receipt credential.
		{`TinyPay receipt="abc-_"`, true, map[string]string{"receipt": "abc-_"}, false},
		// The scheme name is case-insensitive, parameter names too.
		{`tinypay Receipt="x"`, true, map[string]string{"receipt": "x"}, false},
		// A challenge with several parameters, quoted and not.
		{`TinyPay offer="o", peer="h:1" , rate=5`, true, map[string]string{"offer": "o", "peer": "h:1", "rate": "5"}, false},
		// Escapes inside quotes.
		{`TinyPay item="a\"b\\c"`, true, map[string]string{"item": `a"b\c`}, false},
		// No parameters.
		{`TinyPay`, true, map[string]string{}, false},
		// Other schemes are not ours.
		{`Bearer abc`, false, nil, false},
		{`L402 mac:pre`, false, nil, false},
		{``, false, nil, false},
		// Malformed: unterminated quote, no value, no comma between.
		{`TinyPay receipt="abc`, true, nil, true},
		{`TinyPay receipt`, true, nil, true},
		{`TinyPay a="1" b="2"`, true, nil, true},
		{`TinyPay ="1"`, true, nil, true},
		{`TinyPay ` + strings.Repeat("a", maxCredentialLen), true, nil, true},
	} {
		params, ours, err := ParseAuth(tc.in)
		if ours != tc.ours || (err != nil) != tc.bad {
			t.Errorf("%q: ours %v err %v", tc.in, ours, err)
			continue
		}
		if tc.bad {
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("%q: %v is not ErrMalformed", tc.in, err)
			}
			continue
		}
		if fmt.Sprint(params) != fmt.Sprint(tc.params) {
			t.Errorf("%q: %v, want %v", tc.in, params, tc.params)
		}
	}
}

func TestFormatAuthRoundTrip(t *testing.T) {
	in := []string{"offer", "AbC-_09", "item", `GET /a"b\c`, "peer", "127.0.0.1:9745"}
	params, ours, err := ParseAuth(FormatAuth(in...))
	if !ours || err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(in); i += 2 {
		if params[in[i]] != in[i+1] {
			t.Fatalf("%s = %q, want %q", in[i], params[in[i]], in[i+1])
		}
	}
}

func TestItems(t *testing.T) {
	for _, tc := range []struct{ method, path, want string }{
		// Method and path.
		{"GET", "/articles/7", "GET /articles/7"},
		// The escaped path, as the request had it.
		{"POST", "/a%20b", "POST /a%20b"},
	} {
		if got := RequestItem(tc.method, tc.path); got != tc.want {
			t.Errorf("%s %s: %q", tc.method, tc.path, got)
		}
	}
	long := "/" + strings.Repeat("é", 300)
	a, b := RequestItem("GET", long), RequestItem("GET", long+"x")
	if len(a) > maxItemLen || !utf8.ValidString(a) || a == b || !strings.Contains(a, " sha256:") {
		t.Fatalf("long item %q", a)
	}
	if StreamItem("/live") != "/live" {
		t.Fatal(StreamItem("/live"))
	}
}

func TestReceiptEncoding(t *testing.T) {
	r := &apiv1.Receipt{ChainId: 1337, Payee: "0xabc", Amount: "10", ItemId: "GET /x", Signature: "0x01"}
	enc, err := EncodeReceipt(r)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(enc, "+/=") {
		t.Fatalf("%q is not unpadded base64url", enc)
	}
	got, err := DecodeReceipt(enc)
	if err != nil || !proto.Equal(got, r) {
		t.Fatalf("%v %v", got, err)
	}
	// The bare form, without the kind prefix, is read too; another kind's is not.
	if got, err := DecodeReceipt(strings.TrimPrefix(enc, "tpr1.")); err != nil || !proto.Equal(got, r) {
		t.Fatalf("bare form: %v %v", got, err)
	}
	for _, bad := range []string{"tpo1." + strings.TrimPrefix(enc, "tpr1."), "!!", base64.RawURLEncoding.EncodeToString([]byte{0xff, 0xff, 0xff}), strings.Repeat("A", maxCredentialLen+1)} {
		if _, err := DecodeReceipt(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%.20q: %v", bad, err)
		}
	}
}

func TestReason(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{ErrPaymentRequired, ""},
		{fmt.Errorf("x: %w", ErrOfferUsed), "offer_used"},
		// A stop names why it stopped.
		{fmt.Errorf("%w: %w", ErrPaymentStopped, ErrStreamEnded), "stream_ended"},
		{ErrPaymentStopped, "payments_stopped"},
		{errors.New("node down"), ""},
	} {
		if got := Reason(tc.err); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestTinypayTerms(t *testing.T) {
	good := `{"x402Version":2,"resource":{"url":"u"},"accepts":[` +
		`{"scheme":"exact","network":"eip155:8453","amount":"1","asset":"0x1","payTo":"0x2","maxTimeoutSeconds":60},` +
		`{"scheme":"tinypay-offer","network":"eip155:1337","amount":"5","asset":"0x1","payTo":"0xAA","maxTimeoutSeconds":60,` +
		`"extra":{"version":1,"payee":"0xaa","chainId":1337,"item":"GET /x","price":"5","offer":"o","header":"Authorization","pay":"p","peerAddr":"","adjudicator":"0x3","asset":{"address":"0x1","symbol":"USD","decimals":6}}}]}`
	pr, err := readPaymentRequired(http.Header{}, []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	req, terms, err := tinypayTerms(pr)
	if err != nil || req.Scheme != SchemeOffer || terms.Price != "5" {
		t.Fatalf("%v %v %v", req, terms, err)
	}
	// The header wins over the body.
	h := http.Header{}
	h.Set(HeaderPaymentRequired, base64.StdEncoding.EncodeToString([]byte(good)))
	if pr, err := readPaymentRequired(h, []byte("not json")); err != nil || len(pr.Accepts) != 2 {
		t.Fatalf("%v %v", pr, err)
	}
	for name, body := range map[string]string{
		// Only schemes we do not know: not ours, no error.
		"x402 only": `{"x402Version":2,"accepts":[{"scheme":"exact","network":"eip155:8453"}]}`,
		// Terms whose network disagrees with their chain.
		"network": strings.Replace(good, `"eip155:1337"`, `"eip155:1"`, 1),
		// Terms of a version we do not speak.
		"version": strings.Replace(good, `"version":1`, `"version":2`, 1),
	} {
		pr, err := readPaymentRequired(http.Header{}, []byte(body))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		_, _, err = tinypayTerms(pr)
		if name == "x402 only" {
			if !errors.Is(err, errNoTerms) {
				t.Errorf("%s: %v", name, err)
			}
		} else if !errors.Is(err, ErrBadTerms) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzParseAuth(f *testing.F) {
	for _, s := range []string{`TinyPay receipt="abc"`, `TinyPay a=1, b="2\"", c="`, `Bearer x`, `TinyPay`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		params, ours, err := ParseAuth(s)
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("%v is not ErrMalformed", err)
		}
		if !ours && (params != nil || err != nil) {
			t.Fatal("another scheme parsed")
		}
		if ours && err == nil {
			// What we write, we read back.
			var kv []string
			for k, v := range params {
				kv = append(kv, k, v)
			}
			again, ok, err := ParseAuth(FormatAuth(kv...))
			if len(FormatAuth(kv...)) <= maxCredentialLen && (!ok || err != nil || fmt.Sprint(again) != fmt.Sprint(params)) {
				t.Fatalf("%q: round trip %v %v", s, again, err)
			}
		}
	})
}

func FuzzDecodeReceipt(f *testing.F) {
	enc, _ := EncodeReceipt(&apiv1.Receipt{ChainId: 1, Amount: "1", Signature: "0x00"})
	f.Add(enc)
	f.Add("")
	f.Add("!!")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := DecodeReceipt(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("%v is not ErrMalformed", err)
			}
			return
		}
		// Whatever decodes is checked without panicking.
		_, _ = (&payee{}).checkReceipt(r)
	})
}

func FuzzReadPaymentRequired(f *testing.F) {
	f.Add([]byte(`{"x402Version":2,"accepts":[{"scheme":"tinypay-offer","extra":{"version":1}}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		pr, err := readPaymentRequired(http.Header{}, b)
		if err != nil {
			return
		}
		_, _, err = tinypayTerms(pr)
		if err != nil && !errors.Is(err, ErrBadTerms) && !errors.Is(err, errNoTerms) {
			t.Fatal(err)
		}
	})
}
