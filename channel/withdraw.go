package channel

import (
	"fmt"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/crypto"
)

func (c *Channel) withdrawDigest(w *Withdrawal) crypto.Hash {
	return c.dom.WithdrawDigest(c.id, c.st.Params.Participants[w.Participant], &w.Total, w.Expiry)
}

// RequestWithdraw starts a withdrawal of amount by this side while the
// channel stays open: it signs Withdraw(totalWithdrawn = withdrawn + amount,
// expiry) and counts the amount as withdrawn at once. The peer must
// countersign (CountersignWithdraw) and the caller then submits both
// signatures on chain before expiry (a chain timestamp). At most one
// withdrawal is pending at a time. It begins OpWithdraw. Ready: persist
// State, then send the request.
func (c *Channel) RequestWithdraw(amount *uint256.Int, expiry, now uint64, key Signer) (Withdrawal, error) {
	if err := c.canTransact("withdraw"); err != nil {
		return Withdrawal{}, err
	}
	if err := c.checkSigner(key); err != nil {
		return Withdrawal{}, err
	}
	if c.st.Withdrawal != nil {
		return Withdrawal{}, ErrWithdrawPending
	}
	if c.op != OpNone {
		return Withdrawal{}, &BusyError{Running: c.op}
	}
	if amount.IsZero() {
		return Withdrawal{}, ErrZeroAmount
	}
	if expiry <= now {
		return Withdrawal{}, fmt.Errorf("%w: expiry %d not after now %d", ErrExpired, expiry, now)
	}
	self := c.st.Self
	w := Withdrawal{Participant: self, Expiry: expiry}
	if _, over := w.Total.AddOverflow(&c.st.Withdrawn[self], amount); over {
		return Withdrawal{}, ErrOverflow
	}
	if avail := c.Balance(self); avail.Lt(amount) {
		return Withdrawal{}, &InsufficientBalanceError{Side: self, Need: *amount, Available: avail}
	}
	sig, err := key.Sign(c.withdrawDigest(&w))
	if err != nil {
		return Withdrawal{}, fmt.Errorf("withdraw: %w", err)
	}
	w.Sigs[self] = sig
	c.st.Withdrawal = &w
	c.st.Withdrawn[self] = w.Total
	c.op = OpWithdraw
	c.rd.State = true
	c.send(WithdrawRequestMsg{Withdrawal: w})
	return w, nil
}

// CountersignWithdraw checks a withdrawal the peer requested and signed, and
// signs it too if the peer can afford it, as this side sees the balances.
// From then on the amount counts as withdrawn by the peer (until it is on
// chain or expires). It returns the withdrawal with both signatures. The
// same request received again (the peer did not get the reply) is answered
// again without a change. Ready: persist State, then send the
// countersignature.
func (c *Channel) CountersignWithdraw(w Withdrawal, now uint64, key Signer) (Withdrawal, error) {
	if err := c.canTransact("countersign withdraw"); err != nil {
		return Withdrawal{}, err
	}
	if err := c.checkSigner(key); err != nil {
		return Withdrawal{}, err
	}
	peer := c.st.Self.Other()
	if w.Participant != peer {
		return Withdrawal{}, fmt.Errorf("countersign withdraw: %w: participant %s is not the peer", ErrInvalidSide, w.Participant)
	}
	if cur := c.st.Withdrawal; cur != nil && cur.Participant == peer && cur.Total.Eq(&w.Total) &&
		cur.Expiry == w.Expiry && cur.Sigs[peer] == w.Sigs[peer] {
		c.send(WithdrawReplyMsg{Sig: cur.Sigs[c.st.Self]})
		return *cur, nil
	}
	// Both asked at once: the side with the higher address yields, drops
	// its own request (not countersigned, it can never reach the chain) and
	// countersigns the other's; the other refuses the yielding side's.
	if own := c.st.Withdrawal; own != nil && own.Participant == c.st.Self && !own.Complete() && higher(c.self, c.peer) {
		defer func(saved State, op Op) {
			if c.st.Withdrawal == nil || c.st.Withdrawal.Participant == c.st.Self { // refused after all: nothing changed
				c.st, c.op = saved, op
			}
		}(c.st.Clone(), c.op)
		c.dropWithdrawal()
	}
	if c.st.Withdrawal != nil {
		return Withdrawal{}, ErrWithdrawPending
	}
	if c.op == OpClose {
		return Withdrawal{}, fmt.Errorf("countersign withdraw: %w", ErrDraining)
	}
	if w.Expiry <= now {
		return Withdrawal{}, fmt.Errorf("%w: expiry %d not after now %d", ErrExpired, w.Expiry, now)
	}
	if !w.Total.Gt(&c.st.Withdrawn[peer]) {
		return Withdrawal{}, fmt.Errorf("%w: total withdrawn %s, already %s", ErrNotIncreasing, w.Total.Dec(), c.st.Withdrawn[peer].Dec())
	}
	var amount uint256.Int
	amount.Sub(&w.Total, &c.st.Withdrawn[peer])
	if avail := c.Balance(peer); avail.Lt(&amount) {
		return Withdrawal{}, &InsufficientBalanceError{Side: peer, Need: amount, Available: avail}
	}
	digest := c.withdrawDigest(&w)
	if err := crypto.Verify(digest, w.Sigs[peer], c.peer); err != nil {
		return Withdrawal{}, fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	sig, err := key.Sign(digest)
	if err != nil {
		return Withdrawal{}, fmt.Errorf("countersign withdraw: %w", err)
	}
	w.Sigs[c.st.Self] = sig
	c.st.Withdrawal = &w
	c.st.Withdrawn[peer] = w.Total
	c.rd.State = true
	c.send(WithdrawReplyMsg{Sig: sig})
	return w, nil
}

// WithdrawCountersigned records the peer's signature on this side's pending
// withdrawal and returns the complete withdrawal. Ready: persist State,
// then submit it (SubmitWithdrawAction), unless another operation runs
// (then ChainTime submits it later). A countersignature received again
// changes nothing.
func (c *Channel) WithdrawCountersigned(sig crypto.Signature) (Withdrawal, error) {
	w := c.st.Withdrawal
	if w == nil || w.Participant != c.st.Self {
		return Withdrawal{}, ErrNoWithdrawPending
	}
	peer := c.st.Self.Other()
	if w.Complete() && w.Sigs[peer] == sig {
		return *w, nil
	}
	if err := crypto.Verify(c.withdrawDigest(w), sig, c.peer); err != nil {
		return Withdrawal{}, fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	w.Sigs[peer] = sig
	c.rd.State = true
	if c.op == OpNone || c.op == OpWithdraw {
		c.op = OpWithdraw
		c.act(SubmitWithdrawAction{Withdrawal: *w})
	}
	return *w, nil
}

// AbortWithdraw drops this side's own pending withdrawal that the peer has
// not countersigned (the peer refused, or did not answer). Without the
// peer's signature it can never reach the chain. It ends OpWithdraw.
func (c *Channel) AbortWithdraw() error {
	w := c.st.Withdrawal
	if w == nil || w.Participant != c.st.Self || w.Complete() {
		return ErrNoWithdrawPending
	}
	c.dropWithdrawal()
	return nil
}

// dropWithdrawal forgets the pending withdrawal (expired, refused, or made
// moot by a force close): it no longer counts as withdrawn.
func (c *Channel) dropWithdrawal() {
	w := c.st.Withdrawal
	c.st.Withdrawn[w.Participant] = c.st.ChainWithdrawn[w.Participant]
	c.st.Withdrawal = nil
	c.rd.State = true
	if w.Participant == c.st.Self {
		c.Done(OpWithdraw)
	}
}

// Withdrawal returns the pending withdrawal, if any.
func (c *Channel) Withdrawal() (Withdrawal, bool) {
	if c.st.Withdrawal == nil {
		return Withdrawal{}, false
	}
	return *c.st.Withdrawal, true
}

// ChainWithdrawn records side x's totalWithdrawn as seen on chain. Totals
// only grow; a pending withdrawal the chain has now covered is done.
func (c *Channel) ChainWithdrawn(x Side, total *uint256.Int) error {
	if !x.Valid() {
		return ErrInvalidSide
	}
	if !total.Gt(&c.st.ChainWithdrawn[x]) {
		return nil
	}
	c.rd.State = true
	c.st.ChainWithdrawn[x] = *total
	if total.Gt(&c.st.Withdrawn[x]) {
		c.st.Withdrawn[x] = *total
	}
	if w := c.st.Withdrawal; w != nil && w.Participant == x && !total.Lt(&w.Total) {
		c.st.Withdrawal = nil
		if x == c.st.Self {
			c.Done(OpWithdraw)
		}
	}
	return nil
}
