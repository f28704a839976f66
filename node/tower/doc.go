// Package tower is tinypay's watchtower: a process that watches the chain
// for the nodes it serves and, when one of their channels is force-closed
// with an older proof while the node is away, presents the newest proof the
// node handed it, paying the gas from its own account. It also holds the
// node's side: the client that hands the towers each newest incoming proof.
//
// # What a tower holds and learns
//
// For each channel and direction it serves, one record: the channel's
// parameters (public on chain) and the newest balance proof the payer
// signed (nonce, cumulative amount, signature). Nothing else reaches it: no
// payments, items, memos, receipts or timing beyond when a node's newest
// proof changes. It keeps the newest proof only, forgets a channel once it
// is settled or closed cooperatively, and holds at most MaxChannelsPerNode
// channels per served node.
//
// # Protocol
//
// A tower accepts peer connections (package rpc's PeerServer: TLS and the
// Hello handshake, so a node proves its key) and serves only the node
// addresses in Config.Serve. A node sends TowerProof messages; the tower
// answers each, in order, with a TowerAck (see proto/tinypay/peer/v1/
// tower.proto). Before storing a proof it checks its form, that its
// parameters hash to the channel id, that the sender is a participant, that
// the other participant signed it, that it is higher than what it holds
// and, for a channel it holds nothing of, its bound and that the channel is
// open (or force-closed) on chain. An acknowledgement means the proof is on
// the tower's disk (fsync).
//
// # Concurrency
//
// Server: each session runs on its own goroutine (Handle) and submits one
// proof at a time; the watcher (Start) owns the chain cursor and starts the
// transactions that present proofs, at most MaxConcurrentUpdates at a time.
// The Store's transactions serialise the writes; the Server's mutex guards
// its in-memory maps only and is never held across a chain or store call.
//
// Client: ProofDurable runs on the node's store committer goroutine and
// only records the proof as its channel's newest (a short lock, no I/O);
// one goroutine per tower dials, sends and takes the answers. A payment
// never waits for a tower.
//
// # Example
//
//	// the tower (cmd/tinypayd's "tower" command)
//	st, _ := tower.OpenStore(dir, chainID, adjudicator, log)
//	srv, _ := tower.NewServer(cfg, backend, st, nil) // backend: the tower's own key
//	srv.Start()
//	peers, _ := rpc.NewPeerServer(pcfg, func(c *rpc.PeerConn) { srv.Handle(c) })
//	go peers.Serve(lis)
//
//	// the node
//	tc, _ := tower.NewClient(ccfg, dialer, nil)
//	n, _ := node.New(ncfg, node.Deps{..., Proofs: tc})
//	_ = n.Start(ctx)
//	tc.Start(n.IncomingProofs())
package tower
