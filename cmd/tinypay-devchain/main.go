// Command tinypay-devchain runs tinypay's local dev chain: a go-ethereum
// node in dev mode with the adjudicator and a test dollar token deployed
// and dev accounts funded, until interrupted. See package devchain.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tinypay/tinypay/settlement/devchain"
)

const usage = `Usage: tinypay-devchain [flags]

Runs a local Ethereum dev chain for tinypay (chain id 1337, mainnet's fork
schedule through Osaka) with the adjudicator and a test dollar token (USD,
6 decimals) deployed and dev accounts funded with ETH and USD. It serves
JSON-RPC on 127.0.0.1 and writes the endpoint, the contract addresses and
the dev accounts' keys to the --out file, which tinypay nodes read. The keys
are DEV KEYS known to everyone: never use them on a real network.

Chain time advances one second per block; pass a challenge period with
  curl -s -H 'content-type: application/json' \
    -d '{"jsonrpc":"2.0","id":1,"method":"tinypay_advanceTime","params":[3600]}' \
    http://127.0.0.1:8545

Example:
  tinypay-devchain --http-port 8545 --out devchain.json --accounts 4

Flags:
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tinypay-devchain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	def := devchain.DefaultConfig()
	port := fs.Int("http-port", 8545, "JSON-RPC port on 127.0.0.1 (0 picks a free one)")
	out := fs.String("out", "devchain.json", "where to write the chain description (URL, addresses, dev keys); empty: nowhere")
	accounts := fs.Int("accounts", def.Accounts, "number of funded dev accounts")
	period := fs.Duration("block-period", def.BlockPeriod, "interval of blocks while idle (transactions are mined at once); 0: only on demand")
	datadir := fs.String("datadir", "", "keep the chain in this directory (default: in memory, fresh on every start)")
	chainID := fs.Uint64("chain-id", def.ChainID, "chain id")
	verbose := fs.Bool("v", false, "log go-ethereum's node messages too")
	pprofAddr := fs.String("pprof", "", "serve Go profiles at http://ADDR/debug/pprof/ (host:port; for finding where a long bench's chain time goes)")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tinypay-devchain: unexpected arguments %q\n", fs.Args())
		return 2
	}

	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	cfg := def
	cfg.HTTPPort, cfg.InfoFile, cfg.Accounts, cfg.BlockPeriod, cfg.DataDir, cfg.ChainID = *port, *out, *accounts, *period, *datadir, *chainID
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	if *pprofAddr != "" {
		lis, err := net.Listen("tcp", *pprofAddr)
		if err != nil {
			fmt.Fprintf(stderr, "tinypay-devchain: --pprof: %v\n", err)
			return 2
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(lis)
		defer srv.Close()
		fmt.Fprintf(stdout, "profiles at http://%s/debug/pprof/\n", lis.Addr())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	c, err := devchain.Start(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "tinypay-devchain: %v\n", err)
		return 1
	}
	info := c.Info()
	fmt.Fprintf(stdout, "tinypay dev chain ready in %s\n", time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(stdout, "  rpc         %s\n  chain id    %d\n  adjudicator %s\n  token       %s (%s, %d decimals)\n",
		info.RPCURL, info.ChainID, info.Adjudicator, info.Token.Address, info.Token.Symbol, info.Token.Decimals)
	for i, a := range info.Accounts {
		fmt.Fprintf(stdout, "  account %d   %s\n", i, a.Address)
	}
	if cfg.InfoFile != "" {
		fmt.Fprintf(stdout, "  info file   %s (holds the DEV private keys)\n", cfg.InfoFile)
	}
	fmt.Fprintln(stdout, "Press Ctrl-C to stop.")

	<-ctx.Done()
	fmt.Fprintln(stdout, "stopping")
	if err := c.Close(); err != nil {
		fmt.Fprintf(stderr, "tinypay-devchain: close: %v\n", err)
		return 1
	}
	return 0
}
