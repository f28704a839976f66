package store

import (
	"context"
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
)

func testTransfer(key string) *storev1.Transfer {
	return &storev1.Transfer{
		Version: TransferVersion, Key: key, Origin: storev1.TransferOrigin_TRANSFER_ORIGIN_OPERATOR,
		To: fill(1, 20), Asset: fill(0, 20), Amount: []byte{5, 0}, Status: storev1.TransferStatus_TRANSFER_STATUS_SENDING,
		Nonce: 7, TxHash: fill(2, 32), RawTx: []byte{0x02, 0xf8, 1, 2, 3}, MaxFee: []byte{9}, CreatedUnixNano: 1,
	}
}

func testTransferEvent(key string) *storev1.LogEntry {
	return &storev1.LogEntry{Entry: &storev1.LogEntry_TransferEvent{TransferEvent: &storev1.TransferEvent{
		Key: key, Origin: storev1.TransferOrigin_TRANSFER_ORIGIN_SWEEP, Status: storev1.TransferStatus_TRANSFER_STATUS_SENT,
		To: fill(1, 20), Asset: fill(3, 20), Amount: []byte{5}, TxHash: fill(2, 32), Fee: []byte{1}, Detail: "sent",
	}}}
}

// TestTransfers: a transfer is stored under its key with its event in the
// log, replaced by a later put, listed, and passes Verify.
func TestTransfers(t *testing.T) { forEachEngine(t, testTransfers) }

func testTransfers(t *testing.T, eng testEngine) {
	s := openTest(t, eng.config(t))
	b := NewBatch()
	for _, err := range []error{b.PutTransfer(testTransfer("send-1")), b.PutTransfer(testTransfer("sweep:x")), b.AppendLog(testTransferEvent("send-1"))} {
		if err != nil {
			t.Fatal(err)
		}
	}
	res := mustCommit(t, s, b)
	e, err := s.LogEntry(res.Seqs[0])
	if err != nil || e.GetTransferEvent().GetKey() != "send-1" {
		t.Fatalf("transfer event: %v %v", e, err)
	}
	sent := testTransfer("send-1")
	sent.Status, sent.Fee, sent.Block = storev1.TransferStatus_TRANSFER_STATUS_SENT, []byte{3}, 12
	b = NewBatch()
	if err := b.PutTransfer(sent); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, s, b)
	got, err := s.Transfer("send-1")
	if err != nil || !proto.Equal(got, sent) {
		t.Fatalf("transfer: %v %v", got, err)
	}
	all, err := s.Transfers()
	if err != nil || len(all) != 2 {
		t.Fatalf("transfers: %d %v", len(all), err)
	}
	if _, err := s.Transfer("none"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing transfer: %v", err)
	}
	if _, err := s.Transfer(""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty key: %v", err)
	}
	if err := s.Verify(); err != nil {
		t.Fatal(err)
	}
}

// TestTransferRejects: a malformed transfer or transfer event poisons the
// batch and nothing is written.
func TestTransferRejects(t *testing.T) { forEachEngine(t, testTransferRejects) }

func testTransferRejects(t *testing.T, eng testEngine) {
	tr := func(f func(*storev1.Transfer)) func(*Batch) error {
		return func(b *Batch) error { x := testTransfer("k"); f(x); return b.PutTransfer(x) }
	}
	ev := func(f func(*storev1.TransferEvent)) func(*Batch) error {
		return func(b *Batch) error { e := testTransferEvent("k"); f(e.GetTransferEvent()); return b.AppendLog(e) }
	}
	for _, tc := range []struct {
		name string
		put  func(b *Batch) error
	}{
		{"version", tr(func(x *storev1.Transfer) { x.Version = 2 })},
		{"empty key", tr(func(x *storev1.Transfer) { x.Key = "" })},
		{"long key", tr(func(x *storev1.Transfer) { x.Key = strings.Repeat("k", MaxIdempotencyKeyLen+1) })},
		{"key not UTF-8", tr(func(x *storev1.Transfer) { x.Key = "\xff" })},
		{"no origin", tr(func(x *storev1.Transfer) { x.Origin = 0 })},
		{"unknown status", tr(func(x *storev1.Transfer) { x.Status = 9 })},
		{"short destination", tr(func(x *storev1.Transfer) { x.To = x.To[:19] })},
		{"no asset", tr(func(x *storev1.Transfer) { x.Asset = nil })},
		{"amount with leading zero", tr(func(x *storev1.Transfer) { x.Amount = []byte{0, 1} })},
		{"short tx hash", tr(func(x *storev1.Transfer) { x.TxHash = x.TxHash[:31] })},
		{"no signed transaction", tr(func(x *storev1.Transfer) { x.RawTx = nil })},
		{"event no key", ev(func(e *storev1.TransferEvent) { e.Key = "" })},
		{"event status", ev(func(e *storev1.TransferEvent) { e.Status = 0 })},
		{"event tx hash", ev(func(e *storev1.TransferEvent) { e.TxHash = e.TxHash[:3] })},
		{"event fee", ev(func(e *storev1.TransferEvent) { e.Fee = make([]byte, 33) })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, eng.config(t))
			b := NewBatch()
			err := tc.put(b)
			if err == nil {
				_, err = s.Commit(context.Background(), b)
			}
			wantErr(t, err, ErrInvalid)
			if all, err := s.Transfers(); err != nil || len(all) != 0 {
				t.Fatalf("after a refused put: %d transfers, %v", len(all), err)
			}
		})
	}
}
