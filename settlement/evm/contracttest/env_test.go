package contracttest

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/node"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"

	"github.com/tinypay/tinypay/settlement/evm/bindings"
	"github.com/tinypay/tinypay/settlement/evm/bindings/testbindings"
)

const (
	// genesisTime lies far ahead of the wall clock, so the simulated beacon
	// stamps every block with parent time + 1 and timestamps are
	// deterministic (AdjustTime jumps ahead on demand).
	genesisTime = 4_000_000_000
	// period is the challenge period of the test channels, in seconds.
	period = 3600
)

// Phases as the contract's enum encodes them.
const (
	phaseNone    uint8 = 0
	phaseOpen    uint8 = 1
	phaseClosed  uint8 = 2
	phaseSettled uint8 = 3
)

var (
	chainID = params.AllDevChainProtocolChanges.ChainID // the simulated backend's 1337
	ether   = new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil)
	usd     = big.NewInt(1_000_000) // one Test Dollar in base units
	maxU256 = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	maxU120 = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 120), big.NewInt(1))
	// secp256k1N is the order of the secp256k1 group.
	secp256k1N, _ = new(big.Int).SetString("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", 16)

	adjudicatorABI = mustABI(bindings.AdjudicatorMetaData.ABI)
	tokenABI       = mustABI(bindings.TestTokenMetaData.ABI)
)

func mustABI(s string) abi.ABI {
	a, err := abi.JSON(strings.NewReader(s))
	if err != nil {
		panic(err)
	}
	return a
}

func eth(n int64) *big.Int     { return new(big.Int).Mul(big.NewInt(n), ether) }
func dollars(n int64) *big.Int { return new(big.Int).Mul(big.NewInt(n), usd) }
func add(a, b *big.Int) *big.Int {
	return new(big.Int).Add(a, b)
}
func sub(a, b *big.Int) *big.Int {
	return new(big.Int).Sub(a, b)
}

// account is a funded externally owned account with a deterministic key.
type account struct {
	name string
	key  *ecdsa.PrivateKey
	addr common.Address
}

func newAccount(name string) account {
	key, err := crypto.ToECDSA(crypto.Keccak256([]byte("tinypay contract test " + name)))
	if err != nil {
		panic(err)
	}
	return account{name: name, key: key, addr: crypto.PubkeyToAddress(key.PublicKey)}
}

// osakaConfig is the dev chain configuration stopped at Osaka, the fork
// mainnet runs: go-ethereum's dev defaults also enable future forks whose
// gas schedule differs.
func osakaConfig() *params.ChainConfig {
	cfg := *params.AllDevChainProtocolChanges
	cfg.AmsterdamTime = nil
	cfg.BogotaTime = nil
	cfg.UBTTime = nil
	return &cfg
}

// env is one simulated chain with the adjudicator and a test dollar token
// deployed, and four funded accounts: alice and bob are the channel
// participants, carol a third party (funder, watchtower), mallory an outsider.
type env struct {
	t       testing.TB
	sim     *simulated.Backend
	client  simulated.Client
	adj     *bindings.Adjudicator
	adjAddr common.Address
	tok     *bindings.TestToken
	tokAddr common.Address

	alice, bob, carol, mallory account
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{
		t:       t,
		adj:     bindings.NewAdjudicator(),
		tok:     bindings.NewTestToken(),
		alice:   newAccount("alice"),
		bob:     newAccount("bob"),
		carol:   newAccount("carol"),
		mallory: newAccount("mallory"),
	}
	alloc := types.GenesisAlloc{}
	for _, a := range e.accounts() {
		alloc[a.addr] = types.Account{Balance: eth(1_000_000)}
	}
	e.sim = simulated.NewBackend(alloc, func(_ *node.Config, ec *ethconfig.Config) {
		ec.Genesis.Config = osakaConfig()
		ec.Genesis.Timestamp = genesisTime
	})
	t.Cleanup(func() { _ = e.sim.Close() })
	e.client = e.sim.Client()

	e.adjAddr = e.deploy(e.carol, bindings.AdjudicatorMetaData.Bin)
	e.tokAddr = e.deploy(e.carol, bindings.TestTokenMetaData.Bin)
	for _, a := range e.accounts() {
		e.mustTx(a, e.tokAddr, nil, e.tok.PackMint(a.addr, dollars(1_000_000)))
		e.mustTx(a, e.tokAddr, nil, e.tok.PackApprove(e.adjAddr, maxU256))
	}
	return e
}

func (e *env) accounts() []account { return []account{e.alice, e.bob, e.carol, e.mallory} }

func (e *env) ctx() context.Context { return context.Background() }

// deploy deploys creation code and returns the contract address.
func (e *env) deploy(from account, bin string) common.Address {
	e.t.Helper()
	r, err := e.transact(from, nil, nil, common.FromHex(bin), 0)
	if err != nil {
		e.t.Fatalf("deploy: %v", err)
	}
	if r.Status != types.ReceiptStatusSuccessful {
		e.t.Fatalf("deploy failed")
	}
	return r.ContractAddress
}

// transact signs and sends a transaction, mines it in the next block and
// returns its receipt. gas 0 means estimate; an estimate that reverts
// returns the decoded revert as the error.
func (e *env) transact(from account, to *common.Address, value *big.Int, data []byte, gas uint64) (*types.Receipt, error) {
	ctx := e.ctx()
	if value == nil {
		value = new(big.Int)
	}
	nonce, err := e.client.PendingNonceAt(ctx, from.addr)
	if err != nil {
		return nil, err
	}
	head, err := e.client.HeaderByNumber(ctx, nil)
	if err != nil {
		return nil, err
	}
	tip := big.NewInt(params.GWei)
	feeCap := new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(2)), tip)
	if gas == 0 {
		est, err := e.client.EstimateGas(ctx, ethereum.CallMsg{
			From: from.addr, To: to, Value: value, Data: data, GasFeeCap: feeCap, GasTipCap: tip,
		})
		if err != nil {
			return nil, e.revertError(err)
		}
		gas = est * 5 / 4
	}
	tx, err := types.SignNewTx(from.key, types.LatestSignerForChainID(chainID), &types.DynamicFeeTx{
		ChainID: chainID, Nonce: nonce, GasTipCap: tip, GasFeeCap: feeCap, Gas: gas,
		To: to, Value: value, Data: data,
	})
	if err != nil {
		return nil, err
	}
	if err := e.client.SendTransaction(ctx, tx); err != nil {
		return nil, err
	}
	e.sim.Commit()
	// Should the pool not have offered the transaction to that block yet,
	// mine another one (the timing tests check the block time they get).
	for range 20 {
		r, err := e.client.TransactionReceipt(ctx, tx.Hash())
		if !errors.Is(err, ethereum.NotFound) {
			return r, err
		}
		time.Sleep(5 * time.Millisecond)
		e.sim.Commit()
	}
	return nil, fmt.Errorf("transaction %s not mined", tx.Hash())
}

// mustTx sends a transaction that must succeed.
func (e *env) mustTx(from account, to common.Address, value *big.Int, data []byte) *types.Receipt {
	e.t.Helper()
	r, err := e.transact(from, &to, value, data, 0)
	if err != nil {
		e.t.Fatalf("transaction from %s: %v", from.name, err)
	}
	if r.Status != types.ReceiptStatusSuccessful {
		e.t.Fatalf("transaction from %s failed on chain", from.name)
	}
	return r
}

// fee is what the sender of r paid for gas.
func fee(r *types.Receipt) *big.Int {
	return new(big.Int).Mul(new(big.Int).SetUint64(r.GasUsed), r.EffectiveGasPrice)
}

// revert is a decoded custom error.
type revert struct {
	name string
	args []any
}

func (r revert) String() string {
	parts := make([]string, len(r.args))
	for i, a := range r.args {
		parts[i] = fmt.Sprint(a)
	}
	return r.name + "(" + strings.Join(parts, ", ") + ")"
}

func want(name string, args ...any) revert { return revert{name: name, args: args} }

// revertError turns an RPC error carrying revert data into a readable error.
func (e *env) revertError(err error) error {
	data, ok := ethclient.RevertErrorData(err)
	if !ok {
		return err
	}
	r, derr := decodeRevert(data)
	if derr != nil {
		return fmt.Errorf("%w (revert data %x)", err, data)
	}
	return fmt.Errorf("reverted with %s", r)
}

// decodeRevert decodes revert data as one of the contracts' custom errors.
func decodeRevert(data []byte) (revert, error) {
	if len(data) < 4 {
		return revert{}, fmt.Errorf("revert data too short: %x", data)
	}
	for _, a := range []abi.ABI{adjudicatorABI, tokenABI} {
		e, err := a.ErrorByID([4]byte(data[:4]))
		if err != nil {
			continue
		}
		vals, err := e.Unpack(data)
		if err != nil {
			return revert{}, err
		}
		return revert{name: e.Name, args: vals.([]any)}, nil
	}
	return revert{}, fmt.Errorf("unknown error selector %x", data[:4])
}

// callRevert runs data as a call at the latest block and returns the
// decoded custom error it reverts with.
func (e *env) callRevert(from account, to common.Address, value *big.Int, data []byte) (revert, error) {
	_, err := e.client.CallContract(e.ctx(), ethereum.CallMsg{
		From: from.addr, To: &to, Value: value, Data: data, Gas: 10_000_000,
	}, nil)
	if err == nil {
		return revert{}, errors.New("call did not revert")
	}
	rd, ok := ethclient.RevertErrorData(err)
	if !ok {
		return revert{}, fmt.Errorf("call failed without revert data: %w", err)
	}
	return decodeRevert(rd)
}

// expectRevertCall asserts that the call reverts with exactly w (name and
// arguments) at the latest block's timestamp.
func (e *env) expectRevertCall(from account, to common.Address, value *big.Int, data []byte, w revert) {
	e.t.Helper()
	got, err := e.callRevert(from, to, value, data)
	if err != nil {
		e.t.Fatalf("want revert %s: %v", w, err)
	}
	if got.String() != w.String() {
		e.t.Fatalf("reverted with %s, want %s", got, w)
	}
}

// expectRevert asserts the call reverts with w, then sends it as a real
// transaction (mined in the next block) and asserts it fails on chain.
func (e *env) expectRevert(from account, to common.Address, value *big.Int, data []byte, w revert) {
	e.t.Helper()
	e.expectRevertCall(from, to, value, data, w)
	r, err := e.transact(from, &to, value, data, 2_000_000)
	if err != nil {
		e.t.Fatalf("send: %v", err)
	}
	if r.Status != types.ReceiptStatusFailed {
		e.t.Fatalf("transaction succeeded on chain, want revert %s", w)
	}
}

// call runs a read-only call against the latest block.
func (e *env) call(to common.Address, data []byte) []byte {
	e.t.Helper()
	out, err := e.client.CallContract(e.ctx(), ethereum.CallMsg{To: &to, Data: data}, nil)
	if err != nil {
		e.t.Fatalf("call: %v", e.revertError(err))
	}
	return out
}

func (e *env) ethBalance(a common.Address) *big.Int {
	e.t.Helper()
	b, err := e.client.BalanceAt(e.ctx(), a, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// balanceOf returns a's balance of the channel asset token (zero = ETH).
func (e *env) balanceOf(token, a common.Address) *big.Int {
	e.t.Helper()
	if token == (common.Address{}) {
		return e.ethBalance(a)
	}
	out := e.call(token, e.tok.PackBalanceOf(a))
	b, err := e.tok.UnpackBalanceOf(out)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// now is the latest block's timestamp.
func (e *env) now() uint64 {
	e.t.Helper()
	h, err := e.client.HeaderByNumber(e.ctx(), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return h.Time
}

// advanceTo mines an empty block with timestamp ts (> now), so calls see
// block.timestamp == ts and the next transaction is mined at ts + 1.
func (e *env) advanceTo(ts uint64) {
	e.t.Helper()
	now := e.now()
	if ts <= now {
		e.t.Fatalf("advanceTo(%d): latest block is already at %d", ts, now)
	}
	// The transaction pool drops mined transactions asynchronously after a
	// block, and AdjustTime refuses to run while it still lists any: retry
	// briefly.
	var err error
	for range 400 {
		if err = e.sim.AdjustTime(time.Duration(ts-now) * time.Second); err == nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	if got := e.now(); got != ts {
		e.t.Fatalf("advanceTo(%d): block time is %d", ts, got)
	}
}

// --- channels -------------------------------------------------------------

// params are the parameters of an alice-bob channel in token (zero = ETH).
func (e *env) params(token common.Address, salt byte) bindings.AdjudicatorChannelParams {
	return bindings.AdjudicatorChannelParams{
		A: e.alice.addr, B: e.bob.addr, Token: token, ChallengePeriod: period, Salt: [32]byte{31: salt},
	}
}

// channelID computes the channel id in Go, as the Go backend will:
// keccak256(abi.encode(chainid, adjudicator, a, b, token, challengePeriod, salt)).
func channelID(chain *big.Int, adjudicator common.Address, p bindings.AdjudicatorChannelParams) [32]byte {
	word := func(b []byte) []byte { return common.LeftPadBytes(b, 32) }
	var buf []byte
	buf = append(buf, word(chain.Bytes())...)
	buf = append(buf, word(adjudicator.Bytes())...)
	buf = append(buf, word(p.A.Bytes())...)
	buf = append(buf, word(p.B.Bytes())...)
	buf = append(buf, word(p.Token.Bytes())...)
	buf = append(buf, word(new(big.Int).SetUint64(p.ChallengePeriod).Bytes())...)
	buf = append(buf, p.Salt[:]...)
	return crypto.Keccak256Hash(buf)
}

func (e *env) id(p bindings.AdjudicatorChannelParams) [32]byte {
	return channelID(chainID, e.adjAddr, p)
}

// valueFor is the msg.value that moves amount of the channel asset.
func valueFor(p bindings.AdjudicatorChannelParams, amount *big.Int) *big.Int {
	if p.Token == (common.Address{}) {
		return amount
	}
	return nil
}

func (e *env) open(p bindings.AdjudicatorChannelParams, opener account, amount *big.Int) *types.Receipt {
	e.t.Helper()
	return e.mustTx(opener, e.adjAddr, valueFor(p, amount), e.adj.PackOpen(p, amount))
}

func (e *env) deposit(p bindings.AdjudicatorChannelParams, funder account, participant common.Address, total, amount *big.Int) *types.Receipt {
	e.t.Helper()
	return e.mustTx(funder, e.adjAddr, valueFor(p, amount), e.adj.PackDeposit(p, participant, total))
}

func (e *env) state(p bindings.AdjudicatorChannelParams) bindings.AdjudicatorChannelState {
	e.t.Helper()
	s, err := e.adj.UnpackChannel(e.call(e.adjAddr, e.adj.PackChannel(e.id(p))))
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *env) payout(a, token common.Address) *big.Int {
	e.t.Helper()
	v, err := e.adj.UnpackPayouts(e.call(e.adjAddr, e.adj.PackPayouts(a, token)))
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

// --- EIP-712 with go-ethereum's reference implementation ---------------------

// domain is an EIP-712 domain; tests vary it to forge digests for other
// chains and contracts.
type domain struct {
	chainID  *big.Int
	contract common.Address
}

func (e *env) domain() domain { return domain{chainID: chainID, contract: e.adjAddr} }

var eip712Types = apitypes.Types{
	"EIP712Domain": {
		{Name: "name", Type: "string"},
		{Name: "version", Type: "string"},
		{Name: "chainId", Type: "uint256"},
		{Name: "verifyingContract", Type: "address"},
	},
	"BalanceProof": {
		{Name: "channelId", Type: "bytes32"},
		{Name: "nonce", Type: "uint64"},
		{Name: "transferred", Type: "uint256"},
	},
	"CooperativeClose": {
		{Name: "channelId", Type: "bytes32"},
		{Name: "balanceA", Type: "uint256"},
		{Name: "balanceB", Type: "uint256"},
		{Name: "expiry", Type: "uint64"},
	},
	"Withdraw": {
		{Name: "channelId", Type: "bytes32"},
		{Name: "participant", Type: "address"},
		{Name: "totalWithdrawn", Type: "uint256"},
		{Name: "expiry", Type: "uint64"},
	},
}

func (d domain) digest(primary string, msg apitypes.TypedDataMessage) []byte {
	td := apitypes.TypedData{
		Types:       eip712Types,
		PrimaryType: primary,
		Domain: apitypes.TypedDataDomain{
			Name: "tinypay", Version: "1",
			ChainId:           (*math.HexOrDecimal256)(d.chainID),
			VerifyingContract: d.contract.Hex(),
		},
		Message: msg,
	}
	h, _, err := apitypes.TypedDataAndHash(td)
	if err != nil {
		panic(err)
	}
	return h
}

func (d domain) separator() []byte {
	td := apitypes.TypedData{Types: eip712Types, Domain: apitypes.TypedDataDomain{
		Name: "tinypay", Version: "1",
		ChainId:           (*math.HexOrDecimal256)(d.chainID),
		VerifyingContract: d.contract.Hex(),
	}}
	h, err := td.HashStruct("EIP712Domain", td.Domain.Map())
	if err != nil {
		panic(err)
	}
	return h
}

func hex32(b [32]byte) string { return common.Hash(b).Hex() }

func (d domain) balanceProofDigest(id [32]byte, nonce uint64, transferred *big.Int) []byte {
	return d.digest("BalanceProof", apitypes.TypedDataMessage{
		"channelId": hex32(id), "nonce": fmt.Sprint(nonce), "transferred": transferred,
	})
}

func (d domain) cooperativeCloseDigest(id [32]byte, balanceA, balanceB *big.Int, expiry uint64) []byte {
	return d.digest("CooperativeClose", apitypes.TypedDataMessage{
		"channelId": hex32(id), "balanceA": balanceA, "balanceB": balanceB, "expiry": fmt.Sprint(expiry),
	})
}

func (d domain) withdrawDigest(id [32]byte, participant common.Address, total *big.Int, expiry uint64) []byte {
	return d.digest("Withdraw", apitypes.TypedDataMessage{
		"channelId": hex32(id), "participant": participant.Hex(), "totalWithdrawn": total, "expiry": fmt.Sprint(expiry),
	})
}

// sign signs a digest as [R || S || V] with V in {27, 28}.
func sign(a account, digest []byte) []byte {
	sig, err := crypto.Sign(digest, a.key)
	if err != nil {
		panic(err)
	}
	sig[64] += 27
	return sig
}

func (e *env) proof(signer account, p bindings.AdjudicatorChannelParams, nonce uint64, transferred *big.Int) bindings.AdjudicatorProof {
	return bindings.AdjudicatorProof{
		Nonce: nonce, Transferred: transferred,
		Signature: sign(signer, e.domain().balanceProofDigest(e.id(p), nonce, transferred)),
	}
}

// noProof is the empty proof close accepts in place of a missing one.
func noProof() bindings.AdjudicatorProof {
	return bindings.AdjudicatorProof{Transferred: new(big.Int)}
}

// coopSigs returns alice's and bob's signatures over close terms.
func (e *env) coopSigs(p bindings.AdjudicatorChannelParams, balA, balB *big.Int, expiry uint64) ([]byte, []byte) {
	d := e.domain().cooperativeCloseDigest(e.id(p), balA, balB, expiry)
	return sign(e.alice, d), sign(e.bob, d)
}

// withdrawSigs returns alice's and bob's signatures over a withdrawal.
func (e *env) withdrawSigs(p bindings.AdjudicatorChannelParams, participant common.Address, total *big.Int, expiry uint64) ([]byte, []byte) {
	d := e.domain().withdrawDigest(e.id(p), participant, total, expiry)
	return sign(e.alice, d), sign(e.bob, d)
}

// --- events -------------------------------------------------------------------

// events decodes every log of r that unpack accepts.
func events[T any](t testing.TB, r *types.Receipt, unpack func(*types.Log) (*T, error)) []*T {
	t.Helper()
	var out []*T
	for _, l := range r.Logs {
		ev, err := unpack(l)
		if err == nil {
			out = append(out, ev)
		}
	}
	return out
}

// oneEvent asserts r has exactly one log that unpack accepts and returns it.
func oneEvent[T any](t testing.TB, r *types.Receipt, unpack func(*types.Log) (*T, error)) *T {
	t.Helper()
	evs := events(t, r, unpack)
	if len(evs) != 1 {
		t.Fatalf("got %d %T events, want 1", len(evs), *new(T))
	}
	return evs[0]
}

// eqInt fails unless got == want.
func eqInt(t testing.TB, what string, got, want *big.Int) {
	t.Helper()
	if got == nil || want == nil || got.Cmp(want) != 0 {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

// receiver deploys a ReentrantReceiver contract (a contract account that
// can be a channel participant).
func (e *env) receiver() (*testbindings.ReentrantReceiver, common.Address) {
	e.t.Helper()
	return testbindings.NewReentrantReceiver(), e.deploy(e.carol, testbindings.ReentrantReceiverMetaData.Bin)
}
