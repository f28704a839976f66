package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // substring of the error; "" means valid
	}{
		// The defaults are valid.
		{"default", func(*Config) {}, ""},
		// A store needs a directory.
		{"no dir", func(c *Config) { c.Dir = "" }, "Dir is empty"},
		// A group takes at least one batch.
		{"max batch zero", func(c *Config) { c.MaxBatch = 0 }, "MaxBatch is 0"},
		// Badger needs room for a transaction of at least one record.
		{"memtable too small", func(c *Config) { c.MemTableSize = 1 << 10 }, "MemTableSize is 1024"},
		// And the footprint stays bounded.
		{"memtable too big", func(c *Config) { c.MemTableSize = 2 << 30 }, "MemTableSize"},
		// A store is in a directory or in PostgreSQL, not both.
		{"dir and postgres", func(c *Config) { c.Postgres.URL = "postgres://u@h/db" }, "both Dir and Postgres.URL"},
	}
	pg := func(f func(*PostgresConfig)) func(*Config) {
		return func(c *Config) { *c = DefaultPostgresConfig("postgres://u@localhost/db", "0xabc"); f(&c.Postgres) }
	}
	tests = append(tests, []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		// The PostgreSQL defaults are valid.
		{"postgres default", pg(func(*PostgresConfig) {}), ""},
		// The key=value form of a connection string is taken too.
		{"postgres key=value", pg(func(p *PostgresConfig) { p.URL = "host=/tmp dbname=x" }), ""},
		// A URL that does not parse, without its password in the error.
		{"postgres bad url", pg(func(p *PostgresConfig) { p.URL = "postgres://u:secret@h:notaport/db" }), "cannot parse the URL"},
		// A node names the records' owner.
		{"postgres no node", pg(func(p *PostgresConfig) { p.Node = "" }), "Postgres.Node"},
		// Of a bounded length and alphabet (it is a column value, and shown).
		{"postgres node with a space", pg(func(p *PostgresConfig) { p.Node = "a b" }), "Postgres.Node"},
		{"postgres node too long", pg(func(p *PostgresConfig) { p.Node = strings.Repeat("a", 65) }), "Postgres.Node"},
		// The committer and a reader need a connection each.
		{"postgres one connection", pg(func(p *PostgresConfig) { p.MaxConns = 1 }), "MaxConns is 1"},
		// A transaction takes at least one record of the largest size.
		{"postgres tiny transactions", pg(func(p *PostgresConfig) { p.MaxTxnBytes = 1000 }), "MaxTxnBytes is 1000"},
		// A lease shorter than a round trip would expire while renewed.
		{"postgres lease too short", pg(func(p *PostgresConfig) { p.LeaseTTL = time.Millisecond }), "LeaseTTL is 1ms"},
		{"postgres negative wait", pg(func(p *PostgresConfig) { p.LeaseWait = -time.Second }), "LeaseWait is -1s"},
		{"postgres no timeout", pg(func(p *PostgresConfig) { p.Timeout = 0 }), "Timeout is 0s"},
	}...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig("/tmp/x")
			tt.mutate(&cfg)
			err := cfg.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate: %v, want error containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("Validate: %v shows the password", err)
			}
			if _, err := Open(cfg); err == nil {
				t.Fatal("Open accepted an invalid config")
			}
		})
	}
}

// TestRoundTrip writes every kind of record, checks the exact key and value
// bytes badger holds, and reads the record back through the API.
func TestRoundTrip(t *testing.T) { forEachEngine(t, testRoundTrip) }

func testRoundTrip(t *testing.T, e testEngine) {
	minimal := &storev1.Channel{
		Version: ChannelVersion, Id: fill(2, 32), Adjudicator: fill(1, 20), ParticipantA: fill(2, 20),
		ParticipantB: fill(3, 20), Asset: fill(4, 20), Salt: fill(5, 32), Phase: storev1.Phase_PHASE_OPENING,
	}
	incoming := testPayment("in")
	incoming.GetPayment().Direction = storev1.Direction_DIRECTION_INCOMING
	incoming.GetPayment().IdempotencyKey = ""
	incoming.GetPayment().Peer = nil

	tests := []struct {
		name  string
		put   func(*Batch) error
		key   []byte        // where the record must be
		value func() []byte // the exact bytes expected there
		read  func(*Store) (proto.Message, error)
		want  proto.Message
	}{
		// A channel with every field and sub-message set.
		{
			name:  "channel full",
			put:   func(b *Batch) error { return b.PutChannel(testChannel(1)) },
			key:   append([]byte{0x01}, fill(1, 32)...),
			value: func() []byte { return marshal(t, testChannel(1)) },
			read:  func(s *Store) (proto.Message, error) { return s.Channel(chanID(1)) },
			want:  testChannel(1),
		},
		// A channel with only the required fields.
		{
			name:  "channel minimal",
			put:   func(b *Batch) error { return b.PutChannel(minimal) },
			key:   append([]byte{0x01}, fill(2, 32)...),
			value: func() []byte { return marshal(t, minimal) },
			read:  func(s *Store) (proto.Message, error) { return s.Channel(chanID(2)) },
			want:  minimal,
		},
		// A proof signed by A.
		{
			name:  "proof side A",
			put:   func(b *Batch) error { return b.PutProof(0, testProof(1, 5)) },
			key:   append(append([]byte{0x02}, fill(1, 32)...), 0),
			value: func() []byte { return marshal(t, testProof(1, 5)) },
			read:  func(s *Store) (proto.Message, error) { return s.Proof(chanID(1), 0) },
			want:  testProof(1, 5),
		},
		// A proof signed by B of the same channel is a separate record.
		{
			name:  "proof side B",
			put:   func(b *Batch) error { return b.PutProof(1, testProof(1, 9)) },
			key:   append(append([]byte{0x02}, fill(1, 32)...), 1),
			value: func() []byte { return marshal(t, testProof(1, 9)) },
			read:  func(s *Store) (proto.Message, error) { return s.Proof(chanID(1), 1) },
			want:  testProof(1, 9),
		},
		// An outgoing payment, stored with the seq the store gave it (1).
		{
			name:  "payment outgoing",
			put:   func(b *Batch) error { return b.AppendLog(testPayment("k1")) },
			key:   []byte{0x03, 0, 0, 0, 0, 0, 0, 0, 1},
			value: func() []byte { return marshal(t, withSeqField(testPayment("k1"), 1)) },
			read:  func(s *Store) (proto.Message, error) { return s.LogEntry(1) },
			want:  withSeqField(testPayment("k1"), 1),
		},
		// The idempotency index holds the seq.
		{
			name:  "idempotency index",
			key:   append([]byte{0x04}, "k1"...),
			value: func() []byte { return []byte{0, 0, 0, 0, 0, 0, 0, 1} },
			read:  func(s *Store) (proto.Message, error) { return s.PaymentByIdempotencyKey("k1") },
			want:  withSeqField(testPayment("k1"), 1),
		},
		// So does the payment id index.
		{
			name: "payment id index",
			key: func() []byte {
				id := paymentID("k1")
				return append([]byte{0x05}, id[:]...)
			}(),
			value: func() []byte { return []byte{0, 0, 0, 0, 0, 0, 0, 1} },
			read:  func(s *Store) (proto.Message, error) { return s.PaymentByID(paymentID("k1")) },
			want:  withSeqField(testPayment("k1"), 1),
		},
		// The index of payments by channel: channel, direction
		// (outgoing, 1), nonce, first seq; the count of payments of the
		// proof from there.
		{
			name: "channel payment index outgoing",
			key: append(append(append([]byte{0x0f}, fill(1, 32)...), 1),
				0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 1),
			value: func() []byte { return []byte{0, 0, 0, 1} }, // one payment from seq 1
			read: func(s *Store) (proto.Message, error) {
				ps, err := s.ChannelPayments(chanID(1), storev1.Direction_DIRECTION_OUTGOING, 2, 3, 10)
				if err != nil || len(ps) != 1 {
					return nil, fmt.Errorf("%d payments, %v", len(ps), err)
				}
				return ps[0], nil
			},
			want: withSeqField(testPayment("k1"), 1).GetPayment(),
		},
		// An incoming payment without idempotency key or peer gets seq 2
		// and no idempotency index entry.
		{
			name:  "payment incoming",
			put:   func(b *Batch) error { return b.AppendLog(incoming) },
			key:   []byte{0x03, 0, 0, 0, 0, 0, 0, 0, 2},
			value: func() []byte { return marshal(t, withSeqField(incoming, 2)) },
			read:  func(s *Store) (proto.Message, error) { return s.PaymentByID(paymentID("in")) },
			want:  withSeqField(incoming, 2),
		},
		// Its entry in the index by channel: direction incoming (2).
		{
			name: "channel payment index incoming",
			key: append(append(append([]byte{0x0f}, fill(1, 32)...), 2),
				0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 2),
			value: func() []byte { return []byte{0, 0, 0, 1} },
			read: func(s *Store) (proto.Message, error) {
				ps, err := s.ChannelPayments(chanID(1), storev1.Direction_DIRECTION_INCOMING, 0, ^uint64(0), 10)
				if err != nil || len(ps) != 1 {
					return nil, fmt.Errorf("%d payments, %v", len(ps), err)
				}
				return ps[0], nil
			},
			want: withSeqField(incoming, 2).GetPayment(),
		},
		// A cursor.
		{
			name:  "cursor",
			put:   func(b *Batch) error { return b.PutCursor("watcher", []byte{0, 1, 2}) },
			key:   append([]byte{0x06}, "watcher"...),
			value: func() []byte { return []byte{0x0a, 3, 0, 1, 2} },
			read: func(s *Store) (proto.Message, error) {
				v, err := s.Cursor("watcher")
				return &storev1.Cursor{Value: v}, err
			},
			want: &storev1.Cursor{Value: []byte{0, 1, 2}},
		},
	}
	s := openTest(t, e.config(t))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.put != nil {
				b := NewBatch()
				if err := tt.put(b); err != nil {
					t.Fatalf("put: %v", err)
				}
				mustCommit(t, s, b)
			}
			if got, want := rawGet(t, s, tt.key), tt.value(); !bytes.Equal(got, want) {
				t.Errorf("bytes under %x:\n got %x\nwant %x", tt.key, got, want)
			}
			got, err := tt.read(s)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if !proto.Equal(got, tt.want) {
				t.Errorf("read back %v, want %v", got, tt.want)
			}
		})
	}
	// Nothing but the records above and the meta record is on disk.
	if got, want := len(rawKeys(t, s)), 1+2+2+2+1+2+1+2; got != want {
		t.Errorf("%d keys on disk, want %d", got, want)
	}
	if got := rawGet(t, s, []byte{0x00}); !bytes.Equal(got, []byte{0x08, 0x02}) {
		t.Errorf("meta record %x, want 0802", got)
	}
	chans, err := s.Channels()
	if err != nil || len(chans) != 2 || !proto.Equal(chans[0], testChannel(1)) || !proto.Equal(chans[1], minimal) {
		t.Errorf("Channels() = %v, %v", chans, err)
	}
}

// TestWithSeq checks that appending the seq to a stored encoding gives the
// deterministic encoding of the entry with that seq.
func TestWithSeq(t *testing.T) {
	for _, seq := range []uint64{1, 127, 128, 1 << 40, ^uint64(0)} {
		e := testPayment("x")
		got := withSeq(marshal(t, e), seq)
		if want := marshal(t, withSeqField(e, seq)); !bytes.Equal(got, want) {
			t.Errorf("seq %d: got %x, want %x", seq, got, want)
		}
	}
}

func TestReopenKeepsEverything(t *testing.T) { forEachEngine(t, testReopenKeepsEverything) }

func testReopenKeepsEverything(t *testing.T, e testEngine) {
	cfg := e.config(t)
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := paymentBatch(t, "a", "b", "c")
	_ = b.PutChannel(testChannel(1))
	_ = b.PutProof(0, testProof(1, 3))
	_ = b.PutCursor("c", []byte("v"))
	mustCommit(t, s, b)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, cfg)
	if s.LastSeq() != 3 {
		t.Fatalf("LastSeq after reopen = %d, want 3", s.LastSeq())
	}
	if res := mustCommit(t, s, paymentBatch(t, "d")); res.Seqs[0] != 4 {
		t.Fatalf("next seq after reopen = %v, want [4]", res.Seqs)
	}
	if _, err := s.Channel(chanID(1)); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Cursor("c"); err != nil || string(v) != "v" {
		t.Fatalf("Cursor = %q, %v", v, err)
	}
	// The stored proof still bars an older one: a fresh store knows no
	// nonce without reading it.
	b = NewBatch()
	_ = b.PutProof(0, testProof(1, 2))
	if _, err := s.Commit(context.Background(), b); !errors.Is(err, ErrStaleProof) {
		t.Fatalf("older proof after reopen: %v, want ErrStaleProof", err)
	}
	if err := s.Verify(); err != nil {
		t.Fatal(err)
	}
}

func TestLogPaging(t *testing.T) { forEachEngine(t, testLogPaging) }

func testLogPaging(t *testing.T, eng testEngine) {
	s := openTest(t, eng.config(t))
	var want []uint64
	for i := range 5 {
		keys := make([]string, 5)
		for j := range keys {
			keys[j] = fmt.Sprintf("p%d-%d", i, j)
		}
		res := mustCommit(t, s, paymentBatch(t, keys...))
		want = append(want, res.Seqs...)
	}
	for i, seq := range want {
		if seq != uint64(i+1) {
			t.Fatalf("seqs %v are not 1..25", want)
		}
	}
	tests := []struct {
		name  string
		after uint64
		limit int
		want  []uint64 // seqs; nil means empty
	}{
		// First page.
		{"first page", 0, 10, seqRange(1, 10)},
		// Next page starts after the last seq returned.
		{"second page", 10, 10, seqRange(11, 20)},
		// The last page is short.
		{"last page", 20, 10, seqRange(21, 25)},
		// Nothing after the end.
		{"past the end", 25, 10, nil},
		// A limit larger than the log.
		{"all", 0, 1000, seqRange(1, 25)},
		// The largest seq does not overflow.
		{"max seq", ^uint64(0), 10, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Log(tt.after, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			var seqs []uint64
			for _, e := range got {
				seqs = append(seqs, e.GetSeq())
				if want := fmt.Sprintf("p%d-%d", (e.GetSeq()-1)/5, (e.GetSeq()-1)%5); e.GetPayment().GetIdempotencyKey() != want {
					t.Errorf("entry %d has key %q, want %q", e.GetSeq(), e.GetPayment().GetIdempotencyKey(), want)
				}
			}
			if fmt.Sprint(seqs) != fmt.Sprint(tt.want) {
				t.Errorf("seqs %v, want %v", seqs, tt.want)
			}
		})
	}
	if _, err := s.Log(0, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("Log(0, 0): %v, want ErrInvalid", err)
	}
	if s.LastSeq() != 25 {
		t.Errorf("LastSeq = %d, want 25", s.LastSeq())
	}
}

func seqRange(from, to uint64) []uint64 {
	var out []uint64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

func TestNotFound(t *testing.T) { forEachEngine(t, testNotFound) }

func testNotFound(t *testing.T, e testEngine) {
	s := openTest(t, e.config(t))
	mustCommit(t, s, paymentBatch(t, "only"))
	tests := []struct {
		name string
		read func() error
	}{
		// No channel with that id.
		{"channel", func() error { _, err := s.Channel(chanID(9)); return err }},
		// No proof for that channel.
		{"proof", func() error { _, err := s.Proof(chanID(9), 0); return err }},
		// No entry at seq 2 (the log holds 1).
		{"log entry", func() error { _, err := s.LogEntry(2); return err }},
		// Seq 0 is never used.
		{"log entry 0", func() error { _, err := s.LogEntry(0); return err }},
		// Unknown idempotency key.
		{"idempotency key", func() error { _, err := s.PaymentByIdempotencyKey("other"); return err }},
		// The empty key is never indexed.
		{"empty idempotency key", func() error { _, err := s.PaymentByIdempotencyKey(""); return err }},
		// Unknown payment id.
		{"payment id", func() error { _, err := s.PaymentByID(chanID(9)); return err }},
		// Unknown cursor.
		{"cursor", func() error { _, err := s.Cursor("nope"); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantErr(t, tt.read(), ErrNotFound) })
	}
	if chans, err := s.Channels(); err != nil || len(chans) != 0 {
		t.Errorf("Channels() = %v, %v, want none", chans, err)
	}
}

// TestValidation feeds one malformed field per row and checks that the put
// fails with ErrInvalid, the batch is poisoned, and nothing is written.
func TestValidation(t *testing.T) { forEachEngine(t, testValidation) }

func testValidation(t *testing.T, eng testEngine) {
	ch := func(f func(*storev1.Channel)) func(*Batch) error {
		return func(b *Batch) error { c := testChannel(1); f(c); return b.PutChannel(c) }
	}
	pr := func(side uint32, f func(*storev1.Proof)) func(*Batch) error {
		return func(b *Batch) error { p := testProof(1, 1); f(p); return b.PutProof(side, p) }
	}
	pay := func(f func(*storev1.Payment)) func(*Batch) error {
		return func(b *Batch) error { e := testPayment("k"); f(e.GetPayment()); return b.AppendLog(e) }
	}
	tests := []struct {
		name string
		put  func(*Batch) error
		want string // substring of the error
	}{
		// Channels.
		{"channel nil", func(b *Batch) error { return b.PutChannel(nil) }, "channel is nil"},
		{"channel version 0", ch(func(c *storev1.Channel) { c.Version = 0 }), "version 0"},
		{"channel version 2", ch(func(c *storev1.Channel) { c.Version = 2 }), "version 2"},
		{"channel id short", ch(func(c *storev1.Channel) { c.Id = fill(1, 31) }), "channel id is 31 bytes"},
		{"channel id missing", ch(func(c *storev1.Channel) { c.Id = nil }), "channel id is 0 bytes"},
		{"channel adjudicator", ch(func(c *storev1.Channel) { c.Adjudicator = fill(1, 21) }), "adjudicator is 21 bytes"},
		{"channel participant_a", ch(func(c *storev1.Channel) { c.ParticipantA = fill(1, 19) }), "participant_a is 19"},
		{"channel participant_b", ch(func(c *storev1.Channel) { c.ParticipantB = nil }), "participant_b is 0"},
		{"channel asset", ch(func(c *storev1.Channel) { c.Asset = nil }), "asset is 0"},
		{"channel salt", ch(func(c *storev1.Channel) { c.Salt = fill(1, 33) }), "salt is 33"},
		{"channel self", ch(func(c *storev1.Channel) { c.Self = 2 }), "self is 2"},
		{"channel phase unspecified", ch(func(c *storev1.Channel) { c.Phase = 0 }), "phase 0"},
		{"channel phase unknown", ch(func(c *storev1.Channel) { c.Phase = 7 }), "phase 7"},
		{"channel deposit_a too long", ch(func(c *storev1.Channel) { c.DepositA = fill(1, 33) }), "deposit_a is 33 bytes"},
		{"channel deposit_b leading zero", ch(func(c *storev1.Channel) { c.DepositB = []byte{0, 1} }), "deposit_b has a leading zero"},
		{"channel chain_withdrawn_a", ch(func(c *storev1.Channel) { c.ChainWithdrawnA = []byte{0} }), "chain_withdrawn_a has a leading zero"},
		{"channel chain_withdrawn_b", ch(func(c *storev1.Channel) { c.ChainWithdrawnB = fill(1, 40) }), "chain_withdrawn_b is 40"},
		{"channel withdrawn_a", ch(func(c *storev1.Channel) { c.WithdrawnA = fill(1, 33) }), "withdrawn_a is 33"},
		{"channel withdrawn_b", ch(func(c *storev1.Channel) { c.WithdrawnB = []byte{0, 0} }), "withdrawn_b has a leading zero"},
		{"withdrawal participant", ch(func(c *storev1.Channel) { c.Withdrawal.Participant = 3 }), "withdrawal participant is 3"},
		{"withdrawal total", ch(func(c *storev1.Channel) { c.Withdrawal.Total = fill(1, 33) }), "withdrawal total is 33"},
		{"withdrawal sig_a", ch(func(c *storev1.Channel) { c.Withdrawal.SigA = fill(1, 64) }), "withdrawal sig_a is 64"},
		{"withdrawal sig_b", ch(func(c *storev1.Channel) { c.Withdrawal.SigB = fill(1, 66) }), "withdrawal sig_b is 66"},
		{"close balance_a", ch(func(c *storev1.Channel) { c.Close.BalanceA = []byte{0} }), "close balance_a has a leading zero"},
		{"close balance_b", ch(func(c *storev1.Channel) { c.Close.BalanceB = fill(1, 33) }), "close balance_b is 33"},
		{"close sig_a", ch(func(c *storev1.Channel) { c.Close.SigA = fill(1, 1) }), "close sig_a is 1"},
		{"close sig_b", ch(func(c *storev1.Channel) { c.Close.SigB = fill(1, 2) }), "close sig_b is 2"},
		{"close proposer", ch(func(c *storev1.Channel) { c.Close.Proposer = 3 }), "proposer 3"},
		{"dispute closer", ch(func(c *storev1.Channel) { c.Dispute.Closer = 2 }), "dispute closer is 2"},
		{"dispute transferred_a", ch(func(c *storev1.Channel) { c.Dispute.TransferredA = fill(1, 33) }), "dispute transferred_a is 33"},
		{"dispute transferred_b", ch(func(c *storev1.Channel) { c.Dispute.TransferredB = []byte{0} }), "dispute transferred_b has a leading zero"},
		{"channel too large", ch(func(c *storev1.Channel) { c.ProtoReflect().SetUnknown(make([]byte, MaxRecordSize)) }), "more than 65536"},
		// Proofs.
		{"proof nil", func(b *Batch) error { return b.PutProof(0, nil) }, "proof is nil"},
		{"proof side", pr(2, func(*storev1.Proof) {}), "signer side is 2"},
		{"proof nonce 0", pr(0, func(p *storev1.Proof) { p.Nonce = 0 }), "nonce is 0"},
		{"proof channel_id", pr(0, func(p *storev1.Proof) { p.ChannelId = fill(1, 20) }), "channel_id is 20 bytes"},
		{"proof transferred", pr(0, func(p *storev1.Proof) { p.Transferred = fill(1, 33) }), "transferred is 33"},
		{"proof transferred leading zero", pr(0, func(p *storev1.Proof) { p.Transferred = []byte{0, 5} }), "transferred has a leading zero"},
		{"proof signature missing", pr(0, func(p *storev1.Proof) { p.Signature = nil }), "signature is 0 bytes"},
		{"proof signature short", pr(0, func(p *storev1.Proof) { p.Signature = fill(1, 64) }), "signature is 64 bytes"},
		// Log entries and payments.
		{"log nil", func(b *Batch) error { return b.AppendLog(nil) }, "log entry is nil"},
		{"log empty", func(b *Batch) error { return b.AppendLog(&storev1.LogEntry{}) }, "no known kind"},
		{"log nil payment", func(b *Batch) error {
			return b.AppendLog(&storev1.LogEntry{Entry: &storev1.LogEntry_Payment{}})
		}, "payment is nil"},
		{"log seq set", func(b *Batch) error { e := testPayment("k"); e.Seq = 5; return b.AppendLog(e) }, "seq is 5"},
		{"payment id", pay(func(p *storev1.Payment) { p.Id = fill(1, 16) }), "payment id is 16 bytes"},
		{"payment channel_id", pay(func(p *storev1.Payment) { p.ChannelId = nil }), "payment channel_id is 0"},
		{"payment direction", pay(func(p *storev1.Payment) { p.Direction = 0 }), "direction 0"},
		{"payment direction unknown", pay(func(p *storev1.Payment) { p.Direction = 7 }), "direction 7"},
		{"payment amount", pay(func(p *storev1.Payment) { p.Amount = fill(1, 33) }), "payment amount is 33"},
		{"payment cumulative", pay(func(p *storev1.Payment) { p.Cumulative = []byte{0, 1} }), "cumulative has a leading zero"},
		{"payment peer", pay(func(p *storev1.Payment) { p.Peer = fill(1, 32) }), "peer is 32 bytes"},
		{"payment refund_of", pay(func(p *storev1.Payment) { p.RefundOf = fill(1, 31) }), "refund_of is 31 bytes"},
		{"payment refused outgoing", pay(func(p *storev1.Payment) {
			p.Direction = storev1.Direction_DIRECTION_OUTGOING
			p.Refused = "no"
		}), "refused is set on an outgoing"},
		{"payment refused code without a reason", pay(func(p *storev1.Payment) {
			p.Direction = storev1.Direction_DIRECTION_INCOMING
			p.RefusedCode = 9
		}), "refused_code is set on a payment not refused"},
		{"payment refused too long", pay(func(p *storev1.Payment) {
			p.Direction = storev1.Direction_DIRECTION_INCOMING
			p.Refused = strings.Repeat("r", 1025)
		}), "1025 bytes"},
		{"payment idempotency key", pay(func(p *storev1.Payment) { p.IdempotencyKey = strings.Repeat("k", 257) }), "idempotency_key is 257"},
		{"payment bad utf8", pay(func(p *storev1.Payment) { p.Memo = "\xff" }), "does not encode"},
		{"payment too large", pay(func(p *storev1.Payment) { p.Memo = strings.Repeat("m", MaxRecordSize) }), "more than 65536"},
		// Cursors.
		{"cursor empty name", func(b *Batch) error { return b.PutCursor("", nil) }, "cursor name is 0 bytes"},
		{"cursor long name", func(b *Batch) error { return b.PutCursor(strings.Repeat("c", 256), nil) }, "cursor name is 256"},
		{"cursor too large", func(b *Batch) error { return b.PutCursor("c", make([]byte, MaxRecordSize)) }, "more than 65536"},
	}
	s := openTest(t, eng.config(t))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBatch()
			// A valid record first: it must not be written either.
			if err := b.PutCursor("before", []byte("x")); err != nil {
				t.Fatal(err)
			}
			err := tt.put(b)
			wantErr(t, err, ErrInvalid)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			// A valid record after: the batch stays poisoned.
			if err := b.AppendLog(testPayment("after")); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Commit(context.Background(), b); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Commit of a poisoned batch: %v, want ErrInvalid", err)
			}
			if err := s.CommitAsync(b, nil); !errors.Is(err, ErrInvalid) {
				t.Fatalf("CommitAsync of a poisoned batch: %v, want ErrInvalid", err)
			}
			if keys := rawKeys(t, s); len(keys) != 1 {
				t.Fatalf("%d keys on disk after a rejected batch, want only the meta record", len(keys))
			}
		})
	}
	if s.LastSeq() != 0 {
		t.Errorf("LastSeq = %d after rejected batches only", s.LastSeq())
	}
}

func TestIdempotency(t *testing.T) { forEachEngine(t, testIdempotency) }

func testIdempotency(t *testing.T, e testEngine) {
	tests := []struct {
		name string
		// setup runs first, alone.
		setup []string
		// group are batches committed in one group, in order; each is a list
		// of idempotency keys.
		group [][]string
		// want: per batch of group, the DuplicateError seq expected, or -1
		// for success.
		want []int
	}{
		// A key taken by an entry in the database: the batch fails with that
		// entry's seq.
		{"in db", []string{"a", "b"}, [][]string{{"c", "b"}}, []int{2}},
		// A key taken by an earlier batch of the same group: only the later
		// batch fails; the batches around it are unaffected. (Seq 1 is the
		// batch that holds the committer while the group queues.)
		{"in group", nil, [][]string{{"x"}, {"y", "x"}, {"z"}}, []int{-1, 2, -1}},
		// Both at once, with successes between: old=1, blocker=2, n1=3,
		// n2=4, n3=5.
		{"mixed", []string{"old"}, [][]string{{"n1"}, {"old"}, {"n2", "n3"}, {"n3"}, {"n4"}}, []int{-1, 1, -1, 5, -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := e.config(t)
			hold, held, release := holdCommits(t, &cfg)
			s := openTest(t, cfg)
			release() // setup commits alone
			if len(tt.setup) > 0 {
				mustCommit(t, s, paymentBatch(t, tt.setup...))
			}
			before := s.Stats()
			// Hold the committer on a commit of its own so that the whole
			// group queues up behind it.
			hold()
			blocker := make(chan error, 1)
			if err := s.CommitAsync(paymentBatch(t, "blocker-"+tt.name), func(_ Result, err error) { blocker <- err }); err != nil {
				t.Fatal(err)
			}
			held()
			type got struct {
				res Result
				err error
			}
			results := make([]chan got, len(tt.group))
			for i, keys := range tt.group {
				results[i] = make(chan got, 1)
				if err := s.CommitAsync(paymentBatch(t, keys...), func(r Result, err error) { results[i] <- got{r, err} }); err != nil {
					t.Fatal(err)
				}
			}
			release()
			if err := <-blocker; err != nil {
				t.Fatal(err)
			}
			for i, w := range tt.want {
				g := <-results[i]
				if w < 0 {
					if g.err != nil {
						t.Errorf("batch %d: %v, want success", i, g.err)
					}
					continue
				}
				var dup *DuplicateError
				if !errors.As(g.err, &dup) || !errors.Is(g.err, ErrDuplicateKey) {
					t.Fatalf("batch %d: %v, want DuplicateError", i, g.err)
				}
				if dup.Seq != uint64(w) || dup.Field != "idempotency_key" {
					t.Errorf("batch %d: %+v, want idempotency_key taken by seq %d", i, dup, w)
				}
				if len(g.res.Seqs) != 0 {
					t.Errorf("batch %d failed but got seqs %v", i, g.res.Seqs)
				}
			}
			// The group shared one transaction, and refused batches left no gap.
			wantTxns := uint64(1)
			for _, w := range tt.want {
				if w < 0 {
					wantTxns = 2
				}
			}
			st := s.Stats()
			if st.Groups-before.Groups != 2 || st.Txns-before.Txns != wantTxns {
				t.Errorf("took %d groups and %d txns, want 2 and %d", st.Groups-before.Groups, st.Txns-before.Txns, wantTxns)
			}
			if err := s.Verify(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestDuplicateWithinBatch(t *testing.T) { forEachEngine(t, testDuplicateWithinBatch) }

func testDuplicateWithinBatch(t *testing.T, eng testEngine) {
	b := paymentBatch(t, "a")
	var dup *DuplicateError
	if err := b.AppendLog(testPayment("a")); !errors.As(err, &dup) || dup.Seq != 0 || dup.Field != "idempotency_key" {
		t.Fatalf("same payment twice: %v, want DuplicateError on idempotency_key with seq 0", err)
	}
	b = paymentBatch(t, "a")
	e := testPayment("a")
	e.GetPayment().IdempotencyKey = "b"
	if err := b.AppendLog(e); !errors.As(err, &dup) || dup.Field != "id" {
		t.Fatalf("same id twice: %v, want DuplicateError on id", err)
	}
	s := openTest(t, eng.config(t))
	if _, err := s.Commit(context.Background(), b); !errors.Is(err, ErrDuplicateKey) {
		t.Fatalf("Commit: %v, want ErrDuplicateKey", err)
	}
	// A payment id already in the database, under a new key.
	mustCommit(t, s, paymentBatch(t, "c"))
	e = testPayment("c")
	e.GetPayment().IdempotencyKey = "new"
	b = NewBatch()
	_ = b.AppendLog(e)
	if _, err := s.Commit(context.Background(), b); !errors.As(err, &dup) || dup.Field != "id" || dup.Seq != 1 {
		t.Fatalf("Commit: %v, want DuplicateError on id, seq 1", err)
	}
}

func TestAppendNewPayment(t *testing.T) { forEachEngine(t, testAppendNewPayment) }

// An id the caller made new is still refused twice in a batch or a group,
// its key is still checked on disk, but the id itself is not looked up.
func testAppendNewPayment(t *testing.T, eng testEngine) {
	var dup *DuplicateError
	b := NewBatch()
	if err := b.AppendNewPayment(&storev1.LogEntry{Entry: &storev1.LogEntry_ChannelEvent{ChannelEvent: &storev1.ChannelEvent{}}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("AppendNewPayment of a channel event: %v, want ErrInvalid", err)
	}
	b = NewBatch()
	if err := b.AppendNewPayment(testPayment("a")); err != nil {
		t.Fatal(err)
	}
	e := testPayment("a")
	e.GetPayment().IdempotencyKey = "b"
	if err := b.AppendNewPayment(e); !errors.As(err, &dup) || dup.Field != "id" {
		t.Fatalf("same new id twice in a batch: %v, want DuplicateError on id", err)
	}

	cfg := eng.config(t)
	hold, held, release := holdCommits(t, &cfg)
	s := openTest(t, cfg)
	release()
	mustCommit(t, s, paymentBatch(t, "on disk"))

	// The key is checked on disk as ever.
	e = testPayment("fresh id")
	e.GetPayment().IdempotencyKey = "on disk"
	b = NewBatch()
	if err := b.AppendNewPayment(e); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(context.Background(), b); !errors.As(err, &dup) || dup.Field != "idempotency_key" || dup.Seq != 1 {
		t.Fatalf("a new id under a key on disk: %v, want DuplicateError on idempotency_key, seq 1", err)
	}

	// Two batches of one group with the same new id: the later one fails.
	hold()
	blocker := make(chan error, 1)
	if err := s.CommitAsync(paymentBatch(t, "blocker"), func(_ Result, err error) { blocker <- err }); err != nil {
		t.Fatal(err)
	}
	held()
	errs := make(chan error, 2)
	for _, key := range []string{"k1", "k2"} {
		e := testPayment("group")
		e.GetPayment().IdempotencyKey = key
		b := NewBatch()
		if err := b.AppendNewPayment(e); err != nil {
			t.Fatal(err)
		}
		if err := s.CommitAsync(b, func(_ Result, err error) { errs <- err }); err != nil {
			t.Fatal(err)
		}
	}
	release()
	if err := <-blocker; err != nil {
		t.Fatal(err)
	}
	if err := <-errs; err != nil {
		t.Fatalf("the first batch with the new id: %v", err)
	}
	if err := <-errs; !errors.As(err, &dup) || dup.Field != "id" {
		t.Fatalf("the same new id later in the group: %v, want DuplicateError on id", err)
	}

	// The id is not looked up on disk: that is the caller's promise (the
	// same entry through AppendLog is refused: TestDuplicateWithinBatch).
	// A broken promise leaves the index short of a payment, which Verify
	// reports.
	if err := s.Verify(); err != nil {
		t.Fatal(err)
	}
	e = testPayment("on disk")
	e.GetPayment().IdempotencyKey = "another key"
	b = NewBatch()
	if err := b.AppendNewPayment(e); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(context.Background(), b); err != nil {
		t.Fatalf("AppendNewPayment read the id index: %v", err)
	}
	if err := s.Verify(); err == nil {
		t.Fatal("Verify found nothing wrong with two payments under one id")
	}
}

func TestStaleProof(t *testing.T) { forEachEngine(t, testStaleProof) }

func testStaleProof(t *testing.T, e testEngine) {
	s := openTest(t, e.config(t))
	b := NewBatch()
	_ = b.PutProof(0, testProof(1, 5))
	mustCommit(t, s, b)
	differentSig := testProof(1, 5)
	differentSig.Signature = fill(0x77, 65)
	tests := []struct {
		name string
		puts []*storev1.Proof // in one batch, all side 0 of channel 1
		want error            // nil: committed
	}{
		// A newer nonce replaces the stored proof.
		{"newer", []*storev1.Proof{testProof(1, 6)}, nil},
		// The same proof again is a harmless rewrite.
		{"same again", []*storev1.Proof{testProof(1, 6)}, nil},
		// An older nonce is refused.
		{"older", []*storev1.Proof{testProof(1, 4)}, ErrStaleProof},
		// The same nonce with other contents is refused.
		{"same nonce different", []*storev1.Proof{differentSig}, ErrStaleProof},
		// Within a batch, the later put must follow the earlier.
		{"backwards in batch", []*storev1.Proof{testProof(1, 9), testProof(1, 8)}, ErrStaleProof},
		// Forwards in a batch keeps the last.
		{"forwards in batch", []*storev1.Proof{testProof(1, 7), testProof(1, 8)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBatch()
			var err error
			for _, p := range tt.puts {
				if err = b.PutProof(0, p); err != nil {
					break
				}
			}
			if err == nil {
				_, err = s.Commit(context.Background(), b)
			}
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	p, err := s.Proof(chanID(1), 0)
	if err != nil || !proto.Equal(p, testProof(1, 8)) {
		t.Fatalf("Proof = %v, %v, want nonce 8", p, err)
	}
	// Side B is independent of side A.
	b = NewBatch()
	_ = b.PutProof(1, testProof(1, 1))
	mustCommit(t, s, b)
}

func TestCommitMisuse(t *testing.T) { forEachEngine(t, testCommitMisuse) }

func testCommitMisuse(t *testing.T, e testEngine) {
	s := openTest(t, e.config(t))
	b := paymentBatch(t, "a")
	mustCommit(t, s, b)
	if _, err := s.Commit(context.Background(), b); !errors.Is(err, ErrBatchReused) {
		t.Errorf("second Commit: %v, want ErrBatchReused", err)
	}
	if err := b.AppendLog(testPayment("b")); !errors.Is(err, ErrBatchReused) {
		t.Errorf("AppendLog after Commit: %v, want ErrBatchReused", err)
	}
	if _, err := s.Commit(context.Background(), nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("Commit(nil): %v, want ErrInvalid", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Commit(ctx, paymentBatch(t, "c")); !errors.Is(err, context.Canceled) {
		t.Errorf("Commit with a canceled context: %v", err)
	}
	// An empty batch is a barrier: it returns once everything before it is
	// durable.
	if res := mustCommit(t, s, NewBatch()); len(res.Seqs) != 0 {
		t.Errorf("empty batch got seqs %v", res.Seqs)
	}
	if _, err := s.Proof(chanID(1), 2); !errors.Is(err, ErrInvalid) {
		t.Errorf("Proof side 2: %v, want ErrInvalid", err)
	}
	if _, err := s.Cursor(""); !errors.Is(err, ErrInvalid) {
		t.Errorf("Cursor(\"\"): %v, want ErrInvalid", err)
	}
}

func TestContextCanceledWhileQueued(t *testing.T) { forEachEngine(t, testContextCanceledWhileQueued) }

func testContextCanceledWhileQueued(t *testing.T, e testEngine) {
	cfg := e.config(t)
	hold, held, release := holdCommits(t, &cfg)
	s := openTest(t, cfg)
	hold()
	if err := s.CommitAsync(paymentBatch(t, "blocker"), nil); err != nil {
		t.Fatal(err)
	}
	held()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := s.Commit(ctx, paymentBatch(t, "dropped")); errc <- err }()
	waitFor(t, func() bool { s.mu.Lock(); defer s.mu.Unlock(); return len(s.queue) == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Commit: %v, want context.Canceled", err)
	}
	release()
	// The dropped batch is not written; the next one follows without a gap.
	if res := mustCommit(t, s, paymentBatch(t, "next")); res.Seqs[0] != 2 {
		t.Fatalf("next seq %v, want [2]", res.Seqs)
	}
	if _, err := s.PaymentByIdempotencyKey("dropped"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("dropped batch: %v, want ErrNotFound", err)
	}
}

// holdCommits installs a commit hook: after hold, the next commit waits
// in the hook until release; held waits until a commit is waiting there
// (the committer has then taken its group, and with the PostgreSQL engine
// the next group it reads ahead: whatever is queued after held stays
// queued). release may be called any number of times, and is called when
// the test ends, so that a failed test does not leave the committer held
// and its Close hanging.
func holdCommits(t testing.TB, cfg *Config) (hold, held, release func()) {
	gate := make(chan chan struct{}, 1)
	entered := make(chan struct{}, 1)
	cfg.testHookCommit = func() error {
		select {
		case ch := <-gate:
			entered <- struct{}{}
			<-ch
		default:
		}
		return nil
	}
	var cur chan struct{}
	release = func() {
		select {
		case <-gate: // not picked up yet
		default:
		}
		if cur != nil {
			close(cur)
			cur = nil
		}
	}
	hold = func() {
		cur = make(chan struct{})
		gate <- cur
		t.Cleanup(release) // after the store's Close cleanup: runs before it
	}
	held = func() {
		t.Helper()
		select {
		case <-entered:
		case <-time.After(10 * time.Second):
			t.Fatal("no commit reached the hold in 10s")
		}
	}
	return hold, held, release
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestDeleteChannel(t *testing.T) { forEachEngine(t, testDeleteChannel) }

func testDeleteChannel(t *testing.T, e testEngine) {
	s := openTest(t, e.config(t))
	b := NewBatch()
	if err := b.PutChannel(testChannel(1)); err != nil {
		t.Fatal(err)
	}
	if err := b.PutChannel(testChannel(2)); err != nil {
		t.Fatal(err)
	}
	if err := b.PutProof(0, testProof(2, 1)); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, s, b)

	b = NewBatch()
	if err := b.DeleteChannel(chanID(1)); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, s, b)
	if _, err := s.Channel(chanID(1)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted channel: %v, want ErrNotFound", err)
	}
	if chans, err := s.Channels(); err != nil || len(chans) != 1 || [32]byte(chans[0].GetId()) != chanID(2) {
		t.Fatalf("channels after the delete: %v, %v; want only channel 2", chans, err)
	}
	if err := s.Verify(); err != nil {
		t.Fatalf("verify after the delete: %v", err)
	}

	// A channel with proofs goes with them.
	b = NewBatch()
	if err := b.DeleteChannel(chanID(2)); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, s, b)
	if _, err := s.Proof(chanID(2), 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("proof of a deleted channel: %v, want ErrNotFound", err)
	}

	// Deleting and writing the same channel's proofs in one batch is refused.
	b = NewBatch()
	_ = b.PutProof(0, testProof(3, 1))
	wantErr(t, b.DeleteChannel(chanID(3)), ErrInvalid)
	b = NewBatch()
	_ = b.DeleteChannel(chanID(3))
	wantErr(t, b.PutProof(0, testProof(3, 1)), ErrInvalid)
	// A record put after the delete is stored.
	b = NewBatch()
	_ = b.DeleteChannel(chanID(4))
	if err := b.PutChannel(testChannel(4)); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, s, b)
	if _, err := s.Channel(chanID(4)); err != nil {
		t.Fatalf("channel put after its delete in one batch: %v", err)
	}
}

// TestLoadChannels: every channel comes back with the proofs each side
// signed (none, one or both), in id order, from two scans; a proof whose
// channel has no record is corrupt, not dropped.
func TestLoadChannels(t *testing.T) { forEachEngine(t, testLoadChannels) }

func testLoadChannels(t *testing.T, e testEngine) {
	s := openTest(t, e.config(t))
	if recs, err := s.LoadChannels(); err != nil || len(recs) != 0 {
		t.Fatalf("an empty store: %v, %v", recs, err)
	}
	b := NewBatch()
	for _, n := range []byte{3, 1, 2} {
		_ = b.PutChannel(testChannel(n))
	}
	_ = b.PutProof(1, testProof(1, 5)) // channel 1: B's only
	_ = b.PutProof(0, testProof(3, 7)) // channel 3: both
	_ = b.PutProof(1, testProof(3, 9))
	mustCommit(t, s, b)
	recs, err := s.LoadChannels()
	if err != nil {
		t.Fatal(err)
	}
	nonce := func(p *storev1.Proof) uint64 {
		if p == nil {
			return 0
		}
		return p.GetNonce()
	}
	var got []string
	for _, r := range recs {
		got = append(got, fmt.Sprintf("%d:%d/%d", r.Channel.GetId()[0], nonce(r.Proofs[0]), nonce(r.Proofs[1])))
	}
	if strings.Join(got, " ") != "1:0/5 2:0/0 3:7/9" {
		t.Fatalf("loaded %v, want 1:0/5 2:0/0 3:7/9 (channel:A's nonce/B's nonce)", got)
	}
	orphan := proofKey(chanID(9), 0)
	rawPut(t, s, orphan, marshal(t, testProof(9, 1)))
	if _, err := s.LoadChannels(); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "no record") {
		t.Fatalf("a proof without its channel: %v, want ErrCorrupt", err)
	}
}

// TestAwaitedReceipts: an outgoing payment that asks for a receipt is
// awaited from the write that logs it until ReceiptSettled; LoadChannels
// returns the awaited ones with their channel, oldest proof first, and
// skips one whose receipt is on disk. Incoming payments, refunds and
// payments without want_receipt are never awaited; Verify checks that an
// entry names such a payment.
func TestAwaitedReceipts(t *testing.T) { forEachEngine(t, testAwaitedReceipts) }

func testAwaitedReceipts(t *testing.T, e testEngine) {
	s := openTest(t, e.config(t))
	pay := func(key string, nonce uint64, f func(p *storev1.Payment)) *storev1.LogEntry {
		le := testPayment(key)
		p := le.GetPayment()
		p.Nonce, p.WantReceipt = nonce, true
		if f != nil {
			f(p)
		}
		return le
	}
	b := NewBatch()
	_ = b.PutChannel(testChannel(1))
	_ = b.PutChannel(testChannel(2))
	for _, le := range []*storev1.LogEntry{
		pay("late", 9, nil),
		pay("early", 4, nil),
		pay("got", 5, nil),
		pay("none", 6, func(p *storev1.Payment) { p.WantReceipt = false }),
		pay("in", 6, func(p *storev1.Payment) { p.Direction = storev1.Direction_DIRECTION_INCOMING }),
		pay("refund", 6, func(p *storev1.Payment) { p.RefundOf = fill(7, 32) }),
		pay("settled", 7, nil),
	} {
		if err := b.AppendLog(le); err != nil {
			t.Fatal(err)
		}
	}
	mustCommit(t, s, b)
	b = NewBatch()
	got := paymentID("got")
	_ = b.PutReceipt(&storev1.Receipt{PaymentId: got[:], Time: 1, Signature: fill(0x5e, 65)}) // its entry stays: skipped
	_ = b.ReceiptSettled(chanID(1), 7, paymentID("settled"))
	_ = b.ReceiptSettled(chanID(1), 8, paymentID("never")) // not awaited: no error
	mustCommit(t, s, b)
	awaited := func() string {
		t.Helper()
		recs, err := s.LoadChannels()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range recs {
			for _, p := range r.Awaited {
				out = append(out, fmt.Sprintf("%d:%s@%d", r.Channel.GetId()[0], p.GetIdempotencyKey(), p.GetNonce()))
			}
		}
		return strings.Join(out, " ")
	}
	if got, want := awaited(), "1:early@4 1:late@9"; got != want {
		t.Fatalf("awaited %q, want %q", got, want)
	}
	// The entry whose receipt is on disk is reported, for the caller to
	// remove; removed, it is not reported again.
	settled := func() []AwaitedRef {
		t.Helper()
		recs, err := s.LoadChannels()
		if err != nil {
			t.Fatal(err)
		}
		var out []AwaitedRef
		for _, r := range recs {
			out = append(out, r.Settled...)
		}
		return out
	}
	if got := settled(); len(got) != 1 || got[0] != (AwaitedRef{Nonce: 5, Payment: paymentID("got")}) {
		t.Fatalf("settled %v, want payment \"got\" of proof 5", got)
	}
	b = NewBatch()
	_ = b.ReceiptSettled(chanID(1), 5, paymentID("got"))
	mustCommit(t, s, b)
	if got := settled(); len(got) != 0 {
		t.Fatalf("settled after ReceiptSettled: %v, want none", got)
	}
	if err := s.Verify(); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	// Settled in the batch that logs it: never awaited.
	b = NewBatch()
	_ = b.AppendLog(pay("quick", 10, nil))
	_ = b.ReceiptSettled(chanID(1), 10, paymentID("quick"))
	_ = b.ReceiptSettled(chanID(1), 9, paymentID("late"))
	mustCommit(t, s, b)
	if got, want := awaited(), "1:early@4"; got != want {
		t.Fatalf("awaited %q, want %q", got, want)
	}
	// An entry that names an incoming payment, the wrong proof or a
	// payment not logged is corrupt.
	for _, k := range [][]byte{
		awaitedKey(chanID(1), 6, paymentID("in")),
		awaitedKey(chanID(1), 5, paymentID("early")),
		awaitedKey(chanID(2), 4, paymentID("early")),
		awaitedKey(chanID(1), 4, paymentID("missing")),
	} {
		rawPut(t, s, k, []byte{})
		if err := s.Verify(); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Verify with entry %x: %v, want ErrCorrupt", k, err)
		}
		if _, err := s.LoadChannels(); !errors.Is(err, ErrCorrupt) {
			t.Errorf("LoadChannels with entry %x: %v, want ErrCorrupt", k, err)
		}
		rawDelete(t, s, k)
	}
	// One of a channel without a record is passed over, by both.
	b = NewBatch()
	orphan := pay("orphan", 4, func(p *storev1.Payment) { p.ChannelId = fill(9, 32) })
	if err := b.AppendLog(orphan); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, s, b)
	if got, want := awaited(), "1:early@4"; got != want {
		t.Fatalf("with an entry of a channel without a record: awaited %q, want %q", got, want)
	}
	if err := s.Verify(); err != nil {
		t.Fatalf("Verify with an entry of a channel without a record: %v", err)
	}
}

// TestAwaitedReceiptsSnapshot: an awaited entry (an empty value) goes
// through Snapshot and Restore, from and into either engine: the restored
// store passes Verify, LoadChannels returns the entry, and ReceiptSettled
// removes it there.
func TestAwaitedReceiptsSnapshot(t *testing.T) {
	for _, from := range testEngines {
		for _, to := range testEngines {
			t.Run(from.name+"-to-"+to.name, func(t *testing.T) {
				s := openTest(t, from.config(t))
				b := NewBatch()
				if err := b.PutChannel(testChannel(1)); err != nil {
					t.Fatal(err)
				}
				le := testPayment("await")
				le.GetPayment().WantReceipt = true
				if err := b.AppendLog(le); err != nil {
					t.Fatal(err)
				}
				mustCommit(t, s, b)
				if v := rawGet(t, s, awaitedKey(chanID(1), 3, paymentID("await"))); len(v) != 0 {
					t.Fatalf("the entry's value is %x, want empty", v)
				}
				var buf bytes.Buffer
				if _, err := s.Snapshot(&buf); err != nil {
					t.Fatal(err)
				}
				cfg := to.restoreConfig(t)
				if _, err := Restore(cfg, &buf); err != nil {
					t.Fatal(err)
				}
				got := openTest(t, cfg)
				count := func() int {
					t.Helper()
					recs, err := got.LoadChannels()
					if err != nil || len(recs) != 1 {
						t.Fatalf("LoadChannels: %v, %v", recs, err)
					}
					return len(recs[0].Awaited)
				}
				if n := count(); n != 1 {
					t.Fatalf("restored store awaits %d receipts, want 1", n)
				}
				b = NewBatch()
				if err := b.ReceiptSettled(chanID(1), 3, paymentID("await")); err != nil {
					t.Fatal(err)
				}
				mustCommit(t, got, b)
				if n := count(); n != 0 {
					t.Fatalf("after ReceiptSettled the restored store awaits %d receipts, want 0", n)
				}
				if err := got.Verify(); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}
