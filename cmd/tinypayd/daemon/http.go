package daemon

import (
	"context"
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
	"google.golang.org/grpc"

	"github.com/tinypay/tinypay/rpc"
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
	}
}

// serveHTTPAPI serves the control API as HTTP/JSON at --http-listen: the
// gateway calls api, the gRPC server of the control API, in process (see
// rpc.InProcess), so that every rule of the gRPC API applies. It writes
// the address to DATADIR/http.addr and returns a function that stops it
// (event streams end at once; other calls get a moment to finish). It
// returns a nil stop when the API is off or the default address is taken
// (a warning); an address the operator gave that fails is an error.
func serveHTTPAPI(c *cli.Command, api *grpc.Server, cert tls.Certificate, dir string, log *slog.Logger) (stop func(), err error) {
	addrPath := filepath.Join(dir, httpAddrFile)
	if err := os.Remove(addrPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	addr := strings.TrimSpace(c.String("http-listen"))
	if addr == "" || strings.EqualFold(addr, "off") {
		log.Info("HTTP/JSON API off")
		return nil, nil
	}
	lis, err := net.Listen("tcp", addr)
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
	if err := writeFileAtomic(addrPath, []byte(lis.Addr().String()+"\n")); err != nil {
		cancel()
		closeConn()
		lis.Close()
		return nil, err
	}
	srv := &http.Server{
		Handler:           gw,
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
