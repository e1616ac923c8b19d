package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap/zaptest"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/config"
	"github.com/djmeta/enrichment/internal/providersim"
	"github.com/djmeta/enrichment/internal/ratelimit"
	"github.com/djmeta/enrichment/internal/testinfra"
)

// The providers' real quotas, as provider-sim plays them in TestQuota.
const (
	quotaMusicBrainzPerSecond = 1.0 // per IP, burst 1
	quotaDiscogsPerMinute     = 60  // per token, moving 60 s window
	quotaSpotifyPer30s        = 180 // provider-sim's default for the rolling 30 s window
)

// TestQuota runs the fleet at the providers' real quotas (make quota; a
// short variant runs in make test): provider-sim with MusicBrainz at
// 1 request/s, Discogs at 60/min and Spotify's rolling 30 s window, three
// worker processes with the default settings, the task set of
// testdata/quota (repeats and spelling variants of the same recordings
// included), one worker SIGKILLed midway and started again. It reports,
// per provider, requests, distinct requests, duplicate answered requests,
// calls per task, the most requests in any window and how much of the quota
// was used while work was queued, and checks that quota waits cost no task
// an attempt, a partial result or a dead letter.
func TestQuota(t *testing.T) {
	full := os.Getenv("ENRICH_QUOTA_TEST") != ""
	// QUOTA_LIFTED=1 runs the same tasks with the quotas lifted: calls per
	// task with nothing waiting, for comparison. It says nothing about
	// production.
	lifted := os.Getenv("QUOTA_LIFTED") != ""
	if testing.Short() && !full {
		t.Skip("runs at the real quotas for about a minute")
	}
	t.Parallel()
	tasks := quotaTasks(t)
	if !full {
		tasks = tasks[:40]
	}
	bin := buildWorker(t)
	dbURL := testinfra.MigratedDatabase(t)
	amqpURL := testinfra.VHost(t)
	redisURL, prefix := testinfra.RedisURL(t)
	ctx := context.Background()
	delays, _ := config.ParseRetryDelays(config.RetryDelaysDefault)
	topo := broker.NewTopology(delays, config.DeliveryLimitDefault)
	testinfra.Must(t, topo.DeclareWithRetry(ctx, amqpURL, 5*time.Second, zaptest.NewLogger(t)), "declare")

	cat, err := providersim.LoadCatalog("../../testdata/catalog/catalog.json")
	testinfra.Must(t, err, "catalog")
	simCfg := providersim.DefaultConfig() // the real quotas
	simCfg.MusicBrainzRate, simCfg.MusicBrainzBurst = quotaMusicBrainzPerSecond, 1
	simCfg.DiscogsRateLimit, simCfg.DiscogsRateWindow = quotaDiscogsPerMinute, time.Minute
	simCfg.SpotifyRateLimit, simCfg.SpotifyRateWindow = quotaSpotifyPer30s, 30*time.Second
	simCfg.Latency, simCfg.LatencyJitter = 80*time.Millisecond, 40*time.Millisecond
	if lifted {
		simCfg.MusicBrainzRate, simCfg.MusicBrainzBurst, simCfg.DiscogsRateLimit, simCfg.SpotifyRateLimit = 1000, 100, 100000, 100000
	}
	sim, err := providersim.New(cat, simCfg)
	testinfra.Must(t, err, "provider-sim")
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()

	// The default settings: only where the services are, the credentials
	// and the log level differ from a fresh deployment.
	env := []string{"DATABASE_URL=" + dbURL, "AMQP_URL=" + amqpURL, "REDIS_URL=" + redisURL, "CACHE_PREFIX=" + prefix,
		"METRICS_ADDR=127.0.0.1:0", "LOG_LEVEL=info",
		"SPOTIFY_CLIENT_ID=quota-client", "SPOTIFY_CLIENT_SECRET=quota-secret", "DISCOGS_TOKEN=quota-token",
		"SPOTIFY_API_URL=" + srv.URL + "/spotify/v1", "SPOTIFY_TOKEN_URL=" + srv.URL + "/spotify/api/token",
		"MUSICBRAINZ_API_URL=" + srv.URL + "/musicbrainz/ws/2", "DISCOGS_API_URL=" + srv.URL + "/discogs"}
	if lifted {
		env = append(env, "SPOTIFY_RATE=500", "MUSICBRAINZ_RATE=500", "DISCOGS_RATE=500")
	}
	// QUOTA_ENV adds worker settings, e.g. QUOTA_ENV="DISCOGS_RATE=1" to
	// use all of Discogs' 60/min instead of the default 0.9/s.
	env = append(env, strings.Fields(os.Getenv("QUOTA_ENV"))...)
	wcfg, err := config.LoadWorker(envMap(env))
	testinfra.Must(t, err, "worker settings")
	logs := &quotaLogs{}
	workers := make([]*exec.Cmd, 3)
	for i := range workers {
		workers[i] = startLoggedProcess(t, bin, env, logs)
	}

	pool, err := pgxpool.New(ctx, dbURL)
	testinfra.Must(t, err, "pool")
	defer pool.Close()
	rows := func() int {
		var n int
		testinfra.Must(t, pool.QueryRow(ctx, `SELECT count(*) FROM enrichment_status`).Scan(&n), "count")
		return n
	}

	sess, err := broker.Dial(amqpURL, "quota-publisher")
	testinfra.Must(t, err, "dial")
	defer sess.Close()
	start := time.Now()
	var pending []*broker.Pending
	for _, body := range tasks {
		p, err := sess.PublishAsync(ctx, broker.Exchange, broker.RoutingKey, amqp.Publishing{
			ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: body})
		testinfra.Must(t, err, "publish")
		pending = append(pending, p)
	}
	for _, p := range pending {
		testinfra.Must(t, p.Wait(ctx), "confirm")
	}

	// SIGKILL one worker once half the tasks are done, and start it again.
	testinfra.Eventually(t, 30*time.Minute, "half the tasks done", func() (bool, error) {
		n := rows()
		return n >= len(tasks)/2, fmt.Errorf("have %d", n)
	})
	killedAt := rows()
	testinfra.Must(t, workers[0].Process.Signal(syscall.SIGKILL), "SIGKILL")
	_, _ = workers[0].Process.Wait()
	workers[0] = startLoggedProcess(t, bin, env, logs)
	t.Logf("SIGKILLed a worker after %d of %d tasks (%s) and started it again", killedAt, len(tasks), time.Since(start).Round(time.Second))

	ch, err := sess.Connection().Channel()
	testinfra.Must(t, err, "channel")
	defer ch.Close()
	queued := func() int {
		n := 0
		for _, q := range topo.Queues() {
			if q == broker.DeadLetterQueue {
				continue
			}
			st, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
			testinfra.Must(t, err, "inspect "+q)
			n += st.Messages
		}
		return n
	}
	var dead []amqp.Delivery
	testinfra.Eventually(t, 30*time.Minute, "every task settled", func() (bool, error) {
		for {
			d, ok, err := ch.Get(broker.DeadLetterQueue, true)
			testinfra.Must(t, err, "get from the DLQ")
			if !ok {
				break
			}
			dead = append(dead, d)
		}
		n := rows()
		return n+len(dead) >= len(tasks) && queued() == 0, fmt.Errorf("%d status rows, %d dead letters of %d", n, len(dead), len(tasks))
	})
	busy := time.Since(start)
	st := quotaStats(t, srv.URL)
	counters := logs.counters("enrichment_tasks_deferred_total", "enrichment_retries_total", "enrichment_tasks_total")
	for _, w := range workers {
		_ = w.Process.Signal(syscall.SIGTERM)
	}

	statuses := map[string]int{}
	r, err := pool.Query(ctx, `SELECT status, count(*) FROM enrichment_status GROUP BY status`)
	testinfra.Must(t, err, "statuses")
	for r.Next() {
		var s string
		var n int
		testinfra.Must(t, r.Scan(&s, &n), "scan")
		statuses[s] = n
	}
	r.Close()
	var trackRows int
	testinfra.Must(t, pool.QueryRow(ctx, `SELECT count(*) FROM tracks`).Scan(&trackRows), "count tracks")

	rep := quotaReport{Tasks: len(tasks), Busy: busy, Stats: st, Statuses: statuses, DeadLetters: len(dead),
		Rates:    map[string]float64{"spotify": wcfg.SpotifyRate, "musicbrainz": wcfg.MusicBrainzRate, "discogs": wcfg.DiscogsRate},
		Breakers: logs.breakerOpenings(), Transitions: logs.transitions(), Counters: counters}
	t.Log("\n" + rep.String())

	// Acceptance.
	if statuses["partial"] != 0 || statuses["failed"] != 0 || len(dead) != 0 {
		t.Errorf("%d partial, %d failed, %d dead-lettered; want 0 of each (every task asks every enabled provider)",
			statuses["partial"], statuses["failed"], len(dead))
	}
	if got := rows(); got != len(tasks) || trackRows != len(tasks) {
		t.Errorf("%d status rows and %d tracks rows for %d tasks; want one each (nothing lost or duplicated after the SIGKILL)", got, trackRows, len(tasks))
	}
	if rep.Breakers != 0 {
		t.Errorf("circuit breakers opened %d times (%v); want 0: every provider answered", rep.Breakers, rep.Transitions)
	}
	for _, name := range []string{"spotify", "musicbrainz", "discogs"} {
		p := st.Providers[name]
		if p.RateLimitedTotal != 0 {
			t.Errorf("%s: %d requests over its quota; want 0", name, p.RateLimitedTotal)
		}
		// A worker SIGKILLed while one of its requests is answered loses
		// that answer (paid for, never stored), and the next worker asks
		// again once the request's lock expires: at most one request per
		// provider can be in flight for it at the real quotas. The short
		// variant tolerates that; make quota reports it.
		if allowed := map[bool]int64{true: 0, false: 1}[full]; p.DuplicateSuccessful > allowed {
			t.Errorf("%s: %d answers fetched again (%v); want at most %d", name, p.DuplicateSuccessful, p.TopDuplicates, allowed)
		}
	}
	if mb := st.Providers["musicbrainz"]; mb.MaxPerSecond > 2 && !lifted {
		t.Errorf("musicbrainz: %d requests in one second; want at most 2 (rate×W+1)", mb.MaxPerSecond)
	}
	if dg := st.Providers["discogs"]; dg.MaxPerMinute > quotaDiscogsPerMinute && !lifted {
		t.Errorf("discogs: %d requests in one minute; want at most %d", dg.MaxPerMinute, quotaDiscogsPerMinute)
	}
	if per := rep.callsPerTask("discogs"); per > 1.5 && full {
		t.Errorf("discogs: %.2f calls per task; want at most 1.5", per)
	}
	if full && !lifted {
		if b, _ := rep.binding(); rep.usedOfRate(b) < 0.9 {
			t.Errorf("binding provider (%s): %.1f%% of its fleet rate (%.1f%% of its quota) used while work was queued; want at least 90%%",
				b, 100*rep.usedOfRate(b), 100*rep.used(b))
		}
	}
}

// quotaTasks reads testdata/quota/tracks.jsonl.
func quotaTasks(t *testing.T) [][]byte {
	t.Helper()
	f, err := os.Open("../../testdata/quota/tracks.jsonl")
	testinfra.Must(t, err, "open the quota task set")
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, append([]byte(nil), sc.Bytes()...))
	}
	testinfra.Must(t, sc.Err(), "read the quota task set")
	return out
}

func quotaStats(t *testing.T, url string) providersim.StatsSnapshot {
	t.Helper()
	resp, err := http.Get(url + "/_stats")
	testinfra.Must(t, err, "GET /_stats")
	defer resp.Body.Close()
	var s providersim.StatsSnapshot
	testinfra.Must(t, json.NewDecoder(resp.Body).Decode(&s), "decode /_stats")
	return s
}

// startLoggedProcess starts a worker whose JSON log lines go to logs.
func startLoggedProcess(t *testing.T, bin string, env []string, logs *quotaLogs) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), env...)
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	testinfra.Must(t, cmd.Start(), "start worker")
	done := make(chan struct{})
	go func() {
		defer close(done)
		logs.read(pr)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		_ = pw.Close()
		<-done
	})
	return cmd
}

// quotaLogs gathers what the workers' logs tell: breaker transitions and
// where each serves its metrics.
type quotaLogs struct {
	mu      sync.Mutex
	trans   []string // provider: from → to
	metrics []string // metrics addresses, in start order
}

func (l *quotaLogs) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e struct {
			Msg         string `json:"msg"`
			Provider    string `json:"provider"`
			From        string `json:"from"`
			To          string `json:"to"`
			MetricsAddr string `json:"metrics_addr"`
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		if e.Msg == "worker starting" {
			l.mu.Lock()
			l.metrics = append(l.metrics, e.MetricsAddr)
			l.mu.Unlock()
		}
		if e.Msg == "circuit breaker changed state" {
			l.mu.Lock()
			l.trans = append(l.trans, fmt.Sprintf("%s: %s → %s", e.Provider, e.From, e.To))
			l.mu.Unlock()
		}
	}
}

func (l *quotaLogs) transitions() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.trans...)
}

// counters sums, over the workers still running, the samples of the
// counters named (with their labels) in want.
func (l *quotaLogs) counters(want ...string) map[string]float64 {
	l.mu.Lock()
	addrs := append([]string(nil), l.metrics...)
	l.mu.Unlock()
	out := map[string]float64{}
	for _, a := range addrs {
		resp, err := http.Get("http://" + a + "/metrics")
		if err != nil {
			continue // the SIGKILLed worker
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			name, v, ok := strings.Cut(sc.Text(), " ")
			if !ok {
				continue
			}
			for _, w := range want {
				if strings.HasPrefix(name, w) {
					var f float64
					if _, err := fmt.Sscan(v, &f); err == nil {
						out[name] += f
					}
				}
			}
		}
		resp.Body.Close()
	}
	return out
}

func (l *quotaLogs) breakerOpenings() int {
	n := 0
	for _, tr := range l.transitions() {
		if strings.HasSuffix(tr, "→ open") {
			n++
		}
	}
	return n
}

// quotaReport is what TestQuota measured.
type quotaReport struct {
	Tasks       int
	Busy        time.Duration // first publish to the last task settled
	Stats       providersim.StatsSnapshot
	Statuses    map[string]int
	DeadLetters int
	Breakers    int
	Transitions []string
	// Rates are the fleet rates the workers ran with (*_RATE).
	Rates map[string]float64
	// Counters are the running workers' deferral, retry and outcome
	// counters (the SIGKILLed worker's are lost with it).
	Counters map[string]float64
}

// quota is a provider's real limit in requests per second.
func quota(name string) float64 {
	switch name {
	case "musicbrainz":
		return quotaMusicBrainzPerSecond
	case "discogs":
		return quotaDiscogsPerMinute / 60.0
	case "spotify":
		return quotaSpotifyPer30s / 30.0
	}
	return 0
}

func (r quotaReport) callsPerTask(name string) float64 {
	return float64(r.Stats.Providers[name].RequestsTotal) / float64(r.Tasks)
}

// used is the share of a provider's quota the fleet used while work was
// queued (from the first publish to the last task settled).
func (r quotaReport) used(name string) float64 {
	return float64(r.Stats.Providers[name].RequestsTotal) / (quota(name) * r.Busy.Seconds())
}

// usedOfRate is the share of the provider's configured fleet rate (*_RATE)
// the fleet used while work was queued. The limiter grants at most
// ratelimit.EffectiveRate of it (the rate less its jitter slack).
func (r quotaReport) usedOfRate(name string) float64 {
	return float64(r.Stats.Providers[name].RequestsTotal) / (r.Rates[name] * r.Busy.Seconds())
}

// binding is the provider whose quota was used most: the one that set the
// pace.
func (r quotaReport) binding() (string, float64) {
	best, u := "", -1.0
	for _, name := range []string{"spotify", "musicbrainz", "discogs"} {
		if v := r.used(name); v > u {
			best, u = name, v
		}
	}
	return best, u
}

func (r quotaReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d tasks settled in %s (%.2f tasks/s)\n", r.Tasks, r.Busy.Round(time.Second), float64(r.Tasks)/r.Busy.Seconds())
	fmt.Fprintf(&b, "%-12s %8s %8s %6s %9s %8s %8s %8s %11s %11s %10s\n", "provider", "requests", "distinct", "dups", "per task",
		"max/1s", "max/min", "max/win", "over quota", "quota used", "rate used")
	for _, name := range []string{"spotify", "musicbrainz", "discogs"} {
		p := r.Stats.Providers[name]
		fmt.Fprintf(&b, "%-12s %8d %8d %6d %9.2f %8d %8d %8d %11d %10.1f%% %9.1f%%\n", name, p.RequestsTotal, p.DistinctRequests,
			p.DuplicateSuccessful, r.callsPerTask(name), p.MaxPerSecond, p.MaxPerMinute, p.MaxInRateWindow, p.RateLimitedTotal,
			100*r.used(name), 100*r.usedOfRate(name))
	}
	bname, bu := r.binding()
	fmt.Fprintf(&b, "binding quota: %s, %.1f%% of its quota (%.4g/s) and %.1f%% of its fleet rate (%g/s; the limiter grants %.3g/s) used while work was queued\n",
		bname, 100*bu, quota(bname), 100*r.usedOfRate(bname), r.Rates[bname], ratelimit.EffectiveRate(r.Rates[bname]))
	keys := make([]string, 0, len(r.Statuses))
	for k := range r.Statuses {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprint(&b, "statuses:")
	for _, k := range keys {
		fmt.Fprintf(&b, " %s %d", k, r.Statuses[k])
	}
	fmt.Fprintf(&b, "; dead letters %d; breaker openings %d (transitions: %v)\n", r.DeadLetters, r.Breakers, r.Transitions)
	for _, name := range []string{"spotify", "musicbrainz", "discogs"} {
		fmt.Fprintf(&b, "%s requests by endpoint: %v\n", name, r.Stats.Providers[name].Endpoints)
	}
	ckeys := make([]string, 0, len(r.Counters))
	for k, v := range r.Counters {
		if v != 0 {
			ckeys = append(ckeys, k)
		}
	}
	sort.Strings(ckeys)
	fmt.Fprint(&b, "worker counters (surviving workers):")
	for _, k := range ckeys {
		fmt.Fprintf(&b, " %s=%g", k, r.Counters[k])
	}
	fmt.Fprintln(&b)
	for _, name := range []string{"spotify", "musicbrainz", "discogs"} {
		if d := r.Stats.Providers[name].TopDuplicates; len(d) > 0 {
			fmt.Fprintf(&b, "%s answered more than once: %v\n", name, d)
		}
	}
	return b.String()
}

// envMap turns NAME=value pairs into a map (later pairs win).
func envMap(pairs []string) map[string]string {
	m := map[string]string{}
	for _, p := range pairs {
		if k, v, ok := strings.Cut(p, "="); ok {
			m[k] = v
		}
	}
	return m
}
