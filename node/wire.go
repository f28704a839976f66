package node

import (
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
	"github.com/tinypay/tinypay/store"
)

func proofMessage(p channel.Proof, parts []*peerv1.PaymentPart) *peerv1.BalanceProof {
	return &peerv1.BalanceProof{
		ChannelId: p.Channel[:], Nonce: p.Nonce, Transferred: amountBytes(&p.Transferred),
		Signature: sigBytes(p.Sig), Parts: parts,
	}
}

// maxParts bounds the payments one message may carry, from any peer.
const maxParts = 4096

// MaxProofParts is the most payments one proof covers, from any peer.
const MaxProofParts = maxParts

// Bounds on what one message of this node's carries, well within the
// transport's limit (1 MiB): a proof whose payments do not fit goes out as
// ProofParts messages followed by the proof.
const (
	partsPerMessage = 1024
	bytesPerMessage = 512 << 10
)

// proofMessages are the messages that carry proof p with parts: the proof
// alone when they fit, or ProofParts messages before it.
func proofMessages(p channel.Proof, parts []*peerv1.PaymentPart) []*peerv1.Message {
	var out []*peerv1.Message
	start, size := 0, 0
	for i, part := range parts {
		n := proto.Size(part)
		if i > start && (i-start >= partsPerMessage || size+n > bytesPerMessage) {
			out = append(out, &peerv1.Message{Body: &peerv1.Message_ProofParts{ProofParts: &peerv1.ProofParts{
				ChannelId: p.Channel[:], Nonce: p.Nonce, Parts: parts[start:i]}}})
			start, size = i, 0
		}
		size += n
	}
	return append(out, &peerv1.Message{Body: &peerv1.Message_Proof{Proof: proofMessage(p, parts[start:])}})
}

// decodeProof checks the encoding of a proof message (not its meaning,
// which the channel machine checks).
func decodeProof(m *peerv1.BalanceProof) (channel.Proof, []Part, error) {
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
		return p, nil, fmt.Errorf("%w: nonce 0", ErrMalformed)
	}
	parts, err := decodeParts(m.GetParts())
	return p, parts, err
}

// decodeParts decodes the payments a proof (or ProofParts) carries.
func decodeParts(ms []*peerv1.PaymentPart) ([]Part, error) {
	if len(ms) > maxParts {
		return nil, fmt.Errorf("%w: %d parts, at most %d", ErrMalformed, len(ms), maxParts)
	}
	parts := make([]Part, len(ms))
	for i, mp := range ms {
		id, err := parseHash("payment id", mp.GetPaymentId())
		if err != nil {
			return nil, err
		}
		amt, err := parseAmount("part amount", mp.GetAmount())
		if err != nil {
			return nil, err
		}
		parts[i] = Part{ID: id, Amount: amt, ItemID: mp.GetItemId(), Memo: mp.GetMemo(), Key: mp.GetIdempotencyKey(), WantReceipt: mp.GetWantReceipt()}
		if o := mp.GetOffer(); o != nil {
			off, err := decodeOffer(o)
			if err != nil {
				return nil, err
			}
			parts[i].Offer, parts[i].WantReceipt = off, true
		}
		if sid := mp.GetStreamId(); len(sid) != 0 {
			if len(sid) != 16 {
				return nil, fmt.Errorf("%w: stream id is %d bytes, want 16", ErrMalformed, len(sid))
			}
			parts[i].Stream = [16]byte(sid)
		}
		if r := mp.GetRefundOf(); len(r) != 0 {
			if parts[i].RefundOf, err = parseHash("refund of", r); err != nil {
				return nil, err
			}
		}
	}
	return parts, nil
}

// checkParts validates the payments a proof claims to cover.
func checkParts(parts []Part) error {
	if len(parts) == 0 {
		return fmt.Errorf("%w: a proof must cover at least one payment", ErrMalformed)
	}
	if len(parts) > maxParts {
		return fmt.Errorf("%w: %d parts, at most %d", ErrMalformed, len(parts), maxParts)
	}
	for i := range parts {
		switch p := &parts[i]; {
		case p.Amount.IsZero():
			return fmt.Errorf("%w: part %d has amount zero", ErrMalformed, i)
		case len(p.ItemID) > MaxItemIDLen || !utf8.ValidString(p.ItemID):
			return fmt.Errorf("%w: part %d item id longer than %d bytes", ErrMalformed, i, MaxItemIDLen)
		case len(p.Memo) > MaxMemoLen || !utf8.ValidString(p.Memo):
			return fmt.Errorf("%w: part %d memo longer than %d bytes", ErrMalformed, i, MaxMemoLen)
		case len(p.Key) > store.MaxIdempotencyKeyLen || !utf8.ValidString(p.Key):
			return fmt.Errorf("%w: part %d idempotency key longer than %d bytes", ErrMalformed, i, store.MaxIdempotencyKeyLen)
		case p.Offer != nil && (len(p.Offer.ItemID) > MaxItemIDLen || !utf8.ValidString(p.Offer.ItemID)):
			return fmt.Errorf("%w: part %d offer item id longer than %d bytes", ErrMalformed, i, MaxItemIDLen)
		}
	}
	return nil
}

func partsOf(pays []*payment) []*peerv1.PaymentPart {
	out := make([]*peerv1.PaymentPart, len(pays))
	for i, p := range pays {
		out[i] = &peerv1.PaymentPart{PaymentId: p.id[:], Amount: amountBytes(&p.amount), ItemId: p.itemID, Memo: p.memo,
			IdempotencyKey: p.key, WantReceipt: p.wantReceipt, StreamId: optionalID(p.stream[:]), RefundOf: optionalID(p.refundOfPay[:])}
		if p.offer != nil {
			out[i].Offer = offerMessage(p.offer)
		}
	}
	return out
}

func offerMessage(o *Offer) *peerv1.Offer {
	return &peerv1.Offer{OfferId: o.ID[:], ItemId: o.ItemID, Asset: o.Asset[:], Price: amountBytes(&o.Price), Expiry: o.Expiry, Signature: o.Sig[:],
		Uses: uint32(o.Uses), MaxUses: o.MaxUses}
}

// decodeOffer decodes an offer in a payment part.
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
		return nil, fmt.Errorf("%w: offer signature: %v", ErrMalformed, err)
	}
	o.ItemID, o.Expiry = m.GetItemId(), m.GetExpiry()
	if m.GetUses() > 255 {
		return nil, fmt.Errorf("%w: offer use policy %d", ErrMalformed, m.GetUses())
	}
	o.Uses, o.MaxUses = crypto.OfferUses(m.GetUses()), m.GetMaxUses()
	f := crypto.OfferFields{Uses: o.Uses, MaxUses: o.MaxUses}
	if err := f.CheckUses(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return &o, nil
}

// incomingID derives the local id of an incoming payment: unique by
// construction (a proof's nonce only grows), whatever ids the peer chose,
// and the same if the proof is received again after a restore. salt, a
// secret of the node's key, keeps it out of the peer's reach: a peer
// that could compute it could name it as the id of a payment it returns
// in a recovery, before the payment that owns it arrives.
func incomingID(salt crypto.Hash, id channel.ID, nonce uint64, index int) [32]byte {
	var buf [32 + 32 + 8 + 4]byte
	copy(buf[:32], salt[:])
	copy(buf[32:64], id[:])
	for i := range 8 {
		buf[64+i] = byte(nonce >> (56 - 8*i))
	}
	for i := range 4 {
		buf[72+i] = byte(index >> (24 - 8*i))
	}
	return crypto.Keccak256([]byte("tinypay/incoming"), buf[:])
}

// incomingIDSalt derives incomingID's salt from the node key: a hash of
// the key's deterministic signature of a digest that nothing else signs.
func incomingIDSalt(k *crypto.PrivateKey) (crypto.Hash, error) {
	sig, err := k.Sign(crypto.Keccak256([]byte("tinypay/incoming-id-salt")))
	if err != nil {
		return crypto.Hash{}, fmt.Errorf("node: derive the incoming id salt: %w", err)
	}
	return crypto.Keccak256(sig[:]), nil
}
