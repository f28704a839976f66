//go:build unix

package daemon

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockDB takes the lock a running tinypayd holds on its database
// directory (badger's flock of the directory), so that none starts while
// a restore replaces the database; it fails with errDBInUse if one holds
// it. release gives it back.
func lockDB(dir string) (release func(), err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errDBInUse
		}
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
