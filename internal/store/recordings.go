package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// RecordingCounts is what one refresh of track_recordings did.
type RecordingCounts struct {
	// Rows is the tracks rows grouped: those with an isrc, spotify_id or
	// musicbrainz_id. Recordings is the groups (distinct recording ids).
	Rows       int64 `json:"rows"`
	Recordings int64 `json:"recordings"`
	// Inserted rows had no recording id, Updated ones had another, Deleted
	// ones lost every id (deleted tracks leave through the foreign key).
	Inserted int64 `json:"inserted"`
	Updated  int64 `json:"updated"`
	Deleted  int64 `json:"deleted"`
	// NewIDs is the recording ids handed out (new recordings, and the parts
	// of a split that did not keep the old id).
	NewIDs   int64         `json:"new_ids"`
	Duration time.Duration `json:"-"`
}

// Changed is the track_recordings rows the refresh wrote.
func (c RecordingCounts) Changed() int64 { return c.Inserted + c.Updated + c.Deleted }

// recordingRowsTable numbers, once per refresh, the rows to group (in
// tracks.id order), so that Go holds only numbers: the rows' ids and values
// stay in Postgres, and the new assignments are written back by number.
const recordingRowsTable = `CREATE TEMP TABLE recording_rows ON COMMIT DROP AS
SELECT (row_number() OVER (ORDER BY t.id) - 1)::integer AS i, t.id, t.isrc, t.spotify_id, t.musicbrainz_id,
       coalesce(tr.recording_id, 0) AS old
  FROM tracks t
  LEFT JOIN track_recordings tr ON tr.track_id = t.id
 WHERE t.isrc IS NOT NULL OR t.spotify_id IS NOT NULL OR t.musicbrainz_id IS NOT NULL`

// recordingEdges gives, for each numbered row, its recording id and, per
// id kind, the first row holding the same value (-1: no value). Joining
// each row to that first row joins, transitively, every row sharing a value.
const recordingEdges = `SELECT i, old,
       CASE WHEN isrc IS NULL THEN -1 ELSE min(i) OVER (PARTITION BY isrc) END,
       CASE WHEN spotify_id IS NULL THEN -1 ELSE min(i) OVER (PARTITION BY spotify_id) END,
       CASE WHEN musicbrainz_id IS NULL THEN -1 ELSE min(i) OVER (PARTITION BY musicbrainz_id) END
  FROM recording_rows
 ORDER BY i`

// writeRecordings writes new assignments by row number; a track deleted
// since it was read is skipped.
const writeRecordings = `INSERT INTO track_recordings (track_id, recording_id)
SELECT r.id, u.recording_id
  FROM unnest($1::integer[], $2::bigint[]) AS u (i, recording_id)
  JOIN recording_rows r ON r.i = u.i
  JOIN tracks t ON t.id = r.id
ON CONFLICT (track_id) DO UPDATE SET recording_id = EXCLUDED.recording_id, assigned_at = now()
 WHERE track_recordings.recording_id IS DISTINCT FROM EXCLUDED.recording_id`

// deleteUngrouped removes the rows of tracks that no longer have any id.
const deleteUngrouped = `DELETE FROM track_recordings tr
 WHERE NOT EXISTS (SELECT 1 FROM tracks t WHERE t.id = tr.track_id
                      AND (t.isrc IS NOT NULL OR t.spotify_id IS NOT NULL OR t.musicbrainz_id IS NOT NULL))`

// recordingWriteChunk bounds the assignments sent in one statement.
const recordingWriteChunk = 50_000

// RefreshRecordings brings track_recordings up to date in tx: tracks rows
// joined, transitively, by a shared isrc, spotify_id or musicbrainz_id are
// one recording and carry one recording id; rows with none of the three
// carry none. Ids are stable: a group keeps the old id most of its members
// carry (ties: the smaller id), so a group that grew, or two groups that
// merged, keep the majority's id; when groups compete for one old id (a
// split), the group with the most members carrying it keeps it, and the
// others take their next most common old id not kept elsewhere, or a new id
// from recording_id_seq. Only differences are written. It also records the
// refresh in track_recordings_refresh.
//
// Callers serialise refreshes with the advisory lock CoverageLockKey (the
// CoverageRefresher and RefreshRecordingsNow do). Memory: 35-50 bytes per
// grouped row (numbers only); a million rows took 6 s when nothing changed
// (docs/curation.md).
func RefreshRecordings(ctx context.Context, tx pgx.Tx) (RecordingCounts, error) {
	start := time.Now()
	var c RecordingCounts
	if _, err := tx.Exec(ctx, `DROP TABLE IF EXISTS pg_temp.recording_rows`); err != nil {
		return c, fmt.Errorf("refresh recordings: %w", err)
	}
	if _, err := tx.Exec(ctx, recordingRowsTable); err != nil {
		return c, fmt.Errorf("refresh recordings: number the rows: %w", err)
	}
	// Temporary tables are never analyzed by autovacuum: the planner needs
	// the row count to join the assignments written back by row number.
	if _, err := tx.Exec(ctx, `ANALYZE recording_rows`); err != nil {
		return c, fmt.Errorf("refresh recordings: %w", err)
	}
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM recording_rows`).Scan(&n); err != nil {
		return c, fmt.Errorf("refresh recordings: count the rows: %w", err)
	}
	g, err := readRecordingGraph(ctx, tx, n)
	if err != nil {
		return c, err
	}
	comp, ncomp := g.components()
	assigned := g.keepOldIDs(comp, ncomp)

	var fresh []int32 // components without an id, in order of first row
	for k, id := range assigned {
		if id == 0 {
			fresh = append(fresh, int32(k))
		}
	}
	if len(fresh) > 0 {
		rows, err := tx.Query(ctx, `SELECT nextval('recording_id_seq') FROM generate_series(1, $1)`, len(fresh))
		if err != nil {
			return c, fmt.Errorf("refresh recordings: new ids: %w", err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return c, fmt.Errorf("refresh recordings: new ids: %w", err)
		}
		slices.Sort(ids)
		for j, k := range fresh {
			assigned[k] = ids[j]
		}
	}

	var idx []int32
	var rec []int64
	flush := func() error {
		if len(idx) == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, writeRecordings, idx, rec); err != nil {
			return fmt.Errorf("refresh recordings: write %d assignments: %w", len(idx), err)
		}
		idx, rec = idx[:0], rec[:0]
		return nil
	}
	for i, old := range g.old {
		want := assigned[comp[i]]
		if old == want {
			continue
		}
		if old == 0 {
			c.Inserted++
		} else {
			c.Updated++
		}
		idx, rec = append(idx, int32(i)), append(rec, want)
		if len(idx) == recordingWriteChunk {
			if err := flush(); err != nil {
				return c, err
			}
		}
	}
	if err := flush(); err != nil {
		return c, err
	}
	tag, err := tx.Exec(ctx, deleteUngrouped)
	if err != nil {
		return c, fmt.Errorf("refresh recordings: delete rows without ids: %w", err)
	}
	c.Deleted = tag.RowsAffected()
	c.Rows, c.Recordings, c.NewIDs = int64(len(g.old)), int64(ncomp), int64(len(fresh))
	c.Duration = time.Since(start)
	_, err = tx.Exec(ctx, `INSERT INTO track_recordings_refresh (id, refreshed_at, rows_grouped, recordings, changed, duration_ms)
	VALUES (true, now(), $1, $2, $3, $4)
	ON CONFLICT (id) DO UPDATE SET refreshed_at = EXCLUDED.refreshed_at, rows_grouped = EXCLUDED.rows_grouped,
	    recordings = EXCLUDED.recordings, changed = EXCLUDED.changed, duration_ms = EXCLUDED.duration_ms`,
		c.Rows, c.Recordings, c.Changed(), c.Duration.Milliseconds())
	if err != nil {
		return c, fmt.Errorf("refresh recordings: record the refresh: %w", err)
	}
	return c, nil
}

// recordingGraph is the numbered rows: their old recording ids (0: none)
// and a union-find forest over them.
type recordingGraph struct {
	old    []int64
	parent []int32
	size   []int32
}

func readRecordingGraph(ctx context.Context, tx pgx.Tx, n int) (*recordingGraph, error) {
	g := &recordingGraph{old: make([]int64, 0, n), parent: make([]int32, 0, n), size: make([]int32, 0, n)}
	rows, err := tx.Query(ctx, recordingEdges)
	if err != nil {
		return nil, fmt.Errorf("refresh recordings: read the rows: %w", err)
	}
	var i, isrc, spotify, mb int32
	var old int64
	_, err = pgx.ForEachRow(rows, []any{&i, &old, &isrc, &spotify, &mb}, func() error {
		if int(i) != len(g.old) {
			return fmt.Errorf("row number %d out of order (want %d)", i, len(g.old))
		}
		g.old = append(g.old, old)
		g.parent = append(g.parent, i)
		g.size = append(g.size, 1)
		for _, j := range [...]int32{isrc, spotify, mb} {
			if j >= 0 && j != i {
				g.union(i, j)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("refresh recordings: read the rows: %w", err)
	}
	return g, nil
}

func (g *recordingGraph) find(i int32) int32 {
	for g.parent[i] != i {
		g.parent[i] = g.parent[g.parent[i]] // path halving
		i = g.parent[i]
	}
	return i
}

func (g *recordingGraph) union(a, b int32) {
	a, b = g.find(a), g.find(b)
	if a == b {
		return
	}
	if g.size[a] < g.size[b] {
		a, b = b, a
	}
	g.parent[b] = a
	g.size[a] += g.size[b]
}

// components numbers the groups in order of their first row and returns
// each row's group (reusing the forest's memory) and the number of groups.
func (g *recordingGraph) components() ([]int32, int) {
	num := g.size // reused: root -> group number, -1 until seen
	for i := range num {
		num[i] = -1
	}
	n := 0
	for i := range g.parent {
		r := g.find(int32(i))
		g.parent[i] = r // every row points at its root from here on
		if num[r] < 0 {
			num[r] = int32(n)
			n++
		}
	}
	comp := g.parent // reused: row -> group number
	for i, r := range comp {
		comp[i] = num[r]
	}
	g.parent, g.size = nil, nil
	return comp, n
}

// keepOldIDs gives each group an old recording id of its members where
// one can be kept: candidates (group, old id, members carrying it) are
// taken greedily, most members first, then the smaller id, then the
// earlier group; a group takes its first candidate whose id no other group
// took. Groups left without one get 0 (a new id).
func (g *recordingGraph) keepOldIDs(comp []int32, ncomp int) []int64 {
	type member struct {
		comp int32
		id   int64
	}
	nold := 0
	for _, old := range g.old {
		if old != 0 {
			nold++
		}
	}
	ms := make([]member, 0, nold)
	for i, old := range g.old {
		if old != 0 {
			ms = append(ms, member{comp[i], old})
		}
	}
	slices.SortFunc(ms, func(a, b member) int {
		return cmp.Or(cmp.Compare(a.comp, b.comp), cmp.Compare(a.id, b.id))
	})
	type candidate struct {
		comp  int32
		count int32
		id    int64
	}
	var cands []candidate
	for j := 0; j < len(ms); {
		k := j
		for k < len(ms) && ms[k] == ms[j] {
			k++
		}
		cands = append(cands, candidate{ms[j].comp, int32(k - j), ms[j].id})
		j = k
	}
	ms = nil
	slices.SortFunc(cands, func(a, b candidate) int {
		return cmp.Or(cmp.Compare(b.count, a.count), cmp.Compare(a.id, b.id), cmp.Compare(a.comp, b.comp))
	})
	assigned := make([]int64, ncomp)
	taken := make(map[int64]struct{}, len(cands))
	for _, c := range cands {
		if assigned[c.comp] != 0 {
			continue
		}
		if _, ok := taken[c.id]; ok {
			continue
		}
		assigned[c.comp] = c.id
		taken[c.id] = struct{}{}
	}
	return assigned
}

// RefreshRecordingsNow refreshes track_recordings now, waiting for a
// refresh in progress elsewhere (a worker's CoverageRefresher holds
// CoverageLockKey while it refreshes) to finish first.
func (s *Store) RefreshRecordingsNow(ctx context.Context) (RecordingCounts, error) {
	var c RecordingCounts
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, CoverageLockKey); err != nil {
			return fmt.Errorf("take the coverage lock: %w", err)
		}
		var err error
		c, err = RefreshRecordings(ctx, tx)
		return err
	})
	if err != nil {
		return RecordingCounts{}, err
	}
	return c, nil
}

// RecordingsRefresh is the last completed refresh of track_recordings.
type RecordingsRefresh struct {
	RefreshedAt time.Time `json:"refreshed_at"`
	Rows        int64     `json:"rows_grouped"`
	Recordings  int64     `json:"recordings"`
	Changed     int64     `json:"changed"`
	DurationMS  int64     `json:"duration_ms"`
}

// LastRecordingsRefresh reads the last completed refresh; ok is false when
// none has completed.
func (s *Store) LastRecordingsRefresh(ctx context.Context) (r RecordingsRefresh, ok bool, err error) {
	err = s.pool.QueryRow(ctx, `SELECT refreshed_at, rows_grouped, recordings, changed, duration_ms
	  FROM track_recordings_refresh`).Scan(&r.RefreshedAt, &r.Rows, &r.Recordings, &r.Changed, &r.DurationMS)
	if errors.Is(err, pgx.ErrNoRows) {
		return RecordingsRefresh{}, false, nil
	}
	if err != nil {
		return RecordingsRefresh{}, false, fmt.Errorf("read track_recordings_refresh: %w", err)
	}
	return r, true, nil
}

// ErrUnknownTrack is returned for a track id that has no tracks row.
var ErrUnknownTrack = errors.New("no such track")

// TrackRecording is where one track stands in the grouping.
type TrackRecording struct {
	TrackID string
	// HasIDs: the row has an isrc, spotify_id or musicbrainz_id now.
	HasIDs bool
	// RecordingID is its recording id as last refreshed; 0: none.
	RecordingID int64
}

// RecordingOf reads track id's recording id; ErrUnknownTrack when there
// is no such row.
func (s *Store) RecordingOf(ctx context.Context, id string) (TrackRecording, error) {
	tr := TrackRecording{TrackID: id}
	var rec *int64
	err := s.pool.QueryRow(ctx, `SELECT t.isrc IS NOT NULL OR t.spotify_id IS NOT NULL OR t.musicbrainz_id IS NOT NULL,
	       tr.recording_id
	  FROM tracks t LEFT JOIN track_recordings tr ON tr.track_id = t.id
	 WHERE t.id = $1`, id).Scan(&tr.HasIDs, &rec)
	if errors.Is(err, pgx.ErrNoRows) {
		return tr, fmt.Errorf("%w: %q", ErrUnknownTrack, id)
	}
	if err != nil {
		return tr, fmt.Errorf("read the recording of %q: %w", id, err)
	}
	if rec != nil {
		tr.RecordingID = *rec
	}
	return tr, nil
}

// RecordingMember is one tracks row of a recording, as stored.
type RecordingMember struct {
	TrackID          string    `json:"track_id"`
	Artist           string    `json:"artist"`
	Title            string    `json:"title"`
	ISRC             string    `json:"isrc,omitempty"`
	SpotifyID        string    `json:"spotify_id,omitempty"`
	MusicBrainzID    string    `json:"musicbrainz_id,omitempty"`
	DiscogsReleaseID int64     `json:"discogs_release_id,omitempty"`
	DurationMS       int       `json:"duration_ms,omitempty"`
	Label            string    `json:"label,omitempty"`
	ReleaseDate      string    `json:"release_date,omitempty"` // YYYY-MM-DD
	AssignedAt       time.Time `json:"assigned_at"`
}

// RecordingMembers lists the rows of recording rec, by track id.
func (s *Store) RecordingMembers(ctx context.Context, rec int64) ([]RecordingMember, error) {
	rows, err := s.pool.Query(ctx, `SELECT t.id, t.artist, t.title, coalesce(t.isrc, ''), coalesce(t.spotify_id, ''),
	       coalesce(t.musicbrainz_id::text, ''), coalesce(t.discogs_release_id, 0), coalesce(t.duration_ms, 0),
	       coalesce(t.label, ''), t.release_date, tr.assigned_at
	  FROM track_recordings tr JOIN tracks t ON t.id = tr.track_id
	 WHERE tr.recording_id = $1
	 ORDER BY t.id`, rec)
	if err != nil {
		return nil, fmt.Errorf("read the members of recording %d: %w", rec, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (RecordingMember, error) {
		var m RecordingMember
		var date pgtype.Date
		err := r.Scan(&m.TrackID, &m.Artist, &m.Title, &m.ISRC, &m.SpotifyID, &m.MusicBrainzID, &m.DiscogsReleaseID,
			&m.DurationMS, &m.Label, &date, &m.AssignedAt)
		if date.Valid {
			m.ReleaseDate = date.Time.Format(time.DateOnly)
		}
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("read the members of recording %d: %w", rec, err)
	}
	return out, nil
}

// RecordingConflict is one value of a field on which a recording's members
// disagree (the view recording_conflicts).
type RecordingConflict struct {
	Field    string   `json:"field"`
	Value    string   `json:"value"`
	TrackIDs []string `json:"track_ids"`
}

// RecordingConflicts lists the disagreeing fields of recording rec, by
// field and value.
func (s *Store) RecordingConflicts(ctx context.Context, rec int64) ([]RecordingConflict, error) {
	rows, err := s.pool.Query(ctx, `SELECT field, value, track_ids FROM recording_conflicts
	 WHERE recording_id = $1 ORDER BY field, value`, rec)
	if err != nil {
		return nil, fmt.Errorf("read the conflicts of recording %d: %w", rec, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[RecordingConflict])
	if err != nil {
		return nil, fmt.Errorf("read the conflicts of recording %d: %w", rec, err)
	}
	return out, nil
}
