package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"sigs.k8s.io/yaml"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, rulesFile)); err != nil {
		t.Fatalf("repository root %s: %v", root, err)
	}
	return root
}

func requireKubectl(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Fatalf("kubectl is not installed (%v): it renders the kustomizations (`kubectl kustomize`, as `kubectl apply -k` does)", err)
	}
}

// renderedBuilds renders and strictly decodes every build, failing on any decoding error.
func renderedBuilds(t *testing.T) (map[string][]object, []build) {
	t.Helper()
	requireKubectl(t)
	bs, err := builds(repoRoot(t), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]object{}
	for _, b := range bs {
		objs, err := renderAndDecode(context.Background(), b)
		if err != nil {
			t.Fatalf("%s: %v", b.name, err)
		}
		out[b.name] = objs
	}
	return out, bs
}

func TestGeneratedFilesUpToDate(t *testing.T) {
	stale, err := staleGenerated(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) > 0 {
		t.Errorf("generated files: got %v out of date with monitoring/, want them regenerated with `make manifests`", stale)
	}
}

// TestRenderedManifestsValidate: every object of every build decodes strictly into its API type,
// and the builds pass the cross-object checks (checks.go).
func TestRenderedManifestsValidate(t *testing.T) {
	root := repoRoot(t)
	rendered, bs := renderedBuilds(t)
	want := []string{"base", "overlays/example", "base+components/hpa-cpu", "base+components/rabbitmq-monitor"}
	for _, name := range want {
		if _, ok := rendered[name]; !ok {
			t.Errorf("builds: got no %s, want it rendered", name)
		}
	}
	var total int
	for _, b := range bs {
		objs := rendered[b.name]
		total += len(objs)
		kinds := map[string]bool{}
		for _, o := range objs {
			kinds[o.kind] = true
		}
		for _, k := range []string{"Deployment", "ServiceMonitor", "PrometheusRule", "ConfigMap", "Secret"} {
			if !kinds[k] {
				t.Errorf("%s: got no %s, want one", b.name, k)
			}
		}
		if !kinds["ScaledObject"] && !kinds["HorizontalPodAutoscaler"] {
			t.Errorf("%s: got no autoscaler", b.name)
		}
		for _, err := range checkObjects(root, b, objs) {
			t.Error(err)
		}
	}
	t.Logf("%d builds, %d objects, each decoded strictly into its API type (k8s.io/api, KEDA, Prometheus Operator)", len(bs), total)
}

// TestPrometheusRuleMatchesRulesFile: the PrometheusRule shipped by the base holds exactly the
// groups of the rule file Prometheus loads in compose, decoded into the operator's types.
func TestPrometheusRuleMatchesRulesFile(t *testing.T) {
	root := repoRoot(t)
	rendered, _ := renderedBuilds(t)
	for _, build := range []string{"base", "overlays/example"} {
		var pr *monitoringv1.PrometheusRule
		for _, o := range rendered[build] {
			if o.kind == "PrometheusRule" && o.name == ruleName {
				pr = o.value.(*monitoringv1.PrometheusRule)
			}
		}
		if pr == nil {
			t.Fatalf("%s: got no PrometheusRule %s", build, ruleName)
		}
		if err := sameRules(root, pr); err != nil {
			t.Errorf("%s: %v", build, err)
		}
		var alerts, records int
		for _, g := range pr.Spec.Groups {
			for _, r := range g.Rules {
				if r.Alert != "" {
					alerts++
				} else {
					records++
				}
			}
		}
		t.Logf("%s: PrometheusRule %s = %s: %d groups, %d alerts, %d recording rules", build, ruleName, rulesFile, len(pr.Spec.Groups), alerts, records)
	}
}

// mutate renders overlays/example with one text replacement applied and returns what decoding and
// the checks report.
func mutate(t *testing.T, old, replacement string) []error {
	t.Helper()
	requireKubectl(t)
	root := repoRoot(t)
	dir := filepath.Join(root, k8sDir, "overlays", "example")
	out, err := render(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), old) {
		t.Fatalf("rendered overlays/example: got no %q to replace", old)
	}
	mutated := strings.Replace(string(out), old, replacement, 1)
	var objs []object
	var errs []error
	for _, doc := range splitDocuments([]byte(mutated)) {
		o, err := decodeStrict(doc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		objs = append(objs, o)
	}
	return append(errs, checkObjects(root, build{name: "mutated overlays/example", dir: dir}, objs)...)
}

// TestValidationCatchesMistakes makes sure the validation is not vacuous: each mistake must be
// reported, with the text given.
func TestValidationCatchesMistakes(t *testing.T) {
	for _, c := range []struct {
		name, old, replacement, want string
	}{
		// strict decoding
		{"unknown Deployment field", "  revisionHistoryLimit: 5\n", "  revisionHistoryLimit: 5\n  replica: 3\n", `unknown field "replica"`},
		{"unknown container field", "    spec:\n      automountServiceAccountToken: false\n      containers:\n", "    spec:\n      automountServiceAccountToken: false\n      containers:\n      - imagePullPolicyy: Always\n", "imagePullPolicyy"},
		{"bad quantity", "memory: 384Mi", "memory: 384MB", "quantities must match"},
		{"wrong type in ScaledObject", "maxReplicaCount: 8", "maxReplicaCount: eight", "maxReplicaCount"},
		{"unknown ScaledObject field", "  pollingInterval: 15\n", "  pollingInterval: 15\n  pollInterval: 15\n", `unknown field "pollInterval"`},
		{"unknown ServiceMonitor field", "    path: /metrics\n", "    path: /metrics\n    pathh: /metrics\n", "pathh"},
		{"unknown PrometheusRule rule field", "    - alert: EnrichmentWorkerDown\n", "    - alert: EnrichmentWorkerDown\n      severity: warning\n", `unknown field "severity"`},
		{"duplicate field", "  pollingInterval: 15\n", "  pollingInterval: 15\n  pollingInterval: 30\n", "already set in map"},
		{"unknown kind", "kind: PodDisruptionBudget", "kind: PodDisruptionBudgett", "no API type known"},
		// cross-object checks
		{"GOMEMLIMIT at the limit", `value: 345MiB`, `value: 384MiB`, "GOMEMLIMIT is 100% of limits.memory"},
		{"GOMEMLIMIT in Kubernetes units", `value: 345MiB`, `value: 345Mi`, "GOMEMLIMIT"},
		{"KEDA over AMQP", "protocol: http", "protocol: amqp", `protocol is "amqp", want "http"`},
		{"KEDA on the work queue only", "queueName: ^metadata_enrichment_(queue|priority)$", "queueName: ^metadata_enrichment_queue$", "does not match metadata_enrichment_priority"},
		{"KEDA without unacked", "      useRegex: \"true\"\n", "      useRegex: \"true\"\n      excludeUnacknowledged: \"true\"\n", "excludeUnacknowledged"},
		{"KEDA misspelt key", "      operation: sum\n", "      operation: sum\n      vhost: /\n", `metadata key "vhost"`},
		{"no release label", "    release: monitoring\n  name: enrichment-worker\n", "  name: enrichment-worker\n", "got no release label"},
		{"PrometheusRule edited by hand", `expr: up{job="enrichment-worker"} == 0`, `expr: up{job="enrichment-worker"} == 2`, "rule EnrichmentWorkerDown differs"},
		{"RabbitMQ series in another environment", "replacement: enrichment-example", "replacement: staging", `environment "staging", want the workers' "enrichment-example"`},
		{"RabbitMQ monitor drops the vhost", "regex: '|/'", "regex: '|enrichment-prod'", "drops the workers' vhost"},
		{"worker series without environment", "targetLabel: environment\n    scrapeTimeout: 10s", "targetLabel: env\n    scrapeTimeout: 10s", "no relabeling of __meta_kubernetes_namespace"},
		{"dashboard without the sidecar label", `grafana_dashboard: "1"`, `grafana_dashboard: "0"`, "grafana_dashboard"},
	} {
		t.Run(c.name, func(t *testing.T) {
			errs := mutate(t, c.old, c.replacement)
			if err := errors.Join(errs...); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// The rule file itself must decode strictly into the operator's types (an unknown key in a rule
// would otherwise be dropped by kubectl apply, or rejected by the CRD).
func TestRulesFileDecodesStrictly(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(repoRoot(t), rulesFile))
	if err != nil {
		t.Fatal(err)
	}
	var spec monitoringv1.PrometheusRuleSpec
	if err := yaml.UnmarshalStrict(src, &spec); err != nil {
		t.Fatalf("%s as a PrometheusRuleSpec: %v", rulesFile, err)
	}
	bad := strings.Replace(string(src), "        for: 2m\n", "        for: 2m\n        keep_firing: 5m\n", 1)
	if err := yaml.UnmarshalStrict([]byte(bad), &spec); err == nil {
		t.Errorf("a rule with an unknown key: got no error, want strict decoding to reject it")
	}
}

func TestParseGoMemLimit(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"230MiB", 230 << 20, true}, {"1GiB", 1 << 30, true}, {"1048576", 1 << 20, true}, {"512KiB", 512 << 10, true},
		{"230Mi", 0, false}, {"230M", 0, false}, {"-1MiB", 0, false}, {"", 0, false},
	} {
		got, err := parseGoMemLimit(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseGoMemLimit(%q): got %d, %v; want %d, ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}
