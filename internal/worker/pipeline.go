package worker

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/djmeta/enrichment/internal/cache"
	"github.com/djmeta/enrichment/internal/config"
	"github.com/djmeta/enrichment/internal/enrich"
	"github.com/djmeta/enrichment/internal/match"
	"github.com/djmeta/enrichment/internal/metrics"
	"github.com/djmeta/enrichment/internal/provider"
)

// Pipeline is the enrichment engine a worker runs, for the tools that decide
// tracks outside a worker (enrichctl rematch): the same provider clients,
// fleet-wide rate limiters, budgets, circuit breakers, provider switches and
// request cache, configured from the same environment, so that what it asks
// is answered from the fleet's cache and what it must send counts against
// the fleet's quotas.
type Pipeline struct {
	enrich.Pipeline
	rdb   *redis.Client
	cache *cache.Cache
	reg   *prometheus.Registry
}

// NewPipeline builds the pipeline of cfg; Close releases it. Overrides,
// when not nil, are applied as a worker applies them (docs/curation.md).
func NewPipeline(cfg config.Worker, log *zap.Logger, overrides enrich.OverrideSource) (*Pipeline, error) {
	if log == nil {
		log = zap.NewNop()
	}
	rdb, err := newRedisClient(cfg.RedisURL)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	pm := metrics.NewProviders(reg)
	c := cache.New(rdb, cache.Config{
		Prefix: cfg.CachePrefix,
		TTLs: cache.TTLs{Lookup: cfg.CacheTTLLookup, ISRC: cfg.CacheTTLISRC,
			Search: cfg.CacheTTLSearch, Negative: cfg.CacheTTLNegative},
		Metrics: pm,
	})
	p := &Pipeline{rdb: rdb, cache: c, reg: reg}
	sources, _, err := buildSources(cfg, rdb, c, pm, log)
	if err != nil {
		p.Close()
		return nil, err
	}
	if len(sources) == 0 {
		p.Pipeline = enrich.NoProviders{}
		return p, nil
	}
	e := enrich.NewEngine(sources, c, match.Config{Threshold: cfg.MatchThreshold, Margin: cfg.MatchMargin}, log)
	if overrides != nil {
		e.WithOverrides(overrides)
	}
	p.Pipeline = e
	return p, nil
}

// Requests returns the HTTP requests sent to each provider so far (every
// answer, whatever its status; the cache's answers are not requests).
func (p *Pipeline) Requests() (map[string]int64, error) {
	mfs, err := p.reg.Gather()
	if err != nil {
		return nil, fmt.Errorf("read the request counters: %w", err)
	}
	out := map[string]int64{}
	for _, mf := range mfs {
		if mf.GetName() != "enrichment_provider_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "provider" {
					out[l.GetValue()] += int64(m.GetCounter().GetValue())
				}
			}
		}
	}
	return out, nil
}

// Close waits for the shared fetches in flight and closes the Redis client.
func (p *Pipeline) Close() {
	p.cache.Close()
	_ = p.rdb.Close()
}

// Lookup returns the recordings provider prov knows under id, through the
// fleet's cache and quotas (enrich.Engine.Lookup).
func (p *Pipeline) Lookup(ctx context.Context, prov, id string) ([]provider.Recording, error) {
	e, ok := p.Pipeline.(*enrich.Engine)
	if !ok {
		return nil, fmt.Errorf("%s: %w", prov, enrich.ErrNoProvider)
	}
	return e.Lookup(ctx, prov, id)
}
