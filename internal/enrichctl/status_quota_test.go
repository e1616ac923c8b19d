package enrichctl

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/redis/go-redis/v9"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/ratelimit"
	"github.com/djmeta/enrichment/internal/testinfra"
)

// TestStatusShowsQuotaUseAndETA: the fleet's limiter counts its requests
// in Redis; status shows each provider's use of its rate, the backlog of
// its schedule, and how long the queued tasks take at the recent pace.
func TestStatusShowsQuotaUseAndETA(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	ctx := context.Background()
	opts, err := redis.ParseURL(s.env["REDIS_URL"])
	testinfra.Must(t, err, "redis url")
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	prefix := s.env["CACHE_PREFIX"]
	// 30 requests sent (a fast limiter: their slots are all now), then a
	// throttling answer pushes the fleet's schedule 30 s ahead.
	mb, err := ratelimit.New(rdb, ratelimit.Config{Provider: "musicbrainz", Rate: 10000, Prefix: prefix})
	testinfra.Must(t, err, "limiter")
	const sent = 30
	for range sent {
		_, err := mb.Reserve(ctx, -1)
		testinfra.Must(t, err, "reserve")
	}
	mb.Pause(ctx, 30*time.Second)
	// 20 tasks settled in the last minutes, 40 queued.
	s.exec(`INSERT INTO tracks (id, artist, title) SELECT 'p' || g, 'A', 'T' FROM generate_series(1, 20) g`)
	s.exec(`INSERT INTO enrichment_status (track_id, status, sources, confidence) SELECT 'p' || g, 'completed', '{musicbrainz}', 0.9 FROM generate_series(1, 20) g`)
	for i := range 40 {
		testinfra.Must(t, s.sess.Publish(ctx, broker.Exchange, broker.RoutingKey, amqp.Publishing{
			ContentType: "application/json", DeliveryMode: amqp.Persistent,
			Body: fmt.Appendf(nil, `{"track_id":"q%d","artist":"A","title":"T"}`, i),
		}), "publish")
	}
	s.waitDepth(broker.WorkQueue, 40)

	r := s.status(map[string]string{"PROVIDERS": "musicbrainz"}, "--dlq-sample", "0", "--no-refresh")
	if len(r.Errors) > 0 {
		t.Fatalf("status errors: %v", r.Errors)
	}
	if len(r.Providers) != 1 {
		t.Fatalf("providers = %+v, want musicbrainz alone (PROVIDERS)", r.Providers)
	}
	p := r.Providers[0]
	if p.Provider != "musicbrainz" || p.Sent != sent || p.RatePerSecond != 1 || p.WindowSeconds != 600 {
		t.Errorf("musicbrainz = %+v, want %d sent in 600s at 1/s", p, sent)
	}
	if want := float64(sent) / 600; p.Used < want-1e-9 || p.Used > want+1e-9 {
		t.Errorf("used = %v, want %v", p.Used, want)
	}
	if p.BacklogSeconds < 25 || p.BacklogSeconds > 30 {
		t.Errorf("backlog = %.1fs, want about 30s (the pause)", p.BacklogSeconds)
	}
	b := r.Backlog
	if b == nil || b.Pending != 40 || b.Settled != 20 || b.TasksPerMinute != 2 || b.ETASeconds == nil || *b.ETASeconds != 1200 {
		t.Errorf("backlog estimate = %+v, want 40 pending, 20 settled (2/min), 1200s to go", b)
	}
	out, _, err := s.run(map[string]string{"PROVIDERS": "musicbrainz"}, "status", "--dlq-sample", "0", "--no-refresh")
	testinfra.Must(t, err, "status table")
	for _, want := range []string{"musicbrainz", "at quota", "backlog: 40 tasks", "about 20m0s to go"} {
		if !strings.Contains(out, want) {
			t.Errorf("status table lacks %q:\n%s", want, out)
		}
	}
}
