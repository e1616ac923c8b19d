package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// RematchFilter selects the rows enrichctl rematch decides again: those
// decided by a matcher older than MatcherOlderThan (a NULL version counts as
// older than any), with one of Statuses (all but failed when empty).
type RematchFilter struct {
	MatcherOlderThan int
	Statuses         []string
}

// DefaultRematchStatuses are the statuses rematch selects by default: the
// rows that record a decision (a failed task recorded none).
var DefaultRematchStatuses = []string{"completed", "partial", "not_found"}

func (f RematchFilter) where(first int) (string, []any) {
	statuses := f.Statuses
	if len(statuses) == 0 {
		statuses = DefaultRematchStatuses
	}
	return "coalesce(s.matcher_version, 0) < $" + strconv.Itoa(first) + " AND s.status = ANY($" + strconv.Itoa(first+1) + ")",
		[]any{f.MatcherOlderThan, statuses}
}

// RematchRow is a stored row with what rematch needs: the line as scraped,
// the task's hints (metadata.input) and the decision it records.
type RematchRow struct {
	ID, Artist, Title string
	SpotifyID         string
	ISRC              string
	MusicBrainzID     string
	DiscogsReleaseID  int64
	DurationMS        int
	ReleaseDate       time.Time // zero when unknown
	Label             string
	Genres            []string
	SourceAPI         string
	Status            string
	Sources           []string
	Attempts          int
	LastError         string
	MatcherVersion    int // 0: none recorded
	// Metadata is tracks.metadata as stored.
	Metadata map[string]any
}

// RematchPage returns up to limit selected rows whose id sorts after after
// (the keyset cursor; "" for the start), in tracks.id order.
func (s *Store) RematchPage(ctx context.Context, f RematchFilter, after string, limit int) ([]RematchRow, error) {
	if limit < 1 {
		return nil, fmt.Errorf("rematch page: limit must be positive, got %d", limit)
	}
	cond, args := f.where(3)
	return s.rematchRows(ctx, `t.id > $1 AND `+cond+` ORDER BY t.id LIMIT $2`, append([]any{after, limit}, args...)...)
}

// rematchRows reads the rows that cond (a WHERE clause and what follows,
// on tracks t and enrichment_status s) selects.
func (s *Store) rematchRows(ctx context.Context, cond string, args ...any) ([]RematchRow, error) {
	q := `SELECT t.id, t.artist, t.title, coalesce(t.spotify_id, ''), coalesce(t.isrc, ''),
	       coalesce(t.musicbrainz_id::text, ''), coalesce(t.discogs_release_id, 0), coalesce(t.duration_ms, 0),
	       t.release_date, coalesce(t.label, ''), coalesce(t.genres, '{}'), coalesce(t.enrichment_source_api, ''), t.metadata,
	       s.status, s.sources, s.attempts, coalesce(s.last_error, ''), coalesce(s.matcher_version, 0)
	  FROM tracks t JOIN enrichment_status s ON s.track_id = t.id
	 WHERE ` + cond
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("select rematch rows: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (RematchRow, error) {
		var x RematchRow
		var date pgtype.Date
		var meta []byte
		err := r.Scan(&x.ID, &x.Artist, &x.Title, &x.SpotifyID, &x.ISRC, &x.MusicBrainzID, &x.DiscogsReleaseID, &x.DurationMS,
			&date, &x.Label, &x.Genres, &x.SourceAPI, &meta, &x.Status, &x.Sources, &x.Attempts, &x.LastError, &x.MatcherVersion)
		if err != nil {
			return x, err
		}
		if date.Valid {
			x.ReleaseDate = date.Time
		}
		if len(meta) > 0 {
			if err := json.Unmarshal(meta, &x.Metadata); err != nil {
				return x, fmt.Errorf("metadata of %s: %w", x.ID, err)
			}
		}
		return x, nil
	})
	if err != nil {
		return nil, fmt.Errorf("select rematch rows: %w", err)
	}
	return out, nil
}

// RematchCount counts the selected rows whose id sorts after after.
func (s *Store) RematchCount(ctx context.Context, f RematchFilter, after string) (int64, error) {
	cond, args := f.where(2)
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM tracks t JOIN enrichment_status s ON s.track_id = t.id
	 WHERE t.id > $1 AND `+cond, append([]any{after}, args...)...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count rematch rows: %w", err)
	}
	return n, nil
}

// SetMatcherVersion records that matcher version v took again, unchanged,
// the decisions of tracks ids: only enrichment_status.matcher_version is
// written (updated_at keeps the time the decision was written).
func (s *Store) SetMatcherVersion(ctx context.Context, ids []string, v int) error {
	if len(ids) == 0 {
		return nil
	}
	if v < 1 {
		return errors.New("set matcher version: want a version of 1 or more")
	}
	wctx, cancel := context.WithTimeout(ctx, s.limits.Write)
	defer cancel()
	_, err := s.pool.Exec(wctx, `UPDATE enrichment_status SET matcher_version = $2
	 WHERE track_id = ANY($1) AND matcher_version IS DISTINCT FROM $2`, ids, v)
	if err != nil {
		return fmt.Errorf("set matcher version of %d rows: %w", len(ids), err)
	}
	return nil
}

// replaceTrack writes a decision taken again (Write.Replace): the columns the
// matcher decides take the new values, unknown ones included, so that an id
// the new decision withdraws is cleared; bpm and the keys, which no matcher
// writes, are kept. An unchanged row is not written.
const replaceTrack = `
UPDATE tracks AS t SET
    spotify_id = $2, isrc = $3, musicbrainz_id = $4::uuid, discogs_release_id = $5::bigint, duration_ms = $6::integer,
    release_date = $7::date, label = $8, genres = $9::text[], metadata = COALESCE($10::jsonb, '{}'::jsonb),
    enrichment_source_api = $11
WHERE t.id = $1
  AND (t.spotify_id, t.isrc, t.musicbrainz_id, t.discogs_release_id, t.duration_ms, t.release_date, t.label, t.genres,
       t.metadata, t.enrichment_source_api)
  IS DISTINCT FROM ($2::text, $3::text, $4::uuid, $5::bigint, $6::integer, $7::date, $8::text, $9::text[],
       COALESCE($10::jsonb, '{}'::jsonb), $11::text)`
