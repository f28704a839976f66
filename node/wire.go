package node

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/holiman/uint256"
	"google.golang.org/grpc/codes"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
	"github.com/tinypay/tinypay/settlement"
	"github.com/tinypay/tinypay/store"
)

// part is one payment covered by an incoming proof.
type part struct {
	id     [32]byte
	amount uint256.Int
	itemID string
	memo   string
	key    string // the payer's idempotency key
	// What the payer asked for and said.
	wantReceipt bool
	offer       *Offer
	stream      [16]byte
}

func proofMessage(p channel.Proof, parts []*peerv1.PaymentPart) *peerv1.BalanceProof {
	return &peerv1.BalanceProof{
		ChannelId: p.Channel[:], Nonce: p.Nonce, Transferred: amountBytes(&p.Transferred),
		Signature: sigBytes(p.Sig), Parts: parts,
	}
}

// decodeProof checks the encoding of a proof message (not its meaning,
// which the channel machine checks).
func decodeProof(m *peerv1.BalanceProof) (channel.Proof, []part, error) {
	var p channel.Proof
	var err error
	if p.Channel, err = parseHash("channel id", m.GetChannelId()); err != nil {
		return p, nil, err
	}
	if p.Transferred, err = parseAmount("transferred", m.GetTransferred()); err != nil {
		return p, nil, err
	}
	if p.Sig, err = parseSig("signature", m.GetSignature()); err != nil {
		return p, nil, err
	}
	if p.Nonce = m.GetNonce(); p.Nonce == 0 {
		return p, nil, fmt.Errorf("%w: nonce 0", errMalformed)
	}
	parts := make([]part, len(m.GetParts()))
	for i, mp := range m.GetParts() {
		id, err := parseHash("payment id", mp.GetPaymentId())
		if err != nil {
			return p, nil, err
		}
		amt, err := parseAmount("part amount", mp.GetAmount())
		if err != nil {
			return p, nil, err
		}
		parts[i] = part{id: id, amount: amt, itemID: mp.GetItemId(), memo: mp.GetMemo(), key: mp.GetIdempotencyKey(), wantReceipt: mp.GetWantReceipt()}
		if o := mp.GetOffer(); o != nil {
			off, err := decodeOffer(o)
			if err != nil {
				return p, nil, err
			}
			parts[i].offer, parts[i].wantReceipt = off, true
		}
		if sid := mp.GetStreamId(); len(sid) != 0 {
			if len(sid) != 16 {
				return p, nil, fmt.Errorf("%w: stream id is %d bytes, want 16", errMalformed, len(sid))
			}
			parts[i].stream = [16]byte(sid)
		}
	}
	return p, parts, nil
}

// checkParts validates the payments a proof claims to cover.
func checkParts(parts []part) error {
	if len(parts) == 0 {
		return fmt.Errorf("%w: a proof must cover at least one payment", errMalformed)
	}
	if len(parts) > 4096 {
		return fmt.Errorf("%w: %d parts, at most 4096", errMalformed, len(parts))
	}
	for i := range parts {
		switch p := &parts[i]; {
		case p.amount.IsZero():
			return fmt.Errorf("%w: part %d has amount zero", errMalformed, i)
		case len(p.itemID) > MaxItemIDLen || !utf8.ValidString(p.itemID):
			return fmt.Errorf("%w: part %d item id longer than %d bytes", errMalformed, i, MaxItemIDLen)
		case len(p.memo) > MaxMemoLen || !utf8.ValidString(p.memo):
			return fmt.Errorf("%w: part %d memo longer than %d bytes", errMalformed, i, MaxMemoLen)
		case len(p.key) > store.MaxIdempotencyKeyLen || !utf8.ValidString(p.key):
			return fmt.Errorf("%w: part %d idempotency key longer than %d bytes", errMalformed, i, store.MaxIdempotencyKeyLen)
		}
	}
	return nil
}

func partsOf(pays []*payment) []*peerv1.PaymentPart {
	out := make([]*peerv1.PaymentPart, len(pays))
	for i, p := range pays {
		out[i] = &peerv1.PaymentPart{PaymentId: p.id[:], Amount: amountBytes(&p.amount), ItemId: p.itemID, Memo: p.memo,
			IdempotencyKey: p.key, WantReceipt: p.wantReceipt, StreamId: optionalID(p.stream[:])}
		if p.offerMsg != nil {
			out[i].Offer = offerMessage(p.offerMsg)
		}
	}
	return out
}

// decodeOffer decodes an offer in a payment part; the payee fills in the
// chain, contract and itself before checking the signature.
func decodeOffer(m *peerv1.Offer) (*Offer, error) {
	var o Offer
	var err error
	if o.ID, err = parseHash("offer id", m.GetOfferId()); err != nil {
		return nil, err
	}
	if o.Asset, err = parseAddr("offer asset", m.GetAsset()); err != nil {
		return nil, err
	}
	if o.Price, err = parseAmount("offer price", m.GetPrice()); err != nil {
		return nil, err
	}
	if o.Sig, err = crypto.SignatureFromBytes(m.GetSignature()); err != nil {
		return nil, fmt.Errorf("%w: offer signature: %v", errMalformed, err)
	}
	o.ItemID, o.Expiry = m.GetItemId(), m.GetExpiry()
	return &o, nil
}

// incomingID derives the local id of an incoming payment: unique by
// construction, whatever ids the peer chose.
func incomingID(id channel.ID, nonce uint64, index int) [32]byte {
	var buf [32 + 8 + 4]byte
	copy(buf[:32], id[:])
	for i := range 8 {
		buf[32+i] = byte(nonce >> (56 - 8*i))
	}
	for i := range 4 {
		buf[40+i] = byte(index >> (24 - 8*i))
	}
	return crypto.Keccak256([]byte("tinypay/incoming"), buf[:])
}

func incomingEntry(c *chanState, proof channel.Proof, index int, p *part, cum uint256.Int, now time.Time) *storev1.LogEntry {
	id := incomingID(c.id, proof.Nonce, index)
	rec := &storev1.Payment{
		Id: id[:], ChannelId: c.id[:], Direction: storev1.Direction_DIRECTION_INCOMING,
		Amount: amountBytes(&p.amount), Cumulative: amountBytes(&cum), Nonce: proof.Nonce,
		TimeUnixNano: now.UnixNano(), ItemId: p.itemID, Memo: p.memo, Peer: c.peer[:], RemoteId: p.id[:], RemoteKey: p.key,
		StreamId: optionalID(p.stream[:]), WantReceipt: p.wantReceipt,
	}
	if p.offer != nil {
		rec.OfferId = p.offer.ID[:]
	}
	return &storev1.LogEntry{TimeUnixNano: now.UnixNano(), Entry: &storev1.LogEntry_Payment{Payment: rec}}
}

// codeOf maps an error to the status code a peer or API caller gets. It is
// the one place where the node's error kinds meet gRPC codes.
func codeOf(err error) codes.Code {
	switch {
	case err == nil:
		return codes.OK
	case errors.Is(err, errMalformed), errors.Is(err, ErrInvalidArgument), errors.Is(err, channel.ErrZeroAmount),
		errors.Is(err, channel.ErrBadSignature), errors.Is(err, crypto.ErrInvalidSignature), errors.Is(err, channel.ErrInvalidParams),
		errors.Is(err, ErrUnknownAsset), errors.Is(err, ErrBadOffer):
		return codes.InvalidArgument
	case errors.Is(err, ErrNotFound):
		return codes.NotFound
	case errors.Is(err, ErrForbidden):
		return codes.PermissionDenied
	case errors.Is(err, ErrSpendLimit):
		return codes.ResourceExhausted
	case errors.Is(err, ErrIdempotency), errors.Is(err, ErrOfferPaid):
		return codes.AlreadyExists
	case errors.Is(err, channel.ErrWrongChannel):
		return codes.PermissionDenied
	case errors.Is(err, ErrNotConnected), errors.Is(err, ErrStopped), errors.Is(err, settlement.ErrUnavailable):
		return codes.Unavailable
	case errors.Is(err, channel.ErrOverflow):
		return codes.OutOfRange
	case errors.Is(err, ErrBusy):
		return codes.Aborted
	case errors.Is(err, channel.ErrInsufficientBalance), errors.Is(err, settlement.ErrInsufficientFunds),
		errors.Is(err, channel.ErrStaleNonce), errors.Is(err, channel.ErrNotIncreasing), errors.Is(err, channel.ErrWrongPhase),
		errors.Is(err, channel.ErrClosing), errors.Is(err, channel.ErrExpired), errors.Is(err, channel.ErrTermsMismatch),
		errors.Is(err, channel.ErrWithdrawPending), errors.Is(err, settlement.ErrReverted), errors.Is(err, ErrPeerRefused),
		errors.Is(err, ErrNotReady), errors.Is(err, settlement.ErrWrongChain), errors.Is(err, settlement.ErrNoContract),
		errors.Is(err, ErrOfferExpired):
		return codes.FailedPrecondition
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	}
	return codes.Internal
}

// Code is codeOf for the control API.
func Code(err error) codes.Code { return codeOf(err) }
