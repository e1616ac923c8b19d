package discogs_test

// Tests of the Discogs client against provider-sim running in-process, with
// the bundled catalog: the client and the simulator share no response
// types, so these check the client against an independent rendering of the
// API, including its token check, moving-window rate limit with
// X-Discogs-Ratelimit* headers, and injected 503s.
//
// Malformed JSON, wrong JSON shapes and oversized bodies are not repeated
// here: the simulator never sends them, and the fixture tests in
// discogs_test.go cover them (TestErrors).

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/djmeta/enrichment/internal/metrics"
	"github.com/djmeta/enrichment/internal/provider"
	"github.com/djmeta/enrichment/internal/provider/discogs"
	"github.com/djmeta/enrichment/internal/providersim"
)

const (
	simCatalogPath = "../../../testdata/catalog/catalog.json"
	simUA          = "djmeta-enrichment-test/1.0 +https://example.org"
	// simToken is the only personal token the simulator accepts.
	simToken = "sim-good-token"
)

// The single "Apricots" by Bicep in testdata/catalog/catalog.json (release
// bicep--apricots--single): the original, the Extended Mix and a remix.
const apricotsSingle = "26539428"

// loadSimCatalog parses the catalog once; it is read-only afterwards.
var loadSimCatalog = sync.OnceValues(func() (*providersim.Catalog, error) {
	return providersim.LoadCatalog(simCatalogPath)
})

// simEnv is one in-process simulator and the metrics of the clients built
// on it.
type simEnv struct {
	srv *httptest.Server
	pm  *metrics.Providers
}

// startSim starts provider-sim with the default configuration (fixed seed,
// only simToken accepted) changed by mutate.
func startSim(t *testing.T, mutate func(*providersim.Config)) *simEnv {
	t.Helper()
	cat, err := loadSimCatalog()
	if err != nil {
		t.Fatalf("LoadCatalog: %v", err)
	}
	cfg := providersim.DefaultConfig()
	cfg.Seed = 1
	cfg.DiscogsTokens = []string{simToken}
	if mutate != nil {
		mutate(&cfg)
	}
	sim, err := providersim.New(cat, cfg)
	if err != nil {
		t.Fatalf("providersim.New: %v", err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	return &simEnv{srv: srv, pm: metrics.NewProviders(prometheus.NewRegistry())}
}

// client returns a client for the simulator with the accepted token, a
// millisecond backoff and metrics; mutate adjusts the Config.
func (e *simEnv) client(t *testing.T, mutate func(*discogs.Config)) *discogs.Client {
	t.Helper()
	cfg := discogs.Config{
		APIURL:    e.srv.URL + "/discogs",
		Token:     simToken,
		UserAgent: simUA,
		Transport: provider.TransportConfig{
			Client:      &http.Client{Timeout: 5 * time.Second},
			BackoffBase: time.Millisecond,
			Metrics:     e.pm,
		},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := discogs.New(cfg)
	if err != nil {
		t.Fatalf("discogs.New: %v", err)
	}
	return c
}

// stats reads GET /_stats; every client call has returned by then, so the
// counters are final.
func (e *simEnv) stats(t *testing.T) providersim.ProviderStats {
	t.Helper()
	resp, err := http.Get(e.srv.URL + "/_stats")
	if err != nil {
		t.Fatalf("GET /_stats: %v", err)
	}
	defer resp.Body.Close()
	var s providersim.StatsSnapshot
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatalf("decode /_stats: %v", err)
	}
	return s.Providers[providersim.ProviderDiscogs]
}

// track is what identifies a Discogs candidate: a release and a position.
type track struct{ ID, Position, Title string }

func tracks(recs []provider.Recording) []track {
	out := make([]track, len(recs))
	for i, r := range recs {
		out[i] = track{r.ID, r.Position, r.Title}
	}
	return out
}

// wantErr checks err's kind and HTTP status (KindUnknown wants no error)
// and that it carries no token.
func wantErr(t *testing.T, err error, kind provider.ErrorKind, status int) {
	t.Helper()
	if kind == provider.KindUnknown {
		if err != nil {
			t.Fatalf("error = %v, want none", err)
		}
		return
	}
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error = %v (%T), want a *provider.Error", err, err)
	}
	if pe.Kind != kind || pe.Status != status || pe.Provider != provider.Discogs {
		t.Errorf("error = %v: kind %v, status %d, provider %q; want %v, %d, %q",
			err, pe.Kind, pe.Status, pe.Provider, kind, status, provider.Discogs)
	}
	for _, tok := range []string{simToken, "wrong-token"} {
		if strings.Contains(err.Error(), tok) {
			t.Errorf("error %q contains the token", err)
		}
	}
}

func TestSimKnownTrack(t *testing.T) {
	t.Parallel()
	extended := track{apricotsSingle, "2", "Apricots (Extended Mix)"}
	tests := []struct {
		name string
		call func(ctx context.Context, c *discogs.Client) ([]provider.Recording, error)
		want []track // must all be among the candidates, in this order
		// The simulator saw from minRequests to maxRequests requests.
		minRequests, maxRequests int64
	}{
		{
			name: "search finds the single's Extended Mix",
			call: func(ctx context.Context, c *discogs.Client) ([]provider.Recording, error) {
				return c.Search(ctx, provider.Query{Artist: "Bicep", Title: "Apricots (Extended Mix)"})
			},
			want: []track{extended},
			// The search, then a lookup of each release it found, at most
			// LookupReleases (with the bundled catalog: the single and the
			// album Isles, which carries the original).
			minRequests: 2, maxRequests: 1 + discogs.LookupReleasesDefault,
		},
		{
			name: "lookup of the release: every track in order",
			call: func(ctx context.Context, c *discogs.Client) ([]provider.Recording, error) {
				return c.ByID(ctx, apricotsSingle)
			},
			want: []track{
				{apricotsSingle, "1", "Apricots"},
				extended,
				{apricotsSingle, "3", "Apricots (Patrick Topping Remix)"},
			},
			minRequests: 1, maxRequests: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := startSim(t, nil)
			c := env.client(t, nil)
			recs, err := tt.call(context.Background(), c)
			if err != nil {
				t.Fatalf("error = %v, want none", err)
			}
			got := tracks(recs)
			var kept []track // got, restricted to the wanted tracks
			for _, g := range got {
				for _, w := range tt.want {
					if g == w {
						kept = append(kept, g)
					}
				}
			}
			if diff := cmp.Diff(tt.want, kept); diff != "" {
				t.Errorf("candidates %v: wanted tracks mismatch (-want +got):\n%s", got, diff)
			}
			for _, r := range recs {
				if r.ID == apricotsSingle && (len(r.Artists) != 1 || r.Artists[0] != "Bicep" ||
					len(r.Releases) != 1 || r.Releases[0].Title != "Apricots" || r.Releases[0].Type != "single" ||
					r.Releases[0].Label != "Ninja Tune" || r.Releases[0].Date != "2020-09-25") {
					t.Errorf("candidate %+v: want by Bicep on the single Apricots (Ninja Tune, 2020-09-25)", r)
				}
			}
			s := env.stats(t)
			if s.RequestsTotal < tt.minRequests || s.RequestsTotal > tt.maxRequests {
				t.Errorf("sim requests = %d, want %d..%d", s.RequestsTotal, tt.minRequests, tt.maxRequests)
			}
			if s.Status["200"] != s.RequestsTotal {
				t.Errorf("sim statuses = %v, want only 200s", s.Status)
			}
			limit, used, remaining, seen := c.RateLimit()
			if !seen || limit != 60 || used != int(s.RequestsTotal) || remaining != limit-used {
				t.Errorf("RateLimit() = %d, %d, %d, %v; want 60, %d, %d, true",
					limit, used, remaining, seen, s.RequestsTotal, 60-int(s.RequestsTotal))
			}
		})
	}
}

func TestSimByISRCSendsNothing(t *testing.T) {
	t.Parallel()
	env := startSim(t, nil)
	c := env.client(t, nil)
	recs, err := c.ByISRC(context.Background(), "GBAUJ2048032")
	if err != nil || len(recs) != 0 {
		t.Errorf("ByISRC = %v, %v; want no candidates and no error", recs, err)
	}
	if got := env.stats(t).RequestsTotal; got != 0 {
		t.Errorf("sim requests = %d, want 0", got)
	}
}

func TestSimNotFound(t *testing.T) {
	t.Parallel()
	env := startSim(t, nil)
	c := env.client(t, nil)
	tests := []struct {
		name string
		id   string
	}{
		{"unknown release", "999999999"},
		{"release id 1", "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := c.ByID(context.Background(), tt.id)
			wantErr(t, err, provider.KindNotFound, http.StatusNotFound)
			if !provider.IsNotFound(err) {
				t.Errorf("IsNotFound(%v) = false, want true", err)
			}
			if len(recs) != 0 {
				t.Errorf("candidates = %v, want none", tracks(recs))
			}
		})
	}
}

// TestSimErrors drives the client into the simulator's refusals: a wrong
// token, its moving-window rate limit, injected 503s and latency.
func TestSimErrors(t *testing.T) {
	t.Parallel()
	byID := func(ctx context.Context, c *discogs.Client) error {
		_, err := c.ByID(ctx, apricotsSingle)
		return err
	}
	search := func(ctx context.Context, c *discogs.Client) error {
		_, err := c.Search(ctx, provider.Query{Artist: "Bicep", Title: "Apricots (Extended Mix)"})
		return err
	}
	tests := []struct {
		name   string
		sim    func(*providersim.Config)
		client func(*discogs.Config)
		// warmup lookups of the known release must succeed first.
		warmup         int
		call           func(ctx context.Context, c *discogs.Client) error
		wantKind       provider.ErrorKind
		wantStatus     int
		wantRetryAfter func(time.Duration) bool
		// wantRequests is what the simulator saw in total (warm-up included).
		wantRequests int64
		check        func(t *testing.T, env *simEnv, c *discogs.Client, s providersim.ProviderStats)
	}{
		{
			name:     "wrong token on search",
			client:   func(c *discogs.Config) { c.Token = "wrong-token" },
			call:     search,
			wantKind: provider.KindUnauthorized, wantStatus: http.StatusUnauthorized,
			wantRequests: 1,
			check: func(t *testing.T, _ *simEnv, _ *discogs.Client, s providersim.ProviderStats) {
				if s.AuthFailuresTotal != 1 {
					t.Errorf("sim auth_failures_total = %d, want 1 (never retried)", s.AuthFailuresTotal)
				}
			},
		},
		{
			name:     "wrong token on a release lookup",
			client:   func(c *discogs.Config) { c.Token = "wrong-token" },
			call:     byID,
			wantKind: provider.KindUnauthorized, wantStatus: http.StatusUnauthorized,
			wantRequests: 1,
		},
		{
			name: "rate limit: Retry-After longer than MaxRetryAfter is returned",
			sim:  func(c *providersim.Config) { c.DiscogsRateLimit = 2 },
			client: func(c *discogs.Config) {
				c.Transport.MaxRetryAfter = time.Second
			},
			warmup:   2,
			call:     byID,
			wantKind: provider.KindRateLimited, wantStatus: http.StatusTooManyRequests,
			wantRetryAfter: func(d time.Duration) bool { return d > time.Second && d <= time.Minute },
			wantRequests:   3,
			check: func(t *testing.T, env *simEnv, c *discogs.Client, s providersim.ProviderStats) {
				if s.RateLimitedTotal != 1 {
					t.Errorf("sim rate_limited_total = %d, want 1", s.RateLimitedTotal)
				}
				if got := testutil.ToFloat64(env.pm.RateLimited.WithLabelValues(provider.Discogs)); got != 1 {
					t.Errorf("enrichment_provider_rate_limited_total = %v, want 1", got)
				}
				if limit, used, remaining, _ := c.RateLimit(); limit != 2 || used != 2 || remaining != 0 {
					t.Errorf("RateLimit() = %d, %d, %d; want 2, 2, 0", limit, used, remaining)
				}
			},
		},
		{
			name:   "rate limit: Retry-After: 1 is waited for, then success",
			sim:    func(c *providersim.Config) { c.DiscogsRateLimit, c.DiscogsRateWindow = 1, time.Second },
			warmup: 1,
			call:   byID,
			// The second lookup is refused once, waits a second and passes.
			wantRequests: 3,
			check: func(t *testing.T, _ *simEnv, _ *discogs.Client, s providersim.ProviderStats) {
				if s.Status["429"] != 1 {
					t.Errorf("sim 429 answers = %d, want 1", s.Status["429"])
				}
			},
		},
		{
			name:     "injected 503s until MaxAttempts",
			sim:      func(c *providersim.Config) { c.DiscogsErrorRate = 1 },
			client:   func(c *discogs.Config) { c.Transport.MaxAttempts = 3 },
			call:     byID,
			wantKind: provider.KindUnavailable, wantStatus: http.StatusServiceUnavailable,
			wantRequests: 3,
			check: func(t *testing.T, _ *simEnv, _ *discogs.Client, s providersim.ProviderStats) {
				if s.InjectedErrorsTotal != 3 {
					t.Errorf("sim injected_errors_total = %d, want 3", s.InjectedErrorsTotal)
				}
			},
		},
		{
			name: "latency longer than the client timeout",
			sim:  func(c *providersim.Config) { c.Latency = time.Minute },
			client: func(c *discogs.Config) {
				c.Transport.Client = &http.Client{Timeout: 100 * time.Millisecond}
				c.Transport.MaxAttempts = 2
			},
			call:     byID,
			wantKind: provider.KindUnavailable, wantStatus: 0,
			wantRequests: 2,
			check: func(t *testing.T, env *simEnv, _ *discogs.Client, _ providersim.ProviderStats) {
				if got := testutil.ToFloat64(env.pm.Requests.WithLabelValues(provider.Discogs, "timeout")); got != 2 {
					t.Errorf(`enrichment_provider_requests_total{code="timeout"} = %v, want 2 (MaxAttempts)`, got)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := startSim(t, tt.sim)
			c := env.client(t, tt.client)
			ctx := context.Background()
			for i := range tt.warmup {
				if err := byID(ctx, c); err != nil {
					t.Fatalf("warm-up call %d: %v", i+1, err)
				}
			}
			err := tt.call(ctx, c)
			wantErr(t, err, tt.wantKind, tt.wantStatus)
			ra, _ := provider.RetryAfterOf(err)
			if tt.wantRetryAfter != nil && !tt.wantRetryAfter(ra) {
				t.Errorf("RetryAfter = %s, not in the wanted range", ra)
			}
			s := env.stats(t)
			if s.RequestsTotal != tt.wantRequests {
				t.Errorf("sim requests = %d, want %d", s.RequestsTotal, tt.wantRequests)
			}
			if tt.check != nil {
				tt.check(t, env, c, s)
			}
		})
	}
}
