package channel

import (
	"reflect"
	"testing"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/crypto"
)

// FuzzReceive feeds arbitrary proofs to a channel that already holds some
// state. A rejected proof must leave the state exactly as it was; an
// accepted one must raise the nonce and the total and keep the balances
// consistent. When sign is set the fuzzer's fields are signed with Alice's
// real key, so that the checks after the signature are explored too.
func FuzzReceive(f *testing.F) {
	f.Add(uint64(3), []byte{40}, []byte{}, false, false, uint8(0))
	f.Add(uint64(3), []byte{40}, []byte{}, true, false, uint8(0))
	f.Add(uint64(2), []byte{31}, []byte{}, true, false, uint8(0))
	f.Add(uint64(9), []byte{0xff, 0xff}, []byte{}, true, true, uint8(1))
	f.Add(uint64(4), []byte{200}, make([]byte, 65), false, false, uint8(2))
	f.Fuzz(func(t *testing.T, nonce uint64, amount, sig []byte, sign, otherChannel bool, domain uint8) {
		if len(amount) > 32 {
			return
		}
		p := newPair(t, 100, 50)
		p.pay(A, 30)
		p.pay(B, 5)
		proof := Proof{Channel: p.bob.ID(), Nonce: nonce}
		proof.Transferred.SetBytes(amount)
		if otherChannel {
			proof.Channel[0]++
		}
		if sign {
			dom := p.bob.Domain()
			switch domain % 3 {
			case 1:
				dom = crypto.NewDomain(dom.ChainID()+1, dom.Contract())
			case 2:
				dom = crypto.NewDomain(dom.ChainID(), crypto.Address{0xee})
			}
			s, err := aliceKey.Sign(dom.BalanceProofDigest(proof.Channel, proof.Nonce, &proof.Transferred))
			if err != nil {
				t.Fatal(err)
			}
			proof.Sig = s
		} else {
			copy(proof.Sig[:], sig)
		}
		before := p.bob.State()
		prev := p.bob.Received()
		got, err := p.bob.Receive(proof)
		after := p.bob.State()
		if err != nil {
			if !reflect.DeepEqual(before, after) {
				t.Fatalf("rejected proof changed the state: %v", err)
			}
			return
		}
		if !sign || otherChannel || domain%3 != 0 {
			t.Fatalf("accepted a proof that is not Alice's for this channel: %+v", proof)
		}
		if proof.Nonce <= prev.Nonce || !proof.Transferred.Gt(&prev.Transferred) {
			t.Fatal("accepted a proof that does not advance")
		}
		var want uint256.Int
		want.Sub(&proof.Transferred, &prev.Transferred)
		if !got.Eq(&want) {
			t.Fatalf("amount %s, want %s", got.Dec(), want.Dec())
		}
		ba, bb := p.bob.Balance(A), p.bob.Balance(B)
		if sum := new(uint256.Int).Add(&ba, &bb); sum.Uint64() != 150 {
			t.Fatalf("balances add up to %s", sum.Dec())
		}
		if _, ok := Balance(&after.Deposit[A], &after.Withdrawn[A], &after.Received.Transferred, &after.Sent.Transferred); !ok {
			t.Fatal("accepted a proof that overdraws Alice")
		}
	})
}
