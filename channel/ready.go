package channel

import (
	"fmt"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/crypto"
)

// Ready is what a Channel asks its caller to do after one or more calls, in
// the spirit of raft's Ready. The caller takes it with (*Channel).Ready and
// carries it out in this order:
//
//  1. persist: State() if State is set, the newest own proof if Sent is set,
//     the newest received proof if Received is set;
//  2. send Early at once, before or together with that write (only proofs
//     this side signed: a crash before the write lands is repaired on
//     reconnect, see Reestablish);
//  3. once the write is durable, send Messages in order and start Actions.
//
// Messages and actions of one Ready must not overtake those of an earlier
// Ready that still waits for its write.
type Ready struct {
	State    bool // the channel record changed
	Sent     bool // a new own proof (State().Sent)
	Received bool // a new proof from the peer (State().Received)
	Early    []Message
	Messages []Message
	Actions  []Action
}

// Empty reports whether there is nothing to do.
func (r *Ready) Empty() bool {
	return !r.State && !r.Sent && !r.Received && len(r.Early) == 0 && len(r.Messages) == 0 && len(r.Actions) == 0
}

// Persist reports whether anything must be written.
func (r *Ready) Persist() bool { return r.State || r.Sent || r.Received }

// Message is a message for the peer.
type Message interface{ message() }

// ProofMsg carries this side's newest proof (new, or sent again).
type ProofMsg struct{ Proof Proof }

// AckMsg acknowledges the peer's proofs up to Nonce as durable.
type AckMsg struct{ Nonce uint64 }

// CloseRequestMsg asks the peer to countersign Terms (this side's signature
// is in Terms.Sigs).
type CloseRequestMsg struct{ Terms CloseTerms }

// CloseReplyMsg carries this side's countersignature of the peer's terms.
type CloseReplyMsg struct{ Sig crypto.Signature }

// WithdrawRequestMsg asks the peer to countersign this side's withdrawal.
type WithdrawRequestMsg struct{ Withdrawal Withdrawal }

// WithdrawReplyMsg carries this side's countersignature of the peer's
// withdrawal.
type WithdrawReplyMsg struct{ Sig crypto.Signature }

func (ProofMsg) message()           {}
func (AckMsg) message()             {}
func (CloseRequestMsg) message()    {}
func (CloseReplyMsg) message()      {}
func (WithdrawRequestMsg) message() {}
func (WithdrawReplyMsg) message()   {}

// Action is something to do on chain. Each belongs to the Op in progress;
// the caller reports its end with Done.
type Action interface {
	Op() Op
}

// OpenAction opens the channel on chain with this side's first deposit.
type OpenAction struct{ Deposit uint256.Int }

// DepositAction raises this side's totalDeposit to Total.
type DepositAction struct{ Total uint256.Int }

// SubmitWithdrawAction submits this side's countersigned withdrawal.
type SubmitWithdrawAction struct{ Withdrawal Withdrawal }

// SubmitCloseAction submits countersigned cooperative-close terms.
type SubmitCloseAction struct{ Terms CloseTerms }

// ForceCloseAction closes alone, presenting the newest proofs held.
type ForceCloseAction struct{ Peers, Own Proof }

// PresentAction presents newer proofs during the challenge period.
type PresentAction struct{ Proofs []Proof }

// SettleAction settles a force-closed channel after the challenge period.
type SettleAction struct{}

// Op implements Action.
func (OpenAction) Op() Op           { return OpOpen }
func (DepositAction) Op() Op        { return OpDeposit }
func (SubmitWithdrawAction) Op() Op { return OpWithdraw }
func (SubmitCloseAction) Op() Op    { return OpClose }
func (ForceCloseAction) Op() Op     { return OpForceClose }
func (PresentAction) Op() Op        { return OpDispute }
func (SettleAction) Op() Op         { return OpSettle }

// Ready returns what the caller must do since the last call, and forgets it.
func (c *Channel) Ready() Ready {
	r := c.rd
	c.rd = Ready{}
	return r
}

// HasReady reports whether Ready would return anything.
func (c *Channel) HasReady() bool { return !c.rd.Empty() }

func (c *Channel) send(m Message) { c.rd.Messages = append(c.rd.Messages, m) }
func (c *Channel) act(a Action)   { c.rd.Actions = append(c.rd.Actions, a) }

// Op returns the operation in progress, OpNone if none.
func (c *Channel) Op() Op { return c.op }

// Begin starts op, if the phase allows it and no other operation runs. It
// fails with a BusyError or a PhaseError and changes nothing.
func (c *Channel) Begin(op Op) error {
	if c.op != OpNone {
		return &BusyError{Running: c.op}
	}
	if !ops[c.st.Phase][op] {
		if c.st.Phase == Closing && op != OpForceClose {
			return fmt.Errorf("%s: %w", op, ErrClosing)
		}
		return &PhaseError{Op: op.String(), Phase: c.st.Phase}
	}
	c.op = op
	return nil
}

// Done ends op (its action finished, well or not). Ending an operation
// that is not in progress does nothing.
func (c *Channel) Done(op Op) {
	if c.op == op {
		c.op = OpNone
	}
}

// Deposit starts a top-up of this side's deposit by amount: it emits a
// DepositAction to the new total. The chain reports the deposit back
// (ChainDeposit); the caller ends the operation with Done(OpDeposit).
func (c *Channel) Deposit(amount *uint256.Int) (uint256.Int, error) {
	if amount.IsZero() {
		return uint256.Int{}, ErrZeroAmount
	}
	var total uint256.Int
	if _, over := total.AddOverflow(&c.st.Deposit[c.st.Self], amount); over {
		return uint256.Int{}, ErrOverflow
	}
	if err := c.Begin(OpDeposit); err != nil {
		return uint256.Int{}, err
	}
	c.act(DepositAction{Total: total})
	return total, nil
}

// StartOpen starts the open transaction with this side's first deposit.
func (c *Channel) StartOpen(deposit *uint256.Int) error {
	if deposit.IsZero() {
		return ErrZeroAmount
	}
	if err := c.Begin(OpOpen); err != nil {
		return err
	}
	c.act(OpenAction{Deposit: *deposit})
	return nil
}

// Abandon gives up a channel whose open is not on chain (the caller has
// checked the chain, or the open transaction failed). It fails with a
// PhaseError outside Opening and with a BusyError while the open
// transaction is on its way.
func (c *Channel) Abandon() error {
	if c.op != OpNone {
		return &BusyError{Running: c.op}
	}
	to, err := next(c.st.Phase, evAbandon, "abandon")
	if err != nil {
		return err
	}
	c.st.Phase = to
	c.rd.State = true
	return nil
}

// ForceClose starts a force close presenting the newest proofs this side
// holds.
func (c *Channel) ForceClose() error {
	peers, own, err := c.ForceCloseProofs()
	if err != nil {
		return err
	}
	if err := c.Begin(OpForceClose); err != nil {
		return err
	}
	c.act(ForceCloseAction{Peers: peers, Own: own})
	return nil
}

// Settle starts settling a force-closed channel. Whether the challenge
// period is over is for the chain to say: the node's view of the chain's
// time may lag.
func (c *Channel) Settle() error {
	if c.st.Phase != Closed {
		return &PhaseError{Op: "settle", Phase: c.st.Phase}
	}
	if err := c.Begin(OpSettle); err != nil {
		return err
	}
	c.act(SettleAction{})
	return nil
}
