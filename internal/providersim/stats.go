package providersim

import (
	"maps"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ProviderStats are the counters of one provider, as served by GET /_stats.
type ProviderStats struct {
	RequestsTotal int64 `json:"requests_total"`
	// Status counts responses by HTTP status code.
	Status map[string]int64 `json:"status"`
	// RateLimitedTotal counts requests refused because they exceeded the configured rate
	// (429 for Spotify and Discogs, 503 for MusicBrainz).
	RateLimitedTotal int64 `json:"rate_limited_total"`
	// InjectedErrorsTotal counts the random 503s of the error-injection setting.
	InjectedErrorsTotal int64 `json:"injected_errors_total"`
	// AuthFailuresTotal counts 400/401/403 answers about credentials or User-Agent.
	AuthFailuresTotal int64 `json:"auth_failures_total"`
	// MaxPerSecond and MaxPerMinute are the most requests seen in any sliding 1-second and
	// 60-second window since the last reset, whatever their outcome.
	MaxPerSecond int `json:"max_per_second"`
	MaxPerMinute int `json:"max_per_minute"`
	// MaxInRateWindow is the same for the provider's own rate window (RateWindowSeconds).
	MaxInRateWindow   int     `json:"max_in_rate_window"`
	RateWindowSeconds float64 `json:"rate_window_seconds"`
	// RateLimit is the configured number of requests allowed per rate window and key.
	RateLimit float64 `json:"rate_limit"`
	RateKey   string  `json:"rate_key"`
	// DistinctRequests counts the different requests seen, normalised the
	// way the provider treats them (RequestKey): the same search in another
	// letter case or parameter order is the same request.
	DistinctRequests int64 `json:"distinct_requests"`
	// DuplicateSuccessful counts answered requests (200 or 404) whose
	// normalised request had already been answered: quota spent twice on
	// one answer.
	DuplicateSuccessful int64 `json:"duplicate_successful"`
	// TopDuplicates lists up to 10 requests answered more than once, most
	// often first, with how many times each was answered.
	TopDuplicates []RequestCount `json:"top_duplicates,omitempty"`
	// Endpoints counts requests by endpoint (the path without its ids:
	// "/discogs/releases/{id}", "/musicbrainz/ws/2/recording").
	Endpoints map[string]int64 `json:"endpoints,omitempty"`
}

// RequestCount is one normalised request and how often it was answered.
type RequestCount struct {
	Request  string `json:"request"`
	Answered int64  `json:"answered"`
}

// StatsSnapshot is the body of GET /_stats.
type StatsSnapshot struct {
	Since     time.Time                `json:"since"`
	Now       time.Time                `json:"now"`
	Providers map[string]ProviderStats `json:"providers"`
}

type providerCounters struct {
	ProviderStats
	second, minute, rateWin windowCounter
	// answered counts the 200 and 404 answers per normalised request;
	// seen holds every normalised request.
	answered map[string]int64
	seen     map[string]bool
}

// windowCounter tracks the maximum number of events in any sliding window.
type windowCounter struct {
	window time.Duration
	times  []time.Time
	max    int
}

func (w *windowCounter) add(now time.Time) {
	if w.window <= 0 {
		return
	}
	i := 0
	for i < len(w.times) && now.Sub(w.times[i]) >= w.window {
		i++
	}
	// Reuse the backing array once the dropped prefix is large.
	if i > 0 && i >= len(w.times)/2 {
		w.times = append(w.times[:0], w.times[i:]...)
	} else {
		w.times = w.times[i:]
	}
	w.times = append(w.times, now)
	w.max = max(w.max, len(w.times))
}

type stats struct {
	mu    sync.Mutex
	since time.Time
	cfg   map[string]rateInfo
	prov  map[string]*providerCounters
}

type rateInfo struct {
	window time.Duration
	limit  float64
	key    string
}

func newStats(now time.Time, cfg map[string]rateInfo) *stats {
	s := &stats{cfg: cfg}
	s.reset(now)
	return s
}

func (s *stats) reset(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.since = now
	s.prov = make(map[string]*providerCounters)
	for name, ri := range s.cfg {
		s.prov[name] = &providerCounters{
			ProviderStats: ProviderStats{
				Status: map[string]int64{}, Endpoints: map[string]int64{}, RateWindowSeconds: ri.window.Seconds(),
				RateLimit: ri.limit, RateKey: ri.key,
			},
			second:   windowCounter{window: time.Second},
			minute:   windowCounter{window: time.Minute},
			rateWin:  windowCounter{window: ri.window},
			answered: map[string]int64{},
			seen:     map[string]bool{},
		}
	}
}

// arrived records a request as it arrives; key is its normalised form.
func (s *stats) arrived(provider, key string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.prov[provider]
	p.RequestsTotal++
	p.Endpoints[endpoint(key)]++
	if !p.seen[key] {
		p.seen[key] = true
		p.DistinctRequests++
	}
	p.second.add(now)
	p.minute.add(now)
	p.rateWin.add(now)
}

type outcome int

const (
	outcomeNormal outcome = iota
	outcomeRateLimited
	outcomeInjected
	outcomeAuth
)

// finished records the response status and why it was given.
func (s *stats) finished(provider, key string, status int, why outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.prov[provider]
	p.Status[strconv.Itoa(status)]++
	if why == outcomeNormal && (status == 200 || status == 404) {
		if p.answered[key] > 0 {
			p.DuplicateSuccessful++
		}
		p.answered[key]++
	}
	switch why {
	case outcomeRateLimited:
		p.RateLimitedTotal++
	case outcomeInjected:
		p.InjectedErrorsTotal++
	case outcomeAuth:
		p.AuthFailuresTotal++
	}
}

func (s *stats) snapshot(now time.Time) StatsSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := StatsSnapshot{Since: s.since, Now: now, Providers: make(map[string]ProviderStats, len(s.prov))}
	for name, p := range s.prov {
		ps := p.ProviderStats
		ps.Status = make(map[string]int64, len(p.Status))
		for k, v := range p.Status {
			ps.Status[k] = v
		}
		ps.MaxPerSecond, ps.MaxPerMinute, ps.MaxInRateWindow = p.second.max, p.minute.max, p.rateWin.max
		ps.TopDuplicates = topDuplicates(p.answered, 10)
		ps.Endpoints = maps.Clone(p.Endpoints)
		out.Providers[name] = ps
	}
	return out
}

// topDuplicates returns up to n requests answered more than once, most
// answered first (then by request, for a stable order).
func topDuplicates(answered map[string]int64, n int) []RequestCount {
	var out []RequestCount
	for k, v := range answered {
		if v > 1 {
			out = append(out, RequestCount{Request: k, Answered: v})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Answered != out[j].Answered {
			return out[i].Answered > out[j].Answered
		}
		return out[i].Request < out[j].Request
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// endpoint is a request key's path with its ids (segments holding a digit)
// replaced by {id}.
func endpoint(key string) string {
	path, _, _ := strings.Cut(key, "?")
	segs := strings.Split(path, "/")
	for i, sg := range segs {
		if strings.ContainsAny(sg, "0123456789") && sg != "2" {
			segs[i] = "{id}"
		}
	}
	return strings.Join(segs, "/")
}
