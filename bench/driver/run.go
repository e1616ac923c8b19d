// Package driver runs the benchmark scenarios of docs/BENCHMARKS.md against
// the product's binaries (bin/) and the peers, and writes the report and
// the chart.
package driver

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Options are the flags of `bench run`.
type Options struct {
	Root          string
	Quick         bool
	Runs          int
	Tasks         int
	SlowTasks     int
	Repeat        float64
	Synth         int
	WarmPool      int
	WarmWorkers   []int
	ColdWorkers   []int
	ColdPerWorker int
	ColdEnv       map[string]string
	WarmEnv       map[string]string
	MicroTime     string
	Latency       time.Duration
	Jitter        time.Duration
	LatencySecs   float64
	LatencyRate   float64
	LatencyProcs  int
	ZipfTasks     int
	ZipfS         float64
	ZipfWorkers   int
	Only          map[string]bool
	Doc           string
	Chart         string
	JSON          string
	Micro         bool
	MicroCount    int
	KeepLogs      bool
}

func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad worker count %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func parseOptions(args []string) (Options, error) {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var o Options
	quick := os.Getenv("BENCH_QUICK") != "" && os.Getenv("BENCH_QUICK") != "0"
	fs.StringVar(&o.Root, "root", "..", "repository root (bin/, testdata/, docs/)")
	fs.BoolVar(&o.Quick, "quick", quick, "short runs for development (also BENCH_QUICK=1)")
	runs := fs.Int("runs", 0, "runs per measurement (default 3, quick 1)")
	tasks := fs.Int("tasks", 0, "tasks per throughput run (default 10000, quick 3000)")
	slow := fs.Int("slow-tasks", 0, "tasks per run of the untuned watermill peer (default tasks/4)")
	fs.Float64Var(&o.Repeat, "repeat", 0.2, "share of tasks that repeat an earlier task")
	fs.IntVar(&o.Synth, "synth", 800, "requests no provider knows added to the pool")
	fs.IntVar(&o.WarmPool, "task-pool", 1000, "distinct requests the throughput tasks cycle through (the warm-up asks each once)")
	warm := fs.String("warm-workers", "1,3", "worker counts of the warm-cache runs")
	cold := fs.String("cold-workers", "1,2,4,8", "worker counts of the cold-cache scaling runs")
	fs.IntVar(&o.ColdPerWorker, "cold-per-worker", 0, "tasks per worker in a cold run (default 200, quick 40)")
	coldEnv := fs.String("cold-env", "", "extra worker environment of the cold and Zipf runs, K=V,K=V (e.g. WORKER_CONCURRENCY=32,PREFETCH_COUNT=64)")
	warmEnv := fs.String("warm-env", "", "extra worker environment of the warm and latency runs, K=V,K=V (e.g. METRICS_PPROF=true)")
	fs.StringVar(&o.MicroTime, "micro-benchtime", "500ms", "go test -benchtime of the micro-benchmarks")
	fs.DurationVar(&o.Latency, "provider-latency", 80*time.Millisecond, "provider-sim latency of the cold and Zipf runs")
	fs.DurationVar(&o.Jitter, "provider-jitter", 20*time.Millisecond, "provider-sim latency jitter (±)")
	fs.Float64Var(&o.LatencySecs, "latency-seconds", 0, "length of a latency run (default 10, quick 3)")
	fs.Float64Var(&o.LatencyRate, "latency-rate", 0, "tasks/s of the latency runs (default: half the best warm rate)")
	fs.IntVar(&o.LatencyProcs, "latency-workers", 0, "workers of the latency runs (default: those of the best warm rate)")
	fs.IntVar(&o.ZipfTasks, "zipf-tasks", 0, "tasks of the Zipf workload (default 2000, quick 600)")
	fs.Float64Var(&o.ZipfS, "zipf-s", 1.1, "Zipf exponent")
	fs.IntVar(&o.ZipfWorkers, "zipf-workers", 4, "workers of the Zipf runs")
	only := fs.String("only", "", "comma-separated scenarios to run (ceiling,peers,warm,latency,cold,zipf,micro); default all")
	fs.StringVar(&o.Doc, "doc", "docs/BENCHMARKS.md", "report (relative to -root); the block between the bench markers is replaced")
	fs.StringVar(&o.Chart, "chart", "docs/bench/scaling.png", "chart (relative to -root)")
	fs.StringVar(&o.JSON, "json", "docs/bench/results.json", "raw results (relative to -root)")
	fs.BoolVar(&o.Micro, "micro", true, "run the Go micro-benchmarks too (docs/bench/micro.txt)")
	fs.IntVar(&o.MicroCount, "micro-count", 0, "go test -count of the micro-benchmarks (default 6, quick 1)")
	fs.BoolVar(&o.KeepLogs, "keep-logs", false, "keep the processes' logs")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	pick := func(v, full, q int) int {
		if v > 0 {
			return v
		}
		if o.Quick {
			return q
		}
		return full
	}
	o.Runs = pick(*runs, 3, 1)
	o.Tasks = pick(*tasks, 10000, 3000)
	o.SlowTasks = pick(*slow, o.Tasks/4, o.Tasks/4)
	o.ColdPerWorker = pick(o.ColdPerWorker, 200, 40)
	o.ZipfTasks = pick(o.ZipfTasks, 2000, 600)
	o.MicroCount = pick(o.MicroCount, 6, 1)
	if o.LatencySecs <= 0 {
		o.LatencySecs = 10
		if o.Quick {
			o.LatencySecs = 3
		}
	}
	var err error
	if o.WarmWorkers, err = intList(*warm); err != nil {
		return o, err
	}
	if o.ColdWorkers, err = intList(*cold); err != nil {
		return o, err
	}
	if o.ColdEnv, err = envList("-cold-env", *coldEnv); err != nil {
		return o, err
	}
	if o.WarmEnv, err = envList("-warm-env", *warmEnv); err != nil {
		return o, err
	}
	if *only != "" {
		o.Only = map[string]bool{}
		for _, s := range strings.Split(*only, ",") {
			o.Only[strings.TrimSpace(s)] = true
		}
	}
	if o.Root, err = filepath.Abs(o.Root); err != nil {
		return o, err
	}
	return o, nil
}

func (o Options) want(s string) bool { return o.Only == nil || o.Only[s] }

// Run runs every scenario and writes the report.
func Run(ctx context.Context, args []string) error {
	o, err := parseOptions(args)
	if err != nil {
		return err
	}
	for _, b := range []string{"enrichment-worker", "provider-sim", "queue-init", "enrichctl"} {
		if _, err := os.Stat(filepath.Join(o.Root, "bin", b)); err != nil {
			return fmt.Errorf("bin/%s missing: run make build first", b)
		}
	}
	work, err := os.MkdirTemp("", "enrich-bench-")
	if err != nil {
		return err
	}
	if !o.KeepLogs {
		defer os.RemoveAll(work)
	}
	srv := &Servers{
		Root:     o.Root,
		AMQP:     envOr("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"),
		API:      envOr("BENCH_RABBITMQ_API", "http://guest:guest@127.0.0.1:15672"),
		PGAdmin:  envOr("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"),
		RedisURL: envOr("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
		WorkDir:  work,
	}
	res := &Results{Quick: o.Quick, Runs: o.Runs, Tasks: o.Tasks, SlowTasks: o.SlowTasks, Repeat: o.Repeat,
		ProviderLatency: o.Latency.String(), ProviderJitter: o.Jitter.String(), ColdEnv: o.ColdEnv, WarmEnv: o.WarmEnv}
	start := time.Now()
	res.describe(ctx, srv)
	logf("machine: %s; load %s; logs in %s", res.Machine.CPU, res.LoadBefore, work)

	wl, err := LoadWorkload(o.Root, o.Synth)
	if err != nil {
		return err
	}
	res.PoolSize = len(wl.Pool)
	tasks := wl.Tasks(o.Tasks, o.Repeat, 1, o.WarmPool)
	res.DistinctTracks = distinctTracks(tasks)

	steps := []struct {
		name string
		fn   func() error
	}{
		{"peers", func() error { return benchPeers(ctx, srv, o, wl, tasks, res) }},
		{"warm", func() error { return benchWarm(ctx, srv, o, wl, tasks, res) }},
		{"cold", func() error { return benchCold(ctx, srv, o, wl, res) }},
		{"zipf", func() error { return benchZipf(ctx, srv, o, wl, res) }},
		{"micro", func() error { return benchMicro(ctx, o, res) }},
	}
	var errs []error
	for _, st := range steps {
		if !o.want(st.name) && !(st.name == "peers" && o.want("ceiling")) && !(st.name == "warm" && o.want("latency")) {
			continue
		}
		t0 := time.Now()
		if err := st.fn(); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			errs = append(errs, fmt.Errorf("%s: %w", st.name, err))
			logf("%s FAILED: %v", st.name, err)
			continue
		}
		logf("%s done in %s", st.name, time.Since(t0).Round(time.Second))
	}
	res.LoadAfter = loadavg()
	res.Elapsed = time.Since(start).Round(time.Second).String()
	if err := res.write(o); err != nil {
		errs = append(errs, err)
	}
	fmt.Println(res.summary())
	return errors.Join(errs...)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func distinctTracks(ts []Task) int {
	seen := map[string]bool{}
	for _, t := range ts {
		seen[t.TrackID] = true
	}
	return len(seen)
}

func maxReq(ts []Task) int {
	m := 0
	for _, t := range ts {
		m = max(m, t.Req)
	}
	return m
}

// benchPeers measures the ceiling and the peers, runs interleaved so that
// the machine's noise spreads over all of them.
func benchPeers(ctx context.Context, srv *Servers, o Options, wl *Workload, tasks []Task, res *Results) error {
	type peer struct {
		name, kind, label string
		backlog, want     bool
		n                 int
		sc                *Scenario
		runs              []PeerRun
	}
	ps := []*peer{
		{name: "ceiling", kind: "ceiling", label: "ceiling: consume + ack only (1 process, prefetch 300)", want: o.want("ceiling") || o.want("peers"), n: len(tasks)},
		{name: "ceiling-backlog", kind: "ceiling", label: "ceiling, consume only from a published backlog", backlog: true, want: o.want("ceiling") || o.want("peers"), n: len(tasks)},
		{name: "watermill", kind: "watermill", label: "watermill + watermill-amqp v2 as documented (prefetch 1, 1 handler)", want: o.want("peers"), n: min(o.SlowTasks, len(tasks))},
		{name: "watermill-tuned", kind: "watermill-tuned", label: "watermill, tuned (16 handlers, prefetch 20)", want: o.want("peers"), n: len(tasks)},
		{name: "amqp-batch", kind: "amqp-batch", label: "amqp091-go, up to 50 tasks per transaction (5 ms), 4 writers", want: o.want("peers"), n: len(tasks)},
	}
	defer func() {
		for _, p := range ps {
			if p.sc != nil {
				if err := p.sc.Close(); err != nil {
					logf("%v", err)
				}
			}
		}
	}()
	for _, p := range ps {
		if !p.want {
			continue
		}
		sc, err := srv.NewScenario(ctx, p.name)
		if err != nil {
			return err
		}
		p.sc = sc
	}
	for r := range o.Runs {
		for _, p := range ps {
			if p.sc == nil {
				continue
			}
			run, err := srv.runPeer(ctx, p.sc, p.kind, wl, tasks[:p.n], fmt.Sprintf("%s%d", p.name, r), p.backlog)
			if err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			logf("%-16s run %d: %s tasks/s (publisher %s/s), RSS %s", p.name, r+1, fmtRate(run.Rate), fmtRate(run.PublishRate), fmtMiB(run.RSSKiB))
			p.runs = append(p.runs, run)
		}
	}
	for _, p := range ps {
		if p.sc == nil {
			continue
		}
		row := Row{Name: p.name, Label: p.label, Procs: 1, Tasks: p.n}
		var rate, pub, rss []float64
		for _, r := range p.runs {
			rate = append(rate, r.Rate)
			pub = append(pub, r.PublishRate)
			rss = append(rss, r.RSSKiB)
		}
		row.Rate, row.PublishRate, row.RSSKiB = sampleOf(rate), sampleOf(pub), sampleOf(rss)
		res.Peers = append(res.Peers, row)
	}
	return nil
}

// benchWarm measures the pipeline on a warm cache (all provider answers in
// Redis), with batched commits (DB_BATCH_SIZE 50, the default) and one
// commit per task (DB_BATCH_SIZE=1), then the task latency at half of the
// best rate.
func benchWarm(ctx context.Context, srv *Servers, o Options, wl *Workload, tasks []Task, res *Results) error {
	sc, err := srv.NewScenario(ctx, "warm")
	if err != nil {
		return err
	}
	defer func() {
		if err := sc.Close(); err != nil {
			logf("%v", err)
		}
	}()
	sim, err := srv.startSim(ctx, 0, 0)
	if err != nil {
		return err
	}
	defer sim.Stop(10 * time.Second)

	// Warm the cache: every request of the task set once, fast.
	warm := wl.Distinct(maxReq(tasks)+1, "warmup")
	t0 := time.Now()
	if _, err := srv.runPipeline(ctx, sc, sim, wl, warm, pipelineOpts{workers: 2, tag: "warmup",
		env: map[string]string{"WORKER_CONCURRENCY": "64", "PREFETCH_COUNT": "128", "LOG_LEVEL": "warn"}}); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	logf("warm-up: %d requests cached in %s", len(warm), time.Since(t0).Round(time.Second))

	type cfg struct {
		workers, batch int
		runs           []PipelineRun
	}
	var cfgs []*cfg
	if o.want("warm") {
		for _, w := range o.WarmWorkers {
			cfgs = append(cfgs, &cfg{workers: w, batch: 50}, &cfg{workers: w, batch: 1})
		}
	}
	for r := range o.Runs {
		for _, c := range cfgs {
			run, err := srv.runPipeline(ctx, sc, sim, wl, tasks, pipelineOpts{workers: c.workers, tag: fmt.Sprintf("w%d-b%d-r%d", c.workers, c.batch, r),
				env: withEnv(o.WarmEnv, "DB_BATCH_SIZE", strconv.Itoa(c.batch))})
			if err != nil {
				return fmt.Errorf("warm %d workers batch %d: %w", c.workers, c.batch, err)
			}
			logf("warm %d worker(s), DB_BATCH_SIZE=%-2d run %d: %s tasks/s (publisher %s/s), %d provider calls, RSS %v",
				c.workers, c.batch, r+1, fmtRate(run.Rate), fmtRate(run.PublishRate), run.Calls, kibList(run.RSSKiB))
			c.runs = append(c.runs, run)
		}
	}
	var best *Row
	for _, c := range cfgs {
		row := Row{Name: fmt.Sprintf("pipeline-warm-%dw-b%d", c.workers, c.batch), Procs: c.workers, Tasks: len(tasks), Batch: c.batch,
			Label: fmt.Sprintf("our pipeline, warm cache, %d worker(s), DB_BATCH_SIZE=%d", c.workers, c.batch)}
		var rate, pub, rss []float64
		for _, r := range c.runs {
			rate = append(rate, r.Rate)
			pub = append(pub, r.PublishRate)
			rss = append(rss, r.RSSKiB...)
			row.Calls += r.Calls
			row.Retried += r.Retried
		}
		row.Rate, row.PublishRate, row.RSSKiB = sampleOf(rate), sampleOf(pub), sampleOf(rss)
		row.CPUus, row.Busy = cpuPerTask(c.runs, len(tasks))
		res.Warm = append(res.Warm, row)
		if c.batch > 1 && (best == nil || row.Rate.Median > best.Rate.Median) {
			b := row
			best = &b
		}
	}
	if !o.want("latency") {
		return nil
	}
	workers, maxRate := 1, 0.0
	switch {
	case o.LatencyRate > 0:
		// A fixed rate: no maximum needed.
	case best != nil:
		workers, maxRate = best.Procs, best.Rate.Median
	default:
		// Latency alone: measure the maximum first.
		run, err := srv.runPipeline(ctx, sc, sim, wl, tasks, pipelineOpts{workers: 1, tag: "max", env: o.WarmEnv})
		if err != nil {
			return err
		}
		maxRate = run.Rate
	}
	target := maxRate / 2
	if o.LatencyRate > 0 {
		target = o.LatencyRate
	}
	if o.LatencyProcs > 0 {
		workers = o.LatencyProcs
	}
	n := min(len(tasks), int(target*o.LatencySecs))
	lt := LatencyResult{Workers: workers, MaxRate: maxRate, Target: target, Tasks: n}
	var p50, p95, p99, achieved []float64
	for r := range o.Runs {
		run, err := srv.runPipeline(ctx, sc, sim, wl, tasks[:n], pipelineOpts{workers: workers, rate: target, latencies: true, tag: fmt.Sprintf("lat%d", r), env: o.WarmEnv})
		if err != nil {
			return fmt.Errorf("latency: %w", err)
		}
		ms := func(p float64) float64 { return float64(percentile(run.Latencies, p)) / 1e6 }
		p50, p95, p99 = append(p50, ms(50)), append(p95, ms(95)), append(p99, ms(99))
		achieved = append(achieved, run.Rate)
		logf("latency at %s tasks/s, %d worker(s), run %d: p50 %s p95 %s p99 %s", fmtRate(target), workers, r+1, fmtMs(ms(50)), fmtMs(ms(95)), fmtMs(ms(99)))
	}
	lt.P50, lt.P95, lt.P99, lt.Achieved = sampleOf(p50), sampleOf(p95), sampleOf(p99), sampleOf(achieved)
	res.Latency = &lt
	return nil
}

func kibList(v []float64) string {
	var s []string
	for _, x := range v {
		s = append(s, fmtMiB(x))
	}
	return strings.Join(s, ", ")
}

// benchCold measures the pipeline on a cold cache (a new Redis prefix per
// run) with provider-sim answering after the configured latency, for each
// worker count.
func benchCold(ctx context.Context, srv *Servers, o Options, wl *Workload, res *Results) error {
	sc, err := srv.NewScenario(ctx, "cold")
	if err != nil {
		return err
	}
	defer func() {
		if err := sc.Close(); err != nil {
			logf("%v", err)
		}
	}()
	sim, err := srv.startSim(ctx, o.Latency, o.Jitter)
	if err != nil {
		return err
	}
	defer sim.Stop(10 * time.Second)
	all := wl.Tasks(o.ColdPerWorker*slices.Max(o.ColdWorkers), o.Repeat, 2, 0)
	runs := map[int][]PipelineRun{}
	for r := range o.Runs {
		for _, n := range o.ColdWorkers {
			sc.NewPrefix(ctx)
			ts := all[:o.ColdPerWorker*n]
			run, err := srv.runPipeline(ctx, sc, sim, wl, ts, pipelineOpts{workers: n, tag: fmt.Sprintf("cold%d-r%d", n, r), env: o.ColdEnv, latencies: true})
			if err != nil {
				return fmt.Errorf("cold %d workers: %w", n, err)
			}
			logf("cold %d worker(s) run %d: %d tasks, %s tasks/s (steady state %s), %.2f provider calls/task, RSS %s",
				n, r+1, len(ts), fmtRate(run.Rate), fmtRate(run.SteadyRate), float64(run.Calls)/float64(len(ts)), kibList(run.RSSKiB))
			runs[n] = append(runs[n], run)
		}
	}
	var base, steadyBase float64
	for _, n := range o.ColdWorkers {
		row := ColdRow{Workers: n, Tasks: o.ColdPerWorker * n}
		var rate, steady, rss []float64
		var calls int64
		for _, r := range runs[n] {
			rate = append(rate, r.Rate)
			steady = append(steady, r.SteadyRate)
			rss = append(rss, r.RSSKiB...)
			calls += r.Calls
			row.Retried += r.Retried
		}
		row.Rate, row.SteadyRate, row.RSSKiB = sampleOf(rate), sampleOf(steady), sampleOf(rss)
		row.CPUus, row.Busy = cpuPerTask(runs[n], row.Tasks)
		row.CallsPerTask = float64(calls) / float64(row.Tasks*len(runs[n]))
		if n == 1 {
			base, steadyBase = row.Rate.Median, row.SteadyRate.Median
		}
		if base > 0 {
			row.Efficiency = row.Rate.Median / (float64(n) * base)
		}
		if steadyBase > 0 {
			row.SteadyEfficiency = row.SteadyRate.Median / (float64(n) * steadyBase)
		}
		res.Cold = append(res.Cold, row)
	}
	return nil
}

// benchZipf measures provider calls on a Zipf workload against the calls
// its distinct requests need when each is asked once.
func benchZipf(ctx context.Context, srv *Servers, o Options, wl *Workload, res *Results) error {
	sc, err := srv.NewScenario(ctx, "zipf")
	if err != nil {
		return err
	}
	defer func() {
		if err := sc.Close(); err != nil {
			logf("%v", err)
		}
	}()
	sim, err := srv.startSim(ctx, o.Latency, o.Jitter)
	if err != nil {
		return err
	}
	defer sim.Stop(10 * time.Second)
	zt := wl.Zipf(o.ZipfTasks, o.ZipfS, 9)
	// Each distinct request once, in order of first appearance.
	seen := map[int]bool{}
	var distinct []Task
	for _, t := range zt {
		if !seen[t.Req] {
			seen[t.Req] = true
			distinct = append(distinct, Task{TrackID: "d-" + t.TrackID, Req: t.Req})
		}
	}
	z := ZipfResult{Tasks: len(zt), Distinct: len(distinct), S: o.ZipfS, Workers: o.ZipfWorkers}
	sc.NewPrefix(ctx)
	base, err := srv.runPipeline(ctx, sc, sim, wl, distinct, pipelineOpts{workers: o.ZipfWorkers, tag: "zipf-distinct", env: o.ColdEnv})
	if err != nil {
		return err
	}
	z.BaselineCalls = base.Calls
	logf("zipf: %d distinct requests asked once: %d provider calls", len(distinct), base.Calls)
	var calls, ratio, rate []float64
	for r := range o.Runs {
		sc.NewPrefix(ctx)
		run, err := srv.runPipeline(ctx, sc, sim, wl, zt, pipelineOpts{workers: o.ZipfWorkers, tag: fmt.Sprintf("zipf%d", r), env: o.ColdEnv})
		if err != nil {
			return err
		}
		calls = append(calls, float64(run.Calls))
		ratio = append(ratio, float64(run.Calls)/float64(base.Calls))
		rate = append(rate, run.Rate)
		logf("zipf run %d: %d tasks, %d provider calls (%.3f× the distinct requests' %d), %s tasks/s",
			r+1, len(zt), run.Calls, float64(run.Calls)/float64(base.Calls), base.Calls, fmtRate(run.Rate))
	}
	z.Calls, z.Ratio, z.Rate = sampleOf(calls), sampleOf(ratio), sampleOf(rate)
	res.Zipf = &z
	return nil
}

// Results is everything measured, also written as JSON.
type Results struct {
	Date            string            `json:"date"`
	Commit          string            `json:"commit"`
	Machine         Machine           `json:"machine"`
	LoadBefore      string            `json:"load_before"`
	LoadAfter       string            `json:"load_after"`
	Quick           bool              `json:"quick"`
	Runs            int               `json:"runs"`
	Tasks           int               `json:"tasks"`
	SlowTasks       int               `json:"slow_tasks"`
	Repeat          float64           `json:"repeat"`
	DistinctTracks  int               `json:"distinct_tracks"`
	PoolSize        int               `json:"pool_size"`
	ProviderLatency string            `json:"provider_latency"`
	ProviderJitter  string            `json:"provider_jitter"`
	ColdEnv         map[string]string `json:"cold_env,omitempty"`
	WarmEnv         map[string]string `json:"warm_env,omitempty"`
	Peers           []Row             `json:"peers"`
	Warm            []Row             `json:"warm"`
	Cold            []ColdRow         `json:"cold"`
	Latency         *LatencyResult    `json:"latency,omitempty"`
	Zipf            *ZipfResult       `json:"zipf,omitempty"`
	Micro           []MicroRow        `json:"micro,omitempty"`
	Elapsed         string            `json:"elapsed"`
}

// Row is one consumer's throughput.
type Row struct {
	Name        string  `json:"name"`
	Label       string  `json:"label"`
	Procs       int     `json:"processes"`
	Tasks       int     `json:"tasks"`
	Batch       int     `json:"db_batch_size,omitempty"`
	Rate        Sample  `json:"tasks_per_second"`
	PublishRate Sample  `json:"publisher_per_second"`
	RSSKiB      Sample  `json:"rss_kib"`
	Calls       int64   `json:"provider_calls,omitempty"`
	Retried     float64 `json:"retried,omitempty"`
	// CPUus is CPU microseconds per task by process group (median of runs).
	CPUus map[string]float64 `json:"cpu_us_per_task,omitempty"`
	Busy  Sample             `json:"machine_busy"`
}

// ColdRow is one worker count of the scaling runs.
type ColdRow struct {
	Workers    int     `json:"workers"`
	Tasks      int     `json:"tasks"`
	Rate       Sample  `json:"tasks_per_second"`
	Efficiency float64 `json:"efficiency"`
	// SteadyRate leaves out each run's first and last 10% of completions
	// (ramp-up, tail); SteadyEfficiency is Efficiency on it. Reported beside
	// the end-to-end figures, which the target uses.
	SteadyRate       Sample             `json:"steady_tasks_per_second"`
	SteadyEfficiency float64            `json:"steady_efficiency"`
	CallsPerTask     float64            `json:"provider_calls_per_task"`
	RSSKiB           Sample             `json:"rss_kib"`
	Retried          float64            `json:"retried,omitempty"`
	CPUus            map[string]float64 `json:"cpu_us_per_task,omitempty"`
	Busy             Sample             `json:"machine_busy"`
}

// LatencyResult is the latency at half the maximum rate.
type LatencyResult struct {
	Workers  int     `json:"workers"`
	MaxRate  float64 `json:"max_rate"`
	Target   float64 `json:"target_rate"`
	Tasks    int     `json:"tasks"`
	Achieved Sample  `json:"achieved_rate"`
	P50      Sample  `json:"p50_ms"`
	P95      Sample  `json:"p95_ms"`
	P99      Sample  `json:"p99_ms"`
}

// ZipfResult is the provider calls of the Zipf workload.
type ZipfResult struct {
	Tasks         int     `json:"tasks"`
	Distinct      int     `json:"distinct_requests"`
	S             float64 `json:"s"`
	Workers       int     `json:"workers"`
	BaselineCalls int64   `json:"calls_distinct_once"`
	Calls         Sample  `json:"calls"`
	Ratio         Sample  `json:"ratio"`
	Rate          Sample  `json:"tasks_per_second"`
}

func (r *Results) write(o Options) error {
	at := o.at
	if err := os.MkdirAll(filepath.Dir(at(o.JSON)), 0o755); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(r, "", "  ")
	if err := os.WriteFile(at(o.JSON), append(b, '\n'), 0o644); err != nil {
		return err
	}
	if err := drawChart(r, at(o.Chart)); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	return writeReport(r, o, at(o.Doc))
}

// cpuPerTask is the median over runs of each process group's CPU
// microseconds per task, and the machine's busy share.
func cpuPerTask(runs []PipelineRun, tasks int) (map[string]float64, Sample) {
	per := map[string][]float64{}
	var busy []float64
	for _, r := range runs {
		for g, sec := range r.CPU {
			per[g] = append(per[g], sec*1e6/float64(tasks))
		}
		busy = append(busy, r.Busy)
	}
	out := map[string]float64{}
	for g, v := range per {
		out[g] = sampleOf(v).Median
	}
	return out, sampleOf(busy)
}

// Report rewrites the report and the chart from a results file, without
// measuring anything (after a change to the report's layout).
func Report(args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	var o Options
	fs.StringVar(&o.Root, "root", "..", "repository root")
	fs.StringVar(&o.JSON, "json", "docs/bench/results.json", "results to read (relative to -root)")
	fs.StringVar(&o.Doc, "doc", "docs/BENCHMARKS.md", "report (relative to -root)")
	fs.StringVar(&o.Chart, "chart", "docs/bench/scaling.png", "chart (relative to -root)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if o.Root, err = filepath.Abs(o.Root); err != nil {
		return err
	}
	b, err := os.ReadFile(o.at(o.JSON))
	if err != nil {
		return err
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("%s: %w", o.JSON, err)
	}
	if err := drawChart(&r, o.at(o.Chart)); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	return writeReport(&r, o, o.at(o.Doc))
}

func (o Options) at(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(o.Root, p)
}

// envList parses K=V,K=V (flag name for errors); "" is nil.
func envList(flagName, s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	env := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("%s: %q is not K=V", flagName, kv)
		}
		env[strings.TrimSpace(k)] = v
	}
	return env, nil
}

// withEnv returns a copy of env with k=v set.
func withEnv(env map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(env)+1)
	for ek, ev := range env {
		out[ek] = ev
	}
	out[k] = v
	return out
}
