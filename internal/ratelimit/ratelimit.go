// Package ratelimit paces provider requests for the whole fleet. Each
// provider has one schedule in Redis, shared by every worker: the time of
// the fleet's next free send slot. A request reserves the next slot
// (first come, first served across the fleet), learns at once how long it
// has to wait for it, and sleeps that long; slots are one emission interval
// apart, so in any window of W seconds the fleet sends at most rate×W + 1
// requests (burst 1). A caller that cannot wait that long reserves
// nothing and gets a *WaitError telling the wait: the task is deferred
// instead of failing. A provider's throttling answer (429, Retry-After)
// pushes the schedule back for the whole fleet. Without Redis each worker
// falls back to a conservative local limit of rate × LocalFraction and
// reports it in a metric.
//
// The schedule is a Lua script of our own rather than go-redis/redis_rate:
// redis_rate answers "allowed or retry after d" and callers poll, so
// waiters are served in no particular order, a waiter cannot learn its
// wait before it has spent it, and every waiter costs a Redis call per
// interval. Reserving a place in line gives all three (see
// docs/architecture.md, "Fleet-wide rate limits").
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/djmeta/enrichment/internal/provider"
)

// LocalFractionDefault is the share of the fleet rate one worker uses on
// its own while Redis is unreachable (a fleet of up to 4 stays within the
// provider's limit).
const LocalFractionDefault = 0.25

// Config configures a Limiter.
type Config struct {
	// Provider names the schedule.
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
	cfg      Config
	rdb      redis.UniversalClient
	interval time.Duration
	local    *rate.Limiter
	key      string // the schedule
	sent     string // requests per minute

	mu          sync.Mutex
	onLocal     bool
	localSince  time.Time
	pausedUntil time.Time // the local fallback's pause
	backlog     time.Duration
	backlogAt   time.Time
}

// WaitError is returned when the fleet's next free slot is further away
// than the caller can wait: nothing was reserved and no request was sent.
type WaitError struct {
	Provider string
	// Wait is how long the caller would have had to wait.
	Wait time.Duration
	// MaxWait is how long it could wait.
	MaxWait time.Duration
}

func (e *WaitError) Error() string {
	return fmt.Sprintf("%s: the next free request slot is %s away, more than the %s this task can wait",
		e.Provider, e.Wait.Round(time.Millisecond), e.MaxWait.Round(time.Millisecond))
}

// New returns a Limiter on rdb; rdb nil means local only.
func New(rdb redis.UniversalClient, cfg Config) (*Limiter, error) {
	if cfg.Provider == "" {
		return nil, errors.New("ratelimit: Provider is required")
	}
	if !(cfg.Rate > 0) || math.IsInf(cfg.Rate, 0) {
		return nil, fmt.Errorf("ratelimit: %s rate must be positive, got %v", cfg.Provider, cfg.Rate)
	}
	if cfg.LocalFraction <= 0 || cfg.LocalFraction > 1 {
		cfg.LocalFraction = LocalFractionDefault
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return &Limiter{
		cfg:      cfg,
		rdb:      rdb,
		interval: Interval(cfg.Rate),
		local:    rate.NewLimiter(rate.Limit(cfg.Rate*cfg.LocalFraction), 1),
		key:      scheduleKey(cfg.Prefix, cfg.Provider),
		sent:     sentKey(cfg.Prefix, cfg.Provider),
	}, nil
}

// Slack added to every emission interval, so that network and scheduling
// jitter between the reserved slot and the request's arrival never brings
// two requests closer than the provider allows: 5% of the interval, at
// least 20ms but never more than a quarter of the interval. At 1 request/s
// the fleet paces at 0.952/s; at 5/s at 4.55/s; at 1000/s at 952/s.
const (
	slackFraction = 0.05
	slackMin      = 20 * time.Millisecond
)

// Interval is the time between two of the fleet's slots for a configured
// rate: 1/rate plus the slack.
func Interval(rate float64) time.Duration {
	interval := time.Duration(float64(time.Second) / rate)
	return interval + max(time.Duration(float64(interval)*slackFraction), min(slackMin, interval/4))
}

// EffectiveRate is the rate the limiter grants for a configured rate.
func EffectiveRate(rate float64) float64 {
	return float64(time.Second) / float64(Interval(rate))
}

// reserveScript reserves the next free slot of the schedule KEYS[1] (a
// Redis-clock time in µs) if it is at most ARGV[2] µs away, moving the
// schedule on by ARGV[1] µs; ARGV[2] < 0 only reads. It returns
// {1 if reserved else 0, the wait in µs}. The key expires once the
// schedule is in the past. Each reservation is counted in the hash KEYS[2]
// under the minute of its slot (fields older than two hours are dropped),
// for enrichctl status (Usage).
var reserveScript = redis.NewScript(`local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local at = tonumber(redis.call("GET", KEYS[1]) or "0")
if at < now then at = now end
local wait = at - now
local maxw = tonumber(ARGV[2])
if maxw < 0 or wait > maxw then return {0, wait} end
local nxt = at + tonumber(ARGV[1])
redis.call("SET", KEYS[1], string.format("%.0f", nxt), "PX", math.floor((nxt - now) / 1000) + 1000)
local minute = math.floor(at / 60000000)
redis.call("HINCRBY", KEYS[2], minute, 1)
redis.call("HDEL", KEYS[2], minute - 120)
redis.call("EXPIRE", KEYS[2], 7200)
return {1, wait}`)

// pauseScript moves the schedule KEYS[1] to at least ARGV[1] µs from now.
var pauseScript = redis.NewScript(`local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local at = tonumber(redis.call("GET", KEYS[1]) or "0")
local want = now + tonumber(ARGV[1])
if want > at then
  redis.call("SET", KEYS[1], string.format("%.0f", want), "PX", math.floor(tonumber(ARGV[1]) / 1000) + 1000)
end
return 1`)

// Reserve reserves the fleet's next send slot if it is at most maxWait
// away and returns how long to wait for it; the caller must then wait that
// long before sending (Wait does both). If the slot is further away it
// reserves nothing and returns a *WaitError. maxWait < 0 means no limit.
func (l *Limiter) Reserve(ctx context.Context, maxWait time.Duration) (time.Duration, error) {
	if l.rdb == nil || l.skipRedis() {
		d, err := l.reserveLocal(maxWait)
		if err == nil {
			reserved(ctx)
		}
		return d, err
	}
	mw := int64(math.MaxInt64 / 2)
	if maxWait >= 0 {
		mw = maxWait.Microseconds()
	}
	res, err := reserveScript.Run(ctx, l.rdb, []string{l.key, l.sent}, l.interval.Microseconds(), mw).Int64Slice()
	if err != nil || len(res) != 2 {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if err == nil {
			err = fmt.Errorf("unexpected reply %v", res)
		}
		l.setLocal(true, err)
		d, err := l.reserveLocal(maxWait)
		if err == nil {
			reserved(ctx)
		}
		return d, err
	}
	l.setLocal(false, nil)
	wait := time.Duration(res[1]) * time.Microsecond
	if res[0] != 1 {
		l.noteBacklog(wait)
		return 0, &WaitError{Provider: l.cfg.Provider, Wait: wait, MaxWait: maxWait}
	}
	l.noteBacklog(wait + l.interval) // the next free slot
	reserved(ctx)
	return wait, nil
}

// reserved tells the task's admission that it has taken its place in a
// provider's line (provider.Started).
func reserved(ctx context.Context) { provider.Started(ctx) }

// Wait reserves a slot within the context's deadline (any slot without
// one) and waits for it. A slot beyond the deadline is not reserved: the
// error is a *WaitError.
func (l *Limiter) Wait(ctx context.Context) error {
	maxWait := time.Duration(-1)
	if dl, ok := ctx.Deadline(); ok {
		maxWait = max(time.Until(dl), 0)
	}
	d, err := l.Reserve(ctx, maxWait)
	if err != nil {
		return err
	}
	return sleep(ctx, d)
}

// Backlog returns how far away the fleet's next free slot is (0 when a
// request may go now), as last seen by this worker if that was less than
// BacklogMaxAge ago, else read from Redis.
func (l *Limiter) Backlog(ctx context.Context) time.Duration {
	l.mu.Lock()
	b, at := l.backlog, l.backlogAt
	l.mu.Unlock()
	if age := time.Since(at); age < BacklogMaxAge {
		return max(b-age, 0)
	}
	if l.rdb == nil || l.skipRedis() {
		return max(time.Until(l.localPause()), 0)
	}
	res, err := reserveScript.Run(ctx, l.rdb, []string{l.key, l.sent}, l.interval.Microseconds(), -1).Int64Slice()
	if err != nil || len(res) != 2 {
		return 0
	}
	wait := time.Duration(res[1]) * time.Microsecond
	l.noteBacklog(wait)
	return wait
}

// BacklogMaxAge is how long a worker trusts its last look at a provider's
// schedule when asked for the backlog.
const BacklogMaxAge = 100 * time.Millisecond

func (l *Limiter) noteBacklog(d time.Duration) {
	l.mu.Lock()
	l.backlog, l.backlogAt = d, time.Now()
	l.mu.Unlock()
}

// Pause stops the whole fleet from calling the provider for d (a 429's
// Retry-After, or Discogs' remaining calls at zero): the schedule moves to
// at least d from now. Slots already reserved before it stay reserved.
func (l *Limiter) Pause(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	l.mu.Lock()
	if until := time.Now().Add(d); until.After(l.pausedUntil) {
		l.pausedUntil = until
	}
	l.backlogAt = time.Time{}
	l.mu.Unlock()
	if l.rdb == nil {
		return
	}
	_ = pauseScript.Run(ctx, l.rdb, []string{l.key}, strconv.FormatInt(d.Microseconds(), 10)).Err()
}

func (l *Limiter) localPause() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pausedUntil
}

// reserveLocal reserves a slot of the local fallback limiter.
func (l *Limiter) reserveLocal(maxWait time.Duration) (time.Duration, error) {
	now := time.Now()
	paused := max(l.localPause().Sub(now), 0)
	r := l.local.ReserveN(now.Add(paused), 1)
	if !r.OK() {
		return 0, fmt.Errorf("%s: local rate limit refused a request", l.cfg.Provider)
	}
	wait := paused + r.DelayFrom(now.Add(paused))
	if maxWait >= 0 && wait > maxWait {
		r.CancelAt(now.Add(paused))
		return 0, &WaitError{Provider: l.cfg.Provider, Wait: wait, MaxWait: maxWait}
	}
	l.noteBacklog(wait + l.interval)
	return wait, nil
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

func scheduleKey(prefix, provider string) string { return prefix + "ratelimit:next:" + provider }
func sentKey(prefix, provider string) string     { return prefix + "ratelimit:sent:" + provider }

// FleetUsage is what the fleet's limiter of one provider shows.
type FleetUsage struct {
	// Sent counts the requests the fleet reserved slots for in the last
	// Window (whole minutes, the current one included).
	Sent   int64
	Window time.Duration
	// Backlog is how far away the next free request slot is.
	Backlog time.Duration
}

// Usage reads the fleet's use of one provider from Redis (for enrichctl
// status): requests in the last minutes (at least one) and the backlog.
func Usage(ctx context.Context, rdb redis.UniversalClient, prefix, provider string, minutes int) (FleetUsage, error) {
	minutes = max(minutes, 1)
	now, err := rdb.Time(ctx).Result()
	if err != nil {
		return FleetUsage{}, fmt.Errorf("redis: %w", err)
	}
	u := FleetUsage{Window: time.Duration(minutes) * time.Minute}
	counts, err := rdb.HGetAll(ctx, sentKey(prefix, provider)).Result()
	if err != nil {
		return FleetUsage{}, fmt.Errorf("redis: %w", err)
	}
	cur := now.Unix() / 60
	for field, v := range counts {
		m, err1 := strconv.ParseInt(field, 10, 64)
		n, err2 := strconv.ParseInt(v, 10, 64)
		if err1 == nil && err2 == nil && m > cur-int64(minutes) && m <= cur {
			u.Sent += n
		}
	}
	at, err := rdb.Get(ctx, scheduleKey(prefix, provider)).Float64()
	switch {
	case errors.Is(err, redis.Nil):
	case err != nil:
		return FleetUsage{}, fmt.Errorf("redis: %w", err)
	default:
		u.Backlog = max(time.Duration(at-float64(now.UnixMicro()))*time.Microsecond, 0)
	}
	return u, nil
}
