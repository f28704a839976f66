package evm_test

import (
	"testing"

	"github.com/ethereum/go-ethereum/ethclient/simulated"

	"github.com/tinypay/tinypay/settlement/evm"
	"github.com/tinypay/tinypay/settlement/evm/evmtest"
	"github.com/tinypay/tinypay/settlement/settlementtest"
)

// The simulated backend's client is a Client as it is.
var _ evm.Client = simulated.Client(nil)

// TestConformance runs the settlement conformance suite on the simulated
// chain, a fresh chain per case.
func TestConformance(t *testing.T) {
	settlementtest.Run(t, func(t *testing.T) *settlementtest.Harness {
		return evmtest.NewChain(t).Harness(t)
	})
}
