package task

import "testing"

// Micro-benchmarks (make bench runs them; compare runs with benchstat).

func BenchmarkParse(b *testing.B) {
	bodies := []struct{ name, body string }{
		{"minimal", `{"track_id":"set01-t03","artist":"Bicep","title":"Apricots (Extended Mix)"}`},
		{"scraper", `{"track_id":"set01-t03","artist":"Bicep","title":"Apricots (Extended Mix)","priority":5,` +
			`"source":"1001tracklists:Warehouse Warm-Up (Melodic & Breaks) 2025-10-04","correlation_id":"c-0001",` +
			`"queued_at":"2025-10-04T21:00:00Z","retry_count":0}`},
		{"hints", `{"track_id":"set01-t01","artist":"Bicep","title":"Glue","spotify_id":"spotify:track:p6zIP050DJsdSYjOtGiqqm",` +
			`"isrc":"gb-auj-17-49341","musicbrainz_id":"92c3feb8-ca02-4b5b-8e05-503640f3167b","discogs_release_id":24655903,"duration_ms":338801}`},
		{"invalid", `{"track_id":"set01-t03","artist":"Bicep","priority":"5"}`},
	}
	for _, tt := range bodies {
		body := []byte(tt.body)
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				_, _ = Parse(body, "application/json", 0)
			}
		})
	}
}
