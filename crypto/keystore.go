package crypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/scrypt"
)

// Scrypt cost parameters. StandardScrypt matches geth's default (about a
// second and 256 MiB to unlock); LightScrypt is for tests and dev chains.
var (
	StandardScrypt = ScryptParams{N: 1 << 18, P: 1}
	LightScrypt    = ScryptParams{N: 1 << 12, P: 6}
)

// ScryptParams are the scrypt cost parameters used to encrypt a key (r is
// always 8, the key length 32).
type ScryptParams struct {
	N int // CPU/memory cost, a power of two > 1
	P int // parallelism
}

// ErrWrongPassphrase is returned when a keystore's MAC does not match the
// passphrase.
var ErrWrongPassphrase = errors.New("keystore: wrong passphrase")

// ErrKeystoreFormat is matched by errors for a keystore file that is not a
// valid version 3 keystore.
var ErrKeystoreFormat = errors.New("keystore: malformed file")

type keystoreJSON struct {
	Address string     `json:"address"`
	Crypto  cryptoJSON `json:"crypto"`
	ID      string     `json:"id"`
	Version int        `json:"version"`
}

type cryptoJSON struct {
	Cipher       string           `json:"cipher"`
	CipherText   string           `json:"ciphertext"`
	CipherParams cipherParamsJSON `json:"cipherparams"`
	KDF          string           `json:"kdf"`
	KDFParams    map[string]any   `json:"kdfparams"`
	MAC          string           `json:"mac"`
}

type cipherParamsJSON struct {
	IV string `json:"iv"`
}

// EncryptKey encrypts key with passphrase into an Ethereum keystore v3 JSON
// document (scrypt, aes-128-ctr, keccak-256 MAC).
func EncryptKey(key *PrivateKey, passphrase string, params ScryptParams) ([]byte, error) {
	if params.N < 2 || params.N&(params.N-1) != 0 || params.P < 1 {
		return nil, fmt.Errorf("keystore: bad scrypt parameters N=%d P=%d", params.N, params.P)
	}
	var salt [32]byte
	var iv [aes.BlockSize]byte
	var id [16]byte
	for _, b := range [][]byte{salt[:], iv[:], id[:]} {
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("keystore: %w", err)
		}
	}
	const r, dkLen = 8, 32
	derived, err := scrypt.Key([]byte(passphrase), salt[:], params.N, r, params.P, dkLen)
	if err != nil {
		return nil, fmt.Errorf("keystore: scrypt: %w", err)
	}
	plain := key.Bytes()
	cipherText, err := aesCTR(derived[:16], iv[:], plain)
	if err != nil {
		return nil, err
	}
	mac := Keccak256(derived[16:32], cipherText)
	id[6] = id[6]&0x0f | 0x40 // UUID version 4
	id[8] = id[8]&0x3f | 0x80 // RFC 4122 variant
	addr := key.Address()
	doc := keystoreJSON{
		Address: hex.EncodeToString(addr[:]),
		Crypto: cryptoJSON{
			Cipher:       "aes-128-ctr",
			CipherText:   hex.EncodeToString(cipherText),
			CipherParams: cipherParamsJSON{IV: hex.EncodeToString(iv[:])},
			KDF:          "scrypt",
			KDFParams: map[string]any{
				"n": params.N, "r": r, "p": params.P, "dklen": dkLen,
				"salt": hex.EncodeToString(salt[:]),
			},
			MAC: hex.EncodeToString(mac[:]),
		},
		ID:      fmt.Sprintf("%x-%x-%x-%x-%x", id[0:4], id[4:6], id[6:8], id[8:10], id[10:16]),
		Version: 3,
	}
	return json.MarshalIndent(doc, "", "  ")
}

// DecryptKey decrypts an Ethereum keystore v3 JSON document (scrypt or
// pbkdf2 with hmac-sha256, aes-128-ctr). A wrong passphrase gives
// ErrWrongPassphrase; a malformed document an error matching
// ErrKeystoreFormat.
func DecryptKey(data []byte, passphrase string) (*PrivateKey, error) {
	var doc keystoreJSON
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeystoreFormat, err)
	}
	if doc.Version != 3 {
		return nil, fmt.Errorf("%w: version %d, want 3", ErrKeystoreFormat, doc.Version)
	}
	c := doc.Crypto
	if c.Cipher != "aes-128-ctr" {
		return nil, fmt.Errorf("%w: cipher %q not supported", ErrKeystoreFormat, c.Cipher)
	}
	cipherText, err1 := hex.DecodeString(c.CipherText)
	iv, err2 := hex.DecodeString(c.CipherParams.IV)
	mac, err3 := hex.DecodeString(c.MAC)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeystoreFormat, err)
	}
	if len(iv) != aes.BlockSize || len(mac) != 32 || len(cipherText) != 32 {
		return nil, fmt.Errorf("%w: bad iv, mac or ciphertext length", ErrKeystoreFormat)
	}
	derived, err := deriveKey(c.KDF, c.KDFParams, passphrase)
	if err != nil {
		return nil, err
	}
	want := Keccak256(derived[16:32], cipherText)
	if subtle.ConstantTimeCompare(want[:], mac) != 1 {
		return nil, ErrWrongPassphrase
	}
	plain, err := aesCTR(derived[:16], iv, cipherText)
	if err != nil {
		return nil, err
	}
	key, err := PrivateKeyFromBytes(plain)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeystoreFormat, err)
	}
	if doc.Address != "" {
		addr := key.Address()
		if !strings.EqualFold(strings.TrimPrefix(doc.Address, "0x"), hex.EncodeToString(addr[:])) {
			return nil, fmt.Errorf("%w: key is for %s, file says %s", ErrKeystoreFormat, addr, doc.Address)
		}
	}
	return key, nil
}

func deriveKey(kdf string, p map[string]any, passphrase string) ([]byte, error) {
	num := func(name string) (int, error) {
		f, ok := p[name].(float64)
		if !ok || f < 1 || f > 1<<30 || f != float64(int(f)) {
			return 0, fmt.Errorf("%w: kdfparams.%s missing or out of range", ErrKeystoreFormat, name)
		}
		return int(f), nil
	}
	saltHex, _ := p["salt"].(string)
	salt, err := hex.DecodeString(saltHex)
	if err != nil || len(salt) == 0 {
		return nil, fmt.Errorf("%w: kdfparams.salt", ErrKeystoreFormat)
	}
	dkLen, err := num("dklen")
	if err != nil {
		return nil, err
	}
	if dkLen != 32 {
		return nil, fmt.Errorf("%w: dklen %d, want 32", ErrKeystoreFormat, dkLen)
	}
	switch kdf {
	case "scrypt":
		n, err1 := num("n")
		r, err2 := num("r")
		pp, err3 := num("p")
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, err
		}
		if n > 1<<22 || r > 64 || pp > 64 {
			return nil, fmt.Errorf("%w: scrypt parameters too large", ErrKeystoreFormat)
		}
		k, err := scrypt.Key([]byte(passphrase), salt, n, r, pp, dkLen)
		if err != nil {
			return nil, fmt.Errorf("%w: scrypt: %v", ErrKeystoreFormat, err)
		}
		return k, nil
	case "pbkdf2":
		if prf, _ := p["prf"].(string); prf != "hmac-sha256" {
			return nil, fmt.Errorf("%w: pbkdf2 prf %q not supported", ErrKeystoreFormat, prf)
		}
		c, err := num("c")
		if err != nil {
			return nil, err
		}
		k, err := pbkdf2.Key(sha256.New, passphrase, salt, c, dkLen)
		if err != nil {
			return nil, fmt.Errorf("%w: pbkdf2: %v", ErrKeystoreFormat, err)
		}
		return k, nil
	default:
		return nil, fmt.Errorf("%w: kdf %q not supported", ErrKeystoreFormat, kdf)
	}
}

func aesCTR(key, iv, in []byte) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	out := make([]byte, len(in))
	cipher.NewCTR(block, iv).XORKeyStream(out, in)
	return out, nil
}

// SaveKey encrypts key and writes it to path with mode 0600. It refuses to
// overwrite an existing file, and writes through a temporary file and a
// rename so that a crash never leaves a half-written key.
func SaveKey(path string, key *PrivateKey, passphrase string, params ScryptParams) error {
	data, err := EncryptKey(key, passphrase, params)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("save key: %s: %w", path, fs.ErrExist)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save key: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".key-*.tmp")
	if err != nil {
		return fmt.Errorf("save key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("save key: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("save key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save key: %w", err)
	}
	// Link fails if path appeared meanwhile, so an existing key is never
	// replaced.
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("save key: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// LoadKey reads and decrypts the keystore file at path. It refuses a file
// that other users can read or write.
func LoadKey(path, passphrase string) (*PrivateKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("load key: %s has mode %v; it must not be readable by others (chmod 600)", path, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load key: %w", err)
	}
	key, err := DecryptKey(bytes.TrimSpace(data), passphrase)
	if err != nil {
		return nil, fmt.Errorf("load key %s: %w", path, err)
	}
	return key, nil
}
