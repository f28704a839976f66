package node

import (
	"errors"
	"fmt"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
	"github.com/tinypay/tinypay/store"
)

// AmountBytes encodes an amount as records and peer messages carry it:
// big-endian bytes without leading zeros (empty for zero).
func AmountBytes(v *uint256.Int) []byte { return amountBytes(v) }

// ParseAmount decodes AmountBytes' encoding, refusing more than 32 bytes
// and leading zeros (ErrMalformed).
func ParseAmount(field string, b []byte) (uint256.Int, error) { return parseAmount(field, b) }

// amountBytes encodes an amount as big-endian bytes without leading zeros.
func amountBytes(v *uint256.Int) []byte {
	if v.IsZero() {
		return nil
	}
	b := v.Bytes32()
	i := 0
	for i < len(b) && b[i] == 0 {
		i++
	}
	return append([]byte(nil), b[i:]...)
}

// parseAmount decodes amountBytes' encoding, rejecting more than 32 bytes
// and leading zeros.
func parseAmount(field string, b []byte) (uint256.Int, error) {
	var v uint256.Int
	if len(b) > 32 {
		return v, fmt.Errorf("%w: %s is %d bytes, at most 32", ErrMalformed, field, len(b))
	}
	if len(b) > 0 && b[0] == 0 {
		return v, fmt.Errorf("%w: %s has a leading zero byte", ErrMalformed, field)
	}
	v.SetBytes(b)
	return v, nil
}

func parseHash(field string, b []byte) (crypto.Hash, error) {
	h, err := crypto.HashFromBytes(b)
	if err != nil {
		return h, fmt.Errorf("%w: %s: %v", ErrMalformed, field, err)
	}
	return h, nil
}

func parseAddr(field string, b []byte) (crypto.Address, error) {
	a, err := crypto.AddressFromBytes(b)
	if err != nil {
		return a, fmt.Errorf("%w: %s: %v", ErrMalformed, field, err)
	}
	return a, nil
}

func parseSig(field string, b []byte) (crypto.Signature, error) {
	if len(b) == 0 {
		return crypto.Signature{}, nil
	}
	s, err := crypto.SignatureFromBytes(b)
	if err != nil {
		return s, fmt.Errorf("%w: %s: %v", ErrMalformed, field, err)
	}
	return s, nil
}

func sigBytes(s crypto.Signature) []byte {
	if s == (crypto.Signature{}) {
		return nil
	}
	return append([]byte(nil), s[:]...)
}

func proofRecord(p channel.Proof) *storev1.Proof {
	return &storev1.Proof{ChannelId: p.Channel[:], Nonce: p.Nonce, Transferred: amountBytes(&p.Transferred), Signature: sigBytes(p.Sig)}
}

func proofFromRecord(r *storev1.Proof) (channel.Proof, error) {
	var p channel.Proof
	var err error
	if p.Channel, err = parseHash("channel id", r.GetChannelId()); err != nil {
		return p, err
	}
	if p.Transferred, err = parseAmount("transferred", r.GetTransferred()); err != nil {
		return p, err
	}
	if p.Sig, err = parseSig("signature", r.GetSignature()); err != nil {
		return p, err
	}
	p.Nonce = r.GetNonce()
	return p, nil
}

// channelRecord converts a channel state (without its proofs, which are
// stored apart) to its store record.
func channelRecord(st *channel.State, created, updated time.Time) *storev1.Channel {
	p := &st.Params
	id := p.ID()
	r := &storev1.Channel{
		Version:         store.ChannelVersion,
		Id:              id[:],
		ChainId:         p.ChainID,
		Adjudicator:     p.Adjudicator[:],
		ParticipantA:    p.Participants[channel.A][:],
		ParticipantB:    p.Participants[channel.B][:],
		Asset:           p.Asset[:],
		ChallengePeriod: p.ChallengePeriod,
		Salt:            p.Salt[:],
		Self:            uint32(st.Self),
		Phase:           storev1.Phase(st.Phase),
		DepositA:        amountBytes(&st.Deposit[channel.A]),
		DepositB:        amountBytes(&st.Deposit[channel.B]),
		ChainWithdrawnA: amountBytes(&st.ChainWithdrawn[channel.A]),
		ChainWithdrawnB: amountBytes(&st.ChainWithdrawn[channel.B]),
		WithdrawnA:      amountBytes(&st.Withdrawn[channel.A]),
		WithdrawnB:      amountBytes(&st.Withdrawn[channel.B]),
		Acked:           st.Acked,
		CreatedUnixNano: created.UnixNano(),
		UpdatedUnixNano: updated.UnixNano(),
	}
	if w := st.Withdrawal; w != nil {
		r.Withdrawal = &storev1.Withdrawal{
			Participant: uint32(w.Participant), Total: amountBytes(&w.Total), Expiry: w.Expiry,
			SigA: sigBytes(w.Sigs[channel.A]), SigB: sigBytes(w.Sigs[channel.B]),
		}
	}
	if t := st.Close; t != nil {
		r.Close = &storev1.CloseTerms{
			BalanceA: amountBytes(&t.Balance[channel.A]), BalanceB: amountBytes(&t.Balance[channel.B]), Expiry: t.Expiry,
			SigA: sigBytes(t.Sigs[channel.A]), SigB: sigBytes(t.Sigs[channel.B]),
		}
	}
	if d := st.Dispute; d != nil {
		r.Dispute = &storev1.Dispute{
			Closer: uint32(d.Closer), SettleAfter: d.SettleAfter,
			TransferredA: amountBytes(&d.Transferred[channel.A]), TransferredB: amountBytes(&d.Transferred[channel.B]),
		}
	}
	return r
}

// stateFromRecord rebuilds a channel state from its record and its two
// newest proofs (nil when none).
func stateFromRecord(r *storev1.Channel, proofs [2]*storev1.Proof) (channel.State, error) {
	var st channel.State
	var errs []error
	get := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	amt := func(dst *uint256.Int, field string, b []byte) {
		v, err := parseAmount(field, b)
		get(err)
		*dst = v
	}
	sig := func(dst *crypto.Signature, field string, b []byte) {
		v, err := parseSig(field, b)
		get(err)
		*dst = v
	}
	addr := func(dst *crypto.Address, field string, b []byte) {
		v, err := parseAddr(field, b)
		get(err)
		*dst = v
	}
	p := &st.Params
	p.ChainID = r.GetChainId()
	addr(&p.Adjudicator, "adjudicator", r.GetAdjudicator())
	addr(&p.Participants[channel.A], "participant a", r.GetParticipantA())
	addr(&p.Participants[channel.B], "participant b", r.GetParticipantB())
	addr(&p.Asset, "asset", r.GetAsset())
	p.ChallengePeriod = r.GetChallengePeriod()
	salt, err := parseHash("salt", r.GetSalt())
	get(err)
	p.Salt = salt
	st.Self = channel.Side(r.GetSelf())
	st.Phase = channel.Phase(r.GetPhase())
	amt(&st.Deposit[channel.A], "deposit a", r.GetDepositA())
	amt(&st.Deposit[channel.B], "deposit b", r.GetDepositB())
	amt(&st.ChainWithdrawn[channel.A], "chain withdrawn a", r.GetChainWithdrawnA())
	amt(&st.ChainWithdrawn[channel.B], "chain withdrawn b", r.GetChainWithdrawnB())
	amt(&st.Withdrawn[channel.A], "withdrawn a", r.GetWithdrawnA())
	amt(&st.Withdrawn[channel.B], "withdrawn b", r.GetWithdrawnB())
	if w := r.GetWithdrawal(); w != nil {
		st.Withdrawal = &channel.Withdrawal{Participant: channel.Side(w.GetParticipant()), Expiry: w.GetExpiry()}
		amt(&st.Withdrawal.Total, "withdrawal total", w.GetTotal())
		sig(&st.Withdrawal.Sigs[channel.A], "withdrawal sig a", w.GetSigA())
		sig(&st.Withdrawal.Sigs[channel.B], "withdrawal sig b", w.GetSigB())
	}
	if t := r.GetClose(); t != nil {
		st.Close = &channel.CloseTerms{Expiry: t.GetExpiry()}
		amt(&st.Close.Balance[channel.A], "close balance a", t.GetBalanceA())
		amt(&st.Close.Balance[channel.B], "close balance b", t.GetBalanceB())
		sig(&st.Close.Sigs[channel.A], "close sig a", t.GetSigA())
		sig(&st.Close.Sigs[channel.B], "close sig b", t.GetSigB())
	}
	if d := r.GetDispute(); d != nil {
		st.Dispute = &channel.Dispute{Closer: channel.Side(d.GetCloser()), SettleAfter: d.GetSettleAfter()}
		amt(&st.Dispute.Transferred[channel.A], "dispute transferred a", d.GetTransferredA())
		amt(&st.Dispute.Transferred[channel.B], "dispute transferred b", d.GetTransferredB())
	}
	for side, pr := range proofs {
		if pr == nil {
			continue
		}
		proof, err := proofFromRecord(pr)
		get(err)
		if channel.Side(side) == st.Self {
			st.Sent = proof
		} else {
			st.Received = proof
		}
	}
	st.Acked = min(r.GetAcked(), st.Sent.Nonce)
	return st, errors.Join(errs...)
}
