package store

import (
	"fmt"
	"sync"
)

// pgGets coalesces the engine's single-key reads (getOne): while one
// query runs, the keys asked for meanwhile queue, and the next query
// fetches all of them at once (key = ANY). A node that takes thousands
// of payments at once looks up each one's idempotency key; one round
// trip, and one statement for the server to parse, plan and run, per
// key was most of what the database did for a payment. A lone read goes
// out at once, as before.
//
// One query runs at a time: its caller leads it, and when it returns,
// hands the lead to the first key that queued meanwhile (whose caller
// then fetches every key queued by then). Each query is one statement,
// so it reads one snapshot, taken after every key it fetches was asked
// for: a get still sees every write committed before it was called.
type pgGets struct {
	mu      sync.Mutex
	leading bool       // a query runs (or its caller is about to run it)
	queue   []*pgGetOp // keys asked for, waiting for the next query
}

// pgGetOp is one getOne waiting for its key.
type pgGetOp struct {
	k   []byte
	v   []byte
	err error
	// done gets true when this op's caller must lead the next query
	// (the op is still queued), false when v and err are set.
	done chan bool
}

// get returns the value under k, or ErrNotFound, fetched by a query that
// may fetch other callers' keys too.
func (g *pgGets) get(e *pgEngine, k []byte) ([]byte, error) {
	op := &pgGetOp{k: k, done: make(chan bool, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, op)
	lead := !g.leading
	g.leading = true
	g.mu.Unlock()
	if !lead && !<-op.done {
		return op.v, op.err
	}
	g.mu.Lock()
	n := min(len(g.queue), pgKeysPerGet)
	ops := g.queue[:n:n]
	g.queue = g.queue[n:]
	g.mu.Unlock()

	g.fetch(e, ops)

	g.mu.Lock()
	if len(g.queue) > 0 {
		g.queue[0].done <- true // it leads the next query
	} else {
		g.queue = nil
		g.leading = false
	}
	g.mu.Unlock()
	for _, o := range ops {
		if o != op {
			o.done <- false
		}
	}
	return op.v, op.err
}

// fetch reads the keys of ops in one statement and sets each op's value
// or error.
func (g *pgGets) fetch(e *pgEngine, ops []*pgGetOp) {
	if len(ops) == 1 {
		op := ops[0]
		op.v, op.err = e.getOneNow(op.k)
		return
	}
	keys := make([][]byte, 0, len(ops))
	seen := make(map[string]bool, len(ops))
	for _, o := range ops {
		if !seen[string(o.k)] {
			seen[string(o.k)] = true
			keys = append(keys, o.k)
		}
	}
	found, err := e.getMany(keys)
	for _, o := range ops {
		switch v, ok := found[string(o.k)]; {
		case err != nil:
			o.err = fmt.Errorf("store: get %s: %w", keyString(o.k), err)
		case !ok:
			o.err = ErrNotFound
		default:
			o.v = append([]byte{}, v...) // each its own copy; empty, not nil
		}
	}
}

// getMany reads keys (at most pgKeysPerGet, no two alike) in one
// statement, outside any transaction: key -> value for those present.
func (e *pgEngine) getMany(keys [][]byte) (map[string][]byte, error) {
	ctx, cancel := e.ctx()
	defer cancel()
	rows, err := e.pool.Query(ctx, sqlGetMany, e.cfg.Node, keys)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	found := make(map[string][]byte, len(keys))
	for rows.Next() {
		var k, v []byte
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		if v == nil {
			v = []byte{}
		}
		found[string(k)] = v
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return found, nil
}
