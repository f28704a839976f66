package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
)

// gatedWriter collects a snapshot; its first write waits until gate is
// closed, so that commits happen while the snapshot is being taken.
type gatedWriter struct {
	buf    bytes.Buffer
	start  chan struct{} // closed at the first write
	gate   chan struct{}
	opened bool
}

func (w *gatedWriter) Write(p []byte) (int, error) {
	if !w.opened {
		w.opened = true
		close(w.start)
		<-w.gate
	}
	return w.buf.Write(p)
}

// TestSnapshotWhileCommitting takes a snapshot while a writer commits
// batches of a payment and the proof that covers it: the snapshot holds
// every batch whole or not at all (the newest proof matches the newest
// payment), none of the commits made after it began, and restores into a
// store that passes Verify with the same records.
func TestSnapshotWhileCommitting(t *testing.T) { forEachEngine(t, testSnapshotWhileCommitting) }

func testSnapshotWhileCommitting(t *testing.T, eng testEngine) {
	s := openTest(t, eng.config(t))
	b := NewBatch()
	if err := b.PutChannel(testChannel(1)); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, s, b)
	commitPay := func(i uint64) {
		e := testPayment(fmt.Sprintf("k%d", i))
		e.GetPayment().Nonce = i
		b := NewBatch()
		if err := errors.Join(b.AppendLog(e), b.PutProof(0, testProof(1, i))); err != nil {
			t.Error(err)
			return
		}
		if _, err := s.Commit(context.Background(), b); err != nil {
			t.Error(err)
		}
	}
	for i := uint64(1); i <= 100; i++ {
		commitPay(i)
	}
	w := &gatedWriter{start: make(chan struct{}), gate: make(chan struct{})}
	type result struct {
		st  SnapshotStats
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := s.Snapshot(w)
		done <- result{st, err}
	}()
	<-w.start // the snapshot's transaction is open
	for i := uint64(101); i <= 150; i++ {
		commitPay(i)
	}
	close(w.gate)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.st.LastSeq != 100 {
		t.Fatalf("snapshot ends at seq %d, want 100 (the commits after it began are not in it)", r.st.LastSeq)
	}
	cfg := eng.restoreConfig(t)
	rst, err := Restore(cfg, &w.buf)
	if err != nil {
		t.Fatal(err)
	}
	if rst != r.st {
		t.Fatalf("restored %+v, snapshot %+v", rst, r.st)
	}
	got := openTest(t, cfg)
	if err := got.Verify(); err != nil {
		t.Fatal(err)
	}
	p, err := got.Proof(chanID(1), 0)
	if err != nil || p.GetNonce() != 100 {
		t.Fatalf("restored proof %v, %v; want nonce 100", p, err)
	}
	e, err := got.PaymentByIdempotencyKey("k100")
	if err != nil || e.GetSeq() != 100 {
		t.Fatalf("restored payment k100: %v, %v", e, err)
	}
	if _, err := got.PaymentByIdempotencyKey("k101"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("payment k101, committed after the snapshot began, is in it: %v", err)
	}
	want, have := rawKeys(t, s), rawKeys(t, got)
	if len(have) != int(r.st.Records) || len(have) >= len(want) {
		t.Fatalf("restored %d keys (snapshot %d), the live store has %d", len(have), r.st.Records, len(want))
	}
	for _, k := range have {
		if !bytes.Equal(rawGet(t, got, k), rawGet(t, s, k)) && k[0] != prefixProof {
			t.Fatalf("record %s differs after restore", keyString(k))
		}
	}
	// The restored store takes new commits after the last seq.
	res := mustCommit(t, got, paymentBatch(t, "after"))
	if res.Seqs[0] != 101 {
		t.Fatalf("first commit after restore got seq %d, want 101", res.Seqs[0])
	}
}

// snapshotBytes encodes records as a snapshot stream, count as its end.
func snapshotBytes(version uint64, kvs [][2][]byte, count uint64) []byte {
	b := append([]byte(nil), snapshotMagic...)
	b = binary.AppendUvarint(b, version)
	for _, kv := range kvs {
		b = binary.AppendUvarint(b, uint64(len(kv[0])))
		b = append(b, kv[0]...)
		b = binary.AppendUvarint(b, uint64(len(kv[1])))
		b = append(b, kv[1]...)
	}
	b = binary.AppendUvarint(b, 0)
	return binary.AppendUvarint(b, count)
}

// TestRestoreRefusesBadSnapshots: a stream that is not exactly what
// Snapshot writes is refused with ErrBadSnapshot, and nothing is left in
// the directory.
func TestRestoreRefusesBadSnapshots(t *testing.T) { forEachEngine(t, testRestoreRefusesBadSnapshots) }

func testRestoreRefusesBadSnapshots(t *testing.T, e testEngine) {
	meta := [2][]byte{metaKey, marshal(t, &storev1.StoreMeta{FormatVersion: FormatVersion})}
	ch := [2][]byte{channelKey(chanID(1)), marshal(t, testChannel(1))}
	log1 := [2][]byte{logKey(1), marshal(t, withSeqField(testPayment("a"), 1))}
	id := paymentID("a")
	idx := [2][]byte{paymentIDKey(id), seqValue(1)}
	idem := [2][]byte{idemKey("a"), seqValue(1)}
	byChan := [2][]byte{chanPayKey(chanID(1), storev1.Direction_DIRECTION_OUTGOING, 3, 1), {0, 0, 0, 1}}
	good := snapshotBytes(FormatVersion, [][2][]byte{meta, ch, log1, idem, idx, byChan}, 6)
	// The good stream restores: the cases below differ from it in one way.
	cfg := e.restoreConfig(t)
	if st, err := Restore(cfg, bytes.NewReader(good)); err != nil || st.Records != 6 || st.LastSeq != 1 {
		t.Fatalf("good stream: %+v, %v", st, err)
	}
	garbled := append([]byte(nil), ch[1]...)
	garbled[0] ^= 0xff
	tests := []struct {
		name   string
		stream []byte
	}{
		// Nothing at all.
		{"empty", nil},
		// Another file.
		{"bad magic", append([]byte("tinypay-store-snapshoX\x00"), good[len(snapshotMagic):]...)},
		// A format this build does not read.
		{"other version", snapshotBytes(FormatVersion+1, [][2][]byte{meta, ch}, 2)},
		// Cut in the middle of a record.
		{"truncated in a record", good[:len(good)/2]},
		// Cut before its end marker.
		{"truncated before the end", good[:len(good)-2]},
		// The end says another number of records.
		{"wrong count", snapshotBytes(FormatVersion, [][2][]byte{meta, ch, log1, idem, idx}, 4)},
		// Something after the end.
		{"trailing bytes", append(append([]byte(nil), good...), 0)},
		// Keys not in order.
		{"keys out of order", snapshotBytes(FormatVersion, [][2][]byte{meta, log1, ch, idem, idx}, 5)},
		// The same key twice.
		{"duplicate key", snapshotBytes(FormatVersion, [][2][]byte{meta, ch, ch, log1, idem, idx}, 6)},
		// A record that does not decode.
		{"garbled record", snapshotBytes(FormatVersion, [][2][]byte{meta, {ch[0], garbled}, log1, idem, idx}, 5)},
		// A key of an unknown prefix.
		{"unknown prefix", snapshotBytes(FormatVersion, [][2][]byte{meta, ch, {[]byte{0x7f, 1}, []byte{1}}}, 3)},
		// An index without its payment: Verify refuses the whole.
		{"index without its entry", snapshotBytes(FormatVersion, [][2][]byte{meta, ch, idem, idx}, 4)},
		// A payment of a channel's proof without its entry in the index
		// by channel.
		{"payment not indexed by channel", snapshotBytes(FormatVersion, [][2][]byte{meta, ch, log1, idem, idx}, 5)},
		// An entry in the index by channel under another nonce than its
		// payment's.
		{"index by channel of another nonce", snapshotBytes(FormatVersion, [][2][]byte{meta, ch, log1, idem, idx,
			{chanPayKey(chanID(1), storev1.Direction_DIRECTION_OUTGOING, 4, 1), {0, 0, 0, 1}}}, 6)},
		// An entry in the index by channel that counts a payment the log
		// does not hold.
		{"index by channel counts too many", snapshotBytes(FormatVersion, [][2][]byte{meta, ch, log1, idem, idx,
			{chanPayKey(chanID(1), storev1.Direction_DIRECTION_OUTGOING, 3, 1), {0, 0, 0, 2}}}, 6)},
		// No meta record.
		{"no meta", snapshotBytes(FormatVersion, [][2][]byte{ch}, 1)},
		// A key longer than any the store writes.
		{"huge key", append(append([]byte(nil), good[:len(snapshotMagic)+1]...), binary.AppendUvarint(nil, 1<<40)...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := e.restoreConfig(t)
			_, err := Restore(cfg, bytes.NewReader(tc.stream))
			if !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("error %v, want ErrBadSnapshot", err)
			}
			e.assertNothingLeft(t, cfg)
		})
	}
}

// TestRestoreRefusesANonEmptyDir: Restore never writes over files.
func TestRestoreRefusesANonEmptyDir(t *testing.T) {
	cfg := testConfig(t)
	if err := os.WriteFile(filepath.Join(cfg.Dir, "x"), []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := openTest(t, testConfig(t))
	var buf bytes.Buffer
	if _, err := s.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(cfg, &buf); err == nil {
		t.Fatal("restored into a directory with a file in it")
	}
	if b, err := os.ReadFile(filepath.Join(cfg.Dir, "x")); err != nil || string(b) != "keep" {
		t.Fatalf("the file is gone or changed: %q %v", b, err)
	}
}
