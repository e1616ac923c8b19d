package task

import (
	"encoding/json"
	"fmt"
)

// wireTask is the task body producers send (contract: "Task message"). It
// is the one place the producer side writes the message's JSON shape.
type wireTask struct {
	TrackID          string `json:"track_id"`
	Artist           string `json:"artist"`
	Title            string `json:"title"`
	Priority         int    `json:"priority,omitempty"`
	SpotifyID        string `json:"spotify_id,omitempty"`
	ISRC             string `json:"isrc,omitempty"`
	MusicBrainzID    string `json:"musicbrainz_id,omitempty"`
	DiscogsReleaseID int64  `json:"discogs_release_id,omitempty"`
	DurationMS       int    `json:"duration_ms,omitempty"`
	ForceRefresh     bool   `json:"force_refresh,omitempty"`
	Source           string `json:"source,omitempty"`
	CorrelationID    string `json:"correlation_id,omitempty"`
	QueuedAt         string `json:"queued_at,omitempty"`
}

func wire(t Task) wireTask {
	return wireTask{
		TrackID: t.TrackID, Artist: t.Artist, Title: t.Title, Priority: t.Priority,
		SpotifyID: t.SpotifyID, ISRC: t.ISRC, MusicBrainzID: t.MusicBrainzID, DiscogsReleaseID: t.DiscogsReleaseID,
		DurationMS: t.DurationMS, ForceRefresh: t.ForceRefresh,
		Source: t.Source, CorrelationID: t.CorrelationID, QueuedAt: t.QueuedAt,
	}
}

// Encode returns the body a producer publishes for t: the required fields,
// the priority when t has one (0 leaves it to the worker's default), and
// the optional fields that are set. The body is checked exactly as a worker
// will check it, so an error is the *InvalidError the worker would
// dead-letter the task for; a track id with surrounding white space is an
// error too, since the worker would store the task under another id.
//
// Id hints are sent as the worker keeps them: normalised (a Spotify URL
// becomes the bare id), and a malformed one left out; parsed.Warnings says
// which were left out. parsed is the task as the worker will see it.
func Encode(t Task) (body []byte, parsed Task, err error) {
	body, err = json.Marshal(wire(t))
	if err != nil {
		return nil, Task{}, fmt.Errorf("encode task: %w", err)
	}
	parsed, err = Parse(body, "application/json", 0)
	if err != nil {
		return nil, Task{}, err
	}
	if parsed.TrackID != t.TrackID {
		return nil, Task{}, invalid("track_id", "has surrounding white space, a task cannot address the track %q", t.TrackID)
	}
	if parsed.SpotifyID != t.SpotifyID || parsed.ISRC != t.ISRC || parsed.MusicBrainzID != t.MusicBrainzID ||
		parsed.DiscogsReleaseID != t.DiscogsReleaseID {
		t.SpotifyID, t.ISRC, t.MusicBrainzID, t.DiscogsReleaseID = parsed.SpotifyID, parsed.ISRC, parsed.MusicBrainzID, parsed.DiscogsReleaseID
		if body, err = json.Marshal(wire(t)); err != nil {
			return nil, Task{}, fmt.Errorf("encode task: %w", err)
		}
	}
	return body, parsed, nil
}
