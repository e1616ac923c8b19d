// Package metrics defines the worker's Prometheus metrics (prefix
// enrichment_, base units, no per-track labels) and serves them together with
// the health endpoints. Every metric defined here is updated by the code;
// docs/metrics.md lists them.
package metrics

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Outcome label values of enrichment_tasks_total.
const (
	OutcomeCompleted = "completed"
	OutcomePartial   = "partial"
	OutcomeNotFound  = "not_found"
	OutcomeFailed    = "failed"
	OutcomeRetried   = "retried"
	OutcomeInvalid   = "invalid"
	// OutcomeReturned is not a label value: a task returned to its queue
	// unprocessed (our outage, a stopping worker) is not settled, and is
	// counted in enrichment_deliveries_returned_total instead.
	OutcomeReturned = "returned"
)

// Worker holds the worker's metrics.
type Worker struct {
	Registry *prometheus.Registry

	TasksReceived     prometheus.Counter
	Tasks             *prometheus.CounterVec
	TaskDuration      prometheus.Histogram
	Retries           *prometheus.CounterVec
	DeadLettered      *prometheus.CounterVec
	Inflight          prometheus.Gauge
	AMQPReconnects    prometheus.Counter
	AMQPConnected     prometheus.Gauge
	Ready             prometheus.Gauge
	RedisUp           prometheus.Gauge
	DBWriteDuration   prometheus.Histogram
	LastTaskCompleted prometheus.Gauge
	// Deferred counts tasks parked without spending an attempt because
	// they could not wait for quota (reason "quota") or had been held
	// longer than DELIVERY_MAX_HOLD (reason "hold").
	Deferred *prometheus.CounterVec
	// AdmissionWaiting is the valid tasks waiting to start: for a
	// concurrency slot, or for the providers' quota backlog to shrink.
	AdmissionWaiting prometheus.Gauge
	// AdmissionWait observes how long a task waited to start.
	AdmissionWait prometheus.Histogram
	Paused        *prometheus.GaugeVec
	Returned      prometheus.Counter
	Panics        prometheus.Counter
	TextCleaned   *prometheus.CounterVec
	// CloseCalls counts the close calls tasks ended with, and ReviewsOpen
	// the open ones in the database (docs/curation.md).
	CloseCalls  *prometheus.CounterVec
	ReviewsOpen *prometheus.GaugeVec
}

// Deferral reasons (enrichment_tasks_deferred_total).
const (
	DeferredQuota = "quota"
	DeferredHold  = "hold"
)

// NewWorker creates and registers the worker metrics on a new registry,
// together with the Go and process collectors.
func NewWorker(version string) *Worker {
	reg := prometheus.NewRegistry()
	m := &Worker{
		Registry: reg,
		TasksReceived: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "enrichment_tasks_received_total",
			Help: "Deliveries taken from the work queue.",
		}),
		Tasks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "enrichment_tasks_total",
			Help: "Tasks settled, by outcome (completed, partial, not_found, failed, retried, invalid).",
		}, []string{"outcome"}),
		TaskDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "enrichment_task_duration_seconds",
			Help:    "Time from delivery to settlement of a task.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}),
		Retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "enrichment_retries_total",
			Help: "Tasks republished to a retry tier, by tier (as written in RETRY_DELAYS).",
		}, []string{"tier"}),
		DeadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "enrichment_dead_lettered_total",
			Help: "Tasks published to the dead-letter exchange by the worker, by reason.",
		}, []string{"reason"}),
		Inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "enrichment_inflight_tasks",
			Help: "Tasks being processed right now.",
		}),
		AMQPReconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "enrichment_amqp_reconnects_total",
			Help: "Times the worker re-established a lost broker subscription.",
		}),
		AMQPConnected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "enrichment_amqp_connected",
			Help: "1 while the worker is subscribed to the work queue.",
		}),
		Ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "enrichment_worker_ready",
			Help: "1 while /readyz answers 200 (consuming and Postgres reachable).",
		}),
		RedisUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "enrichment_redis_up",
			Help: "1 while the cache answers; 0 means degraded (calls go straight to providers).",
		}),
		DBWriteDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "enrichment_db_write_duration_seconds",
			Help:    "Duration of one Postgres write transaction.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		LastTaskCompleted: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "enrichment_last_task_completed_timestamp_seconds",
			Help: "Unix time at which this worker last committed a task's result.",
		}),
		Deferred: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "enrichment_tasks_deferred_total",
			Help: "Tasks parked in a retry tier without spending an attempt: quota (could not wait for a provider's quota) or hold (held longer than DELIVERY_MAX_HOLD).",
		}, []string{"reason"}),
		AdmissionWaiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "enrichment_admission_waiting_tasks",
			Help: "Valid tasks waiting to start: for a concurrency slot, or for the providers' quota backlog to shrink.",
		}),
		AdmissionWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "enrichment_admission_wait_seconds",
			Help:    "How long a valid task waited to start (a slot, and a quota backlog short enough to finish within TASK_TIMEOUT).",
			Buckets: []float64{.001, .01, .1, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
		}),
		Paused: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "enrichment_paused",
			Help: "1 while consumption is paused because this dependency (postgres, broker) is unavailable.",
		}, []string{"dependency"}),
		Returned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "enrichment_deliveries_returned_total",
			Help: "Deliveries returned to their queue unprocessed, spending no attempt: prefetched ones at a pause or a shutdown, and tasks that met our own outage.",
		}),
		Panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "enrichment_handler_panics_total",
			Help: "Panics recovered while handling a delivery.",
		}),
		TextCleaned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "enrichment_text_cleaned_total",
			Help: "Tasks whose artist or title had control or format characters stripped, by field.",
		}, []string{"field"}),
		CloseCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "enrichment_close_calls_total",
			Help: "Provider decisions that found no match only narrowly and were kept for review, by provider and reason.",
		}, []string{"provider", "reason"}),
		ReviewsOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "enrichment_reviews_open",
			Help: "Open close calls waiting for review in the database (match_reviews), by provider; read every minute.",
		}, []string{"provider"}),
	}
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "enrichment_build_info",
		Help: "Always 1; labels carry the build's version and Go version.",
	}, []string{"version", "goversion"})
	buildInfo.WithLabelValues(version, runtime.Version()).Set(1)
	reg.MustRegister(
		m.TasksReceived, m.Tasks, m.TaskDuration, m.Retries, m.DeadLettered, m.Inflight,
		m.AMQPReconnects, m.AMQPConnected, m.Ready, m.RedisUp, m.DBWriteDuration, m.LastTaskCompleted,
		m.Deferred, m.AdmissionWaiting, m.AdmissionWait,
		m.Paused, m.Returned, m.Panics, m.TextCleaned, m.CloseCalls, m.ReviewsOpen,
		buildInfo,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	// Pre-create label values so dashboards see zeros instead of gaps.
	for _, o := range []string{OutcomeCompleted, OutcomePartial, OutcomeNotFound, OutcomeFailed, OutcomeRetried, OutcomeInvalid} {
		m.Tasks.WithLabelValues(o)
	}
	for _, r := range []string{"invalid_message", "permanent_error", "retries_exhausted"} {
		m.DeadLettered.WithLabelValues(r)
	}
	for _, p := range []string{"spotify", "musicbrainz", "discogs"} {
		m.ReviewsOpen.WithLabelValues(p)
		for _, r := range []string{"threshold", "margin", "version conflict", "artist conflict"} {
			m.CloseCalls.WithLabelValues(p, r)
		}
	}
	for _, r := range []string{DeferredQuota, DeferredHold} {
		m.Deferred.WithLabelValues(r)
	}
	for _, d := range []string{"postgres", "broker"} {
		m.Paused.WithLabelValues(d)
	}
	for _, f := range []string{"artist", "title"} {
		m.TextCleaned.WithLabelValues(f)
	}
	return m
}
