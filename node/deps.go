package node

import (
	"context"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
	"github.com/tinypay/tinypay/store"
)

// PeerConn is an authenticated connection to another node: the transport
// proved that Peer() holds its key. The node reads it from one goroutine and
// writes to it from one goroutine. rpc.PeerConn implements it.
type PeerConn interface {
	Peer() crypto.Address
	// ListenAddrs are where the peer says its node accepts peers (its
	// Hello), in the order to try them; the node keeps only those it
	// would dial (CheckPeerAddr), at most MaxPeerAddrs.
	ListenAddrs() []string
	RemoteAddr() string
	Send(*peerv1.Message) error
	Recv() (*peerv1.Message, error)
	Close(reason error)
}

// Dialer connects to other nodes. want is the node address expected at
// hostport (zero accepts whoever proves a key).
type Dialer interface {
	DialPeer(ctx context.Context, hostport string, want crypto.Address) (PeerConn, error)
}

// Store is the persistence the node uses; *store.Store implements it.
// CommitAsync callbacks run on the store's single committer goroutine, in
// commit order, and must not block.
type Store interface {
	Commit(ctx context.Context, b *store.Batch) (store.Result, error)
	CommitAsync(b *store.Batch, done func(store.Result, error)) error
	LoadChannels() ([]store.ChannelRecord, error)
	Proof(id [32]byte, signerSide uint32) (*storev1.Proof, error)
	LogEntry(seq uint64) (*storev1.LogEntry, error)
	Log(afterSeq uint64, limit int) ([]*storev1.LogEntry, error)
	LogBefore(beforeSeq uint64, limit int) ([]*storev1.LogEntry, error)
	// ChannelPayments reads the payments of a channel's proofs by nonce,
	// newest first (the store's index by channel).
	ChannelPayments(ch [32]byte, dir storev1.Direction, after, upTo uint64, limit int) ([]*storev1.Payment, error)
	PaymentByIdempotencyKey(key string) (*storev1.LogEntry, error)
	PaymentByID(id [32]byte) (*storev1.LogEntry, error)
	Receipt(paymentID [32]byte) (*storev1.Receipt, error)
	Cursor(name string) ([]byte, error)
	Transfer(key string) (*storev1.Transfer, error)
	Transfers() ([]*storev1.Transfer, error)
	LastSeq() uint64
}

// Clock tells the wall time, for payment timestamps and timeouts. Chain
// time comes from the chain.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

var _ Store = (*store.Store)(nil)

// Offer is a payee's signed price for an item that a payment pays. The node
// carries it to the payee and names it in the receipt; making and checking
// offers is the application layer's (package apps).
type Offer struct {
	ID     crypto.Hash
	ItemID string
	Asset  crypto.Address
	Price  uint256.Int
	Expiry uint64 // unix seconds
	Sig    crypto.Signature
	// Uses and MaxUses are the offer's use policy, as signed (see
	// crypto.OfferFields); the payee's store holds its payments to it.
	Uses    crypto.OfferUses
	MaxUses uint32
}

// Part is one payment covered by an incoming proof, as the payer described
// it.
type Part struct {
	ID     [32]byte // the payer's id for it
	Amount uint256.Int
	ItemID string
	Memo   string
	Key    string // the payer's idempotency key
	// WantReceipt: the payer asks for a signed receipt (implied by Offer).
	WantReceipt bool
	Offer       *Offer
	Stream      [16]byte // the stream it is a tick of, if any
	// RefundOf is set when the part gives back a payment of this node's
	// that the peer refused: the id of that payment.
	RefundOf [32]byte
}

// Hooks let an application layer (package apps: offers, streams) take part
// in payments without the node knowing what they are. Every method must
// return quickly and must not call the Node's methods that wait (Pay,
// OpenChannel, ...).
type Hooks interface {
	// CheckIncoming runs on the goroutine that reads the peer's messages,
	// before the channel's owner sees an incoming proof; it may read the
	// store. It returns, for each part, nil or the reason to refuse it —
	// the node then accepts the proof and refunds the refused parts at
	// once, in the same channel (see "Refusals" in the package doc) — and
	// a function the node calls exactly once: release(true) once the proof
	// is durable with the parts the application accepted (they are
	// stored, and Incoming saw them), release(false) if it was refused,
	// dropped or its write failed (none of them is stored).
	CheckIncoming(ch ChannelInfo, parts []Part) (refuse []error, release func(stored bool))
	// Incoming runs on the channel's owner with the batch that stores an
	// accepted proof, for the parts it accepted; it may add records. It
	// runs before the proof's payment entries are appended: the entries it
	// appends come first in the log.
	Incoming(b *store.Batch, ch ChannelInfo, parts []Part, now time.Time) error
	// PeerMessage handles a StreamStart or StreamEnd that peer sent about
	// ch, a channel shared with it. The reply, if any, goes back to peer.
	PeerMessage(peer crypto.Address, ch ChannelInfo, m *peerv1.Message) (reply *peerv1.Message)
	// PeerConnected is called when a session with peer starts; send queues
	// a message to that session.
	PeerConnected(peer crypto.Address, send func(*peerv1.Message))
	// ChannelEnded is called once a channel can carry no more payments:
	// it closed, or was abandoned.
	ChannelEnded(id [32]byte)
}

// noHooks is the node without an application layer.
type noHooks struct{}

// CheckIncoming refuses (and so refunds) payments of offers: without an
// application layer nobody checks that an offer is this node's and paid
// once.
func (noHooks) CheckIncoming(_ ChannelInfo, parts []Part) ([]error, func(bool)) {
	var refuse []error
	for i := range parts {
		if parts[i].Offer != nil {
			if refuse == nil {
				refuse = make([]error, len(parts))
			}
			refuse[i] = invalid("this node sells nothing by offer")
		}
	}
	return refuse, func(bool) {}
}
func (noHooks) Incoming(*store.Batch, ChannelInfo, []Part, time.Time) error {
	return nil
}
func (noHooks) PeerMessage(crypto.Address, ChannelInfo, *peerv1.Message) *peerv1.Message {
	return nil
}
func (noHooks) PeerConnected(crypto.Address, func(*peerv1.Message)) {}
func (noHooks) ChannelEnded([32]byte)                               {}
