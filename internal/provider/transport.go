package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/time/rate"

	"github.com/djmeta/enrichment/internal/metrics"
)

// Transport defaults.
const (
	TimeoutDefault       = 10 * time.Second
	MaxBodyDefault       = 4 << 20
	MaxAttemptsDefault   = 3
	BackoffBaseDefault   = 250 * time.Millisecond
	MaxRetryAfterDefault = 5 * time.Second
	MaxThrottledDefault  = 5
)

// Limiter paces requests. Wait blocks until a request may be sent.
type Limiter interface {
	Wait(ctx context.Context) error
}

// LocalLimiter is an in-process token bucket of rate per second (burst 1).
// It holds only within one process; the fleet-wide limiter lives in
// internal/ratelimit.
func LocalLimiter(perSecond float64) Limiter {
	return rate.NewLimiter(rate.Limit(perSecond), 1)
}

// TransportConfig configures a Transport. Zero fields take the defaults.
type TransportConfig struct {
	Provider string
	// Client sends the requests; its Timeout bounds each request
	// (default TimeoutDefault).
	Client *http.Client
	// MaxBody bounds a response body (default MaxBodyDefault); a larger one
	// is a KindBadResponse error.
	MaxBody int64
	// MaxAttempts bounds tries for 5xx and network errors (default 3).
	MaxAttempts int
	// BackoffBase is the first jittered backoff delay (default 250ms).
	BackoffBase time.Duration
	// MaxRetryAfter is the longest Retry-After waited for in process; a
	// longer one is returned as a KindRateLimited error so the task is parked
	// in a retry tier instead of holding a worker slot.
	MaxRetryAfter time.Duration
	// MaxThrottled bounds in-process waits on 429/503 per call (default 5).
	MaxThrottled int
	// Limiter paces requests (nil: unlimited).
	Limiter Limiter
	// Budget, if set, counts each request against a call budget; when it
	// refuses, the request is not sent and the call fails with
	// KindNotAvailable (the provider cannot be asked).
	Budget interface {
		Take(ctx context.Context) error
	}
	// Metrics receives request, throttle and wait observations (nil: none).
	Metrics *metrics.Providers
	// CostPerCall is added to enrichment_api_cost_usd_total per request.
	CostPerCall float64
	// OnResponse, if set, sees every response's headers (Discogs reads its
	// X-Discogs-Ratelimit-* headers here).
	OnResponse func(h http.Header)
	// OnThrottle, if set, is called with the Retry-After of every throttling
	// answer, so the fleet-wide limiter can pause every worker.
	OnThrottle func(retryAfter time.Duration)
}

// NewHTTPClient returns the HTTP client the provider clients share: timeout
// bounds each request, and up to idlePerHost idle connections are kept per
// provider host. http.DefaultTransport keeps 2, so a worker running more
// calls than that at once would close most connections after one request
// and open a new one (with a TLS handshake, against the real APIs) for the
// next; size idlePerHost to the calls a worker makes at once.
func NewHTTPClient(timeout time.Duration, idlePerHost int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = max(idlePerHost, 2)
	t.MaxIdleConns = max(t.MaxIdleConns, 4*t.MaxIdleConnsPerHost)
	return &http.Client{Timeout: timeout, Transport: t}
}

// Transport sends provider requests with the rules every client shares.
type Transport struct {
	cfg TransportConfig
}

// NewTransport returns a Transport.
func NewTransport(cfg TransportConfig) *Transport {
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: TimeoutDefault}
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = MaxBodyDefault
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = MaxAttemptsDefault
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = BackoffBaseDefault
	}
	if cfg.MaxRetryAfter <= 0 {
		cfg.MaxRetryAfter = MaxRetryAfterDefault
	}
	if cfg.MaxThrottled <= 0 {
		cfg.MaxThrottled = MaxThrottledDefault
	}
	return &Transport{cfg: cfg}
}

// Classify maps an HTTP status to an error kind. Clients override it where a
// provider differs.
type Classify func(status int) ErrorKind

// DefaultClassify is the common mapping.
func DefaultClassify(status int) ErrorKind {
	switch {
	case status == http.StatusNotFound:
		return KindNotFound
	case status == http.StatusUnauthorized:
		return KindUnauthorized
	case status == http.StatusForbidden:
		return KindNotAvailable
	case status == http.StatusTooManyRequests:
		return KindRateLimited
	case status >= 500:
		return KindUnavailable
	case status >= 400:
		return KindBadRequest
	}
	return KindBadResponse
}

// Do sends the request built by build (called once per try, so bodies and
// fresh auth headers are rebuilt) and decodes a 200 JSON answer into out.
// 429 and 503 honour Retry-After without spending a try; other 5xx and
// network errors are retried with jittered exponential backoff up to
// MaxAttempts.
func (t *Transport) Do(ctx context.Context, build func(ctx context.Context) (*http.Request, error), classify Classify, out any) error {
	if classify == nil {
		classify = DefaultClassify
	}
	attempts, throttled := 0, 0
	for {
		err := t.once(ctx, build, classify, out)
		if err == nil {
			return nil
		}
		var pe *Error
		if !errors.As(err, &pe) {
			return err
		}
		var wait time.Duration
		switch pe.Kind {
		case KindRateLimited:
			throttled++
			if pe.RetryAfter > t.cfg.MaxRetryAfter || throttled > t.cfg.MaxThrottled {
				return err
			}
			wait = pe.RetryAfter
			if wait <= 0 {
				wait = t.backoff(throttled)
			}
		case KindUnavailable:
			attempts++
			if attempts >= t.cfg.MaxAttempts {
				return err
			}
			wait = t.backoff(attempts)
		default:
			return err
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return &Error{Provider: t.cfg.Provider, Kind: KindUnavailable, Err: fmt.Errorf("%w (after: %v)", ctx.Err(), err)}
		case <-timer.C:
		}
	}
}

// backoff is full-jitter exponential: uniform in [base·2^(n-1)/2, base·2^(n-1)].
func (t *Transport) backoff(n int) time.Duration {
	d := t.cfg.BackoffBase << (n - 1)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func (t *Transport) once(ctx context.Context, build func(ctx context.Context) (*http.Request, error), classify Classify, out any) error {
	p := t.cfg.Provider
	if t.cfg.Limiter != nil {
		start := time.Now()
		if err := t.cfg.Limiter.Wait(ctx); err != nil {
			return &Error{Provider: p, Kind: KindUnavailable, Err: fmt.Errorf("rate limiter: %w", err)}
		}
		t.cfg.Metrics.Waited(p, time.Since(start))
	}
	if t.cfg.Budget != nil {
		if err := t.cfg.Budget.Take(ctx); err != nil {
			return &Error{Provider: p, Kind: KindNotAvailable, Err: err}
		}
	}
	req, err := build(ctx)
	if err != nil {
		return &Error{Provider: p, Kind: KindBadRequest, Err: err}
	}
	start := time.Now()
	resp, err := t.cfg.Client.Do(req)
	t.cfg.Metrics.Spent(p, t.cfg.CostPerCall)
	if err != nil {
		code := "error"
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded) {
			code = "timeout"
		}
		t.cfg.Metrics.Request(p, code, time.Since(start))
		if ctx.Err() != nil {
			return &Error{Provider: p, Kind: KindUnavailable, Err: ctx.Err()}
		}
		return &Error{Provider: p, Kind: KindUnavailable, Err: err}
	}
	defer resp.Body.Close()
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, t.cfg.MaxBody+1))
	t.cfg.Metrics.Request(p, strconv.Itoa(resp.StatusCode), time.Since(start))
	if t.cfg.OnResponse != nil {
		t.cfg.OnResponse(resp.Header)
	}
	if rerr != nil {
		return &Error{Provider: p, Kind: KindUnavailable, Status: resp.StatusCode, Err: fmt.Errorf("read body: %w", rerr)}
	}
	if int64(len(body)) > t.cfg.MaxBody {
		return &Error{Provider: p, Kind: KindBadResponse, Status: resp.StatusCode,
			Err: fmt.Errorf("response body larger than %d bytes", t.cfg.MaxBody)}
	}
	if resp.StatusCode == http.StatusOK {
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(body, out); err != nil {
			return &Error{Provider: p, Kind: KindBadResponse, Status: resp.StatusCode, Err: fmt.Errorf("decode JSON: %w", err)}
		}
		return nil
	}
	kind := classify(resp.StatusCode)
	retryAfter, hasRetryAfter := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	if resp.StatusCode == http.StatusServiceUnavailable && hasRetryAfter {
		kind = KindRateLimited // MusicBrainz throttles with 503 + Retry-After
	}
	if kind == KindRateLimited {
		t.cfg.Metrics.Throttled(p)
		if t.cfg.OnThrottle != nil {
			pause := retryAfter
			if pause <= 0 {
				pause = time.Second
			}
			t.cfg.OnThrottle(pause)
		}
	}
	return &Error{Provider: p, Kind: kind, Status: resp.StatusCode, RetryAfter: retryAfter, Err: errorText(body)}
}

// parseRetryAfter reads delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second)), true
	}
	if at, err := http.ParseTime(v); err == nil {
		if d := at.Sub(now); d > 0 {
			return d, true
		}
		return 0, true
	}
	return 0, false
}

// errorText extracts a short message from an error body.
func errorText(body []byte) error {
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
	}
	if json.Unmarshal(body, &v) == nil {
		if v.Message != "" {
			return errors.New(v.Message)
		}
		var s string
		if json.Unmarshal(v.Error, &s) == nil && s != "" {
			return errors.New(s)
		}
		var o struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(v.Error, &o) == nil && o.Message != "" {
			return errors.New(o.Message)
		}
	}
	if len(body) > 200 {
		body = body[:200]
	}
	return errors.New(string(body))
}
