package enrichctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/config"
	"github.com/djmeta/enrichment/internal/store"
	"github.com/djmeta/enrichment/internal/task"
	"github.com/djmeta/enrichment/internal/testinfra"
)

// stack is one test's isolated database and vhost with the topology
// declared, and the environment enrichctl runs with.
type stack struct {
	t    *testing.T
	env  map[string]string
	st   *store.Store
	sess *broker.Session
	topo broker.Topology
}

func newStack(t *testing.T) *stack {
	t.Helper()
	dbURL := testinfra.MigratedDatabase(t)
	amqpURL := testinfra.VHost(t)
	api := os.Getenv("TEST_RABBITMQ_API")
	if api == "" {
		api = "http://guest:guest@127.0.0.1:15672"
	}
	redisURL, prefix := testinfra.RedisURL(t)
	env := map[string]string{
		"DATABASE_URL":     dbURL,
		"AMQP_URL":         amqpURL,
		"RETRY_DELAYS":     "100ms,200ms",
		"RABBITMQ_API_URL": api,
		"REDIS_URL":        redisURL,
		"CACHE_PREFIX":     prefix,
	}
	cfg, err := config.LoadCommon(env)
	testinfra.Must(t, err, "config")
	topo := broker.NewTopology(cfg.RetryDelays, cfg.DeliveryLimit)
	testinfra.Must(t, topo.DeclareWithRetry(context.Background(), amqpURL, 5*time.Second, zap.NewNop()), "declare topology")
	st, err := store.Open(context.Background(), dbURL, 4)
	testinfra.Must(t, err, "open store")
	t.Cleanup(st.Close)
	sess, err := broker.Dial(amqpURL, "enrichctl-test")
	testinfra.Must(t, err, "dial broker")
	t.Cleanup(func() { _ = sess.Close() })
	return &stack{t: t, env: env, st: st, sess: sess, topo: topo}
}

// run runs one enrichctl command line.
func (s *stack) run(env map[string]string, args ...string) (stdout, stderr string, err error) {
	s.t.Helper()
	e := map[string]string{}
	for k, v := range s.env {
		e[k] = v
	}
	for k, v := range env {
		e[k] = v
	}
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = Main(ctx, args, Env{Stdout: &out, Stderr: &errOut, Environ: e})
	return out.String(), errOut.String(), err
}

func (s *stack) exec(sql string, args ...any) {
	s.t.Helper()
	_, err := s.st.Pool().Exec(context.Background(), sql, args...)
	testinfra.Must(s.t, err, "exec "+sql)
}

// depth is a queue's ready count (a passive declare never changes it).
func (s *stack) depth(q string) int {
	s.t.Helper()
	ch, err := s.sess.Connection().Channel()
	testinfra.Must(s.t, err, "open channel")
	defer ch.Close()
	st, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
	testinfra.Must(s.t, err, "inspect "+q)
	return st.Messages
}

// waitDepth waits until q holds n ready messages.
func (s *stack) waitDepth(q string, n int) {
	s.t.Helper()
	testinfra.Eventually(s.t, 10*time.Second, fmt.Sprintf("%d messages in %s", n, q), func() (bool, error) {
		got := s.depth(q)
		return got == n, fmt.Errorf("%d messages", got)
	})
}

// drain takes exactly n messages from q and checks that no more are left.
func (s *stack) drain(q string, n int) []amqp.Delivery {
	s.t.Helper()
	ch, err := s.sess.Connection().Channel()
	testinfra.Must(s.t, err, "open channel")
	defer ch.Close()
	testinfra.Must(s.t, ch.Qos(1000, 0, false), "qos")
	ds, err := ch.Consume(q, "", true, false, false, false, nil)
	testinfra.Must(s.t, err, "consume "+q)
	out := make([]amqp.Delivery, 0, n)
	timeout := time.After(30 * time.Second)
	for len(out) < n {
		select {
		case d := <-ds:
			out = append(out, d)
		case <-timeout:
			s.t.Fatalf("drain %s: got %d messages, want %d", q, len(out), n)
		}
	}
	if left := s.depth(q); left != 0 {
		s.t.Fatalf("drain %s: %d messages left after taking %d", q, left, n)
	}
	return out
}

// seedTracks inserts n never-enriched tracks t00001...
func (s *stack) seedTracks(n int) {
	s.exec(`INSERT INTO tracks (id, artist, title, isrc)
		SELECT 't' || lpad(i::text, 5, '0'), 'Artist ' || i, 'Title ' || i,
		       CASE WHEN i % 10 = 0 THEN 'GBAYE0601498' END
		  FROM generate_series(1, $1::int) i`, n)
}

// checkTasks parses every body as a contract task and returns the
// track_ids, checking the backfill fields.
func checkTasks(t *testing.T, ds []amqp.Delivery, priority int) map[string]int {
	t.Helper()
	ids := map[string]int{}
	for _, d := range ds {
		tk, err := task.Parse(d.Body, d.ContentType, d.Priority)
		if err != nil {
			t.Fatalf("invalid task %s: %v", d.Body, err)
		}
		if tk.Source != "backfill" || tk.Priority != priority || d.Priority != uint8(priority) || len(tk.Warnings) > 0 {
			t.Fatalf("task %s: source %q, priority %d (property %d), warnings %v; want backfill, %d",
				d.Body, tk.Source, tk.Priority, d.Priority, tk.Warnings, priority)
		}
		ids[tk.TrackID]++
	}
	return ids
}

func TestBackfillInterruptedAndResumedPublishesEachOnce(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	const n = 10000
	s.seedTracks(n)
	// Not selected: already enriched.
	s.exec(`INSERT INTO tracks (id, artist, title) VALUES ('done', 'A', 'T')`)
	s.exec(`INSERT INTO enrichment_status (track_id, status) VALUES ('done', 'completed')`)
	statePath := filepath.Join(t.TempDir(), "backfill.json")
	opts := backfillOptions{
		Selection: backfillSelection{Missing: true}, Priority: 2, MaxRate: 0,
		Batch: 500, Window: 256, StatePath: statePath,
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var confirmed atomic.Int64
	first := opts
	first.onConfirm = func() {
		if confirmed.Add(1) == n/2 {
			cancel()
		}
	}
	res1, err := runBackfill(ctx, s.st, s.sess, first)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: error %v, want context.Canceled", err)
	}
	if res1.Done || res1.Published < n/2 || res1.Published >= n {
		t.Fatalf("interrupted run: published %d, done %v; want [%d, %d), not done", res1.Published, res1.Done, n/2, n)
	}
	saved, ok, err := loadBackfillState(statePath)
	testinfra.Must(t, err, "read state")
	if !ok || saved.Published != res1.Published || saved.Cursor != fmt.Sprintf("t%05d", res1.Published) || len(saved.Skip) != 0 {
		t.Fatalf("state after interruption: %+v; want cursor t%05d, %d published", saved, res1.Published, res1.Published)
	}
	if got := s.depth(broker.WorkQueue); got != int(res1.Published) {
		t.Fatalf("work queue holds %d after the interrupted run, want %d", got, res1.Published)
	}

	res2, err := runBackfill(context.Background(), s.st, s.sess, opts)
	testinfra.Must(t, err, "resumed run")
	if !res2.Resumed || !res2.Done || res2.Matched != n-res1.Published || res1.Published+res2.Published != n {
		t.Fatalf("resumed run: %+v; want resumed, done, %d matched and published", res2, n-res1.Published)
	}
	res3, err := runBackfill(context.Background(), s.st, s.sess, opts)
	testinfra.Must(t, err, "third run")
	if !res3.Done || res3.Published != 0 {
		t.Fatalf("run of a complete state: %+v, want done with nothing published", res3)
	}

	ids := checkTasks(t, s.drain(broker.WorkQueue, n), 2)
	dups := 0
	for _, c := range ids {
		if c > 1 {
			dups++
		}
	}
	if len(ids) != n || dups != 0 || ids["done"] != 0 {
		t.Fatalf("distinct track_ids %d (want %d), duplicated %d (want 0), 'done' published %d times (want 0)",
			len(ids), n, dups, ids["done"])
	}
	t.Logf("interrupted after %d confirms, resumed run published %d; %d messages, %d distinct track_ids",
		res1.Published, res2.Published, n, len(ids))
}

func TestBackfillMaxRate(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	const n, rate = 1200, 500.0 // 2.4 s
	s.seedTracks(n)
	var sent atomic.Int64
	var ts []time.Time
	res, err := runBackfill(context.Background(), s.st, s.sess, backfillOptions{
		Selection: backfillSelection{Missing: true}, Priority: 2, MaxRate: rate, Batch: 500, Window: 256,
		onPublish: func() { sent.Add(1); ts = append(ts, time.Now()) },
	})
	var gaps []time.Duration
	for i := 1; i < len(ts); i++ {
		gaps = append(gaps, ts[i].Sub(ts[i-1]))
	}
	slices.Sort(gaps)
	t.Logf("gaps: min %v median %v p99 %v max %v", gaps[0], gaps[len(gaps)/2], gaps[len(gaps)*99/100], gaps[len(gaps)-1])
	testinfra.Must(t, err, "backfill")
	if res.Published != n || sent.Load() != n {
		t.Fatalf("published %d (sent %d), want %d", res.Published, sent.Load(), n)
	}
	span := res.Last.Sub(res.First)
	got := float64(n-1) / span.Seconds()
	t.Logf("%d publishes over %s: %.1f tasks/s (limit %.0f)", n, span.Round(time.Millisecond), got, rate)
	// --max-rate is a ceiling: never above it (10% for the clock), and not
	// far below it either, though a loaded machine (make test runs packages
	// in parallel, under -race) may publish slower than the limit allows.
	if span < 2*time.Second || got > rate*1.1 {
		t.Errorf("rate %.1f tasks/s over %s, want at most %.0f (+10%%) over at least 2s", got, span, rate)
	}
	if got < rate*0.5 {
		t.Errorf("rate %.1f tasks/s, want at least half the limit %.0f", got, rate)
	}
	s.waitDepth(broker.WorkQueue, n)
}

func TestBackfillCommand(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.seedTracks(30)
	s.exec(`INSERT INTO tracks (id, artist, title) VALUES ('p1', 'A', 'partial'), ('bad', ' ', 'no artist')`)
	s.exec(`INSERT INTO enrichment_status (track_id, status) VALUES ('p1', 'partial')`)
	statePath := filepath.Join(t.TempDir(), "state.json")

	out, _, err := s.run(nil, "backfill", "--partial", "--dry-run")
	testinfra.Must(t, err, "dry run")
	if want := "backfill (dry run): 32 track(s) selected (never enriched or partial)"; !strings.Contains(out, want) {
		t.Errorf("dry run printed %q, want it to contain %q", out, want)
	}
	out, _, err = s.run(nil, "backfill", "--dry-run", "--partial", "-o", "json")
	testinfra.Must(t, err, "dry run -o json")
	var rep backfillJSON
	if testinfra.Must(t, json.Unmarshal([]byte(out), &rep), "decode "+out); !rep.DryRun || rep.Selected != 32 {
		t.Errorf("dry run -o json: %+v, want a dry run selecting 32", rep)
	}
	if got := s.depth(broker.WorkQueue); got != 0 {
		t.Fatalf("dry run published %d messages", got)
	}

	// In id order: "bad" (invalid), "p1", then t00001...
	out, errOut, err := s.run(nil, "backfill", "--partial", "--limit", "10", "--state", statePath, "--max-rate", "0", "--priority", "3", "--force-refresh")
	testinfra.Must(t, err, "limited run")
	if !strings.Contains(out, `backfill: 10 published, 1 invalid, 0 failed of 32 selected`) || !strings.Contains(out, `stopped at --limit, cursor "t00009"`) {
		t.Errorf("limited run printed %q", out)
	}
	if !strings.Contains(errOut, `track "bad" skipped: invalid message: artist: must not be empty`) {
		t.Errorf("limited run's stderr %q does not report the invalid track", errOut)
	}
	out, _, err = s.run(nil, "backfill", "--partial", "--state", statePath, "--max-rate", "0", "--priority", "3", "--force-refresh")
	testinfra.Must(t, err, "resumed run")
	if !strings.Contains(out, "backfill: 21 published, 0 invalid, 0 failed of 21 selected") || !strings.Contains(out, "; complete") {
		t.Errorf("resumed run printed %q", out)
	}
	_, _, err = s.run(nil, "backfill", "--state", statePath)
	if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "belongs to a backfill of never enriched or partial") {
		t.Errorf("resume with another selection: error %v, want a usage error naming the state's selection", err)
	}

	ds := s.drain(broker.WorkQueue, 31)
	ids := checkTasks(t, ds, 3)
	if len(ids) != 31 || ids["p1"] != 1 || ids["bad"] != 0 {
		t.Errorf("published %d distinct track_ids (p1 %d times, bad %d times), want 31, 1, 0", len(ids), ids["p1"], ids["bad"])
	}
	var body map[string]any
	for _, d := range ds {
		if d.MessageId == "t00010" {
			testinfra.Must(t, json.Unmarshal(d.Body, &body), "decode")
		}
	}
	want := map[string]any{"track_id": "t00010", "artist": "Artist 10", "title": "Title 10", "priority": 3.0,
		"isrc": "GBAYE0601498", "force_refresh": true, "source": "backfill"}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("task t00010 field %s = %v, want %v (body %v)", k, body[k], v, body)
		}
	}
}

func TestBackfillFlags(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": "postgres://nobody@127.0.0.1:1/x", "AMQP_URL": "amqp://guest:guest@127.0.0.1:1/"}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--priority", "0"}, "--priority must be in [1, 10]"},
		{[]string{"--max-rate", "-1"}, "--max-rate must not be negative"},
		{[]string{"--missing=false"}, "backfill selects nothing"},
		{[]string{"--older-than", "soon"}, `"soon" is not a duration`},
		{[]string{"--not-found-older-than", "-3d"}, "must not be negative"},
		{[]string{"--limit", "-1"}, "--limit must not be negative"},
		{[]string{"extra"}, "takes no arguments"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			err := Main(context.Background(), append([]string{"backfill"}, tt.args...), Env{Stdout: &out, Stderr: &out, Environ: env})
			if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want a usage error containing %q", err, tt.want)
			}
		})
	}
}

func TestParseAge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"30d", 30 * 24 * time.Hour, false},
		{"36h", 36 * time.Hour, false},
		{"90m", 90 * time.Minute, false},
		{"1h30m", 90 * time.Minute, false},
		{"0d", 0, false},
		{"0s", 0, false},
		{"1.5d", 0, true},
		{"-1h", 0, true},
		{"", 0, true},
	}
	for _, tt := range tests {
		got, err := parseAge(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseAge(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestBackfillMessage(t *testing.T) {
	t.Parallel()
	opts := backfillOptions{Priority: 2}
	tests := []struct {
		name    string
		track   store.BackfillTrack
		want    map[string]any
		wantErr string
	}{
		{
			name:  "hints normalised, bad ones dropped",
			track: store.BackfillTrack{ID: "x", Artist: "Bicep", Title: "Glue", ISRC: "gb-aye 06 01498", SpotifyID: "nope", DiscogsReleaseID: 42, DurationMS: 269000},
			want: map[string]any{"track_id": "x", "artist": "Bicep", "title": "Glue", "priority": 2.0, "isrc": "GBAYE0601498",
				"discogs_release_id": 42.0, "duration_ms": 269000.0, "source": "backfill", "correlation_id": "backfill-run"},
		},
		{
			name:  "implausible duration dropped",
			track: store.BackfillTrack{ID: "x", Artist: "A", Title: "T", DurationMS: 100 * 3600 * 1000},
			want: map[string]any{"track_id": "x", "artist": "A", "title": "T", "priority": 2.0,
				"source": "backfill", "correlation_id": "backfill-run"},
		},
		{name: "empty title", track: store.BackfillTrack{ID: "x", Artist: "A", Title: ""}, wantErr: "title: must not be empty"},
		{name: "padded id", track: store.BackfillTrack{ID: " x", Artist: "A", Title: "T"}, wantErr: "white space"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := backfillMessage(tt.track, opts, "run")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			testinfra.Must(t, err, "build")
			var got map[string]any
			testinfra.Must(t, json.Unmarshal(msg.Body, &got), "decode")
			delete(got, "queued_at")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			if msg.Priority != 2 || msg.DeliveryMode != amqp.Persistent || msg.ContentType != "application/json" || msg.MessageId != "x" {
				t.Errorf("properties %+v", msg)
			}
		})
	}
}

// TestBackfillPublishFailureResumes makes publishes fail half-way (the work
// queue loses its binding, so the broker returns them) and checks that a
// rerun publishes exactly the rest, and that tracks a state file lists as
// already published are skipped.
func TestBackfillPublishFailureResumes(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	const n = 300
	s.seedTracks(n)
	statePath := filepath.Join(t.TempDir(), "state.json")
	opts := backfillOptions{Selection: backfillSelection{Missing: true}, Priority: 2, Batch: 100, Window: 16, StatePath: statePath}
	ch, err := s.sess.Connection().Channel()
	testinfra.Must(t, err, "channel")
	defer ch.Close()

	failing := opts
	sent := 0
	failing.onPublish = func() {
		if sent++; sent == 100 {
			testinfra.Must(t, ch.QueueUnbind(broker.WorkQueue, broker.RoutingKey, broker.Exchange, nil), "unbind")
		}
	}
	res, err := runBackfill(context.Background(), s.st, s.sess, failing)
	if !errors.Is(err, broker.ErrReturned) || res.Published != 100 || res.Cursor != "t00100" || res.Done {
		t.Fatalf("run with failing publishes: %+v, error %v; want 100 published, cursor t00100, ErrReturned", res, err)
	}
	testinfra.Must(t, ch.QueueBind(broker.WorkQueue, broker.RoutingKey, broker.Exchange, false, nil), "bind")
	res, err = runBackfill(context.Background(), s.st, s.sess, opts)
	testinfra.Must(t, err, "rerun")
	if res.Published != n-100 || !res.Done {
		t.Fatalf("rerun: %+v, want %d published, done", res, n-100)
	}
	ids := checkTasks(t, s.drain(broker.WorkQueue, n), 2)
	if len(ids) != n {
		t.Fatalf("%d distinct track_ids, want %d", len(ids), n)
	}

	// A state with tracks after the cursor already published.
	st := newBackfillState(opts.Selection, time.Now())
	st.Cursor, st.Skip = "t00290", []string{"t00292", "t00295"}
	testinfra.Must(t, st.save(statePath), "write state")
	res, err = runBackfill(context.Background(), s.st, s.sess, opts)
	testinfra.Must(t, err, "run with skips")
	if res.Published != 8 || res.Skipped != 2 || !res.Done {
		t.Fatalf("run with skips: %+v, want 8 published, 2 skipped, done", res)
	}
	ids = checkTasks(t, s.drain(broker.WorkQueue, 8), 2)
	for _, id := range []string{"t00290", "t00292", "t00295"} {
		if ids[id] != 0 {
			t.Errorf("%s published again", id)
		}
	}
	saved, _, err := loadBackfillState(statePath)
	testinfra.Must(t, err, "read state")
	if !saved.Done || len(saved.Skip) != 0 || saved.Cursor != "t00300" {
		t.Errorf("final state %+v, want done at t00300 with no skips", saved)
	}
}
