package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/holiman/uint256"
	"google.golang.org/protobuf/proto"

	"github.com/tinypay/tinypay/crypto"
	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
	"github.com/tinypay/tinypay/settlement"
	"github.com/tinypay/tinypay/store"
)

// Transfers of the node's own funds on chain (wallet send, sweeps).
//
// A transfer is signed first (the backend takes the account's next
// nonce), then recorded with the signed transaction under its idempotency
// key, then sent; the outcome is recorded when it is known. Each step adds
// a transfer event to the log. So:
//   - a retry with the same key while the transfer runs waits for the same
//     transfer; after it ended, it gets its outcome; neither sends again;
//   - a failure before the record (a refusal, insufficient funds, the
//     endpoint down) sends nothing and leaves the key free;
//   - a crash after the record, sent or not, is repaired at start: the
//     node sends the recorded transaction again, which the chain carries
//     out at most once (its nonce), until it learns the outcome: mined, or
//     dropped because another transaction took the nonce (then nothing
//     moved).
//
// No lock is held across chain or disk I/O: the book below guards its map
// only, and each transfer has one goroutine that drives it.

// Transfer statuses and origins, as TransferInfo and events report them.
const (
	TransferSending = "sending"
	TransferSent    = "sent"
	TransferFailed  = "failed"

	OriginOperator = "operator"
	OriginSweep    = "sweep"
)

// sweepKeyPrefix starts the keys of the sweeper's transfers; an
// operator's key may not.
const sweepKeyPrefix = "sweep:"

// ErrTransferPending: a transfer is signed and recorded (and perhaps
// mined) but its outcome is not known yet; the node keeps sending it.
// A retry with the same key reports the outcome; it never sends twice.
var ErrTransferPending = errors.New("transfer signed and sent, not confirmed yet (retry with the same key to learn the outcome)")

// ErrTransferFailed: a transfer was signed and recorded but moved
// nothing (dropped, refused by the endpoint, or reverted on chain, then
// paying its fee). A retry with its key reports it again.
var ErrTransferFailed = errors.New("transfer failed")

// SendRequest asks the node to send its own funds (from its key's account)
// to another address on chain.
type SendRequest struct {
	// Key is the idempotency key (1 to 256 bytes of UTF-8, not starting
	// with "sweep:"): a retry with the same key never sends twice.
	Key   string
	To    crypto.Address
	Asset crypto.Address // zero: ETH
	// Amount in base units, or All: the whole balance (for ETH, less the
	// most the gas can cost).
	Amount uint256.Int
	All    bool

	keep uint256.Int // with All: what stays behind (sweeps)
}

// TransferInfo describes a transfer of the node's own funds.
type TransferInfo struct {
	Key     string
	Origin  string // OriginOperator or OriginSweep
	To      crypto.Address
	Asset   Asset
	Amount  uint256.Int
	All     bool
	Status  string // TransferSending, TransferSent or TransferFailed
	TxHash  crypto.Hash
	Nonce   uint64
	Block   uint64      // sent: the block it was mined in
	Fee     uint256.Int // wei, once mined
	MaxFee  uint256.Int // wei: the most the fee can be
	Error   string      // failed: why
	Created time.Time
}

// SendQuote is what a send would move and cost, as of the latest block.
type SendQuote struct {
	Asset   Asset
	Amount  uint256.Int // what it would move
	Balance uint256.Int // the wallet's balance of the asset
	Gas     uint64
	Fee     uint256.Int // expected, wei
	MaxFee  uint256.Int // at most, wei
}

// TransferEvent is a step of a transfer, in the event log.
type TransferEvent struct {
	Key    string
	Origin string
	Status string // sending (signed and sent), sent (mined), failed
	To     crypto.Address
	Asset  Asset
	Amount uint256.Int
	TxHash crypto.Hash
	Fee    uint256.Int
	Detail string
}

// transferOp is one transfer in progress. done is closed once info and
// err are set; stalled is closed (with why) when an attempt to send ended
// without an outcome.
type transferOp struct {
	key     string
	origin  string
	req     SendRequest
	done    chan struct{}
	info    TransferInfo
	err     error
	stalled chan struct{}
	why     error
	signed  atomic.Bool // recorded: waiters that give up are told it is pending
}

// walletBook holds the transfers in progress by key. Its lock covers the
// map only.
type walletBook struct {
	mu  sync.Mutex
	ops map[string]*transferOp
}

// claim returns the transfer in progress under key, or registers a new
// one that the caller then drives (owner).
func (w *walletBook) claim(key, origin string, req SendRequest) (op *transferOp, owner bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if op := w.ops[key]; op != nil {
		return op, false
	}
	if w.ops == nil {
		w.ops = make(map[string]*transferOp)
	}
	op = &transferOp{key: key, origin: origin, req: req, done: make(chan struct{}), stalled: make(chan struct{})}
	w.ops[key] = op
	return op, true
}

// finish sets the outcome, wakes the waiters and forgets op.
func (w *walletBook) finish(op *transferOp, info TransferInfo, err error) {
	w.mu.Lock()
	if w.ops[op.key] == op {
		delete(w.ops, op.key)
	}
	w.mu.Unlock()
	op.info, op.err = info, err
	close(op.done)
}

// stall tells the waiters that an attempt ended without an outcome.
func (w *walletBook) stall(op *transferOp, why error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case <-op.stalled:
	default:
		op.why = why
		close(op.stalled)
	}
}

// busy reports whether a transfer is in progress.
func (w *walletBook) busy() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.ops) > 0
}

// checkSend validates a request before anything is read or sent; an
// operator's request needs a key of its own.
func (n *Node) checkSend(req SendRequest, origin string, needKey bool) (Asset, error) {
	a, ok := n.asset(req.Asset)
	switch {
	case needKey && req.Key == "":
		return a, invalid("an idempotency key is required")
	case len(req.Key) > store.MaxIdempotencyKeyLen || !utf8.ValidString(req.Key):
		return a, invalid("the idempotency key must be at most %d bytes of UTF-8", store.MaxIdempotencyKeyLen)
	case origin == OriginOperator && strings.HasPrefix(req.Key, sweepKeyPrefix):
		return a, invalid("idempotency keys starting with %q are the sweeper's", sweepKeyPrefix)
	case req.To.IsZero():
		return a, invalid("the destination is the zero address: funds sent there are lost")
	case req.To == n.self:
		return a, invalid("the destination is this node's own account")
	case !ok:
		return a, wrapf(ErrUnknownAsset, "asset %s is not one this node knows", req.Asset)
	case req.All && !req.Amount.IsZero():
		return a, invalid("give an amount or all, not both")
	case !req.All && req.Amount.IsZero():
		return a, invalid("the amount is zero")
	}
	return a, nil
}

func (r SendRequest) transfer() settlement.TransferRequest {
	return settlement.TransferRequest{To: r.To, Asset: r.Asset, Amount: r.Amount, All: r.All, Keep: r.keep}
}

// EstimateSend checks a send and says what it would move and cost now;
// nothing is signed or sent. The key is not needed.
func (n *Node) EstimateSend(ctx context.Context, req SendRequest) (SendQuote, error) {
	if err := n.usable(); err != nil {
		return SendQuote{}, err
	}
	a, err := n.checkSend(req, OriginOperator, false)
	if err != nil {
		return SendQuote{}, err
	}
	if err := n.checkBalance(ctx, req, a); err != nil {
		return SendQuote{}, err
	}
	q, err := n.chain.QuoteTransfer(ctx, req.transfer())
	if err != nil {
		return SendQuote{}, n.sendError(err, a)
	}
	return SendQuote{Asset: a, Amount: q.Amount, Balance: q.Balance, Gas: q.Gas, Fee: q.Fee, MaxFee: q.MaxFee}, nil
}

// checkBalance refuses, in the asset's units, an amount above the wallet's
// balance (the backend checks again, gas included, when it signs).
func (n *Node) checkBalance(ctx context.Context, req SendRequest, a Asset) error {
	if req.All {
		return nil
	}
	bal, err := n.chain.Balance(ctx, n.self, a.Address)
	if err != nil {
		return fmt.Errorf("wallet balance: %w", err)
	}
	if req.Amount.Gt(&bal) {
		return fmt.Errorf("%w: the wallet holds %s, the send needs %s", settlement.ErrInsufficientFunds, formatAmount(&bal, a), formatAmount(&req.Amount, a))
	}
	return nil
}

// sendError explains a refusal of the backend's in the asset's terms.
func (n *Node) sendError(err error, a Asset) error {
	if errors.Is(err, settlement.ErrInsufficientFunds) && a.Address.IsZero() {
		return fmt.Errorf("the wallet cannot pay the amount and the gas (the gas is paid in ETH too): %w", err)
	}
	if errors.Is(err, settlement.ErrInsufficientFunds) {
		return fmt.Errorf("the wallet cannot pay the gas in ETH: %w", err)
	}
	return err
}

// Send sends the node's own funds to another address on chain and returns
// once the transfer is mined with the configured confirmations (or failed).
// It is idempotent by key: a retry with the key of a transfer in progress
// waits for it, one with the key of a finished transfer returns it (an
// ErrIdempotency error if the request differs), and neither sends again.
// If ctx ends first, or an attempt to send ends without an outcome (the
// endpoint is down), Send returns ErrTransferPending and the node goes on
// sending the recorded transaction until it learns the outcome. Refusals
// (ErrInvalidArgument, ErrUnknownAsset, settlement.ErrInsufficientFunds,
// a *settlement.RevertError) send nothing.
func (n *Node) Send(ctx context.Context, req SendRequest) (TransferInfo, error) {
	if err := n.usable(); err != nil {
		return TransferInfo{}, err
	}
	a, err := n.checkSend(req, OriginOperator, true)
	if err != nil {
		return TransferInfo{}, err
	}
	return n.send(ctx, req, a, OriginOperator)
}

func (n *Node) send(ctx context.Context, req SendRequest, a Asset, origin string) (TransferInfo, error) {
	op, owner := n.wallet.claim(req.Key, origin, req)
	if !owner {
		if !sameRequest(op.req, req) || op.origin != origin {
			return TransferInfo{}, wrapf(ErrIdempotency, "key %q is in use by another transfer", req.Key)
		}
		return n.awaitTransfer(ctx, op)
	}
	rec, err := n.store.Transfer(req.Key)
	switch {
	case err == nil:
		info, ierr := n.transferInfo(rec)
		if ierr != nil {
			n.wallet.finish(op, TransferInfo{}, ierr)
			return TransferInfo{}, ierr
		}
		if !sameRequest(requestOf(info), req) || info.Origin != origin {
			err := wrapf(ErrIdempotency, "key %q was used for another transfer (%s to %s)", req.Key, formatAmount(&info.Amount, info.Asset), info.To)
			n.wallet.finish(op, TransferInfo{}, err)
			return TransferInfo{}, err
		}
		if info.Status == TransferSending {
			// Recorded before a restart, not resolved yet: drive it here.
			op.signed.Store(true)
			if !n.background(func() { n.resolve(op, rec) }) {
				n.wallet.finish(op, info, ErrStopped)
			}
			return n.awaitTransfer(ctx, op)
		}
		err := failedError(info)
		n.wallet.finish(op, info, err)
		return info, err
	case !errors.Is(err, store.ErrNotFound):
		n.wallet.finish(op, TransferInfo{}, err)
		return TransferInfo{}, err
	}
	rec, err = n.signTransfer(ctx, req, a, origin)
	if err != nil {
		n.wallet.finish(op, TransferInfo{}, err)
		return TransferInfo{}, err
	}
	op.signed.Store(true)
	if !n.background(func() { n.resolve(op, rec) }) {
		info, _ := n.transferInfo(rec)
		n.wallet.finish(op, info, fmt.Errorf("%w: %w", ErrTransferPending, ErrStopped))
	}
	return n.awaitTransfer(ctx, op)
}

// signTransfer signs the transfer and records it, with its first event,
// before anything is sent.
func (n *Node) signTransfer(ctx context.Context, req SendRequest, a Asset, origin string) (*storev1.Transfer, error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.ChainTxTimeout)
	defer cancel()
	if err := n.checkBalance(ctx, req, a); err != nil {
		return nil, err
	}
	st, err := n.chain.SignTransfer(ctx, req.transfer())
	if err != nil {
		return nil, n.sendError(err, a)
	}
	// From here the transfer must be recorded and sent, whatever the
	// caller does: the backend took a nonce for it.
	rec := &storev1.Transfer{
		Version: store.TransferVersion, Key: req.Key, Origin: originEnum(origin), To: st.To[:], Asset: st.Asset[:],
		Amount: st.Amount.Bytes(), All: req.All, Status: storev1.TransferStatus_TRANSFER_STATUS_SENDING,
		Nonce: st.Nonce, TxHash: st.TxHash[:], RawTx: st.Raw, MaxFee: st.MaxFee.Bytes(), CreatedUnixNano: n.clock.Now().UnixNano(),
	}
	b := store.NewBatch()
	if err := errors.Join(b.PutTransfer(rec), b.AppendLog(n.transferEntry(rec, "signed and sent in "+st.TxHash.Hex()))); err != nil {
		return nil, err
	}
	if _, err := n.commit(n.ctx, b); err != nil {
		return nil, fmt.Errorf("record transfer %q (signed, not sent): %w", req.Key, err)
	}
	n.failpoint("transfer signed")
	n.log.Info("transfer signed", "key", req.Key, "origin", origin, "to", st.To, "asset", a.Symbol, "amount", st.Amount.Dec(), "tx", st.TxHash)
	return rec, nil
}

// resolve sends a recorded transfer (again) until its outcome is known,
// records it, and finishes op. It runs on a goroutine of its own.
func (n *Node) resolve(op *transferOp, rec *storev1.Transfer) {
	st := signedOf(rec)
	delay := time.Second
	for {
		ctx, cancel := context.WithTimeout(n.ctx, n.cfg.ChainTxTimeout)
		r, err := n.chain.SendTransfer(ctx, st)
		cancel()
		n.failpoint("transfer sent")
		done := rec.GetStatus()
		switch {
		case err == nil:
			done = storev1.TransferStatus_TRANSFER_STATUS_SENT
		case errors.Is(err, settlement.ErrReverted), errors.Is(err, settlement.ErrDropped),
			errors.Is(err, settlement.ErrInsufficientFunds), errors.Is(err, settlement.ErrInvalidTransfer):
			done = storev1.TransferStatus_TRANSFER_STATUS_FAILED
		}
		if done == storev1.TransferStatus_TRANSFER_STATUS_SENDING {
			if n.ctx.Err() != nil {
				info, _ := n.transferInfo(rec)
				n.wallet.finish(op, info, fmt.Errorf("%w: %w (it is sent again at the next start)", ErrTransferPending, ErrStopped))
				return
			}
			n.log.Warn("transfer outcome unknown, sending it again later", "key", rec.GetKey(), "tx", st.TxHash, "in", delay, "err", err)
			n.wallet.stall(op, err)
			select {
			case <-time.After(delay):
			case <-n.ctx.Done():
			}
			delay = min(2*delay, time.Minute)
			continue
		}
		next := cloneTransfer(rec)
		next.Status = done
		next.Fee, next.Block = r.Fee.Bytes(), r.Block
		detail := fmt.Sprintf("mined in block %d, fee %s", r.Block, formatAmount(&r.Fee, ETH))
		if err != nil {
			next.Error = truncate(err.Error(), 500)
			detail = "failed: " + next.Error
		}
		b := store.NewBatch()
		if err := errors.Join(b.PutTransfer(next), b.AppendLog(n.transferEntry(next, detail))); err != nil {
			n.wallet.finish(op, TransferInfo{}, err)
			return
		}
		if _, err := n.commit(n.ctx, b); err != nil {
			info, _ := n.transferInfo(rec)
			n.wallet.finish(op, info, fmt.Errorf("%w: recording its outcome: %w", ErrTransferPending, err))
			return
		}
		info, ierr := n.transferInfo(next)
		if ierr != nil {
			n.wallet.finish(op, info, ierr)
			return
		}
		n.met.transfer(info.Origin, info.Status)
		if err != nil {
			n.log.Warn("transfer failed", "key", info.Key, "tx", st.TxHash, "err", err)
			n.wallet.finish(op, info, fmt.Errorf("%w: transfer %q: %w", ErrTransferFailed, info.Key, err))
			return
		}
		n.log.Info("transfer sent", "key", info.Key, "origin", info.Origin, "to", info.To, "asset", info.Asset.Symbol,
			"amount", info.Amount.Dec(), "tx", st.TxHash, "block", r.Block, "fee", r.Fee.Dec())
		n.wallet.finish(op, info, nil)
		return
	}
}

// awaitTransfer waits for the outcome of op, or until ctx ends or an
// attempt stalls (then the transfer is pending).
func (n *Node) awaitTransfer(ctx context.Context, op *transferOp) (TransferInfo, error) {
	pending := func(why error) (TransferInfo, error) {
		if !op.signed.Load() {
			return TransferInfo{}, why
		}
		return TransferInfo{}, fmt.Errorf("%w: transfer %q: %v", ErrTransferPending, op.key, why)
	}
	select {
	case <-op.done:
		return op.info, op.err
	case <-op.stalled:
		select {
		case <-op.done:
			return op.info, op.err
		default:
		}
		return pending(op.why)
	case <-ctx.Done():
		return pending(ctx.Err())
	}
}

// resumeTransfers sends again, in the background, every transfer
// recorded and not finished (the node stopped before their outcome).
func (n *Node) resumeTransfers() error {
	recs, err := n.store.Transfers()
	if err != nil {
		return fmt.Errorf("load transfers: %w", err)
	}
	for _, rec := range recs {
		if rec.GetStatus() != storev1.TransferStatus_TRANSFER_STATUS_SENDING {
			continue
		}
		info, err := n.transferInfo(rec)
		if err != nil {
			return err
		}
		op, owner := n.wallet.claim(info.Key, info.Origin, requestOf(info))
		if !owner {
			continue
		}
		op.signed.Store(true)
		n.log.Info("resuming a transfer recorded before the restart", "key", info.Key, "tx", info.TxHash)
		if !n.background(func() { n.resolve(op, rec) }) {
			n.wallet.finish(op, info, ErrStopped)
		}
	}
	return nil
}

// TransferByKey returns the transfer recorded under key, as it stands.
func (n *Node) TransferByKey(key string) (TransferInfo, bool, error) {
	if key == "" || len(key) > store.MaxIdempotencyKeyLen {
		return TransferInfo{}, false, nil
	}
	rec, err := n.store.Transfer(key)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		return TransferInfo{}, false, nil
	}
	if err != nil {
		return TransferInfo{}, false, err
	}
	info, err := n.transferInfo(rec)
	return info, err == nil, err
}

// Transfers lists the recorded transfers, newest first.
func (n *Node) Transfers() ([]TransferInfo, error) {
	recs, err := n.store.Transfers()
	if err != nil {
		return nil, err
	}
	out := make([]TransferInfo, 0, len(recs))
	for _, r := range recs {
		info, err := n.transferInfo(r)
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b TransferInfo) int { return b.Created.Compare(a.Created) })
	return out, nil
}

// failedError is what a finished transfer reports: nil if it was sent.
func failedError(info TransferInfo) error {
	if info.Status != TransferFailed {
		return nil
	}
	return fmt.Errorf("%w: transfer %q (%s) moved nothing: %s", ErrTransferFailed, info.Key, info.TxHash, info.Error)
}

func sameRequest(a, b SendRequest) bool {
	return a.Key == b.Key && a.To == b.To && a.Asset == b.Asset && a.All == b.All && (a.All || a.Amount.Eq(&b.Amount))
}

func requestOf(t TransferInfo) SendRequest {
	r := SendRequest{Key: t.Key, To: t.To, Asset: t.Asset.Address, All: t.All}
	if !t.All {
		r.Amount = t.Amount
	}
	return r
}

func signedOf(rec *storev1.Transfer) settlement.SignedTransfer {
	st := settlement.SignedTransfer{Nonce: rec.GetNonce(), Raw: rec.GetRawTx()}
	copy(st.To[:], rec.GetTo())
	copy(st.Asset[:], rec.GetAsset())
	copy(st.TxHash[:], rec.GetTxHash())
	st.Amount.SetBytes(rec.GetAmount())
	st.MaxFee.SetBytes(rec.GetMaxFee())
	return st
}

func cloneTransfer(rec *storev1.Transfer) *storev1.Transfer {
	return proto.Clone(rec).(*storev1.Transfer)
}

func originEnum(origin string) storev1.TransferOrigin {
	if origin == OriginSweep {
		return storev1.TransferOrigin_TRANSFER_ORIGIN_SWEEP
	}
	return storev1.TransferOrigin_TRANSFER_ORIGIN_OPERATOR
}

func originName(o storev1.TransferOrigin) string {
	if o == storev1.TransferOrigin_TRANSFER_ORIGIN_SWEEP {
		return OriginSweep
	}
	return OriginOperator
}

func statusName(s storev1.TransferStatus) string {
	switch s {
	case storev1.TransferStatus_TRANSFER_STATUS_SENT:
		return TransferSent
	case storev1.TransferStatus_TRANSFER_STATUS_FAILED:
		return TransferFailed
	}
	return TransferSending
}

// assetAt describes the asset at addr, even one the node no longer knows.
func (n *Node) assetAt(addr crypto.Address) Asset {
	if a, ok := n.asset(addr); ok {
		return a
	}
	return Asset{Address: addr, Symbol: addr.Hex()[:10]}
}

func (n *Node) transferInfo(rec *storev1.Transfer) (TransferInfo, error) {
	info := TransferInfo{
		Key: rec.GetKey(), Origin: originName(rec.GetOrigin()), All: rec.GetAll(), Status: statusName(rec.GetStatus()),
		Nonce: rec.GetNonce(), Block: rec.GetBlock(), Error: rec.GetError(), Created: time.Unix(0, rec.GetCreatedUnixNano()),
	}
	var err error
	if info.To, err = crypto.AddressFromBytes(rec.GetTo()); err != nil {
		return info, err
	}
	asset, err := crypto.AddressFromBytes(rec.GetAsset())
	if err != nil {
		return info, err
	}
	info.Asset = n.assetAt(asset)
	if info.TxHash, err = crypto.HashFromBytes(rec.GetTxHash()); err != nil {
		return info, err
	}
	info.Amount.SetBytes(rec.GetAmount())
	info.Fee.SetBytes(rec.GetFee())
	info.MaxFee.SetBytes(rec.GetMaxFee())
	return info, nil
}

// transferEntry is the log entry of a step of rec.
func (n *Node) transferEntry(rec *storev1.Transfer, detail string) *storev1.LogEntry {
	return &storev1.LogEntry{TimeUnixNano: n.clock.Now().UnixNano(), Entry: &storev1.LogEntry_TransferEvent{TransferEvent: &storev1.TransferEvent{
		Key: rec.GetKey(), Origin: rec.GetOrigin(), Status: rec.GetStatus(), To: rec.GetTo(), Asset: rec.GetAsset(),
		Amount: rec.GetAmount(), TxHash: rec.GetTxHash(), Fee: rec.GetFee(), Detail: truncate(detail, 600),
	}}}
}

func (n *Node) transferEvent(e *storev1.TransferEvent) (*TransferEvent, error) {
	te := &TransferEvent{Key: e.GetKey(), Origin: originName(e.GetOrigin()), Status: statusName(e.GetStatus()), Detail: e.GetDetail()}
	var err error
	if te.To, err = crypto.AddressFromBytes(e.GetTo()); err != nil {
		return nil, err
	}
	asset, err := crypto.AddressFromBytes(e.GetAsset())
	if err != nil {
		return nil, err
	}
	te.Asset = n.assetAt(asset)
	if len(e.GetTxHash()) > 0 {
		if te.TxHash, err = crypto.HashFromBytes(e.GetTxHash()); err != nil {
			return nil, err
		}
	}
	te.Amount.SetBytes(e.GetAmount())
	te.Fee.SetBytes(e.GetFee())
	return te, nil
}

// formatAmount writes v in a's units with its symbol: "1.5 USD".
func formatAmount(v *uint256.Int, a Asset) string {
	s := v.Dec()
	d := int(a.Decimals)
	if d > 0 {
		if len(s) <= d {
			s = strings.Repeat("0", d-len(s)+1) + s
		}
		whole, frac := s[:len(s)-d], strings.TrimRight(s[len(s)-d:], "0")
		s = whole
		if frac != "" {
			s += "." + frac
		}
	}
	return s + " " + a.Symbol
}
