package paywall

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"html/template"
	"io"
	"io/fs"
	"mime"
	"net/http"
	pathpkg "path"
	"strconv"
	"strings"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
)

// Browsers. A request that accepts HTML (a page a reader opens) gets the
// 402 as a page: what is for sale and its price in the asset's units,
// the machine-readable terms in the headers and in a JSON block, and
// the paywall's script (AssetsPath + "pay.js", same origin) that asks the
// reader's own node to pay and then shows the page; see the README's
// "Paying from a browser".
const (
	// AssetsPath is where the paywall serves its script and style sheet,
	// and takes a stream for a media element (POST AssetsPath+"stream").
	// Requests under it never reach the upstream.
	AssetsPath = "/.tinypay/"
	// PaidCookie is the cookie that lets a reader's browser read a page
	// it paid for again for Config.PaidFor: HttpOnly, for that page's
	// path only, bound to the payment of the receipt.
	PaidCookie = "tinypay_paid"
	// StreamCookie names the stream that pays for a media element's
	// requests (which cannot carry X-TinyPay-Stream): HttpOnly, for the
	// media's path only, set by POST AssetsPath+"stream".
	StreamCookie = "tinypay_stream"
	// streamCookieAge bounds how long a stream cookie lasts; the stream
	// itself ends when the reader pauses or leaves.
	streamCookieAge = 10 * time.Minute
	// maxCookiesChecked bounds the paid cookies looked at per request.
	maxCookiesChecked = 16
	// maxStreamBody bounds the body of POST AssetsPath+"stream".
	maxStreamBody = 4 << 10
)

//go:embed static
var static embed.FS

// wantsHTML reports whether r is a reader's browser opening a page: a GET
// (or HEAD) that accepts text/html.
func wantsHTML(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(mt), "text/html") {
			return true
		}
	}
	return false
}

// pageCSP is the policy of the 402 page: scripts only from the paywall,
// connections to the paywall and to the reader's node on loopback, and
// frames of the site's own pages only (its script pays as it loads: a
// page of another site must not load it unseen in a frame).
const pageCSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src * data: blob:; media-src 'self' blob:; " +
	"connect-src 'self' http://127.0.0.1:* http://localhost:*; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"

var pageTmpl = template.Must(template.New("402").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<link rel="stylesheet" href="{{.Assets}}pay.css">
<script type="application/json" id="tinypay-terms">{{.Terms}}</script>
<script src="{{.Assets}}pay.js" defer></script>
</head><body class="tinypay-402" data-scheme="{{.Scheme}}">
<main class="tinypay-box">
<p class="tinypay-kicker">Payment required</p>
<h1 id="tinypay-what">{{.What}}</h1>
<p class="tinypay-price"><span id="tinypay-price" data-amount="{{.Amount}}">{{.Price}}</span> {{.Per}}</p>
<p class="tinypay-payee">Paid to <code>{{.Payee}}</code> through a tinypay channel, from your own node.</p>
{{if .Stream}}<div class="tinypay-player">
<button type="button" id="tinypay-play" data-state="paused">Play</button> <span id="tinypay-played">0:00</span>
{{if .Video}}<video id="tinypay-media" preload="none" playsinline></video>{{else}}<audio id="tinypay-media" preload="none"></audio>{{end}}
</div>
{{end}}<p id="tinypay-status" role="status" data-state="loading">{{if .Refused}}{{.Refused}}{{else}}Loading the payment script…{{end}}</p>
<p class="tinypay-actions"><button type="button" id="tinypay-approve" hidden>Approve this site on my node</button> <button type="button" id="tinypay-confirm" hidden>Confirm on my node</button> <button type="button" id="tinypay-retry" hidden>Try again</button></p>
<details id="tinypay-settings"><summary>Your tinypay node</summary>
<p><label>Its browser address (<code>tinypayd run --browser-listen</code>) <input id="tinypay-node" type="url" value="http://127.0.0.1:9739" spellcheck="false"></label> <button type="button" id="tinypay-node-save">Use it</button></p>
<p class="tinypay-note">Without a node: <code>tinypay fetch {{.URL}} --max-price "{{.Price}}"</code></p>
</details>
<noscript><p>This page is paid with a tinypay node: turn on JavaScript, or run <code>tinypay fetch {{.URL}}</code>.</p></noscript>
</main>
</body></html>
`))

// pageData fills pageTmpl.
type pageData struct {
	Title, What, Price, Amount, Per, Payee, URL, Scheme, Refused, Assets string
	Stream, Video                                                        bool
	Terms                                                                template.JS
}

// videoExt are the media paths the 402 page plays in a video element
// (anything else in an audio one).
var videoExt = map[string]bool{".mp4": true, ".webm": true, ".ogv": true, ".mov": true, ".m4v": true}

// writePage answers a reader's browser with the 402 as a page (status
// 402; the headers already hold the terms).
func (p *Paywall) writePage(w http.ResponseWriter, r *http.Request, pr *PaymentRequired, terms *Terms, refused error) {
	// The terms as JSON that cannot end the script element (<, > and &
	// are escaped).
	raw, err := json.Marshal(pr)
	if err != nil {
		panic(err) // our own types
	}
	d := pageData{
		Title: "Payment required: " + terms.Item, What: terms.Item, Payee: terms.Payee, URL: requestURL(r),
		Terms: template.JS(raw), Assets: AssetsPath,
	}
	if req := pr.Accepts[0]; req.Scheme == SchemeStream {
		d.Stream, d.Scheme, d.Per = true, SchemeStream, "per second while it plays"
		d.Amount = terms.Rate
		d.Video = videoExt[strings.ToLower(pathpkg.Ext(r.URL.Path))]
	} else {
		d.Scheme, d.Per, d.Amount = SchemeOffer, "to read it", terms.Price
	}
	if v, err := uint256.FromDecimal(d.Amount); err == nil {
		d.Price = channel.FormatUnits(v, terms.Asset.Decimals) + " " + terms.Asset.Symbol
	}
	if refused != nil && Reason(refused) != "" {
		d.Refused = "Not paid: " + refused.Error()
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Frame-Options", "SAMEORIGIN")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Vary", "Accept")
	w.WriteHeader(http.StatusPaymentRequired)
	if r.Method == http.MethodHead {
		return
	}
	_ = pageTmpl.Execute(w, d)
}

// serveAssets serves what is under AssetsPath: the script and style sheet
// of the 402 page, and POST AssetsPath+"stream".
func (p *Paywall) serveAssets(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, AssetsPath)
	if name == "stream" {
		p.setStreamCookie(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method "+r.Method+" not allowed", http.StatusMethodNotAllowed)
		return
	}
	b, err := fs.ReadFile(static, "static/"+name)
	if err != nil || name == "" || strings.ContainsAny(name, "/\\") || strings.HasPrefix(name, ".") {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", mime.TypeByExtension(pathpkg.Ext(name)))
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(b)
	}
}

// setStreamCookie serves POST AssetsPath+"stream" {"stream": "0x...",
// "path": "/song.mp3"}: the page's script, having started a stream with
// the reader's node, names it for the media element's requests to path.
// Only the paywall's own pages may (same origin, JSON body).
func (p *Paywall) setStreamCookie(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "POST a JSON body {\"stream\": \"0x...\", \"path\": \"/...\"}", http.StatusMethodNotAllowed)
		return
	}
	if !sameOrigin(r) {
		http.Error(w, "only this site's pages may name a stream", http.StatusForbidden)
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		http.Error(w, "want a JSON body (Content-Type: application/json)", http.StatusUnsupportedMediaType)
		return
	}
	var body struct {
		Stream string `json:"stream"`
		Path   string `json:"path"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, maxStreamBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		http.Error(w, "want a JSON body {\"stream\": \"0x...\", \"path\": \"/...\"}", http.StatusBadRequest)
		return
	}
	switch {
	case !isStreamID(body.Stream):
		http.Error(w, "stream: want 0x and 32 hex digits", http.StatusBadRequest)
		return
	case !cookiePathOK(body.Path):
		http.Error(w, "path: want the escaped path of the resource the stream pays for", http.StatusBadRequest)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: StreamCookie, Value: strings.ToLower(body.Stream), Path: body.Path,
		MaxAge: int(streamCookieAge / time.Second), HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// sameOrigin reports whether r comes from a page of the site it is sent
// to: its Origin is the site's, or, without one, Sec-Fetch-Site says so.
func sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		return strings.EqualFold(o, scheme+"://"+r.Host)
	}
	return r.Header.Get("Sec-Fetch-Site") == "same-origin"
}

// cookiePathOK reports whether an escaped path can be a cookie's Path:
// absolute, short, and free of what ends or splits a cookie attribute.
func cookiePathOK(path string) bool {
	if !strings.HasPrefix(path, "/") || len(path) > 1024 {
		return false
	}
	for i := 0; i < len(path); i++ {
		if c := path[i]; c <= ' ' || c >= 0x7f || c == ';' || c == ',' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// streamCookie returns the stream a media request's cookie names, if any.
func streamCookie(r *http.Request) string {
	for _, c := range r.CookiesNamed(StreamCookie) {
		if isStreamID(c.Value) {
			return strings.ToLower(c.Value)
		}
	}
	return ""
}

// paidCookieValue is what a paid cookie holds: its expiry, the payment,
// and a MAC over both and the item under the paywall's cookie key, so it
// is good for this page, until then, only.
func (p *Paywall) paidCookieValue(item string, payment [32]byte, expiry time.Time) string {
	var buf [8 + 32 + 16]byte
	binary.BigEndian.PutUint64(buf[:8], uint64(expiry.Unix()))
	copy(buf[8:40], payment[:])
	copy(buf[40:], p.paidMAC(buf[:40], item))
	return base64.RawURLEncoding.EncodeToString(buf[:])
}

func (p *Paywall) paidMAC(head []byte, item string) []byte {
	m := hmac.New(sha256.New, p.cookieKey)
	m.Write([]byte("tinypay paid page v1\x00"))
	m.Write(head)
	m.Write([]byte(item))
	return m.Sum(nil)[:16]
}

// paidCookie returns the payment of a paid cookie of r that is good for
// item now, or false.
func (p *Paywall) paidCookie(r *http.Request, item string) (string, bool) {
	if p.cfg.PaidFor <= 0 {
		return "", false
	}
	now := p.now()
	for i, c := range r.CookiesNamed(PaidCookie) {
		if i >= maxCookiesChecked {
			break
		}
		raw, err := base64.RawURLEncoding.DecodeString(c.Value)
		if err != nil || len(raw) != 56 {
			continue
		}
		if !hmac.Equal(raw[40:], p.paidMAC(raw[:40], item)) {
			continue
		}
		if exp := time.Unix(int64(binary.BigEndian.Uint64(raw[:8])), 0); !now.Before(exp) {
			continue
		}
		return "0x" + hex.EncodeToString(raw[8:40]), true
	}
	return "", false
}

// paidCookieFor returns the cookie a paid response to r sets, or nil
// when the paywall sets none (Config.PaidFor is zero, or the path cannot
// be a cookie's).
func (p *Paywall) paidCookieFor(r *http.Request, item string, payment [32]byte) *http.Cookie {
	path := r.URL.EscapedPath()
	if p.cfg.PaidFor <= 0 || !cookiePathOK(path) {
		return nil
	}
	exp := p.now().Add(p.cfg.PaidFor)
	return &http.Cookie{Name: PaidCookie, Value: p.paidCookieValue(item, payment, exp), Path: path,
		MaxAge: int(p.cfg.PaidFor / time.Second), HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode}
}

func newCookieKey() []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		panic(err) // crypto/rand does not fail
	}
	return k
}
