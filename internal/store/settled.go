package store

import (
	"context"
	"fmt"
	"time"
)

// SettledSince counts the tasks whose status row was written at or after
// since (the pace of the fleet, for enrichctl status's estimate).
func (s *Store) SettledSince(ctx context.Context, since time.Time) (int64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM enrichment_status WHERE updated_at >= $1`, since).Scan(&n); err != nil {
		return 0, fmt.Errorf("count settled tasks: %w", err)
	}
	return n, nil
}
