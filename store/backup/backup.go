// Package backup is the file format of a node backup: a plaintext header
// saying what the backup is of, then the store's snapshot stream (see
// store.Snapshot) encrypted and authenticated in chunks.
//
// # Format
//
//	magic     "tinypay-backup\n"
//	header    uint32 big-endian length, then the Header as JSON
//	chunks    uint32 big-endian length, then AES-256-GCM ciphertext
//
// The key is HKDF-SHA256 of the node's private key with the header's
// random salt and the node's address, so only the holder of the node key
// (its keystore and passphrase) can read a backup or make one that
// restores, and every backup has a key of its own. Chunk i (from 0) is
// sealed with the nonce i (8 bytes big-endian), three zero bytes, and 1 for
// the last chunk (0 otherwise), and with the SHA-256 of the magic and the
// header as additional data: altering the header, a chunk, their order,
// or cutting the file short fails authentication. The header carries the
// node's keystore (already encrypted with its passphrase), so that a
// backup file and the passphrase are all a restore needs.
//
// # Example
//
//	w, err := backup.NewWriter(f, key, backup.Header{ChainID: 1337, ...})
//	_, err = st.Snapshot(w)
//	err = w.Close() // seals the last chunk
//
//	h, err := backup.ReadHeader(r)
//	key, err := crypto.DecryptKey(h.Keystore, passphrase)
//	plain, err := backup.NewReader(r, h, key) // ErrWrongNode for another key
//	_, err = store.Restore(cfg, plain)        // ErrTampered surfaces here
//
// A Writer and a Reader belong to one goroutine. Both hold one chunk in
// memory.
package backup

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tinypay/tinypay/crypto"
)

// Magic starts every backup file.
const Magic = "tinypay-backup\n"

// Version is the format version this package writes and reads.
const Version = 1

// ChunkSize is the plaintext size of every chunk but the last.
const ChunkSize = 64 << 10

// Bounds on what a Reader accepts.
const (
	maxHeader    = 1 << 20
	minChunkSize = 1 << 10
	maxChunkSize = 1 << 20
	saltLen      = 32
)

// Errors. Match them with errors.Is.
var (
	// ErrNotBackup: the file does not start like a backup.
	ErrNotBackup = errors.New("not a tinypay backup file")
	// ErrVersion: a backup of a format this build does not read.
	ErrVersion = errors.New("unsupported backup format version")
	// ErrWrongNode: the key given is not the key of the node the backup
	// is of.
	ErrWrongNode = errors.New("the backup is of another node")
	// ErrTampered: the backup is damaged, altered or cut short.
	ErrTampered = errors.New("the backup is damaged or was altered")
)

// Header says what a backup is of. It is stored in the clear (the
// keystore in it is encrypted with the node's passphrase) and
// authenticated with every chunk.
type Header struct {
	Version     int       `json:"version"`
	Node        string    `json:"node"` // the node's address
	ChainID     uint64    `json:"chain_id"`
	Adjudicator string    `json:"adjudicator"`
	Created     time.Time `json:"created"`
	StoreFormat int       `json:"store_format"` // store.FormatVersion of the snapshot
	ChunkSize   int       `json:"chunk_size"`
	Salt        []byte    `json:"salt"`
	// Keystore is the node's key file (Ethereum keystore v3, encrypted
	// with its passphrase), if the backup holds it.
	Keystore json.RawMessage `json:"keystore,omitempty"`

	raw []byte // the header as read or written
}

// NodeAddress parses Node.
func (h *Header) NodeAddress() (crypto.Address, error) { return crypto.ParseAddress(h.Node) }

// deriveKey returns the backup key of h for the node key k.
func deriveKey(k *crypto.PrivateKey, h *Header) ([]byte, error) {
	return hkdf.Key(sha256.New, k.Bytes(), h.Salt, "tinypay backup v1 "+strings.ToLower(h.Node), 32)
}

// ad is the additional data every chunk is sealed with: the magic and
// the header.
func ad(raw []byte) []byte {
	h := sha256.New()
	h.Write([]byte(Magic))
	h.Write(raw)
	return h.Sum(nil)
}

func nonce(i uint64, last bool) []byte {
	n := make([]byte, 12)
	binary.BigEndian.PutUint64(n, i)
	if last {
		n[11] = 1
	}
	return n
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// Writer encrypts a backup's plaintext into w.
type Writer struct {
	w      io.Writer
	aead   cipher.AEAD
	ad     []byte
	buf    []byte // plaintext of the chunk being filled
	out    []byte
	i      uint64
	closed bool
	err    error
}

// NewWriter writes the magic and header h to w and returns a Writer for
// the plaintext. It sets h's Version, Node, ChunkSize and Salt; the caller
// sets the rest.
func NewWriter(w io.Writer, key *crypto.PrivateKey, h Header) (*Writer, error) {
	h.Version, h.Node, h.ChunkSize = Version, key.Address().Hex(), ChunkSize
	h.Salt = make([]byte, saltLen)
	if _, err := rand.Read(h.Salt); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(&h)
	if err != nil {
		return nil, fmt.Errorf("backup header: %w", err)
	}
	if len(raw) > maxHeader {
		return nil, fmt.Errorf("backup header of %d bytes", len(raw))
	}
	k, err := deriveKey(key, &h)
	if err != nil {
		return nil, err
	}
	aead, err := newAEAD(k)
	if err != nil {
		return nil, err
	}
	pre := append([]byte(Magic), binary.BigEndian.AppendUint32(nil, uint32(len(raw)))...)
	if _, err := w.Write(append(pre, raw...)); err != nil {
		return nil, err
	}
	return &Writer{w: w, aead: aead, ad: ad(raw), buf: make([]byte, 0, ChunkSize)}, nil
}

// Write adds plaintext; full chunks are sealed and written.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, errors.New("backup: write after close")
	}
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), ChunkSize-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == ChunkSize && len(p) > 0 {
			// A full chunk is sealed only once more follows: the last
			// chunk is marked as such, so it is kept until Close.
			if err := w.seal(false); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (w *Writer) seal(last bool) error {
	w.out = w.aead.Seal(binary.BigEndian.AppendUint32(w.out[:0], 0), nonce(w.i, last), w.buf, w.ad)
	binary.BigEndian.PutUint32(w.out, uint32(len(w.out)-4))
	if _, err := w.w.Write(w.out); err != nil {
		w.err = err
		return err
	}
	w.i++
	w.buf = w.buf[:0]
	return nil
}

// Close seals the last chunk. It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.err != nil || w.closed {
		return w.err
	}
	w.closed = true
	return w.seal(true)
}

// ReadHeader reads and checks the magic and header of a backup from r,
// leaving r at the first chunk.
func ReadHeader(r io.Reader) (Header, error) {
	var h Header
	pre := make([]byte, len(Magic)+4)
	if _, err := io.ReadFull(r, pre); err != nil || string(pre[:len(Magic)]) != Magic {
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return h, err
		}
		return h, ErrNotBackup
	}
	n := binary.BigEndian.Uint32(pre[len(Magic):])
	if n > maxHeader {
		return h, fmt.Errorf("%w: a header of %d bytes", ErrTampered, n)
	}
	raw := make([]byte, n)
	if _, err := io.ReadFull(r, raw); err != nil {
		return h, fmt.Errorf("%w: the header is cut short", ErrTampered)
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return h, fmt.Errorf("%w: the header does not decode: %v", ErrTampered, err)
	}
	if h.Version != Version {
		return h, fmt.Errorf("%w: version %d, this build reads %d", ErrVersion, h.Version, Version)
	}
	if _, err := h.NodeAddress(); err != nil {
		return h, fmt.Errorf("%w: node %q: %v", ErrTampered, h.Node, err)
	}
	if len(h.Salt) != saltLen || h.ChunkSize < minChunkSize || h.ChunkSize > maxChunkSize {
		return h, fmt.Errorf("%w: salt of %d bytes, chunks of %d", ErrTampered, len(h.Salt), h.ChunkSize)
	}
	h.raw = raw
	return h, nil
}

// Reader decrypts a backup's chunks. Every error after the header is
// ErrTampered (or the underlying reader's error): a chunk that fails
// authentication, the file ending before the last chunk, or bytes after
// it. The plaintext read before an error is not to be trusted; a caller
// writes it only somewhere it can discard (see store.Restore).
type Reader struct {
	r    *bufio.Reader
	aead cipher.AEAD
	ad   []byte
	max  int
	i    uint64
	buf  []byte // plaintext not yet read
	in   []byte // the chunk read
	out  []byte // its plaintext
	done bool
	err  error
}

// NewReader returns the plaintext of the backup whose header h was just
// read from r, decrypted with the node key k. It fails with ErrWrongNode
// if k is not the key of the node h names.
func NewReader(r io.Reader, h Header, k *crypto.PrivateKey) (*Reader, error) {
	if h.raw == nil {
		return nil, errors.New("backup: header not read by ReadHeader")
	}
	if a, _ := h.NodeAddress(); a != k.Address() {
		return nil, fmt.Errorf("%w: it is of %s, the key is %s's", ErrWrongNode, h.Node, k.Address())
	}
	key, err := deriveKey(k, &h)
	if err != nil {
		return nil, err
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	return &Reader{r: bufio.NewReader(r), aead: aead, ad: ad(h.raw), max: h.ChunkSize + aead.Overhead()}, nil
}

// Read returns decrypted plaintext; io.EOF only after the last chunk, once
// nothing follows it.
func (r *Reader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.done {
			return 0, io.EOF
		}
		r.err = r.next()
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// next reads and opens the next chunk.
func (r *Reader) next() error {
	var pre [4]byte
	if _, err := io.ReadFull(r.r, pre[:]); err != nil {
		return r.short(err)
	}
	n := binary.BigEndian.Uint32(pre[:])
	if int(n) > r.max || int(n) < r.aead.Overhead() {
		return fmt.Errorf("%w: chunk %d has %d bytes", ErrTampered, r.i, n)
	}
	if cap(r.in) < int(n) {
		r.in = make([]byte, n)
	}
	r.in = r.in[:n]
	if _, err := io.ReadFull(r.r, r.in); err != nil {
		return r.short(err)
	}
	last := false
	// Not in place: a failed Open clears its output, and the chunk is
	// tried as the last one next.
	plain, err := r.aead.Open(r.out[:0], nonce(r.i, false), r.in, r.ad)
	if err != nil {
		plain, err = r.aead.Open(r.out[:0], nonce(r.i, true), r.in, r.ad)
		last = true
	}
	if err != nil {
		return fmt.Errorf("%w: chunk %d does not authenticate", ErrTampered, r.i)
	}
	if last {
		if _, err := r.r.ReadByte(); err != io.EOF {
			if err != nil {
				return err
			}
			return fmt.Errorf("%w: bytes after the last chunk", ErrTampered)
		}
		r.done = true
	}
	r.i++
	r.out, r.buf = plain, plain
	return nil
}

func (r *Reader) short(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: the file ends before its last chunk", ErrTampered)
	}
	return err
}
