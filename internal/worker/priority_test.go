package worker_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/enrich"
	"github.com/djmeta/enrichment/internal/enrichctl"
	"github.com/djmeta/enrichment/internal/task"
	"github.com/djmeta/enrichment/internal/testinfra"
)

// slowPipeline stands for real provider latency.
type slowPipeline struct{ d time.Duration }

func (p slowPipeline) Enrich(ctx context.Context, _ task.Task) (enrich.Result, error) {
	t := time.NewTimer(p.d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return enrich.Result{}, ctx.Err()
	}
	return enrich.Result{Status: enrich.StatusNotFound}, nil
}

// TestPriorityOvertakesBacklog: a priority-10 task published (with
// enrichctl) behind a backlog of 3,000 priority-3 tasks is among the first
// tasks the worker finishes.
func TestPriorityOvertakesBacklog(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]string{"WORKER_CONCURRENCY": "8", "PREFETCH_COUNT": "32"})
	ctx := context.Background()
	const backlog = 3000
	var pending []*broker.Pending
	for i := range backlog {
		p, err := b.sess.PublishAsync(ctx, broker.Exchange, broker.RoutingKey, amqp.Publishing{
			ContentType: "application/json", DeliveryMode: amqp.Persistent, Priority: 3,
			Body: fmt.Appendf(nil, `{"track_id":"b%04d","artist":"A","title":"T %d","priority":3}`, i, i)})
		testinfra.Must(t, err, "publish backlog")
		pending = append(pending, p)
	}
	for _, p := range pending {
		testinfra.Must(t, p.Wait(ctx), "confirm")
	}
	var out bytes.Buffer
	err := enrichctl.Main(ctx, []string{"publish", "--amqp-url", b.cfg.AMQPURL, "--track-id", "vip",
		"--artist", "Bicep", "--title", "Glue", "--priority", "10"}, enrichctl.Env{Stdout: &out, Stderr: &out})
	testinfra.Must(t, err, "enrichctl publish: "+out.String())

	b.startWorker(slowPipeline{d: 2 * time.Millisecond})
	testinfra.Eventually(t, 60*time.Second, "the priority task to finish", func() (bool, error) {
		return b.count(`SELECT count(*) FROM enrichment_status WHERE track_id = 'vip'`) == 1, nil
	})
	before := b.count(`SELECT count(*) FROM enrichment_status WHERE updated_at < (SELECT updated_at FROM enrichment_status WHERE track_id = 'vip')`)
	left := b.queueDepth(broker.WorkQueue)
	t.Logf("priority task finished after %d backlog tasks, with %d still queued", before, left)
	if before > 100 {
		t.Errorf("%d backlog tasks finished before the priority task, want at most 100", before)
	}
	if left < backlog/2 {
		t.Errorf("only %d backlog tasks left when the priority task finished; the test needs the backlog present", left)
	}
}
