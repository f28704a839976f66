package node

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestMailboxOrderAndOneAtATime: posted functions run in order, never two
// at once, from however many goroutines they are posted.
func TestMailboxOrderAndOneAtATime(t *testing.T) {
	var m mailbox
	var running, maxRunning atomic.Int32
	var mu sync.Mutex
	seen := map[int][]int{} // per poster, the order its posts ran in
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				m.post(func() {
					if n := running.Add(1); n > maxRunning.Load() {
						maxRunning.Store(n)
					}
					mu.Lock()
					seen[g] = append(seen[g], i)
					mu.Unlock()
					running.Add(-1)
				})
			}
		}()
	}
	wg.Wait()
	if err := m.call(context.Background(), func() {}); err != nil {
		t.Fatal(err)
	}
	if maxRunning.Load() != 1 {
		t.Fatalf("%d functions ran at once", maxRunning.Load())
	}
	for g, order := range seen {
		if len(order) != 500 {
			t.Fatalf("poster %d: %d of 500 ran", g, len(order))
		}
		for i, v := range order {
			if v != i {
				t.Fatalf("poster %d: post %d ran as number %d", g, v, i)
			}
		}
	}
}

// TestMailboxPeerBackpressure: a peer's messages wait once maxPeerQueued
// are queued, and go on as the owner takes them; the wait ends with its
// context.
func TestMailboxPeerBackpressure(t *testing.T) {
	var m mailbox
	block := make(chan struct{})
	m.post(func() { <-block }) // the owner is busy
	for range maxPeerQueued {
		if !m.postPeer(context.Background(), func() {}) {
			t.Fatal("refused below the limit")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if m.postPeer(ctx, func() {}) {
		t.Fatal("queued beyond the limit without waiting")
	}
	done := make(chan bool, 1)
	go func() { done <- m.postPeer(context.Background(), func() {}) }()
	select {
	case <-done:
		t.Fatal("did not wait while the queue is full")
	case <-time.After(50 * time.Millisecond):
	}
	close(block) // the owner goes on: room frees up
	select {
	case ok := <-done:
		if !ok {
			t.Fatal("refused after room freed up")
		}
	case <-time.After(watchdogLimit):
		t.Fatal("still waiting after the owner drained its queue")
	}
	if err := m.call(context.Background(), func() {}); err != nil {
		t.Fatal(err)
	}
}
