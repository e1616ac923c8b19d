package worker_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/testinfra"
)

// TestReconnectAfterConnectionLoss cuts the worker's broker connection (as a
// broker restart would): the worker reports not ready, reconnects by itself,
// resumes consuming, and nothing is lost.
func TestReconnectAfterConnectionLoss(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]string{"AMQP_RECONNECT_MAX_DELAY": "500ms"})
	rw := b.startWorker(nil)
	for i := range 50 {
		b.publishTask(fmt.Sprint("before", i), "Artist", fmt.Sprint("Title ", i))
	}
	b.waitStatusRows(50, 30*time.Second)

	testinfra.Eventually(t, 10*time.Second, "worker ready", func() (bool, error) { return get(rw.addr, "/readyz") == 200, nil })
	// The management API lists new connections after its stats interval.
	testinfra.Eventually(t, 30*time.Second, "the worker's connection to be listed and closed", func() (bool, error) {
		return testinfra.CloseConnectionsOnce(t, b.cfg.AMQPURL, "enrichment-worker") > 0, nil
	})
	// Our publisher's connection was cut too: open a new one.
	sess, err := broker.Dial(b.cfg.AMQPURL, "test-publisher-2")
	testinfra.Must(t, err, "dial")
	t.Cleanup(func() { _ = sess.Close() })
	b.sess = sess
	for i := range 50 {
		b.publishRaw(fmt.Sprintf(`{"track_id":"after%d","artist":"Artist","title":"Title %d"}`, i, i), amqp.Publishing{ContentType: "application/json"})
	}
	b.waitStatusRows(100, 30*time.Second)
	testinfra.Eventually(t, 10*time.Second, "worker ready again", func() (bool, error) { return get(rw.addr, "/readyz") == 200, nil })
	metrics := body(rw.addr, "/metrics")
	if !strings.Contains(metrics, "enrichment_amqp_reconnects_total 1\n") {
		i := strings.Index(metrics, "enrichment_amqp_reconnects_total ")
		got := "missing"
		if i >= 0 {
			got, _, _ = strings.Cut(metrics[i:], "\n")
		}
		t.Errorf("after one connection loss: %s, want enrichment_amqp_reconnects_total 1", got)
	}
	for _, q := range b.topo.Queues() {
		if n := b.queueDepth(q); n != 0 {
			t.Errorf("queue %s holds %d messages, want 0", q, n)
		}
	}
}

func get(addr, path string) int {
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func body(addr, path string) string {
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
