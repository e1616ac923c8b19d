// Package store writes enrichment results to Postgres (pgxpool) and runs the
// embedded schema migrations.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/djmeta/enrichment/internal/enrich"
	"github.com/djmeta/enrichment/internal/match"
	"github.com/djmeta/enrichment/internal/task"
)

// Write limits.
const (
	// LockTimeoutDefault is how long a write waits for a row lock held by
	// another session (Postgres lock_timeout) before it fails with 55P03.
	LockTimeoutDefault = 2 * time.Second
	// WriteTimeoutDefault bounds one write transaction: it is the server's
	// statement_timeout of every statement, and the client gives up one
	// second after it (a server that does not answer at all).
	WriteTimeoutDefault = 10 * time.Second
)

// Limits bound the store's writes; zero fields take the defaults.
type Limits struct {
	// Lock is the lock_timeout of a write transaction (LockTimeoutDefault).
	Lock time.Duration
	// Write is the statement_timeout of a write transaction and, plus one
	// second, the client's deadline for the whole of it, connecting
	// included (WriteTimeoutDefault).
	Write time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.Lock <= 0 {
		l.Lock = LockTimeoutDefault
	}
	if l.Write <= 0 {
		l.Write = WriteTimeoutDefault
	}
	return l
}

// Store writes tracks and their enrichment status.
type Store struct {
	pool   *pgxpool.Pool
	limits Limits
}

// Open connects a pool of at most maxConns connections (0: pgx default).
func Open(ctx context.Context, url string, maxConns int) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = int32(maxConns)
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "enrichment"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres pool: %w", err)
	}
	return &Store{pool: pool, limits: Limits{}.withDefaults()}, nil
}

// New wraps an existing pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool, limits: Limits{}.withDefaults()} }

// SetLimits sets the write limits; call it before the store is used.
func (s *Store) SetLimits(l Limits) { s.limits = l.withDefaults() }

// Limits returns the write limits in force.
func (s *Store) Limits() Limits { return s.limits }

// Pool returns the underlying pool.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes the pool.
func (s *Store) Close() { s.pool.Close() }

// Ping checks that Postgres answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping postgres: %w", err)
	}
	return nil
}

// CheckWritable checks that Postgres answers, holds this worker's tables
// and takes writes (it is not a standby): what a paused worker asks before
// it consumes again. It writes nothing.
func (s *Store) CheckWritable(ctx context.Context) error {
	var readOnly bool
	err := s.pool.QueryRow(ctx, `SELECT pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on'
		WHERE NOT EXISTS (SELECT 1 FROM tracks LIMIT 0) AND NOT EXISTS (SELECT 1 FROM enrichment_status LIMIT 0)`).Scan(&readOnly)
	if err != nil {
		return fmt.Errorf("check postgres: %w", err)
	}
	if readOnly {
		return errors.New("check postgres: the server is read-only (a standby?)")
	}
	return nil
}

// upsertTrack inserts the track or updates it; a known value is never
// replaced by an unknown one, but for the id of a provider an override
// rejects ($17: its name), which is cleared; an update that changes nothing
// writes nothing (so a duplicate delivery leaves the row exactly as it was).
const upsertTrack = `
INSERT INTO tracks AS t (id, artist, title, spotify_id, isrc, musicbrainz_id, discogs_release_id,
    duration_ms, release_date, label, genres, bpm, musical_key, camelot_key, metadata, enrichment_source_api)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, COALESCE($15, '{}'::jsonb), $16)
ON CONFLICT (id) DO UPDATE SET
    artist                = EXCLUDED.artist,
    title                 = EXCLUDED.title,
    spotify_id            = CASE WHEN 'spotify' = ANY($17::text[]) THEN NULL ELSE COALESCE(EXCLUDED.spotify_id, t.spotify_id) END,
    isrc                  = COALESCE(EXCLUDED.isrc, t.isrc),
    musicbrainz_id        = CASE WHEN 'musicbrainz' = ANY($17::text[]) THEN NULL ELSE COALESCE(EXCLUDED.musicbrainz_id, t.musicbrainz_id) END,
    discogs_release_id    = CASE WHEN 'discogs' = ANY($17::text[]) THEN NULL ELSE COALESCE(EXCLUDED.discogs_release_id, t.discogs_release_id) END,
    duration_ms           = COALESCE(EXCLUDED.duration_ms, t.duration_ms),
    release_date          = COALESCE(EXCLUDED.release_date, t.release_date),
    label                 = COALESCE(EXCLUDED.label, t.label),
    genres                = COALESCE(EXCLUDED.genres, t.genres),
    bpm                   = COALESCE(EXCLUDED.bpm, t.bpm),
    musical_key           = COALESCE(EXCLUDED.musical_key, t.musical_key),
    camelot_key           = COALESCE(EXCLUDED.camelot_key, t.camelot_key),
    metadata              = CASE WHEN $15::jsonb IS NULL THEN t.metadata ELSE EXCLUDED.metadata END,
    enrichment_source_api = COALESCE(EXCLUDED.enrichment_source_api, t.enrichment_source_api)
WHERE (t.artist, t.title, t.spotify_id, t.isrc, t.musicbrainz_id, t.discogs_release_id, t.duration_ms,
       t.release_date, t.label, t.genres, t.bpm, t.musical_key, t.camelot_key, t.metadata, t.enrichment_source_api)
  IS DISTINCT FROM
      (EXCLUDED.artist, EXCLUDED.title,
       CASE WHEN 'spotify' = ANY($17::text[]) THEN NULL ELSE COALESCE(EXCLUDED.spotify_id, t.spotify_id) END, COALESCE(EXCLUDED.isrc, t.isrc),
       CASE WHEN 'musicbrainz' = ANY($17::text[]) THEN NULL ELSE COALESCE(EXCLUDED.musicbrainz_id, t.musicbrainz_id) END, CASE WHEN 'discogs' = ANY($17::text[]) THEN NULL ELSE COALESCE(EXCLUDED.discogs_release_id, t.discogs_release_id) END,
       COALESCE(EXCLUDED.duration_ms, t.duration_ms), COALESCE(EXCLUDED.release_date, t.release_date),
       COALESCE(EXCLUDED.label, t.label), COALESCE(EXCLUDED.genres, t.genres), COALESCE(EXCLUDED.bpm, t.bpm),
       COALESCE(EXCLUDED.musical_key, t.musical_key), COALESCE(EXCLUDED.camelot_key, t.camelot_key),
       CASE WHEN $15::jsonb IS NULL THEN t.metadata ELSE EXCLUDED.metadata END,
       COALESCE(EXCLUDED.enrichment_source_api, t.enrichment_source_api))`

// upsertStatus records how the enrichment ended; an identical row is not
// rewritten.
const upsertStatus = `
INSERT INTO enrichment_status AS s (track_id, status, sources, confidence, attempts, last_error, matcher_version, needs_review, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, EXISTS (SELECT 1 FROM match_reviews m WHERE m.track_id = $1), now())
ON CONFLICT (track_id) DO UPDATE SET
    status          = EXCLUDED.status,
    sources         = EXCLUDED.sources,
    confidence      = EXCLUDED.confidence,
    attempts        = EXCLUDED.attempts,
    last_error      = EXCLUDED.last_error,
    matcher_version = EXCLUDED.matcher_version,
    needs_review    = EXCLUDED.needs_review,
    updated_at      = now()
WHERE (s.status, s.sources, s.confidence, s.attempts, s.last_error, s.matcher_version, s.needs_review)
  IS DISTINCT FROM (EXCLUDED.status, EXCLUDED.sources, EXCLUDED.confidence, EXCLUDED.attempts, EXCLUDED.last_error,
                    EXCLUDED.matcher_version, EXCLUDED.needs_review)`

// saveReviews replaces the open close calls of the providers a result
// decided ($2) with its own ($3: a JSON array of {provider, reason, detail,
// candidates}); an identical review is not rewritten. It runs before
// upsertStatus, which sets enrichment_status.needs_review from what is left.
const saveReviews = `
WITH incoming AS (
    SELECT r->>'provider' AS provider, r->>'reason' AS reason, COALESCE(r->>'detail', '') AS detail,
           r->'candidates' AS candidates
    FROM jsonb_array_elements(COALESCE($3::jsonb, '[]'::jsonb)) AS r
), gone AS (
    DELETE FROM match_reviews m
    WHERE m.track_id = $1 AND m.provider = ANY($2::text[])
      AND m.provider NOT IN (SELECT provider FROM incoming)
    RETURNING m.provider
), saved AS (
    INSERT INTO match_reviews AS m (track_id, provider, reason, detail, candidates, matcher_version)
    SELECT $1, provider, reason, detail, candidates, $4 FROM incoming
    ON CONFLICT (track_id, provider) DO UPDATE SET
        reason = EXCLUDED.reason, detail = EXCLUDED.detail, candidates = EXCLUDED.candidates,
        matcher_version = EXCLUDED.matcher_version, updated_at = now()
    WHERE (m.reason, m.detail, m.candidates, m.matcher_version)
          IS DISTINCT FROM (EXCLUDED.reason, EXCLUDED.detail, EXCLUDED.candidates, EXCLUDED.matcher_version)
    RETURNING m.provider
)
SELECT (SELECT count(*) FROM gone) + (SELECT count(*) FROM saved)`

// Save writes the track and its status in one transaction. attempts is the
// number of the delivery attempt that produced r (1 for the first).
func (s *Store) Save(ctx context.Context, t task.Task, r enrich.Result, attempts int) error {
	return s.SaveBatch(ctx, []Write{{Task: t, Result: r, Attempts: attempts}})
}

// Write is one task's result for SaveBatch.
type Write struct {
	Task     task.Task
	Result   enrich.Result
	Attempts int
	// LastError is stored in enrichment_status.last_error (failed tasks).
	LastError string
	// Replace writes a decision taken again (enrichctl rematch) over the
	// stored one: the columns the matcher decides take the result's values,
	// unknown ones included (an id the new decision withdraws is cleared),
	// where an ordinary write never replaces a known value by an unknown one.
	// The track row must exist.
	Replace bool
}

// setLimits is the first statement of every write transaction.
const setLimits = `SELECT set_config('lock_timeout', $1, true), set_config('statement_timeout', $2, true)`

// SaveBatch writes every task's track and status row in one transaction:
// either all are committed or none. The transaction runs under the store's
// Limits: a row lock not granted within Limits.Lock fails it (55P03), and
// no statement, nor the whole, takes longer than Limits.Write. When the
// failing write is known (its values were refused, or its row lock was not
// granted), the error is a *WriteError naming it.
func (s *Store) SaveBatch(ctx context.Context, ws []Write) error {
	if len(ws) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	b.Queue(setLimits, strconv.FormatInt(s.limits.Lock.Milliseconds(), 10), strconv.FormatInt(s.limits.Write.Milliseconds(), 10))
	owner := []int{-1} // the write each statement belongs to
	for i, w := range ws {
		if err := queue(b, w); err != nil {
			return &WriteError{Index: i, Err: err}
		}
		for len(owner) < b.Len() {
			owner = append(owner, i)
		}
	}
	wctx, cancel := context.WithTimeoutCause(ctx, s.limits.Write+time.Second, ErrWriteTimeout)
	defer cancel()
	failed := -1
	err := pgx.BeginFunc(wctx, s.pool, func(tx pgx.Tx) error {
		br := tx.SendBatch(wctx, b)
		for i := range b.Len() {
			if _, err := br.Exec(); err != nil {
				failed = owner[i]
				_ = br.Close()
				return err
			}
		}
		return br.Close()
	})
	if err == nil {
		return nil
	}
	if ctx.Err() == nil && errors.Is(context.Cause(wctx), ErrWriteTimeout) {
		return fmt.Errorf("save %d results: %w after %s: %w", len(ws), ErrWriteTimeout, s.limits.Write+time.Second, err)
	}
	var pgErr *pgconn.PgError
	if failed >= 0 && errors.As(err, &pgErr) && !Unavailable(err) {
		return &WriteError{Index: failed, Err: fmt.Errorf("save %s: %w", ws[failed].Task.TrackID, err)}
	}
	return fmt.Errorf("save %d results: %w", len(ws), err)
}

func queue(b *pgx.Batch, w Write) error {
	r := w.Result
	switch r.Status {
	case enrich.StatusCompleted, enrich.StatusPartial, enrich.StatusNotFound, enrich.StatusFailed:
	default:
		return fmt.Errorf("save %s: unknown status %q", w.Task.TrackID, r.Status)
	}
	if r.Confidence < 0 || r.Confidence > 1 {
		return fmt.Errorf("save %s: confidence %v outside [0, 1]", w.Task.TrackID, r.Confidence)
	}
	var meta []byte
	if len(r.Metadata) > 0 {
		var err error
		if meta, err = json.Marshal(r.Metadata); err != nil {
			return fmt.Errorf("save %s: encode metadata: %w", w.Task.TrackID, err)
		}
	}
	var releaseDate pgtype.Date
	if !r.ReleaseDate.IsZero() {
		releaseDate = pgtype.Date{Time: r.ReleaseDate.UTC().Truncate(24 * time.Hour), Valid: true}
	}
	var genres []string
	if len(r.Genres) > 0 {
		genres = r.Genres
	}
	sources := r.Sources
	if sources == nil {
		sources = []string{}
	}
	if w.Replace {
		b.Queue(replaceTrack, w.Task.TrackID, nullStr(r.SpotifyID), nullStr(r.ISRC), nullStr(r.MusicBrainzID),
			nullInt64(r.DiscogsReleaseID), nullInt(r.DurationMS), releaseDate, nullStr(r.Label), genres, meta, nullStr(r.SourceAPI))
	} else {
		b.Queue(upsertTrack, w.Task.TrackID, w.Task.Artist, w.Task.Title,
			nullStr(r.SpotifyID), nullStr(r.ISRC), nullStr(r.MusicBrainzID), nullInt64(r.DiscogsReleaseID),
			nullInt(r.DurationMS), releaseDate, nullStr(r.Label), genres, nullFloat(r.BPM),
			nullStr(r.MusicalKey), nullStr(r.CamelotKey), meta, nullStr(r.SourceAPI), withdrawn(r))
	}
	if len(r.Decided) > 0 || len(r.Reviews) > 0 {
		reviews, err := reviewsJSON(r.Reviews)
		if err != nil {
			return fmt.Errorf("save %s: %w", w.Task.TrackID, err)
		}
		b.Queue(saveReviews, w.Task.TrackID, r.Decided, reviews, nullInt(r.MatcherVersion))
	}
	b.Queue(upsertStatus, w.Task.TrackID, string(r.Status), sources, r.Confidence, w.Attempts, nullStr(w.LastError), nullInt(r.MatcherVersion))
	return nil
}

// withdrawn are the providers whose id an override rejects ($17 of
// upsertTrack); never nil, so the parameter is a text[].
func withdrawn(r enrich.Result) []string {
	if r.Withdrawn == nil {
		return []string{}
	}
	return r.Withdrawn
}

// reviewRecord is a close call as match_reviews stores it.
type reviewRecord struct {
	Provider   string                  `json:"provider"`
	Reason     string                  `json:"reason"`
	Detail     string                  `json:"detail"`
	Candidates []match.ReviewCandidate `json:"candidates"`
}

func reviewsJSON(rs []enrich.Review) ([]byte, error) {
	out := make([]reviewRecord, 0, len(rs))
	for _, r := range rs {
		out = append(out, reviewRecord{Provider: r.Provider, Reason: r.Reason, Detail: r.Detail, Candidates: r.Candidates})
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode close calls: %w", err)
	}
	return b, nil
}

func nullStr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func nullInt(v int) *int {
	if v == 0 {
		return nil
	}
	return &v
}

func nullInt64(v int64) *int64 {
	if v == 0 {
		return nil
	}
	return &v
}

func nullFloat(v float64) *float64 {
	if v == 0 {
		return nil
	}
	return &v
}

// ErrNotFound is returned when a track does not exist.
var ErrNotFound = errors.New("not found")

// StatusRow is one enrichment_status row.
type StatusRow struct {
	TrackID    string
	Status     string
	Sources    []string
	Confidence float64
	Attempts   int
	LastError  string
	UpdatedAt  time.Time
}

// Status reads one track's status row.
func (s *Store) Status(ctx context.Context, trackID string) (StatusRow, error) {
	var r StatusRow
	var lastErr *string
	var conf pgtype.Numeric
	err := s.pool.QueryRow(ctx, `SELECT track_id, status, sources, confidence, attempts, last_error, updated_at
		FROM enrichment_status WHERE track_id = $1`, trackID).
		Scan(&r.TrackID, &r.Status, &r.Sources, &conf, &r.Attempts, &lastErr, &r.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return StatusRow{}, ErrNotFound
	}
	if err != nil {
		return StatusRow{}, fmt.Errorf("read status of %s: %w", trackID, err)
	}
	if f, err := conf.Float64Value(); err == nil && f.Valid {
		r.Confidence = f.Float64
	}
	if lastErr != nil {
		r.LastError = *lastErr
	}
	return r, nil
}
