// Package evm is the settlement backend on an EVM chain: tinypay's
// adjudicator contract (settlement/evm/contracts), reached over JSON-RPC
// with go-ethereum's client, or in tests through go-ethereum's simulated
// chain. A *Backend implements settlement.Backend for one chain, one
// adjudicator and one account, whose key signs and pays for transactions.
//
//	cfg := evm.DefaultConfig()
//	cfg.ChainID, cfg.Adjudicator = 1337, adjudicator
//	b, err := evm.Dial(ctx, "http://127.0.0.1:8545", key, cfg)
//	if err != nil { ... } // ErrUnavailable, ErrWrongChain, ErrNoContract
//	defer b.Close()
//	r, err := b.Open(ctx, params, uint256.NewInt(1e6))
//
// # Transactions
//
// Every transaction method first simulates the call (eth_estimateGas at the
// latest block), so most reverts come back as a *settlement.RevertError
// with the contract's custom error decoded, e.g.
// "NotIncreasing(current=5, proposed=5)", without spending gas. A value or
// gas the account cannot pay gives ErrInsufficientFunds, likewise before
// anything is sent. Deadlines the next block will have passed (a withdrawal
// or close expiry, the end of the challenge period for Update) are refused
// the same way. Then the transaction is signed (EIP-1559 fees: twice the
// base fee plus the suggested tip; the gas estimate plus
// Config.GasHeadroom percent), sent, and awaited: the method returns when
// it is mined and has Config.Confirmations blocks on top. A transaction
// that reverts on chain anyway returns its Receipt (it paid for gas) and a
// *settlement.RevertError with the reason found by replaying it.
//
// Token deposits (Open, Deposit on an ERC-20 channel) check the token
// balance, then approve the adjudicator for exactly the amount when the
// allowance is short, then deposit; Receipt.Fee covers both transactions.
//
// Settle needs a latest block past settleAfter (estimation runs at the
// latest block's timestamp): it waits for one, polling, if that is due
// within Config.SettleWait, and otherwise returns at once with the
// ChallengePeriodNotOver revert and the seconds that remain.
//
// # Transfers
//
// QuoteTransfer, SignTransfer and SendTransfer move the account's own ETH
// or tokens elsewhere (settlement.Transferrer). A plain ETH transfer to an
// account without code gets exactly the intrinsic 21,000 gas; a token
// transfer, or ETH to a contract, is simulated first (a refusal comes back
// decoded) and gets the headroom. ETH must cover the amount plus the gas
// limit at the fee cap; "all" (TransferRequest.All) sends the balance less
// Keep less that bound, so what the fee does not use stays behind. Signing
// takes the next nonce without sending; SendTransfer sends (or sends
// again: a mined transaction is only awaited, and the chain carries out a
// nonce once) and reports ErrDropped once another transaction has taken
// the nonce.
//
// # Concurrency
//
// A Backend is safe for concurrent use. Sending is serialized per backend
// with a locally kept nonce, read again from the pending state after any
// send error or receipt timeout; waiting for receipts runs concurrently.
// Approve-then-deposit flows are serialized so approvals do not overwrite
// each other. Two Backends (or other software) sending from the same key
// make the nonces collide; the backend retries a send once after a nonce
// error.
//
// # Reads and events
//
// Channel, Payout and Balance read the latest block; Head and Events the
// confirmed head (latest minus Confirmations). Events polls eth_getLogs in
// bounded ranges and returns a cursor that resumes exactly (see
// Backend.Events).
package evm
