package migrate_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/djmeta/enrichment/internal/migrate"
	"github.com/djmeta/enrichment/internal/testinfra"
)

// objects lists what the schema owns in public (tables, views, functions,
// triggers, indexes), to check that every down removes what its up added.
func objects(t *testing.T, dbURL string) map[string]bool {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	testinfra.Must(t, err, "connect")
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `
		SELECT 'rel:' || relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		 WHERE n.nspname = 'public' AND relname NOT LIKE 'goose_db_version%'
		UNION ALL SELECT 'fn:' || proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		 WHERE n.nspname = 'public'
		UNION ALL SELECT 'trg:' || tgname FROM pg_trigger WHERE NOT tgisinternal`)
	testinfra.Must(t, err, "list objects")
	out := map[string]bool{}
	for rows.Next() {
		var s string
		testinfra.Must(t, rows.Scan(&s), "scan")
		out[s] = true
	}
	return out
}

func TestMigrateUpDownUp(t *testing.T) {
	t.Parallel()
	dbURL := testinfra.Database(t)
	ctx := context.Background()
	m, err := migrate.New(dbURL)
	testinfra.Must(t, err, "migrator")
	defer m.Close()
	empty := objects(t, dbURL)

	applied, err := m.Up(ctx)
	testinfra.Must(t, err, "up")
	if len(applied) < 3 {
		t.Fatalf("up applied %v, want at least 3 migrations", applied)
	}
	full := objects(t, dbURL)
	for _, want := range []string{"rel:tracks", "rel:enrichment_status", "rel:enrichment_coverage_stats",
		"rel:enrichment_coverage_stats_id_idx", "fn:tracks_touch", "trg:tracks_touch",
		"rel:track_recordings", "rel:track_recordings_recording_id_idx", "rel:track_recordings_refresh",
		"rel:recording_id_seq", "rel:recording_conflicts", "rel:match_reviews", "rel:match_overrides",
		"rel:enrichment_status_needs_review_idx"} {
		if !full[want] {
			t.Errorf("after up, %s is missing", want)
		}
	}
	// Down one at a time: each step removes something, the last leaves the
	// schema as it was before any up.
	for i := len(applied); i > 0; i-- {
		before := len(objects(t, dbURL))
		_, err := m.Down(ctx, -1)
		testinfra.Must(t, err, "down")
		if after := len(objects(t, dbURL)); after >= before {
			t.Errorf("down step %d removed nothing (%d -> %d objects)", i, before, after)
		}
	}
	if got := objects(t, dbURL); len(got) != len(empty) {
		t.Errorf("after all downs the schema has %d objects, want %d: %v", len(got), len(empty), got)
	}
	if v, err := m.Version(ctx); err != nil || v != 0 {
		t.Errorf("version after down = %d, %v; want 0", v, err)
	}
	_, err = m.Up(ctx)
	testinfra.Must(t, err, "up again")
	if got := objects(t, dbURL); len(got) != len(full) {
		t.Errorf("up after down: %d objects, want %d", len(got), len(full))
	}
}

func TestTriggerAndCoverageView(t *testing.T) {
	t.Parallel()
	dbURL := testinfra.MigratedDatabase(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	testinfra.Must(t, err, "connect")
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `INSERT INTO tracks (id, artist, title) VALUES ('a', 'Bicep', 'Glue')`)
	testinfra.Must(t, err, "insert")
	var ts *string
	testinfra.Must(t, conn.QueryRow(ctx, `SELECT enrichment_timestamp::text FROM tracks WHERE id='a'`).Scan(&ts), "read")
	if ts != nil {
		t.Errorf("enrichment_timestamp = %v for a row with no enrichment, want NULL", *ts)
	}
	_, err = conn.Exec(ctx, `UPDATE tracks SET isrc = 'GBCEL1700123' WHERE id='a'`)
	testinfra.Must(t, err, "update")
	testinfra.Must(t, conn.QueryRow(ctx, `SELECT enrichment_timestamp::text FROM tracks WHERE id='a'`).Scan(&ts), "read")
	if ts == nil {
		t.Errorf("enrichment_timestamp not set when isrc changed")
	}
	_, err = conn.Exec(ctx, `INSERT INTO enrichment_status (track_id, status, sources, confidence) VALUES ('a', 'completed', '{musicbrainz}', 0.9)`)
	testinfra.Must(t, err, "insert status")
	if _, err := conn.Exec(ctx, `INSERT INTO enrichment_status (track_id, status) VALUES ('a2', 'done')`); err == nil {
		t.Errorf("status 'done' accepted, want the CHECK (and FK) to refuse it")
	}
	_, err = conn.Exec(ctx, `REFRESH MATERIALIZED VIEW CONCURRENTLY enrichment_coverage_stats`)
	testinfra.Must(t, err, "refresh concurrently")
	var total, withISRC int
	var pct float64
	testinfra.Must(t, conn.QueryRow(ctx, `SELECT total_tracks, with_isrc, pct_matched_musicbrainz FROM enrichment_coverage_stats`).
		Scan(&total, &withISRC, &pct), "read coverage")
	if total != 1 || withISRC != 1 || pct != 100 {
		t.Errorf("coverage = total %d, with_isrc %d, pct_matched_musicbrainz %v; want 1, 1, 100", total, withISRC, pct)
	}
}
