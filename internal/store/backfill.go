package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// BackfillFilter selects the tracks that need enrichment. A track is
// selected when it meets any of the enabled criteria (they are OR-ed).
type BackfillFilter struct {
	// Missing selects tracks that have no enrichment_status row (never
	// enriched).
	Missing bool
	// Partial selects tracks whose status is partial.
	Partial bool
	// NotFoundBefore, when not zero, selects not_found tracks whose status
	// row was last written before it.
	NotFoundBefore time.Time
	// EnrichedBefore, when not zero, selects tracks whose
	// enrichment_timestamp is before it (enriched long ago).
	EnrichedBefore time.Time
}

// ErrEmptyFilter is returned for a BackfillFilter that selects nothing.
var ErrEmptyFilter = errors.New("backfill filter selects nothing: enable at least one criterion")

// Empty reports whether f enables no criterion.
func (f BackfillFilter) Empty() bool {
	return !f.Missing && !f.Partial && f.NotFoundBefore.IsZero() && f.EnrichedBefore.IsZero()
}

// where renders the filter as a SQL condition on tracks t LEFT JOIN
// enrichment_status s, numbering its parameters from first.
func (f BackfillFilter) where(first int) (string, []any) {
	var conds []string
	var args []any
	param := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(first+len(args)-1)
	}
	if f.Missing {
		conds = append(conds, "s.track_id IS NULL")
	}
	if f.Partial {
		conds = append(conds, "s.status = 'partial'")
	}
	if !f.NotFoundBefore.IsZero() {
		conds = append(conds, "(s.status = 'not_found' AND s.updated_at < "+param(f.NotFoundBefore)+")")
	}
	if !f.EnrichedBefore.IsZero() {
		conds = append(conds, "t.enrichment_timestamp < "+param(f.EnrichedBefore))
	}
	return "(" + strings.Join(conds, " OR ") + ")", args
}

// BackfillTrack is a track selected for backfill, with the ids already known
// for it (sent as hints).
type BackfillTrack struct {
	ID, Artist, Title string
	SpotifyID         string
	ISRC              string
	MusicBrainzID     string
	DiscogsReleaseID  int64
	DurationMS        int
}

// BackfillPage returns up to limit selected tracks whose id sorts after
// after (the keyset cursor; "" for the start), in tracks.id order. The order
// is the database's own collation, the one of the primary key index, so the
// cursor must come from a previous page and never be compared in Go.
func (s *Store) BackfillPage(ctx context.Context, f BackfillFilter, after string, limit int) ([]BackfillTrack, error) {
	if f.Empty() {
		return nil, ErrEmptyFilter
	}
	if limit < 1 {
		return nil, fmt.Errorf("backfill page: limit must be positive, got %d", limit)
	}
	cond, args := f.where(3)
	q := `SELECT t.id, t.artist, t.title, coalesce(t.spotify_id, ''), coalesce(t.isrc, ''),
	       coalesce(t.musicbrainz_id::text, ''), coalesce(t.discogs_release_id, 0), coalesce(t.duration_ms, 0)
	  FROM tracks t LEFT JOIN enrichment_status s ON s.track_id = t.id
	 WHERE t.id > $1 AND ` + cond + `
	 ORDER BY t.id
	 LIMIT $2`
	rows, err := s.pool.Query(ctx, q, append([]any{after, limit}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("select backfill tracks after %q: %w", after, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (BackfillTrack, error) {
		var t BackfillTrack
		err := r.Scan(&t.ID, &t.Artist, &t.Title, &t.SpotifyID, &t.ISRC, &t.MusicBrainzID, &t.DiscogsReleaseID, &t.DurationMS)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("select backfill tracks after %q: %w", after, err)
	}
	return out, nil
}

// BackfillCount counts the selected tracks whose id sorts after after.
func (s *Store) BackfillCount(ctx context.Context, f BackfillFilter, after string) (int64, error) {
	if f.Empty() {
		return 0, ErrEmptyFilter
	}
	cond, args := f.where(2)
	q := `SELECT count(*) FROM tracks t LEFT JOIN enrichment_status s ON s.track_id = t.id
	 WHERE t.id > $1 AND ` + cond
	var n int64
	if err := s.pool.QueryRow(ctx, q, append([]any{after}, args...)...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count backfill tracks: %w", err)
	}
	return n, nil
}

// PendingTrack is the oldest track that has no enrichment_status row.
type PendingTrack struct {
	ID        string
	CreatedAt time.Time
}

// OldestWithoutStatus returns the oldest track (by created_at) that was
// never enriched, and false when every track has a status row.
func (s *Store) OldestWithoutStatus(ctx context.Context) (PendingTrack, bool, error) {
	var p PendingTrack
	err := s.pool.QueryRow(ctx, `SELECT t.id, t.created_at FROM tracks t
	 WHERE NOT EXISTS (SELECT 1 FROM enrichment_status s WHERE s.track_id = t.id)
	 ORDER BY t.created_at, t.id LIMIT 1`).Scan(&p.ID, &p.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return PendingTrack{}, false, nil
	}
	if err != nil {
		return PendingTrack{}, false, fmt.Errorf("find the oldest track without status: %w", err)
	}
	return p, true, nil
}
