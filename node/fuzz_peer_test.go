package node

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holiman/uint256"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
)

// The fuzz targets below deliver every peer message type to a live node,
// not to a decoder: Bob runs with an open channel X with Alice (spoken for
// by the test over a raw connection, as in TestPeerMessageTable) and Y with
// Carol (a real node). Each input is a flags byte and the protobuf encoding
// of one message of the target's type; the flags force structure on it so
// that the input gets past the cheap checks (the channel it names, nonces
// and amounts near the channel's, Alice's signature over what it says,
// payment parts that add up), since a fuzzer cannot sign. After each
// message the test waits until Bob has handled it (his channels are done
// with writes and chain reads) and checks that:
//
//   - Bob did not fail or stop answering (a probe on the connection and a
//     step of every channel owner), nor panic (a panic ends the process);
//   - a message Bob only refused (Error, Nack, a refused reply) changed no
//     channel and wrote no log entry, and no message wrote the log without
//     changing a channel;
//   - Carol's channel did not change, and X keeps its parameters and
//     deposits; its nonces and amounts never go back; Bob never holds more
//     of Alice's than her deposit and his own payments allow, and pays her
//     back no more than she paid him (refunds);
//   - Alice's proposals stay within the bound, and the process's goroutines
//     do not pile up;
//   - every fuzzServeEvery inputs, payments both ways on Y complete and
//     Health answers.
//
// The node set is built once per fuzz process (on the first input) and kept
// across inputs, as is the connection (a new one after Bob closes it); it
// is rebuilt when X is no longer open, holds close terms or a withdrawal,
// or Alice's balance runs low. So an input can depend on the ones before it: a failure that
// does not reproduce alone is still a finding, and its log names the
// message. Under plain go test the targets run their seeds only.
//
// Flags:
const (
	fzChan   = 3      // bits 0-1, the channel the message names: 0 as fuzzed, 1 X, 2 Y, 3 Alice's newest proposal (X without one)
	fzNonce  = 1 << 2 // nonces near the channel's, expiries near the chain's time
	fzAmount = 1 << 3 // amounts near the channel's
	fzSign   = 1 << 4 // signed by Alice over what it says (Reestablish: holds Bob's newest proof)
	fzFix    = 1 << 5 // payment parts well formed and adding up (Propose: salt, challenge period; StreamStart: id, tick)
	fzTwice  = 1 << 6 // sent twice
	fzExtra  = 1 << 7 // ProofParts: followed by its proof
	fzAll    = fzNonce | fzAmount | fzSign | fzFix
)

// fuzzServeEvery is how often (in inputs) the node must show it serves
// Carol; fuzzGoroutines is how many more goroutines than after the set-up
// count as piling up.
const (
	fuzzServeEvery = 32
	fuzzGoroutines = 400
)

// fuzzSeed is one seed of a target: flags and a message.
type fuzzSeed[M proto.Message] struct {
	flags byte
	m     M
}

// fuzzPeer runs the fuzz target for messages of type M: wrap puts one in a
// Message, shape forces the structure that the flags ask for (beyond the
// channel id, which fuzzPeer sets itself).
func fuzzPeer[M proto.Message](f *testing.F, wrap func(M) *peerv1.Message, shape func(*fuzzShape, M), seeds ...fuzzSeed[M]) {
	for _, s := range seeds {
		raw, err := proto.Marshal(s.m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(s.flags, raw)
	}
	tb := &fuzzTB{TB: f}
	f.Cleanup(tb.cleanup)
	var z *fuzzFixture
	f.Cleanup(func() { tb.report(f) })
	tb.fuzzing.Store(true)
	f.Fuzz(func(t *testing.T, flags byte, raw []byte) {
		var zero M
		m := zero.ProtoReflect().Type().New().Interface().(M)
		if !fuzzDecode(raw, m) {
			tb.undecodable.Add(1)
			return // the transport refuses what does not decode
		}
		tb.begin(t)
		defer tb.end(t)
		if z == nil {
			z = fuzzSetup(t, tb)
		}
		s := &fuzzShape{flags: flags, z: z, x: z.fx.ctx(t)}
		s.channel(m.ProtoReflect())
		if shape != nil {
			shape(s, m)
		}
		msgs := []*peerv1.Message{wrap(m)}
		if flags&fzTwice != 0 {
			msgs = append(msgs, wrap(m))
		}
		z.deliver(t, append(msgs, s.then...))
		if z.drifted(t) {
			z.stop()
			z = nil
		}
	})
}

// fuzzDecode decodes raw into m. What does not decode (most mutations cut
// a field or break a string's UTF-8, and the transport refuses that) is
// cut off at the end of the longest run of whole fields that does, so
// that the input still reaches the node.
func fuzzDecode(raw []byte, m proto.Message) bool {
	if proto.Unmarshal(raw, m) == nil {
		return true
	}
	var ends []int
	for off := 0; off < len(raw); {
		_, _, n := protowire.ConsumeField(raw[off:])
		if n < 0 {
			break
		}
		off += n
		ends = append(ends, off)
	}
	for i := len(ends) - 1; i >= 0; i-- {
		proto.Reset(m)
		if proto.Unmarshal(raw[:ends[i]], m) == nil {
			return true
		}
	}
	return false
}

// --- the node set ---

// fuzzFixture is one node set and the state of its checks.
type fuzzFixture struct {
	tb     *fuzzTB
	fx     *tblFixture
	c      *tblConn // nil: dial before the next message
	bobPay [32]byte // Bob's payment to Alice in the set-up
	first  channel.State
	last   channel.State // X after the previous message
	carol  channel.State // Y as last checked
	inputs int
	base   int // goroutines after the set-up
}

// fuzzSetup builds Bob, Carol with Y, and X with Alice (who paid Bob 10 and
// was paid 5), then stops Alice's node: the test speaks for her.
func fuzzSetup(t *testing.T, tb *fuzzTB) *fuzzFixture {
	t.Helper()
	tb.sets++
	w := newNet(tb)
	fx := &tblFixture{phase: channel.Open, w: w, akey: seedKey(1)}
	fx.bob = w.add("bob", 2)
	fx.carol = w.add("carol", 3)
	alice := w.add("alice", 1)
	fx.nodes = []*testNode{fx.bob, fx.carol, alice}
	fx.carol.connect(fx.bob)
	fx.other = fx.carol.open(fx.bob, 100_000)
	guard(t, "bob's channel with carol", func() { fx.otherParams = fx.bob.n.chans.get(fx.other).params })
	alice.connect(fx.bob)
	fx.id = alice.open(fx.bob, 500_000)
	alice.pay(fx.id, 10, "alice-1")
	z := &fuzzFixture{tb: tb, fx: fx, bobPay: fx.bob.pay(fx.id, 5, "bob-1").ID}
	alice.stop()
	if busy := fx.quiesce(t); busy != "" {
		t.Fatalf("set-up: %s", busy)
	}
	z.first = fx.state(t)
	z.last = z.first
	fx.serve(t)
	z.carol = z.stateOf(t, fx.other)
	z.base = runtime.NumGoroutine()
	return z
}

func (z *fuzzFixture) stop() {
	if z.c != nil {
		z.c.close()
	}
	z.tb.runCleanups()
}

func (z *fuzzFixture) stateOf(t *testing.T, id channel.ID) channel.State {
	t.Helper()
	var c *chanActor
	guard(t, "bob's channel", func() { c = z.fx.bob.n.chans.get(id) })
	if c == nil {
		t.Fatalf("bob has no channel %x…", id[:4])
	}
	var st channel.State
	tblCall(t, c, func() { st = c.ch.State() })
	return st
}

// drifted reports whether X left the state the targets fuzz: open, no
// close terms, no withdrawal pending (Bob would refuse the next ones only
// after a read of the chain, at most every catchUpEvery: few inputs a
// second), Alice's balance enough for many proofs.
func (z *fuzzFixture) drifted(t *testing.T) bool {
	st := z.last
	var left uint256.Int
	left.Add(&st.Deposit[channel.A], &st.Sent.Transferred)
	left.Sub(&left, &st.Withdrawn[channel.A])
	left.Sub(&left, &st.Received.Transferred)
	return st.Phase != channel.Open || st.Close != nil || st.Withdrawal != nil || left.Lt(uint256.NewInt(10_000)) || z.fx.bob.n.failed.Load() != nil
}

// --- one input ---

// deliver sends msgs one by one, and after each waits until Bob handled
// it and checks what he did.
func (z *fuzzFixture) deliver(t *testing.T, msgs []*peerv1.Message) {
	t.Helper()
	fx := z.fx
	for _, m := range msgs {
		c := z.conn(t)
		before := fx.snap(t)
		alive := c.r.conn.Send(m) == nil
		got, ok := z.settle(t)
		alive = alive && ok
		after := fx.snap(t)
		t.Logf("sent %s; bob answered %s", tblShow(m), tblShowAll(got))
		z.tb.count(got, alive)
		z.check(t, m, got, before, after)
		if !alive {
			c.close()
			z.c = nil
			continue
		}
		z.answer(t, got)
	}
	z.inputs++
	z.tb.inputs++
	if z.inputs%fuzzServeEvery == 0 {
		fx.serve(t)
		z.carol = z.stateOf(t, fx.other)
		if n := runtime.NumGoroutine(); n > z.base+fuzzGoroutines {
			t.Errorf("%d goroutines after %d inputs, %d after the set-up", n, z.inputs, z.base)
		}
	}
}

// conn returns the connection to Bob, dialing a new one (and doing the
// Reestablish exchange) if there is none.
func (z *fuzzFixture) conn(t *testing.T) *tblConn {
	t.Helper()
	if c := z.c; c != nil {
		c.t, c.r.t = t, t
		return c
	}
	fx := z.fx
	alice := fx.akey.Address()
	tblWait(t, "bob lets go of the previous connection", func() bool { return fx.bob.n.peers.session(alice) == nil })
	x, y := pipe(alice, fx.bob.key.Address())
	go fx.bob.n.HandlePeer(y)
	c := &tblConn{t: t, fx: fx, r: &rawPeer{t: t, conn: x}}
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
	c.reestablish()
	z.c = c
	return c
}

// settle waits until Bob has handled what was sent and returns what he
// answered; alive is false if he closed the connection.
func (z *fuzzFixture) settle(t *testing.T) (got []*peerv1.Message, alive bool) {
	t.Helper()
	got, alive = z.probe(t)
	if busy := z.fx.quiesce(t); busy != "" {
		t.Errorf("bob: %s", busy)
	}
	if alive {
		var more []*peerv1.Message
		more, alive = z.probe(t)
		got = append(got, more...)
	}
	return got, alive
}

// probe sends a message the session's reader answers at once (an Ack on an
// unknown channel) and returns what Bob sent before the answer, or what he
// sent before he closed the connection.
func (z *fuzzFixture) probe(t *testing.T) ([]*peerv1.Message, bool) {
	t.Helper()
	c := z.c
	c.pings++
	id := crypto.Keccak256([]byte("fuzz-probe"), []byte(fmt.Sprint(c.pings)))
	conn := c.r.conn
	if conn.Send(&peerv1.Message{Body: &peerv1.Message_Ack{Ack: &peerv1.Ack{ChannelId: id[:]}}}) != nil {
		return z.drain(nil), false
	}
	var out []*peerv1.Message
	timer := time.NewTimer(watchdogLimit)
	defer timer.Stop()
	for {
		select {
		case m := <-conn.in:
			if e := m.GetError(); e != nil && string(e.GetChannelId()) == string(id[:]) {
				return out, true
			}
			out = append(out, m)
		case <-conn.done:
			return z.drain(out), false
		case <-timer.C:
			t.Fatalf("bob does not answer on the connection; got %s", tblShowAll(out))
		}
	}
}

func (z *fuzzFixture) drain(out []*peerv1.Message) []*peerv1.Message {
	for {
		select {
		case m := <-z.c.r.conn.in:
			out = append(out, m)
		default:
			return out
		}
	}
}

// answer does what an honest Alice does with Bob's messages: she
// acknowledges his proofs on X (refunds).
func (z *fuzzFixture) answer(t *testing.T, got []*peerv1.Message) {
	t.Helper()
	acked := false
	for _, m := range got {
		if p := m.GetProof(); p != nil && string(p.GetChannelId()) == string(z.fx.id[:]) {
			z.c.send(&peerv1.Message{Body: &peerv1.Message_Ack{Ack: &peerv1.Ack{ChannelId: p.GetChannelId(), Nonce: p.GetNonce()}}})
			acked = true
		}
	}
	if acked {
		z.settle(t)
		z.last = z.stateOf(t, z.fx.id)
	}
}

// check checks what Bob did with m.
func (z *fuzzFixture) check(t *testing.T, m *peerv1.Message, got []*peerv1.Message, before, after tblSnap) {
	t.Helper()
	fx := z.fx
	if p := fx.bob.n.failed.Load(); p != nil {
		t.Fatalf("bob failed on %s: %v", tblShow(m), *p)
	}
	refused, other := false, false
	for _, r := range got {
		switch {
		case r.GetReestablish() != nil:
		case r.GetError() != nil, r.GetNack() != nil, r.GetAbandon() != nil,
			r.GetCloseReply() != nil && len(r.GetCloseReply().GetSignature()) == 0,
			r.GetWithdrawReply() != nil && len(r.GetWithdrawReply().GetSignature()) == 0:
			refused = true
		default:
			other = true
		}
	}
	if refused && !other {
		fx.same(t, "the refused "+tblShow(m), before, after)
	} else if after.lastSeq != before.lastSeq && fuzzSameStates(before, after) {
		t.Errorf("%s wrote %d log entries but changed no channel", tblShow(m), after.lastSeq-before.lastSeq)
	}
	if y, ok := after.states[fx.other]; !ok || !fuzzEqual(y, z.carol) {
		t.Errorf("%s changed carol's channel: %s", tblShow(m), tblDiff(z.carol, y))
	}
	mine := 0
	for _, st := range after.states {
		if st.Params.Participants[channel.A] == fx.akey.Address() && st.Phase == channel.Opening {
			mine++
		}
	}
	if limit := fx.bob.n.cfg.MaxProposalsPerPeer; mine > limit {
		t.Errorf("bob holds %d of alice's proposals, more than %d", mine, limit)
	}
	st, ok := after.states[fx.id]
	if !ok {
		t.Fatalf("bob forgot alice's channel after %s", tblShow(m))
	}
	z.checkX(t, m, st)
	z.last = st
}

// checkX checks X against the state before m and after the set-up.
func (z *fuzzFixture) checkX(t *testing.T, m *peerv1.Message, st channel.State) {
	t.Helper()
	p, f := z.last, z.first
	bad := func(format string, args ...any) {
		t.Errorf("after %s, alice's channel: %s\nbefore: %+v\nafter:  %+v", tblShow(m), fmt.Sprintf(format, args...), p, st)
	}
	if st.Params != f.Params || st.Self != f.Self || st.Deposit != f.Deposit {
		bad("parameters or deposits changed")
	}
	if st.Received.Nonce < p.Received.Nonce || st.Received.Transferred.Lt(&p.Received.Transferred) {
		bad("what bob holds of alice's went back")
	}
	// (A Reestablish may say that Alice lost what she acknowledged: Bob
	// sends it again.)
	if st.Sent.Nonce < p.Sent.Nonce || st.Sent.Transferred.Lt(&p.Sent.Transferred) || st.Acked > st.Sent.Nonce ||
		st.Acked < p.Acked && m.GetReestablish() == nil {
		bad("bob's own proofs went back, or alice acknowledged more than he signed")
	}
	if st.Withdrawn[channel.B] != f.Withdrawn[channel.B] || st.ChainWithdrawn != f.ChainWithdrawn {
		bad("withdrawn changed")
	}
	var in, out, lhs, rhs uint256.Int
	in.Sub(&st.Received.Transferred, &f.Received.Transferred)
	out.Sub(&st.Sent.Transferred, &f.Sent.Transferred)
	if out.Gt(&in) {
		bad("bob paid alice back %s, more than the %s she paid", out.Dec(), in.Dec())
	}
	lhs.Add(&st.Received.Transferred, &st.Withdrawn[channel.A])
	rhs.Add(&st.Deposit[channel.A], &st.Sent.Transferred)
	if lhs.Gt(&rhs) {
		bad("insolvent: alice paid %s and withdraws %s of a deposit of %s plus %s paid to her", st.Received.Transferred.Dec(), st.Withdrawn[channel.A].Dec(), st.Deposit[channel.A].Dec(), st.Sent.Transferred.Dec())
	}
	// Closing and settled only on close terms Bob countersigned, that give
	// him his balance (he submits them himself when they are about to
	// expire: then the chain settles the channel).
	switch st.Phase {
	case channel.Open:
	case channel.Closing, channel.Settled:
		var mine uint256.Int
		mine.Add(&p.Deposit[channel.B], &p.Received.Transferred)
		mine.Sub(&mine, &p.Sent.Transferred)
		mine.Sub(&mine, &p.Withdrawn[channel.B])
		if c := st.Close; c == nil || !c.Complete() {
			bad("%s without terms both signed", st.Phase)
		} else if c.Balance[channel.B].Lt(&mine) {
			bad("the close terms give bob %s of his %s", c.Balance[channel.B].Dec(), mine.Dec())
		}
	default:
		bad("phase %s (only Bob's own close terms reach the chain)", st.Phase)
	}
}

func fuzzEqual(a, b channel.State) bool { return tblDiff(a, b) == "" }

func fuzzSameStates(a, b tblSnap) bool {
	if len(a.states) != len(b.states) {
		return false
	}
	for id, s := range a.states {
		if t, ok := b.states[id]; !ok || !fuzzEqual(s, t) {
			return false
		}
	}
	return true
}

// --- shaping ---

// fuzzShape forces structure onto one fuzzed message, as its flags ask.
type fuzzShape struct {
	flags  byte
	z      *fuzzFixture
	x      *tblCtx        // X as the input starts
	id     channel.ID     // the channel the message names (zero if none)
	params channel.Params // its parameters (X's if Bob does not know it)
	then   []*peerv1.Message
}

func (s *fuzzShape) on(bit byte) bool { return s.flags&bit != 0 }

// channel sets the channel id of m (or of the body of a Message) as the
// flags ask, and notes it.
func (s *fuzzShape) channel(m protoreflect.Message) {
	if od := m.Descriptor().Oneofs().ByName("body"); od != nil {
		if fd := m.WhichOneof(od); fd != nil {
			s.channel(m.Mutable(fd).Message())
		}
		return
	}
	fd := m.Descriptor().Fields().ByName("channel_id")
	if fd == nil {
		return
	}
	fx := s.z.fx
	switch s.flags & fzChan {
	case 0:
		if raw := m.Get(fd).Bytes(); len(raw) == 32 {
			s.id = channel.ID(raw)
		}
	case 1:
		s.id = fx.id
	case 2:
		s.id = fx.other
	case 3:
		s.id = fx.id
		for _, c := range fx.bob.n.chans.withPeer(fx.akey.Address()) {
			if c.id != fx.id && c.info().Phase == channel.Opening {
				s.id = c.id
			}
		}
	}
	if s.flags&fzChan != 0 {
		m.Set(fd, protoreflect.ValueOfBytes(append([]byte(nil), s.id[:]...)))
	}
	s.params = s.x.st.Params
	if c := fx.bob.n.chans.get(s.id); c != nil {
		s.params = c.params
	}
}

// near returns one of base-1 .. base+2, as v picks.
func near(base, v uint64) uint64 { return max(base+v%4, 1) - 1 }

// plus returns base plus a small amount (under 1000) that raw picks.
func plus(base *uint256.Int, raw []byte) []byte {
	var v uint64
	for _, b := range raw[max(0, len(raw)-8):] {
		v = v<<8 | uint64(b)
	}
	var out uint256.Int
	out.AddUint64(base, v%1000)
	return amountBytes(&out)
}

func (s *fuzzShape) sign(d crypto.Hash) []byte {
	sig, err := s.z.fx.akey.Sign(d)
	if err != nil {
		s.x.t.Fatal(err)
	}
	return sig[:]
}

// parts makes payment parts well formed: 32-byte ids (refunds of Bob's
// payment), amounts that add up to total if it is set.
func (s *fuzzShape) parts(parts []*peerv1.PaymentPart, nonce uint64, total *uint256.Int) []*peerv1.PaymentPart {
	if len(parts) == 0 {
		parts = []*peerv1.PaymentPart{{}}
	}
	var sum uint256.Int
	for i, p := range parts {
		if len(p.PaymentId) != 32 {
			h := crypto.Keccak256(p.PaymentId, s.z.fx.id[:], binary.BigEndian.AppendUint64(nil, nonce), []byte{byte(i)})
			p.PaymentId = h[:]
		}
		if len(p.RefundOf) != 0 && len(p.RefundOf) != 32 {
			p.RefundOf = append([]byte(nil), s.z.bobPay[:]...)
		}
		if o := p.Offer; o != nil {
			h := crypto.Keccak256(o.OfferId)
			o.OfferId, o.Asset, o.Signature = h[:], make([]byte, 20), make([]byte, 65)
		}
		if len(p.StreamId) != 0 && len(p.StreamId) != 16 {
			p.StreamId = p.PaymentId[:16]
		}
		v, err := parseAmount("amount", p.Amount)
		if err != nil {
			v.SetUint64(uint64(len(p.Amount)))
			p.Amount = amountBytes(&v)
		}
		if i < len(parts)-1 {
			if _, over := sum.AddOverflow(&sum, &v); over {
				return parts
			}
		}
	}
	if total != nil {
		last := parts[len(parts)-1]
		if sum.Gt(total) {
			for _, p := range parts {
				p.Amount = nil
			}
			sum.Clear()
		}
		var v uint256.Int
		v.Sub(total, &sum)
		last.Amount = amountBytes(&v)
	}
	return parts
}

// proof shapes a proof of Alice's on the named channel.
func (s *fuzzShape) proof(m *peerv1.BalanceProof) {
	r := s.x.st.Received
	if s.on(fzNonce) {
		m.Nonce = near(r.Nonce+1, m.Nonce)
	}
	if s.on(fzAmount) {
		m.Transferred = plus(&r.Transferred, m.Transferred)
	}
	total, err := parseAmount("transferred", m.Transferred)
	if s.on(fzFix) {
		var delta *uint256.Int
		if err == nil && !total.Lt(&r.Transferred) {
			delta = new(uint256.Int).Sub(&total, &r.Transferred)
		}
		m.Parts = s.parts(m.Parts, m.Nonce, delta)
	}
	if s.on(fzSign) && err == nil {
		m.Signature = s.sign(s.params.Domain().BalanceProofDigest(s.id, m.Nonce, &total))
	}
}

// --- the targets, one per message type ---

// fuzzPart is a well-formed payment part of amount.
func fuzzPart(amount uint64) *peerv1.PaymentPart {
	return &peerv1.PaymentPart{PaymentId: make([]byte, 32), Amount: amountBytes(uint256.NewInt(amount)), Memo: "fuzz"}
}

func FuzzPeerProof(f *testing.F) {
	seed := func(flags byte, parts ...*peerv1.PaymentPart) fuzzSeed[*peerv1.BalanceProof] {
		return fuzzSeed[*peerv1.BalanceProof]{flags, &peerv1.BalanceProof{Nonce: 1, Transferred: amountBytes(uint256.NewInt(7)), Signature: make([]byte, 65), Parts: parts}}
	}
	offer := fuzzPart(3)
	offer.Offer = &peerv1.Offer{OfferId: make([]byte, 32), ItemId: "item", Price: amountBytes(uint256.NewInt(3)), Expiry: 1 << 40, Signature: make([]byte, 65)}
	refund := fuzzPart(5)
	refund.RefundOf = []byte{1}
	fuzzPeer(f, func(m *peerv1.BalanceProof) *peerv1.Message {
		return &peerv1.Message{Body: &peerv1.Message_Proof{Proof: m}}
	},
		(*fuzzShape).proof,
		seed(1|fzAll, fuzzPart(7)),                  // the next proof
		seed(1|fzAll|fzTwice, fuzzPart(7)),          // twice: the copy is stale
		seed(1|fzAll, fuzzPart(1), offer),           // a part Bob refuses and refunds
		seed(1|fzAll, refund, fuzzPart(2)),          // a part refunding Bob's payment
		seed(2|fzAll, fuzzPart(7)),                  // on Carol's channel
		seed(1|fzNonce|fzAmount|fzFix, fuzzPart(7)), // not signed
		seed(0, fuzzPart(7)),
	)
}

func FuzzPeerProofParts(f *testing.F) {
	type S = fuzzSeed[*peerv1.ProofParts]
	fuzzPeer(f, func(m *peerv1.ProofParts) *peerv1.Message {
		return &peerv1.Message{Body: &peerv1.Message_ProofParts{ProofParts: m}}
	}, func(s *fuzzShape, m *peerv1.ProofParts) {
		r := s.x.st.Received
		if s.on(fzNonce) {
			m.Nonce = near(r.Nonce+1, m.Nonce)
		}
		if s.on(fzFix) {
			m.Parts = s.parts(m.Parts, m.Nonce, nil)
		}
		if !s.on(fzExtra) {
			return
		}
		// Then the proof whose parts these are, with one of its own.
		total := r.Transferred
		for _, p := range m.Parts {
			v, err := parseAmount("amount", p.Amount)
			if _, over := total.AddOverflow(&total, &v); err != nil || over {
				return
			}
		}
		total.AddUint64(&total, 1)
		last := fuzzPart(1)
		h := crypto.Keccak256(binary.BigEndian.AppendUint64(nil, m.Nonce), total.Bytes(), []byte("last"))
		last.PaymentId = h[:]
		p := &peerv1.BalanceProof{ChannelId: m.ChannelId, Nonce: m.Nonce, Transferred: amountBytes(&total), Parts: []*peerv1.PaymentPart{last}}
		p.Signature = s.sign(s.params.Domain().BalanceProofDigest(s.id, p.Nonce, &total))
		s.then = append(s.then, &peerv1.Message{Body: &peerv1.Message_Proof{Proof: p}})
	},
		S{1 | fzAll | fzExtra, &peerv1.ProofParts{Nonce: 1, Parts: []*peerv1.PaymentPart{fuzzPart(2), fuzzPart(3)}}},
		S{1 | fzAll, &peerv1.ProofParts{Nonce: 1, Parts: []*peerv1.PaymentPart{fuzzPart(2)}}},
		S{3 | fzAll | fzExtra, &peerv1.ProofParts{Nonce: 1, Parts: []*peerv1.PaymentPart{fuzzPart(2)}}},
		S{0, &peerv1.ProofParts{Nonce: 1, Parts: []*peerv1.PaymentPart{fuzzPart(2)}}},
	)
}

func FuzzPeerAck(f *testing.F) {
	type S = fuzzSeed[*peerv1.Ack]
	fuzzPeer(f, func(m *peerv1.Ack) *peerv1.Message { return &peerv1.Message{Body: &peerv1.Message_Ack{Ack: m}} },
		func(s *fuzzShape, m *peerv1.Ack) {
			if s.on(fzNonce) {
				m.Nonce = near(s.x.st.Sent.Nonce, m.Nonce)
			}
		},
		S{1 | fzNonce, &peerv1.Ack{Nonce: 1}},
		S{1 | fzNonce | fzTwice, &peerv1.Ack{Nonce: 3, Receipts: []*peerv1.Receipt{{PaymentId: make([]byte, 32), Time: 1, Signature: make([]byte, 65)}}}},
		S{1 | fzNonce, &peerv1.Ack{Nonce: 2, Refused: []*peerv1.Refusal{{PaymentId: make([]byte, 32), Code: 3, Reason: "fuzz"}}}},
		S{2 | fzNonce, &peerv1.Ack{Nonce: 1}},
		S{0, &peerv1.Ack{Nonce: 1}},
	)
}

func FuzzPeerNack(f *testing.F) {
	type S = fuzzSeed[*peerv1.Nack]
	fuzzPeer(f, func(m *peerv1.Nack) *peerv1.Message { return &peerv1.Message{Body: &peerv1.Message_Nack{Nack: m}} },
		func(s *fuzzShape, m *peerv1.Nack) {
			if s.on(fzNonce) {
				m.Nonce = near(s.x.st.Sent.Nonce, m.Nonce)
			}
		},
		S{1 | fzNonce, &peerv1.Nack{Nonce: 1, Code: codeFailedPrecondition, Reason: "fuzz"}},
		S{1 | fzNonce | fzTwice, &peerv1.Nack{Nonce: 2, Code: codeInvalidArgument, Reason: "fuzz"}},
		S{3 | fzNonce, &peerv1.Nack{Nonce: 1}},
		S{0, &peerv1.Nack{Nonce: 1}},
	)
}

func FuzzPeerReestablish(f *testing.F) {
	type S = fuzzSeed[*peerv1.Reestablish]
	held := &peerv1.BalanceProof{Nonce: 1, Transferred: amountBytes(uint256.NewInt(5)), Signature: make([]byte, 65)}
	fuzzPeer(f, func(m *peerv1.Reestablish) *peerv1.Message {
		return &peerv1.Message{Body: &peerv1.Message_Reestablish{Reestablish: m}}
	}, func(s *fuzzShape, m *peerv1.Reestablish) {
		st := s.x.st
		if s.on(fzNonce) {
			m.SentNonce = near(st.Received.Nonce, m.SentNonce)
		}
		if s.on(fzSign) && !st.Sent.IsZero() { // Alice holds Bob's newest proof
			m.Held = proofMessage(st.Sent, nil)
		}
	},
		S{1 | fzNonce | fzSign, &peerv1.Reestablish{SentNonce: 1}},
		S{1 | fzNonce | fzSign | fzTwice, &peerv1.Reestablish{SentNonce: 1, Reply: true}},
		S{1 | fzNonce, &peerv1.Reestablish{SentNonce: 2, Held: held}},
		S{3 | fzNonce, &peerv1.Reestablish{SentNonce: 1, Reply: true}},
		S{0, &peerv1.Reestablish{SentNonce: 1, Held: held}},
	)
}

func FuzzPeerPropose(f *testing.F) {
	type S = fuzzSeed[*peerv1.Propose]
	fuzzPeer(f, func(m *peerv1.Propose) *peerv1.Message {
		return &peerv1.Message{Body: &peerv1.Message_Propose{Propose: m}}
	},
		func(s *fuzzShape, m *peerv1.Propose) {
			if s.on(fzFix) {
				if len(m.Salt) != 32 {
					h := crypto.Keccak256(m.Salt)
					m.Salt = h[:]
				}
				m.ChallengePeriod = 100
			}
			if s.on(fzAmount) {
				m.Deposit = plus(uint256.NewInt(0), m.Deposit)
			}
		},
		S{fzFix | fzAmount, &peerv1.Propose{ChallengePeriod: 100, Salt: []byte{1}, Deposit: amountBytes(uint256.NewInt(1000))}},
		S{fzFix | fzTwice, &peerv1.Propose{ChallengePeriod: 100, Salt: []byte{2}, Deposit: amountBytes(uint256.NewInt(1000))}},
		S{0, &peerv1.Propose{ChallengePeriod: 100, Salt: make([]byte, 32), Asset: make([]byte, 20)}},
	)
}

func FuzzPeerAccept(f *testing.F) {
	type S = fuzzSeed[*peerv1.Accept]
	fuzzPeer(f, func(m *peerv1.Accept) *peerv1.Message {
		return &peerv1.Message{Body: &peerv1.Message_Accept{Accept: m}}
	}, nil,
		S{1, &peerv1.Accept{}}, S{3 | fzTwice, &peerv1.Accept{}}, S{0, &peerv1.Accept{ChannelId: make([]byte, 32)}})
}

func FuzzPeerWithdrawRequest(f *testing.F) {
	type S = fuzzSeed[*peerv1.WithdrawRequest]
	fuzzPeer(f, func(m *peerv1.WithdrawRequest) *peerv1.Message {
		return &peerv1.Message{Body: &peerv1.Message_WithdrawRequest{WithdrawRequest: m}}
	}, func(s *fuzzShape, m *peerv1.WithdrawRequest) {
		if s.on(fzNonce) {
			m.Expiry = s.x.now - 100 + m.Expiry%1_000_000
		}
		if s.on(fzAmount) {
			m.Total = plus(&s.x.st.Withdrawn[channel.A], m.Total)
		}
		if total, err := parseAmount("total", m.Total); s.on(fzSign) && err == nil {
			m.Signature = s.sign(s.params.Domain().WithdrawDigest(s.id, s.z.fx.akey.Address(), &total, m.Expiry))
		}
	},
		S{1 | fzAll, &peerv1.WithdrawRequest{Total: amountBytes(uint256.NewInt(100)), Expiry: 100_000}},
		S{1 | fzAll | fzTwice, &peerv1.WithdrawRequest{Total: amountBytes(uint256.NewInt(10)), Expiry: 200_000}},
		S{1 | fzAll, &peerv1.WithdrawRequest{Total: amountBytes(uint256.NewInt(10)), Expiry: 1}}, // expired
		S{0, &peerv1.WithdrawRequest{Total: amountBytes(uint256.NewInt(10)), Expiry: 1 << 40, Signature: make([]byte, 65)}},
	)
}

func FuzzPeerWithdrawReply(f *testing.F) {
	type S = fuzzSeed[*peerv1.WithdrawReply]
	fuzzPeer(f, func(m *peerv1.WithdrawReply) *peerv1.Message {
		return &peerv1.Message{Body: &peerv1.Message_WithdrawReply{WithdrawReply: m}}
	}, nil,
		S{1, &peerv1.WithdrawReply{Signature: make([]byte, 65)}},
		S{1 | fzTwice, &peerv1.WithdrawReply{Error: "fuzz refuses"}},
		S{0, &peerv1.WithdrawReply{}},
	)
}

func FuzzPeerCloseRequest(f *testing.F) {
	type S = fuzzSeed[*peerv1.CloseRequest]
	fuzzPeer(f, func(m *peerv1.CloseRequest) *peerv1.Message {
		return &peerv1.Message{Body: &peerv1.Message_CloseRequest{CloseRequest: m}}
	}, func(s *fuzzShape, m *peerv1.CloseRequest) {
		if s.on(fzNonce) {
			m.Expiry = s.x.now - 100 + m.Expiry%1_000_000
		}
		if s.on(fzAmount) {
			// Fair terms, or one unit more or less for Bob, or as fuzzed.
			a, b := s.x.info.PeerBalance, s.x.info.MyBalance
			switch v := m.GetBalanceA(); {
			case len(v) == 0 || v[len(v)-1]%4 == 0:
			case v[len(v)-1]%4 == 1 && !a.IsZero():
				a.SubUint64(&a, 1)
				b.AddUint64(&b, 1)
			case v[len(v)-1]%4 == 2 && !b.IsZero():
				a.AddUint64(&a, 1)
				b.SubUint64(&b, 1)
			default:
				a, b = uint256.Int{}, uint256.Int{}
				a.SetBytes(v)
				b.SetBytes(m.GetBalanceB())
			}
			m.BalanceA, m.BalanceB = amountBytes(&a), amountBytes(&b)
		}
		a, err1 := parseAmount("a", m.BalanceA)
		b, err2 := parseAmount("b", m.BalanceB)
		if s.on(fzSign) && err1 == nil && err2 == nil {
			m.Signature = s.sign(s.params.Domain().CooperativeCloseDigest(s.id, &a, &b, m.Expiry))
		}
	},
		S{1 | fzAll, &peerv1.CloseRequest{BalanceA: []byte{4}, Expiry: 100_000}},           // fair terms: Bob countersigns
		S{1 | fzAll | fzTwice, &peerv1.CloseRequest{BalanceA: []byte{2}, Expiry: 100_000}}, // unfair: refused
		S{1 | fzAll, &peerv1.CloseRequest{BalanceA: []byte{1}, Expiry: 1}},                 // expired
		S{1 | fzAll, &peerv1.CloseRequest{BalanceA: []byte{4}, Expiry: 110}},               // expiring: Bob submits them himself, the chain settles
		S{2 | fzAll, &peerv1.CloseRequest{BalanceA: []byte{4}, Expiry: 100_000}},           // carol's channel
		S{0, &peerv1.CloseRequest{BalanceA: []byte{1}, BalanceB: []byte{1}, Signature: make([]byte, 65)}},
	)
}

func FuzzPeerCloseReply(f *testing.F) {
	type S = fuzzSeed[*peerv1.CloseReply]
	fuzzPeer(f, func(m *peerv1.CloseReply) *peerv1.Message {
		return &peerv1.Message{Body: &peerv1.Message_CloseReply{CloseReply: m}}
	}, nil,
		S{1, &peerv1.CloseReply{Signature: make([]byte, 65)}},
		S{1 | fzTwice, &peerv1.CloseReply{Error: "fuzz refuses"}},
		S{0, &peerv1.CloseReply{}},
	)
}

func FuzzPeerRecoverRequest(f *testing.F) {
	type S = fuzzSeed[*peerv1.RecoverRequest]
	fuzzPeer(f, func(m *peerv1.RecoverRequest) *peerv1.Message {
		return &peerv1.Message{Body: &peerv1.Message_RecoverRequest{RecoverRequest: m}}
	}, func(s *fuzzShape, m *peerv1.RecoverRequest) {
		if s.on(fzNonce) {
			m.AfterNonce = near(s.x.st.Received.Nonce, m.AfterNonce)
		}
	},
		S{1 | fzNonce, &peerv1.RecoverRequest{}},
		S{1 | fzNonce | fzTwice, &peerv1.RecoverRequest{AfterNonce: 1}},
		S{2, &peerv1.RecoverRequest{}},
		S{0, &peerv1.RecoverRequest{AfterNonce: 1 << 62}},
	)
}

func FuzzPeerRecovered(f *testing.F) {
	type S = fuzzSeed[*peerv1.Recovered]
	pay := func(nonce, cum uint64) *peerv1.RecoveredPayment {
		return &peerv1.RecoveredPayment{Nonce: nonce, Cumulative: amountBytes(uint256.NewInt(cum)), Part: fuzzPart(cum)}
	}
	fuzzPeer(f, func(m *peerv1.Recovered) *peerv1.Message {
		return &peerv1.Message{Body: &peerv1.Message_Recovered{Recovered: m}}
	}, func(s *fuzzShape, m *peerv1.Recovered) {
		if s.on(fzFix) {
			for _, p := range m.Payments {
				if p.Part != nil {
					p.Part = s.parts([]*peerv1.PaymentPart{p.Part}, p.Nonce, nil)[0]
				}
			}
		}
	},
		S{1 | fzFix, &peerv1.Recovered{Payments: []*peerv1.RecoveredPayment{pay(1, 5)}}},
		S{1 | fzFix | fzTwice, &peerv1.Recovered{Payments: []*peerv1.RecoveredPayment{pay(1, 5), pay(2, 6)}}},
		S{0, &peerv1.Recovered{Payments: []*peerv1.RecoveredPayment{pay(1, 5)}}},
	)
}

func FuzzPeerAbandon(f *testing.F) {
	type S = fuzzSeed[*peerv1.Abandon]
	fuzzPeer(f, func(m *peerv1.Abandon) *peerv1.Message {
		return &peerv1.Message{Body: &peerv1.Message_Abandon{Abandon: m}}
	}, nil,
		S{1, &peerv1.Abandon{Reason: "fuzz"}}, S{3 | fzTwice, &peerv1.Abandon{Reason: "fuzz"}}, S{2, &peerv1.Abandon{}}, S{0, &peerv1.Abandon{}})
}

func FuzzPeerStreamStart(f *testing.F) {
	type S = fuzzSeed[*peerv1.StreamStart]
	fuzzPeer(f, func(m *peerv1.StreamStart) *peerv1.Message {
		return &peerv1.Message{Body: &peerv1.Message_StreamStart{StreamStart: m}}
	}, func(s *fuzzShape, m *peerv1.StreamStart) {
		if s.on(fzFix) {
			if len(m.StreamId) != 16 {
				h := crypto.Keccak256(m.StreamId)
				m.StreamId = h[:16]
			}
			m.TickMs = 100 + m.TickMs%5000
		}
	},
		S{1 | fzFix, &peerv1.StreamStart{Rate: []byte{1}, TickMs: 1000, Budget: []byte{100}}},
		S{1 | fzFix | fzTwice, &peerv1.StreamStart{Rate: []byte{1}, TickMs: 1000, EndUnix: 1 << 50}},
		S{2 | fzFix, &peerv1.StreamStart{Rate: []byte{1}, TickMs: 1000}},
		S{0, &peerv1.StreamStart{}},
	)
}

func FuzzPeerStreamEnd(f *testing.F) {
	type S = fuzzSeed[*peerv1.StreamEnd]
	fuzzPeer(f, func(m *peerv1.StreamEnd) *peerv1.Message {
		return &peerv1.Message{Body: &peerv1.Message_StreamEnd{StreamEnd: m}}
	}, nil,
		S{1, &peerv1.StreamEnd{StreamId: make([]byte, 16), Reason: "done"}}, S{2 | fzTwice, &peerv1.StreamEnd{StreamId: make([]byte, 16)}}, S{0, &peerv1.StreamEnd{}})
}

func FuzzPeerError(f *testing.F) {
	type S = fuzzSeed[*peerv1.Error]
	fuzzPeer(f, func(m *peerv1.Error) *peerv1.Message { return &peerv1.Message{Body: &peerv1.Message_Error{Error: m}} }, nil,
		S{1, &peerv1.Error{Code: codeInternal, Message: "fuzz"}},
		S{3 | fzTwice, &peerv1.Error{Code: codeFailedPrecondition, Message: strings.Repeat("x", 2000)}},
		S{0, &peerv1.Error{}})
}

// FuzzPeerHello: a Hello after the session started is a protocol error (Bob
// closes the connection).
func FuzzPeerHello(f *testing.F) {
	type S = fuzzSeed[*peerv1.Hello]
	fuzzPeer(f, func(m *peerv1.Hello) *peerv1.Message { return &peerv1.Message{Body: &peerv1.Message_Hello{Hello: m}} }, nil,
		S{0, &peerv1.Hello{ProtocolVersion: 1, ChainId: 1337, Address: make([]byte, 20), Signature: make([]byte, 65)}})
}

// FuzzPeerMessage fuzzes the whole Message, any body or none (the channel
// flags apply to whichever body it has).
func FuzzPeerMessage(f *testing.F) {
	type S = fuzzSeed[*peerv1.Message]
	fuzzPeer(f, func(m *peerv1.Message) *peerv1.Message { return m }, nil,
		S{1, &peerv1.Message{Body: &peerv1.Message_Ack{Ack: &peerv1.Ack{Nonce: 1}}}},
		S{1, &peerv1.Message{Body: &peerv1.Message_RecoverRequest{RecoverRequest: &peerv1.RecoverRequest{}}}},
		S{0, &peerv1.Message{}},
	)
}

// --- the nodes' testing.TB ---

// fuzzTB is the testing.TB of a fuzz target's nodes. They outlive the
// inputs, and *testing.F may not be called while the fuzz function runs,
// so fuzzTB keeps temporary directories and cleanups of its own (run when
// a node set is rebuilt, and when the target ends), and hands failures
// (the nodes' watchdogs', the harness's) to the input that runs, or to the
// next one.
type fuzzTB struct {
	testing.TB // the *testing.F, until fuzzing starts

	fuzzing      atomic.Bool
	inputs, sets int
	undecodable  atomic.Int64
	answers      map[string]int // Bob's answers by kind

	mu       sync.Mutex
	problems []string
	cleanups []func()
}

func (tb *fuzzTB) Helper() {}

func (tb *fuzzTB) record(msg string) bool {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if tb.fuzzing.Load() {
		tb.problems = append(tb.problems, msg)
	}
	return tb.fuzzing.Load()
}

func (tb *fuzzTB) Errorf(format string, args ...any) {
	if !tb.record(fmt.Sprintf(format, args...)) {
		tb.TB.Errorf(format, args...)
	}
}

func (tb *fuzzTB) Error(args ...any) { tb.Errorf("%s", fmt.Sprint(args...)) }

// Fatalf ends the goroutine; fuzzing, that is an input's (the harness is
// called from the fuzz function only), which end then reports.
func (tb *fuzzTB) Fatalf(format string, args ...any) {
	if !tb.record(fmt.Sprintf(format, args...)) {
		tb.TB.Fatalf(format, args...)
	}
	runtime.Goexit()
}

func (tb *fuzzTB) Fatal(args ...any) { tb.Fatalf("%s", fmt.Sprint(args...)) }

func (tb *fuzzTB) Logf(format string, args ...any) {
	if !tb.fuzzing.Load() {
		tb.TB.Logf(format, args...)
	}
}

func (tb *fuzzTB) Log(args ...any) { tb.Logf("%s", fmt.Sprint(args...)) }

func (tb *fuzzTB) TempDir() string {
	dir, err := os.MkdirTemp("", "tinypay-fuzz-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func (tb *fuzzTB) Cleanup(f func()) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.cleanups = append(tb.cleanups, f)
}

// runCleanups runs the cleanups registered so far, newest first.
func (tb *fuzzTB) runCleanups() {
	tb.mu.Lock()
	fs := tb.cleanups
	tb.cleanups = nil
	tb.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

func (tb *fuzzTB) cleanup() {
	tb.fuzzing.Store(false)
	tb.runCleanups()
}

// begin reports, on t, what failed between the inputs.
func (tb *fuzzTB) begin(t *testing.T) { tb.end(t) }

// end reports, on t, what failed during the input.
func (tb *fuzzTB) end(t *testing.T) {
	tb.mu.Lock()
	ps := tb.problems
	tb.problems = nil
	tb.mu.Unlock()
	for _, p := range ps {
		t.Error(p)
	}
}

// count counts Bob's answers by kind, for report.
func (tb *fuzzTB) count(got []*peerv1.Message, alive bool) {
	if tb.answers == nil {
		tb.answers = map[string]int{}
	}
	if !alive {
		tb.answers["closed"]++
	}
	if len(got) == 0 {
		tb.answers["silence"]++
	}
	for _, m := range got {
		k := strings.TrimPrefix(fmt.Sprintf("%T", m.GetBody()), "*peerv1.Message_")
		if r := m.GetCloseReply(); r != nil && len(r.GetSignature()) > 0 || m.GetWithdrawReply() != nil && len(m.GetWithdrawReply().GetSignature()) > 0 {
			k += "(signed)"
		}
		tb.answers[k]++
	}
}

// report says what the target did: on f with -v, and, in every fuzz
// process, appended to the file $TINYPAY_FUZZ_STATS if set (the fuzz
// workers' logs are not shown).
func (tb *fuzzTB) report(f *testing.F) {
	if tb.inputs == 0 && tb.undecodable.Load() == 0 {
		return
	}
	keys := make([]string, 0, len(tb.answers))
	for k := range tb.answers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%d", k, tb.answers[k])
	}
	line := fmt.Sprintf("%s: %d inputs delivered on %d node sets, %d undecodable; answers:%s", f.Name(), tb.inputs, tb.sets, tb.undecodable.Load(), b.String())
	f.Log(line)
	if path := os.Getenv("TINYPAY_FUZZ_STATS"); path != "" {
		if out, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			fmt.Fprintln(out, line)
			out.Close()
		}
	}
}
