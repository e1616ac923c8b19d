package discogs

import (
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/djmeta/enrichment/internal/provider"
)

// The Discogs JSON this client reads; other keys are ignored.

// searchResponse is a GET /database/search answer.
type searchResponse struct {
	Results []searchResult `json:"results"`
}

// searchResult is one release found by a search: enough to tell which
// release most likely carries a version first, before looking any up.
type searchResult struct {
	ID     int64    `json:"id"`
	Type   string   `json:"type"`
	Title  string   `json:"title"` // "Artist - Release Title"
	Year   string   `json:"year"`
	Format []string `json:"format"` // ["Vinyl", "12\"", "EP"], ["File", "WAV", "Single"]
}

// releaseIDs returns the ids of the release results, without repeats, in
// the order to look them up for a track whose base title has the words
// titleWords and whose full title adds versionWords (a remixer's name,
// "extended"): first the releases whose title names the version, then those
// named after the track, then by kind (single or EP, then unknown, then
// album, then compilation: the release that carried a version first comes
// before the ones that collected it), then the earlier year, then Discogs'
// own order. At most n.
func (s *searchResponse) releaseIDs(n int, titleWords, versionWords []string) []int64 {
	type ranked struct {
		id                         int64
		version, title, kind, year int
		order                      int
	}
	var rs []ranked
	seen := map[int64]bool{}
	for i, r := range s.Results {
		if r.Type != "release" || r.ID <= 0 || seen[r.ID] {
			continue
		}
		seen[r.ID] = true
		x := ranked{id: r.ID, version: 1, title: 1, kind: formatRank(r.Format), year: 9999, order: i}
		_, relTitle, ok := strings.Cut(r.Title, " - ") // "Artist - Release Title"
		if !ok {
			relTitle = r.Title
		}
		rw := words(relTitle)
		if len(versionWords) > 0 && covered(versionWords, rw) {
			x.version = 0
		}
		if len(titleWords) > 0 && covered(titleWords, rw) {
			x.title = 0
		}
		if y, err := strconv.Atoi(strings.TrimSpace(r.Year)); err == nil && y > 0 {
			x.year = y
		}
		rs = append(rs, x)
	}
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := rs[i], rs[j]
		switch {
		case a.version != b.version:
			return a.version < b.version
		case a.title != b.title:
			return a.title < b.title
		case a.kind != b.kind:
			return a.kind < b.kind
		case a.year != b.year:
			return a.year < b.year
		}
		return a.order < b.order
	})
	ids := make([]int64, 0, min(n, len(rs)))
	for _, r := range rs[:min(n, len(rs))] {
		ids = append(ids, r.id)
	}
	return ids
}

// formatRank orders a search result's formats: 0 single or EP, 1 unknown,
// 2 album, 3 compilation (a compilation album is a compilation).
func formatRank(formats []string) int {
	rank := 1
	for _, f := range formats {
		switch strings.ToLower(strings.TrimSpace(f)) {
		case "compilation":
			return 3
		case "album", "lp":
			rank = 2
		case "single", "maxi-single", "mini-single", "ep", "mini-album":
			if rank == 1 {
				rank = 0
			}
		}
	}
	return rank
}

// release is a GET /releases/{id} answer.
type release struct {
	ID       int64    `json:"id"`
	Title    string   `json:"title"`
	Year     int      `json:"year"`     // 0 = unknown
	Released string   `json:"released"` // "1987", "1987-08-17", "1987-00-00", "" or null
	Country  string   `json:"country"`
	URI      string   `json:"uri"`
	Artists  []artist `json:"artists"`
	Labels   []struct {
		Name  string `json:"name"`
		Catno string `json:"catno"`
	} `json:"labels"`
	Formats []struct {
		Name         string   `json:"name"`
		Descriptions []string `json:"descriptions"`
	} `json:"formats"`
	Genres      []string `json:"genres"`
	Styles      []string `json:"styles"`
	Tracklist   []track  `json:"tracklist"`
	Identifiers []struct {
		Type        string `json:"type"`
		Value       string `json:"value"`
		Description string `json:"description"`
	} `json:"identifiers"`
}

type artist struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	// ANV is the artist name variation this credit uses ("" when none).
	ANV string `json:"anv"`
	// Join is the join to the next artist: "&", ",", "Feat.", "vs.".
	Join string `json:"join"`
}

type track struct {
	Position string   `json:"position"`
	Type     string   `json:"type_"` // "track", "heading", "index"
	Title    string   `json:"title"`
	Duration string   `json:"duration"` // "m:ss", "h:mm:ss" or ""
	Artists  []artist `json:"artists"`
}

// variousArtistID is Discogs' "Various" pseudo-artist.
const variousArtistID = 194

// recordings returns the release's tracks as candidates.
func (r *release) recordings() []provider.Recording {
	var tracks []track
	for _, t := range r.Tracklist {
		if t.Type == "track" || t.Type == "" && t.Title != "" {
			tracks = append(tracks, t)
		}
	}
	id := strconv.FormatInt(r.ID, 10)
	rel := provider.Release{
		ID:      id,
		Title:   r.Title,
		Date:    releaseDate(r.Released, r.Year),
		Type:    r.releaseType(),
		Country: r.Country,
	}
	if len(r.Labels) > 0 {
		rel.Label, rel.CatalogNumber = cleanLabel(r.Labels[0].Name, r.Labels[0].Catno)
	}
	isrcs := r.isrcs(tracks)
	out := make([]provider.Recording, 0, len(tracks))
	for i, t := range tracks {
		artists := t.Artists
		if len(artists) == 0 {
			artists = r.Artists
		}
		names, others, credit := artistNames(artists)
		out = append(out, provider.Recording{
			Provider:    provider.Discogs,
			ID:          id,
			Title:       strings.TrimSpace(t.Title),
			Artists:     names,
			ArtistNames: others,
			Credit:      credit,
			DurationMS:  parseDuration(t.Duration),
			ISRCs:       isrcs[i],
			Releases:    []provider.Release{rel},
			Genres:      r.Genres,
			Styles:      r.Styles,
			Position:    t.Position,
			URL:         r.URI,
		})
	}
	return out
}

// releaseType maps format descriptions to single, ep, album or compilation.
// When several apply, compilation beats album beats ep beats single (a
// compilation LP is a compilation). A release credited to "Various" with no
// such description is a compilation; otherwise the type is unknown ("").
func (r *release) releaseType() string {
	rank := map[string]int{"single": 1, "ep": 2, "album": 3, "compilation": 4}
	best := ""
	for _, f := range r.Formats {
		for _, d := range f.Descriptions {
			var t string
			switch strings.ToLower(strings.TrimSpace(d)) {
			case "single", "maxi-single", "mini-single":
				t = "single"
			case "ep", "mini-album":
				t = "ep"
			case "album", "lp":
				t = "album"
			case "compilation":
				t = "compilation"
			}
			if rank[t] > rank[best] {
				best = t
			}
		}
	}
	if best == "" && len(r.Artists) == 1 && (r.Artists[0].ID == variousArtistID || r.Artists[0].Name == "Various") {
		best = "compilation"
	}
	return best
}

// isrcs assigns the ISRCs among the release's identifiers to tracks: one
// whose description names a track's position or title goes to that track;
// on a one-track release one without a description goes to the track. Others
// are left out rather than guessed.
func (r *release) isrcs(tracks []track) [][]string {
	out := make([][]string, len(tracks))
	for _, id := range r.Identifiers {
		if !strings.EqualFold(id.Type, "ISRC") {
			continue
		}
		code, ok := normalizeISRC(id.Value)
		if !ok {
			continue
		}
		desc := strings.TrimSpace(id.Description)
		for i, t := range tracks {
			if desc == "" && len(tracks) == 1 ||
				desc != "" && (strings.EqualFold(desc, t.Position) || strings.EqualFold(desc, strings.TrimSpace(t.Title))) {
				out[i] = append(out[i], code)
			}
		}
	}
	return out
}

var isrcRE = regexp.MustCompile(`^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$`)

var isrcReplacer = strings.NewReplacer("-", "", " ", "", "ISRC:", "")

// normalizeISRC upper-cases an ISRC and drops dashes and spaces.
func normalizeISRC(s string) (string, bool) {
	s = strings.ToUpper(isrcReplacer.Replace(s))
	return s, isrcRE.MatchString(s)
}

// numberSuffix is Discogs' disambiguation of equal names: "Bicep (2)".
var numberSuffix = regexp.MustCompile(`\s+\(\d+\)$`)

// cleanName strips Discogs' numbering suffix and the "*" that marks a name
// variation: "Bicep (2)" → "Bicep", "Âme*" → "Âme".
func cleanName(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimSpace(strings.TrimRight(s, "*"))
	return numberSuffix.ReplaceAllString(s, "")
}

// artistNames returns a credit's names as credited (the name variation
// where there is one), the artists' own names where a variation is used (by
// index), and the credit with its joins ("A Feat. B", "A & B") when it has
// more than one artist.
func artistNames(as []artist) (names []string, others [][]string, credit string) {
	names = make([]string, 0, len(as))
	var b strings.Builder
	for _, a := range as {
		n := cleanName(a.Name)
		if n == "" {
			continue
		}
		if anv := cleanName(a.ANV); anv != "" && anv != n {
			for len(others) < len(names) {
				others = append(others, nil)
			}
			others = append(others, []string{n})
			n = anv
		}
		names = append(names, n)
		b.WriteString(n)
		switch j := strings.TrimSpace(a.Join); j {
		case "":
			b.WriteString(" ")
		case ",":
			b.WriteString(", ")
		default:
			b.WriteString(" " + j + " ")
		}
	}
	if len(names) > 1 {
		credit = strings.TrimSpace(b.String())
	}
	return names, others, credit
}

// cleanLabel cleans a label name like an artist name and drops Discogs'
// placeholders: "Not On Label" (self-released) is no label and catalog
// number "none" is none.
func cleanLabel(name, catno string) (string, string) {
	name = cleanName(name)
	if strings.HasPrefix(strings.ToLower(name), "not on label") {
		name = ""
	}
	catno = strings.TrimSpace(catno)
	if strings.EqualFold(catno, "none") {
		catno = ""
	}
	return name, catno
}

// releaseDate returns released as YYYY, YYYY-MM or YYYY-MM-DD (Discogs
// writes unknown parts as "00"), else year when it is known, else "".
func releaseDate(released string, year int) string {
	parts := strings.Split(strings.TrimSpace(released), "-")
	if len(parts) <= 3 && len(parts[0]) == 4 && digits(parts[0]) && parts[0] != "0000" {
		date := parts[0]
		for _, p := range parts[1:] {
			if len(p) != 2 || !digits(p) || p == "00" {
				break
			}
			date += "-" + p
		}
		return date
	}
	if year > 0 {
		return strconv.Itoa(year)
	}
	return ""
}

func digits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// parseDuration converts "m:ss" or "h:mm:ss" to milliseconds; anything else,
// including "", is 0 (unknown).
func parseDuration(s string) int {
	parts := strings.Split(strings.TrimSpace(s), ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0
	}
	total := 0
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || !digits(p) || i > 0 && (n >= 60 || len(p) != 2) {
			return 0
		}
		total = total*60 + n
	}
	return total * 1000
}
