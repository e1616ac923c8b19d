package worker_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/djmeta/enrichment/internal/enrichctl"
	"github.com/djmeta/enrichment/internal/providersim"
	"github.com/djmeta/enrichment/internal/testinfra"
)

// TestBadDiscogsTokenTurnsDiscogsOffFleetWide: two workers run with a
// Discogs token the provider refuses (401). Discogs is turned off for the
// fleet at its first refusal: the other worker sends it nothing more, every
// task finishes partial (or without any match, still partial) with its first
// attempt and nothing in a retry tier or the DLQ. Workers restarted with
// the right token ignore the switch, and `enrichctl backfill --partial`
// completes the tasks.
func TestBadDiscogsTokenTurnsDiscogsOffFleetWide(t *testing.T) {
	t.Parallel()
	env, sim := simStack(t, func(c *providersim.Config) { c.DiscogsTokens = []string{"right-token"} })
	env["DISCOGS_TOKEN"] = "wrong-token"
	b := setup(t, env)
	w1, w2 := b.startWorker(nil), b.startWorker(nil)

	bodies := sampleBodies(t, 40)
	start := time.Now()
	for _, body := range bodies {
		b.publishRaw(body, amqp.Publishing{ContentType: "application/json"})
	}
	b.waitStatusRows(len(bodies), 60*time.Second)
	t.Logf("%d tasks settled in %s with a refused Discogs token", len(bodies), time.Since(start).Round(time.Millisecond))
	// Placeholders ("ID - ID") ask no provider and end not_found.
	if n := b.count(`SELECT count(*) FROM enrichment_status s JOIN tracks t ON t.id = s.track_id
		WHERE s.status <> 'partial' AND coalesce(t.metadata->>'reason', '') <> 'placeholder'`); n != 0 {
		t.Errorf("%d tasks did not finish partial, want every one partial (Discogs could not be asked)", n)
	}
	if n := b.count(`SELECT count(*) FROM enrichment_status WHERE attempts <> 1`); n != 0 {
		t.Errorf("%d tasks spent more than one attempt, want none (a refused credential is not the task's failure)", n)
	}
	if n := b.queueDepth("metadata_enrichment_dlq"); n != 0 {
		t.Errorf("DLQ holds %d, want 0", n)
	}
	dg := simStats(t, sim.URL).Providers["discogs"]
	t.Logf("discogs answered %d requests: %v", dg.RequestsTotal, dg.Status)
	// Each worker may have had a few Discogs calls in flight when the
	// first refusal came; after it, none.
	if dg.RequestsTotal > 2*16 || dg.Status["401"] != dg.RequestsTotal {
		t.Errorf("discogs saw %d requests (%v), want only the few refused ones in flight at the first refusal", dg.RequestsTotal, dg.Status)
	}
	for i, w := range []*runningWorker{w1, w2} {
		// Every worker reports it, calling Discogs or not, within the
		// interval it reads the switch at (5 s).
		testinfra.Eventually(t, 10*time.Second, fmt.Sprintf("worker %d to report Discogs off", i+1), func() (bool, error) {
			return strings.Contains(body(w.addr, "/metrics"), `enrichment_provider_disabled{provider="discogs"} 1`), nil
		})
		m := body(w.addr, "/metrics")
		if strings.Contains(m, `enrichment_retries_total{tier=`) && !strings.Contains(m, `enrichment_retries_total{tier="100ms"} 0`) {
			t.Errorf("a worker retried tasks:\n%s", grep(m, "enrichment_retries_total"))
		}
	}
	testinfra.Must(t, w1.stop(), "stop worker 1")
	testinfra.Must(t, w2.stop(), "stop worker 2")

	// The fix: the right token, a restart, a backfill of the partial tasks.
	b.cfg.DiscogsToken = "right-token"
	w3 := b.startWorker(nil)
	var out bytes.Buffer
	err := enrichctl.Main(context.Background(), []string{"backfill", "--partial", "--missing=false", "--quiet",
		"--max-rate", "0", "--amqp-url", b.cfg.AMQPURL, "--database-url", b.cfg.DatabaseURL},
		enrichctl.Env{Stdout: &out, Stderr: &out})
	testinfra.Must(t, err, "backfill: "+out.String())
	testinfra.Eventually(t, 60*time.Second, "the partial tasks completed", func() (bool, error) {
		n := b.count(`SELECT count(*) FROM enrichment_status WHERE status = 'partial'`)
		return n == 0, fmt.Errorf("%d partial", n)
	})
	if n := b.count(`SELECT count(*) FROM enrichment_status WHERE 'discogs' = ANY(sources)`); n == 0 {
		t.Errorf("no task matched on Discogs after the fix")
	}
	if m := body(w3.addr, "/metrics"); !strings.Contains(m, `enrichment_provider_disabled{provider="discogs"} 0`) {
		t.Errorf("the restarted worker reports Discogs disabled")
	}
}

// grep returns the lines of s that contain sub.
func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
