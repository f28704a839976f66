// Package store is the node's persistent store, on badger (the default)
// or PostgreSQL: channels, the
// newest balance proof per channel and signer, an append-only ordered log
// (payments now, more entry kinds later) with indexes by payment id and
// idempotency key, and named cursors. Records are the storev1 protobuf
// messages; the store does not import package channel (package node converts
// between channel.State and these records) and never interprets a record
// beyond checking its form.
//
// # Example
//
//	st, err := store.Open(store.DefaultConfig(dir))
//	if err != nil { ... }
//	defer st.Close()
//
//	b := store.NewBatch()
//	if err := errors.Join(
//		b.PutChannel(ch),             // *storev1.Channel, Version = store.ChannelVersion
//		b.PutProof(signerSide, proof), // the newest proof that side signed
//		b.AppendLog(&storev1.LogEntry{Entry: &storev1.LogEntry_Payment{Payment: pay}}),
//	); err != nil { ... }            // malformed input: nothing is written
//	res, err := st.Commit(ctx, b)    // returns once durable (fsynced)
//	// res.Seqs[0] is the payment's log seq
//
//	entries, err := st.Log(afterSeq, 100) // resume a subscriber
//
// # Durability and ordering contract
//
//  1. A Batch is all or nothing. It is checked when built (malformed input
//     is ErrInvalid and poisons the batch) and again at commit (a payment id
//     or idempotency key already taken is ErrDuplicateKey, except the id
//     of an entry the caller made new and secret, Batch.AppendNewPayment,
//     which is checked within the group only; a proof older
//     than the stored one is ErrStaleProof); a refused batch writes nothing
//     and takes no seq, and does not affect the other batches committed
//     with it.
//  2. One committer goroutine takes the queued batches of all callers, in
//     submission order, and writes them as a group: one engine
//     transaction per group (badger: with Config.SyncWrites, the default,
//     one fsync; PostgreSQL: one SERIALIZABLE transaction sent in one
//     round trip, reported only after COMMIT returned), split only when
//     the transaction is too big. There is no fsync per caller; batches
//     queue up while a commit runs and share the next one. With
//     PostgreSQL, the next group's checks read their keys while the
//     current group commits, under that group's writes (readAhead), and
//     single-key reads that arrive together share one query (pgGets).
//  3. Log seqs start at 1 and are assigned at commit, strictly increasing
//     and without gaps, in commit order: commit order is seq order, and a
//     batch's entries are consecutive. A refused batch leaves no gap.
//  4. Commit returns, and a CommitAsync callback runs, only after the
//     batch's transaction is committed: with SyncWrites, a success or a
//     callback means fsynced. Callbacks run on the committer goroutine in
//     commit order, so they must not block.
//  5. Reads see only committed data. LastSeq advances after the commit,
//     before callers are told, so every seq a caller has been given is at
//     most LastSeq and readable.
//  6. If a write fails, whether the batches being written are durable is
//     unknown: they fail with ErrFailed and so does every later commit
//     until the store is reopened. Reads go on working.
//
// # Key layout
//
// Every key starts with a one-byte prefix; numbers are big-endian so that
// keys sort numerically. Values are deterministic protobuf encodings of the
// storev1 messages (at most MaxRecordSize bytes) unless noted.
//
//	0x00                         StoreMeta (format version, written on creation)
//	0x01 channel id (32)         Channel
//	0x02 channel id (32) side(1) Proof, newest signed by side (0 = A, 1 = B)
//	0x03 seq (8)                 LogEntry; its seq field equals the key's
//	0x04 idempotency key (1-256) seq (8) of the payment with that key
//	0x05 payment id (32)         seq (8) of the payment with that id
//	0x06 cursor name (1-255)     Cursor
//	0x07 payment id (32)         Receipt (the payee's signature over a payment)
//	0x08 stream id (16)          Stream
//	0x09 token id (16)           AppToken
//	0x0a offer id (32)           seq (8) of the incoming payment that paid the
//	                             once-only offer; a second payment of it is
//	                             refused
//	0x0b idempotency key (1-256) Transfer (of the node's own funds, on chain)
//	0x0c offer id (32)           count (8) of the incoming payments of an
//	                             offer that is not once-only; a payment of a
//	                             limited offer beyond its bound is refused
//	0x0d offer id (32) payer(20) seq (8) of that payer's payment of a
//	                             per-payer offer; a second one is refused
//	0x0e channel id (32) nonce (8) empty: an outgoing payment of that proof
//	     payment id (32)         that asked for a receipt not yet on disk
//	0x0f channel id (32)         count (4): that many payments of that
//	     direction (1) nonce (8) proof of the channel are in the log from
//	     first seq (8)           first seq on (format 2; one entry for
//	                             the payments of a proof a batch appends
//	                             together, so one write a proof; Open
//	                             writes the index for a format 1 store)
//
// Offer entries are written with the accepted incoming payment they hold
// (Payment.offer_uses names the policy), in the same write, and only for
// payments the node accepted: one entry per paid payment, so a payer's
// entries cost it a payment each.
//
// A record that does not decode, has a field of the wrong length (ids 32
// bytes, addresses 20, signatures 65, amounts at most 32 without a leading
// zero byte), an unknown version, enum value or log entry kind, or a key of
// an unknown prefix or shape, is reported as *CorruptError (ErrCorrupt)
// naming the key, never a panic. Verify checks a whole store.
//
// A process crash (SIGKILL) loses nothing that was reported: the crash test
// kills a committing child process and checks every reported entry, on
// both engines. Power loss is covered only with SyncWrites, by fsync (for
// PostgreSQL, by the server's own durability).
//
// # Snapshots
//
// Snapshot streams every record of one consistent snapshot (one read
// transaction: whole group commits, nothing committed after it began) in
// key order, while commits go on; Restore builds a new store from such a
// stream into an empty directory or a PostgreSQL node without records (a
// snapshot of one engine restores into the other), checking every record
// as it arrives and the whole as Verify does, and leaves nothing behind if
// anything is wrong (ErrBadSnapshot). Both hold a bounded number of
// records in memory (one, or a page of PostgreSQL rows). Package
// store/backup wraps the stream in an encrypted, authenticated file.
//
// # Engines
//
// The rules above are kept once, over a small ordered key-value engine
// (engine.go): get, range scans both ways, and write transactions that
// commit all or nothing. Badger (engine_badger.go) keeps the key layout
// above in a directory. PostgreSQL (engine_postgres.go, PostgresConfig)
// keeps the same keys and values as rows of tinypay_kv (node, key,
// value), one node identity per value of node, with versioned schema
// migrations run by Open, and a lease row per node whose epoch every
// write transaction checks: a process that lost the lease to another can
// never commit again (ErrFenced), and a second process cannot open a node
// whose lease is held (ErrLeaseHeld), unless it is a hot standby
// (PostgresConfig.Standby): OpenContext then waits for the lease until
// its context ends. A process also ends its lease on its own clock when
// it could not renew it in time (ErrLeaseExpired, lease_postgres.go),
// before another may take over. Either way the store fails: Failed is
// closed, Err says why, and the owner must stop. Its SQL is meant to run
// on CockroachDB and YugabyteDB too; it is tested on PostgreSQL 15.
//
// # Concurrency
//
// A Store is safe for concurrent use. A Batch belongs to one goroutine
// until it is committed and must not be touched afterwards. Close commits
// what is queued, then closes the database; it never waits for a caller.
package store
