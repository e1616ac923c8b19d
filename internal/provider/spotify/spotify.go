// Package spotify is a thin client for the three Spotify Web API calls the
// enrichment needs: a client-credentials token, track search (also by ISRC)
// and a single-track lookup. It is written for development-mode apps as they
// behave since February 2026: search limit at most 10, no batch track lookup,
// and track objects without popularity, available_markets, linked_from or an
// album label. Requests go through provider.Transport, which owns timeouts,
// the body size limit, Retry-After, retries, rate limiting and metrics.
package spotify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/djmeta/enrichment/internal/provider"
)

// Config defaults and bounds.
const (
	APIURLDefault      = "https://api.spotify.com/v1"
	TokenURLDefault    = "https://accounts.spotify.com/api/token"
	SearchLimitDefault = 10
	// SearchLimitMax is the search limit allowed to development-mode apps
	// since February 2026; Spotify rejects a larger one with a 400.
	SearchLimitMax = 10
)

// Config configures a Client. ClientID and ClientSecret are required; the
// other fields are optional and zero ones take the documented defaults.
type Config struct {
	// ClientID and ClientSecret are the app's credentials (required).
	ClientID     string
	ClientSecret string
	// APIURL is the Web API base (default APIURLDefault).
	APIURL string
	// TokenURL is the client-credentials token endpoint (default TokenURLDefault).
	TokenURL string
	// Market is an optional ISO 3166-1 alpha-2 country code ("DE") sent with
	// every request; empty sends none.
	Market string
	// SearchLimit is the number of search results asked for, 1..SearchLimitMax
	// (default SearchLimitDefault).
	SearchLimit int
	// Transport configures timeouts, retries, rate limiting and metrics. Its
	// Provider is always set to provider.Spotify.
	Transport provider.TransportConfig
}

var marketRe = regexp.MustCompile(`^[A-Z]{2}$`)

func (c *Config) setDefaults() {
	if c.APIURL == "" {
		c.APIURL = APIURLDefault
	}
	if c.TokenURL == "" {
		c.TokenURL = TokenURLDefault
	}
	if c.SearchLimit == 0 {
		c.SearchLimit = SearchLimitDefault
	}
	c.APIURL = strings.TrimRight(c.APIURL, "/")
	c.Transport.Provider = provider.Spotify
}

// validate checks a Config that has its defaults set. Its errors never
// contain the client secret.
func (c *Config) validate() error {
	var errs []error
	if c.ClientID == "" {
		errs = append(errs, errors.New("client id is required"))
	}
	if c.ClientSecret == "" {
		errs = append(errs, errors.New("client secret is required"))
	}
	for _, u := range []struct{ name, value string }{{"api url", c.APIURL}, {"token url", c.TokenURL}} {
		if err := checkURL(u.value); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", u.name, err))
		}
	}
	if c.Market != "" && !marketRe.MatchString(c.Market) {
		errs = append(errs, fmt.Errorf("market %q: want an upper-case ISO 3166-1 alpha-2 code", c.Market))
	}
	if c.SearchLimit < 1 || c.SearchLimit > SearchLimitMax {
		errs = append(errs, fmt.Errorf("search limit %d: want 1..%d", c.SearchLimit, SearchLimitMax))
	}
	return errors.Join(errs...)
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%q: want an absolute http or https URL", s)
	}
	return nil
}

// Client is a Spotify Web API client. It is safe for concurrent use.
type Client struct {
	cfg    Config
	tr     *provider.Transport
	tokens *tokenSource
}

var _ provider.Client = (*Client)(nil)

// New returns a Client for cfg, or an error naming what is wrong with it.
func New(cfg Config) (*Client, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("spotify config: %w", err)
	}
	tr := provider.NewTransport(cfg.Transport)
	return &Client{
		cfg:    cfg,
		tr:     tr,
		tokens: newTokenSource(tr, cfg.TokenURL, cfg.ClientID, cfg.ClientSecret),
	}, nil
}

// Name returns provider.Spotify.
func (c *Client) Name() string { return provider.Spotify }

// Search finds tracks by title and artist with
// q=track:"<title>" artist:"<artist>" (q=<title> <artist> for q.Fuzzy), at
// most Config.SearchLimit of them.
// No hits is an empty result, not an error.
func (c *Client) Search(ctx context.Context, q provider.Query) ([]provider.Recording, error) {
	title, artist := fieldValue(q.Title), fieldValue(q.Artist)
	if title == "" && artist == "" {
		return nil, &provider.Error{Provider: provider.Spotify, Kind: provider.KindBadRequest, Err: errors.New("empty query")}
	}
	if q.Fuzzy {
		// The looser search: the words without field filters, which Spotify
		// matches in any field and forgives small misspellings in.
		return c.search(ctx, strings.TrimSpace(title+" "+artist))
	}
	var terms []string
	if title != "" {
		terms = append(terms, `track:"`+title+`"`)
	}
	if artist != "" {
		terms = append(terms, `artist:"`+artist+`"`)
	}
	return c.search(ctx, strings.Join(terms, " "))
}

// ByISRC finds tracks carrying isrc (q=isrc:XXXX). The ISRC is normalised
// first; a malformed one is a KindBadRequest error and sends no request.
func (c *Client) ByISRC(ctx context.Context, isrc string) ([]provider.Recording, error) {
	n := normalizeISRC(isrc)
	if !isrcRe.MatchString(n) {
		return nil, &provider.Error{Provider: provider.Spotify, Kind: provider.KindBadRequest, Err: fmt.Errorf("malformed ISRC %q", isrc)}
	}
	return c.search(ctx, "isrc:"+n)
}

var idRe = regexp.MustCompile(`^[0-9A-Za-z]{22}$`)

// ByID looks up one track by its bare 22-character id (GET /tracks/{id}).
// An id Spotify does not know (404, or 400 "invalid id") is a KindNotFound
// error; so is a malformed id, which is not sent.
func (c *Client) ByID(ctx context.Context, id string) ([]provider.Recording, error) {
	if !idRe.MatchString(id) {
		return nil, &provider.Error{Provider: provider.Spotify, Kind: provider.KindNotFound, Err: fmt.Errorf("malformed track id %q", id)}
	}
	var t track
	// The default mapping fits: 404 is an unknown id, 403 a closed endpoint.
	err := c.get(ctx, provider.KindLookupRequest, "/tracks/"+id, c.marketParams(), provider.DefaultClassify, &t)
	var pe *provider.Error
	if errors.As(err, &pe) && pe.Status == http.StatusBadRequest && isInvalidID(pe.Err) {
		pe.Kind = provider.KindNotFound
	}
	if err != nil {
		return nil, err
	}
	if t.ID == "" {
		return nil, &provider.Error{Provider: provider.Spotify, Kind: provider.KindBadResponse, Status: http.StatusOK, Err: errors.New("track without id")}
	}
	return []provider.Recording{t.recording()}, nil
}

func (c *Client) search(ctx context.Context, q string) ([]provider.Recording, error) {
	params := c.marketParams()
	params.Set("type", "track")
	params.Set("limit", strconv.Itoa(c.cfg.SearchLimit))
	params.Set("q", q)
	var resp searchResponse
	kind := provider.KindSearchRequest
	if strings.HasPrefix(q, "isrc:") {
		kind = provider.KindISRCRequest
	}
	if err := c.get(ctx, kind, "/search", params, classifySearch, &resp); err != nil {
		return nil, err
	}
	recs := make([]provider.Recording, 0, len(resp.Tracks.Items))
	for _, t := range resp.Tracks.Items {
		if t != nil && t.ID != "" { // Spotify paging objects may hold null items
			recs = append(recs, t.recording())
		}
	}
	return recs, nil
}

func (c *Client) marketParams() url.Values {
	v := url.Values{}
	if c.cfg.Market != "" {
		v.Set("market", c.cfg.Market)
	}
	return v
}

// get sends an authorised GET to the Web API and decodes the answer into
// out. A 401 drops the token and the call is tried once more with a fresh
// one; a second 401 is returned. The answer is cached under the request
// normalised the way Spotify reads it: the search text without regard to
// letter case or spacing (track ids are case-sensitive and kept as they
// are).
func (c *Client) get(ctx context.Context, kind, path string, params url.Values, classify provider.Classify, out any) error {
	call := provider.Call{Kind: kind, Key: provider.CallKey(path, params, "q")}
	u := c.cfg.APIURL + path
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	for attempt := 1; ; attempt++ {
		tok, err := c.tokens.token(ctx)
		if err != nil {
			return err
		}
		err = c.tr.DoCached(ctx, call, func(ctx context.Context) (*http.Request, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if err != nil {
				return nil, err
			}
			req.Header.Set("Accept", "application/json")
			req.Header.Set("Authorization", "Bearer "+tok)
			return req, nil
		}, classify, out)
		if attempt == 1 && provider.KindOf(err) == provider.KindUnauthorized {
			c.tokens.invalidate(tok)
			continue
		}
		return err
	}
}

// classifySearch maps a search status to an error kind. /search has no
// "not found": a 404 there means a wrong APIURL.
func classifySearch(status int) provider.ErrorKind {
	if status == http.StatusNotFound {
		return provider.KindBadResponse
	}
	return provider.DefaultClassify(status)
}

// isInvalidID reports whether a 400 body says the id is malformed
// ("invalid id", "Invalid base62 id").
func isInvalidID(err error) bool {
	if err == nil {
		return false
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "invalid id") || strings.Contains(msg, "invalid base62 id")
}

// fieldValue makes s safe inside a quoted field filter (track:"…"): double
// quotes would end the value, colons and backslashes could start another
// filter or escape, so they become spaces; runs of space collapse.
func fieldValue(s string) string {
	s = strings.Map(func(r rune) rune {
		switch r {
		case '"', ':', '\\':
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}
