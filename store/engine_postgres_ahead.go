package store

// Reading ahead: the group committer reads the keys the next group's
// checks need while the current group's transaction commits, so that a
// group costs one round trip to the database instead of two in a row
// (see Store.commitGroup).
//
// The read is one statement, so one snapshot, taken at some moment while
// the current transaction commits: before or after its COMMIT. For the
// keys that transaction wrote, the snapshot may hold the old values; so
// every transaction that commits while a read-ahead is outstanding
// records its writes in the read-ahead, and those override what was
// read. Nothing else writes the node's records (the lease), so for every
// other key the old and the new snapshot agree: the next group sees
// exactly the database after the current group. If the current group's
// commit fails, the store fails, and the next group is never checked.

// readAheadEngine is an engine that can read a later transaction's keys
// while its write transaction commits.
type readAheadEngine interface {
	// readAhead starts reading keys at once, in the background, for
	// the next transaction begin returns; prefetch on that transaction
	// uses what it read (plus the writes of every transaction that
	// committed since readAhead was called) instead of reading again.
	// Called from the committer goroutine, at most one outstanding.
	readAhead(keys [][]byte)
}

// pgAhead is an outstanding read-ahead.
type pgAhead struct {
	keys  [][]byte          // what it reads
	done  chan struct{}     // closed when the read returned
	found map[string][]byte // what it read (valid after done)
	err   error
	// since: the writes of the transactions committed since the read
	// began, in order (the committer's goroutine only), later ones
	// overriding earlier ones.
	since map[string]pgWrite
}

var _ readAheadEngine = (*pgEngine)(nil)

func (e *pgEngine) readAhead(keys [][]byte) {
	keys = dedupKeys(keys)
	a := &pgAhead{keys: keys, done: make(chan struct{}), since: make(map[string]pgWrite)}
	e.ahead = a
	go func() {
		defer close(a.done)
		a.found = make(map[string][]byte, len(keys))
		for len(keys) > 0 {
			n := min(len(keys), pgKeysPerGet)
			found, err := e.getMany(keys[:n])
			if err != nil {
				a.err = err
				return
			}
			for k, v := range found {
				a.found[k] = v
			}
			keys = keys[n:]
		}
	}()
}

// committed notes the writes of a transaction that committed while a
// read-ahead is outstanding.
func (a *pgAhead) committed(writes map[string]pgWrite) {
	for k, w := range writes {
		a.since[k] = w
	}
}

// take waits for the read-ahead and returns it as a cache for the next
// transaction (key -> value, nil if absent): what it read, under the
// writes committed since.
func (a *pgAhead) take() (map[string][]byte, error) {
	<-a.done
	if a.err != nil {
		return nil, a.err
	}
	cache := make(map[string][]byte, len(a.keys)+len(a.since))
	for _, k := range a.keys {
		cache[string(k)] = a.found[string(k)] // nil if absent
	}
	for k, w := range a.since {
		if w.del {
			cache[k] = nil
		} else if w.v == nil {
			cache[k] = []byte{}
		} else {
			cache[k] = w.v
		}
	}
	return cache, nil
}

// dedupKeys returns keys without repeats, in their first order.
func dedupKeys(keys [][]byte) [][]byte {
	seen := make(map[string]bool, len(keys))
	out := keys[:0:0]
	for _, k := range keys {
		if !seen[string(k)] {
			seen[string(k)] = true
			out = append(out, k)
		}
	}
	return out
}
