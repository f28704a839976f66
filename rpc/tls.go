package rpc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// The TLS keying-material exporter that binds a Hello to its connection
// (RFC 8446 section 7.5). Its label and length are part of the protocol.
const (
	exporterLabel  = "EXPORTER-tinypay-peer-v1"
	exporterLength = 32
)

// certValidity is the lifetime written into a new certificate. Peers do not
// check it (see serverTLSConfig); it only has to be plausible.
const certValidity = 20 * 365 * 24 * time.Hour

// LoadOrCreateCertificate returns the node's self-signed TLS certificate
// from certFile and keyFile (PEM), creating what is missing on first start:
// an ECDSA P-256 key (mode 0600) and a self-signed certificate for it
// (names "localhost", 127.0.0.1 and ::1). A certificate without its key is
// an error, and so is a key file that others may read or write
// (ErrInsecureKeyFile). Parent directories are created with mode 0700.
//
// The certificate is not the node's identity; see the package doc.
func LoadOrCreateCertificate(certFile, keyFile string) (tls.Certificate, error) {
	keyPEM, err := readKeyFile(keyFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, err := os.Stat(certFile); err == nil {
			return tls.Certificate{}, fmt.Errorf("TLS certificate %s exists without its key %s", certFile, keyFile)
		}
		if keyPEM, err = createKeyFile(keyFile); err != nil {
			return tls.Certificate{}, err
		}
	case err != nil:
		return tls.Certificate{}, err
	}
	certPEM, err := os.ReadFile(certFile)
	if errors.Is(err, fs.ErrNotExist) {
		certPEM, err = createCertFile(certFile, keyPEM)
	}
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("TLS certificate: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	return cert, nil
}

// readKeyFile reads a key file after checking that only its owner can
// access it.
func readKeyFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("TLS key %s is not a regular file", path)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %v, want 0600", ErrInsecureKeyFile, path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("TLS key: %w", err)
	}
	return b, nil
}

func createKeyFile(path string) ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate TLS key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode TLS key: %w", err)
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := writeFileAtomic(path, b); err != nil {
		return nil, fmt.Errorf("write TLS key: %w", err)
	}
	return b, nil
}

func createCertFile(path string, keyPEM []byte) ([]byte, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, errors.New("TLS key file holds no PEM block")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse TLS key: %w", err)
	}
	signer, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("TLS key is a %T, want ECDSA", key)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "tinypay node"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &signer.PublicKey, signer)
	if err != nil {
		return nil, fmt.Errorf("create TLS certificate: %w", err)
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := writeFileAtomic(path, b); err != nil {
		return nil, err
	}
	return b, nil
}

// writeFileAtomic writes data to path with mode 0600 through a synced
// temporary file and a rename, so a crash never leaves a partial file.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*") // mode 0600
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil { // persist the rename where supported
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// serverTLSConfig accepts any client (none needs a certificate) and serves
// the node's self-signed certificate, TLS 1.3 only.
//
// Nothing here authenticates anybody, on purpose: a node's identity is its
// secp256k1 key, proven by the Hello each side signs over this connection's
// exported keying material. A man in the middle terminating TLS holds two
// sessions with two different exporters, so it can neither forge a Hello
// nor relay one. TLS provides confidentiality, integrity and that exporter.
func serverTLSConfig(cert *tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		MaxVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{*cert},
		ClientAuth:   tls.NoClientCert,
	}
}

// clientTLSConfig accepts whatever certificate the listener presents: see
// serverTLSConfig for why that is safe here. TLS 1.3 only, so the exporter
// is always available and bound to the full handshake.
func clientTLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		MaxVersion: tls.VersionTLS13,
		// Identity is the node key proven in the Hello, not the certificate.
		InsecureSkipVerify: true, //nolint:gosec // see serverTLSConfig
	}
}

// exporter returns this connection's keying material for the Hello.
func exporter(cs *tls.ConnectionState) ([]byte, error) {
	if !cs.HandshakeComplete || cs.Version != tls.VersionTLS13 {
		return nil, fmt.Errorf("%w: connection is not TLS 1.3", ErrHandshake)
	}
	ekm, err := cs.ExportKeyingMaterial(exporterLabel, nil, exporterLength)
	if err != nil {
		return nil, fmt.Errorf("%w: export keying material: %v", ErrHandshake, err)
	}
	return ekm, nil
}

// streamExporter returns the keying material of the TLS connection a gRPC
// stream runs on, from the peer gRPC put in the stream's context. On the
// client that context belongs to the transport the stream was opened on
// (reading it also commits the stream to that transport: no transparent
// retry can move it); on the server it is the accepted connection.
func streamExporter(ctx context.Context) ([]byte, *peer.Peer, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, nil, fmt.Errorf("%w: stream has no peer information", ErrHandshake)
	}
	var cs *tls.ConnectionState
	switch ai := p.AuthInfo.(type) {
	case credentials.TLSInfo:
		cs = &ai.State
	case *serverAuthInfo:
		cs = &ai.State
	default:
		return nil, nil, fmt.Errorf("%w: stream is not over TLS (%T)", ErrHandshake, p.AuthInfo)
	}
	ekm, err := exporter(cs)
	return ekm, p, err
}

// serverCreds are gRPC's TLS credentials plus the admission of connections
// (connLimiter): a connection beyond the limit is closed before TLS, and
// each admitted one carries its guard in its AuthInfo so that the stream
// handler can mark it authenticated.
type serverCreds struct {
	credentials.TransportCredentials
	lim *connLimiter
}

// serverAuthInfo is credentials.TLSInfo plus the connection's guard.
type serverAuthInfo struct {
	credentials.TLSInfo
	guard *connGuard
}

func newServerCreds(cert *tls.Certificate, lim *connLimiter) *serverCreds {
	return &serverCreds{TransportCredentials: credentials.NewTLS(serverTLSConfig(cert)), lim: lim}
}

func (c *serverCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	g, ok := c.lim.admit(raw)
	if !ok {
		return nil, nil, ErrTooManyUnauthenticated // gRPC closes raw
	}
	conn, ai, err := c.TransportCredentials.ServerHandshake(raw)
	if err != nil {
		g.closed()
		return nil, nil, err
	}
	info, ok := ai.(credentials.TLSInfo)
	if !ok {
		g.closed()
		_ = conn.Close()
		return nil, nil, fmt.Errorf("unexpected TLS auth info %T", ai)
	}
	return &guardedConn{Conn: conn, g: g}, &serverAuthInfo{TLSInfo: info, guard: g}, nil
}

func (c *serverCreds) Clone() credentials.TransportCredentials {
	return &serverCreds{TransportCredentials: c.TransportCredentials.Clone(), lim: c.lim}
}
