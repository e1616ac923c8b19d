package enrich_test

import (
	"context"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/djmeta/enrichment/internal/cache"
	"github.com/djmeta/enrichment/internal/enrich"
	"github.com/djmeta/enrichment/internal/match"
	"github.com/djmeta/enrichment/internal/provider"
	"github.com/djmeta/enrichment/internal/task"
	"github.com/djmeta/enrichment/internal/testinfra"
)

// mapClient answers searches and ISRC lookups from maps and counts calls.
type mapClient struct {
	name   string
	search []provider.Recording
	byISRC map[string][]provider.Recording
	mu     sync.Mutex
	calls  int
}

func (m *mapClient) Name() string { return m.name }
func (m *mapClient) count() {
	m.mu.Lock()
	m.calls++
	m.mu.Unlock()
}
func (m *mapClient) Search(context.Context, provider.Query) ([]provider.Recording, error) {
	m.count()
	return m.search, nil
}
func (m *mapClient) ByISRC(_ context.Context, isrc string) ([]provider.Recording, error) {
	m.count()
	return m.byISRC[isrc], nil
}
func (m *mapClient) ByID(context.Context, string) ([]provider.Recording, error) {
	m.count()
	return nil, &provider.Error{Provider: m.name, Kind: provider.KindNotFound}
}

func rec(p, id string, dur int, isrc ...string) provider.Recording {
	return provider.Recording{Provider: p, ID: id, Title: "Glue", Artists: []string{"Bicep"}, DurationMS: dur, ISRCs: isrc,
		Releases: []provider.Release{{ID: "rel-" + id, Title: "Glue", Date: "2017-06-02", Type: "single", Label: "Ninja Tune"}}}
}

// TestEngineWarmCacheRoundTrips: on a warm cache (the real Redis) a task
// reads every key it can predict in one MGET and the MusicBrainz ISRC key,
// learned from Spotify's answer, with one GET; it asks no provider and
// gets the same result as the cold run.
func TestEngineWarmCacheRoundTrips(t *testing.T) {
	rdb, prefix := testinfra.Redis(t)
	ctx := context.Background()

	sp := &mapClient{name: provider.Spotify, search: []provider.Recording{rec("spotify", "2aJDlirz6v2a4HREki98cP", 269000, "GBCEL1700123")}}
	mb := &mapClient{name: provider.MusicBrainz, byISRC: map[string][]provider.Recording{
		"GBCEL1700123": {rec("musicbrainz", "6b9a9e04-abd7-4666-86ba-bb220ef4c3b2", 268000, "GBCEL1700123")},
	}}
	dc := &mapClient{name: provider.Discogs, search: []provider.Recording{rec("discogs", "99", 269000)}}
	c := cache.New(rdb, cache.Config{Prefix: prefix})
	e := enrich.NewEngine([]enrich.Source{{Client: sp}, {Client: mb}, {Client: dc}}, c, match.DefaultConfig(), nil)
	// "(Original Mix)" also makes a wider search key worth prefetching.
	tk := task.Task{TrackID: "t", Artist: "Bicep", Title: "Glue (Original Mix)"}

	cold, err := e.Enrich(ctx, tk)
	if err != nil || cold.Status != enrich.StatusCompleted {
		t.Fatalf("cold Enrich() = %s, %v; want completed", cold.Status, err)
	}
	calls := sp.calls + mb.calls + dc.calls

	log := &testinfra.RedisCommands{}
	rdb.AddHook(log)
	warm, err := e.Enrich(ctx, tk)
	if err != nil {
		t.Fatalf("warm Enrich() error = %v", err)
	}
	if got := sp.calls + mb.calls + dc.calls; got != calls {
		t.Errorf("provider calls after the warm run = %d, want %d (none more)", got, calls)
	}
	if diff := cmp.Diff(cold, warm); diff != "" {
		t.Errorf("warm result differs from the cold one (-cold +warm):\n%s", diff)
	}
	if got, want := log.Take(), []string{"mget", "get"}; !cmp.Equal(got, want) {
		t.Errorf("Redis commands of the warm run = %q, want %q", got, want)
	}
}
