package worker_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/djmeta/enrichment/internal/broker"
	"github.com/djmeta/enrichment/internal/enrich"
	"github.com/djmeta/enrichment/internal/task"
	"github.com/djmeta/enrichment/internal/testinfra"
)

// failingPipeline always fails and records when it was called.
type failingPipeline struct {
	mu    sync.Mutex
	calls []time.Time
}

func (p *failingPipeline) Enrich(context.Context, task.Task) (enrich.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, time.Now())
	return enrich.Result{}, errors.New("provider down")
}

// TestRetryDelaysMatchConfig: with the default RETRY_DELAYS (2s,4s,8s) an
// always-failing task is tried 4 times, the gaps match the tiers within
// 20%, then it is dead-lettered.
func TestRetryDelaysMatchConfig(t *testing.T) {
	t.Parallel()
	b := setup(t, map[string]string{"RETRY_DELAYS": "2s,4s,8s"})
	p := &failingPipeline{}
	b.startWorker(p)
	b.publishTask("always-fails", "Bicep", "Glue")
	testinfra.Eventually(t, 40*time.Second, "the task in the DLQ", func() (bool, error) {
		return b.queueDepth(broker.DeadLetterQueue) == 1, nil
	})
	p.mu.Lock()
	calls := append([]time.Time(nil), p.calls...)
	p.mu.Unlock()
	if len(calls) != 4 {
		t.Fatalf("pipeline called %d times, want 4 (one try and three retries)", len(calls))
	}
	for i, want := range []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second} {
		got := calls[i+1].Sub(calls[i])
		t.Logf("retry %d: waited %s (tier %s)", i+1, got.Round(10*time.Millisecond), want)
		if got < want*8/10 || got > want*12/10 {
			t.Errorf("retry %d waited %s, want %s ±20%%", i+1, got, want)
		}
	}
	d := b.drainDLQ()[0]
	if r := d.Headers[broker.HeaderReason]; r != broker.ReasonExhausted {
		t.Errorf("reason = %v, want %s", r, broker.ReasonExhausted)
	}
}
