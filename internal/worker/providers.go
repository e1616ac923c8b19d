package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/djmeta/enrichment/internal/cache"
	"github.com/djmeta/enrichment/internal/config"
	"github.com/djmeta/enrichment/internal/enrich"
	"github.com/djmeta/enrichment/internal/metrics"
	"github.com/djmeta/enrichment/internal/provider"
	"github.com/djmeta/enrichment/internal/provider/discogs"
	"github.com/djmeta/enrichment/internal/provider/musicbrainz"
	"github.com/djmeta/enrichment/internal/provider/spotify"
	"github.com/djmeta/enrichment/internal/ratelimit"
)

const (
	redisReadBuffer  = 16 << 10
	redisWriteBuffer = 8 << 10
)

// newRedisClient builds the worker's Redis client with short timeouts and a
// single dial attempt, so an outage costs milliseconds per call, not seconds.
func newRedisClient(url string) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	opts.DialTimeout = 250 * time.Millisecond
	opts.ReadTimeout = 250 * time.Millisecond
	opts.WriteTimeout = 250 * time.Millisecond
	opts.DialerRetries = 1
	opts.MaxRetries = 1
	// go-redis gives every connection 32 KiB read and write buffers; the
	// worker's commands are small and its largest replies (an MGET of a
	// task's cached candidate lists) are a few KiB, so smaller buffers cost
	// no extra reads and save ~40 KiB per pooled connection.
	if opts.ReadBufferSize == 0 {
		opts.ReadBufferSize = redisReadBuffer
	}
	if opts.WriteBufferSize == 0 {
		opts.WriteBufferSize = redisWriteBuffer
	}
	return redis.NewClient(opts), nil
}

// buildSources creates the enabled providers' clients, each paced by the
// fleet-wide limiter and each request cached and coalesced by c, in query
// order (Spotify and MusicBrainz give ISRCs that the later ones use). It
// also returns the limiters and the providers' availability switches.
func buildSources(cfg config.Worker, rdb *redis.Client, c *cache.Cache, pm *metrics.Providers, log *zap.Logger) ([]enrich.Source, fleetState, error) {
	// A task asks its providers one after another, so a worker has at most
	// Concurrency calls in flight, each of them possibly to the same host.
	httpClient := provider.NewHTTPClient(cfg.ProviderTimeout, cfg.Concurrency)
	var fleet fleetState
	limiter := func(name string, rate float64) (*ratelimit.Limiter, error) {
		l, err := ratelimit.New(rdb, ratelimit.Config{
			Provider: name, Rate: rate, Prefix: cfg.CachePrefix,
			Fallback: pm.LocalFallback.WithLabelValues(name), Logger: log,
		})
		if err == nil {
			fleet.limiters = append(fleet.limiters, l)
		}
		return l, err
	}
	transport := func(name string, l *ratelimit.Limiter, cost float64, daily, monthly int64) provider.TransportConfig {
		pm.Spent(name, 0) // export the cost and throttle series from the start
		pm.RateLimited.WithLabelValues(name)
		return provider.TransportConfig{
			Provider: name, Client: httpClient, Limiter: l, Cache: c, RequestTimeout: cfg.ProviderTimeout,
			Metrics: pm, CostPerCall: cost,
			OnThrottle: func(d time.Duration) { l.Pause(context.Background(), d) },
			Budget: ratelimit.NewBudget(rdb, ratelimit.BudgetConfig{
				Provider: name, Daily: daily, Monthly: monthly, Prefix: cfg.CachePrefix,
				Remaining: pm.BudgetRemaining, Limit: pm.BudgetLimit,
			}),
		}
	}
	// Each provider's fleet-wide switch, turned off when it refuses the
	// credential it is keyed by (see newGuard).
	source := func(c provider.Client, credential, variables string) enrich.Source {
		av := ratelimit.NewAvailability(rdb, ratelimit.AvailabilityConfig{
			Provider: c.Name(), Credential: credential, Variables: variables, Prefix: cfg.CachePrefix,
			Gauge: pm.Disabled.WithLabelValues(c.Name()), Logger: log,
		})
		fleet.switches = append(fleet.switches, av)
		return enrich.Source{Client: c, Guard: newGuard(c.Name(), cfg.CircuitFailures, cfg.CircuitOpenTimeout, av, pm, log)}
	}
	var sources []enrich.Source
	if cfg.ProviderEnabled(provider.Spotify) {
		if cfg.SpotifyClientID == "" {
			log.Warn("Spotify disabled: SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET are not set")
		} else {
			l, err := limiter(provider.Spotify, cfg.SpotifyRate)
			if err != nil {
				return nil, fleet, err
			}
			c, err := spotify.New(spotify.Config{
				ClientID: cfg.SpotifyClientID, ClientSecret: cfg.SpotifyClientSecret,
				APIURL: cfg.SpotifyAPIURL, TokenURL: cfg.SpotifyTokenURL,
				Transport: transport(provider.Spotify, l, cfg.SpotifyCost, cfg.SpotifyDailyBudget, cfg.SpotifyMonthlyBudget),
			})
			if err != nil {
				return nil, fleet, fmt.Errorf("spotify: %w", err)
			}
			sources = append(sources, source(c,
				cfg.SpotifyClientID+"\x00"+cfg.SpotifyClientSecret+"\x00"+cfg.SpotifyAPIURL+"\x00"+cfg.SpotifyTokenURL,
				"SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET (or SPOTIFY_API_URL, SPOTIFY_TOKEN_URL)"))
		}
	}
	if cfg.ProviderEnabled(provider.MusicBrainz) {
		l, err := limiter(provider.MusicBrainz, cfg.MusicBrainzRate)
		if err != nil {
			return nil, fleet, err
		}
		c, err := musicbrainz.New(musicbrainz.Config{
			APIURL: cfg.MusicBrainzAPIURL, UserAgent: cfg.MusicBrainzUA,
			Transport: transport(provider.MusicBrainz, l, cfg.MusicBrainzCost, cfg.MusicBrainzDailyBudget, cfg.MusicBrainzMonthlyBudget),
		})
		if err != nil {
			return nil, fleet, fmt.Errorf("musicbrainz: %w", err)
		}
		sources = append(sources, source(c, cfg.MusicBrainzUA+"\x00"+cfg.MusicBrainzAPIURL,
			"MUSICBRAINZ_USER_AGENT (or MUSICBRAINZ_API_URL)"))
	}
	if cfg.ProviderEnabled(provider.Discogs) {
		if cfg.DiscogsToken == "" {
			log.Warn("Discogs disabled: DISCOGS_TOKEN is not set")
		} else {
			l, err := limiter(provider.Discogs, cfg.DiscogsRate)
			if err != nil {
				return nil, fleet, err
			}
			c, err := discogs.New(discogs.Config{
				APIURL: cfg.DiscogsAPIURL, Token: cfg.DiscogsToken, UserAgent: cfg.MusicBrainzUA,
				// Discogs tells how many calls are left in its window: when
				// they run out, the whole fleet waits for the window.
				OnRateLimit: func(limit, remaining int) {
					if limit > 0 && remaining <= 0 {
						l.Pause(context.Background(), time.Minute)
					}
				},
				Transport: transport(provider.Discogs, l, cfg.DiscogsCost, cfg.DiscogsDailyBudget, cfg.DiscogsMonthlyBudget),
			})
			if err != nil {
				return nil, fleet, fmt.Errorf("discogs: %w", err)
			}
			sources = append(sources, source(c, cfg.DiscogsToken+"\x00"+cfg.MusicBrainzUA+"\x00"+cfg.DiscogsAPIURL,
				"DISCOGS_TOKEN (or MUSICBRAINZ_USER_AGENT, which Discogs gets as User-Agent, or DISCOGS_API_URL)"))
		}
	}
	return sources, fleet, nil
}

// fleetState is what a worker shares with the fleet about the providers:
// their rate limiters and their availability switches.
type fleetState struct {
	limiters []*ratelimit.Limiter
	switches []*ratelimit.Availability
}

// checkSwitches reads each provider's fleet-wide switch, so that every
// worker reports a provider turned off (enrichment_provider_disabled)
// within availabilityInterval, whether or not it is calling it.
func (f fleetState) checkSwitches(ctx context.Context) {
	for _, av := range f.switches {
		_ = av.Check(ctx)
	}
}

// availabilityInterval is how often a worker reads the providers' switches
// on its own.
const availabilityInterval = 5 * time.Second

// totalBacklog returns the sum, over the providers, of how far away each
// one's next free request slot is: a task asks them one after another, so
// it meets each backlog in turn.
func totalBacklog(ls []*ratelimit.Limiter) func(ctx context.Context) time.Duration {
	if len(ls) == 0 {
		return nil
	}
	return func(ctx context.Context) time.Duration {
		var b time.Duration
		for _, l := range ls {
			b += l.Backlog(ctx)
		}
		return b
	}
}
