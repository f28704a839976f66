package evm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/settlement"
	"github.com/tinypay/tinypay/settlement/evm/bindings"
)

// Open opens the channel with the caller's first deposit. For a token
// channel it checks the token balance first (ErrInsufficientFunds) and, if
// the allowance is short, approves exactly the deposit before opening.
func (b *Backend) Open(ctx context.Context, p settlement.Params, deposit *uint256.Int) (settlement.Receipt, error) {
	bp, err := b.params(p)
	if err != nil {
		return settlement.Receipt{}, fmt.Errorf("open: %w", err)
	}
	amount := deposit.ToBig()
	c := call{op: "open", to: b.adj, data: b.abi.PackOpen(bp, amount)}
	if p.Asset.IsZero() {
		c.value = amount
		return b.transact(ctx, c)
	}
	return b.tokenDeposit(ctx, bp.Token, amount, c)
}

// Deposit raises participant's total deposit to newTotal; the caller pays
// the difference to the current total (read from the latest block). Token
// deposits check the balance and approve as Open does.
func (b *Backend) Deposit(ctx context.Context, p settlement.Params, participant crypto.Address, newTotal *uint256.Int) (settlement.Receipt, error) {
	bp, err := b.params(p)
	if err != nil {
		return settlement.Receipt{}, fmt.Errorf("deposit: %w", err)
	}
	ch, err := b.Channel(ctx, p.ID())
	if err != nil {
		return settlement.Receipt{}, fmt.Errorf("deposit: %w", err)
	}
	var current uint256.Int
	switch participant {
	case p.Participants[0]:
		current = ch.Deposit[0]
	case p.Participants[1]:
		current = ch.Deposit[1]
	}
	// A total that does not grow sends nothing; the simulation reports
	// NotIncreasing (or NotParticipant, WrongPhase).
	amount := new(big.Int)
	if newTotal.Gt(&current) {
		amount.Sub(newTotal.ToBig(), current.ToBig())
	}
	c := call{op: "deposit", to: b.adj, data: b.abi.PackDeposit(bp, common.Address(participant), newTotal.ToBig())}
	if p.Asset.IsZero() {
		c.value = amount
		return b.transact(ctx, c)
	}
	return b.tokenDeposit(ctx, bp.Token, amount, c)
}

// tokenDeposit sends c, which pulls amount of token from the caller, after
// checking the balance and approving the adjudicator for exactly amount if
// the allowance is short. The receipt's Fee includes the approval's.
func (b *Backend) tokenDeposit(ctx context.Context, token common.Address, amount *big.Int, c call) (settlement.Receipt, error) {
	if amount.Sign() == 0 {
		return b.transact(ctx, c) // reverts with ZeroAmount or NotIncreasing
	}
	if err := b.requireCode(ctx, token, "token"); err != nil {
		return settlement.Receipt{}, fmt.Errorf("%s: %w", c.op, err)
	}
	// Approve-then-deposit flows of one account must not interleave: the
	// second approval would overwrite the first.
	b.tokenMu.Lock()
	defer b.tokenMu.Unlock()

	bal, err := b.tokenCall(ctx, token, b.token.PackBalanceOf(b.account))
	if err != nil {
		return settlement.Receipt{}, fmt.Errorf("%s: token balance: %w", c.op, err)
	}
	if bal.Cmp(amount) < 0 {
		return settlement.Receipt{}, fmt.Errorf("%s: %w: account %s holds %s of token %s, needs %s",
			c.op, settlement.ErrInsufficientFunds, b.account, bal, token, amount)
	}
	_, err = b.simulate(ctx, c)
	if err == nil {
		return b.transact(ctx, c)
	}
	// The adjudicator checks everything else before it pulls the tokens,
	// so TokenTransferFailed here means the allowance (or the token).
	var re *settlement.RevertError
	if !errors.As(err, &re) || !bytes.HasPrefix(re.Data, bindings.AdjudicatorTokenTransferFailedErrorID().Bytes()[:4]) {
		return settlement.Receipt{}, err
	}
	allowance, aerr := b.tokenCall(ctx, token, b.token.PackAllowance(b.account, b.adj))
	if aerr != nil {
		return settlement.Receipt{}, fmt.Errorf("%s: token allowance: %w", c.op, aerr)
	}
	if allowance.Cmp(amount) >= 0 {
		return settlement.Receipt{}, err
	}
	var fee uint256.Int
	approve := func(v *big.Int) error {
		r, err := b.transact(ctx, call{op: "approve", to: token, data: b.token.PackApprove(b.adj, v)})
		fee.Add(&fee, &r.Fee)
		return err
	}
	if aerr := approve(amount); aerr != nil {
		// Some tokens (USDT) refuse to change a nonzero allowance to
		// another nonzero one: reset it first.
		if allowance.Sign() == 0 || !errors.Is(aerr, settlement.ErrReverted) {
			return settlement.Receipt{Fee: fee}, aerr
		}
		if aerr := approve(new(big.Int)); aerr != nil {
			return settlement.Receipt{Fee: fee}, aerr
		}
		if aerr := approve(amount); aerr != nil {
			return settlement.Receipt{Fee: fee}, aerr
		}
	}
	r, err := b.transact(ctx, c)
	r.Fee.Add(&r.Fee, &fee)
	return r, err
}

// tokenCall runs a uint256-returning view of an ERC-20 token.
func (b *Backend) tokenCall(ctx context.Context, token common.Address, data []byte) (*big.Int, error) {
	out, err := b.client.CallContract(ctx, callMsg(token, data), nil)
	if err != nil {
		return nil, b.classify("token call", err)
	}
	if len(out) < 32 {
		return nil, fmt.Errorf("token %s returned %d bytes, want a uint256", token, len(out))
	}
	return new(big.Int).SetBytes(out[:32]), nil
}

// Withdraw raises participant's total withdrawn to total with both
// signatures. If the latest block is at or past expiry, the next block is
// too late and Withdraw returns the Expired revert without sending.
func (b *Backend) Withdraw(ctx context.Context, p settlement.Params, participant crypto.Address, total *uint256.Int, expiry uint64, sigs [2]crypto.Signature) (settlement.Receipt, error) {
	bp, err := b.params(p)
	if err != nil {
		return settlement.Receipt{}, fmt.Errorf("withdraw: %w", err)
	}
	if err := b.checkExpiry(ctx, "withdraw", expiry); err != nil {
		return settlement.Receipt{}, err
	}
	return b.transact(ctx, call{op: "withdraw", to: b.adj,
		data: b.abi.PackWithdraw(bp, common.Address(participant), total.ToBig(), expiry, sigs[0][:], sigs[1][:])})
}

// CooperativeClose closes and pays out on the co-signed balances. Like
// Withdraw it refuses terms the next block would find expired.
func (b *Backend) CooperativeClose(ctx context.Context, p settlement.Params, balances [2]uint256.Int, expiry uint64, sigs [2]crypto.Signature) (settlement.Receipt, error) {
	bp, err := b.params(p)
	if err != nil {
		return settlement.Receipt{}, fmt.Errorf("cooperative close: %w", err)
	}
	if err := b.checkExpiry(ctx, "cooperative close", expiry); err != nil {
		return settlement.Receipt{}, err
	}
	return b.transact(ctx, call{op: "cooperative close", to: b.adj,
		data: b.abi.PackCooperativeClose(bp, balances[0].ToBig(), balances[1].ToBig(), expiry, sigs[0][:], sigs[1][:])})
}

// checkExpiry predicts the Expired revert: a transaction sent now lands in
// a block later than the latest one.
func (b *Backend) checkExpiry(ctx context.Context, op string, expiry uint64) error {
	head, err := b.latest(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if head.Time >= expiry {
		re := b.dec.revert(b.dec.encode("Expired", expiry, new(big.Int).SetUint64(head.Time+1)))
		return fmt.Errorf("%s: the latest block (time %d) is already at the expiry, the next one is too late: %w", op, head.Time, re)
	}
	return nil
}

// ForceClose closes the channel alone with the peer's newest proof and,
// optionally, the caller's own.
func (b *Backend) ForceClose(ctx context.Context, p settlement.Params, peers, own settlement.Proof) (settlement.Receipt, error) {
	bp, err := b.params(p)
	if err != nil {
		return settlement.Receipt{}, fmt.Errorf("force close: %w", err)
	}
	return b.transact(ctx, call{op: "force close", to: b.adj, data: b.abi.PackClose(bp, proof(peers), proof(own))})
}

// Update presents newer proofs during the challenge period; zero proofs in
// the list are left out. If the latest block is already at settleAfter, the
// next block is too late, and Update returns the ChallengePeriodOver revert
// without sending.
func (b *Backend) Update(ctx context.Context, p settlement.Params, proofs []settlement.Proof) (settlement.Receipt, error) {
	bp, err := b.params(p)
	if err != nil {
		return settlement.Receipt{}, fmt.Errorf("update: %w", err)
	}
	ch, err := b.Channel(ctx, p.ID())
	if err != nil {
		return settlement.Receipt{}, fmt.Errorf("update: %w", err)
	}
	if ch.Phase == settlement.PhaseClosed {
		head, err := b.latest(ctx)
		if err != nil {
			return settlement.Receipt{}, fmt.Errorf("update: %w", err)
		}
		if head.Time >= ch.SettleAfter {
			re := b.dec.revert(b.dec.encode("ChallengePeriodOver", ch.SettleAfter, new(big.Int).SetUint64(head.Time+1)))
			return settlement.Receipt{}, fmt.Errorf("update: the latest block (time %d) is at the end of the challenge period, the next one is too late: %w", head.Time, re)
		}
	}
	list := make([]bindings.AdjudicatorProof, 0, len(proofs))
	for _, pr := range proofs {
		if !pr.IsZero() {
			list = append(list, proof(pr))
		}
	}
	return b.transact(ctx, call{op: "update", to: b.adj, data: b.abi.PackUpdate(bp, list)})
}

// Settle settles a force-closed channel. Gas estimation runs at the latest
// block, so Settle first waits, polling, for a block whose timestamp is past
// settleAfter, but only when that is due within Config.SettleWait (and ctx
// allows); otherwise it returns at once a *settlement.RevertError
// (ChallengePeriodNotOver) whose message says how many seconds remain.
func (b *Backend) Settle(ctx context.Context, p settlement.Params) (settlement.Receipt, error) {
	bp, err := b.params(p)
	if err != nil {
		return settlement.Receipt{}, fmt.Errorf("settle: %w", err)
	}
	ch, err := b.Channel(ctx, p.ID())
	if err != nil {
		return settlement.Receipt{}, fmt.Errorf("settle: %w", err)
	}
	if ch.Phase == settlement.PhaseClosed {
		if err := b.awaitTime(ctx, ch.SettleAfter); err != nil {
			return settlement.Receipt{}, err
		}
	}
	return b.transact(ctx, call{op: "settle", to: b.adj, data: b.abi.PackSettle(bp)})
}

// awaitTime waits for a latest block with timestamp > after, within
// Config.SettleWait.
func (b *Backend) awaitTime(ctx context.Context, after uint64) error {
	deadline := time.Now().Add(b.cfg.SettleWait)
	pl := b.poller()
	for {
		head, err := b.latest(ctx)
		if err != nil {
			return fmt.Errorf("settle: %w", err)
		}
		if head.Time > after {
			return nil
		}
		remaining := after + 1 - head.Time
		if time.Until(deadline) < time.Duration(remaining)*time.Second || time.Now().After(deadline) {
			re := b.dec.revert(b.dec.encode("ChallengePeriodNotOver", after, new(big.Int).SetUint64(head.Time)))
			return fmt.Errorf("settle: the challenge period is not over, %d s remain (latest block time %d, settle allowed after %d): %w",
				remaining, head.Time, after, re)
		}
		b.log.Debug("waiting for the end of the challenge period", "settleAfter", after, "latest", head.Time)
		if err := pl.sleep(ctx); err != nil {
			return fmt.Errorf("settle: waiting for the challenge period to end: %w", err)
		}
	}
}

// WithdrawPayout collects everything the pull ledger holds for the caller
// in asset and returns the amount paid (from the PayoutWithdrawn event).
func (b *Backend) WithdrawPayout(ctx context.Context, asset crypto.Address) (uint256.Int, settlement.Receipt, error) {
	rec, raw, err := b.transactLogs(ctx, call{op: "withdraw payout", to: b.adj, data: b.abi.PackWithdrawPayout(common.Address(asset))})
	if err != nil {
		return uint256.Int{}, rec, err
	}
	for _, l := range raw.Logs {
		if l.Address != b.adj {
			continue
		}
		if ev, err := b.abi.UnpackPayoutWithdrawnEvent(l); err == nil && ev.Account == b.account {
			return u256(ev.Amount), rec, nil
		}
	}
	return uint256.Int{}, rec, fmt.Errorf("withdraw payout: transaction %s has no PayoutWithdrawn event", rec.TxHash)
}

// latest returns the latest block header.
func (b *Backend) latest(ctx context.Context) (*types.Header, error) {
	h, err := b.client.HeaderByNumber(ctx, nil)
	if err != nil {
		return nil, b.classify("latest block", err)
	}
	return h, nil
}
