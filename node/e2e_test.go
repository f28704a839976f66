package node_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/holiman/uint256"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node"
	"github.com/tinypay/tinypay/node/nodetest"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc"
	"github.com/tinypay/tinypay/settlement"
	"github.com/tinypay/tinypay/settlement/evm/evmtest"
)

// TestE2ECooperativeCloseOnChain: a USD channel between two nodes over TLS,
// payments both ways, cooperative close; the token balances on chain move
// by exactly the off-chain balances.
func TestE2ECooperativeCloseOnChain(t *testing.T) {
	chain := evmtest.NewChain(t)
	alice, bob := nodetest.Start(t, chain, "alice", chain.Alice), nodetest.Start(t, chain, "bob", chain.Bob)
	aliceStart, bobStart := alice.Wallet(), bob.Wallet()
	id := alice.OpenUSD(bob, 5_000_000)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				alice.Pay(id, 100, fmt.Sprintf("a%d-%d", g, i))
			}
		}()
	}
	wg.Wait()
	bob.Pay(id, 7_000, "back")
	if _, err := bob.N().CloseChannel(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, "alice sees the close", func() bool { return alice.Channel(id).Phase == channel.Settled })
	// Alice paid 40,000 and got 7,000 back.
	if got := int64(alice.Wallet()) - int64(aliceStart); got != -33_000 {
		t.Fatalf("alice's wallet moved by %d, want -33000", got)
	}
	if got := bob.Wallet() - bobStart; got != 33_000 {
		t.Fatalf("bob's wallet moved by %d, want 33000", got)
	}
}

// TestE2EMalloryStaleCloseRestart is the named-role scenario on the real
// chain: Mallory pays Bob, then force-closes presenting a stale proof of her
// own; Bob is down, comes back inside the challenge period, presents
// Mallory's newest proof, and his watcher settles after the period.
func TestE2EMalloryStaleCloseRestart(t *testing.T) {
	chain := evmtest.NewChain(t)
	mallory, bob := nodetest.Start(t, chain, "mallory", chain.Mallory), nodetest.Start(t, chain, "bob", chain.Bob)
	bobStart := bob.Wallet()
	id := mallory.OpenUSD(bob, 1_000_000)
	stale := mallory.Pay(id, 10, "m0")
	for i := range 30 {
		mallory.Pay(id, 1000, fmt.Sprintf("m%d", i+1))
	}
	if stale.Cumulative.Uint64() != 10 {
		t.Fatalf("first payment's cumulative %d", stale.Cumulative.Uint64())
	}
	bob.Stop()
	mallory.Stop()
	// Mallory signs nothing new: she presents her own first proof (10),
	// which she can rebuild, as her stale claim.
	dom := crypto.NewDomain(evmtest.ChainID, crypto.Address(chain.Adjudicator))
	sig, err := chain.Mallory.Sign(dom.BalanceProofDigest(id, 1, uint256.NewInt(10)))
	if err != nil {
		t.Fatal(err)
	}
	mb := chain.Backend(t, chain.Mallory)
	params := findParams(t, mb, id)
	if _, err := mb.ForceClose(context.Background(), params, settlement.Proof{}, settlement.Proof{Nonce: 1, Transferred: *uint256.NewInt(10), Sig: sig}); err != nil {
		t.Fatal(err)
	}
	chain.Advance(t, 40) // Bob is down for 40 of the 100 seconds
	bob.Start()
	nodetest.Eventually(t, "bob presents mallory's newest proof", func() bool {
		oc, err := mb.Channel(context.Background(), id)
		return err == nil && oc.Transferred[channel.A].Uint64() == 30_010
	})
	chain.Advance(t, 120)
	nodetest.Eventually(t, "bob's watcher settles", func() bool { return bob.Channel(id).Phase == channel.Settled })
	if got := bob.Wallet() - bobStart; got != 30_010 {
		t.Fatalf("bob was paid %d, want 30010", got)
	}
}

func findParams(t *testing.T, b settlement.EventSource, id channel.ID) settlement.Params {
	t.Helper()
	evs, _, err := b.Events(context.Background(), settlement.Cursor{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Kind == settlement.EventOpened && ev.Channel == id {
			return ev.Params
		}
	}
	t.Fatal("channel not found on chain")
	return settlement.Params{}
}

// TestE2EDroppedConnection: the connection drops in the middle of a stream
// of payments; the nodes reconnect, reestablish, and every payment arrives
// exactly once.
func TestE2EDroppedConnection(t *testing.T) {
	chain := evmtest.NewChain(t)
	alice, bob := nodetest.Start(t, chain, "alice", chain.Alice), nodetest.Start(t, chain, "bob", chain.Bob)
	id := alice.OpenUSD(bob, 10_000_000)
	const payers, each = 4, 100
	var wg sync.WaitGroup
	for g := range payers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				alice.Pay(id, 1, fmt.Sprintf("d%d-%d", g, i))
				if g == 0 && i == each/2 {
					alice.DropConnections()
				}
			}
		}()
	}
	wg.Wait()
	nodetest.Eventually(t, "bob holds every payment", func() bool { r := bob.Channel(id).Received; return r.Uint64() == payers*each })
	var pays []node.PaymentInfo
	nodetest.Eventually(t, "bob logs every payment", func() bool { // durable a moment after the total
		var err error
		pays, _, err = bob.N().Payments(0, 1000, id)
		return err == nil && len(pays) >= payers*each
	})
	seen := map[[32]byte]bool{}
	for _, p := range pays {
		if seen[p.RemoteID] {
			t.Fatalf("payment %x logged twice", p.RemoteID[:4])
		}
		seen[p.RemoteID] = true
	}
	if len(pays) != payers*each {
		t.Fatalf("bob logged %d payments, want %d", len(pays), payers*each)
	}
}

// TestE2EControlAPIAuth: the control API refuses calls without the token or
// with a wrong one, serves reflection without it, and validates arguments
// without changing anything.
func TestE2EControlAPIAuth(t *testing.T) {
	chain := evmtest.NewChain(t)
	alice, bob := nodetest.Start(t, chain, "alice", chain.Alice), nodetest.Start(t, chain, "bob", chain.Bob)
	id := alice.OpenUSD(bob, 1_000_000)
	tokenPath := filepath.Join(alice.Dir, "api.token")
	token, err := rpc.LoadOrCreateToken(tokenPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(tokenPath); fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v", fi.Mode().Perm())
	}
	dial := alice.Dial // the node's API server checks tokens as tinypayd's does
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		tok  string
	}{{"no token", ""}, {"wrong token", "00" + token[2:]}, {"short token", token[:10]}} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dial(tc.tok).Pay(ctx, &apiv1.PayRequest{ChannelId: id.Hex(), Amount: "1", IdempotencyKey: "x"})
			if status.Code(err) != codes.Unauthenticated {
				t.Fatalf("Pay = %v, want Unauthenticated", err)
			}
			stream, err := dial(tc.tok).SubscribeEvents(ctx, &apiv1.SubscribeEventsRequest{})
			if err == nil {
				_, err = stream.Recv()
			}
			if status.Code(err) != codes.Unauthenticated {
				t.Fatalf("SubscribeEvents = %v, want Unauthenticated", err)
			}
		})
	}
	good := dial(token)
	for _, tc := range []struct {
		name string
		req  *apiv1.PayRequest
		want codes.Code
	}{
		{"no key", &apiv1.PayRequest{ChannelId: id.Hex(), Amount: "1"}, codes.InvalidArgument},
		{"zero", &apiv1.PayRequest{ChannelId: id.Hex(), Amount: "0", IdempotencyKey: "k"}, codes.InvalidArgument},
		{"negative", &apiv1.PayRequest{ChannelId: id.Hex(), Amount: "-5", IdempotencyKey: "k"}, codes.InvalidArgument},
		{"fraction", &apiv1.PayRequest{ChannelId: id.Hex(), Amount: "1.5", IdempotencyKey: "k"}, codes.InvalidArgument},
		{"overflow", &apiv1.PayRequest{ChannelId: id.Hex(), Amount: "1" + fmt.Sprint(new(uint256.Int).SetAllOne().Dec()), IdempotencyKey: "k"}, codes.InvalidArgument},
		{"over balance", &apiv1.PayRequest{ChannelId: id.Hex(), Amount: "1000001", IdempotencyKey: "k"}, codes.FailedPrecondition},
		{"bad channel id", &apiv1.PayRequest{ChannelId: "0x12", Amount: "1", IdempotencyKey: "k"}, codes.InvalidArgument},
		{"unknown channel", &apiv1.PayRequest{ChannelId: crypto.Hash{1}.Hex(), Amount: "1", IdempotencyKey: "k"}, codes.NotFound},
		{"bad peer", &apiv1.PayRequest{Peer: "0xabc", Amount: "1", IdempotencyKey: "k"}, codes.InvalidArgument},
		{"unknown asset", &apiv1.PayRequest{Peer: bob.Key.Address().Hex(), Asset: "DOGE", Amount: "1", IdempotencyKey: "k"}, codes.InvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := good.Pay(ctx, tc.req)
			if status.Code(err) != tc.want {
				t.Fatalf("Pay = %v, want %s", err, tc.want)
			}
		})
	}
	if ci := alice.Channel(id); ci.SentNonce != 0 {
		t.Fatalf("refused calls changed the channel: sent nonce %d", ci.SentNonce)
	}
	p, err := good.Pay(ctx, &apiv1.PayRequest{Peer: bob.Key.Address().Hex(), Asset: "USD", Amount: "25", IdempotencyKey: "ok", ItemId: "song"})
	if err != nil || p.GetStatus() != "complete" || p.GetAmount() != "25" {
		t.Fatalf("good Pay = %v, %v", p, err)
	}
}
