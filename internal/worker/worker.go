// Package worker turns deliveries into enriched rows: it validates a task,
// runs the enrichment pipeline, writes the result, and settles the delivery
// (ack after commit, retry tier, or dead letter), so that every message ends
// in Postgres or in the DLQ with a reason.
package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/enrich"
	"github.com/djmeta/enrichment/internal/metrics"
	"github.com/djmeta/enrichment/internal/provider"
	"github.com/djmeta/enrichment/internal/ratelimit"
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

// Config configures a Worker.
type Config struct {
	// Topology gives the retry tiers.
	Topology broker.Topology
	// TaskTimeout bounds one enrichment. Default TaskTimeoutDefault.
	TaskTimeout time.Duration
	// PublishTimeout bounds a retry or dead-letter publish and its confirm.
	PublishTimeout time.Duration
	// MaxThrottled: see MaxThrottledDefault.
	MaxThrottled int
	// Save writes one result; nil means one transaction per task through
	// the store. The app passes a store.Batcher's Save.
	Save func(ctx context.Context, w store.Write) error
	// SaveOnlyWaits says that Save only waits for another goroutine (a
	// batcher) to commit: the task then gives its concurrency slot to the
	// next task while it waits. Leave it false when Save does the
	// database work itself, so that WORKER_CONCURRENCY bounds the writers.
	SaveOnlyWaits bool
	// Concurrency is how many tasks run at once (WORKER_CONCURRENCY,
	// default 16). Valid tasks beyond it wait to start (see admission).
	Concurrency int
	// Backlog, if set, returns how far away the fleet's next free request
	// slot is at the provider that is furthest behind; a task starts only
	// when it is at most TaskTimeout/4 (with the providers at their quota,
	// a started task then reaches its slots within TASK_TIMEOUT).
	Backlog func(ctx context.Context) time.Duration
	// MaxHold bounds how long a delivery waits to start: after it the
	// task is deferred (republished without spending an attempt) so that no
	// delivery is held near the broker's consumer timeout
	// (DELIVERY_MAX_HOLD, default MaxHoldDefault).
	MaxHold time.Duration
}

// MaxHoldDefault is the default DELIVERY_MAX_HOLD: a third of RabbitMQ's
// default 30-minute consumer timeout.
const MaxHoldDefault = 10 * time.Minute

// Worker processes deliveries. It is safe for concurrent use.
type Worker struct {
	cfg      Config
	pipeline enrich.Pipeline
	store    *store.Store
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
	if cfg.Save == nil {
		cfg.Save = func(ctx context.Context, w store.Write) error { return s.SaveBatch(ctx, []store.Write{w}) }
	}
	return &Worker{cfg: cfg, pipeline: p, store: s, metrics: m, log: log, now: time.Now,
		admit: newAdmission(cfg.Concurrency, cfg.TaskTimeout/4, cfg.MaxHold, cfg.Backlog)}, nil
}

// Handle processes one delivery and settles it. It implements broker.Handler.
func (w *Worker) Handle(ctx context.Context, d *broker.Delivery) {
	start := w.now()
	w.metrics.TasksReceived.Inc()
	w.metrics.Inflight.Inc()
	defer w.metrics.Inflight.Dec()
	outcome := w.process(ctx, d)
	w.metrics.Tasks.WithLabelValues(outcome).Inc()
	w.metrics.TaskDuration.Observe(w.now().Sub(start).Seconds())
}

func (w *Worker) process(ctx context.Context, d *broker.Delivery) string {
	start := w.now()
	prev := broker.HeaderInt(d.Headers, broker.HeaderAttempts)
	attempt := prev + 1
	log := w.log.With(zap.Int("attempt", attempt), zap.Bool("redelivered", d.Redelivered))

	t, err := task.Parse(d.Body, d.ContentType, d.Priority)
	if err != nil {
		log.Warn("invalid message, dead-lettering", zap.Error(err), zap.String("message_id", d.MessageId))
		w.deadLetter(ctx, d, broker.ReasonInvalid, err, attempt, log)
		return metrics.OutcomeInvalid
	}
	log = log.With(zap.String("track_id", t.TrackID), zap.String("correlation_id", t.CorrelationID))
	for _, warn := range t.Warnings {
		log.Warn("hint dropped", zap.String("warning", warn))
	}

	// The message is valid: let the consumer take the next delivery (an
	// invalid one is dead-lettered at once even while every slot waits
	// for quota) while this task waits to start.
	d.ReleaseSlot()
	release, started, err := w.waitToStart(ctx, d, t, start)
	if err != nil {
		if errors.Is(err, errHeld) {
			log.Info("held too long waiting to start; deferring without spending an attempt", zap.Duration("held", w.now().Sub(start)))
			w.deferTask(ctx, d, metrics.DeferredHold, err, 0, log)
			return metrics.OutcomeRetried
		}
		// Shutting down before it started: the delivery goes back to the
		// queue unsettled.
		log.Debug("not started before shutdown; left to the broker", zap.Error(err))
		return metrics.OutcomeRetried
	}
	defer release()
	defer started()

	tctx, cancel := context.WithTimeout(provider.WithStartHook(ctx, started), w.cfg.TaskTimeout)
	res, err := w.pipeline.Enrich(tctx, t)
	cancel()
	started()
	if err != nil {
		return w.fail(ctx, d, t, attempt, fmt.Errorf("enrich: %w", err), log)
	}

	// Waiting for a batch's commit needs no CPU: let the next task start
	// meanwhile, so that batches fill from the whole prefetch window.
	if w.cfg.SaveOnlyWaits {
		release()
	}
	wstart := w.now()
	err = w.cfg.Save(ctx, store.Write{Task: t, Result: res, Attempts: attempt})
	w.metrics.DBWriteDuration.Observe(w.now().Sub(wstart).Seconds())
	if err != nil {
		return w.fail(ctx, d, t, attempt, err, log)
	}
	w.metrics.LastTaskCompleted.Set(float64(w.now().UnixNano()) / 1e9)
	if err := d.Ack(false); err != nil {
		// The connection died after the commit: the broker redelivers and
		// the idempotent write makes the second run a no-op.
		log.Warn("ack after commit failed; the task will be redelivered", zap.Error(err))
	}
	log.Info("task done", zap.String("status", string(res.Status)), zap.Strings("sources", res.Sources),
		zap.Float64("confidence", res.Confidence))
	return string(res.Status)
}

// waitToStart waits in the admission line (see admission) until the task
// may start, the hold limit passes (errHeld), or the consumer stops.
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
	priority := t.Priority >= 8 || d.RoutingKey == broker.PriorityRoutingKey || d.RoutingKey == broker.PriorityQueue
	begin := w.now()
	release, started, err = w.admit.acquire(wctx, priority, received)
	w.metrics.AdmissionWait.Observe(w.now().Sub(begin).Seconds())
	return release, started, err
}

// deferTask parks a task in a retry tier without spending an attempt, for
// a reason that is not the task's (metrics.DeferredQuota or
// DeferredHold): the first tier at least after long, or the last.
func (w *Worker) deferTask(ctx context.Context, d *broker.Delivery, reason string, cause error, after time.Duration, log *zap.Logger) {
	tiers := w.cfg.Topology.Tiers
	tier := tiers[len(tiers)-1]
	for _, tr := range tiers {
		if time.Duration(tr.TTLms)*time.Millisecond >= after {
			tier = tr
			break
		}
	}
	hdr := w.carryHeaders(d, broker.HeaderInt(d.Headers, broker.HeaderAttempts), cause)
	hdr[headerDeferred] = int64(broker.HeaderInt(d.Headers, headerDeferred) + 1)
	if !w.publishThenAck(ctx, d, "", tier.Queue, hdr, log) {
		return
	}
	w.metrics.Deferred.WithLabelValues(reason).Inc()
	w.metrics.Retries.WithLabelValues(tier.Name).Inc()
}

// fail routes a failed valid task: DLQ now for permanent errors, otherwise
// the next retry tier, or the DLQ when the tiers are spent.
func (w *Worker) fail(ctx context.Context, d *broker.Delivery, t task.Task, attempt int, cause error, log *zap.Logger) string {
	if enrich.IsPermanent(cause) {
		log.Warn("permanent error, dead-lettering", zap.Error(cause))
		w.markFailed(ctx, t, attempt, cause, log)
		w.deadLetter(ctx, d, broker.ReasonPermanent, cause, attempt, log)
		return metrics.OutcomeFailed
	}
	if enrich.IsDeferred(cause) {
		// Waiting for quota is not a failure: no attempt is spent, however
		// often it happens. The task comes back once the wait it could not
		// afford has shrunk by what a fresh TASK_TIMEOUT can wait.
		var after time.Duration
		var we *ratelimit.WaitError
		if errors.As(cause, &we) {
			after = we.Wait - we.MaxWait
		}
		log.Info("could not wait for quota; deferring without spending an attempt", zap.Error(cause))
		w.deferTask(ctx, d, metrics.DeferredQuota, cause, after, log)
		return metrics.OutcomeRetried
	}
	tiers := w.cfg.Topology.Tiers
	if after, ok := enrich.RetryAfterOf(cause); ok && broker.HeaderInt(d.Headers, headerThrottled) < w.cfg.MaxThrottled {
		// Throttling does not spend an attempt: park it in the first tier at
		// least as long as the provider asked for.
		tier := tiers[len(tiers)-1]
		for _, tr := range tiers {
			if time.Duration(tr.TTLms)*time.Millisecond >= after {
				tier = tr
				break
			}
		}
		log.Info("throttled, retrying without spending an attempt", zap.Error(cause), zap.String("tier", tier.Name))
		w.retry(ctx, d, tier, attempt-1, true, cause, log)
		return metrics.OutcomeRetried
	}
	if attempt > len(tiers) {
		log.Error("retries exhausted, dead-lettering", zap.Error(cause))
		w.markFailed(ctx, t, attempt, cause, log)
		w.deadLetter(ctx, d, broker.ReasonExhausted, cause, attempt, log)
		return metrics.OutcomeFailed
	}
	tier := tiers[attempt-1]
	log.Warn("task failed, retrying", zap.Error(cause), zap.String("tier", tier.Name))
	w.retry(ctx, d, tier, attempt, false, cause, log)
	return metrics.OutcomeRetried
}

// markFailed records a failed status row; it is best effort, since the
// failure may be the database itself. The DLQ keeps the task either way.
func (w *Worker) markFailed(ctx context.Context, t task.Task, attempt int, cause error, log *zap.Logger) {
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := w.store.SaveBatch(wctx, []store.Write{{
		Task:      t,
		Result:    enrich.Result{Status: enrich.StatusFailed},
		Attempts:  attempt,
		LastError: clip(cause.Error()),
	}})
	if err != nil {
		log.Warn("could not record failed status", zap.Error(err))
	}
}

// retry republishes the body unchanged to a retry tier with a confirm, then
// acks the original.
func (w *Worker) retry(ctx context.Context, d *broker.Delivery, tier broker.Tier, attempts int, throttled bool, cause error, log *zap.Logger) {
	hdr := w.carryHeaders(d, attempts, cause)
	if throttled {
		hdr[headerThrottled] = int64(broker.HeaderInt(d.Headers, headerThrottled) + 1)
	}
	// Through the default exchange straight into the tier's queue; when its
	// TTL expires the queue dead-letters it back to the work exchange.
	if !w.publishThenAck(ctx, d, "", tier.Queue, hdr, log) {
		return
	}
	w.metrics.Retries.WithLabelValues(tier.Name).Inc()
}

// deadLetter publishes the body unchanged to the DLX with reason headers and
// a confirm, then acks the original.
func (w *Worker) deadLetter(ctx context.Context, d *broker.Delivery, reason string, cause error, attempts int, log *zap.Logger) {
	hdr := w.carryHeaders(d, attempts, cause)
	hdr[broker.HeaderReason] = reason
	if !w.publishThenAck(ctx, d, broker.DeadLetterExch, "", hdr, log) {
		return
	}
	w.metrics.DeadLettered.WithLabelValues(reason).Inc()
}

func (w *Worker) publishThenAck(ctx context.Context, d *broker.Delivery, exchange, key string, hdr amqp.Table, log *zap.Logger) bool {
	pctx, cancel := context.WithTimeout(ctx, w.cfg.PublishTimeout)
	defer cancel()
	msg := amqp.Publishing{
		Headers:         hdr,
		ContentType:     d.ContentType,
		ContentEncoding: d.ContentEncoding,
		DeliveryMode:    amqp.Persistent,
		Priority:        d.Priority,
		CorrelationId:   d.CorrelationId,
		MessageId:       d.MessageId,
		Timestamp:       d.Timestamp,
		Type:            d.Type,
		AppId:           d.AppId,
		Body:            d.Body,
	}
	if err := d.Session.Publish(pctx, exchange, key, msg); err != nil {
		// Not settled: a reject with requeue counts toward the queue's
		// delivery limit, after which the broker dead-letters it itself.
		log.Error("could not publish; requeueing the delivery", zap.Error(err),
			zap.String("exchange", exchange), zap.String("routing_key", key))
		if rerr := d.Reject(true); rerr != nil {
			log.Warn("reject failed; the broker will redeliver", zap.Error(rerr))
		}
		return false
	}
	if err := d.Ack(false); err != nil {
		log.Warn("ack after republish failed; a duplicate may follow", zap.Error(err))
	}
	return true
}

// carryHeaders copies the producer's headers, drops the broker's
// dead-letter history (it describes broker events, not our attempts), and
// sets our attempt, error and first-failure headers.
func (w *Worker) carryHeaders(d *broker.Delivery, attempts int, cause error) amqp.Table {
	hdr := amqp.Table{}
	for k, v := range d.Headers {
		if k == "x-death" || strings.HasPrefix(k, "x-first-death-") || strings.HasPrefix(k, "x-last-death-") ||
			k == "x-delivery-count" || k == "x-enrichment-publish-id" {
			continue
		}
		hdr[k] = v
	}
	hdr[broker.HeaderAttempts] = int64(attempts)
	hdr[broker.HeaderError] = clip(cause.Error())
	if _, ok := hdr[broker.HeaderFirstFailure].(string); !ok {
		hdr[broker.HeaderFirstFailure] = w.now().UTC().Format(time.RFC3339)
	}
	return hdr
}

func clip(s string) string {
	if len(s) <= maxErrorHeaderLen {
		return s
	}
	return s[:maxErrorHeaderLen] + "…"
}
