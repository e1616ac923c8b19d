package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.uber.org/zap/zaptest"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/config"
	"github.com/djmeta/enrichment/internal/testinfra"
)

// rssBytes reads a process's resident set size from /proc.
func rssBytes(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// TestMemoryBoundedWithLargeMessages (make memory) queues MEMORY_MESSAGES
// (default 40) messages of MEMORY_MESSAGE_MB (default 5) MB each, far over
// the contract's 64 KiB, and runs one worker with the default
// PREFETCH_COUNT (128) and PREFETCH_BYTES (8 MiB). Its RSS, sampled every
// 250 ms, must stay at most 64 MiB, and every message must be
// dead-lettered with reason invalid_message. It moves a few hundred MB
// through the shared broker, so it is not part of make test.
func TestMemoryBoundedWithLargeMessages(t *testing.T) {
	if os.Getenv("ENRICH_MEMORY_TEST") == "" {
		t.Skip("moves hundreds of MB through the broker: run with make memory (ENRICH_MEMORY_TEST=1)")
	}
	n, mb := 40, 5
	if v, err := strconv.Atoi(os.Getenv("MEMORY_MESSAGES")); err == nil && v > 0 {
		n = v
	}
	if v, err := strconv.Atoi(os.Getenv("MEMORY_MESSAGE_MB")); err == nil && v > 0 {
		mb = v
	}
	const limit = 64 << 20
	bin := buildWorker(t)
	dbURL := testinfra.MigratedDatabase(t)
	amqpURL := testinfra.VHost(t)
	redisURL, _ := testinfra.RedisURL(t)
	ctx := context.Background()
	delays, _ := config.ParseRetryDelays("2s,4s,8s")
	topo := broker.NewTopology(delays, 20)
	testinfra.Must(t, topo.DeclareWithRetry(ctx, amqpURL, 5*time.Second, zaptest.NewLogger(t)), "declare")

	sess, err := broker.Dial(amqpURL, "memory-publisher")
	testinfra.Must(t, err, "dial")
	defer sess.Close()
	body := bytes.Repeat([]byte("x"), mb*1000*1000)
	for i := range n {
		copy(body, fmt.Sprintf(`{"track_id":"big%03d","artist":"`, i))
		pctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		testinfra.Must(t, sess.Publish(pctx, broker.Exchange, broker.RoutingKey, amqp.Publishing{
			ContentType: "application/json", DeliveryMode: amqp.Persistent, MessageId: fmt.Sprint("big", i), Body: body}), "publish")
		cancel()
	}
	t.Logf("queued %d messages of %d MB", n, mb)

	w := startProcess(t, bin, []string{"DATABASE_URL=" + dbURL, "AMQP_URL=" + amqpURL, "REDIS_URL=" + redisURL,
		"METRICS_ADDR=127.0.0.1:0", "LOG_LEVEL=warn", "PROVIDERS=none", "RETRY_DELAYS=" + delays.String()})
	ch, err := sess.Connection().Channel()
	testinfra.Must(t, err, "channel")
	defer ch.Close()
	var maxRSS int64
	var samples int
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		<-tick.C
		rss, err := rssBytes(w.Process.Pid)
		testinfra.Must(t, err, "read RSS")
		maxRSS = max(maxRSS, rss)
		samples++
		q, err := ch.QueueDeclarePassive(broker.DeadLetterQueue, true, false, false, false, nil)
		testinfra.Must(t, err, "inspect the DLQ")
		if q.Messages >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d messages dead-lettered after 5 minutes", q.Messages, n)
		}
	}
	t.Logf("worker RSS at most %.1f MiB over %d samples every 250ms (limit %d MiB)", float64(maxRSS)/(1<<20), samples, limit>>20)
	if maxRSS > limit {
		t.Errorf("worker RSS reached %.1f MiB, want at most %d MiB", float64(maxRSS)/(1<<20), limit>>20)
	}
	got := 0
	for {
		d, ok, err := ch.Get(broker.DeadLetterQueue, true)
		testinfra.Must(t, err, "get from the DLQ")
		if !ok {
			break
		}
		got++
		if r := d.Headers[broker.HeaderReason]; r != broker.ReasonInvalid {
			t.Errorf("%s: reason %v, want %s", d.MessageId, r, broker.ReasonInvalid)
		}
		if e, _ := d.Headers[broker.HeaderError].(string); !strings.Contains(e, "more than") {
			t.Errorf("%s: error %q, want the size refusal", d.MessageId, e)
		}
	}
	if got != n {
		t.Errorf("dead letters = %d, want %d", got, n)
	}
}
