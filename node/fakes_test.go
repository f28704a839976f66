package node

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
	"github.com/tinypay/tinypay/settlement"
	"google.golang.org/protobuf/proto"
)

// pipeConn is one end of an in-memory authenticated connection.
type pipeConn struct {
	self, peer crypto.Address
	in         chan *peerv1.Message
	out        chan *peerv1.Message
	done       chan struct{}
	other      *pipeConn
	once       *sync.Once // shared by both ends
	mu         sync.Mutex
	drop       bool          // drop outgoing messages silently
	gate       chan struct{} // if set, Send waits until it is closed
	fate       func(from crypto.Address, m *peerv1.Message) wireFate
}

func pipe(a, b crypto.Address) (*pipeConn, *pipeConn) {
	ab, ba := make(chan *peerv1.Message, 1<<14), make(chan *peerv1.Message, 1<<14)
	done, once := make(chan struct{}), new(sync.Once)
	x := &pipeConn{self: a, peer: b, in: ba, out: ab, done: done, once: once}
	y := &pipeConn{self: b, peer: a, in: ab, out: ba, done: done, once: once}
	x.other, y.other = y, x
	return x, y
}

func (p *pipeConn) Peer() crypto.Address  { return p.peer }
func (p *pipeConn) ListenAddrs() []string { return nil }
func (p *pipeConn) RemoteAddr() string    { return "pipe" }
func (p *pipeConn) Send(m *peerv1.Message) error {
	p.mu.Lock()
	drop := p.drop
	p.mu.Unlock()
	if drop {
		return nil
	}
	if p.fate != nil {
		switch p.fate(p.self, m) {
		case lost:
			return nil
		case cut:
			p.Close(nil)
			return errors.New("closed")
		}
	}
	if p.gate != nil {
		select {
		case <-p.gate:
		case <-p.done:
			return errors.New("closed")
		}
	}
	// Copy through the wire format, as a real transport would.
	raw, err := proto.Marshal(m)
	if err != nil {
		return err
	}
	c := new(peerv1.Message)
	if err := proto.Unmarshal(raw, c); err != nil {
		return err
	}
	select {
	case p.out <- c:
		return nil
	case <-p.done:
		return errors.New("closed")
	}
}
func (p *pipeConn) Recv() (*peerv1.Message, error) {
	select {
	case m := <-p.in:
		return m, nil
	case <-p.done:
		return nil, errors.New("closed")
	}
}
func (p *pipeConn) Close(error) { p.once.Do(func() { close(p.done) }) }

// fakeChain is an in-memory adjudicator with the contract's rules, shared
// by the backends of several nodes.
type fakeChain struct {
	mu       sync.Mutex
	chainID  uint64
	adj      crypto.Address
	time     uint64
	block    uint64
	channels map[crypto.Hash]*fakeChannel
	events   []settlement.Event
	wallets  map[crypto.Address]*uint256.Int // one asset is enough here
	failNext error
	xfer     fakeTransfers // see wallet_fakes_test.go
}

type fakeChannel struct {
	p  settlement.Params
	oc settlement.Channel
}

func newFakeChain() *fakeChain {
	return &fakeChain{chainID: 1337, adj: crypto.Address{0xad}, time: 1_000_000, block: 1,
		channels: map[crypto.Hash]*fakeChannel{}, wallets: map[crypto.Address]*uint256.Int{}}
}

func (f *fakeChain) fund(a crypto.Address, v uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.wallets[a] = uint256.NewInt(v)
}

func (f *fakeChain) wallet(a crypto.Address) uint256.Int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if w := f.wallets[a]; w != nil {
		return *w
	}
	return uint256.Int{}
}

func (f *fakeChain) advance(seconds uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.time += seconds
	f.block++
}

// emit records an event in a new block; f.mu held.
func (f *fakeChain) emit(ev settlement.Event) {
	f.block++
	f.time++
	ev.Cursor = settlement.Cursor{Block: f.block}
	ev.Time = f.time
	ev.TxHash = crypto.Keccak256([]byte(fmt.Sprint(f.block)))
	f.events = append(f.events, ev)
}

type fakeBackend struct {
	f   *fakeChain
	key *crypto.PrivateKey
	// deaf makes Events report nothing new, as if this node's watcher lagged
	// behind the chain; direct reads (Channel) still see everything.
	deaf atomic.Bool
	// hang, while set, makes every read (Head, Events, Channel) block until
	// it is closed or the call's context ends, as a hung endpoint does.
	hang atomic.Pointer[chan struct{}]
	// reads counts the reads that reached the chain; channelReads those of
	// one channel's record.
	reads, channelReads atomic.Int64
	// nonce is the next transfer nonce this backend signs with, if set
	// (a new backend, as after a restart, reads the chain's).
	nonce    uint64
	nonceSet bool
}

// hangReads makes reads block until the returned function is called.
func (b *fakeBackend) hangReads() (release func()) {
	ch := make(chan struct{})
	b.hang.Store(&ch)
	var once sync.Once
	return func() {
		once.Do(func() {
			b.hang.Store(nil)
			close(ch)
		})
	}
}

// read is where every read waits while the endpoint hangs.
func (b *fakeBackend) read(ctx context.Context) error {
	b.reads.Add(1)
	if h := b.hang.Load(); h != nil {
		select {
		case <-*h:
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", settlement.ErrUnavailable, ctx.Err())
		}
	}
	return nil
}

var _ settlement.Backend = (*fakeBackend)(nil)

func (b *fakeBackend) ChainID() uint64             { return b.f.chainID }
func (b *fakeBackend) Adjudicator() crypto.Address { return b.f.adj }
func (b *fakeBackend) Account() crypto.Address     { return b.key.Address() }

func (b *fakeBackend) receipt() settlement.Receipt {
	return settlement.Receipt{Block: b.f.block, GasUsed: 50_000}
}

func (b *fakeBackend) take(amount *uint256.Int) error {
	w := b.f.wallets[b.key.Address()]
	if w == nil || w.Lt(amount) {
		return settlement.ErrInsufficientFunds
	}
	w.Sub(w, amount)
	return nil
}

func (b *fakeBackend) pay(to crypto.Address, amount *uint256.Int) {
	w := b.f.wallets[to]
	if w == nil {
		w = new(uint256.Int)
		b.f.wallets[to] = w
	}
	w.Add(w, amount)
}

func revert(reason string) error { return &settlement.RevertError{Reason: reason} }

func (b *fakeBackend) check() error {
	if err := b.f.failNext; err != nil {
		b.f.failNext = nil
		return err
	}
	return nil
}

func (b *fakeBackend) Open(ctx context.Context, p settlement.Params, deposit *uint256.Int) (settlement.Receipt, error) {
	b.f.mu.Lock()
	defer b.f.mu.Unlock()
	if err := b.check(); err != nil {
		return settlement.Receipt{}, err
	}
	id := p.ID()
	if _, ok := b.f.channels[id]; ok {
		return settlement.Receipt{}, revert("ChannelExists")
	}
	side := 0
	if b.key.Address() == p.Participants[1] {
		side = 1
	} else if b.key.Address() != p.Participants[0] {
		return settlement.Receipt{}, revert("NotParticipant")
	}
	if err := b.take(deposit); err != nil {
		return settlement.Receipt{}, err
	}
	c := &fakeChannel{p: p}
	c.oc.Phase = settlement.PhaseOpen
	c.oc.Deposit[side] = *deposit
	b.f.channels[id] = c
	b.f.emit(settlement.Event{Kind: settlement.EventOpened, Channel: id, Params: p})
	b.f.emit(settlement.Event{Kind: settlement.EventDeposited, Channel: id, Account: b.key.Address(), Amount: *deposit})
	return b.receipt(), nil
}

func (b *fakeBackend) get(p settlement.Params, phase settlement.Phase) (*fakeChannel, error) {
	c := b.f.channels[p.ID()]
	if c == nil || c.oc.Phase != phase {
		return nil, revert("WrongPhase")
	}
	return c, nil
}

func (b *fakeBackend) Deposit(ctx context.Context, p settlement.Params, who crypto.Address, total *uint256.Int) (settlement.Receipt, error) {
	b.f.mu.Lock()
	defer b.f.mu.Unlock()
	c, err := b.get(p, settlement.PhaseOpen)
	if err != nil {
		return settlement.Receipt{}, err
	}
	side := sideOf(p, who)
	if !total.Gt(&c.oc.Deposit[side]) {
		return settlement.Receipt{}, revert("NotIncreasing")
	}
	var diff uint256.Int
	diff.Sub(total, &c.oc.Deposit[side])
	if err := b.take(&diff); err != nil {
		return settlement.Receipt{}, err
	}
	c.oc.Deposit[side] = *total
	b.f.emit(settlement.Event{Kind: settlement.EventDeposited, Channel: p.ID(), Account: who, Amount: *total})
	return b.receipt(), nil
}

func sideOf(p settlement.Params, a crypto.Address) int {
	if a == p.Participants[1] {
		return 1
	}
	return 0
}

func (b *fakeBackend) Withdraw(ctx context.Context, p settlement.Params, who crypto.Address, total *uint256.Int, expiry uint64, sigs [2]crypto.Signature) (settlement.Receipt, error) {
	b.f.mu.Lock()
	defer b.f.mu.Unlock()
	c, err := b.get(p, settlement.PhaseOpen)
	if err != nil {
		return settlement.Receipt{}, err
	}
	dom := crypto.NewDomain(p.ChainID, p.Adjudicator)
	d := dom.WithdrawDigest(p.ID(), who, total, expiry)
	for i := range 2 {
		if err := crypto.Verify(d, sigs[i], p.Participants[i]); err != nil {
			return settlement.Receipt{}, revert("WrongSigner")
		}
	}
	if b.f.time > expiry {
		return settlement.Receipt{}, revert("Expired")
	}
	side := sideOf(p, who)
	var diff uint256.Int
	diff.Sub(total, &c.oc.Withdrawn[side])
	c.oc.Withdrawn[side] = *total
	b.pay(who, &diff)
	b.f.emit(settlement.Event{Kind: settlement.EventWithdrawn, Channel: p.ID(), Account: who, Amount: *total})
	return b.receipt(), nil
}

func (b *fakeBackend) CooperativeClose(ctx context.Context, p settlement.Params, bal [2]uint256.Int, expiry uint64, sigs [2]crypto.Signature) (settlement.Receipt, error) {
	b.f.mu.Lock()
	defer b.f.mu.Unlock()
	c := b.f.channels[p.ID()]
	if c == nil || (c.oc.Phase != settlement.PhaseOpen && c.oc.Phase != settlement.PhaseClosed) {
		return settlement.Receipt{}, revert("WrongPhase")
	}
	d := crypto.NewDomain(p.ChainID, p.Adjudicator).CooperativeCloseDigest(p.ID(), &bal[0], &bal[1], expiry)
	for i := range 2 {
		if err := crypto.Verify(d, sigs[i], p.Participants[i]); err != nil {
			return settlement.Receipt{}, revert("WrongSigner")
		}
	}
	var funds, sum uint256.Int
	funds.Add(&c.oc.Deposit[0], &c.oc.Deposit[1])
	funds.Sub(&funds, &c.oc.Withdrawn[0])
	funds.Sub(&funds, &c.oc.Withdrawn[1])
	sum.Add(&bal[0], &bal[1])
	if !sum.Eq(&funds) {
		return settlement.Receipt{}, revert("BalanceMismatch")
	}
	c.oc = settlement.Channel{Phase: settlement.PhaseSettled}
	b.pay(p.Participants[0], &bal[0])
	b.pay(p.Participants[1], &bal[1])
	b.f.emit(settlement.Event{Kind: settlement.EventCooperativelyClosed, Channel: p.ID(), Balances: bal})
	return b.receipt(), nil
}

func (b *fakeBackend) proven(p settlement.Params, pr settlement.Proof, signer crypto.Address) (uint256.Int, error) {
	if pr.IsZero() {
		return uint256.Int{}, nil
	}
	d := crypto.NewDomain(p.ChainID, p.Adjudicator).BalanceProofDigest(p.ID(), pr.Nonce, &pr.Transferred)
	if err := crypto.Verify(d, pr.Sig, signer); err != nil {
		return uint256.Int{}, revert("WrongSigner")
	}
	return pr.Transferred, nil
}

func (b *fakeBackend) ForceClose(ctx context.Context, p settlement.Params, peers, own settlement.Proof) (settlement.Receipt, error) {
	b.f.mu.Lock()
	defer b.f.mu.Unlock()
	c, err := b.get(p, settlement.PhaseOpen)
	if err != nil {
		return settlement.Receipt{}, err
	}
	me := sideOf(p, b.key.Address())
	toMe, err := b.proven(p, peers, p.Participants[1-me])
	if err != nil {
		return settlement.Receipt{}, err
	}
	fromMe, err := b.proven(p, own, p.Participants[me])
	if err != nil {
		return settlement.Receipt{}, err
	}
	c.oc.Phase = settlement.PhaseClosed
	c.oc.Transferred[me], c.oc.Transferred[1-me] = fromMe, toMe
	c.oc.SettleAfter = b.f.time + 1 + p.ChallengePeriod
	b.f.emit(settlement.Event{Kind: settlement.EventClosed, Channel: p.ID(), Account: b.key.Address(), Transferred: c.oc.Transferred, SettleAfter: c.oc.SettleAfter})
	return b.receipt(), nil
}

func (b *fakeBackend) Update(ctx context.Context, p settlement.Params, proofs []settlement.Proof) (settlement.Receipt, error) {
	b.f.mu.Lock()
	defer b.f.mu.Unlock()
	c, err := b.get(p, settlement.PhaseClosed)
	if err != nil {
		return settlement.Receipt{}, err
	}
	if b.f.time > c.oc.SettleAfter {
		return settlement.Receipt{}, revert("ChallengePeriodOver")
	}
	for _, pr := range proofs {
		d := crypto.NewDomain(p.ChainID, p.Adjudicator).BalanceProofDigest(p.ID(), pr.Nonce, &pr.Transferred)
		signer, err := crypto.Recover(d, pr.Sig)
		if err != nil {
			return settlement.Receipt{}, revert("InvalidSignature")
		}
		x := sideOf(p, signer)
		if signer != p.Participants[x] {
			return settlement.Receipt{}, revert("SignerNotParticipant")
		}
		if !pr.Transferred.Gt(&c.oc.Transferred[x]) {
			return settlement.Receipt{}, revert("NotIncreasing")
		}
		c.oc.Transferred[x] = pr.Transferred
		b.f.emit(settlement.Event{Kind: settlement.EventUpdated, Channel: p.ID(), Account: signer, Nonce: pr.Nonce, Amount: pr.Transferred})
	}
	return b.receipt(), nil
}

func (b *fakeBackend) Settle(ctx context.Context, p settlement.Params) (settlement.Receipt, error) {
	b.f.mu.Lock()
	defer b.f.mu.Unlock()
	c, err := b.get(p, settlement.PhaseClosed)
	if err != nil {
		return settlement.Receipt{}, err
	}
	if b.f.time <= c.oc.SettleAfter {
		return settlement.Receipt{}, revert("ChallengePeriodNotOver")
	}
	final := channel.Settlement(c.oc.Deposit, c.oc.Withdrawn, c.oc.Transferred)
	c.oc = settlement.Channel{Phase: settlement.PhaseSettled}
	b.pay(p.Participants[0], &final[0])
	b.pay(p.Participants[1], &final[1])
	b.f.emit(settlement.Event{Kind: settlement.EventSettled, Channel: p.ID(), Balances: final})
	return b.receipt(), nil
}

func (b *fakeBackend) WithdrawPayout(ctx context.Context, asset crypto.Address) (uint256.Int, settlement.Receipt, error) {
	return uint256.Int{}, settlement.Receipt{}, revert("NoPayout")
}

func (b *fakeBackend) Channel(ctx context.Context, id crypto.Hash) (settlement.Channel, error) {
	b.channelReads.Add(1)
	if err := b.read(ctx); err != nil {
		return settlement.Channel{}, err
	}
	b.f.mu.Lock()
	defer b.f.mu.Unlock()
	if c := b.f.channels[id]; c != nil {
		return c.oc, nil
	}
	return settlement.Channel{}, nil
}

func (b *fakeBackend) Payout(ctx context.Context, account, asset crypto.Address) (uint256.Int, error) {
	return uint256.Int{}, nil
}

func (b *fakeBackend) Balance(ctx context.Context, account, asset crypto.Address) (uint256.Int, error) {
	return b.f.wallet(account), nil
}

func (b *fakeBackend) Head(ctx context.Context) (settlement.Head, error) {
	if err := b.read(ctx); err != nil {
		return settlement.Head{}, err
	}
	b.f.mu.Lock()
	defer b.f.mu.Unlock()
	return settlement.Head{Number: b.f.block, Time: b.f.time}, nil
}

func (b *fakeBackend) Events(ctx context.Context, after settlement.Cursor, limit int) ([]settlement.Event, settlement.Cursor, error) {
	if err := b.read(ctx); err != nil {
		return nil, after, err
	}
	if b.deaf.Load() {
		return nil, after, nil
	}
	b.f.mu.Lock()
	defer b.f.mu.Unlock()
	var out []settlement.Event
	next := settlement.Cursor{Block: b.f.block}
	// Events are in cursor order (emit): start past after.
	first := sort.Search(len(b.f.events), func(i int) bool { return after.Less(b.f.events[i].Cursor) })
	for _, ev := range b.f.events[first:] {
		if len(out) == limit {
			return out, out[len(out)-1].Cursor, nil
		}
		out = append(out, ev)
	}
	if len(out) > 0 && next.Less(out[len(out)-1].Cursor) {
		next = out[len(out)-1].Cursor
	}
	return out, next, nil
}
