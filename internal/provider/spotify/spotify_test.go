package spotify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/djmeta/enrichment/internal/provider"
)

const (
	testID     = "test-client-id"
	testSecret = "test-client-secret"
)

// fake is a stand-in for accounts.spotify.com and api.spotify.com. Its token
// endpoint checks the client-credentials request and issues numbered tokens;
// its API handler is set per test.
type fake struct {
	t          *testing.T
	srv        *httptest.Server
	tokenCalls atomic.Int32
	apiCalls   atomic.Int32
	// token answers POST /api/token (default: a fresh token, expires_in 3600).
	token http.HandlerFunc
	// api answers GET /v1/...; n counts API requests from 1.
	api func(w http.ResponseWriter, r *http.Request, n int)

	mu       sync.Mutex
	requests []*http.Request // API requests, in order
}

// tokenValue is the n-th token the fake issues.
func tokenValue(n int32) string { return fmt.Sprintf("BQfake%08d", n) }

func newFake(t *testing.T, api func(w http.ResponseWriter, r *http.Request, n int)) *fake {
	t.Helper()
	f := &fake{t: t, api: api}
	f.token = func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"access_token": tokenValue(f.tokenCalls.Load()), "token_type": "bearer", "expires_in": 3600,
		})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/token", func(w http.ResponseWriter, r *http.Request) {
		f.tokenCalls.Add(1)
		id, secret, ok := r.BasicAuth()
		switch {
		case r.Method != http.MethodPost:
			t.Errorf("token request method = %s, want POST", r.Method)
		case r.Header.Get("Content-Type") != "application/x-www-form-urlencoded":
			t.Errorf("token request Content-Type = %q", r.Header.Get("Content-Type"))
		case r.FormValue("grant_type") != "client_credentials":
			t.Errorf("grant_type = %q, want client_credentials", r.FormValue("grant_type"))
		case !ok || id != testID || secret != testSecret:
			t.Errorf("token request Basic auth = %q, %q, %v; want the client id and secret", id, secret, ok)
		}
		f.token(w, r)
	})
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		n := int(f.apiCalls.Add(1))
		f.mu.Lock()
		f.requests = append(f.requests, r.Clone(context.Background()))
		f.mu.Unlock()
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer BQfake") {
			t.Errorf("API request Authorization = %q, want a bearer token", r.Header.Get("Authorization"))
		}
		f.api(w, r, n)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) request(i int) *http.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i >= len(f.requests) {
		f.t.Fatalf("API request %d not sent (%d sent)", i, len(f.requests))
	}
	return f.requests[i]
}

// client returns a Client of the fake with small timeouts; mod adjusts its Config.
func (f *fake) client(mod func(*Config)) *Client {
	f.t.Helper()
	cfg := Config{
		ClientID:     testID,
		ClientSecret: testSecret,
		APIURL:       f.srv.URL + "/v1",
		TokenURL:     f.srv.URL + "/api/token",
		Transport: provider.TransportConfig{
			Client:        &http.Client{Timeout: 5 * time.Second},
			MaxAttempts:   3,
			BackoffBase:   time.Millisecond,
			MaxRetryAfter: time.Second,
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		f.t.Fatalf("New() error = %v", err)
	}
	return c
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func apiError(status int, msg string) map[string]any {
	return map[string]any{"error": map[string]any{"status": status, "message": msg}}
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// devMode removes what a development-mode app created after February 2026
// no longer gets from a recorded body.
func devMode(t *testing.T, body []byte) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	var strip func(any)
	strip = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for _, k := range []string{"popularity", "available_markets", "linked_from", "label", "album_group"} {
				delete(v, k)
			}
			for _, e := range v {
				strip(e)
			}
		case []any:
			for _, e := range v {
				strip(e)
			}
		}
	}
	strip(v)
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func serveBody(body []byte) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(body)
	}
}

var (
	happy = provider.Recording{
		Provider: "spotify", ID: "6NPVjNh8Jhru9xOmyQigds", Title: "Happy",
		Artists: []string{"Pharrell Williams"}, DurationMS: 233305, ISRCs: []string{"USQ4E1300686"},
		URL: "https://open.spotify.com/track/6NPVjNh8Jhru9xOmyQigds",
	}
	happyAlbum = provider.Release{
		ID: "5l3zEmMrOhOzG8d8s83GOL", Title: "Despicable Me 2 (Original Motion Picture Soundtrack)", Type: "compilation",
	}
)

func with(r provider.Recording, rel provider.Release) provider.Recording {
	r.Releases = []provider.Release{rel}
	return r
}

func dated(rel provider.Release, date string) provider.Release {
	rel.Date = date
	return rel
}

func TestSearchFixtures(t *testing.T) {
	tests := []struct {
		name    string
		fixture string
		query   provider.Query
		wantQ   string
		want    []provider.Recording
	}{
		{
			name:    "one hit",
			fixture: "search_track_happy_pharrell.json",
			query:   provider.Query{Artist: "Pharrell Williams", Title: "Happy"},
			wantQ:   `track:"Happy" artist:"Pharrell Williams"`,
			want:    []provider.Recording{with(happy, happyAlbum)},
		},
		{
			name:    "no results",
			fixture: "search_track_no_results.json",
			query:   provider.Query{Artist: "Nobody", Title: "Nothing"},
			wantQ:   `track:"Nothing" artist:"Nobody"`,
			want:    []provider.Recording{},
		},
		{
			name:    "two hits, multi-artist",
			fixture: "search_tracks_uptown_limit2_legacy.json",
			query:   provider.Query{Title: "uptown"},
			wantQ:   `track:"uptown"`,
			want: []provider.Recording{
				{
					Provider: "spotify", ID: "4rmPQGwcLQjCoFq5NrTA0D", Title: "Uptown Funk",
					Artists: []string{"Mark Ronson", "Bruno Mars"}, DurationMS: 270626, ISRCs: []string{"GBARL1401524"},
					Releases: []provider.Release{{ID: "0tWBtc7le3TMo1gDdGyJVI", Title: "Uptown Funk", Type: "single"}},
					URL:      "https://open.spotify.com/track/4rmPQGwcLQjCoFq5NrTA0D",
				},
				{
					Provider: "spotify", ID: "3CSpzkoL1XgDBZ1q9aDCUV", Title: "Uptown Girl",
					Artists: []string{"Billy Joel"}, DurationMS: 194866, ISRCs: []string{"USSM18300270"},
					Releases: []provider.Release{{ID: "7r36rel1M4gyBavfcJP6Yz", Title: "The Essential Billy Joel", Type: "compilation"}},
					URL:      "https://open.spotify.com/track/3CSpzkoL1XgDBZ1q9aDCUV",
				},
			},
		},
	}
	for _, tt := range tests {
		for _, dev := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/devmode=%v", tt.name, dev), func(t *testing.T) {
				body := readFixture(t, tt.fixture)
				if dev {
					body = devMode(t, body)
				}
				f := newFake(t, serveBody(body))
				got, err := f.client(nil).Search(context.Background(), tt.query)
				if err != nil {
					t.Fatalf("Search() error = %v", err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("Search() mismatch (-want +got):\n%s", diff)
				}
				r := f.request(0)
				if r.URL.Path != "/v1/search" {
					t.Errorf("path = %q, want /v1/search", r.URL.Path)
				}
				wantParams := url.Values{"type": {"track"}, "limit": {"10"}, "q": {tt.wantQ}}
				if diff := cmp.Diff(wantParams, r.URL.Query()); diff != "" {
					t.Errorf("query parameters mismatch (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestByIDFixtures(t *testing.T) {
	tests := []struct {
		name    string
		fixture string
		id      string
		want    provider.Recording
	}{
		{
			name:    "full track",
			fixture: "track_6NPVjNh8Jhru9xOmyQigds.json",
			id:      "6NPVjNh8Jhru9xOmyQigds",
			want:    with(happy, dated(happyAlbum, "2013-06-18")),
		},
		{
			name:    "two artists, dashed ISRC",
			fixture: "track_multiartist_edited.json",
			id:      "6sjZfVJworBX6TqyjkxIJ1",
			want: provider.Recording{
				Provider: "spotify", ID: "6sjZfVJworBX6TqyjkxIJ1", Title: "Akiba Nights",
				Artists: []string{"Foo", "Bar"}, DurationMS: 225268, ISRCs: []string{"GBSMU4566095"},
				Releases: []provider.Release{{ID: "0yhKyyjyKXWUieJ4w1IAEa", Title: "Akiba Night", Date: "2017-12-22", Type: "single"}},
				URL:      "https://open.spotify.com/track/6sjZfVJworBX6TqyjkxIJ1",
			},
		},
	}
	for _, tt := range tests {
		for _, dev := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/devmode=%v", tt.name, dev), func(t *testing.T) {
				body := readFixture(t, tt.fixture)
				if dev {
					body = devMode(t, body)
				}
				f := newFake(t, serveBody(body))
				got, err := f.client(nil).ByID(context.Background(), tt.id)
				if err != nil {
					t.Fatalf("ByID() error = %v", err)
				}
				if diff := cmp.Diff([]provider.Recording{tt.want}, got); diff != "" {
					t.Errorf("ByID() mismatch (-want +got):\n%s", diff)
				}
				if r := f.request(0); r.URL.Path != "/v1/tracks/"+tt.id || r.URL.RawQuery != "" {
					t.Errorf("request = %s, want /v1/tracks/%s", r.URL, tt.id)
				}
			})
		}
	}
}

func TestSearchRequest(t *testing.T) {
	tests := []struct {
		name       string
		query      provider.Query
		mod        func(*Config)
		wantParams url.Values
	}{
		{
			name:       "quotes and colons stripped",
			query:      provider.Query{Artist: `Artist: "The" Band`, Title: `Title:Sub "Extended Mix"`},
			wantParams: url.Values{"type": {"track"}, "limit": {"10"}, "q": {`track:"Title Sub Extended Mix" artist:"Artist The Band"`}},
		},
		{
			name:       "backslash and spaces",
			query:      provider.Query{Artist: `  AC\DC  `, Title: "Back  in\tBlack"},
			wantParams: url.Values{"type": {"track"}, "limit": {"10"}, "q": {`track:"Back in Black" artist:"AC DC"`}},
		},
		{
			name:       "artist only",
			query:      provider.Query{Artist: "Bicep feat. Clara La San"},
			wantParams: url.Values{"type": {"track"}, "limit": {"10"}, "q": {`artist:"Bicep feat. Clara La San"`}},
		},
		{
			name:       "the looser search: words without filters",
			query:      provider.Query{Artist: "Apparat", Title: "Goodbey", Fuzzy: true},
			wantParams: url.Values{"type": {"track"}, "limit": {"10"}, "q": {`Goodbey Apparat`}},
		},
		{
			name:       "market and a smaller limit",
			query:      provider.Query{Artist: "Bicep", Title: "Apricots (Extended Mix)"},
			mod:        func(c *Config) { c.Market = "DE"; c.SearchLimit = 3 },
			wantParams: url.Values{"type": {"track"}, "limit": {"3"}, "market": {"DE"}, "q": {`track:"Apricots (Extended Mix)" artist:"Bicep"`}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, serveBody(readFixture(t, "search_track_no_results.json")))
			if _, err := f.client(tt.mod).Search(context.Background(), tt.query); err != nil {
				t.Fatalf("Search() error = %v", err)
			}
			if diff := cmp.Diff(tt.wantParams, f.request(0).URL.Query()); diff != "" {
				t.Errorf("query parameters mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestByISRC(t *testing.T) {
	f := newFake(t, serveBody(readFixture(t, "search_track_happy_pharrell.json")))
	c := f.client(nil)
	got, err := c.ByISRC(context.Background(), " usq4e-13-00686")
	if err != nil {
		t.Fatalf("ByISRC() error = %v", err)
	}
	if diff := cmp.Diff([]provider.Recording{with(happy, happyAlbum)}, got); diff != "" {
		t.Errorf("ByISRC() mismatch (-want +got):\n%s", diff)
	}
	if got, want := f.request(0).URL.Query().Get("q"), "isrc:USQ4E1300686"; got != want {
		t.Errorf("q = %q, want %q", got, want)
	}
}

func TestBadInputSendsNothing(t *testing.T) {
	tests := []struct {
		name     string
		call     func(c *Client) error
		wantKind provider.ErrorKind
	}{
		{"malformed ISRC", func(c *Client) error {
			_, err := c.ByISRC(context.Background(), `US" OR x`)
			return err
		}, provider.KindBadRequest},
		{"malformed id", func(c *Client) error {
			_, err := c.ByID(context.Background(), "../search")
			return err
		}, provider.KindNotFound},
		{"empty query", func(c *Client) error {
			_, err := c.Search(context.Background(), provider.Query{Artist: `"`, Title: " : "})
			return err
		}, provider.KindBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
				t.Error("unexpected API request")
			})
			err := tt.call(f.client(nil))
			if got := provider.KindOf(err); got != tt.wantKind {
				t.Errorf("error = %v, kind %v, want %v", err, got, tt.wantKind)
			}
			if n := f.tokenCalls.Load() + f.apiCalls.Load(); n != 0 {
				t.Errorf("requests sent = %d, want 0", n)
			}
		})
	}
}

// response is one canned API answer.
type response struct {
	status int
	header map[string]string
	body   string
}

func TestErrors(t *testing.T) {
	happyBody := string(readFixture(t, "search_track_happy_pharrell.json"))
	ok := response{status: http.StatusOK, body: happyBody}
	tests := []struct {
		name           string
		byID           bool       // call ByID instead of Search
		responses      []response // the last one repeats
		mod            func(*Config)
		wantKind       provider.ErrorKind // KindUnknown: success
		wantStatus     int
		wantRetryAfter time.Duration
		wantAPICalls   int32
		wantTokenCalls int32
	}{
		{
			name: "unknown id", byID: true,
			responses: []response{{status: 404, body: `{"error":{"status":404,"message":"Resource not found"}}`}},
			wantKind:  provider.KindNotFound, wantStatus: 404, wantAPICalls: 1, wantTokenCalls: 1,
		},
		{
			name: "invalid id", byID: true,
			responses: []response{{status: 400, body: `{"error":{"status":400,"message":"invalid id"}}`}},
			wantKind:  provider.KindNotFound, wantStatus: 400, wantAPICalls: 1, wantTokenCalls: 1,
		},
		{
			name: "other 400 on lookup", byID: true,
			responses: []response{{status: 400, body: `{"error":{"status":400,"message":"Invalid market code"}}`}},
			wantKind:  provider.KindBadRequest, wantStatus: 400, wantAPICalls: 1, wantTokenCalls: 1,
		},
		{
			name:      "400 on search",
			responses: []response{{status: 400, body: `{"error":{"status":400,"message":"Invalid limit"}}`}},
			wantKind:  provider.KindBadRequest, wantStatus: 400, wantAPICalls: 1, wantTokenCalls: 1,
		},
		{
			name:      "404 on search is a wrong URL, not a miss",
			responses: []response{{status: 404, body: `{"error":{"status":404,"message":"Service not found"}}`}},
			wantKind:  provider.KindBadResponse, wantStatus: 404, wantAPICalls: 1, wantTokenCalls: 1,
		},
		{
			name:      "403 closed endpoint is not retried",
			responses: []response{{status: 403, body: `{"error":{"status":403,"message":"Forbidden"}}`}},
			wantKind:  provider.KindNotAvailable, wantStatus: 403, wantAPICalls: 1, wantTokenCalls: 1,
		},
		{
			name:      "503 until attempts run out",
			responses: []response{{status: 503, body: `{"error":{"status":503,"message":"Service unavailable"}}`}},
			wantKind:  provider.KindUnavailable, wantStatus: 503, wantAPICalls: 3, wantTokenCalls: 1,
		},
		{
			name:         "503 once, then success",
			responses:    []response{{status: 503, body: `{"error":{"status":503,"message":"Service unavailable"}}`}, ok},
			wantAPICalls: 2, wantTokenCalls: 1,
		},
		{
			name: "429 with a short Retry-After: waits, then success",
			responses: []response{
				{status: 429, header: map[string]string{"Retry-After": "0"}, body: `{"error":{"status":429,"message":"API rate limit exceeded"}}`},
				ok,
			},
			wantAPICalls: 2, wantTokenCalls: 1,
		},
		{
			name: "429 with a Retry-After over MaxRetryAfter",
			responses: []response{{status: 429, header: map[string]string{"Retry-After": "30"},
				body: `{"error":{"status":429,"message":"Too many requests","reason":"QUOTA_EXCEEDED"}}`}},
			wantKind: provider.KindRateLimited, wantStatus: 429, wantRetryAfter: 30 * time.Second,
			wantAPICalls: 1, wantTokenCalls: 1,
		},
		{
			name:      "malformed JSON",
			responses: []response{{status: 200, body: `{"tracks":{"items":[{"id":`}},
			wantKind:  provider.KindBadResponse, wantStatus: 200, wantAPICalls: 1, wantTokenCalls: 1,
		},
		{
			name:      "wrong JSON shape",
			responses: []response{{status: 200, body: `{"tracks":{"items":"none"}}`}},
			wantKind:  provider.KindBadResponse, wantStatus: 200, wantAPICalls: 1, wantTokenCalls: 1,
		},
		{
			name:      "oversized body",
			responses: []response{ok},
			mod:       func(c *Config) { c.Transport.MaxBody = 1024 },
			wantKind:  provider.KindBadResponse, wantStatus: 200, wantAPICalls: 1, wantTokenCalls: 1,
		},
		{
			name: "lookup without id", byID: true,
			responses: []response{{status: 200, body: `{}`}},
			wantKind:  provider.KindBadResponse, wantStatus: 200, wantAPICalls: 1, wantTokenCalls: 1,
		},
		{
			name: "401 twice: refreshed once, then unauthorized",
			responses: []response{{status: 401, header: map[string]string{"WWW-Authenticate": `Bearer realm="spotify", error="invalid_token"`},
				body: `{"error":{"status":401,"message":"Invalid access token"}}`}},
			wantKind: provider.KindUnauthorized, wantStatus: 401, wantAPICalls: 2, wantTokenCalls: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, _ *http.Request, n int) {
				r := tt.responses[min(n, len(tt.responses))-1]
				for k, v := range r.header {
					w.Header().Set(k, v)
				}
				w.Header().Set("Content-Type", "application/json; charset=utf-8")
				w.WriteHeader(r.status)
				_, _ = w.Write([]byte(r.body))
			})
			c := f.client(tt.mod)
			var err error
			if tt.byID {
				_, err = c.ByID(context.Background(), "6NPVjNh8Jhru9xOmyQigds")
			} else {
				_, err = c.Search(context.Background(), provider.Query{Artist: "Pharrell Williams", Title: "Happy"})
			}
			checkError(t, err, tt.wantKind, tt.wantStatus)
			if got, _ := provider.RetryAfterOf(err); got != tt.wantRetryAfter {
				t.Errorf("RetryAfter = %s, want %s", got, tt.wantRetryAfter)
			}
			if got := f.apiCalls.Load(); got != tt.wantAPICalls {
				t.Errorf("API requests = %d, want %d", got, tt.wantAPICalls)
			}
			if got := f.tokenCalls.Load(); got != tt.wantTokenCalls {
				t.Errorf("token requests = %d, want %d", got, tt.wantTokenCalls)
			}
		})
	}
}

// checkError checks err's kind and status (KindUnknown wants no error) and
// that it holds no credential.
func checkError(t *testing.T, err error, wantKind provider.ErrorKind, wantStatus int) {
	t.Helper()
	if wantKind == provider.KindUnknown {
		if err != nil {
			t.Fatalf("error = %v, want none", err)
		}
		return
	}
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error = %v (%T), want a *provider.Error", err, err)
	}
	if pe.Kind != wantKind || pe.Status != wantStatus || pe.Provider != provider.Spotify {
		t.Errorf("error = %v: kind %v, status %d, provider %q; want %v, %d, spotify", err, pe.Kind, pe.Status, pe.Provider, wantKind, wantStatus)
	}
	for _, secret := range []string{testSecret, "BQfake"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q contains a credential", err)
		}
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	f := newFake(t, func(_ http.ResponseWriter, r *http.Request, _ int) {
		select { // slower than the client: answers only when the client gives up
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before the server closes
	c := f.client(func(c *Config) {
		c.Transport.Client = &http.Client{Timeout: 50 * time.Millisecond}
		c.Transport.MaxAttempts = 2
	})
	_, err := c.ByID(context.Background(), "6NPVjNh8Jhru9xOmyQigds")
	checkError(t, err, provider.KindUnavailable, 0)
	if got := f.apiCalls.Load(); got != 2 {
		t.Errorf("API requests = %d, want 2 (MaxAttempts)", got)
	}
}

func TestTokenErrors(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		wantKind   provider.ErrorKind
		wantStatus int
	}{
		{"bad credentials (Spotify's 400)", 400, `{"error":"invalid_client","error_description":"Invalid client"}`, provider.KindUnauthorized, 400},
		{"bad credentials (OAuth's 401)", 401, `{"error":"invalid_client","error_description":"Invalid client"}`, provider.KindUnauthorized, 401},
		{"wrong token URL", 404, `not found`, provider.KindBadResponse, 404},
		{"no access token", 200, `{"token_type":"bearer","expires_in":3600}`, provider.KindBadResponse, 200},
		{"not a bearer token", 200, `{"access_token":"BQfake1","token_type":"mac","expires_in":3600}`, provider.KindBadResponse, 200},
		{"malformed JSON", 200, `{"access_token":`, provider.KindBadResponse, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
				t.Error("API called without a token")
			})
			f.token = func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}
			_, err := f.client(nil).Search(context.Background(), provider.Query{Artist: "a", Title: "b"})
			checkError(t, err, tt.wantKind, tt.wantStatus)
			if got := f.tokenCalls.Load(); got != 1 {
				t.Errorf("token requests = %d, want 1", got)
			}
		})
	}
}

func TestTokenRefreshedOnceAfter401(t *testing.T) {
	body := readFixture(t, "track_6NPVjNh8Jhru9xOmyQigds.json")
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		if r.Header.Get("Authorization") == "Bearer "+tokenValue(1) { // expired early, server-side
			w.Header().Set("WWW-Authenticate", `Bearer realm="spotify", error="invalid_token"`)
			writeJSON(w, http.StatusUnauthorized, apiError(401, "The access token expired"))
			return
		}
		serveBody(body)(w, r, 0)
	})
	got, err := f.client(nil).ByID(context.Background(), "6NPVjNh8Jhru9xOmyQigds")
	if err != nil {
		t.Fatalf("ByID() error = %v", err)
	}
	if len(got) != 1 || got[0].ID != "6NPVjNh8Jhru9xOmyQigds" {
		t.Errorf("ByID() = %+v", got)
	}
	if got := f.tokenCalls.Load(); got != 2 {
		t.Errorf("token requests = %d, want 2", got)
	}
	if got := f.apiCalls.Load(); got != 2 {
		t.Errorf("API requests = %d, want 2", got)
	}
	if got, want := f.request(1).Header.Get("Authorization"), "Bearer "+tokenValue(2); got != want {
		t.Errorf("retry Authorization = %q, want %q", got, want)
	}
}

func TestTokenCachedUntilShortlyBeforeExpiry(t *testing.T) {
	f := newFake(t, serveBody(readFixture(t, "search_track_no_results.json")))
	c := f.client(nil)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c.tokens.now = func() time.Time { return now }
	steps := []struct {
		advance        time.Duration
		wantTokenCalls int32
	}{
		{0, 1},
		{time.Minute, 1},
		{3539*time.Second - time.Minute, 1}, // 3539 s after issue: still cached
		{2 * time.Second, 2},                // 3541 s: within 60 s of expires_in, replaced
		{time.Second, 2},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		if _, err := c.Search(context.Background(), provider.Query{Title: "x"}); err != nil {
			t.Fatalf("step %d: Search() error = %v", i, err)
		}
		if got := f.tokenCalls.Load(); got != s.wantTokenCalls {
			t.Errorf("step %d: token requests = %d, want %d", i, got, s.wantTokenCalls)
		}
	}
}

func TestTokenOneRefreshForConcurrentCalls(t *testing.T) {
	f := newFake(t, serveBody(readFixture(t, "search_track_no_results.json")))
	release := make(chan struct{})
	issue := f.token
	f.token = func(w http.ResponseWriter, r *http.Request) {
		<-release
		issue(w, r)
	}
	c := f.client(nil)
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := c.Search(context.Background(), provider.Query{Title: "x"})
			errs <- err
		})
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Search() error = %v", err)
		}
	}
	if got := f.tokenCalls.Load(); got != 1 {
		t.Errorf("token requests = %d, want 1", got)
	}
	if got := f.apiCalls.Load(); got != n {
		t.Errorf("API requests = %d, want %d", got, n)
	}
}

func TestTokenWaitHonoursContext(t *testing.T) {
	f := newFake(t, serveBody(readFixture(t, "search_track_no_results.json")))
	c := f.client(nil)
	c.tokens.refreshing <- struct{}{} // another caller is refreshing
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Search(ctx, provider.Query{Title: "x"})
	checkError(t, err, provider.KindUnavailable, 0)
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // "" for none
	}{
		{"minimal", Config{ClientID: "id", ClientSecret: "s3cr3t"}, ""},
		{"no id", Config{ClientSecret: "s3cr3t"}, "client id"},
		{"no secret", Config{ClientID: "id"}, "client secret"},
		{"relative API URL", Config{ClientID: "id", ClientSecret: "s3cr3t", APIURL: "/v1"}, "api url"},
		{"bad token URL", Config{ClientID: "id", ClientSecret: "s3cr3t", TokenURL: "ftp://x/token"}, "token url"},
		{"lower-case market", Config{ClientID: "id", ClientSecret: "s3cr3t", Market: "de"}, "market"},
		{"limit above 10", Config{ClientID: "id", ClientSecret: "s3cr3t", SearchLimit: 11}, "search limit"},
		{"negative limit", Config{ClientID: "id", ClientSecret: "s3cr3t", SearchLimit: -1}, "search limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New() error = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New() = %v, %v; want an error naming %q", c, err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("error %q contains the secret", err)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	c, err := New(Config{ClientID: "id", ClientSecret: "s3cr3t", APIURL: "https://example.test/v1/"})
	if err != nil {
		t.Fatal(err)
	}
	got := []any{c.Name(), c.cfg.APIURL, c.cfg.TokenURL, c.cfg.SearchLimit, c.cfg.Transport.Provider}
	want := []any{"spotify", "https://example.test/v1", TokenURLDefault, 10, "spotify"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults mismatch (-want +got):\n%s", diff)
	}
}

func TestReleaseDate(t *testing.T) {
	tests := []struct {
		date, precision, want string
	}{
		{"2013-06-18", "day", "2013-06-18"},
		{"1981-12", "month", "1981-12"},
		{"1981", "year", "1981"},
		{"1981-01-01", "year", "1981"}, // precision wins over padding
		{"1981-12-01", "month", "1981-12"},
		{"2013-06-18", "", "2013-06-18"},
		{"1981", "day", "1981"},
		{"0000", "year", ""},
		{"", "", ""},
		{"2013-13-01", "day", ""},
		{"soon", "", ""},
	}
	for _, tt := range tests {
		if got := releaseDate(tt.date, tt.precision); got != tt.want {
			t.Errorf("releaseDate(%q, %q) = %q, want %q", tt.date, tt.precision, got, tt.want)
		}
	}
}

func TestRecordingTolerance(t *testing.T) {
	tests := []struct {
		name string
		body string
		want provider.Recording
	}{
		{
			name: "minimal track",
			body: `{"id":"6NPVjNh8Jhru9xOmyQigds","name":"Happy"}`,
			want: provider.Recording{Provider: "spotify", ID: "6NPVjNh8Jhru9xOmyQigds", Title: "Happy"},
		},
		{
			name: "label present, upper-case type, bad ISRC",
			body: `{"id":"x","name":"T","artists":[{"name":""},{"name":"A"}],"external_ids":{"isrc":"n/a"},
				"album":{"id":"al","name":"R","album_type":"SINGLE","release_date":"2020","release_date_precision":"year","label":"Warp"}}`,
			want: provider.Recording{Provider: "spotify", ID: "x", Title: "T", Artists: []string{"A"},
				Releases: []provider.Release{{ID: "al", Title: "R", Date: "2020", Type: "single", Label: "Warp"}}},
		},
		{
			name: "unknown album type",
			body: `{"id":"x","name":"T","album":{"id":"al","name":"R","album_type":"appears_on"}}`,
			want: provider.Recording{Provider: "spotify", ID: "x", Title: "T", Releases: []provider.Release{{ID: "al", Title: "R"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tr track
			if err := json.Unmarshal([]byte(tt.body), &tr); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, tr.recording()); diff != "" {
				t.Errorf("recording() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSearchSkipsNullItems(t *testing.T) {
	f := newFake(t, serveBody([]byte(`{"tracks":{"items":[null,{"id":"6NPVjNh8Jhru9xOmyQigds","name":"Happy"}],"total":2}}`)))
	got, err := f.client(nil).Search(context.Background(), provider.Query{Title: "Happy"})
	if err != nil {
		t.Fatal(err)
	}
	want := []provider.Recording{{Provider: "spotify", ID: "6NPVjNh8Jhru9xOmyQigds", Title: "Happy"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Search() mismatch (-want +got):\n%s", diff)
	}
}
