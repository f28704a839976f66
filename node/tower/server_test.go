package tower

import (
	"errors"
	"strings"
	"testing"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
	"github.com/tinypay/tinypay/settlement"
)

// TestSubmitStoresNewestOnly: a proof of Bob's open channel signed by
// Alice is stored; a higher one replaces it; a resend of the same is
// acknowledged and changes nothing.
func TestSubmitStoresNewestOnly(t *testing.T) {
	w := newWorld(t)
	bob := w.chain.Bob.Address()
	p := w.openChannel()
	for _, step := range []struct {
		nonce, amount uint64
		heldNonce     uint64
	}{{1, 10, 1}, {3, 30, 3}, {3, 30, 3}} {
		ack := w.srv.Submit(w.ctx(), bob, msg(p, proof(t, w.chain.Alice, p, step.nonce, step.amount)))
		if ack.GetCode() != codeOK || ack.GetHeldNonce() != step.heldNonce {
			t.Fatalf("proof %d: ack code %d (%s), held nonce %d; want OK, %d", step.nonce, ack.GetCode(), ack.GetReason(), ack.GetHeldNonce(), step.heldNonce)
		}
	}
	r, err := w.st.Get(p.ID(), channel.A)
	if err != nil || r == nil {
		t.Fatalf("record: %v, %v", r, err)
	}
	if r.Proof.Nonce != 3 || r.Proof.Transferred.Uint64() != 30 || r.Node() != bob || r.Params != p {
		t.Fatalf("stored %+v, want nonce 3, 30 wei, for Bob, params %+v", r, p)
	}
	if got := len(w.dump()); got != 1 {
		t.Fatalf("store holds %d entries, want 1", got)
	}
}

// TestSubmitRefusals: every proof a tower must not take is refused with
// its code, and leaves the store exactly as it was.
func TestSubmitRefusals(t *testing.T) {
	w := newWorld(t, func(c *Config) { c.MaxChannelsPerNode = 3 })
	c := w.chain
	alice, bob, carol, mallory := c.Alice.Address(), c.Bob.Address(), c.Carol.Address(), c.Mallory.Address()
	p := w.openChannel()
	if ack := w.srv.Submit(w.ctx(), bob, msg(p, proof(t, c.Alice, p, 5, 50))); ack.GetCode() != codeOK {
		t.Fatalf("first proof refused: %s", ack.GetReason())
	}
	// A channel between Alice and Carol, open on chain: Bob is not in it.
	others := w.params(alice, carol)
	if _, err := w.alice.Open(w.ctx(), settlement.Params(others), uint256.NewInt(1000)); err != nil {
		t.Fatal(err)
	}
	// Bob's channel with the parameters of another.
	wrongID := msg(p, proof(t, c.Alice, p, 6, 60))
	wrongID.Salt = others.Salt[:]
	// A channel of Alice's and Bob's never opened.
	unopened := w.params(alice, bob)
	mutate := func(f func(m *peerv1.TowerProof)) *peerv1.TowerProof {
		m := msg(p, proof(t, c.Alice, p, 6, 60))
		f(m)
		return m
	}

	for _, tc := range []struct {
		name string
		from crypto.Address
		m    *peerv1.TowerProof
		want error
		code uint32
	}{
		// Mallory is not served, however valid her proof.
		{"node not served", mallory, msg(p, proof(t, c.Alice, p, 6, 60)), ErrNotServed, codePermissionDenied},
		// Signed by Mallory instead of the payer.
		{"forged signature", bob, msg(p, proof(t, c.Mallory, p, 6, 60)), ErrBadSignature, codeInvalidArgument},
		// Bob signing "Alice's" payments to himself.
		{"signed by the node itself", bob, msg(p, proof(t, c.Bob, p, 6, 60)), ErrBadSignature, codeInvalidArgument},
		// A valid signature by Alice, over another amount than claimed.
		{"signature over another amount", bob, mutate(func(m *peerv1.TowerProof) { m.Transferred = []byte{61} }), ErrBadSignature, codeInvalidArgument},
		// The signature bytes altered.
		{"signature altered", bob, mutate(func(m *peerv1.TowerProof) { m.Signature[3] ^= 1 }), ErrBadSignature, codeInvalidArgument},
		// Alice's channel with Carol, signed by Alice, sent by Bob.
		{"channel the node is not in", bob, msg(others, proof(t, c.Alice, others, 1, 10)), ErrNotParticipant, codePermissionDenied},
		// Parameters that do not hash to the channel id.
		{"parameters of another channel", bob, wrongID, ErrMalformed, codeInvalidArgument},
		// A channel not open on chain.
		{"channel not on chain", bob, msg(unopened, proof(t, c.Alice, unopened, 1, 10)), ErrNotOpen, codeNotFound},
		// Lower than the proof held (nonce 5, 50 wei).
		{"lower proof", bob, msg(p, proof(t, c.Alice, p, 4, 40)), ErrNotHigher, codeFailedPrecondition},
		// A higher nonce but a lower amount: amounts decide.
		{"higher nonce, lower amount", bob, msg(p, proof(t, c.Alice, p, 9, 49)), ErrNotHigher, codeFailedPrecondition},
		// Malformed fields.
		{"short channel id", bob, mutate(func(m *peerv1.TowerProof) { m.ChannelId = m.ChannelId[:31] }), ErrMalformed, codeInvalidArgument},
		{"short participant", bob, mutate(func(m *peerv1.TowerProof) { m.ParticipantA = m.ParticipantA[1:] }), ErrMalformed, codeInvalidArgument},
		{"short asset", bob, mutate(func(m *peerv1.TowerProof) { m.Asset = []byte{1, 2} }), ErrMalformed, codeInvalidArgument},
		{"short salt", bob, mutate(func(m *peerv1.TowerProof) { m.Salt = nil }), ErrMalformed, codeInvalidArgument},
		{"zero challenge period", bob, mutate(func(m *peerv1.TowerProof) { m.ChallengePeriod = 0 }), ErrMalformed, codeInvalidArgument},
		{"zero nonce", bob, mutate(func(m *peerv1.TowerProof) { m.Nonce = 0 }), ErrMalformed, codeInvalidArgument},
		{"zero amount", bob, mutate(func(m *peerv1.TowerProof) { m.Transferred = nil }), ErrMalformed, codeInvalidArgument},
		{"amount with a leading zero", bob, mutate(func(m *peerv1.TowerProof) { m.Transferred = []byte{0, 60} }), ErrMalformed, codeInvalidArgument},
		{"amount over 32 bytes", bob, mutate(func(m *peerv1.TowerProof) { m.Transferred = make([]byte, 33); m.Transferred[0] = 1 }), ErrMalformed, codeInvalidArgument},
		{"short signature", bob, mutate(func(m *peerv1.TowerProof) { m.Signature = m.Signature[:64] }), ErrMalformed, codeInvalidArgument},
		{"high-S signature", bob, mutate(func(m *peerv1.TowerProof) { highS(m.Signature) }), ErrBadSignature, codeInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := w.dump()
			held, err := w.srv.submit(w.ctx(), tc.from, tc.m)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			ack := w.srv.Submit(w.ctx(), tc.from, tc.m)
			if ack.GetCode() != tc.code || ack.GetReason() == "" {
				t.Fatalf("ack code %d reason %q, want code %d with a reason", ack.GetCode(), ack.GetReason(), tc.code)
			}
			if errors.Is(err, ErrNotHigher) && (held == nil || held.Proof.Nonce != 5 || ack.GetHeldNonce() != 5) {
				t.Fatalf("a lower proof's answer names held %v (ack %d), want nonce 5", held, ack.GetHeldNonce())
			}
			if after := w.dump(); !sameDump(before, after) {
				t.Fatalf("the store changed: %d entries before, %d after", len(before), len(after))
			}
		})
	}
}

// highS turns sig into its high-S twin (valid for ecrecover, refused by
// the adjudicator and by crypto.Recover).
func highS(sig []byte) {
	n := uint256.MustFromHex("0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141")
	var s uint256.Int
	s.SetBytes(sig[32:64])
	s.Sub(n, &s)
	b := s.Bytes32()
	copy(sig[32:64], b[:])
	sig[64] ^= 1 // 27 <-> 28
}

// TestSubmitBoundPerNode: beyond MaxChannelsPerNode channels of one node,
// the proofs of new channels are refused (the store unchanged), while
// newer proofs of the channels held are still taken.
func TestSubmitBoundPerNode(t *testing.T) {
	w := newWorld(t, func(c *Config) { c.MaxChannelsPerNode = 2 })
	bob := w.chain.Bob.Address()
	var ps []channel.Params
	for range 4 {
		ps = append(ps, w.openChannel())
	}
	for i, p := range ps[:2] {
		if ack := w.srv.Submit(w.ctx(), bob, msg(p, proof(t, w.chain.Alice, p, 1, 10))); ack.GetCode() != codeOK {
			t.Fatalf("channel %d refused: %s", i, ack.GetReason())
		}
	}
	before := w.dump()
	for i, p := range ps[2:] {
		for n := uint64(1); n <= 3; n++ {
			ack := w.srv.Submit(w.ctx(), bob, msg(p, proof(t, w.chain.Alice, p, n, 10*n)))
			if ack.GetCode() != codeResourceExhausted || !strings.Contains(ack.GetReason(), "too many channels") {
				t.Fatalf("channel %d beyond the bound: code %d (%s), want RESOURCE_EXHAUSTED", i+2, ack.GetCode(), ack.GetReason())
			}
		}
	}
	if !sameDump(before, w.dump()) {
		t.Fatal("refused proofs changed the store")
	}
	if ack := w.srv.Submit(w.ctx(), bob, msg(ps[0], proof(t, w.chain.Alice, ps[0], 2, 20))); ack.GetCode() != codeOK {
		t.Fatalf("a newer proof of a channel held was refused: %s", ack.GetReason())
	}
	// The bound survives a restart (it is counted from the store).
	w.close()
	w.open(func(c *Config) { c.MaxChannelsPerNode = 2 })
	if ack := w.srv.Submit(w.ctx(), bob, msg(ps[2], proof(t, w.chain.Alice, ps[2], 1, 10))); ack.GetCode() != codeResourceExhausted {
		t.Fatalf("after a restart, a third channel: code %d (%s), want RESOURCE_EXHAUSTED", ack.GetCode(), ack.GetReason())
	}
}

// TestSubmitSettledChannel: a proof of a settled channel is refused and
// not stored; a settlement drops the proofs held (and frees their place).
func TestSubmitSettledChannel(t *testing.T) {
	w := newWorld(t, func(c *Config) { c.MaxChannelsPerNode = 1 })
	c := w.chain
	bob := c.Bob.Address()
	p := w.openChannel()
	if ack := w.srv.Submit(w.ctx(), bob, msg(p, proof(t, c.Alice, p, 1, 10))); ack.GetCode() != codeOK {
		t.Fatalf("refused: %s", ack.GetReason())
	}
	w.srv.Start()
	if _, err := w.alice.ForceClose(w.ctx(), settlement.Params(p), settlement.Proof{}, settlement.Proof{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the tower to present its proof", func() bool {
		ch, err := w.alice.Channel(w.ctx(), p.ID())
		return err == nil && ch.Transferred[0].Uint64() == 10
	})
	c.Advance(t, p.ChallengePeriod+1)
	if _, err := w.alice.Settle(w.ctx(), settlement.Params(p)); err != nil {
		t.Fatal(err)
	}
	c.Commit()
	waitFor(t, "the tower to drop the settled channel's proof", func() bool { return len(w.dump()) == 0 })
	ack := w.srv.Submit(w.ctx(), bob, msg(p, proof(t, c.Alice, p, 2, 20)))
	if ack.GetCode() != codeFailedPrecondition || !strings.Contains(ack.GetReason(), "settled") {
		t.Fatalf("a proof of a settled channel: code %d (%s), want FAILED_PRECONDITION", ack.GetCode(), ack.GetReason())
	}
	if n := len(w.dump()); n != 0 {
		t.Fatalf("the store holds %d entries, want none", n)
	}
	// Its place is free again.
	q := w.openChannel()
	if ack := w.srv.Submit(w.ctx(), bob, msg(q, proof(t, c.Alice, q, 1, 10))); ack.GetCode() != codeOK {
		t.Fatalf("a new channel after the settlement: %s", ack.GetReason())
	}
}

// TestStoreRefusesOtherChain: a tower's data dir belongs to one chain and
// adjudicator.
func TestStoreRefusesOtherChain(t *testing.T) {
	w := newWorld(t)
	w.close()
	_, err := OpenStore(w.dir, 1, crypto.Address(w.chain.Adjudicator), nil)
	if err == nil || !strings.Contains(err.Error(), "belongs to chain") {
		t.Fatalf("open on another chain: %v", err)
	}
}
