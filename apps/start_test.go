package apps

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/node"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
	"github.com/tinypay/tinypay/settlement/evm/evmtest"
	"github.com/tinypay/tinypay/store"
)

// TestHooksWaitForStart: the node starts before its application layer and
// may call the hooks at once (a redialled peer resends a proof or a
// StreamStart; the watcher sees a channel end). Before this was fixed,
// CheckIncoming dereferenced a nil node, a StreamStart was taken before
// the stored streams were loaded (and loading overwrote it), and a channel
// that ended before Start left its streams live for ever.
func TestHooksWaitForStart(t *testing.T) {
	chain := evmtest.NewChain(t)
	key := chain.Alice
	st, err := store.Open(store.DefaultConfig(filepath.Join(t.TempDir(), "db")))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// A live incoming stream on a channel, stored by an earlier run.
	ended, other := channel.ID{1}, channel.ID{2}
	old := &stream{StreamInfo: StreamInfo{ID: [16]byte{1}, Channel: ended, Peer: chain.Bob.Address(), Rate: *uint256.NewInt(10),
		Tick: time.Second, Paid: *uint256.NewInt(10), Ticks: 1, Started: time.Now()}}
	b := store.NewBatch()
	if err := b.PutStream(old.record()); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Commit(context.Background(), b); err != nil {
		t.Fatal(err)
	}

	a, err := New(DefaultConfig(), Deps{Key: key, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	cfg := node.DefaultConfig()
	n, err := node.New(cfg, node.Deps{Key: key, Store: st, Chain: chain.Backend(t, key), Hooks: a})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		a.Stop()
		n.Stop()
	}()

	ci := node.ChannelInfo{ID: other, Peer: chain.Bob.Address()}
	start := &peerv1.Message{Body: &peerv1.Message_StreamStart{StreamStart: &peerv1.StreamStart{StreamId: make16(2), ChannelId: other[:],
		Rate: node.AmountBytes(uint256.NewInt(10)), TickMs: 1000, StartedUnixNano: time.Now().UnixNano()}}}
	answered, checked := make(chan *peerv1.Message, 1), make(chan []error, 1)
	go func() { answered <- a.PeerMessage(ci.Peer, ci, start) }()
	go func() {
		refuse, release := a.CheckIncoming(ci, []node.Part{{Amount: *uint256.NewInt(1), Offer: &node.Offer{ItemID: "x"}}})
		release(false)
		checked <- refuse
	}()
	a.ChannelEnded(ended)

	time.Sleep(100 * time.Millisecond)
	select {
	case <-answered:
		t.Fatal("a StreamStart was handled before Start")
	case <-checked:
		t.Fatal("an incoming proof was checked before Start")
	default:
	}
	if err := a.Start(n); err != nil {
		t.Fatal(err)
	}
	for _, c := range []chan struct{}{wait(answered), wait(checked)} {
		select {
		case <-c:
		case <-time.After(5 * time.Second):
			t.Fatal("a hook still waits after Start")
		}
	}
	if got, err := a.Stream([16]byte(make16(2))); err != nil || got.Rate.Uint64() != 10 {
		t.Fatalf("the stream started before Start: %+v %v", got, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := a.Stream(old.ID)
		if err == nil && got.EndReason == EndChannelClosed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stream of the channel that ended before Start: %+v %v, want ended (%s)", got, err, EndChannelClosed)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func make16(b byte) []byte {
	id := make([]byte, 16)
	id[0] = b
	return id
}

// wait turns a result channel into one that is closed once a result came.
func wait[T any](c chan T) chan struct{} {
	done := make(chan struct{})
	go func() {
		<-c
		close(done)
	}()
	return done
}
