package apps

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
	"github.com/tinypay/tinypay/store"
)

var _ node.Hooks = (*Apps)(nil)

// CheckIncoming implements node.Hooks: the payee's checks of the offers an
// incoming proof pays. Before Start it waits for it; if the layer stopped
// without starting, every offer is refused (and so refunded).
func (a *Apps) CheckIncoming(ch node.ChannelInfo, parts []node.Part) ([]error, func(bool)) {
	if !a.waitStarted() {
		refuse := make([]error, len(parts))
		for i := range parts {
			if parts[i].Offer != nil {
				refuse[i] = fmt.Errorf("%w: the application layer is stopped", node.ErrStopped)
			}
		}
		return refuse, func(bool) {}
	}
	return a.checkOffers(ch, parts)
}

// Incoming implements node.Hooks: stream ticks are metered in the same
// write as the payments. Before Start it waits for it (the streams are not
// loaded yet).
func (a *Apps) Incoming(b *store.Batch, ch node.ChannelInfo, parts []node.Part, now time.Time) error {
	if !a.waitStarted() {
		return nil
	}
	a.streams.mu.Lock()
	err := a.logPending(b, ch.ID) // the channel's events that happened before this proof
	a.streams.mu.Unlock()
	if err != nil {
		return err
	}
	var write []*stream
	due := map[*stream]bool{}
	for i := range parts {
		if parts[i].Stream != ([16]byte{}) {
			st, err := a.meterIncoming(b, ch, &parts[i], now)
			if err != nil {
				return err
			}
			if st != nil && !due[st] {
				due[st] = true
				write = append(write, st)
			}
		}
	}
	if len(write) == 0 {
		return nil
	}
	// Once, after every part: a record counts every tick of the proof, so
	// that none is left to the log with the record's nonce past it.
	a.streams.mu.Lock()
	defer a.streams.mu.Unlock()
	for _, st := range write {
		if err := a.putStream(b, st); err != nil {
			return err
		}
	}
	return nil
}

// PeerMessage implements node.Hooks: StreamStart and StreamEnd. A refused
// message gets an Error back. Before Start it waits for it.
func (a *Apps) PeerMessage(peer crypto.Address, ch node.ChannelInfo, m *peerv1.Message) *peerv1.Message {
	if !a.waitStarted() {
		return nil
	}
	var err error
	var reply *peerv1.Message
	switch b := m.GetBody().(type) {
	case *peerv1.Message_StreamStart:
		reply, err = a.onStreamStart(peer, ch, b.StreamStart)
	case *peerv1.Message_StreamEnd:
		err = a.onStreamEnd(ch, b.StreamEnd)
	default:
		return nil
	}
	if err == nil {
		return reply
	}
	code := uint32(3) // INVALID_ARGUMENT
	var c interface{ PeerCode() uint32 }
	if errors.As(err, &c) {
		code = c.PeerCode()
	}
	// Debug only: a peer can send refused messages as fast as it likes,
	// and must not flood the log (Bounds warns about bounds once an hour).
	a.log.Debug("refused a stream message", "peer", peer, "channel", ch.ID, "err", err)
	return &peerv1.Message{Body: &peerv1.Message_Error{Error: &peerv1.Error{Code: code, Message: truncate(err.Error(), 1024), ChannelId: ch.ID[:]}}}
}

// PeerConnected implements node.Hooks. Before Start it waits for it (the
// streams to tell the peer about are not loaded yet).
func (a *Apps) PeerConnected(peer crypto.Address, send func(*peerv1.Message)) {
	if a.waitStarted() {
		a.peerConnected(peer, send)
	}
}

// ChannelEnded implements node.Hooks: the channel's streams end.
// It only queues what it writes and sends, so it does not block the
// channel's owner; before Start it leaves the work to a goroutine that
// waits for the streams to be loaded.
func (a *Apps) ChannelEnded(id [32]byte) {
	select {
	case <-a.started:
		a.endChannelStreams(id)
	default:
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			if a.waitStarted() {
				a.endChannelStreams(id)
			}
		}()
	}
}

// knownAsset reports whether the node knows asset.
func (a *Apps) knownAsset(asset crypto.Address) bool {
	for _, as := range a.n.Info().Assets {
		if as.Address == asset {
			return true
		}
	}
	return false
}

// assetOf describes the asset at addr.
func (a *Apps) assetOf(addr crypto.Address) node.Asset {
	for _, as := range a.n.Info().Assets {
		if as.Address == addr {
			return as
		}
	}
	return node.Asset{Address: addr, Symbol: addr.Hex()}
}

func amountBytes(v *uint256.Int) []byte { return node.AmountBytes(v) }

func parseAmount(field string, b []byte) (uint256.Int, error) { return node.ParseAmount(field, b) }

// truncate cuts s to at most n bytes of valid UTF-8.
func truncate(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "")
	}
	return s
}
