// Package dashboard serves tinypayd's creator dashboard: static pages
// (plain HTML, CSS and one small JavaScript module, embedded with go:embed
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
//   - The session cookie is a random 256-bit id, HttpOnly, Secure,
//     SameSite=Strict, Path=/. Sessions live in a bounded table (the oldest
//     is evicted when it is full) and expire after Config.SessionTTL;
//     signing out deletes the session on the server.
//   - Every request other than GET and HEAD made with a session needs the
//     session's CSRF token in the X-CSRF-Token header, and is refused when
//     its Origin (or Sec-Fetch-Site) says it comes from another site.
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
