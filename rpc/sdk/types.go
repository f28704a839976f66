package sdk

import (
	"fmt"
	"time"

	"github.com/holiman/uint256"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
)

// Info describes a node.
type Info struct {
	// Address is the node's account and peer identity (0x hex).
	Address string
	ChainID uint64
	// Adjudicator is the channel contract's address.
	Adjudicator    string
	PeerListenAddr string
	// PeerListenAddrs are every peer address the node advertises (a hot
	// standby pair names all of its processes'), PeerListenAddr first.
	PeerListenAddrs []string
	Version         string
	// Assets are the assets the node can pay in.
	Assets Assets
	// ChainTime is the newest confirmed chain timestamp the node has seen.
	ChainTime time.Time
	// Restored: the node started from a backup and has not caught up with
	// its peers and the chain on every channel yet; ChannelsBehind counts
	// the channels it refuses to pay on meanwhile (Channel.Behind).
	Restored       bool
	ChannelsBehind int
	// Identities names the operator's other node identities whose revenue
	// the node totals with its own (RevenueQuery.AllIdentities); empty
	// for app tokens.
	Identities []string
}

// Payment is a payment in or out.
type Payment struct {
	// Seq is its place in the node's event log.
	Seq uint64
	// ID is the node's id for it (0x hex); RemoteID is the payer's id for
	// an incoming payment.
	ID       string
	RemoteID string
	// Key is the idempotency key (outgoing payments).
	Key     string
	Channel string
	// Peer is the other side: the payee of an outgoing payment, the payer
	// of an incoming one.
	Peer     string
	Outgoing bool
	Amount   *uint256.Int
	// Cumulative is the channel's total in this direction up to and
	// including this payment; Nonce is the proof's.
	Cumulative *uint256.Int
	Nonce      uint64
	Time       time.Time
	ItemID     string
	Memo       string
	// Complete: acknowledged by the payee (outgoing) or durably received
	// (incoming). An outgoing payment that is not complete is signed and
	// waiting for the acknowledgement.
	Complete bool
	// OfferID and StreamID name the offer or stream it paid, if any.
	OfferID  string
	StreamID string
	// Receipt is the payee's signed receipt, when one was asked for.
	Receipt *apiv1.Receipt
}

// Channel describes a channel from the node's side.
type Channel struct {
	ID    string
	Peer  string
	Asset Asset
	// Phase: open, closing, closed, disputed, settled, ...
	Phase string
	// Side is "A" (listed first on chain) or "B".
	Side          string
	MyDeposit     *uint256.Int
	PeerDeposit   *uint256.Int
	MyWithdrawn   *uint256.Int
	PeerWithdrawn *uint256.Int
	MyBalance     *uint256.Int
	PeerBalance   *uint256.Int
	// Sent and Received are the cumulative amounts of the newest proofs
	// each way.
	Sent            *uint256.Int
	SentNonce       uint64
	AckedNonce      uint64
	Received        *uint256.Int
	ReceivedNonce   uint64
	ChallengePeriod time.Duration
	// SettleAfter is, while force-closed, the chain time after which the
	// channel can be settled.
	SettleAfter time.Time
	MyPayout    *uint256.Int
	PeerPayout  *uint256.Int
	// Behind is empty, or why the node may be behind on the channel: it
	// refuses to pay on it (ErrUnavailable; retry with the same key) until
	// it has caught up with the peer and the chain.
	Behind string
}

// Balance is what a node holds of one asset.
type Balance struct {
	Asset Asset
	// Wallet is on chain in the node's account; InChannels its share of
	// open channels; Payout what settled channels owe it, not withdrawn.
	Wallet     *uint256.Int
	InChannels *uint256.Int
	Payout     *uint256.Int
}

// RevenueRow is the income of one group (a channel, stream, item, peer or
// asset) in one asset, and with a bucket, in one hour or day.
type RevenueRow struct {
	Key      string
	Asset    Asset
	Payments uint64
	Amount   *uint256.Int
	// BucketStart is when the row's hour or day starts, in the query's
	// Location (zero without a bucket).
	BucketStart time.Time
}

// decoder converts the node's messages, keeping the first error.
type decoder struct{ err error }

func (d *decoder) amount(field, s string) *uint256.Int {
	if s == "" || d.err != nil {
		return new(uint256.Int)
	}
	v, err := uint256.FromDecimal(s)
	if err != nil {
		d.err = fmt.Errorf("tinypay: %w: the node sent %s %q: %v", ErrMalformed, field, s, err)
		return new(uint256.Int)
	}
	return v
}

func unixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

func unixSec(s uint64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(int64(s), 0)
}

func assetFrom(m *apiv1.Asset) Asset {
	return Asset{Symbol: m.GetSymbol(), Address: m.GetAddress(), Decimals: m.GetDecimals()}
}

func infoFrom(m *apiv1.NodeInfo) *Info {
	in := &Info{
		Address: m.GetAddress(), ChainID: m.GetChainId(), Adjudicator: m.GetAdjudicator(), PeerListenAddr: m.GetPeerListenAddr(),
		Version: m.GetVersion(), ChainTime: unixSec(m.GetChainTime()),
		Restored: m.GetRestored(), ChannelsBehind: int(m.GetChannelsBehind()),
		Identities: m.GetIdentities(), PeerListenAddrs: m.GetPeerListenAddrs(),
	}
	for _, a := range m.GetAssets() {
		in.Assets = append(in.Assets, assetFrom(a))
	}
	return in
}

func paymentFrom(m *apiv1.Payment) (*Payment, error) {
	if m == nil {
		return nil, fmt.Errorf("tinypay: %w: the node sent no payment", ErrMalformed)
	}
	var d decoder
	p := &Payment{
		Seq: m.GetSeq(), ID: m.GetId(), RemoteID: m.GetRemoteId(), Key: m.GetIdempotencyKey(), Channel: m.GetChannelId(),
		Peer: m.GetPeer(), Outgoing: m.GetDirection() == "outgoing", Amount: d.amount("amount", m.GetAmount()),
		Cumulative: d.amount("cumulative", m.GetCumulative()), Nonce: m.GetNonce(), Time: unixNano(m.GetTimeUnixNano()),
		ItemID: m.GetItemId(), Memo: m.GetMemo(), Complete: m.GetStatus() == "complete", OfferID: m.GetOfferId(),
		StreamID: m.GetStreamId(), Receipt: m.GetReceipt(),
	}
	return p, d.err
}

func channelFrom(m *apiv1.Channel) (*Channel, error) {
	var d decoder
	c := &Channel{
		ID: m.GetId(), Peer: m.GetPeer(), Asset: assetFrom(m.GetAsset()), Phase: m.GetPhase(), Side: m.GetSide(),
		MyDeposit: d.amount("my_deposit", m.GetMyDeposit()), PeerDeposit: d.amount("peer_deposit", m.GetPeerDeposit()),
		MyWithdrawn: d.amount("my_withdrawn", m.GetMyWithdrawn()), PeerWithdrawn: d.amount("peer_withdrawn", m.GetPeerWithdrawn()),
		MyBalance: d.amount("my_balance", m.GetMyBalance()), PeerBalance: d.amount("peer_balance", m.GetPeerBalance()),
		Sent: d.amount("sent", m.GetSent()), SentNonce: m.GetSentNonce(), AckedNonce: m.GetAckedNonce(),
		Received: d.amount("received", m.GetReceived()), ReceivedNonce: m.GetReceivedNonce(),
		ChallengePeriod: time.Duration(m.GetChallengePeriod()) * time.Second, SettleAfter: unixSec(m.GetSettleAfter()),
		MyPayout: d.amount("my_payout", m.GetMyPayout()), PeerPayout: d.amount("peer_payout", m.GetPeerPayout()),
		Behind: m.GetBehind(),
	}
	return c, d.err
}
