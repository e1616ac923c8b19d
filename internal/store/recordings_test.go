package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/djmeta/enrichment/internal/store"
	"github.com/djmeta/enrichment/internal/testinfra"
)

// recTrack is a tracks row's grouping ids ("" for NULL).
type recTrack struct{ id, isrc, spotify, mb string }

// isrc, spotify and mb make distinct valid values from a short name.
func isrc(n int) string    { return fmt.Sprintf("GBAAA%07d", n) }
func spotify(n int) string { return fmt.Sprintf("%022d", n) }
func mb(n int) string      { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

type recDB struct {
	t    *testing.T
	pool *pgxpool.Pool
	st   *store.Store
}

func newRecDB(t *testing.T) *recDB {
	t.Helper()
	pool := coveragePool(t)
	return &recDB{t: t, pool: pool, st: store.New(pool)}
}

func (d *recDB) exec(sql string, args ...any) {
	d.t.Helper()
	_, err := d.pool.Exec(context.Background(), sql, args...)
	testinfra.Must(d.t, err, sql)
}

// set writes rows (creating them), their ids as given.
func (d *recDB) set(rows ...recTrack) {
	d.t.Helper()
	null := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	for _, r := range rows {
		d.exec(`INSERT INTO tracks (id, artist, title, isrc, spotify_id, musicbrainz_id) VALUES ($1, 'A', 'T', $2, $3, $4::uuid)
		ON CONFLICT (id) DO UPDATE SET isrc = EXCLUDED.isrc, spotify_id = EXCLUDED.spotify_id, musicbrainz_id = EXCLUDED.musicbrainz_id`,
			r.id, null(r.isrc), null(r.spotify), null(r.mb))
	}
}

func (d *recDB) refresh() store.RecordingCounts {
	d.t.Helper()
	c, err := d.st.RefreshRecordingsNow(context.Background())
	testinfra.Must(d.t, err, "refresh recordings")
	return c
}

// ids is track id -> recording id.
func (d *recDB) ids() map[string]int64 {
	d.t.Helper()
	rows, err := d.pool.Query(context.Background(), `SELECT track_id, recording_id FROM track_recordings`)
	testinfra.Must(d.t, err, "read track_recordings")
	out := map[string]int64{}
	for rows.Next() {
		var id string
		var rec int64
		testinfra.Must(d.t, rows.Scan(&id, &rec), "scan")
		out[id] = rec
	}
	testinfra.Must(d.t, rows.Err(), "read track_recordings")
	return out
}

// groups is the grouping as sorted lists of track ids, sorted.
func groups(ids map[string]int64) [][]string {
	by := map[int64][]string{}
	for id, rec := range ids {
		by[rec] = append(by[rec], id)
	}
	var out [][]string
	for _, g := range by {
		slices.Sort(g)
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b []string) int { return slices.Compare(a, b) })
	return out
}

func wantGroups(t *testing.T, step string, ids map[string]int64, want ...[]string) {
	t.Helper()
	for _, g := range want {
		slices.Sort(g)
	}
	slices.SortFunc(want, func(a, b []string) int { return slices.Compare(a, b) })
	if got := groups(ids); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("%s: groups %v, want %v", step, got, want)
	}
}

func wantCounts(t *testing.T, step string, got store.RecordingCounts, rows, recs, ins, upd, del, newIDs int64) {
	t.Helper()
	g := [6]int64{got.Rows, got.Recordings, got.Inserted, got.Updated, got.Deleted, got.NewIDs}
	if w := [6]int64{rows, recs, ins, upd, del, newIDs}; g != w {
		t.Errorf("%s: counts [rows recordings inserted updated deleted new_ids] = %v, want %v", step, g, w)
	}
}

// TestRefreshRecordingsGroupsAndKeepsIDs walks one database through the
// changes a grouping must survive: transitive joins, a refresh that changes
// nothing, growth, a merge (the majority's id survives), a tie (the smaller
// id), a split (the part with most old members keeps the id), rows losing
// their ids and deleted rows.
func TestRefreshRecordingsGroupsAndKeepsIDs(t *testing.T) {
	t.Parallel()
	d := newRecDB(t)

	// A~B by ISRC, B~C by MusicBrainz id, C~D by Spotify id: one recording.
	// E alone, F without ids (not grouped), G and H by Spotify id.
	d.set(recTrack{"a", isrc(1), "", ""}, recTrack{"b", isrc(1), "", mb(1)}, recTrack{"c", "", spotify(1), mb(1)},
		recTrack{"d", "", spotify(1), ""}, recTrack{"e", isrc(2), "", ""}, recTrack{"f", "", "", ""},
		recTrack{"g", "", spotify(3), ""}, recTrack{"h", isrc(3), spotify(3), ""})
	c := d.refresh()
	wantCounts(t, "first refresh", c, 7, 3, 7, 0, 0, 3)
	first := d.ids()
	wantGroups(t, "first refresh", first, []string{"a", "b", "c", "d"}, []string{"e"}, []string{"g", "h"})
	if _, ok := first["f"]; ok {
		t.Errorf("f has no id but got recording %d", first["f"])
	}
	abcd, e, gh := first["a"], first["e"], first["g"]

	c = d.refresh()
	wantCounts(t, "unchanged refresh", c, 7, 3, 0, 0, 0, 0)
	if !maps(first, d.ids()) {
		t.Errorf("an unchanged refresh changed ids: %v -> %v", first, d.ids())
	}

	// Growth: f gets d's Spotify id; i joins e.
	d.set(recTrack{"f", "", spotify(1), ""}, recTrack{"i", isrc(2), "", ""})
	c = d.refresh()
	wantCounts(t, "growth", c, 9, 3, 2, 0, 0, 0)
	ids := d.ids()
	if ids["f"] != abcd || ids["i"] != e {
		t.Errorf("growth: f -> %d (want %d), i -> %d (want %d)", ids["f"], abcd, ids["i"], e)
	}

	// Merge: e and i (2 members) join a..f (5 members) through i's new
	// MusicBrainz id: the five keep theirs.
	d.set(recTrack{"i", isrc(2), "", mb(1)})
	c = d.refresh()
	wantCounts(t, "merge", c, 9, 2, 0, 2, 0, 0)
	ids = d.ids()
	wantGroups(t, "merge", ids, []string{"a", "b", "c", "d", "e", "f", "i"}, []string{"g", "h"})
	if ids["e"] != abcd || ids["g"] != gh {
		t.Errorf("merge: e -> %d, g -> %d; want %d (the majority's) and %d", ids["e"], ids["g"], abcd, gh)
	}

	// A tie: j, k (new) carry no id; g,h (2 members, id gh) and l,m (2
	// members, a new id, higher) merge through k: the smaller id, gh, survives.
	d.set(recTrack{"l", isrc(4), "", ""}, recTrack{"m", isrc(4), "", ""})
	d.refresh()
	lm := d.ids()["l"]
	if lm <= gh {
		t.Fatalf("new id %d not above %d", lm, gh)
	}
	d.set(recTrack{"k", isrc(3), "", mb(4)}, recTrack{"l", isrc(4), "", mb(4)})
	c = d.refresh()
	wantCounts(t, "tie", c, 12, 2, 1, 2, 0, 0)
	ids = d.ids()
	for _, id := range []string{"g", "h", "k", "l", "m"} {
		if ids[id] != gh {
			t.Errorf("tie: %s -> %d, want %d (the smaller id)", id, ids[id], gh)
		}
	}

	// Split: b loses its ISRC and i its MusicBrainz id: {a}, {b, c, d, f}
	// and {e, i}. {b, c, d, f} has the most old members: it keeps the id;
	// {e, i} and {a} get new ones.
	d.set(recTrack{"b", "", "", mb(1)}, recTrack{"i", isrc(2), "", ""})
	c = d.refresh()
	wantCounts(t, "split", c, 12, 4, 0, 3, 0, 2)
	ids = d.ids()
	wantGroups(t, "split", ids, []string{"a"}, []string{"b", "c", "d", "f"}, []string{"e", "i"}, []string{"g", "h", "k", "l", "m"})
	if ids["b"] != abcd {
		t.Errorf("split: b..f -> %d, want %d (the part with most old members)", ids["b"], abcd)
	}
	for _, id := range []string{"a", "e"} {
		if ids[id] <= lm {
			t.Errorf("split: %s -> %d, want a new id (above %d)", id, ids[id], lm)
		}
	}
	if ids["a"] == ids["e"] {
		t.Errorf("split: a and e share %d", ids["a"])
	}

	// Rows losing every id leave the table; a deleted track leaves through
	// its foreign key; the rest keep their ids.
	before := d.ids()
	d.set(recTrack{"a", "", "", ""}, recTrack{"m", "", "", ""})
	d.exec(`DELETE FROM tracks WHERE id = 'd'`)
	c = d.refresh()
	wantCounts(t, "losing ids", c, 9, 3, 0, 0, 2, 0)
	after := d.ids()
	for _, id := range []string{"a", "d", "m"} {
		if _, ok := after[id]; ok {
			t.Errorf("losing ids: %s still has recording %d", id, after[id])
		}
		delete(before, id)
	}
	if !maps(before, after) {
		t.Errorf("losing ids: the others changed: %v -> %v", before, after)
	}
	c = d.refresh()
	if c.Changed() != 0 {
		t.Errorf("a refresh after no change wrote %d rows", c.Changed())
	}
	last, ok, err := d.st.LastRecordingsRefresh(context.Background())
	testinfra.Must(t, err, "last refresh")
	if !ok || last.Rows != 9 || last.Recordings != 3 || last.Changed != 0 {
		t.Errorf("last refresh = %+v, %v; want 9 rows, 3 recordings, 0 changed", last, ok)
	}
}

func maps(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestRecordingConflicts: members that disagree on a field show each value
// with its rows; a missing value and durations within 3 s do not disagree.
func TestRecordingConflicts(t *testing.T) {
	t.Parallel()
	d := newRecDB(t)
	d.set(recTrack{"x1", isrc(1), spotify(1), ""}, recTrack{"x2", isrc(1), spotify(2), mb(1)}, recTrack{"x3", "", spotify(2), ""},
		recTrack{"y1", isrc(2), "", ""}, recTrack{"y2", isrc(2), "", ""})
	d.exec(`UPDATE tracks SET label = 'Ninja Tune', duration_ms = 300000, release_date = '2017-01-13' WHERE id = 'x1'`)
	d.exec(`UPDATE tracks SET label = 'Ninja Tune', duration_ms = 302900 WHERE id = 'x2'`)
	d.exec(`UPDATE tracks SET label = 'Ninja', duration_ms = 301000 WHERE id = 'x3'`)
	d.exec(`UPDATE tracks SET duration_ms = 200000, discogs_release_id = 1 WHERE id = 'y1'`)
	d.exec(`UPDATE tracks SET duration_ms = 204000, discogs_release_id = 1 WHERE id = 'y2'`)
	d.refresh()
	ids := d.ids()
	ctx := context.Background()
	for _, tc := range []struct {
		track string
		want  []store.RecordingConflict
	}{
		{"x1", []store.RecordingConflict{
			{Field: "label", Value: "Ninja", TrackIDs: []string{"x3"}},
			{Field: "label", Value: "Ninja Tune", TrackIDs: []string{"x1", "x2"}},
			{Field: "spotify_id", Value: spotify(1), TrackIDs: []string{"x1"}},
			{Field: "spotify_id", Value: spotify(2), TrackIDs: []string{"x2", "x3"}},
		}},
		{"y1", []store.RecordingConflict{
			{Field: "duration_ms", Value: "200000", TrackIDs: []string{"y1"}},
			{Field: "duration_ms", Value: "204000", TrackIDs: []string{"y2"}},
		}},
	} {
		got, err := d.st.RecordingConflicts(ctx, ids[tc.track])
		testinfra.Must(t, err, "conflicts")
		if !slices.EqualFunc(got, tc.want, func(a, b store.RecordingConflict) bool {
			return a.Field == b.Field && a.Value == b.Value && slices.Equal(a.TrackIDs, b.TrackIDs)
		}) {
			t.Errorf("conflicts of %s's recording:\n got %+v\nwant %+v", tc.track, got, tc.want)
		}
	}
	ms, err := d.st.RecordingMembers(ctx, ids["x1"])
	testinfra.Must(t, err, "members")
	if len(ms) != 3 || ms[0].TrackID != "x1" || ms[0].ReleaseDate != "2017-01-13" || ms[2].Label != "Ninja" {
		t.Errorf("members of x1's recording: %+v", ms)
	}
	if _, err := d.st.RecordingOf(ctx, "nope"); err == nil {
		t.Errorf("RecordingOf an unknown track: no error")
	}
}

// TestRefreshRecordingsSplitTakesTheNextOldID: when two groups compete for
// one old id, the loser takes the next most common old id of its members
// that no other group kept, rather than a new one.
func TestRefreshRecordingsSplitTakesTheNextOldID(t *testing.T) {
	t.Parallel()
	d := newRecDB(t)
	// X: x1..x3 by ISRC 1, x4..x6 by ISRC 2, joined by x3 and x4's Spotify id.
	// Y: y1 alone.
	d.set(recTrack{"x1", isrc(1), "", ""}, recTrack{"x2", isrc(1), "", ""}, recTrack{"x3", isrc(1), spotify(1), ""},
		recTrack{"x4", isrc(2), spotify(1), ""}, recTrack{"x5", isrc(2), "", ""}, recTrack{"x6", isrc(2), "", ""},
		recTrack{"y1", isrc(3), "", ""})
	d.refresh()
	ids := d.ids()
	x, y := ids["x1"], ids["y1"]
	// x3 loses the Spotify id (X splits in two halves of three) and y1 joins
	// the second half: the first half (the earlier rows) keeps X, the second
	// takes Y.
	d.set(recTrack{"x3", isrc(1), "", ""}, recTrack{"y1", isrc(2), "", mb(1)})
	c := d.refresh()
	wantCounts(t, "split", c, 7, 2, 0, 3, 0, 0)
	ids = d.ids()
	for id, want := range map[string]int64{"x1": x, "x2": x, "x3": x, "x4": y, "x5": y, "x6": y, "y1": y} {
		if ids[id] != want {
			t.Errorf("%s -> %d, want %d", id, ids[id], want)
		}
	}
}

// TestRefreshRecordingsNowWaitsForTheLock: enrichctl's refresh waits while
// a coverage refresher holds CoverageLockKey, so the two never overlap.
func TestRefreshRecordingsNowWaitsForTheLock(t *testing.T) {
	t.Parallel()
	d := newRecDB(t)
	ctx := context.Background()
	d.set(recTrack{"a", isrc(1), "", ""})
	r := store.NewCoverageRefresher(d.pool, store.CoverageRefresherConfig{Interval: time.Minute, MinAge: -1})
	locked, release := make(chan struct{}), make(chan struct{})
	store.SetWhileLocked(r, func(context.Context) {
		close(locked)
		<-release
	})
	refresherDone := make(chan store.RefreshEvent, 1)
	go func() { refresherDone <- r.RefreshOnce(ctx) }()
	<-locked
	nowDone := make(chan error, 1)
	go func() {
		_, err := d.st.RefreshRecordingsNow(ctx)
		nowDone <- err
	}()
	// RefreshRecordingsNow is waiting for the lock: Postgres shows it.
	testinfra.Eventually(t, 10*time.Second, "RefreshRecordingsNow to wait for the advisory lock", func() (bool, error) {
		var waiting int
		err := d.pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
		   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&waiting)
		return waiting == 1, err
	})
	select {
	case err := <-nowDone:
		t.Fatalf("RefreshRecordingsNow finished (%v) while the refresher held the lock", err)
	default:
	}
	close(release)
	if ev := <-refresherDone; ev.Outcome != store.Refreshed || ev.Recordings == nil || ev.Recordings.Inserted != 1 {
		t.Errorf("refresher: %q, recordings %+v (err %v, %v)", ev.Outcome, ev.Recordings, ev.Err, ev.RecordingsErr)
	}
	testinfra.Must(t, <-nowDone, "RefreshRecordingsNow")
}
