package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// CoverageLockKey is the Postgres advisory lock key (one bigint) that
// serialises refreshes of enrichment_coverage_stats and of track_recordings
// across the fleet and enrichctl. Nothing else in the schema uses advisory
// locks.
const CoverageLockKey int64 = 0x656e_7269_6368_0001

// CoverageRefreshIntervalDefault is how often each worker's refresher
// tries to refresh enrichment_coverage_stats.
const CoverageRefreshIntervalDefault = 5 * time.Minute

// minAttemptTimeout is the shortest bound on one refresher attempt.
const minAttemptTimeout = time.Minute

const refreshCoverage = `REFRESH MATERIALIZED VIEW CONCURRENTLY enrichment_coverage_stats`

// Coverage is the one row of the materialized view enrichment_coverage_stats.
// Percentages are of total_tracks and nil when there are no tracks.
type Coverage struct {
	TotalTracks          int64     `json:"total_tracks"`
	WithStatus           int64     `json:"with_status"`
	Completed            int64     `json:"completed"`
	Partial              int64     `json:"partial"`
	NotFound             int64     `json:"not_found"`
	Failed               int64     `json:"failed"`
	MatchedSpotify       int64     `json:"matched_spotify"`
	MatchedMusicBrainz   int64     `json:"matched_musicbrainz"`
	MatchedDiscogs       int64     `json:"matched_discogs"`
	WithSpotifyID        int64     `json:"with_spotify_id"`
	WithISRC             int64     `json:"with_isrc"`
	WithMusicBrainzID    int64     `json:"with_musicbrainz_id"`
	WithDiscogsReleaseID int64     `json:"with_discogs_release_id"`
	WithLabel            int64     `json:"with_label"`
	WithReleaseDate      int64     `json:"with_release_date"`
	WithGenres           int64     `json:"with_genres"`
	WithDuration         int64     `json:"with_duration"`
	NeverEnriched        int64     `json:"never_enriched"`
	Stale90d             int64     `json:"stale_90d"`
	AvgConfidence        *float64  `json:"avg_confidence"`
	PctWithStatus        *float64  `json:"pct_with_status"`
	PctMatchedSpotify    *float64  `json:"pct_matched_spotify"`
	PctMatchedMB         *float64  `json:"pct_matched_musicbrainz"`
	PctMatchedDiscogs    *float64  `json:"pct_matched_discogs"`
	PctSpotifyID         *float64  `json:"pct_spotify_id"`
	PctISRC              *float64  `json:"pct_isrc"`
	PctMusicBrainzID     *float64  `json:"pct_musicbrainz_id"`
	PctDiscogsReleaseID  *float64  `json:"pct_discogs_release_id"`
	PctLabel             *float64  `json:"pct_label"`
	PctReleaseDate       *float64  `json:"pct_release_date"`
	PctGenres            *float64  `json:"pct_genres"`
	PctDuration          *float64  `json:"pct_duration"`
	RefreshedAt          time.Time `json:"refreshed_at"`
}

// Coverage reads enrichment_coverage_stats as last refreshed.
func (s *Store) Coverage(ctx context.Context) (Coverage, error) {
	var c Coverage
	err := s.pool.QueryRow(ctx, `SELECT total_tracks, with_status, completed, partial, not_found, failed,
	       matched_spotify, matched_musicbrainz, matched_discogs,
	       with_spotify_id, with_isrc, with_musicbrainz_id, with_discogs_release_id,
	       with_label, with_release_date, with_genres, with_duration, never_enriched, stale_90d,
	       avg_confidence::float8, pct_with_status::float8, pct_matched_spotify::float8,
	       pct_matched_musicbrainz::float8, pct_matched_discogs::float8, pct_spotify_id::float8,
	       pct_isrc::float8, pct_musicbrainz_id::float8, pct_discogs_release_id::float8,
	       pct_label::float8, pct_release_date::float8, pct_genres::float8, pct_duration::float8,
	       refreshed_at
	  FROM enrichment_coverage_stats`).Scan(
		&c.TotalTracks, &c.WithStatus, &c.Completed, &c.Partial, &c.NotFound, &c.Failed,
		&c.MatchedSpotify, &c.MatchedMusicBrainz, &c.MatchedDiscogs,
		&c.WithSpotifyID, &c.WithISRC, &c.WithMusicBrainzID, &c.WithDiscogsReleaseID,
		&c.WithLabel, &c.WithReleaseDate, &c.WithGenres, &c.WithDuration, &c.NeverEnriched, &c.Stale90d,
		&c.AvgConfidence, &c.PctWithStatus, &c.PctMatchedSpotify,
		&c.PctMatchedMB, &c.PctMatchedDiscogs, &c.PctSpotifyID,
		&c.PctISRC, &c.PctMusicBrainzID, &c.PctDiscogsReleaseID,
		&c.PctLabel, &c.PctReleaseDate, &c.PctGenres, &c.PctDuration,
		&c.RefreshedAt)
	if err != nil {
		return Coverage{}, fmt.Errorf("read enrichment_coverage_stats: %w", err)
	}
	return c, nil
}

// RefreshCoverage refreshes enrichment_coverage_stats now. It waits for a
// refresh in progress elsewhere (a worker's CoverageRefresher holding
// CoverageLockKey) to finish first, so two refreshes never overlap.
func (s *Store) RefreshCoverage(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, CoverageLockKey); err != nil {
			return fmt.Errorf("take the coverage lock: %w", err)
		}
		_, err := tx.Exec(ctx, refreshCoverage)
		return err
	})
	if err != nil {
		return fmt.Errorf("refresh enrichment_coverage_stats: %w", err)
	}
	return nil
}

// StatusCounts counts enrichment_status rows per status. Every status of
// the contract is present in the map, zero when no row has it.
func (s *Store) StatusCounts(ctx context.Context) (map[string]int64, error) {
	out := map[string]int64{"completed": 0, "partial": 0, "not_found": 0, "failed": 0}
	rows, err := s.pool.Query(ctx, `SELECT status, count(*) FROM enrichment_status GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("count statuses: %w", err)
	}
	var st string
	var n int64
	if _, err := pgx.ForEachRow(rows, []any{&st, &n}, func() error {
		out[st] = n
		return nil
	}); err != nil {
		return nil, fmt.Errorf("count statuses: %w", err)
	}
	return out, nil
}

// RefreshOutcome is what one CoverageRefresher attempt did.
type RefreshOutcome string

// Refresh outcomes.
const (
	// Refreshed: this refresher held the lock and refreshed the view, or
	// track_recordings, or both (RefreshEvent says which).
	Refreshed RefreshOutcome = "refreshed"
	// SkippedLocked: another refresher (or enrichctl status) held the lock.
	SkippedLocked RefreshOutcome = "skipped_locked"
	// SkippedFresh: the view and track_recordings were refreshed less than
	// MinAge ago, by anyone.
	SkippedFresh RefreshOutcome = "skipped_fresh"
	// RefreshFailed: the attempt failed; Err says why. The next interval
	// tries again.
	RefreshFailed RefreshOutcome = "failed"
)

// RefreshEvent reports one refresh attempt.
type RefreshEvent struct {
	Outcome RefreshOutcome
	// Started and Finished bracket the attempt. For Refreshed they are taken
	// while the lock is held, so two Refreshed events never overlap.
	Started, Finished time.Time
	Err               error
	// CoverageRefreshed: the attempt refreshed enrichment_coverage_stats
	// (false when the view was fresh and only track_recordings was stale).
	CoverageRefreshed bool
	// Recordings is what the attempt's refresh of track_recordings did (see
	// RefreshRecordings); nil when it was fresh, or failed.
	Recordings *RecordingCounts
	// RecordingsErr: the refresh of track_recordings failed. It is rolled
	// back on its own (a savepoint): the view's refresh stands, and the
	// next attempt tries again.
	RecordingsErr error
}

// CoverageRefresherConfig configures a CoverageRefresher. The zero value
// is usable.
type CoverageRefresherConfig struct {
	// Interval is how often this refresher tries; CoverageRefreshIntervalDefault
	// (5m) when zero. The first attempt is made when Run starts. Each attempt is
	// bounded by Interval, or one minute if that is longer.
	Interval time.Duration
	// MinAge skips an attempt when the view was refreshed (by any refresher
	// or by enrichctl status) less than MinAge ago, so a fleet of N workers
	// refreshes about once per Interval rather than N times. Zero means 9/10
	// of Interval; a negative value never skips for freshness.
	MinAge time.Duration
	// OnResult, when set, is called after every attempt (for logs, metrics
	// and tests). It runs on the refresher's goroutine and should not block.
	OnResult func(RefreshEvent)
}

// CoverageRefresher refreshes enrichment_coverage_stats, then
// track_recordings (RefreshRecordings), periodically, at most one refresh at
// a time across every process sharing the database: each attempt takes the
// transaction-scoped advisory lock CoverageLockKey with
// pg_try_advisory_xact_lock and skips when another holds it. Each of the two
// is refreshed when it is older than MinAge; a failure of track_recordings
// leaves the view's refresh standing (RefreshEvent.RecordingsErr).
type CoverageRefresher struct {
	pool *pgxpool.Pool
	cfg  CoverageRefresherConfig
	// whileLocked, when set (tests), runs while the lock is held, just
	// before the refresh.
	whileLocked func(context.Context)
}

// NewCoverageRefresher returns a refresher on pool; zero config fields take
// their defaults.
func NewCoverageRefresher(pool *pgxpool.Pool, cfg CoverageRefresherConfig) *CoverageRefresher {
	if cfg.Interval == 0 {
		cfg.Interval = CoverageRefreshIntervalDefault
	}
	if cfg.MinAge == 0 {
		cfg.MinAge = cfg.Interval * 9 / 10
	}
	return &CoverageRefresher{pool: pool, cfg: cfg}
}

// Run makes an attempt at once and then every Interval until ctx is done,
// when it returns nil. A failed attempt is reported through OnResult and
// does not stop the loop. It returns an error only for a negative Interval.
func (r *CoverageRefresher) Run(ctx context.Context) error {
	if r.cfg.Interval < 0 {
		return fmt.Errorf("coverage refresher: negative interval %s", r.cfg.Interval)
	}
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		ev := r.RefreshOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if r.cfg.OnResult != nil {
			r.cfg.OnResult(ev)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// RefreshOnce makes one attempt and reports it.
func (r *CoverageRefresher) RefreshOnce(ctx context.Context) RefreshEvent {
	ctx, cancel := context.WithTimeout(ctx, max(r.cfg.Interval, minAttemptTimeout))
	defer cancel()
	ev := RefreshEvent{Started: time.Now()}
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		var locked bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, CoverageLockKey).Scan(&locked); err != nil {
			return fmt.Errorf("try the coverage lock: %w", err)
		}
		if !locked {
			ev.Outcome = SkippedLocked
			return nil
		}
		var coverageFresh, recordingsFresh bool
		if r.cfg.MinAge > 0 {
			err := tx.QueryRow(ctx, `SELECT refreshed_at > now() - make_interval(secs => $1)
			  FROM enrichment_coverage_stats`, r.cfg.MinAge.Seconds()).Scan(&coverageFresh)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("read refreshed_at: %w", err)
			}
			// track_recordings has its own freshness: enrichctl status
			// refreshes the view alone.
			recordingsFresh, ev.RecordingsErr = inSavepoint(ctx, tx, func(tx pgx.Tx) (bool, error) {
				var fresh bool
				err := tx.QueryRow(ctx, `SELECT refreshed_at > now() - make_interval(secs => $1)
				  FROM track_recordings_refresh`, r.cfg.MinAge.Seconds()).Scan(&fresh)
				if err != nil && !errors.Is(err, pgx.ErrNoRows) {
					return false, fmt.Errorf("read track_recordings_refresh: %w", err)
				}
				return fresh, nil
			})
			if coverageFresh && recordingsFresh {
				ev.Outcome = SkippedFresh
				return nil
			}
		}
		ev.Started = time.Now()
		if r.whileLocked != nil {
			r.whileLocked(ctx)
		}
		if !coverageFresh {
			if _, err := tx.Exec(ctx, refreshCoverage); err != nil {
				return fmt.Errorf("refresh enrichment_coverage_stats: %w", err)
			}
			ev.CoverageRefreshed = true
		}
		if !recordingsFresh && ev.RecordingsErr == nil {
			c, err := inSavepoint(ctx, tx, func(tx pgx.Tx) (RecordingCounts, error) { return RefreshRecordings(ctx, tx) })
			if err != nil {
				ev.RecordingsErr = err
			} else {
				ev.Recordings = &c
			}
		}
		ev.Outcome = Refreshed
		ev.Finished = time.Now()
		return nil
	})
	if ev.Finished.IsZero() {
		ev.Finished = time.Now()
	}
	if err != nil {
		ev.Outcome, ev.Err = RefreshFailed, err
	}
	return ev
}

// inSavepoint runs f in a savepoint of tx: an error of f rolls back only
// what f did, and tx stays usable.
func inSavepoint[T any](ctx context.Context, tx pgx.Tx, f func(pgx.Tx) (T, error)) (T, error) {
	var zero T
	sp, err := tx.Begin(ctx)
	if err != nil {
		return zero, fmt.Errorf("savepoint: %w", err)
	}
	v, err := f(sp)
	if err != nil {
		if rerr := sp.Rollback(ctx); rerr != nil {
			return zero, errors.Join(err, fmt.Errorf("roll back to the savepoint: %w", rerr))
		}
		return zero, err
	}
	if err := sp.Commit(ctx); err != nil {
		return zero, fmt.Errorf("release the savepoint: %w", err)
	}
	return v, nil
}
