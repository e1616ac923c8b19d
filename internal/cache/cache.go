// Package cache is the Redis cache-aside layer in front of every provider
// request, at two levels:
//
//   - FetchResponse caches each upstream HTTP request on its own (a search,
//     a release lookup, an ISRC lookup), keyed by the request normalised
//     the way the provider treats it, with a TTL per kind, and coalesces it
//     across the fleet: concurrent callers in one worker share one fetch
//     (singleflight), and across workers one holds a lock in Redis while it
//     asks and the others wait for its answer. An answer the fleet has paid
//     for is stored even if the task that asked for it has gone.
//   - Fetch caches a client call's normalised candidates under the call
//     (provider, kind, artist and title, or id), so a warm task reads all
//     it needs in one round trip (Prefetch); it only saves work, the
//     requests themselves are coalesced by FetchResponse.
//
// Keys are versioned and derived from a hash of the normalised request;
// answers are cached per request, not per track, so the same artist and
// title under another track_id reuses them. Errors and rate-limit answers
// are never cached. Without Redis every call goes to the provider, one
// warning is logged per outage, and caching resumes by itself.
package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"golang.org/x/sync/singleflight"

	"github.com/djmeta/enrichment/internal/metrics"
	"github.com/djmeta/enrichment/internal/provider"
)

// KeyVersion is part of every key; bump it when the cached shape changes.
const KeyVersion = "v1"

// Call kinds, each with its own TTL.
const (
	KindLookup = "lookup" // by provider id
	KindISRC   = "isrc"   // by ISRC
	KindSearch = "search" // free search
)

// TTLs are the cache lifetimes.
type TTLs struct {
	// Lookup is for answers to lookups by id (default 90 days).
	Lookup time.Duration
	// ISRC is for answers to lookups by ISRC (default 90 days).
	ISRC time.Duration
	// Search is for search answers (default 14 days).
	Search time.Duration
	// Negative is for "no result" answers (default 1 day).
	Negative time.Duration
}

// DefaultTTLs are the documented defaults.
func DefaultTTLs() TTLs {
	return TTLs{Lookup: 90 * 24 * time.Hour, ISRC: 90 * 24 * time.Hour, Search: 14 * 24 * time.Hour, Negative: 24 * time.Hour}
}

func (t TTLs) forKind(kind string) time.Duration {
	switch kind {
	case KindLookup:
		return t.Lookup
	case KindISRC:
		return t.ISRC
	}
	return t.Search
}

// Config configures a Cache.
type Config struct {
	// Prefix is put before every key (tests isolate themselves with it).
	Prefix string
	TTLs   TTLs
	// RetryDownAfter is how long the cache is skipped after a Redis error
	// before it is tried again (default 1s), so an outage costs one timeout
	// per interval, not one per call.
	RetryDownAfter time.Duration
	Metrics        *metrics.Providers
	// OnState, if set, is called with false when Redis is lost and true
	// when it returns.
	OnState func(up bool)
	// LockTTL bounds how long one worker holds the fleet-wide lock of a
	// request while it asks the provider (default 20s); others wait for its
	// answer in the cache instead of asking too. A dead holder stalls no one
	// longer than this.
	LockTTL time.Duration
	// PollInterval is how often a waiting worker looks for the holder's
	// answer (default 25ms).
	PollInterval time.Duration
	Logger       *zap.Logger
}

// Cache wraps provider calls with cache-aside and in-process coalescing.
type Cache struct {
	rdb       redis.UniversalClient // nil: caching off
	cfg       Config
	group     singleflight.Group // Fetch's calls
	responses singleflight.Group // FetchResponse's requests

	// base is cancelled by Close: fetches still waiting for their slot stop;
	// requests already sent finish and are stored. fetches counts them.
	base    context.Context
	stop    context.CancelFunc
	fetches sync.WaitGroup

	mu        sync.Mutex
	down      bool
	downUntil time.Time
	now       func() time.Time
	outages   atomic.Int64
	lockSeq   atomic.Uint64
}

// New returns a Cache on rdb (nil disables caching).
func New(rdb redis.UniversalClient, cfg Config) *Cache {
	if cfg.TTLs == (TTLs{}) {
		cfg.TTLs = DefaultTTLs()
	}
	if cfg.RetryDownAfter <= 0 {
		cfg.RetryDownAfter = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.LockTTL <= 0 {
		cfg.LockTTL = 20 * time.Second
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 25 * time.Millisecond
	}
	base, stop := context.WithCancel(context.Background())
	return &Cache{rdb: rdb, cfg: cfg, now: time.Now, base: base, stop: stop}
}

// Close stops the shared fetches that are still waiting to send their
// request and waits for the others (a request already sent is answered and
// its answer stored; the provider timeout bounds it).
func (c *Cache) Close() {
	c.stop()
	c.fetches.Wait()
}

// Outages counts the Redis outages seen.
func (c *Cache) Outages() int64 { return c.outages.Load() }

// Key returns the cache key of a request: provider, kind and a hash of the
// normalised request parts.
func (c *Cache) Key(prov, kind string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(normalize(p)))
		h.Write([]byte{0})
	}
	return fmt.Sprintf("%senrich:%s:%s:%s:%s", c.cfg.Prefix, KeyVersion, prov, kind, hex.EncodeToString(h.Sum(nil))[:32])
}

// normalize makes equivalent requests share a key: case, surrounding and
// repeated white space.
func normalize(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
}

// entry is what is stored: the recordings, or a "not found" marker.
type entry struct {
	NotFound   bool                 `json:"nf,omitempty"`
	Recordings []provider.Recording `json:"r,omitempty"`
	StoredAt   int64                `json:"t"`
}

// Result says where an answer came from.
type Result struct {
	Hit bool // served from the cache
}

// Prefetched holds the raw cache entries of several keys read in one round
// trip (Prefetch). It is read by one task at a time: not safe for
// concurrent use.
type Prefetched struct {
	vals map[string]*string // nil: the key was not in the cache
}

// Prefetch reads keys in one round trip (MGET), for the requests a task is
// about to make whose keys do not depend on an earlier answer. It returns
// nil when Redis is not usable; Fetch then reads each key on its own.
// Nothing is counted here: a prefetched key counts as a hit or a miss when
// Fetch consumes it, so keys a task ends up not needing count nowhere.
func (c *Cache) Prefetch(ctx context.Context, keys []string) *Prefetched {
	if len(keys) == 0 || !c.usable() {
		return nil
	}
	vals, err := c.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		c.fail(err)
		return nil
	}
	c.ok()
	p := &Prefetched{vals: make(map[string]*string, len(keys))}
	for i, v := range vals {
		if s, ok := v.(string); ok {
			p.vals[keys[i]] = &s
		} else {
			p.vals[keys[i]] = nil
		}
	}
	return p
}

// lookup returns the prefetched entry of key: ok false when key was not
// prefetched, found false when it was and is not in the cache.
func (p *Prefetched) lookup(key string) (b []byte, found, ok bool) {
	if p == nil {
		return nil, false, false
	}
	v, ok := p.vals[key]
	if v == nil {
		return nil, false, ok
	}
	return []byte(*v), true, true // copied only when consumed
}

// Fetch returns the answer to one provider request: from the cache unless
// force is set, else from fetch (once per key across concurrent callers in
// this process), caching answers and not-found results but never errors.
// A not-found answer is returned as the provider's not-found error.
func (c *Cache) Fetch(ctx context.Context, prov, kind, key string, force bool,
	fetch func(ctx context.Context) ([]provider.Recording, error)) ([]provider.Recording, Result, error) {
	return c.FetchPrefetched(ctx, nil, prov, kind, key, force, fetch)
}

// FetchPrefetched is Fetch that first consults pre (from Prefetch; nil is
// allowed) instead of reading key from Redis.
func (c *Cache) FetchPrefetched(ctx context.Context, pre *Prefetched, prov, kind, key string, force bool,
	fetch func(ctx context.Context) ([]provider.Recording, error)) ([]provider.Recording, Result, error) {
	if !force {
		var e entry
		var ok bool
		if b, found, pok := pre.lookup(key); pok {
			e, ok = c.decode(prov, b, found)
		} else {
			e, ok = c.get(ctx, prov, key)
		}
		if ok {
			if e.NotFound {
				return nil, Result{Hit: true}, &provider.Error{Provider: prov, Kind: provider.KindNotFound, Err: errors.New("cached")}
			}
			return e.Recordings, Result{Hit: true}, nil
		}
	}
	type answer struct {
		recs []provider.Recording
	}
	// Concurrent callers in this process share one call; across workers
	// the requests it makes are coalesced by FetchResponse.
	ch := c.group.DoChan(key, func() (any, error) {
		fctx, done := c.detach(ctx)
		defer done()
		recs, err := fetch(fctx)
		switch {
		case err == nil:
			ttl := c.cfg.TTLs.forKind(kind)
			if len(recs) == 0 {
				ttl = c.cfg.TTLs.Negative
			}
			c.set(fctx, key, entry{Recordings: recs, StoredAt: c.now().Unix()}, ttl, nil)
			return answer{recs}, nil
		case provider.IsNotFound(err):
			c.set(fctx, key, entry{NotFound: true, StoredAt: c.now().Unix()}, c.cfg.TTLs.Negative, nil)
			return nil, err
		default:
			return nil, err
		}
	})
	select {
	case <-ctx.Done():
		return nil, Result{}, provider.WaitEnded(prov, ctx)
	case res := <-ch:
		if res.Err != nil {
			return nil, Result{}, res.Err
		}
		return res.Val.(answer).recs, Result{}, nil
	}
}

// detach returns the context of a fetch shared by several callers: it
// keeps the first caller's values and deadline but not its cancellation
// (the others still want the answer); Close cancels it. done must be
// called when the fetch ends.
func (c *Cache) detach(ctx context.Context) (context.Context, func()) {
	c.fetches.Add(1)
	fctx := context.WithoutCancel(ctx)
	cancelDeadline := context.CancelFunc(func() {})
	if dl, ok := ctx.Deadline(); ok {
		fctx, cancelDeadline = context.WithDeadline(fctx, dl)
	}
	fctx, cancel := context.WithCancel(fctx)
	stop := context.AfterFunc(c.base, cancel)
	return fctx, func() {
		stop()
		cancel()
		cancelDeadline()
		c.fetches.Done()
	}
}

// FetchResponse implements provider.ResponseCache: the answer to one
// upstream request (key, normalised by the client), from the cache unless
// the context asks for a fresh one (provider.WithForceRefresh), else from
// the one fetch this process runs for it, which holds the fleet's lock of
// the request while it asks (renewed until it has the answer) so that
// other workers wait for its answer instead of asking too. Answers are
// cached for the TTL of their kind (not-found answers for the negative
// TTL); errors are not.
func (c *Cache) FetchResponse(ctx context.Context, prov, kind, key string,
	fetch func(ctx context.Context) (provider.Response, error)) (provider.Response, error) {
	force := provider.ForceRefresh(ctx)
	rkey := c.responseKey(prov, kind, key)
	if !force {
		if r, ok := c.getResponse(ctx, prov, rkey); ok {
			return r, nil
		}
	}
	ch := c.responses.DoChan(rkey, func() (any, error) {
		fctx, done := c.detach(ctx)
		defer done()
		var lk *fleetLock
		if !force {
			var b []byte
			var hit bool
			var err error
			lk, b, hit, err = c.lockOrWait(fctx, prov, rkey)
			if err != nil {
				return nil, err
			}
			if hit {
				if r, ok := decodeResponse(b); ok {
					return r, nil
				}
			}
		}
		renewed := c.keepLock(lk)
		r, err := fetch(fctx)
		renewed()
		if err != nil {
			c.unlock(lk)
			return nil, err
		}
		ttl := c.cfg.TTLs.forKind(kind)
		if r.Status != http.StatusOK {
			ttl = c.cfg.TTLs.Negative
		}
		c.setRaw(fctx, rkey, encodeResponse(r), ttl, lk)
		return r, nil
	})
	select {
	case <-ctx.Done():
		return provider.Response{}, provider.WaitEnded(prov, ctx)
	case res := <-ch:
		if res.Err != nil {
			return provider.Response{}, res.Err
		}
		return res.Val.(provider.Response), nil
	}
}

// responseKey is the Redis key of one upstream request's answer.
func (c *Cache) responseKey(prov, kind, key string) string {
	h := sha256.Sum256([]byte(key))
	return fmt.Sprintf("%senrich:%s:%s:req:%s:%s", c.cfg.Prefix, KeyVersion, prov, kind, hex.EncodeToString(h[:16]))
}

// encodeResponse stores an answer as its status, a newline and its body.
func encodeResponse(r provider.Response) []byte {
	b := make([]byte, 0, len(r.Body)+4)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	b = append(b, '\n')
	return append(b, r.Body...)
}

func decodeResponse(b []byte) (provider.Response, bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return provider.Response{}, false
	}
	status, err := strconv.Atoi(string(b[:i]))
	if err != nil || status < 100 || status > 599 {
		return provider.Response{}, false
	}
	return provider.Response{Status: status, Body: b[i+1:]}, true
}

// getResponse reads a cached answer and counts the lookup.
func (c *Cache) getResponse(ctx context.Context, prov, key string) (provider.Response, bool) {
	if !c.usable() {
		c.cfg.Metrics.CacheResult(prov, "error")
		return provider.Response{}, false
	}
	b, err := c.rdb.Get(ctx, key).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		c.ok()
		c.cfg.Metrics.CacheResult(prov, "miss")
		return provider.Response{}, false
	case err != nil:
		c.fail(err)
		c.cfg.Metrics.CacheResult(prov, "error")
		return provider.Response{}, false
	}
	c.ok()
	r, ok := decodeResponse(b)
	if !ok {
		c.cfg.Metrics.CacheResult(prov, "miss")
		return provider.Response{}, false
	}
	c.cfg.Metrics.CacheResult(prov, "hit")
	return r, true
}

// fleetLock is a held fleet-wide lock of one request.
type fleetLock struct {
	key, token string
}

// lockScript takes the lock KEYS[1] with token ARGV[1] for ARGV[2] ms if
// it is free, and in the same round trip reads the answer KEYS[2]: another
// worker may have cached it and released the lock since this worker's
// miss. It returns {1 if taken else 0, the answer or nil}.
var lockScript = redis.NewScript(`local taken = 0
if redis.call("SET", KEYS[1], ARGV[1], "NX", "PX", ARGV[2]) then taken = 1 end
return {taken, redis.call("GET", KEYS[2])}`)

// lockOrWait takes the fleet-wide lock of key, or waits until its holder
// has cached the answer (hit, with the cached value) or is gone (its lock
// expired: take it). Holders renew their lock while they ask (keepLock), so
// a live holder is waited for however long its request waits for quota;
// the wait ends with the caller's context (a provider.WaitEnded error).
// Without a usable Redis it returns no lock and the caller goes ahead.
func (c *Cache) lockOrWait(ctx context.Context, prov, key string) (lk *fleetLock, val []byte, hit bool, err error) {
	if !c.usable() {
		return nil, nil, false, nil
	}
	lk = &fleetLock{key: key + ":lock", token: fmt.Sprintf("%d-%d", c.now().UnixNano(), c.lockSeq.Add(1))}
	ttl := strconv.FormatInt(c.cfg.LockTTL.Milliseconds(), 10)
	poll := c.cfg.PollInterval
	for {
		res, err := lockScript.Run(ctx, c.rdb, []string{lk.key, key}, lk.token, ttl).Slice()
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, false, provider.WaitEnded(prov, ctx)
			}
			c.fail(err)
			return nil, nil, false, nil
		}
		taken := len(res) > 0 && res[0] == int64(1)
		if len(res) > 1 {
			if b, ok := res[1].(string); ok {
				if taken {
					c.unlock(lk)
				}
				c.cfg.Metrics.CacheResult(prov, "hit")
				return nil, []byte(b), true, nil
			}
		}
		if taken {
			return lk, nil, false, nil
		}
		// Someone else is asking: wait for the answer to land, looking less
		// often the longer it takes (its request may be waiting for quota).
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil, false, provider.WaitEnded(prov, ctx)
		case <-t.C:
		}
		poll = min(poll*3/2, c.cfg.LockTTL/8, maxPollInterval)
	}
}

// maxPollInterval bounds how long a waiter for another worker's answer
// sleeps between looks.
const maxPollInterval = 250 * time.Millisecond

// renewScript extends the lock KEYS[1] to ARGV[2] ms if this worker
// (token ARGV[1]) still holds it.
var renewScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end return 0`)

// keepLock renews lk every third of LockTTL until the returned function is
// called (which waits for the renewer to stop). A nil lock needs nothing.
func (c *Cache) keepLock(lk *fleetLock) (stop func()) {
	if lk == nil {
		return func() {}
	}
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(c.cfg.LockTTL / 3)
		defer t.Stop()
		ttl := strconv.FormatInt(c.cfg.LockTTL.Milliseconds(), 10)
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				_ = renewScript.Run(ctx, c.rdb, []string{lk.key}, lk.token, ttl).Err()
				cancel()
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

// unlockScript deletes the lock only if this worker still holds it.
var unlockScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

func (c *Cache) unlock(lk *fleetLock) {
	if lk == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = unlockScript.Run(ctx, c.rdb, []string{lk.key}, lk.token).Err()
}

// setUnlockScript stores the answer ARGV[1] under KEYS[1] for ARGV[2] ms
// and releases the lock KEYS[2] if this worker (token ARGV[3]) still holds
// it, in one round trip.
var setUnlockScript = redis.NewScript(`redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
if redis.call("GET", KEYS[2]) == ARGV[3] then redis.call("DEL", KEYS[2]) end
return 1`)

// decodeEntry decodes a cached value; false for a corrupt or old-shape one.
func decodeEntry(b []byte) (entry, bool) {
	var e entry
	if json.Unmarshal(b, &e) != nil {
		return entry{}, false
	}
	return e, true
}

func (c *Cache) get(ctx context.Context, prov, key string) (entry, bool) {
	if !c.usable() {
		c.cfg.Metrics.CacheResult(prov, "error")
		return entry{}, false
	}
	b, err := c.rdb.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		c.ok()
		c.cfg.Metrics.CacheResult(prov, "miss")
		return entry{}, false
	}
	if err != nil {
		c.fail(err)
		c.cfg.Metrics.CacheResult(prov, "error")
		return entry{}, false
	}
	c.ok()
	return c.decode(prov, b, true)
}

// decode turns a cached value into an entry and counts the lookup.
func (c *Cache) decode(prov string, b []byte, found bool) (entry, bool) {
	if !found {
		c.cfg.Metrics.CacheResult(prov, "miss")
		return entry{}, false
	}
	e, ok := decodeEntry(b)
	if !ok {
		// A corrupt or old-shape entry is a miss; the fresh answer replaces it.
		c.cfg.Metrics.CacheResult(prov, "miss")
		return entry{}, false
	}
	c.cfg.Metrics.CacheResult(prov, "hit")
	return e, true
}

// set stores e under key for ttl and releases lk (nil: no lock held) in
// the same round trip.
func (c *Cache) set(ctx context.Context, key string, e entry, ttl time.Duration, lk *fleetLock) {
	b, err := json.Marshal(e)
	if err != nil {
		c.unlock(lk)
		return
	}
	c.setRaw(ctx, key, b, ttl, lk)
}

// setRaw stores b under key for ttl and releases lk (nil: no lock held) in
// the same round trip, whatever happened to ctx: the answer was paid for.
func (c *Cache) setRaw(ctx context.Context, key string, b []byte, ttl time.Duration, lk *fleetLock) {
	if !c.usable() {
		c.unlock(lk)
		return
	}
	var err error
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if lk == nil {
		err = c.rdb.Set(ctx, key, b, ttl).Err()
	} else {
		err = setUnlockScript.Run(ctx, c.rdb, []string{key, lk.key}, b, max(ttl.Milliseconds(), 1), lk.token).Err()
	}
	if err != nil {
		c.fail(err)
		return
	}
	c.ok()
}

// usable reports whether Redis should be tried now.
func (c *Cache) usable() bool {
	if c.rdb == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.down || !c.now().Before(c.downUntil)
}

func (c *Cache) fail(err error) {
	c.mu.Lock()
	wasDown := c.down
	c.down = true
	c.downUntil = c.now().Add(c.cfg.RetryDownAfter)
	c.mu.Unlock()
	if !wasDown {
		c.outages.Add(1)
		c.cfg.Logger.Warn("redis unavailable: provider calls go straight to the providers until it returns", zap.Error(err))
		if c.cfg.OnState != nil {
			c.cfg.OnState(false)
		}
	}
}

func (c *Cache) ok() {
	c.mu.Lock()
	wasDown := c.down
	c.down = false
	c.mu.Unlock()
	if wasDown {
		c.cfg.Logger.Info("redis is back: caching resumed")
		if c.cfg.OnState != nil {
			c.cfg.OnState(true)
		}
	}
}
