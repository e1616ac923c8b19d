package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Providers holds the provider-call metrics. Its methods are nil-safe, so
// clients built without metrics (tests, tools) need no stand-in.
type Providers struct {
	Requests        *prometheus.CounterVec
	RequestDuration *prometheus.HistogramVec
	RateLimited     *prometheus.CounterVec
	RateLimitWait   *prometheus.HistogramVec
	Cache           *prometheus.CounterVec
	Cost            *prometheus.CounterVec
	LocalFallback   *prometheus.GaugeVec
	CircuitState    *prometheus.GaugeVec
	BudgetRemaining *prometheus.GaugeVec
	BudgetLimit     *prometheus.GaugeVec
	// Disabled is 1 while a provider is off fleet-wide because it refused
	// our credential or our requests (a condition no retry fixes).
	Disabled *prometheus.GaugeVec
}

// NewProviders creates the provider metrics and registers them on reg.
func NewProviders(reg prometheus.Registerer) *Providers {
	p := &Providers{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "enrichment_provider_requests_total",
			Help: "HTTP requests sent to providers, by provider and code (HTTP status, timeout or error).",
		}, []string{"provider", "code"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "enrichment_provider_request_duration_seconds",
			Help:    "Duration of one provider HTTP request.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"provider"}),
		RateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "enrichment_provider_rate_limited_total",
			Help: "Provider answers that throttled us (429, or 503 with Retry-After).",
		}, []string{"provider"}),
		RateLimitWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "enrichment_ratelimit_wait_seconds",
			Help:    "Time a provider call waited for the rate limiter.",
			Buckets: []float64{0, .001, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"provider"}),
		Cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "enrichment_cache_requests_total",
			Help: "Cache lookups of provider answers, by provider and result (hit, miss, error).",
		}, []string{"provider", "result"}),
		Cost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "enrichment_api_cost_usd_total",
			Help: "Estimated cost of provider calls in US dollars (calls times the configured cost per call).",
		}, []string{"provider"}),
	}
	p.LocalFallback = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "enrichment_ratelimit_local_fallback",
		Help: "1 while this worker paces a provider with its local fallback limit because the fleet limiter (Redis) is unreachable.",
	}, []string{"provider"})
	p.CircuitState = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "enrichment_circuit_breaker_state",
		Help: "Circuit breaker state per provider: 0 closed, 1 half-open, 2 open.",
	}, []string{"provider"})
	p.BudgetRemaining = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "enrichment_provider_budget_remaining",
		Help: "Provider calls left in the current budget period (day or month), fleet-wide; exported only for configured budgets.",
	}, []string{"provider", "period"})
	p.BudgetLimit = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "enrichment_provider_budget_limit",
		Help: "Configured provider call budget per period (day or month).",
	}, []string{"provider", "period"})
	p.Disabled = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "enrichment_provider_disabled",
		Help: "1 while a provider is off for the whole fleet because it refused our credential (401 after a token refresh, 403) or our requests (repeated 400s); the log names the variable to fix.",
	}, []string{"provider"})
	reg.MustRegister(p.Requests, p.RequestDuration, p.RateLimited, p.RateLimitWait, p.Cache, p.Cost, p.LocalFallback,
		p.CircuitState, p.BudgetRemaining, p.BudgetLimit, p.Disabled)
	return p
}

// Request records one HTTP request.
func (p *Providers) Request(provider, code string, d time.Duration) {
	if p == nil {
		return
	}
	p.Requests.WithLabelValues(provider, code).Inc()
	p.RequestDuration.WithLabelValues(provider).Observe(d.Seconds())
}

// Throttled records a 429 (or 503 with Retry-After).
func (p *Providers) Throttled(provider string) {
	if p == nil {
		return
	}
	p.RateLimited.WithLabelValues(provider).Inc()
}

// Waited records time spent waiting for the rate limiter.
func (p *Providers) Waited(provider string, d time.Duration) {
	if p == nil {
		return
	}
	p.RateLimitWait.WithLabelValues(provider).Observe(d.Seconds())
}

// CacheResult records a cache lookup: hit, miss or error.
func (p *Providers) CacheResult(provider, result string) {
	if p == nil {
		return
	}
	p.Cache.WithLabelValues(provider, result).Inc()
}

// Spent adds the cost of one call.
func (p *Providers) Spent(provider string, usd float64) {
	if p == nil || usd < 0 {
		return
	}
	p.Cost.WithLabelValues(provider).Add(usd)
}
