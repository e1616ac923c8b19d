package worker_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/providersim"
	"github.com/djmeta/enrichment/internal/testinfra"
)

// simStack starts provider-sim with the bundled catalog and returns the
// worker environment pointing at it.
func simStack(t *testing.T, mutate func(*providersim.Config)) (map[string]string, *httptest.Server) {
	t.Helper()
	cat, err := providersim.LoadCatalog("../../testdata/catalog/catalog.json")
	testinfra.Must(t, err, "load catalog")
	cfg := providersim.DefaultConfig()
	// Relaxed limits: this test is about the data path, not pacing.
	cfg.MusicBrainzRate, cfg.MusicBrainzBurst = 1000, 100
	cfg.DiscogsRateLimit = 100000
	cfg.SpotifyRateLimit = 100000
	if mutate != nil {
		mutate(&cfg)
	}
	sim, err := providersim.New(cat, cfg)
	testinfra.Must(t, err, "provider-sim")
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	_, prefix := testinfra.RedisURL(t)
	return map[string]string{
		"PROVIDERS":             "spotify,musicbrainz,discogs",
		"SPOTIFY_CLIENT_ID":     "test-client",
		"SPOTIFY_CLIENT_SECRET": "test-secret",
		"SPOTIFY_API_URL":       srv.URL + "/spotify/v1",
		"SPOTIFY_TOKEN_URL":     srv.URL + "/spotify/api/token",
		"MUSICBRAINZ_API_URL":   srv.URL + "/musicbrainz/ws/2",
		"DISCOGS_API_URL":       srv.URL + "/discogs",
		"DISCOGS_TOKEN":         "test-token",
		"SPOTIFY_RATE":          "500",
		"MUSICBRAINZ_RATE":      "500",
		"DISCOGS_RATE":          "500",
		"CACHE_PREFIX":          prefix,
	}, srv
}

func simStats(t *testing.T, url string) providersim.StatsSnapshot {
	t.Helper()
	resp, err := http.Get(url + "/_stats")
	testinfra.Must(t, err, "GET /_stats")
	defer resp.Body.Close()
	var s providersim.StatsSnapshot
	testinfra.Must(t, json.NewDecoder(resp.Body).Decode(&s), "decode /_stats")
	return s
}

func totalRequests(s providersim.StatsSnapshot) int64 {
	var n int64
	for _, p := range s.Providers {
		n += p.RequestsTotal
	}
	return n
}

func sampleBodies(t *testing.T, n int) []string {
	t.Helper()
	f, err := os.Open("../../testdata/sample/tracks.jsonl")
	testinfra.Must(t, err, "open sample")
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() && len(out) < n {
		out = append(out, sc.Text())
	}
	return out
}

// TestSampleTwiceSecondPassFromCache enriches part of the sample through
// provider-sim, then publishes it again: the second pass is answered from
// the cache and makes no provider request.
func TestSampleTwiceSecondPassFromCache(t *testing.T) {
	t.Parallel()
	env, sim := simStack(t, nil)
	b := setup(t, env)
	b.startWorker(nil)
	bodies := sampleBodies(t, 60)
	for _, body := range bodies {
		b.publishRaw(body, amqp.Publishing{ContentType: "application/json"})
	}
	b.waitStatusRows(len(bodies), 60*time.Second)
	first := totalRequests(simStats(t, sim.URL))
	if first == 0 {
		t.Fatal("first pass made no provider request")
	}
	var matched int
	testinfra.Must(t, b.pool.QueryRow(context.Background(),
		`SELECT count(*) FROM enrichment_status WHERE status IN ('completed', 'partial')`).Scan(&matched), "count matches")
	for _, p := range []string{"spotify", "musicbrainz", "discogs"} {
		if n := b.count(`SELECT count(*) FROM enrichment_status WHERE $1 = ANY(sources)`, p); n == 0 {
			t.Errorf("no track matched by %s", p)
		}
	}
	t.Logf("first pass: %d of %d tracks matched, %d provider requests", matched, len(bodies), first)

	// Second pass under other track ids: the answers are cached per request.
	for i, body := range bodies {
		var m map[string]any
		testinfra.Must(t, json.Unmarshal([]byte(body), &m), "decode sample line")
		m["track_id"] = m["track_id"].(string) + "-again"
		again, _ := json.Marshal(m)
		b.publishRaw(string(again), amqp.Publishing{ContentType: "application/json"})
		_ = i
	}
	b.waitStatusRows(2*len(bodies), 60*time.Second)
	if second := totalRequests(simStats(t, sim.URL)) - first; second != 0 {
		t.Errorf("second pass made %d provider requests, want 0 (all from the cache)", second)
	}
	if got := b.queueDepth(broker.DeadLetterQueue); got != 0 {
		t.Errorf("DLQ depth = %d, want 0", got)
	}
}
