// Package paywall puts HTTP resources behind tinypay payments: a Paywall
// (an http.Handler, usually a reverse proxy) answers unpaid requests with
// 402 Payment Required and machine-readable terms, and serves a request
// once it carries a payment; a Transport (an http.RoundTripper) pays such
// terms with the client's node, within limits, and retries.
//
// Both sides use a node's control API (apiv1.NodeClient): the paywall the
// creator's node (CreateOffer, GetStream, GetInfo), the transport the
// payer's (Pay, StartStream, StopStream, and ListChannels, ListPeers and
// ConnectPeer where its token allows). Money moves through an open
// channel between the two nodes; nothing touches the chain per request.
//
// # Per request
//
// The 402 carries an offer the creator's node signed for this request
// (item "METHOD /escaped/path", the price, the asset, an expiry). The
// client's node pays it (Pay with the offer) and gets the payee's receipt,
// an EIP-712 signature over channel, payment id, payer, payee, amount,
// cumulative, item, offer id and time. The client sends the request again
// with
//
//	Authorization: TinyPay receipt="<base64url of the protobuf Receipt>"
//
// (or X-TinyPay-Receipt: <base64url>, or an x402 Payment-Signature). The
// paywall checks it offline and in this order — signature
// (rpc.VerifyReceipt), chain and adjudicator, payee is its node, the
// offer is one it issued and has not expired past ReceiptGrace, the item
// is this request's, the amount is at least the price, and the offer was
// not used before — and only then forwards the request, without the
// payment headers. Anything else is a 402 with fresh terms and the reason.
// A receipt is used up by the response it paid for, unless the upstream
// answered 502, 503 or 504.
//
// # Per second
//
// The 402 asks for a stream at a rate with item "/escaped/path". The
// client starts one from its node and sends the request again with
// X-TinyPay-Stream: <stream id>. The paywall asks its node about the
// stream (incoming, live, in the asset, at least the rate, the item, a
// tick no longer than Tick, paid at least once), waiting up to StreamWait
// for the first payment, and then forwards, checking again every Tick. When
// the stream stalls or ends, the response is cut: the connection is
// aborted, so the client sees an incomplete body, never a complete one.
// A stream pays for one response at a time; the client stops it when the
// body is closed or read to the end.
//
// # Browsers
//
// A GET that accepts text/html gets the 402 as a page (writePage): what
// is for sale and its price in the asset's units, the same terms in the
// headers and in a JSON block, and the paywall's own script
// (AssetsPath+"pay.js") that asks the reader's node (its browser
// endpoint, package web/browserpay) to pay, then fetches the page with
// the receipt and shows it in place. With Config.PaidFor the paid
// response sets PaidCookie (HttpOnly, for that path, a MAC over the item,
// the payment and the expiry), with which the page is served again
// without paying until it expires. A per-second resource's page plays it
// while a stream from the reader's node pays; its media element names the
// stream in StreamCookie (POST AssetsPath+"stream", same origin only).
// NewProxyChain sells several prefixes at their own prices.
//
// # Wire format
//
// A 402 has a JSON body that is x402 v2's PaymentRequired envelope, also
// sent base64-encoded in the Payment-Required header, with one entry in
// "accepts" whose scheme is SchemeOffer or SchemeStream, network
// "eip155:<chain id>", amount the price (or the rate per second), asset
// the token address, payTo the node address, and "extra" our Terms. It
// also has
//
//	WWW-Authenticate: TinyPay offer="<base64url of the protobuf Offer>", peer="host:port"
//	WWW-Authenticate: TinyPay rate="100", asset="0x...", payee="0x...", peer="host:port", item="/x", tick_ms="1000"
//
// A paid response carries Payment-Response, x402's SettlementResponse
// (base64 JSON) with an empty transaction and the payment or stream in
// extra. An x402 client that knows neither scheme finds nothing it can pay.
//
// # Example
//
//	cfg := paywall.DefaultConfig()
//	cfg.Asset, cfg.Price = "USD", *uint256.NewInt(1000) // 0.001 USD per request
//	pw, err := paywall.NewProxy(ctx, cfg, creatorNode, upstreamURL)
//	if err != nil {
//		return err
//	}
//	go http.ListenAndServe(":8402", pw)
//
//	tcfg := paywall.DefaultTransportConfig()
//	tcfg.Asset, tcfg.MaxPrice = "USD", *uint256.NewInt(10_000)
//	tr, err := paywall.NewTransport(tcfg, payerNode)
//	if err != nil {
//		return err
//	}
//	resp, err := (&http.Client{Transport: tr}).Get("http://creator.example:8402/article/7")
//
// # Concurrency
//
// A Paywall and a Transport are safe for concurrent use. The paywall
// remembers the offers it issued (at most MaxOffers, each until its expiry
// plus ReceiptGrace) and the streams serving a response, in memory: a
// restarted paywall refuses receipts of offers issued before the restart.
// Each per-second response has one goroutine checking its stream, which
// ends with the response. A Transport pays at most once per RoundTrip: the
// offer's payment has the offer's idempotency key, and the payee's node
// accepts an offer once.
package paywall
