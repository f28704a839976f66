// Package browserpay is the reader's node's browser endpoint: the pages
// of sites the reader approved ask it, from the browser, to pay them, and
// it pays within the limits the reader set for each site. tinypayd serves
// it on plain HTTP on loopback (run --browser-listen 127.0.0.1:9739): a
// browser treats http://127.0.0.1 as a secure origin, not mixed content,
// so https pages may call it, which the node's self-signed TLS would not
// allow.
//
// A site's approval is an app token with the site's origin
// (apps.ApproveSite): a budget per day, a largest single price, an
// optional auto-pay threshold (from it up to the largest price the reader
// confirms each payment on the node's page), an optional highest rate per
// second (for all the site's streams together: the endpoint refuses a
// stream that would pass it), and the one publisher it pays. The endpoint pays with it by id
// and names the origin of every request, so the application layer keeps
// to the policy; nobody holds the token's secret, and a site never sees a
// token, cookie or secret of the node: only receipts and stream ids.
//
// # Sites' calls (cross-origin, POST, JSON)
//
//   - /site/hello {terms, page, request?}: the one call any origin may
//     make (and its preflight). Approved: {"state": "approved"}. Not (or
//     revoked): a request for approval waits for the reader (one per site,
//     Config.MaxPending in all, for Config.PendingTTL), and the answer
//     names the node's approval page (approve_url) for the page to open;
//     once the reader declined, {"state": "declined"}.
//   - /site/pay {terms, page, confirmation?}: pays the terms' signed offer
//     and answers with the payee's receipt ({"status": "paid",
//     "receipt"}), or asks for the reader's confirmation ("confirm", with
//     confirm_url; the page asks again with the confirmation's id), or
//     waits for a channel being opened ("opening"), or refuses with a
//     reason (see the Reason constants) and words.
//   - /site/stream {terms, page}: starts a stream to the publisher at the
//     terms' rate; /site/stream/keepalive {stream} while it plays (a
//     stream whose page goes quiet for Config.StreamLease is stopped);
//     /site/stream/stop {stream} when it pauses or goes (as JSON, or as
//     text from navigator.sendBeacon).
//
// Only approved origins get CORS answers for these (the exact Origin
// echoed, no credentials, Vary: Origin on every answer), and their
// preflights are answered, Private Network Access included
// (Access-Control-Allow-Private-Network). A request without an Origin, of
// another content type than JSON, or from an origin not approved pays
// nothing, whatever it is. A Host that is not the listener's loopback
// address is refused (a rebound DNS name would be same-origin with it).
//
// # The reader's pages (same origin only)
//
// /approve#REQUEST and /confirm#CONFIRMATION are the node's own pages:
// they need a session (POST /auth/signin with the node's admin token;
// an HttpOnly, SameSite=Strict cookie, Config.SessionTTL), send a CSRF
// token with every call, reads included (cookies of 127.0.0.1 go to all
// its ports, so the cookie alone is worth nothing; only the sign-in's
// answer carries the token), refuse calls whose Origin or
// Sec-Fetch-Site is another's, cannot be framed (X-Frame-Options DENY,
// frame-ancestors 'none'), keep Approve and Pay off until shown for a
// second (a double click's second click cannot land there), and leave
// their opener no handle on them (Cross-Origin-Opener-Policy). Approving with a deposit opens a channel
// with the publisher when the node has none, and /reader/request shows
// its progress; the site's page pays as soon as it is open.
//
// # Concurrency
//
// A Handler is safe for concurrent use. One mutex guards its tables
// (sessions, pending requests, channel opens, streams), held for memory
// only, never while calling the node. One goroutine stops streams whose
// page went quiet; Close stops it and every stream the endpoint pays.
package browserpay
