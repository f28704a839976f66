package cli

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestListsPageThrough: channel list, stream list and payments ask the
// node for page after page (here of one or two, with the hidden
// --page-size), so they list more than one page holds, in order, each
// entry once; --limit stops after the newest few.
func TestListsPageThrough(t *testing.T) {
	alice, bob := pair(t)
	alice.OpenUSD(bob, 1_000_000)
	alice.OpenUSD(bob, 1_000_000)
	bobAddr := bob.Key.Address().Hex()

	listed := func(r result) []string {
		t.Helper()
		want(t, r, ExitOK)
		return regexp.MustCompile(`(?m)^0x[0-9a-f]+`).FindAllString(r.out, -1)
	}
	jsonIDs := func(r result, field string) []string {
		t.Helper()
		want(t, r, ExitOK)
		var v map[string]json.RawMessage
		var list []struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal([]byte(r.out), &v); err != nil {
			t.Fatalf("%v: %s", err, r)
		}
		if err := json.Unmarshal(v[field], &list); err != nil {
			t.Fatalf("%v: %s", err, r)
		}
		var out []string
		for _, x := range list {
			out = append(out, x.ID)
		}
		return out
	}

	whole := jsonIDs(tp(alice, "--json", "channel", "list"), "channels")
	if len(whole) != 3 {
		t.Fatalf("channel list: %v", whole)
	}
	for _, args := range [][]string{
		{"channel", "list", "--page-size", "1"},
		{"channel", "list", "--page-size", "2", "--peer", bobAddr},
	} {
		if got := listed(tp(alice, args...)); !slices.Equal(got, whole) {
			t.Fatalf("%v: %v, want %v", args, got, whole)
		}
	}
	if got := jsonIDs(tp(alice, "--json", "channel", "list", "--page-size", "1"), "channels"); !slices.Equal(got, whole) {
		t.Fatalf("--json in pages of one: %v, want %v", got, whole)
	}
	if got := listed(tp(alice, "channel", "list", "--page-size", "1", "--limit", "2")); !slices.Equal(got, whole[:2]) {
		t.Fatalf("--limit 2: %v, want the newest two %v", got, whole[:2])
	}

	var streams []string
	for range 3 {
		r := tp(alice, "--json", "stream", "start", bobAddr, "0.001 USD/s", "--duration", "1m")
		want(t, r, ExitOK)
		var st streamJSON
		if err := json.Unmarshal([]byte(r.out), &st); err != nil {
			t.Fatal(err)
		}
		streams = append([]string{st.ID}, streams...) // newest first
	}
	if got := listed(tp(alice, "stream", "list", "--page-size", "1")); !slices.Equal(got, streams) {
		t.Fatalf("stream list in pages of one: %v, want %v", got, streams)
	}
	if got := jsonIDs(tp(alice, "--json", "stream", "list", "--page-size", "2"), "streams"); !slices.Equal(got, streams) {
		t.Fatalf("stream list --json in pages of two: %v, want %v", got, streams)
	}
	if got := listed(tp(alice, "stream", "list", "--limit", "1")); !slices.Equal(got, streams[:1]) {
		t.Fatalf("stream list --limit 1: %v, want %v", got, streams[:1])
	}

	for i := range 7 {
		want(t, tp(alice, "pay", bobAddr, "0.001", "USD", "--item", fmt.Sprint("page-", i)), ExitOK)
	}
	items := func(r result) []string {
		t.Helper()
		want(t, r, ExitOK)
		var out []string
		for _, m := range regexp.MustCompile(`item (page-\d)`).FindAllStringSubmatch(r.out, -1) {
			out = append(out, m[1])
		}
		return out
	}
	all := []string{"page-0", "page-1", "page-2", "page-3", "page-4", "page-5", "page-6"}
	if got := items(tp(bob, "payments", "--limit", "0", "--page-size", "2")); !slices.Equal(got, all) {
		t.Fatalf("payments --limit 0 in pages of two: %v", got)
	}
	r := tp(bob, "payments", "--limit", "5", "--page-size", "2")
	got := items(r)
	// Stream ticks come first in the log; the items are the last seven.
	if len(got) > 5 || !strings.Contains(r.out, "more: tinypay payments --after ") {
		t.Fatalf("payments --limit 5: %v\n%s", got, r.out)
	}
	lines := strings.Count(strings.TrimSpace(r.out), "\n") // 5 payments and the "more" line
	if lines != 5 {
		t.Fatalf("payments --limit 5 printed %d lines:\n%s", lines+1, r.out)
	}
	var page struct {
		Payments []struct {
			Seq string `json:"seq"`
		} `json:"payments"`
		Next string `json:"nextAfterSeq"`
	}
	r = tp(bob, "--json", "payments", "--limit", "3", "--page-size", "1")
	want(t, r, ExitOK)
	if err := json.Unmarshal([]byte(r.out), &page); err != nil || len(page.Payments) != 3 || page.Next != page.Payments[2].Seq {
		t.Fatalf("payments --json --limit 3: %v\n%s", err, r.out)
	}
	if !strings.Contains(offline(t, "", "channel", "list", "--help").out, "tinypay channel list --limit 20") {
		t.Fatal("channel list --help has no --limit example")
	}
}
