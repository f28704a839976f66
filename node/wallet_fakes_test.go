package node

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/settlement"
)

// fakeTransfers is the fake chain's record of transfers: the nonces each
// account used and the transactions mined, so that a transfer sent again
// moves nothing more and one whose nonce another took is dropped, as on a
// real chain. fault, if set, is called at "before" (nothing moved yet) and
// "after" (the transfer is mined) each send; an error it returns is what
// SendTransfer returns, so a test can lose the answer to a send that
// happened.
type fakeTransfers struct {
	nonces map[crypto.Address]uint64
	mined  map[crypto.Hash]settlement.Receipt
	fault  func(stage string, t settlement.SignedTransfer) error
	sends  int // SendTransfer calls that moved funds
}

// transferFee is what every fake transfer costs, from the same wallet.
const transferFee = 21

func (b *fakeBackend) quote(req settlement.TransferRequest) (settlement.TransferQuote, error) {
	var q settlement.TransferQuote
	switch {
	case req.To.IsZero():
		return q, fmt.Errorf("%w: zero address", settlement.ErrInvalidTransfer)
	case req.To == b.key.Address():
		return q, fmt.Errorf("%w: to itself", settlement.ErrInvalidTransfer)
	case !req.All && req.Amount.IsZero():
		return q, fmt.Errorf("%w: zero amount", settlement.ErrInvalidTransfer)
	}
	bal := b.f.wallets[b.key.Address()]
	if bal == nil {
		bal = new(uint256.Int)
	}
	q.Balance, q.Gas, q.Fee, q.MaxFee = *bal, 21_000, *uint256.NewInt(transferFee), *uint256.NewInt(transferFee)
	var keep uint256.Int
	keep.Add(&req.Keep, &q.MaxFee)
	amount := req.Amount
	if req.All {
		if !bal.Gt(&keep) {
			return q, fmt.Errorf("%w: nothing above %s", settlement.ErrInsufficientFunds, keep.Dec())
		}
		amount.Sub(bal, &keep)
	} else {
		var need uint256.Int
		need.Add(&amount, &q.MaxFee)
		if need.Gt(bal) {
			return q, fmt.Errorf("%w: holds %s, needs %s", settlement.ErrInsufficientFunds, bal.Dec(), need.Dec())
		}
	}
	q.Amount = amount
	return q, nil
}

func (b *fakeBackend) QuoteTransfer(ctx context.Context, req settlement.TransferRequest) (settlement.TransferQuote, error) {
	if err := b.read(ctx); err != nil {
		return settlement.TransferQuote{}, err
	}
	b.f.mu.Lock()
	defer b.f.mu.Unlock()
	return b.quote(req)
}

func (b *fakeBackend) SignTransfer(ctx context.Context, req settlement.TransferRequest) (settlement.SignedTransfer, error) {
	if err := b.read(ctx); err != nil {
		return settlement.SignedTransfer{}, err
	}
	b.f.mu.Lock()
	defer b.f.mu.Unlock()
	q, err := b.quote(req)
	if err != nil {
		return settlement.SignedTransfer{}, err
	}
	if used := b.f.xfer.nonces[b.key.Address()]; !b.nonceSet || b.nonce < used {
		b.nonce, b.nonceSet = used, true
	}
	st := settlement.SignedTransfer{To: req.To, Asset: req.Asset, Amount: q.Amount, Nonce: b.nonce, MaxFee: q.MaxFee}
	b.nonce++
	me, amt := b.key.Address(), q.Amount.Bytes32()
	st.Raw = binary.BigEndian.AppendUint64(append(append(append([]byte{}, me[:]...), req.To[:]...), amt[:]...), st.Nonce)
	st.TxHash = crypto.Keccak256(st.Raw)
	return st, nil
}

func (b *fakeBackend) SendTransfer(ctx context.Context, t settlement.SignedTransfer) (settlement.Receipt, error) {
	b.f.mu.Lock()
	fault := b.f.xfer.fault
	b.f.mu.Unlock()
	if fault != nil {
		if err := fault("before", t); err != nil {
			return settlement.Receipt{}, err
		}
	}
	if err := b.read(ctx); err != nil {
		return settlement.Receipt{}, err
	}
	r, err := b.mine(t)
	if err != nil {
		return r, err
	}
	if fault != nil {
		if err := fault("after", t); err != nil {
			return settlement.Receipt{}, err
		}
	}
	return r, nil
}

// mine carries out t once.
func (b *fakeBackend) mine(t settlement.SignedTransfer) (settlement.Receipt, error) {
	b.f.mu.Lock()
	defer b.f.mu.Unlock()
	x := &b.f.xfer
	if x.mined == nil {
		x.mined, x.nonces = map[crypto.Hash]settlement.Receipt{}, map[crypto.Address]uint64{}
	}
	if r, ok := x.mined[t.TxHash]; ok {
		return r, nil
	}
	me := b.key.Address()
	switch used := x.nonces[me]; {
	case t.Nonce < used:
		return settlement.Receipt{}, fmt.Errorf("transaction %s: %w", t.TxHash, settlement.ErrDropped)
	case t.Nonce > used:
		return settlement.Receipt{}, fmt.Errorf("%w: nonce %d waits behind %d", settlement.ErrUnavailable, t.Nonce, used)
	}
	var need uint256.Int
	need.Add(&t.Amount, uint256.NewInt(transferFee))
	if err := b.take(&need); err != nil {
		return settlement.Receipt{}, err
	}
	b.pay(t.To, &t.Amount)
	x.nonces[me] = t.Nonce + 1
	x.sends++
	b.f.block++
	r := settlement.Receipt{TxHash: t.TxHash, Block: b.f.block, GasUsed: 21_000, Fee: *uint256.NewInt(transferFee)}
	x.mined[t.TxHash] = r
	return r, nil
}

// setTransferFault installs (or, with nil, removes) the transfer fault.
func (f *fakeChain) setTransferFault(fault func(stage string, t settlement.SignedTransfer) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.xfer.fault = fault
}

// transferSends returns how many sends moved funds.
func (f *fakeChain) transferSends() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.xfer.sends
}
