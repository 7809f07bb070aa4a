package deploy

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/yaml"

	"github.com/tagdrift/tagdrift/scheduler"
	"github.com/tagdrift/tagdrift/server/metrics"
)

// servedMetrics returns the metrics tagdrift serves and the labels of each, from the
// collectors serve registers.
func servedMetrics(t *testing.T) map[string][]string {
	t.Helper()
	reg := prometheus.NewRegistry()
	scheduler.NewMetrics(reg)
	reg.MustRegister(metrics.NewGauges(metrics.Config{}))
	descs := make(chan *prometheus.Desc, 100)
	go func() {
		reg.Describe(descs)
		close(descs)
	}()
	name := regexp.MustCompile(`fqName: "([^"]+)"`)
	labels := regexp.MustCompile(`variableLabels: \{([^}]*)\}`)
	out := map[string][]string{}
	for d := range descs {
		s := d.String()
		n := name.FindStringSubmatch(s)
		if n == nil {
			t.Fatalf("unreadable descriptor %s", s)
		}
		var ls []string
		if l := labels.FindStringSubmatch(s); l != nil && l[1] != "" {
			ls = strings.Split(l[1], ",")
		}
		out[n[1]] = ls
	}
	if len(out) < 5 {
		t.Fatalf("only %d metrics described: %v", len(out), out)
	}
	return out
}

var (
	metricRef  = regexp.MustCompile(`(tagdrift_[a-z_]+)(\{([^}]*)\})?`)
	matcherRef = regexp.MustCompile(`([a-zA-Z_]+)\s*(=~|!~|!=|=)`)
	byRef      = regexp.MustCompile(`by \(([^)]*)\)`)
)

// checkExpr fails when expr reads a metric tagdrift does not serve, or a label that none
// of the metrics it reads has.
func checkExpr(t *testing.T, where, expr string, served map[string][]string) {
	t.Helper()
	refs := metricRef.FindAllStringSubmatch(expr, -1)
	if len(refs) == 0 {
		t.Errorf("%s: reads no tagdrift metric: %s", where, expr)
	}
	known := []string{"le"}
	for _, r := range refs {
		name := r[1]
		base := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if _, ok := served[name]; !ok && strings.HasSuffix(name, suffix) {
				base = strings.TrimSuffix(name, suffix)
			}
		}
		ls, ok := served[base]
		if !ok {
			t.Errorf("%s: metric %s is not one tagdrift serves", where, name)
			continue
		}
		known = append(known, ls...)
		for _, m := range matcherRef.FindAllStringSubmatch(r[3], -1) {
			if !slices.Contains(ls, m[1]) {
				t.Errorf("%s: %s has no label %q (it has %v)", where, name, m[1], ls)
			}
		}
	}
	for _, by := range byRef.FindAllStringSubmatch(expr, -1) {
		for _, l := range strings.Split(by[1], ",") {
			if l = strings.TrimSpace(l); !slices.Contains(known, l) {
				t.Errorf("%s: groups by %q, which no metric it reads has", where, l)
			}
		}
	}
}

// The example PrometheusRule and Grafana dashboard read only metrics and labels
// tagdrift serves: renaming one breaks this test, not somebody's alerting.
func TestMonitoringExamples(t *testing.T) {
	served := servedMetrics(t)

	raw, err := os.ReadFile("monitoring/prometheusrule.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rule struct {
		Kind string `json:"kind"`
		Spec struct {
			Groups []struct {
				Rules []struct {
					Alert string `json:"alert"`
					Expr  string `json:"expr"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &rule); err != nil {
		t.Fatal(err)
	}
	alerts := 0
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" {
				t.Errorf("rule without alert or expr: %+v", r)
			}
			checkExpr(t, "alert "+r.Alert, r.Expr, served)
			alerts++
		}
	}
	if rule.Kind != "PrometheusRule" || alerts < 4 {
		t.Errorf("%s with %d alerts", rule.Kind, alerts)
	}

	raw, err = os.ReadFile("monitoring/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	if len(dash.Panels) < 6 {
		t.Errorf("dashboard of %d panels", len(dash.Panels))
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			checkExpr(t, "panel "+p.Title, tg.Expr, served)
		}
	}
}
