package providersim

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

const catalogPath = "../../testdata/catalog/catalog.json"

var (
	catalogOnce sync.Once
	catalogVal  *Catalog
	catalogErr  error
)

// testCatalog loads the shipped catalog once; it is read-only after loading.
func testCatalog(t testing.TB) *Catalog {
	t.Helper()
	catalogOnce.Do(func() { catalogVal, catalogErr = LoadCatalog(catalogPath) })
	if catalogErr != nil {
		t.Fatalf("LoadCatalog: %v", catalogErr)
	}
	return catalogVal
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testConfig is DefaultConfig with every limit off; tests switch on what they check.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.SpotifyRateLimit = 0
	cfg.MusicBrainzRate = 0
	cfg.DiscogsRateLimit = 0
	cfg.DiscogsAnonRateLimit = 0
	cfg.Seed = 1
	return cfg
}

type harness struct {
	t     testing.TB
	sim   *Server
	srv   *httptest.Server
	clock *fakeClock
}

func newHarness(t testing.TB, cfg Config, opts ...Option) *harness {
	t.Helper()
	clock := newFakeClock()
	sim, err := New(testCatalog(t), cfg, append([]Option{WithClock(clock)}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	return &harness{t: t, sim: sim, srv: srv, clock: clock}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
	return m
}

// do sends a request; headers are "Name: value" strings.
func (h *harness) do(method, path string, body io.Reader, headers ...string) response {
	h.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, h.srv.URL+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Del("User-Agent")
	req.Header.Set("User-Agent", "")
	for _, hv := range headers {
		k, v, _ := strings.Cut(hv, ": ")
		req.Header.Set(k, v)
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (h *harness) get(path string, headers ...string) response {
	h.t.Helper()
	return h.do(http.MethodGet, path, nil, headers...)
}

// token gets a Spotify access token with the given client credentials.
func (h *harness) token(id, secret string) string {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/spotify/api/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("token: status %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
		h.t.Fatal(err)
	}
	return tr.AccessToken
}

const (
	goodMBUA  = "User-Agent: djmeta-enrichment-test/1.0 ( ops@example.org )"
	goodDGUA  = "User-Agent: DJSetEnricher/0.1 +https://example.org"
	dgToken   = "Authorization: Discogs token=test-token"
	mbBase    = "/musicbrainz/ws/2"
	spBase    = "/spotify/v1"
	dgBase    = "/discogs"
	jsonQuery = "fmt=json"
)

func q(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return "?" + v.Encode()
}
