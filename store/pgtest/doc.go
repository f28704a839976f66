// Package pgtest starts a real PostgreSQL server for tests: one per test
// binary, in a temporary directory, from the server binaries of Debian's
// postgresql package (/usr/lib/postgresql/VERSION/bin, or initdb and
// postgres on PATH), and gives each test a database of its own.
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
//	func TestX(t *testing.T) {
//		url := pgtest.NewDatabase(t) // skips if the binaries are missing
//		...
//	}
//
// The server starts with the first NewDatabase, listens on a free
// loopback port and on a unix socket in its directory (the URLs name the
// socket), and stops when Main returns; if the test binary dies first
// (a panic, a timeout), the kernel stops it (the parent-death signal). As
// root, which PostgreSQL refuses to run as, initdb and postgres run as
// the postgres user (Debian's package creates it), in a directory
// chowned to it.
//
// The server runs with fsync off (a test's machine does not lose power):
// a commit is durable against a crash of the client, which is what the
// tests kill. Benchmarks that want fsync call SetFsync.
//
// The package is for tests only; nothing in the product imports it. It
// starts servers on Linux; elsewhere every test that asks for one skips.
package pgtest
