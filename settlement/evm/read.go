package evm

import (
	"context"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/settlement"
)

func callMsg(to common.Address, data []byte) ethereum.CallMsg {
	return ethereum.CallMsg{To: &to, Data: data}
}

// Channel returns the adjudicator's record of channel id as of the latest
// block. A channel that was never opened has PhaseNone.
func (b *Backend) Channel(ctx context.Context, id crypto.Hash) (settlement.Channel, error) {
	out, err := b.client.CallContract(ctx, callMsg(b.adj, b.abi.PackChannel(id)), nil)
	if err != nil {
		return settlement.Channel{}, b.classify("read channel", err)
	}
	s, err := b.abi.UnpackChannel(out)
	if err != nil {
		return settlement.Channel{}, fmt.Errorf("read channel: %w", err)
	}
	if s.Phase > uint8(settlement.PhaseSettled) {
		return settlement.Channel{}, fmt.Errorf("read channel: unknown phase %d", s.Phase)
	}
	return settlement.Channel{
		Phase:       settlement.Phase(s.Phase),
		Deposit:     [2]uint256.Int{u256(s.DepositA), u256(s.DepositB)},
		Withdrawn:   [2]uint256.Int{u256(s.WithdrawnA), u256(s.WithdrawnB)},
		Transferred: [2]uint256.Int{u256(s.TransferredAtoB), u256(s.TransferredBtoA)},
		SettleAfter: s.SettleAfter,
	}, nil
}

// Payout returns what the pull ledger holds for account in asset, as of the
// latest block.
func (b *Backend) Payout(ctx context.Context, account, asset crypto.Address) (uint256.Int, error) {
	out, err := b.client.CallContract(ctx, callMsg(b.adj, b.abi.PackPayouts(common.Address(account), common.Address(asset))), nil)
	if err != nil {
		return uint256.Int{}, b.classify("read payout", err)
	}
	v, err := b.abi.UnpackPayouts(out)
	if err != nil {
		return uint256.Int{}, fmt.Errorf("read payout: %w", err)
	}
	return u256(v), nil
}

// Balance returns account's balance of asset (the zero address: ETH) as of
// the latest block; a token address without code gives ErrNoContract.
func (b *Backend) Balance(ctx context.Context, account, asset crypto.Address) (uint256.Int, error) {
	var v *big.Int
	var err error
	if asset.IsZero() {
		v, err = b.client.BalanceAt(ctx, common.Address(account), nil)
		if err != nil {
			return uint256.Int{}, b.classify("balance", err)
		}
	} else {
		if err := b.requireCode(ctx, common.Address(asset), "token"); err != nil {
			return uint256.Int{}, fmt.Errorf("balance: %w", err)
		}
		v, err = b.tokenCall(ctx, common.Address(asset), b.token.PackBalanceOf(common.Address(account)))
		if err != nil {
			return uint256.Int{}, fmt.Errorf("balance: %w", err)
		}
	}
	return u256(v), nil
}

// Head returns the newest block with the configured confirmations: the
// latest block minus Config.Confirmations, with its timestamp.
func (b *Backend) Head(ctx context.Context) (settlement.Head, error) {
	h, err := b.latest(ctx)
	if err != nil {
		return settlement.Head{}, fmt.Errorf("head: %w", err)
	}
	n := h.Number.Uint64()
	if b.cfg.Confirmations == 0 {
		return settlement.Head{Number: n, Time: h.Time}, nil
	}
	if n < b.cfg.Confirmations {
		n = 0
	} else {
		n -= b.cfg.Confirmations
	}
	h, err = b.client.HeaderByNumber(ctx, new(big.Int).SetUint64(n))
	if err != nil {
		return settlement.Head{}, b.classify("head", err)
	}
	return settlement.Head{Number: n, Time: h.Time}, nil
}
