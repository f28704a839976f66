package channel

import "github.com/holiman/uint256"

// sum257 is an unsigned value of up to 257 bits: a uint256 plus a carry.
// Comparisons on it never overflow.
type sum257 struct {
	carry bool
	v     uint256.Int
}

func add257(a, b *uint256.Int) sum257 {
	var s sum257
	_, s.carry = s.v.AddOverflow(a, b)
	return s
}

// cmp returns -1, 0 or 1.
func (x sum257) cmp(y sum257) int {
	switch {
	case x.carry && !y.carry:
		return 1
	case !x.carry && y.carry:
		return -1
	}
	return x.v.Cmp(&y.v)
}

// sub returns x - y, and ok=false (with a zero value) when the difference is
// negative or does not fit in 256 bits.
func (x sum257) sub(y sum257) (uint256.Int, bool) {
	if x.cmp(y) < 0 {
		return uint256.Int{}, false
	}
	var d uint256.Int
	_, borrow := d.SubOverflow(&x.v, &y.v)
	// x >= y, so the true difference is (x.carry-y.carry-borrow)*2^256 + d.
	if x.carry && !y.carry && !borrow {
		return uint256.Int{}, false
	}
	return d, true
}

// Balance returns what side s owns in a channel with the given totals:
//
//	deposit(s) - withdrawn(s) - transferred(s->other) + transferred(other->s)
//
// It returns ok=false, with a zero value, when that is negative or does not
// fit in 256 bits.
func Balance(deposit, withdrawn, sent, received *uint256.Int) (uint256.Int, bool) {
	have := add257(deposit, received)
	owe := add257(withdrawn, sent)
	return have.sub(owe)
}
