package worker

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/djmeta/enrichment/internal/metrics"
	"github.com/djmeta/enrichment/internal/store"
)

// reviewsInterval is how often a worker reads the number of open close
// calls for enrichment_reviews_open.
const reviewsInterval = time.Minute

// countReviews sets enrichment_reviews_open from the database at once and
// then every reviewsInterval until ctx is done. A failed read keeps the
// last value (the outage shows elsewhere: /readyz, enrichment_paused).
func countReviews(ctx context.Context, st *store.Store, m *metrics.Worker, log *zap.Logger) error {
	t := time.NewTicker(reviewsInterval)
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		counts, err := st.OpenReviews(rctx)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			log.Debug("count open reviews", zap.Error(err))
		case err == nil:
			for p, n := range counts {
				m.ReviewsOpen.WithLabelValues(p).Set(float64(n))
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
