package worker_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/djmeta/enrichment/internal/enrichctl"
	"github.com/djmeta/enrichment/internal/testinfra"
)

// TestBreakerPartialThenBackfill: Discogs answers 500s; its breaker opens,
// tasks finish partial at once (matched by the other providers) instead of
// waiting for timeouts; once Discogs is back, `enrichctl backfill --partial`
// completes them.
func TestBreakerPartialThenBackfill(t *testing.T) {
	t.Parallel()
	env, sim := simStack(t, nil)
	var discogsDown atomic.Bool
	discogsDown.Store(true)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if discogsDown.Load() && strings.HasPrefix(r.URL.Path, "/discogs/") {
			http.Error(w, `{"message": "internal error"}`, http.StatusInternalServerError)
			return
		}
		sim.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	env["DISCOGS_API_URL"] = front.URL + "/discogs"
	env["CIRCUIT_FAILURES"] = "3"
	env["CIRCUIT_OPEN_TIMEOUT"] = "300ms"
	b := setup(t, env)
	rw := b.startWorker(nil)

	bodies := sampleBodies(t, 40)
	start := time.Now()
	for _, body := range bodies {
		b.publishRaw(body, amqp.Publishing{ContentType: "application/json"})
	}
	b.waitStatusRows(len(bodies), 60*time.Second)
	elapsed := time.Since(start)
	partial := b.count(`SELECT count(*) FROM enrichment_status WHERE status = 'partial'`)
	if partial == 0 {
		t.Fatal("no task ended partial while Discogs was down")
	}
	if n := b.count(`SELECT count(*) FROM enrichment_status WHERE 'discogs' = ANY(sources)`); n != 0 {
		t.Errorf("%d tasks matched on Discogs while it was down", n)
	}
	if !strings.Contains(body(rw.addr, "/metrics"), `enrichment_circuit_breaker_state{provider="discogs"} 2`) &&
		!strings.Contains(body(rw.addr, "/metrics"), `enrichment_circuit_breaker_state{provider="discogs"} 1`) {
		t.Errorf("the Discogs breaker is not open (or half-open) after sustained 500s")
	}
	t.Logf("%d tasks in %s with Discogs down: %d partial", len(bodies), elapsed.Round(time.Millisecond), partial)

	discogsDown.Store(false)
	// Recovery as an operator sees it: the breaker's open window
	// (CIRCUIT_OPEN_TIMEOUT) has passed, so the next call is its probe.
	time.Sleep(400 * time.Millisecond)
	var out bytes.Buffer
	err := enrichctl.Main(context.Background(), []string{"backfill", "--partial", "--missing=false", "--quiet",
		"--max-rate", "0", "--amqp-url", b.cfg.AMQPURL, "--database-url", b.cfg.DatabaseURL},
		enrichctl.Env{Stdout: &out, Stderr: &out})
	testinfra.Must(t, err, "backfill: "+out.String())
	t.Logf("backfill: %s", out.String())
	testinfra.Eventually(t, 60*time.Second, "no partial task left", func() (bool, error) {
		n := b.count(`SELECT count(*) FROM enrichment_status WHERE status = 'partial'`)
		var last string
		_ = b.pool.QueryRow(context.Background(), `SELECT coalesce(t.metadata->'providers'->>'discogs','') || ' ' || s.updated_at::text FROM enrichment_status s JOIN tracks t ON t.id = s.track_id WHERE s.status='partial' LIMIT 1`).Scan(&last)
		return n == 0, fmt.Errorf("%d partial, e.g. %s", n, last)
	})
	if n := b.count(`SELECT count(*) FROM enrichment_status WHERE 'discogs' = ANY(sources)`); n == 0 {
		t.Errorf("no task matched on Discogs after recovery")
	}
}
