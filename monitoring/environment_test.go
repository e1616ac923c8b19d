package monitoring

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Environments (issue 18): one Prometheus may watch several environments whose queues live in
// different vhosts of one broker. The scrape configurations label every series with
// `environment`; the alerts aggregate per environment and the dashboard selects one. These
// checks keep it that way; the promtool cases in environments_test.yml show the behaviour.

var (
	// aggregation matches a PromQL aggregation operator and what follows it: "by (", "without (" or "(".
	aggregation = regexp.MustCompile(`\b(sum|min|max|avg|count|group|stddev|stdvar|topk|bottomk|quantile|count_values)\s*(by\s*\(([^)]*)\)|without\s*\(([^)]*)\)|\()`)
	// onClause matches a vector matching clause of a binary operator and the text right after it.
	onClause = regexp.MustCompile(`\bon\s*\(([^)]*)\)\s*(\S*)`)
	// selector matches a metric selector of the series the alerts and the dashboard read.
	selector = regexp.MustCompile(`\b((?:enrichment|rabbitmq)_[a-zA-Z0-9_]+|up)\b(\{[^}]*\})?(\s*\()?`)
)

func labelList(s string) []string {
	var out []string
	for _, l := range strings.Split(s, ",") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// environmentProblems returns the places where an expression mixes environments: an aggregation
// that does not keep `environment` (or the per-target `instance`), or a vector match that ignores
// it (`on ()` is allowed only to fall back to absent()).
func environmentProblems(expr string) []string {
	var problems []string
	for _, m := range aggregation.FindAllStringSubmatch(expr, -1) {
		switch {
		case strings.HasPrefix(m[2], "by"):
			labels := labelList(m[3])
			if !slices.Contains(labels, "environment") && !slices.Contains(labels, "instance") {
				problems = append(problems, fmt.Sprintf("%q aggregates over environments (by %v)", m[0], labels))
			}
		case strings.HasPrefix(m[2], "without"):
			if slices.Contains(labelList(m[4]), "environment") {
				problems = append(problems, fmt.Sprintf("%q drops environment", m[0]))
			}
		default:
			problems = append(problems, fmt.Sprintf("%s(...) without by (environment, ...) sums every environment together", m[1]))
		}
	}
	for _, m := range onClause.FindAllStringSubmatch(expr, -1) {
		labels := labelList(m[1])
		if len(labels) == 0 {
			if !strings.HasPrefix(m[2], "absent(") {
				problems = append(problems, fmt.Sprintf("%q matches across environments", m[0]))
			}
			continue
		}
		if !slices.Contains(labels, "environment") && !slices.Contains(labels, "instance") {
			problems = append(problems, fmt.Sprintf("%q matches without environment", m[0]))
		}
	}
	return problems
}

func TestAlertsAreScopedToEnvironments(t *testing.T) {
	var checked int
	for _, r := range alertRules(t) {
		name := r.name
		if name == "" {
			name = "recording rule " + r.record
		}
		for _, p := range environmentProblems(r.expr) {
			t.Errorf("%s: %s; want every aggregation by (environment, ...) and every match on (environment, ...)", name, p)
		}
		checked++
	}
	// The check itself must catch what the issue found: a sum over every vhost.
	for _, bad := range []string{
		`sum(rabbitmq_queue_messages_ready{queue="metadata_enrichment_queue"}) > 1000`,
		`sum by (queue) (rabbitmq_queue_consumers{queue="metadata_enrichment_queue"}) == 0`,
		`x > 1 and on () sum by (environment) (y) > 0`,
	} {
		if len(environmentProblems(bad)) == 0 {
			t.Errorf("environmentProblems(%q): got none, want the expression reported", bad)
		}
	}
	t.Logf("%d rules aggregate and match per environment", checked)
}

func TestDashboardSelectsOneEnvironment(t *testing.T) {
	for _, f := range glob(t, dashboardsGlob) {
		d := loadDashboard(t, f)
		var hasVar bool
		for _, v := range d.Templating.List {
			if v.Name == "environment" && v.Type == "query" {
				hasVar = true
				if q := fmt.Sprint(v.Query); !strings.Contains(q, `label_values(up{job="enrichment-worker"}, environment)`) {
					t.Errorf("%s variable environment: got query %v, want label_values(up{job=\"enrichment-worker\"}, environment)", filepath.Base(f), q)
				}
			}
		}
		if !hasVar {
			t.Errorf("%s: got no environment variable, want one (a query variable over the workers' environment label)", filepath.Base(f))
		}
	}
	var selectors int
	for _, q := range dashboardQueries(t) {
		for _, m := range selector.FindAllStringSubmatch(q.expr, -1) {
			if m[3] != "" { // a function call, not a selector (none today)
				continue
			}
			selectors++
			if !strings.Contains(m[2], `environment="$environment"`) {
				t.Errorf("%s: selector %s%s has no environment=\"$environment\", want every series scoped to the selected environment", q.where, m[1], m[2])
			}
		}
	}
	t.Logf("%d selectors in the dashboard queries, each scoped to $environment", selectors)
}

// scrapeEnvironment returns the environment a scrape job sets on its targets: a static label or a
// relabel_configs replacement into `environment`.
func scrapeEnvironment(job any) string {
	for _, sc := range listAt(job, "static_configs") {
		if env := strAt(sc, "labels", "environment"); env != "" {
			return env
		}
	}
	for _, r := range listAt(job, "relabel_configs") {
		if strAt(r, "target_label") == "environment" {
			return strAt(r, "replacement")
		}
	}
	return ""
}

func TestScrapeConfigsLabelEnvironment(t *testing.T) {
	for _, cfg := range []string{promConfig, promNativeConfig} {
		t.Run(filepath.Base(cfg), func(t *testing.T) {
			envs := map[string]string{}
			var keepsVhost bool
			for _, job := range listAt(loadYAML(t, path(t, cfg))[0], "scrape_configs") {
				name := strAt(job, "job_name")
				if name != "enrichment-worker" && name != "rabbitmq" {
					continue
				}
				envs[name] = scrapeEnvironment(job)
				if name != "rabbitmq" {
					continue
				}
				for _, r := range listAt(job, "metric_relabel_configs") {
					if strAt(r, "action") == "keep" && slices.Equal(anyStrings(listAt(r, "source_labels")), []string{"vhost"}) {
						keepsVhost = true
					}
				}
			}
			if envs["enrichment-worker"] == "" {
				t.Errorf("job enrichment-worker: got no environment label, want one set by the scrape configuration")
			}
			if envs["rabbitmq"] != envs["enrichment-worker"] {
				t.Errorf("job rabbitmq environment: got %q, want the workers' %q (the alerts join queue and worker series on it)", envs["rabbitmq"], envs["enrichment-worker"])
			}
			if !keepsVhost {
				t.Errorf("job rabbitmq: got no metric_relabel_configs keep rule on vhost, want only the environment's vhost kept (a shared broker serves other environments too)")
			}
		})
	}
}
