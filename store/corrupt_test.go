package store

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
)

// garbage does not decode as any protobuf message (a truncated varint tag).
var garbage = []byte{0xff, 0xff, 0xff, 0xff}

// TestCorruption writes bad bytes directly with the engine under each prefix
// and checks that reading them gives ErrCorrupt naming the key, never a
// panic, and that Verify finds them too.
func TestCorruption(t *testing.T) { forEachEngine(t, testCorruption) }

func testCorruption(t *testing.T, eng testEngine) {
	id := chanID(1)
	chanKey := channelKey(id)
	logKey1 := logKey(1)
	withSeqBytes := func(e *storev1.LogEntry, seq uint64) []byte { return marshal(t, withSeqField(e, seq)) }
	badChan := func(f func(*storev1.Channel)) []byte { c := testChannel(1); f(c); return marshal(t, c) }
	badPay := func(f func(*storev1.Payment)) []byte {
		e := testPayment("k")
		f(e.GetPayment())
		return withSeqBytes(e, 1)
	}
	readChannel := func(s *Store) error { _, err := s.Channel(id); return err }
	readChannels := func(s *Store) error { _, err := s.Channels(); return err }
	readProof := func(s *Store) error { _, err := s.Proof(id, 0); return err }
	readLog1 := func(s *Store) error { _, err := s.LogEntry(1); return err }
	readLog := func(s *Store) error { _, err := s.Log(0, 10); return err }
	readIdem := func(s *Store) error { _, err := s.PaymentByIdempotencyKey("k"); return err }
	readPayID := func(s *Store) error { _, err := s.PaymentByID(paymentID("k")); return err }
	readCursor := func(s *Store) error { _, err := s.Cursor("c"); return err }
	verifyOnly := func(*Store) error { return errCorruptMarker }

	tests := []struct {
		name  string
		key   []byte
		value []byte
		reads []func(*Store) error
		want  string // substring of the error
	}{
		// Channel bytes that do not decode.
		{"channel garbage", chanKey, garbage, []func(*Store) error{readChannel, readChannels}, "does not decode"},
		// A channel with a 3-byte adjudicator.
		{"channel short address", chanKey, badChan(func(c *storev1.Channel) { c.Adjudicator = fill(1, 3) }), []func(*Store) error{readChannel, readChannels}, "adjudicator is 3 bytes"},
		// A channel amount over 32 bytes.
		{"channel long amount", chanKey, badChan(func(c *storev1.Channel) { c.DepositA = fill(1, 33) }), []func(*Store) error{readChannel}, "deposit_a is 33 bytes"},
		// A channel record of a version this binary does not know.
		{"channel unknown version", chanKey, badChan(func(c *storev1.Channel) { c.Version = 2 }), []func(*Store) error{readChannel, readChannels}, "version 2"},
		// A channel of an unknown phase.
		{"channel unknown phase", chanKey, badChan(func(c *storev1.Channel) { c.Phase = 9 }), []func(*Store) error{readChannel}, "phase 9"},
		// A channel stored under another channel's id.
		{"channel id mismatch", chanKey, badChan(func(c *storev1.Channel) { c.Id = fill(2, 32) }), []func(*Store) error{readChannel}, "does not match its key"},
		// A channel key of the wrong length.
		{"channel key short", []byte{prefixChannel, 1, 2, 3}, marshal(t, testChannel(1)), []func(*Store) error{readChannels}, "key is 4 bytes"},
		// Proof bytes that do not decode.
		{"proof garbage", proofKey(id, 0), garbage, []func(*Store) error{readProof}, "does not decode"},
		// A proof with a short signature.
		{"proof short signature", proofKey(id, 0), func() []byte { p := testProof(1, 1); p.Signature = fill(1, 10); return marshal(t, p) }(), []func(*Store) error{readProof}, "signature is 10 bytes"},
		// A proof key for side 5.
		{"proof key side", append(append([]byte{prefixProof}, id[:]...), 5), marshal(t, testProof(1, 1)), []func(*Store) error{verifyOnly}, "side 5"},
		// Log entry bytes that do not decode.
		{"log garbage", logKey1, garbage, []func(*Store) error{readLog1, readLog}, "does not decode"},
		// A log entry whose seq is not its key's.
		{"log seq mismatch", logKey1, withSeqBytes(testPayment("k"), 2), []func(*Store) error{readLog1, readLog}, "seq 2 does not match"},
		// A log entry without seq.
		{"log seq missing", logKey1, marshal(t, testPayment("k")), []func(*Store) error{readLog1}, "seq 0 does not match"},
		// A payment amount over 32 bytes.
		{"log long amount", logKey1, badPay(func(p *storev1.Payment) { p.Amount = fill(1, 40) }), []func(*Store) error{readLog1, readLog}, "amount is 40 bytes"},
		// A payment with a 31-byte id.
		{"log short id", logKey1, badPay(func(p *storev1.Payment) { p.Id = fill(1, 31) }), []func(*Store) error{readLog1}, "payment id is 31 bytes"},
		// A log entry of a kind this binary does not know (a newer one's).
		// Field 15 is no kind this binary knows (a newer writer's, say).
		{"log unknown kind", logKey1, append(withSeqBytes(&storev1.LogEntry{}, 1), 0x7a, 0x00), []func(*Store) error{readLog1, readLog}, "no known kind"},
		// A log key of the wrong length.
		{"log key short", []byte{prefixLog, 0, 1}, withSeqBytes(testPayment("k"), 1), []func(*Store) error{readLog}, "log key is 3 bytes"},
		// Log seq 0 is never written.
		{"log key seq 0", logKey(0), withSeqBytes(testPayment("k"), 0), []func(*Store) error{verifyOnly}, "seq 0"},
		// An idempotency index value that is not a seq.
		{"idempotency index garbage", idemKey("k"), []byte{1, 2, 3}, []func(*Store) error{readIdem}, "index value is 3 bytes"},
		// An idempotency index pointing nowhere.
		{"idempotency index dangling", idemKey("k"), seqValue(7), []func(*Store) error{readIdem}, "missing log entry 7"},
		// A payment id index value that is not a seq.
		{"payment id index garbage", func() []byte { i := paymentID("k"); return paymentIDKey(i) }(), garbage, []func(*Store) error{readPayID}, "index value is 4 bytes"},
		// Cursor bytes that do not decode.
		{"cursor garbage", cursorKey("c"), garbage, []func(*Store) error{readCursor}, "does not decode"},
		// A transfer stored under another key than its own.
		{"transfer under another key", transferKey("a"), marshal(t, testTransfer("b")), []func(*Store) error{func(s *Store) error { _, err := s.Transfer("a"); return err }}, "does not match its key"},
		// A transfer that does not decode.
		{"transfer garbage", transferKey("a"), garbage, []func(*Store) error{func(s *Store) error { _, err := s.Transfers(); return err }}, "does not decode"},
		// A key with a prefix this binary does not know.
		{"unknown prefix", []byte{0x7f, 1, 2}, []byte("x"), []func(*Store) error{verifyOnly}, "unknown key prefix 0x7f"},
		// A second meta key.
		{"meta key long", []byte{prefixMeta, 1}, []byte{0x08, 0x01}, []func(*Store) error{verifyOnly}, "key is 2 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTest(t, eng.config(t))
			rawPut(t, s, tt.key, tt.value)
			for i, read := range append(tt.reads, (*Store).Verify) {
				err := read(s)
				if err == errCorruptMarker {
					continue
				}
				var ce *CorruptError
				if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) {
					t.Fatalf("read %d: %v, want ErrCorrupt", i, err)
				}
				if !strings.Contains(err.Error(), tt.want) {
					t.Errorf("read %d: error %q does not contain %q", i, err, tt.want)
				}
				// The error names the key (an index read may name the
				// index key or the entry it points to).
				if !bytes.Equal(ce.Key, tt.key) && ce.Key[0] != prefixIdemKey && ce.Key[0] != prefixPaymentID {
					t.Errorf("read %d: error names key %x, want %x", i, ce.Key, tt.key)
				}
				if !strings.Contains(err.Error(), keyString(ce.Key)) {
					t.Errorf("read %d: error %q does not print the key", i, err)
				}
			}
		})
	}
}

var errCorruptMarker = errors.New("skip")

// TestVerifyCrossChecks covers problems only a whole-store check finds.
func TestVerifyCrossChecks(t *testing.T) { forEachEngine(t, testVerifyCrossChecks) }

func testVerifyCrossChecks(t *testing.T, e testEngine) {
	tests := []struct {
		name string
		mess func(t *testing.T, s *Store)
		want string
	}{
		// A log entry removed from the middle.
		{"gap", func(t *testing.T, s *Store) { rawDelete(t, s, logKey(2)) }, "gap"},
		// An index that points at another payment.
		{"index mismatch", func(t *testing.T, s *Store) { rawPut(t, s, idemKey("a"), seqValue(2)) }, "not the payment indexed"},
		// A payment whose index entry is missing.
		{"index missing", func(t *testing.T, s *Store) { rawDelete(t, s, idemKey("c")) }, "idempotency index entries"},
		// A payment id index entry missing.
		{"payment id index missing", func(t *testing.T, s *Store) { i := paymentID("c"); rawDelete(t, s, paymentIDKey(i)) }, "payment id index entries"},
		// The meta record missing.
		{"meta missing", func(t *testing.T, s *Store) { rawDelete(t, s, metaKey) }, "meta record is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTest(t, e.config(t))
			mustCommit(t, s, paymentBatch(t, "a", "b", "c"))
			if err := s.Verify(); err != nil {
				t.Fatal(err)
			}
			tt.mess(t, s)
			err := s.Verify()
			wantErr(t, err, ErrCorrupt)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

// TestOpenCorrupt checks that Open refuses a store it cannot read.
func TestOpenCorrupt(t *testing.T) { forEachEngine(t, testOpenCorrupt) }

func testOpenCorrupt(t *testing.T, e testEngine) {
	tests := []struct {
		name string
		mess func(t *testing.T, s *Store)
		want string
	}{
		// Meta bytes that do not decode.
		{"meta garbage", func(t *testing.T, s *Store) { rawPut(t, s, metaKey, garbage) }, "does not decode"},
		// A store written by a newer format.
		{"meta newer format", func(t *testing.T, s *Store) {
			rawPut(t, s, metaKey, marshal(t, &storev1.StoreMeta{FormatVersion: FormatVersion + 1}))
		}, fmt.Sprintf("format version %d", FormatVersion+1)},
		// Records but no meta record.
		{"meta missing", func(t *testing.T, s *Store) {
			mustCommit(t, s, paymentBatch(t, "a"))
			rawDelete(t, s, metaKey)
		}, "meta record is missing"},
		// The last log key is malformed.
		{"last log key", func(t *testing.T, s *Store) { rawPut(t, s, []byte{prefixLog, 0xff}, garbage) }, "log key is 2 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := e.config(t)
			s, err := Open(cfg)
			if err != nil {
				t.Fatal(err)
			}
			tt.mess(t, s)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			_, err = Open(cfg)
			wantErr(t, err, ErrCorrupt)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

// Seeds for the fuzzers: one valid encoding of each record.
func fuzzSeeds(t testing.TB) [][2][]byte {
	return [][2][]byte{
		{metaKey, marshal(t, &storev1.StoreMeta{FormatVersion: 1})},
		{channelKey(chanID(1)), marshal(t, testChannel(1))},
		{proofKey(chanID(1), 1), marshal(t, testProof(1, 3))},
		{logKey(1), marshal(t, withSeqField(testPayment("k"), 1))},
		{idemKey("k"), seqValue(1)},
		{paymentIDKey(paymentID("k")), seqValue(1)},
		{cursorKey("c"), marshal(t, &storev1.Cursor{Value: []byte("v")})},
		{awaitedKey(chanID(1), 3, paymentID("k")), nil},
		{chanPayKey(chanID(1), storev1.Direction_DIRECTION_OUTGOING, 3, 1), []byte{0, 0, 0, 2}},
		{[]byte{0x7f}, garbage},
	}
}

// FuzzDecodeRecord feeds arbitrary keys and values to the decoder of every
// record: it must never panic, and whatever it accepts must pass the write
// checks and survive a round trip.
func FuzzDecodeRecord(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, k, v []byte) {
		rec, err := decodeRecord(k, v)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decode error %v is not ErrCorrupt", err)
			}
			return
		}
		checkAccepted(t, k, rec)
	})
}

// FuzzDecodeChannel, FuzzDecodeProof and FuzzDecodeLogEntry fuzz the value
// alone under a well-formed key.
func FuzzDecodeChannel(f *testing.F) {
	f.Add(marshal(f, testChannel(1)))
	f.Add(garbage)
	k := channelKey(chanID(1))
	f.Fuzz(func(t *testing.T, v []byte) {
		if c, err := decodeChannel(k, v); err == nil {
			checkAccepted(t, k, c)
		} else if !errors.Is(err, ErrCorrupt) {
			t.Fatal(err)
		}
	})
}

func FuzzDecodeProof(f *testing.F) {
	f.Add(marshal(f, testProof(1, 3)))
	f.Add(garbage)
	k := proofKey(chanID(1), 0)
	f.Fuzz(func(t *testing.T, v []byte) {
		if p, err := decodeProof(k, v); err == nil {
			checkAccepted(t, k, p)
		} else if !errors.Is(err, ErrCorrupt) {
			t.Fatal(err)
		}
	})
}

func FuzzDecodeLogEntry(f *testing.F) {
	f.Add(marshal(f, withSeqField(testPayment("k"), 1)))
	f.Add(garbage)
	k := logKey(1)
	f.Fuzz(func(t *testing.T, v []byte) {
		if e, err := decodeLogEntry(k, v); err == nil {
			checkAccepted(t, k, e)
		} else if !errors.Is(err, ErrCorrupt) {
			t.Fatal(err)
		}
	})
}

// checkAccepted checks a record the decoder accepted: a batch takes it, and
// it re-encodes to something that decodes to the same record.
func checkAccepted(t *testing.T, k []byte, rec any) {
	t.Helper()
	b := NewBatch()
	switch r := rec.(type) {
	case *storev1.Channel:
		if err := b.PutChannel(r); err != nil && !strings.Contains(err.Error(), "more than") {
			t.Fatalf("decoded channel is refused on write: %v", err)
		}
	case *storev1.Proof:
		if err := b.PutProof(uint32(k[len(k)-1]), r); err != nil && !strings.Contains(err.Error(), "more than") {
			t.Fatalf("decoded proof is refused on write: %v", err)
		}
	case *storev1.LogEntry:
		c := withSeqField(r, 0)
		if err := b.AppendLog(c); err != nil && !strings.Contains(err.Error(), "more than") {
			t.Fatalf("decoded log entry is refused on write: %v", err)
		}
	case uint64:
		if r == 0 {
			t.Fatal("index decoded to seq 0")
		}
		return
	case nil: // an index entry without a value
		if k[0] != prefixAwaited {
			t.Fatalf("key %x decoded to nothing", k)
		}
		return
	}
	m, ok := rec.(proto.Message)
	if !ok {
		t.Fatalf("decoded %T", rec)
	}
	v2 := marshal(t, m)
	rec2, err := decodeRecord(k, v2)
	if err != nil {
		t.Fatalf("re-encoded record does not decode: %v", err)
	}
	if !proto.Equal(m, rec2.(proto.Message)) {
		t.Fatalf("round trip changed the record: %v -> %v", m, rec2)
	}
}
