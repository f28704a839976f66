package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	ucli "github.com/urfave/cli/v3"
	"google.golang.org/protobuf/encoding/protojson"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
)

func backupCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "backup",
		Usage:     "write an encrypted, consistent snapshot of the node to a file, while it runs",
		ArgsUsage: "FILE",
		Description: `Asks the node for a snapshot of its database, taken while payments flow, and
writes it to FILE on this machine (mode 0600; an existing FILE is kept unless
--force). The file is encrypted and authenticated with a key derived from the
node's own key, and holds the node's key file (encrypted with its passphrase)
unless --without-key: keep the file and the passphrase, and the node can be
brought back with tinypayd restore. The TLS certificate and the API token are
not in it; a restored node makes new ones.

A backup is a point in time: payments made after it are given back by the
peers when the restored node reconnects (see tinypayd restore --help).

Examples:
   tinypay backup node-$(date +%F).tpbak
   tinypay --datadir ./bob backup --without-key /mnt/backups/bob.tpbak
   tinypayd --datadir ./bob-restored restore /mnt/backups/bob.tpbak --key-file bob-key.json`,
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "force", Usage: "replace FILE if it exists"},
			&ucli.BoolFlag{Name: "without-key", Usage: "leave the node's key file out (restoring then needs it: tinypayd restore --key-file)"},
		},
		Action: withLiveClient(runBackup),
	}
}

func runBackup(ctx context.Context, cmd *ucli.Command, c *client) error {
	a, err := args(cmd, 1, 1)
	if err != nil {
		return err
	}
	path := a[0]
	if _, err := os.Stat(path); err == nil && !cmd.Bool("force") {
		return usagef("%s exists; pass --force to replace it", path)
	}
	// Written next to FILE and renamed into place once complete, so FILE
	// is never a partial backup.
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-*")
	if err != nil {
		return fmt.Errorf("backup file: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, there is nothing to remove
	defer tmp.Close()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("backup file: %w", err)
	}
	stream, err := c.Backup(ctx, &apiv1.BackupRequest{WithoutKey: cmd.Bool("without-key")})
	if err != nil {
		return err
	}
	var done *apiv1.BackupDone
	var n int64
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if done != nil {
			return errors.New("the node sent data after the end of the backup")
		}
		if len(m.GetData()) > 0 {
			k, err := tmp.Write(m.GetData())
			n += int64(k)
			if err != nil {
				return fmt.Errorf("backup file: %w", err)
			}
		}
		done = m.GetDone()
	}
	if done == nil {
		return errors.New("the node ended the backup before it was complete; nothing was written")
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("backup file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("backup file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("backup file: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync() // the rename is durable
		d.Close()
	}
	if c.json {
		b, err := protojson.MarshalOptions{EmitUnpopulated: true}.Marshal(done)
		if err != nil {
			return err
		}
		out, err := json.Marshal(struct {
			File   string          `json:"file"`
			Bytes  int64           `json:"bytes"`
			Backup json.RawMessage `json:"backup"`
		}{path, n, b})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(c.out, string(out))
		return err
	}
	key := "with its key file (encrypted with the node's passphrase)"
	if !done.GetWithKey() {
		key = "without its key file: keep key.json too"
	}
	c.printf("backup of node %s (chain %d, log seq %d, %d records, %d bytes, made %s) written to %s, %s\n",
		done.GetNode(), done.GetChainId(), done.GetLastSeq(), done.GetRecords(), n,
		time.Unix(done.GetCreatedUnix(), 0).UTC().Format(time.RFC3339), path, key)
	return nil
}
