package settlement

import (
	"context"
	"errors"
	"fmt"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/crypto"
)

// Params identify a channel on chain. The fields are those of
// channel.Params, so the node converts with a plain type conversion.
type Params struct {
	ChainID         uint64
	Adjudicator     crypto.Address
	Participants    [2]crypto.Address // [A, B]
	Asset           crypto.Address    // ERC-20 token, or zero for ETH
	ChallengePeriod uint64            // seconds
	Salt            crypto.Hash
}

// ID returns the channel id the adjudicator derives from the parameters.
func (p Params) ID() crypto.Hash {
	return crypto.ChannelID(p.ChainID, p.Adjudicator, p.Participants[0], p.Participants[1], p.Asset, p.ChallengePeriod, p.Salt)
}

// Proof is a balance proof as presented on chain. The adjudicator recovers
// the signer, which gives the direction (signer -> the other participant).
// The zero Proof means "no proof".
type Proof struct {
	Nonce       uint64
	Transferred uint256.Int
	Sig         crypto.Signature
}

// IsZero reports whether p is the "no proof" value.
func (p *Proof) IsZero() bool { return p.Nonce == 0 }

// Phase is a channel's phase on chain.
type Phase uint8

// The phases the adjudicator knows.
const (
	PhaseNone    Phase = iota // never opened
	PhaseOpen                 // open: deposits, withdrawals, payments
	PhaseClosed               // force-closed: the challenge period runs
	PhaseSettled              // paid out; terminal, the id is never reused
)

func (p Phase) String() string {
	switch p {
	case PhaseNone:
		return "none"
	case PhaseOpen:
		return "open"
	case PhaseClosed:
		return "closed"
	case PhaseSettled:
		return "settled"
	}
	return fmt.Sprintf("Phase(%d)", uint8(p))
}

// Channel is a channel as the adjudicator records it. Index 0 is A, 1 is B.
type Channel struct {
	Phase       Phase
	Deposit     [2]uint256.Int // totalDeposit per side
	Withdrawn   [2]uint256.Int // totalWithdrawn per side
	Transferred [2]uint256.Int // while Closed: the highest X->other amount presented
	SettleAfter uint64         // while Closed: settle is allowed after this timestamp
}

// Receipt describes a mined, confirmed transaction.
type Receipt struct {
	TxHash  crypto.Hash
	Block   uint64
	GasUsed uint64
	// Fee is what the call paid for gas, in wei, including any transaction
	// it had to send first (an ERC-20 approval before a token deposit).
	Fee uint256.Int
}

// Head is a chain block: its number and timestamp (seconds).
type Head struct {
	Number uint64
	Time   uint64
}

// Cursor is a position in the chain's event history: the block and log
// index of the last event consumed. The zero Cursor is before everything.
type Cursor struct {
	Block uint64
	Index uint32
}

// Less reports whether c comes before d.
func (c Cursor) Less(d Cursor) bool {
	return c.Block < d.Block || (c.Block == d.Block && c.Index < d.Index)
}

// EventKind says what an Event records.
type EventKind uint8

// The adjudicator's events.
const (
	EventOpened EventKind = iota + 1
	EventDeposited
	EventWithdrawn
	EventCooperativelyClosed
	EventClosed
	EventUpdated
	EventSettled
	EventPayoutCredited
	EventPayoutWithdrawn
)

var eventNames = map[EventKind]string{
	EventOpened: "opened", EventDeposited: "deposited", EventWithdrawn: "withdrawn",
	EventCooperativelyClosed: "cooperatively closed", EventClosed: "closed", EventUpdated: "updated",
	EventSettled: "settled", EventPayoutCredited: "payout credited", EventPayoutWithdrawn: "payout withdrawn",
}

func (k EventKind) String() string {
	if s, ok := eventNames[k]; ok {
		return s
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is one decoded adjudicator event. Which fields are set depends on
// Kind:
//
//	Opened:              Channel, Params (ChainID and Adjudicator filled in)
//	Deposited:           Channel, Account (participant), Amount (new totalDeposit)
//	Withdrawn:           Channel, Account (participant), Amount (new totalWithdrawn)
//	CooperativelyClosed: Channel, Balances
//	Closed:              Channel, Account (closer), Transferred, SettleAfter
//	Updated:             Channel, Account (signer of the proof), Nonce, Amount (transferred)
//	Settled:             Channel, Balances (payouts)
//	PayoutCredited:      Channel, Account, Asset, Amount (a push payout that
//	                     failed and waits in the pull ledger)
//	PayoutWithdrawn:     Account, Asset, Amount
type Event struct {
	Kind        EventKind
	Cursor      Cursor
	TxHash      crypto.Hash
	Time        uint64 // block timestamp
	Channel     crypto.Hash
	Params      Params
	Account     crypto.Address
	Asset       crypto.Address
	Amount      uint256.Int
	Nonce       uint64
	Balances    [2]uint256.Int
	Transferred [2]uint256.Int
	SettleAfter uint64
}

// Errors common to every backend. Backends wrap them with detail; match
// with errors.Is.
var (
	// ErrReverted: the contract refused the transaction or call. A
	// *RevertError carries the decoded reason.
	ErrReverted = errors.New("transaction reverted")
	// ErrInsufficientFunds: the account cannot pay the amount or the gas.
	ErrInsufficientFunds = errors.New("insufficient funds for amount or gas")
	// ErrUnavailable: the chain endpoint cannot be reached.
	ErrUnavailable = errors.New("chain endpoint unavailable")
	// ErrWrongChain: the endpoint serves another chain than configured.
	ErrWrongChain = errors.New("endpoint is on another chain")
	// ErrNoContract: there is no contract code at the adjudicator or token
	// address.
	ErrNoContract = errors.New("no contract code at address")
	// ErrDropped: a signed transaction will never be mined, because
	// another transaction of the account took its nonce. Nothing it would
	// have moved moved.
	ErrDropped = errors.New("transaction dropped: another transaction took its nonce")
	// ErrInvalidTransfer: a transfer request that no chain would carry out
	// (a zero amount, the zero address, the account itself).
	ErrInvalidTransfer = errors.New("invalid transfer")
)

// RevertError is a revert with the contract's reason decoded (a custom error
// name and its arguments, or a require message). It matches ErrReverted.
type RevertError struct {
	Reason string // e.g. "StaleProof(uint256 have, uint256 got)" or a message
	Data   []byte // raw revert data
}

func (e *RevertError) Error() string { return "transaction reverted: " + e.Reason }

// Is makes errors.Is(err, ErrReverted) true.
func (e *RevertError) Is(target error) bool { return target == ErrReverted }

// Opener opens channels.
type Opener interface {
	// Open opens the channel and makes the caller's first deposit (the new
	// totalDeposit) in one transaction. The caller must be a participant.
	Open(ctx context.Context, p Params, deposit *uint256.Int) (Receipt, error)
}

// Depositor tops channels up.
type Depositor interface {
	// Deposit raises participant's totalDeposit to newTotal, paying the
	// difference from the caller's account. Totals only grow: a repeated
	// call with the same total reverts and changes nothing.
	Deposit(ctx context.Context, p Params, participant crypto.Address, newTotal *uint256.Int) (Receipt, error)
}

// Withdrawer withdraws from open channels with both signatures.
type Withdrawer interface {
	// Withdraw raises participant's totalWithdrawn to total and credits the
	// difference to participant's payout; sigs are by side [A, B] over
	// Withdraw(channelId, participant, total, expiry).
	Withdraw(ctx context.Context, p Params, participant crypto.Address, total *uint256.Int, expiry uint64, sigs [2]crypto.Signature) (Receipt, error)
}

// Closer closes channels, together or alone.
type Closer interface {
	// CooperativeClose pays out balances at once; sigs are by side over
	// CooperativeClose(channelId, balanceA, balanceB, expiry).
	CooperativeClose(ctx context.Context, p Params, balances [2]uint256.Int, expiry uint64, sigs [2]crypto.Signature) (Receipt, error)
	// ForceClose closes alone, presenting the peer's newest proof and
	// optionally the caller's own; the challenge period starts.
	ForceClose(ctx context.Context, p Params, peers, own Proof) (Receipt, error)
}

// Disputer presents newer proofs during a challenge period.
type Disputer interface {
	// Update presents proofs for either direction; each must carry a higher
	// amount than the chain holds for its direction.
	Update(ctx context.Context, p Params, proofs []Proof) (Receipt, error)
}

// Settler settles closed channels and pays out.
type Settler interface {
	// Settle pays out a force-closed channel after its challenge period.
	// The adjudicator pushes each payout to its participant; a push that
	// fails is credited to the pull ledger instead (see WithdrawPayout).
	Settle(ctx context.Context, p Params) (Receipt, error)
	// WithdrawPayout sends the caller everything credited to it in asset
	// by the pull ledger.
	WithdrawPayout(ctx context.Context, asset crypto.Address) (uint256.Int, Receipt, error)
}

// Reader reads chain state.
type Reader interface {
	// Channel returns the adjudicator's record of the channel with id.
	Channel(ctx context.Context, id crypto.Hash) (Channel, error)
	// Payout returns what is credited to account in asset, not yet withdrawn.
	Payout(ctx context.Context, account, asset crypto.Address) (uint256.Int, error)
	// Balance returns account's wallet balance of asset (zero: ETH).
	Balance(ctx context.Context, account, asset crypto.Address) (uint256.Int, error)
	// Head returns the newest block that has the configured confirmations.
	Head(ctx context.Context) (Head, error)
}

// EventSource reads the adjudicator's events.
type EventSource interface {
	// Events returns up to limit confirmed events after cursor, in chain
	// order, and the cursor to resume from: after the last event returned,
	// or the confirmed head when the scan found nothing more. Feeding the
	// returned cursor back in never repeats or skips an event.
	Events(ctx context.Context, after Cursor, limit int) ([]Event, Cursor, error)
}

// TransferRequest says what a transfer moves from the backend's account.
type TransferRequest struct {
	To    crypto.Address
	Asset crypto.Address // ERC-20 token, or zero for ETH
	// Amount is in the asset's base units; ignored with All.
	Amount uint256.Int
	// All moves the account's whole balance of Asset except Keep. For ETH
	// it also keeps the most the transaction's gas can cost (its gas limit
	// at its fee cap), since the fee is paid from the same balance; what
	// the gas does not use stays behind.
	All  bool
	Keep uint256.Int
}

// TransferQuote is what a transfer would move and cost, as of the latest
// block.
type TransferQuote struct {
	Amount  uint256.Int // what it moves (for All: the balance less Keep and, for ETH, MaxFee)
	Balance uint256.Int // the account's balance of the asset
	Gas     uint64      // the transaction's gas limit
	Fee     uint256.Int // the expected fee in wei: the gas estimate at the latest base fee plus the tip
	MaxFee  uint256.Int // the most the fee can be, in wei: the gas limit at the fee cap
}

// SignedTransfer is a transfer transaction signed by the backend's
// account, sent or not. Sending it again is harmless: a chain carries out
// a nonce once.
type SignedTransfer struct {
	To     crypto.Address
	Asset  crypto.Address
	Amount uint256.Int
	Nonce  uint64
	TxHash crypto.Hash
	MaxFee uint256.Int // wei
	Raw    []byte      // the signed transaction in its canonical encoding
}

// Transferrer moves the backend account's own funds, ETH or an ERC-20
// token, to another address. The consumer that wants a transfer to
// survive its own crash signs it, records the SignedTransfer durably, and
// only then sends it: after a restart it sends the recorded transaction
// again, which moves the funds at most once, and learns its outcome.
type Transferrer interface {
	// QuoteTransfer checks that req can be carried out now and prices it;
	// nothing is signed or sent. Errors: ErrInvalidTransfer,
	// ErrInsufficientFunds (the amount, or the gas), ErrNoContract (no
	// code at the token address), *RevertError (the token or the
	// recipient refuses), ErrUnavailable.
	QuoteTransfer(ctx context.Context, req TransferRequest) (TransferQuote, error)
	// SignTransfer checks req as QuoteTransfer does and signs it with the
	// account's next nonce, which it takes: the caller must send the
	// result (SendTransfer), since the account's later transactions wait
	// behind an unsent nonce (until the backend reads its nonce from the
	// chain again after a failure).
	SignTransfer(ctx context.Context, req TransferRequest) (SignedTransfer, error)
	// SendTransfer sends t, or sends it again, and waits until it is mined
	// with the configured confirmations. It returns the receipt; with a
	// *RevertError if the transaction failed on chain (it paid its fee,
	// moved nothing); ErrDropped if it never will be mined;
	// ErrInsufficientFunds if the endpoint refuses it for want of funds
	// (it is not sent); any other error leaves the outcome unknown: call
	// SendTransfer again later.
	SendTransfer(ctx context.Context, t SignedTransfer) (Receipt, error)
}

// Backend is a whole settlement layer bound to one chain, one adjudicator
// and one account (the node's key), which pays for and signs transactions.
// Every transaction method returns once the transaction is mined and has the
// configured confirmations. Methods are safe for concurrent use.
type Backend interface {
	Opener
	Depositor
	Withdrawer
	Closer
	Disputer
	Settler
	Reader
	EventSource
	Transferrer
	ChainID() uint64
	Adjudicator() crypto.Address
	Account() crypto.Address
}
