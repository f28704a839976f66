// Package channel is the pure state machine of one tinypay payment channel,
// seen from one of its two participants.
//
// It has no I/O, no clock, no goroutines and no logging: messages from the
// peer, chain events and the current chain time are passed in; what to
// persist, send and present on chain comes out. It is deterministic, and
// every rule of the protocol in ARCHITECTURE.md lives here:
//
//   - Duplex cumulative balance proofs: each side signs, for its own
//     direction, the total it has paid so far with a nonce that grows by one
//     per proof. A newer proof dominates every older one.
//   - The solvency rule: a proof from X is accepted only if
//     transferred(X->Y) <= deposit(X) + transferred(Y->X) - withdrawn(X),
//     where the last two are the newest this side signed and every
//     withdrawal it co-signed.
//   - Cooperative close and withdraw terms signed by both sides, with an
//     expiry; a side that signed close terms pays and accepts nothing more
//     until the terms are used or expire.
//   - After a force close, the proofs to present so that the chain settles
//     on the newest amounts (the highest transferred per direction wins, never
//     the highest nonce).
//
// # Ordering contract
//
// The caller owns the Channel and the store. Every call either applies its
// input completely or returns an error and changes nothing. After calls that
// change something, the caller takes what must happen next with Ready (as
// raft's Ready) and carries it out in this order:
//
//  1. persist what changed (the channel record, the newest own proof, the
//     newest received proof);
//  2. send Ready.Early at once, before or together with that write: only
//     proofs this side signed, which a restart repairs by adopting the
//     peer's copy (Reestablish);
//  3. once the write is durable, send Ready.Messages in order (an
//     acknowledgement, close terms, countersignatures) and start
//     Ready.Actions on chain.
//
// In particular a payer persists the proof Pay returns before or together
// with sending it, and a receiver persists the proof Receive accepted before
// it acknowledges it. Chain events are applied in chain order, and ChainTime
// only after every event up to that block.
//
// # Phases and operations
//
// The phase (Opening, Open, Closing, Closed, Settled, Abandoned) is in the
// transition table in phase.go. An operation this side has in progress
// (opening, depositing, withdrawing, a cooperative close with its draining,
// a force close, a dispute, a settle) is an Op, one at a time, allowed in
// the phases the ops table lists. Actions belong to an Op; the caller ends
// it with Done when the action returned, and the chain facts that finish an
// operation end it too. Ops are not persisted: after a restart ChainTime
// starts again the duties that follow from the state.
//
// Everything this side signed for the peer is sent again by Reestablish
// when it may not have arrived, and every such message is safe to receive
// twice: the same close terms or withdrawal request is answered with the
// same countersignature, and a countersignature received twice changes
// nothing.
//
// # Example
//
//	ch, _ := channel.New(params, channel.A)
//	_ = ch.ChainOpened()
//	_ = ch.ChainDeposit(channel.A, uint256.NewInt(1000))
//	proof, err := ch.Pay(uint256.NewInt(5), key) // persist, then send
//
// and on the other side:
//
//	amount, err := peer.Receive(proof) // persist, then acknowledge
//
// A Channel is not safe for concurrent use.
package channel
