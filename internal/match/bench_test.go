package match

import (
	"fmt"
	"testing"

	"github.com/djmeta/enrichment/internal/provider"
)

// Micro-benchmarks (make bench runs them; compare runs with benchstat).

var benchTracks = []struct{ name, artist, title string }{
	{"plain", "Bicep", "Glue"},
	{"extended", "Bicep", "Apricots (Extended Mix)"},
	{"feat_remix", "Bicep feat. Clara La San", "Saku (Sasha Remix)"},
	{"spotify_dash", "Bicep", "Glue - Original Mix"},
	{"collab_inline_feat", "Four Tet x Skrillex x Fred again..", "Baby again.. feat. Someone (VIP Edit)"},
}

func BenchmarkParse(b *testing.B) {
	for _, tt := range benchTracks {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Parse(tt.artist, tt.title)
			}
		})
	}
}

// benchCandidates is n search results for "Bicep – Apricots (Extended
// Mix)" as a provider returns them: the right recording among other
// versions, album copies and other artists' tracks.
func benchCandidates(n int) []provider.Recording {
	base := []provider.Recording{
		{Provider: "test", ID: "ext", Title: "Apricots - Extended Mix", Artists: []string{"Bicep"}, DurationMS: 412000, ISRCs: []string{"GBAUJ2100011"}},
		{Provider: "test", ID: "orig", Title: "Apricots", Artists: []string{"Bicep"}, DurationMS: 289000, ISRCs: []string{"GBAUJ2100010"}},
		{Provider: "test", ID: "radio", Title: "Apricots (Radio Edit)", Artists: []string{"Bicep"}, DurationMS: 201000},
		{Provider: "test", ID: "remix", Title: "Apricots (Patrick Topping Remix)", Artists: []string{"Bicep", "Patrick Topping"}, DurationMS: 395000},
		{Provider: "test", ID: "album", Title: "Apricots", Artists: []string{"Bicep"}, DurationMS: 289500, ISRCs: []string{"GBAUJ2100010"}},
		{Provider: "test", ID: "tribute", Title: "Apricots (Extended Mix)", Artists: []string{"Bicep Tribute"}, DurationMS: 410000},
	}
	out := make([]provider.Recording, 0, n)
	for i := 0; len(out) < n; i++ {
		if i < len(base) {
			out = append(out, base[i])
			continue
		}
		out = append(out, provider.Recording{Provider: "test", ID: fmt.Sprint("other", i),
			Title: fmt.Sprintf("Track %d (Extended Mix)", i), Artists: []string{fmt.Sprintf("Artist %d", i)}, DurationMS: 300000 + i*1000})
	}
	return out
}

func BenchmarkChoose(b *testing.B) {
	q := Query{Track: Parse("Bicep", "Apricots (Extended Mix)")}
	cfg := DefaultConfig()
	// 5: Spotify's development-mode default; 10: its maximum; 25:
	// MusicBrainz's default page.
	for _, n := range []int{5, 10, 25} {
		recs := benchCandidates(n)
		b.Run(fmt.Sprintf("candidates=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Choose(cfg, q, recs)
			}
		})
	}
}
