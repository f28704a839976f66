package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
)

// acceptedOffer reports whether p is an accepted incoming payment of an
// offer, which the offer indexes and counts hold.
func acceptedOffer(p *storev1.Payment) bool {
	return p.GetDirection() == storev1.Direction_DIRECTION_INCOMING && len(p.GetOfferId()) == idLen && p.GetRefused() == ""
}

// Verify reads every record and checks the store as a whole: every key has
// a known prefix and shape, every record decodes and passes the checks of a
// write, the log's seqs run from 1 to LastSeq without a gap, and both
// payment indexes agree with the log, and so do the offer indexes and
// counts. It returns the first problem found
// (ErrCorrupt naming the key). It reads one consistent snapshot and may
// take a while on a large store; commits go on meanwhile.
func (s *Store) Verify() error {
	// Load first: the snapshot below is taken later, so it holds at least
	// everything up to last.
	last := s.lastSeq.Load()
	err := s.view(func(r reader) error {
		var (
			meta            bool
			wantSeq         uint64 = 1
			idemN, payIDN   int    // payments with an idempotency key / with an id
			idemIdx, payIdx int    // index entries seen
			chanN, chanIdx  int    // payments of a channel's proof; those the index by channel counts
			prevRun         chanPay
			prevEnd         uint64 // the seq after the last run of prevRun
			// Accepted incoming payments of offers, from the log: of
			// once-only offers, of per-payer ones, and the count of each
			// reusable offer's; and the index entries seen for them.
			onceN, perPayerN     int
			counts               = map[[idLen]byte]uint64{}
			onceIdx, paidIdx, cN int
		)
		err := r.scan(nil, nil, false, 0, func(k, v []byte) error {
			rec, err := decodeRecord(k, v)
			if err != nil {
				return err
			}
			switch k[0] {
			case prefixMeta:
				meta = true
			case prefixLog:
				e := rec.(*storev1.LogEntry)
				if e.GetSeq() != wantSeq {
					return corrupt(k, "log has a gap: seq %d follows %d", e.GetSeq(), wantSeq-1)
				}
				wantSeq++
				if p := e.GetPayment(); p != nil {
					payIDN++
					if indexedByChannel(p) {
						chanN++
					}
					if p.GetIdempotencyKey() != "" {
						idemN++
					}
					if acceptedOffer(p) {
						switch p.GetOfferUses() {
						case offerOnce:
							onceN++
						case offerPerPayer:
							perPayerN++
						}
						if p.GetOfferUses() != offerOnce {
							counts[[idLen]byte(p.GetOfferId())]++
						}
					}
				}
			case prefixOffer, prefixOfferPaid:
				seq := rec.(uint64)
				e, err := logEntry(r, seq)
				if err != nil {
					return corrupt(k, "offer index points to log entry %d: %v", seq, err)
				}
				p := e.GetPayment()
				if p == nil || !acceptedOffer(p) || string(p.GetOfferId()) != string(k[1:1+idLen]) {
					return corrupt(k, "offer index points to log entry %d, which did not pay that offer", seq)
				}
				if k[0] == prefixOffer {
					onceIdx++
					if p.GetOfferUses() != offerOnce {
						return corrupt(k, "once-only offer index points to log entry %d, a payment of an offer with policy %d", seq, p.GetOfferUses())
					}
				} else {
					paidIdx++
					if p.GetOfferUses() != offerPerPayer || string(p.GetPeer()) != string(k[1+idLen:]) {
						return corrupt(k, "per-payer offer index points to log entry %d, which is not that payer's payment of a per-payer offer", seq)
					}
				}
			case prefixAwaited:
				p, err := awaitedPayment(r, k, [idLen]byte(k[1+idLen+seqLen:]))
				if err != nil {
					return err
				}
				if p != nil && (!awaitsReceipt(p) || string(p.GetChannelId()) != string(k[1:1+idLen]) || p.GetNonce() != binary.BigEndian.Uint64(k[1+idLen:])) {
					return corrupt(k, "a receipt awaited for payment %x, which is not an outgoing payment of that proof that asked for one", k[1+idLen+seqLen:])
				}
			case prefixChanPay:
				c, first, n, err := parseChanPay(k, v)
				if err != nil {
					return err
				}
				// Runs of one proof come in seq order: each starts after
				// the one before ends, so no payment is counted twice
				// (and with the total, each is counted once).
				if c == prevRun && first < prevEnd {
					return corrupt(k, "index entry overlaps the one before it (up to log entry %d)", prevEnd-1)
				}
				prevRun, prevEnd = c, first+uint64(n)
				chanIdx += int(n)
				if err := checkRun(r, c, first, n, int(n), func(*storev1.Payment) {}); err != nil {
					return err
				}
			case prefixOfferUses:
				cN++
				if n, want := rec.(uint64), counts[[idLen]byte(k[1:])]; n != want {
					return corrupt(k, "offer count is %d, the log holds %d accepted payments of it", n, want)
				}
			case prefixIdemKey, prefixPaymentID:
				seq := rec.(uint64)
				e, err := logEntry(r, seq)
				if errors.Is(err, ErrNotFound) {
					return corrupt(k, "index points to missing log entry %d", seq)
				}
				if err != nil {
					return err
				}
				p := e.GetPayment()
				if k[0] == prefixIdemKey {
					idemIdx++
					if p == nil || p.GetIdempotencyKey() != string(k[1:]) {
						return corrupt(k, "index points to log entry %d, which is not the payment indexed", seq)
					}
				} else {
					payIdx++
					if p == nil || string(p.GetId()) != string(k[1:]) {
						return corrupt(k, "index points to log entry %d, which is not the payment indexed", seq)
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		switch {
		case !meta:
			return corrupt(metaKey, "store meta record is missing")
		case wantSeq-1 < last:
			return corrupt(logKey(wantSeq), "log ends at %d, before the last durable seq %d", wantSeq-1, last)
		case idemIdx != idemN:
			return corrupt([]byte{prefixIdemKey}, "%d idempotency index entries for %d payments with a key", idemIdx, idemN)
		case payIdx != payIDN:
			return corrupt([]byte{prefixPaymentID}, "%d payment id index entries for %d payments", payIdx, payIDN)
		case chanIdx != chanN:
			return corrupt([]byte{prefixChanPay}, "the index by channel counts %d payments, the log holds %d payments of channels' proofs", chanIdx, chanN)
		case onceIdx != onceN:
			return corrupt([]byte{prefixOffer}, "%d once-only offer index entries for %d payments of once-only offers", onceIdx, onceN)
		case paidIdx != perPayerN:
			return corrupt([]byte{prefixOfferPaid}, "%d per-payer offer index entries for %d payments of per-payer offers", paidIdx, perPayerN)
		case cN != len(counts):
			return corrupt([]byte{prefixOfferUses}, "%d offer counts for %d reusable offers paid", cN, len(counts))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	return nil
}
