package providersim

import (
	"net/url"
	"testing"
)

func BenchmarkSearch(b *testing.B) {
	cat, err := LoadCatalog(catalogPath)
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(cat, testConfig())
	if err != nil {
		b.Fatal(err)
	}
	b.Run("spotify", func(b *testing.B) {
		sq := parseSpotifyQuery(`track:"Apricots (Extended Mix)" artist:"Bicep"`)
		for b.Loop() {
			s.searchSpotify(sq)
		}
	})
	b.Run("musicbrainz", func(b *testing.B) {
		cl := parseLucene(`recording:"Apricots \(Extended Mix\)" AND artist:"Bicep"`)
		for b.Loop() {
			s.searchMusicBrainz(cl)
		}
	})
	b.Run("discogs", func(b *testing.B) {
		v := url.Values{"type": {"release"}, "artist": {"Bicep"}, "track": {"Apricots (Extended Mix)"}}
		for b.Loop() {
			s.searchDiscogs(v)
		}
	})
}
