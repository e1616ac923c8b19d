package ratelimit

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/djmeta/enrichment/internal/testinfra"
)

// TestFleetRate runs several limiters (as several workers would) on one
// bucket and checks that the fleet never exceeds rate×W + 1 in any window.
func TestFleetRate(t *testing.T) {
	t.Parallel()
	url, prefix := testinfra.RedisURL(t)
	opts, err := redis.ParseURL(url)
	testinfra.Must(t, err, "redis url")
	const rate = 20.0
	var mu sync.Mutex
	var stamps []time.Time
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for w := range 4 {
		rdb := redis.NewClient(opts)
		defer rdb.Close()
		l, err := New(rdb, Config{Provider: "p", Rate: rate, Prefix: prefix})
		testinfra.Must(t, err, "new limiter")
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for l.Wait(ctx) == nil {
					mu.Lock()
					stamps = append(stamps, time.Now())
					mu.Unlock()
				}
			}()
		}
		_ = w
	}
	wg.Wait()
	if len(stamps) < 10 {
		t.Fatalf("only %d requests allowed in 1.5s at %v/s", len(stamps), rate)
	}
	// Any window of W seconds holds at most rate*W + 1 (+1 for clock jitter
	// between this process's timestamps and Redis's clock).
	for _, w := range []time.Duration{250 * time.Millisecond, time.Second} {
		maxIn := 0
		for i := range stamps {
			n := 0
			for j := i; j < len(stamps) && stamps[j].Sub(stamps[i]) < w; j++ {
				n++
			}
			maxIn = max(maxIn, n)
		}
		if limit := int(rate*w.Seconds()) + 2; maxIn > limit {
			t.Errorf("window %s: %d requests, want at most %d", w, maxIn, limit)
		}
	}
}

func TestPauseStopsTheFleet(t *testing.T) {
	t.Parallel()
	rdb, prefix := testinfra.Redis(t)
	a, _ := New(rdb, Config{Provider: "p", Rate: 1000, Prefix: prefix})
	b, _ := New(rdb, Config{Provider: "p", Rate: 1000, Prefix: prefix})
	a.Pause(context.Background(), 300*time.Millisecond)
	start := time.Now()
	testinfra.Must(t, b.Wait(context.Background()), "wait")
	if waited := time.Since(start); waited < 250*time.Millisecond {
		t.Errorf("another worker waited %s after a 300ms pause, want about 300ms", waited)
	}
}

// TestPauseReachesWorkersWithinTheCheckInterval: a worker that looked at
// the fleet's pause key less than PauseCheckInterval ago does not look
// again (one PTTL for a burst of requests), and once the interval has
// passed it sees a pause another worker set meanwhile.
func TestPauseReachesWorkersWithinTheCheckInterval(t *testing.T) {
	t.Parallel()
	rdb, prefix := testinfra.Redis(t)
	log := &testinfra.RedisCommands{}
	rdb.AddHook(log)
	ctx := context.Background()
	a, _ := New(rdb, Config{Provider: "p", Rate: 10000, Prefix: prefix})
	b, _ := New(rdb, Config{Provider: "p", Rate: 10000, Prefix: prefix})
	start := time.Now()
	const burst = 20
	for range burst {
		testinfra.Must(t, b.Wait(ctx), "wait")
	}
	if el := time.Since(start); el < PauseCheckInterval {
		if n := slices.Index(log.Take(), "pttl"); n < 0 {
			t.Errorf("%d requests read the pause key 0 times, want once", burst)
		}
	}
	log.Take()
	for range burst {
		testinfra.Must(t, b.Wait(ctx), "wait")
	}
	if el := time.Since(start); el < PauseCheckInterval {
		for _, c := range log.Take() {
			if c == "pttl" {
				t.Errorf("the pause key was read again %s after the first look, want not before %s", el, PauseCheckInterval)
				break
			}
		}
	}
	a.Pause(ctx, 500*time.Millisecond)
	time.Sleep(PauseCheckInterval) // the behaviour under test is time-based
	waitStart := time.Now()
	testinfra.Must(t, b.Wait(ctx), "wait")
	if waited := time.Since(waitStart); waited < 250*time.Millisecond {
		t.Errorf("a worker waited %s for a 500ms pause set %s earlier by another, want about %s",
			waited, PauseCheckInterval, 500*time.Millisecond-PauseCheckInterval)
	}
}

func TestFallbackWithoutRedis(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 50 * time.Millisecond, MaxRetries: -1, DialerRetries: 1})
	defer rdb.Close()
	l, _ := New(rdb, Config{Provider: "p", Rate: 40, LocalFraction: 0.5})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	for range 5 {
		testinfra.Must(t, l.Wait(ctx), "wait")
	}
	// 20/s locally: 5 requests take at least 4 intervals of 50ms.
	if el := time.Since(start); el < 190*time.Millisecond {
		t.Errorf("5 requests took %s, want ≥ 200ms at the local 20/s", el)
	}
	if !l.onLocal {
		t.Errorf("limiter not on its local fallback with Redis down")
	}
}
