// Package discogs is a thin client for the Discogs API v2: database search
// and release lookups, normalised to provider.Recording values. A Discogs
// candidate is one track of one release, so a Recording's ID is the release
// id and its Position tells the tracks of one release apart.
//
// Requests carry "Authorization: Discogs token=…", the configured
// User-Agent and "Accept: application/vnd.discogs.v2.discogs+json". Every
// response's X-Discogs-Ratelimit, -Used and -Remaining headers are recorded
// (see Client.RateLimit and Config.OnRateLimit). Timeouts, the body size
// limit, Retry-After, retries, pacing and metrics are provider.Transport's.
package discogs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/djmeta/enrichment/internal/provider"
)

// Config defaults.
const (
	APIURLDefault         = "https://api.discogs.com"
	SearchLimitDefault    = 10
	LookupReleasesDefault = 3

	// SearchLimitMax is Discogs' largest per_page.
	SearchLimitMax = 100
)

// acceptHeader asks for the v2 JSON representation (Discogs' default).
const acceptHeader = "application/vnd.discogs.v2.discogs+json"

// Config configures a Client. Zero fields take the defaults named below.
type Config struct {
	// APIURL is the API root, possibly with a path prefix
	// (default APIURLDefault, https://api.discogs.com).
	APIURL string
	// Token is a personal access token, sent as
	// "Authorization: Discogs token=<Token>". Required; never logged nor put
	// in errors.
	Token string
	// UserAgent identifies the application, e.g.
	// "djmeta-enrichment/1.0 +https://example.org". Required: Discogs blocks
	// requests without one.
	UserAgent string
	// SearchLimit is the per_page of a search, 1..100 (default 10).
	SearchLimit int
	// LookupReleases is how many of the top search results Search looks up
	// for their tracklists, one request each, 1..SearchLimit (default 3).
	LookupReleases int
	// OnRateLimit, if set, is called with the X-Discogs-Ratelimit and
	// X-Discogs-Ratelimit-Remaining values of every response that carries
	// them, so a fleet limiter can slow down when remaining runs low. It must
	// be quick and safe for concurrent use.
	OnRateLimit func(limit, remaining int)
	// Transport configures the shared HTTP transport (timeouts, body limit,
	// retries, limiter, metrics). Its Provider is set to provider.Discogs; an
	// OnResponse hook given here is called after the client's own.
	Transport provider.TransportConfig
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.APIURL == "" {
		c.APIURL = APIURLDefault
	}
	if c.SearchLimit == 0 {
		c.SearchLimit = SearchLimitDefault
	}
	if c.LookupReleases == 0 {
		c.LookupReleases = LookupReleasesDefault
	}
	return c
}

// validate reports the first invalid field. Messages never quote the token.
func (c Config) validate() error {
	u, err := url.Parse(c.APIURL)
	switch {
	case err != nil:
		return fmt.Errorf("discogs: invalid API URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		return fmt.Errorf("discogs: API URL %q must be an absolute http(s) URL", c.APIURL)
	case c.Token == "":
		return errors.New("discogs: a token is required")
	case strings.ContainsFunc(c.Token, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return errors.New("discogs: the token contains spaces or control characters")
	case strings.TrimSpace(c.UserAgent) == "":
		return errors.New("discogs: a User-Agent is required")
	case c.SearchLimit < 1 || c.SearchLimit > SearchLimitMax:
		return fmt.Errorf("discogs: search limit %d is outside 1..%d", c.SearchLimit, SearchLimitMax)
	case c.LookupReleases < 1 || c.LookupReleases > c.SearchLimit:
		return fmt.Errorf("discogs: lookup releases %d is outside 1..%d (the search limit)", c.LookupReleases, c.SearchLimit)
	}
	return nil
}

// Client is a Discogs client. It is safe for concurrent use.
type Client struct {
	cfg       Config
	base      *url.URL
	auth      string
	transport *provider.Transport

	mu   sync.Mutex
	rate rateLimit
}

// rateLimit is the latest X-Discogs-Ratelimit* state.
type rateLimit struct {
	limit, used, remaining int
	seen                   bool
}

var _ provider.Client = (*Client)(nil)

// New returns a Client for cfg after applying defaults and validating it.
func New(cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	base, _ := url.Parse(strings.TrimRight(cfg.APIURL, "/")) // validated above
	c := &Client{cfg: cfg, base: base, auth: "Discogs token=" + cfg.Token}
	tc := cfg.Transport
	tc.Provider = provider.Discogs
	next := tc.OnResponse
	tc.OnResponse = func(h http.Header) {
		c.observe(h)
		if next != nil {
			next(h)
		}
	}
	c.transport = provider.NewTransport(tc)
	return c, nil
}

// Name returns provider.Discogs.
func (c *Client) Name() string { return provider.Discogs }

// RateLimit returns the latest X-Discogs-Ratelimit (requests per minute),
// -Used and -Remaining values; seen is false until a response carried them.
func (c *Client) RateLimit() (limit, used, remaining int, seen bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rate.limit, c.rate.used, c.rate.remaining, c.rate.seen
}

// observe records the rate-limit headers of one response.
func (c *Client) observe(h http.Header) {
	limit, okL := headerInt(h, "X-Discogs-Ratelimit")
	used, okU := headerInt(h, "X-Discogs-Ratelimit-Used")
	remaining, okR := headerInt(h, "X-Discogs-Ratelimit-Remaining")
	if !okL && !okU && !okR {
		return
	}
	c.mu.Lock()
	if okL {
		c.rate.limit = limit
	}
	if okU {
		c.rate.used = used
	}
	if okR {
		c.rate.remaining = remaining
	}
	c.rate.seen = true
	limit, remaining = c.rate.limit, c.rate.remaining
	c.mu.Unlock()
	if okR && c.cfg.OnRateLimit != nil {
		c.cfg.OnRateLimit(limit, remaining)
	}
}

func headerInt(h http.Header, key string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(h.Get(key)))
	return n, err == nil && n >= 0
}

// Search finds candidate tracks for q. It sends
//
//	GET {APIURL}/database/search?type=release&artist=A&track=T&per_page=N
//
// where A is q.Artist without its "feat." part, T is q.Title without a
// trailing bracketed or dashed version ("Apricots (Extended Mix)" →
// "Apricots"; Discogs titles carry the version in brackets or not at all,
// and every version of a title shares one search) and N is SearchLimit.
// Then it looks up release results with GET {APIURL}/releases/{id}, one at
// a time, in the order most likely to reach the release that carries the
// version first (see searchResponse.releaseIDs), and returns the tracks of
// each whose titles loosely resemble q.Title; the matcher decides. It
// stops after LookupReleases lookups at most. A release that has vanished
// since the search (404) is skipped; any other lookup failure fails the
// search, so no partial answer is taken for a complete one.
func (c *Client) Search(ctx context.Context, q provider.Query) ([]provider.Recording, error) {
	return c.SearchUntil(ctx, q, nil)
}

var _ provider.StoppingSearcher = (*Client)(nil)

// SearchUntil is Search that also stops looking releases up as soon as
// decided (nil: never) says the tracks gathered so far settle the task.
func (c *Client) SearchUntil(ctx context.Context, q provider.Query, decided func([]provider.Recording) bool) ([]provider.Recording, error) {
	if q.Fuzzy {
		// No looser search: every Discogs search costs its release lookups
		// on the tightest quota, and a blind one finds mostly others'
		// releases. The engine searches again with another provider's
		// spelling instead (docs/matching.md).
		return nil, nil
	}
	params := url.Values{}
	params.Set("type", "release")
	if a := searchArtist(q.Artist); a != "" {
		params.Set("artist", a)
	}
	base := baseTitle(q.Title)
	if base != "" {
		params.Set("track", base)
	}
	params.Set("per_page", strconv.Itoa(c.cfg.SearchLimit))
	var res searchResponse
	if err := c.get(ctx, provider.KindSearchRequest, "/database/search", params, &res); err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	var out []provider.Recording
	for _, id := range res.releaseIDs(c.cfg.LookupReleases, words(base), versionWords(q.Title, base)) {
		rel, err := c.release(ctx, id)
		if provider.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("search: release %d: %w", id, err)
		}
		for _, r := range rel.recordings() {
			if resembles(q.Title, r.Title) {
				out = append(out, r)
			}
		}
		if decided != nil && len(out) > 0 && decided(out) {
			break
		}
	}
	return out, nil
}

// ByISRC returns no candidates and sends no request: Discogs has no ISRC
// lookup, and its search does not index the ISRCs a few releases list.
func (c *Client) ByISRC(context.Context, string) ([]provider.Recording, error) {
	return nil, nil
}

// ByID returns every track of release id (GET {APIURL}/releases/{id}) in
// tracklist order, headings and index rows left out. An unknown release, or
// an id that is not a positive decimal number, is a KindNotFound error.
func (c *Client) ByID(ctx context.Context, id string) ([]provider.Recording, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(id), 10, 64)
	if err != nil || n <= 0 {
		return nil, &provider.Error{Provider: provider.Discogs, Kind: provider.KindNotFound,
			Err: fmt.Errorf("invalid release id %q", id)}
	}
	rel, err := c.release(ctx, n)
	if err != nil {
		return nil, fmt.Errorf("release %d: %w", n, err)
	}
	return rel.recordings(), nil
}

func (c *Client) release(ctx context.Context, id int64) (*release, error) {
	var rel release
	if err := c.get(ctx, provider.KindLookupRequest, "/releases/"+strconv.FormatInt(id, 10), nil, &rel); err != nil {
		return nil, err
	}
	return &rel, nil
}

// get sends one GET through the transport and decodes the answer into out.
// The answer is cached under the request normalised the way Discogs reads
// it: search terms without regard to letter case or spacing, parameters in
// any order.
func (c *Client) get(ctx context.Context, kind, path string, params url.Values, out any) error {
	call := provider.Call{Kind: kind, Key: provider.CallKey(path, params, searchTerms...)}
	u := *c.base
	u.Path += path
	u.RawPath = ""
	u.RawQuery = params.Encode()
	target := u.String()
	build := func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", c.auth)
		req.Header.Set("User-Agent", c.cfg.UserAgent)
		req.Header.Set("Accept", acceptHeader)
		return req, nil
	}
	return c.transport.DoCached(ctx, call, build, nil, out)
}

// searchTerms are the free-text search parameters Discogs matches without
// regard to letter case.
var searchTerms = []string{"q", "artist", "track", "title", "release_title", "credit", "anv", "label"}
