package crypto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/holiman/uint256"
)

// The EIP-712 domain and message types tinypay signs. The adjudicator
// contract hashes the same strings; a change here is a protocol change.
const (
	DomainName    = "tinypay"
	DomainVersion = "1"

	DomainType           = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
	BalanceProofType     = "BalanceProof(bytes32 channelId,uint64 nonce,uint256 transferred)"
	CooperativeCloseType = "CooperativeClose(bytes32 channelId,uint256 balanceA,uint256 balanceB,uint64 expiry)"
	WithdrawType         = "Withdraw(bytes32 channelId,address participant,uint256 totalWithdrawn,uint64 expiry)"

	// Off-chain messages between payers and payees, in the same domain.
	ReceiptType = "Receipt(bytes32 channelId,bytes32 paymentId,address payer,address payee,address asset,uint256 amount,uint256 cumulative,string itemId,bytes32 offerId,uint64 time)"
	OfferType   = "Offer(bytes32 offerId,address payee,string itemId,address asset,uint256 price,uint64 expiry)"
	// ReusableOfferType is an offer payable more than once (OfferFields.Uses
	// other than OfferOnce). A once-only offer keeps OfferType, so its
	// digest is what it was before offers had a use policy.
	ReusableOfferType = "ReusableOffer(bytes32 offerId,address payee,string itemId,address asset,uint256 price,uint64 expiry,uint8 uses,uint32 maxUses)"
)

var (
	domainTypeHash           = Keccak256([]byte(DomainType))
	balanceProofTypeHash     = Keccak256([]byte(BalanceProofType))
	cooperativeCloseTypeHash = Keccak256([]byte(CooperativeCloseType))
	withdrawTypeHash         = Keccak256([]byte(WithdrawType))
	receiptTypeHash          = Keccak256([]byte(ReceiptType))
	offerTypeHash            = Keccak256([]byte(OfferType))
	reusableOfferTypeHash    = Keccak256([]byte(ReusableOfferType))
	domainNameHash           = Keccak256([]byte(DomainName))
	domainVersionHash        = Keccak256([]byte(DomainVersion))
)

// Domain is the EIP-712 domain of one adjudicator contract on one chain. It
// binds every digest to that chain and contract, so a signature can never be
// replayed on another chain or against another deployment. Build it with
// NewDomain; the zero value is not a valid domain.
type Domain struct {
	chainID  uint64
	contract Address
	sep      Hash
}

// lastDomain is the domain NewDomain built last: a node's channels share
// one or a few, and a node of 100,000 channels builds each one's as it
// starts (a hash each, a tenth of the rebuild).
var lastDomain atomic.Pointer[Domain]

// NewDomain returns the tinypay domain for the adjudicator at contract on
// the chain with the given id, with its separator computed once.
func NewDomain(chainID uint64, contract Address) Domain {
	if d := lastDomain.Load(); d != nil && d.chainID == chainID && d.contract == contract {
		return *d
	}
	d := newDomain(chainID, contract)
	lastDomain.Store(&d)
	return d
}

func newDomain(chainID uint64, contract Address) Domain {
	var buf [5 * 32]byte
	copy(buf[0:32], domainTypeHash[:])
	copy(buf[32:64], domainNameHash[:])
	copy(buf[64:96], domainVersionHash[:])
	putUint64Word(buf[96:128], chainID)
	putAddressWord(buf[128:160], contract)
	return Domain{chainID: chainID, contract: contract, sep: Keccak256(buf[:])}
}

// ChainID returns the chain id of the domain.
func (d Domain) ChainID() uint64 { return d.chainID }

// Contract returns the verifying contract (the adjudicator) of the domain.
func (d Domain) Contract() Address { return d.contract }

// Separator returns the EIP-712 domain separator.
func (d Domain) Separator() Hash { return d.sep }

// BalanceProofDigest returns the digest a payer signs to state that it has
// paid transferred (cumulative) in channel channelID, at nonce.
func (d Domain) BalanceProofDigest(channelID Hash, nonce uint64, transferred *uint256.Int) Hash {
	var buf [4 * 32]byte
	copy(buf[0:32], balanceProofTypeHash[:])
	copy(buf[32:64], channelID[:])
	putUint64Word(buf[64:96], nonce)
	transferred.PutUint256(buf[96:128])
	return d.typed(Keccak256(buf[:]))
}

// CooperativeCloseDigest returns the digest both participants sign to close
// channelID at once, paying balanceA and balanceB, valid until expiry (a chain
// timestamp in seconds).
func (d Domain) CooperativeCloseDigest(channelID Hash, balanceA, balanceB *uint256.Int, expiry uint64) Hash {
	var buf [5 * 32]byte
	copy(buf[0:32], cooperativeCloseTypeHash[:])
	copy(buf[32:64], channelID[:])
	balanceA.PutUint256(buf[64:96])
	balanceB.PutUint256(buf[96:128])
	putUint64Word(buf[128:160], expiry)
	return d.typed(Keccak256(buf[:]))
}

// WithdrawDigest returns the digest both participants sign to let
// participant withdraw up to totalWithdrawn (cumulative) from channelID while
// it stays open, valid until expiry (a chain timestamp in seconds).
func (d Domain) WithdrawDigest(channelID Hash, participant Address, totalWithdrawn *uint256.Int, expiry uint64) Hash {
	var buf [5 * 32]byte
	copy(buf[0:32], withdrawTypeHash[:])
	copy(buf[32:64], channelID[:])
	putAddressWord(buf[64:96], participant)
	totalWithdrawn.PutUint256(buf[96:128])
	putUint64Word(buf[128:160], expiry)
	return d.typed(Keccak256(buf[:]))
}

// ReceiptFields are what a payee signs when it acknowledges a payment.
type ReceiptFields struct {
	Channel    Hash
	Payment    Hash
	Payer      Address
	Payee      Address
	Asset      Address // the channel's asset; zero for ETH
	Amount     uint256.Int
	Cumulative uint256.Int
	ItemID     string
	Offer      Hash // zero when the payment paid no offer
	Time       uint64
}

// ReceiptDigest returns the digest a payee signs to state that it received
// and stored a payment.
func (d Domain) ReceiptDigest(r *ReceiptFields) Hash {
	var buf [11 * 32]byte
	copy(buf[0:32], receiptTypeHash[:])
	copy(buf[32:64], r.Channel[:])
	copy(buf[64:96], r.Payment[:])
	putAddressWord(buf[96:128], r.Payer)
	putAddressWord(buf[128:160], r.Payee)
	putAddressWord(buf[160:192], r.Asset)
	r.Amount.PutUint256(buf[192:224])
	r.Cumulative.PutUint256(buf[224:256])
	item := Keccak256([]byte(r.ItemID))
	copy(buf[256:288], item[:])
	copy(buf[288:320], r.Offer[:])
	putUint64Word(buf[320:352], r.Time)
	return d.typed(Keccak256(buf[:]))
}

// OfferUses is an offer's use policy: how many payments its payee takes
// for it before it expires. Its value is signed (the uint8 "uses" of
// ReusableOfferType).
type OfferUses uint8

// Offer use policies.
const (
	// OfferOnce: one payment in all. A once-only offer is signed as
	// OfferType, the type of offers before use policies.
	OfferOnce OfferUses = 0
	// OfferPerPayer: one payment per payer (per node identity), any number
	// of payers.
	OfferPerPayer OfferUses = 1
	// OfferLimited: MaxUses payments in all, by anyone.
	OfferLimited OfferUses = 2
	// OfferUnlimited: any number of payments, by anyone.
	OfferUnlimited OfferUses = 3
)

// MaxOfferUses bounds the payments an OfferLimited offer takes.
const MaxOfferUses = 1_000_000

// String names the policy as the CLI writes it.
func (u OfferUses) String() string {
	switch u {
	case OfferOnce:
		return "once"
	case OfferPerPayer:
		return "per-payer"
	case OfferLimited:
		return "limited"
	case OfferUnlimited:
		return "unlimited"
	}
	return fmt.Sprintf("uses(%d)", uint8(u))
}

// ErrBadOfferUses means that an offer's use policy is not one of the
// forms a payee signs.
var ErrBadOfferUses = errors.New("invalid offer use policy")

// CheckUses reports whether an offer's use policy is well formed: a known
// policy, and MaxUses from 2 to MaxOfferUses with OfferLimited (one use is
// OfferOnce), zero with the others. OfferDigest does not sign MaxUses of a
// once-only offer, so a verifier must check this too. Errors match
// ErrBadOfferUses.
func (o *OfferFields) CheckUses() error {
	switch {
	case o.Uses > OfferUnlimited:
		return fmt.Errorf("%w: unknown policy %d", ErrBadOfferUses, o.Uses)
	case o.Uses == OfferLimited && (o.MaxUses < 2 || o.MaxUses > MaxOfferUses):
		return fmt.Errorf("%w: a limited offer takes 2 to %d payments, not %d (one is a once-only offer)", ErrBadOfferUses, MaxOfferUses, o.MaxUses)
	case o.Uses != OfferLimited && o.MaxUses != 0:
		return fmt.Errorf("%w: max uses %d with policy %s", ErrBadOfferUses, o.MaxUses, o.Uses)
	}
	return nil
}

// OfferFields are what a payee signs to offer an item at a price.
type OfferFields struct {
	Offer  Hash
	Payee  Address
	ItemID string
	Asset  Address // zero for ETH
	Price  uint256.Int
	Expiry uint64 // unix seconds
	// Uses is the offer's use policy; MaxUses is its number of payments
	// with OfferLimited, and zero with the others.
	Uses    OfferUses
	MaxUses uint32
}

// OfferDigest returns the digest a payee signs for an offer: of OfferType
// when o.Uses is OfferOnce (MaxUses is then not signed), of
// ReusableOfferType otherwise.
func (d Domain) OfferDigest(o *OfferFields) Hash {
	var buf [9 * 32]byte
	n := 7 * 32
	copy(buf[0:32], offerTypeHash[:])
	if o.Uses != OfferOnce {
		n = 9 * 32
		copy(buf[0:32], reusableOfferTypeHash[:])
		putUint64Word(buf[224:256], uint64(o.Uses))
		putUint64Word(buf[256:288], uint64(o.MaxUses))
	}
	copy(buf[32:64], o.Offer[:])
	putAddressWord(buf[64:96], o.Payee)
	item := Keccak256([]byte(o.ItemID))
	copy(buf[96:128], item[:])
	putAddressWord(buf[128:160], o.Asset)
	o.Price.PutUint256(buf[160:192])
	putUint64Word(buf[192:224], o.Expiry)
	return d.typed(Keccak256(buf[:n]))
}

func (d Domain) typed(structHash Hash) Hash {
	var buf [2 + 32 + 32]byte
	buf[0], buf[1] = 0x19, 0x01
	copy(buf[2:34], d.sep[:])
	copy(buf[34:66], structHash[:])
	return Keccak256(buf[:])
}

// putUint64Word writes v as a 32-byte big-endian ABI word into w.
func putUint64Word(w []byte, v uint64) {
	clear(w[:24])
	binary.BigEndian.PutUint64(w[24:32], v)
}

// putAddressWord writes a as a left-padded 32-byte ABI word into w.
func putAddressWord(w []byte, a Address) {
	clear(w[:12])
	copy(w[12:32], a[:])
}

// ChannelID returns the id the adjudicator gives a channel:
//
//	keccak256(abi.encode(uint256 chainId, address adjudicator, address a,
//	    address b, address token, uint64 challengePeriod, bytes32 salt))
//
// The chain and contract are part of it, and the opener picks a fresh salt,
// so an id is never reused, not even by the same two parties.
func ChannelID(chainID uint64, adjudicator, a, b, token Address, challengePeriod uint64, salt Hash) Hash {
	var buf [7 * 32]byte
	putUint64Word(buf[0:32], chainID)
	putAddressWord(buf[32:64], adjudicator)
	putAddressWord(buf[64:96], a)
	putAddressWord(buf[96:128], b)
	putAddressWord(buf[128:160], token)
	putUint64Word(buf[160:192], challengePeriod)
	copy(buf[192:224], salt[:])
	return Keccak256(buf[:])
}
