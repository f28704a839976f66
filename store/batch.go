package store

import (
	"fmt"

	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
)

// Batch collects writes that commit together, all or nothing. Each Put
// validates and encodes its record at once, so the caller may reuse or
// change the message afterwards. A Put that fails returns an error wrapping
// ErrInvalid (or ErrDuplicateKey for a payment key repeated within the
// batch) and poisons the batch: Commit then returns that error and writes
// nothing.
//
// Several puts of the same channel, proof or cursor in one batch keep the
// last. A Batch is not safe for concurrent use and can be committed once.
type Batch struct {
	writes []kv           // channels, proofs and cursors, one per key
	pos    map[string]int // key -> index in writes
	proofs []proofPut     // one per proof key, in order of first put
	logs   []logPut
	idem   map[string]struct{}
	payIDs map[[idLen]byte]struct{}
	err    error
	sealed bool
}

type kv struct {
	k, v []byte
	del  bool // delete k instead
}

// isProofDelete reports whether w deletes a proof (DeleteChannel).
func (w kv) isProofDelete() bool {
	return w.del && len(w.k) == len(proofKeyArr{}) && w.k[0] == prefixProof
}

type proofPut struct {
	w     int // index in writes
	nonce uint64
}

type logPut struct {
	val       []byte // encoding with seq 0
	idemKey   string
	paymentID [idLen]byte
	isPayment bool
	newID     bool      // AppendNewPayment: the id is not looked up on disk
	offer     *offerPay // an accepted incoming payment of an offer
	byChannel chanPay   // where it goes in the index by channel (0x0f), if byChan
	byChan    bool      // a payment of a channel's proof
}

// offerPay is an accepted incoming payment of an offer, which the store
// counts against the offer's use policy.
type offerPay struct {
	id    [idLen]byte
	uses  uint32 // the policy (offerOnce, ...)
	max   uint32 // offerLimited: the most payments
	payer [addrLen]byte
}

// counted reports whether the store keeps a count of the offer's payments
// (every offer but a once-only one, whose index says it all).
func (o *offerPay) counted() bool { return o.uses != offerOnce }

// NewBatch returns an empty batch.
func NewBatch() *Batch { return new(Batch) }

// Len returns the number of records in the batch (after merging repeated
// keys), log entries included.
func (b *Batch) Len() int { return len(b.writes) + len(b.logs) }

// Logs returns how many log entries b appends so far: the index in
// Result.Seqs of the next one appended.
func (b *Batch) Logs() int { return len(b.logs) }

// Err returns the error that poisoned the batch, if any.
func (b *Batch) Err() error { return b.err }

func (b *Batch) fail(err error) error {
	if b.err == nil {
		b.err = err
	}
	return err
}

func (b *Batch) check() error {
	if b.sealed {
		return ErrBatchReused
	}
	return nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// put records a key/value write, replacing an earlier one for the key.
func (b *Batch) put(k, v []byte) int {
	if i, ok := b.pos[string(k)]; ok {
		b.writes[i].v, b.writes[i].del = v, false
		return i
	}
	if b.pos == nil {
		b.pos = make(map[string]int)
	}
	b.pos[string(k)] = len(b.writes)
	b.writes = append(b.writes, kv{k: k, v: v})
	return len(b.writes) - 1
}

// PutChannel stores c under its id, replacing the stored record. c.Version
// must be ChannelVersion.
func (b *Batch) PutChannel(c *storev1.Channel) error {
	if err := b.check(); err != nil {
		return err
	}
	if err := checkChannel(c); err != nil {
		return b.fail(invalid("put channel: %v", err))
	}
	v, err := encode(c, "channel")
	if err != nil {
		return b.fail(invalid("put channel %s: %v", hexID(c.GetId()), err))
	}
	b.put(channelKey([idLen]byte(c.GetId())), v)
	return nil
}

// DeleteChannel removes the record of channel id and its proofs, for a
// channel that never held anything (a proposal given up before it opened).
// Its log entries stay. It fails if the batch already writes the channel's
// proofs; a later PutChannel in the batch stores the record again.
func (b *Batch) DeleteChannel(id [idLen]byte) error {
	if err := b.check(); err != nil {
		return err
	}
	for side := range uint32(2) {
		if _, ok := b.pos[string(proofKey(id, side))]; ok {
			return b.fail(invalid("delete channel %s: the batch writes its proofs", hexID(id[:])))
		}
	}
	for _, k := range [][]byte{channelKey(id), proofKey(id, 0), proofKey(id, 1)} {
		b.writes[b.put(k, nil)].del = true
	}
	return nil
}

// PutProof stores p as the newest proof signed by side signerSide (0 for
// A, 1 for B) of channel p.ChannelId. At commit the nonce must exceed the
// stored one for that channel and signer, or equal it with identical
// contents (a harmless rewrite); otherwise the batch fails with
// ErrStaleProof. Within one batch a later put must likewise follow an
// earlier one.
func (b *Batch) PutProof(signerSide uint32, p *storev1.Proof) error {
	if err := b.check(); err != nil {
		return err
	}
	if err := checkSide("signer side", signerSide); err != nil {
		return b.fail(invalid("put proof: %v", err))
	}
	if err := checkProof(p); err != nil {
		return b.fail(invalid("put proof: %v", err))
	}
	v, err := encode(p, "proof")
	if err != nil {
		return b.fail(invalid("put proof %s: %v", hexID(p.GetChannelId()), err))
	}
	k := proofKey([idLen]byte(p.GetChannelId()), signerSide)
	if i, ok := b.pos[string(k)]; ok {
		if b.writes[i].del {
			return b.fail(invalid("put proof %s: the channel is deleted in this batch", hexID(p.GetChannelId())))
		}
		for j := range b.proofs {
			if pp := &b.proofs[j]; pp.w == i {
				if err := proofFollows(k, pp.nonce, b.writes[i].v, p.GetNonce(), v); err != nil {
					return b.fail(err)
				}
				pp.nonce = p.GetNonce()
			}
		}
		b.writes[i].v = v
		return nil
	}
	b.proofs = append(b.proofs, proofPut{w: b.put(k, v), nonce: p.GetNonce()})
	return nil
}

// proofFollows checks that a proof (nonce, v) may replace (oldNonce, oldV).
func proofFollows(k []byte, oldNonce uint64, oldV []byte, nonce uint64, v []byte) error {
	if nonce > oldNonce || (nonce == oldNonce && string(v) == string(oldV)) {
		return nil
	}
	return fmt.Errorf("%w: channel %s side %d: nonce %d does not follow nonce %d",
		ErrStaleProof, hexID(k[1:1+idLen]), k[1+idLen], nonce, oldNonce)
}

// AppendLog appends e to the log. Its seq must be 0: the store assigns
// seqs at commit, consecutive within the batch, in Result.Seqs in the order
// of the AppendLog calls. A payment's id must be new, and so must its
// idempotency key if it is not empty; otherwise the batch fails with a
// *DuplicateError (ErrDuplicateKey). The index over idempotency keys is
// shared by both directions: leave the key empty on entries that must not
// take part in it.
//
// An accepted incoming payment of an offer (offer_id set, refused empty)
// is held to the offer's use policy (offer_uses): a second payment of a
// once-only offer, or a second one by the same payer (peer) of a per-payer
// offer, is a *DuplicateError; a payment of a limited offer beyond
// offer_max_uses is ErrOfferUsedUp. Every offer but a once-only one has its
// payments counted (OfferUses), in the same write.
func (b *Batch) AppendLog(e *storev1.LogEntry) error {
	if err := b.check(); err != nil {
		return err
	}
	if err := checkLogEntry(e); err != nil {
		return b.fail(invalid("append log: %v", err))
	}
	if e.GetSeq() != 0 {
		return b.fail(invalid("append log: seq is %d, want 0 (the store assigns it)", e.GetSeq()))
	}
	v, err := encode(e, "log entry")
	if err != nil {
		return b.fail(invalid("append log: %v", err))
	}
	lp := logPut{val: v}
	if p := e.GetPayment(); p != nil {
		lp.isPayment = true
		lp.paymentID = [idLen]byte(p.GetId())
		lp.idemKey = p.GetIdempotencyKey()
		if lp.idemKey != "" {
			if _, dup := b.idem[lp.idemKey]; dup {
				return b.fail(&DuplicateError{Field: "idempotency_key", Key: lp.idemKey})
			}
			if b.idem == nil {
				b.idem = make(map[string]struct{})
			}
			b.idem[lp.idemKey] = struct{}{}
		}
		if _, dup := b.payIDs[lp.paymentID]; dup {
			return b.fail(&DuplicateError{Field: "id", Key: hexID(p.GetId())})
		}
		if p.GetDirection() == storev1.Direction_DIRECTION_INCOMING && len(p.GetOfferId()) == idLen && p.GetRefused() == "" {
			o := &offerPay{id: [idLen]byte(p.GetOfferId()), uses: p.GetOfferUses(), max: p.GetOfferMaxUses()}
			copy(o.payer[:], p.GetPeer())
			for _, other := range b.logs {
				if other.offer == nil || other.offer.id != o.id {
					continue
				}
				if other.offer.uses != o.uses || other.offer.max != o.max {
					return b.fail(invalid("append log: two payments of offer %s with different use policies", hexID(o.id[:])))
				}
				switch o.uses {
				case offerOnce:
					return b.fail(&DuplicateError{Field: "offer_id", Key: hexID(o.id[:])})
				case offerPerPayer:
					if other.offer.payer == o.payer {
						return b.fail(&DuplicateError{Field: "offer_id+peer", Key: hexID(o.id[:]) + "/" + hexID(o.payer[:])})
					}
				}
			}
			lp.offer = o
		}
		if b.payIDs == nil {
			b.payIDs = make(map[[idLen]byte]struct{})
		}
		b.payIDs[lp.paymentID] = struct{}{}
		if indexedByChannel(p) {
			lp.byChannel, lp.byChan = chanPayOf(p), true
		}
		if awaitsReceipt(p) {
			b.put(awaitedKey([idLen]byte(p.GetChannelId()), p.GetNonce(), lp.paymentID), []byte{})
		}
	}
	b.logs = append(b.logs, lp)
	return nil
}

// awaitsReceipt: p is an outgoing payment of a proof that asked the payee
// for a receipt. Its entry in the awaited index (0x0e) is written with it,
// and removed by ReceiptSettled.
func awaitsReceipt(p *storev1.Payment) bool {
	return p.GetDirection() == storev1.Direction_DIRECTION_OUTGOING && p.GetWantReceipt() && p.GetNonce() > 0 &&
		len(p.GetChannelId()) == idLen && len(p.GetRefundOf()) == 0
}

// ReceiptSettled removes outgoing payment id of proof nonce of channel ch
// from the receipts awaited: its receipt is written (in this batch or
// before), or will not come (the payee acknowledged the proof without
// it). A payment not awaited is no error.
func (b *Batch) ReceiptSettled(ch [idLen]byte, nonce uint64, id [idLen]byte) error {
	if err := b.check(); err != nil {
		return err
	}
	b.writes[b.put(awaitedKey(ch, nonce, id), nil)].del = true
	return nil
}

// AppendNewPayment is AppendLog for a payment whose id the caller made
// new and nobody else could know before: drawn at random (32 bytes), or
// hashed from a secret of its own and something never hashed before (a
// nonce that only grows). The store still refuses the id twice in a batch
// or a commit group, but reads no index to check it on disk: one read
// fewer a payment. An id that is on disk after all would overwrite its
// index entry, so that the earlier payment is no longer found by id
// (Verify reports it): never pass an id that a peer could compute, or
// chose. The idempotency key is checked as by AppendLog.
func (b *Batch) AppendNewPayment(e *storev1.LogEntry) error {
	if e.GetPayment() == nil {
		if err := b.check(); err != nil {
			return err
		}
		return b.fail(invalid("append new payment: the entry is not a payment"))
	}
	if err := b.AppendLog(e); err != nil {
		return err
	}
	b.logs[len(b.logs)-1].newID = true
	return nil
}

// PutReceipt stores a payee's receipt for a payment, under the payment id.
func (b *Batch) PutReceipt(r *storev1.Receipt) error {
	if err := b.check(); err != nil {
		return err
	}
	if err := checkReceipt(r); err != nil {
		return b.fail(invalid("put receipt: %v", err))
	}
	v, err := encode(r, "receipt")
	if err != nil {
		return b.fail(invalid("put receipt: %v", err))
	}
	b.put(receiptKey([idLen]byte(r.GetPaymentId())), v)
	return nil
}

// PutStream stores a stream under its id, replacing the stored record.
func (b *Batch) PutStream(st *storev1.Stream) error {
	if err := b.check(); err != nil {
		return err
	}
	if err := checkStream(st); err != nil {
		return b.fail(invalid("put stream: %v", err))
	}
	v, err := encode(st, "stream")
	if err != nil {
		return b.fail(invalid("put stream: %v", err))
	}
	b.put(streamKey([shortIDLen]byte(st.GetId())), v)
	return nil
}

// PutToken stores an app token under its id, replacing the stored record.
func (b *Batch) PutToken(t *storev1.AppToken) error {
	if err := b.check(); err != nil {
		return err
	}
	if err := checkToken(t); err != nil {
		return b.fail(invalid("put token: %v", err))
	}
	v, err := encode(t, "token")
	if err != nil {
		return b.fail(invalid("put token: %v", err))
	}
	b.put(tokenKey([shortIDLen]byte(t.GetId())), v)
	return nil
}

// PutTransfer stores a transfer under its key, replacing the stored
// record.
func (b *Batch) PutTransfer(t *storev1.Transfer) error {
	if err := b.check(); err != nil {
		return err
	}
	if err := checkTransfer(t); err != nil {
		return b.fail(invalid("put transfer: %v", err))
	}
	v, err := encode(t, "transfer")
	if err != nil {
		return b.fail(invalid("put transfer: %v", err))
	}
	b.put(transferKey(t.GetKey()), v)
	return nil
}

// PutCursor stores value under the cursor name, replacing the stored one.
func (b *Batch) PutCursor(name string, value []byte) error {
	if err := b.check(); err != nil {
		return err
	}
	if err := checkCursorName(name); err != nil {
		return b.fail(invalid("put cursor: %v", err))
	}
	v, err := encode(&storev1.Cursor{Value: value}, "cursor "+name)
	if err != nil {
		return b.fail(invalid("put cursor: %v", err))
	}
	b.put(cursorKey(name), v)
	return nil
}

// seal marks the batch as handed to the committer; from then on it belongs
// to the committer goroutine.
func (b *Batch) seal() error {
	if b.sealed {
		return ErrBatchReused
	}
	if b.err != nil {
		return b.err
	}
	b.sealed = true
	return nil
}
