// Package sdk is the Go client of a tinypay node's control API
// (tinypay.api.v1.Node), for applications: apps that pay per item or per
// second, and creators that receive, watch payments live and read their
// revenue.
//
// A Client talks to one node over TLS with a bearer token. Give it the
// node's data directory and it finds everything there (api.addr, api.token,
// tls.crt), exactly as the tinypay CLI does:
//
//	c, err := sdk.Dial(ctx, sdk.Config{DataDir: "/home/me/.tinypay"})
//	if err != nil {
//		return err // errors.Is(err, sdk.ErrUnavailable): is tinypayd running?
//	}
//	defer c.Close()
//	p, err := c.Pay(ctx, sdk.PayRequest{Peer: creator, AmountText: "0.0025 USD", ItemID: "article-1"})
//	if err != nil {
//		return err
//	}
//	err = sdk.VerifyReceipt(p.Receipt, sdk.Expect{Payee: creator, ItemID: "article-1"})
//
// An app that holds only an app token (a secret starting "tpapp_", made by
// the operator with CreateToken) names the address, the token and the
// node's certificate instead: Config{Addr: ..., Token: ..., CertFile: ...}.
// App tokens may only pay: GetInfo, Pay, PayOffer, PayMany, StartStream,
// StopStream and Stream; everything else is refused with
// ErrPermissionDenied.
//
// # Amounts
//
// Amounts are *uint256.Int in the asset's base unit (wei, or the token's
// smallest unit), never floats. ParseAmount and Asset.Format convert from
// and to what people read ("0.0025 USD"), exactly.
//
// # Payments are idempotent
//
// Every payment carries an idempotency key; Pay makes one up when the
// request has none and reports it (Payment.Key, PayError.Key). Retrying
// with the same key never pays twice, so after an error whose outcome is
// unknown (ErrUnavailable, a deadline) retry with the key the error names.
// Pay itself retries ErrUnavailable for a few seconds with the same key.
//
// # Offers and receipts
//
// A creator signs an offer (CreateOffer) and hands it out, for example in
// an HTTP header: EncodeOffer gives a compact, URL- and header-safe text
// (a version prefix and the base64url protobuf). The payer decodes and pays
// it (DecodeOffer, PayOffer) and gets the payee's signed receipt, which
// anyone can check offline (VerifyReceipt, EncodeReceipt, DecodeReceipt).
// An offer is payable once by default; its signed use policy may instead
// make it payable once per payer, up to N times, or any number of times
// until it expires (CreateOffer with OncePerPayer, UpTo(n), Unlimited), and
// the creator's node counts what it sold (OfferUses). Receipts always name
// the payer.
//
// # Subscriptions
//
// Subscribe delivers the node's ordered event log to a handler, each event
// exactly once and in sequence order, for as long as its context lives:
// when the stream breaks (the node restarts, the network drops) it
// reconnects and resumes after the last event the handler accepted. With a
// DataDir the client re-reads api.addr on every connection, so it follows a
// node that restarts on another port; a call made while the connection is
// down redials at once and waits for the node, up to 3 s, unless api.addr
// is gone (the node stopped).
//
// # Lists
//
// The node answers its lists a page at a time. Channels and Streams return
// everything, asking for every page; EachChannel, EachStream and
// EachPayment are iterators that ask for the next page as the loop goes
// on, and stop asking when it breaks:
//
//	for ch, err := range c.EachChannel(ctx, sdk.ChannelFilter{All: true}) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(ch.ID, ch.Phase)
//	}
//
// Pages follow the list's order (newest first for channels and streams,
// log order for payments) from a place the node keeps in the page token,
// so what is created while a loop runs never makes it yield an entry
// twice.
//
// # Concurrency
//
// A Client is safe for concurrent use by multiple goroutines; one Client
// multiplexes every call over one HTTP/2 connection, so share it rather
// than dialing per request. Handlers passed to Subscribe, WatchStream and
// PayMany run on the calling goroutine, one call at a time and in order;
// they may call the Client. Close ends every call in progress; calls after
// Close fail with ErrClosed.
//
// # Errors
//
// Errors match the kinds below with errors.Is (ErrUnavailable,
// ErrUnauthenticated, ErrRefused, ...). An error the node returned is an
// *Error carrying the gRPC code and message (status.Code works on it too);
// a failed payment is a *PayError carrying the idempotency key to retry
// with.
package sdk
