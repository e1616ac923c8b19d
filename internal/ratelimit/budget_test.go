package ratelimit

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/djmeta/enrichment/internal/testinfra"
)

func TestBudgetStopsAtTheLimit(t *testing.T) {
	t.Parallel()
	rdb, prefix := testinfra.Redis(t)
	remaining := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "r"}, []string{"provider", "period"})
	limit := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "l"}, []string{"provider", "period"})
	// Two workers share one budget.
	a := NewBudget(rdb, BudgetConfig{Provider: "p", Daily: 5, Monthly: 100, Prefix: prefix, Remaining: remaining, Limit: limit})
	b := NewBudget(rdb, BudgetConfig{Provider: "p", Daily: 5, Monthly: 100, Prefix: prefix, Remaining: remaining, Limit: limit})
	ctx := context.Background()
	allowed := 0
	for i := range 8 {
		w := a
		if i%2 == 1 {
			w = b
		}
		err := w.Take(ctx)
		switch {
		case err == nil:
			allowed++
		case !errors.Is(err, ErrBudgetExhausted):
			t.Fatalf("Take() = %v", err)
		}
	}
	if allowed != 5 {
		t.Errorf("allowed %d calls, want the daily budget of 5", allowed)
	}
	if got := testutil.ToFloat64(remaining.WithLabelValues("p", "day")); got != 0 {
		t.Errorf("remaining day = %v, want 0", got)
	}
	if got := testutil.ToFloat64(limit.WithLabelValues("p", "month")); got != 100 {
		t.Errorf("limit month = %v, want 100", got)
	}
}
