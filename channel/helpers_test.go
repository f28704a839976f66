package channel

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/crypto"
)

func keyFromSeed(seed byte) *crypto.PrivateKey {
	b := bytes.Repeat([]byte{seed}, 32)
	k, err := crypto.PrivateKeyFromBytes(b)
	if err != nil {
		panic(err)
	}
	return k
}

var (
	aliceKey   = keyFromSeed(0x11)
	bobKey     = keyFromSeed(0x22)
	malloryKey = keyFromSeed(0x33)
)

func u(v uint64) *uint256.Int { return uint256.NewInt(v) }

func testParams() Params {
	return Params{
		ChainID:         1337,
		Adjudicator:     crypto.Address{0xad},
		Participants:    [2]crypto.Address{aliceKey.Address(), bobKey.Address()},
		Asset:           crypto.Address{0x70},
		ChallengePeriod: 3600,
		Salt:            crypto.Hash{0x5a},
	}
}

// pair is Alice (side A) and Bob (side B) of one open channel with the given
// deposits.
type pair struct {
	t          testing.TB
	alice, bob *Channel
}

func newPair(t testing.TB, depA, depB uint64) *pair {
	t.Helper()
	p := testParams()
	a, err := New(p, A)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(p, B)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Channel{a, b} {
		must(t, c.ChainOpened())
		must(t, c.ChainDeposit(A, u(depA)))
		must(t, c.ChainDeposit(B, u(depB)))
	}
	return &pair{t: t, alice: a, bob: b}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// pay makes from pay amount to the other side and delivers and acks it.
func (p *pair) pay(from Side, amount uint64) {
	p.t.Helper()
	payer, payee, key := p.alice, p.bob, aliceKey
	if from == B {
		payer, payee, key = p.bob, p.alice, bobKey
	}
	proof, err := payer.Pay(u(amount), key)
	must(p.t, err)
	got, err := payee.Receive(proof)
	must(p.t, err)
	if got.Uint64() != amount {
		p.t.Fatalf("received %d, want %d", got.Uint64(), amount)
	}
	must(p.t, payer.Ack(proof.Nonce))
}

// signProof signs a proof for ch's channel with key under dom.
func signProof(t testing.TB, key *crypto.PrivateKey, dom crypto.Domain, id ID, nonce uint64, amount *uint256.Int) Proof {
	t.Helper()
	sig, err := key.Sign(dom.BalanceProofDigest(id, nonce, amount))
	if err != nil {
		t.Fatal(err)
	}
	return Proof{Channel: id, Nonce: nonce, Transferred: *amount, Sig: sig}
}

// unchanged runs f and fails if it returned nil or changed the state.
func unchanged(t testing.TB, c *Channel, f func() error) error {
	t.Helper()
	before := c.State()
	err := f()
	if err == nil {
		t.Fatal("expected an error")
	}
	if after := c.State(); !reflect.DeepEqual(before, after) {
		t.Fatalf("rejected call changed the state:\nbefore %+v\nafter  %+v", before, after)
	}
	return err
}
