// Package cache is the Redis cache-aside layer in front of every provider
// call. Keys are versioned and derived from a hash of the normalised
// request; answers are cached per request, not per track, so the same
// artist and title under another track_id reuses them. Errors and
// rate-limit answers are never cached. Without Redis every call goes to the
// provider, one warning is logged per outage, and caching resumes by itself.
package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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
	rdb   redis.UniversalClient // nil: caching off
	cfg   Config
	group singleflight.Group

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
	return &Cache{rdb: rdb, cfg: cfg, now: time.Now}
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
	ch := c.group.DoChan(key, func() (any, error) {
		// The shared call must not die with the first caller's
		// cancellation, but it keeps the caller's deadline (TASK_TIMEOUT).
		fctx := context.WithoutCancel(ctx)
		if dl, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			fctx, cancel = context.WithDeadline(fctx, dl)
			defer cancel()
		}
		// Across processes: one worker asks, the others read its answer.
		var lk *fleetLock
		if !force {
			var e entry
			var hit bool
			lk, e, hit = c.lockOrWait(ctx, prov, key)
			if hit {
				if e.NotFound {
					return nil, &provider.Error{Provider: prov, Kind: provider.KindNotFound, Err: errors.New("cached")}
				}
				return answer{e.Recordings}, nil
			}
		}
		recs, err := fetch(fctx)
		switch {
		case err == nil:
			ttl := c.cfg.TTLs.forKind(kind)
			if len(recs) == 0 {
				ttl = c.cfg.TTLs.Negative
			}
			c.set(ctx, key, entry{Recordings: recs, StoredAt: c.now().Unix()}, ttl, lk)
			return answer{recs}, nil
		case provider.IsNotFound(err):
			c.set(ctx, key, entry{NotFound: true, StoredAt: c.now().Unix()}, c.cfg.TTLs.Negative, lk)
			return nil, err
		default:
			c.unlock(lk)
			return nil, err
		}
	})
	select {
	case <-ctx.Done():
		return nil, Result{}, &provider.Error{Provider: prov, Kind: provider.KindUnavailable, Err: ctx.Err()}
	case res := <-ch:
		if res.Err != nil {
			return nil, Result{}, res.Err
		}
		return res.Val.(answer).recs, Result{}, nil
	}
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
// has cached the answer (hit) or gave up (lock gone: take it). With the
// lock it returns the lock to release (nil when Redis is not usable: the
// caller goes ahead unlocked).
func (c *Cache) lockOrWait(ctx context.Context, prov, key string) (lk *fleetLock, e entry, hit bool) {
	if !c.usable() {
		return nil, entry{}, false
	}
	lk = &fleetLock{key: key + ":lock", token: fmt.Sprintf("%d-%d", c.now().UnixNano(), c.lockSeq.Add(1))}
	ttl := strconv.FormatInt(c.cfg.LockTTL.Milliseconds(), 10)
	deadline := c.now().Add(c.cfg.LockTTL)
	for {
		res, err := lockScript.Run(ctx, c.rdb, []string{lk.key, key}, lk.token, ttl).Slice()
		if err != nil {
			c.fail(err)
			return nil, entry{}, false
		}
		taken := len(res) > 0 && res[0] == int64(1)
		if len(res) > 1 {
			if b, ok := res[1].(string); ok {
				if e, ok := decodeEntry([]byte(b)); ok {
					if taken {
						c.unlock(lk)
					}
					c.cfg.Metrics.CacheResult(prov, "hit")
					return nil, e, true
				}
			}
		}
		if taken {
			return lk, entry{}, false
		}
		if c.now().After(deadline) {
			return nil, entry{}, false
		}
		// Someone else is asking: wait for the answer to land.
		t := time.NewTimer(c.cfg.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, entry{}, false
		case <-t.C:
		}
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
	if !c.usable() {
		c.unlock(lk)
		return
	}
	b, err := json.Marshal(e)
	if err != nil {
		c.unlock(lk)
		return
	}
	ctx = context.WithoutCancel(ctx)
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
