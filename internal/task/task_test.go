package task

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		ctype     string
		wantField string
	}{
		{"not json", `this is not json`, "", ""},
		{"truncated json", `{"track_id":"a","artist":"b"`, "", ""},
		{"json array", `[1,2]`, "", ""},
		{"missing title", `{"track_id":"t1","artist":"Bicep"}`, "", "title"},
		{"empty title", `{"track_id":"t1","artist":"Bicep","title":"   "}`, "", "title"},
		{"null artist", `{"track_id":"t1","artist":null,"title":"Glue"}`, "", "artist"},
		{"artist 10000 chars", `{"track_id":"t1","artist":"` + strings.Repeat("a", 10000) + `","title":"Glue"}`, "", "artist"},
		{"track_id 300 chars", `{"track_id":"` + strings.Repeat("x", 300) + `","artist":"Bicep","title":"Glue"}`, "", "track_id"},
		{"track_id number", `{"track_id":12,"artist":"Bicep","title":"Glue"}`, "", "track_id"},
		{"priority string", `{"track_id":"t1","artist":"Bicep","title":"Glue","priority":"high"}`, "", "priority"},
		{"priority quoted number", `{"track_id":"t1","artist":"Bicep","title":"Glue","priority":"5"}`, "", "priority"},
		{"priority float", `{"track_id":"t1","artist":"Bicep","title":"Glue","priority":5.5}`, "", "priority"},
		{"priority out of range", `{"track_id":"t1","artist":"Bicep","title":"Glue","priority":11}`, "", "priority"},
		{"duration string", `{"track_id":"t1","artist":"Bicep","title":"Glue","duration_ms":"300000"}`, "", "duration_ms"},
		{"duration negative", `{"track_id":"t1","artist":"Bicep","title":"Glue","duration_ms":-1}`, "", "duration_ms"},
		{"wrong content type", `{"track_id":"t1","artist":"Bicep","title":"Glue"}`, "text/plain", "content_type"},
		{"force_refresh string", `{"track_id":"t1","artist":"Bicep","title":"Glue","force_refresh":"yes"}`, "", "force_refresh"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.body), tt.ctype, 0)
			ie, ok := err.(*InvalidError)
			if !ok {
				t.Fatalf("Parse() error = %v, want *InvalidError", err)
			}
			if ie.Field != tt.wantField {
				t.Errorf("Parse() field = %q, want %q (err %v)", ie.Field, tt.wantField, err)
			}
		})
	}
}

func TestParseInvalidUTF8AndSize(t *testing.T) {
	bad := []byte(`{"track_id":"t1","artist":"Bj` + "\xff\xfe" + `rk","title":"Joga"}`)
	if _, err := Parse(bad, "application/json", 0); !IsInvalid(err) {
		t.Errorf("Parse(invalid UTF-8) error = %v, want invalid", err)
	}
	big := []byte(`{"track_id":"t1","artist":"a","title":"b","x":"` + strings.Repeat("y", MaxBodyBytes) + `"}`)
	if _, err := Parse(big, "", 0); !IsInvalid(err) {
		t.Errorf("Parse(>64KiB) error = %v, want invalid", err)
	}
}

func TestParseValid(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		prio   uint8
		want   Task
		nwarns int
	}{
		{
			name: "minimal defaults",
			body: `{"track_id":"t1","artist":"Bicep","title":"Apricots (Extended Mix)"}`,
			want: Task{TrackID: "t1", Artist: "Bicep", Title: "Apricots (Extended Mix)", Priority: 5},
		},
		{
			name: "amqp priority used when field absent",
			body: `{"track_id":"t1","artist":"Bicep","title":"Glue"}`,
			prio: 9,
			want: Task{TrackID: "t1", Artist: "Bicep", Title: "Glue", Priority: 9},
		},
		{
			name: "body priority wins over property",
			body: `{"track_id":"t1","artist":"Bicep","title":"Glue","priority":2}`,
			prio: 9,
			want: Task{TrackID: "t1", Artist: "Bicep", Title: "Glue", Priority: 2},
		},
		{
			name: "code points not bytes, unknown fields ignored",
			body: `{"track_id":"` + strings.Repeat("é", 128) + `","artist":"Âme","title":"Rej","whatever":[1]}`,
			want: Task{TrackID: strings.Repeat("é", 128), Artist: "Âme", Title: "Rej", Priority: 5},
		},
		{
			name: "hints normalised",
			body: `{"track_id":"t1","artist":"Bicep","title":"Glue","spotify_id":"https://open.spotify.com/intl-de/track/2aJDlirz6v2a4HREki98cP?si=abc","isrc":"gb-cel-17-00123","musicbrainz_id":"6B9A9E04-ABD7-4666-86BA-BB220EF4C3B2","discogs_release_id":10537164,"duration_ms":253000,"force_refresh":true,"correlation_id":"c-1","retry_count":3}`,
			want: Task{TrackID: "t1", Artist: "Bicep", Title: "Glue", Priority: 5, SpotifyID: "2aJDlirz6v2a4HREki98cP", ISRC: "GBCEL1700123",
				MusicBrainzID: "6b9a9e04-abd7-4666-86ba-bb220ef4c3b2", DiscogsReleaseID: 10537164, DurationMS: 253000, ForceRefresh: true, CorrelationID: "c-1"},
		},
		{
			name: "spotify uri and discogs string",
			body: `{"track_id":"t1","artist":"Bicep","title":"Glue","spotify_id":"spotify:track:2aJDlirz6v2a4HREki98cP","discogs_release_id":"r42"}`,
			want: Task{TrackID: "t1", Artist: "Bicep", Title: "Glue", Priority: 5, SpotifyID: "2aJDlirz6v2a4HREki98cP", DiscogsReleaseID: 42},
		},
		{
			name:   "malformed hints dropped with warnings",
			body:   `{"track_id":"t1","artist":"Bicep","title":"Glue","spotify_id":"nope","isrc":"123","musicbrainz_id":"x","discogs_release_id":-3}`,
			want:   Task{TrackID: "t1", Artist: "Bicep", Title: "Glue", Priority: 5},
			nwarns: 4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.body), "application/json; charset=utf-8", tt.prio)
			if err != nil {
				t.Fatalf("Parse() error = %v", err)
			}
			if len(got.Warnings) != tt.nwarns {
				t.Errorf("Parse() warnings = %q, want %d", got.Warnings, tt.nwarns)
			}
			got.Warnings = nil
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
