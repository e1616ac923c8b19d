package providersim

import (
	"net/http"
	"net/url"
	"strconv"
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

// BenchmarkServe serves typical worker requests over HTTP (loopback, keep-alive),
// one sub-benchmark per endpoint: provider-sim's CPU per request beside the
// workers' in `make bench`.
func BenchmarkServe(b *testing.B) {
	h := newHarness(b, testConfig())
	sp := "Authorization: Bearer " + h.token("bench", "s")
	rel := strconv.FormatInt(testCatalog(b).Releases[0].DiscogsID, 10)
	for _, bb := range []struct {
		name, path string
		headers    []string
	}{
		{"spotify search", spBase + "/search" + q("q", `track:"Apricots (Extended Mix)" artist:"Bicep"`, "type", "track", "limit", "10"), []string{sp}},
		{"musicbrainz search", mbBase + "/recording" + q("query", `recording:"Apricots" AND artist:"Bicep"`, "fmt", "json", "limit", "10"), []string{goodMBUA}},
		{"discogs search", dgBase + "/database/search" + q("type", "release", "artist", "Bicep", "track", "Apricots"), []string{goodDGUA, dgToken}},
		{"discogs release", dgBase + "/releases/" + rel, []string{goodDGUA, dgToken}},
	} {
		b.Run(bb.name, func(b *testing.B) {
			if r := h.get(bb.path, bb.headers...); r.status != http.StatusOK {
				b.Fatalf("GET %s: status %d %s", bb.path, r.status, r.body)
			}
			for b.Loop() {
				h.get(bb.path, bb.headers...)
			}
		})
	}
}
