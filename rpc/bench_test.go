package rpc

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
)

// benchPair connects bob to alice over loopback TLS and returns both ends.
func benchPair(b *testing.B) (bob, alice *PeerConn) {
	ts := startServer(b, testConfig(b, aliceKey), nil)
	bob = mustDial(b, testConfig(b, bobKey), ts.addr, crypto.Address{})
	return bob, ts.accepted(b)
}

// One-way throughput of BalanceProof-sized messages on one stream.
func BenchmarkPeerOneWay(b *testing.B) {
	bob, alice := benchPair(b)
	m := proof(1)
	b.SetBytes(int64(proto.Size(m)))
	done := make(chan error, 1)
	b.ResetTimer()
	go func() {
		for range b.N {
			if _, err := alice.Recv(); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for range b.N {
		if err := bob.Send(m); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// Round trip: a proof out, an Ack back, one at a time.
func BenchmarkPeerRoundTrip(b *testing.B) {
	bob, alice := benchPair(b)
	ack := &peerv1.Message{Body: &peerv1.Message_Ack{Ack: &peerv1.Ack{ChannelId: make([]byte, 32), Nonce: 1}}}
	go func() {
		for {
			if _, err := alice.Recv(); err != nil {
				return
			}
			if alice.Send(ack) != nil {
				return
			}
		}
	}()
	m := proof(1)
	b.ResetTimer()
	for range b.N {
		if err := bob.Send(m); err != nil {
			b.Fatal(err)
		}
		if _, err := bob.Recv(); err != nil {
			b.Fatal(err)
		}
	}
}
