// Package crypto holds tinypay's keys, addresses, signatures and EIP-712
// digests.
//
// A node's identity is a secp256k1 key; its Ethereum-style address doubles as
// its on-chain account. Keys are stored on disk as Ethereum keystore v3 JSON
// files (scrypt, AES-128-CTR, keccak MAC), so standard Ethereum tools can read
// them.
//
// Everything tinypay signs is an EIP-712 typed-data digest under the domain
// EIP712Domain(string name,string version,uint256 chainId,address
// verifyingContract) with name "tinypay" and version "1", where the verifying
// contract is the adjudicator. The three message types are
//
//	BalanceProof(bytes32 channelId,uint64 nonce,uint256 transferred)
//	CooperativeClose(bytes32 channelId,uint256 balanceA,uint256 balanceB,uint64 expiry)
//	Withdraw(bytes32 channelId,address participant,uint256 totalWithdrawn,uint64 expiry)
//
// Signatures are 65 bytes [R||S||V] with V in {27, 28} and S in the lower half
// of the curve order, so the adjudicator contract can check them with
// ecrecover. Recover and Verify reject anything else with an error that
// matches ErrInvalidSignature.
//
// Example:
//
//	key, _ := crypto.GenerateKey()
//	dom := crypto.NewDomain(chainID, adjudicator)
//	digest := dom.BalanceProofDigest(channelID, 1, uint256.NewInt(100))
//	sig, _ := key.Sign(digest)
//	err := crypto.Verify(digest, sig, key.Address()) // nil
//
// All functions are safe for concurrent use; a Domain is an immutable value.
// Signing costs about 50 µs on a small machine. Recovery (and so Verify)
// runs in libsecp256k1 through go-ethereum's cgo binding when the binary is
// built with cgo, and costs about a quarter of the 175 µs it costs in
// decred's pure Go, the back end of a build without cgo (CGO_ENABLED=0);
// both accept and reject exactly the same signatures. Keys and signing are
// decred's in both. Callers should still sign and verify once per proof,
// never once per message hop.
package crypto
