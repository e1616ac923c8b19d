// Package config loads and validates the environment configuration shared by
// the enrichment binaries. Every variable has a documented default (see
// docs/configuration.md); a bad value is an error that names the variable.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// Defaults, exported so that docs and tests can refer to them.
const (
	AMQPURLDefault           = "amqp://guest:guest@localhost:5672/"
	DatabaseURLDefault       = "postgres://postgres@localhost:5432/musicdb?sslmode=disable"
	RedisURLDefault          = "redis://localhost:6379/0"
	MetricsAddrDefault       = ":9464"
	ConcurrencyDefault       = 16
	PrefetchDefault          = 128
	RetryDelaysDefault       = "2s,4s,8s"
	DrainTimeoutDefault      = 25 * time.Second
	TaskTimeoutDefault       = 60 * time.Second
	DeliveryLimitDefault     = 20
	MusicBrainzUADefault     = "djmeta-enrichment/0.1 ( https://github.com/djmeta/enrichment )"
	maxRetryDelay            = 24 * time.Hour
	maxRetryTiers            = 20
	maxConcurrency           = 1024
	maxPrefetch              = 2000 // quorum queues cap the prefetch here
	minDrainTimeout          = time.Second
	maxTaskTimeout           = 29 * time.Minute // below the broker's 30 min consumer_timeout
	LogLevelDefault          = "info"
	LogFormatDefault         = "json"
	SpotifyAPIURLDefault     = "https://api.spotify.com/v1"
	SpotifyTokenURLDefault   = "https://accounts.spotify.com/api/token"
	MusicBrainzAPIURLDef     = "https://musicbrainz.org/ws/2"
	DiscogsAPIURLDefault     = "https://api.discogs.com"
	SpotifyRateDefault       = 5.0
	MusicBrainzRateDefault   = 1.0
	DiscogsRateDefault       = 0.9
	DBMaxConnsDefault        = 0 // 0: WORKER_CONCURRENCY + 2
	ReconnectMaxDelayDefault = 30 * time.Second
	PrefetchBytesDefault     = 8 << 20 // 128 tasks of the contract's largest, 64 KiB
	DBLockTimeoutDefault     = 2 * time.Second
	DBWriteTimeoutDefault    = 10 * time.Second
	ProbeIntervalDefault     = time.Second
	minPrefetchBytes         = 128 << 10 // a task of the largest size fits, with room
)

// Common holds the settings every binary that talks to the stack reads.
type Common struct {
	// AMQPURL is the broker URL (AMQP_URL).
	AMQPURL string `env:"AMQP_URL" envDefault:"amqp://guest:guest@localhost:5672/"`
	// DatabaseURL is the Postgres URL (DATABASE_URL).
	DatabaseURL string `env:"DATABASE_URL" envDefault:"postgres://postgres@localhost:5432/musicdb?sslmode=disable"`
	// RedisURL is the cache URL (REDIS_URL). The worker keeps working without it.
	RedisURL string `env:"REDIS_URL" envDefault:"redis://localhost:6379/0"`
	// RetryDelays is one retry tier per entry (RETRY_DELAYS).
	RetryDelays RetryDelays `env:"RETRY_DELAYS" envDefault:"2s,4s,8s"`
	// DeliveryLimit is the quorum queues' x-delivery-limit (QUEUE_DELIVERY_LIMIT),
	// the broker's backstop against poison messages.
	DeliveryLimit int `env:"QUEUE_DELIVERY_LIMIT" envDefault:"20"`
	// LogLevel is debug, info, warn or error (LOG_LEVEL).
	LogLevel string `env:"LOG_LEVEL" envDefault:"info"`
	// LogFormat is json or console (LOG_FORMAT).
	LogFormat string `env:"LOG_FORMAT" envDefault:"json"`
}

// Providers holds the provider API settings.
type Providers struct {
	SpotifyClientID     string  `env:"SPOTIFY_CLIENT_ID"`
	SpotifyClientSecret string  `env:"SPOTIFY_CLIENT_SECRET"`
	SpotifyAPIURL       string  `env:"SPOTIFY_API_URL" envDefault:"https://api.spotify.com/v1"`
	SpotifyTokenURL     string  `env:"SPOTIFY_TOKEN_URL" envDefault:"https://accounts.spotify.com/api/token"`
	MusicBrainzAPIURL   string  `env:"MUSICBRAINZ_API_URL" envDefault:"https://musicbrainz.org/ws/2"`
	MusicBrainzUA       string  `env:"MUSICBRAINZ_USER_AGENT" envDefault:"djmeta-enrichment/0.1 ( https://github.com/djmeta/enrichment )"`
	DiscogsAPIURL       string  `env:"DISCOGS_API_URL" envDefault:"https://api.discogs.com"`
	DiscogsToken        string  `env:"DISCOGS_TOKEN"`
	SpotifyRate         float64 `env:"SPOTIFY_RATE" envDefault:"5"`
	MusicBrainzRate     float64 `env:"MUSICBRAINZ_RATE" envDefault:"1"`
	DiscogsRate         float64 `env:"DISCOGS_RATE" envDefault:"0.9"`
	// Cost per call in US dollars, for enrichment_api_cost_usd_total
	// (SPOTIFY_COST_PER_CALL, MUSICBRAINZ_COST_PER_CALL, DISCOGS_COST_PER_CALL).
	SpotifyCost     float64 `env:"SPOTIFY_COST_PER_CALL" envDefault:"0"`
	MusicBrainzCost float64 `env:"MUSICBRAINZ_COST_PER_CALL" envDefault:"0"`
	DiscogsCost     float64 `env:"DISCOGS_COST_PER_CALL" envDefault:"0"`
	// Call budgets per UTC day and month for the whole fleet; 0 is
	// unlimited (SPOTIFY_DAILY_BUDGET, SPOTIFY_MONTHLY_BUDGET, and the same
	// for MUSICBRAINZ_ and DISCOGS_).
	SpotifyDailyBudget       int64 `env:"SPOTIFY_DAILY_BUDGET" envDefault:"0"`
	SpotifyMonthlyBudget     int64 `env:"SPOTIFY_MONTHLY_BUDGET" envDefault:"0"`
	MusicBrainzDailyBudget   int64 `env:"MUSICBRAINZ_DAILY_BUDGET" envDefault:"0"`
	MusicBrainzMonthlyBudget int64 `env:"MUSICBRAINZ_MONTHLY_BUDGET" envDefault:"0"`
	DiscogsDailyBudget       int64 `env:"DISCOGS_DAILY_BUDGET" envDefault:"0"`
	DiscogsMonthlyBudget     int64 `env:"DISCOGS_MONTHLY_BUDGET" envDefault:"0"`
	// CircuitFailures consecutive failed provider operations open a
	// provider's breaker (CIRCUIT_FAILURES); it stays open for
	// CircuitOpenTimeout (CIRCUIT_OPEN_TIMEOUT), then lets one probe through.
	CircuitFailures    int           `env:"CIRCUIT_FAILURES" envDefault:"5"`
	CircuitOpenTimeout time.Duration `env:"CIRCUIT_OPEN_TIMEOUT" envDefault:"30s"`
}

// Worker is the enrichment-worker configuration.
type Worker struct {
	Common
	Providers
	// MetricsAddr is host:port or :port for /metrics, /healthz, /readyz (METRICS_ADDR).
	MetricsAddr string `env:"METRICS_ADDR" envDefault:":9464"`
	// MetricsPprof serves Go's profiler under /debug/pprof/ on METRICS_ADDR
	// (METRICS_PPROF, default false).
	MetricsPprof bool `env:"METRICS_PPROF" envDefault:"false"`
	// Concurrency is the number of tasks a worker runs at once (WORKER_CONCURRENCY).
	Concurrency int `env:"WORKER_CONCURRENCY" envDefault:"16"`
	// Prefetch is the per-consumer QoS window (PREFETCH_COUNT); at least Concurrency.
	Prefetch int `env:"PREFETCH_COUNT" envDefault:"128"`
	// PrefetchBytes bounds the message bodies a worker holds, received and
	// not yet settled (PREFETCH_BYTES, in bytes): RabbitMQ bounds a
	// consumer by message count only, so the worker stops reading from its
	// connection at this many bytes.
	PrefetchBytes int64 `env:"PREFETCH_BYTES" envDefault:"8388608"`
	// DrainTimeout bounds how long a stopping worker waits for in-flight tasks
	// (WORKER_DRAIN_TIMEOUT); it exits within this plus 10 s
	// (broker.ShutdownMargin). Orchestrators must wait longer before SIGKILL.
	DrainTimeout time.Duration `env:"WORKER_DRAIN_TIMEOUT" envDefault:"25s"`
	// TaskTimeout bounds one task's processing (TASK_TIMEOUT), from the
	// moment it starts: time spent waiting to start (for a slot, or for the
	// providers' quota backlog to shrink) does not count.
	TaskTimeout time.Duration `env:"TASK_TIMEOUT" envDefault:"60s"`
	// DeliveryMaxHold bounds how long a valid task waits to start
	// (DELIVERY_MAX_HOLD): after it the task is deferred to a retry tier
	// without spending an attempt, so that no delivery stays unacknowledged
	// near the broker's consumer timeout (RabbitMQ's default is 30 min).
	// It must exceed TASK_TIMEOUT and stay under 29 min minus TASK_TIMEOUT.
	DeliveryMaxHold time.Duration `env:"DELIVERY_MAX_HOLD" envDefault:"10m"`
	// DBLockTimeout is how long a write waits for a row lock another
	// session holds before that task's write fails and it is retried
	// (DB_LOCK_TIMEOUT).
	DBLockTimeout time.Duration `env:"DB_LOCK_TIMEOUT" envDefault:"2s"`
	// DBWriteTimeout bounds one write transaction: Postgres's
	// statement_timeout, and the client's deadline (plus one second) for
	// the whole of it (DB_WRITE_TIMEOUT). A write over it is an outage.
	DBWriteTimeout time.Duration `env:"DB_WRITE_TIMEOUT" envDefault:"10s"`
	// ProbeInterval is how often a worker paused by an outage asks whether
	// the dependency is back (OUTAGE_PROBE_INTERVAL).
	ProbeInterval time.Duration `env:"OUTAGE_PROBE_INTERVAL" envDefault:"1s"`
	// DBMaxConns sizes the Postgres pool (DB_MAX_CONNS); 0 means Concurrency+2.
	DBMaxConns int `env:"DB_MAX_CONNS" envDefault:"0"`
	// DBBatchSize is the most task results committed in one transaction
	// (DB_BATCH_SIZE); 1 commits each task on its own.
	DBBatchSize int `env:"DB_BATCH_SIZE" envDefault:"50"`
	// DBBatchWait is how long a result waits for others to share its
	// commit (DB_BATCH_WAIT).
	DBBatchWait time.Duration `env:"DB_BATCH_WAIT" envDefault:"5ms"`
	// DBBatchWriters is how many batches commit at once (DB_BATCH_WRITERS,
	// default 1):
	// while one waits for its commit to reach the disk, the next fills and
	// commits (Postgres groups their flushes).
	DBBatchWriters int `env:"DB_BATCH_WRITERS" envDefault:"1"`
	// ReconnectMaxDelay caps the broker reconnect backoff (AMQP_RECONNECT_MAX_DELAY).
	ReconnectMaxDelay time.Duration `env:"AMQP_RECONNECT_MAX_DELAY" envDefault:"30s"`
	// Enabled lists the providers to use (PROVIDERS); one without
	// credentials is disabled with a warning. "none" disables all.
	Enabled []string `env:"PROVIDERS" envDefault:"spotify,musicbrainz,discogs" envSeparator:","`
	// ProviderTimeout bounds one provider HTTP request (PROVIDER_TIMEOUT).
	ProviderTimeout time.Duration `env:"PROVIDER_TIMEOUT" envDefault:"10s"`
	// Cache TTLs (CACHE_TTL_LOOKUP, CACHE_TTL_ISRC, CACHE_TTL_SEARCH, CACHE_TTL_NEGATIVE).
	CacheTTLLookup   time.Duration `env:"CACHE_TTL_LOOKUP" envDefault:"2160h"`
	CacheTTLISRC     time.Duration `env:"CACHE_TTL_ISRC" envDefault:"2160h"`
	CacheTTLSearch   time.Duration `env:"CACHE_TTL_SEARCH" envDefault:"336h"`
	CacheTTLNegative time.Duration `env:"CACHE_TTL_NEGATIVE" envDefault:"24h"`
	// CachePrefix is put before every cache key (CACHE_PREFIX).
	CachePrefix string `env:"CACHE_PREFIX" envDefault:""`
	// CoverageRefreshInterval is how often the fleet refreshes
	// enrichment_coverage_stats (COVERAGE_REFRESH_INTERVAL); one worker at a
	// time does it, under a Postgres advisory lock. 0 disables.
	CoverageRefreshInterval time.Duration `env:"COVERAGE_REFRESH_INTERVAL" envDefault:"5m"`
	// MatchThreshold and MatchMargin tune the matcher (MATCH_THRESHOLD, MATCH_MARGIN).
	MatchThreshold float64 `env:"MATCH_THRESHOLD" envDefault:"0.82"`
	MatchMargin    float64 `env:"MATCH_MARGIN" envDefault:"0.05"`
}

// ProviderEnabled reports whether PROVIDERS lists name.
func (c Worker) ProviderEnabled(name string) bool {
	for _, p := range c.Enabled {
		if strings.TrimSpace(p) == name {
			return true
		}
	}
	return false
}

// Load parses the environment (environ maps names to values; nil means the
// process environment) into a Worker config and validates it.
func LoadWorker(environ map[string]string) (Worker, error) {
	var c Worker
	if err := parse(&c, environ); err != nil {
		return Worker{}, err
	}
	if err := c.Validate(); err != nil {
		return Worker{}, err
	}
	return c, nil
}

// LoadCommon parses and validates only the Common settings.
func LoadCommon(environ map[string]string) (Common, error) {
	var c Common
	if err := parse(&c, environ); err != nil {
		return Common{}, err
	}
	if err := c.Validate(); err != nil {
		return Common{}, err
	}
	return c, nil
}

func parse(v any, environ map[string]string) error {
	opts := env.Options{}
	if environ != nil {
		opts.Environment = environ
	}
	err := env.ParseWithOptions(v, opts)
	if err == nil {
		return nil
	}
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return fmt.Errorf("config: %w", err)
	}
	msgs := make([]string, 0, len(agg.Errors))
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			name := envName(reflect.TypeOf(v).Elem(), pe.Name)
			msgs = append(msgs, fmt.Sprintf("%s: invalid value: %v", name, unwrapParse(pe.Err)))
			continue
		}
		msgs = append(msgs, e.Error())
	}
	return fmt.Errorf("config: %s", strings.Join(msgs, "; "))
}

func unwrapParse(err error) error {
	var ne *strconv.NumError
	if errors.As(err, &ne) {
		return fmt.Errorf("%q is not a valid number", ne.Num)
	}
	return err
}

// envName finds the env tag of the struct field called field, searching
// embedded structs.
func envName(t reflect.Type, field string) string {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			if n := envName(f.Type, field); n != field {
				return n
			}
			continue
		}
		if f.Name == field {
			if tag := f.Tag.Get("env"); tag != "" {
				return tag
			}
		}
	}
	return field
}

// Validate checks the Common settings.
func (c Common) Validate() error {
	var errs []error
	if err := checkURL(c.AMQPURL, "amqp", "amqps"); err != nil {
		errs = append(errs, fmt.Errorf("AMQP_URL: %w", err))
	}
	if err := checkURL(c.DatabaseURL, "postgres", "postgresql"); err != nil {
		errs = append(errs, fmt.Errorf("DATABASE_URL: %w", err))
	}
	if err := checkURL(c.RedisURL, "redis", "rediss"); err != nil {
		errs = append(errs, fmt.Errorf("REDIS_URL: %w", err))
	}
	if len(c.RetryDelays) == 0 {
		errs = append(errs, errors.New("RETRY_DELAYS: at least one delay is required"))
	}
	if c.DeliveryLimit < 1 {
		errs = append(errs, fmt.Errorf("QUEUE_DELIVERY_LIMIT: must be at least 1, got %d", c.DeliveryLimit))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("LOG_LEVEL: must be debug, info, warn or error, got %q", c.LogLevel))
	}
	switch c.LogFormat {
	case "json", "console":
	default:
		errs = append(errs, fmt.Errorf("LOG_FORMAT: must be json or console, got %q", c.LogFormat))
	}
	errs = append(errs, placeholderErrors(c)...)
	return joinErrs(errs)
}

var userAgentRE = regexp.MustCompile(`^[^\s/]+/[^\s/]+ \( [^()]+ \)$`)

// Validate checks the provider settings.
func (p Providers) Validate() error {
	var errs []error
	for _, u := range []struct{ name, v string }{
		{"SPOTIFY_API_URL", p.SpotifyAPIURL},
		{"SPOTIFY_TOKEN_URL", p.SpotifyTokenURL},
		{"MUSICBRAINZ_API_URL", p.MusicBrainzAPIURL},
		{"DISCOGS_API_URL", p.DiscogsAPIURL},
	} {
		if err := checkURL(u.v, "http", "https"); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", u.name, err))
		}
	}
	if !userAgentRE.MatchString(p.MusicBrainzUA) {
		errs = append(errs, fmt.Errorf("MUSICBRAINZ_USER_AGENT: must have the form %q, got %q",
			"app/version ( contact )", p.MusicBrainzUA))
	}
	for _, v := range []struct {
		name string
		n    int64
	}{{"SPOTIFY_DAILY_BUDGET", p.SpotifyDailyBudget}, {"SPOTIFY_MONTHLY_BUDGET", p.SpotifyMonthlyBudget},
		{"MUSICBRAINZ_DAILY_BUDGET", p.MusicBrainzDailyBudget}, {"MUSICBRAINZ_MONTHLY_BUDGET", p.MusicBrainzMonthlyBudget},
		{"DISCOGS_DAILY_BUDGET", p.DiscogsDailyBudget}, {"DISCOGS_MONTHLY_BUDGET", p.DiscogsMonthlyBudget}} {
		if v.n < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative, got %d", v.name, v.n))
		}
	}
	for _, v := range []struct {
		name string
		x    float64
	}{{"SPOTIFY_COST_PER_CALL", p.SpotifyCost}, {"MUSICBRAINZ_COST_PER_CALL", p.MusicBrainzCost}, {"DISCOGS_COST_PER_CALL", p.DiscogsCost}} {
		if v.x < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative, got %v", v.name, v.x))
		}
	}
	if p.CircuitFailures < 1 {
		errs = append(errs, fmt.Errorf("CIRCUIT_FAILURES: must be at least 1, got %d", p.CircuitFailures))
	}
	if p.CircuitOpenTimeout < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("CIRCUIT_OPEN_TIMEOUT: must be at least 100ms, got %s", p.CircuitOpenTimeout))
	}
	if (p.SpotifyClientID == "") != (p.SpotifyClientSecret == "") {
		errs = append(errs, errors.New("SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET: set both or neither"))
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"SPOTIFY_RATE", p.SpotifyRate}, {"MUSICBRAINZ_RATE", p.MusicBrainzRate}, {"DISCOGS_RATE", p.DiscogsRate}} {
		if !(r.v > 0) || r.v > 10000 {
			errs = append(errs, fmt.Errorf("%s: must be a number of requests per second in (0, 10000], got %v", r.name, r.v))
		}
	}
	errs = append(errs, placeholderErrors(p)...)
	return joinErrs(errs)
}

// Validate checks the worker settings.
func (c Worker) Validate() error {
	var errs []error
	if err := c.Common.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Providers.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := checkListenAddr(c.MetricsAddr); err != nil {
		errs = append(errs, fmt.Errorf("METRICS_ADDR: %w", err))
	}
	if c.Concurrency < 1 || c.Concurrency > maxConcurrency {
		errs = append(errs, fmt.Errorf("WORKER_CONCURRENCY: must be in [1, %d], got %d", maxConcurrency, c.Concurrency))
	}
	if c.Prefetch < 1 || c.Prefetch > maxPrefetch {
		errs = append(errs, fmt.Errorf("PREFETCH_COUNT: must be in [1, %d], got %d", maxPrefetch, c.Prefetch))
	} else if c.Prefetch < c.Concurrency {
		errs = append(errs, fmt.Errorf("PREFETCH_COUNT: must be at least WORKER_CONCURRENCY (%d), got %d", c.Concurrency, c.Prefetch))
	}
	if c.DrainTimeout < minDrainTimeout {
		errs = append(errs, fmt.Errorf("WORKER_DRAIN_TIMEOUT: must be at least %s, got %s", minDrainTimeout, c.DrainTimeout))
	}
	if c.TaskTimeout <= 0 || c.TaskTimeout > maxTaskTimeout {
		errs = append(errs, fmt.Errorf("TASK_TIMEOUT: must be in (0, %s], got %s", maxTaskTimeout, c.TaskTimeout))
	} else if c.DeliveryMaxHold < c.TaskTimeout || c.DeliveryMaxHold+c.TaskTimeout > maxTaskTimeout {
		errs = append(errs, fmt.Errorf("DELIVERY_MAX_HOLD: must be in [TASK_TIMEOUT (%s), %s − TASK_TIMEOUT] (below the broker's 30 min consumer timeout), got %s",
			c.TaskTimeout, maxTaskTimeout, c.DeliveryMaxHold))
	}
	if c.DBBatchSize < 1 || c.DBBatchSize > 1000 {
		errs = append(errs, fmt.Errorf("DB_BATCH_SIZE: must be in [1, 1000], got %d", c.DBBatchSize))
	}
	if c.DBBatchWriters < 1 || c.DBBatchWriters > 64 {
		errs = append(errs, fmt.Errorf("DB_BATCH_WRITERS: must be in [1, 64], got %d", c.DBBatchWriters))
	}
	if c.DBBatchWait < 0 || c.DBBatchWait > time.Second {
		errs = append(errs, fmt.Errorf("DB_BATCH_WAIT: must be in [0, 1s], got %s", c.DBBatchWait))
	}
	if c.PrefetchBytes < minPrefetchBytes {
		errs = append(errs, fmt.Errorf("PREFETCH_BYTES: must be at least %d (one task of the largest size), got %d", minPrefetchBytes, c.PrefetchBytes))
	}
	if c.DBWriteTimeout < 100*time.Millisecond || c.DBWriteTimeout > 10*time.Minute {
		errs = append(errs, fmt.Errorf("DB_WRITE_TIMEOUT: must be in [100ms, 10m], got %s", c.DBWriteTimeout))
	}
	if c.DBLockTimeout < 10*time.Millisecond || c.DBLockTimeout > c.DBWriteTimeout {
		errs = append(errs, fmt.Errorf("DB_LOCK_TIMEOUT: must be in [10ms, DB_WRITE_TIMEOUT (%s)], got %s", c.DBWriteTimeout, c.DBLockTimeout))
	}
	if c.ProbeInterval < 100*time.Millisecond || c.ProbeInterval > time.Minute {
		errs = append(errs, fmt.Errorf("OUTAGE_PROBE_INTERVAL: must be in [100ms, 1m], got %s", c.ProbeInterval))
	}
	if c.DBMaxConns < 0 {
		errs = append(errs, fmt.Errorf("DB_MAX_CONNS: must not be negative, got %d", c.DBMaxConns))
	}
	for _, p := range c.Enabled {
		switch strings.TrimSpace(p) {
		case "spotify", "musicbrainz", "discogs", "none", "":
		default:
			errs = append(errs, fmt.Errorf("PROVIDERS: unknown provider %q (want spotify, musicbrainz, discogs or none)", p))
		}
	}
	if c.ProviderTimeout <= 0 || c.ProviderTimeout > 5*time.Minute {
		errs = append(errs, fmt.Errorf("PROVIDER_TIMEOUT: must be in (0, 5m], got %s", c.ProviderTimeout))
	} else if c.TaskTimeout > 0 && c.TaskTimeout < 2*c.ProviderTimeout {
		// A request is sent only if its slot comes PROVIDER_TIMEOUT before
		// the task's deadline: a shorter task could never wait for one.
		errs = append(errs, fmt.Errorf("TASK_TIMEOUT: must be at least twice PROVIDER_TIMEOUT (%s), got %s", c.ProviderTimeout, c.TaskTimeout))
	}
	for _, ttl := range []struct {
		name string
		v    time.Duration
	}{{"CACHE_TTL_LOOKUP", c.CacheTTLLookup}, {"CACHE_TTL_ISRC", c.CacheTTLISRC}, {"CACHE_TTL_SEARCH", c.CacheTTLSearch}, {"CACHE_TTL_NEGATIVE", c.CacheTTLNegative}} {
		if ttl.v < time.Second {
			errs = append(errs, fmt.Errorf("%s: must be at least 1s, got %s", ttl.name, ttl.v))
		}
	}
	if c.CoverageRefreshInterval < 0 {
		errs = append(errs, fmt.Errorf("COVERAGE_REFRESH_INTERVAL: must not be negative, got %s", c.CoverageRefreshInterval))
	}
	if !(c.MatchThreshold > 0 && c.MatchThreshold <= 1) {
		errs = append(errs, fmt.Errorf("MATCH_THRESHOLD: must be in (0, 1], got %v", c.MatchThreshold))
	}
	if !(c.MatchMargin >= 0 && c.MatchMargin < 1) {
		errs = append(errs, fmt.Errorf("MATCH_MARGIN: must be in [0, 1), got %v", c.MatchMargin))
	}
	if c.ReconnectMaxDelay < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("AMQP_RECONNECT_MAX_DELAY: must be at least 100ms, got %s", c.ReconnectMaxDelay))
	}
	errs = append(errs, placeholderErrors(c)...)
	return joinErrs(errs)
}

// PoolSize is the Postgres pool size the worker should use.
func (c Worker) PoolSize() int {
	if c.DBMaxConns > 0 {
		return c.DBMaxConns
	}
	return c.Concurrency + 2
}

func joinErrs(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("config: %w", errors.Join(errs...))
}

func checkURL(raw string, schemes ...string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	for _, s := range schemes {
		if u.Scheme == s {
			if u.Host == "" {
				return fmt.Errorf("%q has no host", redact(u))
			}
			return nil
		}
	}
	return fmt.Errorf("scheme must be one of %s, got %q", strings.Join(schemes, ", "), u.Scheme)
}

func redact(u *url.URL) string {
	return u.Redacted()
}

func checkListenAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("must be host:port or :port, got %q", addr)
	}
	_ = host
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port must be a number in [0, 65535], got %q", port)
	}
	return nil
}
