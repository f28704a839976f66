package channel

import "fmt"

// Phase is where a channel is in its life.
type Phase uint8

// The phases of a channel.
const (
	// Opening: both sides agreed on the parameters; the open transaction is
	// not yet seen on chain. Nothing can be paid.
	Opening Phase = iota + 1
	// Open: the channel exists on chain; payments, deposits and withdrawals
	// flow.
	Open
	// Closing: this side signed cooperative-close terms. It pays and accepts
	// nothing until the terms are used on chain or expire.
	Closing
	// Closed: somebody force-closed on chain; the challenge period runs and
	// newer proofs may be presented.
	Closed
	// Settled: the adjudicator paid out. Terminal.
	Settled
)

var phaseNames = [...]string{Opening: "opening", Open: "open", Closing: "closing", Closed: "closed", Settled: "settled"}

// String implements fmt.Stringer.
func (p Phase) String() string {
	if p >= Opening && p <= Settled {
		return phaseNames[p]
	}
	return fmt.Sprintf("Phase(%d)", uint8(p))
}

// Valid reports whether p is a known phase.
func (p Phase) Valid() bool { return p >= Opening && p <= Settled }

// event is an input that may move a channel from one phase to another.
type event uint8

const (
	evChainOpened   event = iota + 1 // the open transaction is on chain
	evSignClose                      // this side signs cooperative-close terms
	evCloseExpired                   // the signed terms expired unused
	evChainClosed                    // a force close is on chain
	evChainCoopDone                  // a cooperative close is on chain
	evChainSettled                   // settle is on chain
)

// transitions is the complete table of allowed phase changes. Anything not
// listed is refused with ErrWrongPhase. Operations that keep the phase
// (paying, deposits, withdrawals, proofs presented in a dispute) check the
// phase themselves.
var transitions = map[Phase]map[event]Phase{
	Opening: {evChainOpened: Open},
	Open:    {evSignClose: Closing, evChainClosed: Closed, evChainCoopDone: Settled},
	Closing: {evCloseExpired: Open, evChainClosed: Closed, evChainCoopDone: Settled},
	Closed:  {evChainCoopDone: Settled, evChainSettled: Settled},
	Settled: {},
}

// next returns the phase after ev, or a PhaseError naming op.
func next(p Phase, ev event, op string) (Phase, error) {
	if to, ok := transitions[p][ev]; ok {
		return to, nil
	}
	return p, &PhaseError{Op: op, Phase: p}
}
