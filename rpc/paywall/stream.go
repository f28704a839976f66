package paywall

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/holiman/uint256"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/apiutil"
)

// serveStream serves a response paid per second by a stream.
func (p *Paywall) serveStream(w http.ResponseWriter, r *http.Request) {
	item := StreamItem(r.URL.EscapedPath())
	id, err := streamFrom(r)
	if id == "" && err == nil {
		p.log.Debug("payment required", "item", item)
		p.challenge(w, r, item, ErrPaymentRequired)
		return
	}
	if err != nil {
		p.challenge(w, r, item, err)
		return
	}
	if !p.claimStream(id) {
		p.challenge(w, r, item, fmt.Errorf("%w: %s", ErrStreamInUse, id))
		return
	}
	defer p.releaseStream(id)
	st, err := p.awaitStream(r.Context(), id, item)
	if err != nil {
		if Reason(err) == "" {
			if r.Context().Err() != nil {
				return // the client left
			}
			p.log.Warn("cannot check a stream with the node", "stream", id, "err", err)
			unavailable(w, "the payee's node is unavailable")
			return
		}
		p.log.Info("stream refused", "stream", id, "item", item, "reason", Reason(err), "err", err)
		p.challenge(w, r, item, err)
		return
	}
	p.log.Debug("streaming", "stream", id, "item", item, "payer", st.GetPeer(), "rate", st.GetRate())

	ctx, cancel := context.WithCancelCause(r.Context())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.watch(ctx, cancel, id, item)
	}()
	defer func() {
		cancel(context.Canceled)
		wg.Wait()
	}()

	setSettlement(w.Header(), &SettlementResponse{
		Success: true, Payer: st.GetPeer(), Network: p.payee.network(),
		Extra: map[string]string{"streamId": id, "channelId": st.GetChannelId(), "rate": st.GetRate()},
	})
	sw := &stopWriter{ResponseWriter: w, ctx: ctx}
	p.next.ServeHTTP(sw, stripPayment(r, ctx))
	cause := context.Cause(ctx)
	if !errors.Is(cause, ErrPaymentStopped) {
		return
	}
	p.log.Info("response cut: the stream stopped paying", "stream", id, "item", item, "err", cause)
	if !sw.started() {
		p.challenge(w, r, item, cause)
		return
	}
	// Abort the connection (or HTTP/2 stream) so that the client sees a
	// cut response, not a complete one.
	panic(http.ErrAbortHandler)
}

func (p *Paywall) claimStream(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.streams[id] {
		return false
	}
	p.streams[id] = true
	return true
}

func (p *Paywall) releaseStream(id string) {
	p.mu.Lock()
	delete(p.streams, id)
	p.mu.Unlock()
}

// awaitStream asks the node about a stream until it has seen the stream's
// terms and first payment (StreamWait at most), then checks it.
func (p *Paywall) awaitStream(ctx context.Context, id, item string) (*apiv1.Stream, error) {
	deadline := time.Now().Add(p.cfg.StreamWait)
	for {
		st, err := p.getStream(ctx, id)
		late := time.Now().After(deadline)
		switch {
		case isNotFound(err):
			if late {
				return nil, fmt.Errorf("%w: %s", ErrUnknownStream, id)
			}
		case status.Code(err) == codes.InvalidArgument:
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		case err != nil:
			return nil, err
		case late || st.GetStatus() != "live" || (st.GetRate() != "0" && st.GetRate() != "" && st.GetPaid() != "0" && st.GetPaid() != ""):
			return st, p.acceptStream(st, item)
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

func (p *Paywall) getStream(ctx context.Context, id string) (*apiv1.Stream, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.NodeTimeout)
	defer cancel()
	return p.node.GetStream(ctx, &apiv1.GetStreamRequest{StreamId: id})
}

// acceptStream checks that a stream pays for this response: it comes in
// to this node, pays in the asset, at the rate, for the item, often
// enough, and is paying now.
func (p *Paywall) acceptStream(st *apiv1.Stream, item string) error {
	rate, err := uint256.FromDecimal(st.GetRate())
	if err != nil {
		rate = new(uint256.Int)
	}
	tick := time.Duration(st.GetTickMs()) * time.Millisecond
	switch {
	case st.GetDirection() != "incoming":
		return fmt.Errorf("%w: stream %s does not pay this node", ErrBadStream, st.GetId())
	case st.GetStatus() == "ended":
		return fmt.Errorf("%w: stream %s ended (%s)", ErrStreamEnded, st.GetId(), st.GetEndReason())
	case st.GetStatus() != "live":
		return fmt.Errorf("%w: stream %s is %s", ErrStreamEnded, st.GetId(), st.GetStatus())
	case !apiutil.SameAddress(st.GetAsset().GetAddress(), p.payee.asset.Address):
		return fmt.Errorf("%w: stream %s pays in %s, not %s", ErrBadStream, st.GetId(), st.GetAsset().GetSymbol(), p.payee.asset.Symbol)
	case rate.Lt(&p.cfg.Rate):
		return fmt.Errorf("%w: stream %s pays %s per second, the rate is %s", ErrUnderpaid, st.GetId(), rate.Dec(), p.cfg.Rate.Dec())
	case st.GetItemId() != item:
		return fmt.Errorf("%w: stream %s pays for %q, this response is %q", ErrWrongItem, st.GetId(), st.GetItemId(), item)
	case tick > p.cfg.Tick:
		return fmt.Errorf("%w: stream %s pays every %s, at most every %s is accepted", ErrBadStream, st.GetId(), tick, p.cfg.Tick)
	case st.GetPaid() == "0" || st.GetPaid() == "":
		return fmt.Errorf("%w: stream %s has not paid yet", ErrBadStream, st.GetId())
	}
	return nil
}

// watch checks the stream every tick until ctx ends, and cancels ctx with
// ErrPaymentStopped when the stream stops paying (or cannot be checked
// twice in a row).
func (p *Paywall) watch(ctx context.Context, cancel context.CancelCauseFunc, id, item string) {
	t := time.NewTicker(p.cfg.Tick)
	defer t.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := p.getStream(ctx, id)
		if ctx.Err() != nil {
			return
		}
		if err != nil && !isNotFound(err) {
			if failures++; failures < 2 {
				continue
			}
			cancel(fmt.Errorf("%w: the node cannot be asked about stream %s: %v", ErrPaymentStopped, id, err))
			return
		}
		failures = 0
		if err == nil {
			err = p.acceptStream(st, item)
		} else {
			err = fmt.Errorf("%w: %s", ErrUnknownStream, id)
		}
		if err != nil {
			cancel(fmt.Errorf("%w: %w", ErrPaymentStopped, err))
			return
		}
	}
}

// stopWriter refuses writes once the stream stopped paying, so that the
// handler stops even while it is not reading from a cancelled context.
type stopWriter struct {
	http.ResponseWriter
	ctx context.Context

	mu    sync.Mutex
	wrote bool
}

func (w *stopWriter) started() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.wrote
}

func (w *stopWriter) WriteHeader(code int) {
	if w.ctx.Err() != nil {
		return
	}
	w.mu.Lock()
	w.wrote = true
	w.mu.Unlock()
	w.ResponseWriter.WriteHeader(code)
}

func (w *stopWriter) Write(b []byte) (int, error) {
	if err := context.Cause(w.ctx); err != nil {
		return 0, err
	}
	w.mu.Lock()
	w.wrote = true
	w.mu.Unlock()
	return w.ResponseWriter.Write(b)
}

func (w *stopWriter) Flush() {
	if w.ctx.Err() == nil {
		_ = http.NewResponseController(w.ResponseWriter).Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *stopWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
