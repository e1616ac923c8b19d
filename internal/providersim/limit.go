package providersim

import (
	"math"
	"sync"
	"time"
)

// Clock tells the time. Tests inject a fake one so rate limits and token expiry need no
// sleeps.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// limiter decides whether one more request from key is allowed now. When it is not, it
// returns how long the caller should wait.
type limiter interface {
	allow(key string, now time.Time) (ok bool, retryAfter time.Duration)
	// usage reports requests counted in the current window and the limit, for headers
	// such as X-Discogs-Ratelimit-Used.
	usage(key string, now time.Time) (used, limit int)
}

// tokenBucket allows rate requests per second with bursts of burst, per key. It is the
// model of MusicBrainz' "1 request per second per IP": a client pacing at exactly the rate
// is never refused, and in any window of W seconds at most rate×W + burst pass.
type tokenBucket struct {
	mu      sync.Mutex
	rate    float64
	burst   float64
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newTokenBucket(rate float64, burst int) *tokenBucket {
	return &tokenBucket{rate: rate, burst: float64(max(burst, 1)), buckets: make(map[string]*bucket)}
}

func (tb *tokenBucket) refill(key string, now time.Time) *bucket {
	b, ok := tb.buckets[key]
	if !ok {
		b = &bucket{tokens: tb.burst, last: now}
		tb.buckets[key] = b
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = math.Min(tb.burst, b.tokens+el*tb.rate)
		b.last = now
	}
	return b
}

func (tb *tokenBucket) allow(key string, now time.Time) (bool, time.Duration) {
	if tb.rate <= 0 {
		return true, 0
	}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	b := tb.refill(key, now)
	// A little tolerance for float rounding: a client pacing at exactly 1/rate must pass.
	if b.tokens >= 1-1e-9 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / tb.rate * float64(time.Second))
	return false, wait
}

func (tb *tokenBucket) usage(key string, now time.Time) (int, int) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	b := tb.refill(key, now)
	return int(math.Ceil(tb.burst - b.tokens)), int(tb.burst)
}

// slidingWindow allows at most limit requests per key in any window of the given length
// (Spotify's rolling 30-second window, Discogs' 60-second moving window). Only accepted
// requests are counted.
type slidingWindow struct {
	mu     sync.Mutex
	limit  int
	window time.Duration
	logs   map[string][]time.Time
}

func newSlidingWindow(limit int, window time.Duration) *slidingWindow {
	return &slidingWindow{limit: limit, window: window, logs: make(map[string][]time.Time)}
}

func (sw *slidingWindow) prune(key string, now time.Time) []time.Time {
	log := sw.logs[key]
	i := 0
	for i < len(log) && now.Sub(log[i]) >= sw.window {
		i++
	}
	log = log[i:]
	sw.logs[key] = log
	return log
}

func (sw *slidingWindow) allow(key string, now time.Time) (bool, time.Duration) {
	if sw.limit <= 0 {
		return true, 0
	}
	sw.mu.Lock()
	defer sw.mu.Unlock()
	log := sw.prune(key, now)
	if len(log) < sw.limit {
		sw.logs[key] = append(log, now)
		return true, 0
	}
	return false, sw.window - now.Sub(log[0])
}

func (sw *slidingWindow) usage(key string, now time.Time) (int, int) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return len(sw.prune(key, now)), sw.limit
}

// retryAfterSeconds renders a wait as a whole number of seconds, rounded up, at least 1.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
