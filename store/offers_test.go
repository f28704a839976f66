package store

import (
	"context"
	"errors"
	"testing"

	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
)

// offerPayment is an accepted incoming payment of offer (one byte, filled)
// by payer (one byte, filled), under the offer's use policy.
func offerPayment(key string, offer, payer byte, uses, max uint32) *storev1.LogEntry {
	e := testPayment(key)
	p := e.GetPayment()
	p.IdempotencyKey, p.Direction, p.OfferId, p.Peer = "", storev1.Direction_DIRECTION_INCOMING, fill(offer, 32), fill(payer, 20)
	p.OfferUses, p.OfferMaxUses = uses, max
	return e
}

func batchOf(t *testing.T, es ...*storev1.LogEntry) *Batch {
	t.Helper()
	b := NewBatch()
	for _, e := range es {
		if err := b.AppendLog(e); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func uses(t *testing.T, s *Store, offer byte) uint64 {
	t.Helper()
	n, err := s.OfferUses([32]byte(fill(offer, 32)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestOfferUsePolicies: the store holds every accepted incoming payment
// of an offer to the offer's use policy, in the write that stores it:
// once per payer, up to N in all, or any number, each counted; refused
// payments are kept and not counted; and the counts survive a reopen.
func TestOfferUsePolicies(t *testing.T) { forEachEngine(t, testOfferUsePolicies) }

func testOfferUsePolicies(t *testing.T, eng testEngine) {
	cfg := eng.config(t)
	s := openTest(t, cfg)
	ctx := context.Background()

	// Offer 1, once per payer: payers A (0xa1) and B (0xb1) pay; A again
	// is a duplicate, in a later write and within one batch.
	mustCommit(t, s, batchOf(t, offerPayment("p1", 1, 0xa1, offerPerPayer, 0)))
	mustCommit(t, s, batchOf(t, offerPayment("p2", 1, 0xb1, offerPerPayer, 0)))
	_, err := s.Commit(ctx, batchOf(t, offerPayment("p3", 1, 0xa1, offerPerPayer, 0)))
	var dup *DuplicateError
	if !errors.As(err, &dup) || dup.Field != "offer_id+peer" || dup.Seq != 1 {
		t.Fatalf("payer A pays a per-payer offer again: %v, want a duplicate of seq 1", err)
	}
	b := NewBatch()
	_ = b.AppendLog(offerPayment("p4", 1, 0xc1, offerPerPayer, 0))
	if err := b.AppendLog(offerPayment("p5", 1, 0xc1, offerPerPayer, 0)); !errors.Is(err, ErrDuplicateKey) {
		t.Fatalf("payer C twice in one batch: %v", err)
	}
	if n := uses(t, s, 1); n != 2 {
		t.Fatalf("per-payer offer counted %d payments, want 2", n)
	}
	if e, err := s.OfferPaidBy([32]byte(fill(1, 32)), [20]byte(fill(0xb1, 20))); err != nil || e.GetSeq() != 2 {
		t.Fatalf("OfferPaidBy(B): %v %v, want seq 2", e, err)
	}
	if _, err := s.OfferPaidBy([32]byte(fill(1, 32)), [20]byte(fill(0xc1, 20))); !errors.Is(err, ErrNotFound) {
		t.Fatalf("OfferPaidBy(C), who never paid: %v", err)
	}

	// Offer 2, up to 3 in all: two in one batch, one more, then the
	// fourth is refused, whoever pays it.
	mustCommit(t, s, batchOf(t, offerPayment("l1", 2, 0xa1, offerLimited, 3), offerPayment("l2", 2, 0xa1, offerLimited, 3)))
	mustCommit(t, s, batchOf(t, offerPayment("l3", 2, 0xb1, offerLimited, 3)))
	if _, err := s.Commit(ctx, batchOf(t, offerPayment("l4", 2, 0xc1, offerLimited, 3))); !errors.Is(err, ErrOfferUsedUp) {
		t.Fatalf("a fourth payment of an offer of 3: %v, want ErrOfferUsedUp", err)
	}
	// A batch going over the bound is refused whole.
	if _, err := s.Commit(ctx, batchOf(t, offerPayment("m1", 3, 0xa1, offerLimited, 2), offerPayment("m2", 3, 0xa1, offerLimited, 2), offerPayment("m3", 3, 0xa1, offerLimited, 2))); !errors.Is(err, ErrOfferUsedUp) {
		t.Fatalf("three payments of an offer of 2 in one batch: %v", err)
	}
	if n := uses(t, s, 3); n != 0 {
		t.Fatalf("a refused batch counted %d payments", n)
	}

	// Offer 4, unlimited: the same payer, many times.
	for _, k := range []string{"u1", "u2", "u3", "u4", "u5"} {
		mustCommit(t, s, batchOf(t, offerPayment(k, 4, 0xa1, offerUnlimited, 0)))
	}

	// A refused (and refunded) payment is kept but not counted.
	r := offerPayment("r1", 2, 0xd1, offerLimited, 3)
	r.GetPayment().Refused = "offer sold out"
	mustCommit(t, s, batchOf(t, r))
	r = offerPayment("r2", 1, 0xa1, offerPerPayer, 0)
	r.GetPayment().Refused = "offer already paid by this payer"
	mustCommit(t, s, batchOf(t, r))

	want := map[byte]uint64{1: 2, 2: 3, 3: 0, 4: 5, 9: 0}
	check := func(s *Store) {
		t.Helper()
		for offer, n := range want {
			if got := uses(t, s, offer); got != n {
				t.Errorf("offer %d: %d payments counted, want %d", offer, got, n)
			}
		}
		if err := s.Verify(); err != nil {
			t.Fatal(err)
		}
	}
	check(s)
	// Reopened, the counts hold, and so do the bounds.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(s)
	if _, err := s.Commit(ctx, batchOf(t, offerPayment("l5", 2, 0xe1, offerLimited, 3))); !errors.Is(err, ErrOfferUsedUp) {
		t.Fatalf("after a reopen, a fourth payment of an offer of 3: %v", err)
	}
	if _, err := s.Commit(ctx, batchOf(t, offerPayment("p6", 1, 0xb1, offerPerPayer, 0))); !errors.Is(err, ErrDuplicateKey) {
		t.Fatalf("after a reopen, payer B pays a per-payer offer again: %v", err)
	}
	mustCommit(t, s, batchOf(t, offerPayment("p7", 1, 0xe1, offerPerPayer, 0)))
	want[1] = 3
	check(s)
}

// TestOfferLastUseInOneGroup: two batches racing for the last use of a
// limited offer in one group commit: exactly one is written.
func TestOfferLastUseInOneGroup(t *testing.T) { forEachEngine(t, testOfferLastUseInOneGroup) }

func testOfferLastUseInOneGroup(t *testing.T, e testEngine) {
	s := openTest(t, e.config(t))
	mustCommit(t, s, batchOf(t, offerPayment("a", 5, 0xa1, offerLimited, 2)))
	errs := make(chan error, 2)
	for i, k := range []string{"b", "c"} {
		if err := s.CommitAsync(batchOf(t, offerPayment(k, 5, byte(0xb1+i), offerLimited, 2)), func(_ Result, err error) { errs <- err }); err != nil {
			t.Fatal(err)
		}
	}
	e1, e2 := <-errs, <-errs
	if (e1 == nil) == (e2 == nil) || !errors.Is(errors.Join(e1, e2), ErrOfferUsedUp) {
		t.Fatalf("the last use went to both or neither: %v / %v", e1, e2)
	}
	if n := uses(t, s, 5); n != 2 {
		t.Fatalf("%d payments counted, want 2", n)
	}
	if err := s.Verify(); err != nil {
		t.Fatal(err)
	}
}

// TestOfferFieldsRejected: malformed offer fields of a payment are refused
// (ErrInvalid) and nothing is written.
func TestOfferFieldsRejected(t *testing.T) { forEachEngine(t, testOfferFieldsRejected) }

func testOfferFieldsRejected(t *testing.T, eng testEngine) {
	for _, tc := range []struct {
		name string
		edit func(p *storev1.Payment)
	}{
		{"unknown policy", func(p *storev1.Payment) { p.OfferUses = 4 }},
		{"limited without a count", func(p *storev1.Payment) { p.OfferUses, p.OfferMaxUses = offerLimited, 0 }},
		{"a count without limited", func(p *storev1.Payment) { p.OfferUses, p.OfferMaxUses = offerUnlimited, 3 }},
		{"a count on a once-only offer", func(p *storev1.Payment) { p.OfferUses, p.OfferMaxUses = offerOnce, 1 }},
		{"per-payer without a payer", func(p *storev1.Payment) { p.OfferUses, p.Peer = offerPerPayer, nil }},
		{"policy without an offer", func(p *storev1.Payment) { p.OfferId, p.OfferUses = nil, offerUnlimited }},
		{"offer expiry on an incoming payment", func(p *storev1.Payment) { p.OfferExpiry = 1 }},
		{"offer signature on an incoming payment", func(p *storev1.Payment) { p.OfferSignature = fill(1, 65) }},
		{"short offer signature", func(p *storev1.Payment) {
			p.Direction, p.OfferSignature = storev1.Direction_DIRECTION_OUTGOING, fill(1, 64)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, eng.config(t))
			e := offerPayment("k", 1, 0xa1, offerOnce, 0)
			tc.edit(e.GetPayment())
			b := NewBatch()
			err := b.AppendLog(e)
			if err == nil {
				_, err = s.Commit(context.Background(), b)
			}
			wantErr(t, err, ErrInvalid)
			if s.LastSeq() != 0 {
				t.Fatalf("something was written: last seq %d", s.LastSeq())
			}
		})
	}
	// Two payments of one offer in a batch must agree on its policy.
	b := NewBatch()
	_ = b.AppendLog(offerPayment("a", 1, 0xa1, offerLimited, 3))
	wantErr(t, b.AppendLog(offerPayment("b", 1, 0xb1, offerLimited, 4)), ErrInvalid)
}

// TestVerifyOfferIndexes: Verify finds offer counts and per-payer entries
// that disagree with the log.
func TestVerifyOfferIndexes(t *testing.T) { forEachEngine(t, testVerifyOfferIndexes) }

func testVerifyOfferIndexes(t *testing.T, e testEngine) {
	for _, tc := range []struct {
		name string
		harm func(t *testing.T, s *Store)
	}{
		{"count too high", func(t *testing.T, s *Store) { rawPut(t, s, offerUsesKey([32]byte(fill(2, 32))), seqValue(3)) }},
		{"count of an offer never paid", func(t *testing.T, s *Store) { rawPut(t, s, offerUsesKey([32]byte(fill(7, 32))), seqValue(1)) }},
		{"count zero", func(t *testing.T, s *Store) { rawPut(t, s, offerUsesKey([32]byte(fill(2, 32))), seqValue(0)) }},
		{"per-payer entry for another payer", func(t *testing.T, s *Store) {
			rawPut(t, s, offerPaidKey([32]byte(fill(1, 32)), [20]byte(fill(0xee, 20))), seqValue(1))
		}},
		{"per-payer entry missing", func(t *testing.T, s *Store) {
			rawDelete(t, s, offerPaidKey([32]byte(fill(1, 32)), [20]byte(fill(0xa1, 20))))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, e.config(t))
			mustCommit(t, s, batchOf(t, offerPayment("a", 1, 0xa1, offerPerPayer, 0), offerPayment("b", 2, 0xa1, offerLimited, 5), offerPayment("c", 2, 0xb1, offerLimited, 5)))
			if err := s.Verify(); err != nil {
				t.Fatal(err)
			}
			tc.harm(t, s)
			wantErr(t, s.Verify(), ErrCorrupt)
		})
	}
}
