package rpc

import (
	"encoding/binary"
	"fmt"
	"net"

	"github.com/tinypay/tinypay/crypto"
	peerv1 "github.com/tinypay/tinypay/proto/tinypay/peer/v1"
)

// ProtocolVersion is the peer protocol version this package speaks; a Hello
// with another one is refused.
const ProtocolVersion uint32 = 1

// Roles in the Hello digest: the side that opened the connection and the
// side that accepted it. Binding the role keeps a Hello from being
// reflected back on its own session.
const (
	roleDialer   = "dialer"
	roleListener = "listener"
)

// helloTag is the domain separator of the Hello digest.
const helloTag = "tinypay/peer/hello/v1"

// maxListenAddrBytes bounds Hello.listen_addr and each of listen_addrs.
const maxListenAddrBytes = 255

// MaxListenAddrs bounds the addresses a node advertises in its Hello
// (listen_addrs): a Hello with more is refused.
const MaxListenAddrs = 4

// helloDigest is keccak256("tinypay/peer/hello/v1" || role || exporter ||
// uint64be(chainID) || adjudicator || address), as documented in peer.proto.
func helloDigest(role string, ekm []byte, chainID uint64, adjudicator, addr crypto.Address) crypto.Hash {
	var cid [8]byte
	binary.BigEndian.PutUint64(cid[:], chainID)
	return crypto.Keccak256([]byte(helloTag), []byte(role), ekm, cid[:], adjudicator[:], addr[:])
}

// newHello builds and signs this node's Hello for the session with keying
// material ekm, in the given role.
func newHello(cfg *PeerConfig, role string, ekm []byte) (*peerv1.Message, error) {
	addr := cfg.Key.Address()
	sig, err := cfg.Key.Sign(helloDigest(role, ekm, cfg.ChainID, cfg.Adjudicator, addr))
	if err != nil {
		return nil, fmt.Errorf("sign hello: %w", err)
	}
	var all []string
	if cfg.ListenAddr != "" {
		all = append([]string{cfg.ListenAddr}, cfg.MoreListenAddrs...)
	}
	return &peerv1.Message{Body: &peerv1.Message_Hello{Hello: &peerv1.Hello{
		ProtocolVersion: ProtocolVersion,
		ChainId:         cfg.ChainID,
		Adjudicator:     cfg.Adjudicator[:],
		Address:         addr[:],
		Signature:       sig[:],
		ListenAddr:      cfg.ListenAddr,
		ListenAddrs:     all,
		BatchBytes:      uint32(cfg.MaxMessageBytes),
	}}}, nil
}

// peerHello is what the other side's Hello told: its proven address, the
// addresses it listens at, and the largest Batch it accepts (0: none).
type peerHello struct {
	addr        crypto.Address
	listenAddrs []string
	batchBytes  int
}

// checkHello verifies the first message m that the other side, in role
// role, sent on the session with keying material ekm. It returns what the
// Hello told (peerHello). Checks, in order: a Hello at
// all, the version, the form of every field, chain and adjudicator, the
// signature, and that the other side is not this node.
func checkHello(cfg *PeerConfig, role string, ekm []byte, m *peerv1.Message) (peerHello, error) {
	h, las, err := checkHelloFields(cfg, role, ekm, m)
	if err != nil {
		return peerHello{}, err
	}
	return peerHello{addr: h, listenAddrs: las, batchBytes: int(m.GetHello().GetBatchBytes())}, nil
}

// checkHelloFields is checkHello's checks; it returns the proven address
// and the advertised listen addresses.
func checkHelloFields(cfg *PeerConfig, role string, ekm []byte, m *peerv1.Message) (crypto.Address, []string, error) {
	var none crypto.Address
	h := m.GetHello()
	if h == nil {
		return none, nil, fmt.Errorf("%w (got %s)", ErrNotHello, bodyName(m))
	}
	if h.GetProtocolVersion() != ProtocolVersion {
		return none, nil, fmt.Errorf("%w: %d, want %d", ErrProtocolVersion, h.GetProtocolVersion(), ProtocolVersion)
	}
	adj, err := crypto.AddressFromBytes(h.GetAdjudicator())
	if err != nil {
		return none, nil, fmt.Errorf("%w: adjudicator is %d bytes, want %d", ErrMalformedHello, len(h.GetAdjudicator()), crypto.AddressLength)
	}
	addr, err := crypto.AddressFromBytes(h.GetAddress())
	if err != nil {
		return none, nil, fmt.Errorf("%w: address is %d bytes, want %d", ErrMalformedHello, len(h.GetAddress()), crypto.AddressLength)
	}
	if addr.IsZero() {
		return none, nil, fmt.Errorf("%w: zero address", ErrMalformedHello)
	}
	sig, err := crypto.SignatureFromBytes(h.GetSignature())
	if err != nil {
		return none, nil, fmt.Errorf("%w: signature is %d bytes, want %d", ErrMalformedHello, len(h.GetSignature()), crypto.SignatureLength)
	}
	las, err := helloListenAddrs(h)
	if err != nil {
		return none, nil, err
	}
	if h.GetChainId() != cfg.ChainID {
		return none, nil, fmt.Errorf("%w: %d, want %d", ErrWrongChain, h.GetChainId(), cfg.ChainID)
	}
	if adj != cfg.Adjudicator {
		return none, nil, fmt.Errorf("%w: %s, want %s", ErrWrongAdjudicator, adj, cfg.Adjudicator)
	}
	signer, err := crypto.Recover(helloDigest(role, ekm, h.GetChainId(), adj, addr), sig)
	if err != nil {
		return none, nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if signer != addr {
		return none, nil, fmt.Errorf("%w: claims %s", ErrWrongSigner, addr)
	}
	if addr == cfg.Key.Address() {
		return none, nil, fmt.Errorf("%w (%s)", ErrSelfConnect, addr)
	}
	return addr, las, nil
}

// helloListenAddrs returns the addresses a Hello advertises: listen_addrs
// (at most MaxListenAddrs, none empty, listen_addr first if set), or
// listen_addr alone from a peer that sends only it.
func helloListenAddrs(h *peerv1.Hello) ([]string, error) {
	la, las := h.GetListenAddr(), h.GetListenAddrs()
	if err := checkListenAddr(la); err != nil {
		return nil, err
	}
	if len(las) == 0 {
		if la == "" {
			return nil, nil
		}
		return []string{la}, nil
	}
	if len(las) > MaxListenAddrs {
		return nil, fmt.Errorf("%w: %d listen addresses, at most %d", ErrMalformedHello, len(las), MaxListenAddrs)
	}
	for _, a := range las {
		if a == "" {
			return nil, fmt.Errorf("%w: an empty listen address", ErrMalformedHello)
		}
		if err := checkListenAddr(a); err != nil {
			return nil, err
		}
	}
	if la != "" && las[0] != la {
		return nil, fmt.Errorf("%w: listen_addr %q is not the first of listen_addrs", ErrMalformedHello, la)
	}
	return append([]string(nil), las...), nil
}

func checkListenAddr(la string) error {
	if la == "" {
		return nil
	}
	if len(la) > maxListenAddrBytes {
		return fmt.Errorf("%w: listen address is %d bytes, at most %d", ErrMalformedHello, len(la), maxListenAddrBytes)
	}
	if _, _, err := net.SplitHostPort(la); err != nil {
		return fmt.Errorf("%w: listen address: %v", ErrMalformedHello, err)
	}
	return nil
}

// bodyName names the kind of a message for errors and logs.
func bodyName(m *peerv1.Message) string {
	if m == nil || m.GetBody() == nil {
		return "an empty message"
	}
	return fmt.Sprintf("%T", m.GetBody())
}

// handshakeFailure is the error a side returns when the other side's first
// message was an Error: the refusal, matching ErrHandshake and *RemoteError.
func handshakeFailure(m *peerv1.Message) error {
	e := m.GetError()
	if e == nil {
		return nil
	}
	return fmt.Errorf("%w: refused by peer: %w", ErrHandshake, remoteError(e))
}

// errorMessage is the session-level Error message that carries reason.
func errorMessage(reason error) *peerv1.Message {
	return &peerv1.Message{Body: &peerv1.Message_Error{Error: &peerv1.Error{
		Code:    uint32(errorCode(reason)),
		Message: reasonText(reason),
	}}}
}
