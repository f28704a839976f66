package rpc

import (
	"context"
	"io"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tinypay/tinypay/crypto"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
)

// BackupFunc writes a backup file of the node to w (the format of package
// store/backup) and returns what it holds. tinypayd provides it: it holds
// the store, the node key and the key file. It must return once ctx ends
// or w fails.
type BackupFunc func(ctx context.Context, withoutKey bool, w io.Writer) (BackupResult, error)

// BackupResult describes a backup that was written.
type BackupResult struct {
	Node        crypto.Address
	ChainID     uint64
	Adjudicator crypto.Address
	Created     time.Time
	WithKey     bool   // the backup holds the node's key file
	Records     uint64 // store records in it
	LastSeq     uint64 // the newest log entry in it
}

// backupMessageBytes bounds the data of one BackupChunk (the client's
// default limit is 4 MiB).
const backupMessageBytes = 256 << 10

// Backup implements apiv1.NodeServer: it streams the file Backups writes.
// Memory is bounded by flow control: a client that stops reading stops
// the backup.
func (s *APIServer) Backup(req *apiv1.BackupRequest, stream apiv1.Node_BackupServer) error {
	if s.Backups == nil {
		return status.Error(codes.Unimplemented, "this node makes no backups")
	}
	w := &backupSender{send: stream.Send}
	res, err := s.Backups(stream.Context(), req.GetWithoutKey(), w)
	if err == nil {
		err = w.flush()
	}
	if err != nil {
		if w.err != nil {
			return w.err // the client went away, or the transport failed
		}
		return statusError(err)
	}
	return stream.Send(&apiv1.BackupChunk{Done: &apiv1.BackupDone{
		Node: res.Node.Hex(), ChainId: res.ChainID, Adjudicator: res.Adjudicator.Hex(), CreatedUnix: res.Created.Unix(),
		WithKey: res.WithKey, Records: res.Records, LastSeq: res.LastSeq,
	}})
}

// backupSender sends what is written as BackupChunk messages of up to
// backupMessageBytes.
type backupSender struct {
	send func(*apiv1.BackupChunk) error
	buf  []byte
	err  error
}

func (w *backupSender) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), backupMessageBytes-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == backupMessageBytes {
			if err := w.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (w *backupSender) flush() error {
	if w.err != nil || len(w.buf) == 0 {
		return w.err
	}
	if err := w.send(&apiv1.BackupChunk{Data: w.buf}); err != nil {
		w.err = err
		return err
	}
	w.buf = w.buf[:0] // Send has marshalled the message
	return nil
}
