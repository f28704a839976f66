package store

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"

	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
)

// Key prefixes. One byte each; see doc.go for the layout. Never reuse or
// renumber one: a prefix this binary does not know is reported as corrupt.
const (
	prefixMeta      byte = 0x00 // 0x00                   -> StoreMeta
	prefixChannel   byte = 0x01 // 0x01 id(32)            -> Channel
	prefixProof     byte = 0x02 // 0x02 id(32) side(1)    -> Proof
	prefixLog       byte = 0x03 // 0x03 seq(8, BE)        -> LogEntry
	prefixIdemKey   byte = 0x04 // 0x04 idempotency key   -> seq(8, BE)
	prefixPaymentID byte = 0x05 // 0x05 payment id(32)    -> seq(8, BE)
	prefixCursor    byte = 0x06 // 0x06 cursor name       -> Cursor
	prefixReceipt   byte = 0x07 // 0x07 payment id(32)    -> Receipt
	prefixStream    byte = 0x08 // 0x08 stream id(16)     -> Stream
	prefixToken     byte = 0x09 // 0x09 token id(16)      -> AppToken
	prefixOffer     byte = 0x0a // 0x0a offer id(32)      -> seq(8, BE) of the incoming payment that paid it (once-only offers)
	prefixTransfer  byte = 0x0b // 0x0b idempotency key   -> Transfer (the node's own funds, on chain)
	prefixOfferUses byte = 0x0c // 0x0c offer id(32)      -> count(8, BE) of the incoming payments of a reusable offer
	prefixOfferPaid byte = 0x0d // 0x0d offer id(32) payer(20) -> seq(8, BE) of that payer's payment of a per-payer offer
	prefixAwaited   byte = 0x0e // 0x0e channel id(32) nonce(8, BE) payment id(32) -> empty: an outgoing payment whose receipt is awaited
	prefixChanPay   byte = 0x0f // 0x0f channel id(32) direction(1) nonce(8, BE) first seq(8, BE) -> count(4, BE): a run of payments of a channel's proof in the log (format 2)
)

// Offer use policies, as Payment.offer_uses holds them (the values of
// crypto.OfferUses, which the payee signs).
const (
	offerOnce      = 0
	offerPerPayer  = 1
	offerLimited   = 2
	offerUnlimited = 3
)

const (
	shortIDLen = 16 // stream and token ids
	idLen      = 32
	addrLen    = 20
	sigLen     = 65
	amountLen  = 32
	seqLen     = 8
	metaKeyLen = 1

	// MaxIdempotencyKeyLen is the longest idempotency key accepted, in
	// bytes.
	MaxIdempotencyKeyLen = 256
	// MaxReasonLen is the longest refusal reason kept with a payment, in
	// bytes.
	MaxReasonLen = 1024
	// MaxCursorNameLen is the longest cursor name accepted, in bytes.
	MaxCursorNameLen = 255
	// MaxRecordSize is the largest encoded record accepted, in bytes.
	MaxRecordSize = 64 << 10
)

// FormatVersion is the version of the key layout and records that this
// package reads and writes, stored in the StoreMeta record. Version 2
// added the index of payments by channel (0x0f); Open upgrades a version 1
// store by writing it (upgradeStore), and an older binary refuses the
// upgraded store instead of writing payments the index would lack.
const FormatVersion = 2

// minFormatVersion is the oldest version Open (and Restore) reads, to
// upgrade it.
const minFormatVersion = 1

// ChannelVersion is the Channel record version this package writes and
// reads; Channel.version must be set to it.
const ChannelVersion = 1

var metaKey = []byte{prefixMeta}

func channelKey(id [idLen]byte) []byte {
	k := make([]byte, 1+idLen)
	k[0] = prefixChannel
	copy(k[1:], id[:])
	return k
}

func proofKey(id [idLen]byte, side uint32) []byte {
	k := make([]byte, 1+idLen+1)
	k[0] = prefixProof
	copy(k[1:], id[:])
	k[1+idLen] = byte(side)
	return k
}

// proofKeyArr is a proof key as an array, for use as a map key.
type proofKeyArr [1 + idLen + 1]byte

func logKey(seq uint64) []byte {
	k := make([]byte, 1+seqLen)
	k[0] = prefixLog
	binary.BigEndian.PutUint64(k[1:], seq)
	return k
}

func idemKey(key string) []byte {
	k := make([]byte, 1+len(key))
	k[0] = prefixIdemKey
	copy(k[1:], key)
	return k
}

func paymentIDKey(id [idLen]byte) []byte {
	k := make([]byte, 1+idLen)
	k[0] = prefixPaymentID
	copy(k[1:], id[:])
	return k
}

func receiptKey(id [idLen]byte) []byte { return append([]byte{prefixReceipt}, id[:]...) }

func awaitedKey(ch [idLen]byte, nonce uint64, payment [idLen]byte) []byte {
	k := make([]byte, 0, 1+idLen+seqLen+idLen)
	k = append(append(k, prefixAwaited), ch[:]...)
	k = binary.BigEndian.AppendUint64(k, nonce)
	return append(k, payment[:]...)
}

func chanPayKey(ch [idLen]byte, dir storev1.Direction, nonce, first uint64) []byte {
	k := make([]byte, 0, chanPayKeyLen)
	k = append(append(k, prefixChanPay), ch[:]...)
	k = append(k, byte(dir))
	k = binary.BigEndian.AppendUint64(k, nonce)
	return binary.BigEndian.AppendUint64(k, first)
}

// chanPayKeyLen is the length of a key of the index of payments by
// channel; its value is a count of chanPayCountLen bytes.
const (
	chanPayKeyLen   = 1 + idLen + 1 + seqLen + seqLen
	chanPayCountLen = 4
)

// indexedByChannel: payment p has its place in the index of payments by
// channel: it is of a proof (a nonce) of a channel.
func indexedByChannel(p *storev1.Payment) bool {
	return len(p.GetChannelId()) == idLen && p.GetNonce() > 0 &&
		(p.GetDirection() == storev1.Direction_DIRECTION_INCOMING || p.GetDirection() == storev1.Direction_DIRECTION_OUTGOING)
}

// chanPay is where a payment goes in the index of payments by channel.
type chanPay struct {
	ch    [idLen]byte
	dir   storev1.Direction
	nonce uint64
}

func chanPayOf(p *storev1.Payment) chanPay {
	return chanPay{ch: [idLen]byte(p.GetChannelId()), dir: p.GetDirection(), nonce: p.GetNonce()}
}

// chanRuns collects the index of payments by channel for log entries in
// seq order: consecutive payments of one proof (as a batch appends them)
// make one entry, so the index costs a write per proof, not per payment.
type chanRuns struct {
	cur   chanPay
	first uint64
	n     uint32
	set   func(k, v []byte) error
}

// add notes payment c at seq; it writes the run before it if c does not
// continue it.
func (r *chanRuns) add(c chanPay, seq uint64) error {
	if r.n > 0 && c == r.cur && seq == r.first+uint64(r.n) && r.n < ^uint32(0) {
		r.n++
		return nil
	}
	if err := r.flush(); err != nil {
		return err
	}
	r.cur, r.first, r.n = c, seq, 1
	return nil
}

// flush writes the run in progress, if any.
func (r *chanRuns) flush() error {
	if r.n == 0 {
		return nil
	}
	n := r.n
	r.n = 0
	return r.set(chanPayKey(r.cur.ch, r.cur.dir, r.cur.nonce, r.first), binary.BigEndian.AppendUint32(make([]byte, 0, chanPayCountLen), n))
}

// parseChanPay returns the fields of an entry of the index by channel
// (whose key checkKey passed).
func parseChanPay(k, v []byte) (c chanPay, first uint64, n uint32, err error) {
	if len(v) != chanPayCountLen {
		return c, 0, 0, corrupt(k, "channel payment index value is %d bytes, want %d", len(v), chanPayCountLen)
	}
	if n = binary.BigEndian.Uint32(v); n == 0 {
		return c, 0, 0, corrupt(k, "channel payment index entry counts no payment")
	}
	c = chanPay{ch: [idLen]byte(k[1 : 1+idLen]), dir: storev1.Direction(k[1+idLen]), nonce: binary.BigEndian.Uint64(k[1+idLen+1:])}
	first = binary.BigEndian.Uint64(k[1+idLen+1+seqLen:])
	if first == 0 || first+uint64(n)-1 < first {
		return c, 0, 0, corrupt(k, "channel payment index entry of seqs %d and %d after it", first, n-1)
	}
	return c, first, n, nil
}

func streamKey(id [shortIDLen]byte) []byte { return append([]byte{prefixStream}, id[:]...) }

func tokenKey(id [shortIDLen]byte) []byte { return append([]byte{prefixToken}, id[:]...) }

func offerKey(id [idLen]byte) []byte { return append([]byte{prefixOffer}, id[:]...) }

func transferKey(key string) []byte { return append([]byte{prefixTransfer}, key...) }

func offerUsesKey(id [idLen]byte) []byte { return append([]byte{prefixOfferUses}, id[:]...) }

func offerPaidKey(id [idLen]byte, payer [addrLen]byte) []byte {
	return append(append([]byte{prefixOfferPaid}, id[:]...), payer[:]...)
}

func cursorKey(name string) []byte {
	k := make([]byte, 1+len(name))
	k[0] = prefixCursor
	copy(k[1:], name)
	return k
}

func seqValue(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, seqLen), seq)
}

// parseSeqKey returns the seq of a log key.
func parseLogKey(k []byte) (uint64, error) {
	if len(k) != 1+seqLen || k[0] != prefixLog {
		return 0, corrupt(k, "log key is %d bytes, want %d", len(k), 1+seqLen)
	}
	seq := binary.BigEndian.Uint64(k[1:])
	if seq == 0 {
		return 0, corrupt(k, "log key has seq 0")
	}
	return seq, nil
}

// decodeCount decodes a count (big-endian, never 0: a count is written
// with the first payment it counts).
func decodeCount(k, v []byte) (uint64, error) {
	if len(v) != seqLen {
		return 0, corrupt(k, "count is %d bytes, want %d", len(v), seqLen)
	}
	n := binary.BigEndian.Uint64(v)
	if n == 0 {
		return 0, corrupt(k, "count is 0")
	}
	return n, nil
}

// decodeSeqValue decodes an index value (a big-endian seq).
func decodeSeqValue(k, v []byte) (uint64, error) {
	if len(v) != seqLen {
		return 0, corrupt(k, "index value is %d bytes, want %d", len(v), seqLen)
	}
	seq := binary.BigEndian.Uint64(v)
	if seq == 0 {
		return 0, corrupt(k, "index points to seq 0")
	}
	return seq, nil
}

// checkKey checks that a key has a known prefix and the right shape for it.
func checkKey(k []byte) error {
	if len(k) == 0 {
		return corrupt(k, "empty key")
	}
	want := -1
	switch k[0] {
	case prefixMeta:
		want = metaKeyLen
	case prefixChannel, prefixPaymentID, prefixReceipt, prefixOffer, prefixOfferUses:
		want = 1 + idLen
	case prefixOfferPaid:
		want = 1 + idLen + addrLen
	case prefixStream, prefixToken:
		want = 1 + shortIDLen
	case prefixAwaited:
		want = 1 + idLen + seqLen + idLen
	case prefixChanPay:
		want = chanPayKeyLen
		if len(k) == want {
			if d := storev1.Direction(k[1+idLen]); d != storev1.Direction_DIRECTION_INCOMING && d != storev1.Direction_DIRECTION_OUTGOING {
				return corrupt(k, "channel payment key has direction %d", d)
			}
		}
	case prefixProof:
		want = 1 + idLen + 1
		if len(k) == want && k[want-1] > 1 {
			return corrupt(k, "proof key has side %d, want 0 or 1", k[want-1])
		}
	case prefixLog:
		_, err := parseLogKey(k)
		return err
	case prefixIdemKey, prefixTransfer:
		if n := len(k) - 1; n < 1 || n > MaxIdempotencyKeyLen || !utf8.Valid(k[1:]) {
			return corrupt(k, "idempotency key is not 1 to %d bytes of UTF-8", MaxIdempotencyKeyLen)
		}
		return nil
	case prefixCursor:
		if n := len(k) - 1; n < 1 || n > MaxCursorNameLen {
			return corrupt(k, "cursor key name is %d bytes, want 1 to %d", n, MaxCursorNameLen)
		}
		return nil
	default:
		return corrupt(k, "unknown key prefix 0x%02x", k[0])
	}
	if len(k) != want {
		return corrupt(k, "key is %d bytes, want %d for prefix 0x%02x", len(k), want, k[0])
	}
	return nil
}

func checkCursorName(name string) error {
	if n := len(name); n < 1 || n > MaxCursorNameLen {
		return fmt.Errorf("cursor name is %d bytes, want 1 to %d", n, MaxCursorNameLen)
	}
	return nil
}
