package daemon

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinypay/tinypay/cmd/tinypay/cli"
)

// TestPerPayerOfferAgainstDaemons: Bob's daemon sells a course once per
// payer; Alice's and Carol's daemons each buy it, and each receipt names
// its own payer (checked offline); a second purchase by Alice is refused
// (her node shows her first payment and pays nothing), and so is one by
// Carol after Bob's daemon restarts; Bob's node counts two sales, across
// the restart, and holds exactly the two payments.
func TestPerPayerOfferAgainstDaemons(t *testing.T) {
	procs := startNamedDaemons(t, []string{"alice", "bob", "carol"})
	alice, bob, carol := procs[0], procs[1], procs[2]
	addr := func(p *daemonProc) string {
		t.Helper()
		code, out := tinypay(t, p.dir, "--json", "info")
		var info struct{ Address string }
		if err := json.Unmarshal([]byte(out), &info); code != 0 || err != nil {
			t.Fatalf("%s info: %d %v\n%s", p.name, code, err, out)
		}
		return info.Address
	}
	aliceAddr, bobAddr, carolAddr := addr(alice), addr(bob), addr(carol)
	for _, payer := range []*daemonProc{alice, carol} {
		for _, s := range [][]string{
			{"peer", "connect", peerListen(bob), "--address", bobAddr},
			{"channel", "open", bobAddr, "5", "USD"},
		} {
			if code, out := tinypay(t, payer.dir, s...); code != 0 {
				t.Fatalf("%s: tinypay %v: exit %d\n%s", payer.name, s, code, out)
			}
		}
	}

	code, out := tinypay(t, bob.dir, "offer", "create", "course-1", "0.02", "USD", "--uses", "per-payer", "--ttl", "1h")
	if code != 0 || !strings.Contains(out, "payable  once per payer") {
		t.Fatalf("offer create: %d\n%s", code, out)
	}
	offer := lastLine(out)
	nowhere := filepath.Join(t.TempDir(), "no-node")
	if code, out := tinypay(t, nowhere, "offer", "show", offer); code != 0 || !strings.Contains(out, "payable  once per payer") || !strings.Contains(out, "signature valid") {
		t.Fatalf("offer show, offline: %d\n%s", code, out)
	}

	for _, payer := range []struct {
		p    *daemonProc
		addr string
	}{{alice, aliceAddr}, {carol, carolAddr}} {
		code, out := tinypay(t, payer.p.dir, "pay", "--offer", offer)
		if code != 0 || !strings.Contains(out, "paid 0.02 USD to "+bobAddr) {
			t.Fatalf("%s pays the course: %d\n%s", payer.p.name, code, out)
		}
		receipt := lastLine(out)
		// The receipt names its payer: checked offline, with no node.
		code, out = tinypay(t, nowhere, "receipt", "verify", receipt, "--payer", payer.addr, "--payee", bobAddr, "--item", "course-1")
		if code != 0 || !strings.Contains(out, "valid receipt: "+payer.addr+" paid "+bobAddr+" 20000 base units") {
			t.Fatalf("%s's receipt: %d\n%s", payer.p.name, code, out)
		}
		other := map[string]string{aliceAddr: carolAddr, carolAddr: aliceAddr}[payer.addr]
		if code, out := tinypay(t, nowhere, "receipt", "verify", receipt, "--payer", other); code != cli.ExitFailed || !strings.Contains(out, "paid by "+payer.addr) {
			t.Fatalf("%s's receipt checked as the other payer's: %d\n%s", payer.p.name, code, out)
		}
	}

	// Alice buys again: refused, with her first payment shown.
	code, out = tinypay(t, alice.dir, "pay", "--offer", offer)
	if code != cli.ExitFailed || !strings.Contains(out, "paid before by this node") || !strings.Contains(out, "once per payer") || !strings.Contains(out, "receipt signed by "+bobAddr) {
		t.Fatalf("alice's second purchase: %d\n%s", code, out)
	}
	sales := func(want string) {
		t.Helper()
		if code, out := tinypay(t, bob.dir, "offer", "show", "--sales", offer); code != 0 || !strings.Contains(out, want) {
			t.Fatalf("bob's sales: %d\n%s\nwant %q", code, out, want)
		}
	}
	sales("sold     2 times so far (no limit)")

	// Across a restart of Bob's daemon: the count holds, and Carol's second
	// purchase is refused too.
	bob.stop()
	bob.start()
	sales("sold     2 times so far (no limit)")
	if code, out := tinypay(t, carol.dir, "pay", "--offer", offer); code != cli.ExitFailed || !strings.Contains(out, "paid before by this node") {
		t.Fatalf("carol's second purchase: %d\n%s", code, out)
	}
	// Bob holds exactly the two payments, one from each payer.
	code, out = tinypay(t, bob.dir, "--json", "payments")
	var list struct {
		Payments []struct{ Peer, Amount, OfferID, Direction string }
	}
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil {
		t.Fatalf("bob's payments: %d %v\n%s", code, err, out)
	}
	peers := map[string]int{}
	for _, p := range list.Payments {
		if p.Direction == "incoming" && p.OfferID != "" {
			peers[strings.ToLower(p.Peer)]++
		}
	}
	if len(peers) != 2 || peers[strings.ToLower(aliceAddr)] != 1 || peers[strings.ToLower(carolAddr)] != 1 {
		t.Fatalf("bob's payments of the offer by payer: %v, want one each from alice and carol\n%s", peers, out)
	}
}
