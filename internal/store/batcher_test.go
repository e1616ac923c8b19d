package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
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

// TestBatcherShedsALockedRow: another session holds one row's lock; a batch
// that includes it fails once, after the lock timeout, with a WriteError
// naming that write; the rest of the batch commits on the retry without
// waiting for the lock again, and the locked write's caller gets the
// lock-timeout error (55P03), which is not an outage.
func TestBatcherShedsALockedRow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.Open(ctx, testinfra.MigratedDatabase(t), 4)
	testinfra.Must(t, err, "open store")
	defer st.Close()
	lock := 300 * time.Millisecond
	st.SetLimits(store.Limits{Lock: lock, Write: 5 * time.Second})
	write := func(id string) store.Write {
		return store.Write{Task: task.Task{TrackID: id, Artist: "A", Title: "T"},
			Result: enrich.Result{Status: enrich.StatusNotFound}, Attempts: 1}
	}
	testinfra.Must(t, st.SaveBatch(ctx, []store.Write{write("locked")}), "seed the locked row")

	holder, err := st.Pool().Begin(ctx)
	testinfra.Must(t, err, "begin holder")
	defer func() { _ = holder.Rollback(ctx) }()
	_, err = holder.Exec(ctx, `SELECT 1 FROM tracks WHERE id = 'locked' FOR UPDATE`)
	testinfra.Must(t, err, "lock the row")

	var batchErrs []error
	var mu sync.Mutex
	b := store.NewBatcher(st, store.BatcherConfig{MaxBatch: 10, MaxWait: 200 * time.Millisecond,
		OnBatchError: func(_ int, err error) { mu.Lock(); batchErrs = append(batchErrs, err); mu.Unlock() }})
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- b.Run(runCtx) }()
	defer func() { stop(); <-ran }()

	ids := []string{"a", "b", "locked", "c", "d"}
	errs := make([]error, len(ids))
	took := make([]time.Duration, len(ids))
	var wg sync.WaitGroup
	start := time.Now()
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = b.Save(ctx, write(id))
			took[i] = time.Since(start)
		}()
	}
	wg.Wait()
	for i, id := range ids {
		if id == "locked" {
			var we *store.WriteError
			if !errors.As(errs[i], &we) || !strings.Contains(errs[i].Error(), "55P03") {
				t.Errorf("locked write: error = %v, want a WriteError with SQLSTATE 55P03", errs[i])
			}
			if store.Unavailable(errs[i]) {
				t.Errorf("locked write: Unavailable(%v) = true, want false (a lock belongs to the write)", errs[i])
			}
			continue
		}
		if errs[i] != nil {
			t.Errorf("write %s: error = %v, want nil", id, errs[i])
		}
		if took[i] > 4*lock+time.Second {
			t.Errorf("write %s took %s, want about one lock timeout (%s)", id, took[i], lock)
		}
	}
	mu.Lock()
	if len(batchErrs) != 1 {
		t.Errorf("batch failures = %d (%v), want 1: the locked write shed, the rest committed together", len(batchErrs), batchErrs)
	}
	mu.Unlock()
	var n int
	testinfra.Must(t, st.Pool().QueryRow(ctx, `SELECT count(*) FROM enrichment_status`).Scan(&n), "count")
	if n != len(ids) {
		t.Errorf("status rows = %d, want %d (4 new and the locked one from before)", n, len(ids))
	}
}

// TestSaveBatchTimesOut: a write that cannot finish within the write
// timeout (here: a lock timeout longer than it) fails with a statement
// timeout, and the store calls that unavailable (the database does not
// answer in time), not the task's fault.
func TestSaveBatchTimesOut(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.Open(ctx, testinfra.MigratedDatabase(t), 4)
	testinfra.Must(t, err, "open store")
	defer st.Close()
	st.SetLimits(store.Limits{Lock: time.Minute, Write: 500 * time.Millisecond})
	w := store.Write{Task: task.Task{TrackID: "x", Artist: "A", Title: "T"}, Result: enrich.Result{Status: enrich.StatusNotFound}, Attempts: 1}
	testinfra.Must(t, st.SaveBatch(ctx, []store.Write{w}), "seed")
	holder, err := st.Pool().Begin(ctx)
	testinfra.Must(t, err, "begin holder")
	defer func() { _ = holder.Rollback(ctx) }()
	_, err = holder.Exec(ctx, `SELECT 1 FROM tracks WHERE id = 'x' FOR UPDATE`)
	testinfra.Must(t, err, "lock the row")
	start := time.Now()
	err = st.SaveBatch(ctx, []store.Write{w})
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("SaveBatch took %s, want about the 500ms write timeout", took)
	}
	if !store.Unavailable(err) {
		t.Errorf("SaveBatch error = %v, want an unavailable (timed out) error", err)
	}
}
