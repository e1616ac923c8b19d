package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/djmeta/enrichment/internal/enrichctl"
	"github.com/djmeta/enrichment/internal/store"
	"github.com/djmeta/enrichment/internal/testinfra"
)

// TestOverridesStick is issue 19's acceptance for overrides, on a real
// worker, broker, database, cache and provider-sim: an accepted override
// (another MusicBrainz recording than the matcher chose) and a rejected
// provider (Spotify: no match exists) are applied to their rows at once and
// survive `backfill --older-than 0s --force-refresh` and `rematch`; the
// override keyed by artist and title decides a new track id of the same
// track, forced to refresh, without a MusicBrainz request; export, wipe and
// import restore the same overrides.
func TestOverridesStick(t *testing.T) {
	t.Parallel()
	env, sim := simStack(t, nil)
	b := setup(t, env)
	w := b.startWorker(nil)
	ctlEnv := map[string]string{"DATABASE_URL": b.cfg.DatabaseURL, "AMQP_URL": b.cfg.AMQPURL, "REDIS_URL": b.cfg.RedisURL,
		"LOG_LEVEL": "error"}
	for k, v := range env {
		ctlEnv[k] = v
	}
	ctl := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		err := enrichctl.Main(ctx, args, enrichctl.Env{Stdout: &out, Stderr: &out, Environ: ctlEnv})
		testinfra.Must(t, err, strings.Join(args, " ")+": "+out.String())
		return out.String()
	}
	str := func(q string, args ...any) string {
		t.Helper()
		var s *string
		testinfra.Must(t, b.pool.QueryRow(context.Background(), q, args...).Scan(&s), q)
		if s == nil {
			return ""
		}
		return *s
	}

	bodies := sampleBodies(t, 20)
	for _, body := range bodies {
		b.publishRaw(body, amqp.Publishing{ContentType: "application/json"})
	}
	b.waitStatusRows(len(bodies), 60*time.Second)
	const (
		glue, baby = "set01-t01", "set01-t02" // Bicep - Glue, Four Tet - Baby
		apricotsMB = "d525fbc7-104c-4001-9200-0ce418fc2178"
	)
	if got := str(`SELECT musicbrainz_id::text FROM tracks WHERE id = $1`, glue); got == "" || got == apricotsMB {
		t.Fatalf("Glue's MusicBrainz id before the override = %q, want the matcher's own", got)
	}
	if got := str(`SELECT spotify_id FROM tracks WHERE id = $1`, baby); got == "" {
		t.Fatalf("Baby has no Spotify id before the override")
	}

	// The decisions, applied at once.
	ctl("review", "accept", glue, "musicbrainz", apricotsMB, "--by", "alice")
	ctl("review", "reject", baby, "spotify", "--by", "bob", "--scope", "track")
	check := func(when string) {
		t.Helper()
		if got := str(`SELECT musicbrainz_id::text FROM tracks WHERE id = $1`, glue); got != apricotsMB {
			t.Errorf("%s: Glue's MusicBrainz id = %q, want the accepted %s", when, got, apricotsMB)
		}
		if got := str(`SELECT metadata->'fields'->'musicbrainz_id'->>'source' FROM tracks WHERE id = $1`, glue); got != "override" {
			t.Errorf("%s: the MusicBrainz id's source = %q, want override", when, got)
		}
		if got := str(`SELECT metadata->'fields'->'musicbrainz_id'->>'by' FROM tracks WHERE id = $1`, glue); got != "alice" {
			t.Errorf("%s: the override's author = %q, want alice", when, got)
		}
		if got := str(`SELECT spotify_id FROM tracks WHERE id = $1`, baby); got != "" {
			t.Errorf("%s: Baby's Spotify id = %q, want none (rejected)", when, got)
		}
		if got := str(`SELECT array_to_string(sources, ',') FROM enrichment_status WHERE track_id = $1`, baby); strings.Contains(got, "spotify") {
			t.Errorf("%s: Baby's sources = %q, want no spotify", when, got)
		}
	}
	check("after the decisions")

	// A full re-enrichment, forced past the cache.
	tasksDone := func() float64 { return metricSum(body(w.addr, "/metrics"), "enrichment_tasks_total") }
	before := tasksDone()
	out := ctl("backfill", "--older-than", "0s", "--force-refresh", "--quiet", "--max-rate", "0")
	testinfra.Eventually(t, 60*time.Second, "the backfill enriched every row again", func() (bool, error) {
		n := tasksDone() - before
		return n >= float64(len(bodies)), fmt.Errorf("%v of %d done; backfill said %s", n, len(bodies), out)
	})
	check("after backfill --force-refresh")

	// rematch of every row: decided again, the overrides hold.
	out = ctl("rematch", "--all", "--quiet")
	t.Logf("rematch: %s", out)
	check("after rematch")

	// A new track id of the same track, forced to refresh: MusicBrainz is
	// decided by the name override, without a request; the others are asked.
	statsBefore := simStats(t, sim.URL)
	b.publishRaw(`{"track_id":"new-glue","artist":"BICEP","title":"Glue","force_refresh":true}`, amqp.Publishing{ContentType: "application/json"})
	b.waitStatusRows(len(bodies)+1, 30*time.Second)
	statsAfter := simStats(t, sim.URL)
	if got := str(`SELECT musicbrainz_id::text FROM tracks WHERE id = 'new-glue'`); got != apricotsMB {
		t.Errorf("new-glue's MusicBrainz id = %q, want the name override's %s", got, apricotsMB)
	}
	mb := statsAfter.Providers["musicbrainz"].RequestsTotal - statsBefore.Providers["musicbrainz"].RequestsTotal
	sp := statsAfter.Providers["spotify"].RequestsTotal - statsBefore.Providers["spotify"].RequestsTotal
	if mb != 0 {
		t.Errorf("MusicBrainz requests for new-glue = %d, want 0 (the override decides it)", mb)
	}
	if sp == 0 {
		t.Errorf("Spotify requests for new-glue = 0, want some (the task was forced past the cache)")
	}

	// Export, wipe, import.
	st, err := store.Open(context.Background(), b.cfg.DatabaseURL, 2)
	testinfra.Must(t, err, "open store")
	defer st.Close()
	want, err := st.AllOverrides(context.Background())
	testinfra.Must(t, err, "read overrides")
	if len(want) != 3 { // Glue by track and by name, Baby by track
		t.Fatalf("overrides = %d, want 3", len(want))
	}
	file := filepath.Join(t.TempDir(), "overrides.jsonl")
	ctl("review", "export", "--file", file)
	if _, err := b.pool.Exec(context.Background(), `DELETE FROM match_overrides`); err != nil {
		t.Fatal(err)
	}
	ctl("review", "import", "--file", file)
	got, err := st.AllOverrides(context.Background())
	testinfra.Must(t, err, "read overrides")
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("overrides after export, wipe and import differ (-before +after):\n%s", diff)
	}
	raw, err := os.ReadFile(file)
	testinfra.Must(t, err, "read export")
	for i, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		var o store.OverrideRecord
		if err := json.Unmarshal(line, &o); err != nil || o.Validate() != nil {
			t.Errorf("export line %d is not a valid override: %v %v", i+1, err, o.Validate())
		}
	}
}

// metricSum adds every sample of a metric family in a Prometheus text
// exposition.
func metricSum(exposition, name string) float64 {
	var sum float64
	for _, l := range strings.Split(exposition, "\n") {
		if !strings.HasPrefix(l, name+"{") && !strings.HasPrefix(l, name+" ") {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(l[strings.LastIndexByte(l, ' ')+1:], &v); err == nil {
			sum += v
		}
	}
	return sum
}
