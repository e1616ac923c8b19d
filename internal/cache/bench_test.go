package cache_test

import (
	"testing"

	"github.com/djmeta/enrichment/internal/cache"
	"github.com/djmeta/enrichment/internal/provider"
)

// Micro-benchmarks (make bench runs them; compare runs with benchstat).

func BenchmarkKey(b *testing.B) {
	c := cache.New(nil, cache.Config{Prefix: "bench:"})
	keys := []struct {
		name, kind string
		parts      []string
	}{
		{"search", cache.KindSearch, []string{"Bicep feat. Clara La San", "Saku (Sasha Remix)"}},
		{"isrc", cache.KindISRC, []string{"GBAUJ1749341"}},
		{"lookup", cache.KindLookup, []string{"p6zIP050DJsdSYjOtGiqqm"}},
	}
	for _, k := range keys {
		b.Run(k.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.Key(provider.Spotify, k.kind, k.parts...)
			}
		})
	}
}
