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
	"github.com/djmeta/enrichment/internal/ratelimit"
	"github.com/djmeta/enrichment/internal/store"
	"github.com/djmeta/enrichment/internal/task"
)

// Dependencies an outage is reported for (the label of enrichment_paused).
const (
	DependencyPostgres = "postgres"
	DependencyBroker   = "broker"
)

// settler settles deliveries: commit then ack; a retry tier; the DLQ; the
// failed status row; or, for our own outages and for a stopping worker,
// the return of the delivery unprocessed. It is the one place that decides
// what a failure costs the task (classify). It has two forms: inline (each
// task commits its own transaction) and batched (tasks wait for a
// store.Batcher's shared commit, giving their concurrency slot away while
// they wait).
type settler struct {
	topo           broker.Topology
	publishTimeout time.Duration
	maxThrottled   int
	save           func(ctx context.Context, w store.Write) error
	batched        bool
	outage         func(dependency string, err error)
	metrics        *metrics.Worker
	now            func() time.Time
}

func newSettler(cfg Config, s *store.Store, m *metrics.Worker) *settler {
	st := &settler{
		topo:           cfg.Topology,
		publishTimeout: cfg.PublishTimeout,
		maxThrottled:   cfg.MaxThrottled,
		outage:         cfg.Outage,
		metrics:        m,
		now:            time.Now,
	}
	if cfg.Batcher != nil {
		st.save, st.batched = cfg.Batcher.Save, true
	} else {
		st.save = func(ctx context.Context, w store.Write) error { return s.SaveBatch(ctx, []store.Write{w}) }
	}
	if st.outage == nil {
		st.outage = func(string, error) {}
	}
	return st
}

// disposition is what a failure does to its task.
type disposition int

const (
	// retryNext spends an attempt: the next retry tier, or the DLQ
	// (retries_exhausted) when the tiers are spent.
	retryNext disposition = iota
	// deadLetterNow: the DLQ at once (permanent_error); no retry can help.
	deadLetterNow
	// throttled: a retry tier at least as long as the provider asked for,
	// without spending an attempt (at most MaxThrottled times).
	throttled
	// outage: our own infrastructure is down (Postgres, the broker's
	// publish side). The worker pauses, and the delivery returns to its
	// queue unacknowledged, with no attempt spent and no dead letter.
	outage
	// stopping: the worker is stopping and cancelled the task; the delivery
	// returns to its queue unprocessed.
	stopping
	// deferred: the task could not wait for a provider's quota within its
	// time. Waiting for quota is not a failure: a retry tier, without
	// spending an attempt and without a cap.
	deferred
)

// classify decides what a failure of a valid task costs it; it is the one
// place to add a kind of failure (a case here, a disposition above, its
// branch in fail). ctx is the handler's context (cancelled only when a
// stopping worker gives up waiting).
func classify(ctx context.Context, err error) (disposition, time.Duration) {
	var pe *publishError
	switch {
	case ctx.Err() != nil:
		return stopping, 0
	case store.Unavailable(err), errors.As(err, &pe):
		return outage, 0
	case enrich.IsPermanent(err), store.BadData(err):
		return deadLetterNow, 0
	case enrich.IsDeferred(err):
		// Back once the wait it could not afford has shrunk by what a
		// fresh TASK_TIMEOUT can wait.
		var we *ratelimit.WaitError
		if errors.As(err, &we) {
			return deferred, we.Wait - we.MaxWait
		}
		return deferred, 0
	}
	if after, ok := enrich.RetryAfterOf(err); ok {
		return throttled, after
	}
	return retryNext, 0
}

// dependencyOf names the dependency an outage error is about.
func dependencyOf(err error) string {
	var pe *publishError
	if errors.As(err, &pe) {
		return DependencyBroker
	}
	return DependencyPostgres
}

// publishError is a retry or dead-letter publish the broker did not
// confirm: an outage of its publish side (a connection lost, a resource
// alarm blocking publishers, a queue of the topology missing).
type publishError struct{ err error }

func (e *publishError) Error() string { return "publish: " + e.err.Error() }
func (e *publishError) Unwrap() error { return e.err }

// complete writes a task's result and acks it after the commit. The
// batched form gives the task's slot (release) to the next task while it
// waits for its batch.
func (s *settler) complete(ctx context.Context, d *broker.Delivery, w store.Write, release func()) error {
	if s.batched {
		release()
	}
	start := s.now()
	err := s.save(ctx, w)
	s.metrics.DBWriteDuration.Observe(s.now().Sub(start).Seconds())
	if err != nil {
		return err
	}
	s.metrics.LastTaskCompleted.Set(float64(s.now().UnixNano()) / 1e9)
	if err := d.Ack(false); err != nil {
		// The connection died after the commit: the broker redelivers and
		// the idempotent write makes the second run a no-op.
		return fmt.Errorf("%w: ack after commit failed; the task will be redelivered: %w", errAcked, err)
	}
	return nil
}

// errAcked marks an error that happened after the delivery was settled.
var errAcked = errors.New("settled")

// fail routes a failed valid task (see classify) and returns the outcome
// label of enrichment_tasks_total.
func (s *settler) fail(ctx context.Context, d *broker.Delivery, t task.Task, attempt int, cause error, log *zap.Logger) string {
	disp, after := classify(ctx, cause)
	tiers := s.topo.Tiers
	switch disp {
	case stopping:
		log.Info("stopping: returning the task unprocessed", zap.Error(cause))
		s.giveBack(d, log)
		return metrics.OutcomeReturned
	case outage:
		dep := dependencyOf(cause)
		log.Warn("dependency unavailable: pausing, returning the task without spending an attempt",
			zap.String("dependency", dep), zap.Error(cause))
		s.outage(dep, cause)
		s.giveBack(d, log)
		return metrics.OutcomeReturned
	case deadLetterNow:
		log.Warn("permanent error, dead-lettering", zap.Error(cause))
		return s.deadLetterFailed(ctx, d, t, broker.ReasonPermanent, attempt, cause, log)
	case deferred:
		log.Info("could not wait for quota; deferring without spending an attempt", zap.Error(cause))
		return s.deferTask(ctx, d, metrics.DeferredQuota, cause, after, log)
	case throttled:
		n, present, ok := broker.HeaderCount(d.Headers, headerThrottled)
		if present && !ok {
			log.Warn("invalid throttled-retries header, read as absent", zap.Any("value", d.Headers[headerThrottled]))
		}
		if n < s.maxThrottled {
			// Park it in the first tier at least as long as the provider
			// asked for.
			tier := tiers[len(tiers)-1]
			for _, tr := range tiers {
				if time.Duration(tr.TTLms)*time.Millisecond >= after {
					tier = tr
					break
				}
			}
			log.Info("throttled, retrying without spending an attempt", zap.Error(cause), zap.String("tier", tier.Name))
			hdr := s.carryHeaders(d, attempt-1, cause)
			hdr[headerThrottled] = int64(n + 1)
			return s.retry(ctx, d, tier, hdr, log)
		}
	}
	if attempt > len(tiers) {
		log.Error("retries exhausted, dead-lettering", zap.Error(cause))
		return s.deadLetterFailed(ctx, d, t, broker.ReasonExhausted, attempt, cause, log)
	}
	tier := tiers[attempt-1] // 1 <= attempt <= len(tiers)
	log.Warn("task failed, retrying", zap.Error(cause), zap.String("tier", tier.Name))
	return s.retry(ctx, d, tier, s.carryHeaders(d, attempt, cause), log)
}

// deferTask parks a task in a retry tier without spending an attempt, for
// a reason that is not the task's (metrics.DeferredQuota or DeferredHold):
// the first tier at least after long, or the last. Deferrals have no cap;
// x-enrichment-deferred counts them.
func (s *settler) deferTask(ctx context.Context, d *broker.Delivery, reason string, cause error, after time.Duration, log *zap.Logger) string {
	tiers := s.topo.Tiers
	tier := tiers[len(tiers)-1]
	for _, tr := range tiers {
		if time.Duration(tr.TTLms)*time.Millisecond >= after {
			tier = tr
			break
		}
	}
	prev, _, _ := broker.HeaderCount(d.Headers, broker.HeaderAttempts)
	n, _, _ := broker.HeaderCount(d.Headers, headerDeferred)
	hdr := s.carryHeaders(d, prev, cause)
	hdr[headerDeferred] = int64(n + 1)
	out := s.retry(ctx, d, tier, hdr, log)
	if out == metrics.OutcomeRetried {
		s.metrics.Deferred.WithLabelValues(reason).Inc()
	}
	return out
}

// deadLetterFailed records the failed status row, then dead-letters. If
// the row cannot be written because Postgres is down, the task is not
// dead-lettered: it returns to its queue like any task of an outage.
func (s *settler) deadLetterFailed(ctx context.Context, d *broker.Delivery, t task.Task, reason string, attempt int,
	cause error, log *zap.Logger) string {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.publishTimeout)
	err := s.save(wctx, store.Write{Task: t, Result: enrich.Result{Status: enrich.StatusFailed},
		Attempts: attempt, LastError: clip(cause.Error())})
	cancel()
	if err != nil {
		if disp, _ := classify(ctx, err); disp == outage || disp == stopping {
			if disp == outage {
				log.Warn("could not record the failed status: pausing, returning the task", zap.Error(err))
				s.outage(DependencyPostgres, err)
			}
			s.giveBack(d, log)
			return metrics.OutcomeReturned
		}
		log.Warn("could not record the failed status; dead-lettering anyway", zap.Error(err))
	}
	return s.deadLetter(ctx, d, reason, cause, attempt, log)
}

// invalid dead-letters a message that breaks the contract.
func (s *settler) invalid(ctx context.Context, d *broker.Delivery, cause error, attempt int, log *zap.Logger) string {
	if out := s.deadLetter(ctx, d, broker.ReasonInvalid, cause, attempt, log); out != metrics.OutcomeFailed {
		return out
	}
	return metrics.OutcomeInvalid
}

// retry republishes the body unchanged to a retry tier with a confirm, then
// acks the original.
func (s *settler) retry(ctx context.Context, d *broker.Delivery, tier broker.Tier, hdr amqp.Table, log *zap.Logger) string {
	// Through the default exchange straight into the tier's queue; when its
	// TTL expires the queue dead-letters it back to the work exchange.
	if !s.publishThenAck(ctx, d, "", tier.Queue, hdr, log) {
		return metrics.OutcomeReturned
	}
	s.metrics.Retries.WithLabelValues(tier.Name).Inc()
	return metrics.OutcomeRetried
}

// deadLetter publishes the body unchanged to the DLX with reason headers
// and a confirm, then acks the original.
func (s *settler) deadLetter(ctx context.Context, d *broker.Delivery, reason string, cause error, attempts int, log *zap.Logger) string {
	hdr := s.carryHeaders(d, attempts, cause)
	hdr[broker.HeaderReason] = reason
	if !s.publishThenAck(ctx, d, broker.DeadLetterExch, "", hdr, log) {
		return metrics.OutcomeReturned
	}
	s.metrics.DeadLettered.WithLabelValues(reason).Inc()
	return metrics.OutcomeFailed
}

// publishThenAck publishes and acks; if the broker does not confirm the
// publish, that is an outage of its publish side: the worker pauses and
// the delivery returns to its queue.
func (s *settler) publishThenAck(ctx context.Context, d *broker.Delivery, exchange, key string, hdr amqp.Table, log *zap.Logger) bool {
	pctx, cancel := context.WithTimeout(ctx, s.publishTimeout)
	defer cancel()
	msg := broker.PublishingOf(d.Delivery)
	msg.Headers = hdr
	if err := d.Session.Publish(pctx, exchange, key, msg); err != nil {
		perr := &publishError{err: fmt.Errorf("to %q/%q: %w", exchange, key, err)}
		log.Warn("broker did not confirm a publish: pausing, returning the task without spending an attempt", zap.Error(perr))
		s.outage(DependencyBroker, perr)
		s.giveBack(d, log)
		return false
	}
	if err := d.Ack(false); err != nil {
		log.Warn("ack after republish failed; a duplicate may follow", zap.Error(err))
	}
	return true
}

// giveBack returns the delivery to its queue unprocessed.
func (s *settler) giveBack(d *broker.Delivery, log *zap.Logger) {
	if err := d.Return(); err != nil {
		log.Debug("return failed; the broker redelivers it when the channel closes", zap.Error(err))
	}
}

// carryHeaders copies the producer's headers, drops the broker's
// dead-letter history (it describes broker events, not our attempts), and
// sets our attempt, error and first-failure headers.
func (s *settler) carryHeaders(d *broker.Delivery, attempts int, cause error) amqp.Table {
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
	if ff, ok := hdr[broker.HeaderFirstFailure].(string); !ok || !validTime(ff) {
		hdr[broker.HeaderFirstFailure] = s.now().UTC().Format(time.RFC3339)
	}
	return hdr
}

func validTime(s string) bool {
	_, err := time.Parse(time.RFC3339, s)
	return err == nil
}

func clip(s string) string {
	if len(s) <= maxErrorHeaderLen {
		return s
	}
	return strings.ToValidUTF8(s[:maxErrorHeaderLen], "") + "…"
}
