package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestPostgresGetsFail: when the database cannot be read, every read
// that waited for a shared query gets the error (not ErrNotFound, not a
// hang), and so do reads after it.
func TestPostgresGetsFail(t *testing.T) {
	s, err := Open(postgresEngineT.config(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close() // fails: it cannot give the lease up
	e := s.eng.(*pgEngine)
	e.pool.Close() // every query fails from now on
	var wg sync.WaitGroup
	errs := make([]error, 64)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = e.getOne(idemKey(fmt.Sprint("k", i)))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err == nil || errors.Is(err, ErrNotFound) {
			t.Fatalf("read %d of a closed pool: %v, want an error", i, err)
		}
	}
}

// TestPostgresGetsCoalesce: many single-key reads at once (a node looking
// up the idempotency keys of thousands of payments) share few queries,
// and each gets what a statement of its own reads for its key: the
// value, an empty value (not nil), or ErrNotFound.
func TestPostgresGetsCoalesce(t *testing.T) {
	s := openTest(t, postgresEngineT.config(t))
	const n = 400
	b := NewBatch()
	for i := range n {
		if i%2 == 0 {
			continue // odd keys only: the even ones stay absent
		}
		var v []byte // cursor 1's record is empty: zero bytes
		if i != 1 {
			v = []byte(fmt.Sprint("value-", i))
		}
		if err := b.PutCursor(fmt.Sprint("c", i), v); err != nil {
			t.Fatal(err)
		}
	}
	mustCommit(t, s, b)
	e := s.eng.(*pgEngine)
	type answer struct {
		v   []byte
		err error
	}
	want := make([]answer, n)
	for i := range n {
		v, err := e.getOneNow(cursorKey(fmt.Sprint("c", i)))
		want[i] = answer{v, err}
	}
	if v := want[1].v; v == nil || len(v) != 0 || want[1].err != nil {
		t.Fatalf("cursor 1 read alone: %q (nil %v), %v; want an empty record", v, v == nil, want[1].err)
	}
	a0 := e.pool.Stat().AcquireCount()
	var wg sync.WaitGroup
	start := make(chan struct{})
	got := make([]answer, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			v, err := e.getOne(cursorKey(fmt.Sprint("c", i)))
			got[i] = answer{v, err}
		}()
	}
	close(start)
	wg.Wait()
	for i := range n {
		g, w := got[i], want[i]
		if !bytes.Equal(g.v, w.v) || (g.v == nil) != (w.v == nil) || !errors.Is(g.err, w.err) || (g.err == nil) != (w.err == nil) {
			t.Errorf("cursor %d: %q, %v; read alone %q, %v", i, g.v, g.err, w.v, w.err)
		}
	}
	if a := e.pool.Stat().AcquireCount() - a0; a >= n/2 {
		t.Errorf("%d reads at once took %d connections (a query each), want far fewer", n, a)
	}
}

// TestPostgresGetManyUsesTheIndex: the query that reads many keys at
// once looks each up in the primary key, also before the table was ever
// analyzed (a new database, a restore), when the planner knows nothing
// of how many rows a node has. "key = ANY($2)" read every row of the
// node there, tens of milliseconds per group commit and growing.
func TestPostgresGetManyUsesTheIndex(t *testing.T) {
	cfg := postgresEngineT.config(t)
	s := openTest(t, cfg)
	for i := range 10 {
		keys := make([]string, 500)
		for j := range keys {
			keys[j] = fmt.Sprintf("k-%d-%d", i, j)
		}
		mustCommit(t, s, paymentBatch(t, keys...))
	}
	ask := make([][]byte, 256)
	for i := range ask {
		ask[i] = idemKey(fmt.Sprint("absent-", i))
	}
	conn := sqlConn(t, cfg.Postgres.URL)
	rows, err := conn.Query(context.Background(), "EXPLAIN "+sqlGetMany, pgx.QueryExecModeCacheDescribe, cfg.Postgres.Node, ask)
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	p := strings.Join(plan, "\n")
	if strings.Contains(p, "Seq Scan on tinypay_kv") || strings.Contains(p, "Bitmap") || strings.Contains(p, "Hash") ||
		!strings.Contains(p, "Index Scan using tinypay_kv_pkey") {
		t.Fatalf("plan of sqlGetMany on a table never analyzed:\n%s\nwant one index lookup per key", p)
	}
}
