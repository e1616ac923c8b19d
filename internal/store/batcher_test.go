package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/djmeta/enrichment/internal/enrich"
	"github.com/djmeta/enrichment/internal/store"
	"github.com/djmeta/enrichment/internal/task"
	"github.com/djmeta/enrichment/internal/testinfra"
)

func TestBatcherCommitsConcurrentWritesInBatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.Open(ctx, testinfra.MigratedDatabase(t), 4)
	testinfra.Must(t, err, "open store")
	defer st.Close()
	var mu sync.Mutex
	var sizes []int
	b := store.NewBatcher(st, store.BatcherConfig{MaxBatch: 20, OnCommit: func(n int, _ time.Duration) {
		mu.Lock()
		sizes = append(sizes, n)
		mu.Unlock()
	}})
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- b.Run(runCtx) }()

	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A few duplicates of the same track land in one batch.
			id := fmt.Sprint("t", i%180)
			errs <- b.Save(ctx, store.Write{Task: task.Task{TrackID: id, Artist: "A", Title: "T"},
				Result: enrich.Result{Status: enrich.StatusNotFound}, Attempts: 1})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		testinfra.Must(t, err, "save")
	}
	// A bad write (confidence out of range fails before SQL; an invalid
	// ISRC fails the CHECK) does not fail its neighbours.
	var bad, good error
	var wg2 sync.WaitGroup
	wg2.Add(2)
	go func() {
		defer wg2.Done()
		bad = b.Save(ctx, store.Write{Task: task.Task{TrackID: "bad", Artist: "A", Title: "T"},
			Result: enrich.Result{Status: enrich.StatusCompleted, ISRC: "not-an-isrc"}, Attempts: 1})
	}()
	go func() {
		defer wg2.Done()
		good = b.Save(ctx, store.Write{Task: task.Task{TrackID: "good", Artist: "A", Title: "T"},
			Result: enrich.Result{Status: enrich.StatusNotFound}, Attempts: 1})
	}()
	wg2.Wait()
	if bad == nil || good != nil {
		t.Errorf("bad, good = %v, %v; want an error for the bad write only", bad, good)
	}
	stop()
	<-ran
	if err := b.Save(ctx, store.Write{Task: task.Task{TrackID: "late"}}); err != store.ErrBatcherStopped {
		t.Errorf("Save after stop = %v, want ErrBatcherStopped", err)
	}
	var rows int
	testinfra.Must(t, st.Pool().QueryRow(ctx, `SELECT count(*) FROM enrichment_status`).Scan(&rows), "count")
	if rows != 181 {
		t.Errorf("status rows = %d, want 181", rows)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sizes) >= n {
		t.Errorf("%d commits for %d writes: no batching happened", len(sizes), n)
	}
	t.Logf("%d writes in %d commits", n+1, len(sizes))
}

// TestBatcherConcurrentWritersDoNotDeadlock: several writers commit batches
// at once over the same few tracks, arriving in every order; every batch
// commits whole (sorted by track id, no two batches wait on each other),
// and every write lands.
func TestBatcherConcurrentWritersDoNotDeadlock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.Open(ctx, testinfra.MigratedDatabase(t), 8)
	testinfra.Must(t, err, "open store")
	defer st.Close()
	var mu sync.Mutex
	var batchErrs []error
	commits := 0
	b := store.NewBatcher(st, store.BatcherConfig{MaxBatch: 25, Writers: 4,
		OnCommit: func(int, time.Duration) {
			mu.Lock()
			commits++
			mu.Unlock()
		},
		OnBatchError: func(n int, err error) {
			mu.Lock()
			batchErrs = append(batchErrs, fmt.Errorf("batch of %d: %w", n, err))
			mu.Unlock()
		}})
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- b.Run(runCtx) }()

	const writes, tracks, clients = 2000, 40, 64
	var wg sync.WaitGroup
	errs := make(chan error, writes)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; i < writes; i += clients {
				// Each client walks the tracks in its own order.
				id := fmt.Sprintf("t%02d", (i*7)%tracks)
				errs <- b.Save(ctx, store.Write{Task: task.Task{TrackID: id, Artist: "A", Title: fmt.Sprint("T", i)},
					Result: enrich.Result{Status: enrich.StatusNotFound}, Attempts: 1})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		testinfra.Must(t, err, "save")
	}
	stop()
	<-ran
	mu.Lock()
	defer mu.Unlock()
	for _, err := range batchErrs {
		t.Errorf("a whole batch failed (deadlock?): %v", err)
	}
	var rows int
	testinfra.Must(t, st.Pool().QueryRow(ctx, `SELECT count(*) FROM tracks`).Scan(&rows), "count")
	if rows != tracks {
		t.Errorf("tracks rows = %d, want %d", rows, tracks)
	}
	if commits >= writes {
		t.Errorf("%d commits for %d writes: no batching happened", commits, writes)
	}
	t.Logf("%d writes in %d commits by 4 writers", writes, commits)
}
