package rpc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tinypay/tinypay/node"
	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
)

// backupStream collects what the Backup call sends.
type backupStream struct {
	grpc.ServerStream
	ctx  context.Context
	msgs []*apiv1.BackupChunk
	fail error // Send fails with it after the first message
}

func (s *backupStream) Context() context.Context { return s.ctx }

func (s *backupStream) Send(m *apiv1.BackupChunk) error {
	if s.fail != nil && len(s.msgs) > 0 {
		return s.fail
	}
	s.msgs = append(s.msgs, &apiv1.BackupChunk{Data: bytes.Clone(m.GetData()), Done: m.GetDone()})
	return nil
}

// TestBackupCall: the file comes out whole, in messages of at most
// backupMessageBytes, with the summary last; a failure of the backup or of
// the client is the call's error, and a node without backups says so.
func TestBackupCall(t *testing.T) {
	file := bytes.Repeat([]byte("0123456789abcdef"), 70_000) // over four messages
	write := func(ctx context.Context, withoutKey bool, w io.Writer) (BackupResult, error) {
		for p := file; len(p) > 0; {
			k := min(len(p), 65_563)
			if _, err := w.Write(p[:k]); err != nil {
				return BackupResult{}, err
			}
			p = p[k:]
		}
		return BackupResult{ChainID: 1337, WithKey: !withoutKey, Records: 9, LastSeq: 4}, nil
	}
	s := &APIServer{Backups: write}
	st := &backupStream{ctx: context.Background()}
	if err := s.Backup(&apiv1.BackupRequest{}, st); err != nil {
		t.Fatal(err)
	}
	var got []byte
	for i, m := range st.msgs {
		if len(m.GetData()) > backupMessageBytes {
			t.Fatalf("message %d has %d bytes", i, len(m.GetData()))
		}
		if (m.GetDone() != nil) != (i == len(st.msgs)-1) {
			t.Fatalf("message %d: done %v", i, m.GetDone())
		}
		got = append(got, m.GetData()...)
	}
	if !bytes.Equal(got, file) {
		t.Fatalf("the file came out as %d bytes, want %d", len(got), len(file))
	}
	if d := st.msgs[len(st.msgs)-1].GetDone(); d.GetRecords() != 9 || d.GetLastSeq() != 4 || !d.GetWithKey() || d.GetChainId() != 1337 {
		t.Fatalf("summary %v", d)
	}

	// The client goes away: the backup stops and the call fails with it.
	gone := status.Error(codes.Canceled, "client went away")
	st = &backupStream{ctx: context.Background(), fail: gone}
	if err := s.Backup(&apiv1.BackupRequest{}, st); !errors.Is(err, gone) {
		t.Fatalf("backup to a client that went away: %v", err)
	}
	// The backup fails: its error, mapped, and no summary.
	s = &APIServer{Backups: func(context.Context, bool, io.Writer) (BackupResult, error) { return BackupResult{}, node.ErrStopped }}
	st = &backupStream{ctx: context.Background()}
	if err := s.Backup(&apiv1.BackupRequest{}, st); status.Code(err) != codes.Unavailable || len(st.msgs) != 0 {
		t.Fatalf("failed backup: %v, %d messages", err, len(st.msgs))
	}
	// No backups here.
	if err := (&APIServer{}).Backup(&apiv1.BackupRequest{}, st); status.Code(err) != codes.Unimplemented {
		t.Fatalf("node without backups: %v", err)
	}
}
