package paywall

import (
	"fmt"
	"sync"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/crypto"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/apiutil"
)

// payee is who the paywall collects for: the creator's node.
type payee struct {
	addr        crypto.Address
	chainID     uint64
	adjudicator crypto.Address
	asset       Asset // Address is the zero address for ETH
	assetArg    string
	peerAddr    string
}

func (p *payee) network() string { return Network(p.chainID) }

// checkReceipt checks what a receipt proves by itself, offline: the
// payee's signature over exactly these fields, in this chain and contract,
// by this payee, for an offer. It returns the offer id.
func (p *payee) checkReceipt(r *apiv1.Receipt) (crypto.Hash, error) {
	if err := apiutil.VerifyReceipt(r); err != nil {
		return crypto.Hash{}, fmt.Errorf("%w: %v", ErrBadReceipt, err)
	}
	if adj, _ := crypto.ParseAddress(r.GetAdjudicator()); r.GetChainId() != p.chainID || adj != p.adjudicator {
		return crypto.Hash{}, fmt.Errorf("%w: chain %d, adjudicator %s", ErrWrongChain, r.GetChainId(), r.GetAdjudicator())
	}
	if a, _ := crypto.ParseAddress(r.GetPayee()); a != p.addr {
		return crypto.Hash{}, fmt.Errorf("%w: %s, not %s", ErrWrongPayee, r.GetPayee(), p.addr)
	}
	id, err := crypto.ParseHash(r.GetOfferId())
	if err != nil || id.IsZero() {
		return crypto.Hash{}, fmt.Errorf("%w: the payment paid no offer", ErrUnknownOffer)
	}
	return id, nil
}

// offerBook remembers the offers a paywall issued until they can no
// longer be redeemed (expiry plus grace), and which were used. Offers are
// issued with one lifetime, so deadlines come in order and a FIFO queue
// forgets them in O(1) each. Safe for concurrent use.
type offerBook struct {
	max   int
	grace time.Duration

	mu     sync.Mutex
	offers map[crypto.Hash]*openOffer
	queue  []queued
	head   int
}

type openOffer struct {
	item     string
	price    uint256.Int
	deadline time.Time
	used     bool
}

type queued struct {
	id       crypto.Hash
	deadline time.Time
}

func newOfferBook(max int, grace time.Duration) *offerBook {
	return &offerBook{max: max, grace: grace, offers: make(map[crypto.Hash]*openOffer)}
}

// issue records an offer; ErrBusy when the book is full of offers that
// can still be redeemed.
func (b *offerBook) issue(id crypto.Hash, item string, price uint256.Int, expiry uint64, now time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.prune(now)
	if len(b.offers) >= b.max {
		return fmt.Errorf("%w: %d", ErrBusy, len(b.offers))
	}
	deadline := time.Unix(int64(expiry), 0).Add(b.grace)
	b.offers[id] = &openOffer{item: item, price: price, deadline: deadline}
	b.queue = append(b.queue, queued{id, deadline})
	return nil
}

// redeem uses an offer for a request for item, paid with amount; nothing
// changes unless every check passes.
func (b *offerBook) redeem(id crypto.Hash, item, paidItem string, amount uint256.Int, now time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.prune(now)
	o := b.offers[id]
	switch {
	case o == nil:
		return fmt.Errorf("%w: offer %s is unknown or expired", ErrUnknownOffer, id)
	case o.item != item || paidItem != item:
		return fmt.Errorf("%w: offer %s is for %q, this request is %q", ErrWrongItem, id, o.item, item)
	case amount.Lt(&o.price):
		return fmt.Errorf("%w: paid %s, the price is %s", ErrUnderpaid, amount.Dec(), o.price.Dec())
	case o.used:
		return fmt.Errorf("%w: offer %s", ErrOfferUsed, id)
	}
	o.used = true
	return nil
}

// release makes a redeemed offer usable again (the request it paid for
// was not served).
func (b *offerBook) release(id crypto.Hash) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if o := b.offers[id]; o != nil {
		o.used = false
	}
}

// len returns the number of offers remembered.
func (b *offerBook) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.offers)
}

// prune forgets offers past their deadline; b.mu held.
func (b *offerBook) prune(now time.Time) {
	for b.head < len(b.queue) && now.After(b.queue[b.head].deadline) {
		q := b.queue[b.head]
		if o := b.offers[q.id]; o != nil && o.deadline.Equal(q.deadline) {
			delete(b.offers, q.id)
		}
		b.queue[b.head] = queued{}
		b.head++
	}
	if b.head > 1024 && b.head*2 > len(b.queue) {
		b.queue = append(b.queue[:0:0], b.queue[b.head:]...)
		b.head = 0
	}
}
