package node_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node"
	"github.com/tinypay/tinypay/node/nodetest"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
	"github.com/tinypay/tinypay/rpc"
	"github.com/tinypay/tinypay/settlement/evm/evmtest"
)

// These tests attack a real node (EVM backend on a simulated chain, the TLS
// peer transport, badger) as strangers would: each stranger holds a key of
// its own, no funds, and speaks the peer protocol through the handshake.

// strangerConn dials n with a fresh key.
func strangerConn(t *testing.T, n *nodetest.Node) (*rpc.PeerConn, crypto.Address) {
	t.Helper()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := n.PeerConfig()
	cfg.Key, cfg.Certificate, cfg.ListenAddr = key, nil, ""
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := rpc.DialPeer(ctx, cfg, n.Addr, n.Key.Address())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(nil) })
	return conn, key.Address()
}

// propose sends a channel proposal in USD with a fresh salt.
func propose(t *testing.T, conn *rpc.PeerConn, usd crypto.Address) {
	t.Helper()
	salt := make([]byte, 32)
	_, _ = rand.Read(salt)
	if err := conn.Send(&peerv1.Message{Body: &peerv1.Message_Propose{Propose: &peerv1.Propose{
		Asset: usd[:], ChallengePeriod: 3600, Salt: salt, Deposit: []byte{100},
	}}}); err != nil {
		t.Fatal(err)
	}
}

// answers reads the answers to n proposals: how many were accepted, and
// the refusals' messages.
func answers(t *testing.T, conn *rpc.PeerConn, n int) (accepted int, refused []string) {
	t.Helper()
	for accepted+len(refused) < n {
		m, err := conn.Recv()
		if err != nil {
			t.Fatalf("after %d accepts and %d refusals: %v", accepted, len(refused), err)
		}
		switch {
		case m.GetAccept() != nil:
			accepted++
		case m.GetError() != nil:
			refused = append(refused, fmt.Sprintf("code %d: %s", m.GetError().GetCode(), m.GetError().GetMessage()))
		}
	}
	return accepted, refused
}

// opening counts bob's channels in phase opening, in memory and on disk.
func opening(t *testing.T, n *nodetest.Node) (listed, stored int) {
	t.Helper()
	for _, ci := range n.N().Channels(crypto.Address{}, true) {
		if ci.Phase.String() == "opening" {
			listed++
		}
	}
	recs, err := n.Store().Channels()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.GetPhase().String() == "PHASE_OPENING" {
			stored++
		}
	}
	return listed, stored
}

// TestE2EProposalFloodIsBounded: a stranger with no funds sends 2,000
// proposals (before the bound, all were stored, and the channel list grew
// by 2,000); the node keeps MaxProposalsPerPeer of one stranger and
// MaxProposals of all, refuses the rest with a clear reason, and an honest
// payer's channel keeps working throughout, its state unchanged apart from
// its own payments.
func TestE2EProposalFloodIsBounded(t *testing.T) {
	chain := evmtest.NewChain(t)
	bounded := func(c *node.Config) { c.MaxProposalsPerPeer, c.MaxProposals = 3, 5 }
	alice, bob := nodetest.Start(t, chain, "alice", chain.Alice), nodetest.Start(t, chain, "bob", chain.Bob, bounded)
	id := alice.OpenUSD(bob, 100_000)
	before := bob.Channel(id)

	var wg sync.WaitGroup
	stop := make(chan struct{})
	paid := 0
	var payErr error
	wg.Add(1)
	go func() { // the honest payer, during the whole attack
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, payErr = alice.N().Pay(ctx, node.PayRequest{Channel: id, Amount: *uint256.NewInt(1), Key: fmt.Sprintf("honest-%d", paid)})
			cancel()
			if payErr != nil {
				return
			}
			paid++
		}
	}()

	s1, _ := strangerConn(t, bob)
	for range 2000 {
		propose(t, s1, bob.USD)
	}
	acc, ref := answers(t, s1, 2000)
	if acc != 3 || len(ref) != 1997 || !strings.Contains(ref[0], "code 8") || !strings.Contains(ref[0], "not open on chain") {
		t.Fatalf("one stranger's 2000 proposals: %d accepted, %d refused (first: %v); want 3 accepted, the rest refused as resource exhausted", acc, len(ref), ref[:min(1, len(ref))])
	}
	s2, _ := strangerConn(t, bob)
	for range 10 {
		propose(t, s2, bob.USD)
	}
	if acc, ref := answers(t, s2, 10); acc != 2 || len(ref) != 8 || !strings.Contains(ref[7], "the most this node takes; try later") {
		t.Fatalf("a second stranger: %d accepted, refusals %v; want 2 accepted until the total of 5 is reached", acc, ref)
	}
	if listed, stored := opening(t, bob); listed != 5 || stored != 5 {
		t.Fatalf("bob lists %d and stores %d opening channels, want 5", listed, stored)
	}
	close(stop)
	wg.Wait()
	if payErr != nil {
		t.Fatalf("the honest payer failed during the flood, after %d payments: %v", paid, payErr)
	}
	after := bob.Channel(id)
	if paid == 0 || after.MyBalance.Uint64() != before.MyBalance.Uint64()+uint64(paid) || after.Phase != before.Phase {
		t.Fatalf("honest channel: balance %s → %s after %d payments of 1, phase %s → %s", before.MyBalance.Dec(), after.MyBalance.Dec(), paid, before.Phase, after.Phase)
	}
	t.Logf("the honest payer paid %d times during the flood", paid)
}

// TestE2EProposalExpires: a proposal not opened on chain within
// ProposalExpiry is abandoned (the proposer is told) and forgotten: the
// node neither lists nor stores it, nor counts it against the bounds, also
// after a restart.
func TestE2EProposalExpires(t *testing.T) {
	chain := evmtest.NewChain(t)
	short := func(c *node.Config) {
		c.MaxProposalsPerPeer, c.MaxProposals = 1, 1
		c.RequestTimeout, c.ProposalExpiry = time.Second, 2*time.Second
	}
	bob := nodetest.Start(t, chain, "bob", chain.Bob, short)
	s, _ := strangerConn(t, bob)
	propose(t, s, bob.USD)
	propose(t, s, bob.USD)
	if acc, ref := answers(t, s, 2); acc != 1 || len(ref) != 1 {
		t.Fatalf("%d accepted, refusals %v; want the first accepted, the second refused", acc, ref)
	}
	var abandon *peerv1.Abandon
	for abandon == nil {
		m, err := s.Recv()
		if err != nil {
			t.Fatal(err)
		}
		abandon = m.GetAbandon()
	}
	if !strings.Contains(abandon.GetReason(), "not open on chain") {
		t.Fatalf("abandon reason %q", abandon.GetReason())
	}
	nodetest.Eventually(t, "bob forgets the expired proposal", func() bool {
		_, stored := opening(t, bob)
		return len(bob.N().Channels(crypto.Address{}, true)) == 0 && stored == 0
	})
	propose(t, s, bob.USD)
	if acc, ref := answers(t, s, 1); acc != 1 {
		t.Fatalf("a new proposal after the expiry: refused %v", ref)
	}
	bob.Restart()
	if listed, stored := opening(t, bob); listed != 1 || stored != 1 {
		t.Fatalf("after a restart bob lists %d and stores %d opening channels, want the one live proposal", listed, stored)
	}
}

// TestE2EMessagesAboutAnotherPeersChannel: every message that names a
// channel, sent by a stranger about a channel Bob shares with Alice, is
// refused as not the stranger's, and changes nothing on either side.
func TestE2EMessagesAboutAnotherPeersChannel(t *testing.T) {
	chain := evmtest.NewChain(t)
	alice, bob := nodetest.Start(t, chain, "alice", chain.Alice), nodetest.Start(t, chain, "bob", chain.Bob)
	id := alice.OpenUSD(bob, 1000)
	alice.Pay(id, 10, "before")
	before, beforeA := bob.Channel(id), alice.Channel(id)
	s, _ := strangerConn(t, bob)
	cid, sig, amt := id[:], make([]byte, 65), []byte{5}
	for _, m := range []*peerv1.Message{
		{Body: &peerv1.Message_Proof{Proof: &peerv1.BalanceProof{ChannelId: cid, Nonce: 9, Transferred: amt, Signature: sig}}},
		{Body: &peerv1.Message_ProofParts{ProofParts: &peerv1.ProofParts{ChannelId: cid, Nonce: 9}}},
		{Body: &peerv1.Message_Ack{Ack: &peerv1.Ack{ChannelId: cid, Nonce: 1}}},
		{Body: &peerv1.Message_Nack{Nack: &peerv1.Nack{ChannelId: cid, Nonce: 1}}},
		{Body: &peerv1.Message_Reestablish{Reestablish: &peerv1.Reestablish{ChannelId: cid, SentNonce: 1, AckedNonce: 1}}},
		{Body: &peerv1.Message_WithdrawRequest{WithdrawRequest: &peerv1.WithdrawRequest{ChannelId: cid, Total: amt, Expiry: 1 << 40, Signature: sig}}},
		{Body: &peerv1.Message_WithdrawReply{WithdrawReply: &peerv1.WithdrawReply{ChannelId: cid, Signature: sig}}},
		{Body: &peerv1.Message_CloseRequest{CloseRequest: &peerv1.CloseRequest{ChannelId: cid, BalanceA: amt, BalanceB: amt, Expiry: 1 << 40, Signature: sig}}},
		{Body: &peerv1.Message_CloseReply{CloseReply: &peerv1.CloseReply{ChannelId: cid, Signature: sig}}},
		{Body: &peerv1.Message_RecoverRequest{RecoverRequest: &peerv1.RecoverRequest{ChannelId: cid}}},
		{Body: &peerv1.Message_Recovered{Recovered: &peerv1.Recovered{ChannelId: cid}}},
		{Body: &peerv1.Message_Abandon{Abandon: &peerv1.Abandon{ChannelId: cid, Reason: "mine now"}}},
		{Body: &peerv1.Message_StreamStart{StreamStart: &peerv1.StreamStart{ChannelId: cid, StreamId: make([]byte, 16), Rate: amt, TickMs: 1000}}},
		{Body: &peerv1.Message_StreamEnd{StreamEnd: &peerv1.StreamEnd{ChannelId: cid, StreamId: make([]byte, 16)}}},
	} {
		if err := s.Send(m); err != nil {
			t.Fatal(err)
		}
		got, err := s.Recv()
		if err != nil {
			t.Fatalf("%T: %v", m.GetBody(), err)
		}
		if e := got.GetError(); e == nil || e.GetCode() != 7 || !strings.Contains(e.GetMessage(), "is not yours") {
			t.Fatalf("%T about alice's channel: got %v, want PERMISSION_DENIED, not yours", m.GetBody(), got)
		}
	}
	// An answer to a proposal Bob never made to the stranger is ignored.
	for _, m := range []*peerv1.Message{
		{Body: &peerv1.Message_Accept{Accept: &peerv1.Accept{ChannelId: cid}}},
		{Body: &peerv1.Message_Error{Error: &peerv1.Error{ChannelId: cid, Code: 9, Message: "refused"}}},
	} {
		if err := s.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	alice.Pay(id, 10, "after")
	after, afterA := bob.Channel(id), alice.Channel(id)
	if after.Phase != before.Phase || after.MyBalance.Uint64() != before.MyBalance.Uint64()+10 || after.AckedNonce != before.AckedNonce ||
		afterA.MyBalance.Uint64() != beforeA.MyBalance.Uint64()-10 || after.CloseExpiry != 0 || !after.PeerWithdrawn.IsZero() {
		t.Fatalf("alice's channel moved: bob %+v → %+v, alice %+v → %+v", before, after, beforeA, afterA)
	}
}

// TestE2EProposeAbandonLoopIsBounded: proposing and abandoning in a loop
// does not get around the bound (a proposal given up still counts until it
// expires), and leaves nothing in the node's log or channel list.
func TestE2EProposeAbandonLoopIsBounded(t *testing.T) {
	chain := evmtest.NewChain(t)
	bob := nodetest.Start(t, chain, "bob", chain.Bob, func(c *node.Config) { c.MaxProposalsPerPeer = 3 })
	logBefore := bob.Store().LastSeq()
	s, _ := strangerConn(t, bob)
	accepted := 0
	for i := range 50 {
		propose(t, s, bob.USD)
		m, err := s.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if m.GetAccept() == nil {
			if e := m.GetError(); e == nil || e.GetCode() != 8 {
				t.Fatalf("proposal %d: got %v, want an accept or a resource-exhausted error", i, m)
			}
			continue
		}
		accepted++
		if err := s.Send(&peerv1.Message{Body: &peerv1.Message_Abandon{Abandon: &peerv1.Abandon{ChannelId: m.GetAccept().GetChannelId(), Reason: "again"}}}); err != nil {
			t.Fatal(err)
		}
	}
	if accepted != 3 {
		t.Fatalf("%d of 50 proposals, each abandoned at once, were accepted; want 3", accepted)
	}
	nodetest.Eventually(t, "bob forgets the abandoned proposals", func() bool {
		recs, err := bob.Store().Channels()
		return err == nil && len(recs) == 0 && len(bob.N().Channels(crypto.Address{}, true)) == 0
	})
	if got := bob.Store().LastSeq(); got != logBefore {
		t.Fatalf("bob's log grew from %d to %d entries for proposals never opened", logBefore, got)
	}
}

// TestE2ENoDialToStrangerAddress: a stranger that advertises an address
// (here a listener the test watches), proposes a channel and leaves does
// not make the node dial that address: before, the node redialled it
// every 2 s for ever, since "opening" counted as in use.
func TestE2ENoDialToStrangerAddress(t *testing.T) {
	chain := evmtest.NewChain(t)
	bob := nodetest.Start(t, chain, "bob", chain.Bob) // redials every 50 ms here
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	var dials atomic.Int32
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			dials.Add(1)
			c.Close()
		}
	}()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := bob.PeerConfig()
	cfg.Key, cfg.Certificate, cfg.ListenAddr = key, nil, lis.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := rpc.DialPeer(ctx, cfg, bob.Addr, bob.Key.Address())
	if err != nil {
		t.Fatal(err)
	}
	propose(t, conn, bob.USD)
	if acc, ref := answers(t, conn, 1); acc != 1 {
		t.Fatalf("the proposal was refused: %v", ref)
	}
	conn.Close(nil)
	time.Sleep(time.Second) // 20 redial periods
	if n := dials.Load(); n != 0 {
		t.Fatalf("bob dialled the stranger's advertised address %d times", n)
	}
}

// TestE2EStrangerSessionsAreBounded: any key can hold a session; those of
// peers that share no channel are bounded per source address (before, each
// stayed as long as it liked, and left its advertised address in memory
// for good), while a peer with a channel connects and pays as before.
// (TestStrangerSessionsBoundedInTotal covers the total.)
func TestE2EStrangerSessionsAreBounded(t *testing.T) {
	chain := evmtest.NewChain(t)
	alice := nodetest.Start(t, chain, "alice", chain.Alice)
	bob := nodetest.Start(t, chain, "bob", chain.Bob, func(c *node.Config) { c.MaxStrangerSessions, c.MaxStrangerSessionsPerSource = 10, 3 })
	id := alice.OpenUSD(bob, 1000)
	for range 3 {
		strangerConn(t, bob)
	}
	nodetest.Eventually(t, "bob serves the three strangers from 127.0.0.1, and alice", func() bool { return len(bob.N().Peers()) == 4 })
	s, _ := strangerConn(t, bob) // the handshake is the transport's; the node then says no
	m, err := s.Recv()
	if err == nil && (m.GetError() == nil || !strings.Contains(m.GetError().GetMessage(), "share no channel")) {
		t.Fatalf("a fourth stranger: got %v, want the session refused", m)
	}
	if err != nil && !strings.Contains(err.Error(), "share no channel") {
		t.Fatalf("a fourth stranger: %v, want the session refused for the bound", err)
	}
	alice.DropConnections() // a peer with a channel still gets in
	alice.Pay(id, 5, "after")
	if ci := bob.Channel(id); ci.MyBalance.Uint64() != 5 {
		t.Fatalf("bob's balance %s, want 5", ci.MyBalance.Dec())
	}
}

// TestE2EIdleConnectionsDoNotLockOutPayers: one host keeps 80 idle TCP
// connections open to Bob's peer port and reopens each as soon as it is
// closed (before, that filled the 64 handshake places and every honest
// connection failed). Alice, from another address, loses her connection
// during the attack, reconnects and pays.
func TestE2EIdleConnectionsDoNotLockOutPayers(t *testing.T) {
	chain := evmtest.NewChain(t)
	alice, bob := nodetest.Start(t, chain, "alice", chain.Alice), nodetest.Start(t, chain, "bob", chain.Bob)
	id := alice.OpenUSD(bob, 1000)
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	probe, err := d.Dial("tcp", bob.Addr)
	if err != nil {
		t.Skipf("cannot dial from 127.0.0.2 here: %v", err)
	}
	probe.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 80 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := d.Dial("tcp", bob.Addr)
				if err != nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				_, _ = c.Read(make([]byte, 1)) // idle until Bob closes it
				c.Close()
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	time.Sleep(200 * time.Millisecond) // the attack is under way
	// Every honest handshake gets through at once (with the old bound the
	// flood held all 64 places, and they failed until one freed).
	for i := range 10 {
		key, _ := crypto.GenerateKey()
		cfg := bob.PeerConfig()
		cfg.Key, cfg.Certificate, cfg.ListenAddr = key, nil, ""
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		conn, err := rpc.DialPeer(ctx, cfg, bob.Addr, bob.Key.Address())
		cancel()
		if err != nil {
			t.Fatalf("honest handshake %d during the flood: %v", i, err)
		}
		conn.Close(nil)
	}
	alice.DropConnections()
	for i := range 20 {
		alice.Pay(id, 1, fmt.Sprintf("during-%d", i)) // waits for the redial
	}
	if ci := bob.Channel(id); ci.MyBalance.Uint64() != 20 {
		t.Fatalf("bob's balance %s after 20 payments during the attack", ci.MyBalance.Dec())
	}
}
