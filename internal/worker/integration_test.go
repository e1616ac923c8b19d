package worker_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/config"
	"github.com/djmeta/enrichment/internal/enrich"
	"github.com/djmeta/enrichment/internal/task"
	"github.com/djmeta/enrichment/internal/testinfra"
	"github.com/djmeta/enrichment/internal/worker"
)

// bundle is one test's isolated stack: its own database, vhost and Redis
// key prefix, and helpers to run workers and inspect results.
type bundle struct {
	t    *testing.T
	cfg  config.Worker
	pool *pgxpool.Pool
	sess *broker.Session
	topo broker.Topology
}

func setup(t *testing.T, env map[string]string) *bundle {
	t.Helper()
	dbURL := testinfra.MigratedDatabase(t)
	amqpURL := testinfra.VHost(t)
	redisURL, _ := testinfra.RedisURL(t)
	e := map[string]string{
		"DATABASE_URL":         dbURL,
		"AMQP_URL":             amqpURL,
		"REDIS_URL":            redisURL,
		"METRICS_ADDR":         "127.0.0.1:0",
		"RETRY_DELAYS":         "100ms,200ms",
		"WORKER_DRAIN_TIMEOUT": "10s",
		"LOG_LEVEL":            "warn",
		"PROVIDERS":            "none",
	}
	for k, v := range env {
		e[k] = v
	}
	cfg, err := config.LoadWorker(e)
	testinfra.Must(t, err, "load config")
	topo := broker.NewTopology(cfg.RetryDelays, cfg.DeliveryLimit)
	testinfra.Must(t, topo.DeclareWithRetry(context.Background(), amqpURL, 5*time.Second, zaptest.NewLogger(t)), "declare topology")
	pool, err := pgxpool.New(context.Background(), dbURL)
	testinfra.Must(t, err, "connect to test database")
	t.Cleanup(pool.Close)
	sess, err := broker.Dial(amqpURL, "test-publisher")
	testinfra.Must(t, err, "dial broker")
	t.Cleanup(func() { _ = sess.Close() })
	return &bundle{t: t, cfg: cfg, pool: pool, sess: sess, topo: topo}
}

// runningWorker is an in-process worker.
type runningWorker struct {
	cancel context.CancelFunc
	done   chan error
	addr   string
}

func (b *bundle) startWorker(p enrich.Pipeline) *runningWorker {
	b.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan string, 1)
	rw := &runningWorker{cancel: cancel, done: make(chan error, 1)}
	go func() {
		rw.done <- worker.Run(ctx, b.cfg, zaptest.NewLogger(b.t, zaptest.Level(zapcore.WarnLevel)),
			worker.AppOptions{Pipeline: p, Started: func(a string) { started <- a }})
	}()
	select {
	case rw.addr = <-started:
	case err := <-rw.done:
		b.t.Fatalf("worker exited at start: %v", err)
	}
	b.t.Cleanup(func() { _ = rw.stop() })
	return rw
}

func (rw *runningWorker) stop() error {
	rw.cancel()
	err, ok := <-rw.done
	if !ok {
		return nil
	}
	close(rw.done)
	return err
}

func (b *bundle) publishRaw(body string, props amqp.Publishing) {
	b.t.Helper()
	props.Body = []byte(body)
	if props.DeliveryMode == 0 {
		props.DeliveryMode = amqp.Persistent
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	testinfra.Must(b.t, b.sess.Publish(ctx, broker.Exchange, broker.RoutingKey, props), "publish")
}

func (b *bundle) publishTask(id, artist, title string) {
	b.t.Helper()
	b.publishRaw(fmt.Sprintf(`{"track_id":%q,"artist":%q,"title":%q}`, id, artist, title),
		amqp.Publishing{ContentType: "application/json"})
}

func (b *bundle) count(q string, args ...any) int {
	b.t.Helper()
	var n int
	testinfra.Must(b.t, b.pool.QueryRow(context.Background(), q, args...).Scan(&n), "count: "+q)
	return n
}

func (b *bundle) waitStatusRows(n int, timeout time.Duration) {
	b.t.Helper()
	testinfra.Eventually(b.t, timeout, fmt.Sprintf("%d status rows", n), func() (bool, error) {
		got := b.count(`SELECT count(*) FROM enrichment_status`)
		return got >= n, fmt.Errorf("have %d", got)
	})
}

// queueDepth returns the ready messages of a queue (passive declare: it
// never changes the queue).
func (b *bundle) queueDepth(q string) int {
	b.t.Helper()
	ch, err := b.sess.Connection().Channel()
	testinfra.Must(b.t, err, "open channel")
	defer ch.Close()
	st, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
	testinfra.Must(b.t, err, "inspect "+q)
	return st.Messages
}

// queueState returns the ready messages and the consumers of a queue.
func (b *bundle) queueState(q string) (ready, consumers int) {
	b.t.Helper()
	ch, err := b.sess.Connection().Channel()
	testinfra.Must(b.t, err, "open channel")
	defer ch.Close()
	st, err := ch.QueueDeclarePassive(q, true, false, false, false, nil)
	testinfra.Must(b.t, err, "inspect "+q)
	return st.Messages, st.Consumers
}

// drainDLQ takes every message from the DLQ.
func (b *bundle) drainDLQ() []amqp.Delivery {
	b.t.Helper()
	ch, err := b.sess.Connection().Channel()
	testinfra.Must(b.t, err, "open channel")
	defer ch.Close()
	var out []amqp.Delivery
	for {
		d, ok, err := ch.Get(broker.DeadLetterQueue, true)
		testinfra.Must(b.t, err, "get from DLQ")
		if !ok {
			return out
		}
		out = append(out, d)
	}
}

func TestThousandTasksThreeWorkers(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	for range 3 {
		b.startWorker(nil)
	}
	const n = 1000
	ctx := context.Background()
	pending := make([]*broker.Pending, 0, n)
	for i := range n {
		body := fmt.Sprintf(`{"track_id":"t%04d","artist":"Artist %d","title":"Title %d"}`, i, i%97, i)
		p, err := b.sess.PublishAsync(ctx, broker.Exchange, broker.RoutingKey,
			amqp.Publishing{ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: []byte(body)})
		testinfra.Must(t, err, "publish")
		pending = append(pending, p)
	}
	for _, p := range pending {
		testinfra.Must(t, p.Wait(ctx), "confirm")
	}
	b.waitStatusRows(n, 60*time.Second)
	if got := b.count(`SELECT count(*) FROM tracks`); got != n {
		t.Errorf("tracks rows = %d, want %d", got, n)
	}
	if got := b.count(`SELECT count(*) FROM enrichment_status WHERE status = 'not_found'`); got != n {
		t.Errorf("not_found rows = %d, want %d (no provider enabled)", got, n)
	}
	for _, q := range b.topo.Queues() {
		if got := b.queueDepth(q); got != 0 {
			t.Errorf("queue %s holds %d messages, want 0", q, got)
		}
	}
}

func TestMalformedMessagesGoToDLQ(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.startWorker(nil)
	malformed := []struct {
		name string
		body string
	}{
		{"not json", `this is not json`},
		{"missing title", `{"track_id":"m2","artist":"Bicep"}`},
		{"10000-char artist", `{"track_id":"m3","artist":"` + strings.Repeat("a", 10000) + `","title":"Glue"}`},
		{"300-char track_id", `{"track_id":"` + strings.Repeat("x", 300) + `","artist":"Bicep","title":"Glue"}`},
		{"invalid utf-8", "{\"track_id\":\"m5\",\"artist\":\"Bj\xff\xferk\",\"title\":\"Joga\"}"},
		{"priority high", `{"track_id":"m6","artist":"Bicep","title":"Glue","priority":"high"}`},
	}
	for _, m := range malformed {
		b.publishRaw(m.body, amqp.Publishing{ContentType: "application/json", MessageId: m.name})
	}
	// The worker keeps consuming after them.
	b.publishTask("ok1", "Bicep", "Glue")
	b.waitStatusRows(1, 30*time.Second)
	testinfra.Eventually(t, 30*time.Second, "6 messages in the DLQ", func() (bool, error) {
		return b.queueDepth(broker.DeadLetterQueue) >= len(malformed), nil
	})
	got := b.drainDLQ()
	if len(got) != len(malformed) {
		t.Fatalf("DLQ holds %d messages, want %d", len(got), len(malformed))
	}
	byID := map[string]amqp.Delivery{}
	for _, d := range got {
		byID[d.MessageId] = d
	}
	for _, m := range malformed {
		d, ok := byID[m.name]
		if !ok {
			t.Errorf("%s: not in the DLQ", m.name)
			continue
		}
		if string(d.Body) != m.body {
			t.Errorf("%s: body changed in the DLQ", m.name)
		}
		if r := d.Headers[broker.HeaderReason]; r != broker.ReasonInvalid {
			t.Errorf("%s: reason header = %v, want %s", m.name, r, broker.ReasonInvalid)
		}
		if e, _ := d.Headers[broker.HeaderError].(string); !strings.HasPrefix(e, "invalid message") {
			t.Errorf("%s: error header = %q, want an invalid message error", m.name, e)
		}
		if a, _ := d.Headers[broker.HeaderAttempts].(int64); a != 1 {
			t.Errorf("%s: attempts header = %v, want 1", m.name, d.Headers[broker.HeaderAttempts])
		}
		if ff, _ := d.Headers[broker.HeaderFirstFailure].(string); ff == "" {
			t.Errorf("%s: no first-failure header", m.name)
		} else if _, err := time.Parse(time.RFC3339, ff); err != nil {
			t.Errorf("%s: first-failure %q is not RFC 3339: %v", m.name, ff, err)
		}
	}
	if got := b.count(`SELECT count(*) FROM tracks WHERE id <> 'ok1'`); got != 0 {
		t.Errorf("invalid messages left %d tracks rows, want 0", got)
	}
}

func TestDuplicateDeliveryLeavesOneRow(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.startWorker(nil)
	b.publishTask("dup", "Bicep", "Apricots (Extended Mix)")
	b.waitStatusRows(1, 30*time.Second)
	var before, after time.Time
	testinfra.Must(t, b.pool.QueryRow(context.Background(), `SELECT updated_at FROM tracks WHERE id='dup'`).Scan(&before), "read row")
	b.publishTask("dup", "Bicep", "Apricots (Extended Mix)")
	b.publishTask("marker", "Bicep", "Glue")
	b.waitStatusRows(2, 30*time.Second)
	// Deliveries are processed concurrently: wait until the queue is drained.
	testinfra.Eventually(t, 10*time.Second, "work queue empty", func() (bool, error) {
		return b.queueDepth(broker.WorkQueue) == 0, nil
	})
	if got := b.count(`SELECT count(*) FROM tracks WHERE id='dup'`); got != 1 {
		t.Errorf("tracks rows for dup = %d, want 1", got)
	}
	if got := b.count(`SELECT count(*) FROM enrichment_status WHERE track_id='dup'`); got != 1 {
		t.Errorf("status rows for dup = %d, want 1", got)
	}
	testinfra.Must(t, b.pool.QueryRow(context.Background(), `SELECT updated_at FROM tracks WHERE id='dup'`).Scan(&after), "read row")
	if !after.Equal(before) {
		t.Errorf("duplicate delivery rewrote the row: updated_at %v -> %v", before, after)
	}
}

// flaky fails the first failures calls per track, then succeeds.
type flaky struct {
	mu       sync.Mutex
	calls    map[string]int
	failures int
	err      error
}

func (f *flaky) Enrich(_ context.Context, t task.Task) (enrich.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[t.TrackID]++
	if f.calls[t.TrackID] <= f.failures {
		return enrich.Result{}, f.err
	}
	return enrich.Result{Status: enrich.StatusCompleted, Sources: []string{"musicbrainz"}, Confidence: 0.9, ISRC: "GBCEL1700123"}, nil
}

func TestRetryTiersThenSuccess(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	f := &flaky{calls: map[string]int{}, failures: 2, err: errors.New("provider unavailable")}
	b.startWorker(f)
	b.publishTask("r1", "Bicep", "Glue")
	b.waitStatusRows(1, 30*time.Second)
	var status string
	var attempts int
	testinfra.Must(t, b.pool.QueryRow(context.Background(),
		`SELECT status, attempts FROM enrichment_status WHERE track_id='r1'`).Scan(&status, &attempts), "read status")
	if status != "completed" || attempts != 3 {
		t.Errorf("status, attempts = %s, %d; want completed, 3", status, attempts)
	}
	if got := b.queueDepth(broker.DeadLetterQueue); got != 0 {
		t.Errorf("DLQ depth = %d, want 0", got)
	}
}

func TestRetriesExhaustedGoToDLQ(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	f := &flaky{calls: map[string]int{}, failures: 100, err: errors.New("provider unavailable")}
	b.startWorker(f)
	b.publishTask("x1", "Bicep", "Glue")
	testinfra.Eventually(t, 30*time.Second, "task in the DLQ", func() (bool, error) {
		return b.queueDepth(broker.DeadLetterQueue) == 1, nil
	})
	d := b.drainDLQ()[0]
	if r := d.Headers[broker.HeaderReason]; r != broker.ReasonExhausted {
		t.Errorf("reason = %v, want %s", r, broker.ReasonExhausted)
	}
	if a, _ := d.Headers[broker.HeaderAttempts].(int64); a != 3 {
		t.Errorf("attempts = %v, want 3 (one try + two tiers)", d.Headers[broker.HeaderAttempts])
	}
	if _, ok := d.Headers["x-death"]; ok {
		t.Errorf("x-death carried into the worker's dead letter; want our headers only")
	}
	if got := f.calls["x1"]; got != 3 {
		t.Errorf("pipeline calls = %d, want 3", got)
	}
	b.waitStatusRows(1, 10*time.Second)
	var status, lastErr string
	testinfra.Must(t, b.pool.QueryRow(context.Background(),
		`SELECT status, last_error FROM enrichment_status WHERE track_id='x1'`).Scan(&status, &lastErr), "read status")
	if status != "failed" || !strings.Contains(lastErr, "provider unavailable") {
		t.Errorf("status, last_error = %s, %q; want failed with the error", status, lastErr)
	}
}

func TestPermanentErrorGoesToDLQAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	f := &flaky{calls: map[string]int{}, failures: 100, err: enrich.Permanent(errors.New("bad request"))}
	b.startWorker(f)
	b.publishTask("p1", "Bicep", "Glue")
	testinfra.Eventually(t, 30*time.Second, "task in the DLQ", func() (bool, error) {
		return b.queueDepth(broker.DeadLetterQueue) == 1, nil
	})
	d := b.drainDLQ()[0]
	if r := d.Headers[broker.HeaderReason]; r != broker.ReasonPermanent {
		t.Errorf("reason = %v, want %s", r, broker.ReasonPermanent)
	}
	if got := f.calls["p1"]; got != 1 {
		t.Errorf("pipeline calls = %d, want 1 (never retried)", got)
	}
}

// gate blocks every task until released, and reports each start.
type gate struct {
	started chan string
	release chan struct{}
	done    atomic.Int32
}

func (g *gate) Enrich(ctx context.Context, t task.Task) (enrich.Result, error) {
	g.started <- t.TrackID
	select {
	case <-g.release:
	case <-ctx.Done():
		return enrich.Result{}, ctx.Err()
	}
	g.done.Add(1)
	return enrich.Result{Status: enrich.StatusNotFound}, nil
}

func TestShutdownDrainsInFlight(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	g := &gate{started: make(chan string, 10), release: make(chan struct{})}
	rw := b.startWorker(g)
	b.publishTask("s1", "Bicep", "Glue")
	<-g.started
	stopped := make(chan error, 1)
	go func() { stopped <- rw.stop() }()
	// The worker must not exit while the task is in flight.
	select {
	case err := <-stopped:
		t.Fatalf("worker exited with a task in flight: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(g.release)
	if err := <-stopped; err != nil {
		t.Fatalf("worker stop = %v, want nil", err)
	}
	if got := b.count(`SELECT count(*) FROM enrichment_status WHERE track_id='s1'`); got != 1 {
		t.Errorf("status rows = %d, want 1 (in-flight task finished before exit)", got)
	}
	if got := b.queueDepth(broker.WorkQueue); got != 0 {
		t.Errorf("work queue depth = %d, want 0", got)
	}
}
