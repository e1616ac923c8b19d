package providersim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Spotify API profiles (notes §0, §1.6).
const (
	// ProfileDev plays a development-mode app created after February 2026: search limit at
	// most 10 (default 5), no popularity/available_markets on tracks and albums, no
	// GET /tracks?ids= batch endpoint.
	ProfileDev = "dev"
	// ProfileExtended plays an extended-quota app: limit up to 50 (default 20), full
	// objects, batch lookups.
	ProfileExtended = "extended"
)

// Config holds the simulator's knobs. DefaultConfig mirrors the real services.
type Config struct {
	// SpotifyClientID and SpotifyClientSecret are the only credentials the token endpoint
	// accepts. Both empty: any non-empty pair is accepted.
	SpotifyClientID     string
	SpotifyClientSecret string
	// SpotifyTokenTTL is the lifetime of issued access tokens (expires_in).
	SpotifyTokenTTL time.Duration
	// SpotifyProfile is ProfileDev or ProfileExtended.
	SpotifyProfile string
	// SpotifyRateLimit requests are allowed per client id in any rolling SpotifyRateWindow;
	// 0 disables the limit.
	SpotifyRateLimit  int
	SpotifyRateWindow time.Duration
	// SpotifyQuotaBody makes 429 answers carry the July 2026 quota body
	// ({"reason":"QUOTA_EXCEEDED"}) instead of the plain rate-limit body.
	SpotifyQuotaBody bool

	// MusicBrainzRate is the allowed requests per second per client IP, with bursts of
	// MusicBrainzBurst; 0 disables the limit.
	MusicBrainzRate  float64
	MusicBrainzBurst int
	// MusicBrainzStrictUA rejects (400) User-Agents that are present but not of the form
	// "app/version ( contact )". A missing or library-default User-Agent is always 403.
	MusicBrainzStrictUA bool

	// DiscogsRateLimit requests are allowed per token (or key) in any DiscogsRateWindow;
	// unauthenticated requests get DiscogsAnonRateLimit per client IP. 0 disables.
	DiscogsRateLimit     int
	DiscogsAnonRateLimit int
	DiscogsRateWindow    time.Duration
	// DiscogsTokens, when not empty, are the only personal access tokens accepted.
	DiscogsTokens []string

	// Latency is added before every provider response, varied uniformly by ±LatencyJitter.
	Latency       time.Duration
	LatencyJitter time.Duration
	// Error rates (0..1) of injected 503 "server busy" answers, per provider.
	SpotifyErrorRate     float64
	MusicBrainzErrorRate float64
	DiscogsErrorRate     float64

	// TrustForwardedFor takes the client IP from X-Forwarded-For (for tests that play
	// several client hosts).
	TrustForwardedFor bool
	// PublicURL is the base of the links in responses (href, next, resource_url), e.g.
	// "http://provider-sim:8090". Empty: derived from the request's Host.
	PublicURL string
	// Seed seeds latency jitter and error injection; 0 picks a random seed.
	Seed uint64
}

// DefaultConfig returns the defaults documented in docs/provider-sim.md.
func DefaultConfig() Config {
	return Config{
		SpotifyTokenTTL:      time.Hour,
		SpotifyProfile:       ProfileDev,
		SpotifyRateLimit:     180,
		SpotifyRateWindow:    30 * time.Second,
		MusicBrainzRate:      1,
		MusicBrainzBurst:     1,
		MusicBrainzStrictUA:  true,
		DiscogsRateLimit:     60,
		DiscogsAnonRateLimit: 25,
		DiscogsRateWindow:    time.Minute,
	}
}

// Validate reports the first invalid setting.
func (c Config) Validate() error {
	switch {
	case c.SpotifyProfile != ProfileDev && c.SpotifyProfile != ProfileExtended:
		return fmt.Errorf("spotify profile %q: want %q or %q", c.SpotifyProfile, ProfileDev, ProfileExtended)
	case c.SpotifyTokenTTL <= 0:
		return errors.New("spotify token ttl must be positive")
	case c.SpotifyRateLimit < 0 || c.DiscogsRateLimit < 0 || c.DiscogsAnonRateLimit < 0 || c.MusicBrainzRate < 0:
		return errors.New("rate limits must not be negative")
	case c.SpotifyRateLimit > 0 && c.SpotifyRateWindow <= 0, c.DiscogsRateWindow <= 0 && (c.DiscogsRateLimit > 0 || c.DiscogsAnonRateLimit > 0):
		return errors.New("rate windows must be positive")
	case c.Latency < 0 || c.LatencyJitter < 0:
		return errors.New("latency and jitter must not be negative")
	case (c.SpotifyClientID == "") != (c.SpotifyClientSecret == ""):
		return errors.New("set both spotify client id and secret, or neither")
	}
	for _, r := range []float64{c.SpotifyErrorRate, c.MusicBrainzErrorRate, c.DiscogsErrorRate} {
		if r < 0 || r > 1 {
			return fmt.Errorf("error rate %v: want 0..1", r)
		}
	}
	return nil
}

// Server is the simulator. Its Handler serves all three providers under their prefixes.
type Server struct {
	cfg   Config
	cat   *Catalog
	clock Clock
	sleep func(ctx context.Context, d time.Duration) error

	rngMu sync.Mutex
	rng   *rand.Rand

	stats        *stats
	spotifyLimit limiter
	mbLimit      limiter
	discogsAuth  limiter
	discogsAnon  limiter

	tokensMu sync.Mutex
	tokens   map[string]spotifyToken
}

type spotifyToken struct {
	clientID string
	expires  time.Time
}

// Option customises a Server.
type Option func(*Server)

// WithClock replaces the wall clock (tests).
func WithClock(c Clock) Option { return func(s *Server) { s.clock = c } }

// WithSleep replaces the function that waits for injected latency (tests).
func WithSleep(f func(ctx context.Context, d time.Duration) error) Option {
	return func(s *Server) { s.sleep = f }
}

// New builds a Server for the catalog.
func New(cat *Catalog, cfg Config, opts ...Option) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid config: %w", err)
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	s := &Server{
		cfg:          cfg,
		cat:          cat,
		clock:        systemClock{},
		sleep:        sleepCtx,
		rng:          rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		spotifyLimit: newSlidingWindow(cfg.SpotifyRateLimit, cfg.SpotifyRateWindow),
		mbLimit:      newTokenBucket(cfg.MusicBrainzRate, cfg.MusicBrainzBurst),
		discogsAuth:  newSlidingWindow(cfg.DiscogsRateLimit, cfg.DiscogsRateWindow),
		discogsAnon:  newSlidingWindow(cfg.DiscogsAnonRateLimit, cfg.DiscogsRateWindow),
		tokens:       make(map[string]spotifyToken),
	}
	for _, o := range opts {
		o(s)
	}
	s.stats = newStats(s.clock.Now(), map[string]rateInfo{
		ProviderSpotify:         {window: cfg.SpotifyRateWindow, limit: float64(cfg.SpotifyRateLimit), key: "client_id"},
		ProviderSpotifyAccounts: {window: time.Second},
		ProviderMusicBrainz:     {window: time.Second, limit: cfg.MusicBrainzRate, key: "client_ip"},
		ProviderDiscogs:         {window: cfg.DiscogsRateWindow, limit: float64(cfg.DiscogsRateLimit), key: "token"},
	})
	return s, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Handler returns the HTTP handler with every route.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /_stats", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.stats.snapshot(s.clock.Now()))
	})
	mux.HandleFunc("POST /_stats/reset", func(w http.ResponseWriter, _ *http.Request) {
		s.stats.reset(s.clock.Now())
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /_sim/spotify/expire-tokens", func(w http.ResponseWriter, _ *http.Request) {
		s.ExpireTokens()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.Handle("/spotify/api/token", s.provider(ProviderSpotifyAccounts, s.spotifyToken))
	mux.Handle("/spotify/v1/", s.provider(ProviderSpotify, s.spotifyAPI))
	mux.Handle("/musicbrainz/ws/2/", s.provider(ProviderMusicBrainz, s.musicBrainz))
	mux.Handle("/discogs/", s.provider(ProviderDiscogs, s.discogs))
	return mux
}

// ExpireTokens makes every issued Spotify access token expired.
func (s *Server) ExpireTokens() {
	s.tokensMu.Lock()
	defer s.tokensMu.Unlock()
	clear(s.tokens)
}

// respWriter records the status and why it was given, for /_stats.
type respWriter struct {
	http.ResponseWriter
	status int
	why    outcome
}

func (w *respWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *respWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (s *Server) provider(name string, h func(*respWriter, *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := RequestKey(name, r.URL)
		s.stats.arrived(name, key, s.clock.Now())
		rw := &respWriter{ResponseWriter: w}
		defer func() {
			if rw.status == 0 {
				rw.status = http.StatusOK
			}
			s.stats.finished(name, key, rw.status, rw.why)
		}()
		d := s.latency()
		if d <= 0 {
			h(rw, r)
			return
		}
		// Half the latency is the request's way to the provider (before any
		// check: a rate limit sees the request when it arrives), half the
		// answer's way back.
		in := d / 2
		// Read the body first: net/http notices a departed client only once
		// the body is consumed.
		if r.Body != nil {
			body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			if err != nil {
				rw.status = 499
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		if err := s.sleep(r.Context(), in); err != nil {
			rw.status = 499 // client went away, as nginx logs it
			return
		}
		held := &heldWriter{header: w.Header()}
		rw.ResponseWriter = held
		h(rw, r)
		if err := s.sleep(r.Context(), d-in); err != nil {
			return
		}
		held.flush(w)
	})
}

// heldWriter keeps an answer until the latency of its way back has passed.
type heldWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (h *heldWriter) Header() http.Header { return h.header }

func (h *heldWriter) WriteHeader(code int) {
	if h.status == 0 {
		h.status = code
	}
}

func (h *heldWriter) Write(b []byte) (int, error) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	return h.body.Write(b)
}

func (h *heldWriter) flush(w http.ResponseWriter) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	w.WriteHeader(h.status)
	_, _ = w.Write(h.body.Bytes())
}

func (s *Server) latency() time.Duration {
	if s.cfg.Latency <= 0 {
		return 0
	}
	d := s.cfg.Latency
	if j := s.cfg.LatencyJitter; j > 0 {
		s.rngMu.Lock()
		d += time.Duration(s.rng.Int64N(int64(2*j)+1)) - j
		s.rngMu.Unlock()
	}
	return max(d, 0)
}

// injectError reports whether this request should get a random 503.
func (s *Server) injectError(rate float64) bool {
	if rate <= 0 {
		return false
	}
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return s.rng.Float64() < rate
}

func (s *Server) clientIP(r *http.Request) string {
	if s.cfg.TrustForwardedFor {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			first, _, _ := strings.Cut(xff, ",")
			return strings.TrimSpace(first)
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// baseURL is the simulator's own origin, for links in responses.
func (s *Server) baseURL(r *http.Request) string {
	if s.cfg.PublicURL != "" {
		return strings.TrimRight(s.cfg.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
