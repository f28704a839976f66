package store

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"

	storev1 "github.com/tinypay/tinypay/proto/tinypay/store/v1"
)

// TestReview9ProofSeedStress: commits, deletes and stale proofs on many
// channels while LoadChannels runs again and again: every valid proof is
// admitted and every stale one (lower nonce, or the same nonce with other
// contents) refused, whatever the seed's moment.
func TestReview9ProofSeedStress(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e testEngine) {
		cfg := e.config(t)
		const chans = 24
		disk := make([]uint64, chans) // nonce on disk of side 0, 0: none
		s := openTest(t, cfg)
		for i := range chans {
			disk[i] = uint64(3 + i%5)
			if err := commitProof(t, s, true, byte(i+1), disk[i]); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		other := func(ch byte, nonce uint64) *storev1.Proof {
			p := testProof(ch, nonce)
			p.Signature = fill(0x77, 65)
			return p
		}
		put := func(ch byte, newChannel bool, p *storev1.Proof) error {
			b := NewBatch()
			if newChannel {
				if err := b.PutChannel(testChannel(ch)); err != nil {
					return err
				}
			}
			if err := b.PutProof(0, p); err != nil {
				return err
			}
			_, err := s.Commit(context.Background(), b)
			return err
		}
		var wg sync.WaitGroup
		stop := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.LoadChannels(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		const workers = 4
		var ww sync.WaitGroup
		for w := range workers {
			ww.Add(1)
			go func() {
				defer ww.Done()
				r := rand.New(rand.NewPCG(uint64(w), 9))
				for range 300 {
					i := w + workers*r.IntN(chans/workers)
					ch := byte(i + 1)
					n := disk[i]
					switch op := r.IntN(6); {
					case op == 0: // delete the channel
						b := NewBatch()
						if err := b.DeleteChannel(chanID(ch)); err != nil {
							t.Error(err)
							return
						}
						if _, err := s.Commit(context.Background(), b); err != nil {
							t.Error(err)
							return
						}
						disk[i] = 0
					case n == 0: // made again
						nn := uint64(1 + r.IntN(3))
						if err := put(ch, true, testProof(ch, nn)); err != nil {
							t.Errorf("channel %d made again, first proof %d: %v", ch, nn, err)
							return
						}
						disk[i] = nn
					case op == 1 && n > 1: // stale: lower
						if err := put(ch, false, testProof(ch, n-1)); !errors.Is(err, ErrStaleProof) {
							t.Errorf("channel %d: proof %d below %d on disk: %v", ch, n-1, n, err)
							return
						}
					case op == 2: // stale: same nonce, other contents
						if err := put(ch, false, other(ch, n)); !errors.Is(err, ErrStaleProof) {
							t.Errorf("channel %d: proof %d with other contents: %v", ch, n, err)
							return
						}
					case op == 3: // the same again
						if err := put(ch, false, testProof(ch, n)); err != nil {
							t.Errorf("channel %d: proof %d again: %v", ch, n, err)
							return
						}
					default:
						nn := n + uint64(1+r.IntN(3))
						if err := put(ch, false, testProof(ch, nn)); err != nil {
							t.Errorf("channel %d: proof %d after %d: %v", ch, nn, n, err)
							return
						}
						disk[i] = nn
					}
				}
			}()
		}
		ww.Wait()
		close(stop)
		wg.Wait()
		for i := range chans {
			p, err := s.Proof(chanID(byte(i+1)), 0)
			var got uint64
			if err == nil {
				got = p.GetNonce()
			} else if !errors.Is(err, ErrNotFound) {
				t.Fatal(err)
			}
			if got != disk[i] {
				t.Errorf("channel %d: nonce %d on disk, want %d", i+1, got, disk[i])
			}
		}
	})
}
