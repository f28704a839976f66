package sdk

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/apiutil"
)

// Files a node keeps in its data directory for API clients.
const (
	AddrFile  = "api.addr"  // host:port of the control API
	TokenFile = "api.token" // the admin token (mode 0600)
	CertFile  = "tls.crt"   // the node's self-signed TLS certificate
)

// Defaults for zero Config fields.
const (
	DefaultTimeout      = time.Minute
	DefaultPollInterval = 200 * time.Millisecond
)

// certServerName is the name in the certificate a node makes for itself.
const certServerName = "localhost"

// maxTokenBytes bounds what is read from a token file.
const maxTokenBytes = 4096

// Config says how to reach a node. DataDir alone is enough for a node on
// this machine; an app with an app token sets Addr, Token (or TokenFile)
// and CertFile. Zero fields take their defaults; explicit fields win over
// what DataDir holds.
type Config struct {
	// DataDir is the node's data directory: the address, admin token and
	// certificate are read from api.addr, api.token and tls.crt in it. The
	// address is re-read on every new connection, so the client follows a
	// node that restarts on another port.
	DataDir string
	// Addr is the control API's host:port (default: DataDir/api.addr).
	Addr string
	// Token is the API token: the node's admin token or an app token's
	// secret ("tpapp_..."). Default: read from TokenFile.
	Token string
	// TokenFile holds the token (default: DataDir/api.token). It must be
	// readable by its owner only.
	TokenFile string
	// CertFile is the node's TLS certificate (PEM), the only one trusted
	// (default: DataDir/tls.crt). Without it and without a DataDir the
	// system's roots are trusted, for a node behind a TLS proxy with a
	// public certificate.
	CertFile string
	// Timeout bounds every call except streams (Subscribe, PayMany) whose
	// context has no deadline, and Dial's check (default DefaultTimeout).
	Timeout time.Duration
	// PollInterval is how often WatchStream asks for a stream's state
	// (default DefaultPollInterval).
	PollInterval time.Duration
	// Logger gets the client's notes (reconnects, retries); nil discards.
	// Tokens are never logged.
	Logger *slog.Logger
}

// DefaultConfig returns a Config with the default timeouts; set DataDir
// (or Addr and a token) before dialing. A zero Config works as well: Dial
// fills in the defaults.
func DefaultConfig() Config {
	return Config{Timeout: DefaultTimeout, PollInterval: DefaultPollInterval}
}

// Validate reports what is missing or contradictory in c, as an error
// matching ErrConfig. It does not read any file.
func (c Config) Validate() error {
	switch {
	case c.DataDir == "" && c.Addr == "":
		return configErr("set DataDir (the node's data directory) or Addr (host:port of its control API)")
	case c.Token != "" && c.TokenFile != "":
		return configErr("set Token or TokenFile, not both")
	case c.Token == "" && c.TokenFile == "" && c.DataDir == "":
		return configErr("set Token or TokenFile (or DataDir, which holds api.token)")
	case c.Token != "" && !validToken(c.Token):
		return configErr("Token must be one line without spaces")
	case c.Timeout < 0 || c.PollInterval < 0:
		return configErr("Timeout and PollInterval must not be negative")
	}
	return nil
}

func configErr(format string, args ...any) error {
	return fmt.Errorf("tinypay: %w: %s", ErrConfig, fmt.Sprintf(format, args...))
}

func validToken(t string) bool {
	return t != "" && len(t) <= maxTokenBytes && !strings.ContainsFunc(t, func(r rune) bool { return r <= ' ' || r == 0x7f })
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Client is a connection to one node's control API. It is safe for
// concurrent use; see the package doc.
type Client struct {
	cfg    Config
	conn   *grpc.ClientConn
	api    apiv1.NodeClient
	log    *slog.Logger
	closed atomic.Bool
	once   sync.Once

	mu     sync.Mutex
	assets Assets // from the last GetInfo
}

// Dial connects to a node and checks the connection and the token with
// one GetInfo call, so that a wrong address, certificate or token shows
// here, with a clear error: ErrConfig for files that are missing or
// unusable, ErrUnavailable when the node does not answer (or DataDir has
// no api.addr: it is not running), ErrUnauthenticated for a refused token.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	addrFile := filepath.Join(cfg.DataDir, AddrFile)
	where := cfg.Addr
	if cfg.Addr == "" { // first, as a node that is not running is the likeliest trouble
		addr, err := readAddr(addrFile)
		if err != nil {
			return nil, err
		}
		where = fmt.Sprintf("%s (from %s)", addr, addrFile)
	}
	token, err := cfg.loadToken()
	if err != nil {
		return nil, err
	}
	tlsCfg, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	target := cfg.Addr
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)),
		grpc.WithPerRPCCredentials(apiutil.TokenCredentials(token)),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
		// Notice a silently dead connection (a long Subscribe would hang
		// otherwise); the node allows pings every 10 s.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 20 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}),
	}
	var await *nodeAwaiter
	if cfg.Addr == "" {
		// The address is looked up on every connection attempt, and a
		// call made while the connection is down redials at once.
		await = &nodeAwaiter{addrFile: addrFile}
		opts = append(opts, grpc.WithChainUnaryInterceptor(await.unary), grpc.WithChainStreamInterceptor(await.stream))
		target = "passthrough:///tinypay-node"
		opts = append(opts, grpc.WithAuthority(certServerName), grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			addr, err := readAddr(addrFile)
			if err != nil {
				return nil, err
			}
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		}))
	}
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, configErr("address %q: %v", where, err)
	}
	if await != nil {
		await.conn = conn
	}
	c := &Client{cfg: cfg, conn: conn, api: apiv1.NewNodeClient(conn), log: cfg.Logger}
	if _, err := c.Info(ctx); err != nil {
		conn.Close()
		switch {
		case errors.Is(err, ErrUnavailable) && strings.Contains(err.Error(), "x509:"):
			return nil, fmt.Errorf("tinypay: node API at %s: TLS refused its certificate (is CertFile that node's tls.crt?): %w", where, err)
		case errors.Is(err, ErrUnavailable):
			return nil, fmt.Errorf("tinypay: node API at %s unreachable (is tinypayd running?): %w", where, err)
		}
		return nil, fmt.Errorf("tinypay: node API at %s: %w", where, err)
	}
	return c, nil
}

// reconnectWait bounds how long a call waits for a node whose connection
// is down, when its api.addr says it runs: about a restart's time.
const reconnectWait = 3 * time.Second

// nodeAwaiter makes a client dialled by data directory follow a node that
// restarts: gRPC fails a call at once (ErrUnavailable) while it waits out
// its backoff from the attempts made while the node was down, even once
// the node is back, perhaps on another port. A call that finds the
// connection failed redials at once and waits for it, up to
// reconnectWait and within its own deadline; if the node's api.addr is
// gone (it stopped), the call fails at once as before. Nothing is sent
// twice: the wait is before the call.
type nodeAwaiter struct {
	addrFile string
	conn     *grpc.ClientConn // set once, before the first call
}

func (a *nodeAwaiter) wait(ctx context.Context) {
	st := a.conn.GetState()
	if st != connectivity.TransientFailure {
		return // ready, or connecting: the call waits for that attempt itself
	}
	if _, err := os.Stat(a.addrFile); err != nil {
		return // not running
	}
	ctx, cancel := context.WithTimeout(ctx, reconnectWait)
	defer cancel()
	a.conn.ResetConnectBackoff()
	for st != connectivity.Ready {
		if !a.conn.WaitForStateChange(ctx, st) {
			return
		}
		st = a.conn.GetState()
	}
}

func (a *nodeAwaiter) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	a.wait(ctx)
	return invoker(ctx, method, req, reply, cc, opts...)
}

func (a *nodeAwaiter) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	a.wait(ctx)
	return streamer(ctx, desc, cc, method, opts...)
}

// readAddr reads an api.addr file.
func readAddr(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("tinypay: %w: no control API address in %s (is tinypayd running with this data directory?): %w", ErrUnavailable, path, err)
	}
	addr := strings.TrimSpace(string(raw))
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", fmt.Errorf("tinypay: %w: %s does not hold host:port: %v", ErrConfig, path, err)
	}
	return addr, nil
}

// loadToken returns the token from the Config or the file it names.
func (c Config) loadToken() (string, error) {
	if c.Token != "" {
		return c.Token, nil
	}
	path := c.TokenFile
	if path == "" {
		path = filepath.Join(c.DataDir, TokenFile)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("tinypay: %w: API token: %w", ErrConfig, err)
	}
	if !fi.Mode().IsRegular() {
		return "", configErr("API token %s is not a regular file", path)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return "", configErr("API token %s has mode %v; it must be readable by its owner only (chmod 600)", path, fi.Mode().Perm())
	}
	if fi.Size() > maxTokenBytes {
		return "", configErr("API token %s is too large to be a token", path)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("tinypay: %w: API token: %w", ErrConfig, err)
	}
	tok := strings.TrimSpace(string(raw))
	if !validToken(tok) {
		return "", configErr("API token %s does not hold a token (one line, no spaces)", path)
	}
	return tok, nil
}

// tlsConfig trusts exactly the node's certificate, or the system's roots
// when there is none to pin.
func (c Config) tlsConfig() (*tls.Config, error) {
	path := c.CertFile
	if path == "" && c.DataDir != "" {
		path = filepath.Join(c.DataDir, CertFile)
	}
	if path == "" {
		return &tls.Config{MinVersion: tls.VersionTLS13}, nil
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tinypay: %w: node TLS certificate: %w", ErrConfig, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, configErr("node TLS certificate %s holds no PEM certificate", path)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13, ServerName: certServerName}, nil
}

// Close closes the connection; calls in progress end with ErrClosed. It
// is safe to call more than once.
func (c *Client) Close() error {
	var err error
	c.once.Do(func() {
		c.closed.Store(true)
		err = c.conn.Close()
	})
	return err
}

// API returns the generated control-API client on the Client's connection,
// for calls this package does not wrap (CreateToken, OpenChannel, ...).
func (c *Client) API() apiv1.NodeClient { return c.api }

// callCtx applies the Config's Timeout to a context without a deadline.
func (c *Client) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.cfg.Timeout)
}

// apiError turns what a call returned into the package's errors.
func (c *Client) apiError(op string, err error) error {
	if err == nil {
		return nil
	}
	if c.closed.Load() {
		return fmt.Errorf("tinypay %s: %w", op, ErrClosed)
	}
	var e *Error
	if errors.As(err, &e) || errors.Is(err, ErrConfig) || errors.Is(err, ErrMalformed) {
		return err
	}
	if st, ok := status.FromError(err); ok {
		return &Error{Op: op, Code: st.Code(), Message: st.Message()}
	}
	return fmt.Errorf("tinypay %s: %w", op, err)
}

// call runs one unary call with the Client's timeout and error mapping.
func call[Req, Resp any](ctx context.Context, c *Client, op string, f func(context.Context, Req, ...grpc.CallOption) (Resp, error), req Req) (Resp, error) {
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := f(ctx, req)
	return resp, c.apiError(op, err)
}
