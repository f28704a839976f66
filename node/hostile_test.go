package node

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
	"github.com/tinypay/tinypay/settlement"
	"github.com/tinypay/tinypay/store"
)

// Tests of what a hostile or unlucky peer can make the node do, written by
// an adversarial review of the node's core: each failed before its fix.

// --- helpers ---

// rawPayer opens a channel Alice -> Bob (deposit 1000), pays 10 for real,
// then stops Alice: the test speaks for her from then on over a raw
// session, reestablished and ready on Bob's side.
func rawPayer(t *testing.T, w *net, bob *testNode) (alice *testNode, id channel.ID, dom crypto.Domain, r *rawPeer) {
	t.Helper()
	alice = w.add("alice", 1)
	alice.connect(bob)
	id = alice.open(bob, 1000)
	alice.pay(id, 10, "first")
	dom = mustChannelOf(t, bob, id).state().Params.Domain()
	alice.stop()
	r = dialRaw(t, alice.key.Address(), bob)
	r.send(&peerv1.Message{Body: &peerv1.Message_Reestablish{Reestablish: &peerv1.Reestablish{ChannelId: id[:], SentNonce: 1, AckedNonce: 1}}})
	waitFor(t, "bob is ready on the raw session", func() bool { return bob.channel(id).Connected })
	return alice, id, dom, r
}

func signedProof(t *testing.T, key *crypto.PrivateKey, dom crypto.Domain, id channel.ID, nonce, total uint64, parts ...*peerv1.PaymentPart) *peerv1.BalanceProof {
	t.Helper()
	v := uint256.NewInt(total)
	sig, err := key.Sign(dom.BalanceProofDigest(id, nonce, v))
	if err != nil {
		t.Fatal(err)
	}
	return &peerv1.BalanceProof{ChannelId: id[:], Nonce: nonce, Transferred: amountBytes(v), Signature: sig[:], Parts: parts}
}

func rid(b byte) []byte {
	x := make([]byte, 32)
	for i := range x {
		x[i] = b
	}
	return x
}

// refuseOffers is an application layer that refuses every part paying an
// offer, as package apps does for an offer this node did not sign.
type refuseOffers struct{ noHooks }

func (refuseOffers) CheckIncoming(_ ChannelInfo, parts []Part) ([]error, func(bool)) {
	refuse := make([]error, len(parts))
	for i := range parts {
		if parts[i].Offer != nil {
			refuse[i] = invalid("the offer is not this node's")
		}
	}
	return refuse, func(bool) {}
}

// --- 1. refund_of switches the application's refusal off ---

// TestRefundClaimBypassesNoCheck: a part that merely claims to be a
// refund (refund_of names nothing of Bob's) is exempt from the
// application's checks; two such parts carrying the same (bogus) offer id
// are stored as two accepted payments of one offer, the store refuses the
// batch (duplicate offer_id) and Bob's whole node fails. Cost to the
// attacker: 2 base units in a channel it opened.
func TestRefundClaimBypassesNoCheck(t *testing.T) {
	w := newNet(t)
	bob := w.add("bob", 2)
	bob.n.hooks = refuseOffers{} // before any session reads it
	alice, id, dom, r := rawPayer(t, w, bob)

	osig, _ := alice.key.Sign(crypto.Keccak256([]byte("whatever")))
	offer := &peerv1.Offer{OfferId: rid(0x0f), ItemId: "x", Asset: make([]byte, 20), Price: amountBytes(uint256.NewInt(1)), Expiry: 1 << 40, Signature: osig[:]}
	part := func(pid byte) *peerv1.PaymentPart {
		return &peerv1.PaymentPart{PaymentId: rid(pid), Amount: amountBytes(uint256.NewInt(1)), Offer: offer, RefundOf: rid(0xee)}
	}
	r.send(&peerv1.Message{Body: &peerv1.Message_Proof{Proof: signedProof(t, alice.key, dom, id, 2, 12, part(1), part(2))}})

	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if p := bob.n.failed.Load(); p != nil {
			t.Fatalf("bob's node failed on a peer's proof: %v", *p)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := bob.n.usable(); err != nil {
		t.Fatalf("bob unusable: %v", err)
	}
}

// --- 2. Reestablish.held tells the payer about a proof that is not durable ---

// gateStore holds every write while armed (as a slow disk does): its
// callback runs only at release.
type gateStore struct {
	Store
	mu    sync.Mutex
	armed bool
	held  []func()
}

func (g *gateStore) CommitAsync(b *store.Batch, done func(store.Result, error)) error {
	g.mu.Lock()
	if g.armed {
		g.held = append(g.held, func() { _ = g.Store.CommitAsync(b, done) })
		g.mu.Unlock()
		return nil
	}
	g.mu.Unlock()
	return g.Store.CommitAsync(b, done)
}

func (g *gateStore) arm() { g.mu.Lock(); g.armed = true; g.mu.Unlock() }

func (g *gateStore) release() {
	g.mu.Lock()
	held := g.held
	g.held, g.armed = nil, false
	g.mu.Unlock()
	for _, f := range held {
		f()
	}
}

func (g *gateStore) holding() int { g.mu.Lock(); defer g.mu.Unlock(); return len(g.held) }

// addWrapped adds a node whose store is wrapped by wrap.
func addWrapped(t *testing.T, w *net, name string, seed byte, wrap func(Store) Store) *testNode {
	tn := &testNode{t: t, name: name, net: w, key: seedKey(seed), dir: t.TempDir(), wrap: wrap}
	w.chain.fund(tn.key.Address(), 1_000_000)
	tn.start()
	w.mu.Lock()
	w.nodes[name] = tn
	w.mu.Unlock()
	t.Cleanup(tn.stop)
	return tn
}

// TestReestablishHoldsOnlyDurableProofs: Bob's write of Alice's proof is
// slow. The connection drops and comes back; Bob's Reestablish names, as
// the proof he holds, the one still waiting for his disk, and Alice takes
// that as an acknowledgement: her payment is reported paid while Bob has
// not stored it (a crash of Bob's now loses an "acknowledged" proof).
func TestReestablishHoldsOnlyDurableProofs(t *testing.T) {
	w := newNet(t)
	gate := &gateStore{}
	alice := w.add("alice", 1)
	bob := addWrapped(t, w, "bob", 2, func(s Store) Store { gate.Store = s; return gate })
	alice.connect(bob)
	id := alice.open(bob, 1000)
	alice.pay(id, 5, "warm-up")

	gate.arm()
	defer gate.release()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, err := alice.n.Pay(ctx, PayRequest{Channel: id, Amount: *u256(7), Key: "slow-disk"})
		done <- err
	}()
	waitFor(t, "bob holds the proof in memory", func() bool { return u64(bob.channel(id).Received) == 12 })
	if gate.holding() == 0 {
		t.Fatal("bob's write is not held")
	}
	// The connection drops; Alice redials.
	alice.n.peers.session(bob.key.Address()).close(errors.New("test: connection lost"))
	err := <-done
	if err == nil && gate.holding() > 0 {
		t.Fatalf("alice's payment reported paid while bob's write of its proof is not durable (%d writes held)", gate.holding())
	}
}

// --- 3. a refusal that arrives after the countersignature ---

// rawPayee opens Alice -> Bob (1000), stops Bob and speaks for him over a
// raw session that Alice has reestablished. opts set Alice up (a store
// wrapper, say).
func rawPayee(t *testing.T, w *net, opts ...func(*testNode)) (alice, bob *testNode, id channel.ID, dom crypto.Domain, r *rawPeer) {
	t.Helper()
	alice, bob = w.add("alice", 1, opts...), w.add("bob", 2)
	alice.connect(bob)
	id = alice.open(bob, 1000)
	dom = mustChannelOf(t, alice, id).state().Params.Domain()
	bob.stop()
	r = dialRaw(t, bob.key.Address(), alice)
	r.send(&peerv1.Message{Body: &peerv1.Message_Reestablish{Reestablish: &peerv1.Reestablish{ChannelId: id[:]}}})
	waitFor(t, "alice is ready on the raw session", func() bool { return alice.channel(id).Connected })
	return alice, bob, id, dom, r
}

// TestWithdrawRefusedAfterCountersign: Bob countersigns Alice's
// withdrawal, then sends a WithdrawReply with an error. Alice's operator is
// told "peer refused", yet the countersigned withdrawal goes to the chain
// and the money leaves the channel.
func TestWithdrawRefusedAfterCountersign(t *testing.T) {
	w := newNet(t)
	alice, bob, id, dom, r := rawPayee(t, w)
	before := u64(w.chain.wallet(alice.key.Address()))
	res := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := alice.n.Withdraw(ctx, id, *u256(100))
		res <- err
	}()
	req := r.next().GetWithdrawRequest()
	if req == nil {
		t.Fatal("no withdraw request")
	}
	total, _ := parseAmount("total", req.GetTotal())
	sig, err := bob.key.Sign(dom.WithdrawDigest(id, alice.key.Address(), &total, req.GetExpiry()))
	if err != nil {
		t.Fatal(err)
	}
	w.chain.mu.Lock() // the chain is slow to take the transaction
	r.send(&peerv1.Message{Body: &peerv1.Message_WithdrawReply{WithdrawReply: &peerv1.WithdrawReply{ChannelId: id[:], Signature: sig[:]}}})
	r.send(&peerv1.Message{Body: &peerv1.Message_WithdrawReply{WithdrawReply: &peerv1.WithdrawReply{ChannelId: id[:], Error: "changed my mind"}}})
	var got error
	select {
	case got = <-res:
	case <-time.After(3 * time.Second):
	}
	w.chain.mu.Unlock()
	if got == nil {
		t.Skip("withdraw reported success")
	}
	waitFor(t, "the withdrawal settles one way or the other", func() bool { return alice.channel(id).Op == channel.OpNone })
	if moved := u64(w.chain.wallet(alice.key.Address())) - before; moved != 0 {
		t.Fatalf("Withdraw reported %q, but %d was withdrawn on chain", got, moved)
	}
}

// TestCloseRefusedAfterCountersign: Bob countersigns Alice's close
// terms, then sends a CloseReply with an error. CloseChannel reports
// "peer refused" and the operation ends while the close transaction is
// still on its way; the operator who retries (or the duty at the next
// chain tick) submits the same terms a second time.
func TestCloseRefusedAfterCountersign(t *testing.T) {
	w := newNet(t)
	var mu sync.Mutex
	submits := 0
	w.cfg = func(c *Config) {
		c.Failpoint = func(name string) {
			if name == "action cooperative close" {
				mu.Lock()
				submits++
				mu.Unlock()
			}
		}
	}
	alice, bob, id, dom, r := rawPayee(t, w)
	res := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := alice.n.CloseChannel(ctx, id)
		res <- err
	}()
	req := r.next().GetCloseRequest()
	if req == nil {
		t.Fatal("no close request")
	}
	a, _ := parseAmount("a", req.GetBalanceA())
	b, _ := parseAmount("b", req.GetBalanceB())
	sig, err := bob.key.Sign(dom.CooperativeCloseDigest(id, &a, &b, req.GetExpiry()))
	if err != nil {
		t.Fatal(err)
	}
	w.chain.mu.Lock() // the chain is slow to take the transaction
	r.send(&peerv1.Message{Body: &peerv1.Message_CloseReply{CloseReply: &peerv1.CloseReply{ChannelId: id[:], Signature: sig[:]}}})
	r.send(&peerv1.Message{Body: &peerv1.Message_CloseReply{CloseReply: &peerv1.CloseReply{ChannelId: id[:], Error: "changed my mind"}}})
	// The refusal after the countersignature changes nothing: the close
	// goes on, and the call returns once the chain took it.
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-res:
		w.chain.mu.Unlock()
		t.Fatalf("CloseChannel returned %v while the close is on its way", err)
	default:
	}
	// The operator asks again meanwhile: the close is not submitted twice.
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := alice.n.CloseChannel(ctx, id)
		res <- err
	}()
	time.Sleep(200 * time.Millisecond)
	w.chain.mu.Unlock()
	first, second := <-res, <-res
	waitFor(t, "alice's channel is settled", func() bool { return alice.channel(id).Phase == channel.Settled })
	mu.Lock()
	n := submits
	mu.Unlock()
	if first != nil || second != nil || n != 1 {
		t.Fatalf("the close went through, but CloseChannel said %v (retry: %v), and the terms were submitted %d times", first, second, n)
	}
}

// --- 4. what a stranger can make the node store and dial ---

// startCustom adds a node with its own dialer.
func startCustom(t *testing.T, w *net, name string, seed byte, d Dialer, opts ...func(*Config)) *testNode {
	tn := &testNode{t: t, name: name, net: w, key: seedKey(seed), dir: t.TempDir()}
	w.chain.fund(tn.key.Address(), 1_000_000)
	st, err := store.Open(store.DefaultConfig(tn.dir))
	if err != nil {
		t.Fatal(err)
	}
	tn.st = st
	tn.chain = &fakeBackend{f: w.chain, key: tn.key}
	cfg := testConfig()
	for _, o := range opts {
		o(&cfg)
	}
	n, err := New(cfg, Deps{Key: tn.key, Store: st, Chain: tn.chain, Dialer: d})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	tn.n = n
	w.mu.Lock()
	w.nodes[name] = tn
	w.mu.Unlock()
	t.Cleanup(tn.stop)
	return tn
}

type countingDialer struct {
	mu    sync.Mutex
	dials map[string]int
	times map[string][]time.Time // when each dial started
	inner Dialer                 // nil: every address is unreachable
}

func (d *countingDialer) DialPeer(ctx context.Context, hostport string, want crypto.Address) (PeerConn, error) {
	d.mu.Lock()
	d.dials[hostport]++
	if d.times == nil {
		d.times = map[string][]time.Time{}
	}
	d.times[hostport] = append(d.times[hostport], time.Now())
	d.mu.Unlock()
	if d.inner != nil {
		return d.inner.DialPeer(ctx, hostport, want)
	}
	return nil, errors.New("test: unreachable")
}

func (d *countingDialer) count(hostport string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dials[hostport]
}

func (d *countingDialer) started(hostport string) []time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.times[hostport])
}

// advertConn is a connection whose peer says it listens at addr (the
// Hello's listen_addr).
type advertConn struct {
	*pipeConn
	addr string
}

func (a advertConn) ListenAddrs() []string { return []string{a.addr} }

// --- 5. RecoverRequest: a full log scan per message, for anyone ---

type countingStore struct {
	Store
	pages atomic.Int64 // pages of the log read backwards
	read  atomic.Int64 // payments read by channel
}

func (s *countingStore) LogBefore(before uint64, limit int) ([]*storev1.LogEntry, error) {
	s.pages.Add(1)
	return s.Store.LogBefore(before, limit)
}

func (s *countingStore) ChannelPayments(ch [32]byte, dir storev1.Direction, after, upTo uint64, limit int) ([]*storev1.Payment, error) {
	ps, err := s.Store.ChannelPayments(ch, dir, after, upTo, limit)
	s.read.Add(int64(len(ps)))
	return ps, err
}

// TestRecoverRequestCost: a stranger proposes a channel (nothing on
// chain, nothing paid) and then sends RecoverRequests on it. Each one makes
// Bob read his whole log backwards on a goroutine of its own (the channel
// has no payment, so the scan never stops early), with no bound on how
// many run or how often.
func TestRecoverRequestCost(t *testing.T) {
	w := newNet(t)
	cs := &countingStore{}
	alice := w.add("alice", 1)
	bob := addWrapped(t, w, "bob", 2, func(s Store) Store { cs.Store = s; return cs })
	alice.connect(bob)
	id := alice.open(bob, 100000)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 4 {
				alice.pay(id, 1, fmt.Sprintf("h-%d-%d", g, i))
			}
		}()
	}
	wg.Wait()
	mallory := seedKey(9)
	r := dialRaw(t, mallory.Address(), bob)
	salt := rid(0x55)
	r.send(&peerv1.Message{Body: &peerv1.Message_Propose{Propose: &peerv1.Propose{ChallengePeriod: 100, Salt: salt, Deposit: amountBytes(u256(1))}}})
	acc := r.next().GetAccept()
	if acc == nil {
		t.Fatal("no accept")
	}
	before := cs.pages.Load()
	const requests = 500
	for range requests {
		r.send(&peerv1.Message{Body: &peerv1.Message_RecoverRequest{RecoverRequest: &peerv1.RecoverRequest{ChannelId: acc.GetChannelId()}}})
	}
	for range requests {
		if m := r.next(); m.GetRecovered() == nil {
			t.Fatalf("got %v", m)
		}
	}
	pages := cs.pages.Load() - before
	if pages > 50 {
		t.Fatalf("%d RecoverRequests from a stranger who never paid made bob read %d pages of his log (%d entries in it)", requests, pages, bob.st.LastSeq())
	}
}

// TestRecoverRequestReadsOnlyTheChannel: a peer with a channel of a few
// payments asks again and again for them from nonce 0, while the payee's
// log holds many more payments of another channel. Each answer read the
// log backwards until it found the channel's oldest payment: all of the
// log, again as soon as it was answered. Now each reads the channel's own
// records and nothing of the log.
func TestRecoverRequestReadsOnlyTheChannel(t *testing.T) {
	w := newNet(t)
	cs := &countingStore{}
	alice := w.add("alice", 1)
	bob := addWrapped(t, w, "bob", 2, func(s Store) Store { cs.Store = s; return cs })
	alice.connect(bob)
	big, small := alice.open(bob, 10000), alice.open(bob, 1000)
	for i := range 3 {
		alice.pay(small, 1, fmt.Sprintf("s-%d", i))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				alice.pay(big, 1, fmt.Sprintf("b-%d-%d", g, i))
			}
		}()
	}
	wg.Wait()
	alice.stop()
	waitFor(t, "bob drops alice's session", func() bool { return bob.n.peers.session(alice.key.Address()) == nil })
	r := dialRaw(t, alice.key.Address(), bob)
	pages, read := cs.pages.Load(), cs.read.Load()
	const requests = 200
	for range requests {
		for {
			r.send(&peerv1.Message{Body: &peerv1.Message_RecoverRequest{RecoverRequest: &peerv1.RecoverRequest{ChannelId: small[:]}}})
			m := r.next()
			if m.GetError().GetCode() == codeResourceExhausted {
				// The answer went out before the channel's owner noted
				// the request done: ask again, as the one in flight is.
				time.Sleep(time.Millisecond)
				continue
			}
			if got := len(m.GetRecovered().GetPayments()); got != 3 {
				t.Fatalf("answer %v: %d payments, want 3", m, got)
			}
			break
		}
	}
	if p := cs.pages.Load() - pages; p != 0 {
		t.Errorf("%d RecoverRequests read %d pages of the log (%d entries in it)", requests, p, bob.st.LastSeq())
	}
	if n := cs.read.Load() - read; n > 3*requests {
		t.Errorf("%d RecoverRequests for 3 payments read %d payment records", requests, n)
	}
}

// --- 6. a resend that carries more parts than any peer accepts ---

// TestResendOverMaxParts: as TestPeerLostAcknowledgedProofs, but
// more than maxParts (4096) payments were made after Bob's backup. Alice
// resends her newest proof with every payment since, in one message; Bob
// refuses it as malformed, Alice retries the same resend forever, and no
// payment can ever flow again on the channel (the next proof's parts do
// not add up to what it adds over Bob's old proof).
func TestResendOverMaxParts(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 100000)
	alice.pay(id, 1, "a")
	bob.stop()
	backup := t.TempDir()
	if err := os.CopyFS(backup, os.DirFS(bob.dir)); err != nil {
		t.Fatal(err)
	}
	bob.start()
	waitFor(t, "alice reconnects", func() bool { return alice.channel(id).Connected })
	const payers, each = 128, 33 // 4224 payments > maxParts
	var wg sync.WaitGroup
	for g := range payers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := alice.n.Pay(context.Background(), PayRequest{Channel: id, Amount: *u256(1), Key: fmt.Sprintf("b-%d-%d", g, i)}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	bob.stop()
	if err := os.RemoveAll(bob.dir); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(bob.dir, os.DirFS(backup)); err != nil {
		t.Fatal(err)
	}
	bob.start()
	if got := u64(bob.channel(id).Received); got != 1 {
		t.Fatalf("restored bob holds %d", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for u64(bob.channel(id).Received) != 1+payers*each {
		if time.Now().After(deadline) {
			t.Fatalf("bob never gets alice's newest proof back: he holds %d, alice sent %d", u64(bob.channel(id).Received), u64(alice.channel(id).Sent))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// --- 7. a refund claimed twice ---

// staleRead makes the reader's check "was payment target refunded
// before?" answer from just before the first refund's write landed (the
// read raced with the write), by holding its second answer until that
// write is on disk and its owner step ran.
type staleRead struct {
	Store
	target atomic.Pointer[[32]byte]
	calls  atomic.Int32
}

func (s *staleRead) PaymentByID(id [32]byte) (*storev1.LogEntry, error) {
	e, err := s.Store.PaymentByID(id)
	if t := s.target.Load(); t != nil && *t == id && s.calls.Add(1) == 2 {
		for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if _, err := s.Store.PaymentByID(id); err == nil {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return e, err
}

// TestRefundClaimedTwice: Bob "refunds" Alice's payment in two
// proofs sent back to back. The reader's disk check for the second runs
// before the first refund is durable; the owner's in-memory guard is
// dropped once that write is durable; so the second refund is claimed too
// and written under the same id. The store refuses the batch and Alice's
// node fails.
func TestRefundClaimedTwice(t *testing.T) {
	sr := &staleRead{}
	alice, bob, id, dom, r := rawPayee(t, newNet(t), func(tn *testNode) { tn.wrap = func(s Store) Store { sr.Store = s; return sr } })

	var paid [2]PaymentInfo
	for i := range paid {
		res := make(chan PaymentInfo, 1)
		go func() { res <- alice.pay(id, 10, fmt.Sprint("p", i)) }()
		pm := r.next().GetProof()
		r.send(&peerv1.Message{Body: &peerv1.Message_Ack{Ack: &peerv1.Ack{ChannelId: id[:], Nonce: pm.GetNonce()}}})
		paid[i] = <-res
	}
	target := alice.n.refundID(paid[0].ID)
	sr.target.Store(&target)
	refund := func(nonce, total uint64) *peerv1.Message {
		part := &peerv1.PaymentPart{PaymentId: rid(byte(nonce)), Amount: amountBytes(u256(10)), RefundOf: paid[0].ID[:]}
		return &peerv1.Message{Body: &peerv1.Message_Proof{Proof: signedProof(t, bob.key, dom, id, nonce, total, part)}}
	}
	r.send(refund(1, 10))
	r.send(refund(2, 20))
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if p := alice.n.failed.Load(); p != nil {
			t.Fatalf("alice's node failed: %v", *p)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// refundedThenSettled: bob refunds alice's payment (key "k"); alice
// restarts, bob stays away, and the channel closes on chain and settles
// with the payment counted. wrap, if set, wraps alice's store.
func refundedThenSettled(t *testing.T, wrap func(Store) Store) (alice *testNode, id channel.ID) {
	w := newNet(t)
	alice, bob, id, dom, r := rawPayee(t, w, func(tn *testNode) { tn.wrap = wrap })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res := make(chan error, 1)
	go func() {
		_, err := alice.n.Pay(ctx, PayRequest{Channel: id, Amount: *u256(10), Key: "k"})
		res <- err
	}()
	pm := r.next().GetProof()
	pid := pm.GetParts()[0].GetPaymentId()
	part := &peerv1.PaymentPart{PaymentId: rid(0x51), Amount: amountBytes(u256(10)), RefundOf: pid, Memo: "sold out"}
	r.send(&peerv1.Message{Body: &peerv1.Message_Proof{Proof: signedProof(t, bob.key, dom, id, 1, 10, part)}})
	r.send(&peerv1.Message{Body: &peerv1.Message_Ack{Ack: &peerv1.Ack{ChannelId: id[:], Nonce: pm.GetNonce()}}})
	var refused *RefusedError
	if err := <-res; !errors.As(err, &refused) {
		t.Fatalf("the refunded payment: %v, want RefusedError", err)
	}
	r.conn.Close(nil)

	alice.restart() // bob stays away
	forceCloseAndSettle(t, alice, id)
	return alice, id
}

// forceCloseAndSettle closes channel id by force from tn, lets its
// challenge period pass on the fake chain and settles it.
func forceCloseAndSettle(t *testing.T, tn *testNode, id channel.ID) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := tn.n.ForceClose(ctx, id); err != nil {
		t.Fatal(err)
	}
	w := tn.net
	w.chain.mu.Lock()
	w.chain.time = w.chain.channels[id].oc.SettleAfter
	w.chain.mu.Unlock()
	w.chain.advance(1)
	if ci, err := tn.n.Settle(ctx, id); err != nil || ci.Phase != channel.Settled {
		t.Fatalf("settle: %v, %v", ci.Phase, err)
	}
}

// TestRetryAfterSettleOfARefundedPayment: a retry of the key of a payment
// the payee refunded, after the channel settled with it counted, was
// answered from the close ("the close counted it": complete) although
// bob gave the payment back: the refund decides it.
func TestRetryAfterSettleOfARefundedPayment(t *testing.T) {
	alice, id := refundedThenSettled(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var refused *RefusedError
	_, err := alice.n.Pay(ctx, PayRequest{Channel: id, Amount: *u256(10), Key: "k"})
	if !errors.As(err, &refused) || refused.Reason != "sold out" {
		t.Fatalf("a retry after the settlement: %v, want the refusal", err)
	}
}

// failRefundReads fails, once on, the reads by id of refund records.
type failRefundReads struct {
	Store
	on atomic.Bool
}

func (s *failRefundReads) PaymentByID(id [32]byte) (*storev1.LogEntry, error) {
	e, err := s.Store.PaymentByID(id)
	if s.on.Load() && err == nil && len(e.GetPayment().GetRefundOf()) > 0 {
		return nil, errors.New("test: read failed")
	}
	return e, err
}

// TestRetryWhenTheRefundCannotBeRead: the same retry, with the read of
// the refund failing, said complete: it does not know, so it is pending
// (found by a review).
func TestRetryWhenTheRefundCannotBeRead(t *testing.T) {
	fr := &failRefundReads{}
	alice, id := refundedThenSettled(t, func(s Store) Store { fr.Store = s; return fr })
	fr.on.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := alice.n.Pay(ctx, PayRequest{Channel: id, Amount: *u256(10), Key: "k"})
	if !errors.Is(err, ErrPending) || info.Complete {
		t.Fatalf("a retry whose refund cannot be read: complete %v, %v; want ErrPending", info.Complete, err)
	}
	if ps, _, err := alice.n.Payments(0, 10, id); err != nil || len(ps) == 0 || ps[0].Complete {
		t.Fatalf("the payment listed while its refund cannot be read: %+v, %v; want not complete", ps, err)
	}
}

// --- 8. Recovered records carry the peer's ids and keys unchecked ---

// lostPayment sets up a recovery: alice pays bob 5 ("before"), then 7
// ("lost") on a disk that fails, so that bob holds a proof alice lost;
// bob stops, alice restarts, and r, a raw peer with bob's key,
// reestablishes with that proof and gets alice's RecoverRequest. It
// returns the channel's domain for r to sign with.
func lostPayment(t *testing.T) (alice, bob *testNode, id channel.ID, dom crypto.Domain, r *rawPeer) {
	alice, bob, id, dom, held := loseProof(t)
	r = dialRaw(t, bob.key.Address(), alice)
	r.send(&peerv1.Message{Body: &peerv1.Message_Reestablish{Reestablish: &peerv1.Reestablish{ChannelId: id[:], Held: proofMessage(held, nil)}}})
	if req := r.next().GetRecoverRequest(); req == nil || req.GetAfterNonce() != 1 {
		t.Fatalf("no recover request: %v", req)
	}
	return alice, bob, id, dom, r
}

// loseProof: Alice pays 5 ("before"), then 7 ("lost"), whose proof 2
// reaches Bob while her own write of it fails; Bob stops and Alice
// restarts without it. It returns Bob's copy of her proof 2 (held).
func loseProof(t *testing.T) (alice, bob *testNode, id channel.ID, dom crypto.Domain, held channel.Proof) {
	t.Helper()
	w := newNet(t)
	var lossy *lossyStore
	alice = addWrapped(t, w, "alice", 1, func(s Store) Store { lossy = &lossyStore{Store: s}; return lossy })
	bob = w.add("bob", 2)
	alice.connect(bob)
	id = alice.open(bob, 1000)
	alice.pay(id, 5, "before")
	lossy.armed.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := alice.n.Pay(ctx, PayRequest{Channel: id, Amount: *u256(7), Key: "lost"}); err == nil {
		t.Fatal("payment succeeded on a failed disk")
	}
	waitFor(t, "bob holds the lost payment", func() bool { return u64(bob.channel(id).Received) == 12 })
	held = mustChannelOf(t, bob, id).state().Received
	dom = mustChannelOf(t, bob, id).state().Params.Domain()
	bob.stop()
	alice.wrap = nil
	alice.restart()
	return alice, bob, id, dom, held
}

// TestRecoveredDuplicateKey: Alice lost her newest proof in a crash
// and asks Bob for the payments it covers. Bob answers with one payment
// whose idempotency key is one Alice already has on disk. The records go
// into a batch unchecked, the store refuses it, and Alice's node fails.
func TestRecoveredDuplicateKey(t *testing.T) {
	alice, _, id, _, r := lostPayment(t)
	r.send(&peerv1.Message{Body: &peerv1.Message_Recovered{Recovered: &peerv1.Recovered{ChannelId: id[:], Payments: []*peerv1.RecoveredPayment{{
		Nonce: 2, Cumulative: amountBytes(u256(12)),
		Part: &peerv1.PaymentPart{PaymentId: rid(0x77), Amount: amountBytes(u256(7)), IdempotencyKey: "before"},
	}}}}})
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if p := alice.n.failed.Load(); p != nil {
			t.Fatalf("alice's node failed on the peer's recovery data: %v", *p)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRecoveredIDTakenByIncoming: in a recovery the peer names the lost
// payment's id. Were the local id of the next payment it sends computable
// (incomingID without its secret salt, as before), it could name that,
// and the store would index two payments under it (AppendNewPayment) or
// refuse the payment's record and stop the node (AppendLog); found by a
// hostile review. With the salt the peer's best guess is harmless: the
// payment is taken, the node keeps going, the index stays whole.
func TestRecoveredIDTakenByIncoming(t *testing.T) {
	alice, bob, id, dom, r := lostPayment(t)
	// The peer's best guess at the id of its first payment to alice: the
	// derivation without alice's secret.
	taken := incomingID(crypto.Hash{}, id, 1, 0)
	r.send(&peerv1.Message{Body: &peerv1.Message_Recovered{Recovered: &peerv1.Recovered{ChannelId: id[:], Payments: []*peerv1.RecoveredPayment{{
		Nonce: 2, Cumulative: amountBytes(u256(12)),
		Part: &peerv1.PaymentPart{PaymentId: taken[:], Amount: amountBytes(u256(7)), IdempotencyKey: "lost"},
	}}}}})
	waitFor(t, "the recovered payment on disk", func() bool {
		_, err := alice.st.PaymentByIdempotencyKey("lost")
		return err == nil
	})
	r.send(&peerv1.Message{Body: &peerv1.Message_Proof{Proof: signedProof(t, bob.key, dom, id, 1, 3,
		&peerv1.PaymentPart{PaymentId: rid(0x42), Amount: amountBytes(u256(3))})}})
	for { // nextAny fails the test if nothing comes
		if a := r.nextAny(5 * time.Second).GetAck(); a != nil && a.GetNonce() == 1 {
			break
		}
	}
	if p := alice.n.failed.Load(); p != nil {
		t.Fatalf("alice's node failed: %v", *p)
	}
	e, err := alice.st.PaymentByID(taken)
	if err != nil || e.GetPayment().GetIdempotencyKey() != "lost" {
		t.Fatalf("the recovered payment is no longer found by its id: %v, %v", e, err)
	}
	if err := alice.st.Verify(); err != nil {
		t.Fatalf("store: %v", err)
	}
}

// TestRecoveredIDTakesARefundsID: the peer knows the id of a payment
// alice made ("before") and so, unsalted, the id alice would give its
// refund; it names that id as a lost payment's in a recovery, then
// refunds "before". Alice took the planted record for a refund done
// (reporting "before" refused, and recording the refund as an ordinary
// payment), or, in a race, wrote the refund under the taken id and
// stopped. Now the refund is recorded as one, under an id of her own.
func TestRecoveredIDTakesARefundsID(t *testing.T) {
	alice, bob, id, dom, r := lostPayment(t)
	e, err := alice.st.PaymentByIdempotencyKey("before")
	if err != nil {
		t.Fatal(err)
	}
	before := [32]byte(e.GetPayment().GetId())
	taken := unsaltedRefundID(before)
	r.send(&peerv1.Message{Body: &peerv1.Message_Recovered{Recovered: &peerv1.Recovered{ChannelId: id[:], Payments: []*peerv1.RecoveredPayment{{
		Nonce: 2, Cumulative: amountBytes(u256(12)),
		Part: &peerv1.PaymentPart{PaymentId: taken[:], Amount: amountBytes(u256(7)), IdempotencyKey: "lost", Memo: "planted"},
	}}}}})
	waitFor(t, "the recovered payment on disk", func() bool {
		_, err := alice.st.PaymentByIdempotencyKey("lost")
		return err == nil
	})
	if err := alice.n.refundOf(before); err != nil {
		t.Fatalf("before the refund, payment before is reported refused: %v", err)
	}
	r.send(&peerv1.Message{Body: &peerv1.Message_Proof{Proof: signedProof(t, bob.key, dom, id, 1, 5,
		&peerv1.PaymentPart{PaymentId: rid(0x43), Amount: amountBytes(u256(5)), RefundOf: before[:], Memo: "sold out"})}})
	for { // nextAny fails the test if nothing comes
		if a := r.nextAny(5 * time.Second).GetAck(); a != nil && a.GetNonce() == 1 {
			break
		}
	}
	if p := alice.n.failed.Load(); p != nil {
		t.Fatalf("alice's node failed: %v", *p)
	}
	var refused *RefusedError
	if err := alice.n.refundOf(before); !errors.As(err, &refused) || refused.Reason != "sold out" {
		t.Fatalf("payment before after its refund: %v, want refused with the refund's memo", err)
	}
	if e, err := alice.st.PaymentByID(alice.n.refundID(before)); err != nil || !bytes.Equal(e.GetPayment().GetRefundOf(), before[:]) {
		t.Fatalf("the refund's record: %v, %v", e, err)
	}
	if e, err := alice.st.PaymentByID(taken); err != nil || e.GetPayment().GetIdempotencyKey() != "lost" {
		t.Fatalf("the recovered payment is no longer found by its id: %v, %v", e, err)
	}
	if err := alice.st.Verify(); err != nil {
		t.Fatalf("store: %v", err)
	}
}

// --- 9. readChainFirst with wait=true retries forever ---

// TestWithdrawRequestBeyondBalance: Alice asks Bob to
// countersign a withdrawal of more than she has. Bob reads the chain in
// case it knows of a top-up, retries, is refused again, and reads again,
// every 250ms, for as long as the session lasts; meanwhile every later
// message of Alice's on the channel (here a good proof) waits behind it
// and is never answered.
func TestWithdrawRequestBeyondBalance(t *testing.T) {
	w := newNet(t)
	bob := w.add("bob", 2)
	alice, id, dom, r := rawPayer(t, w, bob)
	total := u256(5000)
	expiry := bob.n.now() + 600
	sig, err := alice.key.Sign(dom.WithdrawDigest(id, alice.key.Address(), total, expiry))
	if err != nil {
		t.Fatal(err)
	}
	r.send(&peerv1.Message{Body: &peerv1.Message_WithdrawRequest{WithdrawRequest: &peerv1.WithdrawRequest{ChannelId: id[:], Total: amountBytes(total), Expiry: expiry, Signature: sig[:]}}})
	r.send(&peerv1.Message{Body: &peerv1.Message_Proof{Proof: signedProof(t, alice.key, dom, id, 2, 12,
		&peerv1.PaymentPart{PaymentId: rid(2), Amount: amountBytes(u256(2))})}})
	readsBefore := bob.chain.reads.Load()
	got := make(chan *peerv1.Message, 4)
	go func() {
		for {
			m, err := r.conn.Recv()
			if err != nil {
				return
			}
			if m.GetAck() != nil || m.GetWithdrawReply() != nil {
				got <- m
			}
		}
	}()
	var replies []string
	timeout := time.After(3 * time.Second)
	for len(replies) < 2 {
		select {
		case m := <-got:
			replies = append(replies, fmt.Sprintf("%T", m.GetBody()))
			continue
		case <-timeout:
		}
		break
	}
	if len(replies) < 2 {
		t.Fatalf("after 3s bob answered %v (want a refusal of the withdrawal and an ack of the proof); chain reads meanwhile (watcher included): %d",
			replies, bob.chain.reads.Load()-readsBefore)
	}
}

// TestConcurrentWithdrawals: two honest nodes each withdraw from
// their shared channel at the same moment. Each receives the other's
// request while its own is pending, and instead of refusing it at once
// pauses every message of the peer's (the countersignature of its own
// request included) re-reading the chain until its own withdrawal ends,
// which it cannot without that countersignature: both withdrawals fail
// after RequestTimeout, and each side is then left holding the other's
// aborted withdrawal as pending (no close, no withdrawal, a balance view
// that disagrees with the peer's) until the terms expire.
func TestConcurrentWithdrawals(t *testing.T) {
	w := newNet(t)
	w.cfg = func(c *Config) { c.RequestTimeout = time.Second }
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 1000)
	if _, err := bob.n.Deposit(context.Background(), id, *u256(1000)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice sees bob's deposit", func() bool { return u64(alice.channel(id).PeerDeposit) == 1000 })
	errs := make(chan error, 2)
	for _, tn := range []*testNode{alice, bob} {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := tn.n.Withdraw(ctx, id, *u256(100))
			errs <- err
		}()
	}
	e1, e2 := <-errs, <-errs
	if e1 != nil && e2 != nil {
		time.Sleep(time.Second) // let the paused requests run
		a, b := alice.channel(id), bob.channel(id)
		t.Fatalf("both concurrent withdrawals failed (%v; %v); afterwards alice counts herself/bob withdrawn %d/%d, bob counts alice/himself %d/%d",
			e1, e2, u64(a.MyWithdrawn), u64(a.PeerWithdrawn), u64(b.PeerWithdrawn), u64(b.MyWithdrawn))
	}
}

// --- 11. Reestablish floods write the log ---

// TestReestablishFlood: Bob (paid twice by Alice) sends
// Reestablish messages claiming he holds nothing of Alice's. Each one makes
// Alice write a warning event to her log (and resend her newest proof with
// every payment since nonce 0, read back from that log): her log grows by
// one durable entry per 40-byte message, without bound.
func TestReestablishFlood(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 1000)
	alice.pay(id, 1, "a")
	alice.pay(id, 1, "b")
	bob.stop()
	r := dialRaw(t, bob.key.Address(), alice)
	go func() { // Bob reads what Alice sends, so her queue never fills
		for {
			if _, err := r.conn.Recv(); err != nil {
				return
			}
		}
	}()
	r.send(&peerv1.Message{Body: &peerv1.Message_Reestablish{Reestablish: &peerv1.Reestablish{ChannelId: id[:]}}})
	waitFor(t, "alice is ready on the raw session", func() bool { return alice.channel(id).Connected })
	before := alice.st.LastSeq()
	const flood = 300
	for range flood {
		r.send(&peerv1.Message{Body: &peerv1.Message_Reestablish{Reestablish: &peerv1.Reestablish{ChannelId: id[:], Reply: true}}})
	}
	time.Sleep(time.Second)
	if grown := alice.st.LastSeq() - before; grown > 10 {
		t.Fatalf("%d Reestablish messages made alice write %d log entries", flood, grown)
	}
}

// --- 12. a payment the close paid is reported failed on retry ---

// TestRetryAfterCloseReportsMovedPaymentPaid: Alice pays Bob 10;
// Bob does not acknowledge (slow, or the ack is lost) and Alice's caller
// gives up (ErrPending). Alice closes: after the drain timeout her terms
// count the payment (her balance counts every proof she signed), Bob
// countersigns, the chain pays Bob those 10. The retry of the payment's
// key is then told it failed ("the channel closed before the peer
// acknowledged it"), though the close moved it.
func TestRetryAfterCloseReportsMovedPaymentPaid(t *testing.T) {
	w := newNet(t)
	w.cfg = func(c *Config) { c.DrainTimeout = 200 * time.Millisecond }
	alice, bob, id, dom, r := rawPayee(t, w)
	bobBefore := u64(w.chain.wallet(bob.key.Address()))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err := alice.n.Pay(ctx, PayRequest{Channel: id, Amount: *u256(10), Key: "p"})
	cancel()
	if !errors.Is(err, ErrPending) {
		t.Fatalf("pay: %v, want pending", err)
	}
	if r.next().GetProof() == nil {
		t.Fatal("no proof")
	}
	closed := make(chan error, 1)
	go func() {
		_, err := alice.n.CloseChannel(context.Background(), id)
		closed <- err
	}()
	req := r.next().GetCloseRequest()
	if req == nil {
		t.Fatal("no close request")
	}
	a, _ := parseAmount("a", req.GetBalanceA())
	b, _ := parseAmount("b", req.GetBalanceB())
	sig, _ := bob.key.Sign(dom.CooperativeCloseDigest(id, &a, &b, req.GetExpiry()))
	r.send(&peerv1.Message{Body: &peerv1.Message_CloseReply{CloseReply: &peerv1.CloseReply{ChannelId: id[:], Signature: sig[:]}}})
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if got := u64(w.chain.wallet(bob.key.Address())) - bobBefore; got != 10 {
		t.Fatalf("the close paid bob %d, want 10", got)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := alice.n.Pay(ctx, PayRequest{Channel: id, Amount: *u256(10), Key: "p"}); err != nil {
		t.Fatalf("the close paid bob the 10, but the retry of the payment says: %v", err)
	}
}

// TestConcurrentCooperativeClose: both operators close the same
// channel at the same moment. Each side has signed its own terms (Closing)
// when the other's arrive, refuses them ("closing"), and takes the other's
// refusal as the end of its own close: both closes fail, and the channel
// can neither pay nor close cooperatively until the terms expire
// (TermsLifetime, 10 minutes by default).
func TestConcurrentCooperativeClose(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 1000)
	alice.pay(id, 100, "p")
	errs := make(chan error, 2)
	for _, tn := range []*testNode{alice, bob} {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := tn.n.CloseChannel(ctx, id)
			errs <- err
		}()
	}
	e1, e2 := <-errs, <-errs
	if e1 != nil && e2 != nil {
		t.Fatalf("both cooperative closes failed: %v; %v (phases now %s/%s)", e1, e2, alice.channel(id).Phase, bob.channel(id).Phase)
	}
}

// --- 13. a proof dropped by flow control never releases its checks ---

// holdHooks counts what CheckIncoming reserved (an offer, in package apps)
// and release has not given back yet, and the releases that said the
// proof was stored.
type holdHooks struct {
	noHooks
	out, stored atomic.Int64
}

func (h *holdHooks) CheckIncoming(_ ChannelInfo, parts []Part) ([]error, func(bool)) {
	h.out.Add(1)
	var once sync.Once
	return nil, func(stored bool) {
		once.Do(func() {
			h.out.Add(-1)
			if stored {
				h.stored.Add(1)
			}
		})
	}
}

// TestDroppedProofReleasesReservation: while Bob's channel waits for the
// chain, Alice's messages queue up to maxPeerQueued; the next one (a proof
// whose offers the reader has reserved) is dropped with the session and its
// release never runs: in package apps the offer stays "being paid" until
// Bob restarts, and every later payment of it is refused ("offer already
// paid") and refunded.
func TestDroppedProofReleasesReservation(t *testing.T) {
	w := newNet(t)
	bob := w.add("bob", 2)
	h := &holdHooks{}
	bob.n.hooks = h
	alice, id, dom, r := rawPayer(t, w, bob)
	waitFor(t, "the first payment's check is released", func() bool { return h.out.Load() == 0 })
	if n := h.stored.Load(); n != 1 {
		t.Fatalf("the first payment's check was released as stored %d times, want 1", n)
	}
	release := bob.chain.hangReads() // the chain read below never answers
	defer release()
	total := u256(5000) // beyond her balance: Bob reads the chain (and waits)
	expiry := bob.n.now() + 600
	sig, _ := alice.key.Sign(dom.WithdrawDigest(id, alice.key.Address(), total, expiry))
	r.send(&peerv1.Message{Body: &peerv1.Message_WithdrawRequest{WithdrawRequest: &peerv1.WithdrawRequest{ChannelId: id[:], Total: amountBytes(total), Expiry: expiry, Signature: sig[:]}}})
	for range maxPeerQueued - 1 {
		r.send(&peerv1.Message{Body: &peerv1.Message_Ack{Ack: &peerv1.Ack{ChannelId: id[:], Nonce: 99}}})
	}
	r.send(&peerv1.Message{Body: &peerv1.Message_Proof{Proof: signedProof(t, alice.key, dom, id, 2, 12,
		&peerv1.PaymentPart{PaymentId: rid(2), Amount: amountBytes(u256(2))})}})
	waitFor(t, "bob ends the flooding session", func() bool { return !bob.channel(id).Connected })
	time.Sleep(time.Second)
	if n := h.out.Load(); n != 0 {
		t.Fatalf("%d incoming check(s) never released after the session ended", n)
	}
	if n := h.stored.Load(); n != 1 {
		t.Fatalf("%d checks released as stored, want 1: the dropped proof was released as stored", n)
	}
}

// --- 14. terms accepted while draining are never submitted by this side ---

// TestAcceptWhileDrainingSubmits: Alice is draining for her own
// close (a payment of hers is unacknowledged) when Bob's terms arrive; she
// countersigns them. Her OpClose from the drain is never ended, so the
// duty "the acceptor submits shortly before expiry, in case the proposer
// does not" never runs: Bob never submits, and the terms expire unused.
func TestAcceptWhileDrainingSubmits(t *testing.T) {
	w := newNet(t)
	var mu sync.Mutex
	submits := 0
	w.cfg = func(c *Config) {
		c.DrainTimeout = 30 * time.Second
		c.Failpoint = func(name string) {
			if name == "action cooperative close" {
				mu.Lock()
				submits++
				mu.Unlock()
			}
		}
	}
	alice, bob, id, dom, r := rawPayee(t, w)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, _ = alice.n.Pay(ctx, PayRequest{Channel: id, Amount: *u256(10), Key: "p"})
	}()
	if r.next().GetProof() == nil {
		t.Fatal("no proof")
	}
	go func() { _, _ = alice.n.CloseChannel(context.Background(), id) }()
	waitFor(t, "alice drains", func() bool { return alice.channel(id).Op == channel.OpClose })
	expiry := alice.n.now() + 600
	a, b := u256(990), u256(10)
	sig, _ := bob.key.Sign(dom.CooperativeCloseDigest(id, a, b, expiry))
	r.send(&peerv1.Message{Body: &peerv1.Message_CloseRequest{CloseRequest: &peerv1.CloseRequest{
		ChannelId: id[:], BalanceA: amountBytes(a), BalanceB: amountBytes(b), Expiry: expiry, Signature: sig[:]}}})
	if m := r.next().GetCloseReply(); m == nil || len(m.GetSignature()) == 0 {
		t.Fatalf("alice did not countersign: %v", m)
	}
	w.chain.advance(560) // 40s before expiry: the acceptor's turn
	time.Sleep(time.Second)
	mu.Lock()
	n := submits
	mu.Unlock()
	if n == 0 {
		t.Fatalf("alice holds countersigned terms 40s before they expire and has not submitted them (op %s, phase %s)",
			alice.channel(id).Op, alice.channel(id).Phase)
	}
}

// --- 15. per-part store reads and checks before the proof's signature ---

type idReads struct {
	Store
	n atomic.Int64
}

func (s *idReads) PaymentByID(id [32]byte) (*storev1.LogEntry, error) {
	s.n.Add(1)
	return s.Store.PaymentByID(id)
}

// partCount counts the parts handed to the application's checks.
type partCount struct {
	noHooks
	n atomic.Int64
}

func (h *partCount) CheckIncoming(_ ChannelInfo, parts []Part) ([]error, func(bool)) {
	h.n.Add(int64(len(parts)))
	return nil, func(bool) {}
}

// TestUnopenedChannelProofCostsNoStoreReads: a stranger proposes a channel
// (never opened, nothing paid) and sends proofs on it whose signature is
// garbage, each with maxParts parts claiming to be refunds and paying
// offers. Before anything checks the phase or the signature, the reader
// does a store read per refund part and hands every part to the
// application's checks (in package apps: an ECDSA recovery and a store
// read per offer). Nothing bounds how often.
func TestUnopenedChannelProofCostsNoStoreReads(t *testing.T) {
	w := newNet(t)
	reads := &idReads{}
	bob := addWrapped(t, w, "bob", 2, func(s Store) Store { reads.Store = s; return reads })
	h := &partCount{}
	bob.n.hooks = h
	r := dialRaw(t, seedKey(9).Address(), bob)
	r.send(&peerv1.Message{Body: &peerv1.Message_Propose{Propose: &peerv1.Propose{ChallengePeriod: 100, Salt: rid(0x33), Deposit: amountBytes(u256(1))}}})
	acc := r.next().GetAccept()
	if acc == nil {
		t.Fatal("no accept")
	}
	parts := make([]*peerv1.PaymentPart, maxParts)
	for i := range parts {
		parts[i] = &peerv1.PaymentPart{PaymentId: rid(1), Amount: amountBytes(u256(1)), RefundOf: rid(byte(i) | 1)}
	}
	garbage := rid(7)
	garbage = append(garbage, rid(7)...)
	garbage = append(garbage, 27)
	const proofs = 10
	for range proofs {
		r.send(&peerv1.Message{Body: &peerv1.Message_Proof{Proof: &peerv1.BalanceProof{ChannelId: acc.GetChannelId(), Nonce: 1,
			Transferred: amountBytes(u256(maxParts)), Signature: garbage, Parts: parts}}})
	}
	for range proofs {
		if m := r.next(); m.GetNack() == nil {
			t.Fatalf("got %v", m)
		}
	}
	if reads.n.Load() > 0 || h.n.Load() > 0 {
		t.Fatalf("%d unsigned proofs on a channel that is not open made bob do %d store reads and check %d parts",
			proofs, reads.n.Load(), h.n.Load())
	}
}

// TestNoRedialForStrangerProposal: a key that shares nothing with Bob
// advertises an address, proposes a channel and leaves. Bob keeps the
// proposal (bounding those is another matter) but never dials the address:
// a channel the peer proposed and never opened is no reason to.
func TestNoRedialForStrangerProposal(t *testing.T) {
	w := newNet(t)
	dialer := &countingDialer{dials: map[string]int{}}
	bob := startCustom(t, w, "bob", 2, dialer)
	mallory := seedKey(9).Address()
	x, y := pipe(mallory, bob.key.Address())
	go bob.n.HandlePeer(advertConn{y, "10.1.2.3:22"})
	if err := x.Send(&peerv1.Message{Body: &peerv1.Message_Propose{Propose: &peerv1.Propose{ChallengePeriod: 100, Salt: rid(1), Deposit: amountBytes(u256(1))}}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bob keeps the proposal", func() bool { return bob.n.chans.count() == 1 })
	x.Close(nil)
	time.Sleep(300 * time.Millisecond) // 15 redial periods
	if n := dialer.count("10.1.2.3:22"); n > 0 {
		t.Fatalf("bob dialled the stranger's address %d times", n)
	}

	// It comes back: no longer a stranger (it has a proposal), but no
	// channel of it is in use, so its address is neither kept nor stored
	// (else each fresh key that proposes and leaves would leave a record).
	x, y = pipe(mallory, bob.key.Address())
	done := make(chan struct{})
	go func() { bob.n.HandlePeer(advertConn{y, "10.1.2.3:22"}); close(done) }()
	waitFor(t, "the proposer's second session", func() bool { return bob.n.peers.session(mallory) != nil })
	if s := bob.n.peers.session(mallory); s.stranger {
		t.Fatal("a peer with a proposal is served as a stranger")
	}
	x.Close(nil)
	<-done
	time.Sleep(100 * time.Millisecond) // a stored address is written in the background
	bob.n.peers.mu.Lock()
	kept := bob.n.peers.addrs[mallory]
	bob.n.peers.mu.Unlock()
	if kept != nil {
		t.Fatalf("bob keeps %q as where the proposer listens", kept)
	}
	if v, err := bob.st.Cursor(peerCursorPrefix + hex.EncodeToString(mallory[:])); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("bob stored %q (%v) as where the proposer listens", v, err)
	}
}

// TestRedialBacksOff: a peer that does not answer is redialled less and
// less often (the wait doubles up to RedialMax), not every Redial; once
// it is back, the next outage starts again from Redial. The waits are
// checked as lower bounds between the dials' starts (a failed dial sets
// the next one Redial << k later at least), so a slow machine cannot fail
// it.
func TestRedialBacksOff(t *testing.T) {
	w := newNet(t)
	bob := w.add("bob", 2)
	dialer := &countingDialer{dials: map[string]int{}, inner: nodeDialer{w: w, self: seedKey(1).Address()}}
	const redial = 10 * time.Millisecond
	alice := startCustom(t, w, "alice", 1, dialer, func(c *Config) { c.Redial, c.RedialMax = redial, time.Hour })
	alice.connect(bob)
	id := alice.open(bob, 1000)
	bob.stop()
	waitFor(t, "alice sees bob gone", func() bool { return !alice.channel(id).Connected })
	before := dialer.count("bob:1")
	waitFor(t, "alice dials the absent peer 6 times", func() bool { return dialer.count("bob:1") >= before+6 })
	starts := dialer.started("bob:1")[before:]
	for k := 1; k < 6; k++ {
		// Dial k-1 failed at least the k-th time since bob left.
		if gap, least := starts[k].Sub(starts[k-1]), redial<<(k-1); gap < least {
			t.Fatalf("dials %d and %d after the outage began %s apart, want %s at least (a doubling wait): %v", k, k+1, gap, least, starts)
		}
	}
	backedOff := func() bool {
		alice.n.peers.mu.Lock()
		defer alice.n.peers.mu.Unlock()
		_, ok := alice.n.peers.backoff[bob.key.Address()]
		return ok
	}
	if !backedOff() {
		t.Fatal("no backoff recorded for the absent peer")
	}
	bob.start()
	bob.connect(alice)
	waitFor(t, "the peers reconnect", func() bool { return alice.channel(id).Connected })
	if backedOff() {
		t.Fatal("the backoff outlived the reconnection")
	}
}

// TestPeerLostDataWarnsOnce: a peer that claims, on every reconnect, to
// have lost an acknowledged proof makes the node resend it each time but
// store one warning only: reconnecting costs the peer nothing.
func TestPeerLostDataWarnsOnce(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 1000)
	alice.pay(id, 10, "acked")
	bob.stop() // from here on the test speaks for Bob
	for i := range 5 {
		r := dialRaw(t, bob.key.Address(), alice)
		// Bob's Reestablish holds none of Alice's proofs.
		r.send(&peerv1.Message{Body: &peerv1.Message_Reestablish{Reestablish: &peerv1.Reestablish{ChannelId: id[:]}}})
		for {
			if p := r.next().GetProof(); p != nil && p.GetNonce() == 1 {
				break // Alice resends the acknowledged proof
			}
		}
		// Bob acknowledges it again, and loses it again before the next
		// connection.
		r.send(&peerv1.Message{Body: &peerv1.Message_Ack{Ack: &peerv1.Ack{ChannelId: id[:], Nonce: 1}}})
		waitFor(t, "alice has the ack again", func() bool { return alice.channel(id).AckedNonce == 1 })
		r.conn.Close(nil)
		waitFor(t, fmt.Sprintf("alice sees connection %d end", i), func() bool { return alice.n.peers.session(bob.key.Address()) == nil })
	}
	warnings := 0
	log, err := alice.st.Log(0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range log {
		if ev := e.GetChannelEvent(); ev != nil && strings.Contains(ev.GetDetail(), "lost an acknowledged proof") {
			warnings++
		}
	}
	if warnings != 1 {
		t.Fatalf("alice stored %d warnings for 5 reconnects claiming the same loss, want 1", warnings)
	}
}

// TestRefundBoundAdmitsEveryProofInTime: a proof that refuses more
// payments than MaxRefundsPerMinute is taken in a minute with no refunds
// yet (else it would be refused for ever, and the channel wedged), and a
// proof refused (or retried after a chain read) does not use up the count.
func TestRefundBoundAdmitsEveryProofInTime(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	n := &Node{cfg: DefaultConfig(), clock: clockFunc(func() time.Time { return now })}
	n.cfg.MaxRefundsPerMinute = 3
	n.bounds = newBounds(slog.New(slog.DiscardHandler), nil, n.clock.Now)
	c := &chanActor{n: n}
	refusing := func(k int) *incomingProof {
		in := &incomingProof{refuse: make([]error, k), refund: make([]refundCheck, k)}
		for i := range in.refuse {
			in.refuse[i] = errors.New("offer already paid")
		}
		return in
	}
	big := refusing(4)
	k, err := c.checkRefunds(big)
	if err != nil || k != 4 {
		t.Fatalf("4 refusals in a minute with none yet: %d, %v; want taken", k, err)
	}
	c.refusals.n += k
	if _, err := c.checkRefunds(refusing(1)); !errors.Is(err, ErrResourceExhausted) {
		t.Fatalf("one more in the same minute: %v, want refused", err)
	}
	now = now.Add(time.Minute)
	k, err = c.checkRefunds(refusing(2))
	if err != nil {
		t.Fatalf("the next minute: %v", err)
	}
	// Not accepted (the channel refused it, say): nothing is counted, and
	// the same proof passes again.
	if k2, err := c.checkRefunds(refusing(2)); err != nil || k2 != k {
		t.Fatalf("a proof checked twice (a retry): %d, %v", k2, err)
	}
}

type clockFunc func() time.Time

func (f clockFunc) Now() time.Time { return f() }

// TestExpiredProposalOpenedLateIsTakenUp: Alice's open transaction has an
// unknown outcome (a fee spike, an endpoint gone); the proposal expires,
// both sides abandon it, and Bob, side B, forgets it. Then the transaction
// lands: Bob takes the channel up from the chain's event, and Alice's
// payments go through (before, Bob did not know the channel and they hung
// until a force close).
func TestExpiredProposalOpenedLateIsTakenUp(t *testing.T) {
	w := newNet(t)
	w.cfg = func(c *Config) { c.RequestTimeout, c.ProposalExpiry = 200*time.Millisecond, 500*time.Millisecond }
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	w.chain.mu.Lock()
	w.chain.failNext = settlement.ErrUnavailable // the open's outcome is unknown
	w.chain.mu.Unlock()
	if _, err := alice.n.OpenChannel(context.Background(), bob.key.Address(), crypto.Address{}, *u256(1000), 0); err == nil {
		t.Fatal("the open succeeded; want its outcome unknown")
	}
	var id channel.ID
	var params channel.Params
	for _, c := range alice.n.chans.all() {
		id, params = c.id, c.params
	}
	waitFor(t, "bob forgets the expired proposal", func() bool { return bob.n.chans.get(id) == nil })
	waitFor(t, "alice abandons it", func() bool { return alice.channel(id).Phase == channel.Abandoned })
	if _, err := alice.chain.Open(context.Background(), settlementParams(params), u256(1000)); err != nil {
		t.Fatal(err) // the transaction lands after all
	}
	waitFor(t, "alice sees the open", func() bool { return alice.channel(id).Phase == channel.Open })
	waitFor(t, "bob takes the channel up", func() bool {
		ci, err := bob.n.Channel(id)
		return err == nil && ci.Phase == channel.Open && u64(ci.PeerDeposit) == 1000
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := alice.n.Pay(ctx, PayRequest{Channel: id, Amount: *u256(5), Key: "late"}); err != nil {
		t.Fatalf("alice pays in the channel that opened late: %v", err)
	}
	bob.restart()
	if ci, err := bob.n.Channel(id); err != nil || u64(ci.MyBalance) != 5 {
		t.Fatalf("after a restart bob holds %+v, %v", ci, err)
	}
}

// TestResendToPeerHoldingNoProofCarriesThePayments: a peer that holds none
// of this node's proofs (it lost the first one, or refused it before the
// channel was reestablished) gets the proofs resent with their payments.
// Before, a Reestablish without a held proof took the path for a proof of
// another channel, and the resend carried no payments: the peer refused it
// as malformed, every time, and the channel was wedged.
func TestResendToPeerHoldingNoProofCarriesThePayments(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	id := alice.open(bob, 1000)
	bob.stop() // from here on the test speaks for Bob, who holds nothing yet
	reest := &peerv1.Message{Body: &peerv1.Message_Reestablish{Reestablish: &peerv1.Reestablish{ChannelId: id[:]}}}
	r := dialRaw(t, bob.key.Address(), alice)
	r.send(reest)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, _ = alice.n.Pay(ctx, PayRequest{Channel: id, Amount: *u256(7), Key: "first"})
	}()
	if p := r.next().GetProof(); p == nil || p.GetNonce() != 1 || len(p.GetParts()) != 1 {
		t.Fatalf("alice's first proof: %v", p)
	}
	r.conn.Close(nil) // Bob loses it
	waitFor(t, "alice sees the connection end", func() bool { return alice.n.peers.session(bob.key.Address()) == nil })
	r = dialRaw(t, bob.key.Address(), alice)
	r.send(reest)
	if p := r.next().GetProof(); p == nil || p.GetNonce() != 1 || len(p.GetParts()) != 1 || u64(mustAmount(t, p.GetParts()[0].GetAmount())) != 7 {
		t.Fatalf("alice's resend to a peer holding none of her proofs: %v; want proof 1 with its payment of 7", p)
	}
}

func mustAmount(t *testing.T, b []byte) uint256.Int {
	t.Helper()
	v, err := parseAmount("amount", b)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestStrangersLeaveNothingBehind: sessions of fresh keys that share no
// channel leave no address, and no session, in the node's memory once they
// end (before, each left its advertised address for good, and the
// application layer kept the whole session).
func TestStrangersLeaveNothingBehind(t *testing.T) {
	w := newNet(t)
	bob := w.add("bob", 2)
	for range 200 {
		key, err := crypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		x, y := pipe(key.Address(), bob.key.Address())
		done := make(chan struct{})
		go func() { bob.n.HandlePeer(advertConn{y, "203.0.113.7:7420"}); close(done) }()
		waitFor(t, "the stranger's session", func() bool { return bob.n.peers.session(key.Address()) != nil })
		x.Close(nil)
		<-done
	}
	bob.n.peers.mu.Lock()
	addrs, sessions, strangers := len(bob.n.peers.addrs), len(bob.n.peers.sessions), bob.n.peers.strangers
	bob.n.peers.mu.Unlock()
	if addrs != 0 || sessions != 0 || strangers != 0 {
		t.Fatalf("after 200 strangers came and went bob keeps %d addresses, %d sessions and %d places", addrs, sessions, strangers)
	}
}

// TestOperatorAbandonsAStuckOpening: an open whose outcome is unknown
// leaves the channel opening; the operator's close abandons it on both
// sides once the chain shows it is not open (Bob, who had nothing in it,
// forgets it), and refuses if the open landed after all.
func TestOperatorAbandonsAStuckOpening(t *testing.T) {
	w := newNet(t)
	alice, bob := w.add("alice", 1), w.add("bob", 2)
	alice.connect(bob)
	stuck := func() (channel.ID, channel.Params) {
		w.chain.mu.Lock()
		w.chain.failNext = settlement.ErrUnavailable
		w.chain.mu.Unlock()
		ci, err := alice.n.OpenChannel(context.Background(), bob.key.Address(), crypto.Address{}, *u256(1000), 0)
		if err == nil || ci.Phase != channel.Opening {
			t.Fatalf("open: %+v, %v; want it stuck opening", ci, err)
		}
		return ci.ID, alice.n.chans.get(ci.ID).params
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	id, _ := stuck()
	if ci, err := alice.n.CloseChannel(ctx, id); err != nil || ci.Phase != channel.Abandoned {
		t.Fatalf("the operator closes a stuck opening channel: %+v, %v; want it abandoned", ci, err)
	}
	waitFor(t, "bob forgets it", func() bool { return bob.n.chans.get(id) == nil })

	id, params := stuck()
	if _, err := alice.chain.Open(ctx, settlementParams(params), u256(1000)); err != nil {
		t.Fatal(err) // the open landed after all
	}
	if _, err := alice.n.CloseChannel(ctx, id); !errors.Is(err, channel.ErrWrongPhase) {
		t.Fatalf("abandoning a channel that is open on chain: %v, want refused", err)
	}
	waitFor(t, "alice sees it open", func() bool { return alice.channel(id).Phase == channel.Open })
}

// TestForgottenProposalOpenedByAQueuedEvent: the open event of a proposal
// reaches its owner after the owner forgot the proposal (it was queued
// before): the channel is registered again with its record, instead of a
// record on disk that the running node does not know.
func TestForgottenProposalOpenedByAQueuedEvent(t *testing.T) {
	w := newNet(t)
	bob := w.add("bob", 2)
	mallory := seedKey(9)
	r := dialRaw(t, mallory.Address(), bob)
	p := channel.Params{ChainID: w.chain.chainID, Adjudicator: w.chain.adj, Participants: [2]crypto.Address{mallory.Address(), bob.key.Address()},
		ChallengePeriod: 100, Salt: crypto.Hash{7}}
	id := p.ID()
	r.send(&peerv1.Message{Body: &peerv1.Message_Propose{Propose: &peerv1.Propose{ChallengePeriod: 100, Salt: p.Salt[:], Deposit: amountBytes(u256(1))}}})
	if r.next().GetAccept() == nil {
		t.Fatal("bob did not accept")
	}
	c := bob.n.chans.get(id)
	r.send(&peerv1.Message{Body: &peerv1.Message_Abandon{Abandon: &peerv1.Abandon{ChannelId: id[:], Reason: "gone"}}})
	waitFor(t, "bob forgets the proposal", func() bool { return bob.n.chans.get(id) == nil })
	if err := c.stepAndWait(context.Background(), func() {
		c.onChainEvent(settlement.Event{Kind: settlement.EventOpened, Channel: id, Params: settlementParams(p)})
	}); err != nil {
		t.Fatal(err)
	}
	if got := bob.n.chans.get(id); got != c || c.info().Phase != channel.Open {
		t.Fatalf("after the queued open event bob holds %v (phase %s), want the channel again, open", got, c.info().Phase)
	}
	if _, err := bob.st.Channel(id); err != nil {
		t.Fatalf("the channel's record: %v", err)
	}
}

// TestStrangerSessionsBoundedInTotal: inbound sessions of peers that share
// no channel are bounded in total (here from addresses that are not IP
// addresses, which count only there); a place frees when one leaves, and
// a peer with a channel is not counted.
func TestStrangerSessionsBoundedInTotal(t *testing.T) {
	w := newNet(t)
	alice := w.add("alice", 1)
	bob := startCustom(t, w, "bob", 2, nil, func(c *Config) { c.MaxStrangerSessions, c.MaxStrangerSessionsPerSource = 2, 1 })
	alice.connect(bob)
	alice.open(bob, 1000)
	stranger := func() (*pipeConn, chan struct{}) {
		key, err := crypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		x, y := pipe(key.Address(), bob.key.Address())
		done := make(chan struct{})
		go func() { bob.n.HandlePeer(y); close(done) }()
		t.Cleanup(func() { x.Close(nil) })
		return x, done
	}
	first, firstDone := stranger()
	stranger()
	waitFor(t, "bob serves two strangers", func() bool { return len(bob.n.Peers()) == 3 })
	_, refused := stranger()
	select {
	case <-refused:
	case <-time.After(5 * time.Second):
		t.Fatal("a third stranger was served")
	}
	first.Close(nil)
	<-firstDone
	_, served := stranger()
	waitFor(t, "a stranger takes the freed place", func() bool { return len(bob.n.Peers()) == 3 })
	select {
	case <-served:
		t.Fatal("the stranger taking a freed place was refused")
	default:
	}
}

// TestIncomingReceiptOverwritesOutgoing: receipts of both directions share
// one key space (0x07 payment id): an outgoing payment's under this node's
// id, an incoming one's under the payer's id. Bob, the payee of Alice's
// "ok-1" (so he knows its id), pays her back on the same channel naming
// his part with that id and asking for a receipt: Alice signs it and
// stores it over Bob's receipt for ok-1. Pre-existing (not f776ce2), but
// the awaited index reads the same key (LoadChannels skips an entry whose
// "receipt" is on disk).
func TestIncomingReceiptOverwritesOutgoing(t *testing.T) {
	alice, bob, id, dom, r, payID, sig := paidWithReceipt(t)
	// Bob pays 3 back, under ok-1's id, asking for a receipt.
	part := &peerv1.PaymentPart{PaymentId: payID[:], Amount: amountBytes(u256(3)), ItemId: "x", WantReceipt: true}
	r.send(&peerv1.Message{Body: &peerv1.Message_Proof{Proof: signedProof(t, bob.key, dom, id, 1, 3, part)}})
	for {
		m := r.nextAny(5 * time.Second)
		if m == nil {
			t.Fatal("alice did not acknowledge bob's proof")
		}
		if a := m.GetAck(); a != nil {
			break
		}
	}
	got, _, err := alice.n.PaymentByKey(context.Background(), "ok-1")
	if err != nil || got.Receipt == nil || got.Receipt.Sig != sig {
		t.Fatalf("ok-1 after bob paid back under its id: receipt %+v (%v); want bob's receipt %x, not one alice signed", got.Receipt, err, sig[:6])
	}
}

// TestRefusedIncomingShowsOutgoingReceipt: Bob pays Alice with a part she
// refuses, under the id of her payment ok-1 and asking for a receipt. The
// refused record has no receipt of its own, and the look-up under the
// payer's id (for receipts written before they were kept under local ids)
// showed Bob's receipt of ok-1 as its receipt.
func TestRefusedIncomingShowsOutgoingReceipt(t *testing.T) {
	alice, bob, id, dom, r, payID, sig := paidWithReceipt(t)
	// Bob pays back under ok-1's id with an offer part, which Alice (no
	// application hooks) refuses and refunds.
	osig, _ := bob.key.Sign(crypto.Keccak256([]byte("whatever")))
	asset := alice.channel(id).Asset.Address
	offer := &peerv1.Offer{OfferId: rid(0x0f), ItemId: "x", Asset: asset[:], Price: amountBytes(uint256.NewInt(3)), Expiry: 1 << 40, Signature: osig[:]}
	part := &peerv1.PaymentPart{PaymentId: payID[:], Amount: amountBytes(u256(3)), ItemId: "x", Offer: offer}
	r.send(&peerv1.Message{Body: &peerv1.Message_Proof{Proof: signedProof(t, bob.key, dom, id, 1, 3, part)}})
	for {
		m := r.nextAny(5 * time.Second)
		if m == nil {
			t.Fatal("alice did not answer bob's proof")
		}
		if a := m.GetAck(); a != nil {
			if len(a.GetRefused()) != 1 {
				t.Fatalf("ack %v, want the part refused", a)
			}
			break
		}
		if n := m.GetNack(); n != nil {
			t.Fatalf("proof refused whole: %v", n)
		}
	}
	var found bool
	waitFor(t, "the refused incoming record", func() bool {
		ps, _, err := alice.n.Payments(0, 1000, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if !p.Outgoing && p.RemoteID == payID {
				found = true
				if p.Refused == "" {
					t.Fatalf("incoming %+v not refused", p)
				}
				if p.Receipt != nil {
					t.Fatalf("refused incoming payment (payer's id = ok-1's) shows receipt %x, ok-1's receipt from bob is %x", p.Receipt.Sig[:6], sig[:6])
				}
			}
		}
		return found
	})
}

// paidWithReceipt has alice pay 5 for item "ok" under key ok-1 to a raw
// bob, who acknowledges it with his receipt; it returns the payment's id
// and bob's receipt signature, which alice then holds.
func paidWithReceipt(t *testing.T) (alice, bob *testNode, id channel.ID, dom crypto.Domain, r *rawPeer, payID [32]byte, sig crypto.Signature) {
	t.Helper()
	alice, bob, id, dom, r = rawPayee(t, newNet(t))
	done := make(chan error, 1)
	go func() { _, err := payItem(t, alice, id, 5, "ok-1", "ok"); done <- err }()
	proof := r.next().GetProof()
	if proof.GetNonce() != 1 || len(proof.GetParts()) != 1 {
		t.Fatalf("got %v, want proof 1 with one payment", proof)
	}
	payID = [32]byte(proof.GetParts()[0].GetPaymentId())
	f := crypto.ReceiptFields{Channel: id, Payment: payID, Payer: alice.key.Address(), Payee: bob.key.Address(),
		Asset: alice.channel(id).Asset.Address, Amount: *u256(5), Cumulative: *u256(5), ItemID: "ok", Time: 1234}
	sig, err := bob.key.Sign(dom.ReceiptDigest(&f))
	if err != nil {
		t.Fatal(err)
	}
	r.send(&peerv1.Message{Body: &peerv1.Message_Ack{Ack: &peerv1.Ack{ChannelId: id[:], Nonce: 1,
		Receipts: []*peerv1.Receipt{{PaymentId: payID[:], Time: 1234, Signature: sig[:]}}}}})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, _, err := alice.n.PaymentByKey(context.Background(), "ok-1"); err != nil || got.Receipt == nil || got.Receipt.Sig != sig {
		t.Fatalf("ok-1: %+v, %v; want bob's receipt", got.Receipt, err)
	}
	return alice, bob, id, dom, r, payID, sig
}
