package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/djmeta/enrichment/internal/enrich"
	"github.com/djmeta/enrichment/internal/match"
	"github.com/djmeta/enrichment/internal/provider"
)

// MaxOverrideKeyLen is the longest override key in bytes (a name key of
// longer names is not stored; the key is part of the primary key's index).
const MaxOverrideKeyLen = 1024

// OverrideRecord is one match_overrides row (docs/curation.md), as
// enrichctl review writes, exports and imports it.
type OverrideRecord struct {
	Scope    string `json:"scope"` // enrich.ScopeTrack or enrich.ScopeName
	Key      string `json:"key"`   // the track id, or match.NameKey of its artist and title
	Provider string `json:"provider"`
	Action   string `json:"action"` // enrich.OverrideAccept or enrich.OverrideReject
	// ProviderID and Recording are the accepted recording (accept only).
	ProviderID string              `json:"provider_id,omitempty"`
	Recording  *provider.Recording `json:"recording,omitempty"`
	// TrackID is the track the decision was taken on.
	TrackID   string    `json:"track_id,omitempty"`
	DecidedBy string    `json:"decided_by"`
	DecidedAt time.Time `json:"decided_at"`
	Note      string    `json:"note,omitempty"`
}

// Validate checks a record before it is written (an import reads them from
// a file).
func (o OverrideRecord) Validate() error {
	switch o.Scope {
	case enrich.ScopeTrack, enrich.ScopeName:
	default:
		return fmt.Errorf("scope %q is not track or name", o.Scope)
	}
	if o.Key == "" || len(o.Key) > MaxOverrideKeyLen {
		return fmt.Errorf("key must be 1 to %d bytes, got %d", MaxOverrideKeyLen, len(o.Key))
	}
	if !validProvider(o.Provider) {
		return fmt.Errorf("provider %q is not spotify, musicbrainz or discogs", o.Provider)
	}
	switch o.Action {
	case enrich.OverrideAccept:
		if o.Recording == nil || o.ProviderID == "" {
			return errors.New("an accept needs provider_id and recording")
		}
		if o.Recording.ID != o.ProviderID {
			return fmt.Errorf("recording id %q differs from provider_id %q", o.Recording.ID, o.ProviderID)
		}
		if o.Recording.Provider != o.Provider {
			return fmt.Errorf("recording of provider %q under provider %q", o.Recording.Provider, o.Provider)
		}
	case enrich.OverrideReject:
		if o.Recording != nil || o.ProviderID != "" {
			return errors.New("a reject has no provider_id nor recording")
		}
	default:
		return fmt.Errorf("action %q is not accept or reject", o.Action)
	}
	if o.DecidedBy == "" || len(o.DecidedBy) > 256 {
		return fmt.Errorf("decided_by must be 1 to 256 bytes, got %d", len(o.DecidedBy))
	}
	return nil
}

func validProvider(p string) bool {
	switch p {
	case enrich.ProviderSpotify, enrich.ProviderMusicBrainz, enrich.ProviderDiscogs:
		return true
	}
	return false
}

const overrideColumns = `scope, key, provider, action, coalesce(provider_id, ''), recording, coalesce(track_id, ''),
       decided_by, decided_at, note`

func scanOverride(r pgx.CollectableRow) (OverrideRecord, error) {
	var o OverrideRecord
	var rec []byte
	if err := r.Scan(&o.Scope, &o.Key, &o.Provider, &o.Action, &o.ProviderID, &rec, &o.TrackID,
		&o.DecidedBy, &o.DecidedAt, &o.Note); err != nil {
		return o, err
	}
	if len(rec) > 0 {
		o.Recording = &provider.Recording{}
		if err := json.Unmarshal(rec, o.Recording); err != nil {
			return o, fmt.Errorf("override %s %s %s: recording: %w", o.Scope, o.Key, o.Provider, err)
		}
	}
	return o, nil
}

// Overrides implements enrich.OverrideSource: the overrides of the track id
// and of its name key, by provider, the track's own winning.
func (s *Store) Overrides(ctx context.Context, trackID, nameKey string) (map[string]enrich.Override, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+overrideColumns+` FROM match_overrides
	 WHERE (scope = 'track' AND key = $1) OR (scope = 'name' AND key = $2 AND $2 <> '')`, trackID, nameKey)
	if err != nil {
		return nil, fmt.Errorf("read overrides: %w", err)
	}
	recs, err := pgx.CollectRows(rows, scanOverride)
	if err != nil {
		return nil, fmt.Errorf("read overrides: %w", err)
	}
	if len(recs) == 0 {
		return nil, nil
	}
	out := make(map[string]enrich.Override, len(recs))
	for _, o := range recs {
		if cur, ok := out[o.Provider]; ok && cur.Scope == enrich.ScopeTrack {
			continue
		}
		ov := enrich.Override{Provider: o.Provider, Action: o.Action, Scope: o.Scope, By: o.DecidedBy, At: o.DecidedAt}
		if o.Recording != nil {
			ov.Recording = *o.Recording
		}
		out[o.Provider] = ov
	}
	return out, nil
}

// OverridesOf returns the overrides of a track id and of its name key.
func (s *Store) OverridesOf(ctx context.Context, trackID, nameKey string) ([]OverrideRecord, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+overrideColumns+` FROM match_overrides
	 WHERE (scope = 'track' AND key = $1) OR (scope = 'name' AND key = $2 AND $2 <> '')
	 ORDER BY provider, scope DESC`, trackID, nameKey)
	if err != nil {
		return nil, fmt.Errorf("read overrides of %s: %w", trackID, err)
	}
	out, err := pgx.CollectRows(rows, scanOverride)
	if err != nil {
		return nil, fmt.Errorf("read overrides of %s: %w", trackID, err)
	}
	return out, nil
}

// SaveOverrides writes overrides (replacing those of the same scope, key
// and provider) and removes the open close calls of their tracks'
// providers, in one transaction. The rows' enrichment_status.needs_review
// is updated.
func (s *Store) SaveOverrides(ctx context.Context, os []OverrideRecord) error {
	for i, o := range os {
		if err := o.Validate(); err != nil {
			return fmt.Errorf("override %d: %w", i+1, err)
		}
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, o := range os {
			var rec []byte
			if o.Recording != nil {
				var err error
				if rec, err = json.Marshal(o.Recording); err != nil {
					return fmt.Errorf("encode recording: %w", err)
				}
			}
			at := o.DecidedAt
			if at.IsZero() {
				at = time.Now()
			}
			_, err := tx.Exec(ctx, `INSERT INTO match_overrides (scope, key, provider, action, provider_id, recording, track_id, decided_by, decided_at, note)
			 VALUES ($1, $2, $3, $4, NULLIF($5, ''), $6, NULLIF($7, ''), $8, $9, $10)
			 ON CONFLICT (scope, key, provider) DO UPDATE SET action = EXCLUDED.action, provider_id = EXCLUDED.provider_id,
			   recording = EXCLUDED.recording, track_id = EXCLUDED.track_id, decided_by = EXCLUDED.decided_by,
			   decided_at = EXCLUDED.decided_at, note = EXCLUDED.note`,
				o.Scope, o.Key, o.Provider, o.Action, o.ProviderID, rec, o.TrackID, o.DecidedBy, at, o.Note)
			if err != nil {
				return fmt.Errorf("write override %s %s %s: %w", o.Scope, o.Key, o.Provider, err)
			}
			if o.Scope == enrich.ScopeTrack {
				if err := closeReview(ctx, tx, o.Key, o.Provider); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// closeReview removes a track's open close call for provider and updates
// its needs_review.
func closeReview(ctx context.Context, tx pgx.Tx, trackID, provider string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM match_reviews WHERE track_id = $1 AND provider = $2`, trackID, provider); err != nil {
		return fmt.Errorf("close the review of %s at %s: %w", trackID, provider, err)
	}
	_, err := tx.Exec(ctx, `UPDATE enrichment_status SET needs_review = EXISTS (SELECT 1 FROM match_reviews WHERE track_id = $1)
	 WHERE track_id = $1 AND needs_review IS DISTINCT FROM EXISTS (SELECT 1 FROM match_reviews WHERE track_id = $1)`, trackID)
	if err != nil {
		return fmt.Errorf("update needs_review of %s: %w", trackID, err)
	}
	return nil
}

// DeleteOverrides removes the overrides of a track id and of its name key
// for the providers given (every provider when none) and returns how many
// were removed.
func (s *Store) DeleteOverrides(ctx context.Context, trackID, nameKey string, providers []string) (int64, error) {
	if len(providers) == 0 {
		providers = []string{enrich.ProviderSpotify, enrich.ProviderMusicBrainz, enrich.ProviderDiscogs}
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM match_overrides
	 WHERE ((scope = 'track' AND key = $1) OR (scope = 'name' AND key = $2 AND $2 <> '')) AND provider = ANY($3)`,
		trackID, nameKey, providers)
	if err != nil {
		return 0, fmt.Errorf("delete overrides of %s: %w", trackID, err)
	}
	return tag.RowsAffected(), nil
}

// AllOverrides returns every override, in scope, key and provider order
// (enrichctl review export).
func (s *Store) AllOverrides(ctx context.Context) ([]OverrideRecord, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+overrideColumns+` FROM match_overrides ORDER BY scope, key, provider`)
	if err != nil {
		return nil, fmt.Errorf("read overrides: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanOverride)
	if err != nil {
		return nil, fmt.Errorf("read overrides: %w", err)
	}
	return out, nil
}

// ReviewRow is one open close call with its track.
type ReviewRow struct {
	TrackID        string                  `json:"track_id"`
	Artist         string                  `json:"artist"`
	Title          string                  `json:"title"`
	Provider       string                  `json:"provider"`
	Reason         string                  `json:"reason"`
	Detail         string                  `json:"detail"`
	Candidates     []match.ReviewCandidate `json:"candidates"`
	MatcherVersion int                     `json:"matcher_version,omitempty"`
	CreatedAt      time.Time               `json:"created_at"`
	UpdatedAt      time.Time               `json:"updated_at"`
}

// ReviewFilter selects open close calls (enrichctl review list); zero
// fields select everything.
type ReviewFilter struct {
	Provider string
	Reason   string
	TrackID  string
	// After is the keyset cursor (track id); Limit bounds the rows (0: all).
	After string
	Limit int
}

// Reviews returns the open close calls f selects, by track id and provider.
func (s *Store) Reviews(ctx context.Context, f ReviewFilter) ([]ReviewRow, error) {
	var cond []string
	args := []any{}
	add := func(c string, v any) {
		args = append(args, v)
		cond = append(cond, strings.ReplaceAll(c, "$?", fmt.Sprintf("$%d", len(args))))
	}
	if f.Provider != "" {
		add("m.provider = $?", f.Provider)
	}
	if f.Reason != "" {
		add("m.reason = $?", f.Reason)
	}
	if f.TrackID != "" {
		add("m.track_id = $?", f.TrackID)
	}
	if f.After != "" {
		add("m.track_id > $?", f.After)
	}
	q := `SELECT m.track_id, t.artist, t.title, m.provider, m.reason, m.detail, m.candidates,
	       coalesce(m.matcher_version, 0), m.created_at, m.updated_at
	  FROM match_reviews m JOIN tracks t ON t.id = m.track_id`
	if len(cond) > 0 {
		q += " WHERE " + strings.Join(cond, " AND ")
	}
	q += " ORDER BY m.track_id, m.provider"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read reviews: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ReviewRow, error) {
		var x ReviewRow
		var cands []byte
		if err := r.Scan(&x.TrackID, &x.Artist, &x.Title, &x.Provider, &x.Reason, &x.Detail, &cands,
			&x.MatcherVersion, &x.CreatedAt, &x.UpdatedAt); err != nil {
			return x, err
		}
		if err := json.Unmarshal(cands, &x.Candidates); err != nil {
			return x, fmt.Errorf("candidates of %s at %s: %w", x.TrackID, x.Provider, err)
		}
		return x, nil
	})
	if err != nil {
		return nil, fmt.Errorf("read reviews: %w", err)
	}
	return out, nil
}

// OpenReviews counts the open close calls by provider
// (enrichment_reviews_open).
func (s *Store) OpenReviews(ctx context.Context) (map[string]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT provider, count(*) FROM match_reviews GROUP BY provider`)
	if err != nil {
		return nil, fmt.Errorf("count reviews: %w", err)
	}
	out := map[string]int64{enrich.ProviderSpotify: 0, enrich.ProviderMusicBrainz: 0, enrich.ProviderDiscogs: 0}
	for rows.Next() {
		var p string
		var n int64
		if err := rows.Scan(&p, &n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("count reviews: %w", err)
		}
		out[p] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count reviews: %w", err)
	}
	return out, nil
}

// RematchRowOf reads one track as rematch reads it (enrichctl review
// decides a track again at once).
func (s *Store) RematchRowOf(ctx context.Context, trackID string) (RematchRow, error) {
	rows, err := s.rematchRows(ctx, `t.id = $1`, trackID)
	if err != nil {
		return RematchRow{}, err
	}
	if len(rows) == 0 {
		return RematchRow{}, fmt.Errorf("track %q: %w", trackID, ErrNotFound)
	}
	return rows[0], nil
}
