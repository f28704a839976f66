package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	rpprof "runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/urfave/cli/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/reflection"

	"github.com/tinypay/tinypay/apps"
	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node"
	"github.com/tinypay/tinypay/rpc"
	"github.com/tinypay/tinypay/settlement/devchain/devinfo"
	"github.com/tinypay/tinypay/settlement/evm"
	"github.com/tinypay/tinypay/store"
)

func runCommand(cf configFile, devFile cli.Flag, stdin io.Reader, stdout, stderr io.Writer, opts options) *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "run the node until interrupted",
		Description: `Unlocks the node key, opens the database, connects to the chain, listens for
peers and for the control API, and runs until SIGINT or SIGTERM. On shutdown it
stops taking new payments, finishes the acknowledgements it owes, and closes.

Prometheus metrics are served at http://127.0.0.1:9737/metrics unless
--metrics-listen says otherwise (see the README's "Metrics" section). The
control API is also served as HTTP/JSON at https://127.0.0.1:9738/v1/...
unless --http-listen says otherwise (the README's "HTTP/JSON API" section);
with --dashboard the same address serves the creator dashboard (open
https://ADDR/ and sign in with DATADIR/api.token or a view token). With
--browser-listen the node also pays for the pages of sites its reader approves
(the README's "Paying from a browser").

Examples:
   tinypayd run --devchain devchain.json --passphrase-file pass.txt
   tinypayd run --devchain devchain.json --passphrase-file pass.txt --metrics-listen off
   tinypayd run --devchain devchain.json --passphrase-file pass.txt --http-listen 127.0.0.1:0
   tinypayd run --devchain devchain.json --passphrase-file pass.txt --http-listen 127.0.0.1:0 --dashboard
   tinypayd run --devchain devchain.json --passphrase-file pass.txt --browser-listen 127.0.0.1:9739 --dashboard
   tinypayd run --chain-rpc https://rpc.example --chain-id 8453 \
                --adjudicator ADJUDICATOR --asset USDC=0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913:6 --confirmations 3
   tinypayd run --devchain devchain.json --passphrase-file pass.txt --sweep-to ADDRESS \
                --sweep-above "100 USD" --sweep-above "0.5 ETH"
   tinypayd run --devchain devchain.json --passphrase-file pass.txt \
                --store "postgres://tinypay@db.internal:5432/tinypay?sslmode=verify-full"
   tinypayd run --devchain devchain.json --passphrase-file pass.txt \
                --store "postgres://tinypay@db.internal:5432/tinypay?sslmode=verify-full" \
                --standby --lease-ttl 5s --peer-advertise node-a.example:9735,node-b.example:9735

With --store postgres://..., the node's state is in PostgreSQL (the README's
"PostgreSQL store"; the password from PGPASSWORD or ~/.pgpass): one process
at a time may run a node identity on it; a second tinypayd for the same node
waits a little longer than --lease-ttl for the first one's lease, and gives up.

With --standby it waits instead as long as the other holds the lease: a hot
standby (the README's "Hot standby"). Run one tinypayd per machine for the
same node (each with a copy of the data directory's key), all with --standby
and the same --peer-advertise list, which names every one's peer address: a
peer dials the next address when one fails. The first to start takes the
lease; the others log that they wait, and open no peer listener and no control
API until they took the node over (about --lease-ttl after the active one
died, at once after it stopped). A process that lost the lease (another took
the node over, or it could not renew it for four fifths of --lease-ttl) exits
with status 1 at once: it never acknowledges a payment after that.`,
		Flags: slices.Concat(chainFlags(cf, devFile), []cli.Flag{
			&cli.StringSliceFlag{Name: "asset", Usage: "ERC-20 token channels may hold, as SYMBOL=ADDRESS:DECIMALS (repeatable)", Sources: cf.sources("asset")},
			&cli.StringFlag{Name: "peer-listen", Usage: "address to accept peer connections on (empty: do not listen)", Value: "127.0.0.1:9735", Sources: cf.sources("peer-listen")},
			&cli.StringFlag{Name: "peer-advertise", Usage: "addresses peers should dial back, HOST:PORT[,HOST:PORT...] (up to 4: a hot standby pair's processes each name all of them; default: --peer-listen)", Sources: cf.sources("peer-advertise")},
			&cli.StringFlag{Name: "api-listen", Usage: "address of the control API (keep it on loopback unless you need otherwise)", Value: "127.0.0.1:9736", Sources: cf.sources("api-listen")},
			&cli.Uint64Flag{Name: "challenge-period", Usage: "challenge period in seconds for channels this node opens", Value: node.DefaultConfig().ChallengePeriod, Sources: cf.sources("challenge-period")},
			&cli.Uint64Flag{Name: "min-challenge-period", Usage: "shortest challenge period accepted from peers, seconds", Value: node.DefaultConfig().MinChallengePeriod, Sources: cf.sources("min-challenge-period")},
			&cli.DurationFlag{Name: "shutdown-timeout", Usage: "longest graceful shutdown", Value: 15 * time.Second, Sources: cf.sources("shutdown-timeout")},
			&cli.StringSliceFlag{Name: "tower", Usage: "a watchtower to hand every newest incoming proof to, as HOST:PORT@0xTOWER_ADDRESS (repeatable; see tinypayd tower --help)", Sources: cf.sources("tower")},
			storeFlag(cf),
		}, standbyFlags(cf), metricsFlags(cf, defaultMetricsListen), httpFlags(cf), browserFlags(cf), limitFlags(cf), sweepFlags(cf), identityFlags(cf)),
		Action: func(ctx context.Context, c *cli.Command) error {
			ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
			defer stop()
			return run(ctx, c, stdin, stderr, opts)
		},
	}
}

// advertiseFromFlags returns the peer addresses the node advertises:
// --peer-advertise, a list of up to node.MaxPeerAddrs host:ports, or else
// --peer-listen.
func advertiseFromFlags(c *cli.Command) ([]string, error) {
	v := strings.TrimSpace(c.String("peer-advertise"))
	if v == "" {
		if l := c.String("peer-listen"); l != "" {
			return []string{l}, nil
		}
		return nil, nil
	}
	var out []string
	for _, a := range strings.Split(v, ",") {
		a = strings.TrimSpace(a)
		if err := node.CheckPeerAddr(a); err != nil {
			return nil, usagef("--peer-advertise: %v", err)
		}
		if slices.Contains(out, a) {
			return nil, usagef("--peer-advertise names %s twice", a)
		}
		out = append(out, a)
	}
	if len(out) > node.MaxPeerAddrs {
		return nil, usagef("--peer-advertise names %d addresses, at most %d", len(out), node.MaxPeerAddrs)
	}
	return out, nil
}

// limitFlags are the bounds on what peers and strangers can make the node
// hold; each refusal at one is counted in tinypay_bound_refusals_total and
// logged at warn level once an hour.
func limitFlags(cf configFile) []cli.Flag {
	const cat = "limits on what peers and strangers can make the node hold"
	nd, ad, pd := node.DefaultConfig(), apps.DefaultConfig(), rpc.DefaultLimits()
	return []cli.Flag{
		&cli.IntFlag{Name: "peer-max-unauthenticated", Category: cat, Value: pd.MaxUnauthenticated, Sources: cf.sources("peer-max-unauthenticated"),
			Usage: "peer connections that may be in their handshake at once; more are closed before TLS"},
		&cli.IntFlag{Name: "peer-max-unauthenticated-per-source", Category: cat, Value: pd.MaxUnauthenticatedPerSource, Sources: cf.sources("peer-max-unauthenticated-per-source"),
			Usage: "peer connections from one IP address (IPv6: one /64) that may be in their handshake at once; behind a proxy or Tor, where every peer has one address, set it to --peer-max-unauthenticated"},
		&cli.DurationFlag{Name: "peer-handshake-timeout", Category: cat, Value: pd.HandshakeTimeout, Sources: cf.sources("peer-handshake-timeout"),
			Usage: "time a new peer connection has to finish TLS and prove its key"},
		&cli.IntFlag{Name: "max-peers-without-channel", Category: cat, Value: nd.MaxStrangerSessions, Sources: cf.sources("max-peers-without-channel"),
			Usage: "connected peers that share no channel with this node and dialled it (any key can); more are disconnected at once"},
		&cli.IntFlag{Name: "max-peers-without-channel-per-source", Category: cat, Value: nd.MaxStrangerSessionsPerSource, Sources: cf.sources("max-peers-without-channel-per-source"),
			Usage: "the same from one IP address (IPv6: one /64); behind a proxy or Tor, set it to --max-peers-without-channel"},
		&cli.IntFlag{Name: "max-proposals-per-peer", Category: cat, Value: nd.MaxProposalsPerPeer, Sources: cf.sources("max-proposals-per-peer"),
			Usage: "channels one peer may propose to this node within --proposal-expiry that do not open on chain (given-up ones count too)"},
		&cli.IntFlag{Name: "max-proposals", Category: cat, Value: nd.MaxProposals, Sources: cf.sources("max-proposals"),
			Usage: "channels all peers together may propose within --proposal-expiry that do not open on chain"},
		&cli.DurationFlag{Name: "proposal-expiry", Category: cat, Value: nd.ProposalExpiry, Sources: cf.sources("proposal-expiry"),
			Usage: "a channel not open on chain this long after its proposal is abandoned on both sides"},
		&cli.IntFlag{Name: "max-refunds-per-minute", Category: cat, Value: nd.MaxRefundsPerMinute, Sources: cf.sources("max-refunds-per-minute"),
			Usage: "payments per channel and minute refused (an offer already paid, say) and refunded; beyond it a payer's proof is refused whole"},
		&cli.IntFlag{Name: "max-streams-per-channel", Category: cat, Value: ad.MaxStreamsPerChannel, Sources: cf.sources("max-streams-per-channel"),
			Usage: "incoming streams one channel may have live (or announced and not paid yet)"},
		&cli.IntFlag{Name: "max-streams", Category: cat, Value: ad.MaxStreams, Sources: cf.sources("max-streams"),
			Usage: "incoming streams all channels together may have live (or announced and not paid yet)"},
		&cli.DurationFlag{Name: "stream-unpaid-grace", Category: cat, Value: ad.UnpaidGrace, Sources: cf.sources("stream-unpaid-grace"),
			Usage: "time an announced stream has to pay its first tick before a newcomer may take its place (unpaid streams are never stored)"},
		&cli.DurationFlag{Name: "redial-max", Category: cat, Value: nd.RedialMax, Sources: cf.sources("redial-max"),
			Usage: "longest wait between attempts to reach a peer that shares a funded channel (the wait doubles from 2s)"},
	}
}

// configFromFlags builds the node's configuration and the peer transport's
// limits from the flags, and checks them before anything starts.
func configFromFlags(c *cli.Command, cs chainSettings) (node.Config, apps.Config, rpc.Limits, error) {
	ncfg := node.DefaultConfig()
	ncfg.Assets = cs.assets
	ncfg.ChallengePeriod = c.Uint64("challenge-period")
	ncfg.MinChallengePeriod = min(c.Uint64("min-challenge-period"), ncfg.ChallengePeriod)
	ncfg.ChainPoll = c.Duration("chain-poll")
	ncfg.RedialMax = c.Duration("redial-max")
	ncfg.MaxProposalsPerPeer = c.Int("max-proposals-per-peer")
	ncfg.MaxProposals = c.Int("max-proposals")
	ncfg.ProposalExpiry = c.Duration("proposal-expiry")
	ncfg.MaxRefundsPerMinute = c.Int("max-refunds-per-minute")
	ncfg.MaxStrangerSessions = c.Int("max-peers-without-channel")
	ncfg.MaxStrangerSessionsPerSource = c.Int("max-peers-without-channel-per-source")
	sweep, err := sweepFromFlags(c, cs.assets)
	if err != nil {
		return ncfg, apps.Config{}, rpc.Limits{}, err
	}
	ncfg.Sweep = sweep
	if err := ncfg.Validate(); err != nil {
		return ncfg, apps.Config{}, rpc.Limits{}, usagef("%v", err)
	}
	acfg := apps.DefaultConfig()
	acfg.MaxStreamsPerChannel = c.Int("max-streams-per-channel")
	acfg.MaxStreams = c.Int("max-streams")
	acfg.UnpaidGrace = c.Duration("stream-unpaid-grace")
	if err := acfg.Validate(); err != nil {
		return ncfg, acfg, rpc.Limits{}, usagef("%v", err)
	}
	l := rpc.DefaultLimits()
	l.MaxUnauthenticated = c.Int("peer-max-unauthenticated")
	l.MaxUnauthenticatedPerSource = c.Int("peer-max-unauthenticated-per-source")
	l.HandshakeTimeout = c.Duration("peer-handshake-timeout")
	if err := l.Validate(); err != nil {
		return ncfg, acfg, l, usagef("%v", err)
	}
	return ncfg, acfg, l, nil
}

// chainSettings are the settlement layer's coordinates.
type chainSettings struct {
	url         string
	chainID     uint64
	adjudicator crypto.Address
	deployBlock uint64
	assets      []node.Asset
}

// chainFlags name the chain and how to follow it (run and tower).
func chainFlags(cf configFile, devFile cli.Flag) []cli.Flag {
	return []cli.Flag{
		devFile,
		&cli.StringFlag{Name: "chain-rpc", Usage: "EVM JSON-RPC endpoint (http, https, ws or ipc)", Sources: cf.sources("chain-rpc")},
		&cli.Uint64Flag{Name: "chain-id", Usage: "chain id the endpoint must serve", Sources: cf.sources("chain-id")},
		&cli.StringFlag{Name: "adjudicator", Usage: "address of the tinypay adjudicator contract", Sources: cf.sources("adjudicator")},
		&cli.Uint64Flag{Name: "deploy-block", Usage: "block the adjudicator was deployed in (events are scanned from there)", Sources: cf.sources("deploy-block")},
		&cli.Uint64Flag{Name: "confirmations", Usage: "blocks on top before a transaction or event counts (default 1; 0 on a dev chain)", Value: 1, Sources: cf.sources("confirmations")},
		&cli.DurationFlag{Name: "chain-poll", Usage: "how often to read the chain", Value: time.Second, Sources: cf.sources("chain-poll")},
	}
}

// dial connects to the chain as key, with the --confirmations and
// --chain-poll flags of c (run and tower have both).
func (cs chainSettings) dial(ctx context.Context, c *cli.Command, key *crypto.PrivateKey, log *slog.Logger) (*evm.Backend, error) {
	ecfg := evm.DefaultConfig()
	ecfg.Adjudicator, ecfg.ChainID, ecfg.DeployBlock = cs.adjudicator, cs.chainID, cs.deployBlock
	ecfg.Confirmations = c.Uint64("confirmations")
	ecfg.Logger = log.With("component", "chain")
	if p := c.Duration("chain-poll"); p < ecfg.PollInterval {
		ecfg.PollInterval = p
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	chain, err := evm.Dial(dctx, cs.url, key, ecfg)
	if err != nil {
		return nil, fmt.Errorf("chain: %w", err)
	}
	return chain, nil
}

func chainFromFlags(c *cli.Command) (chainSettings, error) {
	var cs chainSettings
	if f := c.String("devchain"); f != "" {
		info, err := devinfo.Read(f)
		if err != nil {
			return cs, err
		}
		adj, _ := info.AdjudicatorAddress()
		tok, _ := info.TokenAddress()
		cs = chainSettings{url: info.RPCURL, chainID: info.ChainID, adjudicator: adj, deployBlock: info.DeployBlock,
			assets: []node.Asset{{Address: tok, Symbol: info.Token.Symbol, Decimals: info.Token.Decimals}}}
	}
	if v := c.String("chain-rpc"); v != "" {
		cs.url = v
	}
	if v := c.Uint64("chain-id"); v != 0 {
		cs.chainID = v
	}
	if v := c.String("adjudicator"); v != "" {
		a, err := crypto.ParseAddress(v)
		if err != nil {
			return cs, usagef("--adjudicator: %v", err)
		}
		cs.adjudicator = a
	}
	if v := c.Uint64("deploy-block"); v != 0 {
		cs.deployBlock = v
	}
	for _, spec := range c.StringSlice("asset") {
		a, err := parseAsset(spec)
		if err != nil {
			return cs, err
		}
		cs.assets = append(cs.assets, a)
	}
	switch {
	case cs.url == "":
		return cs, usagef("no chain: give --chain-rpc (with --chain-id and --adjudicator) or --devchain")
	case cs.chainID == 0:
		return cs, usagef("--chain-id is required")
	case cs.adjudicator.IsZero():
		return cs, usagef("--adjudicator is required")
	}
	return cs, nil
}

func parseAsset(spec string) (node.Asset, error) {
	sym, rest, ok := strings.Cut(spec, "=")
	addr, dec, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || sym == "" {
		return node.Asset{}, usagef("--asset %q: want SYMBOL=ADDRESS:DECIMALS", spec)
	}
	a, err := crypto.ParseAddress(addr)
	if err != nil {
		return node.Asset{}, usagef("--asset %q: %v", spec, err)
	}
	d, err := strconv.ParseUint(dec, 10, 8)
	if err != nil || d > 36 {
		return node.Asset{}, usagef("--asset %q: decimals must be 0..36", spec)
	}
	return node.Asset{Address: a, Symbol: sym, Decimals: uint8(d)}, nil
}

func run(ctx context.Context, c *cli.Command, stdin io.Reader, logw io.Writer, opts options) error {
	log, err := newLogger(c, logw)
	if err != nil {
		return err
	}
	cs, err := chainFromFlags(c)
	if err != nil {
		return err
	}
	ncfg, acfg, limits, err := configFromFlags(c, cs)
	if err != nil {
		return err
	}
	if _, err := metricsAddr(c); err != nil {
		return err
	}
	towers, err := towersFromFlags(c)
	if err != nil {
		return err
	}
	advertise, err := advertiseFromFlags(c)
	if err != nil {
		return err
	}
	dir := c.String("datadir")
	if scfg, postgres, err := storeConfig(c, dir, crypto.Address{}); err != nil {
		return err
	} else if err := applyStandbyFlags(c, &scfg, postgres); err != nil {
		return err
	}
	identities, err := identitiesFromFlags(c, dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	key, err := unlock(c, stdin)
	if err != nil {
		return err
	}
	log.Info("node key unlocked", "address", key.Address())
	mark, restored, err := readRestoredMark(dir)
	if err != nil {
		return err
	}
	if restored {
		if err := checkRestoredMark(mark, key.Address(), cs); err != nil {
			return err
		}
		log.Warn("this data directory was restored from a backup: the node catches up with its peers and the chain before it pays",
			"backup_made", mark.BackupCreated, "restored", mark.Restored)
		ncfg.Restored = true
		ncfg.CaughtUp = func() {
			if err := os.Remove(filepath.Join(dir, restoredFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
				log.Warn("could not remove the restore mark", "err", err)
				return
			}
			_ = syncDir(dir)
			log.Info("caught up after the restore; the data directory is no longer marked restored")
		}
	}

	chain, err := cs.dial(ctx, c, key, log)
	if err != nil {
		return err
	}
	defer chain.Close()

	reg := prometheus.NewRegistry()
	met, err := registerMetrics(reg)
	if err != nil {
		return err
	}

	scfg, postgres, err := storeConfig(c, dir, key.Address())
	if err != nil {
		return err
	}
	if err := applyStandbyFlags(c, &scfg, postgres); err != nil {
		return err
	}
	scfg.Logger = log.With("component", "store")
	scfg.Observer = met
	if scfg.Postgres.Standby {
		log.Info("standby: waiting for the node's lease; the node starts once this process holds it", "node", storeNode(key.Address()), "lease", scfg.Postgres.LeaseTTL)
	}
	stopProfile, err := profileStart(c.String("profile-start"))
	if err != nil {
		return err
	}
	defer stopProfile()
	opening := time.Now()
	st, err := store.OpenContext(ctx, scfg)
	if err != nil {
		if scfg.Postgres.Standby && ctx.Err() != nil {
			log.Info("stopped while standing by")
			return nil
		}
		return err
	}
	defer st.Close()
	if scfg.Postgres.Standby {
		log.Info("standby: took the node over; starting it", "node", storeNode(key.Address()))
	} else {
		log.Info("store opened", "took", time.Since(opening).Round(time.Millisecond))
	}
	if restored {
		// The restored backup is the newest one this store knows of.
		if err := noteBackup(ctx, st, mark.BackupCreated); err != nil {
			return fmt.Errorf("note the restored backup's time: %w", err)
		}
	}
	if postgres {
		log.Info("store in PostgreSQL", "node", storeNode(key.Address()))
	}

	cert, err := rpc.LoadOrCreateCertificate(filepath.Join(dir, certFile), filepath.Join(dir, certKey))
	if err != nil {
		return err
	}
	pcfg := rpc.DefaultPeerConfig()
	pcfg.ChainID, pcfg.Adjudicator, pcfg.Key, pcfg.Certificate = cs.chainID, cs.adjudicator, key, &cert
	if len(advertise) > 0 {
		pcfg.ListenAddr, pcfg.MoreListenAddrs = advertise[0], advertise[1:]
		ncfg.ListenAddr, ncfg.MoreListenAddrs = advertise[0], advertise[1:]
	}
	pcfg.Logger = log.With("component", "peer")
	pcfg.Limits = limits

	ncfg.Logger = log.With("component", "node")
	ncfg.Failpoint = opts.failpoint
	acfg.Logger = log.With("component", "apps")
	a, err := apps.New(acfg, apps.Deps{Key: key, Store: st})
	if err != nil {
		return err
	}
	if err := reg.Register(a.Collector()); err != nil {
		return err
	}
	deps := node.Deps{Key: key, Store: st, Chain: chain, Dialer: dialer{pcfg}, Metrics: met, Hooks: a}
	tc, err := towerClient(towers, pcfg, reg, log)
	if err != nil {
		return err
	}
	if tc != nil {
		deps.Proofs = tc
	}
	n, err := node.New(ncfg, deps)
	if err != nil {
		return err
	}
	if err := n.Start(ctx); err != nil {
		return err
	}
	if tc != nil {
		tc.Start(n.IncomingProofs())
		defer tc.Stop()
	}
	if err := a.Start(n); err != nil {
		n.Stop()
		return err
	}
	defer a.Stop()
	stopProfile()
	// A node that stops making progress says so loudly, with what every
	// goroutine is doing (GetInfo reports it too).
	mctx, stopMonitor := context.WithCancel(ctx)
	defer stopMonitor()
	go n.Monitor(mctx, 5*time.Second, 10*time.Second, func(err error, goroutines string) {
		log.Error("node is stuck", "err", err, "goroutines", goroutines)
	})

	var peerSrv *rpc.PeerServer
	if addr := c.String("peer-listen"); addr != "" {
		lis, err := net.Listen("tcp", addr)
		if err != nil {
			n.Stop()
			return fmt.Errorf("peer listener: %w", err)
		}
		pcfg.Refused = n.Bounds().Refused
		peerSrv, err = rpc.NewPeerServer(pcfg, func(pc *rpc.PeerConn) { n.HandlePeer(pc) })
		if err != nil {
			n.Stop()
			return err
		}
		go peerSrv.Serve(lis)
		log.Info("listening for peers", "addr", lis.Addr())
	}

	metricsSrv, err := serveMetrics(c, reg, dir, log)
	if err != nil {
		if peerSrv != nil {
			peerSrv.Stop()
		}
		n.Stop()
		return err
	}
	if metricsSrv != nil {
		defer os.Remove(filepath.Join(dir, metricsAddrFile))
		defer metricsSrv.Close()
	}

	token, err := rpc.LoadOrCreateToken(filepath.Join(dir, tokenFile))
	if err != nil {
		n.Stop()
		return err
	}
	unary, stream := rpc.TokenAuth(token, a.Authenticate)
	api := grpc.NewServer(append(rpc.APIKeepalive(),
		grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})),
		grpc.ChainUnaryInterceptor(unary), grpc.ChainStreamInterceptor(stream),
		grpc.MaxRecvMsgSize(1<<20), grpc.MaxConcurrentStreams(1024),
	)...)
	apiSrv := rpc.NewAPIServer(n, a)
	apiSrv.Backups = backups(st, key, filepath.Join(dir, keyFile), cs, log.With("component", "backup"))
	apiSrv.LastBackup = func() (time.Time, error) { return lastBackup(st) }
	if tc != nil {
		apiSrv.Towers = tc.Status
	}
	if err := apiSrv.SetIdentities(identities); err != nil {
		n.Stop()
		return usagef("--operator-identity: %v", err)
	}
	defer apiSrv.Close()
	if len(identities) > 0 {
		log.Info("totals revenue with the operator's other identities", "identities", describeIdentities(identities))
	}
	apiSrv.Register(api)
	reflection.Register(api)
	apiLis, err := listenBounded(c.String("api-listen"))
	if err != nil {
		n.Stop()
		return fmt.Errorf("api listener: %w", err)
	}
	// The HTTP/JSON API first: api.addr, written last, says the node is
	// ready.
	stopHTTP, err := serveHTTPAPI(c, api, cert, dir, classifyTokens(token, a.Authenticate), log)
	if err != nil {
		apiLis.Close()
		n.Stop()
		return err
	}
	stopBrowser, err := serveBrowser(c, api, cert, token, a, n, dir, log)
	if err != nil {
		if stopHTTP != nil {
			stopHTTP()
		}
		apiLis.Close()
		n.Stop()
		return err
	}
	if err := writeFileAtomic(filepath.Join(dir, addrFile), []byte(apiLis.Addr().String()+"\n")); err != nil {
		if stopBrowser != nil {
			stopBrowser()
		}
		if stopHTTP != nil {
			stopHTTP()
		}
		api.Stop()
		n.Stop()
		return err
	}
	go api.Serve(apiLis)
	log.Info("control API listening", "addr", apiLis.Addr(), "token", filepath.Join(dir, tokenFile))

	// A store that failed (with PostgreSQL: this process lost the node's
	// lease) stops the process at once: it must acknowledge nothing more.
	var failed error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case <-st.Failed():
		failed = st.Err()
		log.Error("the store failed: stopping; this process acknowledges nothing more", "err", failed)
	}
	if stopBrowser != nil {
		stopBrowser() // before the gRPC server and the apps: it calls both
	}
	if stopHTTP != nil {
		stopHTTP() // before the gRPC server: its calls are gRPC calls
	}
	// New API calls are refused at once; calls in flight get a moment to
	// finish. Then the node stops: it takes nothing new, its queued writes
	// finish and the acknowledgements it owes go out; subscriptions end.
	done := make(chan struct{})
	go func() {
		api.GracefulStop()
		close(done)
	}()
	timeout := c.Duration("shutdown-timeout")
	if failed != nil {
		api.Stop() // calls in flight cannot commit: they end now
	}
	select {
	case <-done:
	case <-time.After(min(3*time.Second, timeout)):
	}
	a.Stop()
	n.Stop()
	select {
	case <-done:
	case <-time.After(timeout):
		api.Stop()
	}
	if peerSrv != nil {
		peerSrv.Stop()
	}
	os.Remove(filepath.Join(dir, addrFile))
	if failed != nil {
		return fmt.Errorf("stopped: %w", failed)
	}
	log.Info("stopped")
	return nil
}

// metricsFlags are the flags serveMetrics reads; def is the default
// address.
func metricsFlags(cf configFile, def string) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "metrics-listen", Value: def, Sources: cf.sources("metrics-listen"),
			Usage: "serve Prometheus metrics at http://ADDR/metrics, or \"off\"; if the default address is taken (another node on this machine), the node runs without metrics and warns, while an address given here must work (port 0 picks a free one; DATADIR/" + metricsAddrFile + " says which)"},
		&cli.BoolFlag{Name: "pprof", Usage: "also serve Go profiles at http://METRICS-ADDR/debug/pprof/ (needs metrics)", Sources: cf.sources("pprof")},
		&cli.StringFlag{Name: "profile-start", Usage: "write a CPU profile of the start (from opening the store until the node and its applications run, before peers connect) to `FILE`: where a start with many channels spends its time"},
	}
}

// profileStart starts a CPU profile into path, if set; the function it
// returns stops it (once; later calls do nothing).
func profileStart(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--profile-start: %w", err)
	}
	if err := rpprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--profile-start: %w", err)
	}
	return sync.OnceFunc(func() {
		rpprof.StopCPUProfile()
		f.Close()
	}), nil
}

// metricsAddr returns the address to serve metrics at, "" for none.
func metricsAddr(c *cli.Command) (string, error) {
	addr := strings.TrimSpace(c.String("metrics-listen"))
	if addr != "" && !strings.EqualFold(addr, "off") {
		return addr, nil
	}
	if c.Bool("pprof") {
		return "", usagef("--pprof serves profiles next to the metrics, and --metrics-listen is off")
	}
	return "", nil
}

// registerMetrics registers with reg what tinypayd serves at /metrics,
// but for the application layer's collector (apps.Collector), which is
// added once the layer exists: the Go runtime's and the process's metrics
// and the node's, which it returns (the store's commit observer too).
func registerMetrics(reg prometheus.Registerer) (*node.Metrics, error) {
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, err
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, err
	}
	return node.NewMetrics(reg)
}

// defaultMetricsListen is where metrics are served unless --metrics-listen
// says otherwise: loopback, next to the default peer (9735) and API (9736)
// ports.
const defaultMetricsListen = "127.0.0.1:9737"

// serveMetrics serves reg (and, with --pprof, Go profiles) at the
// --metrics-listen address and writes the address it got to
// DATADIR/metrics.addr. It returns a nil server when metrics are off, or
// when the default address is taken (another node on this machine: a
// warning); an address the operator gave that cannot be listened on is an
// error.
func serveMetrics(c *cli.Command, reg *prometheus.Registry, dir string, log *slog.Logger) (*http.Server, error) {
	addrPath := filepath.Join(dir, metricsAddrFile)
	if err := os.Remove(addrPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	addr, err := metricsAddr(c)
	if err != nil {
		return nil, err
	}
	if addr == "" {
		log.Info("metrics off")
		return nil, nil
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		if c.IsSet("metrics-listen") {
			return nil, fmt.Errorf("metrics listener (--metrics-listen %s): %w", addr, err)
		}
		log.Warn("metrics off: the default metrics address is taken (another node on this machine?); give this one --metrics-listen ADDR, or off", "addr", addr, "err", err)
		return nil, nil
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}))
	if c.Bool("pprof") {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	if err := writeFileAtomic(addrPath, []byte(lis.Addr().String()+"\n")); err != nil {
		lis.Close()
		return nil, err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics server", "err", err)
		}
	}()
	log.Info("metrics at /metrics", "addr", lis.Addr())
	return srv, nil
}

// dialer adapts rpc.DialPeer to node.Dialer.
type dialer struct{ cfg rpc.PeerConfig }

func (d dialer) DialPeer(ctx context.Context, hostport string, want crypto.Address) (node.PeerConn, error) {
	c, err := rpc.DialPeer(ctx, d.cfg, hostport, want)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
