package tower

import (
	"context"
	"fmt"
	"time"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/settlement"
)

// eventPage bounds the events read at once.
const eventPage = 256

// Retry delays of a transaction presenting proofs that failed.
const (
	retryMin = 2 * time.Second
	retryMax = time.Minute
)

// watch is the tower's chain watcher, the owner of its chain cursor. Each
// round it reads the new events (a force close of a channel it holds a
// proof of marks the channel in dispute; a settlement or cooperative close
// drops its proofs), then starts the duties: for each channel in dispute
// whose challenge period runs, present the proofs higher than the chain's.
// A round also runs at once when a proof arrives for a channel in dispute.
func (s *Server) watch() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.ChainPoll)
	defer t.Stop()
	for {
		if err := s.watchOnce(); err != nil && s.ctx.Err() == nil {
			s.log.Warn("tower chain watcher", "err", err)
		}
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		case <-s.wake:
		}
	}
}

func (s *Server) chainRead() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.ctx, s.cfg.ChainReadTimeout)
}

func (s *Server) watchOnce() error {
	ctx, cancel := s.chainRead()
	head, err := s.chain.Head(ctx)
	cancel()
	if err != nil {
		return err
	}
	if err := s.followEvents(head); err != nil {
		return err
	}
	s.startDuties(head)
	return nil
}

// followEvents applies the events after the cursor, a page at a time; each
// page's changes and the cursor past it are written together.
func (s *Server) followEvents(head settlement.Head) error {
	cur, ok, err := s.st.Cursor()
	if err != nil {
		return err
	}
	if !ok && head.Number > 0 {
		// A new tower: no proof it holds can be of an older event (a proof
		// of a channel closed earlier is checked on chain as it arrives).
		cur = settlement.Cursor{Block: head.Number - 1, Index: ^uint32(0)}
	}
	for {
		ctx, cancel := s.chainRead()
		events, next, err := s.chain.Events(ctx, cur, eventPage)
		cancel()
		if err != nil {
			return err
		}
		page := Page{Closed: map[channel.ID]uint64{}, Cursor: next}
		for _, ev := range events {
			switch ev.Kind {
			case settlement.EventClosed:
				page.Closed[ev.Channel] = ev.SettleAfter
			case settlement.EventSettled, settlement.EventCooperativelyClosed:
				page.Ended = append(page.Ended, ev.Channel)
			}
		}
		if len(page.Closed) > 0 || len(page.Ended) > 0 || next != cur {
			marked, removed, err := s.st.ApplyPage(page)
			if err != nil {
				return err
			}
			s.forget(removed)
			s.mu.Lock()
			for _, id := range page.Ended {
				delete(s.disputes, id)
			}
			for id, until := range marked {
				d := s.disputes[id]
				if d == nil {
					d = &dispute{}
					s.disputes[id] = d
				}
				d.until, d.due, d.retryAt = until, true, time.Time{}
			}
			s.mu.Unlock()
			for _, id := range page.Ended {
				s.rememberSettled(id)
			}
			for id, until := range marked {
				s.log.Info("channel force-closed on chain", "channel", id, "settle_after", until)
			}
		}
		if len(events) == 0 || next == cur {
			return nil
		}
		cur = next
	}
}

// forget releases the places of removed records.
func (s *Server) forget(removed []*Record) {
	if len(removed) == 0 {
		return
	}
	s.mu.Lock()
	for _, r := range removed {
		if s.counts[r.Node()]--; s.counts[r.Node()] <= 0 {
			delete(s.counts, r.Node())
		}
	}
	s.mu.Unlock()
	if s.met != nil {
		s.met.Channels.Sub(float64(len(removed)))
	}
	for _, r := range removed {
		s.log.Debug("dropped the proof of an ended channel", "channel", r.Proof.Channel, "node", r.Node())
	}
}

// startDuties starts presenting proofs for the channels in dispute that
// are due, within MaxConcurrentUpdates, and forgets disputes whose
// challenge period is over (the participants settle them).
func (s *Server) startDuties(head settlement.Head) {
	now := time.Now()
	var start []channel.ID
	s.mu.Lock()
	for id, d := range s.disputes {
		if head.Time > d.until {
			if !d.running {
				delete(s.disputes, id)
			}
			continue
		}
		if d.due && !d.running && !now.Before(d.retryAt) && s.running < s.cfg.MaxConcurrentUpdates {
			d.due, d.running = false, true
			s.running++
			start = append(start, id)
		}
	}
	s.mu.Unlock()
	for _, id := range start {
		s.wg.Add(1)
		go s.present(id)
	}
}

// present runs one duty: it presents the proofs of channel id that are
// higher than the chain's, and schedules a retry if that fails.
func (s *Server) present(id channel.ID) {
	defer s.wg.Done()
	err := s.presentOnce(id)
	s.mu.Lock()
	s.running--
	if d := s.disputes[id]; d != nil {
		d.running = false
		if err != nil {
			d.failures++
			d.due, d.retryAt = true, time.Now().Add(min(retryMin<<min(d.failures-1, 10), retryMax))
		} else {
			d.failures = 0
		}
	}
	s.mu.Unlock()
	if err != nil && s.ctx.Err() == nil {
		if s.met != nil {
			s.met.PresentFailures.Inc()
		}
		s.log.Warn("could not present a proof; will retry", "channel", id, "err", err)
	}
}

func (s *Server) presentOnce(id channel.ID) error {
	var recs []*Record
	for _, side := range []channel.Side{channel.A, channel.B} {
		r, err := s.st.Get(id, side)
		if err != nil {
			return fmt.Errorf("tower store: %w", err)
		}
		if r != nil {
			recs = append(recs, r)
		}
	}
	if len(recs) == 0 {
		return nil
	}
	ctx, cancel := s.chainRead()
	oc, err := s.chain.Channel(ctx, id)
	cancel()
	if err != nil {
		return err
	}
	if oc.Phase != settlement.PhaseClosed {
		return nil
	}
	var proofs []settlement.Proof
	var presented []*Record
	for _, r := range recs {
		if r.Proof.Transferred.Gt(&oc.Transferred[r.Payer]) {
			proofs = append(proofs, settlement.Proof{Nonce: r.Proof.Nonce, Transferred: r.Proof.Transferred, Sig: r.Proof.Sig})
			presented = append(presented, r)
		}
	}
	if len(proofs) == 0 {
		return nil // the chain holds at least what the tower does
	}
	ctx, cancel = context.WithTimeout(s.ctx, s.cfg.ChainTxTimeout)
	rc, err := s.chain.Update(ctx, settlement.Params(recs[0].Params), proofs)
	cancel()
	if err != nil {
		return err
	}
	if s.met != nil {
		s.met.Presented.Add(float64(len(proofs)))
	}
	for _, r := range presented {
		s.log.Info("presented a proof on chain", "channel", id, "node", r.Node(), "nonce", r.Proof.Nonce,
			"amount", r.Proof.Transferred.Dec(), "was", oc.Transferred[r.Payer].Dec(), "tx", rc.TxHash, "fee", rc.Fee.Dec())
	}
	return nil
}
