// Package node is the coordinator of a tinypay node: it runs one channel
// state machine (package channel) per channel against the store, the peers
// and the settlement layer. It knows nothing of offers, streams or app
// tokens: the application layer (package apps) pays through Pay and takes
// part in incoming payments through Hooks.
//
// Boundaries are interfaces this package owns (Store, PeerConn, Dialer,
// Clock, Hooks, and settlement.Backend); cmd/tinypayd builds the real ones.
// It imports no gRPC: package rpc maps its errors to status codes.
//
// # Who owns what
//
// Every piece of state has one owner, and no lock is ever held while
// another owner is called or while disk, network or chain I/O runs:
//
//   - Each channel is owned by its actor (chanActor): a mailbox whose posted
//     steps run one at a time, in order, on a goroutine that exists only
//     while there is work. It owns the channel machine, the payments queued
//     and in flight, its session with the peer, the operations in progress
//     and who waits for them. A step never waits for disk, network or
//     chain: it starts the work (a write, a chain read, a transaction) and
//     gets the result as another step. Others read the channel through the
//     ChannelInfo it publishes at the end of every step.
//   - The registry of channels (chanSet), the peers (peerSet: sessions,
//     where peers listen, dials, proposals) and the payments in progress by
//     idempotency key (payBook, sharded) each guard their maps with a lock
//     that covers the maps only.
//   - Each session has a reader goroutine, which decodes the peer's
//     messages, runs the checks that read the store (the application's, and
//     refunds), and posts them to the channel's actor, waiting only when the
//     actor has too many of the peer's messages queued (flow control reaches
//     that peer alone); and a writer goroutine, fed by a queue that never
//     blocks its callers.
//   - The chain watcher owns the chain cursor and the node's view of the
//     chain's time. Each read is bounded (ChainReadTimeout); it hands events
//     and records to the channels' actors and moves its cursor once they are
//     written. A hung endpoint stops the watcher, nothing else.
//   - The store's committer goroutine owns the writes (group commit); its
//     callbacks never block: they send what waited for the write and post
//     steps.
//
// # The ordering contract
//
// The channel machine says what must happen after each step (channel.Ready)
// and chanActor.flush carries it out, in one place, for every step:
//
//  1. the channel's record and newest proofs, with the records the step
//     adds (payments, receipts, events, stream ticks), go to the store as
//     one batch;
//  2. new proofs of this node's go to the peer at once, together with their
//     write (a crash before it lands is repaired on reconnect: the node
//     adopts its own proof from the peer and recovers the payments it
//     covers);
//  3. once the batch is durable: acknowledgements (with receipts and
//     refusals), close terms, countersignatures and resends go to the peer,
//     in order; chain actions start; and the steps that waited for the
//     write run.
//
// A step that writes nothing still waits behind the channel's writes in
// flight, so its messages never overtake theirs. An acknowledgement means
// durable. Everything saved before it was sent is sent again on reconnect
// (see channel.Reestablish), and every such message is safe to receive
// twice.
//
// # Payments
//
// Pay admits a payment through the payment book (no store read happens
// under its lock) and queues it on its channel. At the end of each batch
// of its mailbox, while fewer than MaxInFlight proofs are unacknowledged,
// the actor signs one proof covering every queued payment the balance
// allows (coalescing, up to MaxParts): payments that arrive together leave
// together, whatever room the pipeline has. The
// peer verifies it, writes it with its payments, and acknowledges once
// durable; the acknowledgement completes every payment the proof covers. So
// a signature and a verification are paid once per proof, an fsync once per
// group of writes from all channels, and nothing blocks on the network.
//
// # Refusals
//
// A payment reported failed never moves money later, and a payment that
// moves money is reported paid:
//
//   - A payment fails only if it was never signed (insufficient balance, a
//     channel that is closing, a caller that gave up while it was queued, a
//     node that stops).
//   - Once signed, it cannot be taken back: if the caller gives up, or the
//     peer refuses the proof, it is pending (ErrPending), not failed, and a
//     retry with the same key reports its outcome. The payee refuses a proof
//     only for protocol reasons (signature, nonce, solvency, phase); the two
//     sides then resynchronise and the payments complete with a later
//     acknowledgement, or the close decides them (those the final amounts
//     cover are paid, the others failed).
//   - Application checks (an offer already paid, expired or altered) run
//     before the payer signs where the payer can make them. The payee makes
//     them again and never refuses a proof for them: it accepts the proof,
//     records the refused payments as refused, signs at once a proof of its
//     own that gives the amount back (a refund, a part naming the refused
//     payment), and lists the refusal in its acknowledgement. The payer's
//     payment then fails with a *RefusedError; both logs show the payment,
//     the refusal and the refund.
//   - An acknowledgement lost with a connection (or in the payee's crash
//     between its write and its send) is not replaced by the Reestablish
//     that follows, which says only that the payee holds the proof: the
//     payer's Reestablish tells which Acks it took (acked_nonce), the payee
//     sends the newest again with the refusals and receipts of the payments
//     after it (from memory, or after a restart from one read of its log
//     while the peer's messages wait), after its resent proofs (so refunds
//     come first), and the payer completes those payments only then. A
//     payee that never does is given RequestTimeout once the proofs it said
//     it had are here: its payments are then paid, or refused if they were
//     refunded. A retry of a stored payment waits the same way.
//
// # Operations and duties
//
// Opening, depositing, withdrawing, closing (draining first) and the
// dispute duties are operations in channel's transition table, one at a
// time per channel. An API call begins one on the actor and waits for its
// end. The duties that follow from the state (submit countersigned terms
// or withdrawals, present newer proofs, settle) start when the chain's time
// reaches them, after a restart too. A chain action that fails is retried
// by its duty after a pause; one an operator waits for is reported at once.
//
// # Reconnection
//
// On every new connection both sides send, per shared channel, the newest
// proof each holds of the other's and its own newest nonce. A side missing
// proofs gets the newest again with the payments it covers; a side that lost
// its own newest proof in a crash adopts the authentic copy the peer holds.
// Payments wait for this before they flow. After a Nack the payer asks for
// the same exchange again (Reestablish.reply), with a growing delay.
//
// # The node's own funds
//
// Send moves the wallet's ETH or tokens elsewhere on chain (see wallet.go):
// the transfer is signed, recorded with its signed transaction under the
// caller's idempotency key, and only then sent; the outcome is recorded
// when known, and each step is a transfer event in the log. A retry with
// the key never sends twice; after a restart the recorded transaction is
// sent again (the chain carries a nonce out once) until its outcome is
// known. The sweep policy (SweepConfig) runs on a goroutine of its own: at
// start, and whenever the watcher sees a payout or withdrawal of this
// node's land, it sends what the wallet holds above a threshold elsewhere,
// starting from the chain's balance once every transfer in progress ended.
// The watcher only marks the asset due; it never waits for a sweep.
//
// # Behind
//
// A node that may hold older state than its peer and the chain (restored
// from a backup: Config.Restored; or its peer held a newer proof of its
// own) is behind on the channel: it refuses new payments there
// (ErrBehind, shown in ChannelInfo.Behind and NodeInfo) until the peer
// has given back its newest proof (signature checked) and the payments it
// covers, the peer's own proofs have arrived, and, after a restore, the
// chain has been read (deposits, withdrawals, closes, and channels opened
// since, which are taken up). So a restored node never signs a nonce it
// used before. See behind.go.
//
// # Failures
//
// If a write fails the node fails: it refuses everything from then on,
// since it can no longer write before it acknowledges. Stop waits for the
// writes in flight and the acknowledgements they owe, then closes the
// sessions; callers still waiting get ErrStopped (or ErrPending for a
// signed payment).
//
// # Metrics
//
// With Deps.Metrics (see NewMetrics for the names) the node counts
// payments, proofs, refusals and failures as they happen, at the cost of a
// few atomic adds and no allocation, times payments and proofs, wraps the
// chain in a decorator that times every settlement call, and records the
// watcher's position. Amounts, balances, channels and peers are read from
// the published channel snapshots when the metrics are scraped. The store
// reports its group commits to the same Metrics through its
// Config.Observer.
package node
