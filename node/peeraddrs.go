package node

import (
	"context"
	"errors"
	"fmt"
	gonet "net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tinypay/tinypay/crypto"
)

// A peer may be reachable at several addresses: a hot standby pair runs
// one node identity in two processes on two machines, and only the
// active one accepts peers. The node keeps up to MaxPeerAddrs addresses
// per peer, in the order it tries them (the one that answered last
// first), persists them with the peer's record, and dials them in turn.

// MaxPeerAddrs bounds the addresses the node keeps, and dials, per peer.
const MaxPeerAddrs = 4

// maxPeerAddrBytes bounds one address.
const maxPeerAddrBytes = 255

// CheckPeerAddr reports whether a is an address the node dials: host:port
// with a host (a name or an IP address, no spaces or control characters)
// and a port from 1 to 65535, at most 255 bytes. The error matches
// ErrInvalidArgument.
func CheckPeerAddr(a string) error {
	if len(a) > maxPeerAddrBytes {
		return fmt.Errorf("%w: peer address of %d bytes, at most %d", ErrInvalidArgument, len(a), maxPeerAddrBytes)
	}
	host, port, err := gonet.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("%w: peer address %q: want HOST:PORT", ErrInvalidArgument, a)
	}
	if host == "" {
		return fmt.Errorf("%w: peer address %q has no host", ErrInvalidArgument, a)
	}
	if strings.ContainsFunc(host, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '/' || r == '@' }) {
		return fmt.Errorf("%w: peer address %q: the host has characters no host name has", ErrInvalidArgument, a)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return fmt.Errorf("%w: peer address %q: the port is not 1 to 65535", ErrInvalidArgument, a)
	}
	return nil
}

// checkPeerAddrs checks addresses an operator gave: one at least, at
// most MaxPeerAddrs, each dialable.
func checkPeerAddrs(addrs []string) error {
	switch {
	case len(addrs) == 0:
		return fmt.Errorf("%w: no peer address", ErrInvalidArgument)
	case len(addrs) > MaxPeerAddrs:
		return fmt.Errorf("%w: %d peer addresses, at most %d", ErrInvalidArgument, len(addrs), MaxPeerAddrs)
	}
	for _, a := range addrs {
		if err := CheckPeerAddr(a); err != nil {
			return err
		}
	}
	return nil
}

// mergePeerAddrs returns the addresses of the lists in order, each once,
// without those the node does not dial (a peer may advertise anything),
// at most MaxPeerAddrs.
func mergePeerAddrs(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		for _, a := range l {
			if len(out) == MaxPeerAddrs {
				return out
			}
			if CheckPeerAddr(a) == nil && !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

// encodePeerAddrs is the stored form of a peer's addresses: one a line
// (an address has no newline). A node of before several addresses
// stored one, without a newline, which decodes alike.
func encodePeerAddrs(addrs []string) []byte { return []byte(strings.Join(addrs, "\n")) }

// decodePeerAddrs reads the stored form back, keeping what the node
// dials, at most MaxPeerAddrs.
func decodePeerAddrs(v []byte) []string { return mergePeerAddrs(strings.Split(string(v), "\n")) }

// ConnectPeerAddrs dials a peer at the first of addrs that answers (each
// in turn, expecting the node address want, unless zero), keeps the
// connection, and remembers every address to redial the peer at: the one
// that answered first, then those the peer advertises in its Hello, then
// the others given, at most MaxPeerAddrs. addrs are the addresses of one
// node (a hot standby pair's processes), 1 to MaxPeerAddrs of them.
func (n *Node) ConnectPeerAddrs(ctx context.Context, addrs []string, want crypto.Address) (PeerInfo, error) {
	if err := n.usable(); err != nil {
		return PeerInfo{}, err
	}
	if n.dialer == nil {
		return PeerInfo{}, errors.New("this node cannot dial peers")
	}
	if err := checkPeerAddrs(addrs); err != nil {
		return PeerInfo{}, err
	}
	conn, used, err := n.dialFirst(ctx, addrs, want)
	if err != nil {
		return PeerInfo{}, err
	}
	peer := conn.Peer()
	if err := n.rememberAddrs(ctx, peer, mergePeerAddrs([]string{used}, conn.ListenAddrs(), addrs)); err != nil {
		conn.Close(err)
		return PeerInfo{}, err
	}
	s := n.attach(conn, true)
	if s != nil {
		if !n.background(s.readLoop) {
			s.close(ErrStopped)
		}
	}
	return PeerInfo{Address: peer, RemoteAddr: conn.RemoteAddr(), Connected: true, DialAddrs: n.peerAddrs(peer)}, nil
}

// dialFirst dials addrs in turn until one answers, giving each an equal
// share of what is left of ctx's time (a host that drops packets does
// not eat the others' time).
func (n *Node) dialFirst(ctx context.Context, addrs []string, want crypto.Address) (PeerConn, string, error) {
	var errs []error
	for i, a := range addrs {
		dctx, cancel := ctx, context.CancelFunc(func() {})
		if dl, ok := ctx.Deadline(); ok && i < len(addrs)-1 {
			dctx, cancel = context.WithTimeout(ctx, time.Until(dl)/time.Duration(len(addrs)-i))
		}
		conn, err := n.dialer.DialPeer(dctx, a, want)
		cancel()
		if err == nil {
			return conn, a, nil
		}
		errs = append(errs, fmt.Errorf("connect %s: %w", a, err))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, "", errors.Join(errs...)
}

// rememberAddrs persists where peer listens, if that changed.
func (n *Node) rememberAddrs(ctx context.Context, peer crypto.Address, addrs []string) error {
	n.peers.mu.Lock()
	same := slices.Equal(n.peers.addrs[peer], addrs)
	n.peers.addrs[peer] = addrs
	n.peers.mu.Unlock()
	if same {
		return nil
	}
	return n.persistAddrs(ctx, peer, addrs)
}

// peerAddrs returns a copy of the addresses the node dials peer at.
func (n *Node) peerAddrs(peer crypto.Address) []string {
	n.peers.mu.Lock()
	defer n.peers.mu.Unlock()
	return append([]string(nil), n.peers.addrs[peer]...)
}

// listenAddrs returns every peer address this node advertises.
func (n *Node) listenAddrs() []string {
	if n.cfg.ListenAddr == "" {
		return nil
	}
	return append([]string{n.cfg.ListenAddr}, n.cfg.MoreListenAddrs...)
}
