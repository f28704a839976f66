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

// AppLookup finds the app token a secret belongs to.
type AppLookup func(secret string) (apps.TokenID, bool)

// appMethods are the calls an app token may make: it may only pay.
var appMethods = map[string]bool{
	"/tinypay.api.v1.Node/GetInfo":     true,
	"/tinypay.api.v1.Node/Pay":         true,
	"/tinypay.api.v1.Node/PayStream":   true,
	"/tinypay.api.v1.Node/StartStream": true,
	"/tinypay.api.v1.Node/StopStream":  true,
	"/tinypay.api.v1.Node/GetStream":   true,
}

type principalKey struct{}

// appToken returns the app token a call was made with; zero for the admin.
func appToken(ctx context.Context) apps.TokenID {
	t, _ := ctx.Value(principalKey{}).(apps.TokenID)
	return t
}

// TokenAuth returns interceptors that require "authorization: Bearer
// <token>" on every call except server reflection: the node's admin token,
// or an app token (looked up with apps, if not nil), which may only pay.
func TokenAuth(token string, apps AppLookup) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	want := []byte("Bearer " + token)
	check := func(ctx context.Context, method string) (context.Context, error) {
		if strings.HasPrefix(method, reflectionPrefix) {
			return ctx, nil
		}
		md, _ := metadata.FromIncomingContext(ctx)
		vals := md.Get("authorization")
		if len(vals) != 1 {
			return nil, status.Error(codes.Unauthenticated, "missing authorization token (authorization: Bearer <token from the node's api.token file>)")
		}
		if subtle.ConstantTimeCompare([]byte(vals[0]), want) == 1 {
			return ctx, nil
		}
		if secret, ok := strings.CutPrefix(vals[0], "Bearer "); ok && apps != nil {
			if id, ok := apps(secret); ok {
				if !appMethods[method] {
					return nil, status.Errorf(codes.PermissionDenied, "app tokens may only pay (not %s)", method)
				}
				return context.WithValue(ctx, principalKey{}, id), nil
			}
		}
		return nil, status.Error(codes.Unauthenticated, "wrong authorization token")
	}
	unary := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		ctx, err := check(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return h(ctx, req)
	}
	stream := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		ctx, err := check(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		return h(srv, &ctxStream{ServerStream: ss, ctx: ctx})
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
