package monitoring

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/config"
	"github.com/djmeta/enrichment/internal/providersim"
	"github.com/djmeta/enrichment/internal/testinfra"
	"github.com/djmeta/enrichment/internal/worker"
)

// The end-to-end check: a real Prometheus, configured from prometheus.native.yml, scrapes two
// in-process workers that enrich sample tasks through provider-sim, plus the local RabbitMQ's
// rabbitmq_prometheus plugin; then every dashboard query, every catalogued metric and the alert
// rules are checked against what Prometheus actually holds.

const (
	// rabbitMQMetricsAddr is the local broker's rabbitmq_prometheus endpoint, the target
	// prometheus.native.yml scrapes.
	rabbitMQMetricsAddr = "127.0.0.1:15692"
	// e2eRateInterval replaces $__rate_interval: the whole run fits in it.
	e2eRateInterval = "1m"
	e2eSampleTasks  = 40 // lines of testdata/sample/tracks.jsonl
	e2eRepeats      = 10 // of them again under other track ids: answered from the cache
)

// panelExceptions are dashboard queries allowed to return no series in the run, because what
// they show cannot happen in it. Keyed by "<panel title>/<refId>". The metrics they query must
// still exist in Prometheus.
var panelExceptions = map[string]string{
	"Cache hit rate by provider/B": `cache errors (result="error") need Redis to fail; Redis is up for the whole run`,
}

// e2eMalformed are task bodies the workers must dead-letter as invalid_message. There are more
// than 10 so that EnrichmentInvalidMessages (more than 10 in 15 minutes) fires.
var e2eMalformed = []string{
	`this is not json`,
	`{"track_id":"bad-1","artist":"Bicep"}`,
	`{"track_id":"bad-2","title":"Glue"}`,
	`{"artist":"Bicep","title":"Glue"}`,
	`{"track_id":"","artist":"Bicep","title":"Glue"}`,
	`{"track_id":"bad-5","artist":"Bicep","title":"Glue","priority":"high"}`,
	`{"track_id":"bad-6","artist":"Bicep","title":"Glue","priority":11}`,
	`{"track_id":"bad-7","artist":"Bicep","title":"Glue","duration_ms":"300000"}`,
	`{"track_id":"` + strings.Repeat("x", 300) + `","artist":"Bicep","title":"Glue"}`,
	"{\"track_id\":\"bad-9\",\"artist\":\"Bj\xff\xferk\",\"title\":\"Joga\"}",
	`[1,2,3]`,
	`{"track_id":"bad-11","artist":"` + strings.Repeat("a", 600) + `","title":"Glue"}`,
}

func TestPrometheusEndToEnd(t *testing.T) {
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("the prometheus server binary is not installed (%v); install it with: %s", err, installHint)
	}
	began := time.Now()

	// Isolated infrastructure: a migrated database, a vhost and a Redis prefix of our own.
	dbURL := testinfra.MigratedDatabase(t)
	amqpURL := testinfra.VHost(t)
	redisURL, prefix := testinfra.RedisURL(t)
	u, err := url.Parse(amqpURL)
	testinfra.Must(t, err, "parse vhost URL")
	vhost := strings.TrimPrefix(u.Path, "/")

	sim := startE2ESim(t)
	cfg, err := config.LoadWorker(map[string]string{
		"DATABASE_URL":          dbURL,
		"AMQP_URL":              amqpURL,
		"REDIS_URL":             redisURL,
		"CACHE_PREFIX":          prefix,
		"METRICS_ADDR":          "127.0.0.1:0",
		"RETRY_DELAYS":          "200ms,400ms",
		"WORKER_DRAIN_TIMEOUT":  "10s",
		"PROVIDERS":             "spotify,musicbrainz,discogs",
		"SPOTIFY_CLIENT_ID":     "e2e-client",
		"SPOTIFY_CLIENT_SECRET": "e2e-secret",
		"DISCOGS_TOKEN":         "e2e-token",
		"SPOTIFY_API_URL":       sim + "/spotify/v1",
		"SPOTIFY_TOKEN_URL":     sim + "/spotify/api/token",
		"MUSICBRAINZ_API_URL":   sim + "/musicbrainz/ws/2",
		"DISCOGS_API_URL":       sim + "/discogs",
		"SPOTIFY_RATE":          "500",
		"MUSICBRAINZ_RATE":      "500",
		"DISCOGS_RATE":          "500",
		// Budgets and a price, so that the budget and cost series exist with real values.
		"SPOTIFY_DAILY_BUDGET":      "100000",
		"DISCOGS_MONTHLY_BUDGET":    "100000",
		"SPOTIFY_COST_PER_CALL":     "0.0001",
		"CIRCUIT_FAILURES":          "3",
		"CIRCUIT_OPEN_TIMEOUT":      "1s",
		"COVERAGE_REFRESH_INTERVAL": "0",
	})
	testinfra.Must(t, err, "worker config")
	topo := broker.NewTopology(cfg.RetryDelays, cfg.DeliveryLimit)
	testinfra.Must(t, topo.DeclareWithRetry(context.Background(), amqpURL, 10*time.Second, zap.NewNop()), "declare topology")

	var workers []string
	for range 2 {
		workers = append(workers, startE2EWorker(t, cfg))
	}
	// The readiness probe, as the kubelet sends it (deploy/k8s/base/deployment.yaml).
	// enrichment_worker_ready is only updated when /readyz is asked.
	for _, w := range workers {
		testinfra.Eventually(t, 10*time.Second, "worker "+w+" ready", func() (bool, error) {
			resp, err := http.Get("http://" + w + "/readyz")
			if err != nil {
				return false, err
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK, fmt.Errorf("%s: %s", resp.Status, body)
		})
	}

	prom := startPrometheus(t, promBin, workers, strings.TrimPrefix(sim, "http://"), vhost)
	prom.waitTargetsUp(t, 20*time.Second)

	// The tasks: part of the sample, some of it again under other ids, and malformed ones.
	sess, err := broker.Dial(amqpURL, "e2e-publisher")
	testinfra.Must(t, err, "dial broker")
	t.Cleanup(func() { _ = sess.Close() })
	bodies := sampleLines(t, e2eSampleTasks)
	for i := range e2eRepeats {
		var m map[string]any
		testinfra.Must(t, json.Unmarshal([]byte(bodies[i]), &m), "decode sample line")
		m["track_id"] = fmt.Sprint(m["track_id"], "-again")
		again, _ := json.Marshal(m)
		bodies = append(bodies, string(again))
	}
	// Tracks nobody has, while Discogs cannot be asked: neither a match nor not_found, so they go
	// through every retry tier and end failed (retries_exhausted).
	for i := range 3 {
		bodies = append(bodies, fmt.Sprintf(`{"track_id":"e2e-nomatch-%d","artist":"Nobody Known %d","title":"Nothing At All"}`, i, i))
	}
	bodies = append(bodies, e2eMalformed...)
	ctx := context.Background()
	for _, b := range bodies {
		testinfra.Must(t, sess.Publish(ctx, broker.Exchange, broker.RoutingKey, amqp.Publishing{
			ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: []byte(b),
		}), "publish")
	}

	// Every delivery ends in exactly one final outcome; wait until Prometheus has scraped them
	// all, and the broker's statistics (emitted every 5s) show the dead-lettered ones.
	prom.waitValue(t, 60*time.Second, `sum(enrichment_tasks_total{outcome!="retried"})`, float64(len(bodies)))
	prom.waitValue(t, 30*time.Second, `sum(rabbitmq_queue_messages{queue="metadata_enrichment_dlq"})`, float64(len(e2eMalformed)))
	prom.waitValue(t, 30*time.Second, `sum(rabbitmq_queue_consumers{queue="metadata_enrichment_queue"})`, float64(len(workers)))
	time.Sleep(3 * time.Second) // a few more scrapes and rule evaluations on the settled state
	outcomes := prom.vector(t, `sum by (outcome) (enrichment_tasks_total)`, "outcome")
	t.Logf("run settled after %s: %d tasks (%d malformed), outcomes %v", time.Since(began).Round(time.Millisecond),
		len(bodies), len(e2eMalformed), outcomes)

	names := prom.labelValues(t, "__name__", "")
	have := map[string]bool{}
	for _, n := range names {
		have[n] = true
	}

	t.Run("dashboard panels return data", func(t *testing.T) {
		checkPanels(t, prom, have)
	})
	t.Run("catalogued metrics exist", func(t *testing.T) {
		cat := metricCatalog(t)
		var found int
		for name, e := range cat {
			series := name
			if e.typ == "histogram" || e.typ == "summary" {
				series = name + "_count"
			}
			if !have[series] {
				t.Errorf("%s lists %s (%s): got no series %s in Prometheus after the run, want the metric exported and scraped", metricsDoc, name, e.typ, series)
				continue
			}
			found++
		}
		t.Logf("%d of %d metrics catalogued in %s found in Prometheus", found, len(cat), metricsDoc)
	})
	t.Run("exported metrics are catalogued", func(t *testing.T) {
		cat := metricCatalog(t)
		for _, n := range names {
			if !strings.HasPrefix(n, "enrichment_") {
				continue
			}
			base := n
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(n, suffix); ok {
					if e, known := cat[b]; known && e.typ == "histogram" {
						base = b
					}
				}
			}
			if _, ok := cat[base]; !ok {
				t.Errorf("the workers export %s: got no row for it in %s, want every exported metric documented", n, metricsDoc)
			}
		}
	})
	t.Run("environment variable", func(t *testing.T) {
		// The $environment variable is label_values(up{job="enrichment-worker"}, environment).
		got := prom.labelValues(t, "environment", `up{job="enrichment-worker"}`)
		if want := []string{dashboardEnvironment}; !slices.Equal(got, want) {
			t.Errorf("label_values(up{job=\"enrichment-worker\"}, environment): got %v, want %v", got, want)
		}
		// The RabbitMQ series of the test's vhost carry the same environment.
		if got := prom.labelValues(t, "environment", `rabbitmq_queue_messages_ready{queue="metadata_enrichment_queue"}`); !slices.Equal(got, []string{dashboardEnvironment}) {
			t.Errorf("environment of the work queue's series: got %v, want [%s]", got, dashboardEnvironment)
		}
	})
	t.Run("provider variable", func(t *testing.T) {
		// The $provider variable is label_values(enrichment_provider_requests_total, provider).
		got := prom.labelValues(t, "provider", "enrichment_provider_requests_total")
		if want := []string{"discogs", "musicbrainz", "spotify"}; !slices.Equal(got, want) {
			t.Errorf("label_values(enrichment_provider_requests_total, provider): got %v, want %v", got, want)
		}
	})
	t.Run("alert rules evaluate", func(t *testing.T) {
		checkRules(t, prom)
	})
	t.Run("every scrape target is up", func(t *testing.T) {
		prom.waitTargetsUp(t, 5*time.Second)
	})
}

// ---------------------------------------------------------------------------------------------
// the stack

// startE2ESim runs provider-sim in-process and returns its URL. Discogs answers every request with
// a 503, so its circuit breaker opens and tasks end partial, retried or failed; MusicBrainz
// throttles a few requests (503 with Retry-After, counted as rate limiting).
func startE2ESim(t *testing.T) string {
	t.Helper()
	cat, err := providersim.LoadCatalog(path(t, "testdata/catalog/catalog.json"))
	testinfra.Must(t, err, "load catalog")
	cfg := providersim.DefaultConfig()
	cfg.MusicBrainzRate, cfg.MusicBrainzBurst = 1000, 100
	cfg.DiscogsRateLimit = 100000
	cfg.SpotifyRateLimit = 100000
	cfg.DiscogsErrorRate = 1
	cfg.MusicBrainzErrorRate = 0.05
	cfg.Seed = 42
	sim, err := providersim.New(cat, cfg)
	testinfra.Must(t, err, "provider-sim")
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// startE2EWorker runs a worker in-process until the test ends and returns its metrics address.
func startE2EWorker(t *testing.T, cfg config.Worker) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan string, 1)
	done := make(chan error, 1)
	log := zaptest.NewLogger(t, zaptest.Level(zapcore.ErrorLevel))
	go func() {
		done <- worker.Run(ctx, cfg, log, worker.AppOptions{Started: func(a string) { started <- a }})
	}()
	var addr string
	select {
	case addr = <-started:
	case err := <-done:
		cancel()
		t.Fatalf("worker exited at start: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("worker did not start within 30s")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker %s: %v", addr, err)
		}
	})
	return addr
}

func sampleLines(t *testing.T, n int) []string {
	t.Helper()
	f, err := os.Open(path(t, "testdata/sample/tracks.jsonl"))
	testinfra.Must(t, err, "open sample")
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() && len(out) < n {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			out = append(out, line)
		}
	}
	testinfra.Must(t, sc.Err(), "read sample")
	if len(out) < n {
		t.Fatalf("sample: got %d lines, want at least %d", len(out), n)
	}
	return out
}

// ---------------------------------------------------------------------------------------------
// Prometheus

type promServer struct {
	base string // http://127.0.0.1:port
	logs *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	testinfra.Must(t, err, "find a free port")
	addr := ln.Addr().String()
	testinfra.Must(t, ln.Close(), "free the port")
	return addr
}

// e2ePromConfig derives the test's configuration from prometheus.native.yml: the same jobs, rule
// files and metrics paths, with the static targets pointed at the live processes, a 1s scrape and
// evaluation interval, and no Alertmanager (alerts are read through the API).
func e2ePromConfig(t *testing.T, workers []string, sim, self, vhost string) []byte {
	t.Helper()
	src := path(t, promNativeConfig)
	docs := loadYAML(t, src)
	if len(docs) != 1 {
		t.Fatalf("%s: got %d YAML documents, want 1", promNativeConfig, len(docs))
	}
	cfg, ok := docs[0].(map[string]any)
	if !ok {
		t.Fatalf("%s: got %T, want a mapping", promNativeConfig, docs[0])
	}
	global := mapAt(cfg, "global")
	if global == nil {
		global = map[string]any{}
		cfg["global"] = global
	}
	global["scrape_interval"], global["scrape_timeout"], global["evaluation_interval"] = "1s", "1s", "1s"

	var ruleFiles []any
	for _, r := range listAt(cfg, "rule_files") {
		p := fmt.Sprint(r)
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(src), p)
		}
		ruleFiles = append(ruleFiles, p)
	}
	if len(ruleFiles) == 0 {
		t.Fatalf("%s: got no rule_files, want the alert rules wired in", promNativeConfig)
	}
	cfg["rule_files"] = ruleFiles
	delete(cfg, "alerting")

	jobs := map[string]bool{}
	for _, sc := range listAt(cfg, "scrape_configs") {
		job := strAt(sc, "job_name")
		m := sc.(map[string]any)
		jobs[job] = true
		m["scrape_interval"], m["scrape_timeout"] = "1s", "1s"
		// The targets are replaced; the labels of the configuration's first static_config
		// (the environment) are kept.
		static := func(targets ...string) {
			sc := map[string]any{"targets": targets}
			if scs := listAt(m, "static_configs"); len(scs) > 0 {
				if labels := mapAt(scs[0], "labels"); labels != nil {
					sc["labels"] = labels
				}
			}
			m["static_configs"] = []any{sc}
		}
		switch job {
		case "enrichment-worker":
			static(workers...)
		case "rabbitmq":
			var targets []string
			for _, sc := range listAt(m, "static_configs") {
				targets = append(targets, anyStrings(listAt(sc, "targets"))...)
			}
			if !slices.Equal(targets, []string{rabbitMQMetricsAddr}) {
				t.Fatalf("%s job rabbitmq: got targets %v, want [%s] (the local rabbitmq_prometheus plugin)", promNativeConfig, targets, rabbitMQMetricsAddr)
			}
			// The broker is shared with other tests, as a broker is shared by environments:
			// the job's vhost filter keeps this test's vhost (and the series without one)
			// instead of the default vhost.
			var kept bool
			for _, r := range listAt(m, "metric_relabel_configs") {
				rm := r.(map[string]any)
				if strAt(rm, "action") == "keep" && slices.Equal(anyStrings(listAt(rm, "source_labels")), []string{"vhost"}) {
					rm["regex"] = "|" + regexp.QuoteMeta(vhost)
					kept = true
				}
			}
			if !kept {
				t.Fatalf("%s job rabbitmq: got no metric_relabel_configs rule keeping one vhost, want the environment's vhost kept (docs/monitoring.md#environments)", promNativeConfig)
			}
		case "provider-sim":
			static(sim)
		case "prometheus":
			static(self)
		default:
			t.Fatalf("%s has a job %q the end-to-end test cannot point at a live target; add it to e2ePromConfig", promNativeConfig, job)
		}
	}
	for _, want := range []string{"enrichment-worker", "rabbitmq"} {
		if !jobs[want] {
			t.Fatalf("%s: got no job %q, want one", promNativeConfig, want)
		}
	}
	b, err := json.MarshalIndent(cfg, "", "  ") // JSON is YAML
	testinfra.Must(t, err, "encode Prometheus configuration")
	return b
}

func startPrometheus(t *testing.T, bin string, workers []string, sim, vhost string) *promServer {
	t.Helper()
	dir := t.TempDir()
	addr := freePort(t)
	cfgFile := filepath.Join(dir, "prometheus.yml")
	testinfra.Must(t, os.WriteFile(cfgFile, e2ePromConfig(t, workers, sim, addr, vhost), 0o644), "write Prometheus configuration")
	if out, err := run(t, dir, bin, "--version"); err != nil {
		t.Fatalf("prometheus --version: %v\n%s", err, out)
	}
	p := &promServer{base: "http://" + addr, logs: &syncBuffer{}}
	cmd := exec.Command(bin,
		"--config.file="+cfgFile,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	testinfra.Must(t, cmd.Start(), "start prometheus")
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("prometheus log:\n%s", p.logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("prometheus exited at start: %v\n%s", err, p.logs.String())
		default:
		}
		resp, err := http.Get(p.base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready on %s after 30s (last error %v)\n%s", addr, err, p.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// api calls a Prometheus HTTP API endpoint and returns its data.
func (p *promServer) api(path string, params url.Values) (json.RawMessage, error) {
	resp, err := http.Get(p.base + path + "?" + params.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Status    string          `json:"status"`
		Data      json.RawMessage `json:"data"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("%s: %s: decode: %w", path, resp.Status, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s: status %q (%s): %s", path, r.Status, r.ErrorType, r.Error)
	}
	return r.Data, nil
}

type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// query runs an instant query and returns the result type and its samples; a scalar or string
// result is one sample.
func (p *promServer) query(expr string) (string, []promSample, error) {
	data, err := p.api("/api/v1/query", url.Values{"query": {expr}})
	if err != nil {
		return "", nil, err
	}
	var r struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return "", nil, err
	}
	switch r.ResultType {
	case "vector":
		var s []promSample
		err := json.Unmarshal(r.Result, &s)
		return r.ResultType, s, err
	case "scalar", "string":
		var v [2]any
		err := json.Unmarshal(r.Result, &v)
		return r.ResultType, []promSample{{Value: v}}, err
	default:
		return r.ResultType, nil, fmt.Errorf("unexpected result type %q for an instant query", r.ResultType)
	}
}

func sampleValue(s promSample) float64 {
	f, _ := strconv.ParseFloat(fmt.Sprint(s.Value[1]), 64)
	return f
}

// vector returns label value -> sample value of an instant query.
func (p *promServer) vector(t *testing.T, expr, label string) map[string]float64 {
	t.Helper()
	_, samples, err := p.query(expr)
	testinfra.Must(t, err, expr)
	out := map[string]float64{}
	for _, s := range samples {
		out[s.Metric[label]] = sampleValue(s)
	}
	return out
}

// waitValue waits until an instant query returns one sample of at least min.
func (p *promServer) waitValue(t *testing.T, timeout time.Duration, expr string, min float64) {
	t.Helper()
	testinfra.Eventually(t, timeout, fmt.Sprintf("%s >= %v in Prometheus", expr, min), func() (bool, error) {
		_, s, err := p.query(expr)
		if err != nil {
			return false, err
		}
		if len(s) != 1 {
			return false, fmt.Errorf("got %d samples", len(s))
		}
		v := sampleValue(s[0])
		return v >= min, fmt.Errorf("got %v", v)
	})
}

func (p *promServer) labelValues(t *testing.T, label, match string) []string {
	t.Helper()
	params := url.Values{}
	if match != "" {
		params.Set("match[]", match)
	}
	data, err := p.api("/api/v1/label/"+label+"/values", params)
	testinfra.Must(t, err, "label values of "+label)
	var vals []string
	testinfra.Must(t, json.Unmarshal(data, &vals), "decode label values")
	sort.Strings(vals)
	return vals
}

// waitTargetsUp waits until Prometheus has scraped every configured target successfully.
func (p *promServer) waitTargetsUp(t *testing.T, timeout time.Duration) {
	t.Helper()
	testinfra.Eventually(t, timeout, "every scrape target up", func() (bool, error) {
		data, err := p.api("/api/v1/targets", url.Values{"state": {"active"}})
		if err != nil {
			return false, err
		}
		var r struct {
			ActiveTargets []struct {
				ScrapePool string `json:"scrapePool"`
				ScrapeURL  string `json:"scrapeUrl"`
				Health     string `json:"health"`
				LastError  string `json:"lastError"`
			} `json:"activeTargets"`
		}
		if err := json.Unmarshal(data, &r); err != nil {
			return false, err
		}
		var down []string
		for _, tg := range r.ActiveTargets {
			if tg.Health != "up" {
				down = append(down, fmt.Sprintf("%s %s: %s %s", tg.ScrapePool, tg.ScrapeURL, tg.Health, tg.LastError))
			}
		}
		return len(r.ActiveTargets) > 0 && len(down) == 0, fmt.Errorf("%d targets, not up: %v", len(r.ActiveTargets), down)
	})
}

// ---------------------------------------------------------------------------------------------
// checks

// dashboardEnvironment is the environment the native Prometheus configuration (and so the
// end-to-end run) labels its series with; $environment is expanded to it.
const dashboardEnvironment = "native"

// expandDashboardVars replaces the Grafana variables the dashboard uses with concrete values:
// rate intervals with rate, ranges with an hour, $provider with "All", $environment with the
// native configuration's.
func expandDashboardVars(expr, rate string) string {
	return strings.NewReplacer(
		"$environment", dashboardEnvironment, "${environment}", dashboardEnvironment,
		"$__rate_interval", rate, "${__rate_interval}", rate,
		"$__interval", "1m", "${__interval}", "1m",
		"$__range", "1h", "${__range}", "1h",
		"$provider", ".*", "${provider}", ".*",
	).Replace(expr)
}

// queriedSeries returns the series names an expression reads that Prometheus must know.
func queriedSeries(expr string) []string {
	names := metricRef.FindAllString(expr, -1)
	if readsSeries(expr, "up") {
		names = append(names, "up")
	}
	slices.Sort(names)
	return slices.Compact(names)
}

func checkPanels(t *testing.T, prom *promServer, have map[string]bool) {
	used := map[string]bool{}
	var panels, queries, withData int
	for _, f := range glob(t, dashboardsGlob) {
		d := loadDashboard(t, f)
		for _, p := range flatPanels(d.Panels) {
			panels++
			for _, tg := range p.Targets {
				queries++
				key := p.Title + "/" + tg.RefID
				where := fmt.Sprintf("%s panel %q query %s", filepath.Base(f), p.Title, tg.RefID)
				expr := expandDashboardVars(tg.Expr, e2eRateInterval)
				_, samples, err := prom.query(expr)
				if err != nil {
					t.Errorf("%s: /api/v1/query %q: %v", where, expr, err)
					continue
				}
				for _, name := range queriedSeries(expr) {
					if !have[name] {
						t.Errorf("%s reads %s: got no such series in Prometheus, want the metric to exist", where, name)
					}
				}
				reason, excepted := panelExceptions[key]
				if excepted {
					used[key] = true
				}
				switch {
				case len(samples) > 0:
					withData++
				case excepted:
					t.Logf("%s: no data, as expected: %s", where, reason)
				default:
					t.Errorf("%s: %q returned no series after the run, want data (or an entry in panelExceptions saying why it cannot have any)", where, expr)
				}
			}
		}
	}
	for key := range panelExceptions {
		if !used[key] {
			t.Errorf("panelExceptions[%q]: got no such panel query, want exceptions only for existing queries", key)
		}
	}
	t.Logf("%d panels, %d queries: %d returned data, %d excepted", panels, queries, withData, len(used))
}

// checkRules reads the rule states from Prometheus: every rule evaluates without error, and the
// alerts the run must (and must not) trigger are in the right state.
func checkRules(t *testing.T, prom *promServer) {
	data, err := prom.api("/api/v1/rules", nil)
	testinfra.Must(t, err, "rules")
	var r struct {
		Groups []struct {
			Name     string  `json:"name"`
			Interval float64 `json:"interval"`
			Rules    []struct {
				Name      string `json:"name"`
				Type      string `json:"type"`
				Health    string `json:"health"`
				LastError string `json:"lastError"`
				State     string `json:"state"`
				Alerts    []struct {
					Labels map[string]string `json:"labels"`
					State  string            `json:"state"`
				} `json:"alerts"`
			} `json:"rules"`
		} `json:"groups"`
	}
	testinfra.Must(t, json.Unmarshal(data, &r), "decode rules")

	active := map[string]string{} // alertname or alertname{provider} -> state
	var alerts, evaluated int
	for _, g := range r.Groups {
		for _, rule := range g.Rules {
			if rule.Type == "alerting" {
				alerts++
			}
			switch {
			case rule.Health == "err" || rule.LastError != "":
				t.Errorf("rule %s (group %s): got health %q, error %q, want it to evaluate", rule.Name, g.Name, rule.Health, rule.LastError)
			case rule.Health == "ok":
				evaluated++
			case g.Interval <= 1:
				t.Errorf("rule %s (group %s, every %vs): got health %q, want it evaluated by now", rule.Name, g.Name, g.Interval, rule.Health)
			}
			for _, a := range rule.Alerts {
				active[rule.Name] = a.State
				if p := a.Labels["provider"]; p != "" {
					active[rule.Name+"{"+p+"}"] = a.State
				}
			}
		}
	}
	if want := len(alertNames(t)); alerts != want {
		t.Errorf("Prometheus loaded %d alerting rules, want the %d of %s", alerts, want, alertsGlob)
	}

	for name, want := range map[string]string{
		// Discogs answers nothing but 503s: its breakers open, and it is down and failing.
		"EnrichmentCircuitBreakerOpen{discogs}":    "pending",
		"EnrichmentProviderDown{discogs}":          "pending",
		"EnrichmentProviderErrorRateHigh{discogs}": "pending",
		// 12 malformed messages, more than 10, and the rule has no `for`.
		"EnrichmentInvalidMessages": "firing",
	} {
		if got := active[name]; got != want {
			t.Errorf("alert %s: got state %q, want %q", name, got, want)
		}
	}
	for _, name := range []string{
		"EnrichmentWorkerDown", "EnrichmentNoWorkers", "EnrichmentWorkerNotReady", "EnrichmentAMQPDisconnected",
		"EnrichmentAMQPReconnectStorm", "EnrichmentRedisDown", "EnrichmentBrokerDown", "EnrichmentQueueNoConsumers",
		"EnrichmentStale", "EnrichmentProviderBudgetLow", "EnrichmentProviderBudgetExhausted",
		"EnrichmentWorkerMetricsMissing", "EnrichmentQueueMetricsMissing",
		"EnrichmentProviderDown{spotify}", "EnrichmentProviderDown{musicbrainz}",
		"EnrichmentCircuitBreakerOpen{spotify}", "EnrichmentCircuitBreakerOpen{musicbrainz}",
	} {
		if got, ok := active[name]; ok {
			t.Errorf("alert %s: got state %q, want it inactive in a run where its cause does not happen", name, got)
		}
	}
	var states []string
	for k, v := range active {
		states = append(states, k+"="+v)
	}
	sort.Strings(states)
	t.Logf("%d alerting rules, %d rules evaluated; active alerts: %v", alerts, evaluated, states)
}
