package daemon

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigFileEnvAndFlagPrecedence(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tinypay.toml")
	if err := os.WriteFile(cfg, []byte("datadir = \""+filepath.Join(dir, "from-file")+"\"\nlog-level = \"debug\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pass := filepath.Join(dir, "pass")
	os.WriteFile(pass, []byte("pw\n"), 0o600)
	run := func(env map[string]string, args ...string) (int, string) {
		for k, v := range env {
			t.Setenv(k, v)
		}
		var out bytes.Buffer
		code := Main(context.Background(), append([]string{"tinypayd"}, args...), strings.NewReader(""), &out, &out)
		return code, out.String()
	}
	// The file sets the data dir.
	if code, out := run(nil, "--config", cfg, "--passphrase-file", pass, "init", "--light-kdf"); code != 0 || !strings.Contains(out, "from-file") {
		t.Fatalf("file: %d %s", code, out)
	}
	// The env var beats the file.
	if code, out := run(map[string]string{"TINYPAY_DATADIR": filepath.Join(dir, "from-env")}, "--config", cfg, "--passphrase-file", pass, "init", "--light-kdf"); code != 0 || !strings.Contains(out, "from-env") {
		t.Fatalf("env: %d %s", code, out)
	}
	// The flag beats both.
	if code, out := run(nil, "--config", cfg, "--datadir", filepath.Join(dir, "from-flag"), "--passphrase-file", pass, "init", "--light-kdf"); code != 0 || !strings.Contains(out, "from-flag") {
		t.Fatalf("flag: %d %s", code, out)
	}
	// An existing key is never replaced.
	if code, out := run(nil, "--datadir", filepath.Join(dir, "from-flag"), "--passphrase-file", pass, "init"); code != exitUsage || !strings.Contains(out, "refusing") {
		t.Fatalf("second init: %d %s", code, out)
	}
	for _, d := range []string{"from-file", "from-env", "from-flag"} {
		fi, err := os.Stat(filepath.Join(dir, d, keyFile))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s key: %v %v", d, err, fi)
		}
	}
}

func TestConfigRejects(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("datadri = \"x\"\n"), 0o600)
	broken := filepath.Join(dir, "broken.toml")
	os.WriteFile(broken, []byte("datadir = \n"), 0o600)
	pass := filepath.Join(dir, "pass")
	os.WriteFile(pass, []byte("pw\n"), 0o600)
	chainArgs := []string{"--datadir", dir, "--passphrase-file", pass, "run", "--chain-rpc", "http://127.0.0.1:1", "--chain-id", "5", "--adjudicator", "0x" + strings.Repeat("11", 20)}
	shard := filepath.Join(dir, "shard2") // another identity's files
	os.MkdirAll(shard, 0o700)
	os.WriteFile(filepath.Join(shard, tokenFile), []byte("t\n"), 0o600)
	os.WriteFile(filepath.Join(shard, certFile), []byte("c\n"), 0o600)
	noCert := filepath.Join(dir, "nocert")
	os.MkdirAll(noCert, 0o700)
	os.WriteFile(filepath.Join(noCert, tokenFile), []byte("t\n"), 0o600)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown config key", []string{"--config", bad, "init"}, "unknown keys datadri"},
		{"config does not parse", []string{"--config", broken, "init"}, "config file"},
		{"missing config", []string{"--config", filepath.Join(dir, "nope.toml"), "init"}, "no such file"},
		{"no chain", []string{"--datadir", dir, "--passphrase-file", pass, "run"}, "no chain"},
		{"bad adjudicator", []string{"--datadir", dir, "--passphrase-file", pass, "run", "--chain-rpc", "http://127.0.0.1:1", "--chain-id", "5", "--adjudicator", "0x12"}, "--adjudicator"},
		{"bad asset", []string{"--datadir", dir, "--passphrase-file", pass, "run", "--chain-rpc", "http://127.0.0.1:1", "--chain-id", "5", "--adjudicator", "0x" + strings.Repeat("11", 20), "--asset", "USD=0x12"}, "SYMBOL=ADDRESS:DECIMALS"},
		{"bad log level", []string{"--datadir", dir, "--passphrase-file", pass, "--log-level", "loud", "run", "--chain-rpc", "http://127.0.0.1:1", "--chain-id", "5", "--adjudicator", "0x" + strings.Repeat("11", 20)}, "--log-level"},
		{"proposal bounds", append(chainArgs, "--max-proposals-per-peer", "10", "--max-proposals", "5"), "at most the total"},
		{"proposal expiry", append(chainArgs, "--proposal-expiry", "1s"), "proposal expiry (1s) must be longer"},
		{"redial", append(chainArgs, "--redial-max", "1s"), "redial wait"},
		{"stream bounds", append(chainArgs, "--max-streams-per-channel", "20", "--max-streams", "10"), "stream"},
		{"refunds", append(chainArgs, "--max-refunds-per-minute", "0"), "refunds per minute"},
		{"sessions", append(chainArgs, "--max-peers-without-channel", "4"), "per source at most the total"},
		{"handshake bounds", append(chainArgs, "--peer-max-unauthenticated", "4"), "MaxUnauthenticatedPerSource"},
		{"sweep without destination", append(chainArgs, "--sweep-above", "1 ETH"), "--sweep-above needs --sweep-to"},
		{"sweep without threshold", append(chainArgs, "--sweep-to", "0x"+strings.Repeat("22", 20)), "--sweep-to needs --sweep-above"},
		{"sweep to a malformed address", append(chainArgs, "--sweep-to", "0x22", "--sweep-above", "1 ETH"), "--sweep-to"},
		{"sweep to the zero address", append(chainArgs, "--sweep-to", "0x"+strings.Repeat("00", 20), "--sweep-above", "1 ETH"), "zero address"},
		{"sweep an unknown asset", append(chainArgs, "--sweep-to", "0x"+strings.Repeat("22", 20), "--sweep-above", "100 EUR"), "unknown asset"},
		{"sweep threshold without asset", append(chainArgs, "--sweep-to", "0x"+strings.Repeat("22", 20), "--sweep-above", "100"), "AMOUNT SYMBOL"},
		{"sweep threshold with too many decimals", append(chainArgs, "--sweep-to", "0x"+strings.Repeat("22", 20), "--sweep-above", "0.0000000000000000001 ETH"), "decimals"},
		{"sweep twice the same asset", append(chainArgs, "--sweep-to", "0x"+strings.Repeat("22", 20), "--sweep-above", "1 ETH", "--sweep-above", "2 ETH"), "two sweep thresholds"},
		{"gas reserve in a token", append(chainArgs, "--asset", "USD=0x"+strings.Repeat("33", 20)+":6", "--sweep-to", "0x"+strings.Repeat("22", 20), "--sweep-above", "1 USD", "--sweep-gas-reserve", "1 USD"), "in ETH"},
		{"identity without files", append(chainArgs, "--operator-identity", filepath.Join(dir, "nope")), "no api.token in"},
		{"identity without certificate", append(chainArgs, "--operator-identity", noCert), "no tls.crt in"},
		{"identity is this node", append(chainArgs, "--operator-identity", "me="+dir), "this node's own data directory"},
		{"identity named twice", append(chainArgs, "--operator-identity", shard, "--operator-identity", "shard2="+noCert), `the name "shard2" is given twice`},
		{"identity without name", append(chainArgs, "--operator-identity", "="+shard), "want [NAME=]DIR"},
		{"dev account without file", []string{"--datadir", filepath.Join(dir, "x"), "--passphrase-file", pass, "init", "--dev-account", "1"}, "--devchain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			code := Main(context.Background(), append([]string{"tinypayd"}, tc.args...), strings.NewReader(""), &out, &out)
			if code == 0 || !strings.Contains(out.String(), tc.want) {
				t.Fatalf("exit %d, output %q, want an error containing %q", code, out.String(), tc.want)
			}
		})
	}
}

func TestUnlockRefusesWrongPassphrase(t *testing.T) {
	dir := t.TempDir()
	pass, wrong := filepath.Join(dir, "pass"), filepath.Join(dir, "wrong")
	os.WriteFile(pass, []byte("right\n"), 0o600)
	os.WriteFile(wrong, []byte("wrong\n"), 0o600)
	var out bytes.Buffer
	if code := Main(context.Background(), []string{"tinypayd", "--datadir", dir, "--passphrase-file", pass, "init", "--light-kdf"}, nil, &out, &out); code != 0 {
		t.Fatal(out.String())
	}
	out.Reset()
	if code := Main(context.Background(), []string{"tinypayd", "--datadir", dir, "--passphrase-file", wrong, "address"}, nil, &out, &out); code == 0 || !strings.Contains(out.String(), "wrong passphrase") {
		t.Fatalf("address with a wrong passphrase: %d %s", code, out.String())
	}
}

// TestSecretsChecks: a passphrase file others can read is refused (or, with
// --allow-readable-passphrase-file, used), and init refuses a passphrase
// shorter than 8 characters outside dev chains.
func TestSecretsChecks(t *testing.T) {
	dir := t.TempDir()
	readable := filepath.Join(dir, "readable")
	if err := os.WriteFile(readable, []byte("a long passphrase\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string) {
		var out bytes.Buffer
		code := Main(context.Background(), append([]string{"tinypayd"}, args...), strings.NewReader(""), &out, &out)
		return code, out.String()
	}
	if code, out := run("--datadir", filepath.Join(dir, "a"), "--passphrase-file", readable, "init", "--light-kdf"); code != exitUsage || !strings.Contains(out, "chmod 600") {
		t.Fatalf("init with a readable passphrase file: exit %d, %q", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "a", keyFile)); err == nil {
		t.Fatal("a key was written with a refused passphrase file")
	}
	if code, out := run("--datadir", filepath.Join(dir, "a"), "--passphrase-file", readable, "--allow-readable-passphrase-file", "init", "--light-kdf"); code != 0 {
		t.Fatalf("init with --allow-readable-passphrase-file: exit %d, %q", code, out)
	}
	if code, out := run("--datadir", filepath.Join(dir, "b"), "--passphrase-file", short, "init"); code != exitUsage || !strings.Contains(out, "at least 8") {
		t.Fatalf("init with a 2-character passphrase on a real chain: exit %d, %q", code, out)
	}
	if code, out := run("--datadir", filepath.Join(dir, "c"), "--passphrase-file", short, "init", "--light-kdf"); code != 0 {
		t.Fatalf("init with a short passphrase for a dev chain: exit %d, %q", code, out)
	}
}
