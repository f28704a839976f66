package store

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"

	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
)

// The checks below are shared by writes (where a failure is ErrInvalid) and
// reads (where it is ErrCorrupt): a record that could not have been written
// is never returned. They check form, not meaning: lengths, ranges, enum
// values and versions. The rules of the protocol live in package channel.

var marshalOpts = proto.MarshalOptions{Deterministic: true}

func checkLen(field string, b []byte, n int) error {
	if len(b) != n {
		return fmt.Errorf("%s is %d bytes, want %d", field, len(b), n)
	}
	return nil
}

// checkAmount checks a uint256 in canonical form: big-endian, at most 32
// bytes, no leading zero byte (empty is zero).
func checkAmount(field string, b []byte) error {
	if len(b) > amountLen {
		return fmt.Errorf("%s is %d bytes, more than %d", field, len(b), amountLen)
	}
	if len(b) > 0 && b[0] == 0 {
		return fmt.Errorf("%s has a leading zero byte", field)
	}
	return nil
}

// checkOptSig checks a signature that may be missing (empty or 65 bytes).
func checkOptSig(field string, b []byte) error {
	if len(b) != 0 && len(b) != sigLen {
		return fmt.Errorf("%s is %d bytes, want %d or 0", field, len(b), sigLen)
	}
	return nil
}

func checkSide(field string, s uint32) error {
	if s > 1 {
		return fmt.Errorf("%s is %d, want 0 or 1", field, s)
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func checkChannel(c *storev1.Channel) error {
	if c == nil {
		return errors.New("channel is nil")
	}
	if c.GetVersion() != ChannelVersion {
		return fmt.Errorf("channel record version %d, want %d", c.GetVersion(), ChannelVersion)
	}
	if err := firstErr(
		checkLen("channel id", c.GetId(), idLen),
		checkLen("channel adjudicator", c.GetAdjudicator(), addrLen),
		checkLen("channel participant_a", c.GetParticipantA(), addrLen),
		checkLen("channel participant_b", c.GetParticipantB(), addrLen),
		checkLen("channel asset", c.GetAsset(), addrLen),
		checkLen("channel salt", c.GetSalt(), idLen),
		checkSide("channel self", c.GetSelf()),
		checkAmount("channel deposit_a", c.GetDepositA()),
		checkAmount("channel deposit_b", c.GetDepositB()),
		checkAmount("channel chain_withdrawn_a", c.GetChainWithdrawnA()),
		checkAmount("channel chain_withdrawn_b", c.GetChainWithdrawnB()),
		checkAmount("channel withdrawn_a", c.GetWithdrawnA()),
		checkAmount("channel withdrawn_b", c.GetWithdrawnB()),
	); err != nil {
		return err
	}
	if p := c.GetPhase(); p <= storev1.Phase_PHASE_UNSPECIFIED || p > storev1.Phase_PHASE_ABANDONED {
		return fmt.Errorf("channel phase %d is not a known phase", int32(p))
	}
	if w := c.GetWithdrawal(); w != nil {
		if err := firstErr(
			checkSide("channel withdrawal participant", w.GetParticipant()),
			checkAmount("channel withdrawal total", w.GetTotal()),
			checkOptSig("channel withdrawal sig_a", w.GetSigA()),
			checkOptSig("channel withdrawal sig_b", w.GetSigB()),
		); err != nil {
			return err
		}
	}
	if t := c.GetClose(); t != nil {
		if err := firstErr(
			checkAmount("channel close balance_a", t.GetBalanceA()),
			checkAmount("channel close balance_b", t.GetBalanceB()),
			checkOptSig("channel close sig_a", t.GetSigA()),
			checkOptSig("channel close sig_b", t.GetSigB()),
		); err != nil {
			return err
		}
		if t.GetProposer() > 2 {
			return fmt.Errorf("channel close proposer %d is not 0, 1 or 2", t.GetProposer())
		}
	}
	if d := c.GetDispute(); d != nil {
		if err := firstErr(
			checkSide("channel dispute closer", d.GetCloser()),
			checkAmount("channel dispute transferred_a", d.GetTransferredA()),
			checkAmount("channel dispute transferred_b", d.GetTransferredB()),
		); err != nil {
			return err
		}
	}
	return nil
}

func checkProof(p *storev1.Proof) error {
	if p == nil {
		return errors.New("proof is nil")
	}
	if p.GetNonce() == 0 {
		return errors.New("proof nonce is 0 (the \"no proof yet\" value is not stored)")
	}
	return firstErr(
		checkLen("proof channel_id", p.GetChannelId(), idLen),
		checkAmount("proof transferred", p.GetTransferred()),
		checkLen("proof signature", p.GetSignature(), sigLen),
	)
}

func checkPayment(p *storev1.Payment) error {
	if err := firstErr(
		checkLen("payment id", p.GetId(), idLen),
		checkLen("payment channel_id", p.GetChannelId(), idLen),
		checkAmount("payment amount", p.GetAmount()),
		checkAmount("payment cumulative", p.GetCumulative()),
	); err != nil {
		return err
	}
	if n := len(p.GetIdempotencyKey()); n > MaxIdempotencyKeyLen {
		return fmt.Errorf("payment idempotency_key is %d bytes, more than %d", n, MaxIdempotencyKeyLen)
	}
	if d := p.GetDirection(); d != storev1.Direction_DIRECTION_OUTGOING && d != storev1.Direction_DIRECTION_INCOMING {
		return fmt.Errorf("payment direction %d is not outgoing or incoming", int32(d))
	}
	if n := len(p.GetPeer()); n != 0 && n != addrLen {
		return fmt.Errorf("payment peer is %d bytes, want %d or 0", n, addrLen)
	}
	if n := len(p.GetRemoteId()); n != 0 && n != idLen {
		return fmt.Errorf("payment remote_id is %d bytes, want %d or 0", n, idLen)
	}
	if n := len(p.GetRemoteKey()); n > MaxIdempotencyKeyLen {
		return fmt.Errorf("payment remote_key is %d bytes, more than %d", n, MaxIdempotencyKeyLen)
	}
	if n := len(p.GetOfferId()); n != 0 && n != idLen {
		return fmt.Errorf("payment offer_id is %d bytes, want %d or 0", n, idLen)
	}
	if n := len(p.GetStreamId()); n != 0 && n != shortIDLen {
		return fmt.Errorf("payment stream_id is %d bytes, want %d or 0", n, shortIDLen)
	}
	if n := len(p.GetTokenId()); n != 0 && n != shortIDLen {
		return fmt.Errorf("payment token_id is %d bytes, want %d or 0", n, shortIDLen)
	}
	if n := len(p.GetRefundOf()); n != 0 && n != idLen {
		return fmt.Errorf("payment refund_of is %d bytes, want %d or 0", n, idLen)
	}
	if n := len(p.GetRefused()); n > MaxReasonLen {
		return fmt.Errorf("payment refused reason is %d bytes, more than %d", n, MaxReasonLen)
	}
	if p.GetRefused() != "" && p.GetDirection() != storev1.Direction_DIRECTION_INCOMING {
		return errors.New("payment refused is set on an outgoing payment")
	}
	if p.GetRefusedCode() != 0 && p.GetRefused() == "" {
		return errors.New("payment refused_code is set on a payment not refused")
	}
	return checkPaymentOffer(p)
}

// checkPaymentOffer checks the offer fields of a payment: a use policy
// only with an offer, a count only with a limited one, a payer for a
// per-payer one, and the offer's expiry and signature on outgoing
// payments only.
func checkPaymentOffer(p *storev1.Payment) error {
	uses, max := p.GetOfferUses(), p.GetOfferMaxUses()
	hasOffer := len(p.GetOfferId()) == idLen
	switch {
	case !hasOffer && (uses != 0 || max != 0 || p.GetOfferExpiry() != 0 || len(p.GetOfferSignature()) != 0):
		return errors.New("payment has offer fields but no offer_id")
	case uses > offerUnlimited:
		return fmt.Errorf("payment offer_uses %d is not a known policy", uses)
	case uses == offerLimited && max == 0:
		return errors.New("payment of a limited offer has offer_max_uses 0")
	case uses != offerLimited && max != 0:
		return fmt.Errorf("payment offer_max_uses %d with offer_uses %d (only a limited offer has one)", max, uses)
	case uses == offerPerPayer && p.GetDirection() == storev1.Direction_DIRECTION_INCOMING && len(p.GetPeer()) != addrLen:
		return errors.New("incoming payment of a per-payer offer names no payer (peer)")
	case p.GetDirection() == storev1.Direction_DIRECTION_INCOMING && (p.GetOfferExpiry() != 0 || len(p.GetOfferSignature()) != 0):
		return errors.New("payment offer_expiry or offer_signature set on an incoming payment")
	}
	if n := len(p.GetOfferSignature()); n != 0 && n != sigLen {
		return fmt.Errorf("payment offer_signature is %d bytes, want %d or 0", n, sigLen)
	}
	return nil
}

// checkLogEntry checks everything but seq, which the caller checks.
func checkLogEntry(e *storev1.LogEntry) error {
	if e == nil {
		return errors.New("log entry is nil")
	}
	switch x := e.GetEntry().(type) {
	case *storev1.LogEntry_Payment:
		if x.Payment == nil {
			return errors.New("log entry payment is nil")
		}
		return checkPayment(x.Payment)
	case *storev1.LogEntry_ChannelEvent:
		return checkChannelEvent(x.ChannelEvent)
	case *storev1.LogEntry_StreamEvent:
		return checkStreamEvent(x.StreamEvent)
	case *storev1.LogEntry_TransferEvent:
		return checkTransferEvent(x.TransferEvent)
	case nil:
		return errors.New("log entry has no known kind")
	default:
		return fmt.Errorf("log entry kind %T is not supported", x)
	}
}

func checkStreamEvent(e *storev1.StreamEvent) error {
	if e == nil {
		return errors.New("log entry stream event is nil")
	}
	if len(e.GetStreamId()) != shortIDLen {
		return fmt.Errorf("stream event: stream id is %d bytes, want %d", len(e.GetStreamId()), shortIDLen)
	}
	if n := len(e.GetChannelId()); n != 0 && n != idLen {
		return fmt.Errorf("stream event: channel id is %d bytes, want %d", n, idLen)
	}
	if _, ok := storev1.StreamEventKind_name[int32(e.GetKind())]; !ok || e.GetKind() == storev1.StreamEventKind_STREAM_EVENT_KIND_UNSPECIFIED {
		return fmt.Errorf("stream event: unknown kind %d", e.GetKind())
	}
	return nil
}

// StreamVersion, TokenVersion and TransferVersion are the record versions
// this package writes and reads.
const (
	StreamVersion   = 1
	TokenVersion    = 1
	TransferVersion = 1
)

func checkTransferKey(key string) error {
	if n := len(key); n < 1 || n > MaxIdempotencyKeyLen || !utf8.ValidString(key) {
		return fmt.Errorf("transfer key is %d bytes, want 1 to %d of UTF-8", len(key), MaxIdempotencyKeyLen)
	}
	return nil
}

func checkTransferEnums(o storev1.TransferOrigin, st storev1.TransferStatus) error {
	if _, ok := storev1.TransferOrigin_name[int32(o)]; !ok || o == storev1.TransferOrigin_TRANSFER_ORIGIN_UNSPECIFIED {
		return fmt.Errorf("transfer origin %d", o)
	}
	if _, ok := storev1.TransferStatus_name[int32(st)]; !ok || st == storev1.TransferStatus_TRANSFER_STATUS_UNSPECIFIED {
		return fmt.Errorf("transfer status %d", st)
	}
	return nil
}

func checkTransfer(t *storev1.Transfer) error {
	if t == nil {
		return errors.New("transfer is nil")
	}
	if t.GetVersion() != TransferVersion {
		return fmt.Errorf("transfer version %d, this binary reads version %d", t.GetVersion(), TransferVersion)
	}
	if len(t.GetRawTx()) == 0 || len(t.GetRawTx()) > MaxRecordSize/2 {
		return fmt.Errorf("transfer raw_tx is %d bytes, want 1 to %d", len(t.GetRawTx()), MaxRecordSize/2)
	}
	return firstErr(
		checkTransferKey(t.GetKey()),
		checkTransferEnums(t.GetOrigin(), t.GetStatus()),
		checkLen("transfer to", t.GetTo(), addrLen),
		checkLen("transfer asset", t.GetAsset(), addrLen),
		checkAmount("transfer amount", t.GetAmount()),
		checkLen("transfer tx_hash", t.GetTxHash(), idLen),
		checkAmount("transfer max_fee", t.GetMaxFee()),
		checkAmount("transfer fee", t.GetFee()),
	)
}

func checkTransferEvent(e *storev1.TransferEvent) error {
	if e == nil {
		return errors.New("log entry transfer event is nil")
	}
	if n := len(e.GetTxHash()); n != 0 && n != idLen {
		return fmt.Errorf("transfer event: tx hash is %d bytes, want %d", n, idLen)
	}
	return firstErr(
		checkTransferKey(e.GetKey()),
		checkTransferEnums(e.GetOrigin(), e.GetStatus()),
		checkLen("transfer event to", e.GetTo(), addrLen),
		checkLen("transfer event asset", e.GetAsset(), addrLen),
		checkAmount("transfer event amount", e.GetAmount()),
		checkAmount("transfer event fee", e.GetFee()),
	)
}

func checkReceipt(r *storev1.Receipt) error {
	if r == nil {
		return errors.New("receipt is nil")
	}
	return firstErr(checkLen("receipt payment_id", r.GetPaymentId(), idLen), checkLen("receipt signature", r.GetSignature(), sigLen))
}

func checkStream(st *storev1.Stream) error {
	if st == nil {
		return errors.New("stream is nil")
	}
	if st.GetVersion() != StreamVersion {
		return fmt.Errorf("stream version %d, this binary reads version %d", st.GetVersion(), StreamVersion)
	}
	if d := st.GetDirection(); d != storev1.Direction_DIRECTION_OUTGOING && d != storev1.Direction_DIRECTION_INCOMING {
		return fmt.Errorf("stream direction %d", int32(d))
	}
	if n := len(st.GetTokenId()); n != 0 && n != shortIDLen {
		return fmt.Errorf("stream token_id is %d bytes, want %d or 0", n, shortIDLen)
	}
	return firstErr(
		checkLen("stream id", st.GetId(), shortIDLen),
		checkLen("stream channel_id", st.GetChannelId(), idLen),
		checkLen("stream peer", st.GetPeer(), addrLen),
		checkAmount("stream rate", st.GetRate()),
		checkAmount("stream budget", st.GetBudget()),
		checkAmount("stream paid", st.GetPaid()),
		checkAmount("stream auto_topup", st.GetAutoTopup()),
	)
}

func checkToken(t *storev1.AppToken) error {
	if t == nil {
		return errors.New("token is nil")
	}
	if t.GetVersion() != TokenVersion {
		return fmt.Errorf("token version %d, this binary reads version %d", t.GetVersion(), TokenVersion)
	}
	switch t.GetKind() {
	case storev1.TokenKind_TOKEN_KIND_UNSPECIFIED:
		if t.GetPeriodSeconds() == 0 {
			return errors.New("token period is zero")
		}
	case storev1.TokenKind_TOKEN_KIND_VIEW:
		if t.GetPeriodSeconds() != 0 || len(t.GetPayees()) > 0 {
			return errors.New("a view token has a spending policy")
		}
	default:
		return fmt.Errorf("token kind %d unknown", t.GetKind())
	}
	errs := []error{
		checkLen("token id", t.GetId(), shortIDLen),
		checkLen("token secret_hash", t.GetSecretHash(), idLen),
		checkLen("token asset", t.GetAsset(), addrLen),
		checkAmount("token limit", t.GetLimit()),
	}
	for _, p := range t.GetPayees() {
		errs = append(errs, checkLen("token payee", p.GetPayee(), addrLen), checkAmount("token payee limit", p.GetLimit()))
	}
	return firstErr(errs...)
}

func checkChannelEvent(e *storev1.ChannelEvent) error {
	if e == nil {
		return errors.New("log entry channel event is nil")
	}
	if len(e.GetChannelId()) != idLen {
		return fmt.Errorf("channel event: channel id is %d bytes, want %d", len(e.GetChannelId()), idLen)
	}
	if _, ok := storev1.ChannelEventKind_name[int32(e.GetKind())]; !ok || e.GetKind() == storev1.ChannelEventKind_CHANNEL_EVENT_KIND_UNSPECIFIED {
		return fmt.Errorf("channel event: unknown kind %d", e.GetKind())
	}
	if n := len(e.GetPeer()); n != 0 && n != addrLen {
		return fmt.Errorf("channel event: peer is %d bytes, want %d", n, addrLen)
	}
	if n := len(e.GetTxHash()); n != 0 && n != idLen {
		return fmt.Errorf("channel event: tx hash is %d bytes, want %d", n, idLen)
	}
	if err := checkAmount("channel event amount", e.GetAmount()); err != nil {
		return err
	}
	if e.GetSide() > 1 {
		return fmt.Errorf("channel event: side %d", e.GetSide())
	}
	return nil
}

// unmarshal decodes v into m, turning any failure into ErrCorrupt naming k.
func unmarshal(k, v []byte, m proto.Message, what string) error {
	if err := proto.Unmarshal(v, m); err != nil {
		return corrupt(k, "%s does not decode: %v", what, err)
	}
	return nil
}

// decodeChannel decodes and checks a Channel record stored under k.
func decodeChannel(k, v []byte) (*storev1.Channel, error) {
	if err := checkKey(k); err != nil {
		return nil, err
	}
	c := new(storev1.Channel)
	if err := unmarshal(k, v, c, "channel"); err != nil {
		return nil, err
	}
	if err := checkChannel(c); err != nil {
		return nil, corrupt(k, "%v", err)
	}
	if !bytes.Equal(c.GetId(), k[1:]) {
		return nil, corrupt(k, "channel id %x does not match its key", c.GetId())
	}
	return c, nil
}

// decodeProof decodes and checks a Proof record stored under k.
func decodeProof(k, v []byte) (*storev1.Proof, error) {
	if err := checkKey(k); err != nil {
		return nil, err
	}
	p := new(storev1.Proof)
	if err := unmarshal(k, v, p, "proof"); err != nil {
		return nil, err
	}
	if err := checkProof(p); err != nil {
		return nil, corrupt(k, "%v", err)
	}
	if !bytes.Equal(p.GetChannelId(), k[1:1+idLen]) {
		return nil, corrupt(k, "proof channel_id %x does not match its key", p.GetChannelId())
	}
	return p, nil
}

// decodeLogEntry decodes and checks a LogEntry record stored under k.
func decodeLogEntry(k, v []byte) (*storev1.LogEntry, error) {
	seq, err := parseLogKey(k)
	if err != nil {
		return nil, err
	}
	e := new(storev1.LogEntry)
	if err := unmarshal(k, v, e, "log entry"); err != nil {
		return nil, err
	}
	if e.GetSeq() != seq {
		return nil, corrupt(k, "log entry seq %d does not match its key", e.GetSeq())
	}
	if err := checkLogEntry(e); err != nil {
		return nil, corrupt(k, "%v", err)
	}
	return e, nil
}

// decodeCursor decodes a Cursor record stored under k.
func decodeCursor(k, v []byte) (*storev1.Cursor, error) {
	if err := checkKey(k); err != nil {
		return nil, err
	}
	c := new(storev1.Cursor)
	if err := unmarshal(k, v, c, "cursor"); err != nil {
		return nil, err
	}
	return c, nil
}

// decodeMeta decodes the StoreMeta record and checks its format version.
func decodeMeta(k, v []byte) (*storev1.StoreMeta, error) {
	if err := checkKey(k); err != nil {
		return nil, err
	}
	m := new(storev1.StoreMeta)
	if err := unmarshal(k, v, m, "store meta"); err != nil {
		return nil, err
	}
	if v := m.GetFormatVersion(); v < minFormatVersion || v > FormatVersion {
		return nil, corrupt(k, "store format version %d, this binary reads versions %d to %d", v, minFormatVersion, FormatVersion)
	}
	return m, nil
}

// decodeRecord decodes and checks any record by its key's prefix. Index
// records decode to their seq (uint64).
func decodeRecord(k, v []byte) (any, error) {
	if err := checkKey(k); err != nil {
		return nil, err
	}
	switch k[0] {
	case prefixMeta:
		return decodeMeta(k, v)
	case prefixChannel:
		return decodeChannel(k, v)
	case prefixProof:
		return decodeProof(k, v)
	case prefixLog:
		return decodeLogEntry(k, v)
	case prefixIdemKey, prefixPaymentID, prefixOffer, prefixOfferPaid:
		return decodeSeqValue(k, v)
	case prefixOfferUses:
		return decodeCount(k, v)
	case prefixAwaited:
		if len(v) != 0 {
			return nil, corrupt(k, "awaited receipt entry has a %d-byte value, want none", len(v))
		}
		return nil, nil
	case prefixChanPay:
		_, _, n, err := parseChanPay(k, v)
		if err != nil {
			return nil, err
		}
		return uint64(n), nil
	case prefixCursor:
		return decodeCursor(k, v)
	case prefixReceipt:
		return decodeChecked(k, v, new(storev1.Receipt), "receipt", checkReceipt, func(r *storev1.Receipt) []byte { return r.GetPaymentId() })
	case prefixStream:
		return decodeChecked(k, v, new(storev1.Stream), "stream", checkStream, func(r *storev1.Stream) []byte { return r.GetId() })
	case prefixToken:
		return decodeChecked(k, v, new(storev1.AppToken), "token", checkToken, func(r *storev1.AppToken) []byte { return r.GetId() })
	case prefixTransfer:
		return decodeTransfer(k, v)
	}
	return nil, corrupt(k, "unknown key prefix 0x%02x", k[0])
}

// decodeChecked decodes a record of type T stored under k, checks it, and
// checks that the id in it matches the key.
func decodeChecked[T proto.Message](k, v []byte, m T, what string, check func(T) error, id func(T) []byte) (T, error) {
	var zero T
	if err := checkKey(k); err != nil {
		return zero, err
	}
	if err := unmarshal(k, v, m, what); err != nil {
		return zero, err
	}
	if err := check(m); err != nil {
		return zero, corrupt(k, "%v", err)
	}
	if string(id(m)) != string(k[1:]) {
		return zero, corrupt(k, "%s id %x does not match its key", what, id(m))
	}
	return m, nil
}

// encode marshals m deterministically and bounds its size.
func encode(m proto.Message, what string) ([]byte, error) {
	b, err := marshalOpts.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("%s does not encode: %v", what, err)
	}
	if len(b) > MaxRecordSize {
		return nil, fmt.Errorf("%s is %d bytes encoded, more than %d", what, len(b), MaxRecordSize)
	}
	return b, nil
}

// withSeq returns the encoding of a log entry with seq set, given the
// encoding of the same entry with seq 0: field 1 (seq) goes first, exactly
// where deterministic marshaling puts it.
func withSeq(encoded []byte, seq uint64) []byte {
	v := make([]byte, 0, len(encoded)+1+protowire.SizeVarint(seq))
	v = protowire.AppendTag(v, 1, protowire.VarintType)
	v = protowire.AppendVarint(v, seq)
	return append(v, encoded...)
}

func hexID(b []byte) string { return hex.EncodeToString(b) }
