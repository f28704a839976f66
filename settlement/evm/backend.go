package evm

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"sync"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	gethcrypto "github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/settlement"
	"github.com/tinypay/tinypay/settlement/evm/bindings"
)

// Client is the part of an Ethereum JSON-RPC client the backend uses. It is
// satisfied by *ethclient.Client and by the client of go-ethereum's
// simulated backend (ethclient/simulated).
type Client interface {
	ChainID(ctx context.Context) (*big.Int, error)
	BlockNumber(ctx context.Context) (uint64, error)
	HeaderByNumber(ctx context.Context, number *big.Int) (*types.Header, error)
	HeaderByHash(ctx context.Context, hash common.Hash) (*types.Header, error)
	BalanceAt(ctx context.Context, account common.Address, blockNumber *big.Int) (*big.Int, error)
	CodeAt(ctx context.Context, account common.Address, blockNumber *big.Int) ([]byte, error)
	CallContract(ctx context.Context, call ethereum.CallMsg, blockNumber *big.Int) ([]byte, error)
	EstimateGas(ctx context.Context, call ethereum.CallMsg) (uint64, error)
	SuggestGasPrice(ctx context.Context) (*big.Int, error)
	SuggestGasTipCap(ctx context.Context) (*big.Int, error)
	PendingNonceAt(ctx context.Context, account common.Address) (uint64, error)
	NonceAt(ctx context.Context, account common.Address, blockNumber *big.Int) (uint64, error)
	SendTransaction(ctx context.Context, tx *types.Transaction) error
	TransactionReceipt(ctx context.Context, txHash common.Hash) (*types.Receipt, error)
	FilterLogs(ctx context.Context, q ethereum.FilterQuery) ([]types.Log, error)
}

var (
	_ Client             = (*ethclient.Client)(nil)
	_ settlement.Backend = (*Backend)(nil)
)

// Backend is the settlement layer on an EVM chain: the adjudicator contract
// reached through a Client, with transactions paid for and signed by one
// key. It is safe for concurrent use.
type Backend struct {
	cfg     Config
	log     *slog.Logger
	client  Client
	closer  io.Closer // the client, if Dial created it
	key     *ecdsa.PrivateKey
	account common.Address
	adj     common.Address
	chainID *big.Int
	signer  types.Signer
	abi     *bindings.Adjudicator
	token   *bindings.TestToken // ERC-20 subset: balanceOf, allowance, approve
	dec     *revertDecoder

	sendMu     sync.Mutex // serializes signing and sending; guards nonce
	nonce      uint64
	nonceValid bool

	tokenMu sync.Mutex // serializes approve-then-deposit flows

	codeMu sync.Mutex
	code   map[common.Address]bool // addresses known to hold code

	timeMu    sync.Mutex
	blockTime map[common.Hash]uint64 // header timestamps for events
}

// Dial connects to a JSON-RPC endpoint (http, https, ws, wss or an IPC
// path) and returns a Backend on it; see New. The Backend owns the
// connection: Close closes it. An unreachable endpoint gives
// ErrUnavailable naming url.
func Dial(ctx context.Context, url string, key *crypto.PrivateKey, cfg Config) (*Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c, err := ethclient.DialContext(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w: %v", url, settlement.ErrUnavailable, err)
	}
	b, err := New(ctx, c, key, cfg)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("endpoint %s: %w", url, err)
	}
	b.closer = closerFunc(c.Close)
	return b, nil
}

type closerFunc func()

func (f closerFunc) Close() error { f(); return nil }

// New returns a Backend on client. It checks that the endpoint serves
// cfg.ChainID (else ErrWrongChain) and that cfg.Adjudicator holds a tinypay
// adjudicator whose EIP-712 domain matches (else ErrNoContract); an
// unreachable endpoint gives ErrUnavailable. The caller keeps ownership of
// client.
func New(ctx context.Context, client Client, key *crypto.PrivateKey, cfg Config) (*Backend, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if key == nil {
		return nil, fmt.Errorf("evm: no key")
	}
	ek, err := gethcrypto.ToECDSA(key.Bytes())
	if err != nil {
		return nil, fmt.Errorf("evm: key: %w", err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	b := &Backend{
		cfg:       cfg,
		log:       logger.With("component", "evm", "account", key.Address()),
		client:    client,
		key:       ek,
		account:   common.Address(key.Address()),
		adj:       common.Address(cfg.Adjudicator),
		chainID:   new(big.Int).SetUint64(cfg.ChainID),
		abi:       bindings.NewAdjudicator(),
		token:     bindings.NewTestToken(),
		dec:       newRevertDecoder(),
		code:      make(map[common.Address]bool),
		blockTime: make(map[common.Hash]uint64),
	}
	b.signer = types.LatestSignerForChainID(b.chainID)

	id, err := client.ChainID(ctx)
	if err != nil {
		return nil, b.classify("chain id", err)
	}
	if id.Cmp(b.chainID) != 0 {
		return nil, fmt.Errorf("%w: endpoint serves chain %s, configured chain is %d", settlement.ErrWrongChain, id, cfg.ChainID)
	}
	if err := b.requireCode(ctx, b.adj, "adjudicator"); err != nil {
		return nil, err
	}
	out, err := client.CallContract(ctx, ethereum.CallMsg{To: &b.adj, Data: b.abi.PackDomainSeparator()}, nil)
	if err != nil {
		if err := b.classify("adjudicator domain separator", err); !errors.Is(err, settlement.ErrReverted) {
			return nil, err
		}
		out = nil // no such function: not our contract
	}
	sep, err := b.abi.UnpackDomainSeparator(out)
	want := crypto.NewDomain(cfg.ChainID, cfg.Adjudicator).Separator()
	if err != nil || !bytes.Equal(sep[:], want[:]) {
		return nil, fmt.Errorf("%w: the code at %s is not a tinypay adjudicator (no matching EIP-712 domain separator)", settlement.ErrNoContract, b.adj)
	}
	return b, nil
}

// Close closes the connection if Dial opened it.
func (b *Backend) Close() error {
	if b.closer != nil {
		return b.closer.Close()
	}
	return nil
}

// ChainID returns the chain id.
func (b *Backend) ChainID() uint64 { return b.cfg.ChainID }

// Adjudicator returns the adjudicator's address.
func (b *Backend) Adjudicator() crypto.Address { return b.cfg.Adjudicator }

// Account returns the address that signs and pays for transactions.
func (b *Backend) Account() crypto.Address { return crypto.Address(b.account) }

// Config returns the configuration the backend runs with.
func (b *Backend) Config() Config { return b.cfg }

// requireCode checks that addr holds contract code (ErrNoContract); what
// names it in the error. Positive answers are cached.
func (b *Backend) requireCode(ctx context.Context, addr common.Address, what string) error {
	b.codeMu.Lock()
	known := b.code[addr]
	b.codeMu.Unlock()
	if known {
		return nil
	}
	code, err := b.client.CodeAt(ctx, addr, nil)
	if err != nil {
		return b.classify("code of "+what, err)
	}
	if len(code) == 0 {
		return fmt.Errorf("%w: %s %s on chain %d", settlement.ErrNoContract, what, addr, b.cfg.ChainID)
	}
	b.codeMu.Lock()
	b.code[addr] = true
	b.codeMu.Unlock()
	return nil
}

// params converts and checks channel parameters.
func (b *Backend) params(p settlement.Params) (bindings.AdjudicatorChannelParams, error) {
	if p.ChainID != b.cfg.ChainID || p.Adjudicator != b.cfg.Adjudicator {
		return bindings.AdjudicatorChannelParams{}, fmt.Errorf("%w: params name chain %d adjudicator %s, backend is on chain %d adjudicator %s",
			ErrForeignParams, p.ChainID, p.Adjudicator, b.cfg.ChainID, b.cfg.Adjudicator)
	}
	return bindings.AdjudicatorChannelParams{
		A:               common.Address(p.Participants[0]),
		B:               common.Address(p.Participants[1]),
		Token:           common.Address(p.Asset),
		ChallengePeriod: p.ChallengePeriod,
		Salt:            p.Salt,
	}, nil
}

// proof converts a proof; the zero Proof becomes the contract's empty proof.
func proof(p settlement.Proof) bindings.AdjudicatorProof {
	if p.IsZero() {
		return bindings.AdjudicatorProof{Transferred: new(big.Int), Signature: []byte{}}
	}
	return bindings.AdjudicatorProof{Nonce: p.Nonce, Transferred: p.Transferred.ToBig(), Signature: bytes.Clone(p.Sig[:])}
}

// u256 converts a chain value that must fit 256 bits.
func u256(x *big.Int) uint256.Int {
	var u uint256.Int
	if x != nil {
		u.SetFromBig(x) // values from the chain are uint256 by ABI type
	}
	return u
}
