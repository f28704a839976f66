package tower

import (
	"errors"
	"fmt"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
)

// Codes of a TowerAck (google.rpc.Code numbers).
const (
	codeOK                 uint32 = 0
	codeInvalidArgument    uint32 = 3
	codeNotFound           uint32 = 5
	codePermissionDenied   uint32 = 7
	codeResourceExhausted  uint32 = 8
	codeFailedPrecondition uint32 = 9
	codeUnavailable        uint32 = 14
)

// Why a tower refuses a proof. Submit's answer carries the code of the
// kind (see code) and the error's text; match with errors.Is.
var (
	// ErrNotServed: the sender is not a node this tower serves.
	ErrNotServed = errors.New("this tower does not serve the node")
	// ErrMalformed: a field has the wrong length or form, or the channel
	// parameters do not hash to the channel id.
	ErrMalformed = errors.New("malformed tower proof")
	// ErrBadSignature: the proof is not signed by the channel's other
	// participant (the payer of the sender's incoming payments).
	ErrBadSignature = errors.New("proof not signed by the payer")
	// ErrNotParticipant: the sender is not a participant of the channel.
	ErrNotParticipant = errors.New("the node is not a participant of the channel")
	// ErrNotHigher: the tower holds a proof with a higher amount.
	ErrNotHigher = errors.New("the tower holds a higher proof")
	// ErrNotOpen: the channel is not open on chain.
	ErrNotOpen = errors.New("the channel is not open on chain")
	// ErrSettled: the channel is settled on chain; no proof can matter.
	ErrSettled = errors.New("the channel is settled on chain")
	// ErrTooManyChannels: the tower holds proofs of MaxChannelsPerNode
	// channels for the node already.
	ErrTooManyChannels = errors.New("too many channels for this node")
	// ErrChainUnavailable: the tower could not read the chain; try later.
	ErrChainUnavailable = errors.New("the tower cannot read the chain")
)

// code maps a refusal to the code of its TowerAck: the one place that
// does.
func code(err error) uint32 {
	switch {
	case err == nil:
		return codeOK
	case errors.Is(err, ErrNotServed), errors.Is(err, ErrNotParticipant):
		return codePermissionDenied
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrBadSignature):
		return codeInvalidArgument
	case errors.Is(err, ErrNotHigher), errors.Is(err, ErrSettled):
		return codeFailedPrecondition
	case errors.Is(err, ErrNotOpen):
		return codeNotFound
	case errors.Is(err, ErrTooManyChannels):
		return codeResourceExhausted
	}
	return codeUnavailable
}

// reasonLabel names a refusal in metrics.
func reasonLabel(err error) string {
	for _, k := range []struct {
		err   error
		label string
	}{
		{ErrNotServed, "not_served"}, {ErrMalformed, "malformed"}, {ErrBadSignature, "bad_signature"},
		{ErrNotParticipant, "not_participant"}, {ErrNotHigher, "not_higher"}, {ErrNotOpen, "not_open"},
		{ErrSettled, "settled"}, {ErrTooManyChannels, "too_many_channels"},
	} {
		if errors.Is(err, k.err) {
			return k.label
		}
	}
	return "chain_unavailable"
}

// proofMessage is the TowerProof of an incoming proof.
func proofMessage(p node.IncomingProof) *peerv1.Message {
	pp := &p.Params
	m := &peerv1.TowerProof{
		ChannelId:       p.Proof.Channel[:],
		ParticipantA:    pp.Participants[channel.A][:],
		ParticipantB:    pp.Participants[channel.B][:],
		ChallengePeriod: pp.ChallengePeriod,
		Salt:            pp.Salt[:],
		Nonce:           p.Proof.Nonce,
		Transferred:     amountBytes(&p.Proof.Transferred),
		Signature:       p.Proof.Sig[:],
	}
	if !pp.Asset.IsZero() {
		m.Asset = pp.Asset[:]
	}
	return &peerv1.Message{Body: &peerv1.Message_TowerProof{TowerProof: m}}
}

// decodeProof checks the form of m for a tower on chainID and adjudicator:
// every field's length, valid parameters that hash to the channel id, a
// nonce and an amount. It checks no signature.
func decodeProof(chainID uint64, adjudicator crypto.Address, m *peerv1.TowerProof) (channel.Params, channel.Proof, error) {
	var p channel.Params
	var pr channel.Proof
	id, err := crypto.HashFromBytes(m.GetChannelId())
	if err != nil {
		return p, pr, fmt.Errorf("%w: channel id: %v", ErrMalformed, err)
	}
	a, err := crypto.AddressFromBytes(m.GetParticipantA())
	if err != nil {
		return p, pr, fmt.Errorf("%w: participant a: %v", ErrMalformed, err)
	}
	b, err := crypto.AddressFromBytes(m.GetParticipantB())
	if err != nil {
		return p, pr, fmt.Errorf("%w: participant b: %v", ErrMalformed, err)
	}
	var asset crypto.Address
	if len(m.GetAsset()) > 0 {
		if asset, err = crypto.AddressFromBytes(m.GetAsset()); err != nil {
			return p, pr, fmt.Errorf("%w: asset: %v", ErrMalformed, err)
		}
	}
	salt, err := crypto.HashFromBytes(m.GetSalt())
	if err != nil {
		return p, pr, fmt.Errorf("%w: salt: %v", ErrMalformed, err)
	}
	p = channel.Params{ChainID: chainID, Adjudicator: adjudicator, Participants: [2]crypto.Address{a, b},
		Asset: asset, ChallengePeriod: m.GetChallengePeriod(), Salt: salt}
	if err := p.Validate(); err != nil {
		return p, pr, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if p.ID() != id {
		return p, pr, fmt.Errorf("%w: the channel parameters give id %s, not %s", ErrMalformed, p.ID(), id)
	}
	pr.Channel, pr.Nonce = id, m.GetNonce()
	if pr.Nonce == 0 {
		return p, pr, fmt.Errorf("%w: nonce is zero", ErrMalformed)
	}
	if pr.Transferred, err = parseAmount(m.GetTransferred()); err != nil {
		return p, pr, err
	}
	if pr.Transferred.IsZero() {
		return p, pr, fmt.Errorf("%w: the amount is zero", ErrMalformed)
	}
	if pr.Sig, err = crypto.SignatureFromBytes(m.GetSignature()); err != nil {
		return p, pr, fmt.Errorf("%w: signature: %v", ErrMalformed, err)
	}
	return p, pr, nil
}

// amountBytes encodes v as peer.proto does: big-endian, no leading zeros,
// empty for zero.
func amountBytes(v *uint256.Int) []byte {
	if v.IsZero() {
		return nil
	}
	b := v.Bytes32()
	i := 0
	for b[i] == 0 {
		i++
	}
	return append([]byte(nil), b[i:]...)
}

// parseAmount decodes amountBytes' encoding.
func parseAmount(b []byte) (uint256.Int, error) {
	var v uint256.Int
	if len(b) > 32 {
		return v, fmt.Errorf("%w: amount is %d bytes, at most 32", ErrMalformed, len(b))
	}
	if len(b) > 0 && b[0] == 0 {
		return v, fmt.Errorf("%w: amount has a leading zero byte", ErrMalformed)
	}
	v.SetBytes(b)
	return v, nil
}
