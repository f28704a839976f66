package sdk_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/holiman/uint256"

	"github.com/tinypay/tinypay/rpc/sdk"
)

// The examples run against real nodes that TestMain starts: aliceDir is
// the data directory of a node with an open USD channel to bob (bobAddr)
// and one to carol (carolAddr); bobDir and carolDir are theirs.

func ExampleDial() {
	ctx := context.Background()
	c, err := sdk.Dial(ctx, sdk.Config{DataDir: aliceDir})
	if err != nil {
		log.Fatal(err) // errors.Is(err, sdk.ErrUnavailable): is tinypayd running?
	}
	defer c.Close()

	info, err := c.Info(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, a := range info.Assets {
		fmt.Println(a.Symbol, a.Decimals)
	}
	// Output:
	// ETH 18
	// USD 6
}

func ExampleClient_Pay() {
	ctx := context.Background()
	c, err := sdk.Dial(ctx, sdk.Config{DataDir: aliceDir})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// Pay bob a quarter of a cent for an article. The item id asks for a
	// receipt; the idempotency key is made up (p.Key).
	p, err := c.Pay(ctx, sdk.PayRequest{Peer: bobAddr, AmountText: "0.0025 USD", ItemID: "article-1"})
	if err != nil {
		log.Fatal(err) // a *sdk.PayError: retrying with its Key never pays twice
	}
	fmt.Println("paid", p.Amount, "base units for", p.ItemID, "complete:", p.Complete)

	// Bob's signed receipt proves the payment to anyone, offline.
	err = sdk.VerifyReceipt(p.Receipt, sdk.Expect{Payee: bobAddr, Amount: p.Amount, ItemID: "article-1"})
	fmt.Println("receipt valid:", err == nil)
	// Output:
	// paid 2500 base units for article-1 complete: true
	// receipt valid: true
}

// A creator sells an article with an offer that travels as text (an HTTP
// header, a QR code); the reader pays it and shows the receipt, which the
// creator checks offline before serving the article.
func ExampleClient_PayOffer() {
	ctx := context.Background()

	// The creator's side (bob) prices the article.
	creator, err := sdk.Dial(ctx, sdk.Config{DataDir: bobDir})
	if err != nil {
		log.Fatal(err)
	}
	defer creator.Close()
	price, err := creator.ParseAmount(ctx, "0.01 USD")
	if err != nil {
		log.Fatal(err)
	}
	offer, err := creator.CreateOffer(ctx, "article-42", price, 10*time.Minute)
	if err != nil {
		log.Fatal(err)
	}
	header := sdk.EncodeOffer(offer) // e.g. in a 402 Payment Required response
	fmt.Println("offer for", offer.ItemId, "at", price)

	// The reader's app (alice) pays what it was offered.
	reader, err := sdk.Dial(ctx, sdk.Config{DataDir: aliceDir})
	if err != nil {
		log.Fatal(err)
	}
	defer reader.Close()
	got, err := sdk.DecodeOffer(header)
	if err != nil {
		log.Fatal(err)
	}
	p, err := reader.PayOffer(ctx, got)
	if err != nil {
		log.Fatal(err)
	}
	proof := sdk.EncodeReceipt(p.Receipt) // sent back with the next request

	// The creator checks the receipt against its own offer.
	r, err := sdk.DecodeReceipt(proof)
	if err != nil {
		log.Fatal(err)
	}
	if err := sdk.VerifyReceipt(r, sdk.Expect{Offer: offer}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("serve", r.ItemId)
	// Output:
	// offer for article-42 at 0.01 USD
	// serve article-42
}

func ExampleClient_StartStream() {
	ctx := context.Background()
	c, err := sdk.Dial(ctx, sdk.Config{DataDir: aliceDir})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// Pay bob a tenth of a cent per second (1000 base units), ten times a
	// second, for a radio stream; at most one dollar in all.
	st, err := c.StartStream(ctx, sdk.StreamRequest{
		Peer: bobAddr, Asset: "USD", Rate: uint256.NewInt(1000), Tick: 100 * time.Millisecond,
		Budget: uint256.NewInt(1_000_000), ItemID: "radio",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("stream", st.Status)

	// Watch the meter; stop after five payments.
	err = c.WatchStream(ctx, st.ID, func(s *sdk.Stream) error {
		switch {
		case s.Status == sdk.StreamLive && s.Ticks >= 5:
			_, err := c.StopStream(ctx, s.ID)
			return err
		case s.Status == sdk.StreamEnded:
			fmt.Println("stream", s.Status, "—", s.EndReason)
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// stream live
	// stream ended — stopped by payer
}

// A creator's app prints each payment as it arrives. Subscribe delivers
// every event once, in order, and rides out restarts of the node.
func ExampleClient_Subscribe() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	creator, err := sdk.Dial(ctx, sdk.Config{DataDir: carolDir})
	if err != nil {
		log.Fatal(err)
	}
	defer creator.Close()
	assets, err := creator.Assets(ctx)
	if err != nil {
		log.Fatal(err)
	}
	usd, _ := assets.Lookup("USD")

	// Somewhere else, a fan (alice) buys three songs.
	bought := make(chan error, 1)
	go func() { bought <- buySongs(ctx, "song-1", "song-2", "song-3") }()

	// A real app stores e.Seq with what it did, and passes it as After
	// when it starts again.
	n := 0
	err = creator.Subscribe(ctx, sdk.SubscribeOptions{Kinds: []string{sdk.KindPaymentIn}}, func(e sdk.Event) error {
		fmt.Println(e.Kind, usd.Format(e.Payment.Amount), e.Payment.ItemID)
		if n++; n == 3 {
			return sdk.ErrStop
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := <-bought; err != nil {
		log.Fatal(err)
	}
	// Output:
	// payment_in 0.001 USD song-1
	// payment_in 0.001 USD song-2
	// payment_in 0.001 USD song-3
}

// buySongs is the fan's app: alice pays carol for each song.
func buySongs(ctx context.Context, songs ...string) error {
	fan, err := sdk.Dial(ctx, sdk.Config{DataDir: aliceDir})
	if err != nil {
		return err
	}
	defer fan.Close()
	for _, song := range songs {
		if _, err := fan.Pay(ctx, sdk.PayRequest{Peer: carolAddr, AmountText: "0.001 USD", ItemID: song}); err != nil {
			return err
		}
	}
	return nil
}
