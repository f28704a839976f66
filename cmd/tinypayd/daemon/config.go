package daemon

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/urfave/cli/v3"
)

// configFile holds the values of a TOML config file whose keys are flag
// names (datadir = "...", peer-listen = "...", asset = ["USD=0x...:6"]).
type configFile map[string]any

// loadConfig reads the config file named by --config or TINYPAY_CONFIG.
// It runs before flags are parsed, so that file values can be defaults that
// env vars and flags override.
func loadConfig(args []string) (configFile, error) {
	path := os.Getenv("TINYPAY_CONFIG")
	for i, a := range args {
		switch {
		case a == "--config" && i+1 < len(args):
			path = args[i+1]
		case strings.HasPrefix(a, "--config="):
			path = strings.TrimPrefix(a, "--config=")
		}
	}
	if path == "" {
		return configFile{}, nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	cf := configFile{}
	if err := toml.Unmarshal(raw, &cf); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return cf, nil
}

// source looks a flag up in the config file.
type source struct {
	cf  configFile
	key string
}

func (s source) Lookup() (string, bool) {
	v, ok := s.cf[s.key]
	if !ok {
		return "", false
	}
	switch x := v.(type) {
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, ","), true
	default:
		return fmt.Sprint(x), true
	}
}

func (s source) String() string   { return "config file key " + s.key }
func (s source) GoString() string { return "source{" + s.key + "}" }

// sources is: flag, then env var TINYPAY_<NAME>, then the config file.
func (cf configFile) sources(name string) cli.ValueSourceChain {
	env := "TINYPAY_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	return cli.NewValueSourceChain(cli.EnvVar(env), source{cf, name})
}

// checkKeys refuses config keys that name no flag, so typos are caught.
func (cf configFile) checkKeys(known map[string]bool) error {
	var bad []string
	for k := range cf {
		if !known[k] {
			bad = append(bad, k)
		}
	}
	if len(bad) > 0 {
		return errors.New("config file: unknown keys " + strings.Join(bad, ", "))
	}
	return nil
}
