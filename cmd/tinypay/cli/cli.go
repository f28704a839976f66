// Package cli is the tinypay command line: a thin client of a node's control
// API, one file per command group.
package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/apiutil"
)

// Exit codes.
const (
	ExitOK          = 0
	ExitFailed      = 1 // the node refused or the operation failed
	ExitUsage       = 2 // bad command line
	ExitUnavailable = 3 // the node could not be reached
	ExitAuth        = 4 // the token was refused
)

type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// Main runs the CLI and returns its exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := Command(stdout, stderr).Run(ctx, args)
	if err == nil {
		return ExitOK
	}
	printError(stderr, err)
	return exitCode(err)
}

// printError prints err for a person; it may carry a peer's text, which is
// escaped (see safe).
func printError(w io.Writer, err error) { fmt.Fprintln(w, "tinypay:", safe(errorText(err))) }

func errorText(err error) string {
	if st, ok := status.FromError(err); ok && st.Code() != codes.Unknown {
		return fmt.Sprintf("%s (%s)", st.Message(), st.Code())
	}
	return err.Error()
}

func exitCode(err error) int {
	var ue usageError
	var ec ucli.ExitCoder
	if errors.As(err, &ue) || errors.As(err, &ec) { // ExitCoder: the library's own, e.g. an unknown command
		return ExitUsage
	}
	if st, ok := status.FromError(err); ok {
		switch st.Code() {
		case codes.Unavailable, codes.DeadlineExceeded:
			return ExitUnavailable
		case codes.Unauthenticated, codes.PermissionDenied:
			return ExitAuth
		case codes.InvalidArgument:
			return ExitUsage
		}
	}
	return ExitFailed
}

func defaultDataDir() string {
	if d := os.Getenv("TINYPAY_DATADIR"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".tinypay"
	}
	return filepath.Join(home, ".tinypay")
}

// Command returns the root command.
func Command(stdout, stderr io.Writer) *ucli.Command {
	return &ucli.Command{
		Name:  "tinypay",
		Usage: "operate a tinypay node: peers, channels, payments, offers and receipts, streams, app tokens",
		Description: `tinypay talks to a running tinypayd over its control API. By default it finds
the API address, token and TLS certificate in the node's data directory.

Amounts are written in the asset's units with its symbol ("0.5 ETH", "0.0001 USD"),
or as a plain integer of base units (wei, or the token's smallest unit) where only
one asset can be meant: a payment through a named channel, or to a peer whose
channels are all in one asset. A dot marks decimals; no commas, signs or exponents.

In the examples, CHANNEL, OFFER, RECEIPT, STREAM and TOKEN stand for what you have
at hand: a channel id (tinypay channel list), the string "tinypay offer create"
printed, the receipt "tinypay pay" printed, a stream id, an app token id. The
address 0xFcd1...762E is dev-chain account 1 (tinypay-devchain, default seed).

Examples:
   tinypay info
   tinypay peer connect 127.0.0.1:9735
   tinypay channel open 0xFcd1463D08CC5a0B5509C2ABa78373E5b5E3762E 10 USD
   tinypay pay 0xFcd1463D08CC5a0B5509C2ABa78373E5b5E3762E 0.0001 USD --item song-42
   tinypay offer create article-7 0.25 USD          # as the seller
   tinypay pay --offer OFFER                          # as the buyer
   tinypay receipt verify RECEIPT                     # anyone, offline
   tinypay stream start 0xFcd1463D08CC5a0B5509C2ABa78373E5b5E3762E "0.001 USD/s" --budget "1 USD"
   tinypay watch
   tinypay channel close CHANNEL
   tinypay wallet send ADDRESS 25 USD                  # earnings out, on chain`,
		Writer: stdout, ErrWriter: stderr,
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "datadir", Usage: "the node's data directory", Value: defaultDataDir(), Sources: ucli.EnvVars("TINYPAY_DATADIR")},
			&ucli.StringFlag{Name: "api", Usage: "control API address (default: from DATADIR/api.addr)", Sources: ucli.EnvVars("TINYPAY_API")},
			&ucli.StringFlag{Name: "token-file", Usage: "API token file (default: DATADIR/api.token)", Sources: ucli.EnvVars("TINYPAY_TOKEN_FILE")},
			&ucli.StringFlag{Name: "tls-cert", Usage: "the node's TLS certificate to trust (default: DATADIR/tls.crt)", Sources: ucli.EnvVars("TINYPAY_TLS_CERT")},
			&ucli.BoolFlag{Name: "json", Usage: "print JSON instead of text"},
			&ucli.DurationFlag{Name: "timeout", Usage: "give up after this long", Value: 2 * time.Minute},
		},
		Commands: []*ucli.Command{
			infoCommand(), balanceCommand(), peerCommand(), channelCommand(), payCommand(), paymentsCommand(), eventsCommand(),
			offerCommand(), receiptCommand(), streamCommand(), tokenCommand(), revenueCommand(), watchCommand(),
			paywallCommand(), fetchCommand(), walletCommand(), backupCommand(),
		},
		OnUsageError: func(ctx context.Context, c *ucli.Command, err error, sub bool) error { return usageError{err} },
		// Exit codes are ours (Main); the library must not call os.Exit.
		ExitErrHandler: func(context.Context, *ucli.Command, error) {},
	}
}

// client is a connection to the node's control API.
type client struct {
	apiv1.NodeClient
	conn *grpc.ClientConn
	out  io.Writer
	json bool
}

func (c *client) Close() { c.conn.Close() }

func dial(cmd *ucli.Command) (*client, error) {
	dir := cmd.String("datadir")
	addr := cmd.String("api")
	if addr == "" {
		raw, err := os.ReadFile(filepath.Join(dir, "api.addr"))
		if err != nil {
			return nil, status.Errorf(codes.Unavailable, "no node API address: is tinypayd running with --datadir %s? (or pass --api): %v", dir, err)
		}
		addr = strings.TrimSpace(string(raw))
	}
	tokenPath := cmd.String("token-file")
	if tokenPath == "" {
		tokenPath = filepath.Join(dir, "api.token")
	}
	token, err := loadToken(tokenPath)
	if err != nil {
		return nil, usagef("%v", err)
	}
	certPath := cmd.String("tls-cert")
	if certPath == "" {
		certPath = filepath.Join(dir, "tls.crt")
	}
	pem, err := os.ReadFile(certPath)
	if err != nil {
		return nil, usagef("node TLS certificate: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, usagef("node TLS certificate %s: no PEM certificate", certPath)
	}
	creds := credentials.NewTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13, ServerName: "localhost"})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds), grpc.WithPerRPCCredentials(apiutil.TokenCredentials(token)))
	if err != nil {
		return nil, err
	}
	return &client{NodeClient: apiv1.NewNodeClient(conn), conn: conn, out: cmd.Root().Writer, json: cmd.Bool("json")}, nil
}

// loadToken reads the API token from a file only its owner can read: the
// node's admin token (DATADIR/api.token), or the secret of an app token
// ("tpapp_...", from `tinypay token create`).
func loadToken(path string) (string, error) { return apiutil.LoadToken(path) }

// withClient runs f with a connected client and the command's timeout.
func withClient(f func(ctx context.Context, cmd *ucli.Command, c *client) error) ucli.ActionFunc {
	return func(ctx context.Context, cmd *ucli.Command) error {
		c, err := dial(cmd)
		if err != nil {
			return err
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(ctx, cmd.Duration("timeout"))
		defer cancel()
		return f(ctx, cmd, c)
	}
}

// withLiveClient is withClient for commands that keep watching (events
// --follow, watch): the --timeout applies only when it is set explicitly.
func withLiveClient(f func(ctx context.Context, cmd *ucli.Command, c *client) error) ucli.ActionFunc {
	return func(ctx context.Context, cmd *ucli.Command) error {
		c, err := dial(cmd)
		if err != nil {
			return err
		}
		defer c.Close()
		if cmd.IsSet("timeout") {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, cmd.Duration("timeout"))
			defer cancel()
		}
		return f(ctx, cmd, c)
	}
}

// printJSON prints a message as JSON.
func (c *client) printJSON(m proto.Message) error {
	b, err := protojson.MarshalOptions{Multiline: true, EmitUnpopulated: true}.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(c.out, string(b))
	return err
}

// pageSizeFlag is the list commands' hidden --page-size: how many entries
// to ask the node for at a time (tests use small pages).
func pageSizeFlag() ucli.Flag {
	return &ucli.Uint64Flag{Name: "page-size", Hidden: true, Usage: "entries per request (0: the node's default, or --limit if smaller)"}
}

// pageSize is the page size a list command asks for: --page-size, or else
// the limit if that is smaller than a page (0: the node's default).
func pageSize(cmd *ucli.Command, limit uint64) int32 {
	n := cmd.Uint64("page-size")
	if n == 0 && limit > 0 && limit < 500 {
		n = limit
	}
	return int32(min(n, 1000))
}

// printf prints for a person: text arguments are escaped (see safe).
func (c *client) printf(format string, args ...any) { fprintf(c.out, format, args...) }

// args returns exactly n positional arguments or a usage error.
func args(cmd *ucli.Command, min, max int) ([]string, error) {
	a := cmd.Args().Slice()
	if len(a) < min || len(a) > max {
		want := cmd.ArgsUsage
		if want == "" {
			want = "no arguments"
		}
		return nil, usagef("%s: want %s; see `%s --help`", cmd.FullName(), want, cmd.FullName())
	}
	return a, nil
}
