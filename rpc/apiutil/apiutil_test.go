package apiutil

import "testing"

func TestSameAddress(t *testing.T) {
	for _, c := range []struct {
		a, b string
		same bool
	}{
		{"0xAbC0000000000000000000000000000000000001", "0xabc0000000000000000000000000000000000001", true},
		{"", "0x0000000000000000000000000000000000000000", true},
		{"0XABC0000000000000000000000000000000000001", "abc0000000000000000000000000000000000001", true},
		{"0xabc0000000000000000000000000000000000001", "0xabc0000000000000000000000000000000000002", false},
		{"", "0xabc0000000000000000000000000000000000001", false},
	} {
		if got := SameAddress(c.a, c.b); got != c.same {
			t.Errorf("SameAddress(%q, %q) = %v, want %v", c.a, c.b, got, c.same)
		}
	}
}
