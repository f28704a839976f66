package apps

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node"
	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
	"github.com/tinypay/tinypay/store"
)

// Store is what the application layer reads and writes; *store.Store
// implements it.
type Store interface {
	Commit(ctx context.Context, b *store.Batch) (store.Result, error)
	Log(afterSeq uint64, limit int) ([]*storev1.LogEntry, error)
	LogBefore(beforeSeq uint64, limit int) ([]*storev1.LogEntry, error)
	LogEntry(seq uint64) (*storev1.LogEntry, error)
	LastSeq() uint64
	OfferUses(offerID [32]byte) (uint64, error)
	OfferPaidBy(offerID [32]byte, payer [20]byte) (*storev1.LogEntry, error)
	Streams() ([]*storev1.Stream, error)
	Tokens() ([]*storev1.AppToken, error)
	ChannelPayments(ch [32]byte, dir storev1.Direction, after, upTo uint64, limit int) ([]*storev1.Payment, error)
}

var _ Store = (*store.Store)(nil)

// Config configures the application layer.
type Config struct {
	Logger *slog.Logger // nil: discard
	// StallAfter is how long after a missed tick an incoming stream counts
	// as stalled, beyond twice its tick.
	StallAfter time.Duration

	// Bounds on the incoming streams peers can make this node hold (see
	// "Bounds" in the package doc). A stream counts against them while it
	// is live (neither ended nor stalled), and for as long as it is kept
	// if it was never paid. A StreamStart of a new stream beyond a bound
	// is refused with ErrTooManyStreams, unless room can be made by
	// forgetting an unpaid stream that ended or waited longer than
	// UnpaidGrace.

	// MaxStreamsPerChannel bounds the incoming streams of one channel.
	MaxStreamsPerChannel int
	// MaxStreams bounds the incoming streams of all channels together.
	MaxStreams int
	// UnpaidGrace is how long an incoming stream that is still live may
	// wait for its first payment before it may be forgotten to make room
	// for a new one. A payer pays the first tick as it starts a stream, so
	// this is a margin for a slow network, not a tick.
	UnpaidGrace time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{StallAfter: 500 * time.Millisecond, MaxStreamsPerChannel: 16, MaxStreams: 10_000, UnpaidGrace: 10 * time.Second}
}

// Validate reports what is wrong with c, if anything. A zero StallAfter is
// taken as the default's.
func (c Config) Validate() error {
	var errs []error
	if c.StallAfter < 0 {
		errs = append(errs, fmt.Errorf("negative stall time %s", c.StallAfter))
	}
	if c.MaxStreamsPerChannel < 1 {
		errs = append(errs, fmt.Errorf("max streams per channel is %d, must be at least 1", c.MaxStreamsPerChannel))
	}
	if c.MaxStreams < 1 {
		errs = append(errs, fmt.Errorf("max streams is %d, must be at least 1", c.MaxStreams))
	}
	if c.MaxStreamsPerChannel > c.MaxStreams {
		errs = append(errs, fmt.Errorf("max streams per channel (%d) is above max streams (%d)", c.MaxStreamsPerChannel, c.MaxStreams))
	}
	if c.UnpaidGrace < 0 {
		errs = append(errs, fmt.Errorf("negative unpaid grace %s", c.UnpaidGrace))
	}
	return errors.Join(errs...)
}

// Deps are the application layer's boundaries.
type Deps struct {
	Key   *crypto.PrivateKey // the node's key: it signs offers
	Store Store
	Clock node.Clock // nil: the system clock
}

// Apps is the application layer of a node: offers, streams, app tokens
// and revenue. It pays through the node's payer API (node.Pay) and takes
// part in incoming payments through node.Hooks (it implements them). Its
// exported methods are safe for concurrent use; each kind of state has its
// own owner (streams, tokens, offers in flight), whose lock guards only
// memory and is never held across I/O or while calling the node.
type Apps struct {
	cfg   Config
	log   *slog.Logger
	key   *crypto.PrivateKey
	store Store
	clock node.Clock
	n     *node.Node

	offers  offerBook
	streams streamSet
	tokens  tokenSet

	// started is closed when Start has run: from then on n is set and the
	// streams and tokens are loaded. The node may call the hooks before
	// (it starts first, and may redial a peer or see a channel end at
	// once); they wait for it.
	started chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// New builds the application layer; give it to the node as its Hooks, then
// Start it with the node.
func New(cfg Config, d Deps) (*Apps, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("apps config: %w", err)
	}
	if d.Key == nil || d.Store == nil {
		return nil, errors.New("apps: key and store are required")
	}
	if cfg.StallAfter <= 0 {
		cfg.StallAfter = DefaultConfig().StallAfter
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	clock := d.Clock
	if clock == nil {
		clock = systemClock{}
	}
	a := &Apps{cfg: cfg, log: log, key: d.Key, store: d.Store, clock: clock}
	a.offers.offers = map[crypto.Hash]*offerCount{}
	a.streams.byID = map[[16]byte]*stream{}
	a.streams.counted = map[channel.ID]map[[16]byte]*stream{}
	a.streams.stallAfter = cfg.StallAfter
	a.tokens.byID = map[TokenID]*appToken{}
	a.tokens.byHash = map[crypto.Hash]TokenID{}
	a.started = make(chan struct{})
	a.ctx, a.cancel = context.WithCancel(context.Background())
	return a, nil
}

// Start loads tokens and streams, resumes the outgoing streams that were
// running, and starts metering incoming ones. n is the node whose Hooks a
// is; call it after n.Start, once. Hooks the node calls before Start wait
// for it (and go ahead once it returns, even with an error).
func (a *Apps) Start(n *node.Node) error {
	defer close(a.started)
	a.n = n
	if err := a.loadTokens(); err != nil {
		return fmt.Errorf("load tokens: %w", err)
	}
	if err := a.loadStreams(); err != nil {
		return fmt.Errorf("load streams: %w", err)
	}
	a.wg.Add(1)
	go a.meterLoop()
	return nil
}

// Stop stops the streams' goroutines (a restart resumes them).
func (a *Apps) Stop() {
	a.cancel()
	a.wg.Wait()
}

// waitStarted waits until Start has run, and reports false if a stopped
// first (then n may be unset).
func (a *Apps) waitStarted() bool {
	select {
	case <-a.started:
		return true
	case <-a.ctx.Done():
		select {
		case <-a.started:
			return true
		default:
			return false
		}
	}
}

// PayRequest is node.PayRequest with what the application layer adds: the
// offer paid and the app token paying.
type PayRequest struct {
	Channel  channel.ID
	Peer     crypto.Address
	Asset    crypto.Address
	AnyAsset bool
	Amount   uint256.Int
	Key      string
	ItemID   string
	Memo     string
	Receipt  bool
	// Offer, if set, is the payee's offer this payment pays: amount, item
	// and payee follow from it. This node pays a once-only or per-payer
	// offer at most once (its key is OfferKey); a limited or unlimited one
	// once per Key, which is then required.
	Offer *Offer
	// Token is the app token paying, if any: its policy limits the payment.
	Token TokenID
	// Origin is the web origin a site's payment is for (the browser
	// endpoint sets it): a site's token pays for its own origin only, and
	// any other token for none.
	Origin string
	// Confirmed says the reader confirmed this payment on the node's page:
	// a token's TokenPolicy.AutoPayBelow asks for it.
	Confirmed bool
	stream    [16]byte
	newKey    bool // a stream's tick with a key never used (node.PayRequest.New)
}

// streamKeyPrefix begins the idempotency keys of this node's stream ticks;
// no other payment may use it (see stream.newKey).
const streamKeyPrefix = "stream:"

// Pay pays as node.Pay does, after the application's checks: an offer is
// verified and paid at most once; an app token's policy is enforced (its
// spending is counted before the payment is signed and given back if the
// payment never was). A payment with an item id asks for a receipt, but
// a stream's ticks ask for one now and then only (streamReceiptEvery).
func (a *Apps) Pay(ctx context.Context, r PayRequest) (node.PaymentInfo, error) {
	if r.stream == [16]byte{} && strings.HasPrefix(r.Key, streamKeyPrefix) {
		return node.PaymentInfo{}, invalid("idempotency keys beginning with %q are kept for the node's streams", streamKeyPrefix)
	}
	if r.Offer != nil {
		if err := a.applyOffer(ctx, &r); err != nil {
			return node.PaymentInfo{}, err
		}
	}
	req := node.PayRequest{
		Channel: r.Channel, Peer: r.Peer, Asset: r.Asset, AnyAsset: r.AnyAsset, Amount: r.Amount, Key: r.Key,
		ItemID: r.ItemID, Memo: r.Memo, Receipt: r.Receipt || r.ItemID != "" && r.stream == [16]byte{}, Stream: r.stream, Token: r.Token,
		New: r.newKey,
	}
	if r.Offer != nil {
		req.Offer = r.Offer.payload()
	}
	if r.Token.IsZero() {
		return a.n.Pay(ctx, req)
	}
	ci, err := a.n.PayTarget(req)
	if err != nil {
		return node.PaymentInfo{}, err
	}
	window, err := a.reserve(r.Token, charge{
		payee: ci.Peer, asset: ci.Asset.Address, amount: &r.Amount,
		tick: r.stream != [16]byte{}, origin: r.Origin, confirmed: r.Confirmed,
	})
	if err != nil {
		return node.PaymentInfo{}, err
	}
	req.Channel = ci.ID
	info, err := a.n.Pay(ctx, req)
	switch {
	case info.Earlier:
		// A retry, or a call made while another with the same key was
		// under way: the call that paid counted it (or will give it back).
		a.release(r.Token, window, ci.Peer, &r.Amount)
	case err != nil && info.Nonce == 0 && !errors.Is(err, node.ErrPending):
		a.release(r.Token, window, ci.Peer, &r.Amount) // never signed: nothing was spent
	}
	return info, err
}

func randomID() [32]byte {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return b
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", node.ErrInvalidArgument, fmt.Sprintf(format, args...))
}

func notFound(format string, args ...any) error {
	return fmt.Errorf("%w: %s", node.ErrNotFound, fmt.Sprintf(format, args...))
}

// units writes an amount of asset as people read it ("0.25 USD"); an
// asset the node does not know is said in base units with its address.
func (a *Apps) units(asset crypto.Address, v *uint256.Int) string {
	if as, ok := a.n.Asset(asset); ok {
		return as.Format(v)
	}
	return v.Dec() + " base units of " + asset.Hex()
}

// assetName is the asset's symbol, or its address if the node does not
// know it.
func (a *Apps) assetName(asset crypto.Address) string {
	if as, ok := a.n.Asset(asset); ok {
		return as.Symbol
	}
	return asset.Hex()
}
