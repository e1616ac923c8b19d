package monitoring

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// installHint is printed whenever a tool the checks need is missing: the checks fail, they never
// skip, so a machine without the tools cannot pass them by accident.
const installHint = "apt-get update && apt-get install -y --no-install-recommends prometheus docker-compose"

const runbookURLPrefix = "https://github.com/djmeta/enrichment/blob/main/docs/runbooks.md#"

// Paths relative to the repository root.
const (
	promConfig       = "monitoring/prometheus/prometheus.yml"
	promNativeConfig = "monitoring/prometheus/prometheus.native.yml"
	alertsGlob       = "monitoring/prometheus/alerts/*.yml"
	alertTestsGlob   = "monitoring/prometheus/alerts/tests/*.yml"
	dashboardsGlob   = "monitoring/grafana/dashboards/*.json"
	mainDashboard    = "monitoring/grafana/dashboards/enrichment-pipeline.json"
	metricsDoc       = "docs/metrics.md"
	runbooksDoc      = "docs/runbooks.md"
	k8sDir           = "deploy/k8s"
)

// ---------------------------------------------------------------------------------------------
// helpers

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatalf("repository root: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root %s has no go.mod: %v", root, err)
	}
	return root
}

func path(t *testing.T, rel string) string {
	t.Helper()
	return filepath.Join(repoRoot(t), filepath.FromSlash(rel))
}

func glob(t *testing.T, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(path(t, pattern))
	if err != nil {
		t.Fatalf("glob %s: %v", pattern, err)
	}
	if len(files) == 0 {
		t.Fatalf("glob %s: got no files, want at least one", pattern)
	}
	sort.Strings(files)
	return files
}

func readFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(path(t, rel))
	if err != nil {
		t.Fatalf("read %s: %v", rel, err)
	}
	return b
}

// requireTool returns the path of a command, or fails the test saying how to install it.
func requireTool(t *testing.T, name, hint string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed (%v); install it with: %s", name, err, hint)
	}
	return p
}

// run executes a command in dir and returns its combined output.
func run(t *testing.T, dir, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if ctx.Err() != nil {
		err = errors.Join(err, ctx.Err())
	}
	return out.String(), err
}

// yamlToJSON converts a (multi-document) YAML file to JSON with PyYAML's safe loader. The module
// has no YAML library in go.sum; python3-yaml comes with docker-compose, which the checks need anyway.
const yamlToJSON = `import json, sys, yaml
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
with open(sys.argv[1], encoding="utf-8") as f:
    docs = [d for d in yaml.load_all(f, Loader=Loader) if d is not None]
json.dump(docs, sys.stdout, default=str)
`

var python struct {
	path string
	err  error
}

func requirePyYAML(t *testing.T) string {
	t.Helper()
	if python.path == "" && python.err == nil {
		python.err = errors.New("no python3 with the yaml module found")
		// Debian's interpreter first: python3-yaml is installed for it.
		for _, cand := range []string{"/usr/bin/python3", "python3"} {
			p, err := exec.LookPath(cand)
			if err != nil {
				continue
			}
			if out, err := exec.Command(p, "-c", "import yaml").CombinedOutput(); err != nil {
				python.err = fmt.Errorf("%s: %v: %s", p, err, out)
				continue
			}
			python.path, python.err = p, nil
			break
		}
	}
	if python.err != nil {
		t.Fatalf("PyYAML is needed to read YAML (%v); install it with: %s (docker-compose depends on python3-yaml)", python.err, installHint)
	}
	return python.path
}

// loadYAML returns the documents of a YAML file as generic JSON values.
func loadYAML(t *testing.T, file string) []any {
	t.Helper()
	py := requirePyYAML(t)
	cmd := exec.Command(py, "-c", yamlToJSON, file)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("parse YAML %s: %v\n%s", file, err, stderr.String())
	}
	var docs []any
	if err := json.Unmarshal(stdout.Bytes(), &docs); err != nil {
		t.Fatalf("decode YAML %s: %v", file, err)
	}
	return docs
}

func mapAt(v any, keys ...string) map[string]any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	m, _ := v.(map[string]any)
	return m
}

func strAt(v any, keys ...string) string {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[k]
	}
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	default:
		return fmt.Sprint(x)
	}
}

func listAt(v any, keys ...string) []any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	l, _ := v.([]any)
	return l
}

// ---------------------------------------------------------------------------------------------
// (a) promtool

func TestPromtoolCheckConfig(t *testing.T) {
	promtool := requireTool(t, "promtool", installHint)
	for _, cfg := range []string{promConfig, promNativeConfig} {
		t.Run(filepath.Base(cfg), func(t *testing.T) {
			// check config also checks the rule files the configuration loads.
			out, err := run(t, repoRoot(t), promtool, "check", "config", cfg)
			if err != nil {
				t.Fatalf("promtool check config %s: got %v, want success\n%s", cfg, err, out)
			}
			if !strings.Contains(out, "rules found") {
				t.Errorf("promtool check config %s: got no rule file checked, want the alert rules wired in via rule_files\n%s", cfg, out)
			}
		})
	}
}

func TestPromtoolCheckRules(t *testing.T) {
	promtool := requireTool(t, "promtool", installHint)
	for _, f := range glob(t, alertsGlob) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			out, err := run(t, repoRoot(t), promtool, "check", "rules", f)
			if err != nil {
				t.Fatalf("promtool check rules %s: got %v, want success\n%s", f, err, out)
			}
		})
	}
}

func TestPromtoolTestRules(t *testing.T) {
	promtool := requireTool(t, "promtool", installHint)
	files := glob(t, alertTestsGlob)
	out, err := run(t, repoRoot(t), promtool, append([]string{"test", "rules"}, files...)...)
	if err != nil {
		t.Fatalf("promtool test rules: got %v, want success\n%s", err, out)
	}
	if got, want := strings.Count(out, "SUCCESS"), len(files); got != want {
		t.Errorf("promtool test rules: got %d successful files, want %d\n%s", got, want, out)
	}
}

// TestAlertTestsCoverAlerts: every alert of the rule files has a promtool test case in which it
// fires, one in which it stays silent, and one with its input series missing. A silent case only
// counts when its test feeds at least one series the alert's expression reads (directly or
// through a recording rule): an alert that is quiet because it has no data at all proves nothing.
// A case that feeds none of the series the alert reads is its "missing" case, and counts only if
// some alert (the alert itself through absent(), or the guard that covers it) is expected to fire
// at the same time: an input that can disappear must not leave every alert silent.
func TestAlertTestsCoverAlerts(t *testing.T) {
	rules := alertRules(t)
	recorded := map[string]string{} // recording rule name -> expr
	exprs := map[string]string{}    // alert name -> expr with the recording rules it reads
	for _, r := range rules {
		if r.record != "" {
			recorded[r.record] = r.expr
		}
	}
	for _, r := range rules {
		if r.name == "" {
			continue
		}
		expr := r.expr
		for rec, recExpr := range recorded {
			if readsSeries(expr, rec) {
				expr += "\n" + recExpr
			}
		}
		exprs[r.name] = expr
	}

	firing := map[string][]string{}
	silent := map[string][]string{}
	missing := map[string][]string{}
	for _, f := range glob(t, alertTestsGlob) {
		for _, doc := range loadYAML(t, f) {
			for i, tc := range listAt(doc, "tests") {
				var inputs []string
				for _, in := range listAt(tc, "input_series") {
					inputs = append(inputs, inputName(strAt(in, "series")))
				}
				firesAt := map[string]bool{} // eval_time -> some alert expected to fire
				for _, at := range listAt(tc, "alert_rule_test") {
					if len(listAt(at, "exp_alerts")) > 0 {
						firesAt[strAt(at, "eval_time")] = true
					}
				}
				for _, at := range listAt(tc, "alert_rule_test") {
					name := strAt(at, "alertname")
					where := fmt.Sprintf("%s test %d at %s", filepath.Base(f), i+1, strAt(at, "eval_time"))
					expr, known := exprs[name]
					if !known {
						t.Errorf("%s expects alert %q: got no such alert in %s", where, name, alertsGlob)
						continue
					}
					fires := len(listAt(at, "exp_alerts")) > 0
					fed := slices.ContainsFunc(inputs, func(in string) bool { return readsInput(expr, in) })
					switch {
					case fires:
						firing[name] = append(firing[name], where)
					case fed:
						silent[name] = append(silent[name], where)
					case !firesAt[strAt(at, "eval_time")]:
						t.Errorf("%s: silent case for %s feeds none of the series it reads (inputs %v) and expects no other alert to fire, want data present and the alert quiet, or its series missing and a guard firing", where, name, inputs)
					}
					if !fed && firesAt[strAt(at, "eval_time")] {
						missing[name] = append(missing[name], where)
					}
				}
			}
		}
	}
	names := keys(alertNames(t))
	if len(names) == 0 {
		t.Fatalf("got no alerts in %s", alertsGlob)
	}
	for _, name := range names {
		if len(firing[name]) == 0 {
			t.Errorf("alert %s: got no promtool test case in which it fires, want one in %s", name, alertTestsGlob)
		}
		if len(silent[name]) == 0 {
			t.Errorf("alert %s: got no promtool test case in which it stays silent on real input, want one in %s", name, alertTestsGlob)
		}
		if len(missing[name]) == 0 {
			t.Errorf("alert %s: got no promtool test case with its input series missing and a guard firing, want one in %s (missing_test.yml)", name, alertTestsGlob)
		}
	}
	if !t.Failed() {
		t.Logf("%d alerts, each with a firing, a silent and a missing-series promtool case (%d firing, %d silent and %d missing-series expectations in all)",
			len(names), countAll(firing), countAll(silent), countAll(missing))
	}
}

// inputName is the name a promtool input series is matched by: the metric name, and for `up` the
// metric name with its job (`up{job="rabbitmq"}` feeds no alert over the workers' `up`).
func inputName(series string) string {
	name, rest, _ := strings.Cut(series, "{")
	name = strings.TrimSpace(name)
	if name == "up" {
		if m := regexp.MustCompile(`job="([^"]*)"`).FindStringSubmatch(rest); m != nil {
			return `up{job="` + m[1] + `"`
		}
	}
	return name
}

// readsInput reports whether an expression reads an input named by inputName.
func readsInput(expr, input string) bool {
	if strings.HasPrefix(input, "up{") {
		return strings.Contains(expr, input)
	}
	return readsSeries(expr, input)
}

// readsSeries reports whether a PromQL expression names the series name as a whole word.
func readsSeries(expr, name string) bool {
	re := regexp.MustCompile(`(^|[^a-zA-Z0-9_:])` + regexp.QuoteMeta(name) + `($|[^a-zA-Z0-9_:])`)
	return re.MatchString(expr)
}

func countAll(m map[string][]string) int {
	n := 0
	for _, v := range m {
		n += len(v)
	}
	return n
}

// TestDashboardQueriesArePromQL feeds every dashboard query, with Grafana's variables replaced,
// to `promtool check rules` as recording rules: a syntax error fails here instead of in Grafana.
func TestDashboardQueriesArePromQL(t *testing.T) {
	promtool := requireTool(t, "promtool", installHint)
	var rules []map[string]string
	for _, q := range dashboardQueries(t) {
		expr := expandDashboardVars(q.expr, "5m")
		if strings.Contains(expr, "$") {
			t.Errorf("%s: got an unknown variable in %q, want only $__rate_interval, $__interval, $__range, $environment and $provider", q.where, q.expr)
			continue
		}
		rules = append(rules, map[string]string{"record": fmt.Sprintf("dashboard:query_%d", len(rules)), "expr": expr})
	}
	doc := map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}}
	b, err := json.Marshal(doc) // JSON is YAML
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "dashboard-queries.yml")
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, repoRoot(t), promtool, "check", "rules", f)
	if err != nil {
		t.Fatalf("dashboard queries: got %v, want valid PromQL\n%s", err, out)
	}
}

// ---------------------------------------------------------------------------------------------
// (b) docker compose

func TestComposeConfig(t *testing.T) {
	dc := requireTool(t, "docker-compose", installHint)
	root := repoRoot(t)
	args := []string{"-f", "docker-compose.yml", "-f", "docker-compose.workers.yml", "config"}
	if out, err := run(t, root, dc, append(args, "-q")...); err != nil {
		t.Fatalf("docker-compose %s -q: got %v, want a valid configuration\n%s", strings.Join(args, " "), err, out)
	}
	services := mapAt(composeConfig(t, composeFile, composeWorkersFile), "services")

	for _, name := range []string{"postgres", "redis", "rabbitmq", "prometheus", "alertmanager", "grafana", "provider-sim", "migrate", "queue-init", "enrichment-worker"} {
		if services[name] == nil {
			t.Errorf("service %s: got none, want it defined", name)
		}
	}

	t.Run("healthchecks", func(t *testing.T) {
		for _, name := range []string{"postgres", "redis", "rabbitmq", "prometheus", "alertmanager", "grafana", "provider-sim", "enrichment-worker"} {
			if len(listAt(services[name], "healthcheck", "test")) == 0 {
				t.Errorf("service %s: got no healthcheck test, want one", name)
			}
		}
	})

	// Scaling, limits, grace period, healthcheck and environment of the worker service:
	// TestComposeDeployment (deploy_test.go).
	worker := services["enrichment-worker"]
	checks := []struct {
		name string
		got  string
		want string
	}{
		{"restart", strAt(worker, "restart"), "unless-stopped"},
		{"depends on migrate", strAt(worker, "depends_on", "migrate", "condition"), "service_completed_successfully"},
		{"depends on queue-init", strAt(worker, "depends_on", "queue-init", "condition"), "service_completed_successfully"},
		{"METRICS_ADDR", strAt(worker, "environment", "METRICS_ADDR"), ":9464"},
		{"SPOTIFY_API_URL (provider-sim)", strAt(worker, "environment", "SPOTIFY_API_URL"), "http://provider-sim:8090/spotify/v1"},
		{"MUSICBRAINZ_API_URL (provider-sim)", strAt(worker, "environment", "MUSICBRAINZ_API_URL"), "http://provider-sim:8090/musicbrainz/ws/2"},
		{"DISCOGS_API_URL (provider-sim)", strAt(worker, "environment", "DISCOGS_API_URL"), "http://provider-sim:8090/discogs"},
		{"migrate command", strings.Join(append(anyStrings(listAt(services["migrate"], "entrypoint")), anyStrings(listAt(services["migrate"], "command"))...), " "), "/usr/local/bin/enrichctl migrate up"},
		{"migrate waits for postgres", strAt(services["migrate"], "depends_on", "postgres", "condition"), "service_healthy"},
		{"queue-init entrypoint", strings.Join(anyStrings(listAt(services["queue-init"], "entrypoint")), " "), "/usr/local/bin/queue-init"},
		{"queue-init waits for rabbitmq", strAt(services["queue-init"], "depends_on", "rabbitmq", "condition"), "service_healthy"},
		{"postgres database", strAt(services["postgres"], "environment", "POSTGRES_DB"), "musicdb"},
		{"provider-sim entrypoint", strings.Join(anyStrings(listAt(services["provider-sim"], "entrypoint")), " "), "/usr/local/bin/provider-sim -catalog /usr/share/enrichment/catalog.json"},
		{"provider-sim dockerfile", strAt(services["provider-sim"], "build", "dockerfile"), "Dockerfile.worker"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
}

func anyStrings(l []any) []string {
	out := make([]string, 0, len(l))
	for _, v := range l {
		out = append(out, fmt.Sprint(v))
	}
	return out
}

func TestDockerfile(t *testing.T) {
	df := string(readFile(t, "Dockerfile.worker"))
	for _, want := range []string{
		"FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build",
		"ARG GO_IMAGE=golang:1.26.8-bookworm@sha256:",
		"ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot",
		"docker buildx imagetools inspect",
		"CGO_ENABLED=0",
		"-trimpath",
		`-ldflags "-s -w`,
		"./cmd/queue-init", "./cmd/enrichment-worker", "./cmd/enrichctl", "./cmd/provider-sim",
		"COPY --from=build /out/ /usr/local/bin/",
		"/usr/share/enrichment/catalog.json",
		"org.opencontainers.image.source",
		"org.opencontainers.image.version",
		"org.opencontainers.image.revision",
		`CMD ["/usr/local/bin/enrichment-worker", "healthcheck"]`,
		"USER 65532:65532",
	} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile.worker: got no %q, want it", want)
		}
	}
	ignore := strings.Fields(string(readFile(t, ".dockerignore")))
	for _, needed := range []string{"go.mod", "go.sum", "cmd", "internal", "migrations"} {
		if slices.Contains(ignore, needed) {
			t.Errorf(".dockerignore: got %q excluded, want it in the build context", needed)
		}
	}
	if !slices.Contains(ignore, "!testdata/catalog") {
		t.Errorf(".dockerignore: got no !testdata/catalog, want provider-sim's catalog in the build context")
	}
}

// ---------------------------------------------------------------------------------------------
// (c) dashboard and metric catalog

type query struct {
	where string // "dashboard <title>" or "alert <name>"
	expr  string
}

type panel struct {
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	ID         int            `json:"id"`
	Datasource map[string]any `json:"datasource"`
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		Expr       string         `json:"expr"`
		RefID      string         `json:"refId"`
		Datasource map[string]any `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // collapsed rows
}

type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

func loadDashboard(t *testing.T, file string) dashboard {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("dashboard %s: got invalid JSON: %v", file, err)
	}
	return d
}

// flatPanels returns every non-row panel, including those nested in collapsed rows.
func flatPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		if p.Type == "row" {
			out = append(out, flatPanels(p.Panels)...)
			continue
		}
		out = append(out, p)
	}
	return out
}

func dashboardQueries(t *testing.T) []query {
	t.Helper()
	var qs []query
	for _, f := range glob(t, dashboardsGlob) {
		d := loadDashboard(t, f)
		for _, p := range flatPanels(d.Panels) {
			for _, tg := range p.Targets {
				qs = append(qs, query{where: fmt.Sprintf("dashboard %s panel %q", filepath.Base(f), p.Title), expr: tg.Expr})
			}
		}
	}
	return qs
}

func TestDashboard(t *testing.T) {
	for _, f := range glob(t, dashboardsGlob) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			d := loadDashboard(t, f)
			if d.UID == "" || d.Title == "" {
				t.Errorf("uid/title: got %q/%q, want both set", d.UID, d.Title)
			}
			var dsVar bool
			for _, v := range d.Templating.List {
				if v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus" {
					dsVar = true
				}
			}
			if !dsVar {
				t.Errorf("templating: got no datasource variable, want {name: datasource, type: datasource, query: prometheus}")
			}
			panels := flatPanels(d.Panels)
			if f == path(t, mainDashboard) {
				if got, want := len(panels), 12; got < want {
					t.Errorf("panels: got %d, want at least %d", got, want)
				}
			}
			ids := map[int]string{}
			for _, p := range d.Panels {
				if prev, dup := ids[p.ID]; dup {
					t.Errorf("panel id %d: got it on %q and %q, want unique ids", p.ID, prev, p.Title)
				}
				ids[p.ID] = p.Title
			}
			for _, p := range panels {
				if p.Title == "" {
					t.Errorf("panel %d: got no title, want one", p.ID)
				}
				if got := fmt.Sprint(p.Datasource["uid"]); got != "${datasource}" {
					t.Errorf("panel %q datasource uid: got %q, want ${datasource}", p.Title, got)
				}
				if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
					t.Errorf("panel %q gridPos: got %+v, want inside the 24-column grid", p.Title, p.GridPos)
				}
				if len(p.Targets) == 0 {
					t.Errorf("panel %q: got no targets, want at least one", p.Title)
				}
				for _, tg := range p.Targets {
					if strings.TrimSpace(tg.Expr) == "" {
						t.Errorf("panel %q target %s: got an empty expr, want a query", p.Title, tg.RefID)
					}
					if got := fmt.Sprint(tg.Datasource["uid"]); got != "${datasource}" {
						t.Errorf("panel %q target %s datasource uid: got %q, want ${datasource}", p.Title, tg.RefID, got)
					}
				}
			}
		})
	}
}

type catalogEntry struct{ typ string }

// metricCatalog reads the metric tables of docs/metrics.md: rows whose first cell is a
// back-quoted metric name and whose second cell is its type.
func metricCatalog(t *testing.T) map[string]catalogEntry {
	t.Helper()
	row := regexp.MustCompile("^\\|\\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`\\s*\\|\\s*(counter|gauge|histogram|summary)\\s*\\|")
	cat := map[string]catalogEntry{}
	for _, line := range strings.Split(string(readFile(t, metricsDoc)), "\n") {
		if m := row.FindStringSubmatch(line); m != nil {
			if _, dup := cat[m[1]]; dup {
				t.Errorf("%s: got metric %s listed twice, want once", metricsDoc, m[1])
			}
			cat[m[1]] = catalogEntry{typ: m[2]}
		}
	}
	if len(cat) == 0 {
		t.Fatalf("%s: got no metric table rows, want | `name` | type | labels | meaning |", metricsDoc)
	}
	return cat
}

// TestMetricCatalog checks that docs/metrics.md documents the contract's metrics and the
// worker's extra ones, with the right type.
func TestMetricCatalog(t *testing.T) {
	cat := metricCatalog(t)
	want := map[string]string{
		// CONTRACT.md
		"enrichment_tasks_total":                       "counter",
		"enrichment_task_duration_seconds":             "histogram",
		"enrichment_provider_requests_total":           "counter",
		"enrichment_provider_request_duration_seconds": "histogram",
		"enrichment_cache_requests_total":              "counter",
		"enrichment_provider_rate_limited_total":       "counter",
		"enrichment_ratelimit_wait_seconds":            "histogram",
		"enrichment_circuit_breaker_state":             "gauge",
		"enrichment_api_cost_usd_total":                "counter",
		"enrichment_retries_total":                     "counter",
		"enrichment_dead_lettered_total":               "counter",
		"enrichment_inflight_tasks":                    "gauge",
		"enrichment_amqp_reconnects_total":             "counter",
		// worker extras
		"enrichment_amqp_connected":                        "gauge",
		"enrichment_worker_ready":                          "gauge",
		"enrichment_redis_up":                              "gauge",
		"enrichment_db_write_duration_seconds":             "histogram",
		"enrichment_provider_budget_remaining":             "gauge",
		"enrichment_build_info":                            "gauge",
		"enrichment_last_task_completed_timestamp_seconds": "gauge",
		"enrichment_tasks_received_total":                  "counter",
		"enrichment_provider_budget_limit":                 "gauge",
		"enrichment_ratelimit_local_fallback":              "gauge",
	}
	for name, typ := range want {
		got, ok := cat[name]
		if !ok {
			t.Errorf("%s: got no row for %s, want it documented as a %s", metricsDoc, name, typ)
			continue
		}
		if got.typ != typ {
			t.Errorf("%s: got %s typed %s, want %s", metricsDoc, name, got.typ, typ)
		}
	}
	for name, e := range cat {
		if !strings.HasPrefix(name, "enrichment_") {
			continue
		}
		if strings.HasSuffix(name, "_total") != (e.typ == "counter") {
			t.Errorf("%s: got %s typed %s, want counters and only counters to end in _total", metricsDoc, name, e.typ)
		}
	}
}

var metricRef = regexp.MustCompile(`\b(?:enrichment|rabbitmq)_[a-zA-Z0-9_]+`)

// TestQueriedMetricsAreCatalogued: nothing in the dashboards or the alert rules may query an
// enrichment_* or rabbitmq_* metric that docs/metrics.md does not list.
func TestQueriedMetricsAreCatalogued(t *testing.T) {
	cat := metricCatalog(t)
	qs := append(dashboardQueries(t), alertQueries(t)...)
	if len(qs) == 0 {
		t.Fatal("got no queries, want the dashboard's and the alerts'")
	}
	seen := map[string]bool{}
	for _, q := range qs {
		for _, name := range metricRef.FindAllString(q.expr, -1) {
			seen[name] = true
			if _, ok := cat[name]; ok {
				continue
			}
			ok := false
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				base, found := strings.CutSuffix(name, suffix)
				if e, known := cat[base]; found && known && (e.typ == "histogram" || (e.typ == "summary" && suffix != "_bucket")) {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s queries %s: got a metric not in %s, want only catalogued metrics", q.where, name, metricsDoc)
			}
		}
	}
	if got, want := len(seen), 15; got < want {
		t.Errorf("distinct metrics queried: got %d, want at least %d", got, want)
	}
}

// ---------------------------------------------------------------------------------------------
// (d) alerts and runbooks

type alertRule struct {
	file        string
	group       string
	name        string // alert name; empty for a recording rule
	record      string // recording rule name; empty for an alert
	expr        string
	labels      map[string]any
	annotations map[string]any
}

func alertRules(t *testing.T) []alertRule {
	t.Helper()
	var rules []alertRule
	for _, f := range glob(t, alertsGlob) {
		for _, doc := range loadYAML(t, f) {
			for _, g := range listAt(doc, "groups") {
				for _, r := range listAt(g, "rules") {
					rules = append(rules, alertRule{
						file:        filepath.Base(f),
						group:       strAt(g, "name"),
						name:        strAt(r, "alert"),
						record:      strAt(r, "record"),
						expr:        strAt(r, "expr"),
						labels:      mapAt(r, "labels"),
						annotations: mapAt(r, "annotations"),
					})
				}
			}
		}
	}
	return rules
}

func alertQueries(t *testing.T) []query {
	var qs []query
	for _, r := range alertRules(t) {
		where := "alert " + r.name
		if r.name == "" {
			where = "recording rule in group " + r.group
		}
		qs = append(qs, query{where: where, expr: r.expr})
	}
	return qs
}

func alertNames(t *testing.T) map[string]bool {
	names := map[string]bool{}
	for _, r := range alertRules(t) {
		if r.name != "" {
			names[r.name] = true
		}
	}
	return names
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// runbookAnchors returns the GitHub anchors of the headings of docs/runbooks.md.
func runbookAnchors(t *testing.T) map[string]bool {
	t.Helper()
	heading := regexp.MustCompile(`^#{1,6}\s+(.+?)\s*$`)
	drop := regexp.MustCompile(`[^a-z0-9 _-]`)
	anchors := map[string]bool{}
	inFence := false
	for _, line := range strings.Split(string(readFile(t, runbooksDoc)), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inFence = !inFence
		}
		if inFence {
			continue
		}
		if m := heading.FindStringSubmatch(line); m != nil {
			slug := strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(m[1]), ""), " ", "-")
			anchors[slug] = true
		}
	}
	return anchors
}

func TestAlertRulesAnnotated(t *testing.T) {
	anchors := runbookAnchors(t)
	seen := map[string]bool{}
	var alerts int
	for _, r := range alertRules(t) {
		if r.name == "" {
			continue
		}
		alerts++
		t.Run(r.name, func(t *testing.T) {
			if seen[r.name] {
				t.Errorf("alert %s: got it defined twice, want unique names", r.name)
			}
			seen[r.name] = true
			if got := strAt(r.labels, "severity"); !slices.Contains([]string{"critical", "warning", "info"}, got) {
				t.Errorf("labels.severity: got %q, want critical, warning or info", got)
			}
			for _, key := range []string{"summary", "description", "runbook_url"} {
				if strings.TrimSpace(strAt(r.annotations, key)) == "" {
					t.Errorf("annotations.%s: got empty, want text", key)
				}
			}
			url := strAt(r.annotations, "runbook_url")
			anchor, ok := strings.CutPrefix(url, runbookURLPrefix)
			if !ok {
				t.Fatalf("runbook_url: got %q, want it to start with %s", url, runbookURLPrefix)
			}
			if want := strings.ToLower(r.name); anchor != want {
				t.Errorf("runbook_url anchor: got %q, want %q (the alert name in lower case)", anchor, want)
			}
			if !anchors[anchor] {
				t.Errorf("runbook_url anchor %q: got no such heading in %s, want a section `## %s`", anchor, runbooksDoc, r.name)
			}
		})
	}
	if got, want := alerts, 14; got < want {
		t.Errorf("alert rules: got %d, want at least %d", got, want)
	}
}

// TestAlertCoverage: the failure modes the service must alert on, and the alert covering each.
func TestAlertCoverage(t *testing.T) {
	names := alertNames(t)
	for _, c := range []struct{ concern, alert string }{
		{"cache hit rate low", "EnrichmentCacheHitRateLow"},
		{"provider error rate high", "EnrichmentProviderErrorRateHigh"},
		{"provider down", "EnrichmentProviderDown"},
		{"rate limiting frequent", "EnrichmentProviderRateLimited"},
		{"circuit open", "EnrichmentCircuitBreakerOpen"},
		{"budget at 80%", "EnrichmentProviderBudgetLow"},
		{"budget exhausted", "EnrichmentProviderBudgetExhausted"},
		{"DLQ growing", "EnrichmentDLQGrowing"},
		{"backlog growing", "EnrichmentBacklogGrowing"},
		{"oldest task too old", "EnrichmentBacklogTooOld"},
		{"no consumers", "EnrichmentQueueNoConsumers"},
		{"worker down", "EnrichmentWorkerDown"},
		{"no worker at all", "EnrichmentNoWorkers"},
		{"task latency p95 high", "EnrichmentTaskLatencyHigh"},
		{"success rate low", "EnrichmentSuccessRateLow"},
		{"reconnect storms", "EnrichmentAMQPReconnectStorm"},
		{"stale enrichment", "EnrichmentStale"},
	} {
		if !names[c.alert] {
			t.Errorf("%s: got no alert %s, want one (have %v)", c.concern, c.alert, keys(names))
		}
	}
}

// TestRunbooksMatchAlerts: every alert-like section of the runbooks belongs to an existing alert,
// so renamed or deleted alerts do not leave stale runbooks behind.
func TestRunbooksMatchAlerts(t *testing.T) {
	names := alertNames(t)
	section := regexp.MustCompile(`(?m)^## (Enrichment[A-Za-z0-9]+)\s*$`)
	var sections int
	for _, m := range section.FindAllStringSubmatch(string(readFile(t, runbooksDoc)), -1) {
		sections++
		if !names[m[1]] {
			t.Errorf("%s section %q: got no alert of that name, want a section per existing alert", runbooksDoc, m[1])
		}
	}
	if got, want := sections, len(names); got != want {
		t.Errorf("%s alert sections: got %d, want %d (one per alert)", runbooksDoc, got, want)
	}
}

// ---------------------------------------------------------------------------------------------
// (e) Kubernetes manifests

func k8sFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(path(t, k8sDir), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", k8sDir, err)
	}
	if len(files) == 0 {
		t.Fatalf("%s: got no YAML files, want the kustomize base and overlays", k8sDir)
	}
	return files
}

func TestKubernetesManifestsParse(t *testing.T) {
	root := repoRoot(t)
	for _, f := range k8sFiles(t) {
		rel, _ := filepath.Rel(root, f)
		t.Run(filepath.ToSlash(rel), func(t *testing.T) {
			docs := loadYAML(t, f)
			if len(docs) == 0 {
				t.Fatalf("got no YAML documents, want at least one")
			}
			for i, doc := range docs {
				if strAt(doc, "apiVersion") == "" || strAt(doc, "kind") == "" {
					t.Errorf("document %d: got apiVersion %q kind %q, want both set", i, strAt(doc, "apiVersion"), strAt(doc, "kind"))
				}
				kind := strAt(doc, "kind")
				if kind == "Kustomization" || kind == "Component" {
					dir := filepath.Dir(f)
					for _, field := range []string{"resources", "components"} {
						for _, r := range listAt(doc, field) {
							if _, err := os.Stat(filepath.Join(dir, fmt.Sprint(r))); err != nil {
								t.Errorf("%s entry %v: got %v, want an existing file or directory", field, r, err)
							}
						}
					}
					continue
				}
				if strAt(doc, "metadata", "name") == "" {
					t.Errorf("document %d (%s): got no metadata.name, want one", i, kind)
				}
			}
		})
	}
}

func manifestByKind(t *testing.T, rel, kind string) map[string]any {
	t.Helper()
	for _, doc := range loadYAML(t, path(t, rel)) {
		if strAt(doc, "kind") == kind {
			return doc.(map[string]any)
		}
	}
	t.Fatalf("%s: got no %s, want one", rel, kind)
	return nil
}

func TestWorkerDeployment(t *testing.T) {
	d := manifestByKind(t, k8sDir+"/base/deployment.yaml", "Deployment")
	pod := mapAt(d, "spec", "template", "spec")
	containers := listAt(pod, "containers")
	if len(containers) != 1 {
		t.Fatalf("containers: got %d, want 1", len(containers))
	}
	c := containers[0]
	// Probes, grace period, resources and environment: TestKubernetesDeployment (deploy_test.go).
	checks := []struct{ name, got, want string }{
		{"pod runAsNonRoot", strAt(pod, "securityContext", "runAsNonRoot"), "true"},
		{"pod seccompProfile", strAt(pod, "securityContext", "seccompProfile", "type"), "RuntimeDefault"},
		{"automountServiceAccountToken", strAt(pod, "automountServiceAccountToken"), "false"},
		{"container runAsNonRoot", strAt(c, "securityContext", "runAsNonRoot"), "true"},
		{"readOnlyRootFilesystem", strAt(c, "securityContext", "readOnlyRootFilesystem"), "true"},
		{"allowPrivilegeEscalation", strAt(c, "securityContext", "allowPrivilegeEscalation"), "false"},
		{"capabilities.drop", strings.Join(anyStrings(listAt(c, "securityContext", "capabilities", "drop")), ","), "ALL"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %q, want %q", ch.name, ch.got, ch.want)
		}
	}

	so := manifestByKind(t, k8sDir+"/base/keda-scaledobject.yaml", "ScaledObject")
	triggers := listAt(so, "spec", "triggers")
	if len(triggers) != 1 {
		t.Fatalf("ScaledObject triggers: got %d, want 1", len(triggers))
	}
	for _, ch := range []struct{ name, got, want string }{
		{"trigger type", strAt(triggers[0], "type"), "rabbitmq"},
		// The work queue and the priority lane, ready and unacked, summed (deploy/validate checks
		// the trigger against KEDA's scaler).
		{"trigger queueName", strAt(triggers[0], "metadata", "queueName"), "^metadata_enrichment_(queue|priority)$"},
		{"trigger mode", strAt(triggers[0], "metadata", "mode"), "QueueLength"},
		{"trigger protocol", strAt(triggers[0], "metadata", "protocol"), "http"},
		{"scale target", strAt(so, "spec", "scaleTargetRef", "name"), "enrichment-worker"},
	} {
		if ch.got != ch.want {
			t.Errorf("ScaledObject %s: got %q, want %q", ch.name, ch.got, ch.want)
		}
	}

	base := loadYAML(t, path(t, k8sDir+"/base/kustomization.yaml"))[0]
	resources := anyStrings(listAt(base, "resources"))
	for _, want := range []string{"configmap.yaml", "secret.yaml", "deployment.yaml", "pdb.yaml", "job-init.yaml", "keda-scaledobject.yaml", "servicemonitor.yaml", "service.yaml", "prometheusrule.yaml"} {
		if !slices.Contains(resources, want) {
			t.Errorf("base kustomization resources: got %v, want %s in it", resources, want)
		}
	}
	for _, r := range resources {
		if strings.Contains(r, "hpa") {
			t.Errorf("base kustomization resources: got %s, want the CPU HPA kept out of the default build", r)
		}
	}
}

// TestKustomizeBuild renders the base and the example overlay with kubectl's built-in kustomize.
func TestKustomizeBuild(t *testing.T) {
	kubectl := requireTool(t, "kubectl", "apt-get install -y kubectl (kubectl ships kustomize as `kubectl kustomize`)")
	for _, dir := range []string{"base", "overlays/example"} {
		t.Run(dir, func(t *testing.T) {
			out, err := run(t, repoRoot(t), kubectl, "kustomize", filepath.Join(k8sDir, dir))
			if err != nil {
				t.Fatalf("kubectl kustomize %s: got %v, want success\n%s", dir, err, out)
			}
			for _, kind := range []string{"Deployment", "ConfigMap", "Secret", "Job", "PodDisruptionBudget", "ScaledObject", "ServiceMonitor", "Service", "PrometheusRule"} {
				if !strings.Contains(out, "\nkind: "+kind+"\n") {
					t.Errorf("kubectl kustomize %s: got no %s, want one", dir, kind)
				}
			}
		})
	}
}
