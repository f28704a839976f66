// Package apps is a tinypay node's application layer: signed offers
// payable as their signed use policy says (once, once per payer, up to N
// times, or without limit, until they expire), receipts asked for by item
// payments, pay-per-second streams metered on the payee's side,
// spend-limited app tokens (a largest single price and a highest rate
// among their limits), sites' approvals for the browser endpoint (app
// tokens with a web origin, an auto-pay threshold and one publisher; see
// ApproveSite), and revenue.
//
// It builds only on the node's narrow interfaces: it pays through
// (*node.Node).Pay (with PayTarget, PaymentByKey, Channel and Deposit for
// what it needs to know or do), and it implements node.Hooks to take part
// in incoming payments:
//
//   - CheckIncoming (on the peer's reader goroutine; it may read the store)
//     checks the offers an incoming proof pays. A part it refuses is not a
//     refused proof: the node accepts the proof and refunds the part at once
//     (see "Refusals" in package node), so the payer is told "refused and
//     refunded" and no money stays with this node. A part it accepts
//     reserves a use of its offer until the node says whether the proof was
//     stored (the use is then paid) or not (it never happened).
//   - Incoming (on the channel's owner) meters stream ticks into the same
//     write as the payments.
//   - PeerMessage handles StreamStart and StreamEnd, already checked to be
//     about a channel the sender shares with this node; a stream belongs to
//     its channel, and a message about another channel's stream is refused.
//   - PeerConnected tells a reconnected payee about the streams this node
//     pays it (and the ones that ended while they were apart).
//   - ChannelEnded ends the streams of a channel that closed.
//
// # Example
//
//	a, _ := apps.New(apps.DefaultConfig(), apps.Deps{Key: key, Store: st})
//	n, _ := node.New(cfg, node.Deps{..., Hooks: a})
//	_ = n.Start(ctx)
//	_ = a.Start(n)
//	o, _ := a.CreateOffer("song-42", usd, price, 10*time.Minute, apps.Once)    // payee
//	p, err := a.Pay(ctx, apps.PayRequest{Offer: &o})                           // payer
//	t, _ := a.CreateOffer("concert", usd, price, 24*time.Hour, apps.UpTo(100)) // 100 tickets
//	p, err = a.Pay(ctx, apps.PayRequest{Offer: &t, Key: "ticket-1"})           // one of them
//
// # Offers
//
// An offer's use policy (Uses) is signed with it. The payee holds every
// incoming payment of one of its offers to the policy: the offer book
// (one owner, its lock guarding memory only) counts, per offer, the
// payments on disk and those accepted in proofs not yet durable, so two
// payers racing for the last use get one use between them; the store
// counts the stored ones in the write that stores each payment (and
// refuses a write beyond the policy, as a backstop), so the counts survive
// restarts. A per-payer offer is counted per payer (the channel's peer):
// one index entry per paid payment, so a payer's entries cost it a
// payment each; the book holds entries only while payments are in flight.
// The payer's side pays a once-only or per-payer offer once (its key is
// OfferKey), a limited or unlimited one once per idempotency key.
//
// # Bounds
//
// A peer says a stream starts at no cost, so what it can make this node
// hold that way is bounded. An incoming stream is kept in memory only
// until its first payment, which writes its record and its "started"
// event: unpaid streams leave nothing on disk. An incoming stream counts
// against Config.MaxStreamsPerChannel and Config.MaxStreams while it is
// live (neither ended nor stalled: a payer that vanished holds no place),
// and while it is kept if it was never paid. A StreamStart of a new
// stream beyond a bound makes room by forgetting the unpaid streams that
// ended or waited longer than Config.UnpaidGrace for their first payment
// (those heard of first go first), or is refused: the peer gets an Error
// (RESOURCE_EXHAUSTED, ErrTooManyStreams), the node's Bounds counts and
// logs it, and nothing changes. Payments are never refused for a bound: a
// tick of a stream this node does not know starts it, paid.
//
// # Stream records
//
// Each side writes a running stream's record every tenth tick rather than
// each one, and at each event: started, stalled, resumed, ended. The ticks
// after a record are safe elsewhere. The payer's are paid under
// idempotency keys, so after a restart it pays the ticks after its record
// again and the node answers those it paid with their first outcome. The
// payee's are in the log, tagged with the stream: a live stream of a tick
// of at most a second has its record written every tenth tick (or every
// 10 s) naming the channel's incoming nonce it counts up to, and loading
// it counts the stream's later payments back in, with one read of the
// channel's payments after that nonce (the store's index by channel;
// eight channels are read at once, for a store that is a database server).
// A record is written whole when its stream stalls or ends, so what
// loading reads is bounded by about 12 s of the channel's payments (ten
// ticks, two more and Config.StallAfter). The
// meter, which marks incoming streams stalled or ended, keeps the live
// ones in a queue by when each may be due: a pass looks at the streams
// due, not at every stream.
//
// # Concurrency
//
// Exported methods are safe for concurrent use. Streams, tokens and offers
// in flight each have one owner whose lock guards memory only; writes of
// stream records go to the store in the order they were made, from one
// goroutine, and never under a lock. The events the meter and the API
// queue that way (stalled, ended) carry the time they happened, and a
// payment of the channel that arrives before they reach the store writes
// them itself, ahead of its own events and entries: the log tells a stall
// before the tick that ended it, whichever goroutine writes first. A
// stream's record says whether it is stalled, so a restart logs no second
// "stalled" for one stall; a stalled stream still ends at its end time. The node starts before its
// application layer and may call the hooks at once; they wait until Start
// has loaded the streams and tokens.
package apps
