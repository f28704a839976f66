package store

import (
	"encoding/hex"
	"errors"
	"fmt"
)

// Error kinds. Match them with errors.Is; the typed errors below carry
// details and match their kind.
var (
	// ErrNotFound means that no record exists under the key asked for.
	ErrNotFound = errors.New("store: not found")
	// ErrCorrupt means that a stored record or key cannot be trusted: bytes
	// that do not decode, a field of the wrong length, an unknown record
	// version or kind, or a key with an unknown prefix. The error is a
	// *CorruptError naming the key.
	ErrCorrupt = errors.New("store: corrupt record")
	// ErrInvalid means that a record handed to a Batch is malformed; nothing
	// of that batch is written.
	ErrInvalid = errors.New("store: invalid record")
	// ErrDuplicateKey means that a batch appends a payment whose idempotency
	// key or id is already taken; the error is a *DuplicateError carrying
	// the seq of the entry that holds it. The batch is not written; other
	// batches of the same group commit are unaffected.
	ErrDuplicateKey = errors.New("store: duplicate key")
	// ErrOfferUsedUp means that a batch appends an accepted incoming
	// payment of a limited offer that already has its offer_max_uses
	// payments. The batch is not written.
	ErrOfferUsedUp = errors.New("store: offer used up")
	// ErrStaleProof means that a batch puts a proof whose nonce is below the
	// stored one for the same channel and signer, or equal to it with
	// different contents. The batch is not written.
	ErrStaleProof = errors.New("store: stale proof")
	// ErrBatchTooLarge means that one batch does not fit in a single
	// engine transaction (see Config.MemTableSize and
	// PostgresConfig.MaxTxnBytes). The batch is not written.
	ErrBatchTooLarge = errors.New("store: batch too large")
	// ErrBatchReused means that a Batch was handed to Commit or CommitAsync
	// a second time.
	ErrBatchReused = errors.New("store: batch already committed")
	// ErrClosed means that the store is closed.
	ErrClosed = errors.New("store: closed")
	// ErrLeaseHeld means that another process holds the lease of the
	// node's store in PostgreSQL (it runs on the same node identity, or
	// died less than LeaseTTL ago): Open waited PostgresConfig.LeaseWait
	// for it in vain.
	ErrLeaseHeld = errors.New("store: another process holds the node's lease")
	// ErrFenced means that this process lost the node's lease to another
	// (which took it over after it expired): the write was refused by the
	// database and nothing of it is written. The store then fails every
	// commit (ErrFailed wraps it); the process must stop writing.
	ErrFenced = errors.New("store: this process lost the node's lease (fenced)")
	// ErrLeaseExpired means that this process could not renew the node's
	// lease in time (the database was unreachable, or the process was
	// frozen): on its own clock the lease ended, a little before the
	// database lets another process take the node over, and the store
	// refuses every commit from then on (ErrFailed wraps it), so that the
	// process never acknowledges what a successor may not see.
	ErrLeaseExpired = errors.New("store: this process's lease on the node expired")
	// ErrFailed means that a write to disk failed. Whether the batches of
	// the failed transaction are durable is unknown, so the store refuses
	// every later commit; reads still work. Close and reopen the store
	// (recovery replays what is durable) after fixing the cause.
	ErrFailed = errors.New("store: write failed")
)

// CorruptError reports a record or key that cannot be trusted.
type CorruptError struct {
	Key []byte // the offending key (a copy)
	Err error  // what is wrong with it
}

// Error implements error.
func (e *CorruptError) Error() string {
	return fmt.Sprintf("store: corrupt record at key %s: %v", keyString(e.Key), e.Err)
}

// Unwrap returns the underlying cause.
func (e *CorruptError) Unwrap() error { return e.Err }

// Is reports whether target is ErrCorrupt.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

func corrupt(key []byte, format string, args ...any) error {
	return &CorruptError{Key: append([]byte(nil), key...), Err: fmt.Errorf(format, args...)}
}

// DuplicateError reports an idempotency key or payment id that is taken.
type DuplicateError struct {
	// Field is "idempotency_key", "id", "offer_id" (a once-only offer
	// paid before) or "offer_id+peer" (a per-payer offer paid before by
	// that payer).
	Field string
	// Key is the idempotency key, or the payment or offer id in hex (with
	// "/" and the payer's address for "offer_id+peer").
	Key string
	// Seq is the seq of the log entry that holds the key. It is 0 when the
	// duplicate is earlier in the same batch, which has no seq yet.
	Seq uint64
}

// Error implements error.
func (e *DuplicateError) Error() string {
	if e.Seq == 0 {
		return fmt.Sprintf("store: duplicate key: payment %s %q appears twice in one batch", e.Field, e.Key)
	}
	return fmt.Sprintf("store: duplicate key: payment %s %q is taken by log entry %d", e.Field, e.Key, e.Seq)
}

// Is reports whether target is ErrDuplicateKey.
func (e *DuplicateError) Is(target error) bool { return target == ErrDuplicateKey }

// keyString renders a key for error messages: hex, shortened when long.
func keyString(k []byte) string {
	const max = 48
	if len(k) > max {
		return "0x" + hex.EncodeToString(k[:max]) + fmt.Sprintf("...(%d bytes)", len(k))
	}
	return "0x" + hex.EncodeToString(k)
}
