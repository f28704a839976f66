package sdk_test

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/node/nodetest"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/sdk"
)

func dial(t *testing.T, cfg sdk.Config) *sdk.Client {
	t.Helper()
	c, err := sdk.Dial(testCtx(t), cfg)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // umask
		t.Fatal(err)
	}
	return path
}

func TestDialDataDir(t *testing.T) {
	c := dial(t, sdk.Config{DataDir: aliceDir})
	info, err := c.Info(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if info.Address != alice.Key.Address().Hex() || info.ChainID == 0 {
		t.Fatalf("info %+v", info)
	}
	usd, ok := info.Assets.Lookup("usd")
	if !ok || usd.Decimals != 6 || !strings.EqualFold(usd.Address, alice.USD.Hex()) {
		t.Fatalf("assets %+v", info.Assets)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Info(testCtx(t)); !errors.Is(err, sdk.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// An app holds an app token, the node's address and its certificate: it
// may pay, and nothing else.
func TestDialAppToken(t *testing.T) {
	ctx := testCtx(t)
	admin := dial(t, sdk.Config{DataDir: aliceDir})
	created, err := admin.API().CreateToken(ctx, &apiv1.CreateTokenRequest{Name: "player", Policy: &apiv1.TokenPolicy{
		Asset: "USD", Limit: "1000000", PeriodSeconds: 3600,
	}})
	if err != nil {
		t.Fatal(err)
	}
	addr, cert := readFile(t, filepath.Join(aliceDir, sdk.AddrFile)), filepath.Join(aliceDir, sdk.CertFile)
	tokenFile := writeFile(t, filepath.Join(t.TempDir(), "app.token"), created.GetSecret()+"\n", 0o600)
	for name, cfg := range map[string]sdk.Config{
		"token":      {Addr: addr, Token: created.GetSecret(), CertFile: cert},
		"token file": {Addr: addr, TokenFile: tokenFile, CertFile: cert},
	} {
		t.Run(name, func(t *testing.T) {
			app := dial(t, cfg)
			p, err := app.Pay(ctx, sdk.PayRequest{Channel: aliceBob, Amount: uint256.NewInt(3)})
			if err != nil {
				t.Fatal(err)
			}
			if !p.Complete || p.Amount.Uint64() != 3 || p.Key == "" {
				t.Fatalf("payment %+v", p)
			}
			if _, err := app.Channels(ctx, sdk.ChannelFilter{}); !errors.Is(err, sdk.ErrPermissionDenied) {
				t.Fatalf("an app token lists channels: %v", err)
			}
		})
	}
}

func TestDialErrors(t *testing.T) {
	addr := readFile(t, filepath.Join(aliceDir, sdk.AddrFile))
	cert := filepath.Join(aliceDir, sdk.CertFile)
	token := alice.AdminToken()
	dir := t.TempDir()
	empty := t.TempDir()
	noToken := t.TempDir()
	writeFile(t, filepath.Join(noToken, sdk.AddrFile), addr+"\n", 0o600)
	loose := writeFile(t, filepath.Join(dir, "loose.token"), token, 0o644)
	garbageCert := writeFile(t, filepath.Join(dir, "garbage.crt"), "not a certificate", 0o644)
	closed := closedAddr(t)
	stopped := nodetest.Start(t, chain, "mallory", chain.Mallory)
	stopped.Stop()

	for _, tc := range []struct {
		name string
		cfg  sdk.Config
		want []error // every one must match
		text string  // the message must mention it
	}{
		// Nothing says where the node is.
		{"empty config", sdk.Config{}, []error{sdk.ErrConfig}, "DataDir"},
		// Two tokens is one too many.
		{"token and token file", sdk.Config{Addr: addr, Token: token, TokenFile: loose}, []error{sdk.ErrConfig}, "not both"},
		// A token with a newline would corrupt the header.
		{"token with a newline", sdk.Config{Addr: addr, Token: token + "\nx"}, []error{sdk.ErrConfig}, "one line"},
		// A data dir without api.addr: the node is not running there.
		{"empty data dir", sdk.Config{DataDir: empty}, []error{sdk.ErrUnavailable, fs.ErrNotExist}, "api.addr"},
		// api.addr but no api.token.
		{"no token file", sdk.Config{DataDir: noToken}, []error{sdk.ErrConfig, fs.ErrNotExist}, "api.token"},
		// A token file others can read is refused, as the CLI refuses it.
		{"token readable by others", sdk.Config{Addr: addr, TokenFile: loose, CertFile: cert}, []error{sdk.ErrConfig}, "chmod 600"},
		// The certificate file is missing.
		{"no certificate", sdk.Config{Addr: addr, Token: token, CertFile: filepath.Join(empty, "tls.crt")}, []error{sdk.ErrConfig, fs.ErrNotExist}, "certificate"},
		// The certificate file holds no certificate.
		{"garbage certificate", sdk.Config{Addr: addr, Token: token, CertFile: garbageCert}, []error{sdk.ErrConfig}, "PEM"},
		// Another node's certificate: TLS refuses alice's.
		{"wrong certificate", sdk.Config{Addr: addr, Token: token, CertFile: filepath.Join(bobDir, sdk.CertFile)}, []error{sdk.ErrUnavailable}, "certificate"},
		// The node refuses the token.
		{"wrong token", sdk.Config{Addr: addr, Token: strings.Repeat("ab", 32), CertFile: cert}, []error{sdk.ErrUnauthenticated}, "token"},
		// Nobody listens there.
		{"unreachable", sdk.Config{Addr: closed, Token: token, CertFile: cert}, []error{sdk.ErrUnavailable}, "unreachable"},
		// The node of this data dir has stopped: api.addr is stale.
		{"stopped node", sdk.Config{DataDir: stopped.Dir}, []error{sdk.ErrUnavailable}, "is tinypayd running"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			c, err := sdk.Dial(testCtx(t), tc.cfg)
			if err == nil {
				c.Close()
				t.Fatal("Dial succeeded")
			}
			t.Log(err)
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("error %q does not match %v", err, w)
				}
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q does not mention %q", err, tc.text)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %s to fail", d)
			}
		})
	}
}

// closedAddr returns a loopback address nobody listens on.
func closedAddr(t *testing.T) string {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

// A client dialed by data dir follows its node across a restart, though
// the control API comes back on another port.
func TestDialFollowsRestart(t *testing.T) {
	n := nodetest.Start(t, chain, "mallory", chain.Mallory)
	c := dial(t, sdk.Config{DataDir: n.Dir})
	before := readFile(t, filepath.Join(n.Dir, sdk.AddrFile))
	n.Restart()
	if after := readFile(t, filepath.Join(n.Dir, sdk.AddrFile)); after == before {
		t.Logf("the API came back on the same address %s", after)
	}
	nodetest.Eventually(t, "the client reaches the restarted node", func() bool {
		_, err := c.Info(testCtx(t))
		return err == nil
	})
}

// TestCallRightAfterRestart: a call made right after the node came back
// (here on another port) failed at once with ErrUnavailable while gRPC
// waited out its backoff from the attempts made while the node was down.
// A client dialled by data directory now redials at once and waits a
// little for the node, so the first call succeeds.
func TestCallRightAfterRestart(t *testing.T) {
	n := nodetest.Start(t, chain, "mallory", chain.Mallory)
	c := dial(t, sdk.Config{DataDir: n.Dir})
	for i := range 2 {
		n.Stop()
		for range 2 { // each failed attempt lengthens gRPC's backoff
			if _, err := c.Info(testCtx(t)); !errors.Is(err, sdk.ErrUnavailable) {
				t.Fatalf("a call to the stopped node: %v, want ErrUnavailable", err)
			}
		}
		n.Restart()
		if _, err := c.Info(testCtx(t)); err != nil {
			t.Fatalf("the first call after restart %d: %v", i+1, err)
		}
	}
}
