package pgtest

import "errors"

// ErrNoServer means that the PostgreSQL server binaries are not installed
// (or that this is not Linux, where the package starts servers).
var ErrNoServer = errors.New("pgtest: PostgreSQL server binaries (initdb, postgres) not found; install Debian's postgresql package")
