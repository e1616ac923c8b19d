package store_test

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/djmeta/enrichment/internal/testinfra"
)

// TestRefreshRecordingsAtScale measures a refresh of RECORDINGS_ROWS rows
// (not part of make test: RECORDINGS_ROWS=1000000 go test -run AtScale
// ./internal/store/): the time of a first refresh (every row new) and of a
// second (nothing changed), and the Go heap the refresh adds at its peak
// (sampled every 2 ms). Rows come in groups of three by ISRC, every fifth
// row joins two such groups by a Spotify id and every seventh by a
// MusicBrainz id. docs/curation.md quotes the figures.
func TestRefreshRecordingsAtScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("RECORDINGS_ROWS"))
	if n <= 0 {
		t.Skip("set RECORDINGS_ROWS to measure a refresh of that many rows")
	}
	d := newRecDB(t)
	ctx := context.Background()
	start := time.Now()
	_, err := d.pool.Exec(ctx, `INSERT INTO tracks (id, artist, title, isrc, spotify_id, musicbrainz_id)
	SELECT 'scale-' || lpad(k::text, 9, '0'), 'Artist', 'Title', 'GBAAA' || lpad((k / 3)::text, 7, '0'),
	       CASE WHEN k % 5 = 0 THEN lpad((k / 10)::text, 22, '0') END,
	       CASE WHEN k % 7 = 0 THEN ('00000000-0000-4000-8000-' || lpad((k / 14)::text, 12, '0'))::uuid END
	  FROM generate_series(0, $1 - 1) AS k`, n)
	testinfra.Must(t, err, "seed")
	d.exec(`ANALYZE tracks`)
	t.Logf("seeded %d rows in %s", n, time.Since(start).Round(time.Millisecond))

	for _, step := range []string{"first refresh (every row new)", "second refresh (nothing changed)"} {
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		var peak uint64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(2 * time.Millisecond)
			defer tick.Stop()
			for {
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				peak = max(peak, m.HeapAlloc)
				select {
				case <-stop:
					return
				case <-tick.C:
				}
			}
		}()
		c := d.refresh()
		close(stop)
		wg.Wait()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		t.Logf("%s: %d rows in %d recordings, %d changed, in %s; Go heap peak +%.1f MiB (%.0f bytes/row), allocated %.1f MiB",
			step, c.Rows, c.Recordings, c.Changed(), c.Duration.Round(time.Millisecond),
			float64(peak-base.HeapAlloc)/(1<<20), float64(peak-base.HeapAlloc)/float64(n),
			float64(after.TotalAlloc-base.TotalAlloc)/(1<<20))
	}
}
