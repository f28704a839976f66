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
// The caller owns the Channel and the store. For every call that changes the
// state, in this order:
//
//  1. call the method; on error nothing changed;
//  2. persist what changed (State, or just the new proof) durably;
//  3. only then send to the peer, acknowledge, or act on chain.
//
// In particular a payer persists the proof Pay returns before or together
// with sending it, and a receiver persists the proof Receive accepted before
// it acknowledges it. Chain events are applied in chain order, and ChainTime
// only after every event up to that block.
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
