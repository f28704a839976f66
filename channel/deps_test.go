package channel

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPure keeps the channel package a pure state machine: no I/O, no clock,
// no goroutines, no network, storage or RPC libraries.
func TestPure(t *testing.T) {
	allowed := map[string]bool{
		"errors":                            true,
		"fmt":                               true,
		"strings":                           true, // amount texts (units.go)
		"github.com/holiman/uint256":        true,
		"github.com/tinypay/tinypay/crypto": true,
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if !allowed[path] {
				t.Errorf("%s imports %q; channel may import only %v", name, path, allowed)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if g, ok := n.(*ast.GoStmt); ok {
				t.Errorf("%s: go statement at %s", name, fset.Position(g.Pos()))
			}
			return true
		})
	}
	// No network, storage, RPC or chain library reaches the package through
	// its dependencies (os and time do, through fmt, but are not imported).
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list unavailable: %v", err)
	}
	// crypto recovers signers with libsecp256k1 through go-ethereum's cgo
	// binding, which brings in go-ethereum's math helpers: a curve library,
	// not a chain one.
	allowedDeps := map[string]bool{
		"github.com/ethereum/go-ethereum/crypto/secp256k1": true,
		"github.com/ethereum/go-ethereum/common/math":      true,
	}
	for _, dep := range strings.Fields(string(out)) {
		if allowedDeps[dep] {
			continue
		}
		for _, bad := range []string{"net", "github.com/dgraph-io/badger", "google.golang.org/grpc", "github.com/ethereum/go-ethereum"} {
			if dep == bad || strings.HasPrefix(dep, bad+"/") {
				t.Errorf("channel depends on %s", dep)
			}
		}
	}
}
