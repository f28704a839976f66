package devchain

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	gethcrypto "github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/params"

	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/settlement/evm/bindings"
)

// deploy deploys the adjudicator (deployer nonce 0) and the test dollar
// (nonce 1) and mints FundUSD to every dev account, so the addresses are the
// same on every fresh chain with the same seed. On a chain reused from a
// data directory it finds them deployed and only looks up the deployment
// block.
func (c *Chain) deploy(ctx context.Context, deployer *crypto.PrivateKey) (adj, token common.Address, block uint64, err error) {
	from := common.Address(deployer.Address())
	adj = gethcrypto.CreateAddress(from, 0)
	token = gethcrypto.CreateAddress(from, 1)
	key, err := gethcrypto.ToECDSA(deployer.Bytes())
	if err != nil {
		return adj, token, 0, err
	}

	code, err := c.client.CodeAt(ctx, adj, nil)
	if err != nil {
		return adj, token, 0, err
	}
	if len(code) > 0 {
		block, err := c.deployBlock(ctx, adj)
		c.log.Info("reusing deployed contracts", "adjudicator", adj, "token", token, "deployBlock", block)
		return adj, token, block, err
	}

	d := &deployTx{c: c, key: key, from: from}
	adjTx, err := d.send(ctx, nil, common.FromHex(bindings.AdjudicatorMetaData.Bin))
	if err != nil {
		return adj, token, 0, fmt.Errorf("adjudicator: %w", err)
	}
	tokTx, err := d.send(ctx, nil, common.FromHex(bindings.TestTokenMetaData.Bin))
	if err != nil {
		return adj, token, 0, fmt.Errorf("token: %w", err)
	}
	receipts, err := d.mine(ctx, adjTx, tokTx)
	if err != nil {
		return adj, token, 0, err
	}
	if receipts[0].ContractAddress != adj || receipts[1].ContractAddress != token {
		return adj, token, 0, fmt.Errorf("contracts landed at %s and %s, expected %s and %s",
			receipts[0].ContractAddress, receipts[1].ContractAddress, adj, token)
	}
	block = receipts[0].BlockNumber.Uint64()

	if c.cfg.FundUSD.Sign() > 0 {
		tt := bindings.NewTestToken()
		var mints []*types.Transaction
		for _, k := range c.keys {
			tx, err := d.send(ctx, &token, tt.PackMint(common.Address(k.Address()), c.cfg.FundUSD))
			if err != nil {
				return adj, token, 0, fmt.Errorf("mint: %w", err)
			}
			mints = append(mints, tx)
		}
		if _, err := d.mine(ctx, mints...); err != nil {
			return adj, token, 0, err
		}
	}
	return adj, token, block, nil
}

// deployBlock finds the block that created the adjudicator: block 1 on
// every chain Start made (the setup transactions are mined before anything
// else). Anything else (a chain made otherwise) gives 0: scan from genesis.
func (c *Chain) deployBlock(ctx context.Context, addr common.Address) (uint64, error) {
	block, err := c.client.BlockByNumber(ctx, big.NewInt(1))
	if err != nil {
		return 0, err
	}
	for _, tx := range block.Transactions() {
		if tx.To() != nil {
			continue
		}
		r, err := c.client.TransactionReceipt(ctx, tx.Hash())
		if err != nil {
			return 0, err
		}
		if r.ContractAddress == addr {
			return 1, nil
		}
	}
	return 0, nil
}

// deployTx sends the deployer's setup transactions.
type deployTx struct {
	c     *Chain
	key   *ecdsa.PrivateKey
	from  common.Address
	nonce uint64
}

func (d *deployTx) send(ctx context.Context, to *common.Address, data []byte) (*types.Transaction, error) {
	cl := d.c.client
	gas, err := cl.EstimateGas(ctx, ethereum.CallMsg{From: d.from, To: to, Data: data})
	if err != nil {
		return nil, fmt.Errorf("estimate gas: %w", err)
	}
	head, err := cl.HeaderByNumber(ctx, nil)
	if err != nil {
		return nil, err
	}
	tip := big.NewInt(params.GWei)
	feeCap := new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(2)), tip)
	chainID := new(big.Int).SetUint64(d.c.cfg.ChainID)
	tx, err := types.SignNewTx(d.key, types.LatestSignerForChainID(chainID), &types.DynamicFeeTx{
		ChainID: chainID, Nonce: d.nonce, GasTipCap: tip, GasFeeCap: feeCap, Gas: gas * 5 / 4, To: to, Data: data,
	})
	if err != nil {
		return nil, err
	}
	if err := cl.SendTransaction(ctx, tx); err != nil {
		return nil, err
	}
	d.nonce++
	return tx, nil
}

// mine mines the pending transactions and returns the receipts of txs,
// failing if any reverted.
func (d *deployTx) mine(ctx context.Context, txs ...*types.Transaction) ([]*types.Receipt, error) {
	d.c.mu.Lock()
	d.c.mineLocked()
	d.c.mu.Unlock()
	out := make([]*types.Receipt, len(txs))
	for i, tx := range txs {
		r, err := d.c.client.TransactionReceipt(ctx, tx.Hash())
		if err != nil {
			return nil, fmt.Errorf("receipt of %s: %w", tx.Hash(), err)
		}
		if r.Status != types.ReceiptStatusSuccessful {
			return nil, fmt.Errorf("transaction %s failed", tx.Hash())
		}
		out[i] = r
	}
	return out, nil
}
