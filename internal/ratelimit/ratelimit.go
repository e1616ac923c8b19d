// Package ratelimit paces provider requests for the whole fleet: a GCRA
// token bucket per provider in Redis (go-redis/redis_rate), shared by every
// worker, so N workers together never exceed the configured rate. In any
// window of W seconds the fleet sends at most rate×W + 1 requests (burst 1).
// A provider's throttling answer pauses the whole fleet through a shared
// Redis key. Without Redis each worker falls back to a conservative local
// limit of rate × LocalFraction and reports it in a metric.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"golang.org/x/time/rate"
)

// LocalFractionDefault is the share of the fleet rate one worker uses on
// its own while Redis is unreachable (a fleet of up to 4 stays within the
// provider's limit).
const LocalFractionDefault = 0.25

// Config configures a Limiter.
type Config struct {
	// Provider names the bucket.
	Provider string
	// Rate is requests per second for the whole fleet.
	Rate float64
	// Prefix is put before the Redis keys (tests isolate themselves).
	Prefix string
	// LocalFraction: see LocalFractionDefault.
	LocalFraction float64
	// Fallback, if set, is set to 1 while this limiter works locally.
	Fallback prometheus.Gauge
	Logger   *zap.Logger
}

// Limiter is a fleet-wide rate limiter for one provider. It implements
// provider.Limiter.
type Limiter struct {
	cfg         Config
	rdb         redis.UniversalClient
	gcra        *redis_rate.Limiter
	limit       redis_rate.Limit
	local       *rate.Limiter
	key         string
	pause       string
	mu          sync.Mutex
	onLocal     bool
	localSince  time.Time
	pausedUntil time.Time // local copy of the pause (this worker's, or the fleet's as last read)
	// pauseCheckedAt is when the fleet's pause key was last read.
	pauseCheckedAt time.Time
}

// New returns a Limiter on rdb; rdb nil means local only.
func New(rdb redis.UniversalClient, cfg Config) (*Limiter, error) {
	if cfg.Provider == "" {
		return nil, errors.New("ratelimit: Provider is required")
	}
	if !(cfg.Rate > 0) {
		return nil, fmt.Errorf("ratelimit: %s rate must be positive, got %v", cfg.Provider, cfg.Rate)
	}
	if cfg.LocalFraction <= 0 || cfg.LocalFraction > 1 {
		cfg.LocalFraction = LocalFractionDefault
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	eff := EffectiveRate(cfg.Rate)
	l := &Limiter{
		cfg: cfg,
		rdb: rdb,
		// A rational rate as an integer count per long period: 0.9/s is
		// 900 per 1000 s, emitted one every 1.11 s with a burst of 1.
		limit: redis_rate.Limit{Rate: int(math.Max(1, math.Round(eff*1000))), Period: 1000 * time.Second, Burst: 1},
		local: rate.NewLimiter(rate.Limit(cfg.Rate*cfg.LocalFraction), 1),
		key:   cfg.Prefix + "ratelimit:" + cfg.Provider,
		pause: cfg.Prefix + "ratelimit:pause:" + cfg.Provider,
	}
	if rdb != nil {
		l.gcra = redis_rate.NewLimiter(rdb)
	}
	return l, nil
}

// Slack added to every emission interval, so that network and scheduling
// jitter between the limiter's grant and the request's arrival never brings
// two requests closer than the provider allows: 5% of the interval, at
// least 20ms but never more than a quarter of the interval. At 1 request/s
// the fleet paces at 0.952/s; at 5/s at 4.55/s; at 1000/s at 952/s.
const (
	slackFraction = 0.05
	slackMin      = 20 * time.Millisecond
)

// EffectiveRate is the rate the limiter grants for a configured rate.
func EffectiveRate(rate float64) float64 {
	interval := time.Duration(float64(time.Second) / rate)
	slack := max(time.Duration(float64(interval)*slackFraction), min(slackMin, interval/4))
	return float64(time.Second) / float64(interval+slack)
}

// Wait blocks until the fleet may send one more request to the provider.
func (l *Limiter) Wait(ctx context.Context) error {
	if l.gcra == nil || l.skipRedis() {
		return l.waitLocal(ctx)
	}
	for {
		if d := l.pausedFor(ctx); d > 0 {
			if err := sleep(ctx, d); err != nil {
				return err
			}
			continue
		}
		res, err := l.gcra.Allow(ctx, l.key, l.limit)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			l.setLocal(true, err)
			return l.waitLocal(ctx)
		}
		l.setLocal(false, nil)
		if res.Allowed > 0 {
			return nil
		}
		if err := sleep(ctx, res.RetryAfter); err != nil {
			return err
		}
	}
}

// PauseCheckInterval is how long a worker trusts its last look at the
// fleet's pause key: a pause set by another worker reaches this one within
// it (requests sent meanwhile are answered 429 and pause this worker too),
// and a worker busy with many calls reads the key ~10 times a second
// instead of once per request. A pause this worker set itself applies at
// once.
const PauseCheckInterval = 100 * time.Millisecond

// pausedFor returns how long the fleet is paused: this worker's own pause,
// else the fleet's pause key, read at most once per PauseCheckInterval.
func (l *Limiter) pausedFor(ctx context.Context) time.Duration {
	now := time.Now()
	l.mu.Lock()
	until, fresh := l.pausedUntil, now.Sub(l.pauseCheckedAt) < PauseCheckInterval
	l.mu.Unlock()
	if d := until.Sub(now); d > 0 || fresh {
		return d
	}
	d, err := l.rdb.PTTL(ctx, l.pause).Result()
	if err != nil {
		return 0 // the GCRA call that follows finds out about Redis
	}
	l.mu.Lock()
	l.pauseCheckedAt = now
	if d > 0 {
		if u := now.Add(d); u.After(l.pausedUntil) {
			l.pausedUntil = u
		}
	}
	l.mu.Unlock()
	return d
}

// Pause stops the whole fleet from calling the provider for d (a 429's
// Retry-After, or Discogs' remaining calls at zero). An existing longer
// pause is kept.
func (l *Limiter) Pause(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	l.mu.Lock()
	if until := time.Now().Add(d); until.After(l.pausedUntil) {
		l.pausedUntil = until
	}
	l.mu.Unlock()
	if l.rdb == nil {
		return
	}
	cur, err := l.rdb.PTTL(ctx, l.pause).Result()
	if err == nil && cur >= d {
		return
	}
	_ = l.rdb.Set(ctx, l.pause, "1", d).Err()
}

func (l *Limiter) waitLocal(ctx context.Context) error {
	l.mu.Lock()
	until := l.pausedUntil
	l.mu.Unlock()
	if err := sleep(ctx, time.Until(until)); err != nil {
		return err
	}
	if err := l.local.Wait(ctx); err != nil {
		return fmt.Errorf("local rate limit: %w", err)
	}
	return nil
}

// retryRedisAfter is how long the local fallback is used before Redis is
// tried again, so an outage costs one failed call per interval.
const retryRedisAfter = time.Second

func (l *Limiter) skipRedis() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.onLocal && time.Since(l.localSince) < retryRedisAfter
}

func (l *Limiter) setLocal(on bool, cause error) {
	l.mu.Lock()
	changed := l.onLocal != on
	l.onLocal = on
	if on {
		l.localSince = time.Now()
	}
	l.mu.Unlock()
	if !changed {
		return
	}
	if on {
		l.cfg.Logger.Warn("fleet rate limiter unreachable: using the local fallback limit",
			zap.String("provider", l.cfg.Provider), zap.Float64("local_rate", l.cfg.Rate*l.cfg.LocalFraction), zap.Error(cause))
	} else {
		l.cfg.Logger.Info("fleet rate limiter back", zap.String("provider", l.cfg.Provider))
	}
	if l.cfg.Fallback != nil {
		if on {
			l.cfg.Fallback.Set(1)
		} else {
			l.cfg.Fallback.Set(0)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
