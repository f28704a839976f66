package node

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
)

// TestPeerMessageTable sends every peer message type (all but Hello, which
// the transport owns) to a node whose channel with the sender is in each
// phase, unsolicited, duplicated and out of order, and checks that each is
// handled or refused with a clear reason, that a refusal changes nothing
// (no channel's state, no log entry), and that after each the node still
// serves another channel with another peer and answers Health.
//
// Bob is the node under test. The test speaks for Alice, side A of the
// channel under test (X), over a raw connection, a new one per row; Carol
// has a channel of her own with Bob (Y), which must keep working and which
// Alice must never be able to touch. Each phase has its own net, set up
// once and rebuilt only when a row moved the channel out of the phase (a
// handled message may, and so may a bug).
//
// The phases run at once (t.Run from one goroutine each, which testing
// allows, rather than t.Parallel, which -parallel would hold to the number
// of CPUs): their time goes mostly to waiting for answers that must not
// come.
func TestPeerMessageTable(t *testing.T) {
	rows := tblRows()
	var wg sync.WaitGroup
	for _, phase := range tblPhases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run(phase.String(), func(t *testing.T) {
				var fx *tblFixture
				for _, row := range rows {
					if fx != nil && fx.drifted(t) {
						fx.stop()
						fx = nil
					}
					if fx == nil {
						fx = tblSetup(t, phase)
					}
					t.Run(row.name, func(t *testing.T) { fx.run(t, row) })
				}
			})
		}()
	}
	wg.Wait()
}

// The phases of X, Bob's channel with Alice. Abandoned is not one: Bob is
// side B, and a proposal abandoned before it opened is forgotten (the
// Abandon rows of Opening check that), so messages about it are about an
// unknown channel.
var tblPhases = []channel.Phase{channel.Opening, channel.Open, channel.Closing, channel.Closed, channel.Settled}

const (
	tblReplyWait = 2 * time.Second // for an answer that comes after a write or a chain read
	tblQuiet     = time.Second     // for the channels to stop waiting (chain reads, writes)
)

// tblRow is one (message, variant) of the table.
type tblRow struct {
	name  string
	reest bool // reestablish the channel on the new connection first, as a peer does
	times int  // copies of the message sent one after the other (2: duplicated)
	// prep, if set, returns a message that sets the scene, sent first
	// (nil: none in this phase), and what the node must do with it.
	prep func(x *tblCtx) (*peerv1.Message, tblWant)
	// build returns the message and what the node must do with each copy
	// (one tblWant for all copies, or one per copy).
	build func(x *tblCtx) (*peerv1.Message, []tblWant)
}

// tblWant is what the node must do with one message.
type tblWant struct {
	replies  []tblMatch // its answers, in any order; none: silence
	orSilent bool       // silence is a correct answer too
	changes  bool       // handled: channels and the log may change
	then     func(t *testing.T, fx *tblFixture)
}

// tblMatch recognises one expected answer.
type tblMatch struct {
	desc  string
	reest bool // the answer is a Reestablish (otherwise Reestablish messages are not answers)
	match func(m *peerv1.Message) bool
}

func tblOne(w tblWant) []tblWant { return []tblWant{w} }

func tblRefuse(m tblMatch) tblWant { return tblWant{replies: []tblMatch{m}} }

func tblRows() []tblRow {
	silent := tblOne(tblWant{})
	return []tblRow{
		// An Error naming the channel is logged and answers nothing (no
		// proposal waits for it); a node never answers an error, and nothing
		// changes.
		{name: "Error/unsolicited", reest: true, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			return x.errorMsg(x.fx.id), silent
		}},
		// The same error twice: still nothing.
		{name: "Error/duplicated", reest: true, times: 2, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			return x.errorMsg(x.fx.id), silent
		}},
		// An error naming Carol's channel touches nothing of Carol's.
		{name: "Error/foreign channel", reest: true, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			return x.errorMsg(x.fx.other), silent
		}},
		// An Accept for a proposal this node never made (or gave up) is a late
		// answer: ignored, nothing changes.
		{name: "Accept/unsolicited", reest: true, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			return &peerv1.Message{Body: &peerv1.Message_Accept{Accept: &peerv1.Accept{ChannelId: x.fx.id[:]}}}, silent
		}},
		// An Accept naming Carol's channel: ignored, nothing of Carol's changes.
		{name: "Accept/foreign channel", reest: true, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			return &peerv1.Message{Body: &peerv1.Message_Accept{Accept: &peerv1.Accept{ChannelId: x.fx.other[:]}}}, silent
		}},
		// A new proposal is accepted (a new channel in Opening) whatever the
		// phase of the existing one, which does not change.
		{name: "Propose/unsolicited", reest: true, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			m, id := x.fx.propose(randomID())
			return m, tblOne(tblWant{replies: []tblMatch{tblAccept(id)}, changes: true, then: tblNewChannel(id)})
		}},
		// The same proposal twice: accepted once, then refused as existing,
		// without touching the channel it created.
		{name: "Propose/duplicated", reest: true, times: 2, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			m, id := x.fx.propose(randomID())
			return m, []tblWant{
				{replies: []tblMatch{tblAccept(id)}, changes: true, then: tblNewChannel(id)},
				tblRefuse(tblError(id, codeAlreadyExists, "exists")),
			}
		}},
		// A proposal with the parameters of the existing channel: its id is
		// never reused, whatever its phase.
		{name: "Propose/replaying the channel's parameters", reest: true, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			p := x.st.Params
			return &peerv1.Message{Body: &peerv1.Message_Propose{Propose: &peerv1.Propose{
				Asset: p.Asset[:], ChallengePeriod: p.ChallengePeriod, Salt: p.Salt[:], Deposit: amountBytes(uint256.NewInt(1000)),
			}}}, tblOne(tblRefuse(tblError(x.fx.id, codeAlreadyExists, "exists")))
		}},
		// A proof on a new connection before the Reestablish exchange:
		// refused, in every phase.
		// (Outside Open and Opening it is refused for the phase first.)
		{name: "Proof/before Reestablish", build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			if x.phase != channel.Open && x.phase != channel.Opening {
				return x.nextProof(1, 7), tblOne(tblRefuse(tblNack(x.fx.id, codeFailedPrecondition, x.phaseWhy(""))))
			}
			return x.nextProof(1, 7), tblOne(tblRefuse(tblNack(x.fx.id, codeFailedPrecondition, "reestablish")))
		}},
		// The next proof: acknowledged once durable while open, refused in
		// any other phase.
		{name: "Proof/unsolicited next proof", reest: true, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			return x.nextProof(1, 7), tblOne(x.proofWant(x.st.Received.Nonce+1, 7))
		}},
		// The same proof twice: the second is refused as stale (or, outside
		// Open, both for the phase) and changes nothing.
		{name: "Proof/duplicated", reest: true, times: 2, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			return x.nextProof(1, 7), []tblWant{
				x.proofWant(x.st.Received.Nonce+1, 7),
				tblRefuse(tblNack(x.fx.id, codeFailedPrecondition, x.phaseWhy("nonce"))),
			}
		}},
		// A nonce gap: proofs are cumulative, so a newer proof covers the
		// missing ones (a resend after a reconnect is exactly that): accepted
		// while open, refused otherwise.
		{name: "Proof/out of order: nonce gap", reest: true, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			return x.nextProof(5, 7), tblOne(x.proofWant(x.st.Received.Nonce+5, 7))
		}},
		// The newest proof the node holds, sent again (or a first proof
		// where none is held outside Open): refused, nothing changes.
		{name: "Proof/out of order: replay of the newest held", reest: true, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			if x.st.Received.IsZero() {
				return x.nextProof(1, 7), tblOne(tblRefuse(tblNack(x.fx.id, codeFailedPrecondition, x.phaseWhy(""))))
			}
			r := x.st.Received
			return x.proof(x.st.Params, r.Nonce, &r.Transferred, uint256.NewInt(7)),
				tblOne(tblRefuse(tblNack(x.fx.id, codeFailedPrecondition, x.phaseWhy("nonce"))))
		}},
		// A proof on Carol's channel: not Alice's, refused as such.
		{name: "Proof/foreign channel", reest: true, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			return x.proof(x.fx.otherParams, 1, uint256.NewInt(7), uint256.NewInt(7)),
				tblOne(tblRefuse(tblError(x.fx.other, codePermissionDenied, "not yours")))
		}},
		// A proof on a channel that does not exist: refused as unknown.
		{name: "Proof/unknown channel", reest: true, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			p := x.st.Params
			p.Salt = crypto.Keccak256([]byte("tbl-unknown"))
			return x.proof(p, 1, uint256.NewInt(7), uint256.NewInt(7)), tblOne(tblRefuse(tblError(p.ID(), codeNotFound, "unknown channel")))
		}},
		// An acknowledgement of what is acknowledged already, twice:
		// acknowledgements are cumulative, so it is a harmless no-op.
		{name: "Ack/duplicated", reest: true, times: 2, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			return &peerv1.Message{Body: &peerv1.Message_Ack{Ack: &peerv1.Ack{ChannelId: x.fx.id[:], Nonce: x.st.Acked}}}, silent
		}},
		// An acknowledgement of a nonce this node never signed (it can race
		// a restart): ignored or refused, nothing changes.
		{name: "Ack/out of order: nonce never signed", reest: true, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			return &peerv1.Message{Body: &peerv1.Message_Ack{Ack: &peerv1.Ack{ChannelId: x.fx.id[:], Nonce: x.st.Sent.Nonce + 1}}},
				tblOne(tblWant{replies: []tblMatch{tblError(x.fx.id, codeFailedPrecondition, "")}, orSilent: true})
		}},
		// A refusal of a proof this node never signed, twice: nothing was
		// refused, so nothing may change and nothing may be written (a peer
		// could otherwise fill the log).
		{name: "Nack/unsolicited: nonce never signed", reest: true, times: 2, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			return x.nack(x.st.Sent.Nonce + 1), tblOne(tblWant{replies: []tblMatch{tblError(x.fx.id, codeFailedPrecondition, "")}, orSilent: true})
		}},
		// A refusal of a proof the peer acknowledged already: contradicts
		// the acknowledgement; nothing may change and nothing be written.
		{name: "Nack/out of order: proof already acknowledged", reest: true, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			return x.nack(max(x.st.Acked, 1)), tblOne(tblWant{replies: []tblMatch{tblError(x.fx.id, codeFailedPrecondition, "")}, orSilent: true})
		}},
		// A refusal with a 100 kB reason (beyond what one log record may
		// hold): nothing is written, and the node does not fail on a peer's
		// text but keeps serving every channel.
		{name: "Nack/unsolicited: oversized reason", reest: true, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			m := x.nack(x.st.Sent.Nonce + 1)
			m.GetNack().Reason = strings.Repeat("refused ", 100_000/8)
			return m, tblOne(tblWant{replies: []tblMatch{tblError(x.fx.id, codeFailedPrecondition, "")}, orSilent: true})
		}},
		// A Reestablish asking for one back: answered with the node's own
		// (and, while closing, the countersignature it owes again); nothing
		// changes.
		{name: "Reestablish/unsolicited, asking for a reply", build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			w := tblWant{replies: append([]tblMatch{tblReestablish(x.fx.id)}, x.resends()...)}
			return tblReestablishMsg(x.fx.id, x.st, true), tblOne(w)
		}},
		// The same Reestablish twice: each is safe to receive again (only
		// the resends are sent again); nothing changes.
		{name: "Reestablish/duplicated", times: 2, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			return tblReestablishMsg(x.fx.id, x.st, false), tblOne(tblWant{replies: x.resends()})
		}},
		// A Reestablish holding a "newer proof of ours" that we never signed:
		// refused for its signature, nothing adopted.
		{name: "Reestablish/forged proof of ours", build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			s := x.st.Sent
			var total uint256.Int
			total.AddUint64(&s.Transferred, 1)
			held := x.proof(x.st.Params, s.Nonce+1, &total, &total).GetProof()
			held.Parts = nil
			m := &peerv1.Message{Body: &peerv1.Message_Reestablish{Reestablish: &peerv1.Reestablish{ChannelId: x.fx.id[:], Held: held, SentNonce: x.st.Received.Nonce, AckedNonce: x.st.Received.Nonce}}}
			return m, tblOne(tblRefuse(tblError(x.fx.id, codeInvalidArgument, "signature")))
		}},
		// A Reestablish of Carol's channel: not Alice's, refused as such.
		{name: "Reestablish/foreign channel", build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			return tblReestablishMsg(x.fx.other, channel.State{}, true), tblOne(tblRefuse(tblError(x.fx.other, codePermissionDenied, "not yours")))
		}},
		// A countersignature of a withdrawal this node never asked for:
		// refused, nothing changes.
		{name: "WithdrawReply/unsolicited", reest: true, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			sig := x.sign(x.st.Params.Domain().WithdrawDigest(x.fx.id, x.fx.bob.key.Address(), uint256.NewInt(1), 1))
			return &peerv1.Message{Body: &peerv1.Message_WithdrawReply{WithdrawReply: &peerv1.WithdrawReply{ChannelId: x.fx.id[:], Signature: sig[:]}}},
				tblOne(tblRefuse(tblError(x.fx.id, codeFailedPrecondition, "no withdrawal")))
		}},
		// A refusal of a withdrawal this node never asked for, twice: refused
		// both times, nothing changes.
		{name: "WithdrawReply/duplicated refusal", reest: true, times: 2, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			return &peerv1.Message{Body: &peerv1.Message_WithdrawReply{WithdrawReply: &peerv1.WithdrawReply{ChannelId: x.fx.id[:], Error: "the table test refuses"}}},
				tblOne(tblRefuse(tblError(x.fx.id, codeFailedPrecondition, "no withdrawal")))
		}},
		// A countersignature of close terms this node never proposed:
		// refused, and nothing changes or is written. While closing on the
		// peer's terms, the reason must say that this node proposed none
		// (not that the phase, which is closing, forbids it).
		{name: "CloseReply/unsolicited", reest: true, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			sig := x.sign(x.st.Params.Domain().CooperativeCloseDigest(x.fx.id, uint256.NewInt(1), uint256.NewInt(1), 1))
			why := ""
			if x.phase == channel.Closing {
				why = "propos"
			}
			return &peerv1.Message{Body: &peerv1.Message_CloseReply{CloseReply: &peerv1.CloseReply{ChannelId: x.fx.id[:], Signature: sig[:]}}},
				tblOne(tblRefuse(tblError(x.fx.id, codeFailedPrecondition, why)))
		}},
		// A refusal of close terms this node never proposed: ignored or
		// refused, and nothing changes or is written (no "the peer refused
		// the close terms" in the log).
		{name: "CloseReply/unsolicited refusal", reest: true, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			return &peerv1.Message{Body: &peerv1.Message_CloseReply{CloseReply: &peerv1.CloseReply{ChannelId: x.fx.id[:], Error: "the table test refuses"}}},
				tblOne(tblWant{replies: []tblMatch{tblError(x.fx.id, codeFailedPrecondition, "")}, orSilent: true})
		}},
		// A request for the payments of Alice's own proofs: answered with
		// exactly what the node received from her; nothing changes.
		{name: "RecoverRequest/unsolicited", reest: true, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			return x.recoverRequest(), tblOne(tblWant{replies: []tblMatch{tblRecovered(x.fx.id, x.st.Received)}})
		}},
		// The same request twice: answered twice alike.
		{name: "RecoverRequest/duplicated", reest: true, times: 2, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			return x.recoverRequest(), tblOne(tblWant{replies: []tblMatch{tblRecovered(x.fx.id, x.st.Received)}})
		}},
		// Carol's payments are not Alice's to read: refused.
		{name: "RecoverRequest/foreign channel", reest: true, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			return &peerv1.Message{Body: &peerv1.Message_RecoverRequest{RecoverRequest: &peerv1.RecoverRequest{ChannelId: x.fx.other[:]}}},
				tblOne(tblRefuse(tblError(x.fx.other, codePermissionDenied, "not yours")))
		}},
		// Recovery data nobody asked for is a late answer: ignored, nothing
		// written.
		{name: "Recovered/unsolicited", reest: true, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			pid := randomID()
			return &peerv1.Message{Body: &peerv1.Message_Recovered{Recovered: &peerv1.Recovered{ChannelId: x.fx.id[:], Payments: []*peerv1.RecoveredPayment{{
				Nonce: 1, Cumulative: amountBytes(uint256.NewInt(10)), Part: &peerv1.PaymentPart{PaymentId: pid[:], Amount: amountBytes(uint256.NewInt(10))},
			}}}}}, silent
		}},
		// Streams are the application layer's; a node without one passes
		// the message to its (empty) hooks and answers nothing.
		{name: "StreamStart/unsolicited", reest: true, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			return x.streamStart(x.fx.id), silent
		}},
		// Likewise for the end of a stream.
		{name: "StreamEnd/unsolicited", reest: true, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			sid := randomID()
			return &peerv1.Message{Body: &peerv1.Message_StreamEnd{StreamEnd: &peerv1.StreamEnd{StreamId: sid[:16], ChannelId: x.fx.id[:], Reason: "done"}}}, silent
		}},
		// A stream on Carol's channel: refused before the application sees it.
		{name: "StreamStart/foreign channel", reest: true, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			return x.streamStart(x.fx.other), tblOne(tblRefuse(tblError(x.fx.other, codePermissionDenied, "not yours")))
		}},
		// A withdrawal from Carol's channel: refused.
		{name: "WithdrawRequest/foreign channel", reest: true, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			m := x.withdrawRequest(x.fx.otherParams, uint256.NewInt(1), x.now+100_000)
			return m, tblOne(tblRefuse(tblError(x.fx.other, codePermissionDenied, "not yours")))
		}},
		// Close terms for Carol's channel: refused.
		{name: "CloseRequest/foreign channel", reest: true, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			m := x.closeRequest(x.fx.otherParams, uint256.NewInt(0), uint256.NewInt(100_000), x.now+100_000)
			return m, tblOne(tblRefuse(tblError(x.fx.other, codePermissionDenied, "not yours")))
		}},
		// Abandoning Carol's channel: refused, Carol's channel stays open.
		{name: "Abandon/foreign channel", reest: true, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			return tblAbandonMsg(x.fx.other), tblOne(tblRefuse(tblError(x.fx.other, codePermissionDenied, "not yours")))
		}},

		// The rows below may move the channel out of its phase when they are
		// handled (or when the node gets them wrong); the phase's net is
		// rebuilt after such a row.

		// A withdrawal beyond Alice's balance: refused at once with the
		// reason (balance while open, else the phase), nothing changes.
		{name: "WithdrawRequest/beyond the peer's balance", reest: true, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			var total uint256.Int
			total.AddUint64(&x.info.PeerBalance, 1)
			return x.withdrawRequest(x.st.Params, &total, x.now+100_000),
				tblOne(tblRefuse(tblWithdrawRefused(x.fx.id, x.phaseWhy("insufficient balance"))))
		}},
		// A valid withdrawal twice: countersigned once (while open), the copy
		// gets the same countersignature and changes nothing; refused for the
		// phase otherwise.
		{name: "WithdrawRequest/duplicated", reest: true, times: 2, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			total, expiry := uint256.NewInt(100), x.now+100_000
			m := x.withdrawRequest(x.st.Params, total, expiry)
			if x.phase != channel.Open {
				return m, tblOne(tblRefuse(tblWithdrawRefused(x.fx.id, x.phaseWhy(""))))
			}
			d := x.st.Params.Domain().WithdrawDigest(x.fx.id, x.fx.akey.Address(), total, expiry)
			signed := tblWithdrawSigned(x.fx.id, d, x.fx.bob.key.Address())
			return m, []tblWant{
				{replies: []tblMatch{signed}, changes: true, then: func(t *testing.T, fx *tblFixture) {
					st := fx.state(t)
					if w := st.Withdrawal; w == nil || w.Participant != channel.A || !w.Total.Eq(total) || !w.Complete() {
						t.Errorf("after the countersigned withdrawal: %+v", st.Withdrawal)
					}
				}},
				{replies: []tblMatch{signed}},
			}
		}},
		// Close terms while the peer's withdrawal is pending (out of order:
		// it must reach the chain or expire first): refused with the reason
		// (after at most a chain read, which finds nothing), nothing changes.
		{name: "CloseRequest/out of order: while a withdrawal is pending", reest: true,
			prep: func(x *tblCtx) (*peerv1.Message, tblWant) {
				if x.phase != channel.Open {
					return nil, tblWant{}
				}
				total, expiry := uint256.NewInt(100), x.now+100_000
				d := x.st.Params.Domain().WithdrawDigest(x.fx.id, x.fx.akey.Address(), total, expiry)
				return x.withdrawRequest(x.st.Params, total, expiry), tblWant{replies: []tblMatch{tblWithdrawSigned(x.fx.id, d, x.fx.bob.key.Address())}, changes: true}
			},
			build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
				// (Not the terms countersigned while closing: another expiry.)
				m := x.closeRequest(x.st.Params, &x.info.PeerBalance, &x.info.MyBalance, x.now+99_999)
				return m, tblOne(tblRefuse(tblCloseRefused(x.fx.id, x.phaseWhy("withdrawal"))))
			}},
		// Close terms that have expired: refused with the reason (expiry
		// while open, else the phase), nothing changes.
		{name: "CloseRequest/expired terms", reest: true, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			m := x.closeRequest(x.st.Params, &x.info.PeerBalance, &x.info.MyBalance, 1)
			return m, tblOne(tblRefuse(tblCloseRefused(x.fx.id, x.phaseWhy("expired"))))
		}},
		// Close terms that give this node less than its balance: refused with
		// the reason (the terms while open, else the phase).
		{name: "CloseRequest/unfair terms", reest: true, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			a, b := x.info.PeerBalance, x.info.MyBalance
			if !b.IsZero() {
				b.SubUint64(&b, 1)
				a.AddUint64(&a, 1)
			}
			m := x.closeRequest(x.st.Params, &a, &b, x.now+100_000)
			return m, tblOne(tblRefuse(tblCloseRefused(x.fx.id, x.phaseWhy("terms give us"))))
		}},
		// Fair close terms twice: countersigned once (the channel is
		// closing), the copy gets the same countersignature and changes
		// nothing; while closing, the terms already countersigned get the
		// same answer; refused for the phase otherwise.
		{name: "CloseRequest/duplicated", reest: true, times: 2, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			var m *peerv1.Message
			if x.phase == channel.Closing {
				m = &peerv1.Message{Body: &peerv1.Message_CloseRequest{CloseRequest: x.fx.closeReq}}
			} else {
				m = x.closeRequest(x.st.Params, &x.info.PeerBalance, &x.info.MyBalance, x.now+100_000)
			}
			cr := m.GetCloseRequest()
			switch x.phase {
			case channel.Open:
				signed := tblCloseSigned(x.fx.id, cr, x.st.Params, x.fx.bob.key.Address())
				return m, []tblWant{
					{replies: []tblMatch{signed}, changes: true, then: func(t *testing.T, fx *tblFixture) {
						if st := fx.state(t); st.Phase != channel.Closing || st.Close == nil || !st.Close.Complete() {
							t.Errorf("after countersigning the close: phase %s, terms %+v", st.Phase, st.Close)
						}
					}},
					{replies: []tblMatch{signed}},
				}
			case channel.Closing:
				return m, tblOne(tblWant{replies: []tblMatch{tblCloseSigned(x.fx.id, cr, x.st.Params, x.fx.bob.key.Address())}})
			}
			return m, tblOne(tblRefuse(tblCloseRefused(x.fx.id, x.phaseWhy(""))))
		}},
		// The opener gives up the open: the channel is abandoned here too
		// while opening (no answer), ignored once abandoned, and refused for
		// the phase once the channel exists on chain.
		{name: "Abandon/unsolicited", reest: true, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			return tblAbandonMsg(x.fx.id), tblOne(x.abandonWant())
		}},
		// The same abandon twice: the copy changes nothing.
		{name: "Abandon/duplicated", reest: true, times: 2, build: func(x *tblCtx) (*peerv1.Message, []tblWant) {
			first := x.abandonWant()
			if x.phase == channel.Opening {
				return tblAbandonMsg(x.fx.id), []tblWant{first, {}}
			}
			return tblAbandonMsg(x.fx.id), tblOne(first)
		}},
	}
}

// --- the phase's net ---

// tblFixture is one phase's net: Bob, Carol with channel Y to Bob, and
// channel X between Alice (spoken for by the test) and Bob in the phase.
type tblFixture struct {
	phase       channel.Phase
	w           *net
	bob, carol  *testNode
	nodes       []*testNode
	akey        *crypto.PrivateKey // Alice's: the raw connections speak for her
	id          channel.ID         // X, Alice and Bob's
	other       channel.ID         // Y, Carol and Bob's
	otherParams channel.Params
	init        channel.State        // X right after the setup
	closeReq    *peerv1.CloseRequest // Closing: the terms Bob countersigned
	pays        int
}

func tblSetup(t *testing.T, phase channel.Phase) *tblFixture {
	t.Helper()
	w := newNet(t)
	fx := &tblFixture{phase: phase, w: w, akey: seedKey(1)}
	fx.bob = w.add("bob", 2)
	fx.carol = w.add("carol", 3)
	fx.nodes = []*testNode{fx.bob, fx.carol}
	fx.carol.connect(fx.bob)
	fx.other = fx.carol.open(fx.bob, 100_000)
	guard(t, "bob's channel with carol", func() { fx.otherParams = fx.bob.n.chans.get(fx.other).params })
	ctx := context.Background()
	switch phase {
	case channel.Opening:
		// Alice proposes and never opens: Bob is side B of a channel in
		// Opening.
		c := fx.dial(t)
		m, id := fx.propose(randomID())
		c.send(m)
		c.expect("Accept", func(m *peerv1.Message) bool { return bytes.Equal(m.GetAccept().GetChannelId(), id[:]) })
		fx.id = id
		c.close()
	default:
		alice := w.add("alice", 1)
		fx.nodes = append(fx.nodes, alice)
		alice.connect(fx.bob)
		fx.id = alice.open(fx.bob, 1000)
		alice.pay(fx.id, 10, "alice-1")
		fx.bob.pay(fx.id, 5, "bob-1")
		if phase == channel.Settled {
			var ci ChannelInfo
			var err error
			guard(t, "bob CloseChannel", func() { ci, err = fx.bob.n.CloseChannel(ctx, fx.id) })
			if err != nil || ci.Phase != channel.Settled {
				t.Fatalf("cooperative close: %v (phase %s)", err, ci.Phase)
			}
		}
		alice.stop() // from here on the test speaks for Alice
		switch phase {
		case channel.Closed:
			var ci ChannelInfo
			var err error
			guard(t, "bob ForceClose", func() { ci, err = fx.bob.n.ForceClose(ctx, fx.id) })
			if err != nil || ci.Phase != channel.Closed {
				t.Fatalf("force close: %v (phase %s)", err, ci.Phase)
			}
		case channel.Closing:
			// Alice proposes fair terms; Bob countersigns them and waits
			// for her to submit them.
			c := fx.dial(t)
			c.reestablish()
			x := fx.ctx(t)
			m := x.closeRequest(x.st.Params, &x.info.PeerBalance, &x.info.MyBalance, x.now+100_000)
			c.send(m)
			signed := tblCloseSigned(fx.id, m.GetCloseRequest(), x.st.Params, fx.bob.key.Address())
			c.expect(signed.desc, signed.match)
			fx.closeReq = m.GetCloseRequest()
			c.close()
		}
	}
	fx.quiesce(t) // the set-up's writes are on disk before any row counts them
	fx.init = fx.state(t)
	if fx.init.Phase != phase {
		t.Fatalf("set up channel in phase %s, want %s", fx.init.Phase, phase)
	}
	return fx
}

// stop stops the fixture's nodes (a rebuild: the next rows get a fresh net).
func (fx *tblFixture) stop() {
	for _, tn := range fx.nodes {
		tn.stop()
	}
}

// drifted reports whether X left the fixture's phase, holds a withdrawal or
// close terms it did not hold, or keeps its peer's messages waiting.
func (fx *tblFixture) drifted(t *testing.T) bool {
	fx.quiesce(t) // a channel that waited for a peer gone since is done waiting
	var c *chanActor
	guard(t, "bob's channel with alice", func() { c = fx.bob.n.chans.get(fx.id) })
	if c == nil {
		t.Logf("rebuilding the %s net: bob forgot the channel", fx.phase)
		return true
	}
	var st channel.State
	var paused string
	tblCall(t, c, func() { st, paused = c.ch.State(), c.paused })
	i := fx.init
	if p := fx.bob.n.failed.Load(); p != nil {
		t.Logf("rebuilding the %s net: bob failed: %v", fx.phase, *p)
		return true
	}
	if paused != "" || st.Phase != i.Phase || (st.Withdrawal == nil) != (i.Withdrawal == nil) || (st.Close == nil) != (i.Close == nil) {
		t.Logf("rebuilding the %s net: the channel is %s (paused: %q, withdrawal %v, close terms %v)", fx.phase, st.Phase, paused, st.Withdrawal != nil, st.Close != nil)
		return true
	}
	return false
}

func (fx *tblFixture) actor(t *testing.T) *chanActor {
	t.Helper()
	var c *chanActor
	guard(t, "bob's channel with alice", func() { c = fx.bob.n.chans.get(fx.id) })
	if c == nil {
		t.Fatalf("bob has no channel %s", fx.id)
	}
	return c
}

// state returns X's state, from its owner.
func (fx *tblFixture) state(t *testing.T) channel.State {
	t.Helper()
	c := fx.actor(t)
	var st channel.State
	guard(t, "bob's channel state", func() { st = c.state() })
	return st
}

// propose is Alice's proposal of a new channel with salt, and its id.
func (fx *tblFixture) propose(salt [32]byte) (*peerv1.Message, channel.ID) {
	p := channel.Params{ChainID: fx.w.chain.chainID, Adjudicator: fx.w.chain.adj,
		Participants: [2]crypto.Address{fx.akey.Address(), fx.bob.key.Address()}, ChallengePeriod: 100, Salt: salt}
	return &peerv1.Message{Body: &peerv1.Message_Propose{Propose: &peerv1.Propose{
		ChallengePeriod: 100, Salt: salt[:], Deposit: amountBytes(uint256.NewInt(1000)),
	}}}, p.ID()
}

// tblSnap is what a refused message must leave exactly as it was: every
// channel's state, and the log.
type tblSnap struct {
	states  map[channel.ID]channel.State
	lastSeq uint64
}

func (fx *tblFixture) snap(t *testing.T) tblSnap {
	t.Helper()
	s := tblSnap{states: map[channel.ID]channel.State{}}
	var all []*chanActor
	guard(t, "bob's channels", func() { all = fx.bob.n.chans.all() })
	for _, c := range all {
		guard(t, "bob's channel state", func() { s.states[c.id] = c.state() })
	}
	guard(t, "bob's log", func() { s.lastSeq = fx.bob.st.LastSeq() })
	return s
}

// same fails t if a refused message changed a channel or wrote to the log.
func (fx *tblFixture) same(t *testing.T, what string, before, after tblSnap) {
	t.Helper()
	if len(after.states) != len(before.states) {
		t.Errorf("%s: bob has %d channels, had %d", what, len(after.states), len(before.states))
	}
	for id, b := range before.states {
		a, ok := after.states[id]
		if !ok {
			t.Errorf("%s: channel %s is gone", what, id)
			continue
		}
		if !reflect.DeepEqual(b, a) {
			t.Errorf("%s changed channel %x…: %s", what, id[:4], tblDiff(b, a))
		}
	}
	if after.lastSeq != before.lastSeq {
		var detail []string
		guard(t, "bob's log", func() {
			es, _ := fx.bob.st.Log(before.lastSeq, 5)
			for _, e := range es {
				detail = append(detail, fmt.Sprintf("%v", e.GetEntry()))
			}
		})
		t.Errorf("%s wrote %d log entries: %s", what, after.lastSeq-before.lastSeq, strings.Join(detail, "; "))
	}
}

// tblDiff names the fields of two states that differ.
func tblDiff(b, a channel.State) string {
	var out []string
	vb, va := reflect.ValueOf(b), reflect.ValueOf(a)
	for i := range vb.NumField() {
		if !reflect.DeepEqual(vb.Field(i).Interface(), va.Field(i).Interface()) {
			out = append(out, fmt.Sprintf("%s %+v -> %+v", vb.Type().Field(i).Name, vb.Field(i).Interface(), va.Field(i).Interface()))
		}
	}
	return strings.Join(out, "; ")
}

// quiesce waits until no channel of Bob's waits for a chain read or a write
// (some answers come after one), and says which one still does after
// tblQuiet: a channel whose peer messages wait for good.
func (fx *tblFixture) quiesce(t *testing.T) string {
	t.Helper()
	deadline := time.Now().Add(tblQuiet)
	for {
		busy := ""
		var all []*chanActor
		guard(t, "bob's channels", func() { all = fx.bob.n.chans.all() })
		for _, c := range all {
			var paused string
			var waiting int
			tblCall(t, c, func() { paused, waiting = c.paused, len(c.deferred) })
			switch {
			case paused != "" || waiting > 0:
				busy = fmt.Sprintf("channel %x… stays paused (%q) with %d of the peer's messages waiting", c.id[:4], paused, waiting)
			case c.writes.Load() > 0:
				busy = fmt.Sprintf("channel %x… keeps writing", c.id[:4])
			}
			if busy != "" {
				break
			}
		}
		if busy == "" {
			return ""
		}
		if time.Now().After(deadline) {
			return busy + " for more than " + tblQuiet.String()
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// serve checks that Bob keeps serving: a payment each way on Y with Carol
// completes, and Health answers within a second.
func (fx *tblFixture) serve(t *testing.T) {
	t.Helper()
	for _, p := range []struct {
		who  string
		from *testNode
	}{{"carol", fx.carol}, {"bob", fx.bob}} {
		fx.pays++
		key := fmt.Sprintf("tbl-serve-%d", fx.pays)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		var err error
		guard(t, p.who+" pays on the channel with carol", func() {
			_, err = p.from.n.Pay(ctx, PayRequest{Channel: fx.other, Amount: *uint256.NewInt(1), Key: key})
		})
		cancel()
		if err != nil {
			t.Errorf("the node stopped serving: %s's payment on the channel of bob and carol: %v", p.who, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var err error
	guard(t, "bob Health", func() { err = fx.bob.n.Health(ctx) })
	if err != nil {
		t.Errorf("bob's Health: %v", err)
	}
}

// run runs one row on a new connection.
func (fx *tblFixture) run(t *testing.T, row tblRow) {
	c := fx.dial(t)
	if row.reest {
		c.reestablish()
	}
	x := fx.ctx(t)
	if row.prep != nil {
		if m, w := row.prep(x); m != nil {
			got, stuck := c.exchange(m, w)
			if stuck != "" {
				t.Fatalf("the setting message: %s", stuck)
			}
			w.check(t, "the setting message", got)
			x = fx.ctx(t)
		}
	}
	m, wants := row.build(x)
	times := max(row.times, 1)
	for i := range times {
		w := wants[min(i, len(wants)-1)]
		what := "the message"
		if i > 0 {
			what = "the copy"
		}
		before := fx.snap(t)
		got, stuck := c.exchange(m, w)
		after := fx.snap(t)
		t.Logf("%s %s: bob answered %s", what, tblShow(m), tblShowAll(got))
		if stuck != "" {
			t.Errorf("%s: %s", what, stuck)
		}
		w.check(t, what, got)
		if !w.changes {
			fx.same(t, what, before, after)
		}
		if w.then != nil {
			w.then(t, fx)
		}
		if stuck != "" {
			break
		}
	}
	c.close()
	fx.serve(t)
}

// --- what the row builds its messages from ---

type tblCtx struct {
	t     *testing.T
	fx    *tblFixture
	phase channel.Phase
	st    channel.State // X as the row starts
	info  ChannelInfo   // X as Bob publishes it
	now   uint64        // the chain's time
}

func (fx *tblFixture) ctx(t *testing.T) *tblCtx {
	t.Helper()
	c := fx.actor(t)
	x := &tblCtx{t: t, fx: fx, phase: fx.phase}
	guard(t, "bob's channel state", func() { x.st, x.info = c.state(), c.info() })
	fx.w.chain.mu.Lock()
	x.now = fx.w.chain.time
	fx.w.chain.mu.Unlock()
	return x
}

func (x *tblCtx) sign(d crypto.Hash) crypto.Signature {
	sig, err := x.fx.akey.Sign(d)
	if err != nil {
		x.t.Fatal(err)
	}
	return sig
}

// phaseWhy is what a refusal on X must say: why when the channel is open,
// else the phase (while closing: that close terms are signed).
func (x *tblCtx) phaseWhy(why string) string {
	switch x.phase {
	case channel.Open:
		return why
	case channel.Closing:
		return "close terms"
	}
	return "phase"
}

// proof is Alice's proof on the channel of p, with one part of amount part.
func (x *tblCtx) proof(p channel.Params, nonce uint64, total, part *uint256.Int) *peerv1.Message {
	id := p.ID()
	sig := x.sign(p.Domain().BalanceProofDigest(id, nonce, total))
	pid := randomID()
	return &peerv1.Message{Body: &peerv1.Message_Proof{Proof: &peerv1.BalanceProof{
		ChannelId: id[:], Nonce: nonce, Transferred: amountBytes(total), Signature: sig[:],
		Parts: []*peerv1.PaymentPart{{PaymentId: pid[:], Amount: amountBytes(part), Memo: "peer table"}},
	}}}
}

// nextProof is Alice's proof gap nonces after the newest Bob holds, adding
// amount.
func (x *tblCtx) nextProof(gap, amount uint64) *peerv1.Message {
	r := x.st.Received
	var total uint256.Int
	total.AddUint64(&r.Transferred, amount)
	return x.proof(x.st.Params, r.Nonce+gap, &total, uint256.NewInt(amount))
}

// proofWant: acknowledged and held while open, refused for the phase
// otherwise.
func (x *tblCtx) proofWant(nonce, amount uint64) tblWant {
	if x.phase != channel.Open {
		return tblRefuse(tblNack(x.fx.id, codeFailedPrecondition, x.phaseWhy("")))
	}
	var total uint256.Int
	total.AddUint64(&x.st.Received.Transferred, amount)
	return tblWant{replies: []tblMatch{tblAck(x.fx.id, nonce)}, changes: true, then: func(t *testing.T, fx *tblFixture) {
		if r := fx.state(t).Received; r.Nonce != nonce || !r.Transferred.Eq(&total) {
			t.Errorf("after the acknowledged proof bob holds nonce %d, %s; want %d, %s", r.Nonce, r.Transferred.Dec(), nonce, total.Dec())
		}
	}}
}

func (x *tblCtx) nack(nonce uint64) *peerv1.Message {
	return &peerv1.Message{Body: &peerv1.Message_Nack{Nack: &peerv1.Nack{ChannelId: x.fx.id[:], Nonce: nonce, Code: codeFailedPrecondition, Reason: "the table test refuses this proof"}}}
}

func (x *tblCtx) errorMsg(id channel.ID) *peerv1.Message {
	return &peerv1.Message{Body: &peerv1.Message_Error{Error: &peerv1.Error{Code: codeInternal, Message: "the table test's error", ChannelId: id[:]}}}
}

func (x *tblCtx) recoverRequest() *peerv1.Message {
	return &peerv1.Message{Body: &peerv1.Message_RecoverRequest{RecoverRequest: &peerv1.RecoverRequest{ChannelId: x.fx.id[:]}}}
}

func (x *tblCtx) streamStart(id channel.ID) *peerv1.Message {
	sid := randomID()
	return &peerv1.Message{Body: &peerv1.Message_StreamStart{StreamStart: &peerv1.StreamStart{
		StreamId: sid[:16], ChannelId: id[:], Rate: amountBytes(uint256.NewInt(1)), TickMs: 1000, Budget: amountBytes(uint256.NewInt(100)),
	}}}
}

// withdrawRequest is Alice's signed withdrawal from the channel of p.
func (x *tblCtx) withdrawRequest(p channel.Params, total *uint256.Int, expiry uint64) *peerv1.Message {
	id := p.ID()
	sig := x.sign(p.Domain().WithdrawDigest(id, x.fx.akey.Address(), total, expiry))
	return &peerv1.Message{Body: &peerv1.Message_WithdrawRequest{WithdrawRequest: &peerv1.WithdrawRequest{
		ChannelId: id[:], Total: amountBytes(total), Expiry: expiry, Signature: sig[:],
	}}}
}

// closeRequest is Alice's signed close terms for the channel of p.
func (x *tblCtx) closeRequest(p channel.Params, a, b *uint256.Int, expiry uint64) *peerv1.Message {
	id := p.ID()
	sig := x.sign(p.Domain().CooperativeCloseDigest(id, a, b, expiry))
	return &peerv1.Message{Body: &peerv1.Message_CloseRequest{CloseRequest: &peerv1.CloseRequest{
		ChannelId: id[:], BalanceA: amountBytes(a), BalanceB: amountBytes(b), Expiry: expiry, Signature: sig[:],
	}}}
}

// resends is what Bob sends again on every Reestablish: while closing, his
// countersignature of Alice's terms.
func (x *tblCtx) resends() []tblMatch {
	if x.phase != channel.Closing {
		return nil
	}
	return []tblMatch{tblCloseSigned(x.fx.id, x.fx.closeReq, x.st.Params, x.fx.bob.key.Address())}
}

// abandonWant: abandoned (silently) and forgotten while opening, refused
// for the phase otherwise.
func (x *tblCtx) abandonWant() tblWant {
	switch x.phase {
	case channel.Opening:
		return tblWant{changes: true, then: func(t *testing.T, fx *tblFixture) {
			tblWait(t, "bob forgets the channel", func() bool {
				var c *chanActor
				guard(t, "bob's channels", func() { c = fx.bob.n.chans.get(fx.id) })
				return c == nil
			})
		}}
	}
	return tblRefuse(tblError(x.fx.id, codeFailedPrecondition, "phase"))
}

func tblAbandonMsg(id channel.ID) *peerv1.Message {
	return &peerv1.Message{Body: &peerv1.Message_Abandon{Abandon: &peerv1.Abandon{ChannelId: id[:], Reason: "the open failed"}}}
}

// tblReestablishMsg is Alice's Reestablish of channel id as a correct peer
// sends it: she holds Bob's newest proof.
func tblReestablishMsg(id channel.ID, st channel.State, reply bool) *peerv1.Message {
	m := &peerv1.Reestablish{ChannelId: id[:], SentNonce: st.Received.Nonce, AckedNonce: st.Received.Nonce, Reply: reply}
	if !st.Sent.IsZero() {
		m.Held = proofMessage(st.Sent, nil)
	}
	return &peerv1.Message{Body: &peerv1.Message_Reestablish{Reestablish: m}}
}

// tblNewChannel checks that Bob holds the proposed channel, opening.
func tblNewChannel(id channel.ID) func(t *testing.T, fx *tblFixture) {
	return func(t *testing.T, fx *tblFixture) {
		var c *chanActor
		guard(t, "bob's new channel", func() { c = fx.bob.n.chans.get(id) })
		if c == nil {
			t.Fatalf("bob accepted channel %x… but does not hold it", id[:4])
		}
		var st channel.State
		guard(t, "bob's new channel state", func() { st = c.state() })
		if st.Phase != channel.Opening || st.Self != channel.B || st.Params.Participants[channel.A] != fx.akey.Address() {
			t.Errorf("new channel: phase %s, side %s, opener %s", st.Phase, st.Self, st.Params.Participants[channel.A])
		}
	}
}

// --- answers ---

// tblReason reports whether a refusal's text is there and says why.
func tblReason(text, why string) bool {
	return strings.TrimSpace(text) != "" && strings.Contains(strings.ToLower(text), why)
}

func tblNack(id channel.ID, code uint32, why string) tblMatch {
	return tblMatch{desc: fmt.Sprintf("Nack{channel %x…, code %d, reason saying %q}", id[:4], code, why), match: func(m *peerv1.Message) bool {
		n := m.GetNack()
		return n != nil && bytes.Equal(n.GetChannelId(), id[:]) && n.GetCode() == code && tblReason(n.GetReason(), why)
	}}
}

func tblError(id channel.ID, code uint32, why string) tblMatch {
	return tblMatch{desc: fmt.Sprintf("Error{channel %x…, code %d, message saying %q}", id[:4], code, why), match: func(m *peerv1.Message) bool {
		e := m.GetError()
		return e != nil && bytes.Equal(e.GetChannelId(), id[:]) && e.GetCode() == code && tblReason(e.GetMessage(), why)
	}}
}

func tblCloseRefused(id channel.ID, why string) tblMatch {
	return tblMatch{desc: fmt.Sprintf("CloseReply{channel %x…, no signature, error saying %q}", id[:4], why), match: func(m *peerv1.Message) bool {
		r := m.GetCloseReply()
		return r != nil && bytes.Equal(r.GetChannelId(), id[:]) && len(r.GetSignature()) == 0 && tblReason(r.GetError(), why)
	}}
}

func tblWithdrawRefused(id channel.ID, why string) tblMatch {
	return tblMatch{desc: fmt.Sprintf("WithdrawReply{channel %x…, no signature, error saying %q}", id[:4], why), match: func(m *peerv1.Message) bool {
		r := m.GetWithdrawReply()
		return r != nil && bytes.Equal(r.GetChannelId(), id[:]) && len(r.GetSignature()) == 0 && tblReason(r.GetError(), why)
	}}
}

func tblAck(id channel.ID, nonce uint64) tblMatch {
	return tblMatch{desc: fmt.Sprintf("Ack{channel %x…, nonce %d}", id[:4], nonce), match: func(m *peerv1.Message) bool {
		a := m.GetAck()
		return a != nil && bytes.Equal(a.GetChannelId(), id[:]) && a.GetNonce() == nonce
	}}
}

func tblAccept(id channel.ID) tblMatch {
	return tblMatch{desc: fmt.Sprintf("Accept{channel %x…}", id[:4]), match: func(m *peerv1.Message) bool {
		return bytes.Equal(m.GetAccept().GetChannelId(), id[:])
	}}
}

func tblReestablish(id channel.ID) tblMatch {
	return tblMatch{desc: fmt.Sprintf("Reestablish{channel %x…}", id[:4]), reest: true, match: func(m *peerv1.Message) bool {
		return bytes.Equal(m.GetReestablish().GetChannelId(), id[:])
	}}
}

// tblCloseSigned: Bob's countersignature of the terms of cr.
func tblCloseSigned(id channel.ID, cr *peerv1.CloseRequest, p channel.Params, bob crypto.Address) tblMatch {
	a, _ := parseAmount("a", cr.GetBalanceA())
	b, _ := parseAmount("b", cr.GetBalanceB())
	d := p.Domain().CooperativeCloseDigest(id, &a, &b, cr.GetExpiry())
	return tblMatch{desc: fmt.Sprintf("CloseReply{channel %x…, bob's countersignature}", id[:4]), match: func(m *peerv1.Message) bool {
		r := m.GetCloseReply()
		if r == nil || !bytes.Equal(r.GetChannelId(), id[:]) || r.GetError() != "" {
			return false
		}
		sig, err := crypto.SignatureFromBytes(r.GetSignature())
		return err == nil && crypto.Verify(d, sig, bob) == nil
	}}
}

// tblWithdrawSigned: Bob's countersignature of the withdrawal with digest d.
func tblWithdrawSigned(id channel.ID, d crypto.Hash, bob crypto.Address) tblMatch {
	return tblMatch{desc: fmt.Sprintf("WithdrawReply{channel %x…, bob's countersignature}", id[:4]), match: func(m *peerv1.Message) bool {
		r := m.GetWithdrawReply()
		if r == nil || !bytes.Equal(r.GetChannelId(), id[:]) || r.GetError() != "" {
			return false
		}
		sig, err := crypto.SignatureFromBytes(r.GetSignature())
		return err == nil && crypto.Verify(d, sig, bob) == nil
	}}
}

// tblRecovered: the payments of every proof of Alice's Bob holds, adding up
// to what the newest covers.
func tblRecovered(id channel.ID, recv channel.Proof) tblMatch {
	return tblMatch{desc: fmt.Sprintf("Recovered{channel %x…, payments up to nonce %d adding up to %s}", id[:4], recv.Nonce, recv.Transferred.Dec()),
		match: func(m *peerv1.Message) bool {
			r := m.GetRecovered()
			if r == nil || !bytes.Equal(r.GetChannelId(), id[:]) {
				return false
			}
			var sum uint256.Int
			for _, p := range r.GetPayments() {
				amt, err := parseAmount("amount", p.GetPart().GetAmount())
				if err != nil || p.GetNonce() == 0 || p.GetNonce() > recv.Nonce {
					return false
				}
				sum.Add(&sum, &amt)
			}
			return sum.Eq(&recv.Transferred)
		}}
}

// check fails t unless got is what w expects: each expected answer once,
// nothing else (Bob's Reestablish messages aside, unless one is expected).
func (w tblWant) check(t *testing.T, what string, got []*peerv1.Message) {
	t.Helper()
	reest := false
	for _, r := range w.replies {
		reest = reest || r.reest
	}
	var msgs []*peerv1.Message
	for _, m := range got {
		if m.GetReestablish() == nil || reest {
			msgs = append(msgs, m)
		}
	}
	if len(msgs) == 0 && (len(w.replies) == 0 || w.orSilent) {
		return
	}
	used := make([]bool, len(msgs))
	ok := true
	for _, r := range w.replies {
		found := false
		for i, m := range msgs {
			if !used[i] && r.match(m) {
				used[i], found = true, true
				break
			}
		}
		ok = ok && found
	}
	for _, u := range used {
		ok = ok && u
	}
	if !ok {
		t.Errorf("%s: want %s; got %s", what, w.desc(), tblShowAll(msgs))
	}
}

// complete reports whether every expected answer is in got.
func (w tblWant) complete(got []*peerv1.Message) bool {
	for _, r := range w.replies {
		found := false
		for _, m := range got {
			found = found || r.match(m)
		}
		if !found {
			return false
		}
	}
	return true
}

// answers counts the messages in got that may answer the message (Bob's
// Reestablish messages only where one is expected).
func (w tblWant) answers(got []*peerv1.Message) int {
	reest := false
	for _, r := range w.replies {
		reest = reest || r.reest
	}
	n := 0
	for _, m := range got {
		if m.GetReestablish() == nil || reest {
			n++
		}
	}
	return n
}

func (w tblWant) desc() string {
	if len(w.replies) == 0 {
		return "silence"
	}
	var ds []string
	for _, r := range w.replies {
		ds = append(ds, r.desc)
	}
	s := strings.Join(ds, " and ")
	if w.orSilent {
		s += " (or silence)"
	}
	return s
}

func tblShowAll(ms []*peerv1.Message) string {
	if len(ms) == 0 {
		return "silence"
	}
	var out []string
	for _, m := range ms {
		out = append(out, tblShow(m))
	}
	return strings.Join(out, ", ")
}

func tblShow(m *peerv1.Message) string {
	short := func(b []byte) string {
		if len(b) == 0 {
			return "none"
		}
		return fmt.Sprintf("%x…", b[:min(4, len(b))])
	}
	switch b := m.GetBody().(type) {
	case *peerv1.Message_Error:
		return fmt.Sprintf("Error{channel %s, code %d, %q}", short(b.Error.GetChannelId()), b.Error.GetCode(), b.Error.GetMessage())
	case *peerv1.Message_Nack:
		return fmt.Sprintf("Nack{channel %s, nonce %d, code %d, %q}", short(b.Nack.GetChannelId()), b.Nack.GetNonce(), b.Nack.GetCode(), b.Nack.GetReason())
	case *peerv1.Message_Ack:
		return fmt.Sprintf("Ack{channel %s, nonce %d}", short(b.Ack.GetChannelId()), b.Ack.GetNonce())
	case *peerv1.Message_Accept:
		return fmt.Sprintf("Accept{channel %s}", short(b.Accept.GetChannelId()))
	case *peerv1.Message_CloseReply:
		return fmt.Sprintf("CloseReply{channel %s, signature %s, error %q}", short(b.CloseReply.GetChannelId()), short(b.CloseReply.GetSignature()), b.CloseReply.GetError())
	case *peerv1.Message_WithdrawReply:
		return fmt.Sprintf("WithdrawReply{channel %s, signature %s, error %q}", short(b.WithdrawReply.GetChannelId()), short(b.WithdrawReply.GetSignature()), b.WithdrawReply.GetError())
	case *peerv1.Message_Reestablish:
		return fmt.Sprintf("Reestablish{channel %s, held nonce %d, reply %v}", short(b.Reestablish.GetChannelId()), b.Reestablish.GetHeld().GetNonce(), b.Reestablish.GetReply())
	case *peerv1.Message_Recovered:
		return fmt.Sprintf("Recovered{channel %s, %d payments}", short(b.Recovered.GetChannelId()), len(b.Recovered.GetPayments()))
	case *peerv1.Message_Proof:
		return fmt.Sprintf("Proof{channel %s, nonce %d}", short(b.Proof.GetChannelId()), b.Proof.GetNonce())
	case *peerv1.Message_Propose:
		return fmt.Sprintf("Propose{salt %s}", short(b.Propose.GetSalt()))
	case *peerv1.Message_CloseRequest:
		r := b.CloseRequest
		return fmt.Sprintf("CloseRequest{channel %s, a %x, b %x, expiry %d}", short(r.GetChannelId()), r.GetBalanceA(), r.GetBalanceB(), r.GetExpiry())
	case *peerv1.Message_WithdrawRequest:
		r := b.WithdrawRequest
		return fmt.Sprintf("WithdrawRequest{channel %s, total %x, expiry %d}", short(r.GetChannelId()), r.GetTotal(), r.GetExpiry())
	case *peerv1.Message_RecoverRequest:
		return fmt.Sprintf("RecoverRequest{channel %s, after %d}", short(b.RecoverRequest.GetChannelId()), b.RecoverRequest.GetAfterNonce())
	case *peerv1.Message_StreamStart:
		return fmt.Sprintf("StreamStart{channel %s}", short(b.StreamStart.GetChannelId()))
	case *peerv1.Message_StreamEnd:
		return fmt.Sprintf("StreamEnd{channel %s}", short(b.StreamEnd.GetChannelId()))
	case *peerv1.Message_Abandon:
		return fmt.Sprintf("Abandon{channel %s}", short(b.Abandon.GetChannelId()))
	}
	return fmt.Sprintf("%T %v", m.GetBody(), m.GetBody())
}

// --- the raw connection ---

// tblConn is a raw connection to Bob speaking for Alice (dialRaw).
type tblConn struct {
	t     *testing.T
	fx    *tblFixture
	r     *rawPeer
	sess  *session // Bob's side of it
	pings int
}

// dial connects as Alice once Bob has let go of her previous connection,
// waits until every channel of hers is attached to it, and drops the
// Reestablish messages Bob sends on connect.
func (fx *tblFixture) dial(t *testing.T) *tblConn {
	t.Helper()
	alice := fx.akey.Address()
	tblWait(t, "bob lets go of the previous connection", func() bool { return fx.bob.n.peers.session(alice) == nil })
	c := &tblConn{t: t, fx: fx, r: dialRaw(t, alice, fx.bob)}
	tblWait(t, "bob attaches the connection to alice's channels", func() bool {
		s := fx.bob.n.peers.session(alice)
		if s == nil {
			return false
		}
		for _, ch := range fx.bob.n.chans.withPeer(alice) {
			var cur *session
			tblCall(t, ch, func() { cur = ch.sess })
			if cur != s {
				return false
			}
		}
		c.sess = s
		return true
	})
	c.barrier()
	return c
}

func (c *tblConn) close() { c.r.conn.Close(nil) }

func (c *tblConn) send(m *peerv1.Message) {
	c.t.Helper()
	if err := c.r.conn.Send(m); err != nil {
		c.t.Fatalf("send %s: %v", tblShow(m), err)
	}
}

func (c *tblConn) recv(d time.Duration) (*peerv1.Message, bool) {
	if d <= 0 {
		return nil, false
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case m := <-c.r.conn.in:
		return m, true
	case <-timer.C:
		return nil, false
	}
}

// expect reads until a message matches (skipping others), or fails.
func (c *tblConn) expect(desc string, match func(*peerv1.Message) bool) {
	c.t.Helper()
	deadline := time.Now().Add(watchdogLimit)
	var seen []*peerv1.Message
	for {
		m, ok := c.recv(time.Until(deadline))
		if !ok {
			c.t.Fatalf("no %s from bob; got %s", desc, tblShowAll(seen))
		}
		if match(m) {
			return
		}
		seen = append(seen, m)
	}
}

// barrier returns what Bob sent before he answered a probe (an Ack on an
// unknown channel, which the session's reader answers at once): everything
// Bob queued on this connection before the probe arrived.
func (c *tblConn) barrier() []*peerv1.Message {
	c.t.Helper()
	c.pings++
	id := crypto.Keccak256([]byte("tbl-probe"), []byte(fmt.Sprint(c.pings)))
	c.send(&peerv1.Message{Body: &peerv1.Message_Ack{Ack: &peerv1.Ack{ChannelId: id[:]}}})
	var out []*peerv1.Message
	deadline := time.Now().Add(watchdogLimit)
	for {
		m, ok := c.recv(time.Until(deadline))
		if !ok {
			c.t.Fatalf("bob does not answer on the connection; got %s", tblShowAll(out))
		}
		if e := m.GetError(); e != nil && bytes.Equal(e.GetChannelId(), id[:]) {
			return out
		}
		out = append(out, m)
	}
}

// reestablish does the Reestablish exchange as a correct peer does (Alice
// holds Bob's newest proof), and drops what Bob sends again for it.
func (c *tblConn) reestablish() {
	c.t.Helper()
	x := c.fx.actor(c.t)
	st := c.fx.state(c.t)
	c.send(tblReestablishMsg(c.fx.id, st, false))
	tblWait(c.t, "bob reestablishes the channel", func() bool {
		var ok bool
		tblCall(c.t, x, func() { ok = x.sess == c.sess && x.ready && x.paused == "" })
		return ok
	})
	c.barrier()
}

// exchange sends m and returns what Bob answers: what he queued while
// handling it, and what follows once his channels are done with writes and
// chain reads. stuck says which channel keeps its peer's messages waiting.
func (c *tblConn) exchange(m *peerv1.Message, w tblWant) (got []*peerv1.Message, stuck string) {
	c.t.Helper()
	c.send(m)
	got = c.barrier()
	if stuck = c.fx.quiesce(c.t); stuck != "" {
		return got, stuck
	}
	// Once the channels are done, answers can still come from the store's
	// committer or a background read: wait for the missing ones (briefly
	// where silence is a correct answer too).
	wait := tblReplyWait
	if w.orSilent {
		wait = 100 * time.Millisecond
	}
	deadline := time.Now().Add(wait)
	for !w.complete(got) && w.answers(got) < len(w.replies) {
		m, ok := c.recv(time.Until(deadline))
		if !ok {
			break
		}
		got = append(got, m)
	}
	return append(got, c.barrier()...), ""
}

// --- small helpers ---

// tblWait waits until cond holds, with every call it makes guarded.
func tblWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	guard(t, "waiting until "+what, func() {
		deadline := time.Now().Add(3 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting until %s", what)
			}
			time.Sleep(2 * time.Millisecond)
		}
	})
}

// tblCall runs f as a step of c and waits for it.
func tblCall(t *testing.T, c *chanActor, f func()) {
	t.Helper()
	guard(t, "a step of channel "+c.id.Hex()[:10], func() {
		ctx, cancel := context.WithTimeout(context.Background(), watchdogLimit+time.Second)
		defer cancel()
		if err := c.call(ctx, f); err != nil {
			t.Fatalf("channel %s does not answer: %v", c.id, err)
		}
	})
}
