package providersim

import (
	"net/url"
	"testing"
)

func TestRequestKey(t *testing.T) {
	key := func(provider, raw string) string {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return RequestKey(provider, u)
	}
	tests := []struct {
		name     string
		provider string
		a, b     string
		same     bool
	}{
		{"search terms in another case and order", ProviderDiscogs,
			"/discogs/database/search?artist=Bicep&track=Apricots&type=release&token=a",
			"/discogs/database/search?type=release&track=APRICOTS&artist=bicep&token=b", true},
		{"credentials do not count", ProviderDiscogs, "/discogs/releases/1?token=a", "/discogs/releases/1?token=b", true},
		{"MusicBrainz ids in another case", ProviderMusicBrainz,
			"/musicbrainz/ws/2/isrc/GBAHT1600302?fmt=json", "/musicbrainz/ws/2/isrc/gbaht1600302?fmt=json", true},
		{"Spotify ids in another case", ProviderSpotify, "/spotify/v1/tracks/AbC", "/spotify/v1/tracks/abc", false},
		{"another release", ProviderDiscogs, "/discogs/releases/1", "/discogs/releases/2", false},
	}
	for _, tt := range tests {
		if got := key(tt.provider, tt.a) == key(tt.provider, tt.b); got != tt.same {
			t.Errorf("%s: %q and %q share a key = %v, want %v", tt.name, tt.a, tt.b, got, tt.same)
		}
	}
}
