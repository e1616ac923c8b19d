package worker

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/metrics"
)

// Outage probing.
const (
	// ProbeIntervalDefault is how often a paused worker asks whether the
	// dependency that paused it is back (OUTAGE_PROBE_INTERVAL).
	ProbeIntervalDefault = time.Second
	// probeIntervalMax caps the interval when outages flap.
	probeIntervalMax = 30 * time.Second
	// flapWindow: an outage reported this soon after a resume doubles the
	// probe interval (a dependency that answers the probe but fails the
	// work); one reported later starts again from the base interval.
	flapWindow = 30 * time.Second
)

// outageWatch pauses consumption when a dependency every task needs is
// down, probes it while the worker is paused, and resumes consumption when
// every dependency it knows to be down answers again. Tasks that meet the
// outage return to the queue without spending an attempt; nothing is
// dead-lettered for it.
type outageWatch struct {
	gate     *broker.Gate
	probes   map[string]func(ctx context.Context) error
	interval time.Duration
	metrics  *metrics.Worker
	log      *zap.Logger
	now      func() time.Time

	mu         sync.Mutex
	down       map[string]error
	lastResume time.Time // of the last resume after a real outage
	checked    bool      // the start-up check has passed
	flaps      int
	kick       chan struct{} // one wake-up for run
}

func newOutageWatch(gate *broker.Gate, probes map[string]func(ctx context.Context) error, interval time.Duration,
	m *metrics.Worker, log *zap.Logger) *outageWatch {
	if interval <= 0 {
		interval = ProbeIntervalDefault
	}
	return &outageWatch{gate: gate, probes: probes, interval: interval, metrics: m, log: log, now: time.Now,
		down: map[string]error{}, kick: make(chan struct{}, 1)}
}

// report marks a dependency down and pauses consumption (Config.Outage).
func (o *outageWatch) report(dependency string, err error) {
	o.mu.Lock()
	_, known := o.down[dependency]
	if !known {
		o.down[dependency] = err
		o.metrics.Paused.WithLabelValues(dependency).Set(1)
		if !o.lastResume.IsZero() && o.now().Sub(o.lastResume) < flapWindow {
			o.flaps++
		} else {
			o.flaps = 0
		}
	}
	paused := o.gate.Pause(fmt.Errorf("%s unavailable: %w", dependency, err))
	o.mu.Unlock()
	if paused {
		o.log.Warn("pausing consumption: a dependency is unavailable; tasks return to the queue without spending attempts",
			zap.String("dependency", dependency), zap.Error(err))
	}
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// run probes the dependencies known to be down until ctx ends.
func (o *outageWatch) run(ctx context.Context) error {
	for {
		o.mu.Lock()
		down := make([]string, 0, len(o.down))
		for dep := range o.down {
			down = append(down, dep)
		}
		wait := min(o.interval<<min(o.flaps, 5), probeIntervalMax)
		o.mu.Unlock()
		if len(down) == 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-o.kick:
				continue
			}
		}
		sort.Strings(down)
		for _, dep := range down {
			pctx, cancel := context.WithTimeout(ctx, min(max(o.interval, 2*time.Second), 10*time.Second))
			var err error
			if probe := o.probes[dep]; probe != nil {
				err = probe(pctx)
			}
			cancel()
			o.mu.Lock()
			if err == nil {
				delete(o.down, dep)
				o.metrics.Paused.WithLabelValues(dep).Set(0)
				o.log.Info("dependency answers again", zap.String("dependency", dep))
			} else {
				o.down[dep] = err
			}
			o.mu.Unlock()
		}
		o.mu.Lock()
		if len(o.down) == 0 {
			if o.checked {
				o.lastResume = o.now()
			}
			o.checked = true
			resumed := o.gate.Resume() // under mu: a report now pauses after it
			o.mu.Unlock()
			if resumed {
				o.log.Info("resuming consumption")
			}
			continue
		}
		o.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}
