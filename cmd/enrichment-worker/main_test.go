package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap/zaptest"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/config"
	"github.com/djmeta/enrichment/internal/testinfra"
)

func buildWorker(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "enrichment-worker")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func startProcess(t *testing.T, bin string, env []string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = testWriter{t}
	testinfra.Must(t, cmd.Start(), "start worker")
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	return cmd
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	if testing.Verbose() {
		w.t.Logf("%s", p)
	}
	return len(p), nil
}

// TestSIGKILLLosesNothing kills a worker mid-batch: its unacked tasks are
// redelivered to the next worker and every task ends with one status row.
// Then SIGTERM makes the second worker exit 0.
func TestSIGKILLLosesNothing(t *testing.T) {
	t.Parallel()
	bin := buildWorker(t)
	dbURL := testinfra.MigratedDatabase(t)
	amqpURL := testinfra.VHost(t)
	redisURL, _ := testinfra.RedisURL(t)
	ctx := context.Background()
	delays, _ := config.ParseRetryDelays("2s,4s,8s")
	topo := broker.NewTopology(delays, 20)
	testinfra.Must(t, topo.DeclareWithRetry(ctx, amqpURL, 5*time.Second, zaptest.NewLogger(t)), "declare")

	sess, err := broker.Dial(amqpURL, "test")
	testinfra.Must(t, err, "dial")
	defer sess.Close()
	const n = 5000
	pending := make([]*broker.Pending, 0, n)
	for i := range n {
		p, err := sess.PublishAsync(ctx, broker.Exchange, broker.RoutingKey, amqp.Publishing{
			ContentType: "application/json", DeliveryMode: amqp.Persistent,
			Body: fmt.Appendf(nil, `{"track_id":"k%05d","artist":"Artist %d","title":"Title %d"}`, i, i, i)})
		testinfra.Must(t, err, "publish")
		pending = append(pending, p)
	}
	for _, p := range pending {
		testinfra.Must(t, p.Wait(ctx), "confirm")
	}

	pool, err := pgxpool.New(ctx, dbURL)
	testinfra.Must(t, err, "pool")
	defer pool.Close()
	count := func() int {
		var c int
		testinfra.Must(t, pool.QueryRow(ctx, `SELECT count(*) FROM enrichment_status`).Scan(&c), "count")
		return c
	}
	env := []string{"DATABASE_URL=" + dbURL, "AMQP_URL=" + amqpURL, "REDIS_URL=" + redisURL,
		"METRICS_ADDR=127.0.0.1:0", "LOG_LEVEL=warn", "PROVIDERS=none", "PREFETCH_COUNT=200", "WORKER_CONCURRENCY=16"}

	first := startProcess(t, bin, env)
	testinfra.Eventually(t, 60*time.Second, "the first worker to start committing", func() (bool, error) {
		return count() >= 50, nil
	})
	testinfra.Must(t, first.Process.Signal(syscall.SIGKILL), "SIGKILL")
	_, _ = first.Process.Wait()
	killedAt := count()
	if killedAt >= n {
		t.Skipf("the first worker finished all %d tasks before SIGKILL; nothing was in flight", n)
	}
	t.Logf("killed the first worker after %d of %d tasks", killedAt, n)

	second := startProcess(t, bin, env)
	testinfra.Eventually(t, 120*time.Second, fmt.Sprintf("%d status rows", n), func() (bool, error) {
		c := count()
		return c >= n, fmt.Errorf("have %d", c)
	})
	var tracks int
	testinfra.Must(t, pool.QueryRow(ctx, `SELECT count(*) FROM tracks`).Scan(&tracks), "count tracks")
	if tracks != n || count() != n {
		t.Errorf("tracks, status rows = %d, %d; want %d each", tracks, count(), n)
	}
	ch, err := sess.Connection().Channel()
	testinfra.Must(t, err, "channel")
	for _, q := range topo.Queues() {
		st, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
		testinfra.Must(t, err, "inspect "+q)
		if st.Messages != 0 {
			t.Errorf("queue %s holds %d messages, want 0", q, st.Messages)
		}
	}

	testinfra.Must(t, second.Process.Signal(syscall.SIGTERM), "SIGTERM")
	done := make(chan error, 1)
	go func() { done <- second.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("worker exit after SIGTERM = %v, want status 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("worker did not exit within 30s of SIGTERM")
	}
}

func TestBadConfigExitsNonZero(t *testing.T) {
	t.Parallel()
	bin := buildWorker(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "WORKER_CONCURRENCY=many")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("worker started with WORKER_CONCURRENCY=many; want a non-zero exit")
	}
	if !strings.Contains(string(out), "WORKER_CONCURRENCY") {
		t.Errorf("error output %q does not name WORKER_CONCURRENCY", out)
	}
}
