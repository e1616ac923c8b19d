package enrich

import (
	"context"
	"slices"
	"testing"

	"github.com/djmeta/enrichment/internal/match"
	"github.com/djmeta/enrichment/internal/provider"
	"github.com/djmeta/enrichment/internal/task"
)

// searchClient answers searches by query (fuzzy ones under their own key)
// and records each.
type searchClient struct {
	fakeClient
	byQuery map[provider.Query][]provider.Recording
}

func (c *searchClient) Search(_ context.Context, q provider.Query) ([]provider.Recording, error) {
	call := "search:" + q.Artist + "|" + q.Title
	if q.Fuzzy {
		call = "fuzzy:" + q.Artist + "|" + q.Title
	}
	c.record(call)
	return c.byQuery[q], nil
}

func sweetNothing(p, id string, artists []string, credit string, isrcs ...string) provider.Recording {
	return provider.Recording{Provider: p, ID: id, Title: "Sweet Nothing", Artists: artists, Credit: credit, DurationMS: 212000, ISRCs: isrcs,
		Releases: []provider.Release{{ID: "rel-" + id, Type: "single", Date: "2012-10-14"}}}
}

// A guest the line leaves out: Spotify lists every artist flat, so it
// cannot tell the guest from a collaborator; MusicBrainz's credit says
// "feat.", and Spotify's candidates are decided again with that, without a
// request.
func TestEngineDecidesAgainWithWhatLaterProvidersEstablish(t *testing.T) {
	line := provider.Query{Artist: "Calvin Harris", Title: "Sweet Nothing"}
	sp := &searchClient{fakeClient: fakeClient{name: provider.Spotify}, byQuery: map[provider.Query][]provider.Recording{
		line: {sweetNothing(provider.Spotify, "1111111111111111111111", []string{"Calvin Harris", "Florence Welch"}, "", "GBARL1201179")},
	}}
	mb := &searchClient{fakeClient: fakeClient{name: provider.MusicBrainz}, byQuery: map[provider.Query][]provider.Recording{
		line: {sweetNothing(provider.MusicBrainz, "6b9a9e04-abd7-4666-86ba-bb220ef4c3b2", []string{"Calvin Harris", "Florence Welch"}, "Calvin Harris feat. Florence Welch")},
	}}
	e := NewEngine([]Source{{Client: sp}, {Client: mb}}, nil, match.DefaultConfig(), nil)
	r, err := e.Enrich(context.Background(), task.Task{TrackID: "t", Artist: line.Artist, Title: line.Title})
	if err != nil {
		t.Fatal(err)
	}
	if r.SpotifyID != "1111111111111111111111" || r.MusicBrainzID == "" {
		t.Errorf("spotify_id, musicbrainz_id = %q, %q; want both matched", r.SpotifyID, r.MusicBrainzID)
	}
	if want := []string{"search:Calvin Harris|Sweet Nothing"}; !slices.Equal(sp.calls, want) {
		t.Errorf("Spotify calls = %q, want %q (decided again without a request)", sp.calls, want)
	}
	if r.MatcherVersion != match.MatcherVersion || r.Metadata["matcher_version"] != match.MatcherVersion {
		t.Errorf("matcher version = %d, %v; want %d", r.MatcherVersion, r.Metadata["matcher_version"], match.MatcherVersion)
	}
}

// A line naming one of two credited artists is accepted when the task's
// ISRC agrees, and refused when nothing confirms it.
func TestEnginePartialCredit(t *testing.T) {
	hl := provider.Recording{Provider: provider.Spotify, ID: "2222222222222222222222", Title: "Higher Love", Artists: []string{"Kygo", "Whitney Houston"},
		DurationMS: 228000, ISRCs: []string{"GBCWO1913323"}}
	sp := &fakeClient{name: provider.Spotify, search: []provider.Recording{hl}, byISRC: map[string][]provider.Recording{"GBCWO1913323": {hl}}}
	e := NewEngine([]Source{{Client: sp}}, nil, match.DefaultConfig(), nil)
	for _, tt := range []struct {
		isrc, want string
	}{{"GBCWO1913323", hl.ID}, {"", ""}} {
		r, err := e.Enrich(context.Background(), task.Task{TrackID: "t", Artist: "Kygo", Title: "Higher Love", ISRC: tt.isrc})
		if err != nil {
			t.Fatal(err)
		}
		if r.SpotifyID != tt.want {
			t.Errorf("ISRC %q: spotify_id = %q, want %q", tt.isrc, r.SpotifyID, tt.want)
		}
	}
}

// The fuzzy retry is spent only when the searches found nothing at all.
func TestEngineFuzzyRetryOnlyWhenNothingFound(t *testing.T) {
	glueRec := glue(provider.MusicBrainz, "6b9a9e04-abd7-4666-86ba-bb220ef4c3b2", "Glue", 269000)
	typo := provider.Query{Artist: "Bicpe", Title: "Glue"}
	mb := &searchClient{fakeClient: fakeClient{name: provider.MusicBrainz}, byQuery: map[provider.Query][]provider.Recording{
		{Artist: "Bicpe", Title: "Glue", Fuzzy: true}: {glueRec},
		{Artist: "Bicep", Title: "Glue (Dub)"}:        {glueRec},
	}}
	e := NewEngine([]Source{{Client: mb}}, nil, match.DefaultConfig(), nil)
	r, err := e.Enrich(context.Background(), task.Task{TrackID: "t", Artist: typo.Artist, Title: typo.Title})
	if err != nil {
		t.Fatal(err)
	}
	if r.MusicBrainzID != glueRec.ID {
		t.Errorf("musicbrainz_id = %q, want the fuzzy search's", r.MusicBrainzID)
	}
	if want := []string{"search:Bicpe|Glue", "fuzzy:Bicpe|Glue"}; !slices.Equal(mb.calls, want) {
		t.Errorf("calls = %q, want %q", mb.calls, want)
	}

	// Candidates, none of them the line's: no retry.
	mb.calls = nil
	if _, err := e.Enrich(context.Background(), task.Task{TrackID: "t", Artist: "Bicep", Title: "Glue (Dub)"}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"search:Bicep|Glue (Dub)"}; !slices.Equal(mb.calls, want) {
		t.Errorf("calls = %q, want %q: no retry when the search found candidates", mb.calls, want)
	}
}

// Discogs has no looser search: when its search finds nothing, it searches
// again with the spelling an earlier provider's match used, and not at all
// when that provider matched the line as spelled.
func TestEngineDiscogsSearchesWithAnotherProvidersSpelling(t *testing.T) {
	sp := &fakeClient{name: provider.Spotify, search: []provider.Recording{{Provider: provider.Spotify, ID: "3333333333333333333333",
		Title: "Two Months Off", Artists: []string{"Underworld"}, DurationMS: 560000}}}
	dcRec := provider.Recording{Provider: provider.Discogs, ID: "18306089", Title: "Two Months Off", Artists: []string{"Underworld"}, DurationMS: 560000,
		Releases: []provider.Release{{ID: "18306089", Type: "single"}}}
	dc := &searchClient{fakeClient: fakeClient{name: provider.Discogs}, byQuery: map[provider.Query][]provider.Recording{
		{Artist: "Underworld", Title: "Two Months Off"}: {dcRec},
	}}
	e := NewEngine([]Source{{Client: sp}, {Client: dc}}, nil, match.DefaultConfig(), nil)
	r, err := e.Enrich(context.Background(), task.Task{TrackID: "t", Artist: "Underworld", Title: "2 Months Off"})
	if err != nil {
		t.Fatal(err)
	}
	if r.DiscogsReleaseID != 18306089 {
		t.Errorf("discogs_release_id = %d, want the one found with Spotify's spelling", r.DiscogsReleaseID)
	}
	if want := []string{"search:Underworld|2 Months Off", "search:Underworld|Two Months Off"}; !slices.Equal(dc.calls, want) {
		t.Errorf("Discogs calls = %q, want %q", dc.calls, want)
	}

	// Spotify matched the line as spelled: Discogs lacks the recording.
	dc.calls = nil
	if _, err := e.Enrich(context.Background(), task.Task{TrackID: "t", Artist: "Underworld", Title: "Two Months Off (Radio Edit)"}); err != nil {
		t.Fatal(err)
	}
	sp.search = nil
	if _, err := e.Enrich(context.Background(), task.Task{TrackID: "t", Artist: "Underworld", Title: "Two Months Off"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range dc.calls {
		if c != "search:Underworld|Two Months Off (Radio Edit)" && c != "search:Underworld|Two Months Off" {
			t.Errorf("Discogs call %q: want no retry", c)
		}
	}
}
