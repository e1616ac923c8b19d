package providersim

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

// namesCatalog is minimalCatalog with a former name: the artist is "The Chemical
// Brothers", MusicBrainz knows "The Dust Brothers" as an alias, and the single credits
// the former name (MusicBrainz's credited name, Discogs' ANV).
func namesCatalog(t *testing.T) *Catalog {
	t.Helper()
	src := strings.NewReplacer(
		`"name": "Bicep", "sort_name": "Bicep"`, `"name": "The Chemical Brothers", "sort_name": "Chemical Brothers, The", "aliases": ["The Dust Brothers"]`,
		`"artists": [{"artist": "bicep", "join": ""}], "duration_ms"`, `"artists": [{"artist": "bicep", "join": "", "name": "The Dust Brothers"}], "duration_ms"`,
		`"type": "single", "artists": [{"artist": "bicep", "join": ""}]`, `"type": "single", "artists": [{"artist": "bicep", "join": "", "name": "The Dust Brothers"}]`,
		`"title": "Glue", "spotify_title": "Glue", "discogs_title": "Glue"`, `"title": "Song To The Siren", "spotify_title": "Song To The Siren", "discogs_title": "Song To The Siren"`,
	).Replace(minimalCatalog)
	c, err := ParseCatalog([]byte(src))
	if err != nil {
		t.Fatalf("ParseCatalog: %v", err)
	}
	return c
}

func newNamesHarness(t *testing.T) *harness {
	t.Helper()
	clock := newFakeClock()
	sim, err := New(namesCatalog(t), testConfig(), WithClock(clock))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	return &harness{t: t, sim: sim, srv: srv, clock: clock}
}

func TestMusicBrainzCreditedNamesAndAliases(t *testing.T) {
	h := newNamesHarness(t)
	type credit struct {
		Name   string `json:"name"`
		Artist struct {
			Name    string `json:"name"`
			Aliases []struct {
				Name string `json:"name"`
				Type string `json:"type"`
			} `json:"aliases"`
		} `json:"artist"`
	}
	search := func(query string) (count int, credits []credit) {
		t.Helper()
		resp := h.get(mbBase+"/recording"+q("query", query, "fmt", "json"), goodMBUA)
		var body struct {
			Count      int `json:"count"`
			Recordings []struct {
				ArtistCredit []credit `json:"artist-credit"`
			} `json:"recordings"`
		}
		if err := json.Unmarshal(resp.body, &body); err != nil || resp.status != 200 {
			t.Fatalf("%s: status %d, %v: %s", query, resp.status, err, resp.body)
		}
		if len(body.Recordings) > 0 {
			credits = body.Recordings[0].ArtistCredit
		}
		return body.Count, credits
	}
	// The artist field is the credit as credited; artistname the artists' own names;
	// creditname the credited names. Aliases are not searched. (A phrase that partly
	// matches still scores, so single words tell the fields apart.)
	for _, tt := range []struct {
		query string
		want  int
	}{
		{`recording:"Song To The Siren" AND artist:"Dust"`, 1},
		{`recording:"Song To The Siren" AND artist:"Chemical"`, 0},
		{`recording:"Song To The Siren" AND artistname:"Chemical"`, 1},
		{`recording:"Song To The Siren" AND creditname:"Dust"`, 1},
		{`recording:"Song To The Siren" AND creditname:"Chemical"`, 0},
	} {
		if got, _ := search(tt.query); got != tt.want {
			t.Errorf("%s: %d results, want %d", tt.query, got, tt.want)
		}
	}
	_, credits := search(`recording:"Song To The Siren"`)
	if len(credits) != 1 || credits[0].Name != "The Dust Brothers" || credits[0].Artist.Name != "The Chemical Brothers" {
		t.Fatalf("credit = %+v, want the credited name and the artist's name", credits)
	}
	if a := credits[0].Artist.Aliases; len(a) != 1 || a[0].Name != "The Dust Brothers" || a[0].Type != "Artist name" {
		t.Errorf("aliases = %+v, want The Dust Brothers", a)
	}

	resp := h.get(mbBase+"/recording/3f1c7a2e-5b6d-4c8e-9f0a-1b2c3d4e5f60?fmt=json&inc=artist-credits", goodMBUA)
	var rec struct {
		ArtistCredit []credit `json:"artist-credit"`
	}
	if err := json.Unmarshal(resp.body, &rec); err != nil || len(rec.ArtistCredit) != 1 || rec.ArtistCredit[0].Name != "The Dust Brothers" {
		t.Errorf("lookup credit = %s (%v), want the credited name", resp.body, err)
	}
}

func TestMusicBrainzFuzzyTerms(t *testing.T) {
	h := newNamesHarness(t)
	for _, tt := range []struct {
		query string
		want  int
	}{
		// Two letters swapped: not found by the phrase, found by the fuzzy terms.
		{`recording:"Song To The Siren" AND artist:"Dsut"`, 0},
		{`recording:(Song~ To~ The~ Siren~) AND artist:(Dsut~)`, 1},
		{`+recording:(Snog~ To~ The~ Siren~) artist:(Chemical~)`, 1},
		// Three edits are too many; words of fewer than three letters match only
		// themselves.
		{`recording:(Song~ To~ The~ Sxrxnx~) AND artist:(Dust~)`, 1},
		{`recording:(Sxrxnx~) AND artist:(Dust~)`, 0},
		{`recording:(Siren~) AND artist:(Ty~)`, 0},
	} {
		resp := h.get(mbBase+"/recording"+q("query", tt.query, "fmt", "json"), goodMBUA)
		var body struct {
			Count int `json:"count"`
		}
		if err := json.Unmarshal(resp.body, &body); err != nil || resp.status != 200 {
			t.Fatalf("%s: status %d, %v", tt.query, resp.status, err)
		}
		if body.Count != tt.want {
			t.Errorf("%s: %d results, want %d", tt.query, body.Count, tt.want)
		}
	}
}

func TestFuzzyDistance(t *testing.T) {
	for _, tt := range []struct {
		q, w string
		want int
	}{
		{"bicpe", "bicep", 1}, // a swap is one edit
		{"bicep", "bicep", 0},
		{"solomon", "solomun", 1},
		{"sxrxnx", "siren", -1},
		{"tha", "the", 1},
		{"th", "the", -1}, // shorter than three letters
		{"abc", "xyz", -1},
		{"dopler", "doppler", 1},
		{"loosing", "losing", 1},
	} {
		if got := fuzzyDistance(tt.q, tt.w); got != tt.want {
			t.Errorf("fuzzyDistance(%q, %q) = %d, want %d", tt.q, tt.w, got, tt.want)
		}
	}
}

func TestDiscogsNameVariations(t *testing.T) {
	h := newNamesHarness(t)
	// The artist search finds a release by the artist's name and by the name variation
	// its credit uses.
	for _, artist := range []string{"The Chemical Brothers", "The Dust Brothers"} {
		resp := h.get(dgBase+"/database/search"+q("type", "release", "artist", artist, "track", "Song To The Siren"), goodDGUA, dgToken)
		var body struct {
			Results []struct {
				ID int64 `json:"id"`
			} `json:"results"`
		}
		if err := json.Unmarshal(resp.body, &body); err != nil || len(body.Results) != 1 {
			t.Errorf("artist=%s: %s (%v), want the release", artist, resp.body, err)
		}
	}
	resp := h.get(dgBase+"/releases/10470123", goodDGUA)
	var rel struct {
		Artists []struct {
			Name string `json:"name"`
			ANV  string `json:"anv"`
		} `json:"artists"`
	}
	if err := json.Unmarshal(resp.body, &rel); err != nil || len(rel.Artists) != 1 ||
		rel.Artists[0].Name != "The Chemical Brothers" || rel.Artists[0].ANV != "The Dust Brothers" {
		t.Errorf("release artists = %s (%v), want the name with its ANV", resp.body, err)
	}
}
