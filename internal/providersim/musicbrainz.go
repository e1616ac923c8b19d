package providersim

import (
	"crypto/sha256"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// The simulator's own MusicBrainz WS/2 JSON types, after the recorded responses in
// testdata/fixtures/musicbrainz. Never shared with the service's MusicBrainz client.

type mbArtistSearch struct {
	ID             string    `json:"id"`
	Name           string    `json:"name"`
	SortName       string    `json:"sort-name"`
	Disambiguation string    `json:"disambiguation,omitempty"`
	Aliases        []mbAlias `json:"aliases,omitempty"`
}

// mbAlias is an artist alias as search results list them (fixture
// search_recording_isrc_GBAHT1600302.json).
type mbAlias struct {
	SortName  string  `json:"sort-name"`
	TypeID    string  `json:"type-id"`
	Name      string  `json:"name"`
	Locale    *string `json:"locale"`
	Type      string  `json:"type"`
	Primary   *bool   `json:"primary"`
	BeginDate *string `json:"begin-date"`
	EndDate   *string `json:"end-date"`
}

// mbAliasArtistName is MusicBrainz's alias type "Artist name".
const mbAliasArtistName = "894afba6-2816-3c24-8072-eadb66bd04bc"

type mbArtistFull struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	SortName       string `json:"sort-name"`
	Type           string `json:"type"`
	TypeID         string `json:"type-id"`
	Disambiguation string `json:"disambiguation"`
}

type mbCreditSearch struct {
	Name       string         `json:"name"`
	Joinphrase string         `json:"joinphrase,omitempty"`
	Artist     mbArtistSearch `json:"artist"`
}

type mbCreditFull struct {
	Name       string       `json:"name"`
	Joinphrase string       `json:"joinphrase"`
	Artist     mbArtistFull `json:"artist"`
}

type mbArea struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	SortName string   `json:"sort-name"`
	ISOCodes []string `json:"iso-3166-1-codes"`
}

type mbReleaseEvent struct {
	Date string `json:"date"`
	Area mbArea `json:"area"`
}

type mbReleaseGroup struct {
	ID               string   `json:"id"`
	TypeID           string   `json:"type-id"`
	PrimaryTypeID    string   `json:"primary-type-id"`
	Title            string   `json:"title"`
	PrimaryType      string   `json:"primary-type"`
	SecondaryTypes   []string `json:"secondary-types,omitempty"`
	SecondaryTypeIDs []string `json:"secondary-type-ids,omitempty"`
}

type mbTrack struct {
	ID     string `json:"id"`
	Number string `json:"number"`
	Title  string `json:"title"`
	Length int    `json:"length"`
}

type mbMedium struct {
	Position    int       `json:"position"`
	Format      string    `json:"format"`
	Track       []mbTrack `json:"track"`
	TrackCount  int       `json:"track-count"`
	TrackOffset int       `json:"track-offset"`
}

type mbReleaseSearch struct {
	ID            string           `json:"id"`
	StatusID      string           `json:"status-id"`
	Count         int              `json:"count"`
	Title         string           `json:"title"`
	Status        string           `json:"status"`
	ArtistCredit  []mbCreditSearch `json:"artist-credit"`
	ReleaseGroup  mbReleaseGroup   `json:"release-group"`
	Date          string           `json:"date,omitempty"`
	Country       string           `json:"country,omitempty"`
	ReleaseEvents []mbReleaseEvent `json:"release-events,omitempty"`
	TrackCount    int              `json:"track-count"`
	Media         []mbMedium       `json:"media"`
}

type mbTag struct {
	Count int    `json:"count"`
	Name  string `json:"name"`
}

type mbRecordingSearch struct {
	ID               string            `json:"id"`
	Score            int               `json:"score"`
	Title            string            `json:"title"`
	Length           int               `json:"length,omitempty"`
	Video            *bool             `json:"video"`
	ArtistCredit     []mbCreditSearch  `json:"artist-credit"`
	FirstReleaseDate string            `json:"first-release-date,omitempty"`
	Releases         []mbReleaseSearch `json:"releases,omitempty"`
	ISRCs            []string          `json:"isrcs,omitempty"`
	Tags             []mbTag           `json:"tags,omitempty"`
}

type mbSearchResponse struct {
	Created    string              `json:"created"`
	Count      int                 `json:"count"`
	Offset     int                 `json:"offset"`
	Recordings []mbRecordingSearch `json:"recordings"`
}

type mbTextRepresentation struct {
	Language string `json:"language"`
	Script   string `json:"script"`
}

type mbReleaseFull struct {
	ID                 string               `json:"id"`
	Title              string               `json:"title"`
	Status             string               `json:"status"`
	StatusID           string               `json:"status-id"`
	Date               string               `json:"date"`
	Country            string               `json:"country"`
	ReleaseEvents      []mbReleaseEvent     `json:"release-events"`
	Barcode            *string              `json:"barcode"`
	Disambiguation     string               `json:"disambiguation"`
	Quality            string               `json:"quality"`
	Packaging          *string              `json:"packaging"`
	PackagingID        *string              `json:"packaging-id"`
	TextRepresentation mbTextRepresentation `json:"text-representation"`
	ArtistCredit       []mbCreditFull       `json:"artist-credit,omitempty"`
	ReleaseGroup       *mbReleaseGroup      `json:"release-group,omitempty"`
}

type mbGenre struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	Count          int    `json:"count"`
	Disambiguation string `json:"disambiguation"`
}

type mbRecordingFull struct {
	ID               string           `json:"id"`
	Title            string           `json:"title"`
	Disambiguation   string           `json:"disambiguation"`
	Length           int              `json:"length"`
	Video            bool             `json:"video"`
	FirstReleaseDate string           `json:"first-release-date,omitempty"`
	ArtistCredit     []mbCreditFull   `json:"artist-credit,omitempty"`
	ISRCs            *[]string        `json:"isrcs,omitempty"`
	Releases         *[]mbReleaseFull `json:"releases,omitempty"`
	Tags             *[]mbTag         `json:"tags,omitempty"`
	Genres           *[]mbGenre       `json:"genres,omitempty"`
}

type mbISRCResponse struct {
	ISRC       string            `json:"isrc"`
	Recordings []mbRecordingFull `json:"recordings"`
}

type mbError struct {
	Error string `json:"error"`
	Help  string `json:"help,omitempty"`
}

const (
	mbHelp            = "For usage, please see: https://musicbrainz.org/development/mmd"
	mbBusy            = "The MusicBrainz web server is currently busy. Please try again later."
	mbUAMissing       = "Your requests are being throttled by MusicBrainz because the application you are using has not identified itself. Please update your application, and see https://musicbrainz.org/doc/MusicBrainz_API/Rate_Limiting for more info."
	mbStatusOfficial  = "4e304316-386d-3409-af2e-78857eec5cfe"
	mbTypeAlbum       = "f529b476-6e62-324f-b0aa-1f3e33d313fc"
	mbTypeSingle      = "d6038452-8ee0-3f68-affc-2de9a1ede0b9"
	mbTypeEP          = "6d0c5bf6-7a33-3420-a519-44fc63eedebf"
	mbTypeCompilation = "dd2a21e1-0c00-3729-a7a0-de60b84eb5d1"
	mbTypePerson      = "b6e035f4-3ce9-331c-97df-83397230b0df"
	mbTypeGroup       = "e431f5f6-b5d2-343d-8b36-72607fffb74b"
)

// countries maps the catalog's (Discogs-style) country to an ISO code and a name. Area ids
// are made up except Europe's, which is MusicBrainz's own (fixture).
var countries = map[string][2]string{
	"UK": {"GB", "United Kingdom"}, "US": {"US", "United States"}, "Germany": {"DE", "Germany"},
	"Netherlands": {"NL", "Netherlands"}, "France": {"FR", "France"}, "Europe": {"XE", "Europe"},
	"Belgium": {"BE", "Belgium"}, "Sweden": {"SE", "Sweden"},
}

// anonymousUA are library-default User-Agents that MusicBrainz treats as anonymous.
var anonymousUA = regexp.MustCompile(`(?i)^(go-http-client|python-requests|python-urllib|java|apache-httpclient|jakarta|okhttp|curl|wget|libwww-perl|axios|node-fetch)\b`)

// properUA is "app/version ( contact )" (notes §2.1).
var properUA = regexp.MustCompile(`^[^/\s()]+(?:[^/()]*)/\S+\s*\(\s*\S.*\)\s*$`)

// musicBrainz serves /ws/2/...: User-Agent check, per-IP rate limit, error injection,
// then the endpoint.
func (s *Server) musicBrainz(w *respWriter, r *http.Request) {
	ua := strings.TrimSpace(r.UserAgent())
	if ua == "" || anonymousUA.MatchString(ua) {
		w.why = outcomeAuth
		w.Header().Set("X-Ratelimit-Who", "ua-missing")
		writeJSON(w, http.StatusForbidden, mbError{Error: mbUAMissing})
		return
	}
	if s.cfg.MusicBrainzStrictUA && !properUA.MatchString(ua) {
		w.why = outcomeAuth
		writeJSON(w, http.StatusBadRequest, mbError{
			Error: "Invalid User-Agent " + strconv.Quote(ua) + ": use the form 'Application/version ( contact-url-or-email )'.",
			Help:  "See https://musicbrainz.org/doc/MusicBrainz_API/Rate_Limiting",
		})
		return
	}
	if ok, wait := s.mbLimit.allow(s.clientIP(r), s.clock.Now()); !ok {
		w.why = outcomeRateLimited
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(wait)))
		writeJSON(w, http.StatusServiceUnavailable, mbError{Error: mbBusy})
		return
	}
	if s.injectError(s.cfg.MusicBrainzErrorRate) {
		w.why = outcomeInjected
		w.Header().Set("Retry-After", "0") // as observed on real "busy" answers
		writeJSON(w, http.StatusServiceUnavailable, mbError{Error: mbBusy})
		return
	}
	if r.Method != http.MethodGet {
		writeJSON(w, http.StatusMethodNotAllowed, mbError{Error: "Method not allowed", Help: mbHelp})
		return
	}
	q := r.URL.Query()
	if f := q.Get("fmt"); f != "json" && !(f == "" && strings.Contains(r.Header.Get("Accept"), "application/json")) {
		writeJSON(w, http.StatusNotAcceptable, mbError{Error: "provider-sim serves JSON only: add fmt=json or Accept: application/json", Help: mbHelp})
		return
	}
	path := strings.Trim(strings.TrimPrefix(r.URL.Path, "/musicbrainz/ws/2/"), "/")
	resource, id, _ := strings.Cut(path, "/")
	switch {
	case resource == "recording" && id == "":
		s.mbSearch(w, r)
	case resource == "recording":
		s.mbLookup(w, r, id)
	case resource == "isrc" && id != "":
		s.mbISRC(w, r, id)
	default:
		writeJSON(w, http.StatusNotFound, mbError{Error: "Not Found", Help: mbHelp})
	}
}

// mbCreditsSearch renders a credit as search results show it; a recording's own credit
// (aliases true) lists its artists' aliases, as the real search does.
func (s *Server) mbCreditsSearch(cs []Credit, aliases bool) []mbCreditSearch {
	out := make([]mbCreditSearch, 0, len(cs))
	for _, c := range cs {
		a := s.cat.artist(c.Artist)
		as := mbArtistSearch{ID: a.MBID, Name: a.Name, SortName: a.SortName}
		if aliases {
			for _, n := range a.Aliases {
				as.Aliases = append(as.Aliases, mbAlias{SortName: n, TypeID: mbAliasArtistName, Name: n, Type: "Artist name"})
			}
		}
		out = append(out, mbCreditSearch{Name: s.cat.creditedName(c), Joinphrase: c.Join, Artist: as})
	}
	return out
}

func (s *Server) mbCreditsFull(cs []Credit) []mbCreditFull {
	out := make([]mbCreditFull, 0, len(cs))
	for _, c := range cs {
		a := s.cat.artist(c.Artist)
		typeID := mbTypePerson
		if a.Type == "Group" {
			typeID = mbTypeGroup
		}
		out = append(out, mbCreditFull{Name: s.cat.creditedName(c), Joinphrase: c.Join, Artist: mbArtistFull{ID: a.MBID, Name: a.Name, SortName: a.SortName, Type: a.Type, TypeID: typeID}})
	}
	return out
}

func mbReleaseGroupOf(rel *Release) mbReleaseGroup {
	rg := mbReleaseGroup{ID: rel.ReleaseGroupMBID, Title: rel.Title}
	switch rel.Type {
	case "single":
		rg.PrimaryType, rg.PrimaryTypeID = "Single", mbTypeSingle
	case "ep":
		rg.PrimaryType, rg.PrimaryTypeID = "EP", mbTypeEP
	default:
		rg.PrimaryType, rg.PrimaryTypeID = "Album", mbTypeAlbum
	}
	rg.TypeID = rg.PrimaryTypeID
	if rel.Type == "compilation" {
		rg.SecondaryTypes, rg.SecondaryTypeIDs = []string{"Compilation"}, []string{mbTypeCompilation}
		rg.TypeID = mbTypeCompilation
	}
	return rg
}

func madeUpMBID(kind, key string) string {
	h := sha256.Sum256([]byte("providersim\x1f" + kind + "\x1f" + key))
	h[6] = h[6]&0x0f | 0x40
	h[8] = h[8]&0x3f | 0x80
	x := fmt.Sprintf("%x", h[:16])
	return x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

func mbEvents(rel *Release) (string, []mbReleaseEvent) {
	c, ok := countries[rel.Country]
	if !ok {
		return "", nil
	}
	id := madeUpMBID("area", c[0])
	if c[0] == "XE" {
		id = "89a675c2-3e37-3518-b83c-418bad59a85a"
	}
	return c[0], []mbReleaseEvent{{Date: rel.ReleaseDate, Area: mbArea{ID: id, Name: c[1], SortName: c[1], ISOCodes: []string{c[0]}}}}
}

func mbFormat(rel *Release) string {
	if len(rel.Formats) == 0 {
		return "Digital Media"
	}
	switch rel.Formats[0].Name {
	case "Vinyl":
		return `12" Vinyl`
	case "CD":
		return "CD"
	default:
		return "Digital Media"
	}
}

func (s *Server) mbReleaseSearchOf(p placement) mbReleaseSearch {
	rel := p.rel
	country, events := mbEvents(rel)
	return mbReleaseSearch{
		ID: rel.MBID, StatusID: mbStatusOfficial, Count: 1, Title: rel.Title, Status: "Official",
		ArtistCredit: s.mbCreditsSearch(rel.Artists, false), ReleaseGroup: mbReleaseGroupOf(rel),
		Date: rel.ReleaseDate, Country: country, ReleaseEvents: events, TrackCount: len(rel.Tracks),
		Media: []mbMedium{{
			Position: 1, Format: mbFormat(rel), TrackCount: len(rel.Tracks), TrackOffset: p.number - 1,
			Track: []mbTrack{{ID: p.track.MBTrackID, Number: strconv.Itoa(p.number), Title: p.rec.Title, Length: p.rec.DurationMS}},
		}},
	}
}

func (s *Server) mbFirstReleaseDate(rec *Recording) string {
	first := ""
	for _, p := range s.cat.placementsAt(rec, ProviderMusicBrainz) {
		if first == "" || p.rel.ReleaseDate < first {
			first = p.rel.ReleaseDate
		}
	}
	return first
}

func mbTags(rec *Recording) []mbTag {
	var out []mbTag
	for i, t := range rec.Tags {
		out = append(out, mbTag{Count: max(1, 4-i), Name: t})
	}
	return out
}

// mbDoc is what the recording index holds for one recording.
type mbDoc struct {
	rec                                           *Recording
	title, artist, artistNames, releases, tags    []string
	creditNames                                   []string
	arids, reids, rgids, tids, statuses, types    []string
	countries, formats, dates, tnums, trackCounts []string
	isrcs                                         []string
}

func (c *Catalog) mbDocOf(rec *Recording) mbDoc {
	d := mbDoc{rec: rec, title: words(rec.Title), tags: words(strings.Join(rec.Tags, " "))}
	d.artist = words(c.creditedString(rec.Artists))
	for _, cr := range rec.Artists {
		a := c.artist(cr.Artist)
		d.artistNames = append(d.artistNames, words(a.Name)...)
		d.creditNames = append(d.creditNames, words(c.creditedName(cr))...)
		d.arids = append(d.arids, a.MBID)
	}
	if rec.MusicBrainzISRC {
		d.isrcs = []string{rec.ISRC}
	}
	for _, p := range c.placementsAt(rec, ProviderMusicBrainz) {
		rg := mbReleaseGroupOf(p.rel)
		d.releases = append(d.releases, words(p.rel.Title)...)
		d.reids = append(d.reids, p.rel.MBID)
		d.rgids = append(d.rgids, p.rel.ReleaseGroupMBID)
		d.tids = append(d.tids, p.track.MBTrackID)
		d.statuses = append(d.statuses, "official")
		d.types = append(d.types, strings.ToLower(rg.PrimaryType))
		d.types = append(d.types, words(strings.Join(rg.SecondaryTypes, " "))...)
		c, _ := mbEvents(p.rel)
		d.countries = append(d.countries, strings.ToLower(c))
		d.formats = append(d.formats, words(mbFormat(p.rel))...)
		d.dates = append(d.dates, p.rel.ReleaseDate)
		d.tnums = append(d.tnums, strconv.Itoa(p.number))
		d.trackCounts = append(d.trackCounts, strconv.Itoa(len(p.rel.Tracks)))
	}
	return d
}

func idMatch(raw string, ids []string) float64 {
	for _, id := range ids {
		if strings.EqualFold(strings.TrimSpace(raw), id) {
			return 1
		}
	}
	return 0
}

func textMatch(c lclause, field []string) float64 {
	if len(c.terms) == 0 {
		return 0
	}
	if c.fuzzy != nil {
		return fuzzyCoverage(c.terms, c.fuzzy, field)
	}
	if c.phrase && containsPhrase(c.terms, field) {
		return 1
	}
	cov := coverage(c.terms, field)
	if c.phrase && cov < 1 {
		return cov * 0.7
	}
	return cov
}

func inRange(v, lo, hi string) bool {
	n, err := strconv.Atoi(v)
	if err != nil {
		return false
	}
	l, errL := strconv.Atoi(lo)
	h, errH := strconv.Atoi(hi)
	return (lo == "*" || errL == nil && n >= l) && (hi == "*" || errH == nil && n <= h)
}

// score of one clause against a recording, in [0, 1] (groups add up).
func (d *mbDoc) score(c lclause) float64 {
	if c.group != nil {
		total, matched := 0.0, false
		for _, g := range c.group {
			v := d.score(g)
			switch g.occur {
			case occurMust:
				if v == 0 {
					return 0
				}
			case occurMustNot:
				if v >= 0.999 {
					return 0
				}
				continue
			}
			total += v
			matched = matched || v > 0
		}
		if !matched {
			return 0
		}
		return total
	}
	switch c.field {
	case "", "recording", "recordingaccent":
		v := textMatch(c, d.title)
		if v == 1 {
			// Lucene's length norm: a short title that is all query beats a longer one.
			v += 0.25 * float64(len(c.terms)) / float64(len(d.title))
		}
		return v
	case "artist":
		return textMatch(c, d.artist)
	case "artistname":
		return textMatch(c, d.artistNames)
	case "creditname":
		return textMatch(c, d.creditNames)
	case "release":
		return textMatch(c, d.releases)
	case "tag":
		return textMatch(c, d.tags)
	case "arid":
		return idMatch(c.raw, d.arids)
	case "reid":
		return idMatch(c.raw, d.reids)
	case "rgid":
		return idMatch(c.raw, d.rgids)
	case "rid":
		return idMatch(c.raw, []string{d.rec.MBID})
	case "tid":
		return idMatch(c.raw, d.tids)
	case "isrc":
		return idMatch(normalizeISRC(c.raw), d.isrcs)
	case "status":
		return textMatch(c, d.statuses)
	case "primarytype", "secondarytype", "type":
		return textMatch(c, d.types)
	case "country":
		return textMatch(c, d.countries)
	case "format":
		return textMatch(c, d.formats)
	case "tnum":
		return idMatch(c.raw, d.tnums)
	case "tracks":
		return idMatch(c.raw, d.trackCounts)
	case "video":
		return idMatch(c.raw, []string{"false"})
	case "date", "firstreleasedate":
		for _, dt := range d.dates {
			if c.raw != "" && strings.HasPrefix(dt, c.raw) {
				return 1
			}
		}
		return 0
	case "dur":
		if c.lo != "" {
			return b2f(inRange(strconv.Itoa(d.rec.DurationMS), c.lo, c.hi))
		}
		n, err := strconv.Atoi(c.raw)
		return b2f(err == nil && abs(n-d.rec.DurationMS) <= 2000)
	case "qdur":
		q := d.rec.DurationMS / 2000
		if c.lo != "" {
			return b2f(inRange(strconv.Itoa(q), c.lo, c.hi))
		}
		n, err := strconv.Atoi(c.raw)
		return b2f(err == nil && abs(n-q) <= 1)
	}
	return 0
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

type mbHit struct {
	rec *Recording
	raw float64
}

// searchMusicBrainz scores every recording MusicBrainz knows against the query and
// normalises so the best scores 100, as the real search does.
func (s *Server) searchMusicBrainz(clauses []lclause) []mbHit {
	var hits []mbHit
	docs := s.cat.search().mb
	for i := range docs {
		if v := docs[i].score(lclause{group: clauses}); v > 0 {
			hits = append(hits, mbHit{rec: docs[i].rec, raw: v})
		}
	}
	sort.SliceStable(hits, func(i, j int) bool {
		if hits[i].raw != hits[j].raw {
			return hits[i].raw > hits[j].raw
		}
		return hits[i].rec.MBID < hits[j].rec.MBID
	})
	return hits
}

func (s *Server) mbSearch(w *respWriter, r *http.Request) {
	q := r.URL.Query()
	query := q.Get("query")
	if strings.TrimSpace(query) == "" {
		writeJSON(w, http.StatusBadRequest, mbError{Error: "Invalid search query: the query parameter is required", Help: mbHelp})
		return
	}
	limit, offset := 25, 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeJSON(w, http.StatusBadRequest, mbError{Error: "Invalid limit", Help: mbHelp})
			return
		}
		limit = min(n, 100)
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeJSON(w, http.StatusBadRequest, mbError{Error: "Invalid offset", Help: mbHelp})
			return
		}
		offset = n
	}
	var clauses []lclause
	if q.Get("dismax") == "true" {
		ws := words(query)
		clauses = []lclause{{terms: ws}, {field: "artist", terms: ws}, {field: "release", terms: ws}}
	} else {
		clauses = parseLucene(query)
	}
	hits := s.searchMusicBrainz(clauses)
	out := mbSearchResponse{
		Created:    s.clock.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
		Count:      len(hits),
		Offset:     offset,
		Recordings: []mbRecordingSearch{},
	}
	top := 0.0
	if len(hits) > 0 {
		top = hits[0].raw
	}
	for i := offset; i < len(hits) && i < offset+limit; i++ {
		h := hits[i]
		rec := h.rec
		item := mbRecordingSearch{
			ID: rec.MBID, Score: int(math.Round(100 * h.raw / top)), Title: rec.Title, Length: rec.DurationMS,
			ArtistCredit: s.mbCreditsSearch(rec.Artists, true), FirstReleaseDate: s.mbFirstReleaseDate(rec), Tags: mbTags(rec),
		}
		if rec.MusicBrainzISRC {
			item.ISRCs = []string{rec.ISRC}
		}
		for _, p := range s.cat.placementsAt(rec, ProviderMusicBrainz) {
			item.Releases = append(item.Releases, s.mbReleaseSearchOf(p))
		}
		out.Recordings = append(out.Recordings, item)
	}
	writeJSON(w, http.StatusOK, out)
}

var mbRecordingIncs = []string{"artists", "artist-credits", "isrcs", "releases", "release-groups", "tags", "genres",
	"aliases", "annotation", "ratings", "user-tags", "user-genres", "user-ratings", "url-rels", "work-rels",
	"artist-rels", "recording-rels", "release-rels", "label-rels", "media", "discids", "work-level-rels"}

func parseIncs(r *http.Request, allowed []string, resource string) (map[string]bool, error) {
	incs := map[string]bool{}
	raw := r.URL.Query().Get("inc")
	if raw == "" {
		return incs, nil
	}
	for _, inc := range strings.FieldsFunc(raw, func(c rune) bool { return c == '+' || c == ' ' }) {
		if !slices.Contains(allowed, inc) {
			//lint:ignore ST1005 the text is MusicBrainz's own error message, served to clients as is
			return nil, fmt.Errorf("%s is not a valid inc parameter for the %s resource.", inc, resource)
		}
		incs[inc] = true
	}
	return incs, nil
}

func (s *Server) mbRecordingFull(rec *Recording, incs map[string]bool) mbRecordingFull {
	out := mbRecordingFull{ID: rec.MBID, Title: rec.Title, Length: rec.DurationMS, FirstReleaseDate: s.mbFirstReleaseDate(rec)}
	if incs["artists"] || incs["artist-credits"] {
		out.ArtistCredit = s.mbCreditsFull(rec.Artists)
	}
	if incs["isrcs"] {
		isrcs := []string{}
		if rec.MusicBrainzISRC {
			isrcs = append(isrcs, rec.ISRC)
		}
		out.ISRCs = &isrcs
	}
	if incs["releases"] {
		rels := []mbReleaseFull{}
		for _, p := range s.cat.placementsAt(rec, ProviderMusicBrainz) {
			if len(rels) == 25 { // lookups list at most 25 releases (observed)
				break
			}
			rel := p.rel
			country, events := mbEvents(rel)
			var barcode *string
			if rel.Barcode != "" {
				barcode = &rel.Barcode
			}
			fr := mbReleaseFull{
				ID: rel.MBID, Title: rel.Title, Status: "Official", StatusID: mbStatusOfficial, Date: rel.ReleaseDate,
				Country: country, ReleaseEvents: events, Barcode: barcode, Quality: "normal",
				TextRepresentation: mbTextRepresentation{Language: "eng", Script: "Latn"},
			}
			if fr.ReleaseEvents == nil {
				fr.ReleaseEvents = []mbReleaseEvent{}
			}
			if incs["artist-credits"] {
				fr.ArtistCredit = s.mbCreditsFull(rel.Artists)
			}
			if incs["release-groups"] {
				rg := mbReleaseGroupOf(rel)
				fr.ReleaseGroup = &rg
			}
			rels = append(rels, fr)
		}
		out.Releases = &rels
	}
	if incs["tags"] {
		tags := mbTags(rec)
		if tags == nil {
			tags = []mbTag{}
		}
		out.Tags = &tags
	}
	if incs["genres"] {
		genres := []mbGenre{}
		seen := map[string]bool{}
		for _, p := range s.cat.placementsAt(rec, ProviderMusicBrainz) {
			for _, st := range p.rel.Styles {
				name := strings.ToLower(st)
				if !seen[name] {
					seen[name] = true
					genres = append(genres, mbGenre{ID: madeUpMBID("genre", name), Name: name, Count: 1})
				}
			}
		}
		out.Genres = &genres
	}
	return out
}

func (s *Server) mbLookup(w *respWriter, r *http.Request, id string) {
	if !mbidRe.MatchString(strings.ToLower(id)) {
		writeJSON(w, http.StatusBadRequest, mbError{Error: "Invalid mbid.", Help: mbHelp})
		return
	}
	incs, err := parseIncs(r, mbRecordingIncs, "recording")
	if err != nil {
		writeJSON(w, http.StatusBadRequest, mbError{Error: err.Error(), Help: mbHelp})
		return
	}
	rec, ok := s.cat.index.recByMBID[strings.ToLower(id)]
	if !ok || !rec.Has(ProviderMusicBrainz) {
		writeJSON(w, http.StatusNotFound, mbError{Error: "Not Found", Help: mbHelp})
		return
	}
	writeJSON(w, http.StatusOK, s.mbRecordingFull(rec, incs))
}

func (s *Server) mbISRC(w *respWriter, r *http.Request, isrc string) {
	isrc = strings.ToUpper(isrc)
	if !isrcRe.MatchString(isrc) {
		writeJSON(w, http.StatusBadRequest, mbError{Error: "Invalid isrc.", Help: mbHelp})
		return
	}
	incs, err := parseIncs(r, mbRecordingIncs, "isrc")
	if err != nil {
		writeJSON(w, http.StatusBadRequest, mbError{Error: err.Error(), Help: mbHelp})
		return
	}
	delete(incs, "releases") // silently ignored on this endpoint (observed 2026-09)
	delete(incs, "release-groups")
	out := mbISRCResponse{ISRC: isrc}
	for i := range s.cat.Recordings {
		rec := &s.cat.Recordings[i]
		if rec.Has(ProviderMusicBrainz) && rec.MusicBrainzISRC && rec.ISRC == isrc {
			out.Recordings = append(out.Recordings, s.mbRecordingFull(rec, incs))
		}
	}
	if len(out.Recordings) == 0 {
		writeJSON(w, http.StatusNotFound, mbError{Error: "Not Found", Help: mbHelp})
		return
	}
	writeJSON(w, http.StatusOK, out)
}
