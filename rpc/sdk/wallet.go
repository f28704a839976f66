package sdk

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/holiman/uint256"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
)

// SendRequest asks the node to send funds from its own wallet (its key's
// account) to another address on chain.
type SendRequest struct {
	// To is the destination address (0x hex).
	To string
	// The amount: Amount in base units with Asset (a symbol or token
	// address), or AmountText as people write it ("1.5 USD"), or All with
	// Asset (the whole balance; for ETH, less the most the gas can cost).
	Asset      string
	Amount     *uint256.Int
	AmountText string
	All        bool
	// Key is the idempotency key: a retry with the same key never sends
	// twice. Empty: WalletSend makes a random one and reports it.
	Key string
}

// Transfer is a transfer of the node's own funds on chain: a wallet send
// or a sweep.
type Transfer struct {
	Key string
	// Origin is "operator" (a wallet send) or "sweep".
	Origin string
	To     string
	Asset  Asset
	Amount *uint256.Int
	All    bool
	// Status: "sending" (signed and sent, not confirmed), "sent" (mined)
	// or "failed" (it moved nothing).
	Status string
	TxHash string
	Block  uint64
	// Fee (once mined) and MaxFee are in wei.
	Fee     *uint256.Int
	MaxFee  *uint256.Int
	Error   string
	Created time.Time
}

// SendEstimate is what a send would move and cost now.
type SendEstimate struct {
	Asset   Asset
	Amount  *uint256.Int
	Balance *uint256.Int
	Gas     uint64
	// Fee is the expected fee, MaxFee the most it can be, in wei.
	Fee    *uint256.Int
	MaxFee *uint256.Int
}

// SendError is the error of a send that failed or whose outcome is not
// known (Err matches context.DeadlineExceeded: the transfer is signed and
// sent, not confirmed yet). Retrying with Key never sends twice.
type SendError struct {
	Key string
	Err error
}

// Error implements error.
func (e *SendError) Error() string { return fmt.Sprintf("send %q: %v", e.Key, e.Err) }

// Unwrap returns Err.
func (e *SendError) Unwrap() error { return e.Err }

func (c *Client) sendMsg(ctx context.Context, r SendRequest) (*apiv1.WalletSendRequest, error) {
	m := &apiv1.WalletSendRequest{To: r.To, Asset: r.Asset, All: r.All, IdempotencyKey: r.Key}
	if r.All && (r.Amount != nil || r.AmountText != "") {
		return m, fmt.Errorf("tinypay: %w: set All or an amount, not both", ErrInvalidArgument)
	}
	set, err := c.amountFields(ctx, r.Amount, r.AmountText, r.Asset, &m.Amount, &m.Asset)
	switch {
	case err != nil:
		return m, err
	case !set && !r.All:
		return m, fmt.Errorf("tinypay: %w: set Amount, AmountText or All", ErrInvalidArgument)
	}
	return m, nil
}

// WalletSend sends funds from the node's wallet and returns once the
// transfer is mined (or failed). A failure is a *SendError with the key
// (made up if the request had none): retry with it after an error whose
// outcome is unknown. WalletSend itself tries again, with the same key,
// for up to five seconds while the node is unavailable. App tokens may not
// send.
func (c *Client) WalletSend(ctx context.Context, r SendRequest) (*Transfer, error) {
	if r.Key == "" {
		r.Key = NewKey()
	}
	m, err := c.sendMsg(ctx, r)
	if err != nil {
		return nil, &SendError{Key: r.Key, Err: err}
	}
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	delay, giveUp := payRetryDelay, time.Now().Add(payRetryFor)
	for {
		tm, err := c.api.WalletSend(ctx, m)
		if err == nil {
			t, err := transferFrom(tm)
			if err != nil {
				return nil, &SendError{Key: r.Key, Err: err}
			}
			return t, nil
		}
		err = c.apiError("wallet send", err)
		if !errors.Is(err, ErrUnavailable) || time.Now().Add(delay).After(giveUp) {
			return nil, &SendError{Key: r.Key, Err: err}
		}
		if err := sleep(ctx, delay); err != nil {
			return nil, &SendError{Key: r.Key, Err: c.apiError("wallet send", err)}
		}
		delay = min(2*delay, payMaxRetryDelay)
	}
}

// EstimateWalletSend checks a send and says what it would move and cost
// now; nothing is signed or sent.
func (c *Client) EstimateWalletSend(ctx context.Context, r SendRequest) (*SendEstimate, error) {
	m, err := c.sendMsg(ctx, r)
	if err != nil {
		return nil, err
	}
	e, err := call(ctx, c, "estimate wallet send", c.api.EstimateWalletSend, m)
	if err != nil {
		return nil, err
	}
	var d decoder
	out := &SendEstimate{Asset: assetFrom(e.GetAsset()), Amount: d.amount("amount", e.GetAmount()), Balance: d.amount("balance", e.GetBalance()),
		Gas: e.GetGas(), Fee: d.amount("fee", e.GetFee()), MaxFee: d.amount("max_fee", e.GetMaxFee())}
	return out, d.err
}

func transferFrom(m *apiv1.Transfer) (*Transfer, error) {
	if m == nil {
		return nil, fmt.Errorf("tinypay: %w: the node sent no transfer", ErrMalformed)
	}
	var d decoder
	t := &Transfer{
		Key: m.GetIdempotencyKey(), Origin: m.GetOrigin(), To: m.GetTo(), Asset: assetFrom(m.GetAsset()), Amount: d.amount("amount", m.GetAmount()),
		All: m.GetAll(), Status: m.GetStatus(), TxHash: m.GetTxHash(), Block: m.GetBlock(), Fee: d.amount("fee", m.GetFee()),
		MaxFee: d.amount("max_fee", m.GetMaxFee()), Error: m.GetError(), Created: unixNano(m.GetCreatedUnixNano()),
	}
	return t, d.err
}
