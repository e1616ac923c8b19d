package enrich

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/djmeta/enrichment/internal/match"
	"github.com/djmeta/enrichment/internal/provider"
	"github.com/djmeta/enrichment/internal/task"
)

// fakeClient is an in-memory provider.Client that records its calls.
type fakeClient struct {
	name   string
	byID   map[string][]provider.Recording
	byISRC map[string][]provider.Recording
	search []provider.Recording
	err    error
	mu     sync.Mutex
	calls  []string
}

func (f *fakeClient) Name() string { return f.name }
func (f *fakeClient) record(c string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
}
func (f *fakeClient) Search(_ context.Context, q provider.Query) ([]provider.Recording, error) {
	f.record("search")
	return f.search, f.err
}
func (f *fakeClient) ByISRC(_ context.Context, isrc string) ([]provider.Recording, error) {
	f.record("isrc:" + isrc)
	if f.err != nil {
		return nil, f.err
	}
	return f.byISRC[isrc], nil
}
func (f *fakeClient) ByID(_ context.Context, id string) ([]provider.Recording, error) {
	f.record("id:" + id)
	if f.err != nil {
		return nil, f.err
	}
	r, ok := f.byID[id]
	if !ok {
		return nil, &provider.Error{Provider: f.name, Kind: provider.KindNotFound}
	}
	return r, nil
}

func glue(p, id, title string, dur int, isrc ...string) provider.Recording {
	return provider.Recording{Provider: p, ID: id, Title: title, Artists: []string{"Bicep"}, DurationMS: dur, ISRCs: isrc,
		Releases: []provider.Release{{ID: "rel-" + id, Title: "Glue", Date: "2017-06-02", Type: "single", Label: "Ninja Tune"}}}
}

func TestEngineISRCChainingAndMerge(t *testing.T) {
	sp := &fakeClient{name: provider.Spotify, search: []provider.Recording{
		glue("spotify", "2aJDlirz6v2a4HREki98cP", "Glue", 269000, "GBCEL1700123"),
		glue("spotify", "0000000000000000000002", "Glue - Hammer Remix", 300000, "GBCEL1700999"),
	}}
	mb := &fakeClient{name: provider.MusicBrainz, byISRC: map[string][]provider.Recording{
		"GBCEL1700123": {glue("musicbrainz", "6b9a9e04-abd7-4666-86ba-bb220ef4c3b2", "Glue", 268000, "GBCEL1700123")},
	}}
	dc := &fakeClient{name: provider.Discogs, search: []provider.Recording{
		{Provider: "discogs", ID: "111", Title: "Glue", Artists: []string{"Bicep (2)"}, DurationMS: 269000, Genres: []string{"Electronic"}, Styles: []string{"Breakbeat"},
			Releases: []provider.Release{{ID: "111", Title: "Bicep", Date: "2017-09-01", Type: "album", Label: "Ninja Tune", CatalogNumber: "ZEN241"}}},
		{Provider: "discogs", ID: "99", Title: "Glue", Artists: []string{"Bicep"}, DurationMS: 269000,
			Releases: []provider.Release{{ID: "99", Title: "Glue", Date: "2017-06-02", Type: "single", Label: "Ninja Tune", CatalogNumber: "ZEN12478"}}},
	}}
	e := NewEngine([]Source{{Client: sp}, {Client: mb}, {Client: dc}}, nil, match.DefaultConfig(), nil)
	r, err := e.Enrich(context.Background(), task.Task{TrackID: "t", Artist: "Bicep", Title: "Glue"})
	if err != nil {
		t.Fatalf("Enrich() error = %v", err)
	}
	if r.Status != StatusCompleted || len(r.Sources) != 3 {
		t.Fatalf("status, sources = %s, %v; want completed with 3 sources", r.Status, r.Sources)
	}
	if got, want := mb.calls, []string{"isrc:GBCEL1700123"}; len(got) != 1 || got[0] != want[0] {
		t.Errorf("MusicBrainz calls = %v, want %v (ISRC learned from Spotify, no search)", got, want)
	}
	if r.ISRC != "GBCEL1700123" || r.SpotifyID != "2aJDlirz6v2a4HREki98cP" || r.MusicBrainzID == "" {
		t.Errorf("ids = %q %q %q", r.ISRC, r.SpotifyID, r.MusicBrainzID)
	}
	if r.DiscogsReleaseID != 99 {
		t.Errorf("discogs_release_id = %d, want 99 (the single before the album)", r.DiscogsReleaseID)
	}
	if r.DurationMS != 268000 {
		t.Errorf("duration = %d, want MusicBrainz's 268000", r.DurationMS)
	}
	if r.Label != "Ninja Tune" || r.ReleaseDate.Format("2006-01-02") != "2017-06-02" {
		t.Errorf("label, date = %q, %s", r.Label, r.ReleaseDate)
	}
	if r.Confidence <= 0.8 || r.Confidence > 1 {
		t.Errorf("confidence = %v", r.Confidence)
	}
}

func TestEnginePlaceholderMakesNoCalls(t *testing.T) {
	sp := &fakeClient{name: provider.Spotify}
	e := NewEngine([]Source{{Client: sp}}, nil, match.DefaultConfig(), nil)
	r, err := e.Enrich(context.Background(), task.Task{TrackID: "t", Artist: "ID", Title: "ID"})
	if err != nil || r.Status != StatusNotFound {
		t.Fatalf("Enrich(ID - ID) = %s, %v; want not_found", r.Status, err)
	}
	if len(sp.calls) != 0 {
		t.Errorf("provider calls for a placeholder = %v, want none", sp.calls)
	}
}

func TestEngineHintNotFoundIsSearchedAndNotStored(t *testing.T) {
	sp := &fakeClient{name: provider.Spotify, byID: map[string][]provider.Recording{},
		search: []provider.Recording{glue("spotify", "2aJDlirz6v2a4HREki98cP", "Glue", 269000, "GBCEL1700123")}}
	e := NewEngine([]Source{{Client: sp}}, nil, match.DefaultConfig(), nil)
	r, err := e.Enrich(context.Background(), task.Task{TrackID: "t", Artist: "Bicep", Title: "Glue", SpotifyID: "AAAAAAAAAAAAAAAAAAAAAA"})
	if err != nil {
		t.Fatal(err)
	}
	if r.SpotifyID != "2aJDlirz6v2a4HREki98cP" {
		t.Errorf("spotify_id = %q, want the searched one, never the unknown hint", r.SpotifyID)
	}
}

func TestEnginePartialAndRetry(t *testing.T) {
	down := &provider.Error{Provider: provider.Discogs, Kind: provider.KindUnavailable, Err: errors.New("503")}
	limited := &provider.Error{Provider: provider.Discogs, Kind: provider.KindRateLimited, RetryAfter: 30 * time.Second}
	sp := &fakeClient{name: provider.Spotify, search: []provider.Recording{glue("spotify", "2aJDlirz6v2a4HREki98cP", "Glue", 269000)}}
	e := NewEngine([]Source{{Client: sp}, {Client: &fakeClient{name: provider.Discogs, err: down}}}, nil, match.DefaultConfig(), nil)
	r, err := e.Enrich(context.Background(), task.Task{TrackID: "t", Artist: "Bicep", Title: "Glue"})
	if err != nil || r.Status != StatusPartial {
		t.Errorf("one provider down with a match elsewhere = %s, %v; want partial", r.Status, err)
	}
	none := &fakeClient{name: provider.Spotify}
	e = NewEngine([]Source{{Client: none}, {Client: &fakeClient{name: provider.Discogs, err: limited}}}, nil, match.DefaultConfig(), nil)
	_, err = e.Enrich(context.Background(), task.Task{TrackID: "t", Artist: "Bicep", Title: "Glue"})
	if d, ok := RetryAfterOf(err); !ok || d != 30*time.Second {
		t.Errorf("no match and a rate-limited provider: err = %v, want RetryAfter(30s)", err)
	}
	e = NewEngine([]Source{{Client: none}}, nil, match.DefaultConfig(), nil)
	r, err = e.Enrich(context.Background(), task.Task{TrackID: "t", Artist: "Bicep", Title: "Glue"})
	if err != nil || r.Status != StatusNotFound {
		t.Errorf("every provider answered, none matched = %s, %v; want not_found", r.Status, err)
	}
}

// queryClient answers searches by query, so a test can tell the first
// search from the broad one.
type queryClient struct {
	fakeClient
	byQuery map[provider.Query][]provider.Recording
}

func (c *queryClient) Search(_ context.Context, q provider.Query) ([]provider.Recording, error) {
	c.record("search:" + q.Artist + "|" + q.Title)
	return c.byQuery[q], nil
}

func TestEngineBroadSearch(t *testing.T) {
	tears := provider.Recording{Provider: provider.Discogs, ID: "77", Title: "Tears", Artists: []string{"Frankie Knuckles", "Satoshi Tomiie"},
		DurationMS: 468000, Releases: []provider.Release{{ID: "77", Type: "single", Date: "1989"}}}
	dc := &queryClient{fakeClient: fakeClient{name: provider.Discogs}, byQuery: map[provider.Query][]provider.Recording{
		{Artist: "Frankie Knuckles", Title: "Tears"}: {tears},
	}}
	e := NewEngine([]Source{{Client: dc}}, nil, match.DefaultConfig(), nil)
	r, err := e.Enrich(context.Background(), task.Task{TrackID: "t", Artist: "Frankie Knuckles pres. Satoshi Tomiie", Title: "Tears"})
	if err != nil {
		t.Fatal(err)
	}
	if r.DiscogsReleaseID != 77 {
		t.Errorf("discogs_release_id = %d, want 77 from the broad search", r.DiscogsReleaseID)
	}
	want := []string{"search:Frankie Knuckles pres. Satoshi Tomiie|Tears", "search:Frankie Knuckles|Tears"}
	if len(dc.calls) != 2 || dc.calls[0] != want[0] || dc.calls[1] != want[1] {
		t.Errorf("calls = %q, want %q", dc.calls, want)
	}

	// A single artist and a plain title: the broad search would be the same
	// request, so there is none.
	dc.calls = nil
	if _, err := e.Enrich(context.Background(), task.Task{TrackID: "t", Artist: "Bicep", Title: "Glue"}); err != nil {
		t.Fatal(err)
	}
	if len(dc.calls) != 1 {
		t.Errorf("calls = %q, want one search", dc.calls)
	}
}

func TestEngineSpotifyIDOfTheFirstRelease(t *testing.T) {
	onAlbum := func(id, typ, date string) provider.Recording {
		r := glue(provider.Spotify, id, "Glue", 269000, "GBCEL1700123")
		r.Releases = []provider.Release{{ID: "alb-" + id, Type: typ, Date: date}}
		return r
	}
	sp := &fakeClient{name: provider.Spotify, search: []provider.Recording{
		onAlbum("0000000000000000000003", "compilation", "2016-05-01"),
		onAlbum("0000000000000000000002", "album", "2017-09-01"),
		onAlbum("0000000000000000000001", "single", "2017-06-02"),
	}}
	e := NewEngine([]Source{{Client: sp}}, nil, match.DefaultConfig(), nil)
	r, err := e.Enrich(context.Background(), task.Task{TrackID: "t", Artist: "Bicep", Title: "Glue"})
	if err != nil {
		t.Fatal(err)
	}
	if r.SpotifyID != "0000000000000000000001" {
		t.Errorf("spotify_id = %q, want the single's track", r.SpotifyID)
	}
}
