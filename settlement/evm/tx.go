package evm

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/settlement"
)

// call is one contract call the backend sends as a transaction.
type call struct {
	op    string // for logs and errors: "open", "approve", ...
	to    common.Address
	value *big.Int // nil: none
	data  []byte
}

func (c call) msg(from common.Address) ethereum.CallMsg {
	return ethereum.CallMsg{From: from, To: &c.to, Value: c.value, Data: c.data}
}

// simulate runs c against the latest block and returns the gas it needs; a
// revert comes back as a *settlement.RevertError, a value above the balance
// as ErrInsufficientFunds.
func (b *Backend) simulate(ctx context.Context, c call) (uint64, error) {
	gas, err := b.client.EstimateGas(ctx, c.msg(b.account))
	if err != nil {
		return 0, b.classify(c.op, err)
	}
	return gas, nil
}

// transact simulates c, sends it as a transaction signed by the backend's
// key and waits until it is mined and confirmed. A transaction mined but
// reverted returns its receipt and a *settlement.RevertError.
func (b *Backend) transact(ctx context.Context, c call) (settlement.Receipt, error) {
	rec, _, err := b.transactLogs(ctx, c)
	return rec, err
}

// transactLogs is transact that also returns the raw receipt (nil if the
// transaction was not mined).
func (b *Backend) transactLogs(ctx context.Context, c call) (settlement.Receipt, *types.Receipt, error) {
	gas, err := b.simulate(ctx, c)
	if err != nil {
		return settlement.Receipt{}, nil, err
	}
	gas += gas * b.cfg.GasHeadroom / 100

	tx, err := b.send(ctx, c, gas)
	if err != nil {
		return settlement.Receipt{}, nil, err
	}
	b.log.Debug("transaction sent", "op", c.op, "tx", tx.Hash(), "nonce", tx.Nonce(), "gas", gas)

	r, err := b.wait(ctx, tx.Hash())
	if err != nil {
		return settlement.Receipt{}, nil, fmt.Errorf("%s: transaction %s: %w", c.op, tx.Hash(), err)
	}
	rec := settlement.Receipt{TxHash: crypto.Hash(r.TxHash), Block: r.BlockNumber.Uint64(), GasUsed: r.GasUsed}
	if r.EffectiveGasPrice != nil {
		rec.Fee.Mul(uint256.NewInt(r.GasUsed), uint256.MustFromBig(r.EffectiveGasPrice))
	}
	if r.Status != types.ReceiptStatusSuccessful {
		rerr := b.minedRevert(ctx, c, tx, r)
		b.log.Info("transaction reverted on chain", "op", c.op, "tx", tx.Hash(), "block", rec.Block, "reason", rerr.Reason)
		return rec, r, fmt.Errorf("%s: transaction %s: %w", c.op, tx.Hash(), rerr)
	}
	b.log.Debug("transaction confirmed", "op", c.op, "tx", tx.Hash(), "block", rec.Block, "gasUsed", r.GasUsed)
	return rec, r, nil
}

// minedRevert explains a transaction that failed on chain: out of gas, or
// the revert a replay of the call at its block gives.
func (b *Backend) minedRevert(ctx context.Context, c call, tx *types.Transaction, r *types.Receipt) *settlement.RevertError {
	if r.GasUsed >= tx.Gas() {
		return &settlement.RevertError{Reason: fmt.Sprintf("out of gas (used all %d)", tx.Gas())}
	}
	msg := c.msg(b.account)
	msg.Gas = tx.Gas()
	_, err := b.client.CallContract(ctx, msg, r.BlockNumber)
	if err != nil {
		var re *settlement.RevertError
		if errors.As(b.classify(c.op, err), &re) {
			return re
		}
	}
	return &settlement.RevertError{Reason: "failed on chain; replaying it at its block did not reproduce the revert"}
}

// send signs and sends a transaction with the next nonce. Sending is
// serialized per backend, so concurrent calls get consecutive nonces; on a
// nonce error the nonce is read again from the pending state and the send
// retried once.
func (b *Backend) send(ctx context.Context, c call, gas uint64) (*types.Transaction, error) {
	fees, err := b.fees(ctx)
	if err != nil {
		return nil, err
	}
	if err := b.checkFunds(ctx, c, gas, fees.max); err != nil {
		return nil, err
	}

	b.sendMu.Lock()
	defer b.sendMu.Unlock()
	for attempt := 0; ; attempt++ {
		if !b.nonceValid {
			n, err := b.client.PendingNonceAt(ctx, b.account)
			if err != nil {
				return nil, b.classify("nonce", err)
			}
			b.nonce, b.nonceValid = n, true
		}
		tx, err := types.SignNewTx(b.key, b.signer, fees.tx(b.chainID, b.nonce, gas, c))
		if err != nil {
			return nil, fmt.Errorf("%s: sign: %w", c.op, err)
		}
		err = b.client.SendTransaction(ctx, tx)
		switch {
		case err == nil || alreadyKnown(err):
			b.nonce++
			return tx, nil
		case nonceError(err) && attempt == 0:
			b.log.Info("nonce out of sync, reading it again", "op", c.op, "nonce", b.nonce, "err", err)
			b.nonceValid = false
			continue
		}
		// The node may or may not have taken the transaction: read the
		// nonce again next time.
		b.nonceValid = false
		return nil, b.classify(c.op+": send", err)
	}
}

// feeParams are the fee fields of a transaction: EIP-1559 when the chain has
// a base fee, a legacy gas price otherwise.
type feeParams struct {
	tip, cap *big.Int // EIP-1559
	price    *big.Int // legacy
	max      *big.Int // the most one unit of gas can cost
	expected *big.Int // what one unit of gas costs in the next block if the base fee stays
}

func (f feeParams) tx(chainID *big.Int, nonce, gas uint64, c call) types.TxData {
	if f.price != nil {
		return &types.LegacyTx{Nonce: nonce, GasPrice: f.price, Gas: gas, To: &c.to, Value: c.value, Data: c.data}
	}
	return &types.DynamicFeeTx{ChainID: chainID, Nonce: nonce, GasTipCap: f.tip, GasFeeCap: f.cap, Gas: gas, To: &c.to, Value: c.value, Data: c.data}
}

// fees proposes fees from the latest block: a fee cap of twice the base fee
// plus the suggested tip, which survives six full blocks of base-fee rises.
func (b *Backend) fees(ctx context.Context) (feeParams, error) {
	head, err := b.client.HeaderByNumber(ctx, nil)
	if err != nil {
		return feeParams{}, b.classify("latest block", err)
	}
	if head.BaseFee == nil {
		price, err := b.client.SuggestGasPrice(ctx)
		if err != nil {
			return feeParams{}, b.classify("gas price", err)
		}
		return feeParams{price: price, max: price, expected: price}, nil
	}
	tip, err := b.client.SuggestGasTipCap(ctx)
	if err != nil {
		return feeParams{}, b.classify("gas tip", err)
	}
	if tip.Sign() <= 0 {
		tip = big.NewInt(1)
	}
	feeCap := new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(2)), tip)
	return feeParams{tip: tip, cap: feeCap, max: feeCap, expected: new(big.Int).Add(head.BaseFee, tip)}, nil
}

// checkFunds fails with ErrInsufficientFunds unless the account can pay the
// value and the gas at the highest fee the transaction allows.
func (b *Backend) checkFunds(ctx context.Context, c call, gas uint64, maxFee *big.Int) error {
	bal, err := b.client.BalanceAt(ctx, b.account, nil)
	if err != nil {
		return b.classify("balance", err)
	}
	need := new(big.Int).Mul(new(big.Int).SetUint64(gas), maxFee)
	if c.value != nil {
		need.Add(need, c.value)
	}
	if bal.Cmp(need) < 0 {
		value := c.value
		if value == nil {
			value = new(big.Int)
		}
		return fmt.Errorf("%s: %w: account %s has %s wei, needs %s (value %s + gas %d at up to %s wei)",
			c.op, settlement.ErrInsufficientFunds, b.account, bal, need, value, gas, maxFee)
	}
	return nil
}

// wait polls for the receipt of hash until it is mined and has the
// configured confirmations, then returns the receipt as of that time (it
// is read again, so a reorg that moved the transaction is followed).
func (b *Backend) wait(ctx context.Context, hash common.Hash) (*types.Receipt, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, b.cfg.ReceiptTimeout, ErrReceiptTimeout)
	defer cancel()
	p := b.poller()
	for {
		r, err := b.client.TransactionReceipt(ctx, hash)
		switch {
		case err == nil && r != nil:
			if b.cfg.Confirmations == 0 {
				return r, nil
			}
			head, err := b.client.BlockNumber(ctx)
			if err != nil {
				if perr := b.pollErr(ctx, err); perr != nil {
					return nil, perr
				}
				break
			}
			if head >= r.BlockNumber.Uint64()+b.cfg.Confirmations {
				again, err := b.client.TransactionReceipt(ctx, hash)
				if err == nil && again != nil && again.BlockHash == r.BlockHash {
					return again, nil
				}
				// Reorganized away or moved: keep waiting.
			}
		case errors.Is(err, ethereum.NotFound) || err == nil:
		default:
			if perr := b.pollErr(ctx, err); perr != nil {
				return nil, perr
			}
		}
		if err := p.sleep(ctx); err != nil {
			return nil, b.waitErr(ctx, err)
		}
	}
}

// pollErr decides whether a failed poll ends the wait: a context error or
// anything but an unavailable endpoint (which may come back) does.
func (b *Backend) pollErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return b.waitErr(ctx, ctx.Err())
	}
	if isUnavailable(err) {
		b.log.Debug("endpoint unavailable while waiting, retrying", "err", err)
		return nil
	}
	return b.classify("receipt", err)
}

func (b *Backend) waitErr(ctx context.Context, err error) error {
	if errors.Is(context.Cause(ctx), ErrReceiptTimeout) {
		// The transaction may have been dropped: read the nonce again.
		b.sendMu.Lock()
		b.nonceValid = false
		b.sendMu.Unlock()
		return fmt.Errorf("%w after %s", ErrReceiptTimeout, b.cfg.ReceiptTimeout)
	}
	return err
}

// poller sleeps between polls: 20ms at first, doubling up to PollInterval.
type poller struct {
	next, max time.Duration
}

func (b *Backend) poller() *poller {
	return &poller{next: min(20*time.Millisecond, b.cfg.PollInterval), max: b.cfg.PollInterval}
}

func (p *poller) sleep(ctx context.Context) error {
	t := time.NewTimer(p.next)
	defer t.Stop()
	p.next = min(2*p.next, p.max)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
