package main

import (
	"math"
	"testing"
	"time"
)

func TestSoakGrowth(t *testing.T) {
	var flat, leak []soakSample
	for i := range 40 {
		sec := float64(i * 15)
		swing := 100.0 * float64(i%2) // a collector's saw-tooth
		flat = append(flat, soakSample{Second: sec, RSSMB: [2]float64{300 + swing, 200}})
		leak = append(leak, soakSample{Second: sec, RSSMB: [2]float64{300 + swing + sec/10, 200 + sec}})
	}
	warm := 2 * time.Minute
	rss := func(s soakSample) [2]float64 { return s.RSSMB }
	if g := soakGrowth(flat, warm, rss); math.Abs(g[0]) > 1 || g[1] != 0 {
		t.Errorf("a saw-tooth around a flat mean grows %v, want about 0", g)
	}
	g := soakGrowth(leak, warm, rss)
	if g[0] < 5 || g[1] < 50 {
		t.Errorf("a steady leak grows %v, want above 5 %% and 50 %%", g)
	}
	if g := soakGrowth(leak[:3], warm, rss); g != [2]float64{} {
		t.Errorf("too few samples after warm-up: %v, want 0", g)
	}
}
