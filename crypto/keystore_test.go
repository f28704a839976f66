package crypto

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	gethcrypto "github.com/ethereum/go-ethereum/crypto"
)

func TestKeystoreRoundTripAndGeth(t *testing.T) {
	k := mustKey(t)
	data, err := EncryptKey(k, "hunter2", LightScrypt)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecryptKey(data, "hunter2")
	if err != nil {
		t.Fatal(err)
	}
	if got.Address() != k.Address() {
		t.Fatal("address changed in round trip")
	}
	// go-ethereum reads our file.
	gk, err := keystore.DecryptKey(data, "hunter2")
	if err != nil {
		t.Fatalf("geth cannot read our keystore: %v", err)
	}
	if gk.Address != [20]byte(k.Address()) {
		t.Fatal("geth decrypted another key")
	}
	// We read go-ethereum's file.
	ek, err := gethcrypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	gdata, err := keystore.EncryptKey(&keystore.Key{Address: gethcrypto.PubkeyToAddress(ek.PublicKey), PrivateKey: ek}, "pw", keystore.LightScryptN, keystore.LightScryptP)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := DecryptKey(gdata, "pw")
	if err != nil {
		t.Fatalf("cannot read geth's keystore: %v", err)
	}
	if ours.Address() != Address(gethcrypto.PubkeyToAddress(ek.PublicKey)) {
		t.Fatal("decrypted another key than geth wrote")
	}
}

func TestKeystorePBKDF2(t *testing.T) {
	// The pbkdf2 test vector of the Web3 Secret Storage definition
	// (passphrase "testpassword").
	const doc = `{"crypto":{"cipher":"aes-128-ctr","cipherparams":{"iv":"6087dab2f9fdbbfaddc31a909735c1e6"},"ciphertext":"5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46","kdf":"pbkdf2","kdfparams":{"c":262144,"dklen":32,"prf":"hmac-sha256","salt":"ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd"},"mac":"517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2"},"id":"3198bc9c-6672-5ab3-d995-4942343ae5b6","version":3}`
	k, err := DecryptKey([]byte(doc), "testpassword")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.ToLower(k.Address().Hex()); got != "0x008aeeda4d805471df9b2a5b0f38a0c3bcba786b" {
		t.Fatalf("address %s", got)
	}
	if _, err := DecryptKey([]byte(doc), "wrong"); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
}

func TestKeystoreRejects(t *testing.T) {
	k := mustKey(t)
	data, err := EncryptKey(k, "pw", LightScrypt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecryptKey(data, "not pw"); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		out, _ := json.Marshal(m)
		return out
	}
	cr := func(m map[string]any) map[string]any { return m["crypto"].(map[string]any) }
	kp := func(m map[string]any) map[string]any { return cr(m)["kdfparams"].(map[string]any) }
	for _, tc := range []struct {
		name string
		doc  []byte
	}{
		{"not json", []byte("{")},
		{"version 1", edit(func(m map[string]any) { m["version"] = 1 })},
		{"cipher", edit(func(m map[string]any) { cr(m)["cipher"] = "aes-128-cbc" })},
		{"kdf", edit(func(m map[string]any) { cr(m)["kdf"] = "argon2" })},
		{"iv hex", edit(func(m map[string]any) { cr(m)["cipherparams"] = map[string]any{"iv": "zz"} })},
		{"iv short", edit(func(m map[string]any) { cr(m)["cipherparams"] = map[string]any{"iv": "00"} })},
		{"ciphertext short", edit(func(m map[string]any) { cr(m)["ciphertext"] = "00" })},
		{"mac short", edit(func(m map[string]any) { cr(m)["mac"] = "00" })},
		{"n missing", edit(func(m map[string]any) { delete(kp(m), "n") })},
		{"n huge", edit(func(m map[string]any) { kp(m)["n"] = 1 << 30 })},
		{"n negative", edit(func(m map[string]any) { kp(m)["n"] = -1 })},
		{"dklen 16", edit(func(m map[string]any) { kp(m)["dklen"] = 16 })},
		{"salt", edit(func(m map[string]any) { kp(m)["salt"] = "" })},
		{"address mismatch", edit(func(m map[string]any) { m["address"] = strings.Repeat("11", 20) })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecryptKey(tc.doc, "pw")
			if !errors.Is(err, ErrKeystoreFormat) {
				t.Fatalf("DecryptKey = %v, want ErrKeystoreFormat", err)
			}
		})
	}
	if _, err := EncryptKey(k, "pw", ScryptParams{N: 3, P: 1}); err == nil {
		t.Fatal("N=3 accepted")
	}
}

func TestSaveLoadKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys", "node.json")
	k := mustKey(t)
	if err := SaveKey(path, k, "pw", LightScrypt); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	got, err := LoadKey(path, "pw")
	if err != nil || got.Address() != k.Address() {
		t.Fatalf("LoadKey: %v", err)
	}
	// No overwrite, and the original is untouched.
	before, _ := os.ReadFile(path)
	if err := SaveKey(path, mustKey(t), "pw", LightScrypt); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("overwrite: %v", err)
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Fatal("existing key file changed")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
	if _, err := LoadKey(path, "bad"); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("LoadKey wrong pass: %v", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKey(path, "pw"); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("LoadKey of a world-readable key: %v", err)
	}
	if _, err := LoadKey(filepath.Join(dir, "missing.json"), "pw"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}
