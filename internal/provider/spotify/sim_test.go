package spotify_test

// Tests of the Spotify client against provider-sim running in-process, with
// the bundled catalog: the client and the simulator share no response types,
// so these check the client against an independent rendering of the API,
// including its real token flow, rate limiter and error injection.
//
// Malformed JSON, wrong JSON shapes and oversized bodies are not repeated
// here: the simulator never sends them, and the fixture tests in
// spotify_test.go cover them (TestErrors).

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/djmeta/enrichment/internal/metrics"
	"github.com/djmeta/enrichment/internal/provider"
	"github.com/djmeta/enrichment/internal/provider/spotify"
	"github.com/djmeta/enrichment/internal/providersim"
)

const simCatalogPath = "../../../testdata/catalog/catalog.json"

// The simulator's only accepted credentials.
const (
	simClientID     = "sim-client-id"
	simClientSecret = "sim-client-secret"
)

// Bicep - Apricots (Extended Mix) in testdata/catalog/catalog.json (recording
// bicep--apricots--extended-mix), track 2 of the single "Apricots".
const (
	apricotsExtID   = "wnAvylO9Bt09HWnQAFpif0"
	apricotsExtISRC = "GBAUJ2048032"
)

var apricotsExt = provider.Recording{
	Provider:   provider.Spotify,
	ID:         apricotsExtID,
	Title:      "Apricots - Extended Mix",
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
	sim *providersim.Server
	srv *httptest.Server
	pm  *metrics.Providers
}

// startSim starts provider-sim with the default configuration (fixed seed,
// credentials simClientID/simClientSecret) changed by mutate.
func startSim(t *testing.T, mutate func(*providersim.Config), opts ...providersim.Option) *simEnv {
	t.Helper()
	cat, err := loadSimCatalog()
	if err != nil {
		t.Fatalf("LoadCatalog: %v", err)
	}
	cfg := providersim.DefaultConfig()
	cfg.Seed = 1
	cfg.SpotifyClientID, cfg.SpotifyClientSecret = simClientID, simClientSecret
	if mutate != nil {
		mutate(&cfg)
	}
	sim, err := providersim.New(cat, cfg, opts...)
	if err != nil {
		t.Fatalf("providersim.New: %v", err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	return &simEnv{sim: sim, srv: srv, pm: metrics.NewProviders(prometheus.NewRegistry())}
}

// client returns a client for the simulator with the right credentials, a
// millisecond backoff and metrics; mutate adjusts the Config.
func (e *simEnv) client(t *testing.T, mutate func(*spotify.Config)) *spotify.Client {
	t.Helper()
	cfg := spotify.Config{
		ClientID:     simClientID,
		ClientSecret: simClientSecret,
		APIURL:       e.srv.URL + "/spotify/v1",
		TokenURL:     e.srv.URL + "/spotify/api/token",
		Transport: provider.TransportConfig{
			Client:      &http.Client{Timeout: 5 * time.Second},
			BackoffBase: time.Millisecond,
			Metrics:     e.pm,
		},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := spotify.New(cfg)
	if err != nil {
		t.Fatalf("spotify.New: %v", err)
	}
	return c
}

// stats reads GET /_stats. Every client call has returned by then, and the
// simulator counts a request when it arrives and its status before the
// response is complete, so the counters are final.
func (e *simEnv) stats(t *testing.T) providersim.StatsSnapshot {
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
	return s
}

func (e *simEnv) requests(code string) float64 {
	return testutil.ToFloat64(e.pm.Requests.WithLabelValues(provider.Spotify, code))
}

// find returns the candidate with id.
func find(recs []provider.Recording, id string) (provider.Recording, bool) {
	for _, r := range recs {
		if r.ID == id {
			return r, true
		}
	}
	return provider.Recording{}, false
}

// wantErr checks err's kind and HTTP status (KindUnknown wants no error) and
// that it carries no credential.
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
	if pe.Kind != kind || pe.Status != status || pe.Provider != provider.Spotify {
		t.Errorf("error = %v: kind %v, status %d, provider %q; want %v, %d, %q",
			err, pe.Kind, pe.Status, pe.Provider, kind, status, provider.Spotify)
	}
	for _, secret := range []string{simClientSecret, "wrong-secret", "BQ"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q contains a credential (%q)", err, secret)
		}
	}
}

func TestSimKnownTrack(t *testing.T) {
	t.Parallel()
	env := startSim(t, nil)
	c := env.client(t, nil)
	tests := []struct {
		name string
		call func(ctx context.Context) ([]provider.Recording, error)
	}{
		{
			name: "search by artist and title",
			call: func(ctx context.Context) ([]provider.Recording, error) {
				return c.Search(ctx, provider.Query{Artist: "Bicep", Title: "Apricots (Extended Mix)"})
			},
		},
		{
			name: "lookup by id",
			call: func(ctx context.Context) ([]provider.Recording, error) { return c.ByID(ctx, apricotsExtID) },
		},
		{
			name: "search by ISRC, dashed and lower case",
			call: func(ctx context.Context) ([]provider.Recording, error) { return c.ByISRC(ctx, "gb-auj-20-48032") },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := tt.call(context.Background())
			if err != nil {
				t.Fatalf("error = %v, want none", err)
			}
			got, ok := find(recs, apricotsExtID)
			if !ok {
				t.Fatalf("candidates %v do not include %s", ids(recs), apricotsExtID)
			}
			if diff := cmp.Diff(apricotsExt, got, cmpopts.IgnoreFields(provider.Recording{}, "Releases", "URL")); diff != "" {
				t.Errorf("candidate %s mismatch (-want +got):\n%s", apricotsExtID, diff)
			}
			if len(got.Releases) != 1 || got.Releases[0].Title != "Apricots" || got.Releases[0].Type != "single" || got.Releases[0].Date != "2020-09-25" {
				t.Errorf("releases = %+v, want the single Apricots of 2020-09-25", got.Releases)
			}
		})
	}
}

func ids(recs []provider.Recording) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

func TestSimNotFound(t *testing.T) {
	t.Parallel()
	env := startSim(t, nil)
	c := env.client(t, nil)
	tests := []struct {
		name       string
		call       func(ctx context.Context) ([]provider.Recording, error)
		wantKind   provider.ErrorKind // KindUnknown: no error and no candidates
		wantStatus int
	}{
		{
			name:     "unknown track id",
			call:     func(ctx context.Context) ([]provider.Recording, error) { return c.ByID(ctx, "0000000000000000000000") },
			wantKind: provider.KindNotFound, wantStatus: http.StatusNotFound,
		},
		{
			name: "unknown ISRC is an empty search, not an error",
			call: func(ctx context.Context) ([]provider.Recording, error) { return c.ByISRC(ctx, "ZZXXX0000000") },
		},
		{
			name: "a track no provider has",
			call: func(ctx context.Context) ([]provider.Recording, error) {
				return c.Search(ctx, provider.Query{Artist: "Kiasmos", Title: "Blurred"})
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := tt.call(context.Background())
			wantErr(t, err, tt.wantKind, tt.wantStatus)
			if got := provider.IsNotFound(err); got != (tt.wantKind == provider.KindNotFound) {
				t.Errorf("IsNotFound(%v) = %v, want %v", err, got, !got)
			}
			if len(recs) != 0 {
				t.Errorf("candidates = %v, want none", ids(recs))
			}
		})
	}
}

// TestSimErrors drives the client into the simulator's refusals: bad
// credentials, its rolling-window rate limit, injected 503s and latency.
func TestSimErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		sim    func(*providersim.Config)
		client func(*spotify.Config)
		// warmup calls (ByID of the known track) must succeed first.
		warmup         int
		wantKind       provider.ErrorKind
		wantStatus     int
		wantRetryAfter func(time.Duration) bool
		// What the simulator saw in total (warm-up included).
		wantTokenRequests, wantAPIRequests int64
		check                              func(t *testing.T, env *simEnv, s providersim.StatsSnapshot)
	}{
		{
			name:     "wrong client id and secret",
			client:   func(c *spotify.Config) { c.ClientID, c.ClientSecret = "wrong-id", "wrong-secret" },
			wantKind: provider.KindUnauthorized, wantStatus: http.StatusBadRequest,
			wantTokenRequests: 1, wantAPIRequests: 0,
			check: func(t *testing.T, _ *simEnv, s providersim.StatsSnapshot) {
				if got := s.Providers[providersim.ProviderSpotifyAccounts].AuthFailuresTotal; got != 1 {
					t.Errorf("token auth failures = %d, want 1 (never retried)", got)
				}
			},
		},
		{
			name:     "right client id, wrong secret",
			client:   func(c *spotify.Config) { c.ClientSecret = "wrong-secret" },
			wantKind: provider.KindUnauthorized, wantStatus: http.StatusBadRequest,
			wantTokenRequests: 1, wantAPIRequests: 0,
		},
		{
			name:     "rate limit: Retry-After longer than MaxRetryAfter is returned",
			sim:      func(c *providersim.Config) { c.SpotifyRateLimit, c.SpotifyRateWindow = 2, 30*time.Second },
			client:   func(c *spotify.Config) { c.Transport.MaxRetryAfter = time.Second },
			warmup:   2,
			wantKind: provider.KindRateLimited, wantStatus: http.StatusTooManyRequests,
			wantRetryAfter:    func(d time.Duration) bool { return d > time.Second && d <= 30*time.Second },
			wantTokenRequests: 1, wantAPIRequests: 3,
			check: func(t *testing.T, env *simEnv, s providersim.StatsSnapshot) {
				if got := s.Providers[providersim.ProviderSpotify].RateLimitedTotal; got != 1 {
					t.Errorf("sim rate_limited_total = %d, want 1", got)
				}
				if got := testutil.ToFloat64(env.pm.RateLimited.WithLabelValues(provider.Spotify)); got != 1 {
					t.Errorf("enrichment_provider_rate_limited_total = %v, want 1", got)
				}
			},
		},
		{
			name:   "rate limit: a short Retry-After is waited for, then success",
			sim:    func(c *providersim.Config) { c.SpotifyRateLimit, c.SpotifyRateWindow = 1, time.Second },
			warmup: 1,
			// The second call is refused once with Retry-After: 1, waits and passes.
			wantTokenRequests: 1, wantAPIRequests: 3,
			check: func(t *testing.T, _ *simEnv, s providersim.StatsSnapshot) {
				if got := s.Providers[providersim.ProviderSpotify].Status["429"]; got != 1 {
					t.Errorf("sim 429 answers = %d, want 1", got)
				}
			},
		},
		{
			name:     "injected 503s until MaxAttempts",
			sim:      func(c *providersim.Config) { c.SpotifyErrorRate = 1 },
			client:   func(c *spotify.Config) { c.Transport.MaxAttempts = 3 },
			wantKind: provider.KindUnavailable, wantStatus: http.StatusServiceUnavailable,
			wantTokenRequests: 1, wantAPIRequests: 3,
			check: func(t *testing.T, _ *simEnv, s providersim.StatsSnapshot) {
				if got := s.Providers[providersim.ProviderSpotify].InjectedErrorsTotal; got != 3 {
					t.Errorf("sim injected_errors_total = %d, want 3", got)
				}
			},
		},
		{
			// Latency delays the token endpoint too: the token request is
			// the one that times out. (The simulator sleeps out the whole
			// latency of a POST whose client left: net/http notices a
			// closed connection only once the body is read. So it is kept
			// short here; TestSimAPITimeout holds GETs instead.)
			name: "latency longer than the client timeout",
			sim:  func(c *providersim.Config) { c.Latency = 300 * time.Millisecond },
			client: func(c *spotify.Config) {
				c.Transport.Client = &http.Client{Timeout: 100 * time.Millisecond}
				c.Transport.MaxAttempts = 2
			},
			wantKind: provider.KindUnavailable, wantStatus: 0,
			wantTokenRequests: 2, wantAPIRequests: 0,
			check: func(t *testing.T, env *simEnv, _ providersim.StatsSnapshot) {
				if got := env.requests("timeout"); got != 2 {
					t.Errorf(`enrichment_provider_requests_total{code="timeout"} = %v, want 2`, got)
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
				if _, err := c.ByID(ctx, apricotsExtID); err != nil {
					t.Fatalf("warm-up call %d: %v", i+1, err)
				}
			}
			recs, err := c.ByID(ctx, apricotsExtID)
			wantErr(t, err, tt.wantKind, tt.wantStatus)
			if err == nil {
				if _, ok := find(recs, apricotsExtID); !ok {
					t.Errorf("candidates = %v, want %s", ids(recs), apricotsExtID)
				}
			}
			ra, _ := provider.RetryAfterOf(err)
			if tt.wantRetryAfter != nil && !tt.wantRetryAfter(ra) {
				t.Errorf("RetryAfter = %s, not in the wanted range", ra)
			}
			s := env.stats(t)
			if got := s.Providers[providersim.ProviderSpotifyAccounts].RequestsTotal; got != tt.wantTokenRequests {
				t.Errorf("token requests = %d, want %d", got, tt.wantTokenRequests)
			}
			if got := s.Providers[providersim.ProviderSpotify].RequestsTotal; got != tt.wantAPIRequests {
				t.Errorf("API requests = %d, want %d", got, tt.wantAPIRequests)
			}
			if tt.check != nil {
				tt.check(t, env, s)
			}
		})
	}
}

// TestSimAPITimeout makes only the Web API slow, once a token is held: the
// latency hook serves the first requests at once and holds later ones
// until the client gives up.
func TestSimAPITimeout(t *testing.T) {
	t.Parallel()
	var served atomic.Int32
	const fast = 4 // the token request and the first lookup, each sleeping its way in and back
	hold := func(ctx context.Context, _ time.Duration) error {
		if served.Add(1) <= fast {
			return nil
		}
		<-ctx.Done() // slower than any client timeout
		return ctx.Err()
	}
	env := startSim(t, func(c *providersim.Config) { c.Latency = time.Minute }, providersim.WithSleep(hold))
	c := env.client(t, func(c *spotify.Config) {
		c.Transport.Client = &http.Client{Timeout: 100 * time.Millisecond}
		c.Transport.MaxAttempts = 2
	})
	ctx := context.Background()
	if _, err := c.ByID(ctx, apricotsExtID); err != nil {
		t.Fatalf("first lookup: %v", err)
	}
	_, err := c.ByID(ctx, apricotsExtID)
	wantErr(t, err, provider.KindUnavailable, 0)
	if got := env.requests("timeout"); got != 2 {
		t.Errorf(`enrichment_provider_requests_total{code="timeout"} = %v, want 2 (MaxAttempts)`, got)
	}
	if got := env.requests("200"); got != 2 {
		t.Errorf(`enrichment_provider_requests_total{code="200"} = %v, want 2 (token and first lookup)`, got)
	}
}

// TestSimTokenExpiry expires every token the simulator issued between two
// calls: the second call is refused once (401), gets exactly one new token
// and succeeds, also when many calls hit the expired token at once.
func TestSimTokenExpiry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		expire func(t *testing.T, env *simEnv)
		calls  int // concurrent calls after the expiry
	}{
		{
			name:   "ExpireTokens",
			expire: func(_ *testing.T, env *simEnv) { env.sim.ExpireTokens() },
			calls:  1,
		},
		{
			name: "POST /_sim/spotify/expire-tokens",
			expire: func(t *testing.T, env *simEnv) {
				resp, err := http.Post(env.srv.URL+"/_sim/spotify/expire-tokens", "", nil)
				if err != nil {
					t.Fatalf("expire tokens: %v", err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusNoContent {
					t.Fatalf("expire tokens: status %d, want 204", resp.StatusCode)
				}
			},
			calls: 1,
		},
		{
			name:   "8 concurrent calls after ExpireTokens",
			expire: func(_ *testing.T, env *simEnv) { env.sim.ExpireTokens() },
			calls:  8,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := startSim(t, nil)
			c := env.client(t, nil)
			ctx := context.Background()
			if _, err := c.ByID(ctx, apricotsExtID); err != nil {
				t.Fatalf("first call: %v", err)
			}
			if got := env.stats(t).Providers[providersim.ProviderSpotifyAccounts].RequestsTotal; got != 1 {
				t.Fatalf("token requests before expiry = %d, want 1", got)
			}
			tt.expire(t, env)

			errs := make(chan error, tt.calls)
			var wg sync.WaitGroup
			for range tt.calls {
				wg.Go(func() {
					_, err := c.ByID(ctx, apricotsExtID)
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("call after expiry: %v, want success", err)
				}
			}
			s := env.stats(t)
			accounts, api := s.Providers[providersim.ProviderSpotifyAccounts], s.Providers[providersim.ProviderSpotify]
			if got := accounts.RequestsTotal; got != 2 {
				t.Errorf("token requests = %d, want 2 (exactly one new token after the expiry)", got)
			}
			// Each call after the expiry was refused at most once.
			if got := api.Status["401"]; got < 1 || got > int64(tt.calls) {
				t.Errorf("401 answers = %d, want 1..%d", got, tt.calls)
			}
			if got, want := api.Status["200"], int64(1+tt.calls); got != want {
				t.Errorf("200 answers = %d, want %d", got, want)
			}
		})
	}
}
