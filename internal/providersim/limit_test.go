package providersim

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestTokenBucket(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		rate      float64
		burst     int
		at        []time.Duration // request times after start
		wantOK    []bool
		wantRetry time.Duration // for the last refused request
	}{
		{"paced at the rate", 1, 1, []time.Duration{0, time.Second, 2 * time.Second}, []bool{true, true, true}, 0},
		{"too fast", 1, 1, []time.Duration{0, 400 * time.Millisecond}, []bool{true, false}, 600 * time.Millisecond},
		{"burst", 1, 2, []time.Duration{0, 0, 0}, []bool{true, true, false}, time.Second},
		{"refused request is not counted", 1, 1, []time.Duration{0, 500 * time.Millisecond, time.Second}, []bool{true, false, true}, 500 * time.Millisecond},
		{"half rate", 0.5, 1, []time.Duration{0, time.Second, 2 * time.Second}, []bool{true, false, true}, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := newTokenBucket(tt.rate, tt.burst)
			var retry time.Duration
			for i, at := range tt.at {
				ok, wait := tb.allow("k", start.Add(at))
				if ok != tt.wantOK[i] {
					t.Fatalf("request %d at %v: ok = %v, want %v", i, at, ok, tt.wantOK[i])
				}
				if !ok {
					retry = wait
				}
			}
			if retry != tt.wantRetry {
				t.Errorf("retry after = %v, want %v", retry, tt.wantRetry)
			}
		})
	}
}

func TestSlidingWindow(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sw := newSlidingWindow(3, 30*time.Second)
	steps := []struct {
		at        time.Duration
		key       string
		wantOK    bool
		wantRetry time.Duration
		wantUsed  int
	}{
		{0, "a", true, 0, 1},
		{10 * time.Second, "a", true, 0, 2},
		{20 * time.Second, "a", true, 0, 3},
		{25 * time.Second, "a", false, 5 * time.Second, 3},
		{25 * time.Second, "b", true, 0, 1}, // keys are independent
		{30 * time.Second, "a", true, 0, 3}, // the first request left the window
		{31 * time.Second, "a", false, 9 * time.Second, 3},
	}
	for i, st := range steps {
		ok, wait := sw.allow(st.key, start.Add(st.at))
		used, limit := sw.usage(st.key, start.Add(st.at))
		if ok != st.wantOK || wait != st.wantRetry || used != st.wantUsed || limit != 3 {
			t.Errorf("step %d: ok=%v wait=%v used=%d limit=%d, want ok=%v wait=%v used=%d limit=3",
				i, ok, wait, used, limit, st.wantOK, st.wantRetry, st.wantUsed)
		}
	}
}

func TestRateLimitResponses(t *testing.T) {
	t.Run("spotify 429 with Retry-After per client id", func(t *testing.T) {
		cfg := testConfig()
		cfg.SpotifyRateLimit, cfg.SpotifyRateWindow = 2, 30*time.Second
		h := newHarness(t, cfg)
		a, b := "Authorization: Bearer "+h.token("client-a", "s"), "Authorization: Bearer "+h.token("client-b", "s")
		path := spBase + "/search?q=glue&type=track"
		for i := range 2 {
			if resp := h.get(path, a); resp.status != 200 {
				t.Fatalf("request %d: status %d", i, resp.status)
			}
		}
		h.clock.Advance(10 * time.Second)
		resp := h.get(path, a)
		if resp.status != http.StatusTooManyRequests || resp.header.Get("Retry-After") != "20" {
			t.Fatalf("got %d Retry-After %q, want 429 with 20", resp.status, resp.header.Get("Retry-After"))
		}
		var body spErrorBody
		if err := json.Unmarshal(resp.body, &body); err != nil || body.Error.Status != 429 {
			t.Errorf("body = %s", resp.body)
		}
		if resp := h.get(path, b); resp.status != 200 {
			t.Errorf("other client: status %d, want 200", resp.status)
		}
		h.clock.Advance(20 * time.Second)
		if resp := h.get(path, a); resp.status != 200 {
			t.Errorf("after the window: status %d, want 200", resp.status)
		}
	})
	t.Run("spotify quota body", func(t *testing.T) {
		cfg := testConfig()
		cfg.SpotifyRateLimit, cfg.SpotifyQuotaBody = 1, true
		h := newHarness(t, cfg)
		a := "Authorization: Bearer " + h.token("c", "s")
		h.get(spBase+"/search?q=glue&type=track", a)
		resp := h.get(spBase+"/search?q=glue&type=track", a)
		var body spErrorBody
		_ = json.Unmarshal(resp.body, &body)
		if resp.status != 429 || body.Error.Reason != "QUOTA_EXCEEDED" {
			t.Errorf("got %d %s, want 429 with reason QUOTA_EXCEEDED", resp.status, resp.body)
		}
	})
	t.Run("musicbrainz 503 per client IP", func(t *testing.T) {
		cfg := testConfig()
		cfg.MusicBrainzRate, cfg.MusicBrainzBurst, cfg.TrustForwardedFor = 1, 1, true
		h := newHarness(t, cfg)
		path := mbBase + "/recording?query=glue&fmt=json"
		if resp := h.get(path, goodMBUA, "X-Forwarded-For: 10.0.0.1"); resp.status != 200 {
			t.Fatalf("first: %d", resp.status)
		}
		h.clock.Advance(300 * time.Millisecond)
		resp := h.get(path, goodMBUA, "X-Forwarded-For: 10.0.0.1")
		if resp.status != 503 || resp.header.Get("Retry-After") != "1" || resp.json(t)["error"] != mbBusy {
			t.Fatalf("got %d Retry-After %q %s, want 503 with the busy body", resp.status, resp.header.Get("Retry-After"), resp.body)
		}
		if resp := h.get(path, goodMBUA, "X-Forwarded-For: 10.0.0.2"); resp.status != 200 {
			t.Errorf("other IP: %d, want 200", resp.status)
		}
		h.clock.Advance(700 * time.Millisecond)
		if resp := h.get(path, goodMBUA, "X-Forwarded-For: 10.0.0.1"); resp.status != 200 {
			t.Errorf("one second later: %d, want 200", resp.status)
		}
	})
	t.Run("discogs 429 and headers", func(t *testing.T) {
		cfg := testConfig()
		cfg.DiscogsRateLimit, cfg.DiscogsAnonRateLimit = 2, 1
		h := newHarness(t, cfg)
		path := dgBase + "/database/search?type=release&artist=Bicep"
		for i, want := range []struct{ status, used, remaining int }{{200, 1, 1}, {200, 2, 0}, {429, 2, 0}} {
			resp := h.get(path, goodDGUA, dgToken)
			got := []string{resp.header.Get("X-Discogs-Ratelimit"), resp.header.Get("X-Discogs-Ratelimit-Used"), resp.header.Get("X-Discogs-Ratelimit-Remaining")}
			if resp.status != want.status || got[0] != "2" || got[1] != strconv.Itoa(want.used) || got[2] != strconv.Itoa(want.remaining) {
				t.Errorf("request %d: %d %v, want %d [2 %d %d]", i, resp.status, got, want.status, want.used, want.remaining)
			}
			if resp.status == 429 && (resp.header.Get("Retry-After") != "60" || resp.json(t)["message"] != "You are making requests too quickly.") {
				t.Errorf("429 = Retry-After %q %s", resp.header.Get("Retry-After"), resp.body)
			}
		}
		// Unauthenticated requests have their own, smaller budget per IP.
		rel := dgBase + "/releases/" + strconv.FormatInt(testCatalog(t).Releases[0].DiscogsID, 10)
		if resp := h.get(rel, goodDGUA); resp.status != 200 || resp.header.Get("X-Discogs-Ratelimit") != "1" {
			t.Errorf("anonymous: %d limit %q", resp.status, resp.header.Get("X-Discogs-Ratelimit"))
		}
		if resp := h.get(rel, goodDGUA); resp.status != 429 {
			t.Errorf("anonymous second: %d, want 429", resp.status)
		}
	})
}

func TestStats(t *testing.T) {
	cfg := testConfig()
	cfg.MusicBrainzRate = 1
	h := newHarness(t, cfg)
	path := mbBase + "/recording?query=glue&fmt=json"
	h.get(path, goodMBUA)                          // 200
	h.get(path, goodMBUA)                          // 503, same instant
	h.get(path)                                    // 403, no User-Agent
	h.clock.Advance(1500 * time.Millisecond)       // new second
	h.get(path, goodMBUA)                          // 200
	h.get(spBase + "/search?q=a&type=track")       // 401
	h.get(dgBase+"/releases/1", goodDGUA, dgToken) // 404

	var got StatsSnapshot
	resp := h.get("/_stats")
	if err := json.Unmarshal(resp.body, &got); err != nil {
		t.Fatalf("decode %s: %v", resp.body, err)
	}
	mb := got.Providers[ProviderMusicBrainz]
	want := ProviderStats{RequestsTotal: 4, RateLimitedTotal: 1, AuthFailuresTotal: 1, MaxPerSecond: 3, MaxPerMinute: 4}
	if mb.RequestsTotal != want.RequestsTotal || mb.RateLimitedTotal != want.RateLimitedTotal || mb.AuthFailuresTotal != want.AuthFailuresTotal ||
		mb.MaxPerSecond != want.MaxPerSecond || mb.MaxPerMinute != want.MaxPerMinute {
		t.Errorf("musicbrainz stats = %+v, want %+v", mb, want)
	}
	if mb.Status["200"] != 2 || mb.Status["503"] != 1 || mb.Status["403"] != 1 {
		t.Errorf("musicbrainz status = %v", mb.Status)
	}
	if mb.RateLimit != 1 || mb.RateWindowSeconds != 1 || mb.RateKey != "client_ip" {
		t.Errorf("musicbrainz configured rate = %v per %vs by %q", mb.RateLimit, mb.RateWindowSeconds, mb.RateKey)
	}
	if sp := got.Providers[ProviderSpotify]; sp.Status["401"] != 1 || sp.AuthFailuresTotal != 1 {
		t.Errorf("spotify stats = %+v", sp)
	}
	if dg := got.Providers[ProviderDiscogs]; dg.Status["404"] != 1 {
		t.Errorf("discogs stats = %+v", dg)
	}

	if resp := h.do(http.MethodPost, "/_stats/reset", nil); resp.status != http.StatusNoContent {
		t.Fatalf("reset: %d", resp.status)
	}
	_ = json.Unmarshal(h.get("/_stats").body, &got)
	if mb := got.Providers[ProviderMusicBrainz]; mb.RequestsTotal != 0 || mb.MaxPerSecond != 0 || len(mb.Status) != 0 {
		t.Errorf("after reset: %+v", mb)
	}
}

func TestWindowCounterMax(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := windowCounter{window: time.Second}
	// 0.0, 0.5, 0.9 -> 3 within one second; 1.0 drops 0.0 -> 3; 1.6 drops 0.5 -> 3; 2.7 -> 1
	for _, ms := range []int{0, 500, 900, 1000, 1600, 2700} {
		w.add(start.Add(time.Duration(ms) * time.Millisecond))
	}
	if w.max != 3 {
		t.Errorf("max = %d, want 3", w.max)
	}
}

func TestLatencyAndErrorInjection(t *testing.T) {
	var mu sync.Mutex
	var slept []time.Duration
	sleep := func(_ context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		slept = append(slept, d)
		return nil
	}
	cfg := testConfig()
	cfg.Latency, cfg.LatencyJitter = 80*time.Millisecond, 20*time.Millisecond
	cfg.MusicBrainzErrorRate, cfg.DiscogsErrorRate, cfg.SpotifyErrorRate = 1, 1, 1
	h := newHarness(t, cfg, WithSleep(sleep))

	resp := h.get(mbBase+"/recording?query=glue&fmt=json", goodMBUA)
	if resp.status != 503 || resp.header.Get("Retry-After") != "0" || resp.json(t)["error"] != mbBusy {
		t.Errorf("musicbrainz: %d %q %s", resp.status, resp.header.Get("Retry-After"), resp.body)
	}
	if resp := h.get(dgBase+"/releases/1", goodDGUA); resp.status != 503 {
		t.Errorf("discogs: %d", resp.status)
	}
	if resp := h.get(spBase+"/tracks/0000000000000000000000", "Authorization: Bearer "+h.token("a", "b")); resp.status != 503 {
		t.Errorf("spotify: %d", resp.status)
	}
	if resp := h.get("/healthz"); resp.status != 200 {
		t.Errorf("healthz: %d", resp.status)
	}
	mu.Lock()
	defer mu.Unlock()
	// Each request sleeps twice, the way in and the way back, half the
	// latency each: three providers + the token endpoint, not /healthz.
	if len(slept) != 8 {
		t.Fatalf("slept %d times, want 8", len(slept))
	}
	for i := 0; i < len(slept); i += 2 {
		if d := slept[i] + slept[i+1]; d < 60*time.Millisecond || d > 100*time.Millisecond || slept[i] < d/2-time.Millisecond || slept[i] > d/2+time.Millisecond {
			t.Errorf("latency %v + %v: want 80ms ± 20ms in two halves", slept[i], slept[i+1])
		}
	}
	var st StatsSnapshot
	_ = json.Unmarshal(h.get("/_stats").body, &st)
	if got := st.Providers[ProviderMusicBrainz].InjectedErrorsTotal; got != 1 {
		t.Errorf("injected errors = %d, want 1", got)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		ok     bool
	}{
		{"defaults", func(*Config) {}, true},
		{"bad profile", func(c *Config) { c.SpotifyProfile = "prod" }, false},
		{"error rate above 1", func(c *Config) { c.DiscogsErrorRate = 1.5 }, false},
		{"negative latency", func(c *Config) { c.Latency = -time.Second }, false},
		{"id without secret", func(c *Config) { c.SpotifyClientID = "x" }, false},
		{"zero token ttl", func(c *Config) { c.SpotifyTokenTTL = 0 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.modify(&c)
			if err := c.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// TestConcurrentFleet plays many workers hitting MusicBrainz at the same instant: exactly
// one request per second passes, the rest are counted as rate-limit violations.
func TestConcurrentFleet(t *testing.T) {
	cfg := testConfig()
	cfg.MusicBrainzRate = 1
	h := newHarness(t, cfg)
	const workers = 16
	path := mbBase + "/recording?query=glue&fmt=json"
	run := func() map[int]int {
		var mu sync.Mutex
		codes := map[int]int{}
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				resp := h.get(path, goodMBUA)
				mu.Lock()
				codes[resp.status]++
				mu.Unlock()
			})
		}
		wg.Wait()
		return codes
	}
	for round := range 2 {
		if got := run(); got[200] != 1 || got[503] != workers-1 {
			t.Errorf("round %d: codes = %v, want one 200 and %d 503s", round, got, workers-1)
		}
		h.clock.Advance(time.Second)
	}
	var st StatsSnapshot
	_ = json.Unmarshal(h.get("/_stats").body, &st)
	mb := st.Providers[ProviderMusicBrainz]
	if mb.RequestsTotal != 2*workers || mb.RateLimitedTotal != 2*(workers-1) || mb.MaxPerSecond != workers {
		t.Errorf("stats = %+v", mb)
	}
}
