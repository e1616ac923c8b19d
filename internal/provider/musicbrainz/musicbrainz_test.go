package musicbrainz

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/djmeta/enrichment/internal/provider"
)

const testUA = "djmeta-enrichment-test/1.0 ( test@example.com )"

// Bodies as MusicBrainz sends them (provider notes §2.1, §2.4).
const (
	notFoundBody  = `{"help":"For usage, please see: https://musicbrainz.org/development/mmd","error":"Not Found"}`
	uaMissingBody = `{"error":"Your requests are being throttled by MusicBrainz because the application you are using has not identified itself. Please update your application, and see https://musicbrainz.org/doc/MusicBrainz_API/Rate_Limiting for more info."}`
	busyBody      = `{"error":"The MusicBrainz web server is currently busy. Please try again later."}`
)

// handler answers the n-th request (1-based) the fake server receives.
type handler func(w http.ResponseWriter, r *http.Request, n int)

// fakeMB is a MusicBrainz stand-in that records requests and, like the real
// service, answers 403 to a request without the expected User-Agent.
type fakeMB struct {
	handle handler

	mu   sync.Mutex
	reqs []*http.Request
}

func (f *fakeMB) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.reqs = append(f.reqs, r.Clone(context.Background()))
	n := len(f.reqs)
	f.mu.Unlock()
	if r.Header.Get("User-Agent") != testUA {
		w.Header().Set("X-Ratelimit-Who", "ua-missing")
		writeBody(w, http.StatusForbidden, uaMissingBody)
		return
	}
	f.handle(w, r, n)
}

func (f *fakeMB) requests() []*http.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*http.Request(nil), f.reqs...)
}

func writeBody(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

func status(code int, retryAfter, body string) handler {
	return func(w http.ResponseWriter, _ *http.Request, _ int) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		writeBody(w, code, body)
	}
}

func fixture(t *testing.T, name string) handler {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return status(http.StatusOK, "", string(b))
}

// sequence answers request n with hs[n-1], and later ones with the last.
func sequence(hs ...handler) handler {
	return func(w http.ResponseWriter, r *http.Request, n int) {
		hs[min(n, len(hs))-1](w, r, n)
	}
}

// newTestClient starts a fake server and a Client for it with a short
// timeout and backoff; edit adjusts the Config.
func newTestClient(t *testing.T, h handler, edit func(*Config)) (*Client, *fakeMB) {
	t.Helper()
	fake := &fakeMB{handle: h}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	cfg := Config{
		APIURL:    srv.URL + "/ws/2/",
		UserAgent: testUA,
		Transport: provider.TransportConfig{
			Client:      &http.Client{Timeout: 2 * time.Second},
			BackoffBase: time.Millisecond,
		},
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	return c, fake
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // substring; "" for success
	}{
		{name: "defaults", cfg: Config{UserAgent: "djmeta-enrichment/1.0 ( ops@example.com )"}},
		{name: "url contact, no inner spaces", cfg: Config{UserAgent: "My Tagger/1.2.0 (https://example.org/contact)"}},
		{name: "missing user agent", cfg: Config{}, wantErr: "User-Agent"},
		{name: "blank user agent", cfg: Config{UserAgent: "   "}, wantErr: "User-Agent"},
		{name: "no version", cfg: Config{UserAgent: "djmeta ( ops@example.com )"}, wantErr: "not of the form"},
		{name: "no contact", cfg: Config{UserAgent: "djmeta/1.0"}, wantErr: "not of the form"},
		{name: "empty contact", cfg: Config{UserAgent: "djmeta/1.0 ( )"}, wantErr: "no contact"},
		{name: "placeholder contact", cfg: Config{UserAgent: "app/version ( contact )"}, wantErr: "no contact"},
		{name: "anonymous library agent", cfg: Config{UserAgent: "Go-http-client/1.1"}, wantErr: "not of the form"},
		{name: "header injection", cfg: Config{UserAgent: "a/1 ( a@b.c )\r\nX-Evil: 1"}, wantErr: "not of the form"},
		{name: "relative url", cfg: Config{UserAgent: testUA, APIURL: "/ws/2"}, wantErr: "absolute"},
		{name: "bad scheme", cfg: Config{UserAgent: testUA, APIURL: "ftp://musicbrainz.org/ws/2"}, wantErr: "absolute"},
		{name: "limit too large", cfg: Config{UserAgent: testUA, SearchLimit: 101}, wantErr: "search limit"},
		{name: "negative limit", cfg: Config{UserAgent: testUA, SearchLimit: -1}, wantErr: "search limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New() error = %v", err)
			}
			if c.base != APIURLDefault || c.searchLimit != SearchLimitDefault || c.Name() != provider.MusicBrainz {
				t.Errorf("New() = base %q, limit %d, name %q; want the defaults", c.base, c.searchLimit, c.Name())
			}
		})
	}
}

func TestSearchRequest(t *testing.T) {
	c, fake := newTestClient(t, fixture(t, "search_recording_isrc_GBAHT1600302.json"), func(cfg *Config) { cfg.SearchLimit = 25 })
	_, err := c.Search(context.Background(), provider.Query{Artist: "Bicep feat. Clara La San", Title: "Apricots (Extended Mix)"})
	if err != nil {
		t.Fatalf("Search() error = %v", err)
	}
	reqs := fake.requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	got := map[string]string{
		"method":     r.Method,
		"path":       r.URL.Path,
		"raw query":  r.URL.RawQuery,
		"query":      r.URL.Query().Get("query"),
		"Accept":     r.Header.Get("Accept"),
		"User-Agent": r.Header.Get("User-Agent"),
	}
	want := map[string]string{
		"method":     http.MethodGet,
		"path":       "/ws/2/recording",
		"raw query":  "fmt=json&limit=25&query=%28recording%3A%22Apricots+%5C%28Extended+Mix%5C%29%22+OR+recording%3A%22Apricots%22%29+AND+artist%3A%22Bicep%22",
		"query":      `(recording:"Apricots \(Extended Mix\)" OR recording:"Apricots") AND artist:"Bicep"`,
		"Accept":     "application/json",
		"User-Agent": testUA,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("request mismatch (-want +got):\n%s", diff)
	}
}

func TestSearchFixtureShape(t *testing.T) {
	c, _ := newTestClient(t, fixture(t, "search_recording_isrc_GBAHT1600302.json"), nil)
	got, err := c.Search(context.Background(), provider.Query{Artist: "Dua Lipa", Title: "Blow Your Mind (Mwah)"})
	if err != nil {
		t.Fatalf("Search() error = %v", err)
	}
	if len(got) != 1 {
		t.Fatalf("got %d recordings, want 1", len(got))
	}
	rec := got[0]
	if n := len(rec.Releases); n != 44 {
		t.Errorf("got %d releases, want 44", n)
	}
	rec.Releases = rec.Releases[:3]
	want := provider.Recording{
		Provider: provider.MusicBrainz,
		ID:       "026fa041-3917-4c73-9079-ed16e36f20f8",
		Title:    "Blow Your Mind (Mwah)",
		Artists:  []string{"Dua Lipa"},
		// Its aliases other than the credited name, as search results list them.
		ArtistNames:    [][]string{{"두아리파", "두아 리파", "デュア・リパ", "Dula Peep"}},
		DurationMS:     179000,
		ISRCs:          []string{"GBAHT1600302", "DEUM71601954"},
		Disambiguation: "explicit",
		SearchScore:    100,
		Genres:         []string{"pop", "electropop", "dance-pop", "synth-pop", "sexy", "contemporary r&b"},
		Releases: []provider.Release{
			{ID: "15705c91-0d9e-41e8-bfb9-98a72c1f14cb", Title: "100 Greatest TikTok Songs & Viral Hits", Type: "compilation", Status: "official"},
			{ID: "2a355e68-9c0c-4389-acae-d390836c11ed", Title: "Dua Lipa (complete edition)", Type: "album", Status: "official"},
			// date "" on the release, "" and 2016-08-26 on its events.
			{ID: "7cd31be3-9f22-4b33-819c-2103298e8336", Title: "Blow Your Mind (Mwah)", Date: "2016-08-26", Type: "single", Country: "CA", Status: "promotion"},
		},
	}
	if diff := cmp.Diff(want, rec); diff != "" {
		t.Errorf("Search() mismatch (-want +got):\n%s", diff)
	}
}

func TestSearchManyEqualScores(t *testing.T) {
	c, _ := newTestClient(t, fixture(t, "search_recording_we_will_rock_you_arid.json"), nil)
	got, err := c.Search(context.Background(), provider.Query{Artist: "Queen", Title: "We Will Rock You"})
	if err != nil {
		t.Fatalf("Search() error = %v", err)
	}
	if len(got) != 25 {
		t.Fatalf("got %d recordings, want 25", len(got))
	}
	for i, r := range got {
		if r.SearchScore != 100 || r.Title != "We Will Rock You" || r.Provider != provider.MusicBrainz {
			t.Errorf("recording %d: score %d, title %q, provider %q; want 100, We Will Rock You, musicbrainz", i, r.SearchScore, r.Title, r.Provider)
		}
	}
	type summary struct {
		ID             string
		Artists        []string
		DurationMS     int
		Disambiguation string
		ISRCs          []string
		Genres         []string
	}
	tests := []struct {
		index int
		want  summary
	}{
		{0, summary{ID: "3eb00f9f-6291-4a47-9309-8c7152a408bb", Artists: []string{"Queen"}, DurationMS: 126826}},
		{2, summary{ID: "45a9744c-de19-4861-a302-5c5a33941bdd", Artists: []string{"Queen"}, DurationMS: 131000,
			Disambiguation: "live, 1981-11-(24-25): Montreal Forum, Montreal, Canada"}},
		{3, summary{ID: "59765b03-1779-4bc3-a355-bb6b52c4c120", Artists: []string{"Five", "Queen"}, DurationMS: 188493}},
		{6, summary{ID: "548649ef-f2ff-4bf9-a2e8-37f8833ad57a", Artists: []string{"Queen"}}}, // no length
		{12, summary{ID: "fb595a37-27ef-4676-86e5-e6c8de0431ec", Artists: []string{"Five", "Queen"}, DurationMS: 188000}},
		{15, summary{ID: "4321cda7-1fd8-4555-bcae-c06be983bbda", Artists: []string{"Queen", "Axl Rose"}, DurationMS: 199000,
			Disambiguation: "live, 1992-04-20: Wembley Stadium, London, UK", Genres: []string{"arena rock"}}},
		{17, summary{ID: "f7a9b5a2-dfdf-4093-8ab1-dac10add6a37", Artists: []string{"Queen", "John Farnham"}, DurationMS: 188106,
			ISRCs: []string{"GBCEE0300071"}, Genres: []string{"rock", "pop", "adult contemporary", "pop rock"}}},
		{19, summary{ID: "d5bd5653-7eec-40f6-9f93-533354c3052f", Artists: []string{"Queen"}, DurationMS: 286173,
			Disambiguation: "remix", Genres: []string{"rock"}}},
	}
	for _, tt := range tests {
		r := got[tt.index]
		s := summary{ID: r.ID, Artists: r.Artists, DurationMS: r.DurationMS, Disambiguation: r.Disambiguation, ISRCs: r.ISRCs, Genres: r.Genres}
		if diff := cmp.Diff(tt.want, s); diff != "" {
			t.Errorf("recording %d mismatch (-want +got):\n%s", tt.index, diff)
		}
	}
}

func TestByIDFeatJoinphrase(t *testing.T) {
	c, fake := newTestClient(t, fixture(t, "lookup_recording_b9ad642e_feat_joinphrase.json"), nil)
	got, err := c.ByID(context.Background(), " B9AD642E-B012-41C7-B72A-42CF4911F9FF ")
	if err != nil {
		t.Fatalf("ByID() error = %v", err)
	}
	r := fake.requests()[0]
	if p, q := r.URL.Path, r.URL.RawQuery; p != "/ws/2/recording/b9ad642e-b012-41c7-b72a-42cf4911f9ff" ||
		q != "fmt=json&inc=artist-credits+isrcs+releases+release-groups+genres+tags" {
		t.Errorf("request = %s?%s", p, q)
	}
	if len(got) != 1 {
		t.Fatalf("got %d recordings, want 1", len(got))
	}
	rec := got[0]
	var statuses []string
	for _, rel := range rec.Releases {
		statuses = append(statuses, rel.Status)
	}
	rec.Releases = rec.Releases[:1]
	want := provider.Recording{
		Provider:   provider.MusicBrainz,
		ID:         "b9ad642e-b012-41c7-b72a-42cf4911f9ff",
		Title:      "LAST ANGEL",
		Artists:    []string{"倖田來未", "東方神起"},
		Credit:     "倖田來未 feat. 東方神起", // the join phrase tells the guest
		DurationMS: 230240,
		ISRCs:      []string{"JPB600760301"},
		Releases: []provider.Release{
			{ID: "9c7a7669-b43a-3323-906b-c3f0bedc10c9", Title: "LAST ANGEL", Date: "2007-11-07", Country: "JP", Status: "official"},
		},
	}
	if diff := cmp.Diff(want, rec); diff != "" {
		t.Errorf("ByID() mismatch (-want +got):\n%s", diff)
	}
	wantStatuses := append(slices.Repeat([]string{"official"}, 12), slices.Repeat([]string{"pseudo-release"}, 3)...)
	if diff := cmp.Diff(wantStatuses, statuses); diff != "" {
		t.Errorf("release statuses mismatch (-want +got):\n%s", diff)
	}
}

// isrcBody has the documented shape of GET /isrc/{isrc} (provider notes
// §2.4); it is not a recorded response. Two recordings share the ISRC, the
// second without isrcs or releases.
const isrcBody = `{"isrc":"GBAHT1600302","recordings":[
 {"id":"026fa041-3917-4c73-9079-ed16e36f20f8","title":"Blow Your Mind (Mwah)","length":179000,"disambiguation":"explicit","video":false,
  "first-release-date":"2016-08-26","isrcs":["gbaht1600302","DEUM71601954"],
  "artist-credit":[{"name":"Dua Lipa","joinphrase":"","artist":{"id":"6f1a58bf-9b1b-49cf-a44a-6cefad7ae04f","name":"Dua Lipa","sort-name":"Lipa, Dua"}}]},
 {"id":"11111111-2222-4333-8444-555555555555","title":"Blow Your Mind (Mwah) (radio edit)","length":170000,"disambiguation":"","video":false,
  "artist-credit":[{"name":"Dua Lipa","joinphrase":" & ","artist":{"id":"6f1a58bf-9b1b-49cf-a44a-6cefad7ae04f","name":"Dua Lipa"}},
                   {"name":"","joinphrase":"","artist":{"id":"x","name":"Someone"}}]}]}`

func TestByISRC(t *testing.T) {
	c, fake := newTestClient(t, status(http.StatusOK, "", isrcBody), nil)
	got, err := c.ByISRC(context.Background(), "gb-aht-16 00302")
	if err != nil {
		t.Fatalf("ByISRC() error = %v", err)
	}
	r := fake.requests()[0]
	if p, q := r.URL.Path, r.URL.RawQuery; p != "/ws/2/isrc/GBAHT1600302" || q != "fmt=json&inc=artist-credits+isrcs+releases" {
		t.Errorf("request = %s?%s", p, q)
	}
	want := []provider.Recording{
		{Provider: provider.MusicBrainz, ID: "026fa041-3917-4c73-9079-ed16e36f20f8", Title: "Blow Your Mind (Mwah)",
			Artists: []string{"Dua Lipa"}, DurationMS: 179000, ISRCs: []string{"GBAHT1600302", "DEUM71601954"}, Disambiguation: "explicit"},
		{Provider: provider.MusicBrainz, ID: "11111111-2222-4333-8444-555555555555", Title: "Blow Your Mind (Mwah) (radio edit)",
			Artists: []string{"Dua Lipa", "Someone"}, Credit: "Dua Lipa & Someone", DurationMS: 170000, ISRCs: []string{"GBAHT1600302"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ByISRC() mismatch (-want +got):\n%s", diff)
	}
}

// TestUserAgentAlwaysSent checks every request, retries included, carries
// the configured User-Agent and Accept header (the fake answers 403 to any
// other User-Agent).
func TestUserAgentAlwaysSent(t *testing.T) {
	h := func(w http.ResponseWriter, r *http.Request, n int) {
		switch {
		case n%2 == 1: // every first try is throttled
			status(http.StatusServiceUnavailable, "0", busyBody)(w, r, n)
		case strings.HasPrefix(r.URL.Path, "/ws/2/isrc/"):
			status(http.StatusOK, "", isrcBody)(w, r, n)
		default:
			status(http.StatusOK, "", `{"id":"b9ad642e-b012-41c7-b72a-42cf4911f9ff","title":"x","recordings":[]}`)(w, r, n)
		}
	}
	c, fake := newTestClient(t, h, nil)
	ctx := context.Background()
	if _, err := c.Search(ctx, provider.Query{Artist: "Bicep", Title: "Apricots"}); err != nil {
		t.Errorf("Search() error = %v", err)
	}
	if _, err := c.ByID(ctx, "b9ad642e-b012-41c7-b72a-42cf4911f9ff"); err != nil {
		t.Errorf("ByID() error = %v", err)
	}
	if _, err := c.ByISRC(ctx, "GBAHT1600302"); err != nil {
		t.Errorf("ByISRC() error = %v", err)
	}
	reqs := fake.requests()
	if len(reqs) != 6 {
		t.Errorf("got %d requests, want 6", len(reqs))
	}
	for i, r := range reqs {
		if ua, acc, f := r.Header.Get("User-Agent"), r.Header.Get("Accept"), r.URL.Query().Get("fmt"); ua != testUA || acc != "application/json" || f != "json" {
			t.Errorf("request %d (%s): User-Agent %q, Accept %q, fmt %q", i, r.URL.Path, ua, acc, f)
		}
	}
}

func TestErrors(t *testing.T) {
	search := func(ctx context.Context, c *Client) error {
		_, err := c.Search(ctx, provider.Query{Artist: "Bicep", Title: "Apricots"})
		return err
	}
	byID := func(id string) func(context.Context, *Client) error {
		return func(ctx context.Context, c *Client) error { _, err := c.ByID(ctx, id); return err }
	}
	byISRC := func(isrc string) func(context.Context, *Client) error {
		return func(ctx context.Context, c *Client) error { _, err := c.ByISRC(ctx, isrc); return err }
	}
	const mbid = "b9ad642e-b012-41c7-b72a-42cf4911f9ff"
	blockUntilGone := func(_ http.ResponseWriter, r *http.Request, _ int) { <-r.Context().Done() }
	ok := fixture(t, "search_recording_isrc_GBAHT1600302.json")

	tests := []struct {
		name           string
		handler        handler
		edit           func(*Config)
		call           func(context.Context, *Client) error
		wantKind       provider.ErrorKind // KindUnknown: success
		wantStatus     int
		wantRetryAfter time.Duration
		wantRequests   int
		wantTimeout    bool
	}{
		{name: "lookup 404", handler: status(404, "", notFoundBody), call: byID(mbid),
			wantKind: provider.KindNotFound, wantStatus: 404, wantRequests: 1},
		{name: "lookup 400 invalid mbid", handler: status(400, "", `{"error":"Invalid mbid.","help":"…"}`), call: byID(mbid),
			wantKind: provider.KindNotFound, wantStatus: 400, wantRequests: 1},
		{name: "malformed mbid not sent", handler: ok, call: byID("not-an-mbid"),
			wantKind: provider.KindNotFound},
		{name: "isrc 404", handler: status(404, "", notFoundBody), call: byISRC("GBAHT1600399"),
			wantKind: provider.KindNotFound, wantStatus: 404, wantRequests: 1},
		{name: "malformed isrc not sent", handler: ok, call: byISRC("GB123"),
			wantKind: provider.KindNotFound},
		{name: "search 400 is our fault", handler: status(400, "", `{"error":"Invalid query"}`), call: search,
			wantKind: provider.KindBadRequest, wantStatus: 400, wantRequests: 1},
		{name: "search without title not sent", handler: ok,
			call: func(ctx context.Context, c *Client) error {
				_, err := c.Search(ctx, provider.Query{Artist: "Bicep"})
				return err
			},
			wantKind: provider.KindBadRequest},
		{name: "403 user agent missing", handler: status(403, "", uaMissingBody), call: search,
			wantKind: provider.KindUnauthorized, wantStatus: 403, wantRequests: 1},
		{name: "403 for another user agent", handler: ok, call: search,
			edit:     func(cfg *Config) { cfg.UserAgent = "other-app/2.0 ( other@example.com )" },
			wantKind: provider.KindUnauthorized, wantStatus: 403, wantRequests: 1},
		{name: "503 short retry-after waits then succeeds",
			handler: sequence(status(503, "0", busyBody), ok), call: search, wantRequests: 2},
		{name: "503 long retry-after is rate limited", handler: status(503, "120", busyBody), call: search,
			wantKind: provider.KindRateLimited, wantStatus: 503, wantRetryAfter: 120 * time.Second, wantRequests: 1},
		{name: "503 without retry-after retried then succeeds",
			handler: sequence(status(503, "", busyBody), ok), call: search, wantRequests: 2},
		{name: "503 without retry-after exhausts attempts", handler: status(503, "", busyBody), call: search,
			wantKind: provider.KindUnavailable, wantStatus: 503, wantRequests: 3},
		{name: "timeout", handler: blockUntilGone, call: search,
			edit: func(cfg *Config) {
				cfg.Transport.Client = &http.Client{Timeout: 50 * time.Millisecond}
				cfg.Transport.MaxAttempts = 2
			},
			wantKind: provider.KindUnavailable, wantRequests: 2, wantTimeout: true},
		{name: "malformed json", handler: status(200, "", `{"created":"2024-10-03T17:52:03.114Z","recordings":[{"id":`), call: search,
			wantKind: provider.KindBadResponse, wantStatus: 200, wantRequests: 1},
		{name: "wrong json shape", handler: status(200, "", `{"recordings":{"id":"x"}}`), call: search,
			wantKind: provider.KindBadResponse, wantStatus: 200, wantRequests: 1},
		{name: "oversized body", handler: ok, call: search,
			edit:     func(cfg *Config) { cfg.Transport.MaxBody = 1024 },
			wantKind: provider.KindBadResponse, wantStatus: 200, wantRequests: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, fake := newTestClient(t, tt.handler, tt.edit)
			err := tt.call(context.Background(), c)
			if n := len(fake.requests()); n != tt.wantRequests {
				t.Errorf("got %d requests, want %d", n, tt.wantRequests)
			}
			if tt.wantKind == provider.KindUnknown {
				if err != nil {
					t.Fatalf("error = %v, want none", err)
				}
				return
			}
			var pe *provider.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error = %v (%T), want a *provider.Error", err, err)
			}
			got := struct {
				Provider   string
				Kind       provider.ErrorKind
				Status     int
				RetryAfter time.Duration
			}{pe.Provider, pe.Kind, pe.Status, pe.RetryAfter}
			want := got
			want.Provider, want.Kind, want.Status, want.RetryAfter = provider.MusicBrainz, tt.wantKind, tt.wantStatus, tt.wantRetryAfter
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("error %v mismatch (-want +got):\n%s", err, diff)
			}
			var ne net.Error
			if isTimeout := errors.As(err, &ne) && ne.Timeout(); isTimeout != tt.wantTimeout {
				t.Errorf("error %v: timeout = %v, want %v", err, isTimeout, tt.wantTimeout)
			}
		})
	}
}
