package devinfo

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tinypay/tinypay/crypto"
)

func sample(t testing.TB) Info {
	h := crypto.Keccak256([]byte("devinfo test"))
	k, err := crypto.PrivateKeyFromBytes(h[:])
	if err != nil {
		t.Fatal(err)
	}
	return Info{
		RPCURL: "http://127.0.0.1:8545", ChainID: 1337,
		Adjudicator: "0xF00860fA39df3f12c4838d79894C4088B5533910", DeployBlock: 1, BlockPeriod: 1,
		Token:    Token{Address: "0xC8fD27e3b88f910501A40bF194E745E5D6d08E73", Symbol: "USD", Decimals: 6},
		Accounts: []Account{{Address: k.Address().Hex(), PrivateKey: "0x" + hex.EncodeToString(k.Bytes())}},
	}
}

func TestWriteRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "devchain.json")
	in := sample(t)
	if err := Write(path, in); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v, %v; want 0600", st.Mode(), err)
	}
	out, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	in.Warning = Warning
	if out.RPCURL != in.RPCURL || out.Warning != Warning || out.Accounts[0] != in.Accounts[0] || out.Token != in.Token {
		t.Fatalf("read %+v, wrote %+v", out, in)
	}
	k, err := out.Key(0)
	if err != nil || k.Address().Hex() != in.Accounts[0].Address {
		t.Fatalf("key 0: %v", err)
	}
	if _, err := out.Key(1); !errors.Is(err, ErrFormat) {
		t.Fatalf("key 1 of 1: %v, want ErrFormat", err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Info)
	}{
		// Every field a node needs must parse.
		{"no url", func(i *Info) { i.RPCURL = "" }},
		{"no chain id", func(i *Info) { i.ChainID = 0 }},
		{"bad adjudicator", func(i *Info) { i.Adjudicator = "0x12" }},
		{"bad token", func(i *Info) { i.Token.Address = "nope" }},
		{"bad key hex", func(i *Info) { i.Accounts[0].PrivateKey = "0xzz" }},
		{"short key", func(i *Info) { i.Accounts[0].PrivateKey = "0x0102" }},
		{"key of another address", func(i *Info) { i.Accounts[0].Address = "0x0000000000000000000000000000000000000001" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i := sample(t)
			tc.mutate(&i)
			if err := i.Validate(); !errors.Is(err, ErrFormat) {
				t.Fatalf("Validate() = %v, want ErrFormat", err)
			}
		})
	}
	if err := sample(t).Validate(); err != nil {
		t.Fatal(err)
	}
}

func FuzzParse(f *testing.F) {
	good, _ := json.Marshal(sample(f))
	f.Add(good)
	f.Add([]byte(`{"accounts":[{}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if i, err := Parse(data); err == nil {
			if i.Validate() != nil {
				t.Fatal("Parse accepted a description Validate refuses")
			}
		} else if !errors.Is(err, ErrFormat) {
			t.Fatalf("Parse error %v is not ErrFormat", err)
		}
	})
}
