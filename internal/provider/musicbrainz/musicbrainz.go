// Package musicbrainz is a thin client for the MusicBrainz web service
// (WS/2): recording search, recording lookup by MBID and lookup by ISRC,
// normalised to provider.Recording values.
//
// Every request is a GET with fmt=json, "Accept: application/json" and the
// configured User-Agent, which MusicBrainz requires in the form
// "name/version ( contact )". The requests are:
//
//	Search  GET {APIURL}/recording?fmt=json&limit={SearchLimit}&query={lucene}
//	ByISRC  GET {APIURL}/isrc/{ISRC}?fmt=json&inc=artist-credits+isrcs+releases
//	ByID    GET {APIURL}/recording/{MBID}?fmt=json&inc=artist-credits+isrcs+releases+release-groups+genres+tags
//
// See SearchQuery for the Lucene query. WS/2 has no "labels" include for
// recordings (label-info lives on releases and needs one release lookup
// each, at 1 request/s), so labels and catalogue numbers are filled only
// when a response carries label-info; the lookup asks for release-groups
// instead, which gives each release its type. On /isrc, MusicBrainz was
// observed to ignore inc=releases; it is sent anyway and used when present.
//
// Timeouts, the body size limit, Retry-After (MusicBrainz throttles with 503,
// usually "Retry-After: 0"), retries, pacing and metrics are
// provider.Transport's. MusicBrainz allows 1 request/s per IP address, so
// the Transport's Limiter should be the fleet-wide one.
package musicbrainz

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"unicode"

	"github.com/djmeta/enrichment/internal/provider"
)

// Config defaults and limits.
const (
	APIURLDefault      = "https://musicbrainz.org/ws/2"
	SearchLimitDefault = 10
	// SearchLimitMax is the largest limit WS/2 accepts.
	SearchLimitMax = 100
)

// Includes sent with lookups (see the package documentation).
var (
	incRecording = []string{"artist-credits", "isrcs", "releases", "release-groups", "genres", "tags"}
	incISRC      = []string{"artist-credits", "isrcs", "releases"}
)

// Config configures a Client. Zero fields take the defaults named below.
type Config struct {
	// APIURL is the WS/2 root (default APIURLDefault,
	// https://musicbrainz.org/ws/2).
	APIURL string
	// UserAgent identifies the application as "name/version ( contact )",
	// the contact being an e-mail address or a URL, e.g.
	// "djmeta-enrichment/1.0 ( ops@example.com )". Required: MusicBrainz
	// answers 403 to requests that do not identify themselves.
	UserAgent string
	// SearchLimit is the limit of a recording search, 1..100 (default 10).
	SearchLimit int
	// Transport configures the shared HTTP transport (timeouts, body limit,
	// retries, limiter, metrics). Its Provider is set to
	// provider.MusicBrainz. A nil Limiter means unpaced: pass the fleet-wide
	// limiter for MUSICBRAINZ_RATE.
	Transport provider.TransportConfig
}

// userAgentRe is "name/version ( contact )"; the name may contain spaces,
// the version may not, and the spaces inside the parentheses are optional.
var userAgentRe = regexp.MustCompile(`^[^\s/()][^/()]*/[^\s/()]+ +\( *([^()]*[^\s()])? *\)$`)

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.APIURL == "" {
		c.APIURL = APIURLDefault
	}
	if c.SearchLimit == 0 {
		c.SearchLimit = SearchLimitDefault
	}
	return c
}

// validate reports the first invalid field.
func (c Config) validate() error {
	u, err := url.Parse(c.APIURL)
	switch {
	case err != nil:
		return fmt.Errorf("musicbrainz: invalid API URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		return fmt.Errorf("musicbrainz: API URL %q must be an absolute http(s) URL", c.APIURL)
	case c.SearchLimit < 1 || c.SearchLimit > SearchLimitMax:
		return fmt.Errorf("musicbrainz: search limit %d is outside 1..%d", c.SearchLimit, SearchLimitMax)
	}
	return validateUserAgent(c.UserAgent)
}

// validateUserAgent checks the "name/version ( contact )" form MusicBrainz
// requires, with a contact that looks like an e-mail address or a URL.
func validateUserAgent(ua string) error {
	if strings.TrimSpace(ua) == "" {
		return errors.New(`musicbrainz: a User-Agent of the form "name/version ( contact )" is required`)
	}
	m := userAgentRe.FindStringSubmatch(ua)
	if m == nil || strings.ContainsFunc(ua, unicode.IsControl) {
		return fmt.Errorf(`musicbrainz: User-Agent %q is not of the form "name/version ( contact )"`, ua)
	}
	if !strings.ContainsAny(m[1], "@.") {
		return fmt.Errorf("musicbrainz: User-Agent %q has no contact (an e-mail address or a URL)", ua)
	}
	return nil
}

// Client is a MusicBrainz client. It is safe for concurrent use.
type Client struct {
	base        string
	userAgent   string
	searchLimit int
	transport   *provider.Transport
}

var _ provider.Client = (*Client)(nil)

// New returns a Client for cfg after applying defaults and validating it.
func New(cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	tc := cfg.Transport
	tc.Provider = provider.MusicBrainz
	return &Client{
		base:        strings.TrimRight(cfg.APIURL, "/"),
		userAgent:   cfg.UserAgent,
		searchLimit: cfg.SearchLimit,
		transport:   provider.NewTransport(tc),
	}, nil
}

// Name returns provider.MusicBrainz.
func (c *Client) Name() string { return provider.MusicBrainz }

// Search finds candidate recordings for q with one recording search (see
// SearchQuery, and FuzzySearchQuery for q.Fuzzy), best score first. Other versions of the title are among
// the candidates; telling them apart is the matcher's job.
func (c *Client) Search(ctx context.Context, q provider.Query) ([]provider.Recording, error) {
	search := SearchQuery
	if q.Fuzzy {
		search = FuzzySearchQuery
	}
	query, err := search(q)
	if err != nil {
		return nil, &provider.Error{Provider: provider.MusicBrainz, Kind: provider.KindBadRequest, Err: err}
	}
	params := url.Values{
		"query": {query},
		"limit": {fmt.Sprint(c.searchLimit)},
	}
	var resp searchResponse
	if err := c.get(ctx, provider.KindSearchRequest, "/recording", params, nil, classify, &resp); err != nil {
		return nil, err
	}
	return normalise(resp.Recordings, ""), nil
}

// ByISRC finds the recordings carrying isrc (dashes and spaces are
// ignored). An unknown or malformed ISRC is a KindNotFound error. Each
// result lists isrc among its ISRCs.
func (c *Client) ByISRC(ctx context.Context, isrc string) ([]provider.Recording, error) {
	norm := normaliseISRC(isrc)
	if !isrcRe.MatchString(norm) {
		return nil, notFound(fmt.Errorf("malformed ISRC %q", isrc))
	}
	var resp isrcResponse
	if err := c.get(ctx, provider.KindISRCRequest, "/isrc/"+norm, nil, incISRC, classifyLookup, &resp); err != nil {
		return nil, err
	}
	return normalise(resp.Recordings, norm), nil
}

// ByID looks up the recording with MBID mbid; the result has one element.
// An unknown or malformed MBID is a KindNotFound error (a malformed one is
// rejected without a request).
func (c *Client) ByID(ctx context.Context, mbid string) ([]provider.Recording, error) {
	id := strings.ToLower(strings.TrimSpace(mbid))
	if !mbidRe.MatchString(id) {
		return nil, notFound(fmt.Errorf("malformed MBID %q", mbid))
	}
	var rec recording
	if err := c.get(ctx, provider.KindLookupRequest, "/recording/"+id, nil, incRecording, classifyLookup, &rec); err != nil {
		return nil, err
	}
	return normalise([]recording{rec}, ""), nil
}

var (
	mbidRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	isrcRe = regexp.MustCompile(`^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$`)
)

// normaliseISRC upper-cases s and drops dashes and spaces.
func normaliseISRC(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || unicode.IsSpace(r) {
			return -1
		}
		return unicode.ToUpper(r)
	}, s)
}

func notFound(err error) error {
	return &provider.Error{Provider: provider.MusicBrainz, Kind: provider.KindNotFound, Err: err}
}

// classify is provider.DefaultClassify except that 403 means MusicBrainz
// refused to serve an unidentified or blocked User-Agent: a configuration
// problem, reported as KindUnauthorized and never retried. 503 without
// Retry-After is KindUnavailable (retried); with Retry-After the Transport
// makes it KindRateLimited.
func classify(status int) provider.ErrorKind {
	if status == http.StatusForbidden {
		return provider.KindUnauthorized
	}
	return provider.DefaultClassify(status)
}

// classifyLookup is classify for lookups, where MusicBrainz answers 400 to
// an id it cannot parse (the id cannot exist) and 404 to an unknown one.
func classifyLookup(status int) provider.ErrorKind {
	if status == http.StatusBadRequest {
		return provider.KindNotFound
	}
	return classify(status)
}

// get sends GET {base}{path}?fmt=json&{params}&inc={incs joined by "+"} and
// decodes the JSON answer into out. The answer is cached under the request
// normalised the way MusicBrainz reads it: the Lucene query without regard
// to letter case or spacing (its indexes fold case), MBIDs in lower case
// and ISRCs in upper case (the callers normalise them).
func (c *Client) get(ctx context.Context, kind, path string, params url.Values, incs []string, cl provider.Classify, out any) error {
	if params == nil {
		params = url.Values{}
	}
	params.Set("fmt", "json")
	keyParams := url.Values{}
	for k, v := range params {
		keyParams[k] = v
	}
	if len(incs) > 0 {
		keyParams.Set("inc", strings.Join(incs, "+"))
	}
	call := provider.Call{Kind: kind, Key: provider.CallKey(path, keyParams, "query")}
	rawQuery := params.Encode()
	if len(incs) > 0 {
		// A literal "+" as in the WS/2 documentation; the values need no escaping.
		rawQuery += "&inc=" + strings.Join(incs, "+")
	}
	target := c.base + path + "?" + rawQuery
	build := func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return nil, fmt.Errorf("build request: %w", err)
		}
		req.Header.Set("User-Agent", c.userAgent)
		req.Header.Set("Accept", "application/json")
		return req, nil
	}
	return c.transport.DoCached(ctx, call, build, cl, out)
}
