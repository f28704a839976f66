package node

import (
	"reflect"
	"testing"
	"time"

	"github.com/holiman/uint256"
	"google.golang.org/grpc/codes"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
)

// rawPeer speaks the peer protocol by hand, as the node whose address it
// carries (the transport proved that much).
type rawPeer struct {
	t    *testing.T
	conn *pipeConn
}

func dialRaw(t *testing.T, as crypto.Address, to *testNode) *rawPeer {
	x, y := pipe(as, to.key.Address())
	go to.n.HandlePeer(y)
	t.Cleanup(func() { x.Close(nil) })
	return &rawPeer{t: t, conn: x}
}

func (r *rawPeer) send(m *peerv1.Message) {
	r.t.Helper()
	if err := r.conn.Send(m); err != nil {
		r.t.Fatal(err)
	}
}

// next returns the next message that is not a Reestablish.
func (r *rawPeer) next() *peerv1.Message {
	r.t.Helper()
	for {
		type res struct {
			m   *peerv1.Message
			err error
		}
		ch := make(chan res, 1)
		go func() { m, err := r.conn.Recv(); ch <- res{m, err} }()
		select {
		case got := <-ch:
			if got.err != nil {
				r.t.Fatal(got.err)
			}
			if got.m.GetReestablish() != nil {
				continue
			}
			return got.m
		case <-time.After(5 * time.Second):
			r.t.Fatal("no reply")
		}
	}
}

func TestPeerInputRejected(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 1000)
	alice.pay(id, 10, "first")
	cs := mustChannel(t, bob)
	params := cs.state().Params
	dom := params.Domain()
	alice.stop() // from here on the test speaks for Alice

	sign := func(key *crypto.PrivateKey, d crypto.Domain, cid channel.ID, nonce uint64, total uint64) *peerv1.BalanceProof {
		v := uint256.NewInt(total)
		sig, err := key.Sign(d.BalanceProofDigest(cid, nonce, v))
		if err != nil {
			t.Fatal(err)
		}
		return &peerv1.BalanceProof{ChannelId: cid[:], Nonce: nonce, Transferred: amountBytes(v), Signature: sig[:],
			Parts: []*peerv1.PaymentPart{{PaymentId: make([]byte, 32), Amount: amountBytes(uint256.NewInt(total - 10))}}}
	}
	otherChain := crypto.NewDomain(params.ChainID+1, params.Adjudicator)
	cases := []struct {
		name   string
		as     crypto.Address
		msg    func() *peerv1.BalanceProof
		reest  bool // reestablish first
		code   codes.Code
		isNack bool
	}{
		{"channel of another pair", seedKey(3).Address(), func() *peerv1.BalanceProof { return sign(seedKey(3), dom, id, 2, 20) }, false, codes.PermissionDenied, false},
		{"unknown channel", alice.key.Address(), func() *peerv1.BalanceProof { return sign(alice.key, dom, channel.ID{7}, 2, 20) }, true, codes.NotFound, false},
		{"short channel id", alice.key.Address(), func() *peerv1.BalanceProof {
			m := sign(alice.key, dom, id, 2, 20)
			m.ChannelId = m.ChannelId[:31]
			return m
		}, true, codes.InvalidArgument, false},
		{"before reestablish", alice.key.Address(), func() *peerv1.BalanceProof { return sign(alice.key, dom, id, 2, 20) }, false, codes.FailedPrecondition, true},
		{"signed by someone else", alice.key.Address(), func() *peerv1.BalanceProof { return sign(seedKey(3), dom, id, 2, 20) }, true, codes.InvalidArgument, true},
		{"signed for another chain", alice.key.Address(), func() *peerv1.BalanceProof { return sign(alice.key, otherChain, id, 2, 20) }, true, codes.InvalidArgument, true},
		{"replayed nonce", alice.key.Address(), func() *peerv1.BalanceProof { return sign(alice.key, dom, id, 1, 20) }, true, codes.FailedPrecondition, true},
		{"lower total", alice.key.Address(), func() *peerv1.BalanceProof {
			m := sign(alice.key, dom, id, 2, 20)
			v := uint256.NewInt(5)
			sig, _ := alice.key.Sign(dom.BalanceProofDigest(id, 2, v))
			m.Transferred, m.Signature = amountBytes(v), sig[:]
			return m
		}, true, codes.FailedPrecondition, true},
		{"beyond the deposit", alice.key.Address(), func() *peerv1.BalanceProof { return sign(alice.key, dom, id, 2, 1001) }, true, codes.FailedPrecondition, true},
		{"parts do not add up", alice.key.Address(), func() *peerv1.BalanceProof {
			m := sign(alice.key, dom, id, 2, 20)
			m.Parts[0].Amount = amountBytes(uint256.NewInt(3))
			return m
		}, true, codes.InvalidArgument, true},
		{"no parts", alice.key.Address(), func() *peerv1.BalanceProof {
			m := sign(alice.key, dom, id, 2, 20)
			m.Parts = nil
			return m
		}, true, codes.InvalidArgument, true},
		{"amount with a leading zero", alice.key.Address(), func() *peerv1.BalanceProof {
			m := sign(alice.key, dom, id, 2, 20)
			m.Transferred = append([]byte{0}, m.Transferred...)
			return m
		}, true, codes.InvalidArgument, true},
		{"amount over 32 bytes", alice.key.Address(), func() *peerv1.BalanceProof {
			m := sign(alice.key, dom, id, 2, 20)
			m.Transferred = make([]byte, 33)
			m.Transferred[0] = 1
			return m
		}, true, codes.InvalidArgument, true},
		{"short signature", alice.key.Address(), func() *peerv1.BalanceProof {
			m := sign(alice.key, dom, id, 2, 20)
			m.Signature = m.Signature[:64]
			return m
		}, true, codes.InvalidArgument, true},
		{"nonce zero", alice.key.Address(), func() *peerv1.BalanceProof { return sign(alice.key, dom, id, 0, 20) }, true, codes.InvalidArgument, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := cs.state()
			logBefore := bob.st.LastSeq()
			r := dialRaw(t, tc.as, bob)
			if tc.reest {
				// Alice holds nothing of Bob's.
				r.send(&peerv1.Message{Body: &peerv1.Message_Reestablish{Reestablish: &peerv1.Reestablish{ChannelId: id[:], SentNonce: 1, AckedNonce: 1}}})
			}
			r.send(&peerv1.Message{Body: &peerv1.Message_Proof{Proof: tc.msg()}})
			m := r.next()
			var code codes.Code
			switch {
			case tc.isNack && m.GetNack() != nil:
				code = codes.Code(m.GetNack().GetCode())
			case !tc.isNack && m.GetError() != nil:
				code = codes.Code(m.GetError().GetCode())
			default:
				t.Fatalf("got %v", m)
			}
			if code != tc.code {
				t.Fatalf("code %s, want %s (%v)", code, tc.code, m)
			}
			after := cs.state()
			if !reflect.DeepEqual(before, after) {
				t.Fatalf("refused message changed the channel")
			}
			if got := bob.st.LastSeq(); got != logBefore {
				t.Fatalf("refused message wrote %d log entries", got-logBefore)
			}
		})
	}
	// And a good one still works over the same kind of connection.
	r := dialRaw(t, alice.key.Address(), bob)
	r.send(&peerv1.Message{Body: &peerv1.Message_Reestablish{Reestablish: &peerv1.Reestablish{ChannelId: id[:], SentNonce: 1, AckedNonce: 1}}})
	r.send(&peerv1.Message{Body: &peerv1.Message_Proof{Proof: sign(alice.key, dom, id, 2, 20)}})
	if m := r.next(); m.GetAck().GetNonce() != 2 {
		t.Fatalf("good proof: %v", m)
	}
	if got := u64(bob.channel(id).Received); got != 20 {
		t.Fatalf("bob holds %d", got)
	}
}
