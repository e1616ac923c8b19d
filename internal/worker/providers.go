package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

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
// fleet-wide limiter, in query order (Spotify and MusicBrainz give ISRCs
// that the later ones use).
func buildSources(cfg config.Worker, rdb *redis.Client, pm *metrics.Providers, log *zap.Logger) ([]enrich.Source, error) {
	// A task asks its providers one after another, so a worker has at most
	// Concurrency calls in flight, each of them possibly to the same host.
	httpClient := provider.NewHTTPClient(cfg.ProviderTimeout, cfg.Concurrency)
	limiter := func(name string, rate float64) (*ratelimit.Limiter, error) {
		return ratelimit.New(rdb, ratelimit.Config{
			Provider: name, Rate: rate, Prefix: cfg.CachePrefix,
			Fallback: pm.LocalFallback.WithLabelValues(name), Logger: log,
		})
	}
	transport := func(name string, l *ratelimit.Limiter, cost float64, daily, monthly int64) provider.TransportConfig {
		pm.Spent(name, 0) // export the cost and throttle series from the start
		pm.RateLimited.WithLabelValues(name)
		return provider.TransportConfig{
			Provider: name, Client: httpClient, Limiter: l, Metrics: pm, CostPerCall: cost,
			OnThrottle: func(d time.Duration) { l.Pause(context.Background(), d) },
			Budget: ratelimit.NewBudget(rdb, ratelimit.BudgetConfig{
				Provider: name, Daily: daily, Monthly: monthly, Prefix: cfg.CachePrefix,
				Remaining: pm.BudgetRemaining, Limit: pm.BudgetLimit,
			}),
		}
	}
	source := func(c provider.Client) enrich.Source {
		return enrich.Source{Client: c, Guard: newGuard(c.Name(), cfg.CircuitFailures, cfg.CircuitOpenTimeout, pm, log)}
	}
	var sources []enrich.Source
	if cfg.ProviderEnabled(provider.Spotify) {
		if cfg.SpotifyClientID == "" {
			log.Warn("Spotify disabled: SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET are not set")
		} else {
			l, err := limiter(provider.Spotify, cfg.SpotifyRate)
			if err != nil {
				return nil, err
			}
			c, err := spotify.New(spotify.Config{
				ClientID: cfg.SpotifyClientID, ClientSecret: cfg.SpotifyClientSecret,
				APIURL: cfg.SpotifyAPIURL, TokenURL: cfg.SpotifyTokenURL,
				Transport: transport(provider.Spotify, l, cfg.SpotifyCost, cfg.SpotifyDailyBudget, cfg.SpotifyMonthlyBudget),
			})
			if err != nil {
				return nil, fmt.Errorf("spotify: %w", err)
			}
			sources = append(sources, source(c))
		}
	}
	if cfg.ProviderEnabled(provider.MusicBrainz) {
		l, err := limiter(provider.MusicBrainz, cfg.MusicBrainzRate)
		if err != nil {
			return nil, err
		}
		c, err := musicbrainz.New(musicbrainz.Config{
			APIURL: cfg.MusicBrainzAPIURL, UserAgent: cfg.MusicBrainzUA,
			Transport: transport(provider.MusicBrainz, l, cfg.MusicBrainzCost, cfg.MusicBrainzDailyBudget, cfg.MusicBrainzMonthlyBudget),
		})
		if err != nil {
			return nil, fmt.Errorf("musicbrainz: %w", err)
		}
		sources = append(sources, source(c))
	}
	if cfg.ProviderEnabled(provider.Discogs) {
		if cfg.DiscogsToken == "" {
			log.Warn("Discogs disabled: DISCOGS_TOKEN is not set")
		} else {
			l, err := limiter(provider.Discogs, cfg.DiscogsRate)
			if err != nil {
				return nil, err
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
				return nil, fmt.Errorf("discogs: %w", err)
			}
			sources = append(sources, source(c))
		}
	}
	return sources, nil
}
