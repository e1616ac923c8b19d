package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/djmeta/enrichment/internal/store"
	"github.com/djmeta/enrichment/internal/testinfra"
)

func coveragePool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), testinfra.MigratedDatabase(t))
	testinfra.Must(t, err, "connect")
	t.Cleanup(pool.Close)
	return pool
}

func TestRefreshCoverage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := coveragePool(t)
	st := store.New(pool)
	_, err := pool.Exec(ctx, `
		INSERT INTO tracks (id, artist, title, spotify_id) VALUES
		  ('c1', 'A', 'T1', '4uLU6hMCjMI75M1A2tKUQC'), ('c2', 'A', 'T2', NULL), ('c3', 'A', 'T3', NULL), ('c4', 'A', 'T4', NULL);
		INSERT INTO enrichment_status (track_id, status, sources, confidence) VALUES
		  ('c1', 'completed', '{spotify}', 0.9), ('c2', 'not_found', '{}', 0);`)
	testinfra.Must(t, err, "seed")

	before, err := st.Coverage(ctx)
	testinfra.Must(t, err, "read coverage")
	if before.TotalTracks != 0 {
		t.Fatalf("before refresh total_tracks = %d, want 0 (the view was built empty)", before.TotalTracks)
	}
	testinfra.Must(t, st.RefreshCoverage(ctx), "refresh")
	c, err := st.Coverage(ctx)
	testinfra.Must(t, err, "read coverage")
	got := []int64{c.TotalTracks, c.WithStatus, c.Completed, c.NotFound, c.MatchedSpotify, c.WithSpotifyID}
	want := []int64{4, 2, 1, 1, 1, 1}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("coverage [total with_status completed not_found matched_spotify with_spotify_id] = %v, want %v", got, want)
		}
	}
	if c.PctWithStatus == nil || *c.PctWithStatus != 50 {
		t.Errorf("pct_with_status = %v, want 50", c.PctWithStatus)
	}
	if !c.RefreshedAt.After(before.RefreshedAt) {
		t.Errorf("refreshed_at %v not after %v", c.RefreshedAt, before.RefreshedAt)
	}
}

// TestCoverageRefresherSkipsWhileLocked holds the lock in one refresher
// (through the hook) while another tries: the other must skip.
func TestCoverageRefresherSkipsWhileLocked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := coveragePool(t)
	cfg := store.CoverageRefresherConfig{Interval: time.Minute, MinAge: -1}
	a := store.NewCoverageRefresher(pool, cfg)
	b := store.NewCoverageRefresher(pool, cfg)

	locked, release := make(chan struct{}), make(chan struct{})
	store.SetWhileLocked(a, func(context.Context) {
		close(locked)
		<-release
	})
	done := make(chan store.RefreshEvent, 1)
	go func() { done <- a.RefreshOnce(ctx) }()
	<-locked
	if ev := b.RefreshOnce(ctx); ev.Outcome != store.SkippedLocked {
		t.Errorf("second refresher while the first holds the lock: outcome %q (err %v), want %q", ev.Outcome, ev.Err, store.SkippedLocked)
	}
	close(release)
	if ev := <-done; ev.Outcome != store.Refreshed {
		t.Errorf("first refresher: outcome %q (err %v), want %q", ev.Outcome, ev.Err, store.Refreshed)
	}
	if ev := b.RefreshOnce(ctx); ev.Outcome != store.Refreshed {
		t.Errorf("second refresher after release: outcome %q (err %v), want %q", ev.Outcome, ev.Err, store.Refreshed)
	}
}

func TestCoverageRefresherSkipsFreshView(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := coveragePool(t)
	st := store.New(pool)
	testinfra.Must(t, st.RefreshCoverage(ctx), "refresh")
	r := store.NewCoverageRefresher(pool, store.CoverageRefresherConfig{Interval: time.Hour}) // MinAge 54m
	// enrichctl status refreshes the view alone: track_recordings, never
	// refreshed, still is, and only it.
	ev := r.RefreshOnce(ctx)
	if ev.Outcome != store.Refreshed || ev.CoverageRefreshed || ev.Recordings == nil || ev.RecordingsErr != nil {
		t.Errorf("with a fresh view and stale recordings: outcome %q, coverage refreshed %v, recordings %v (err %v, %v); "+
			"want %q, only the recordings", ev.Outcome, ev.CoverageRefreshed, ev.Recordings, ev.Err, ev.RecordingsErr, store.Refreshed)
	}
	if ev := r.RefreshOnce(ctx); ev.Outcome != store.SkippedFresh {
		t.Errorf("right after a refresh: outcome %q (err %v), want %q", ev.Outcome, ev.Err, store.SkippedFresh)
	}
}

// TestCoverageRefresherRefreshesRecordings: an attempt refreshes the view
// and then track_recordings, in the same locked transaction.
func TestCoverageRefresherRefreshesRecordings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := coveragePool(t)
	_, err := pool.Exec(ctx, `INSERT INTO tracks (id, artist, title, isrc) VALUES
	  ('r1', 'A', 'T', 'GBAAA0000001'), ('r2', 'A', 'T (Live)', 'GBAAA0000001'), ('r3', 'B', 'U', NULL)`)
	testinfra.Must(t, err, "seed")
	r := store.NewCoverageRefresher(pool, store.CoverageRefresherConfig{Interval: time.Hour, MinAge: -1})
	ev := r.RefreshOnce(ctx)
	if ev.Outcome != store.Refreshed || !ev.CoverageRefreshed || ev.Recordings == nil || ev.RecordingsErr != nil {
		t.Fatalf("outcome %q, coverage refreshed %v, recordings %v (err %v, %v); want both refreshed",
			ev.Outcome, ev.CoverageRefreshed, ev.Recordings, ev.Err, ev.RecordingsErr)
	}
	if c := *ev.Recordings; c.Rows != 2 || c.Recordings != 1 || c.Inserted != 2 {
		t.Errorf("recordings refresh: %+v, want 2 rows in 1 recording, 2 inserted", c)
	}
}

// TestCoverageRefreshersNeverOverlap runs two refreshers flat out on one
// database and checks, from their reports, that no two refreshes overlap.
func TestCoverageRefreshersNeverOverlap(t *testing.T) {
	t.Parallel()
	pool := coveragePool(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const wantRefreshes = 40
	type report struct {
		who int
		ev  store.RefreshEvent
	}
	var (
		mu      sync.Mutex
		reports []report
		enough  = make(chan struct{})
		closed  bool
	)
	var wg sync.WaitGroup
	for who := range 2 {
		r := store.NewCoverageRefresher(pool, store.CoverageRefresherConfig{
			Interval: 2 * time.Millisecond, MinAge: -1,
			OnResult: func(ev store.RefreshEvent) {
				mu.Lock()
				defer mu.Unlock()
				reports = append(reports, report{who, ev})
				n := 0
				for _, r := range reports {
					if r.ev.Outcome == store.Refreshed {
						n++
					}
				}
				if n >= wantRefreshes && !closed {
					closed = true
					close(enough)
				}
			},
		})
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.Run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		}()
	}
	select {
	case <-enough:
	case <-time.After(30 * time.Second):
		t.Fatal("timed out waiting for refreshes")
	}
	cancel()
	wg.Wait()

	counts := map[store.RefreshOutcome]int{}
	var refreshes []report
	for _, r := range reports {
		counts[r.ev.Outcome]++
		if r.ev.Outcome == store.RefreshFailed {
			t.Errorf("refresher %d failed: %v", r.who, r.ev.Err)
		}
		if r.ev.Outcome == store.Refreshed {
			refreshes = append(refreshes, r)
		}
	}
	for i, x := range refreshes {
		for _, y := range refreshes[i+1:] {
			if x.ev.Started.Before(y.ev.Finished) && y.ev.Started.Before(x.ev.Finished) {
				t.Errorf("refreshes overlap: %d [%s, %s] and %d [%s, %s]", x.who,
					x.ev.Started.Format(time.StampMicro), x.ev.Finished.Format(time.StampMicro),
					y.who, y.ev.Started.Format(time.StampMicro), y.ev.Finished.Format(time.StampMicro))
			}
		}
	}
	t.Logf("outcomes: %v", counts)
}
