package node

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportArrows checks who may import whom (ARCHITECTURE.md): imports
// point downward only, cmd -> web, rpc -> apps -> node -> channel, settlement,
// store -> crypto; node imports no gRPC (package rpc maps its errors to
// status codes); nothing below rpc imports it.
func TestImportArrows(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "../...").Output()
	if err != nil {
		t.Skipf("go list unavailable: %v", err)
	}
	const mod = "github.com/tinypay/tinypay/"
	// The layers, top down; a package may import its own layer and the
	// layers below.
	layer := func(pkg string) int {
		p := strings.TrimPrefix(pkg, mod)
		switch {
		case strings.HasPrefix(p, "cmd/"), strings.HasPrefix(p, "scripts/"):
			return 0
		case p == "rpc" || strings.HasPrefix(p, "rpc/"), p == "web" || strings.HasPrefix(p, "web/"):
			return 1
		case p == "apps":
			return 2
		case p == "node" || strings.HasPrefix(p, "node/"):
			return 3
		case p == "channel", p == "store", p == "settlement" || strings.HasPrefix(p, "settlement/"):
			return 4
		case p == "crypto", strings.HasPrefix(p, "proto/"):
			return 5
		}
		return -1
	}
	testOnly := map[string]bool{ // test helpers that drive the whole stack
		mod + "node/nodetest": true,
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg, imps := f[0], f[1:]
		from := layer(pkg)
		if from < 0 || testOnly[pkg] {
			continue
		}
		for _, imp := range imps {
			if pkg == mod+"node" && strings.HasPrefix(imp, "google.golang.org/grpc") {
				t.Errorf("node imports %s: gRPC belongs to package rpc", imp)
			}
			if !strings.HasPrefix(imp, mod) {
				continue
			}
			to := layer(imp)
			if to < 0 {
				continue
			}
			if to < from {
				t.Errorf("%s imports %s: imports point downward only", strings.TrimPrefix(pkg, mod), strings.TrimPrefix(imp, mod))
			}
		}
	}
}
