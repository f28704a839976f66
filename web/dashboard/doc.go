// Package dashboard serves tinypayd's creator dashboard: static pages
// (now, revenue, offers, payouts, channels, health; plain HTML, CSS and
// small JavaScript modules, embedded with go:embed
// so that `go build` alone produces them; no framework, no CDN) and a
// sign-in that turns a control-API token into a session cookie.
//
// The dashboard sits in front of the HTTP/JSON API (rpc.Gateway) on the
// same origin. A request to /v1/... that carries its own Authorization
// header passes through untouched; one that carries the session cookie
// instead is passed on with the session's token added as a Bearer
// header, so the gateway's token checks and scopes (rpc/auth.go) decide
// what it may do, exactly as for any other client. The token never
// reaches the page's JavaScript: the page holds only an HttpOnly cookie
// and a CSRF token.
//
// Security properties:
//   - Sign-in posts the token once, in a JSON body (never in a URL); a wrong
//     token is refused and sets no cookie; app tokens (which may only pay)
//     cannot sign in.
//   - Sign-in attempts are limited per remote address (IPv4, or IPv6 /64)
//     to Config.SignInsPerMinute; the table of counts is bounded
//     (Config.MaxSignInAddrs, the addresses beyond it share one count).
//   - The session cookie is a random 256-bit id, HttpOnly, Secure,
//     SameSite=Strict, Path=/. Sessions live in a table bounded per kind
//     (when a kind's are at Config.MaxSessions the oldest of that kind is
//     evicted, so view sign-ins never evict an admin session) and expire
//     after Config.SessionTTL; signing out deletes the session on the
//     server.
//   - GET /v1/backup, which may hold the node's key, is never passed on
//     with a session's token: it needs the client's own Authorization
//     header.
//   - Every request other than GET and HEAD made with a session needs the
//     session's CSRF token in the X-CSRF-Token header, and is refused when
//     its Origin (or Sec-Fetch-Site) says it comes from another site.
//   - POST /offer/encode (session and CSRF token) turns an offer's JSON into
//     its compact string once its signature checks; /offer is a public page
//     that shows an offer string held in its URL's fragment.
//   - Pages carry Content-Security-Policy default-src 'self' (no inline
//     script or style), frame-ancestors 'none' and no referrer.
//
// Example (what tinypayd run --dashboard does):
//
//	h, err := dashboard.New(gateway, classify, dashboard.DefaultConfig())
//	srv := &http.Server{Handler: h, TLSConfig: ...}
//
// Concurrency: a Handler is safe for concurrent use. The session table has
// one mutex, held only to read or change the table, never while a request
// is passed on.
package dashboard
