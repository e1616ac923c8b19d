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
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
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

// Limiter paces requests. Reserve reserves the next send slot if it is at
// most maxWait away (maxWait < 0: any) and returns how long to wait for it;
// a slot further away is not reserved and the error says so (the request
// is then not sent, and the call fails with KindQuotaWait).
type Limiter interface {
	Reserve(ctx context.Context, maxWait time.Duration) (time.Duration, error)
}

// LocalLimiter is an in-process token bucket of rate per second (burst 1).
// It holds only within one process; the fleet-wide limiter lives in
// internal/ratelimit.
func LocalLimiter(perSecond float64) Limiter {
	return localLimiter{rate.NewLimiter(rate.Limit(perSecond), 1)}
}

type localLimiter struct{ l *rate.Limiter }

func (l localLimiter) Reserve(_ context.Context, maxWait time.Duration) (time.Duration, error) {
	now := time.Now()
	r := l.l.ReserveN(now, 1)
	d := r.DelayFrom(now)
	if maxWait >= 0 && d > maxWait {
		r.CancelAt(now)
		return 0, fmt.Errorf("next slot in %s, more than %s", d, maxWait)
	}
	return d, nil
}

// Response is a provider's answer as the cache keeps it: a 200 body, or
// the status and body of an answer that says the thing does not exist.
type Response struct {
	Status int    `json:"s"`
	Body   []byte `json:"b"`
}

// ResponseCache caches and coalesces provider requests (internal/cache).
// FetchResponse returns the answer to the request key: a cached one, the one
// another caller in this process or in another worker is fetching, or
// fetch's, which it then caches for the TTL of kind. Errors are not cached.
type ResponseCache interface {
	FetchResponse(ctx context.Context, provider, kind, key string, fetch func(ctx context.Context) (Response, error)) (Response, error)
}

// Request kinds: each has its own cache TTL.
const (
	KindSearchRequest = "search" // a free search
	KindLookupRequest = "lookup" // a lookup by the provider's own id
	KindISRCRequest   = "isrc"   // a lookup by ISRC
)

// Call names one request for the response cache: its kind and its key,
// the request normalised the way the provider treats it (NormalizeKey).
// An empty key is not cached.
type Call struct {
	Kind string
	Key  string
}

type startHookKey struct{}

// WithStartHook returns a context whose first Started call runs f. The
// worker's admission uses it to let the next task start once this one has
// taken its place in line: reserved its first request slot, or finished
// its first provider step without needing one.
func WithStartHook(ctx context.Context, f func()) context.Context {
	return context.WithValue(ctx, startHookKey{}, sync.OnceFunc(f))
}

// Started runs the context's start hook, if any and not run yet.
func Started(ctx context.Context) {
	if f, ok := ctx.Value(startHookKey{}).(func()); ok {
		f()
	}
}

type forceRefreshKey struct{}

// WithForceRefresh returns a context whose provider calls bypass cached
// answers (a task's force_refresh); fresh answers are cached as usual.
func WithForceRefresh(ctx context.Context) context.Context {
	return context.WithValue(ctx, forceRefreshKey{}, true)
}

// ForceRefresh reports whether ctx asks for fresh answers.
func ForceRefresh(ctx context.Context) bool {
	v, _ := ctx.Value(forceRefreshKey{}).(bool)
	return v
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
	// Cache, if set, caches and coalesces the requests sent with a Call
	// key (nil: every request is sent).
	Cache ResponseCache
	// RequestTimeout is the time a request needs once its slot has come:
	// a slot is reserved only if it comes at least this long before the
	// context's deadline (default: the Client's Timeout).
	RequestTimeout time.Duration
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
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = cfg.Client.Timeout
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
// MaxAttempts. Nothing is cached: see DoCached.
func (t *Transport) Do(ctx context.Context, build func(ctx context.Context) (*http.Request, error), classify Classify, out any) error {
	return t.DoCached(ctx, Call{}, build, classify, out)
}

// DoCached is Do through the response cache: the answer to call.Key (a 200
// body, or an answer classified KindNotFound) is served from the cache or
// from a concurrent caller's fetch when there is one, and cached when it
// is fetched. A context made WithForceRefresh skips the cached answer.
func (t *Transport) DoCached(ctx context.Context, call Call, build func(ctx context.Context) (*http.Request, error), classify Classify, out any) error {
	if classify == nil {
		classify = DefaultClassify
	}
	fetch := func(ctx context.Context) (Response, error) { return t.send(ctx, build, classify) }
	var resp Response
	var err error
	if t.cfg.Cache != nil && call.Key != "" {
		resp, err = t.cfg.Cache.FetchResponse(ctx, t.cfg.Provider, call.Kind, call.Key, fetch)
	} else {
		resp, err = fetch(ctx)
	}
	if err != nil {
		return err
	}
	if resp.Status != http.StatusOK {
		return &Error{Provider: t.cfg.Provider, Kind: KindNotFound, Status: resp.Status, Err: errorText(resp.Body)}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(resp.Body, out); err != nil {
		return &Error{Provider: t.cfg.Provider, Kind: KindBadResponse, Status: resp.Status, Err: fmt.Errorf("decode JSON: %w", err)}
	}
	return nil
}

// send sends the request until it has an answer (a 200, or one classified
// KindNotFound) or an error to return.
func (t *Transport) send(ctx context.Context, build func(ctx context.Context) (*http.Request, error), classify Classify) (Response, error) {
	attempts, throttled := 0, 0
	for {
		resp, err := t.once(ctx, build, classify)
		if err == nil {
			return resp, nil
		}
		var pe *Error
		if !errors.As(err, &pe) {
			return Response{}, err
		}
		var wait time.Duration
		switch pe.Kind {
		case KindRateLimited:
			throttled++
			if pe.RetryAfter > t.cfg.MaxRetryAfter || throttled > t.cfg.MaxThrottled {
				return Response{}, err
			}
			wait = pe.RetryAfter
			if wait <= 0 {
				wait = t.backoff(throttled)
			}
		case KindUnavailable:
			attempts++
			if attempts >= t.cfg.MaxAttempts {
				return Response{}, err
			}
			wait = t.backoff(attempts)
		default:
			return Response{}, err
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return Response{}, waitEnded(t.cfg.Provider, ctx, err)
		case <-timer.C:
		}
	}
}

// waitEnded is the error of a call whose context ended while it waited
// (for a slot, a backoff, or another caller's answer): the task's time ran
// out while nothing was being asked (KindQuotaWait; last, if any, is the
// answer that made it wait), or the task was cancelled.
func waitEnded(provider string, ctx context.Context, last error) error {
	err := ctx.Err()
	if last != nil {
		err = fmt.Errorf("%w (after: %v)", err, last)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &Error{Provider: provider, Kind: KindQuotaWait, Err: err}
	}
	return &Error{Provider: provider, Kind: KindUnavailable, Err: err}
}

// WaitEnded is the error of a call whose context ended while it waited for
// something other than the provider's answer to a request it sent: the
// fleet's quota, or another caller's fetch of the same answer.
func WaitEnded(provider string, ctx context.Context) error { return waitEnded(provider, ctx, nil) }

// backoff is full-jitter exponential: uniform in [base·2^(n-1)/2, base·2^(n-1)].
func (t *Transport) backoff(n int) time.Duration {
	d := t.cfg.BackoffBase << (n - 1)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func (t *Transport) once(ctx context.Context, build func(ctx context.Context) (*http.Request, error), classify Classify) (Response, error) {
	p := t.cfg.Provider
	if t.cfg.Limiter != nil {
		start := time.Now()
		maxWait := time.Duration(-1)
		if dl, ok := ctx.Deadline(); ok {
			maxWait = time.Until(dl) - t.cfg.RequestTimeout
			if maxWait < 0 {
				return Response{}, &Error{Provider: p, Kind: KindQuotaWait,
					Err: fmt.Errorf("%s left, less than the %s a request may take", time.Until(dl).Round(time.Millisecond), t.cfg.RequestTimeout)}
			}
		}
		wait, err := t.cfg.Limiter.Reserve(ctx, maxWait)
		if err != nil {
			if ctx.Err() != nil {
				return Response{}, waitEnded(p, ctx, nil)
			}
			return Response{}, &Error{Provider: p, Kind: KindQuotaWait, Err: fmt.Errorf("rate limiter: %w", err)}
		}
		if err := sleepCtx(ctx, wait); err != nil {
			return Response{}, waitEnded(p, ctx, nil)
		}
		t.cfg.Metrics.Waited(p, time.Since(start))
	}
	if t.cfg.Budget != nil {
		if err := t.cfg.Budget.Take(ctx); err != nil {
			return Response{}, &Error{Provider: p, Kind: KindNotAvailable, Err: err}
		}
	}
	if ctx.Err() != nil {
		return Response{}, waitEnded(p, ctx, nil)
	}
	// Once its slot has come the request is sent and answered whatever
	// happens to the caller: the quota is spent, so the answer is kept
	// (the response cache stores it). The client's timeout bounds it.
	ctx = context.WithoutCancel(ctx)
	req, err := build(ctx)
	if err != nil {
		return Response{}, &Error{Provider: p, Kind: KindBadRequest, Err: err}
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
		return Response{}, &Error{Provider: p, Kind: KindUnavailable, Err: err}
	}
	defer resp.Body.Close()
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, t.cfg.MaxBody+1))
	t.cfg.Metrics.Request(p, strconv.Itoa(resp.StatusCode), time.Since(start))
	if t.cfg.OnResponse != nil {
		t.cfg.OnResponse(resp.Header)
	}
	if rerr != nil {
		return Response{}, &Error{Provider: p, Kind: KindUnavailable, Status: resp.StatusCode, Err: fmt.Errorf("read body: %w", rerr)}
	}
	if int64(len(body)) > t.cfg.MaxBody {
		return Response{}, &Error{Provider: p, Kind: KindBadResponse, Status: resp.StatusCode,
			Err: fmt.Errorf("response body larger than %d bytes", t.cfg.MaxBody)}
	}
	if resp.StatusCode == http.StatusOK {
		return Response{Status: resp.StatusCode, Body: body}, nil
	}
	kind := classify(resp.StatusCode)
	if kind == KindNotFound {
		return Response{Status: resp.StatusCode, Body: body}, nil
	}
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
	return Response{}, &Error{Provider: p, Kind: kind, Status: resp.StatusCode, RetryAfter: retryAfter, Err: errorText(body)}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
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

// CallKey normalises a request the way providers treat it, for the
// response cache: the path, then the parameters in name order, the values
// of the free-text ones (search terms, which the providers match without
// regard to letter case or runs of white space) folded to lower case with
// white space collapsed. The same search typed in another case, with other
// spacing or with its parameters in another order is one request.
func CallKey(path string, params url.Values, freeText ...string) string {
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(path)
	for i, k := range names {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		vals := slices.Clone(params[k])
		if slices.Contains(freeText, k) {
			for j, v := range vals {
				vals[j] = strings.Join(strings.Fields(strings.ToLower(v)), " ")
			}
		}
		sort.Strings(vals)
		b.WriteString(url.QueryEscape(k))
		b.WriteByte('=')
		for j, v := range vals {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(url.QueryEscape(v))
		}
	}
	return b.String()
}
