package ratelimit

import (
	"context"
	"errors"
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

// TestReserveIsFirstComeFirstServed: reservations from several workers get
// consecutive slots one interval apart, in the order they were made, and
// each learns its wait at once.
func TestReserveIsFirstComeFirstServed(t *testing.T) {
	t.Parallel()
	rdb, prefix := testinfra.Redis(t)
	ctx := context.Background()
	const rate = 10.0
	a, _ := New(rdb, Config{Provider: "p", Rate: rate, Prefix: prefix})
	b, _ := New(rdb, Config{Provider: "p", Rate: rate, Prefix: prefix})
	iv := Interval(rate)
	var prev time.Duration = -1
	for i := range 6 {
		l := a
		if i%2 == 1 {
			l = b
		}
		got, err := l.Reserve(ctx, -1)
		testinfra.Must(t, err, "reserve")
		// Each slot is one interval after the previous (less the time
		// between the two calls, a few ms at most).
		if prev >= 0 {
			if d := got - prev; d < iv-20*time.Millisecond || d > iv {
				t.Errorf("reservation %d waits %s, the one before %s: gap %s, want about %s", i, got, prev, d, iv)
			}
		}
		prev = got
	}
	if bl := b.Backlog(ctx); bl < 5*iv || bl > 6*iv {
		t.Errorf("backlog after 6 reservations = %s, want about %s", bl, 6*iv)
	}
}

// TestReserveRefusesBeyondMaxWait: a slot further away than the caller can
// wait is not reserved (the next caller gets it) and the error tells the
// wait.
func TestReserveRefusesBeyondMaxWait(t *testing.T) {
	t.Parallel()
	rdb, prefix := testinfra.Redis(t)
	ctx := context.Background()
	l, _ := New(rdb, Config{Provider: "p", Rate: 1, Prefix: prefix})
	for range 3 {
		_, err := l.Reserve(ctx, -1)
		testinfra.Must(t, err, "reserve")
	}
	iv := Interval(1)
	_, err := l.Reserve(ctx, iv) // the next slot is ~3 intervals away
	var we *WaitError
	if !errors.As(err, &we) {
		t.Fatalf("Reserve beyond maxWait = %v, want a *WaitError", err)
	}
	if we.Wait < 2*iv || we.Wait > 3*iv || we.MaxWait != iv {
		t.Errorf("WaitError wait %s max %s, want about %s and %s", we.Wait, we.MaxWait, 3*iv, iv)
	}
	got, err := l.Reserve(ctx, -1)
	testinfra.Must(t, err, "reserve after a refusal")
	if got < 2*iv || got > 3*iv {
		t.Errorf("the next reservation waits %s, want about %s (the refused one took no slot)", got, 3*iv)
	}
}

func TestWaitWithinDeadline(t *testing.T) {
	t.Parallel()
	rdb, prefix := testinfra.Redis(t)
	l, _ := New(rdb, Config{Provider: "p", Rate: 2, Prefix: prefix})
	testinfra.Must(t, l.Wait(context.Background()), "first wait")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	var we *WaitError
	if err := l.Wait(ctx); !errors.As(err, &we) {
		t.Errorf("Wait with a slot beyond the deadline = %v, want a *WaitError", err)
	}
	if el := time.Since(start); el > 50*time.Millisecond {
		t.Errorf("a refused Wait took %s, want an answer at once", el)
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
