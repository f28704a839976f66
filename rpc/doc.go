// Package rpc is tinypay's gRPC layer. This part is the peer transport: one
// long-lived, ordered, bidirectional Connect stream per pair of nodes
// (tinypay.peer.v1), over TLS 1.3, opened by a handshake that proves each
// side's node key and binds the proof to the TLS session.
//
// # Identity
//
// A node's identity is its secp256k1 key, not its TLS certificate. Each node
// serves a self-signed certificate (LoadOrCreateCertificate) and neither
// side verifies the other's: TLS only encrypts, protects integrity and
// provides the session's exported keying material (RFC 8446 section 7.5,
// label "EXPORTER-tinypay-peer-v1", 32 bytes). Each side then sends a Hello
// signed by its node key over
//
//	keccak256("tinypay/peer/hello/v1" || role || exporter || uint64be(chainID) || adjudicator || address)
//
// with role "dialer" or "listener". A Hello is therefore valid on exactly one
// TLS session and in one direction: it cannot be replayed on another
// session, reflected back, or relayed by a man in the middle that terminates
// TLS (the two halves of its connection have different exporters). That is
// why accepting any certificate is safe here.
//
// # Handshake
//
//  1. The dialer opens TLS and the Connect stream.
//  2. The listener sends its Hello at once.
//  3. The dialer checks it (version, field lengths, chain id, adjudicator,
//     signature by the claimed address, not itself, and the address it
//     wanted, if any), then sends its own Hello. DialPeer returns.
//  4. The listener checks the dialer's Hello the same way and only then
//     calls the PeerServer handler.
//
// A side that refuses the other's Hello sends an Error message with the
// reason and a google.rpc code and closes the stream; the refused side sees
// a *RemoteError. Every failure matches ErrHandshake and its own kind
// (ErrWrongChain, ErrWrongSigner, ErrHandshakeTimeout, ...). After the
// handshake a second Hello is a protocol error (ErrProtocol) that ends the
// session.
//
// # Limits
//
// Limits (embedded in PeerConfig) bound message size (gRPC enforces it on
// receive; Send refuses larger messages), the handshake time, the number of
// accepted connections still in their handshake, in total and from one
// source address (beyond MaxUnauthenticated, or MaxUnauthenticatedPerSource
// from the same IP address or IPv6 /64, a new connection is closed before
// TLS; each admitted one is cut when its handshake deadline passes), the
// send queue and how long a peer may stop reading (SendTimeout), and
// keepalives. PeerConfig.Refused hears of every connection refused at an
// admission limit, so that the node can count and log them.
//
// # Concurrency
//
// A *PeerConn has one reader goroutine (the only caller of the stream's
// Recv) and one writer goroutine (the only caller of its Send). PeerConn.Send
// may be called from any number of goroutines and only queues; Recv must be
// called from one goroutine at a time; Close from anywhere. Messages are
// delivered in order in each direction. Error messages from the peer are
// returned by Recv like other messages; when the session ends, Send and Recv
// return an error matching ErrClosed that wraps why (a *RemoteError with the
// peer's code and message when it gave one).
//
// # Batches
//
// Each Hello says how large a Batch message its sender accepts
// (batch_bytes; 0 or absent, from a node of an older make: none). When
// more messages are queued behind the one the writer takes, it sends them
// together in one Batch (at most 1,024 messages, and the smaller of the
// peer's batch_bytes, MaxMessageBytes and 256 KiB), never waiting for more
// to come: one gRPC message instead of hundreds spares most of the
// transport's cost per message when many wait (a reconnect's Reestablish
// for each of 100,000 channels, payments across many channels). The reader
// hands a Batch's messages to Recv one by one, in order, as if each had
// come alone; the caller never sees a Batch. A Batch that is empty, holds
// more than 1,024 messages, a Batch, a Hello or a message without a body
// is a protocol error that ends the session. The Hello goes alone.
//
// # Control API over HTTP/JSON
//
// Gateway serves the control API (APIServer, authenticated by TokenAuth)
// as HTTP/JSON with handlers grpc-gateway generates from the .proto
// (bindings in proto/tinypay/api/v1/api_http.yaml), plus the OpenAPI
// description (OpenAPI, at GET /v1/openapi.json) and Server-Sent Events on
// GET /v1/events. It calls the API through a gRPC client connection; give
// it InProcess's connection to the API's own grpc.Server, so that every
// interceptor (token, scope: methodScopes) and server limit applies to
// HTTP calls exactly as to gRPC ones. Errors are JSON with the gRPC code
// (number and name) and message. An event stream ends when the Gateway's
// context does; cancel it before shutting the HTTP server down.
//
// What a client can make the gateway hold is bounded: a body (MaxBodyBytes,
// MaxStreamBodyBytes); the calls that stay open (event streams, backups,
// payment streams), per token and in total (MaxStreams,
// MaxStreamsPerToken), so that they cannot take every stream of the one
// in-process connection and starve ordinary calls.
//
//	conn, closeConn, _ := rpc.InProcess(grpcServer, cert)
//	gw, _ := rpc.NewGateway(ctx, conn, rpc.DefaultGatewayConfig())
//	srv := &http.Server{Handler: gw, TLSConfig: tlsConfig}
//	go srv.ServeTLS(lis, "", "")
//
// # Example
//
//	cert, _ := rpc.LoadOrCreateCertificate(filepath.Join(dir, "peer.crt"), filepath.Join(dir, "peer.key"))
//	cfg := rpc.DefaultPeerConfig()
//	cfg.ChainID, cfg.Adjudicator, cfg.Key, cfg.Certificate = chainID, adjudicator, key, &cert
//	cfg.ListenAddr = "node.example:7420"
//	srv, _ := rpc.NewPeerServer(cfg, func(c *rpc.PeerConn) {
//		for {
//			m, err := c.Recv()
//			if err != nil {
//				return
//			}
//			handle(c.Peer(), m)
//		}
//	})
//	go srv.Serve(lis)
//	defer srv.GracefulStop()
//
//	conn, err := rpc.DialPeer(ctx, cfg, "other.example:7420", want)
//	if err != nil {
//		return err
//	}
//	defer conn.Close(nil)
//	err = conn.Send(msg)
package rpc
