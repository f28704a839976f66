package rpc

import (
	"bytes"
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestLoadOrCreateCertificate(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, cert, key string) // before the second call
		wantErr error                                // nil: success; errAny: some error
		same    bool                                 // the second call returns the first certificate
	}{
		// Reused after the first start.
		{"reuse", nil, nil, true},
		// A lost certificate is made again from the key.
		{"certificate lost", func(t *testing.T, cert, _ string) { mustRemove(t, cert) }, nil, false},
		// A certificate whose key is lost is not silently replaced.
		{"key lost", func(t *testing.T, _, key string) { mustRemove(t, key) }, errAny, false},
		// A key others can read is refused.
		{"key readable by others", func(t *testing.T, _, key string) { mustChmod(t, key, 0o644) }, ErrInsecureKeyFile, false},
		// A key others can write is refused.
		{"key writable by group", func(t *testing.T, _, key string) { mustChmod(t, key, 0o620) }, ErrInsecureKeyFile, false},
		// A key that is not PEM.
		{"key garbage", func(t *testing.T, _, key string) { mustWrite(t, key, []byte("garbage")) }, errAny, false},
		// A certificate of another key.
		{"mismatched pair", func(t *testing.T, cert, _ string) {
			dir := t.TempDir()
			if _, err := LoadOrCreateCertificate(filepath.Join(dir, "c"), filepath.Join(dir, "k")); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(filepath.Join(dir, "c"))
			mustWrite(t, cert, b)
		}, errAny, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if runtime.GOOS == "windows" && errors.Is(tt.wantErr, ErrInsecureKeyFile) {
				t.Skip("no POSIX modes")
			}
			dir := filepath.Join(t.TempDir(), "data", "tls") // created on demand
			certFile, keyFile := filepath.Join(dir, "peer.crt"), filepath.Join(dir, "peer.key")
			first, err := LoadOrCreateCertificate(certFile, keyFile)
			if err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(keyFile); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600) {
				t.Fatalf("key file: %v, %v", fi.Mode(), err)
			}
			if fi, err := os.Stat(dir); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o700) {
				t.Fatalf("dir: %v, %v", fi.Mode(), err)
			}
			if tt.prepare != nil {
				tt.prepare(t, certFile, keyFile)
			}
			second, err := LoadOrCreateCertificate(certFile, keyFile)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("second load: %v", err)
			case tt.wantErr == errAny && err == nil, tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("second load: %v, want %v", err, tt.wantErr)
			case tt.wantErr != nil:
				return
			}
			if got := bytes.Equal(first.Certificate[0], second.Certificate[0]); got != tt.same {
				t.Fatalf("same certificate: %v, want %v", got, tt.same)
			}
		})
	}
}

var errAny = errors.New("any error")

func mustRemove(t *testing.T, p string) {
	t.Helper()
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
}

func mustChmod(t *testing.T, p string, m os.FileMode) {
	t.Helper()
	if err := os.Chmod(p, m); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// The listener speaks TLS 1.3 only, and each session exports different
// keying material.
func TestTLSVersionAndExporter(t *testing.T) {
	lis, err := tls.Listen("tcp", "127.0.0.1:0", serverTLSConfig(sharedCert(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); _, _ = c.Read(make([]byte, 1)); c.Close() }()
		}
	}()

	old := &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12} //nolint:gosec // test
	if c, err := tls.Dial("tcp", lis.Addr().String(), old); err == nil {
		c.Close()
		t.Fatal("TLS 1.2 handshake succeeded")
	}

	ekms := make([][]byte, 2)
	for i := range ekms {
		c, err := tls.Dial("tcp", lis.Addr().String(), clientTLSConfig())
		if err != nil {
			t.Fatal(err)
		}
		cs := c.ConnectionState()
		if ekms[i], err = exporter(&cs); err != nil || len(ekms[i]) != exporterLength {
			t.Fatalf("exporter: %x, %v", ekms[i], err)
		}
		c.Close()
	}
	if bytes.Equal(ekms[0], ekms[1]) {
		t.Fatal("two sessions exported the same keying material")
	}
	var cs tls.ConnectionState // not a completed TLS 1.3 handshake
	if _, err := exporter(&cs); !errors.Is(err, ErrHandshake) {
		t.Fatalf("exporter of an unfinished handshake: %v", err)
	}
}
