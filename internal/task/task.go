// Package task defines the enrichment task message of the public contract
// (docs/contract: "Task message") and parses and validates it.
package task

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits from the contract.
const (
	MaxBodyBytes     = 64 << 10
	MaxTrackIDLen    = 128
	MaxNameLen       = 512
	PriorityDefault  = 5
	PriorityMin      = 1
	PriorityMax      = 10
	maxDurationMS    = 24 * 60 * 60 * 1000
	maxOptionalBytes = 1024
)

// Task is a validated enrichment task.
type Task struct {
	TrackID string `json:"track_id"`
	Artist  string `json:"artist"`
	Title   string `json:"title"`
	// Priority is 1..10, 10 most urgent.
	Priority int `json:"priority"`

	// Normalised id hints; empty (0) when absent or dropped as malformed.
	SpotifyID        string `json:"spotify_id,omitempty"`
	ISRC             string `json:"isrc,omitempty"`
	MusicBrainzID    string `json:"musicbrainz_id,omitempty"`
	DiscogsReleaseID int64  `json:"discogs_release_id,omitempty"`

	// DurationMS is the duration hint in milliseconds, 0 when unknown.
	DurationMS   int  `json:"duration_ms,omitempty"`
	ForceRefresh bool `json:"force_refresh,omitempty"`

	CorrelationID string `json:"correlation_id,omitempty"`
	Source        string `json:"source,omitempty"`
	QueuedAt      string `json:"queued_at,omitempty"`

	// Warnings lists the hints that were dropped as malformed.
	Warnings []string `json:"-"`
	// Cleaned lists the fields (artist, title) from which hostile
	// characters were stripped (see CleanName).
	Cleaned []string `json:"-"`
}

// InvalidError reports a message that breaks the contract. Such a message is
// dead-lettered at once with reason invalid_message and never retried.
type InvalidError struct {
	Field  string
	Reason string
}

func (e *InvalidError) Error() string {
	if e.Field == "" {
		return "invalid message: " + e.Reason
	}
	return fmt.Sprintf("invalid message: %s: %s", e.Field, e.Reason)
}

// IsInvalid reports whether err is (or wraps) an *InvalidError.
func IsInvalid(err error) bool {
	var ie *InvalidError
	return errors.As(err, &ie)
}

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Parse validates body (with its AMQP content type and priority property)
// against the contract and returns the task.
func Parse(body []byte, contentType string, amqpPriority uint8) (Task, error) {
	if len(body) > MaxBodyBytes {
		return Task{}, invalid("", "body is %d bytes, more than %d", len(body), MaxBodyBytes)
	}
	if contentType != "" {
		mt, _, err := mime.ParseMediaType(contentType)
		if err != nil || !(mt == "application/json" || strings.HasSuffix(mt, "+json")) {
			return Task{}, invalid("content_type", "must be application/json, got %q", contentType)
		}
	}
	if !utf8.Valid(body) {
		return Task{}, invalid("", "body is not valid UTF-8")
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return Task{}, invalid("", "body is not a JSON object")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &fields); err != nil {
		return Task{}, invalid("", "body is not valid JSON: %v", err)
	}
	if k, err := duplicateKey(trimmed); err != nil {
		return Task{}, invalid("", "body repeats the key %s", clipQuoted(k))
	}

	var t Task
	var err error
	if t.TrackID, err = requiredString(fields, "track_id", MaxTrackIDLen); err != nil {
		return Task{}, err
	}
	if r, bad := firstHostile(t.TrackID); bad {
		return Task{}, invalid("track_id", "must not contain control or format characters, got %U", r)
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"artist", &t.Artist}, {"title", &t.Title}} {
		raw, err := requiredString(fields, f.name, MaxNameLen)
		if err != nil {
			return Task{}, err
		}
		clean, changed := CleanName(raw)
		if changed {
			clean = strings.TrimSpace(clean)
			if clean == "" {
				return Task{}, invalid(f.name, "holds nothing but control or format characters")
			}
			t.Cleaned = append(t.Cleaned, f.name)
		}
		*f.dst = clean
	}

	prio, ok, err := optionalInt(fields, "priority")
	switch {
	case err != nil:
		return Task{}, err
	case ok && (prio < PriorityMin || prio > PriorityMax):
		return Task{}, invalid("priority", "must be an integer from %d to %d, got %d", PriorityMin, PriorityMax, prio)
	case ok:
		t.Priority = int(prio)
	case amqpPriority > 0:
		t.Priority = min(int(amqpPriority), PriorityMax)
	default:
		t.Priority = PriorityDefault
	}

	dur, ok, err := optionalInt(fields, "duration_ms")
	if err != nil {
		return Task{}, err
	}
	if ok {
		if dur < 0 || dur > maxDurationMS {
			return Task{}, invalid("duration_ms", "must be an integer from 0 to %d, got %d", maxDurationMS, dur)
		}
		t.DurationMS = int(dur)
	}

	if raw, ok := present(fields, "force_refresh"); ok {
		if err := json.Unmarshal(raw, &t.ForceRefresh); err != nil {
			return Task{}, invalid("force_refresh", "must be true or false")
		}
	}

	for _, f := range []struct {
		name string
		dst  *string
	}{{"correlation_id", &t.CorrelationID}, {"source", &t.Source}, {"queued_at", &t.QueuedAt}} {
		v, err := optionalLooseString(fields, f.name)
		if err != nil {
			return Task{}, err
		}
		*f.dst = v
	}

	t.hints(fields)
	return t, nil
}

// hints normalises the optional id hints; a malformed hint is dropped with a
// warning, never fatal.
func (t *Task) hints(fields map[string]json.RawMessage) {
	if s, ok := hintString(fields, "spotify_id", &t.Warnings); ok {
		if id, ok := NormalizeSpotifyID(s); ok {
			t.SpotifyID = id
		} else {
			t.Warnings = append(t.Warnings, fmt.Sprintf("spotify_id %q dropped: not a Spotify track id, URI or URL", clip(s)))
		}
	}
	if s, ok := hintString(fields, "isrc", &t.Warnings); ok {
		if v, ok := NormalizeISRC(s); ok {
			t.ISRC = v
		} else {
			t.Warnings = append(t.Warnings, fmt.Sprintf("isrc %q dropped: not an ISRC", clip(s)))
		}
	}
	if s, ok := hintString(fields, "musicbrainz_id", &t.Warnings); ok {
		if v, ok := NormalizeMBID(s); ok {
			t.MusicBrainzID = v
		} else {
			t.Warnings = append(t.Warnings, fmt.Sprintf("musicbrainz_id %q dropped: not a recording MBID", clip(s)))
		}
	}
	if raw, ok := present(fields, "discogs_release_id"); ok {
		s := string(raw)
		var str string
		if json.Unmarshal(raw, &str) == nil {
			s = str
		}
		if v, ok := NormalizeDiscogsReleaseID(s); ok {
			t.DiscogsReleaseID = v
		} else {
			t.Warnings = append(t.Warnings, fmt.Sprintf("discogs_release_id %s dropped: not a positive release number", clip(s)))
		}
	}
}

func clip(s string) string {
	if utf8.RuneCountInString(s) <= 64 {
		return s
	}
	r := []rune(s)
	return string(r[:64]) + "…"
}

// present returns the raw value of a field that is there and not null.
func present(fields map[string]json.RawMessage, name string) (json.RawMessage, bool) {
	raw, ok := fields[name]
	if !ok || string(raw) == "null" {
		return nil, false
	}
	return raw, true
}

func requiredString(fields map[string]json.RawMessage, name string, maxLen int) (string, error) {
	raw, ok := present(fields, name)
	if !ok {
		return "", invalid(name, "is required")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", invalid(name, "must be a string")
	}
	s = strings.TrimSpace(s)
	n := utf8.RuneCountInString(s)
	if n == 0 {
		return "", invalid(name, "must not be empty")
	}
	if n > maxLen {
		return "", invalid(name, "is %d characters, more than %d", n, maxLen)
	}
	return s, nil
}

// optionalInt decodes a JSON integer; "5", 5.5 and 5e0 are errors.
func optionalInt(fields map[string]json.RawMessage, name string) (int64, bool, error) {
	raw, ok := present(fields, name)
	if !ok {
		return 0, false, nil
	}
	v, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, false, invalid(name, "must be a JSON integer, got %s", clip(string(raw)))
	}
	return v, true, nil
}

// optionalLooseString reads a free-form carried field: strings as they are,
// numbers as written; anything else is dropped.
func optionalLooseString(fields map[string]json.RawMessage, name string) (string, error) {
	raw, ok := present(fields, name)
	if !ok {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if len(s) > maxOptionalBytes {
			return "", invalid(name, "is longer than %d bytes", maxOptionalBytes)
		}
		return s, nil
	}
	if _, err := strconv.ParseFloat(string(raw), 64); err == nil {
		return string(raw), nil
	}
	return "", nil
}

func hintString(fields map[string]json.RawMessage, name string, warnings *[]string) (string, bool) {
	raw, ok := present(fields, name)
	if !ok {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		*warnings = append(*warnings, fmt.Sprintf("%s dropped: must be a string", name))
		return "", false
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return "", false
	}
	return s, true
}

var (
	spotifyIDRE  = regexp.MustCompile(`^[0-9A-Za-z]{22}$`)
	spotifyURLRE = regexp.MustCompile(`^https?://open\.spotify\.com/(?:intl-[a-z]{2}(?:-[A-Za-z]{2})?/)?track/([0-9A-Za-z]{22})(?:[/?#].*)?$`)
	isrcRE       = regexp.MustCompile(`^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$`)
	uuidRE       = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	mbURLRE      = regexp.MustCompile(`^https?://(?:beta\.)?musicbrainz\.org/recording/([0-9a-fA-F-]{36})(?:[/?#].*)?$`)
	discogsURLRE = regexp.MustCompile(`^https?://(?:www\.)?discogs\.com/(?:[a-z]{2}/)?release/([0-9]+)(?:-[^/?#]*)?(?:[/?#].*)?$`)
	digitsRE     = regexp.MustCompile(`^[0-9]{1,18}$`)
)

// NormalizeSpotifyID reduces a Spotify track id, URI or URL to the bare id.
func NormalizeSpotifyID(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if spotifyIDRE.MatchString(s) {
		return s, true
	}
	if rest, ok := strings.CutPrefix(s, "spotify:track:"); ok && spotifyIDRE.MatchString(rest) {
		return rest, true
	}
	if m := spotifyURLRE.FindStringSubmatch(s); m != nil {
		return m[1], true
	}
	return "", false
}

var isrcReplacer = strings.NewReplacer("-", "", " ", "", "\u00a0", "")

// NormalizeISRC upper-cases an ISRC and removes dashes and spaces.
func NormalizeISRC(s string) (string, bool) {
	v := strings.ToUpper(isrcReplacer.Replace(s))
	return v, isrcRE.MatchString(v)
}

// NormalizeMBID lower-cases a MusicBrainz id, or extracts it from a recording URL.
func NormalizeMBID(s string) (string, bool) {
	if m := mbURLRE.FindStringSubmatch(s); m != nil {
		s = m[1]
	}
	v := strings.ToLower(strings.TrimSpace(s))
	return v, uuidRE.MatchString(v)
}

// NormalizeDiscogsReleaseID accepts 123, "123", "r123", "[r123]" or a release URL.
func NormalizeDiscogsReleaseID(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	if m := discogsURLRE.FindStringSubmatch(s); m != nil {
		s = m[1]
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	s = strings.TrimPrefix(s, "r")
	if !digitsRE.MatchString(s) {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		return 0, false
	}
	return v, true
}
