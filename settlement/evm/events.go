package evm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/settlement"
)

const (
	// DefaultEventLimit is the limit Events uses when given limit <= 0.
	DefaultEventLimit = 1000
	// maxRangesPerCall bounds the eth_getLogs requests of one Events call,
	// so that a scan over a long history returns in steps.
	maxRangesPerCall = 32
	// maxHalvings bounds how often Events halves a refused range.
	maxHalvings = 16
	// blockTimeCacheSize bounds the header timestamp cache.
	blockTimeCacheSize = 4096
)

// Events returns up to limit (DefaultEventLimit if limit <= 0) confirmed
// adjudicator events after cursor `after`, in chain order (block, log
// index), and the cursor to resume from.
//
// The scan covers [max(after.Block, DeployBlock), confirmed head] in ranges
// of at most Config.LogRange blocks, and at most 32 ranges per call. The
// returned cursor is the last event's when limit events were returned;
// otherwise it is {Block: B, Index: math.MaxUint32}, where B is the last
// block scanned (the confirmed head unless the scan stopped early), which
// means "everything up to and including block B". Passing the returned
// cursor back never repeats or skips an event. A call that returns fewer
// than limit events with a cursor below Head().Number has more to scan.
//
// A reorg deeper than Config.Confirmations can change events already
// returned; the backend does not detect that.
func (b *Backend) Events(ctx context.Context, after settlement.Cursor, limit int) ([]settlement.Event, settlement.Cursor, error) {
	if limit <= 0 {
		limit = DefaultEventLimit
	}
	head, err := b.Head(ctx)
	if err != nil {
		return nil, after, fmt.Errorf("events: %w", err)
	}
	from := max(after.Block, b.cfg.DeployBlock)
	if from > head.Number {
		return nil, after, nil
	}
	var out []settlement.Event
	span, halvings := b.cfg.LogRange, 0
	for ranges := 0; from <= head.Number && ranges < maxRangesPerCall; ranges++ {
		to := head.Number
		if head.Number-from >= span {
			to = from + span - 1
		}
		logs, err := b.client.FilterLogs(ctx, ethereum.FilterQuery{
			FromBlock: new(big.Int).SetUint64(from),
			ToBlock:   new(big.Int).SetUint64(to),
			Addresses: []common.Address{b.adj},
		})
		if err != nil {
			cerr := b.classify("events", err)
			if span > 1 && halvings < maxHalvings && ctx.Err() == nil && !errors.Is(cerr, settlement.ErrUnavailable) {
				// Many endpoints refuse large ranges or results.
				span /= 2
				halvings++
				b.log.Debug("log range refused, halving it", "from", from, "to", to, "span", span, "err", err)
				continue
			}
			return nil, after, cerr
		}
		evs := make([]settlement.Event, 0, len(logs))
		for i := range logs {
			l := &logs[i]
			if l.Removed || l.Address != b.adj {
				continue
			}
			cur := settlement.Cursor{Block: l.BlockNumber, Index: uint32(l.Index)}
			if !after.Less(cur) {
				continue
			}
			ev, ok, err := b.decodeEvent(ctx, l)
			if err != nil {
				return nil, after, fmt.Errorf("events: block %d log %d: %w", l.BlockNumber, l.Index, err)
			}
			if ok {
				evs = append(evs, ev)
			}
		}
		slices.SortFunc(evs, func(x, y settlement.Event) int {
			if c := cmp.Compare(x.Cursor.Block, y.Cursor.Block); c != 0 {
				return c
			}
			return cmp.Compare(x.Cursor.Index, y.Cursor.Index)
		})
		out = append(out, evs...)
		if len(out) >= limit {
			out = out[:limit]
			return out, out[limit-1].Cursor, nil
		}
		from = to + 1
	}
	if from == 0 {
		return out, after, nil // nothing scanned
	}
	return out, settlement.Cursor{Block: from - 1, Index: math.MaxUint32}, nil
}

// decodeEvent decodes one adjudicator log; ok is false for a log that is
// not one of the adjudicator's events.
func (b *Backend) decodeEvent(ctx context.Context, l *types.Log) (ev settlement.Event, ok bool, err error) {
	if len(l.Topics) == 0 {
		return ev, false, nil
	}
	ev.Cursor = settlement.Cursor{Block: l.BlockNumber, Index: uint32(l.Index)}
	ev.TxHash = crypto.Hash(l.TxHash)
	a := b.abi
	switch l.Topics[0] {
	case a.GetABI().Events["ChannelOpened"].ID:
		e, err := a.UnpackChannelOpenedEvent(l)
		if err != nil {
			return ev, false, err
		}
		ev.Kind, ev.Channel = settlement.EventOpened, e.ChannelId
		ev.Params = settlement.Params{
			ChainID:         b.cfg.ChainID,
			Adjudicator:     b.cfg.Adjudicator,
			Participants:    [2]crypto.Address{crypto.Address(e.A), crypto.Address(e.B)},
			Asset:           crypto.Address(e.Token),
			ChallengePeriod: e.ChallengePeriod,
			Salt:            e.Salt,
		}
	case a.GetABI().Events["Deposited"].ID:
		e, err := a.UnpackDepositedEvent(l)
		if err != nil {
			return ev, false, err
		}
		ev.Kind, ev.Channel, ev.Account, ev.Amount = settlement.EventDeposited, e.ChannelId, crypto.Address(e.Participant), u256(e.TotalDeposit)
	case a.GetABI().Events["Withdrawn"].ID:
		e, err := a.UnpackWithdrawnEvent(l)
		if err != nil {
			return ev, false, err
		}
		ev.Kind, ev.Channel, ev.Account, ev.Amount = settlement.EventWithdrawn, e.ChannelId, crypto.Address(e.Participant), u256(e.TotalWithdrawn)
	case a.GetABI().Events["CooperativelyClosed"].ID:
		e, err := a.UnpackCooperativelyClosedEvent(l)
		if err != nil {
			return ev, false, err
		}
		ev.Kind, ev.Channel = settlement.EventCooperativelyClosed, e.ChannelId
		ev.Balances = [2]uint256.Int{u256(e.BalanceA), u256(e.BalanceB)}
	case a.GetABI().Events["Closed"].ID:
		e, err := a.UnpackClosedEvent(l)
		if err != nil {
			return ev, false, err
		}
		ev.Kind, ev.Channel, ev.Account, ev.SettleAfter = settlement.EventClosed, e.ChannelId, crypto.Address(e.Closer), e.SettleAfter
		ev.Transferred = [2]uint256.Int{u256(e.TransferredAtoB), u256(e.TransferredBtoA)}
	case a.GetABI().Events["Updated"].ID:
		e, err := a.UnpackUpdatedEvent(l)
		if err != nil {
			return ev, false, err
		}
		ev.Kind, ev.Channel, ev.Account, ev.Nonce, ev.Amount = settlement.EventUpdated, e.ChannelId, crypto.Address(e.From), e.Nonce, u256(e.Transferred)
	case a.GetABI().Events["Settled"].ID:
		e, err := a.UnpackSettledEvent(l)
		if err != nil {
			return ev, false, err
		}
		ev.Kind, ev.Channel = settlement.EventSettled, e.ChannelId
		ev.Balances = [2]uint256.Int{u256(e.PayoutA), u256(e.PayoutB)}
	case a.GetABI().Events["PayoutCredited"].ID:
		e, err := a.UnpackPayoutCreditedEvent(l)
		if err != nil {
			return ev, false, err
		}
		ev.Kind, ev.Channel, ev.Account, ev.Asset, ev.Amount = settlement.EventPayoutCredited, e.ChannelId, crypto.Address(e.Account), crypto.Address(e.Token), u256(e.Amount)
	case a.GetABI().Events["PayoutWithdrawn"].ID:
		e, err := a.UnpackPayoutWithdrawnEvent(l)
		if err != nil {
			return ev, false, err
		}
		ev.Kind, ev.Account, ev.Asset, ev.Amount = settlement.EventPayoutWithdrawn, crypto.Address(e.Account), crypto.Address(e.Token), u256(e.Amount)
	default:
		b.log.Warn("unknown adjudicator event", "topic", l.Topics[0], "block", l.BlockNumber, "tx", l.TxHash)
		return ev, false, nil
	}
	ev.Time, err = b.timeOf(ctx, l)
	if err != nil {
		return ev, false, err
	}
	return ev, true, nil
}

// timeOf returns the timestamp of the block a log is in: from the log when
// the endpoint fills it in, else from the (cached) header.
func (b *Backend) timeOf(ctx context.Context, l *types.Log) (uint64, error) {
	if l.BlockTimestamp != 0 {
		return l.BlockTimestamp, nil
	}
	b.timeMu.Lock()
	t, ok := b.blockTime[l.BlockHash]
	b.timeMu.Unlock()
	if ok {
		return t, nil
	}
	h, err := b.client.HeaderByHash(ctx, l.BlockHash)
	if err != nil {
		return 0, b.classify("block time", err)
	}
	b.timeMu.Lock()
	if len(b.blockTime) >= blockTimeCacheSize {
		clear(b.blockTime)
	}
	b.blockTime[l.BlockHash] = h.Time
	b.timeMu.Unlock()
	return h.Time, nil
}
