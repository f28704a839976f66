package daemon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/urfave/cli/v3"

	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node/tower"
	"github.com/tinypay/tinypay/rpc"
)

// Files of a tower's data directory (besides the key and TLS files).
const (
	towerDBDir    = "tower-db"
	towerAddrFile = "tower.addr" // where it listens, once it does
)

func towerCommand(cf configFile, devFile cli.Flag, stdin io.Reader, stderr io.Writer) *cli.Command {
	def := tower.DefaultConfig()
	return &cli.Command{
		Name:  "tower",
		Usage: "run a watchtower for other nodes until interrupted",
		Description: `A watchtower keeps the newest incoming proof of every channel of the nodes it
serves, and presents it on chain when a channel is force-closed with an older
one while its node is away, paying the gas from its own key's account. It
holds nothing else: no payments, items or memos.

It has its own data directory and key (create one with "tinypayd init" in that
directory, and fund its account with ETH for gas), listens for nodes on
--listen, and serves only the node addresses given with --serve or
--serve-file. A node uses it with "tinypayd run --tower HOST:PORT@0xTOWER".

Examples:
   tinypayd --datadir tower init --devchain devchain.json --dev-account 3
   tinypayd --datadir tower tower --devchain devchain.json --listen 127.0.0.1:9740 \
            --serve 0xFcd1463D08CC5a0B5509C2ABa78373E5b5E3762E
   tinypayd --datadir /var/lib/tower tower --chain-rpc https://rpc.example --chain-id 8453 \
            --adjudicator ADJUDICATOR --confirmations 3 --listen :9740 --serve-file nodes.txt`,
		Flags: append(chainFlags(cf, devFile),
			&cli.StringFlag{Name: "listen", Usage: "address to accept nodes on", Value: "127.0.0.1:9740", Sources: cf.sources("listen")},
			&cli.StringSliceFlag{Name: "serve", Usage: "address of a node whose proofs to take (repeatable)", Sources: cf.sources("serve")},
			&cli.StringFlag{Name: "serve-file", Usage: "file with node addresses to serve, one a line (# starts a comment)", Sources: cf.sources("serve-file")},
			&cli.IntFlag{Name: "max-channels-per-node", Usage: "channels the tower holds proofs of for one node; proofs of more are refused until one settles", Value: def.MaxChannelsPerNode, Sources: cf.sources("max-channels-per-node")},
			&cli.StringFlag{Name: "metrics-listen", Usage: "serve Prometheus metrics at http://ADDR/metrics (off by default)", Sources: cf.sources("metrics-listen")},
		),
		Action: func(ctx context.Context, c *cli.Command) error {
			ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runTower(ctx, c, stdin, stderr)
		},
	}
}

// servedFromFlags reads --serve and --serve-file.
func servedFromFlags(c *cli.Command) ([]crypto.Address, error) {
	var out []crypto.Address
	seen := map[crypto.Address]bool{}
	add := func(where, s string) error {
		a, err := crypto.ParseAddress(s)
		if err != nil {
			return usagef("%s: %q is not a node address: %v", where, s, err)
		}
		if a.IsZero() {
			return usagef("%s: the zero address is not a node", where)
		}
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
		return nil
	}
	for _, s := range c.StringSlice("serve") {
		if err := add("--serve", strings.TrimSpace(s)); err != nil {
			return nil, err
		}
	}
	if f := c.String("serve-file"); f != "" {
		fh, err := os.Open(f)
		if err != nil {
			return nil, fmt.Errorf("--serve-file: %w", err)
		}
		defer fh.Close()
		sc := bufio.NewScanner(fh)
		for line := 1; sc.Scan(); line++ {
			s, _, _ := strings.Cut(sc.Text(), "#")
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			if err := add(fmt.Sprintf("%s line %d", f, line), s); err != nil {
				return nil, err
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("--serve-file: %w", err)
		}
	}
	if len(out) == 0 {
		return nil, usagef("no node to serve: give --serve 0xNodeAddress or --serve-file")
	}
	return out, nil
}

// towersFromFlags reads run's --tower flags.
func towersFromFlags(c *cli.Command) ([]tower.Endpoint, error) {
	var out []tower.Endpoint
	seen := map[crypto.Address]bool{}
	for _, s := range c.StringSlice("tower") {
		ep, err := tower.ParseEndpoint(strings.TrimSpace(s))
		if err != nil {
			return nil, usagef("--tower: %v", err)
		}
		if seen[ep.Address] {
			return nil, usagef("--tower: tower %s is listed twice", ep.Address)
		}
		seen[ep.Address] = true
		out = append(out, ep)
	}
	return out, nil
}

func runTower(ctx context.Context, c *cli.Command, stdin io.Reader, logw io.Writer) error {
	log, err := newLogger(c, logw)
	if err != nil {
		return err
	}
	cs, err := chainFromFlags(c)
	if err != nil {
		return err
	}
	cfg := tower.DefaultConfig()
	if cfg.Serve, err = servedFromFlags(c); err != nil {
		return err
	}
	cfg.MaxChannelsPerNode = c.Int("max-channels-per-node")
	cfg.ChainPoll = c.Duration("chain-poll")
	cfg.Logger = log.With("component", "tower")
	if err := cfg.Validate(); err != nil {
		return usagef("%v", err)
	}
	if _, _, err := net.SplitHostPort(c.String("listen")); err != nil {
		return usagef("--listen %q: want host:port", c.String("listen"))
	}
	dir := c.String("datadir")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	key, err := unlock(c, stdin)
	if err != nil {
		return err
	}
	log.Info("tower key unlocked", "address", key.Address(), "serves", len(cfg.Serve))

	chain, err := cs.dial(ctx, c, key, log)
	if err != nil {
		return err
	}
	defer chain.Close()
	bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	if bal, err := chain.Balance(bctx, key.Address(), crypto.Address{}); err == nil && bal.IsZero() {
		log.Warn("the tower's account holds no ETH: it cannot pay the gas to present proofs", "account", key.Address())
	}
	cancel()

	st, err := tower.OpenStore(filepath.Join(dir, towerDBDir), cs.chainID, cs.adjudicator, log.With("component", "store"))
	if err != nil {
		return err
	}
	defer st.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	met, err := tower.NewServerMetrics(reg)
	if err != nil {
		return err
	}
	srv, err := tower.NewServer(cfg, chain, st, met)
	if err != nil {
		return err
	}
	srv.Start()
	defer srv.Stop()

	cert, err := rpc.LoadOrCreateCertificate(filepath.Join(dir, certFile), filepath.Join(dir, certKey))
	if err != nil {
		return err
	}
	pcfg := rpc.DefaultPeerConfig()
	pcfg.ChainID, pcfg.Adjudicator, pcfg.Key, pcfg.Certificate = cs.chainID, cs.adjudicator, key, &cert
	pcfg.Logger = log.With("component", "peer")
	peers, err := rpc.NewPeerServer(pcfg, func(pc *rpc.PeerConn) { srv.Handle(pc) })
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		return fmt.Errorf("tower listener: %w", err)
	}
	go peers.Serve(lis)
	defer peers.Stop()
	if err := writeFileAtomic(filepath.Join(dir, towerAddrFile), []byte(lis.Addr().String()+"\n")); err != nil {
		return err
	}
	defer os.Remove(filepath.Join(dir, towerAddrFile))
	log.Info("tower listening for nodes", "addr", lis.Addr(), "tower", lis.Addr().String()+"@"+key.Address().Hex())

	if addr := c.String("metrics-listen"); addr != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		mlis, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("metrics listener: %w", err)
		}
		ms := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := ms.Serve(mlis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Warn("metrics server", "err", err)
			}
		}()
		defer ms.Close()
		log.Info("metrics at /metrics", "addr", mlis.Addr())
	}

	<-ctx.Done()
	log.Info("tower shutting down")
	return nil
}

// towerClient returns the client that hands the node's proofs to towers,
// nil without towers. It dials with the node's key but does not tell a
// tower where the node listens.
func towerClient(towers []tower.Endpoint, pcfg rpc.PeerConfig, reg prometheus.Registerer, log *slog.Logger) (*tower.Client, error) {
	if len(towers) == 0 {
		return nil, nil
	}
	ccfg := tower.DefaultClientConfig()
	ccfg.Towers = towers
	ccfg.Logger = log.With("component", "tower")
	if err := ccfg.Validate(); err != nil {
		return nil, usagef("--tower: %v", err)
	}
	met, err := tower.NewClientMetrics(reg)
	if err != nil {
		return nil, err
	}
	pcfg.ListenAddr, pcfg.MoreListenAddrs = "", nil
	return tower.NewClient(ccfg, dialer{pcfg}, met)
}
