package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/providersim"
	"github.com/djmeta/enrichment/internal/testinfra"
)

// TestCoalescingFiftyCopies publishes the same track 50 times at once to 4
// workers: the fleet makes exactly the provider requests one copy needs.
func TestCoalescingFiftyCopies(t *testing.T) {
	t.Parallel()
	env, sim := simStack(t, nil)
	env["WORKER_CONCURRENCY"] = "32"
	env["PREFETCH_COUNT"] = "64"
	b := setup(t, env)
	track := `{"track_id":%q,"artist":"Bicep","title":"Apricots (Extended Mix)"}`

	// One copy, alone, on a cold cache: the requests one task needs.
	one := b.startWorker(nil)
	b.publishRaw(fmt.Sprintf(track, "solo"), amqp.Publishing{ContentType: "application/json"})
	b.waitStatusRows(1, 30*time.Second)
	need := totalRequests(simStats(t, sim.URL))
	testinfra.Must(t, one.stop(), "stop worker")
	if need == 0 {
		t.Fatal("one task made no provider request")
	}

	// 50 copies at once on another cold cache, 4 workers.
	_, prefix := testinfra.RedisURL(t)
	b.cfg.CachePrefix = prefix
	for range 4 {
		b.startWorker(nil)
	}
	before := totalRequests(simStats(t, sim.URL))
	ctx := context.Background()
	var pending []*broker.Pending
	for i := range 50 {
		p, err := b.sess.PublishAsync(ctx, broker.Exchange, broker.RoutingKey, amqp.Publishing{
			ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: fmt.Appendf(nil, track, fmt.Sprint("copy", i))})
		testinfra.Must(t, err, "publish")
		pending = append(pending, p)
	}
	for _, p := range pending {
		testinfra.Must(t, p.Wait(ctx), "confirm")
	}
	b.waitStatusRows(51, 60*time.Second)
	got := totalRequests(simStats(t, sim.URL)) - before
	t.Logf("one task needs %d provider requests; 50 copies on 4 workers made %d (coalescing ratio %.2f)", need, got, float64(got)/float64(need))
	if got != need {
		t.Errorf("50 copies made %d provider requests, want %d (one copy's)", got, need)
	}
}

// TestFleetRespectsProviderRates is the fleet quota test (make fleet): 4
// workers with high concurrency enrich 2,000 tasks with many repeats; the
// simulator checks that MusicBrainz never sees more than its rate in any
// second and Discogs never more than its limit in any minute. Rates are
// scaled up from the real ones (1/s, 60/min) so the run takes about a minute.
func TestFleetRespectsProviderRates(t *testing.T) {
	if os.Getenv("ENRICH_FLEET_TEST") == "" {
		t.Skip("long fleet test: run with make fleet (ENRICH_FLEET_TEST=1)")
	}
	const mbRate, dgPerMin = 5, 600
	env, sim := simStack(t, func(c *providersim.Config) {
		c.MusicBrainzRate, c.MusicBrainzBurst = mbRate, 1
		c.DiscogsRateLimit = dgPerMin
	})
	env["MUSICBRAINZ_RATE"] = fmt.Sprint(mbRate)
	env["DISCOGS_RATE"] = fmt.Sprint(float64(dgPerMin) / 60)
	env["WORKER_CONCURRENCY"] = "64"
	env["PREFETCH_COUNT"] = "128"
	env["TASK_TIMEOUT"] = "10m"
	b := setup(t, env)
	for range 4 {
		b.startWorker(nil)
	}
	bodies := sampleBodies(t, 1000)
	ctx := context.Background()
	const n = 2000
	start := time.Now()
	var pending []*broker.Pending
	for i := range n {
		var m map[string]any
		testinfra.Must(t, json.Unmarshal([]byte(bodies[i%len(bodies)]), &m), "decode")
		m["track_id"] = fmt.Sprint("fleet", i)
		body, _ := json.Marshal(m)
		p, err := b.sess.PublishAsync(ctx, broker.Exchange, broker.RoutingKey, amqp.Publishing{
			ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: body})
		testinfra.Must(t, err, "publish")
		pending = append(pending, p)
	}
	for _, p := range pending {
		testinfra.Must(t, p.Wait(ctx), "confirm")
	}
	b.waitStatusRows(n, 15*time.Minute)
	elapsed := time.Since(start)
	st := simStats(t, sim.URL)
	mb, dg := st.Providers["musicbrainz"], st.Providers["discogs"]
	t.Logf("%d tasks in %s; musicbrainz: %d requests, max %d/s, %d limited; discogs: %d requests, max %d/min, %d limited; spotify: %d requests",
		n, elapsed.Round(time.Second), mb.RequestsTotal, mb.MaxPerSecond, mb.RateLimitedTotal,
		dg.RequestsTotal, dg.MaxPerMinute, dg.RateLimitedTotal, st.Providers["spotify"].RequestsTotal)
	if mb.RateLimitedTotal != 0 || mb.MaxPerSecond > mbRate+1 {
		t.Errorf("musicbrainz: %d rate-limit violations, max %d in a second; want 0 and at most %d", mb.RateLimitedTotal, mb.MaxPerSecond, mbRate+1)
	}
	if dg.RateLimitedTotal != 0 || dg.MaxPerMinute > dgPerMin+1 {
		t.Errorf("discogs: %d rate-limit violations, max %d in a minute; want 0 and at most %d", dg.RateLimitedTotal, dg.MaxPerMinute, dgPerMin+1)
	}
	// Utilisation: MusicBrainz is the bottleneck; while the queue was
	// non-empty the fleet should use at least 90% of its rate.
	// over the whole run, tail included, so a lower bound.
	util := float64(mb.RequestsTotal) / (elapsed.Seconds() * mbRate)
	t.Logf("musicbrainz utilisation %.2f of the allowed rate over the whole run (tail included)", util)
	if util < 0.85 {
		t.Errorf("musicbrainz utilisation %.2f, want at least 0.9 while busy", util)
	}
	if got := b.queueDepth(broker.DeadLetterQueue); got != 0 {
		t.Errorf("DLQ depth = %d, want 0", got)
	}
}
