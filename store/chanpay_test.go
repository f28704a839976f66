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

// chanPayment is a payment of proof nonce of channel ch in direction dir.
func chanPayment(ch byte, dir storev1.Direction, nonce uint64, key string) *storev1.LogEntry {
	e := testPayment(key)
	p := e.GetPayment()
	p.ChannelId = fill(ch, 32)
	p.Direction = dir
	p.Nonce = nonce
	return e
}

const (
	outgoing = storev1.Direction_DIRECTION_OUTGOING
	incoming = storev1.Direction_DIRECTION_INCOMING
)

// TestChannelPayments: the payments of one channel's proofs in one
// direction with a nonce in (after, upTo], newest first, at most limit;
// other channels, the other direction and other log entries are not
// among them, however they interleave in the log.
func TestChannelPayments(t *testing.T) { forEachEngine(t, testChannelPayments) }

func testChannelPayments(t *testing.T, e testEngine) {
	s := openTest(t, e.config(t))
	var want []string // channel 1's outgoing payments, oldest first
	for nonce := uint64(1); nonce <= 20; nonce++ {
		b := NewBatch()
		for i := range 2 { // two payments in each proof
			k := fmt.Sprintf("c1-%d-%d", nonce, i)
			want = append(want, k)
			mustAppend(t, b, chanPayment(1, outgoing, nonce, k))
		}
		mustAppend(t, b, chanPayment(1, incoming, nonce, fmt.Sprintf("c1in-%d", nonce)))
		mustAppend(t, b, chanPayment(2, outgoing, nonce, fmt.Sprintf("c2-%d", nonce)))
		mustAppend(t, b, chanPayment(0, outgoing, nonce, fmt.Sprintf("c0-%d", nonce))) // a channel that sorts before
		if err := b.PutCursor("x", []byte{byte(nonce)}); err != nil {
			t.Fatal(err)
		}
		mustCommit(t, s, b)
	}
	// Not of a proof: no nonce.
	b := NewBatch()
	mustAppend(t, b, chanPayment(1, outgoing, 0, "no-nonce"))
	mustCommit(t, s, b)

	keys := keysOf
	newestFirst := func(from, to int) []string { // want[from:to], reversed
		var out []string
		for i := to - 1; i >= from; i-- {
			out = append(out, want[i])
		}
		return out
	}
	for _, tc := range []struct {
		after, upTo uint64
		limit       int
		want        []string
	}{
		{0, ^uint64(0), 1000, newestFirst(0, 40)},
		{0, 20, 1000, newestFirst(0, 40)},
		{5, 7, 1000, newestFirst(10, 14)}, // nonces 6 and 7
		{19, 20, 1000, newestFirst(38, 40)},
		{20, ^uint64(0), 1000, nil},
		{7, 7, 1000, nil},
		{9, 3, 1000, nil},
		{0, 20, 3, newestFirst(37, 40)}, // the limit cuts inside a proof: the caller sees it
	} {
		got, err := s.ChannelPayments(chanID(1), outgoing, tc.after, tc.upTo, tc.limit)
		if err != nil {
			t.Fatalf("(%d, %d] limit %d: %v", tc.after, tc.upTo, tc.limit, err)
		}
		if g := keys(got); fmt.Sprint(g) != fmt.Sprint(tc.want) {
			t.Errorf("(%d, %d] limit %d: %v, want %v", tc.after, tc.upTo, tc.limit, g, tc.want)
		}
	}
	// One proof's payments apart in the log: two entries, newest first.
	b = NewBatch()
	mustAppend(t, b, chanPayment(1, outgoing, 21, "x1"))
	mustAppend(t, b, chanPayment(2, outgoing, 21, "y"))
	mustAppend(t, b, chanPayment(1, outgoing, 21, "x2"))
	mustCommit(t, s, b)
	if got, err := s.ChannelPayments(chanID(1), outgoing, 19, 21, 3); err != nil || fmt.Sprint(keys(got)) != "[x2 x1 c1-20-1]" {
		t.Errorf("a proof in two runs: %v, %v", keys(got), err)
	}
	got, err := s.ChannelPayments(chanID(1), incoming, 18, 20, 10)
	if err != nil || fmt.Sprint(keys(got)) != "[c1in-20 c1in-19]" {
		t.Errorf("incoming: %v, %v", keys(got), err)
	}
	if got, err := s.ChannelPayments(chanID(9), outgoing, 0, ^uint64(0), 10); err != nil || len(got) != 0 {
		t.Errorf("a channel without payments: %v, %v", keys(got), err)
	}
	for _, bad := range []struct {
		dir   storev1.Direction
		limit int
	}{{outgoing, 0}, {outgoing, -1}, {outgoing, MaxChannelPayments + 1}, {storev1.Direction_DIRECTION_UNSPECIFIED, 1}, {7, 1}} {
		_, err := s.ChannelPayments(chanID(1), bad.dir, 0, 10, bad.limit)
		wantErr(t, err, ErrInvalid)
	}
	if err := s.Verify(); err != nil {
		t.Fatal(err)
	}
}

func keysOf(ps []*storev1.Payment) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.GetIdempotencyKey())
	}
	return out
}

func mustAppend(t testing.TB, b *Batch, e *storev1.LogEntry) {
	t.Helper()
	if err := b.AppendLog(e); err != nil {
		t.Fatalf("append %v: %v", e, err)
	}
}

// asFormat1 makes s a store as a format 1 binary left it: no index by
// channel, meta version 1.
func asFormat1(t *testing.T, s *Store) {
	t.Helper()
	for _, k := range rawKeys(t, s) {
		if k[0] == prefixChanPay {
			rawDelete(t, s, k)
		}
	}
	rawPut(t, s, metaKey, marshal(t, &storev1.StoreMeta{FormatVersion: 1}))
}

// TestUpgradeFromFormat1: a store a format 1 binary wrote (no index of
// payments by channel) is upgraded by Open: every payment of a proof gets
// its entry, byte for byte as a new write makes it, the meta record says
// format 2, and Verify agrees. A Verify before the upgrade finds the
// entries missing; a format 1 snapshot restores into an upgraded store.
func TestUpgradeFromFormat1(t *testing.T) { forEachEngine(t, testUpgradeFromFormat1) }

func testUpgradeFromFormat1(t *testing.T, e testEngine) {
	cfg := e.config(t)
	s := openTest(t, cfg)
	// More than one upgrade page of log entries, some of them no payment
	// of a proof; two payments in each proof, one entry for both.
	const payments = 1500
	for i := 0; i < payments; i += 100 {
		b := NewBatch()
		for j := i; j < i+100; j++ {
			k := j / 2
			mustAppend(t, b, chanPayment(byte(k%3), outgoing, uint64(k/3+1), fmt.Sprintf("p%d", j)))
		}
		mustAppend(t, b, chanPayment(1, incoming, 0, fmt.Sprintf("n%d", i)))
		mustCommit(t, s, b)
	}
	before := rawKeys(t, s)
	asFormat1(t, s)
	if err := s.Verify(); err == nil {
		t.Fatal("Verify passed a format 2 store without the index by channel")
	}
	var snap bytes.Buffer
	if _, err := s.Snapshot(&snap); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, cfg)
	if got := rawGet(t, s, metaKey); !bytes.Equal(got, []byte{0x08, FormatVersion}) {
		t.Fatalf("meta after the upgrade %x", got)
	}
	if after := rawKeys(t, s); fmt.Sprintf("%x", after) != fmt.Sprintf("%x", before) {
		t.Fatalf("after the upgrade %d keys, a format 2 store has %d (or other ones)", len(after), len(before))
	}
	if err := s.Verify(); err != nil {
		t.Fatal(err)
	}
	got, err := s.ChannelPayments(chanID(1), outgoing, 0, ^uint64(0), 10)
	// Channel 1's newest proofs: 250 (p1496, p1497), 249 (p1490, p1491), ...
	if k := keysOf(got); err != nil || fmt.Sprint(k) != "[p1497 p1496 p1491 p1490 p1485 p1484 p1479 p1478 p1473 p1472]" {
		t.Fatalf("after the upgrade: %v, %v", k, err)
	}
	// New payments are indexed as before.
	mustCommit(t, s, paymentBatch(t, "new"))
	if err := s.Verify(); err != nil {
		t.Fatal(err)
	}

	// The format 1 snapshot: its header says 1, as a format 1 binary wrote.
	raw := snap.Bytes()
	raw[len(snapshotMagic)] = 1
	rcfg := e.restoreConfig(t)
	if _, err := Restore(rcfg, bytes.NewReader(raw)); err != nil {
		t.Fatalf("restore a format 1 snapshot: %v", err)
	}
	r := openTest(t, rcfg)
	if err := r.Verify(); err != nil {
		t.Fatal(err)
	}
	if got := rawGet(t, r, metaKey); !bytes.Equal(got, []byte{0x08, FormatVersion}) {
		t.Fatalf("meta after restoring a format 1 snapshot %x", got)
	}
	got2, err := r.ChannelPayments(chanID(1), outgoing, 0, ^uint64(0), 10)
	if err != nil || len(got2) != 10 || !proto.Equal(got2[0], got[0]) {
		t.Fatalf("restored: %v, %v", got2, err)
	}
}

// TestUpgradeInterrupted: a crash part way through an upgrade (some
// entries written, meta still format 1) is upgraded again at the next
// Open.
func TestUpgradeInterrupted(t *testing.T) {
	cfg := testConfig(t)
	s := openTest(t, cfg)
	mustCommit(t, s, paymentBatch(t, "a", "b"))
	b := NewBatch()
	mustAppend(t, b, chanPayment(1, outgoing, 4, "c"))
	mustCommit(t, s, b)
	asFormat1(t, s)
	rawPut(t, s, chanPayKey(chanID(1), outgoing, 3, 1), []byte{0, 0, 0, 2}) // the first page's entry made it
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, cfg)
	if err := s.Verify(); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ChannelPayments(chanID(1), outgoing, 0, 10, 10); err != nil || len(got) != 3 {
		t.Fatalf("%d payments, %v", len(got), err)
	}
}

// TestVerifyChannelIndex: Verify reports an entry of the index by channel
// missing, pointing nowhere, or pointing to another payment.
func TestVerifyChannelIndex(t *testing.T) {
	for _, tc := range []struct {
		name string
		mess func(t *testing.T, s *Store)
		want string
	}{
		{"missing", func(t *testing.T, s *Store) {
			rawDelete(t, s, chanPayKey(chanID(1), outgoing, 3, 1))
		}, "counts 0 payments, the log holds 2"},
		{"one short", func(t *testing.T, s *Store) {
			rawPut(t, s, chanPayKey(chanID(1), outgoing, 3, 1), []byte{0, 0, 0, 1})
		}, "counts 1 payments, the log holds 2"},
		{"too many", func(t *testing.T, s *Store) {
			rawPut(t, s, chanPayKey(chanID(1), outgoing, 3, 1), []byte{0, 0, 0, 3})
		}, "the log holds 2 of them"},
		{"nowhere", func(t *testing.T, s *Store) {
			rawPut(t, s, chanPayKey(chanID(1), outgoing, 3, 9), []byte{0, 0, 0, 1})
		}, "the log holds 0 of them"},
		{"another payment", func(t *testing.T, s *Store) {
			rawPut(t, s, chanPayKey(chanID(2), outgoing, 3, 1), []byte{0, 0, 0, 1})
		}, "not a payment of that proof"},
		{"another proof", func(t *testing.T, s *Store) {
			rawPut(t, s, chanPayKey(chanID(1), outgoing, 2, 1), []byte{0, 0, 0, 1})
		}, "not a payment of that proof"},
		{"counts none", func(t *testing.T, s *Store) {
			rawPut(t, s, chanPayKey(chanID(1), outgoing, 3, 1), []byte{0, 0, 0, 0})
		}, "counts no payment"},
		{"a short value", func(t *testing.T, s *Store) {
			rawPut(t, s, chanPayKey(chanID(1), outgoing, 3, 1), []byte{1})
		}, "value is 1 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, testConfig(t))
			mustCommit(t, s, paymentBatch(t, "a", "b"))
			tc.mess(t, s)
			err := s.Verify()
			wantErr(t, err, ErrCorrupt)
			if !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
				t.Fatalf("%v, want %q", err, tc.want)
			}
		})
	}
}

// countingEngine counts the reads of its views: scans, gets, and getMany
// (which it passes on where the engine's reader has it).
type countingEngine struct {
	engine
	scans, gets, manys int
}

func (e *countingEngine) view(fn func(r reader) error) error {
	return e.engine.view(func(r reader) error {
		if m, ok := r.(multiGetter); ok {
			return fn(&countingMultiReader{countingReader{r, e}, m})
		}
		return fn(&countingReader{r, e})
	})
}

type countingReader struct {
	r reader
	e *countingEngine
}

func (c *countingReader) get(k []byte) ([]byte, error) { c.e.gets++; return c.r.get(k) }
func (c *countingReader) scan(lo, hi []byte, reverse bool, limitHint int, fn func(k, v []byte) error) error {
	c.e.scans++
	return c.r.scan(lo, hi, reverse, limitHint, fn)
}

type countingMultiReader struct {
	countingReader
	m multiGetter
}

func (c *countingMultiReader) getMany(keys [][]byte) (map[string][]byte, error) {
	c.e.manys++
	return c.m.getMany(keys)
}

// TestChannelPaymentsRoundTrips: reading a channel's 4096 newest proofs of
// one payment each (what a RecoverRequest asks for) takes one scan of the
// index and one read of their log entries on PostgreSQL, not a query a
// proof (found by a review: 4,100 round trips, 40 times a log scan of the
// same entries).
func TestChannelPaymentsRoundTrips(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		s := openTest(t, e.config(t))
		const proofs = 4096
		for i := 0; i < proofs; i += 512 {
			b := NewBatch()
			for j := i; j < i+512; j++ {
				mustAppend(t, b, chanPayment(1, incoming, uint64(j+1), fmt.Sprintf("p%d", j)))
			}
			mustCommit(t, s, b)
		}
		ce := &countingEngine{engine: s.eng}
		s.eng = ce
		got, err := s.ChannelPayments(chanID(1), incoming, 0, ^uint64(0), proofs+1)
		s.eng = ce.engine
		if err != nil || len(got) != proofs || got[0].GetNonce() != proofs || got[proofs-1].GetNonce() != 1 {
			t.Fatalf("%d payments, %v", len(got), err)
		}
		if e.postgres() && (ce.scans != 1 || ce.manys != 1 || ce.gets != 0) {
			t.Fatalf("%d scans, %d gets, %d multi-gets: want one scan and one multi-get", ce.scans, ce.gets, ce.manys)
		}
		if !e.postgres() && ce.scans != 1 {
			t.Fatalf("%d scans of the index, want 1", ce.scans)
		}
	})
}

// TestChannelIndexOverlap: an entry that counts a payment another entry of
// the same proof counts too, while another proof's entry is missing, keeps
// the total right: Verify and ChannelPayments both report it, instead of
// returning one payment twice and none of the other (found by a review).
func TestChannelIndexOverlap(t *testing.T) {
	s := openTest(t, testConfig(t))
	b := NewBatch()
	mustAppend(t, b, chanPayment(1, outgoing, 3, "a")) // seq 1
	mustAppend(t, b, chanPayment(1, outgoing, 3, "b")) // seq 2
	mustCommit(t, s, b)
	b = NewBatch()
	mustAppend(t, b, chanPayment(1, outgoing, 4, "c")) // seq 3
	mustCommit(t, s, b)
	rawPut(t, s, chanPayKey(chanID(1), outgoing, 3, 2), []byte{0, 0, 0, 1}) // overlaps (3, from 1, 2 of them)
	rawDelete(t, s, chanPayKey(chanID(1), outgoing, 4, 3))
	err := s.Verify()
	wantErr(t, err, ErrCorrupt)
	if !strings.Contains(err.Error(), "overlaps") {
		t.Fatalf("Verify: %v", err)
	}
	got, err := s.ChannelPayments(chanID(1), outgoing, 0, 10, 10)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ChannelPayments: %v, %v; want ErrCorrupt", keysOf(got), err)
	}
}

// TestUpgradeMarked: the upgrade marks the meta record before its first
// write (an older binary refuses the store from then on) and clears the
// mark last; a store left marked (a crash part way) is upgraded again.
func TestUpgradeMarked(t *testing.T) {
	cfg := testConfig(t)
	s := openTest(t, cfg)
	mustCommit(t, s, paymentBatch(t, "a", "b"))
	asFormat1(t, s)
	rawPut(t, s, metaKey, marshal(t, &storev1.StoreMeta{FormatVersion: FormatVersion, Upgrading: true}))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, cfg)
	if got := rawGet(t, s, metaKey); !bytes.Equal(got, []byte{0x08, FormatVersion}) {
		t.Fatalf("meta after the upgrade %x, want the mark cleared", got)
	}
	if err := s.Verify(); err != nil {
		t.Fatal(err)
	}
}
