package node

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// mailbox runs the functions posted to it one at a time, in order, on a
// goroutine of its own that exists only while there is work: whatever state
// those functions share is owned by that goroutine, and needs no lock. The
// mutex guards the queue alone and is never held while a function runs.
//
// Posting never blocks, except postPeer, which a peer's reader uses so that
// a peer sending faster than its channels can handle is slowed down (TCP
// flow control then reaches the peer) instead of growing the queue without
// bound. Functions must never block: they start I/O and receive its result
// as another posted function.
type mailbox struct {
	mu       sync.Mutex
	queue    []func()
	running  bool
	fromPeer int           // peer messages queued
	space    chan struct{} // closed when fromPeer drops below maxPeerQueued

	// busySince is when the batch the owner is running began (unix
	// nanoseconds), or 0 while it runs none: Health reads it.
	busySince atomic.Int64

	// ender, if set, runs on the owner after each batch of functions:
	// work the batch's functions left for it (signing one proof for all
	// the payments they queued) is done once per batch instead of once
	// per function. An interface holding the owner, not a func value: a
	// method value is an object more per channel for the collector to
	// mark.
	ender batchEnder
}

// batchEnder is an owner with work to do at the end of each batch.
type batchEnder interface{ endBatch() }

// maxPeerQueued bounds the peer messages queued for one channel before the
// peer's reader waits.
const maxPeerQueued = 4096

// post queues f. It never blocks.
func (m *mailbox) post(f func()) {
	m.mu.Lock()
	m.queue = append(m.queue, f)
	start := !m.running
	m.running = true
	m.mu.Unlock()
	if start {
		go m.run(0)
	}
}

// postHere queues f and, when the mailbox is idle, runs it right away on
// the calling goroutine (which becomes the owner for as long: the steps
// never block), sparing a goroutine hand-off on the paths where latency
// counts (an API call, a peer's message). Work queued meanwhile beyond a
// batch goes on on a goroutine of its own. Callers whose goroutine must
// not be held by a channel's work (the store's committer) use post.
func (m *mailbox) postHere(f func()) {
	m.mu.Lock()
	m.queue = append(m.queue, f)
	if m.running {
		m.mu.Unlock()
		return
	}
	m.running = true
	m.mu.Unlock()
	m.run(1)
}

// postPeer queues f, a message from the peer, waiting while too many are
// queued. It returns false if ctx ended first (f is then dropped).
func (m *mailbox) postPeer(ctx context.Context, f func()) bool {
	for {
		m.mu.Lock()
		if m.fromPeer < maxPeerQueued {
			m.fromPeer++
			m.mu.Unlock()
			m.postHere(func() {
				m.mu.Lock()
				m.fromPeer--
				if m.fromPeer < maxPeerQueued && m.space != nil {
					close(m.space)
					m.space = nil
				}
				m.mu.Unlock()
				f()
			})
			return true
		}
		if m.space == nil {
			m.space = make(chan struct{})
		}
		wait := m.space
		m.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return false
		}
	}
}

// run takes the queued functions in batches until the queue is empty; with
// batches > 0 it hands what remains after that many batches to a goroutine
// of its own.
func (m *mailbox) run(batches int) {
	var batch []func()
	for n := 0; ; n++ {
		m.mu.Lock()
		if len(m.queue) == 0 {
			m.running = false
			m.mu.Unlock()
			return
		}
		if batches > 0 && n == batches {
			m.mu.Unlock()
			go m.run(0) // still running: the goroutine takes over
			return
		}
		batch, m.queue = m.queue, batch[:0]
		m.mu.Unlock()
		m.busySince.Store(time.Now().UnixNano())
		for i, f := range batch {
			f()
			batch[i] = nil
		}
		if m.ender != nil {
			m.ender.endBatch()
		}
		m.busySince.Store(0)
	}
}

// call posts f and waits until it ran, or ctx ends. It is for callers that
// are not owners themselves (API calls, tests); an owner never calls it.
func (m *mailbox) call(ctx context.Context, f func()) error {
	done := make(chan struct{})
	m.post(func() {
		f()
		close(done)
	})
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
