package dashboard

import (
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/holiman/uint256"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/tinypay/tinypay/crypto"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/apiutil"
)

// TestBackupNeedsBearer: GET /v1/backup (which may hold the node's key)
// is refused to a session cookie however the path is spelled, reaches
// nothing behind the dashboard, and passes with a Bearer header.
func TestBackupNeedsBearer(t *testing.T) {
	f := newFixture(t, DefaultConfig())
	cookie, csrf := f.signIn(adminTok)
	calls := len(f.api.got())
	for _, p := range []string{
		"/v1/backup",                  // as the API names it
		"/v1/backup?without_key=true", // with its option
		"/v1/backup/",                 // a trailing slash
		"/v1//backup",                 // a doubled slash
		"/v1/./backup",                // a dot segment
		"/v1/x/../backup",             // a dot-dot segment
		"/v1/Backup",                  // another case
		"/v1/%62ackup",                // escaped
	} {
		for _, m := range []string{"GET", "HEAD", "POST"} {
			r := f.do(m, p, "", map[string]string{"Cookie": cookie, CSRFHeader: csrf, "Origin": "https://127.0.0.1:9738"})
			if r.status != 403 {
				t.Errorf("%s %s with a session: %d, want 403", m, p, r.status)
			}
			if m == "GET" && !strings.Contains(fmt.Sprint(r.body["message"]), "Authorization: Bearer") {
				t.Errorf("%s %s: message %q does not say what works", m, p, r.body["message"])
			}
		}
	}
	if got := f.api.got(); len(got) != calls {
		t.Fatalf("a session's backup request reached the API: %q", got[calls:])
	}
	// Bearer: the API decides (it lets only the admin token back up).
	if r := f.do("GET", "/v1/backup", "", map[string]string{"Authorization": "Bearer " + adminTok}); r.status != 200 {
		t.Fatalf("backup with a Bearer header: %d", r.status)
	}
	// Other calls with the session still pass.
	if r := f.do("GET", "/v1/backups-report", "", map[string]string{"Cookie": cookie}); r.status != 200 {
		t.Fatalf("a path that only starts like the backup's: %d", r.status)
	}
}

// TestSignInRateLimited: an address gets SignInsPerMinute attempts a
// minute (right or wrong), then 429 with Retry-After and no cookie, while
// other addresses go on; an IPv6 /64 counts as one address; the next
// minute it may try again.
func TestSignInRateLimited(t *testing.T) {
	f := newFixture(t, Config{MaxSessions: 10, SessionTTL: time.Hour, SignInsPerMinute: 3, MaxSignInAddrs: 100})
	try := func(addr, tok string) reply {
		t.Helper()
		return f.do("POST", "/auth/signin", `{"token": "`+tok+`"}`, map[string]string{remoteAddr: addr})
	}
	for i := range 3 {
		if r := try("198.51.100.7:4000", "guess"); r.status != 401 {
			t.Fatalf("attempt %d: %d, want 401 (a wrong token)", i, r.status)
		}
	}
	// The fourth, even with the right token and from another port.
	r := try("198.51.100.7:4001", adminTok)
	if r.status != 429 || r.header.Get("Retry-After") != "60" || r.header.Get("Set-Cookie") != "" || r.body["status"] != "RESOURCE_EXHAUSTED" {
		t.Fatalf("fourth attempt: %d %v Retry-After %q cookie %q", r.status, r.body, r.header.Get("Retry-After"), r.header.Get("Set-Cookie"))
	}
	if n := f.h.Sessions(); n != 0 {
		t.Fatalf("%d sessions after refused sign-ins", n)
	}
	// Another address is not affected.
	if r := try("198.51.100.8:4000", adminTok); r.status != 200 {
		t.Fatalf("another address: %d", r.status)
	}
	// One IPv6 /64 is one address; another /64 is another.
	for i := range 3 {
		try(fmt.Sprintf("[2001:db8:1:2::%x]:443", i+1), "guess")
	}
	if r := try("[2001:db8:1:2:ffff::1]:443", adminTok); r.status != 429 {
		t.Fatalf("same /64: %d, want 429", r.status)
	}
	if r := try("[2001:db8:1:3::1]:443", adminTok); r.status != 200 {
		t.Fatalf("another /64: %d", r.status)
	}
	// An IPv4-mapped IPv6 address is the IPv4 address.
	if r := try("[::ffff:198.51.100.7]:443", adminTok); r.status != 429 {
		t.Fatalf("IPv4-mapped: %d, want 429", r.status)
	}
	// A minute later, the address may try again.
	f.now = f.now.Add(time.Minute)
	if r := try("198.51.100.7:4000", adminTok); r.status != 200 {
		t.Fatalf("a minute later: %d", r.status)
	}
}

// TestSignInCountsBounded: the table of counted addresses stays within
// MaxSignInAddrs (and one shared count for the rest), and the addresses
// beyond it share one count, so a stranger with many addresses neither
// grows the table nor gets unlimited attempts.
func TestSignInCountsBounded(t *testing.T) {
	f := newFixture(t, Config{MaxSessions: 10, SessionTTL: time.Hour, SignInsPerMinute: 2, MaxSignInAddrs: 3})
	refused := 0
	for i := range 50 {
		r := f.do("POST", "/auth/signin", `{"token": "guess"}`, map[string]string{remoteAddr: fmt.Sprintf("203.0.113.%d:80", i)})
		if r.status == 429 {
			refused++
		}
	}
	if n := f.h.SignInAddrs(); n > 3+1 {
		t.Fatalf("%d addresses counted, want at most 3 and the shared count", n)
	}
	// 3 addresses with their own count, 47 sharing one of 2 attempts.
	if refused != 45 {
		t.Fatalf("%d of 50 attempts refused, want 45", refused)
	}
	// After a minute the stale counts make room again.
	f.now = f.now.Add(time.Minute)
	if r := f.do("POST", "/auth/signin", `{"token": "`+adminTok+`"}`, map[string]string{remoteAddr: "203.0.113.200:80"}); r.status != 200 {
		t.Fatalf("a minute later: %d", r.status)
	}
}

// TestViewSessionsDoNotEvictAdmin: each kind has its own bound, so many
// view sign-ins evict only view sessions.
func TestViewSessionsDoNotEvictAdmin(t *testing.T) {
	f := newFixture(t, Config{MaxSessions: 2, SessionTTL: time.Hour, SignInsPerMinute: 100, MaxSignInAddrs: 10})
	admin, _ := f.signIn(adminTok)
	f.now = f.now.Add(time.Second)
	var views []string
	for range 5 {
		c, _ := f.signIn(viewTok)
		views = append(views, c)
		f.now = f.now.Add(time.Second)
	}
	if r := f.do("GET", "/v1/info", "", map[string]string{"Cookie": admin}); r.status != 200 {
		t.Fatalf("the admin session after 5 view sign-ins: %d, want 200", r.status)
	}
	for i, c := range views {
		want := 401
		if i >= 3 { // the newest two
			want = 200
		}
		if r := f.do("GET", "/v1/info", "", map[string]string{"Cookie": c}); r.status != want {
			t.Errorf("view session %d: %d, want %d", i, r.status, want)
		}
	}
	// Admin sign-ins are bounded by their own quota.
	a2, _ := f.signIn(adminTok)
	f.now = f.now.Add(time.Second)
	a3, _ := f.signIn(adminTok)
	for c, want := range map[string]int{admin: 401, a2: 200, a3: 200, views[4]: 200} {
		if r := f.do("GET", "/v1/info", "", map[string]string{"Cookie": c}); r.status != want {
			t.Errorf("after three admin sign-ins: %d, want %d", r.status, want)
		}
	}
	if n := f.h.Sessions(); n != 4 {
		t.Fatalf("%d sessions, want 2 of each kind", n)
	}
}

// signedOffer is an offer signed by a fresh key.
func signedOffer(t *testing.T) *apiv1.Offer {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	adj := crypto.Address{0xad}
	f := crypto.OfferFields{Offer: crypto.Hash{1, 2, 3}, Payee: key.Address(), ItemID: "article-7", Asset: crypto.Address{0xc8},
		Price: *uint256.NewInt(250000), Expiry: 1_900_000_000, Uses: crypto.OfferUses(apiv1.OfferUses_OFFER_USES_PER_PAYER)}
	sig, err := key.Sign(crypto.NewDomain(1337, adj).OfferDigest(&f))
	if err != nil {
		t.Fatal(err)
	}
	return &apiv1.Offer{ChainId: 1337, Adjudicator: adj.Hex(), OfferId: f.Offer.Hex(), Payee: f.Payee.Hex(), ItemId: f.ItemID,
		Asset: f.Asset.Hex(), Price: "250000", Expiry: f.Expiry, Signature: "0x" + hex.EncodeToString(sig[:]),
		Uses: apiv1.OfferUses_OFFER_USES_PER_PAYER}
}

// TestEncodeOffer: /offer/encode turns an offer's JSON (as the gateway
// writes it) into the string tinypay prints, once its signature checks;
// it needs a session and the CSRF token.
func TestEncodeOffer(t *testing.T) {
	f := newFixture(t, DefaultConfig())
	cookie, csrf := f.signIn(viewTok)
	o := signedOffer(t)
	js, err := protojson.MarshalOptions{UseProtoNames: true, EmitDefaultValues: true}.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	hdr := map[string]string{"Cookie": cookie, CSRFHeader: csrf, "Origin": "https://127.0.0.1:9738"}
	r := f.do("POST", "/offer/encode", string(js), hdr)
	if r.status != 200 || r.body["offer"] != apiutil.EncodeOffer(o) {
		t.Fatalf("encode: %d %v, want %s", r.status, r.body, apiutil.EncodeOffer(o))
	}
	back, err := apiutil.DecodeOffer(r.body["offer"].(string))
	if err != nil || !proto.Equal(back, o) {
		t.Fatalf("the string decodes to %v (%v), want %v", back, err, o)
	}
	tampered := proto.Clone(o).(*apiv1.Offer)
	tampered.Price = "1"
	tjs, _ := protojson.Marshal(tampered)
	for _, tc := range []struct {
		name, method, body string
		hdr                map[string]string
		status             int
		msg                string
	}{
		// A changed price: the signature does not match.
		{"tampered", "POST", string(tjs), hdr, 400, "offer"},
		// Not an offer.
		{"not JSON", "POST", "tpo1.abc", hdr, 400, "not an offer's JSON"},
		{"unknown field", "POST", `{"offer_id": "0x01", "color": "red"}`, hdr, 400, "not an offer's JSON"},
		// Over 8 KiB.
		{"huge", "POST", `{"item_id": "` + strings.Repeat("a", 9000) + `"}`, hdr, 400, "at most 8 KiB"},
		// No session, no CSRF token, another site.
		{"no session", "POST", string(js), nil, 401, "not signed in"},
		{"no CSRF", "POST", string(js), map[string]string{"Cookie": cookie}, 403, "missing X-CSRF-Token"},
		{"cross-origin", "POST", string(js), map[string]string{"Cookie": cookie, CSRFHeader: csrf, "Origin": "https://evil.example"}, 403, "cross-origin"},
		// Only POST.
		{"GET", "GET", "", hdr, 405, "POST"},
	} {
		r := f.do(tc.method, "/offer/encode", tc.body, tc.hdr)
		msg, _ := r.body["message"].(string)
		if r.status != tc.status || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s: %d %q, want %d %q", tc.name, r.status, msg, tc.status, tc.msg)
		}
	}
}

// TestSlowBodyCutOff: a client that sends the body of a sign-in, or of an
// offer to encode, slower than BodyTimeout allows gets 400 and its
// connection back, so that slow bodies cannot hold connections and
// goroutines for ever (the server has no ReadTimeout: it would end the
// API's streams).
func TestSlowBodyCutOff(t *testing.T) {
	f := newFixture(t, Config{MaxSessions: 10, SessionTTL: time.Hour, SignInsPerMinute: 100, MaxSignInAddrs: 10, BodyTimeout: 200 * time.Millisecond})
	srv := httptest.NewServer(f.h)
	defer srv.Close()
	cookie, csrf := f.signIn(adminTok)
	for _, tc := range []struct{ name, head string }{
		{"sign-in", "POST /auth/signin HTTP/1.1\r\nHost: 127.0.0.1:9738\r\nOrigin: https://127.0.0.1:9738\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"},
		{"offer encoding", "POST /offer/encode HTTP/1.1\r\nHost: 127.0.0.1:9738\r\nOrigin: https://127.0.0.1:9738\r\nCookie: " + cookie + "\r\n" + CSRFHeader + ": " + csrf + "\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, tc.head+`{"token": "`); err != nil {
				t.Fatal(err)
			}
			// The test's own bound, far beyond BodyTimeout: without the
			// server's, the read below would wait for ever.
			conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			answer, err := io.ReadAll(conn)
			if err != nil {
				t.Fatalf("the server kept a slow body's connection: %v (read %q)", err, answer)
			}
			if !strings.HasPrefix(string(answer), "HTTP/1.1 400 ") {
				t.Fatalf("answer to a slow body: %q", answer)
			}
		})
	}
	if n := f.h.Sessions(); n != 1 {
		t.Fatalf("%d sessions, want only the test's own", n)
	}
}
