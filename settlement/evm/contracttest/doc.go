// Package contracttest tests the settlement contracts (Adjudicator, TestToken)
// on go-ethereum's in-process simulated chain, configured at the Osaka fork
// that mainnet runs. It holds tests only: a real EVM executes the committed
// bytecode from package bindings, signatures are made with go-ethereum's
// crypto and EIP-712 digests with its signer/core/apitypes reference encoder.
//
// Every test builds its own chain, so tests are independent and may run in
// parallel. TestGas prints the gas table (go test -v -run TestGas) and fails
// if opening a channel or a cooperative close exceeds its gas target.
package contracttest
