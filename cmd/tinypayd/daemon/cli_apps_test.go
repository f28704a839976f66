package daemon

import (
	"encoding/csv"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tinypay/tinypay/cmd/tinypay/cli"
)

// lastLine is the last line of the CLI's output (a compact offer, receipt
// or secret).
func lastLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return lines[len(lines)-1]
}

// TestCLIAppsAgainstDaemons sells with an offer, verifies the receipt
// offline, and pays with an app token, all with the CLI against daemon
// processes.
func TestCLIAppsAgainstDaemons(t *testing.T) {
	alice, bob := startDaemons(t)
	code, out := tinypay(t, bob.dir, "--json", "info")
	if code != 0 {
		t.Fatal(out)
	}
	var info struct{ Address string }
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatal(err)
	}
	for _, s := range [][]string{
		{"peer", "connect", peerListen(bob), "--address", info.Address},
		{"channel", "open", info.Address, "5", "USD"},
	} {
		if code, out := tinypay(t, alice.dir, s...); code != 0 {
			t.Fatalf("tinypay %v: exit %d\n%s", s, code, out)
		}
	}

	code, out = tinypay(t, bob.dir, "offer", "create", "article-7", "0.25", "USD")
	if code != 0 {
		t.Fatalf("offer create: %d\n%s", code, out)
	}
	offer := lastLine(out)
	code, out = tinypay(t, alice.dir, "pay", "--offer", offer)
	if code != 0 || !strings.Contains(out, "paid 0.25 USD") {
		t.Fatalf("pay --offer: %d\n%s", code, out)
	}
	receipt := lastLine(out)
	nowhere := filepath.Join(t.TempDir(), "no-node")
	if code, out := tinypay(t, nowhere, "receipt", "verify", receipt, "--payee", info.Address, "--item", "article-7"); code != 0 || !strings.Contains(out, "valid receipt") {
		t.Fatalf("receipt verify: %d\n%s", code, out)
	}
	if code, out := tinypay(t, alice.dir, "pay", "--offer", offer); code != cli.ExitFailed {
		t.Fatalf("paying an offer twice: %d\n%s", code, out)
	}

	secret := filepath.Join(t.TempDir(), "app.token")
	if code, out := tinypay(t, alice.dir, "token", "create", "--name", "app", "--limit", "0.1 USD", "--period", "1h", "--secret-file", secret); code != 0 {
		t.Fatalf("token create: %d\n%s", code, out)
	}
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"pay", info.Address, "0.06", "USD"}, cli.ExitOK},
		{[]string{"pay", info.Address, "0.06", "USD"}, cli.ExitFailed}, // over the limit
		{[]string{"channel", "list"}, cli.ExitAuth},                    // an app may only pay
	} {
		if code, out := tinypay(t, alice.dir, append([]string{"--token-file", secret}, tc.args...)...); code != tc.want {
			t.Fatalf("app %v: exit %d, want %d\n%s", tc.args, code, tc.want, out)
		}
	}

	code, out = tinypay(t, bob.dir, "payments", "--csv")
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != 0 || err != nil || len(rows) != 3 || rows[1][7] != "article-7" || rows[2][5] != "0.06" {
		t.Fatalf("payments --csv: %d %v\n%s", code, err, out)
	}
}
