package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"google.golang.org/protobuf/proto"

	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
	"github.com/tinypay/tinypay/store/pgtest"
)

// testConfig returns a config for a fresh badger store in a temp dir.
// fsync is off unless a test turns it on: tests that need real durability
// do.
func testConfig(t testing.TB) Config {
	cfg := DefaultConfig(t.TempDir())
	cfg.SyncWrites = false
	return cfg
}

// testEngine is one engine the conformance suite runs on.
type testEngine struct{ name string }

var (
	badgerEngineT   = testEngine{"badger"}
	postgresEngineT = testEngine{"postgres"}
	testEngines     = []testEngine{badgerEngineT, postgresEngineT}
)

// forEachEngine runs f as a subtest per engine: "badger", and "postgres"
// against the test binary's PostgreSQL server (pgtest; skipped with a
// message where the server binaries are missing).
func forEachEngine(t *testing.T, f func(t *testing.T, e testEngine)) {
	for _, e := range testEngines {
		t.Run(e.name, func(t *testing.T) { f(t, e) })
	}
}

func (e testEngine) postgres() bool { return e == postgresEngineT }

// config returns a config for a fresh store: a new temp dir for badger, a
// new database for PostgreSQL (with a short lease, so that a test that
// reopens after a kill waits little). fsync (synchronous_commit) is off
// unless a test turns it on.
func (e testEngine) config(t testing.TB) Config {
	if !e.postgres() {
		return testConfig(t)
	}
	return pgTestConfig(pgtest.NewDatabase(t))
}

// pgTestConfig is the PostgreSQL test config for the database at url.
func pgTestConfig(url string) Config {
	cfg := DefaultPostgresConfig(url, "test-node")
	cfg.SyncWrites = false
	// Short, so that a test that reopens after a kill waits little, but
	// not so short that a renewal on a busy machine under -race misses
	// the local end of the lease (four fifths of it: ErrLeaseExpired).
	cfg.Postgres.LeaseTTL = 2 * time.Second
	cfg.Postgres.LeaseWait = 10 * time.Second
	return cfg
}

// restoreConfig returns a config for a store Restore creates: a directory
// that does not exist yet, or a new database.
func (e testEngine) restoreConfig(t testing.TB) Config {
	cfg := e.config(t)
	if !e.postgres() {
		cfg.Dir = filepath.Join(t.TempDir(), "restored")
	}
	return cfg
}

// smallTxns makes the engine's transactions hold about 157 KB.
func (e testEngine) smallTxns(cfg *Config) {
	if e.postgres() {
		cfg.Postgres.MaxTxnBytes = 157 << 10
	} else {
		cfg.MemTableSize = 1 << 20
	}
}

// assertNothingLeft checks that a failed Restore left nothing behind: no
// directory, or no record of the node.
func (e testEngine) assertNothingLeft(t testing.TB, cfg Config) {
	t.Helper()
	if !e.postgres() {
		if _, err := os.Stat(cfg.Dir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("restore left %s behind: %v", cfg.Dir, err)
		}
		return
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, cfg.Postgres.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM tinypay_kv WHERE node = $1", cfg.Postgres.Node).Scan(&n); err != nil || n != 0 {
		t.Fatalf("restore left %d records of the node behind: %v", n, err)
	}
}

func openTest(t testing.TB, cfg Config) *Store {
	t.Helper()
	s, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func fill(n byte, size int) []byte { return bytes.Repeat([]byte{n}, size) }

func chanID(n byte) [32]byte { return [32]byte(fill(n, 32)) }

// testChannel returns a valid channel record with every field set.
func testChannel(n byte) *storev1.Channel {
	return &storev1.Channel{
		Version:         ChannelVersion,
		Id:              fill(n, 32),
		ChainId:         1337,
		Adjudicator:     fill(0xad, 20),
		ParticipantA:    fill(0xa0, 20),
		ParticipantB:    fill(0xb0, 20),
		Asset:           make([]byte, 20),
		ChallengePeriod: 3600,
		Salt:            fill(0x5a, 32),
		Self:            1,
		Phase:           storev1.Phase_PHASE_OPEN,
		DepositA:        []byte{0x0d, 0xe0, 0xb6, 0xb3, 0xa7, 0x64, 0x00, 0x00},
		DepositB:        []byte{0x01},
		ChainWithdrawnA: nil,
		ChainWithdrawnB: []byte{0x01},
		WithdrawnA:      []byte{0x02},
		WithdrawnB:      fill(0xff, 32),
		Acked:           7,
		Withdrawal: &storev1.Withdrawal{
			Participant: 1, Total: []byte{0x02}, Expiry: 99, SigA: fill(0x11, 65), SigB: nil,
		},
		Close: &storev1.CloseTerms{
			BalanceA: []byte{0x03}, BalanceB: nil, Expiry: 100, SigA: fill(0x12, 65), SigB: make([]byte, 65),
		},
		Dispute: &storev1.Dispute{
			Closer: 0, SettleAfter: 12345, TransferredA: []byte{0x04}, TransferredB: []byte{0x05},
		},
		CreatedUnixNano: 1,
		UpdatedUnixNano: 2,
	}
}

func testProof(n byte, nonce uint64) *storev1.Proof {
	return &storev1.Proof{
		ChannelId:   fill(n, 32),
		Nonce:       nonce,
		Transferred: []byte{byte(nonce>>8) | 1, byte(nonce)},
		Signature:   fill(0x5e, 65),
	}
}

func paymentID(key string) [32]byte { return sha256.Sum256([]byte("id/" + key)) }

// testPayment returns a payment log entry whose id derives from key; key is
// also its idempotency key.
func testPayment(key string) *storev1.LogEntry {
	id := paymentID(key)
	return &storev1.LogEntry{
		TimeUnixNano: 42,
		Entry: &storev1.LogEntry_Payment{Payment: &storev1.Payment{
			Id:             id[:],
			IdempotencyKey: key,
			ChannelId:      fill(1, 32),
			Direction:      storev1.Direction_DIRECTION_OUTGOING,
			Amount:         []byte{0x01, 0x00},
			Cumulative:     []byte{0x02, 0x00},
			Nonce:          3,
			TimeUnixNano:   41,
			ItemId:         "item-" + key,
			Memo:           "memo",
			Peer:           fill(0xb0, 20),
		}},
	}
}

func paymentBatch(t testing.TB, keys ...string) *Batch {
	t.Helper()
	b := NewBatch()
	for _, k := range keys {
		if err := b.AppendLog(testPayment(k)); err != nil {
			t.Fatalf("AppendLog(%q): %v", k, err)
		}
	}
	return b
}

func mustCommit(t testing.TB, s *Store, b *Batch) Result {
	t.Helper()
	res, err := s.Commit(context.Background(), b)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return res
}

// rawKeys returns every key in the database, in order.
func rawKeys(t testing.TB, s *Store) [][]byte {
	t.Helper()
	var keys [][]byte
	err := s.eng.view(func(r reader) error {
		return r.scan(nil, nil, false, 0, func(k, _ []byte) error {
			keys = append(keys, append([]byte(nil), k...))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// rawGet returns the bytes stored under k.
func rawGet(t testing.TB, s *Store, k []byte) []byte {
	t.Helper()
	var v []byte
	err := s.eng.view(func(r reader) error {
		var err error
		v, err = r.get(k)
		return err
	})
	if err != nil {
		t.Fatalf("raw get %x: %v", k, err)
	}
	return v
}

// rawPut writes bytes directly with the engine, bypassing every check of
// the store.
func rawPut(t testing.TB, s *Store, k, v []byte) {
	t.Helper()
	rawWrite(t, s, func(txn writeTxn) error { return txn.set(k, v) })
}

// rawDelete deletes a key directly with the engine.
func rawDelete(t testing.TB, s *Store, k []byte) {
	t.Helper()
	rawWrite(t, s, func(txn writeTxn) error { return txn.delete(k) })
}

func rawWrite(t testing.TB, s *Store, fn func(writeTxn) error) {
	t.Helper()
	txn, err := s.eng.begin()
	if err != nil {
		t.Fatal(err)
	}
	defer txn.discard()
	if err := fn(txn); err != nil {
		t.Fatal(err)
	}
	if err := txn.commit(); err != nil {
		t.Fatal(err)
	}
}

func marshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func wantErr(t testing.TB, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("error %v, want %v", err, kind)
	}
}

func withSeqField(e *storev1.LogEntry, seq uint64) *storev1.LogEntry {
	c := proto.Clone(e).(*storev1.LogEntry)
	c.Seq = seq
	return c
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
