package worker_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/enrichctl"
	"github.com/djmeta/enrichment/internal/testinfra"
)

// TestDLQReplayAfterFix: tasks dead-lettered while a provider was down are
// replayed with enrichctl once it is fixed; the DLQ empties and every track
// ends completed.
func TestDLQReplayAfterFix(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]string{"RETRY_DELAYS": "100ms,200ms"})
	broken := &flaky{calls: map[string]int{}, failures: 1000, err: fmt.Errorf("provider down")}
	rw := b.startWorker(broken)
	const n = 10
	for i := range n {
		b.publishTask(fmt.Sprint("replay", i), "Bicep", fmt.Sprint("Title ", i))
	}
	testinfra.Eventually(t, 30*time.Second, "every task in the DLQ", func() (bool, error) {
		return b.queueDepth(broker.DeadLetterQueue) == n, nil
	})
	if got := b.count(`SELECT count(*) FROM enrichment_status WHERE status = 'failed'`); got != n {
		t.Errorf("failed rows = %d, want %d", got, n)
	}
	testinfra.Must(t, rw.stop(), "stop the broken worker")

	// The cause is fixed: a worker whose provider answers.
	b.startWorker(&flaky{calls: map[string]int{}, failures: 0})
	var out bytes.Buffer
	err := enrichctl.Main(context.Background(), []string{"dlq", "replay", "--amqp-url", b.cfg.AMQPURL, "--reason", broker.ReasonExhausted},
		enrichctl.Env{Stdout: &out, Stderr: &out})
	testinfra.Must(t, err, "dlq replay: "+out.String())
	testinfra.Eventually(t, 30*time.Second, "every track completed", func() (bool, error) {
		return b.count(`SELECT count(*) FROM enrichment_status WHERE status = 'completed'`) == n, nil
	})
	if got := b.queueDepth(broker.DeadLetterQueue); got != 0 {
		t.Errorf("DLQ depth after replay = %d, want 0", got)
	}
	if got := b.count(`SELECT count(*) FROM enrichment_status WHERE attempts <> 1`); got != 0 {
		t.Errorf("%d replayed tasks did not start again at attempt 1", got)
	}
}
