// Package daemon is tinypayd: it builds the node's real boundaries (the
// badger store, the EVM settlement backend, the gRPC peer transport and
// control API) and runs the node until it is told to stop.
package daemon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v3"
	"golang.org/x/term"

	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/settlement/devchain/devinfo"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// Files in the data directory.
const (
	keyFile   = "key.json"
	tokenFile = "api.token"
	addrFile  = "api.addr"
	certFile  = "tls.crt"
	certKey   = "tls.key"
	dbDir     = "db"

	// metricsAddrFile holds the address the metrics are served at while
	// the node runs with them.
	metricsAddrFile = "metrics.addr"
)

func defaultDataDir() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ".tinypay"
	}
	return filepath.Join(home, ".tinypay")
}

// Main runs tinypayd with args (args[0] is the program name) and returns
// the exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return main(ctx, args, stdin, stdout, stderr, options{})
}

// options are what tests may set that users may not.
type options struct {
	// failpoint, if set, is the node's Config.Failpoint: the crash tests
	// kill the process at a named step with it.
	failpoint func(name string)
}

func main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, opts options) int {
	cf, err := loadConfig(args)
	if err != nil {
		fmt.Fprintln(stderr, "tinypayd:", err)
		return exitUsage
	}
	cmd := command(cf, stdin, stdout, stderr, opts)
	known := map[string]bool{}
	for _, c := range append([]*cli.Command{cmd}, cmd.Commands...) {
		for _, f := range c.Flags {
			for _, n := range f.Names() {
				known[n] = true
			}
		}
	}
	if err := cf.checkKeys(known); err != nil {
		fmt.Fprintln(stderr, "tinypayd:", err)
		return exitUsage
	}
	if err := cmd.Run(ctx, args); err != nil {
		fmt.Fprintln(stderr, "tinypayd:", err)
		var ue usageError
		var ec cli.ExitCoder
		if errors.As(err, &ue) || errors.As(err, &ec) {
			return exitUsage
		}
		return exitError
	}
	return exitOK
}

type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func command(cf configFile, stdin io.Reader, stdout, stderr io.Writer, opts options) *cli.Command {
	dataDir := &cli.StringFlag{Name: "datadir", Usage: "directory for the key, database, TLS certificate and API token", Value: defaultDataDir(), Sources: cf.sources("datadir")}
	passFile := &cli.StringFlag{Name: "passphrase-file", Usage: "file holding the key's passphrase (or set TINYPAY_PASSPHRASE; else you are prompted)", Sources: cli.NewValueSourceChain(source{cf, "passphrase-file"})}
	devFile := &cli.StringFlag{Name: "devchain", Usage: "dev chain file written by tinypay-devchain: sets chain-rpc, chain-id, adjudicator and the USD asset", Sources: cf.sources("devchain")}
	global := []cli.Flag{
		&cli.StringFlag{Name: "config", Usage: "TOML file with flag values (keys are flag names); flags and TINYPAY_* env vars override it"},
		dataDir, passFile,
		&cli.BoolFlag{Name: "allow-readable-passphrase-file", Usage: "use a --passphrase-file that others can read (a warning instead of a refusal)", Sources: cf.sources("allow-readable-passphrase-file")},
		&cli.StringFlag{Name: "log-level", Usage: "debug, info, warn or error", Value: "info", Sources: cf.sources("log-level")},
		&cli.StringFlag{Name: "log-format", Usage: "text or json", Value: "text", Sources: cf.sources("log-format")},
	}
	return &cli.Command{
		Name:  "tinypayd",
		Usage: "the tinypay payment channel node",
		Description: `tinypayd keeps a node key, connects to peers over TLS, and settles channels on an
EVM chain through the tinypay adjudicator contract. Operators and apps talk to it
with the tinypay CLI or the control API (gRPC, TLS, a bearer token from the data dir).

Example, on a local dev chain started with tinypay-devchain:

   tinypayd init --devchain devchain.json --dev-account 1 --passphrase-file pass.txt
   tinypayd run  --devchain devchain.json --passphrase-file pass.txt \
                 --peer-listen 127.0.0.1:9735 --api-listen 127.0.0.1:9736

Every flag can also come from the environment (TINYPAY_<FLAG>, e.g. TINYPAY_DATADIR)
or from a TOML file given with --config.`,
		Flags:  global,
		Writer: stdout, ErrWriter: stderr, Reader: stdin,
		// Exit codes are ours (Main); the library must not call os.Exit.
		ExitErrHandler: func(context.Context, *cli.Command, error) {},
		Commands: []*cli.Command{
			{
				Name:  "init",
				Usage: "create (or import) the node key in the data directory",
				Description: `Creates key.json, an Ethereum keystore v3 file (scrypt, mode 0600), encrypted
with your passphrase. The key's address is the node's identity and its on-chain
account: fund it before opening channels.

Examples:
   tinypayd init                                   # new random key, passphrase prompted
   tinypayd init --import-key-file hexkey.txt      # import a private key (hex)
   tinypayd init --devchain devchain.json --dev-account 1   # a funded dev-chain account`,
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "import-key-file", Usage: "file with a 32-byte private key in hex to import", Sources: cf.sources("import-key-file")},
					devFile,
					&cli.IntFlag{Name: "dev-account", Usage: "import dev account N from the --devchain file", Value: -1, Sources: cf.sources("dev-account")},
					&cli.BoolFlag{Name: "light-kdf", Usage: "cheaper scrypt parameters (tests and dev chains only)", Sources: cf.sources("light-kdf")},
				},
				Action: func(ctx context.Context, c *cli.Command) error { return runInit(c, stdin, stdout) },
			},
			{
				Name:        "address",
				Usage:       "print the node's address",
				Description: "Example:\n   tinypayd address --datadir ~/.tinypay",
				Action: func(ctx context.Context, c *cli.Command) error {
					key, err := unlock(c, stdin)
					if err != nil {
						return err
					}
					fmt.Fprintln(stdout, key.Address().Hex())
					return nil
				},
			},
			runCommand(cf, devFile, stdin, stdout, stderr, opts),
			towerCommand(cf, devFile, stdin, stderr),
			restoreCommand(cf, devFile, stdin, stdout),
		},
	}
}

func runInit(c *cli.Command, stdin io.Reader, stdout io.Writer) error {
	dir := c.String("datadir")
	path := filepath.Join(dir, keyFile)
	if _, err := os.Stat(path); err == nil {
		return usagef("%s already exists; refusing to replace a node key", path)
	}
	var key *crypto.PrivateKey
	var err error
	switch {
	case c.String("import-key-file") != "":
		raw, rerr := os.ReadFile(c.String("import-key-file"))
		if rerr != nil {
			return rerr
		}
		key, err = keyFromHex(strings.TrimSpace(string(raw)))
	case c.Int("dev-account") >= 0:
		if c.String("devchain") == "" {
			return usagef("--dev-account needs --devchain")
		}
		info, rerr := devinfo.Read(c.String("devchain"))
		if rerr != nil {
			return rerr
		}
		key, err = info.Key(int(c.Int("dev-account")))
	default:
		key, err = crypto.GenerateKey()
	}
	if err != nil {
		return err
	}
	pass, err := passphrase(c, stdin, true)
	if err != nil {
		return err
	}
	dev := c.String("devchain") != "" || c.Bool("light-kdf")
	if len(pass) < minPassphrase && !dev {
		return usagef("the passphrase has %d characters; use at least %d (shorter ones are only for dev chains: --devchain or --light-kdf)", len(pass), minPassphrase)
	}
	params := crypto.StandardScrypt
	if c.Bool("light-kdf") {
		params = crypto.LightScrypt
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := crypto.SaveKey(path, key, pass, params); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "node key %s written to %s\n", key.Address().Hex(), path)
	return nil
}

// minPassphrase is the shortest passphrase init takes outside dev chains.
const minPassphrase = 8

func keyFromHex(s string) (*crypto.PrivateKey, error) {
	h, err := crypto.ParseHash(s)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	return crypto.PrivateKeyFromBytes(h[:])
}

// passphrase reads the key's passphrase from --passphrase-file,
// TINYPAY_PASSPHRASE, or the terminal.
func passphrase(c *cli.Command, stdin io.Reader, confirm bool) (string, error) {
	if f := c.String("passphrase-file"); f != "" {
		fi, err := os.Stat(f)
		if err != nil {
			return "", fmt.Errorf("passphrase file: %w", err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			msg := fmt.Sprintf("passphrase file %s has mode %v: other users can read it; chmod 600 %s", f, perm, f)
			if !c.Bool("allow-readable-passphrase-file") {
				return "", usagef("%s (or pass --allow-readable-passphrase-file)", msg)
			}
			fmt.Fprintln(os.Stderr, "warning:", msg)
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("passphrase file: %w", err)
		}
		return strings.TrimRight(string(raw), "\r\n"), nil
	}
	if p, ok := os.LookupEnv("TINYPAY_PASSPHRASE"); ok {
		return p, nil
	}
	f, ok := stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && line == "" {
			return "", errors.New("no passphrase: use --passphrase-file, TINYPAY_PASSPHRASE or a terminal")
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	fmt.Fprint(os.Stderr, "passphrase: ")
	p1, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return "", err
	}
	if confirm {
		fmt.Fprint(os.Stderr, "again: ")
		p2, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(os.Stderr)
		if err != nil {
			return "", err
		}
		if string(p1) != string(p2) {
			return "", errors.New("passphrases differ")
		}
	}
	return string(p1), nil
}

func unlock(c *cli.Command, stdin io.Reader) (*crypto.PrivateKey, error) {
	path := filepath.Join(c.String("datadir"), keyFile)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no node key at %s (run `tinypayd init` first): %w", path, err)
	}
	pass, err := passphrase(c, stdin, false)
	if err != nil {
		return nil, err
	}
	return crypto.LoadKey(path, pass)
}

func newLogger(c *cli.Command, w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", c.String("log-level"))
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch c.String("log-format") {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usagef("--log-format %q: want text or json", c.String("log-format"))
}
