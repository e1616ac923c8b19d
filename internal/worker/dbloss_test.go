package worker_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/testinfra"
)

// TestDatabaseLoss cuts the worker off its database (no new connections,
// existing ones terminated): writes fail, nothing is acked before a commit,
// tasks go through the retry tiers, /readyz fails; when the database comes
// back the pool recovers and every task ends with one status row.
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
	testinfra.Eventually(t, 10*time.Second, "retries to be scheduled", func() (bool, error) {
		return strings.Contains(body(rw.addr, "/metrics"), `enrichment_retries_total{tier="500ms"}`), nil
	})

	_, err = admin.Exec(ctx, "ALTER DATABASE "+ident+" ALLOW_CONNECTIONS true")
	testinfra.Must(t, err, "unblock connections")
	b.waitStatusRows(40, 60*time.Second)
	testinfra.Eventually(t, 10*time.Second, "/readyz to recover", func() (bool, error) { return get(rw.addr, "/readyz") == 200, nil })
	if n := b.count(`SELECT count(*) FROM enrichment_status WHERE status <> 'not_found'`); n != 0 {
		t.Errorf("%d tasks did not end not_found", n)
	}
	if n := b.queueDepth(broker.DeadLetterQueue); n != 0 {
		t.Errorf("DLQ holds %d messages, want 0", n)
	}
}
