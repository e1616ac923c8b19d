package driver

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// PipelineRun is one run of the real workers.
type PipelineRun struct {
	Rate        float64         // tasks/s, first publish to last commit
	PublishRate float64         // the publisher's own rate
	Elapsed     time.Duration   // first publish to last commit
	Retried     float64         // deliveries sent to a retry tier
	RSSKiB      []float64       // per worker, median VmRSS over the run's second half
	Latencies   []time.Duration // publish to commit, per task (when asked)
	// SteadyRate is tasks/s between the 10th and the 90th percentile of the
	// tasks' completion times (when latencies are asked): the run without
	// its ramp-up and its tail.
	SteadyRate float64
	Calls      int64              // provider requests during the run
	CPU        map[string]float64 // CPU seconds by process group during the run
	Busy       float64            // the machine's busy share during the run
}

type pipelineOpts struct {
	workers   int
	env       map[string]string
	rate      float64 // 0: as fast as possible
	latencies bool
	tag       string
}

// runPipeline truncates the tables, starts the workers, publishes the
// tasks, waits until every one is settled, stops the workers (each must
// exit 0) and returns the measurements.
func (s *Servers) runPipeline(ctx context.Context, sc *Scenario, sim *Sim, wl *Workload, tasks []Task, o pipelineOpts) (PipelineRun, error) {
	var run PipelineRun
	if err := sc.Truncate(ctx); err != nil {
		return run, err
	}
	ws, err := s.startWorkers(ctx, sc, sim, o.workers, o.env, o.tag)
	if err != nil {
		return run, err
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = stopWorkers(ws)
		}
	}()
	var before SimStats
	if sim != nil {
		if before, err = sim.Stats(ctx); err != nil {
			return run, err
		}
	}
	// RSS sampler.
	type rssSample struct {
		at  time.Time
		kib []int64
	}
	var (
		mu      sync.Mutex
		samples []rssSample
	)
	sctx, stopSampler := context.WithCancel(ctx)
	var swg sync.WaitGroup
	swg.Go(func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case now := <-t.C:
				kib := make([]int64, len(ws))
				for i, w := range ws {
					kib[i] = rssKiB(w.Pid())
				}
				mu.Lock()
				samples = append(samples, rssSample{now, kib})
				mu.Unlock()
			}
		}
	})
	defer func() { stopSampler(); swg.Wait() }()

	bodies := wl.Bodies(tasks, o.tag)
	own := map[int]string{os.Getpid(): "bench driver (publisher)"}
	for _, w := range ws {
		own[w.Pid()] = "workers"
	}
	if sim != nil {
		own[sim.Pid()] = "provider-sim"
	}
	cpu0 := takeCPU(own)
	type pubRes struct {
		p   Published
		err error
	}
	pubc := make(chan pubRes, 1)
	go func() {
		p, err := publish(ctx, sc.AMQPURL, bodies, o.rate)
		pubc <- pubRes{p, err}
	}()
	n := float64(len(tasks))
	timeout := time.Now().Add(time.Duration(max(120, int(n/5))) * time.Second)
	var last float64
	for {
		var done, retried float64
		last = 0
		for _, w := range ws {
			m, err := w.Scrape(ctx)
			if err != nil {
				return run, fmt.Errorf("scrape %s: %w", w.Name, err)
			}
			d, r := settled(m)
			done += d
			retried += r
			last = math.Max(last, m["enrichment_last_task_completed_timestamp_seconds"])
		}
		run.Retried = retried
		if done >= n {
			break
		}
		if time.Now().After(timeout) {
			return run, fmt.Errorf("%s: %v of %v tasks settled before the timeout; logs in %s", sc.Name, done, n, s.WorkDir)
		}
		select {
		case <-ctx.Done():
			return run, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	run.CPU, run.Busy = cpuDelta(cpu0, takeCPU(own))
	pr := <-pubc
	if pr.err != nil {
		return run, pr.err
	}
	end := time.Unix(0, int64(last*1e9))
	run.Elapsed = end.Sub(pr.p.Start)
	run.Rate = n / run.Elapsed.Seconds()
	run.PublishRate = pr.p.PublishRate()
	if sim != nil {
		after, err := sim.Stats(ctx)
		if err != nil {
			return run, err
		}
		run.Calls = after.Calls() - before.Calls()
	}
	stopSampler()
	swg.Wait()
	// Steady state: the second half of the run.
	mid := pr.p.Start.Add(run.Elapsed / 2)
	for i := range ws {
		var v []float64
		for _, smp := range samples {
			if !smp.at.Before(mid) && !smp.at.After(end) && smp.kib[i] > 0 {
				v = append(v, float64(smp.kib[i]))
			}
		}
		if len(v) == 0 && len(samples) > 0 {
			v = append(v, float64(samples[len(samples)-1].kib[i]))
		}
		slices.Sort(v)
		run.RSSKiB = append(run.RSSKiB, median(v))
	}
	stopped = true
	if err := stopWorkers(ws); err != nil {
		return run, fmt.Errorf("workers did not stop cleanly: %w", err)
	}
	if o.latencies {
		lat, done, err := taskLatencies(ws, o.tag, pr.p.Sent)
		if err != nil {
			return run, err
		}
		run.Latencies = lat
		run.SteadyRate = steadyRate(done)
	}
	return run, nil
}

// steadyRate is the completion rate between the 10th and the 90th
// percentile of done (sorted): 80% of the tasks over the time they took.
func steadyRate(done []time.Time) float64 {
	if len(done) < 10 {
		return 0
	}
	lo, hi := len(done)/10, len(done)*9/10
	d := done[hi].Sub(done[lo]).Seconds()
	if d <= 0 {
		return 0
	}
	return float64(hi-lo) / d
}

// taskLatencies matches the workers' "task done" log lines (logged right
// after the ack that follows the commit) to the publish times through the
// correlation id. It returns the latencies and the completion times, each
// sorted.
func taskLatencies(ws []*Worker, tag string, sent []time.Time) ([]time.Duration, []time.Time, error) {
	var (
		out  []time.Duration
		done []time.Time
	)
	prefix := tag + "-"
	for _, w := range ws {
		f, err := os.Open(w.Log)
		if err != nil {
			return nil, nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 256<<10), 4<<20)
		for sc.Scan() {
			line := sc.Bytes()
			if !strings.Contains(string(line), `"task done"`) {
				continue
			}
			var rec struct {
				TS   time.Time `json:"ts"`
				Corr string    `json:"correlation_id"`
			}
			if json.Unmarshal(line, &rec) != nil {
				continue
			}
			i, err := strconv.Atoi(strings.TrimPrefix(rec.Corr, prefix))
			if err != nil || i < 0 || i >= len(sent) || !strings.HasPrefix(rec.Corr, prefix) {
				continue
			}
			out = append(out, rec.TS.Sub(sent[i]))
			done = append(done, rec.TS)
		}
		f.Close()
	}
	if len(out) < len(sent)*9/10 {
		return nil, nil, fmt.Errorf("latency: only %d of %d tasks found in the worker logs", len(out), len(sent))
	}
	slices.Sort(out)
	slices.SortFunc(done, time.Time.Compare)
	return out, done, nil
}
