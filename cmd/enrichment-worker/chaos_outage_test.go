package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync/atomic"
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

// The chaos cases of faults that are ours: Postgres stopped under load, a
// row lock held for 90 s, SIGTERM while a batch is blocked. They run with
// make chaos (the first stops the machine's shared PostgreSQL).

// chaosStack is an isolated database and vhost with the topology, and
// workers built from this package.
type chaosStack struct {
	t       *testing.T
	bin     string
	dbURL   string
	amqpURL string
	env     []string
	pool    *pgxpool.Pool
	sess    *broker.Session
	delays  config.RetryDelays
}

func newChaosStack(t *testing.T, retryDelays string, env ...string) *chaosStack {
	t.Helper()
	s := &chaosStack{t: t, bin: buildWorker(t), dbURL: testinfra.MigratedDatabase(t), amqpURL: testinfra.VHost(t)}
	redisURL, prefix := testinfra.RedisURL(t)
	ctx := context.Background()
	var err error
	s.delays, err = config.ParseRetryDelays(retryDelays)
	testinfra.Must(t, err, "delays")
	topo := broker.NewTopology(s.delays, 20)
	testinfra.Must(t, topo.DeclareWithRetry(ctx, s.amqpURL, 5*time.Second, zaptest.NewLogger(t)), "declare")
	s.env = append([]string{"DATABASE_URL=" + s.dbURL, "AMQP_URL=" + s.amqpURL, "REDIS_URL=" + redisURL,
		"CACHE_PREFIX=" + prefix, "LOG_LEVEL=warn", "PROVIDERS=none", "RETRY_DELAYS=" + s.delays.String(),
		"AMQP_RECONNECT_MAX_DELAY=2s"}, env...)
	s.pool, err = pgxpool.New(ctx, s.dbURL)
	testinfra.Must(t, err, "pool")
	t.Cleanup(s.pool.Close)
	s.sess, err = broker.Dial(s.amqpURL, "chaos-publisher")
	testinfra.Must(t, err, "dial")
	t.Cleanup(func() { _ = s.sess.Close() })
	return s
}

// worker starts a worker process with its metrics on a port of its own.
func (s *chaosStack) worker(env ...string) (*exec.Cmd, string) {
	s.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	testinfra.Must(s.t, err, "free port")
	addr := ln.Addr().String()
	_ = ln.Close()
	cmd := startProcess(s.t, s.bin, append(append([]string{"METRICS_ADDR=" + addr}, s.env...), env...))
	testinfra.Eventually(s.t, 30*time.Second, "the worker's metrics", func() (bool, error) {
		return scrape(addr) != "", nil
	})
	return cmd, addr
}

func scrape(addr string) string {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return ""
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	fmt.Fprintf(c, "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
	b, _ := io.ReadAll(bufio.NewReader(c))
	return string(b)
}

// sum adds the values of every series of a metric in a scrape.
func sum(scraped, name string) float64 {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `(?:\{[^}]*\})? (\S+)$`)
	total := 0.0
	for _, m := range re.FindAllStringSubmatch(scraped, -1) {
		v, _ := strconv.ParseFloat(m[1], 64)
		total += v
	}
	return total
}

func (s *chaosStack) publish(ctx context.Context, id, title string) error {
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return s.sess.Publish(pctx, broker.Exchange, broker.RoutingKey, amqp.Publishing{
		ContentType: "application/json", DeliveryMode: amqp.Persistent,
		Body: fmt.Appendf(nil, `{"track_id":%q,"artist":"Bicep","title":%q}`, id, title)})
}

func (s *chaosStack) count(q string, args ...any) int {
	var n int
	if err := s.pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		return -1
	}
	return n
}

func (s *chaosStack) dlq() []amqp.Delivery {
	ch, err := s.sess.Connection().Channel()
	testinfra.Must(s.t, err, "channel")
	defer ch.Close()
	var out []amqp.Delivery
	for {
		d, ok, err := ch.Get(broker.DeadLetterQueue, true)
		testinfra.Must(s.t, err, "get from the DLQ")
		if !ok {
			return out
		}
		out = append(out, d)
	}
}

// publishSteadily publishes n tasks at rate per second in the background.
func (s *chaosStack) publishSteadily(n, rate int) (done <-chan struct{}, published *atomic.Int64) {
	var count atomic.Int64
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for i := 0; i < n; {
			<-tick.C
			if s.publish(context.Background(), fmt.Sprintf("load%05d", i), fmt.Sprint("Title ", i%300)) != nil {
				continue
			}
			i++
			count.Add(1)
		}
	}()
	return ch, &count
}

func pgCluster(t *testing.T, action string) {
	t.Helper()
	clusters, _ := filepath.Glob("/etc/postgresql/*")
	if len(clusters) == 0 {
		t.Fatal("no PostgreSQL cluster under /etc/postgresql")
	}
	out, err := exec.Command("pg_ctlcluster", "--skip-systemctl-redirect", filepath.Base(clusters[0]), "main", action).CombinedOutput()
	if err != nil {
		t.Fatalf("pg_ctlcluster %s: %v\n%s", action, err, out)
	}
}

// TestChaosPostgresStopped: three workers under steady load (100 tasks/s);
// PostgreSQL is stopped for 60 s. The workers pause (no dead letter, no
// attempt spent), resume within 5 s of PostgreSQL returning, and every task
// ends with exactly one row.
func TestChaosPostgresStopped(t *testing.T) {
	if os.Getenv("ENRICH_CHAOS_TEST") == "" {
		t.Skip("stops the shared PostgreSQL: run with make chaos (ENRICH_CHAOS_TEST=1)")
	}
	s := newChaosStack(t, "1s,2s,4s,8s,16s")
	addrs := make([]string, 3)
	for i := range addrs {
		_, addrs[i] = s.worker()
	}
	const n = 9000 // 90 s at 100/s
	pubDone, published := s.publishSteadily(n, 100)
	testinfra.Eventually(t, 60*time.Second, "steady state", func() (bool, error) {
		return s.count(`SELECT count(*) FROM enrichment_status`) >= 1000, nil
	})

	pgCluster(t, "stop")
	stopped := time.Now()
	stoppedFor := 60 * time.Second
	paused := 0
	testinfra.Eventually(t, 30*time.Second, "every worker to pause", func() (bool, error) {
		paused = 0
		for _, a := range addrs {
			if sum(scrape(a), `enrichment_paused{dependency="postgres"}`) == 1 {
				paused++
			}
		}
		return paused == len(addrs), fmt.Errorf("%d of %d paused", paused, len(addrs))
	})
	time.Sleep(time.Until(stopped.Add(stoppedFor)))
	pgCluster(t, "start")
	back := time.Now()
	s.pool.Reset()
	var base int
	testinfra.Eventually(t, 30*time.Second, "PostgreSQL to answer the test", func() (bool, error) {
		base = s.count(`SELECT count(*) FROM enrichment_status`)
		return base >= 0, nil
	})
	testinfra.Eventually(t, 60*time.Second, "consumption to resume", func() (bool, error) {
		return s.count(`SELECT count(*) FROM enrichment_status`) > base, nil
	})
	resumed := time.Since(back)
	t.Logf("PostgreSQL stopped for %s; the fleet resumed %s after it came back (%d rows before)", stoppedFor,
		resumed.Round(100*time.Millisecond), base)
	if resumed > 5*time.Second {
		t.Errorf("resumed %s after PostgreSQL returned, want within 5s", resumed)
	}
	<-pubDone
	testinfra.Eventually(t, 3*time.Minute, "every task settled", func() (bool, error) {
		got := s.count(`SELECT count(DISTINCT track_id) FROM enrichment_status`)
		return got >= n, fmt.Errorf("%d of %d", got, n)
	})
	dead := s.dlq()
	var retries, dlq float64
	for _, a := range addrs {
		m := scrape(a)
		retries += sum(m, "enrichment_retries_total")
		dlq += sum(m, "enrichment_dead_lettered_total")
	}
	tracks := s.count(`SELECT count(*) FROM tracks`)
	spent := s.count(`SELECT count(*) FROM enrichment_status WHERE attempts <> 1`)
	t.Logf("published %d; %d tracks rows; %d dead letters; %v retries; %d rows past their first attempt",
		published.Load(), tracks, len(dead), retries, spent)
	if len(dead) != 0 || dlq != 0 {
		t.Errorf("%d dead letters (%v counted), want 0", len(dead), dlq)
	}
	if tracks != n {
		t.Errorf("tracks rows = %d, want %d: none lost, none duplicated", tracks, n)
	}
	if spent != 0 || retries != 0 {
		t.Errorf("%d tasks spent attempts, %v retries, on our own outage; want 0", spent, retries)
	}
}

// TestChaosRowLockHeld: another session holds one track's row lock for
// 90 s while two workers take a steady load. The other tasks keep
// completing through the whole 90 s; the blocked task fails after the lock
// timeout and is retried (not a pause), and in the end it completed or is
// in the DLQ with a reason.
func TestChaosRowLockHeld(t *testing.T) {
	if os.Getenv("ENRICH_CHAOS_TEST") == "" {
		t.Skip("takes two minutes: run with make chaos (ENRICH_CHAOS_TEST=1)")
	}
	s := newChaosStack(t, "1s,2s,4s,8s,16s", "DB_LOCK_TIMEOUT=2s")
	_, a1 := s.worker()
	_, a2 := s.worker()
	ctx := context.Background()
	testinfra.Must(t, s.publish(ctx, "locked", "Glue"), "publish")
	testinfra.Eventually(t, 30*time.Second, "the first row", func() (bool, error) {
		return s.count(`SELECT count(*) FROM tracks WHERE id = 'locked'`) == 1, nil
	})
	holder, err := s.pool.Begin(ctx)
	testinfra.Must(t, err, "begin")
	_, err = holder.Exec(ctx, `SELECT 1 FROM tracks WHERE id = 'locked' FOR UPDATE`)
	testinfra.Must(t, err, "lock")
	locked := time.Now()

	pubDone, _ := s.publishSteadily(9000, 100)
	testinfra.Must(t, s.publish(ctx, "locked", "Glue (again)"), "publish the blocked task")
	sent := time.Now()
	testinfra.Eventually(t, 20*time.Second, "the blocked task to be retried", func() (bool, error) {
		return sum(scrape(a1), "enrichment_retries_total")+sum(scrape(a2), "enrichment_retries_total") >= 1, nil
	})
	t.Logf("the blocked task was retried %s after it was published (lock timeout 2s)", time.Since(sent).Round(100*time.Millisecond))
	// Others keep completing: the row count grows in every 5 s window.
	prev := s.count(`SELECT count(*) FROM enrichment_status`)
	stalls := 0
	for time.Since(locked) < 90*time.Second {
		time.Sleep(5 * time.Second)
		cur := s.count(`SELECT count(*) FROM enrichment_status`)
		if cur <= prev {
			stalls++
			t.Errorf("no task completed in a 5 s window while the row was locked (%d rows)", cur)
		}
		prev = cur
	}
	for _, a := range []string{a1, a2} {
		if p := sum(scrape(a), `enrichment_paused{dependency="postgres"}`); p != 0 {
			t.Errorf("a worker paused for a row lock: enrichment_paused = %v, want 0", p)
		}
	}
	_ = holder.Rollback(ctx)
	<-pubDone
	var done bool
	var dead []amqp.Delivery
	testinfra.Eventually(t, 2*time.Minute, "the blocked task to finish or be dead-lettered", func() (bool, error) {
		done = s.count(`SELECT count(*) FROM tracks WHERE id = 'locked' AND title = 'Glue (again)'`) == 1
		dead = append(dead, s.dlq()...)
		return done || len(dead) > 0, nil
	})
	for _, d := range dead {
		t.Logf("dead letter %s: reason %v, error %v", d.Body, d.Headers[broker.HeaderReason], d.Headers[broker.HeaderError])
		if d.Headers[broker.HeaderReason] == nil {
			t.Errorf("dead letter without a reason: %s", d.Body)
		}
	}
	t.Logf("blocked task completed: %v; dead letters: %d; windows without progress: %d", done, len(dead), stalls)
}

// TestChaosSIGTERMWhileBatchBlocked: a worker whose batch waits on a row
// lock (lock and write timeouts longer than the test) gets SIGTERM: it
// exits 0 within WORKER_DRAIN_TIMEOUT plus broker.ShutdownMargin, and the
// blocked task returns to the queue.
func TestChaosSIGTERMWhileBatchBlocked(t *testing.T) {
	if os.Getenv("ENRICH_CHAOS_TEST") == "" {
		t.Skip("run with make chaos (ENRICH_CHAOS_TEST=1)")
	}
	const drain = 5 * time.Second
	s := newChaosStack(t, "1s", "DB_LOCK_TIMEOUT=5m", "DB_WRITE_TIMEOUT=5m", "TASK_TIMEOUT=10m",
		"WORKER_DRAIN_TIMEOUT="+drain.String())
	w, _ := s.worker()
	ctx := context.Background()
	testinfra.Must(t, s.publish(ctx, "locked", "Glue"), "publish")
	testinfra.Eventually(t, 30*time.Second, "the first row", func() (bool, error) {
		return s.count(`SELECT count(*) FROM tracks WHERE id = 'locked'`) == 1, nil
	})
	holder, err := s.pool.Begin(ctx)
	testinfra.Must(t, err, "begin")
	defer func() { _ = holder.Rollback(ctx) }()
	_, err = holder.Exec(ctx, `SELECT 1 FROM tracks WHERE id = 'locked' FOR UPDATE`)
	testinfra.Must(t, err, "lock")
	testinfra.Must(t, s.publish(ctx, "locked", "Glue (again)"), "publish the blocked task")
	testinfra.Eventually(t, 30*time.Second, "the batch to wait on the lock", func() (bool, error) {
		return s.count(`SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`) >= 1, nil
	})
	testinfra.Must(t, w.Process.Signal(syscall.SIGTERM), "SIGTERM")
	signalled := time.Now()
	exited := make(chan error, 1)
	go func() { exited <- w.Wait() }()
	limit := drain + broker.ShutdownMargin
	select {
	case err := <-exited:
		took := time.Since(signalled)
		t.Logf("exited %s after SIGTERM (drain timeout %s + margin %s = %s): %v", took.Round(10*time.Millisecond),
			drain, broker.ShutdownMargin, limit, err)
		if err != nil {
			t.Errorf("exit = %v, want status 0", err)
		}
	case <-time.After(limit + 5*time.Second):
		t.Fatalf("still running %s after SIGTERM, want an exit within %s", limit+5*time.Second, limit)
	}
	ch, err := s.sess.Connection().Channel()
	testinfra.Must(t, err, "channel")
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(broker.WorkQueue, true, false, false, false, nil)
	testinfra.Must(t, err, "inspect")
	if q.Messages != 1 {
		t.Errorf("work queue holds %d, want the blocked task back (1)", q.Messages)
	}
}
