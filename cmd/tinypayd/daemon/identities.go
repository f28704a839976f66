package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v3"

	"github.com/tinypay/tinypay/rpc"
	"github.com/tinypay/tinypay/rpc/sdk"
)

func identityFlags(cf configFile) []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "operator-identity", Sources: cf.sources("operator-identity"),
			Usage: "another node identity of yours, as [NAME=]DIR, whose revenue `tinypay revenue --all-identities` and the dashboard total with this node's: DIR holds its " +
				sdk.AddrFile + ", " + sdk.TokenFile + " (a view token is enough: tinypay token create --view) and " + sdk.CertFile + " (its data directory, or a copy of those three files); NAME defaults to DIR's last element (repeatable, at most 64)"},
	}
}

// identitiesFromFlags reads run's --operator-identity flags; self is the
// node's own data directory, which may not be one of them.
func identitiesFromFlags(c *cli.Command, self string) ([]rpc.Identity, error) {
	var out []rpc.Identity
	selfAbs, _ := filepath.Abs(self)
	seen := map[string]string{}
	for _, s := range c.StringSlice("operator-identity") {
		s = strings.TrimSpace(s)
		name, dir, named := strings.Cut(s, "=")
		if !named {
			dir = s
			name = filepath.Base(filepath.Clean(dir))
		}
		if name == "" || dir == "" || strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return nil, usagef("--operator-identity %q: want [NAME=]DIR, e.g. shard2=/srv/tinypay/shard2", s)
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, usagef("--operator-identity %s: %v", s, err)
		}
		if abs == selfAbs {
			return nil, usagef("--operator-identity %s is this node's own data directory: its revenue is already in the total", s)
		}
		if other, ok := seen[name]; ok {
			return nil, usagef("--operator-identity: the name %q is given twice (%s and %s): name them, as NAME=DIR", name, other, dir)
		}
		seen[name] = dir
		for _, f := range []string{sdk.TokenFile, sdk.CertFile} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				if errors.Is(err, os.ErrNotExist) {
					return nil, usagef("--operator-identity %s: no %s in %s: give the identity's data directory, or a directory with copies of its %s, %s and %s", s, f, dir, sdk.AddrFile, sdk.TokenFile, sdk.CertFile)
				}
				return nil, usagef("--operator-identity %s: %v", s, err)
			}
		}
		out = append(out, rpc.Identity{Name: name, Config: sdk.Config{DataDir: dir}})
	}
	if len(out) > rpc.MaxIdentities {
		return nil, usagef("--operator-identity is given %d times: at most %d", len(out), rpc.MaxIdentities)
	}
	return out, nil
}

// describeIdentities lists identities for the log.
func describeIdentities(ids []rpc.Identity) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprintf("%s=%s", id.Name, id.Config.DataDir)
	}
	return strings.Join(parts, ", ")
}
