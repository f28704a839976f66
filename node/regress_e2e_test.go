package node_test

import (
	"context"
	"math/big"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tinypay/tinypay/node"
	"github.com/tinypay/tinypay/node/nodetest"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/settlement"
	"github.com/tinypay/tinypay/settlement/evm/evmtest"
)

// These tests drive real nodes (the EVM backend on a simulated chain, the
// TLS peer transport, badger, the control API) through the control API
// only, each for one defect of the node as it was before its core was
// rebuilt around one owner per channel.

// apiCtx bounds one API call: a node that hangs fails the test.
func apiCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestE2ESecondPayerOfOfferIsRefunded: Alice and Carol both pay Bob's
// once-only offer. Carol's payment is refused (it was Alice's) and the
// money comes back; Carol's node keeps answering, and after restarts the
// refused payment is not paid after all.
func TestE2ESecondPayerOfOfferIsRefunded(t *testing.T) {
	chain := evmtest.NewChain(t)
	alice, bob, carol := nodetest.Start(t, chain, "alice", chain.Alice), nodetest.Start(t, chain, "bob", chain.Bob), nodetest.Start(t, chain, "carol", chain.Carol)
	alice.OpenUSD(bob, 1000)
	fromCarol := carol.OpenUSD(bob, 1000)
	a, b, c := alice.API(), bob.API(), carol.API()
	offer, err := b.CreateOffer(apiCtx(t), &apiv1.CreateOfferRequest{ItemId: "song-42", Asset: "USD", Price: "250", TtlSeconds: 60})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Pay(apiCtx(t), &apiv1.PayRequest{Offer: offer}); err != nil {
		t.Fatal(err)
	}
	_, err = c.Pay(apiCtx(t), &apiv1.PayRequest{Offer: offer})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("carol pays alice's once-only offer: %v, want FAILED_PRECONDITION (refused and refunded)", err)
	}
	// Carol's node answers, and her money is back.
	nodetest.Eventually(t, "carol is refunded", func() bool {
		ch, err := c.GetChannel(apiCtx(t), &apiv1.GetChannelRequest{ChannelId: fromCarol.Hex()})
		return err == nil && ch.GetMyBalance() == "1000"
	})
	carol.Restart()
	bob.Restart()
	nodetest.Eventually(t, "carol reconnects", func() bool { return carol.Channel(fromCarol).Connected })
	time.Sleep(300 * time.Millisecond)
	ch, err := carol.API().GetChannel(apiCtx(t), &apiv1.GetChannelRequest{ChannelId: fromCarol.Hex()})
	if err != nil || ch.GetMyBalance() != "1000" {
		t.Fatalf("carol's channel after the restarts: %v %v: the refused payment moved later", ch, err)
	}
	rev, err := bob.API().Revenue(apiCtx(t), &apiv1.RevenueRequest{GroupBy: "peer"})
	if err != nil || len(rev.GetRows()) != 1 || rev.GetRows()[0].GetAmount() != "250" {
		t.Fatalf("bob's revenue %v %v: want alice's 250 only", rev, err)
	}
}

// TestE2EFailedOpenIsAbandoned: an open that fails on chain (the wallet
// cannot cover the deposit) after the peer accepted leaves no channel stuck
// "opening": it is abandoned on both sides; the opener lists it only with
// --all, and the peer, which had nothing in it, forgets it.
func TestE2EFailedOpenIsAbandoned(t *testing.T) {
	chain := evmtest.NewChain(t)
	alice, bob := nodetest.Start(t, chain, "alice", chain.Alice), nodetest.Start(t, chain, "bob", chain.Bob)
	a := alice.API()
	if _, err := a.ConnectPeer(apiCtx(t), &apiv1.ConnectPeerRequest{HostPort: bob.Addr, Address: bob.Key.Address().Hex()}); err != nil {
		t.Fatal(err)
	}
	tooMuch := new(big.Int).Add(evmtest.FundUSD, big.NewInt(1))
	_, err := a.OpenChannel(apiCtx(t), &apiv1.OpenChannelRequest{Peer: bob.Key.Address().Hex(), Asset: "USD", Deposit: tooMuch.String()})
	if err == nil {
		t.Fatal("opened a channel with more than the wallet holds")
	}
	nodetest.Eventually(t, "alice abandons the channel", func() bool {
		all, err := a.ListChannels(apiCtx(t), &apiv1.ListChannelsRequest{All: true})
		return err == nil && len(all.GetChannels()) == 1 && all.GetChannels()[0].GetPhase() == "abandoned"
	})
	nodetest.Eventually(t, "bob forgets the channel", func() bool {
		all, err := bob.API().ListChannels(apiCtx(t), &apiv1.ListChannelsRequest{All: true})
		return err == nil && len(all.GetChannels()) == 0
	})
	for _, n := range []*nodetest.Node{alice, bob} {
		open, err := n.API().ListChannels(apiCtx(t), &apiv1.ListChannelsRequest{})
		if err != nil || len(open.GetChannels()) != 0 {
			t.Fatalf("%s lists %v %v without --all", n.Name, open, err)
		}
	}
	// And after a restart it stays so.
	alice.Restart()
	all, err := alice.API().ListChannels(apiCtx(t), &apiv1.ListChannelsRequest{All: true})
	if err != nil || len(all.GetChannels()) != 1 || all.GetChannels()[0].GetPhase() != "abandoned" {
		t.Fatalf("after a restart: %v %v", all, err)
	}
}

// TestE2ESettleRightAfterThePeriod: the operator settles as soon as the
// chain is past the challenge period, although the node's own view of the
// chain's time lags (its watcher has not polled since): the chain decides.
func TestE2ESettleRightAfterThePeriod(t *testing.T) {
	chain := evmtest.NewChain(t)
	slow := func(c *node.Config) { c.ChainPoll = time.Hour }
	alice, bob := nodetest.Start(t, chain, "alice", chain.Alice, slow), nodetest.Start(t, chain, "bob", chain.Bob)
	id := alice.OpenUSD(bob, 1000)
	alice.Pay(id, 100, "p")
	a := alice.API()
	ch, err := a.ForceClose(apiCtx(t), &apiv1.ForceCloseRequest{ChannelId: id.Hex()})
	if err != nil {
		t.Fatal(err)
	}
	if ch.GetPhase() != "closed" || ch.GetSettleAfter() == 0 {
		t.Fatalf("after force close: %v", ch)
	}
	if _, err := a.Settle(apiCtx(t), &apiv1.SettleRequest{ChannelId: id.Hex()}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("settle inside the period: %v, want FAILED_PRECONDITION", err)
	}
	chain.Advance(t, ch.GetSettleAfter()-chain.Now(t)+1)
	ch, err = a.Settle(apiCtx(t), &apiv1.SettleRequest{ChannelId: id.Hex()})
	if err != nil {
		t.Fatalf("settle right after the period: %v", err)
	}
	if ch.GetPhase() != "settled" {
		t.Fatalf("phase %s after settle", ch.GetPhase())
	}
}

// TestE2ESettleAfterThePeerSettled: the operator settles a channel the
// peer has already settled on chain (its watcher or its operator was
// first): the contract refuses the second settle, and the node reports the
// channel settled, not a failure.
func TestE2ESettleAfterThePeerSettled(t *testing.T) {
	chain := evmtest.NewChain(t)
	slow := func(c *node.Config) { c.ChainPoll = time.Hour }
	alice, bob := nodetest.Start(t, chain, "alice", chain.Alice, slow), nodetest.Start(t, chain, "bob", chain.Bob)
	id := alice.OpenUSD(bob, 1000)
	alice.Pay(id, 100, "p")
	ch, err := alice.API().ForceClose(apiCtx(t), &apiv1.ForceCloseRequest{ChannelId: id.Hex()})
	if err != nil {
		t.Fatal(err)
	}
	chain.Advance(t, ch.GetSettleAfter()-chain.Now(t)+1)
	// bob settles first (or his watcher's duty does: either way the
	// channel is settled on chain before alice asks).
	nodetest.Eventually(t, "bob sees the force close", func() bool {
		c, err := bob.API().GetChannel(apiCtx(t), &apiv1.GetChannelRequest{ChannelId: id.Hex()})
		return err == nil && c.GetPhase() != "open"
	})
	if _, err := bob.API().Settle(apiCtx(t), &apiv1.SettleRequest{ChannelId: id.Hex()}); err != nil && status.Code(err) != codes.Aborted {
		t.Fatalf("bob's settle: %v", err)
	}
	onChain := chain.Backend(t, chain.Bob)
	nodetest.Eventually(t, "the channel settled on chain", func() bool {
		oc, err := onChain.Channel(apiCtx(t), id)
		return err == nil && oc.Phase == settlement.PhaseSettled
	})
	ch, err = alice.API().Settle(apiCtx(t), &apiv1.SettleRequest{ChannelId: id.Hex()})
	if err != nil {
		t.Fatalf("alice's settle after bob's: %v", err)
	}
	if ch.GetPhase() != "settled" {
		t.Fatalf("phase %s after settle", ch.GetPhase())
	}
}

// TestE2EStreamKeepsItsAsset: a stream's asset (address, symbol, decimals)
// survives a restart of either side.
func TestE2EStreamKeepsItsAsset(t *testing.T) {
	chain := evmtest.NewChain(t)
	alice, bob := nodetest.Start(t, chain, "alice", chain.Alice), nodetest.Start(t, chain, "bob", chain.Bob)
	id := alice.OpenUSD(bob, 1_000_000)
	st, err := alice.API().StartStream(apiCtx(t), &apiv1.StartStreamRequest{ChannelId: id.Hex(), Rate: "1000", TickMs: 100})
	if err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, "bob meters the stream", func() bool {
		s, err := bob.API().GetStream(apiCtx(t), &apiv1.GetStreamRequest{StreamId: st.GetId()})
		return err == nil && s.GetTicks() >= 2
	})
	alice.Restart()
	bob.Restart()
	for _, n := range []*nodetest.Node{alice, bob} {
		s, err := n.API().GetStream(apiCtx(t), &apiv1.GetStreamRequest{StreamId: st.GetId()})
		if err != nil {
			t.Fatal(err)
		}
		if a := s.GetAsset(); a.GetSymbol() != "USD" || a.GetDecimals() != 6 || a.GetAddress() != n.USD.Hex() {
			t.Fatalf("%s's stream after a restart has asset %v, want USD (%s, 6 decimals)", n.Name, a, n.USD.Hex())
		}
	}
	if _, err := alice.API().StopStream(apiCtx(t), &apiv1.StopStreamRequest{StreamId: st.GetId()}); err != nil {
		t.Fatal(err)
	}
}
