package tower

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/channel"
	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/node"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
	"github.com/tinypay/tinypay/settlement"
	"github.com/tinypay/tinypay/settlement/evm"
	"github.com/tinypay/tinypay/settlement/evm/evmtest"
)

// world is a simulated chain with the adjudicator; Alice pays Bob, whom
// the tower (Carol's key, which pays its gas) serves.
type world struct {
	t     *testing.T
	chain *evmtest.Chain
	alice *evm.Backend
	tower *evm.Backend
	st    *Store
	srv   *Server
	dir   string
}

func newWorld(t *testing.T, mutate ...func(*Config)) *world {
	t.Helper()
	c := evmtest.NewChain(t)
	w := &world{t: t, chain: c, alice: c.Backend(t, c.Alice), tower: c.Backend(t, c.Carol), dir: t.TempDir()}
	w.open(mutate...)
	return w
}

// open opens the tower's store and server (again, after close).
func (w *world) open(mutate ...func(*Config)) {
	w.t.Helper()
	st, err := OpenStore(w.dir, evmtest.ChainID, crypto.Address(w.chain.Adjudicator), nil)
	if err != nil {
		w.t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Serve = []crypto.Address{w.chain.Bob.Address()}
	cfg.ChainPoll = 20 * time.Millisecond
	for _, m := range mutate {
		m(&cfg)
	}
	srv, err := NewServer(cfg, w.tower, st, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	w.st, w.srv = st, srv
	w.t.Cleanup(w.close)
}

func (w *world) close() {
	if w.srv != nil {
		w.srv.Stop()
		w.st.Close()
		w.srv, w.st = nil, nil
	}
}

func (w *world) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	w.t.Cleanup(cancel)
	return ctx
}

// params returns new channel parameters between a and b (ETH, challenge
// period 3600 s).
func (w *world) params(a, b crypto.Address) channel.Params {
	var salt crypto.Hash
	rand.Read(salt[:])
	return channel.Params{ChainID: evmtest.ChainID, Adjudicator: crypto.Address(w.chain.Adjudicator),
		Participants: [2]crypto.Address{a, b}, ChallengePeriod: 3600, Salt: salt}
}

// openChannel opens a channel from Alice to Bob with a deposit of 1000 wei.
func (w *world) openChannel() channel.Params {
	w.t.Helper()
	p := w.params(w.chain.Alice.Address(), w.chain.Bob.Address())
	if _, err := w.alice.Open(w.ctx(), settlement.Params(p), uint256.NewInt(1000)); err != nil {
		w.t.Fatal(err)
	}
	return p
}

// proof is key's signed proof of amount at nonce in channel p.
func proof(t *testing.T, key *crypto.PrivateKey, p channel.Params, nonce, amount uint64) channel.Proof {
	t.Helper()
	pr := channel.Proof{Channel: p.ID(), Nonce: nonce, Transferred: *uint256.NewInt(amount)}
	sig, err := key.Sign(p.Domain().BalanceProofDigest(pr.Channel, nonce, &pr.Transferred))
	if err != nil {
		t.Fatal(err)
	}
	pr.Sig = sig
	return pr
}

// msg is the TowerProof a node sends for pr.
func msg(p channel.Params, pr channel.Proof) *peerv1.TowerProof {
	return proofMessage(node.IncomingProof{Params: p, Proof: pr}).GetTowerProof()
}

// dump returns every record the store holds, encoded, by key.
func (w *world) dump() map[string]string {
	w.t.Helper()
	out := map[string]string{}
	if err := w.st.Records(func(r *Record) error {
		out[string(recordKey(r.Proof.Channel, r.Payer))] = string(encodeRecord(r))
		return nil
	}); err != nil {
		w.t.Fatal(err)
	}
	ds, err := w.st.Disputes()
	if err != nil {
		w.t.Fatal(err)
	}
	for id, until := range ds {
		out[string(disputeKey(id))] = string(u64(until))
	}
	return out
}

func sameDump(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
