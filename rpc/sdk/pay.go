package sdk

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/holiman/uint256"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tinypay/tinypay/crypto"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
)

// PayRequest asks the node to pay.
type PayRequest struct {
	// Channel is the channel to pay through (0x id). Or leave it empty and
	// name the Peer (payee address), and optionally the Asset (symbol or
	// address): the node picks an open channel with that peer, the one it
	// paid on last while that holds the amount, else the one with the most
	// balance.
	Channel string
	Peer    string
	Asset   string
	// Amount is in the asset's base units. Or set AmountText, the amount
	// with its asset as people write it ("0.0025 USD"), which also sets
	// Asset. Exactly one of them, unless the request pays an Offer.
	Amount     *uint256.Int
	AmountText string
	// Key is the idempotency key: a retry with the same key never pays
	// twice. Empty: Pay makes a random one (NewKey) and reports it.
	Key string
	// ItemID names what is paid for; it implies a receipt.
	ItemID string
	// Memo is a note for the payee.
	Memo string
	// Receipt asks the payee for a signed receipt (Payment.Receipt).
	Receipt bool
	// Offer, if set, is a payee's offer to pay: amount, item and payee come
	// from it (Amount may be left empty). A once-only or once-per-payer
	// offer is paid at most once by this node, under its own key
	// ("offer:" and its id; leave Key empty). A limited or unlimited offer
	// may be bought again: each purchase is one Key (empty: a new one).
	Offer *apiv1.Offer
}

// NewKey returns a random idempotency key (128 bits).
func NewKey() string { return rand.Text() }

// Pay tries again a payment the node could not take (ErrUnavailable) for
// up to payRetryFor, with delays growing from payRetryDelay to
// payMaxRetryDelay: long enough for a node to restart.
const (
	payRetryFor      = 5 * time.Second
	payRetryDelay    = 50 * time.Millisecond
	payMaxRetryDelay = time.Second
)

// Pay pays and returns once the payee has durably acknowledged the
// payment, with its receipt if one was asked for. A failure is a
// *PayError with the request's key (made up if the request had none):
// retry with that key after an error whose outcome is unknown. Pay itself
// tries again, with the same key, for up to five seconds (within ctx and
// Config.Timeout) while the node is unavailable: restarting, or the
// connection dropped. App tokens may pay.
func (c *Client) Pay(ctx context.Context, r PayRequest) (*Payment, error) {
	m, err := c.payMsg(ctx, r)
	if err != nil {
		return nil, &PayError{Key: m.GetIdempotencyKey(), Err: err}
	}
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	delay, giveUp := payRetryDelay, time.Now().Add(payRetryFor)
	for attempt := 1; ; attempt++ {
		pm, err := c.api.Pay(ctx, m)
		if err == nil {
			p, err := paymentFrom(pm)
			if err != nil {
				return nil, &PayError{Key: m.GetIdempotencyKey(), Err: err}
			}
			return p, nil
		}
		first := firstPayment(err)
		err = c.apiError("pay", err)
		if first != nil {
			// The offer was paid before (perhaps by this call's earlier
			// attempt): the node refuses a second payment and returns the
			// first, with its receipt.
			return nil, &PayError{Key: m.GetIdempotencyKey(), Err: err, First: first}
		}
		if !errors.Is(err, ErrUnavailable) || time.Now().Add(delay).After(giveUp) {
			return nil, &PayError{Key: m.GetIdempotencyKey(), Err: err}
		}
		c.log.Info("payment: node unavailable, trying again with the same key", "key", m.GetIdempotencyKey(), "attempt", attempt, "err", err)
		if err := sleep(ctx, delay); err != nil {
			return nil, &PayError{Key: m.GetIdempotencyKey(), Err: c.apiError("pay", err)}
		}
		delay = min(2*delay, payMaxRetryDelay)
	}
}

// firstPayment returns the first payment of an offer from the details of
// the node's ALREADY_EXISTS answer to a second one, if there.
func firstPayment(err error) *Payment {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.AlreadyExists {
		return nil
	}
	for _, d := range st.Details() {
		if pm, ok := d.(*apiv1.Payment); ok {
			if p, err := paymentFrom(pm); err == nil {
				return p
			}
		}
	}
	return nil
}

// PayOffer pays a payee's offer (see CreateOffer, DecodeOffer) through
// the open channel with its payee in its asset, and returns the payment
// with the payee's receipt. A once-only or once-per-payer offer is paid at
// most once by this node: paying it again fails with a *PayError matching
// ErrAlreadyExists whose First holds the first payment and its receipt (so
// a retry after a lost answer recovers it). A limited or unlimited offer
// is bought again by every call (a new key each time: to retry one
// purchase safely, use Pay with the Offer and a Key); once its uses are
// taken the payee refuses and refunds the payment (ErrRefunded).
func (c *Client) PayOffer(ctx context.Context, o *apiv1.Offer) (*Payment, error) {
	if o == nil {
		return nil, fmt.Errorf("tinypay: %w: no offer", ErrInvalidArgument)
	}
	return c.Pay(ctx, PayRequest{Offer: o})
}

// payMsg builds the API request. Its key is set even when it fails, if
// the request named or got one.
func (c *Client) payMsg(ctx context.Context, r PayRequest) (*apiv1.PayRequest, error) {
	m := &apiv1.PayRequest{
		ChannelId: r.Channel, Peer: r.Peer, Asset: r.Asset, IdempotencyKey: r.Key, ItemId: r.ItemID, Memo: r.Memo,
		Receipt: r.Receipt, Offer: r.Offer,
	}
	if m.IdempotencyKey == "" {
		if r.Offer != nil && paidOnce(r.Offer) {
			// The node pays such an offer under this key only; PayMany needs
			// it to match the result.
			k, err := offerKey(r.Offer)
			if err != nil {
				return m, err
			}
			m.IdempotencyKey = k
		} else {
			m.IdempotencyKey = NewKey()
		}
	}
	set, err := c.amountFields(ctx, r.Amount, r.AmountText, r.Asset, &m.Amount, &m.Asset)
	switch {
	case err != nil:
		return m, err
	case !set && r.Offer == nil:
		return m, fmt.Errorf("tinypay: %w: set Amount or AmountText", ErrInvalidArgument)
	}
	return m, nil
}

// amountFields fills a request's amount (base units) and asset from
// Amount or AmountText, checking that a text's asset is the one asset
// names; set says whether either was given.
func (c *Client) amountFields(ctx context.Context, amount *uint256.Int, text, asset string, dstAmount, dstAsset *string) (set bool, err error) {
	switch {
	case amount != nil && text != "":
		return false, fmt.Errorf("tinypay: %w: set Amount or AmountText, not both", ErrInvalidArgument)
	case amount != nil:
		*dstAmount = amount.Dec()
	case text != "":
		a, err := c.ParseAmount(ctx, text)
		if err != nil {
			return false, err
		}
		if asset != "" {
			if b, ok := (Assets{a.Asset}).Lookup(asset); !ok || b != a.Asset {
				return false, fmt.Errorf("tinypay: %w: AmountText is in %s, Asset says %s", ErrInvalidArgument, a.Asset.Symbol, asset)
			}
		}
		*dstAmount, *dstAsset = a.Value.Dec(), a.Asset.ref()
	default:
		return false, nil
	}
	return true, nil
}

// offerKey is the idempotency key under which a node pays an offer.
// paidOnce reports whether a node pays o at most once (under offerKey).
func paidOnce(o *apiv1.Offer) bool {
	u := o.GetUses()
	return u == apiv1.OfferUses_OFFER_USES_UNSPECIFIED || u == apiv1.OfferUses_OFFER_USES_PER_PAYER
}

func offerKey(o *apiv1.Offer) (string, error) {
	id, err := crypto.ParseHash(o.GetOfferId())
	if err != nil {
		return "", fmt.Errorf("tinypay: %w: offer id: %v", ErrInvalidArgument, err)
	}
	return "offer:" + id.Hex(), nil
}

// PayResult is the outcome of one request of PayMany.
type PayResult struct {
	// Index is the request's position in the slice given to PayMany.
	Index int
	// Key is the request's idempotency key.
	Key string
	// Payment is the completed payment, or nil if Err is set.
	Payment *Payment
	// Err, a *PayError, says why the payment failed or why its outcome is
	// not known; retrying with Key is safe.
	Err error
}

// PayManyOptions tune PayMany.
type PayManyOptions struct {
	// MaxInFlight bounds the requests sent and not yet answered (default
	// DefaultMaxInFlight).
	MaxInFlight int
}

// DefaultMaxInFlight is PayMany's default bound on requests in flight.
const DefaultMaxInFlight = 256

// PayMany pays many payments on one stream, pipelined: up to MaxInFlight
// requests are in flight at once, and the node coalesces what it can into
// few signatures. fn is called on the calling goroutine once per request,
// as each is answered (not in request order). Keys must be unique within
// the call; PayMany writes a key into each request of reqs that has none,
// so that the caller knows what to retry with.
//
// If the stream breaks (or ctx ends) before every request is answered, fn
// gets a result with Err for each request left, and PayMany returns the
// stream's error; the payments of those requests may or may not have been
// made, and retrying them with their keys is safe. If fn returns an error,
// PayMany stops at once and returns it; requests not answered yet get no
// result (they may still be paid: retry them with their keys to learn how
// they ended). App tokens may call PayMany.
func (c *Client) PayMany(ctx context.Context, reqs []PayRequest, opts PayManyOptions, fn func(PayResult) error) error {
	if opts.MaxInFlight < 0 {
		return fmt.Errorf("tinypay: %w: MaxInFlight %d", ErrInvalidArgument, opts.MaxInFlight)
	}
	inFlight := opts.MaxInFlight
	if inFlight == 0 {
		inFlight = DefaultMaxInFlight
	}
	msgs := make([]*apiv1.PayRequest, len(reqs))
	index := make(map[string]int, len(reqs))
	for i, r := range reqs {
		m, err := c.payMsg(ctx, r)
		if err != nil {
			return fmt.Errorf("pay many: request %d: %w", i, err)
		}
		if j, dup := index[m.GetIdempotencyKey()]; dup {
			return fmt.Errorf("tinypay pay many: %w: requests %d and %d have the same key %q", ErrInvalidArgument, j, i, m.GetIdempotencyKey())
		}
		msgs[i], index[m.GetIdempotencyKey()] = m, i
		reqs[i].Key = m.GetIdempotencyKey()
	}
	if len(msgs) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.api.PayStream(ctx)
	if err != nil {
		return c.apiError("pay many", err)
	}
	slots := make(chan struct{}, inFlight)
	sent := make(chan struct{})
	go func() { // the sender; it ends when every request is sent or ctx ends
		defer close(sent)
		for _, m := range msgs {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			if stream.Send(m) != nil {
				return // the stream ended: Recv reports why
			}
		}
		_ = stream.CloseSend()
	}()
	defer func() {
		cancel()
		<-sent
	}()
	answered := make([]bool, len(msgs))
	left := len(msgs)
	for left > 0 {
		res, err := stream.Recv()
		if err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			err = c.apiError("pay many", err)
			for i, done := range answered {
				if !done {
					if ferr := fn(PayResult{Index: i, Key: msgs[i].GetIdempotencyKey(), Err: &PayError{Key: msgs[i].GetIdempotencyKey(), Err: err}}); ferr != nil {
						return ferr
					}
				}
			}
			return err
		}
		i, ok := index[res.GetIdempotencyKey()]
		if !ok || answered[i] {
			return fmt.Errorf("tinypay pay many: %w: the node answered key %q, which was not asked or was answered already", ErrMalformed, res.GetIdempotencyKey())
		}
		answered[i], left = true, left-1
		<-slots
		pr := PayResult{Index: i, Key: res.GetIdempotencyKey()}
		if res.GetCode() != uint32(codes.OK) {
			pr.Err = &PayError{Key: pr.Key, Err: &Error{Op: "pay", Code: codes.Code(res.GetCode()), Message: res.GetError()}}
		} else if p, err := paymentFrom(res.GetPayment()); err != nil {
			pr.Err = &PayError{Key: pr.Key, Err: err}
		} else {
			pr.Payment = p
		}
		if err := fn(pr); err != nil {
			return err
		}
	}
	return nil
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
