// Package node is the coordinator of a tinypay node: it runs one channel
// state machine per channel against the store, the peers and the
// settlement layer.
//
// Boundaries are interfaces this package owns (Store, PeerConn, Dialer,
// Clock, and settlement.Backend); cmd/tinypayd builds the real ones.
//
// # Payments
//
// Pay queues a payment on its channel. While fewer than MaxInFlight proofs
// are unacknowledged, the channel signs one proof covering every queued
// payment the balance allows (coalescing, up to MaxParts), queues the proof
// and its payment records for a group commit, and sends the proof once it
// is durable. The peer verifies it, queues its own write, and acknowledges
// once durable; the acknowledgement completes every payment the proof
// covers. So a signature and a verification are paid once per proof, an
// fsync once per group of writes from all channels, and nothing blocks on
// the network while holding a channel.
//
// # Ordering contract
//
// For every channel, in this order: the machine moves (channel package),
// the change is queued to the store, and only when the store reports it
// durable is anything sent to the peer (a proof, an acknowledgement, a
// countersignature) — the store reports in commit order, so messages leave
// in the order the machine produced them. Chain events are applied in chain
// order and the watcher's cursor is saved with them.
//
// # Reconnection
//
// On every new connection both sides send, per shared channel, the newest
// proof each holds of the other's and its own newest nonce; a side missing
// proofs gets the newest one again (with the payments it covers), a side
// that lost its own newest proof in a crash adopts the authentic copy the
// peer holds. Payments wait for this before they flow.
//
// # Watcher
//
// The chain watcher follows the adjudicator's events from a cursor kept in
// the store, and does the node's duties without operator action: when the
// peer force-closes with stale proofs it presents the newest ones within
// the challenge period, settles after it, and pulls any payout the
// adjudicator could not push.
//
// # Concurrency
//
// Exported methods are safe for concurrent use. Each channel has its own
// lock, held only for short work (one signature or verification at most);
// chain transactions and waits for peers happen outside it.
package node
