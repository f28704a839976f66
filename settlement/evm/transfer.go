package evm

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/params"
	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/settlement"
)

var _ settlement.Transferrer = (*Backend)(nil)

// transferCall is the transaction that moves amount of req's asset.
func (b *Backend) transferCall(req settlement.TransferRequest, amount *big.Int) call {
	if req.Asset.IsZero() {
		return call{op: "transfer", to: common.Address(req.To), value: amount}
	}
	return call{op: "transfer", to: common.Address(req.Asset), data: b.token.PackTransfer(common.Address(req.To), amount)}
}

// checkTransfer refuses requests no chain should carry out.
func (b *Backend) checkTransfer(req settlement.TransferRequest) error {
	switch {
	case req.To.IsZero():
		return fmt.Errorf("transfer: %w: the destination is the zero address", settlement.ErrInvalidTransfer)
	case req.To == b.Account():
		return fmt.Errorf("transfer: %w: the destination is the sending account itself", settlement.ErrInvalidTransfer)
	case !req.All && req.Amount.IsZero():
		return fmt.Errorf("transfer: %w: the amount is zero", settlement.ErrInvalidTransfer)
	}
	return nil
}

// quoteTransfer prices req at the latest block. It returns the quote, the
// call that carries it out and the fees to sign it with.
func (b *Backend) quoteTransfer(ctx context.Context, req settlement.TransferRequest) (settlement.TransferQuote, call, feeParams, error) {
	var q settlement.TransferQuote
	if err := b.checkTransfer(req); err != nil {
		return q, call{}, feeParams{}, err
	}
	token := !req.Asset.IsZero()
	bal, err := b.Balance(ctx, b.Account(), req.Asset)
	if err != nil {
		return q, call{}, feeParams{}, fmt.Errorf("transfer: %w", err)
	}
	q.Balance = bal
	amount := req.Amount
	if req.All {
		if !bal.Gt(&req.Keep) {
			return q, call{}, feeParams{}, fmt.Errorf("transfer: %w: account %s holds %s of %s and keeps %s: nothing to send",
				settlement.ErrInsufficientFunds, b.account, bal.Dec(), assetName(req.Asset), req.Keep.Dec())
		}
		amount.Sub(&bal, &req.Keep)
	} else if amount.Gt(&bal) {
		return q, call{}, feeParams{}, fmt.Errorf("transfer: %w: account %s holds %s of %s, the transfer needs %s",
			settlement.ErrInsufficientFunds, b.account, bal.Dec(), assetName(req.Asset), amount.Dec())
	}
	c := b.transferCall(req, amount.ToBig())

	// Gas: a plain ETH transfer to an account without code costs exactly
	// the intrinsic gas; anything else is estimated, with headroom.
	est := params.TxGas
	gas := est
	plain := false
	if !token {
		code, err := b.client.CodeAt(ctx, c.to, nil)
		if err != nil {
			return q, call{}, feeParams{}, b.classify("transfer: code of the destination", err)
		}
		plain = len(code) == 0
	} else {
		// A token that refuses says so here, with its reason; one that
		// answers false without reverting is refused too.
		out, err := b.client.CallContract(ctx, c.msg(b.account), nil)
		if err != nil {
			return q, call{}, feeParams{}, b.classify("transfer", err)
		}
		if len(out) >= 32 && new(big.Int).SetBytes(out[:32]).Sign() == 0 {
			return q, call{}, feeParams{}, fmt.Errorf("transfer: %w", &settlement.RevertError{Reason: "the token's transfer returned false"})
		}
	}
	if !plain {
		if est, err = b.simulate(ctx, c); err != nil {
			return q, call{}, feeParams{}, err
		}
		gas = est + est*b.cfg.GasHeadroom/100
	}
	fees, err := b.fees(ctx)
	if err != nil {
		return q, call{}, feeParams{}, err
	}
	maxFee := new(big.Int).Mul(new(big.Int).SetUint64(gas), fees.max)
	q.Gas = gas
	q.MaxFee = u256(maxFee)
	q.Fee = u256(new(big.Int).Mul(new(big.Int).SetUint64(est), fees.expected))

	if token {
		eth, err := b.client.BalanceAt(ctx, b.account, nil)
		if err != nil {
			return q, call{}, feeParams{}, b.classify("balance", err)
		}
		if eth.Cmp(maxFee) < 0 {
			return q, call{}, feeParams{}, fmt.Errorf("transfer: %w: account %s has %s wei for gas, the transfer may cost up to %s wei (%d gas at up to %s wei)",
				settlement.ErrInsufficientFunds, b.account, eth, maxFee, gas, fees.max)
		}
		q.Amount = amount
		return q, c, fees, nil
	}
	// ETH pays for its own gas.
	var need uint256.Int
	need.Add(&amount, &q.MaxFee)
	if req.All {
		if !amount.Gt(&q.MaxFee) {
			return q, call{}, feeParams{}, fmt.Errorf("transfer: %w: account %s holds %s wei and keeps %s: the rest does not cover the gas (up to %s wei)",
				settlement.ErrInsufficientFunds, b.account, bal.Dec(), req.Keep.Dec(), q.MaxFee.Dec())
		}
		amount.Sub(&amount, &q.MaxFee)
		c = b.transferCall(req, amount.ToBig())
	} else if need.Gt(&bal) {
		return q, call{}, feeParams{}, fmt.Errorf("transfer: %w: account %s holds %s wei, the transfer needs %s wei and up to %s wei for gas (%d gas at up to %s wei)",
			settlement.ErrInsufficientFunds, b.account, bal.Dec(), amount.Dec(), q.MaxFee.Dec(), gas, fees.max)
	}
	q.Amount = amount
	return q, c, fees, nil
}

func assetName(a crypto.Address) string {
	if a.IsZero() {
		return "ETH (wei)"
	}
	return "token " + a.Hex()
}

// QuoteTransfer checks and prices a transfer at the latest block; nothing
// is signed or sent. A plain ETH transfer to an account without code has
// exactly the intrinsic gas (21,000); token transfers and transfers to
// contracts are estimated (and simulated, so that a refusal comes back as
// a *settlement.RevertError) and get Config.GasHeadroom on top.
func (b *Backend) QuoteTransfer(ctx context.Context, req settlement.TransferRequest) (settlement.TransferQuote, error) {
	q, _, _, err := b.quoteTransfer(ctx, req)
	return q, err
}

// SignTransfer checks and prices req as QuoteTransfer does and signs it
// with the account's next nonce, which it takes. Nothing is sent.
func (b *Backend) SignTransfer(ctx context.Context, req settlement.TransferRequest) (settlement.SignedTransfer, error) {
	q, c, fees, err := b.quoteTransfer(ctx, req)
	if err != nil {
		return settlement.SignedTransfer{}, err
	}
	b.sendMu.Lock()
	defer b.sendMu.Unlock()
	if !b.nonceValid {
		n, err := b.client.PendingNonceAt(ctx, b.account)
		if err != nil {
			return settlement.SignedTransfer{}, b.classify("nonce", err)
		}
		b.nonce, b.nonceValid = n, true
	}
	tx, err := types.SignNewTx(b.key, b.signer, fees.tx(b.chainID, b.nonce, q.Gas, c))
	if err != nil {
		return settlement.SignedTransfer{}, fmt.Errorf("transfer: sign: %w", err)
	}
	raw, err := tx.MarshalBinary()
	if err != nil {
		return settlement.SignedTransfer{}, fmt.Errorf("transfer: encode: %w", err)
	}
	b.nonce++
	b.log.Debug("transfer signed", "to", req.To, "asset", req.Asset, "amount", q.Amount.Dec(), "tx", tx.Hash(), "nonce", tx.Nonce())
	return settlement.SignedTransfer{To: req.To, Asset: req.Asset, Amount: q.Amount, Nonce: tx.Nonce(),
		TxHash: crypto.Hash(tx.Hash()), MaxFee: q.MaxFee, Raw: raw}, nil
}

// SendTransfer sends a signed transfer, or sends it again, and waits until
// it is mined and has the configured confirmations. One already mined is
// not sent again: its receipt is awaited. While it waits it also watches
// the account's nonce: once the chain has used the transfer's nonce for
// another transaction, it returns ErrDropped.
func (b *Backend) SendTransfer(ctx context.Context, t settlement.SignedTransfer) (settlement.Receipt, error) {
	tx := new(types.Transaction)
	if err := tx.UnmarshalBinary(t.Raw); err != nil {
		return settlement.Receipt{}, fmt.Errorf("transfer: %w: the signed transaction does not decode: %v", settlement.ErrInvalidTransfer, err)
	}
	if tx.Hash() != common.Hash(t.TxHash) {
		return settlement.Receipt{}, fmt.Errorf("transfer: %w: the signed transaction is %s, not %s", settlement.ErrInvalidTransfer, tx.Hash(), t.TxHash)
	}
	if from, err := types.Sender(b.signer, tx); err != nil || from != b.account {
		return settlement.Receipt{}, fmt.Errorf("transfer: %w: transaction %s is not signed by %s on chain %d", settlement.ErrInvalidTransfer, tx.Hash(), b.account, b.cfg.ChainID)
	}
	hash := tx.Hash()
	if r, err := b.client.TransactionReceipt(ctx, hash); err == nil && r != nil {
		return b.transferReceipt(ctx, tx) // mined before: never sent twice
	} else if err != nil && !errors.Is(err, ethereum.NotFound) {
		return settlement.Receipt{}, b.classify("transfer: receipt", err)
	}
	err := b.client.SendTransaction(ctx, tx)
	switch {
	case err == nil || alreadyKnown(err):
		b.log.Debug("transfer sent", "tx", hash, "nonce", tx.Nonce())
	case strings.Contains(err.Error(), "nonce too low"):
		// The nonce is used: by this very transaction (mined meanwhile),
		// or by another one, and then this one never will be.
		if r, rerr := b.client.TransactionReceipt(ctx, hash); rerr == nil && r != nil {
			return b.transferReceipt(ctx, tx)
		}
		return settlement.Receipt{}, fmt.Errorf("transfer: transaction %s (nonce %d): %w", hash, tx.Nonce(), settlement.ErrDropped)
	case strings.Contains(err.Error(), "replacement transaction underpriced"):
		// Another transaction holds the nonce in the pool (or was just
		// mined, and the pool has not caught up): this one is dropped once
		// that one is mined, which transferReceipt sees.
		b.log.Debug("transfer's nonce is held by another transaction", "tx", hash, "nonce", tx.Nonce())
		return b.transferReceipt(ctx, tx)
	default:
		err = b.classify("transfer: send", err)
		if errors.Is(err, settlement.ErrInsufficientFunds) {
			// Refused, so its nonce stays unused: read it again.
			b.sendMu.Lock()
			b.nonceValid = false
			b.sendMu.Unlock()
		}
		return settlement.Receipt{}, fmt.Errorf("transaction %s: %w", hash, err)
	}
	b.sendMu.Lock()
	if b.nonceValid && b.nonce <= tx.Nonce() {
		b.nonce = tx.Nonce() + 1 // sent again after a restart
	}
	b.sendMu.Unlock()
	return b.transferReceipt(ctx, tx)
}

// transferReceipt waits until tx is mined (or dropped: another
// transaction took its nonce) and has the configured confirmations.
func (b *Backend) transferReceipt(ctx context.Context, tx *types.Transaction) (settlement.Receipt, error) {
	hash := tx.Hash()
	wctx, cancel := context.WithTimeoutCause(ctx, b.cfg.ReceiptTimeout, ErrReceiptTimeout)
	defer cancel()
	p := b.poller()
	for {
		r, err := b.client.TransactionReceipt(wctx, hash)
		if err == nil && r != nil {
			break
		}
		if err == nil || errors.Is(err, ethereum.NotFound) {
			n, nerr := b.client.NonceAt(wctx, b.account, nil)
			if nerr == nil && n > tx.Nonce() {
				if r, err := b.client.TransactionReceipt(wctx, hash); err == nil && r != nil {
					break // mined between the two reads
				}
				return settlement.Receipt{}, fmt.Errorf("transfer: transaction %s (nonce %d): %w", hash, tx.Nonce(), settlement.ErrDropped)
			}
		} else if perr := b.pollErr(wctx, err); perr != nil {
			return settlement.Receipt{}, fmt.Errorf("transfer: transaction %s: %w", hash, perr)
		}
		if err := p.sleep(wctx); err != nil {
			return settlement.Receipt{}, fmt.Errorf("transfer: transaction %s: %w", hash, b.waitErr(wctx, err))
		}
	}
	r, err := b.wait(ctx, hash) // the confirmations
	if err != nil {
		return settlement.Receipt{}, fmt.Errorf("transfer: transaction %s: %w", hash, err)
	}
	rec := settlement.Receipt{TxHash: crypto.Hash(r.TxHash), Block: r.BlockNumber.Uint64(), GasUsed: r.GasUsed}
	if r.EffectiveGasPrice != nil {
		rec.Fee.Mul(uint256.NewInt(r.GasUsed), uint256.MustFromBig(r.EffectiveGasPrice))
	}
	if r.Status != types.ReceiptStatusSuccessful {
		c := call{op: "transfer", to: *tx.To(), value: tx.Value(), data: tx.Data()}
		rerr := b.minedRevert(ctx, c, tx, r)
		b.log.Info("transfer reverted on chain", "tx", hash, "block", rec.Block, "reason", rerr.Reason)
		return rec, fmt.Errorf("transfer: transaction %s: %w", hash, rerr)
	}
	b.log.Debug("transfer confirmed", "tx", hash, "block", rec.Block, "gasUsed", r.GasUsed)
	return rec, nil
}
