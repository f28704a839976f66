// Code generated via abigen V2 - DO NOT EDIT.
// This file is a generated binding and any manual changes will be lost.

package testbindings

import (
	"bytes"
	"errors"
	"math/big"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
)

// Reference imports to suppress errors if they are not otherwise used.
var (
	_ = bytes.Equal
	_ = errors.New
	_ = big.NewInt
	_ = common.Big1
	_ = types.BloomLookup
	_ = abi.ConvertType
)

// ReentrantReceiverMetaData contains all meta data concerning the ReentrantReceiver contract.
var ReentrantReceiverMetaData = bind.MetaData{
	ABI: "[{\"inputs\":[{\"internalType\":\"bytes\",\"name\":\"data\",\"type\":\"bytes\"}],\"name\":\"CallFailed\",\"type\":\"error\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"to\",\"type\":\"address\"},{\"internalType\":\"bytes\",\"name\":\"data\",\"type\":\"bytes\"}],\"name\":\"execute\",\"outputs\":[{\"internalType\":\"bytes\",\"name\":\"ret\",\"type\":\"bytes\"}],\"stateMutability\":\"payable\",\"type\":\"function\"},{\"inputs\":[],\"name\":\"reentryAttempted\",\"outputs\":[{\"internalType\":\"bool\",\"name\":\"\",\"type\":\"bool\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[],\"name\":\"reentryData\",\"outputs\":[{\"internalType\":\"bytes\",\"name\":\"\",\"type\":\"bytes\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[],\"name\":\"reentryReturn\",\"outputs\":[{\"internalType\":\"bytes\",\"name\":\"\",\"type\":\"bytes\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[],\"name\":\"reentrySucceeded\",\"outputs\":[{\"internalType\":\"bool\",\"name\":\"\",\"type\":\"bool\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[],\"name\":\"rejectPayments\",\"outputs\":[{\"internalType\":\"bool\",\"name\":\"\",\"type\":\"bool\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"target_\",\"type\":\"address\"},{\"internalType\":\"bytes\",\"name\":\"data\",\"type\":\"bytes\"}],\"name\":\"setReentry\",\"outputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"bool\",\"name\":\"reject\",\"type\":\"bool\"}],\"name\":\"setRejectPayments\",\"outputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"function\"},{\"inputs\":[],\"name\":\"target\",\"outputs\":[{\"internalType\":\"address\",\"name\":\"\",\"type\":\"address\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"stateMutability\":\"payable\",\"type\":\"receive\"}]",
	ID:  "ReentrantReceiver",
	Bin: "0x60808060405234601557610ad0908161001a8239f35b5f80fdfe6080806040526004361015610367575b50361561001a575f80fd5b60ff5f54166103305760015461002f816109b9565b151580610320575b61003d57005b600254740100000000000000000000000000000000000000007fffffffffffffffffffffff00ffffffffffffffffffffffffffffffffffffffff821617600255604051915f9061008c816109b9565b90600181169081156102ed575060011461029e575b5090825f73ffffffffffffffffffffffffffffffffffffffff819582950393165af16100cb610a4b565b907fffffffffffffffffffff00ffffffffffffffffffffffffffffffffffffffffff75ff00000000000000000000000000000000000000000060025492151560a81b16911617600255805167ffffffffffffffff8111610271576101306003546109b9565b601f8111610210575b50602091601f821160011461017757610167925f918361016c575b50505f198260011b9260031b1c19161790565b600355005b015190505f80610154565b7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe082169260035f527fc2575a0e9e593c00f959f8c92f12db2869c3395a3b0502d05e2516446f71f85b915f5b8581106101f8575083600195106101e0575b505050811b01600355005b01515f1960f88460031b161c191690555f80806101d5565b919260206001819286850151815501940192016101c3565b818111156101395760035f52610263907fc2575a0e9e593c00f959f8c92f12db2869c3395a3b0502d05e2516446f71f85b90601f840160051c9060208510610269575b601f82910160051c039101610aa8565b5f610139565b5f9150610253565b7f4e487b71000000000000000000000000000000000000000000000000000000005f52604160045260245ffd5b905060015f527fb10e2d527612073b26eecdfd717e6a320cf44b4afac2b0732d9fcbe2b7fa0cf65f905b8282106102d95750508201826100a1565b6001816020925484880152019101906102c8565b7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff00168552508015150283019050826100a1565b5060ff60025460a01c1615610037565b60446040517fa5fa8d2b000000000000000000000000000000000000000000000000000000008152602060048201525f6024820152fd5b5f3560e01c9081631cff79cd146108bc5750806350fc86dd1461089757806352883bd5146107f257806358f63fb81461059857806359703b2e146105735780635a2056ba146105525780635a59799c14610505578063b36ae5e61461040d5763d4b83992146103d6575f61000f565b34610409575f60031936011261040957602073ffffffffffffffffffffffffffffffffffffffff60025416604051908152f35b5f80fd5b34610409575f600319360112610409576040515f60015461042d816109b9565b80845290600181169081156104c35750600114610465575b6104618361045581850382610a0a565b60405191829182610971565b0390f35b60015f9081527fb10e2d527612073b26eecdfd717e6a320cf44b4afac2b0732d9fcbe2b7fa0cf6939250905b8082106104a957509091508101602001610455610445565b919260018160209254838588010152019101909291610491565b7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff001660208086019190915291151560051b840190910191506104559050610445565b34610409576020600319360112610409576004358015158091036104095760ff7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff005f54169116175f555f80f35b34610409575f60031936011261040957602060ff5f54166040519015158152f35b34610409575f60031936011261040957602060ff60025460a81c166040519015158152f35b346104095773ffffffffffffffffffffffffffffffffffffffff6105bb36610900565b91929092167fffffffffffffffffffffffff0000000000000000000000000000000000000000600254161760025567ffffffffffffffff8111610271576106036001546109b9565b601f811161079a575b505f601f82116001146106fd578190610638935f926106f25750505f198260011b9260031b1c19161790565b6001555b7fffffffffffffffffffff0000ffffffffffffffffffffffffffffffffffffffff6002541660025561066f6003546109b9565b8061067657005b601f811160011461068857505f600355005b601f0160051c5f19015f5b8181106106c55750505f6003555f7fc2575a0e9e593c00f959f8c92f12db2869c3395a3b0502d05e2516446f71f85b55005b5f7fc2575a0e9e593c00f959f8c92f12db2869c3395a3b0502d05e2516446f71f85c820155600101610693565b013590508380610154565b7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe082169260015f527fb10e2d527612073b26eecdfd717e6a320cf44b4afac2b0732d9fcbe2b7fa0cf6915f5b85811061078257508360019510610769575b505050811b0160015561063c565b5f1960f88560031b161c1991013516905582808061075b565b90926020600181928686013581550194019101610749565b8181111561060c5760015f526107ec907fb10e2d527612073b26eecdfd717e6a320cf44b4afac2b0732d9fcbe2b7fa0cf690601f840160051c906020851061026957601f82910160051c039101610aa8565b8261060c565b34610409575f600319360112610409576040515f600354610812816109b9565b80845290600181169081156104c35750600114610839576104618361045581850382610a0a565b60035f9081527fc2575a0e9e593c00f959f8c92f12db2869c3395a3b0502d05e2516446f71f85b939250905b80821061087d57509091508101602001610455610445565b919260018160209254838588010152019101909291610865565b34610409575f60031936011261040957602060ff60025460a01c166040519015158152f35b5f8181926108c936610900565b8091849395378101848152039134905af16108e2610a4b565b90156108f8576104619060405191829182610971565b602081519101fd5b60406003198201126104095760043573ffffffffffffffffffffffffffffffffffffffff81168103610409579160243567ffffffffffffffff811161040957826023820112156104095780600401359267ffffffffffffffff84116104095760248483010111610409576024019190565b7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe0601f602060409481855280519182918282880152018686015e5f8582860101520116010190565b90600182811c92168015610a00575b60208310146109d357565b7f4e487b71000000000000000000000000000000000000000000000000000000005f52602260045260245ffd5b91607f16916109c8565b90601f7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe0910116810190811067ffffffffffffffff82111761027157604052565b3d15610aa3573d9067ffffffffffffffff82116102715760405191610a9860207fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe0601f8401160184610a0a565b82523d5f602084013e565b606090565b5f5b828110610ab657505050565b5f82820155600101610aaa56fea164736f6c6343000825000a",
}

// ReentrantReceiver is an auto generated Go binding around an Ethereum contract.
type ReentrantReceiver struct {
	abi abi.ABI
}

// GetABI returns the ABI associated with this contract binding.
func (c *ReentrantReceiver) GetABI() abi.ABI {
	return c.abi
}

// NewReentrantReceiver creates a new instance of ReentrantReceiver.
func NewReentrantReceiver() *ReentrantReceiver {
	parsed, err := ReentrantReceiverMetaData.ParseABI()
	if err != nil {
		panic(errors.New("invalid ABI: " + err.Error()))
	}
	return &ReentrantReceiver{abi: *parsed}
}

// Instance creates a wrapper for a deployed contract instance at the given address.
// Use this to create the instance object passed to abigen v2 library functions Call, Transact, etc.
func (c *ReentrantReceiver) Instance(backend bind.ContractBackend, addr common.Address) *bind.BoundContract {
	return bind.NewBoundContract(addr, c.abi, backend, backend, backend)
}

// PackExecute is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x1cff79cd.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function execute(address to, bytes data) payable returns(bytes ret)
func (reentrantReceiver *ReentrantReceiver) PackExecute(to common.Address, data []byte) []byte {
	enc, err := reentrantReceiver.abi.Pack("execute", to, data)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackExecute is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x1cff79cd.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function execute(address to, bytes data) payable returns(bytes ret)
func (reentrantReceiver *ReentrantReceiver) TryPackExecute(to common.Address, data []byte) ([]byte, error) {
	return reentrantReceiver.abi.Pack("execute", to, data)
}

// UnpackExecute is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x1cff79cd.
//
// Solidity: function execute(address to, bytes data) payable returns(bytes ret)
func (reentrantReceiver *ReentrantReceiver) UnpackExecute(data []byte) ([]byte, error) {
	out, err := reentrantReceiver.abi.Unpack("execute", data)
	if err != nil {
		return *new([]byte), err
	}
	out0 := *abi.ConvertType(out[0], new([]byte)).(*[]byte)
	return out0, nil
}

// PackReentryAttempted is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x50fc86dd.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function reentryAttempted() view returns(bool)
func (reentrantReceiver *ReentrantReceiver) PackReentryAttempted() []byte {
	enc, err := reentrantReceiver.abi.Pack("reentryAttempted")
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackReentryAttempted is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x50fc86dd.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function reentryAttempted() view returns(bool)
func (reentrantReceiver *ReentrantReceiver) TryPackReentryAttempted() ([]byte, error) {
	return reentrantReceiver.abi.Pack("reentryAttempted")
}

// UnpackReentryAttempted is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x50fc86dd.
//
// Solidity: function reentryAttempted() view returns(bool)
func (reentrantReceiver *ReentrantReceiver) UnpackReentryAttempted(data []byte) (bool, error) {
	out, err := reentrantReceiver.abi.Unpack("reentryAttempted", data)
	if err != nil {
		return *new(bool), err
	}
	out0 := *abi.ConvertType(out[0], new(bool)).(*bool)
	return out0, nil
}

// PackReentryData is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xb36ae5e6.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function reentryData() view returns(bytes)
func (reentrantReceiver *ReentrantReceiver) PackReentryData() []byte {
	enc, err := reentrantReceiver.abi.Pack("reentryData")
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackReentryData is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xb36ae5e6.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function reentryData() view returns(bytes)
func (reentrantReceiver *ReentrantReceiver) TryPackReentryData() ([]byte, error) {
	return reentrantReceiver.abi.Pack("reentryData")
}

// UnpackReentryData is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0xb36ae5e6.
//
// Solidity: function reentryData() view returns(bytes)
func (reentrantReceiver *ReentrantReceiver) UnpackReentryData(data []byte) ([]byte, error) {
	out, err := reentrantReceiver.abi.Unpack("reentryData", data)
	if err != nil {
		return *new([]byte), err
	}
	out0 := *abi.ConvertType(out[0], new([]byte)).(*[]byte)
	return out0, nil
}

// PackReentryReturn is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x52883bd5.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function reentryReturn() view returns(bytes)
func (reentrantReceiver *ReentrantReceiver) PackReentryReturn() []byte {
	enc, err := reentrantReceiver.abi.Pack("reentryReturn")
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackReentryReturn is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x52883bd5.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function reentryReturn() view returns(bytes)
func (reentrantReceiver *ReentrantReceiver) TryPackReentryReturn() ([]byte, error) {
	return reentrantReceiver.abi.Pack("reentryReturn")
}

// UnpackReentryReturn is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x52883bd5.
//
// Solidity: function reentryReturn() view returns(bytes)
func (reentrantReceiver *ReentrantReceiver) UnpackReentryReturn(data []byte) ([]byte, error) {
	out, err := reentrantReceiver.abi.Unpack("reentryReturn", data)
	if err != nil {
		return *new([]byte), err
	}
	out0 := *abi.ConvertType(out[0], new([]byte)).(*[]byte)
	return out0, nil
}

// PackReentrySucceeded is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x59703b2e.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function reentrySucceeded() view returns(bool)
func (reentrantReceiver *ReentrantReceiver) PackReentrySucceeded() []byte {
	enc, err := reentrantReceiver.abi.Pack("reentrySucceeded")
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackReentrySucceeded is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x59703b2e.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function reentrySucceeded() view returns(bool)
func (reentrantReceiver *ReentrantReceiver) TryPackReentrySucceeded() ([]byte, error) {
	return reentrantReceiver.abi.Pack("reentrySucceeded")
}

// UnpackReentrySucceeded is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x59703b2e.
//
// Solidity: function reentrySucceeded() view returns(bool)
func (reentrantReceiver *ReentrantReceiver) UnpackReentrySucceeded(data []byte) (bool, error) {
	out, err := reentrantReceiver.abi.Unpack("reentrySucceeded", data)
	if err != nil {
		return *new(bool), err
	}
	out0 := *abi.ConvertType(out[0], new(bool)).(*bool)
	return out0, nil
}

// PackRejectPayments is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x5a2056ba.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function rejectPayments() view returns(bool)
func (reentrantReceiver *ReentrantReceiver) PackRejectPayments() []byte {
	enc, err := reentrantReceiver.abi.Pack("rejectPayments")
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackRejectPayments is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x5a2056ba.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function rejectPayments() view returns(bool)
func (reentrantReceiver *ReentrantReceiver) TryPackRejectPayments() ([]byte, error) {
	return reentrantReceiver.abi.Pack("rejectPayments")
}

// UnpackRejectPayments is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x5a2056ba.
//
// Solidity: function rejectPayments() view returns(bool)
func (reentrantReceiver *ReentrantReceiver) UnpackRejectPayments(data []byte) (bool, error) {
	out, err := reentrantReceiver.abi.Unpack("rejectPayments", data)
	if err != nil {
		return *new(bool), err
	}
	out0 := *abi.ConvertType(out[0], new(bool)).(*bool)
	return out0, nil
}

// PackSetReentry is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x58f63fb8.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function setReentry(address target_, bytes data) returns()
func (reentrantReceiver *ReentrantReceiver) PackSetReentry(target common.Address, data []byte) []byte {
	enc, err := reentrantReceiver.abi.Pack("setReentry", target, data)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackSetReentry is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x58f63fb8.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function setReentry(address target_, bytes data) returns()
func (reentrantReceiver *ReentrantReceiver) TryPackSetReentry(target common.Address, data []byte) ([]byte, error) {
	return reentrantReceiver.abi.Pack("setReentry", target, data)
}

// PackSetRejectPayments is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x5a59799c.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function setRejectPayments(bool reject) returns()
func (reentrantReceiver *ReentrantReceiver) PackSetRejectPayments(reject bool) []byte {
	enc, err := reentrantReceiver.abi.Pack("setRejectPayments", reject)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackSetRejectPayments is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x5a59799c.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function setRejectPayments(bool reject) returns()
func (reentrantReceiver *ReentrantReceiver) TryPackSetRejectPayments(reject bool) ([]byte, error) {
	return reentrantReceiver.abi.Pack("setRejectPayments", reject)
}

// PackTarget is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xd4b83992.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function target() view returns(address)
func (reentrantReceiver *ReentrantReceiver) PackTarget() []byte {
	enc, err := reentrantReceiver.abi.Pack("target")
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackTarget is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xd4b83992.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function target() view returns(address)
func (reentrantReceiver *ReentrantReceiver) TryPackTarget() ([]byte, error) {
	return reentrantReceiver.abi.Pack("target")
}

// UnpackTarget is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0xd4b83992.
//
// Solidity: function target() view returns(address)
func (reentrantReceiver *ReentrantReceiver) UnpackTarget(data []byte) (common.Address, error) {
	out, err := reentrantReceiver.abi.Unpack("target", data)
	if err != nil {
		return *new(common.Address), err
	}
	out0 := *abi.ConvertType(out[0], new(common.Address)).(*common.Address)
	return out0, nil
}

// UnpackError attempts to decode the provided error data using user-defined
// error definitions.
func (reentrantReceiver *ReentrantReceiver) UnpackError(raw []byte) (any, error) {
	if bytes.Equal(raw[:4], reentrantReceiver.abi.Errors["CallFailed"].ID.Bytes()[:4]) {
		return reentrantReceiver.UnpackCallFailedError(raw[4:])
	}
	return nil, errors.New("Unknown error")
}

// ReentrantReceiverCallFailed represents a CallFailed error raised by the ReentrantReceiver contract.
type ReentrantReceiverCallFailed struct {
	Data []byte
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error CallFailed(bytes data)
func ReentrantReceiverCallFailedErrorID() common.Hash {
	return common.HexToHash("0xa5fa8d2bd23af43608c66a1e71e091ad72afa45dfd478efa1657e01a9a4ceea6")
}

// UnpackCallFailedError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error CallFailed(bytes data)
func (reentrantReceiver *ReentrantReceiver) UnpackCallFailedError(raw []byte) (*ReentrantReceiverCallFailed, error) {
	out := new(ReentrantReceiverCallFailed)
	if err := reentrantReceiver.abi.UnpackIntoInterface(out, "CallFailed", raw); err != nil {
		return nil, err
	}
	return out, nil
}
