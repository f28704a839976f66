package paywall

import (
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/crypto"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
)

// signer signs receipts as a payee would, offline.
type signer struct {
	key     *crypto.PrivateKey
	chainID uint64
	adj     crypto.Address
}

func newSigner(t *testing.T) *signer {
	t.Helper()
	k, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return &signer{key: k, chainID: 1337, adj: crypto.Address{0xad}}
}

func (s *signer) payee() *payee {
	return &payee{addr: s.key.Address(), chainID: s.chainID, adjudicator: s.adj}
}

// receipt signs a receipt for offer paying amount for item.
func (s *signer) receipt(t *testing.T, offer crypto.Hash, item string, amount uint64) *apiv1.Receipt {
	t.Helper()
	f := crypto.ReceiptFields{
		Channel: crypto.Hash{1}, Payment: crypto.Hash{2}, Payer: crypto.Address{3}, Payee: s.key.Address(),
		Amount: *uint256.NewInt(amount), Cumulative: *uint256.NewInt(amount), ItemID: item, Offer: offer, Time: 1_700_000_000,
	}
	sig, err := s.key.Sign(crypto.NewDomain(s.chainID, s.adj).ReceiptDigest(&f))
	if err != nil {
		t.Fatal(err)
	}
	return &apiv1.Receipt{
		ChainId: s.chainID, Adjudicator: s.adj.Hex(), ChannelId: f.Channel.Hex(), PaymentId: f.Payment.Hex(), Payer: f.Payer.Hex(),
		Payee: f.Payee.Hex(), Amount: f.Amount.Dec(), Cumulative: f.Cumulative.Dec(), ItemId: item, OfferId: offer.Hex(),
		Time: f.Time, Signature: "0x" + hex.EncodeToString(sig[:]),
	}
}

func alter(r *apiv1.Receipt, f func(*apiv1.Receipt)) *apiv1.Receipt { f(r); return r }

func TestCheckReceipt(t *testing.T) {
	me, other := newSigner(t), newSigner(t)
	offer := crypto.Hash{0x0f}
	otherChain := *me
	otherChain.chainID = 1
	for _, tc := range []struct {
		name string
		r    *apiv1.Receipt
		want error
	}{
		// Signed by this payee in its domain for an offer: fine.
		{"good", me.receipt(t, offer, "GET /a", 10), nil},
		// Signed by another node that calls itself the payee.
		{"another payee", other.receipt(t, offer, "GET /a", 10), ErrWrongPayee},
		// This payee's signature, in another chain's domain.
		{"another chain", otherChain.receipt(t, offer, "GET /a", 10), ErrWrongChain},
		// A plain payment's receipt: no offer.
		{"no offer", me.receipt(t, crypto.Hash{}, "GET /a", 10), ErrUnknownOffer},
		// Any field changed after signing.
		{"altered amount", alter(me.receipt(t, offer, "GET /a", 10), func(r *apiv1.Receipt) { r.Amount = "11" }), ErrBadReceipt},
		{"altered item", alter(me.receipt(t, offer, "GET /a", 10), func(r *apiv1.Receipt) { r.ItemId = "GET /b" }), ErrBadReceipt},
		{"altered payee", alter(other.receipt(t, offer, "GET /a", 10), func(r *apiv1.Receipt) { r.Payee = me.key.Address().Hex() }), ErrBadReceipt},
		// Malformed fields.
		{"no signature", alter(me.receipt(t, offer, "GET /a", 10), func(r *apiv1.Receipt) { r.Signature = "" }), ErrBadReceipt},
		{"bad amount", alter(me.receipt(t, offer, "GET /a", 10), func(r *apiv1.Receipt) { r.Amount = "-1" }), ErrBadReceipt},
		{"empty", &apiv1.Receipt{}, ErrBadReceipt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := me.payee().checkReceipt(tc.r)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if err == nil && id != offer {
				t.Fatalf("offer %s", id)
			}
		})
	}
}

func TestOfferBook(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	expiry := uint64(now.Add(time.Minute).Unix())
	a, b, c := crypto.Hash{0xa}, crypto.Hash{0xb}, crypto.Hash{0xc}
	book := newOfferBook(3, 30*time.Second)
	for _, id := range []crypto.Hash{a, b} {
		if err := book.issue(id, "GET /x", *uint256.NewInt(100), expiry, now); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		id     crypto.Hash
		item   string // the request's
		paid   string // the receipt's
		amount uint64
		at     time.Time
		want   error
	}{
		// Underpaid: nothing changes, the offer stays usable.
		{"underpaid", a, "GET /x", "GET /x", 99, now, ErrUnderpaid},
		// Paid for another request than this one.
		{"other request", a, "GET /y", "GET /x", 100, now, ErrWrongItem},
		// The receipt names another item than the offer's.
		{"other item in receipt", a, "GET /x", "GET /y", 100, now, ErrWrongItem},
		// Never issued.
		{"unknown", c, "GET /x", "GET /x", 100, now, ErrUnknownOffer},
		// Paid at or above the price: used.
		{"paid", a, "GET /x", "GET /x", 100, now, nil},
		// The same offer again.
		{"replay", a, "GET /x", "GET /x", 100, now, ErrOfferUsed},
		// Overpaid is fine.
		{"overpaid", b, "GET /x", "GET /x", 1000, now, nil},
		// Within the grace after expiry the used offer is still known.
		{"replay in grace", b, "GET /x", "GET /x", 1000, now.Add(80 * time.Second), ErrOfferUsed},
		// Past expiry and grace it is forgotten: still refused.
		{"replay after grace", b, "GET /x", "GET /x", 1000, now.Add(91 * time.Second), ErrUnknownOffer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := book.redeem(tc.id, tc.item, tc.paid, *uint256.NewInt(tc.amount), tc.at)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
	if n := book.len(); n != 0 {
		t.Fatalf("%d offers remembered after their deadlines", n)
	}
}

func TestOfferBookBoundsAndRelease(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	book := newOfferBook(2, 0)
	expiry := uint64(now.Add(time.Minute).Unix())
	if err := book.issue(crypto.Hash{1}, "i", *uint256.NewInt(1), expiry, now); err != nil {
		t.Fatal(err)
	}
	if err := book.issue(crypto.Hash{2}, "i", *uint256.NewInt(1), expiry, now); err != nil {
		t.Fatal(err)
	}
	if err := book.issue(crypto.Hash{3}, "i", *uint256.NewInt(1), expiry, now); !errors.Is(err, ErrBusy) {
		t.Fatalf("a full book issued: %v", err)
	}
	// Released after an upstream failure, an offer can be redeemed again.
	if err := book.redeem(crypto.Hash{1}, "i", "i", *uint256.NewInt(1), now); err != nil {
		t.Fatal(err)
	}
	book.release(crypto.Hash{1})
	if err := book.redeem(crypto.Hash{1}, "i", "i", *uint256.NewInt(1), now); err != nil {
		t.Fatalf("after release: %v", err)
	}
	// Once the first offers are past their deadline there is room again.
	later := now.Add(2 * time.Minute)
	if err := book.issue(crypto.Hash{3}, "i", *uint256.NewInt(1), uint64(later.Add(time.Minute).Unix()), later); err != nil {
		t.Fatal(err)
	}
	if book.len() != 1 {
		t.Fatalf("%d offers", book.len())
	}
	// Many offers through a small book: the queue does not grow without bound.
	for i := range 5000 {
		at := later.Add(time.Duration(i+2) * time.Minute)
		if err := book.issue(crypto.Hash{byte(i), byte(i >> 8), 9}, "i", *uint256.NewInt(1), uint64(at.Add(30*time.Second).Unix()), at); err != nil {
			t.Fatalf("offer %d: %v", i, err)
		}
	}
	if len(book.queue)-book.head > 2 || len(book.queue) > 2100 {
		t.Fatalf("queue %d (head %d)", len(book.queue), book.head)
	}
}
