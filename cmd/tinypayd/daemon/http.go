package daemon

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v3"
	"golang.org/x/net/netutil"
	"google.golang.org/grpc"

	"github.com/tinypay/tinypay/apps"
	"github.com/tinypay/tinypay/rpc"
	"github.com/tinypay/tinypay/web/dashboard"
)

// httpAddrFile holds the address of the HTTP/JSON API while the node
// serves it.
const httpAddrFile = "http.addr"

// defaultHTTPListen is where the HTTP/JSON API is served unless
// --http-listen says otherwise: loopback, next to the metrics (9737).
const defaultHTTPListen = "127.0.0.1:9738"

func httpFlags(cf configFile) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "http-listen", Value: defaultHTTPListen, Sources: cf.sources("http-listen"),
			Usage: "serve the control API as HTTP/JSON (HTTPS with the API's certificate and tokens) at ADDR, or \"off\"; if the default address is taken (another node on this machine), the node runs without it and warns, while an address given here must work (port 0 picks a free one; DATADIR/" + httpAddrFile + " says which)"},
		&cli.BoolFlag{Name: "dashboard", Sources: cf.sources("dashboard"),
			Usage: "serve the creator dashboard at https://HTTP-LISTEN/ (needs --http-listen; sign in with the admin token or a view token)"},
	}
}

// serveHTTPAPI serves the control API as HTTP/JSON at --http-listen: the
// gateway calls api, the gRPC server of the control API, in process (see
// rpc.InProcess), so that every rule of the gRPC API applies. It writes
// the address to DATADIR/http.addr and returns a function that stops it
// (event streams end at once; other calls get a moment to finish). It
// returns a nil stop when the API is off or the default address is taken
// (a warning); an address the operator gave that fails is an error.
//
// With --dashboard the same listener also serves the creator dashboard
// (package web/dashboard) at /, and classify tells it which tokens may
// sign in.
func serveHTTPAPI(c *cli.Command, api *grpc.Server, cert tls.Certificate, dir string, classify dashboard.Classifier, log *slog.Logger) (stop func(), err error) {
	addrPath := filepath.Join(dir, httpAddrFile)
	if err := os.Remove(addrPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	addr := strings.TrimSpace(c.String("http-listen"))
	if addr == "" || strings.EqualFold(addr, "off") {
		if c.Bool("dashboard") {
			return nil, errors.New("--dashboard needs the HTTP/JSON API: it is served on that listener (drop --http-listen off, or give it an address)")
		}
		log.Info("HTTP/JSON API off")
		return nil, nil
	}
	lis, err := listenBounded(addr)
	if err != nil {
		if c.IsSet("http-listen") {
			return nil, fmt.Errorf("HTTP/JSON API listener (--http-listen %s): %w", addr, err)
		}
		log.Warn("HTTP/JSON API off: the default address is taken (another node on this machine?); give this one --http-listen ADDR, or off", "addr", addr, "err", err)
		return nil, nil
	}
	conn, closeConn, err := rpc.InProcess(api, cert)
	if err != nil {
		lis.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	gw, err := rpc.NewGateway(ctx, conn, rpc.DefaultGatewayConfig())
	if err != nil {
		cancel()
		closeConn()
		lis.Close()
		return nil, err
	}
	var handler http.Handler = gw
	if c.Bool("dashboard") {
		if handler, err = dashboard.New(gw, classify, dashboard.DefaultConfig()); err != nil {
			cancel()
			closeConn()
			lis.Close()
			return nil, err
		}
	}
	if err := writeFileAtomic(addrPath, []byte(lis.Addr().String()+"\n")); err != nil {
		cancel()
		closeConn()
		lis.Close()
		return nil, err
	}
	srv := &http.Server{
		Handler:           handler,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13},
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() {
		if err := srv.ServeTLS(lis, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("HTTP/JSON API server", "err", err)
		}
	}()
	log.Info("HTTP/JSON API listening", "addr", lis.Addr(), "openapi", "https://"+lis.Addr().String()+"/v1/openapi.json")
	if c.Bool("dashboard") {
		log.Info("dashboard", "url", "https://"+lis.Addr().String()+"/")
	}
	return func() {
		cancel() // event streams end
		sctx, done := context.WithTimeout(context.Background(), 3*time.Second)
		defer done()
		if srv.Shutdown(sctx) != nil {
			srv.Close()
		}
		closeConn()
		os.Remove(addrPath)
	}, nil
}

// classifyTokens says which kind of token a secret is for the dashboard's
// sign-in: the node's admin token, or an app or view token that lookup
// knows.
func classifyTokens(admin string, lookup rpc.AppLookup) dashboard.Classifier {
	return func(secret string) dashboard.Kind {
		if subtle.ConstantTimeCompare([]byte(secret), []byte(admin)) == 1 {
			return dashboard.KindAdmin
		}
		if _, kind, ok := lookup(secret); ok {
			switch kind {
			case apps.KindView:
				return dashboard.KindView
			case apps.KindApp:
				return dashboard.KindApp
			}
		}
		return dashboard.KindNone
	}
}

// maxAPIConnections bounds the connections open at once on each control
// API listener (gRPC and HTTP/JSON), whoever opens them: a stranger who
// can reach the port holds at most that many goroutines and TLS states
// (each also bounded in time by the handshake and header timeouts); more
// wait in the kernel's backlog until one closes.
const maxAPIConnections = 1024

// listenBounded listens on addr, accepting at most maxAPIConnections at
// once.
func listenBounded(addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return netutil.LimitListener(l, maxAPIConnections), nil
}
