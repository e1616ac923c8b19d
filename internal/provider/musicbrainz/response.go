package musicbrainz

import (
	"cmp"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/djmeta/enrichment/internal/provider"
)

// WS/2 JSON shapes, only the fields the client reads.

// searchResponse is GET /recording?query=….
type searchResponse struct {
	Count      int         `json:"count"`
	Offset     int         `json:"offset"`
	Recordings []recording `json:"recordings"`
}

// isrcResponse is GET /isrc/{isrc}.
type isrcResponse struct {
	ISRC       string      `json:"isrc"`
	Recordings []recording `json:"recordings"`
}

// recording is a recording in a search result, an ISRC lookup or a
// recording lookup.
type recording struct {
	ID             string    `json:"id"`
	Score          score     `json:"score"` // search only
	Title          string    `json:"title"`
	Length         int       `json:"length"` // ms; absent when unknown
	Disambiguation string    `json:"disambiguation"`
	ArtistCredit   []credit  `json:"artist-credit"`
	ISRCs          []string  `json:"isrcs"`
	Genres         []tag     `json:"genres"`
	Tags           []tag     `json:"tags"`
	Releases       []release `json:"releases"`
}

type credit struct {
	Name       string `json:"name"` // as credited
	JoinPhrase string `json:"joinphrase"`
	Artist     struct {
		ID   string `json:"id"`
		Name string `json:"name"`
		// Aliases are listed in search results (and lookups with
		// inc=aliases): former names, other spellings, other scripts.
		Aliases []struct {
			Name string `json:"name"`
		} `json:"aliases"`
	} `json:"artist"`
}

type tag struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

type release struct {
	ID            string `json:"id"`
	Title         string `json:"title"`
	Status        string `json:"status"`
	Date          string `json:"date"`
	Country       string `json:"country"`
	ReleaseEvents []struct {
		Date string `json:"date"`
		Area *struct {
			Codes []string `json:"iso-3166-1-codes"`
		} `json:"area"`
	} `json:"release-events"`
	ReleaseGroup *struct {
		PrimaryType    string   `json:"primary-type"`
		SecondaryTypes []string `json:"secondary-types"`
	} `json:"release-group"`
	LabelInfo []struct {
		CatalogNumber string `json:"catalog-number"`
		Label         *struct {
			Name string `json:"name"`
		} `json:"label"`
	} `json:"label-info"`
}

// score is a search score: a JSON number today, a string in older WS/2
// JSON; anything else decodes as 0.
type score int

func (s *score) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		var str string
		if json.Unmarshal(b, &str) != nil {
			return nil
		}
		n = json.Number(str)
	}
	v, err := strconv.ParseFloat(string(n), 64)
	if err == nil {
		*s = score(v)
	}
	return nil
}

// normalise converts WS/2 recordings; isrc, if set, is added to each
// recording's ISRCs (the /isrc endpoint may leave them out).
func normalise(recs []recording, isrc string) []provider.Recording {
	out := make([]provider.Recording, 0, len(recs))
	for _, r := range recs {
		out = append(out, r.normalise(isrc))
	}
	return out
}

func (r recording) normalise(isrc string) provider.Recording {
	rec := provider.Recording{
		Provider:       provider.MusicBrainz,
		ID:             r.ID,
		Title:          r.Title,
		DurationMS:     r.Length,
		Disambiguation: r.Disambiguation,
		SearchScore:    int(r.Score),
		Genres:         genres(r.Genres, r.Tags),
	}
	var credit strings.Builder
	for _, c := range r.ArtistCredit {
		name := strings.TrimSpace(c.Name)
		if name == "" {
			name = strings.TrimSpace(c.Artist.Name)
		}
		if name == "" {
			continue
		}
		rec.Artists = append(rec.Artists, name)
		credit.WriteString(name)
		credit.WriteString(c.JoinPhrase)
		// The artist's own name where the credit uses another, and its
		// aliases: a line may name the artist by any of them.
		var others []string
		if n := strings.TrimSpace(c.Artist.Name); n != "" && n != name {
			others = append(others, n)
		}
		for _, a := range c.Artist.Aliases {
			if n := strings.TrimSpace(a.Name); n != "" && n != name && !slices.Contains(others, n) {
				others = append(others, n)
			}
		}
		if len(others) > 0 {
			for len(rec.ArtistNames) < len(rec.Artists)-1 {
				rec.ArtistNames = append(rec.ArtistNames, nil)
			}
			rec.ArtistNames = append(rec.ArtistNames, others)
		}
	}
	// The credit with its join phrases ("A feat. B") tells a guest from a
	// collaborator; it is kept only when it says more than the names.
	if c := strings.TrimSpace(credit.String()); len(rec.Artists) > 1 && c != strings.Join(rec.Artists, "") {
		rec.Credit = c
	}
	for _, code := range r.ISRCs {
		rec.ISRCs = appendUnique(rec.ISRCs, normaliseISRC(code))
	}
	if isrc != "" {
		rec.ISRCs = appendUnique(rec.ISRCs, isrc)
	}
	for _, rel := range r.Releases {
		rec.Releases = append(rec.Releases, rel.normalise())
	}
	return rec
}

func (r release) normalise() provider.Release {
	rel := provider.Release{
		ID:      r.ID,
		Title:   r.Title,
		Date:    r.Date,
		Country: r.Country,
		Status:  strings.ToLower(r.Status),
	}
	// Fall back on the release events: the earliest known date, the first
	// country.
	for _, ev := range r.ReleaseEvents {
		if r.Date == "" && ev.Date != "" && (rel.Date == "" || ev.Date < rel.Date) {
			rel.Date = ev.Date
		}
		if rel.Country == "" && ev.Area != nil && len(ev.Area.Codes) > 0 {
			rel.Country = ev.Area.Codes[0]
		}
	}
	if rg := r.ReleaseGroup; rg != nil {
		rel.Type = strings.ToLower(rg.PrimaryType)
		for _, t := range rg.SecondaryTypes {
			// A DJ mix carries other people's recordings, as a compilation does.
			if t = strings.ToLower(t); t == "compilation" || t == "dj-mix" {
				rel.Type = "compilation"
			}
		}
	}
	for _, li := range r.LabelInfo {
		if li.Label != nil && li.Label.Name != "" {
			rel.Label, rel.CatalogNumber = li.Label.Name, li.CatalogNumber
			break
		}
	}
	return rel
}

// genres returns the names of the curated genres, or, when there are none
// (search results carry only tags), of the folksonomy tags; lower case,
// most votes first, without duplicates.
func genres(gs, tags []tag) []string {
	src := gs
	if len(src) == 0 {
		src = tags
	}
	src = slices.Clone(src)
	slices.SortStableFunc(src, func(a, b tag) int { return cmp.Compare(b.Count, a.Count) })
	var out []string
	for _, t := range src {
		if name := strings.ToLower(strings.TrimSpace(t.Name)); name != "" {
			out = appendUnique(out, name)
		}
	}
	return out
}

func appendUnique(s []string, v string) []string {
	if v == "" || slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}
