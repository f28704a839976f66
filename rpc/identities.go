package rpc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tinypay/tinypay/apps"
	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node"
	"github.com/tinypay/tinypay/rpc/sdk"
)

// Identity is another node identity of the same operator (another shard
// of one creator platform): Revenue with all_identities totals its
// revenue with this node's.
type Identity struct {
	// Name is what the operator calls it, unique among a node's
	// identities; errors and GetInfo use it.
	Name string
	// Config reaches its control API; a view token is enough.
	Config sdk.Config
}

// MaxIdentities bounds the other identities one node totals.
const MaxIdentities = 64

// identitiesTimeout bounds a total's calls to the other identities.
const identitiesTimeout = 30 * time.Second

// identities are a node's other identities and their clients, dialled on
// first use and kept (an sdk.Client reconnects by itself).
type identities struct {
	list []Identity

	mu      sync.Mutex
	clients map[string]*sdk.Client // by Name
}

// SetIdentities gives the node the operator's other identities, before it
// serves. Names must be unique and non-empty, at most MaxIdentities.
func (s *APIServer) SetIdentities(list []Identity) error {
	if len(list) > MaxIdentities {
		return fmt.Errorf("%d other identities: at most %d", len(list), MaxIdentities)
	}
	seen := map[string]bool{}
	for _, id := range list {
		switch {
		case id.Name == "":
			return errors.New("an identity needs a name")
		case seen[id.Name]:
			return fmt.Errorf("identity %q given twice", id.Name)
		}
		if err := id.Config.Validate(); err != nil {
			return fmt.Errorf("identity %q: %w", id.Name, err)
		}
		seen[id.Name] = true
	}
	s.ids = &identities{list: list, clients: map[string]*sdk.Client{}}
	return nil
}

// Close closes the clients of the other identities.
func (s *APIServer) Close() {
	if s.ids == nil {
		return
	}
	s.ids.mu.Lock()
	defer s.ids.mu.Unlock()
	for name, c := range s.ids.clients {
		c.Close()
		delete(s.ids.clients, name)
	}
}

// names lists the identities' names for GetInfo.
func (ids *identities) names() []string {
	if ids == nil {
		return nil
	}
	out := make([]string, len(ids.list))
	for i, id := range ids.list {
		out[i] = id.Name
	}
	return out
}

// client returns id's client, dialling it (outside the lock) the first
// time.
func (ids *identities) client(ctx context.Context, id Identity) (*sdk.Client, error) {
	ids.mu.Lock()
	c := ids.clients[id.Name]
	ids.mu.Unlock()
	if c != nil {
		return c, nil
	}
	c, err := sdk.Dial(ctx, id.Config)
	if err != nil {
		return nil, err
	}
	ids.mu.Lock()
	defer ids.mu.Unlock()
	if old := ids.clients[id.Name]; old != nil {
		c.Close()
		return old, nil
	}
	ids.clients[id.Name] = c
	return c, nil
}

// revenue asks every other identity for the revenue q selects, at once,
// and returns their rows, in the order of the list. Each must answer, and
// be a node other than self and than the others (else its revenue would
// be counted twice).
func (ids *identities) revenue(ctx context.Context, self crypto.Address, q apps.RevenueQuery) ([][]apps.RevenueRow, error) {
	ctx, cancel := context.WithTimeout(ctx, identitiesTimeout)
	defer cancel()
	type answer struct {
		addr crypto.Address
		rows []apps.RevenueRow
		err  error
	}
	answers := make([]answer, len(ids.list))
	var wg sync.WaitGroup
	for i, id := range ids.list {
		wg.Go(func() {
			a := &answers[i]
			a.addr, a.rows, a.err = ids.revenueOf(ctx, id, q)
		})
	}
	wg.Wait()
	owner := map[crypto.Address]string{self: "this node"}
	out := make([][]apps.RevenueRow, len(ids.list))
	for i, a := range answers {
		id := ids.list[i]
		if a.err != nil {
			code := codes.FailedPrecondition // this node's setting, not the caller's request
			if errors.Is(a.err, sdk.ErrUnavailable) || errors.Is(a.err, context.DeadlineExceeded) {
				code = codes.Unavailable
			}
			return nil, status.Errorf(code, "identity %q does not answer, so there is no total: %v", id.Name, a.err)
		}
		if other, ok := owner[a.addr]; ok {
			return nil, status.Errorf(codes.FailedPrecondition, "identity %q is node %s, as is %s: its revenue would be counted twice (check the node's --operator-identity)", id.Name, a.addr.Hex(), other)
		}
		owner[a.addr] = fmt.Sprintf("identity %q", id.Name)
		out[i] = a.rows
	}
	return out, nil
}

// revenueOf asks one identity for its address and revenue.
func (ids *identities) revenueOf(ctx context.Context, id Identity, q apps.RevenueQuery) (crypto.Address, []apps.RevenueRow, error) {
	c, err := ids.client(ctx, id)
	if err != nil {
		return crypto.Address{}, nil, err
	}
	info, err := c.Info(ctx)
	if err != nil {
		return crypto.Address{}, nil, err
	}
	addr, err := crypto.ParseAddress(info.Address)
	if err != nil {
		return crypto.Address{}, nil, fmt.Errorf("its address %q: %w", info.Address, err)
	}
	rows, err := c.Revenue(ctx, sdk.RevenueQuery{From: q.From, To: q.To, GroupBy: q.GroupBy, Bucket: q.Bucket, Location: q.Location})
	if err != nil {
		return crypto.Address{}, nil, err
	}
	out := make([]apps.RevenueRow, len(rows))
	for i, r := range rows {
		if r.Asset.Decimals > 77 || r.Amount == nil {
			return crypto.Address{}, nil, fmt.Errorf("a row with asset %+v and amount %v: not an amount", r.Asset, r.Amount)
		}
		a := node.Asset{Symbol: r.Asset.Symbol, Decimals: uint8(r.Asset.Decimals)}
		if r.Asset.Address != "" {
			if a.Address, err = crypto.ParseAddress(r.Asset.Address); err != nil {
				return crypto.Address{}, nil, fmt.Errorf("asset %q: %w", r.Asset.Address, err)
			}
		}
		out[i] = apps.RevenueRow{Key: r.Key, Asset: a, Payments: r.Payments, Amount: *r.Amount, Bucket: r.BucketStart}
	}
	return addr, out, nil
}
