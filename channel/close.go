package channel

import (
	"fmt"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/crypto"
)

func (c *Channel) closeDigest(t *CloseTerms) crypto.Hash {
	return c.dom.CooperativeCloseDigest(c.id, &t.Balance[A], &t.Balance[B], t.Expiry)
}

// closeable checks what proposing and accepting close terms share: the
// phase, no withdrawal pending, no operation in progress but a cooperative
// close (a deposit on its way would change the funds the terms share out).
func (c *Channel) closeable(op string, expiry, now uint64) error {
	if c.st.Phase != Open {
		if c.st.Phase == Closing {
			return fmt.Errorf("%s: %w", op, ErrClosing)
		}
		return &PhaseError{Op: op, Phase: c.st.Phase}
	}
	if c.st.Withdrawal != nil {
		return fmt.Errorf("%s: %w", op, ErrWithdrawPending)
	}
	if c.op != OpNone && c.op != OpClose {
		return fmt.Errorf("%s: %w", op, &BusyError{Running: c.op})
	}
	if expiry <= now {
		return fmt.Errorf("%s: %w: expiry %d not after now %d", op, ErrExpired, expiry, now)
	}
	return nil
}

// BeginClose starts a cooperative close: this side stops signing payments
// (it drains) until it proposes the terms.
func (c *Channel) BeginClose() error {
	if err := c.closeable("close", 1, 0); err != nil {
		return err
	}
	return c.Begin(OpClose)
}

// ProposeClose signs cooperative-close terms paying each side its balance as
// this side sees it (counting every proof it signed), valid until expiry (a
// chain timestamp). The channel moves to Closing: it pays and accepts
// nothing until the terms are used on chain or expire. It runs as part of
// OpClose (begun here if no operation runs). Ready: persist State, then send
// the request.
func (c *Channel) ProposeClose(expiry, now uint64, key Signer) (CloseTerms, error) {
	if err := c.closeable("propose close", expiry, now); err != nil {
		return CloseTerms{}, err
	}
	if err := c.checkSigner(key); err != nil {
		return CloseTerms{}, err
	}
	t := CloseTerms{Balance: [2]uint256.Int{c.Balance(A), c.Balance(B)}, Expiry: expiry, Proposer: c.st.Self}
	sig, err := key.Sign(c.closeDigest(&t))
	if err != nil {
		return CloseTerms{}, fmt.Errorf("propose close: %w", err)
	}
	to, err := next(c.st.Phase, evSignClose, "propose close")
	if err != nil {
		return CloseTerms{}, err
	}
	t.Sigs[c.st.Self] = sig
	c.st.Close = &t
	c.st.Phase = to
	c.op = OpClose
	c.rd.State = true
	c.send(CloseRequestMsg{Terms: t})
	return t, nil
}

// AcceptClose checks close terms the peer proposed and signed and signs them
// too if they pay out exactly the channel's funds and give this side at
// least its balance as it sees it. (Terms that leave out a payment of ours
// the peer has not acknowledged favour us, and that payment simply fails.)
// It returns the terms with both signatures; the channel moves to Closing.
// The same terms received again (the peer did not get the reply) are
// answered again without a change. Ready: persist State, then send the
// countersignature.
func (c *Channel) AcceptClose(t CloseTerms, now uint64, key Signer) (CloseTerms, error) {
	self := c.st.Self
	t.Proposer = self.Other()
	if cur := c.st.Close; cur != nil && c.st.Phase == Closing && cur.Proposer == t.Proposer &&
		cur.Expiry == t.Expiry && cur.Balance == t.Balance && cur.Sigs[t.Proposer] == t.Sigs[t.Proposer] {
		c.send(CloseReplyMsg{Sig: cur.Sigs[self]})
		return *cur, nil
	}
	// Both sides proposed at once: the side with the higher address yields
	// and countersigns the peer's terms (the other refuses these), so that
	// one set of terms completes instead of both waiting for them to expire.
	yield := c.st.Phase == Closing && c.st.Close != nil && c.st.Close.Proposer == self && !c.st.Close.Complete() && higher(c.self, c.peer)
	if yield {
		if t.Expiry <= now {
			return CloseTerms{}, fmt.Errorf("accept close: %w: expiry %d not after now %d", ErrExpired, t.Expiry, now)
		}
	} else if err := c.closeable("accept close", t.Expiry, now); err != nil {
		return CloseTerms{}, err
	}
	if err := c.checkSigner(key); err != nil {
		return CloseTerms{}, err
	}
	total, ok := c.funds()
	if !ok {
		return CloseTerms{}, fmt.Errorf("accept close: %w", ErrOverflow)
	}
	if sum := add257(&t.Balance[A], &t.Balance[B]); sum.carry || !sum.v.Eq(&total) {
		return CloseTerms{}, fmt.Errorf("%w: balances add up to %s, channel holds %s", ErrTermsMismatch, sum.v.Dec(), total.Dec())
	}
	if mine := c.Balance(self); t.Balance[self].Lt(&mine) {
		return CloseTerms{}, fmt.Errorf("%w: terms give us %s, we have %s", ErrTermsMismatch, t.Balance[self].Dec(), mine.Dec())
	}
	digest := c.closeDigest(&t)
	if err := crypto.Verify(digest, t.Sigs[self.Other()], c.peer); err != nil {
		return CloseTerms{}, fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	sig, err := key.Sign(digest)
	if err != nil {
		return CloseTerms{}, fmt.Errorf("accept close: %w", err)
	}
	to := Closing
	if !yield {
		if to, err = next(c.st.Phase, evSignClose, "accept close"); err != nil {
			return CloseTerms{}, err
		}
	}
	// This side's own close (proposed, or draining to propose) gives way to
	// the peer's terms: the peer submits them, and ChainTime does if it
	// does not.
	c.Done(OpClose)
	t.Sigs[self] = sig
	c.st.Close = &t
	c.st.Phase = to
	c.rd.State = true
	c.send(CloseReplyMsg{Sig: sig})
	return t, nil
}

// higher reports whether address a sorts after b.
func higher(a, b crypto.Address) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] > b[i]
		}
	}
	return false
}

// CloseCountersigned records the peer's signature on the terms this side
// proposed and returns the complete terms. Ready: persist State, then
// submit them (SubmitCloseAction), unless another operation runs (then
// ChainTime submits them later). A countersignature received again changes
// nothing.
func (c *Channel) CloseCountersigned(sig crypto.Signature) (CloseTerms, error) {
	t := c.st.Close
	if c.st.Phase != Closing || t == nil || t.Proposer != c.st.Self {
		return CloseTerms{}, &PhaseError{Op: "close countersigned", Phase: c.st.Phase}
	}
	peer := c.st.Self.Other()
	if t.Complete() && t.Sigs[peer] == sig {
		return *t, nil
	}
	if err := crypto.Verify(c.closeDigest(t), sig, c.peer); err != nil {
		return CloseTerms{}, fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	t.Sigs[peer] = sig
	c.rd.State = true
	if c.op == OpNone || c.op == OpClose {
		c.op = OpClose
		c.act(SubmitCloseAction{Terms: *t})
	}
	return *t, nil
}

// SubmitClose starts submitting this side's countersigned close terms (for
// an operator who asks to close a channel whose terms wait, say after a
// restart). It fails unless the terms are complete, and with a BusyError
// while another operation runs.
func (c *Channel) SubmitClose() error {
	t := c.st.Close
	if c.st.Phase != Closing || t == nil || !t.Complete() {
		return &PhaseError{Op: "submit close", Phase: c.st.Phase}
	}
	if c.op == OpClose {
		return nil // on its way
	}
	if err := c.Begin(OpClose); err != nil {
		return err
	}
	c.act(SubmitCloseAction{Terms: *t})
	return nil
}

// acceptorGrace is how long before the terms expire the side that accepted
// them submits them itself, in case the proposer does not.
const acceptorGrace = 60

// duties starts the chain actions that are due at chain time now, if no
// operation runs.
func (c *Channel) duties(now uint64) {
	if c.op != OpNone {
		return
	}
	self := c.st.Self
	switch c.st.Phase {
	case Closing:
		t := c.st.Close
		if t == nil || !t.Complete() || now > t.Expiry {
			return
		}
		if t.Proposer == self || now+acceptorGrace >= t.Expiry {
			c.op = OpClose
			c.act(SubmitCloseAction{Terms: *t})
		}
	case Open:
		if w := c.st.Withdrawal; w != nil && w.Participant == self && w.Complete() && now <= w.Expiry {
			c.op = OpWithdraw
			c.act(SubmitWithdrawAction{Withdrawal: *w})
		}
	case Closed:
		d := c.st.Dispute
		if d == nil {
			return
		}
		if now > d.SettleAfter {
			c.op = OpSettle
			c.act(SettleAction{})
		} else if p := c.ToPresent(); len(p) > 0 {
			c.op = OpDispute
			c.act(PresentAction{Proofs: p})
		}
	}
}

// CloseTerms returns the close terms this side signed, if any.
func (c *Channel) CloseTerms() (CloseTerms, bool) {
	if c.st.Close == nil {
		return CloseTerms{}, false
	}
	return *c.st.Close, true
}

// funds returns total deposits minus total on-chain withdrawals: what the
// adjudicator holds for the channel.
func (c *Channel) funds() (uint256.Int, bool) {
	dep := add257(&c.st.Deposit[A], &c.st.Deposit[B])
	wd := add257(&c.st.ChainWithdrawn[A], &c.st.ChainWithdrawn[B])
	return dep.sub(wd)
}

// ChainTime tells the channel the timestamp of the newest chain block whose
// events have all been applied. Close terms and withdrawals that expired
// unused are dropped, and a Closing channel is Open again. Call it only
// after applying every event up to that block: a withdrawal executed in
// time must be seen before its expiry is.
//
// It also starts the duties that are due when no operation runs (Ready:
// Actions): submitting countersigned close terms (the proposer at once, the
// other side shortly before they expire, in case the proposer does not) or
// this side's countersigned withdrawal, presenting newer proofs during a
// challenge period, and settling after it.
func (c *Channel) ChainTime(now uint64) {
	if t := c.st.Close; t != nil && now > t.Expiry && c.st.Phase == Closing {
		if to, err := next(c.st.Phase, evCloseExpired, "close expired"); err == nil {
			c.st.Phase = to
			c.st.Close = nil
			c.rd.State = true
			c.Done(OpClose)
		}
	}
	if w := c.st.Withdrawal; w != nil && now > w.Expiry {
		c.dropWithdrawal()
	}
	c.duties(now)
}

// ForceCloseProofs returns what this side presents when it force-closes:
// the newest proof it holds from the peer and its own newest proof (either
// may be zero). Presenting both makes the chain's record exact at once.
func (c *Channel) ForceCloseProofs() (peers, own Proof, err error) {
	switch c.st.Phase {
	case Open, Closing:
		return c.st.Received, c.st.Sent, nil
	}
	return Proof{}, Proof{}, &PhaseError{Op: "force close", Phase: c.st.Phase}
}

// ChainClosed records a force close seen on chain: closer and the amounts
// presented per direction, and when the challenge period ends. Pending close
// terms and withdrawals can no longer be used.
func (c *Channel) ChainClosed(closer Side, transferred [2]uint256.Int, settleAfter uint64) error {
	if !closer.Valid() {
		return ErrInvalidSide
	}
	if c.st.Phase == Closed && c.st.Dispute != nil {
		return c.chainUpdated(transferred) // a replayed event
	}
	to, err := next(c.st.Phase, evChainClosed, "chain closed")
	if err != nil {
		return err
	}
	c.st.Phase = to
	c.st.Dispute = &Dispute{Closer: closer, SettleAfter: settleAfter, Transferred: transferred}
	c.st.Close = nil
	if c.st.Withdrawal != nil {
		c.dropWithdrawal()
	}
	c.rd.State = true
	c.endMootOps()
	return nil
}

// ChainUpdated records a newer proof presented on chain for direction
// from->other during the challenge period.
func (c *Channel) ChainUpdated(from Side, transferred *uint256.Int) error {
	if !from.Valid() {
		return ErrInvalidSide
	}
	if c.st.Phase != Closed || c.st.Dispute == nil {
		return &PhaseError{Op: "chain updated", Phase: c.st.Phase}
	}
	var t [2]uint256.Int
	t[from] = *transferred
	return c.chainUpdated(t)
}

func (c *Channel) chainUpdated(t [2]uint256.Int) error {
	for _, x := range []Side{A, B} {
		if t[x].Gt(&c.st.Dispute.Transferred[x]) {
			c.st.Dispute.Transferred[x] = t[x]
			c.rd.State = true
		}
	}
	return nil
}

// Dispute returns the on-chain force-close record, if any.
func (c *Channel) Dispute() (Dispute, bool) {
	if c.st.Dispute == nil {
		return Dispute{}, false
	}
	return *c.st.Dispute, true
}

// ToPresent returns the proofs this side must present on chain during a
// dispute: each proof it holds (the peer's newest and its own newest) whose
// amount is above what the chain recorded for that direction. Presenting them
// before the challenge period ends makes the chain pay what is owed.
func (c *Channel) ToPresent() []Proof {
	d := c.st.Dispute
	if c.st.Phase != Closed || d == nil {
		return nil
	}
	var out []Proof
	self := c.st.Self
	if r := c.st.Received; !r.IsZero() && r.Transferred.Gt(&d.Transferred[self.Other()]) {
		out = append(out, r)
	}
	if s := c.st.Sent; !s.IsZero() && s.Transferred.Gt(&d.Transferred[self]) {
		out = append(out, s)
	}
	return out
}

// ChainCooperativelyClosed records a cooperative close executed on chain.
func (c *Channel) ChainCooperativelyClosed() error {
	return c.chainEnded(evChainCoopDone, "chain cooperatively closed")
}

// ChainSettled records that the adjudicator settled a force-closed channel.
func (c *Channel) ChainSettled() error {
	return c.chainEnded(evChainSettled, "chain settled")
}

// chainEnded moves the channel on the chain's event ev that ends it (again
// is a no-op), ending any operation.
func (c *Channel) chainEnded(ev event, what string) error {
	if c.st.Phase == Settled {
		return nil
	}
	to, err := next(c.st.Phase, ev, what)
	if err != nil {
		return err
	}
	c.st.Phase = to
	c.rd.State = true
	c.op = OpNone
	return nil
}

// Settlement returns what the adjudicator pays each side when it settles a
// channel with the given on-chain totals, where transferred[X] is the highest
// X->other amount presented:
//
//	final(X) = deposit(X) - withdrawn(X) - transferred(X->Y) + transferred(Y->X)
//
// clamped to [0, funds] with final(B) = funds - final(A), where funds is
// the deposits minus the withdrawals, so the total paid out never exceeds
// what the channel holds. It matches the adjudicator contract exactly.
func Settlement(deposit, withdrawn, transferred [2]uint256.Int) [2]uint256.Int {
	dep := add257(&deposit[A], &deposit[B])
	wd := add257(&withdrawn[A], &withdrawn[B])
	funds, ok := dep.sub(wd)
	if !ok {
		return [2]uint256.Int{} // the adjudicator never holds such totals
	}
	have := add257(&deposit[A], &transferred[B])
	owe := add257(&withdrawn[A], &transferred[A])
	var out [2]uint256.Int
	if a, ok := have.sub(owe); ok {
		if a.Gt(&funds) {
			a = funds
		}
		out[A] = a
	} else if have.cmp(owe) > 0 { // above 2^256: more than funds
		out[A] = funds
	}
	out[B].Sub(&funds, &out[A])
	return out
}

// ExpectedSettlement returns what the adjudicator would pay if the dispute
// settled now, with the amounts the chain has recorded.
func (c *Channel) ExpectedSettlement() ([2]uint256.Int, bool) {
	if c.st.Dispute == nil {
		return [2]uint256.Int{}, false
	}
	return Settlement(c.st.Deposit, c.st.ChainWithdrawn, c.st.Dispute.Transferred), true
}

// endMootOps ends the operations a force close makes pointless: they only
// apply to an open channel. (Their actions may still report Done; that
// changes nothing then.)
func (c *Channel) endMootOps() {
	switch c.op {
	case OpDeposit, OpWithdraw, OpClose, OpForceClose:
		c.op = OpNone
	}
}
