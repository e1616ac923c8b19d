// Package enrich defines the enrichment pipeline: what a task's enrichment
// produces (Result), the Pipeline interface the worker calls, and the error
// vocabulary that tells the worker how to treat a failure.
package enrich

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/djmeta/enrichment/internal/match"
	"github.com/djmeta/enrichment/internal/provider"
	"github.com/djmeta/enrichment/internal/task"
)

// Status is how an enrichment ended (enrichment_status.status).
type Status string

// Statuses of the contract.
const (
	StatusCompleted Status = "completed"
	StatusPartial   Status = "partial"
	StatusNotFound  Status = "not_found"
	StatusFailed    Status = "failed"
)

// Provider names, as stored in enrichment_status.sources.
const (
	ProviderSpotify     = "spotify"
	ProviderMusicBrainz = "musicbrainz"
	ProviderDiscogs     = "discogs"
)

// Result is the enriched metadata of one track. Zero values mean "not
// known"; the store never overwrites a known value with an unknown one.
type Result struct {
	Status     Status
	Sources    []string // providers that matched
	Confidence float64  // overall match confidence, 0..1

	SpotifyID        string
	ISRC             string
	MusicBrainzID    string
	DiscogsReleaseID int64
	DurationMS       int
	ReleaseDate      time.Time // zero when unknown
	Label            string
	Genres           []string
	BPM              float64 // 0 when unknown
	MusicalKey       string
	CamelotKey       string
	// Metadata holds per-provider details and provenance (tracks.metadata).
	Metadata map[string]any
	// SourceAPI is the provider that gave the primary match.
	SourceAPI string
	// MatcherVersion is the version of the matcher that took the decision
	// (match.MatcherVersion; 0 when no matcher ran: a placeholder, no
	// provider enabled).
	MatcherVersion int
	// Decided are the providers whose decision this result records (asked
	// and answered, or decided by an override): the store replaces their
	// open close calls with Reviews.
	Decided []string
	// Reviews are the close calls among them (docs/curation.md).
	Reviews []Review
	// Withdrawn are the providers an override rejects: the store clears
	// their id column, whatever an earlier enrichment stored.
	Withdrawn []string
}

// Review is one provider's close call.
type Review struct {
	Provider string
	match.CloseCall
}

// Override actions.
const (
	OverrideAccept = "accept"
	OverrideReject = "reject"
)

// Override scopes: the track id, or the normalised artist and title
// (match.NameKey).
const (
	ScopeTrack = "track"
	ScopeName  = "name"
)

// Override is a decision a person took for one provider of a track
// (enrichctl review accept/reject): every enrichment of the track uses it
// instead of asking that provider.
type Override struct {
	Provider string
	Action   string // OverrideAccept or OverrideReject
	// Recording is the accepted recording, as the provider gave it.
	Recording provider.Recording
	Scope     string // ScopeTrack or ScopeName
	By        string
	At        time.Time
}

// OverrideSource finds the overrides that apply to a track: by provider,
// its own (scope track) before its name's (scope name).
type OverrideSource interface {
	Overrides(ctx context.Context, trackID, nameKey string) (map[string]Override, error)
}

// Pipeline enriches one task. Implementations must be safe for concurrent
// use. A returned error is classified with IsPermanent and RetryAfterOf.
type Pipeline interface {
	Enrich(ctx context.Context, t task.Task) (Result, error)
}

// NoProviders is the pipeline with every provider disabled: every task ends
// not_found, with the reason in the metadata.
type NoProviders struct{}

// Enrich implements Pipeline.
func (NoProviders) Enrich(_ context.Context, _ task.Task) (Result, error) {
	return Result{
		Status:   StatusNotFound,
		Metadata: map[string]any{"reason": "no provider enabled"},
	}, nil
}

// permanentError marks an error that no retry can fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return "permanent: " + e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as permanent: the task goes to the DLQ at once with
// reason permanent_error.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err was marked Permanent.
func IsPermanent(err error) bool {
	var pe *permanentError
	return errors.As(err, &pe)
}

// retryAfterError marks a throttling answer (429/503 with Retry-After).
type retryAfterError struct {
	after time.Duration
	err   error
}

func (e *retryAfterError) Error() string {
	return fmt.Sprintf("retry after %s: %v", e.after, e.err)
}
func (e *retryAfterError) Unwrap() error { return e.err }

// RetryAfter marks err as throttling: the task is retried after at least d
// without spending an attempt.
func RetryAfter(d time.Duration, err error) error {
	if err == nil {
		return nil
	}
	return &retryAfterError{after: d, err: err}
}

// RetryAfterOf returns the delay of a RetryAfter error.
func RetryAfterOf(err error) (time.Duration, bool) {
	var re *retryAfterError
	if errors.As(err, &re) {
		return re.after, true
	}
	return 0, false
}

// deferredError marks a task that could not wait for a provider's quota
// within its time: the worker parks it in a retry tier without spending an
// attempt, however often it happens (waiting for quota is not a failure).
type deferredError struct{ err error }

func (e *deferredError) Error() string { return "deferred: " + e.err.Error() }
func (e *deferredError) Unwrap() error { return e.err }

// Deferred marks err as a quota wait the task could not afford.
func Deferred(err error) error {
	if err == nil {
		return nil
	}
	return &deferredError{err: err}
}

// IsDeferred reports whether err was marked Deferred.
func IsDeferred(err error) bool {
	var de *deferredError
	return errors.As(err, &de)
}
