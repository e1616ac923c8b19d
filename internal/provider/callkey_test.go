package provider

import (
	"net/url"
	"testing"
)

// TestCallKey: requests a provider answers alike share a key (search terms
// in another case or spacing, parameters in another order); requests it
// answers differently do not (other terms, other parameters, ids whose
// case matters).
func TestCallKey(t *testing.T) {
	search := func(pairs ...string) url.Values {
		v := url.Values{}
		for i := 0; i < len(pairs); i += 2 {
			v.Add(pairs[i], pairs[i+1])
		}
		return v
	}
	base := CallKey("/database/search", search("type", "release", "artist", "Bicep", "track", "Apricots"), "artist", "track")
	tests := []struct {
		name   string
		key    string
		shared bool
	}{
		{"letter case of the terms", CallKey("/database/search", search("type", "release", "artist", "BICEP", "track", "apricots"), "artist", "track"), true},
		{"white space in the terms", CallKey("/database/search", search("type", "release", "artist", "  Bicep ", "track", "Apricots"), "artist", "track"), true},
		{"parameter order", CallKey("/database/search", search("track", "Apricots", "artist", "Bicep", "type", "release"), "artist", "track"), true},
		{"another track", CallKey("/database/search", search("type", "release", "artist", "Bicep", "track", "Glue"), "artist", "track"), false},
		{"another parameter", CallKey("/database/search", search("type", "master", "artist", "Bicep", "track", "Apricots"), "artist", "track"), false},
		{"case of a value that is not a search term", CallKey("/database/search", search("type", "RELEASE", "artist", "Bicep", "track", "Apricots"), "artist", "track"), false},
		{"another path", CallKey("/releases/1", search("type", "release", "artist", "Bicep", "track", "Apricots"), "artist", "track"), false},
	}
	for _, tt := range tests {
		if got := tt.key == base; got != tt.shared {
			t.Errorf("%s: key %q vs %q: shared = %v, want %v", tt.name, tt.key, base, got, tt.shared)
		}
	}
	// Spotify track ids are case-sensitive: the path keeps its case.
	if CallKey("/tracks/6NPVjNh8Jhru9xOmyQigds", nil) == CallKey("/tracks/6npvjnh8jhru9xomyqigds", nil) {
		t.Errorf("two Spotify ids that differ in case share a key")
	}
}
