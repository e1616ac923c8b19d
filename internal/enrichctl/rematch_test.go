package enrichctl

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/djmeta/enrichment/internal/config"
	"github.com/djmeta/enrichment/internal/enrich"
	"github.com/djmeta/enrichment/internal/match"
	"github.com/djmeta/enrichment/internal/providersim"
	"github.com/djmeta/enrichment/internal/store"
	"github.com/djmeta/enrichment/internal/task"
	"github.com/djmeta/enrichment/internal/testinfra"
	"github.com/djmeta/enrichment/internal/worker"
)

// rematchFixture is provider-sim behind a request counter, a database and a
// cache of the test's own, and the worker's environment pointed at them.
type rematchFixture struct {
	t        *testing.T
	env      map[string]string
	st       *store.Store
	requests sync.Map // provider path prefix -> *atomic.Int64
}

func newRematchFixture(t *testing.T) *rematchFixture {
	t.Helper()
	f := &rematchFixture{t: t}
	cat, err := providersim.LoadCatalog("../../testdata/catalog/catalog.json")
	testinfra.Must(t, err, "catalog")
	simCfg := providersim.DefaultConfig()
	simCfg.SpotifyRateLimit, simCfg.DiscogsRateLimit, simCfg.MusicBrainzRate = 0, 0, 0
	sim, err := providersim.New(cat, simCfg)
	testinfra.Must(t, err, "provider-sim")
	h := sim.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, p := range []string{"/spotify/v1/", "/spotify/api/", "/musicbrainz/", "/discogs/"} {
			if strings.HasPrefix(r.URL.Path, p) {
				n, _ := f.requests.LoadOrStore(p, new(atomic.Int64))
				n.(*atomic.Int64).Add(1)
			}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	dbURL := testinfra.MigratedDatabase(t)
	redisURL, prefix := testinfra.RedisURL(t)
	f.env = map[string]string{
		"DATABASE_URL": dbURL, "REDIS_URL": redisURL, "CACHE_PREFIX": prefix, "LOG_LEVEL": "error",
		"SPOTIFY_CLIENT_ID": "rematch", "SPOTIFY_CLIENT_SECRET": "rematch",
		"SPOTIFY_API_URL": srv.URL + "/spotify/v1", "SPOTIFY_TOKEN_URL": srv.URL + "/spotify/api/token",
		"MUSICBRAINZ_API_URL": srv.URL + "/musicbrainz/ws/2", "DISCOGS_API_URL": srv.URL + "/discogs", "DISCOGS_TOKEN": "rematch",
		"SPOTIFY_RATE": "2000", "MUSICBRAINZ_RATE": "2000", "DISCOGS_RATE": "2000",
	}
	f.st, err = store.Open(context.Background(), dbURL, 8)
	testinfra.Must(t, err, "open store")
	t.Cleanup(f.st.Close)
	return f
}

// providerRequests is the requests provider-sim answered at the three Web
// APIs (Spotify's token endpoint aside).
func (f *rematchFixture) providerRequests() int64 {
	var n int64
	for _, p := range []string{"/spotify/v1/", "/musicbrainz/", "/discogs/"} {
		if v, ok := f.requests.Load(p); ok {
			n += v.(*atomic.Int64).Load()
		}
	}
	return n
}

func (f *rematchFixture) exec(sql string, args ...any) int64 {
	f.t.Helper()
	tag, err := f.st.Pool().Exec(context.Background(), sql, args...)
	testinfra.Must(f.t, err, "exec "+sql)
	return tag.RowsAffected()
}

// enrich enriches tasks with the worker's engine, as a worker would,
// warming the cache.
func (f *rematchFixture) enrich(tasks []task.Task) []enrich.Result {
	f.t.Helper()
	cfg, err := config.LoadWorker(f.env)
	testinfra.Must(f.t, err, "worker config")
	p, err := worker.NewPipeline(cfg, nil, nil)
	testinfra.Must(f.t, err, "pipeline")
	defer p.Close()
	out := make([]enrich.Result, len(tasks))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	work := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				r, err := p.Enrich(context.Background(), tasks[i])
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("%s: %w", tasks[i].TrackID, err)
				}
				mu.Unlock()
				out[i] = r
			}
		}()
	}
	for i := range tasks {
		work <- i
	}
	close(work)
	wg.Wait()
	testinfra.Must(f.t, firstErr, "enrich")
	return out
}

// rematch runs enrichctl rematch with the fixture's environment.
func (f *rematchFixture) rematch(args ...string) (stdout, stderr string, err error) {
	f.t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	err = Main(ctx, append([]string{"rematch"}, args...), Env{Stdout: &out, Stderr: &errOut, Environ: f.env})
	return out.String(), errOut.String(), err
}

// labelledTasks are the tasks of the labelled sets (testdata/eval).
func labelledTasks(t *testing.T) []task.Task {
	t.Helper()
	var out []task.Task
	for _, name := range []string{"tuning.jsonl", "holdout.jsonl", "cases.jsonl"} {
		fh, err := os.Open(filepath.Join("../../testdata/eval", name))
		testinfra.Must(t, err, "open cases")
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			tk, err := task.Parse(sc.Bytes(), "application/json", 0)
			testinfra.Must(t, err, "parse case")
			out = append(out, tk)
		}
		fh.Close()
	}
	return out
}

// TestRematch is issue 16's acceptance for rematch: over stored rows
// (REMATCH_ROWS, default 2,000; the closing note's run uses 10,000) decided
// by an older matcher, with a warm cache, it sends no provider request, and
// the rows it changes are exactly those whose decision differs under the
// current matcher: rows whose stored decision was altered in known ways (an
// id missing, another recording's id, an id where none belongs). The others
// are left as they were (only their matcher version is recorded). A dry run
// writes nothing; an interrupted run resumes from its state file.
func TestRematch(t *testing.T) {
	t.Parallel()
	rows := 2000
	if v, err := strconv.Atoi(os.Getenv("REMATCH_ROWS")); err == nil && v > 0 {
		rows = v
	}
	f := newRematchFixture(t)
	tasks := labelledTasks(t)[:400]
	results := f.enrich(tasks)
	if f.providerRequests() == 0 {
		t.Fatal("enriching made no provider request")
	}

	// rows rows: the decided tasks again under other track ids (sets played
	// again), stored as a worker stores them, then recorded as decided by
	// matcher 1.
	writes := make([]store.Write, 0, rows)
	for i := 0; len(writes) < rows; i++ {
		tk := tasks[i%len(tasks)]
		tk.TrackID = fmt.Sprintf("r%05d-%s", i, tk.TrackID)
		writes = append(writes, store.Write{Task: tk, Result: results[i%len(tasks)], Attempts: 1})
	}
	for i := 0; i < len(writes); i += 500 {
		testinfra.Must(t, f.st.SaveBatch(context.Background(), writes[i:min(i+500, len(writes))]), "save")
	}
	f.exec(`UPDATE enrichment_status SET matcher_version = 1`)

	// Decisions altered in known ways: these rows, and only these, differ
	// from what the current matcher decides.
	want := map[string]string{}
	var otherMBID string
	for _, w := range writes {
		if w.Result.MusicBrainzID != "" {
			otherMBID = w.Result.MusicBrainzID
			break
		}
	}
	for i, w := range writes {
		id, r := w.Task.TrackID, w.Result
		switch {
		case i%37 == 0 && r.SpotifyID != "":
			f.exec(`UPDATE tracks SET spotify_id = NULL WHERE id = $1`, id)
			f.exec(`UPDATE enrichment_status SET sources = array_remove(sources, 'spotify') WHERE track_id = $1`, id)
			want[id] = "spotify_id found"
		case i%41 == 0 && r.MusicBrainzID != "" && r.MusicBrainzID != otherMBID:
			f.exec(`UPDATE tracks SET musicbrainz_id = $2 WHERE id = $1`, id, otherMBID)
			want[id] = "musicbrainz_id replaced"
		case i%43 == 0 && r.DiscogsReleaseID == 0 && r.Status == enrich.StatusCompleted:
			f.exec(`UPDATE tracks SET discogs_release_id = 123 WHERE id = $1`, id)
			want[id] = "discogs_release_id withdrawn"
		}
	}
	if len(want) < 40 {
		t.Fatalf("only %d rows altered", len(want))
	}
	updated := func() map[string]time.Time {
		out := map[string]time.Time{}
		r, err := f.st.Pool().Query(context.Background(), `SELECT id, updated_at FROM tracks`)
		testinfra.Must(t, err, "read")
		for r.Next() {
			var id string
			var at time.Time
			testinfra.Must(t, r.Scan(&id, &at), "scan")
			out[id] = at
		}
		return out
	}
	before := updated()
	requests := f.providerRequests()

	// A dry run reports the changes and writes nothing.
	stdout, stderr, err := f.rematch("--dry-run", "-o", "json")
	testinfra.Must(t, err, "rematch --dry-run: "+stderr)
	var dry rematchJSON
	testinfra.Must(t, json.Unmarshal([]byte(stdout), &dry), "decode "+stdout)
	if dry.Selected != int64(rows) || dry.Changed != int64(len(want)) || dry.Failed != 0 {
		t.Errorf("dry run: selected %d, changed %d, failed %d; want %d, %d, 0", dry.Selected, dry.Changed, dry.Failed, rows, len(want))
	}
	var v1 int
	testinfra.Must(t, f.st.Pool().QueryRow(context.Background(), `SELECT count(*) FROM enrichment_status WHERE matcher_version = 1`).Scan(&v1), "count")
	if v1 != rows || !mapsEqual(updated(), before) {
		t.Errorf("the dry run wrote: %d rows still at matcher 1 of %d", v1, rows)
	}

	// An interrupted run (--limit) resumed with its state file.
	state := filepath.Join(t.TempDir(), "rematch.json")
	start := time.Now()
	stdout, stderr, err = f.rematch("--limit", strconv.Itoa(rows/3), "--state", state, "-o", "json")
	testinfra.Must(t, err, "rematch --limit: "+stderr)
	var first rematchJSON
	testinfra.Must(t, json.Unmarshal([]byte(stdout), &first), "decode "+stdout)
	if first.Complete || first.Decided != int64(rows/3) {
		t.Errorf("first run: decided %d, complete %v; want %d, not complete", first.Decided, first.Complete, rows/3)
	}
	stdout, stderr, err = f.rematch("--state", state, "-o", "json")
	testinfra.Must(t, err, "rematch resumed: "+stderr)
	var second rematchJSON
	testinfra.Must(t, json.Unmarshal([]byte(stdout), &second), "decode "+stdout)
	elapsed := time.Since(start)
	if !second.Resumed || !second.Complete || first.Decided+second.Decided != int64(rows) {
		t.Errorf("resumed run: resumed %v, complete %v, decided %d + %d; want %d in all", second.Resumed, second.Complete,
			first.Decided, second.Decided, rows)
	}
	t.Logf("rematch of %d rows: %s; changes %v", rows, elapsed.Round(time.Millisecond), mergeCounts(first.Changes, second.Changes))

	if got := f.providerRequests() - requests; got != 0 {
		t.Errorf("rematch with a warm cache sent %d provider requests, want 0", got)
	}
	for _, r := range []rematchJSON{first, second} {
		if len(r.ProviderRequests) == 0 {
			t.Errorf("report: no provider request counts")
		}
		for p, n := range r.ProviderRequests {
			if n != 0 {
				t.Errorf("report: %d %s requests, want 0", n, p)
			}
		}
	}
	after := updated()
	var changed []string
	for id, at := range after {
		if !at.Equal(before[id]) {
			changed = append(changed, id)
		}
	}
	sort.Strings(changed)
	wantIDs := make([]string, 0, len(want))
	for id := range want {
		wantIDs = append(wantIDs, id)
	}
	sort.Strings(wantIDs)
	if !slices.Equal(changed, wantIDs) {
		t.Errorf("rematch changed %d rows, want exactly the %d altered ones\nchanged: %v\nwant:    %v", len(changed), len(wantIDs),
			first10(changed), first10(wantIDs))
	}
	kinds := mergeCounts(first.Changes, second.Changes)
	wantKinds := map[string]int64{}
	for _, k := range want {
		wantKinds[k]++
	}
	for k, n := range wantKinds {
		if kinds[k] != n {
			t.Errorf("changes %q = %d, want %d (all: %v)", k, kinds[k], n, kinds)
		}
	}
	// Every row now records matcher 2, and the altered ones their right
	// decision again.
	testinfra.Must(t, f.st.Pool().QueryRow(context.Background(),
		`SELECT count(*) FROM enrichment_status WHERE matcher_version IS DISTINCT FROM $1`, match.MatcherVersion).Scan(&v1), "count")
	if v1 != 0 {
		t.Errorf("%d rows do not record matcher %d", v1, match.MatcherVersion)
	}
	for i, w := range writes {
		if want[w.Task.TrackID] == "" {
			continue
		}
		var sp, mb string
		var dc int64
		testinfra.Must(t, f.st.Pool().QueryRow(context.Background(), `SELECT coalesce(spotify_id, ''), coalesce(musicbrainz_id::text, ''),
			coalesce(discogs_release_id, 0) FROM tracks WHERE id = $1`, w.Task.TrackID).Scan(&sp, &mb, &dc), "read")
		if sp != w.Result.SpotifyID || mb != w.Result.MusicBrainzID || dc != w.Result.DiscogsReleaseID {
			t.Errorf("row %d %s: ids %q %q %d after rematch, want %q %q %d", i, w.Task.TrackID, sp, mb, dc,
				w.Result.SpotifyID, w.Result.MusicBrainzID, w.Result.DiscogsReleaseID)
		}
	}

	// Nothing is left to decide again.
	stdout, stderr, err = f.rematch("-o", "json")
	testinfra.Must(t, err, "rematch again: "+stderr)
	var again rematchJSON
	testinfra.Must(t, json.Unmarshal([]byte(stdout), &again), "decode "+stdout)
	if again.Selected != 0 || !again.Complete {
		t.Errorf("a second rematch selected %d rows, want 0", again.Selected)
	}
}

func mapsEqual(a, b map[string]time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !v.Equal(b[k]) {
			return false
		}
	}
	return true
}

func mergeCounts(ms ...map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for _, m := range ms {
		for k, v := range m {
			out[k] += v
		}
	}
	return out
}

func first10(s []string) []string { return s[:min(10, len(s))] }
