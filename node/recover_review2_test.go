package node

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
)

// From a hostile review of the recovery that never gives up (a14c231) and
// of a2ff240: each failed before the fix of the same commit.

// R2-2 (P3): while a recovery waits for its retry, every Reestablish of the
// peer on the same session asks again at once (r.sess != s, since the
// retry's recovery has no session), bypassing the doubling pause, and every
// bad answer writes two warning events to the log: a hostile peer grows
// the log without bound (cf. TestReestablishFlood).
func TestReview2RecoveryRetryFlood(t *testing.T) {
	alice, _, id, _, r := lostPayment(t)
	held := mustChannelOf(t, alice, id).state().Sent
	before := alice.st.LastSeq()
	asked := countRecoverRequests(r)
	const rounds = 30
	for range rounds {
		r.send(&peerv1.Message{Body: &peerv1.Message_Recovered{Recovered: &peerv1.Recovered{ChannelId: id[:]}}}) // bad: empty
		r.send(&peerv1.Message{Body: &peerv1.Message_Reestablish{Reestablish: &peerv1.Reestablish{ChannelId: id[:], Held: proofMessage(held, nil)}}})
	}
	time.Sleep(1500 * time.Millisecond) // the first pause is 1 s
	if err := mustChannelOf(t, alice, id).stepAndWait(t.Context(), func() {}); err != nil {
		t.Fatal(err)
	}
	if n, grown := asked.Load(), alice.st.LastSeq()-before; n > 1 || grown > 4 {
		t.Fatalf("%d bad answers, each followed by a Reestablish on the same session: %d requests again and %d log entries in 1.5 s; want at most one (the pause starts at 1 s)", rounds, n, grown)
	}
	if !strings.Contains(alice.channel(id).Behind, "bad data") {
		t.Fatalf("behind %q, want the bad data named", alice.channel(id).Behind)
	}
}

// R2-3 (P3): the behind state takes the peer's claimed SentNonce unbounded
// (markBehind's peerSent: c.peerSent since a2ff240) and only ever raises it
// (peerReestablished: max): a peer that claims a huge nonce once keeps the
// channel behind for good, even after an honest Reestablish on a new
// session. caughtUp ignores a claim more than maxClaimedAhead ahead.
func TestReview2ClaimedSentNonceKeepsBehindForever(t *testing.T) {
	alice, bob, id, _, r := lostPayment(t)
	// Bob's first Reestablish (in lostPayment) claimed nothing; claim a lot
	// on a second one before the recovery is answered: the same as a first
	// one carrying the claim.
	r.conn.Close(nil)
	waitFor(t, "alice dropped the session", func() bool { return alice.n.peers.session(bob.key.Address()) == nil })
	held := mustChannelOf(t, alice, id).state().Sent
	r = dialRaw(t, bob.key.Address(), alice)
	r.send(&peerv1.Message{Body: &peerv1.Message_Reestablish{Reestablish: &peerv1.Reestablish{ChannelId: id[:], Held: proofMessage(held, nil), SentNonce: 1 << 40}}})
	if req := r.next().GetRecoverRequest(); req == nil {
		t.Fatal("no recover request")
	}
	r.send(&peerv1.Message{Body: &peerv1.Message_Recovered{Recovered: &peerv1.Recovered{ChannelId: id[:], Payments: []*peerv1.RecoveredPayment{{
		Nonce: 2, Cumulative: amountBytes(u256(12)),
		Part: &peerv1.PaymentPart{PaymentId: rid(0x77), Amount: amountBytes(u256(7)), IdempotencyKey: "lost"},
	}}}}})
	waitFor(t, "the records are restored", func() bool { _, err := alice.st.PaymentByIdempotencyKey("lost"); return err == nil })
	// A new session, an honest claim.
	r.conn.Close(nil)
	waitFor(t, "alice dropped the session", func() bool { return alice.n.peers.session(bob.key.Address()) == nil })
	r = dialRaw(t, bob.key.Address(), alice)
	r.send(&peerv1.Message{Body: &peerv1.Message_Reestablish{Reestablish: &peerv1.Reestablish{ChannelId: id[:], Held: proofMessage(held, nil)}}})
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if alice.channel(id).Behind == "" {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("records restored, the peer now claims nothing, still behind: %q", alice.channel(id).Behind)
}

// R2-4 (P3): a channel settled while its recovery failed keeps asking the
// peer for the records, every pause up to 5 minutes, as long as the
// session lasts: retryRecovery and its timer look at no phase.
func TestReview2SettledChannelStopsAsking(t *testing.T) {
	alice, _, id, _, r := lostPayment(t)
	r.send(&peerv1.Message{Body: &peerv1.Message_Recovered{Recovered: &peerv1.Recovered{ChannelId: id[:]}}}) // bad: empty
	waitFor(t, "alice refuses the data", func() bool { return strings.Contains(alice.channel(id).Behind, "bad data") })
	asked := countRecoverRequests(r)
	forceCloseAndSettle(t, alice, id)
	time.Sleep(1500 * time.Millisecond) // a request set off before the settle
	n0 := asked.Load()
	time.Sleep(8 * time.Second) // RequestTimeout, then pauses of 2 s, 4 s
	t.Logf("phase %v, behind %q", alice.channel(id).Phase, alice.channel(id).Behind)
	if got := asked.Load() - n0; got > 0 {
		t.Fatalf("the settled channel asked the peer again %d times", got)
	}
}

// countRecoverRequests reads what the node sends on r from now on, and
// counts its RecoverRequests.
func countRecoverRequests(r *rawPeer) *atomic.Int32 {
	var asked atomic.Int32
	go func() {
		for {
			m, err := r.conn.Recv()
			if err != nil {
				return
			}
			if m.GetRecoverRequest() != nil {
				asked.Add(1)
			}
		}
	}()
	return &asked
}
