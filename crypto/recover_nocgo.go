//go:build !cgo || gofuzz

package crypto

// recoveryBackend names the library that recovers signers in this build.
const recoveryBackend = "decred"

// recoverChecked recovers the signer of a signature that passed
// checkSignature. Without cgo that is decred's pure Go.
func recoverChecked(digest Hash, sig Signature) (Address, error) {
	return recoverPureGo(digest, sig)
}
