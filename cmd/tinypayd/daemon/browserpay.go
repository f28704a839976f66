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
	"google.golang.org/grpc"

	"github.com/tinypay/tinypay/apps"
	"github.com/tinypay/tinypay/node"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc"
	"github.com/tinypay/tinypay/web/browserpay"
)

// browserAddrFile holds the address of the browser endpoint while the
// node serves it.
const browserAddrFile = "browser.addr"

func browserFlags(cf configFile) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "browser-listen", Sources: cf.sources("browser-listen"),
			Usage: "serve the browser endpoint at http://ADDR, a loopback address (e.g. 127.0.0.1:9739): the pages of sites you approve there ask this node to pay them, within a budget per site (the README's \"Paying from a browser\"); off unless set; port 0 picks a free one (DATADIR/" + browserAddrFile + " says which)"},
	}
}

// loopbackAddr checks that addr is host:port with a loopback host (an IP
// address or localhost).
func loopbackAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--browser-listen %q: want host:port, e.g. 127.0.0.1:9739", addr)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--browser-listen %q: the browser endpoint is plain HTTP and pays from this node, so it listens on loopback only (127.0.0.1:9739)", addr)
	}
	return nil
}

// serveBrowser serves the browser endpoint (package web/browserpay) at
// --browser-listen, if set: it pays as the sites the reader approved
// through the application layer, and calls the control API (api, in
// process, as the admin) for the rest. It writes DATADIR/browser.addr
// and returns a function that stops it and the streams it pays.
func serveBrowser(c *cli.Command, api *grpc.Server, cert tls.Certificate, admin string, a *apps.Apps, n *node.Node, dir string, log *slog.Logger) (stop func(), err error) {
	addrPath := filepath.Join(dir, browserAddrFile)
	if err := os.Remove(addrPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	addr := strings.TrimSpace(c.String("browser-listen"))
	if addr == "" || strings.EqualFold(addr, "off") {
		return nil, nil
	}
	if err := loopbackAddr(addr); err != nil {
		return nil, err
	}
	lis, err := listenBounded(addr) // pages open connections too: at most maxAPIConnections at once
	if err != nil {
		return nil, fmt.Errorf("browser endpoint listener (--browser-listen %s): %w", addr, err)
	}
	conn, closeConn, err := rpc.InProcess(api, cert, grpc.WithPerRPCCredentials(rpc.TokenCredentials(admin)))
	if err != nil {
		lis.Close()
		return nil, err
	}
	cfg := browserpay.DefaultConfig()
	cfg.Logger = log.With("component", "browser")
	isAdmin := func(secret string) bool { return subtle.ConstantTimeCompare([]byte(secret), []byte(admin)) == 1 }
	h, err := browserpay.New(lis.Addr().String(), cfg, siteWallet{a, n}, apiv1.NewNodeClient(conn), isAdmin)
	if err != nil {
		closeConn()
		lis.Close()
		return nil, err
	}
	if err := writeFileAtomic(addrPath, []byte(lis.Addr().String()+"\n")); err != nil {
		h.Close()
		closeConn()
		lis.Close()
		return nil, err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() {
		if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("browser endpoint", "err", err)
		}
	}()
	log.Info("browser endpoint listening", "url", "http://"+lis.Addr().String()+"/")
	return func() {
		sctx, done := context.WithTimeout(context.Background(), 3*time.Second)
		defer done()
		if srv.Shutdown(sctx) != nil {
			srv.Close()
		}
		h.Close()
		closeConn()
		os.Remove(addrPath)
	}, nil
}

// siteWallet is the browser endpoint's wallet: the application layer's
// approvals, payments and streams, with the payee's receipt in the API's
// form.
type siteWallet struct {
	a *apps.Apps
	n *node.Node
}

var _ browserpay.Wallet = siteWallet{}

func (w siteWallet) Site(origin string) (apps.AppToken, bool) { return w.a.Site(origin) }

func (w siteWallet) ApproveSite(ctx context.Context, s apps.SiteApproval) (apps.AppToken, error) {
	return w.a.ApproveSite(ctx, s)
}

// PayOffer pays r's offer. An offer this site paid before (its page
// asks again: it lost the first answer, or the site did not serve the
// page) is not paid again, and is answered with that payment's receipt.
func (w siteWallet) PayOffer(ctx context.Context, r apps.PayRequest) (*apiv1.Receipt, error) {
	p, err := w.a.Pay(ctx, r)
	var paid *apps.OfferPaidError
	if errors.As(err, &paid) && paid.Payment.Complete && paid.Payment.Token == r.Token && !r.Token.IsZero() {
		p, err = paid.Payment, nil
	}
	if err != nil {
		return nil, err
	}
	c, err := w.n.Channel(p.Channel)
	if err != nil {
		return nil, err
	}
	rc := rpc.ReceiptMsg(w.n.Info(), p, w.n.Address(), c.Asset.Address)
	if rc == nil {
		return nil, fmt.Errorf("paid (payment %x) but the payee sent no receipt", p.ID[:8])
	}
	return rc, nil
}

func (w siteWallet) StartStream(ctx context.Context, r apps.StreamRequest) (apps.StreamInfo, error) {
	return w.a.StartStream(ctx, r)
}

func (w siteWallet) StopStream(id [16]byte, token apps.TokenID) (apps.StreamInfo, error) {
	return w.a.StopStream(id, token)
}

func (w siteWallet) Stream(id [16]byte) (apps.StreamInfo, error) { return w.a.Stream(id) }
