package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/djmeta/enrichment/internal/enrich"
	"github.com/djmeta/enrichment/internal/store"
	"github.com/djmeta/enrichment/internal/task"
	"github.com/djmeta/enrichment/internal/testinfra"
)

// TestRematchSelectionAndWrites: rows are selected by matcher version and
// status; a Replace write clears what the new decision withdraws and keeps
// what no matcher writes; SetMatcherVersion records a version without
// touching updated_at.
func TestRematchSelectionAndWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testinfra.MigratedDatabase(t))
	testinfra.Must(t, err, "connect")
	t.Cleanup(pool.Close)
	st := store.New(pool)
	glue := enrich.Result{Status: enrich.StatusCompleted, Sources: []string{"spotify", "discogs"}, Confidence: 0.9,
		SpotifyID: "2aJDlirz6v2a4HREki98cP", DiscogsReleaseID: 99, Label: "Ninja Tune", MatcherVersion: 1,
		Metadata: map[string]any{"input": map[string]any{"duration_ms": 269000}}}
	var ws []store.Write
	for _, id := range []string{"v1", "v2", "nf", "failed"} {
		r := glue
		switch id {
		case "v2":
			r.MatcherVersion = 2
		case "nf":
			r = enrich.Result{Status: enrich.StatusNotFound}
		case "failed":
			r = enrich.Result{Status: enrich.StatusFailed}
		}
		ws = append(ws, store.Write{Task: task.Task{TrackID: id, Artist: "Bicep", Title: "Glue"}, Result: r, Attempts: 1})
	}
	testinfra.Must(t, st.SaveBatch(ctx, ws), "save")
	_, err = pool.Exec(ctx, `UPDATE tracks SET bpm = 126 WHERE id = 'v1'`)
	testinfra.Must(t, err, "bpm")

	for _, tt := range []struct {
		f    store.RematchFilter
		want []string
	}{
		{store.RematchFilter{MatcherOlderThan: 2}, []string{"nf", "v1"}},
		{store.RematchFilter{MatcherOlderThan: 3}, []string{"nf", "v1", "v2"}},
		{store.RematchFilter{MatcherOlderThan: 2, Statuses: []string{"failed"}}, []string{"failed"}},
		{store.RematchFilter{MatcherOlderThan: 1}, []string{"nf"}}, // no version recorded: older than any
	} {
		rows, err := st.RematchPage(ctx, tt.f, "", 10)
		testinfra.Must(t, err, "page")
		var got []string
		for _, r := range rows {
			got = append(got, r.ID)
		}
		n, err := st.RematchCount(ctx, tt.f, "")
		testinfra.Must(t, err, "count")
		if !slices.Equal(got, tt.want) || n != int64(len(tt.want)) {
			t.Errorf("filter %+v: rows %v (count %d), want %v", tt.f, got, n, tt.want)
		}
	}
	rows, err := st.RematchPage(ctx, store.RematchFilter{MatcherOlderThan: 2}, "nf", 10)
	testinfra.Must(t, err, "page")
	if len(rows) != 1 || rows[0].SpotifyID != glue.SpotifyID || rows[0].DiscogsReleaseID != 99 || rows[0].MatcherVersion != 1 ||
		rows[0].Metadata["input"].(map[string]any)["duration_ms"] != float64(269000) {
		t.Fatalf("row v1 = %+v", rows)
	}

	// The new decision withdraws Discogs: a Replace write clears it, keeps
	// the bpm, records matcher 2.
	r := glue
	r.Sources, r.DiscogsReleaseID, r.Label, r.MatcherVersion = []string{"spotify"}, 0, "", 2
	testinfra.Must(t, st.SaveBatch(ctx, []store.Write{{Task: task.Task{TrackID: "v1", Artist: "Bicep", Title: "Glue"},
		Result: r, Attempts: 1, Replace: true}}), "replace")
	var dc *int64
	var label *string
	var bpm float64
	var version int
	testinfra.Must(t, pool.QueryRow(ctx, `SELECT t.discogs_release_id, t.label, t.bpm, s.matcher_version FROM tracks t
		JOIN enrichment_status s ON s.track_id = t.id WHERE t.id = 'v1'`).Scan(&dc, &label, &bpm, &version), "read")
	if dc != nil || label != nil || bpm != 126 || version != 2 {
		t.Errorf("after the replace: discogs %v, label %v, bpm %v, matcher %d; want none, none, 126, 2", dc, label, bpm, version)
	}

	// A decision taken again unchanged: only the version is recorded.
	var before time.Time
	testinfra.Must(t, pool.QueryRow(ctx, `SELECT updated_at FROM enrichment_status WHERE track_id = 'nf'`).Scan(&before), "read")
	testinfra.Must(t, st.SetMatcherVersion(ctx, []string{"nf"}, 2), "set version")
	var after time.Time
	testinfra.Must(t, pool.QueryRow(ctx, `SELECT updated_at, matcher_version FROM enrichment_status WHERE track_id = 'nf'`).
		Scan(&after, &version), "read")
	if version != 2 || !after.Equal(before) {
		t.Errorf("after SetMatcherVersion: matcher %d, updated_at %s (was %s); want 2, unchanged", version, after, before)
	}
}
