package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/store"
)

func testKey(t *testing.T, seed byte) *crypto.PrivateKey {
	t.Helper()
	k, err := crypto.PrivateKeyFromBytes(bytes.Repeat([]byte{seed}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// seal writes plain as a backup of key's node.
func seal(t *testing.T, key *crypto.PrivateKey, plain []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := NewWriter(&out, key, Header{ChainID: 1337, Adjudicator: "0x00000000000000000000000000000000000000ad", Created: time.Unix(1_800_000_000, 0).UTC(), StoreFormat: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Odd write sizes, to cross chunk boundaries anywhere.
	for p := plain; len(p) > 0; {
		k := min(len(p), 7777)
		if _, err := w.Write(p[:k]); err != nil {
			t.Fatal(err)
		}
		p = p[k:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// open reads a backup file with key.
func open(file []byte, key *crypto.PrivateKey) ([]byte, Header, error) {
	r := bytes.NewReader(file)
	h, err := ReadHeader(r)
	if err != nil {
		return nil, h, err
	}
	pr, err := NewReader(r, h, key)
	if err != nil {
		return nil, h, err
	}
	plain, err := io.ReadAll(pr)
	return plain, h, err
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRoundTrip: what is written comes back, at every size around the
// chunk boundaries, with its header.
func TestRoundTrip(t *testing.T) {
	key := testKey(t, 1)
	for _, n := range []int{0, 1, ChunkSize - 1, ChunkSize, ChunkSize + 1, 3*ChunkSize + 5} {
		plain := randomBytes(t, n)
		file := seal(t, key, plain)
		got, h, err := open(file, key)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if !bytes.Equal(got, plain) {
			t.Fatalf("%d bytes: the plaintext differs", n)
		}
		if h.Node != key.Address().Hex() || h.ChainID != 1337 || h.Version != Version || !h.Created.Equal(time.Unix(1_800_000_000, 0)) {
			t.Fatalf("header %+v", h)
		}
		if bytes.Contains(file, plain[:min(n, 64)]) && n >= 16 {
			t.Fatalf("%d bytes: the plaintext is in the file in the clear", n)
		}
	}
}

// TestWrongKeyIsRefused: a backup opens only with its own node's key.
func TestWrongKeyIsRefused(t *testing.T) {
	file := seal(t, testKey(t, 1), []byte("records"))
	if _, _, err := open(file, testKey(t, 2)); !errors.Is(err, ErrWrongNode) {
		t.Fatalf("error %v, want ErrWrongNode", err)
	}
}

// TestTamperedFilesAreRefused: a file with any byte altered, cut short
// anywhere, lengthened, or with its chunks dropped or reordered, is
// refused; its plaintext is never returned whole.
func TestTamperedFilesAreRefused(t *testing.T) {
	key := testKey(t, 1)
	plain := randomBytes(t, 2*ChunkSize+100)
	file := seal(t, key, plain)
	hdrEnd := len(Magic) + 4 + int(binary.BigEndian.Uint32(file[len(Magic):]))
	refused := func(t *testing.T, what string, f []byte) {
		t.Helper()
		got, _, err := open(f, key)
		if err == nil {
			t.Fatalf("%s: accepted", what)
		}
		if !errors.Is(err, ErrTampered) && !errors.Is(err, ErrNotBackup) && !errors.Is(err, ErrVersion) && !errors.Is(err, ErrWrongNode) {
			t.Fatalf("%s: error %v is not a refusal of the file", what, err)
		}
		if bytes.Equal(got, plain) {
			t.Fatalf("%s: the whole plaintext came back with the error", what)
		}
	}
	t.Run("every header byte altered", func(t *testing.T) {
		for i := range hdrEnd {
			f := bytes.Clone(file)
			f[i] ^= 0x01
			refused(t, "byte", f)
		}
	})
	t.Run("chunk bytes altered", func(t *testing.T) {
		for i := hdrEnd; i < len(file); i += 997 {
			f := bytes.Clone(file)
			f[i] ^= 0x80
			refused(t, "byte", f)
		}
		f := bytes.Clone(file)
		f[len(f)-1] ^= 0x01 // the last tag byte
		refused(t, "last byte", f)
	})
	t.Run("cut short", func(t *testing.T) {
		for _, n := range []int{0, 3, len(Magic), hdrEnd - 1, hdrEnd, hdrEnd + 4, hdrEnd + 4 + ChunkSize + 16, len(file) - 1} {
			refused(t, "cut", file[:n])
		}
	})
	t.Run("lengthened", func(t *testing.T) {
		refused(t, "one byte more", append(bytes.Clone(file), 0))
		last := file[len(file)-(100+16+4):]
		refused(t, "last chunk twice", append(bytes.Clone(file), last...))
	})
	t.Run("chunks dropped or swapped", func(t *testing.T) {
		c0 := hdrEnd
		c1 := c0 + 4 + ChunkSize + 16
		c2 := c1 + 4 + ChunkSize + 16
		head, a, b, c := file[:c0], file[c0:c1], file[c1:c2], file[c2:]
		join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
		refused(t, "middle chunk dropped", join(head, a, c))
		refused(t, "first two swapped", join(head, b, a, c))
		refused(t, "last chunk dropped", join(head, a, b))
	})
	t.Run("header of another backup", func(t *testing.T) {
		other := seal(t, key, plain)
		oEnd := len(Magic) + 4 + int(binary.BigEndian.Uint32(other[len(Magic):]))
		refused(t, "spliced", append(bytes.Clone(other[:oEnd]), file[hdrEnd:]...))
	})
	t.Run("not a backup", func(t *testing.T) {
		if _, err := ReadHeader(strings.NewReader("hello, this is a text file\n")); !errors.Is(err, ErrNotBackup) {
			t.Fatalf("error %v, want ErrNotBackup", err)
		}
	})
}

// TestRestoreOfATamperedBackupLeavesNothing: a store snapshot sealed in a
// backup restores; the same backup with one byte altered fails in
// store.Restore with ErrTampered, and leaves no directory behind.
func TestRestoreOfATamperedBackupLeavesNothing(t *testing.T) {
	key := testKey(t, 1)
	src, err := store.Open(store.DefaultConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	b := store.NewBatch()
	for i := range 3000 { // several chunks of records
		if err := b.PutCursor(fmt.Sprintf("cursor-%04d", i), bytes.Repeat([]byte{byte(i)}, 40)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := src.Commit(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	w, err := NewWriter(&file, key, Header{ChainID: 1337})
	if err != nil {
		t.Fatal(err)
	}
	st, err := src.Snapshot(w)
	if err != nil || w.Close() != nil {
		t.Fatal(err)
	}
	restore := func(f []byte) (string, error) {
		r := bytes.NewReader(f)
		h, err := ReadHeader(r)
		if err != nil {
			return "", err
		}
		pr, err := NewReader(r, h, key)
		if err != nil {
			return "", err
		}
		dir := filepath.Join(t.TempDir(), "db")
		_, err = store.Restore(store.DefaultConfig(dir), pr)
		return dir, err
	}
	if _, err := restore(file.Bytes()); err != nil {
		t.Fatalf("the untouched backup: %v", err)
	}
	for _, at := range []int{file.Len() / 3, file.Len() - 10} {
		f := bytes.Clone(file.Bytes())
		f[at] ^= 0x04
		dir, err := restore(f)
		if !errors.Is(err, ErrTampered) {
			t.Fatalf("byte %d altered: %v, want ErrTampered", at, err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("byte %d altered: the restore left %s: %v", at, dir, err)
		}
	}
	if st.Records != 3001 {
		t.Fatalf("snapshot of %d records, want 3001", st.Records)
	}
}
