package eval

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/djmeta/enrichment/internal/cache"
	"github.com/djmeta/enrichment/internal/enrich"
	"github.com/djmeta/enrichment/internal/match"
	"github.com/djmeta/enrichment/internal/providersim"
	"github.com/djmeta/enrichment/internal/testinfra"
)

// BenchmarkEnrichWarm is one task's enrichment on a warm cache: the real
// clients against provider-sim, the real Redis cache, the labelled set's
// 610 tasks in turn (every answer cached before the clock starts). It is
// the CPU a worker spends per task besides the broker and the database.
func BenchmarkEnrichWarm(b *testing.B) {
	cases, err := LoadCases(casesPath)
	testinfra.Must(b, err, "load cases")
	cat, err := providersim.LoadCatalog(catalogPath)
	testinfra.Must(b, err, "load catalog")
	simCfg := providersim.DefaultConfig()
	simCfg.SpotifyRateLimit, simCfg.DiscogsRateLimit, simCfg.MusicBrainzRate = 0, 0, 0
	sim, err := providersim.New(cat, simCfg)
	testinfra.Must(b, err, "provider-sim")
	srv := httptest.NewServer(sim.Handler())
	b.Cleanup(srv.Close)
	var requests atomic.Int64
	clis, err := clients(srv.URL, countingTransport{next: http.DefaultTransport, n: &requests})
	testinfra.Must(b, err, "clients")

	rdb, prefix := testinfra.Redis(b)
	ctx := context.Background()
	sources := make([]enrich.Source, 0, len(clis))
	for _, c := range clis {
		sources = append(sources, enrich.Source{Client: c})
	}
	engine := enrich.NewEngine(sources, cache.New(rdb, cache.Config{Prefix: prefix}), match.DefaultConfig(), nil)
	for _, c := range cases {
		if _, err := engine.Enrich(ctx, c.Task); err != nil {
			b.Fatalf("warm-up %s: %v", c.Task.TrackID, err)
		}
	}
	before := requests.Load()
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, err := engine.Enrich(ctx, cases[i%len(cases)].Task); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.StopTimer()
	if n := requests.Load() - before; n != 0 {
		b.Fatalf("provider requests during the warm runs: %d, want 0", n)
	}
}
