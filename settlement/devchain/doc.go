// Package devchain runs tinypay's local dev chain: a real go-ethereum node
// in dev mode inside this process (node.New, eth.New and a simulated beacon
// that seals the blocks), serving JSON-RPC on 127.0.0.1, with the
// adjudicator and the test dollar token (USD, 6 decimals) deployed and a
// few dev accounts funded with ETH and USD. Two tinypay nodes in two
// processes point at its URL and settle against one chain with nothing else
// installed. cmd/tinypay-devchain is its command; it is a separate binary
// from the daemon because it links all of go-ethereum.
//
//	cfg := devchain.DefaultConfig()
//	cfg.InfoFile = "devchain.json"
//	c, err := devchain.Start(ctx, cfg)
//	if err != nil { ... }
//	defer c.Close()
//	fmt.Println(c.URL())                      // http://127.0.0.1:PORT
//	c.AdvanceTime(ctx, 3600)                  // pass a challenge period
//
// # Chain
//
// The fork schedule is mainnet's (through Osaka and the BPO1/BPO2 blob
// forks, all from genesis; see ChainConfig), not go-ethereum's dev default,
// which enables future forks with other gas costs. The chain id defaults to
// 1337. Blocks come every Config.BlockPeriod (1s by default) while idle, so
// chain time advances, and at once when a transaction arrives, so
// transactions confirm in milliseconds. A block is at least one second
// after its parent.
//
// Dev accounts and the deployer have keys derived from Config.Seed
// (AccountKey), so addresses are the same on every start and the contracts
// always land at the same addresses (deployer nonces 0 and 1). These are
// DEV KEYS that anyone can compute: never use them on a real network.
//
// # Time
//
// Chain.AdvanceTime, or the JSON-RPC method tinypay_advanceTime(seconds),
// mines a block that many seconds after the latest one; later blocks follow
// on from there. tinypay_info() returns the same description as the info
// file.
//
// # Info file
//
// If Config.InfoFile is set, Start writes the chain's description there
// (package devinfo: rpcUrl, chainId, adjudicator, deployBlock, token
// address/symbol/decimals, and the dev accounts with address and private
// key), mode 0600, atomically. It is not removed on Close.
//
// # Concurrency
//
// Chain's methods are safe for concurrent use; block production (the
// producer goroutine, AdvanceTime) is serialized by one mutex. Close stops
// the producer, then the node.
package devchain
