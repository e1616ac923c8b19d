package cache_test

// Tests of cache.Cache on the real Redis (TEST_REDIS_URL, default
// redis://127.0.0.1:6379/0), each under its own key prefix, and on a Redis
// that cannot be reached.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/djmeta/enrichment/internal/cache"
	"github.com/djmeta/enrichment/internal/metrics"
	"github.com/djmeta/enrichment/internal/provider"
	"github.com/djmeta/enrichment/internal/testinfra"
)

const prov = provider.MusicBrainz

// Distinct TTLs, so a key's TTL tells which one was used.
var ttls = cache.TTLs{Lookup: 4 * time.Hour, ISRC: 3 * time.Hour, Search: 2 * time.Hour, Negative: 10 * time.Minute}

var glue = []provider.Recording{{
	Provider: prov, ID: "5b3c4f6e-0f3a-4a43-9a2c-7c0b2f4d6e11", Title: "Glue",
	Artists: []string{"Bicep"}, DurationMS: 338801, ISRCs: []string{"GBAUJ1749341"},
}}

// env is one test's cache on the shared Redis under a unique prefix.
type env struct {
	prefix string
	rdb    *redis.Client
	c      *cache.Cache
	pm     *metrics.Providers
}

// newEnv returns a cache on the real Redis under a fresh prefix; the keys
// are removed when the test ends.
func newEnv(t *testing.T) *env {
	t.Helper()
	rdb, prefix := testinfra.Redis(t)
	pm := metrics.NewProviders(prometheus.NewRegistry())
	return &env{prefix: prefix, rdb: rdb, pm: pm, c: cache.New(rdb, cache.Config{Prefix: prefix, TTLs: ttls, Metrics: pm})}
}

// results returns the enrichment_cache_requests_total counts for prov.
func results(pm *metrics.Providers) (hit, miss, errs float64) {
	return testutil.ToFloat64(pm.Cache.WithLabelValues(prov, "hit")),
		testutil.ToFloat64(pm.Cache.WithLabelValues(prov, "miss")),
		testutil.ToFloat64(pm.Cache.WithLabelValues(prov, "error"))
}

func wantResults(t *testing.T, pm *metrics.Providers, hit, miss, errs float64) {
	t.Helper()
	h, m, e := results(pm)
	if h != hit || m != miss || e != errs {
		t.Errorf("cache requests hit, miss, error = %v, %v, %v; want %v, %v, %v", h, m, e, hit, miss, errs)
	}
}

// counting is a provider call that counts its calls and answers recs, err.
type counting struct {
	calls atomic.Int32
	recs  []provider.Recording
	err   error
}

func (f *counting) fetch(context.Context) ([]provider.Recording, error) {
	f.calls.Add(1)
	return f.recs, f.err
}

// wantTTL checks that key expires in (want-5s, want].
func wantTTL(t *testing.T, rdb *redis.Client, key string, want time.Duration) {
	t.Helper()
	got, err := rdb.TTL(context.Background(), key).Result()
	testinfra.Must(t, err, "TTL "+key)
	if got > want || got <= want-5*time.Second {
		t.Errorf("TTL of %s = %s, want %s", key, got, want)
	}
}

func notFound() error {
	return &provider.Error{Provider: prov, Kind: provider.KindNotFound, Status: 404, Err: errors.New("Not Found")}
}

func TestHitAfterMiss(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind    string
		recs    []provider.Recording
		wantTTL time.Duration
	}{
		{cache.KindLookup, glue, ttls.Lookup},
		{cache.KindISRC, glue, ttls.ISRC},
		{cache.KindSearch, glue, ttls.Search},
		// No candidates is an answer too, kept for the negative TTL.
		{cache.KindSearch, nil, ttls.Negative},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s with %d candidates", tt.kind, len(tt.recs)), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ctx := context.Background()
			f := &counting{recs: tt.recs}
			key := e.c.Key(prov, tt.kind, "Bicep", "Glue")

			got, res, err := e.c.Fetch(ctx, prov, tt.kind, key, false, f.fetch)
			if err != nil || res.Hit {
				t.Fatalf("first Fetch: hit %v, error %v; want a miss without error", res.Hit, err)
			}
			if diff := cmp.Diff(tt.recs, got); diff != "" {
				t.Errorf("first Fetch mismatch (-want +got):\n%s", diff)
			}
			wantTTL(t, e.rdb, key, tt.wantTTL)

			got, res, err = e.c.Fetch(ctx, prov, tt.kind, key, false, f.fetch)
			if err != nil || !res.Hit {
				t.Fatalf("second Fetch: hit %v, error %v; want a hit without error", res.Hit, err)
			}
			if diff := cmp.Diff(tt.recs, got); diff != "" {
				t.Errorf("second Fetch mismatch (-want +got):\n%s", diff)
			}
			if n := f.calls.Load(); n != 1 {
				t.Errorf("provider calls = %d, want 1", n)
			}
			wantResults(t, e.pm, 1, 1, 0)
		})
	}
}

func TestNotFoundIsCachedForNegativeTTL(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	f := &counting{err: notFound()}
	key := e.c.Key(prov, cache.KindLookup, "00000000-0000-4000-8000-000000000000")
	for i, wantHit := range []bool{false, true, true} {
		recs, res, err := e.c.Fetch(ctx, prov, cache.KindLookup, key, false, f.fetch)
		if !provider.IsNotFound(err) || len(recs) != 0 {
			t.Errorf("Fetch %d = %v, %v; want no candidates and a not-found error", i+1, recs, err)
		}
		var pe *provider.Error
		if errors.As(err, &pe) && pe.Provider != prov {
			t.Errorf("Fetch %d: error provider = %q, want %q", i+1, pe.Provider, prov)
		}
		if res.Hit != wantHit {
			t.Errorf("Fetch %d: hit = %v, want %v", i+1, res.Hit, wantHit)
		}
	}
	if n := f.calls.Load(); n != 1 {
		t.Errorf("provider calls = %d, want 1", n)
	}
	wantTTL(t, e.rdb, key, ttls.Negative)
	wantResults(t, e.pm, 2, 1, 0)
}

func TestErrorsAreNeverCached(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
	}{
		{"unavailable", &provider.Error{Provider: prov, Kind: provider.KindUnavailable, Status: 503}},
		{"rate limited", &provider.Error{Provider: prov, Kind: provider.KindRateLimited, Status: 429, RetryAfter: time.Minute}},
		{"unauthorized", &provider.Error{Provider: prov, Kind: provider.KindUnauthorized, Status: 401}},
		{"bad response", &provider.Error{Provider: prov, Kind: provider.KindBadResponse, Status: 200}},
		{"not a provider error", context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ctx := context.Background()
			f := &counting{err: tt.err}
			key := e.c.Key(prov, cache.KindSearch, "Bicep", "Glue")
			for i := range 2 {
				_, res, err := e.c.Fetch(ctx, prov, cache.KindSearch, key, false, f.fetch)
				if !errors.Is(err, tt.err) || res.Hit {
					t.Errorf("Fetch %d: hit %v, error %v; want a miss with %v", i+1, res.Hit, err, tt.err)
				}
			}
			if n := f.calls.Load(); n != 2 {
				t.Errorf("provider calls = %d, want 2 (the error was not cached)", n)
			}
			if n := e.rdb.Exists(ctx, key).Val(); n != 0 {
				t.Errorf("key %s exists after an error", key)
			}
			// The next answer is cached as usual.
			f.err, f.recs = nil, glue
			if _, _, err := e.c.Fetch(ctx, prov, cache.KindSearch, key, false, f.fetch); err != nil {
				t.Fatalf("Fetch after recovery: %v", err)
			}
			if _, res, _ := e.c.Fetch(ctx, prov, cache.KindSearch, key, false, f.fetch); !res.Hit {
				t.Errorf("Fetch after a good answer: hit = false, want true")
			}
			wantResults(t, e.pm, 1, 3, 0)
		})
	}
}

func TestForceRefreshBypassesReadsButWrites(t *testing.T) {
	t.Parallel()
	remix := []provider.Recording{{Provider: prov, ID: "0c6e1b52-7a51-4f4a-9b0a-2f5a3c1d9e22", Title: "Glue (Hammer Remix)", Artists: []string{"Bicep"}}}
	tests := []struct {
		name string
		// What the forced call answers.
		freshRecs []provider.Recording
		freshErr  error
		wantErr   bool // a not-found answer
		want      []provider.Recording
	}{
		{name: "new candidates replace the cached ones", freshRecs: remix, want: remix},
		{name: "a not-found answer replaces the cached candidates", freshErr: notFound(), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ctx := context.Background()
			key := e.c.Key(prov, cache.KindSearch, "Bicep", "Glue")
			old := &counting{recs: glue}
			if _, _, err := e.c.Fetch(ctx, prov, cache.KindSearch, key, false, old.fetch); err != nil {
				t.Fatalf("filling Fetch: %v", err)
			}

			fresh := &counting{recs: tt.freshRecs, err: tt.freshErr}
			got, res, err := e.c.Fetch(ctx, prov, cache.KindSearch, key, true, fresh.fetch)
			if res.Hit || provider.IsNotFound(err) != tt.wantErr {
				t.Errorf("forced Fetch: hit %v, error %v; want a provider call, not-found %v", res.Hit, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("forced Fetch mismatch (-want +got):\n%s", diff)
			}
			if n := fresh.calls.Load(); n != 1 {
				t.Errorf("provider calls of the forced Fetch = %d, want 1", n)
			}

			// A plain read now gets the forced answer from the cache.
			stale := &counting{recs: glue}
			got, res, err = e.c.Fetch(ctx, prov, cache.KindSearch, key, false, stale.fetch)
			if !res.Hit || provider.IsNotFound(err) != tt.wantErr {
				t.Errorf("Fetch after the forced one: hit %v, error %v; want a hit, not-found %v", res.Hit, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Fetch after the forced one mismatch (-want +got):\n%s", diff)
			}
			if n := stale.calls.Load(); n != 0 {
				t.Errorf("provider calls after the forced Fetch = %d, want 0", n)
			}
			// The forced call read nothing: one miss (filling), one hit.
			wantResults(t, e.pm, 1, 1, 0)
		})
	}
}

func TestKeyNormalisation(t *testing.T) {
	t.Parallel()
	c := cache.New(nil, cache.Config{Prefix: "p:"})
	type req struct {
		prov, kind string
		parts      []string
	}
	search := func(parts ...string) req { return req{prov, cache.KindSearch, parts} }
	tests := []struct {
		name string
		a, b req
		same bool
	}{
		{"case", search("Bicep", "Glue"), search("BICEP", "glue"), true},
		{"surrounding space", search("Bicep", "Glue"), search("  Bicep\t", "\nGlue "), true},
		{"inner runs of space", search("Bicep feat. Clara La San", "Saku"), search("Bicep  feat.\tClara   La San", "Saku"), true},
		{"other title", search("Bicep", "Glue"), search("Bicep", "Glue (Radio Edit)"), false},
		{"part boundaries", search("Bicep Gl", "ue"), search("Bicep", "Gl ue"), false},
		{"other kind", search("Bicep", "Glue"), req{prov, cache.KindLookup, []string{"Bicep", "Glue"}}, false},
		{"other provider", search("Bicep", "Glue"), req{provider.Spotify, cache.KindSearch, []string{"Bicep", "Glue"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ka, kb := c.Key(tt.a.prov, tt.a.kind, tt.a.parts...), c.Key(tt.b.prov, tt.b.kind, tt.b.parts...)
			if (ka == kb) != tt.same {
				t.Errorf("Key(%q) = %s, Key(%q) = %s; want equal %v", tt.a.parts, ka, tt.b.parts, kb, tt.same)
			}
		})
	}

	// Equal keys share the cached answer.
	e := newEnv(t)
	ctx := context.Background()
	f := &counting{recs: glue}
	if _, _, err := e.c.Fetch(ctx, prov, cache.KindSearch, e.c.Key(prov, cache.KindSearch, "Bicep", "Glue"), false, f.fetch); err != nil {
		t.Fatalf("first Fetch: %v", err)
	}
	if _, res, _ := e.c.Fetch(ctx, prov, cache.KindSearch, e.c.Key(prov, cache.KindSearch, " BICEP ", "glue"), false, f.fetch); !res.Hit {
		t.Errorf("Fetch under the normalised-equal key: hit = false, want true")
	}
	if n := f.calls.Load(); n != 1 {
		t.Errorf("provider calls = %d, want 1", n)
	}
}

// TestConcurrentMissesCallTheProviderOnce runs N concurrent Fetches of one
// key in one process while the first provider call is held: every caller
// misses the cache, all share that one call, and its answer is cached.
//
// It runs in a synctest bubble so that synctest.Wait tells when every other
// caller is parked on the in-flight call (a goroutine blocked on Redis I/O
// is not durably blocked, so Wait also waits out their cache lookups).
// Without it, a caller could still sit between its cache miss and the
// in-flight call when the first call is released, and ask again.
func TestConcurrentMissesCallTheProviderOnce(t *testing.T) {
	t.Parallel()
	url, prefix := testinfra.RedisURL(t)
	opts, err := redis.ParseURL(url)
	testinfra.Must(t, err, "parse TEST_REDIS_URL")
	const n = 8
	synctest.Test(t, func(t *testing.T) {
		opts.PoolSize = 2 * n // no caller waits for a connection
		rdb := redis.NewClient(opts)
		defer rdb.Close()
		pm := metrics.NewProviders(prometheus.NewRegistry())
		c := cache.New(rdb, cache.Config{Prefix: prefix, TTLs: ttls, Metrics: pm})
		ctx := context.Background()
		key := c.Key(prov, cache.KindSearch, "Bicep", "Glue")
		defer rdb.Del(ctx, key)

		var calls atomic.Int32
		release := make(chan struct{})
		fetch := func(context.Context) ([]provider.Recording, error) {
			calls.Add(1)
			<-release
			return glue, nil
		}
		type answer struct {
			recs []provider.Recording
			res  cache.Result
			err  error
		}
		answers := make(chan answer, n)
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				recs, res, err := c.Fetch(ctx, prov, cache.KindSearch, key, false, fetch)
				answers <- answer{recs, res, err}
			})
		}
		synctest.Wait() // one caller holds the provider call, the others wait for it
		if got := calls.Load(); got != 1 {
			t.Errorf("provider calls in flight = %d for %d concurrent misses, want 1", got, n)
		}
		close(release)
		wg.Wait()
		close(answers)
		for a := range answers {
			if a.err != nil || a.res.Hit {
				t.Errorf("Fetch: hit %v, error %v; want a miss without error", a.res.Hit, a.err)
			}
			if diff := cmp.Diff(glue, a.recs); diff != "" {
				t.Errorf("Fetch mismatch (-want +got):\n%s", diff)
			}
		}
		if got := calls.Load(); got != 1 {
			t.Errorf("provider calls = %d, want 1", got)
		}
		wantResults(t, pm, 0, n, 0)
		if _, res, err := c.Fetch(ctx, prov, cache.KindSearch, key, false, fetch); err != nil || !res.Hit {
			t.Errorf("Fetch afterwards: hit %v, error %v; want a hit", res.Hit, err)
		}
	})
}

// lockHooks watch the fleet-wide lock of one Cache's Redis client: refused
// reports (once) that the lock script was refused the lock.
type lockHooks struct {
	refused chan<- struct{}
	once    sync.Once
}

func (h *lockHooks) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *lockHooks) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if h.refused == nil || !isLockScript(cmd) {
			return err
		}
		if res, ok := cmd.(*redis.Cmd); ok {
			if v, err := res.Slice(); err == nil && len(v) > 0 && v[0] == int64(0) {
				h.once.Do(func() { h.refused <- struct{}{} })
			}
		}
		return err
	}
}

// isLockScript reports whether cmd runs the cache's lock script: a script
// of two keys, the lock's first.
func isLockScript(cmd redis.Cmder) bool {
	args := cmd.Args()
	if name := cmd.Name(); (name != "evalsha" && name != "eval") || len(args) < 5 {
		return false
	}
	n, _ := args[2].(int)
	key, _ := args[3].(string)
	return n == 2 && strings.HasSuffix(key, ":lock")
}

func (h *lockHooks) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestFleetWideLockOneProviderCall plays several workers (one Cache and
// Redis client each) missing the same upstream request: the first takes the
// request's lock and asks the provider, for longer than the lock's TTL (its
// request waits for quota: it renews the lock); the others, refused the
// lock, wait for its answer in Redis and never ask. The answer and the
// unlock land in one script, so a waiter that takes the lock after the first
// worker finds the answer with it.
func TestFleetWideLockOneProviderCall(t *testing.T) {
	t.Parallel()
	url, prefix := testinfra.RedisURL(t)
	opts, err := redis.ParseURL(url)
	testinfra.Must(t, err, "parse TEST_REDIS_URL")
	ctx := context.Background()
	const lockTTL = 150 * time.Millisecond
	newCache := func(h *lockHooks) (*cache.Cache, *metrics.Providers) {
		rdb := redis.NewClient(opts)
		t.Cleanup(func() { _ = rdb.Close() })
		rdb.AddHook(h)
		pm := metrics.NewProviders(prometheus.NewRegistry())
		return cache.New(rdb, cache.Config{Prefix: prefix, TTLs: ttls, Metrics: pm,
			LockTTL: lockTTL, PollInterval: time.Millisecond}), pm
	}
	const others = 3
	first, _ := newCache(&lockHooks{})
	const request = "/recording?query=recording:\"glue\""
	want := provider.Response{Status: 200, Body: []byte(`{"recordings":[]}`)}

	var calls atomic.Int32
	entered, release := make(chan struct{}), make(chan struct{})
	fetch := func(context.Context) (provider.Response, error) {
		if calls.Add(1) == 1 {
			close(entered)
		}
		<-release
		return want, nil
	}
	type answer struct {
		r   provider.Response
		err error
	}
	firstDone := make(chan answer, 1)
	go func() {
		r, err := first.FetchResponse(ctx, prov, provider.KindSearchRequest, request, fetch)
		firstDone <- answer{r, err}
	}()
	<-entered // the first worker holds the lock and the provider call

	refused := make(chan struct{}, others)
	answers := make(chan answer, others)
	var pms []*metrics.Providers
	for range others {
		c, pm := newCache(&lockHooks{refused: refused})
		pms = append(pms, pm)
		go func() {
			r, err := c.FetchResponse(ctx, prov, provider.KindSearchRequest, request, fetch)
			answers <- answer{r, err}
		}()
	}
	for range others {
		<-refused // each other worker missed and was refused the lock
	}
	time.Sleep(3 * lockTTL) // the behaviour under test: the lock outlives its TTL while renewed
	close(release)
	for range others {
		a := <-answers
		if a.err != nil {
			t.Errorf("waiting worker: error %v, want the first worker's answer", a.err)
		}
		if diff := cmp.Diff(want, a.r); diff != "" {
			t.Errorf("waiting worker's answer mismatch (-want +got):\n%s", diff)
		}
	}
	if a := <-firstDone; a.err != nil || !cmp.Equal(want, a.r) {
		t.Errorf("first worker: %v, %v; want its provider answer", a.r, a.err)
	}
	if got := calls.Load(); got != 1 {
		t.Errorf("provider calls = %d for %d workers, want 1 (the lock was renewed while the first asked)", got, others+1)
	}
	for i, pm := range pms {
		if _, miss, errs := results(pm); miss != 1 || errs != 0 {
			t.Errorf("waiting worker %d: cache misses, errors = %v, %v; want 1, 0", i+1, miss, errs)
		}
	}
}

// TestResponseStoredWhenCallerGone: the caller of a request gives up while
// the request is being answered; the answer, paid for, is still cached,
// with the TTL of its kind, and the next caller is served from the cache.
func TestResponseStoredWhenCallerGone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	answer := provider.Response{Status: 200, Body: []byte(`{"id":1}`)}
	sent, release := make(chan struct{}), make(chan struct{})
	fetch := func(context.Context) (provider.Response, error) {
		close(sent)
		<-release
		return answer, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := e.c.FetchResponse(ctx, prov, provider.KindLookupRequest, "/releases/1", fetch)
		errc <- err
	}()
	<-sent
	cancel()
	if err := <-errc; err == nil {
		t.Errorf("FetchResponse of a cancelled caller = nil error, want one")
	}
	close(release)
	e.c.Close() // waits for the shared fetch to store its answer
	again := func(context.Context) (provider.Response, error) {
		t.Error("the provider was asked again for an answer already paid for")
		return provider.Response{}, errors.New("asked again")
	}
	got, err := e.c.FetchResponse(context.Background(), prov, provider.KindLookupRequest, "/releases/1", again)
	if err != nil || !cmp.Equal(answer, got) {
		t.Errorf("FetchResponse after the caller left = %v, %v; want the cached answer", got, err)
	}
}

// TestResponseTTLPerKind: answers live as long as their kind says; a
// not-found answer for the negative TTL; errors are not cached.
func TestResponseTTLPerKind(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	tests := []struct {
		kind string
		resp provider.Response
		want time.Duration
	}{
		{provider.KindLookupRequest, provider.Response{Status: 200, Body: []byte("{}")}, ttls.Lookup},
		{provider.KindISRCRequest, provider.Response{Status: 200, Body: []byte("{}")}, ttls.ISRC},
		{provider.KindSearchRequest, provider.Response{Status: 200, Body: []byte("{}")}, ttls.Search},
		{provider.KindLookupRequest, provider.Response{Status: 404, Body: []byte(`{"message":"Release not found."}`)}, ttls.Negative},
	}
	for i, tt := range tests {
		req := fmt.Sprintf("/request/%d", i)
		got, err := e.c.FetchResponse(ctx, prov, tt.kind, req, func(context.Context) (provider.Response, error) { return tt.resp, nil })
		if err != nil || !cmp.Equal(tt.resp, got) {
			t.Fatalf("FetchResponse(%s) = %v, %v; want %v", req, got, err, tt.resp)
		}
		keys, err := e.rdb.Keys(ctx, e.prefix+"*"+tt.kind+"*").Result()
		testinfra.Must(t, err, "keys")
		found := false
		for _, k := range keys {
			if ttl, _ := e.rdb.TTL(ctx, k).Result(); ttl > tt.want-5*time.Second && ttl <= tt.want {
				found = true
			}
		}
		if !found {
			t.Errorf("%s answer %d: no key with TTL %s among %v", tt.kind, tt.resp.Status, tt.want, keys)
		}
	}
	boom := errors.New("boom")
	for range 2 {
		if _, err := e.c.FetchResponse(ctx, prov, provider.KindSearchRequest, "/failing", func(context.Context) (provider.Response, error) {
			return provider.Response{}, boom
		}); !errors.Is(err, boom) {
			t.Errorf("FetchResponse of a failing request = %v, want %v (errors are not cached)", err, boom)
		}
	}
}

func TestRedisUnreachable(t *testing.T) {
	t.Parallel()
	// Nothing listens on port 1.
	rdb := redis.NewClient(&redis.Options{
		Addr: "127.0.0.1:1", DialTimeout: 250 * time.Millisecond, DialerRetries: 1, MaxRetries: -1,
	})
	t.Cleanup(func() { _ = rdb.Close() })
	if err := rdb.Ping(context.Background()).Err(); err == nil {
		t.Fatal("something answers on 127.0.0.1:1")
	}
	pm := metrics.NewProviders(prometheus.NewRegistry())
	var states []bool
	var mu sync.Mutex
	c := cache.New(rdb, cache.Config{Prefix: testinfra.Name("t") + ":", TTLs: ttls, Metrics: pm,
		OnState: func(up bool) { mu.Lock(); states = append(states, up); mu.Unlock() }})

	tests := []struct {
		name string
		f    *counting
	}{
		{"candidates", &counting{recs: glue}},
		{"not found", &counting{err: notFound()}},
		{"provider error", &counting{err: &provider.Error{Provider: prov, Kind: provider.KindUnavailable, Status: 503}}},
	}
	const calls = 3
	for _, tt := range tests {
		key := c.Key(prov, cache.KindSearch, tt.name)
		for i := range calls {
			recs, res, err := c.Fetch(context.Background(), prov, cache.KindSearch, key, false, tt.f.fetch)
			if res.Hit || !errors.Is(err, tt.f.err) && !(err == nil && tt.f.err == nil) {
				t.Errorf("%s: Fetch %d: hit %v, error %v; want the provider's answer (error %v)", tt.name, i+1, res.Hit, err, tt.f.err)
			}
			if diff := cmp.Diff(tt.f.recs, recs); diff != "" {
				t.Errorf("%s: Fetch %d mismatch (-want +got):\n%s", tt.name, i+1, diff)
			}
		}
		if n := tt.f.calls.Load(); n != calls {
			t.Errorf("%s: provider calls = %d, want %d (every Fetch)", tt.name, n, calls)
		}
	}
	wantResults(t, pm, 0, 0, float64(calls*len(tests)))
	if got := c.Outages(); got != 1 {
		t.Errorf("Outages() = %d, want 1", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]bool{false}, states); diff != "" {
		t.Errorf("OnState calls mismatch (-want +got):\n%s", diff)
	}
}

// TestPrefetchOneRoundTrip: keys read with Prefetch cost one MGET; a
// prefetched hit is served with no further command and a prefetched miss
// goes to the provider without reading the key again; hits and misses are
// counted when consumed, and a key prefetched but never fetched counts
// nowhere.
func TestPrefetchOneRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	hitKey := e.c.Key(prov, cache.KindSearch, "Bicep", "Glue")
	nfKey := e.c.Key(prov, cache.KindSearch, "Nobody", "Nothing")
	missKey := e.c.Key(prov, cache.KindSearch, "Bicep", "Apricots")
	unusedKey := e.c.Key(prov, cache.KindISRC, "GBAUJ1749341")
	// Fill the cache: an answer, a not-found, and an answer nobody will use.
	for _, k := range []struct {
		key string
		f   *counting
	}{{hitKey, &counting{recs: glue}}, {nfKey, &counting{err: notFound()}}, {unusedKey, &counting{recs: glue}}} {
		_, _, _ = e.c.Fetch(ctx, prov, cache.KindSearch, k.key, false, k.f.fetch)
	}
	wantResults(t, e.pm, 0, 3, 0)

	log := &testinfra.RedisCommands{}
	e.rdb.AddHook(log)
	pre := e.c.Prefetch(ctx, []string{hitKey, nfKey, missKey, unusedKey})
	if got, want := log.Take(), []string{"mget"}; !cmp.Equal(got, want) {
		t.Fatalf("Prefetch sent %q, want %q", got, want)
	}

	f := &counting{}
	got, res, err := e.c.FetchPrefetched(ctx, pre, prov, cache.KindSearch, hitKey, false, f.fetch)
	if err != nil || !res.Hit || !cmp.Equal(got, glue) {
		t.Errorf("prefetched hit: got %v, hit %v, error %v; want the cached answer", got, res.Hit, err)
	}
	_, res, err = e.c.FetchPrefetched(ctx, pre, prov, cache.KindSearch, nfKey, false, f.fetch)
	if !provider.IsNotFound(err) || !res.Hit {
		t.Errorf("prefetched not-found: hit %v, error %v; want a cached not-found", res.Hit, err)
	}
	if cmds := log.Take(); len(cmds) != 0 {
		t.Errorf("prefetched hits sent %q, want no command", cmds)
	}
	if n := f.calls.Load(); n != 0 {
		t.Errorf("provider calls for prefetched hits = %d, want 0", n)
	}
	wantResults(t, e.pm, 2, 3, 0)

	miss := &counting{recs: glue}
	if _, res, err := e.c.FetchPrefetched(ctx, pre, prov, cache.KindSearch, missKey, false, miss.fetch); err != nil || res.Hit {
		t.Errorf("prefetched miss: hit %v, error %v; want a miss without error", res.Hit, err)
	}
	if n := miss.calls.Load(); n != 1 {
		t.Errorf("provider calls for the prefetched miss = %d, want 1", n)
	}
	// The candidates are stored with one SET: no second read (the requests
	// behind them are coalesced fleet-wide by FetchResponse, not here).
	cmds := log.Take()
	for _, c := range cmds {
		if c != "set" {
			t.Errorf("the prefetched miss sent %q, want only the SET of its answer", cmds)
			break
		}
	}
	if n, err := e.rdb.Exists(ctx, missKey, missKey+":lock").Result(); err != nil || n != 1 {
		t.Errorf("after the prefetched miss, %d of the answer and its lock exist (error %v), want 1: the answer", n, err)
	}
	log.Take()
	wantResults(t, e.pm, 2, 4, 0)

	// A key that was not prefetched is read as usual.
	if _, res, _ := e.c.FetchPrefetched(ctx, pre, prov, cache.KindSearch, e.c.Key(prov, cache.KindLookup, "x"), false,
		(&counting{err: notFound()}).fetch); res.Hit {
		t.Error("a key that was not prefetched was served as a hit")
	}
	if cmds := log.Take(); len(cmds) == 0 || cmds[0] != "get" {
		t.Errorf("a key that was not prefetched sent %q, want a get first", cmds)
	}
}
