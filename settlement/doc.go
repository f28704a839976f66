// Package settlement is the boundary between the node and the chain that
// holds channel deposits: an interface owned by the node side, made of
// small parts (Opener, Depositor, Withdrawer, Closer, Disputer, Settler,
// Reader, EventSource, Transferrer) that together form a Backend.
//
// The real backend is package evm: our adjudicator contract on any EVM chain
// reached over JSON-RPC, or go-ethereum's simulated chain in tests. Package
// devchain runs a local go-ethereum node in dev mode with the contract and
// a test dollar token deployed.
//
// Events are read by polling with a Cursor, only once they have the
// configured confirmations, so that a consumer that persists the cursor
// after handling each batch sees every event exactly once across restarts.
package settlement
