package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// ErrBudgetExhausted means the provider's daily or monthly call budget is
// spent: the worker stops calling it (tasks end partial) until the period
// turns.
var ErrBudgetExhausted = errors.New("call budget exhausted")

// BudgetConfig configures a Budget. A zero limit means unlimited.
type BudgetConfig struct {
	Provider string
	Daily    int64
	Monthly  int64
	Prefix   string
	// Remaining and Limit are the budget gauges, labelled by period
	// (day, month); nil means none.
	Remaining *prometheus.GaugeVec
	Limit     *prometheus.GaugeVec
}

// Budget counts a provider's calls for the whole fleet in Redis, per UTC
// day and month.
type Budget struct {
	cfg BudgetConfig
	rdb redis.UniversalClient
	now func() time.Time
}

// NewBudget returns a Budget on rdb.
func NewBudget(rdb redis.UniversalClient, cfg BudgetConfig) *Budget {
	b := &Budget{cfg: cfg, rdb: rdb, now: time.Now}
	for _, p := range []struct {
		name  string
		limit int64
	}{{"day", cfg.Daily}, {"month", cfg.Monthly}} {
		if p.limit > 0 && cfg.Limit != nil {
			cfg.Limit.WithLabelValues(cfg.Provider, p.name).Set(float64(p.limit))
			cfg.Remaining.WithLabelValues(cfg.Provider, p.name).Set(float64(p.limit))
		}
	}
	return b
}

// Take counts one call, or returns ErrBudgetExhausted when a budget is
// spent. Without Redis the budget cannot be counted fleet-wide and calls
// are allowed.
func (b *Budget) Take(ctx context.Context) error {
	if b == nil || b.rdb == nil || (b.cfg.Daily <= 0 && b.cfg.Monthly <= 0) {
		return nil
	}
	now := b.now().UTC()
	type period struct {
		name  string
		key   string
		limit int64
		ttl   time.Duration
	}
	periods := []period{
		{"day", b.cfg.Prefix + "budget:" + b.cfg.Provider + ":day:" + now.Format("20060102"), b.cfg.Daily, 48 * time.Hour},
		{"month", b.cfg.Prefix + "budget:" + b.cfg.Provider + ":month:" + now.Format("200601"), b.cfg.Monthly, 32 * 24 * time.Hour},
	}
	pipe := b.rdb.TxPipeline()
	incrs := make([]*redis.IntCmd, len(periods))
	for i, p := range periods {
		if p.limit <= 0 {
			continue
		}
		incrs[i] = pipe.Incr(ctx, p.key)
		pipe.Expire(ctx, p.key, p.ttl)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil // cannot count: allow (documented)
	}
	var spent error
	for i, p := range periods {
		if incrs[i] == nil {
			continue
		}
		used := incrs[i].Val()
		if b.cfg.Remaining != nil {
			b.cfg.Remaining.WithLabelValues(b.cfg.Provider, p.name).Set(float64(max(0, p.limit-used)))
		}
		if used > p.limit {
			spent = fmt.Errorf("%s %s budget of %d calls: %w", b.cfg.Provider, p.name, p.limit, ErrBudgetExhausted)
		}
	}
	return spent
}
