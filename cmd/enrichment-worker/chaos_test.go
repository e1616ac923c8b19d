package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap/zaptest"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/config"
	"github.com/djmeta/enrichment/internal/providersim"
	"github.com/djmeta/enrichment/internal/testinfra"
)

// TestChaos (make chaos) runs three worker processes against provider-sim
// while tasks are published steadily, and injects faults one after another:
// a worker killed with SIGKILL, a RabbitMQ restart, a PostgreSQL restart and
// a Redis restart. At the end every task must be in Postgres exactly once
// or in the DLQ with a reason, and the fleet must have resumed after each
// fault. It restarts the machine's shared services, so it never runs in
// make test.
func TestChaos(t *testing.T) {
	if os.Getenv("ENRICH_CHAOS_TEST") == "" {
		t.Skip("chaos test restarts the shared services: run with make chaos (ENRICH_CHAOS_TEST=1)")
	}
	bin := buildWorker(t)
	dbURL := testinfra.MigratedDatabase(t)
	amqpURL := testinfra.VHost(t)
	redisURL, prefix := testinfra.RedisURL(t)
	ctx := context.Background()
	delays, _ := config.ParseRetryDelays("1s,2s,4s,8s,16s")
	topo := broker.NewTopology(delays, 20)
	testinfra.Must(t, topo.DeclareWithRetry(ctx, amqpURL, 5*time.Second, zaptest.NewLogger(t)), "declare")

	cat, err := providersim.LoadCatalog("../../testdata/catalog/catalog.json")
	testinfra.Must(t, err, "catalog")
	simCfg := providersim.DefaultConfig()
	simCfg.MusicBrainzRate, simCfg.MusicBrainzBurst, simCfg.DiscogsRateLimit, simCfg.SpotifyRateLimit = 1000, 100, 100000, 100000
	simCfg.Latency = 20 * time.Millisecond
	sim, err := providersim.New(cat, simCfg)
	testinfra.Must(t, err, "sim")
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()

	env := []string{"DATABASE_URL=" + dbURL, "AMQP_URL=" + amqpURL, "REDIS_URL=" + redisURL, "CACHE_PREFIX=" + prefix,
		"METRICS_ADDR=127.0.0.1:0", "LOG_LEVEL=warn", "RETRY_DELAYS=" + delays.String(), "AMQP_RECONNECT_MAX_DELAY=2s",
		"SPOTIFY_CLIENT_ID=c", "SPOTIFY_CLIENT_SECRET=s", "DISCOGS_TOKEN=t",
		"SPOTIFY_API_URL=" + srv.URL + "/spotify/v1", "SPOTIFY_TOKEN_URL=" + srv.URL + "/spotify/api/token",
		"MUSICBRAINZ_API_URL=" + srv.URL + "/musicbrainz/ws/2", "DISCOGS_API_URL=" + srv.URL + "/discogs",
		"SPOTIFY_RATE=200", "MUSICBRAINZ_RATE=200", "DISCOGS_RATE=200"}
	workers := make([]*exec.Cmd, 3)
	for i := range workers {
		workers[i] = startProcess(t, bin, env)
	}

	pool, err := pgxpool.New(ctx, dbURL)
	testinfra.Must(t, err, "pool")
	defer pool.Close()
	rows := func() int {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM enrichment_status`).Scan(&n); err != nil {
			return -1
		}
		return n
	}

	// Publisher: 100 tasks/s for 40 s, republishing (same track_id) until
	// each is confirmed, across broker restarts.
	const n = 4000
	var published atomic.Int64
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		var sess *broker.Session
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < n; {
			<-tick.C
			if sess == nil {
				s, derr := broker.Dial(amqpURL, "chaos-publisher")
				if derr != nil {
					continue
				}
				sess = s
			}
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := sess.Publish(pctx, broker.Exchange, broker.RoutingKey, amqp.Publishing{
				ContentType: "application/json", DeliveryMode: amqp.Persistent,
				Body: fmt.Appendf(nil, `{"track_id":"chaos%05d","artist":"Bicep","title":"Title %d"}`, i, i%300)})
			cancel()
			if err != nil {
				_ = sess.Close()
				sess = nil
				continue
			}
			i++
			published.Add(1)
		}
		if sess != nil {
			_ = sess.Close()
		}
	}()

	// resumed waits until the status row count grows again after a fault.
	resumed := func(fault string, since time.Time) {
		base := rows()
		testinfra.Eventually(t, 90*time.Second, "the fleet to resume after "+fault, func() (bool, error) {
			return rows() > base, nil
		})
		t.Logf("%-28s resumed after %s", fault, time.Since(since).Round(100*time.Millisecond))
	}
	run := func(name string, args ...string) {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	time.Sleep(5 * time.Second) // steady state before the first fault

	at := time.Now()
	testinfra.Must(t, workers[0].Process.Signal(syscall.SIGKILL), "SIGKILL")
	_, _ = workers[0].Process.Wait()
	workers[0] = startProcess(t, bin, env)
	resumed("worker SIGKILL", at)

	time.Sleep(3 * time.Second)
	at = time.Now()
	run("rabbitmqctl", "stop_app")
	time.Sleep(3 * time.Second)
	run("rabbitmqctl", "start_app")
	resumed("RabbitMQ restart", at)

	time.Sleep(3 * time.Second)
	at = time.Now()
	clusters, _ := filepath.Glob("/etc/postgresql/*")
	run("pg_ctlcluster", "--skip-systemctl-redirect", filepath.Base(clusters[0]), "main", "restart")
	resumed("PostgreSQL restart", at)

	time.Sleep(3 * time.Second)
	at = time.Now()
	_ = exec.Command("redis-cli", "-h", "127.0.0.1", "-p", "6379", "shutdown", "nosave").Run()
	time.Sleep(2 * time.Second)
	run("redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379", "--save", "",
		"--appendonly", "no", "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log")
	resumed("Redis restart", at)

	<-pubDone
	// Every task settles: a status row, or the DLQ.
	sess, err := broker.Dial(amqpURL, "chaos-check")
	testinfra.Must(t, err, "dial")
	defer sess.Close()
	var dlq []amqp.Delivery
	var dlqMu sync.Mutex
	testinfra.Eventually(t, 3*time.Minute, "every task settled", func() (bool, error) {
		ch, err := sess.Connection().Channel()
		if err != nil {
			return false, err
		}
		defer ch.Close()
		for {
			d, ok, err := ch.Get(broker.DeadLetterQueue, true)
			if err != nil || !ok {
				break
			}
			dlqMu.Lock()
			dlq = append(dlq, d)
			dlqMu.Unlock()
		}
		var distinct int
		if err := pool.QueryRow(ctx, `SELECT count(DISTINCT track_id) FROM enrichment_status`).Scan(&distinct); err != nil {
			return false, err
		}
		dlqIDs := map[string]bool{}
		for _, d := range dlq {
			dlqIDs[string(d.Body)] = true
		}
		return distinct+len(dlqIDs) >= n, fmt.Errorf("%d rows + %d dead letters of %d", distinct, len(dlqIDs), n)
	})
	var tracks, statuses int
	testinfra.Must(t, pool.QueryRow(ctx, `SELECT count(*) FROM tracks WHERE id LIKE 'chaos%'`).Scan(&tracks), "count tracks")
	testinfra.Must(t, pool.QueryRow(ctx, `SELECT count(*) FROM enrichment_status`).Scan(&statuses), "count statuses")
	for _, d := range dlq {
		if d.Headers[broker.HeaderReason] == nil && d.Headers["x-death"] == nil {
			t.Errorf("dead letter without a reason: %s", d.Body)
		}
	}
	t.Logf("published %d; %d tracks rows, %d status rows, %d dead letters", published.Load(), tracks, statuses, len(dlq))
	if tracks > n || statuses > n {
		t.Errorf("more rows than tasks: %d tracks, %d statuses for %d tasks", tracks, statuses, n)
	}
}
