package node

import (
	"fmt"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
)

// dispatch routes one message from a peer, on the session's reader
// goroutine. It decodes what can be checked without the channel's state,
// runs the checks that read the store (so that no channel owner waits for
// disk), and hands the message to the channel's owner. Nothing a peer sends
// can make the node act on a channel that is not shared with that peer.
func (n *Node) dispatch(s *session, m *peerv1.Message) {
	switch b := m.GetBody().(type) {
	case *peerv1.Message_Proof:
		c := n.peerChannel(s, b.Proof.GetChannelId())
		if c == nil {
			return
		}
		in, err := n.incoming(c, b.Proof)
		if err != nil {
			n.met.proofRefused(err)
			c.fromPeer(s, func() { c.nack(s, b.Proof.GetNonce(), err) })
			return
		}
		c.fromPeerOr(s, func() { c.onProof(s, in) }, func() { in.release(false) })
	case *peerv1.Message_ProofParts:
		c := n.peerChannel(s, b.ProofParts.GetChannelId())
		if c == nil {
			return
		}
		in, err := n.incomingParts(c, b.ProofParts)
		if err != nil {
			n.met.proofRefused(err)
			c.fromPeer(s, func() { c.nack(s, b.ProofParts.GetNonce(), err) })
			return
		}
		c.fromPeerOr(s, func() { c.onProofParts(s, in) }, func() { in.release(false) })
	case *peerv1.Message_Ack:
		if c := n.peerChannel(s, b.Ack.GetChannelId()); c != nil {
			c.fromPeer(s, func() { c.onAck(s, b.Ack) })
		}
	case *peerv1.Message_Nack:
		if c := n.peerChannel(s, b.Nack.GetChannelId()); c != nil {
			c.fromPeer(s, func() { c.onNack(s, b.Nack) })
		}
	case *peerv1.Message_Reestablish:
		if c := n.peerChannel(s, b.Reestablish.GetChannelId()); c != nil {
			c.fromPeer(s, func() { c.onReestablish(s, b.Reestablish) })
		}
	case *peerv1.Message_Propose:
		n.onPropose(s, b.Propose)
	case *peerv1.Message_Accept:
		if id, err := parseHash("channel id", b.Accept.GetChannelId()); err == nil && !n.peers.answer(id, s.peer, nil) && n.chans.get(id) == nil {
			// An answer to a proposal this node gave up (it timed out):
			// tell the peer, so that it does not keep the channel opening.
			s.send(&peerv1.Message{Body: &peerv1.Message_Abandon{Abandon: &peerv1.Abandon{ChannelId: id[:], Reason: "no such proposal (it timed out)"}}})
		}
	case *peerv1.Message_WithdrawRequest:
		if c := n.peerChannel(s, b.WithdrawRequest.GetChannelId()); c != nil {
			c.fromPeer(s, func() { c.onWithdrawRequest(s, b.WithdrawRequest) })
		}
	case *peerv1.Message_WithdrawReply:
		if c := n.peerChannel(s, b.WithdrawReply.GetChannelId()); c != nil {
			c.fromPeer(s, func() { c.onWithdrawReply(s, b.WithdrawReply) })
		}
	case *peerv1.Message_CloseRequest:
		if c := n.peerChannel(s, b.CloseRequest.GetChannelId()); c != nil {
			c.fromPeer(s, func() { c.onCloseRequest(s, b.CloseRequest) })
		}
	case *peerv1.Message_CloseReply:
		if c := n.peerChannel(s, b.CloseReply.GetChannelId()); c != nil {
			c.fromPeer(s, func() { c.onCloseReply(s, b.CloseReply) })
		}
	case *peerv1.Message_RecoverRequest:
		if c := n.peerChannel(s, b.RecoverRequest.GetChannelId()); c != nil {
			c.fromPeer(s, func() { c.onRecoverRequest(s, b.RecoverRequest) })
		}
	case *peerv1.Message_Recovered:
		if c := n.peerChannel(s, b.Recovered.GetChannelId()); c != nil {
			c.fromPeer(s, func() { c.onRecovered(s, b.Recovered) })
		}
	case *peerv1.Message_Abandon:
		if id, err := parseHash("channel id", b.Abandon.GetChannelId()); err == nil && n.chans.get(id) == nil {
			return // a proposal this node forgot, or never had: nothing to give up
		}
		if c := n.peerChannel(s, b.Abandon.GetChannelId()); c != nil {
			c.fromPeer(s, func() { c.onAbandon(s, b.Abandon) })
		}
	case *peerv1.Message_StreamStart:
		if c := n.peerChannel(s, b.StreamStart.GetChannelId()); c != nil {
			if reply := n.hooks.PeerMessage(s.peer, c.info(), m); reply != nil {
				s.send(reply)
			}
		}
	case *peerv1.Message_StreamEnd:
		if c := n.peerChannel(s, b.StreamEnd.GetChannelId()); c != nil {
			if reply := n.hooks.PeerMessage(s.peer, c.info(), m); reply != nil {
				s.send(reply)
			}
		}
	case *peerv1.Message_Error:
		e := b.Error
		// Debug only, like every refusal a peer can repeat at will; what
		// an error answers reaches the API call that waits for it.
		n.log.Debug("peer reported an error", "peer", s.peer, "code", e.GetCode(), "message", truncate(e.GetMessage(), 200))
		if id, err := parseHash("channel id", e.GetChannelId()); err == nil {
			n.peers.answer(id, s.peer, fmt.Errorf("%w: %s", ErrPeerRefused, truncate(e.GetMessage(), 1024)))
		}
	default:
		s.close(fmt.Errorf("protocol error: unexpected %T", m.GetBody()))
	}
}

// peerChannel finds the channel a message names and checks that the
// sender is its other participant; otherwise it tells the peer why not.
func (n *Node) peerChannel(s *session, raw []byte) *chanActor {
	id, err := parseHash("channel id", raw)
	if err != nil {
		s.sendError(codeInvalidArgument, nil, err)
		return nil
	}
	c := n.chans.get(id)
	if c == nil {
		s.sendError(codeNotFound, raw, fmt.Errorf("unknown channel %s", id))
		return nil
	}
	if c.peer != s.peer {
		n.log.Debug("peer named a channel that is not its own", "peer", s.peer, "channel", id)
		s.sendError(codePermissionDenied, raw, fmt.Errorf("channel %s is not yours", id))
		return nil
	}
	return c
}

// onPropose: the peer (side A) proposes a channel with this node as B.
func (n *Node) onPropose(s *session, m *peerv1.Propose) {
	p, err := n.proposalParams(s.peer, n.self, m)
	if err != nil {
		s.sendError(peerCode(err), nil, fmt.Errorf("refused proposal: %w", err))
		return
	}
	id := p.ID()
	ch, err := channel.New(p, channel.B)
	if err != nil {
		s.sendError(codeInvalidArgument, id[:], fmt.Errorf("refused proposal: %w", err))
		return
	}
	if err := n.usable(); err != nil {
		s.sendError(codeUnavailable, id[:], fmt.Errorf("refused proposal: %w", err))
		return
	}
	c := n.newActor(ch, n.clock.Now())
	if err := n.admitProposal(c); err != nil {
		s.sendError(peerCode(err), id[:], fmt.Errorf("refused proposal: %w", err))
		return
	}
	n.peers.befriend(s.peer)
	c.do(func() {
		// Persist, then accept: the channel is known here before the peer
		// may open it.
		c.sess, c.ready = s, true
		c.step.record = true
		c.step.label = "propose-accept"
		// No event yet: a stranger must not be able to fill the log with
		// proposals it never opens (the open has its event).
		c.step.msgs = append(c.step.msgs, &peerv1.Message{Body: &peerv1.Message_Accept{Accept: &peerv1.Accept{ChannelId: id[:]}}})
	})
	n.log.Info("accepted channel", "channel", id, "peer", s.peer)
}

// acceptable checks a peer's channel terms against this node's policy.
func (n *Node) acceptable(asset crypto.Address, challengePeriod uint64) error {
	if _, ok := n.asset(asset); !ok {
		return wrapf(ErrUnknownAsset, "%s", asset)
	}
	if cp := challengePeriod; cp < n.cfg.MinChallengePeriod || cp > n.cfg.MaxChallengePeriod {
		return invalid("challenge period %ds outside [%d, %d]", cp, n.cfg.MinChallengePeriod, n.cfg.MaxChallengePeriod)
	}
	return nil
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
	if err := n.acceptable(asset, m.GetChallengePeriod()); err != nil {
		return channel.Params{}, err
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
