package musicbrainz_test

// Tests of the MusicBrainz client against provider-sim running in-process,
// with the bundled catalog: the client and the simulator share no response
// types, so these check the client against an independent rendering of
// WS/2, including its User-Agent rules, per-IP token bucket and busy 503s.
//
// Malformed JSON, wrong JSON shapes and oversized bodies are not repeated
// here: the simulator never sends them, and the fixture tests in
// musicbrainz_test.go cover them (TestErrors).

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/djmeta/enrichment/internal/metrics"
	"github.com/djmeta/enrichment/internal/provider"
	"github.com/djmeta/enrichment/internal/provider/musicbrainz"
	"github.com/djmeta/enrichment/internal/providersim"
)

const (
	simCatalogPath = "../../../testdata/catalog/catalog.json"
	simUA          = "djmeta-enrichment-test/1.0 ( test@example.com )"
)

// Bicep - Apricots in testdata/catalog/catalog.json: the Extended Mix
// (recording bicep--apricots--extended-mix) and the original, whose ISRC
// MusicBrainz does not know (musicbrainz_isrc false).
const (
	apricotsExtMBID  = "d525fbc7-104c-4001-9200-0ce418fc2178"
	apricotsExtISRC  = "GBAUJ2048032"
	apricotsOrigMBID = "632fb661-6d4f-4e35-a767-1526ae6bfc2f"
	apricotsOrigISRC = "GBAUJ2078772"
)

var apricotsExt = provider.Recording{
	Provider:   provider.MusicBrainz,
	ID:         apricotsExtMBID,
	Title:      "Apricots (Extended Mix)",
	Artists:    []string{"Bicep"},
	DurationMS: 563545,
	ISRCs:      []string{apricotsExtISRC},
}

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
// MusicBrainz rate limit off unless mutate sets one) changed by mutate.
func startSim(t *testing.T, mutate func(*providersim.Config)) *simEnv {
	t.Helper()
	cat, err := loadSimCatalog()
	if err != nil {
		t.Fatalf("LoadCatalog: %v", err)
	}
	cfg := providersim.DefaultConfig()
	cfg.Seed = 1
	cfg.MusicBrainzRate = 0
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

// client returns a client for the simulator with a proper User-Agent, a
// millisecond backoff and metrics; mutate adjusts the Config.
func (e *simEnv) client(t *testing.T, mutate func(*musicbrainz.Config)) *musicbrainz.Client {
	t.Helper()
	cfg := musicbrainz.Config{
		APIURL:    e.srv.URL + "/musicbrainz/ws/2",
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
	c, err := musicbrainz.New(cfg)
	if err != nil {
		t.Fatalf("musicbrainz.New: %v", err)
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
	return s.Providers[providersim.ProviderMusicBrainz]
}

func find(recs []provider.Recording, id string) (provider.Recording, bool) {
	for _, r := range recs {
		if r.ID == id {
			return r, true
		}
	}
	return provider.Recording{}, false
}

func ids(recs []provider.Recording) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

// wantErr checks err's kind and HTTP status (KindUnknown wants no error).
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
	if pe.Kind != kind || pe.Status != status || pe.Provider != provider.MusicBrainz {
		t.Errorf("error = %v: kind %v, status %d, provider %q; want %v, %d, %q",
			err, pe.Kind, pe.Status, pe.Provider, kind, status, provider.MusicBrainz)
	}
}

func TestSimKnownTrack(t *testing.T) {
	t.Parallel()
	env := startSim(t, nil)
	c := env.client(t, nil)
	tests := []struct {
		name      string
		call      func(ctx context.Context) ([]provider.Recording, error)
		wantFirst bool     // the Extended Mix must rank first
		wantAlso  []string // other MBIDs that must be among the candidates
	}{
		{
			name: "search by artist and title",
			call: func(ctx context.Context) ([]provider.Recording, error) {
				return c.Search(ctx, provider.Query{Artist: "Bicep", Title: "Apricots (Extended Mix)"})
			},
			wantFirst: true,
			wantAlso:  []string{apricotsOrigMBID}, // other versions are candidates too; the matcher picks
		},
		{
			name: "lookup by MBID, upper case",
			call: func(ctx context.Context) ([]provider.Recording, error) {
				return c.ByID(ctx, "D525FBC7-104C-4001-9200-0CE418FC2178")
			},
			wantFirst: true,
		},
		{
			name: "lookup by ISRC, dashed",
			call: func(ctx context.Context) ([]provider.Recording, error) { return c.ByISRC(ctx, "GB-AUJ-20-48032") },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := tt.call(context.Background())
			if err != nil {
				t.Fatalf("error = %v, want none", err)
			}
			got, ok := find(recs, apricotsExtMBID)
			if !ok {
				t.Fatalf("candidates %v do not include %s", ids(recs), apricotsExtMBID)
			}
			if tt.wantFirst && recs[0].ID != apricotsExtMBID {
				t.Errorf("first candidate = %s, want %s", recs[0].ID, apricotsExtMBID)
			}
			opts := cmpopts.IgnoreFields(provider.Recording{}, "Releases", "Genres", "SearchScore", "URL")
			if diff := cmp.Diff(apricotsExt, got, opts); diff != "" {
				t.Errorf("candidate mismatch (-want +got):\n%s", diff)
			}
			for _, id := range tt.wantAlso {
				if _, ok := find(recs, id); !ok {
					t.Errorf("candidates %v do not include %s", ids(recs), id)
				}
			}
		})
	}
}

func TestSimNotFound(t *testing.T) {
	t.Parallel()
	env := startSim(t, nil)
	c := env.client(t, nil)
	tests := []struct {
		name string
		call func(ctx context.Context) ([]provider.Recording, error)
	}{
		{
			name: "unknown MBID",
			call: func(ctx context.Context) ([]provider.Recording, error) {
				return c.ByID(ctx, "00000000-0000-4000-8000-000000000000")
			},
		},
		{
			name: "unknown ISRC",
			call: func(ctx context.Context) ([]provider.Recording, error) { return c.ByISRC(ctx, "ZZXXX0000000") },
		},
		{
			name: "ISRC of a recording MusicBrainz has without it",
			call: func(ctx context.Context) ([]provider.Recording, error) { return c.ByISRC(ctx, apricotsOrigISRC) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := tt.call(context.Background())
			wantErr(t, err, provider.KindNotFound, http.StatusNotFound)
			if !provider.IsNotFound(err) {
				t.Errorf("IsNotFound(%v) = false, want true", err)
			}
			if len(recs) != 0 {
				t.Errorf("candidates = %v, want none", ids(recs))
			}
		})
	}
}

// TestSimUserAgentRefused checks the simulator's User-Agent rules with raw
// requests: New refuses a User-Agent that is not "name/version ( contact )",
// so the client cannot send one.
func TestSimUserAgentRefused(t *testing.T) {
	t.Parallel()
	env := startSim(t, nil)
	tests := []struct {
		name       string
		userAgent  string // "": none sent
		wantStatus int
		wantWho    string // X-Ratelimit-Who
	}{
		{name: "missing", userAgent: "", wantStatus: http.StatusForbidden, wantWho: "ua-missing"},
		{name: "Go default", userAgent: "Go-http-client/1.1", wantStatus: http.StatusForbidden, wantWho: "ua-missing"},
		{name: "curl", userAgent: "curl/8.5.0", wantStatus: http.StatusForbidden, wantWho: "ua-missing"},
		{name: "no version or contact", userAgent: "djmeta-enrichment", wantStatus: http.StatusBadRequest},
		{name: "no contact", userAgent: "djmeta-enrichment/1.0", wantStatus: http.StatusBadRequest},
		{name: "proper", userAgent: simUA, wantStatus: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, env.srv.URL+"/musicbrainz/ws/2/recording/"+apricotsExtMBID+"?fmt=json", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("User-Agent", tt.userAgent) // an empty value sends none
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("GET: %v", err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if got := resp.Header.Get("X-Ratelimit-Who"); got != tt.wantWho {
				t.Errorf("X-Ratelimit-Who = %q, want %q", got, tt.wantWho)
			}
			if _, err := musicbrainz.New(musicbrainz.Config{UserAgent: tt.userAgent}); (err == nil) != (tt.wantStatus == http.StatusOK) {
				t.Errorf("New(UserAgent %q) error = %v; want an error exactly when the simulator refuses it", tt.userAgent, err)
			}
		})
	}
}

// TestSimErrors drives the client into the simulator's refusals: a library
// User-Agent, the per-IP token bucket, injected busy 503s and latency.
func TestSimErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		sim    func(*providersim.Config)
		client func(*musicbrainz.Config)
		// warmup lookups of the known recording must succeed first.
		warmup         int
		wantKind       provider.ErrorKind
		wantStatus     int
		wantRetryAfter time.Duration
		// wantRequests is what the simulator saw in total (warm-up included).
		wantRequests int64
		check        func(t *testing.T, env *simEnv, s providersim.ProviderStats)
	}{
		{
			// New accepts it (it has the form), but MusicBrainz treats
			// library names as anonymous: 403, a configuration error.
			name:     "library User-Agent in the proper form",
			client:   func(c *musicbrainz.Config) { c.UserAgent = "python-requests/2.32 ( ops@example.org )" },
			wantKind: provider.KindUnauthorized, wantStatus: http.StatusForbidden,
			wantRequests: 1,
			check: func(t *testing.T, _ *simEnv, s providersim.ProviderStats) {
				if s.AuthFailuresTotal != 1 {
					t.Errorf("sim auth_failures_total = %d, want 1 (never retried)", s.AuthFailuresTotal)
				}
			},
		},
		{
			name:     "rate limit: 503 with Retry-After longer than MaxRetryAfter",
			sim:      func(c *providersim.Config) { c.MusicBrainzRate, c.MusicBrainzBurst = 1, 1 },
			client:   func(c *musicbrainz.Config) { c.Transport.MaxRetryAfter = 500 * time.Millisecond },
			warmup:   1,
			wantKind: provider.KindRateLimited, wantStatus: http.StatusServiceUnavailable, wantRetryAfter: time.Second,
			wantRequests: 2,
			check: func(t *testing.T, env *simEnv, s providersim.ProviderStats) {
				if s.RateLimitedTotal != 1 {
					t.Errorf("sim rate_limited_total = %d, want 1", s.RateLimitedTotal)
				}
				if got := testutil.ToFloat64(env.pm.RateLimited.WithLabelValues(provider.MusicBrainz)); got != 1 {
					t.Errorf("enrichment_provider_rate_limited_total = %v, want 1", got)
				}
			},
		},
		{
			name:   "rate limit: Retry-After: 1 is waited for, then success",
			sim:    func(c *providersim.Config) { c.MusicBrainzRate, c.MusicBrainzBurst = 1, 1 },
			warmup: 1,
			// The second lookup is refused once, waits a second and passes.
			wantRequests: 3,
			check: func(t *testing.T, _ *simEnv, s providersim.ProviderStats) {
				if s.RateLimitedTotal != 1 {
					t.Errorf("sim rate_limited_total = %d, want 1", s.RateLimitedTotal)
				}
			},
		},
		{
			// The simulator's injected 503 is the real "busy" answer, which
			// carries Retry-After: 0. The Transport treats 503 with
			// Retry-After as throttling: it retries MaxThrottled times
			// without spending MaxAttempts, then returns KindRateLimited
			// (not KindUnavailable).
			name: "injected busy 503s until MaxThrottled",
			sim:  func(c *providersim.Config) { c.MusicBrainzErrorRate = 1 },
			client: func(c *musicbrainz.Config) {
				c.Transport.MaxAttempts = 3
				c.Transport.MaxThrottled = 2
			},
			wantKind: provider.KindRateLimited, wantStatus: http.StatusServiceUnavailable, wantRetryAfter: 0,
			wantRequests: 3, // MaxThrottled + 1
			check: func(t *testing.T, _ *simEnv, s providersim.ProviderStats) {
				if s.InjectedErrorsTotal != 3 {
					t.Errorf("sim injected_errors_total = %d, want 3", s.InjectedErrorsTotal)
				}
			},
		},
		{
			name: "latency longer than the client timeout",
			sim:  func(c *providersim.Config) { c.Latency = time.Minute },
			client: func(c *musicbrainz.Config) {
				c.Transport.Client = &http.Client{Timeout: 100 * time.Millisecond}
				c.Transport.MaxAttempts = 2
			},
			wantKind: provider.KindUnavailable, wantStatus: 0,
			wantRequests: 2,
			check: func(t *testing.T, env *simEnv, _ providersim.ProviderStats) {
				if got := testutil.ToFloat64(env.pm.Requests.WithLabelValues(provider.MusicBrainz, "timeout")); got != 2 {
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
				if _, err := c.ByID(ctx, apricotsExtMBID); err != nil {
					t.Fatalf("warm-up call %d: %v", i+1, err)
				}
			}
			recs, err := c.ByID(ctx, apricotsExtMBID)
			wantErr(t, err, tt.wantKind, tt.wantStatus)
			if err == nil {
				if _, ok := find(recs, apricotsExtMBID); !ok {
					t.Errorf("candidates = %v, want %s", ids(recs), apricotsExtMBID)
				}
			}
			if ra, ok := provider.RetryAfterOf(err); ok && ra != tt.wantRetryAfter {
				t.Errorf("RetryAfter = %s, want %s", ra, tt.wantRetryAfter)
			}
			s := env.stats(t)
			if s.RequestsTotal != tt.wantRequests {
				t.Errorf("sim requests = %d, want %d", s.RequestsTotal, tt.wantRequests)
			}
			if tt.check != nil {
				tt.check(t, env, s)
			}
		})
	}
}
