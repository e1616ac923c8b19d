package spotify

import (
	"regexp"
	"strings"
	"time"

	"github.com/djmeta/enrichment/internal/provider"
)

// Wire types: only the fields we read. Fields that development-mode apps no
// longer receive (popularity, available_markets, linked_from, album label)
// are either left out or optional.

type searchResponse struct {
	Tracks struct {
		Items []*track `json:"items"`
	} `json:"tracks"`
}

type track struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	DurationMS  int      `json:"duration_ms"`
	Artists     []artist `json:"artists"`
	Album       album    `json:"album"`
	ExternalIDs struct {
		ISRC string `json:"isrc"`
	} `json:"external_ids"`
	ExternalURLs externalURLs `json:"external_urls"`
}

type artist struct {
	Name string `json:"name"`
}

type album struct {
	ID                   string `json:"id"`
	Name                 string `json:"name"`
	AlbumType            string `json:"album_type"`
	ReleaseDate          string `json:"release_date"`
	ReleaseDatePrecision string `json:"release_date_precision"`
	Label                string `json:"label"` // full album objects of older apps only
}

type externalURLs struct {
	Spotify string `json:"spotify"`
}

// recording normalises a track object.
func (t *track) recording() provider.Recording {
	r := provider.Recording{
		Provider:   provider.Spotify,
		ID:         t.ID,
		Title:      t.Name,
		DurationMS: t.DurationMS,
		URL:        t.ExternalURLs.Spotify,
	}
	for _, a := range t.Artists {
		if a.Name != "" {
			r.Artists = append(r.Artists, a.Name)
		}
	}
	if isrc := normalizeISRC(t.ExternalIDs.ISRC); isrcRe.MatchString(isrc) {
		r.ISRCs = []string{isrc}
	}
	if a := t.Album; a.ID != "" || a.Name != "" {
		r.Releases = []provider.Release{{
			ID:    a.ID,
			Title: a.Name,
			Date:  releaseDate(a.ReleaseDate, a.ReleaseDatePrecision),
			Type:  albumType(a.AlbumType),
			Label: a.Label,
		}}
	}
	return r
}

var isrcRe = regexp.MustCompile(`^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$`)

var isrcReplacer = strings.NewReplacer("-", "", " ", "")

// normalizeISRC upper-cases an ISRC and drops dashes and spaces
// ("gb-smu-45-66095" → "GBSMU4566095").
func normalizeISRC(s string) string {
	return strings.ToUpper(isrcReplacer.Replace(strings.TrimSpace(s)))
}

var dateLayouts = map[int]string{4: "2006", 7: "2006-01", 10: "2006-01-02"}

// releaseDate cuts date to its precision (year, month or day) and returns
// YYYY, YYYY-MM or YYYY-MM-DD, or "" for a date that is missing, malformed
// or Spotify's "0000" for unknown.
func releaseDate(date, precision string) string {
	n := len(date)
	switch precision {
	case "year":
		n = min(n, 4)
	case "month":
		n = min(n, 7)
	case "day":
		n = min(n, 10)
	}
	layout, ok := dateLayouts[n]
	if !ok {
		return ""
	}
	d, err := time.Parse(layout, date[:n])
	if err != nil || d.Year() < 1 {
		return ""
	}
	return date[:n]
}

// albumType returns Spotify's album_type lower-cased if it is one we know.
// Spotify files EPs as singles and has no "ep" type; we keep "single".
func albumType(t string) string {
	switch t = strings.ToLower(t); t {
	case "album", "single", "compilation":
		return t
	}
	return ""
}
