package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/djmeta/enrichment/internal/enrich"
	"github.com/djmeta/enrichment/internal/match"
	"github.com/djmeta/enrichment/internal/provider"
	"github.com/djmeta/enrichment/internal/store"
	"github.com/djmeta/enrichment/internal/task"
	"github.com/djmeta/enrichment/internal/testinfra"
)

// TestReviewsFollowDecisions: a result's close calls replace the open ones
// of the providers it decided and leave the others; needs_review follows;
// an override closes the track's close call for its provider; a rejected
// provider's id is cleared by an ordinary write.
func TestReviewsFollowDecisions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := store.New(coveragePool(t))
	tk := task.Task{TrackID: "t1", Artist: "Bicep", Title: "Glue"}
	cc := func(p, reason string) enrich.Review {
		return enrich.Review{Provider: p, CloseCall: match.CloseCall{Reason: reason, Detail: "d",
			Candidates: []match.ReviewCandidate{{Recording: provider.Recording{Provider: p, ID: "x"}, Why: "w"}}}}
	}
	type state struct {
		providers   map[string]string
		needsReview bool
		spotifyID   string
	}
	read := func() state {
		t.Helper()
		s := state{providers: map[string]string{}}
		rows, err := st.Reviews(ctx, store.ReviewFilter{TrackID: "t1"})
		testinfra.Must(t, err, "reviews")
		for _, r := range rows {
			s.providers[r.Provider] = r.Reason
		}
		testinfra.Must(t, st.Pool().QueryRow(ctx, `SELECT s.needs_review, coalesce(t.spotify_id, '') FROM enrichment_status s
			JOIN tracks t ON t.id = s.track_id WHERE s.track_id = 't1'`).Scan(&s.needsReview, &s.spotifyID), "status")
		return s
	}
	const spID = "p6zIP050DJsdSYjOtGiqqm"
	steps := []struct {
		name   string
		result enrich.Result
		want   state
	}{
		{"two close calls", enrich.Result{Status: enrich.StatusCompleted, Sources: []string{"spotify"}, SpotifyID: spID,
			Decided: []string{"spotify", "musicbrainz", "discogs"}, Reviews: []enrich.Review{cc("musicbrainz", "margin"), cc("discogs", "threshold")}},
			state{map[string]string{"musicbrainz": "margin", "discogs": "threshold"}, true, spID}},
		{"musicbrainz decided again, discogs not asked", enrich.Result{Status: enrich.StatusPartial, Sources: []string{"spotify"},
			Decided: []string{"spotify", "musicbrainz"}},
			state{map[string]string{"discogs": "threshold"}, true, spID}},
		{"discogs decided, no close call left; spotify rejected", enrich.Result{Status: enrich.StatusNotFound,
			Decided: []string{"spotify", "musicbrainz", "discogs"}, Withdrawn: []string{"spotify"}},
			state{map[string]string{}, false, ""}},
		{"a failed write leaves reviews alone", enrich.Result{Status: enrich.StatusFailed},
			state{map[string]string{}, false, ""}},
	}
	for _, s := range steps {
		testinfra.Must(t, st.Save(ctx, tk, s.result, 1), s.name)
		got := read()
		if len(got.providers) != len(s.want.providers) || got.needsReview != s.want.needsReview || got.spotifyID != s.want.spotifyID {
			t.Fatalf("%s: got %+v, want %+v", s.name, got, s.want)
		}
		for p, r := range s.want.providers {
			if got.providers[p] != r {
				t.Errorf("%s: %s review = %q, want %q", s.name, p, got.providers[p], r)
			}
		}
	}

	// An override closes the close call of its provider.
	testinfra.Must(t, st.Save(ctx, tk, enrich.Result{Status: enrich.StatusNotFound, Decided: []string{"musicbrainz"},
		Reviews: []enrich.Review{cc("musicbrainz", "margin")}}, 1), "close call")
	rec := provider.Recording{Provider: "musicbrainz", ID: "92c3feb8-ca02-4b5b-8e05-503640f3167b", Title: "Glue", Artists: []string{"Bicep"}}
	testinfra.Must(t, st.SaveOverrides(ctx, []store.OverrideRecord{
		{Scope: enrich.ScopeTrack, Key: "t1", Provider: "musicbrainz", Action: enrich.OverrideAccept, ProviderID: rec.ID, Recording: &rec, DecidedBy: "alice"},
		{Scope: enrich.ScopeName, Key: match.NameKey("Bicep", "Glue"), Provider: "musicbrainz", Action: enrich.OverrideReject, DecidedBy: "bob"},
		{Scope: enrich.ScopeName, Key: match.NameKey("Bicep", "Glue"), Provider: "discogs", Action: enrich.OverrideReject, DecidedBy: "bob"},
	}), "save overrides")
	if got := read(); len(got.providers) != 0 || got.needsReview {
		t.Errorf("after the override: %+v, want no open review", got)
	}
	ovs, err := st.Overrides(ctx, "t1", match.NameKey("BICEP", "glue"))
	testinfra.Must(t, err, "overrides")
	if got := ovs["musicbrainz"]; got.Action != enrich.OverrideAccept || got.Scope != enrich.ScopeTrack || got.Recording.ID != rec.ID || got.By != "alice" {
		t.Errorf("musicbrainz override = %+v, want the track's accept (it wins over the name's reject)", got)
	}
	if got := ovs["discogs"]; got.Action != enrich.OverrideReject || got.Scope != enrich.ScopeName {
		t.Errorf("discogs override = %+v, want the name's reject", got)
	}
	long := strings.Repeat("é", store.MaxOverrideKeyLen/2)
	testinfra.Must(t, st.SaveOverrides(ctx, []store.OverrideRecord{
		{Scope: enrich.ScopeName, Key: long, Provider: "spotify", Action: enrich.OverrideReject, DecidedBy: "bob"},
	}), "save an override under the longest key")
	if ovs, err := st.Overrides(ctx, "none", long); err != nil || ovs["spotify"].Action != enrich.OverrideReject {
		t.Errorf("override under the longest key = %v, %v; want the reject", ovs, err)
	}
	if ovs, err := st.Overrides(ctx, "t2", "other - key [original]"); err != nil || len(ovs) != 0 {
		t.Errorf("overrides of an unrelated track = %v, %v; want none", ovs, err)
	}
}

func TestOverrideRecordValidate(t *testing.T) {
	t.Parallel()
	rec := &provider.Recording{Provider: "spotify", ID: "p6zIP050DJsdSYjOtGiqqm"}
	ok := store.OverrideRecord{Scope: "track", Key: "t1", Provider: "spotify", Action: "accept", ProviderID: rec.ID, Recording: rec, DecidedBy: "a"}
	tests := []struct {
		name   string
		mutate func(*store.OverrideRecord)
		valid  bool
	}{
		{"valid accept", func(*store.OverrideRecord) {}, true},
		{"valid reject", func(o *store.OverrideRecord) { o.Action, o.ProviderID, o.Recording = "reject", "", nil }, true},
		{"bad scope", func(o *store.OverrideRecord) { o.Scope = "global" }, false},
		{"bad provider", func(o *store.OverrideRecord) { o.Provider = "deezer" }, false},
		{"accept without recording", func(o *store.OverrideRecord) { o.Recording = nil }, false},
		{"recording of another id", func(o *store.OverrideRecord) { o.ProviderID = "other" }, false},
		{"reject with an id", func(o *store.OverrideRecord) { o.Action = "reject" }, false},
		{"no author", func(o *store.OverrideRecord) { o.DecidedBy = "" }, false},
		{"empty key", func(o *store.OverrideRecord) { o.Key = "" }, false},
		{"longest key", func(o *store.OverrideRecord) { o.Key = strings.Repeat("é", store.MaxOverrideKeyLen/2) }, true},
		{"key a byte too long", func(o *store.OverrideRecord) { o.Key = strings.Repeat("a", store.MaxOverrideKeyLen+1) }, false},
	}
	for _, tt := range tests {
		o := ok
		tt.mutate(&o)
		if err := o.Validate(); (err == nil) != tt.valid {
			t.Errorf("%s: Validate() = %v, want valid %v", tt.name, err, tt.valid)
		}
	}
}
