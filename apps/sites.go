package apps

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node"
)

// SitePeriod is the period of a site's budget: a day (UTC), like every
// token's periods starting at multiples of it.
const SitePeriod = 24 * time.Hour

// MaxOriginLen bounds a web origin.
const MaxOriginLen = 300

// CanonicalOrigin checks a web origin and returns it as a browser writes
// it in an Origin header: "http" or "https", "://", the host in lower
// case (an IPv6 address in brackets), and ":port" unless the port is the
// scheme's default. A path (other than "/"), a query, a fragment or user
// information is refused, as is "null" (the origin of sandboxed frames and
// files, which names no site).
func CanonicalOrigin(s string) (string, error) {
	if len(s) > MaxOriginLen {
		return "", invalid("origin longer than %d bytes", MaxOriginLen)
	}
	u, err := url.Parse(s)
	if err != nil || s == "null" {
		return "", invalid("origin %q: want scheme://host[:port]", s)
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "http" && scheme != "https":
		return "", invalid("origin %q: the scheme must be http or https", s)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || (u.Path != "" && u.Path != "/") || u.Opaque != "":
		return "", invalid("origin %q: want scheme://host[:port] and nothing more", s)
	case u.Hostname() == "":
		return "", invalid("origin %q has no host", s)
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if strings.ContainsAny(host, " %/\\@") {
		return "", invalid("origin %q: bad host", s)
	}
	if port != "" {
		n := 0
		for _, c := range port {
			if c < '0' || c > '9' || n > 65535 {
				return "", invalid("origin %q: bad port", s)
			}
			n = n*10 + int(c-'0')
		}
		if n == 0 || n > 65535 {
			return "", invalid("origin %q: bad port", s)
		}
		port = fmt.Sprint(n)
		if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
			port = ""
		}
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, nil
}

// SiteApproval is a reader's approval of a site: what its pages may pay
// through the node's browser endpoint.
type SiteApproval struct {
	// Origin is the site's web origin (see CanonicalOrigin).
	Origin string
	// Payee is the publisher's node, the only one the site's pages pay.
	Payee crypto.Address
	// Asset is the only asset they pay in.
	Asset crypto.Address
	// Budget is the most they pay per day (SitePeriod), streams included.
	Budget uint256.Int
	// MaxPrice is the largest single payment (required).
	MaxPrice uint256.Int
	// AutoPayBelow, if not zero: payments of at least this much are
	// confirmed by the reader each time.
	AutoPayBelow uint256.Int
	// MaxRate, if not zero, is the highest rate per second a stream may
	// pay; zero: the site may not stream.
	MaxRate uint256.Int
}

// ApproveSite stores a site's approval: an app token whose policy is the
// approval's (limit Budget per day, the one payee, MaxPrice, AutoPayBelow,
// MaxRate, Origin). Nobody holds its secret; the browser endpoint pays
// with it by id (PayRequest.Token and Origin). A site whose approval
// stands cannot be approved again (revoke it first).
func (a *Apps) ApproveSite(ctx context.Context, s SiteApproval) (AppToken, error) {
	origin, err := CanonicalOrigin(s.Origin)
	if err != nil {
		return AppToken{}, err
	}
	switch {
	case origin != s.Origin:
		return AppToken{}, invalid("origin %q: write it as %q", s.Origin, origin)
	case s.Payee.IsZero():
		return AppToken{}, invalid("a site's approval names the publisher's node")
	case s.Budget.IsZero():
		return AppToken{}, invalid("a budget per day above zero is required")
	case s.MaxPrice.IsZero():
		return AppToken{}, invalid("a largest single price above zero is required")
	case s.MaxPrice.Gt(&s.Budget):
		return AppToken{}, invalid("the largest single price is above the budget per day")
	case !s.AutoPayBelow.IsZero() && s.AutoPayBelow.Gt(&s.MaxPrice):
		return AppToken{}, invalid("the auto-pay threshold is above the largest single price (every payment it allows would be paid without asking: leave it out)")
	case !s.MaxRate.IsZero() && s.MaxRate.Gt(&s.Budget):
		return AppToken{}, invalid("the highest rate per second is above the budget per day")
	}
	if !a.knownAsset(s.Asset) {
		return AppToken{}, fmt.Errorf("%w: %s", node.ErrUnknownAsset, s.Asset)
	}
	if t, ok := a.Site(origin); ok && !t.Revoked {
		return AppToken{}, fmt.Errorf("%w: %s is approved already (token %s): revoke it to approve it anew", node.ErrAlreadyExists, origin, t.ID)
	}
	p := TokenPolicy{
		Asset: s.Asset, Limit: s.Budget, Period: SitePeriod, Payees: map[crypto.Address]uint256.Int{s.Payee: {}},
		MaxPrice: s.MaxPrice, MaxRate: s.MaxRate, Origin: origin, AutoPayBelow: s.AutoPayBelow,
	}
	t, _, err := a.createToken(ctx, &appToken{AppToken: AppToken{Name: "site " + origin, Kind: KindApp, Policy: p}}, "tpsite_")
	return t, err // the secret is dropped: nobody pays with it
}

// Site returns the newest approval of origin (revoked or not); false if
// the site was never approved.
func (a *Apps) Site(origin string) (AppToken, bool) {
	a.tokens.mu.Lock()
	defer a.tokens.mu.Unlock()
	var best *appToken
	for _, t := range a.tokens.byID {
		if t.Policy.Origin == origin && origin != "" && (best == nil || t.Created.After(best.Created)) {
			best = t
		}
	}
	if best == nil {
		return AppToken{}, false
	}
	best.roll(a.clock.Now())
	return best.AppToken, true
}
