// Package provider holds what the provider clients (Spotify, MusicBrainz,
// Discogs; one sub-package each) share: the normalised candidate model,
// typed errors, and an HTTP transport with timeouts, a body size limit,
// Retry-After handling, bounded jittered retries, rate limiting and metrics.
//
// The clients are thin and our own: the maintained Go clients either predate
// the 2026 API changes (zmb3/spotify) or are not served by the module proxy
// and lack context and rate-limit support (gomusicbrainz, go-discogs); see
// docs/architecture.md, "Why thin provider clients".
package provider

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Provider names (metric labels and enrichment_status.sources values).
const (
	Spotify     = "spotify"
	MusicBrainz = "musicbrainz"
	Discogs     = "discogs"
)

// Recording is one candidate recording as a provider describes it,
// normalised to a common shape. For Discogs a candidate is one track of one
// release.
type Recording struct {
	Provider string   `json:"provider"`
	ID       string   `json:"id"` // Spotify track id, MusicBrainz recording MBID, Discogs release id
	Title    string   `json:"title"`
	Artists  []string `json:"artists"`
	// Credit is the artist credit as the provider writes it, with its join
	// phrases ("Calvin Harris feat. Florence Welch", "Avicii vs. Nicky
	// Romero"), when it has them (MusicBrainz, Discogs): it tells a featured
	// guest from a collaborator. Empty when the provider gives a plain list.
	Credit string `json:"credit,omitempty"`
	// ArtistNames are other names of each artist of Artists, by index (nil,
	// or shorter, when there are none): the artist's own name where the credit
	// uses another (a former name, a name variation), and its aliases.
	ArtistNames [][]string `json:"artist_names,omitempty"`
	DurationMS  int        `json:"duration_ms,omitempty"`
	ISRCs       []string   `json:"isrcs,omitempty"`
	Releases    []Release  `json:"releases,omitempty"`
	Genres      []string   `json:"genres,omitempty"`
	Styles      []string   `json:"styles,omitempty"`
	// Disambiguation is MusicBrainz's comment ("extended mix", "live").
	Disambiguation string `json:"disambiguation,omitempty"`
	// Position is the Discogs tracklist position ("A1").
	Position string `json:"position,omitempty"`
	// SearchScore is the provider's own relevance (0..100 on MusicBrainz), if any.
	SearchScore int    `json:"search_score,omitempty"`
	URL         string `json:"url,omitempty"`
}

// Release is a release carrying a recording.
type Release struct {
	ID            string `json:"id"`
	Title         string `json:"title"`
	Date          string `json:"date,omitempty"` // YYYY, YYYY-MM or YYYY-MM-DD
	Type          string `json:"type,omitempty"` // single, ep, album, compilation (lower case)
	Label         string `json:"label,omitempty"`
	CatalogNumber string `json:"catalog_number,omitempty"`
	Country       string `json:"country,omitempty"`
	Status        string `json:"status,omitempty"` // MusicBrainz: official, promotion, bootleg, pseudo-release
}

// ErrorKind classifies provider failures.
type ErrorKind int

// Error kinds.
const (
	KindUnknown      ErrorKind = iota
	KindNotFound               // the provider says the thing does not exist (404)
	KindUnauthorized           // bad or missing credentials (401)
	KindNotAvailable           // the endpoint is closed to this app (403); never retried
	KindRateLimited            // 429, or 503 with Retry-After
	KindUnavailable            // other 5xx, network error, timeout
	KindBadResponse            // malformed or oversized body, unexpected status
	KindBadRequest             // 400 and other 4xx: our request is wrong
	// KindQuotaWait: no request was sent because the task cannot wait for
	// the fleet's next free slot at this provider (or for the answer
	// another caller is fetching) within its time. Not a failure of the
	// provider nor of the task: the task is deferred.
	KindQuotaWait
)

func (k ErrorKind) String() string {
	switch k {
	case KindNotFound:
		return "not found"
	case KindUnauthorized:
		return "unauthorized"
	case KindNotAvailable:
		return "not available"
	case KindRateLimited:
		return "rate limited"
	case KindUnavailable:
		return "unavailable"
	case KindBadResponse:
		return "bad response"
	case KindBadRequest:
		return "bad request"
	case KindQuotaWait:
		return "waiting for quota"
	}
	return "unknown"
}

// Error is a provider failure.
type Error struct {
	Provider   string
	Kind       ErrorKind
	Status     int           // HTTP status, 0 for network errors
	RetryAfter time.Duration // for KindRateLimited
	Err        error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s: %s", e.Provider, e.Kind)
	if e.Status != 0 {
		msg += fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(", retry after %s", e.RetryAfter)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of a provider error (KindUnknown for others).
func KindOf(err error) ErrorKind {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Kind
	}
	return KindUnknown
}

// IsNotFound reports whether the provider said the thing does not exist.
func IsNotFound(err error) bool { return KindOf(err) == KindNotFound }

// RetryAfterOf returns the Retry-After of a rate-limited error.
func RetryAfterOf(err error) (time.Duration, bool) {
	var pe *Error
	if errors.As(err, &pe) && pe.Kind == KindRateLimited {
		return pe.RetryAfter, true
	}
	return 0, false
}

// IsQuotaWait reports whether err means the request was not sent because
// the caller could not wait for quota (KindQuotaWait).
func IsQuotaWait(err error) bool { return KindOf(err) == KindQuotaWait }

// Query is a search for one recording.
type Query struct {
	Artist string // artists as one string, e.g. "Bicep feat. Clara La San"
	Title  string // full title including the version, e.g. "Apricots (Extended Mix)"
	// Fuzzy asks for a looser search than the exact one, for a line the
	// exact search found nothing for (a typo, another name): MusicBrainz
	// fuzzy terms that the title must match and the artist may, Spotify
	// words without field filters. A client without a looser search returns
	// no candidates and sends no request.
	Fuzzy bool
}

// StoppingSearcher is a Client whose search gathers candidates in several
// requests (Discogs: one release lookup each) and can stop early: it sends
// no more requests once decided says the candidates so far settle the
// question.
type StoppingSearcher interface {
	SearchUntil(ctx context.Context, q Query, decided func(recs []Recording) bool) ([]Recording, error)
}

// Client is one provider's lookups, already normalised. A lookup of an id
// the provider does not know returns an error for which IsNotFound is true.
type Client interface {
	Name() string
	// Search finds candidate recordings for a query.
	Search(ctx context.Context, q Query) ([]Recording, error)
	// ByISRC finds recordings carrying an ISRC.
	ByISRC(ctx context.Context, isrc string) ([]Recording, error)
	// ByID looks up a recording (Spotify track, MusicBrainz recording) or, for
	// Discogs, a release's tracks.
	ByID(ctx context.Context, id string) ([]Recording, error)
}
