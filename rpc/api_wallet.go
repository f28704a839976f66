package rpc

import (
	"context"

	"github.com/tinypay/tinypay/node"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
)

// sendRequest parses a WalletSendRequest; the key is the node's to check.
func (s *APIServer) sendRequest(r *apiv1.WalletSendRequest) (node.SendRequest, error) {
	req := node.SendRequest{Key: r.GetIdempotencyKey(), All: r.GetAll()}
	var err error
	if req.To, err = parseAddress("to", r.GetTo(), true); err != nil {
		return req, err
	}
	if r.GetAsset() == "" {
		return req, badArg("asset is required (a symbol or a token address)")
	}
	a, err := s.asset(r.GetAsset())
	if err != nil {
		return req, err
	}
	req.Asset = a.Address
	switch {
	case r.GetAll() && r.GetAmount() != "":
		return req, badArg("give an amount or all, not both")
	case !r.GetAll():
		if req.Amount, err = parseAmount("amount", r.GetAmount()); err != nil {
			return req, err
		}
	}
	return req, nil
}

// WalletSend implements apiv1.NodeServer.
func (s *APIServer) WalletSend(ctx context.Context, r *apiv1.WalletSendRequest) (*apiv1.Transfer, error) {
	req, err := s.sendRequest(r)
	if err != nil {
		return nil, err
	}
	t, err := s.n.Send(ctx, req)
	if err != nil {
		return nil, statusError(err)
	}
	return TransferMsg(t), nil
}

// EstimateWalletSend implements apiv1.NodeServer.
func (s *APIServer) EstimateWalletSend(ctx context.Context, r *apiv1.WalletSendRequest) (*apiv1.WalletSendEstimate, error) {
	req, err := s.sendRequest(r)
	if err != nil {
		return nil, err
	}
	q, err := s.n.EstimateSend(ctx, req)
	if err != nil {
		return nil, statusError(err)
	}
	return &apiv1.WalletSendEstimate{Asset: assetMsg(q.Asset), Amount: q.Amount.Dec(), Balance: q.Balance.Dec(), Gas: q.Gas,
		Fee: q.Fee.Dec(), MaxFee: q.MaxFee.Dec()}, nil
}

// TransferMsg converts a transfer of the node's own funds.
func TransferMsg(t node.TransferInfo) *apiv1.Transfer {
	return &apiv1.Transfer{
		IdempotencyKey: t.Key, Origin: t.Origin, To: t.To.Hex(), Asset: assetMsg(t.Asset), Amount: t.Amount.Dec(), All: t.All,
		Status: t.Status, TxHash: t.TxHash.Hex(), Block: t.Block, Fee: t.Fee.Dec(), MaxFee: t.MaxFee.Dec(), Error: t.Error,
		CreatedUnixNano: t.Created.UnixNano(),
	}
}

func transferEventMsg(e *node.TransferEvent) *apiv1.TransferEvent {
	t := &apiv1.Transfer{
		IdempotencyKey: e.Key, Origin: e.Origin, To: e.To.Hex(), Asset: assetMsg(e.Asset), Amount: e.Amount.Dec(),
		Status: e.Status, Fee: e.Fee.Dec(),
	}
	if !e.TxHash.IsZero() {
		t.TxHash = e.TxHash.Hex()
	}
	return &apiv1.TransferEvent{Kind: e.Status, Detail: e.Detail, Transfer: t}
}
