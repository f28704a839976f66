package rpc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/sha3"
	"google.golang.org/protobuf/proto"

	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
)

var testEKM = bytes.Repeat([]byte{0xee}, exporterLength)

// The digest is exactly the layout peer.proto documents, computed here
// with an independent keccak.
func TestHelloDigestLayout(t *testing.T) {
	addr := bobKey.Address()
	var cid [8]byte
	binary.BigEndian.PutUint64(cid[:], testChain)
	h := sha3.NewLegacyKeccak256()
	for _, part := range [][]byte{[]byte("tinypay/peer/hello/v1"), []byte("dialer"), testEKM, cid[:], testAdjudicator[:], addr[:]} {
		h.Write(part)
	}
	want := h.Sum(nil)
	got := helloDigest(roleDialer, testEKM, testChain, testAdjudicator, addr)
	if !bytes.Equal(got[:], want) {
		t.Fatalf("digest %x, want %x", got, want)
	}
	if helloDigest(roleListener, testEKM, testChain, testAdjudicator, addr) == got {
		t.Fatal("role is not bound")
	}
}

func TestCheckHello(t *testing.T) {
	alice := testConfig(t, aliceKey) // the verifier
	bob := bobKey.Address()
	tests := []struct {
		name   string
		mutate func(h *peerv1.Hello, m *peerv1.Message) *peerv1.Message
		ekm    []byte // the verifier's session; nil = the signer's
		role   string // the role the verifier expects; "" = dialer
		kind   error  // nil = accepted
	}{
		// An honest dialer's Hello.
		{"ok", nil, nil, "", nil},
		// No listen address is fine.
		{"no listen address", func(h *peerv1.Hello, m *peerv1.Message) *peerv1.Message {
			h.ListenAddr, h.ListenAddrs = "", nil
			return m
		}, nil, "", nil},
		// Only listen_addr, as a peer of before listen_addrs sends it.
		{"listen_addr alone", func(h *peerv1.Hello, m *peerv1.Message) *peerv1.Message { h.ListenAddrs = nil; return m }, nil, "", nil},
		// Four addresses (a hot standby pair's and more).
		{"four listen addresses", func(h *peerv1.Hello, m *peerv1.Message) *peerv1.Message {
			h.ListenAddrs = []string{"bob.example:1", "b.example:2", "10.0.0.3:3", "[::1]:4"}
			return m
		}, nil, "", nil},
		// Only listen_addrs.
		{"listen_addrs alone", func(h *peerv1.Hello, m *peerv1.Message) *peerv1.Message {
			h.ListenAddr, h.ListenAddrs = "", []string{"b.example:2", "bob.example:1"}
			return m
		}, nil, "", nil},
		// Five addresses: more than a stranger may make this node hold.
		{"five listen addresses", func(h *peerv1.Hello, m *peerv1.Message) *peerv1.Message {
			h.ListenAddrs = []string{"bob.example:1", "b:2", "c:3", "d:4", "e:5"}
			return m
		}, nil, "", ErrMalformedHello},
		// A thousand.
		{"a thousand listen addresses", func(h *peerv1.Hello, m *peerv1.Message) *peerv1.Message {
			h.ListenAddrs = append([]string{"bob.example:1"}, slices.Repeat([]string{"x:1"}, 999)...)
			return m
		}, nil, "", ErrMalformedHello},
		// An empty one among them.
		{"empty listen address in the list", func(h *peerv1.Hello, m *peerv1.Message) *peerv1.Message {
			h.ListenAddrs = []string{"bob.example:1", ""}
			return m
		}, nil, "", ErrMalformedHello},
		// One without a port.
		{"listen address form in the list", func(h *peerv1.Hello, m *peerv1.Message) *peerv1.Message {
			h.ListenAddrs = []string{"bob.example:1", "nohost"}
			return m
		}, nil, "", ErrMalformedHello},
		// A huge one.
		{"listen address length in the list", func(h *peerv1.Hello, m *peerv1.Message) *peerv1.Message {
			h.ListenAddrs = []string{"bob.example:1", strings.Repeat("a", 300) + ":1"}
			return m
		}, nil, "", ErrMalformedHello},
		// listen_addr says one thing, listen_addrs another.
		{"listen_addr not first", func(h *peerv1.Hello, m *peerv1.Message) *peerv1.Message {
			h.ListenAddrs = []string{"b.example:2", "bob.example:1"}
			return m
		}, nil, "", ErrMalformedHello},
		// Anything but a Hello first.
		{"not hello", func(*peerv1.Hello, *peerv1.Message) *peerv1.Message { return proof(1) }, nil, "", ErrNotHello},
		// An empty message.
		{"empty", func(*peerv1.Hello, *peerv1.Message) *peerv1.Message { return &peerv1.Message{} }, nil, "", ErrNotHello},
		// Version 0 (unset).
		{"version 0", func(h *peerv1.Hello, m *peerv1.Message) *peerv1.Message { h.ProtocolVersion = 0; return m }, nil, "", ErrProtocolVersion},
		// Version 2.
		{"version 2", func(h *peerv1.Hello, m *peerv1.Message) *peerv1.Message { h.ProtocolVersion = 2; return m }, nil, "", ErrProtocolVersion},
		// A 21-byte adjudicator.
		{"adjudicator length", func(h *peerv1.Hello, m *peerv1.Message) *peerv1.Message {
			h.Adjudicator = append(h.Adjudicator, 0)
			return m
		}, nil, "", ErrMalformedHello},
		// A missing address.
		{"address missing", func(h *peerv1.Hello, m *peerv1.Message) *peerv1.Message { h.Address = nil; return m }, nil, "", ErrMalformedHello},
		// The zero address.
		{"address zero", func(h *peerv1.Hello, m *peerv1.Message) *peerv1.Message { h.Address = make([]byte, 20); return m }, nil, "", ErrMalformedHello},
		// A 64-byte signature.
		{"signature length", func(h *peerv1.Hello, m *peerv1.Message) *peerv1.Message { h.Signature = h.Signature[:64]; return m }, nil, "", ErrMalformedHello},
		// A listen address that is no host:port.
		{"listen address form", func(h *peerv1.Hello, m *peerv1.Message) *peerv1.Message {
			h.ListenAddr, h.ListenAddrs = "nohost", nil
			return m
		}, nil, "", ErrMalformedHello},
		// A huge listen address.
		{"listen address length", func(h *peerv1.Hello, m *peerv1.Message) *peerv1.Message {
			h.ListenAddr, h.ListenAddrs = strings.Repeat("a", 300)+":1", nil
			return m
		}, nil, "", ErrMalformedHello},
		// Another chain.
		{"chain", func(h *peerv1.Hello, m *peerv1.Message) *peerv1.Message { h.ChainId = 1; return m }, nil, "", ErrWrongChain},
		// Another adjudicator.
		{"adjudicator", func(h *peerv1.Hello, m *peerv1.Message) *peerv1.Message {
			h.Adjudicator = bytes.Repeat([]byte{1}, 20)
			return m
		}, nil, "", ErrWrongAdjudicator},
		// V = 29.
		{"signature V", func(h *peerv1.Hello, m *peerv1.Message) *peerv1.Message { h.Signature[64] = 29; return m }, nil, "", ErrBadSignature},
		// R = 0.
		{"signature R", func(h *peerv1.Hello, m *peerv1.Message) *peerv1.Message {
			copy(h.Signature, make([]byte, 32))
			return m
		}, nil, "", ErrBadSignature},
		// Claims mallory, signed by bob.
		{"claims another address", func(h *peerv1.Hello, m *peerv1.Message) *peerv1.Message {
			a := malloryKey.Address()
			h.Address = a[:]
			return m
		}, nil, "", ErrWrongSigner},
		// Signed for another TLS session.
		{"other session", nil, bytes.Repeat([]byte{0xef}, exporterLength), "", ErrWrongSigner},
		// Signed as dialer, checked as listener.
		{"other role", nil, nil, roleListener, ErrWrongSigner},
		// Alice's own Hello.
		{"self", func(_ *peerv1.Hello, _ *peerv1.Message) *peerv1.Message {
			m, _ := newHello(&alice, roleDialer, testEKM)
			return m
		}, nil, "", ErrSelfConnect},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := dialerHello(t, bobKey, testEKM)
			m.GetHello().ListenAddr = "bob.example:1"
			m.GetHello().ListenAddrs = []string{"bob.example:1"}
			if tt.mutate != nil {
				m = tt.mutate(m.GetHello(), m)
			}
			ekm, role := testEKM, roleDialer
			if tt.ekm != nil {
				ekm = tt.ekm
			}
			if tt.role != "" {
				role = tt.role
			}
			ph, err := checkHello(&alice, role, ekm, m)
			addr := ph.addr
			if tt.kind == nil {
				if err != nil || addr != bob {
					t.Fatalf("checkHello = %s, %v; want bob", addr, err)
				}
				return
			}
			if !errors.Is(err, tt.kind) || !errors.Is(err, ErrHandshake) {
				t.Fatalf("checkHello: %v, want %v", err, tt.kind)
			}
		})
	}
}

// checkHello never panics, and whatever it accepts was signed by the
// address it returns, for this session, chain and adjudicator.
func FuzzCheckHello(f *testing.F) {
	cfg := testConfig(f, aliceKey)
	valid, err := proto.Marshal(dialerHello(f, bobKey, testEKM))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		var m peerv1.Message
		if proto.Unmarshal(b, &m) != nil {
			return
		}
		ph, err := checkHello(&cfg, roleDialer, testEKM, &m)
		addr := ph.addr
		if err != nil {
			if !errors.Is(err, ErrHandshake) {
				t.Fatalf("error %v does not match ErrHandshake", err)
			}
			return
		}
		h := m.GetHello()
		sig, _ := crypto.SignatureFromBytes(h.GetSignature())
		if crypto.Verify(helloDigest(roleDialer, testEKM, testChain, testAdjudicator, addr), sig, addr) != nil {
			t.Fatalf("accepted a hello not signed by %s", addr)
		}
	})
}

func TestErrorCodes(t *testing.T) {
	// Every handshake kind maps to a specific code, never the fallback.
	for _, kind := range []error{ErrProtocolVersion, ErrWrongChain, ErrWrongAdjudicator, ErrMalformedHello,
		ErrBadSignature, ErrWrongSigner, ErrSelfConnect, ErrNotHello, ErrHandshakeTimeout, ErrWrongPeer} {
		if c := errorCode(kind); c == errorCode(errors.New("other")) || c == 0 {
			t.Errorf("%v maps to %s", kind, c)
		}
	}
	if got := reasonText(errors.New(strings.Repeat("é", 1000))); len(got) > maxReasonBytes+3 || !strings.HasPrefix(got, "é") {
		t.Errorf("reasonText not bounded or not UTF-8: %d bytes", len(got))
	}
}
