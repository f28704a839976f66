package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	apiv1 "github.com/tinypay/tinypay/proto/tinypay/api/v1"
)

func TestSafe(t *testing.T) {
	for in, want := range map[string]string{
		"song-1":                 "song-1",
		"héllo wörld ✓":          "héllo wörld ✓",
		"\x1b[2J\x1b[31mRED\n":   `\x1b[2J\x1b[31mRED\n`,
		"tab\there\rback\x00nul": `tab\there\rback\x00nul`,
		"abc\u202edcba":          `abc\u202edcba`,
		"\u0085next-line":        `\u0085next-line`,
		"bad\xffbyte":            `bad\xffbyte`,
		"del\x7f":                `del\x7f`,
	} {
		if got := safe(in); got != want {
			t.Errorf("safe(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPrintErrorEscapes(t *testing.T) {
	var b strings.Builder
	printError(&b, errors.New("refused: \x1b[2Jpaid"))
	if got, want := b.String(), "tinypay: refused: \\x1b[2Jpaid\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestPeerTextIsEscaped: a payer chooses an item and a memo that would
// clear the payee's screen and draw a fake line. The payee's text commands
// show them escaped; --json shows them exactly.
func TestPeerTextIsEscaped(t *testing.T) {
	alice, bob := pair(t)
	const evil = "\x1b[2J\x1b[H\x1b[32mRECEIVED 1000.00 USD\x1b[0m\n"
	chans, err := alice.API().ListChannels(context.Background(), &apiv1.ListChannelsRequest{})
	if err != nil || len(chans.GetChannels()) != 1 {
		t.Fatalf("channels: %v %v", chans, err)
	}
	if _, err := alice.API().Pay(context.Background(), &apiv1.PayRequest{
		ChannelId: chans.GetChannels()[0].GetId(), Amount: "1", IdempotencyKey: "evil", ItemId: "item" + evil, Memo: "memo" + evil,
	}); err != nil {
		t.Fatal(err)
	}
	escaped := `\x1b[2J\x1b[H\x1b[32mRECEIVED 1000.00 USD\x1b[0m\n`
	for _, args := range [][]string{{"payments"}, {"events"}} {
		r := tp(bob, args...)
		want(t, r, ExitOK, "item"+escaped, "memo"+escaped)
		if strings.ContainsAny(r.out+r.stderr, "\x1b\r") {
			t.Errorf("%v prints a raw control character:\n%q", args, r.out)
		}
	}
	r := tp(bob, "payments", "--json")
	want(t, r, ExitOK)
	var got struct {
		Payments []struct {
			ItemID string `json:"itemId"`
			Memo   string `json:"memo"`
		} `json:"payments"`
	}
	if err := json.Unmarshal([]byte(r.out), &got); err != nil {
		t.Fatalf("payments --json: %v\n%s", err, r.out)
	}
	found := false
	for _, p := range got.Payments {
		found = found || (p.ItemID == "item"+evil && p.Memo == "memo"+evil)
	}
	if !found {
		t.Errorf("--json does not show the exact item and memo:\n%s", r.out)
	}
}

// TestWatchEscapesPeerText: the full-screen watch draws its own escape
// sequences, never the peer's: an item, a stream event's detail and a
// connection error are shown escaped.
func TestWatchEscapesPeerText(t *testing.T) {
	const evil = "\x1b[2J\x1b[32mRECEIVED 1000.00 USD\n"
	const escaped = `\x1b[2J\x1b[32mRECEIVED 1000.00 USD\n`
	for _, tty := range []bool{true, false} {
		var out strings.Builder
		w := &watcher{out: &out, tty: tty, last: 5, start: time.Now(), chAsset: map[string]*apiv1.Asset{},
			totals: map[string]*chanTotal{}, outTotal: map[string]*sum{}}
		w.apply(context.Background(), &apiv1.Event{TimeUnixNano: time.Now().UnixNano(), Event: &apiv1.Event_Stream{Stream: &apiv1.StreamEvent{
			Stream: &apiv1.Stream{Id: "0011"}, Kind: "ended", Detail: "detail" + evil}}})
		w.apply(context.Background(), &apiv1.Event{TimeUnixNano: time.Now().UnixNano(), Event: &apiv1.Event_Channel{Channel: &apiv1.ChannelEvent{
			ChannelId: "0xc4", Kind: "warning", Detail: "channel detail" + evil}}})
		w.recent = append(w.recent, &apiv1.Payment{Id: "p", Direction: "incoming", Peer: "0xabc", ChannelId: "c", Amount: "1", ItemId: "item" + evil})
		w.conn = "connection" + evil
		w.draw()
		got := out.String()
		if strings.Contains(got, "\x1b[2J") || strings.Contains(got, "\x1b[32m") {
			t.Errorf("tty=%v: watch draws the peer's escape sequences:\n%q", tty, got)
		}
		wantIn := []string{"connection" + escaped}
		if tty {
			wantIn = append(wantIn, "item"+escaped, "detail"+escaped, "channel 0xc4", "warning: channel detail"+escaped)
		}
		for _, s := range wantIn {
			if !strings.Contains(got, s) {
				t.Errorf("tty=%v: want %q in:\n%q", tty, s, got)
			}
		}
	}
}

// TestEventsPrintsEveryKind: text mode prints stream events too (they were
// dropped), with the peer's text escaped.
func TestEventsPrintsEveryKind(t *testing.T) {
	var out bytes.Buffer
	c := &client{out: &out}
	c.printEvent(&apiv1.Event{Seq: 7, Event: &apiv1.Event_Stream{Stream: &apiv1.StreamEvent{Kind: "stalled", Detail: "no payment\x1b[2J",
		Stream: &apiv1.Stream{Id: "0123456789abcdef"}}}}, func(string) *apiv1.Asset { return nil })
	if got := out.String(); !strings.Contains(got, "stream 0123456789") || !strings.Contains(got, `stalled: no payment\x1b[2J`) {
		t.Fatalf("a stream event prints %q", got)
	}
}
