package providersim

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Provider names, as used in the catalog's "providers" lists and in /_stats.
const (
	ProviderSpotify         = "spotify"
	ProviderSpotifyAccounts = "spotify_accounts"
	ProviderMusicBrainz     = "musicbrainz"
	ProviderDiscogs         = "discogs"
)

var (
	spotifyIDRe = regexp.MustCompile(`^[0-9A-Za-z]{22}$`)
	mbidRe      = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	isrcRe      = regexp.MustCompile(`^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$`)
	dateRe      = regexp.MustCompile(`^[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?$`)
)

// Catalog is the world the simulator serves: artists, recordings (one per version of a
// song) and releases that carry them. Each recording and release lists the providers that
// know it, so a track can be missing from one provider or from all of them.
type Catalog struct {
	Schema      int         `json:"schema"`
	Description string      `json:"description,omitempty"`
	Labels      []Label     `json:"labels"`
	Artists     []Artist    `json:"artists"`
	Recordings  []Recording `json:"recordings"`
	Releases    []Release   `json:"releases"`
	index       catalogIndex
	lazy        lazySearch
}

// Label is a record label.
type Label struct {
	Name      string `json:"name"`
	DiscogsID int64  `json:"discogs_id"`
	MBID      string `json:"mbid"`
}

// Artist is a performer, with its id at each provider. DiscogsName carries Discogs'
// disambiguation suffix ("Dusky (2)") when it differs from Name. Aliases are the other
// names MusicBrainz knows the artist by (a former name, a spelling without diacritics);
// MusicBrainz search results list them, the other providers know only Name.
type Artist struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	SortName    string   `json:"sort_name"`
	Type        string   `json:"type"`
	SpotifyID   string   `json:"spotify_id"`
	MBID        string   `json:"mbid"`
	DiscogsID   int64    `json:"discogs_id"`
	DiscogsName string   `json:"discogs_name,omitempty"`
	Aliases     []string `json:"aliases,omitempty"`
}

// Credit is one artist in an artist credit; Join is the phrase after the name
// (" feat. ", " & ", ", ", ""). Name, when set, is how this credit names the artist
// (a former name, another spelling): MusicBrainz's credited name and Discogs' ANV
// (artist name variation). Spotify shows the artist's current name.
type Credit struct {
	Artist string `json:"artist"`
	Join   string `json:"join"`
	Name   string `json:"name,omitempty"`
}

// Recording is one version of a song (Original Mix, Extended Mix, Radio Edit, a named
// remix). Title is the MusicBrainz-style title "Base (Version)"; SpotifyTitle and
// DiscogsTitle are how those providers spell it.
type Recording struct {
	ID               string   `json:"id"`
	Title            string   `json:"title"`
	Version          string   `json:"version,omitempty"`
	SpotifyTitle     string   `json:"spotify_title"`
	DiscogsTitle     string   `json:"discogs_title"`
	Artists          []Credit `json:"artists"`
	Remixers         []string `json:"remixers,omitempty"`
	DurationMS       int      `json:"duration_ms"`
	ISRC             string   `json:"isrc"`
	MBID             string   `json:"mbid"`
	MusicBrainzISRC  bool     `json:"musicbrainz_isrc"`
	FirstReleaseYear int      `json:"first_release_year"`
	Popularity       int      `json:"popularity"`
	Tags             []string `json:"tags,omitempty"`
	Providers        []string `json:"providers"`
	Decoy            bool     `json:"decoy,omitempty"`
}

// Format is a Discogs-style release format.
type Format struct {
	Name         string   `json:"name"`
	Qty          string   `json:"qty"`
	Descriptions []string `json:"descriptions,omitempty"`
	Text         string   `json:"text,omitempty"`
}

// Release is a single, EP, album or compilation.
type Release struct {
	ID               string         `json:"id"`
	Title            string         `json:"title"`
	Type             string         `json:"type"` // single, ep, album, compilation
	Artists          []Credit       `json:"artists"`
	ReleaseDate      string         `json:"release_date"`
	Label            string         `json:"label"`
	Catno            string         `json:"catno"`
	Country          string         `json:"country"`
	Genres           []string       `json:"genres"`
	Styles           []string       `json:"styles"`
	Formats          []Format       `json:"formats"`
	Barcode          string         `json:"barcode,omitempty"`
	SpotifyID        string         `json:"spotify_id"`
	MBID             string         `json:"mbid"`
	ReleaseGroupMBID string         `json:"release_group_mbid"`
	DiscogsID        int64          `json:"discogs_id"`
	DiscogsMasterID  int64          `json:"discogs_master_id,omitempty"`
	DiscogsHave      int            `json:"discogs_have"`
	DiscogsWant      int            `json:"discogs_want"`
	Providers        []string       `json:"providers"`
	Tracks           []ReleaseTrack `json:"tracks"`
}

// ReleaseTrack places a recording on a release. Spotify gives every release track its own
// id (the same recording on a compilation is another Spotify track with the same ISRC);
// MusicBrainz gives it a track MBID.
type ReleaseTrack struct {
	Recording string `json:"recording"`
	Position  string `json:"position"`
	SpotifyID string `json:"spotify_id"`
	MBTrackID string `json:"mb_track_id"`
}

// Has reports whether the recording exists at provider p.
func (r *Recording) Has(p string) bool { return slices.Contains(r.Providers, p) }

// Has reports whether the release exists at provider p.
func (r *Release) Has(p string) bool { return slices.Contains(r.Providers, p) }

// Year returns the release year, or 0.
func (r *Release) Year() int {
	var y int
	fmt.Sscanf(r.ReleaseDate, "%4d", &y)
	return y
}

// placement is a recording on a release, as one provider sees it.
type placement struct {
	rel    *Release
	track  *ReleaseTrack
	rec    *Recording
	number int // 1-based position on the release
}

type catalogIndex struct {
	artists       map[string]*Artist
	labels        map[string]*Label
	recordings    map[string]*Recording
	recByMBID     map[string]*Recording
	relByMBID     map[string]*Release
	relByDiscogs  map[int64]*Release
	placements    map[string][]placement // recording id -> releases carrying it
	spotifyTracks []placement            // every (release, recording) Spotify knows
	spotifyByID   map[string]placement
}

// LoadCatalog reads and validates a catalog file.
func LoadCatalog(path string) (*Catalog, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read catalog: %w", err)
	}
	return ParseCatalog(b)
}

// ParseCatalog decodes and validates a catalog.
func ParseCatalog(b []byte) (*Catalog, error) {
	var c Catalog
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("decode catalog: %w", err)
	}
	if c.Schema != 1 {
		return nil, fmt.Errorf("catalog schema %d: only schema 1 is supported", c.Schema)
	}
	if err := c.build(); err != nil {
		return nil, fmt.Errorf("invalid catalog: %w", err)
	}
	return &c, nil
}

func (c *Catalog) build() error {
	ix := catalogIndex{
		artists:      make(map[string]*Artist, len(c.Artists)),
		labels:       make(map[string]*Label, len(c.Labels)),
		recordings:   make(map[string]*Recording, len(c.Recordings)),
		recByMBID:    make(map[string]*Recording, len(c.Recordings)),
		relByMBID:    make(map[string]*Release, len(c.Releases)),
		relByDiscogs: make(map[int64]*Release, len(c.Releases)),
		placements:   make(map[string][]placement),
		spotifyByID:  make(map[string]placement),
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for i := range c.Labels {
		ix.labels[c.Labels[i].Name] = &c.Labels[i]
	}
	for i := range c.Artists {
		a := &c.Artists[i]
		if _, dup := ix.artists[a.ID]; dup {
			bad("artist %q: duplicate id", a.ID)
		}
		if !spotifyIDRe.MatchString(a.SpotifyID) || !mbidRe.MatchString(a.MBID) || a.DiscogsID <= 0 {
			bad("artist %q: malformed provider id", a.ID)
		}
		if a.DiscogsName == "" {
			a.DiscogsName = a.Name
		}
		ix.artists[a.ID] = a
	}
	checkCredits := func(owner string, cs []Credit) {
		if len(cs) == 0 {
			bad("%s: no artists", owner)
		}
		for _, cr := range cs {
			if _, ok := ix.artists[cr.Artist]; !ok {
				bad("%s: unknown artist %q", owner, cr.Artist)
			}
		}
	}
	for i := range c.Recordings {
		r := &c.Recordings[i]
		if _, dup := ix.recordings[r.ID]; dup {
			bad("recording %q: duplicate id", r.ID)
		}
		if !isrcRe.MatchString(r.ISRC) || !mbidRe.MatchString(r.MBID) || r.DurationMS <= 0 {
			bad("recording %q: malformed isrc, mbid or duration", r.ID)
		}
		checkCredits("recording "+r.ID, r.Artists)
		for _, rm := range r.Remixers {
			if _, ok := ix.artists[rm]; !ok {
				bad("recording %q: unknown remixer %q", r.ID, rm)
			}
		}
		ix.recordings[r.ID] = r
		ix.recByMBID[r.MBID] = r
	}
	for i := range c.Releases {
		rel := &c.Releases[i]
		if !spotifyIDRe.MatchString(rel.SpotifyID) || !mbidRe.MatchString(rel.MBID) ||
			!mbidRe.MatchString(rel.ReleaseGroupMBID) || rel.DiscogsID <= 0 || !dateRe.MatchString(rel.ReleaseDate) {
			bad("release %q: malformed id or date", rel.ID)
		}
		switch rel.Type {
		case "single", "ep", "album", "compilation":
		default:
			bad("release %q: unknown type %q", rel.ID, rel.Type)
		}
		checkCredits("release "+rel.ID, rel.Artists)
		ix.relByMBID[rel.MBID] = rel
		ix.relByDiscogs[rel.DiscogsID] = rel
		for j := range rel.Tracks {
			t := &rel.Tracks[j]
			rec, ok := ix.recordings[t.Recording]
			if !ok {
				bad("release %q: unknown recording %q", rel.ID, t.Recording)
				continue
			}
			if !spotifyIDRe.MatchString(t.SpotifyID) || !mbidRe.MatchString(t.MBTrackID) {
				bad("release %q track %d: malformed id", rel.ID, j+1)
			}
			p := placement{rel: rel, track: t, rec: rec, number: j + 1}
			ix.placements[rec.ID] = append(ix.placements[rec.ID], p)
			if rel.Has(ProviderSpotify) && rec.Has(ProviderSpotify) {
				if _, dup := ix.spotifyByID[t.SpotifyID]; dup {
					bad("release %q: duplicate spotify track id %s", rel.ID, t.SpotifyID)
				}
				ix.spotifyTracks = append(ix.spotifyTracks, p)
				ix.spotifyByID[t.SpotifyID] = p
			}
		}
	}
	// Earliest release first: "the original single before an album, an album before a
	// compilation".
	for id := range ix.placements {
		ps := ix.placements[id]
		sort.SliceStable(ps, func(i, j int) bool { return releaseBefore(ps[i].rel, ps[j].rel) })
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	c.index = ix
	return nil
}

func releaseBefore(a, b *Release) bool {
	if a.ReleaseDate[:4] != b.ReleaseDate[:4] {
		return a.ReleaseDate < b.ReleaseDate
	}
	rank := map[string]int{"single": 0, "ep": 0, "album": 1, "compilation": 2}
	if rank[a.Type] != rank[b.Type] {
		return rank[a.Type] < rank[b.Type]
	}
	return a.ReleaseDate < b.ReleaseDate
}

// placementsAt returns the releases carrying rec that provider p knows, earliest first.
func (c *Catalog) placementsAt(rec *Recording, p string) []placement {
	var out []placement
	for _, pl := range c.index.placements[rec.ID] {
		if pl.rel.Has(p) {
			out = append(out, pl)
		}
	}
	return out
}

func (c *Catalog) artist(id string) *Artist { return c.index.artists[id] }

// creditString renders a credit as "A feat. B" using the given name function.
func (c *Catalog) creditString(cs []Credit, name func(*Artist) string) string {
	var b strings.Builder
	for _, cr := range cs {
		b.WriteString(name(c.artist(cr.Artist)))
		b.WriteString(cr.Join)
	}
	return b.String()
}

func plainName(a *Artist) string { return a.Name }

// creditedName is how credit cr names its artist: its own Name when it has one.
func (c *Catalog) creditedName(cr Credit) string {
	if cr.Name != "" {
		return cr.Name
	}
	return c.artist(cr.Artist).Name
}

// creditedString renders a credit with the names it gives ("The Dust Brothers", not
// "The Chemical Brothers"), as MusicBrainz shows a credit.
func (c *Catalog) creditedString(cs []Credit) string {
	var b strings.Builder
	for _, cr := range cs {
		b.WriteString(c.creditedName(cr))
		b.WriteString(cr.Join)
	}
	return b.String()
}
