package rpc

import (
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
)

// packConn is a PeerConn with only what pack uses: a send queue holding
// msgs and a peer that accepts batches of up to limit bytes.
func packConn(limit int, msgs ...*peerv1.Message) *PeerConn {
	c := &PeerConn{pipe: pipe{sendq: make(chan outMsg, len(msgs)+1)}}
	c.batchBytes.Store(int64(limit))
	for _, m := range msgs {
		c.sendq <- outMsg{m, proto.Size(m)}
	}
	return c
}

func batchNonces(t *testing.T, m *peerv1.Message) []uint64 {
	t.Helper()
	var out []uint64
	if b := m.GetBatch(); b != nil {
		for _, it := range b.GetMessages() {
			out = append(out, it.GetProof().GetNonce())
		}
		return out
	}
	return []uint64{m.GetProof().GetNonce()}
}

func TestPack(t *testing.T) {
	one := proof(1)
	size := proto.Size(one)
	t.Run("alone when nothing else waits", func(t *testing.T) {
		c := packConn(1 << 20)
		var held *outMsg
		if got := c.pack(outMsg{one, size}, &held); got != one || held != nil {
			t.Fatalf("pack = %v, held %v; want the message itself", got, held)
		}
	})
	t.Run("what waits behind it, in order", func(t *testing.T) {
		c := packConn(1<<20, proof(2), proof(3), proof(4))
		var held *outMsg
		got := c.pack(outMsg{one, size}, &held)
		if n := batchNonces(t, got); len(n) != 4 || n[0] != 1 || n[3] != 4 || held != nil {
			t.Fatalf("pack = nonces %v, held %v; want a batch of 1..4", n, held)
		}
		if s := proto.Size(got); s > 1<<20 {
			t.Fatalf("batch of %d bytes", s)
		}
	})
	t.Run("not to a peer that takes none", func(t *testing.T) {
		c := packConn(0, proof(2))
		var held *outMsg
		if got := c.pack(outMsg{one, size}, &held); got != one || held != nil || len(c.sendq) != 1 {
			t.Fatalf("pack = %v, held %v, %d queued; want the message alone, the other still queued", got, held, len(c.sendq))
		}
	})
	t.Run("up to the byte limit; the next one is held for the next write", func(t *testing.T) {
		limit := batchOverhead + 3*(size+itemOverhead) // three fit, not four
		c := packConn(limit, proof(2), proof(3), proof(4), proof(5))
		var held *outMsg
		got := c.pack(outMsg{one, size}, &held)
		if n := batchNonces(t, got); len(n) != 3 || n[2] != 3 {
			t.Fatalf("pack = nonces %v; want 1..3", n)
		}
		if held == nil || held.m.GetProof().GetNonce() != 4 {
			t.Fatalf("held %v; want proof 4", held)
		}
		if s := proto.Size(got); s > limit {
			t.Fatalf("batch of %d bytes over the limit %d", s, limit)
		}
	})
	t.Run("up to maxBatchItems", func(t *testing.T) {
		msgs := make([]*peerv1.Message, maxBatchItems+10)
		for i := range msgs {
			msgs[i] = proof(uint64(i + 2))
		}
		c := packConn(64<<20, msgs...)
		var held *outMsg
		got := c.pack(outMsg{one, size}, &held)
		if n := batchNonces(t, got); len(n) != maxBatchItems {
			t.Fatalf("batch of %d messages; want %d", len(n), maxBatchItems)
		}
		if held != nil || len(c.sendq) != 11 { // 1 + 1,033 queued, 1,024 sent
			t.Fatalf("held %v, %d left queued; want none held, 11 queued", held, len(c.sendq))
		}
	})
	t.Run("a Hello goes alone", func(t *testing.T) {
		h := &peerv1.Message{Body: &peerv1.Message_Hello{Hello: &peerv1.Hello{ProtocolVersion: 1}}}
		c := packConn(1<<20, proof(2))
		var held *outMsg
		if got := c.pack(outMsg{h, proto.Size(h)}, &held); got != h || len(c.sendq) != 1 {
			t.Fatalf("pack(hello) = %v; want the hello alone", got)
		}
	})
	t.Run("a message too large to share goes alone", func(t *testing.T) {
		c := packConn(size+itemOverhead, proof(2)) // less than a batch of one needs
		var held *outMsg
		if got := c.pack(outMsg{one, size}, &held); got != one || len(c.sendq) != 1 {
			t.Fatalf("pack = %v; want the message alone", got)
		}
	})
}

// Messages sent faster than the network takes them arrive at the other
// side's Recv one by one, all of them, in order, whether batched or not.
func TestBatchesArriveInOrder(t *testing.T) {
	ts := startServer(t, testConfig(t, aliceKey), nil)
	bob := mustDial(t, testConfig(t, bobKey), ts.addr, crypto.Address{})
	alice := ts.accepted(t)
	if bob.batchBytes.Load() == 0 || alice.batchBytes.Load() == 0 {
		t.Fatalf("batch limits %d / %d; both sides accept batches", bob.batchBytes.Load(), alice.batchBytes.Load())
	}
	const n = 20000
	done := make(chan error, 1)
	go func() {
		for i := range uint64(n) {
			if err := bob.Send(proof(i + 1)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for i := range uint64(n) {
		m, err := alice.Recv()
		if err != nil {
			t.Fatalf("Recv %d: %v", i, err)
		}
		if m.GetBatch() != nil || m.GetProof().GetNonce() != i+1 {
			t.Fatalf("message %d is %v; want proof %d", i, m, i+1)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A peer whose Hello does not accept batches (an older make) gets every
// message alone.
func TestNoBatchesToAPeerThatTakesNone(t *testing.T) {
	const n = 5000
	got := make(chan error, 1)
	addr := startScripted(t, func(s peerv1.Peer_ConnectServer, ekm []byte) error {
		h := listenerHello(t, testConfig(t, aliceKey), ekm)
		h.GetHello().BatchBytes = 0
		if err := s.Send(h); err != nil {
			return err
		}
		if _, err := s.Recv(); err != nil { // bob's hello
			return err
		}
		for i := range uint64(n) {
			m, err := s.Recv()
			if err != nil {
				got <- err
				return err
			}
			if m.GetBatch() != nil || m.GetProof().GetNonce() != i+1 {
				got <- errors.New("got " + bodyName(m) + " out of order or batched")
				return nil
			}
		}
		got <- nil
		return sendAndWait(s, proof(1))
	})
	bob := mustDial(t, testConfig(t, bobKey), addr, aliceKey.Address())
	for i := range uint64(n) {
		if err := bob.Send(proof(i + 1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}

// A batch that breaks the protocol's bounds ends the session with
// ErrProtocol, and the sender is told why; what came before it was
// delivered.
func TestMalformedBatch(t *testing.T) {
	noBody := &peerv1.Message{}
	hello := &peerv1.Message{Body: &peerv1.Message_Hello{Hello: &peerv1.Hello{}}}
	batch := func(ms ...*peerv1.Message) *peerv1.Message {
		return &peerv1.Message{Body: &peerv1.Message_Batch{Batch: &peerv1.Batch{Messages: ms}}}
	}
	tooMany := make([]*peerv1.Message, maxBatchItems+1)
	for i := range tooMany {
		tooMany[i] = proof(uint64(i + 1))
	}
	for name, bad := range map[string]*peerv1.Message{
		"empty":                batch(),
		"too many messages":    batch(tooMany...),
		"a batch in a batch":   batch(proof(2), batch(proof(3))),
		"a hello in a batch":   batch(proof(2), hello),
		"a message w/o a body": batch(proof(2), noBody),
	} {
		t.Run(name, func(t *testing.T) {
			ts := startServer(t, testConfig(t, aliceKey), nil)
			r := dialRaw(t, ts.addr)
			if h := r.recvHello(t); h.GetBatchBytes() == 0 {
				t.Fatal("the listener's Hello accepts no batches")
			}
			for _, m := range []*peerv1.Message{dialerHello(t, bobKey, r.ekm), batch(proof(1)), bad} {
				if err := r.stream.Send(m); err != nil {
					t.Fatal(err)
				}
			}
			alice := ts.accepted(t)
			if m, err := alice.Recv(); err != nil || m.GetProof().GetNonce() != 1 {
				t.Fatalf("Recv = %v, %v; want the good batch's proof", m, err)
			}
			if err := recvErr(t, alice); !errors.Is(err, ErrProtocol) || !errors.Is(err, ErrClosed) {
				t.Fatalf("Recv after a bad batch: %v", err)
			}
			errs, _ := r.recvUntilEnd(t)
			if len(errs) != 1 || codes.Code(errs[0].GetCode()) != codes.InvalidArgument {
				t.Fatalf("dialer got %v", errs)
			}
		})
	}
}

// A session-level Error inside a batch, as the last thing before the
// stream ends, is the reason the session ended, as when it comes alone.
func TestErrorInBatchIsTheReason(t *testing.T) {
	ts := startServer(t, testConfig(t, aliceKey), nil)
	r := dialRaw(t, ts.addr)
	r.recvHello(t)
	bye := &peerv1.Message{Body: &peerv1.Message_Error{Error: &peerv1.Error{Code: uint32(codes.Unavailable), Message: "shutting down"}}}
	for _, m := range []*peerv1.Message{dialerHello(t, bobKey, r.ekm), {Body: &peerv1.Message_Batch{Batch: &peerv1.Batch{Messages: []*peerv1.Message{proof(1), bye}}}}} {
		if err := r.stream.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	alice := ts.accepted(t)
	if m, err := alice.Recv(); err != nil || m.GetProof() == nil {
		t.Fatalf("Recv = %v, %v", m, err)
	}
	if m, err := alice.Recv(); err != nil || m.GetError() == nil {
		t.Fatalf("Recv = %v, %v; want the Error", m, err)
	}
	_ = r.stream.CloseSend()
	var re *RemoteError
	if err := recvErr(t, alice); !errors.As(err, &re) || re.Code != codes.Unavailable {
		t.Fatalf("Recv after the batch = %v; want the peer's Error as the reason", err)
	}
}

// A peer's Hello sets the largest batch sent to it, within this side's own
// bounds: a huge batch_bytes is capped, 0 (an older make) means none.
func TestBatchBytesFromHello(t *testing.T) {
	for _, tt := range []struct {
		peer, maxMessage, want int
	}{
		{0, 4 << 20, 0},
		{1000, 4 << 20, 1000},
		{math.MaxUint32, 4 << 20, maxBatchBytes},
		{math.MaxUint32, 64 << 10, 64 << 10},
	} {
		c := &PeerConn{lim: Limits{MaxMessageBytes: tt.maxMessage}}
		c.setIdentity(peerHello{batchBytes: tt.peer})
		if got := c.batchBytes.Load(); got != int64(tt.want) {
			t.Errorf("peer batch_bytes %d, own MaxMessageBytes %d: batches of up to %d bytes, want %d", tt.peer, tt.maxMessage, got, tt.want)
		}
	}
}

// recordingStream is a msgStream whose Send records what it is given,
// batches unpacked; Recv blocks until done is closed.
type recordingStream struct {
	mu   sync.Mutex
	got  []*peerv1.Message
	done chan struct{}
}

func (s *recordingStream) Send(m *peerv1.Message) error {
	if m.GetBatch() == nil {
		runtime.Gosched() // let the senders and the end interleave with the writes
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := m.GetBatch(); b != nil {
		s.got = append(s.got, b.GetMessages()...)
	} else {
		s.got = append(s.got, m)
	}
	return nil
}

func (s *recordingStream) Recv() (*peerv1.Message, error) {
	<-s.done
	return nil, io.EOF
}

// However the end of a session falls among the writes (a message held
// over from a full batch included), the writer sends every message that
// Send accepted before the end, once, in order (and of those accepted
// while it ends, a prefix: the rest are lost with the session, as they may
// be on the wire), then the reason, then half-closes.
func TestWriterFlushesInOrderAtTheEnd(t *testing.T) {
	for iter := range 200 {
		s := &recordingStream{done: make(chan struct{})}
		halfClosed := make(chan struct{})
		c := &PeerConn{lim: Limits{MaxMessageBytes: 1 << 20, SendTimeout: time.Minute}, pipe: pipe{
			stream: s, closeSend: func() error { close(halfClosed); return nil },
			sendq: make(chan outMsg, 64), closing: make(chan struct{}), writerDone: make(chan struct{}),
		}}
		c.stall = time.AfterFunc(time.Hour, func() {})
		c.stall.Stop()
		// Room for three or four proofs a batch: most batches hold one over.
		c.batchBytes.Store(int64(batchOverhead + 7*(proto.Size(proof(1000))+itemOverhead)/2))
		go c.writeLoop()

		endAt := uint64(rand.IntN(301)) // 300: after the last Send
		var accepted []uint64
		before := -1 // how many were accepted before the end began
		for i := range uint64(300) {
			if i == endAt {
				before = len(accepted)
				go c.end(errors.New("bye"), true, false)
			}
			m := proof(i + 1)
			if i%3 == 0 {
				m.GetProof().GetParts()[0].Memo = strings.Repeat("m", int(i%50))
			}
			if c.Send(m) == nil {
				accepted = append(accepted, i+1)
			}
		}
		if before < 0 {
			before = len(accepted)
		}
		c.end(errors.New("bye"), true, false)
		<-c.writerDone
		select {
		case <-halfClosed:
		default:
			t.Fatalf("iteration %d: the writer ended without half-closing", iter)
		}
		close(s.done)
		got := s.got
		if len(got) == 0 || got[len(got)-1].GetError() == nil {
			t.Fatalf("iteration %d: the last message written is not the reason (%d written)", iter, len(got))
		}
		var nonces []uint64
		for _, m := range got[:len(got)-1] {
			nonces = append(nonces, m.GetProof().GetNonce())
		}
		if len(nonces) < before || len(nonces) > len(accepted) || !slices.Equal(nonces, accepted[:len(nonces)]) {
			t.Fatalf("iteration %d (end after %d accepted): wrote nonces %v,\nSend accepted %v", iter, before, nonces, accepted)
		}
	}
}
