package apps

import "github.com/prometheus/client_golang/prometheus"

var descStreams = prometheus.NewDesc("tinypay_streams",
	"Streams not ended, by direction (incoming, outgoing) and status: live, or stalled (an incoming stream whose payer missed its ticks).",
	[]string{"direction", "status"}, nil)

// Collector returns the application layer's metrics for a Prometheus
// registry: tinypay_streams{direction,status}. They are counted when
// scraped, from the streams in memory (under the streams' lock, which is
// never held across I/O).
func (a *Apps) Collector() prometheus.Collector { return streamCollector{a} }

type streamCollector struct{ a *Apps }

func (c streamCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descStreams }

func (c streamCollector) Collect(ch chan<- prometheus.Metric) {
	var n [2][2]int // [outgoing][stalled]
	s := &c.a.streams
	s.mu.Lock()
	for _, st := range s.byID {
		if st.EndReason != "" {
			continue
		}
		out, stalled := 0, 0
		if st.Outgoing {
			out = 1
		}
		if st.stalled {
			stalled = 1
		}
		n[out][stalled]++
	}
	s.mu.Unlock()
	for out, dir := range [2]string{"incoming", "outgoing"} {
		for stalled, status := range [2]string{"live", "stalled"} {
			ch <- prometheus.MustNewConstMetric(descStreams, prometheus.GaugeValue, float64(n[out][stalled]), dir, status)
		}
	}
}
