package rpc

import (
	"context"
	"encoding/hex"
	"strings"
	"time"
	_ "time/tzdata" // Revenue's time zones, the same on every host (with or without zoneinfo)

	"github.com/holiman/uint256"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tinypay/tinypay/apps"
	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
	"github.com/tinypay/tinypay/rpc/apiutil"
)

// OfferMsg converts an offer to its API form.
func OfferMsg(o apps.Offer) *apiv1.Offer {
	return &apiv1.Offer{
		ChainId: o.ChainID, Adjudicator: o.Adjudicator.Hex(), OfferId: o.ID.Hex(), Payee: o.Payee.Hex(), ItemId: o.ItemID,
		Asset: o.Asset.Hex(), Price: o.Price.Dec(), Expiry: o.Expiry, Signature: "0x" + hex.EncodeToString(o.Sig[:]),
		Uses: apiv1.OfferUses(o.Uses.Policy), MaxUses: o.Uses.Max,
	}
}

// ParseOffer converts an API offer; it checks the encoding, not the
// signature.
func ParseOffer(m *apiv1.Offer) (apps.Offer, error) {
	o, err := apiutil.ParseOffer(m)
	if err != nil {
		return apps.Offer{}, badArg("%v", err)
	}
	return apps.Offer{
		ChainID: o.Domain.ChainID(), Adjudicator: o.Domain.Contract(), ID: o.Fields.Offer, Payee: o.Fields.Payee,
		ItemID: o.Fields.ItemID, Asset: o.Fields.Asset, Price: o.Fields.Price, Expiry: o.Fields.Expiry, Sig: o.Sig,
		Uses: apps.Uses{Policy: o.Fields.Uses, Max: o.Fields.MaxUses},
	}, nil
}

// ReceiptMsg builds the full, offline-verifiable receipt of a payment
// through a channel in asset.
func ReceiptMsg(info node.NodeInfo, p node.PaymentInfo, self, asset crypto.Address) *apiv1.Receipt {
	if p.Receipt == nil {
		return nil
	}
	payer, payee, id := self, p.Peer, p.ID
	if !p.Outgoing {
		payer, payee, id = p.Peer, self, p.RemoteID
	}
	return &apiv1.Receipt{
		ChainId: info.ChainID, Adjudicator: info.Adjudicator.Hex(), ChannelId: p.Channel.Hex(), Asset: asset.Hex(),
		PaymentId: crypto.Hash(id).Hex(), Payer: payer.Hex(), Payee: payee.Hex(), Amount: p.Amount.Dec(),
		Cumulative: p.Cumulative.Dec(), ItemId: p.ItemID, OfferId: p.OfferID.Hex(), Time: p.Receipt.Time,
		Signature: "0x" + hex.EncodeToString(p.Receipt.Sig[:]),
	}
}

// CreateOffer implements apiv1.NodeServer.
func (s *APIServer) CreateOffer(ctx context.Context, r *apiv1.CreateOfferRequest) (*apiv1.Offer, error) {
	a, err := s.asset(r.GetAsset())
	if err != nil {
		return nil, err
	}
	price, err := parseAmount("price", r.GetPrice())
	if err != nil {
		return nil, err
	}
	ttl := time.Duration(r.GetTtlSeconds()) * time.Second
	if ttl == 0 {
		ttl = 10 * time.Minute
	}
	uses, err := offerUses(r.GetUses(), r.GetMaxUses())
	if err != nil {
		return nil, err
	}
	o, err := s.a.CreateOffer(r.GetItemId(), a.Address, price, ttl, uses)
	if err != nil {
		return nil, statusError(err)
	}
	return OfferMsg(o), nil
}

// offerUses converts a CreateOfferRequest's use policy.
func offerUses(u apiv1.OfferUses, max uint32) (apps.Uses, error) {
	switch u {
	case apiv1.OfferUses_OFFER_USES_UNSPECIFIED, apiv1.OfferUses_OFFER_USES_PER_PAYER, apiv1.OfferUses_OFFER_USES_UNLIMITED:
		if max != 0 {
			return apps.Uses{}, badArg("max_uses is for OFFER_USES_LIMITED only, not %s", u)
		}
		return apps.Uses{Policy: crypto.OfferUses(u)}, nil
	case apiv1.OfferUses_OFFER_USES_LIMITED:
		if max < 1 || max > crypto.MaxOfferUses {
			return apps.Uses{}, badArg("max_uses %d: a limited offer takes 1 to %d payments", max, crypto.MaxOfferUses)
		}
		return apps.UpTo(max), nil
	}
	return apps.Uses{}, badArg("unknown offer use policy %d", int32(u))
}

// GetOfferUses implements apiv1.NodeServer.
func (s *APIServer) GetOfferUses(ctx context.Context, r *apiv1.GetOfferUsesRequest) (*apiv1.OfferUsage, error) {
	if r.GetOffer() == nil {
		return nil, badArg("offer is required")
	}
	o, err := ParseOffer(r.GetOffer())
	if err != nil {
		return nil, err
	}
	u, err := s.a.OfferUses(o)
	if err != nil {
		return nil, statusError(err)
	}
	m := &apiv1.OfferUsage{OfferId: o.ID.Hex(), Uses: apiv1.OfferUses(o.Uses.Policy), MaxUses: o.Uses.Max, Paid: u.Paid, Expired: u.Expired}
	if u.HasRemaining {
		m.Remaining = &u.Remaining
	}
	return m, nil
}

func streamMsg(st apps.StreamInfo) *apiv1.Stream {
	m := &apiv1.Stream{
		Id: "0x" + hex.EncodeToString(st.ID[:]), ChannelId: st.Channel.Hex(), Peer: st.Peer.Hex(), Direction: "incoming",
		Rate: st.Rate.Dec(), TickMs: uint64(st.Tick / time.Millisecond), Budget: st.Budget.Dec(), Paid: st.Paid.Dec(),
		Ticks: st.Ticks, Status: st.Status, EndReason: st.EndReason, StartedUnixNano: st.Started.UnixNano(),
		ItemId: st.ItemID, Asset: assetMsg(st.Asset),
	}
	if st.Outgoing {
		m.Direction = "outgoing"
	}
	if !st.End.IsZero() {
		m.EndUnix = uint64(st.End.Unix())
	}
	if !st.Last.IsZero() {
		m.LastPaymentUnixNano = st.Last.UnixNano()
	}
	return m
}

func parseStreamID(s string) ([16]byte, error) {
	raw, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil || len(raw) != 16 {
		return [16]byte{}, badArg("stream_id %q: want 0x and 32 hex digits", s)
	}
	return [16]byte(raw), nil
}

// StartStream implements apiv1.NodeServer.
func (s *APIServer) StartStream(ctx context.Context, r *apiv1.StartStreamRequest) (*apiv1.Stream, error) {
	var req apps.StreamRequest
	var err error
	if req.Channel, req.Peer, req.Asset, req.AnyAsset, err = s.target(r.GetChannelId(), r.GetPeer(), r.GetAsset(), false); err != nil {
		return nil, err
	}
	if req.Rate, err = parseAmount("rate", r.GetRate()); err != nil {
		return nil, err
	}
	if r.GetBudget() != "" {
		if req.Budget, err = parseAmount("budget", r.GetBudget()); err != nil {
			return nil, err
		}
	}
	if r.GetAutoTopup() != "" {
		if req.AutoTopup, err = parseAmount("auto_topup", r.GetAutoTopup()); err != nil {
			return nil, err
		}
	}
	if r.GetTickMs() > uint64(apps.MaxTick/time.Millisecond) || r.GetDurationSeconds() > 10*365*24*3600 {
		return nil, badArg("tick or duration out of range")
	}
	req.Tick = time.Duration(r.GetTickMs()) * time.Millisecond
	req.Duration = time.Duration(r.GetDurationSeconds()) * time.Second
	req.ItemID, req.Token = r.GetItemId(), appToken(ctx)
	if !req.Token.IsZero() && !req.AutoTopup.IsZero() {
		return nil, status.Error(codes.PermissionDenied, "app tokens may not deposit (auto_topup)")
	}
	st, err := s.a.StartStream(ctx, req)
	if err != nil {
		return nil, statusError(err)
	}
	return streamMsg(st), nil
}

// StopStream implements apiv1.NodeServer.
func (s *APIServer) StopStream(ctx context.Context, r *apiv1.StopStreamRequest) (*apiv1.Stream, error) {
	id, err := parseStreamID(r.GetStreamId())
	if err != nil {
		return nil, err
	}
	st, err := s.a.StopStream(id, appToken(ctx))
	if err != nil {
		return nil, statusError(err)
	}
	return streamMsg(st), nil
}

// ListStreams implements apiv1.NodeServer: a page of streams.
func (s *APIServer) ListStreams(ctx context.Context, r *apiv1.ListStreamsRequest) (*apiv1.ListStreamsResponse, error) {
	size, err := pageSize(r.GetPageSize())
	if err != nil {
		return nil, err
	}
	after, err := streamCursor(r.GetPageToken(), r.GetAll())
	if err != nil {
		return nil, err
	}
	page, next := s.a.StreamPage(apps.StreamQuery{All: r.GetAll(), After: after, Limit: size})
	out := &apiv1.ListStreamsResponse{Streams: make([]*apiv1.Stream, 0, len(page)), NextPageToken: streamPageToken(r.GetAll(), next)}
	for _, st := range page {
		out.Streams = append(out.Streams, streamMsg(st))
	}
	return out, nil
}

// GetStream implements apiv1.NodeServer. An app token sees its own streams
// only.
func (s *APIServer) GetStream(ctx context.Context, r *apiv1.GetStreamRequest) (*apiv1.Stream, error) {
	id, err := parseStreamID(r.GetStreamId())
	if err != nil {
		return nil, err
	}
	st, err := s.a.Stream(id)
	if err != nil {
		return nil, statusError(err)
	}
	if tok := appToken(ctx); !tok.IsZero() && st.Token != tok {
		return nil, status.Errorf(codes.NotFound, "stream %s not found", r.GetStreamId())
	}
	return streamMsg(st), nil
}

// Revenue implements apiv1.NodeServer.
func (s *APIServer) Revenue(ctx context.Context, r *apiv1.RevenueRequest) (*apiv1.RevenueResponse, error) {
	var from, to time.Time
	if r.GetFromUnixNano() > 0 {
		from = time.Unix(0, r.GetFromUnixNano())
	}
	if r.GetToUnixNano() > 0 {
		to = time.Unix(0, r.GetToUnixNano())
	}
	q := apps.RevenueQuery{From: from, To: to, GroupBy: r.GetGroupBy(), Bucket: r.GetBucket()}
	if tz := r.GetTimeZone(); tz != "" {
		loc, err := timeZone(tz)
		if err != nil {
			return nil, err
		}
		q.Location = loc
	}
	rows, err := s.a.RevenueBy(q)
	if err != nil {
		return nil, statusError(err)
	}
	if r.GetAllIdentities() && s.ids != nil {
		others, err := s.ids.revenue(ctx, s.n.Address(), q)
		if err != nil {
			return nil, err
		}
		if rows, err = apps.MergeRevenue(append([][]apps.RevenueRow{rows}, others...)...); err != nil {
			return nil, statusError(err)
		}
	}
	out := &apiv1.RevenueResponse{}
	for _, row := range rows {
		m := &apiv1.RevenueRow{Key: row.Key, Asset: assetMsg(row.Asset), Payments: row.Payments, Amount: row.Amount.Dec()}
		if !row.Bucket.IsZero() {
			m.BucketStartUnixNano = row.Bucket.UnixNano()
		}
		out.Rows = append(out.Rows, m)
	}
	return out, nil
}

func tokenMsg(t apps.AppToken) *apiv1.AppToken {
	m := &apiv1.AppToken{
		Id: t.ID.String(), Name: t.Name, Spent: t.Spent.Dec(), CreatedUnixNano: t.Created.UnixNano(), Revoked: t.Revoked,
		Kind: apiv1.TokenKind_TOKEN_KIND_APP,
	}
	if t.Kind == apps.KindView {
		m.Kind = apiv1.TokenKind_TOKEN_KIND_VIEW
		return m
	}
	m.Policy = &apiv1.TokenPolicy{Asset: t.Policy.Asset.Hex(), Limit: t.Policy.Limit.Dec(), PeriodSeconds: uint64(t.Policy.Period / time.Second), Origin: t.Policy.Origin}
	for _, f := range []struct {
		v   *uint256.Int
		dst *string
	}{{&t.Policy.MaxPrice, &m.Policy.MaxPrice}, {&t.Policy.MaxRate, &m.Policy.MaxRate}, {&t.Policy.AutoPayBelow, &m.Policy.AutoPayBelow}} {
		if !f.v.IsZero() {
			*f.dst = f.v.Dec()
		}
	}
	for p, l := range t.Policy.Payees {
		pl := &apiv1.PayeeLimit{Payee: p.Hex()}
		if !l.IsZero() {
			pl.Limit = l.Dec()
		}
		m.Policy.Payees = append(m.Policy.Payees, pl)
	}
	return m
}

// CreateToken implements apiv1.NodeServer.
func (s *APIServer) CreateToken(ctx context.Context, r *apiv1.CreateTokenRequest) (*apiv1.CreateTokenResponse, error) {
	switch r.GetKind() {
	case apiv1.TokenKind_TOKEN_KIND_UNSPECIFIED, apiv1.TokenKind_TOKEN_KIND_APP:
	case apiv1.TokenKind_TOKEN_KIND_VIEW:
		if r.GetPolicy() != nil {
			return nil, badArg("a view token spends nothing: leave the policy out")
		}
		t, secret, err := s.a.CreateViewToken(ctx, r.GetName())
		if err != nil {
			return nil, statusError(err)
		}
		return &apiv1.CreateTokenResponse{Token: tokenMsg(t), Secret: secret}, nil
	default:
		return nil, badArg("unknown token kind %d", int32(r.GetKind()))
	}
	p := r.GetPolicy()
	if p == nil {
		return nil, badArg("a policy is required")
	}
	a, err := s.asset(p.GetAsset())
	if err != nil {
		return nil, err
	}
	pol := apps.TokenPolicy{Asset: a.Address, Period: time.Duration(p.GetPeriodSeconds()) * time.Second}
	if p.GetPeriodSeconds() > 366*24*3600 {
		return nil, badArg("period too long")
	}
	if pol.Limit, err = parseAmount("limit", p.GetLimit()); err != nil {
		return nil, err
	}
	if p.GetOrigin() != "" || p.GetAutoPayBelow() != "" {
		return nil, badArg("origin and auto_pay_below are a site's approval, which the reader gives on the node's browser page (tinypayd run --browser-listen), not CreateToken")
	}
	if p.GetMaxPrice() != "" {
		if pol.MaxPrice, err = parseAmount("max_price", p.GetMaxPrice()); err != nil {
			return nil, err
		}
	}
	if p.GetMaxRate() != "" {
		if pol.MaxRate, err = parseAmount("max_rate", p.GetMaxRate()); err != nil {
			return nil, err
		}
	}
	for _, pl := range p.GetPayees() {
		payee, err := parseAddress("payee", pl.GetPayee(), true)
		if err != nil {
			return nil, err
		}
		var l uint256.Int
		if pl.GetLimit() != "" {
			if l, err = parseAmount("payee limit", pl.GetLimit()); err != nil {
				return nil, err
			}
		}
		if pol.Payees == nil {
			pol.Payees = map[crypto.Address]uint256.Int{}
		}
		pol.Payees[payee] = l
	}
	t, secret, err := s.a.CreateToken(ctx, r.GetName(), pol)
	if err != nil {
		return nil, statusError(err)
	}
	return &apiv1.CreateTokenResponse{Token: tokenMsg(t), Secret: secret}, nil
}

// ListTokens implements apiv1.NodeServer.
func (s *APIServer) ListTokens(ctx context.Context, r *apiv1.ListTokensRequest) (*apiv1.ListTokensResponse, error) {
	out := &apiv1.ListTokensResponse{}
	for _, t := range s.a.Tokens() {
		out.Tokens = append(out.Tokens, tokenMsg(t))
	}
	return out, nil
}

// RevokeToken implements apiv1.NodeServer.
func (s *APIServer) RevokeToken(ctx context.Context, r *apiv1.RevokeTokenRequest) (*apiv1.AppToken, error) {
	raw, err := hex.DecodeString(strings.TrimPrefix(r.GetId(), "0x"))
	if err != nil || len(raw) != 16 {
		return nil, badArg("token id %q: want 32 hex digits", r.GetId())
	}
	t, err := s.a.RevokeToken(ctx, apps.TokenID(raw))
	if err != nil {
		return nil, statusError(err)
	}
	return tokenMsg(t), nil
}

// timeZone loads an IANA time zone by name for Revenue's buckets ("UTC"
// included; "Local", the node's own zone, is not a name a client can
// mean).
func timeZone(name string) (*time.Location, error) {
	if len(name) > 64 || name == "Local" {
		return nil, badArg("time zone %.64q: want an IANA name such as Europe/Paris, or UTC", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, badArg("time zone %q: want an IANA name such as Europe/Paris, or UTC (%v)", name, err)
	}
	return loc, nil
}
