package driver

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
)

const (
	markBegin = "<!-- bench:results:begin (written by make bench; edits inside are replaced) -->"
	markEnd   = "<!-- bench:results:end -->"
)

// writeReport replaces the generated block of the report (creating the
// file, or appending the block, when there is none).
func writeReport(r *Results, o Options, path string) error {
	block := markBegin + "\n" + r.markdown(o) + markEnd + "\n"
	old, err := os.ReadFile(path)
	var doc string
	switch {
	case os.IsNotExist(err):
		doc = "# Benchmarks\n\n" + block
	case err != nil:
		return err
	default:
		s := string(old)
		i, j := strings.Index(s, markBegin), strings.Index(s, markEnd)
		if i >= 0 && j > i {
			doc = s[:i] + block + strings.TrimPrefix(s[j+len(markEnd):], "\n")
		} else {
			doc = strings.TrimRight(s, "\n") + "\n\n" + block
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(doc), 0o644)
}

func (r *Results) peer(name string) *Row {
	for i := range r.Peers {
		if r.Peers[i].Name == name {
			return &r.Peers[i]
		}
	}
	return nil
}

// bestWarm is the fastest warm run with batched commits.
func (r *Results) bestWarm() *Row {
	var best *Row
	for i := range r.Warm {
		w := &r.Warm[i]
		if w.Batch > 1 && (best == nil || w.Rate.Median > best.Rate.Median) {
			best = w
		}
	}
	return best
}

func ratio(a, b float64) string {
	if b <= 0 || math.IsNaN(a) || math.IsNaN(b) {
		return "n/a"
	}
	x := a / b
	if x >= 10 {
		return fmt.Sprintf("%.0f×", x)
	}
	return fmt.Sprintf("%.2f×", x)
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func (r *Results) markdown(o Options) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	mode := "full"
	if r.Quick {
		mode = "quick (BENCH_QUICK=1: fewer tasks and runs; indicative only)"
	}
	m := r.Machine
	p("\n### Run\n\n| | |\n|---|---|\n")
	p("| date | %s |\n| commit | `%s` |\n", r.Date, r.Commit)
	p("| machine | %s, %d cores, %s, %s |\n", m.CPU, m.Cores, m.MemGiB, m.Kernel)
	p("| software | %s; RabbitMQ %s; PostgreSQL %s; Redis %s |\n", m.Go, m.RabbitMQ, m.Postgres, m.Redis)
	p("| load average (1, 5, 15 min) | before %s, after %s |\n", r.LoadBefore, r.LoadAfter)
	p("| mode | %s: medians of %d run(s), range in brackets; %d tasks per throughput run (%d distinct track ids, %.0f%% repeats), %d distinct requests in the pool |\n",
		mode, r.Runs, r.Tasks, r.DistinctTracks, r.Repeat*100, r.PoolSize)
	p("| provider-sim latency (cold, Zipf) | %s ± %s |\n| bench duration | %s |\n\n", r.ProviderLatency, r.ProviderJitter, r.Elapsed)
	p("Everything (RabbitMQ, PostgreSQL, Redis, provider-sim, the workers or peers and the publisher) runs on the same machine.\n\n")

	ceil := r.peer("ceiling")
	ceilRate := math.NaN()
	if ceil != nil {
		ceilRate = ceil.Rate.Median
	}
	if len(r.Peers) > 0 || len(r.Warm) > 0 {
		p("### Throughput, published to committed (tasks/s)\n\n")
		p("The clock runs from the first publish to the last commit (last ack for the ceiling), with the consumers already subscribed and the publisher (confirms, window 512) running alongside.")
		if len(r.WarmEnv) > 0 {
			p(" The warm runs' workers had %v.", r.WarmEnv)
		}
		p("\n\n")
		p("| consumer | processes | tasks per run | tasks/s | of the ceiling | RSS per process |\n|---|---|---|---|---|---|\n")
		rows := append(append([]Row{}, r.Peers...), r.Warm...)
		for _, w := range rows {
			p("| %s | %d | %s | %s | %s | %s |\n", w.Label, w.Procs, commas(int64(w.Tasks)), fmtSample(w.Rate, fmtRate),
				pct(w.Rate.Median, ceilRate), fmtSample(w.RSSKiB, fmtMiB))
		}
		p("\n")
		if ceil != nil {
			p("The ceiling's publisher alone reached %s/s: end to end, the ceiling is the publisher's rate when it is lower than the consumer's.\n\n",
				fmtSample(ceil.PublishRate, fmtRate))
		}
	}
	if len(r.Warm) > 0 {
		p("#### Warm pipeline against the ceiling and the peers\n\n| pipeline (DB_BATCH_SIZE=50) | ÷ ceiling | ÷ watermill | ÷ watermill tuned | ÷ amqp-batch |\n|---|---|---|---|---|\n")
		for _, w := range r.Warm {
			if w.Batch <= 1 {
				continue
			}
			p("| %d worker(s): %s tasks/s | %s | %s | %s | %s |\n", w.Procs, fmtRate(w.Rate.Median),
				ratio(w.Rate.Median, ceilRate), ratio(w.Rate.Median, peerRate(r, "watermill")),
				ratio(w.Rate.Median, peerRate(r, "watermill-tuned")), ratio(w.Rate.Median, peerRate(r, "amqp-batch")))
		}
		var calls int64
		for _, w := range r.Warm {
			calls += w.Calls
		}
		p("\nProvider calls during the measured warm runs: %d (every answer came from Redis).\n\n", calls)
		p("#### Database write path: one commit per task against batched commits\n\n| workers | DB_BATCH_SIZE=1 | DB_BATCH_SIZE=50 (default) | gain |\n|---|---|---|---|\n")
		for _, w := range r.Warm {
			if w.Batch != 1 {
				continue
			}
			for _, v := range r.Warm {
				if v.Procs == w.Procs && v.Batch > 1 {
					p("| %d | %s | %s | %s |\n", w.Procs, fmtSample(w.Rate, fmtRate), fmtSample(v.Rate, fmtRate), ratio(v.Rate.Median, w.Rate.Median))
				}
			}
		}
		p("\n")
	}
	if len(r.Cold) > 0 {
		p("### Cold cache, provider latency %s ± %s: scaling with workers\n\n", r.ProviderLatency, r.ProviderJitter)
		p("A new Redis prefix per run; provider-sim's rate limits off and the fleet rates (`*_RATE`) at their maximum, 10,000/s, so that nothing but the providers' latency should limit. Default worker settings (WORKER_CONCURRENCY 16, PREFETCH_COUNT 128)")
		if len(r.ColdEnv) > 0 {
			p(", with %v", r.ColdEnv)
		}
		p(".\n\n")
		p("| workers | tasks per run | tasks/s | scaling efficiency | steady state: tasks/s | steady state: efficiency | provider calls per task | RSS per worker |\n|---|---|---|---|---|---|---|---|\n")
		for _, c := range r.Cold {
			p("| %d | %s | %s | %.2f | %s | %.2f | %.2f | %s |\n", c.Workers, commas(int64(c.Tasks)), fmtSample(c.Rate, fmtRate), c.Efficiency,
				fmtSample(c.SteadyRate, fmtRate), c.SteadyEfficiency, c.CallsPerTask, fmtSample(c.RSSKiB, fmtMiB))
		}
		p("\nScaling efficiency is tasks/s with n workers ÷ (n × tasks/s with one), end to end (first publish to last commit); the target uses it. The steady-state columns leave out each run's first and last 10%% of completions (from the workers' \"task done\" log lines): the ramp-up, and the tail in which some workers have finished their prefetched share and others have not.\n\n")
	}
	if len(r.Warm) > 0 || len(r.Cold) > 0 {
		groups := []string{"workers", "rabbitmq", "postgres", "redis", "provider-sim", "bench driver (publisher)"}
		p("### Where the CPU goes (CPU µs per task)\n\nUser + system CPU of each process group between the first publish and the last commit, per task (median of runs); the machine's busy share counts every process, other users' included. Postgres counts the backends alive for the whole run.\n\n")
		p("| run | %s | machine busy |\n|---|%s---|\n", strings.Join(groups, " | "), strings.Repeat("---|", len(groups)))
		line := func(name string, cpu map[string]float64, busy Sample) {
			p("| %s |", name)
			for _, g := range groups {
				p(" %.0f |", cpu[g])
			}
			p(" %s |\n", fmtSample(busy, func(v float64) string { return fmt.Sprintf("%.0f%%", 100*v) }))
		}
		for _, w := range r.Warm {
			line(fmt.Sprintf("warm, %d worker(s), DB_BATCH_SIZE=%d", w.Procs, w.Batch), w.CPUus, w.Busy)
		}
		for _, c := range r.Cold {
			line(fmt.Sprintf("cold, %d worker(s)", c.Workers), c.CPUus, c.Busy)
		}
		p("\n")
	}
	if l := r.Latency; l != nil {
		rate := fmt.Sprintf("%s/s (half of the %s/s measured above)", fmtRate(l.Target), fmtRate(l.MaxRate))
		if l.MaxRate == 0 {
			rate = fmt.Sprintf("%s/s (a fixed rate, -latency-rate)", fmtRate(l.Target))
			p("### Task latency at a fixed rate\n\n")
		} else {
			p("### Task latency at half the maximum rate\n\n")
		}
		p("Warm cache, %d worker(s), tasks published evenly at %s, %s tasks per run; latency is from the publish to the worker's \"task done\" log line, written right after the ack that follows the commit.\n\n",
			l.Workers, rate, commas(int64(l.Tasks)))
		p("| achieved tasks/s | p50 | p95 | p99 |\n|---|---|---|---|\n| %s | %s | %s | %s |\n\n",
			fmtSample(l.Achieved, fmtRate), fmtSample(l.P50, fmtMs), fmtSample(l.P95, fmtMs), fmtSample(l.P99, fmtMs))
	}
	if len(r.Warm) > 0 || len(r.Cold) > 0 {
		p("### Resident memory per worker\n\nVmRSS from /proc/<pid>/status of the real `bin/enrichment-worker` processes, sampled every 250 ms; per worker the median over the second half of each run, then the median (range) over workers and runs.\n\n| scenario | RSS per worker |\n|---|---|\n")
		for _, w := range r.Warm {
			p("| warm, %d worker(s), DB_BATCH_SIZE=%d | %s |\n", w.Procs, w.Batch, fmtSample(w.RSSKiB, fmtMiB))
		}
		for _, c := range r.Cold {
			p("| cold, %d worker(s) | %s |\n", c.Workers, fmtSample(c.RSSKiB, fmtMiB))
		}
		p("\n")
	}
	if z := r.Zipf; z != nil {
		p("### Zipf workload: provider calls against distinct requests\n\n")
		p("%s tasks whose requests follow a Zipf law (s = %.2f) over the pool, each under its own track id, on %d workers with a cold cache; the baseline asks each of the %s distinct requests once (its own cold cache).\n\n",
			commas(int64(z.Tasks)), z.S, z.Workers, commas(int64(z.Distinct)))
		p("| tasks | distinct requests | provider calls, each distinct request once | provider calls, Zipf workload | ratio | tasks/s |\n|---|---|---|---|---|---|\n")
		p("| %s | %s | %s | %s | %s | %s |\n\n", commas(int64(z.Tasks)), commas(int64(z.Distinct)), commas(z.BaselineCalls),
			fmtSample(z.Calls, func(v float64) string { return commas(int64(v)) }),
			fmtSample(z.Ratio, func(v float64) string { return fmt.Sprintf("%.3f", v) }), fmtSample(z.Rate, fmtRate))
	}
	r.targets(p)
	if len(r.Micro) > 0 {
		p("### Micro-benchmarks\n\nMedians of `go test -bench` runs; the raw output, for benchstat, is [bench/micro.txt](bench/micro.txt).\n\n| package | benchmark | ns/op | B/op | allocs/op |\n|---|---|---|---|---|\n")
		for _, mr := range r.Micro {
			p("| %s | %s | %s | %.0f | %.0f |\n", mr.Pkg, mr.Name, fmtNs(mr.NsOp), mr.BOp, mr.AllocsOp)
		}
		p("\n")
	}
	p("![tasks/s against workers, beside the ceiling and the peers](bench/scaling.png)\n\n")
	return b.String()
}

func fmtNs(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2f ms", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.2f µs", v/1e3)
	}
	return fmt.Sprintf("%.0f ns", v)
}

func pct(a, b float64) string {
	if b <= 0 || math.IsNaN(b) || math.IsNaN(a) {
		return "n/a"
	}
	return fmt.Sprintf("%.0f%%", 100*a/b)
}

func peerRate(r *Results, name string) float64 {
	if p := r.peer(name); p != nil {
		return p.Rate.Median
	}
	return math.NaN()
}

func (r *Results) targets(p func(string, ...any)) {
	type t struct{ what, measured, ok string }
	var ts []t
	if w := r.bestWarm(); w != nil {
		wr := w.Rate.Median
		if v := peerRate(r, "amqp-batch"); !math.IsNaN(v) {
			ts = append(ts, t{"warm pipeline ≥ the writes-only batched peer", fmt.Sprintf("%s vs %s tasks/s (%s)", fmtRate(wr), fmtRate(v), ratio(wr, v)), yes(wr >= v)})
		}
		if v := peerRate(r, "watermill-tuned"); !math.IsNaN(v) {
			ts = append(ts, t{"warm pipeline ≥ 5× tuned watermill", ratio(wr, v), yes(wr >= 5*v)})
		}
		if v := peerRate(r, "ceiling"); !math.IsNaN(v) {
			ts = append(ts, t{"warm pipeline ≥ 50% of the broker ceiling", pct(wr, v), yes(wr >= v/2)})
		}
	}
	for _, c := range r.Cold {
		if c.Workers == 4 {
			ts = append(ts, t{"scaling efficiency 1 → 4 workers ≥ 0.9", fmt.Sprintf("%.2f", c.Efficiency), yes(c.Efficiency >= 0.9)})
		}
	}
	// The target is about the worker as shipped: DB_BATCH_SIZE=1 is a
	// comparison, not a default, and is reported beside it.
	maxRSS, maxRSSBatch1 := 0.0, 0.0
	for _, w := range r.Warm {
		if w.Batch == 1 {
			maxRSSBatch1 = math.Max(maxRSSBatch1, w.RSSKiB.Max)
			continue
		}
		maxRSS = math.Max(maxRSS, w.RSSKiB.Max)
	}
	for _, c := range r.Cold {
		maxRSS = math.Max(maxRSS, c.RSSKiB.Max)
	}
	if maxRSS > 0 {
		m := "largest " + fmtMiB(maxRSS) + " with the default settings"
		if maxRSSBatch1 > 0 {
			m += " (" + fmtMiB(maxRSSBatch1) + " with DB_BATCH_SIZE=1)"
		}
		ts = append(ts, t{"≤ 32 MiB resident per worker at steady state", m, yes(maxRSS <= 32*1024)})
	}
	if z := r.Zipf; z != nil {
		ts = append(ts, t{"provider calls within 1% of distinct requests", fmt.Sprintf("%.3f×", z.Ratio.Median), yes(z.Ratio.Median <= 1.01)})
	}
	if len(ts) == 0 {
		return
	}
	p("### Targets (reported, not asserted)\n\n| target | measured | met |\n|---|---|---|\n")
	for _, x := range ts {
		p("| %s | %s | %s |\n", x.what, x.measured, x.ok)
	}
	p("| no heap growth over the soak | `make soak` (not part of this run) | |\n\n")
}

// summary is the short text printed at the end of a run.
func (r *Results) summary() string {
	var b strings.Builder
	for _, w := range append(append([]Row{}, r.Peers...), r.Warm...) {
		fmt.Fprintf(&b, "%-70s %s tasks/s\n", w.Label, fmtSample(w.Rate, fmtRate))
	}
	for _, c := range r.Cold {
		fmt.Fprintf(&b, "cold, %d worker(s)%-52s %s tasks/s, efficiency %.2f (steady state %.2f)\n", c.Workers, "", fmtSample(c.Rate, fmtRate), c.Efficiency, c.SteadyEfficiency)
	}
	if l := r.Latency; l != nil {
		fmt.Fprintf(&b, "latency at %s tasks/s: p50 %s p95 %s p99 %s\n", fmtRate(l.Target), fmtMs(l.P50.Median), fmtMs(l.P95.Median), fmtMs(l.P99.Median))
	}
	if z := r.Zipf; z != nil {
		fmt.Fprintf(&b, "zipf: %d provider calls for %d tasks; %d when each distinct request is asked once (%.3f×)\n", int64(z.Calls.Median), z.Tasks, z.BaselineCalls, z.Ratio.Median)
	}
	return b.String()
}
