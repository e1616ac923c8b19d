package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// Availability defaults.
const (
	// OffTTLDefault is how long a provider stays off after a worker found
	// its credential refused; then the next request tries again (and turns
	// it off again if nothing changed).
	OffTTLDefault = time.Hour
	// availabilityCheck is how long a worker trusts its last look at the
	// fleet's state.
	availabilityCheck = time.Second
)

// AvailabilityConfig configures an Availability.
type AvailabilityConfig struct {
	Provider string
	// Credential identifies what this worker runs with (a token, a client
	// id and secret, a User-Agent); only a hash of it is stored. Workers
	// started with another credential (the fix) ignore a provider turned
	// off for this one.
	Credential string
	// Variables names the settings to fix, for the log and the error.
	Variables string
	// Prefix is put before the Redis key.
	Prefix string
	// OffTTL: see OffTTLDefault.
	OffTTL time.Duration
	// Gauge, if set, is 1 while this worker sees the provider off.
	Gauge  prometheus.Gauge
	Logger *zap.Logger
}

// Availability is one provider's fleet-wide on/off switch for conditions
// that no retry fixes: the provider refused our credential (401 after a
// token refresh, 403) or calls our requests malformed (400). One worker's
// finding turns the provider off, in Redis, for every worker running with
// the same credential; their tasks then finish without it (partial) instead
// of spending retries, until a worker with another credential, or the
// expiry of the switch, tries again. Without Redis the switch is local.
type Availability struct {
	cfg AvailabilityConfig
	rdb redis.UniversalClient
	key string
	fp  string

	mu        sync.Mutex
	off       *offState // nil: on
	checkedAt time.Time
}

// offState is what the switch holds while a provider is off.
type offState struct {
	Fingerprint string    `json:"fingerprint"`
	Reason      string    `json:"reason"`
	Variables   string    `json:"variables"`
	Since       time.Time `json:"since"`
}

// NewAvailability returns the switch of cfg.Provider on rdb (nil: local).
func NewAvailability(rdb redis.UniversalClient, cfg AvailabilityConfig) *Availability {
	if cfg.OffTTL <= 0 {
		cfg.OffTTL = OffTTLDefault
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	h := sha256.Sum256([]byte(cfg.Provider + "\x00" + cfg.Credential))
	a := &Availability{cfg: cfg, rdb: rdb, key: cfg.Prefix + "provider:off:" + cfg.Provider, fp: hex.EncodeToString(h[:8])}
	if cfg.Gauge != nil {
		cfg.Gauge.Set(0)
	}
	return a
}

// OffError is returned for calls to a provider that is off.
type OffError struct {
	Provider, Reason, Variables string
	Since                       time.Time
}

func (e *OffError) Error() string {
	return e.Provider + " is off for the whole fleet since " + e.Since.UTC().Format(time.RFC3339) +
		": " + e.Reason + "; fix " + e.Variables + " and restart the workers, then run enrichctl backfill --partial"
}

// Check returns an *OffError while the provider is off for this worker's
// credential, else nil. It reads Redis at most once a second.
func (a *Availability) Check(ctx context.Context) error {
	a.mu.Lock()
	fresh := time.Since(a.checkedAt) < availabilityCheck
	off := a.off
	a.mu.Unlock()
	if !fresh && a.rdb != nil {
		off = nil
		b, err := a.rdb.Get(ctx, a.key).Bytes()
		switch {
		case err == nil:
			var st offState
			if json.Unmarshal(b, &st) == nil && st.Fingerprint == a.fp {
				off = &st
			}
		case !errors.Is(err, redis.Nil):
			off = a.localState() // Redis trouble: keep what this worker knows
		}
		a.set(off)
	} else if !fresh {
		off = a.localState()
	}
	if off == nil {
		return nil
	}
	return &OffError{Provider: a.cfg.Provider, Reason: off.Reason, Variables: off.Variables, Since: off.Since}
}

func (a *Availability) localState() *offState {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.off != nil && time.Since(a.off.Since) > a.cfg.OffTTL {
		return nil
	}
	return a.off
}

func (a *Availability) set(off *offState) {
	a.mu.Lock()
	was := a.off != nil
	a.off, a.checkedAt = off, time.Now()
	a.mu.Unlock()
	if a.cfg.Gauge != nil {
		if off != nil {
			a.cfg.Gauge.Set(1)
		} else {
			a.cfg.Gauge.Set(0)
		}
	}
	if was && off == nil {
		a.cfg.Logger.Info("provider is on again", zap.String("provider", a.cfg.Provider))
	}
}

// TurnOff turns the provider off for the fleet (every worker with this
// credential) because of reason, and logs the variables to fix.
func (a *Availability) TurnOff(ctx context.Context, reason string) {
	st := &offState{Fingerprint: a.fp, Reason: reason, Variables: a.cfg.Variables, Since: time.Now().UTC()}
	a.mu.Lock()
	already := a.off != nil
	a.mu.Unlock()
	a.set(st)
	if a.rdb != nil {
		if b, err := json.Marshal(st); err == nil {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			_ = a.rdb.Set(ctx, a.key, b, a.cfg.OffTTL).Err()
			cancel()
		}
	}
	if !already {
		a.cfg.Logger.Error("provider turned off for the whole fleet: tasks finish without it (partial) until it is fixed",
			zap.String("provider", a.cfg.Provider), zap.String("reason", reason), zap.String("fix", a.cfg.Variables),
			zap.Duration("retry_after", a.cfg.OffTTL),
			zap.String("then", "restart the workers with the fixed setting and run enrichctl backfill --partial"))
	}
}
