//go:build !unix

package daemon

import (
	"fmt"

	"github.com/tinypay/tinypay/store"
)

// lockDB checks that no tinypayd holds the database in dir by opening it
// (where badger's lock is not a flock this process can take itself).
func lockDB(dir string) (release func(), err error) {
	s, err := store.Open(store.DefaultConfig(dir))
	if err != nil {
		return nil, fmt.Errorf("%w (%v)", errDBInUse, err)
	}
	if err := s.Close(); err != nil {
		return nil, err
	}
	return func() {}, nil
}
