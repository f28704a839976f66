//go:build !linux

package pgtest

import (
	"testing"
	"time"
)

// Main runs the tests of m.
func Main(m *testing.M) int { return m.Run() }

// NewDatabase skips t: servers start on Linux only.
func NewDatabase(t testing.TB) string {
	t.Helper()
	t.Skip(ErrNoServer)
	return ""
}

// Available reports false: servers start on Linux only.
func Available() bool { return false }

// SetFsync skips t: servers start on Linux only.
func SetFsync(t testing.TB, on bool) {
	t.Helper()
	t.Skip(ErrNoServer)
}

// Server is a temporary PostgreSQL server; see the Linux build.
type Server struct{}

// StartServer fails with ErrNoServer: servers start on Linux only.
func StartServer() (*Server, error) { return nil, ErrNoServer }

// Database fails with ErrNoServer.
func (s *Server) Database(name string) (string, error) { return "", ErrNoServer }

// Stop does nothing.
func (s *Server) Stop() error { return nil }

// CPU returns 0.
func (s *Server) CPU() time.Duration { return 0 }

// CPU returns 0.
func CPU() time.Duration { return 0 }
