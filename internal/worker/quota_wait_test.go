package worker_test

import (
	"fmt"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/providersim"
	"github.com/djmeta/enrichment/internal/testinfra"
)

// TestInvalidMessageDeadLetteredWhileSlotsWaitForQuota: with MusicBrainz
// at a crawl, every concurrency slot holds a task waiting for its quota;
// an invalid message published behind them still reaches the DLQ at once,
// and the waiting tasks neither fail nor spend attempts.
func TestInvalidMessageDeadLetteredWhileSlotsWaitForQuota(t *testing.T) {
	t.Parallel()
	env, sim := simStack(t, func(c *providersim.Config) { c.MusicBrainzRate, c.MusicBrainzBurst = 0.5, 1 })
	env["MUSICBRAINZ_RATE"] = "0.5"
	env["WORKER_CONCURRENCY"] = "4"
	env["PREFETCH_COUNT"] = "32"
	b := setup(t, env)
	b.startWorker(nil)

	const n = 8
	for i := range n {
		b.publishTask(fmt.Sprint("wait", i), "Quota Artist", fmt.Sprintf("Waiting Title %d", i))
	}
	// Every slot busy: tasks are waiting for MusicBrainz.
	testinfra.Eventually(t, 20*time.Second, "MusicBrainz to be at its quota", func() (bool, error) {
		st := simStats(t, sim.URL).Providers["musicbrainz"]
		return st.RequestsTotal >= 2, fmt.Errorf("%d MusicBrainz requests", st.RequestsTotal)
	})
	settled := b.count(`SELECT count(*) FROM enrichment_status`)
	start := time.Now()
	b.publishRaw(`{"track_id": 42, "artist": "x"}`, amqp.Publishing{ContentType: "application/json"})
	testinfra.Eventually(t, 5*time.Second, "the invalid message in the DLQ", func() (bool, error) {
		n := b.queueDepth(broker.DeadLetterQueue)
		return n == 1, fmt.Errorf("DLQ holds %d", n)
	})
	took := time.Since(start)
	if waiting := b.count(`SELECT count(*) FROM enrichment_status`); waiting >= n {
		t.Fatalf("every task had settled (%d) before the invalid one arrived: nothing was waiting for quota", waiting)
	}
	t.Logf("the invalid message reached the DLQ in %s while %d of %d tasks were still waiting for quota (%d settled before it)",
		took.Round(time.Millisecond), n-b.count(`SELECT count(*) FROM enrichment_status`), n, settled)
	b.waitStatusRows(n, 2*time.Minute)
	if bad := b.count(`SELECT count(*) FROM enrichment_status WHERE status IN ('partial', 'failed') OR attempts <> 1`); bad != 0 {
		t.Errorf("%d tasks ended partial or failed or spent more than one attempt while waiting for quota", bad)
	}
}
