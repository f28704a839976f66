// Code generated via abigen V2 - DO NOT EDIT.
// This file is a generated binding and any manual changes will be lost.

package bindings

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

// AdjudicatorChannelParams is an auto generated low-level Go binding around an user-defined struct.
type AdjudicatorChannelParams struct {
	A               common.Address
	B               common.Address
	Token           common.Address
	ChallengePeriod uint64
	Salt            [32]byte
}

// AdjudicatorChannelState is an auto generated low-level Go binding around an user-defined struct.
type AdjudicatorChannelState struct {
	Phase           uint8
	DepositA        *big.Int
	DepositB        *big.Int
	WithdrawnA      *big.Int
	WithdrawnB      *big.Int
	TransferredAtoB *big.Int
	TransferredBtoA *big.Int
	SettleAfter     uint64
}

// AdjudicatorProof is an auto generated low-level Go binding around an user-defined struct.
type AdjudicatorProof struct {
	Nonce       uint64
	Transferred *big.Int
	Signature   []byte
}

// AdjudicatorMetaData contains all meta data concerning the Adjudicator contract.
var AdjudicatorMetaData = bind.MetaData{
	ABI: "[{\"inputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"constructor\"},{\"inputs\":[{\"internalType\":\"uint256\",\"name\":\"amount\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"max\",\"type\":\"uint256\"}],\"name\":\"AmountTooLarge\",\"type\":\"error\"},{\"inputs\":[{\"internalType\":\"uint256\",\"name\":\"available\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"balanceA\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"balanceB\",\"type\":\"uint256\"}],\"name\":\"BalanceMismatch\",\"type\":\"error\"},{\"inputs\":[{\"internalType\":\"uint64\",\"name\":\"settleAfter\",\"type\":\"uint64\"},{\"internalType\":\"uint256\",\"name\":\"timestamp\",\"type\":\"uint256\"}],\"name\":\"ChallengePeriodNotOver\",\"type\":\"error\"},{\"inputs\":[{\"internalType\":\"uint64\",\"name\":\"settleAfter\",\"type\":\"uint64\"},{\"internalType\":\"uint256\",\"name\":\"timestamp\",\"type\":\"uint256\"}],\"name\":\"ChallengePeriodOver\",\"type\":\"error\"},{\"inputs\":[{\"internalType\":\"bytes32\",\"name\":\"channelId\",\"type\":\"bytes32\"}],\"name\":\"ChannelExists\",\"type\":\"error\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"to\",\"type\":\"address\"},{\"internalType\":\"uint256\",\"name\":\"amount\",\"type\":\"uint256\"}],\"name\":\"EthTransferFailed\",\"type\":\"error\"},{\"inputs\":[{\"internalType\":\"uint64\",\"name\":\"expiry\",\"type\":\"uint64\"},{\"internalType\":\"uint256\",\"name\":\"timestamp\",\"type\":\"uint256\"}],\"name\":\"Expired\",\"type\":\"error\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"token\",\"type\":\"address\"},{\"internalType\":\"uint256\",\"name\":\"expected\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"received\",\"type\":\"uint256\"}],\"name\":\"FeeOnTransferRefused\",\"type\":\"error\"},{\"inputs\":[{\"internalType\":\"uint256\",\"name\":\"available\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"requested\",\"type\":\"uint256\"}],\"name\":\"InsufficientFunds\",\"type\":\"error\"},{\"inputs\":[{\"internalType\":\"uint64\",\"name\":\"challengePeriod\",\"type\":\"uint64\"}],\"name\":\"InvalidChallengePeriod\",\"type\":\"error\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"a\",\"type\":\"address\"},{\"internalType\":\"address\",\"name\":\"b\",\"type\":\"address\"}],\"name\":\"InvalidParticipants\",\"type\":\"error\"},{\"inputs\":[],\"name\":\"InvalidSignature\",\"type\":\"error\"},{\"inputs\":[{\"internalType\":\"uint256\",\"name\":\"length\",\"type\":\"uint256\"}],\"name\":\"InvalidSignatureLength\",\"type\":\"error\"},{\"inputs\":[{\"internalType\":\"bytes32\",\"name\":\"s\",\"type\":\"bytes32\"}],\"name\":\"InvalidSignatureS\",\"type\":\"error\"},{\"inputs\":[{\"internalType\":\"uint8\",\"name\":\"v\",\"type\":\"uint8\"}],\"name\":\"InvalidSignatureV\",\"type\":\"error\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"account\",\"type\":\"address\"},{\"internalType\":\"address\",\"name\":\"token\",\"type\":\"address\"}],\"name\":\"NoPayout\",\"type\":\"error\"},{\"inputs\":[],\"name\":\"NoProofs\",\"type\":\"error\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"token\",\"type\":\"address\"}],\"name\":\"NotAToken\",\"type\":\"error\"},{\"inputs\":[{\"internalType\":\"uint256\",\"name\":\"current\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"proposed\",\"type\":\"uint256\"}],\"name\":\"NotIncreasing\",\"type\":\"error\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"account\",\"type\":\"address\"}],\"name\":\"NotParticipant\",\"type\":\"error\"},{\"inputs\":[],\"name\":\"Reentrancy\",\"type\":\"error\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"signer\",\"type\":\"address\"}],\"name\":\"SignerNotParticipant\",\"type\":\"error\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"token\",\"type\":\"address\"}],\"name\":\"TokenTransferFailed\",\"type\":\"error\"},{\"inputs\":[],\"name\":\"UnsignedProofNotEmpty\",\"type\":\"error\"},{\"inputs\":[{\"internalType\":\"uint256\",\"name\":\"expected\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"actual\",\"type\":\"uint256\"}],\"name\":\"WrongMsgValue\",\"type\":\"error\"},{\"inputs\":[{\"internalType\":\"bytes32\",\"name\":\"channelId\",\"type\":\"bytes32\"},{\"internalType\":\"enumAdjudicator.Phase\",\"name\":\"phase\",\"type\":\"uint8\"}],\"name\":\"WrongPhase\",\"type\":\"error\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"expected\",\"type\":\"address\"},{\"internalType\":\"address\",\"name\":\"recovered\",\"type\":\"address\"}],\"name\":\"WrongSigner\",\"type\":\"error\"},{\"inputs\":[],\"name\":\"ZeroAmount\",\"type\":\"error\"},{\"anonymous\":false,\"inputs\":[{\"indexed\":true,\"internalType\":\"bytes32\",\"name\":\"channelId\",\"type\":\"bytes32\"},{\"indexed\":true,\"internalType\":\"address\",\"name\":\"a\",\"type\":\"address\"},{\"indexed\":true,\"internalType\":\"address\",\"name\":\"b\",\"type\":\"address\"},{\"indexed\":false,\"internalType\":\"address\",\"name\":\"token\",\"type\":\"address\"},{\"indexed\":false,\"internalType\":\"uint64\",\"name\":\"challengePeriod\",\"type\":\"uint64\"},{\"indexed\":false,\"internalType\":\"bytes32\",\"name\":\"salt\",\"type\":\"bytes32\"}],\"name\":\"ChannelOpened\",\"type\":\"event\"},{\"anonymous\":false,\"inputs\":[{\"indexed\":true,\"internalType\":\"bytes32\",\"name\":\"channelId\",\"type\":\"bytes32\"},{\"indexed\":true,\"internalType\":\"address\",\"name\":\"closer\",\"type\":\"address\"},{\"indexed\":false,\"internalType\":\"uint256\",\"name\":\"transferredAtoB\",\"type\":\"uint256\"},{\"indexed\":false,\"internalType\":\"uint256\",\"name\":\"transferredBtoA\",\"type\":\"uint256\"},{\"indexed\":false,\"internalType\":\"uint64\",\"name\":\"settleAfter\",\"type\":\"uint64\"}],\"name\":\"Closed\",\"type\":\"event\"},{\"anonymous\":false,\"inputs\":[{\"indexed\":true,\"internalType\":\"bytes32\",\"name\":\"channelId\",\"type\":\"bytes32\"},{\"indexed\":false,\"internalType\":\"uint256\",\"name\":\"balanceA\",\"type\":\"uint256\"},{\"indexed\":false,\"internalType\":\"uint256\",\"name\":\"balanceB\",\"type\":\"uint256\"}],\"name\":\"CooperativelyClosed\",\"type\":\"event\"},{\"anonymous\":false,\"inputs\":[{\"indexed\":true,\"internalType\":\"bytes32\",\"name\":\"channelId\",\"type\":\"bytes32\"},{\"indexed\":true,\"internalType\":\"address\",\"name\":\"participant\",\"type\":\"address\"},{\"indexed\":false,\"internalType\":\"uint256\",\"name\":\"totalDeposit\",\"type\":\"uint256\"}],\"name\":\"Deposited\",\"type\":\"event\"},{\"anonymous\":false,\"inputs\":[{\"indexed\":true,\"internalType\":\"bytes32\",\"name\":\"channelId\",\"type\":\"bytes32\"},{\"indexed\":true,\"internalType\":\"address\",\"name\":\"account\",\"type\":\"address\"},{\"indexed\":true,\"internalType\":\"address\",\"name\":\"token\",\"type\":\"address\"},{\"indexed\":false,\"internalType\":\"uint256\",\"name\":\"amount\",\"type\":\"uint256\"}],\"name\":\"PayoutCredited\",\"type\":\"event\"},{\"anonymous\":false,\"inputs\":[{\"indexed\":true,\"internalType\":\"address\",\"name\":\"account\",\"type\":\"address\"},{\"indexed\":true,\"internalType\":\"address\",\"name\":\"token\",\"type\":\"address\"},{\"indexed\":false,\"internalType\":\"uint256\",\"name\":\"amount\",\"type\":\"uint256\"}],\"name\":\"PayoutWithdrawn\",\"type\":\"event\"},{\"anonymous\":false,\"inputs\":[{\"indexed\":true,\"internalType\":\"bytes32\",\"name\":\"channelId\",\"type\":\"bytes32\"},{\"indexed\":false,\"internalType\":\"uint256\",\"name\":\"payoutA\",\"type\":\"uint256\"},{\"indexed\":false,\"internalType\":\"uint256\",\"name\":\"payoutB\",\"type\":\"uint256\"}],\"name\":\"Settled\",\"type\":\"event\"},{\"anonymous\":false,\"inputs\":[{\"indexed\":true,\"internalType\":\"bytes32\",\"name\":\"channelId\",\"type\":\"bytes32\"},{\"indexed\":true,\"internalType\":\"address\",\"name\":\"from\",\"type\":\"address\"},{\"indexed\":false,\"internalType\":\"uint64\",\"name\":\"nonce\",\"type\":\"uint64\"},{\"indexed\":false,\"internalType\":\"uint256\",\"name\":\"transferred\",\"type\":\"uint256\"}],\"name\":\"Updated\",\"type\":\"event\"},{\"anonymous\":false,\"inputs\":[{\"indexed\":true,\"internalType\":\"bytes32\",\"name\":\"channelId\",\"type\":\"bytes32\"},{\"indexed\":true,\"internalType\":\"address\",\"name\":\"participant\",\"type\":\"address\"},{\"indexed\":false,\"internalType\":\"uint256\",\"name\":\"totalWithdrawn\",\"type\":\"uint256\"},{\"indexed\":false,\"internalType\":\"uint256\",\"name\":\"amount\",\"type\":\"uint256\"}],\"name\":\"Withdrawn\",\"type\":\"event\"},{\"inputs\":[],\"name\":\"BALANCE_PROOF_TYPEHASH\",\"outputs\":[{\"internalType\":\"bytes32\",\"name\":\"\",\"type\":\"bytes32\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[],\"name\":\"COOPERATIVE_CLOSE_TYPEHASH\",\"outputs\":[{\"internalType\":\"bytes32\",\"name\":\"\",\"type\":\"bytes32\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[],\"name\":\"MAX_AMOUNT\",\"outputs\":[{\"internalType\":\"uint256\",\"name\":\"\",\"type\":\"uint256\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[],\"name\":\"MAX_CHALLENGE_PERIOD\",\"outputs\":[{\"internalType\":\"uint64\",\"name\":\"\",\"type\":\"uint64\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[],\"name\":\"PUSH_GAS_ETH\",\"outputs\":[{\"internalType\":\"uint256\",\"name\":\"\",\"type\":\"uint256\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[],\"name\":\"PUSH_GAS_TOKEN\",\"outputs\":[{\"internalType\":\"uint256\",\"name\":\"\",\"type\":\"uint256\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[],\"name\":\"WITHDRAW_TYPEHASH\",\"outputs\":[{\"internalType\":\"bytes32\",\"name\":\"\",\"type\":\"bytes32\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"bytes32\",\"name\":\"id\",\"type\":\"bytes32\"},{\"internalType\":\"uint64\",\"name\":\"nonce\",\"type\":\"uint64\"},{\"internalType\":\"uint256\",\"name\":\"transferred\",\"type\":\"uint256\"}],\"name\":\"balanceProofDigest\",\"outputs\":[{\"internalType\":\"bytes32\",\"name\":\"\",\"type\":\"bytes32\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"bytes32\",\"name\":\"id\",\"type\":\"bytes32\"}],\"name\":\"channel\",\"outputs\":[{\"components\":[{\"internalType\":\"enumAdjudicator.Phase\",\"name\":\"phase\",\"type\":\"uint8\"},{\"internalType\":\"uint256\",\"name\":\"depositA\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"depositB\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"withdrawnA\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"withdrawnB\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"transferredAtoB\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"transferredBtoA\",\"type\":\"uint256\"},{\"internalType\":\"uint64\",\"name\":\"settleAfter\",\"type\":\"uint64\"}],\"internalType\":\"structAdjudicator.ChannelState\",\"name\":\"s\",\"type\":\"tuple\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"components\":[{\"internalType\":\"address\",\"name\":\"a\",\"type\":\"address\"},{\"internalType\":\"address\",\"name\":\"b\",\"type\":\"address\"},{\"internalType\":\"address\",\"name\":\"token\",\"type\":\"address\"},{\"internalType\":\"uint64\",\"name\":\"challengePeriod\",\"type\":\"uint64\"},{\"internalType\":\"bytes32\",\"name\":\"salt\",\"type\":\"bytes32\"}],\"internalType\":\"structAdjudicator.ChannelParams\",\"name\":\"p\",\"type\":\"tuple\"}],\"name\":\"channelByParams\",\"outputs\":[{\"internalType\":\"bytes32\",\"name\":\"id\",\"type\":\"bytes32\"},{\"components\":[{\"internalType\":\"enumAdjudicator.Phase\",\"name\":\"phase\",\"type\":\"uint8\"},{\"internalType\":\"uint256\",\"name\":\"depositA\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"depositB\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"withdrawnA\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"withdrawnB\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"transferredAtoB\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"transferredBtoA\",\"type\":\"uint256\"},{\"internalType\":\"uint64\",\"name\":\"settleAfter\",\"type\":\"uint64\"}],\"internalType\":\"structAdjudicator.ChannelState\",\"name\":\"s\",\"type\":\"tuple\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"components\":[{\"internalType\":\"address\",\"name\":\"a\",\"type\":\"address\"},{\"internalType\":\"address\",\"name\":\"b\",\"type\":\"address\"},{\"internalType\":\"address\",\"name\":\"token\",\"type\":\"address\"},{\"internalType\":\"uint64\",\"name\":\"challengePeriod\",\"type\":\"uint64\"},{\"internalType\":\"bytes32\",\"name\":\"salt\",\"type\":\"bytes32\"}],\"internalType\":\"structAdjudicator.ChannelParams\",\"name\":\"p\",\"type\":\"tuple\"}],\"name\":\"channelId\",\"outputs\":[{\"internalType\":\"bytes32\",\"name\":\"\",\"type\":\"bytes32\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"components\":[{\"internalType\":\"address\",\"name\":\"a\",\"type\":\"address\"},{\"internalType\":\"address\",\"name\":\"b\",\"type\":\"address\"},{\"internalType\":\"address\",\"name\":\"token\",\"type\":\"address\"},{\"internalType\":\"uint64\",\"name\":\"challengePeriod\",\"type\":\"uint64\"},{\"internalType\":\"bytes32\",\"name\":\"salt\",\"type\":\"bytes32\"}],\"internalType\":\"structAdjudicator.ChannelParams\",\"name\":\"p\",\"type\":\"tuple\"},{\"components\":[{\"internalType\":\"uint64\",\"name\":\"nonce\",\"type\":\"uint64\"},{\"internalType\":\"uint256\",\"name\":\"transferred\",\"type\":\"uint256\"},{\"internalType\":\"bytes\",\"name\":\"signature\",\"type\":\"bytes\"}],\"internalType\":\"structAdjudicator.Proof\",\"name\":\"otherProof\",\"type\":\"tuple\"},{\"components\":[{\"internalType\":\"uint64\",\"name\":\"nonce\",\"type\":\"uint64\"},{\"internalType\":\"uint256\",\"name\":\"transferred\",\"type\":\"uint256\"},{\"internalType\":\"bytes\",\"name\":\"signature\",\"type\":\"bytes\"}],\"internalType\":\"structAdjudicator.Proof\",\"name\":\"ownProof\",\"type\":\"tuple\"}],\"name\":\"close\",\"outputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"function\"},{\"inputs\":[{\"components\":[{\"internalType\":\"address\",\"name\":\"a\",\"type\":\"address\"},{\"internalType\":\"address\",\"name\":\"b\",\"type\":\"address\"},{\"internalType\":\"address\",\"name\":\"token\",\"type\":\"address\"},{\"internalType\":\"uint64\",\"name\":\"challengePeriod\",\"type\":\"uint64\"},{\"internalType\":\"bytes32\",\"name\":\"salt\",\"type\":\"bytes32\"}],\"internalType\":\"structAdjudicator.ChannelParams\",\"name\":\"p\",\"type\":\"tuple\"},{\"internalType\":\"uint256\",\"name\":\"balanceA\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"balanceB\",\"type\":\"uint256\"},{\"internalType\":\"uint64\",\"name\":\"expiry\",\"type\":\"uint64\"},{\"internalType\":\"bytes\",\"name\":\"sigA\",\"type\":\"bytes\"},{\"internalType\":\"bytes\",\"name\":\"sigB\",\"type\":\"bytes\"}],\"name\":\"cooperativeClose\",\"outputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"bytes32\",\"name\":\"id\",\"type\":\"bytes32\"},{\"internalType\":\"uint256\",\"name\":\"balanceA\",\"type\":\"uint256\"},{\"internalType\":\"uint256\",\"name\":\"balanceB\",\"type\":\"uint256\"},{\"internalType\":\"uint64\",\"name\":\"expiry\",\"type\":\"uint64\"}],\"name\":\"cooperativeCloseDigest\",\"outputs\":[{\"internalType\":\"bytes32\",\"name\":\"\",\"type\":\"bytes32\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"components\":[{\"internalType\":\"address\",\"name\":\"a\",\"type\":\"address\"},{\"internalType\":\"address\",\"name\":\"b\",\"type\":\"address\"},{\"internalType\":\"address\",\"name\":\"token\",\"type\":\"address\"},{\"internalType\":\"uint64\",\"name\":\"challengePeriod\",\"type\":\"uint64\"},{\"internalType\":\"bytes32\",\"name\":\"salt\",\"type\":\"bytes32\"}],\"internalType\":\"structAdjudicator.ChannelParams\",\"name\":\"p\",\"type\":\"tuple\"},{\"internalType\":\"address\",\"name\":\"participant\",\"type\":\"address\"},{\"internalType\":\"uint256\",\"name\":\"newTotalDeposit\",\"type\":\"uint256\"}],\"name\":\"deposit\",\"outputs\":[],\"stateMutability\":\"payable\",\"type\":\"function\"},{\"inputs\":[],\"name\":\"domainSeparator\",\"outputs\":[{\"internalType\":\"bytes32\",\"name\":\"\",\"type\":\"bytes32\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"components\":[{\"internalType\":\"address\",\"name\":\"a\",\"type\":\"address\"},{\"internalType\":\"address\",\"name\":\"b\",\"type\":\"address\"},{\"internalType\":\"address\",\"name\":\"token\",\"type\":\"address\"},{\"internalType\":\"uint64\",\"name\":\"challengePeriod\",\"type\":\"uint64\"},{\"internalType\":\"bytes32\",\"name\":\"salt\",\"type\":\"bytes32\"}],\"internalType\":\"structAdjudicator.ChannelParams\",\"name\":\"p\",\"type\":\"tuple\"},{\"internalType\":\"uint256\",\"name\":\"totalDeposit\",\"type\":\"uint256\"}],\"name\":\"open\",\"outputs\":[{\"internalType\":\"bytes32\",\"name\":\"id\",\"type\":\"bytes32\"}],\"stateMutability\":\"payable\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"account\",\"type\":\"address\"},{\"internalType\":\"address\",\"name\":\"token\",\"type\":\"address\"}],\"name\":\"payouts\",\"outputs\":[{\"internalType\":\"uint256\",\"name\":\"\",\"type\":\"uint256\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"components\":[{\"internalType\":\"address\",\"name\":\"a\",\"type\":\"address\"},{\"internalType\":\"address\",\"name\":\"b\",\"type\":\"address\"},{\"internalType\":\"address\",\"name\":\"token\",\"type\":\"address\"},{\"internalType\":\"uint64\",\"name\":\"challengePeriod\",\"type\":\"uint64\"},{\"internalType\":\"bytes32\",\"name\":\"salt\",\"type\":\"bytes32\"}],\"internalType\":\"structAdjudicator.ChannelParams\",\"name\":\"p\",\"type\":\"tuple\"}],\"name\":\"settle\",\"outputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"function\"},{\"inputs\":[{\"components\":[{\"internalType\":\"address\",\"name\":\"a\",\"type\":\"address\"},{\"internalType\":\"address\",\"name\":\"b\",\"type\":\"address\"},{\"internalType\":\"address\",\"name\":\"token\",\"type\":\"address\"},{\"internalType\":\"uint64\",\"name\":\"challengePeriod\",\"type\":\"uint64\"},{\"internalType\":\"bytes32\",\"name\":\"salt\",\"type\":\"bytes32\"}],\"internalType\":\"structAdjudicator.ChannelParams\",\"name\":\"p\",\"type\":\"tuple\"},{\"components\":[{\"internalType\":\"uint64\",\"name\":\"nonce\",\"type\":\"uint64\"},{\"internalType\":\"uint256\",\"name\":\"transferred\",\"type\":\"uint256\"},{\"internalType\":\"bytes\",\"name\":\"signature\",\"type\":\"bytes\"}],\"internalType\":\"structAdjudicator.Proof[]\",\"name\":\"proofs\",\"type\":\"tuple[]\"}],\"name\":\"update\",\"outputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"function\"},{\"inputs\":[{\"components\":[{\"internalType\":\"address\",\"name\":\"a\",\"type\":\"address\"},{\"internalType\":\"address\",\"name\":\"b\",\"type\":\"address\"},{\"internalType\":\"address\",\"name\":\"token\",\"type\":\"address\"},{\"internalType\":\"uint64\",\"name\":\"challengePeriod\",\"type\":\"uint64\"},{\"internalType\":\"bytes32\",\"name\":\"salt\",\"type\":\"bytes32\"}],\"internalType\":\"structAdjudicator.ChannelParams\",\"name\":\"p\",\"type\":\"tuple\"},{\"internalType\":\"address\",\"name\":\"participant\",\"type\":\"address\"},{\"internalType\":\"uint256\",\"name\":\"newTotalWithdrawn\",\"type\":\"uint256\"},{\"internalType\":\"uint64\",\"name\":\"expiry\",\"type\":\"uint64\"},{\"internalType\":\"bytes\",\"name\":\"sigA\",\"type\":\"bytes\"},{\"internalType\":\"bytes\",\"name\":\"sigB\",\"type\":\"bytes\"}],\"name\":\"withdraw\",\"outputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"bytes32\",\"name\":\"id\",\"type\":\"bytes32\"},{\"internalType\":\"address\",\"name\":\"participant\",\"type\":\"address\"},{\"internalType\":\"uint256\",\"name\":\"totalWithdrawn\",\"type\":\"uint256\"},{\"internalType\":\"uint64\",\"name\":\"expiry\",\"type\":\"uint64\"}],\"name\":\"withdrawDigest\",\"outputs\":[{\"internalType\":\"bytes32\",\"name\":\"\",\"type\":\"bytes32\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"internalType\":\"address\",\"name\":\"token\",\"type\":\"address\"}],\"name\":\"withdrawPayout\",\"outputs\":[{\"internalType\":\"uint256\",\"name\":\"amount\",\"type\":\"uint256\"}],\"stateMutability\":\"nonpayable\",\"type\":\"function\"}]",
	ID:  "Adjudicator",
	Bin: "0x60e0346100ec57466080523060a052602081017f8b73c3c69bb8fe3d512ecc4cf759cc79239f7b179b0ffacaa9a75d522b39400f81527fa79d7353e4079385f28740fd8e6d186baa78ea31cc1c9631d8cec5541e0eec5060408301527fc89efdaa54c0f20c7adf612882df0950f5a951637e0307cdcb4c672f298b8bc660608301524660808301523060a083015260a0825260c082019180831060018060401b038411176100d8578260405251902060c05261294290816100f1823960805181611f9b015260a0518161209a015260c051816120600152f35b634e487b7160e01b5f52604160045260245ffd5b5f80fdfe60806040526004361015610011575f80fd5b5f3560e01c806301e69253146118fe57806304a7950c146118c457806310115d6a1461184a57806321359d24146117c857806327047b511461157c5780633778c63a1461150e57806360ccd2aa1461133d57806362c709a41461101557806376c5d75814610fdb57806380c1e70614610fbd5780639d31278a14610dad5780639d8aaeae14610d0b578063b3e59c12146108c2578063b7d9c80e14610896578063c4be255414610879578063d40dc87014610850578063d8394cd914610816578063ea106fbe146107d3578063ed4c04f214610576578063f694fef114610173578063f698da2514610159578063f9d92b771461013d5763fa92ee9e14610116575f80fd5b346101395760a06003193601126101395760206101316120c1565b604051908152f35b5f80fd5b34610139575f6003193601126101395760206040516175308152f35b34610139575f600319360112610139576020610131611f99565b3461013957600319360161014081126101395760a01361013957610195611c90565b60c435906101a1611c33565b906101043567ffffffffffffffff8111610139576101c3903690600401611cb3565b6101243567ffffffffffffffff8111610139576101e4903690600401611cb3565b92909160ff5f5c1661054e57600160ff195f5c16175f5d6102036120c1565b93845f525f60205260405f209361021e60ff865416876121c5565b61022787612497565b9367ffffffffffffffff891680421161051f57508415610500576effffffffffffffffffffffffffffff806001880154165b16808b11156104d05761026c908b611ea3565b98610276876126d0565b808b116104a05750604080517fdc2fa3810b448991024373d73d25a1e9f833959ea234a87dda6a87059ac2c917602082019081529181018a905273ffffffffffffffffffffffffffffffffffffffff8b166060820152608081018d905267ffffffffffffffff90921660a0830152610350959493926103429290916103329161032a8160c081015b037fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe08101835282611d7b565b5190206121da565b9461033b611e3a565b918661271a565b61034a611e5d565b9261271a565b6effffffffffffffffffffffffffffff86116104615761040595916001911561040f57016effffffffffffffffffffffffffffff82167fffffffffffffffffffffffffffffffffff0000000000000000000000000000008254161790555b604051908152836020820152817fad382ae4a0a8c252d70b902c9cc346f3e881ad505df3f728122a01006bb88f09604073ffffffffffffffffffffffffffffffffffffffff861693a36103ff611e80565b90612380565b60ff195f5c165f5d005b0180547fffff000000000000000000000000000000ffffffffffffffffffffffffffffff16607883901b7dffffffffffffffffffffffffffffff000000000000000000000000000000161790556103ae565b857f7f162703000000000000000000000000000000000000000000000000000000005f526004526effffffffffffffffffffffffffffff60245260445ffd5b8a907f03eb8b54000000000000000000000000000000000000000000000000000000005f5260045260245260445ffd5b8a907f97268771000000000000000000000000000000000000000000000000000000005f5260045260245260445ffd5b6effffffffffffffffffffffffffffff80600188015460781c16610259565b7f91cc37bc000000000000000000000000000000000000000000000000000000005f526004524260245260445ffd5b7fab143c06000000000000000000000000000000000000000000000000000000005f5260045ffd5b3461013957600319360160e081126101395760a0136101395760a43567ffffffffffffffff811161013957606060031982360301126101395760c4359067ffffffffffffffff821161013957606060031983360301126101395760ff5f5c1661054e57600160ff195f5c16175f5d6105ec6120c1565b90815f525f60205260405f209061060760ff835416846121c5565b73ffffffffffffffffffffffffffffffffffffffff610624611e3a565b163314908115806107ac575b6107805761065561066191835f146107725761064a611e5d565b905b60040186612779565b94339060040185612779565b901561076d57925b67ffffffffffffffff61067a611d4f565b1667ffffffffffffffff4216019167ffffffffffffffff8311610740578190600260ff1982541617815567ffffffffffffffff60028201941693847fffffffffffffffffffffffffffffffffffffffffffffffff000000000000000082541617905585610735575b8161072a575b5050604051938452602084015260408301527f792b34bb59077f3ddfce800232b7ad68a9f041dbaec40145b839009c2432b9bc60603393a360ff195f5c165f5d005b6004015580856106e8565b8560038201556106e2565b7f4e487b71000000000000000000000000000000000000000000000000000000005f52601160045260245ffd5b610669565b61077a611e3a565b9061064c565b7f7e65d0e5000000000000000000000000000000000000000000000000000000005f523360045260245ffd5b5073ffffffffffffffffffffffffffffffffffffffff6107ca611e5d565b16331415610630565b346101395760a0600319360112610139576107ec611eb0565b506101206107f86120c1565b61081461080482611efe565b6040519283526020830190611cef565bf35b34610139575f6003193601126101395760206040517f7d1d94275ba2165b80a23150ec8ee8ded483d2b03327fd8f7e59f337d90db14e8152f35b34610139575f6003193601126101395760206040516effffffffffffffffffffffffffffff8152f35b34610139575f600319360112610139576020604051620249f08152f35b34610139576020600319360112610139576101006108b5600435611efe565b6108146040518092611cef565b600319360160c081126101395760a0136101395760a43560ff5f5c1661054e57600160ff195f5c16175f5d73ffffffffffffffffffffffffffffffffffffffff61090a611e3a565b16158015610ce6575b8015610cb6575b610c5f5767ffffffffffffffff61092f611d4f565b16158015610c41575b610c045773ffffffffffffffffffffffffffffffffffffffff610959611e3a565b16331490811580610bdd575b610780578015610bb5576effffffffffffffffffffffffffffff8111610b775761098d6120c1565b91825f525f60205260405f209060ff8254166004811015610b4a57610b1e5791610abc9160209493600160ff198354161782555f14610acc5780547fffffffffffffffffffffffffffffffff000000000000000000000000000000ff16600883901b6fffffffffffffffffffffffffffffff00161790555b610a0d611e3a565b610a15611e5d565b847f0ea9be32a01e9cc034595c84d6a8541e0e3be905533a3c09a5d2781be1ce1fb3606073ffffffffffffffffffffffffffffffffffffffff80610a57611e80565b9567ffffffffffffffff610a69611d4f565b8360405199168952168c880152608435604088015216951693a4604051818152837f87d4c0b5e30d6808bc8a94ba1c4d839b29d664151551a31753387ee9ef48429b863393a3610ab7611e80565b61253c565b60ff195f5c165f5d604051908152f35b80547fff000000000000000000000000000000ffffffffffffffffffffffffffffffff16608083901b7effffffffffffffffffffffffffffff0000000000000000000000000000000016179055610a05565b837fa940c060000000000000000000000000000000000000000000000000000000005f5260045260245ffd5b7f4e487b71000000000000000000000000000000000000000000000000000000005f52602160045260245ffd5b7f7f162703000000000000000000000000000000000000000000000000000000005f526004526effffffffffffffffffffffffffffff60245260445ffd5b7f1f2a2005000000000000000000000000000000000000000000000000000000005f5260045ffd5b5073ffffffffffffffffffffffffffffffffffffffff610bfb611e5d565b16331415610965565b67ffffffffffffffff610c15611d4f565b7f5e95fd75000000000000000000000000000000000000000000000000000000005f521660045260245ffd5b506301e1338067ffffffffffffffff610c58611d4f565b1611610938565b73ffffffffffffffffffffffffffffffffffffffff610c7c611e3a565b81610c85611e5d565b917fee16d805000000000000000000000000000000000000000000000000000000005f52166004521660245260445ffd5b50610cbf611e3a565b73ffffffffffffffffffffffffffffffffffffffff80610cdd611e5d565b1691161461091a565b5073ffffffffffffffffffffffffffffffffffffffff610d04611e5d565b1615610913565b34610139576080600319360112610139576020610131610d29611c6d565b6102fe61032a610d37611c1c565b604051928391878301956044359060043588929367ffffffffffffffff91959473ffffffffffffffffffffffffffffffffffffffff60809460a08701987fdc2fa3810b448991024373d73d25a1e9f833959ea234a87dda6a87059ac2c91788526020880152166040860152606085015216910152565b3461013957602060031936011261013957610dc6611c4a565b60ff5f5c1661054e57600160ff195f5c16175f5d335f52600160205260405f2073ffffffffffffffffffffffffffffffffffffffff82165f5260205260405f20548015610f7757335f52600160205260405f2073ffffffffffffffffffffffffffffffffffffffff83165f526020525f604081205573ffffffffffffffffffffffffffffffffffffffff821691826040518381527f219e32d66c2f953f02b07838ef5662afcaa9e2bb7394e7cfec915014353226e260203392a382610ed7575090505f80808084335af115610ea85760209060ff195f5c165f5d604051908152f35b7fdea95fba000000000000000000000000000000000000000000000000000000005f523360045260245260445ffd5b60205f60445a8285604051927fa9059cbb000000000000000000000000000000000000000000000000000000008452336004850152886024850152f19081610f55575b5015610f295760209150610abc565b507f2b596cb7000000000000000000000000000000000000000000000000000000005f5260045260245ffd5b90503d15610f6f575060015f5114601f3d11165b83610f1a565b3b1515610f69565b73ffffffffffffffffffffffffffffffffffffffff827f1f8185eb000000000000000000000000000000000000000000000000000000005f52336004521660245260445ffd5b34610139575f6003193601126101395760206040516301e133808152f35b34610139575f6003193601126101395760206040517fdc2fa3810b448991024373d73d25a1e9f833959ea234a87dda6a87059ac2c9178152f35b3461013957600319360161014081126101395760a0136101395760a43560c43561103d611c33565b6101043567ffffffffffffffff81116101395761105e903690600401611cb3565b936101243567ffffffffffffffff811161013957611080903690600401611cb3565b93909560ff5f5c1661054e57600160ff195f5c16175f5d61109f6120c1565b94855f525f60205260405f209760ff8954169560048710159485610b4a5760018814158061132f575b6112fa5767ffffffffffffffff811680421161051f57506110e88b6126d0565b80881180156112e7575b6112b35750604080517f7d1d94275ba2165b80a23150ec8ee8ded483d2b03327fd8f7e59f337d90db14e602082019081529181018b905260608101899052608081018c905267ffffffffffffffff90921660a0830152611166959493926103429290916103329161032a8160c081016102fe565b610b4a5784547fff00000000000000000000000000000000000000000000000000000000000000166003178555600185018054610405966112179490926002926effffffffffffffffffffffffffffff81161580159190611295575b50611269575b501461122d575b50827f93cccaa9db0f9288a0a614c7e0bb63833000a5391ba80341cd8393afef5eb0dc60408051848152876020820152a2611208611e80565b611210611e3a565b9084612380565b61121f611e80565b611227611e5d565b91612380565b60048160025f93017fffffffffffffffffffffffffffffffffffffffffffffffff000000000000000081541690558260038201550155856111cf565b80547fffff000000000000000000000000000000000000000000000000000000000000169055886111c8565b6effffffffffffffffffffffffffffff915060781c1615158a6111c2565b878b917f565528fb000000000000000000000000000000000000000000000000000000005f5260045260245260445260645ffd5b508a6112f38983611ea3565b14156110f2565b61132a888a7fa1365a0a000000000000000000000000000000000000000000000000000000005f52600452611ce1565b60445ffd5b505f955060028814156110c8565b600319360160e081126101395760a01361013957611359611c90565b60c4359060ff5f5c1661054e57600160ff195f5c16175f5d6113796120c1565b90815f525f60205260405f209182549261139660ff8516836121c5565b6effffffffffffffffffffffffffffff806113b085612497565b9586156115055760081c165b1693848611156114d5576effffffffffffffffffffffffffffff8611610461579161147d93916104059695935f146114835780547fffffffffffffffffffffffffffffffff000000000000000000000000000000ff16600887901b6fffffffffffffffffffffffffffffff00161790555b7f87d4c0b5e30d6808bc8a94ba1c4d839b29d664151551a31753387ee9ef48429b602073ffffffffffffffffffffffffffffffffffffffff604051948886521693a3611477611e80565b92611ea3565b9061253c565b80547fff000000000000000000000000000000ffffffffffffffffffffffffffffffff16608087901b7effffffffffffffffffffffffffffff000000000000000000000000000000001617905561142d565b85857f97268771000000000000000000000000000000000000000000000000000000005f5260045260245260445ffd5b60801c166113bc565b3461013957604060031936011261013957611527611c4a565b73ffffffffffffffffffffffffffffffffffffffff611544611c6d565b91165f52600160205273ffffffffffffffffffffffffffffffffffffffff60405f2091165f52602052602060405f2054604051908152f35b346101395760a06003193601126101395760ff5f5c1661054e57600160ff195f5c16175f5d6115a96120c1565b805f525f60205260405f208054916115c460ff841682612180565b6002820167ffffffffffffffff81541693844211156117985761040594506115eb846126d0565b91600385019081549260048701938454808210155f146117475792600161164c611645895f98959689976effffffffffffffffffffffffffffff8f6112179e9d9b828961163b9301541693611ea3565b9260081c1661286c565b8098611ea3565b995b80547fff000000000000000000000000000000000000000000000000000000000000001660031781550180546effffffffffffffffffffffffffffff81161580159190611729575b506116fd575b507fffffffffffffffffffffffffffffffffffffffffffffffff000000000000000081541690555555827f2a20f8d2d0f487a3016d77037b3c5768216a3dc76401d33abf5dc381af7171cb60408051848152876020820152a2611208611e80565b80547fffff0000000000000000000000000000000000000000000000000000000000001690558a61169c565b6effffffffffffffffffffffffffffff915060781c1615158c611696565b92600161179261178b895f9895968d9a986effffffffffffffffffffffffffffff6112179d9f8c9a828961178193015460781c1693611ea3565b9260801c1661286c565b809b611ea3565b9661164e565b847f7943b72f000000000000000000000000000000000000000000000000000000005f526004524260245260445ffd5b346101395760806003193601126101395760206101316117e6611c1c565b604080517f7d1d94275ba2165b80a23150ec8ee8ded483d2b03327fd8f7e59f337d90db14e858201908152600435602082015260243592810192909252604435606083015267ffffffffffffffff90921660808201529061032a8160a084016102fe565b346101395760606003193601126101395760243567ffffffffffffffff811680910361013957610131602091604051838101917fb1613380691d4e14a5f36be963292f12cdec744e45c197e62f6bf5c3ce9a2bf183526004356040830152606082015260443560808201526080815261032a60a082611d7b565b34610139575f6003193601126101395760206040517fb1613380691d4e14a5f36be963292f12cdec744e45c197e62f6bf5c3ce9a2bf18152f35b3461013957600319360160c081126101395760a0136101395760a43567ffffffffffffffff811161013957366023820112156101395780600401359067ffffffffffffffff8211610139573660248360051b830101116101395760ff5f5c1661054e57600160ff195f5c16175f5d6119746120c1565b91825f525f60205260405f209061198f60ff83541685612180565b67ffffffffffffffff600283015416804211611bed57508015611bc557915f907fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7d81360301915b848110156104055760248160051b83010135838112156101395782016024810190611a76611a0383611d66565b91611a706064611a688c60448501359667ffffffffffffffff6040519160208301937fb1613380691d4e14a5f36be963292f12cdec744e45c197e62f6bf5c3ce9a2bf1855260408401521660608201528760808201526080815261032a60a082611d7b565b920185611de9565b9161221b565b9173ffffffffffffffffffffffffffffffffffffffff80611a95611e3a565b1693169283145f14611b315760038701805480841115611b015750604083611ae58c9460019897967fe0a381da36765e1539af53d415ef30b0eb09629222fbcf65e8c46e80c1c876c19555611d66565b9067ffffffffffffffff8351921682526020820152a3016119d6565b83907f97268771000000000000000000000000000000000000000000000000000000005f5260045260245260445ffd5b73ffffffffffffffffffffffffffffffffffffffff611b4e611e5d565b168303611b995760048701805480841115611b015750604083611ae58c9460019897967fe0a381da36765e1539af53d415ef30b0eb09629222fbcf65e8c46e80c1c876c19555611d66565b827f377342db000000000000000000000000000000000000000000000000000000005f5260045260245ffd5b7f1d72675b000000000000000000000000000000000000000000000000000000005f5260045ffd5b7ff3dd13c6000000000000000000000000000000000000000000000000000000005f526004524260245260445ffd5b6064359067ffffffffffffffff8216820361013957565b60e4359067ffffffffffffffff8216820361013957565b6004359073ffffffffffffffffffffffffffffffffffffffff8216820361013957565b6024359073ffffffffffffffffffffffffffffffffffffffff8216820361013957565b60a4359073ffffffffffffffffffffffffffffffffffffffff8216820361013957565b9181601f840112156101395782359167ffffffffffffffff8311610139576020838186019501011161013957565b6004811015610b4a57602452565b8051906004821015610b4a5760e067ffffffffffffffff91819385526020810151602086015260408101516040860152606081015160608601526080810151608086015260a081015160a086015260c081015160c0860152015116910152565b60643567ffffffffffffffff811681036101395790565b3567ffffffffffffffff811681036101395790565b90601f7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe0910116810190811067ffffffffffffffff821117611dbc57604052565b7f4e487b71000000000000000000000000000000000000000000000000000000005f52604160045260245ffd5b9035907fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe181360301821215610139570180359067ffffffffffffffff82116101395760200191813603831361013957565b60043573ffffffffffffffffffffffffffffffffffffffff811681036101395790565b60243573ffffffffffffffffffffffffffffffffffffffff811681036101395790565b60443573ffffffffffffffffffffffffffffffffffffffff811681036101395790565b9190820391821161074057565b60405190610100820182811067ffffffffffffffff821117611dbc576040525f60e0838281528260208201528260408201528260608201528260808201528260a08201528260c08201520152565b90611f07611eb0565b915f525f60205260405f20805460ff8116916004831015610b4a576effffffffffffffffffffffffffffff60029267ffffffffffffffff948752818160081c16602088015260801c1660408601526effffffffffffffffffffffffffffff6001820154818116606088015260781c166080860152600381015460a0860152600481015460c086015201541660e0830152565b7f0000000000000000000000000000000000000000000000000000000000000000461480612082575b61205e5760405160208101907f8b73c3c69bb8fe3d512ecc4cf759cc79239f7b179b0ffacaa9a75d522b39400f82527fa79d7353e4079385f28740fd8e6d186baa78ea31cc1c9631d8cec5541e0eec5060408201527fc89efdaa54c0f20c7adf612882df0950f5a951637e0307cdcb4c672f298b8bc660608201524660808201523060a082015260a0815261205860c082611d7b565b51902090565b7f000000000000000000000000000000000000000000000000000000000000000090565b5073ffffffffffffffffffffffffffffffffffffffff7f0000000000000000000000000000000000000000000000000000000000000000163014611fc2565b60043573ffffffffffffffffffffffffffffffffffffffff811690818103610139575060243573ffffffffffffffffffffffffffffffffffffffff811690818103610139575060443573ffffffffffffffffffffffffffffffffffffffff81169081810361013957506064359067ffffffffffffffff82169182810361013957506040519260208401944686523060408601526060850152608084015260a083015260c082015260843560e082015260e0815261205861010082611d7b565b6004821015610b4a5760028203612195575050565b61132a92507fa1365a0a000000000000000000000000000000000000000000000000000000005f52600452611ce1565b6004821015610b4a5760018203612195575050565b6042906121e5611f99565b90604051917f19010000000000000000000000000000000000000000000000000000000000008352600283015260228201522090565b9160418103612348575060208101359060408101355f1a601b8114158061233d575b612312577f7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a083116122e657925f9260809260209560405193845286840152356040830152606082015282805260015afa156122db575f519073ffffffffffffffffffffffffffffffffffffffff8216156122b357565b7f8baa579f000000000000000000000000000000000000000000000000000000005f5260045ffd5b6040513d5f823e3d90fd5b827f5682f3bf000000000000000000000000000000000000000000000000000000005f5260045260245ffd5b7fba76ff02000000000000000000000000000000000000000000000000000000005f5260045260245ffd5b50601c81141561223d565b7f2c33b568000000000000000000000000000000000000000000000000000000005f5260045260245ffd5b9190820180921161074057565b90929182156123b85773ffffffffffffffffffffffffffffffffffffffff8416938461242a57505f8080808685617530f15b156123be575b50505050565b602073ffffffffffffffffffffffffffffffffffffffff7f07e89c2219945dc82b2475923fb953cdfda0e0d8002d16491b23970b26b82e95921693845f526001825260405f20865f52825260405f20612418828254612373565b9055604051908152a45f8080806123b8565b60205f60446040517fa9059cbb0000000000000000000000000000000000000000000000000000000081528560048201528760248201528285620249f0f19081612475575b506123b2565b90503d1561248f575060015f5114601f3d11165b5f61246f565b3b1515612489565b9060043573ffffffffffffffffffffffffffffffffffffffff8116928382036101395773ffffffffffffffffffffffffffffffffffffffff91501691821491821580612510575b6124e55750565b7f7e65d0e5000000000000000000000000000000000000000000000000000000005f5260045260245ffd5b5060243573ffffffffffffffffffffffffffffffffffffffff81169081810361013957508114156124de565b9073ffffffffffffffffffffffffffffffffffffffff8216918215612694573461266457612569816128b1565b9060205f60646040517f23b872dd00000000000000000000000000000000000000000000000000000000815233600482015230602482015286604482015282855af180612645575b15612619576125bf906128b1565b9080821115612610576125d191611ea3565b915b8183036125df57505050565b7f9352fa79000000000000000000000000000000000000000000000000000000005f5260045260245260445260645ffd5b50505f916125d3565b837f2b596cb7000000000000000000000000000000000000000000000000000000005f5260045260245ffd5b503d1561265b5760015f5114601f3d11166125b1565b803b15156125b1565b7fdfd87a73000000000000000000000000000000000000000000000000000000005f525f6004523460245260445ffd5b5080915034036126a15750565b7fdfd87a73000000000000000000000000000000000000000000000000000000005f526004523460245260445ffd5b612717906effffffffffffffffffffffffffffff61270c60016126ff845484808260801c169160081c16612373565b9301549282841690611ea3565b9160781c1690611ea3565b90565b73ffffffffffffffffffffffffffffffffffffffff92839261273b9261221b565b921691169080820361274b575050565b7f366d29f7000000000000000000000000000000000000000000000000000000005f5260045260245260445ffd5b9091604083016127898185611de9565b90501561280d579261280761271793946128016127a584611d66565b9660208501359767ffffffffffffffff6040519160208301937fb1613380691d4e14a5f36be963292f12cdec744e45c197e62f6bf5c3ce9a2bf1855260408401521660608201528860808201526080815261032a60a082611d7b565b92611de9565b9161271a565b50505067ffffffffffffffff61282282611d66565b16159081159161285e575b50612836575f90565b7f90e25081000000000000000000000000000000000000000000000000000000005f5260045ffd5b60209150013515155f61282d565b90808211156128a95761287e91611ea3565b90818110156128a25761289091611ea3565b908082101561289d575090565b905090565b5050505f90565b505050505f90565b907f70a08231000000000000000000000000000000000000000000000000000000005f523060045260205f602481855afa601f3d1116915f5192156128f35750565b73ffffffffffffffffffffffffffffffffffffffff907ff0ae59ab000000000000000000000000000000000000000000000000000000005f521660045260245ffdfea164736f6c6343000825000a",
}

// Adjudicator is an auto generated Go binding around an Ethereum contract.
type Adjudicator struct {
	abi abi.ABI
}

// GetABI returns the ABI associated with this contract binding.
func (c *Adjudicator) GetABI() abi.ABI {
	return c.abi
}

// NewAdjudicator creates a new instance of Adjudicator.
func NewAdjudicator() *Adjudicator {
	parsed, err := AdjudicatorMetaData.ParseABI()
	if err != nil {
		panic(errors.New("invalid ABI: " + err.Error()))
	}
	return &Adjudicator{abi: *parsed}
}

// Instance creates a wrapper for a deployed contract instance at the given address.
// Use this to create the instance object passed to abigen v2 library functions Call, Transact, etc.
func (c *Adjudicator) Instance(backend bind.ContractBackend, addr common.Address) *bind.BoundContract {
	return bind.NewBoundContract(addr, c.abi, backend, backend, backend)
}

// PackBALANCEPROOFTYPEHASH is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x04a7950c.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function BALANCE_PROOF_TYPEHASH() view returns(bytes32)
func (adjudicator *Adjudicator) PackBALANCEPROOFTYPEHASH() []byte {
	enc, err := adjudicator.abi.Pack("BALANCE_PROOF_TYPEHASH")
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackBALANCEPROOFTYPEHASH is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x04a7950c.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function BALANCE_PROOF_TYPEHASH() view returns(bytes32)
func (adjudicator *Adjudicator) TryPackBALANCEPROOFTYPEHASH() ([]byte, error) {
	return adjudicator.abi.Pack("BALANCE_PROOF_TYPEHASH")
}

// UnpackBALANCEPROOFTYPEHASH is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x04a7950c.
//
// Solidity: function BALANCE_PROOF_TYPEHASH() view returns(bytes32)
func (adjudicator *Adjudicator) UnpackBALANCEPROOFTYPEHASH(data []byte) ([32]byte, error) {
	out, err := adjudicator.abi.Unpack("BALANCE_PROOF_TYPEHASH", data)
	if err != nil {
		return *new([32]byte), err
	}
	out0 := *abi.ConvertType(out[0], new([32]byte)).(*[32]byte)
	return out0, nil
}

// PackCOOPERATIVECLOSETYPEHASH is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xd8394cd9.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function COOPERATIVE_CLOSE_TYPEHASH() view returns(bytes32)
func (adjudicator *Adjudicator) PackCOOPERATIVECLOSETYPEHASH() []byte {
	enc, err := adjudicator.abi.Pack("COOPERATIVE_CLOSE_TYPEHASH")
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackCOOPERATIVECLOSETYPEHASH is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xd8394cd9.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function COOPERATIVE_CLOSE_TYPEHASH() view returns(bytes32)
func (adjudicator *Adjudicator) TryPackCOOPERATIVECLOSETYPEHASH() ([]byte, error) {
	return adjudicator.abi.Pack("COOPERATIVE_CLOSE_TYPEHASH")
}

// UnpackCOOPERATIVECLOSETYPEHASH is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0xd8394cd9.
//
// Solidity: function COOPERATIVE_CLOSE_TYPEHASH() view returns(bytes32)
func (adjudicator *Adjudicator) UnpackCOOPERATIVECLOSETYPEHASH(data []byte) ([32]byte, error) {
	out, err := adjudicator.abi.Unpack("COOPERATIVE_CLOSE_TYPEHASH", data)
	if err != nil {
		return *new([32]byte), err
	}
	out0 := *abi.ConvertType(out[0], new([32]byte)).(*[32]byte)
	return out0, nil
}

// PackMAXAMOUNT is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xd40dc870.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function MAX_AMOUNT() view returns(uint256)
func (adjudicator *Adjudicator) PackMAXAMOUNT() []byte {
	enc, err := adjudicator.abi.Pack("MAX_AMOUNT")
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackMAXAMOUNT is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xd40dc870.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function MAX_AMOUNT() view returns(uint256)
func (adjudicator *Adjudicator) TryPackMAXAMOUNT() ([]byte, error) {
	return adjudicator.abi.Pack("MAX_AMOUNT")
}

// UnpackMAXAMOUNT is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0xd40dc870.
//
// Solidity: function MAX_AMOUNT() view returns(uint256)
func (adjudicator *Adjudicator) UnpackMAXAMOUNT(data []byte) (*big.Int, error) {
	out, err := adjudicator.abi.Unpack("MAX_AMOUNT", data)
	if err != nil {
		return new(big.Int), err
	}
	out0 := abi.ConvertType(out[0], new(big.Int)).(*big.Int)
	return out0, nil
}

// PackMAXCHALLENGEPERIOD is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x80c1e706.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function MAX_CHALLENGE_PERIOD() view returns(uint64)
func (adjudicator *Adjudicator) PackMAXCHALLENGEPERIOD() []byte {
	enc, err := adjudicator.abi.Pack("MAX_CHALLENGE_PERIOD")
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackMAXCHALLENGEPERIOD is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x80c1e706.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function MAX_CHALLENGE_PERIOD() view returns(uint64)
func (adjudicator *Adjudicator) TryPackMAXCHALLENGEPERIOD() ([]byte, error) {
	return adjudicator.abi.Pack("MAX_CHALLENGE_PERIOD")
}

// UnpackMAXCHALLENGEPERIOD is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x80c1e706.
//
// Solidity: function MAX_CHALLENGE_PERIOD() view returns(uint64)
func (adjudicator *Adjudicator) UnpackMAXCHALLENGEPERIOD(data []byte) (uint64, error) {
	out, err := adjudicator.abi.Unpack("MAX_CHALLENGE_PERIOD", data)
	if err != nil {
		return *new(uint64), err
	}
	out0 := *abi.ConvertType(out[0], new(uint64)).(*uint64)
	return out0, nil
}

// PackPUSHGASETH is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xf9d92b77.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function PUSH_GAS_ETH() view returns(uint256)
func (adjudicator *Adjudicator) PackPUSHGASETH() []byte {
	enc, err := adjudicator.abi.Pack("PUSH_GAS_ETH")
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackPUSHGASETH is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xf9d92b77.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function PUSH_GAS_ETH() view returns(uint256)
func (adjudicator *Adjudicator) TryPackPUSHGASETH() ([]byte, error) {
	return adjudicator.abi.Pack("PUSH_GAS_ETH")
}

// UnpackPUSHGASETH is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0xf9d92b77.
//
// Solidity: function PUSH_GAS_ETH() view returns(uint256)
func (adjudicator *Adjudicator) UnpackPUSHGASETH(data []byte) (*big.Int, error) {
	out, err := adjudicator.abi.Unpack("PUSH_GAS_ETH", data)
	if err != nil {
		return new(big.Int), err
	}
	out0 := abi.ConvertType(out[0], new(big.Int)).(*big.Int)
	return out0, nil
}

// PackPUSHGASTOKEN is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xc4be2554.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function PUSH_GAS_TOKEN() view returns(uint256)
func (adjudicator *Adjudicator) PackPUSHGASTOKEN() []byte {
	enc, err := adjudicator.abi.Pack("PUSH_GAS_TOKEN")
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackPUSHGASTOKEN is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xc4be2554.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function PUSH_GAS_TOKEN() view returns(uint256)
func (adjudicator *Adjudicator) TryPackPUSHGASTOKEN() ([]byte, error) {
	return adjudicator.abi.Pack("PUSH_GAS_TOKEN")
}

// UnpackPUSHGASTOKEN is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0xc4be2554.
//
// Solidity: function PUSH_GAS_TOKEN() view returns(uint256)
func (adjudicator *Adjudicator) UnpackPUSHGASTOKEN(data []byte) (*big.Int, error) {
	out, err := adjudicator.abi.Unpack("PUSH_GAS_TOKEN", data)
	if err != nil {
		return new(big.Int), err
	}
	out0 := abi.ConvertType(out[0], new(big.Int)).(*big.Int)
	return out0, nil
}

// PackWITHDRAWTYPEHASH is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x76c5d758.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function WITHDRAW_TYPEHASH() view returns(bytes32)
func (adjudicator *Adjudicator) PackWITHDRAWTYPEHASH() []byte {
	enc, err := adjudicator.abi.Pack("WITHDRAW_TYPEHASH")
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackWITHDRAWTYPEHASH is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x76c5d758.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function WITHDRAW_TYPEHASH() view returns(bytes32)
func (adjudicator *Adjudicator) TryPackWITHDRAWTYPEHASH() ([]byte, error) {
	return adjudicator.abi.Pack("WITHDRAW_TYPEHASH")
}

// UnpackWITHDRAWTYPEHASH is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x76c5d758.
//
// Solidity: function WITHDRAW_TYPEHASH() view returns(bytes32)
func (adjudicator *Adjudicator) UnpackWITHDRAWTYPEHASH(data []byte) ([32]byte, error) {
	out, err := adjudicator.abi.Unpack("WITHDRAW_TYPEHASH", data)
	if err != nil {
		return *new([32]byte), err
	}
	out0 := *abi.ConvertType(out[0], new([32]byte)).(*[32]byte)
	return out0, nil
}

// PackBalanceProofDigest is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x10115d6a.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function balanceProofDigest(bytes32 id, uint64 nonce, uint256 transferred) view returns(bytes32)
func (adjudicator *Adjudicator) PackBalanceProofDigest(id [32]byte, nonce uint64, transferred *big.Int) []byte {
	enc, err := adjudicator.abi.Pack("balanceProofDigest", id, nonce, transferred)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackBalanceProofDigest is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x10115d6a.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function balanceProofDigest(bytes32 id, uint64 nonce, uint256 transferred) view returns(bytes32)
func (adjudicator *Adjudicator) TryPackBalanceProofDigest(id [32]byte, nonce uint64, transferred *big.Int) ([]byte, error) {
	return adjudicator.abi.Pack("balanceProofDigest", id, nonce, transferred)
}

// UnpackBalanceProofDigest is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x10115d6a.
//
// Solidity: function balanceProofDigest(bytes32 id, uint64 nonce, uint256 transferred) view returns(bytes32)
func (adjudicator *Adjudicator) UnpackBalanceProofDigest(data []byte) ([32]byte, error) {
	out, err := adjudicator.abi.Unpack("balanceProofDigest", data)
	if err != nil {
		return *new([32]byte), err
	}
	out0 := *abi.ConvertType(out[0], new([32]byte)).(*[32]byte)
	return out0, nil
}

// PackChannel is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xb7d9c80e.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function channel(bytes32 id) view returns((uint8,uint256,uint256,uint256,uint256,uint256,uint256,uint64) s)
func (adjudicator *Adjudicator) PackChannel(id [32]byte) []byte {
	enc, err := adjudicator.abi.Pack("channel", id)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackChannel is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xb7d9c80e.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function channel(bytes32 id) view returns((uint8,uint256,uint256,uint256,uint256,uint256,uint256,uint64) s)
func (adjudicator *Adjudicator) TryPackChannel(id [32]byte) ([]byte, error) {
	return adjudicator.abi.Pack("channel", id)
}

// UnpackChannel is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0xb7d9c80e.
//
// Solidity: function channel(bytes32 id) view returns((uint8,uint256,uint256,uint256,uint256,uint256,uint256,uint64) s)
func (adjudicator *Adjudicator) UnpackChannel(data []byte) (AdjudicatorChannelState, error) {
	out, err := adjudicator.abi.Unpack("channel", data)
	if err != nil {
		return *new(AdjudicatorChannelState), err
	}
	out0 := *abi.ConvertType(out[0], new(AdjudicatorChannelState)).(*AdjudicatorChannelState)
	return out0, nil
}

// PackChannelByParams is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xea106fbe.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function channelByParams((address,address,address,uint64,bytes32) p) view returns(bytes32 id, (uint8,uint256,uint256,uint256,uint256,uint256,uint256,uint64) s)
func (adjudicator *Adjudicator) PackChannelByParams(p AdjudicatorChannelParams) []byte {
	enc, err := adjudicator.abi.Pack("channelByParams", p)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackChannelByParams is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xea106fbe.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function channelByParams((address,address,address,uint64,bytes32) p) view returns(bytes32 id, (uint8,uint256,uint256,uint256,uint256,uint256,uint256,uint64) s)
func (adjudicator *Adjudicator) TryPackChannelByParams(p AdjudicatorChannelParams) ([]byte, error) {
	return adjudicator.abi.Pack("channelByParams", p)
}

// ChannelByParamsOutput serves as a container for the return parameters of contract
// method ChannelByParams.
type ChannelByParamsOutput struct {
	Id [32]byte
	S  AdjudicatorChannelState
}

// UnpackChannelByParams is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0xea106fbe.
//
// Solidity: function channelByParams((address,address,address,uint64,bytes32) p) view returns(bytes32 id, (uint8,uint256,uint256,uint256,uint256,uint256,uint256,uint64) s)
func (adjudicator *Adjudicator) UnpackChannelByParams(data []byte) (ChannelByParamsOutput, error) {
	out, err := adjudicator.abi.Unpack("channelByParams", data)
	outstruct := new(ChannelByParamsOutput)
	if err != nil {
		return *outstruct, err
	}
	outstruct.Id = *abi.ConvertType(out[0], new([32]byte)).(*[32]byte)
	outstruct.S = *abi.ConvertType(out[1], new(AdjudicatorChannelState)).(*AdjudicatorChannelState)
	return *outstruct, nil
}

// PackChannelId is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xfa92ee9e.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function channelId((address,address,address,uint64,bytes32) p) view returns(bytes32)
func (adjudicator *Adjudicator) PackChannelId(p AdjudicatorChannelParams) []byte {
	enc, err := adjudicator.abi.Pack("channelId", p)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackChannelId is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xfa92ee9e.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function channelId((address,address,address,uint64,bytes32) p) view returns(bytes32)
func (adjudicator *Adjudicator) TryPackChannelId(p AdjudicatorChannelParams) ([]byte, error) {
	return adjudicator.abi.Pack("channelId", p)
}

// UnpackChannelId is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0xfa92ee9e.
//
// Solidity: function channelId((address,address,address,uint64,bytes32) p) view returns(bytes32)
func (adjudicator *Adjudicator) UnpackChannelId(data []byte) ([32]byte, error) {
	out, err := adjudicator.abi.Unpack("channelId", data)
	if err != nil {
		return *new([32]byte), err
	}
	out0 := *abi.ConvertType(out[0], new([32]byte)).(*[32]byte)
	return out0, nil
}

// PackClose is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xed4c04f2.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function close((address,address,address,uint64,bytes32) p, (uint64,uint256,bytes) otherProof, (uint64,uint256,bytes) ownProof) returns()
func (adjudicator *Adjudicator) PackClose(p AdjudicatorChannelParams, otherProof AdjudicatorProof, ownProof AdjudicatorProof) []byte {
	enc, err := adjudicator.abi.Pack("close", p, otherProof, ownProof)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackClose is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xed4c04f2.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function close((address,address,address,uint64,bytes32) p, (uint64,uint256,bytes) otherProof, (uint64,uint256,bytes) ownProof) returns()
func (adjudicator *Adjudicator) TryPackClose(p AdjudicatorChannelParams, otherProof AdjudicatorProof, ownProof AdjudicatorProof) ([]byte, error) {
	return adjudicator.abi.Pack("close", p, otherProof, ownProof)
}

// PackCooperativeClose is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x62c709a4.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function cooperativeClose((address,address,address,uint64,bytes32) p, uint256 balanceA, uint256 balanceB, uint64 expiry, bytes sigA, bytes sigB) returns()
func (adjudicator *Adjudicator) PackCooperativeClose(p AdjudicatorChannelParams, balanceA *big.Int, balanceB *big.Int, expiry uint64, sigA []byte, sigB []byte) []byte {
	enc, err := adjudicator.abi.Pack("cooperativeClose", p, balanceA, balanceB, expiry, sigA, sigB)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackCooperativeClose is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x62c709a4.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function cooperativeClose((address,address,address,uint64,bytes32) p, uint256 balanceA, uint256 balanceB, uint64 expiry, bytes sigA, bytes sigB) returns()
func (adjudicator *Adjudicator) TryPackCooperativeClose(p AdjudicatorChannelParams, balanceA *big.Int, balanceB *big.Int, expiry uint64, sigA []byte, sigB []byte) ([]byte, error) {
	return adjudicator.abi.Pack("cooperativeClose", p, balanceA, balanceB, expiry, sigA, sigB)
}

// PackCooperativeCloseDigest is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x21359d24.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function cooperativeCloseDigest(bytes32 id, uint256 balanceA, uint256 balanceB, uint64 expiry) view returns(bytes32)
func (adjudicator *Adjudicator) PackCooperativeCloseDigest(id [32]byte, balanceA *big.Int, balanceB *big.Int, expiry uint64) []byte {
	enc, err := adjudicator.abi.Pack("cooperativeCloseDigest", id, balanceA, balanceB, expiry)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackCooperativeCloseDigest is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x21359d24.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function cooperativeCloseDigest(bytes32 id, uint256 balanceA, uint256 balanceB, uint64 expiry) view returns(bytes32)
func (adjudicator *Adjudicator) TryPackCooperativeCloseDigest(id [32]byte, balanceA *big.Int, balanceB *big.Int, expiry uint64) ([]byte, error) {
	return adjudicator.abi.Pack("cooperativeCloseDigest", id, balanceA, balanceB, expiry)
}

// UnpackCooperativeCloseDigest is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x21359d24.
//
// Solidity: function cooperativeCloseDigest(bytes32 id, uint256 balanceA, uint256 balanceB, uint64 expiry) view returns(bytes32)
func (adjudicator *Adjudicator) UnpackCooperativeCloseDigest(data []byte) ([32]byte, error) {
	out, err := adjudicator.abi.Unpack("cooperativeCloseDigest", data)
	if err != nil {
		return *new([32]byte), err
	}
	out0 := *abi.ConvertType(out[0], new([32]byte)).(*[32]byte)
	return out0, nil
}

// PackDeposit is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x60ccd2aa.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function deposit((address,address,address,uint64,bytes32) p, address participant, uint256 newTotalDeposit) payable returns()
func (adjudicator *Adjudicator) PackDeposit(p AdjudicatorChannelParams, participant common.Address, newTotalDeposit *big.Int) []byte {
	enc, err := adjudicator.abi.Pack("deposit", p, participant, newTotalDeposit)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackDeposit is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x60ccd2aa.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function deposit((address,address,address,uint64,bytes32) p, address participant, uint256 newTotalDeposit) payable returns()
func (adjudicator *Adjudicator) TryPackDeposit(p AdjudicatorChannelParams, participant common.Address, newTotalDeposit *big.Int) ([]byte, error) {
	return adjudicator.abi.Pack("deposit", p, participant, newTotalDeposit)
}

// PackDomainSeparator is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xf698da25.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function domainSeparator() view returns(bytes32)
func (adjudicator *Adjudicator) PackDomainSeparator() []byte {
	enc, err := adjudicator.abi.Pack("domainSeparator")
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackDomainSeparator is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xf698da25.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function domainSeparator() view returns(bytes32)
func (adjudicator *Adjudicator) TryPackDomainSeparator() ([]byte, error) {
	return adjudicator.abi.Pack("domainSeparator")
}

// UnpackDomainSeparator is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0xf698da25.
//
// Solidity: function domainSeparator() view returns(bytes32)
func (adjudicator *Adjudicator) UnpackDomainSeparator(data []byte) ([32]byte, error) {
	out, err := adjudicator.abi.Unpack("domainSeparator", data)
	if err != nil {
		return *new([32]byte), err
	}
	out0 := *abi.ConvertType(out[0], new([32]byte)).(*[32]byte)
	return out0, nil
}

// PackOpen is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xb3e59c12.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function open((address,address,address,uint64,bytes32) p, uint256 totalDeposit) payable returns(bytes32 id)
func (adjudicator *Adjudicator) PackOpen(p AdjudicatorChannelParams, totalDeposit *big.Int) []byte {
	enc, err := adjudicator.abi.Pack("open", p, totalDeposit)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackOpen is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xb3e59c12.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function open((address,address,address,uint64,bytes32) p, uint256 totalDeposit) payable returns(bytes32 id)
func (adjudicator *Adjudicator) TryPackOpen(p AdjudicatorChannelParams, totalDeposit *big.Int) ([]byte, error) {
	return adjudicator.abi.Pack("open", p, totalDeposit)
}

// UnpackOpen is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0xb3e59c12.
//
// Solidity: function open((address,address,address,uint64,bytes32) p, uint256 totalDeposit) payable returns(bytes32 id)
func (adjudicator *Adjudicator) UnpackOpen(data []byte) ([32]byte, error) {
	out, err := adjudicator.abi.Unpack("open", data)
	if err != nil {
		return *new([32]byte), err
	}
	out0 := *abi.ConvertType(out[0], new([32]byte)).(*[32]byte)
	return out0, nil
}

// PackPayouts is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x3778c63a.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function payouts(address account, address token) view returns(uint256)
func (adjudicator *Adjudicator) PackPayouts(account common.Address, token common.Address) []byte {
	enc, err := adjudicator.abi.Pack("payouts", account, token)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackPayouts is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x3778c63a.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function payouts(address account, address token) view returns(uint256)
func (adjudicator *Adjudicator) TryPackPayouts(account common.Address, token common.Address) ([]byte, error) {
	return adjudicator.abi.Pack("payouts", account, token)
}

// UnpackPayouts is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x3778c63a.
//
// Solidity: function payouts(address account, address token) view returns(uint256)
func (adjudicator *Adjudicator) UnpackPayouts(data []byte) (*big.Int, error) {
	out, err := adjudicator.abi.Unpack("payouts", data)
	if err != nil {
		return new(big.Int), err
	}
	out0 := abi.ConvertType(out[0], new(big.Int)).(*big.Int)
	return out0, nil
}

// PackSettle is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x27047b51.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function settle((address,address,address,uint64,bytes32) p) returns()
func (adjudicator *Adjudicator) PackSettle(p AdjudicatorChannelParams) []byte {
	enc, err := adjudicator.abi.Pack("settle", p)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackSettle is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x27047b51.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function settle((address,address,address,uint64,bytes32) p) returns()
func (adjudicator *Adjudicator) TryPackSettle(p AdjudicatorChannelParams) ([]byte, error) {
	return adjudicator.abi.Pack("settle", p)
}

// PackUpdate is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x01e69253.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function update((address,address,address,uint64,bytes32) p, (uint64,uint256,bytes)[] proofs) returns()
func (adjudicator *Adjudicator) PackUpdate(p AdjudicatorChannelParams, proofs []AdjudicatorProof) []byte {
	enc, err := adjudicator.abi.Pack("update", p, proofs)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackUpdate is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x01e69253.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function update((address,address,address,uint64,bytes32) p, (uint64,uint256,bytes)[] proofs) returns()
func (adjudicator *Adjudicator) TryPackUpdate(p AdjudicatorChannelParams, proofs []AdjudicatorProof) ([]byte, error) {
	return adjudicator.abi.Pack("update", p, proofs)
}

// PackWithdraw is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xf694fef1.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function withdraw((address,address,address,uint64,bytes32) p, address participant, uint256 newTotalWithdrawn, uint64 expiry, bytes sigA, bytes sigB) returns()
func (adjudicator *Adjudicator) PackWithdraw(p AdjudicatorChannelParams, participant common.Address, newTotalWithdrawn *big.Int, expiry uint64, sigA []byte, sigB []byte) []byte {
	enc, err := adjudicator.abi.Pack("withdraw", p, participant, newTotalWithdrawn, expiry, sigA, sigB)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackWithdraw is the Go binding used to pack the parameters required for calling
// the contract method with ID 0xf694fef1.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function withdraw((address,address,address,uint64,bytes32) p, address participant, uint256 newTotalWithdrawn, uint64 expiry, bytes sigA, bytes sigB) returns()
func (adjudicator *Adjudicator) TryPackWithdraw(p AdjudicatorChannelParams, participant common.Address, newTotalWithdrawn *big.Int, expiry uint64, sigA []byte, sigB []byte) ([]byte, error) {
	return adjudicator.abi.Pack("withdraw", p, participant, newTotalWithdrawn, expiry, sigA, sigB)
}

// PackWithdrawDigest is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x9d8aaeae.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function withdrawDigest(bytes32 id, address participant, uint256 totalWithdrawn, uint64 expiry) view returns(bytes32)
func (adjudicator *Adjudicator) PackWithdrawDigest(id [32]byte, participant common.Address, totalWithdrawn *big.Int, expiry uint64) []byte {
	enc, err := adjudicator.abi.Pack("withdrawDigest", id, participant, totalWithdrawn, expiry)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackWithdrawDigest is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x9d8aaeae.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function withdrawDigest(bytes32 id, address participant, uint256 totalWithdrawn, uint64 expiry) view returns(bytes32)
func (adjudicator *Adjudicator) TryPackWithdrawDigest(id [32]byte, participant common.Address, totalWithdrawn *big.Int, expiry uint64) ([]byte, error) {
	return adjudicator.abi.Pack("withdrawDigest", id, participant, totalWithdrawn, expiry)
}

// UnpackWithdrawDigest is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x9d8aaeae.
//
// Solidity: function withdrawDigest(bytes32 id, address participant, uint256 totalWithdrawn, uint64 expiry) view returns(bytes32)
func (adjudicator *Adjudicator) UnpackWithdrawDigest(data []byte) ([32]byte, error) {
	out, err := adjudicator.abi.Unpack("withdrawDigest", data)
	if err != nil {
		return *new([32]byte), err
	}
	out0 := *abi.ConvertType(out[0], new([32]byte)).(*[32]byte)
	return out0, nil
}

// PackWithdrawPayout is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x9d31278a.  This method will panic if any
// invalid/nil inputs are passed.
//
// Solidity: function withdrawPayout(address token) returns(uint256 amount)
func (adjudicator *Adjudicator) PackWithdrawPayout(token common.Address) []byte {
	enc, err := adjudicator.abi.Pack("withdrawPayout", token)
	if err != nil {
		panic(err)
	}
	return enc
}

// TryPackWithdrawPayout is the Go binding used to pack the parameters required for calling
// the contract method with ID 0x9d31278a.  This method will return an error
// if any inputs are invalid/nil.
//
// Solidity: function withdrawPayout(address token) returns(uint256 amount)
func (adjudicator *Adjudicator) TryPackWithdrawPayout(token common.Address) ([]byte, error) {
	return adjudicator.abi.Pack("withdrawPayout", token)
}

// UnpackWithdrawPayout is the Go binding that unpacks the parameters returned
// from invoking the contract method with ID 0x9d31278a.
//
// Solidity: function withdrawPayout(address token) returns(uint256 amount)
func (adjudicator *Adjudicator) UnpackWithdrawPayout(data []byte) (*big.Int, error) {
	out, err := adjudicator.abi.Unpack("withdrawPayout", data)
	if err != nil {
		return new(big.Int), err
	}
	out0 := abi.ConvertType(out[0], new(big.Int)).(*big.Int)
	return out0, nil
}

// AdjudicatorChannelOpened represents a ChannelOpened event raised by the Adjudicator contract.
type AdjudicatorChannelOpened struct {
	ChannelId       [32]byte
	A               common.Address
	B               common.Address
	Token           common.Address
	ChallengePeriod uint64
	Salt            [32]byte
	Raw             *types.Log // Blockchain specific contextual infos
}

const AdjudicatorChannelOpenedEventName = "ChannelOpened"

// ContractEventName returns the user-defined event name.
func (AdjudicatorChannelOpened) ContractEventName() string {
	return AdjudicatorChannelOpenedEventName
}

// UnpackChannelOpenedEvent is the Go binding that unpacks the event data emitted
// by contract.
//
// Solidity: event ChannelOpened(bytes32 indexed channelId, address indexed a, address indexed b, address token, uint64 challengePeriod, bytes32 salt)
func (adjudicator *Adjudicator) UnpackChannelOpenedEvent(log *types.Log) (*AdjudicatorChannelOpened, error) {
	event := "ChannelOpened"
	if len(log.Topics) == 0 {
		return nil, bind.ErrNoEventSignature
	}
	if log.Topics[0] != adjudicator.abi.Events[event].ID {
		return nil, bind.ErrEventSignatureMismatch
	}
	out := new(AdjudicatorChannelOpened)
	if len(log.Data) > 0 {
		if err := adjudicator.abi.UnpackIntoInterface(out, event, log.Data); err != nil {
			return nil, err
		}
	}
	var indexed abi.Arguments
	for _, arg := range adjudicator.abi.Events[event].Inputs {
		if arg.Indexed {
			indexed = append(indexed, arg)
		}
	}
	if err := abi.ParseTopics(out, indexed, log.Topics[1:]); err != nil {
		return nil, err
	}
	out.Raw = log
	return out, nil
}

// AdjudicatorClosed represents a Closed event raised by the Adjudicator contract.
type AdjudicatorClosed struct {
	ChannelId       [32]byte
	Closer          common.Address
	TransferredAtoB *big.Int
	TransferredBtoA *big.Int
	SettleAfter     uint64
	Raw             *types.Log // Blockchain specific contextual infos
}

const AdjudicatorClosedEventName = "Closed"

// ContractEventName returns the user-defined event name.
func (AdjudicatorClosed) ContractEventName() string {
	return AdjudicatorClosedEventName
}

// UnpackClosedEvent is the Go binding that unpacks the event data emitted
// by contract.
//
// Solidity: event Closed(bytes32 indexed channelId, address indexed closer, uint256 transferredAtoB, uint256 transferredBtoA, uint64 settleAfter)
func (adjudicator *Adjudicator) UnpackClosedEvent(log *types.Log) (*AdjudicatorClosed, error) {
	event := "Closed"
	if len(log.Topics) == 0 {
		return nil, bind.ErrNoEventSignature
	}
	if log.Topics[0] != adjudicator.abi.Events[event].ID {
		return nil, bind.ErrEventSignatureMismatch
	}
	out := new(AdjudicatorClosed)
	if len(log.Data) > 0 {
		if err := adjudicator.abi.UnpackIntoInterface(out, event, log.Data); err != nil {
			return nil, err
		}
	}
	var indexed abi.Arguments
	for _, arg := range adjudicator.abi.Events[event].Inputs {
		if arg.Indexed {
			indexed = append(indexed, arg)
		}
	}
	if err := abi.ParseTopics(out, indexed, log.Topics[1:]); err != nil {
		return nil, err
	}
	out.Raw = log
	return out, nil
}

// AdjudicatorCooperativelyClosed represents a CooperativelyClosed event raised by the Adjudicator contract.
type AdjudicatorCooperativelyClosed struct {
	ChannelId [32]byte
	BalanceA  *big.Int
	BalanceB  *big.Int
	Raw       *types.Log // Blockchain specific contextual infos
}

const AdjudicatorCooperativelyClosedEventName = "CooperativelyClosed"

// ContractEventName returns the user-defined event name.
func (AdjudicatorCooperativelyClosed) ContractEventName() string {
	return AdjudicatorCooperativelyClosedEventName
}

// UnpackCooperativelyClosedEvent is the Go binding that unpacks the event data emitted
// by contract.
//
// Solidity: event CooperativelyClosed(bytes32 indexed channelId, uint256 balanceA, uint256 balanceB)
func (adjudicator *Adjudicator) UnpackCooperativelyClosedEvent(log *types.Log) (*AdjudicatorCooperativelyClosed, error) {
	event := "CooperativelyClosed"
	if len(log.Topics) == 0 {
		return nil, bind.ErrNoEventSignature
	}
	if log.Topics[0] != adjudicator.abi.Events[event].ID {
		return nil, bind.ErrEventSignatureMismatch
	}
	out := new(AdjudicatorCooperativelyClosed)
	if len(log.Data) > 0 {
		if err := adjudicator.abi.UnpackIntoInterface(out, event, log.Data); err != nil {
			return nil, err
		}
	}
	var indexed abi.Arguments
	for _, arg := range adjudicator.abi.Events[event].Inputs {
		if arg.Indexed {
			indexed = append(indexed, arg)
		}
	}
	if err := abi.ParseTopics(out, indexed, log.Topics[1:]); err != nil {
		return nil, err
	}
	out.Raw = log
	return out, nil
}

// AdjudicatorDeposited represents a Deposited event raised by the Adjudicator contract.
type AdjudicatorDeposited struct {
	ChannelId    [32]byte
	Participant  common.Address
	TotalDeposit *big.Int
	Raw          *types.Log // Blockchain specific contextual infos
}

const AdjudicatorDepositedEventName = "Deposited"

// ContractEventName returns the user-defined event name.
func (AdjudicatorDeposited) ContractEventName() string {
	return AdjudicatorDepositedEventName
}

// UnpackDepositedEvent is the Go binding that unpacks the event data emitted
// by contract.
//
// Solidity: event Deposited(bytes32 indexed channelId, address indexed participant, uint256 totalDeposit)
func (adjudicator *Adjudicator) UnpackDepositedEvent(log *types.Log) (*AdjudicatorDeposited, error) {
	event := "Deposited"
	if len(log.Topics) == 0 {
		return nil, bind.ErrNoEventSignature
	}
	if log.Topics[0] != adjudicator.abi.Events[event].ID {
		return nil, bind.ErrEventSignatureMismatch
	}
	out := new(AdjudicatorDeposited)
	if len(log.Data) > 0 {
		if err := adjudicator.abi.UnpackIntoInterface(out, event, log.Data); err != nil {
			return nil, err
		}
	}
	var indexed abi.Arguments
	for _, arg := range adjudicator.abi.Events[event].Inputs {
		if arg.Indexed {
			indexed = append(indexed, arg)
		}
	}
	if err := abi.ParseTopics(out, indexed, log.Topics[1:]); err != nil {
		return nil, err
	}
	out.Raw = log
	return out, nil
}

// AdjudicatorPayoutCredited represents a PayoutCredited event raised by the Adjudicator contract.
type AdjudicatorPayoutCredited struct {
	ChannelId [32]byte
	Account   common.Address
	Token     common.Address
	Amount    *big.Int
	Raw       *types.Log // Blockchain specific contextual infos
}

const AdjudicatorPayoutCreditedEventName = "PayoutCredited"

// ContractEventName returns the user-defined event name.
func (AdjudicatorPayoutCredited) ContractEventName() string {
	return AdjudicatorPayoutCreditedEventName
}

// UnpackPayoutCreditedEvent is the Go binding that unpacks the event data emitted
// by contract.
//
// Solidity: event PayoutCredited(bytes32 indexed channelId, address indexed account, address indexed token, uint256 amount)
func (adjudicator *Adjudicator) UnpackPayoutCreditedEvent(log *types.Log) (*AdjudicatorPayoutCredited, error) {
	event := "PayoutCredited"
	if len(log.Topics) == 0 {
		return nil, bind.ErrNoEventSignature
	}
	if log.Topics[0] != adjudicator.abi.Events[event].ID {
		return nil, bind.ErrEventSignatureMismatch
	}
	out := new(AdjudicatorPayoutCredited)
	if len(log.Data) > 0 {
		if err := adjudicator.abi.UnpackIntoInterface(out, event, log.Data); err != nil {
			return nil, err
		}
	}
	var indexed abi.Arguments
	for _, arg := range adjudicator.abi.Events[event].Inputs {
		if arg.Indexed {
			indexed = append(indexed, arg)
		}
	}
	if err := abi.ParseTopics(out, indexed, log.Topics[1:]); err != nil {
		return nil, err
	}
	out.Raw = log
	return out, nil
}

// AdjudicatorPayoutWithdrawn represents a PayoutWithdrawn event raised by the Adjudicator contract.
type AdjudicatorPayoutWithdrawn struct {
	Account common.Address
	Token   common.Address
	Amount  *big.Int
	Raw     *types.Log // Blockchain specific contextual infos
}

const AdjudicatorPayoutWithdrawnEventName = "PayoutWithdrawn"

// ContractEventName returns the user-defined event name.
func (AdjudicatorPayoutWithdrawn) ContractEventName() string {
	return AdjudicatorPayoutWithdrawnEventName
}

// UnpackPayoutWithdrawnEvent is the Go binding that unpacks the event data emitted
// by contract.
//
// Solidity: event PayoutWithdrawn(address indexed account, address indexed token, uint256 amount)
func (adjudicator *Adjudicator) UnpackPayoutWithdrawnEvent(log *types.Log) (*AdjudicatorPayoutWithdrawn, error) {
	event := "PayoutWithdrawn"
	if len(log.Topics) == 0 {
		return nil, bind.ErrNoEventSignature
	}
	if log.Topics[0] != adjudicator.abi.Events[event].ID {
		return nil, bind.ErrEventSignatureMismatch
	}
	out := new(AdjudicatorPayoutWithdrawn)
	if len(log.Data) > 0 {
		if err := adjudicator.abi.UnpackIntoInterface(out, event, log.Data); err != nil {
			return nil, err
		}
	}
	var indexed abi.Arguments
	for _, arg := range adjudicator.abi.Events[event].Inputs {
		if arg.Indexed {
			indexed = append(indexed, arg)
		}
	}
	if err := abi.ParseTopics(out, indexed, log.Topics[1:]); err != nil {
		return nil, err
	}
	out.Raw = log
	return out, nil
}

// AdjudicatorSettled represents a Settled event raised by the Adjudicator contract.
type AdjudicatorSettled struct {
	ChannelId [32]byte
	PayoutA   *big.Int
	PayoutB   *big.Int
	Raw       *types.Log // Blockchain specific contextual infos
}

const AdjudicatorSettledEventName = "Settled"

// ContractEventName returns the user-defined event name.
func (AdjudicatorSettled) ContractEventName() string {
	return AdjudicatorSettledEventName
}

// UnpackSettledEvent is the Go binding that unpacks the event data emitted
// by contract.
//
// Solidity: event Settled(bytes32 indexed channelId, uint256 payoutA, uint256 payoutB)
func (adjudicator *Adjudicator) UnpackSettledEvent(log *types.Log) (*AdjudicatorSettled, error) {
	event := "Settled"
	if len(log.Topics) == 0 {
		return nil, bind.ErrNoEventSignature
	}
	if log.Topics[0] != adjudicator.abi.Events[event].ID {
		return nil, bind.ErrEventSignatureMismatch
	}
	out := new(AdjudicatorSettled)
	if len(log.Data) > 0 {
		if err := adjudicator.abi.UnpackIntoInterface(out, event, log.Data); err != nil {
			return nil, err
		}
	}
	var indexed abi.Arguments
	for _, arg := range adjudicator.abi.Events[event].Inputs {
		if arg.Indexed {
			indexed = append(indexed, arg)
		}
	}
	if err := abi.ParseTopics(out, indexed, log.Topics[1:]); err != nil {
		return nil, err
	}
	out.Raw = log
	return out, nil
}

// AdjudicatorUpdated represents a Updated event raised by the Adjudicator contract.
type AdjudicatorUpdated struct {
	ChannelId   [32]byte
	From        common.Address
	Nonce       uint64
	Transferred *big.Int
	Raw         *types.Log // Blockchain specific contextual infos
}

const AdjudicatorUpdatedEventName = "Updated"

// ContractEventName returns the user-defined event name.
func (AdjudicatorUpdated) ContractEventName() string {
	return AdjudicatorUpdatedEventName
}

// UnpackUpdatedEvent is the Go binding that unpacks the event data emitted
// by contract.
//
// Solidity: event Updated(bytes32 indexed channelId, address indexed from, uint64 nonce, uint256 transferred)
func (adjudicator *Adjudicator) UnpackUpdatedEvent(log *types.Log) (*AdjudicatorUpdated, error) {
	event := "Updated"
	if len(log.Topics) == 0 {
		return nil, bind.ErrNoEventSignature
	}
	if log.Topics[0] != adjudicator.abi.Events[event].ID {
		return nil, bind.ErrEventSignatureMismatch
	}
	out := new(AdjudicatorUpdated)
	if len(log.Data) > 0 {
		if err := adjudicator.abi.UnpackIntoInterface(out, event, log.Data); err != nil {
			return nil, err
		}
	}
	var indexed abi.Arguments
	for _, arg := range adjudicator.abi.Events[event].Inputs {
		if arg.Indexed {
			indexed = append(indexed, arg)
		}
	}
	if err := abi.ParseTopics(out, indexed, log.Topics[1:]); err != nil {
		return nil, err
	}
	out.Raw = log
	return out, nil
}

// AdjudicatorWithdrawn represents a Withdrawn event raised by the Adjudicator contract.
type AdjudicatorWithdrawn struct {
	ChannelId      [32]byte
	Participant    common.Address
	TotalWithdrawn *big.Int
	Amount         *big.Int
	Raw            *types.Log // Blockchain specific contextual infos
}

const AdjudicatorWithdrawnEventName = "Withdrawn"

// ContractEventName returns the user-defined event name.
func (AdjudicatorWithdrawn) ContractEventName() string {
	return AdjudicatorWithdrawnEventName
}

// UnpackWithdrawnEvent is the Go binding that unpacks the event data emitted
// by contract.
//
// Solidity: event Withdrawn(bytes32 indexed channelId, address indexed participant, uint256 totalWithdrawn, uint256 amount)
func (adjudicator *Adjudicator) UnpackWithdrawnEvent(log *types.Log) (*AdjudicatorWithdrawn, error) {
	event := "Withdrawn"
	if len(log.Topics) == 0 {
		return nil, bind.ErrNoEventSignature
	}
	if log.Topics[0] != adjudicator.abi.Events[event].ID {
		return nil, bind.ErrEventSignatureMismatch
	}
	out := new(AdjudicatorWithdrawn)
	if len(log.Data) > 0 {
		if err := adjudicator.abi.UnpackIntoInterface(out, event, log.Data); err != nil {
			return nil, err
		}
	}
	var indexed abi.Arguments
	for _, arg := range adjudicator.abi.Events[event].Inputs {
		if arg.Indexed {
			indexed = append(indexed, arg)
		}
	}
	if err := abi.ParseTopics(out, indexed, log.Topics[1:]); err != nil {
		return nil, err
	}
	out.Raw = log
	return out, nil
}

// UnpackError attempts to decode the provided error data using user-defined
// error definitions.
func (adjudicator *Adjudicator) UnpackError(raw []byte) (any, error) {
	if bytes.Equal(raw[:4], adjudicator.abi.Errors["AmountTooLarge"].ID.Bytes()[:4]) {
		return adjudicator.UnpackAmountTooLargeError(raw[4:])
	}
	if bytes.Equal(raw[:4], adjudicator.abi.Errors["BalanceMismatch"].ID.Bytes()[:4]) {
		return adjudicator.UnpackBalanceMismatchError(raw[4:])
	}
	if bytes.Equal(raw[:4], adjudicator.abi.Errors["ChallengePeriodNotOver"].ID.Bytes()[:4]) {
		return adjudicator.UnpackChallengePeriodNotOverError(raw[4:])
	}
	if bytes.Equal(raw[:4], adjudicator.abi.Errors["ChallengePeriodOver"].ID.Bytes()[:4]) {
		return adjudicator.UnpackChallengePeriodOverError(raw[4:])
	}
	if bytes.Equal(raw[:4], adjudicator.abi.Errors["ChannelExists"].ID.Bytes()[:4]) {
		return adjudicator.UnpackChannelExistsError(raw[4:])
	}
	if bytes.Equal(raw[:4], adjudicator.abi.Errors["EthTransferFailed"].ID.Bytes()[:4]) {
		return adjudicator.UnpackEthTransferFailedError(raw[4:])
	}
	if bytes.Equal(raw[:4], adjudicator.abi.Errors["Expired"].ID.Bytes()[:4]) {
		return adjudicator.UnpackExpiredError(raw[4:])
	}
	if bytes.Equal(raw[:4], adjudicator.abi.Errors["FeeOnTransferRefused"].ID.Bytes()[:4]) {
		return adjudicator.UnpackFeeOnTransferRefusedError(raw[4:])
	}
	if bytes.Equal(raw[:4], adjudicator.abi.Errors["InsufficientFunds"].ID.Bytes()[:4]) {
		return adjudicator.UnpackInsufficientFundsError(raw[4:])
	}
	if bytes.Equal(raw[:4], adjudicator.abi.Errors["InvalidChallengePeriod"].ID.Bytes()[:4]) {
		return adjudicator.UnpackInvalidChallengePeriodError(raw[4:])
	}
	if bytes.Equal(raw[:4], adjudicator.abi.Errors["InvalidParticipants"].ID.Bytes()[:4]) {
		return adjudicator.UnpackInvalidParticipantsError(raw[4:])
	}
	if bytes.Equal(raw[:4], adjudicator.abi.Errors["InvalidSignature"].ID.Bytes()[:4]) {
		return adjudicator.UnpackInvalidSignatureError(raw[4:])
	}
	if bytes.Equal(raw[:4], adjudicator.abi.Errors["InvalidSignatureLength"].ID.Bytes()[:4]) {
		return adjudicator.UnpackInvalidSignatureLengthError(raw[4:])
	}
	if bytes.Equal(raw[:4], adjudicator.abi.Errors["InvalidSignatureS"].ID.Bytes()[:4]) {
		return adjudicator.UnpackInvalidSignatureSError(raw[4:])
	}
	if bytes.Equal(raw[:4], adjudicator.abi.Errors["InvalidSignatureV"].ID.Bytes()[:4]) {
		return adjudicator.UnpackInvalidSignatureVError(raw[4:])
	}
	if bytes.Equal(raw[:4], adjudicator.abi.Errors["NoPayout"].ID.Bytes()[:4]) {
		return adjudicator.UnpackNoPayoutError(raw[4:])
	}
	if bytes.Equal(raw[:4], adjudicator.abi.Errors["NoProofs"].ID.Bytes()[:4]) {
		return adjudicator.UnpackNoProofsError(raw[4:])
	}
	if bytes.Equal(raw[:4], adjudicator.abi.Errors["NotAToken"].ID.Bytes()[:4]) {
		return adjudicator.UnpackNotATokenError(raw[4:])
	}
	if bytes.Equal(raw[:4], adjudicator.abi.Errors["NotIncreasing"].ID.Bytes()[:4]) {
		return adjudicator.UnpackNotIncreasingError(raw[4:])
	}
	if bytes.Equal(raw[:4], adjudicator.abi.Errors["NotParticipant"].ID.Bytes()[:4]) {
		return adjudicator.UnpackNotParticipantError(raw[4:])
	}
	if bytes.Equal(raw[:4], adjudicator.abi.Errors["Reentrancy"].ID.Bytes()[:4]) {
		return adjudicator.UnpackReentrancyError(raw[4:])
	}
	if bytes.Equal(raw[:4], adjudicator.abi.Errors["SignerNotParticipant"].ID.Bytes()[:4]) {
		return adjudicator.UnpackSignerNotParticipantError(raw[4:])
	}
	if bytes.Equal(raw[:4], adjudicator.abi.Errors["TokenTransferFailed"].ID.Bytes()[:4]) {
		return adjudicator.UnpackTokenTransferFailedError(raw[4:])
	}
	if bytes.Equal(raw[:4], adjudicator.abi.Errors["UnsignedProofNotEmpty"].ID.Bytes()[:4]) {
		return adjudicator.UnpackUnsignedProofNotEmptyError(raw[4:])
	}
	if bytes.Equal(raw[:4], adjudicator.abi.Errors["WrongMsgValue"].ID.Bytes()[:4]) {
		return adjudicator.UnpackWrongMsgValueError(raw[4:])
	}
	if bytes.Equal(raw[:4], adjudicator.abi.Errors["WrongPhase"].ID.Bytes()[:4]) {
		return adjudicator.UnpackWrongPhaseError(raw[4:])
	}
	if bytes.Equal(raw[:4], adjudicator.abi.Errors["WrongSigner"].ID.Bytes()[:4]) {
		return adjudicator.UnpackWrongSignerError(raw[4:])
	}
	if bytes.Equal(raw[:4], adjudicator.abi.Errors["ZeroAmount"].ID.Bytes()[:4]) {
		return adjudicator.UnpackZeroAmountError(raw[4:])
	}
	return nil, errors.New("Unknown error")
}

// AdjudicatorAmountTooLarge represents a AmountTooLarge error raised by the Adjudicator contract.
type AdjudicatorAmountTooLarge struct {
	Amount *big.Int
	Max    *big.Int
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error AmountTooLarge(uint256 amount, uint256 max)
func AdjudicatorAmountTooLargeErrorID() common.Hash {
	return common.HexToHash("0x7f162703b1fbad455ee7087f54e476f5f7b21f668d715d2aa1b9371e813d293d")
}

// UnpackAmountTooLargeError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error AmountTooLarge(uint256 amount, uint256 max)
func (adjudicator *Adjudicator) UnpackAmountTooLargeError(raw []byte) (*AdjudicatorAmountTooLarge, error) {
	out := new(AdjudicatorAmountTooLarge)
	if err := adjudicator.abi.UnpackIntoInterface(out, "AmountTooLarge", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// AdjudicatorBalanceMismatch represents a BalanceMismatch error raised by the Adjudicator contract.
type AdjudicatorBalanceMismatch struct {
	Available *big.Int
	BalanceA  *big.Int
	BalanceB  *big.Int
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error BalanceMismatch(uint256 available, uint256 balanceA, uint256 balanceB)
func AdjudicatorBalanceMismatchErrorID() common.Hash {
	return common.HexToHash("0x565528fb3d45e438dc102b93b0945dd42ddb839a56a9fcd16fab6c1c7a0feef2")
}

// UnpackBalanceMismatchError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error BalanceMismatch(uint256 available, uint256 balanceA, uint256 balanceB)
func (adjudicator *Adjudicator) UnpackBalanceMismatchError(raw []byte) (*AdjudicatorBalanceMismatch, error) {
	out := new(AdjudicatorBalanceMismatch)
	if err := adjudicator.abi.UnpackIntoInterface(out, "BalanceMismatch", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// AdjudicatorChallengePeriodNotOver represents a ChallengePeriodNotOver error raised by the Adjudicator contract.
type AdjudicatorChallengePeriodNotOver struct {
	SettleAfter uint64
	Timestamp   *big.Int
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error ChallengePeriodNotOver(uint64 settleAfter, uint256 timestamp)
func AdjudicatorChallengePeriodNotOverErrorID() common.Hash {
	return common.HexToHash("0x7943b72f9eb2f0cb6b110fbb4c45b7d25bcd618e3c31daa1c455c63b813dce5e")
}

// UnpackChallengePeriodNotOverError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error ChallengePeriodNotOver(uint64 settleAfter, uint256 timestamp)
func (adjudicator *Adjudicator) UnpackChallengePeriodNotOverError(raw []byte) (*AdjudicatorChallengePeriodNotOver, error) {
	out := new(AdjudicatorChallengePeriodNotOver)
	if err := adjudicator.abi.UnpackIntoInterface(out, "ChallengePeriodNotOver", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// AdjudicatorChallengePeriodOver represents a ChallengePeriodOver error raised by the Adjudicator contract.
type AdjudicatorChallengePeriodOver struct {
	SettleAfter uint64
	Timestamp   *big.Int
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error ChallengePeriodOver(uint64 settleAfter, uint256 timestamp)
func AdjudicatorChallengePeriodOverErrorID() common.Hash {
	return common.HexToHash("0xf3dd13c66da6751efdb6561a88d32a716274e49f8ad664958d53cd90ef6e51f6")
}

// UnpackChallengePeriodOverError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error ChallengePeriodOver(uint64 settleAfter, uint256 timestamp)
func (adjudicator *Adjudicator) UnpackChallengePeriodOverError(raw []byte) (*AdjudicatorChallengePeriodOver, error) {
	out := new(AdjudicatorChallengePeriodOver)
	if err := adjudicator.abi.UnpackIntoInterface(out, "ChallengePeriodOver", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// AdjudicatorChannelExists represents a ChannelExists error raised by the Adjudicator contract.
type AdjudicatorChannelExists struct {
	ChannelId [32]byte
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error ChannelExists(bytes32 channelId)
func AdjudicatorChannelExistsErrorID() common.Hash {
	return common.HexToHash("0xa940c060494e4a8725ceaaeed5009635eed00c41d329b627de1735c400b10517")
}

// UnpackChannelExistsError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error ChannelExists(bytes32 channelId)
func (adjudicator *Adjudicator) UnpackChannelExistsError(raw []byte) (*AdjudicatorChannelExists, error) {
	out := new(AdjudicatorChannelExists)
	if err := adjudicator.abi.UnpackIntoInterface(out, "ChannelExists", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// AdjudicatorEthTransferFailed represents a EthTransferFailed error raised by the Adjudicator contract.
type AdjudicatorEthTransferFailed struct {
	To     common.Address
	Amount *big.Int
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error EthTransferFailed(address to, uint256 amount)
func AdjudicatorEthTransferFailedErrorID() common.Hash {
	return common.HexToHash("0xdea95fbae37714be25fb44980c1fdf19a4910995d20a75ed8a5d10aa28a1b9da")
}

// UnpackEthTransferFailedError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error EthTransferFailed(address to, uint256 amount)
func (adjudicator *Adjudicator) UnpackEthTransferFailedError(raw []byte) (*AdjudicatorEthTransferFailed, error) {
	out := new(AdjudicatorEthTransferFailed)
	if err := adjudicator.abi.UnpackIntoInterface(out, "EthTransferFailed", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// AdjudicatorExpired represents a Expired error raised by the Adjudicator contract.
type AdjudicatorExpired struct {
	Expiry    uint64
	Timestamp *big.Int
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error Expired(uint64 expiry, uint256 timestamp)
func AdjudicatorExpiredErrorID() common.Hash {
	return common.HexToHash("0x91cc37bcaeec164e5bc377adb7e09e2a00c91458581814d0294b11a1ab47958a")
}

// UnpackExpiredError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error Expired(uint64 expiry, uint256 timestamp)
func (adjudicator *Adjudicator) UnpackExpiredError(raw []byte) (*AdjudicatorExpired, error) {
	out := new(AdjudicatorExpired)
	if err := adjudicator.abi.UnpackIntoInterface(out, "Expired", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// AdjudicatorFeeOnTransferRefused represents a FeeOnTransferRefused error raised by the Adjudicator contract.
type AdjudicatorFeeOnTransferRefused struct {
	Token    common.Address
	Expected *big.Int
	Received *big.Int
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error FeeOnTransferRefused(address token, uint256 expected, uint256 received)
func AdjudicatorFeeOnTransferRefusedErrorID() common.Hash {
	return common.HexToHash("0x9352fa79d3ffa395cf73cec42543a3ea2cd2129f05f74f02e962578f3866307b")
}

// UnpackFeeOnTransferRefusedError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error FeeOnTransferRefused(address token, uint256 expected, uint256 received)
func (adjudicator *Adjudicator) UnpackFeeOnTransferRefusedError(raw []byte) (*AdjudicatorFeeOnTransferRefused, error) {
	out := new(AdjudicatorFeeOnTransferRefused)
	if err := adjudicator.abi.UnpackIntoInterface(out, "FeeOnTransferRefused", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// AdjudicatorInsufficientFunds represents a InsufficientFunds error raised by the Adjudicator contract.
type AdjudicatorInsufficientFunds struct {
	Available *big.Int
	Requested *big.Int
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error InsufficientFunds(uint256 available, uint256 requested)
func AdjudicatorInsufficientFundsErrorID() common.Hash {
	return common.HexToHash("0x03eb8b54a949acec2cd08fdb6d6bd4647a1f2c907d75d6900648effa92eb147f")
}

// UnpackInsufficientFundsError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error InsufficientFunds(uint256 available, uint256 requested)
func (adjudicator *Adjudicator) UnpackInsufficientFundsError(raw []byte) (*AdjudicatorInsufficientFunds, error) {
	out := new(AdjudicatorInsufficientFunds)
	if err := adjudicator.abi.UnpackIntoInterface(out, "InsufficientFunds", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// AdjudicatorInvalidChallengePeriod represents a InvalidChallengePeriod error raised by the Adjudicator contract.
type AdjudicatorInvalidChallengePeriod struct {
	ChallengePeriod uint64
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error InvalidChallengePeriod(uint64 challengePeriod)
func AdjudicatorInvalidChallengePeriodErrorID() common.Hash {
	return common.HexToHash("0x5e95fd759f23d64e9027ab00bd45daa76329ce81d03febadc9ecba1481a63a53")
}

// UnpackInvalidChallengePeriodError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error InvalidChallengePeriod(uint64 challengePeriod)
func (adjudicator *Adjudicator) UnpackInvalidChallengePeriodError(raw []byte) (*AdjudicatorInvalidChallengePeriod, error) {
	out := new(AdjudicatorInvalidChallengePeriod)
	if err := adjudicator.abi.UnpackIntoInterface(out, "InvalidChallengePeriod", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// AdjudicatorInvalidParticipants represents a InvalidParticipants error raised by the Adjudicator contract.
type AdjudicatorInvalidParticipants struct {
	A common.Address
	B common.Address
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error InvalidParticipants(address a, address b)
func AdjudicatorInvalidParticipantsErrorID() common.Hash {
	return common.HexToHash("0xee16d8059b8338aaf218a56ab7c61b1bc4f0ff156ab35ad19e346620fe96611d")
}

// UnpackInvalidParticipantsError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error InvalidParticipants(address a, address b)
func (adjudicator *Adjudicator) UnpackInvalidParticipantsError(raw []byte) (*AdjudicatorInvalidParticipants, error) {
	out := new(AdjudicatorInvalidParticipants)
	if err := adjudicator.abi.UnpackIntoInterface(out, "InvalidParticipants", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// AdjudicatorInvalidSignature represents a InvalidSignature error raised by the Adjudicator contract.
type AdjudicatorInvalidSignature struct {
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error InvalidSignature()
func AdjudicatorInvalidSignatureErrorID() common.Hash {
	return common.HexToHash("0x8baa579fce362245063d36f11747a89dd489c54795634fc673cc0e0db51fedc5")
}

// UnpackInvalidSignatureError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error InvalidSignature()
func (adjudicator *Adjudicator) UnpackInvalidSignatureError(raw []byte) (*AdjudicatorInvalidSignature, error) {
	out := new(AdjudicatorInvalidSignature)
	if err := adjudicator.abi.UnpackIntoInterface(out, "InvalidSignature", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// AdjudicatorInvalidSignatureLength represents a InvalidSignatureLength error raised by the Adjudicator contract.
type AdjudicatorInvalidSignatureLength struct {
	Length *big.Int
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error InvalidSignatureLength(uint256 length)
func AdjudicatorInvalidSignatureLengthErrorID() common.Hash {
	return common.HexToHash("0x2c33b5680a9fef1303384e1d65d338fdf3c385db42aef31f2b5a9618f7249d8a")
}

// UnpackInvalidSignatureLengthError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error InvalidSignatureLength(uint256 length)
func (adjudicator *Adjudicator) UnpackInvalidSignatureLengthError(raw []byte) (*AdjudicatorInvalidSignatureLength, error) {
	out := new(AdjudicatorInvalidSignatureLength)
	if err := adjudicator.abi.UnpackIntoInterface(out, "InvalidSignatureLength", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// AdjudicatorInvalidSignatureS represents a InvalidSignatureS error raised by the Adjudicator contract.
type AdjudicatorInvalidSignatureS struct {
	S [32]byte
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error InvalidSignatureS(bytes32 s)
func AdjudicatorInvalidSignatureSErrorID() common.Hash {
	return common.HexToHash("0x5682f3bf4b3bf8ad0bc0069bbb2507a8577586fdc58d6a2de6794b7cb704da54")
}

// UnpackInvalidSignatureSError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error InvalidSignatureS(bytes32 s)
func (adjudicator *Adjudicator) UnpackInvalidSignatureSError(raw []byte) (*AdjudicatorInvalidSignatureS, error) {
	out := new(AdjudicatorInvalidSignatureS)
	if err := adjudicator.abi.UnpackIntoInterface(out, "InvalidSignatureS", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// AdjudicatorInvalidSignatureV represents a InvalidSignatureV error raised by the Adjudicator contract.
type AdjudicatorInvalidSignatureV struct {
	V uint8
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error InvalidSignatureV(uint8 v)
func AdjudicatorInvalidSignatureVErrorID() common.Hash {
	return common.HexToHash("0xba76ff026d45908d17fefcce692bf9956e66357df37d89df51e86f322a5c37b4")
}

// UnpackInvalidSignatureVError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error InvalidSignatureV(uint8 v)
func (adjudicator *Adjudicator) UnpackInvalidSignatureVError(raw []byte) (*AdjudicatorInvalidSignatureV, error) {
	out := new(AdjudicatorInvalidSignatureV)
	if err := adjudicator.abi.UnpackIntoInterface(out, "InvalidSignatureV", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// AdjudicatorNoPayout represents a NoPayout error raised by the Adjudicator contract.
type AdjudicatorNoPayout struct {
	Account common.Address
	Token   common.Address
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error NoPayout(address account, address token)
func AdjudicatorNoPayoutErrorID() common.Hash {
	return common.HexToHash("0x1f8185eb947ccad3d0d20d3914dbb89ff516a1997abf1b371b5c5e5b420e5f2c")
}

// UnpackNoPayoutError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error NoPayout(address account, address token)
func (adjudicator *Adjudicator) UnpackNoPayoutError(raw []byte) (*AdjudicatorNoPayout, error) {
	out := new(AdjudicatorNoPayout)
	if err := adjudicator.abi.UnpackIntoInterface(out, "NoPayout", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// AdjudicatorNoProofs represents a NoProofs error raised by the Adjudicator contract.
type AdjudicatorNoProofs struct {
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error NoProofs()
func AdjudicatorNoProofsErrorID() common.Hash {
	return common.HexToHash("0x1d72675b8da34bf7ac60f83efbd8483dac0ae2ff7439bdbb9ba9d18de23746a2")
}

// UnpackNoProofsError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error NoProofs()
func (adjudicator *Adjudicator) UnpackNoProofsError(raw []byte) (*AdjudicatorNoProofs, error) {
	out := new(AdjudicatorNoProofs)
	if err := adjudicator.abi.UnpackIntoInterface(out, "NoProofs", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// AdjudicatorNotAToken represents a NotAToken error raised by the Adjudicator contract.
type AdjudicatorNotAToken struct {
	Token common.Address
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error NotAToken(address token)
func AdjudicatorNotATokenErrorID() common.Hash {
	return common.HexToHash("0xf0ae59ab2305e450b7994c131d4d487b62eef4fac72f3b690bc790b01afd51f5")
}

// UnpackNotATokenError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error NotAToken(address token)
func (adjudicator *Adjudicator) UnpackNotATokenError(raw []byte) (*AdjudicatorNotAToken, error) {
	out := new(AdjudicatorNotAToken)
	if err := adjudicator.abi.UnpackIntoInterface(out, "NotAToken", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// AdjudicatorNotIncreasing represents a NotIncreasing error raised by the Adjudicator contract.
type AdjudicatorNotIncreasing struct {
	Current  *big.Int
	Proposed *big.Int
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error NotIncreasing(uint256 current, uint256 proposed)
func AdjudicatorNotIncreasingErrorID() common.Hash {
	return common.HexToHash("0x9726877103fb37dd1efbfd009fa7462909027f6464bf5efe70a32f9ea681bb19")
}

// UnpackNotIncreasingError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error NotIncreasing(uint256 current, uint256 proposed)
func (adjudicator *Adjudicator) UnpackNotIncreasingError(raw []byte) (*AdjudicatorNotIncreasing, error) {
	out := new(AdjudicatorNotIncreasing)
	if err := adjudicator.abi.UnpackIntoInterface(out, "NotIncreasing", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// AdjudicatorNotParticipant represents a NotParticipant error raised by the Adjudicator contract.
type AdjudicatorNotParticipant struct {
	Account common.Address
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error NotParticipant(address account)
func AdjudicatorNotParticipantErrorID() common.Hash {
	return common.HexToHash("0x7e65d0e5b3dfa6ec8c4ab8ed94d5a8a9bdfbdc202e920bd0a8d59364b0fb07c6")
}

// UnpackNotParticipantError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error NotParticipant(address account)
func (adjudicator *Adjudicator) UnpackNotParticipantError(raw []byte) (*AdjudicatorNotParticipant, error) {
	out := new(AdjudicatorNotParticipant)
	if err := adjudicator.abi.UnpackIntoInterface(out, "NotParticipant", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// AdjudicatorReentrancy represents a Reentrancy error raised by the Adjudicator contract.
type AdjudicatorReentrancy struct {
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error Reentrancy()
func AdjudicatorReentrancyErrorID() common.Hash {
	return common.HexToHash("0xab143c06c9772d69bbbc9f2fe74acd02f810e93b099f3d1dac8448ac9ae35991")
}

// UnpackReentrancyError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error Reentrancy()
func (adjudicator *Adjudicator) UnpackReentrancyError(raw []byte) (*AdjudicatorReentrancy, error) {
	out := new(AdjudicatorReentrancy)
	if err := adjudicator.abi.UnpackIntoInterface(out, "Reentrancy", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// AdjudicatorSignerNotParticipant represents a SignerNotParticipant error raised by the Adjudicator contract.
type AdjudicatorSignerNotParticipant struct {
	Signer common.Address
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error SignerNotParticipant(address signer)
func AdjudicatorSignerNotParticipantErrorID() common.Hash {
	return common.HexToHash("0x377342dba6b1604204986ad28c6a93a67cfb4b651543801b76c9ad3d070d9979")
}

// UnpackSignerNotParticipantError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error SignerNotParticipant(address signer)
func (adjudicator *Adjudicator) UnpackSignerNotParticipantError(raw []byte) (*AdjudicatorSignerNotParticipant, error) {
	out := new(AdjudicatorSignerNotParticipant)
	if err := adjudicator.abi.UnpackIntoInterface(out, "SignerNotParticipant", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// AdjudicatorTokenTransferFailed represents a TokenTransferFailed error raised by the Adjudicator contract.
type AdjudicatorTokenTransferFailed struct {
	Token common.Address
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error TokenTransferFailed(address token)
func AdjudicatorTokenTransferFailedErrorID() common.Hash {
	return common.HexToHash("0x2b596cb7e9804a5202312682f04514d7f31332b7e5ffeaad4ba2ee9969d1d7d0")
}

// UnpackTokenTransferFailedError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error TokenTransferFailed(address token)
func (adjudicator *Adjudicator) UnpackTokenTransferFailedError(raw []byte) (*AdjudicatorTokenTransferFailed, error) {
	out := new(AdjudicatorTokenTransferFailed)
	if err := adjudicator.abi.UnpackIntoInterface(out, "TokenTransferFailed", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// AdjudicatorUnsignedProofNotEmpty represents a UnsignedProofNotEmpty error raised by the Adjudicator contract.
type AdjudicatorUnsignedProofNotEmpty struct {
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error UnsignedProofNotEmpty()
func AdjudicatorUnsignedProofNotEmptyErrorID() common.Hash {
	return common.HexToHash("0x90e25081c89b335ab39af9ca517878cc4f33b74666abd4362d92c339d7c8956b")
}

// UnpackUnsignedProofNotEmptyError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error UnsignedProofNotEmpty()
func (adjudicator *Adjudicator) UnpackUnsignedProofNotEmptyError(raw []byte) (*AdjudicatorUnsignedProofNotEmpty, error) {
	out := new(AdjudicatorUnsignedProofNotEmpty)
	if err := adjudicator.abi.UnpackIntoInterface(out, "UnsignedProofNotEmpty", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// AdjudicatorWrongMsgValue represents a WrongMsgValue error raised by the Adjudicator contract.
type AdjudicatorWrongMsgValue struct {
	Expected *big.Int
	Actual   *big.Int
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error WrongMsgValue(uint256 expected, uint256 actual)
func AdjudicatorWrongMsgValueErrorID() common.Hash {
	return common.HexToHash("0xdfd87a73db9f9dc005c9652c6f47b901349715de9fa687fa738c747a4c995c56")
}

// UnpackWrongMsgValueError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error WrongMsgValue(uint256 expected, uint256 actual)
func (adjudicator *Adjudicator) UnpackWrongMsgValueError(raw []byte) (*AdjudicatorWrongMsgValue, error) {
	out := new(AdjudicatorWrongMsgValue)
	if err := adjudicator.abi.UnpackIntoInterface(out, "WrongMsgValue", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// AdjudicatorWrongPhase represents a WrongPhase error raised by the Adjudicator contract.
type AdjudicatorWrongPhase struct {
	ChannelId [32]byte
	Phase     uint8
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error WrongPhase(bytes32 channelId, uint8 phase)
func AdjudicatorWrongPhaseErrorID() common.Hash {
	return common.HexToHash("0xa1365a0a80638d1f01ee53ca3c9919c387cb33053ac248a32f152920d0466ebb")
}

// UnpackWrongPhaseError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error WrongPhase(bytes32 channelId, uint8 phase)
func (adjudicator *Adjudicator) UnpackWrongPhaseError(raw []byte) (*AdjudicatorWrongPhase, error) {
	out := new(AdjudicatorWrongPhase)
	if err := adjudicator.abi.UnpackIntoInterface(out, "WrongPhase", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// AdjudicatorWrongSigner represents a WrongSigner error raised by the Adjudicator contract.
type AdjudicatorWrongSigner struct {
	Expected  common.Address
	Recovered common.Address
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error WrongSigner(address expected, address recovered)
func AdjudicatorWrongSignerErrorID() common.Hash {
	return common.HexToHash("0x366d29f7de543b1e5962d6f7315450f1f5ec3d853d28dca80282b4c242185268")
}

// UnpackWrongSignerError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error WrongSigner(address expected, address recovered)
func (adjudicator *Adjudicator) UnpackWrongSignerError(raw []byte) (*AdjudicatorWrongSigner, error) {
	out := new(AdjudicatorWrongSigner)
	if err := adjudicator.abi.UnpackIntoInterface(out, "WrongSigner", raw); err != nil {
		return nil, err
	}
	return out, nil
}

// AdjudicatorZeroAmount represents a ZeroAmount error raised by the Adjudicator contract.
type AdjudicatorZeroAmount struct {
}

// ErrorID returns the hash of canonical representation of the error's signature.
//
// Solidity: error ZeroAmount()
func AdjudicatorZeroAmountErrorID() common.Hash {
	return common.HexToHash("0x1f2a2005cb66a8e145327e8814e243a0996aec9bfe1e15a495778b1236dbd485")
}

// UnpackZeroAmountError is the Go binding used to decode the provided
// error data into the corresponding Go error struct.
//
// Solidity: error ZeroAmount()
func (adjudicator *Adjudicator) UnpackZeroAmountError(raw []byte) (*AdjudicatorZeroAmount, error) {
	out := new(AdjudicatorZeroAmount)
	if err := adjudicator.abi.UnpackIntoInterface(out, "ZeroAmount", raw); err != nil {
		return nil, err
	}
	return out, nil
}
