package driver

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Soak runs a steady load for a while (10 minutes by default), samples each
// worker's heap (go_memstats_heap_alloc_bytes), goroutines and VmRSS every
// interval, and prints the least-squares slope of each.
func Soak(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	root := fs.String("root", "..", "repository root")
	duration := fs.Duration("duration", 10*time.Minute, "length of the steady load")
	interval := fs.Duration("interval", 10*time.Second, "sampling interval")
	workers := fs.Int("workers", 2, "worker processes")
	rate := fs.Float64("rate", 40, "tasks published per second (keep it under the cold-cache capacity, see docs/BENCHMARKS.md)")
	latency := fs.Duration("provider-latency", 80*time.Millisecond, "provider-sim latency")
	jitter := fs.Duration("provider-jitter", 20*time.Millisecond, "provider-sim latency jitter")
	settle := fs.Duration("settle", 0, "samples before this are left out of the slope (default: a fifth of the duration, at most 1m)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *settle == 0 {
		*settle = min(time.Minute, *duration/5)
	}
	absRoot, err := filepath.Abs(*root)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "enrich-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	srv := &Servers{
		Root:     absRoot,
		AMQP:     envOr("BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"),
		API:      envOr("BENCH_RABBITMQ_API", "http://guest:guest@127.0.0.1:15672"),
		PGAdmin:  envOr("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"),
		RedisURL: envOr("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
		WorkDir:  work,
	}
	wl, err := LoadWorkload(absRoot, 2000)
	if err != nil {
		return err
	}
	sc, err := srv.NewScenario(ctx, "soak")
	if err != nil {
		return err
	}
	defer func() {
		if err := sc.Close(); err != nil {
			logf("%v", err)
		}
	}()
	sim, err := srv.startSim(ctx, *latency, *jitter)
	if err != nil {
		return err
	}
	defer sim.Stop(10 * time.Second)
	ws, err := srv.startWorkers(ctx, sc, sim, *workers, map[string]string{"LOG_LEVEL": "warn"}, "soak")
	if err != nil {
		return err
	}
	defer func() { _ = stopWorkers(ws) }()

	n := int(*rate * duration.Seconds())
	// A Zipf law over a pool with many requests nobody knows: repeats hit
	// the cache, the long tail keeps calling the providers, every task is a
	// new track row.
	tasks := wl.Zipf(n, 1.1, 42)
	bodies := wl.Bodies(tasks, "soak")
	pctx, cancelPub := context.WithCancel(ctx)
	defer cancelPub()
	pubErr := make(chan error, 1)
	go func() {
		_, err := publish(pctx, sc.AMQPURL, bodies, *rate)
		pubErr <- err
	}()
	logf("soak: %d workers, %.0f tasks/s for %s, providers %s ± %s; sampling every %s (slope from %s on)",
		*workers, *rate, *duration, *latency, *jitter, *interval, *settle)
	type sample struct {
		t                 float64 // seconds since start
		heap, rss, gorout []float64
	}
	var samples []sample
	start := time.Now()
	tick := time.NewTicker(*interval)
	defer tick.Stop()
	fmt.Printf("%8s %10s", "t", "settled")
	for i := range ws {
		fmt.Printf("  w%d heap MiB  w%d RSS MiB  w%d gor", i, i, i)
	}
	fmt.Println()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-pubErr:
			if err != nil {
				return fmt.Errorf("publish: %w", err)
			}
			pubErr = nil
			continue
		case <-tick.C:
		}
		s := sample{t: time.Since(start).Seconds()}
		var nSettled float64
		for _, w := range ws {
			m, err := w.Scrape(ctx)
			if err != nil {
				return fmt.Errorf("scrape %s: %w", w.Name, err)
			}
			d, _ := settled(m)
			nSettled += d
			s.heap = append(s.heap, m["go_memstats_heap_alloc_bytes"])
			s.gorout = append(s.gorout, m["go_goroutines"])
			s.rss = append(s.rss, float64(rssKiB(w.Pid()))*1024)
		}
		samples = append(samples, s)
		fmt.Printf("%7.0fs %10.0f", s.t, nSettled)
		for i := range ws {
			fmt.Printf("  %11.1f  %10.1f  %6.0f", s.heap[i]/(1<<20), s.rss[i]/(1<<20), s.gorout[i])
		}
		fmt.Println()
		done = time.Since(start) >= *duration
	}
	cancelPub()
	fmt.Printf("\nslopes over %s..%s (least squares; MiB per minute):\n", *settle, *duration)
	var b strings.Builder
	for i := range ws {
		var ts, heap, rss, gor []float64
		for _, s := range samples {
			if s.t >= settle.Seconds() {
				ts, heap, rss, gor = append(ts, s.t/60), append(heap, s.heap[i]/(1<<20)), append(rss, s.rss[i]/(1<<20)), append(gor, s.gorout[i])
			}
		}
		hs, hm := slope(ts, heap)
		rs, rm := slope(ts, rss)
		gs, _ := slope(ts, gor)
		fmt.Fprintf(&b, "worker %d: heap %+.3f MiB/min (mean %.1f MiB), RSS %+.3f MiB/min (mean %.1f MiB), goroutines %+.2f/min\n", i, hs, hm, rs, rm, gs)
	}
	fmt.Print(b.String())
	return nil
}

// slope is the least-squares slope of y over x, and the mean of y.
func slope(x, y []float64) (float64, float64) {
	n := float64(len(x))
	if n < 2 {
		return 0, 0
	}
	var sx, sy, sxx, sxy float64
	for i := range x {
		sx += x[i]
		sy += y[i]
		sxx += x[i] * x[i]
		sxy += x[i] * y[i]
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0, sy / n
	}
	return (n*sxy - sx*sy) / d, sy / n
}
