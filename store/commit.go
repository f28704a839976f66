package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Result tells what a committed batch was given.
type Result struct {
	// Seqs are the seqs of the batch's log entries, in AppendLog order.
	// They are consecutive: a batch's entries are never interleaved with
	// another batch's.
	Seqs []uint64
}

// request is one submitted batch and how to report its outcome.
type request struct {
	b    *Batch
	ctx  context.Context     // Commit only: skipped if done before it is written
	done chan outcome        // Commit: buffered, never blocks the committer
	fn   func(Result, error) // CommitAsync

	res Result
	err error
	// dupInGroup: err is a DuplicateError against a batch of this group,
	// which only holds if the group becomes durable.
	dupInGroup bool
	// offerUses: the count of each reusable offer's payments once this
	// batch is written (set by admit).
	offerUses map[[idLen]byte]uint64
}

type outcome struct {
	res Result
	err error
}

// Commit hands b to the committer and waits until it is durable: written
// and, with Config.SyncWrites, fsynced. Batches from all callers are written
// in groups, one engine transaction (and fsync or COMMIT) per group, in the order
// they were submitted; log seqs follow that order.
//
// Commit returns the seqs of b's log entries, or an error: b's own (ErrInvalid,
// ErrDuplicateKey, ErrStaleProof, ErrBatchTooLarge), ErrClosed, ErrFailed,
// or ctx's error. If ctx ends before b is written, b is dropped; if it ends
// while b is being written, Commit returns ctx's error and b may still become
// durable (use idempotency keys to retry safely).
func (s *Store) Commit(ctx context.Context, b *Batch) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("store: commit: %w", err)
	}
	r := &request{b: b, ctx: ctx, done: make(chan outcome, 1)}
	if err := s.submit(r); err != nil {
		return Result{}, err
	}
	select {
	case o := <-r.done:
		return o.res, o.err
	case <-ctx.Done():
		return Result{}, fmt.Errorf("store: commit: %w", ctx.Err())
	}
}

// CommitAsync hands b to the committer and returns at once. If it returns
// an error (b is invalid or reused, the store is closed or failed), done is
// never called. Otherwise done is called exactly once, from the committer
// goroutine, after b is durable or has failed, with what Commit would have
// returned; callbacks run in commit order, so seqs reach them ascending.
//
// done runs on the committer goroutine: it must return quickly and must not
// block, commit and wait, or call Close, or every commit stalls. Hand work
// off to a channel or goroutine. done may be nil.
func (s *Store) CommitAsync(b *Batch, done func(Result, error)) error {
	return s.submit(&request{b: b, fn: done})
}

func (s *Store) submit(r *request) error {
	if r.b == nil {
		return fmt.Errorf("store: commit: %w: nil batch", ErrInvalid)
	}
	if err := r.b.seal(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	s.mu.Lock()
	switch {
	case s.closing:
		s.mu.Unlock()
		return ErrClosed
	case s.failed != nil:
		s.mu.Unlock()
		return s.failed
	}
	s.queue = append(s.queue, r)
	s.mu.Unlock()
	s.signal()
	return nil
}

func (s *Store) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run is the committer goroutine: it takes up to MaxBatch queued batches at
// a time and commits them as one group until the store closes and the
// queue is empty.
func (s *Store) run() {
	defer close(s.stopped)
	var group, next []*request
	for {
		if len(next) > 0 {
			group, next = next, group[:0] // taken while the last group committed
		} else {
			s.mu.Lock()
			for len(s.queue) == 0 && !s.closing {
				s.mu.Unlock()
				<-s.wake
				s.mu.Lock()
			}
			if len(s.queue) == 0 {
				s.mu.Unlock()
				return
			}
			group = s.takeLocked(group[:0])
			s.mu.Unlock()
		}
		s.mu.Lock()
		failed := s.failed
		s.mu.Unlock()

		if failed != nil {
			for _, r := range group {
				r.err = failed
			}
		} else {
			start := time.Now()
			next = s.commitGroup(group, next[:0])
			if o := s.cfg.Observer; o != nil {
				durable := 0
				for _, r := range group {
					if r.err == nil {
						durable++
					}
				}
				o.GroupCommitted(time.Since(start), durable)
			}
		}
		s.deliver(group)
		clear(group)
	}
}

// takeLocked appends up to MaxBatch queued batches to group and removes
// them from the queue. s.mu must be held.
func (s *Store) takeLocked(group []*request) []*request {
	n := min(len(s.queue), s.cfg.MaxBatch)
	group = append(group, s.queue[:n]...)
	if n == len(s.queue) {
		clear(s.queue)
		s.queue, s.spare = s.spare[:0], s.queue[:0]
	} else {
		rest := copy(s.queue, s.queue[n:])
		clear(s.queue[rest:])
		s.queue = s.queue[:rest]
	}
	return group
}

// groupState tracks what earlier batches of the group claimed.
type groupState struct {
	idem   map[string]uint64
	payIDs map[[idLen]byte]uint64
	offers map[[idLen]byte]uint64
	// offerPaid: per-payer offers paid by a payer (offerPaidKey), and
	// offerUses: the count of a reusable offer's payments, after the
	// batches of the group so far.
	offerPaid map[string]uint64
	offerUses map[[idLen]byte]uint64
	proofs    map[string]groupProof
}

type groupProof struct {
	nonce uint64
	v     []byte
}

// commitGroup writes the group's batches in order, in as few engine
// transactions as the engine allows (normally one), and records each
// batch's outcome in its request.
//
// With an engine that reads ahead (PostgreSQL), it also takes the next
// group from the queue just before the last commit, and has the engine
// read that group's keys while the commit runs: appended to next and
// returned, for run to commit next. A group then costs one round trip to
// the database in a row, not two (read, then write).
func (s *Store) commitGroup(group, next []*request) []*request {
	s.stats.groups.Add(1)
	s.mergeProofSeed()
	g := groupState{
		idem:      make(map[string]uint64),
		payIDs:    make(map[[idLen]byte]uint64),
		offers:    make(map[[idLen]byte]uint64),
		offerPaid: make(map[string]uint64),
		offerUses: make(map[[idLen]byte]uint64),
		proofs:    make(map[string]groupProof),
	}
	w := &groupWriter{s: s}
	failAll := func(err error) {
		for _, r := range group {
			r.res, r.err = Result{}, err
		}
	}
	if err := w.start(); err != nil {
		failAll(s.fail(err))
		return next
	}
	defer func() { w.txn.discard() }()
	if p, ok := w.txn.(prefetcher); ok {
		if err := p.prefetch(s.admitKeys(group)); err != nil {
			// Nothing is written: the batches fail, the store goes on.
			failAll(fmt.Errorf("store: commit: read: %w", err))
			return next
		}
	}
	for i, r := range group {
		if r.ctx != nil && r.ctx.Err() != nil {
			r.err = fmt.Errorf("store: commit: %w", r.ctx.Err())
			continue
		}
		if err := s.admit(w.txn, &g, r); err != nil {
			r.err = err
			continue
		}
		r.res.Seqs = seqs(s.nextSeq, len(r.b.logs))
		batchErr, fatal := w.add(r)
		if fatal != nil {
			for _, f := range append(w.chunk, group[i:]...) {
				f.res, f.err = Result{}, fatal
			}
			return next
		}
		if batchErr != nil {
			r.res, r.err = Result{}, batchErr
			continue
		}
		g.claim(r)
	}
	if ra, ok := s.eng.(readAheadEngine); ok && len(w.chunk) > 0 {
		s.mu.Lock()
		next = s.takeLocked(next)
		s.mu.Unlock()
		if len(next) > 0 {
			ra.readAhead(s.admitKeys(next))
		}
	}
	if err := w.flush(); err != nil {
		for _, f := range w.chunk {
			f.res, f.err = Result{}, err
		}
	}
	return next
}

// admitKeys returns the keys that admit may read for the group's
// batches, for the engine to fetch at once.
func (s *Store) admitKeys(group []*request) [][]byte {
	var keys [][]byte
	for _, r := range group {
		for _, l := range r.b.logs {
			if !l.isPayment {
				continue
			}
			if l.idemKey != "" {
				keys = append(keys, idemKey(l.idemKey))
			}
			if !l.newID {
				keys = append(keys, paymentIDKey(l.paymentID))
			}
			if o := l.offer; o != nil {
				switch o.uses {
				case offerOnce:
					keys = append(keys, offerKey(o.id))
				case offerPerPayer:
					keys = append(keys, offerPaidKey(o.id, o.payer), offerUsesKey(o.id))
				default:
					keys = append(keys, offerUsesKey(o.id))
				}
			}
		}
		for _, p := range r.b.proofs {
			k := r.b.writes[p.w].k
			if n, ok := s.proofNonces[proofKeyArr(k)]; (!ok && !s.proofsComplete) || (ok && p.nonce <= n) {
				keys = append(keys, k)
			}
		}
	}
	return keys
}

// groupWriter fills engine transactions with whole batches.
type groupWriter struct {
	s     *Store
	txn   writeTxn
	chunk []*request // batches written into txn, not yet committed
}

// start begins a new transaction.
func (w *groupWriter) start() error {
	txn, err := w.s.eng.begin()
	if err != nil {
		return err
	}
	w.txn = txn
	return nil
}

// add writes r into the transaction. If r does not fit, the batches before
// it are committed first and r gets a transaction of its own. batchErr
// fails r alone; fatal fails the store (see fail).
func (w *groupWriter) add(r *request) (batchErr, fatal error) {
	err := w.s.write(w.txn, r)
	if err == nil {
		w.chunk = append(w.chunk, r)
		return nil, nil
	}
	// r is partly in txn: start over without it.
	if err := w.rebuild(); err != nil {
		return nil, err
	}
	switch {
	case !errors.Is(err, errTxnTooBig):
		return fmt.Errorf("store: commit: %w", err), nil
	case len(w.chunk) == 0:
		return fmt.Errorf("%w: %d records do not fit in one transaction", ErrBatchTooLarge, r.b.Len()), nil
	}
	if err := w.flush(); err != nil {
		return nil, err
	}
	return w.add(r) // once more, into an empty transaction
}

// rebuild replaces the transaction with a fresh one holding the chunk.
func (w *groupWriter) rebuild() error {
	w.txn.discard()
	if err := w.start(); err != nil {
		return w.s.fail(err)
	}
	for _, c := range w.chunk {
		if err := w.s.write(w.txn, c); err != nil {
			return w.s.fail(fmt.Errorf("rewrite batch: %w", err))
		}
	}
	return nil
}

// flush commits the chunk (one fsync with SyncWrites) and starts a new
// transaction. On failure the chunk's batches get the returned error and
// the store refuses further commits.
func (w *groupWriter) flush() error {
	if len(w.chunk) == 0 {
		return nil
	}
	var err error
	if hook := w.s.cfg.testHookCommit; hook != nil {
		err = hook()
	}
	if err == nil {
		err = w.txn.commit()
	}
	w.s.stats.txns.Add(1)
	if err != nil {
		return w.s.fail(err)
	}
	w.s.lastSeq.Store(w.s.nextSeq - 1)
	w.s.stats.batches.Add(uint64(len(w.chunk)))
	w.s.committed(w.chunk)
	w.chunk = w.chunk[:0]
	w.txn.discard()
	if err := w.start(); err != nil {
		return w.s.fail(err)
	}
	return nil
}

// committed notes the proofs of durable batches in proofNonces.
func (s *Store) committed(chunk []*request) {
	if s.proofNonces == nil {
		s.proofNonces = make(map[proofKeyArr]uint64)
	}
	for _, r := range chunk {
		for _, w := range r.b.writes {
			if w.isProofDelete() {
				delete(s.proofNonces, proofKeyArr(w.k))
			}
		}
		for _, p := range r.b.proofs {
			s.proofNonces[proofKeyArr(r.b.writes[p.w].k)] = p.nonce
		}
	}
}

func seqs(first uint64, n int) []uint64 {
	if n == 0 {
		return nil
	}
	out := make([]uint64, n)
	for i := range out {
		out[i] = first + uint64(i)
	}
	return out
}

// fail puts the store in the failed state and returns the error every
// affected batch gets.
func (s *Store) fail(cause error) error {
	err := fmt.Errorf("%w: %w", ErrFailed, cause)
	s.log.Error("store write failed; refusing further commits", "err", cause)
	s.setFailed(err)
	return err
}

// setFailed puts the store in the failed state with err, unless it is in
// it already.
func (s *Store) setFailed(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed == nil {
		s.failed = err
		close(s.failCh)
	}
}

// admit checks r's batch against the database and the group: payment ids
// and idempotency keys must be new, proofs must follow the stored ones.
func (s *Store) admit(txn writeTxn, g *groupState, r *request) error {
	for _, l := range r.b.logs {
		if !l.isPayment {
			continue
		}
		if l.idemKey != "" {
			if seq, ok := g.idem[l.idemKey]; ok {
				r.dupInGroup = true
				return &DuplicateError{Field: "idempotency_key", Key: l.idemKey, Seq: seq}
			}
			if seq, err := indexed(txn, idemKey(l.idemKey)); err != nil || seq != 0 {
				if err != nil {
					return err
				}
				return &DuplicateError{Field: "idempotency_key", Key: l.idemKey, Seq: seq}
			}
		}
		if seq, ok := g.payIDs[l.paymentID]; ok {
			r.dupInGroup = true
			return &DuplicateError{Field: "id", Key: hexID(l.paymentID[:]), Seq: seq}
		}
		if l.newID {
			// made new by the caller (AppendNewPayment): no read
		} else if seq, err := indexed(txn, paymentIDKey(l.paymentID)); err != nil || seq != 0 {
			if err != nil {
				return err
			}
			return &DuplicateError{Field: "id", Key: hexID(l.paymentID[:]), Seq: seq}
		}
		if l.offer != nil {
			if err := s.admitOffer(txn, g, r, l.offer); err != nil {
				return err
			}
		}
	}
	for _, p := range r.b.proofs {
		w := r.b.writes[p.w]
		if prev, ok := g.proofs[string(w.k)]; ok {
			if err := proofFollows(w.k, prev.nonce, prev.v, p.nonce, w.v); err != nil {
				return err
			}
			continue
		}
		n, ok := s.proofNonces[proofKeyArr(w.k)]
		switch {
		case ok && p.nonce > n:
			continue // follows the committed one, known without a read
		case !ok && s.proofsComplete:
			continue // the first of its channel and side: none on disk
		}
		v, err := txn.get(w.k)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		old, err := decodeProof(w.k, v)
		if err != nil {
			return err
		}
		if err := proofFollows(w.k, old.GetNonce(), v, p.nonce, w.v); err != nil {
			return err
		}
	}
	return nil
}

// admitOffer checks an accepted incoming payment of an offer against the
// offer's use policy, the database and the group, and counts it in
// r.offerUses.
func (s *Store) admitOffer(txn writeTxn, g *groupState, r *request, o *offerPay) error {
	switch o.uses {
	case offerOnce:
		if seq, ok := g.offers[o.id]; ok {
			r.dupInGroup = true
			return &DuplicateError{Field: "offer_id", Key: hexID(o.id[:]), Seq: seq}
		}
		if seq, err := indexed(txn, offerKey(o.id)); err != nil || seq != 0 {
			if err != nil {
				return err
			}
			return &DuplicateError{Field: "offer_id", Key: hexID(o.id[:]), Seq: seq}
		}
		return nil
	case offerPerPayer:
		k := offerPaidKey(o.id, o.payer)
		dup := &DuplicateError{Field: "offer_id+peer", Key: hexID(o.id[:]) + "/" + hexID(o.payer[:])}
		if seq, ok := g.offerPaid[string(k)]; ok {
			r.dupInGroup, dup.Seq = true, seq
			return dup
		}
		if seq, err := indexed(txn, k); err != nil || seq != 0 {
			if err != nil {
				return err
			}
			dup.Seq = seq
			return dup
		}
	}
	n, ok := r.offerUses[o.id] // an earlier payment of this batch
	if !ok {
		var err error
		if n, ok = g.offerUses[o.id]; !ok {
			if n, err = offerCount(txn, o.id); err != nil {
				return err
			}
		}
	}
	if o.uses == offerLimited && n >= uint64(o.max) {
		r.dupInGroup = r.dupInGroup || g.offerUses[o.id] > 0
		return fmt.Errorf("%w: offer %s has %d payments, at most %d", ErrOfferUsedUp, hexID(o.id[:]), n, o.max)
	}
	if r.offerUses == nil {
		r.offerUses = make(map[[idLen]byte]uint64)
	}
	r.offerUses[o.id] = n + 1
	return nil
}

// offerCount returns the stored count of a reusable offer's payments.
func offerCount(r reader, id [idLen]byte) (uint64, error) {
	k := offerUsesKey(id)
	v, err := r.get(k)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return decodeCount(k, v)
}

// indexed returns the seq an index key points to, 0 if absent.
func indexed(r reader, k []byte) (uint64, error) {
	v, err := r.get(k)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return decodeSeqValue(k, v)
}

// claim records r's keys for the batches after it in the group.
func (g *groupState) claim(r *request) {
	for i, l := range r.b.logs {
		if !l.isPayment {
			continue
		}
		g.payIDs[l.paymentID] = r.res.Seqs[i]
		if l.idemKey != "" {
			g.idem[l.idemKey] = r.res.Seqs[i]
		}
		if o := l.offer; o != nil {
			switch o.uses {
			case offerOnce:
				g.offers[o.id] = r.res.Seqs[i]
			case offerPerPayer:
				g.offerPaid[string(offerPaidKey(o.id, o.payer))] = r.res.Seqs[i]
			}
		}
	}
	for id, n := range r.offerUses {
		g.offerUses[id] = n
	}
	for _, w := range r.b.writes {
		if w.isProofDelete() {
			delete(g.proofs, string(w.k)) // a later proof follows what is on disk, read in the transaction
		}
	}
	for _, p := range r.b.proofs {
		w := r.b.writes[p.w]
		g.proofs[string(w.k)] = groupProof{nonce: p.nonce, v: w.v}
	}
}

// write sets r's records in txn, its log entries at r.res.Seqs, and
// advances nextSeq past them.
func (s *Store) write(txn writeTxn, r *request) error {
	for _, w := range r.b.writes {
		var err error
		if w.del {
			err = txn.delete(w.k)
		} else {
			err = txn.set(w.k, w.v)
		}
		if err != nil {
			return err
		}
	}
	runs := chanRuns{set: txn.set}
	for i, l := range r.b.logs {
		seq := r.res.Seqs[i]
		if err := txn.set(logKey(seq), withSeq(l.val, seq)); err != nil {
			return err
		}
		if !l.isPayment {
			continue
		}
		if err := txn.set(paymentIDKey(l.paymentID), seqValue(seq)); err != nil {
			return err
		}
		if l.byChan {
			if err := runs.add(l.byChannel, seq); err != nil {
				return err
			}
		}
		if l.idemKey != "" {
			if err := txn.set(idemKey(l.idemKey), seqValue(seq)); err != nil {
				return err
			}
		}
		if o := l.offer; o != nil {
			var err error
			switch o.uses {
			case offerOnce:
				err = txn.set(offerKey(o.id), seqValue(seq))
			case offerPerPayer:
				err = txn.set(offerPaidKey(o.id, o.payer), seqValue(seq))
			}
			if err != nil {
				return err
			}
		}
	}
	if err := runs.flush(); err != nil {
		return err
	}
	for id, n := range r.offerUses {
		if err := txn.set(offerUsesKey(id), seqValue(n)); err != nil {
			return err
		}
	}
	if n := len(r.res.Seqs); n > 0 {
		s.nextSeq = r.res.Seqs[n-1] + 1
	}
	return nil
}

// deliver reports every request's outcome, in group order.
func (s *Store) deliver(group []*request) {
	s.mu.Lock()
	failed := s.failed
	s.mu.Unlock()
	for _, r := range group {
		if r.err != nil {
			s.stats.rejected.Add(1)
			if r.dupInGroup && failed != nil {
				r.err = failed
			}
		}
		if r.done != nil {
			r.done <- outcome{r.res, r.err}
		} else if r.fn != nil {
			r.fn(r.res, r.err)
		}
	}
}
