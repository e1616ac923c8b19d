package providersim

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The simulator's own Discogs API v2 JSON types, after the recorded responses in
// testdata/fixtures/discogs. Never shared with the service's Discogs client.

type dgCommunitySmall struct {
	Want int `json:"want"`
	Have int `json:"have"`
}

type dgUserData struct {
	InWantlist   bool `json:"in_wantlist"`
	InCollection bool `json:"in_collection"`
}

type dgFormat struct {
	Name         string   `json:"name"`
	Qty          string   `json:"qty"`
	Text         string   `json:"text,omitempty"`
	Descriptions []string `json:"descriptions,omitempty"`
}

type dgSearchResult struct {
	Country        string           `json:"country,omitempty"`
	Year           string           `json:"year,omitempty"`
	Format         []string         `json:"format"`
	Label          []string         `json:"label"`
	Type           string           `json:"type"`
	Genre          []string         `json:"genre"`
	Style          []string         `json:"style"`
	ID             int64            `json:"id"`
	Barcode        []string         `json:"barcode"`
	UserData       dgUserData       `json:"user_data"`
	MasterID       int64            `json:"master_id"`
	MasterURL      *string          `json:"master_url"`
	URI            string           `json:"uri"`
	Catno          string           `json:"catno"`
	Title          string           `json:"title"`
	Thumb          string           `json:"thumb"`
	CoverImage     string           `json:"cover_image"`
	ResourceURL    string           `json:"resource_url"`
	Community      dgCommunitySmall `json:"community"`
	FormatQuantity int              `json:"format_quantity,omitempty"`
	Formats        []dgFormat       `json:"formats,omitempty"`
}

type dgPagination struct {
	Page    int               `json:"page"`
	Pages   int               `json:"pages"`
	PerPage int               `json:"per_page"`
	Items   int               `json:"items"`
	URLs    map[string]string `json:"urls"`
}

type dgSearchResponse struct {
	Pagination dgPagination     `json:"pagination"`
	Results    []dgSearchResult `json:"results"`
}

type dgArtist struct {
	Name        string `json:"name"`
	ANV         string `json:"anv"`
	Join        string `json:"join"`
	Role        string `json:"role"`
	Tracks      string `json:"tracks"`
	ID          int64  `json:"id"`
	ResourceURL string `json:"resource_url"`
}

type dgLabel struct {
	Name           string `json:"name"`
	Catno          string `json:"catno"`
	EntityType     string `json:"entity_type"`
	EntityTypeName string `json:"entity_type_name"`
	ID             int64  `json:"id"`
	ResourceURL    string `json:"resource_url"`
}

type dgTrack struct {
	Position     string     `json:"position"`
	Type         string     `json:"type_"`
	Title        string     `json:"title"`
	Duration     string     `json:"duration"`
	Artists      []dgArtist `json:"artists,omitempty"`
	Extraartists []dgArtist `json:"extraartists,omitempty"`
}

type dgIdentifier struct {
	Type        string `json:"type"`
	Value       string `json:"value"`
	Description string `json:"description,omitempty"`
}

type dgUser struct {
	Username    string `json:"username"`
	ResourceURL string `json:"resource_url"`
}

type dgRating struct {
	Count   int     `json:"count"`
	Average float64 `json:"average"`
}

type dgCommunity struct {
	Have         int      `json:"have"`
	Want         int      `json:"want"`
	Rating       dgRating `json:"rating"`
	Submitter    dgUser   `json:"submitter"`
	Contributors []dgUser `json:"contributors"`
	DataQuality  string   `json:"data_quality"`
	Status       string   `json:"status"`
}

type dgImage struct {
	Type        string `json:"type"`
	URI         string `json:"uri"`
	ResourceURL string `json:"resource_url"`
	URI150      string `json:"uri150"`
	Width       int    `json:"width"`
	Height      int    `json:"height"`
}

type dgRelease struct {
	ID                int64          `json:"id"`
	Status            string         `json:"status"`
	Year              int            `json:"year"`
	ResourceURL       string         `json:"resource_url"`
	URI               string         `json:"uri"`
	Artists           []dgArtist     `json:"artists"`
	ArtistsSort       string         `json:"artists_sort"`
	Labels            []dgLabel      `json:"labels"`
	Series            []dgLabel      `json:"series"`
	Companies         []dgLabel      `json:"companies"`
	Formats           []dgFormat     `json:"formats"`
	DataQuality       string         `json:"data_quality"`
	Community         dgCommunity    `json:"community"`
	FormatQuantity    int            `json:"format_quantity"`
	DateAdded         string         `json:"date_added"`
	DateChanged       string         `json:"date_changed"`
	NumForSale        int            `json:"num_for_sale"`
	LowestPrice       *float64       `json:"lowest_price"`
	MasterID          int64          `json:"master_id,omitempty"`
	MasterURL         string         `json:"master_url,omitempty"`
	Title             string         `json:"title"`
	Country           string         `json:"country"`
	Released          string         `json:"released"`
	ReleasedFormatted string         `json:"released_formatted"`
	Identifiers       []dgIdentifier `json:"identifiers"`
	Videos            []struct{}     `json:"videos"`
	Genres            []string       `json:"genres"`
	Styles            []string       `json:"styles"`
	Tracklist         []dgTrack      `json:"tracklist"`
	Extraartists      []dgArtist     `json:"extraartists"`
	Images            []dgImage      `json:"images"`
	Thumb             string         `json:"thumb"`
	EstimatedWeight   int            `json:"estimated_weight"`
	BlockedFromSale   bool           `json:"blocked_from_sale"`
	IsOffensive       bool           `json:"is_offensive"`
}

type dgMessage struct {
	Message string `json:"message"`
}

const discogsAPI = "/discogs"

// discogsAuth is who a request authenticates as.
type discogsAuth struct {
	key     string // rate-limit key; "" when unauthenticated
	invalid bool
}

func (s *Server) discogsIdentify(r *http.Request) discogsAuth {
	q := r.URL.Query()
	token, key, secret := q.Get("token"), q.Get("key"), q.Get("secret")
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Discogs") {
			return discogsAuth{invalid: true}
		}
		for _, part := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			switch k {
			case "token":
				token = v
			case "key":
				key = v
			case "secret":
				secret = v
			}
		}
		if token == "" && (key == "" || secret == "") {
			return discogsAuth{invalid: true}
		}
	}
	switch {
	case token != "":
		if len(s.cfg.DiscogsTokens) > 0 && !slices.Contains(s.cfg.DiscogsTokens, token) {
			return discogsAuth{invalid: true}
		}
		return discogsAuth{key: "token:" + token}
	case key != "" && secret != "":
		return discogsAuth{key: "key:" + key}
	case key != "" || secret != "":
		return discogsAuth{invalid: true}
	}
	return discogsAuth{}
}

// discogs serves the Discogs API: User-Agent, credentials, the 60-second moving window
// with X-Discogs-Ratelimit* headers on every answer, error injection, then the endpoint.
func (s *Server) discogs(w *respWriter, r *http.Request) {
	if strings.TrimSpace(r.UserAgent()) == "" {
		w.why = outcomeAuth
		w.WriteHeader(http.StatusForbidden) // Discogs blocks a missing User-Agent with an empty answer
		return
	}
	who := s.discogsIdentify(r)
	lim, key := s.discogsAuth, who.key
	if key == "" {
		lim, key = s.discogsAnon, "ip:"+s.clientIP(r)
	}
	now := s.clock.Now()
	ok, wait := lim.allow(key, now)
	used, limit := lim.usage(key, now)
	w.Header().Set("X-Discogs-Ratelimit", strconv.Itoa(limit))
	w.Header().Set("X-Discogs-Ratelimit-Used", strconv.Itoa(used))
	w.Header().Set("X-Discogs-Ratelimit-Remaining", strconv.Itoa(max(0, limit-used)))
	if who.invalid {
		w.why = outcomeAuth
		writeJSON(w, http.StatusUnauthorized, dgMessage{"Invalid consumer token. Please register an app before making API requests."})
		return
	}
	if !ok {
		w.why = outcomeRateLimited
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(wait)))
		writeJSON(w, http.StatusTooManyRequests, dgMessage{"You are making requests too quickly."})
		return
	}
	if s.injectError(s.cfg.DiscogsErrorRate) {
		w.why = outcomeInjected
		writeJSON(w, http.StatusServiceUnavailable, dgMessage{"The service is temporarily unavailable. Please try again later."})
		return
	}
	if r.Method != http.MethodGet {
		writeJSON(w, http.StatusMethodNotAllowed, dgMessage{"Method not allowed."})
		return
	}
	path := strings.Trim(strings.TrimPrefix(r.URL.Path, discogsAPI), "/")
	switch {
	case path == "database/search":
		if who.key == "" {
			w.why = outcomeAuth
			writeJSON(w, http.StatusUnauthorized, dgMessage{"You must authenticate to access this resource."})
			return
		}
		s.discogsSearch(w, r)
	case strings.HasPrefix(path, "releases/"):
		s.discogsRelease(w, r, strings.TrimPrefix(path, "releases/"))
	default:
		writeJSON(w, http.StatusNotFound, dgMessage{"The requested resource was not found."})
	}
}

var nonSlug = regexp.MustCompile(`[^\p{L}\p{N}]+`)

func dgSlug(s string) string { return strings.Trim(nonSlug.ReplaceAllString(s, "-"), "-") }

func (s *Server) dgReleaseTitle(rel *Release) string {
	return s.dgCreditString(rel.Artists) + " - " + rel.Title
}

// dgCreditString renders a credit the Discogs way: "Disclosure Feat. Sam Smith",
// "Henrik Schwarz, Âme & Dixon", with Discogs' "(2)" suffixes.
func (s *Server) dgCreditString(cs []Credit) string {
	var b strings.Builder
	for i, c := range cs {
		b.WriteString(s.cat.artist(c.Artist).DiscogsName)
		if i == len(cs)-1 {
			break
		}
		switch j := discogsJoin(c.Join); j {
		case ",":
			b.WriteString(", ")
		case "":
			b.WriteString(" ")
		default:
			b.WriteString(" " + j + " ")
		}
	}
	return b.String()
}

func (s *Server) dgImageURL(rel *Release, size int) string {
	return fmt.Sprintf("https://i.discogs.com/sim/rs:fit/g:sm/q:90/h:%d/w:%d/R-%d.jpeg", size, size, rel.DiscogsID)
}

func formatStrings(fs []Format) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Name)
		out = append(out, f.Descriptions...)
		if f.Text != "" {
			out = append(out, f.Text)
		}
	}
	return out
}

func dgFormats(fs []Format) []dgFormat {
	out := make([]dgFormat, 0, len(fs))
	for _, f := range fs {
		out = append(out, dgFormat{Name: f.Name, Qty: f.Qty, Text: f.Text, Descriptions: f.Descriptions})
	}
	return out
}

func (s *Server) dgSearchResultOf(base string, rel *Release, master bool) dgSearchResult {
	res := dgSearchResult{
		Country: rel.Country, Format: formatStrings(rel.Formats), Label: []string{rel.Label},
		Type: "release", Genre: rel.Genres, Style: rel.Styles, ID: rel.DiscogsID, Barcode: []string{},
		MasterID: rel.DiscogsMasterID, Catno: rel.Catno, Title: s.dgReleaseTitle(rel),
		Thumb: s.dgImageURL(rel, 150), CoverImage: s.dgImageURL(rel, 600),
		Community:      dgCommunitySmall{Want: rel.DiscogsWant, Have: rel.DiscogsHave},
		FormatQuantity: len(rel.Formats), Formats: dgFormats(rel.Formats),
		URI:         fmt.Sprintf("/release/%d-%s", rel.DiscogsID, dgSlug(s.dgReleaseTitle(rel))),
		ResourceURL: fmt.Sprintf("%s%s/releases/%d", base, discogsAPI, rel.DiscogsID),
	}
	if y := rel.Year(); y > 0 {
		res.Year = strconv.Itoa(y)
	}
	if rel.Barcode != "" {
		res.Barcode = []string{rel.Barcode}
	}
	if rel.DiscogsMasterID != 0 {
		mu := fmt.Sprintf("%s%s/masters/%d", base, discogsAPI, rel.DiscogsMasterID)
		res.MasterURL = &mu
	}
	if master {
		res.Type, res.ID = "master", rel.DiscogsMasterID
		res.URI = fmt.Sprintf("/master/%d-%s", rel.DiscogsMasterID, dgSlug(s.dgReleaseTitle(rel)))
		res.ResourceURL = *res.MasterURL
		res.FormatQuantity, res.Formats = 0, nil
	}
	return res
}

// dgParam is one search parameter's words: all of them, and the ones that
// must match. Words that name a mix ("extended", "mix", "remix") are
// optional; every other word must match (all of them when every word names
// a mix).
type dgParam struct {
	q, required []string
}

func newDgParam(v string) dgParam {
	q := words(v)
	var required []string
	for _, w := range q {
		if !versionWords[w] {
			required = append(required, w)
		}
	}
	if len(required) == 0 {
		required = q
	}
	return dgParam{q: q, required: required}
}

// score matches the parameter against the best of fields. It returns -1
// for no match.
func (p dgParam) score(fields ...[]string) float64 {
	if len(p.q) == 0 {
		return 0
	}
	best := -1.0
	for _, f := range fields {
		if coverage(p.required, f) < 1 {
			continue
		}
		best = max(best, 1+0.5*coverage(p.q, f))
	}
	return best
}

// paramScore scores one search parameter against the release's fields it
// searches (-1: no match).
func (d *dgDoc) paramScore(param string, p dgParam) float64 {
	switch param {
	case "q":
		return p.score(d.all)
	case "artist":
		return p.score(d.artists)
	case "release_title":
		return p.score(d.title)
	case "title":
		return p.score(d.artistsTitle)
	case "track":
		return p.score(d.tracks...)
	case "label":
		return p.score(d.label)
	case "genre":
		return p.score(d.genres)
	case "style":
		return p.score(d.styles)
	case "format":
		return p.score(d.formats)
	case "country":
		return p.score(d.country)
	}
	return 0
}

type dgHit struct {
	rel   *Release
	score float64
}

func (s *Server) searchDiscogs(q url.Values) []dgHit {
	// The query's words, once per search rather than once per release.
	type check struct {
		param string
		p     dgParam
	}
	var checks []check
	for _, param := range []string{"q", "artist", "release_title", "title", "track", "label", "genre", "style", "format", "country"} {
		if v := q.Get(param); v != "" {
			checks = append(checks, check{param, newDgParam(v)})
		}
	}
	catno := strings.ReplaceAll(q.Get("catno"), " ", "")
	barcode, year := q.Get("barcode"), q.Get("year")
	var hits []dgHit
	docs := s.cat.search().discogs
	for i := range docs {
		d := &docs[i]
		rel := d.rel
		if catno != "" && !strings.EqualFold(catno, strings.ReplaceAll(rel.Catno, " ", "")) {
			continue
		}
		if barcode != "" && barcode != rel.Barcode {
			continue
		}
		if year != "" && year != strconv.Itoa(rel.Year()) {
			continue
		}
		total, match := 0.0, true
		for _, c := range checks {
			sc := d.paramScore(c.param, c.p)
			if sc < 0 {
				match = false
				break
			}
			total += sc
		}
		if match {
			hits = append(hits, dgHit{rel: rel, score: total})
		}
	}
	// Relevance first; among equals the most collected release, which is often a
	// compilation, so "take the first hit" picks the wrong release now and then.
	sort.SliceStable(hits, func(i, j int) bool {
		if hits[i].score != hits[j].score {
			return hits[i].score > hits[j].score
		}
		if hits[i].rel.DiscogsHave != hits[j].rel.DiscogsHave {
			return hits[i].rel.DiscogsHave > hits[j].rel.DiscogsHave
		}
		return hits[i].rel.DiscogsID < hits[j].rel.DiscogsID
	})
	return hits
}

func (s *Server) discogsSearch(w *respWriter, r *http.Request) {
	q := r.URL.Query()
	perPage, page := 50, 1
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeJSON(w, http.StatusBadRequest, dgMessage{"per_page must be a positive integer."})
			return
		}
		perPage = min(n, 100)
	}
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeJSON(w, http.StatusBadRequest, dgMessage{"page must be a positive integer."})
			return
		}
		page = n
	}
	typ := q.Get("type")
	base := s.baseURL(r)
	var results []dgSearchResult
	if typ == "" || typ == "release" || typ == "master" {
		seenMaster := map[int64]bool{}
		for _, h := range s.searchDiscogs(q) {
			if typ != "release" && h.rel.DiscogsMasterID != 0 && !seenMaster[h.rel.DiscogsMasterID] {
				seenMaster[h.rel.DiscogsMasterID] = true
				results = append(results, s.dgSearchResultOf(base, h.rel, true))
			}
			if typ != "master" {
				results = append(results, s.dgSearchResultOf(base, h.rel, false))
			}
		}
	}
	pages := max(1, int(math.Ceil(float64(len(results))/float64(perPage))))
	out := dgSearchResponse{
		Pagination: dgPagination{Page: page, Pages: pages, PerPage: perPage, Items: len(results), URLs: map[string]string{}},
		Results:    []dgSearchResult{},
	}
	link := func(p int) string {
		v := url.Values{}
		for k, vs := range q {
			if k != "token" && k != "key" && k != "secret" {
				v[k] = vs
			}
		}
		v.Set("page", strconv.Itoa(p))
		v.Set("per_page", strconv.Itoa(perPage))
		return base + discogsAPI + "/database/search?" + v.Encode()
	}
	if page < pages {
		out.Pagination.URLs["next"], out.Pagination.URLs["last"] = link(page+1), link(pages)
	}
	if page > 1 {
		out.Pagination.URLs["first"], out.Pagination.URLs["prev"] = link(1), link(min(page-1, pages))
	}
	for i := (page - 1) * perPage; i < len(results) && i < page*perPage; i++ {
		out.Results = append(out.Results, results[i])
	}
	writeJSON(w, http.StatusOK, out)
}

func dgDuration(ms int) string {
	sec := (ms + 500) / 1000
	if sec >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", sec/3600, sec/60%60, sec%60)
	}
	return fmt.Sprintf("%d:%02d", sec/60, sec%60)
}

func releasedFormatted(date string) string {
	layouts := map[int][2]string{10: {"2006-01-02", "02 Jan 2006"}, 7: {"2006-01", "Jan 2006"}, 4: {"2006", "2006"}}
	l, ok := layouts[len(date)]
	if !ok {
		return date
	}
	t, err := time.Parse(l[0], date)
	if err != nil {
		return date
	}
	return t.Format(l[1])
}

func (s *Server) dgArtists(base string, cs []Credit, role string) []dgArtist {
	out := make([]dgArtist, 0, len(cs))
	for _, c := range cs {
		a := s.cat.artist(c.Artist)
		anv := ""
		if c.Name != "" && c.Name != a.Name {
			anv = c.Name // the artist name variation this credit uses
		}
		out = append(out, dgArtist{
			Name: a.DiscogsName, ANV: anv, Join: discogsJoin(c.Join), Role: role, ID: a.DiscogsID,
			ResourceURL: fmt.Sprintf("%s%s/artists/%d", base, discogsAPI, a.DiscogsID),
		})
	}
	return out
}

// discogsJoin renders a credit join phrase the Discogs way ("&", ",", "Feat.", "vs.").
func discogsJoin(j string) string {
	switch strings.TrimSpace(j) {
	case "feat.":
		return "Feat."
	case "presents":
		return "Presents"
	default:
		return strings.TrimSpace(j)
	}
}

func (s *Server) discogsRelease(w *respWriter, r *http.Request, idStr string) {
	id, err := strconv.ParseInt(idStr, 10, 64)
	if err != nil || id <= 0 {
		writeJSON(w, http.StatusNotFound, dgMessage{"Release not found."})
		return
	}
	rel, ok := s.cat.index.relByDiscogs[id]
	if !ok || !rel.Has(ProviderDiscogs) {
		writeJSON(w, http.StatusNotFound, dgMessage{"Release not found."})
		return
	}
	writeJSON(w, http.StatusOK, s.dgReleaseObject(s.baseURL(r), rel))
}

func (s *Server) dgReleaseObject(base string, rel *Release) dgRelease {
	lab := s.cat.index.labels[rel.Label]
	var labID int64
	if lab != nil {
		labID = lab.DiscogsID
	}
	title := s.dgReleaseTitle(rel)
	out := dgRelease{
		ID: rel.DiscogsID, Status: "Accepted", Year: rel.Year(),
		ResourceURL: fmt.Sprintf("%s%s/releases/%d", base, discogsAPI, rel.DiscogsID),
		URI:         fmt.Sprintf("https://www.discogs.com/release/%d-%s", rel.DiscogsID, dgSlug(title)),
		Artists:     s.dgArtists(base, rel.Artists, ""),
		ArtistsSort: s.dgCreditString(rel.Artists),
		Labels: []dgLabel{{Name: rel.Label, Catno: rel.Catno, EntityType: "1", EntityTypeName: "Label", ID: labID,
			ResourceURL: fmt.Sprintf("%s%s/labels/%d", base, discogsAPI, labID)}},
		Series: []dgLabel{}, Companies: []dgLabel{}, Formats: dgFormats(rel.Formats), DataQuality: "Correct",
		Community: dgCommunity{
			Have: rel.DiscogsHave, Want: rel.DiscogsWant, Rating: dgRating{Count: rel.DiscogsHave / 40, Average: 4.2},
			Submitter:    dgUser{Username: "provider-sim", ResourceURL: base + discogsAPI + "/users/provider-sim"},
			Contributors: []dgUser{{Username: "provider-sim", ResourceURL: base + discogsAPI + "/users/provider-sim"}},
			DataQuality:  "Correct", Status: "Accepted",
		},
		FormatQuantity: len(rel.Formats), DateAdded: "2019-05-14T03:12:45-07:00", DateChanged: "2024-02-01T11:20:05-08:00",
		Title: rel.Title, Country: rel.Country, Released: rel.ReleaseDate, ReleasedFormatted: releasedFormatted(rel.ReleaseDate),
		Identifiers: []dgIdentifier{}, Videos: []struct{}{}, Genres: rel.Genres, Styles: rel.Styles,
		Tracklist: []dgTrack{}, Extraartists: []dgArtist{},
		Images: []dgImage{{Type: "primary", URI: s.dgImageURL(rel, 600), ResourceURL: s.dgImageURL(rel, 600), URI150: s.dgImageURL(rel, 150), Width: 600, Height: 600}},
		Thumb:  s.dgImageURL(rel, 150), EstimatedWeight: 85 * max(1, len(rel.Formats)),
	}
	if rel.DiscogsMasterID != 0 {
		out.MasterID = rel.DiscogsMasterID
		out.MasterURL = fmt.Sprintf("%s%s/masters/%d", base, discogsAPI, rel.DiscogsMasterID)
	}
	if rel.Barcode != "" {
		out.Identifiers = append(out.Identifiers, dgIdentifier{Type: "Barcode", Value: rel.Barcode})
	}
	for _, t := range rel.Tracks {
		rec := s.cat.index.recordings[t.Recording]
		if !rec.Has(ProviderDiscogs) {
			continue
		}
		tr := dgTrack{Position: t.Position, Type: "track", Title: rec.DiscogsTitle, Duration: dgDuration(rec.DurationMS)}
		if rel.Type == "compilation" || s.cat.creditString(rec.Artists, plainName) != s.cat.creditString(rel.Artists, plainName) {
			tr.Artists = s.dgArtists(base, rec.Artists, "")
		}
		for _, id := range rec.Remixers {
			tr.Extraartists = append(tr.Extraartists, s.dgArtists(base, []Credit{{Artist: id}}, "Remix")...)
		}
		out.Tracklist = append(out.Tracklist, tr)
	}
	return out
}
