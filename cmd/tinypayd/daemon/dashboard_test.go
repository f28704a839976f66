package daemon

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tinypay/tinypay/apps"
	"github.com/tinypay/tinypay/crypto"
	"github.com/tinypay/tinypay/store"
)

// dashboardFile is the Grafana dashboard of the node's metrics.
const dashboardFile = "../../../scripts/grafana/tinypay-dashboard.json"

// recorder is a registry that keeps what is registered with it.
type recorder struct {
	*prometheus.Registry
	all []prometheus.Collector
}

func (r *recorder) Register(c prometheus.Collector) error {
	r.all = append(r.all, c)
	return r.Registry.Register(c)
}

// exportedMetrics returns the names of every metric family tinypayd
// serves (whether or not it has a sample yet), from the collectors'
// descriptions.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	rec := &recorder{Registry: prometheus.NewRegistry()}
	if _, err := registerMetrics(rec); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(store.DefaultConfig(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	key, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	a, err := apps.New(apps.DefaultConfig(), apps.Deps{Key: key, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.Register(a.Collector()); err != nil {
		t.Fatal(err)
	}
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	names := map[string]bool{}
	for _, c := range rec.all {
		ch := make(chan *prometheus.Desc, 256)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			m := fq.FindStringSubmatch(d.String())
			if m == nil {
				t.Fatalf("cannot read the name of %s", d)
			}
			names[m[1]] = true
		}
	}
	for _, want := range []string{"tinypay_payments_sent_total", "tinypay_amount_sent_total", "tinypay_streams", "tinypay_store_commit_duration_seconds", "go_goroutines"} {
		if !names[want] {
			t.Fatalf("the exported metrics lack %s: the names were not read right", want)
		}
	}
	return names
}

// dashboardQueries returns every query of the dashboard: the panels'
// expressions and the template variables' queries.
func dashboardQueries(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels     []json.RawMessage `json:"panels"`
		Templating struct {
			List []struct {
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	type panel struct {
		ID      int    `json:"id"`
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"` // a collapsed row's
	}
	var out []string
	ids := map[int]string{}
	var walk func([]json.RawMessage)
	walk = func(ps []json.RawMessage) {
		for _, r := range ps {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				t.Fatalf("%s: %v", dashboardFile, err)
			}
			if prev, dup := ids[p.ID]; dup {
				t.Fatalf("panels %q and %q share id %d", prev, p.Title, p.ID)
			}
			ids[p.ID] = p.Title
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Fatalf("panel %q has a target without a query", p.Title)
				}
				out = append(out, tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Definition != "" {
			out = append(out, v.Definition)
		}
	}
	return out
}

// TestDashboardQueriesExportedMetrics: every metric the Grafana dashboard
// queries is one tinypayd exports (a histogram's _bucket, _sum and _count
// series count as the histogram), and every tinypay_ metric it exports
// has a panel, so that neither can rot.
func TestDashboardQueriesExportedMetrics(t *testing.T) {
	names := exportedMetrics(t)
	queries := dashboardQueries(t)
	ident := regexp.MustCompile(`\b(?:tinypay|go|process)_[a-zA-Z0-9_]+`)
	used := map[string]bool{}
	for _, q := range queries {
		for _, m := range ident.FindAllString(q, -1) {
			name := m
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(m, suffix); ok && !names[m] && names[base] {
					name = base
				}
			}
			if !names[name] {
				t.Errorf("the dashboard queries %s, which tinypayd does not export: %s", m, q)
			}
			used[name] = true
		}
	}
	var missing []string
	for n := range names {
		if strings.HasPrefix(n, "tinypay_") && !used[n] {
			missing = append(missing, n)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("no panel of %s shows %s", filepath.Base(dashboardFile), strings.Join(missing, ", "))
	}
}
