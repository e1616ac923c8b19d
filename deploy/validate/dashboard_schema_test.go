package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	grafana "github.com/grafana/grafana-foundation-sdk/go/dashboard"
	grafanaprom "github.com/grafana/grafana-foundation-sdk/go/prometheus"
)

// The dashboard is checked against Grafana's own schema, as generated into the Grafana
// Foundation SDK (github.com/grafana/grafana-foundation-sdk/go): its UnmarshalJSONStrict rejects
// unknown fields, wrong types and missing required fields, in the dashboard, every panel, the
// panel plugin's options (timeseries, stat, state-timeline, table ...) and every Prometheus query.

// strictProblems turns what a strict unmarshal returned into a list of problems.
//
// In SDK v0.0.22 UnmarshalJSONStrict returns its cog.BuildErrors as an error even when the list
// is empty, so err != nil does not mean failure: only a non-empty list, or an error of another
// type (the input is not JSON at all), does.
func strictProblems(err error) []string {
	if err == nil {
		return nil
	}
	var be cog.BuildErrors
	if errors.As(err, &be) {
		out := make([]string, 0, len(be))
		for _, e := range be {
			out = append(out, e.Error())
		}
		return out
	}
	return []string{err.Error()}
}

// strictDashboardProblems checks one dashboard's JSON strictly and returns every problem.
func strictDashboardProblems(raw []byte) []string {
	plugins.RegisterDefaultPlugins() // panel options and dataqueries are checked per plugin type
	// The classic dashboard schema is the one this JSON (schemaVersion 39) and file provisioning
	// use; dashboardv2 is Grafana 12's different resource format.
	//lint:ignore SA1019 the classic schema is the one to check against
	var d grafana.Dashboard
	problems := strictProblems(d.UnmarshalJSONStrict(raw))

	// The SDK checks a panel's options only when it knows the panel type, and a target only when
	// it knows the datasource type; anything else is accepted loosely. Require both to be known,
	// and check every target as a Prometheus query.
	var doc struct {
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return append(problems, "panels: "+err.Error())
	}
	var walk func(where string, panels []json.RawMessage)
	walk = func(where string, panels []json.RawMessage) {
		for i, rp := range panels {
			var p struct {
				Type    string            `json:"type"`
				Title   string            `json:"title"`
				Targets []json.RawMessage `json:"targets"`
				Panels  []json.RawMessage `json:"panels"`
			}
			at := fmt.Sprintf("%s[%d]", where, i)
			if err := json.Unmarshal(rp, &p); err != nil {
				problems = append(problems, at+": "+err.Error())
				continue
			}
			at += fmt.Sprintf(" (%s %q)", p.Type, p.Title)
			if p.Type == "row" {
				walk(at+".panels", p.Panels)
				continue
			}
			if _, ok := cog.ConfigForPanelcfgVariant(p.Type); !ok {
				problems = append(problems, fmt.Sprintf("%s: panel type %q is not a Grafana core panel plugin the schema knows", at, p.Type))
			}
			for j, rt := range p.Targets {
				var ds struct {
					Datasource struct {
						Type string `json:"type"`
					} `json:"datasource"`
				}
				_ = json.Unmarshal(rt, &ds)
				tat := fmt.Sprintf("%s.targets[%d]", at, j)
				if ds.Datasource.Type != "prometheus" {
					problems = append(problems, fmt.Sprintf("%s: datasource type %q, want prometheus", tat, ds.Datasource.Type))
				}
				// Decoded directly: the SDK's variant unmarshaler drops the query when the
				// (empty) error list comes back, see strictProblems.
				var q grafanaprom.Dataquery
				qp := strictProblems(q.UnmarshalJSONStrict(rt))
				for _, pr := range qp {
					problems = append(problems, tat+": "+pr)
				}
				if len(qp) == 0 && strings.TrimSpace(q.Expr) == "" {
					problems = append(problems, tat+": got no PromQL expr, want one")
				}
			}
		}
	}
	walk("panels", doc.Panels)
	return problems
}

func TestDashboardStrictSchema(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "monitoring/grafana/dashboards/*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("dashboards: got %v (%v), want at least one", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range strictDashboardProblems(raw) {
				t.Errorf("Grafana schema: %s", p)
			}
		})
	}
}

// TestDashboardStrictSchemaCatchesMistakes makes sure the strict check above is not vacuous:
// each mutation of the real dashboard must be reported, and at the right place.
func TestDashboardStrictSchemaCatchesMistakes(t *testing.T) {
	orig, err := os.ReadFile(filepath.Join(repoRoot(t), dashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	if got := strictDashboardProblems(orig); len(got) != 0 {
		t.Fatalf("the unmodified dashboard must pass first: %v", got)
	}
	firstOf := func(d map[string]any, typ string) map[string]any {
		for _, p := range d["panels"].([]any) {
			if pm := p.(map[string]any); pm["type"] == typ {
				return pm
			}
		}
		t.Fatalf("no %s panel in %s", typ, dashboardFile)
		return nil
	}
	for _, c := range []struct {
		name   string
		mutate func(d map[string]any)
		want   string // substring of one reported problem
	}{
		{"unknown dashboard field", func(d map[string]any) { d["refreshIntervall"] = "30s" }, "unexpected field 'refreshIntervall'"},
		{"wrong type", func(d map[string]any) { d["editable"] = "no" }, "editable"},
		{"unknown timeseries option", func(d map[string]any) {
			firstOf(d, "timeseries")["options"].(map[string]any)["legend"].(map[string]any)["showLegendd"] = true
		}, "showLegendd"},
		{"missing stat option", func(d map[string]any) {
			delete(firstOf(d, "stat")["options"].(map[string]any), "reduceOptions")
		}, "reduceOptions"},
		{"query field of the wrong type", func(d map[string]any) {
			firstOf(d, "timeseries")["targets"].([]any)[0].(map[string]any)["instant"] = "yes"
		}, "instant"},
		{"unknown panel type", func(d map[string]any) { firstOf(d, "table")["type"] = "tabel" }, `panel type "tabel"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var d map[string]any
			if err := json.Unmarshal(orig, &d); err != nil {
				t.Fatal(err)
			}
			c.mutate(d)
			raw, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			problems := strictDashboardProblems(raw)
			for _, p := range problems {
				if strings.Contains(p, c.want) {
					return
				}
			}
			t.Errorf("got problems %q, want one mentioning %q", problems, c.want)
		})
	}
}
