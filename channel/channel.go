package channel

import (
	"errors"
	"fmt"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/crypto"
)

// Proof is a balance proof: the payer's signed statement that it has paid
// Transferred in total to the other participant of Channel. Nonce grows by
// one with every proof the payer signs. The zero Proof (nonce 0) stands for
// "no proof yet" and is never signed.
type Proof struct {
	Channel     ID
	Nonce       uint64
	Transferred uint256.Int
	Sig         crypto.Signature
}

// IsZero reports whether p is the "no proof yet" value.
func (p *Proof) IsZero() bool { return p.Nonce == 0 }

// Signer signs digests for one participant. *crypto.PrivateKey implements
// it.
type Signer interface {
	Address() crypto.Address
	Sign(digest crypto.Hash) (crypto.Signature, error)
}

// Withdrawal is a withdrawal from an open channel: Participant's
// totalWithdrawn rises to Total if both signatures reach the chain by Expiry.
type Withdrawal struct {
	Participant Side
	Total       uint256.Int
	Expiry      uint64              // chain timestamp, seconds
	Sigs        [2]crypto.Signature // by side; all zeros where missing
}

// Complete reports whether both signatures are present.
func (w *Withdrawal) Complete() bool {
	return w.Sigs[A] != (crypto.Signature{}) && w.Sigs[B] != (crypto.Signature{})
}

// CloseTerms are cooperative-close terms: the adjudicator pays Balance[A]
// and Balance[B] at once if both signatures reach it by Expiry.
type CloseTerms struct {
	Balance  [2]uint256.Int
	Expiry   uint64              // chain timestamp, seconds
	Sigs     [2]crypto.Signature // by side; all zeros where missing
	Proposer Side                // who signed first (and submits them)
}

// Complete reports whether both signatures are present.
func (t *CloseTerms) Complete() bool {
	return t.Sigs[A] != (crypto.Signature{}) && t.Sigs[B] != (crypto.Signature{})
}

// Dispute is what the chain recorded after a force close.
type Dispute struct {
	Closer      Side
	SettleAfter uint64         // chain timestamp after which settle is allowed
	Transferred [2]uint256.Int // Transferred[X] is the highest X->other amount presented
}

// State is everything a channel knows; it is what the caller persists. The
// machine never holds a database handle: the caller saves the State (or the
// part that changed) after every accepted call.
type State struct {
	Params Params
	Self   Side
	Phase  Phase

	// Deposit[X] is X's totalDeposit confirmed on chain.
	Deposit [2]uint256.Int
	// ChainWithdrawn[X] is X's totalWithdrawn confirmed on chain.
	ChainWithdrawn [2]uint256.Int
	// Withdrawn[X] is the higher of ChainWithdrawn[X] and a pending
	// withdrawal of X this side signed: every signed withdrawal counts until
	// it is on chain or expired.
	Withdrawn [2]uint256.Int

	Sent     Proof  // newest proof Self signed (Self -> other)
	Acked    uint64 // highest nonce of Sent the peer acknowledged as durable
	Received Proof  // newest proof from the peer (other -> Self)

	Withdrawal *Withdrawal // pending withdrawal, if any (at most one)
	Close      *CloseTerms // cooperative-close terms Self signed, until used or expired
	Dispute    *Dispute    // set once a force close is seen on chain
}

// Clone returns a deep copy of s.
func (s *State) Clone() State {
	c := *s
	if s.Withdrawal != nil {
		w := *s.Withdrawal
		c.Withdrawal = &w
	}
	if s.Close != nil {
		t := *s.Close
		c.Close = &t
	}
	if s.Dispute != nil {
		d := *s.Dispute
		c.Dispute = &d
	}
	return c
}

// Channel is the state machine of one channel seen from one side. It does no
// I/O, reads no clock and starts no goroutines: time and chain events are
// passed in, and every method either applies its input completely or returns
// an error and leaves the channel exactly as it was. A Channel is not safe
// for concurrent use; give each channel one owner.
type Channel struct {
	st   State
	id   ID
	dom  crypto.Domain
	self crypto.Address
	peer crypto.Address
	op   Op    // the operation in progress (not persisted)
	rd   Ready // what the caller must do since the last Ready
}

// New returns a channel in phase Opening, seen from side self.
func New(p Params, self Side) (*Channel, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if !self.Valid() {
		return nil, ErrInvalidSide
	}
	return build(State{Params: p, Self: self, Phase: Opening}, p.ID()), nil
}

// Restore rebuilds a channel from a persisted State after checking that the
// state is consistent.
func Restore(st State) (*Channel, error) {
	if err := st.Params.Validate(); err != nil {
		return nil, err
	}
	if !st.Self.Valid() {
		return nil, ErrInvalidSide
	}
	if !st.Phase.Valid() {
		return nil, fmt.Errorf("restore: unknown phase %d", st.Phase)
	}
	id := st.Params.ID()
	for _, p := range []*Proof{&st.Sent, &st.Received} {
		if !p.IsZero() && p.Channel != id {
			return nil, fmt.Errorf("restore: %w", ErrWrongChannel)
		}
	}
	if st.Acked > st.Sent.Nonce {
		return nil, fmt.Errorf("restore: acked nonce %d above sent nonce %d", st.Acked, st.Sent.Nonce)
	}
	for _, x := range []Side{A, B} {
		if st.Withdrawn[x].Lt(&st.ChainWithdrawn[x]) {
			return nil, fmt.Errorf("restore: side %s withdrawn below its on-chain total", x)
		}
	}
	if w := st.Withdrawal; w != nil && !w.Participant.Valid() {
		return nil, ErrInvalidSide
	}
	if d := st.Dispute; d != nil && !d.Closer.Valid() {
		return nil, ErrInvalidSide
	}
	if t := st.Close; t != nil && !t.Proposer.Valid() {
		return nil, ErrInvalidSide
	}
	return build(st.Clone(), id), nil
}

// build makes the channel of st, whose id is id (st.Params.ID()).
func build(st State, id ID) *Channel {
	return &Channel{
		st:   st,
		id:   id,
		dom:  st.Params.Domain(),
		self: st.Params.Participants[st.Self],
		peer: st.Params.Participants[st.Self.Other()],
	}
}

// ID returns the channel id.
func (c *Channel) ID() ID { return c.id }

// Params returns the channel parameters.
func (c *Channel) Params() Params { return c.st.Params }

// Self returns this side.
func (c *Channel) Self() Side { return c.st.Self }

// Phase returns the current phase.
func (c *Channel) Phase() Phase { return c.st.Phase }

// Domain returns the EIP-712 domain of the channel.
func (c *Channel) Domain() crypto.Domain { return c.dom }

// State returns a deep copy of the channel state, to persist or inspect.
func (c *Channel) State() State { return c.st.Clone() }

// Funds returns each side's deposit and withdrawn total (counting a
// pending withdrawal this side signed), without copying the whole state.
func (c *Channel) Funds() (deposit, withdrawn [2]uint256.Int) {
	return c.st.Deposit, c.st.Withdrawn
}

// Sent returns the newest proof this side signed.
func (c *Channel) Sent() Proof { return c.st.Sent }

// Received returns the newest proof this side holds from the peer.
func (c *Channel) Received() Proof { return c.st.Received }

// Acked returns the highest acknowledged nonce of this side's proofs.
func (c *Channel) Acked() uint64 { return c.st.Acked }

// Balance returns what side x owns off chain as seen from this side, counting
// every proof this side signed and the newest it received, and every signed
// withdrawal. The two balances always add up to the deposits minus the
// withdrawals.
func (c *Channel) Balance(x Side) uint256.Int {
	sent, recv := c.transferred(x)
	b, _ := Balance(&c.st.Deposit[x], &c.st.Withdrawn[x], sent, recv)
	return b
}

// transferred returns (x->other, other->x) as known to this side.
func (c *Channel) transferred(x Side) (sent, received *uint256.Int) {
	if x == c.st.Self {
		return &c.st.Sent.Transferred, &c.st.Received.Transferred
	}
	return &c.st.Received.Transferred, &c.st.Sent.Transferred
}

// digest returns the EIP-712 digest of a balance proof.
func (c *Channel) digest(p *Proof) crypto.Hash {
	return c.dom.BalanceProofDigest(c.id, p.Nonce, &p.Transferred)
}

func (c *Channel) checkSigner(key Signer) error {
	if key.Address() != c.self {
		return fmt.Errorf("%w: key %s, participant %s", ErrWrongKey, key.Address(), c.self)
	}
	return nil
}

// canTransact refuses payments outside phase Open.
func (c *Channel) canTransact(op string) error {
	switch c.st.Phase {
	case Open:
		return nil
	case Closing:
		return fmt.Errorf("%s: %w", op, ErrClosing)
	}
	return &PhaseError{Op: op, Phase: c.st.Phase}
}

// CanPay says why Pay would refuse any amount now, or nil: outside phase
// Open, and while this side drains the channel for a cooperative close.
func (c *Channel) CanPay() error {
	if err := c.canTransact("pay"); err != nil {
		return err
	}
	if c.op == OpClose {
		return fmt.Errorf("pay: %w", ErrDraining)
	}
	return nil
}

// Pay signs the next outgoing proof, adding amount to the cumulative total
// this side has paid. The caller must persist the returned proof (it is
// also State().Sent) before or together with sending it, so that a restart
// never signs a second, different proof at the same nonce.
//
// It fails with ErrZeroAmount, ErrOverflow, an InsufficientBalanceError when
// amount exceeds this side's balance, ErrClosing, ErrDraining or
// ErrWrongPhase. Ready: persist Sent, send the proof (Early).
func (c *Channel) Pay(amount *uint256.Int, key Signer) (Proof, error) {
	if err := c.CanPay(); err != nil {
		return Proof{}, err
	}
	return c.sign(amount, key)
}

// Refund is Pay for money this side owes back at once (a payment the peer
// made that this side refused for reasons of its own, see the node's
// refusal rule): unlike Pay it is allowed while draining.
func (c *Channel) Refund(amount *uint256.Int, key Signer) (Proof, error) {
	if err := c.canTransact("refund"); err != nil {
		return Proof{}, err
	}
	return c.sign(amount, key)
}

func (c *Channel) sign(amount *uint256.Int, key Signer) (Proof, error) {
	if err := c.checkSigner(key); err != nil {
		return Proof{}, err
	}
	if amount.IsZero() {
		return Proof{}, ErrZeroAmount
	}
	next := Proof{Channel: c.id, Nonce: c.st.Sent.Nonce + 1}
	if next.Nonce == 0 {
		return Proof{}, fmt.Errorf("%w: nonce", ErrOverflow)
	}
	if _, over := next.Transferred.AddOverflow(&c.st.Sent.Transferred, amount); over {
		return Proof{}, ErrOverflow
	}
	self := c.st.Self
	if avail := c.Balance(self); avail.Lt(amount) {
		return Proof{}, &InsufficientBalanceError{Side: self, Need: *amount, Available: avail}
	}
	sig, err := key.Sign(c.digest(&next))
	if err != nil {
		return Proof{}, fmt.Errorf("pay: %w", err)
	}
	next.Sig = sig
	c.st.Sent = next
	c.rd.Sent = true
	c.rd.Early = append(c.rd.Early, ProofMsg{Proof: next})
	return next, nil
}

// Receive accepts a proof from the peer and returns the amount it adds. It
// checks, in this order: the phase, the channel id, that the nonce and the
// cumulative amount are above the newest held, the solvency rule
//
//	transferred(peer->self) <= deposit(peer) + transferred(self->peer) - withdrawn(peer)
//
// and last the signature (the expensive check). A proof signed for another
// chain, contract or channel fails the signature check. The caller must
// persist the proof (State().Received) before acknowledging it. Ready:
// persist Received, then send the acknowledgement.
func (c *Channel) Receive(p Proof) (uint256.Int, error) {
	if err := c.canTransact("receive"); err != nil {
		return uint256.Int{}, err
	}
	if p.Channel != c.id {
		return uint256.Int{}, fmt.Errorf("%w: %s", ErrWrongChannel, p.Channel)
	}
	cur := &c.st.Received
	if p.Nonce <= cur.Nonce {
		return uint256.Int{}, fmt.Errorf("%w: got %d, have %d", ErrStaleNonce, p.Nonce, cur.Nonce)
	}
	if !p.Transferred.Gt(&cur.Transferred) {
		return uint256.Int{}, fmt.Errorf("%w: got %s, have %s", ErrNotIncreasing, p.Transferred.Dec(), cur.Transferred.Dec())
	}
	peer := c.st.Self.Other()
	var amount uint256.Int
	amount.Sub(&p.Transferred, &cur.Transferred)
	if avail := c.Balance(peer); avail.Lt(&amount) {
		return uint256.Int{}, &InsufficientBalanceError{Side: peer, Need: amount, Available: avail}
	}
	if err := crypto.Verify(c.digest(&p), p.Sig, c.peer); err != nil {
		return uint256.Int{}, fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	c.st.Received = p
	c.rd.Received = true
	c.send(AckMsg{Nonce: p.Nonce})
	return amount, nil
}

// Ack records that the peer acknowledged (stored durably) this side's
// proofs up to nonce. Acknowledgements are cumulative.
func (c *Channel) Ack(nonce uint64) error {
	if nonce > c.st.Sent.Nonce {
		return fmt.Errorf("%w: %d (newest sent %d)", ErrUnknownNonce, nonce, c.st.Sent.Nonce)
	}
	if nonce <= c.st.Acked {
		return fmt.Errorf("%w: %d (acked %d)", ErrStaleAck, nonce, c.st.Acked)
	}
	c.st.Acked = nonce
	return nil
}

// Reestablish reconciles this side's outgoing proofs with what the peer
// holds after a reconnect. held is the newest of this side's proofs the peer
// has (zero if none). It returns the proof to resend, if the peer lacks the
// newest one; since proofs are cumulative, one resend covers every gap.
//
// If the peer holds a newer proof than this side remembers (this side lost
// it in a crash), the proof's signature is checked and it is adopted, so the
// next payment continues from it. If the peer lacks a proof it had
// acknowledged, the resend is still returned together with ErrPeerLostData.
//
// Ready: the resend, and everything this side signed that the peer may not
// have received (close terms it proposed and that are not countersigned
// yet, its countersignature of the peer's terms, its own withdrawal not
// countersigned yet, its countersignature of the peer's withdrawal): every
// such message is safe to receive twice.
func (c *Channel) Reestablish(held Proof) (*Proof, error) {
	resend, err := c.reestablish(held)
	if resend != nil {
		c.send(ProofMsg{Proof: *resend})
	}
	if err == nil || errors.Is(err, ErrPeerLostData) {
		c.resendSigned()
	}
	return resend, err
}

// Resend queues again (Ready: Messages) the close terms and withdrawal
// messages this side signed for the peer that may not have reached it, as
// Reestablish does, for a caller that asks again without a reconnect.
func (c *Channel) Resend() { c.resendSigned() }

// resendSigned queues again what this side signed for the peer and may not
// have reached it.
func (c *Channel) resendSigned() {
	self := c.st.Self
	if t := c.st.Close; t != nil && c.st.Phase == Closing {
		switch {
		case t.Proposer == self && !t.Complete():
			c.send(CloseRequestMsg{Terms: *t})
		case t.Proposer != self:
			c.send(CloseReplyMsg{Sig: t.Sigs[self]})
		}
	}
	if w := c.st.Withdrawal; w != nil {
		switch {
		case w.Participant == self && !w.Complete():
			c.send(WithdrawRequestMsg{Withdrawal: *w})
		case w.Participant != self:
			c.send(WithdrawReplyMsg{Sig: w.Sigs[self]})
		}
	}
}

func (c *Channel) reestablish(held Proof) (*Proof, error) {
	sent := &c.st.Sent
	switch {
	case held.IsZero() && sent.IsZero():
		return nil, nil
	case held.Nonce > sent.Nonce || (held.Nonce == sent.Nonce && !held.Transferred.Eq(&sent.Transferred)):
		if held.Channel != c.id {
			return nil, fmt.Errorf("reestablish: %w", ErrWrongChannel)
		}
		if err := crypto.Verify(c.digest(&held), held.Sig, c.self); err != nil {
			return nil, fmt.Errorf("reestablish: %w: %w", ErrBadSignature, err)
		}
		if held.Nonce == sent.Nonce {
			// Two different proofs at one nonce can only come from a
			// broken store; keep the higher amount, which is the one the
			// peer can use against us.
			if held.Transferred.Lt(&sent.Transferred) {
				return nil, fmt.Errorf("reestablish: conflicting proofs at nonce %d", held.Nonce)
			}
		}
		c.st.Sent = held
		c.st.Acked = held.Nonce
		c.rd.Sent = true
		return nil, nil
	case held.Nonce == sent.Nonce:
		c.st.Acked = sent.Nonce
		return nil, nil
	default: // the peer lacks our newest proof
		resend := *sent
		var err error
		if held.Nonce < c.st.Acked {
			err = fmt.Errorf("%w: peer holds nonce %d, acknowledged %d", ErrPeerLostData, held.Nonce, c.st.Acked)
		}
		c.st.Acked = held.Nonce // what the peer holds now; the resend is acknowledged again
		return &resend, err
	}
}

// ChainOpened records that the open transaction is on chain (also after
// this side abandoned the channel: then it is open after all).
func (c *Channel) ChainOpened() error {
	if c.st.Phase != Opening && c.st.Phase != Abandoned {
		return nil // a replayed event
	}
	to, err := next(c.st.Phase, evChainOpened, "opened")
	if err != nil {
		return err
	}
	c.st.Phase = to
	c.rd.State = true
	c.Done(OpOpen)
	return nil
}

// ChainDeposit records side x's totalDeposit as seen on chain. Totals only
// grow, so a repeated or reordered event changes nothing.
func (c *Channel) ChainDeposit(x Side, total *uint256.Int) error {
	if !x.Valid() {
		return ErrInvalidSide
	}
	if total.Gt(&c.st.Deposit[x]) {
		c.st.Deposit[x] = *total
		c.rd.State = true
	}
	return nil
}
