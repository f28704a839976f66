package store

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
)

func testStream(n byte) *storev1.Stream {
	return &storev1.Stream{
		Version: StreamVersion, Id: fill(n, 16), ChannelId: fill(n, 32), Direction: storev1.Direction_DIRECTION_OUTGOING,
		Rate: []byte{10}, TickMs: 1000, Budget: []byte{1, 0}, Paid: []byte{30}, Ticks: 3, Peer: fill(n, 20), ItemId: "radio",
	}
}

func testToken(n byte) *storev1.AppToken {
	return &storev1.AppToken{
		Version: TokenVersion, Id: fill(n, 16), Name: "app", SecretHash: fill(n, 32), Asset: fill(7, 20), Limit: []byte{100},
		PeriodSeconds: 86400, Payees: []*storev1.PayeeLimit{{Payee: fill(9, 20), Limit: []byte{10}}},
	}
}

func TestStreamsTokensReceipts(t *testing.T) { forEachEngine(t, testStreamsTokensReceipts) }

func testStreamsTokensReceipts(t *testing.T, e testEngine) {
	s := openTest(t, e.config(t))
	b := NewBatch()
	for _, err := range []error{
		b.PutStream(testStream(1)), b.PutStream(testStream(2)),
		b.PutToken(testToken(3)),
		b.PutReceipt(&storev1.Receipt{PaymentId: fill(4, 32), Time: 77, Signature: fill(5, 65)}),
		b.AppendLog(&storev1.LogEntry{Entry: &storev1.LogEntry_StreamEvent{StreamEvent: &storev1.StreamEvent{StreamId: fill(1, 16), Kind: storev1.StreamEventKind_STREAM_EVENT_KIND_STARTED}}}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	mustCommit(t, s, b)
	st, err := s.Stream([16]byte(fill(2, 16)))
	if err != nil || !proto.Equal(st, testStream(2)) {
		t.Fatalf("stream: %v %v", st, err)
	}
	all, err := s.Streams()
	if err != nil || len(all) != 2 {
		t.Fatalf("streams: %d %v", len(all), err)
	}
	tok, err := s.Token([16]byte(fill(3, 16)))
	if err != nil || !proto.Equal(tok, testToken(3)) {
		t.Fatalf("token: %v %v", tok, err)
	}
	if toks, err := s.Tokens(); err != nil || len(toks) != 1 {
		t.Fatalf("tokens: %v %v", toks, err)
	}
	r, err := s.Receipt([32]byte(fill(4, 32)))
	if err != nil || r.GetTime() != 77 {
		t.Fatalf("receipt: %v %v", r, err)
	}
	if _, err := s.Stream([16]byte(fill(9, 16))); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing stream: %v", err)
	}
	if err := s.Verify(); err != nil {
		t.Fatal(err)
	}
}

func TestStreamTokenReceiptRejects(t *testing.T) { forEachEngine(t, testStreamTokenReceiptRejects) }

func testStreamTokenReceiptRejects(t *testing.T, eng testEngine) {
	for _, tc := range []struct {
		name string
		put  func(b *Batch) error
	}{
		{"stream version", func(b *Batch) error { st := testStream(1); st.Version = 9; return b.PutStream(st) }},
		{"stream short id", func(b *Batch) error { st := testStream(1); st.Id = st.Id[:15]; return b.PutStream(st) }},
		{"stream direction", func(b *Batch) error { st := testStream(1); st.Direction = 0; return b.PutStream(st) }},
		{"stream rate with leading zero", func(b *Batch) error { st := testStream(1); st.Rate = []byte{0, 1}; return b.PutStream(st) }},
		{"stream no peer", func(b *Batch) error { st := testStream(1); st.Peer = nil; return b.PutStream(st) }},
		{"token zero period", func(b *Batch) error { tk := testToken(1); tk.PeriodSeconds = 0; return b.PutToken(tk) }},
		{"view token with a period", func(b *Batch) error {
			tk := testToken(1)
			tk.Kind, tk.Payees = storev1.TokenKind_TOKEN_KIND_VIEW, nil
			return b.PutToken(tk)
		}},
		{"view token with payees", func(b *Batch) error {
			tk := testToken(1)
			tk.Kind, tk.PeriodSeconds = storev1.TokenKind_TOKEN_KIND_VIEW, 0
			return b.PutToken(tk)
		}},
		{"token kind unknown", func(b *Batch) error { tk := testToken(1); tk.Kind = 7; return b.PutToken(tk) }},
		{"token short hash", func(b *Batch) error { tk := testToken(1); tk.SecretHash = tk.SecretHash[:5]; return b.PutToken(tk) }},
		{"token bad payee", func(b *Batch) error { tk := testToken(1); tk.Payees[0].Payee = nil; return b.PutToken(tk) }},
		{"receipt short signature", func(b *Batch) error {
			return b.PutReceipt(&storev1.Receipt{PaymentId: fill(4, 32), Signature: fill(5, 64)})
		}},
		{"stream event short id", func(b *Batch) error {
			return b.AppendLog(&storev1.LogEntry{Entry: &storev1.LogEntry_StreamEvent{StreamEvent: &storev1.StreamEvent{StreamId: fill(1, 15), Kind: 1}}})
		}},
		{"stream event kind", func(b *Batch) error {
			return b.AppendLog(&storev1.LogEntry{Entry: &storev1.LogEntry_StreamEvent{StreamEvent: &storev1.StreamEvent{StreamId: fill(1, 16), Kind: 42}}})
		}},
		{"payment offer id length", func(b *Batch) error {
			e := testPayment("k")
			e.GetPayment().OfferId = fill(1, 31)
			return b.AppendLog(e)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, eng.config(t))
			b := NewBatch()
			err := tc.put(b)
			if err == nil {
				_, err = s.Commit(context.Background(), b)
			}
			wantErr(t, err, ErrInvalid)
		})
	}
}

// TestOfferPaidOnce: an offer id may be paid by one incoming payment only,
// across commits and within one group.
func TestOfferPaidOnce(t *testing.T) { forEachEngine(t, testOfferPaidOnce) }

func testOfferPaidOnce(t *testing.T, eng testEngine) {
	s := openTest(t, eng.config(t))
	incoming := func(key string, offer byte) *Batch {
		e := testPayment(key)
		p := e.GetPayment()
		p.IdempotencyKey, p.Direction, p.OfferId = "", storev1.Direction_DIRECTION_INCOMING, fill(offer, 32)
		b := NewBatch()
		if err := b.AppendLog(e); err != nil {
			t.Fatal(err)
		}
		return b
	}
	res := mustCommit(t, s, incoming("a", 1))
	if _, err := s.Commit(context.Background(), incoming("b", 1)); !errors.Is(err, ErrDuplicateKey) {
		t.Fatalf("second payment of offer 1: %v", err)
	}
	e, err := s.PaymentByOffer([32]byte(fill(1, 32)))
	if err != nil || e.GetSeq() != res.Seqs[0] {
		t.Fatalf("PaymentByOffer: %v %v", e, err)
	}
	// Two payments of offer 2 in one group: exactly one wins.
	errs := make(chan error, 2)
	for _, k := range []string{"c", "d"} {
		if err := s.CommitAsync(incoming(k, 2), func(_ Result, err error) { errs <- err }); err != nil {
			t.Fatal(err)
		}
	}
	e1, e2 := <-errs, <-errs
	if (e1 == nil) == (e2 == nil) {
		t.Fatalf("offer 2 paid twice or never: %v / %v", e1, e2)
	}
	// A payment of offer 1 that the node refused (and refunded) is kept,
	// and leaves the offer's first payment where it was.
	refused := NewBatch()
	re := testPayment("e")
	re.GetPayment().IdempotencyKey, re.GetPayment().Direction, re.GetPayment().OfferId = "", storev1.Direction_DIRECTION_INCOMING, fill(1, 32)
	re.GetPayment().Refused = "offer already paid"
	if err := refused.AppendLog(re); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, s, refused)
	if e, err := s.PaymentByOffer([32]byte(fill(1, 32))); err != nil || e.GetSeq() != res.Seqs[0] {
		t.Fatalf("PaymentByOffer after a refused payment: %v %v", e, err)
	}
	if err := s.Verify(); err != nil {
		t.Fatal(err)
	}
}
