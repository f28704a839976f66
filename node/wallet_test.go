package node

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/settlement"
	"github.com/tinypay/tinypay/store"
)

func sendReq(key string, to crypto.Address, amount uint64) SendRequest {
	return SendRequest{Key: key, To: to, Amount: *uint256.NewInt(amount)}
}

func (tn *testNode) send(req SendRequest) (TransferInfo, error) {
	tn.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), watchdogLimit)
	defer cancel()
	var info TransferInfo
	var err error
	guard(tn.t, tn.name+" Send "+req.Key, func() { info, err = tn.n.Send(ctx, req) })
	return info, err
}

// transferEvents returns the node's transfer events, in log order.
func (tn *testNode) transferEvents() []*TransferEvent {
	tn.t.Helper()
	var out []*TransferEvent
	var after uint64
	for {
		page, err := tn.n.store.Log(after, 256)
		if err != nil {
			tn.t.Fatal(err)
		}
		if len(page) == 0 {
			return out
		}
		for _, e := range page {
			after = e.GetSeq()
			ev, err := tn.n.eventOf(e)
			if err != nil {
				tn.t.Fatal(err)
			}
			if ev.Kind() == KindTransfer {
				out = append(out, ev.Transfer)
			}
		}
	}
}

// TestSendMovesFundsOnce: a send moves the amount on chain once and is
// reported sent, with a transfer event for each step; a retry with the same
// key returns the same transfer and sends nothing; the same key for
// another transfer is refused.
func TestSendMovesFundsOnce(t *testing.T) {
	w := newNet(t)
	alice := w.add("alice", 1)
	to := seedKey(9).Address()
	info, err := alice.send(sendReq("rent", to, 1000))
	if err != nil {
		t.Fatal(err)
	}
	if info.Status != TransferSent || info.Amount.Uint64() != 1000 || info.Fee.Uint64() != transferFee || info.Origin != OriginOperator {
		t.Fatalf("send: %+v", info)
	}
	if got := w.chain.wallet(to); got.Uint64() != 1000 {
		t.Fatalf("the recipient holds %d, want 1000", got.Uint64())
	}
	if got := w.chain.wallet(alice.key.Address()); got.Uint64() != 1_000_000-1000-transferFee {
		t.Fatalf("alice holds %d, want %d", got.Uint64(), 1_000_000-1000-transferFee)
	}
	again, err := alice.send(sendReq("rent", to, 1000))
	if err != nil || again.TxHash != info.TxHash || again.Status != TransferSent {
		t.Fatalf("retry with the same key: %+v %v, want the first transfer", again, err)
	}
	if _, err := alice.send(sendReq("rent", to, 999)); !errors.Is(err, ErrIdempotency) {
		t.Fatalf("the same key for another amount: %v, want ErrIdempotency", err)
	}
	if got, n := w.chain.wallet(to), w.chain.transferSends(); got.Uint64() != 1000 || n != 1 {
		t.Fatalf("after the retries the recipient holds %d from %d sends, want 1000 from 1", got.Uint64(), n)
	}
	evs := alice.transferEvents()
	if len(evs) != 2 || evs[0].Status != TransferSending || evs[1].Status != TransferSent || evs[1].TxHash != info.TxHash || evs[1].To != to {
		t.Fatalf("transfer events: %+v", evs)
	}
	// The same key after a restart: still the first transfer.
	alice.restart()
	if again, err := alice.send(sendReq("rent", to, 1000)); err != nil || again.TxHash != info.TxHash {
		t.Fatalf("retry after a restart: %+v %v", again, err)
	}
	if n := w.chain.transferSends(); n != 1 {
		t.Fatalf("%d sends, want 1", n)
	}
}

// TestSendAll: All sends the whole balance less the most the gas can cost.
func TestSendAll(t *testing.T) {
	w := newNet(t)
	alice := w.add("alice", 1)
	to := seedKey(9).Address()
	info, err := alice.send(SendRequest{Key: "all", To: to, All: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := w.chain.wallet(to); got.Uint64() != 1_000_000-transferFee || !info.All || info.Amount.Uint64() != got.Uint64() {
		t.Fatalf("all: the recipient holds %d, transfer %+v", got.Uint64(), info)
	}
}

// TestSendRefusals: each bad request is refused with its own error, and
// nothing is signed, recorded, logged or sent.
func TestSendRefusals(t *testing.T) {
	w := newNet(t)
	alice := w.add("alice", 1)
	to := seedKey(9).Address()
	for _, tc := range []struct {
		name string
		req  SendRequest
		want error
	}{
		// A retry could not be told from a new send.
		{"no key", sendReq("", to, 1), ErrInvalidArgument},
		// Keys are bounded like payment keys.
		{"key too long", sendReq(strings.Repeat("k", 257), to, 1), ErrInvalidArgument},
		// The sweeper's keys are its own.
		{"sweeper's key", sendReq("sweep:x", to, 1), ErrInvalidArgument},
		// Nothing to send.
		{"zero amount", sendReq("k", to, 0), ErrInvalidArgument},
		// Funds sent to the zero address are lost.
		{"zero address", sendReq("k", crypto.Address{}, 1), ErrInvalidArgument},
		// Sending to itself only costs gas.
		{"own account", sendReq("k", alice.key.Address(), 1), ErrInvalidArgument},
		// Channels and sends hold only the assets the node knows.
		{"unknown asset", SendRequest{Key: "k", To: to, Asset: crypto.Address{0x77}, Amount: *uint256.NewInt(1)}, ErrUnknownAsset},
		// An amount and all contradict each other.
		{"amount and all", SendRequest{Key: "k", To: to, Amount: *uint256.NewInt(1), All: true}, ErrInvalidArgument},
		// More than the wallet holds.
		{"above the balance", sendReq("k", to, 1_000_001), settlement.ErrInsufficientFunds},
		// The balance, but not the gas on top.
		{"no gas left", sendReq("k", to, 1_000_000), settlement.ErrInsufficientFunds},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := alice.send(tc.req); !errors.Is(err, tc.want) {
				t.Fatalf("%v, want %v", err, tc.want)
			}
			if _, err := alice.n.EstimateSend(context.Background(), tc.req); !strings.Contains(tc.name, "key") && !errors.Is(err, tc.want) {
				t.Fatalf("estimate: %v, want %v", err, tc.want)
			}
			list, err := alice.n.Transfers()
			if err != nil || len(list) != 0 {
				t.Fatalf("refused send recorded: %v %v", list, err)
			}
			if evs := alice.transferEvents(); len(evs) != 0 {
				t.Fatalf("refused send logged: %+v", evs)
			}
			if got, n := w.chain.wallet(alice.key.Address()), w.chain.transferSends(); got.Uint64() != 1_000_000 || n != 0 {
				t.Fatalf("refused send moved funds: alice holds %d after %d sends", got.Uint64(), n)
			}
		})
	}
	// A key refused for bad input stays free for a good request.
	if _, err := alice.send(sendReq("k", to, 5)); err != nil {
		t.Fatal(err)
	}
}

var errLost = errors.New("test: the endpoint's answer was lost")

// TestSendRestartBeforeOutcome: the node stops after a transfer is
// recorded — before it reached the chain, or after the chain carried it
// out but before the node learned it — and restarts. The recorded
// transaction is sent again at start: it moves the funds exactly once, and
// the transfer ends up recorded as sent.
func TestSendRestartBeforeOutcome(t *testing.T) {
	for _, stage := range []string{"before", "after"} {
		t.Run(stage, func(t *testing.T) {
			w := newNet(t)
			alice := w.add("alice", 1)
			to := seedKey(9).Address()
			w.chain.setTransferFault(func(s string, _ settlement.SignedTransfer) error {
				if s == stage {
					return errLost
				}
				return nil
			})
			if _, err := alice.send(sendReq("k", to, 700)); !errors.Is(err, ErrTransferPending) {
				t.Fatalf("send whose outcome is lost: %v, want ErrTransferPending", err)
			}
			moved := map[string]uint64{"before": 0, "after": 700}[stage]
			if got := w.chain.wallet(to); got.Uint64() != moved {
				t.Fatalf("the recipient holds %d before the restart, want %d", got.Uint64(), moved)
			}
			alice.stop()
			w.chain.setTransferFault(nil)
			alice.start()
			waitFor(t, "the transfer is recorded sent", func() bool {
				info, ok, err := alice.n.TransferByKey("k")
				return err == nil && ok && info.Status == TransferSent && !alice.n.wallet.busy()
			})
			if got, n := w.chain.wallet(to), w.chain.transferSends(); got.Uint64() != 700 || n != 1 {
				t.Fatalf("the recipient holds %d after %d sends, want 700 after 1", got.Uint64(), n)
			}
			if info, err := alice.send(sendReq("k", to, 700)); err != nil || info.Status != TransferSent {
				t.Fatalf("retry after the restart: %+v %v", info, err)
			}
		})
	}
}

// TestSendDropped: a recorded transfer that never reached the chain, whose
// nonce another transaction took meanwhile, is recorded failed, and moved
// nothing; the key then reports the failure and sends nothing more.
func TestSendDropped(t *testing.T) {
	w := newNet(t)
	alice := w.add("alice", 1)
	lost, other := seedKey(8).Address(), seedKey(9).Address()
	var stuck crypto.Hash
	w.chain.setTransferFault(func(s string, st settlement.SignedTransfer) error {
		if stuck == (crypto.Hash{}) {
			stuck = st.TxHash
		}
		if s == "before" && st.TxHash == stuck {
			return errLost
		}
		return nil
	})
	if _, err := alice.send(sendReq("lost", lost, 100)); !errors.Is(err, ErrTransferPending) {
		t.Fatalf("%v, want ErrTransferPending", err)
	}
	alice.restart() // a new backend: it signs the next send at the chain's nonce
	if _, err := alice.send(sendReq("other", other, 200)); err != nil {
		t.Fatal(err)
	}
	w.chain.setTransferFault(nil)
	waitFor(t, "the lost transfer is recorded failed", func() bool {
		info, ok, err := alice.n.TransferByKey("lost")
		return err == nil && ok && info.Status == TransferFailed && strings.Contains(info.Error, "dropped") && !alice.n.wallet.busy()
	})
	if got := w.chain.wallet(lost); !got.IsZero() {
		t.Fatalf("a dropped transfer moved %d", got.Uint64())
	}
	if info, err := alice.send(sendReq("lost", lost, 100)); !errors.Is(err, ErrTransferFailed) || info.Status != TransferFailed {
		t.Fatalf("the key of a failed transfer: %v", err)
	}
	if got := w.chain.wallet(lost); !got.IsZero() {
		t.Fatalf("retrying the key of a dropped transfer moved %d", got.Uint64())
	}
}

// sweepTo is a sweep policy for the fake chain's one asset (ETH here),
// keeping above, without a gas reserve.
func sweepTo(to crypto.Address, above uint64) func(*Config) {
	return func(c *Config) {
		c.Sweep.To = to
		c.Sweep.Above = []SweepThreshold{{Above: *uint256.NewInt(above)}}
		c.Sweep.GasReserve = uint256.Int{}
		c.Sweep.RetryDelay = 20 * time.Millisecond
	}
}

// TestSweepAfterClose: after a cooperative close pays bob out, bob's node
// sends what his wallet holds above the threshold (less the gas) to the
// sweep address; nothing is swept at start, when the wallet is at the
// threshold.
func TestSweepAfterClose(t *testing.T) {
	w := newNet(t)
	vault := seedKey(9).Address()
	alice, bob := w.add("alice", 1), w.add("bob", 2, withConfig(sweepTo(vault, 1_000_000)))
	alice.connect(bob)
	id := alice.open(bob, 1000)
	alice.pay(id, 300, "p")
	if got := w.chain.wallet(vault); !got.IsZero() {
		t.Fatalf("swept %d before any payout", got.Uint64())
	}
	ctx, cancel := context.WithTimeout(context.Background(), watchdogLimit)
	defer cancel()
	if _, err := alice.n.CloseChannel(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the payout is swept", func() bool { v := w.chain.wallet(vault); return v.Uint64() == 300-transferFee })
	if got := w.chain.wallet(bob.key.Address()); got.Uint64() != 1_000_000 {
		t.Fatalf("bob keeps %d, want the threshold 1000000", got.Uint64())
	}
	waitFor(t, "the sweep is recorded", func() bool {
		list, err := bob.n.Transfers()
		return err == nil && len(list) == 1 && list[0].Status == TransferSent && list[0].Origin == OriginSweep
	})
	evs := bob.transferEvents()
	if len(evs) != 2 || evs[1].Origin != OriginSweep || evs[1].Status != TransferSent || evs[1].Amount.Uint64() != 300-transferFee {
		t.Fatalf("bob's transfer events: %+v", evs)
	}
}

// TestSweepRestartBetweenSendAndRecord: the sweep reaches the chain, the
// node stops before it records that, and restarts. It resolves the
// recorded sweep first and then starts from the chain's balance, which the
// sweep lowered: nothing is swept twice.
func TestSweepRestartBetweenSendAndRecord(t *testing.T) {
	w := newNet(t)
	vault := seedKey(9).Address()
	alice, bob := w.add("alice", 1), w.add("bob", 2, withConfig(sweepTo(vault, 1_000_000)))
	alice.connect(bob)
	id := alice.open(bob, 1000)
	alice.pay(id, 300, "p")
	w.chain.setTransferFault(func(s string, _ settlement.SignedTransfer) error {
		if s == "after" {
			return errLost
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), watchdogLimit)
	defer cancel()
	if _, err := alice.n.CloseChannel(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the sweep reaches the chain", func() bool { return w.chain.transferSends() == 1 })
	bob.stop() // the sweep is recorded sending
	w.chain.setTransferFault(nil)
	bob.start()
	waitFor(t, "the sweep is recorded sent", func() bool {
		list, err := bob.n.Transfers()
		return err == nil && len(list) == 1 && list[0].Status == TransferSent
	})
	// Let the sweep after the start run: it finds nothing above the
	// threshold.
	waitFor(t, "the start's sweep ran", func() bool { return !bob.n.wallet.busy() })
	bob.restart()
	if got, n := w.chain.wallet(vault), w.chain.transferSends(); got.Uint64() != 300-transferFee || n != 1 {
		t.Fatalf("the vault holds %d after %d sends, want %d after 1", got.Uint64(), n, 300-transferFee)
	}
	if list, err := bob.n.Transfers(); err != nil || len(list) != 1 {
		t.Fatalf("bob's transfers: %+v %v, want the one sweep", list, err)
	}
	if ci := bob.channel(id); ci.Phase != channel.Settled {
		t.Fatalf("channel %s", ci.Phase)
	}
}

// TestSweepConfig: sweep policies that cannot work are refused.
func TestSweepConfig(t *testing.T) {
	usd := crypto.Address{0x05}
	for _, tc := range []struct {
		name string
		set  func(*SweepConfig)
	}{
		// Where would it go?
		{"thresholds without a destination", func(s *SweepConfig) { s.To = crypto.Address{}; s.Above = []SweepThreshold{{}} }},
		// What would it sweep?
		{"destination without thresholds", func(s *SweepConfig) { s.Above = nil }},
		// A token the node does not know.
		{"unknown asset", func(s *SweepConfig) { s.Above = []SweepThreshold{{Asset: crypto.Address{0x77}}} }},
		// Which threshold holds?
		{"two thresholds for one asset", func(s *SweepConfig) { s.Above = []SweepThreshold{{Asset: usd}, {Asset: usd}} }},
		// At least one try.
		{"no attempts", func(s *SweepConfig) { s.Attempts = 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Assets = []Asset{{Address: usd, Symbol: "USD", Decimals: 6}}
			cfg.Sweep.To, cfg.Sweep.Above = crypto.Address{0x09}, []SweepThreshold{{Asset: usd}}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("the base config: %v", err)
			}
			tc.set(&cfg.Sweep)
			if err := cfg.Validate(); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	// The node's own account.
	k := seedKey(1)
	cfg := DefaultConfig()
	cfg.Sweep.To, cfg.Sweep.Above = k.Address(), []SweepThreshold{{}}
	st, err := store.Open(store.DefaultConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, err = New(cfg, Deps{Key: k, Store: st, Chain: &fakeBackend{f: newFakeChain(), key: k}})
	if err == nil || !strings.Contains(err.Error(), "own account") {
		t.Fatalf("a sweep to the node's own account: %v", err)
	}
}
