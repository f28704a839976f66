package node

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
)

// dispatch routes one message from a peer. Nothing a peer sends can make
// the node act on a channel that is not shared with that peer.
func (n *Node) dispatch(s *session, m *peerv1.Message) {
	switch b := m.GetBody().(type) {
	case *peerv1.Message_Proof:
		if c := n.peerChannel(s, b.Proof.GetChannelId()); c != nil {
			c.onProof(s, b.Proof)
		}
	case *peerv1.Message_Ack:
		if c := n.peerChannel(s, b.Ack.GetChannelId()); c != nil {
			c.onAck(b.Ack.GetNonce(), b.Ack.GetReceipts())
		}
	case *peerv1.Message_Nack:
		if c := n.peerChannel(s, b.Nack.GetChannelId()); c != nil {
			c.onNack(b.Nack)
		}
	case *peerv1.Message_Reestablish:
		if c := n.peerChannel(s, b.Reestablish.GetChannelId()); c != nil {
			if err := c.onReestablish(s, b.Reestablish); err != nil {
				s.sendError(codeOf(err), b.Reestablish.GetChannelId(), err)
			}
		}
	case *peerv1.Message_Propose:
		n.onPropose(s, b.Propose)
	case *peerv1.Message_Accept:
		n.onAccept(s, b.Accept.GetChannelId(), nil)
	case *peerv1.Message_WithdrawRequest:
		if c := n.peerChannel(s, b.WithdrawRequest.GetChannelId()); c != nil {
			c.onWithdrawRequest(s, b.WithdrawRequest)
		}
	case *peerv1.Message_WithdrawReply:
		if c := n.peerChannel(s, b.WithdrawReply.GetChannelId()); c != nil {
			c.onReply(replyWithdraw, b.WithdrawReply.GetSignature(), b.WithdrawReply.GetError())
		}
	case *peerv1.Message_CloseRequest:
		if c := n.peerChannel(s, b.CloseRequest.GetChannelId()); c != nil {
			c.onCloseRequest(s, b.CloseRequest)
		}
	case *peerv1.Message_CloseReply:
		if c := n.peerChannel(s, b.CloseReply.GetChannelId()); c != nil {
			c.onReply(replyClose, b.CloseReply.GetSignature(), b.CloseReply.GetError())
		}
	case *peerv1.Message_RecoverRequest:
		if c := n.peerChannel(s, b.RecoverRequest.GetChannelId()); c != nil {
			c.onRecoverRequest(s, b.RecoverRequest)
		}
	case *peerv1.Message_Recovered:
		if c := n.peerChannel(s, b.Recovered.GetChannelId()); c != nil {
			c.onRecovered(s, b.Recovered)
		}
	case *peerv1.Message_StreamStart:
		if c := n.peerChannel(s, b.StreamStart.GetChannelId()); c != nil {
			n.onStreamStart(s, c, b.StreamStart)
		}
	case *peerv1.Message_StreamEnd:
		if c := n.peerChannel(s, b.StreamEnd.GetChannelId()); c != nil {
			n.onStreamEnd(c, b.StreamEnd)
		}
	case *peerv1.Message_Error:
		e := b.Error
		n.log.Info("peer reported an error", "peer", s.peer, "code", codes.Code(e.GetCode()), "message", e.GetMessage())
		if len(e.GetChannelId()) == 32 {
			err := fmt.Errorf("%w: %s", ErrPeerRefused, e.GetMessage())
			n.onAccept(s, e.GetChannelId(), err)
		}
	default:
		s.close(fmt.Errorf("protocol error: unexpected %T", m.GetBody()))
	}
}

// peerChannel finds the channel a message names and checks that the
// sender is its other participant.
func (n *Node) peerChannel(s *session, raw []byte) *chanState {
	id, err := parseHash("channel id", raw)
	if err != nil {
		s.sendError(codes.InvalidArgument, nil, err)
		return nil
	}
	n.mu.Lock()
	c := n.channels[id]
	n.mu.Unlock()
	if c == nil {
		s.sendError(codes.NotFound, raw, fmt.Errorf("unknown channel %s", id))
		return nil
	}
	if c.peer != s.peer {
		n.log.Warn("peer named a channel that is not its own", "peer", s.peer, "channel", id)
		s.sendError(codes.PermissionDenied, nil, fmt.Errorf("channel %s is not yours", id))
		return nil
	}
	return c
}

// onPropose: the peer (side A) proposes a channel with this node as B.
func (n *Node) onPropose(s *session, m *peerv1.Propose) {
	p, err := n.proposalParams(s.peer, n.self, m)
	if err != nil {
		s.sendError(codes.InvalidArgument, nil, fmt.Errorf("refused proposal: %w", err))
		return
	}
	id := p.ID()
	ch, err := channel.New(p, channel.B)
	if err != nil {
		s.sendError(codes.InvalidArgument, id[:], fmt.Errorf("refused proposal: %w", err))
		return
	}
	n.mu.Lock()
	if _, dup := n.channels[id]; dup {
		n.mu.Unlock()
		s.sendError(codes.AlreadyExists, id[:], errors.New("channel exists"))
		return
	}
	c := n.newChanState(ch, n.clock.Now())
	c.sess, c.ready = s, true
	n.channels[id] = c
	n.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	// Persist, then accept: the channel is known here before the peer may
	// open it.
	c.persistLocked(c.event(storev1.ChannelEventKind_CHANNEL_EVENT_KIND_PROPOSED, "proposed by the peer", nil), func() {
		s.send(&peerv1.Message{Body: &peerv1.Message_Accept{Accept: &peerv1.Accept{ChannelId: id[:]}}})
	})
	n.log.Info("accepted channel", "channel", id, "peer", s.peer)
}

// proposalParams checks a proposal against this node's policy.
func (n *Node) proposalParams(a, b crypto.Address, m *peerv1.Propose) (channel.Params, error) {
	asset, err := parseAddr("asset", m.GetAsset())
	if len(m.GetAsset()) == 0 {
		asset, err = crypto.Address{}, nil
	}
	if err != nil {
		return channel.Params{}, err
	}
	if _, ok := n.asset(asset); !ok {
		return channel.Params{}, wrapf(ErrUnknownAsset, "%s", asset)
	}
	if cp := m.GetChallengePeriod(); cp < n.cfg.MinChallengePeriod || cp > n.cfg.MaxChallengePeriod {
		return channel.Params{}, invalid("challenge period %ds outside [%d, %d]", cp, n.cfg.MinChallengePeriod, n.cfg.MaxChallengePeriod)
	}
	salt, err := parseHash("salt", m.GetSalt())
	if err != nil {
		return channel.Params{}, err
	}
	if _, err := parseAmount("deposit", m.GetDeposit()); err != nil {
		return channel.Params{}, err
	}
	p := channel.Params{
		ChainID: n.chain.ChainID(), Adjudicator: n.chain.Adjudicator(), Participants: [2]crypto.Address{a, b},
		Asset: asset, ChallengePeriod: m.GetChallengePeriod(), Salt: salt,
	}
	return p, p.Validate()
}

func (n *Node) onAccept(s *session, raw []byte, err error) {
	id, perr := parseHash("channel id", raw)
	if perr != nil {
		return
	}
	n.mu.Lock()
	ch := n.proposals[id]
	n.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case ch <- err:
	default:
	}
}

// onReply delivers a countersignature (or a refusal) to the waiting call.
func (c *chanState) onReply(kind replyKind, sig []byte, msg string) {
	c.mu.Lock()
	ch := c.replies[kind]
	delete(c.replies, kind)
	c.mu.Unlock()
	if ch == nil {
		return
	}
	r := reply{}
	if msg != "" {
		r.err = fmt.Errorf("%w: %s", ErrPeerRefused, msg)
	} else if s, err := parseSig("signature", sig); err != nil || s == (crypto.Signature{}) {
		r.err = fmt.Errorf("%w: malformed countersignature", ErrPeerRefused)
	} else {
		r.sig = s
	}
	ch <- r
}

// onWithdrawRequest countersigns the peer's withdrawal if it can afford it,
// and replies once the countersigned withdrawal is durable here.
func (c *chanState) onWithdrawRequest(s *session, m *peerv1.WithdrawRequest) {
	replyErr := func(err error) {
		s.send(&peerv1.Message{Body: &peerv1.Message_WithdrawReply{WithdrawReply: &peerv1.WithdrawReply{ChannelId: c.id[:], Error: err.Error()}}})
	}
	total, err := parseAmount("total", m.GetTotal())
	if err != nil {
		replyErr(err)
		return
	}
	sig, err := parseSig("signature", m.GetSignature())
	if err != nil {
		replyErr(err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	w := channel.Withdrawal{Participant: c.self.Other(), Total: total, Expiry: m.GetExpiry()}
	w.Sigs[c.self.Other()] = sig
	full, err := c.ch.CountersignWithdraw(w, c.n.now(), c.n.key)
	if staleChainView(err) && c.catchUpWait() {
		full, err = c.ch.CountersignWithdraw(w, c.n.now(), c.n.key)
	}
	if err != nil {
		replyErr(err)
		return
	}
	mine := full.Sigs[c.self]
	c.persistLocked(nil, func() {
		s.send(&peerv1.Message{Body: &peerv1.Message_WithdrawReply{WithdrawReply: &peerv1.WithdrawReply{ChannelId: c.id[:], Signature: mine[:]}}})
	})
}

// onCloseRequest countersigns the peer's close terms if they give this node
// at least its balance, and replies once durable.
func (c *chanState) onCloseRequest(s *session, m *peerv1.CloseRequest) {
	replyErr := func(err error) {
		s.send(&peerv1.Message{Body: &peerv1.Message_CloseReply{CloseReply: &peerv1.CloseReply{ChannelId: c.id[:], Error: err.Error()}}})
	}
	var t channel.CloseTerms
	var err error
	if t.Balance[channel.A], err = parseAmount("balance a", m.GetBalanceA()); err != nil {
		replyErr(err)
		return
	}
	if t.Balance[channel.B], err = parseAmount("balance b", m.GetBalanceB()); err != nil {
		replyErr(err)
		return
	}
	sig, err := parseSig("signature", m.GetSignature())
	if err != nil {
		replyErr(err)
		return
	}
	t.Expiry = m.GetExpiry()
	t.Sigs[c.self.Other()] = sig
	c.mu.Lock()
	defer c.mu.Unlock()
	full, err := c.ch.AcceptClose(t, c.n.now(), c.n.key)
	if staleChainView(err) && c.catchUpWait() {
		full, err = c.ch.AcceptClose(t, c.n.now(), c.n.key)
	}
	if err != nil {
		replyErr(err)
		return
	}
	mine := full.Sigs[c.self]
	c.failQueued(channel.ErrClosing)
	c.persistLocked(c.event(storev1.ChannelEventKind_CHANNEL_EVENT_KIND_CLOSE_SIGNED, "countersigned the peer's close terms", nil), func() {
		s.send(&peerv1.Message{Body: &peerv1.Message_CloseReply{CloseReply: &peerv1.CloseReply{ChannelId: c.id[:], Signature: mine[:]}}})
	})
}

// failQueued fails payments not yet signed.
func (c *chanState) failQueued(err error) {
	for _, p := range c.queue {
		p.fail(err)
	}
	c.queue = nil
}

// awaitReply registers a wait for the peer's countersignature; c.mu held.
func (c *chanState) awaitReply(kind replyKind) chan reply {
	ch := make(chan reply, 1)
	c.replies[kind] = ch
	return ch
}

func (n *Node) waitReply(ch chan reply) reply {
	t := time.NewTimer(n.cfg.RequestTimeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r
	case <-t.C:
		return reply{err: fmt.Errorf("%w: no reply from the peer within %s", ErrPeerRefused, n.cfg.RequestTimeout)}
	case <-n.ctx.Done():
		return reply{err: ErrStopped}
	}
}
