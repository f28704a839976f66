package node

import (
	"context"
	"time"

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
	ListenAddr() string
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
	Channels() ([]*storev1.Channel, error)
	Proof(id [32]byte, signerSide uint32) (*storev1.Proof, error)
	LogEntry(seq uint64) (*storev1.LogEntry, error)
	Log(afterSeq uint64, limit int) ([]*storev1.LogEntry, error)
	LogBefore(beforeSeq uint64, limit int) ([]*storev1.LogEntry, error)
	PaymentByIdempotencyKey(key string) (*storev1.LogEntry, error)
	PaymentByOffer(offerID [32]byte) (*storev1.LogEntry, error)
	Receipt(paymentID [32]byte) (*storev1.Receipt, error)
	Streams() ([]*storev1.Stream, error)
	Tokens() ([]*storev1.AppToken, error)
	Cursor(name string) ([]byte, error)
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
