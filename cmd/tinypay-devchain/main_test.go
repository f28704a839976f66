package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		// --help prints the usage with an example and exits 0.
		{"help", []string{"--help"}, 0, "Example:"},
		// An unknown flag is a usage error.
		{"unknown flag", []string{"--nope"}, 2, "flag provided but not defined"},
		// So is a stray argument.
		{"argument", []string{"start"}, 2, "unexpected arguments"},
		// A --pprof address it cannot listen at.
		{"pprof address", []string{"--pprof", "127.0.0.1:99999"}, 2, "--pprof"},
		// A bad configuration fails to start.
		{"no accounts", []string{"--accounts", "0", "--out", ""}, 1, "accounts 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(tc.args, &out, &errOut); code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.code, errOut.String())
			}
			if !strings.Contains(out.String()+errOut.String(), tc.want) {
				t.Fatalf("output lacks %q:\n%s%s", tc.want, out.String(), errOut.String())
			}
		})
	}
}
