// Package worker turns deliveries into enriched rows: it validates a task,
// runs the enrichment pipeline, writes the result, and settles the delivery
// (ack after commit, retry tier, dead letter, or, for our own outages, a
// return to the queue), so that every message ends in Postgres or in the
// DLQ with a reason.
package worker

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"go.uber.org/zap"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/enrich"
	"github.com/djmeta/enrichment/internal/metrics"
	"github.com/djmeta/enrichment/internal/provider"
	"github.com/djmeta/enrichment/internal/store"
	"github.com/djmeta/enrichment/internal/task"
)

// Defaults.
const (
	TaskTimeoutDefault    = 60 * time.Second
	PublishTimeoutDefault = 15 * time.Second
	// MaxThrottledDefault is how many throttled (429/503) retries a task may
	// take without spending an attempt before throttling counts as failure.
	MaxThrottledDefault = 30
	maxErrorHeaderLen   = 1024
	headerThrottled     = "x-enrichment-throttled"
	// headerDeferred counts a task's deferrals for quota or hold (they
	// spend no attempt and have no cap).
	headerDeferred = "x-enrichment-deferred"
)

// MaxHoldDefault is the default DELIVERY_MAX_HOLD: a third of RabbitMQ's
// default 30-minute consumer timeout.
const MaxHoldDefault = 10 * time.Minute

// Config configures a Worker.
type Config struct {
	// Topology gives the retry tiers.
	Topology broker.Topology
	// TaskTimeout bounds one task, from the start of its enrichment to its
	// commit. Default TaskTimeoutDefault.
	TaskTimeout time.Duration
	// PublishTimeout bounds a retry or dead-letter publish and its confirm,
	// and the failed-status write before a dead letter.
	PublishTimeout time.Duration
	// MaxThrottled: see MaxThrottledDefault.
	MaxThrottled int
	// Batcher, if set, commits results in shared transactions (the batched
	// form of settling); nil commits each task on its own.
	Batcher *store.Batcher
	// Outage, if set, is told when a dependency every task needs is down
	// (DependencyPostgres, DependencyBroker); the app pauses consumption.
	Outage func(dependency string, err error)
	// Concurrency is how many tasks run at once (WORKER_CONCURRENCY,
	// default 16). Valid tasks beyond it wait to start (see admission).
	Concurrency int
	// Backlog, if set, returns the sum over the providers of how far away
	// the fleet's next free request slot is at each; a task starts only
	// when it is at most TaskTimeout/4 (with the providers at their quota,
	// a started task then reaches its slots within TASK_TIMEOUT).
	Backlog func(ctx context.Context) time.Duration
	// MaxHold bounds how long a delivery waits to start: after it the
	// task is deferred (republished without spending an attempt) so that no
	// delivery is held near the broker's consumer timeout
	// (DELIVERY_MAX_HOLD, default MaxHoldDefault).
	MaxHold time.Duration
}

// Worker processes deliveries. It is safe for concurrent use.
type Worker struct {
	cfg      Config
	pipeline enrich.Pipeline
	settle   *settler
	metrics  *metrics.Worker
	log      *zap.Logger
	now      func() time.Time
	admit    *admission
}

// New returns a Worker.
func New(cfg Config, p enrich.Pipeline, s *store.Store, m *metrics.Worker, log *zap.Logger) (*Worker, error) {
	if cfg.TaskTimeout <= 0 {
		cfg.TaskTimeout = TaskTimeoutDefault
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = PublishTimeoutDefault
	}
	if cfg.MaxThrottled <= 0 {
		cfg.MaxThrottled = MaxThrottledDefault
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 16
	}
	if cfg.MaxHold <= 0 {
		cfg.MaxHold = MaxHoldDefault
	}
	switch {
	case p == nil:
		return nil, errors.New("worker: nil pipeline")
	case s == nil:
		return nil, errors.New("worker: nil store")
	case m == nil:
		return nil, errors.New("worker: nil metrics")
	case len(cfg.Topology.Tiers) == 0:
		return nil, errors.New("worker: no retry tiers")
	}
	if log == nil {
		log = zap.NewNop()
	}
	for _, tier := range cfg.Topology.Tiers {
		m.Retries.WithLabelValues(tier.Name) // export every tier from the start
	}
	return &Worker{cfg: cfg, pipeline: p, settle: newSettler(cfg, s, m), metrics: m, log: log, now: time.Now,
		admit: newAdmission(cfg.Concurrency, cfg.TaskTimeout/4, cfg.MaxHold, cfg.Backlog)}, nil
}

// Handle processes one delivery and settles it. It implements broker.Handler.
func (w *Worker) Handle(ctx context.Context, d *broker.Delivery) {
	start := w.now()
	w.metrics.TasksReceived.Inc()
	w.metrics.Inflight.Inc()
	defer w.metrics.Inflight.Dec()
	outcome := w.process(ctx, d)
	if outcome == metrics.OutcomeReturned {
		return // not settled: it comes back
	}
	w.metrics.Tasks.WithLabelValues(outcome).Inc()
	w.metrics.TaskDuration.Observe(w.now().Sub(start).Seconds())
}

// process handles one delivery. A panic is recovered here: logged with the
// track id, and the delivery dead-lettered as invalid_message if the panic
// came from reading the message, or retried (spending an attempt, so a
// panic that repeats ends in the DLQ) if it came from our processing.
func (w *Worker) process(ctx context.Context, d *broker.Delivery) (outcome string) {
	received := w.now()
	prev, present, ok := broker.HeaderCount(d.Headers, broker.HeaderAttempts)
	attempt := prev + 1
	log := w.log.With(zap.Int("attempt", attempt), zap.Bool("redelivered", d.Redelivered))
	if present && !ok {
		log.Warn("invalid attempts header, read as absent", zap.Any("value", d.Headers[broker.HeaderAttempts]),
			zap.String("message_id", d.MessageId))
	}
	var t task.Task
	parsed := false
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		w.metrics.Panics.Inc()
		log.Error("panic while handling a delivery", zap.Any("panic", r),
			zap.ByteString("stack", debug.Stack()), zap.Bool("settled", d.Settled()))
		switch {
		case d.Settled():
			outcome = metrics.OutcomeFailed
		case !parsed:
			outcome = w.settle.invalid(ctx, d, fmt.Errorf("invalid message: reading it panicked: %v", r), attempt, log)
		default:
			outcome = w.settle.fail(ctx, d, t, attempt, fmt.Errorf("panic: %v", r), log)
		}
	}()

	t, err := task.Parse(d.Body, d.ContentType, d.Priority)
	if err != nil {
		log.Warn("invalid message, dead-lettering", zap.Error(err), zap.String("message_id", d.MessageId))
		return w.settle.invalid(ctx, d, err, attempt, log)
	}
	parsed = true
	log = log.With(zap.String("track_id", t.TrackID), zap.String("correlation_id", t.CorrelationID))
	for _, warn := range t.Warnings {
		log.Warn("hint dropped", zap.String("warning", warn))
	}
	for _, field := range t.Cleaned {
		w.metrics.TextCleaned.WithLabelValues(field).Inc()
	}

	// The message is valid: let the consumer take the next delivery (an
	// invalid one is dead-lettered at once even while every slot waits
	// for quota) while this task waits to start.
	d.ReleaseSlot()
	release, started, err := w.waitToStart(ctx, d, t, received)
	if err != nil {
		if errors.Is(err, errHeld) {
			log.Info("held too long waiting to start; deferring without spending an attempt", zap.Duration("held", w.now().Sub(received)))
			return w.settle.deferTask(ctx, d, metrics.DeferredHold, err, 0, log)
		}
		log.Debug("stopping before the task started; returning it", zap.Error(err))
		w.settle.giveBack(d, log)
		return metrics.OutcomeReturned
	}
	defer release()
	defer started()

	// TASK_TIMEOUT covers the whole task from its start: enrichment and
	// commit.
	tctx, cancel := context.WithTimeout(provider.WithStartHook(ctx, started), w.cfg.TaskTimeout)
	defer cancel()
	res, err := w.pipeline.Enrich(tctx, t)
	started()
	if err != nil {
		return w.settle.fail(ctx, d, t, attempt, fmt.Errorf("enrich: %w", err), log)
	}
	if err := w.settle.complete(tctx, d, store.Write{Task: t, Result: res, Attempts: attempt}, release); err != nil {
		if errors.Is(err, errAcked) {
			log.Warn("task committed", zap.Error(err))
			return string(res.Status)
		}
		return w.settle.fail(ctx, d, t, attempt, err, log)
	}
	for _, r := range res.Reviews {
		w.metrics.CloseCalls.WithLabelValues(r.Provider, r.Reason).Inc()
	}
	log.Info("task done", zap.String("status", string(res.Status)), zap.Strings("sources", res.Sources),
		zap.Float64("confidence", res.Confidence))
	return string(res.Status)
}

// waitToStart waits in the admission line (see admission) until the task
// may start, the hold limit passes (errHeld), or the consumer stops taking
// deliveries (a shutdown, a pause).
func (w *Worker) waitToStart(ctx context.Context, d *broker.Delivery, t task.Task, received time.Time) (release, started func(), err error) {
	w.metrics.AdmissionWaiting.Inc()
	defer w.metrics.AdmissionWaiting.Dec()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if stop := d.Stopping(); stop != nil {
		go func() { // ends with wctx at the latest
			select {
			case <-stop:
				cancel()
			case <-wctx.Done():
			}
		}()
	}
	priority := t.Priority >= 8 || d.Queue == broker.PriorityQueue
	begin := w.now()
	release, started, err = w.admit.acquire(wctx, priority, received)
	w.metrics.AdmissionWait.Observe(w.now().Sub(begin).Seconds())
	return release, started, err
}
