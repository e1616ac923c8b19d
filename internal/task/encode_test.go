package task

import (
	"strings"
	"testing"
)

func TestEncode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       Task
		want     string // the body
		warnings int
		invalid  string // the field of the *InvalidError, "" for none
	}{
		{
			name: "required fields only: no priority, the worker's default applies",
			in:   Task{TrackID: "t1", Artist: "Bicep", Title: "Glue"},
			want: `{"track_id":"t1","artist":"Bicep","title":"Glue"}`,
		},
		{
			name: "every field",
			in: Task{TrackID: "t2", Artist: "Bicep", Title: "Apricots (Extended Mix)", Priority: 2,
				SpotifyID: "4uLU6hMCjMI75M1A2tKUQC", ISRC: "GBAYE0601498", MusicBrainzID: "b1a9c0e9-d987-4042-ae91-78d6a3267d69",
				DiscogsReleaseID: 11578434, DurationMS: 402000, ForceRefresh: true, Source: "backfill",
				CorrelationID: "backfill-ab", QueuedAt: "2026-03-01T09:00:00Z"},
			want: `{"track_id":"t2","artist":"Bicep","title":"Apricots (Extended Mix)","priority":2,` +
				`"spotify_id":"4uLU6hMCjMI75M1A2tKUQC","isrc":"GBAYE0601498","musicbrainz_id":"b1a9c0e9-d987-4042-ae91-78d6a3267d69",` +
				`"discogs_release_id":11578434,"duration_ms":402000,"force_refresh":true,"source":"backfill",` +
				`"correlation_id":"backfill-ab","queued_at":"2026-03-01T09:00:00Z"}`,
		},
		{
			name: "hints are sent as the worker keeps them",
			in: Task{TrackID: "t3", Artist: "A", Title: "T", SpotifyID: "spotify:track:4uLU6hMCjMI75M1A2tKUQC",
				ISRC: "gb-aye-06-01498", MusicBrainzID: "not an mbid"},
			want:     `{"track_id":"t3","artist":"A","title":"T","spotify_id":"4uLU6hMCjMI75M1A2tKUQC","isrc":"GBAYE0601498"}`,
			warnings: 1,
		},
		{name: "empty artist", in: Task{TrackID: "t4", Artist: " ", Title: "T"}, invalid: "artist"},
		{name: "over-long title", in: Task{TrackID: "t5", Artist: "A", Title: strings.Repeat("x", MaxNameLen+1)}, invalid: "title"},
		{name: "priority out of range", in: Task{TrackID: "t6", Artist: "A", Title: "T", Priority: 11}, invalid: "priority"},
		{name: "track id with surrounding white space", in: Task{TrackID: " t7", Artist: "A", Title: "T"}, invalid: "track_id"},
	}
	for _, tt := range tests {
		body, parsed, err := Encode(tt.in)
		if tt.invalid != "" {
			ie, ok := err.(*InvalidError)
			if !ok || ie.Field != tt.invalid {
				t.Errorf("%s: error %v, want an invalid %s", tt.name, err, tt.invalid)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if string(body) != tt.want {
			t.Errorf("%s: body\n got %s\nwant %s", tt.name, body, tt.want)
		}
		if len(parsed.Warnings) != tt.warnings {
			t.Errorf("%s: warnings %q, want %d", tt.name, parsed.Warnings, tt.warnings)
		}
		if again, err := Parse(body, "application/json", 0); err != nil || again.TrackID != tt.in.TrackID || len(again.Warnings) != 0 {
			t.Errorf("%s: the body parses to %+v, %v; want the track, no warnings", tt.name, again, err)
		}
	}
}
