package crypto

import (
	"sync"
	"testing"
)

// TestNewDomainCacheAgrees: NewDomain answers from its last domain only for
// the same chain and contract: alternating chains and contracts, from
// several goroutines at once, every domain equals one built afresh.
func TestNewDomainCacheAgrees(t *testing.T) {
	inputs := []struct {
		chain    uint64
		contract Address
	}{{1, Address{1}}, {1, Address{2}}, {2, Address{1}}, {1337, Address{1}}, {1, Address{1}}}
	var wg sync.WaitGroup
	errs := make(chan string, 4*len(inputs)*100)
	for range 4 {
		wg.Go(func() {
			for i := range 100 * len(inputs) {
				in := inputs[i%len(inputs)]
				got, want := NewDomain(in.chain, in.contract), newDomain(in.chain, in.contract)
				if got != want {
					errs <- "mismatch"
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatalf("NewDomain answered another chain's or contract's domain: %s", e)
	}
	if a, b := NewDomain(1, Address{1}), NewDomain(2, Address{1}); a.Separator() == b.Separator() {
		t.Fatal("two chains share a separator")
	}
}
