package worker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
	"go.uber.org/zap"

	"github.com/djmeta/enrichment/internal/metrics"
	"github.com/djmeta/enrichment/internal/provider"
	"github.com/djmeta/enrichment/internal/ratelimit"
)

// While half-open, callers other than the probe poll for its verdict every
// halfOpenPoll, at most halfOpenWaits times.
const (
	halfOpenPoll  = 50 * time.Millisecond
	halfOpenWaits = 100
)

// newGuard returns the guard of one provider's calls (enrich.Source.Guard):
// its fleet-wide availability switch and a circuit breaker
// (sony/gobreaker).
//
// While av says the provider is off (it refused our credential), calls
// fail at once as "not available": tasks finish partial without it and
// spend no retry. A call that finds the credential refused (401 after a
// token refresh, 403) or three requests in a row refused as malformed
// (400) turns it off for the fleet.
//
// failures consecutive real upstream failures open the breaker: 5xx
// answers, network errors and timeouts of requests actually sent. Waiting
// for quota (the fleet's rate limiter, another worker's answer), throttling,
// not-found answers, refused credentials and spent budgets are not
// failures of the provider. While open, calls fail at once (the provider
// "could not be asked" and tasks end partial without waiting for
// timeouts); after openFor one probe is let through (half-open).
func newGuard(name string, failures int, openFor time.Duration, av *ratelimit.Availability, pm *metrics.Providers, log *zap.Logger) func(ctx context.Context, call func(ctx context.Context) error) error {
	gauge := pm.CircuitState.WithLabelValues(name)
	gauge.Set(0)
	cb := gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        name,
		MaxRequests: 1,
		Timeout:     openFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= uint32(failures) },
		IsSuccessful: func(err error) bool {
			return err == nil || provider.KindOf(err) != provider.KindUnavailable || errors.Is(err, context.Canceled)
		},
		OnStateChange: func(_ string, from, to gobreaker.State) {
			switch to {
			case gobreaker.StateClosed:
				gauge.Set(0)
			case gobreaker.StateHalfOpen:
				gauge.Set(1)
			case gobreaker.StateOpen:
				gauge.Set(2)
			}
			log.Warn("circuit breaker changed state", zap.String("provider", name),
				zap.String("from", from.String()), zap.String("to", to.String()))
		},
	})
	var refused400 atomic.Int32 // requests refused as malformed in a row
	return func(ctx context.Context, call func(ctx context.Context) error) error {
		if av != nil {
			if err := av.Check(ctx); err != nil {
				return &provider.Error{Provider: name, Kind: provider.KindNotAvailable, Err: err}
			}
		}
		err := guarded(ctx, cb, name, call)
		if av != nil {
			if reason := refusal(err, &refused400); reason != "" {
				av.TurnOff(ctx, reason)
			}
		}
		return err
	}
}

// refusedInARow is how many requests in a row a provider must call
// malformed (400) before it is turned off: one odd request is the task's
// problem, a run of them is ours.
const refusedInARow = 3

// refusal returns why err means the provider refuses us whatever the task
// ("" when it does not): a refused credential, or the third request in a
// row refused as malformed.
func refusal(err error, in400 *atomic.Int32) string {
	var pe *provider.Error
	if err == nil || !errors.As(err, &pe) {
		if err == nil {
			in400.Store(0)
		}
		return ""
	}
	switch {
	case pe.Kind == provider.KindUnauthorized:
		return fmt.Sprintf("it refused our credential (%s)", pe)
	case pe.Kind == provider.KindNotAvailable && pe.Status == http.StatusForbidden:
		return fmt.Sprintf("it refused access (%s)", pe)
	case pe.Kind == provider.KindBadRequest && pe.Status == http.StatusBadRequest:
		if in400.Add(1) >= refusedInARow {
			return fmt.Sprintf("it refused %d requests in a row as malformed (last: %s)", refusedInARow, pe)
		}
	case pe.Kind != provider.KindQuotaWait:
		in400.Store(0)
	}
	return ""
}

// guarded runs call through the breaker.
func guarded(ctx context.Context, cb *gobreaker.CircuitBreaker[struct{}], name string, call func(ctx context.Context) error) error {
	_, err := cb.Execute(func() (struct{}, error) { return struct{}{}, call(ctx) })
	// Half-open lets one probe through; calls arriving meanwhile wait
	// for its verdict (briefly) instead of failing as if still open.
	for wait := 0; errors.Is(err, gobreaker.ErrTooManyRequests) && wait < halfOpenWaits; wait++ {
		t := time.NewTimer(halfOpenPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return provider.WaitEnded(name, ctx)
		case <-t.C:
		}
		if cb.State() == gobreaker.StateHalfOpen {
			continue
		}
		_, err = cb.Execute(func() (struct{}, error) { return struct{}{}, call(ctx) })
	}
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return &provider.Error{Provider: name, Kind: provider.KindUnavailable, Err: err}
	}
	return err
}
