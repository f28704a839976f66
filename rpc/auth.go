package rpc

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tinypay/tinypay/apps"
	"github.com/tinypay/tinypay/rpc/apiutil"
)

// TokenBytes is the size of a control-API token before hex encoding.
const TokenBytes = 32

// LoadOrCreateToken returns the control-API token stored at path, creating
// a random one (mode 0600) if the file does not exist. It refuses a token
// file that other users can read.
func LoadOrCreateToken(path string) (string, error) {
	tok, err := LoadToken(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return tok, err
	}
	var b [TokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	tok = hex.EncodeToString(b[:])
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	if _, err := f.WriteString(tok + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("token: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", fmt.Errorf("token: %w", err)
	}
	return tok, f.Close()
}

// LoadToken reads a token file (see apiutil.LoadToken).
func LoadToken(path string) (string, error) { return apiutil.LoadToken(path) }

// reflectionPrefix names the reflection services, which only describe the
// API (its schema is public) and are served without a token so that
// standard tools can list it.
const reflectionPrefix = "/grpc.reflection."

// AppLookup finds the token a secret belongs to, and its kind.
type AppLookup func(secret string) (apps.TokenID, apps.TokenKind, bool)

// scope is the set of token kinds that may call a method.
type scope uint8

const (
	adminOnly scope = 0
	appScope  scope = 1 << apps.KindApp
	viewScope scope = 1 << apps.KindView
)

func (s scope) allows(k apps.TokenKind) bool { return s&(1<<k) != 0 }

// methodScopes says, for every method of the control API, which tokens
// besides the node's admin token may call it: app tokens may only pay
// (and read the node's info and their own streams), view tokens may only
// read. The admin token may call everything. A method missing here is
// admin-only (TestMethodScopesCoverTheAPI checks that each is listed).
var methodScopes = map[string]scope{
	"GetInfo":            appScope | viewScope,
	"GetBalances":        viewScope,
	"ConnectPeer":        adminOnly,
	"ListPeers":          viewScope,
	"OpenChannel":        adminOnly,
	"Deposit":            adminOnly,
	"Withdraw":           adminOnly,
	"ListChannels":       viewScope,
	"GetChannel":         viewScope,
	"CloseChannel":       adminOnly,
	"ForceClose":         adminOnly,
	"Settle":             adminOnly,
	"Pay":                appScope,
	"PayStream":          appScope,
	"ListPayments":       viewScope,
	"SubscribeEvents":    viewScope,
	"ListEvents":         viewScope,
	"CreateOffer":        adminOnly, // it signs
	"GetOfferUses":       viewScope,
	"StartStream":        appScope,
	"StopStream":         appScope,
	"ListStreams":        viewScope,
	"GetStream":          appScope | viewScope, // an app token sees its own streams only
	"Revenue":            viewScope,
	"CreateToken":        adminOnly,
	"ListTokens":         viewScope, // names, policies and spending; never a secret
	"RevokeToken":        adminOnly,
	"WalletSend":         adminOnly,
	"EstimateWalletSend": adminOnly, // it prepares a spend
	"Backup":             adminOnly, // it may hold the node's key
}

const nodeService = "/tinypay.api.v1.Node/"

// tokenRecheck is how often an open stream (an event subscription, a
// PayStream) of an app or view token checks that its token still stands.
const tokenRecheck = time.Second

// errRevoked ends the open streams of a revoked token.
var errRevoked = status.Error(codes.Unauthenticated, "the token was revoked: its open streams end")

type principalKey struct{}

// appToken returns the app token a call was made with; zero for the admin
// and for view tokens (which only read, and see what the admin sees).
func appToken(ctx context.Context) apps.TokenID {
	t, _ := ctx.Value(principalKey{}).(apps.TokenID)
	return t
}

// TokenAuth returns interceptors that require "authorization: Bearer
// <token>" on every call except server reflection: the node's admin token,
// or a token that lookup (if not nil) knows, within its kind's scope (see
// methodScopes). A token is checked when a call starts, and again every
// second while a stream of an app or view token is open: its streams end
// with UNAUTHENTICATED soon after the token is revoked.
func TokenAuth(token string, lookup AppLookup) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	want := []byte("Bearer " + token)
	// check returns the context of an allowed call, and the secret of an
	// app or view token ("" for the admin).
	check := func(ctx context.Context, method string) (context.Context, string, error) {
		if strings.HasPrefix(method, reflectionPrefix) {
			return ctx, "", nil
		}
		md, _ := metadata.FromIncomingContext(ctx)
		vals := md.Get("authorization")
		if len(vals) != 1 {
			return nil, "", status.Error(codes.Unauthenticated, "missing authorization token (authorization: Bearer <token from the node's api.token file>)")
		}
		auth := vals[0]
		if len(auth) > 7 && strings.EqualFold(auth[:7], "Bearer ") {
			auth = "Bearer " + auth[7:] // the scheme is case-insensitive (RFC 9110)
		}
		if subtle.ConstantTimeCompare([]byte(auth), want) == 1 {
			return ctx, "", nil
		}
		if secret, ok := strings.CutPrefix(auth, "Bearer "); ok && lookup != nil {
			if id, kind, ok := lookup(secret); ok {
				name, _ := strings.CutPrefix(method, nodeService)
				if !methodScopes[name].allows(kind) {
					if kind == apps.KindView {
						return nil, "", status.Errorf(codes.PermissionDenied, "view tokens may only read (not %s)", method)
					}
					return nil, "", status.Errorf(codes.PermissionDenied, "app tokens may only pay (not %s)", method)
				}
				if kind == apps.KindApp {
					ctx = context.WithValue(ctx, principalKey{}, id)
				}
				return ctx, secret, nil
			}
		}
		return nil, "", status.Error(codes.Unauthenticated, "wrong authorization token")
	}
	unary := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		ctx, _, err := check(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return h(ctx, req)
	}
	stream := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		ctx, secret, err := check(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		if secret == "" {
			return h(srv, &ctxStream{ServerStream: ss, ctx: ctx})
		}
		// A stream may stay open for days: it ends soon after its token
		// is revoked.
		ctx, cancel := context.WithCancelCause(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			tick := time.NewTicker(tokenRecheck)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
					if _, _, ok := lookup(secret); !ok {
						cancel(errRevoked)
						return
					}
				}
			}
		}()
		err = h(srv, &ctxStream{ServerStream: ss, ctx: ctx})
		revoked := errors.Is(context.Cause(ctx), errRevoked)
		cancel(nil)
		<-done
		if revoked {
			return errRevoked
		}
		return err
	}
	return unary, stream
}

// ctxStream carries the authenticated context into a stream handler.
type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }

// TokenCredentials attaches the token to every call a client makes; see
// apiutil.TokenCredentials.
type TokenCredentials = apiutil.TokenCredentials

// APIKeepalive are the control API server's keepalive options: clients may
// ping every 10 s (so they notice a dead connection quickly, e.g. a
// long-lived subscription), and the server pings idle clients itself.
func APIKeepalive() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: time.Minute, Timeout: 20 * time.Second}),
	}
}
