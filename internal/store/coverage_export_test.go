package store

import (
	"context"
	"sync/atomic"

	"github.com/djmeta/enrichment/internal/enrich"
)

// SetWhileLocked installs a hook that runs while r holds the coverage lock,
// just before it refreshes (tests only).
func SetWhileLocked(r *CoverageRefresher, f func(context.Context)) { r.whileLocked = f }

// CountQueries makes x count its reads of match_overrides.
func CountQueries(x *OverrideIndex) *atomic.Int64 {
	var n atomic.Int64
	q := x.query
	x.query = func(ctx context.Context, trackID, nameKey string) (map[string]enrich.Override, error) {
		n.Add(1)
		return q(ctx, trackID, nameKey)
	}
	return &n
}
