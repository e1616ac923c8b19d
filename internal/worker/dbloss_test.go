package worker_test

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/enrich"
	"github.com/djmeta/enrichment/internal/migrate"
	"github.com/djmeta/enrichment/internal/task"
	"github.com/djmeta/enrichment/internal/testinfra"
)

// metric returns the value of one series of the worker's /metrics (-1 if
// absent); series is the name with its labels as exposed, e.g.
// enrichment_paused{dependency="postgres"}.
func metric(addr, series string) float64 {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindStringSubmatch(body(addr, "/metrics"))
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return -1
	}
	return v
}

// retriesAndDeadLetters sums enrichment_retries_total and
// enrichment_dead_lettered_total over their labels.
func retriesAndDeadLetters(addr string) (retries, dead float64) {
	for _, line := range strings.Split(body(addr, "/metrics"), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch {
		case strings.HasPrefix(f[0], "enrichment_retries_total{"):
			retries += v
		case strings.HasPrefix(f[0], "enrichment_dead_lettered_total{"):
			dead += v
		}
	}
	return retries, dead
}

// slow is a pipeline that takes a little time per task, so that tasks are
// in flight when a fault hits.
type slow struct{ d time.Duration }

func (s slow) Enrich(ctx context.Context, _ task.Task) (enrich.Result, error) {
	select {
	case <-time.After(s.d):
	case <-ctx.Done():
		return enrich.Result{}, ctx.Err()
	}
	return enrich.Result{Status: enrich.StatusNotFound}, nil
}

// gated lets its first free tasks through and holds the others until open
// is closed.
type gated struct {
	slow
	free int64
	n    atomic.Int64
	open chan struct{}
}

func (g *gated) Enrich(ctx context.Context, t task.Task) (enrich.Result, error) {
	if g.n.Add(1) > g.free {
		select {
		case <-g.open:
		case <-ctx.Done():
			return enrich.Result{}, ctx.Err()
		}
	}
	return g.slow.Enrich(ctx, t)
}

// TestPostgresOutagePausesAndResumes cuts the worker off Postgres (a TCP
// proxy drops every connection and refuses new ones, as a stopped server
// would) in the middle of a backlog. The worker pauses: it stops taking
// deliveries, returns the ones it holds without spending attempts, reports
// not ready; nothing is retried or dead-lettered. When Postgres is
// reachable again it resumes by itself within seconds, and every task ends
// with one status row written at its first attempt.
func TestPostgresOutagePausesAndResumes(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]string{"RETRY_DELAYS": "200ms,400ms", "WORKER_CONCURRENCY": "8", "PREFETCH_COUNT": "64"})
	proxy := testinfra.NewProxy(t, "127.0.0.1:5432")
	b.cfg.DatabaseURL = proxy.URL(t, b.cfg.DatabaseURL)
	// The first 50 tasks pass; the others wait until Postgres is cut, so
	// that tasks are certainly in flight when it goes, however slow the
	// machine.
	g := &gated{slow: slow{d: 30 * time.Millisecond}, free: 50, open: make(chan struct{})}
	rw := b.startWorker(g)
	const n = 600
	for i := range n {
		b.publishTask(fmt.Sprint("t", i), "Artist", fmt.Sprint("Title ", i))
	}
	b.waitStatusRows(50, 30*time.Second)

	proxy.Cut()
	close(g.open)
	testinfra.Eventually(t, 15*time.Second, "the worker to pause", func() (bool, error) {
		return metric(rw.addr, `enrichment_paused{dependency="postgres"}`) == 1, nil
	})
	testinfra.Eventually(t, 10*time.Second, "/readyz to fail", func() (bool, error) { return get(rw.addr, "/readyz") == 503, nil })
	testinfra.Eventually(t, 15*time.Second, "the worker to let go of the work queue", func() (bool, error) {
		_, consumers := b.queueState(broker.WorkQueue)
		return consumers == 0, nil
	})
	before := b.count(`SELECT count(*) FROM enrichment_status`)
	ready, _ := b.queueState(broker.WorkQueue)
	t.Logf("paused after %d of %d tasks; %d ready in the queue", before, n, ready)
	if ready == 0 {
		t.Errorf("work queue: 0 ready while paused, want the unfinished tasks returned")
	}
	time.Sleep(2 * time.Second) // an outage of some length: the worker must stay paused and idle
	if r, d := retriesAndDeadLetters(rw.addr); r != 0 || d != 0 {
		t.Errorf("during the outage: %v retries, %v dead letters; want 0 and 0", r, d)
	}

	proxy.Restore()
	back := time.Now()
	testinfra.Eventually(t, 10*time.Second, "consumption to resume", func() (bool, error) {
		return b.count(`SELECT count(*) FROM enrichment_status`) > before, nil
	})
	resumedIn := time.Since(back)
	t.Logf("resumed %s after Postgres came back", resumedIn.Round(10*time.Millisecond))
	if resumedIn > 5*time.Second {
		t.Errorf("resumed %s after Postgres came back, want within 5s", resumedIn)
	}
	b.waitStatusRows(n, 60*time.Second)
	testinfra.Eventually(t, 10*time.Second, "/readyz to recover", func() (bool, error) { return get(rw.addr, "/readyz") == 200, nil })
	if got := b.count(`SELECT count(*) FROM enrichment_status WHERE attempts <> 1`); got != 0 {
		t.Errorf("%d tasks spent an attempt on our outage, want 0", got)
	}
	if r, d := retriesAndDeadLetters(rw.addr); r != 0 || d != 0 {
		t.Errorf("%v retries, %v dead letters; want 0 and 0", r, d)
	}
	if got := b.queueDepth(broker.DeadLetterQueue); got != 0 {
		t.Errorf("DLQ holds %d, want 0", got)
	}
	if got := metric(rw.addr, "enrichment_deliveries_returned_total"); got < 1 {
		t.Errorf("enrichment_deliveries_returned_total = %v, want the returned deliveries counted", got)
	}
	if got := b.count(`SELECT count(*) FROM tracks`); got != n {
		t.Errorf("tracks rows = %d, want %d", got, n)
	}
}

// TestDatabaseLoss cuts the worker off its database from the server's side
// (no new connections, existing ones terminated): the same pause, no
// attempt spent, and recovery once connections are allowed again.
func TestDatabaseLoss(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]string{"RETRY_DELAYS": "500ms,1s,2s,4s,8s"})
	rw := b.startWorker(nil)
	for i := range 20 {
		b.publishTask(fmt.Sprint("pre", i), "Artist", fmt.Sprint("Title ", i))
	}
	b.waitStatusRows(20, 30*time.Second)

	u, err := url.Parse(b.cfg.DatabaseURL)
	testinfra.Must(t, err, "db url")
	dbName := strings.TrimPrefix(u.Path, "/")
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
	testinfra.Must(t, err, "admin connection")
	defer admin.Close(ctx)
	ident := pgx.Identifier{dbName}.Sanitize()
	_, err = admin.Exec(ctx, "ALTER DATABASE "+ident+" ALLOW_CONNECTIONS false")
	testinfra.Must(t, err, "block connections")
	_, err = admin.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", dbName)
	testinfra.Must(t, err, "terminate backends")
	b.pool.Reset()

	for i := range 20 {
		b.publishTask(fmt.Sprint("during", i), "Artist", fmt.Sprint("Title ", i))
	}
	testinfra.Eventually(t, 10*time.Second, "/readyz to fail", func() (bool, error) { return get(rw.addr, "/readyz") == 503, nil })
	testinfra.Eventually(t, 10*time.Second, "the worker to pause", func() (bool, error) {
		return metric(rw.addr, `enrichment_paused{dependency="postgres"}`) == 1, nil
	})

	_, err = admin.Exec(ctx, "ALTER DATABASE "+ident+" ALLOW_CONNECTIONS true")
	testinfra.Must(t, err, "unblock connections")
	b.waitStatusRows(40, 60*time.Second)
	testinfra.Eventually(t, 10*time.Second, "/readyz to recover", func() (bool, error) { return get(rw.addr, "/readyz") == 200, nil })
	if n := b.count(`SELECT count(*) FROM enrichment_status WHERE status <> 'not_found' OR attempts <> 1`); n != 0 {
		t.Errorf("%d tasks did not end not_found at their first attempt", n)
	}
	if r, d := retriesAndDeadLetters(rw.addr); r != 0 || d != 0 {
		t.Errorf("%v retries, %v dead letters; want 0 and 0", r, d)
	}
	if n := b.queueDepth(broker.DeadLetterQueue); n != 0 {
		t.Errorf("DLQ holds %d messages, want 0", n)
	}
}

// TestWrongDatabaseURLTakesNothing: a worker whose DATABASE_URL names a
// database that does not exist takes no task (nothing is dead-lettered,
// the queue keeps them), reports not ready, and starts on its own once the
// database exists.
func TestWrongDatabaseURLTakesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	late := testinfra.Name("enrich_test_late")
	u, err := url.Parse(b.cfg.DatabaseURL)
	testinfra.Must(t, err, "db url")
	u.Path = "/" + late
	b.cfg.DatabaseURL = u.String()
	rw := b.startWorker(nil)
	for i := range 5 {
		b.publishTask(fmt.Sprint("w", i), "Artist", fmt.Sprint("Title ", i))
	}
	testinfra.Eventually(t, 10*time.Second, "/readyz to fail", func() (bool, error) { return get(rw.addr, "/readyz") == 503, nil })
	if got := metric(rw.addr, `enrichment_paused{dependency="postgres"}`); got != 1 {
		t.Errorf(`enrichment_paused{dependency="postgres"} = %v, want 1`, got)
	}
	if ready, consumers := b.queueState(broker.WorkQueue); ready != 5 || consumers != 0 {
		t.Errorf("work queue: %d ready, %d consumers; want 5 and 0 (nothing taken)", ready, consumers)
	}
	if got := b.queueDepth(broker.DeadLetterQueue); got != 0 {
		t.Errorf("DLQ holds %d, want 0", got)
	}

	ctx := context.Background()
	admin, err := pgx.Connect(ctx, "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
	testinfra.Must(t, err, "admin connection")
	defer admin.Close(ctx)
	_, err = admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{late}.Sanitize())
	testinfra.Must(t, err, "create the database")
	t.Cleanup(func() {
		_, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{late}.Sanitize()+" WITH (FORCE)")
	})
	m, err := migrate.New(b.cfg.DatabaseURL)
	testinfra.Must(t, err, "migrator")
	_, err = m.Up(ctx)
	testinfra.Must(t, err, "migrate")
	_ = m.Close()
	pool, err := pgxpool.New(ctx, b.cfg.DatabaseURL)
	testinfra.Must(t, err, "pool")
	defer pool.Close()
	testinfra.Eventually(t, 30*time.Second, "5 status rows in the new database", func() (bool, error) {
		var n int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM enrichment_status WHERE attempts = 1`).Scan(&n)
		return n == 5, err
	})
	pool.Close()
	_ = rw.stop()
}
