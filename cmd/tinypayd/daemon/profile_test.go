package daemon

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --profile-start writes a CPU profile (gzipped protobuf) once the start
// is done; a path that cannot be written is an error that names the flag,
// and no profile is left running.
func TestProfileStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "start.pprof")
	stop, err := profileStart(path)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	stop() // a second stop does nothing
	b, err := os.ReadFile(path)
	if err != nil || !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
		t.Fatalf("profile: %d bytes %x, %v; want a gzipped profile", len(b), b[:min(len(b), 4)], err)
	}
	if _, err := profileStart(filepath.Join(t.TempDir(), "no", "such", "dir", "p")); err == nil || !strings.Contains(err.Error(), "--profile-start") {
		t.Fatalf("an unwritable path: %v", err)
	}
	stop, err = profileStart(path) // none left running by the failure
	if err != nil {
		t.Fatal(err)
	}
	stop()
	stop, err = profileStart("")
	if err != nil {
		t.Fatal(err)
	}
	stop()
}
