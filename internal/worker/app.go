package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/cache"
	"github.com/djmeta/enrichment/internal/config"
	"github.com/djmeta/enrichment/internal/enrich"
	"github.com/djmeta/enrichment/internal/match"
	"github.com/djmeta/enrichment/internal/metrics"
	"github.com/djmeta/enrichment/internal/store"
)

// Version is the build version, set by the linker.
var Version = "dev"

// redisCheckInterval is how often the cache's health is checked.
const redisCheckInterval = 5 * time.Second

// readyRefreshInterval is how often the ready gauge is re-evaluated.
const readyRefreshInterval = 5 * time.Second

// AppOptions are test hooks for Run.
type AppOptions struct {
	// Pipeline replaces the default pipeline (tests).
	Pipeline enrich.Pipeline
	// Started, if set, is called with the metrics address once serving.
	Started func(metricsAddr string)
}

// Run wires and runs a worker until ctx is cancelled; it returns nil after a
// clean drain.
func Run(ctx context.Context, cfg config.Worker, log *zap.Logger, opts AppOptions) error {
	st, err := store.Open(ctx, cfg.DatabaseURL, cfg.PoolSize())
	if err != nil {
		return err
	}
	defer st.Close()
	st.SetLimits(store.Limits{Lock: cfg.DBLockTimeout, Write: cfg.DBWriteTimeout})

	rdb, err := newRedisClient(cfg.RedisURL)
	if err != nil {
		return err
	}
	defer func() { _ = rdb.Close() }()

	m := metrics.NewWorker(Version)
	pm := metrics.NewProviders(m.Registry)
	topo := broker.NewTopology(cfg.RetryDelays, cfg.DeliveryLimit)

	// In-flight shared fetches finish (their answers stored) before the
	// worker exits; those still waiting for quota stop.
	c := cache.New(rdb, cache.Config{
		Prefix: cfg.CachePrefix,
		TTLs: cache.TTLs{Lookup: cfg.CacheTTLLookup, ISRC: cfg.CacheTTLISRC,
			Search: cfg.CacheTTLSearch, Negative: cfg.CacheTTLNegative},
		Metrics: pm,
	})
	defer c.Close()
	// The overrides are read only for tracks the index says have one
	// (docs/curation.md); it follows match_overrides by LISTEN.
	overrides := store.NewOverrideIndex(st)
	overrides.OnError = func(err error) {
		log.Warn("override index: reading every task's overrides until it listens again", zap.Error(err))
	}
	pipeline := opts.Pipeline
	var backlog func(context.Context) time.Duration
	checkSwitches := func(context.Context) {}
	if pipeline == nil {
		sources, fleet, err := buildSources(cfg, rdb, c, pm, log)
		if err != nil {
			return err
		}
		backlog = totalBacklog(fleet.limiters)
		checkSwitches = fleet.checkSwitches
		if len(sources) == 0 {
			pipeline = enrich.NoProviders{}
			log.Warn("no provider is enabled: every task ends not_found")
		} else {
			names := make([]string, len(sources))
			for i, s := range sources {
				names[i] = s.Client.Name()
			}
			log.Info("providers enabled", zap.Strings("providers", names))
			pipeline = enrich.NewEngine(sources, c, match.Config{Threshold: cfg.MatchThreshold, Margin: cfg.MatchMargin}, log).
				WithOverrides(overrides)
		}
	}
	// Consumption starts paused: the worker takes no task before Postgres
	// answers (a wrong DATABASE_URL must not dead-letter what it takes),
	// and pauses again whenever Postgres or the broker's publish side is
	// down (outage.go).
	gate := broker.NewGate(errors.New("postgres not checked yet"))
	watch := newOutageWatch(gate, map[string]func(ctx context.Context) error{
		DependencyPostgres: st.CheckWritable,
		DependencyBroker: func(ctx context.Context) error {
			return broker.Probe(ctx, cfg.AMQPURL, "enrichment-worker-probe", topo.Queues())
		},
	}, cfg.ProbeInterval, m, log)
	watch.report(DependencyPostgres, errors.New("not checked yet"))

	wcfg := Config{Topology: topo, TaskTimeout: cfg.TaskTimeout, Outage: watch.report,
		Concurrency: cfg.Concurrency, Backlog: backlog, MaxHold: cfg.DeliveryMaxHold}
	var batcher *store.Batcher
	if cfg.DBBatchSize > 1 {
		batcher = store.NewBatcher(st, store.BatcherConfig{MaxBatch: cfg.DBBatchSize, MaxWait: cfg.DBBatchWait, Writers: cfg.DBBatchWriters,
			OnBatchError: func(n int, err error) {
				log.Warn("batch commit failed; retrying its writes", zap.Int("batch", n), zap.Error(err))
			}})
		wcfg.Batcher = batcher
	}
	w, err := New(wcfg, pipeline, st, m, log)
	if err != nil {
		return err
	}
	cons, err := broker.NewConsumer(broker.ConsumerConfig{
		URL:            cfg.AMQPURL,
		Name:           "enrichment-worker",
		Queue:          broker.WorkQueue,
		PriorityQueue:  broker.PriorityQueue,
		RequiredQueues: topo.Queues(),
		Prefetch:       cfg.Prefetch,
		PrefetchBytes:  cfg.PrefetchBytes,
		Concurrency:    cfg.Concurrency,
		DrainTimeout:   cfg.DrainTimeout,
		ReconnectMax:   cfg.ReconnectMaxDelay,
		DeliveryLimit:  cfg.DeliveryLimit,
		Gate:           gate,
		OnReturn:       m.Returned.Inc,
		Logger:         log,
		OnState: func(on bool) {
			if on {
				m.AMQPConnected.Set(1)
			} else {
				m.AMQPConnected.Set(0)
			}
		},
		OnReconnect: m.AMQPReconnects.Inc,
	})
	if err != nil {
		return err
	}
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "enrichment_prefetch_bytes",
		Help: "Message body bytes the worker holds, received and not yet settled (bounded by PREFETCH_BYTES).",
	}, func() float64 { return float64(cons.HeldBytes()) }))

	srv, err := metrics.NewServer(cfg.MetricsAddr, m.Registry, m.Ready,
		metrics.Check{Name: "broker", Func: func(context.Context) error {
			if paused, _, reason := gate.State(); paused {
				return fmt.Errorf("consumption paused: %w", reason)
			}
			if !cons.Consuming() {
				return errors.New("not consuming")
			}
			return nil
		}},
		metrics.Check{Name: "postgres", Func: st.Ping},
		metrics.Check{Name: "redis", Degraded: true, Func: func(ctx context.Context) error {
			return rdb.Ping(ctx).Err()
		}},
	)
	if err != nil {
		return err
	}
	if cfg.MetricsPprof {
		srv.EnablePprof()
	}
	log.Info("worker starting", zap.String("version", Version), zap.String("metrics_addr", srv.Addr()),
		zap.Int("concurrency", cfg.Concurrency), zap.Int("prefetch", cfg.Prefetch),
		zap.String("retry_delays", cfg.RetryDelays.String()), zap.Duration("drain_timeout", cfg.DrainTimeout))

	// The HTTP server and the cache watcher outlive the consumer's drain so
	// that /metrics stays scrapeable until the worker exits.
	auxCtx, stopAux := context.WithCancel(context.WithoutCancel(ctx))
	defer stopAux()
	var aux errgroup.Group
	aux.Go(func() error { return srv.Run(auxCtx) })
	redisCheck := watchRedis(rdb, m, log)
	redisCheck(auxCtx) // the gauge is right from the first scrape
	aux.Go(func() error { runEvery(auxCtx, redisCheckInterval, redisCheck); return nil })
	// enrichment_worker_ready is kept current without anyone calling /readyz.
	aux.Go(func() error { runEvery(auxCtx, readyRefreshInterval, srv.Refresh); return nil })
	aux.Go(func() error { runEvery(auxCtx, availabilityInterval, checkSwitches); return nil })
	aux.Go(func() error { return watch.run(auxCtx) })
	if cfg.CoverageRefreshInterval > 0 {
		refresher := store.NewCoverageRefresher(st.Pool(), store.CoverageRefresherConfig{
			Interval: cfg.CoverageRefreshInterval,
			OnResult: func(ev store.RefreshEvent) {
				if ev.Err != nil {
					log.Warn("coverage refresh failed", zap.Error(ev.Err))
					return
				}
				if ev.RecordingsErr != nil {
					log.Warn("recordings refresh failed", zap.Error(ev.RecordingsErr))
				}
				fields := []zap.Field{zap.String("result", string(ev.Outcome)), zap.Bool("coverage", ev.CoverageRefreshed)}
				if c := ev.Recordings; c != nil {
					fields = append(fields, zap.Int64("recording_rows", c.Rows), zap.Int64("recordings", c.Recordings),
						zap.Int64("recording_rows_changed", c.Changed()), zap.Duration("recordings_took", c.Duration))
				}
				log.Debug("coverage refresh", fields...)
			},
		})
		aux.Go(func() error { return refresher.Run(auxCtx) })
	}
	aux.Go(func() error { return countReviews(auxCtx, st, m, log) })
	aux.Go(func() error { return overrides.Run(auxCtx) })
	if opts.Started != nil {
		opts.Started(srv.Addr())
	}

	// The batcher outlives the consumer's drain: in-flight tasks commit
	// through it before their ack.
	batchCtx, stopBatcher := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBatcher()
	batchDone := make(chan struct{})
	go func() {
		defer close(batchDone)
		if batcher != nil {
			_ = batcher.Run(batchCtx)
		}
	}()
	runErr := cons.Run(ctx, w.Handle)
	c.Close()
	stopBatcher()
	<-batchDone
	stopAux()
	auxErr := aux.Wait()
	if runErr != nil {
		return runErr
	}
	if auxErr != nil {
		return auxErr
	}
	log.Info("worker stopped cleanly")
	return nil
}

// watchRedis returns a check that keeps enrichment_redis_up current and
// logs one warning per outage.
func watchRedis(rdb *redis.Client, m *metrics.Worker, log *zap.Logger) func(ctx context.Context) {
	up := true
	return func(ctx context.Context) {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := rdb.Ping(cctx).Err()
		cancel()
		switch {
		case err != nil && up && ctx.Err() == nil:
			log.Warn("redis unavailable: caching disabled until it returns (degraded, still ready)", zap.Error(err))
			up = false
			m.RedisUp.Set(0)
		case err == nil && !up:
			log.Info("redis is back: caching resumed")
			up = true
			m.RedisUp.Set(1)
		case err == nil:
			m.RedisUp.Set(1)
		}
	}
}

// runEvery calls f every interval until ctx is cancelled.
func runEvery(ctx context.Context, interval time.Duration, f func(ctx context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f(ctx)
		}
	}
}
