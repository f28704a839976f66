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
	// Abandoned: the open never reached the chain and this side gave it up.
	// Nothing is locked and nothing can be paid. Should the open reach the
	// chain after all, the channel is Open.
	Abandoned
)

var phaseNames = [...]string{Opening: "opening", Open: "open", Closing: "closing", Closed: "closed", Settled: "settled", Abandoned: "abandoned"}

// String implements fmt.Stringer.
func (p Phase) String() string {
	if p.Valid() {
		return phaseNames[p]
	}
	return fmt.Sprintf("Phase(%d)", uint8(p))
}

// Valid reports whether p is a known phase.
func (p Phase) Valid() bool { return p >= Opening && p <= Abandoned }

// Terminal reports whether nothing more can happen to a channel in phase p
// that needs the peer or the chain: it is settled, or abandoned before it
// existed.
func (p Phase) Terminal() bool { return p == Settled || p == Abandoned }

// event is an input that may move a channel from one phase to another.
type event uint8

const (
	evChainOpened   event = iota + 1 // the open transaction is on chain
	evSignClose                      // this side signs cooperative-close terms
	evCloseExpired                   // the signed terms expired unused
	evChainClosed                    // a force close is on chain
	evChainCoopDone                  // a cooperative close is on chain
	evChainSettled                   // settle is on chain
	evAbandon                        // this side gives up an open that is not on chain
)

// transitions is the complete table of allowed phase changes. Anything not
// listed is refused with ErrWrongPhase. Operations that keep the phase
// (paying, deposits, withdrawals, proofs presented in a dispute) check the
// phase themselves; the operations in progress are in ops below.
var transitions = map[Phase]map[event]Phase{
	Opening:   {evChainOpened: Open, evAbandon: Abandoned},
	Open:      {evSignClose: Closing, evChainClosed: Closed, evChainCoopDone: Settled},
	Closing:   {evCloseExpired: Open, evChainClosed: Closed, evChainCoopDone: Settled},
	Closed:    {evChainCoopDone: Settled, evChainSettled: Settled},
	Settled:   {},
	Abandoned: {evChainOpened: Open},
}

// next returns the phase after ev, or a PhaseError naming op.
func next(p Phase, ev event, op string) (Phase, error) {
	if to, ok := transitions[p][ev]; ok {
		return to, nil
	}
	return p, &PhaseError{Op: op, Phase: p}
}

// Op is an operation this side has in progress on a channel: one that waits
// for the peer or the chain to finish. At most one runs at a time. Ops are
// not persisted: after a restart none is in progress, and the duties that
// follow from the state (a countersigned close or withdrawal to submit,
// proofs to present, a settle that is due) are started again by ChainTime.
type Op uint8

// The operations.
const (
	OpNone Op = iota
	// OpOpen: the open transaction is on its way.
	OpOpen
	// OpDeposit: a top-up is on its way.
	OpDeposit
	// OpWithdraw: this side's withdrawal is out for countersigning, or on
	// its way to the chain.
	OpWithdraw
	// OpClose: a cooperative close. While the phase is still Open it is
	// draining: this side signs no new payments and waits for its proofs in
	// flight to be acknowledged; then it signs the terms (Closing), waits for
	// the countersignature and submits them.
	OpClose
	// OpForceClose: the force close is on its way.
	OpForceClose
	// OpDispute: newer proofs are on their way to the chain.
	OpDispute
	// OpSettle: the settle transaction is on its way.
	OpSettle
)

var opNames = [...]string{OpNone: "none", OpOpen: "open", OpDeposit: "deposit", OpWithdraw: "withdraw",
	OpClose: "cooperative close", OpForceClose: "force close", OpDispute: "dispute", OpSettle: "settle"}

// String implements fmt.Stringer.
func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// ops is the complete table of which operation may start in which phase.
var ops = map[Phase]map[Op]bool{
	Opening:   {OpOpen: true},
	Open:      {OpDeposit: true, OpWithdraw: true, OpClose: true, OpForceClose: true},
	Closing:   {OpClose: true, OpForceClose: true},
	Closed:    {OpDispute: true, OpSettle: true},
	Settled:   {},
	Abandoned: {},
}
