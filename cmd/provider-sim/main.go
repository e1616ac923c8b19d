// Command provider-sim serves a local stand-in for the Spotify Web API, MusicBrainz WS/2
// and the Discogs API from a catalog file, with the real APIs' paths, JSON shapes, auth
// and rate-limit behaviour. See docs/provider-sim.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/djmeta/enrichment/internal/providersim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "provider-sim:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	opts, err := parseOptions(os.Args[1:], os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cat, err := providersim.LoadCatalog(opts.catalog)
	if err != nil {
		return err
	}
	sim, err := providersim.New(cat, opts.cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", opts.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", opts.addr, err)
	}
	srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("provider-sim listening", "addr", ln.Addr().String(), "catalog", opts.catalog,
		"recordings", len(cat.Recordings), "releases", len(cat.Releases),
		"spotify_profile", opts.cfg.SpotifyProfile, "latency", opts.cfg.Latency)

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", opts.shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opts.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

type options struct {
	addr            string
	catalog         string
	shutdownTimeout time.Duration
	cfg             providersim.Config
}

// parseOptions reads flags; each flag's default comes from its SIM_* environment variable
// when set, so flags override the environment.
func parseOptions(args []string, getenv func(string) string) (options, error) {
	fs := flag.NewFlagSet("provider-sim", flag.ContinueOnError)
	env := envDefaults{getenv: getenv}
	def := providersim.DefaultConfig()
	var o options
	c := &o.cfg
	fs.StringVar(&o.addr, "addr", env.str("SIM_ADDR", ":8090"), "listen address `host:port` (env SIM_ADDR)")
	fs.StringVar(&o.catalog, "catalog", env.str("SIM_CATALOG", "testdata/catalog/catalog.json"), "catalog `file` (env SIM_CATALOG)")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", env.dur("SIM_SHUTDOWN_TIMEOUT", 10*time.Second), "graceful shutdown timeout (env SIM_SHUTDOWN_TIMEOUT)")
	fs.DurationVar(&c.Latency, "latency", env.dur("SIM_LATENCY", 0), "added latency per provider request, e.g. 80ms (env SIM_LATENCY)")
	fs.DurationVar(&c.LatencyJitter, "latency-jitter", env.dur("SIM_LATENCY_JITTER", 0), "uniform ± jitter on -latency (env SIM_LATENCY_JITTER)")
	errRate := fs.Float64("error-rate", env.float("SIM_ERROR_RATE", 0), "share 0..1 of provider requests answered with an injected 503 (env SIM_ERROR_RATE)")
	spErr := fs.Float64("spotify-error-rate", env.float("SIM_SPOTIFY_ERROR_RATE", -1), "overrides -error-rate for Spotify (env SIM_SPOTIFY_ERROR_RATE)")
	mbErr := fs.Float64("musicbrainz-error-rate", env.float("SIM_MUSICBRAINZ_ERROR_RATE", -1), "overrides -error-rate for MusicBrainz (env SIM_MUSICBRAINZ_ERROR_RATE)")
	dgErr := fs.Float64("discogs-error-rate", env.float("SIM_DISCOGS_ERROR_RATE", -1), "overrides -error-rate for Discogs (env SIM_DISCOGS_ERROR_RATE)")
	fs.StringVar(&c.SpotifyClientID, "spotify-client-id", env.str("SIM_SPOTIFY_CLIENT_ID", ""), "only client id accepted; empty accepts any (env SIM_SPOTIFY_CLIENT_ID)")
	fs.StringVar(&c.SpotifyClientSecret, "spotify-client-secret", env.str("SIM_SPOTIFY_CLIENT_SECRET", ""), "only client secret accepted (env SIM_SPOTIFY_CLIENT_SECRET)")
	fs.DurationVar(&c.SpotifyTokenTTL, "spotify-token-ttl", env.dur("SIM_SPOTIFY_TOKEN_TTL", def.SpotifyTokenTTL), "access token lifetime (env SIM_SPOTIFY_TOKEN_TTL)")
	fs.StringVar(&c.SpotifyProfile, "spotify-profile", env.str("SIM_SPOTIFY_PROFILE", def.SpotifyProfile), "dev (Feb 2026 development mode) or extended (env SIM_SPOTIFY_PROFILE)")
	fs.IntVar(&c.SpotifyRateLimit, "spotify-rate-limit", env.int("SIM_SPOTIFY_RATE_LIMIT", def.SpotifyRateLimit), "requests per client id per rolling window; 0 = off (env SIM_SPOTIFY_RATE_LIMIT)")
	fs.DurationVar(&c.SpotifyRateWindow, "spotify-rate-window", env.dur("SIM_SPOTIFY_RATE_WINDOW", def.SpotifyRateWindow), "Spotify rolling window (env SIM_SPOTIFY_RATE_WINDOW)")
	fs.BoolVar(&c.SpotifyQuotaBody, "spotify-quota-body", env.bool("SIM_SPOTIFY_QUOTA_BODY", false), "429 bodies carry reason QUOTA_EXCEEDED (env SIM_SPOTIFY_QUOTA_BODY)")
	fs.Float64Var(&c.MusicBrainzRate, "musicbrainz-rate", env.float("SIM_MUSICBRAINZ_RATE", def.MusicBrainzRate), "requests per second per client IP; 0 = off (env SIM_MUSICBRAINZ_RATE)")
	fs.IntVar(&c.MusicBrainzBurst, "musicbrainz-burst", env.int("SIM_MUSICBRAINZ_BURST", def.MusicBrainzBurst), "MusicBrainz burst size (env SIM_MUSICBRAINZ_BURST)")
	fs.BoolVar(&c.MusicBrainzStrictUA, "musicbrainz-strict-ua", env.bool("SIM_MUSICBRAINZ_STRICT_UA", def.MusicBrainzStrictUA), "400 for a User-Agent not of the form 'app/version ( contact )' (env SIM_MUSICBRAINZ_STRICT_UA)")
	fs.IntVar(&c.DiscogsRateLimit, "discogs-rate-limit", env.int("SIM_DISCOGS_RATE_LIMIT", def.DiscogsRateLimit), "authenticated requests per token per window; 0 = off (env SIM_DISCOGS_RATE_LIMIT)")
	fs.IntVar(&c.DiscogsAnonRateLimit, "discogs-anon-rate-limit", env.int("SIM_DISCOGS_ANON_RATE_LIMIT", def.DiscogsAnonRateLimit), "unauthenticated requests per IP per window (env SIM_DISCOGS_ANON_RATE_LIMIT)")
	fs.DurationVar(&c.DiscogsRateWindow, "discogs-rate-window", env.dur("SIM_DISCOGS_RATE_WINDOW", def.DiscogsRateWindow), "Discogs moving window (env SIM_DISCOGS_RATE_WINDOW)")
	tokens := fs.String("discogs-tokens", env.str("SIM_DISCOGS_TOKENS", ""), "comma-separated accepted Discogs tokens; empty accepts any (env SIM_DISCOGS_TOKENS)")
	fs.BoolVar(&c.TrustForwardedFor, "trust-forwarded-for", env.bool("SIM_TRUST_FORWARDED_FOR", false), "take the client IP from X-Forwarded-For (env SIM_TRUST_FORWARDED_FOR)")
	fs.StringVar(&c.PublicURL, "public-url", env.str("SIM_PUBLIC_URL", ""), "base URL for links in responses; default from the Host header (env SIM_PUBLIC_URL)")
	fs.Uint64Var(&c.Seed, "seed", env.uint("SIM_SEED", 0), "random seed for jitter and error injection; 0 = random (env SIM_SEED)")
	if env.err != nil {
		return options{}, env.err
	}
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	c.SpotifyErrorRate, c.MusicBrainzErrorRate, c.DiscogsErrorRate = *errRate, *errRate, *errRate
	for _, o := range []struct {
		v   float64
		dst *float64
	}{{*spErr, &c.SpotifyErrorRate}, {*mbErr, &c.MusicBrainzErrorRate}, {*dgErr, &c.DiscogsErrorRate}} {
		if o.v >= 0 {
			*o.dst = o.v
		}
	}
	for _, t := range strings.Split(*tokens, ",") {
		if t = strings.TrimSpace(t); t != "" {
			c.DiscogsTokens = append(c.DiscogsTokens, t)
		}
	}
	if err := c.Validate(); err != nil {
		return options{}, err
	}
	return o, nil
}

// envDefaults parses environment variables into flag defaults, keeping the first error,
// which names the variable.
type envDefaults struct {
	getenv func(string) string
	err    error
}

func (e *envDefaults) lookup(name string, parse func(string) error) {
	v := e.getenv(name)
	if v == "" || e.err != nil {
		return
	}
	if err := parse(v); err != nil {
		e.err = fmt.Errorf("environment variable %s=%q: %w", name, v, err)
	}
}

func (e *envDefaults) str(name, def string) string {
	if v := e.getenv(name); v != "" {
		return v
	}
	return def
}

func (e *envDefaults) dur(name string, def time.Duration) time.Duration {
	e.lookup(name, func(v string) (err error) { def, err = time.ParseDuration(v); return err })
	return def
}

func (e *envDefaults) float(name string, def float64) float64 {
	e.lookup(name, func(v string) (err error) { def, err = strconv.ParseFloat(v, 64); return err })
	return def
}

func (e *envDefaults) int(name string, def int) int {
	e.lookup(name, func(v string) (err error) { def, err = strconv.Atoi(v); return err })
	return def
}

func (e *envDefaults) uint(name string, def uint64) uint64 {
	e.lookup(name, func(v string) (err error) { def, err = strconv.ParseUint(v, 10, 64); return err })
	return def
}

func (e *envDefaults) bool(name string, def bool) bool {
	e.lookup(name, func(v string) (err error) { def, err = strconv.ParseBool(v); return err })
	return def
}
