package apps_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tinypay/tinypay/apps"
	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node"
	"github.com/tinypay/tinypay/node/nodetest"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
	"github.com/tinypay/tinypay/settlement/evm/evmtest"
)

// trio starts alice and carol, each with a USD channel to bob holding
// deposit, on one simulated chain.
func trio(t *testing.T, deposit uint64) (alice, bob, carol *nodetest.Node, fromAlice, fromCarol channel.ID) {
	chain := evmtest.NewChain(t)
	alice, bob, carol = nodetest.Start(t, chain, "alice", chain.Alice), nodetest.Start(t, chain, "bob", chain.Bob), nodetest.Start(t, chain, "carol", chain.Carol)
	return alice, bob, carol, alice.OpenUSD(bob, deposit), carol.OpenUSD(bob, deposit)
}

// offerPayload is what a payment carries of o.
func offerPayload(o apps.Offer) *node.Offer {
	return &node.Offer{ID: o.ID, ItemID: o.ItemID, Asset: o.Asset, Price: o.Price, Expiry: o.Expiry, Sig: o.Sig, Uses: o.Uses.Policy, MaxUses: o.Uses.Max}
}

// payAround pays o through the node alone, skipping the payer's own
// checks of the application layer (as a payer of another make could):
// only the payee's checks stand.
func payAround(t *testing.T, payer *nodetest.Node, id channel.ID, o apps.Offer, key string) (node.PaymentInfo, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return payer.N().Pay(ctx, node.PayRequest{Channel: id, Amount: o.Price, Key: key, ItemID: o.ItemID, Receipt: true, Offer: offerPayload(o)})
}

func buy(t *testing.T, payer *nodetest.Node, o apps.Offer, key string) (node.PaymentInfo, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return payer.Apps().Pay(ctx, apps.PayRequest{Offer: &o, Key: key})
}

// refunded checks that err is the payee's refusal, refunded, for reason.
func refunded(t *testing.T, what string, err error, reason string) {
	t.Helper()
	var r *node.RefusedError
	if !errors.As(err, &r) || !errors.Is(err, node.ErrRefunded) || !strings.Contains(r.Reason, reason) {
		t.Fatalf("%s: %v, want refused (%s) and refunded", what, err, reason)
	}
}

func peerBalance(n *nodetest.Node, id channel.ID) uint64 {
	c := n.Channel(id)
	return c.PeerBalance.Uint64()
}

func usage(t *testing.T, payee *nodetest.Node, o apps.Offer) apps.OfferUsage {
	t.Helper()
	u, err := payee.Apps().OfferUses(o)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestReusableOffers: Bob sells under each use policy to Alice and Carol.
// A per-payer offer is bought once by each, and a second purchase by the
// same payer is refused: by her own node, and by Bob's (refunded) when her
// node is bypassed. A limited offer sells its uses to anyone, then is sold
// out (refunded). An unlimited one sells as often as asked, once per
// idempotency key. Every receipt names its payer; Bob's counts and
// revenue hold the payments he kept and none he refunded.
func TestReusableOffers(t *testing.T) {
	alice, bob, carol, fromAlice, fromCarol := trio(t, 1000)
	b := bob.Apps()

	// Once per payer.
	course, err := b.CreateOffer("course", bob.USD, *u256(10), time.Minute, apps.OncePerPayer)
	if err != nil {
		t.Fatal(err)
	}
	pa, err := buy(t, alice, course, "")
	if err != nil {
		t.Fatal(err)
	}
	checkReceipt(t, bob, pa, alice.Key.Address())
	pc, err := buy(t, carol, course, "")
	if err != nil {
		t.Fatal(err)
	}
	checkReceipt(t, bob, pc, carol.Key.Address())
	var paid *apps.OfferPaidError
	if _, err := buy(t, alice, course, ""); !errors.As(err, &paid) || paid.Payment.ID != pa.ID {
		t.Fatalf("alice buys a per-payer offer again: %v, want her first payment back", err)
	}
	if _, err := buy(t, alice, course, "another-key"); !errors.Is(err, node.ErrInvalidArgument) {
		t.Fatalf("a per-payer offer under another key: %v, want ErrInvalidArgument", err)
	}
	_, err = payAround(t, alice, fromAlice, course, "around")
	refunded(t, "alice pays a per-payer offer again, around her node's check", err, "offer already paid by this payer")

	// Up to 2 in all.
	ticket, err := b.CreateOffer("ticket", bob.USD, *u256(5), time.Minute, apps.UpTo(2))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := buy(t, alice, ticket, ""); !errors.Is(err, node.ErrInvalidArgument) {
		t.Fatalf("a limited offer without a key: %v, want ErrInvalidArgument", err)
	}
	ta, err := buy(t, alice, ticket, "ticket-a")
	if err != nil {
		t.Fatal(err)
	}
	checkReceipt(t, bob, ta, alice.Key.Address())
	tc, err := buy(t, carol, ticket, "ticket-c")
	if err != nil {
		t.Fatal(err)
	}
	checkReceipt(t, bob, tc, carol.Key.Address())
	if again, err := buy(t, alice, ticket, "ticket-a"); err != nil || again.ID != ta.ID {
		t.Fatalf("a retry of the same purchase: %+v %v, want the first payment", again, err)
	}
	_, err = buy(t, alice, ticket, "ticket-a2")
	refunded(t, "a third ticket of two", err, "offer sold out")

	// Unlimited.
	song, err := b.CreateOffer("song", bob.USD, *u256(3), time.Minute, apps.Unlimited)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"s1", "s2", "s3"} {
		p, err := buy(t, alice, song, k)
		if err != nil {
			t.Fatal(err)
		}
		checkReceipt(t, bob, p, alice.Key.Address())
	}
	if p, err := buy(t, carol, song, "s1"); err != nil || p.OfferID != song.ID {
		t.Fatalf("carol buys the song: %+v %v", p, err)
	}

	for _, tc := range []struct {
		offer     apps.Offer
		paid      uint64
		remaining uint64
		bounded   bool
	}{
		{course, 2, 0, false},
		{ticket, 2, 0, true},
		{song, 4, 0, false},
	} {
		u := usage(t, bob, tc.offer)
		if u.Paid != tc.paid || u.HasRemaining != tc.bounded || u.Remaining != tc.remaining || u.Expired {
			t.Errorf("%s (%s): usage %+v, want %d paid", tc.offer.ItemID, tc.offer.Uses, u, tc.paid)
		}
	}
	// Refunds came back: Alice paid 10 + 5 + 9, Carol 10 + 5 + 3.
	nodetest.Eventually(t, "the refunds are acknowledged", func() bool {
		return mine(alice, fromAlice) == 1000-24 && mine(carol, fromCarol) == 1000-18 &&
			received(t, bob, fromAlice) == 24+10+5 && peerBalance(bob, fromAlice) == 1000-24
	})
	rows, err := b.Revenue(time.Time{}, time.Time{}, "item")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range rows {
		got[r.Key] = fmt.Sprintf("%s/%d", r.Amount.Dec(), r.Payments)
	}
	if want := map[string]string{"course": "20/2", "ticket": "10/2", "song": "12/4"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("bob's revenue by item %v, want %v (nothing refunded)", got, want)
	}
	if err := bob.Store().Verify(); err != nil {
		t.Fatal(err)
	}
}

// TestOfferPolicyChecks: what CreateOffer and OfferUses refuse, and that
// one use is a once-only offer.
func TestOfferPolicyChecks(t *testing.T) {
	alice, bob, _ := pair(t, 100)
	b := bob.Apps()
	for _, u := range []apps.Uses{
		{Policy: crypto.OfferLimited},                               // no count
		{Policy: crypto.OfferLimited, Max: crypto.MaxOfferUses + 1}, // over the bound
		{Policy: crypto.OfferUnlimited, Max: 3},                     // a count without limited
		{Policy: crypto.OfferPerPayer, Max: 1},                      // the same
		{Policy: crypto.OfferUnlimited + 1},                         // unknown
	} {
		if _, err := b.CreateOffer("x", bob.USD, *u256(1), time.Minute, u); !errors.Is(err, node.ErrInvalidArgument) {
			t.Errorf("CreateOffer with %+v: %v, want ErrInvalidArgument", u, err)
		}
	}
	one, err := b.CreateOffer("x", bob.USD, *u256(1), time.Minute, apps.UpTo(1))
	if err != nil || one.Uses != apps.Once {
		t.Fatalf("UpTo(1): %+v %v, want a once-only offer", one.Uses, err)
	}
	many, _ := b.CreateOffer("y", bob.USD, *u256(1), time.Minute, apps.UpTo(crypto.MaxOfferUses))
	if u := usage(t, bob, many); u.Paid != 0 || !u.HasRemaining || u.Remaining != crypto.MaxOfferUses {
		t.Fatalf("usage of a fresh offer: %+v", u)
	}
	// A policy changed after signing does not verify.
	altered := many
	altered.Uses = apps.Unlimited
	if _, err := b.OfferUses(altered); !errors.Is(err, apps.ErrBadOffer) {
		t.Fatalf("usage of an altered offer: %v, want ErrBadOffer", err)
	}
	if _, err := alice.Apps().Pay(context.Background(), apps.PayRequest{Offer: &altered, Key: "k"}); !errors.Is(err, apps.ErrBadOffer) {
		t.Fatalf("paying an offer whose policy was altered: %v, want ErrBadOffer", err)
	}
	mine, _ := alice.Apps().CreateOffer("z", alice.USD, *u256(1), time.Minute, apps.Unlimited)
	if _, err := b.OfferUses(mine); !errors.Is(err, node.ErrInvalidArgument) {
		t.Fatalf("bob asked about alice's offer: %v, want ErrInvalidArgument", err)
	}
}

// TestOfferLastUseRace: Alice and Carol race for the last use of a
// limited offer, round after round: exactly one of them gets it, the
// other is refused and refunded, and Bob counts exactly the uses sold.
func TestOfferLastUseRace(t *testing.T) {
	alice, bob, carol, fromAlice, fromCarol := trio(t, 1000)
	const rounds = 5
	for i := range rounds {
		o, err := bob.Apps().CreateOffer(fmt.Sprintf("seat-%d", i), bob.USD, *u256(7), time.Minute, apps.UpTo(2))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := buy(t, carol, o, fmt.Sprintf("first-%d", i)); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for j, payer := range []*nodetest.Node{alice, carol} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[j] = buy(t, payer, o, fmt.Sprintf("last-%d", i))
			}()
		}
		wg.Wait()
		won := 0
		for j, err := range errs {
			if err == nil {
				won++
				continue
			}
			refunded(t, fmt.Sprintf("round %d, payer %d", i, j), err, "offer sold out")
		}
		if won != 1 {
			t.Fatalf("round %d: %d payers got the last use (%v)", i, won, errs)
		}
		if u := usage(t, bob, o); u.Paid != 2 || u.Remaining != 0 {
			t.Fatalf("round %d: usage %+v, want 2 paid", i, u)
		}
	}
	// Every refund came back: together they paid 7 per use sold.
	nodetest.Eventually(t, "the refunds are acknowledged", func() bool {
		a, c := mine(alice, fromAlice), mine(carol, fromCarol)
		return 2000-a-c == rounds*2*7 && peerBalance(bob, fromAlice) == a && peerBalance(bob, fromCarol) == c
	})
	if err := bob.Store().Verify(); err != nil {
		t.Fatal(err)
	}
}

// TestOfferBookConcurrent drives the payee's checks directly, from many
// goroutines at once: of a limited offer exactly its uses are reserved,
// whoever asks; a reservation released as not stored (its proof refused,
// dropped, or its write failed) gives its use back; of a per-payer offer,
// one reservation per payer.
func TestOfferBookConcurrent(t *testing.T) {
	_, bob, _ := pair(t, 100)
	b := bob.Apps()
	limited, err := b.CreateOffer("seat", bob.USD, *u256(2), time.Minute, apps.UpTo(5))
	if err != nil {
		t.Fatal(err)
	}
	perPayer, _ := b.CreateOffer("pass", bob.USD, *u256(2), time.Minute, apps.OncePerPayer)
	payer := func(i int) crypto.Address { return crypto.Address{byte(i + 1)} }
	check := func(o apps.Offer, from crypto.Address) (func(bool), error) {
		ci := node.ChannelInfo{Peer: from, Asset: node.Asset{Address: bob.USD}}
		refuse, release := b.CheckIncoming(ci, []node.Part{{Amount: o.Price, ItemID: o.ItemID, Offer: offerPayload(o)}})
		return release, refuse[0]
	}
	// race runs n checks at once and returns the releases of those
	// accepted, and the refusals.
	race := func(o apps.Offer, n int, from func(int) crypto.Address) (held []func(bool), refused []error) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				release, err := check(o, from(i))
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					refused = append(refused, err)
					release(false) // the node calls it for every proof
					return
				}
				held = append(held, release)
			}()
		}
		wg.Wait()
		return held, refused
	}
	held, refused := race(limited, 20, payer)
	if len(held) != 5 {
		t.Fatalf("%d of 20 checks reserved a use of an offer of 5", len(held))
	}
	for _, err := range refused {
		if !errors.Is(err, apps.ErrOfferSoldOut) {
			t.Fatalf("refusal %v, want ErrOfferSoldOut", err)
		}
	}
	// Three proofs are refused: their uses come back, and only those.
	for _, release := range held[:3] {
		release(false)
	}
	more, _ := race(limited, 10, payer)
	if len(more) != 3 {
		t.Fatalf("%d checks reserved a use after 3 were given back, want 3", len(more))
	}
	for _, release := range append(held[3:], more...) {
		release(false)
	}
	if u := usage(t, bob, limited); u.Paid != 0 || u.Remaining != 5 {
		t.Fatalf("nothing was stored, yet usage is %+v", u)
	}
	again, _ := race(limited, 8, payer)
	if len(again) != 5 {
		t.Fatalf("%d checks reserved a use once all were given back, want 5", len(again))
	}
	for _, release := range again {
		release(false)
	}

	// Per payer: ten checks by one payer reserve one use; by ten payers,
	// ten.
	one, refused := race(perPayer, 10, func(int) crypto.Address { return payer(0) })
	if len(one) != 1 || !errors.Is(refused[0], apps.ErrOfferPaid) {
		t.Fatalf("one payer, ten checks: %d reserved (%v), want 1", len(one), refused)
	}
	ten, _ := race(perPayer, 10, payer)
	if len(ten) != 9 { // payer(0) is still being paid
		t.Fatalf("ten payers, one of them in flight: %d reserved, want 9", len(ten))
	}
	for _, release := range append(one, ten...) {
		release(false)
	}
	if release, err := check(perPayer, payer(0)); err != nil {
		t.Fatalf("payer 0 after the refused proof: %v", err)
	} else {
		release(false)
	}
}

// TestOfferCountsAcrossRestart: what Bob sold is on his disk, written with
// the payments: after he restarts, a limited offer has the uses left that
// it had, a per-payer offer knows its payers, and the counts go on.
func TestOfferCountsAcrossRestart(t *testing.T) {
	alice, bob, carol, fromAlice, _ := trio(t, 1000)
	b := bob.Apps()
	ticket, _ := b.CreateOffer("ticket", bob.USD, *u256(5), time.Hour, apps.UpTo(3))
	course, _ := b.CreateOffer("course", bob.USD, *u256(10), time.Hour, apps.OncePerPayer)
	song, _ := b.CreateOffer("song", bob.USD, *u256(1), time.Hour, apps.Unlimited)
	for _, p := range []struct {
		o   apps.Offer
		key string
	}{{ticket, "t1"}, {ticket, "t2"}, {course, ""}, {song, "s1"}, {song, "s2"}} {
		if _, err := buy(t, alice, p.o, p.key); err != nil {
			t.Fatal(err)
		}
	}
	bob.Restart()
	nodetest.Eventually(t, "alice and carol reconnect", func() bool {
		return alice.Channel(fromAlice).Connected
	})
	for _, want := range []struct {
		o    apps.Offer
		paid uint64
	}{{ticket, 2}, {course, 1}, {song, 2}} {
		if u := usage(t, bob, want.o); u.Paid != want.paid {
			t.Fatalf("%s after the restart: %d paid, want %d", want.o.ItemID, u.Paid, want.paid)
		}
	}
	if _, err := buy(t, carol, ticket, "t3"); err != nil {
		t.Fatalf("the last ticket after the restart: %v", err)
	}
	_, err := buy(t, alice, ticket, "t4")
	refunded(t, "a fourth ticket of three, after the restart", err, "offer sold out")
	_, err = payAround(t, alice, fromAlice, course, "around")
	refunded(t, "alice's second course, after the restart", err, "offer already paid by this payer")
	if _, err := buy(t, carol, course, ""); err != nil {
		t.Fatalf("carol's course after the restart: %v", err)
	}
	if _, err := buy(t, carol, song, "s1"); err != nil {
		t.Fatal(err)
	}
	bob.Restart()
	for _, want := range []struct {
		o    apps.Offer
		paid uint64
	}{{ticket, 3}, {course, 2}, {song, 3}} {
		if u := usage(t, bob, want.o); u.Paid != want.paid {
			t.Fatalf("%s after the second restart: %d paid, want %d", want.o.ItemID, u.Paid, want.paid)
		}
	}
	if err := bob.Store().Verify(); err != nil {
		t.Fatal(err)
	}
}

// TestRefusalDoesNotConsumeUse: a payment of a limited offer that Bob
// refuses (underpaid: refunded) and a proof he refuses whole (a bad
// signature) after his checks reserved a use leave every use for sale:
// Carol then buys both.
func TestRefusalDoesNotConsumeUse(t *testing.T) {
	alice, bob, carol, fromAlice, _ := trio(t, 1000)
	o, err := bob.Apps().CreateOffer("seat", bob.USD, *u256(10), time.Minute, apps.UpTo(2))
	if err != nil {
		t.Fatal(err)
	}
	alice.Pay(fromAlice, 1, "warm-up") // proof 1
	conn, recv := speakAsPayer(t, alice, bob, fromAlice, 1)
	info := bob.N().Info()
	dom := crypto.NewDomain(info.ChainID, info.Adjudicator)
	send := func(nonce, sent, amount uint64, key *crypto.PrivateKey) {
		t.Helper()
		sig, _ := key.Sign(dom.BalanceProofDigest(fromAlice, nonce, u256(sent)))
		pid := crypto.Hash{byte(nonce), 9}
		part := &peerv1.PaymentPart{PaymentId: pid[:], Amount: node.AmountBytes(u256(amount)), ItemId: o.ItemID,
			Offer: &peerv1.Offer{OfferId: o.ID[:], ItemId: o.ItemID, Asset: o.Asset[:], Price: node.AmountBytes(&o.Price), Expiry: o.Expiry,
				Signature: o.Sig[:], Uses: uint32(o.Uses.Policy), MaxUses: o.Uses.Max}}
		if err := conn.Send(&peerv1.Message{Body: &peerv1.Message_Proof{Proof: &peerv1.BalanceProof{ChannelId: fromAlice[:], Nonce: nonce,
			Transferred: node.AmountBytes(u256(sent)), Signature: sig[:], Parts: []*peerv1.PaymentPart{part}}}}); err != nil {
			t.Fatal(err)
		}
	}
	// A proof signed by another key pays the offer correctly: refused whole.
	send(2, 11, 10, carol.Key)
	if m := recv(); m.GetNack() == nil {
		t.Fatalf("a proof with a bad signature: got %v, want a Nack", m)
	}
	// Underpaid: the proof is taken, the payment refused and refunded.
	send(2, 10, 9, alice.Key)
	refund := recv().GetProof()
	if refund == nil {
		t.Fatal("no refund of the underpaid payment")
	}
	if ack := recv().GetAck(); ack == nil || len(ack.GetRefused()) != 1 {
		t.Fatalf("the underpaid payment: ack %v, want it refused", ack)
	}
	if err := conn.Send(&peerv1.Message{Body: &peerv1.Message_Ack{Ack: &peerv1.Ack{ChannelId: fromAlice[:], Nonce: refund.GetNonce()}}}); err != nil {
		t.Fatal(err)
	}
	if u := usage(t, bob, o); u.Paid != 0 || u.Remaining != 2 {
		t.Fatalf("after two refusals: usage %+v, want both uses left", u)
	}
	for _, k := range []string{"c1", "c2"} {
		p, err := buy(t, carol, o, k)
		if err != nil {
			t.Fatalf("carol buys use %s: %v", k, err)
		}
		checkReceipt(t, bob, p, carol.Key.Address())
	}
	if u := usage(t, bob, o); u.Paid != 2 || u.Remaining != 0 {
		t.Fatalf("usage %+v, want both uses sold", u)
	}
}
