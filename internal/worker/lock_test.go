package worker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/testinfra"
)

// holdRowLock locks one tracks row from another session until the returned
// function is called.
func (b *bundle) holdRowLock(id string) func() {
	b.t.Helper()
	ctx := context.Background()
	tx, err := b.pool.Begin(ctx)
	testinfra.Must(b.t, err, "begin the lock holder")
	_, err = tx.Exec(ctx, `SELECT 1 FROM tracks WHERE id = $1 FOR UPDATE`, id)
	testinfra.Must(b.t, err, "lock the row")
	released := false
	release := func() {
		if !released {
			released = true
			_ = tx.Rollback(ctx)
		}
	}
	b.t.Cleanup(release)
	return release
}

// TestRowLockDoesNotStallTheOthers: another session holds one track's row
// lock. Tasks for other tracks keep completing while it is held; the
// blocked task fails after the lock timeout and is retried (not an
// outage: the worker does not pause), and completes once the lock is gone.
func TestRowLockDoesNotStallTheOthers(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]string{"DB_LOCK_TIMEOUT": "300ms", "RETRY_DELAYS": "1s,2s,4s,8s"})
	rw := b.startWorker(nil)
	b.publishTask("locked", "Bicep", "Glue")
	b.waitStatusRows(1, 30*time.Second)
	release := b.holdRowLock("locked")

	b.publishTask("locked", "Bicep", "Glue (again)")
	for i := range 100 {
		b.publishTask(fmt.Sprint("free", i), "Artist", fmt.Sprint("Title ", i))
	}
	start := time.Now()
	b.waitStatusRows(101, 30*time.Second)
	t.Logf("100 other tasks completed in %s while the row was locked", time.Since(start).Round(10*time.Millisecond))
	testinfra.Eventually(t, 10*time.Second, "the locked task to be retried", func() (bool, error) {
		r, _ := retriesAndDeadLetters(rw.addr)
		return r >= 1, nil
	})
	if got := metric(rw.addr, `enrichment_paused{dependency="postgres"}`); got != 0 {
		t.Errorf(`enrichment_paused{dependency="postgres"} = %v, want 0: a row lock is not an outage`, got)
	}
	release()
	testinfra.Eventually(t, 30*time.Second, "the locked task to complete", func() (bool, error) {
		return b.count(`SELECT count(*) FROM tracks WHERE id = 'locked' AND title = 'Glue (again)'`) == 1, nil
	})
	if got := b.queueDepth(broker.DeadLetterQueue); got != 0 {
		t.Errorf("DLQ holds %d, want 0", got)
	}
}

// TestStopWhileABatchIsBlocked: a batch waits on a row lock (with lock and
// write timeouts longer than the test), and the worker is stopped: it exits
// within WORKER_DRAIN_TIMEOUT plus broker.ShutdownMargin, cleanly, and the
// blocked task returns to the queue to be done later.
func TestStopWhileABatchIsBlocked(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]string{"DB_LOCK_TIMEOUT": "2m", "DB_WRITE_TIMEOUT": "2m", "TASK_TIMEOUT": "5m",
		"WORKER_DRAIN_TIMEOUT": "2s"})
	rw := b.startWorker(nil)
	b.publishTask("locked", "Bicep", "Glue")
	b.waitStatusRows(1, 30*time.Second)
	b.holdRowLock("locked")
	b.publishTask("locked", "Bicep", "Glue (again)")
	testinfra.Eventually(t, 10*time.Second, "the write to wait on the lock", func() (bool, error) {
		return b.count(`SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`) >= 1, nil
	})
	start := time.Now()
	err := rw.stop()
	took := time.Since(start)
	t.Logf("stopped %s after the signal (drain timeout %s, margin %s)", took.Round(10*time.Millisecond), b.cfg.DrainTimeout, broker.ShutdownMargin)
	if err != nil {
		t.Errorf("stop = %v, want nil", err)
	}
	if limit := b.cfg.DrainTimeout + broker.ShutdownMargin; took > limit {
		t.Errorf("stopping took %s, want at most WORKER_DRAIN_TIMEOUT + margin = %s", took, limit)
	}
	if ready, _ := b.queueState(broker.WorkQueue); ready != 1 {
		t.Errorf("work queue: %d ready, want the blocked task back (1)", ready)
	}
}
