package apps_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tinypay/tinypay/apps"
	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node"
	"github.com/tinypay/tinypay/node/nodetest"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
	"github.com/tinypay/tinypay/settlement/evm/evmtest"
	"github.com/tinypay/tinypay/store"
)

// TestTwoTicksInOneProofSurviveRestartReview5: a proof may carry two
// payments naming the same stream (nothing refuses it). The first is the
// stream's first tick: its record goes into the batch with received_nonce
// = the proof's nonce and one tick; the second is metered in memory but
// not written (one unwritten tick). After a restart the catch-up reads
// only proofs above that nonce: the second tick is lost for good.
func TestTwoTicksInOneProofSurviveRestartReview5(t *testing.T) {
	chain := evmtest.NewChain(t)
	alice := nodetest.Start(t, chain, "alice", chain.Alice)
	bob := nodetest.StartWithApps(t, chain, "bob", chain.Bob, func(c *apps.Config) { c.StallAfter = time.Hour }) // no stall: a stall writes the record whole
	id := alice.OpenUSD(bob, 1000)
	conn, _ := speakAsPayer(t, alice, bob, id, 0)
	info := bob.N().Info()
	dom := crypto.NewDomain(info.ChainID, info.Adjudicator)
	sid := [16]byte{9, 9}
	parts := []*peerv1.PaymentPart{
		{PaymentId: []byte(fmt.Sprintf("%032d", 1)), Amount: node.AmountBytes(u256(1)), StreamId: sid[:]},
		{PaymentId: []byte(fmt.Sprintf("%032d", 2)), Amount: node.AmountBytes(u256(2)), StreamId: sid[:]},
	}
	sig, _ := alice.Key.Sign(dom.BalanceProofDigest(id, 1, u256(3)))
	if err := conn.Send(&peerv1.Message{Body: &peerv1.Message_Proof{Proof: &peerv1.BalanceProof{ChannelId: id[:], Nonce: 1,
		Transferred: node.AmountBytes(u256(3)), Signature: sig[:], Parts: parts}}}); err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, "bob meters both ticks", func() bool { s, err := bob.Apps().Stream(sid); return err == nil && s.Ticks == 2 })
	nodetest.Eventually(t, "the proof is durable", func() bool { return bob.Channel(id).ReceivedNonce == 1 })
	before, _ := bob.Apps().Stream(sid)
	conn.Close(nil)
	bob.Restart()
	after, err := bob.Apps().Stream(sid)
	if err != nil {
		t.Fatal(err)
	}
	if after.Ticks != before.Ticks || !after.Paid.Eq(&before.Paid) {
		t.Fatalf("after bob's restart the stream holds %d ticks, %s paid; before it %d, %s", after.Ticks, after.Paid.Dec(), before.Ticks, before.Paid.Dec())
	}
}

// TestLargeProofAfterLiveRecordLetsNodeStartReview5: a peer may send a
// proof of up to maxPartsAhead (65,536) payments through ProofParts, but
// catchUpStream takes a proof of more than catchUpPage (2*maxParts =
// 8,192) payments for an error, and loadStreams fails Start with it. A
// payer that paid one tick of a stream (a live record at nonce 1) and then
// a proof of 8,193 one-unit payments leaves the payee unable to start
// again until something rewrites that record, which only a running node
// does.
func TestLargeProofAfterLiveRecordLetsNodeStartReview5(t *testing.T) {
	chain := evmtest.NewChain(t)
	alice := nodetest.Start(t, chain, "alice", chain.Alice)
	bob := nodetest.StartWithApps(t, chain, "bob", chain.Bob, func(c *apps.Config) { c.StallAfter = time.Hour }) // no stall: a stall writes the record whole
	id := alice.OpenUSD(bob, 1_000_000)
	conn, _ := speakAsPayer(t, alice, bob, id, 0)
	info := bob.N().Info()
	dom := crypto.NewDomain(info.ChainID, info.Adjudicator)
	sid := [16]byte{7, 7}
	pid := func(i int) []byte { return []byte(fmt.Sprintf("%032d", i)) }
	sig, _ := alice.Key.Sign(dom.BalanceProofDigest(id, 1, u256(1)))
	if err := conn.Send(&peerv1.Message{Body: &peerv1.Message_Proof{Proof: &peerv1.BalanceProof{ChannelId: id[:], Nonce: 1,
		Transferred: node.AmountBytes(u256(1)), Signature: sig[:],
		Parts: []*peerv1.PaymentPart{{PaymentId: pid(1), Amount: node.AmountBytes(u256(1)), StreamId: sid[:]}}}}}); err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, "bob meters the tick", func() bool { s, err := bob.Apps().Stream(sid); return err == nil && s.Ticks == 1 })
	const n = 2*4096 + 1
	var parts []*peerv1.PaymentPart
	for i := range n {
		parts = append(parts, &peerv1.PaymentPart{PaymentId: pid(10 + i), Amount: node.AmountBytes(u256(1))})
	}
	for start := 0; start+4096 < n; start += 4096 {
		if err := conn.Send(&peerv1.Message{Body: &peerv1.Message_ProofParts{ProofParts: &peerv1.ProofParts{ChannelId: id[:], Nonce: 2, Parts: parts[start : start+4096]}}}); err != nil {
			t.Fatal(err)
		}
	}
	sig, _ = alice.Key.Sign(dom.BalanceProofDigest(id, 2, u256(1+n)))
	if err := conn.Send(&peerv1.Message{Body: &peerv1.Message_Proof{Proof: &peerv1.BalanceProof{ChannelId: id[:], Nonce: 2,
		Transferred: node.AmountBytes(u256(1 + n)), Signature: sig[:], Parts: parts[n-n%4096:]}}}); err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, "bob takes the proof of 8,193 payments", func() bool { return bob.Channel(id).ReceivedNonce == 2 })
	conn.Close(nil)
	bob.Stop()
	// Start bob's application layer on his store again (as nodetest's start
	// does): loading the streams fails before it needs the node.
	st, err := store.Open(store.DefaultConfig(filepath.Join(bob.Dir, "db")))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, err := apps.New(apps.DefaultConfig(), apps.Deps{Key: bob.Key, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop()
	err = func() (err error) {
		defer func() { recover() }() // past the catch-up, loadStreams asks the (absent) node about channels
		return a.Start(nil)
	}()
	if err != nil {
		t.Fatalf("bob's application layer does not start again: %v", err)
	}
}
