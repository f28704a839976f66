// Package devinfo is the file a tinypay dev chain (package devchain,
// cmd/tinypay-devchain) writes so that nodes can find it: the JSON-RPC URL,
// the chain id, the adjudicator and test dollar token, and funded dev
// accounts with their private keys. It has no dependency on go-ethereum, so
// the daemon can read the file without linking a chain node.
//
// The keys in the file are DEV KEYS derived from a public seed: anyone can
// compute them. Never send anything of value to their addresses on a real
// network.
//
//	info, err := devinfo.Read(path)
//	key, err := info.Key(0)
package devinfo

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tinypay/tinypay/crypto"
)

// Warning is written into every file.
const Warning = "DEV CHAIN ONLY. The private keys below are derived from a public seed and known to everyone: never use them, or send anything of value to their addresses, on a real network."

// Info describes a running dev chain.
type Info struct {
	Warning     string    `json:"warning"`
	RPCURL      string    `json:"rpcUrl"`
	ChainID     uint64    `json:"chainId"`
	Adjudicator string    `json:"adjudicator"`
	DeployBlock uint64    `json:"deployBlock"` // the adjudicator's deployment block: scan events from here
	BlockPeriod float64   `json:"blockPeriodSeconds"`
	Token       Token     `json:"token"`
	Accounts    []Account `json:"accounts"`
}

// Token is the test dollar token.
type Token struct {
	Address  string `json:"address"`
	Symbol   string `json:"symbol"`
	Decimals uint8  `json:"decimals"`
}

// Account is a funded dev account.
type Account struct {
	Address    string `json:"address"`
	PrivateKey string `json:"privateKey"` // 0x-prefixed hex, 32 bytes
}

// ErrFormat: the file is not a valid dev chain description.
var ErrFormat = errors.New("devinfo: malformed dev chain file")

// AdjudicatorAddress parses the adjudicator address.
func (i Info) AdjudicatorAddress() (crypto.Address, error) {
	return crypto.ParseAddress(i.Adjudicator)
}

// TokenAddress parses the token address.
func (i Info) TokenAddress() (crypto.Address, error) {
	return crypto.ParseAddress(i.Token.Address)
}

// Key returns dev account n's private key, checked against its address.
func (i Info) Key(n int) (*crypto.PrivateKey, error) {
	if n < 0 || n >= len(i.Accounts) {
		return nil, fmt.Errorf("%w: no account %d (the file has %d)", ErrFormat, n, len(i.Accounts))
	}
	a := i.Accounts[n]
	raw, err := decodeHex(a.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("%w: account %d key: %v", ErrFormat, n, err)
	}
	k, err := crypto.PrivateKeyFromBytes(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: account %d key: %v", ErrFormat, n, err)
	}
	addr, err := crypto.ParseAddress(a.Address)
	if err != nil || addr != k.Address() {
		return nil, fmt.Errorf("%w: account %d: key does not belong to address %s", ErrFormat, n, a.Address)
	}
	return k, nil
}

// Validate checks that every field parses.
func (i Info) Validate() error {
	if i.RPCURL == "" || i.ChainID == 0 {
		return fmt.Errorf("%w: rpcUrl or chainId missing", ErrFormat)
	}
	if _, err := i.AdjudicatorAddress(); err != nil {
		return fmt.Errorf("%w: adjudicator: %v", ErrFormat, err)
	}
	if _, err := i.TokenAddress(); err != nil {
		return fmt.Errorf("%w: token: %v", ErrFormat, err)
	}
	for n := range i.Accounts {
		if _, err := i.Key(n); err != nil {
			return err
		}
	}
	return nil
}

// Read reads and validates a dev chain file.
func Read(path string) (Info, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Info{}, err
	}
	i, err := Parse(data)
	if err != nil {
		return Info{}, fmt.Errorf("%s: %w", path, err)
	}
	return i, nil
}

// Parse decodes and validates a dev chain description.
func Parse(data []byte) (Info, error) {
	var i Info
	if err := json.Unmarshal(data, &i); err != nil {
		return Info{}, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if err := i.Validate(); err != nil {
		return Info{}, err
	}
	return i, nil
}

// Write writes the file atomically (a temporary file renamed into place),
// readable by the owner only since it holds keys.
func Write(path string, i Info) error {
	i.Warning = Warning
	data, err := json.MarshalIndent(i, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".devchain-*.json")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename this fails harmlessly
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func decodeHex(s string) ([]byte, error) {
	return hex.DecodeString(strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X"))
}
