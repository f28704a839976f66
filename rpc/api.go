package rpc

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/holiman/uint256"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tinypay/tinypay/apps"
	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node"
	"github.com/tinypay/tinypay/node/tower"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
)

// APIServer serves the control API (tinypay.api.v1.Node) for one node. It
// only translates: every rule lives in the node and its application layer.
type APIServer struct {
	apiv1.UnimplementedNodeServer
	n *node.Node
	a *apps.Apps
	// MaxPayStreamInFlight bounds the payments one PayStream call has
	// outstanding; further requests wait.
	MaxPayStreamInFlight int
	// Backups makes the backups of the Backup call; nil: the call is
	// unimplemented.
	Backups BackupFunc
	// Towers tells the state of the node's watchtowers for GetInfo; nil:
	// it has none.
	Towers func() []tower.Status
	// LastBackup tells when the node last made a backup for GetInfo (zero:
	// never); nil: unknown.
	LastBackup func() (time.Time, error)
	// ids are the operator's other identities (SetIdentities).
	ids *identities
}

// NewAPIServer returns the control API of n, with its application layer a.
func NewAPIServer(n *node.Node, a *apps.Apps) *APIServer {
	return &APIServer{n: n, a: a, MaxPayStreamInFlight: 4096}
}

// Register adds the service to g.
func (s *APIServer) Register(g *grpc.Server) { apiv1.RegisterNodeServer(g, s) }

// offerPaidError answers a repeated offer payment: ALREADY_EXISTS, with the
// first payment (and its receipt) in the details.
func (s *APIServer) offerPaidError(err error) error {
	var op *apps.OfferPaidError
	if !errors.As(err, &op) {
		return statusError(err)
	}
	st, derr := status.New(code(err), err.Error()).WithDetails(s.paymentMsg(op.Payment))
	if derr != nil {
		return statusError(err)
	}
	return st.Err()
}

func badArg(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

func parseAmount(field, s string) (uint256.Int, error) {
	var v uint256.Int
	if s == "" {
		return v, badArg("%s is required (a decimal number of base units)", field)
	}
	p, err := channel.ParseUnits(s, 0)
	if err != nil {
		return v, badArg("%s in base units: %v", field, err)
	}
	return *p, nil
}

func parseAddress(field, s string, required bool) (crypto.Address, error) {
	if s == "" && !required {
		return crypto.Address{}, nil
	}
	a, err := crypto.ParseAddress(s)
	if err != nil {
		return a, badArg("%s: %v", field, err)
	}
	return a, nil
}

func parseChannelID(s string) (channel.ID, error) {
	if s == "" {
		return channel.ID{}, badArg("channel_id is required")
	}
	id, err := crypto.ParseHash(s)
	if err != nil {
		return id, badArg("channel_id: %v", err)
	}
	return id, nil
}

// asset resolves an asset given as a symbol or an address.
func (s *APIServer) asset(v string) (node.Asset, error) {
	info := s.n.Info()
	for _, a := range info.Assets {
		if strings.EqualFold(a.Symbol, v) || (v != "" && strings.EqualFold(a.Address.Hex(), v)) {
			return a, nil
		}
	}
	if v == "" {
		return node.ETH, nil
	}
	return node.Asset{}, status.Errorf(codes.InvalidArgument, "unknown asset %q (known: %s)", v, assetList(info.Assets))
}

func assetList(as []node.Asset) string {
	names := make([]string, len(as))
	for i, a := range as {
		names[i] = a.Symbol
	}
	return strings.Join(names, ", ")
}

func assetMsg(a node.Asset) *apiv1.Asset {
	m := &apiv1.Asset{Symbol: a.Symbol, Decimals: uint32(a.Decimals)}
	if !a.Address.IsZero() {
		m.Address = a.Address.Hex()
	}
	return m
}

func channelMsg(c node.ChannelInfo) *apiv1.Channel {
	return &apiv1.Channel{
		Id: c.ID.Hex(), Peer: c.Peer.Hex(), Asset: assetMsg(c.Asset), Phase: c.Phase.String(), Side: c.Side.String(),
		MyDeposit: c.MyDeposit.Dec(), PeerDeposit: c.PeerDeposit.Dec(), MyWithdrawn: c.MyWithdrawn.Dec(), PeerWithdrawn: c.PeerWithdrawn.Dec(),
		MyBalance: c.MyBalance.Dec(), PeerBalance: c.PeerBalance.Dec(), Sent: c.Sent.Dec(), SentNonce: c.SentNonce,
		AckedNonce: c.AckedNonce, Received: c.Received.Dec(), ReceivedNonce: c.ReceivedNonce,
		ChallengePeriod: c.ChallengePeriod, SettleAfter: c.SettleAfter, Behind: c.Behind,
		Connected: c.Connected,
	}
}

// paymentMsg converts a payment, with its full receipt if it has one.
func (s *APIServer) paymentMsg(p node.PaymentInfo) *apiv1.Payment {
	m := paymentMsg(p)
	if p.Receipt != nil {
		if c, err := s.n.Channel(p.Channel); err == nil {
			m.Receipt = ReceiptMsg(s.n.Info(), p, s.n.Address(), c.Asset.Address)
		}
	}
	return m
}

func paymentMsg(p node.PaymentInfo) *apiv1.Payment {
	m := &apiv1.Payment{
		Seq: p.Seq, Id: "0x" + hex.EncodeToString(p.ID[:]), IdempotencyKey: p.Key, ChannelId: p.Channel.Hex(),
		Direction: "incoming", Amount: p.Amount.Dec(), Cumulative: p.Cumulative.Dec(), Nonce: p.Nonce,
		TimeUnixNano: p.Time.UnixNano(), ItemId: p.ItemID, Memo: p.Memo, Status: "pending",
	}
	if p.Outgoing {
		m.Direction = "outgoing"
	}
	if !p.Peer.IsZero() {
		m.Peer = p.Peer.Hex()
	}
	if p.Complete {
		m.Status = "complete"
	}
	if p.RemoteID != ([32]byte{}) {
		m.RemoteId = "0x" + hex.EncodeToString(p.RemoteID[:])
	}
	if !p.OfferID.IsZero() {
		m.OfferId = p.OfferID.Hex()
	}
	if p.StreamID != ([16]byte{}) {
		m.StreamId = "0x" + hex.EncodeToString(p.StreamID[:])
	}
	return m
}

// GetInfo implements apiv1.NodeServer.
func (s *APIServer) GetInfo(ctx context.Context, _ *apiv1.GetInfoRequest) (*apiv1.NodeInfo, error) {
	info := s.n.Info()
	m := &apiv1.NodeInfo{
		Address: info.Address.Hex(), ChainId: info.ChainID, Adjudicator: info.Adjudicator.Hex(),
		PeerListenAddr: info.ListenAddr, PeerListenAddrs: info.ListenAddrs, Version: Version, ChainTime: info.ChainTime, LastSeq: info.LastSeq,
		Restored: info.Restored, ChannelsBehind: uint32(info.ChannelsBehind),
		ChannelsOpen: uint32(info.ChannelsOpen), ChannelsReady: uint32(info.ChannelsReady),
		ChainHead: info.ChainHead, WatcherLastPollUnixNano: unixNano(info.WatcherLastPoll), WatcherError: info.WatcherError,
	}
	// Not Health, which walks every channel: GetInfo is asked often (the
	// dashboard, apps, scripts waiting for channels), and a node of
	// 100,000 channels spent most of a restart's CPU answering it.
	if err := s.n.Unhealthy(); err != nil {
		m.Unhealthy = err.Error()
	}
	for _, a := range info.Assets {
		m.Assets = append(m.Assets, assetMsg(a))
	}
	// The sweep policy, towers and backups are the operator's business:
	// the admin's and viewers', not an app's.
	if !appToken(ctx).IsZero() {
		return m, nil
	}
	m.Identities = s.ids.names()
	if s.Towers != nil {
		for _, t := range s.Towers() {
			ts := &apiv1.TowerStatus{
				Endpoint: t.Tower.HostPort, Address: t.Tower.Address.Hex(), Connected: t.Connected,
				Pending: uint32(t.Pending), LastError: t.LastError, LastAckUnixNano: unixNano(t.LastAck.Time),
			}
			if !t.LastAck.Time.IsZero() {
				ts.LastAckChannel, ts.LastAckNonce = t.LastAck.Channel.Hex(), t.LastAck.Nonce
			}
			m.Towers = append(m.Towers, ts)
		}
	}
	if s.LastBackup != nil {
		t, err := s.LastBackup()
		if err != nil {
			return nil, statusError(fmt.Errorf("when the last backup was made: %w", err))
		}
		m.Backup = &apiv1.BackupState{LastUnixNano: unixNano(t)}
	}
	if sw := s.n.SweepPolicy(); !sw.To.IsZero() {
		m.Sweep = &apiv1.SweepPolicy{To: sw.To.Hex(), GasReserve: sw.GasReserve.Dec()}
		for _, th := range sw.Above {
			as := node.Asset{Address: th.Asset, Symbol: th.Asset.Hex()}
			for _, a := range info.Assets {
				if a.Address == th.Asset {
					as = a
				}
			}
			m.Sweep.Thresholds = append(m.Sweep.Thresholds, &apiv1.SweepThreshold{Asset: assetMsg(as), Above: th.Above.Dec()})
		}
	}
	return m, nil
}

// Version is the node's version string, set by the build.
var Version = "dev"

// GetBalances implements apiv1.NodeServer.
func (s *APIServer) GetBalances(ctx context.Context, _ *apiv1.GetBalancesRequest) (*apiv1.Balances, error) {
	bals, err := s.n.Balances(ctx)
	if err != nil {
		return nil, statusError(err)
	}
	out := &apiv1.Balances{}
	for _, b := range bals {
		out.Balances = append(out.Balances, &apiv1.AssetBalance{
			Asset: assetMsg(b.Asset), Wallet: b.Wallet.Dec(), InChannels: b.InChannels.Dec(), Payout: b.Payout.Dec(),
		})
	}
	return out, nil
}

// ConnectPeer implements apiv1.NodeServer.
func (s *APIServer) ConnectPeer(ctx context.Context, r *apiv1.ConnectPeerRequest) (*apiv1.Peer, error) {
	if r.GetHostPort() == "" {
		return nil, badArg("host_port is required")
	}
	if n := len(r.GetMoreHostPorts()); n > node.MaxPeerAddrs-1 {
		return nil, badArg("%d addresses of one peer, at most %d", 1+n, node.MaxPeerAddrs)
	}
	addrs := append([]string{r.GetHostPort()}, r.GetMoreHostPorts()...)
	for _, a := range addrs {
		if err := node.CheckPeerAddr(a); err != nil {
			return nil, statusError(err)
		}
	}
	want, err := parseAddress("address", r.GetAddress(), false)
	if err != nil {
		return nil, err
	}
	p, err := s.n.ConnectPeerAddrs(ctx, addrs, want)
	if err != nil {
		return nil, statusError(err)
	}
	return peerMsg(p), nil
}

func peerMsg(p node.PeerInfo) *apiv1.Peer {
	return &apiv1.Peer{Address: p.Address.Hex(), RemoteAddr: p.RemoteAddr, Connected: p.Connected, DialAddrs: p.DialAddrs}
}

// ListPeers implements apiv1.NodeServer.
func (s *APIServer) ListPeers(ctx context.Context, _ *apiv1.ListPeersRequest) (*apiv1.ListPeersResponse, error) {
	out := &apiv1.ListPeersResponse{}
	for _, p := range s.n.Peers() {
		out.Peers = append(out.Peers, peerMsg(p))
	}
	return out, nil
}

// OpenChannel implements apiv1.NodeServer.
func (s *APIServer) OpenChannel(ctx context.Context, r *apiv1.OpenChannelRequest) (*apiv1.Channel, error) {
	peer, err := parseAddress("peer", r.GetPeer(), true)
	if err != nil {
		return nil, err
	}
	a, err := s.asset(r.GetAsset())
	if err != nil {
		return nil, err
	}
	dep, err := parseAmount("deposit", r.GetDeposit())
	if err != nil {
		return nil, err
	}
	c, err := s.n.OpenChannel(ctx, peer, a.Address, dep, r.GetChallengePeriod())
	if err != nil {
		return nil, statusError(err)
	}
	return channelMsg(c), nil
}

// channelOp runs a node call that takes a channel and an optional amount.
func (s *APIServer) channelOp(id string, amount *string, f func(channel.ID, uint256.Int) (node.ChannelInfo, error)) (*apiv1.Channel, error) {
	cid, err := parseChannelID(id)
	if err != nil {
		return nil, err
	}
	var v uint256.Int
	if amount != nil {
		if v, err = parseAmount("amount", *amount); err != nil {
			return nil, err
		}
	}
	c, err := f(cid, v)
	if err != nil {
		return nil, statusError(err)
	}
	return channelMsg(c), nil
}

// Deposit implements apiv1.NodeServer.
func (s *APIServer) Deposit(ctx context.Context, r *apiv1.DepositRequest) (*apiv1.Channel, error) {
	amt := r.GetAmount()
	return s.channelOp(r.GetChannelId(), &amt, func(id channel.ID, v uint256.Int) (node.ChannelInfo, error) {
		return s.n.Deposit(ctx, id, v)
	})
}

// Withdraw implements apiv1.NodeServer.
func (s *APIServer) Withdraw(ctx context.Context, r *apiv1.WithdrawRequest) (*apiv1.Channel, error) {
	amt := r.GetAmount()
	return s.channelOp(r.GetChannelId(), &amt, func(id channel.ID, v uint256.Int) (node.ChannelInfo, error) {
		return s.n.Withdraw(ctx, id, v)
	})
}

// ListChannels implements apiv1.NodeServer: a page of channels (see
// pagetoken.go for the tokens).
func (s *APIServer) ListChannels(ctx context.Context, r *apiv1.ListChannelsRequest) (*apiv1.ListChannelsResponse, error) {
	peer, err := parseAddress("peer", r.GetPeer(), false)
	if err != nil {
		return nil, err
	}
	size, err := pageSize(r.GetPageSize())
	if err != nil {
		return nil, err
	}
	after, err := channelCursor(r.GetPageToken(), peer, r.GetAll())
	if err != nil {
		return nil, err
	}
	page, next := s.n.ChannelPage(node.ChannelQuery{Peer: peer, All: r.GetAll(), After: after, Limit: size})
	out := &apiv1.ListChannelsResponse{Channels: make([]*apiv1.Channel, 0, len(page)), NextPageToken: channelPageToken(peer, r.GetAll(), next)}
	for _, c := range page {
		out.Channels = append(out.Channels, channelMsg(c))
	}
	return out, nil
}

// GetChannel implements apiv1.NodeServer.
func (s *APIServer) GetChannel(ctx context.Context, r *apiv1.GetChannelRequest) (*apiv1.Channel, error) {
	return s.channelOp(r.GetChannelId(), nil, func(id channel.ID, _ uint256.Int) (node.ChannelInfo, error) { return s.n.Channel(id) })
}

// CloseChannel implements apiv1.NodeServer.
func (s *APIServer) CloseChannel(ctx context.Context, r *apiv1.CloseChannelRequest) (*apiv1.Channel, error) {
	return s.channelOp(r.GetChannelId(), nil, func(id channel.ID, _ uint256.Int) (node.ChannelInfo, error) { return s.n.CloseChannel(ctx, id) })
}

// ForceClose implements apiv1.NodeServer.
func (s *APIServer) ForceClose(ctx context.Context, r *apiv1.ForceCloseRequest) (*apiv1.Channel, error) {
	return s.channelOp(r.GetChannelId(), nil, func(id channel.ID, _ uint256.Int) (node.ChannelInfo, error) { return s.n.ForceClose(ctx, id) })
}

// Settle implements apiv1.NodeServer.
func (s *APIServer) Settle(ctx context.Context, r *apiv1.SettleRequest) (*apiv1.Channel, error) {
	return s.channelOp(r.GetChannelId(), nil, func(id channel.ID, _ uint256.Int) (node.ChannelInfo, error) { return s.n.Settle(ctx, id) })
}

func (s *APIServer) payRequest(ctx context.Context, r *apiv1.PayRequest) (apps.PayRequest, error) {
	var req apps.PayRequest
	var err error
	if req.Channel, req.Peer, req.Asset, req.AnyAsset, err = s.target(r.GetChannelId(), r.GetPeer(), r.GetAsset(), r.GetOffer() != nil); err != nil {
		return req, err
	}
	if r.GetOffer() != nil {
		o, err := ParseOffer(r.GetOffer())
		if err != nil {
			return req, err
		}
		req.Offer = &o
		if r.GetAmount() != "" {
			if req.Amount, err = parseAmount("amount", r.GetAmount()); err != nil {
				return req, err
			}
		}
	} else if req.Amount, err = parseAmount("amount", r.GetAmount()); err != nil {
		return req, err
	}
	req.Key, req.ItemID, req.Memo, req.Receipt = r.GetIdempotencyKey(), r.GetItemId(), r.GetMemo(), r.GetReceipt()
	req.Token = appToken(ctx)
	return req, nil
}

// target parses where a payment or stream goes: a channel, or a peer and
// an asset (empty: any). optional: neither is needed (an offer names the
// payee).
func (s *APIServer) target(channelID, peer, asset string, optional bool) (id channel.ID, p crypto.Address, a crypto.Address, anyAsset bool, err error) {
	if channelID != "" {
		if id, err = parseChannelID(channelID); err != nil {
			return
		}
	}
	if p, err = parseAddress("peer", peer, false); err != nil {
		return
	}
	if channelID == "" && p.IsZero() && !optional {
		err = badArg("name a channel_id or a peer")
		return
	}
	if asset == "" {
		return id, p, a, true, nil
	}
	na, err := s.asset(asset)
	if err != nil {
		return id, p, a, false, err
	}
	if channelID != "" { // a channel holds one asset: the request must name it
		if c, cerr := s.n.Channel(id); cerr == nil && c.Asset.Address != na.Address {
			err = badArg("channel %s holds %s, not %s", channelID, c.Asset.Symbol, na.Symbol)
		}
	}
	return id, p, na.Address, false, err
}

// Pay implements apiv1.NodeServer.
func (s *APIServer) Pay(ctx context.Context, r *apiv1.PayRequest) (*apiv1.Payment, error) {
	req, err := s.payRequest(ctx, r)
	if err != nil {
		return nil, err
	}
	p, err := s.a.Pay(ctx, req)
	if err != nil {
		return nil, s.offerPaidError(err)
	}
	return s.paymentMsg(p), nil
}

// PayStream implements apiv1.NodeServer: each request is paid concurrently
// and its result sent as soon as it is known. Requests go to workers, up to
// MaxPayStreamInFlight of them, that live as long as the call: a worker
// takes the next request when it is done with one, so a busy stream does
// not start a goroutine (and grow its stack) per payment.
func (s *APIServer) PayStream(stream grpc.BidiStreamingServer[apiv1.PayRequest, apiv1.PayResult]) error {
	ctx := stream.Context()
	var (
		sendMu  sync.Mutex
		sendErr error
		wg      sync.WaitGroup
		workers int
		work    = make(chan *apiv1.PayRequest) // to a worker that waits for one
	)
	send := func(res *apiv1.PayResult) {
		sendMu.Lock()
		defer sendMu.Unlock()
		if sendErr == nil {
			sendErr = stream.Send(res)
		}
	}
	pay := func(r *apiv1.PayRequest) {
		res := &apiv1.PayResult{IdempotencyKey: r.GetIdempotencyKey()}
		req, err := s.payRequest(ctx, r)
		if err == nil {
			var p node.PaymentInfo
			p, err = s.a.Pay(ctx, req)
			if err == nil {
				res.Payment = s.paymentMsg(p)
			}
		}
		if err != nil {
			st, _ := status.FromError(statusError(err))
			res.Code, res.Error = uint32(st.Code()), st.Message()
		}
		send(res)
	}
	stop := sync.OnceFunc(func() { // the workers end with their last payment
		close(work)
		wg.Wait()
	})
	defer stop()
	for {
		r, err := stream.Recv()
		if err != nil {
			stop()
			if sendErr != nil {
				return sendErr
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		select {
		case work <- r: // a worker was waiting
			continue
		default:
		}
		if workers < max(1, s.MaxPayStreamInFlight) {
			workers++
			wg.Add(1)
			go func() {
				defer wg.Done()
				pay(r)
				for r := range work {
					pay(r)
				}
			}()
			continue
		}
		select {
		case work <- r:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// ListPayments implements apiv1.NodeServer.
func (s *APIServer) ListPayments(ctx context.Context, r *apiv1.ListPaymentsRequest) (*apiv1.ListPaymentsResponse, error) {
	var only channel.ID
	var err error
	if r.GetChannelId() != "" {
		if only, err = parseChannelID(r.GetChannelId()); err != nil {
			return nil, err
		}
	}
	if r.GetLimit() > 1000 {
		return nil, badArg("limit %d: at most 1000", r.GetLimit())
	}
	pays, next, err := s.n.Payments(r.GetAfterSeq(), int(r.GetLimit()), only)
	if err != nil {
		return nil, statusError(err)
	}
	out := &apiv1.ListPaymentsResponse{NextAfterSeq: next}
	for _, p := range pays {
		out.Payments = append(out.Payments, s.paymentMsg(p))
	}
	return out, nil
}

// SubscribeEvents implements apiv1.NodeServer. It sends the response
// header as soon as the request is accepted, so that a client (the HTTP
// gateway's event stream) knows the subscription stands before the first
// event.
func (s *APIServer) SubscribeEvents(r *apiv1.SubscribeEventsRequest, stream grpc.ServerStreamingServer[apiv1.Event]) error {
	if err := node.CheckEventKinds(r.GetKinds()); err != nil {
		return statusError(err)
	}
	// A cursor past the newest event is another node's, or from before a
	// restore: waiting for it would say nothing while events go by.
	if last := s.n.Info().LastSeq; r.GetAfterSeq() > last {
		return status.Errorf(codes.OutOfRange, "after_seq %d is beyond this node's newest event %d: the cursor is not from this node's log (another node, or before a restore?); resume from %d or less", r.GetAfterSeq(), last, last)
	}
	if err := stream.SendHeader(metadata.MD{}); err != nil {
		return err
	}
	err := s.n.Subscribe(stream.Context(), r.GetAfterSeq(), r.GetKinds(), func(ev node.Event) error {
		return stream.Send(s.eventMsg(ev))
	})
	if err == stream.Context().Err() {
		return nil
	}
	return statusError(err)
}

// ListEvents implements apiv1.NodeServer.
func (s *APIServer) ListEvents(ctx context.Context, r *apiv1.ListEventsRequest) (*apiv1.ListEventsResponse, error) {
	evs, next, err := s.n.Events(r.GetBeforeSeq(), r.GetKinds(), int(r.GetLimit()))
	if err != nil {
		return nil, statusError(err)
	}
	out := &apiv1.ListEventsResponse{NextBeforeSeq: next, Events: make([]*apiv1.Event, 0, len(evs))}
	for _, ev := range evs {
		out.Events = append(out.Events, s.eventMsg(ev))
	}
	return out, nil
}

// eventMsg converts an event of the log, with the current state of its
// stream or channel.
func (s *APIServer) eventMsg(ev node.Event) *apiv1.Event {
	m := &apiv1.Event{Seq: ev.Seq, TimeUnixNano: ev.Time.UnixNano()}
	switch {
	case ev.Payment != nil:
		m.Event = &apiv1.Event_Payment{Payment: s.paymentMsg(*ev.Payment)}
	case ev.Stream != nil:
		se := &apiv1.StreamEvent{Kind: ev.Stream.Kind, Detail: ev.Stream.Detail}
		if st, err := s.a.Stream(ev.Stream.Stream); err == nil {
			se.Stream = streamMsg(st)
		}
		m.Event = &apiv1.Event_Stream{Stream: se}
	case ev.Channel != nil:
		ce := &apiv1.ChannelEvent{ChannelId: ev.Channel.Channel.Hex(), Kind: ev.Channel.Kind, Detail: ev.Channel.Detail}
		if !ev.Channel.Amount.IsZero() {
			ce.Amount = ev.Channel.Amount.Dec()
		}
		if c, err := s.n.Channel(ev.Channel.Channel); err == nil {
			ce.Channel = channelMsg(c)
		}
		m.Event = &apiv1.Event_Channel{Channel: ce}
	case ev.Transfer != nil:
		m.Event = &apiv1.Event_Transfer{Transfer: transferEventMsg(ev.Transfer)}
	}
	return m
}

var _ apiv1.NodeServer = (*APIServer)(nil)

// unixNano is t in nanoseconds since 1970, 0 for the zero time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
