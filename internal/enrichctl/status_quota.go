package enrichctl

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/djmeta/enrichment/internal/config"
	"github.com/djmeta/enrichment/internal/ratelimit"
	"github.com/djmeta/enrichment/internal/store"
)

// quotaWindowMinutes is how far back status looks for the fleet's pace.
const quotaWindowMinutes = 10

// providerQuota is one provider's use of its fleet-wide rate, from the
// limiter's counts in Redis.
type providerQuota struct {
	Provider string `json:"provider"`
	// RatePerSecond is the configured fleet rate (*_RATE); the limiter
	// grants EffectiveRate (the rate less its jitter slack).
	RatePerSecond float64 `json:"rate_per_second"`
	EffectiveRate float64 `json:"effective_rate_per_second"`
	// Sent is the requests sent in the last WindowSeconds, and Used their
	// share of what the configured rate allows in that window.
	Sent          int64   `json:"sent"`
	WindowSeconds float64 `json:"window_seconds"`
	Used          float64 `json:"used"`
	// BacklogSeconds is how far away the next free request slot is: while
	// above 0 the fleet is at this provider's quota.
	BacklogSeconds float64 `json:"backlog_seconds"`
}

// backlogEstimate is how long the queued tasks will take at the pace of
// the last minutes.
type backlogEstimate struct {
	// Pending counts the tasks in the work, priority and retry queues
	// (ready and, where known, unacknowledged).
	Pending int64 `json:"pending"`
	// Settled counts status rows written in the last WindowSeconds.
	Settled        int64    `json:"settled"`
	WindowSeconds  float64  `json:"window_seconds"`
	TasksPerMinute float64  `json:"tasks_per_minute"`
	ETASeconds     *float64 `json:"eta_seconds"` // null when nothing settled lately
}

// collectQuota reads the providers' quota use from Redis and the fleet's
// pace from Postgres into rep.
func collectQuota(ctx context.Context, rep *statusReport, environ map[string]string, st *store.Store) {
	fail := func(err error) { rep.Errors = append(rep.Errors, err.Error()) }
	cfg, err := config.LoadWorker(environ)
	if err != nil {
		fail(fmt.Errorf("provider quotas: %w", err))
		return
	}
	opts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		fail(fmt.Errorf("REDIS_URL: %w", err))
		return
	}
	opts.DialTimeout, opts.ReadTimeout, opts.MaxRetries = 2*time.Second, 2*time.Second, 1
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	rates := []struct {
		name string
		rate float64
	}{{"spotify", cfg.SpotifyRate}, {"musicbrainz", cfg.MusicBrainzRate}, {"discogs", cfg.DiscogsRate}}
	for _, p := range rates {
		if !cfg.ProviderEnabled(p.name) {
			continue
		}
		u, err := ratelimit.Usage(ctx, rdb, cfg.CachePrefix, p.name, quotaWindowMinutes)
		if err != nil {
			fail(fmt.Errorf("provider quotas: %w", err))
			return
		}
		rep.Providers = append(rep.Providers, providerQuota{
			Provider: p.name, RatePerSecond: p.rate, EffectiveRate: ratelimit.EffectiveRate(p.rate),
			Sent: u.Sent, WindowSeconds: u.Window.Seconds(), Used: float64(u.Sent) / (p.rate * u.Window.Seconds()),
			BacklogSeconds: u.Backlog.Seconds(),
		})
	}
	est := backlogEstimate{WindowSeconds: (quotaWindowMinutes * time.Minute).Seconds()}
	for _, q := range rep.Queues {
		if q.Role == "dead_letter" || q.Missing {
			continue
		}
		est.Pending += q.Ready
		if q.Unacked != nil {
			est.Pending += *q.Unacked
		}
	}
	if est.Settled, err = st.SettledSince(ctx, time.Now().Add(-quotaWindowMinutes*time.Minute)); err != nil {
		fail(err)
		return
	}
	est.TasksPerMinute = float64(est.Settled) / quotaWindowMinutes
	if est.Settled > 0 {
		eta := float64(est.Pending) / est.TasksPerMinute * 60
		est.ETASeconds = &eta
	}
	rep.Backlog = &est
}

func writeProvidersSection(tw io.Writer, r statusReport) {
	if len(r.Providers) == 0 && r.Backlog == nil {
		return
	}
	fmt.Fprintln(tw, "\nPROVIDER\tRATE/S\tSENT (10 MIN)\tQUOTA USED\tNEXT FREE SLOT")
	for _, p := range r.Providers {
		slot := "now"
		if p.BacklogSeconds > 0 {
			slot = fmt.Sprintf("in %.1fs (at quota)", p.BacklogSeconds)
		}
		fmt.Fprintf(tw, "%s\t%g\t%d\t%.0f%%\t%s\n", p.Provider, p.RatePerSecond, p.Sent, 100*p.Used, slot)
	}
	if b := r.Backlog; b != nil {
		eta := "unknown (nothing settled in the last 10 minutes)"
		if b.ETASeconds != nil {
			eta = "about " + (time.Duration(*b.ETASeconds) * time.Second).Round(time.Second).String()
		}
		fmt.Fprintf(tw, "backlog: %d tasks; %.1f tasks/min settled in the last 10 minutes; %s to go at that pace\n",
			b.Pending, b.TasksPerMinute, eta)
	}
}
