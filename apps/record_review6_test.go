package apps_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/tinypay/tinypay/apps"
	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node"
	"github.com/tinypay/tinypay/node/nodetest"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
	"github.com/tinypay/tinypay/settlement/evm/evmtest"
)

// TestTickShortenedAfterLoadKeepsTicksReview6: a stream of a 2 s tick is
// written whole each tick (received_nonce 0). Bob restarts: the loaded
// stream's in-memory nonce is 0 (streamFromRecord does not restore it and
// catchUp has nothing to count). The payer then shortens the tick to 1 s:
// onStreamStart's persistStream writes the record lagging, but with
// received_nonce = st.nonce = 0, and sets writtenAt, so the next ticks stay
// unwritten. After another restart the record says "counts everything"
// and the ticks since are lost.
func TestTickShortenedAfterLoadKeepsTicksReview6(t *testing.T) {
	chain := evmtest.NewChain(t)
	alice := nodetest.Start(t, chain, "alice", chain.Alice)
	bob := nodetest.StartWithApps(t, chain, "bob", chain.Bob, func(c *apps.Config) { c.StallAfter = time.Hour })
	id := alice.OpenUSD(bob, 1000)
	conn, _ := speakAsPayer(t, alice, bob, id, 0)
	info := bob.N().Info()
	dom := crypto.NewDomain(info.ChainID, info.Adjudicator)
	sid := [16]byte{6, 6}
	var total uint64
	nonce := uint64(0)
	send := func(c interface{ Send(*peerv1.Message) error }) {
		t.Helper()
		nonce++
		total++
		sig, _ := alice.Key.Sign(dom.BalanceProofDigest(id, nonce, u256(total)))
		if err := c.Send(&peerv1.Message{Body: &peerv1.Message_Proof{Proof: &peerv1.BalanceProof{ChannelId: id[:], Nonce: nonce,
			Transferred: node.AmountBytes(u256(total)), Signature: sig[:],
			Parts: []*peerv1.PaymentPart{{PaymentId: []byte(fmt.Sprintf("%032d", nonce)), Amount: node.AmountBytes(u256(1)), StreamId: sid[:]}}}}}); err != nil {
			t.Fatal(err)
		}
		n := nonce
		nodetest.Eventually(t, "bob takes the proof", func() bool { return bob.Channel(id).ReceivedNonce == n })
	}
	end := time.Now().Add(time.Hour)
	if err := conn.Send(streamStart(sid, id, 1, 2000, 1000, end, "")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	send(conn)
	send(conn)
	conn.Close(nil)
	bob.Restart()

	conn, _ = speakAsPayer(t, alice, bob, id, nonce)
	if err := conn.Send(streamStart(sid, id, 1, 1000, 1000, end, "")); err != nil { // the tick shortened
		t.Fatal(err)
	}
	nodetest.Eventually(t, "bob takes the new tick", func() bool { s, err := bob.Apps().Stream(sid); return err == nil && s.Tick == time.Second })
	time.Sleep(300 * time.Millisecond) // the record of the new terms is written
	for range 3 {
		send(conn)
	}
	before, _ := bob.Apps().Stream(sid)
	if before.Ticks != 5 {
		t.Fatalf("bob metered %d ticks, want 5", before.Ticks)
	}
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
