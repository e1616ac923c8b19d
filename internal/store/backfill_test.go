package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/djmeta/enrichment/internal/store"
	"github.com/djmeta/enrichment/internal/testinfra"
)

// seedSelection writes one track per case a backfill filter distinguishes.
func seedSelection(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	_, err := pool.Exec(ctx, `
		INSERT INTO tracks (id, artist, title, isrc, duration_ms) VALUES
		  ('a1', 'A', 'never enriched', 'GBAYE0601498', 215000),
		  ('a2', 'A', 'partial', NULL, NULL),
		  ('a3', 'A', 'not_found long ago', NULL, NULL),
		  ('a4', 'A', 'not_found yesterday', NULL, NULL),
		  ('a5', 'A', 'enriched long ago', NULL, NULL),
		  ('a6', 'A', 'enriched yesterday', NULL, NULL),
		  ('a7', 'A', 'failed', NULL, NULL),
		  ('a8', 'A', 'never enriched, oldest', NULL, NULL);
		UPDATE tracks SET created_at = now() - interval '3 days' WHERE id = 'a8';
		UPDATE tracks SET enrichment_timestamp = now() - interval '200 days' WHERE id = 'a5';
		UPDATE tracks SET enrichment_timestamp = now() - interval '1 day' WHERE id = 'a6';
		INSERT INTO enrichment_status (track_id, status, updated_at) VALUES
		  ('a2', 'partial', now()),
		  ('a3', 'not_found', now() - interval '40 days'),
		  ('a4', 'not_found', now() - interval '1 day'),
		  ('a5', 'completed', now() - interval '200 days'),
		  ('a6', 'completed', now() - interval '1 day'),
		  ('a7', 'failed', now() - interval '40 days');`)
	testinfra.Must(t, err, "seed tracks")
}

func TestBackfillSelection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, testinfra.MigratedDatabase(t))
	testinfra.Must(t, err, "connect")
	t.Cleanup(pool.Close)
	seedSelection(t, pool)
	st := store.New(pool)
	now := time.Now()
	month := now.Add(-30 * 24 * time.Hour)
	quarter := now.Add(-90 * 24 * time.Hour)

	tests := []struct {
		name   string
		filter store.BackfillFilter
		want   []string
	}{
		{"missing", store.BackfillFilter{Missing: true}, []string{"a1", "a8"}},
		{"partial", store.BackfillFilter{Partial: true}, []string{"a2"}},
		{"not found older than 30d", store.BackfillFilter{NotFoundBefore: month}, []string{"a3"}},
		{"enriched over 90d ago", store.BackfillFilter{EnrichedBefore: quarter}, []string{"a5"}},
		{"missing or partial", store.BackfillFilter{Missing: true, Partial: true}, []string{"a1", "a2", "a8"}},
		{"all criteria", store.BackfillFilter{Missing: true, Partial: true, NotFoundBefore: month, EnrichedBefore: quarter},
			[]string{"a1", "a2", "a3", "a5", "a8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := st.BackfillCount(ctx, tt.filter, "")
			testinfra.Must(t, err, "count")
			if n != int64(len(tt.want)) {
				t.Errorf("BackfillCount = %d, want %d", n, len(tt.want))
			}
			// Page by two through the keyset cursor.
			var got []string
			after := ""
			for {
				page, err := st.BackfillPage(ctx, tt.filter, after, 2)
				testinfra.Must(t, err, "page")
				if len(page) == 0 {
					break
				}
				for _, tr := range page {
					got = append(got, tr.ID)
				}
				after = page[len(page)-1].ID
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("selected ids (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("hints", func(t *testing.T) {
		page, err := st.BackfillPage(ctx, store.BackfillFilter{Missing: true}, "", 1)
		testinfra.Must(t, err, "page")
		want := []store.BackfillTrack{{ID: "a1", Artist: "A", Title: "never enriched", ISRC: "GBAYE0601498", DurationMS: 215000}}
		if diff := cmp.Diff(want, page); diff != "" {
			t.Errorf("page (-want +got):\n%s", diff)
		}
	})
	t.Run("count after cursor", func(t *testing.T) {
		n, err := st.BackfillCount(ctx, store.BackfillFilter{Missing: true, Partial: true}, "a1")
		testinfra.Must(t, err, "count")
		if n != 2 {
			t.Errorf("BackfillCount after a1 = %d, want 2", n)
		}
	})
	t.Run("empty filter", func(t *testing.T) {
		if _, err := st.BackfillPage(ctx, store.BackfillFilter{}, "", 10); !errors.Is(err, store.ErrEmptyFilter) {
			t.Errorf("BackfillPage(empty filter) error = %v, want ErrEmptyFilter", err)
		}
	})
	t.Run("oldest without status", func(t *testing.T) {
		p, ok, err := st.OldestWithoutStatus(ctx)
		testinfra.Must(t, err, "oldest")
		if !ok || p.ID != "a8" {
			t.Errorf("OldestWithoutStatus = %q, %v; want a8, true", p.ID, ok)
		}
	})
	t.Run("status counts", func(t *testing.T) {
		got, err := st.StatusCounts(ctx)
		testinfra.Must(t, err, "status counts")
		want := map[string]int64{"completed": 2, "partial": 1, "not_found": 2, "failed": 1}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("StatusCounts (-want +got):\n%s", diff)
		}
	})
}
